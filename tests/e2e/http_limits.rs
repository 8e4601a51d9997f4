//! pgm-local's time and size limits, seen from a client on a raw socket: a big body gets a 413
//! it can read, and slow or silent clients are disconnected after the configured time.

use pgm_e2e::TestServer;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn limited() -> TestServer {
    TestServer::start(&[
        ("PGM_HTTP_HEADER_TIMEOUT_SECONDS", "1"),
        ("PGM_HTTP_BODY_TIMEOUT_SECONDS", "1"),
        ("PGM_HTTP_IDLE_TIMEOUT_SECONDS", "1"),
    ])
    .await
}

async fn connect(pgm: &TestServer) -> TcpStream {
    TcpStream::connect(pgm.url.trim_start_matches("http://"))
        .await
        .expect("connects")
}

/// Reads until the server closes the connection; returns what it sent and how long it took.
async fn until_closed(stream: &mut TcpStream) -> (String, Duration) {
    let start = Instant::now();
    let mut text = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut text)).await;
    assert!(read.is_ok(), "the server never closed the connection");
    (String::from_utf8_lossy(&text).into_owned(), start.elapsed())
}

#[tokio::test]
async fn a_three_megabyte_body_gets_a_readable_413() {
    let pgm = TestServer::start(&[]).await;
    let body = format!(
        r#"{{"amount":"1.00","shopTransactionID":"big","creditCardToken":"tok_ok","payPalDescription":"{}"}}"#,
        "x".repeat(3 * 1024 * 1024)
    );
    let answer = pgm
        .post_raw("/sandbox/credit-cards/pay", "application/json", body)
        .await;
    answer.problem(413, "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn a_request_head_sent_too_slowly_is_cut_off() {
    let pgm = limited().await;
    let mut stream = connect(&pgm).await;
    stream
        .write_all(b"POST /sandbox/credit-cards/pay HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let (_, took) = until_closed(&mut stream).await;
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[tokio::test]
async fn a_body_that_stops_arriving_gets_a_408() {
    let pgm = limited().await;
    let mut stream = connect(&pgm).await;
    stream
        .write_all(
            b"POST /sandbox/credit-cards/pay HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"amount\":",
        )
        .await
        .unwrap();
    let (text, took) = until_closed(&mut stream).await;
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("REQUEST_TIMEOUT"), "{text}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(pgm.sandbox_charges("x").await.is_empty());
}

#[tokio::test]
async fn an_idle_connection_is_closed() {
    let pgm = TestServer::start(&[
        ("PGM_HTTP_HEADER_TIMEOUT_SECONDS", "30"),
        ("PGM_HTTP_IDLE_TIMEOUT_SECONDS", "1"),
    ])
    .await;
    let mut stream = connect(&pgm).await;
    // One request on a kept-alive connection, then nothing.
    stream
        .write_all(b"GET /sandbox/status?shopTransactionId=none HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (text, took) = until_closed(&mut stream).await;
    assert!(text.starts_with("HTTP/1.1 404"), "{text}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[tokio::test]
async fn the_limits_are_checked_at_start() {
    let env = pgm_core::Env::from_pairs([("PGM_HTTP_BODY_TIMEOUT_SECONDS", "0")]);
    let error = pgm_local::LocalConfig::from_env(&env)
        .err()
        .expect("refused");
    assert_eq!(error.var, "PGM_HTTP_BODY_TIMEOUT_SECONDS");
}
