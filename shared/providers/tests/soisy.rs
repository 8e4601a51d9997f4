//! The Soisy adapter over HTTP against the Soisy mock, which checks the shop id in the path, the
//! X-Auth-Token, the form fields and their formats as Soisy documents them.

use pgm_core::payment::NewPayment;
use pgm_core::wire::{PayCommand, PayRequest};
use pgm_core::{Currency, Env, Money, Payment, PaymentKind, PaymentState};
use pgm_mocks::soisy::{SoisyMock, SANDBOX_PARTNER_KEY, SANDBOX_SHOP_ID, WEBAPP};
use pgm_mocks::{Fault, MockServer};
use pgm_providers::soisy::{Soisy, SoisyConfig, EVENTS};
use pgm_providers::{
    CallbackOutcome, CallbackRequest, CallbackSubject, Operation, Provider, ProviderError,
};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

const CALLBACK: &str = "https://pgm.example/soisy/callback";

struct Setup {
    mock: SoisyMock,
    server: MockServer,
    provider: Arc<dyn Provider>,
}

fn provider(base_url: &str, shop: &str, key: &str) -> Arc<dyn Provider> {
    let env = Env::from_pairs([
        ("SOISY_BASE_URL", base_url),
        ("SOISY_SHOP_ID", shop),
        ("SOISY_PARTNER_KEY", key),
    ]);
    let mut config = SoisyConfig::from_env(&env).expect("config");
    config.api.timeout = Duration::from_millis(500);
    Arc::new(Soisy::new(config, reqwest::Client::new(), CALLBACK.into()))
}

async fn setup_with(mock: SoisyMock) -> Setup {
    let server = MockServer::start(mock.router()).await;
    let provider = provider(&server.url, SANDBOX_SHOP_ID, SANDBOX_PARTNER_KEY);
    Setup {
        mock,
        server,
        provider,
    }
}

async fn setup() -> Setup {
    setup_with(SoisyMock::default()).await
}

fn pay_command(id: &str, amount: &str, extra: Value) -> PayCommand {
    let mut body = json!({"amount": amount, "shopTransactionID": id});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let request: PayRequest = serde_json::from_value(body).expect("pay request");
    request.validate("soisy", false).expect("valid pay request")
}

fn stored(id: &str, minor: i64, token: Option<&str>) -> Payment {
    let mut p = Payment::claimed(NewPayment {
        shop_transaction_id: id.into(),
        provider: "soisy".into(),
        method: "soisy".into(),
        kind: PaymentKind::Single,
        amount: Money::from_minor(minor, Currency::EUR).unwrap(),
        metadata: Default::default(),
        request_hash: "h".into(),
        now: pgm_core::clock::now_ms(),
        lock_ms: 60_000,
    });
    p.provider_payment_id = token.map(str::to_owned);
    p
}

fn form_post(body: &str) -> CallbackRequest {
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "content-type",
        "application/x-www-form-urlencoded".parse().unwrap(),
    );
    CallbackRequest {
        method: http::Method::POST,
        query: String::new(),
        headers,
        body: body.to_owned().into(),
    }
}

async fn pay(s: &Setup, id: &str) -> String {
    let outcome = s
        .provider
        .pay(&pay_command(id, "250.00", json!({})))
        .await
        .expect("pay");
    outcome.provider_payment_id.expect("token")
}

#[tokio::test]
async fn pay_creates_a_loan_application_and_sends_the_buyer_to_soisy() {
    let s = setup().await;
    let extra = json!({
        "buyerName": "Ada King Lovelace", "buyerEmail": "ada@example.com",
        "successRedirect": "https://shop.example/ok", "failureRedirect": "https://shop.example/ko",
        "providerData": {"instalments": 10, "fiscalCode": "LVLDAA15T50F205X", "province": "MI",
                         "postalCode": "20100", "zeroInterestRate": true},
    });
    let outcome = s
        .provider
        .pay(&pay_command("ord-1", "1250.40", extra))
        .await
        .unwrap();
    let token = outcome.provider_payment_id.clone().unwrap();
    assert_eq!(outcome.state, PaymentState::Pending);
    assert_eq!(
        outcome.redirect_url.as_deref(),
        Some(format!("{WEBAPP}/{SANDBOX_SHOP_ID}#/loan-request?token={token}").as_str())
    );
    let order = s.mock.order(&token).unwrap();
    assert_eq!(order.amount, Some(125_040), "integer euro cents");
    assert_eq!(order.instalments, Some(10));
    assert_eq!(order.order_reference.as_deref(), Some("ord-1"));
    assert_eq!(order.callback_url.as_deref(), Some(CALLBACK));
    assert_eq!(
        order.success_url.as_deref(),
        Some("https://shop.example/ok")
    );
    assert_eq!(order.error_url.as_deref(), Some("https://shop.example/ko"));
    assert_eq!(order.fields["firstname"], "Ada");
    assert_eq!(order.fields["lastname"], "King Lovelace");
    assert_eq!(order.fields["zeroInterestRate"], "true");
    let request = &s.mock.requests()[0];
    assert_eq!(
        request.path_and_query,
        format!("/api/shops/{SANDBOX_SHOP_ID}/orders")
    );
    assert_eq!(request.auth_token.as_deref(), Some(SANDBOX_PARTNER_KEY));
    assert_eq!(
        request.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
}

#[tokio::test]
async fn bad_provider_data_is_refused_before_soisy_is_asked() {
    let s = setup().await;
    for (data, field) in [
        (json!({"instalments": 2}), "providerData.instalments"),
        (json!({"instalments": "6"}), "providerData.instalments"),
        (json!({"postalCode": "201"}), "providerData.postalCode"),
        (json!({"province": "mi"}), "providerData.province"),
    ] {
        let err = s
            .provider
            .pay(&pay_command("bad", "300.00", json!({"providerData": data})))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ProviderError::InvalidRequest { field: f, .. } if f == field),
            "{err:?}"
        );
    }
    assert!(s.mock.requests().is_empty());
}

#[tokio::test]
async fn the_shops_limits_and_wrong_credentials_are_definite_refusals() {
    let s = setup_with(SoisyMock::default().with_limits(10_000, 1_500_000)).await;
    let err = s
        .provider
        .pay(&pay_command("small", "20.00", json!({})))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ProviderError::Rejected { code: Some(c), message } if c == "amount" && message.contains("between")),
        "{err:?}"
    );
    let wrong_key = provider(&s.server.url, SANDBOX_SHOP_ID, "not-the-key");
    let err = wrong_key
        .pay(&pay_command("k", "300.00", json!({})))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ProviderError::Rejected { message, .. } if message.contains("SOISY_PARTNER_KEY") && !message.contains("not-the-key")),
        "{err:?}"
    );
    let wrong_shop = provider(&s.server.url, "othershop", SANDBOX_PARTNER_KEY);
    let err = wrong_shop
        .pay(&pay_command("k", "300.00", json!({})))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ProviderError::Rejected { message, .. } if message.contains("SOISY_SHOP_ID")),
        "{err:?}"
    );
    assert!(s.mock.orders().is_empty());
}

#[tokio::test]
async fn every_event_is_a_trigger_and_the_order_decides() {
    let s = setup().await;
    let expected = [
        PaymentState::Pending,
        PaymentState::Pending,
        PaymentState::Pending,
        PaymentState::Captured,
    ];
    let token = pay(&s, "ev-1").await;
    let payment = stored("ev-1", 25_000, Some(&token));
    for ((event, _), state) in EVENTS.iter().zip(expected) {
        let cb = s.mock.event(&token, event).expect("event");
        assert_eq!(cb.url, CALLBACK);
        match s.provider.callback(&form_post(&cb.body)).await.unwrap() {
            CallbackOutcome::Payment {
                subject, verified, ..
            } => {
                assert_eq!(subject, CallbackSubject::ProviderPaymentId(token.clone()));
                assert_eq!(verified, None, "unsigned: never believed");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            s.provider.status(&payment).await.unwrap().state,
            state,
            "{event}"
        );
    }
    // Rejected, with either message Soisy documents.
    for (id, message) in [("rej-1", "documents check KO"), ("rej-2", "payment failed")] {
        let token = pay(&s, id).await;
        s.mock.event(&token, "LoanWasApproved").unwrap();
        let cb = s.mock.callback(&token, "UserWasRejected", message).unwrap();
        s.mock.force_status(&token, "cancelled");
        assert!(s.provider.callback(&form_post(&cb.body)).await.is_ok());
        let status = s.provider.status(&stored(id, 25_000, Some(&token))).await;
        assert_eq!(status.unwrap().state, PaymentState::Failed);
    }
}

#[tokio::test]
async fn a_forged_event_changes_nothing_and_bad_callbacks_are_refused() {
    let s = setup().await;
    let token = pay(&s, "forged").await;
    let forged = s
        .mock
        .callback(&token, "LoanWasDisbursed", "payment received")
        .unwrap();
    assert!(s.provider.callback(&form_post(&forged.body)).await.is_ok());
    let status = s
        .provider
        .status(&stored("forged", 25_000, Some(&token)))
        .await;
    assert_eq!(status.unwrap().state, PaymentState::Pending);
    for body in [
        "eventId=LoanWasDisbursed",
        "eventId=LoanWasDisbursed&orderToken=..%2Forders",
        "orderToken=abc",
        "",
    ] {
        assert!(
            matches!(
                s.provider.callback(&form_post(body)).await,
                Err(ProviderError::InvalidCallback(_))
            ),
            "{body}"
        );
    }
    let mut get = form_post("");
    get.method = http::Method::GET;
    assert!(s.provider.callback(&get).await.is_err());
}

#[tokio::test]
async fn a_lost_pay_answer_is_found_in_the_csv_list_by_reference() {
    let s = setup().await;
    pay(&s, "other").await;
    s.server.faults.push(Fault::ResetAfterWork);
    let lost = s
        .provider
        .pay(&pay_command("lost,\"quoted\"", "250.00", json!({})))
        .await;
    assert!(
        matches!(lost, Err(ProviderError::Unavailable(_))),
        "{lost:?}"
    );
    let status = s
        .provider
        .status(&stored("lost,\"quoted\"", 25_000, None))
        .await
        .unwrap();
    let created = s.mock.orders()[1].token.clone();
    assert_eq!(status.provider_payment_id, Some(created));
    assert_eq!(status.state, PaymentState::Pending);
    let list = s
        .mock
        .requests()
        .into_iter()
        .find(|r| r.accept.as_deref() == Some("text/csv"));
    assert!(list.unwrap().path_and_query.contains("fromCreatedAt="));
    // Never made: nothing to find.
    let none = s.provider.status(&stored("never", 25_000, None)).await;
    assert_eq!(none.unwrap_err(), ProviderError::NotFound);
}

#[tokio::test]
async fn outages_are_unknown_and_an_unknown_order_is_not_found() {
    let s = setup().await;
    for fault in [Fault::Unavailable, Fault::Delay(Duration::from_secs(2))] {
        s.server.faults.push(fault);
        let err = s
            .provider
            .pay(&pay_command("down", "250.00", json!({})))
            .await
            .unwrap_err();
        assert!(matches!(err, ProviderError::Unavailable(_)), "{err:?}");
    }
    let missing = s
        .provider
        .status(&stored("x", 100, Some("nosuchtoken")))
        .await;
    assert_eq!(missing.unwrap_err(), ProviderError::NotFound);
}

#[tokio::test]
async fn refunds_capture_and_sessions_are_not_served() {
    let s = setup().await;
    for op in [
        Operation::Refund,
        Operation::Confirm,
        Operation::PayRecurrent,
        Operation::SessionOpen,
        Operation::SessionRefund,
    ] {
        assert!(!s.provider.supports(op), "{op:?}");
    }
    for op in [
        Operation::Pay,
        Operation::Callback,
        Operation::Check,
        Operation::Status,
    ] {
        assert!(s.provider.supports(op), "{op:?}");
    }
}

#[test]
fn config_names_its_variables() {
    let err = SoisyConfig::from_env(&Env::from_pairs([("SOISY_PARTNER_KEY", "k")])).unwrap_err();
    assert!(err.to_string().contains("SOISY_SHOP_ID"), "{err}");
    let err = SoisyConfig::from_env(&Env::from_pairs([("SOISY_SHOP_ID", "s")])).unwrap_err();
    assert!(err.to_string().contains("SOISY_PARTNER_KEY"), "{err}");
    let v2 = SoisyConfig::from_env(&Env::from_pairs([
        ("SOISY_SHOP_ID", "partnershop"),
        ("SOISY_PARTNER_KEY", "partnerkey"),
        ("SOISY_BASE_URL", "https://api.sandbox.soisy.it/api/shops"),
    ]))
    .unwrap();
    assert_eq!(v2.api.base_url, "https://api.sandbox.soisy.it");
    assert_eq!(v2.webapp_url, "https://shop.sandbox.soisy.it");
    assert!(!format!("{v2:?}").contains("partnerkey"));
}
