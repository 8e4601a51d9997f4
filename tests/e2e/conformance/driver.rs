//! What a provider must tell the suite, and the suite's handle on one running PGM.
//!
//! A [`Driver`] knows only provider-specific things: the settings that point the PGM at its
//! mock, a valid pay body, how the buyer decides at the provider, how the provider's callback
//! looks (genuine, forged, stale), how to read the provider's books and how to make its API
//! fail. Everything the suite asserts lives in `cases.rs`; capabilities come from the PGM's own
//! registry ([`Suite::supports`]), never from a list kept here.

use async_trait::async_trait;
use pgm_e2e::{Answer, Receiver, TestServer};
use pgm_mocks::Fault;
use pgm_providers::{Operation, Provider};
use serde_json::Value;
use std::sync::Arc;

/// A payment as both sides know it: our reference and the provider's id.
#[derive(Debug, Clone)]
pub struct Payment {
    pub shop_id: String,
    pub payment_id: String,
}

/// What the provider's own books say about one of our payments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Books {
    /// Payments (sessions, orders, charges) the provider created for it.
    pub created: usize,
    /// How many of them took the buyer's money.
    pub charged: usize,
    /// Minor units refunded at the provider.
    pub refunded_minor: i64,
}

/// How the provider tells the PGM that something happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callbacks {
    /// Signed by the provider: a forged or stale one is refused with INVALID_SIGNATURE.
    Signed,
    /// An unsigned trigger (anyone can send it): the PGM must ask the provider's API and
    /// believe only that. The reason says why the provider gives nothing better.
    Trigger(&'static str),
}

/// What `check` can learn after the provider accepted a pay whose answer was lost.
#[derive(Debug, Clone, Copy)]
pub enum LostAnswer {
    /// Inject this fault; the provider finds the payment by our reference, so `check` learns
    /// its id and the buyer can still pay it, once.
    FoundByCheck(Fault),
    /// Inject this fault; the provider cannot be searched by our reference, and nobody has the
    /// redirect URL, so `check` settles it FAILED and nothing can ever be charged.
    SettledUncharged(Fault, &'static str),
    /// The case cannot be staged against this provider.
    Impossible(&'static str),
}

/// One HTTP call the provider makes to the PGM, kept whole so that it can be sent again.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub post: bool,
    /// Absolute URL.
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    /// The POST body's content type.
    pub content_type: &'static str,
}

impl Delivery {
    pub fn get(url: String) -> Delivery {
        Delivery {
            post: false,
            url,
            headers: Vec::new(),
            body: String::new(),
            content_type: "application/json",
        }
    }

    pub fn post_json(url: String, headers: Vec<(&'static str, String)>, body: String) -> Delivery {
        Delivery {
            post: true,
            url,
            headers,
            body,
            content_type: "application/json",
        }
    }

    /// A form POST (`application/x-www-form-urlencoded`), as Nuvei sends its DMNs and Soisy its
    /// callbacks.
    pub fn post_form(url: String, body: String) -> Delivery {
        Delivery {
            post: true,
            url,
            headers: Vec::new(),
            body,
            content_type: "application/x-www-form-urlencoded",
        }
    }

    pub async fn send(&self, pgm: &TestServer) -> Answer {
        let mut request = if self.post {
            pgm.client
                .post(&self.url)
                .header("content-type", self.content_type)
                .body(self.body.clone())
        } else {
            pgm.client.get(&self.url)
        };
        for (name, value) in &self.headers {
            request = request.header(*name, value);
        }
        pgm.send(request).await
    }
}

#[async_trait]
pub trait Driver: Send + Sync {
    /// The provider's route name.
    fn provider(&self) -> &'static str;
    /// The payment method route segment of pay, confirm and refund.
    fn method(&self) -> &'static str;
    /// PGM settings pointing the provider at its mock (short timeouts).
    fn settings(&self) -> Vec<(&'static str, String)>;
    /// A valid pay body that sends the buyer to the provider to decide; for a provider that
    /// serves no pay (only sessions), a `session/open` body.
    fn pay_body(&self, shop_id: &str, amount: &str) -> Value;
    /// `Some(why)` when the buyer decides before `pay`, in the merchant's front end (Braintree's
    /// nonce): pay answers `OK` or `KO` at once, with no redirect and nothing pending.
    fn decided_before_pay(&self) -> Option<&'static str> {
        None
    }
    /// A pay body the provider declines at once (only with [`Driver::decided_before_pay`]).
    fn declined_body(&self, shop_id: &str, amount: &str) -> Value {
        self.pay_body(shop_id, amount)
    }
    /// Where the pay's redirect must send the buyer (a prefix of `redirectToUrl`). Not asked
    /// of a provider that serves no pay.
    fn redirect_prefix(&self, pgm: &TestServer, payment_id: &str) -> String;
    /// The buyer approves (or declines) at the provider. The provider may call the PGM back
    /// by itself (the sandbox's hosted page does), or not (the mocks leave it to the test).
    async fn buyer(&self, pgm: &TestServer, payment: &Payment, approves: bool);
    async fn books(&self, pgm: &TestServer, payment: &Payment) -> Books;

    fn callbacks(&self) -> Callbacks;
    /// The provider's genuine callback about the payment as it is now.
    async fn callback(&self, pgm: &TestServer, payment: &Payment) -> Delivery;
    /// Callbacks claiming the (unpaid) payment is paid, not signed with the provider's secret.
    /// A [`Callbacks::Signed`] driver must give at least one (the case checks); an unsigned
    /// trigger has nothing to forge.
    fn forged(&self, _pgm: &TestServer, _payment: &Payment) -> Vec<Delivery> {
        Vec::new()
    }
    /// A callback claiming the (unpaid) payment is paid, signed with the right secret but
    /// outside the provider's freshness window; `Err` says why the provider has none (an
    /// unsigned trigger has no timestamp at all).
    fn stale(&self, _pgm: &TestServer, _payment: &Payment) -> Result<Delivery, &'static str> {
        Err("the provider signs no timestamp")
    }

    /// Makes the provider's API fail this way for the next pay (a 5xx or a timeout: nothing
    /// was accepted); `body` may be changed to ask for it. `Err` says why it cannot.
    fn outage(&self, fault: Fault, body: &mut Value) -> Result<(), &'static str>;
    fn lost_answer(&self) -> LostAnswer;
    /// Brings a payment to AUTHORIZED (approved, nothing captured) for `confirm`. Only called
    /// when the registry says the provider serves `confirm`.
    async fn authorised(&self, pgm: &TestServer, shop_id: &str, amount: &str) -> Payment;
}

/// One running PGM serving one provider against its mock, with a notification receiver.
pub struct Suite {
    pub driver: Box<dyn Driver>,
    pub pgm: Arc<TestServer>,
    pub receiver: Receiver,
    provider: Arc<dyn Provider>,
}

impl Suite {
    pub async fn start(driver: Box<dyn Driver>) -> Suite {
        let receiver = Receiver::start().await;
        let mut settings = driver.settings();
        settings.push(("ENABLED_PROVIDERS", driver.provider().to_owned()));
        settings.push(("PAYMENT_CALLBACK_URL", receiver.url.clone()));
        let extra: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut registry = None;
        let pgm = TestServer::start_with(&extra, |pgm| {
            registry = Some(pgm.app.providers.clone());
        })
        .await;
        let provider = registry
            .and_then(|r| r.get(driver.provider()).cloned())
            .expect("the provider is registered");
        Suite {
            driver,
            pgm: Arc::new(pgm),
            receiver,
            provider,
        }
    }

    /// Whether the PGM serves this route for the provider: what the adapter implements.
    pub fn supports(&self, op: Operation) -> bool {
        self.provider.supports(op)
    }

    /// How many refunds a payment may have at the provider (`None`: any number).
    pub fn refunds_per_payment(&self) -> Option<u32> {
        self.provider
            .as_refunds()
            .and_then(|r| r.refunds_per_payment())
    }

    /// Says, in the test's output, that a case does not apply and why.
    pub fn skip(&self, case: &str, reason: &str) {
        eprintln!("SKIPPED {}::{case}: {reason}", self.driver.provider());
    }

    /// `/{provider}/{method}/{op}`.
    pub fn path(&self, op: &str) -> String {
        format!("/{}/{}/{op}", self.driver.provider(), self.driver.method())
    }

    /// Whether the provider decides at pay (no redirect, never pending).
    pub fn direct(&self) -> bool {
        self.driver.decided_before_pay().is_some()
    }

    /// Whether payments are made through `session/open` (the provider serves no pay: the
    /// buyer pays at the provider in the session the PGM opens).
    pub fn by_session(&self) -> bool {
        !self.supports(Operation::Pay)
    }

    /// Starts a payment: `pay`, or `session/open` where the provider serves no pay.
    pub async fn pay_with(&self, body: &Value) -> Answer {
        if self.by_session() {
            let path = format!("/{}/session/open", self.driver.provider());
            self.pgm.post(&path, body).await
        } else {
            self.pgm.post(&self.path("pay"), body).await
        }
    }

    /// The provider's id of a payment just started: a pay's redirect to the provider (its
    /// URL asserted), an approval where the provider decides at pay, or an opened session's
    /// token.
    pub fn started(&self, answer: &Answer) -> String {
        assert_eq!(answer.status, 200, "{}", answer.text);
        let body = answer.json();
        if self.by_session() {
            return body["sessionToken"]
                .as_str()
                .expect("sessionToken")
                .to_owned();
        }
        if self.direct() {
            assert_eq!(body["result"], "OK", "{body}");
            assert!(body["redirectToUrl"].is_null(), "{body}");
            return body["paymentID"].as_str().expect("paymentID").to_owned();
        }
        assert_eq!(body["result"], "REDIRECT_TO_URL", "{body}");
        let payment_id = body["paymentID"].as_str().expect("paymentID").to_owned();
        let url = body["redirectToUrl"].as_str().expect("redirectToUrl");
        let prefix = self.driver.redirect_prefix(&self.pgm, &payment_id);
        assert!(url.starts_with(&prefix), "{url} should start with {prefix}");
        payment_id
    }

    /// Pays (or opens a session); asserts the redirect to the provider; returns the payment.
    pub async fn pay(&self, shop_id: &str, amount: &str) -> Payment {
        let answer = self.pay_with(&self.driver.pay_body(shop_id, amount)).await;
        Payment {
            shop_id: shop_id.to_owned(),
            payment_id: self.started(&answer),
        }
    }

    /// A payment the buyer approved and the provider's genuine callback settled.
    pub async fn paid(&self, shop_id: &str, amount: &str) -> Payment {
        let payment = self.pay(shop_id, amount).await;
        self.driver.buyer(&self.pgm, &payment, true).await;
        let answer = self.deliver_genuine(&payment).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert_eq!(self.status(shop_id).await["status"], "ACCEPTED");
        payment
    }

    pub async fn deliver_genuine(&self, payment: &Payment) -> Answer {
        self.driver
            .callback(&self.pgm, payment)
            .await
            .send(&self.pgm)
            .await
    }

    pub async fn books(&self, payment: &Payment) -> Books {
        self.driver.books(&self.pgm, payment).await
    }

    pub async fn status(&self, shop_id: &str) -> Value {
        self.pgm.status_at(self.driver.provider(), shop_id).await
    }

    pub async fn check(&self, shop_id: &str) -> Value {
        self.pgm.check_at(self.driver.provider(), shop_id).await
    }

    pub async fn refund(&self, body: Value) -> Answer {
        self.pgm.post(&self.path("refund"), &body).await
    }
}
