//! The sandbox provider's books in the same table (`SBX#…` items), so that a deployed sandbox
//! is as durable as the payments it backs.

use super::error::{built, unavailable};
use super::item::{self, s, Item};
use super::DynamoStore;
use crate::StoreError;
use async_trait::async_trait;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
    Update,
};
use pgm_core::sandbox_ledger::{Charge, ChargeStatus, LedgerError, LedgerRefund, SandboxLedger};
use std::collections::HashMap;
use std::time::Duration;

/// Transactions that collide with another one on the same item are cancelled by DynamoDB;
/// we try again a few times before calling the ledger unavailable.
const CONFLICT_RETRIES: u32 = 5;
/// BatchGetItem takes at most 100 keys.
const BATCH_KEYS: usize = 100;

fn ledger(err: StoreError) -> LedgerError {
    LedgerError(err.to_string())
}

enum Created {
    Stored,
    /// The idempotency key already belongs to this charge id.
    KeyTaken(Option<String>),
    Conflict,
}

impl DynamoStore {
    async fn try_create_charge(&self, charge: &Charge) -> Result<Created, StoreError> {
        let key_put = self
            .put(item::charge_key_item(&charge.idempotency_key, &charge.id))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let charge_put = self
            .put(item::charge_item(charge))
            .condition_expression("attribute_not_exists(pk)");
        let reference_append = Update::builder()
            .table_name(&self.table)
            .set_key(Some(item::key(item::reference_pk(&charge.reference))))
            .update_expression("SET #ids = list_append(if_not_exists(#ids, :none), :id)")
            .expression_attribute_names("#ids", item::CHARGE_IDS)
            .expression_attribute_values(":none", AttributeValue::L(Vec::new()))
            .expression_attribute_values(":id", AttributeValue::L(vec![s(&charge.id)]));
        let writes = vec![
            TransactWriteItem::builder()
                .put(built(key_put.build())?)
                .build(),
            TransactWriteItem::builder()
                .put(built(charge_put.build())?)
                .build(),
            TransactWriteItem::builder()
                .update(built(reference_append.build())?)
                .build(),
        ];
        let written = self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await;
        let e = match written {
            Ok(_) => return Ok(Created::Stored),
            Err(e) => e,
        };
        let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
            e.as_service_error()
        else {
            return Err(unavailable("TransactWriteItems", e));
        };
        let reasons = cancelled.cancellation_reasons();
        let code = |i: usize| reasons.get(i).and_then(|r| r.code());
        if code(0) == Some("ConditionalCheckFailed") {
            let known = match reasons[0].item() {
                Some(old) => Some(item::charge_key_target(old)?),
                None => None,
            };
            return Ok(Created::KeyTaken(known));
        }
        if reasons
            .iter()
            .any(|r| r.code() == Some("TransactionConflict"))
        {
            return Ok(Created::Conflict);
        }
        let codes: Vec<&str> = reasons.iter().map(|r| r.code().unwrap_or("None")).collect();
        Err(StoreError::Unavailable(format!(
            "sandbox charge not stored: transaction cancelled ({})",
            codes.join(", ")
        )))
    }

    async fn load_charge(&self, id: &str) -> Result<Option<Charge>, StoreError> {
        match self.get(item::charge_pk(id)).await? {
            Some(found) => item::charge_from(&found).map(Some),
            None => Ok(None),
        }
    }

    /// The charges with these ids (strongly consistent), in no particular order.
    async fn load_charges(&self, ids: &[String]) -> Result<Vec<Charge>, StoreError> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(BATCH_KEYS) {
            let keys: Vec<Item> = chunk
                .iter()
                .map(|id| item::key(item::charge_pk(id)))
                .collect();
            let mut pending = Some(built(
                KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .build(),
            )?);
            let mut rounds = 0;
            while let Some(request) = pending.take() {
                rounds += 1;
                if rounds > 10 {
                    return Err(StoreError::Unavailable(
                        "DynamoDB BatchGetItem left keys unprocessed".into(),
                    ));
                }
                let got = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| unavailable("BatchGetItem", e))?;
                for found_item in got
                    .responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default()
                {
                    found.push(item::charge_from(&found_item)?);
                }
                pending = got
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .filter(|k| !k.keys().is_empty());
                if pending.is_some() {
                    tokio::time::sleep(Duration::from_millis(50 * rounds)).await;
                }
            }
        }
        Ok(found)
    }
}

#[async_trait]
impl SandboxLedger for DynamoStore {
    async fn create_charge(&self, charge: &Charge) -> Result<Charge, LedgerError> {
        for attempt in 0..CONFLICT_RETRIES {
            match self.try_create_charge(charge).await.map_err(ledger)? {
                Created::Stored => return Ok(charge.clone()),
                Created::KeyTaken(known) => {
                    let id = match known {
                        Some(id) => id,
                        None => {
                            let pk = item::charge_key_pk(&charge.idempotency_key);
                            let key_item =
                                self.get(pk).await.map_err(ledger)?.ok_or_else(|| {
                                    LedgerError("idempotency key vanished".into())
                                })?;
                            item::charge_key_target(&key_item).map_err(ledger)?
                        }
                    };
                    return self
                        .load_charge(&id)
                        .await
                        .map_err(ledger)?
                        .ok_or_else(|| LedgerError(format!("charge {id} missing for its key")));
                }
                Created::Conflict => {
                    tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt + 1))).await;
                }
            }
        }
        Err(LedgerError(
            "sandbox charge: too many concurrent writers".into(),
        ))
    }

    async fn charge(&self, id: &str) -> Result<Option<Charge>, LedgerError> {
        self.load_charge(id).await.map_err(ledger)
    }

    async fn charges_for(&self, reference: &str) -> Result<Vec<Charge>, LedgerError> {
        let Some(list) = self
            .get(item::reference_pk(reference))
            .await
            .map_err(ledger)?
        else {
            return Ok(Vec::new());
        };
        let ids = item::reference_charge_ids(&list).map_err(ledger)?;
        let mut by_id: HashMap<String, Charge> = self
            .load_charges(&ids)
            .await
            .map_err(ledger)?
            .into_iter()
            .map(|c| (c.id.clone(), c))
            .collect();
        // Creation order from the list; a stable sort by time keeps it among equal times.
        let mut charges: Vec<Charge> = ids.iter().filter_map(|id| by_id.remove(id)).collect();
        charges.sort_by_key(|c| c.created_at);
        Ok(charges)
    }

    async fn transition(
        &self,
        id: &str,
        from: &[ChargeStatus],
        to: ChargeStatus,
        captured_minor: i64,
    ) -> Result<bool, LedgerError> {
        if from.is_empty() {
            return Ok(false);
        }
        let placeholders: Vec<String> = (0..from.len()).map(|i| format!(":from{i}")).collect();
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item::key(item::charge_pk(id))))
            .update_expression("SET #status = :to, #captured = :captured")
            .condition_expression(format!("#status IN ({})", placeholders.join(", ")))
            .expression_attribute_names("#status", item::STATUS)
            .expression_attribute_names("#captured", item::CAPTURED_MINOR)
            .expression_attribute_values(":to", s(item::status_name(to)))
            .expression_attribute_values(":captured", item::n(captured_minor));
        for (placeholder, status) in placeholders.iter().zip(from) {
            update = update.expression_attribute_values(placeholder, s(item::status_name(*status)));
        }
        match update.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(UpdateItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(ledger(unavailable("UpdateItem", e))),
        }
    }

    async fn add_refund(&self, charge_id: &str, refund: &LedgerRefund) -> Result<(), LedgerError> {
        let updated = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item::key(item::charge_pk(charge_id))))
            .update_expression("SET #refunds = list_append(#refunds, :refund) ADD #ids :id_set")
            .condition_expression("attribute_exists(pk) AND NOT contains(#ids, :id)")
            .expression_attribute_names("#refunds", item::REFUNDS)
            .expression_attribute_names("#ids", item::REFUND_IDS)
            .expression_attribute_values(
                ":refund",
                AttributeValue::L(vec![item::refund_value(refund)]),
            )
            .expression_attribute_values(":id_set", AttributeValue::Ss(vec![refund.id.clone()]))
            .expression_attribute_values(":id", s(&refund.id))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match updated {
            Ok(_) => Ok(()),
            Err(e) => match e.as_service_error() {
                // The charge exists, so the condition failed on the id: already recorded.
                Some(UpdateItemError::ConditionalCheckFailedException(failed))
                    if failed.item().is_some() =>
                {
                    Ok(())
                }
                Some(UpdateItemError::ConditionalCheckFailedException(_)) => {
                    Err(LedgerError(format!("no sandbox charge {charge_id}")))
                }
                _ => Err(ledger(unavailable("UpdateItem", e))),
            },
        }
    }
}
