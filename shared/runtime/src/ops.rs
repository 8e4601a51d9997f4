//! Operator commands (`pgm-ops`), against whichever backend the environment selects.
//!
//! - `inspect <shopTransactionID>`: the stored payment and its outbox entries (notifications
//!   not yet handed over or delivered).
//! - `redrive`: give up-on notifications another full retry schedule: parked outbox entries
//!   (local queue) or the dead-letter queue's messages (SQS).
//! - `reconcile`: one reconciliation pass, as the reconciler runs it.
//! - `braintree-client-token [customerId]`: a Braintree client token for the merchant's front
//!   end (Drop-in / the PayPal button make the payment method nonce `pay` takes with it); only
//!   the `BRAINTREE_*` settings are read, no store is opened.
//! - `routes`: the API's route table (method, path, Lambda function, public or behind the
//!   merchant's key), which `infra/check_template.py` holds the SAM template to. Reads nothing.

use crate::{config, Pgm, QueueKind};
use pgm_core::clock::now_ms;
use pgm_core::ConfigError;
use serde_json::{json, Value};

pub const USAGE: &str = "usage: pgm-ops inspect <shopTransactionID> | redrive | reconcile
       pgm-ops braintree-client-token [customerId] | routes
  The backend is chosen by the same variables as pgm-local and the Lambdas
  (PGM_STORE, PGM_DATA_DIR, PGM_TABLE_NAME, PGM_QUEUE, PGM_QUEUE_URL, PGM_DLQ_URL, AWS_*).";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Inspect(String),
    Redrive,
    Reconcile,
    BraintreeClientToken(Option<String>),
    Routes,
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
    #[error(transparent)]
    Outbound(#[from] pgm_http::OutboundError),
    #[error("{0}")]
    Provider(#[from] pgm_providers::ProviderError),
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
            ["routes"] => Ok(Command::Routes),
            ["braintree-client-token"] => Ok(Command::BraintreeClientToken(None)),
            ["braintree-client-token", customer] if !customer.trim().is_empty() => {
                Ok(Command::BraintreeClientToken(Some(customer.to_string())))
            }
            ["braintree-client-token", ..] => Err(OpsError::Usage(
                "braintree-client-token takes at most one customerId".into(),
            )),
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

/// Whether `command` needs the whole PGM (a store, a queue) or only provider settings.
pub fn needs_pgm(command: &Command) -> bool {
    !matches!(command, Command::BraintreeClientToken(_) | Command::Routes)
}

/// The route table as JSON: one entry per method and path.
pub fn routes() -> Value {
    let rows = pgm_api::ROUTES.iter().flat_map(|route| {
        route.keys().into_iter().map(move |(method, path)| {
            json!({
                "method": method,
                "path": path,
                "function": route.function.name(),
                "public": route.is_public(),
            })
        })
    });
    Value::Array(rows.collect())
}

/// A client token from Braintree, as `{"clientToken": "…"}`: from the environment alone, so
/// that it works wherever the `BRAINTREE_*` variables are set.
pub async fn braintree_client_token(
    env: &pgm_core::Env,
    customer_id: Option<&str>,
) -> Result<Value, OpsError> {
    let http = pgm_http::Outbound::from_env(env)?
        .client()
        .map_err(|e| OpsError::Usage(format!("cannot build the HTTP client: {e}")))?;
    let config = pgm_providers::braintree::BraintreeConfig::from_env(env)?;
    let braintree = pgm_providers::braintree::Braintree::new(config, http);
    let token = braintree.client_token(customer_id).await?;
    Ok(json!({ "clientToken": token }))
}

/// Runs `command` and returns its result as JSON.
pub async fn execute(pgm: &Pgm, command: &Command) -> Result<Value, OpsError> {
    match command {
        // Reads only provider settings: see [`needs_pgm`] and [`braintree_client_token`].
        Command::BraintreeClientToken(_) => Err(OpsError::Usage(
            "braintree-client-token runs from the environment, without a PGM".into(),
        )),
        Command::Routes => Ok(routes()),
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
    fn parses_the_commands_and_refuses_the_rest() {
        assert_eq!(
            Command::parse(&["inspect", "order-1"]).unwrap(),
            Command::Inspect("order-1".into())
        );
        assert_eq!(Command::parse(&["redrive"]).unwrap(), Command::Redrive);
        assert_eq!(Command::parse(&["reconcile"]).unwrap(), Command::Reconcile);
        assert_eq!(Command::parse(&["routes"]).unwrap(), Command::Routes);
        for bad in [
            &[][..],
            &["inspect"][..],
            &["inspect", "a", "b"][..],
            &["redrive", "now"][..],
            &["routes", "all"][..],
            &["drop-table"][..],
        ] {
            let error = Command::parse(bad).unwrap_err();
            assert!(matches!(error, OpsError::Usage(_)), "{bad:?}");
            assert!(error.to_string().contains("usage: pgm-ops"));
        }
    }
}
