//! Stripe's official Python SDK (PyPI `stripe`) as the mock's client: if the SDK parses what the
//! mock answers (objects, lists and pagination, error envelopes, webhook signatures), the mock
//! speaks Stripe's wire format, which our own adapter agreeing with it could not prove.
//!
//! The script is tests/sdk/stripe_sdk.py, run with `$PGM_PYTHON` (scripts/test installs the SDK
//! into ./.venv and points it there; `python3` otherwise). A missing SDK fails the test: a skip
//! would look like a pass.

use pgm_mocks::stripe::{signature_header, StripeMock, TEST_SECRET_KEY};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

const WEBHOOK_SECRET: &str = "whsec_pgm_sdk_test";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk/stripe_sdk.py")
}

/// Runs one phase of the script (blocking, off the runtime that serves the mock) and panics with
/// everything it printed unless it succeeded.
async fn run_phase(phase: &'static str, mock_url: String, state: PathBuf) -> String {
    let python = std::env::var("PGM_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let output = tokio::task::spawn_blocking(move || {
        Command::new(&python)
            .arg(script())
            .arg(phase)
            .args(["--api-base", &mock_url, "--api-key", TEST_SECRET_KEY])
            .arg("--state")
            .arg(&state)
            .output()
            .unwrap_or_else(|e| panic!("cannot run `{python}`: {e}"))
    })
    .await
    .expect("script thread");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stripe_sdk.py {phase} failed ({}); is the SDK installed (`pip install stripe`, as scripts/test does)?\n\
         --- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
    println!("{stdout}");
    stdout.into_owned()
}

fn read_state(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("state file");
    serde_json::from_str(&text).expect("state JSON")
}

#[tokio::test]
async fn the_official_python_sdk_drives_the_mock() {
    let mock = StripeMock::start().await;
    let state_path = std::env::temp_dir().join(format!(
        "pgm-stripe-sdk-{}-{}.json",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));

    run_phase("create", mock.url().to_owned(), state_path.clone()).await;

    // The buyer pays on the hosted page: Stripe has no API for that, so the mock's helpers play it.
    let mut state = read_state(&state_path);
    let auto = state["auto_session"]
        .as_str()
        .expect("auto_session")
        .to_owned();
    let manual = state["manual_session"]
        .as_str()
        .expect("manual_session")
        .to_owned();
    mock.complete_session(&auto).expect("pay auto");
    mock.complete_session(&manual).expect("pay manual");

    // Stripe's webhook sender: the event the SDK must accept, signed now (it checks the age).
    let payload = mock
        .event_body("checkout.session.completed", &auto)
        .expect("event");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    state["event_payload"] = payload.clone().into();
    state["event_header"] = signature_header(WEBHOOK_SECRET, now, &payload).into();
    state["webhook_secret"] = WEBHOOK_SECRET.into();
    std::fs::write(&state_path, state.to_string()).expect("write state");

    let result = run_phase("paid", mock.url().to_owned(), state_path.clone()).await;
    let _ = std::fs::remove_file(&state_path);
    assert!(result.contains("checks passed"), "{result}");

    // What the SDK left in the mock's books, seen from the Rust side.
    let refunds = mock.refunds();
    assert_eq!(refunds.len(), 4, "{refunds:?}");
    assert_eq!(mock.amount_received(&manual), 4000);
}
