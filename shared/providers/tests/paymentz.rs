//! The Paymentz adapter over HTTP against the Paymentz mock: the AuthToken flow (lazy, cached,
//! renewed once when refused), checksums the gateway verifies, one refund per transaction,
//! the 3-D Secure redirect and checksum-verified notifications.

use pgm_core::payment::NewPayment;
use pgm_core::wire::{PayCommand, PayRequest};
use pgm_core::{Currency, Env, Money, Payment, PaymentKind, PaymentState};
use pgm_mocks::paymentz::{PaymentzMock, ACS_PAGE, CARD_3DS, CARD_DECLINED, CARD_OK};
use pgm_mocks::MockServer;
use pgm_providers::paymentz::{Paymentz, PaymentzConfig};
use pgm_providers::{CallbackOutcome, CallbackRequest, Provider, ProviderError};
use serde_json::json;
use std::time::Duration;

const CREDS: [&str; 4] = ["197", "pgm-merchant", "11359", "pz_secure_test"];

struct Setup {
    mock: PaymentzMock,
    _server: MockServer,
    provider: Paymentz,
}

fn adapter(server: &MockServer, extra: &[(&str, &str)]) -> Paymentz {
    let mut pairs = vec![
        ("PAYMENTZ_BASE_URL", server.url.as_str()),
        ("PAYMENTZ_PARTNER_ID", CREDS[0]),
        ("PAYMENTZ_USERNAME", CREDS[1]),
        ("PAYMENTZ_MEMBER_ID", CREDS[2]),
        ("PAYMENTZ_SECURE_KEY", CREDS[3]),
    ];
    pairs.extend_from_slice(extra);
    let mut config = PaymentzConfig::from_env(&Env::from_pairs(pairs)).unwrap();
    config.api.timeout = Duration::from_secs(2);
    Paymentz::new(
        config,
        reqwest::Client::new(),
        "https://pgm.example/paymentz/callback".into(),
    )
}

async fn setup(extra: &[(&str, &str)]) -> Setup {
    let mock = PaymentzMock::new(CREDS[0], CREDS[1], CREDS[2], CREDS[3]);
    let server = MockServer::start(mock.router()).await;
    let provider = adapter(&server, extra);
    Setup {
        mock,
        _server: server,
        provider,
    }
}

fn pay(id: &str, card: &str, manual: bool) -> PayCommand {
    let mut data = json!({"paymentBrand": "VISA",
        "card": {"number": card, "expiryMonth": "01", "expiryYear": "2031", "cvv": "123"}});
    if manual {
        data["captureMethod"] = json!("manual");
    }
    let request: PayRequest = serde_json::from_value(json!({"amount": "10.00",
        "shopTransactionID": id, "successRedirect": "https://shop.example/back",
        "providerData": data}))
    .unwrap();
    request.validate("credit-cards", false).unwrap()
}

fn stored(id: &str, provider_id: &str, state: PaymentState) -> Payment {
    let mut p = Payment::claimed(NewPayment {
        shop_transaction_id: id.into(),
        provider: "paymentz".into(),
        method: "credit-cards".into(),
        kind: PaymentKind::Single,
        amount: eur(1000),
        metadata: Default::default(),
        request_hash: "h".into(),
        now: 0,
        lock_ms: 60_000,
    });
    p.provider_payment_id = Some(provider_id.into());
    p.observe(state, "", 1);
    p
}

fn eur(minor: i64) -> Money {
    Money::from_minor(minor, Currency::EUR).unwrap()
}

#[tokio::test]
async fn the_token_is_fetched_when_first_needed_cached_and_renewed_once_when_refused() {
    let s = setup(&[]).await;
    assert_eq!(s.mock.token_fetches(), 0, "nothing fetched at start");
    let a = s.provider.pay(&pay("pz-1", CARD_OK, false)).await.unwrap();
    assert_eq!(a.state, PaymentState::Captured);
    s.provider.pay(&pay("pz-2", CARD_OK, false)).await.unwrap();
    assert_eq!(s.mock.token_fetches(), 1, "cached until its expiry");
    // The gateway stops honouring the token before its exp: one new token, one retry.
    s.mock.expire_tokens();
    let c = s.provider.pay(&pay("pz-3", CARD_OK, false)).await.unwrap();
    assert_eq!(c.state, PaymentState::Captured);
    assert_eq!(s.mock.token_fetches(), 2);
    assert_eq!(
        s.mock.payments().len(),
        3,
        "the refused request was not made twice"
    );
}

#[tokio::test]
async fn refused_credentials_name_the_variables() {
    let mock = PaymentzMock::new(CREDS[0], CREDS[1], CREDS[2], "another-key");
    let server = MockServer::start(mock.router()).await;
    let err = adapter(&server, &[])
        .pay(&pay("pz-cred", CARD_OK, false))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ProviderError::Rejected { message, .. } if message.contains("PAYMENTZ_SECURE_KEY") && !message.contains("pz_secure_test")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_3ds_card_redirects_and_a_declined_card_is_a_failure_with_the_reason() {
    let s = setup(&[]).await;
    let out = s
        .provider
        .pay(&pay("pz-3ds", CARD_3DS, false))
        .await
        .unwrap();
    assert_eq!(out.state, PaymentState::Pending);
    let id = out.provider_payment_id.unwrap();
    assert_eq!(
        out.redirect_url.unwrap(),
        format!("{ACS_PAGE}?paymentId={id}")
    );
    let no = s
        .provider
        .pay(&pay("pz-no", CARD_DECLINED, false))
        .await
        .unwrap();
    assert_eq!(no.state, PaymentState::Failed);
    assert!(no.description.contains("declined"), "{}", no.description);
}

#[tokio::test]
async fn a_checksum_layout_the_gateway_does_not_use_fails_clearly() {
    let s = setup(&[(
        "PAYMENTZ_BACKOFFICE_CHECKSUM",
        "memberId,secureKey,paymentId",
    )])
    .await;
    let out = s.provider.pay(&pay("pz-lay", CARD_OK, true)).await.unwrap();
    assert_eq!(out.state, PaymentState::Authorized);
    let p = stored(
        "pz-lay",
        &out.provider_payment_id.unwrap(),
        PaymentState::Authorized,
    );
    let err = s
        .provider
        .as_capture()
        .unwrap()
        .confirm(&p, eur(500))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ProviderError::Rejected { code: Some(c), message } if c == "10005" && message.contains("Checksum")),
        "{err:?}"
    );
    // With the gateway's layout the same capture goes through.
    s.mock
        .set_backoffice_layout(&["memberId", "secureKey", "paymentId"]);
    let ok = s
        .provider
        .as_capture()
        .unwrap()
        .confirm(&p, eur(500))
        .await
        .unwrap();
    assert!(ok.succeeded, "{ok:?}");
    assert_eq!(s.mock.payments()[0].captured_minor, 500);
}

#[tokio::test]
async fn pa_then_reversal_and_one_refund_per_transaction() {
    let s = setup(&[]).await;
    let auth = s.provider.pay(&pay("pz-rv", CARD_OK, true)).await.unwrap();
    let p = stored(
        "pz-rv",
        &auth.provider_payment_id.unwrap(),
        PaymentState::Authorized,
    );
    let voided = s.provider.as_void().unwrap().void(&p).await.unwrap();
    assert!(voided.succeeded, "{voided:?}");
    let status = s.provider.as_status().unwrap().status(&p).await.unwrap();
    assert_eq!(status.state, PaymentState::Voided);

    let sale = s.provider.pay(&pay("pz-rf", CARD_OK, false)).await.unwrap();
    let mut p = stored(
        "pz-rf",
        &sale.provider_payment_id.unwrap(),
        PaymentState::Captured,
    );
    let refunds = s.provider.as_refunds().unwrap();
    p.reserve_refund("rf-1", Some(eur(300)), false, 1).unwrap();
    assert!(refunds
        .refund(&p, eur(300), "rf-1")
        .await
        .unwrap()
        .succeeded());
    p.settle_refund("rf-1", true, None, 2).unwrap();
    p.reserve_refund("rf-2", Some(eur(200)), false, 3).unwrap();
    let second = refunds.refund(&p, eur(200), "rf-2").await.unwrap_err();
    assert!(
        matches!(&second, ProviderError::InvalidRequest { message, .. } if message.contains("refunded already")),
        "{second:?}"
    );
    assert_eq!(
        s.mock.payments()[1].refunded_minor,
        300,
        "the gateway was not asked again"
    );
}

#[tokio::test]
async fn notifications_are_believed_only_with_the_right_checksum() {
    let s = setup(&[]).await;
    let out = s
        .provider
        .pay(&pay("pz-cb", CARD_3DS, false))
        .await
        .unwrap();
    let id = out.provider_payment_id.unwrap();
    s.mock.approve(&id);
    let request = |body: String| CallbackRequest {
        method: http::Method::POST,
        query: String::new(),
        headers: [(
            http::header::CONTENT_TYPE,
            "application/json".parse().unwrap(),
        )]
        .into_iter()
        .collect(),
        body: body.into(),
    };
    let hooks = s.provider.as_webhooks().unwrap();
    let (_, genuine) = s.mock.notification(&id).unwrap();
    match hooks.callback(&request(genuine)).await.unwrap() {
        CallbackOutcome::Payment {
            verified: Some(v), ..
        } => {
            assert_eq!(v.state, PaymentState::Captured);
            assert_eq!(v.provider_payment_id.as_deref(), Some(id.as_str()));
        }
        other => panic!("{other:?}"),
    }
    let (_, forged) = s.mock.notification_with_key(&id, Some("guess")).unwrap();
    assert!(matches!(
        hooks.callback(&request(forged)).await,
        Err(ProviderError::InvalidSignature(_))
    ));
}
