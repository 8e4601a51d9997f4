//! Figure 3, throughput of pgm-local (embedded store on disk, sandbox provider) for pay and status.

use crate::load::{self, Run};
use crate::local::LocalPgm;
use crate::stats::{median, median_f64, ms, percentile};
use crate::Bench;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const CONCURRENCY: [usize; 3] = [1, 8, 32];
const WARM_UP: Duration = Duration::from_millis(500);
const MEASURE: Duration = Duration::from_secs(3);

struct Point {
    per_second: f64,
    p50: Duration,
    p99: Duration,
}

async fn point(
    http: &reqwest::Client,
    bench: &Bench,
    concurrency: usize,
    make: load::MakeRequest,
    check: load::CheckAnswer,
    what: &str,
) -> Result<Point, String> {
    load::run(http, concurrency, WARM_UP, make.clone(), check.clone())
        .await
        .ok(what)?;
    let mut runs: Vec<Run> = Vec::new();
    for _ in 0..bench.runs.min(3) {
        runs.push(
            load::run(http, concurrency, MEASURE, make.clone(), check.clone())
                .await
                .ok(what)?,
        );
    }
    Ok(Point {
        per_second: median_f64(&runs.iter().map(Run::per_second).collect::<Vec<_>>()),
        p50: median(
            &runs
                .iter()
                .map(|r| percentile(&r.latencies, 50.0))
                .collect::<Vec<_>>(),
        ),
        p99: median(
            &runs
                .iter()
                .map(|r| percentile(&r.latencies, 99.0))
                .collect::<Vec<_>>(),
        ),
    })
}

pub async fn run(bench: &Bench) -> Result<super::Report, String> {
    let pgm = LocalPgm::start(
        &bench.bin_dir.join("pgm-local"),
        &bench.data_dir,
        &[("ENABLED_PROVIDERS", "sandbox")],
    )
    .await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .map_err(|e| e.to_string())?;
    let base = pgm.url.clone();

    // The payment every status request asks about.
    let known = http
        .post(format!("{base}/sandbox/credit-cards/pay"))
        .json(&json!({"amount": "10.00", "shopTransactionID": "tp-status", "creditCardToken": "tok_ok"}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !known.status().is_success() {
        return Err(format!("the first pay failed: {}", known.status()));
    }

    let mut out = String::new();
    out.push_str("| operation | concurrency | requests/s | p50 (ms) | p99 (ms) |\n");
    out.push_str("|---|---:|---:|---:|---:|\n");
    for (tag, concurrency) in CONCURRENCY.into_iter().enumerate() {
        let pay_url = format!("{base}/sandbox/credit-cards/pay");
        let pay: load::MakeRequest = Arc::new(move |client, i| {
            client.post(&pay_url).json(&json!({
                "amount": "10.00",
                "shopTransactionID": format!("tp-{tag}-{i}-{}", std::process::id()),
                "creditCardToken": "tok_ok"
            }))
        });
        let paid = point(
            &http,
            bench,
            concurrency,
            pay,
            load::json_field("result", "OK"),
            "pay",
        )
        .await?;
        out.push_str(&format!(
            "| pay (`tok_ok`, new `shopTransactionID` each) | {concurrency} | {:.0} | {} | {} |\n",
            paid.per_second,
            ms(paid.p50),
            ms(paid.p99)
        ));
        eprintln!("throughput: pay x{concurrency} done");
    }
    for concurrency in CONCURRENCY {
        let status_url = format!("{base}/sandbox/status?shopTransactionId=tp-status");
        let status: load::MakeRequest = Arc::new(move |client, _| client.get(&status_url));
        let seen = point(
            &http,
            bench,
            concurrency,
            status,
            load::json_field("status", "ACCEPTED"),
            "status",
        )
        .await?;
        out.push_str(&format!(
            "| status (GET, one settled payment) | {concurrency} | {:.0} | {} | {} |\n",
            seen.per_second,
            ms(seen.p50),
            ms(seen.p99)
        ));
        eprintln!("throughput: status x{concurrency} done");
    }
    let peak = pgm
        .peak_rss_kib()
        .map(crate::stats::mib)
        .unwrap_or_else(|| "?".into());
    out.push_str(&format!(
        "\npgm-local's peak RSS after all of these: {peak} MiB.\n"
    ));
    out.push_str(&format!(
        "\nClosed loop: each of `concurrency` connections sends its next request when the \
         previous answer is read. {} runs of {} s after {} ms of warm-up per point, median \
         requests/s and median p50/p99 over the runs; every answer checked (pay `result` OK, \
         status ACCEPTED). The load generator runs on the same {} cores as pgm-local. Data on \
         disk in `{}` (durable commits).\n",
        bench.runs.min(3),
        MEASURE.as_secs(),
        WARM_UP.as_millis(),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        bench.data_dir.display()
    ));
    Ok(out.into())
}
