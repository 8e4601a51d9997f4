//! The UniCredit (IGFS CG) adapter over HTTP against the IGFS mock: signed SOAP envelopes,
//! minor-unit amounts, Verify after the buyer's return, and pre-authorisation with Confirm,
//! VoidAuth and Credit.

use pgm_core::payment::NewPayment;
use pgm_core::wire::{PayCommand, PayRequest};
use pgm_core::{Currency, Env, Money, Payment, PaymentKind, PaymentState};
use pgm_mocks::unicredit::{UnicreditMock, PAYMENT_PAGE, SERVICES};
use pgm_mocks::{Fault, MockServer};
use pgm_providers::unicredit::{Unicredit, UnicreditConfig};
use pgm_providers::{
    CallbackOutcome, CallbackRequest, CallbackSubject, Provider, ProviderError, RefundStatus,
};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const TID: &str = "UNI_ECOM";
const KSIG: &str = "UNI_TESTKEY";
const CALLBACK: &str = "https://pgm.example/unicredit/callback";

struct Setup {
    mock: UnicreditMock,
    server: MockServer,
    provider: Arc<dyn Provider>,
}

fn provider(server: &MockServer, ksig: &str, extra: &[(&str, &str)]) -> Arc<dyn Provider> {
    let base = format!("{}{SERVICES}", server.url);
    let mut pairs = vec![
        ("UNICREDIT_USER_ID", TID),
        ("UNICREDIT_SECRET", ksig),
        ("UNICREDIT_PAYMENT_URL", base.as_str()),
    ];
    pairs.extend_from_slice(extra);
    let mut config = UnicreditConfig::from_env(&Env::from_pairs(pairs)).unwrap();
    config.api.timeout = Duration::from_millis(500);
    Arc::new(Unicredit::new(
        config,
        reqwest::Client::new(),
        CALLBACK.into(),
    ))
}

async fn setup_with(extra: &[(&str, &str)]) -> Setup {
    let mock = UnicreditMock::new(TID, KSIG);
    let server = MockServer::start(mock.router()).await;
    let provider = provider(&server, KSIG, extra);
    Setup {
        mock,
        server,
        provider,
    }
}

async fn setup() -> Setup {
    setup_with(&[]).await
}

fn pay_command(id: &str, amount: &str, extra: serde_json::Value) -> PayCommand {
    let mut body = json!({"amount": amount, "shopTransactionID": id});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let request: PayRequest = serde_json::from_value(body).unwrap();
    request.validate("credit-cards", false).unwrap()
}

fn stored(id: &str, minor: i64, provider_id: Option<&str>, state: PaymentState) -> Payment {
    let mut p = Payment::claimed(NewPayment {
        shop_transaction_id: id.into(),
        provider: "unicredit".into(),
        method: "credit-cards".into(),
        kind: PaymentKind::Single,
        amount: eur(minor),
        metadata: Default::default(),
        request_hash: "h".into(),
        now: 0,
        lock_ms: 60_000,
    });
    p.provider_payment_id = provider_id.map(str::to_owned);
    p.observe(state, "", 1);
    p
}

fn eur(minor: i64) -> Money {
    Money::from_minor(minor, Currency::EUR).unwrap()
}

/// Pays 12.40 (`extra` in the body) and has the buyer approve it on the gateway's page.
async fn approved(s: &Setup, id: &str, extra: serde_json::Value, state: PaymentState) -> Payment {
    let outcome = s
        .provider
        .pay(&pay_command(id, "12.40", extra))
        .await
        .unwrap();
    let pid = outcome.provider_payment_id.unwrap();
    assert!(s.mock.approve(&pid));
    stored(id, 1240, Some(&pid), state)
}

#[tokio::test]
async fn init_sends_a_signed_envelope_in_minor_units_and_redirects() {
    let s = setup().await;
    let outcome = s
        .provider
        .pay(&pay_command(
            "o-1",
            "5.00",
            json!({"buyerEmail": "ada@example.com"}),
        ))
        .await
        .unwrap();
    assert_eq!(outcome.state, PaymentState::Pending);
    assert!(outcome.redirect_url.unwrap().starts_with(PAYMENT_PAGE));
    let p = s.mock.payments().pop().unwrap();
    assert_eq!(
        (p.amount_minor, p.currency.as_str(), p.tr_type.as_str()),
        (500, "EUR", "PURCHASE")
    );
    assert_eq!(p.notify_url, format!("{CALLBACK}?shopTransactionID=o-1"));
    assert_eq!(
        p.error_url,
        format!("{CALLBACK}?shopTransactionID=o-1&outcome=error")
    );
    // The same order again is a duplicate at the gateway: a definite refusal.
    let again = s.provider.pay(&pay_command("o-1", "5.00", json!({}))).await;
    assert!(
        matches!(&again, Err(ProviderError::Rejected { code: Some(c), .. }) if c == "IGFS_20026"),
        "{again:?}"
    );
}

#[tokio::test]
async fn a_wrong_key_is_refused_by_the_gateway_and_named() {
    let s = setup().await;
    let wrong = provider(&s.server, "NOT_THE_KEY", &[]);
    let err = wrong
        .pay(&pay_command("o-k", "5.00", json!({})))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ProviderError::Rejected { code: Some(c), message } if c == "IGFS_20022" && message.contains("UNICREDIT_SECRET")),
        "{err:?}"
    );
    assert_eq!(s.mock.created(), 0);
}

#[tokio::test]
async fn verify_follows_the_buyer() {
    let s = setup().await;
    let outcome = s
        .provider
        .pay(&pay_command("o-v", "7.00", json!({})))
        .await
        .unwrap();
    let pid = outcome.provider_payment_id.unwrap();
    let payment = stored("o-v", 700, Some(&pid), PaymentState::Pending);
    assert_eq!(
        s.provider.status(&payment).await.unwrap().state,
        PaymentState::Pending
    );
    assert!(s.mock.decline(&pid));
    let failed = s.provider.status(&payment).await.unwrap();
    assert_eq!(failed.state, PaymentState::Failed);
    assert!(
        failed.description.contains("IGFS_008"),
        "{}",
        failed.description
    );
    // No gateway id (a lost Init answer): Verify cannot be asked.
    let unknown = stored("o-none", 700, None, PaymentState::Initiated);
    assert_eq!(
        s.provider.status(&unknown).await,
        Err(ProviderError::NotFound)
    );
    let missing = stored("o-v", 700, Some("00099"), PaymentState::Pending);
    assert_eq!(
        s.provider.status(&missing).await,
        Err(ProviderError::NotFound)
    );
}

#[tokio::test]
async fn purchase_is_captured_and_credited_in_parts() {
    let s = setup().await;
    let payment = approved(&s, "o-p", json!({}), PaymentState::Captured).await;
    assert_eq!(
        s.provider.status(&payment).await.unwrap().state,
        PaymentState::Captured
    );
    let first = s.provider.refund(&payment, eur(400), "r1").await.unwrap();
    assert_eq!(first.state, RefundStatus::Succeeded);
    let over = s.provider.refund(&payment, eur(841), "r2").await.unwrap();
    assert_eq!(over.state, RefundStatus::Failed);
    assert!(
        over.description.contains("IGFS_00260"),
        "{}",
        over.description
    );
    assert_eq!(s.mock.payments()[0].refunded_minor, 400);
    // A purchase cannot be confirmed again.
    let confirm = s.provider.confirm(&payment, eur(100)).await.unwrap();
    assert!(!confirm.succeeded && confirm.description.contains("IGFS_20007"));
}

#[tokio::test]
async fn pre_authorisation_is_confirmed_within_the_authorised_amount() {
    let s = setup_with(&[("UNICREDIT_USE_PRE_AUTHORIZATION", "true")]).await;
    let payment = approved(&s, "o-a", json!({}), PaymentState::Authorized).await;
    assert_eq!(s.mock.payments()[0].tr_type, "AUTH");
    assert_eq!(
        s.provider.status(&payment).await.unwrap().state,
        PaymentState::Authorized
    );
    let too_much = s.provider.confirm(&payment, eur(1241)).await.unwrap();
    assert!(!too_much.succeeded && too_much.description.contains("IGFS_098"));
    assert!(
        s.provider
            .confirm(&payment, eur(1000))
            .await
            .unwrap()
            .succeeded
    );
    assert_eq!(s.mock.payments()[0].captured_minor, 1000);
    let captured = stored(
        "o-a",
        1240,
        payment.provider_payment_id.as_deref(),
        PaymentState::Captured,
    );
    assert_eq!(
        s.provider.status(&captured).await.unwrap().state,
        PaymentState::Captured
    );
    assert_eq!(
        s.mock.calls(),
        ["Init", "Verify", "Verify", "Confirm", "Verify", "Confirm", "Verify"]
    );
}

#[tokio::test]
async fn a_manual_capture_per_payment_and_a_void() {
    let s = setup().await;
    let payment = approved(
        &s,
        "o-m",
        json!({"providerData": {"captureMethod": "manual"}}),
        PaymentState::Authorized,
    )
    .await;
    assert_eq!(
        s.provider.status(&payment).await.unwrap().state,
        PaymentState::Authorized
    );
    assert!(s.provider.void(&payment).await.unwrap().succeeded);
    assert!(s.mock.payments()[0].voided);
    assert!(
        !s.provider
            .confirm(&payment, eur(100))
            .await
            .unwrap()
            .succeeded
    );
    let bad = s
        .provider
        .pay(&pay_command(
            "o-bad",
            "1.00",
            json!({"providerData": {"captureMethod": 1}}),
        ))
        .await;
    assert!(
        matches!(bad, Err(ProviderError::InvalidRequest { field, .. }) if field == "providerData.captureMethod")
    );
}

#[tokio::test]
async fn the_buyers_return_is_a_trigger_naming_our_order() {
    let s = setup_with(&[(
        "UNICREDIT_AFTER_BUY_KO_REDIRECT_URL",
        "https://shop.example/ko",
    )])
    .await;
    let request = |query: &str| CallbackRequest {
        method: http::Method::GET,
        query: query.into(),
        headers: Default::default(),
        body: Default::default(),
    };
    match s
        .provider
        .callback(&request("shopTransactionID=o-1&outcome=error"))
        .await
        .unwrap()
    {
        CallbackOutcome::Payment {
            subject,
            verified,
            ack,
        } => {
            assert_eq!(subject, CallbackSubject::ShopTransactionId("o-1".into()));
            assert_eq!(verified, None);
            assert!(ack.body.contains("https://shop.example/ko"), "{}", ack.body);
        }
        other => panic!("{other:?}"),
    }
    for bad in ["", "paymentID=1", "shopTransactionID="] {
        assert!(matches!(
            s.provider.callback(&request(bad)).await,
            Err(ProviderError::InvalidCallback(_))
        ));
    }
}

#[tokio::test]
async fn outages_leave_the_outcome_unknown() {
    let s = setup().await;
    for fault in [
        Fault::Unavailable,
        Fault::ErrorAfterWork,
        Fault::ResetAfterWork,
        Fault::Delay(Duration::from_millis(800)),
    ] {
        s.server.faults.push(fault);
        let id = format!("o-{fault:?}").replace(['(', ')', ' ', '.'], "");
        let err = s
            .provider
            .pay(&pay_command(&id[..id.len().min(40)], "3.00", json!({})))
            .await
            .unwrap_err();
        assert!(
            matches!(err, ProviderError::Unavailable(_)),
            "{fault:?}: {err:?}"
        );
    }
}

#[test]
fn a_legacy_payment_url_is_refused_with_its_name() {
    let err = UnicreditConfig::from_env(&Env::from_pairs([
        ("UNICREDIT_USER_ID", TID),
        ("UNICREDIT_SECRET", KSIG),
        (
            "UNICREDIT_PAYMENT_URL",
            "https://pagamenti.unicredito.it/initInsert.do",
        ),
    ]))
    .unwrap_err();
    assert!(err.to_string().contains("UNICREDIT_PAYMENT_URL"), "{err}");
    let missing =
        UnicreditConfig::from_env(&Env::from_pairs([("UNICREDIT_USER_ID", TID)])).unwrap_err();
    assert!(missing.to_string().contains("UNICREDIT_SECRET"));
}
