//! The settings every deployable shares, read once from an [`Env`] snapshot. A missing or
//! malformed value is an error naming the variable.

use pgm_core::{ConfigError, Env, Secret};
use pgm_notify::RetrySchedule;
use std::path::PathBuf;
use std::time::Duration;

/// Who is starting: decides the defaults and what is required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// `pgm-local` and `pgm-ops`: the embedded store and the local queue unless told otherwise;
    /// the public URL defaults to `http://localhost:$HTTP_PORT`.
    Local,
    /// A Lambda function: DynamoDB and SQS always; the public URL and the sandbox's webhook
    /// secret are required (every instance must build the same URLs and signatures).
    Lambda,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Embedded,
    DynamoDb,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueKind {
    /// The outbox is the queue, drained by an in-process loop.
    Local,
    /// Outbox entries go to SQS after commit; the notifier delivers them.
    Sqs,
}

pub const STORE_VAR: &str = "PGM_STORE";
pub const QUEUE_VAR: &str = "PGM_QUEUE";
pub const TABLE_VAR: &str = "PGM_TABLE_NAME";
pub const QUEUE_URL_VAR: &str = "PGM_QUEUE_URL";
pub const DLQ_URL_VAR: &str = "PGM_DLQ_URL";
pub const CREATE_RESOURCES_VAR: &str = "PGM_CREATE_RESOURCES";
pub const CALLBACK_URL_VAR: &str = "PAYMENT_CALLBACK_URL";

#[derive(Debug, Clone)]
pub struct Config {
    pub profile: Profile,
    /// `PGM_STORE`.
    pub store: StoreKind,
    /// `PGM_QUEUE`.
    pub queue: QueueKind,
    /// `PGM_DATA_DIR` (embedded store).
    pub data_dir: PathBuf,
    /// `PGM_TABLE_NAME` (required with the DynamoDB store).
    pub table_name: Option<String>,
    /// `PGM_QUEUE_URL` (required with the SQS queue).
    pub queue_url: Option<String>,
    /// `PGM_DLQ_URL` (the dead-letter queue: for the redrive, and created with
    /// `PGM_CREATE_RESOURCES`).
    pub dlq_url: Option<String>,
    /// `PGM_CREATE_RESOURCES`: create the table and the queues when missing (emulators only).
    pub create_resources: bool,
    /// `PGM_PUBLIC_URL`.
    pub public_url: String,
    /// `PGM_API_KEY`.
    pub api_key: Option<Secret>,
    pub delivery: DeliveryConfig,
    /// `PGM_PAY_LOCK_SECONDS`, `PGM_STALE_AFTER_SECONDS`.
    pub settings: pgm_app::Settings,
    /// `PGM_RECONCILE_INTERVAL_SECONDS`: how often `pgm-local` runs a reconciliation pass.
    pub reconcile_every: Duration,
    /// `PGM_RESEND_AFTER_SECONDS`: an outbox entry still there this long after its commit was
    /// not handed to the queue (queue down, process died): the reconciler sends it again.
    pub resend_after: Duration,
    /// `PGM_SQS_WAIT_SECONDS`: long-poll wait of `pgm-local`'s in-process notifier (0 to 20).
    pub sqs_wait_secs: u32,
}

/// Where notifications go and how they are retried: all the notifier needs.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// `PAYMENT_CALLBACK_URL`.
    pub callback_url: Option<String>,
    /// `PAYMENT_CALLBACK_SECRET`.
    pub callback_secret: Option<Secret>,
    /// `PGM_NOTIFY_RETRY_SCHEDULE`.
    pub retry_schedule: RetrySchedule,
}

impl DeliveryConfig {
    pub fn from_env(env: &Env) -> Result<DeliveryConfig, ConfigError> {
        Ok(DeliveryConfig {
            callback_url: env.url(CALLBACK_URL_VAR)?,
            callback_secret: env.get("PAYMENT_CALLBACK_SECRET").map(Secret::new),
            retry_schedule: match env.get("PGM_NOTIFY_RETRY_SCHEDULE") {
                Some(text) => RetrySchedule::parse("PGM_NOTIFY_RETRY_SCHEDULE", text)?,
                None => RetrySchedule::default(),
            },
        })
    }
}

/// Whole seconds, at least one.
pub(crate) fn seconds(env: &Env, var: &str, default: u64) -> Result<Duration, ConfigError> {
    let n: u64 = env.parse_or(var, default)?;
    if n == 0 {
        return Err(ConfigError::new(var, "must be at least 1"));
    }
    Ok(Duration::from_secs(n))
}

/// A queue URL: http(s), ending in the queue's name.
pub(crate) fn parse_queue_url(env: &Env, var: &str) -> Result<Option<String>, ConfigError> {
    let Some(url) = env.url(var)? else {
        return Ok(None);
    };
    // `Env::url` checked the scheme and removed a trailing slash.
    let after_scheme = url
        .split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let has_name = after_scheme
        .split_once('/')
        .is_some_and(|(_, path)| !path.rsplit('/').next().unwrap_or_default().is_empty());
    if !has_name {
        return Err(ConfigError::new(
            var,
            format!("`{url}` is not a queue URL (…/<account>/<queue name>)"),
        ));
    }
    Ok(Some(url))
}

fn store_kind(env: &Env, profile: Profile) -> Result<StoreKind, ConfigError> {
    let kind = match (env.get(STORE_VAR), profile) {
        (None, Profile::Local) => StoreKind::Embedded,
        (None, Profile::Lambda) => StoreKind::DynamoDb,
        (Some("embedded"), _) => StoreKind::Embedded,
        (Some("dynamodb"), _) => StoreKind::DynamoDb,
        (Some(other), _) => {
            return Err(ConfigError::new(
                STORE_VAR,
                format!("`{other}` is not a store (embedded, dynamodb)"),
            ))
        }
    };
    if profile == Profile::Lambda && kind != StoreKind::DynamoDb {
        return Err(ConfigError::new(
            STORE_VAR,
            "the Lambda functions use DynamoDB (a file on a Lambda's disk is not durable)",
        ));
    }
    Ok(kind)
}

fn queue_kind(env: &Env, profile: Profile) -> Result<QueueKind, ConfigError> {
    let kind = match (env.get(QUEUE_VAR), profile) {
        (None, Profile::Local) => QueueKind::Local,
        (None, Profile::Lambda) => QueueKind::Sqs,
        (Some("local"), _) => QueueKind::Local,
        (Some("sqs"), _) => QueueKind::Sqs,
        (Some(other), _) => {
            return Err(ConfigError::new(
                QUEUE_VAR,
                format!("`{other}` is not a queue (local, sqs)"),
            ))
        }
    };
    if profile == Profile::Lambda && kind != QueueKind::Sqs {
        return Err(ConfigError::new(
            QUEUE_VAR,
            "the Lambda functions use SQS (nothing drains a local queue between invocations)",
        ));
    }
    Ok(kind)
}

/// The sandbox signs its callbacks with a random secret when none is given: fine for one
/// process, wrong for Lambda, where the instance that signs is rarely the one that verifies.
fn check_sandbox_secret(env: &Env) -> Result<(), ConfigError> {
    let sandbox_enabled = env
        .get("ENABLED_PROVIDERS")
        .unwrap_or("sandbox")
        .split(',')
        .any(|name| name.trim().eq_ignore_ascii_case("sandbox"));
    if sandbox_enabled && env.get("SANDBOX_WEBHOOK_SECRET").is_none() {
        return Err(ConfigError::new(
            "SANDBOX_WEBHOOK_SECRET",
            "is required on Lambda while the sandbox is enabled: every function instance must sign and verify its callbacks with the same secret",
        ));
    }
    Ok(())
}

impl Config {
    pub fn from_env(env: &Env, profile: Profile) -> Result<Config, ConfigError> {
        let store = store_kind(env, profile)?;
        let queue = queue_kind(env, profile)?;
        let table_name = match store {
            StoreKind::DynamoDb => Some(env.require(TABLE_VAR)?.to_owned()),
            StoreKind::Embedded => None,
        };
        let queue_url = parse_queue_url(env, QUEUE_URL_VAR)?;
        if queue == QueueKind::Sqs && queue_url.is_none() {
            return Err(ConfigError::new(
                QUEUE_URL_VAR,
                "is required with PGM_QUEUE=sqs",
            ));
        }
        let dlq_url = parse_queue_url(env, DLQ_URL_VAR)?;
        let create_resources = env.bool_or(CREATE_RESOURCES_VAR, false)?;
        if create_resources && queue == QueueKind::Sqs && dlq_url.is_none() {
            return Err(ConfigError::new(
                DLQ_URL_VAR,
                "is required with PGM_CREATE_RESOURCES=1 and PGM_QUEUE=sqs (the queue's redrive policy names it)",
            ));
        }
        let public_url = match profile {
            Profile::Local => {
                let port: u16 = env.parse_or("HTTP_PORT", 8080)?;
                env.url_or("PGM_PUBLIC_URL", &format!("http://localhost:{port}"))?
            }
            Profile::Lambda => {
                check_sandbox_secret(env)?;
                // Required: hosted pages and signed callback URLs are built from configuration
                // only. A Host header is the caller's to choose, so a URL built from it could
                // send the sandbox's signed callback (or a buyer) anywhere.
                env.url("PGM_PUBLIC_URL")?.ok_or_else(|| {
                    ConfigError::new(
                        "PGM_PUBLIC_URL",
                        "is required on Lambda: the base URL providers and browsers reach PGM at",
                    )
                })?
            }
        };
        let sqs_wait_secs: u32 = env.parse_or("PGM_SQS_WAIT_SECONDS", 20)?;
        if sqs_wait_secs > 20 {
            return Err(ConfigError::new(
                "PGM_SQS_WAIT_SECONDS",
                "SQS long polls wait at most 20 seconds",
            ));
        }
        let defaults = pgm_app::Settings::default();
        Ok(Config {
            profile,
            store,
            queue,
            data_dir: PathBuf::from(env.get("PGM_DATA_DIR").unwrap_or("./data")),
            table_name,
            queue_url,
            dlq_url,
            create_resources,
            public_url,
            api_key: env.get("PGM_API_KEY").map(Secret::new),
            delivery: DeliveryConfig::from_env(env)?,
            settings: pgm_app::Settings {
                pay_lock: seconds(env, "PGM_PAY_LOCK_SECONDS", defaults.pay_lock.as_secs())?,
                stale_after: seconds(
                    env,
                    "PGM_STALE_AFTER_SECONDS",
                    defaults.stale_after.as_secs(),
                )?,
                idempotency_ttl: defaults.idempotency_ttl,
            },
            reconcile_every: seconds(env, "PGM_RECONCILE_INTERVAL_SECONDS", 60)?,
            resend_after: seconds(env, "PGM_RESEND_AFTER_SECONDS", 60)?,
            sqs_wait_secs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lambda_env(extra: &[(&str, &str)]) -> Env {
        let mut env = Env::from_pairs([
            ("PGM_TABLE_NAME", "pgm"),
            (
                "PGM_QUEUE_URL",
                "https://sqs.eu-west-1.amazonaws.com/123456789012/pgm-notifications",
            ),
            ("PGM_PUBLIC_URL", "https://abc.lambda-url.eu-west-1.on.aws"),
            ("SANDBOX_WEBHOOK_SECRET", "whsec_x"),
        ]);
        for (k, v) in extra {
            env.set(k, v);
        }
        env
    }

    #[test]
    fn lambda_needs_the_public_url() {
        let empty = lambda_env(&[("PGM_PUBLIC_URL", "")]);
        assert_eq!(error_var(&empty, Profile::Lambda), "PGM_PUBLIC_URL");
    }

    fn error_var(env: &Env, profile: Profile) -> String {
        Config::from_env(env, profile).unwrap_err().var
    }

    #[test]
    fn local_defaults_to_the_embedded_store_and_the_local_queue() {
        let config = Config::from_env(&Env::default(), Profile::Local).unwrap();
        assert_eq!(
            (config.store, config.queue),
            (StoreKind::Embedded, QueueKind::Local)
        );
        assert_eq!(config.public_url, "http://localhost:8080");
    }

    #[test]
    fn lambda_uses_dynamodb_and_sqs_and_refuses_anything_else() {
        let config = Config::from_env(&lambda_env(&[]), Profile::Lambda).unwrap();
        assert_eq!(
            (config.store, config.queue),
            (StoreKind::DynamoDb, QueueKind::Sqs)
        );
        assert_eq!(
            error_var(&lambda_env(&[("PGM_STORE", "embedded")]), Profile::Lambda),
            "PGM_STORE"
        );
        assert_eq!(
            error_var(&lambda_env(&[("PGM_QUEUE", "local")]), Profile::Lambda),
            "PGM_QUEUE"
        );
    }

    #[test]
    fn errors_name_the_missing_or_malformed_variable() {
        for var in ["PGM_TABLE_NAME", "PGM_QUEUE_URL", "SANDBOX_WEBHOOK_SECRET"] {
            let mut env = lambda_env(&[]);
            env.set(var, "");
            assert_eq!(error_var(&env, Profile::Lambda), var);
        }
        let cases = [
            ("PGM_STORE", "postgres"),
            ("PGM_QUEUE", "kafka"),
            ("PGM_QUEUE_URL", "sqs://queue"),
            ("PGM_DLQ_URL", "https://"),
            ("PGM_CREATE_RESOURCES", "maybe"),
            ("PGM_SQS_WAIT_SECONDS", "21"),
            ("PGM_RESEND_AFTER_SECONDS", "0"),
        ];
        for (var, value) in cases {
            assert_eq!(
                error_var(&lambda_env(&[(var, value)]), Profile::Lambda),
                var,
                "{var}={value}"
            );
        }
        // Creating the queues needs the dead-letter queue's name.
        assert_eq!(
            error_var(
                &lambda_env(&[("PGM_CREATE_RESOURCES", "1")]),
                Profile::Lambda
            ),
            "PGM_DLQ_URL"
        );
    }

    #[test]
    fn the_sandbox_secret_is_not_needed_without_the_sandbox() {
        let mut env = lambda_env(&[("ENABLED_PROVIDERS", "stripe")]);
        env.set("SANDBOX_WEBHOOK_SECRET", "");
        assert!(Config::from_env(&env, Profile::Lambda).is_ok());
    }
}
