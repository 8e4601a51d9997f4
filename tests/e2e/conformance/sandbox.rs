//! The built-in sandbox: it is its own provider, in process. Pay with `tok_3ds` sends the
//! buyer to the hosted 3DS page, whose decision comes back as a callback signed
//! `Sandbox-Signature` (300 s tolerance); its books are at `GET /sandbox/charges`.

use crate::driver::{Books, Callbacks, Delivery, Driver, LostAnswer, Payment};
use async_trait::async_trait;
use pgm_core::clock::now_ms;
use pgm_core::signing::sign_timestamped;
use pgm_e2e::{TestServer, SANDBOX_SECRET};
use pgm_mocks::Fault;
use serde_json::{json, Value};

pub struct Sandbox;

pub async fn start() -> Sandbox {
    Sandbox
}

fn callback(pgm: &TestServer, p: &Payment, status: &str, secret: &str, t: i64) -> Delivery {
    let body = json!({"chargeId": p.payment_id, "reference": p.shop_id, "status": status});
    let body = body.to_string();
    let signature = sign_timestamped(secret.as_bytes(), t, body.as_bytes());
    Delivery::post_json(
        format!("{}/sandbox/callback", pgm.url),
        vec![("sandbox-signature", signature)],
        body,
    )
}

fn now_secs() -> i64 {
    now_ms() / 1000
}

#[async_trait]
impl Driver for Sandbox {
    fn provider(&self) -> &'static str {
        "sandbox"
    }

    fn method(&self) -> &'static str {
        "credit-cards"
    }

    fn settings(&self) -> Vec<(&'static str, String)> {
        // TestServer gives the sandbox SANDBOX_SECRET already.
        Vec::new()
    }

    fn pay_body(&self, shop_id: &str, amount: &str) -> Value {
        json!({"amount": amount, "shopTransactionID": shop_id, "creditCardToken": "tok_3ds"})
    }

    fn redirect_prefix(&self, pgm: &TestServer, payment_id: &str) -> String {
        format!("{}/sandbox/3ds/{payment_id}", pgm.url)
    }

    /// Opens the hosted page and submits its form (with the page's token) as the browser
    /// does; the sandbox then calls back.
    async fn buyer(&self, pgm: &TestServer, payment: &Payment, approves: bool) {
        let decision = if approves { "approve" } else { "decline" };
        let page = self.redirect_prefix(pgm, &payment.payment_id);
        let html = pgm.send(pgm.client.get(&page)).await;
        assert_eq!(html.status, 200, "{}", html.text);
        let form = pgm_mocks::sandbox_page::decision_form(&html.text, decision);
        let answer = pgm
            .send(
                pgm.client
                    .post(page)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(form),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
    }

    async fn books(&self, pgm: &TestServer, payment: &Payment) -> Books {
        let charges = pgm.sandbox_charges(&payment.shop_id).await;
        Books {
            created: charges.len(),
            charged: charges
                .iter()
                .filter(|c| c["captured_minor"].as_i64() > Some(0))
                .count(),
            refunded_minor: charges
                .iter()
                .flat_map(|c| c["refunds"].as_array().cloned().unwrap_or_default())
                .filter_map(|r| r["amount_minor"].as_i64())
                .sum(),
        }
    }

    fn callbacks(&self) -> Callbacks {
        Callbacks::Signed
    }

    /// The callback the hosted page sent, as the sandbox's books say now.
    async fn callback(&self, pgm: &TestServer, payment: &Payment) -> Delivery {
        let charges = pgm.sandbox_charges(&payment.shop_id).await;
        let status = charges
            .iter()
            .find(|c| c["id"] == payment.payment_id.as_str())
            .and_then(|c| c["status"].as_str())
            .expect("the charge")
            .to_owned();
        callback(pgm, payment, &status, SANDBOX_SECRET, now_secs())
    }

    fn forged(&self, pgm: &TestServer, p: &Payment) -> Vec<Delivery> {
        let now = now_secs();
        let mut tampered = callback(pgm, p, "DECLINED", SANDBOX_SECRET, now);
        tampered.body = tampered.body.replace("DECLINED", "CAPTURED");
        vec![
            callback(pgm, p, "CAPTURED", "wrong-secret", now),
            tampered,
            Delivery::get(format!(
                "{}/sandbox/callback?chargeId={}&reference={}&status=CAPTURED",
                pgm.url, p.payment_id, p.shop_id
            )),
        ]
    }

    fn stale(&self, pgm: &TestServer, p: &Payment) -> Result<Delivery, &'static str> {
        Ok(callback(
            pgm,
            p,
            "CAPTURED",
            SANDBOX_SECRET,
            now_secs() - 301,
        ))
    }

    fn outage(&self, fault: Fault, body: &mut Value) -> Result<(), &'static str> {
        match fault {
            // The sandbox's way of failing as a 5xx would, before charging anything.
            Fault::Unavailable => {
                body["creditCardToken"] = json!("tok_unavailable");
                Ok(())
            }
            _ => Err("the sandbox runs in process: no network to time out or lose an answer on"),
        }
    }

    fn lost_answer(&self) -> LostAnswer {
        LostAnswer::Impossible(
            "the sandbox runs in process: no network between the PGM and it to lose an answer on",
        )
    }

    async fn authorised(&self, pgm: &TestServer, shop_id: &str, amount: &str) -> Payment {
        let body = json!({"amount": amount, "shopTransactionID": shop_id,
                          "creditCardToken": "tok_ok", "providerData": {"captureMethod": "manual"}});
        let answer = pgm.post("/sandbox/credit-cards/pay", &body).await;
        assert_eq!(answer.json()["result"], "OK", "{}", answer.text);
        Payment {
            shop_id: shop_id.into(),
            payment_id: answer.json()["paymentID"]
                .as_str()
                .expect("paymentID")
                .into(),
        }
    }
}
