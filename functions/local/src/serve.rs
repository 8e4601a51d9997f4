//! The HTTP/1.1 server of `pgm-local`, with the time limits `axum::serve` does not have: a
//! client that sends its request head slowly, trickles its body, or holds a connection open
//! doing nothing is cut off after a bounded, configurable time (a few such clients would
//! otherwise hold sockets and memory for ever).

use crate::config::Timeouts;
use axum::body::Body;
use axum::Router;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio::time::Sleep;
use tower::ServiceExt;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Serves `router` on `listener` until the returned future is dropped (connections with it:
/// they live in a `JoinSet` owned by this future).
pub async fn serve(listener: TcpListener, router: Router, timeouts: Timeouts) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(connection(stream, router.clone(), timeouts));
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// What the idle watchdog of one connection reads.
struct Activity {
    in_flight: AtomicUsize,
    since: Mutex<Instant>,
}

impl Activity {
    fn idle_for(&self) -> Option<std::time::Duration> {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return None;
        }
        Some(self.since.lock().map(|t| t.elapsed()).unwrap_or_default())
    }

    fn mark(&self) {
        if let Ok(mut since) = self.since.lock() {
            *since = Instant::now();
        }
    }
}

async fn connection(stream: tokio::net::TcpStream, router: Router, timeouts: Timeouts) {
    let activity = Arc::new(Activity {
        in_flight: AtomicUsize::new(0),
        since: Mutex::new(Instant::now()),
    });
    let watched = activity.clone();
    let service =
        hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let router = router.clone();
            let activity = watched.clone();
            activity.in_flight.fetch_add(1, Ordering::SeqCst);
            let request = request.map(|body| Body::new(Deadline::new(body, timeouts.body)));
            async move {
                let response = router.oneshot(request).await;
                activity.mark();
                activity.in_flight.fetch_sub(1, Ordering::SeqCst);
                response
            }
        });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.header);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let mut tick = tokio::time::interval(timeouts.idle.min(std::time::Duration::from_secs(1)));
    let mut closing = false;
    loop {
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = tick.tick(), if !closing => {
                if activity.idle_for().is_some_and(|idle| idle >= timeouts.idle) {
                    // Closes at once when no request is under way.
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
        }
    }
}

/// A request body that must have arrived in full by a deadline (not per chunk: a body sent a
/// byte at a time would otherwise never time out).
struct Deadline<B> {
    inner: B,
    sleep: Pin<Box<Sleep>>,
}

impl<B> Deadline<B> {
    fn new(inner: B, limit: std::time::Duration) -> Deadline<B> {
        Deadline {
            inner,
            sleep: Box::pin(tokio::time::sleep(limit)),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyTimeout;

impl<B> HttpBody for Deadline<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Box::new(BodyTimeout))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
