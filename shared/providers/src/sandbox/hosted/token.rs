//! The per-page secret of the hosted 3DS page: the form carries it, and a POST without a valid
//! one settles nothing (a cross-site form, or a script that only knows the charge id, cannot
//! decide a payment).
//!
//! `<expires>.<nonce>.<hex HMAC(key, "<charge id>.<expires>.<nonce>")>`: signed, so no state is
//! kept to check it (the page and its POST may reach different Lambda instances); expiring; and
//! single use because a decision moves the charge out of `AwaitingBuyer` with a compare-and-set,
//! so a second POST with the same token finds the charge decided and changes nothing.

use pgm_core::signing::{constant_time_eq, hmac_sha256_hex};

/// How long a page may be left open before its buttons stop working.
pub const PAGE_TOKEN_TTL_SECS: i64 = 15 * 60;

/// A key of its own, derived from the webhook secret, so that a page token can never be
/// mistaken for (or turned into) a callback signature.
fn key(secret: &str) -> String {
    hmac_sha256_hex(secret.as_bytes(), b"sandbox 3ds page token")
}

pub fn issue(secret: &str, charge_id: &str, now_secs: i64, nonce: &str) -> String {
    let expires = now_secs.saturating_add(PAGE_TOKEN_TTL_SECS);
    let mac = hmac_sha256_hex(
        key(secret).as_bytes(),
        format!("{charge_id}.{expires}.{nonce}").as_bytes(),
    );
    format!("{expires}.{nonce}.{mac}")
}

#[derive(Debug, PartialEq, Eq)]
pub enum TokenError {
    Missing,
    Invalid,
    Expired,
}

pub fn verify(
    secret: &str,
    charge_id: &str,
    token: Option<&str>,
    now_secs: i64,
) -> Result<(), TokenError> {
    let token = token.filter(|t| !t.is_empty()).ok_or(TokenError::Missing)?;
    let mut parts = token.splitn(3, '.');
    let (Some(expires), Some(nonce), Some(mac)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(TokenError::Invalid);
    };
    let expected = hmac_sha256_hex(
        key(secret).as_bytes(),
        format!("{charge_id}.{expires}.{nonce}").as_bytes(),
    );
    if !constant_time_eq(mac.as_bytes(), expected.as_bytes()) {
        return Err(TokenError::Invalid);
    }
    let expires: i64 = expires.parse().map_err(|_| TokenError::Invalid)?;
    if now_secs > expires {
        return Err(TokenError::Expired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_bound_to_its_charge_secret_and_time() {
        let token = issue("whsec", "sbx_1", 1_000, "n1");
        assert_eq!(verify("whsec", "sbx_1", Some(&token), 1_000), Ok(()));
        let last = 1_000 + PAGE_TOKEN_TTL_SECS;
        assert_eq!(verify("whsec", "sbx_1", Some(&token), last), Ok(()));
        assert_eq!(
            verify("whsec", "sbx_1", Some(&token), last + 1),
            Err(TokenError::Expired)
        );
        assert_eq!(
            verify("whsec", "sbx_2", Some(&token), 1_000),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            verify("other", "sbx_1", Some(&token), 1_000),
            Err(TokenError::Invalid)
        );
        let later = token.replacen(&(1_000 + PAGE_TOKEN_TTL_SECS).to_string(), "9999999", 1);
        assert_eq!(
            verify("whsec", "sbx_1", Some(&later), 1_000),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            verify("whsec", "sbx_1", None, 1_000),
            Err(TokenError::Missing)
        );
        assert_eq!(
            verify("whsec", "sbx_1", Some("a.b"), 1_000),
            Err(TokenError::Invalid)
        );
    }
}
