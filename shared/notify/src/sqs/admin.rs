//! Queue set-up and the dead-letter redrive (ops).

use crate::{QueueError, RetrySchedule};
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, QueueAttributeName, SendMessageBatchRequestEntry,
};
use aws_sdk_sqs::Client;

/// The notifier Lambda's timeout: a batch of ten is delivered concurrently, each POST bounded by the
/// delivery timeout (8 s), plus the visibility changes.
pub const NOTIFIER_TIMEOUT_SECS: u32 = 30;

/// The notification queue's visibility timeout: AWS asks for at least six times the consuming
/// function's timeout, so a batch still being retried by Lambda does not reappear meanwhile.
pub const VISIBILITY_TIMEOUT_SECS: u32 = 6 * NOTIFIER_TIMEOUT_SECS;

/// Both queues keep messages 14 days (the SQS maximum). A standard queue's message keeps its
/// original enqueue time when it moves to the dead-letter queue, so the DLQ holds it for
/// 14 days minus the days spent retrying.
pub const MESSAGE_RETENTION_SECS: u32 = 14 * 86_400;

/// The queue's `maxReceiveCount`: one receive per delivery the schedule allows, so the receive
/// after the last failed try moves the message to the dead-letter queue.
pub fn max_receive_count(schedule: &RetrySchedule) -> u32 {
    schedule.max_attempts()
}

fn sqs_error(operation: &str, error: impl std::error::Error + 'static) -> QueueError {
    QueueError(format!(
        "{operation} failed: {}",
        DisplayErrorContext(error)
    ))
}

/// The queue name is the URL's last path segment (`https://sqs.<region>.amazonaws.com/<account>/<name>`).
fn queue_name(url: &str) -> Result<&str, QueueError> {
    url.trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|name| !name.is_empty() && !name.contains(':'))
        .ok_or_else(|| QueueError(format!("`{url}` is not a queue URL")))
}

/// Creates the notification queue and its dead-letter queue unless they exist, with the same
/// settings as the SAM template. Existing queues are left as they are.
pub async fn create_queues_if_missing(
    client: &Client,
    queue_url: &str,
    dlq_url: &str,
    visibility_timeout_secs: u32,
    max_receive_count: u32,
) -> Result<(), QueueError> {
    let retention = MESSAGE_RETENTION_SECS.to_string();
    let dlq_url = match existing_queue(client, queue_name(dlq_url)?).await? {
        Some(url) => url,
        None => client
            .create_queue()
            .queue_name(queue_name(dlq_url)?)
            .attributes(QueueAttributeName::MessageRetentionPeriod, &retention)
            .send()
            .await
            .map_err(|e| sqs_error("CreateQueue (dead-letter)", e))?
            .queue_url
            .ok_or_else(|| QueueError("CreateQueue returned no URL".into()))?,
    };
    if existing_queue(client, queue_name(queue_url)?)
        .await?
        .is_some()
    {
        return Ok(());
    }
    let dlq_arn = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| sqs_error("GetQueueAttributes (dead-letter)", e))?
        .attributes
        .and_then(|mut attributes| attributes.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| QueueError("the dead-letter queue has no ARN".into()))?;
    let redrive_policy = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": max_receive_count,
    });
    client
        .create_queue()
        .queue_name(queue_name(queue_url)?)
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility_timeout_secs.to_string(),
        )
        .attributes(QueueAttributeName::MessageRetentionPeriod, &retention)
        .attributes(
            QueueAttributeName::RedrivePolicy,
            redrive_policy.to_string(),
        )
        .send()
        .await
        .map_err(|e| sqs_error("CreateQueue", e))?;
    tracing::info!(
        queue = queue_name(queue_url)?,
        "created the notification queues"
    );
    Ok(())
}

async fn existing_queue(client: &Client, name: &str) -> Result<Option<String>, QueueError> {
    match client.get_queue_url().queue_name(name).send().await {
        Ok(output) => Ok(output.queue_url),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_queue_does_not_exist()) =>
        {
            Ok(None)
        }
        Err(e) => Err(sqs_error("GetQueueUrl", e)),
    }
}

/// A message taken from the dead-letter queue stays hidden this long while it is moved; if the
/// move fails it comes back there afterwards.
const REDRIVE_VISIBILITY_SECS: i32 = 60;

/// Moves up to `max_messages` messages from the dead-letter queue back to the notification
/// queue (each as a new message, so it gets the whole retry schedule again) and returns how
/// many moved. A message is deleted from the DLQ only after the main queue has it.
pub async fn redrive_dlq(
    client: &Client,
    dlq_url: &str,
    queue_url: &str,
    max_messages: usize,
) -> Result<usize, QueueError> {
    let mut moved = 0;
    while moved < max_messages {
        let received = client
            .receive_message()
            .queue_url(dlq_url)
            .max_number_of_messages((max_messages - moved).min(10) as i32)
            .message_attribute_names("All")
            .visibility_timeout(REDRIVE_VISIBILITY_SECS)
            // Long polling asks every SQS server, so an empty answer means empty.
            .wait_time_seconds(1)
            .send()
            .await
            .map_err(|e| sqs_error("ReceiveMessage (dead-letter)", e))?;
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        let mut entries = Vec::with_capacity(messages.len());
        for (index, message) in messages.iter().enumerate() {
            let entry = SendMessageBatchRequestEntry::builder()
                .id(index.to_string())
                .message_body(message.body.clone().unwrap_or_default())
                .set_message_attributes(message.message_attributes.clone())
                .build()
                .map_err(|e| QueueError(e.to_string()))?;
            entries.push(entry);
        }
        let sent = client
            .send_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| sqs_error("SendMessageBatch", e))?;
        let mut deletes = Vec::new();
        for ok in sent.successful() {
            let receipt = ok
                .id()
                .parse::<usize>()
                .ok()
                .and_then(|index| messages.get(index))
                .and_then(|message| message.receipt_handle.clone());
            if let Some(receipt) = receipt {
                let entry = DeleteMessageBatchRequestEntry::builder()
                    .id(ok.id())
                    .receipt_handle(receipt)
                    .build()
                    .map_err(|e| QueueError(e.to_string()))?;
                deletes.push(entry);
            }
        }
        if deletes.is_empty() {
            return Err(QueueError(format!(
                "the notification queue refused every redriven message ({} moved before)",
                moved
            )));
        }
        moved += deletes.len();
        let deleted = client
            .delete_message_batch()
            .queue_url(dlq_url)
            .set_entries(Some(deletes))
            .send()
            .await
            .map_err(|e| sqs_error("DeleteMessageBatch (dead-letter)", e))?;
        for failed in deleted.failed() {
            // Already on the main queue: it is delivered from there and redriven again from
            // here later (the receiver drops the duplicate by eventId).
            tracing::warn!(
                entry = failed.id(),
                code = failed.code(),
                "redriven message not deleted from the DLQ"
            );
        }
    }
    tracing::info!(moved, "redrove notifications from the dead-letter queue");
    Ok(moved)
}
