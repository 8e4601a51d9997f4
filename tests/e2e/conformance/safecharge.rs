//! SafeCharge (Nuvei): served only through the session routes (pay is 501). The suite opens a
//! session (`session/open` → openOrder at the mock); the buyer's browser pays in it as Nuvei's
//! Web SDK does (`payment.do` at the mock, `Sale`, or `Auth` for a pre-authorisation); Nuvei's
//! DMNs are signed with `advanceResponseChecksum` (the merchant secret first).

use crate::driver::{Books, Callbacks, Delivery, Driver, LostAnswer, Payment};
use async_trait::async_trait;
use pgm_e2e::TestServer;
use pgm_mocks::safecharge::{
    hash_hex, Hash, SafechargeMock, CARD_APPROVED, CARD_DECLINED, MERCHANT_ID, MERCHANT_SITE_ID,
    SECRET_KEY,
};
use pgm_mocks::Fault;
use serde_json::{json, Value};

pub struct Safecharge {
    mock: SafechargeMock,
}

pub async fn start() -> Safecharge {
    Safecharge {
        mock: SafechargeMock::start().await,
    }
}

fn dmn(pgm: &TestServer, pairs: &[(String, String)]) -> Delivery {
    Delivery::post_form(
        format!("{}/safecharge/callback", pgm.url),
        serde_urlencoded::to_string(pairs).expect("pairs encode"),
    )
}

fn set(pairs: &mut [(String, String)], name: &str, value: &str) {
    for (k, v) in pairs.iter_mut() {
        if k == name {
            *v = value.to_owned();
        }
    }
}

impl Safecharge {
    /// The buyer's browser pays in the session with `card`, as Nuvei's Web SDK does.
    async fn web_sdk_pays(&self, payment: &Payment, card: &str, kind: &str) -> Value {
        let body = self
            .mock
            .web_sdk_payment(&payment.payment_id, card, kind)
            .expect("the session exists at the mock");
        let answer: Value = reqwest::Client::new()
            .post(format!("{}/ppp/api/v1/payment.do", self.mock.url()))
            .json(&body)
            .send()
            .await
            .expect("payment.do")
            .json()
            .await
            .expect("JSON");
        assert_eq!(answer["status"], "SUCCESS", "{answer}");
        answer
    }

    /// A DMN claiming the (unpaid) session's Sale was approved: the pending DMN's fields with
    /// an approved status, whatever the checksum then says.
    fn claimed_approved(&self, payment: &Payment) -> Vec<(String, String)> {
        let mut pairs = self
            .mock
            .pending_dmn(&payment.payment_id)
            .expect("the session exists at the mock");
        set(&mut pairs, "Status", "APPROVED");
        set(&mut pairs, "ppp_status", "OK");
        set(&mut pairs, "transactionType", "Sale");
        pairs.push(("TransactionID".into(), "711999999".into()));
        pairs
    }

    /// `HASH(secret + the signed fields)`, or with the secret last when `secret_last`.
    fn checksum_of(pairs: &[(String, String)], secret: &str, secret_last: bool) -> String {
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .unwrap_or("")
        };
        let fields: String = [
            "totalAmount",
            "currency",
            "responseTimeStamp",
            "PPP_TransactionID",
            "Status",
            "productId",
        ]
        .iter()
        .map(|name| get(name))
        .collect();
        let text = if secret_last {
            format!("{fields}{secret}")
        } else {
            format!("{secret}{fields}")
        };
        hash_hex(Hash::Sha256, &text)
    }
}

#[async_trait]
impl Driver for Safecharge {
    fn provider(&self) -> &'static str {
        "safecharge"
    }

    fn method(&self) -> &'static str {
        "safecharge"
    }

    fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("SAFECHARGE_BASE_URL", self.mock.url().to_owned()),
            ("SAFECHARGE_MERCHANT_ID", MERCHANT_ID.into()),
            ("SAFECHARGE_MERCHANT_SITE_ID", MERCHANT_SITE_ID.into()),
            ("SAFECHARGE_MERCHANT_SECRET_KEY", SECRET_KEY.into()),
            ("SAFECHARGE_TIMEOUT_MS", "400".into()),
        ]
    }

    /// A session/open body: SafeCharge serves no pay.
    fn pay_body(&self, shop_id: &str, amount: &str) -> Value {
        json!({"shopTransactionID": shop_id, "amount": amount})
    }

    fn redirect_prefix(&self, _: &TestServer, _: &str) -> String {
        unreachable!("a session has no redirect: the buyer pays in it with Nuvei's Web SDK")
    }

    async fn buyer(&self, _: &TestServer, payment: &Payment, approves: bool) {
        let card = if approves {
            CARD_APPROVED
        } else {
            CARD_DECLINED
        };
        let paid = self.web_sdk_pays(payment, card, "Sale").await;
        let expected = if approves { "APPROVED" } else { "DECLINED" };
        assert_eq!(paid["transactionStatus"], expected, "{paid}");
    }

    async fn books(&self, _: &TestServer, payment: &Payment) -> Books {
        // Each suite has its own mock; the transactions are counted by our reference, so a
        // payment whose session token was lost is counted too.
        let txs: Vec<_> = self
            .mock
            .transactions()
            .into_iter()
            .filter(|t| t.client_unique_id == payment.shop_id && t.status == "APPROVED")
            .collect();
        Books {
            created: self.mock.orders_opened(),
            charged: txs
                .iter()
                .filter(|t| t.kind == "Sale" || t.kind == "Settle")
                .count(),
            refunded_minor: txs
                .iter()
                .filter(|t| t.kind == "Credit")
                .map(|t| {
                    let (int, frac) = t.amount.split_once('.').unwrap_or((&t.amount, ""));
                    int.parse::<i64>().unwrap() * 100
                        + format!("{frac:0<2}").parse::<i64>().unwrap()
                })
                .sum(),
        }
    }

    fn callbacks(&self) -> Callbacks {
        Callbacks::Signed
    }

    async fn callback(&self, pgm: &TestServer, payment: &Payment) -> Delivery {
        let pairs = match self.mock.payment_of(&payment.payment_id) {
            Some(tx) => self.mock.dmn(&tx.id),
            None => self
                .mock
                .pending_dmn(&payment.payment_id)
                .expect("the session exists at the mock"),
        };
        dmn(pgm, &pairs)
    }

    fn forged(&self, pgm: &TestServer, payment: &Payment) -> Vec<Delivery> {
        let claimed = self.claimed_approved(payment);
        let with_checksum = |checksum: String| {
            let mut pairs = claimed.clone();
            set(&mut pairs, "advanceResponseChecksum", &checksum);
            pairs
        };
        let genuine_pending = self
            .mock
            .pending_dmn(&payment.payment_id)
            .expect("the session exists at the mock");
        let without: Vec<_> = claimed
            .iter()
            .filter(|(k, _)| k != "advanceResponseChecksum")
            .cloned()
            .collect();
        vec![
            // Another merchant's secret.
            dmn(
                pgm,
                &with_checksum(Self::checksum_of(
                    &claimed,
                    "another-merchants-secret",
                    false,
                )),
            ),
            // The genuine PENDING DMN's checksum on an APPROVED claim.
            dmn(
                pgm,
                &with_checksum(Self::checksum_of(&genuine_pending, SECRET_KEY, false)),
            ),
            // The secret appended instead of prepended (a known wrong simulator's scheme).
            dmn(
                pgm,
                &with_checksum(Self::checksum_of(&claimed, SECRET_KEY, true)),
            ),
            // No checksum at all.
            dmn(pgm, &without),
        ]
    }

    fn stale(&self, _: &TestServer, _: &Payment) -> Result<Delivery, &'static str> {
        Err(
            "Nuvei documents no freshness window: it retries a DMN for 24 hours with its \
             original responseTimeStamp, so an old DMN is not refused",
        )
    }

    fn outage(&self, fault: Fault, _: &mut Value) -> Result<(), &'static str> {
        self.mock.server.faults.push(fault);
        Ok(())
    }

    fn lost_answer(&self) -> LostAnswer {
        LostAnswer::SettledUncharged(
            Fault::ResetAfterWork,
            "Nuvei cannot be asked by our reference (getPaymentStatus takes only the session \
             token, which was in the lost answer): nobody can pay in that order, which expires \
             unpaid after 15 minutes",
        )
    }

    async fn authorised(&self, pgm: &TestServer, shop_id: &str, amount: &str) -> Payment {
        let opened = pgm
            .post("/safecharge/session/open", &self.pay_body(shop_id, amount))
            .await;
        assert_eq!(opened.status, 200, "{}", opened.text);
        let payment = Payment {
            shop_id: shop_id.to_owned(),
            payment_id: opened.json()["sessionToken"]
                .as_str()
                .expect("sessionToken")
                .to_owned(),
        };
        let paid = self.web_sdk_pays(&payment, CARD_APPROVED, "Auth").await;
        assert_eq!(
            (
                paid["transactionStatus"].as_str(),
                paid["transactionType"].as_str()
            ),
            (Some("APPROVED"), Some("Auth")),
            "{paid}"
        );
        payment
    }
}
