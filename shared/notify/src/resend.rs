//! The reconciler's half of "nothing lost": outbox entries that a publish should have handed to
//! the queue long ago (the queue was down, or the process died between commit and publish) are
//! published again.

use crate::{NotificationQueue, QueueError};
use pgm_core::clock::now_ms;
use pgm_store::{PaymentStore, StoreError};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ResendError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Entries read from the outbox per publish.
const PAGE: usize = 100;
/// Pages per call, so one reconciler run stays bounded whatever the backlog.
const MAX_PAGES: usize = 50;

/// Publishes the outbox entries due for longer than `older_than` and returns how many were
/// handed to the queue. A queue that marks what it publishes as done (SQS) empties the outbox;
/// an entry it could not take stays for the next run.
pub async fn resend_stuck(
    store: &dyn PaymentStore,
    queue: &dyn NotificationQueue,
    older_than: Duration,
) -> Result<usize, ResendError> {
    let before = now_ms() - i64::try_from(older_than.as_millis()).unwrap_or(i64::MAX);
    let mut sent = 0;
    let mut previous_first: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let due = store.due_events(before, PAGE).await?;
        let Some(first) = due.first() else { break };
        // The same page again means publish did not remove the entries (a queue that leaves
        // them to a delivery loop, or marking them failed): stop instead of sending them twice.
        if previous_first.as_deref() == Some(first.event.event_id.as_str()) {
            break;
        }
        previous_first = Some(first.event.event_id.clone());
        let events: Vec<_> = due.iter().map(|entry| entry.event.clone()).collect();
        queue.publish(&events).await?;
        sent += events.len();
        if due.len() < PAGE {
            break;
        }
    }
    if sent > 0 {
        tracing::info!(sent, "re-sent stuck notifications");
    }
    Ok(sent)
}
