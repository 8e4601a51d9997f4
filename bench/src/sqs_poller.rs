//! Lambda's SQS poller, played by the bench: receive a batch, hand it to the notifier, delete
//! what it did not report as failed. Talks to moto directly (SQS's JSON protocol), so these
//! requests, which AWS's poller makes, are not counted as the notifier's.

use serde_json::{json, Value};

/// moto reads the service from the credential scope; it checks no signature.
const AUTHORIZATION: &str = "AWS4-HMAC-SHA256 Credential=bench/20260101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=00";

async fn call(
    http: &reqwest::Client,
    moto: &str,
    action: &str,
    body: Value,
) -> Result<Value, String> {
    let answer = http
        .post(format!("{moto}/"))
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amz-target", format!("AmazonSQS.{action}"))
        .header("authorization", AUTHORIZATION)
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| format!("SQS {action}: {e}"))?;
    let status = answer.status();
    let text = answer.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("SQS {action}: {status} {text}"));
    }
    serde_json::from_str(&text).map_err(|e| format!("SQS {action}: {e}: {text}"))
}

/// Up to ten messages, with their attributes (receive count) as Lambda's poller asks for them.
pub async fn receive(
    http: &reqwest::Client,
    moto: &str,
    queue_url: &str,
) -> Result<Vec<Value>, String> {
    let answer = call(
        http,
        moto,
        "ReceiveMessage",
        json!({
            "QueueUrl": queue_url,
            "MaxNumberOfMessages": 10,
            "AttributeNames": ["All"],
            "MessageAttributeNames": ["All"],
            "WaitTimeSeconds": 0
        }),
    )
    .await?;
    Ok(answer["Messages"].as_array().cloned().unwrap_or_default())
}

/// Deletes the messages of `batch` that the notifier's answer does not list as failed.
pub async fn finish(
    http: &reqwest::Client,
    moto: &str,
    queue_url: &str,
    batch: &[Value],
    answer: &Value,
) -> Result<usize, String> {
    let failed: Vec<&str> = answer["batchItemFailures"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(|f| f["itemIdentifier"].as_str())
                .collect()
        })
        .unwrap_or_default();
    let entries: Vec<Value> = batch
        .iter()
        .enumerate()
        .filter(|(_, m)| !failed.contains(&m["MessageId"].as_str().unwrap_or("")))
        .map(|(i, m)| json!({"Id": i.to_string(), "ReceiptHandle": m["ReceiptHandle"]}))
        .collect();
    if entries.is_empty() {
        return Ok(0);
    }
    let deleted = entries.len();
    call(
        http,
        moto,
        "DeleteMessageBatch",
        json!({"QueueUrl": queue_url, "Entries": entries}),
    )
    .await?;
    Ok(deleted)
}

pub fn queue_arn(queue_url: &str) -> String {
    let name = queue_url.rsplit('/').next().unwrap_or_default();
    format!(
        "arn:aws:sqs:us-east-1:{}:{name}",
        crate::deployment::ACCOUNT
    )
}
