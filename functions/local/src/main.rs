//! `pgm-local`: the whole PGM in one process. Composition only: read config, build the
//! pieces once, serve.

mod config;

use config::LocalConfig;
use pgm_core::{ConfigError, Env};
use pgm_notify::local::DeliveryLoop;
use pgm_notify::Deliverer;
use pgm_providers::{ProviderDeps, Registry};
use pgm_store::embedded::EmbeddedStore;
use std::sync::Arc;

fn init_tracing(env: &Env) -> Result<(), ConfigError> {
    let level = env.get("LOG_LEVEL").unwrap_or("info");
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .map_err(|_| ConfigError::new("LOG_LEVEL", format!("`{level}` is not a log level (error, warn, info, debug, trace)")))?;
    tracing_subscriber::fmt().with_env_filter(filter).with_target(false).init();
    Ok(())
}

fn fail(message: impl std::fmt::Display) -> ! {
    eprintln!("pgm-local: {message}");
    std::process::exit(2);
}

#[tokio::main]
async fn main() {
    let env = Env::from_process();
    if let Err(e) = init_tracing(&env) {
        fail(e);
    }
    let config = LocalConfig::from_env(&env).unwrap_or_else(|e| fail(e));
    if let Err(e) = std::fs::create_dir_all(&config.data_dir) {
        fail(format!("PGM_DATA_DIR: cannot create {}: {e}", config.data_dir.display()));
    }
    let db = config.data_dir.join("pgm.db");
    let store = Arc::new(EmbeddedStore::open(&db).unwrap_or_else(|e| fail(format!("PGM_DATA_DIR: {e}"))));

    let http = reqwest::Client::builder()
        .build()
        .unwrap_or_else(|e| fail(format!("HTTP client: {e}")));
    let deps = ProviderDeps {
        http: http.clone(),
        public_url: config.public_url.clone(),
        sandbox_ledger: store.clone(),
    };
    let providers = Registry::from_env(&env, &deps).unwrap_or_else(|e| fail(e));

    let (delivery, queue) = DeliveryLoop::new(
        store.clone(),
        Deliverer::new(http, config.callback_url.clone().unwrap_or_default(), config.callback_secret.clone()),
        config.retry_schedule.clone(),
    );
    match &config.callback_url {
        Some(_) => {
            tokio::spawn(delivery.run());
        }
        None => tracing::warn!("PAYMENT_CALLBACK_URL is not set: notifications wait in the outbox until it is"),
    }

    let app = pgm_app::App::new(store, providers.clone(), Arc::new(queue), config.settings.clone());
    tokio::spawn(reconcile_loop(app.clone(), config.reconcile_every));

    let router = pgm_api::router(app, pgm_api::ApiConfig { api_key: config.api_key.clone() });
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .unwrap_or_else(|e| fail(format!("HTTP_PORT: cannot listen on {}: {e}", config.listen)));
    let names: Vec<&str> = providers.iter().map(|p| p.name()).collect();
    println!(
        "PGM listening on http://{} (public URL {}, data in {}, providers: {})",
        listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
        config.public_url,
        config.data_dir.display(),
        names.join(", ")
    );
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .unwrap_or_else(|e| fail(e));
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
