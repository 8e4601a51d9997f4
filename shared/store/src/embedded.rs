//! The embedded store: one SQLite file (WAL, `synchronous=FULL`), so a local PGM loses nothing on
//! a crash or restart. Every write is one transaction; calls run on tokio's blocking pool.

use crate::{Commit, IdempotencyClaim, IdempotencyRecord, OutboxEntry, PaymentStore, StoreError};
use async_trait::async_trait;
use pgm_core::sandbox_ledger::{Charge, ChargeStatus, LedgerError, LedgerRefund, SandboxLedger};
use pgm_core::{Payment, PaymentState};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::path::Path;
use std::sync::{Arc, Mutex};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS payments (
    shop_transaction_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    state TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    body TEXT NOT NULL,
    awaits_news INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS mappings (
    provider TEXT NOT NULL,
    payment_id TEXT NOT NULL,
    shop_transaction_id TEXT NOT NULL,
    PRIMARY KEY (provider, payment_id)
);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    event_id TEXT PRIMARY KEY,
    next_attempt_at INTEGER NOT NULL,
    parked INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (parked, next_attempt_at);
CREATE TABLE IF NOT EXISTS sandbox_charges (
    id TEXT PRIMARY KEY,
    reference TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sandbox_charges_reference ON sandbox_charges (reference);
CREATE TABLE IF NOT EXISTS sandbox_refunds (
    charge_id TEXT NOT NULL,
    refund_id TEXT NOT NULL,
    amount_minor INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (charge_id, refund_id)
);
"#;

#[derive(Clone)]
pub struct EmbeddedStore {
    conn: Arc<Mutex<Connection>>,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn corrupt(key: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        key: key.to_owned(),
        message: e.to_string(),
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("store records serialize")
}

fn from_json<T: serde::de::DeserializeOwned>(key: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(key, e))
}

/// Brings a database made by an older PGM up to [`SCHEMA`].
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let has_awaits_news: bool = conn.query_row(
        "SELECT COUNT(*) FROM pragma_table_info('payments') WHERE name = 'awaits_news'",
        [],
        |r| r.get::<_, i64>(0).map(|n| n > 0),
    )?;
    if !has_awaits_news {
        // Before the column, only pending payments awaited news.
        conn.execute_batch(
            "ALTER TABLE payments ADD COLUMN awaits_news INTEGER NOT NULL DEFAULT 0;
             UPDATE payments SET awaits_news = 1 WHERE state IN ('INITIATED', 'PENDING');",
        )?;
    }
    conn.execute_batch(
        "DROP INDEX IF EXISTS payments_open;
         CREATE INDEX IF NOT EXISTS payments_awaiting_news ON payments (updated_at)
             WHERE awaits_news = 1;",
    )
}

fn state_name(state: PaymentState) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .expect("states serialize as strings")
}

impl EmbeddedStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<EmbeddedStore, StoreError> {
        let conn = Connection::open(path).map_err(unavailable)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
        )
        .map_err(unavailable)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(unavailable)?;
        conn.execute_batch(SCHEMA).map_err(unavailable)?;
        migrate(&conn).map_err(unavailable)?;
        Ok(EmbeddedStore {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection on the blocking pool.
    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.blocking(f, unavailable).await
    }

    /// Runs `f` with the connection on tokio's blocking pool; `join_failed` maps a task that
    /// could not finish into the caller's error type.
    async fn blocking<T, E, F>(
        &self,
        f: F,
        join_failed: fn(tokio::task::JoinError) -> E,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(join_failed)?
    }
}

fn load_payment(conn: &Connection, id: &str) -> Result<Option<Payment>, StoreError> {
    let body: Option<String> = conn
        .query_row(
            "SELECT body FROM payments WHERE shop_transaction_id = ?1",
            [id],
            |r| r.get(0),
        )
        .optional()
        .map_err(unavailable)?;
    body.map(|b| from_json(id, &b)).transpose()
}

#[async_trait]
impl PaymentStore for EmbeddedStore {
    async fn insert_payment(&self, payment: &Payment) -> Result<Option<Payment>, StoreError> {
        let payment = payment.clone();
        self.run(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            let inserted = tx
                .execute(
                    "INSERT INTO payments (shop_transaction_id, version, state, updated_at, body, awaits_news)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
                    params![
                        payment.shop_transaction_id,
                        payment.version as i64,
                        state_name(payment.state),
                        payment.updated_at,
                        to_json(&payment),
                        payment.awaits_news()
                    ],
                )
                .map_err(unavailable)?;
            let existing = if inserted == 1 {
                None
            } else {
                load_payment(&tx, &payment.shop_transaction_id)?
            };
            tx.commit().map_err(unavailable)?;
            Ok(existing)
        })
        .await
    }

    async fn get_payment(&self, shop_transaction_id: &str) -> Result<Option<Payment>, StoreError> {
        let id = shop_transaction_id.to_owned();
        self.run(move |conn| load_payment(conn, &id)).await
    }

    async fn find_by_provider_id(
        &self,
        provider: &str,
        provider_payment_id: &str,
    ) -> Result<Option<Payment>, StoreError> {
        let (provider, pid) = (provider.to_owned(), provider_payment_id.to_owned());
        self.run(move |conn| {
            let id: Option<String> = conn
                .query_row(
                    "SELECT shop_transaction_id FROM mappings WHERE provider = ?1 AND payment_id = ?2",
                    params![provider, pid],
                    |r| r.get(0),
                )
                .optional()
                .map_err(unavailable)?;
            match id {
                Some(id) => load_payment(conn, &id),
                None => Ok(None),
            }
        })
        .await
    }

    async fn commit(&self, commit: Commit<'_>) -> Result<(), StoreError> {
        let payment = commit.payment.clone();
        let mapping = commit.map_provider_id.map(str::to_owned);
        let events = commit.events.to_vec();
        let idempotency = commit.idempotency.cloned();
        self.run(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            let written = if payment.version == 1 {
                tx.execute(
                    "INSERT INTO payments (shop_transaction_id, version, state, updated_at, body, awaits_news)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
                    params![
                        payment.shop_transaction_id,
                        payment.version as i64,
                        state_name(payment.state),
                        payment.updated_at,
                        to_json(&payment),
                        payment.awaits_news()
                    ],
                )
            } else {
                tx.execute(
                    "UPDATE payments SET version = ?2, state = ?3, updated_at = ?4, body = ?5,
                         awaits_news = ?7
                     WHERE shop_transaction_id = ?1 AND version = ?6",
                    params![
                        payment.shop_transaction_id,
                        payment.version as i64,
                        state_name(payment.state),
                        payment.updated_at,
                        to_json(&payment),
                        payment.version as i64 - 1,
                        payment.awaits_news()
                    ],
                )
            }
            .map_err(unavailable)?;
            if written != 1 {
                return Err(StoreError::VersionConflict);
            }
            if let Some(pid) = mapping {
                let owner: Option<String> = tx
                    .query_row(
                        "SELECT shop_transaction_id FROM mappings WHERE provider = ?1 AND payment_id = ?2",
                        params![payment.provider, pid],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(unavailable)?;
                match owner {
                    Some(owner) if owner != payment.shop_transaction_id => {
                        return Err(StoreError::MappingTaken(pid))
                    }
                    Some(_) => {}
                    None => {
                        tx.execute(
                            "INSERT INTO mappings (provider, payment_id, shop_transaction_id) VALUES (?1, ?2, ?3)",
                            params![payment.provider, pid, payment.shop_transaction_id],
                        )
                        .map_err(unavailable)?;
                    }
                }
            }
            for event in events {
                let entry = OutboxEntry::new(event, payment.updated_at);
                insert_outbox(&tx, &entry)?;
            }
            if let Some(record) = idempotency {
                tx.execute(
                    "INSERT INTO idempotency (key, expires_at, body) VALUES (?1, ?2, ?3)
                     ON CONFLICT (key) DO UPDATE SET expires_at = ?2, body = ?3",
                    params![record.key, record.expires_at, to_json(&record)],
                )
                .map_err(unavailable)?;
            }
            tx.commit().map_err(unavailable)
        })
        .await
    }

    async fn claim_idempotency(
        &self,
        record: &IdempotencyRecord,
        now: i64,
    ) -> Result<IdempotencyClaim, StoreError> {
        let record = record.clone();
        self.run(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            let existing: Option<String> = tx
                .query_row(
                    "SELECT body FROM idempotency WHERE key = ?1",
                    [&record.key],
                    |r| r.get(0),
                )
                .optional()
                .map_err(unavailable)?;
            if let Some(body) = existing {
                let existing: IdempotencyRecord = from_json(&record.key, &body)?;
                let expired = existing.expires_at < now;
                let abandoned = existing.response.is_none() && existing.lock_expires_at < now;
                if !expired && !abandoned {
                    return Ok(IdempotencyClaim::Existing(existing));
                }
            }
            tx.execute(
                "INSERT INTO idempotency (key, expires_at, body) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE SET expires_at = ?2, body = ?3",
                params![record.key, record.expires_at, to_json(&record)],
            )
            .map_err(unavailable)?;
            tx.commit().map_err(unavailable)?;
            Ok(IdempotencyClaim::Claimed)
        })
        .await
    }

    async fn release_idempotency(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.run(move |conn| {
            // Only an unfinished claim is let go: a stored answer stays for its replays.
            let body: Option<String> = conn
                .query_row("SELECT body FROM idempotency WHERE key = ?1", [&key], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(unavailable)?;
            if let Some(body) = body {
                let record: IdempotencyRecord = from_json(&key, &body)?;
                if record.response.is_none() {
                    conn.execute("DELETE FROM idempotency WHERE key = ?1", [&key])
                        .map_err(unavailable)?;
                }
            }
            Ok(())
        })
        .await
    }

    async fn stale_pending(
        &self,
        updated_before: i64,
        limit: usize,
    ) -> Result<Vec<Payment>, StoreError> {
        self.run(move |conn| {
            let mut stmt = conn
                .prepare(
                    "SELECT shop_transaction_id, body FROM payments
                     WHERE awaits_news = 1 AND updated_at < ?1
                     ORDER BY updated_at LIMIT ?2",
                )
                .map_err(unavailable)?;
            let rows = stmt
                .query_map(params![updated_before, limit as i64], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(unavailable)?;
            let mut payments = Vec::new();
            for row in rows {
                let (id, body) = row.map_err(unavailable)?;
                payments.push(from_json(&id, &body)?);
            }
            Ok(payments)
        })
        .await
    }

    async fn due_events(&self, now: i64, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        self.run(move |conn| {
            query_outbox(
                conn,
                "SELECT event_id, body FROM outbox WHERE parked = 0 AND next_attempt_at <= ?1
                 ORDER BY next_attempt_at, created_at LIMIT ?2",
                params![now, limit as i64],
            )
        })
        .await
    }

    async fn event_done(&self, event_id: &str) -> Result<(), StoreError> {
        let id = event_id.to_owned();
        self.run(move |conn| {
            conn.execute("DELETE FROM outbox WHERE event_id = ?1", [id])
                .map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    async fn event_retry(&self, entry: &OutboxEntry) -> Result<(), StoreError> {
        let entry = entry.clone();
        self.run(move |conn| {
            conn.execute(
                "UPDATE outbox SET next_attempt_at = ?2, parked = ?3, body = ?4 WHERE event_id = ?1",
                params![
                    entry.event.event_id,
                    entry.next_attempt_at,
                    entry.parked as i64,
                    to_json(&entry)
                ],
            )
            .map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    async fn parked_events(&self, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        self.run(move |conn| {
            query_outbox(
                conn,
                "SELECT event_id, body FROM outbox WHERE parked = 1 ORDER BY created_at LIMIT ?1",
                params![limit as i64],
            )
        })
        .await
    }
}

fn insert_outbox(conn: &Connection, entry: &OutboxEntry) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO outbox (event_id, next_attempt_at, parked, created_at, body)
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
        params![
            entry.event.event_id,
            entry.next_attempt_at,
            entry.parked as i64,
            entry.created_at,
            to_json(entry)
        ],
    )
    .map_err(unavailable)?;
    Ok(())
}

fn query_outbox(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<OutboxEntry>, StoreError> {
    let mut stmt = conn.prepare(sql).map_err(unavailable)?;
    let rows = stmt
        .query_map(params, |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(unavailable)?;
    let mut entries = Vec::new();
    for row in rows {
        let (id, body) = row.map_err(unavailable)?;
        entries.push(from_json(&id, &body)?);
    }
    Ok(entries)
}

fn ledger_error(e: impl std::fmt::Display) -> LedgerError {
    LedgerError(e.to_string())
}

fn load_charge(conn: &Connection, id: &str) -> Result<Option<Charge>, LedgerError> {
    let body: Option<String> = conn
        .query_row(
            "SELECT body FROM sandbox_charges WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .optional()
        .map_err(ledger_error)?;
    let Some(body) = body else { return Ok(None) };
    let mut charge: Charge = serde_json::from_str(&body).map_err(ledger_error)?;
    let mut stmt = conn
        .prepare(
            "SELECT refund_id, amount_minor, created_at FROM sandbox_refunds
             WHERE charge_id = ?1 ORDER BY created_at, refund_id",
        )
        .map_err(ledger_error)?;
    charge.refunds = stmt
        .query_map([id], |r| {
            Ok(LedgerRefund {
                id: r.get(0)?,
                amount_minor: r.get(1)?,
                created_at: r.get(2)?,
            })
        })
        .map_err(ledger_error)?
        .collect::<Result<_, _>>()
        .map_err(ledger_error)?;
    Ok(Some(charge))
}

impl EmbeddedStore {
    async fn ledger<T, F>(&self, f: F) -> Result<T, LedgerError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, LedgerError> + Send + 'static,
    {
        self.blocking(f, ledger_error).await
    }
}

#[async_trait]
impl SandboxLedger for EmbeddedStore {
    async fn create_charge(&self, charge: &Charge) -> Result<Charge, LedgerError> {
        let charge = charge.clone();
        self.ledger(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(ledger_error)?;
            let existing: Option<String> = tx
                .query_row(
                    "SELECT id FROM sandbox_charges WHERE idempotency_key = ?1",
                    [&charge.idempotency_key],
                    |r| r.get(0),
                )
                .optional()
                .map_err(ledger_error)?;
            let id = match existing {
                Some(id) => id,
                None => {
                    tx.execute(
                        "INSERT INTO sandbox_charges (id, reference, idempotency_key, body) VALUES (?1, ?2, ?3, ?4)",
                        params![charge.id, charge.reference, charge.idempotency_key, to_json(&charge)],
                    )
                    .map_err(ledger_error)?;
                    charge.id.clone()
                }
            };
            let stored = load_charge(&tx, &id)?.ok_or_else(|| LedgerError("charge vanished".into()))?;
            tx.commit().map_err(ledger_error)?;
            Ok(stored)
        })
        .await
    }

    async fn charge(&self, id: &str) -> Result<Option<Charge>, LedgerError> {
        let id = id.to_owned();
        self.ledger(move |conn| load_charge(conn, &id)).await
    }

    async fn charges_for(&self, reference: &str) -> Result<Vec<Charge>, LedgerError> {
        let reference = reference.to_owned();
        self.ledger(move |conn| {
            let ids: Vec<String> = {
                let mut stmt = conn
                    .prepare("SELECT id FROM sandbox_charges WHERE reference = ?1 ORDER BY rowid")
                    .map_err(ledger_error)?;
                let rows = stmt
                    .query_map([reference], |r| r.get(0))
                    .map_err(ledger_error)?;
                rows.collect::<Result<_, _>>().map_err(ledger_error)?
            };
            ids.iter()
                .filter_map(|id| load_charge(conn, id).transpose())
                .collect()
        })
        .await
    }

    async fn transition(
        &self,
        id: &str,
        from: &[ChargeStatus],
        to: ChargeStatus,
        captured_minor: i64,
    ) -> Result<bool, LedgerError> {
        let (id, from) = (id.to_owned(), from.to_vec());
        self.ledger(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(ledger_error)?;
            let Some(mut charge) = load_charge(&tx, &id)? else {
                return Ok(false);
            };
            if !from.contains(&charge.status) {
                return Ok(false);
            }
            charge.status = to;
            charge.captured_minor = captured_minor;
            charge.refunds.clear();
            tx.execute(
                "UPDATE sandbox_charges SET body = ?2 WHERE id = ?1",
                params![id, to_json(&charge)],
            )
            .map_err(ledger_error)?;
            tx.commit().map_err(ledger_error)?;
            Ok(true)
        })
        .await
    }

    async fn add_refund(&self, charge_id: &str, refund: &LedgerRefund) -> Result<(), LedgerError> {
        let (charge_id, refund) = (charge_id.to_owned(), refund.clone());
        self.ledger(move |conn| {
            if load_charge(conn, &charge_id)?.is_none() {
                return Err(LedgerError(format!("no charge {charge_id}")));
            }
            conn.execute(
                "INSERT INTO sandbox_refunds (charge_id, refund_id, amount_minor, created_at)
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                params![charge_id, refund.id, refund.amount_minor, refund.created_at],
            )
            .map_err(ledger_error)?;
            Ok(())
        })
        .await
    }
}
