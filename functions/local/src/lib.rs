//! `pgm-local`: the whole PGM in one process. Composition only: read config, build the pieces
//! once, serve. The binary and the end-to-end tests both start it through [`start`].

mod config;

pub use config::LocalConfig;

use pgm_core::{ConfigError, Env};
use pgm_notify::local::DeliveryLoop;
use pgm_notify::Deliverer;
use pgm_providers::{ProviderDeps, Registry};
use pgm_store::embedded::EmbeddedStore;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::task::JoinHandle;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{var}: {message}")]
    Resource { var: &'static str, message: String },
}

fn resource(var: &'static str, e: impl std::fmt::Display) -> StartError {
    StartError::Resource {
        var,
        message: e.to_string(),
    }
}

/// A started PGM: the server and its background loops run on the current tokio runtime until
/// the handles are dropped or aborted.
pub struct Running {
    pub addr: SocketAddr,
    pub config: LocalConfig,
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
    let config = LocalConfig::from_env(env)?;
    std::fs::create_dir_all(&config.data_dir).map_err(|e| resource("PGM_DATA_DIR", e))?;
    let store = Arc::new(
        EmbeddedStore::open(&config.data_dir.join("pgm.db"))
            .map_err(|e| resource("PGM_DATA_DIR", e))?,
    );

    let http = reqwest::Client::builder()
        .build()
        .map_err(|e| resource("HTTP client", e))?;
    let deps = ProviderDeps {
        http: http.clone(),
        public_url: config.public_url.clone(),
        sandbox_ledger: store.clone(),
    };
    let providers = Registry::from_env(env, &deps)?;

    let deliverer = Deliverer::new(
        http,
        config.callback_url.clone().unwrap_or_default(),
        config.callback_secret.clone(),
    );
    let (delivery, queue) =
        DeliveryLoop::new(store.clone(), deliverer, config.retry_schedule.clone());
    let mut background = Vec::new();
    match &config.callback_url {
        Some(_) => background.push(tokio::spawn(delivery.run())),
        None => tracing::warn!(
            "PAYMENT_CALLBACK_URL is not set: notifications wait in the outbox until it is"
        ),
    }
    let app = pgm_app::App::new(
        store,
        providers.clone(),
        Arc::new(queue),
        config.settings.clone(),
    );
    background.push(tokio::spawn(reconcile_loop(
        app.clone(),
        config.reconcile_every,
    )));

    let router = pgm_api::router(
        app,
        pgm_api::ApiConfig {
            api_key: config.api_key.clone(),
        },
    );
    let listener = match listener {
        Some(l) => l,
        None => tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| {
                resource(
                    "HTTP_PORT",
                    format!("cannot listen on {}: {e}", config.listen),
                )
            })?,
    };
    let addr = listener
        .local_addr()
        .map_err(|e| resource("HTTP_PORT", e))?;
    let server = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "server stopped");
        }
    });
    Ok(Running {
        addr,
        config,
        providers: providers.iter().map(|p| p.name()).collect(),
        server,
        background,
    })
}

/// The in-process reconciler: what the scheduled Lambda does in AWS.
async fn reconcile_loop(app: pgm_app::App, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tick.tick().await;
        match app.reconcile_once(100).await {
            Ok(report) if report.examined > 0 => tracing::info!(?report, "reconciliation pass"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "reconciliation pass failed"),
        }
    }
}
