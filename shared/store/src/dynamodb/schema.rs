//! The table: one, on-demand, keyed by `pk` alone, with one sparse index and TTL.
//!
//! # Items (attribute names are constants in [`super::item`])
//!
//! | item | `pk` | other attributes |
//! |---|---|---|
//! | payment | `PAY#<shopTransactionID>` | `payment` (S, the `Payment` as JSON), `version` (N); while it awaits news (`Payment::awaits_news`: pending, or a refund's answer lost) also `queue` = `STALE_PAYMENT`, `queue_at` = `<updated_at>#<shopTransactionID>` |
//! | mapping | `PID#<provider>#<paymentID>` | `shop_transaction_id` (S) |
//! | idempotency | `IDEM#<operation>#<key>` | `request_hash` (S), `response` (S, JSON; absent while running), `lock_expires_at` (N, ms), `expires_at` (N, ms), `ttl` (N, epoch **seconds**) |
//! | outbox | `OUT#<eventId>` | `entry` (S, the `OutboxEntry` as JSON), `queue` = `OUTBOX_DUE` with `queue_at` = `<next_attempt_at>#<eventId>`, or `queue` = `OUTBOX_PARKED` with `queue_at` = `<created_at>#<eventId>` |
//! | sandbox charge | `SBX#CHG#<chargeId>` | `charge` (S, JSON of the fixed facts), `status` (S), `captured_minor` (N), `refunds` (L of S, JSON), `refund_ids` (SS, absent until the first refund) |
//! | sandbox idempotency | `SBX#IDEM#<idempotencyKey>` | `charge_id` (S) |
//! | sandbox reference | `SBX#REF#<reference>` | `charge_ids` (L of S, creation order) |
//!
//! Times in `queue_at` are milliseconds zero-padded to 20 digits, so the strings sort like the
//! numbers and equal times still have one order (by id).
//!
//! # Why one index
//!
//! The reconciler asks two questions: "which payments have been waiting for news since before
//! T?" and "which outbox entries are due by now?" (plus the parked list). Both are "the oldest
//! items of a work list", so one sparse GSI, `queue-index` (`queue` HASH, `queue_at` RANGE),
//! answers all three: an item is in the index only while it carries `queue`, i.e. while it is
//! work to do. A payment leaves the list by being written without `queue` once it is settled;
//! an outbox entry leaves it when it is deleted. The index stays as small as the backlog, and
//! the table needs one index definition instead of two. Each list is one partition key value,
//! which DynamoDB serves at about 1,000 writes/s per value: far above a payment gateway's rate
//! (sharding the value, e.g. `OUTBOX_DUE#0..n`, is the way out if that ever changes). Index
//! reads are eventually consistent: the reconciler re-reads a payment before acting, and an
//! entry delivered twice is dropped by the receiver (stable `eventId`).
//!
//! The sandbox's "charges for a reference" uses a per-reference item instead of an index, so
//! that a charge is found (strongly consistent) right after it was made.
//!
//! # For the SAM template (copy exactly)
//!
//! ```yaml
//! Table:
//!   Type: AWS::DynamoDB::Table
//!   Properties:
//!     BillingMode: PAY_PER_REQUEST
//!     AttributeDefinitions:
//!       - { AttributeName: pk, AttributeType: S }
//!       - { AttributeName: queue, AttributeType: S }
//!       - { AttributeName: queue_at, AttributeType: S }
//!     KeySchema:
//!       - { AttributeName: pk, KeyType: HASH }
//!     GlobalSecondaryIndexes:
//!       - IndexName: queue-index
//!         KeySchema:
//!           - { AttributeName: queue, KeyType: HASH }
//!           - { AttributeName: queue_at, KeyType: RANGE }
//!         Projection: { ProjectionType: ALL }
//!     TimeToLiveSpecification: { AttributeName: ttl, Enabled: true }
//! ```
//!
//! Functions need `dynamodb:GetItem`, `PutItem`, `UpdateItem`, `DeleteItem`, `BatchGetItem`,
//! `TransactWriteItems` on the table and `Query` on `<table>/index/queue-index`.

use super::error::{built, unavailable};
use super::item::{PK, QUEUE, QUEUE_AT, QUEUE_INDEX, TTL};
use crate::StoreError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TableStatus, TimeToLiveSpecification, TimeToLiveStatus,
};
use aws_sdk_dynamodb::Client;
use std::time::Duration;

/// Creates the table with the settings above unless it exists, waits until it is active, and
/// turns TTL on. Safe to run from several processes at once.
pub async fn create_table_if_missing(client: &Client, name: &str) -> Result<(), StoreError> {
    let exists = match client.describe_table().table_name(name).send().await {
        Ok(_) => true,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            false
        }
        Err(e) => return Err(unavailable("DescribeTable", e)),
    };
    if !exists {
        create(client, name).await?;
    }
    wait_until_active(client, name).await?;
    enable_ttl(client, name).await
}

async fn create(client: &Client, name: &str) -> Result<(), StoreError> {
    let string_attribute = |attribute: &str| {
        AttributeDefinition::builder()
            .attribute_name(attribute)
            .attribute_type(ScalarAttributeType::S)
            .build()
    };
    let key = |attribute: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(attribute)
            .key_type(kind)
            .build()
    };
    let index = GlobalSecondaryIndex::builder()
        .index_name(QUEUE_INDEX)
        .key_schema(built(key(QUEUE, KeyType::Hash))?)
        .key_schema(built(key(QUEUE_AT, KeyType::Range))?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build();
    let created = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(built(string_attribute(PK))?)
        .attribute_definitions(built(string_attribute(QUEUE))?)
        .attribute_definitions(built(string_attribute(QUEUE_AT))?)
        .key_schema(built(key(PK, KeyType::Hash))?)
        .global_secondary_indexes(built(index)?)
        .send()
        .await;
    match created {
        Ok(_) => Ok(()),
        // Someone else created it meanwhile.
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(unavailable("CreateTable", e)),
    }
}

async fn wait_until_active(client: &Client, name: &str) -> Result<(), StoreError> {
    for _ in 0..120 {
        let table = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| unavailable("DescribeTable", e))?;
        if table.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(StoreError::Unavailable(format!(
        "table {name} is not active after 60 s"
    )))
}

async fn enable_ttl(client: &Client, name: &str) -> Result<(), StoreError> {
    let current = client
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .map_err(|e| unavailable("DescribeTimeToLive", e))?;
    let status = current
        .time_to_live_description()
        .and_then(|d| d.time_to_live_status());
    if matches!(
        status,
        Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
    ) {
        return Ok(());
    }
    let spec = TimeToLiveSpecification::builder()
        .attribute_name(TTL)
        .enabled(true)
        .build();
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(built(spec)?)
        .send()
        .await
        .map_err(|e| unavailable("UpdateTimeToLive", e))?;
    Ok(())
}
