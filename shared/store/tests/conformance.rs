//! One conformance suite, run against every PaymentStore: the cases are in `conformance/cases.rs`,
//! written once; each backend below instantiates all of them.
//!
//! The embedded store runs on a fresh SQLite file per test. DynamoDB runs against moto's server
//! mode (started once per test process by
//! `pgm_mocks::moto`; `pip install 'moto[server]'`), one fresh table per test.

#[path = "conformance/cases.rs"]
mod cases;

use cases::Backend;

/// Instantiates every case for one backend.
macro_rules! conformance {
    ($backend:ident, $make:path) => {
        mod $backend {
            conformance!(@cases $make;
                insert_then_replay,
                commits_need_the_version_they_read,
                concurrent_commits_have_one_winner,
                provider_ids_map_to_one_payment,
                idempotency_claim_replay_and_takeover,
                concurrent_claims_have_one_winner,
                concurrent_refunds_never_exceed_the_capture,
                outbox_due_retry_park_done,
                parked_events_oldest_first,
                stale_pending_boundaries,
                ledger_create_is_idempotent,
                ledger_transition_is_compare_and_set,
                ledger_refunds_are_idempotent,
            );
        }
    };
    (@cases $make:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                crate::cases::$case($make().await).await;
            }
        )*
    };
}

mod dynamo {
    use super::Backend;
    use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
    use aws_sdk_dynamodb::Client;
    use pgm_store::dynamodb::{create_table_if_missing, DynamoStore, RequestCounter};
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    /// A client for moto, configured explicitly (the test process's AWS_* variables play no
    /// part), counting its requests.
    /// The SDK's HTTP client as the functions have it (pgm-http: the SDK has no other).
    pub fn sdk_http_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
        pgm_http::Outbound::from_env(&pgm_core::Env::default())
            .expect("the compiled-in roots")
            .aws_http_client()
    }

    pub async fn client() -> (Client, RequestCounter) {
        let counter = RequestCounter::new();
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(pgm_mocks::moto::endpoint().await)
            .credentials_provider(Credentials::new(
                "testing",
                "testing",
                None,
                None,
                "pgm-tests",
            ))
            .interceptor(counter.clone())
            .http_client(sdk_http_client())
            .build();
        (Client::from_conf(config), counter)
    }

    /// A table of its own for each test, so tests run in parallel (also against a shared
    /// `PGM_MOTO_URL` server).
    pub fn table_name() -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        format!(
            "pgm-test-{}-{nanos}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        )
    }

    pub async fn store() -> (DynamoStore, RequestCounter) {
        let (client, counter) = client().await;
        let table = table_name();
        create_table_if_missing(&client, &table).await.unwrap();
        counter.take();
        (DynamoStore::new(client, table), counter)
    }

    pub async fn backend() -> Backend {
        let store = Arc::new(store().await.0);
        Backend {
            store: store.clone(),
            ledger: store,
            _keep: Box::new(()),
        }
    }
}

conformance!(dynamodb, crate::dynamo::backend);

mod sqlite_file {
    use super::Backend;
    use pgm_store::embedded::EmbeddedStore;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    /// Removes the test's database files when the test ends.
    struct TempDb(PathBuf);

    impl Drop for TempDb {
        fn drop(&mut self) {
            for suffix in ["", "-wal", "-shm"] {
                let mut path = self.0.clone().into_os_string();
                path.push(suffix);
                let _ = std::fs::remove_file(path);
            }
        }
    }

    pub async fn backend() -> Backend {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "pgm-conformance-{}-{}.sqlite",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let keep = TempDb(path.clone());
        let store = Arc::new(EmbeddedStore::open(&path).unwrap());
        Backend {
            store: store.clone(),
            ledger: store,
            _keep: Box::new(keep),
        }
    }
}

conformance!(embedded, crate::sqlite_file::backend);

/// What the adapter alone must do beyond the shared cases.
mod dynamodb_only {
    use crate::dynamo::{self, sdk_http_client};
    use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
    use aws_sdk_dynamodb::types::{BillingMode, KeyType, ProjectionType, TimeToLiveStatus};
    use pgm_core::payment::{NewPayment, PAY_LOCK_MS};
    use pgm_core::{
        Currency, EventType, Money, NotificationEvent, Payment, PaymentKind, PaymentState,
    };
    use pgm_store::dynamodb::{create_table_if_missing, DynamoStore, RequestCounter};
    use pgm_store::{Commit, IdempotencyRecord, PaymentStore, StoreError};
    use std::collections::BTreeMap;

    fn counts(counter: &RequestCounter) -> BTreeMap<String, u64> {
        counter.take()
    }

    fn ops(list: &[(&str, u64)]) -> BTreeMap<String, u64> {
        list.iter().map(|(op, n)| (op.to_string(), *n)).collect()
    }

    /// The store calls of each API operation on its happy path, and what they cost.
    #[tokio::test]
    async fn requests_per_operation_on_the_happy_path() {
        let (store, counter) = dynamo::store().await;
        let now = 1_700_000_000_000;

        // pay: claim the payment (insert), ask the provider, record its answer + event.
        let mut payment = Payment::claimed(NewPayment {
            shop_transaction_id: "order-1".into(),
            provider: "sandbox".into(),
            method: "credit-cards".into(),
            kind: PaymentKind::Single,
            amount: Money::from_minor(1000, Currency::EUR).unwrap(),
            metadata: BTreeMap::new(),
            request_hash: "h".into(),
            now,
            lock_ms: PAY_LOCK_MS,
        });
        assert!(store.insert_payment(&payment).await.unwrap().is_none());
        payment.observe(PaymentState::Captured, "ok", now + 1);
        payment.provider_payment_id = Some("sbx_1".into());
        let event = NotificationEvent::next_for(&mut payment, EventType::PaymentSucceeded, now + 1);
        payment.bump(now + 1);
        store
            .commit(Commit {
                payment: &payment,
                map_provider_id: Some("sbx_1"),
                events: std::slice::from_ref(&event),
                idempotency: None,
            })
            .await
            .unwrap();
        let pay = counts(&counter);
        assert_eq!(pay, ops(&[("PutItem", 1), ("TransactWriteItems", 1)]));
        assert_eq!(
            (RequestCounter::writes(&pay), RequestCounter::reads(&pay)),
            (2, 0)
        );

        // status: one read.
        store.get_payment("order-1").await.unwrap().unwrap();
        assert_eq!(counts(&counter), ops(&[("GetItem", 1)]));

        // callback: find by the provider's id (mapping + payment), record the news.
        let mut found = store
            .find_by_provider_id("sandbox", "sbx_1")
            .await
            .unwrap()
            .unwrap();
        found.result_description = "confirmed".into();
        found.bump(now + 2);
        store
            .commit(Commit {
                payment: &found,
                map_provider_id: None,
                events: &[],
                idempotency: None,
            })
            .await
            .unwrap();
        assert_eq!(
            counts(&counter),
            ops(&[("GetItem", 2), ("TransactWriteItems", 1)])
        );

        // refund: claim the key, read, reserve, ask the provider, settle + answer + event.
        let claim = IdempotencyRecord {
            key: "refund#k".into(),
            request_hash: "h".into(),
            response: None,
            lock_expires_at: now + 60_000,
            expires_at: now + 86_400_000,
        };
        store.claim_idempotency(&claim, now + 3).await.unwrap();
        let mut refunding = store.get_payment("order-1").await.unwrap().unwrap();
        refunding.reserve_refund("r1", None, true, now + 3).unwrap();
        refunding.bump(now + 3);
        store
            .commit(Commit {
                payment: &refunding,
                map_provider_id: None,
                events: &[],
                idempotency: None,
            })
            .await
            .unwrap();
        refunding.settle_refund("r1", true, None, now + 4).unwrap();
        let event =
            NotificationEvent::next_for(&mut refunding, EventType::RefundSucceeded, now + 4);
        refunding.bump(now + 4);
        let done = IdempotencyRecord {
            response: Some(pgm_core::StoredResponse {
                status: 200,
                body: "{}".into(),
            }),
            ..claim
        };
        store
            .commit(Commit {
                payment: &refunding,
                map_provider_id: None,
                events: std::slice::from_ref(&event),
                idempotency: Some(&done),
            })
            .await
            .unwrap();
        assert_eq!(
            counts(&counter),
            ops(&[("GetItem", 1), ("PutItem", 1), ("TransactWriteItems", 2)])
        );
    }

    #[tokio::test]
    async fn a_replayed_insert_costs_one_request() {
        let (store, counter) = dynamo::store().await;
        let payment = Payment::claimed(NewPayment {
            shop_transaction_id: "order-1".into(),
            provider: "sandbox".into(),
            method: "credit-cards".into(),
            kind: PaymentKind::Single,
            amount: Money::from_minor(1000, Currency::EUR).unwrap(),
            metadata: BTreeMap::new(),
            request_hash: "h".into(),
            now: 1,
            lock_ms: PAY_LOCK_MS,
        });
        store.insert_payment(&payment).await.unwrap();
        counter.take();
        assert_eq!(store.insert_payment(&payment).await.unwrap(), Some(payment));
        assert_eq!(counts(&counter), ops(&[("PutItem", 1)]), "no second read");
    }

    #[tokio::test]
    async fn table_is_created_once_with_the_documented_schema() {
        let (client, _) = dynamo::client().await;
        let name = dynamo::table_name();
        create_table_if_missing(&client, &name).await.unwrap();
        create_table_if_missing(&client, &name).await.unwrap();

        let described = client
            .describe_table()
            .table_name(&name)
            .send()
            .await
            .unwrap();
        let table = described.table().unwrap();
        let keys: Vec<(&str, &KeyType)> = table
            .key_schema()
            .iter()
            .map(|k| (k.attribute_name(), k.key_type()))
            .collect();
        assert_eq!(keys, vec![("pk", &KeyType::Hash)]);
        assert_eq!(
            table.billing_mode_summary().and_then(|b| b.billing_mode()),
            Some(&BillingMode::PayPerRequest)
        );
        let indexes = table.global_secondary_indexes();
        assert_eq!(indexes.len(), 1);
        assert_eq!(indexes[0].index_name(), Some("queue-index"));
        let index_keys: Vec<(&str, &KeyType)> = indexes[0]
            .key_schema()
            .iter()
            .map(|k| (k.attribute_name(), k.key_type()))
            .collect();
        assert_eq!(
            index_keys,
            vec![("queue", &KeyType::Hash), ("queue_at", &KeyType::Range)]
        );
        assert_eq!(
            indexes[0].projection().and_then(|p| p.projection_type()),
            Some(&ProjectionType::All)
        );
        let ttl = client
            .describe_time_to_live()
            .table_name(&name)
            .send()
            .await
            .unwrap();
        let ttl = ttl.time_to_live_description().unwrap();
        assert_eq!(ttl.attribute_name(), Some("ttl"));
        assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
    }

    #[tokio::test]
    async fn an_unreachable_endpoint_is_unavailable() {
        // A port nothing listens on: bound, then released.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(format!("http://127.0.0.1:{port}"))
            .credentials_provider(Credentials::new(
                "testing",
                "testing",
                None,
                None,
                "pgm-tests",
            ))
            .http_client(sdk_http_client())
            .build();
        let store = DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), "pgm-none");
        match store.get_payment("order-1").await {
            Err(StoreError::Unavailable(message)) => {
                assert!(!message.contains("testing"), "{message}")
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_missing_table_is_unavailable() {
        let (client, _) = dynamo::client().await;
        let store = DynamoStore::new(client, dynamo::table_name());
        assert!(matches!(
            store.get_payment("order-1").await,
            Err(StoreError::Unavailable(_))
        ));
    }
}
