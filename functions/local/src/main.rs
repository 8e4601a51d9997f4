use pgm_core::{ConfigError, Env};

fn init_tracing(env: &Env) -> Result<(), ConfigError> {
    let level = env.get("LOG_LEVEL").unwrap_or("info");
    let filter = tracing_subscriber::EnvFilter::try_new(level).map_err(|_| {
        ConfigError::new(
            "LOG_LEVEL",
            format!("`{level}` is not a log level (error, warn, info, debug, trace)"),
        )
    })?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
    Ok(())
}

fn fail(message: impl std::fmt::Display) -> ! {
    eprintln!("pgm-local: {message}");
    std::process::exit(2);
}

#[tokio::main]
async fn main() {
    let env = Env::from_process();
    init_tracing(&env).unwrap_or_else(|e| fail(e));
    let running = pgm_local::start(&env, None)
        .await
        .unwrap_or_else(|e| fail(e));
    println!(
        "PGM listening on http://{} (public URL {}, data in {}, providers: {})",
        running.addr,
        running.config.public_url,
        running.config.data_dir.display(),
        running.providers.join(", ")
    );
    let _ = tokio::signal::ctrl_c().await;
    running.stop();
}
