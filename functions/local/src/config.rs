//! What only `pgm-local` reads: where to listen. Everything else is `pgm_runtime::Config`.

use pgm_core::{ConfigError, Env};
use std::net::{IpAddr, SocketAddr};

pub struct LocalConfig {
    pub listen: SocketAddr,
}

impl LocalConfig {
    pub fn from_env(env: &Env) -> Result<LocalConfig, ConfigError> {
        let port: u16 = env.parse_or("HTTP_PORT", 8080)?;
        let host: IpAddr = env.parse_or("HTTP_HOST", IpAddr::from([127, 0, 0, 1]))?;
        Ok(LocalConfig {
            listen: SocketAddr::new(host, port),
        })
    }
}
