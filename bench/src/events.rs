//! The events Lambda hands the functions, in the shapes AWS documents: API Gateway HTTP API
//! (payload 2.0), Function URL, SQS batch, EventBridge scheduled event. The same shapes as the
//! serverless tests (tests/e2e/aws), written again here because those live in a test crate.

use base64::Engine;
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicU64, Ordering};

const ACCOUNT: &str = "123456789012";
const API_ID: &str = "a1b2c3d4e5";

fn request_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("bench-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

/// An HTTP request as the client sent it.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    /// Lower-case names, as API Gateway and Function URLs deliver them.
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// Base64 body (`isBase64Encoded`), as AWS sends form posts and other non-JSON bodies.
    pub base64: bool,
}

impl HttpRequest {
    pub fn get(path_and_query: &str) -> HttpRequest {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        HttpRequest {
            method: "GET".into(),
            path: path.into(),
            query: query.into(),
            headers: Vec::new(),
            body: None,
            base64: false,
        }
    }

    pub fn post_json(path: &str, body: &Value) -> HttpRequest {
        HttpRequest {
            method: "POST".into(),
            path: path.into(),
            query: String::new(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: Some(body.to_string().into_bytes()),
            base64: false,
        }
    }

    /// A request as it reached a loopback Function URL (what the sandbox's callbacks are).
    pub fn from_parts(
        method: &str,
        path: &str,
        query: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> HttpRequest {
        let text = headers
            .iter()
            .find(|(name, _)| name == "content-type")
            .is_some_and(|(_, value)| value.starts_with("application/json"));
        HttpRequest {
            method: method.into(),
            path: path.into(),
            query: query.into(),
            headers,
            base64: !text && !body.is_empty(),
            body: (!body.is_empty()).then_some(body),
        }
    }

    pub fn post_form(path: &str, form: &str) -> HttpRequest {
        HttpRequest {
            method: "POST".into(),
            path: path.into(),
            query: String::new(),
            headers: vec![(
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            body: Some(form.as_bytes().to_vec()),
            base64: true,
        }
    }

    fn headers_json(&self, host: &str) -> Map<String, Value> {
        let mut headers = Map::new();
        headers.insert("host".into(), host.into());
        headers.insert("user-agent".into(), "pgm-bench/1".into());
        headers.insert("x-forwarded-proto".into(), "https".into());
        headers.insert("x-forwarded-for".into(), "203.0.113.7".into());
        if let Some(body) = &self.body {
            headers.insert("content-length".into(), body.len().to_string().into());
        }
        for (name, value) in &self.headers {
            if name != "host" && name != "content-length" {
                headers.insert(name.clone(), value.clone().into());
            }
        }
        headers
    }

    fn query_json(&self) -> Value {
        if self.query.is_empty() {
            return Value::Null;
        }
        let pairs: Vec<(String, String)> = self
            .query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (decode(k), decode(v)))
            .collect();
        Value::Object(pairs.into_iter().map(|(k, v)| (k, v.into())).collect())
    }

    fn body_json(&self) -> Value {
        match &self.body {
            None => Value::Null,
            Some(bytes) if self.base64 => base64::engine::general_purpose::STANDARD
                .encode(bytes)
                .into(),
            Some(bytes) => String::from_utf8_lossy(bytes).into_owned().into(),
        }
    }

    fn request_context(&self, api_id: &str, domain: &str, route_key: &str) -> Value {
        json!({
            "accountId": ACCOUNT,
            "apiId": api_id,
            "domainName": domain,
            "domainPrefix": api_id,
            "http": {
                "method": self.method,
                "path": self.path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "pgm-bench/1"
            },
            "requestId": request_id(),
            "routeKey": route_key,
            "stage": "$default",
            "time": "21/Nov/2026:19:03:58 +0000",
            "timeEpoch": now_ms() as u64
        })
    }
}

/// Percent-decoding of the query strings the bench builds (ids are URL-safe already).
fn decode(text: &str) -> String {
    text.replace('+', " ").replace("%2F", "/")
}

/// An API Gateway HTTP API event (payload 2.0) for `route_key`, e.g. `POST /{provider}/{method}/pay`.
pub fn http_api(route_key: &str, path_parameters: Value, request: &HttpRequest) -> Value {
    let domain = format!("{API_ID}.execute-api.us-east-1.amazonaws.com");
    json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": request.path,
        "rawQueryString": request.query,
        "headers": request.headers_json(&domain),
        "queryStringParameters": request.query_json(),
        "requestContext": request.request_context(API_ID, &domain, route_key),
        "pathParameters": path_parameters,
        "body": request.body_json(),
        "isBase64Encoded": request.base64,
        "stageVariables": null
    })
}

/// A Function URL event (auth type NONE): `$default` route and stage, no path parameters.
pub fn function_url(request: &HttpRequest, host: &str) -> Value {
    let url_id = host.split('.').next().unwrap_or(host);
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": request.path,
        "rawQueryString": request.query,
        "headers": request.headers_json(host),
        "requestContext": request.request_context(url_id, host, "$default"),
        "body": request.body_json(),
        "pathParameters": null,
        "isBase64Encoded": request.base64,
        "stageVariables": null
    });
    event["requestContext"]["accountId"] = json!("anonymous");
    if !request.query.is_empty() {
        event["queryStringParameters"] = request.query_json();
    }
    event
}

/// `POST /sandbox/credit-cards/pay`.
pub fn pay(body: &Value) -> Value {
    http_api(
        "POST /{provider}/{method}/pay",
        json!({"provider": "sandbox", "method": "credit-cards"}),
        &HttpRequest::post_json("/sandbox/credit-cards/pay", body),
    )
}

/// `POST /sandbox/credit-cards/<operation>` (confirm, refund).
pub fn amend(operation: &str, body: &Value) -> Value {
    http_api(
        &format!("POST /{{provider}}/{{method}}/{operation}"),
        json!({"provider": "sandbox", "method": "credit-cards"}),
        &HttpRequest::post_json(&format!("/sandbox/credit-cards/{operation}"), body),
    )
}

/// `GET /sandbox/<status|check>?shopTransactionId=…`.
pub fn observe(operation: &str, shop_transaction_id: &str) -> Value {
    http_api(
        &format!("GET /{{provider}}/{operation}"),
        json!({"provider": "sandbox"}),
        &HttpRequest::get(&format!(
            "/sandbox/{operation}?shopTransactionId={shop_transaction_id}"
        )),
    )
}

/// `POST /sandbox/session/<operation>`.
pub fn session(operation: &str, body: &Value) -> Value {
    http_api(
        "POST /{provider}/session/{operation}",
        json!({"provider": "sandbox", "operation": operation}),
        &HttpRequest::post_json(&format!("/sandbox/session/{operation}"), body),
    )
}

/// A request for a path no function serves: answered by the router alone (404 problem), with
/// no store or provider call. What the init benchmark's first invocation is.
pub fn unrouted() -> Value {
    http_api(
        "$default",
        Value::Null,
        &HttpRequest::get("/bench/not-a-route"),
    )
}

/// An SQS batch as Lambda's poller hands it to the notifier, from received messages (the JSON
/// of SQS's `ReceiveMessage`).
pub fn sqs_batch(messages: &[Value], queue_arn: &str) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            json!({
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes").cloned().unwrap_or_else(|| json!({})),
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    json!({ "Records": records })
}

/// EventBridge's scheduled event (what starts a reconciliation pass).
pub fn scheduled() -> Value {
    json!({
        "version": "0",
        "id": request_id(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": "2026-11-21T19:05:00Z",
        "region": "us-east-1",
        "resources": [format!("arn:aws:events:us-east-1:{ACCOUNT}:rule/pgm-reconcile")],
        "detail": {}
    })
}

/// What an HTTP function answered (API Gateway's view of the response JSON).
pub struct HttpAnswer {
    pub status: u16,
    pub body: Value,
    pub text: String,
}

impl HttpAnswer {
    pub fn read(raw: &Value) -> HttpAnswer {
        let status = raw["statusCode"].as_u64().unwrap_or(0) as u16;
        let text = match raw["body"].as_str() {
            None => String::new(),
            Some(text) if raw["isBase64Encoded"] == json!(true) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .unwrap_or_default();
                String::from_utf8_lossy(&bytes).into_owned()
            }
            Some(text) => text.to_owned(),
        };
        HttpAnswer {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        }
    }
}
