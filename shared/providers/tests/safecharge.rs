//! The SafeCharge (Nuvei) adapter over HTTP against the Nuvei mock (tests/mocks/src/safecharge.rs),
//! which checks every request's checksum, timeStamp and amount strings as Nuvei does.

use pgm_core::payment::NewPayment;
use pgm_core::wire::SessionOpenRequest;
use pgm_core::{Currency, Env, Money, Payment, PaymentKind, PaymentState};
use pgm_mocks::safecharge::{
    Hash, SafechargeMock, CARD_APPROVED, CARD_CHALLENGE, CARD_DECLINED, MERCHANT_ID,
    MERCHANT_SITE_ID, SECRET_KEY,
};
use pgm_mocks::Fault;
use pgm_providers::safecharge::{Safecharge, SafechargeConfig};
use pgm_providers::{
    CallbackOutcome, CallbackRequest, CallbackSubject, Operation, Provider, ProviderDeps,
    ProviderError, RefundStatus,
};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

fn adapter_with(mock: &SafechargeMock, extra: &[(&str, &str)]) -> Arc<dyn Provider> {
    let mut pairs = vec![
        ("SAFECHARGE_URL", mock.url()),
        ("SAFECHARGE_MERCHANT_ID", MERCHANT_ID),
        ("SAFECHARGE_MERCHANT_SITE_ID", MERCHANT_SITE_ID),
        ("SAFECHARGE_MERCHANT_SECRET_KEY", SECRET_KEY),
        ("SAFECHARGE_TIMEOUT_MS", "500"),
    ];
    pairs.extend_from_slice(extra);
    let deps = ProviderDeps::new(reqwest::Client::new(), "https://pgm.example");
    let config = SafechargeConfig::from_env(&Env::from_pairs(pairs), &deps).unwrap();
    Arc::new(Safecharge::new(config, reqwest::Client::new()))
}

fn eur(text: &str) -> Money {
    Money::parse_decimal(text, Currency::EUR).unwrap()
}

fn payment(id: &str, amount: &str, token: Option<String>) -> Payment {
    let mut p = Payment::claimed(NewPayment {
        shop_transaction_id: id.into(),
        provider: "safecharge".into(),
        method: "session".into(),
        kind: PaymentKind::Session,
        amount: eur(amount),
        metadata: Default::default(),
        request_hash: "h".into(),
        now: 0,
        lock_ms: 1000,
    });
    p.provider_payment_id = token;
    p
}

async fn open(sc: &Arc<dyn Provider>, id: &str, amount: &str) -> Payment {
    let cmd = SessionOpenRequest {
        shop_transaction_id: id.into(),
        amount: amount.into(),
        currency: None,
    }
    .validate()
    .unwrap();
    let opened = sc.session_open(&cmd).await.unwrap();
    assert_eq!(opened.state, PaymentState::Pending);
    payment(id, amount, Some(opened.session_token))
}

/// The buyer's browser paying in the session, as Nuvei's Web SDK does (payment.do).
async fn buyer_pays(
    mock: &SafechargeMock,
    p: &Payment,
    card: &str,
    kind: &str,
) -> serde_json::Value {
    let amount = p.amount.to_decimal_string();
    let (id, ts) = (format!("web-{}", rand_id()), utc_stamp());
    let sum = pgm_mocks::safecharge::hash_hex(
        Hash::Sha256,
        &format!("{MERCHANT_ID}{MERCHANT_SITE_ID}{id}{amount}EUR{ts}{SECRET_KEY}"),
    );
    let body = json!({
        "sessionToken": p.provider_payment_id, "merchantId": MERCHANT_ID,
        "merchantSiteId": MERCHANT_SITE_ID, "clientRequestId": id, "amount": amount,
        "currency": "EUR", "transactionType": kind, "timeStamp": ts, "checksum": sum,
        "paymentOption": {"card": {"cardNumber": card, "cardHolderName": "Ada",
            "expirationMonth": "12", "expirationYear": "34", "CVV": "217"}},
    });
    reqwest::Client::new()
        .post(format!("{}/ppp/api/v1/payment.do", mock.url()))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn rand_id() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

fn utc_stamp() -> String {
    let f = time::macros::format_description!("[year][month][day][hour][minute][second]");
    time::OffsetDateTime::now_utc().format(&f).unwrap()
}

#[tokio::test]
async fn open_sends_a_checksummed_order_and_pay_is_not_served() {
    let mock = SafechargeMock::start().await;
    let sc = adapter_with(&mock, &[]);
    let p = open(&sc, "sc-open", "10.50").await;
    let sent = &mock.requests("openOrder")[0].body;
    assert_eq!(
        (
            sent["amount"].as_str(),
            sent["currency"].as_str(),
            sent["clientUniqueId"].as_str()
        ),
        (Some("10.50"), Some("EUR"), Some("sc-open"))
    );
    assert_eq!(
        sent["urlDetails"]["notificationUrl"],
        "https://pgm.example/safecharge/callback"
    );
    let ts = sent["timeStamp"].as_str().unwrap();
    assert!(
        ts.len() == 14 && ts.bytes().all(|b| b.is_ascii_digit()),
        "{ts}"
    );
    assert!(p.provider_payment_id.is_some());
    assert!(!sc.supports(Operation::Pay) && !sc.supports(Operation::PayRecurrent));
    for op in [
        Operation::SessionOpen,
        Operation::SessionConfirm,
        Operation::SessionVoid,
        Operation::SessionRefund,
        Operation::SessionCheck,
        Operation::Callback,
    ] {
        assert!(sc.supports(op), "{op:?}");
    }
}

#[tokio::test]
async fn a_wrong_secret_or_an_md5_site_is_refused_by_the_mock_as_nuvei_does() {
    let mock = SafechargeMock::start().await;
    let wrong = adapter_with(&mock, &[("SAFECHARGE_MERCHANT_SECRET_KEY", "not-the-key")]);
    let cmd = SessionOpenRequest {
        shop_transaction_id: "sc-bad".into(),
        amount: "5.00".into(),
        currency: None,
    }
    .validate()
    .unwrap();
    let err = wrong.session_open(&cmd).await.unwrap_err();
    assert!(
        matches!(&err, ProviderError::Rejected { code: Some(c), message } if c == "1001" && message.contains("SAFECHARGE_MERCHANT_SECRET_KEY") && !message.contains("not-the-key")),
        "{err:?}"
    );
    // An MD5 site: the adapter must hash with MD5 when told to.
    let md5 = SafechargeMock::start_with(Hash::Md5).await;
    assert!(adapter_with(&md5, &[]).session_open(&cmd).await.is_err());
    assert!(adapter_with(&md5, &[("SAFECHARGE_HASH_ALGORITHM", "md5")])
        .session_open(&cmd)
        .await
        .is_ok());
}

#[tokio::test]
async fn check_follows_the_session_through_the_3ds_challenge() {
    let mock = SafechargeMock::start().await;
    let sc = adapter_with(&mock, &[]);
    let p = open(&sc, "sc-3ds", "12.00").await;
    assert_eq!(sc.status(&p).await.unwrap().state, PaymentState::Pending);
    let challenged = buyer_pays(&mock, &p, CARD_CHALLENGE, "Sale").await;
    assert_eq!(challenged["transactionStatus"], "REDIRECT", "{challenged}");
    assert!(challenged["paymentOption"]["card"]["threeD"]["acsUrl"].is_string());
    assert_eq!(sc.status(&p).await.unwrap().state, PaymentState::Pending);
    mock.complete_challenge(challenged["transactionId"].as_str().unwrap(), true);
    // The liability-shift payment the Web SDK makes after the challenge.
    let amount = "12.00";
    let (id, ts) = (format!("web-{}", rand_id()), utc_stamp());
    let sum = pgm_mocks::safecharge::hash_hex(
        Hash::Sha256,
        &format!("{MERCHANT_ID}{MERCHANT_SITE_ID}{id}{amount}EUR{ts}{SECRET_KEY}"),
    );
    let fin: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/ppp/api/v1/payment.do", mock.url()))
        .json(&json!({"sessionToken": p.provider_payment_id, "merchantId": MERCHANT_ID,
            "merchantSiteId": MERCHANT_SITE_ID, "clientRequestId": id, "amount": amount, "currency": "EUR",
            "timeStamp": ts, "checksum": sum, "relatedTransactionId": challenged["transactionId"]}))
        .send().await.unwrap().json().await.unwrap();
    assert_eq!(fin["transactionStatus"], "APPROVED", "{fin}");
    let status = sc.status(&p).await.unwrap();
    assert_eq!(
        (status.state, status.description.as_str()),
        (PaymentState::Captured, "Transaction completed")
    );
}

#[tokio::test]
async fn declined_and_expired_sessions() {
    let mock = SafechargeMock::start().await;
    let sc = adapter_with(&mock, &[]);
    let p = open(&sc, "sc-no", "9.00").await;
    buyer_pays(&mock, &p, CARD_DECLINED, "Sale").await;
    let status = sc.status(&p).await.unwrap();
    assert_eq!(status.state, PaymentState::Failed);
    assert!(
        status.description.contains("Decline"),
        "{}",
        status.description
    );
    mock.expire_session(p.provider_payment_id.as_deref().unwrap());
    assert!(
        matches!(sc.status(&p).await, Err(ProviderError::Rejected { code: Some(c), .. }) if c == "1069")
    );
    // An open whose answer was lost left no session to ask about.
    assert_eq!(
        sc.status(&payment("sc-lost", "1.00", None))
            .await
            .unwrap_err(),
        ProviderError::NotFound
    );
}

#[tokio::test]
async fn auth_then_settle_then_void_and_sale_then_partial_refunds() {
    let mock = SafechargeMock::start().await;
    let sc = adapter_with(&mock, &[("SAFECHARGE_TRANSACTION_TYPE", "Auth")]);
    let p = open(&sc, "sc-auth", "10.00").await;
    assert_eq!(
        mock.requests("openOrder")[0].body["transactionType"],
        "Auth"
    );
    buyer_pays(&mock, &p, CARD_APPROVED, "Auth").await;
    assert_eq!(sc.status(&p).await.unwrap().state, PaymentState::Authorized);
    let settled = sc.confirm(&p, eur("8.00")).await.unwrap();
    assert!(settled.succeeded, "{settled:?}");
    let settle = &mock.requests("settleTransaction")[0].body;
    assert_eq!(
        (settle["amount"].as_str(), settle["clientUniqueId"].as_str()),
        (Some("8.00"), Some("sc-auth"))
    );
    // More than the authorisation is refused by Nuvei (1058), a definite no.
    assert!(
        matches!(sc.confirm(&p, eur("2.01")).await, Err(ProviderError::Rejected { code: Some(c), .. }) if c == "1058")
    );

    let v = open(&sc, "sc-void", "4.00").await;
    buyer_pays(&mock, &v, CARD_APPROVED, "Auth").await;
    assert!(sc.void(&v).await.unwrap().succeeded);
    assert_eq!(
        mock.transactions()
            .iter()
            .filter(|t| t.kind == "Void")
            .count(),
        1
    );

    let s = open(&sc, "sc-sale", "30.00").await;
    buyer_pays(&mock, &s, CARD_APPROVED, "Sale").await;
    let first = sc.refund(&s, eur("10.00"), "rf_one").await.unwrap();
    assert_eq!(first.state, RefundStatus::Succeeded);
    assert!(first.provider_refund_id.is_some());
    assert_eq!(
        sc.refund(&s, eur("20.00"), "rf_two").await.unwrap().state,
        RefundStatus::Succeeded
    );
    assert_eq!(
        mock.refunded_minor(s.provider_payment_id.as_deref().unwrap()),
        3000
    );
    assert_eq!(
        mock.requests("refundTransaction")[0].body["clientRequestId"],
        "rf_one"
    );
    // The same refund id again: Nuvei refuses the reused clientRequestId; the outcome of the
    // first is unknown from this answer, never a decline.
    assert!(matches!(
        sc.refund(&s, eur("1.00"), "rf_one").await,
        Err(ProviderError::Unavailable(_))
    ));
    assert!(!sc.refunds_are_idempotent());
}

#[tokio::test]
async fn a_5xx_or_a_timeout_is_unknown_and_a_long_reference_a_400() {
    let mock = SafechargeMock::start().await;
    let sc = adapter_with(&mock, &[]);
    let cmd = SessionOpenRequest {
        shop_transaction_id: "sc-down".into(),
        amount: "5.00".into(),
        currency: None,
    }
    .validate()
    .unwrap();
    mock.server.faults.push(Fault::Unavailable);
    assert!(matches!(
        sc.session_open(&cmd).await,
        Err(ProviderError::Unavailable(_))
    ));
    mock.server
        .faults
        .push(Fault::Delay(Duration::from_millis(900)));
    assert!(matches!(
        sc.session_open(&cmd).await,
        Err(ProviderError::Unavailable(_))
    ));
    let long = SessionOpenRequest {
        shop_transaction_id: "x".repeat(46),
        amount: "5.00".into(),
        currency: None,
    }
    .validate()
    .unwrap();
    assert!(
        matches!(sc.session_open(&long).await, Err(ProviderError::InvalidRequest { field, .. }) if field == "shopTransactionID")
    );
}

fn dmn_request(pairs: &[(String, String)], post: bool) -> CallbackRequest {
    let encoded = serde_urlencoded::to_string(pairs).unwrap();
    CallbackRequest {
        method: if post {
            http::Method::POST
        } else {
            http::Method::GET
        },
        query: if post { String::new() } else { encoded.clone() },
        headers: Default::default(),
        body: if post {
            encoded.into()
        } else {
            Default::default()
        },
    }
}

#[tokio::test]
async fn dmns_are_verified_by_get_or_post_and_forgeries_refused() {
    let mock = SafechargeMock::start().await;
    let sc = adapter_with(&mock, &[]);
    let p = open(&sc, "sc-dmn", "15.00").await;
    let paid = buyer_pays(&mock, &p, CARD_APPROVED, "Sale").await;
    let dmn = mock.dmn(paid["transactionId"].as_str().unwrap());
    for post in [false, true] {
        match sc.callback(&dmn_request(&dmn, post)).await.unwrap() {
            CallbackOutcome::Payment {
                subject,
                verified: Some(v),
                ack,
            } => {
                assert_eq!(subject, CallbackSubject::ShopTransactionId("sc-dmn".into()));
                assert_eq!(v.state, PaymentState::Captured);
                assert_eq!(ack.status, 200);
            }
            other => panic!("{other:?}"),
        }
    }
    let mut forged = dmn.clone();
    forged
        .iter_mut()
        .find(|(k, _)| k == "totalAmount")
        .unwrap()
        .1 = "1500.00".into();
    assert!(matches!(
        sc.callback(&dmn_request(&forged, true)).await,
        Err(ProviderError::InvalidSignature(_))
    ));
    let unsigned: Vec<_> = dmn
        .iter()
        .filter(|(k, _)| k != "advanceResponseChecksum")
        .cloned()
        .collect();
    assert!(matches!(
        sc.callback(&dmn_request(&unsigned, false)).await,
        Err(ProviderError::InvalidSignature(_))
    ));

    // A refund's DMN names our refund id (its clientRequestId).
    sc.refund(&p, eur("5.00"), "rf_dmn").await.unwrap();
    let credit = mock
        .transactions()
        .into_iter()
        .find(|t| t.kind == "Credit")
        .unwrap();
    match sc
        .callback(&dmn_request(&mock.dmn(&credit.id), true))
        .await
        .unwrap()
    {
        CallbackOutcome::Refund {
            refund_id, outcome, ..
        } => {
            assert_eq!(refund_id.as_deref(), Some("rf_dmn"));
            assert!(outcome.succeeded());
        }
        other => panic!("{other:?}"),
    }
}
