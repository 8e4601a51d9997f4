//! Stripe through the PGM's HTTP API, against the Stripe mock (tests/mocks/src/stripe.rs): pay
//! opens a Checkout Session, the buyer pays at the mock, Stripe's signed webhook or a check
//! settles it, then confirm (manual capture), void and refunds. What Stripe does not serve
//! answers 501; what the network does to a pay leaves it PENDING, never KO.

use pgm_core::clock::now_ms;
use pgm_e2e::{notifications, one_notification, Answer, Receiver, TestServer};
use pgm_mocks::stripe::{signature_header, StripeMock, TEST_SECRET_KEY};
use pgm_mocks::Fault;
use serde_json::{json, Value};
use std::time::Duration;

const WEBHOOK_SECRET: &str = "whsec_e2e_stripe_endpoint";
/// Short, so that a timeout costs the test little; the default is 15 s.
const TIMEOUT_MS: &str = "400";

struct Setup {
    mock: StripeMock,
    receiver: Receiver,
    pgm: TestServer,
}

async fn setup() -> Setup {
    setup_with_key(TEST_SECRET_KEY).await
}

/// A PGM serving only Stripe, pointed at the mock, configured with `secret_key`.
async fn setup_with_key(secret_key: &str) -> Setup {
    setup_with(secret_key, &[]).await
}

async fn setup_with(secret_key: &str, extra: &[(&str, &str)]) -> Setup {
    let mock = StripeMock::start().await;
    let receiver = Receiver::start().await;
    let mut settings = vec![
        ("ENABLED_PROVIDERS", "stripe"),
        ("STRIPE_BASE_URL", mock.url()),
        ("STRIPE_PRIVATE_KEY", secret_key),
        ("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
        ("STRIPE_TIMEOUT_MS", TIMEOUT_MS),
        ("PAYMENT_CALLBACK_URL", &receiver.url),
    ];
    settings.extend_from_slice(extra);
    let pgm = TestServer::start(&settings).await;
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
        "successRedirect": "https://shop.example/paid",
        "failureRedirect": "https://shop.example/cancelled",
    })
}

async fn pay_with(pgm: &TestServer, body: &Value) -> Answer {
    pgm.post("/stripe/stripe/pay", body).await
}

/// Pays and returns the Checkout Session id, asserting the redirect.
async fn open_session(s: &Setup, body: &Value) -> String {
    let answer = pay_with(&s.pgm, body).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let pay = answer.json();
    assert_eq!(pay["result"], "REDIRECT_TO_URL", "{pay}");
    let session = pay["paymentID"].as_str().expect("paymentID").to_owned();
    assert!(session.starts_with("cs_test_"), "{session}");
    assert_eq!(
        pay["redirectToUrl"].as_str(),
        Some(format!("{}/c/pay/{session}", s.mock.url()).as_str())
    );
    session
}

async fn webhook(pgm: &TestServer, body: &str, signature: &str) -> Answer {
    pgm.send(
        pgm.client
            .post(format!("{}/stripe/callback", pgm.url))
            .header("content-type", "application/json")
            .header("stripe-signature", signature)
            .body(body.to_owned()),
    )
    .await
}

fn now_secs() -> i64 {
    now_ms() / 1000
}

/// A Checkout Session paid by the buyer and settled through a signed webhook.
async fn paid(s: &Setup, id: &str, amount: &str) -> String {
    let session = open_session(s, &pay_body(id, amount)).await;
    s.mock.complete_session(&session).expect("buyer pays");
    let event = s
        .mock
        .event_body("checkout.session.completed", &session)
        .unwrap();
    let answer = webhook(
        &s.pgm,
        &event,
        &signature_header(WEBHOOK_SECRET, now_secs(), &event),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(s.pgm.status_at("stripe", id).await["status"], "ACCEPTED");
    session
}

async fn refund(pgm: &TestServer, body: Value) -> Answer {
    pgm.post("/stripe/stripe/refund", &body).await
}

async fn confirm(pgm: &TestServer, id: &str, amount: &str) -> Answer {
    pgm.post(
        "/stripe/stripe/confirm",
        &json!({"shopTransactionID": id, "amount": amount}),
    )
    .await
}

/// The next refund reads the session, then posts the refund: Stripe refunds, and the answer to
/// the post is lost.
fn lose_next_refund_answer(s: &Setup) {
    s.mock.server.faults.push(Fault::Delay(Duration::ZERO));
    s.mock.server.faults.push(Fault::ResetAfterWork);
}

/// A 5.00 refund of `id` under `Idempotency-Key: key`.
async fn keyed_refund(s: &Setup, id: &str, key: &str) -> Answer {
    s.pgm
        .send(
            s.pgm
                .client
                .post(format!("{}/stripe/stripe/refund", s.pgm.url))
                .header("idempotency-key", key)
                .json(&json!({"shopTransactionID": id, "amount": "5.00"})),
        )
        .await
}

fn requests_to(mock: &StripeMock, path_end: &str) -> usize {
    mock.requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with(path_end))
        .count()
}

#[tokio::test]
async fn pay_refusals_a_400_naming_the_field_or_a_ko_from_stripe() {
    let s = setup().await;
    // Checkout needs somewhere to send the buyer back: refused before reaching Stripe.
    let mut body = pay_body("st-no-redirect", "5.00");
    body.as_object_mut().unwrap().remove("successRedirect");
    let problem = pay_with(&s.pgm, &body)
        .await
        .problem(400, "VALIDATION_FAILED");
    assert_eq!(problem["field"], "successRedirect");
    let mut body = pay_body("st-no-cancel", "5.00");
    body.as_object_mut().unwrap().remove("failureRedirect");
    let problem = pay_with(&s.pgm, &body)
        .await
        .problem(400, "VALIDATION_FAILED");
    assert_eq!(problem["field"], "failureRedirect");
    let mut body = pay_body("st-capture", "5.00");
    body["providerData"] = json!({"captureMethod": "later"});
    let problem = pay_with(&s.pgm, &body)
        .await
        .problem(400, "VALIDATION_FAILED");
    assert_eq!(problem["field"], "providerData.captureMethod");
    assert_eq!(s.mock.sessions_created(), 0);
    assert!(s.mock.requests().is_empty(), "Stripe was never asked");
    // The corrected request is a new attempt under the same shopTransactionID.
    open_session(&s, &pay_body("st-no-redirect", "5.00")).await;

    // Stripe's own 4xx: Checkout takes at most 999,999.99. A definite no: KO.
    let ko = pay_with(&s.pgm, &pay_body("st-too-large", "1000000.00")).await;
    assert_eq!(ko.status, 200, "{}", ko.text);
    assert_eq!(ko.json()["result"], "KO");
    assert!(
        ko.json()["resultDescription"]
            .as_str()
            .unwrap()
            .contains("999,999.99"),
        "{}",
        ko.text
    );
    assert_eq!(
        s.pgm.status_at("stripe", "st-too-large").await["status"],
        "FAILED"
    );
    assert_eq!(s.mock.sessions_created(), 1);

    // A key Stripe refuses (401) is a KO that names our variable, never the key.
    let wrong = setup_with_key("sk_test_not_the_right_one_4242").await;
    let ko = pay_with(&wrong.pgm, &pay_body("st-key", "5.00")).await;
    assert_eq!(ko.json()["result"], "KO", "{}", ko.text);
    assert!(ko.text.contains("STRIPE_PRIVATE_KEY"), "{}", ko.text);
    assert!(
        !ko.text.contains("sk_test_not_the_right_one"),
        "{}",
        ko.text
    );
}

#[tokio::test]
async fn an_abandoned_checkout_fails_on_check_and_notifies_once() {
    let s = setup().await;
    let session = open_session(&s, &pay_body("st-gone", "9.99")).await;
    s.mock.expire_session(&session).unwrap();
    let checked = s.pgm.check_at("stripe", "st-gone").await;
    assert_eq!(checked["status"], "FAILED");
    let n = one_notification(&s.receiver, "st-gone", "payment.failed").await;
    assert_eq!(n["isSuccessful"], false);
    // The expired event arriving afterwards changes nothing more.
    let event = s
        .mock
        .event_body("checkout.session.expired", &session)
        .unwrap();
    let answer = webhook(
        &s.pgm,
        &event,
        &signature_header(WEBHOOK_SECRET, now_secs(), &event),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(s.receiver.for_payment("st-gone").len(), 1);
    assert_eq!(s.mock.charges(), 0);
}

#[tokio::test]
async fn manual_capture_authorises_then_confirm_captures_at_most_the_authorised_amount() {
    let s = setup().await;
    let mut body = pay_body("st-auth", "30.00");
    body["providerData"] = json!({"captureMethod": "manual"});
    let session = open_session(&s, &body).await;
    let created = &s.mock.requests()[0];
    assert_eq!(
        created
            .param("payment_intent_data[capture_method]")
            .as_deref(),
        Some("manual")
    );
    s.mock.complete_session(&session).unwrap();
    let checked = s.pgm.check_at("stripe", "st-auth").await;
    assert_eq!(
        (checked["status"].as_str(), checked["state"].as_str()),
        (Some("ACCEPTED"), Some("AUTHORIZED"))
    );
    one_notification(&s.receiver, "st-auth", "payment.authorized").await;
    // Nothing to refund before the capture.
    refund(
        &s.pgm,
        json!({"shopTransactionID": "st-auth", "amount": "1.00"}),
    )
    .await
    .problem(409, "INVALID_PAYMENT_STATE");

    confirm(&s.pgm, "st-auth", "30.01")
        .await
        .problem(422, "AMOUNT_EXCEEDS_REMAINING");
    assert_eq!(requests_to(&s.mock, "/capture"), 0, "Stripe was not asked");
    let captured = confirm(&s.pgm, "st-auth", "20.00").await;
    assert_eq!(captured.status, 200, "{}", captured.text);
    assert_eq!(captured.json()["result"], "OK");
    assert_eq!(captured.json()["capturedAmount"], "20.00");
    assert_eq!(s.mock.amount_received(&session), 2000);
    one_notification(&s.receiver, "st-auth", "payment.captured").await;
    let status = s.pgm.status_at("stripe", "st-auth").await;
    assert_eq!(
        (status["state"].as_str(), status["capturedAmount"].as_str()),
        (Some("CAPTURED"), Some("20.00"))
    );
    // Captured once: a second confirm is refused by the PGM, not sent.
    confirm(&s.pgm, "st-auth", "1.00")
        .await
        .problem(409, "INVALID_PAYMENT_STATE");
    assert_eq!(requests_to(&s.mock, "/capture"), 1);
    // Refunds are bounded by what was captured, not by what was authorised.
    refund(
        &s.pgm,
        json!({"shopTransactionID": "st-auth", "amount": "20.01"}),
    )
    .await
    .problem(422, "AMOUNT_EXCEEDS_REMAINING");
    let all = refund(&s.pgm, json!({"shopTransactionID": "st-auth"})).await;
    assert_eq!(all.json()["refundedAmount"], "20.00", "{}", all.text);
    assert_eq!(s.mock.refunds().len(), 1);
}

#[tokio::test]
async fn session_void_releases_an_authorisation() {
    let s = setup().await;
    let mut body = pay_body("st-void", "8.00");
    body["providerData"] = json!({"captureMethod": "manual"});
    let session = open_session(&s, &body).await;
    let intent = s.mock.complete_session(&session).unwrap();
    assert_eq!(
        s.pgm.check_at("stripe", "st-void").await["state"],
        "AUTHORIZED"
    );
    let void = s
        .pgm
        .post("/stripe/session/void", &json!({"sessionToken": session}))
        .await;
    assert_eq!(void.status, 200, "{}", void.text);
    assert_eq!(
        (
            void.json()["result"].as_str(),
            void.json()["status"].as_str()
        ),
        (Some("OK"), Some("FAILED"))
    );
    assert_eq!(
        s.mock.payment_intent_json(&intent).unwrap()["status"],
        "canceled"
    );
    assert_eq!(
        s.pgm.status_at("stripe", "st-void").await["state"],
        "VOIDED"
    );
    one_notification(&s.receiver, "st-void", "payment.voided").await;
    assert_eq!(s.mock.charges(), 0);
}

#[tokio::test]
async fn a_refund_retried_after_a_lost_answer_refunds_once() {
    let s = setup().await;
    paid(&s, "st-lost-refund", "20.00").await;
    let send = || keyed_refund(&s, "st-lost-refund", "refund-st-lost-1");
    lose_next_refund_answer(&s);
    send().await.problem(502, "PROVIDER_UNAVAILABLE");
    assert_eq!(
        s.mock.refunds().len(),
        1,
        "Stripe refunded, the answer was lost"
    );
    let retried = send().await;
    assert_eq!(retried.json()["result"], "OK", "{}", retried.text);
    // Our refund id was Stripe's Idempotency-Key: the retry got the same refund back.
    assert_eq!(s.mock.refunds().len(), 1);
    assert_eq!(
        s.pgm.status_at("stripe", "st-lost-refund").await["refundedAmount"],
        "5.00"
    );
    one_notification(&s.receiver, "st-lost-refund", "refund.succeeded").await;
}

/// A PGM whose requests count as over after one second, so that a refund left reserved by a
/// lost answer may be settled at once (by default after the 60 s pay lock).
async fn setup_with_short_lock(extra: &[(&str, &str)]) -> Setup {
    let mut settings = vec![("PGM_PAY_LOCK_SECONDS", "1")];
    settings.extend_from_slice(extra);
    setup_with(TEST_SECRET_KEY, &settings).await
}

/// Waits until a request made now is over for the PGM (the pay lock of `setup_with_short_lock`).
async fn let_the_request_be_over() {
    tokio::time::sleep(Duration::from_millis(1100)).await;
}

#[tokio::test]
async fn a_refund_whose_answer_was_lost_is_settled_by_check_from_stripes_books() {
    let s = setup_with_short_lock(&[]).await;
    paid(&s, "st-check-refund", "20.00").await;
    // The refund reads the session, then posts the refund: Stripe refunds, the answer is lost.
    s.mock.server.faults.push(Fault::Delay(Duration::ZERO));
    s.mock.server.faults.push(Fault::ResetAfterWork);
    refund(
        &s.pgm,
        json!({"shopTransactionID": "st-check-refund", "amount": "5.00"}),
    )
    .await
    .problem(502, "PROVIDER_UNAVAILABLE");
    assert_eq!(s.mock.refunds().len(), 1);
    // Reserved, not yet refunded: nothing beyond 15.00 may be refunded meanwhile.
    assert_eq!(
        s.pgm.status_at("stripe", "st-check-refund").await["refundedAmount"],
        "0.00"
    );
    refund(
        &s.pgm,
        json!({"shopTransactionID": "st-check-refund", "amount": "15.01"}),
    )
    .await
    .problem(422, "AMOUNT_EXCEEDS_REMAINING");

    let_the_request_be_over().await;
    let checked = s.pgm.check_at("stripe", "st-check-refund").await;
    assert_eq!(checked["refundedAmount"], "5.00", "{checked}");
    one_notification(&s.receiver, "st-check-refund", "refund.succeeded").await;
    // A second check finds nothing new.
    s.pgm.check_at("stripe", "st-check-refund").await;
    one_notification(&s.receiver, "st-check-refund", "refund.succeeded").await;
    let rest = refund(&s.pgm, json!({"shopTransactionID": "st-check-refund"})).await;
    assert_eq!(rest.json()["refundedAmount"], "15.00", "{}", rest.text);
    let refunded: i64 = s.mock.refunds().iter().map(|r| r.amount).sum();
    assert_eq!(refunded, 2000, "Stripe's books: all of it, once");
}

#[tokio::test]
async fn a_refund_that_never_reached_stripe_is_released_by_the_reconciler() {
    let s = setup_with_short_lock(&[
        ("PGM_STALE_AFTER_SECONDS", "1"),
        ("PGM_RECONCILE_INTERVAL_SECONDS", "1"),
    ])
    .await;
    paid(&s, "st-lost-request", "20.00").await;
    s.mock.server.faults.push(Fault::Delay(Duration::ZERO));
    s.mock.server.faults.push(Fault::Reset);
    let whole_with_key = || {
        s.pgm.send(
            s.pgm
                .client
                .post(format!("{}/stripe/stripe/refund", s.pgm.url))
                .header("idempotency-key", "refund-st-never-1")
                .json(&json!({"shopTransactionID": "st-lost-request", "amount": "20.00"})),
        )
    };
    let first = whole_with_key().await;
    first.problem(502, "PROVIDER_UNAVAILABLE");
    assert!(s.mock.refunds().is_empty());

    // The reconciler asks Stripe, which never heard of the refund: the reservation goes.
    let released = pgm_e2e::eventually(Duration::from_secs(10), || async {
        let refund = refund(
            &s.pgm,
            json!({"shopTransactionID": "st-lost-request", "amount": "20.00"}),
        )
        .await;
        refund.status == 200 && refund.json()["result"] == "OK"
    })
    .await;
    assert!(released, "the whole amount is refundable again");
    assert_eq!(s.mock.refunds().len(), 1);
    assert_eq!(
        s.pgm.status_at("stripe", "st-lost-request").await["refundedAmount"],
        "20.00"
    );
    // The first request, retried with its key, learns it failed; nothing is sent again.
    let retried = whole_with_key().await;
    assert_eq!(retried.status, 200, "{}", retried.text);
    assert_eq!(retried.json()["result"], "KO", "{}", retried.text);
    assert_eq!(s.mock.refunds().len(), 1);
    one_notification(&s.receiver, "st-lost-request", "refund.succeeded").await;
}

/// Stripe's signed event now, as its webhook sender posts it.
async fn stripe_sends(s: &Setup, event: &str) -> Answer {
    webhook(
        &s.pgm,
        event,
        &signature_header(WEBHOOK_SECRET, now_secs(), event),
    )
    .await
}

#[tokio::test]
async fn a_pending_refund_stays_reserved_until_stripes_refund_webhook_settles_it() {
    let s = setup().await;
    paid(&s, "st-pending", "20.00").await;
    s.mock.set_new_refund_status("pending");
    let pending = refund(
        &s.pgm,
        json!({"shopTransactionID": "st-pending", "amount": "5.00"}),
    )
    .await;
    assert_eq!(pending.status, 200, "{}", pending.text);
    let answer = pending.json();
    // Taken by Stripe but not done: OK, said to be pending, nothing refunded yet.
    assert_eq!(
        (
            answer["result"].as_str(),
            answer["refundStatus"].as_str(),
            answer["refundedAmount"].as_str(),
            answer["remainingAmount"].as_str(),
        ),
        (Some("OK"), Some("PENDING"), Some("0.00"), Some("15.00")),
        "{answer}"
    );
    assert!(
        answer["resultDescription"]
            .as_str()
            .unwrap()
            .contains("pending"),
        "{answer}"
    );
    assert_eq!(
        s.pgm.status_at("stripe", "st-pending").await["refundedAmount"],
        "0.00"
    );
    // Its amount stays reserved: never refundable twice.
    refund(
        &s.pgm,
        json!({"shopTransactionID": "st-pending", "amount": "15.01"}),
    )
    .await
    .problem(422, "AMOUNT_EXCEEDS_REMAINING");
    assert!(s
        .receiver
        .events("st-pending", "refund.succeeded")
        .is_empty());

    // Stripe finishes it and says so: refunded, notified once, however often Stripe redelivers.
    let first = s.mock.refunds()[0].id.clone();
    s.mock.finish_refund(&first, "succeeded").unwrap();
    let event = s.mock.refund_event_body("refund.updated", &first).unwrap();
    for _ in 0..2 {
        let answer = stripe_sends(&s, &event).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
    }
    let status = s.pgm.status_at("stripe", "st-pending").await;
    assert_eq!(
        (status["state"].as_str(), status["refundedAmount"].as_str()),
        (Some("CAPTURED"), Some("5.00")),
        "{status}"
    );
    let n = one_notification(&s.receiver, "st-pending", "refund.succeeded").await;
    assert_eq!(n["amount"], "5.00");

    // A second pending refund fails at Stripe (charge.refund.updated, as older API versions
    // send): its amount is refundable again and the merchant, who heard OK, hears it failed.
    let second = refund(
        &s.pgm,
        json!({"shopTransactionID": "st-pending", "amount": "15.00"}),
    )
    .await;
    assert_eq!(second.json()["refundStatus"], "PENDING", "{}", second.text);
    let id = s.mock.refunds()[1].id.clone();
    s.mock.finish_refund(&id, "failed").unwrap();
    let event = s
        .mock
        .refund_event_body("charge.refund.updated", &id)
        .unwrap();
    assert_eq!(stripe_sends(&s, &event).await.status, 200);
    let failed = one_notification(&s.receiver, "st-pending", "refund.failed").await;
    assert_eq!(
        (failed["amount"].as_str(), failed["isSuccessful"].as_bool()),
        (Some("15.00"), Some(false))
    );
    assert_eq!(
        s.pgm.status_at("stripe", "st-pending").await["refundedAmount"],
        "5.00"
    );
    s.mock.set_new_refund_status("succeeded");
    let rest = refund(&s.pgm, json!({"shopTransactionID": "st-pending"})).await;
    assert_eq!(
        (
            rest.json()["refundStatus"].as_str(),
            rest.json()["refundedAmount"].as_str()
        ),
        (Some("SUCCEEDED"), Some("15.00")),
        "{}",
        rest.text
    );
    one_notification(&s.receiver, "st-pending", "payment.succeeded").await;
    notifications(&s.receiver, "st-pending", "refund.succeeded", 2).await;
}

#[tokio::test]
async fn a_pending_refund_without_a_webhook_is_settled_by_check() {
    let s = setup_with_short_lock(&[]).await;
    paid(&s, "st-pending-check", "20.00").await;
    s.mock.set_new_refund_status("requires_action");
    let answer = refund(
        &s.pgm,
        json!({"shopTransactionID": "st-pending-check", "amount": "20.00"}),
    )
    .await;
    assert_eq!(answer.json()["refundStatus"], "PENDING", "{}", answer.text);
    let_the_request_be_over().await;
    // Still pending at Stripe: a check changes nothing.
    let checked = s.pgm.check_at("stripe", "st-pending-check").await;
    assert_eq!(checked["refundedAmount"], "0.00", "{checked}");
    let id = s.mock.refunds()[0].id.clone();
    s.mock.finish_refund(&id, "succeeded").unwrap();
    let checked = s.pgm.check_at("stripe", "st-pending-check").await;
    assert_eq!(checked["refundedAmount"], "20.00", "{checked}");
    one_notification(&s.receiver, "st-pending-check", "refund.succeeded").await;
    assert_eq!(s.mock.refunds().len(), 1);
}

#[tokio::test]
async fn a_refund_retried_after_stripe_pruned_its_key_is_found_not_sent_again() {
    let s = setup().await;
    paid(&s, "st-pruned", "20.00").await;
    let send = || keyed_refund(&s, "st-pruned", "refund-st-pruned-1");
    lose_next_refund_answer(&s);
    send().await.problem(502, "PROVIDER_UNAVAILABLE");
    assert_eq!(
        s.mock.refunds().len(),
        1,
        "Stripe refunded, the answer was lost"
    );
    // More than 24 hours later Stripe has forgotten the key: sending again would refund again.
    s.mock.prune_idempotency_keys();
    let retried = send().await;
    assert_eq!(
        (
            retried.json()["result"].as_str(),
            retried.json()["refundedAmount"].as_str()
        ),
        (Some("OK"), Some("5.00")),
        "{}",
        retried.text
    );
    assert_eq!(s.mock.refunds().len(), 1, "exactly one refund at Stripe");
    assert_eq!(
        s.pgm.status_at("stripe", "st-pruned").await["refundedAmount"],
        "5.00"
    );
    one_notification(&s.receiver, "st-pruned", "refund.succeeded").await;
}

#[tokio::test]
async fn a_manual_capture_session_stripe_reports_unpaid_is_authorised_by_its_webhook() {
    let s = setup().await;
    let mut body = pay_body("st-unpaid-auth", "30.00");
    body["providerData"] = json!({"captureMethod": "manual"});
    let session = open_session(&s, &body).await;
    s.mock.complete_session(&session).unwrap();
    assert_eq!(
        s.mock.session_json(&session).unwrap()["payment_status"],
        "unpaid"
    );
    let event = s
        .mock
        .event_body("checkout.session.completed", &session)
        .unwrap();
    assert_eq!(stripe_sends(&s, &event).await.status, 200);
    let status = s.pgm.status_at("stripe", "st-unpaid-auth").await;
    assert_eq!(
        (status["status"].as_str(), status["state"].as_str()),
        (Some("ACCEPTED"), Some("AUTHORIZED")),
        "{status}"
    );
    one_notification(&s.receiver, "st-unpaid-auth", "payment.authorized").await;
    let captured = confirm(&s.pgm, "st-unpaid-auth", "30.00").await;
    assert_eq!(captured.json()["result"], "OK", "{}", captured.text);
    assert_eq!(s.mock.amount_received(&session), 3000);
}
