//! Nuvei's two checksums, in one place each (providers.md §10.0, §10.3, §10.5).
//!
//! - Requests: `hex(HASH(values of the documented fields, in order, absent ones skipped,
//!   then the secret key))`. Every official SDK puts the secret last.
//! - Payment DMNs (`advanceResponseChecksum`): `hex(HASH(secret + totalAmount + currency +
//!   responseTimeStamp + PPP_TransactionID + Status + productId))`: the secret goes first.
//!
//! HASH is SHA-256, or MD5 for merchant sites Nuvei configured that way
//! (`SAFECHARGE_HASH_ALGORITHM`).

use md5::Md5;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashAlgorithm {
    #[default]
    Sha256,
    Md5,
}

impl HashAlgorithm {
    pub fn parse(text: &str) -> Option<HashAlgorithm> {
        match text.trim().to_ascii_lowercase().as_str() {
            "sha256" | "sha-256" => Some(HashAlgorithm::Sha256),
            "md5" => Some(HashAlgorithm::Md5),
            _ => None,
        }
    }

    fn hex(self, input: &[u8]) -> String {
        match self {
            HashAlgorithm::Sha256 => hex::encode(Sha256::digest(input)),
            HashAlgorithm::Md5 => hex::encode(Md5::digest(input)),
        }
    }
}

/// The request checksum: `parts` in the method's documented order, `None` for a field that is
/// not sent (skipped, with no separator: "include exactly the same fields as in the request").
pub fn request(alg: HashAlgorithm, parts: &[Option<&str>], secret: &str) -> String {
    let mut text: String = parts.iter().flatten().copied().collect();
    text.push_str(secret);
    alg.hex(text.as_bytes())
}

/// The fields of a payment DMN that `advanceResponseChecksum` covers, as received (raw,
/// URL-decoded strings; a missing one is "").
#[derive(Debug, Clone, Copy, Default)]
pub struct DmnFields<'a> {
    pub total_amount: &'a str,
    pub currency: &'a str,
    pub response_time_stamp: &'a str,
    pub ppp_transaction_id: &'a str,
    pub status: &'a str,
    pub product_id: &'a str,
}

/// The DMN checksum Nuvei sends as `advanceResponseChecksum`.
pub fn dmn(alg: HashAlgorithm, secret: &str, f: &DmnFields<'_>) -> String {
    let text = [
        secret,
        f.total_amount,
        f.currency,
        f.response_time_stamp,
        f.ppp_transaction_id,
        f.status,
        f.product_id,
    ]
    .concat();
    alg.hex(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published vector: Nuvei's SAP Commerce plugin's unit test (providers.md §10.5).
    #[test]
    fn the_dmn_checksum_matches_nuveis_published_vector() {
        let fields = DmnFields {
            total_amount: "115",
            currency: "USD",
            response_time_stamp: "2020-03-14.16:22:34",
            ppp_transaction_id: "3453459",
            status: "APPROVED",
            product_id: "NA",
        };
        assert_eq!(
            dmn(HashAlgorithm::Sha256, "THE_SECRET_KEY", &fields),
            "aaa9ad16c8ed9f172dff505e4eeb8929b9c77cfed3e38127d55d42e33a70c762"
        );
    }

    #[test]
    fn a_request_checksum_is_the_fields_then_the_secret_skipping_absent_ones() {
        // sha256("m1" + "s1" + "r1" + "10.00" + "EUR" + "20240102030405" + "key"), by hand
        // with sha256sum: the same string the Node SDK hashes for openOrder.
        let sum = request(
            HashAlgorithm::Sha256,
            &[
                Some("m1"),
                Some("s1"),
                Some("r1"),
                None,
                Some("10.00"),
                Some("EUR"),
                Some("20240102030405"),
            ],
            "key",
        );
        assert_eq!(
            sum,
            hex::encode(Sha256::digest(b"m1s1r110.00EUR20240102030405key"))
        );
        assert_eq!(
            request(HashAlgorithm::Md5, &[Some("a")], "b"),
            // md5("ab")
            "187ef4436122d1cc2f40dc2b92f0eba0"
        );
    }

    #[test]
    fn algorithms_parse_as_configured() {
        assert_eq!(HashAlgorithm::parse("SHA256"), Some(HashAlgorithm::Sha256));
        assert_eq!(HashAlgorithm::parse("md5"), Some(HashAlgorithm::Md5));
        assert_eq!(HashAlgorithm::parse("sha1"), None);
    }
}
