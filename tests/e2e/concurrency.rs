//! Money invariants under real concurrent HTTP requests.

use pgm_e2e::TestServer;
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_identical_pays_charge_once() {
    let pgm = Arc::new(TestServer::start(&[]).await);
    let body =
        json!({"amount": "25.00", "shopTransactionID": "c-dup", "creditCardToken": "tok_ok"});
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (pgm, body) = (pgm.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            pgm.post("/sandbox/credit-cards/pay", &body).await
        }));
    }
    let mut payment_ids = BTreeSet::new();
    let (mut ok, mut in_progress) = (0, 0);
    for task in tasks {
        let answer = task.await.unwrap();
        match answer.status {
            200 => {
                ok += 1;
                assert_eq!(answer.json()["result"], "OK");
                payment_ids.insert(answer.json()["paymentID"].as_str().unwrap().to_owned());
            }
            409 => {
                in_progress += 1;
                answer.problem(409, "REQUEST_IN_PROGRESS");
                assert!(answer.header("retry-after").is_some());
            }
            other => panic!("unexpected {other}: {}", answer.text),
        }
    }
    assert_eq!(ok + in_progress, 50);
    assert!(ok >= 1);
    assert_eq!(
        payment_ids.len(),
        1,
        "every answer carries the same paymentID"
    );
    assert_eq!(
        pgm.sandbox_charges("c-dup").await.len(),
        1,
        "the provider was charged once"
    );

    // Later duplicates replay; a different body under the same id conflicts.
    let replay = pgm.post("/sandbox/credit-cards/pay", &body).await;
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(
        replay.json()["paymentID"].as_str(),
        payment_ids.iter().next().map(String::as_str)
    );
    let different =
        json!({"amount": "26.00", "shopTransactionID": "c-dup", "creditCardToken": "tok_ok"});
    pgm.post("/sandbox/credit-cards/pay", &different)
        .await
        .problem(409, "IDEMPOTENCY_CONFLICT");
    assert_eq!(pgm.sandbox_charges("c-dup").await.len(), 1);
}

#[tokio::test]
async fn after_a_final_ko_a_different_body_may_try_again() {
    let pgm = TestServer::start(&[]).await;
    assert_eq!(
        pgm.pay("c-retry", "5.00", "tok_ko").await.json()["result"],
        "KO"
    );
    let same = pgm.pay("c-retry", "5.00", "tok_ko").await;
    assert_eq!(
        (
            same.json()["result"].as_str(),
            same.header("idempotent-replayed")
        ),
        (Some("KO"), Some("true"))
    );
    let again = pgm.pay("c-retry", "5.00", "tok_ok").await;
    assert_eq!(again.json()["result"], "OK", "{}", again.text);
    assert_eq!(pgm.status_of("c-retry").await["status"], "ACCEPTED");
    // After success, a different body conflicts again.
    pgm.pay("c-retry", "5.00", "tok_ko")
        .await
        .problem(409, "IDEMPOTENCY_CONFLICT");
}

#[tokio::test]
async fn partial_refunds_until_the_paid_amount() {
    let pgm = TestServer::start(&[]).await;
    pgm.pay("c-ref", "10.00", "tok_ok").await;
    let refund = |amount: &'static str| {
        let pgm = &pgm;
        async move {
            pgm.post(
                "/sandbox/credit-cards/refund",
                &json!({"shopTransactionID": "c-ref", "amount": amount}),
            )
            .await
        }
    };
    let first = refund("4.00").await.json();
    assert_eq!(
        (first["result"].as_str(), first["remainingAmount"].as_str()),
        (Some("OK"), Some("6.00"))
    );
    let second = refund("5.00").await.json();
    assert_eq!(
        (
            second["result"].as_str(),
            second["remainingAmount"].as_str()
        ),
        (Some("OK"), Some("1.00"))
    );
    let third = refund("1.01")
        .await
        .problem(422, "AMOUNT_EXCEEDS_REMAINING");
    assert!(third["detail"].as_str().unwrap().contains("1.00"));
    assert_eq!(pgm.status_of("c-ref").await["refundedAmount"], "9.00");
    let refunded: i64 = pgm.sandbox_charges("c-ref").await[0]["refunds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["amount_minor"].as_i64().unwrap())
        .sum();
    assert_eq!(refunded, 900);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_refunds_never_refund_more_than_was_paid() {
    let pgm = Arc::new(TestServer::start(&[]).await);
    pgm.pay("c-race", "10.00", "tok_ok").await;
    // 20 × 0.70 = 14.00 asked for, 10.00 paid: at most 14 can succeed.
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let pgm = pgm.clone();
        tasks.push(tokio::spawn(async move {
            pgm.post(
                "/sandbox/credit-cards/refund",
                &json!({"shopTransactionID": "c-race", "amount": "0.70"}),
            )
            .await
        }));
    }
    let mut succeeded = 0;
    for task in tasks {
        let answer = task.await.unwrap();
        match answer.status {
            200 => {
                assert_eq!(answer.json()["result"], "OK", "{}", answer.text);
                succeeded += 1;
            }
            422 => {
                answer.problem(422, "AMOUNT_EXCEEDS_REMAINING");
            }
            other => panic!("unexpected {other}: {}", answer.text),
        }
    }
    assert_eq!(succeeded, 14, "exactly as many refunds as fit");
    let status = pgm.status_of("c-race").await;
    assert_eq!(status["refundedAmount"], "9.80");
    // The provider's own books agree: never more than was paid.
    let provider_refunded: i64 = pgm.sandbox_charges("c-race").await[0]["refunds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["amount_minor"].as_i64().unwrap())
        .sum();
    assert_eq!(provider_refunded, 980);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_idempotency_key_makes_a_refund_happen_once() {
    let pgm = Arc::new(TestServer::start(&[]).await);
    pgm.pay("c-key", "10.00", "tok_ok").await;
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let pgm = pgm.clone();
        tasks.push(tokio::spawn(async move {
            pgm.send(
                pgm.client
                    .post(format!("{}/sandbox/credit-cards/refund", pgm.url))
                    .header("idempotency-key", "refund-once-1")
                    .json(&json!({"shopTransactionID": "c-key", "amount": "3.00"})),
            )
            .await
        }));
    }
    for task in tasks {
        let answer = task.await.unwrap();
        assert!(
            answer.status == 200 || answer.status == 409,
            "{}",
            answer.text
        );
    }
    assert_eq!(pgm.status_of("c-key").await["refundedAmount"], "3.00");
    let other = pgm
        .send(
            pgm.client
                .post(format!("{}/sandbox/credit-cards/refund", pgm.url))
                .header("idempotency-key", "refund-once-1")
                .json(&json!({"shopTransactionID": "c-key", "amount": "4.00"})),
        )
        .await;
    other.problem(409, "IDEMPOTENCY_CONFLICT");
}
