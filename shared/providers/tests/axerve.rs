//! The Gestpay/Axerve adapter over HTTP against the Axerve mock (API key, envelope, string
//! amounts and the payment's events as the REST API v1 documents them).

use pgm_core::payment::NewPayment;
use pgm_core::wire::{PayCommand, PayRequest};
use pgm_core::{Currency, Env, Money, Payment, PaymentKind, PaymentState};
use pgm_mocks::axerve::AxerveMock;
use pgm_mocks::{Fault, MockServer};
use pgm_providers::gestpay::{Gestpay, GestpayConfig};
use pgm_providers::{
    CallbackOutcome, CallbackRequest, CallbackSubject, Operation, Provider, ProviderDeps,
    ProviderError, Registry,
};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const SHOP: &str = "GESPAY80790";
const API_KEY: &str = "R0VTUEFZNjU5ODcjI0VzZXJjZW50ZSBUZXN0";
const CALLBACK: &str = "https://pgm.example/gestpay/callback";

struct Setup {
    mock: AxerveMock,
    server: MockServer,
    provider: Arc<dyn Provider>,
}

fn env(base_url: &str, api_key: &str) -> Env {
    Env::from_pairs([
        ("GESTPAY_IS_SANDBOX", "true"),
        ("GESTPAY_API_KEY", api_key),
        ("GESTPAY_SHOP_LOGIN", SHOP),
        ("GESTPAY_BASE_URL", base_url),
    ])
}

fn provider(server: &MockServer, api_key: &str) -> Arc<dyn Provider> {
    let mut config =
        GestpayConfig::from_env(&env(&format!("{}/api/v1", server.url), api_key)).unwrap();
    config.api.timeout = Duration::from_secs(1);
    Arc::new(Gestpay::new(
        config,
        reqwest::Client::new(),
        CALLBACK.into(),
    ))
}

async fn setup() -> Setup {
    let mock = AxerveMock::new(SHOP, API_KEY);
    let server = MockServer::start(mock.router()).await;
    let provider = provider(&server, API_KEY);
    Setup {
        mock,
        server,
        provider,
    }
}

fn pay_command(
    method: &str,
    shop_transaction_id: &str,
    amount: &str,
    extra: serde_json::Value,
) -> PayCommand {
    let mut body = json!({"amount": amount, "shopTransactionID": shop_transaction_id});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let request: PayRequest = serde_json::from_value(body).unwrap();
    request.validate(method, false).unwrap()
}

fn stored(
    shop_transaction_id: &str,
    minor: i64,
    provider_id: Option<&str>,
    state: PaymentState,
) -> Payment {
    let mut p = Payment::claimed(NewPayment {
        shop_transaction_id: shop_transaction_id.into(),
        provider: "gestpay".into(),
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

/// Pays 12.40 and has the buyer pay it on the hosted page.
async fn approved(s: &Setup, id: &str, state: PaymentState) -> Payment {
    let outcome = s
        .provider
        .pay(&pay_command("credit-cards", id, "12.40", json!({})))
        .await
        .unwrap();
    let pid = outcome.provider_payment_id.unwrap();
    assert!(s.mock.approve(&pid));
    stored(id, 1240, Some(&pid), state)
}

fn get_callback(url: &str) -> CallbackRequest {
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

fn rejected_with(result: &Result<impl std::fmt::Debug, ProviderError>, code: &str) -> bool {
    matches!(result, Err(ProviderError::Rejected { code: Some(c), .. }) if c == code)
}

#[tokio::test]
async fn pay_creates_the_payment_and_redirects_to_the_hosted_page() {
    let s = setup().await;
    let cmd = pay_command(
        "credit-cards",
        "order-1",
        "12.40",
        json!({"buyerName": "Mario Rossi", "buyerEmail": "mario@example.com",
               "successRedirect": "https://shop.example/ok", "failureRedirect": "https://shop.example/ko"}),
    );
    let outcome = s.provider.pay(&cmd).await.unwrap();
    assert_eq!(outcome.state, PaymentState::Pending);
    let id = outcome.provider_payment_id.clone().unwrap();
    let p = s.mock.payment(&id).unwrap();
    assert_eq!(p.amount_minor, 1240);
    assert_eq!(p.currency, "EUR");
    assert_eq!(p.shop_transaction_id, "order-1");
    assert_eq!(p.buyer_name.as_deref(), Some("Mario Rossi"));
    assert_eq!(p.buyer_email.as_deref(), Some("mario@example.com"));
    assert_eq!(p.payment_type, ["CREDITCARD"]);
    assert_eq!(p.buyer_ok.as_deref(), Some("https://shop.example/ok"));
    assert_eq!(p.buyer_ko.as_deref(), Some("https://shop.example/ko"));
    assert_eq!(
        p.server_notification_url.as_deref(),
        Some("https://pgm.example/gestpay/callback?shopTransactionID=order-1")
    );
    let href = outcome.redirect_url.unwrap();
    assert!(
        href.contains(&format!("paymentID={id}")) && href.contains(&p.payment_token),
        "{href}"
    );
    assert_eq!(s.mock.created_payments(), 1);
}

#[tokio::test]
async fn each_method_asks_for_its_payment_type() {
    let s = setup().await;
    for (method, expected) in [
        ("credit-cards", vec!["CREDITCARD"]),
        ("pay-pal", vec!["PAYPAL"]),
        ("applepay", vec!["APPLEPAY"]),
        ("satispay", vec!["SATISPAY"]),
        ("googlepay", vec![]),
    ] {
        let outcome = s
            .provider
            .pay(&pay_command(method, method, "1.00", json!({})))
            .await
            .unwrap();
        let p = s
            .mock
            .payment(&outcome.provider_payment_id.unwrap())
            .unwrap();
        assert_eq!(p.payment_type, expected, "{method}");
    }
}

#[tokio::test]
async fn server_redirect_overrides_the_notification_url() {
    let s = setup().await;
    let cmd = pay_command(
        "credit-cards",
        "order-2",
        "5",
        json!({"serverRedirect": "https://merchant.example/s2s"}),
    );
    let outcome = s.provider.pay(&cmd).await.unwrap();
    let p = s
        .mock
        .payment(&outcome.provider_payment_id.unwrap())
        .unwrap();
    assert_eq!(
        p.server_notification_url.as_deref(),
        Some("https://merchant.example/s2s")
    );
    assert_eq!(p.amount_minor, 500);
}

#[tokio::test]
async fn amounts_follow_the_currency_decimals() {
    let s = setup().await;
    let jpy = pay_command(
        "credit-cards",
        "order-jpy",
        "500",
        json!({"currency": "JPY"}),
    );
    let outcome = s.provider.pay(&jpy).await.unwrap();
    let p = s
        .mock
        .payment(&outcome.provider_payment_id.unwrap())
        .unwrap();
    assert_eq!((p.amount_minor, p.currency.as_str()), (500, "JPY"));
}

#[tokio::test]
async fn the_mock_refuses_amounts_in_the_wrong_format() {
    let s = setup().await;
    let client = reqwest::Client::new();
    for (amount, code) in [
        (json!("5,00"), "1113"),
        (json!("5.001"), "1114"),
        (json!(5), "1105"),
        (json!("0.00"), "1146"),
    ] {
        let response = client
            .post(format!("{}/api/v1/payment/create/", s.server.url))
            .header("Authorization", format!("apikey {API_KEY}"))
            .json(&json!({"shopLogin": SHOP, "amount": amount, "currency": "EUR", "shopTransactionID": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{amount}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{amount}");
    }
    assert_eq!(s.mock.created_payments(), 0);
}

#[tokio::test]
async fn a_wrong_api_key_is_refused_with_axerves_403() {
    let s = setup().await;
    let wrong = provider(&s.server, "not-the-key");
    let result = wrong
        .pay(&pay_command("credit-cards", "k-1", "1.00", json!({})))
        .await;
    assert!(rejected_with(&result, "1166"), "{result:?}");
    if let Err(ProviderError::Rejected { message, .. }) = &result {
        assert!(!message.contains("not-the-key"));
    }
    assert_eq!(s.mock.created_payments(), 0);
}

#[tokio::test]
async fn errors_inside_a_200_envelope_are_read() {
    let s = setup().await;
    s.mock.set_errors_in_http_200(true);
    let wrong = provider(&s.server, "not-the-key");
    let result = wrong
        .pay(&pay_command("credit-cards", "k-2", "1.00", json!({})))
        .await;
    assert!(rejected_with(&result, "1166"), "{result:?}");
    let unknown = s
        .provider
        .status(&stored("nobody", 100, None, PaymentState::Pending))
        .await;
    assert_eq!(unknown, Err(ProviderError::NotFound));
    let payment = approved(&s, "k-3", PaymentState::Captured).await;
    let over = s.provider.refund(&payment, eur(5000), "r").await;
    assert!(rejected_with(&over, "2014"), "{over:?}");
}

#[tokio::test]
async fn status_maps_every_documented_result_and_state() {
    let s = setup().await;
    let cases = [
        ("UNSUBMITTED", "", PaymentState::Pending),
        ("WAITING", "", PaymentState::Pending),
        ("PENDING", "", PaymentState::Pending),
        ("XX", "", PaymentState::Pending),
        ("", "", PaymentState::Pending),
        ("OK", "AUT", PaymentState::Authorized),
        ("APPROVED", "AUT", PaymentState::Authorized),
        ("OK", "MOV", PaymentState::Captured),
        ("APPROVED", "MOV", PaymentState::Captured),
        ("OK", "PRE", PaymentState::Captured),
        ("OK", "REQ", PaymentState::Captured),
        ("OK", "STO", PaymentState::Captured),
        ("OK", "CAN", PaymentState::Failed),
        ("KO", "", PaymentState::Failed),
        ("DECLINED", "", PaymentState::Failed),
        ("OK", "ZZZ", PaymentState::Pending),
        ("SOMETHING_NEW", "MOV", PaymentState::Pending),
    ];
    for (i, (result, state, expected)) in cases.into_iter().enumerate() {
        let order = format!("st-{i}");
        let outcome = s
            .provider
            .pay(&pay_command("credit-cards", &order, "2.00", json!({})))
            .await
            .unwrap();
        let id = outcome.provider_payment_id.unwrap();
        assert!(s.mock.force_outcome(&id, result, state));
        let status = s
            .provider
            .status(&stored(&order, 200, Some(&id), PaymentState::Pending))
            .await
            .unwrap();
        assert_eq!(status.state, expected, "{result}/{state}");
        assert_eq!(status.provider_payment_id.as_deref(), Some(id.as_str()));
    }
}

#[tokio::test]
async fn status_follows_the_buyer() {
    let s = setup().await;
    let ok = approved(&s, "buyer-ok", PaymentState::Pending).await;
    assert_eq!(
        s.provider.status(&ok).await.unwrap().state,
        PaymentState::Captured
    );

    let outcome = s
        .provider
        .pay(&pay_command("credit-cards", "buyer-ko", "2.00", json!({})))
        .await
        .unwrap();
    let id = outcome.provider_payment_id.unwrap();
    assert!(s.mock.decline(&id));
    let declined = s
        .provider
        .status(&stored("buyer-ko", 200, Some(&id), PaymentState::Pending))
        .await
        .unwrap();
    assert_eq!(declined.state, PaymentState::Failed);
    assert_eq!(declined.description, "Authorization denied");
}

#[tokio::test]
async fn status_by_shop_transaction_id_when_the_pay_answer_was_lost() {
    let s = setup().await;
    s.server.faults.push(Fault::ResetAfterWork);
    let lost = s
        .provider
        .pay(&pay_command("credit-cards", "lost-1", "2.00", json!({})))
        .await;
    assert!(matches!(lost, Err(ProviderError::Unavailable(_))));
    let id = s.mock.payments()[0].payment_id.clone();
    s.mock.approve(&id);
    let status = s
        .provider
        .status(&stored("lost-1", 200, None, PaymentState::Initiated))
        .await
        .unwrap();
    assert_eq!(status.state, PaymentState::Captured);
    assert_eq!(status.provider_payment_id, Some(id));
    let never = s
        .provider
        .status(&stored("never-sent", 200, None, PaymentState::Initiated))
        .await;
    assert_eq!(never, Err(ProviderError::NotFound));
}

#[tokio::test]
async fn the_server_notification_is_a_trigger_naming_our_payment() {
    let s = setup().await;
    let outcome = s
        .provider
        .pay(&pay_command("credit-cards", "cb-1", "2.00", json!({})))
        .await
        .unwrap();
    let id = outcome.provider_payment_id.unwrap();
    s.mock.approve(&id);
    let url = s.mock.notification_url(&id).unwrap();
    assert!(
        url.starts_with(CALLBACK) && url.contains(&format!("a={SHOP}")),
        "{url}"
    );
    match s.provider.callback(&get_callback(&url)).await.unwrap() {
        CallbackOutcome::Payment {
            subject, verified, ..
        } => {
            assert_eq!(subject, CallbackSubject::ShopTransactionId("cb-1".into()));
            assert_eq!(verified, None);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_notification_with_axerves_payment_id_names_it() {
    let s = setup().await;
    let form = CallbackRequest {
        method: http::Method::POST,
        query: String::new(),
        headers: [(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded".parse().unwrap(),
        )]
        .into_iter()
        .collect(),
        body: bytes::Bytes::from_static(b"shopLogin=GESPAY80790&paymentID=146972136694"),
    };
    match s.provider.callback(&form).await.unwrap() {
        CallbackOutcome::Payment {
            subject, verified, ..
        } => {
            assert_eq!(
                subject,
                CallbackSubject::ProviderPaymentId("146972136694".into())
            );
            assert_eq!(verified, None);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn malformed_notifications_are_refused() {
    let s = setup().await;
    for url in [
        "https://pgm.example/gestpay/callback",
        "https://pgm.example/gestpay/callback?a=GESPAY80790&b=8F3A2C",
        "https://pgm.example/gestpay/callback?a=OTHERSHOP&shopTransactionID=cb-1",
        "https://pgm.example/gestpay/callback?shopTransactionID=with%20space",
    ] {
        let result = s.provider.callback(&get_callback(url)).await;
        assert!(
            matches!(result, Err(ProviderError::InvalidCallback(_))),
            "{url}: {result:?}"
        );
    }
}

#[tokio::test]
async fn confirm_captures_an_authorised_payment() {
    let s = setup().await;
    s.mock.set_auto_settle(false);
    let payment = approved(&s, "cap-1", PaymentState::Pending).await;
    assert_eq!(
        s.provider.status(&payment).await.unwrap().state,
        PaymentState::Authorized
    );
    let payment = stored(
        "cap-1",
        1240,
        payment.provider_payment_id.as_deref(),
        PaymentState::Authorized,
    );

    let over = s.provider.confirm(&payment, eur(1241)).await;
    assert!(rejected_with(&over, "58"), "{over:?}");
    let captured = s.provider.confirm(&payment, eur(1000)).await.unwrap();
    assert!(captured.succeeded);
    assert_eq!(
        s.provider.status(&payment).await.unwrap().state,
        PaymentState::Captured
    );
    let p = s
        .mock
        .payment(payment.provider_payment_id.as_deref().unwrap())
        .unwrap();
    assert_eq!((p.state.as_str(), p.captured_minor), ("MOV", 1000));

    let again = s.provider.confirm(&payment, eur(240)).await;
    assert!(rejected_with(&again, "2019"), "{again:?}");
    assert_eq!(s.mock.capture_count(), 1);
}

#[tokio::test]
async fn full_refund() {
    let s = setup().await;
    let payment = approved(&s, "rf-1", PaymentState::Captured).await;
    let outcome = s
        .provider
        .refund(&payment, eur(1240), "rf-1-a")
        .await
        .unwrap();
    assert!(outcome.succeeded());
    let p = s
        .mock
        .payment(payment.provider_payment_id.as_deref().unwrap())
        .unwrap();
    assert_eq!((p.refunded_minor, p.state.as_str()), (1240, "STO"));
    // Refunded payments stay captured for the PGM; the refunds are its own books.
    assert_eq!(
        s.provider.status(&payment).await.unwrap().state,
        PaymentState::Captured
    );
}

#[tokio::test]
async fn several_partial_refunds_until_the_mock_refuses_more() {
    let s = setup().await;
    let payment = approved(&s, "rf-2", PaymentState::Captured).await;
    for (i, minor) in [400, 500, 340].into_iter().enumerate() {
        assert!(s
            .provider
            .refund(&payment, eur(minor), &format!("r-{i}"))
            .await
            .unwrap()
            .succeeded());
    }
    let over = s.provider.refund(&payment, eur(1), "r-over").await;
    assert!(rejected_with(&over, "2014"), "{over:?}");
    assert_eq!(s.mock.refund_count(), 3);
}

#[tokio::test]
async fn an_over_refund_is_refused_by_the_mock() {
    let s = setup().await;
    let payment = approved(&s, "rf-3", PaymentState::Captured).await;
    let over = s.provider.refund(&payment, eur(1241), "r").await;
    assert!(rejected_with(&over, "2014"), "{over:?}");
    assert_eq!(s.mock.refund_count(), 0);
}

#[tokio::test]
async fn an_authorised_payment_cannot_be_refunded() {
    let s = setup().await;
    s.mock.set_auto_settle(false);
    let payment = approved(&s, "rf-4", PaymentState::Authorized).await;
    let refused = s.provider.refund(&payment, eur(100), "r").await;
    assert!(rejected_with(&refused, "2018"), "{refused:?}");
}

#[tokio::test]
async fn a_500_after_work_is_unavailable_though_the_work_happened() {
    let s = setup().await;
    let payment = approved(&s, "f-2", PaymentState::Captured).await;
    s.server.faults.push(Fault::ErrorAfterWork);
    let lost = s.provider.refund(&payment, eur(200), "r").await;
    assert!(matches!(lost, Err(ProviderError::Unavailable(_))));
    assert_eq!(s.mock.refund_count(), 1);
    // The events tell what happened: the payment shows the refund.
    let p = s
        .mock
        .payment(payment.provider_payment_id.as_deref().unwrap())
        .unwrap();
    assert_eq!(p.refunded_minor, 200);
}

#[tokio::test]
async fn a_reset_connection_is_unavailable() {
    let s = setup().await;
    s.server.faults.push(Fault::Reset);
    let result = s
        .provider
        .pay(&pay_command("credit-cards", "f-3", "1.00", json!({})))
        .await;
    assert!(matches!(result, Err(ProviderError::Unavailable(_))));
    assert_eq!(s.mock.created_payments(), 0);
}

#[tokio::test]
async fn supports_is_exactly_what_the_adapter_does() {
    let s = setup().await;
    let supported = [
        Operation::Pay,
        Operation::Confirm,
        Operation::Refund,
        Operation::Callback,
        Operation::Check,
        Operation::Status,
    ];
    for op in Operation::ALL {
        assert_eq!(s.provider.supports(op), supported.contains(&op), "{op:?}");
    }
    let payment = stored("ns", 100, Some("146972136694"), PaymentState::Authorized);
    let cmd = pay_command("credit-cards", "ns", "1.00", json!({}));
    assert_eq!(
        s.provider.pay_recurrent(&cmd).await,
        Err(ProviderError::NotSupported)
    );
    assert_eq!(
        s.provider.void(&payment).await,
        Err(ProviderError::NotSupported)
    );
    assert_eq!(s.provider.name(), "gestpay");
    assert_eq!(
        s.provider.methods(),
        [
            "credit-cards",
            "applepay",
            "googlepay",
            "pay-pal",
            "satispay"
        ]
    );
}

#[test]
fn config_from_env() {
    let live = Env::from_pairs([("GESTPAY_API_KEY", API_KEY), ("GESTPAY_SHOP_LOGIN", SHOP)]);
    assert_eq!(
        GestpayConfig::from_env(&live).unwrap().api.base_url,
        "https://ecomms2s.sella.it/api/v1"
    );
    let mut sandbox = live.clone();
    sandbox.set("GESTPAY_IS_SANDBOX", "true");
    assert_eq!(
        GestpayConfig::from_env(&sandbox).unwrap().api.base_url,
        "https://sandbox.gestpay.net/api/v1"
    );

    let no_key = Env::from_pairs([("GESTPAY_SHOP_LOGIN", SHOP)]);
    assert_eq!(
        GestpayConfig::from_env(&no_key).unwrap_err().var,
        "GESTPAY_API_KEY"
    );
    let no_shop = Env::from_pairs([("GESTPAY_API_KEY", API_KEY)]);
    assert_eq!(
        GestpayConfig::from_env(&no_shop).unwrap_err().var,
        "GESTPAY_SHOP_LOGIN"
    );
    let mut bad_flag = live.clone();
    bad_flag.set("GESTPAY_IS_SANDBOX", "maybe");
    assert_eq!(
        GestpayConfig::from_env(&bad_flag).unwrap_err().var,
        "GESTPAY_IS_SANDBOX"
    );
}

#[test]
fn config_debug_never_prints_the_api_key() {
    let config = GestpayConfig::from_env(&env("https://x.example/api/v1", API_KEY)).unwrap();
    let printed = format!("{config:?}");
    assert!(!printed.contains(API_KEY), "{printed}");
    assert!(printed.contains("[REDACTED]"));
}

/// The registry needs a sandbox ledger even when the sandbox is not enabled.

#[test]
fn the_registry_builds_gestpay_under_both_names() {
    let deps = ProviderDeps {
        http: reqwest::Client::new(),
        public_url: "https://pgm.example".into(),
        sandbox_ledger: None,
    };
    let mut env = Env::from_pairs([("GESTPAY_API_KEY", API_KEY), ("GESTPAY_SHOP_LOGIN", SHOP)]);
    env.set("ENABLED_PROVIDERS", "axerve");
    let registry = Registry::from_env(&env, &deps).unwrap();
    assert_eq!(registry.get("gestpay").map(|p| p.name()), Some("gestpay"));
    assert_eq!(registry.get("axerve").map(|p| p.name()), Some("gestpay"));

    env.set("GESTPAY_API_KEY", "");
    let missing = Registry::from_env(&env, &deps).err().unwrap();
    assert_eq!(missing.var, "GESTPAY_API_KEY");

    env.set("ENABLED_PROVIDERS", "satispay");
    let missing = Registry::from_env(&env, &deps).err().unwrap();
    assert_eq!(missing.var, "SATISPAY_PRIVATE_KEY");
}

#[tokio::test]
async fn a_partial_capture_reads_its_amount_from_the_movements() {
    let s = setup().await;
    s.mock.set_auto_settle(false);
    let payment = approved(&s, "cap-mov", PaymentState::Pending).await;
    let payment = stored(
        "cap-mov",
        1240,
        payment.provider_payment_id.as_deref(),
        PaymentState::Authorized,
    );
    // Authorised only: nothing captured yet, and no amount claimed.
    let authorised = s.provider.status(&payment).await.unwrap();
    assert_eq!(
        (authorised.state, authorised.captured_minor),
        (PaymentState::Authorized, None)
    );
    assert!(
        s.provider
            .confirm(&payment, eur(730))
            .await
            .unwrap()
            .succeeded
    );
    // payment/detail's MOV event carries 7.30: the captured amount, not the authorised 12.40.
    let captured = s.provider.status(&payment).await.unwrap();
    assert_eq!(
        (captured.state, captured.captured_minor),
        (PaymentState::Captured, Some(730))
    );
}
