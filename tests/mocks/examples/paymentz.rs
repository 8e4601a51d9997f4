//! The Paymentz mock as a standalone server, to try a `paymentz` pay by hand (README.md,
//! "Paymentz against its mock"). Listens on 127.0.0.1:9400 (`PAYMENTZ_MOCK_PORT`) with the
//! demo credentials printed at start. `POST /demo/approve/{paymentId}` (or `/demo/decline/…`)
//! plays the buyer at the 3-D Secure page and answers the notification Paymentz would POST to
//! the PGM's `/paymentz/callback`, checksum included.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use pgm_mocks::paymentz::PaymentzMock;

const CREDS: [&str; 4] = ["197", "demo-merchant", "11359", "demo-secure-key"];

async fn decide(
    State(mock): State<PaymentzMock>,
    Path((verdict, id)): Path<(String, String)>,
) -> axum::response::Response {
    let done = match verdict.as_str() {
        "approve" => mock.approve(&id),
        "decline" => mock.decline(&id),
        _ => false,
    };
    match (done, mock.notification(&id)) {
        (true, Some((_, body))) => ([("content-type", "application/json")], body).into_response(),
        _ => (
            StatusCode::NOT_FOUND,
            "no 3-D Secure payment with that id\n",
        )
            .into_response(),
    }
}

#[tokio::main]
async fn main() {
    let port = std::env::var("PAYMENTZ_MOCK_PORT").unwrap_or_else(|_| "9400".into());
    let mock = PaymentzMock::new(CREDS[0], CREDS[1], CREDS[2], CREDS[3]);
    let demo = Router::new()
        .route("/demo/{verdict}/{id}", post(decide))
        .with_state(mock.clone());
    let app = mock.router().merge(demo);
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}"))
        .await
        .expect("bind");
    println!(
        "Paymentz mock on http://127.0.0.1:{port}\n\
         PAYMENTZ_BASE_URL=http://127.0.0.1:{port} PAYMENTZ_PARTNER_ID={} PAYMENTZ_USERNAME={} \
         PAYMENTZ_MEMBER_ID={} PAYMENTZ_SECURE_KEY={}",
        CREDS[0], CREDS[1], CREDS[2], CREDS[3]
    );
    axum::serve(listener, app).await.expect("serve");
}
