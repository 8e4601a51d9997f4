//! The SQS notification pipeline against the real SQS API as moto's server mode serves it:
//! publish after commit, the notifier's batch handling (delivery, signature, partial batch
//! failures, visibility-stretched retries), the redrive policy into the dead-letter queue, and
//! the redrive back. Lambda's part (poll, hand the batch over, delete what was not reported as
//! failed) is played by the test with ReceiveMessage/DeleteMessage on the moto queue.

mod support;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use aws_sdk_sqs::Client;
use pgm_core::signing::verify_timestamped;
use pgm_core::{NotificationEvent, Secret};
use pgm_notify::sqs::{
    create_queues_if_missing, handle_batch, max_receive_count, redrive_dlq, SqsQueue,
    EVENT_ID_ATTRIBUTE, MESSAGE_RETENTION_SECS, VISIBILITY_TIMEOUT_SECS,
};
use pgm_notify::{resend_stuck, Deliverer, NotificationQueue, RetrySchedule};
use std::time::{Duration, Instant};
use support::{sqs_client, unique, Receiver, Store};

const SECRET: &str = "whsec_test_notifications";

struct Queues {
    client: Client,
    url: String,
    dlq_url: String,
}

/// A fresh queue pair made by the code under test, with the given settings.
async fn queues(visibility_secs: u32, max_receives: u32) -> Queues {
    let client = sqs_client().await;
    let name = unique("notifications");
    let endpoint = support::moto_endpoint().await;
    let url = format!("{endpoint}/123456789012/{name}");
    let dlq_url = format!("{endpoint}/123456789012/{name}-dlq");
    create_queues_if_missing(&client, &url, &dlq_url, visibility_secs, max_receives)
        .await
        .expect("queues created");
    // Use the URLs SQS itself hands out from here on.
    let url = queue_url(&client, &name).await;
    let dlq_url = queue_url(&client, &format!("{name}-dlq")).await;
    Queues {
        client,
        url,
        dlq_url,
    }
}

async fn queue_url(client: &Client, name: &str) -> String {
    client
        .get_queue_url()
        .queue_name(name)
        .send()
        .await
        .expect("queue exists")
        .queue_url
        .expect("queue url")
}

/// What Lambda's poller hands the function: up to ten visible messages with their system
/// attributes. Polls (short polls, so a shared moto is never blocked) until one arrives or
/// `within` passes; an empty batch means nothing became visible.
async fn poll_as_lambda(client: &Client, url: &str, within: Duration) -> SqsEvent {
    let deadline = Instant::now() + within;
    loop {
        let received = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .expect("ReceiveMessage");
        let messages = received.messages.unwrap_or_default();
        if !messages.is_empty() || Instant::now() >= deadline {
            let mut event = SqsEvent::default();
            event.records = messages
                .into_iter()
                .map(support::as_lambda_record)
                .collect();
            return event;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// What Lambda does with the function's answer: delete every record not reported as failed.
async fn finish_as_lambda(
    client: &Client,
    url: &str,
    batch: &SqsEvent,
    response: &SqsBatchResponse,
) {
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    for record in &batch.records {
        if !failed.contains(&record.message_id.as_deref().unwrap_or_default()) {
            client
                .delete_message()
                .queue_url(url)
                .receipt_handle(record.receipt_handle.clone().unwrap_or_default())
                .send()
                .await
                .expect("DeleteMessage");
        }
    }
}

fn receive_count(batch: &SqsEvent) -> u32 {
    batch.records[0].attributes["ApproximateReceiveCount"]
        .parse()
        .expect("receive count")
}

async fn queue_attribute(client: &Client, url: &str, name: QueueAttributeName) -> String {
    client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(name.clone())
        .send()
        .await
        .expect("GetQueueAttributes")
        .attributes
        .and_then(|mut a| a.remove(&name))
        .expect("attribute present")
}

fn deliverer(receiver: &Receiver) -> Deliverer {
    Deliverer::new(
        reqwest::Client::new(),
        receiver.url(),
        Some(Secret::new(SECRET.to_owned())),
    )
}

/// Commits one event and publishes it the way the app does after a commit.
async fn publish_one(queues: &Queues) -> NotificationEvent {
    let store = Store::open();
    let events = store.commit_events(1).await;
    SqsQueue::new(
        queues.client.clone(),
        queues.url.clone(),
        store.store.clone(),
    )
    .publish(&events)
    .await
    .expect("published");
    assert!(store.pending().await.is_empty());
    events.into_iter().next().expect("one event")
}

#[tokio::test]
async fn publish_puts_every_event_on_the_queue_and_clears_the_outbox() {
    let queues = queues(VISIBILITY_TIMEOUT_SECS, 12).await;
    // Twelve events: more than one SendMessageBatch (ten at most per call).
    let outbox = Store::open();
    let events = outbox.commit_events(12).await;
    assert_eq!(outbox.pending().await, events, "committed with the payment");
    let queue = SqsQueue::new(
        queues.client.clone(),
        queues.url.clone(),
        outbox.store.clone(),
    );

    queue.publish(&events).await.expect("published");

    assert!(
        outbox.pending().await.is_empty(),
        "queued entries leave the outbox"
    );
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.len() < events.len() && Instant::now() < deadline {
        let received = queues
            .client
            .receive_message()
            .queue_url(&queues.url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .send()
            .await
            .expect("ReceiveMessage");
        for message in received.messages.unwrap_or_default() {
            let body: NotificationEvent =
                serde_json::from_str(message.body().expect("body")).expect("event JSON");
            let attribute = message
                .message_attributes()
                .and_then(|a| a.get(EVENT_ID_ATTRIBUTE))
                .and_then(|v| v.string_value())
                .expect("eventId attribute");
            assert_eq!(attribute, body.event_id);
            seen.push(body);
        }
    }
    seen.sort_by_key(|e| e.sequence);
    assert_eq!(seen, events, "each event exactly once, body intact");
}

#[tokio::test]
async fn an_unreachable_queue_keeps_the_entry_until_the_reconciler_resends_it() {
    let queues = queues(VISIBILITY_TIMEOUT_SECS, 12).await;
    let outbox = Store::open();
    let event = outbox.commit_events(1).await.remove(0);

    // Nothing listens on that port.
    let closed = support::client_for(&format!("http://127.0.0.1:{}", support::closed_port()));
    let down = SqsQueue::new(closed, queues.url.clone(), outbox.store.clone());
    let error = down
        .publish(std::slice::from_ref(&event))
        .await
        .expect_err("queue is down");
    assert!(error.to_string().contains("SendMessageBatch"), "{error}");
    assert_eq!(
        outbox.pending().await,
        vec![event.clone()],
        "the entry stays in the outbox"
    );

    // The reconciler runs later: a threshold the entry has not reached yet leaves it alone ...
    let up = SqsQueue::new(
        queues.client.clone(),
        queues.url.clone(),
        outbox.store.clone(),
    );
    let sent = resend_stuck(outbox.store.as_ref(), &up, Duration::from_secs(3600))
        .await
        .expect("resend");
    assert_eq!(sent, 0);
    assert_eq!(outbox.pending().await.len(), 1);
    // ... and once it is older than the threshold, it goes on the queue and leaves the outbox.
    let sent = resend_stuck(outbox.store.as_ref(), &up, Duration::ZERO)
        .await
        .expect("resend");
    assert_eq!(sent, 1);
    assert!(outbox.pending().await.is_empty());
    let batch = poll_as_lambda(&queues.client, &queues.url, Duration::from_secs(5)).await;
    assert_eq!(batch.records.len(), 1);
    let body: NotificationEvent =
        serde_json::from_str(batch.records[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(body, event);
}

#[tokio::test]
async fn the_notifier_delivers_once_with_a_valid_signature() {
    let queues = queues(VISIBILITY_TIMEOUT_SECS, 12).await;
    let receiver = Receiver::start(200).await;
    let event = publish_one(&queues).await;

    let batch = poll_as_lambda(&queues.client, &queues.url, Duration::from_secs(5)).await;
    assert_eq!(batch.records.len(), 1);
    let response = handle_batch(
        &queues.client,
        &queues.url,
        &deliverer(&receiver),
        &RetrySchedule::default(),
        batch.clone(),
    )
    .await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    finish_as_lambda(&queues.client, &queues.url, &batch, &response).await;

    let requests = receiver.requests();
    assert_eq!(requests.len(), 1, "delivered exactly once");
    let (signature, body) = &requests[0];
    let now = pgm_core::clock::now_ms() / 1000;
    verify_timestamped(
        SECRET.as_bytes(),
        signature.as_deref().expect("PGM-Signature"),
        body,
        now,
        300,
    )
    .expect("valid signature over the raw body");
    assert_eq!(
        serde_json::from_slice::<NotificationEvent>(body).unwrap(),
        event
    );
    // Lambda deleted it: nothing comes back, even after the visibility it would have had.
    let again = poll_as_lambda(&queues.client, &queues.url, Duration::from_millis(500)).await;
    assert!(again.records.is_empty());
}

#[tokio::test]
async fn a_failed_delivery_is_reported_and_retried_after_the_schedules_delay() {
    // The queue would hide a failed message for 3 minutes; the schedule says 1 s.
    let queues = queues(VISIBILITY_TIMEOUT_SECS, 3).await;
    let receiver = Receiver::start(500).await;
    let event = publish_one(&queues).await;
    let schedule = RetrySchedule::new(vec![Duration::from_secs(1), Duration::from_secs(3600)]);

    let batch = poll_as_lambda(&queues.client, &queues.url, Duration::from_secs(5)).await;
    assert_eq!(receive_count(&batch), 1);
    let message_id = batch.records[0].message_id.clone().unwrap();
    let response = handle_batch(
        &queues.client,
        &queues.url,
        &deliverer(&receiver),
        &schedule,
        batch.clone(),
    )
    .await;
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(failed, vec![message_id.clone()]);
    finish_as_lambda(&queues.client, &queues.url, &batch, &response).await;
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        serde_json::from_slice::<NotificationEvent>(&requests[0].1).unwrap(),
        event
    );

    // Back after about a second (the visibility change), not after the queue's 180 s.
    let started = Instant::now();
    let retry = poll_as_lambda(&queues.client, &queues.url, Duration::from_secs(10)).await;
    assert_eq!(
        retry.records.len(),
        1,
        "the message came back on the schedule"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(
        retry.records[0].message_id.as_deref(),
        Some(message_id.as_str())
    );
    assert_eq!(receive_count(&retry), 2);

    // The second failure hides it for the schedule's next delay (an hour).
    let response = handle_batch(
        &queues.client,
        &queues.url,
        &deliverer(&receiver),
        &schedule,
        retry.clone(),
    )
    .await;
    assert_eq!(response.batch_item_failures.len(), 1);
    let hidden = poll_as_lambda(&queues.client, &queues.url, Duration::from_secs(2)).await;
    assert!(hidden.records.is_empty(), "not retried before its delay");
    assert_eq!(receiver.requests().len(), 2);
}

#[tokio::test]
async fn a_day_long_delay_is_capped_to_a_visibility_sqs_accepts() {
    let queues = queues(VISIBILITY_TIMEOUT_SECS, 3).await;
    publish_one(&queues).await;
    let batch = poll_as_lambda(&queues.client, &queues.url, Duration::from_secs(5)).await;
    let receipt = batch.records[0].receipt_handle.clone().unwrap();
    let change = |secs: i32| {
        queues
            .client
            .change_message_visibility()
            .queue_url(&queues.url)
            .receipt_handle(receipt.clone())
            .visibility_timeout(secs)
            .send()
    };
    // SQS refuses more than 12 hours ...
    assert!(change(43_201).await.is_err(), "the limit is enforced");
    // ... and takes what the handler asks for a one-day delay.
    let day = RetrySchedule::new(vec![Duration::from_secs(86_400)]);
    let capped = pgm_notify::sqs::visibility_for(&day, 1).expect("a delay");
    change(capped).await.expect("capped visibility accepted");
}

#[tokio::test]
async fn an_undecodable_message_is_reported_and_released_at_once() {
    let queues = queues(VISIBILITY_TIMEOUT_SECS, 3).await;
    let receiver = Receiver::start(200).await;
    queues
        .client
        .send_message()
        .queue_url(&queues.url)
        .message_body("{not an event")
        .send()
        .await
        .expect("SendMessage");

    let batch = poll_as_lambda(&queues.client, &queues.url, Duration::from_secs(5)).await;
    let response = handle_batch(
        &queues.client,
        &queues.url,
        &deliverer(&receiver),
        &RetrySchedule::default(),
        batch.clone(),
    )
    .await;
    assert_eq!(response.batch_item_failures.len(), 1);
    assert!(
        receiver.requests().is_empty(),
        "nothing is posted for a body that is no event"
    );
    // Visible again at once (instead of after 180 s), so it reaches the DLQ quickly.
    let again = poll_as_lambda(&queues.client, &queues.url, Duration::from_secs(2)).await;
    assert_eq!(again.records.len(), 1);
    assert_eq!(receive_count(&again), 2);
}

#[tokio::test]
async fn a_notification_failing_every_try_goes_to_the_dlq_and_redrive_brings_it_back() {
    let schedule = RetrySchedule::new(vec![Duration::from_secs(1), Duration::from_secs(1)]);
    let max_receives = max_receive_count(&schedule);
    assert_eq!(max_receives, 3);
    // A short queue visibility: after the last try the message waits this long, then its next
    // receive moves it to the DLQ.
    let queues = queues(1, max_receives).await;
    let failing = Receiver::start(500).await;
    let event = publish_one(&queues).await;

    for expected_count in 1..=max_receives {
        let batch = poll_as_lambda(&queues.client, &queues.url, Duration::from_secs(10)).await;
        assert_eq!(batch.records.len(), 1, "try {expected_count} arrives");
        assert_eq!(receive_count(&batch), expected_count);
        let response = handle_batch(
            &queues.client,
            &queues.url,
            &deliverer(&failing),
            &schedule,
            batch.clone(),
        )
        .await;
        assert_eq!(response.batch_item_failures.len(), 1);
        finish_as_lambda(&queues.client, &queues.url, &batch, &response).await;
    }
    assert_eq!(
        failing.requests().len(),
        max_receives as usize,
        "one POST per try"
    );

    // The next receive exceeds maxReceiveCount: SQS moves the message to the DLQ instead.
    let after = poll_as_lambda(&queues.client, &queues.url, Duration::from_secs(3)).await;
    assert!(after.records.is_empty(), "no fourth try");
    let in_dlq = queue_attribute(
        &queues.client,
        &queues.dlq_url,
        QueueAttributeName::ApproximateNumberOfMessages,
    )
    .await;
    assert_eq!(in_dlq, "1");

    // Ops redrive it; the receiver is healthy again.
    let moved = redrive_dlq(&queues.client, &queues.dlq_url, &queues.url, 100)
        .await
        .expect("redrive");
    assert_eq!(moved, 1);
    let in_dlq = queue_attribute(
        &queues.client,
        &queues.dlq_url,
        QueueAttributeName::ApproximateNumberOfMessages,
    )
    .await;
    assert_eq!(in_dlq, "0");
    let healthy = Receiver::start(200).await;
    let batch = poll_as_lambda(&queues.client, &queues.url, Duration::from_secs(5)).await;
    assert_eq!(batch.records.len(), 1);
    assert_eq!(
        receive_count(&batch),
        1,
        "a redriven message gets the whole schedule again"
    );
    let response = handle_batch(
        &queues.client,
        &queues.url,
        &deliverer(&healthy),
        &schedule,
        batch.clone(),
    )
    .await;
    assert!(response.batch_item_failures.is_empty());
    finish_as_lambda(&queues.client, &queues.url, &batch, &response).await;
    let delivered = healthy.requests();
    assert_eq!(delivered.len(), 1);
    assert_eq!(
        serde_json::from_slice::<NotificationEvent>(&delivered[0].1).unwrap(),
        event
    );
}

#[tokio::test]
async fn queues_get_the_template_settings_and_creating_them_twice_is_harmless() {
    let schedule = RetrySchedule::default();
    let queues = queues(VISIBILITY_TIMEOUT_SECS, max_receive_count(&schedule)).await;

    let visibility = queue_attribute(
        &queues.client,
        &queues.url,
        QueueAttributeName::VisibilityTimeout,
    )
    .await;
    assert_eq!(visibility, "180");
    let policy = queue_attribute(
        &queues.client,
        &queues.url,
        QueueAttributeName::RedrivePolicy,
    )
    .await;
    let policy: serde_json::Value = serde_json::from_str(&policy).expect("policy JSON");
    let dlq_arn = queue_attribute(
        &queues.client,
        &queues.dlq_url,
        QueueAttributeName::QueueArn,
    )
    .await;
    assert_eq!(policy["deadLetterTargetArn"], dlq_arn.as_str());
    assert_eq!(
        policy["maxReceiveCount"].to_string().trim_matches('"'),
        "12"
    );
    for url in [&queues.url, &queues.dlq_url] {
        let retention = queue_attribute(
            &queues.client,
            url,
            QueueAttributeName::MessageRetentionPeriod,
        )
        .await;
        assert_eq!(retention, MESSAGE_RETENTION_SECS.to_string());
    }

    create_queues_if_missing(
        &queues.client,
        &queues.url,
        &queues.dlq_url,
        VISIBILITY_TIMEOUT_SECS,
        12,
    )
    .await
    .expect("existing queues are fine");
}

/// A queue that takes events but leaves the outbox to someone else (like the local adapter).
struct CountingQueue(std::sync::Mutex<usize>);

#[async_trait::async_trait]
impl NotificationQueue for CountingQueue {
    async fn publish(&self, events: &[NotificationEvent]) -> Result<(), pgm_notify::QueueError> {
        *self.0.lock().unwrap() += events.len();
        Ok(())
    }
}

#[tokio::test]
async fn resend_stops_when_the_queue_leaves_the_entries_in_the_outbox() {
    // More than one page (100) of stuck entries, none of which publish removes.
    let outbox = Store::open();
    outbox.commit_events(150).await;
    let queue = CountingQueue(std::sync::Mutex::new(0));

    let sent = resend_stuck(outbox.store.as_ref(), &queue, Duration::ZERO)
        .await
        .expect("resend");

    // The first page goes out; reading the same page again ends the run instead of looping.
    assert_eq!(sent, 100);
    assert_eq!(*queue.0.lock().unwrap(), 100);
    assert_eq!(outbox.pending().await.len(), 150);
}
