//! Satispay: pay creates a MATCH_CODE payment at the mock (every request RSA-signed and
//! checked); the buyer accepts in the app; Satispay's callback is an unsigned GET trigger.

use crate::driver::{Books, Callbacks, Delivery, Driver, LostAnswer, Payment};
use async_trait::async_trait;
use pgm_e2e::TestServer;
use pgm_mocks::satispay::{SatispayMock, API_PREFIX, TEST_KEY_ID, TEST_PRIVATE_KEY_PEM, WEB_HOST};
use pgm_mocks::{Fault, MockServer};
use serde_json::{json, Value};

pub struct Satispay {
    mock: SatispayMock,
    server: MockServer,
}

pub async fn start() -> Satispay {
    let mock = SatispayMock::with_test_key();
    let server = MockServer::start(mock.router()).await;
    Satispay { mock, server }
}

#[async_trait]
impl Driver for Satispay {
    fn provider(&self) -> &'static str {
        "satispay"
    }

    fn method(&self) -> &'static str {
        "satispay"
    }

    fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("SATISPAY_IS_SANDBOX", "true".into()),
            (
                "SATISPAY_BASE_URL",
                format!("{}{API_PREFIX}", self.server.url),
            ),
            ("SATISPAY_KEY_ID", TEST_KEY_ID.into()),
            ("SATISPAY_PRIVATE_KEY", TEST_PRIVATE_KEY_PEM.into()),
            (
                "SATISPAY_AFTER_BUY_WEB_REDIRECT_URL",
                "https://shop.example/after-buy".into(),
            ),
            ("SATISPAY_TIMEOUT_MS", "400".into()),
        ]
    }

    fn pay_body(&self, shop_id: &str, amount: &str) -> Value {
        json!({"amount": amount, "shopTransactionID": shop_id})
    }

    fn redirect_prefix(&self, _: &TestServer, payment_id: &str) -> String {
        format!("{WEB_HOST}/pay/{payment_id}")
    }

    async fn buyer(&self, _: &TestServer, payment: &Payment, approves: bool) {
        let done = if approves {
            self.mock.accept(&payment.payment_id)
        } else {
            self.mock.cancel(&payment.payment_id)
        };
        assert!(done, "the buyer decides on {}", payment.payment_id);
    }

    async fn books(&self, _: &TestServer, _: &Payment) -> Books {
        // Refunds are payments too (REFUND_TO_BUSINESS): only the buyer's payments count.
        let paid: Vec<_> = self
            .mock
            .payments()
            .into_iter()
            .filter(|p| p.kind == "TO_BUSINESS")
            .collect();
        Books {
            created: paid.len(),
            charged: paid.iter().filter(|p| p.status == "ACCEPTED").count(),
            refunded_minor: paid.iter().map(|p| p.refunded_unit).sum(),
        }
    }

    fn callbacks(&self) -> Callbacks {
        Callbacks::Trigger(
            "Satispay's callback is an unsigned GET naming the payment: the PGM believes only \
             GET /payments/{id}",
        )
    }

    async fn callback(&self, _: &TestServer, payment: &Payment) -> Delivery {
        Delivery::get(
            self.mock
                .callback_url(&payment.payment_id)
                .expect("a callback URL"),
        )
    }

    fn outage(&self, fault: Fault, _: &mut Value) -> Result<(), &'static str> {
        self.server.faults.push(fault);
        Ok(())
    }

    fn lost_answer(&self) -> LostAnswer {
        LostAnswer::FoundByCheck(Fault::ResetAfterWork)
    }

    async fn authorised(&self, _: &TestServer, _: &str, _: &str) -> Payment {
        unreachable!("Satispay's adapter does not capture: the registry says so")
    }
}
