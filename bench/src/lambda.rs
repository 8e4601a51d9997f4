//! A Lambda execution environment on loopback: one function process, started with
//! `AWS_LAMBDA_RUNTIME_API` pointing at a minimal Runtime API served here
//! (docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html): `GET …/invocation/next` hands out
//! the queued events one at a time, `POST …/invocation/{id}/response|error` answers them,
//! `POST …/init/error` reports a failed init. Times are taken when the requests arrive, so
//! they do not include the bench's own scheduling.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

const PREFIX: &str = "/2018-06-01/runtime";
/// Longer than any single invocation of the bench can take, short enough to fail a hung run.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(60);

/// What the function said about one invocation, and when.
struct Outcome {
    at: Instant,
    body: Bytes,
    error: bool,
}

struct Invocation {
    id: String,
    event: Vec<u8>,
    reply: oneshot::Sender<Outcome>,
}

struct Api {
    queue: tokio::sync::Mutex<mpsc::UnboundedReceiver<Invocation>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    first_next: Mutex<Option<Instant>>,
    init_error: Mutex<Option<String>>,
}

/// One function process and its Runtime API. Killed when dropped.
pub struct Function {
    pub name: String,
    child: Mutex<Child>,
    pid: u32,
    pub spawned_at: Instant,
    api: Arc<Api>,
    sender: mpsc::UnboundedSender<Invocation>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Function {
    fn drop(&mut self) {
        if let Ok(child) = self.child.get_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.server.abort();
    }
}

/// The variables Lambda sets for every runtime.
fn lambda_env(name: &str, runtime_api: &str) -> Vec<(String, String)> {
    [
        ("AWS_LAMBDA_RUNTIME_API", runtime_api),
        ("AWS_LAMBDA_FUNCTION_NAME", name),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench"),
        ("AWS_EXECUTION_ENV", "AWS_Lambda_rust"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

impl Function {
    /// Serves a Runtime API on a free loopback port, then starts `binary` with the Lambda
    /// variables and `env` (and nothing else from the bench's environment).
    pub async fn spawn(
        name: &str,
        binary: &std::path::Path,
        env: &[(String, String)],
    ) -> Result<Function, String> {
        let (sender, receiver) = mpsc::unbounded_channel();
        let api = Arc::new(Api {
            queue: tokio::sync::Mutex::new(receiver),
            waiting: Mutex::default(),
            first_next: Mutex::default(),
            init_error: Mutex::default(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let router = Router::new()
            .route(&format!("{PREFIX}/invocation/next"), get(next))
            .route(
                &format!("{PREFIX}/invocation/{{id}}/response"),
                post(response),
            )
            .route(&format!("{PREFIX}/invocation/{{id}}/error"), post(error))
            .route(&format!("{PREFIX}/init/error"), post(init_error))
            .with_state(api.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        let mut command = Command::new(binary);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(lambda_env(name, &addr.to_string()))
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            // Lambda ships stdout to CloudWatch; here it goes nowhere, at the same cost.
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let spawned_at = Instant::now();
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        Ok(Function {
            name: name.to_owned(),
            pid: child.id(),
            child: Mutex::new(child),
            spawned_at,
            api,
            sender,
            server,
        })
    }

    /// Hands `event` to the function and waits for its answer. Returns the answer and when
    /// the function posted it.
    pub async fn invoke_at(&self, event: &Value) -> Result<(Value, Instant), String> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let id = format!(
            "00000000-0000-4000-8000-{:012}",
            NEXT_ID.fetch_add(1, Ordering::Relaxed)
        );
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Invocation {
                id,
                event: serde_json::to_vec(event).map_err(|e| e.to_string())?,
                reply,
            })
            .map_err(|_| "the Runtime API stopped".to_owned())?;
        let outcome = tokio::select! {
            outcome = answer => outcome.map_err(|_| "the invocation was dropped".to_owned())?,
            _ = tokio::time::sleep(INVOKE_TIMEOUT) => {
                return Err(format!("{}: no answer within {INVOKE_TIMEOUT:?}{}", self.name, self.why_not()));
            }
            failed = self.exited() => return Err(failed),
        };
        let value: Value = serde_json::from_slice(&outcome.body)
            .map_err(|e| format!("{}: the answer is not JSON: {e}", self.name))?;
        if outcome.error {
            return Err(format!("{}: invocation error {value}", self.name));
        }
        Ok((value, outcome.at))
    }

    pub async fn invoke(&self, event: &Value) -> Result<Value, String> {
        self.invoke_at(event).await.map(|(value, _)| value)
    }

    /// Resolves when the process has ended (or reported a failed init).
    async fn exited(&self) -> String {
        loop {
            if let Some(message) = self.api.init_error.lock().ok().and_then(|e| e.clone()) {
                return format!("{}: init failed: {message}", self.name);
            }
            if let Some(status) = self.exit_status() {
                return format!("{}: the process exited ({status})", self.name);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn exit_status(&self) -> Option<std::process::ExitStatus> {
        self.child.lock().ok()?.try_wait().ok()?
    }

    fn why_not(&self) -> String {
        match self.exit_status() {
            Some(status) => format!(" (the process exited: {status})"),
            None => String::new(),
        }
    }

    /// When the function first asked for an event: the end of its init, as Lambda counts it.
    pub fn first_next(&self) -> Option<Instant> {
        *self.api.first_next.lock().ok()?
    }

    /// Peak resident set size so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        peak_rss_kib(self.pid)
    }
}

/// `VmHWM` of a process, in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

async fn next(State(api): State<Arc<Api>>) -> Response {
    if let Ok(mut first) = api.first_next.lock() {
        first.get_or_insert_with(Instant::now);
    }
    let Some(invocation) = api.queue.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    if let Ok(mut waiting) = api.waiting.lock() {
        waiting.insert(invocation.id.clone(), invocation.reply);
    }
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() + 30_000)
        .unwrap_or(0);
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    set("lambda-runtime-aws-request-id", invocation.id);
    set("lambda-runtime-deadline-ms", deadline.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:bench".into(),
    );
    set(
        "lambda-runtime-trace-id",
        "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0".into(),
    );
    set("content-type", "application/json".into());
    (StatusCode::OK, headers, invocation.event).into_response()
}

fn settle(api: &Api, id: &str, body: Bytes, error: bool) -> StatusCode {
    let at = Instant::now();
    let reply = api.waiting.lock().ok().and_then(|mut w| w.remove(id));
    match reply {
        Some(reply) => {
            let _ = reply.send(Outcome { at, body, error });
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn response(State(api): State<Arc<Api>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    settle(&api, &id, body, false)
}

async fn error(State(api): State<Arc<Api>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    settle(&api, &id, body, true)
}

async fn init_error(State(api): State<Arc<Api>>, body: Bytes) -> StatusCode {
    if let Ok(mut e) = api.init_error.lock() {
        *e = Some(String::from_utf8_lossy(&body).into_owned());
    }
    StatusCode::ACCEPTED
}
