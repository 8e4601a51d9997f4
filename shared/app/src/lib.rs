//! The PGM's use cases, free of HTTP and of any storage engine: they speak to the ports
//! (Provider, PaymentStore, NotificationQueue) and keep the money rules of the domain.

mod capture;
mod error;
mod idempotency;
mod observe;
mod pay;
mod refund;
mod session;

pub use capture::Route;
pub use error::{AppError, Problem};
pub use idempotency::Reply;
pub use observe::ReconcileReport;

use pgm_core::clock::now_ms;
use pgm_core::{NotificationEvent, Payment, PaymentRef};
use pgm_notify::NotificationQueue;
use pgm_providers::{Operation, Provider, Registry};
use pgm_store::{Commit, PaymentStore, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// Tunables, with production defaults.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a running pay blocks duplicates before a retry may take over.
    pub pay_lock: Duration,
    /// Idempotency keys are remembered at least this long.
    pub idempotency_ttl: Duration,
    /// The reconciler looks at payments pending for longer than this.
    pub stale_after: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            pay_lock: Duration::from_secs(60),
            idempotency_ttl: Duration::from_secs(24 * 3600),
            stale_after: Duration::from_secs(15 * 60),
        }
    }
}

/// Everything a use case needs; built once per process and shared by all requests.
#[derive(Clone)]
pub struct App {
    pub store: Arc<dyn PaymentStore>,
    pub providers: Registry,
    pub queue: Arc<dyn NotificationQueue>,
    pub settings: Settings,
}

/// How many times a read-modify-write on one payment is retried when another writer got
/// there first. Contention on one payment is rare outside tests that aim for it.
const MAX_WRITE_ATTEMPTS: usize = 200;

impl App {
    pub fn new(
        store: Arc<dyn PaymentStore>,
        providers: Registry,
        queue: Arc<dyn NotificationQueue>,
        settings: Settings,
    ) -> App {
        App {
            store,
            providers,
            queue,
            settings,
        }
    }

    /// The provider for a route, checking that it serves `method` (if given) and `op`.
    pub fn provider(
        &self,
        name: &str,
        method: Option<&str>,
        op: Operation,
    ) -> Result<Arc<dyn Provider>, AppError> {
        let provider = self
            .providers
            .get(name)
            .ok_or_else(|| AppError::ProviderNotFound(name.to_owned()))?;
        if let Some(method) = method {
            if !provider.methods().contains(&method) {
                return Err(AppError::MethodNotFound {
                    provider: name.to_owned(),
                    method: method.to_owned(),
                });
            }
        }
        if !provider.supports(op) {
            return Err(AppError::NotSupported(provider.name().to_owned()));
        }
        Ok(provider.clone())
    }

    /// Loads a payment by either id, making sure it belongs to `provider`.
    pub async fn find(&self, provider: &str, reference: &PaymentRef) -> Result<Payment, AppError> {
        let found = match reference {
            PaymentRef::ShopTransactionId(id) => self.store.get_payment(id).await?,
            PaymentRef::PaymentId(id) => self.store.find_by_provider_id(provider, id).await?,
        };
        match found {
            // Said plainly: a refund or confirm sent to the wrong provider's route must not
            // look like a missing payment (the merchant would retry, or give up, wrongly).
            Some(p) if p.provider != provider => Err(AppError::ProviderMismatch(p.provider)),
            Some(p) => Ok(p),
            None => Err(AppError::PaymentNotFound),
        }
    }

    /// Read-modify-write of one payment with optimistic concurrency: `change` gets the latest
    /// version and says what to write (or `None` for nothing to do); on a version conflict
    /// the payment is read again and `change` runs again. Events are published after commit.
    async fn update<T>(
        &self,
        mut payment: Payment,
        mut change: impl FnMut(&mut Payment, i64) -> Result<Option<Change<T>>, AppError>,
    ) -> Result<(Payment, Option<T>), AppError> {
        for attempt in 0..MAX_WRITE_ATTEMPTS {
            if attempt > 0 {
                // Back off a little, with jitter, so racing writers spread out.
                let jitter = rand::random::<u64>() % (1 + attempt as u64).min(20);
                tokio::time::sleep(Duration::from_millis(jitter)).await;
                payment = self
                    .store
                    .get_payment(&payment.shop_transaction_id)
                    .await?
                    .ok_or(AppError::PaymentNotFound)?;
            }
            let now = now_ms();
            let mut next = payment.clone();
            let Some(plan) = change(&mut next, now)? else {
                return Ok((payment, None));
            };
            next.bump(now);
            let commit = Commit {
                payment: &next,
                map_provider_id: plan.map_provider_id.as_deref(),
                events: &plan.events,
                idempotency: plan.idempotency.as_ref(),
            };
            match self.store.commit(commit).await {
                Ok(()) => {
                    self.publish(&plan.events).await;
                    return Ok((next, Some(plan.value)));
                }
                Err(StoreError::VersionConflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(AppError::Contention)
    }

    /// Hands committed events to the queue. A failure loses nothing: they are in the outbox.
    async fn publish(&self, events: &[NotificationEvent]) {
        if events.is_empty() {
            return;
        }
        if let Err(e) = self.queue.publish(events).await {
            tracing::warn!(error = %e, "events stay in the outbox until the next pass");
        }
    }
}

/// What an update writes besides the payment.
struct Change<T> {
    value: T,
    map_provider_id: Option<String>,
    events: Vec<NotificationEvent>,
    idempotency: Option<pgm_store::IdempotencyRecord>,
}

impl<T> Change<T> {
    fn new(value: T) -> Change<T> {
        Change {
            value,
            map_provider_id: None,
            events: Vec::new(),
            idempotency: None,
        }
    }
}
