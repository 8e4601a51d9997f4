//! `Idempotency-Key` handling for every mutating route but pay (whose key is the
//! shopTransactionID, claimed on the payment itself: see `pay.rs`).

use crate::{App, AppError};
use pgm_core::clock::now_ms;
use pgm_core::event::fingerprint;
use pgm_core::wire::validate_id;
use pgm_core::StoredResponse;
use pgm_store::{IdempotencyClaim, IdempotencyRecord};
use std::future::Future;

/// An answer as it goes back to the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    /// Served from the idempotency record (`Idempotent-Replayed: true`).
    pub replayed: bool,
}

impl Reply {
    pub fn json<T: serde::Serialize>(value: &T) -> Reply {
        Reply {
            status: 200,
            body: serde_json::to_string(value).expect("replies serialize"),
            replayed: false,
        }
    }

    pub fn stored(&self) -> StoredResponse {
        StoredResponse {
            status: self.status,
            body: self.body.clone(),
        }
    }

    pub fn replay(stored: StoredResponse) -> Reply {
        Reply {
            status: stored.status,
            body: stored.body,
            replayed: true,
        }
    }
}

/// A claimed key, to be completed in the same commit as the change it guards.
#[derive(Debug, Clone)]
pub struct Claim(pub Option<IdempotencyRecord>);

impl Claim {
    /// The record completed with `reply`, for the commit.
    pub fn completed(&self, reply: &Reply) -> Option<IdempotencyRecord> {
        self.0.clone().map(|mut r| {
            r.response = Some(reply.stored());
            r
        })
    }

    /// A stable id derived from the key (e.g. our refund id), so a retried request reuses it.
    pub fn derived_id(&self, prefix: &str) -> Option<String> {
        self.0.as_ref().map(|r| {
            let digest = fingerprint(&serde_json::Value::String(r.key.clone()));
            format!("{prefix}_{}", &digest[..20])
        })
    }
}

impl App {
    /// Runs `work` at most once per (`operation`, key); replays its reply to retries.
    /// `work` gets the claim and must complete it in its commit; if it fails before
    /// committing, the claim is released so the request may be retried.
    pub(crate) async fn idempotent<F, Fut>(
        &self,
        operation: &str,
        key: Option<&str>,
        request_hash: &str,
        work: F,
    ) -> Result<Reply, AppError>
    where
        F: FnOnce(Claim) -> Fut,
        Fut: Future<Output = Result<Reply, AppError>>,
    {
        let Some(key) = key else {
            return work(Claim(None)).await;
        };
        validate_id("Idempotency-Key", key)?;
        let now = now_ms();
        let record = IdempotencyRecord {
            key: format!("{operation}#{key}"),
            request_hash: request_hash.to_owned(),
            response: None,
            lock_expires_at: now + self.settings.pay_lock.as_millis() as i64,
            expires_at: now + self.settings.idempotency_ttl.as_millis() as i64,
        };
        match self.store.claim_idempotency(&record, now).await? {
            IdempotencyClaim::Existing(existing) if existing.request_hash != request_hash => {
                Err(AppError::IdempotencyConflict)
            }
            IdempotencyClaim::Existing(existing) => match existing.response {
                Some(stored) => Ok(Reply::replay(stored)),
                None => Err(AppError::RequestInProgress {
                    retry_after_secs: ((existing.lock_expires_at - now).max(0) as u64)
                        .div_ceil(1000)
                        .clamp(1, 60),
                }),
            },
            IdempotencyClaim::Claimed => {
                let key = record.key.clone();
                let result = work(Claim(Some(record))).await;
                if result.is_err() {
                    if let Err(e) = self.store.release_idempotency(&key).await {
                        tracing::warn!(error = %e, "idempotency claim left to expire");
                    }
                }
                result
            }
        }
    }
}
