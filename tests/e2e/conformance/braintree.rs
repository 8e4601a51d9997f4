//! Braintree: the buyer approves in the merchant's front end (a nonce), so pay decides at once;
//! "the buyer" here is Braintree's settlement batch (the mock settles the sale), and Braintree's
//! webhooks are the official SDK's `webhook_testing.sample_notification`, signed with the
//! private key (HMAC-SHA1), without any freshness to check.

use crate::driver::{Books, Callbacks, Delivery, Driver, LostAnswer, Payment};
use async_trait::async_trait;
use pgm_e2e::{Answer, TestServer};
use pgm_mocks::braintree::{
    BraintreeMock, DECLINED_NONCE, MERCHANT_ACCOUNT_ID, MERCHANT_ID, PAYPAL_NONCE, PRIVATE_KEY,
    PUBLIC_KEY,
};
use pgm_mocks::Fault;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

pub struct Braintree {
    mock: BraintreeMock,
}

pub async fn start() -> Braintree {
    Braintree {
        mock: BraintreeMock::start().await,
    }
}

/// The SDK's sample notification (`bt_signature`, `bt_payload`), signed with `private_key`.
fn sdk_webhook(kind: &str, id: &str, private_key: &str) -> (String, String) {
    let python = std::env::var("PGM_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("sdk/braintree_sdk.py");
    let out = Command::new(&python)
        .arg(script)
        .args(["webhook", "--kind", kind, "--id", id])
        .args(["--public-key", PUBLIC_KEY, "--private-key", private_key])
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{python}`: {e}"));
    assert!(
        out.status.success(),
        "braintree_sdk.py webhook failed; is the SDK installed (scripts/test installs it)?\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    (
        v["bt_signature"].as_str().unwrap().to_owned(),
        v["bt_payload"].as_str().unwrap().to_owned(),
    )
}

/// Braintree posts its webhooks as a form.
fn form(pgm: &TestServer, signature: &str, payload: &str) -> Delivery {
    let body = serde_urlencoded::to_string([("bt_signature", signature), ("bt_payload", payload)])
        .unwrap();
    Delivery::post_form(format!("{}/braintree/callback", pgm.url), body)
}

#[async_trait]
impl Driver for Braintree {
    fn provider(&self) -> &'static str {
        "braintree"
    }

    fn method(&self) -> &'static str {
        "pay-pal"
    }

    fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("BRAINTREE_BASE_URL", self.mock.url().to_owned()),
            ("BRAINTREE_MERCHANT_ID", MERCHANT_ID.into()),
            ("BRAINTREE_MERCHANT_ACCOUNT_ID", MERCHANT_ACCOUNT_ID.into()),
            ("BRAINTREE_PUBLIC_KEY", PUBLIC_KEY.into()),
            ("BRAINTREE_PRIVATE_KEY", PRIVATE_KEY.into()),
            ("BRAINTREE_TIMEOUT_MS", "400".into()),
        ]
    }

    fn pay_body(&self, shop_id: &str, amount: &str) -> Value {
        json!({
            "amount": amount,
            "shopTransactionID": shop_id,
            "brainTreeDataRequest": {"nonce": PAYPAL_NONCE, "deviceData": "{\"correlation_id\":\"cf\"}"},
        })
    }

    fn decided_before_pay(&self) -> Option<&'static str> {
        Some("the buyer approves in the merchant's front end (Drop-in gives a nonce); the sale decides at once")
    }

    fn declined_body(&self, shop_id: &str, amount: &str) -> Value {
        json!({
            "amount": amount,
            "shopTransactionID": shop_id,
            "brainTreeDataRequest": {"nonce": DECLINED_NONCE},
        })
    }

    fn redirect_prefix(&self, _: &TestServer, _: &str) -> String {
        String::new()
    }

    /// What happens after the pay is Braintree's settlement: approved sales settle.
    async fn buyer(&self, _: &TestServer, payment: &Payment, approves: bool) {
        if approves {
            self.mock.settle(&payment.payment_id).expect("settles");
        }
    }

    async fn books(&self, _: &TestServer, payment: &Payment) -> Books {
        let sales = self.mock.sales_for(&payment.shop_id);
        Books {
            created: sales.len(),
            charged: sales
                .iter()
                .filter(|t| {
                    ["submitted_for_settlement", "settling", "settled"].contains(&t.status.as_str())
                })
                .count(),
            refunded_minor: self.mock.refunded_minor(&payment.shop_id),
        }
    }

    fn callbacks(&self) -> Callbacks {
        Callbacks::Signed
    }

    async fn callback(&self, pgm: &TestServer, payment: &Payment) -> Delivery {
        let kind = match self.mock.transaction(&payment.payment_id) {
            Some(t) if t.status == "settlement_declined" => "transaction_settlement_declined",
            _ => "transaction_settled",
        };
        let (sig, payload) = sdk_webhook(kind, &payment.payment_id, PRIVATE_KEY);
        form(pgm, &sig, &payload)
    }

    /// Each claims the settlement was declined (which, believed, would fail the payment).
    fn forged(&self, pgm: &TestServer, payment: &Payment) -> Vec<Delivery> {
        let kind = "transaction_settlement_declined";
        let (theirs, payload) = sdk_webhook(kind, &payment.payment_id, "someone-elses-key");
        let (ours, _) = sdk_webhook(kind, "another-tx", PRIVATE_KEY);
        let other_public = theirs.replacen(PUBLIC_KEY, "other_public_key", 1);
        vec![
            form(pgm, &theirs, &payload),
            // Our genuine signature of another payload.
            form(pgm, &ours, &payload),
            form(pgm, &other_public, &payload),
            form(pgm, "", &payload),
            form(pgm, &ours, &format!("<{payload}")),
        ]
    }

    fn stale(&self, _: &TestServer, _: &Payment) -> Result<Delivery, &'static str> {
        Err(
            "Braintree's webhook signature covers no timestamp and its SDKs check no freshness: \
             a late delivery is a replay",
        )
    }

    fn outage(&self, fault: Fault, _: &mut Value) -> Result<(), &'static str> {
        self.mock.fault(fault);
        Ok(())
    }

    fn lost_answer(&self) -> LostAnswer {
        LostAnswer::FoundByCheck(Fault::ResetAfterWork)
    }

    async fn authorised(&self, pgm: &TestServer, shop_id: &str, amount: &str) -> Payment {
        let mut body = self.pay_body(shop_id, amount);
        body["providerData"] = json!({"submitForSettlement": false});
        let answer: Answer = pgm.post("/braintree/pay-pal/pay", &body).await;
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
