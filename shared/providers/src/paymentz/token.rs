//! The AuthToken cache. Paymentz wants `AuthToken: <jwt>` on every call; the token comes from
//! `/authToken` and lives an hour. It is fetched when a call first needs it (never at start:
//! a Lambda that never calls Paymentz never asks for one), kept until shortly before the
//! expiry its own `exp` claim states, and replaced once when Paymentz calls it expired.

use pgm_core::Secret;
use std::future::Future;
use tokio::sync::Mutex;

/// Renew this long before the stated expiry, so a token never expires in flight.
const MARGIN_MS: i64 = 60_000;

#[derive(Clone)]
struct Cached {
    token: Secret,
    expires_at_ms: i64,
}

#[derive(Default)]
pub struct TokenCache {
    // A tokio Mutex held across the fetch: concurrent callers wait for one fetch, not many.
    slot: Mutex<Option<Cached>>,
}

impl TokenCache {
    /// The cached token, or a fresh one from `fetch` (token, expiry in unix ms). `stale` is a
    /// token the gateway refused: it is replaced even if it looks valid (unless another caller
    /// replaced it already).
    pub async fn get<F, Fut, E>(
        &self,
        now_ms: i64,
        stale: Option<&Secret>,
        fetch: F,
    ) -> Result<Secret, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(Secret, i64), E>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some(cached) = slot.as_ref() {
            let refused = stale.is_some_and(|s| s.expose() == cached.token.expose());
            if !refused && now_ms < cached.expires_at_ms - MARGIN_MS {
                return Ok(cached.token.clone());
            }
        }
        let (token, expires_at_ms) = fetch().await?;
        *slot = Some(Cached {
            token: token.clone(),
            expires_at_ms,
        });
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn fetched_once_until_expiry_or_refusal() {
        let cache = TokenCache::default();
        let fetches = AtomicUsize::new(0);
        let fetch = |n: &AtomicUsize| {
            let i = n.fetch_add(1, Ordering::SeqCst);
            async move { Ok::<_, ()>((Secret::new(format!("t{i}")), 3_600_000)) }
        };
        let a = cache.get(0, None, || fetch(&fetches)).await.unwrap();
        let b = cache.get(1_000, None, || fetch(&fetches)).await.unwrap();
        assert_eq!((a.expose(), b.expose()), ("t0", "t0"));
        // Inside the margin before expiry: renewed.
        let c = cache
            .get(3_550_000, None, || fetch(&fetches))
            .await
            .unwrap();
        assert_eq!(c.expose(), "t1");
        // Refused by the gateway: renewed once; a caller holding an older token does not
        // throw the new one away.
        let d = cache
            .get(2_000, Some(&c), || fetch(&fetches))
            .await
            .unwrap();
        let e = cache
            .get(2_000, Some(&c), || fetch(&fetches))
            .await
            .unwrap();
        assert_eq!((d.expose(), e.expose()), ("t2", "t2"));
        assert_eq!(fetches.load(Ordering::SeqCst), 3);
    }
}
