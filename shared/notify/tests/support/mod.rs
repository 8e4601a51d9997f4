//! Test fixtures: a moto server, SQS clients, events, an in-memory outbox and a merchant
//! receiver.

use async_trait::async_trait;
use aws_lambda_events::event::sqs::SqsMessage;
use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sqs::types::Message;
use aws_sdk_sqs::Client;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use pgm_core::{ApiStatus, EventType, NotificationEvent, Payment};
use pgm_mocks::MockServer;
use pgm_store::{
    Commit, IdempotencyClaim, IdempotencyRecord, OutboxEntry, PaymentStore, StoreError,
};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// moto
//
// TODO(lead): replace with `pgm_mocks::moto::endpoint()` once it is on main. Note that the
// launcher there serves one request at a time (for DynamoDB's conditional writes); these tests
// only short-poll, so they work with either.

/// Runs moto's server on a free loopback port, prints the port, and exits when its stdin
/// closes, i.e. when the test process ends however it ends.
const LAUNCHER: &str = r#"
import logging, os, sys, threading
try:
    from werkzeug.serving import make_server
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
except ImportError as e:
    sys.stderr.write("moto server mode is not installed (%s)\n" % e)
    sys.exit(3)
logging.getLogger("werkzeug").setLevel(logging.ERROR)
server = make_server("127.0.0.1", 0, DomainDispatcherApplication(create_backend_app), threaded=True)
print(server.server_port, flush=True)
def exit_with_parent():
    sys.stdin.read()
    os._exit(0)
threading.Thread(target=exit_with_parent, daemon=True).start()
server.serve_forever()
"#;

struct Moto {
    url: String,
    _child: Child,
    // Held for the life of the process: its closing stops the server.
    _stdin: ChildStdin,
}

static MOTO: OnceLock<Result<Moto, String>> = OnceLock::new();

/// The URL of the moto server shared by this test process. Panics (never skips) without moto.
pub fn moto_endpoint() -> String {
    match MOTO.get_or_init(start_moto) {
        Ok(moto) => moto.url.clone(),
        Err(why) => {
            panic!("cannot start moto: {why}; install it with `pip install 'moto[server]'`")
        }
    }
}

fn start_moto() -> Result<Moto, String> {
    let mut child = Command::new("python3")
        .args(["-c", LAUNCHER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    let stdin = child.stdin.take().ok_or("no stdin pipe")?;
    let stdout = child.stdout.take().ok_or("no stdout pipe")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| format!("reading moto's port: {e}"))?;
    let port: u16 = line
        .trim()
        .parse()
        .map_err(|_| format!("moto did not start (it said {line:?}; see stderr)"))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err("moto did not answer within 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Moto {
        url: format!("http://127.0.0.1:{port}"),
        _child: child,
        _stdin: stdin,
    })
}

/// An SQS client for `endpoint`, configured explicitly (no AWS_* variable of the test process
/// plays a part).
pub fn client_for(endpoint: &str) -> Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .endpoint_url(endpoint)
        .build();
    Client::from_conf(config)
}

pub async fn sqs_client() -> Client {
    client_for(&moto_endpoint())
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

pub fn event(shop_transaction_id: &str, sequence: u64) -> NotificationEvent {
    NotificationEvent {
        provider_name: "sandbox".into(),
        payment_type: "CREDITCARD".into(),
        is_successful: true,
        result_description: "Transaction completed".into(),
        payment_id: Some(format!("sbx_{shop_transaction_id}")),
        shop_transaction_id: shop_transaction_id.into(),
        event_id: format!("evt_{shop_transaction_id}_{sequence}"),
        event_type: EventType::PaymentSucceeded,
        status: ApiStatus::Accepted,
        amount: "12.50".into(),
        currency: "EUR".into(),
        occurred_at: "2026-01-02T03:04:05Z".into(),
        sequence,
        metadata: BTreeMap::from([("cart".to_owned(), "c-1".to_owned())]),
        recurrence_token: None,
        refund_id: None,
    }
}

/// The outbox part of a store, in memory. (Swap for `pgm_store::embedded::EmbeddedStore` once
/// it is on main.) The payment methods are not part of these tests and answer Unavailable.
#[derive(Default)]
pub struct MemoryOutbox {
    entries: Mutex<Vec<OutboxEntry>>,
}

impl MemoryOutbox {
    /// An outbox holding `events` as a commit would have written them just now.
    pub fn with(events: &[NotificationEvent]) -> MemoryOutbox {
        let now = pgm_core::clock::now_ms();
        MemoryOutbox {
            entries: Mutex::new(
                events
                    .iter()
                    .map(|e| OutboxEntry::new(e.clone(), now))
                    .collect(),
            ),
        }
    }

    /// The events still in the outbox.
    pub fn pending(&self) -> Vec<NotificationEvent> {
        self.entries
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.event.clone())
            .collect()
    }
}

fn not_here() -> StoreError {
    StoreError::Unavailable("payments are not part of the outbox test store".into())
}

#[async_trait]
impl PaymentStore for MemoryOutbox {
    async fn insert_payment(&self, _: &Payment) -> Result<Option<Payment>, StoreError> {
        Err(not_here())
    }
    async fn get_payment(&self, _: &str) -> Result<Option<Payment>, StoreError> {
        Err(not_here())
    }
    async fn find_by_provider_id(&self, _: &str, _: &str) -> Result<Option<Payment>, StoreError> {
        Err(not_here())
    }
    async fn commit(&self, _: Commit<'_>) -> Result<(), StoreError> {
        Err(not_here())
    }
    async fn claim_idempotency(
        &self,
        _: &IdempotencyRecord,
        _: i64,
    ) -> Result<IdempotencyClaim, StoreError> {
        Err(not_here())
    }
    async fn release_idempotency(&self, _: &str) -> Result<(), StoreError> {
        Err(not_here())
    }
    async fn stale_pending(&self, _: i64, _: usize) -> Result<Vec<Payment>, StoreError> {
        Err(not_here())
    }

    async fn due_events(&self, now: i64, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut due: Vec<OutboxEntry> = self
            .entries
            .lock()
            .unwrap()
            .iter()
            .filter(|e| !e.parked && e.next_attempt_at <= now)
            .cloned()
            .collect();
        due.sort_by_key(|e| e.created_at);
        due.truncate(limit);
        Ok(due)
    }

    async fn event_done(&self, event_id: &str) -> Result<(), StoreError> {
        self.entries
            .lock()
            .unwrap()
            .retain(|e| e.event.event_id != event_id);
        Ok(())
    }

    async fn event_retry(&self, entry: &OutboxEntry) -> Result<(), StoreError> {
        let mut entries = self.entries.lock().unwrap();
        if let Some(stored) = entries
            .iter_mut()
            .find(|e| e.event.event_id == entry.event.event_id)
        {
            *stored = entry.clone();
        }
        Ok(())
    }

    async fn parked_events(&self, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let entries = self.entries.lock().unwrap();
        Ok(entries
            .iter()
            .filter(|e| e.parked)
            .take(limit)
            .cloned()
            .collect())
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
