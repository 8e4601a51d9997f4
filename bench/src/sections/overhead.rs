//! Figure 2, gateway overhead: a pay through pgm-local (embedded store, Stripe adapter) against the
//! Stripe mock on loopback, side by side with the same create-session request sent straight to
//! the mock.

use crate::local::LocalPgm;
use crate::stats::{median, ms, percentile};
use crate::Bench;
use pgm_mocks::stripe::{StripeMock, TEST_SECRET_KEY};
use serde_json::json;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// Sequential pairs (one direct request, one through PGM) per round.
const PAIRS_PER_ROUND: u64 = 200;
const WARM_UP: u64 = 50;

/// The create-session request PGM's Stripe adapter sent, as the mock recorded it.
struct Captured {
    path: String,
    content_type: String,
    authorization: String,
    body: String,
}

fn pay_body(id: &str) -> serde_json::Value {
    json!({
        "amount": "10.00",
        "shopTransactionID": id,
        "buyerEmail": "ada@example.com",
        "successRedirect": "https://shop.example/paid",
        "failureRedirect": "https://shop.example/cancelled",
    })
}

/// The mock on its own runtime, so that it does not share the load generator's scheduler.
async fn start_mock(runtime: &tokio::runtime::Runtime) -> Result<StripeMock, String> {
    runtime
        .spawn(StripeMock::start())
        .await
        .map_err(|e| e.to_string())
}

struct Row {
    direct_p50: Duration,
    direct_p99: Duration,
    pgm_p50: Duration,
    pgm_p99: Duration,
}

async fn measure(bench: &Bench, data_parent: &Path, tag: &str) -> Result<Row, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mock = start_mock(&runtime).await?;
    let pgm = LocalPgm::start(
        &bench.bin_dir.join("pgm-local"),
        data_parent,
        &[
            ("ENABLED_PROVIDERS", "stripe"),
            ("STRIPE_BASE_URL", mock.url()),
            ("STRIPE_PRIVATE_KEY", TEST_SECRET_KEY),
            ("STRIPE_WEBHOOK_SECRET", "whsec_bench_stripe"),
        ],
    )
    .await?;
    let http = reqwest::Client::new();
    let pay_url = format!("{}/stripe/stripe/pay", pgm.url);
    let through_pgm = |id: String| {
        let (http, pay_url) = (http.clone(), pay_url.clone());
        async move {
            let pay = http.post(&pay_url).json(&pay_body(&id));
            timed(pay, "pay through PGM", |body| {
                body["result"] == "REDIRECT_TO_URL"
            })
            .await
        }
    };
    for i in 0..WARM_UP {
        through_pgm(format!("{tag}-warm-{i}")).await?;
    }
    let captured = mock
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.method == "POST" && r.path == "/v1/checkout/sessions")
        .map(|r| Captured {
            path: r.path,
            content_type: r.content_type.unwrap_or_default(),
            authorization: r.authorization.unwrap_or_default(),
            body: r.body,
        })
        .ok_or("the mock saw no create-session request")?;
    let direct_url = format!("{}{}", mock.url(), captured.path);
    let straight = |i: String| {
        let (http, url) = (http.clone(), direct_url.clone());
        let (content_type, authorization, body) = (
            captured.content_type.clone(),
            captured.authorization.clone(),
            captured.body.clone(),
        );
        async move {
            let create = http
                .post(&url)
                .header("content-type", content_type)
                .header("authorization", authorization)
                // A new key each time, as PGM sends one per payment: no replayed answers.
                .header("idempotency-key", i)
                .body(body);
            timed(create, "straight to the mock", |body| {
                body["object"] == "checkout.session"
            })
            .await
        }
    };
    for i in 0..WARM_UP {
        straight(format!("{tag}-warm-{i}")).await?;
    }

    let (mut directs, mut vias) = (Vec::new(), Vec::new());
    for round in 0..bench.runs {
        let (mut direct, mut via) = (Vec::new(), Vec::new());
        for i in 0..PAIRS_PER_ROUND {
            let id = format!("{tag}-{round}-{i}");
            direct.push(straight(id.clone()).await?);
            via.push(through_pgm(id).await?);
        }
        directs.push(direct);
        vias.push(via);
    }
    drop(pgm);
    drop(mock);
    runtime.shutdown_background();

    Ok(Row {
        direct_p50: median_percentile(&directs, 50.0),
        direct_p99: median_percentile(&directs, 99.0),
        pgm_p50: median_percentile(&vias, 50.0),
        pgm_p99: median_percentile(&vias, 99.0),
    })
}

/// The median over the rounds of each round's `p`-th percentile.
fn median_percentile(rounds: &[Vec<Duration>], p: f64) -> Duration {
    median(
        &rounds
            .iter()
            .map(|round| percentile(round, p))
            .collect::<Vec<_>>(),
    )
}

/// What one `fdatasync` of a small append costs in `dir`: the price of a durable commit there.
fn fsync_cost(dir: &Path) -> Result<Duration, String> {
    let file_dir = tempfile::tempdir_in(dir).map_err(|e| e.to_string())?;
    let mut file =
        std::fs::File::create(file_dir.path().join("probe")).map_err(|e| e.to_string())?;
    let mut samples = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        file.write_all(&[7u8; 4096]).map_err(|e| e.to_string())?;
        file.sync_data().map_err(|e| e.to_string())?;
        samples.push(started.elapsed());
    }
    Ok(median(&samples))
}

fn row_line(setting: &str, row: &Row) -> String {
    let added = |pgm: Duration, direct: Duration| {
        format!(
            "{:+.2}",
            (pgm.as_secs_f64() - direct.as_secs_f64()) * 1000.0
        )
    };
    format!(
        "| {setting} | {} | {} | {} | {} | **{}** | {} |\n",
        ms(row.direct_p50),
        ms(row.direct_p99),
        ms(row.pgm_p50),
        ms(row.pgm_p99),
        added(row.pgm_p50, row.direct_p50),
        added(row.pgm_p99, row.direct_p99),
    )
}

pub async fn run(bench: &Bench) -> Result<super::Report, String> {
    let disk = measure(bench, &bench.data_dir, "disk").await?;
    eprintln!("overhead: on disk done");
    let shm = Path::new("/dev/shm");
    let tmpfs = if shm.is_dir() {
        Some(measure(bench, shm, "tmpfs").await?)
    } else {
        None
    };
    eprintln!("overhead: tmpfs done");
    let fsync_disk = fsync_cost(&bench.data_dir)?;

    let mut out = String::new();
    out.push_str("| setting | straight to the mock p50 (ms) | p99 | through pgm-local p50 (ms) | p99 | PGM adds at p50 (ms) | at p99 |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|\n");
    out.push_str(&row_line(
        &format!(
            "embedded store as shipped (WAL, `synchronous=FULL`), data on disk (`{}`)",
            bench.data_dir.display()
        ),
        &disk,
    ));
    if let Some(tmpfs) = &tmpfs {
        out.push_str(&row_line(
            "same settings, data on tmpfs (`/dev/shm`: fsync returns at once; **not durable**, shown only to isolate the fsync cost)",
            tmpfs,
        ));
    }
    let added = disk.pgm_p50.as_secs_f64() - disk.direct_p50.as_secs_f64();
    out.push_str(&format!(
        "\n{} rounds of {PAIRS_PER_ROUND} sequential pairs (one request straight to the mock, \
         then one pay through pgm-local; keep-alive connections; {WARM_UP} warm-up requests \
         each), p50 and p99 per round, median over the rounds. A pay commits twice (the claim \
         of the `shopTransactionID`, then the outcome with the provider's answer), each commit \
         an fsync of the WAL; one 4 KiB append + `fdatasync` in the data directory takes \
         {} ms (median of 200) on this disk, so the durable commits cost little here; on a \
         disk whose flush takes F ms, expect PGM to add about {} ms + 2F at p50. Target < 1 ms \
         added at p50 on the embedded store: {}.\n",
        bench.runs,
        ms(fsync_disk),
        tmpfs
            .as_ref()
            .map(|t| format!(
                "{:.2}",
                (t.pgm_p50.as_secs_f64() - t.direct_p50.as_secs_f64()) * 1000.0
            ))
            .unwrap_or_else(|| "?".into()),
        if added < 0.001 {
            "met".to_owned()
        } else {
            format!(
                "**missed by {:.2} ms** as shipped (durable commits){}",
                added * 1000.0 - 1.0,
                tmpfs
                    .as_ref()
                    .map(|t| format!(
                        "; without the fsync wait PGM adds {:.2} ms",
                        (t.pgm_p50.as_secs_f64() - t.direct_p50.as_secs_f64()) * 1000.0
                    ))
                    .unwrap_or_default()
            )
        }
    ));
    let target = format!(
        "| PGM adds < 1 ms at p50 on the embedded store (pay through pgm-local vs straight to a loopback mock) | {:+.2} ms at p50, {:+.2} ms at p99 | {} |",
        added * 1000.0,
        (disk.pgm_p99.as_secs_f64() - disk.direct_p99.as_secs_f64()) * 1000.0,
        super::verdict(added < 0.001)
    );
    Ok(super::Report {
        text: out,
        targets: vec![target],
    })
}

/// Sends `request` and times it up to its whole JSON answer, which must be a 200 that `ok`
/// accepts.
async fn timed(
    request: reqwest::RequestBuilder,
    what: &str,
    ok: impl Fn(&serde_json::Value) -> bool,
) -> Result<Duration, String> {
    let sent = Instant::now();
    let answer = request.send().await.map_err(|e| e.to_string())?;
    let status = answer.status();
    let body: serde_json::Value = answer.json().await.map_err(|e| e.to_string())?;
    let took = sent.elapsed();
    if status != 200 || !ok(&body) {
        return Err(format!("{what}: {status} {body}"));
    }
    Ok(took)
}
