//! The `check` Lambda: GET /{provider}/check, behind API Gateway (HTTP API, payload 2.0) or a Function URL.

use pgm_core::Env;
use pgm_runtime::{init_tracing, Function, LogFormat, Pgm, Profile};

// One thread: a Lambda instance gets one event at a time (functions/README.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let env = Env::from_process();
    init_tracing(&env, LogFormat::Lambda)?;
    let pgm = Pgm::build_for(&env, Profile::Lambda, Function::Check).await?;
    lambda_http::run(pgm.function_router(Function::Check)).await
}
