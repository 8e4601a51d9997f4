//! Paymentz: pay sends the card server-to-server with a checksum; the 3-D Secure test card
//! gets a `3D` answer and the buyer is sent to the ACS page. Paymentz's notification carries
//! an MD5 checksum keyed with the secure key (no timestamp).

use crate::driver::{Books, Callbacks, Delivery, Driver, LostAnswer, Payment};
use async_trait::async_trait;
use pgm_e2e::TestServer;
use pgm_mocks::paymentz::{PaymentzMock, ACS_PAGE, CARD_3DS};
use pgm_mocks::{Fault, MockServer};
use serde_json::{json, Value};

const PARTNER_ID: &str = "197";
const USERNAME: &str = "pgm-merchant";
const MEMBER_ID: &str = "11359";
const SECURE_KEY: &str = "pz_secure_conformance";

pub struct Paymentz {
    mock: PaymentzMock,
    server: MockServer,
}

pub async fn start() -> Paymentz {
    let mock = PaymentzMock::new(PARTNER_ID, USERNAME, MEMBER_ID, SECURE_KEY);
    let server = MockServer::start(mock.router()).await;
    Paymentz { mock, server }
}

impl Paymentz {
    fn deliver(&self, pgm: &TestServer, body: String) -> Delivery {
        Delivery::post_json(format!("{}/paymentz/callback", pgm.url), Vec::new(), body)
    }

    /// The notification of an unpaid payment, rewritten to claim it was paid.
    fn claimed_paid(&self, payment: &Payment, key: &str) -> String {
        let (_, body) = self
            .mock
            .notification(&payment.payment_id)
            .expect("notification");
        let mut v: Value = serde_json::from_str(&body).unwrap();
        v["status"] = json!("capturesuccess");
        v["transactionStatus"] = json!("Y");
        let sum = pgm_providers::paymentz::checksum(&[
            v["paymentId"].as_str().unwrap(),
            v["merchantTransactionId"].as_str().unwrap(),
            v["amount"].as_str().unwrap(),
            "Y",
            key,
        ]);
        v["checksum"] = json!(sum);
        v.to_string()
    }
}

#[async_trait]
impl Driver for Paymentz {
    fn provider(&self) -> &'static str {
        "paymentz"
    }

    fn method(&self) -> &'static str {
        "credit-cards"
    }

    fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("PAYMENTZ_BASE_URL", self.server.url.clone()),
            ("PAYMENTZ_PARTNER_ID", PARTNER_ID.into()),
            ("PAYMENTZ_USERNAME", USERNAME.into()),
            ("PAYMENTZ_MEMBER_ID", MEMBER_ID.into()),
            ("PAYMENTZ_SECURE_KEY", SECURE_KEY.into()),
            ("PAYMENTZ_TIMEOUT_MS", "400".into()),
        ]
    }

    fn pay_body(&self, shop_id: &str, amount: &str) -> Value {
        json!({
            "amount": amount,
            "shopTransactionID": shop_id,
            "buyerEmail": "ada@example.com",
            "successRedirect": "https://shop.example/back",
            "providerData": {
                "paymentBrand": "VISA",
                "card": {"number": CARD_3DS, "expiryMonth": "12", "expiryYear": "2030", "cvv": "123"}
            }
        })
    }

    fn redirect_prefix(&self, _: &TestServer, payment_id: &str) -> String {
        format!("{ACS_PAGE}?paymentId={payment_id}")
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
            created: payments.len(),
            charged: payments.iter().filter(|p| p.captured_minor > 0).count(),
            refunded_minor: payments.iter().map(|p| p.refunded_minor).sum(),
        }
    }

    fn callbacks(&self) -> Callbacks {
        Callbacks::Signed
    }

    async fn callback(&self, pgm: &TestServer, payment: &Payment) -> Delivery {
        let (url, body) = self
            .mock
            .notification(&payment.payment_id)
            .expect("notification");
        assert!(url.ends_with("/paymentz/callback"), "{url}");
        self.deliver(pgm, body)
    }

    fn forged(&self, pgm: &TestServer, payment: &Payment) -> Vec<Delivery> {
        let wrong_key = self.claimed_paid(payment, "someone-elses-key");
        // Signed for the real (unpaid) state, then edited to say "Y".
        let (_, genuine) = self.mock.notification(&payment.payment_id).unwrap();
        let mut edited: Value = serde_json::from_str(&genuine).unwrap();
        edited["transactionStatus"] = json!("Y");
        let mut unsigned = edited.clone();
        unsigned.as_object_mut().unwrap().remove("checksum");
        vec![
            self.deliver(pgm, wrong_key),
            self.deliver(pgm, edited.to_string()),
            self.deliver(pgm, unsigned.to_string()),
        ]
    }

    fn stale(&self, _: &TestServer, _: &Payment) -> Result<Delivery, &'static str> {
        Err("Paymentz's notification checksum covers no timestamp: there is no freshness window")
    }

    fn outage(&self, fault: Fault, _: &mut Value) -> Result<(), &'static str> {
        // The payment call, not the token fetch before it.
        self.mock.payment_faults.push(fault);
        Ok(())
    }

    fn lost_answer(&self) -> LostAnswer {
        LostAnswer::FoundByCheck(Fault::ResetAfterWork)
    }

    async fn authorised(&self, pgm: &TestServer, shop_id: &str, amount: &str) -> Payment {
        let mut body = self.pay_body(shop_id, amount);
        body["providerData"]["captureMethod"] = json!("manual");
        let answer = pgm.post("/paymentz/credit-cards/pay", &body).await;
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
