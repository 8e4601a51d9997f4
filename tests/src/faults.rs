//! Faults injected into a running PGM: a store that fails a chosen commit (what a crash between
//! a provider call and the write that records it leaves behind) and a notification queue that
//! can be made unreachable. Both wrap the real adapters and are installed through
//! `pgm_local::start_with`, so the PGM under test is the real composition in every other way.
//!
//! Only the use cases see the wrappers: the local delivery loop and the SQS queue keep the real
//! store, as a crashed request would not stop them either.

use async_trait::async_trait;
use pgm_core::payment::{ClaimState, RefundState};
use pgm_core::{NotificationEvent, Payment, PaymentState};
use pgm_notify::{NotificationQueue, QueueError};
use pgm_store::{
    Commit, IdempotencyClaim, IdempotencyRecord, OutboxEntry, PaymentStore, StoreError,
};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Decides whether a commit is the one to fail: sees the payment as stored and the commit.
pub type CommitMatcher = Box<dyn Fn(&Payment, &Commit<'_>) -> bool + Send + Sync>;

struct Armed {
    shop_transaction_id: String,
    matcher: CommitMatcher,
    /// After failing, the process is as good as dead: its store refuses everything until the
    /// test restarts it (so nothing a live process would clean up afterwards gets done).
    crash: bool,
}

/// What to break, shared by every PGM a test starts (so a restarted one breaks the same way).
#[derive(Clone, Default)]
pub struct Faults {
    armed: Arc<Mutex<Vec<Armed>>>,
    failed_commits: Arc<AtomicUsize>,
    queue_down: Arc<AtomicBool>,
    refused_publishes: Arc<AtomicUsize>,
    real_store: Arc<Mutex<Option<Arc<dyn PaymentStore>>>>,
}

impl Faults {
    pub fn new() -> Faults {
        Faults::default()
    }

    /// Wraps the store and the queue of a built PGM (the `customize` of `pgm_local::start_with`).
    pub fn install(&self, pgm: &mut pgm_local::Pgm) {
        *self.real_store.lock().unwrap() = Some(pgm.app.store.clone());
        pgm.app.store = Arc::new(FaultyStore {
            inner: pgm.app.store.clone(),
            faults: self.clone(),
            dead: AtomicBool::new(false),
        });
        pgm.app.queue = Arc::new(FaultyQueue {
            inner: pgm.app.queue.clone(),
            faults: self.clone(),
        });
    }

    /// The next commit about `shop_transaction_id` that `matcher` picks fails with
    /// `StoreError::Unavailable`, writing nothing; the store works again afterwards.
    pub fn fail_commit(
        &self,
        shop_transaction_id: &str,
        matcher: impl Fn(&Payment, &Commit<'_>) -> bool + Send + Sync + 'static,
    ) {
        self.arm(shop_transaction_id, Box::new(matcher), false);
    }

    /// Like [`Faults::fail_commit`], but the process crashes there: from that commit on its
    /// store fails every call, until the test starts a new process (`install` again).
    pub fn crash_at_commit(
        &self,
        shop_transaction_id: &str,
        matcher: impl Fn(&Payment, &Commit<'_>) -> bool + Send + Sync + 'static,
    ) {
        self.arm(shop_transaction_id, Box::new(matcher), true);
    }

    fn arm(&self, shop_transaction_id: &str, matcher: CommitMatcher, crash: bool) {
        self.armed.lock().unwrap().push(Armed {
            shop_transaction_id: shop_transaction_id.to_owned(),
            matcher,
            crash,
        });
    }

    /// How many commits were failed so far.
    pub fn failed_commits(&self) -> usize {
        self.failed_commits.load(Ordering::SeqCst)
    }

    /// The queue refuses every publish until [`Faults::queue_back`].
    pub fn queue_down(&self) {
        self.queue_down.store(true, Ordering::SeqCst);
    }

    pub fn queue_back(&self) {
        self.queue_down.store(false, Ordering::SeqCst);
    }

    /// Publishes refused while the queue was down.
    pub fn refused_publishes(&self) -> usize {
        self.refused_publishes.load(Ordering::SeqCst)
    }

    /// The outbox entries (due and parked) about a payment, read from the real store of the
    /// last PGM started.
    pub async fn outbox(&self, shop_transaction_id: &str) -> Vec<OutboxEntry> {
        let store = self
            .real_store
            .lock()
            .unwrap()
            .clone()
            .expect("installed in a started PGM");
        let mut entries = store.due_events(i64::MAX, 1000).await.expect("outbox");
        entries.extend(store.parked_events(1000).await.expect("parked"));
        entries.retain(|e| e.event.shop_transaction_id == shop_transaction_id);
        entries
    }

    /// Takes the armed fault this commit matches, if any: `Some(crash)`.
    async fn take_matching(&self, inner: &dyn PaymentStore, commit: &Commit<'_>) -> Option<bool> {
        let id = &commit.payment.shop_transaction_id;
        if !self
            .armed
            .lock()
            .unwrap()
            .iter()
            .any(|a| &a.shop_transaction_id == id)
        {
            return None;
        }
        let Ok(Some(stored)) = inner.get_payment(id).await else {
            return None;
        };
        let mut armed = self.armed.lock().unwrap();
        let hit = armed
            .iter()
            .position(|a| &a.shop_transaction_id == id && (a.matcher)(&stored, commit));
        let armed = armed.remove(hit?);
        self.failed_commits.fetch_add(1, Ordering::SeqCst);
        Some(armed.crash)
    }
}

/// The commit that completes a pay request's claim: written after the provider answered.
pub fn completes_pay(stored: &Payment, commit: &Commit<'_>) -> bool {
    stored.claim.state == ClaimState::InProgress
        && commit.payment.claim.state == ClaimState::Completed
}

/// The commit that settles a reserved refund: written after the provider refunded.
pub fn settles_refund(stored: &Payment, commit: &Commit<'_>) -> bool {
    stored
        .refunds
        .iter()
        .filter(|r| r.state == RefundState::Reserved)
        .any(|reserved| {
            commit
                .payment
                .refunds
                .iter()
                .any(|r| r.id == reserved.id && r.state != RefundState::Reserved)
        })
}

/// The commit that records the provider's news that the payment reached `state` (a callback,
/// a check, a reconciliation).
pub fn moves_to(state: PaymentState) -> impl Fn(&Payment, &Commit<'_>) -> bool {
    move |stored, commit| stored.state != state && commit.payment.state == state
}

struct FaultyStore {
    inner: Arc<dyn PaymentStore>,
    faults: Faults,
    /// Crashed: every call fails.
    dead: AtomicBool,
}

fn injected() -> StoreError {
    StoreError::Unavailable("injected: the store failed".into())
}

impl FaultyStore {
    fn alive(&self) -> Result<&dyn PaymentStore, StoreError> {
        if self.dead.load(Ordering::SeqCst) {
            Err(injected())
        } else {
            Ok(self.inner.as_ref())
        }
    }
}

#[async_trait]
impl PaymentStore for FaultyStore {
    async fn insert_payment(&self, payment: &Payment) -> Result<Option<Payment>, StoreError> {
        self.alive()?.insert_payment(payment).await
    }

    async fn get_payment(&self, shop_transaction_id: &str) -> Result<Option<Payment>, StoreError> {
        self.alive()?.get_payment(shop_transaction_id).await
    }

    async fn find_by_provider_id(
        &self,
        provider: &str,
        provider_payment_id: &str,
    ) -> Result<Option<Payment>, StoreError> {
        self.alive()?
            .find_by_provider_id(provider, provider_payment_id)
            .await
    }

    async fn commit(&self, commit: Commit<'_>) -> Result<(), StoreError> {
        let inner = self.alive()?;
        if let Some(crash) = self.faults.take_matching(inner, &commit).await {
            self.dead.store(crash, Ordering::SeqCst);
            return Err(injected());
        }
        inner.commit(commit).await
    }

    async fn claim_idempotency(
        &self,
        record: &IdempotencyRecord,
        now: i64,
    ) -> Result<IdempotencyClaim, StoreError> {
        self.alive()?.claim_idempotency(record, now).await
    }

    async fn release_idempotency(&self, key: &str) -> Result<(), StoreError> {
        self.alive()?.release_idempotency(key).await
    }

    async fn stale_pending(
        &self,
        updated_before: i64,
        limit: usize,
    ) -> Result<Vec<Payment>, StoreError> {
        self.alive()?.stale_pending(updated_before, limit).await
    }

    async fn due_events(&self, now: i64, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        self.alive()?.due_events(now, limit).await
    }

    async fn event_done(&self, event_id: &str) -> Result<(), StoreError> {
        self.alive()?.event_done(event_id).await
    }

    async fn event_retry(&self, entry: &OutboxEntry) -> Result<(), StoreError> {
        self.alive()?.event_retry(entry).await
    }

    async fn parked_events(&self, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        self.alive()?.parked_events(limit).await
    }
}

struct FaultyQueue {
    inner: Arc<dyn NotificationQueue>,
    faults: Faults,
}

#[async_trait]
impl NotificationQueue for FaultyQueue {
    async fn publish(&self, events: &[NotificationEvent]) -> Result<(), QueueError> {
        if self.faults.queue_down.load(Ordering::SeqCst) {
            self.faults.refused_publishes.fetch_add(1, Ordering::SeqCst);
            return Err(QueueError("injected: the queue is unreachable".into()));
        }
        self.inner.publish(events).await
    }
}
