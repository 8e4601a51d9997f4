//! Scalapay through the PGM's HTTP API, against the Scalapay mock (tests/mocks/src/scalapay.rs):
//! pay creates an order, the buyer authorises it at the mock, a signed webhook or a check makes
//! the PGM capture it (Scalapay charges nothing until then), then refunds. Webhooks are signed
//! `x-scalapay-hmac-v1` with the API key.

use pgm_core::clock::now_ms;
use pgm_e2e::{no_notification, notifications, one_notification, Answer, Receiver, TestServer};
use pgm_mocks::scalapay::{hmac_v1, ScalapayMock, SANDBOX_API_KEY};
use pgm_mocks::Fault;
use serde_json::{json, Value};

struct Setup {
    mock: ScalapayMock,
    receiver: Receiver,
    pgm: TestServer,
}

async fn setup() -> Setup {
    let mock = ScalapayMock::start().await;
    let receiver = Receiver::start().await;
    let pgm = TestServer::start(&[
        ("ENABLED_PROVIDERS", "scalapay"),
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
        ("SCALAPAY_TIMEOUT_MS", "400"),
        ("PAYMENT_CALLBACK_URL", &receiver.url),
    ])
    .await;
    Setup {
        mock,
        receiver,
        pgm,
    }
}

fn pay_body(id: &str, amount: &str) -> Value {
    json!({
        "amount": amount,
        "shopTransactionID": id,
        "buyerEmail": "ada@example.com",
        "providerData": {
            "consumer": {"givenNames": "Ada", "surname": "Lovelace", "phoneNumber": "+393331234567"},
            "shipping": {"name": "Ada Lovelace", "countryCode": "IT", "postcode": "20100",
                         "suburb": "Milano", "line1": "Via Roma 1", "phoneNumber": "+393331234567"},
        },
    })
}

async fn pay_with(pgm: &TestServer, body: &Value) -> Answer {
    pgm.post("/scalapay/scalapay/pay", body).await
}

/// Pays and returns the order token, asserting the redirect to Scalapay's checkout.
async fn pay(s: &Setup, id: &str, amount: &str) -> String {
    let answer = pay_with(&s.pgm, &pay_body(id, amount)).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let pay = answer.json();
    assert_eq!(pay["result"], "REDIRECT_TO_URL", "{pay}");
    let token = pay["paymentID"].as_str().expect("paymentID").to_owned();
    assert_eq!(
        pay["redirectToUrl"].as_str(),
        Some(format!("{}/checkout/{token}", s.mock.url()).as_str())
    );
    token
}

async fn webhook(pgm: &TestServer, body: &str, timestamp: &str, signature: &str) -> Answer {
    pgm.send(
        pgm.client
            .post(format!("{}/scalapay/callback", pgm.url))
            .header("content-type", "application/json")
            .header("x-scalapay-timestamp", timestamp)
            .header("x-scalapay-hmac-v1", signature)
            .body(body.to_owned()),
    )
    .await
}

/// Scalapay's webhook about the order as it is now, signed as Scalapay signs it.
async fn scalapay_calls_back(s: &Setup, token: &str) -> Answer {
    let body = s.mock.webhook_body(token).expect("an order");
    let timestamp = now_ms().to_string();
    webhook(
        &s.pgm,
        &body,
        &timestamp,
        &hmac_v1(SANDBOX_API_KEY, &timestamp, &body),
    )
    .await
}

/// An order the buyer authorised and the PGM captured on Scalapay's webhook.
async fn paid(s: &Setup, id: &str, amount: &str) -> String {
    let token = pay(s, id, amount).await;
    s.mock.authorize_order(&token).unwrap();
    assert_eq!(scalapay_calls_back(s, &token).await.status, 200);
    assert_eq!(s.pgm.status_at("scalapay", id).await["status"], "ACCEPTED");
    token
}

async fn refund(pgm: &TestServer, body: Value) -> Answer {
    pgm.post("/scalapay/scalapay/refund", &body).await
}

#[tokio::test]
async fn an_authorised_order_is_captured_on_its_signed_webhook_and_notified_once() {
    let s = setup().await;
    let token = pay(&s, "sc-1", "190.00").await;
    let order = s.mock.order_json(&token).unwrap();
    assert_eq!(
        order["totalAmount"],
        json!({"amount": "190.00", "currency": "EUR"})
    );
    assert_eq!(order["orderDetails"]["merchantReference"], "sc-1");
    assert_eq!(
        order["orderDetails"]["merchant"]["redirectConfirmUrl"],
        "https://shop.example/thanks"
    );
    assert_eq!(
        s.pgm.status_at("scalapay", "sc-1").await["status"],
        "PENDING"
    );

    // Forged webhooks saying "charged": another key, a tampered body, no signature at all.
    let mut claimed: Value = serde_json::from_str(&s.mock.webhook_body(&token).unwrap()).unwrap();
    claimed["status"] = json!("charged");
    let forged = claimed.to_string();
    let ts = now_ms().to_string();
    webhook(
        &s.pgm,
        &forged,
        &ts,
        &hmac_v1("another-merchants-key", &ts, &forged),
    )
    .await
    .problem(401, "INVALID_SIGNATURE");
    let genuine_pending = s.mock.webhook_body(&token).unwrap();
    webhook(
        &s.pgm,
        &forged,
        &ts,
        &hmac_v1(SANDBOX_API_KEY, &ts, &genuine_pending),
    )
    .await
    .problem(401, "INVALID_SIGNATURE");
    webhook(
        &s.pgm,
        &forged,
        "yesterday",
        &hmac_v1(SANDBOX_API_KEY, "yesterday", &forged),
    )
    .await
    .problem(401, "INVALID_SIGNATURE");
    s.pgm
        .post_raw("/scalapay/callback", "application/json", forged.clone())
        .await
        .problem(401, "INVALID_SIGNATURE");
    assert_eq!(
        s.pgm.status_at("scalapay", "sc-1").await["status"],
        "PENDING"
    );
    assert_eq!(s.mock.captures(), 0);
    no_notification(&s.receiver, "sc-1").await;

    // The buyer authorises the plan; Scalapay's webhook makes the PGM capture the order.
    s.mock.authorize_order(&token).unwrap();
    let body = s.mock.webhook_body(&token).unwrap();
    let ts = now_ms().to_string();
    let signature = hmac_v1(SANDBOX_API_KEY, &ts, &body);
    let answer = webhook(&s.pgm, &body, &ts, &signature).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(s.mock.captures(), 1);
    assert_eq!(s.mock.captured_minor(&token), 19000);
    let status = s.pgm.status_at("scalapay", "sc-1").await;
    assert_eq!(
        (status["status"].as_str(), status["state"].as_str()),
        (Some("ACCEPTED"), Some("CAPTURED"))
    );
    let n = one_notification(&s.receiver, "sc-1", "payment.succeeded").await;
    assert_eq!(n["providerName"], "scalapay");
    assert_eq!(n["paymentID"], token.as_str());

    // Redelivered (Scalapay retries with growing delays, and documents no freshness window,
    // so an old timestamp is not refused): nothing changes, nothing is captured again.
    let again = webhook(&s.pgm, &body, &ts, &signature).await;
    assert_eq!(again.status, 200, "{}", again.text);
    let old = (now_ms() - 3_600_000).to_string();
    let late = webhook(&s.pgm, &body, &old, &hmac_v1(SANDBOX_API_KEY, &old, &body)).await;
    assert_eq!(late.status, 200, "{}", late.text);
    assert_eq!(s.mock.captures(), 1);
    one_notification(&s.receiver, "sc-1", "payment.succeeded").await;
    assert_eq!(s.receiver.for_payment("sc-1").len(), 1);
}

#[tokio::test]
async fn pay_refusals_a_400_naming_the_field_or_a_ko_from_scalapay() {
    let s = setup().await;
    let mut no_shipping = pay_body("sc-ship", "5.00");
    no_shipping["providerData"]
        .as_object_mut()
        .unwrap()
        .remove("shipping");
    let problem = pay_with(&s.pgm, &no_shipping)
        .await
        .problem(400, "VALIDATION_FAILED");
    assert_eq!(problem["field"], "providerData.shipping");
    let mut nobody = pay_body("sc-nobody", "5.00");
    nobody["providerData"]
        .as_object_mut()
        .unwrap()
        .remove("consumer");
    let problem = pay_with(&s.pgm, &nobody)
        .await
        .problem(400, "VALIDATION_FAILED");
    assert_eq!(problem["field"], "providerData.consumer");
    assert_eq!(s.mock.orders_created(), 0);
    assert!(s.mock.requests().is_empty(), "Scalapay was never asked");

    // Scalapay's own validation (an item's price amount is a string, not a number): a definite
    // no, KO.
    let mut no_country = pay_body("sc-country", "5.00");
    no_country["providerData"]["items"] = json!([{"name": "Tea", "category": "food", "sku": "T",
        "quantity": 1, "price": {"amount": 5, "currency": "EUR"}}]);
    let ko = pay_with(&s.pgm, &no_country).await;
    assert_eq!(ko.status, 200, "{}", ko.text);
    assert_eq!(ko.json()["result"], "KO");
    assert!(ko.text.contains("items.0.price.amount"), "{}", ko.text);
    assert_eq!(
        s.pgm.status_at("scalapay", "sc-country").await["status"],
        "FAILED"
    );
    assert_eq!(s.mock.orders_created(), 0);
}

#[tokio::test]
async fn refunds_full_partial_and_several_never_beyond_what_was_captured() {
    let s = setup().await;
    let full = paid(&s, "sc-full", "90.00").await;
    let answer = refund(&s.pgm, json!({"shopTransactionID": "sc-full"})).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json()["refundedAmount"], "90.00");
    let at_scalapay = s.mock.refunds(&full);
    assert_eq!(at_scalapay.len(), 1);
    assert_eq!(at_scalapay[0].amount_minor, 9000);
    assert_eq!(
        at_scalapay[0].merchant_refund_reference.as_deref(),
        answer.json()["refundID"].as_str()
    );
    one_notification(&s.receiver, "sc-full", "refund.succeeded").await;

    let parts = paid(&s, "sc-parts", "100.00").await;
    for (amount, remaining) in [("30.00", "70.00"), ("0.01", "69.99")] {
        let answer = refund(&s.pgm, json!({"paymentID": parts, "amount": amount})).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert_eq!(answer.json()["result"], "OK");
        assert_eq!(answer.json()["remainingAmount"], remaining);
    }
    refund(
        &s.pgm,
        json!({"shopTransactionID": "sc-parts", "amount": "70.00"}),
    )
    .await
    .problem(422, "AMOUNT_EXCEEDS_REMAINING");
    assert_eq!(s.mock.refunds(&parts).len(), 2, "Scalapay was not asked");
    let last = refund(
        &s.pgm,
        json!({"shopTransactionID": "sc-parts", "amount": "69.99"}),
    )
    .await;
    assert_eq!(last.json()["remainingAmount"], "0.00", "{}", last.text);
    let refunded: i64 = s.mock.refunds(&parts).iter().map(|r| r.amount_minor).sum();
    assert_eq!(refunded, 10000);
    // Refunded in full at Scalapay; the payment stays captured (and refunded) at the PGM.
    let status = s.pgm.check_at("scalapay", "sc-parts").await;
    assert_eq!(
        (status["state"].as_str(), status["refundedAmount"].as_str()),
        (Some("CAPTURED"), Some("100.00"))
    );
    notifications(&s.receiver, "sc-parts", "refund.succeeded", 3).await;
}

#[tokio::test]
async fn routes_scalapay_does_not_serve_answer_501() {
    let s = setup().await;
    let token = paid(&s, "sc-501", "5.00").await;
    let requests = s.mock.requests().len();
    let session = json!({"sessionToken": token});
    let mut recurrent = pay_body("sc-rec", "5.00");
    recurrent["recurrenceDetails"] = json!({"isFirstInstallment": true});
    for (path, body) in [
        (
            "/scalapay/scalapay/confirm",
            &json!({"shopTransactionID": "sc-501", "amount": "5.00"}),
        ),
        ("/scalapay/scalapay/pay/recurrent", &recurrent),
        (
            "/scalapay/session/open",
            &json!({"shopTransactionID": "sc-s", "amount": "5.00"}),
        ),
        ("/scalapay/session/confirm", &session),
        ("/scalapay/session/void", &session),
    ] {
        s.pgm
            .post(path, body)
            .await
            .problem(501, "NOT_SUPPORTED_BY_PROVIDER");
    }
    assert_eq!(s.mock.requests().len(), requests);
    // The session routes it does serve take the order token.
    let checked = s.pgm.post("/scalapay/session/check", &session).await;
    assert_eq!(checked.json()["status"], "ACCEPTED", "{}", checked.text);
    let refunded = s
        .pgm
        .post(
            "/scalapay/session/refund",
            &json!({"sessionToken": token, "amount": "1.00"}),
        )
        .await;
    assert_eq!(refunded.json()["result"], "OK", "{}", refunded.text);
    assert_eq!(s.mock.refunds(&token).len(), 1);
}

#[tokio::test]
async fn a_refund_retried_after_a_lost_answer_refunds_once() {
    let s = setup().await;
    let token = paid(&s, "sc-lost-refund", "20.00").await;
    s.mock.server.faults.push(Fault::ResetAfterWork);
    let send = || {
        s.pgm.send(
            s.pgm
                .client
                .post(format!("{}/scalapay/scalapay/refund", s.pgm.url))
                .header("idempotency-key", "refund-sc-lost-1")
                .json(&json!({"shopTransactionID": "sc-lost-refund", "amount": "5.00"})),
        )
    };
    send().await.problem(502, "PROVIDER_UNAVAILABLE");
    assert_eq!(
        s.mock.refunds(&token).len(),
        1,
        "Scalapay refunded, the answer was lost"
    );
    let retried = send().await;
    assert_eq!(retried.json()["result"], "OK", "{}", retried.text);
    // Our refund id was Scalapay's Idempotency-Key: the retry got the same refund back.
    assert_eq!(s.mock.refunds(&token).len(), 1);
    one_notification(&s.receiver, "sc-lost-refund", "refund.succeeded").await;
}

#[tokio::test]
async fn a_pay_lacking_what_scalapay_requires_is_a_400_naming_the_field_and_scalapay_is_never_asked(
) {
    let s = setup().await;
    let without = |path: &[&str]| {
        let mut body = pay_body("sc-required", "5.00");
        let (last, parents) = path.split_last().unwrap();
        let mut at = &mut body;
        for step in parents {
            at = &mut at[*step];
        }
        at.as_object_mut().unwrap().remove(*last).unwrap();
        body
    };
    for (path, field) in [
        (
            &["providerData", "consumer", "phoneNumber"][..],
            "providerData.consumer.phoneNumber",
        ),
        (&["buyerEmail"], "providerData.consumer.email"),
        (
            &["providerData", "shipping", "phoneNumber"],
            "providerData.shipping.phoneNumber",
        ),
        (
            &["providerData", "shipping", "suburb"],
            "providerData.shipping.suburb",
        ),
        (
            &["providerData", "shipping", "countryCode"],
            "providerData.shipping.countryCode",
        ),
    ] {
        let problem = pay_with(&s.pgm, &without(path))
            .await
            .problem(400, "VALIDATION_FAILED");
        assert_eq!(problem["field"], field, "{problem}");
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains("Scalapay")),
            "{problem}"
        );
    }
    assert!(s.mock.requests().is_empty(), "Scalapay was never asked");
    assert_eq!(s.mock.orders_created(), 0);

    // With the data, the same payment goes through: nothing was recorded against it.
    let token = pay(&s, "sc-required", "5.00").await;
    let order = s.mock.order_json(&token).unwrap();
    let details = &order["orderDetails"];
    assert_eq!(details["consumer"]["phoneNumber"], "+393331234567");
    assert_eq!(details["consumer"]["email"], "ada@example.com");
    assert_eq!(details["shipping"]["phoneNumber"], "+393331234567");
    assert_eq!(details["shipping"]["suburb"], "Milano");
}

#[tokio::test]
async fn a_signed_refunded_webhook_is_acknowledged_and_never_fails_or_double_counts() {
    let s = setup().await;
    let token = paid(&s, "sc-refunded-hook", "100.00").await;
    let answer = refund(
        &s.pgm,
        json!({"shopTransactionID": "sc-refunded-hook", "amount": "30.00"}),
    )
    .await;
    assert_eq!(answer.json()["result"], "OK", "{}", answer.text);
    one_notification(&s.receiver, "sc-refunded-hook", "refund.succeeded").await;
    // Scalapay tells of the refund it processed (status `refunded`); twice, as webhooks may
    // come again.
    s.mock.force_status(&token, "refunded").unwrap();
    for _ in 0..2 {
        let hook = scalapay_calls_back(&s, &token).await;
        assert_eq!(hook.status, 200, "{}", hook.text);
    }
    let status = s.pgm.status_at("scalapay", "sc-refunded-hook").await;
    assert_eq!(
        (
            status["status"].as_str(),
            status["state"].as_str(),
            status["refundedAmount"].as_str()
        ),
        (Some("ACCEPTED"), Some("CAPTURED"), Some("30.00")),
        "{status}"
    );
    assert!(s
        .receiver
        .events("sc-refunded-hook", "payment.failed")
        .is_empty());
    one_notification(&s.receiver, "sc-refunded-hook", "refund.succeeded").await;

    // Webhooks come in any order: a `refunded` one about an order the PGM still holds pending
    // (its `charged` webhook not yet in) must not fail it; the order was charged.
    let token = pay(&s, "sc-refunded-early", "40.00").await;
    s.mock.force_status(&token, "refunded").unwrap();
    assert_eq!(scalapay_calls_back(&s, &token).await.status, 200);
    let status = s.pgm.status_at("scalapay", "sc-refunded-early").await;
    assert_ne!(status["status"], "FAILED", "{status}");
    assert!(s
        .receiver
        .events("sc-refunded-early", "payment.failed")
        .is_empty());
}
