//! Two small HTTP servers on loopback: a Function URL in front of a function (what the
//! sandbox's callbacks reach, as they reach the callback function's URL in AWS), and the
//! merchant's notification receiver.

use crate::events::{self, HttpAnswer, HttpRequest};
use crate::lambda::Function;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::Arc;

/// A listener on a free loopback port, and its base URL.
pub(crate) async fn bind() -> Result<(tokio::net::TcpListener, String), String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let url = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    Ok((listener, url))
}

/// A Function URL: every request becomes a Function URL event for the function behind it.
pub struct FunctionUrl {
    pub url: String,
    listener: Option<tokio::net::TcpListener>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for FunctionUrl {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

#[derive(Clone)]
struct Front {
    function: Arc<Function>,
    host: String,
}

impl FunctionUrl {
    /// Reserves the address first: the functions are started with it as `PGM_PUBLIC_URL`.
    pub async fn bind() -> Result<FunctionUrl, String> {
        let (listener, url) = bind().await?;
        Ok(FunctionUrl {
            url,
            listener: Some(listener),
            task: None,
        })
    }

    pub fn host(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    pub fn serve(&mut self, function: Arc<Function>) {
        let Some(listener) = self.listener.take() else {
            return;
        };
        let front = Front {
            function,
            host: self.host().to_owned(),
        };
        let router = Router::new().fallback(to_function).with_state(front);
        self.task = Some(tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        }));
    }
}

async fn to_function(State(front): State<Front>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body: Bytes = axum::body::to_bytes(body, 1024 * 1024)
        .await
        .unwrap_or_default();
    let headers = parts
        .headers
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    let request = HttpRequest::from_parts(
        parts.method.as_str(),
        parts.uri.path(),
        parts.uri.query().unwrap_or(""),
        headers,
        body.to_vec(),
    );
    match front
        .function
        .invoke(&events::function_url(&request, &front.host))
        .await
    {
        Ok(raw) => {
            let answer = HttpAnswer::read(&raw);
            let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
            (status, answer.text).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e).into_response(),
    }
}

/// The merchant's endpoint for notifications: answers every POST with the status it is told.
pub struct Receiver {
    pub url: String,
    status: Arc<AtomicU16>,
    received: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    pub async fn start() -> Result<Receiver, String> {
        let (listener, url) = bind().await?;
        let status = Arc::new(AtomicU16::new(200));
        let received = Arc::new(AtomicU64::new(0));
        let state = (status.clone(), received.clone());
        let router = Router::new()
            .fallback(
                |State((status, received)): State<(Arc<AtomicU16>, Arc<AtomicU64>)>| async move {
                    received.fetch_add(1, Ordering::Relaxed);
                    StatusCode::from_u16(status.load(Ordering::Relaxed)).unwrap_or(StatusCode::OK)
                },
            )
            .with_state(state);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Receiver {
            url: format!("{url}/notifications"),
            status,
            received,
            task,
        })
    }

    pub fn answer_with(&self, status: u16) {
        self.status.store(status, Ordering::Relaxed);
    }

    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }
}
