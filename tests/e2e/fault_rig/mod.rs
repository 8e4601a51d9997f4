//! The fault tests' deployment: one PGM (sandbox and Stripe, the Stripe mock behind it) on the
//! chosen backend, a merchant receiver, and the [`Faults`] wrapped around its store and queue.
//! It can crash (the process stops; its data stays) and start again on the same data, and run
//! `pgm-ops reconcile` against it.

use crate::aws::Stack;
use pgm_core::clock::now_ms;
use pgm_e2e::faults::Faults;
use pgm_e2e::{eventually, Answer, Receiver, TestServer};
use pgm_mocks::stripe::{signature_header, StripeMock, TEST_SECRET_KEY};
use pgm_runtime::ops::{execute, Command};
use pgm_runtime::{Pgm, Profile};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite and the in-process delivery loop.
    Embedded,
    /// DynamoDB and SQS (moto), with the in-process SQS poller.
    DynamoSqs,
}

pub const BACKENDS: [Backend; 2] = [Backend::Embedded, Backend::DynamoSqs];

const STRIPE_WEBHOOK_SECRET: &str = "whsec_fault_tests";
const CALLBACK_SECRET: &str = "whsec_fault_tests_merchant";
/// Retries of a failed notification: nine tries in all. SQS rounds each delay up to a second.
pub const RETRY_SCHEDULE: &str = "200ms,300ms,400ms,500ms,600ms,700ms,800ms,900ms";

pub struct Rig {
    pub backend: Backend,
    pub faults: Faults,
    pub receiver: Receiver,
    pub stripe: StripeMock,
    extra: Vec<(String, String)>,
    pgm: Option<TestServer>,
    data_dir: Option<tempfile::TempDir>,
    /// The configuration of the last PGM started (for `pgm-ops`).
    env: pgm_core::Env,
    stack: Option<Stack>,
    sqs: Option<aws_sdk_sqs::Client>,
}

/// A charge in the sandbox's books.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookedCharge {
    pub id: String,
    pub status: String,
    pub captured_minor: i64,
    pub refunds_minor: Vec<i64>,
}

impl Rig {
    /// A running PGM on `backend`; `settings` override the defaults below.
    pub async fn start(backend: Backend, settings: &[(&str, &str)]) -> Rig {
        let stripe = StripeMock::start().await;
        let receiver = Receiver::start().await;
        let mut extra: BTreeMap<String, String> = [
            ("ENABLED_PROVIDERS", "sandbox,stripe"),
            ("STRIPE_BASE_URL", stripe.url()),
            ("STRIPE_PRIVATE_KEY", TEST_SECRET_KEY),
            ("STRIPE_WEBHOOK_SECRET", STRIPE_WEBHOOK_SECRET),
            // A provider that does not answer costs the test 0.4 s (the default is 15 s).
            ("STRIPE_TIMEOUT_MS", "400"),
            ("PAYMENT_CALLBACK_URL", receiver.url.as_str()),
            ("PAYMENT_CALLBACK_SECRET", CALLBACK_SECRET),
            ("PGM_NOTIFY_RETRY_SCHEDULE", RETRY_SCHEDULE),
            // A pay that died holding its claim may be taken over after a second, and the
            // reconciler looks at payments pending for a second.
            ("PGM_PAY_LOCK_SECONDS", "1"),
            ("PGM_STALE_AFTER_SECONDS", "1"),
            ("PGM_RESEND_AFTER_SECONDS", "1"),
            // No background pass unless a test asks: passes are run by the tests (`pgm-ops`).
            ("PGM_RECONCILE_INTERVAL_SECONDS", "3600"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let stack = match backend {
            Backend::Embedded => None,
            Backend::DynamoSqs => {
                let stack = Stack::new("http://placeholder.invalid", &[]).await;
                extra.extend(stack.pgm_local_env());
                Some(stack)
            }
        };
        for (k, v) in settings {
            extra.insert((*k).into(), (*v).into());
        }
        if let Some(stack) = &stack {
            // The queues as the template makes them, except a one-second visibility timeout:
            // a message tried for the last time comes back (and moves to the dead-letter
            // queue) a second later instead of after minutes.
            let schedule =
                pgm_notify::RetrySchedule::parse("schedule", &extra["PGM_NOTIFY_RETRY_SCHEDULE"])
                    .expect("a schedule");
            pgm_notify::sqs::create_queues_if_missing(
                &stack.sqs().await,
                &stack.queue_url,
                &stack.dlq_url,
                1,
                pgm_notify::sqs::max_receive_count(&schedule),
            )
            .await
            .expect("queues");
        }
        let mut rig = Rig {
            backend,
            faults: Faults::new(),
            receiver,
            stripe,
            extra: extra.into_iter().collect(),
            pgm: None,
            data_dir: Some(tempfile::tempdir().expect("tempdir")),
            env: pgm_core::Env::from_pairs([]),
            sqs: match &stack {
                Some(stack) => Some(stack.sqs().await),
                None => None,
            },
            stack,
        };
        rig.restart().await;
        rig
    }

    pub fn pgm(&self) -> &TestServer {
        self.pgm.as_ref().expect("the PGM is running")
    }

    /// The process dies: nothing more is served, delivered or reconciled; its data stays.
    pub fn crash(&mut self) {
        let pgm = self.pgm.take().expect("running");
        self.data_dir = Some(pgm.shut_down());
    }

    /// Starts the PGM (again) on the same data, with the same faults wrapped around it.
    pub async fn restart(&mut self) {
        assert!(self.pgm.is_none(), "crash it first");
        let extra: Vec<(&str, &str)> = self
            .extra
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let faults = self.faults.clone();
        let data_dir = self.data_dir.take().expect("data dir");
        let pgm = TestServer::start_in_with(data_dir, &extra, |pgm| faults.install(pgm)).await;
        self.env = pgm.env.clone();
        self.pgm = Some(pgm);
    }

    /// `pgm-ops reconcile` against this deployment: one reconciliation pass, in a process of
    /// its own. Returns its report.
    pub async fn reconcile_pass(&self) -> Value {
        let ops = Pgm::build(&self.env, Profile::Local)
            .await
            .expect("pgm-ops starts");
        execute(&ops, &Command::Reconcile)
            .await
            .expect("the pass runs")
    }

    /// `pgm-ops redrive`: parked notifications (or the dead-letter queue) back to delivery.
    pub async fn redrive(&self) -> Value {
        let ops = Pgm::build(&self.env, Profile::Local)
            .await
            .expect("pgm-ops starts");
        execute(&ops, &Command::Redrive)
            .await
            .expect("the redrive runs")
    }

    // -----------------------------------------------------------------------------------------
    // the merchant's requests

    pub async fn sandbox_pay(&self, id: &str, amount: &str, token: &str) -> Answer {
        self.pgm().pay(id, amount, token).await
    }

    pub async fn stripe_pay(&self, id: &str, amount: &str) -> Answer {
        self.pgm()
            .post("/stripe/stripe/pay", &stripe_pay_body(id, amount))
            .await
    }

    /// A request retried until the claim of the same request that died (its pay claim or
    /// its Idempotency-Key) may be taken over (409 `REQUEST_IN_PROGRESS` meanwhile); returns
    /// the first other answer.
    pub async fn retry_while_in_progress<F, Fut>(&self, send: F) -> Answer
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Answer>,
    {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let answer = send().await;
            if answer.status != 409 {
                return answer;
            }
            answer.problem(409, "REQUEST_IN_PROGRESS");
            assert!(
                std::time::Instant::now() < deadline,
                "the claim was never free: {}",
                answer.text
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn refund(
        &self,
        provider: &str,
        id: &str,
        amount: Option<&str>,
        key: Option<&str>,
    ) -> Answer {
        let pgm = self.pgm();
        let method = if provider == "stripe" {
            "stripe"
        } else {
            "credit-cards"
        };
        let mut body = json!({ "shopTransactionID": id });
        if let Some(amount) = amount {
            body["amount"] = json!(amount);
        }
        let mut request = pgm
            .client
            .post(format!("{}/{provider}/{method}/refund", pgm.url))
            .json(&body);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        pgm.send(request).await
    }

    pub async fn check(&self, provider: &str, id: &str) -> Answer {
        self.pgm()
            .get(&format!("/{provider}/check?shopTransactionId={id}"))
            .await
    }

    pub async fn status(&self, provider: &str, id: &str) -> Value {
        self.pgm().status_at(provider, id).await
    }

    /// The buyer approves on the sandbox's 3DS page; the sandbox calls the PGM back.
    pub async fn approve_3ds(&self, pay: &Answer) {
        let redirect = pay.json()["redirectToUrl"]
            .as_str()
            .unwrap_or_else(|| panic!("a 3DS redirect: {}", pay.text))
            .to_owned();
        let approved = self.pgm().decide_3ds(&redirect, "approve").await;
        assert_eq!(approved.status, 200, "{}", approved.text);
    }

    // -----------------------------------------------------------------------------------------
    // Stripe's side

    /// Stripe POSTs a signed event about a Checkout Session to the webhook.
    pub async fn stripe_webhook(&self, event_type: &str, session: &str) -> Answer {
        let event = self
            .stripe
            .event_body(event_type, session)
            .expect("the session exists");
        let signature = signature_header(STRIPE_WEBHOOK_SECRET, now_ms() / 1000, &event);
        let pgm = self.pgm();
        pgm.send(
            pgm.client
                .post(format!("{}/stripe/callback", pgm.url))
                .header("content-type", "application/json")
                .header("stripe-signature", signature)
                .body(event),
        )
        .await
    }

    /// A Stripe payment the buyer paid and Stripe's webhook settled; returns the session id.
    pub async fn stripe_paid(&self, id: &str, amount: &str) -> String {
        let session = self.stripe_session(id, amount).await;
        self.stripe.complete_session(&session).expect("buyer pays");
        let answer = self
            .stripe_webhook("checkout.session.completed", &session)
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert_eq!(self.status("stripe", id).await["status"], "ACCEPTED");
        session
    }

    /// Opens a Checkout Session through the PGM; returns its id.
    pub async fn stripe_session(&self, id: &str, amount: &str) -> String {
        let answer = self.stripe_pay(id, amount).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert_eq!(
            answer.json()["result"],
            "REDIRECT_TO_URL",
            "{}",
            answer.text
        );
        answer.json()["paymentID"]
            .as_str()
            .expect("paymentID")
            .to_owned()
    }

    /// What Stripe's books hold as refunded on a session's PaymentIntent, in minor units.
    pub fn stripe_refunded(&self, session: &str) -> i64 {
        let intent = self.stripe.payment_intent_of(session);
        self.stripe
            .refunds()
            .iter()
            .filter(|r| Some(&r.payment_intent) == intent.as_ref())
            .map(|r| r.amount)
            .sum()
    }

    // -----------------------------------------------------------------------------------------
    // the sandbox's books

    /// The sandbox's books for a reference: what it charged and refunded.
    pub async fn sandbox_books(&self, id: &str) -> Vec<BookedCharge> {
        self.pgm()
            .sandbox_charges(id)
            .await
            .iter()
            .map(|c| BookedCharge {
                id: c["id"].as_str().unwrap_or_default().to_owned(),
                status: c["status"].as_str().unwrap_or_default().to_owned(),
                captured_minor: c["captured_minor"].as_i64().unwrap_or(-1),
                refunds_minor: c["refunds"]
                    .as_array()
                    .map(|r| {
                        r.iter()
                            .filter_map(|r| r["amount_minor"].as_i64())
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect()
    }

    /// Messages on the notification queue, visible or in flight (0 with the local queue).
    async fn queue_depth(&self) -> u64 {
        match (&self.stack, &self.sqs) {
            (Some(stack), Some(sqs)) => crate::aws::queue_depth(sqs, &stack.queue_url).await,
            _ => 0,
        }
    }

    /// Whether the notifications given up on are waiting for a redrive: parked in the outbox
    /// (local) or in the dead-letter queue (SQS).
    pub async fn given_up(&self, id: &str) -> usize {
        match &self.stack {
            None => self
                .faults
                .outbox(id)
                .await
                .iter()
                .filter(|e| e.parked)
                .count(),
            Some(stack) => {
                let sqs = self.sqs.as_ref().expect("with the stack");
                crate::aws::queue_depth(sqs, &stack.dlq_url).await as usize
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // notifications

    /// Waits until the receiver has accepted, after deduplicating by eventId, exactly the
    /// events `expected` (event types, in any order) about a payment, then makes sure nothing
    /// else follows. Copies of one eventId must be the same notification.
    pub async fn delivered_exactly_once(&self, id: &str, expected: &[&str]) -> Vec<Value> {
        let mut expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        expected.sort();
        let types = |events: &[Value]| {
            let mut types: Vec<String> = events
                .iter()
                .map(|e| e["eventType"].as_str().unwrap_or_default().to_owned())
                .collect();
            types.sort();
            types
        };
        let arrived = eventually(Duration::from_secs(20), || async {
            types(&self.deduped(id)) == expected
        })
        .await;
        let events = self.deduped(id);
        assert!(
            arrived,
            "{:?}: {id}: expected {expected:?}, the receiver accepted {events:#?}",
            self.backend
        );
        // Delivered means done with: nothing about it stays in the outbox, and no message
        // stays on the queue (a copy delivered again and again would dedupe, but is a bug).
        let done = eventually(Duration::from_secs(10), || async {
            self.faults.outbox(id).await.is_empty() && self.queue_depth().await == 0
        })
        .await;
        assert!(
            done,
            "{:?}: {id}: still waiting to be delivered",
            self.backend
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        let events = self.deduped(id);
        assert_eq!(
            types(&events),
            expected,
            "{:?}: {id}: {events:#?}",
            self.backend
        );
        events
    }

    /// The notifications about a payment the receiver accepted, one per eventId.
    pub fn deduped(&self, id: &str) -> Vec<Value> {
        let mut by_id: BTreeMap<String, Value> = BTreeMap::new();
        for n in self
            .receiver
            .for_payment(id)
            .into_iter()
            .filter(|n| n.accepted)
        {
            let event_id = n.body["eventId"].as_str().expect("eventId").to_owned();
            match by_id.get(&event_id) {
                Some(first) => assert_eq!(
                    first, &n.body,
                    "{:?}: two different notifications share eventId {event_id}",
                    self.backend
                ),
                None => {
                    by_id.insert(event_id, n.body);
                }
            }
        }
        by_id.into_values().collect()
    }

    /// Delivery attempts (accepted or not) of each eventId about a payment.
    pub fn attempts(&self, id: &str) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for n in self.receiver.for_payment(id) {
            *counts
                .entry(n.body["eventId"].as_str().unwrap_or_default().to_owned())
                .or_default() += 1;
        }
        counts
    }
}

pub fn stripe_pay_body(id: &str, amount: &str) -> Value {
    json!({
        "amount": amount,
        "shopTransactionID": id,
        "buyerEmail": "ada@example.com",
        "successRedirect": "https://shop.example/paid",
        "failureRedirect": "https://shop.example/cancelled",
    })
}

/// Runs `scenario` on both backends at once (they share nothing but moto).
pub async fn on_both_backends<F, Fut>(scenario: F)
where
    F: Fn(Backend) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let [a, b] = BACKENDS;
    tokio::join!(scenario(a), scenario(b));
}
