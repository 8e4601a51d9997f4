//! Test support: start the local PGM (the same composition `pgm-local` runs) on a random
//! loopback port with its own data directory, a notification receiver, and small HTTP helpers.

pub mod faults;
mod receiver;
pub mod webdriver;

pub use receiver::{Notification, Receiver};

use pgm_core::Env;
use serde_json::Value;
use std::time::{Duration, Instant};

/// The webhook secret tests give the sandbox, so they can sign callbacks as the sandbox does.
pub const SANDBOX_SECRET: &str = "whsec_sandbox_test_secret";

pub struct TestServer {
    pub url: String,
    /// The configuration it was started with (to start another process on the same data).
    pub env: Env,
    data_dir: Option<tempfile::TempDir>,
    pub client: reqwest::Client,
    running: pgm_local::Running,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.running.stop();
    }
}

/// An HTTP answer, read whole.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem+json with this status and code, and returns the body.
    pub fn problem(&self, status: u16, code: &str) -> Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{}",
            self.text
        );
        let body = self.json();
        assert_eq!(body["code"], code, "{}", self.text);
        assert_eq!(body["status"], status);
        body
    }
}

impl TestServer {
    /// Starts a PGM with the sandbox and `extra` settings on a fresh data directory.
    pub async fn start(extra: &[(&str, &str)]) -> TestServer {
        TestServer::start_in(tempfile::tempdir().expect("tempdir"), extra).await
    }

    /// [`TestServer::start`], letting `customize` change the built PGM before it serves.
    pub async fn start_with(
        extra: &[(&str, &str)],
        customize: impl FnOnce(&mut pgm_local::Pgm),
    ) -> TestServer {
        TestServer::start_in_with(tempfile::tempdir().expect("tempdir"), extra, customize).await
    }

    /// Starts a PGM on an existing data directory (to test restarts).
    pub async fn start_in(data_dir: tempfile::TempDir, extra: &[(&str, &str)]) -> TestServer {
        TestServer::start_in_with(data_dir, extra, |_| {}).await
    }

    /// [`TestServer::start_in`], letting `customize` change the built PGM before it serves
    /// (see `pgm_local::start_with`).
    pub async fn start_in_with(
        data_dir: tempfile::TempDir,
        extra: &[(&str, &str)],
        customize: impl FnOnce(&mut pgm_local::Pgm),
    ) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let url = format!("http://{addr}");
        let mut env = Env::from_pairs([
            ("HTTP_PORT", addr.port().to_string().as_str()),
            ("PGM_PUBLIC_URL", url.as_str()),
            (
                "PGM_DATA_DIR",
                data_dir.path().to_str().expect("utf-8 path"),
            ),
            ("ENABLED_PROVIDERS", "sandbox"),
            ("SANDBOX_WEBHOOK_SECRET", SANDBOX_SECRET),
        ]);
        for (k, v) in extra {
            env.set(k, v);
        }
        let running = pgm_local::start_with(&env, Some(listener), customize)
            .await
            .expect("PGM starts");
        TestServer {
            url,
            env,
            data_dir: Some(data_dir),
            client: reqwest::Client::new(),
            running,
        }
    }

    /// Stops serving and hands back the data directory (to start again on it).
    pub fn shut_down(mut self) -> tempfile::TempDir {
        self.running.stop();
        self.data_dir
            .take()
            .expect("data dir present until shut down")
    }

    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        self.send(self.client.post(format!("{}{path}", self.url)).json(body))
            .await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Answer {
        self.send(
            self.client
                .post(format!("{}{path}", self.url))
                .header("content-type", content_type)
                .body(body),
        )
        .await
    }

    /// The buyer on the hosted 3DS page at `page_url`: opens it and presses Approve
    /// (`approve`) or Decline (`decline`), as a browser would (the form's page token included).
    pub async fn decide_3ds(&self, page_url: &str, decision: &str) -> Answer {
        let page = self.send(self.client.get(page_url)).await;
        assert_eq!(page.status, 200, "{}", page.text);
        let form = pgm_mocks::sandbox_page::decision_form(&page.text, decision);
        self.send(
            self.client
                .post(page_url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(self.client.get(format!("{}{path}", self.url)))
            .await
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.expect("request reaches the PGM");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        Answer {
            status,
            headers,
            text,
        }
    }

    /// `POST /sandbox/credit-cards/pay` with a token.
    pub async fn pay(&self, shop_transaction_id: &str, amount: &str, token: &str) -> Answer {
        self.post(
            "/sandbox/credit-cards/pay",
            &serde_json::json!({"amount": amount, "shopTransactionID": shop_transaction_id, "creditCardToken": token}),
        )
        .await
    }

    pub async fn status_of(&self, shop_transaction_id: &str) -> Value {
        let answer = self
            .get(&format!(
                "/sandbox/status?shopTransactionId={shop_transaction_id}"
            ))
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.json()
    }

    /// `GET /{provider}/status?shopTransactionId=…`, asserting a 200.
    pub async fn status_at(&self, provider: &str, shop_transaction_id: &str) -> Value {
        let answer = self
            .get(&format!(
                "/{provider}/status?shopTransactionId={shop_transaction_id}"
            ))
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.json()
    }

    /// `GET /{provider}/check?shopTransactionId=…`, asserting a 200.
    pub async fn check_at(&self, provider: &str, shop_transaction_id: &str) -> Value {
        let answer = self
            .get(&format!(
                "/{provider}/check?shopTransactionId={shop_transaction_id}"
            ))
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.json()
    }

    /// The sandbox's own books for a merchant reference (what the PSP charged and refunded),
    /// asked as the merchant (with `PGM_API_KEY` when the server has one).
    pub async fn sandbox_charges(&self, reference: &str) -> Vec<Value> {
        let url = format!("{}/sandbox/charges?reference={reference}", self.url);
        let mut request = self.client.get(url);
        if let Some(key) = self.env.get("PGM_API_KEY") {
            request = request.bearer_auth(key);
        }
        let answer = self.send(request).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.json().as_array().cloned().expect("a list")
    }
}

/// Polls `check` until it returns true or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits for the merchant's one notification of `event_type` about a payment, then makes sure
/// no second one follows; returns its body.
pub async fn one_notification(
    receiver: &Receiver,
    shop_transaction_id: &str,
    event_type: &str,
) -> Value {
    notifications(receiver, shop_transaction_id, event_type, 1)
        .await
        .remove(0)
}

/// Waits for `count` notifications of `event_type` about a payment, then makes sure no more
/// follow; returns their bodies in the order they arrived.
pub async fn notifications(
    receiver: &Receiver,
    shop_transaction_id: &str,
    event_type: &str,
    count: usize,
) -> Vec<Value> {
    let arrived = eventually(Duration::from_secs(5), || async {
        receiver.events(shop_transaction_id, event_type).len() >= count
    })
    .await;
    let events = receiver.events(shop_transaction_id, event_type);
    assert!(
        arrived,
        "{} of {count} {event_type} for {shop_transaction_id}",
        events.len()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let events = receiver.events(shop_transaction_id, event_type);
    assert_eq!(
        events.len(),
        count,
        "exactly {count} {event_type} for {shop_transaction_id}: {events:?}"
    );
    events.into_iter().map(|n| n.body).collect()
}

/// Gives the delivery loop time to send anything pending, then asserts nothing about this
/// payment was sent at all.
pub async fn no_notification(receiver: &Receiver, shop_transaction_id: &str) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = receiver.for_payment(shop_transaction_id);
    assert!(sent.is_empty(), "unexpected notifications: {sent:?}");
}
