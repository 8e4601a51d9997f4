//! `pgm-ops inspect <shopTransactionID> | redrive | reconcile | braintree-client-token
//! [customerId] | routes`: see `pgm_runtime::ops`. Five commands with at most one argument
//! need no argument-parsing crate.
//!
//! Prints the result as JSON on stdout; exits 2 on a usage or configuration error, 1 when the
//! command fails.

use pgm_core::Env;
use pgm_runtime::ops::{braintree_client_token, execute, needs_pgm, routes, Command, OpsError};
use pgm_runtime::{init_tracing, LogFormat, Pgm, Profile};

fn fail(code: i32, message: impl std::fmt::Display) -> ! {
    eprintln!("pgm-ops: {message}");
    std::process::exit(code);
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = Command::parse(&args).unwrap_or_else(|e| fail(2, e));
    let mut env = Env::from_process();
    if env.get("LOG_LEVEL").is_none() {
        // Keep stdout for the result and stderr for what went wrong.
        env.set("LOG_LEVEL", "warn");
    }
    init_tracing(&env, LogFormat::Terminal).unwrap_or_else(|e| fail(2, e));
    let result = match &command {
        // Only Braintree's settings are needed: no store is opened.
        Command::BraintreeClientToken(customer) if !needs_pgm(&command) => {
            braintree_client_token(&env, customer.as_deref()).await
        }
        Command::Routes => Ok(routes()),
        _ => {
            let pgm = Pgm::build(&env, Profile::Local)
                .await
                .unwrap_or_else(|e| fail(2, e));
            execute(&pgm, &command).await
        }
    };
    match result {
        Ok(result) => println!(
            "{}",
            serde_json::to_string_pretty(&result).unwrap_or_default()
        ),
        Err(e @ (OpsError::Usage(_) | OpsError::Config(_))) => fail(2, e),
        Err(e) => fail(1, e),
    }
}
