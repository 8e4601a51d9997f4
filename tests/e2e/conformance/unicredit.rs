//! UniCredit (IGFS CG): pay calls Init at the mock and sends the buyer to the gateway's page;
//! the buyer's browser comes back to the PGM's callback (notifyURL / errorURL), an unsigned
//! trigger for Verify, whose answer is signed.

use crate::driver::{Books, Callbacks, Delivery, Driver, LostAnswer, Payment};
use async_trait::async_trait;
use pgm_e2e::TestServer;
use pgm_mocks::unicredit::{UnicreditMock, PAYMENT_PAGE, SERVICES};
use pgm_mocks::{Fault, MockServer};
use serde_json::{json, Value};

const TID: &str = "UNI_ECOM";
const KSIG: &str = "UNI_TESTKEY";

pub struct Unicredit {
    mock: UnicreditMock,
    server: MockServer,
}

pub async fn start() -> Unicredit {
    let mock = UnicreditMock::new(TID, KSIG);
    let server = MockServer::start(mock.router()).await;
    Unicredit { mock, server }
}

#[async_trait]
impl Driver for Unicredit {
    fn provider(&self) -> &'static str {
        "unicredit"
    }

    fn method(&self) -> &'static str {
        "credit-cards"
    }

    fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "UNICREDIT_PAYMENT_URL",
                format!("{}{SERVICES}", self.server.url),
            ),
            ("UNICREDIT_USER_ID", TID.into()),
            ("UNICREDIT_SECRET", KSIG.into()),
            ("UNICREDIT_TIMEOUT_MS", "400".into()),
        ]
    }

    fn pay_body(&self, shop_id: &str, amount: &str) -> Value {
        json!({"amount": amount, "shopTransactionID": shop_id, "buyerEmail": "ada@example.com"})
    }

    fn redirect_prefix(&self, _: &TestServer, _: &str) -> String {
        format!("{PAYMENT_PAGE}?referenceData=")
    }

    async fn buyer(&self, _: &TestServer, payment: &Payment, approves: bool) {
        let done = if approves {
            self.mock.approve(&payment.payment_id)
        } else {
            self.mock.decline(&payment.payment_id)
        };
        assert!(done, "the buyer decides on {}", payment.payment_id);
    }

    async fn books(&self, _: &TestServer, _: &Payment) -> Books {
        let payments = self.mock.payments();
        Books {
            created: self.mock.created(),
            charged: payments.iter().filter(|p| p.captured_minor > 0).count(),
            refunded_minor: payments.iter().map(|p| p.refunded_minor).sum(),
        }
    }

    fn callbacks(&self) -> Callbacks {
        Callbacks::Trigger(
            "IGFS CG sends the buyer's browser back to notifyURL/errorURL with nothing signed: \
             the PGM believes only Verify's signed answer",
        )
    }

    async fn callback(&self, _: &TestServer, payment: &Payment) -> Delivery {
        Delivery::get(
            self.mock
                .return_url(&payment.payment_id)
                .expect("a return URL"),
        )
    }

    fn outage(&self, fault: Fault, _: &mut Value) -> Result<(), &'static str> {
        self.server.faults.push(fault);
        Ok(())
    }

    fn lost_answer(&self) -> LostAnswer {
        LostAnswer::SettledUncharged(
            Fault::ResetAfterWork,
            "Verify takes the gateway's paymentID only (no lookup by shopID), and the buyer \
             never got the redirect URL: nothing can be paid",
        )
    }

    async fn authorised(&self, pgm: &TestServer, shop_id: &str, amount: &str) -> Payment {
        let mut body = self.pay_body(shop_id, amount);
        body["providerData"] = json!({"captureMethod": "manual"});
        let answer = pgm.post("/unicredit/credit-cards/pay", &body).await;
        let payment_id = answer.json()["paymentID"]
            .as_str()
            .expect(&answer.text)
            .to_owned();
        assert!(self.mock.approve(&payment_id));
        Payment {
            shop_id: shop_id.into(),
            payment_id,
        }
    }
}
