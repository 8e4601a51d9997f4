//! A payment that fails after the pay answer (3DS declined, a pending payment settled FAILED by
//! a check) may be paid again, as after an immediate KO: the same body is told the outcome, a
//! different body starts a new attempt. The failed attempt stays in the payment's history, its
//! notification stays sent, and its late callbacks never touch the new attempt.

use pgm_core::signing::sign_timestamped;
use pgm_e2e::{eventually, Receiver, TestServer, SANDBOX_SECRET};
use pgm_store::PaymentStore;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

async fn start(receiver: &Receiver) -> (TestServer, Arc<dyn PaymentStore>) {
    let mut store = None;
    let pgm = TestServer::start_with(&[("PAYMENT_CALLBACK_URL", &receiver.url)], |p| {
        store = Some(p.store().clone())
    })
    .await;
    (pgm, store.expect("the store"))
}

#[tokio::test]
async fn a_payment_declined_on_the_3ds_page_can_be_paid_again() {
    let receiver = Receiver::start().await;
    let (pgm, store) = start(&receiver).await;
    let first = pgm.pay("lf-3ds", "6.00", "tok_3ds").await.json();
    let first_id = first["paymentID"].as_str().unwrap().to_owned();
    let page = first["redirectToUrl"].as_str().unwrap().to_owned();
    assert_eq!(pgm.decide_3ds(&page, "decline").await.status, 200);
    assert_eq!(pgm.status_of("lf-3ds").await["status"], "FAILED");

    // The same body again: the outcome, not the stale redirect; nothing reaches the provider.
    let same = pgm.pay("lf-3ds", "6.00", "tok_3ds").await;
    assert_eq!(same.status, 200, "{}", same.text);
    assert_eq!(same.header("idempotent-replayed"), Some("true"));
    assert_eq!(same.json()["result"], "KO", "{}", same.text);
    assert_eq!(same.json()["paymentID"], first_id.as_str());
    assert_eq!(pgm.sandbox_charges("lf-3ds").await.len(), 1);

    // Another card: a new attempt, charged.
    let second = pgm.pay("lf-3ds", "6.00", "tok_ok").await;
    assert_eq!(second.status, 200, "{}", second.text);
    assert_eq!(second.json()["result"], "OK", "{}", second.text);
    let second_id = second.json()["paymentID"].as_str().unwrap().to_owned();
    assert_ne!(second_id, first_id);
    assert_eq!(pgm.status_of("lf-3ds").await["status"], "ACCEPTED");

    // The failed attempt is history, with its own notification kept.
    let stored = store.get_payment("lf-3ds").await.unwrap().expect("stored");
    assert_eq!(stored.past_attempts.len(), 1);
    assert_eq!(
        stored.past_attempts[0].provider_payment_id.as_deref(),
        Some(first_id.as_str())
    );
    assert_eq!(
        stored.past_attempts[0].state,
        pgm_core::PaymentState::Failed
    );
    assert!(
        eventually(Duration::from_secs(5), || async {
            receiver.for_payment("lf-3ds").len() == 1
        })
        .await
    );
    let sent = receiver.for_payment("lf-3ds");
    assert_eq!(sent[0].body["eventType"], "payment.failed");
    assert_eq!(sent[0].body["paymentID"], first_id.as_str());

    // A redelivered decline of the first attempt changes nothing now.
    let body = serde_json::to_vec(
        &json!({"chargeId": first_id, "reference": "lf-3ds", "status": "DECLINED"}),
    )
    .unwrap();
    let now = pgm_core::clock::now_ms() / 1000;
    let late = pgm
        .send(
            pgm.client
                .post(format!("{}/sandbox/callback", pgm.url))
                .header("content-type", "application/json")
                .header(
                    "sandbox-signature",
                    sign_timestamped(SANDBOX_SECRET.as_bytes(), now, &body),
                )
                .body(body),
        )
        .await;
    assert!(late.status < 300, "{}", late.text);
    assert_eq!(pgm.status_of("lf-3ds").await["status"], "ACCEPTED");
}

#[tokio::test]
async fn a_pending_payment_settled_failed_by_a_check_can_be_paid_again() {
    let receiver = Receiver::start().await;
    let (pgm, _) = start(&receiver).await;
    let first = pgm.pay("lf-down", "4.00", "tok_unavailable").await;
    assert_eq!(first.json()["result"], "PENDING", "{}", first.text);
    let checked = pgm.get("/sandbox/check?shopTransactionId=lf-down").await;
    assert_eq!(checked.json()["status"], "FAILED", "{}", checked.text);

    let again = pgm.pay("lf-down", "4.00", "tok_ok").await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.json()["result"], "OK", "{}", again.text);
    assert_eq!(pgm.status_of("lf-down").await["status"], "ACCEPTED");
}
