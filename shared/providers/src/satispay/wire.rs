//! Satispay GBusiness v1 request and response bodies (snake_case JSON, amounts in integer cents).

use serde::{Deserialize, Serialize};

/// `POST /g_business/v1/payments`: a one-off payment (`MATCH_CODE`) or a refund (`REFUND`).
#[derive(Debug, Clone, Serialize)]
pub struct CreatePayment<'a> {
    pub flow: &'a str,
    /// Integer cents: `1240` is €12.40.
    pub amount_unit: i64,
    /// Only `EUR` is accepted.
    pub currency: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_code: Option<&'a str>,
    /// `{uuid}` is replaced by Satispay with the payment id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<&'a str>,
    /// Refunds only: the payment being refunded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_payment_uid: Option<&'a str>,
}

/// A payment as Satispay returns it (create, get, list). Only the fields we read.
#[derive(Debug, Clone, Deserialize)]
pub struct SatispayPayment {
    pub id: String,
    #[serde(default)]
    pub status: String,
    /// True once the expiration date passed without the payment being accepted or canceled.
    #[serde(default)]
    pub expired: bool,
    #[serde(default)]
    pub amount_unit: Option<i64>,
    #[serde(default)]
    pub external_code: Option<String>,
    /// The hosted page, e.g. `https://online.satispay.com/pay/{id}?redirect_url=...`.
    #[serde(default)]
    pub redirect_url: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

/// `GET /g_business/v1/payments`: newest first.
#[derive(Debug, Clone, Deserialize)]
pub struct PaymentList {
    #[serde(default)]
    pub has_more: bool,
    #[serde(default)]
    pub data: Vec<SatispayPayment>,
}

/// Every error body: `{"code": 34, "message": "...", "wlt": "<request id>"}`. The OpenAPI calls
/// `code` a string while the examples send a number, so both are read.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SatispayError {
    #[serde(default)]
    pub code: Option<serde_json::Value>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub wlt: Option<String>,
}

impl SatispayError {
    pub fn code_text(&self) -> Option<String> {
        match &self.code {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(serde_json::Value::Number(n)) => Some(n.to_string()),
            _ => None,
        }
    }
}
