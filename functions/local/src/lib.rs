//! `pgm-local`: the whole PGM in one process. Composition only: `pgm-runtime` builds the app
//! (embedded store and local delivery by default; DynamoDB and SQS with `PGM_STORE=dynamodb`,
//! `PGM_QUEUE=sqs`), and this serves every route and runs the notifier and the reconciler
//! in-process. The binary and the end-to-end tests both start it through [`start`].

mod config;
mod serve;

pub use config::{LocalConfig, Timeouts};
pub use pgm_runtime::{BuildError, Config, Pgm};

use pgm_core::{ConfigError, Env};
use pgm_runtime::Profile;
use std::net::SocketAddr;
use tokio::task::JoinHandle;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error("{var}: {message}")]
    Resource { var: &'static str, message: String },
}

/// A started PGM: the server and its background loops run on the current tokio runtime until
/// the handles are dropped or aborted.
pub struct Running {
    pub addr: SocketAddr,
    pub config: Config,
    pub providers: Vec<&'static str>,
    pub server: JoinHandle<()>,
    pub background: Vec<JoinHandle<()>>,
}

impl Running {
    pub fn stop(&self) {
        self.server.abort();
        for task in &self.background {
            task.abort();
        }
    }
}

/// Builds everything from `env` and starts serving on `listener` (or on HTTP_HOST:HTTP_PORT).
pub async fn start(
    env: &Env,
    listener: Option<tokio::net::TcpListener>,
) -> Result<Running, StartError> {
    start_with(env, listener, |_| {}).await
}

/// [`start`], with `customize` given the built [`Pgm`] before anything runs: the fault
/// injection tests wrap its store and queue (`pgm.app.store`, `pgm.app.queue`) there.
pub async fn start_with(
    env: &Env,
    listener: Option<tokio::net::TcpListener>,
    customize: impl FnOnce(&mut Pgm),
) -> Result<Running, StartError> {
    let local = LocalConfig::from_env(env)?;
    let mut pgm = Pgm::build(env, Profile::Local).await?;
    customize(&mut pgm);
    let listener = match listener {
        Some(l) => l,
        None => tokio::net::TcpListener::bind(local.listen)
            .await
            .map_err(|e| StartError::Resource {
                var: "HTTP_PORT",
                message: format!("cannot listen on {}: {e}", local.listen),
            })?,
    };
    let addr = listener.local_addr().map_err(|e| StartError::Resource {
        var: "HTTP_PORT",
        message: e.to_string(),
    })?;
    let background = pgm.spawn_workers();
    let router = pgm.router();
    let server = tokio::spawn(serve::serve(listener, router, local.timeouts));
    Ok(Running {
        addr,
        providers: pgm.providers(),
        config: pgm.config,
        server,
        background,
    })
}
