//! BPC api2: pay creates a Payment with a card that needs 3-D Secure, so the buyer is sent to
//! the mock's ACS; BPC's webhook is signed `X-Signature` (hex HMAC-SHA256 of the body, no
//! timestamp); a create whose answer was lost is found by the reference in its metadata.

use crate::driver::{Books, Callbacks, Delivery, Driver, LostAnswer, Payment};
use async_trait::async_trait;
use pgm_e2e::TestServer;
use pgm_mocks::bpc::{event_body_for, signature, BpcMock, CARD_3DS, CARD_OK, TEST_API_KEY};
use pgm_mocks::Fault;
use serde_json::{json, Value};

const WEBHOOK_SECRET: &str = "bpc_whsec_conformance";

pub struct Bpc {
    mock: BpcMock,
}

pub async fn start() -> Bpc {
    Bpc {
        mock: BpcMock::start().await,
    }
}

fn card(number: &str) -> Value {
    json!({"number": number, "expiryMonth": 12, "expiryYear": 2030, "cvc": "123"})
}

impl Bpc {
    fn event(&self, pgm: &TestServer, body: String, signature: Option<String>) -> Delivery {
        let headers = signature
            .map(|s| vec![("x-signature", s)])
            .unwrap_or_default();
        Delivery::post_json(format!("{}/bpc/callback", pgm.url), headers, body)
    }

    /// `payment.succeeded` claiming the payment is paid, whatever it is.
    fn claimed_paid(&self, payment: &Payment) -> String {
        let mut object = self
            .mock
            .payment_json(&payment.payment_id)
            .expect("payment");
        object["status"] = json!("succeeded");
        object["amountReceived"] = object["amount"].clone();
        event_body_for("payment.succeeded", object)
    }
}

#[async_trait]
impl Driver for Bpc {
    fn provider(&self) -> &'static str {
        "bpc"
    }

    fn method(&self) -> &'static str {
        "credit-cards"
    }

    fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("BPC_BASE_URL", self.mock.url()),
            ("BPC_API_KEY", TEST_API_KEY.into()),
            ("BPC_WEBHOOK_SECRET", WEBHOOK_SECRET.into()),
            ("BPC_TIMEOUT_MS", "400".into()),
        ]
    }

    fn pay_body(&self, shop_id: &str, amount: &str) -> Value {
        json!({
            "amount": amount,
            "shopTransactionID": shop_id,
            "buyerName": "Ada Lovelace",
            "buyerEmail": "ada@example.com",
            "successRedirect": "https://shop.example/back",
            "providerData": {"card": card(CARD_3DS)},
        })
    }

    fn redirect_prefix(&self, _: &TestServer, payment_id: &str) -> String {
        format!("{}/acs/{payment_id}", self.mock.server.url)
    }

    async fn buyer(&self, _: &TestServer, payment: &Payment, approves: bool) {
        self.mock
            .complete_3ds(&payment.payment_id, approves)
            .expect("the buyer completes 3-D Secure");
    }

    async fn books(&self, _: &TestServer, _: &Payment) -> Books {
        Books {
            created: self.mock.payments_created(),
            charged: self.mock.charges(),
            refunded_minor: self.mock.refunds().iter().map(|r| r.amount).sum(),
        }
    }

    fn callbacks(&self) -> Callbacks {
        Callbacks::Signed
    }

    async fn callback(&self, pgm: &TestServer, payment: &Payment) -> Delivery {
        let object = self
            .mock
            .payment_json(&payment.payment_id)
            .expect("payment");
        let event_type = match object["status"].as_str() {
            Some("succeeded") => "payment.succeeded",
            Some("failed") => "payment.failed",
            Some("canceled") => "payment.canceled",
            _ => "payment.created",
        };
        let body = event_body_for(event_type, object);
        let sig = signature(WEBHOOK_SECRET, &body);
        self.event(pgm, body, Some(sig))
    }

    fn forged(&self, pgm: &TestServer, payment: &Payment) -> Vec<Delivery> {
        let body = self.claimed_paid(payment);
        let tampered = body.replace("\"succeeded\"", "\"succeeded\" ");
        vec![
            self.event(pgm, body.clone(), Some(signature("someone_else", &body))),
            self.event(pgm, tampered, Some(signature(WEBHOOK_SECRET, &body))),
            self.event(pgm, body.clone(), Some("not-hex".into())),
            self.event(pgm, body, None),
        ]
    }

    fn stale(&self, _: &TestServer, _: &Payment) -> Result<Delivery, &'static str> {
        Err("BPC's X-Signature covers the body only: there is no timestamp to be stale")
    }

    fn outage(&self, fault: Fault, _: &mut Value) -> Result<(), &'static str> {
        self.mock.server.faults.push(fault);
        Ok(())
    }

    fn lost_answer(&self) -> LostAnswer {
        LostAnswer::FoundByCheck(Fault::ResetAfterWork)
    }

    async fn authorised(&self, pgm: &TestServer, shop_id: &str, amount: &str) -> Payment {
        let mut body = self.pay_body(shop_id, amount);
        body["providerData"] = json!({"card": card(CARD_OK), "captureMethod": "manual"});
        let answer = pgm.post("/bpc/credit-cards/pay", &body).await;
        assert_eq!(answer.json()["result"], "OK", "{}", answer.text);
        Payment {
            shop_id: shop_id.into(),
            payment_id: answer.json()["paymentID"]
                .as_str()
                .expect(&answer.text)
                .to_owned(),
        }
    }
}
