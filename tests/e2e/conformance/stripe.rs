//! Stripe: pay opens a Checkout Session at the mock; the buyer pays (or abandons) it there;
//! Stripe's webhook is signed `Stripe-Signature` with a 300 s tolerance.

use crate::driver::{Books, Callbacks, Delivery, Driver, LostAnswer, Payment};
use async_trait::async_trait;
use pgm_core::clock::now_ms;
use pgm_e2e::TestServer;
use pgm_mocks::stripe::{signature_header, StripeMock, TEST_SECRET_KEY};
use pgm_mocks::Fault;
use serde_json::{json, Value};

const WEBHOOK_SECRET: &str = "whsec_conformance_stripe";

pub struct Stripe {
    mock: StripeMock,
}

pub async fn start() -> Stripe {
    Stripe {
        mock: StripeMock::start().await,
    }
}

impl Stripe {
    fn event(&self, pgm: &TestServer, body: &str, signature: String) -> Delivery {
        Delivery::post_json(
            format!("{}/stripe/callback", pgm.url),
            vec![("stripe-signature", signature)],
            body.to_owned(),
        )
    }

    /// `checkout.session.completed` claiming a paid session, whatever the session is.
    fn claimed_paid(&self, payment: &Payment) -> String {
        let mut claimed = self
            .mock
            .session_json(&payment.payment_id)
            .expect("session");
        claimed["status"] = json!("complete");
        claimed["payment_status"] = json!("paid");
        self.mock
            .event_body_for("checkout.session.completed", claimed)
    }
}

fn now_secs() -> i64 {
    now_ms() / 1000
}

#[async_trait]
impl Driver for Stripe {
    fn provider(&self) -> &'static str {
        "stripe"
    }

    fn method(&self) -> &'static str {
        "stripe"
    }

    fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("STRIPE_BASE_URL", self.mock.url().to_owned()),
            ("STRIPE_PRIVATE_KEY", TEST_SECRET_KEY.into()),
            ("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET.into()),
            ("STRIPE_TIMEOUT_MS", "400".into()),
        ]
    }

    fn pay_body(&self, shop_id: &str, amount: &str) -> Value {
        json!({
            "amount": amount,
            "shopTransactionID": shop_id,
            "buyerEmail": "ada@example.com",
            "successRedirect": "https://shop.example/paid",
            "failureRedirect": "https://shop.example/cancelled",
        })
    }

    fn redirect_prefix(&self, _: &TestServer, payment_id: &str) -> String {
        format!("{}/c/pay/{payment_id}", self.mock.url())
    }

    async fn buyer(&self, _: &TestServer, payment: &Payment, approves: bool) {
        // Declining at Checkout is leaving the page: the session expires unpaid.
        if approves {
            self.mock
                .complete_session(&payment.payment_id)
                .expect("buyer pays");
        } else {
            self.mock
                .expire_session(&payment.payment_id)
                .expect("session expires");
        }
    }

    async fn books(&self, _: &TestServer, _: &Payment) -> Books {
        Books {
            created: self.mock.sessions_created(),
            charged: self.mock.charges(),
            refunded_minor: self.mock.refunds().iter().map(|r| r.amount).sum(),
        }
    }

    fn callbacks(&self) -> Callbacks {
        Callbacks::Signed
    }

    async fn callback(&self, pgm: &TestServer, payment: &Payment) -> Delivery {
        let session = self
            .mock
            .session_json(&payment.payment_id)
            .expect("session");
        let event_type = match session["status"].as_str() {
            Some("expired") => "checkout.session.expired",
            _ => "checkout.session.completed",
        };
        let body = self
            .mock
            .event_body(event_type, &payment.payment_id)
            .expect("event");
        let signature = signature_header(WEBHOOK_SECRET, now_secs(), &body);
        self.event(pgm, &body, signature)
    }

    fn forged(&self, pgm: &TestServer, payment: &Payment) -> Vec<Delivery> {
        let body = self.claimed_paid(payment);
        let now = now_secs();
        let tampered = body.replace("ada@example.com", "eve@example.com");
        vec![
            self.event(
                pgm,
                &body,
                signature_header("whsec_someone_else", now, &body),
            ),
            self.event(pgm, &tampered, signature_header(WEBHOOK_SECRET, now, &body)),
            // From the future: as stale as from the past.
            self.event(
                pgm,
                &body,
                signature_header(WEBHOOK_SECRET, now + 301, &body),
            ),
            self.event(pgm, &body, format!("t={now}")),
            Delivery::post_json(format!("{}/stripe/callback", pgm.url), vec![], body),
        ]
    }

    fn stale(&self, pgm: &TestServer, payment: &Payment) -> Result<Delivery, &'static str> {
        let body = self.claimed_paid(payment);
        let signature = signature_header(WEBHOOK_SECRET, now_secs() - 301, &body);
        Ok(self.event(pgm, &body, signature))
    }

    fn outage(&self, fault: Fault, _: &mut Value) -> Result<(), &'static str> {
        self.mock.server.faults.push(fault);
        Ok(())
    }

    fn lost_answer(&self) -> LostAnswer {
        LostAnswer::SettledUncharged(
            Fault::ResetAfterWork,
            "Checkout Sessions cannot be looked up by our reference (client_reference_id is not \
             a list filter), and the buyer never got the URL: the session expires unpaid",
        )
    }

    async fn authorised(&self, pgm: &TestServer, shop_id: &str, amount: &str) -> Payment {
        let mut body = self.pay_body(shop_id, amount);
        body["providerData"] = json!({"captureMethod": "manual"});
        let answer = pgm.post("/stripe/stripe/pay", &body).await;
        let payment_id = answer.json()["paymentID"]
            .as_str()
            .expect(&answer.text)
            .to_owned();
        self.mock.complete_session(&payment_id).expect("buyer pays");
        Payment {
            shop_id: shop_id.into(),
            payment_id,
        }
    }
}
