//! The BPC adapter over HTTP against the BPC mock (tests/mocks/src/bpc.rs), which holds to seed
//! 002's wire format (X-Api-Key, X-Version, JSON, integer minor units, ISO currency, card data
//! or a Stored Payment Method) and refuses what BPC refuses.

use pgm_core::clock::now_ms;
use pgm_core::payment::NewPayment;
use pgm_core::wire::{PayCommand, PayRequest};
use pgm_core::{Currency, Env, Money, Payment, PaymentKind, PaymentState};
use pgm_mocks::bpc::{
    event_body_for, signature, BpcMock, CARD_3DS, CARD_DECLINED, CARD_OK, STORED_OK, TEST_API_KEY,
};
use pgm_providers::bpc::{Bpc, BpcConfig, REFERENCE_KEY};
use pgm_providers::{CallbackOutcome, CallbackRequest, Provider, ProviderError};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

const WEBHOOK_SECRET: &str = "bpc_whsec_adapter_test";

fn env_with(mock: &BpcMock, extra: &[(&str, &str)]) -> Env {
    let url = mock.url();
    let mut pairs = vec![
        ("BPC_BASE_URL", url.as_str()),
        ("BPC_API_KEY", TEST_API_KEY),
        ("BPC_WEBHOOK_SECRET", WEBHOOK_SECRET),
    ];
    pairs.extend_from_slice(extra);
    Env::from_pairs(pairs)
}

fn adapter_with(mock: &BpcMock, extra: &[(&str, &str)]) -> Arc<dyn Provider> {
    let config = BpcConfig::from_env(&env_with(mock, extra)).unwrap();
    Arc::new(Bpc::new(config, reqwest::Client::new()))
}

async fn setup() -> (BpcMock, Arc<dyn Provider>) {
    let mock = BpcMock::start().await;
    let bpc = adapter_with(&mock, &[]);
    (mock, bpc)
}

fn cmd(provider_data: serde_json::Value, extra: serde_json::Value) -> PayCommand {
    let mut body = json!({
        "amount": "12.34", "shopTransactionID": "order-1",
        "successRedirect": "https://shop.example/back", "buyerEmail": "ada@example.com",
        "providerData": provider_data,
    });
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        body[k] = v;
    }
    serde_json::from_value::<PayRequest>(body)
        .unwrap()
        .validate("credit-cards", false)
        .unwrap()
}

fn card(number: &str) -> serde_json::Value {
    json!({"number": number, "expiryMonth": 12, "expiryYear": 2030, "cvc": "123", "holderName": "ADA"})
}

fn payment(cmd: &PayCommand, id: Option<&str>) -> Payment {
    let mut p = Payment::claimed(NewPayment {
        shop_transaction_id: cmd.shop_transaction_id.clone(),
        provider: "bpc".into(),
        method: "credit-cards".into(),
        kind: PaymentKind::Single,
        amount: cmd.amount,
        metadata: BTreeMap::new(),
        request_hash: "h".into(),
        now: now_ms(),
        lock_ms: 60_000,
    });
    p.provider_payment_id = id.map(str::to_owned);
    p
}

fn eur(minor: i64) -> Money {
    Money::from_minor(minor, Currency::EUR).unwrap()
}

fn field_of(e: ProviderError) -> String {
    match e {
        ProviderError::InvalidRequest { field, .. } => field,
        other => panic!("not a 400: {other:?}"),
    }
}

#[tokio::test]
async fn a_3ds_card_redirects_and_the_wire_is_bpcs() {
    let (mock, bpc) = setup().await;
    let c = cmd(
        json!({"card": card(CARD_3DS)}),
        json!({"metadata": {"cart": "42"}}),
    );
    let out = bpc.pay(&c).await.unwrap();
    assert_eq!(out.state, PaymentState::Pending);
    let id = out.provider_payment_id.unwrap();
    assert_eq!(
        out.redirect_url.as_deref(),
        Some(format!("{}/acs/{id}", mock.server.url).as_str())
    );
    let stored = mock.payment_json(&id).unwrap();
    assert_eq!(stored["amount"], 1234, "integer minor units");
    assert_eq!(stored["currency"], "eur");
    assert_eq!(stored["captureMethod"], "automatic");
    assert_eq!(stored["returnUrl"], "https://shop.example/back");
    assert_eq!(stored["customerDetails"]["email"], "ada@example.com");
    assert_eq!(stored["metadata"]["cart"], "42");
    assert_eq!(stored["metadata"][REFERENCE_KEY], "pgm-order-1-1");
    assert_eq!(
        stored["paymentMethod"]["card"]["maskedNumber"],
        "400000**3220"
    );
    // The buyer passes 3-D Secure: BPC says succeeded.
    mock.complete_3ds(&id, true).unwrap();
    let status = bpc.status(&payment(&c, Some(&id))).await.unwrap();
    assert_eq!(
        (status.state, status.captured_minor),
        (PaymentState::Captured, Some(1234))
    );
}

#[tokio::test]
async fn frictionless_declined_and_stored_methods() {
    let (mock, bpc) = setup().await;
    let ok = bpc
        .pay(&cmd(json!({"card": card(CARD_OK)}), json!({})))
        .await
        .unwrap();
    assert_eq!((ok.state, ok.redirect_url), (PaymentState::Captured, None));
    let ko = bpc
        .pay(&cmd(
            json!({"card": card(CARD_DECLINED)}),
            json!({"shopTransactionID": "order-2"}),
        ))
        .await
        .unwrap();
    assert_eq!(ko.state, PaymentState::Failed);
    assert!(ko.description.contains("failed"), "{}", ko.description);
    let stored = bpc
        .pay(&cmd(
            json!({}),
            json!({"shopTransactionID": "order-3", "creditCardToken": STORED_OK}),
        ))
        .await
        .unwrap();
    let id = stored.provider_payment_id.unwrap();
    assert_eq!(stored.state, PaymentState::Captured);
    assert_eq!(
        mock.payment_json(&id).unwrap()["storedPaymentMethodId"],
        STORED_OK
    );
    let unknown = bpc
        .pay(&cmd(
            json!({}),
            json!({"shopTransactionID": "order-4", "creditCardToken": "spm_nope"}),
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(&unknown, ProviderError::Rejected { code: Some(c), .. } if c == "storedPaymentMethodNotFound"),
        "{unknown:?}"
    );
}

#[tokio::test]
async fn bad_pay_requests_name_their_field_before_bpc_is_asked() {
    let (mock, bpc) = setup().await;
    let cases = [
        (json!({}), json!({}), "creditCardToken"),
        (
            json!({"card": card(CARD_OK)}),
            json!({"creditCardToken": STORED_OK}),
            "providerData.card",
        ),
        (
            json!({"card": {"number": "4444"}}),
            json!({}),
            "providerData.card.number",
        ),
        (
            json!({"card": {"number": CARD_OK, "expiryMonth": "12", "expiryYear": 2030, "cvc": "123"}}),
            json!({}),
            "providerData.card.expiryMonth",
        ),
        (
            json!({"card": {"number": CARD_OK, "expiryMonth": 12, "expiryYear": 2030, "cvc": 123}}),
            json!({}),
            "providerData.card.cvc",
        ),
        (
            json!({"card": card(CARD_OK), "captureMethod": "later"}),
            json!({}),
            "providerData.captureMethod",
        ),
        (
            json!({"card": card(CARD_OK)}),
            json!({"successRedirect": null}),
            "successRedirect",
        ),
        (
            json!({"card": card(CARD_OK)}),
            json!({"metadata": {REFERENCE_KEY: "x"}}),
            "metadata",
        ),
    ];
    for (data, extra, field) in cases {
        let e = bpc.pay(&cmd(data, extra)).await.unwrap_err();
        assert_eq!(field_of(e), field);
    }
    assert_eq!(mock.payments_created(), 0);
}

#[tokio::test]
async fn a_wrong_key_is_refused_naming_the_variable() {
    let mock = BpcMock::start_with_key("another-key").await;
    let bpc = adapter_with(&mock, &[]);
    let e = bpc
        .pay(&cmd(json!({"card": card(CARD_OK)}), json!({})))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ProviderError::Rejected { message, .. } if message.contains("BPC_API_KEY")),
        "{e:?}"
    );
}

#[tokio::test]
async fn manual_capture_confirm_partial_void_and_refunds() {
    let (mock, bpc) = setup().await;
    let c = cmd(
        json!({"card": card(CARD_OK), "captureMethod": "manual"}),
        json!({}),
    );
    let out = bpc.pay(&c).await.unwrap();
    assert_eq!(out.state, PaymentState::Authorized);
    let p = payment(&c, out.provider_payment_id.as_deref());
    let captured = bpc.confirm(&p, eur(1000)).await.unwrap();
    assert!(captured.succeeded, "{captured:?}");
    let status = bpc.status(&p).await.unwrap();
    assert_eq!(
        (status.state, status.captured_minor),
        (PaymentState::Captured, Some(1000))
    );
    // Captured: only a refund now; BPC refuses a cancel.
    assert!(matches!(
        bpc.void(&p).await,
        Err(ProviderError::Rejected { .. })
    ));
    let part = bpc.refund(&p, eur(400), "rf_1").await.unwrap();
    assert!(
        part.succeeded() && part.provider_refund_id.is_some(),
        "{part:?}"
    );
    let over = bpc.refund(&p, eur(601), "rf_2").await.unwrap_err();
    assert!(matches!(over, ProviderError::Rejected { .. }), "{over:?}");
    assert!(bpc.refund(&p, eur(600), "rf_3").await.unwrap().succeeded());
    let refunds = mock.refunds();
    assert_eq!(refunds.iter().map(|r| r.amount).sum::<i64>(), 1000);
    assert_eq!(refunds[0].metadata["pgmRefundId"], "rf_1");
    assert!(!bpc.refunds_are_idempotent());

    // Another authorisation, cancelled.
    let c2 = cmd(
        json!({"card": card(CARD_OK), "captureMethod": "manual"}),
        json!({"shopTransactionID": "order-2"}),
    );
    let p2 = payment(
        &c2,
        bpc.pay(&c2).await.unwrap().provider_payment_id.as_deref(),
    );
    assert!(bpc.void(&p2).await.unwrap().succeeded);
    assert_eq!(bpc.status(&p2).await.unwrap().state, PaymentState::Failed);
    assert!(mock.events().contains(&(
        "payment.canceled".into(),
        p2.provider_payment_id.clone().unwrap()
    )));
}

#[tokio::test]
async fn a_lost_create_is_found_by_its_reference_and_absence_is_not_found() {
    let (mock, bpc) = setup().await;
    let c = cmd(json!({"card": card(CARD_3DS)}), json!({}));
    mock.server.faults.push(pgm_mocks::Fault::ResetAfterWork);
    assert!(matches!(
        bpc.pay(&c).await,
        Err(ProviderError::Unavailable(_))
    ));
    let found = bpc.status(&payment(&c, None)).await.unwrap();
    assert_eq!(found.state, PaymentState::Pending);
    assert_eq!(
        found.provider_payment_id,
        Some(mock.payment_ids()[0].clone())
    );
    let other = cmd(
        json!({"card": card(CARD_3DS)}),
        json!({"shopTransactionID": "never-sent"}),
    );
    assert_eq!(
        bpc.status(&payment(&other, None)).await.unwrap_err(),
        ProviderError::NotFound
    );
}

fn webhook(body: &str, headers: &[(&'static str, String)]) -> CallbackRequest {
    let mut map = http::HeaderMap::new();
    for (k, v) in headers {
        map.insert(*k, v.parse().unwrap());
    }
    CallbackRequest {
        method: http::Method::POST,
        query: String::new(),
        headers: map,
        body: body.to_owned().into(),
    }
}

#[tokio::test]
async fn webhooks_are_believed_only_when_signed() {
    let (mock, bpc) = setup().await;
    let out = bpc
        .pay(&cmd(json!({"card": card(CARD_3DS)}), json!({})))
        .await
        .unwrap();
    let id = out.provider_payment_id.unwrap();
    mock.complete_3ds(&id, true).unwrap();
    let body = mock.event_body("payment.succeeded", &id).unwrap();
    let good = bpc
        .callback(&webhook(
            &body,
            &[("x-signature", signature(WEBHOOK_SECRET, &body))],
        ))
        .await
        .unwrap();
    match good {
        CallbackOutcome::Payment {
            verified: Some(s), ..
        } => assert_eq!(s.state, PaymentState::Captured),
        other => panic!("{other:?}"),
    }
    for bad in [
        webhook(&body, &[("x-signature", signature("wrong", &body))]),
        webhook(&body, &[]),
        webhook(
            &body.replace("succeeded", "failed"),
            &[("x-signature", signature(WEBHOOK_SECRET, &body))],
        ),
    ] {
        assert!(matches!(
            bpc.callback(&bad).await,
            Err(ProviderError::InvalidSignature(_))
        ));
    }
    let refund = event_body_for("refund.succeeded", json!({"id": "re_1"}));
    let ignored = bpc
        .callback(&webhook(
            &refund,
            &[("x-signature", signature(WEBHOOK_SECRET, &refund))],
        ))
        .await
        .unwrap();
    assert!(matches!(ignored, CallbackOutcome::Ignored { .. }));
    let mut get = webhook(&body, &[("x-signature", signature(WEBHOOK_SECRET, &body))]);
    get.method = http::Method::GET;
    assert!(matches!(
        bpc.callback(&get).await,
        Err(ProviderError::InvalidCallback(_))
    ));
}

#[tokio::test]
async fn the_signature_scheme_and_paths_are_settings() {
    use base64::Engine;
    let mock = BpcMock::start().await;
    let bpc = adapter_with(
        &mock,
        &[
            ("BPC_WEBHOOK_SIGNATURE_HEADER", "X-Bpc-Signature"),
            ("BPC_WEBHOOK_SIGNATURE_ENCODING", "base64"),
            ("BPC_CAPTURE_PATH", "/payments/{id}/capture-elsewhere"),
        ],
    );
    let body = event_body_for(
        "payment.created",
        json!({"id": "p_1", "status": "requiresAction"}),
    );
    let raw = hex::decode(signature(WEBHOOK_SECRET, &body)).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
    assert!(bpc
        .callback(&webhook(&body, &[("x-bpc-signature", b64)]))
        .await
        .is_ok());
    // The mock serves the default path only: the setting is what was asked for.
    let c = cmd(
        json!({"card": card(CARD_OK), "captureMethod": "manual"}),
        json!({}),
    );
    let p = payment(
        &c,
        bpc.pay(&c).await.unwrap().provider_payment_id.as_deref(),
    );
    assert_eq!(
        bpc.confirm(&p, eur(100)).await.unwrap_err(),
        ProviderError::NotFound
    );
}

#[test]
fn settings_are_checked_at_start() {
    let env = |pairs: &[(&str, &str)]| {
        let mut all = vec![("BPC_API_KEY", "k"), ("BPC_WEBHOOK_SECRET", "s")];
        all.extend_from_slice(pairs);
        BpcConfig::from_env(&Env::from_pairs(all))
    };
    let missing = env(&[]).unwrap_err().to_string();
    assert!(missing.contains("BPC_BASE_URL"), "{missing}");
    let base = ("BPC_BASE_URL", "https://dev.bpcbt.com/api2/");
    let ok = env(&[base]).unwrap();
    assert_eq!(ok.api.base_url, "https://dev.bpcbt.com/api2");
    assert_eq!(ok.api_version, "2023-10-31");
    for (var, bad) in [
        ("BPC_CAPTURE_PATH", "/payments/capture"),
        ("BPC_REFUND_PATH", "refunds"),
        ("BPC_WEBHOOK_SIGNATURE_ENCODING", "md5"),
        ("BPC_FAILED_STATUSES", " , "),
        ("BPC_WEBHOOK_SIGNATURE_HEADER", "bad header"),
    ] {
        let e = env(&[base, (var, bad)]).unwrap_err().to_string();
        assert!(e.contains(var), "{var}: {e}");
    }
    // Debug shows no secret.
    let shown = format!("{ok:?}");
    assert!(
        !shown.contains("\"k\"") && shown.contains("REDACTED"),
        "{shown}"
    );
}
