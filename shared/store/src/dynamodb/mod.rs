//! The DynamoDB adapter: one on-demand table holds payments, provider-id mappings, idempotency
//! records, the outbox and the sandbox provider's books. The layout is in [`schema`]; the item
//! mapping in [`item`]. Every write that must be atomic is one request: a conditional `PutItem`
//! or one `TransactWriteItems`.

mod counter;
mod error;
mod item;
mod ledger;
mod schema;

pub use counter::RequestCounter;
pub use schema::create_table_if_missing;

use crate::{Commit, IdempotencyClaim, IdempotencyRecord, OutboxEntry, PaymentStore, StoreError};
use async_trait::async_trait;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    CancellationReason, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;
use error::{built, unavailable};
use item::{s, Item};
use pgm_core::{ConfigError, Payment};

/// Names the table (required with `PGM_STORE=dynamodb`).
pub const TABLE_VAR: &str = "PGM_TABLE_NAME";
/// `1`/`true`: create the table at start when it is missing (local runs, tests; not Lambda).
pub const CREATE_RESOURCES_VAR: &str = "PGM_CREATE_RESOURCES";

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

/// What a write in a transaction stands for, to read its cancellation reason.
enum Role {
    Payment,
    Mapping(String),
    Other,
}

impl DynamoStore {
    /// A store over `table`, using `client` as configured by the caller (endpoint, region,
    /// credentials, interceptors such as [`RequestCounter`]).
    pub fn new(client: Client, table: impl Into<String>) -> DynamoStore {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    async fn get(&self, pk: String) -> Result<Option<Item>, StoreError> {
        let got = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(item::key(pk)))
            // Read-modify-write callers must see the latest version, or every write conflicts.
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("GetItem", e))?;
        Ok(got.item)
    }

    /// Up to `limit` items of a work list, oldest first; `before` bounds `queue_at` (exclusive).
    async fn queue(
        &self,
        queue: &str,
        before: Option<String>,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::new();
        let mut start = None;
        while found.len() < limit {
            let page_limit = i32::try_from(limit - found.len()).unwrap_or(i32::MAX);
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(item::QUEUE_INDEX)
                .expression_attribute_names("#q", item::QUEUE)
                .expression_attribute_values(":q", s(queue))
                .scan_index_forward(true)
                .limit(page_limit)
                .set_exclusive_start_key(start);
            query = match &before {
                Some(bound) => query
                    .key_condition_expression("#q = :q AND #at < :before")
                    .expression_attribute_names("#at", item::QUEUE_AT)
                    .expression_attribute_values(":before", s(bound.clone())),
                None => query.key_condition_expression("#q = :q"),
            };
            let page = query.send().await.map_err(|e| unavailable("Query", e))?;
            found.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        found.truncate(limit);
        Ok(found)
    }

    fn put(&self, item: Item) -> aws_sdk_dynamodb::types::builders::PutBuilder {
        Put::builder().table_name(&self.table).set_item(Some(item))
    }
}

/// Reads a cancelled transaction: which of our writes failed its condition. Reasons come in
/// the order of the writes; codes are DynamoDB's documented `CancellationReason` codes.
fn cancellation(reasons: &[CancellationReason], roles: &[Role]) -> StoreError {
    for (reason, role) in reasons.iter().zip(roles) {
        match (reason.code(), role) {
            (None | Some("None"), _) => continue,
            (Some("ConditionalCheckFailed"), Role::Payment) => return StoreError::VersionConflict,
            (Some("ConditionalCheckFailed"), Role::Mapping(id)) => {
                return StoreError::MappingTaken(id.clone())
            }
            // Another transaction was writing one of these items at the same moment: the
            // payment is being changed concurrently, so re-read and try again.
            (Some("TransactionConflict"), _) => return StoreError::VersionConflict,
            (Some(code), _) => {
                return StoreError::Unavailable(format!("DynamoDB transaction cancelled: {code}"))
            }
        }
    }
    StoreError::Unavailable("DynamoDB transaction cancelled without a reason".into())
}

#[async_trait]
impl PaymentStore for DynamoStore {
    async fn insert_payment(&self, payment: &Payment) -> Result<Option<Payment>, StoreError> {
        let written = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item::payment_item(payment)))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match written {
            Ok(_) => Ok(None),
            Err(e) => {
                if let Some(PutItemError::ConditionalCheckFailedException(failed)) =
                    e.as_service_error()
                {
                    let existing = failed.item().ok_or_else(|| {
                        StoreError::Unavailable("DynamoDB returned no existing payment".into())
                    })?;
                    return item::payment_from(existing).map(Some);
                }
                Err(unavailable("PutItem", e))
            }
        }
    }

    async fn get_payment(&self, shop_transaction_id: &str) -> Result<Option<Payment>, StoreError> {
        match self.get(item::payment_pk(shop_transaction_id)).await? {
            Some(found) => item::payment_from(&found).map(Some),
            None => Ok(None),
        }
    }

    async fn find_by_provider_id(
        &self,
        provider: &str,
        provider_payment_id: &str,
    ) -> Result<Option<Payment>, StoreError> {
        match self
            .get(item::mapping_pk(provider, provider_payment_id))
            .await?
        {
            Some(mapping) => {
                let shop_transaction_id = item::mapping_target(&mapping)?;
                self.get_payment(&shop_transaction_id).await
            }
            None => Ok(None),
        }
    }

    async fn commit(&self, commit: Commit<'_>) -> Result<(), StoreError> {
        let payment = commit.payment;
        let mut writes = Vec::new();
        let mut roles = Vec::new();

        let put = self.put(item::payment_item(payment));
        let put = if payment.version <= 1 {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression("#version = :previous")
                .expression_attribute_names("#version", item::VERSION)
                .expression_attribute_values(":previous", item::n(payment.version - 1))
        };
        writes.push(
            TransactWriteItem::builder()
                .put(built(put.build())?)
                .build(),
        );
        roles.push(Role::Payment);

        if let Some(provider_payment_id) = commit.map_provider_id {
            let put = self
                .put(item::mapping_item(
                    &payment.provider,
                    provider_payment_id,
                    &payment.shop_transaction_id,
                ))
                .condition_expression("attribute_not_exists(pk) OR #target = :target")
                .expression_attribute_names("#target", item::SHOP_TRANSACTION_ID)
                .expression_attribute_values(":target", s(&payment.shop_transaction_id));
            writes.push(
                TransactWriteItem::builder()
                    .put(built(put.build())?)
                    .build(),
            );
            roles.push(Role::Mapping(provider_payment_id.to_owned()));
        }

        for event in commit.events {
            // The entry is due from the moment of the change it reports.
            let entry = OutboxEntry::new(event.clone(), payment.updated_at);
            let put = self.put(item::outbox_item(&entry));
            writes.push(
                TransactWriteItem::builder()
                    .put(built(put.build())?)
                    .build(),
            );
            roles.push(Role::Other);
        }

        if let Some(record) = commit.idempotency {
            let put = self.put(item::idempotency_item(record));
            writes.push(
                TransactWriteItem::builder()
                    .put(built(put.build())?)
                    .build(),
            );
            roles.push(Role::Other);
        }

        let written = self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await;
        match written {
            Ok(_) => Ok(()),
            Err(e) => {
                if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
                    e.as_service_error()
                {
                    return Err(cancellation(cancelled.cancellation_reasons(), &roles));
                }
                Err(unavailable("TransactWriteItems", e))
            }
        }
    }

    async fn claim_idempotency(
        &self,
        record: &IdempotencyRecord,
        now: i64,
    ) -> Result<IdempotencyClaim, StoreError> {
        let written = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item::idempotency_item(record)))
            .condition_expression(
                "attribute_not_exists(pk) OR #expires < :now \
                 OR (attribute_not_exists(#response) AND #lock < :now)",
            )
            .expression_attribute_names("#expires", item::EXPIRES_AT)
            .expression_attribute_names("#response", item::RESPONSE)
            .expression_attribute_names("#lock", item::LOCK_EXPIRES_AT)
            .expression_attribute_values(":now", item::n(now))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match written {
            Ok(_) => Ok(IdempotencyClaim::Claimed),
            Err(e) => {
                if let Some(PutItemError::ConditionalCheckFailedException(failed)) =
                    e.as_service_error()
                {
                    let existing = failed.item().ok_or_else(|| {
                        StoreError::Unavailable("DynamoDB returned no existing record".into())
                    })?;
                    return item::idempotency_from(existing).map(IdempotencyClaim::Existing);
                }
                Err(unavailable("PutItem", e))
            }
        }
    }

    async fn release_idempotency(&self, key: &str) -> Result<(), StoreError> {
        // Only an unfinished claim is let go: a stored answer stays for the retries.
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(item::key(item::idempotency_pk(key))))
            .condition_expression("attribute_not_exists(#response)")
            .expression_attribute_names("#response", item::RESPONSE)
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(DeleteItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(unavailable("DeleteItem", e)),
        }
    }

    async fn stale_pending(
        &self,
        updated_before: i64,
        limit: usize,
    ) -> Result<Vec<Payment>, StoreError> {
        let bound = item::queue_bound(updated_before);
        self.queue(item::QUEUE_STALE_PAYMENT, Some(bound), limit)
            .await?
            .iter()
            .map(item::payment_from)
            .collect()
    }

    async fn due_events(&self, now: i64, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        // Due means `next_attempt_at <= now`, i.e. strictly before `now + 1`.
        let bound = item::queue_bound(now.saturating_add(1));
        self.queue(item::QUEUE_OUTBOX_DUE, Some(bound), limit)
            .await?
            .iter()
            .map(item::outbox_from)
            .collect()
    }

    async fn event_done(&self, event_id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(item::key(item::outbox_pk(event_id))))
            .send()
            .await
            .map_err(|e| unavailable("DeleteItem", e))?;
        Ok(())
    }

    async fn event_retry(&self, entry: &OutboxEntry) -> Result<(), StoreError> {
        // Only an entry still in the outbox is rescheduled: one that another worker delivered
        // (and removed) meanwhile must not come back.
        let written = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item::outbox_item(entry)))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        match written {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(PutItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(unavailable("PutItem", e)),
        }
    }

    async fn parked_events(&self, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        self.queue(item::QUEUE_OUTBOX_PARKED, None, limit)
            .await?
            .iter()
            .map(item::outbox_from)
            .collect()
    }
}
