//! Figure 1, Lambda init: from starting the process to its first invocation served, for each
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

/// The CA bundle of Debian-like systems: with `SSL_CERT_FILE` set to it, rustls-native-certs
/// reads that one file instead of the bundle and every file of the certificate directory.
const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

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

    let mut binaries: Vec<(&str, Trigger)> = vec![(HELLO, Trigger::Http)];
    binaries.extend(FUNCTIONS.iter().copied());
    let (medians, reconciler_requests) = measure(bench, &deployment, &binaries, &[]).await?;
    eprintln!("init: measured");
    let hello_first = medians[0].1;

    // The reconciler's first answer includes a reconciliation pass (moto's time): its init is
    // compared up to its first `/next` instead.
    let ratios: Vec<(&str, f64)> = binaries
        .iter()
        .zip(&medians)
        .filter(|((b, _), _)| *b != HELLO)
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
    let target = format!(
        "| Lambda init ≤ 1.5x a hello-world lambda_http function | {best:.1}x–{worst:.1}x (worst {worst_binary}); hello world {} ms to its first answer | {} |",
        ms(hello_first),
        super::verdict(worst <= 1.5)
    );
    let mut out = String::new();
    out.push_str("| binary | init: start → first `/next` (ms) | start → first invocation served (ms) | ratio to hello world | AWS requests before `/next` |\n");
    out.push_str("|---|---:|---:|---:|---:|\n");
    for ((binary, trigger), (init, first)) in binaries.iter().zip(&medians) {
        let init_requests = if *binary == HELLO {
            "—".to_owned()
        } else {
            aws_requests_during_init(&deployment, binary)
                .await?
                .to_string()
        };
        let compared = match trigger {
            Trigger::Schedule => format!("{:.2}x (to `/next`)", ratio(*init, medians[0].0)),
            _ => format!("{:.2}x", ratio(*first, hello_first)),
        };
        out.push_str(&format!(
            "| {binary} | {} | {} | {compared} | {init_requests} |\n",
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
         hello world's). Target ≤ 1.5x hello world: worst function {worst:.2}x \
         ({worst_binary}), {}.\n",
        bench.runs,
        super::verdict(worst <= 1.5)
    ));

    // Where the difference goes: both TLS stacks of a function (the AWS SDK's HTTPS client and
    // reqwest's, for the providers and notifications) load the system's root certificates at
    // init. The same starts with a smaller root store show that share.
    if std::path::Path::new(CA_BUNDLE).is_file() {
        out.push_str(&root_store_diagnostic(bench, &deployment, &binaries, &medians).await?);
    }
    Ok(super::Report {
        text: out,
        targets: vec![target],
    })
}

/// The first certificate of the CA bundle, alone in a file.
fn one_certificate(bench: &Bench) -> Result<std::path::PathBuf, String> {
    let bundle = std::fs::read_to_string(CA_BUNDLE).map_err(|e| e.to_string())?;
    let end = "-----END CERTIFICATE-----";
    let first = bundle
        .find(end)
        .map(|at| &bundle[..at + end.len()])
        .ok_or("no certificate in the bundle")?;
    let path = bench.data_dir.join("one-certificate.pem");
    std::fs::write(&path, format!("{first}\n")).map_err(|e| e.to_string())?;
    Ok(path)
}

/// The same starts with `SSL_CERT_FILE` set (rustls-native-certs then reads only that file):
/// to the CA bundle, then to a single certificate.
async fn root_store_diagnostic(
    bench: &Bench,
    deployment: &Deployment,
    binaries: &[(&str, Trigger)],
    medians: &[(Duration, Duration)],
) -> Result<String, String> {
    let picked = [HELLO, "pgm-status", "pgm-notifier"];
    let subset: Vec<(&str, Trigger)> = binaries
        .iter()
        .copied()
        .filter(|(b, _)| picked.contains(b))
        .collect();
    let as_measured: Vec<Duration> = binaries
        .iter()
        .zip(medians)
        .filter(|((b, _), _)| picked.contains(b))
        .map(|(_, (_, first))| *first)
        .collect();
    let (bundle, _) = measure(bench, deployment, &subset, &[("SSL_CERT_FILE", CA_BUNDLE)]).await?;
    let single = one_certificate(bench)?;
    let single = single.to_string_lossy().into_owned();
    let (one, _) = measure(bench, deployment, &subset, &[("SSL_CERT_FILE", &single)]).await?;
    let certificate_files = std::fs::read_dir("/etc/ssl/certs")
        .map(|d| d.count())
        .unwrap_or(0);
    let bundle_certificates = std::fs::read_to_string(CA_BUNDLE)
        .map(|b| b.matches("BEGIN CERTIFICATE").count())
        .unwrap_or(0);
    let mut out = format!(
        "\nWhere the time goes (diagnostic, same run). Each PGM function builds two TLS clients \
         at init, the AWS SDK's and reqwest's (providers, notifications), and each loads the \
         system's root certificates with rustls-native-certs: here the bundle \
         (`{CA_BUNDLE}`, {bundle_certificates} certificates) plus every one of the \
         {certificate_files} files of `/etc/ssl/certs`. With `SSL_CERT_FILE` set, only that \
         file is read:\n\n"
    );
    out.push_str("| binary | as above (ms) | `SSL_CERT_FILE` = the bundle (ms) | `SSL_CERT_FILE` = one certificate (ms) |\n");
    out.push_str("|---|---:|---:|---:|\n");
    for (i, (binary, _)) in subset.iter().enumerate() {
        let cell =
            |d: &[(Duration, Duration)]| format!("{} ({:.2}x)", ms(d[i].1), ratio(d[i].1, d[0].1));
        out.push_str(&format!(
            "| {binary} | {} ({:.2}x) | {} | {} |\n",
            ms(as_measured[i]),
            ratio(as_measured[i], as_measured[0]),
            cell(&bundle),
            cell(&one)
        ));
    }
    out.push_str(
        "\nStart → first invocation served, median; in parentheses the ratio to hello world \
         under the same setting.\n",
    );
    Ok(out)
}
