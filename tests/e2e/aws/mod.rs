//! Test support for the serverless deployables: moto for DynamoDB and SQS, the Lambda events
//! in the shapes AWS documents, and Lambda's own parts played by the test (API Gateway and
//! Function URLs turning HTTP into events, the SQS poller, the EventBridge schedule).
//!
//! HTTP events go through `lambda_http`'s own conversion: the event JSON is read as
//! `lambda_http` reads what the Runtime API hands it, converted by the same adapter
//! `lambda_http::run` wraps the router in, and the answer is the JSON API Gateway would get.

#![allow(dead_code)]

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use base64::Engine;
use lambda_http::request::LambdaRequest;
use lambda_http::tower::ServiceExt;
use lambda_http::{Adapter, Context, LambdaEvent};
use pgm_core::Env;
use pgm_runtime::{AwsClients, Function, Outbound, Pgm, Profile};
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// Not every test binary that includes this module uses each of them.
#[allow(unused_imports)]
pub use pgm_mocks::lambda_events::{
    function_url_event, http_api_event, scheduled_event, HttpRequest, ACCOUNT, REGION,
};
pub const CALLBACK_SECRET: &str = "whsec_merchant_lambda_tests";

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

/// One deployment's configuration: its own table and queue pair on the shared moto, the
/// variables the SAM template gives every function, plus what the test adds.
pub struct Stack {
    pub env: Env,
    pub moto: String,
    pub table: String,
    pub queue_url: String,
    pub dlq_url: String,
}

impl Stack {
    /// What runs pgm-local on this stack: its AWS endpoint, table and queues, DynamoDB and SQS
    /// as the backends (created when missing), and short SQS polls (moto serves one request
    /// at a time).
    pub fn pgm_local_env(&self) -> Vec<(String, String)> {
        let mut vars: Vec<(String, String)> = [
            "AWS_ENDPOINT_URL",
            "AWS_REGION",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "PGM_TABLE_NAME",
            "PGM_QUEUE_URL",
            "PGM_DLQ_URL",
        ]
        .iter()
        .map(|var| (var.to_string(), self.env.get(var).expect("set").to_owned()))
        .collect();
        for (k, v) in [
            ("PGM_STORE", "dynamodb"),
            ("PGM_QUEUE", "sqs"),
            ("PGM_CREATE_RESOURCES", "1"),
            ("PGM_SQS_WAIT_SECONDS", "0"),
        ] {
            vars.push((k.into(), v.into()));
        }
        vars
    }

    pub async fn new(public_url: &str, extra: &[(&str, &str)]) -> Stack {
        let moto = pgm_mocks::moto::endpoint().await;
        let table = unique("pgm");
        let queue = unique("pgm-notifications");
        let queue_url = format!("{moto}/{ACCOUNT}/{queue}");
        let dlq_url = format!("{moto}/{ACCOUNT}/{queue}-dlq");
        let mut env = Env::from_pairs([
            ("AWS_ENDPOINT_URL", moto.as_str()),
            ("AWS_REGION", REGION),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("PGM_TABLE_NAME", table.as_str()),
            ("PGM_QUEUE_URL", queue_url.as_str()),
            ("PGM_DLQ_URL", dlq_url.as_str()),
            ("PGM_CREATE_RESOURCES", "1"),
            ("PGM_PUBLIC_URL", public_url),
            ("ENABLED_PROVIDERS", "sandbox"),
            ("SANDBOX_WEBHOOK_SECRET", pgm_e2e::SANDBOX_SECRET),
            ("PAYMENT_CALLBACK_SECRET", CALLBACK_SECRET),
        ]);
        for (k, v) in extra {
            env.set(k, v);
        }
        Stack {
            env,
            moto,
            table,
            queue_url,
            dlq_url,
        }
    }

    /// The configuration with one more variable.
    pub fn env_with(&self, pairs: &[(&str, &str)]) -> Env {
        let mut env = self.env.clone();
        for (k, v) in pairs {
            env.set(k, v);
        }
        env
    }

    /// An HTTP function, built the way its `main` builds it.
    pub async fn function(&self, function: Function) -> HttpFunction {
        HttpFunction::build(&self.env, function).await
    }

    pub async fn sqs(&self) -> aws_sdk_sqs::Client {
        AwsClients::load(&self.env, &Outbound::from_env(&self.env).unwrap())
            .await
            .sqs
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP functions and their events

/// A Lambda HTTP function: the router its `main` hands to `lambda_http::run`.
#[derive(Clone)]
pub struct HttpFunction {
    pub router: axum::Router,
}

impl HttpFunction {
    pub async fn build(env: &Env, function: Function) -> HttpFunction {
        let pgm = Pgm::build_for(env, Profile::Lambda, function)
            .await
            .expect("the function starts");
        HttpFunction {
            router: pgm.function_router(function),
        }
    }

    pub fn from_pgm(pgm: &Pgm, function: Function) -> HttpFunction {
        HttpFunction {
            router: pgm.function_router(function),
        }
    }

    /// One invocation: the event JSON in, the response JSON API Gateway gets out.
    pub async fn invoke(&self, event: &Value) -> LambdaAnswer {
        invoke(&self.router, event).await
    }
}

/// What the function answered, as API Gateway / the Function URL receives it.
#[derive(Debug, Clone)]
pub struct LambdaAnswer {
    pub raw: Value,
    pub status: u16,
    pub body: Vec<u8>,
}

impl LambdaAnswer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.raw["headers"][name].as_str()
    }
}

/// Runs one event through `lambda_http`'s adapter around `router`, as `lambda_http::run` does.
pub async fn invoke(router: &axum::Router, event: &Value) -> LambdaAnswer {
    let request: LambdaRequest =
        serde_json::from_value(event.clone()).expect("lambda_http reads the event");
    let response = Adapter::from(router.clone())
        .oneshot(LambdaEvent::new(request, Context::default()))
        .await
        .expect("the router never fails");
    let raw = serde_json::to_value(&response).expect("the response serializes");
    let status = raw["statusCode"].as_u64().expect("statusCode") as u16;
    let body = match raw["body"].as_str() {
        None => Vec::new(),
        Some(text) if raw["isBase64Encoded"] == json!(true) => {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .expect("base64 body")
        }
        Some(text) => text.as_bytes().to_vec(),
    };
    LambdaAnswer { raw, status, body }
}

// ---------------------------------------------------------------------------------------------
// a Function URL in front of a function (what providers and browsers reach)

/// A Function URL on loopback: every HTTP request becomes a Function URL event for the
/// function's router and the answer goes back as HTTP. Set `PGM_PUBLIC_URL` to its URL so
/// that the sandbox's callbacks reach the callback function as they would in AWS.
pub struct FunctionUrl {
    pub url: String,
    listener: Option<tokio::net::TcpListener>,
    /// `METHOD path` and status of every request served.
    pub served: Arc<Mutex<Vec<(String, u16)>>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

#[derive(Clone)]
struct FrontState {
    router: axum::Router,
    host: String,
    served: Arc<Mutex<Vec<(String, u16)>>>,
}

impl Drop for FunctionUrl {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl FunctionUrl {
    /// Reserves the address (the function is built with it as its public URL).
    pub async fn bind() -> FunctionUrl {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        FunctionUrl {
            url,
            listener: Some(listener),
            served: Arc::default(),
            task: None,
        }
    }

    pub fn host(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    pub fn serve(&mut self, function: &HttpFunction) {
        let listener = self.listener.take().expect("served once");
        let state = FrontState {
            router: function.router.clone(),
            host: self.host().to_owned(),
            served: self.served.clone(),
        };
        let front = axum::Router::new().fallback(forward).with_state(state);
        self.task = Some(tokio::spawn(async move {
            let _ = axum::serve(listener, front).await;
        }));
    }

    pub fn served(&self) -> Vec<(String, u16)> {
        self.served.lock().unwrap().clone()
    }
}

async fn forward(
    State(state): State<FrontState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let text_body = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json") || ct.starts_with("text/"));
    let request = HttpRequest {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or_default().to_owned(),
        headers: headers
            .iter()
            .filter(|(name, _)| !matches!(name.as_str(), "host" | "content-length"))
            .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_owned())))
            .collect(),
        body: (!body.is_empty()).then(|| body.to_vec()),
        base64: !body.is_empty() && !text_body,
    };
    let event = function_url_event(&request, &state.host);
    // The documented conversion (the adapter `lambda_http::run` uses holds a future that is
    // not Send, so it cannot run inside this spawned server); the router's answer goes back
    // as it is.
    let converted =
        lambda_http::request::from_str(&event.to_string()).expect("lambda_http reads the event");
    let response = state
        .router
        .clone()
        .oneshot(converted)
        .await
        .expect("the router never fails");
    state.served.lock().unwrap().push((
        format!("{method} {}", uri.path()),
        response.status().as_u16(),
    ));
    response
}

// ---------------------------------------------------------------------------------------------
// SQS: Lambda's poller, played by the test

/// Receives what Lambda's poller would hand the notifier: up to ten visible messages with
/// their system and message attributes. Short polls (a shared single-threaded moto is never
/// blocked) until one arrives or `within` passes.
pub async fn receive(sqs: &aws_sdk_sqs::Client, url: &str, within: Duration) -> Vec<Message> {
    let deadline = Instant::now() + within;
    loop {
        let received = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .expect("ReceiveMessage");
        let messages = received.messages.unwrap_or_default();
        if !messages.is_empty() || Instant::now() >= deadline {
            return messages;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// The SQS event Lambda invokes the notifier with, in the documented shape.
pub fn sqs_event(messages: &[Message], queue_url: &str) -> Value {
    let queue_name = queue_url.rsplit('/').next().unwrap_or_default();
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let attributes: Map<String, Value> = m
                .attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| (k.as_str().to_owned(), Value::String(v.clone())))
                        .collect()
                })
                .unwrap_or_default();
            let message_attributes: Map<String, Value> = m
                .message_attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                json!({
                                    "stringValue": v.string_value(),
                                    "stringListValues": [],
                                    "binaryListValues": [],
                                    "dataType": v.data_type(),
                                }),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body(),
                "attributes": attributes,
                "messageAttributes": message_attributes,
                "md5OfBody": m.md5_of_body(),
                "eventSource": "aws:sqs",
                "eventSourceARN": format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{queue_name}"),
                "awsRegion": REGION
            })
        })
        .collect();
    json!({ "Records": records })
}

/// Invokes the notifier's handler with `event` and returns its answer as JSON.
pub async fn invoke_notifier(notifier: &pgm_runtime::Notifier, event: &Value) -> Value {
    let payload = serde_json::from_value(event.clone()).expect("an SQS event");
    let answer =
        pgm_runtime::lambda::notify(notifier, LambdaEvent::new(payload, Context::default()))
            .await
            .expect("the notifier never fails an invocation");
    serde_json::to_value(answer).expect("serializes")
}

/// What Lambda does with the notifier's answer: deletes every message not reported failed.
/// Returns the ids reported failed.
pub async fn finish(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    messages: &[Message],
    answer: &Value,
) -> Vec<String> {
    let failed: Vec<String> = answer["batchItemFailures"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["itemIdentifier"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    for m in messages {
        if !failed.iter().any(|id| Some(id.as_str()) == m.message_id()) {
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("DeleteMessage");
        }
    }
    failed
}

/// Messages in a queue, visible and in flight.
pub async fn queue_depth(sqs: &aws_sdk_sqs::Client, url: &str) -> u64 {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("GetQueueAttributes")
        .attributes
        .unwrap_or_default();
    attributes
        .values()
        .filter_map(|v| v.parse::<u64>().ok())
        .sum()
}

// ---------------------------------------------------------------------------------------------
// EventBridge

/// Invokes the reconciler's handler with `event` and returns its answer as JSON.
pub async fn invoke_reconciler(reconciler: &pgm_runtime::Reconciler, event: &Value) -> Value {
    let payload = serde_json::from_value(event.clone()).expect("a scheduled event");
    let answer =
        pgm_runtime::lambda::reconcile(reconciler, LambdaEvent::new(payload, Context::default()))
            .await
            .expect("the pass succeeds");
    serde_json::to_value(answer).expect("serializes")
}

// ---------------------------------------------------------------------------------------------
// the merchant's API calls as events

/// `POST /sandbox/credit-cards/pay` through API Gateway.
pub async fn pay(function: &HttpFunction, id: &str, amount: &str, token: &str) -> LambdaAnswer {
    let request = HttpRequest::post_json(
        "/sandbox/credit-cards/pay",
        &json!({"amount": amount, "shopTransactionID": id, "creditCardToken": token}),
    );
    function
        .invoke(&http_api_event(
            "POST /{provider}/{method}/pay",
            json!({"provider": "sandbox", "method": "credit-cards"}),
            &request,
        ))
        .await
}

/// `GET /sandbox/status?shopTransactionId=…` through API Gateway.
pub async fn status(function: &HttpFunction, id: &str) -> LambdaAnswer {
    let request = HttpRequest::get(&format!("/sandbox/status?shopTransactionId={id}"));
    function
        .invoke(&http_api_event(
            "GET /{provider}/status",
            json!({"provider": "sandbox"}),
            &request,
        ))
        .await
}

/// The buyer presses Approve on the sandbox's hosted 3DS page (served by the callback
/// function behind its Function URL); the sandbox then calls the callback back itself.
pub async fn approve_3ds(callback: &FunctionUrl, redirect_url: &str) -> u16 {
    let path = redirect_url
        .strip_prefix(&callback.url)
        .unwrap_or_else(|| panic!("{redirect_url} is not on the callback function's URL"));
    let client = reqwest::Client::new();
    let url = format!("{}{path}", callback.url);
    let page = client
        .get(&url)
        .send()
        .await
        .expect("the Function URL answers");
    let page = page.text().await.expect("the page");
    let response = client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(pgm_mocks::sandbox_page::decision_form(&page, "approve"))
        .send()
        .await
        .expect("the Function URL answers");
    response.status().as_u16()
}

/// Polls `check` until it returns true or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    pgm_e2e::eventually(timeout, check).await
}
