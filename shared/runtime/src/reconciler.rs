//! One reconciliation pass: settle payments pending for too long, and hand the queue any
//! outbox entry a publish should have handed it long ago. The reconciler Lambda runs one pass
//! per schedule tick; `pgm-local` runs the same pass on a timer; `pgm-ops reconcile` runs one.

use pgm_app::App;
use pgm_notify::resend_stuck;
use serde::Serialize;
use std::time::Duration;

/// Stale payments examined per pass (the next tick takes the rest).
const BATCH: usize = 100;

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct PassReport {
    /// Payments pending for longer than `PGM_STALE_AFTER_SECONDS` that were looked at.
    pub examined: usize,
    /// Of those, how many the provider's answer moved on.
    pub settled: usize,
    /// Of those, how many the provider could not be asked about this time.
    pub unreachable: usize,
    /// Outbox entries handed to the queue again.
    pub resent: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum PassError {
    #[error("reconciliation failed: {0}")]
    Reconcile(pgm_app::AppError),
    #[error("re-sending stuck notifications failed: {0}")]
    Resend(pgm_notify::ResendError),
}

#[derive(Clone)]
pub struct Reconciler {
    app: App,
    resend_after: Duration,
}

impl Reconciler {
    pub fn new(app: App, resend_after: Duration) -> Reconciler {
        Reconciler { app, resend_after }
    }

    /// Both halves run even when the first fails; the first error is returned.
    pub async fn run_once(&self) -> Result<PassReport, PassError> {
        let reconciled = self.app.reconcile_once(BATCH).await;
        let resent = resend_stuck(
            self.app.store.as_ref(),
            self.app.queue.as_ref(),
            self.resend_after,
        )
        .await;
        let mut report = PassReport::default();
        match reconciled {
            Ok(r) => {
                report.examined = r.examined;
                report.settled = r.settled;
                report.unreachable = r.unreachable;
            }
            Err(e) => {
                if let Err(resend) = &resent {
                    tracing::warn!(error = %resend, "re-sending stuck notifications failed");
                }
                return Err(PassError::Reconcile(e));
            }
        }
        report.resent = resent.map_err(PassError::Resend)?;
        if report != PassReport::default() {
            tracing::info!(?report, "reconciliation pass");
        }
        Ok(report)
    }

    /// `pgm-local`'s timer: a pass every `every`, the first one `every` after start.
    pub async fn run_every(self, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = self.run_once().await {
                tracing::warn!(error = %e, "reconciliation pass failed");
            }
        }
    }
}
