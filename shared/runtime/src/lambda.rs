//! The handlers of the Lambda functions that are not HTTP: what `lambda_runtime` calls with
//! each invocation's event. (The HTTP functions hand [`crate::Pgm::function_router`] to
//! `lambda_http::run`.)

use crate::{Notifier, PassReport, Reconciler};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use serde::Deserialize;

/// The notifier: an SQS batch in, the messages to retry out (`ReportBatchItemFailures`).
/// Never an error: a failed delivery is a batch item failure, retried by SQS.
pub async fn notify(
    notifier: &Notifier,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    Ok(notifier.handle(event.payload).await)
}

/// What the reconciler reads of its EventBridge event (`Scheduled Event`): only for the log.
/// Any JSON object starts a pass, so an operator can also invoke it by hand with `{}`.
#[derive(Debug, Default, Deserialize)]
pub struct ScheduledEvent {
    #[serde(rename = "detail-type", default)]
    pub detail_type: Option<String>,
    #[serde(default)]
    pub time: Option<String>,
    #[serde(default)]
    pub resources: Vec<String>,
}

/// The reconciler: one pass per event. A failed pass is an invocation error, so it shows in
/// the function's error metrics (the next tick tries again anyway).
pub async fn reconcile(
    reconciler: &Reconciler,
    event: LambdaEvent<ScheduledEvent>,
) -> Result<PassReport, lambda_runtime::Error> {
    tracing::debug!(
        detail_type = ?event.payload.detail_type,
        time = ?event.payload.time,
        rule = ?event.payload.resources.first(),
        "reconciliation pass requested"
    );
    Ok(reconciler.run_once().await?)
}
