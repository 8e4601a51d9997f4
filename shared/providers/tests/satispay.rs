//! The Satispay adapter over HTTP against the Satispay mock, which verifies every request's
//! RSA signature with the public key, as Satispay does.

use pgm_core::payment::NewPayment;
use pgm_core::wire::{PayCommand, PayRequest};
use pgm_core::{Currency, Env, Money, Payment, PaymentKind, PaymentState};
use pgm_mocks::satispay::{
    SatispayMock, OTHER_PRIVATE_KEY_PEM, OTHER_PUBLIC_KEY_PEM, TEST_KEY_ID, TEST_PRIVATE_KEY_PEM,
    TEST_PUBLIC_KEY_PEM, WEB_HOST,
};
use pgm_mocks::{Fault, MockServer};
use pgm_providers::satispay::{
    digest_header, signing_string, PrivateKey, Satispay, SatispayConfig, SIGNED_HEADERS,
};
use pgm_providers::{
    CallbackOutcome, CallbackRequest, CallbackSubject, Operation, Provider, ProviderError,
};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CALLBACK: &str = "https://pgm.example/satispay/callback";

struct Setup {
    mock: SatispayMock,
    server: MockServer,
    provider: Arc<dyn Provider>,
}

fn env(base_url: &str, private_key: &str) -> Env {
    Env::from_pairs([
        ("SATISPAY_IS_SANDBOX", "true"),
        ("SATISPAY_KEY_ID", TEST_KEY_ID),
        ("SATISPAY_PRIVATE_KEY", private_key),
        ("SATISPAY_BASE_URL", base_url),
        (
            "SATISPAY_AFTER_BUY_WEB_REDIRECT_URL",
            "https://shop.example/after-buy",
        ),
        (
            "SATISPAY_AFTER_BUY_MOBILE_REDIRECT_URL",
            "shopapp://after-buy",
        ),
    ])
}

fn provider(base_url: &str, private_key: &str, waiting_seconds: u64) -> Arc<dyn Provider> {
    let mut config = SatispayConfig::from_env(&env(base_url, private_key)).expect("config");
    config.api.timeout = Duration::from_secs(1);
    config.waiting_seconds = waiting_seconds;
    Arc::new(Satispay::new(
        config,
        reqwest::Client::new(),
        CALLBACK.into(),
    ))
}

async fn setup() -> Setup {
    let mock = SatispayMock::new(TEST_KEY_ID, TEST_PUBLIC_KEY_PEM);
    let server = MockServer::start(mock.router()).await;
    let provider = provider(
        &format!("{}/g_business/v1", server.url),
        TEST_PRIVATE_KEY_PEM,
        0,
    );
    Setup {
        mock,
        server,
        provider,
    }
}

fn pay_command(shop_transaction_id: &str, amount: &str, extra: serde_json::Value) -> PayCommand {
    let mut body = json!({"amount": amount, "shopTransactionID": shop_transaction_id});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let request: PayRequest = serde_json::from_value(body).expect("pay request");
    request
        .validate("satispay", false)
        .expect("valid pay request")
}

/// The PGM's record of a payment as it would be after the pay and after the provider said so.
fn stored(
    shop_transaction_id: &str,
    minor: i64,
    provider_id: Option<&str>,
    state: PaymentState,
) -> Payment {
    let amount = Money::from_minor(minor, Currency::EUR).unwrap();
    let mut p = Payment::claimed(NewPayment {
        shop_transaction_id: shop_transaction_id.into(),
        provider: "satispay".into(),
        method: "satispay".into(),
        kind: PaymentKind::Single,
        amount,
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

/// Pays 12.40 and has the buyer accept it: a captured payment to refund.
async fn accepted_payment(s: &Setup, id: &str) -> Payment {
    let outcome = s
        .provider
        .pay(&pay_command(id, "12.40", json!({})))
        .await
        .unwrap();
    let pid = outcome.provider_payment_id.unwrap();
    assert!(s.mock.accept(&pid));
    stored(id, 1240, Some(&pid), PaymentState::Captured)
}

fn callback_request(url: &str) -> CallbackRequest {
    CallbackRequest {
        method: http::Method::GET,
        query: url
            .split_once('?')
            .map(|(_, q)| q.to_owned())
            .unwrap_or_default(),
        headers: http::HeaderMap::new(),
        body: bytes::Bytes::new(),
    }
}

#[tokio::test]
async fn pay_creates_a_signed_match_code_payment_and_redirects_to_satispay() {
    let s = setup().await;
    let outcome = s
        .provider
        .pay(&pay_command("order-1", "12.40", json!({})))
        .await
        .unwrap();

    let id = outcome.provider_payment_id.clone().expect("Satispay id");
    assert_eq!(outcome.state, PaymentState::Pending);
    let p = s.mock.payment(&id).expect("created at the mock");
    assert_eq!(p.flow, "MATCH_CODE");
    assert_eq!(p.amount_unit, 1240);
    assert_eq!(p.currency, "EUR");
    assert_eq!(p.external_code.as_deref(), Some("order-1"));
    assert_eq!(
        p.callback_url.as_deref(),
        Some("https://pgm.example/satispay/callback?payment_id={uuid}")
    );
    assert_eq!(
        p.redirect_url.as_deref(),
        Some("https://shop.example/after-buy")
    );
    assert_eq!(
        outcome.redirect_url.as_deref(),
        Some(
            format!("{WEB_HOST}/pay/{id}?redirect_url=https%3A%2F%2Fshop.example%2Fafter-buy")
                .as_str()
        )
    );
    assert_eq!(
        outcome.redirect_url_mobile.as_deref(),
        Some(format!("{WEB_HOST}/pay/{id}?redirect_url=shopapp%3A%2F%2Fafter-buy").as_str())
    );
    assert_eq!(s.mock.rejected_signatures(), 0);
    let auth = s.mock.requests()[0].authorization.clone().unwrap();
    assert!(
        auth.starts_with(&format!(
            "Signature keyId=\"{TEST_KEY_ID}\", algorithm=\"rsa-sha256\", headers=\"(request-target) host date digest\", signature=\""
        )),
        "{auth}"
    );
}

#[tokio::test]
async fn success_redirect_overrides_the_configured_after_buy_url() {
    let s = setup().await;
    let cmd = pay_command(
        "order-2",
        "5.00",
        json!({"successRedirect": "https://shop.example/ok?o=2"}),
    );
    let outcome = s.provider.pay(&cmd).await.unwrap();
    let p = s
        .mock
        .payment(outcome.provider_payment_id.as_deref().unwrap())
        .unwrap();
    assert_eq!(
        p.redirect_url.as_deref(),
        Some("https://shop.example/ok?o=2")
    );
    assert_eq!(p.amount_unit, 500);
}

#[tokio::test]
async fn a_retried_pay_is_one_payment_at_satispay() {
    let s = setup().await;
    let cmd = pay_command("order-3", "1.00", json!({}));
    let first = s.provider.pay(&cmd).await.unwrap();
    let second = s.provider.pay(&cmd).await.unwrap();
    assert_eq!(first.provider_payment_id, second.provider_payment_id);
    assert_eq!(s.mock.created_payments(), 1);
}

#[tokio::test]
async fn pay_refuses_what_satispay_cannot_take_before_calling_it() {
    let s = setup().await;
    let usd = pay_command("order-4", "1.00", json!({"currency": "USD"}));
    assert!(
        matches!(s.provider.pay(&usd).await, Err(ProviderError::InvalidRequest { field, .. }) if field == "currency")
    );
    let long = pay_command(&"x".repeat(51), "1.00", json!({}));
    assert!(
        matches!(s.provider.pay(&long).await, Err(ProviderError::InvalidRequest { field, .. }) if field == "shopTransactionID")
    );
    assert!(s.mock.requests().is_empty());
}

/// What the buyer (or time) does to a payment at the mock.
type BuyerAction = fn(&SatispayMock, &str) -> bool;

#[tokio::test]
async fn status_maps_every_documented_satispay_status() {
    let s = setup().await;
    let cases: [(&str, BuyerAction, PaymentState); 6] = [
        ("st-pending", |_, _| true, PaymentState::Pending),
        ("st-accepted", |m, id| m.accept(id), PaymentState::Captured),
        ("st-canceled", |m, id| m.cancel(id), PaymentState::Failed),
        ("st-expired", |m, id| m.expire(id), PaymentState::Failed),
        (
            "st-authorized",
            |m, id| m.force_status(id, "AUTHORIZED"),
            PaymentState::Authorized,
        ),
        (
            "st-unknown",
            |m, id| m.force_status(id, "SOMETHING_NEW"),
            PaymentState::Pending,
        ),
    ];
    for (order, buyer, expected) in cases {
        let outcome = s
            .provider
            .pay(&pay_command(order, "2.00", json!({})))
            .await
            .unwrap();
        let id = outcome.provider_payment_id.unwrap();
        assert!(buyer(&s.mock, &id), "{order}");
        let status = s
            .provider
            .status(&stored(order, 200, Some(&id), PaymentState::Pending))
            .await
            .unwrap();
        assert_eq!(status.state, expected, "{order}");
        assert_eq!(status.provider_payment_id.as_deref(), Some(id.as_str()));
    }
}

#[tokio::test]
async fn status_finds_a_payment_whose_pay_answer_was_lost() {
    let s = setup().await;
    let outcome = s
        .provider
        .pay(&pay_command("lost-1", "3.00", json!({})))
        .await
        .unwrap();
    let id = outcome.provider_payment_id.unwrap();
    s.mock.accept(&id);
    let status = s
        .provider
        .status(&stored("lost-1", 300, None, PaymentState::Initiated))
        .await
        .unwrap();
    assert_eq!(status.state, PaymentState::Captured);
    assert_eq!(status.provider_payment_id, Some(id));
    let never = s
        .provider
        .status(&stored("never-sent", 300, None, PaymentState::Initiated))
        .await;
    assert_eq!(never, Err(ProviderError::NotFound));
}

#[tokio::test]
async fn status_of_an_unknown_payment_is_not_found() {
    let s = setup().await;
    let unknown = stored(
        "x",
        100,
        Some("2ee5f6c7-f85d-45b7-8f1b-2a570a7002eb"),
        PaymentState::Pending,
    );
    assert_eq!(
        s.provider.status(&unknown).await,
        Err(ProviderError::NotFound)
    );
}

#[tokio::test]
async fn status_long_polls_while_the_buyer_decides() {
    let mock = SatispayMock::new(TEST_KEY_ID, TEST_PUBLIC_KEY_PEM);
    let server = MockServer::start(mock.router()).await;
    let provider = provider(
        &format!("{}/g_business/v1", server.url),
        TEST_PRIVATE_KEY_PEM,
        5,
    );
    let outcome = provider
        .pay(&pay_command("poll-1", "2.00", json!({})))
        .await
        .unwrap();
    let id = outcome.provider_payment_id.unwrap();
    let buyer = mock.clone();
    let paid = id.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        buyer.accept(&paid);
    });
    let started = Instant::now();
    let status = provider
        .status(&stored("poll-1", 200, Some(&id), PaymentState::Pending))
        .await
        .unwrap();
    assert_eq!(status.state, PaymentState::Captured);
    // Answered when the buyer paid, not after the whole 5 s window, and not before.
    assert!(
        started.elapsed() >= Duration::from_millis(350)
            && started.elapsed() < Duration::from_secs(4)
    );
}

#[tokio::test]
async fn callback_is_only_a_trigger_naming_the_payment() {
    let s = setup().await;
    let outcome = s
        .provider
        .pay(&pay_command("cb-1", "2.00", json!({})))
        .await
        .unwrap();
    let id = outcome.provider_payment_id.unwrap();
    s.mock.accept(&id);
    let url = s.mock.callback_url(&id).unwrap();
    assert!(url.starts_with(CALLBACK));
    match s.provider.callback(&callback_request(&url)).await.unwrap() {
        CallbackOutcome::Payment {
            subject, verified, ..
        } => {
            assert_eq!(subject, CallbackSubject::ProviderPaymentId(id));
            assert_eq!(verified, None, "an unsigned callback vouches for nothing");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn malformed_callbacks_are_refused() {
    let s = setup().await;
    for url in [
        "https://pgm.example/satispay/callback",
        "https://pgm.example/satispay/callback?payment_id=",
        "https://pgm.example/satispay/callback?other=1",
        "https://pgm.example/satispay/callback?payment_id=..%2Fpayments",
        "https://pgm.example/satispay/callback?payment_id={uuid}",
    ] {
        let result = s.provider.callback(&callback_request(url)).await;
        assert!(
            matches!(result, Err(ProviderError::InvalidCallback(_))),
            "{url}: {result:?}"
        );
    }
}

#[tokio::test]
async fn full_refund_is_a_refund_flow_payment() {
    let s = setup().await;
    let payment = accepted_payment(&s, "rf-1").await;
    let parent = payment.provider_payment_id.clone().unwrap();
    let outcome = s
        .provider
        .refund(&payment, eur(1240), "refund-rf-1-1")
        .await
        .unwrap();
    assert!(outcome.succeeded());
    let refund = s
        .mock
        .payment(outcome.provider_refund_id.as_deref().unwrap())
        .unwrap();
    assert_eq!(refund.flow, "REFUND");
    assert_eq!(refund.kind, "REFUND_TO_BUSINESS");
    assert_eq!(refund.parent_payment_uid.as_deref(), Some(parent.as_str()));
    assert_eq!(refund.amount_unit, 1240);
    assert_eq!(s.mock.payment(&parent).unwrap().refunded_unit, 1240);
}

#[tokio::test]
async fn several_partial_refunds_until_the_mock_refuses_more() {
    let s = setup().await;
    let payment = accepted_payment(&s, "rf-2").await;
    for (i, minor) in [400, 500, 340].into_iter().enumerate() {
        let outcome = s
            .provider
            .refund(&payment, eur(minor), &format!("r2-{i}"))
            .await
            .unwrap();
        assert!(outcome.succeeded());
    }
    let over = s.provider.refund(&payment, eur(1), "r2-over").await;
    assert!(
        matches!(&over, Err(ProviderError::Rejected { code: Some(c), .. }) if c == "21"),
        "{over:?}"
    );
    assert_eq!(s.mock.refund_count(), 3);
    assert_eq!(
        s.mock
            .payment(payment.provider_payment_id.as_deref().unwrap())
            .unwrap()
            .refunded_unit,
        1240
    );
}

#[tokio::test]
async fn a_refund_above_the_payment_is_refused_by_the_mock() {
    let s = setup().await;
    let payment = accepted_payment(&s, "rf-3").await;
    let over = s.provider.refund(&payment, eur(1241), "r3").await;
    assert!(matches!(over, Err(ProviderError::Rejected { .. })));
    assert_eq!(s.mock.refund_count(), 0);
}

#[tokio::test]
async fn a_pending_payment_cannot_be_refunded() {
    let s = setup().await;
    let outcome = s
        .provider
        .pay(&pay_command("rf-4", "2.00", json!({})))
        .await
        .unwrap();
    let payment = stored(
        "rf-4",
        200,
        outcome.provider_payment_id.as_deref(),
        PaymentState::Pending,
    );
    let refused = s.provider.refund(&payment, eur(200), "r4").await;
    assert!(
        matches!(&refused, Err(ProviderError::Rejected { code: Some(c), .. }) if c == "45"),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_retried_refund_refunds_once() {
    let s = setup().await;
    let payment = accepted_payment(&s, "rf-5").await;
    s.server.faults.push(Fault::ErrorAfterWork);
    let lost = s.provider.refund(&payment, eur(600), "r5").await;
    assert!(matches!(lost, Err(ProviderError::Unavailable(_))));
    let retried = s.provider.refund(&payment, eur(600), "r5").await.unwrap();
    assert!(retried.succeeded());
    assert_eq!(s.mock.refund_count(), 1);
    assert_eq!(
        s.mock
            .payment(payment.provider_payment_id.as_deref().unwrap())
            .unwrap()
            .refunded_unit,
        600
    );
}

#[tokio::test]
async fn a_payment_signed_with_another_key_is_refused_with_satispays_401() {
    let mock = SatispayMock::new(TEST_KEY_ID, TEST_PUBLIC_KEY_PEM);
    let server = MockServer::start(mock.router()).await;
    let impostor = provider(
        &format!("{}/g_business/v1", server.url),
        OTHER_PRIVATE_KEY_PEM,
        0,
    );
    let refused = impostor.pay(&pay_command("sig-1", "1.00", json!({}))).await;
    assert!(
        matches!(&refused, Err(ProviderError::Rejected { code: Some(c), .. }) if c == "34"),
        "{refused:?}"
    );
    assert_eq!(mock.created_payments(), 0);
    assert_eq!(mock.rejected_signatures(), 1);
}

#[tokio::test]
async fn a_pkcs1_key_signs_as_well_as_a_pkcs8_one() {
    let mock = SatispayMock::new("unused", TEST_PUBLIC_KEY_PEM);
    mock.register_key(TEST_KEY_ID, OTHER_PUBLIC_KEY_PEM);
    let server = MockServer::start(mock.router()).await;
    let p = provider(
        &format!("{}/g_business/v1", server.url),
        OTHER_PRIVATE_KEY_PEM,
        0,
    );
    let outcome = p
        .pay(&pay_command("sig-3", "1.00", json!({})))
        .await
        .unwrap();
    assert!(outcome.provider_payment_id.is_some());
    assert_eq!(mock.rejected_signatures(), 0);
}

#[tokio::test]
async fn an_unknown_key_id_is_refused() {
    let mock = SatispayMock::new("another-key-id", TEST_PUBLIC_KEY_PEM);
    let server = MockServer::start(mock.router()).await;
    let p = provider(
        &format!("{}/g_business/v1", server.url),
        TEST_PRIVATE_KEY_PEM,
        0,
    );
    let refused = p.pay(&pay_command("sig-2", "1.00", json!({}))).await;
    assert!(matches!(refused, Err(ProviderError::Rejected { .. })));
    assert_eq!(mock.created_payments(), 0);
}

/// Sends a request signed by hand for `signed_body` but carrying `sent_body` and `digest_of`'s
/// digest: what a tampering proxy would send.
async fn hand_signed(
    server: &MockServer,
    signed_body: &str,
    sent_body: &str,
    digest_of: &str,
) -> reqwest::Response {
    let key = PrivateKey::from_pem(TEST_PRIVATE_KEY_PEM).unwrap();
    let url = reqwest::Url::parse(&format!("{}/g_business/v1/payments", server.url)).unwrap();
    let host = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    let date = "Mon, 18 Mar 2019 15:10:24 +0000";
    let signed_digest = digest_header(signed_body.as_bytes());
    let signature = key.sign(&signing_string(
        "POST",
        url.path(),
        &host,
        date,
        &signed_digest,
    ));
    reqwest::Client::new()
        .post(url)
        .header("Host", host)
        .header("Date", date)
        .header("Digest", digest_header(digest_of.as_bytes()))
        .header("Content-Type", "application/json")
        .header(
            "Authorization",
            format!("Signature keyId=\"{TEST_KEY_ID}\", algorithm=\"rsa-sha256\", headers=\"{SIGNED_HEADERS}\", signature=\"{signature}\""),
        )
        .body(sent_body.to_owned())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_mock_verifies_signature_and_digest_and_refuses_a_tampered_body() {
    let s = setup().await;
    let body = r#"{"flow":"MATCH_CODE","amount_unit":100,"currency":"EUR"}"#;
    let tampered = r#"{"flow":"MATCH_CODE","amount_unit":999999,"currency":"EUR"}"#;

    let honest = hand_signed(&s.server, body, body, body).await;
    assert_eq!(honest.status(), 200, "a correctly signed request passes");

    // The body changed, the digest did not: the digest check catches it.
    let stale_digest = hand_signed(&s.server, body, tampered, body).await;
    assert_eq!(stale_digest.status(), 401);
    let error: serde_json::Value = stale_digest.json().await.unwrap();
    assert_eq!(error["code"], 34);
    assert!(error["wlt"].is_string());

    // The digest was recomputed for the new body: the signature no longer matches.
    let forged_digest = hand_signed(&s.server, body, tampered, tampered).await;
    assert_eq!(forged_digest.status(), 401);

    assert_eq!(s.mock.created_payments(), 1);
    assert_eq!(s.mock.rejected_signatures(), 2);
}

#[tokio::test]
async fn the_mock_refuses_amounts_that_are_not_integer_cents() {
    let s = setup().await;
    for body in [
        r#"{"flow":"MATCH_CODE","amount_unit":"12.40","currency":"EUR"}"#,
        r#"{"flow":"MATCH_CODE","amount_unit":12.4,"currency":"EUR"}"#,
        r#"{"flow":"MATCH_CODE","amount_unit":1240,"currency":"USD"}"#,
    ] {
        let response = hand_signed(&s.server, body, body, body).await;
        assert_eq!(response.status(), 400, "{body}");
        let error: serde_json::Value = response.json().await.unwrap();
        assert_eq!(error["code"], 36);
    }
}

#[tokio::test]
async fn a_500_after_work_is_unavailable_and_the_retry_charges_once() {
    let s = setup().await;
    let cmd = pay_command("f-2", "1.00", json!({}));
    s.server.faults.push(Fault::ErrorAfterWork);
    assert!(matches!(
        s.provider.pay(&cmd).await,
        Err(ProviderError::Unavailable(_))
    ));
    assert_eq!(s.mock.created_payments(), 1);
    let retried = s.provider.pay(&cmd).await.unwrap();
    assert!(retried.provider_payment_id.is_some());
    assert_eq!(s.mock.created_payments(), 1);
}

#[tokio::test]
async fn a_reset_connection_is_unavailable() {
    let s = setup().await;
    s.server.faults.push(Fault::Reset);
    assert!(matches!(
        s.provider.pay(&pay_command("f-3", "1.00", json!({}))).await,
        Err(ProviderError::Unavailable(_))
    ));
    s.server.faults.push(Fault::ResetAfterWork);
    assert!(matches!(
        s.provider.pay(&pay_command("f-4", "1.00", json!({}))).await,
        Err(ProviderError::Unavailable(_))
    ));
    assert_eq!(s.mock.created_payments(), 1);
}

#[tokio::test]
async fn supports_is_exactly_what_the_adapter_does() {
    let s = setup().await;
    let supported = [
        Operation::Pay,
        Operation::Refund,
        Operation::Callback,
        Operation::Check,
        Operation::Status,
    ];
    for op in Operation::ALL {
        assert_eq!(s.provider.supports(op), supported.contains(&op), "{op:?}");
    }
    let payment = stored(
        "ns-1",
        100,
        Some("2ee5f6c7-f85d-45b7-8f1b-2a570a7002eb"),
        PaymentState::Captured,
    );
    let cmd = pay_command("ns-1", "1.00", json!({}));
    assert_eq!(
        s.provider.confirm(&payment, eur(100)).await,
        Err(ProviderError::NotSupported)
    );
    assert_eq!(
        s.provider.pay_recurrent(&cmd).await,
        Err(ProviderError::NotSupported)
    );
    assert_eq!(
        s.provider.void(&payment).await,
        Err(ProviderError::NotSupported)
    );
    assert!(s.mock.requests().is_empty());
    assert_eq!(s.provider.name(), "satispay");
    assert_eq!(s.provider.methods(), ["satispay"]);
}

#[test]
fn config_reads_pem_keys_with_literal_newlines_and_in_pkcs1() {
    let escaped = TEST_PRIVATE_KEY_PEM.replace('\n', "\\n");
    assert!(SatispayConfig::from_env(&env("https://x.example", &escaped)).is_ok());
    assert!(SatispayConfig::from_env(&env("https://x.example", OTHER_PRIVATE_KEY_PEM)).is_ok());
}

#[test]
fn config_errors_name_the_variable() {
    let bad_key = SatispayConfig::from_env(&env(
        "https://x.example",
        "-----BEGIN PRIVATE KEY-----\nbm9wZQ==\n-----END PRIVATE KEY-----",
    ))
    .unwrap_err();
    assert_eq!(bad_key.var, "SATISPAY_PRIVATE_KEY");
    assert!(!bad_key.to_string().contains("bm9wZQ"));

    let mut missing = env("https://x.example", TEST_PRIVATE_KEY_PEM);
    missing.set("SATISPAY_KEY_ID", "");
    assert_eq!(
        SatispayConfig::from_env(&missing).unwrap_err().var,
        "SATISPAY_KEY_ID"
    );

    let mut too_long = env("https://x.example", TEST_PRIVATE_KEY_PEM);
    too_long.set("SATISPAY_WAITING_SECONDS", "61");
    assert_eq!(
        SatispayConfig::from_env(&too_long).unwrap_err().var,
        "SATISPAY_WAITING_SECONDS"
    );

    let mut not_url = env("https://x.example", TEST_PRIVATE_KEY_PEM);
    not_url.set("SATISPAY_BASE_URL", "staging.authservices.satispay.com");
    assert_eq!(
        SatispayConfig::from_env(&not_url).unwrap_err().var,
        "SATISPAY_BASE_URL"
    );
}

#[test]
fn config_picks_the_host_by_sandbox_flag() {
    let mut live = env("https://unused.example", TEST_PRIVATE_KEY_PEM);
    live.set("SATISPAY_BASE_URL", "");
    live.set("SATISPAY_IS_SANDBOX", "false");
    assert_eq!(
        SatispayConfig::from_env(&live).unwrap().api.base_url,
        "https://authservices.satispay.com/g_business/v1"
    );
    live.set("SATISPAY_IS_SANDBOX", "true");
    assert_eq!(
        SatispayConfig::from_env(&live).unwrap().api.base_url,
        "https://staging.authservices.satispay.com/g_business/v1"
    );
}

#[test]
fn config_debug_never_prints_keys() {
    let config = SatispayConfig::from_env(&env("https://x.example", TEST_PRIVATE_KEY_PEM)).unwrap();
    let printed = format!("{config:?}");
    assert!(!printed.contains(TEST_KEY_ID), "{printed}");
    assert!(!printed.contains("MIIE"), "{printed}");
    assert!(!printed.contains("BEGIN"), "{printed}");
    assert!(printed.contains("[REDACTED]"));
}

/// `GET {target}` signed by hand as Satispay documents it (no body: the digest of nothing).
async fn signed_get(server: &MockServer, target: &str) -> reqwest::Response {
    let key = PrivateKey::from_pem(TEST_PRIVATE_KEY_PEM).unwrap();
    let url = reqwest::Url::parse(&format!("{}{target}", server.url)).unwrap();
    let host = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    let date = "Mon, 18 Mar 2019 15:10:24 +0000";
    let digest = digest_header(b"");
    let signature = key.sign(&signing_string("GET", target, &host, date, &digest));
    reqwest::Client::new()
        .get(url)
        .header("Host", host)
        .header("Date", date)
        .header("Digest", digest)
        .header(
            "Authorization",
            format!("Signature keyId=\"{TEST_KEY_ID}\", algorithm=\"rsa-sha256\", headers=\"{SIGNED_HEADERS}\", signature=\"{signature}\""),
        )
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_mock_lists_accepted_payments_when_no_status_is_given() {
    let s = setup().await;
    let mut ids = Vec::new();
    for id in ["list-accepted", "list-pending", "list-canceled"] {
        let outcome = s
            .provider
            .pay(&pay_command(id, "1.00", json!({})))
            .await
            .unwrap();
        ids.push(outcome.provider_payment_id.unwrap());
    }
    assert!(s.mock.accept(&ids[0]));
    assert!(s.mock.cancel(&ids[2]));
    let listed = |body: serde_json::Value| -> Vec<String> {
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_owned())
            .collect()
    };
    // Satispay's documented default: `status` absent means ACCEPTED.
    let default = signed_get(&s.server, "/g_business/v1/payments").await;
    assert_eq!(default.status(), 200);
    assert_eq!(listed(default.json().await.unwrap()), ids[..1]);
    for (status, id) in [("PENDING", &ids[1..2]), ("CANCELED", &ids[2..3])] {
        let response = signed_get(
            &s.server,
            &format!("/g_business/v1/payments?status={status}"),
        )
        .await;
        assert_eq!(response.status(), 200);
        assert_eq!(listed(response.json().await.unwrap()), id);
    }
}

/// The adapter read a second page of `status`, after the first 100, with `starting_after`.
fn paged_beyond_the_first_100(s: &Setup, status: &str) -> bool {
    s.mock.requests().iter().any(|r| {
        r.method == "GET"
            && r.path_and_query.contains(&format!("status={status}"))
            && r.path_and_query.contains("limit=100")
            && r.path_and_query.contains("starting_after=")
    })
}

#[tokio::test]
async fn a_lost_accepted_payment_beyond_the_first_page_of_100_is_found() {
    let s = setup().await;
    let outcome = s
        .provider
        .pay(&pay_command("lost-deep", "3.00", json!({})))
        .await
        .unwrap();
    let id = outcome.provider_payment_id.unwrap();
    assert!(s.mock.accept(&id));
    // 100 newer accepted payments: ours is on the second page of 100.
    s.mock.seed_payments(100, "ACCEPTED");
    let status = s
        .provider
        .status(&stored("lost-deep", 300, None, PaymentState::Initiated))
        .await
        .unwrap();
    assert_eq!(status.state, PaymentState::Captured);
    assert_eq!(status.provider_payment_id, Some(id));
    assert!(paged_beyond_the_first_100(&s, "ACCEPTED"));
}

#[tokio::test]
async fn a_lost_pending_payment_beyond_the_first_page_of_100_is_found() {
    let s = setup().await;
    let outcome = s
        .provider
        .pay(&pay_command("lost-deep-pending", "3.00", json!({})))
        .await
        .unwrap();
    let id = outcome.provider_payment_id.unwrap();
    // 100 newer pending payments: ours is on the second page of 100.
    s.mock.seed_payments(100, "PENDING");
    let status = s
        .provider
        .status(&stored(
            "lost-deep-pending",
            300,
            None,
            PaymentState::Initiated,
        ))
        .await
        .unwrap();
    assert_eq!(status.state, PaymentState::Pending);
    assert_eq!(status.provider_payment_id, Some(id));
    assert!(paged_beyond_the_first_100(&s, "PENDING"));
}
