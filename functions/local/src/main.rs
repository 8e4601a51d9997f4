use pgm_core::Env;
use pgm_runtime::{init_tracing, LogFormat, StoreKind};

fn fail(message: impl std::fmt::Display) -> ! {
    eprintln!("pgm-local: {message}");
    std::process::exit(2);
}

#[tokio::main]
async fn main() {
    let env = Env::from_process();
    init_tracing(&env, LogFormat::Terminal).unwrap_or_else(|e| fail(e));
    let running = pgm_local::start(&env, None)
        .await
        .unwrap_or_else(|e| fail(e));
    let data = match running.config.store {
        StoreKind::Embedded => format!("data in {}", running.config.data_dir.display()),
        StoreKind::DynamoDb => format!(
            "DynamoDB table {}",
            running.config.table_name.as_deref().unwrap_or_default()
        ),
    };
    println!(
        "PGM listening on http://{} (public URL {}, {data}, providers: {})",
        running.addr,
        running.config.public_url,
        running.providers.join(", ")
    );
    let _ = tokio::signal::ctrl_c().await;
    running.stop();
}
