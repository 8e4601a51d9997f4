//! The `notifier` Lambda: SQS batches of notifications in, deliveries to
//! `PAYMENT_CALLBACK_URL` out; failed messages are reported (`ReportBatchItemFailures`) and
//! come back after the retry schedule's delay.

use lambda_runtime::service_fn;
use pgm_core::Env;
use pgm_runtime::{init_tracing, lambda, LogFormat, Notifier};

// One thread: a Lambda instance gets one event at a time (functions/README.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let env = Env::from_process();
    init_tracing(&env, LogFormat::Lambda)?;
    let notifier = Notifier::from_env(&env, None).await?;
    lambda_runtime::run(service_fn(|event| lambda::notify(&notifier, event))).await
}
