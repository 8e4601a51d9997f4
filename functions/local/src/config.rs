//! What only `pgm-local` reads: where to listen. Everything else is `pgm_runtime::Config`.

use pgm_core::{ConfigError, Env};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

pub struct LocalConfig {
    pub listen: SocketAddr,
    pub timeouts: Timeouts,
}

/// How long a client may take: `PGM_HTTP_HEADER_TIMEOUT_SECONDS` to send a request's head
/// (counted from when the connection waits for it), `PGM_HTTP_BODY_TIMEOUT_SECONDS` to send
/// its whole body, `PGM_HTTP_IDLE_TIMEOUT_SECONDS` with no request under way before the
/// connection is closed.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub header: Duration,
    pub body: Duration,
    pub idle: Duration,
}

fn seconds(env: &Env, var: &str, default: u64) -> Result<Duration, ConfigError> {
    let secs: u64 = env.parse_or(var, default)?;
    if secs == 0 {
        return Err(ConfigError::new(var, "must be at least 1 second"));
    }
    Ok(Duration::from_secs(secs))
}

impl LocalConfig {
    pub fn from_env(env: &Env) -> Result<LocalConfig, ConfigError> {
        let port: u16 = env.parse_or("HTTP_PORT", 8080)?;
        let host: IpAddr = env.parse_or("HTTP_HOST", IpAddr::from([127, 0, 0, 1]))?;
        Ok(LocalConfig {
            listen: SocketAddr::new(host, port),
            timeouts: Timeouts {
                header: seconds(env, "PGM_HTTP_HEADER_TIMEOUT_SECONDS", 10)?,
                body: seconds(env, "PGM_HTTP_BODY_TIMEOUT_SECONDS", 30)?,
                idle: seconds(env, "PGM_HTTP_IDLE_TIMEOUT_SECONDS", 60)?,
            },
        })
    }
}
