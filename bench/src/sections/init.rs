//! Figure 1, Lambda init: from starting the process to its first invocation served, for each
//! function and for a hello-world lambda_http function, measured the same way.

use crate::deployment::Deployment;
use crate::events;
use crate::stats::{median, ms};
use crate::{Bench, Trigger, FUNCTIONS, HELLO, HELLO_CURRENT_THREAD};
use serde_json::{json, Value};
use std::time::Duration;

/// The init target: a function with every provider compiled in starts in at most this many
/// times what a hello-world lambda_http function takes (issue 12; it was 1.5x before).
const TARGET_RATIO: f64 = 1.3;

/// The first event: one the function answers without a store or provider call, so that what
/// is measured is the start of the process and the runtime, not moto.
fn first_event(trigger: Trigger) -> Value {
    match trigger {
        Trigger::Http => events::unrouted(),
        Trigger::Sqs => events::sqs_batch(&[], "arn:aws:sqs:us-east-1:123456789012:none"),
        Trigger::Schedule => events::scheduled(),
    }
}

fn is_hello(binary: &str) -> bool {
    binary == HELLO || binary == HELLO_CURRENT_THREAD
}

/// What a correct first answer looks like.
fn check_answer(binary: &str, trigger: Trigger, answer: &Value) -> Result<(), String> {
    let fine = match trigger {
        Trigger::Http if is_hello(binary) => answer["statusCode"] == 200,
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
    extra_env: &[(&str, &str)],
) -> Result<(Sample, u64), String> {
    let deployed = deployment.deploy_with(binary, extra_env).await?;
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

/// Medians of `runs` starts of each binary (after one warm-up start each), round-robin so that
/// a noisy moment spreads over every binary. Also returns the reconciler's request count.
async fn measure(
    bench: &Bench,
    deployment: &Deployment,
    binaries: &[(&str, Trigger)],
    extra_env: &[(&str, &str)],
) -> Result<(Vec<(Duration, Duration)>, u64), String> {
    let mut samples: Vec<Vec<Sample>> = binaries.iter().map(|_| Vec::new()).collect();
    let mut last_requests = 0;
    for run in 0..=bench.runs {
        for (i, (binary, trigger)) in binaries.iter().enumerate() {
            let (sample, requests) = start_once(deployment, binary, *trigger, extra_env).await?;
            if run > 0 {
                samples[i].push(sample);
                last_requests = requests;
            }
        }
    }
    let medians = samples
        .iter()
        .map(|s| {
            (
                median(&s.iter().map(|s| s.init).collect::<Vec<_>>()),
                median(&s.iter().map(|s| s.first).collect::<Vec<_>>()),
            )
        })
        .collect();
    Ok((medians, last_requests))
}

fn ratio(first: Duration, hello: Duration) -> f64 {
    first.as_secs_f64() / hello.as_secs_f64()
}

pub async fn run(bench: &Bench) -> Result<super::Report, String> {
    let moto = bench.moto().await;
    let deployment = Deployment::new(
        &moto,
        &bench.bin_dir,
        "init",
        "http://127.0.0.1:9/callback-url",
        "http://127.0.0.1:9/receiver",
    );
    deployment.create_resources().await?;

    let mut binaries: Vec<(&str, Trigger)> = vec![
        (HELLO, Trigger::Http),
        (HELLO_CURRENT_THREAD, Trigger::Http),
    ];
    binaries.extend(FUNCTIONS.iter().copied());
    let (medians, reconciler_requests) = measure(bench, &deployment, &binaries, &[]).await?;
    eprintln!("init: measured");
    let hello_first = medians[0].1;
    let (one_thread_init, one_thread_first) = medians[1];

    // The reconciler's first answer includes a reconciliation pass (moto's time): its init is
    // compared up to its first `/next` instead.
    let ratios: Vec<(&str, f64)> = binaries
        .iter()
        .zip(&medians)
        .filter(|((b, _), _)| !is_hello(b))
        .map(|((binary, trigger), (init, first))| match trigger {
            Trigger::Schedule => (*binary, ratio(*init, medians[0].0)),
            _ => (*binary, ratio(*first, hello_first)),
        })
        .collect();
    let (worst_binary, worst) =
        ratios
            .iter()
            .copied()
            .fold(("", 0.0), |a, b| if b.1 > a.1 { b } else { a });
    let best = ratios.iter().map(|r| r.1).fold(f64::MAX, f64::min);

    let mut out = String::new();
    out.push_str("| binary | init: start → first `/next` (ms) | start → first invocation served (ms) | ratio to hello world | ratio to the one-thread hello world | AWS requests before `/next` |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|\n");
    for ((binary, trigger), (init, first)) in binaries.iter().zip(&medians) {
        let init_requests = if is_hello(binary) {
            "—".to_owned()
        } else {
            aws_requests_during_init(&deployment, binary)
                .await?
                .to_string()
        };
        let (compared, one_thread) = match trigger {
            Trigger::Schedule => (
                format!("{:.2}x (to `/next`)", ratio(*init, medians[0].0)),
                format!("{:.2}x (to `/next`)", ratio(*init, one_thread_init)),
            ),
            _ => (
                format!("{:.2}x", ratio(*first, hello_first)),
                format!("{:.2}x", ratio(*first, one_thread_first)),
            ),
        };
        out.push_str(&format!(
            "| {binary} | {} | {} | {compared} | {one_thread} | {init_requests} |\n",
            ms(*init),
            ms(*first),
        ));
    }
    out.push_str(&format!(
        "\nMedian of {} starts each (after one warm-up start), round-robin over the binaries. \
         First event: an HTTP request for a path no function serves (answered 200 by hello \
         world, 404 `ROUTE_NOT_FOUND` by the PGM functions: router and problem+json, no store \
         call), an empty SQS batch for the notifier, a scheduled event for the reconciler \
         (whose first answer includes a reconciliation pass: {reconciler_requests} DynamoDB \
         requests to moto, so its ratio is taken on the time to its first `/next`, against \
         hello world's). Target ≤ {TARGET_RATIO}x hello world: worst function {worst:.2}x \
         ({worst_binary}), {}.\n",
        bench.runs,
        super::verdict(worst <= TARGET_RATIO)
    ));

    let worst_one_thread = binaries
        .iter()
        .zip(&medians)
        .filter(|((b, _), _)| !is_hello(b))
        .map(|((_, trigger), (init, first))| match trigger {
            Trigger::Schedule => ratio(*init, one_thread_init),
            _ => ratio(*first, one_thread_first),
        })
        .fold(0.0, f64::max);
    let target = format!(
        "| Lambda init ≤ {TARGET_RATIO}x a hello-world lambda_http function, all eleven providers compiled in | {best:.2}x–{worst:.2}x (worst {worst_binary}); hello world {} ms to its first answer; against the same hello world on a one-thread runtime, as the functions run: worst {worst_one_thread:.2}x | {} |",
        ms(hello_first),
        super::verdict(worst <= TARGET_RATIO)
    );
    out.push_str(&format!(
        "\nThe baseline: `{HELLO}` is `#[tokio::main]` (tokio's multi-thread runtime, as in \
         lambda_http's examples); the PGM functions run a one-thread runtime (a Lambda instance \
         gets one event at a time), so `{HELLO_CURRENT_THREAD}`, the same hello world on a \
         one-thread runtime, is measured too: against it the worst function is \
         {worst_one_thread:.2}x. All of them are linked alike, as position-dependent \
         executables (`functions/lambda_link.rs`).\n\n\
         What a function does before its first `/next`: reads its configuration, builds the \
         outbound TLS configuration from Mozilla's roots compiled into the binary (no \
         certificate file is read), the AWS SDK configuration and its DynamoDB and SQS clients \
         (the notifier: SQS only; check, status and session make their SQS client on their \
         first publish instead, as only some of their requests publish), the providers and the \
         router; it sends no request (last column).\n"
    ));
    Ok(super::Report {
        text: out,
        targets: vec![target],
    })
}
