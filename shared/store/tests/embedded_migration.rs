//! A data directory written by an older PGM opens with the current one: payments pending
//! there are still found by the reconciler.

use pgm_core::payment::{NewPayment, PaymentKind, PAY_LOCK_MS};
use pgm_core::{Currency, Money, Payment, PaymentState};
use pgm_store::embedded::EmbeddedStore;
use pgm_store::PaymentStore;
use std::collections::BTreeMap;

fn payment(id: &str, state: PaymentState) -> Payment {
    let mut p = Payment::claimed(NewPayment {
        shop_transaction_id: id.into(),
        provider: "sandbox".into(),
        method: "credit-cards".into(),
        kind: PaymentKind::Single,
        amount: Money::from_minor(1000, Currency::parse("EUR").unwrap()).unwrap(),
        metadata: BTreeMap::new(),
        request_hash: "hash".into(),
        now: 1_000,
        lock_ms: PAY_LOCK_MS,
    });
    p.state = state;
    p
}

#[tokio::test]
async fn a_database_without_the_awaits_news_column_is_migrated() {
    let path = std::env::temp_dir().join(format!(
        "pgm-migration-{}-{}.sqlite",
        std::process::id(),
        pgm_core::clock::now_ms()
    ));
    {
        // The payments table as the first release created it.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE payments (
                 shop_transaction_id TEXT PRIMARY KEY,
                 version INTEGER NOT NULL,
                 state TEXT NOT NULL,
                 updated_at INTEGER NOT NULL,
                 body TEXT NOT NULL
             );
             CREATE INDEX payments_open ON payments (updated_at)
                 WHERE state IN ('INITIATED', 'PENDING');",
        )
        .unwrap();
        for (p, state) in [
            (payment("old-pending", PaymentState::Pending), "PENDING"),
            (payment("old-captured", PaymentState::Captured), "CAPTURED"),
        ] {
            conn.execute(
                "INSERT INTO payments VALUES (?1, 1, ?2, 1000, ?3)",
                rusqlite::params![
                    p.shop_transaction_id,
                    state,
                    serde_json::to_string(&p).unwrap()
                ],
            )
            .unwrap();
        }
    }

    let store = EmbeddedStore::open(&path).unwrap();
    let stale: Vec<String> = store
        .stale_pending(2_000, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.shop_transaction_id)
        .collect();
    assert_eq!(stale, vec!["old-pending"]);
    // Opening again finds the column in place.
    drop(store);
    let store = EmbeddedStore::open(&path).unwrap();
    assert_eq!(store.stale_pending(2_000, 10).await.unwrap().len(), 1);
    drop(store);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}
