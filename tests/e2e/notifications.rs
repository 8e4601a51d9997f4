//! Notifications to PAYMENT_CALLBACK_URL: signed, retried with growing delays, never lost,
//! delivered again after a restart.

use pgm_core::signing::verify_timestamped;
use pgm_e2e::{eventually, Receiver, TestServer};
use std::time::Duration;

const SECRET: &str = "whsec_merchant_notifications";

async fn approve_3ds(pgm: &TestServer, id: &str) {
    let pay = pgm.pay(id, "42.00", "tok_3ds").await.json();
    let url = pay["redirectToUrl"].as_str().expect("redirect").to_owned();
    let answer = pgm.decide_3ds(&url, "approve").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
}

#[tokio::test]
async fn a_notification_carries_the_v2_body_and_a_valid_signature() {
    let receiver = Receiver::start().await;
    let pgm = TestServer::start(&[
        ("PAYMENT_CALLBACK_URL", &receiver.url),
        ("PAYMENT_CALLBACK_SECRET", SECRET),
    ])
    .await;
    approve_3ds(&pgm, "n-1").await;
    assert!(
        eventually(Duration::from_secs(5), || async {
            receiver.for_payment("n-1").len() == 1
        })
        .await
    );
    let n = &receiver.for_payment("n-1")[0];
    let signature = n.signature.as_deref().expect("PGM-Signature header");
    let now = pgm_core::clock::now_ms() / 1000;
    verify_timestamped(SECRET.as_bytes(), signature, &n.raw, now, 300).expect("valid signature");
    assert!(verify_timestamped(b"another secret", signature, &n.raw, now, 300).is_err());
    let body = &n.body;
    assert_eq!(body["providerName"], "sandbox");
    assert_eq!(body["paymentType"], "CREDITCARD");
    assert_eq!(body["isSuccessful"], true);
    assert_eq!(body["resultDescription"], "Transaction completed");
    assert_eq!(body["shopTransactionID"], "n-1");
    assert!(body["paymentID"].as_str().unwrap().starts_with("sbx_"));
    assert_eq!(body["status"], "ACCEPTED");
    assert_eq!(
        (body["amount"].as_str(), body["currency"].as_str()),
        (Some("42.00"), Some("EUR"))
    );
    assert!(body["eventId"].as_str().unwrap().starts_with("evt_"));
    assert_eq!(body["sequence"], 1);
}

#[tokio::test]
async fn failed_deliveries_are_retried_until_the_receiver_answers_2xx() {
    let receiver = Receiver::start().await;
    receiver.answer_with(503);
    let pgm = TestServer::start(&[
        ("PAYMENT_CALLBACK_URL", &receiver.url),
        (
            "PGM_NOTIFY_RETRY_SCHEDULE",
            "100ms,200ms,300ms,400ms,500ms,1s,1s,1s",
        ),
    ])
    .await;
    approve_3ds(&pgm, "n-retry").await;
    assert!(
        eventually(Duration::from_secs(5), || async {
            receiver.for_payment("n-retry").len() >= 3
        })
        .await
    );
    receiver.answer_with(200);
    let attempts_before = receiver.for_payment("n-retry").len();
    assert!(
        eventually(Duration::from_secs(5), || async {
            receiver.for_payment("n-retry").len() > attempts_before
        })
        .await
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let deliveries = receiver.for_payment("n-retry");
    assert_eq!(
        deliveries.len(),
        attempts_before + 1,
        "no delivery after the first 2xx"
    );
    let ids: std::collections::BTreeSet<String> = deliveries
        .iter()
        .map(|n| n.body["eventId"].to_string())
        .collect();
    assert_eq!(ids.len(), 1, "the eventId is stable across redeliveries");
}

#[tokio::test]
async fn a_receiver_down_for_good_gets_a_bounded_number_of_tries() {
    let receiver = Receiver::start().await;
    receiver.answer_with(500);
    let pgm = TestServer::start(&[
        ("PAYMENT_CALLBACK_URL", &receiver.url),
        ("PGM_NOTIFY_RETRY_SCHEDULE", "100ms,100ms"),
    ])
    .await;
    approve_3ds(&pgm, "n-dead").await;
    assert!(
        eventually(Duration::from_secs(5), || async {
            receiver.for_payment("n-dead").len() == 3
        })
        .await
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        receiver.for_payment("n-dead").len(),
        3,
        "parked after the schedule's last try"
    );
}

#[tokio::test]
async fn undelivered_notifications_survive_a_restart() {
    let receiver = Receiver::start().await;
    receiver.answer_with(500);
    let env = [
        ("PAYMENT_CALLBACK_URL", receiver.url.as_str()),
        (
            "PGM_NOTIFY_RETRY_SCHEDULE",
            "300ms,300ms,300ms,300ms,300ms,300ms",
        ),
    ];
    let pgm = TestServer::start(&env).await;
    approve_3ds(&pgm, "n-restart").await;
    assert!(
        eventually(Duration::from_secs(5), || async {
            !receiver.for_payment("n-restart").is_empty()
        })
        .await
    );
    let data_dir = pgm.shut_down();

    receiver.answer_with(200);
    let pgm = TestServer::start_in(data_dir, &env).await;
    assert_eq!(pgm.status_of("n-restart").await["status"], "ACCEPTED");
    assert!(
        eventually(Duration::from_secs(5), || async {
            receiver
                .for_payment("n-restart")
                .last()
                .is_some_and(|n| n.body["isSuccessful"] == true)
        })
        .await
    );
}
