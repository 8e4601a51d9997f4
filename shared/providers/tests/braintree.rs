//! The Braintree adapter over HTTP against the Braintree mock (tests/mocks/src/braintree.rs,
//! itself checked by Braintree's Python SDK), with webhooks made by the SDK's own
//! `webhook_testing.sample_notification` (tests/sdk/braintree_sdk.py, run with `$PGM_PYTHON`).

use pgm_core::clock::now_ms;
use pgm_core::payment::NewPayment;
use pgm_core::wire::{PayCommand, PayRequest};
use pgm_core::{Currency, Env, Money, Payment, PaymentKind, PaymentState};
use pgm_mocks::braintree::{
    BraintreeMock, DECLINED_NONCE, MERCHANT_ACCOUNT_ID, MERCHANT_ID, PAYPAL_NONCE, PRIVATE_KEY,
    PUBLIC_KEY,
};
use pgm_mocks::Fault;
use pgm_providers::braintree::{Braintree, BraintreeConfig};
use pgm_providers::{
    CallbackOutcome, CallbackRequest, CallbackSubject, Operation, Provider, ProviderError,
};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

fn env_for(mock: &BraintreeMock, submit: bool) -> Env {
    Env::from_pairs([
        ("BRAINTREE_BASE_URL", mock.url()),
        ("BRAINTREE_MERCHANT_ID", MERCHANT_ID),
        ("BRAINTREE_MERCHANT_ACCOUNT_ID", MERCHANT_ACCOUNT_ID),
        ("BRAINTREE_PUBLIC_KEY", PUBLIC_KEY),
        ("BRAINTREE_PRIVATE_KEY", PRIVATE_KEY),
        (
            "BRAINTREE_SUBMIT_FOR_SETTLEMENT",
            if submit { "true" } else { "false" },
        ),
    ])
}

fn adapter_with(mock: &BraintreeMock, submit: bool) -> Arc<Braintree> {
    let mut config = BraintreeConfig::from_env(&env_for(mock, submit)).unwrap();
    config.api.timeout = Duration::from_millis(500);
    Arc::new(Braintree::new(config, reqwest::Client::new()))
}

async fn setup() -> (BraintreeMock, Arc<Braintree>) {
    let mock = BraintreeMock::start().await;
    let bt = adapter_with(&mock, true);
    (mock, bt)
}

fn pay_cmd(id: &str, amount: &str, data: &str) -> PayCommand {
    let json = format!(
        r#"{{"amount":"{amount}","shopTransactionID":"{id}","brainTreeDataRequest":{data}}}"#
    );
    serde_json::from_str::<PayRequest>(&json)
        .unwrap()
        .validate("pay-pal", false)
        .unwrap()
}

fn nonce(n: &str) -> String {
    format!(r#"{{"nonce":"{n}","deviceData":"{{\"correlation_id\":\"c1\"}}"}}"#)
}

fn payment(cmd: &PayCommand, id: Option<&str>, state: PaymentState) -> Payment {
    let mut p = Payment::claimed(NewPayment {
        shop_transaction_id: cmd.shop_transaction_id.clone(),
        provider: "braintree".into(),
        method: "pay-pal".into(),
        kind: PaymentKind::Single,
        amount: cmd.amount,
        metadata: BTreeMap::new(),
        request_hash: "h".into(),
        now: now_ms(),
        lock_ms: 60_000,
    });
    p.provider_payment_id = id.map(str::to_owned);
    p.state = state;
    if state == PaymentState::Captured {
        p.captured_minor = cmd.amount.minor();
    }
    p
}

/// The PGM's view: capabilities are called through `dyn Provider`.
fn dynp(bt: &Braintree) -> &(dyn Provider + 'static) {
    bt
}

fn eur(minor: i64) -> Money {
    Money::from_minor(minor, Currency::EUR).unwrap()
}

/// The SDK's sample notification of `kind` about transaction `id`, signed with `private_key`.
fn sdk_webhook(kind: &str, id: &str, private_key: &str) -> (String, String) {
    let python = std::env::var("PGM_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/sdk/braintree_sdk.py");
    let out = Command::new(&python)
        .arg(script)
        .args(["webhook", "--kind", kind, "--id", id])
        .args(["--public-key", PUBLIC_KEY, "--private-key", private_key])
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{python}`: {e}"));
    assert!(
        out.status.success(),
        "braintree_sdk.py webhook failed; is the SDK installed (scripts/test installs it)?\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    (
        v["bt_signature"].as_str().unwrap().to_owned(),
        v["bt_payload"].as_str().unwrap().to_owned(),
    )
}

fn form_request(signature: &str, payload: &str) -> CallbackRequest {
    let body = serde_urlencoded::to_string([("bt_signature", signature), ("bt_payload", payload)])
        .unwrap();
    CallbackRequest {
        method: http::Method::POST,
        query: String::new(),
        headers: http::HeaderMap::new(),
        body: body.into(),
    }
}

#[tokio::test]
async fn a_sale_with_a_nonce_is_captured_at_once_with_the_sdks_fields() {
    let (mock, bt) = setup().await;
    let cmd = pay_cmd("bt-1", "10.00", &nonce(PAYPAL_NONCE));
    let out = bt.pay(&cmd).await.unwrap();
    assert_eq!(out.state, PaymentState::Captured, "{out:?}");
    assert_eq!(out.redirect_url, None);
    let id = out.provider_payment_id.unwrap();
    let t = mock.transaction(&id).unwrap();
    assert_eq!(
        (t.status.as_str(), t.amount_minor, t.order_id.as_deref()),
        ("submitted_for_settlement", 1000, Some("bt-1"))
    );
    assert_eq!(t.device_data.as_deref(), Some(r#"{"correlation_id":"c1"}"#));
    let status = dynp(&bt)
        .status(&payment(&cmd, Some(&id), PaymentState::Captured))
        .await
        .unwrap();
    assert_eq!(status.state, PaymentState::Captured);
}

#[tokio::test]
async fn a_decline_is_failed_with_the_processors_reason_and_a_bad_nonce_is_refused() {
    let (mock, bt) = setup().await;
    let out = bt
        .pay(&pay_cmd("bt-no", "5.00", &nonce(DECLINED_NONCE)))
        .await
        .unwrap();
    assert_eq!(out.state, PaymentState::Failed);
    assert!(out.description.contains("2000 Do Not Honor"), "{out:?}");
    assert!(out.provider_payment_id.is_some());

    let err = bt
        .pay(&pay_cmd("bt-bad", "5.00", &nonce("made-up")))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ProviderError::Rejected { code: Some(c), .. } if c == "91565"),
        "{err:?}"
    );
    // A nonce is used once.
    let single = mock.nonce();
    bt.pay(&pay_cmd("bt-a", "1.00", &nonce(&single)))
        .await
        .unwrap();
    let again = bt
        .pay(&pay_cmd("bt-b", "1.00", &nonce(&single)))
        .await
        .unwrap_err();
    assert!(matches!(&again, ProviderError::Rejected { code: Some(c), .. } if c == "91564"));
}

#[tokio::test]
async fn vaulted_customers_pay_without_a_nonce_and_new_methods_are_stored() {
    let (mock, bt) = setup().await;
    mock.add_customer("cust-7");
    let out = bt
        .pay(&pay_cmd(
            "bt-v",
            "3.00",
            r#"{"customerId":"cust-7","vaulted":true}"#,
        ))
        .await
        .unwrap();
    assert_eq!(out.state, PaymentState::Captured);
    let t = mock.transaction(&out.provider_payment_id.unwrap()).unwrap();
    assert_eq!(t.customer_id.as_deref(), Some("cust-7"));

    bt.pay(&pay_cmd(
        "bt-s",
        "4.00",
        &format!(r#"{{"nonce":"{PAYPAL_NONCE}","customerId":"cust-7","storeInVault":true}}"#),
    ))
    .await
    .unwrap();
    assert_eq!(mock.vaulted("cust-7").unwrap().len(), 2);

    let unknown = bt
        .pay(&pay_cmd(
            "bt-u",
            "3.00",
            r#"{"customerId":"nobody","vaulted":true}"#,
        ))
        .await
        .unwrap_err();
    assert!(matches!(&unknown, ProviderError::Rejected { code: Some(c), .. } if c == "91510"));
}

#[tokio::test]
async fn a_pay_in_another_currency_than_the_accounts_is_refused_before_sending() {
    let (mock, bt) = setup().await;
    let json = format!(
        r#"{{"amount":"5.00","currency":"USD","shopTransactionID":"bt-usd","brainTreeDataRequest":{}}}"#,
        nonce(PAYPAL_NONCE)
    );
    let cmd = serde_json::from_str::<PayRequest>(&json)
        .unwrap()
        .validate("pay-pal", false)
        .unwrap();
    let err = bt.pay(&cmd).await.unwrap_err();
    assert!(matches!(&err, ProviderError::InvalidRequest { field, .. } if field == "currency"));
    assert!(mock.sales().is_empty());
}

#[tokio::test]
async fn unsettled_is_voided_whole_settled_is_refunded_in_parts() {
    let (mock, bt) = setup().await;
    let cmd = pay_cmd("bt-r", "10.00", &nonce(PAYPAL_NONCE));
    let id = bt.pay(&cmd).await.unwrap().provider_payment_id.unwrap();
    let mut p = payment(&cmd, Some(&id), PaymentState::Captured);

    // Not settled yet: a part cannot be given back, the whole is a void.
    let part = dynp(&bt).refund(&p, eur(400), "rf1").await.unwrap_err();
    assert!(matches!(part, ProviderError::Rejected { .. }), "{part:?}");
    assert_eq!(
        mock.transaction(&id).unwrap().status,
        "submitted_for_settlement"
    );

    mock.settle(&id).unwrap();
    let first = dynp(&bt).refund(&p, eur(400), "rf1").await.unwrap();
    assert!(first.succeeded(), "{first:?}");
    p.refunded_minor = 400;
    let rest = dynp(&bt).refund(&p, eur(600), "rf2").await.unwrap();
    assert!(rest.succeeded());
    assert_eq!(mock.refunded_minor("bt-r"), 1000);

    let cmd = pay_cmd("bt-void", "7.00", &nonce(PAYPAL_NONCE));
    let id = bt.pay(&cmd).await.unwrap().provider_payment_id.unwrap();
    let p = payment(&cmd, Some(&id), PaymentState::Captured);
    let void = dynp(&bt).refund(&p, eur(700), "rf3").await.unwrap();
    assert!(void.succeeded());
    assert_eq!(void.description, "Payment voided before settlement");
    assert_eq!(mock.transaction(&id).unwrap().status, "voided");
}

#[tokio::test]
async fn without_submit_for_settlement_confirm_captures_at_most_the_authorisation() {
    let mock = BraintreeMock::start().await;
    let bt = adapter_with(&mock, false);
    let cmd = pay_cmd("bt-auth", "10.00", &nonce(PAYPAL_NONCE));
    let out = bt.pay(&cmd).await.unwrap();
    assert_eq!(out.state, PaymentState::Authorized);
    let id = out.provider_payment_id.unwrap();
    let p = payment(&cmd, Some(&id), PaymentState::Authorized);
    let provider = dynp(&bt);
    assert!(provider.supports(Operation::Confirm));
    let captured = provider.confirm(&p, eur(800)).await.unwrap();
    assert!(captured.succeeded);
    let t = mock.transaction(&id).unwrap();
    assert_eq!(
        (t.status.as_str(), t.amount_minor),
        ("submitted_for_settlement", 800)
    );
    let twice = provider.confirm(&p, eur(800)).await.unwrap_err();
    assert!(matches!(&twice, ProviderError::Rejected { code: Some(c), .. } if c == "91507"));
}

#[tokio::test]
async fn a_lost_sale_answer_is_found_by_our_reference() {
    let (mock, bt) = setup().await;
    let cmd = pay_cmd("bt-lost", "6.00", &nonce(PAYPAL_NONCE));
    mock.fault(Fault::ResetAfterWork);
    let err = bt.pay(&cmd).await.unwrap_err();
    assert!(matches!(err, ProviderError::Unavailable(_)), "{err:?}");
    let found = dynp(&bt)
        .status(&payment(&cmd, None, PaymentState::Initiated))
        .await
        .unwrap();
    assert_eq!(found.state, PaymentState::Captured);
    assert_eq!(
        found.provider_payment_id,
        Some(mock.sales_for("bt-lost")[0].id.clone())
    );

    let never = pay_cmd("bt-never", "6.00", &nonce(PAYPAL_NONCE));
    let none = dynp(&bt)
        .status(&payment(&never, None, PaymentState::Initiated))
        .await
        .unwrap_err();
    assert_eq!(none, ProviderError::NotFound);
}

#[tokio::test]
async fn outages_are_unknown_and_refused_keys_name_the_variables() {
    let (mock, bt) = setup().await;
    let cmd = pay_cmd("bt-down", "6.00", &nonce(PAYPAL_NONCE));
    mock.fault(Fault::Unavailable);
    assert!(matches!(
        bt.pay(&cmd).await,
        Err(ProviderError::Unavailable(_))
    ));
    mock.fault(Fault::Delay(Duration::from_millis(800)));
    assert!(matches!(
        bt.pay(&cmd).await,
        Err(ProviderError::Unavailable(_))
    ));

    let mut env = env_for(&mock, true);
    env.set("BRAINTREE_PRIVATE_KEY", "wrong");
    let wrong = Braintree::new(
        BraintreeConfig::from_env(&env).unwrap(),
        reqwest::Client::new(),
    );
    let err = wrong.pay(&cmd).await.unwrap_err();
    assert!(
        matches!(&err, ProviderError::Rejected { message, .. } if message.contains("BRAINTREE_PRIVATE_KEY") && !message.contains("wrong")),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_sdks_sample_webhooks_are_verified_and_forgeries_refused() {
    let (_mock, bt) = setup().await;
    let (sig, payload) = sdk_webhook("transaction_settled", "bt000123", PRIVATE_KEY);
    match dynp(&bt)
        .callback(&form_request(&sig, &payload))
        .await
        .unwrap()
    {
        CallbackOutcome::Payment {
            subject, verified, ..
        } => {
            assert_eq!(
                subject,
                CallbackSubject::ProviderPaymentId("bt000123".into())
            );
            assert_eq!(verified.unwrap().state, PaymentState::Captured);
        }
        other => panic!("{other:?}"),
    }
    let (sig, payload) = sdk_webhook("transaction_settlement_declined", "bt000124", PRIVATE_KEY);
    match dynp(&bt)
        .callback(&form_request(&sig, &payload))
        .await
        .unwrap()
    {
        CallbackOutcome::Payment { verified, .. } => {
            assert_eq!(verified.unwrap().state, PaymentState::Failed)
        }
        other => panic!("{other:?}"),
    }
    let (sig, payload) = sdk_webhook("check", "", PRIVATE_KEY);
    assert!(matches!(
        dynp(&bt)
            .callback(&form_request(&sig, &payload))
            .await
            .unwrap(),
        CallbackOutcome::Ignored { .. }
    ));

    // Signed with another private key, tampered with, or without a signature.
    let (forged_sig, forged) = sdk_webhook("transaction_settled", "bt000125", "not-our-key");
    for (sig, payload) in [
        (forged_sig.as_str(), forged.as_str()),
        (sig.as_str(), forged.as_str()),
        ("", forged.as_str()),
    ] {
        let err = dynp(&bt)
            .callback(&form_request(sig, payload))
            .await
            .unwrap_err();
        assert!(matches!(err, ProviderError::InvalidSignature(_)), "{err:?}");
    }
}

#[tokio::test]
async fn the_endpoint_challenge_is_answered_and_a_client_token_is_issued() {
    let (mock, bt) = setup().await;
    let challenge = CallbackRequest {
        method: http::Method::GET,
        query: "bt_challenge=0123456789abcdef0123".into(),
        headers: http::HeaderMap::new(),
        body: Default::default(),
    };
    match dynp(&bt).callback(&challenge).await.unwrap() {
        CallbackOutcome::Ignored { ack } => {
            assert_eq!(ack.content_type, "text/plain");
            assert!(
                ack.body.starts_with(&format!("{PUBLIC_KEY}|")),
                "{}",
                ack.body
            );
            assert_eq!(ack.body.len(), PUBLIC_KEY.len() + 1 + 40);
        }
        other => panic!("{other:?}"),
    }
    let token = bt.client_token(None).await.unwrap();
    assert!(!token.is_empty());
    mock.add_customer("cust-1");
    bt.client_token(Some("cust-1")).await.unwrap();
    let err = bt.client_token(Some("nobody")).await.unwrap_err();
    assert!(matches!(&err, ProviderError::Rejected { code: Some(c), .. } if c == "92804"));
    assert_eq!(mock.client_tokens_issued(), 2);
}
