//! The serverless notification path. After a commit the outbox entries are put on an SQS queue
//! ([`SqsQueue`]); the notifier Lambda delivers them ([`handle_batch`]) and stretches each retry
//! with a visibility change; after the schedule's last try the queue's redrive policy moves the
//! message to the dead-letter queue, from which [`redrive_dlq`] brings it back.
//!
//! The SAM template copies the queue settings from [`VISIBILITY_TIMEOUT_SECS`],
//! [`MESSAGE_RETENTION_SECS`], [`max_receive_count`] and [`NOTIFIER_TIMEOUT_SECS`].

mod admin;
mod notifier;

pub use admin::{
    create_queues_if_missing, max_receive_count, redrive_dlq, MESSAGE_RETENTION_SECS,
    NOTIFIER_TIMEOUT_SECS, VISIBILITY_TIMEOUT_SECS,
};
pub use notifier::{handle_batch, visibility_for};

use crate::{NotificationQueue, QueueError};
use async_trait::async_trait;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use aws_sdk_sqs::Client;
use pgm_core::NotificationEvent;
use pgm_store::PaymentStore;
use std::sync::Arc;

/// Message attribute carrying the event's `eventId` (for filtering and tracing without parsing
/// the body).
pub const EVENT_ID_ATTRIBUTE: &str = "eventId";

/// SendMessageBatch takes at most this many entries.
const SEND_BATCH: usize = 10;

/// Publishes committed outbox entries to the notification queue and removes them from the
/// outbox once SQS has them.
pub struct SqsQueue {
    client: Client,
    queue_url: String,
    store: Arc<dyn PaymentStore>,
}

impl SqsQueue {
    pub fn new(client: Client, queue_url: String, store: Arc<dyn PaymentStore>) -> SqsQueue {
        SqsQueue {
            client,
            queue_url,
            store,
        }
    }

    /// Sends up to ten events in one call; returns the ids SQS accepted.
    async fn send_batch(&self, events: &[NotificationEvent]) -> Result<Vec<String>, QueueError> {
        let mut entries = Vec::with_capacity(events.len());
        for (index, event) in events.iter().enumerate() {
            entries.push(message_entry(index, event)?);
        }
        let output = self
            .client
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| {
                QueueError(format!(
                    "SendMessageBatch failed: {}",
                    DisplayErrorContext(e)
                ))
            })?;
        for failed in output.failed() {
            tracing::warn!(
                entry = failed.id(),
                code = failed.code(),
                message = failed.message().unwrap_or_default(),
                "SQS refused a notification; it stays in the outbox"
            );
        }
        // Entry ids are indexes into `events`; anything else is ignored rather than trusted.
        Ok(output
            .successful()
            .iter()
            .filter_map(|ok| ok.id().parse::<usize>().ok())
            .filter_map(|index| events.get(index))
            .map(|event| event.event_id.clone())
            .collect())
    }
}

fn message_entry(
    index: usize,
    event: &NotificationEvent,
) -> Result<SendMessageBatchRequestEntry, QueueError> {
    let body = serde_json::to_string(event)
        .map_err(|e| QueueError(format!("event does not serialize: {e}")))?;
    let event_id = MessageAttributeValue::builder()
        .data_type("String")
        .string_value(&event.event_id)
        .build()
        .map_err(|e| QueueError(e.to_string()))?;
    SendMessageBatchRequestEntry::builder()
        .id(index.to_string())
        .message_body(body)
        .message_attributes(EVENT_ID_ATTRIBUTE, event_id)
        .build()
        .map_err(|e| QueueError(e.to_string()))
}

#[async_trait]
impl NotificationQueue for SqsQueue {
    async fn publish(&self, events: &[NotificationEvent]) -> Result<(), QueueError> {
        let mut refused = 0;
        for chunk in events.chunks(SEND_BATCH) {
            let sent = self.send_batch(chunk).await?;
            refused += chunk.len() - sent.len();
            for event_id in sent {
                if let Err(e) = self.store.event_done(&event_id).await {
                    // Queued but still in the outbox: the reconciler sends it again, and the
                    // receiver drops the duplicate by eventId (delivery is at least once).
                    tracing::warn!(%event_id, error = %e, "queued notification not marked sent");
                }
            }
        }
        if refused > 0 {
            return Err(QueueError(format!(
                "SQS refused {refused} of {} notifications",
                events.len()
            )));
        }
        Ok(())
    }
}
