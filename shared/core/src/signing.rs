//! HMAC-SHA256 signatures in the `t=<unix seconds>,v1=<hex>` scheme that Stripe made common.
//! The PGM signs its notifications with it (`PGM-Signature`), and the sandbox provider signs
//! its callbacks with it, so one implementation serves both directions.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

pub fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// `t=<t>,v1=<hex HMAC(secret, "<t>.<payload>")>`.
pub fn sign_timestamped(secret: &[u8], unix_seconds: i64, payload: &[u8]) -> String {
    let mut message = format!("{unix_seconds}.").into_bytes();
    message.extend_from_slice(payload);
    format!("t={unix_seconds},v1={}", hmac_sha256_hex(secret, &message))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("signature header is malformed")]
    Malformed,
    #[error("signature timestamp is outside the {0} s tolerance")]
    Stale(i64),
    #[error("no signature matches")]
    Mismatch,
}

/// Verifies a `t=…,v1=…[,v1=…]` header: any `v1` may match (secrets being rolled), and the
/// timestamp must be within `tolerance_secs` of `now_secs` either way.
pub fn verify_timestamped(
    secret: &[u8],
    header: &str,
    payload: &[u8],
    now_secs: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => {
                timestamp = Some(t.parse::<i64>().map_err(|_| SignatureError::Malformed)?)
            }
            Some(("v1", v)) => candidates.push(v),
            Some(_) => {}
            None => return Err(SignatureError::Malformed),
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let mut message = format!("{timestamp}.").into_bytes();
    message.extend_from_slice(payload);
    let expected = hmac_sha256_hex(secret, &message);
    let matched = candidates.iter().fold(false, |ok, c| {
        ok | constant_time_eq(c.as_bytes(), expected.as_bytes())
    });
    if !matched {
        return Err(SignatureError::Mismatch);
    }
    // Checked: a timestamp far from now (t=-9223372036854775808, or now − 2^63) must be stale,
    // never a panic and never a wrapped difference that looks fresh.
    let fresh = now_secs
        .checked_sub(timestamp)
        .and_then(i64::checked_abs)
        .is_some_and(|age| age <= tolerance_secs);
    if !fresh {
        return Err(SignatureError::Stale(tolerance_secs));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_verifies_with_tolerance_and_several_v1() {
        let header = sign_timestamped(b"whsec", 1_000, b"{\"a\":1}");
        assert!(verify_timestamped(b"whsec", &header, b"{\"a\":1}", 1_100, 300).is_ok());
        assert_eq!(
            verify_timestamped(b"whsec", &header, b"{\"a\":1}", 1_301, 300),
            Err(SignatureError::Stale(300))
        );
        assert_eq!(
            verify_timestamped(b"other", &header, b"{\"a\":1}", 1_000, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_timestamped(b"whsec", &header, b"{\"a\":2}", 1_000, 300),
            Err(SignatureError::Mismatch)
        );
        let rolled = format!("t=1000,v1=deadbeef,{}", &header[7..]);
        assert!(verify_timestamped(b"whsec", &rolled, b"{\"a\":1}", 1_000, 300).is_ok());
        assert_eq!(
            verify_timestamped(b"whsec", "garbage", b"", 0, 300),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn extreme_timestamps_are_stale_not_a_panic_or_a_wrap() {
        let now = 1_800_000_000;
        // Correctly signed, but from the far past or future: the difference overflows i64.
        for t in [
            i64::MIN,
            i64::MIN + 1,
            now - i64::MAX,
            i64::MAX,
            now.wrapping_sub(1 << 63),
        ] {
            let header = sign_timestamped(b"whsec", t, b"{}");
            assert_eq!(
                verify_timestamped(b"whsec", &header, b"{}", now, 300),
                Err(SignatureError::Stale(300)),
                "t={t}"
            );
        }
        let header = sign_timestamped(b"whsec", now - 300, b"{}");
        assert!(verify_timestamped(b"whsec", &header, b"{}", now, 300).is_ok());
    }

    #[test]
    fn matches_a_known_hmac_vector() {
        // RFC 4231 test case 2.
        assert_eq!(
            hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
