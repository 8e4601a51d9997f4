//! Axerve (GestPay) REST API v1 bodies. Every value on the wire is a string (amounts are
//! decimal strings in major units), and every answer is wrapped in the same envelope:
//! `{"error":{"code":"0","description":"..."},"payload":{...}}`.

use serde::{Deserialize, Serialize};

/// The envelope of every answer. `error.code` `"0"` means processed; anything else is an error,
/// whatever the HTTP status says.
#[derive(Debug, Clone, Deserialize)]
pub struct Envelope<T> {
    pub error: EnvelopeError,
    #[serde(default = "Option::default")]
    pub payload: Option<T>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct EnvelopeError {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub description: String,
}

/// Which transaction an operation is about: at least one id besides the shop login.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionRef<'a> {
    pub shop_login: &'a str,
    #[serde(rename = "paymentID", skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<&'a str>,
    #[serde(rename = "shopTransactionID", skip_serializing_if = "Option::is_none")]
    pub shop_transaction_id: Option<&'a str>,
}

/// `POST payment/create/`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatePayment<'a> {
    pub shop_login: &'a str,
    pub amount: String,
    pub currency: &'a str,
    #[serde(rename = "shopTransactionID")]
    pub shop_transaction_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buyer_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buyer_email: Option<&'a str>,
    /// Restricts the hosted page to one kind of payment (`CREDITCARD`, `PAYPAL`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_type: Option<Vec<&'a str>>,
    #[serde(rename = "responseURLs", skip_serializing_if = "Option::is_none")]
    pub response_urls: Option<ResponseUrls<'a>>,
}

/// Per-payment override of the back-office response URLs.
#[derive(Debug, Clone, Serialize)]
pub struct ResponseUrls<'a> {
    #[serde(rename = "buyerOK", skip_serializing_if = "Option::is_none")]
    pub buyer_ok: Option<&'a str>,
    #[serde(rename = "buyerKO", skip_serializing_if = "Option::is_none")]
    pub buyer_ko: Option<&'a str>,
    #[serde(rename = "serverNotificationURL")]
    pub server_notification_url: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CreatePayload {
    #[serde(rename = "paymentID", default)]
    pub payment_id: Option<String>,
    #[serde(rename = "userRedirect", default)]
    pub user_redirect: Option<UserRedirect>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct UserRedirect {
    #[serde(default)]
    pub href: Option<String>,
}

/// `POST payment/capture/` and `POST payment/refund/`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AmountOperation<'a> {
    #[serde(flatten)]
    pub transaction: TransactionRef<'a>,
    pub amount: String,
    pub currency: &'a str,
}

/// `payment/detail` (and the short answer of capture/refund, which has a subset).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionPayload {
    /// `OK`/`APPROVED`, `KO`/`DECLINED`, `PENDING`/`XX`, `WAITING`, `UNSUBMITTED`.
    #[serde(default, alias = "TransactionResult")]
    pub transaction_result: String,
    /// The last event: `AUT`, `MOV`, `PRE`, `CAN`, `REQ`, `STO`.
    #[serde(default)]
    pub transaction_state: String,
    #[serde(rename = "paymentID", default)]
    pub payment_id: Option<String>,
    #[serde(rename = "shopTransactionID", default)]
    pub shop_transaction_id: Option<String>,
    #[serde(rename = "bankTransactionID", default)]
    pub bank_transaction_id: Option<String>,
    #[serde(default)]
    pub transaction_error_code: Option<String>,
    #[serde(default)]
    pub transaction_error_description: Option<String>,
    #[serde(default)]
    pub events: Vec<EventEntry>,
}

/// One entry of `events[]`: `{"event": {"eventtype", "eventamount", "eventdate", …}}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct EventEntry {
    #[serde(default)]
    pub event: Event,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Event {
    /// `AUT` authorised, `MOV` amount transferred (captured), `PRE` reserved for transfer,
    /// `CAN` cancelled, `REQ` refund requested, `STO` refunded.
    #[serde(default)]
    pub eventtype: String,
    /// The amount the event moved, a decimal string in major units (`"10.50"`).
    #[serde(default)]
    pub eventamount: Option<String>,
}
