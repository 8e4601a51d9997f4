//! The AWS clients, built once per process from aws-config.

use pgm_core::Env;
use pgm_http::Outbound;

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
