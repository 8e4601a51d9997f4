//! Soisy: pay creates a loan application (an order) at the mock, which checks the shop id, the
//! X-Auth-Token and the form; the buyer applies on Soisy's web app and Soisy (the mock) moves the
//! order; its callback is an unsigned form POST, only a trigger for reading the order.

use crate::driver::{Books, Callbacks, Delivery, Driver, LostAnswer, Payment};
use async_trait::async_trait;
use pgm_e2e::TestServer;
use pgm_mocks::soisy::{SoisyMock, SANDBOX_PARTNER_KEY, SANDBOX_SHOP_ID, WEBAPP};
use pgm_mocks::{Fault, MockServer};
use serde_json::{json, Value};

pub struct Soisy {
    mock: SoisyMock,
    server: MockServer,
}

pub async fn start() -> Soisy {
    let mock = SoisyMock::default();
    let server = MockServer::start(mock.router()).await;
    Soisy { mock, server }
}

#[async_trait]
impl Driver for Soisy {
    fn provider(&self) -> &'static str {
        "soisy"
    }

    fn method(&self) -> &'static str {
        "soisy"
    }

    fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("SOISY_BASE_URL", self.server.url.clone()),
            ("SOISY_SHOP_ID", SANDBOX_SHOP_ID.into()),
            ("SOISY_PARTNER_KEY", SANDBOX_PARTNER_KEY.into()),
            ("SOISY_TIMEOUT_MS", "400".into()),
        ]
    }

    fn pay_body(&self, shop_id: &str, amount: &str) -> Value {
        json!({"amount": amount, "shopTransactionID": shop_id, "buyerEmail": "ada@example.com",
               "providerData": {"instalments": 6}})
    }

    fn redirect_prefix(&self, _: &TestServer, payment_id: &str) -> String {
        format!("{WEBAPP}/{SANDBOX_SHOP_ID}#/loan-request?token={payment_id}")
    }

    /// Approving walks the loan through every documented step to disbursement; declining is
    /// Soisy rejecting the applicant's documents.
    async fn buyer(&self, _: &TestServer, payment: &Payment, approves: bool) {
        let steps: &[&str] = if approves {
            &[
                "LoanWasApproved",
                "RequestCompleted",
                "LoanWasVerified",
                "LoanWasDisbursed",
            ]
        } else {
            &["LoanWasApproved", "UserWasRejected"]
        };
        for step in steps {
            self.mock
                .event(&payment.payment_id, step)
                .expect("Soisy moves the order");
        }
    }

    async fn books(&self, _: &TestServer, _: &Payment) -> Books {
        let orders = self.mock.orders();
        Books {
            created: orders.len(),
            charged: orders.iter().filter(|o| o.status == "disbursed").count(),
            refunded_minor: 0,
        }
    }

    fn callbacks(&self) -> Callbacks {
        Callbacks::Trigger(
            "Soisy's callback is an unsigned form naming the order: the PGM believes only \
             GET /api/shops/{shopId}/orders/{token}",
        )
    }

    async fn callback(&self, pgm: &TestServer, payment: &Payment) -> Delivery {
        let order = self.mock.order(&payment.payment_id).expect("order");
        let event = match order.status.as_str() {
            "disbursed" => ("LoanWasDisbursed", "payment received"),
            "cancelled" => ("UserWasRejected", "documents check KO"),
            _ => ("LoanWasApproved", "loan approved"),
        };
        let cb = self
            .mock
            .callback(&payment.payment_id, event.0, event.1)
            .expect("callback");
        assert_eq!(cb.url, format!("{}/soisy/callback", pgm.url));
        Delivery::post_form(cb.url, cb.body)
    }

    fn outage(&self, fault: Fault, _: &mut Value) -> Result<(), &'static str> {
        self.server.faults.push(fault);
        Ok(())
    }

    fn lost_answer(&self) -> LostAnswer {
        LostAnswer::FoundByCheck(Fault::ResetAfterWork)
    }

    async fn authorised(&self, _: &TestServer, _: &str, _: &str) -> Payment {
        unreachable!("Soisy has no capture: the registry says it has no confirm")
    }
}
