//! The `reconciler` Lambda: each scheduled EventBridge event runs one pass (stale pending
//! payments checked with their provider; outbox entries that never reached the queue re-sent).

use lambda_runtime::service_fn;
use pgm_core::Env;
use pgm_runtime::{init_tracing, lambda, LogFormat, Pgm, Profile};

// One thread: a Lambda instance gets one event at a time (functions/README.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let env = Env::from_process();
    init_tracing(&env, LogFormat::Lambda)?;
    let reconciler = Pgm::build(&env, Profile::Lambda).await?.reconciler();
    lambda_runtime::run(service_fn(|event| lambda::reconcile(&reconciler, event))).await
}
