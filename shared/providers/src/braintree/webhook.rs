//! Braintree's webhook scheme, as its SDKs verify it (braintree_python
//! `webhook_notification_gateway.py`, `util/crypto.py`; providers.md §5):
//!
//! - a POST form with `bt_signature` and `bt_payload`; the payload is base64 (with newlines)
//!   of `<notification><kind>…<timestamp>…<subject>…</notification>`, and any other character
//!   in it is refused before anything else;
//! - `bt_signature` is `public_key|signature` pairs joined by `&`: the pair of our public key
//!   counts, and its signature is hex HMAC-SHA1 keyed with the raw SHA1 of the private key,
//!   over the payload or the payload plus `\n` (the SDKs accept both), compared in constant
//!   time;
//! - the endpoint check `GET ?bt_challenge=<20–32 hex>` is answered
//!   `public_key|hex(HMAC-SHA1(SHA1(private_key), challenge))`.
//!
//! The scheme carries no freshness: the SDKs check none (the payload's timestamp is not
//! signed separately), so a replay is only ever a replay, which the PGM deduplicates.

use super::wire::{parse, Node, Transaction};
use base64::Engine;
use hmac::{Hmac, Mac};
use pgm_core::signing::constant_time_eq;
use sha1::{Digest, Sha1};

/// hex(HMAC-SHA1(key = SHA1(private_key), message)): the SDKs' `Crypto.sha1_hmac_hash`.
pub fn sign(private_key: &str, message: &[u8]) -> String {
    let key = Sha1::digest(private_key.as_bytes());
    // HMAC takes a key of any length.
    let mut mac = Hmac::<Sha1>::new_from_slice(&key).expect("any key length");
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

/// Why a notification is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("{0}")]
    Signature(&'static str),
    #[error("{0}")]
    Malformed(&'static str),
}

/// Checks `signature` over `payload` as the SDKs do.
pub fn verify(
    public_key: &str,
    private_key: &str,
    signature: &str,
    payload: &str,
) -> Result<(), Refused> {
    if !payload
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"+=/\n".contains(&b))
    {
        return Err(Refused::Signature("payload contains illegal characters"));
    }
    let ours = signature
        .split('&')
        .filter_map(|pair| pair.split_once('|'))
        .find(|(key, _)| *key == public_key)
        .map(|(_, sig)| sig)
        .ok_or(Refused::Signature("no matching public key"))?;
    let with_newline = format!("{payload}\n");
    let matches = [payload, with_newline.as_str()]
        .iter()
        .any(|p| constant_time_eq(sign(private_key, p.as_bytes()).as_bytes(), ours.as_bytes()));
    if matches {
        Ok(())
    } else {
        Err(Refused::Signature(
            "signature does not match payload - one has been modified",
        ))
    }
}

/// The answer to Braintree's endpoint check.
pub fn challenge_answer(
    public_key: &str,
    private_key: &str,
    challenge: &str,
) -> Result<String, Refused> {
    let hex_ok = (20..=32).contains(&challenge.len())
        && challenge
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !hex_ok {
        return Err(Refused::Malformed("challenge contains non-hex characters"));
    }
    Ok(format!(
        "{public_key}|{}",
        sign(private_key, challenge.as_bytes())
    ))
}

/// A verified notification: its kind and, for transaction kinds, the transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub kind: String,
    pub transaction: Option<Transaction>,
}

/// Reads a (verified) payload.
pub fn notification(payload: &str) -> Result<Notification, Refused> {
    let compact: String = payload.chars().filter(|c| *c != '\n').collect();
    let xml = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| Refused::Malformed("bt_payload is not base64"))?;
    let root: Node = parse(&xml)
        .filter(|n| n.name == "notification")
        .ok_or(Refused::Malformed("bt_payload is not a notification"))?;
    let kind = root
        .text_of("kind")
        .ok_or(Refused::Malformed("the notification has no kind"))?;
    let transaction = root
        .child("subject")
        .and_then(|s| s.child("transaction"))
        .and_then(Transaction::from_node);
    Ok(Notification { kind, transaction })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Computed with Python's hmac/hashlib, as braintree_python's Crypto.sha1_hmac_hash does:
    // hmac.new(hashlib.sha1(b"private").digest(), b"cGF5bG9hZA==\n", hashlib.sha1).hexdigest()
    const VECTOR: &str = "05c32dbc68ef30face55782cba0f9295ab5bf36e";

    #[test]
    fn signatures_are_checked_as_the_sdks_check_them() {
        let sig = sign("private", b"cGF5bG9hZA==\n");
        assert_eq!(sig, VECTOR);
        verify(
            "pub",
            "private",
            &format!("other|abc&pub|{sig}"),
            "cGF5bG9hZA==\n",
        )
        .unwrap();
        // Signed without the trailing newline the payload carries: also accepted.
        let bare = sign("private", b"cGF5bG9hZA==");
        verify("pub", "private", &format!("pub|{bare}"), "cGF5bG9hZA==").unwrap();
        assert_eq!(
            verify(
                "pub",
                "private",
                &format!("someone|{sig}"),
                "cGF5bG9hZA==\n"
            ),
            Err(Refused::Signature("no matching public key"))
        );
        assert!(verify("pub", "wrong", &format!("pub|{sig}"), "cGF5bG9hZA==\n").is_err());
        assert_eq!(
            verify("pub", "private", &format!("pub|{sig}"), "cGF5<bG9hZA==\n"),
            Err(Refused::Signature("payload contains illegal characters"))
        );
    }

    #[test]
    fn the_challenge_is_answered_with_our_public_key() {
        let answer = challenge_answer("pub", "private", "0123456789abcdef0123").unwrap();
        assert_eq!(
            answer,
            format!("pub|{}", sign("private", b"0123456789abcdef0123"))
        );
        assert!(challenge_answer("pub", "private", "0123456789ABCDEF0123").is_err());
        assert!(challenge_answer("pub", "private", "abc").is_err());
    }

    #[test]
    fn a_payload_reads_as_its_kind_and_transaction() {
        let xml = "<notification><timestamp type=\"datetime\">2026-01-01T00:00:00Z</timestamp>\
                   <kind>transaction_settled</kind><subject><transaction><id>t9</id>\
                   <status>settled</status></transaction></subject></notification>";
        let encoded = base64::engine::general_purpose::STANDARD.encode(xml);
        let with_breaks = format!("{}\n{}\n", &encoded[..60], &encoded[60..]);
        let n = notification(&with_breaks).unwrap();
        assert_eq!(n.kind, "transaction_settled");
        assert_eq!(n.transaction.unwrap().status, "settled");
        assert!(notification("bm90IHhtbA==").is_err());
    }
}
