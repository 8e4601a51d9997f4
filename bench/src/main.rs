//! `pgm-bench`: the performance figures of BENCHMARKS.md, measured side by side in one run
//! and printed as Markdown. `bench/run` builds what it needs and runs it; see BENCHMARKS.md
//! for what each section measures. Progress goes to stderr.
//!
//! ```text
//! pgm-bench --bin-dir <release dir> [--lambda-dir <target/lambda>] [--data-dir <dir>]
//!           [--runs N] [--requests N] [--only init,overhead,throughput,requests,footprint]
//! ```

mod aws_proxy;
mod deployment;
mod events;
mod http_fronts;
mod lambda;
mod load;
mod local;
mod sections;
mod sqs_poller;
mod stats;

use std::path::PathBuf;
use tokio::sync::OnceCell;

/// The hello-world lambda_http function the init times are compared with.
pub const HELLO: &str = "pgm-bench-hello";
/// The same hello world on a one-thread runtime, like the functions.
pub const HELLO_CURRENT_THREAD: &str = "pgm-bench-hello-current-thread";

/// What invokes a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Http,
    Sqs,
    Schedule,
}

/// The Lambda functions of infra/template.yaml.
pub const FUNCTIONS: [(&str, Trigger); 9] = [
    ("pgm-pay", Trigger::Http),
    ("pgm-confirm", Trigger::Http),
    ("pgm-refund", Trigger::Http),
    ("pgm-callback", Trigger::Http),
    ("pgm-check", Trigger::Http),
    ("pgm-status", Trigger::Http),
    ("pgm-session", Trigger::Http),
    ("pgm-notifier", Trigger::Sqs),
    ("pgm-reconciler", Trigger::Schedule),
];

const SECTIONS: [&str; 5] = ["init", "overhead", "throughput", "requests", "footprint"];

pub struct Bench {
    /// Where the release binaries are.
    pub bin_dir: PathBuf,
    /// `target/lambda` of `scripts/build-lambdas` (zips), when built.
    pub lambda_dir: Option<PathBuf>,
    /// Where pgm-local keeps its embedded store (a directory on the disk under test).
    pub data_dir: PathBuf,
    /// Repetitions whose median is reported.
    pub runs: usize,
    /// Invocations per function for the memory figures.
    pub requests: u64,
    moto: OnceCell<String>,
}

impl Bench {
    /// moto's URL (`PGM_MOTO_URL`, or one started with `$PGM_PYTHON`), started on first use.
    pub async fn moto(&self) -> String {
        self.moto
            .get_or_init(pgm_mocks::moto::endpoint)
            .await
            .clone()
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: pgm-bench --bin-dir <dir> [--lambda-dir <dir>] [--data-dir <dir>] [--runs N] \
         [--requests N] [--only {}]",
        SECTIONS.join(",")
    );
    std::process::exit(2);
}

fn parse_args() -> (Bench, Vec<String>) {
    let mut args = std::env::args().skip(1);
    let mut bin_dir = None;
    let mut lambda_dir = None;
    let mut data_dir = std::env::temp_dir();
    let mut runs = 7;
    let mut requests = 1000;
    let mut only: Vec<String> = SECTIONS.iter().map(|s| s.to_string()).collect();
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--bin-dir" => bin_dir = Some(PathBuf::from(value())),
            "--lambda-dir" => lambda_dir = Some(PathBuf::from(value())),
            "--data-dir" => data_dir = PathBuf::from(value()),
            "--runs" => runs = value().parse().unwrap_or_else(|_| usage()),
            "--requests" => requests = value().parse().unwrap_or_else(|_| usage()),
            "--only" => {
                only = value().split(',').map(|s| s.trim().to_owned()).collect();
                if only.iter().any(|s| !SECTIONS.contains(&s.as_str())) {
                    usage();
                }
            }
            _ => usage(),
        }
    }
    let Some(bin_dir) = bin_dir else { usage() };
    if runs == 0 || requests == 0 {
        usage();
    }
    let bench = Bench {
        bin_dir,
        lambda_dir,
        data_dir,
        runs,
        requests,
        moto: OnceCell::new(),
    };
    (bench, only)
}

/// A function binary built together with pgm-local has SQLite in it (cargo unifies the features
/// of the packages it builds at once): it is not what is deployed, so it must not be measured.
fn check_binaries(bench: &Bench) -> Result<(), String> {
    for (binary, _) in FUNCTIONS {
        let path = bench.bin_dir.join(binary);
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if bytes.windows(16).any(|w| w == b"SQLite format 3\0") {
            return Err(format!(
                "{} links SQLite: build the functions alone (`cargo build --release -p pgm-pay …`), \
                 not together with pgm-local",
                path.display()
            ));
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    let (bench, only) = parse_args();
    if let Err(e) = check_binaries(&bench) {
        eprintln!("pgm-bench: {e}");
        std::process::exit(2);
    }
    let mut failed = false;
    let mut reports = Vec::new();
    for section in SECTIONS.iter().filter(|s| only.iter().any(|o| o == *s)) {
        let (title, result) = match *section {
            "init" => (
                "1. Lambda init: process start to first invocation served",
                sections::init::run(&bench).await,
            ),
            "overhead" => (
                "2. Gateway overhead: pay through pgm-local vs straight to the provider mock",
                sections::overhead::run(&bench).await,
            ),
            "throughput" => (
                "3. Throughput of pgm-local (embedded store, sandbox provider)",
                sections::throughput::run(&bench).await,
            ),
            "requests" => (
                "4. DynamoDB and SQS requests per operation (happy path)",
                sections::aws_requests::run(&bench).await,
            ),
            _ => ("5. Size and memory", sections::footprint::run(&bench).await),
        };
        if let Err(e) = &result {
            failed = true;
            eprintln!("pgm-bench: {section}: {e}");
        }
        reports.push((title, result));
    }

    let targets: Vec<&String> = reports
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .flat_map(|r| &r.targets)
        .collect();
    if !targets.is_empty() {
        println!("## Targets\n");
        println!("| target | measured | verdict |\n|---|---|---|");
        for target in targets {
            println!("{target}");
        }
        println!();
    }
    for (title, result) in reports {
        println!("## {title}\n");
        match result {
            Ok(report) => println!("{}", report.text),
            Err(e) => println!("**Not measured: {e}**\n"),
        }
    }
    if failed {
        std::process::exit(1);
    }
}
