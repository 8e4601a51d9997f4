//! Nuvei's official Node SDK (npm `safecharge`, pinned in tests/sdk/safecharge/package.json and
//! its lock file) as the Nuvei mock's client: openOrder, payment (Sale, Auth, a 3-D Secure
//! challenge), getPaymentStatus, refundTransaction, settleTransaction, voidTransaction and a
//! refused checksum. The SDK computes its own checksums and timeStamps, so a mock that checked
//! them wrongly would fail here even if our adapter agreed with it.
//!
//! scripts/test installs the SDK (`npm ci --prefix tests/sdk/safecharge`). A missing SDK fails
//! the test: a skip would look like a pass.

use pgm_mocks::safecharge::{
    SafechargeMock, CARD_APPROVED, CARD_CHALLENGE, MERCHANT_ID, MERCHANT_SITE_ID, SECRET_KEY,
};
use std::path::Path;
use std::process::Command;

#[tokio::test]
async fn the_official_node_sdk_drives_the_mock() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk/safecharge");
    assert!(
        dir.join("node_modules/safecharge/lib/safecharge.js").exists(),
        "Nuvei's Node SDK is not installed: run `npm ci --prefix tests/sdk/safecharge` (scripts/test does)"
    );
    let mock = SafechargeMock::start().await;
    let url = mock.url().to_owned();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(dir.join("safecharge_sdk.js"))
            .args([&url, MERCHANT_ID, MERCHANT_SITE_ID, SECRET_KEY])
            .env("CARD_APPROVED", CARD_APPROVED)
            .env("CARD_CHALLENGE", CARD_CHALLENGE)
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "safecharge_sdk.js failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    // What the SDK did is in the mock's books too.
    let kinds: Vec<String> = mock.transactions().into_iter().map(|t| t.kind).collect();
    for kind in ["Sale", "Credit", "Auth", "Settle", "Void", "Auth3D"] {
        assert!(
            kinds.iter().any(|k| k == kind),
            "{kind} missing in {kinds:?}"
        );
    }
    assert_eq!(mock.requests("getPaymentStatus").len(), 1);
}
