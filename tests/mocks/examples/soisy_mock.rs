//! Soisy's order API mock on a fixed port, for trying a soisy pay by hand (README, "Soisy").
//!
//! `cargo run -p pgm-mocks --example soisy_mock` serves `http://127.0.0.1:8092` (port from
//! `SOISY_MOCK_PORT`) for shop `partnershop` with key `partnerkey` (Soisy's public sandbox
//! credentials). Play Soisy with `POST /_mock/orders/{token}/events/{eventId}`: the order moves as
//! the event says, and the answer is the `curl` that delivers Soisy's callback to the PGM.

use axum::extract::{Path, State};
use axum::routing::post;
use pgm_mocks::soisy::{SoisyMock, SANDBOX_PARTNER_KEY, SANDBOX_SHOP_ID};

async fn event(State(mock): State<SoisyMock>, Path((token, id)): Path<(String, String)>) -> String {
    match mock.event(&token, &id) {
        Ok(cb) => format!(
            "curl -s -X POST '{}' -H 'content-type: application/x-www-form-urlencoded' -d '{}'\n",
            cb.url, cb.body
        ),
        Err(why) => format!("refused: {why}\n"),
    }
}

#[tokio::main]
async fn main() {
    let port = std::env::var("SOISY_MOCK_PORT").unwrap_or_else(|_| "8092".into());
    let mock = SoisyMock::default();
    let app = mock.router().merge(
        axum::Router::new()
            .route("/_mock/orders/{token}/events/{id}", post(event))
            .with_state(mock.clone()),
    );
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}"))
        .await
        .expect("bind");
    println!("Soisy mock: SOISY_BASE_URL=http://127.0.0.1:{port}");
    println!("            SOISY_SHOP_ID={SANDBOX_SHOP_ID} SOISY_PARTNER_KEY={SANDBOX_PARTNER_KEY}");
    println!(
        "events: LoanWasApproved RequestCompleted LoanWasVerified LoanWasDisbursed UserWasRejected"
    );
    axum::serve(listener, app).await.expect("serve");
}
