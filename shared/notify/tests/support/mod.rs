//! Test fixtures: a moto server, SQS clients, the embedded store with committed events, and a
//! merchant receiver.

use aws_lambda_events::event::sqs::SqsMessage;
use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sqs::types::Message;
use aws_sdk_sqs::Client;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use pgm_core::clock::now_ms;
use pgm_core::payment::{NewPayment, PAY_LOCK_MS};
use pgm_core::{
    Currency, Env, EventType, Money, NotificationEvent, Payment, PaymentKind, PaymentState,
};
use pgm_mocks::MockServer;
use pgm_store::embedded::EmbeddedStore;
use pgm_store::{Commit, PaymentStore};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

/// The shared moto launcher (one server per test process).
pub async fn moto_endpoint() -> String {
    pgm_mocks::moto::endpoint().await
}

pub fn client_for(endpoint: &str) -> Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .endpoint_url(endpoint)
        .http_client(
            pgm_http::Outbound::from_env(&Env::default())
                .unwrap()
                .aws_http_client(),
        )
        .build();
    Client::from_conf(config)
}

pub async fn sqs_client() -> Client {
    client_for(&moto_endpoint().await)
}

/// A loopback port nothing listens on.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// A name no other test (or earlier run against the same moto) uses.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Lambda's SQS record for a received message (the same field names and attribute keys).
pub fn as_lambda_record(message: Message) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.attributes = message
        .attributes
        .unwrap_or_default()
        .into_iter()
        .map(|(name, value)| (name.as_str().to_owned(), value))
        .collect();
    record.message_id = message.message_id;
    record.receipt_handle = message.receipt_handle;
    record.body = message.body;
    record.event_source = Some("aws:sqs".into());
    record
}

// ---------------------------------------------------------------------------------------------
// events and the outbox

/// The embedded store in a temporary directory (removed when dropped).
pub struct Store {
    pub store: Arc<EmbeddedStore>,
    _dir: tempfile::TempDir,
}

impl Store {
    pub fn open() -> Store {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = EmbeddedStore::open(&dir.path().join("pgm.db")).expect("store opens");
        Store {
            store: Arc::new(store),
            _dir: dir,
        }
    }

    /// Commits a captured payment together with `count` notification events, the way the
    /// app does, and returns the events (now in the outbox).
    pub async fn commit_events(&self, count: usize) -> Vec<NotificationEvent> {
        let now = now_ms();
        let mut payment = Payment::claimed(NewPayment {
            shop_transaction_id: unique("order"),
            provider: "sandbox".into(),
            method: "credit-cards".into(),
            kind: PaymentKind::Single,
            amount: Money::from_minor(1250, Currency::parse("EUR").expect("EUR")).expect("amount"),
            metadata: BTreeMap::from([("cart".to_owned(), "c-1".to_owned())]),
            request_hash: "test".into(),
            now,
            lock_ms: PAY_LOCK_MS,
        });
        payment.observe(PaymentState::Captured, "Transaction completed", now);
        let events: Vec<NotificationEvent> = (0..count)
            .map(|_| NotificationEvent::next_for(&mut payment, EventType::PaymentSucceeded, now))
            .collect();
        self.store
            .commit(Commit {
                payment: &payment,
                map_provider_id: None,
                events: &events,
                idempotency: None,
            })
            .await
            .expect("commit");
        events
    }

    /// The events still in the outbox, oldest first.
    pub async fn pending(&self) -> Vec<NotificationEvent> {
        let due = self
            .store
            .due_events(i64::MAX, 1000)
            .await
            .expect("outbox readable");
        due.into_iter().map(|entry| entry.event).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// the merchant's receiver

type Recorded = Arc<Mutex<Vec<(Option<String>, Bytes)>>>;

/// A merchant endpoint answering every POST with a fixed status, recording the
/// `PGM-Signature` header and raw body of each.
pub struct Receiver {
    server: MockServer,
    recorded: Recorded,
}

impl Receiver {
    pub async fn start(status: u16) -> Receiver {
        let recorded = Recorded::default();
        let status = StatusCode::from_u16(status).expect("status");
        let router = Router::new()
            .route(
                "/notify",
                post(move |State(recorded): State<Recorded>, headers: HeaderMap, body: Bytes| async move {
                    let signature = headers
                        .get("pgm-signature")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    recorded.lock().unwrap().push((signature, body));
                    status
                }),
            )
            .with_state(recorded.clone());
        Receiver {
            server: MockServer::start(router).await,
            recorded,
        }
    }

    pub fn url(&self) -> String {
        format!("{}/notify", self.server.url)
    }

    /// (PGM-Signature, raw body) of every request so far.
    pub fn requests(&self) -> Vec<(Option<String>, Bytes)> {
        self.recorded.lock().unwrap().clone()
    }
}
