//! A closed-loop load generator: a fixed number of workers, each sending its next request as
//! soon as the previous answer is read in full, for a fixed time. Every answer is checked, so a run that
//! produced errors is reported as such instead of as fast.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Makes request number `i`.
pub type MakeRequest = Arc<dyn Fn(&reqwest::Client, u64) -> reqwest::RequestBuilder + Send + Sync>;
/// Checks an answer (status, body); `Err` counts it as an error.
pub type CheckAnswer = Arc<dyn Fn(u16, &[u8]) -> Result<(), String> + Send + Sync>;

pub struct Run {
    pub latencies: Vec<Duration>,
    pub elapsed: Duration,
    pub errors: u64,
    pub first_error: Option<String>,
}

impl Run {
    pub fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// Fails the run when anything went wrong: figures of failed requests mean nothing.
    pub fn ok(self, what: &str) -> Result<Run, String> {
        match &self.first_error {
            Some(e) => Err(format!("{what}: {} errors, first: {e}", self.errors)),
            None => Ok(self),
        }
    }
}

/// Answers 2xx whose JSON has `field` = `value`.
pub fn json_field(field: &'static str, value: &'static str) -> CheckAnswer {
    Arc::new(move |status, body| {
        let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        if (200..300).contains(&status) && json[field] == value {
            Ok(())
        } else {
            Err(format!("{status} {}", String::from_utf8_lossy(body)))
        }
    })
}

pub async fn run(
    client: &reqwest::Client,
    concurrency: usize,
    duration: Duration,
    make: MakeRequest,
    check: CheckAnswer,
) -> Run {
    let next = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(Mutex::new(None::<String>));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (client, next, errors, first_error) = (
            client.clone(),
            next.clone(),
            errors.clone(),
            first_error.clone(),
        );
        let (make, check) = (make.clone(), check.clone());
        workers.spawn(async move {
            let mut latencies = Vec::new();
            loop {
                if started.elapsed() >= duration {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let sent = Instant::now();
                let outcome = match make(&client, i).send().await {
                    Ok(answer) => {
                        let status = answer.status().as_u16();
                        match answer.bytes().await {
                            Ok(body) => check(status, &body),
                            Err(e) => Err(e.to_string()),
                        }
                    }
                    Err(e) => Err(e.to_string()),
                };
                let took = sent.elapsed();
                match outcome {
                    Ok(()) => latencies.push(took),
                    Err(e) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        if let Ok(mut first) = first_error.lock() {
                            first.get_or_insert(e);
                        }
                    }
                }
            }
            latencies
        });
    }
    let mut latencies = Vec::new();
    while let Some(done) = workers.join_next().await {
        latencies.extend(done.unwrap_or_default());
    }
    let elapsed = started.elapsed();
    let first_error = first_error.lock().ok().and_then(|mut e| e.take());
    Run {
        latencies,
        elapsed,
        errors: errors.load(Ordering::Relaxed),
        first_error,
    }
}
