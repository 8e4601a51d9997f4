//! The events Lambda hands the functions, in the shapes AWS documents: API Gateway HTTP API
//! (payload 2.0), Function URL, SQS batch, EventBridge scheduled event. The HTTP and scheduled
//! events are pgm-mocks' (shared with the serverless tests); here are the bench's routes.

use base64::Engine;
use serde_json::{json, Value};

pub use pgm_mocks::lambda_events::{
    function_url_event as function_url, http_api_event as http_api, scheduled_event as scheduled,
    HttpRequest,
};

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
