//! BPC's api2 mock on a fixed port, for trying a bpc pay by hand (README, "BPC").
//!
//! `cargo run -p pgm-mocks --example bpc_mock` serves `http://127.0.0.1:8091/api2` (port from
//! `BPC_MOCK_PORT`), accepts `X-Api-Key` = [`TEST_API_KEY`], and POSTs its signed webhooks to
//! `PGM_CALLBACK` (default `http://127.0.0.1:8080/bpc/callback`) with `BPC_WEBHOOK_SECRET`
//! (default `bpc_whsec_demo`).

use pgm_mocks::bpc::{BpcMock, CARD_3DS, CARD_DECLINED, CARD_OK, TEST_API_KEY};

#[tokio::main]
async fn main() {
    let port = std::env::var("BPC_MOCK_PORT").unwrap_or_else(|_| "8091".into());
    let callback = std::env::var("PGM_CALLBACK")
        .unwrap_or_else(|_| "http://127.0.0.1:8080/bpc/callback".into());
    let secret = std::env::var("BPC_WEBHOOK_SECRET").unwrap_or_else(|_| "bpc_whsec_demo".into());
    let mock = BpcMock::start_on(&format!("127.0.0.1:{port}")).await;
    mock.send_webhooks_to(&callback, &secret);
    println!("BPC mock: BPC_BASE_URL={}", mock.url());
    println!("          BPC_API_KEY={TEST_API_KEY} BPC_WEBHOOK_SECRET={secret}");
    println!("          webhooks to {callback}");
    println!("cards: {CARD_3DS} (3-D Secure), {CARD_OK} (approved), {CARD_DECLINED} (declined)");
    tokio::signal::ctrl_c().await.ok();
}
