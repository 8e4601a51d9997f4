//! The notifier Lambda's work: deliver each message of an SQS batch and report the failures
//! (`ReportBatchItemFailures`), so that Lambda deletes only what was delivered.
//!
//! A failed message is hidden for the schedule's delay for its receive count (visibility
//! change), so SQS itself is the retry timer. After the schedule's last try the message keeps
//! the queue's visibility timeout, and its next receive exceeds `maxReceiveCount`: SQS moves it
//! to the dead-letter queue. Hence `maxReceiveCount` = [`RetrySchedule::max_attempts`].

use crate::{Deliverer, RetrySchedule};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::Client;
use pgm_core::NotificationEvent;

/// SQS refuses a visibility change that makes a message invisible for more than 12 hours in
/// all, counted from its receive. The margin covers the time between the receive and our call
/// (the notifier's own run time).
const MAX_VISIBILITY_SECS: u64 = 12 * 3600 - 5 * 60;

/// The visibility timeout that makes a message failed on its `receive_count`-th delivery come
/// back when the schedule says, or `None` after the last try (left to the redrive policy).
pub fn visibility_for(schedule: &RetrySchedule, receive_count: u32) -> Option<i32> {
    let delay = schedule.delay_after(receive_count)?;
    // Round sub-second delays up: 0 would make the message visible again at once.
    let secs = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
    Some(secs.min(MAX_VISIBILITY_SECS) as i32)
}

/// Delivers every record of `event` (concurrently) and returns the records that must be
/// retried. `queue_url` is the queue the batch came from (for the visibility changes).
pub async fn handle_batch(
    client: &Client,
    queue_url: &str,
    deliverer: &Deliverer,
    schedule: &RetrySchedule,
    event: SqsEvent,
) -> SqsBatchResponse {
    // Every record counts as failed until its task says it was delivered, so a task that
    // panics leaves its record to be retried rather than deleted.
    let mut undelivered = Vec::new();
    let mut tasks = tokio::task::JoinSet::new();
    for record in event.records {
        let Some(message_id) = record.message_id.clone() else {
            // Lambda treats an empty itemIdentifier as "the whole batch failed": nothing is
            // deleted undelivered.
            tracing::error!("SQS record without a messageId; the whole batch is retried");
            undelivered.push(String::new());
            continue;
        };
        undelivered.push(message_id.clone());
        let client = client.clone();
        let queue_url = queue_url.to_owned();
        let deliverer = deliverer.clone();
        let schedule = schedule.clone();
        tasks.spawn(async move {
            let delivered =
                handle_record(&client, &queue_url, &deliverer, &schedule, &record).await;
            (message_id, delivered)
        });
    }
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((message_id, true)) => undelivered.retain(|id| *id != message_id),
            Ok((_, false)) => {}
            Err(e) => tracing::error!(error = %e, "notification task failed"),
        }
    }
    let mut response = SqsBatchResponse::default();
    response.set_failures(undelivered);
    response
}

/// Delivers one record; on failure schedules its retry. Returns whether it was delivered.
async fn handle_record(
    client: &Client,
    queue_url: &str,
    deliverer: &Deliverer,
    schedule: &RetrySchedule,
    record: &SqsMessage,
) -> bool {
    let message_id = record.message_id.as_deref().unwrap_or("?");
    let receive_count: u32 = record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|count| count.parse().ok())
        .unwrap_or(1);
    let event: NotificationEvent = match serde_json::from_str(record.body.as_deref().unwrap_or(""))
    {
        Ok(event) => event,
        Err(e) => {
            // Retrying cannot fix the body: make it visible again at once so it reaches the
            // dead-letter queue after maxReceiveCount quick receives, where it can be inspected.
            tracing::error!(message_id, error = %e, "notification message is not an event");
            change_visibility(client, queue_url, record, 0).await;
            return false;
        }
    };
    let event_id = event.event_id.as_str();
    match deliverer.deliver(&event).await {
        Ok(()) => {
            tracing::info!(event_id, receive_count, "notification delivered");
            true
        }
        Err(e) => {
            let retry_in = visibility_for(schedule, receive_count);
            tracing::warn!(event_id, receive_count, retry_in_secs = ?retry_in, error = %e, "notification not delivered");
            if let Some(secs) = retry_in {
                change_visibility(client, queue_url, record, secs).await;
            }
            false
        }
    }
}

async fn change_visibility(client: &Client, queue_url: &str, record: &SqsMessage, secs: i32) {
    let Some(receipt_handle) = record.receipt_handle.as_deref() else {
        tracing::error!("SQS record without a receipt handle; it comes back after the queue's visibility timeout");
        return;
    };
    let result = client
        .change_message_visibility()
        .queue_url(queue_url)
        .receipt_handle(receipt_handle)
        .visibility_timeout(secs)
        .send()
        .await;
    if let Err(e) = result {
        // Not fatal: the message comes back after the queue's visibility timeout instead.
        tracing::warn!(error = %DisplayErrorContext(e), "could not delay the notification's retry");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn retries_follow_the_schedule_then_stop() {
        let schedule = RetrySchedule::new(vec![Duration::from_secs(60), Duration::from_secs(300)]);
        assert_eq!(visibility_for(&schedule, 1), Some(60));
        assert_eq!(visibility_for(&schedule, 2), Some(300));
        // The third receive was the last try (max_attempts = 3): left to the redrive policy.
        assert_eq!(schedule.max_attempts(), 3);
        assert_eq!(visibility_for(&schedule, 3), None);
    }

    #[test]
    fn long_delays_are_capped_below_the_12_hour_limit_and_short_ones_never_reach_zero() {
        let schedule = RetrySchedule::new(vec![
            Duration::from_secs(86_400),
            Duration::from_millis(200),
        ]);
        let capped = visibility_for(&schedule, 1).unwrap();
        assert!((43_200 - 600..43_200).contains(&capped), "{capped}");
        assert_eq!(visibility_for(&schedule, 2), Some(1));
    }
}
