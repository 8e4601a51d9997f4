//! Satispay through the PGM's HTTP API, against the Satispay mock (tests/mocks/src/satispay.rs),
//! which checks the RSA signature of every request. Satispay's callback carries no status and no
//! signature: it is only a trigger, and the PGM believes only what Satispay's API says.

use pgm_e2e::{no_notification, notifications, one_notification, Answer, Receiver, TestServer};
use pgm_mocks::satispay::{
    SatispayMock, API_PREFIX, OTHER_PRIVATE_KEY_PEM, TEST_KEY_ID, TEST_PRIVATE_KEY_PEM, WEB_HOST,
};
use pgm_mocks::{Fault, MockServer};
use serde_json::{json, Value};

struct Setup {
    mock: SatispayMock,
    server: MockServer,
    receiver: Receiver,
    pgm: TestServer,
}

async fn setup() -> Setup {
    setup_signing_with(TEST_PRIVATE_KEY_PEM).await
}

/// A PGM serving only Satispay, signing with `private_key` under the test key id.
async fn setup_signing_with(private_key: &str) -> Setup {
    let mock = SatispayMock::with_test_key();
    let server = MockServer::start(mock.router()).await;
    let receiver = Receiver::start().await;
    let base_url = format!("{}{API_PREFIX}", server.url);
    let pgm = TestServer::start(&[
        ("ENABLED_PROVIDERS", "satispay"),
        ("SATISPAY_IS_SANDBOX", "true"),
        ("SATISPAY_BASE_URL", &base_url),
        ("SATISPAY_KEY_ID", TEST_KEY_ID),
        ("SATISPAY_PRIVATE_KEY", private_key),
        (
            "SATISPAY_AFTER_BUY_WEB_REDIRECT_URL",
            "https://shop.example/after-buy",
        ),
        ("SATISPAY_TIMEOUT_MS", "400"),
        ("PAYMENT_CALLBACK_URL", &receiver.url),
    ])
    .await;
    Setup {
        mock,
        server,
        receiver,
        pgm,
    }
}

fn pay_body(id: &str, amount: &str) -> Value {
    json!({"amount": amount, "shopTransactionID": id})
}

async fn pay_with(pgm: &TestServer, body: &Value) -> Answer {
    pgm.post("/satispay/satispay/pay", body).await
}

/// Pays and returns Satispay's payment id, asserting the redirect to Satispay's page.
async fn pay(s: &Setup, id: &str, amount: &str) -> String {
    let answer = pay_with(&s.pgm, &pay_body(id, amount)).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let pay = answer.json();
    assert_eq!(pay["result"], "REDIRECT_TO_URL", "{pay}");
    let payment_id = pay["paymentID"].as_str().expect("paymentID").to_owned();
    let url = pay["redirectToUrl"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{WEB_HOST}/pay/{payment_id}")),
        "{url}"
    );
    payment_id
}

/// Satispay's call to the PGM: `GET {callback_url}` with the payment id filled in.
async fn satispay_calls_back(s: &Setup, payment_id: &str) -> Answer {
    let url = s.mock.callback_url(payment_id).expect("a callback URL");
    assert!(url.starts_with(&format!("{}/satispay/callback?", s.pgm.url)));
    s.pgm.send(s.pgm.client.get(url)).await
}

/// A payment the buyer accepted, settled through the callback.
async fn paid(s: &Setup, id: &str, amount: &str) -> String {
    let payment_id = pay(s, id, amount).await;
    assert!(s.mock.accept(&payment_id));
    assert_eq!(satispay_calls_back(s, &payment_id).await.status, 200);
    assert_eq!(s.pgm.status_at("satispay", id).await["status"], "ACCEPTED");
    payment_id
}

async fn refund(pgm: &TestServer, body: Value) -> Answer {
    pgm.post("/satispay/satispay/refund", &body).await
}

#[tokio::test]
async fn a_callback_is_only_a_trigger_and_the_accepted_payment_is_notified_once() {
    let s = setup().await;
    let payment_id = pay(&s, "sp-1", "12.40").await;
    let at_satispay = s.mock.payment(&payment_id).unwrap();
    assert_eq!(
        (
            at_satispay.amount_unit,
            at_satispay.currency.as_str(),
            at_satispay.flow.as_str()
        ),
        (1240, "EUR", "MATCH_CODE")
    );
    assert_eq!(at_satispay.external_code.as_deref(), Some("sp-1"));
    assert_eq!(
        at_satispay.redirect_url.as_deref(),
        Some("https://shop.example/after-buy")
    );
    assert_eq!(
        s.pgm.status_at("satispay", "sp-1").await["status"],
        "PENDING"
    );

    // Anyone can call the callback URL. "It's paid", while Satispay says pending, changes
    // nothing: the PGM asks Satispay, which says PENDING.
    let forged = satispay_calls_back(&s, &payment_id).await;
    assert_eq!(forged.status, 200, "{}", forged.text);
    assert_eq!(
        s.pgm.status_at("satispay", "sp-1").await["status"],
        "PENDING"
    );
    no_notification(&s.receiver, "sp-1").await;
    // A callback about a payment the PGM does not have, and one that is not a Satispay id.
    s.pgm
        .get("/satispay/callback?payment_id=0c4f4511-1afa-4b17-b529-ff7465d126c1")
        .await
        .problem(404, "PAYMENT_NOT_FOUND");
    s.pgm
        .get("/satispay/callback?payment_id=..%2Fpayments")
        .await
        .problem(400, "INVALID_CALLBACK");
    s.pgm
        .get("/satispay/callback")
        .await
        .problem(400, "INVALID_CALLBACK");

    // The buyer accepts in the app; Satispay calls back.
    assert!(s.mock.accept(&payment_id));
    let answer = satispay_calls_back(&s, &payment_id).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let status = s.pgm.status_at("satispay", "sp-1").await;
    assert_eq!(
        (
            status["status"].as_str(),
            status["state"].as_str(),
            status["paymentID"].as_str()
        ),
        (
            Some("ACCEPTED"),
            Some("CAPTURED"),
            Some(payment_id.as_str())
        )
    );
    let n = one_notification(&s.receiver, "sp-1", "payment.succeeded").await;
    assert_eq!(n["providerName"], "satispay");
    assert_eq!(n["amount"], "12.40");
    // Satispay may call more than once: still one notification.
    satispay_calls_back(&s, &payment_id).await;
    one_notification(&s.receiver, "sp-1", "payment.succeeded").await;
    assert_eq!(s.receiver.for_payment("sp-1").len(), 1);
    // Every request the PGM made was signed with the merchant's key.
    assert_eq!(s.mock.rejected_signatures(), 0);
    assert!(s.mock.requests().iter().all(|r| r
        .authorization
        .as_deref()
        .is_some_and(|a| a.contains(&format!("keyId=\"{TEST_KEY_ID}\"")))));
}

#[tokio::test]
async fn declined_and_expired_payments_fail_and_are_notified() {
    let s = setup().await;
    let declined = pay(&s, "sp-no", "3.00").await;
    assert!(s.mock.cancel(&declined));
    satispay_calls_back(&s, &declined).await;
    assert_eq!(
        s.pgm.status_at("satispay", "sp-no").await["status"],
        "FAILED"
    );
    let n = one_notification(&s.receiver, "sp-no", "payment.failed").await;
    assert_eq!(n["isSuccessful"], false);

    // Never paid, past its expiration: the next check settles it.
    let expired = pay(&s, "sp-late", "3.00").await;
    assert!(s.mock.expire(&expired));
    assert_eq!(
        s.pgm.check_at("satispay", "sp-late").await["status"],
        "FAILED"
    );
    one_notification(&s.receiver, "sp-late", "payment.failed").await;
    // A payment that failed cannot be accepted later by a forged callback.
    assert!(!s.mock.accept(&expired));
    satispay_calls_back(&s, &expired).await;
    assert_eq!(
        s.pgm.status_at("satispay", "sp-late").await["status"],
        "FAILED"
    );
}

#[tokio::test]
async fn pay_refusals_a_400_naming_the_field_or_a_ko_from_satispay() {
    let s = setup().await;
    let mut dollars = pay_body("sp-usd", "5.00");
    dollars["currency"] = json!("USD");
    let problem = pay_with(&s.pgm, &dollars)
        .await
        .problem(400, "VALIDATION_FAILED");
    assert_eq!(problem["field"], "currency");
    let long_id = "x".repeat(51);
    let problem = pay_with(&s.pgm, &pay_body(&long_id, "5.00"))
        .await
        .problem(400, "VALIDATION_FAILED");
    assert_eq!(problem["field"], "shopTransactionID");
    assert_eq!(s.mock.created_payments(), 0);
    assert!(s.mock.requests().is_empty(), "Satispay was never asked");

    // Signed with a key Satispay does not know under this key id: its 401 is a definite no.
    let wrong = setup_signing_with(OTHER_PRIVATE_KEY_PEM).await;
    let ko = pay_with(&wrong.pgm, &pay_body("sp-key", "5.00")).await;
    assert_eq!(ko.status, 200, "{}", ko.text);
    assert_eq!(ko.json()["result"], "KO");
    assert!(
        ko.text.contains("refused our credentials (401, code 34"),
        "{}",
        ko.text
    );
    assert!(!ko.text.contains("PRIVATE KEY"), "{}", ko.text);
    assert_eq!(wrong.mock.rejected_signatures(), 1);
    assert_eq!(wrong.mock.created_payments(), 0);
    assert_eq!(
        wrong.pgm.status_at("satispay", "sp-key").await["status"],
        "FAILED"
    );
}

#[tokio::test]
async fn refunds_full_partial_and_several_never_beyond_what_was_paid() {
    let s = setup().await;
    let full_id = paid(&s, "sp-full", "20.00").await;
    let full = refund(&s.pgm, json!({"shopTransactionID": "sp-full"})).await;
    assert_eq!(full.status, 200, "{}", full.text);
    assert_eq!(
        (
            full.json()["result"].as_str(),
            full.json()["refundedAmount"].as_str()
        ),
        (Some("OK"), Some("20.00"))
    );
    assert_eq!(s.mock.payment(&full_id).unwrap().refunded_unit, 2000);
    one_notification(&s.receiver, "sp-full", "refund.succeeded").await;

    let parts_id = paid(&s, "sp-parts", "10.00").await;
    for (amount, remaining) in [("2.50", "7.50"), ("4.00", "3.50")] {
        let answer = refund(&s.pgm, json!({"paymentID": parts_id, "amount": amount})).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert_eq!(answer.json()["result"], "OK");
        assert_eq!(answer.json()["remainingAmount"], remaining);
    }
    let refunds = s.mock.refund_count();
    refund(
        &s.pgm,
        json!({"shopTransactionID": "sp-parts", "amount": "3.51"}),
    )
    .await
    .problem(422, "AMOUNT_EXCEEDS_REMAINING");
    assert_eq!(s.mock.refund_count(), refunds, "Satispay was not asked");
    let last = refund(
        &s.pgm,
        json!({"shopTransactionID": "sp-parts", "amount": "3.50"}),
    )
    .await;
    assert_eq!(last.json()["remainingAmount"], "0.00", "{}", last.text);
    assert_eq!(s.mock.payment(&parts_id).unwrap().refunded_unit, 1000);
    // Each refund is a REFUND payment at Satispay against the paid one.
    let refund_payments: Vec<_> = s
        .mock
        .payments()
        .into_iter()
        .filter(|p| p.parent_payment_uid.as_deref() == Some(parts_id.as_str()))
        .collect();
    assert_eq!(refund_payments.len(), 3);
    assert!(refund_payments
        .iter()
        .all(|p| p.kind == "REFUND_TO_BUSINESS" && p.flow == "REFUND"));
    notifications(&s.receiver, "sp-parts", "refund.succeeded", 3).await;
}

#[tokio::test]
async fn a_refund_retried_after_a_lost_answer_refunds_once() {
    let s = setup().await;
    let payment_id = paid(&s, "sp-lost-refund", "20.00").await;
    s.server.faults.push(Fault::ResetAfterWork);
    let send = || {
        s.pgm.send(
            s.pgm
                .client
                .post(format!("{}/satispay/satispay/refund", s.pgm.url))
                .header("idempotency-key", "refund-sp-lost-1")
                .json(&json!({"shopTransactionID": "sp-lost-refund", "amount": "5.00"})),
        )
    };
    send().await.problem(502, "PROVIDER_UNAVAILABLE");
    assert_eq!(
        s.mock.refund_count(),
        1,
        "Satispay refunded, the answer was lost"
    );
    let retried = send().await;
    assert_eq!(retried.json()["result"], "OK", "{}", retried.text);
    // Our refund id was Satispay's Idempotency-Key: the retry got the same refund back.
    assert_eq!(s.mock.refund_count(), 1);
    assert_eq!(s.mock.payment(&payment_id).unwrap().refunded_unit, 500);
    one_notification(&s.receiver, "sp-lost-refund", "refund.succeeded").await;
}
