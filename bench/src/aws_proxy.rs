//! A counting proxy in front of the AWS emulator (moto): a function's `AWS_ENDPOINT_URL`
//! points here, every request is counted by service and operation, then passed on unchanged.
//! This counts what the deployed binary really puts on the wire, init included.
//!
//! DynamoDB and SQS (AWS JSON protocol) name the operation in `X-Amz-Target`
//! (`DynamoDB_20120810.PutItem`, `AmazonSQS.SendMessageBatch`). Requests for the sandbox
//! provider's books (`SBX#…` keys, the same table) are counted apart: they stand for the
//! payment provider's own database, which a real provider keeps at its end.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// (service, operation) → requests.
pub type Counts = BTreeMap<(String, String), u64>;

#[derive(Clone)]
struct Shared {
    upstream: String,
    http: reqwest::Client,
    pgm: Arc<Mutex<Counts>>,
    provider: Arc<Mutex<Counts>>,
    /// (the table the function names, the table on moto).
    route: Arc<Mutex<Option<(String, String)>>>,
}

/// A proxy on a free loopback port. Stops when dropped.
pub struct AwsProxy {
    pub url: String,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for AwsProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl AwsProxy {
    pub async fn start(upstream: &str) -> Result<AwsProxy, String> {
        let shared = Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            pgm: Arc::default(),
            provider: Arc::default(),
            route: Arc::default(),
        };
        let (listener, url) = crate::http_fronts::bind().await?;
        let router = Router::new().fallback(forward).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(AwsProxy { url, shared, task })
    }

    /// PGM's own requests since the last call, and the counts start again from zero.
    pub fn take(&self) -> Counts {
        self.shared
            .pgm
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default()
    }

    /// From now on, requests for table `from` go to table `to` (`None`: to `from` again).
    pub fn route_table(&self, from: &str, to: Option<String>) {
        if let Ok(mut route) = self.shared.route.lock() {
            *route = to.map(|to| (format!("\"{from}\""), format!("\"{to}\"")));
        }
    }

    /// The sandbox provider's requests (its books) since the last call.
    pub fn take_provider(&self) -> Counts {
        self.shared
            .provider
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default()
    }
}

fn operation(request: &Request, body: &[u8]) -> (String, String) {
    let target = request
        .headers()
        .get("x-amz-target")
        .and_then(|t| t.to_str().ok());
    match target.and_then(|t| t.split_once('.')) {
        Some((prefix, op)) => {
            let service = if prefix.starts_with("DynamoDB") {
                "DynamoDB"
            } else if prefix.starts_with("AmazonSQS") {
                "SQS"
            } else {
                prefix
            };
            (service.to_owned(), op.to_owned())
        }
        // The query protocol (form bodies with `Action=…`), should an SDK fall back to it.
        None => {
            let text = String::from_utf8_lossy(body);
            let action = text
                .split('&')
                .find_map(|pair| pair.strip_prefix("Action="))
                .unwrap_or("unknown");
            ("other".to_owned(), action.to_owned())
        }
    }
}

async fn forward(State(shared): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body: Bytes = match axum::body::to_bytes(body, 16 * 1024 * 1024).await {
        Ok(body) => body,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let route = shared.route.lock().ok().and_then(|r| r.clone());
    let body = match &route {
        Some((from, to)) => replace(&body, from, to),
        None => body,
    };
    let key = operation(&Request::from_parts(parts.clone(), Body::empty()), &body);
    let for_provider = body.windows(5).any(|w| w == b"\"SBX#");
    let counts = if for_provider {
        &shared.provider
    } else {
        &shared.pgm
    };
    if let Ok(mut counts) = counts.lock() {
        *counts.entry(key).or_default() += 1;
    }

    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut upstream = shared
        .http
        .request(parts.method.clone(), format!("{}{path}", shared.upstream));
    for (name, value) in &parts.headers {
        if !hop_by_hop(name) {
            upstream = upstream.header(name, value);
        }
    }
    let answer = match upstream.body(body).send().await {
        Ok(answer) => answer,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let status = answer.status();
    let headers = answer.headers().clone();
    let mut bytes = answer.bytes().await.unwrap_or_default();
    if let Some((from, to)) = &route {
        bytes = replace(&bytes, to, from);
    }
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    for (name, value) in &headers {
        // A checksum of the body as moto sent it: wrong once the body is rewritten.
        let checksum = route.is_some() && name.as_str() == "x-amz-crc32";
        if !hop_by_hop(name) && !checksum {
            response.headers_mut().append(name, value.clone());
        }
    }
    response
}

fn replace(body: &Bytes, from: &str, to: &str) -> Bytes {
    match std::str::from_utf8(body) {
        Ok(text) if text.contains(from) => Bytes::from(text.replace(from, to)),
        _ => body.clone(),
    }
}

fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "host" | "connection" | "content-length" | "transfer-encoding" | "keep-alive"
    )
}
