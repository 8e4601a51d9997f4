//! Counts the DynamoDB requests a client sends, by operation: how the tests prove what a
//! payment costs (requests are what on-demand capacity bills).

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// An SDK interceptor: add it with `aws_sdk_dynamodb::config::Builder::interceptor`. Clones
/// share one count. Every attempt that goes on the wire counts, retries included.
#[derive(Debug, Clone, Default)]
pub struct RequestCounter(Arc<Mutex<BTreeMap<String, u64>>>);

/// Operations that only read (everything else writes or manages the table).
const READS: &[&str] = &[
    "GetItem",
    "BatchGetItem",
    "Query",
    "Scan",
    "TransactGetItems",
];

impl RequestCounter {
    pub fn new() -> RequestCounter {
        RequestCounter::default()
    }

    /// Requests sent so far, by operation name (`PutItem`, `TransactWriteItems`, …).
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Returns the counts so far and starts again from zero.
    pub fn take(&self) -> BTreeMap<String, u64> {
        self.0
            .lock()
            .map(|mut m| std::mem::take(&mut *m))
            .unwrap_or_default()
    }

    pub fn reads(counts: &BTreeMap<String, u64>) -> u64 {
        counts
            .iter()
            .filter(|(op, _)| READS.contains(&op.as_str()))
            .map(|(_, n)| n)
            .sum()
    }

    pub fn writes(counts: &BTreeMap<String, u64>) -> u64 {
        counts
            .iter()
            .filter(|(op, _)| !READS.contains(&op.as_str()))
            .map(|(_, n)| n)
            .sum()
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "pgm-request-counter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        // DynamoDB's JSON protocol names the operation in `X-Amz-Target: DynamoDB_20120810.<Op>`:
        // what we count is what the wire carries.
        let operation = context
            .request()
            .headers()
            .get("x-amz-target")
            .and_then(|target| target.rsplit('.').next())
            .unwrap_or("unknown")
            .to_owned();
        if let Ok(mut counts) = self.0.lock() {
            *counts.entry(operation).or_default() += 1;
        }
        Ok(())
    }
}
