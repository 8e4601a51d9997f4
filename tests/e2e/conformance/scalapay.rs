//! Scalapay: pay creates an order at the mock; the buyer authorises the plan there; the PGM
//! captures on Scalapay's webhook (signed `x-scalapay-hmac-v1` with the API key) or on check.

use crate::driver::{Books, Callbacks, Delivery, Driver, LostAnswer, Payment};
use async_trait::async_trait;
use pgm_core::clock::now_ms;
use pgm_e2e::TestServer;
use pgm_mocks::scalapay::{hmac_v1, ScalapayMock, SANDBOX_API_KEY};
use pgm_mocks::Fault;
use serde_json::{json, Value};

pub struct Scalapay {
    mock: ScalapayMock,
}

pub async fn start() -> Scalapay {
    Scalapay {
        mock: ScalapayMock::start().await,
    }
}

fn webhook(pgm: &TestServer, body: &str, timestamp: &str, signature: String) -> Delivery {
    Delivery::post_json(
        format!("{}/scalapay/callback", pgm.url),
        vec![
            ("x-scalapay-timestamp", timestamp.to_owned()),
            ("x-scalapay-hmac-v1", signature),
        ],
        body.to_owned(),
    )
}

impl Scalapay {
    fn claimed_charged(&self, payment: &Payment) -> String {
        let mut claimed: Value =
            serde_json::from_str(&self.mock.webhook_body(&payment.payment_id).expect("order"))
                .expect("JSON");
        claimed["status"] = json!("charged");
        claimed.to_string()
    }
}

#[async_trait]
impl Driver for Scalapay {
    fn provider(&self) -> &'static str {
        "scalapay"
    }

    fn method(&self) -> &'static str {
        "scalapay"
    }

    fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("SCALAPAY_BASE_URL", self.mock.url().to_owned()),
            ("SCALAPAY_API_KEY", SANDBOX_API_KEY.into()),
            (
                "SCALAPAY_SUCCESS_REDIRECT_URL",
                "https://shop.example/thanks".into(),
            ),
            (
                "SCALAPAY_FAILURE_REDIRECT_URL",
                "https://shop.example/sorry".into(),
            ),
            ("SCALAPAY_TIMEOUT_MS", "400".into()),
        ]
    }

    fn pay_body(&self, shop_id: &str, amount: &str) -> Value {
        json!({
            "amount": amount,
            "shopTransactionID": shop_id,
            "buyerEmail": "ada@example.com",
            "providerData": {
                "consumer": {"givenNames": "Ada", "surname": "Lovelace", "phoneNumber": "+393331234567"},
                "shipping": {"name": "Ada Lovelace", "countryCode": "IT", "postcode": "20100",
                             "suburb": "Milano", "line1": "Via Roma 1", "phoneNumber": "+393331234567"},
            },
        })
    }

    fn redirect_prefix(&self, _: &TestServer, payment_id: &str) -> String {
        format!("{}/checkout/{payment_id}", self.mock.url())
    }

    async fn buyer(&self, _: &TestServer, payment: &Payment, approves: bool) {
        if approves {
            self.mock.authorize_order(&payment.payment_id)
        } else {
            self.mock.decline_order(&payment.payment_id)
        }
        .expect("the buyer decides");
    }

    async fn books(&self, _: &TestServer, payment: &Payment) -> Books {
        // Each suite has its own mock: its orders and captures are this payment's.
        Books {
            created: self.mock.orders_created(),
            charged: self.mock.captures(),
            refunded_minor: self
                .mock
                .refunds(&payment.payment_id)
                .iter()
                .map(|r| r.amount_minor)
                .sum(),
        }
    }

    fn callbacks(&self) -> Callbacks {
        Callbacks::Signed
    }

    async fn callback(&self, pgm: &TestServer, payment: &Payment) -> Delivery {
        let body = self.mock.webhook_body(&payment.payment_id).expect("order");
        let timestamp = now_ms().to_string();
        let signature = hmac_v1(SANDBOX_API_KEY, &timestamp, &body);
        webhook(pgm, &body, &timestamp, signature)
    }

    fn forged(&self, pgm: &TestServer, payment: &Payment) -> Vec<Delivery> {
        let forged = self.claimed_charged(payment);
        let genuine = self.mock.webhook_body(&payment.payment_id).expect("order");
        let ts = now_ms().to_string();
        vec![
            webhook(
                pgm,
                &forged,
                &ts,
                hmac_v1("another-merchants-key", &ts, &forged),
            ),
            webhook(pgm, &forged, &ts, hmac_v1(SANDBOX_API_KEY, &ts, &genuine)),
            webhook(
                pgm,
                &forged,
                "yesterday",
                hmac_v1(SANDBOX_API_KEY, "yesterday", &forged),
            ),
            Delivery::post_json(format!("{}/scalapay/callback", pgm.url), vec![], forged),
        ]
    }

    fn stale(&self, _: &TestServer, _: &Payment) -> Result<Delivery, &'static str> {
        Err(
            "Scalapay documents no freshness window and redelivers with growing delays, so an \
             old timestamp is not refused",
        )
    }

    fn outage(&self, fault: Fault, _: &mut Value) -> Result<(), &'static str> {
        self.mock.server.faults.push(fault);
        Ok(())
    }

    fn lost_answer(&self) -> LostAnswer {
        LostAnswer::FoundByCheck(Fault::ResetAfterWork)
    }

    async fn authorised(&self, _: &TestServer, _: &str, _: &str) -> Payment {
        unreachable!("Scalapay's adapter captures at once: the registry says it has no confirm")
    }
}
