//! Nuvei REST 1.0 bodies (`/ppp/api/v1/<method>.do`), as the official SDKs send and read them
//! (providers.md §10.2–10.3). Every request carries `merchantId`, `merchantSiteId`,
//! `clientRequestId`, `timeStamp` and `checksum`; amounts are decimal strings in major units,
//! the same string in the body and in the checksum.

use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UrlDetails {
    pub notification_url: String,
}

/// `openOrder.do`: the session the buyer's browser pays in (Nuvei's Web SDK, with its 3DS).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenOrder {
    pub merchant_id: String,
    pub merchant_site_id: String,
    pub client_request_id: String,
    pub client_unique_id: String,
    pub amount: String,
    pub currency: String,
    pub transaction_type: &'static str,
    pub url_details: UrlDetails,
    pub time_stamp: String,
    pub checksum: String,
}

/// `getPaymentStatus.do`: the session's payment. Only `sessionToken` is required; the Java
/// SDK's authenticated form is sent (checksum in the generic order).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetPaymentStatus {
    pub session_token: String,
    pub merchant_id: String,
    pub merchant_site_id: String,
    pub client_request_id: String,
    pub time_stamp: String,
    pub checksum: String,
}

/// `settleTransaction.do`, `voidTransaction.do`, `refundTransaction.do`: one shape.
/// `authCode`, the descriptors, `comment` are optional and not sent (hyperswitch does the
/// same); `urlDetails.notificationUrl` is sent and is in the checksum's `urlDetails` slot.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RelatedTransaction {
    pub merchant_id: String,
    pub merchant_site_id: String,
    pub client_request_id: String,
    pub client_unique_id: String,
    pub amount: String,
    pub currency: String,
    pub related_transaction_id: String,
    pub url_details: UrlDetails,
    pub time_stamp: String,
    pub checksum: String,
}

/// `errCode` comes as a number, sometimes as a string (connector-service reads both).
fn int_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Int(i64),
        Text(String),
    }
    Ok(match Option::<Either>::deserialize(d)? {
        Some(Either::Int(n)) => n,
        Some(Either::Text(t)) => t.trim().parse().unwrap_or(-1),
        None => 0,
    })
}

/// The envelope every answer has (stage 1: did the API take the request).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    #[serde(default)]
    pub status: String,
    #[serde(default, deserialize_with = "int_or_string")]
    pub err_code: i64,
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderOpened {
    pub session_token: String,
}

/// A transaction answer (stage 2: what the gateway did).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Transaction {
    #[serde(default, deserialize_with = "id_text")]
    pub transaction_id: Option<String>,
    #[serde(default)]
    pub transaction_status: Option<String>,
    #[serde(default)]
    pub transaction_type: Option<String>,
    #[serde(default)]
    pub gw_error_reason: Option<String>,
    #[serde(default)]
    pub payment_method_error_reason: Option<String>,
}

/// Ids are strings in Nuvei's examples, numbers in some answers.
fn id_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}
