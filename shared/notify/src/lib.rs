//! Notifications to the merchant: the queue port, the HTTP delivery with `PGM-Signature`, the
//! retry schedule, and the local adapter (the outbox itself is the queue, drained in-process).

mod delivery;
#[cfg(feature = "local")]
pub mod local;
mod resend;
mod schedule;
#[cfg(feature = "sqs")]
pub mod sqs;

pub use delivery::{Deliverer, DeliveryError};
pub use resend::{resend_stuck, ResendError};
pub use schedule::RetrySchedule;

use async_trait::async_trait;
use pgm_core::NotificationEvent;

#[derive(Debug, thiserror::Error)]
#[error("notification queue unavailable: {0}")]
pub struct QueueError(pub String);

/// Hands committed outbox events to whatever delivers them. A failure loses nothing: the
/// entries stay in the outbox and are sent by the delivery loop or the reconciler later.
#[async_trait]
pub trait NotificationQueue: Send + Sync {
    async fn publish(&self, events: &[NotificationEvent]) -> Result<(), QueueError>;
}
