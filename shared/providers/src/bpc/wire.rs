//! BPC's api2 wire format (seed 002, dev.bpcbt.com "Direct integration"): JSON bodies in
//! camelCase, amounts as integers of the currency's minor unit, currencies as lower-case ISO 4217
//! codes, every request with `X-Api-Key` and `X-Version`. Only the fields below are read.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The metadata key under which every payment carries our shopTransactionID, so that a payment
/// whose create answer was lost can be found again (BPC documents no idempotency key).
pub const REFERENCE_KEY: &str = "pgmShopTransactionId";

/// `POST /payments`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatePayment {
    pub amount: i64,
    pub currency: String,
    /// `automatic` (one step) or `manual` (authorise, then capture).
    pub capture_method: &'static str,
    pub description: String,
    pub metadata: BTreeMap<String, String>,
    /// Where the buyer comes back after 3-D Secure.
    pub return_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_details: Option<CustomerDetails>,
    /// Card data collected on the merchant's page, or …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_method: Option<PaymentMethod>,
    /// … a Stored Payment Method (the v2 `creditCardToken`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stored_payment_method_id: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerDetails {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Serialize)]
pub struct PaymentMethod {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub card: Card,
}

/// Card data never reaches a log: `Debug` prints only the last four digits.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Card {
    pub number: String,
    pub expiry_month: u8,
    pub expiry_year: u16,
    pub cvc: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder_name: Option<String>,
}

impl std::fmt::Debug for PaymentMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = &self.card.number;
        let last4 = n.get(n.len().saturating_sub(4)..).unwrap_or("");
        write!(f, "PaymentMethod(card …{last4})")
    }
}

/// `POST /payments/{id}/capture` (path configurable, see the module docs).
#[derive(Debug, Serialize)]
pub struct Capture {
    pub amount: i64,
}

/// `POST /refunds` (path configurable).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateRefund {
    pub payment_id: String,
    pub amount: i64,
    pub metadata: BTreeMap<String, String>,
}

/// A Payment object, as answered by create, retrieve, capture and cancel, and carried by
/// `payment.*` webhooks.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub amount: Option<i64>,
    #[serde(default)]
    pub amount_received: Option<i64>,
    #[serde(default)]
    pub amount_capturable: Option<i64>,
    #[serde(default)]
    pub next_action: Option<Value>,
    #[serde(default)]
    pub metadata: BTreeMap<String, Value>,
}

/// A list answer (`GET /payments?…`).
#[derive(Debug, Deserialize)]
pub struct List<T> {
    pub data: Vec<T>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Refund {
    pub id: String,
    #[serde(default)]
    pub status: Option<String>,
}

/// A webhook: `{"created","type","data":{"object":{…}}}`.
#[derive(Debug, Deserialize)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: String,
    pub data: EventData,
}

#[derive(Debug, Deserialize)]
pub struct EventData {
    pub object: Value,
}

/// BPC's error answer. The documented shape is not public in the seed; the mock answers
/// `{"error":{"type","code","message","param"}}`, and the reader also takes a flat
/// `{"code","message"}` so that a variant of it still carries the reason.
#[derive(Debug, Default, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub error: Option<ErrorDetail>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ErrorDetail {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_data_never_reaches_debug_output() {
        let method = PaymentMethod {
            kind: "card",
            card: Card {
                number: "4444555511113333".into(),
                expiry_month: 12,
                expiry_year: 2030,
                cvc: "123".into(),
                holder_name: None,
            },
        };
        let shown = format!("{method:?}");
        assert_eq!(shown, "PaymentMethod(card …3333)");
        // On the wire it is BPC's card block.
        let wire = serde_json::to_value(&method).unwrap();
        assert_eq!(wire["card"]["expiryMonth"], 12);
        assert_eq!(wire["type"], "card");
    }
}
