//! The AWS clients, built once per process from aws-config.

use crate::SqsAt;
use async_trait::async_trait;
use pgm_core::{Env, NotificationEvent};
use pgm_http::Outbound;
use pgm_notify::sqs::SqsQueue;
use pgm_notify::{NotificationQueue, QueueError};
use pgm_store::PaymentStore;
use std::sync::{Arc, LazyLock};

/// One DynamoDB and one SQS client from the same loaded configuration. Clients are cheap to
/// clone (they share their connection pool).
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    /// The client the sandbox provider keeps its books with, when it differs from `dynamodb`.
    sandbox_dynamodb: Option<aws_sdk_dynamodb::Client>,
}

impl AwsClients {
    /// Both clients from [`sdk_config`].
    pub async fn load(env: &Env, outbound: &Outbound) -> AwsClients {
        AwsClients::from_sdk_config(&sdk_config(env, outbound).await)
    }

    pub fn from_sdk_config(config: &aws_config::SdkConfig) -> AwsClients {
        AwsClients {
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
            sandbox_dynamodb: None,
        }
    }

    /// Counts the PGM store's DynamoDB requests with `counter` (tests of what an operation
    /// costs). The sandbox provider's books stand for the PSP's own database, so they keep the
    /// uncounted client.
    pub fn count_store_requests(self, counter: pgm_store::dynamodb::RequestCounter) -> AwsClients {
        let counted = aws_sdk_dynamodb::Client::from_conf(
            self.dynamodb
                .config()
                .to_builder()
                .interceptor(counter)
                .build(),
        );
        AwsClients {
            sandbox_dynamodb: Some(self.dynamodb),
            dynamodb: counted,
            sqs: self.sqs,
        }
    }

    pub(crate) fn sandbox_dynamodb(&self) -> aws_sdk_dynamodb::Client {
        self.sandbox_dynamodb
            .clone()
            .unwrap_or_else(|| self.dynamodb.clone())
    }
}

type Make<T> = Box<dyn FnOnce() -> T + Send>;

/// An SQS client made at start, or on first use ([`SqsAt`]). Cheap to clone (shared).
#[derive(Clone)]
pub(crate) struct SqsClient(Arc<LazyLock<aws_sdk_sqs::Client, Make<aws_sdk_sqs::Client>>>);

impl SqsClient {
    fn new(make: Make<aws_sdk_sqs::Client>) -> SqsClient {
        SqsClient(Arc::new(LazyLock::new(make)))
    }

    pub(crate) fn client(&self) -> &aws_sdk_sqs::Client {
        &self.0
    }
}

/// The clients a built PGM uses: the store's, the sandbox's books' and the queue's.
pub(crate) struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sandbox_dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: SqsClient,
}

impl Clients {
    /// Clients made by the caller (tests count requests with them).
    pub(crate) fn given(clients: AwsClients) -> Clients {
        let sqs = clients.sqs.clone();
        Clients {
            sandbox_dynamodb: clients.sandbox_dynamodb(),
            dynamodb: clients.dynamodb,
            sqs: SqsClient::new(Box::new(move || sqs)),
        }
    }

    /// The DynamoDB client from [`sdk_config`], and the SQS client from the same configuration,
    /// made when `sqs_at` says.
    pub(crate) async fn load(env: &Env, outbound: &Outbound, sqs_at: SqsAt) -> Clients {
        let config = sdk_config(env, outbound).await;
        let dynamodb = aws_sdk_dynamodb::Client::new(&config);
        let sqs = match sqs_at {
            SqsAt::Start => {
                let client = aws_sdk_sqs::Client::new(&config);
                SqsClient::new(Box::new(move || client))
            }
            SqsAt::FirstUse => SqsClient::new(Box::new(move || aws_sdk_sqs::Client::new(&config))),
        };
        Clients {
            sandbox_dynamodb: dynamodb.clone(),
            dynamodb,
            sqs,
        }
    }
}

/// The notification queue over an [`SqsClient`]: the queue (and a client made on first use)
/// is made when the first events are published.
pub(crate) struct SqsNotificationQueue(LazyLock<SqsQueue, Make<SqsQueue>>);

impl SqsNotificationQueue {
    pub(crate) fn new(
        sqs: SqsClient,
        queue_url: String,
        store: Arc<dyn PaymentStore>,
    ) -> SqsNotificationQueue {
        SqsNotificationQueue(LazyLock::new(Box::new(move || {
            SqsQueue::new(sqs.client().clone(), queue_url, store)
        })))
    }
}

#[async_trait]
impl NotificationQueue for SqsNotificationQueue {
    async fn publish(&self, events: &[NotificationEvent]) -> Result<(), QueueError> {
        self.0.publish(events).await
    }
}

/// Loads the SDK's standard configuration once: region, credentials (the Lambda role, the
/// environment, profiles) and endpoint. `AWS_ENDPOINT_URL` and `AWS_REGION` are taken from
/// `env` (the same snapshot the rest of the configuration comes from); when `env` also
/// carries `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (as on Lambda, or against a
/// local emulator), those are the credentials. Requests go through `outbound`, the
/// process's one HTTP stack (no second certificate store loaded for the SDK).
pub(crate) async fn sdk_config(env: &Env, outbound: &Outbound) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(outbound.aws_http_client());
    if let Some(endpoint) = env.get("AWS_ENDPOINT_URL") {
        loader = loader.endpoint_url(endpoint);
    }
    if let Some(region) = env.get("AWS_REGION").or(env.get("AWS_DEFAULT_REGION")) {
        loader = loader.region(aws_config::Region::new(region.to_owned()));
    }
    if let (Some(key), Some(secret)) = (
        env.get("AWS_ACCESS_KEY_ID"),
        env.get("AWS_SECRET_ACCESS_KEY"),
    ) {
        loader = loader.credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            key,
            secret,
            env.get("AWS_SESSION_TOKEN").map(str::to_owned),
            None,
            "environment",
        ));
    }
    loader.load().await
}
