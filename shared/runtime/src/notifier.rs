//! The notifier: delivers the notifications of an SQS batch. The Lambda gets its batches from
//! Lambda's SQS poller; `pgm-local` with `PGM_QUEUE=sqs` plays that poller itself ([`Notifier::poll_once`]).

use crate::config::{self, DeliveryConfig};
use crate::{resource, AwsClients, BuildError};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use pgm_core::{ConfigError, Env};
use pgm_notify::sqs::handle_batch;
use pgm_notify::{Deliverer, QueueError, RetrySchedule};
use std::time::Duration;

#[derive(Clone)]
pub struct Notifier {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    deliverer: Deliverer,
    schedule: RetrySchedule,
}

impl Notifier {
    pub fn new(
        sqs: aws_sdk_sqs::Client,
        queue_url: String,
        deliverer: Deliverer,
        schedule: RetrySchedule,
    ) -> Notifier {
        Notifier {
            sqs,
            queue_url,
            deliverer,
            schedule,
        }
    }

    /// The notifier Lambda's configuration, and nothing else: `PGM_QUEUE_URL` (for the retry
    /// delays), `PAYMENT_CALLBACK_URL` (required), `PAYMENT_CALLBACK_SECRET`,
    /// `PGM_NOTIFY_RETRY_SCHEDULE`, and the AWS SDK's own variables.
    pub async fn from_env(env: &Env, aws: Option<AwsClients>) -> Result<Notifier, BuildError> {
        let queue_url = config::parse_queue_url(env, config::QUEUE_URL_VAR)?
            .ok_or_else(|| ConfigError::new(config::QUEUE_URL_VAR, "is required"))?;
        let delivery = DeliveryConfig::from_env(env)?;
        let callback_url = delivery.callback_url.clone().ok_or_else(|| {
            ConfigError::new(
                config::CALLBACK_URL_VAR,
                "is required by the notifier: it is where notifications go",
            )
        })?;
        let outbound = pgm_http::Outbound::from_env(env)?;
        // The notifier talks to SQS only: no DynamoDB client is built for it.
        let sqs = match aws {
            Some(clients) => clients.sqs,
            None => aws_sdk_sqs::Client::new(&crate::aws::sdk_config(env, &outbound).await),
        };
        let http = outbound.client().map_err(|e| resource("HTTP client", e))?;
        Ok(Notifier::new(
            sqs,
            queue_url,
            Deliverer::new(http, callback_url, delivery.callback_secret),
            delivery.retry_schedule,
        ))
    }

    /// Delivers a batch; the answer lists the messages to retry (`ReportBatchItemFailures`).
    pub async fn handle(&self, batch: SqsEvent) -> SqsBatchResponse {
        handle_batch(
            &self.sqs,
            &self.queue_url,
            &self.deliverer,
            &self.schedule,
            batch,
        )
        .await
    }

    /// What Lambda's SQS poller does, once: receive up to ten messages (waiting up to
    /// `wait_secs` for one), hand them to [`Notifier::handle`], delete those not reported as
    /// failed. Returns how many messages were received.
    pub async fn poll_once(&self, wait_secs: u32) -> Result<usize, QueueError> {
        let received = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait_secs as i32)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| {
                QueueError(format!(
                    "ReceiveMessage failed: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(e)
                ))
            })?;
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(0);
        }
        let count = messages.len();
        let mut batch = SqsEvent::default();
        batch.records = messages.into_iter().map(lambda_record).collect();
        let receipts: Vec<(String, String)> = batch
            .records
            .iter()
            .filter_map(|r| Some((r.message_id.clone()?, r.receipt_handle.clone()?)))
            .collect();
        let response = self.handle(batch).await;
        let mut deletes = Vec::new();
        for (index, (message_id, receipt)) in receipts.iter().enumerate() {
            let failed = response
                .batch_item_failures
                .iter()
                .any(|f| f.item_identifier == *message_id || f.item_identifier.is_empty());
            if !failed {
                let entry = DeleteMessageBatchRequestEntry::builder()
                    .id(index.to_string())
                    .receipt_handle(receipt)
                    .build()
                    .map_err(|e| QueueError(e.to_string()))?;
                deletes.push(entry);
            }
        }
        if !deletes.is_empty() {
            self.sqs
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(deletes))
                .send()
                .await
                .map_err(|e| {
                    QueueError(format!(
                        "DeleteMessageBatch failed: {}",
                        aws_sdk_sqs::error::DisplayErrorContext(e)
                    ))
                })?;
        }
        Ok(count)
    }

    /// `pgm-local`'s in-process notifier: polls for ever. With `wait_secs` 0 (short polls, for
    /// single-threaded emulators) it pauses between empty polls.
    pub async fn run_poller(self, wait_secs: u32) {
        loop {
            match self.poll_once(wait_secs).await {
                Ok(0) if wait_secs == 0 => tokio::time::sleep(Duration::from_millis(200)).await,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "notification queue unreadable; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}

/// The record Lambda's poller makes of a received message (same field names and attributes).
fn lambda_record(message: aws_sdk_sqs::types::Message) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.attributes = message
        .attributes
        .unwrap_or_default()
        .into_iter()
        .map(|(name, value)| (name.as_str().to_owned(), value))
        .collect();
    record.message_id = message.message_id;
    record.receipt_handle = message.receipt_handle;
    record.md5_of_body = message.md5_of_body;
    record.body = message.body;
    record.event_source = Some("aws:sqs".into());
    record
}
