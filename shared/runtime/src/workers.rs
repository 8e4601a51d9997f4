//! `pgm-local`'s background work: what the notifier and reconciler Lambdas do in AWS, run
//! in-process with the same code.

use crate::{Pgm, QueueBackend};
use tokio::task::JoinHandle;

impl Pgm {
    /// Starts the notification delivery (the local loop, or the SQS poller feeding the
    /// notifier's batch handler) and the reconciliation timer on the current runtime.
    /// Call once: the local delivery loop is handed out only once.
    pub fn spawn_workers(&self) -> Vec<JoinHandle<()>> {
        let mut tasks = Vec::new();
        if self.config.delivery.callback_url.is_none() {
            tracing::warn!(
                "PAYMENT_CALLBACK_URL is not set: notifications wait in the outbox (or the queue) until it is"
            );
        } else {
            match &self.backend {
                #[cfg(feature = "local")]
                QueueBackend::Local { delivery } => {
                    let taken = delivery.lock().ok().and_then(|mut slot| slot.take());
                    match taken {
                        Some(delivery) => tasks.push(tokio::spawn(delivery.run())),
                        None => tracing::error!("the delivery loop was already started"),
                    }
                }
                #[cfg(feature = "aws")]
                QueueBackend::Sqs { .. } => {
                    if let Some(notifier) = self.notifier() {
                        tasks.push(tokio::spawn(notifier.run_poller(self.config.sqs_wait_secs)));
                    }
                }
            }
        }
        tasks.push(tokio::spawn(
            self.reconciler().run_every(self.config.reconcile_every),
        ));
        tasks
    }
}
