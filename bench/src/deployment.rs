//! The serverless deployment on loopback: moto for DynamoDB and SQS, the release binaries of
//! the functions under [`Function`], each behind its own counting [`AwsProxy`], with the
//! variables the SAM template gives them (functions/README.md).

use crate::aws_proxy::AwsProxy;
use crate::lambda::Function;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const ACCOUNT: &str = "123456789012";
pub const SANDBOX_SECRET: &str = "whsec_bench_sandbox";
pub const CALLBACK_SECRET: &str = "whsec_bench_merchant";

#[derive(Clone)]
pub struct Deployment {
    pub moto: String,
    pub bin_dir: PathBuf,
    pub table: String,
    pub queue_url: String,
    pub dlq_url: String,
    /// The callback function's URL (`PGM_PUBLIC_URL`).
    pub public_url: String,
    /// Where the notifier delivers (`PAYMENT_CALLBACK_URL`).
    pub receiver_url: String,
}

/// A function and the proxy that counts its AWS requests.
pub struct Deployed {
    pub function: Arc<Function>,
    pub aws: AwsProxy,
}

impl Deployment {
    /// Names its own table and queues (a moto server may outlive one run).
    pub fn new(
        moto: &str,
        bin_dir: &Path,
        run: &str,
        public_url: &str,
        receiver_url: &str,
    ) -> Deployment {
        let queue = format!("pgm-bench-{run}");
        Deployment {
            moto: moto.to_owned(),
            bin_dir: bin_dir.to_owned(),
            table: format!("pgm-bench-{run}"),
            queue_url: format!("{moto}/{ACCOUNT}/{queue}"),
            dlq_url: format!("{moto}/{ACCOUNT}/{queue}-dlq"),
            public_url: public_url.to_owned(),
            receiver_url: receiver_url.to_owned(),
        }
    }

    /// What every function of the template gets, with `aws` as the AWS endpoint.
    pub fn env(&self, aws: &str) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", aws),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "bench"),
            ("AWS_SECRET_ACCESS_KEY", "bench"),
            ("PGM_TABLE_NAME", &self.table),
            ("PGM_QUEUE_URL", &self.queue_url),
            ("PGM_PUBLIC_URL", &self.public_url),
            ("ENABLED_PROVIDERS", "sandbox"),
            ("SANDBOX_WEBHOOK_SECRET", SANDBOX_SECRET),
            ("PAYMENT_CALLBACK_URL", &self.receiver_url),
            ("PAYMENT_CALLBACK_SECRET", CALLBACK_SECRET),
            ("LOG_LEVEL", "info"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    pub fn binary(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }

    /// Starts `binary` (e.g. `pgm-pay`) with its own counting proxy.
    pub async fn deploy(&self, binary: &str) -> Result<Deployed, String> {
        self.deploy_with(binary, &[]).await
    }

    pub async fn deploy_with(
        &self,
        binary: &str,
        extra: &[(&str, &str)],
    ) -> Result<Deployed, String> {
        let aws = AwsProxy::start(&self.moto).await?;
        let mut env = self.env(&aws.url);
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let function = Arc::new(Function::spawn(binary, &self.binary(binary), &env).await?);
        Ok(Deployed { function, aws })
    }

    /// Creates the table and the queues, as the template does (`PGM_CREATE_RESOURCES`, an
    /// emulator-only switch, on one throw-away function), so that no measured init does it.
    pub async fn create_resources(&self) -> Result<(), String> {
        self.create_table(&self.table).await
    }

    /// Another table of the same schema (and the queues, already there), for
    /// [`Deployed::use_shard`].
    pub async fn create_table(&self, table: &str) -> Result<(), String> {
        let setup = self
            .deploy_with(
                "pgm-status",
                &[
                    ("PGM_CREATE_RESOURCES", "1"),
                    ("PGM_DLQ_URL", &self.dlq_url),
                    ("PGM_TABLE_NAME", table),
                ],
            )
            .await?;
        setup
            .function
            .invoke(&crate::events::unrouted())
            .await
            .map(|_| ())
    }

    pub fn shard_table(&self, shard: &str) -> String {
        format!("{}-{shard}", self.table)
    }

    /// Creates the tables of `shards`, a few at a time.
    pub async fn create_shards(&self, shards: &[String]) -> Result<(), String> {
        for group in shards.chunks(8) {
            let mut creating = tokio::task::JoinSet::new();
            for shard in group {
                let (deployment, table) = (self.clone(), self.shard_table(shard));
                creating.spawn(async move { deployment.create_table(&table).await });
            }
            while let Some(created) = creating.join_next().await {
                created.map_err(|e| e.to_string())??;
            }
        }
        Ok(())
    }
}

impl Deployed {
    /// Sends this function's requests for the deployment's table to shard `shard` (see
    /// [`AwsProxy::route_table`]).
    pub fn use_shard(&self, deployment: &Deployment, shard: &str) {
        self.aws
            .route_table(&deployment.table, Some(deployment.shard_table(shard)));
    }
}

/// What the sections that drive the whole flow start from: moto, a receiver of the
/// notifications, a Function URL for the sandbox's callbacks, and a deployment named `run`
/// whose table and queues exist.
pub struct Stage {
    pub moto: String,
    pub receiver: crate::http_fronts::Receiver,
    pub function_url: crate::http_fronts::FunctionUrl,
    pub deployment: Deployment,
}

impl Stage {
    pub async fn start(bench: &crate::Bench, run: &str) -> Result<Stage, String> {
        let moto = bench.moto().await;
        let receiver = crate::http_fronts::Receiver::start().await?;
        let function_url = crate::http_fronts::FunctionUrl::bind().await?;
        let deployment =
            Deployment::new(&moto, &bench.bin_dir, run, &function_url.url, &receiver.url);
        deployment.create_resources().await?;
        Ok(Stage {
            moto,
            receiver,
            function_url,
            deployment,
        })
    }
}
