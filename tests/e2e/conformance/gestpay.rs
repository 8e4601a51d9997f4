//! GestPay (Axerve): pay creates a payment at the mock and sends the buyer to Axerve's hosted
//! page; Axerve's server notification is an unsigned GET, only a trigger for `payment/detail`.

use crate::driver::{Books, Callbacks, Delivery, Driver, LostAnswer, Payment};
use async_trait::async_trait;
use pgm_e2e::TestServer;
use pgm_mocks::axerve::{AxerveMock, API_PREFIX, PAYMENT_PAGE};
use pgm_mocks::{Fault, MockServer};
use serde_json::{json, Value};

const SHOP_LOGIN: &str = "GESPAY80790";
const API_KEY: &str = "R0VTUEFZODA3OTAjI0VzZXJjZW50ZQ==";

pub struct Gestpay {
    mock: AxerveMock,
    server: MockServer,
}

pub async fn start() -> Gestpay {
    let mock = AxerveMock::new(SHOP_LOGIN, API_KEY);
    let server = MockServer::start(mock.router()).await;
    Gestpay { mock, server }
}

#[async_trait]
impl Driver for Gestpay {
    fn provider(&self) -> &'static str {
        "gestpay"
    }

    fn method(&self) -> &'static str {
        "credit-cards"
    }

    fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("GESTPAY_IS_SANDBOX", "true".into()),
            (
                "GESTPAY_BASE_URL",
                format!("{}{API_PREFIX}", self.server.url),
            ),
            ("GESTPAY_API_KEY", API_KEY.into()),
            ("GESTPAY_SHOP_LOGIN", SHOP_LOGIN.into()),
            ("GESTPAY_TIMEOUT_MS", "400".into()),
        ]
    }

    fn pay_body(&self, shop_id: &str, amount: &str) -> Value {
        json!({
            "amount": amount,
            "shopTransactionID": shop_id,
            "buyerName": "Ada Lovelace",
            "buyerEmail": "ada@example.com",
            "successRedirect": "https://shop.example/ok",
            "failureRedirect": "https://shop.example/ko",
        })
    }

    fn redirect_prefix(&self, _: &TestServer, payment_id: &str) -> String {
        format!("{PAYMENT_PAGE}?paymentID={payment_id}&")
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
            created: self.mock.created_payments(),
            charged: payments.iter().filter(|p| p.captured_minor > 0).count(),
            refunded_minor: payments.iter().map(|p| p.refunded_minor).sum(),
        }
    }

    fn callbacks(&self) -> Callbacks {
        Callbacks::Trigger(
            "Axerve's server notification is an unsigned GET carrying an encrypted string the \
             PGM does not decrypt: the PGM believes only payment/detail",
        )
    }

    async fn callback(&self, _: &TestServer, payment: &Payment) -> Delivery {
        Delivery::get(
            self.mock
                .notification_url(&payment.payment_id)
                .expect("a notification URL"),
        )
    }

    fn outage(&self, fault: Fault, _: &mut Value) -> Result<(), &'static str> {
        self.server.faults.push(fault);
        Ok(())
    }

    fn lost_answer(&self) -> LostAnswer {
        LostAnswer::FoundByCheck(Fault::ResetAfterWork)
    }

    async fn authorised(&self, pgm: &TestServer, shop_id: &str, amount: &str) -> Payment {
        // A shop that settles by payment/capture: approval only authorises (AUT).
        self.mock.set_auto_settle(false);
        let answer = pgm
            .post("/gestpay/credit-cards/pay", &self.pay_body(shop_id, amount))
            .await;
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
