//! Local notification delivery: the outbox in the embedded store is the queue, and this loop
//! drains it. Undelivered entries survive restarts because they never leave the store until a
//! receiver has answered 2xx.

use crate::{Deliverer, NotificationQueue, QueueError, RetrySchedule};
use async_trait::async_trait;
use pgm_core::clock::now_ms;
use pgm_core::NotificationEvent;
use pgm_store::{OutboxEntry, PaymentStore};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Publishing only wakes the loop: the events are already in the outbox.
pub struct LocalQueue {
    wake: Arc<Notify>,
}

#[async_trait]
impl NotificationQueue for LocalQueue {
    async fn publish(&self, _events: &[NotificationEvent]) -> Result<(), QueueError> {
        self.wake.notify_one();
        Ok(())
    }
}

pub struct DeliveryLoop {
    store: Arc<dyn PaymentStore>,
    deliverer: Deliverer,
    schedule: RetrySchedule,
    wake: Arc<Notify>,
}

/// Entries delivered concurrently per pass.
const BATCH: usize = 32;
/// Longest sleep between passes when nothing wakes the loop (picks up retries that fall due).
const IDLE_POLL: Duration = Duration::from_millis(500);

impl DeliveryLoop {
    pub fn new(
        store: Arc<dyn PaymentStore>,
        deliverer: Deliverer,
        schedule: RetrySchedule,
    ) -> (DeliveryLoop, LocalQueue) {
        let wake = Arc::new(Notify::new());
        let queue = LocalQueue { wake: wake.clone() };
        (
            DeliveryLoop {
                store,
                deliverer,
                schedule,
                wake,
            },
            queue,
        )
    }

    pub async fn run(self) {
        loop {
            match self.drain_once().await {
                // A full batch: there may be more due right now.
                Ok(n) if n == BATCH => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "notification outbox unreadable; retrying"),
            }
            let _ = tokio::time::timeout(IDLE_POLL, self.wake.notified()).await;
        }
    }

    /// One pass over the due entries. Returns how many were attempted.
    pub async fn drain_once(&self) -> Result<usize, pgm_store::StoreError> {
        let due = self.store.due_events(now_ms(), BATCH).await?;
        let count = due.len();
        let mut tasks = tokio::task::JoinSet::new();
        for entry in due {
            let store = self.store.clone();
            let deliverer = self.deliverer.clone();
            let schedule = self.schedule.clone();
            tasks.spawn(async move { attempt(store, deliverer, schedule, entry).await });
        }
        while tasks.join_next().await.is_some() {}
        Ok(count)
    }
}

async fn attempt(
    store: Arc<dyn PaymentStore>,
    deliverer: Deliverer,
    schedule: RetrySchedule,
    mut entry: OutboxEntry,
) {
    let event_id = entry.event.event_id.clone();
    match deliverer.deliver(&entry.event).await {
        Ok(()) => {
            tracing::info!(%event_id, "notification delivered");
            if let Err(e) = store.event_done(&event_id).await {
                // Delivered but not recorded: it will be delivered again (at least once).
                tracing::warn!(%event_id, error = %e, "could not record delivery");
            }
        }
        Err(e) => {
            entry.attempts += 1;
            match schedule.delay_after(entry.attempts) {
                Some(delay) => entry.next_attempt_at = now_ms() + delay.as_millis() as i64,
                None => entry.parked = true,
            }
            tracing::warn!(%event_id, attempts = entry.attempts, parked = entry.parked, error = %e, "notification not delivered");
            if let Err(e) = store.event_retry(&entry).await {
                tracing::warn!(%event_id, error = %e, "could not reschedule notification");
            }
        }
    }
}
