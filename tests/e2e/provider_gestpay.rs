//! Axerve (GestPay) through the PGM's HTTP API, on both route names (`gestpay` and its alias
//! `axerve`), against the Axerve mock (tests/mocks/src/axerve.rs). Axerve's server notification
//! is not signed: it is only a trigger, and the PGM believes only `payment/detail`.

use pgm_e2e::{no_notification, notifications, one_notification, Answer, Receiver, TestServer};
use pgm_mocks::axerve::{AxerveMock, API_PREFIX, PAYMENT_PAGE};
use pgm_mocks::{Fault, MockServer};
use serde_json::{json, Value};

const SHOP_LOGIN: &str = "GESPAY80790";
const API_KEY: &str = "R0VTUEFZODA3OTAjI0VzZXJjZW50ZQ==";

struct Setup {
    mock: AxerveMock,
    server: MockServer,
    receiver: Receiver,
    pgm: TestServer,
}

async fn setup() -> Setup {
    setup_with_key(API_KEY).await
}

/// A PGM serving only GestPay, pointed at the mock, configured with `api_key`.
async fn setup_with_key(api_key: &str) -> Setup {
    let mock = AxerveMock::new(SHOP_LOGIN, API_KEY);
    let server = MockServer::start(mock.router()).await;
    let receiver = Receiver::start().await;
    let base_url = format!("{}{API_PREFIX}", server.url);
    let pgm = TestServer::start(&[
        ("ENABLED_PROVIDERS", "gestpay"),
        ("GESTPAY_IS_SANDBOX", "true"),
        ("GESTPAY_BASE_URL", &base_url),
        ("GESTPAY_API_KEY", api_key),
        ("GESTPAY_SHOP_LOGIN", SHOP_LOGIN),
        ("GESTPAY_TIMEOUT_MS", "400"),
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
    json!({
        "amount": amount,
        "shopTransactionID": id,
        "buyerName": "Ada Lovelace",
        "buyerEmail": "ada@example.com",
        "successRedirect": "https://shop.example/ok",
        "failureRedirect": "https://shop.example/ko",
    })
}

async fn pay_with(pgm: &TestServer, body: &Value) -> Answer {
    pgm.post("/gestpay/credit-cards/pay", body).await
}

/// Pays and returns Axerve's paymentID, asserting the redirect to the hosted page.
async fn pay(s: &Setup, id: &str, amount: &str) -> String {
    let answer = pay_with(&s.pgm, &pay_body(id, amount)).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let pay = answer.json();
    assert_eq!(pay["result"], "REDIRECT_TO_URL", "{pay}");
    let payment_id = pay["paymentID"].as_str().expect("paymentID").to_owned();
    let url = pay["redirectToUrl"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{PAYMENT_PAGE}?paymentID={payment_id}&")),
        "{url}"
    );
    payment_id
}

/// Axerve's server-to-server call: the notification URL with `a` (shop) and `b` appended.
async fn axerve_calls_back(s: &Setup, payment_id: &str) -> Answer {
    let url = s
        .mock
        .notification_url(payment_id)
        .expect("a notification URL");
    assert!(
        url.starts_with(&format!("{}/gestpay/callback?", s.pgm.url)),
        "{url}"
    );
    s.pgm.send(s.pgm.client.get(url)).await
}

/// An approved and settled payment, learnt through the notification.
async fn paid(s: &Setup, id: &str, amount: &str) -> String {
    let payment_id = pay(s, id, amount).await;
    assert!(s.mock.approve(&payment_id));
    assert_eq!(axerve_calls_back(s, &payment_id).await.status, 200);
    assert_eq!(s.pgm.status_at("gestpay", id).await["status"], "ACCEPTED");
    payment_id
}

async fn refund(pgm: &TestServer, body: Value) -> Answer {
    pgm.post("/gestpay/credit-cards/refund", &body).await
}

#[tokio::test]
async fn a_notification_is_only_a_trigger_and_the_approved_payment_is_notified_once() {
    let s = setup().await;
    let payment_id = pay(&s, "gp-1", "27.30").await;
    let at_axerve = s.mock.payment(&payment_id).unwrap();
    assert_eq!(
        (
            at_axerve.amount_minor,
            at_axerve.currency.as_str(),
            at_axerve.shop_transaction_id.as_str()
        ),
        (2730, "EUR", "gp-1")
    );
    assert_eq!(at_axerve.payment_type, ["CREDITCARD"]);
    assert_eq!(
        at_axerve.buyer_ok.as_deref(),
        Some("https://shop.example/ok")
    );

    // The notification URL is public and unsigned: "it's paid" while Axerve says the buyer has
    // not submitted anything changes nothing.
    let forged = axerve_calls_back(&s, &payment_id).await;
    assert_eq!(forged.status, 200, "{}", forged.text);
    assert_eq!(
        s.pgm.status_at("gestpay", "gp-1").await["status"],
        "PENDING"
    );
    no_notification(&s.receiver, "gp-1").await;
    // For another shop, or naming nothing: refused.
    s.pgm
        .get("/gestpay/callback?shopTransactionID=gp-1&a=GESPAY00000&b=X")
        .await
        .problem(400, "INVALID_CALLBACK");
    s.pgm
        .get(&format!("/gestpay/callback?a={SHOP_LOGIN}&b=0A1B2C"))
        .await
        .problem(400, "INVALID_CALLBACK");
    s.pgm
        .get("/gestpay/callback?shopTransactionID=gp-unknown")
        .await
        .problem(404, "PAYMENT_NOT_FOUND");

    // The buyer pays on the hosted page; Axerve calls the notification URL.
    assert!(s.mock.approve(&payment_id));
    let answer = axerve_calls_back(&s, &payment_id).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let status = s.pgm.status_at("gestpay", "gp-1").await;
    assert_eq!(
        (status["status"].as_str(), status["state"].as_str()),
        (Some("ACCEPTED"), Some("CAPTURED"))
    );
    let n = one_notification(&s.receiver, "gp-1", "payment.succeeded").await;
    assert_eq!(n["providerName"], "gestpay");
    assert_eq!(n["paymentID"], payment_id.as_str());
    axerve_calls_back(&s, &payment_id).await;
    one_notification(&s.receiver, "gp-1", "payment.succeeded").await;
    assert_eq!(s.receiver.for_payment("gp-1").len(), 1);
}

#[tokio::test]
async fn the_axerve_alias_reaches_the_same_payments() {
    let s = setup().await;
    let answer = s
        .pgm
        .post("/axerve/pay-pal/pay", &pay_body("gp-alias", "4.00"))
        .await;
    assert_eq!(
        answer.json()["result"],
        "REDIRECT_TO_URL",
        "{}",
        answer.text
    );
    let payment_id = answer.json()["paymentID"].as_str().unwrap().to_owned();
    assert_eq!(
        s.mock.payment(&payment_id).unwrap().payment_type,
        ["PAYPAL"]
    );
    assert!(s.mock.approve(&payment_id));
    let checked = s
        .pgm
        .get(&format!("/axerve/check?paymentId={payment_id}"))
        .await;
    assert_eq!(checked.json()["status"], "ACCEPTED", "{}", checked.text);
    assert_eq!(
        s.pgm.status_at("gestpay", "gp-alias").await["state"],
        "CAPTURED"
    );
    // The same body on the other name is the same pay: a replay.
    let again = s
        .pgm
        .post("/gestpay/pay-pal/pay", &pay_body("gp-alias", "4.00"))
        .await;
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(s.mock.created_payments(), 1);
}

#[tokio::test]
async fn pay_refusals_a_400_naming_the_field_or_a_ko_from_axerve() {
    let s = setup().await;
    let problem = pay_with(&s.pgm, &pay_body("gp-bad", "5.001"))
        .await
        .problem(400, "VALIDATION_FAILED");
    assert_eq!(problem["field"], "amount");
    let mut bad_email = pay_body("gp-mail", "5.00");
    bad_email["buyerEmail"] = json!("ada.example.com");
    let problem = pay_with(&s.pgm, &bad_email)
        .await
        .problem(400, "VALIDATION_FAILED");
    assert_eq!(problem["field"], "buyerEmail");
    s.pgm
        .post("/gestpay/scalapay/pay", &pay_body("gp-method", "5.00"))
        .await
        .problem(404, "METHOD_NOT_FOUND");
    assert_eq!(s.mock.created_payments(), 0);

    // Axerve keeps shopTransactionID to 50 characters (error 1116); the PGM takes up to 128.
    let long_id = "o".repeat(51);
    let ko = pay_with(&s.pgm, &pay_body(&long_id, "5.00")).await;
    assert_eq!(ko.status, 200, "{}", ko.text);
    assert_eq!(ko.json()["result"], "KO");
    assert!(ko.text.contains("1116"), "{}", ko.text);
    assert_eq!(
        s.pgm.status_at("gestpay", &long_id).await["status"],
        "FAILED"
    );

    // A refused API key (403 1166) is a KO that does not echo the key.
    let wrong = setup_with_key("bm90LXRoZS1rZXk=").await;
    let ko = pay_with(&wrong.pgm, &pay_body("gp-key", "5.00")).await;
    assert_eq!(ko.json()["result"], "KO", "{}", ko.text);
    assert!(ko.text.contains("1166"), "{}", ko.text);
    assert!(!ko.text.contains("bm90LXRoZS1rZXk="), "{}", ko.text);
    assert_eq!(wrong.mock.created_payments(), 0);
}

#[tokio::test]
async fn refunds_full_partial_and_several_never_beyond_what_was_settled() {
    let s = setup().await;
    let full_id = paid(&s, "gp-full", "20.00").await;
    let full = refund(
        &s.pgm,
        json!({"shopTransactionID": "gp-full", "amount": "20.00"}),
    )
    .await;
    assert_eq!(full.status, 200, "{}", full.text);
    assert_eq!(full.json()["result"], "OK");
    assert_eq!(s.mock.payment(&full_id).unwrap().refunded_minor, 2000);
    one_notification(&s.receiver, "gp-full", "refund.succeeded").await;

    let parts_id = paid(&s, "gp-parts", "72.50").await;
    for (amount, remaining) in [("20.00", "52.50"), ("0.50", "52.00"), ("2.00", "50.00")] {
        let answer = refund(&s.pgm, json!({"paymentID": parts_id, "amount": amount})).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert_eq!(answer.json()["remainingAmount"], remaining);
    }
    let refunds = s.mock.refund_count();
    refund(
        &s.pgm,
        json!({"shopTransactionID": "gp-parts", "amount": "50.01"}),
    )
    .await
    .problem(422, "AMOUNT_EXCEEDS_REMAINING");
    assert_eq!(s.mock.refund_count(), refunds, "Axerve was not asked");
    let rest = refund(&s.pgm, json!({"shopTransactionID": "gp-parts"})).await;
    assert_eq!(rest.json()["refundedAmount"], "50.00", "{}", rest.text);
    let at_axerve = s.mock.payment(&parts_id).unwrap();
    assert_eq!(at_axerve.refunded_minor, 7250);
    let sto: Vec<i64> = at_axerve
        .events
        .iter()
        .filter(|(kind, _)| kind == "STO")
        .map(|(_, amount)| *amount)
        .collect();
    assert_eq!(sto, [2000, 50, 200, 5000]);
    notifications(&s.receiver, "gp-parts", "refund.succeeded", 4).await;
}

#[tokio::test]
async fn an_authorisation_is_captured_by_confirm_up_to_the_authorised_amount() {
    let s = setup().await;
    s.mock.set_auto_settle(false);
    let payment_id = pay(&s, "gp-auth", "10.00").await;
    assert!(s.mock.approve(&payment_id));
    let checked = s.pgm.check_at("gestpay", "gp-auth").await;
    assert_eq!(
        (checked["status"].as_str(), checked["state"].as_str()),
        (Some("ACCEPTED"), Some("AUTHORIZED"))
    );
    one_notification(&s.receiver, "gp-auth", "payment.authorized").await;
    refund(
        &s.pgm,
        json!({"shopTransactionID": "gp-auth", "amount": "1.00"}),
    )
    .await
    .problem(409, "INVALID_PAYMENT_STATE");

    let confirm = |amount: &'static str| {
        let pgm = &s.pgm;
        async move {
            pgm.post(
                "/gestpay/credit-cards/confirm",
                &json!({"shopTransactionID": "gp-auth", "amount": amount}),
            )
            .await
        }
    };
    confirm("10.01")
        .await
        .problem(422, "AMOUNT_EXCEEDS_REMAINING");
    assert_eq!(s.mock.capture_count(), 0, "Axerve was not asked");
    let captured = confirm("8.00").await;
    assert_eq!(captured.status, 200, "{}", captured.text);
    assert_eq!(captured.json()["result"], "OK");
    assert_eq!(captured.json()["capturedAmount"], "8.00");
    let at_axerve = s.mock.payment(&payment_id).unwrap();
    assert_eq!(
        (at_axerve.state.as_str(), at_axerve.captured_minor),
        ("MOV", 800)
    );
    one_notification(&s.receiver, "gp-auth", "payment.captured").await;
    confirm("1.00").await.problem(409, "INVALID_PAYMENT_STATE");
    assert_eq!(s.mock.capture_count(), 1);
    refund(
        &s.pgm,
        json!({"shopTransactionID": "gp-auth", "amount": "8.01"}),
    )
    .await
    .problem(422, "AMOUNT_EXCEEDS_REMAINING");
    let all = refund(&s.pgm, json!({"shopTransactionID": "gp-auth"})).await;
    assert_eq!(all.json()["refundedAmount"], "8.00", "{}", all.text);
    assert_eq!(s.mock.payment(&payment_id).unwrap().refunded_minor, 800);
}

/// Axerve has no idempotency key for refunds: when a refund's answer is lost, a retry must not
/// send it again. It stays reserved (so nothing can be refunded twice) and the caller is told.
#[tokio::test]
async fn a_refund_retried_after_a_lost_answer_is_never_sent_twice() {
    let s = setup().await;
    let payment_id = paid(&s, "gp-lost-refund", "20.00").await;
    s.server.faults.push(Fault::ResetAfterWork);
    let send = || {
        s.pgm.send(
            s.pgm
                .client
                .post(format!("{}/gestpay/credit-cards/refund", s.pgm.url))
                .header("idempotency-key", "refund-gp-lost-1")
                .json(&json!({"shopTransactionID": "gp-lost-refund", "amount": "5.00"})),
        )
    };
    send().await.problem(502, "PROVIDER_UNAVAILABLE");
    send().await.problem(409, "REFUND_OUTCOME_UNKNOWN");
    assert_eq!(
        s.mock.payment(&payment_id).unwrap().refunded_minor,
        500,
        "Axerve refunded once"
    );
    let status = s.pgm.status_at("gestpay", "gp-lost-refund").await;
    assert_eq!(
        status["refundedAmount"], "0.00",
        "not recorded as refunded while in doubt"
    );
    // The reservation still counts: what remains is 15.00, not 20.00.
    s.pgm
        .post(
            "/gestpay/credit-cards/refund",
            &json!({"shopTransactionID": "gp-lost-refund", "amount": "15.01"}),
        )
        .await
        .problem(422, "AMOUNT_EXCEEDS_REMAINING");
}
