//! The events Lambda hands a function, in the shapes AWS documents: API Gateway HTTP API and
//! Function URL requests (payload format 2.0) and EventBridge's scheduled event. Shared by the
//! serverless tests (tests/e2e/aws) and the benchmarks (bench/), which play Lambda's part.

use base64::Engine;
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicU64, Ordering};

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";
const API_ID: &str = "a1b2c3d4e5";
const USER_AGENT: &str = "pgm-tests/1";

/// An id no other event of this process has.
fn event_id(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// An HTTP request as the caller sent it.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    /// Lower-case names, as API Gateway and Function URLs deliver them.
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// Send the body base64-encoded (`isBase64Encoded: true`), as AWS does for non-text bodies.
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
            headers: vec![("accept".into(), "*/*".into())],
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

    /// A request as it reached a loopback stand-in for a Function URL: JSON bodies go as text,
    /// anything else base64-encoded.
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

    pub fn header(mut self, name: &str, value: &str) -> HttpRequest {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    fn headers_json(&self, host: &str) -> Map<String, Value> {
        let mut headers = Map::new();
        let mut add = |name: &str, value: &str| {
            // Repeated headers arrive as one, comma-separated.
            match headers.get_mut(name) {
                Some(Value::String(existing)) => {
                    existing.push(',');
                    existing.push_str(value);
                }
                _ => {
                    headers.insert(name.to_owned(), Value::String(value.to_owned()));
                }
            }
        };
        add("host", host);
        add("user-agent", USER_AGENT);
        add("x-forwarded-proto", "https");
        add("x-forwarded-port", "443");
        add("x-forwarded-for", "203.0.113.7");
        if let Some(body) = &self.body {
            add("content-length", &body.len().to_string());
        }
        // AWS sets these two itself, whatever the caller's were.
        for (name, value) in &self.headers {
            if name != "host" && name != "content-length" {
                add(name, value);
            }
        }
        headers
    }

    fn query_json(&self) -> Value {
        if self.query.is_empty() {
            return Value::Null;
        }
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(&self.query).unwrap_or_default();
        let mut map = Map::new();
        for (k, v) in pairs {
            match map.get_mut(&k) {
                Some(Value::String(existing)) => {
                    existing.push(',');
                    existing.push_str(&v);
                }
                _ => {
                    map.insert(k, Value::String(v));
                }
            }
        }
        Value::Object(map)
    }

    fn body_json(&self) -> Value {
        match &self.body {
            None => Value::Null,
            Some(bytes) if self.base64 => {
                Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
            }
            Some(bytes) => Value::String(String::from_utf8_lossy(bytes).into_owned()),
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
                "userAgent": USER_AGENT
            },
            "requestId": event_id("req"),
            "routeKey": route_key,
            "stage": "$default",
            "time": "21/Nov/2026:19:03:58 +0000",
            "timeEpoch": now_ms()
        })
    }
}

/// An API Gateway HTTP API event (payload format 2.0) for a route such as
/// `POST /{provider}/{method}/pay`, with its path parameters.
pub fn http_api_event(route_key: &str, path_parameters: Value, request: &HttpRequest) -> Value {
    let domain = format!("{API_ID}.execute-api.{REGION}.amazonaws.com");
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

/// A Lambda Function URL event: payload format 2.0 with `$default` route and stage, no path
/// parameters, `accountId` "anonymous" for an unauthenticated (auth type NONE) URL.
pub fn function_url_event(request: &HttpRequest, host: &str) -> Value {
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
    event["requestContext"]["authentication"] = Value::Null;
    if !request.query.is_empty() {
        event["queryStringParameters"] = request.query_json();
    }
    event
}

/// The event an EventBridge schedule rule invokes the reconciler with.
pub fn scheduled_event() -> Value {
    json!({
        "version": "0",
        "id": event_id("evt"),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": "2026-11-21T19:05:00Z",
        "region": REGION,
        "resources": [format!("arn:aws:events:{REGION}:{ACCOUNT}:rule/pgm-reconciler")],
        "detail": {}
    })
}
