//! 1. Lambda init: from starting the process to its first invocation served, for each
//! function and for a hello-world lambda_http function, measured the same way.

use crate::deployment::Deployment;
use crate::events;
use crate::stats::{median, ms};
use crate::{Bench, Trigger, FUNCTIONS, HELLO};
use serde_json::{json, Value};
use std::time::Duration;

/// The first event: one the function answers without a store or provider call, so that what
/// is measured is the start of the process and the runtime, not moto.
fn first_event(trigger: Trigger) -> Value {
    match trigger {
        Trigger::Http => events::unrouted(),
        Trigger::Sqs => events::sqs_batch(&[], "arn:aws:sqs:us-east-1:123456789012:none"),
        Trigger::Schedule => events::scheduled(),
    }
}

/// What a correct first answer looks like.
fn check_answer(binary: &str, trigger: Trigger, answer: &Value) -> Result<(), String> {
    let fine = match trigger {
        Trigger::Http if binary == HELLO => answer["statusCode"] == 200,
        Trigger::Http => {
            let answer = events::HttpAnswer::read(answer);
            answer.status == 404 && answer.body["code"] == "ROUTE_NOT_FOUND"
        }
        Trigger::Sqs => answer == &json!({"batchItemFailures": []}),
        Trigger::Schedule => answer.is_object(),
    };
    if fine {
        Ok(())
    } else {
        Err(format!("{binary}: unexpected first answer {answer}"))
    }
}

struct Sample {
    init: Duration,
    first: Duration,
}

async fn start_once(
    deployment: &Deployment,
    binary: &str,
    trigger: Trigger,
) -> Result<(Sample, u64), String> {
    let deployed = deployment.deploy(binary).await?;
    let (answer, answered_at) = deployed.function.invoke_at(&first_event(trigger)).await?;
    check_answer(binary, trigger, &answer)?;
    let spawned = deployed.function.spawned_at;
    let init = deployed
        .function
        .first_next()
        .ok_or("no /next before the answer")?
        - spawned;
    let aws_requests = deployed.aws.take().values().sum::<u64>()
        + deployed.aws.take_provider().values().sum::<u64>();
    Ok((
        Sample {
            init,
            first: answered_at - spawned,
        },
        aws_requests,
    ))
}

/// AWS requests a function makes before it asks for its first event (none expected: the
/// clients are built, nothing is called).
async fn aws_requests_during_init(deployment: &Deployment, binary: &str) -> Result<u64, String> {
    let deployed = deployment.deploy(binary).await?;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while deployed.function.first_next().is_none() {
        if std::time::Instant::now() > deadline {
            return Err(format!("{binary}: no /next within 30 s"));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(deployed.aws.take().values().sum::<u64>()
        + deployed.aws.take_provider().values().sum::<u64>())
}

pub async fn run(bench: &Bench) -> Result<String, String> {
    let moto = bench.moto().await;
    let deployment = Deployment::new(
        &moto,
        &bench.bin_dir,
        "init",
        "http://127.0.0.1:9/callback-url",
        "http://127.0.0.1:9/receiver",
    );
    deployment.create_resources().await?;

    let mut binaries: Vec<(&str, Trigger)> = vec![(HELLO, Trigger::Http)];
    binaries.extend(FUNCTIONS.iter().copied());
    let mut samples: Vec<Vec<Sample>> = binaries.iter().map(|_| Vec::new()).collect();
    let mut first_answer_requests = vec![0u64; binaries.len()];
    // Round-robin, so that a noisy moment spreads over every binary; run 0 warms the page
    // cache (a real cold start also fetches the code, which no local run can show).
    for run in 0..=bench.runs {
        for (i, (binary, trigger)) in binaries.iter().enumerate() {
            let (sample, requests) = start_once(&deployment, binary, *trigger).await?;
            if run > 0 {
                samples[i].push(sample);
                first_answer_requests[i] = requests;
            }
        }
        eprintln!("init: run {run}/{} done", bench.runs);
    }

    let median_of = |i: usize, pick: fn(&Sample) -> Duration| {
        median(&samples[i].iter().map(pick).collect::<Vec<_>>())
    };
    let hello_first = median_of(0, |s| s.first);
    let mut out = String::new();
    out.push_str("| binary | init: start → first `/next` (ms) | start → first invocation served (ms) | ratio to hello world | AWS requests before `/next` |\n");
    out.push_str("|---|---:|---:|---:|---:|\n");
    for (i, (binary, _)) in binaries.iter().enumerate() {
        let first = median_of(i, |s| s.first);
        let init_requests = if *binary == HELLO {
            "—".to_owned()
        } else {
            aws_requests_during_init(&deployment, binary)
                .await?
                .to_string()
        };
        out.push_str(&format!(
            "| {binary} | {} | {} | {:.2}x | {init_requests} |\n",
            ms(median_of(i, |s| s.init)),
            ms(first),
            first.as_secs_f64() / hello_first.as_secs_f64(),
        ));
    }
    let worst = (1..binaries.len())
        .map(|i| median_of(i, |s| s.first).as_secs_f64() / hello_first.as_secs_f64())
        .fold(0.0, f64::max);
    out.push_str(&format!(
        "\nMedian of {} starts each (after one warm-up start), round-robin over the binaries. \
         First event: an HTTP request for a path no function serves (answered 200 by hello \
         world, 404 `ROUTE_NOT_FOUND` by the PGM functions: router and problem+json, no store \
         call), an empty SQS batch for the notifier, a scheduled event for the reconciler \
         (whose first answer includes a reconciliation pass: {} DynamoDB requests to moto). \
         Target ≤ 1.5x hello world: worst function {worst:.2}x, {}.\n",
        bench.runs,
        first_answer_requests.last().copied().unwrap_or(0),
        if worst <= 1.5 { "met" } else { "**missed**" }
    ));
    Ok(out)
}
