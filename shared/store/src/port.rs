//! The storage port. Stores hold data and enforce "written at the version it was read"; every
//! business rule (state machine, refund limits, duplicate classification) lives in the domain.

use async_trait::async_trait;
use pgm_core::{NotificationEvent, Payment, StoredResponse};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The payment changed since it was read (its version moved on): re-read and try again.
    #[error("the record changed concurrently")]
    VersionConflict,
    /// The provider payment id is already mapped to another payment.
    #[error("provider payment id {0} already belongs to another payment")]
    MappingTaken(String),
    /// The engine failed (I/O, throttling, unreachable). Safe to retry later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Stored data we cannot read back: a bug or a hand-edited record.
    #[error("corrupt record {key}: {message}")]
    Corrupt { key: String, message: String },
}

/// Idempotency state of a merchant request carrying an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    /// `<operation>#<key>`, e.g. `refund#3f2a…`.
    pub key: String,
    pub request_hash: String,
    /// `None` while the request runs; the answer every retry gets afterwards.
    pub response: Option<StoredResponse>,
    /// Unix ms: until then an unfinished record blocks duplicates.
    pub lock_expires_at: i64,
    /// Unix ms: after this the record is forgotten (TTL; at least 24 h).
    pub expires_at: i64,
}

pub enum IdempotencyClaim {
    /// The key is ours (new, expired, or its previous holder died).
    Claimed,
    /// Someone holds or held it: the caller classifies this record.
    Existing(IdempotencyRecord),
}

/// A notification waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub event: NotificationEvent,
    /// Deliveries tried so far (local delivery) or hand-offs to the queue (queue mode).
    pub attempts: u32,
    /// Unix ms: not before this.
    pub next_attempt_at: i64,
    /// Given up after the last retry; only a redrive brings it back.
    pub parked: bool,
    pub created_at: i64,
}

impl OutboxEntry {
    pub fn new(event: NotificationEvent, now: i64) -> OutboxEntry {
        OutboxEntry {
            event,
            attempts: 0,
            next_attempt_at: now,
            parked: false,
            created_at: now,
        }
    }
}

/// One atomic write: the payment at its next version, plus everything that must land with it.
pub struct Commit<'a> {
    /// Written only if the stored version is `payment.version - 1`. Version 1 means "create".
    pub payment: &'a Payment,
    /// Also record `PID#<provider>#<id>` → shopTransactionID (when the provider id is new).
    pub map_provider_id: Option<&'a str>,
    /// Outbox entries written in the same transaction.
    pub events: &'a [NotificationEvent],
    /// Completes this idempotency record with its response.
    pub idempotency: Option<&'a IdempotencyRecord>,
}

#[async_trait]
pub trait PaymentStore: Send + Sync {
    /// Creates `payment` (version 1) if no payment has its shopTransactionID. One conditional
    /// write; when it exists the stored payment comes back instead (no second read).
    async fn insert_payment(&self, payment: &Payment) -> Result<Option<Payment>, StoreError>;

    async fn get_payment(&self, shop_transaction_id: &str) -> Result<Option<Payment>, StoreError>;

    /// The payment the provider knows as `provider_payment_id`.
    async fn find_by_provider_id(
        &self,
        provider: &str,
        provider_payment_id: &str,
    ) -> Result<Option<Payment>, StoreError>;

    /// Writes a [`Commit`] atomically, or fails with `VersionConflict` and writes nothing.
    async fn commit(&self, commit: Commit<'_>) -> Result<(), StoreError>;

    /// Takes an idempotency key: succeeds if it is absent, expired (`expires_at` passed) or
    /// abandoned (no response and `lock_expires_at` passed, as of `now`).
    async fn claim_idempotency(
        &self,
        record: &IdempotencyRecord,
        now: i64,
    ) -> Result<IdempotencyClaim, StoreError>;

    /// Lets go of a claim whose request failed before changing anything, so a retry may run.
    async fn release_idempotency(&self, key: &str) -> Result<(), StoreError>;

    /// Payments awaiting news from their provider ([`Payment::awaits_news`]: still `Initiated`
    /// or `Pending`, or with a refund whose answer was lost) whose last change is older than
    /// `updated_before`, oldest first.
    async fn stale_pending(
        &self,
        updated_before: i64,
        limit: usize,
    ) -> Result<Vec<Payment>, StoreError>;

    /// Outbox entries due (`next_attempt_at <= now`), not parked, oldest first.
    async fn due_events(&self, now: i64, limit: usize) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Removes a delivered (or queued) entry.
    async fn event_done(&self, event_id: &str) -> Result<(), StoreError>;

    /// Reschedules an entry after a failed attempt, or parks it.
    async fn event_retry(&self, entry: &OutboxEntry) -> Result<(), StoreError>;

    /// Parked entries (the local dead-letter list), oldest first.
    async fn parked_events(&self, limit: usize) -> Result<Vec<OutboxEntry>, StoreError>;
}
