//! The real `pgm-ops` binary against a running local PGM's embedded store (two processes on
//! one SQLite file, as an operator would use it).

use pgm_e2e::{eventually, Receiver, TestServer};
use serde_json::Value;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

fn pgm_ops(data_dir: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_pgm-ops"))
        .env_clear()
        .env("PGM_DATA_DIR", data_dir)
        .env("SANDBOX_WEBHOOK_SECRET", pgm_e2e::SANDBOX_SECRET)
        .args(args)
        .output()
        .expect("pgm-ops runs")
}

fn json_of(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "pgm-ops failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

#[tokio::test]
async fn inspect_redrive_and_reconcile_on_the_embedded_store() {
    let receiver = Receiver::start().await;
    receiver.answer_with(500);
    let data_dir = tempfile::tempdir().expect("tempdir");
    let path = data_dir.path().to_owned();
    let pgm = TestServer::start_in(
        data_dir,
        &[
            ("PAYMENT_CALLBACK_URL", receiver.url.as_str()),
            // Two tries 100 ms apart, then the notification is parked.
            ("PGM_NOTIFY_RETRY_SCHEDULE", "100ms"),
        ],
    )
    .await;
    let paid = pgm.pay("ops-1", "9.90", "tok_3ds").await.json();
    let approved = pgm
        .decide_3ds(paid["redirectToUrl"].as_str().expect("redirect"), "approve")
        .await;
    assert_eq!(approved.status, 200, "{}", approved.text);
    assert!(
        eventually(Duration::from_secs(5), || async {
            receiver.for_payment("ops-1").len() == 2
        })
        .await
    );

    // inspect: the payment and its parked notification.
    let parked = eventually(Duration::from_secs(5), || async {
        json_of(&pgm_ops(&path, &["inspect", "ops-1"]))["outbox"][0]["parked"] == true
    })
    .await;
    assert!(parked, "the notification is parked after its last try");
    let inspected = json_of(&pgm_ops(&path, &["inspect", "ops-1"]));
    assert_eq!(
        inspected["payment"]["shop_transaction_id"], "ops-1",
        "{inspected}"
    );
    assert_eq!(inspected["payment"]["state"], "CAPTURED", "{inspected}");
    assert_eq!(inspected["outbox"][0]["attempts"], 2, "{inspected}");
    assert_eq!(inspected["outbox"][0]["event"]["status"], "ACCEPTED");

    // redrive: un-parked, and the running PGM delivers it to the mended receiver.
    receiver.answer_with(200);
    let redriven = json_of(&pgm_ops(&path, &["redrive"]));
    assert_eq!(redriven["redriven"], 1, "{redriven}");
    assert!(
        eventually(Duration::from_secs(5), || async {
            receiver.for_payment("ops-1").len() == 3
        })
        .await,
        "the redriven notification is delivered"
    );
    assert!(
        eventually(Duration::from_secs(5), || async {
            json_of(&pgm_ops(&path, &["inspect", "ops-1"]))["outbox"] == serde_json::json!([])
        })
        .await
    );
    let again = json_of(&pgm_ops(&path, &["redrive"]));
    assert_eq!(again["redriven"], 0, "{again}");

    // reconcile: one pass; nothing is stale.
    let report = json_of(&pgm_ops(&path, &["reconcile"]));
    assert_eq!(report["examined"], 0, "{report}");
    assert_eq!(report["resent"], 0, "{report}");
    drop(pgm);
}

#[test]
fn usage_and_failures_exit_non_zero_with_a_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let usage = pgm_ops(dir.path(), &[]);
    assert_eq!(usage.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&usage.stderr).contains("usage: pgm-ops"));
    let unknown = pgm_ops(dir.path(), &["inspect", "no-such-order"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no-such-order"));
    let bad_config = std::process::Command::new(env!("CARGO_BIN_EXE_pgm-ops"))
        .env_clear()
        .env("PGM_STORE", "dynamodb")
        .arg("reconcile")
        .output()
        .expect("pgm-ops runs");
    assert_eq!(bad_config.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_config.stderr).contains("PGM_TABLE_NAME"));
}
