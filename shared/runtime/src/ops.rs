//! Operator commands (`pgm-ops`), against whichever backend the environment selects.
//!
//! - `inspect <shopTransactionID>`: the stored payment and its outbox entries (notifications
//!   not yet handed over or delivered).
//! - `redrive`: give up-on notifications another full retry schedule: parked outbox entries
//!   (local queue) or the dead-letter queue's messages (SQS).
//! - `reconcile`: one reconciliation pass, as the reconciler runs it.

use crate::{config, Pgm, QueueKind};
use pgm_core::clock::now_ms;
use pgm_core::ConfigError;
use serde_json::{json, Value};

pub const USAGE: &str = "usage: pgm-ops inspect <shopTransactionID> | redrive | reconcile
  The backend is chosen by the same variables as pgm-local and the Lambdas
  (PGM_STORE, PGM_DATA_DIR, PGM_TABLE_NAME, PGM_QUEUE, PGM_QUEUE_URL, PGM_DLQ_URL, AWS_*).";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Inspect(String),
    Redrive,
    Reconcile,
}

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("{0}\n{USAGE}")]
    Usage(String),
    #[error("no payment with shopTransactionID `{0}`")]
    NotFound(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] pgm_store::StoreError),
    #[error(transparent)]
    Queue(#[from] pgm_notify::QueueError),
    #[error(transparent)]
    Pass(#[from] crate::reconciler::PassError),
}

impl Command {
    /// Parses the arguments after the program name.
    pub fn parse<S: AsRef<str>>(args: &[S]) -> Result<Command, OpsError> {
        let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
        match args.as_slice() {
            ["inspect", id] if !id.trim().is_empty() => Ok(Command::Inspect(id.to_string())),
            ["inspect", ..] => Err(OpsError::Usage(
                "inspect takes one shopTransactionID".into(),
            )),
            ["redrive"] => Ok(Command::Redrive),
            ["reconcile"] => Ok(Command::Reconcile),
            [] => Err(OpsError::Usage("a command is required".into())),
            [other, ..] => Err(OpsError::Usage(format!("unknown command `{other}`"))),
        }
    }
}

/// Outbox entries read per list when looking for one payment's entries.
const OUTBOX_SCAN: usize = 1000;
/// Parked entries un-parked per page, and pages per redrive.
const REDRIVE_PAGE: usize = 100;
const REDRIVE_PAGES: usize = 100;
/// DLQ messages moved per redrive.
#[cfg(feature = "aws")]
const REDRIVE_MAX_MESSAGES: usize = 10_000;

/// Runs `command` and returns its result as JSON.
pub async fn execute(pgm: &Pgm, command: &Command) -> Result<Value, OpsError> {
    match command {
        Command::Inspect(id) => inspect(pgm, id).await,
        Command::Redrive => redrive(pgm).await,
        Command::Reconcile => {
            let report = pgm.reconciler().run_once().await?;
            Ok(serde_json::to_value(report).unwrap_or(Value::Null))
        }
    }
}

async fn inspect(pgm: &Pgm, shop_transaction_id: &str) -> Result<Value, OpsError> {
    let store = pgm.store();
    let payment = store
        .get_payment(shop_transaction_id)
        .await?
        .ok_or_else(|| OpsError::NotFound(shop_transaction_id.to_owned()))?;
    let mut entries = store.due_events(i64::MAX, OUTBOX_SCAN).await?;
    entries.extend(store.parked_events(OUTBOX_SCAN).await?);
    entries.retain(|entry| entry.event.shop_transaction_id == shop_transaction_id);
    entries.sort_by_key(|entry| entry.event.sequence);
    Ok(json!({ "payment": payment, "outbox": entries }))
}

async fn redrive(pgm: &Pgm) -> Result<Value, OpsError> {
    match pgm.config.queue {
        QueueKind::Local => {
            let store = pgm.store();
            let mut unparked = 0;
            for _ in 0..REDRIVE_PAGES {
                let parked = store.parked_events(REDRIVE_PAGE).await?;
                if parked.is_empty() {
                    break;
                }
                for mut entry in parked {
                    entry.parked = false;
                    entry.attempts = 0;
                    entry.next_attempt_at = now_ms();
                    store.event_retry(&entry).await?;
                    unparked += 1;
                }
            }
            Ok(json!({ "redriven": unparked, "from": "parked outbox entries" }))
        }
        QueueKind::Sqs => redrive_dlq(pgm).await,
    }
}

#[cfg(feature = "aws")]
async fn redrive_dlq(pgm: &Pgm) -> Result<Value, OpsError> {
    let dlq_url = pgm.config.dlq_url.as_deref().ok_or_else(|| {
        ConfigError::new(
            config::DLQ_URL_VAR,
            "is required to redrive the dead-letter queue",
        )
    })?;
    let queue_url = pgm.config.queue_url.as_deref().unwrap_or_default();
    let sqs = pgm
        .sqs_client()
        .ok_or_else(|| ConfigError::new(config::QUEUE_VAR, "is not sqs"))?;
    let moved =
        pgm_notify::sqs::redrive_dlq(&sqs, dlq_url, queue_url, REDRIVE_MAX_MESSAGES).await?;
    Ok(json!({ "redriven": moved, "from": "dead-letter queue" }))
}

#[cfg(not(feature = "aws"))]
async fn redrive_dlq(_pgm: &Pgm) -> Result<Value, OpsError> {
    Err(ConfigError::new(config::QUEUE_VAR, "the SQS queue is not part of this build").into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_commands_and_refuses_the_rest() {
        assert_eq!(
            Command::parse(&["inspect", "order-1"]).unwrap(),
            Command::Inspect("order-1".into())
        );
        assert_eq!(Command::parse(&["redrive"]).unwrap(), Command::Redrive);
        assert_eq!(Command::parse(&["reconcile"]).unwrap(), Command::Reconcile);
        for bad in [
            &[][..],
            &["inspect"][..],
            &["inspect", "a", "b"][..],
            &["redrive", "now"][..],
            &["drop-table"][..],
        ] {
            let error = Command::parse(bad).unwrap_err();
            assert!(matches!(error, OpsError::Usage(_)), "{bad:?}");
            assert!(error.to_string().contains("usage: pgm-ops"));
        }
    }
}
