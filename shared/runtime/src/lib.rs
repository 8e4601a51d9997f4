//! The composition every PGM deployable shares: read the configuration once, build the store,
//! the queue, the providers and the [`App`] for the chosen backend, and hand out what a
//! function runs (a router, the notifier, a reconciliation pass, the ops commands).
//!
//! Features decide what a binary links: `local` (the embedded SQLite store and the in-process
//! delivery loop), `aws` (DynamoDB and SQS), `lambda` (the Lambda handlers). The Lambda
//! functions build with `lambda` only, so they never link SQLite.

#[cfg(feature = "aws")]
mod aws;
mod config;
#[cfg(feature = "lambda")]
pub mod lambda;
#[cfg(feature = "aws")]
mod notifier;
pub mod ops;
mod reconciler;
mod tracing_setup;
mod workers;

#[cfg(feature = "aws")]
pub use aws::AwsClients;
pub use config::{Config, DeliveryConfig, Profile, QueueKind, StoreKind};
#[cfg(feature = "aws")]
pub use notifier::Notifier;
pub use pgm_api::Function;
pub use pgm_http::Outbound;
pub use reconciler::{PassReport, Reconciler};
pub use tracing_setup::{init_tracing, LogFormat};

use pgm_app::App;
use pgm_core::sandbox_ledger::SandboxLedger;
use pgm_core::{ConfigError, Env};
use pgm_notify::{Deliverer, NotificationQueue};
use pgm_providers::{ProviderDeps, Registry};
use pgm_store::PaymentStore;
use std::sync::Arc;
#[cfg(feature = "local")]
use std::sync::Mutex;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Outbound(#[from] pgm_http::OutboundError),
    /// A resource named by a variable could not be opened or created.
    #[error("{var}: {message}")]
    Resource { var: &'static str, message: String },
}

pub(crate) fn resource(var: &'static str, e: impl std::fmt::Display) -> BuildError {
    BuildError::Resource {
        var,
        message: e.to_string(),
    }
}

fn not_in_this_build(var: &str, what: &str) -> BuildError {
    BuildError::Config(ConfigError::new(
        var,
        format!("{what} is not part of this build"),
    ))
}

/// When a built PGM makes its SQS client. Making an AWS client is most of a function's init
/// (each SDK crate parses its endpoint partition table and compiles its region patterns, once
/// per process, when its first client is made), so a function whose requests rarely publish a
/// notification makes it on its first publish instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "aws"), allow(dead_code))]
pub(crate) enum SqsAt {
    Start,
    FirstUse,
}

/// What delivers the notifications the queue gets.
enum QueueBackend {
    #[cfg(feature = "local")]
    Local {
        delivery: Mutex<Option<pgm_notify::local::DeliveryLoop>>,
    },
    #[cfg(feature = "aws")]
    Sqs { sqs: aws::SqsClient },
}

/// A built PGM: everything one process needs, made once.
pub struct Pgm {
    pub config: Config,
    pub app: App,
    pub api: pgm_api::ApiConfig,
    /// Signs and POSTs notifications to `PAYMENT_CALLBACK_URL`.
    pub deliverer: Deliverer,
    backend: QueueBackend,
}

impl Pgm {
    /// Reads the configuration from `env` and builds everything; AWS clients are loaded once
    /// when the store or the queue needs them.
    pub async fn build(env: &Env, profile: Profile) -> Result<Pgm, BuildError> {
        Pgm::build_with(env, profile, None).await
    }

    /// [`Pgm::build`] for the Lambda function `function`. Pay, confirm, refund
    /// and callback publish a notification on most requests (the outcome of a payment), so
    /// they make their SQS client at start, as [`Pgm::build`] does. Check, status and session
    /// publish only on some paths (a payment that reaches its outcome as it is looked at; a
    /// session confirmed, voided or refunded, never opened or checked), so they make it on
    /// their first publish: an AWS client is most of a function's init (BENCHMARKS.md).
    pub async fn build_for(
        env: &Env,
        profile: Profile,
        function: Function,
    ) -> Result<Pgm, BuildError> {
        let sqs_at = match function {
            Function::Pay | Function::Confirm | Function::Refund | Function::Callback => {
                SqsAt::Start
            }
            Function::Check | Function::Status | Function::Session => SqsAt::FirstUse,
        };
        Pgm::build_inner(
            env,
            profile,
            #[cfg(feature = "aws")]
            None,
            sqs_at,
        )
        .await
    }

    /// [`Pgm::build`] with AWS clients made by the caller (tests count requests with them).
    pub async fn build_with(
        env: &Env,
        profile: Profile,
        #[cfg(feature = "aws")] aws: Option<AwsClients>,
        #[cfg(not(feature = "aws"))] _aws: Option<std::convert::Infallible>,
    ) -> Result<Pgm, BuildError> {
        Pgm::build_inner(
            env,
            profile,
            #[cfg(feature = "aws")]
            aws,
            SqsAt::Start,
        )
        .await
    }

    async fn build_inner(
        env: &Env,
        profile: Profile,
        #[cfg(feature = "aws")] aws: Option<AwsClients>,
        #[cfg_attr(not(feature = "aws"), allow(unused_variables))] sqs_at: SqsAt,
    ) -> Result<Pgm, BuildError> {
        let config = Config::from_env(env, profile)?;
        let outbound = Outbound::from_env(env)?;
        #[cfg(feature = "aws")]
        let aws = match aws {
            Some(clients) => Some(aws::Clients::given(clients)),
            None if config.store == StoreKind::DynamoDb || config.queue == QueueKind::Sqs => {
                Some(aws::Clients::load(env, &outbound, sqs_at).await)
            }
            None => None,
        };

        let (store, ledger) = open_store(
            &config,
            #[cfg(feature = "aws")]
            aws.as_ref(),
        )
        .await?;

        let http = outbound.client().map_err(|e| resource("HTTP client", e))?;
        let deps = ProviderDeps {
            http: http.clone(),
            public_url: config.public_url.clone(),
            sandbox_ledger: Some(ledger),
        };
        let providers = Registry::from_env(env, &deps)?;
        let deliverer = Deliverer::new(
            http,
            config.delivery.callback_url.clone().unwrap_or_default(),
            config.delivery.callback_secret.clone(),
        );

        let (queue, backend): (Arc<dyn NotificationQueue>, QueueBackend) = match config.queue {
            #[cfg(feature = "local")]
            QueueKind::Local => {
                let (delivery, queue) = pgm_notify::local::DeliveryLoop::new(
                    store.clone(),
                    deliverer.clone(),
                    config.delivery.retry_schedule.clone(),
                );
                let backend = QueueBackend::Local {
                    delivery: Mutex::new(Some(delivery)),
                };
                (Arc::new(queue), backend)
            }
            #[cfg(feature = "aws")]
            QueueKind::Sqs => {
                let sqs = aws
                    .as_ref()
                    .map(|clients| clients.sqs.clone())
                    .ok_or_else(|| resource(config::QUEUE_VAR, "no AWS clients"))?;
                let queue_url = config.queue_url.clone().unwrap_or_default();
                if config.create_resources {
                    create_queues(&config, sqs.client()).await?;
                }
                let queue = aws::SqsNotificationQueue::new(sqs.clone(), queue_url, store.clone());
                (Arc::new(queue), QueueBackend::Sqs { sqs })
            }
            #[allow(unreachable_patterns)]
            _ => {
                return Err(not_in_this_build(
                    config::QUEUE_VAR,
                    &format!("the {:?} queue", config.queue),
                ))
            }
        };

        let app = App::new(store, providers, queue, config.settings.clone());
        Ok(Pgm {
            api: pgm_api::ApiConfig {
                api_key: config.api_key.clone(),
            },
            config,
            app,
            deliverer,
            backend,
        })
    }

    /// Every route (`pgm-local`).
    pub fn router(&self) -> axum::Router {
        pgm_api::router(self.app.clone(), self.api.clone())
    }

    /// One Lambda function's routes.
    pub fn function_router(&self, function: Function) -> axum::Router {
        pgm_api::function_router(self.app.clone(), self.api.clone(), function)
    }

    /// The enabled providers' names.
    pub fn providers(&self) -> Vec<&'static str> {
        self.app.providers.iter().map(|p| p.name()).collect()
    }

    pub fn store(&self) -> &Arc<dyn PaymentStore> {
        &self.app.store
    }

    /// One reconciliation pass at a time: what the reconciler Lambda runs per schedule tick.
    pub fn reconciler(&self) -> Reconciler {
        Reconciler::new(self.app.clone(), self.config.resend_after)
    }

    /// The SQS client (`None` with the local queue).
    #[cfg(feature = "aws")]
    pub fn sqs_client(&self) -> Option<aws_sdk_sqs::Client> {
        match &self.backend {
            QueueBackend::Sqs { sqs } => Some(sqs.client().clone()),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    /// The SQS notifier of this configuration (`None` with the local queue).
    #[cfg(feature = "aws")]
    pub fn notifier(&self) -> Option<Notifier> {
        match &self.backend {
            QueueBackend::Sqs { sqs } => Some(Notifier::new(
                sqs.client().clone(),
                self.config.queue_url.clone().unwrap_or_default(),
                self.deliverer.clone(),
                self.config.delivery.retry_schedule.clone(),
            )),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }
}

type Stores = (Arc<dyn PaymentStore>, Arc<dyn SandboxLedger>);

async fn open_store(
    config: &Config,
    #[cfg(feature = "aws")] aws: Option<&aws::Clients>,
) -> Result<Stores, BuildError> {
    match config.store {
        #[cfg(feature = "local")]
        StoreKind::Embedded => {
            std::fs::create_dir_all(&config.data_dir).map_err(|e| resource("PGM_DATA_DIR", e))?;
            let store = Arc::new(
                pgm_store::embedded::EmbeddedStore::open(&config.data_dir.join("pgm.db"))
                    .map_err(|e| resource("PGM_DATA_DIR", e))?,
            );
            Ok((store.clone(), store))
        }
        #[cfg(feature = "aws")]
        StoreKind::DynamoDb => {
            use pgm_store::dynamodb::{create_table_if_missing, DynamoStore};
            let clients = aws.ok_or_else(|| resource(config::STORE_VAR, "no AWS clients"))?;
            let table = config.table_name.clone().unwrap_or_default();
            if config.create_resources {
                create_table_if_missing(&clients.dynamodb, &table)
                    .await
                    .map_err(|e| resource(config::TABLE_VAR, e))?;
            }
            let store = Arc::new(DynamoStore::new(clients.dynamodb.clone(), table.clone()));
            let ledger = Arc::new(DynamoStore::new(clients.sandbox_dynamodb.clone(), table));
            Ok((store, ledger))
        }
        #[allow(unreachable_patterns)]
        _ => Err(not_in_this_build(
            config::STORE_VAR,
            &format!("the {:?} store", config.store),
        )),
    }
}

/// `PGM_CREATE_RESOURCES=1`: the queue pair with the template's settings, named by the URLs'
/// last path segments.
#[cfg(feature = "aws")]
async fn create_queues(config: &Config, sqs: &aws_sdk_sqs::Client) -> Result<(), BuildError> {
    use pgm_notify::sqs::{create_queues_if_missing, max_receive_count, VISIBILITY_TIMEOUT_SECS};
    let queue_url = config.queue_url.as_deref().unwrap_or_default();
    let dlq_url = config
        .dlq_url
        .as_deref()
        .ok_or_else(|| resource(config::DLQ_URL_VAR, "is required to create the queues"))?;
    create_queues_if_missing(
        sqs,
        queue_url,
        dlq_url,
        VISIBILITY_TIMEOUT_SECS,
        max_receive_count(&config.delivery.retry_schedule),
    )
    .await
    .map_err(|e| resource(config::QUEUE_URL_VAR, e))
}
