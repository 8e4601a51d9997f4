//! A merchant's notification endpoint: records every delivery; can be told to fail.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use serde_json::Value;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct Notification {
    pub signature: Option<String>,
    pub raw: Vec<u8>,
    pub body: Value,
    /// Whether the receiver answered 2xx (the delivery counts).
    pub accepted: bool,
}

#[derive(Default)]
struct Inner {
    received: Mutex<Vec<Notification>>,
    /// 0 answers 200; anything else answers that status.
    answer: AtomicU16,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    inner: Arc<Inner>,
    _task: Arc<tokio::task::JoinHandle<()>>,
}

async fn receive(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let answer = match inner.answer.load(Ordering::SeqCst) {
        0 => StatusCode::OK,
        code => StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    };
    let notification = Notification {
        signature: headers
            .get("pgm-signature")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        raw: body.to_vec(),
        accepted: answer.is_success(),
    };
    inner.received.lock().unwrap().push(notification);
    answer
}

impl Receiver {
    pub async fn start() -> Receiver {
        let inner = Arc::new(Inner::default());
        let app = Router::new()
            .route("/notify", post(receive))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/notify", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            url,
            inner,
            _task: Arc::new(task),
        }
    }

    /// Every delivery so far, failed ones included.
    pub fn received(&self) -> Vec<Notification> {
        self.inner.received.lock().unwrap().clone()
    }

    /// Deliveries the receiver accepted (answered 2xx) — only meaningful while healthy.
    pub fn for_payment(&self, shop_transaction_id: &str) -> Vec<Notification> {
        self.received()
            .into_iter()
            .filter(|n| n.body["shopTransactionID"] == shop_transaction_id)
            .collect()
    }

    /// Deliveries about a payment with this `eventType` (`payment.succeeded`, `refund.succeeded`, …).
    pub fn events(&self, shop_transaction_id: &str, event_type: &str) -> Vec<Notification> {
        self.for_payment(shop_transaction_id)
            .into_iter()
            .filter(|n| n.body["eventType"] == event_type)
            .collect()
    }

    /// From now on answer `status` (200 = healthy).
    pub fn answer_with(&self, status: u16) {
        self.inner
            .answer
            .store(if status == 200 { 0 } else { status }, Ordering::SeqCst);
    }
}
