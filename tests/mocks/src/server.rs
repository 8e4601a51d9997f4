use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

/// A way for the next request to fail, as real networks and providers do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer 503 without doing anything.
    Unavailable,
    /// Do the work, then answer 500 (the caller cannot know it happened).
    ErrorAfterWork,
    /// Close the connection without an answer, before doing anything.
    Reset,
    /// Do the work, then close the connection without an answer.
    ResetAfterWork,
    /// Wait this long before handling (longer than the caller's timeout = a timeout).
    Delay(Duration),
}

/// Faults queued for the next requests, one per request, in order.
#[derive(Clone, Default)]
pub struct Faults(Arc<Mutex<VecDeque<Fault>>>);

impl Faults {
    pub fn push(&self, fault: Fault) {
        self.0.lock().unwrap().push_back(fault);
    }

    fn next(&self) -> Option<Fault> {
        self.0.lock().unwrap().pop_front()
    }
}

/// A mock running on a random loopback port until dropped.
pub struct MockServer {
    pub url: String,
    pub faults: Faults,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockServer {
    /// Serves `router` on 127.0.0.1 with the fault layer in front of it.
    pub async fn start(router: Router) -> MockServer {
        MockServer::start_on(router, "127.0.0.1:0").await
    }

    /// Serves `router` on `addr` (a fixed port, for running a mock by hand).
    pub async fn start_on(router: Router, addr: &str) -> MockServer {
        let faults = Faults::default();
        let app = router.layer(middleware::from_fn_with_state(faults.clone(), inject));
        let listener = TcpListener::bind(addr)
            .await
            .expect("bind the mock's address");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("mock server");
        });
        MockServer { url, faults, task }
    }
}

/// `router` with a fault queue of its own: faults for some routes only (a mock whose every
/// call first fetches a token queues faults for its payment routes, not for the token).
pub fn with_faults(router: Router, faults: Faults) -> Router {
    router.layer(middleware::from_fn_with_state(faults, inject))
}

async fn inject(State(faults): State<Faults>, request: Request, next: Next) -> Response {
    match faults.next() {
        None => next.run(request).await,
        Some(Fault::Unavailable) => {
            (StatusCode::SERVICE_UNAVAILABLE, "service unavailable").into_response()
        }
        Some(Fault::ErrorAfterWork) => {
            let _ = next.run(request).await;
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
        Some(Fault::Reset) => reset(),
        Some(Fault::ResetAfterWork) => {
            let _ = next.run(request).await;
            reset()
        }
        Some(Fault::Delay(d)) => {
            tokio::time::sleep(d).await;
            next.run(request).await
        }
    }
}

/// A response whose body errors: hyper aborts the connection mid-response, which the client
/// sees as a reset (no complete answer).
fn reset() -> Response {
    let stream = futures_stream_error();
    Response::new(Body::from_stream(stream))
}

fn futures_stream_error(
) -> impl futures_core::Stream<Item = Result<axum::body::Bytes, std::io::Error>> {
    struct Failing;
    impl futures_core::Stream for Failing {
        type Item = Result<axum::body::Bytes, std::io::Error>;
        fn poll_next(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            std::task::Poll::Ready(Some(Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "simulated reset",
            ))))
        }
    }
    Failing
}
