//! The item mapping: every key, attribute name and index value of the table lives here, so the
//! layout can be read (and changed) in one place. [`super::schema`] documents it for operators.

use crate::{IdempotencyRecord, OutboxEntry, StoreError};
use aws_sdk_dynamodb::types::AttributeValue;
use pgm_core::sandbox_ledger::{Charge, ChargeStatus, LedgerRefund};
use pgm_core::{Payment, StoredResponse};
use serde::de::DeserializeOwned;
use std::collections::HashMap;

pub type Item = HashMap<String, AttributeValue>;

/// The table's only key attribute (string).
pub const PK: &str = "pk";
/// The work-queue index: which list an item is on, and its place in that list.
pub const QUEUE_INDEX: &str = "queue-index";
pub const QUEUE: &str = "queue";
pub const QUEUE_AT: &str = "queue_at";
/// Epoch seconds after which DynamoDB may delete the item (idempotency records only).
pub const TTL: &str = "ttl";

pub const PAYMENT: &str = "payment";
pub const VERSION: &str = "version";
pub const SHOP_TRANSACTION_ID: &str = "shop_transaction_id";
pub const ENTRY: &str = "entry";
pub const REQUEST_HASH: &str = "request_hash";
pub const RESPONSE: &str = "response";
pub const LOCK_EXPIRES_AT: &str = "lock_expires_at";
pub const EXPIRES_AT: &str = "expires_at";
pub const CHARGE: &str = "charge";
pub const CHARGE_ID: &str = "charge_id";
pub const CHARGE_IDS: &str = "charge_ids";
pub const STATUS: &str = "status";
pub const CAPTURED_MINOR: &str = "captured_minor";
pub const REFUNDS: &str = "refunds";
pub const REFUND_IDS: &str = "refund_ids";

/// The lists of the work-queue index.
pub const QUEUE_STALE_PAYMENT: &str = "STALE_PAYMENT";
pub const QUEUE_OUTBOX_DUE: &str = "OUTBOX_DUE";
pub const QUEUE_OUTBOX_PARKED: &str = "OUTBOX_PARKED";

pub fn payment_pk(shop_transaction_id: &str) -> String {
    format!("PAY#{shop_transaction_id}")
}

pub fn mapping_pk(provider: &str, provider_payment_id: &str) -> String {
    format!("PID#{provider}#{provider_payment_id}")
}

pub fn idempotency_pk(key: &str) -> String {
    format!("IDEM#{key}")
}

pub fn outbox_pk(event_id: &str) -> String {
    format!("OUT#{event_id}")
}

pub fn charge_pk(charge_id: &str) -> String {
    format!("SBX#CHG#{charge_id}")
}

pub fn charge_key_pk(idempotency_key: &str) -> String {
    format!("SBX#IDEM#{idempotency_key}")
}

pub fn reference_pk(reference: &str) -> String {
    format!("SBX#REF#{reference}")
}

pub fn key(pk: String) -> Item {
    HashMap::from([(PK.to_owned(), s(pk))])
}

/// A place in a queue: zero-padded milliseconds (so strings sort like numbers), then the item's
/// id so that equal times still have one fixed order.
pub fn queue_at(ms: i64, id: &str) -> String {
    format!("{}#{id}", queue_bound(ms))
}

/// Every `queue_at` of a time strictly before `ms` sorts below this string.
pub fn queue_bound(ms: i64) -> String {
    format!("{:020}", ms.max(0))
}

pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn json<T: serde::Serialize>(value: &T) -> AttributeValue {
    // Our own types serialise infallibly (string keys, no non-finite floats).
    s(serde_json::to_string(value).unwrap_or_default())
}

// ---- payments -------------------------------------------------------------------------------

pub fn payment_item(payment: &Payment) -> Item {
    let mut item = key(payment_pk(&payment.shop_transaction_id));
    item.insert(VERSION.into(), n(payment.version));
    item.insert(PAYMENT.into(), json(payment));
    if payment.awaits_news() {
        item.insert(QUEUE.into(), s(QUEUE_STALE_PAYMENT));
        item.insert(
            QUEUE_AT.into(),
            s(queue_at(payment.updated_at, &payment.shop_transaction_id)),
        );
    }
    item
}

pub fn payment_from(item: &Item) -> Result<Payment, StoreError> {
    parse_json(item, PAYMENT)
}

pub fn mapping_item(provider: &str, provider_payment_id: &str, shop_transaction_id: &str) -> Item {
    let mut item = key(mapping_pk(provider, provider_payment_id));
    item.insert(SHOP_TRANSACTION_ID.into(), s(shop_transaction_id));
    item
}

pub fn mapping_target(item: &Item) -> Result<String, StoreError> {
    string(item, SHOP_TRANSACTION_ID)
}

// ---- idempotency ----------------------------------------------------------------------------

pub fn idempotency_item(record: &IdempotencyRecord) -> Item {
    let mut item = key(idempotency_pk(&record.key));
    item.insert(REQUEST_HASH.into(), s(&record.request_hash));
    if let Some(response) = &record.response {
        item.insert(RESPONSE.into(), json(response));
    }
    item.insert(LOCK_EXPIRES_AT.into(), n(record.lock_expires_at));
    item.insert(EXPIRES_AT.into(), n(record.expires_at));
    // TTL wants epoch seconds; round up so the item never goes before `expires_at`.
    item.insert(TTL.into(), n((record.expires_at.max(0) + 999) / 1000));
    item
}

pub fn idempotency_from(item: &Item) -> Result<IdempotencyRecord, StoreError> {
    let pk = string(item, PK)?;
    let key = pk
        .strip_prefix("IDEM#")
        .ok_or_else(|| corrupt(item, "not an idempotency record"))?
        .to_owned();
    let response = match item.get(RESPONSE) {
        None => None,
        Some(_) => Some(parse_json::<StoredResponse>(item, RESPONSE)?),
    };
    Ok(IdempotencyRecord {
        key,
        request_hash: string(item, REQUEST_HASH)?,
        response,
        lock_expires_at: number(item, LOCK_EXPIRES_AT)?,
        expires_at: number(item, EXPIRES_AT)?,
    })
}

// ---- outbox ---------------------------------------------------------------------------------

pub fn outbox_item(entry: &OutboxEntry) -> Item {
    let id = &entry.event.event_id;
    let mut item = key(outbox_pk(id));
    item.insert(ENTRY.into(), json(entry));
    let (queue, at) = if entry.parked {
        (QUEUE_OUTBOX_PARKED, queue_at(entry.created_at, id))
    } else {
        (QUEUE_OUTBOX_DUE, queue_at(entry.next_attempt_at, id))
    };
    item.insert(QUEUE.into(), s(queue));
    item.insert(QUEUE_AT.into(), s(at));
    item
}

pub fn outbox_from(item: &Item) -> Result<OutboxEntry, StoreError> {
    parse_json(item, ENTRY)
}

// ---- sandbox ledger -------------------------------------------------------------------------
//
// A charge's fixed facts are one JSON attribute; what changes later (status, captured amount,
// refunds) are attributes of their own, so that a transition or a refund is one conditional
// update that needs no read first.

pub fn charge_item(charge: &Charge) -> Item {
    let mut item = key(charge_pk(&charge.id));
    item.insert(CHARGE.into(), json(charge));
    item.insert(STATUS.into(), s(status_name(charge.status)));
    item.insert(CAPTURED_MINOR.into(), n(charge.captured_minor));
    item.insert(
        REFUNDS.into(),
        AttributeValue::L(charge.refunds.iter().map(json).collect()),
    );
    if !charge.refunds.is_empty() {
        let ids = charge.refunds.iter().map(|r| r.id.clone()).collect();
        item.insert(REFUND_IDS.into(), AttributeValue::Ss(ids));
    }
    item
}

pub fn charge_from(item: &Item) -> Result<Charge, StoreError> {
    let mut charge: Charge = parse_json(item, CHARGE)?;
    let status = string(item, STATUS)?;
    charge.status = serde_json::from_value(serde_json::Value::String(status))
        .map_err(|e| corrupt(item, &format!("{STATUS}: {e}")))?;
    charge.captured_minor = number(item, CAPTURED_MINOR)?;
    charge.refunds = match item.get(REFUNDS) {
        Some(AttributeValue::L(list)) => list
            .iter()
            .map(|v| match v {
                AttributeValue::S(text) => serde_json::from_str::<LedgerRefund>(text)
                    .map_err(|e| corrupt(item, &format!("{REFUNDS}: {e}"))),
                _ => Err(corrupt(item, "refunds must hold strings")),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(corrupt(item, "refunds missing")),
    };
    Ok(charge)
}

pub fn refund_value(refund: &LedgerRefund) -> AttributeValue {
    json(refund)
}

pub fn status_name(status: ChargeStatus) -> String {
    match serde_json::to_value(status) {
        Ok(serde_json::Value::String(name)) => name,
        _ => format!("{status:?}"),
    }
}

pub fn charge_key_item(idempotency_key: &str, charge_id: &str) -> Item {
    let mut item = key(charge_key_pk(idempotency_key));
    item.insert(CHARGE_ID.into(), s(charge_id));
    item
}

pub fn charge_key_target(item: &Item) -> Result<String, StoreError> {
    string(item, CHARGE_ID)
}

pub fn reference_charge_ids(item: &Item) -> Result<Vec<String>, StoreError> {
    match item.get(CHARGE_IDS) {
        Some(AttributeValue::L(list)) => list
            .iter()
            .map(|v| match v {
                AttributeValue::S(id) => Ok(id.clone()),
                _ => Err(corrupt(item, "charge_ids must hold strings")),
            })
            .collect(),
        _ => Err(corrupt(item, "charge_ids missing")),
    }
}

// ---- reading attributes ---------------------------------------------------------------------

fn pk_of(item: &Item) -> String {
    match item.get(PK) {
        Some(AttributeValue::S(pk)) => pk.clone(),
        _ => "<no pk>".into(),
    }
}

pub fn corrupt(item: &Item, message: &str) -> StoreError {
    StoreError::Corrupt {
        key: pk_of(item),
        message: message.to_owned(),
    }
}

pub fn string(item: &Item, name: &str) -> Result<String, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(value)) => Ok(value.clone()),
        _ => Err(corrupt(item, &format!("{name} is not a string"))),
    }
}

pub fn number(item: &Item, name: &str) -> Result<i64, StoreError> {
    match item.get(name) {
        Some(AttributeValue::N(value)) => value
            .parse()
            .map_err(|_| corrupt(item, &format!("{name} is not an integer"))),
        _ => Err(corrupt(item, &format!("{name} is not a number"))),
    }
}

fn parse_json<T: DeserializeOwned>(item: &Item, name: &str) -> Result<T, StoreError> {
    let text = string(item, name)?;
    serde_json::from_str(&text).map_err(|e| corrupt(item, &format!("{name}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_places_sort_by_time_then_id() {
        assert!(queue_at(999, "z") < queue_at(1000, "a"));
        assert!(queue_at(1000, "a") < queue_at(1000, "b"));
        // The bound of `ms` admits times strictly before `ms`.
        assert!(queue_at(999, "zzz") < queue_bound(1000));
        assert!(queue_at(1000, "") > queue_bound(1000));
    }

    #[test]
    fn ttl_never_precedes_the_expiry() {
        let record = IdempotencyRecord {
            key: "refund#k".into(),
            request_hash: "h".into(),
            response: None,
            lock_expires_at: 1,
            expires_at: 1_500,
        };
        let item = idempotency_item(&record);
        assert_eq!(number(&item, TTL).unwrap(), 2);
        assert_eq!(idempotency_from(&item).unwrap(), record);
    }
}
