//! SIGKILL the real `pgm-local` process mid-way and start it again on the same data dir:
//! payments and pending notifications are still there, and the notification is delivered.

use pgm_e2e::{eventually, Receiver};
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(port: u16, data_dir: &std::path::Path, receiver: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_pgm-local"))
        .env_clear()
        .env("HTTP_PORT", port.to_string())
        .env("PGM_DATA_DIR", data_dir)
        .env("PAYMENT_CALLBACK_URL", receiver)
        .env(
            "PGM_NOTIFY_RETRY_SCHEDULE",
            "200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms",
        )
        .env("SANDBOX_WEBHOOK_SECRET", "whsec_crash_test")
        .env("LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("pgm-local starts")
}

async fn wait_ready(client: &reqwest::Client, base: &str) {
    let ready = eventually(Duration::from_secs(20), || async {
        client
            .get(format!("{base}/documentation/openapi.json"))
            .send()
            .await
            .is_ok()
    })
    .await;
    assert!(ready, "pgm-local did not start listening");
}

async fn post(client: &reqwest::Client, url: String, body: Value) -> Value {
    client
        .post(url)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn sigkill_loses_neither_payments_nor_pending_notifications() {
    let receiver = Receiver::start().await;
    receiver.answer_with(500);
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://localhost:{port}");
    let client = reqwest::Client::new();

    let mut pgm = spawn(port, data.path(), &receiver.url);
    wait_ready(&client, &base).await;
    let paid = post(
        &client,
        format!("{base}/sandbox/credit-cards/pay"),
        json!({"amount": "3.00", "shopTransactionID": "k-paid", "creditCardToken": "tok_ok"}),
    )
    .await;
    assert_eq!(paid["result"], "OK");
    let three_ds = post(
        &client,
        format!("{base}/sandbox/credit-cards/pay"),
        json!({"amount": "4.00", "shopTransactionID": "k-3ds", "creditCardToken": "tok_3ds"}),
    )
    .await;
    let page = three_ds["redirectToUrl"].as_str().unwrap().to_owned();
    // The buyer opens the page and presses Approve (the form carries the page's token).
    let html = client
        .get(&page)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    client
        .post(page)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(pgm_mocks::sandbox_page::decision_form(&html, "approve"))
        .send()
        .await
        .unwrap();
    // The notification is written and failing to go out.
    assert!(
        eventually(Duration::from_secs(5), || async {
            !receiver.for_payment("k-3ds").is_empty()
        })
        .await
    );
    pgm.kill().expect("SIGKILL");
    pgm.wait().unwrap();

    receiver.answer_with(200);
    let mut pgm = spawn(port, data.path(), &receiver.url);
    wait_ready(&client, &base).await;
    for (id, state) in [("k-paid", "CAPTURED"), ("k-3ds", "CAPTURED")] {
        let status: Value = client
            .get(format!("{base}/sandbox/status?shopTransactionId={id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(status["state"], state, "{id}: {status}");
    }
    let delivered = eventually(Duration::from_secs(10), || async {
        receiver.for_payment("k-3ds").len() >= 2
    })
    .await;
    pgm.kill().unwrap();
    pgm.wait().unwrap();
    assert!(
        delivered,
        "the pending notification was delivered after the restart"
    );
    // A replayed pay after the restart still answers from the store: charged once.
    assert_eq!(
        receiver.for_payment("k-paid").len(),
        0,
        "a synchronous OK is answered, not notified"
    );
}
