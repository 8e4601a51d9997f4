//! Braintree's official Python SDK (PyPI `braintree`) as the mock's client: if the SDK reads
//! what the mock answers (transactions, declines, validation errors, 404s, 401s, client
//! tokens), the mock speaks Braintree's gateway wire format.
//!
//! The script is tests/sdk/braintree_sdk.py, run with `$PGM_PYTHON` (scripts/test installs the
//! SDK into ./.venv); a missing SDK fails the test: a skip would look like a pass.

use pgm_mocks::braintree::BraintreeMock;
use std::path::{Path, PathBuf};
use std::process::Command;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk/braintree_sdk.py")
}

async fn run_phase(phase: &'static str, url: String, state: PathBuf) -> String {
    let python = std::env::var("PGM_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let output = tokio::task::spawn_blocking(move || {
        Command::new(&python)
            .arg(script())
            .arg(phase)
            .args(["--url", &url])
            .arg("--state")
            .arg(&state)
            .output()
            .unwrap_or_else(|e| panic!("cannot run `{python}`: {e}"))
    })
    .await
    .expect("script thread");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "braintree_sdk.py {phase} failed ({}); is the SDK installed (`pip install braintree`, as scripts/test does)?\n\
         --- stdout\n{stdout}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{stdout}");
    stdout
}

#[tokio::test]
async fn the_official_python_sdk_drives_the_mock() {
    let mock = BraintreeMock::start().await;
    let state = std::env::temp_dir().join(format!("pgm-braintree-sdk-{}.json", std::process::id()));
    let out = run_phase("drive", mock.url().to_owned(), state.clone()).await;
    assert!(out.contains("checks passed"), "{out}");

    // Braintree settles in batches; the mock's helper plays the batch.
    let text = std::fs::read_to_string(&state).expect("state");
    let sale: serde_json::Value = serde_json::from_str(&text).expect("state JSON");
    let sale = sale["sale"].as_str().expect("sale id").to_owned();
    mock.settle(&sale).expect("settle");

    let out = run_phase("settled", mock.url().to_owned(), state.clone()).await;
    let _ = std::fs::remove_file(&state);
    assert!(out.contains("checks passed"), "{out}");

    // What the SDK left in the mock's books, seen from the Rust side.
    assert_eq!(mock.refunded_minor("sdk-order-1"), 1000);
    assert_eq!(mock.client_tokens_issued(), 1);
    let t = mock.transaction(&sale).expect("sale");
    assert_eq!(
        t.device_data.as_deref(),
        Some(r#"{"correlation_id":"abc"}"#)
    );
}
