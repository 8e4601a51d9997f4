//! `pgm-local` settings, read once at start. A bad value stops the process naming the variable.

use pgm_core::{ConfigError, Env, Secret};
use pgm_notify::RetrySchedule;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

pub struct LocalConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub public_url: String,
    pub api_key: Option<Secret>,
    pub callback_url: Option<String>,
    pub callback_secret: Option<Secret>,
    pub retry_schedule: RetrySchedule,
    pub settings: pgm_app::Settings,
    pub reconcile_every: Duration,
}

fn seconds(env: &Env, var: &str, default: u64) -> Result<Duration, ConfigError> {
    let n: u64 = env.parse_or(var, default)?;
    if n == 0 {
        return Err(ConfigError::new(var, "must be at least 1"));
    }
    Ok(Duration::from_secs(n))
}

impl LocalConfig {
    pub fn from_env(env: &Env) -> Result<LocalConfig, ConfigError> {
        let port: u16 = env.parse_or("HTTP_PORT", 8080)?;
        let host: IpAddr = env.parse_or("HTTP_HOST", IpAddr::from([127, 0, 0, 1]))?;
        let public_url = env.url_or("PGM_PUBLIC_URL", &format!("http://localhost:{port}"))?;
        let retry_schedule = match env.get("PGM_NOTIFY_RETRY_SCHEDULE") {
            Some(text) => RetrySchedule::parse("PGM_NOTIFY_RETRY_SCHEDULE", text)?,
            None => RetrySchedule::default(),
        };
        let defaults = pgm_app::Settings::default();
        Ok(LocalConfig {
            listen: SocketAddr::new(host, port),
            data_dir: PathBuf::from(env.get("PGM_DATA_DIR").unwrap_or("./data")),
            public_url,
            api_key: env.get("PGM_API_KEY").map(Secret::new),
            callback_url: env.url("PAYMENT_CALLBACK_URL")?,
            callback_secret: env.get("PAYMENT_CALLBACK_SECRET").map(Secret::new),
            retry_schedule,
            settings: pgm_app::Settings {
                pay_lock: seconds(env, "PGM_PAY_LOCK_SECONDS", defaults.pay_lock.as_secs())?,
                stale_after: seconds(
                    env,
                    "PGM_STALE_AFTER_SECONDS",
                    defaults.stale_after.as_secs(),
                )?,
                idempotency_ttl: defaults.idempotency_ttl,
            },
            reconcile_every: seconds(env, "PGM_RECONCILE_INTERVAL_SECONDS", 60)?,
        })
    }
}
