//! The Scalapay adapter over HTTP against the Scalapay mock (tests/mocks/src/scalapay.rs), which
//! holds to Scalapay's documented wire format and refuses what Scalapay refuses.

use pgm_core::clock::now_ms;
use pgm_core::payment::NewPayment;
use pgm_core::wire::{PayCommand, PayRequest};
use pgm_core::{Currency, Env, Money, Payment, PaymentKind, PaymentState};
use pgm_mocks::scalapay::{hmac_v1, ScalapayMock, SANDBOX_API_KEY};
use pgm_mocks::Fault;
use pgm_providers::scalapay::{Scalapay, ScalapayConfig, DEFAULT_BASE_URL};
use pgm_providers::{
    CallbackOutcome, CallbackRequest, CallbackSubject, Provider, ProviderDeps, ProviderError,
    Registry, StatusOutcome,
};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

fn env_for(mock: &ScalapayMock) -> Env {
    Env::from_pairs([
        ("SCALAPAY_BASE_URL", mock.url()),
        ("SCALAPAY_API_KEY", SANDBOX_API_KEY),
        (
            "SCALAPAY_SUCCESS_REDIRECT_URL",
            "https://shop.example/thanks",
        ),
        (
            "SCALAPAY_FAILURE_REDIRECT_URL",
            "https://shop.example/sorry",
        ),
    ])
}

fn adapter(mock: &ScalapayMock) -> Arc<dyn Provider> {
    let mut config = ScalapayConfig::from_env(&env_for(mock)).unwrap();
    config.api.timeout = Duration::from_millis(700);
    Arc::new(Scalapay::new(config, reqwest::Client::new()))
}

async fn setup() -> (ScalapayMock, Arc<dyn Provider>) {
    let mock = ScalapayMock::start().await;
    let scalapay = adapter(&mock);
    (mock, scalapay)
}

const PROVIDER_DATA: &str = r#""providerData":{
    "consumer":{"givenNames":"Ada","surname":"Lovelace","phoneNumber":"+393331234567"},
    "shipping":{"name":"Ada Lovelace","countryCode":"IT","postcode":"20100","suburb":"Milano","line1":"Via Roma 1",
                "phoneNumber":"+393331234567"}}"#;

fn pay_cmd_with(id: &str, extra: &str) -> PayCommand {
    let json = format!(
        r#"{{"amount":"5.00","shopTransactionID":"{id}","buyerEmail":"ada@example.com",{PROVIDER_DATA}{extra}}}"#
    );
    serde_json::from_str::<PayRequest>(&json)
        .unwrap()
        .validate("scalapay", false)
        .unwrap()
}

fn pay_cmd() -> PayCommand {
    pay_cmd_with("order-1", "")
}

fn payment(cmd: &PayCommand, token: Option<&str>) -> Payment {
    let mut p = Payment::claimed(NewPayment {
        shop_transaction_id: cmd.shop_transaction_id.clone(),
        provider: "scalapay".into(),
        method: "scalapay".into(),
        kind: PaymentKind::Single,
        amount: cmd.amount,
        metadata: BTreeMap::new(),
        request_hash: "h".into(),
        now: now_ms(),
        lock_ms: 60_000,
    });
    p.provider_payment_id = token.map(str::to_owned);
    p
}

fn eur(minor: i64) -> Money {
    Money::from_minor(minor, Currency::EUR).unwrap()
}

/// Pays and lets the buyer authorise on Scalapay's page; returns the stored payment.
async fn authorised(
    mock: &ScalapayMock,
    scalapay: &Arc<dyn Provider>,
    cmd: &PayCommand,
) -> Payment {
    let token = scalapay
        .pay(cmd)
        .await
        .unwrap()
        .provider_payment_id
        .unwrap();
    mock.authorize_order(&token).unwrap();
    payment(cmd, Some(&token))
}

/// Authorised and captured (through a status read, as the buyer's return triggers it).
async fn charged(mock: &ScalapayMock, scalapay: &Arc<dyn Provider>, cmd: &PayCommand) -> Payment {
    let p = authorised(mock, scalapay, cmd).await;
    assert_eq!(
        scalapay.status(&p).await.unwrap().state,
        PaymentState::Captured
    );
    p
}

fn webhook(body: &str, timestamp: &str, signature: &str) -> CallbackRequest {
    let mut headers = http::HeaderMap::new();
    headers.insert("x-scalapay-hmac-v1", signature.parse().unwrap());
    headers.insert("x-scalapay-timestamp", timestamp.parse().unwrap());
    headers.insert("content-type", "application/json".parse().unwrap());
    CallbackRequest {
        method: http::Method::POST,
        query: String::new(),
        headers,
        body: bytes::Bytes::from(body.to_owned()),
    }
}

fn signed(body: &str) -> CallbackRequest {
    let ts = now_ms().to_string();
    webhook(body, &ts, &hmac_v1(SANDBOX_API_KEY, &ts, body))
}

fn verified(outcome: CallbackOutcome) -> Option<StatusOutcome> {
    match outcome {
        CallbackOutcome::Payment { verified, .. } => verified,
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// pay

#[tokio::test]
async fn pay_creates_the_documented_order_and_redirects_to_checkout() {
    let (mock, scalapay) = setup().await;
    let cmd = pay_cmd();
    let outcome = scalapay.pay(&cmd).await.unwrap();
    let token = outcome.provider_payment_id.clone().unwrap();
    assert_eq!(outcome.state, PaymentState::Pending);
    assert_eq!(
        outcome.redirect_url,
        Some(format!("{}/checkout/{token}", mock.url()))
    );

    let sent = &mock.requests()[0];
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("POST", "/v2/orders")
    );
    assert_eq!(sent.content_type.as_deref(), Some("application/json"));
    assert_eq!(sent.idempotency_key, Some(cmd.idempotency_key()));
    let body = sent.json();
    assert_eq!(
        body["totalAmount"],
        json!({"amount": "5.00", "currency": "EUR"})
    );
    assert_eq!(body["consumer"]["givenNames"], "Ada");
    assert_eq!(body["consumer"]["email"], "ada@example.com");
    assert_eq!(body["shipping"]["countryCode"], "IT");
    assert_eq!(
        body["items"][0]["price"],
        json!({"amount": "5.00", "currency": "EUR"})
    );
    assert_eq!(
        body["merchant"]["redirectConfirmUrl"],
        "https://shop.example/thanks"
    );
    assert_eq!(
        body["merchant"]["redirectCancelUrl"],
        "https://shop.example/sorry"
    );
    assert_eq!(body["merchantReference"], "order-1");
    assert_eq!(mock.order_json(&token).unwrap()["status"], "created");
}

#[tokio::test]
async fn pay_prefers_the_requests_redirects_and_sends_products_as_items() {
    let (mock, scalapay) = setup().await;
    let cmd = pay_cmd_with(
        "order-2",
        r#","successRedirect":"https://shop.example/ok","failureRedirect":"https://shop.example/ko",
        "products":[{"name":"Tea","amount":"1.50","quantity":2,"sku":"T-1"},{"name":"Cup","amount":"2.00"}]"#,
    );
    scalapay.pay(&cmd).await.unwrap();
    let body = mock.requests()[0].json();
    assert_eq!(
        body["merchant"]["redirectConfirmUrl"],
        "https://shop.example/ok"
    );
    assert_eq!(
        body["items"][0],
        json!({
            "name": "Tea", "category": "general", "sku": "T-1", "quantity": 2,
            "price": {"amount": "1.50", "currency": "EUR"}
        })
    );
    assert_eq!(body["items"][1]["price"]["amount"], "2.00");
}

#[tokio::test]
async fn pay_without_what_scalapay_needs_is_refused_before_reaching_it() {
    let (mock, scalapay) = setup().await;
    let bare: PayCommand =
        serde_json::from_str::<PayRequest>(r#"{"amount":"5.00","shopTransactionID":"b1"}"#)
            .unwrap()
            .validate("scalapay", false)
            .unwrap();
    assert!(matches!(
        scalapay.pay(&bare).await,
        Err(ProviderError::InvalidRequest { field, .. }) if field == "providerData.shipping"
    ));
    // Without the environment's defaults, the redirects are needed.
    let mut env = env_for(&mock);
    env.set("SCALAPAY_SUCCESS_REDIRECT_URL", "");
    let no_default = Scalapay::new(
        ScalapayConfig::from_env(&env).unwrap(),
        reqwest::Client::new(),
    );
    assert!(matches!(
        no_default.pay(&pay_cmd()).await,
        Err(ProviderError::InvalidRequest { field, .. }) if field == "successRedirect"
    ));
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn a_scalapay_validation_error_is_a_rejection_naming_the_field() {
    let (mock, scalapay) = setup().await;
    // Items as PGM v3's documentation shows them, with a numeric price: Scalapay wants strings.
    let mut cmd = pay_cmd_with("order-3", "");
    cmd.provider_data.insert(
        "items".into(),
        json!([{"name": "Tea", "category": "food", "sku": "T", "quantity": 1,
                "price": {"amount": 5, "currency": "EUR"}}]),
    );
    match scalapay.pay(&cmd).await {
        Err(ProviderError::Rejected { code, message }) => {
            assert_eq!(code.as_deref(), Some("api_validationerror"));
            assert!(message.contains("items.0.price.amount"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(mock.orders_created(), 0);
}

#[tokio::test]
async fn a_wrong_key_is_rejected_without_echoing_it() {
    let mock = ScalapayMock::start_with_key("the-right-key").await;
    let scalapay = adapter(&mock);
    match scalapay.pay(&pay_cmd()).await {
        Err(e @ ProviderError::Rejected { .. }) => {
            let text = format!("{e} {e:?}");
            assert!(text.contains("SCALAPAY_API_KEY"), "{text}");
            assert!(!text.contains(SANDBOX_API_KEY), "{text}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(mock.orders_created(), 0);
}

#[tokio::test]
async fn the_mock_refuses_wrong_amount_formats_and_keys_like_scalapay() {
    let mock = ScalapayMock::start().await;
    let http = reqwest::Client::new();
    let url = format!("{}/v2/orders", mock.url());
    let order = |amount: serde_json::Value| {
        json!({
            "totalAmount": {"amount": amount, "currency": "EUR"},
            "consumer": {"givenNames": "Ada", "surname": "Lovelace", "email": "ada@example.com",
                         "phoneNumber": "+393331234567"},
            "shipping": {"name": "A", "countryCode": "IT", "postcode": "1", "suburb": "Milano",
                         "line1": "x", "phoneNumber": "+393331234567"},
            "items": [{"name": "t", "category": "c", "sku": "s", "quantity": 1,
                       "price": {"amount": "5.00", "currency": "EUR"}}],
            "merchant": {"redirectConfirmUrl": "https://a", "redirectCancelUrl": "https://b"},
        })
    };
    for bad in [
        json!(5.0),
        json!("5,00"),
        json!("5.001"),
        json!("-5.00"),
        json!(""),
    ] {
        let response = http
            .post(&url)
            .bearer_auth(SANDBOX_API_KEY)
            .json(&order(bad.clone()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{bad}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["errorCode"], "api_validationerror", "{bad}");
    }
    let ok = http
        .post(&url)
        .bearer_auth(SANDBOX_API_KEY)
        .json(&order(json!("5.00")))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let unauthorised = http
        .post(&url)
        .bearer_auth("nope")
        .json(&order(json!("5.00")))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorised.status(), 401);
    assert_eq!(unauthorised.text().await.unwrap(), "\"Unauthorized\"");
    assert_eq!(mock.orders_created(), 1);
}

#[tokio::test]
async fn a_retried_pay_is_the_same_order() {
    let (mock, scalapay) = setup().await;
    let cmd = pay_cmd();
    let first = scalapay.pay(&cmd).await.unwrap();
    let again = scalapay.pay(&cmd).await.unwrap();
    assert_eq!(first.provider_payment_id, again.provider_payment_id);
    assert_eq!(mock.orders_created(), 1);
}

// ---------------------------------------------------------------------------------------------
// status, and the capture it makes

#[tokio::test]
async fn status_captures_an_authorised_order_once() {
    let (mock, scalapay) = setup().await;
    let cmd = pay_cmd();
    let p = authorised(&mock, &scalapay, &cmd).await;
    let token = p.provider_payment_id.clone().unwrap();
    assert_eq!(mock.captures(), 0);

    let status = scalapay.status(&p).await.unwrap();
    assert_eq!(status.state, PaymentState::Captured);
    assert_eq!(status.provider_payment_id.as_deref(), Some(token.as_str()));
    assert_eq!(mock.captures(), 1);
    assert_eq!(mock.captured_minor(&token), 500);
    let capture = mock
        .requests()
        .into_iter()
        .find(|r| r.path == "/v2/payments/capture")
        .unwrap();
    assert_eq!(capture.json()["token"], token.as_str());
    assert_eq!(capture.json()["merchantReference"], "order-1");
    assert_eq!(
        capture.idempotency_key,
        Some(format!("pgm-capture-{token}"))
    );

    // Asked again: charged, and not captured a second time.
    assert_eq!(
        scalapay.status(&p).await.unwrap().state,
        PaymentState::Captured
    );
    assert_eq!(mock.captures(), 1);
}

#[tokio::test]
async fn status_maps_every_documented_order_status() {
    let (mock, scalapay) = setup().await;
    let cases = [
        ("created", PaymentState::Pending),
        ("pending", PaymentState::Pending),
        ("expired", PaymentState::Failed),
        // Charged first, then refunded: never a failed payment.
        ("refunded", PaymentState::Captured),
        ("a_status_scalapay_adds_later", PaymentState::Pending),
    ];
    for (i, (status, expected)) in cases.into_iter().enumerate() {
        let cmd = pay_cmd_with(&format!("s-{i}"), "");
        let token = scalapay
            .pay(&cmd)
            .await
            .unwrap()
            .provider_payment_id
            .unwrap();
        mock.force_status(&token, status).unwrap();
        assert_eq!(
            scalapay
                .status(&payment(&cmd, Some(&token)))
                .await
                .unwrap()
                .state,
            expected,
            "{status}"
        );
    }
    // `authorized` and `approved` mean the buyer said yes: captured by the status call.
    for (i, status) in ["authorized", "approved"].into_iter().enumerate() {
        let cmd = pay_cmd_with(&format!("a-{i}"), "");
        let token = scalapay
            .pay(&cmd)
            .await
            .unwrap()
            .provider_payment_id
            .unwrap();
        mock.force_status(&token, status).unwrap();
        assert_eq!(
            scalapay
                .status(&payment(&cmd, Some(&token)))
                .await
                .unwrap()
                .state,
            PaymentState::Captured
        );
    }
    assert_eq!(mock.captures(), 2);
    // A refused buyer: expired, with Scalapay's reason.
    let cmd = pay_cmd_with("declined", "");
    let token = scalapay
        .pay(&cmd)
        .await
        .unwrap()
        .provider_payment_id
        .unwrap();
    mock.decline_order(&token).unwrap();
    let status = scalapay.status(&payment(&cmd, Some(&token))).await.unwrap();
    assert_eq!(status.state, PaymentState::Failed);
    assert!(
        status.description.contains("DECLINED_FRAUD"),
        "{}",
        status.description
    );
}

#[tokio::test]
async fn a_capture_refused_because_the_authorisation_lapsed_reads_the_order() {
    let (mock, scalapay) = setup().await;
    let p = authorised(&mock, &scalapay, &pay_cmd()).await;
    let token = p.provider_payment_id.clone().unwrap();
    // The read goes through and finds the order authorised; the capture is held back while the
    // authorisation lapses, so Scalapay refuses it.
    mock.server.faults.push(Fault::Delay(Duration::ZERO));
    mock.server
        .faults
        .push(Fault::Delay(Duration::from_millis(400)));
    let lapse = async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        mock.expire_order(&token).unwrap();
    };
    let (status, ()) = tokio::join!(scalapay.status(&p), lapse);
    let status = status.unwrap();
    assert_eq!(status.state, PaymentState::Failed);
    assert_eq!(mock.captures(), 0);
    // One capture attempt, then a fresh read of the order: no second capture.
    let paths: Vec<String> = mock.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths
            .iter()
            .filter(|p| p.as_str() == "/v2/payments/capture")
            .count(),
        1,
        "{paths:?}"
    );
    assert_eq!(
        paths.last().map(String::as_str),
        Some(format!("/v2/payments/{token}").as_str())
    );
}

#[tokio::test]
async fn status_without_a_token_finds_the_order_by_our_reference() {
    let (mock, scalapay) = setup().await;
    let cmd = pay_cmd();
    let token = scalapay
        .pay(&cmd)
        .await
        .unwrap()
        .provider_payment_id
        .unwrap();
    mock.authorize_order(&token).unwrap();
    // The pay's answer was lost: the PGM knows no token.
    let status = scalapay.status(&payment(&cmd, None)).await.unwrap();
    assert_eq!(status.state, PaymentState::Captured);
    assert_eq!(status.provider_payment_id, Some(token));
    let lookup = mock
        .requests()
        .into_iter()
        .find(|r| r.path == "/v2/payments/references")
        .unwrap();
    assert_eq!(lookup.query, "merchantOrderReference=order-1");
    // Nothing under another reference.
    let other = pay_cmd_with("never-paid", "");
    assert_eq!(
        scalapay.status(&payment(&other, None)).await,
        Err(ProviderError::NotFound)
    );
}

#[tokio::test]
async fn status_of_an_unknown_token_is_not_found() {
    let (_mock, scalapay) = setup().await;
    let cmd = pay_cmd();
    assert_eq!(
        scalapay.status(&payment(&cmd, Some("NOSUCHTOKEN"))).await,
        Err(ProviderError::NotFound)
    );
    assert_eq!(
        scalapay.status(&payment(&cmd, Some("../capture"))).await,
        Err(ProviderError::NotFound)
    );
}

// ---------------------------------------------------------------------------------------------
// callback

#[tokio::test]
async fn a_signed_authorized_webhook_captures_and_is_verified() {
    let (mock, scalapay) = setup().await;
    let p = authorised(&mock, &scalapay, &pay_cmd()).await;
    let token = p.provider_payment_id.clone().unwrap();
    let body = mock.webhook_body(&token).unwrap();
    match scalapay.callback(&signed(&body)).await.unwrap() {
        CallbackOutcome::Payment {
            subject,
            verified,
            ack,
        } => {
            assert_eq!(subject, CallbackSubject::ProviderPaymentId(token.clone()));
            assert_eq!(verified.unwrap().state, PaymentState::Captured);
            assert_eq!(ack.status, 200);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(mock.captures(), 1);
    // Scalapay redelivers the same webhook: still captured once.
    assert_eq!(
        verified(scalapay.callback(&signed(&body)).await.unwrap())
            .unwrap()
            .state,
        PaymentState::Captured
    );
    assert_eq!(mock.captures(), 1);
}

#[tokio::test]
async fn signed_webhooks_map_charged_expired_and_unknown_statuses() {
    let (mock, scalapay) = setup().await;
    let p = charged(&mock, &scalapay, &pay_cmd()).await;
    let token = p.provider_payment_id.unwrap();
    let body = mock.webhook_body(&token).unwrap();
    assert!(body.contains("\"charged\""));
    assert_eq!(
        verified(scalapay.callback(&signed(&body)).await.unwrap())
            .unwrap()
            .state,
        PaymentState::Captured
    );

    let cmd = pay_cmd_with("exp", "");
    let token = scalapay
        .pay(&cmd)
        .await
        .unwrap()
        .provider_payment_id
        .unwrap();
    mock.expire_order(&token).unwrap();
    let body = mock.webhook_body(&token).unwrap();
    assert_eq!(
        verified(scalapay.callback(&signed(&body)).await.unwrap())
            .unwrap()
            .state,
        PaymentState::Failed
    );

    mock.force_status(&token, "a_new_status").unwrap();
    let body = mock.webhook_body(&token).unwrap();
    // Genuine but unknown: a trigger for the PGM to ask, not a verified state.
    assert_eq!(
        verified(scalapay.callback(&signed(&body)).await.unwrap()),
        None
    );
}

#[tokio::test]
async fn forged_tampered_or_unsigned_webhooks_are_refused() {
    let (mock, scalapay) = setup().await;
    let p = authorised(&mock, &scalapay, &pay_cmd()).await;
    let body = mock
        .webhook_body(p.provider_payment_id.as_deref().unwrap())
        .unwrap();
    let ts = now_ms().to_string();
    let forged = webhook(&body, &ts, &hmac_v1("someone-elses-key", &ts, &body));
    let tampered = webhook(
        &body.replace("authorized", "charged"),
        &ts,
        &hmac_v1(SANDBOX_API_KEY, &ts, &body),
    );
    let other_time = webhook(
        &body,
        "1700000000000",
        &hmac_v1(SANDBOX_API_KEY, &ts, &body),
    );
    let mut unsigned = signed(&body);
    unsigned.headers.remove("x-scalapay-hmac-v1");
    let mut no_time = signed(&body);
    no_time.headers.remove("x-scalapay-timestamp");
    for (name, req) in [
        ("forged", forged),
        ("tampered", tampered),
        ("other timestamp", other_time),
        ("unsigned", unsigned),
        ("no timestamp", no_time),
    ] {
        assert!(
            matches!(
                scalapay.callback(&req).await,
                Err(ProviderError::InvalidSignature(_))
            ),
            "{name}"
        );
    }
    // Nothing was captured on the strength of a forged message.
    assert_eq!(mock.captures(), 0);
}

#[tokio::test]
async fn an_old_but_genuine_webhook_is_accepted() {
    // Scalapay documents no freshness window and redelivers with growing delays.
    let (mock, scalapay) = setup().await;
    let p = charged(&mock, &scalapay, &pay_cmd()).await;
    let body = mock
        .webhook_body(p.provider_payment_id.as_deref().unwrap())
        .unwrap();
    let old = (now_ms() - 3 * 24 * 3600 * 1000).to_string();
    let req = webhook(&body, &old, &hmac_v1(SANDBOX_API_KEY, &old, &body));
    assert_eq!(
        verified(scalapay.callback(&req).await.unwrap())
            .unwrap()
            .state,
        PaymentState::Captured
    );
    // Signed but unreadable content.
    assert!(matches!(
        scalapay.callback(&signed("{\"x\":1}")).await,
        Err(ProviderError::InvalidCallback(_))
    ));
}

// ---------------------------------------------------------------------------------------------
// refunds

#[tokio::test]
async fn a_full_refund_uses_the_documented_endpoint_and_references() {
    let (mock, scalapay) = setup().await;
    let p = charged(&mock, &scalapay, &pay_cmd()).await;
    let token = p.provider_payment_id.clone().unwrap();
    let outcome = scalapay.refund(&p, eur(500), "rf-1").await.unwrap();
    assert!(outcome.succeeded());
    assert!(outcome.provider_refund_id.is_some());
    let sent = mock.requests().into_iter().last().unwrap();
    assert_eq!(sent.path, format!("/v2/payments/{token}/refund"));
    assert_eq!(sent.idempotency_key.as_deref(), Some("rf-1"));
    assert_eq!(
        sent.json(),
        json!({
            "refundAmount": {"amount": "5.00", "currency": "EUR"},
            "merchantRefundReference": "rf-1",
        })
    );
    assert_eq!(
        mock.refunds(&token)
            .iter()
            .map(|r| r.amount_minor)
            .sum::<i64>(),
        500
    );
    assert_eq!(mock.order_json(&token).unwrap()["status"], "refunded");
}

#[tokio::test]
async fn several_partial_refunds_then_the_over_refund_is_refused() {
    let (mock, scalapay) = setup().await;
    let p = charged(&mock, &scalapay, &pay_cmd()).await;
    let token = p.provider_payment_id.clone().unwrap();
    assert!(scalapay
        .refund(&p, eur(150), "rf-1")
        .await
        .unwrap()
        .succeeded());
    assert!(scalapay
        .refund(&p, eur(250), "rf-2")
        .await
        .unwrap()
        .succeeded());
    assert!(matches!(
        scalapay.refund(&p, eur(101), "rf-3").await,
        Err(ProviderError::Rejected { code: Some(code), .. }) if code == "pre_condition_failed"
    ));
    assert!(scalapay
        .refund(&p, eur(100), "rf-4")
        .await
        .unwrap()
        .succeeded());
    let refunds = mock.refunds(&token);
    assert_eq!(
        refunds.iter().map(|r| r.amount_minor).collect::<Vec<_>>(),
        vec![150, 250, 100]
    );
    assert_eq!(
        refunds
            .iter()
            .map(|r| r.merchant_refund_reference.clone().unwrap())
            .collect::<Vec<_>>(),
        vec!["rf-1", "rf-2", "rf-4"]
    );
}

#[tokio::test]
async fn refunding_an_uncaptured_order_is_refused() {
    let (mock, scalapay) = setup().await;
    let cmd = pay_cmd();
    let token = scalapay
        .pay(&cmd)
        .await
        .unwrap()
        .provider_payment_id
        .unwrap();
    assert!(matches!(
        scalapay
            .refund(&payment(&cmd, Some(&token)), eur(500), "rf-1")
            .await,
        Err(ProviderError::Rejected { .. })
    ));
    assert!(mock.refunds(&token).is_empty());
}

#[tokio::test]
async fn a_retried_refund_is_one_refund() {
    let (mock, scalapay) = setup().await;
    let p = charged(&mock, &scalapay, &pay_cmd()).await;
    let token = p.provider_payment_id.clone().unwrap();
    mock.server.faults.push(Fault::ErrorAfterWork);
    assert!(matches!(
        scalapay.refund(&p, eur(200), "rf-1").await,
        Err(ProviderError::Unavailable(_))
    ));
    assert!(scalapay
        .refund(&p, eur(200), "rf-1")
        .await
        .unwrap()
        .succeeded());
    assert_eq!(mock.refunds(&token).len(), 1);
}

// ---------------------------------------------------------------------------------------------
// failures

#[tokio::test]
async fn a_500_after_the_work_is_unavailable_and_the_retry_is_the_same_order() {
    let (mock, scalapay) = setup().await;
    let cmd = pay_cmd();
    mock.server.faults.push(Fault::ErrorAfterWork);
    assert!(matches!(
        scalapay.pay(&cmd).await,
        Err(ProviderError::Unavailable(_))
    ));
    assert_eq!(mock.orders_created(), 1);
    scalapay.pay(&cmd).await.unwrap();
    assert_eq!(mock.orders_created(), 1);
}

#[tokio::test]
async fn resets_and_timeouts_are_unavailable() {
    let (mock, scalapay) = setup().await;
    let cmd = pay_cmd();
    for fault in [
        Fault::Reset,
        Fault::ResetAfterWork,
        Fault::Delay(Duration::from_millis(1500)),
    ] {
        mock.server.faults.push(fault);
        assert!(
            matches!(scalapay.pay(&cmd).await, Err(ProviderError::Unavailable(_))),
            "{fault:?}"
        );
    }
    assert!(mock.orders_created() <= 1);
}

#[tokio::test]
async fn a_lost_capture_answer_is_unavailable_and_the_next_status_captures_once() {
    let (mock, scalapay) = setup().await;
    let p = authorised(&mock, &scalapay, &pay_cmd()).await;
    // The read goes through (zero delay); the capture happens and its answer is lost.
    mock.server.faults.push(Fault::Delay(Duration::ZERO));
    mock.server.faults.push(Fault::ErrorAfterWork);
    assert!(matches!(
        scalapay.status(&p).await,
        Err(ProviderError::Unavailable(_))
    ));
    assert_eq!(mock.captures(), 1);
    assert_eq!(
        scalapay.status(&p).await.unwrap().state,
        PaymentState::Captured
    );
    assert_eq!(mock.captures(), 1);
    // Same when the capture times out before anything happens: unknown, then settled.
    let p2 = authorised(&mock, &scalapay, &pay_cmd_with("order-2", "")).await;
    mock.server.faults.push(Fault::Delay(Duration::ZERO));
    mock.server.faults.push(Fault::Unavailable);
    assert!(matches!(
        scalapay.status(&p2).await,
        Err(ProviderError::Unavailable(_))
    ));
    assert_eq!(mock.captures(), 1);
    assert_eq!(
        scalapay.status(&p2).await.unwrap().state,
        PaymentState::Captured
    );
    assert_eq!(mock.captures(), 2);
}

// ---------------------------------------------------------------------------------------------
// configuration

#[tokio::test]
async fn debug_output_never_shows_the_key() {
    let _ = setup().await;
    let config =
        ScalapayConfig::from_env(&Env::from_pairs([("SCALAPAY_API_KEY", SANDBOX_API_KEY)]))
            .unwrap();
    for text in [
        format!(
            "{:?}",
            Scalapay::new(config.clone(), reqwest::Client::new())
        ),
        format!("{config:?}"),
        format!("{config:#?}"),
    ] {
        assert!(!text.contains(SANDBOX_API_KEY), "{text}");
        assert!(text.contains("REDACTED"), "{text}");
    }
}

#[test]
fn variables_are_read_and_named_when_wrong() {
    let config = ScalapayConfig::from_env(&Env::from_pairs([("SCALAPAY_API_KEY", "k")])).unwrap();
    assert_eq!(config.api.base_url, DEFAULT_BASE_URL);
    assert_eq!(config.success_redirect, None);
    let v2 = Env::from_pairs([
        ("SCALAPAY_API_KEY", "k"),
        (
            "SCALAPAY_BASE_PATH",
            "https://integration.api.scalapay.com/",
        ),
    ]);
    assert_eq!(
        ScalapayConfig::from_env(&v2).unwrap().api.base_url,
        "https://integration.api.scalapay.com"
    );
    let both = Env::from_pairs([
        ("SCALAPAY_API_KEY", "k"),
        ("SCALAPAY_BASE_PATH", "https://integration.api.scalapay.com"),
        ("SCALAPAY_BASE_URL", "http://127.0.0.1:9"),
    ]);
    assert_eq!(
        ScalapayConfig::from_env(&both).unwrap().api.base_url,
        "http://127.0.0.1:9"
    );
    assert_eq!(
        ScalapayConfig::from_env(&Env::default()).unwrap_err().var,
        "SCALAPAY_API_KEY"
    );
    for var in [
        "SCALAPAY_BASE_URL",
        "SCALAPAY_BASE_PATH",
        "SCALAPAY_SUCCESS_REDIRECT_URL",
        "SCALAPAY_FAILURE_REDIRECT_URL",
    ] {
        let env = Env::from_pairs([("SCALAPAY_API_KEY", "k"), (var, "not a url")]);
        assert_eq!(ScalapayConfig::from_env(&env).unwrap_err().var, var);
    }
}

#[test]
fn the_registry_builds_scalapay_from_its_variables() {
    let deps = ProviderDeps {
        http: reqwest::Client::new(),
        public_url: "https://pgm.example".into(),
        sandbox_ledger: None,
    };
    let env = Env::from_pairs([("ENABLED_PROVIDERS", "scalapay"), ("SCALAPAY_API_KEY", "k")]);
    let registry = Registry::from_env(&env, &deps).unwrap();
    assert_eq!(registry.get("scalapay").unwrap().methods(), &["scalapay"]);
    let missing = Env::from_pairs([("ENABLED_PROVIDERS", "scalapay")]);
    assert_eq!(
        Registry::from_env(&missing, &deps).err().unwrap().var,
        "SCALAPAY_API_KEY"
    );
}

// ---------------------------------------------------------------------------------------------
// What Scalapay's OpenAPI requires of an order and allows in a refund

/// An order with exactly what Scalapay's OpenAPI (`POST /v2/orders`) marks required, values from
/// its examples: written from Scalapay's schema, not from the adapter.
fn documented_minimal_order() -> serde_json::Value {
    json!({
        "totalAmount": {"amount": "190.00", "currency": "EUR"},
        "consumer": {"givenNames": "Joe", "surname": "Consumer", "email": "test@scalapay.com",
                     "phoneNumber": "0400000001"},
        "shipping": {"name": "Joe Consumer", "countryCode": "IT", "postcode": "50056",
                     "suburb": "Montelupo Fiorentino", "line1": "Via della Rosa, 58",
                     "phoneNumber": "0400000000"},
        "items": [{"name": "T-Shirt", "category": "clothes", "sku": "12341234", "quantity": 1,
                   "price": {"amount": "190.00", "currency": "EUR"}}],
        "merchant": {"redirectConfirmUrl": "https://portal.integration.scalapay.com/success-url",
                     "redirectCancelUrl": "https://portal.integration.scalapay.com/failure-url"},
    })
}

/// Every path Scalapay's OpenAPI marks required in the create-order body.
const ORDER_REQUIRED: &[&[&str]] = &[
    &["totalAmount"],
    &["totalAmount", "amount"],
    &["totalAmount", "currency"],
    &["consumer"],
    &["consumer", "givenNames"],
    &["consumer", "surname"],
    &["consumer", "email"],
    &["consumer", "phoneNumber"],
    &["shipping"],
    &["shipping", "name"],
    &["shipping", "countryCode"],
    &["shipping", "postcode"],
    &["shipping", "suburb"],
    &["shipping", "line1"],
    &["shipping", "phoneNumber"],
    &["items"],
    &["items", "0", "name"],
    &["items", "0", "category"],
    &["items", "0", "sku"],
    &["items", "0", "quantity"],
    &["items", "0", "price"],
    &["items", "0", "price", "amount"],
    &["items", "0", "price", "currency"],
    &["merchant"],
    &["merchant", "redirectConfirmUrl"],
    &["merchant", "redirectCancelUrl"],
];

/// Removes the value at `path` (object keys, or array indexes as digits).
fn remove_at(value: &mut serde_json::Value, path: &[&str]) {
    let (last, parents) = path.split_last().unwrap();
    let mut at = value;
    for step in parents {
        at = match step.parse::<usize>() {
            Ok(i) => &mut at[i],
            Err(_) => &mut at[*step],
        };
    }
    at.as_object_mut().unwrap().remove(*last).unwrap();
}

/// Asserts Scalapay's documented validation error: `{"errorCode":"api_validationerror",
/// "errorId","message":{"errors":[{"field":[path],"location":"body","messages","types"}]},
/// "httpStatusCode":400}`.
async fn assert_validation_error(response: reqwest::Response, path: &[&str], kind: &str) {
    assert_eq!(response.status(), 400, "{path:?}");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["errorCode"], "api_validationerror", "{body}");
    assert!(
        body["errorId"]
            .as_str()
            .is_some_and(|id| id.starts_with("error-")),
        "{body}"
    );
    assert_eq!(body["httpStatusCode"], 400, "{body}");
    let error = &body["message"]["errors"][0];
    assert_eq!(error["field"], json!(path), "{body}");
    assert_eq!(error["location"], "body", "{body}");
    assert!(
        error["messages"]
            .as_array()
            .is_some_and(|m| !m.is_empty() && m.iter().all(|m| m.is_string())),
        "{body}"
    );
    assert_eq!(error["types"], json!([kind]), "{body}");
}

#[tokio::test]
async fn the_mock_refuses_an_order_lacking_any_field_scalapay_requires() {
    let mock = ScalapayMock::start().await;
    let http = reqwest::Client::new();
    let url = format!("{}/v2/orders", mock.url());
    for path in ORDER_REQUIRED {
        let mut order = documented_minimal_order();
        remove_at(&mut order, path);
        let response = http
            .post(&url)
            .bearer_auth(SANDBOX_API_KEY)
            .json(&order)
            .send()
            .await
            .unwrap();
        assert_validation_error(response, path, "any.required").await;
    }
    assert_eq!(mock.orders_created(), 0);
    let complete = http
        .post(&url)
        .bearer_auth(SANDBOX_API_KEY)
        .json(&documented_minimal_order())
        .send()
        .await
        .unwrap();
    assert_eq!(complete.status(), 200);
    assert_eq!(mock.orders_created(), 1);
}

/// A v2 pay body with everything Scalapay needs: names and email from `buyerName` and
/// `buyerEmail`, phone numbers and address in `providerData`, the items given as Scalapay wants them.
fn complete_pay_body(id: &str) -> serde_json::Value {
    json!({
        "amount": "5.00",
        "shopTransactionID": id,
        "buyerName": "Ada Maria Lovelace",
        "buyerEmail": "ada@example.com",
        "providerData": {
            "consumer": {"phoneNumber": "+393331234567"},
            "shipping": {"name": "Ada Lovelace", "countryCode": "IT", "postcode": "20100",
                         "suburb": "Milano", "line1": "Via Roma 1", "phoneNumber": "+390200000000"},
            "items": [{"name": "Tea", "category": "food", "sku": "T-1", "quantity": 1,
                       "price": {"amount": "5.00", "currency": "EUR"}}],
        },
    })
}

fn pay_cmd_from(body: serde_json::Value) -> PayCommand {
    serde_json::from_value::<PayRequest>(body)
        .unwrap()
        .validate("scalapay", false)
        .unwrap()
}

#[tokio::test]
async fn pay_carries_every_required_field_and_names_a_missing_one_before_asking_scalapay() {
    let (mock, scalapay) = setup().await;
    scalapay
        .pay(&pay_cmd_from(complete_pay_body("full")))
        .await
        .unwrap();
    let sent = mock.requests()[0].json();
    assert_eq!(
        sent["consumer"],
        json!({"givenNames": "Ada Maria", "surname": "Lovelace", "email": "ada@example.com",
               "phoneNumber": "+393331234567"})
    );
    assert_eq!(sent["shipping"]["suburb"], "Milano");
    assert_eq!(sent["shipping"]["phoneNumber"], "+390200000000");
    assert_eq!(mock.orders_created(), 1);

    // The merchant's own consumer email wins over buyerEmail.
    let mut own_email = complete_pay_body("own-email");
    own_email["providerData"]["consumer"]["email"] = json!("billing@example.com");
    scalapay.pay(&pay_cmd_from(own_email)).await.unwrap();
    assert_eq!(
        mock.requests()[1].json()["consumer"]["email"],
        "billing@example.com"
    );
    assert_eq!(mock.orders_created(), 2);

    let missing = |change: &dyn Fn(&mut serde_json::Value)| {
        let mut body = complete_pay_body("missing");
        change(&mut body);
        pay_cmd_from(body)
    };
    let data = |body: &mut serde_json::Value, path: &[&str]| {
        let mut full = vec!["providerData"];
        full.extend_from_slice(path);
        remove_at(body, &full);
    };
    let mut cases: Vec<(PayCommand, String)> = Vec::new();
    cases.push((
        missing(&|b| data(b, &["consumer", "phoneNumber"])),
        "providerData.consumer.phoneNumber".into(),
    ));
    cases.push((
        missing(&|b| b["providerData"]["consumer"]["phoneNumber"] = json!("  ")),
        "providerData.consumer.phoneNumber".into(),
    ));
    cases.push((
        missing(&|b| b["providerData"]["consumer"]["phoneNumber"] = json!(393331234567u64)),
        "providerData.consumer.phoneNumber".into(),
    ));
    cases.push((
        missing(&|b| remove_at(b, &["buyerEmail"])),
        "providerData.consumer.email".into(),
    ));
    cases.push((
        missing(&|b| {
            remove_at(b, &["buyerName"]);
            b["providerData"]["consumer"]["surname"] = json!("Lovelace");
        }),
        "providerData.consumer.givenNames".into(),
    ));
    cases.push((
        missing(&|b| {
            remove_at(b, &["buyerName"]);
            b["providerData"]["consumer"]["givenNames"] = json!("Ada");
        }),
        "providerData.consumer.surname".into(),
    ));
    for field in [
        "name",
        "countryCode",
        "postcode",
        "suburb",
        "line1",
        "phoneNumber",
    ] {
        cases.push((
            missing(&|b| data(b, &["shipping", field])),
            format!("providerData.shipping.{field}"),
        ));
    }
    for path in [
        &["name"][..],
        &["category"],
        &["sku"],
        &["quantity"],
        &["price"],
        &["price", "amount"],
        &["price", "currency"],
    ] {
        let mut full = vec!["items", "0"];
        full.extend_from_slice(path);
        cases.push((
            missing(&|b| data(b, &full)),
            format!("providerData.items[0].{}", path.join(".")),
        ));
    }
    for (cmd, expected) in cases {
        match scalapay.pay(&cmd).await {
            Err(ProviderError::InvalidRequest { field, .. }) => assert_eq!(field, expected),
            other => panic!("{expected}: {other:?}"),
        }
    }
    assert_eq!(mock.requests().len(), 2, "Scalapay was asked only twice");
    assert_eq!(mock.orders_created(), 2);
}

#[tokio::test]
async fn a_refund_sends_only_the_documented_fields_and_scalapay_refuses_others() {
    let (mock, scalapay) = setup().await;
    let p = charged(&mock, &scalapay, &pay_cmd_with("order-rf", "")).await;
    let token = p.provider_payment_id.clone().unwrap();
    scalapay.refund(&p, eur(200), "rf-doc").await.unwrap();
    let sent = mock.requests().into_iter().last().unwrap().json();
    let mut keys: Vec<&String> = sent.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["merchantRefundReference", "refundAmount"]);
    assert_eq!(
        sent["refundAmount"],
        json!({"amount": "2.00", "currency": "EUR"})
    );
    assert_eq!(mock.refunds(&token).len(), 1);

    // Scalapay's refund schema: refundAmount (required) and merchantRefundReference, nothing else.
    let http = reqwest::Client::new();
    let url = format!("{}/v2/payments/{token}/refund", mock.url());
    let body = || json!({"refundAmount": {"amount": "1.00", "currency": "EUR"}});
    for extra in ["merchantReference", "amount", "reason"] {
        let mut with_extra = body();
        with_extra[extra] = json!("x");
        let response = http
            .post(&url)
            .bearer_auth(SANDBOX_API_KEY)
            .json(&with_extra)
            .send()
            .await
            .unwrap();
        assert_validation_error(response, &[extra], "object.unknown").await;
    }
    let response = http
        .post(&url)
        .bearer_auth(SANDBOX_API_KEY)
        .json(&json!({"merchantRefundReference": "rf-x"}))
        .send()
        .await
        .unwrap();
    assert_validation_error(response, &["refundAmount"], "any.required").await;
    assert_eq!(mock.refunds(&token).len(), 1, "nothing more was refunded");
    let documented = http
        .post(&url)
        .bearer_auth(SANDBOX_API_KEY)
        .json(
            &json!({"refundAmount": {"amount": "1.00", "currency": "EUR"},
                      "merchantRefundReference": "rf-y"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(documented.status(), 200);
    let answer: serde_json::Value = documented.json().await.unwrap();
    assert_eq!(answer["merchantReference"], "order-rf");
    assert_eq!(answer["merchantRefundReference"], "rf-y");
    assert_eq!(mock.refunds(&token).len(), 2);
}

#[tokio::test]
async fn a_signed_refunded_webhook_is_a_refund_event_never_a_failed_payment() {
    let (mock, scalapay) = setup().await;
    let p = charged(&mock, &scalapay, &pay_cmd()).await;
    let token = p.provider_payment_id.clone().unwrap();
    scalapay.refund(&p, eur(200), "rf-1").await.unwrap();
    // Scalapay announces each refund it processed with status `refunded`.
    mock.force_status(&token, "refunded").unwrap();
    let body = mock.webhook_body(&token).unwrap();
    assert!(body.contains("\"refunded\""), "{body}");
    match scalapay.callback(&signed(&body)).await.unwrap() {
        CallbackOutcome::Refund {
            subject,
            refund_id,
            outcome,
            ack,
        } => {
            assert_eq!(subject, CallbackSubject::ProviderPaymentId(token));
            // Scalapay does not say which refund: acknowledged, never counted.
            assert_eq!(refund_id, None);
            assert!(outcome.succeeded());
            assert_eq!(ack.status, 200);
        }
        other => panic!("a refunded order is no failed payment: {other:?}"),
    }
}
