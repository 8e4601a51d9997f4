//! The notification the merchant receives at `PAYMENT_CALLBACK_URL`.

use crate::clock::rfc3339;
use crate::payment::{ApiStatus, Payment, PaymentState};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum EventType {
    #[serde(rename = "payment.succeeded")]
    PaymentSucceeded,
    #[serde(rename = "payment.authorized")]
    PaymentAuthorized,
    #[serde(rename = "payment.captured")]
    PaymentCaptured,
    #[serde(rename = "payment.failed")]
    PaymentFailed,
    #[serde(rename = "payment.voided")]
    PaymentVoided,
    #[serde(rename = "payment.pending")]
    PaymentPending,
    #[serde(rename = "refund.succeeded")]
    RefundSucceeded,
    #[serde(rename = "refund.failed")]
    RefundFailed,
}

impl EventType {
    /// The event a payment reaching `state` announces.
    pub fn for_state(state: PaymentState) -> EventType {
        match state {
            PaymentState::Captured => EventType::PaymentSucceeded,
            PaymentState::Authorized => EventType::PaymentAuthorized,
            PaymentState::Failed => EventType::PaymentFailed,
            PaymentState::Voided => EventType::PaymentVoided,
            PaymentState::Initiated | PaymentState::Pending => EventType::PaymentPending,
        }
    }
}

/// What the PGM POSTs to PAYMENT_CALLBACK_URL: the v2 body plus the ext fields. Field order
/// and names are the wire contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationEvent {
    pub provider_name: String,
    /// From the method segment: credit-cards → CREDITCARD, pay-pal → PAYPAL, others upper
    /// case without hyphens.
    #[schema(pattern = "^[A-Z0-9_]*$")]
    pub payment_type: String,
    pub is_successful: bool,
    pub result_description: String,
    #[serde(rename = "paymentID")]
    pub payment_id: Option<String>,
    #[serde(rename = "shopTransactionID")]
    pub shop_transaction_id: String,
    pub event_id: String,
    pub event_type: EventType,
    pub status: ApiStatus,
    #[schema(value_type = crate::schema::WireAmount)]
    pub amount: String,
    #[schema(value_type = crate::schema::CurrencyCode)]
    pub currency: String,
    /// RFC 3339, UTC.
    pub occurred_at: String,
    /// Grows by one with each event about this payment: order events by it.
    pub sequence: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurrence_token: Option<String>,
    /// ext: for refund events, which refund.
    #[serde(default, rename = "refundID", skip_serializing_if = "Option::is_none")]
    pub refund_id: Option<String>,
}

/// v2's `paymentType` for a method segment ("credit-cards" → "CREDITCARD").
pub fn payment_type(method: &str) -> String {
    match method {
        "credit-cards" => "CREDITCARD".into(),
        "pay-pal" => "PAYPAL".into(),
        other => other.replace('-', "").to_uppercase(),
    }
}

impl NotificationEvent {
    /// An event about `payment` as it now is. Takes the payment's next event sequence, so the
    /// caller must store the payment together with the event. The id is derived from the
    /// payment and the sequence: the same logical event always has the same id.
    pub fn next_for(payment: &mut Payment, event_type: EventType, now: i64) -> NotificationEvent {
        payment.event_sequence += 1;
        let sequence = payment.event_sequence;
        let (is_successful, amount, refund_id) = match event_type {
            EventType::RefundSucceeded | EventType::RefundFailed => {
                let refund = payment.refunds.last();
                (
                    event_type == EventType::RefundSucceeded,
                    refund.map(|r| r.amount_minor).unwrap_or(0),
                    refund.map(|r| r.id.clone()),
                )
            }
            _ => (
                payment.state.api_status() == ApiStatus::Accepted,
                payment.amount.minor(),
                None,
            ),
        };
        let amount = payment
            .amount
            .with_minor(amount)
            .unwrap_or(payment.amount)
            .to_decimal_string();
        NotificationEvent {
            provider_name: payment.provider.clone(),
            payment_type: payment_type(&payment.method),
            is_successful,
            result_description: payment.result_description.clone(),
            payment_id: payment.provider_payment_id.clone(),
            shop_transaction_id: payment.shop_transaction_id.clone(),
            event_id: event_id(&payment.provider, &payment.shop_transaction_id, sequence),
            event_type,
            status: payment.state.api_status(),
            amount,
            currency: payment.amount.currency().code().to_owned(),
            occurred_at: rfc3339(now),
            sequence,
            metadata: payment.metadata.clone(),
            recurrence_token: payment.recurrence_token.clone(),
            refund_id,
        }
    }
}

fn event_id(provider: &str, shop_transaction_id: &str, sequence: u64) -> String {
    let digest = Sha256::digest(format!("{provider}\n{shop_transaction_id}").as_bytes());
    format!("evt_{}_{sequence}", hex::encode(&digest[..12]))
}

/// A stable fingerprint of a request body: keys sorted, whitespace ignored.
pub fn fingerprint(value: &serde_json::Value) -> String {
    // serde_json's Map is a BTreeMap (no preserve_order feature), so this is canonical.
    let canonical = serde_json::to_string(value).unwrap_or_default();
    hex::encode(Sha256::digest(canonical.as_bytes()))
}
