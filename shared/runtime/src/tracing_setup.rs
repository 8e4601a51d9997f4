//! Logging, set up once from `LOG_LEVEL`.

use pgm_core::{ConfigError, Env};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// A terminal: colours and timestamps.
    Terminal,
    /// CloudWatch: no colour codes, no timestamps (CloudWatch stamps every line).
    Lambda,
}

/// Installs the global subscriber with `LOG_LEVEL` (`error` … `trace`, or a tracing filter).
pub fn init_tracing(env: &Env, format: LogFormat) -> Result<(), ConfigError> {
    let level = env.get("LOG_LEVEL").unwrap_or("info");
    let filter = tracing_subscriber::EnvFilter::try_new(level).map_err(|_| {
        ConfigError::new(
            "LOG_LEVEL",
            format!("`{level}` is not a log level (error, warn, info, debug, trace)"),
        )
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    match format {
        LogFormat::Terminal => builder.init(),
        LogFormat::Lambda => builder.with_ansi(false).without_time().init(),
    }
    Ok(())
}
