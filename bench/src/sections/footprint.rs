//! Figure 5, size and memory: each function's zip (arm64, as deployed) and its peak RSS serving
//! `requests` invocations through the Runtime API, against moto; pgm-local's peak RSS serving
//! the same number of HTTP requests.

use crate::deployment::{Deployed, Deployment, Stage};
use crate::events::{self, HttpAnswer, HttpRequest};
use crate::local::LocalPgm;
use crate::sqs_poller;
use crate::stats::mib;
use crate::{Bench, FUNCTIONS, HELLO};
use serde_json::{json, Value};
use std::collections::BTreeMap;

struct Measured {
    served: String,
    peak_kib: u64,
}

/// Payments per moto table. moto copies a whole table for every item of a
/// `TransactWriteItems` (its rollback backup), so one table of thousands of payments would make
/// each transaction take seconds; the proxies send each group of payments to its own table
/// instead (the functions see one table).
const PER_TABLE: u64 = 10;

/// The groups of payments that share a table: 3-D Secure payments (pay, callback, status,
/// check, refund), authorised ones (pay, confirm), sessions.
const LANES: [&str; 3] = ["3ds", "manual", "session"];

fn shard(lane: &str, i: u64) -> String {
    format!("{lane}{}", i / PER_TABLE)
}

/// The notifier, fed as Lambda's poller feeds it while the other functions queue notifications:
/// one batch after every ten invocations of a producer (so that the queue stays short: moto's
/// SQS scans the whole queue on every receive). Its peak RSS is taken once it has delivered
/// `measure_at` notifications.
struct NotifierFeed {
    deployed: Deployed,
    client: reqwest::Client,
    moto: String,
    queue_url: String,
    delivered: u64,
    batches: u64,
    measure_at: u64,
    measured: Option<Measured>,
}

impl NotifierFeed {
    async fn one_batch(&mut self) -> Result<(), String> {
        let batch = sqs_poller::receive(&self.client, &self.moto, &self.queue_url).await?;
        if batch.is_empty() {
            return Ok(());
        }
        let arn = sqs_poller::queue_arn(&self.queue_url);
        let answer = self
            .deployed
            .function
            .invoke(&events::sqs_batch(&batch, &arn))
            .await?;
        if answer != json!({"batchItemFailures": []}) {
            return Err(format!("notifier: {answer}"));
        }
        self.delivered +=
            sqs_poller::finish(&self.client, &self.moto, &self.queue_url, &batch, &answer).await?
                as u64;
        self.batches += 1;
        if self.delivered >= self.measure_at && self.measured.is_none() {
            self.measured = Some(peak(
                &self.deployed,
                format!(
                    "{} notifications in {} SQS batches",
                    self.delivered, self.batches
                ),
            )?);
        }
        Ok(())
    }
}

/// Invokes `serving[0]` `n` times with `event(i)`, checking each answer; before invocation `i`,
/// every function in `serving` is routed to the table of payment `i` of `lane`.
async fn serve_each(
    deployment: &Deployment,
    serving: &[&Deployed],
    lane: &str,
    n: u64,
    event: impl Fn(u64) -> Value,
    ok: impl Fn(&HttpAnswer) -> bool,
) -> Result<Vec<HttpAnswer>, String> {
    serve_feeding(deployment, serving, lane, n, event, ok, None).await
}

/// [`serve_each`], feeding the notifier what the invocations queue.
async fn serve_feeding(
    deployment: &Deployment,
    serving: &[&Deployed],
    lane: &str,
    n: u64,
    event: impl Fn(u64) -> Value,
    ok: impl Fn(&HttpAnswer) -> bool,
    mut notifier: Option<&mut NotifierFeed>,
) -> Result<Vec<HttpAnswer>, String> {
    let mut answers = Vec::new();
    for i in 0..n {
        if i % 10 == 9 {
            if let Some(feed) = notifier.as_deref_mut() {
                feed.one_batch().await?;
            }
        }
        for deployed in serving {
            deployed.use_shard(deployment, &shard(lane, i));
        }
        let function = &serving[0].function;
        let answer = HttpAnswer::read(&function.invoke(&event(i)).await?);
        if !ok(&answer) {
            return Err(format!(
                "{}: unexpected answer {} {}",
                function.name, answer.status, answer.text
            ));
        }
        answers.push(answer);
    }
    Ok(answers)
}

fn peak(deployed: &Deployed, served: String) -> Result<Measured, String> {
    Ok(Measured {
        served,
        peak_kib: deployed
            .function
            .peak_rss_kib()
            .ok_or_else(|| format!("{}: no VmHWM", deployed.function.name))?,
    })
}

fn result_is(value: &'static str) -> impl Fn(&HttpAnswer) -> bool {
    move |a| a.status == 200 && a.body["result"] == value
}

async fn lambdas(bench: &Bench) -> Result<BTreeMap<String, Measured>, String> {
    let n = bench.requests;
    let started = std::time::Instant::now();
    let progress = |what: &str| eprintln!("footprint: {what} ({:.0?})", started.elapsed());
    let Stage {
        moto,
        // Kept alive: the notifications go to it.
        receiver: _receiver,
        mut function_url,
        deployment,
    } = Stage::start(bench, "footprint").await?;
    let shards: Vec<String> = LANES
        .iter()
        .flat_map(|lane| (0..n.div_ceil(PER_TABLE)).map(move |k| shard(lane, k * PER_TABLE)))
        .collect();
    deployment.create_shards(&shards).await?;
    progress("tables created");
    let mut measured = BTreeMap::new();

    let hello = deployment.deploy(HELLO).await?;
    serve_each(
        &deployment,
        &[&hello],
        "3ds",
        n,
        |_| events::unrouted(),
        |a| a.status == 200,
    )
    .await?;
    measured.insert(HELLO.to_owned(), peak(&hello, format!("{n} HTTP events"))?);
    drop(hello);

    let pay = deployment.deploy("pgm-pay").await?;
    let redirects = serve_each(
        &deployment,
        &[&pay],
        "3ds",
        n,
        |i| {
            events::pay(
                &json!({"amount": "10.00", "shopTransactionID": format!("fp-3ds-{i}"),
                "creditCardToken": "tok_3ds"}),
            )
        },
        result_is("REDIRECT_TO_URL"),
    )
    .await?;
    measured.insert(
        "pgm-pay".into(),
        peak(&pay, format!("{n} pays (3-D Secure)"))?,
    );
    // Not measured: the authorised payments the confirm function captures.
    serve_each(
        &deployment,
        &[&pay],
        "manual",
        n,
        |i| {
            events::pay(
                &json!({"amount": "10.00", "shopTransactionID": format!("fp-man-{i}"),
                "creditCardToken": "tok_ok", "providerData": {"captureMethod": "manual"}}),
            )
        },
        result_is("OK"),
    )
    .await?;
    drop(pay);
    progress("pay");

    // The buyer approves on the page served by one callback instance; the sandbox's signed
    // callback reaches the other through its Function URL.
    let page = deployment.deploy("pgm-callback").await?;
    let callback = deployment.deploy("pgm-callback").await?;
    let mut notifier = NotifierFeed {
        deployed: deployment.deploy("pgm-notifier").await?,
        client: reqwest::Client::new(),
        moto: moto.clone(),
        queue_url: deployment.queue_url.clone(),
        delivered: 0,
        batches: 0,
        measure_at: n,
        measured: None,
    };
    function_url.serve(callback.function.clone());
    let paths: Vec<String> = redirects
        .iter()
        .map(|r| {
            r.body["redirectToUrl"]
                .as_str()
                .and_then(|u| u.strip_prefix(&function_url.url))
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    // The buyers open their pages on a third instance (the page's token is signed with the
    // shared webhook secret, so any instance accepts it), leaving the measured two as before.
    let opener = deployment.deploy("pgm-callback").await?;
    let mut forms = Vec::with_capacity(paths.len());
    for (i, path) in paths.iter().enumerate() {
        // Payment i lives in its own table, as when it was paid.
        opener.use_shard(&deployment, &shard("3ds", i as u64));
        let event = events::function_url(&HttpRequest::get(path), function_url.host());
        let shown = HttpAnswer::read(&opener.function.invoke(&event).await?);
        forms.push(pgm_mocks::sandbox_page::decision_form(
            &shown.text,
            "approve",
        ));
    }
    drop(opener);
    serve_feeding(
        &deployment,
        &[&page, &callback],
        "3ds",
        n,
        |i| {
            events::function_url(
                &HttpRequest::post_form(&paths[i as usize], &forms[i as usize]),
                function_url.host(),
            )
        },
        |a| a.status == 200,
        Some(&mut notifier),
    )
    .await?;
    measured.insert(
        "pgm-callback (3DS page)".into(),
        peak(&page, format!("{n} Approves on the hosted 3DS page"))?,
    );
    measured.insert(
        "pgm-callback (callbacks)".into(),
        peak(&callback, format!("{n} signed sandbox callbacks"))?,
    );
    drop(page);
    progress("callback");

    let status = deployment.deploy("pgm-status").await?;
    serve_each(
        &deployment,
        &[&status],
        "3ds",
        n,
        |i| events::observe("status", &format!("fp-3ds-{i}")),
        |a| a.status == 200 && a.body["status"] == "ACCEPTED",
    )
    .await?;
    measured.insert(
        "pgm-status".into(),
        peak(&status, format!("{n} status requests"))?,
    );
    drop(status);
    progress("status");

    let check = deployment.deploy("pgm-check").await?;
    serve_each(
        &deployment,
        &[&check],
        "3ds",
        n,
        |i| events::observe("check", &format!("fp-3ds-{i}")),
        |a| a.status == 200,
    )
    .await?;
    measured.insert("pgm-check".into(), peak(&check, format!("{n} checks"))?);
    drop(check);
    progress("check");

    let refund = deployment.deploy("pgm-refund").await?;
    serve_feeding(
        &deployment,
        &[&refund],
        "3ds",
        n,
        |i| {
            events::amend(
                "refund",
                &json!({"shopTransactionID": format!("fp-3ds-{i}"), "amount": "4.00"}),
            )
        },
        result_is("OK"),
        Some(&mut notifier),
    )
    .await?;
    measured.insert(
        "pgm-refund".into(),
        peak(&refund, format!("{n} partial refunds"))?,
    );
    drop(refund);
    progress("refund");

    let confirm = deployment.deploy("pgm-confirm").await?;
    serve_feeding(
        &deployment,
        &[&confirm],
        "manual",
        n,
        |i| {
            events::amend(
                "confirm",
                &json!({"shopTransactionID": format!("fp-man-{i}")}),
            )
        },
        result_is("OK"),
        Some(&mut notifier),
    )
    .await?;
    measured.insert(
        "pgm-confirm".into(),
        peak(&confirm, format!("{n} confirms"))?,
    );
    drop(confirm);
    progress("confirm");

    let session = deployment.deploy("pgm-session").await?;
    serve_each(
        &deployment,
        &[&session],
        "session",
        n,
        |i| {
            events::session(
                "open",
                &json!({"shopTransactionID": format!("fp-ses-{i}"), "amount": "20.00"}),
            )
        },
        |a| a.status == 200,
    )
    .await?;
    measured.insert(
        "pgm-session".into(),
        peak(&session, format!("{n} session opens"))?,
    );
    drop(session);
    progress("session");

    // The rest of the queue, delivered.
    while notifier.measured.is_none() {
        let before = notifier.delivered;
        notifier.one_batch().await?;
        if notifier.delivered == before {
            return Err(format!(
                "notifier: the queue ran dry after {before} notifications"
            ));
        }
    }
    measured.insert(
        "pgm-notifier".into(),
        notifier.measured.take().ok_or("notifier: not measured")?,
    );
    drop(notifier);
    progress("notifier");

    let reconciler = deployment.deploy("pgm-reconciler").await?;
    for i in 0..n {
        reconciler.use_shard(&deployment, &shard("3ds", (i * PER_TABLE) % n));
        reconciler.function.invoke(&events::scheduled()).await?;
    }
    measured.insert(
        "pgm-reconciler".into(),
        peak(&reconciler, format!("{n} passes"))?,
    );
    progress("reconciler");
    Ok(measured)
}

async fn local(bench: &Bench) -> Result<Measured, String> {
    let n = bench.requests;
    let pgm = LocalPgm::start(
        &bench.bin_dir.join("pgm-local"),
        &bench.data_dir,
        &[("ENABLED_PROVIDERS", "sandbox")],
    )
    .await?;
    let http = reqwest::Client::new();
    for i in 0..n {
        let id = format!("fp-local-{}", i / 2);
        let answer = if i % 2 == 0 {
            http.post(format!("{}/sandbox/credit-cards/pay", pgm.url))
                .json(&json!({"amount": "10.00", "shopTransactionID": id, "creditCardToken": "tok_ok"}))
                .send()
                .await
        } else {
            http.get(format!("{}/sandbox/status?shopTransactionId={id}", pgm.url))
                .send()
                .await
        }
        .map_err(|e| e.to_string())?;
        if !answer.status().is_success() {
            return Err(format!("pgm-local: {}", answer.status()));
        }
    }
    Ok(Measured {
        served: format!(
            "{} pays + {} status requests, one at a time",
            n / 2,
            n - n / 2
        ),
        peak_kib: pgm.peak_rss_kib().ok_or("pgm-local: no VmHWM")?,
    })
}

fn file_size(path: &std::path::Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.len())
}

pub async fn run(bench: &Bench) -> Result<super::Report, String> {
    let mut measured = lambdas(bench).await?;
    measured.insert("pgm-local".into(), local(bench).await?);

    let mut out = String::new();
    out.push_str(
        "| binary | zip, arm64 (MiB) | x86_64 release binary (MiB) | peak RSS (MiB) | served |\n",
    );
    out.push_str("|---|---:|---:|---:|---|\n");
    let mut names: Vec<String> = vec![HELLO.to_owned()];
    names.extend(FUNCTIONS.iter().map(|(b, _)| b.to_string()));
    names.push("pgm-local".into());
    for name in names {
        let zip = bench
            .lambda_dir
            .as_ref()
            .and_then(|dir| file_size(&dir.join(&name).join("bootstrap.zip")))
            .map(|b| format!("{:.2}", b as f64 / 1048576.0))
            .unwrap_or_else(|| "—".into());
        let binary = file_size(&bench.bin_dir.join(&name))
            .map(|b| format!("{:.1}", b as f64 / 1048576.0))
            .unwrap_or_else(|| "—".into());
        let instances: Vec<(&String, &Measured)> = measured
            .iter()
            .filter(|(k, _)| *k == &name || k.starts_with(&format!("{name} (")))
            .collect();
        for (label, m) in instances {
            out.push_str(&format!(
                "| {label} | {zip} | {binary} | {} | {} |\n",
                mib(m.peak_kib),
                m.served
            ));
        }
    }
    out.push_str(&format!(
        "\nPeak RSS is the process's `VmHWM` after serving, one invocation at a time, through \
         the bench's Runtime API (Lambda functions) or over HTTP (pgm-local, embedded store), \
         x86_64 release builds; the functions talk to moto through the counting proxy. The \
         zips are the arm64 `bootstrap.zip` files of `scripts/build-lambdas` (cargo lambda, \
         release profile{}).\n",
        if bench.lambda_dir.is_none() {
            "; not built for this run"
        } else {
            ""
        }
    ));
    Ok(out.into())
}
