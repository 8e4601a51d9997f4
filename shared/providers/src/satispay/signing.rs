//! Satispay's request authentication: an HTTP Signature (Cavage draft) made with RSA-SHA256
//! (PKCS#1 v1.5) over `(request-target) host date digest`, with `Digest: SHA-256=<base64>` of the
//! raw body. The lines and their order are the ones Satispay documents ("Create the String").

use crate::kit::Signer;
use crate::ProviderError;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use pgm_core::Secret;
use reqwest::header::{HeaderName, AUTHORIZATION, HOST};
use reqwest::{Method, Url};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{RandomizedSigner, SignatureEncoding};
use rsa::RsaPrivateKey;
use sha2::{Digest, Sha256};
use std::fmt;
use time::format_description::FormatItem;
use time::macros::format_description;
use time::OffsetDateTime;

/// The signed headers, in the documented order. `headers="..."` names exactly these.
pub const SIGNED_HEADERS: &str = "(request-target) host date digest";

/// `EEE, dd MMM yyyy HH:mm:ss Z` in UTC, e.g. `Mon, 18 Mar 2019 15:10:24 +0000`.
const DATE_FORMAT: &[FormatItem<'static>] = format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] +0000"
);

/// The merchant's RSA private key. Never printed: `Debug` redacts it.
#[derive(Clone)]
pub struct PrivateKey(SigningKey<Sha256>);

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl PrivateKey {
    /// Reads a PEM key, PKCS#8 (`BEGIN PRIVATE KEY`, what Satispay's SDKs produce) or PKCS#1
    /// (`BEGIN RSA PRIVATE KEY`, what `openssl genrsa` gives). Environment variables often carry
    /// the newlines as literal `\n`; those are accepted too. The error never echoes the key.
    pub fn from_pem(text: &str) -> Result<PrivateKey, &'static str> {
        let pem = text.trim().replace("\\r\\n", "\n").replace("\\n", "\n");
        let key = RsaPrivateKey::from_pkcs8_pem(&pem)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(&pem))
            .map_err(|_| "is not an RSA private key in PEM form (PKCS#8 or PKCS#1)")?;
        Ok(PrivateKey(SigningKey::new(key)))
    }

    /// base64 of the RSA-SHA256 signature. Blinded (random per call): a private-key operation
    /// whose timing does not depend on the key.
    pub fn sign(&self, message: &str) -> String {
        let signature = self
            .0
            .sign_with_rng(&mut rsa::rand_core::OsRng, message.as_bytes());
        BASE64.encode(signature.to_bytes())
    }
}

/// `SHA-256=<base64(sha256(body))>`; an empty body (GET) has a digest too.
pub fn digest_header(body: &[u8]) -> String {
    format!("SHA-256={}", BASE64.encode(Sha256::digest(body)))
}

pub fn date_header(now: OffsetDateTime) -> String {
    now.to_offset(time::UtcOffset::UTC)
        .format(DATE_FORMAT)
        .unwrap_or_default()
}

/// The string to sign: one `name: value` line per signed header, joined by `\n`, no trailing
/// newline. `request_target` is the path with its query string.
pub fn signing_string(
    method: &str,
    request_target: &str,
    host: &str,
    date: &str,
    digest: &str,
) -> String {
    format!(
        "(request-target): {} {request_target}\nhost: {host}\ndate: {date}\ndigest: {digest}",
        method.to_ascii_lowercase()
    )
}

pub fn authorization_header(key_id: &str, signature: &str) -> String {
    format!(
        "Signature keyId=\"{key_id}\", algorithm=\"rsa-sha256\", headers=\"{SIGNED_HEADERS}\", signature=\"{signature}\""
    )
}

/// Signs every request the Satispay adapter sends (see the module's documentation).
pub struct SatispaySigner {
    pub key_id: Secret,
    pub private_key: PrivateKey,
}

impl Signer for SatispaySigner {
    fn sign(
        &self,
        method: &Method,
        url: &Url,
        body: &[u8],
    ) -> Result<Vec<(HeaderName, String)>, ProviderError> {
        let target = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        // The Host line signed must be the Host header sent: the port only when not default.
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            (None, _) => {
                return Err(ProviderError::Rejected {
                    code: Some("invalid_url".into()),
                    message: "SATISPAY_BASE_URL has no host".into(),
                })
            }
        };
        let digest = digest_header(body);
        let date = date_header(OffsetDateTime::now_utc());
        let message = signing_string(method.as_str(), &target, &host, &date, &digest);
        let signature = self.private_key.sign(&message);
        Ok(vec![
            (HOST, host),
            (HeaderName::from_static("date"), date),
            (HeaderName::from_static("digest"), digest),
            (
                AUTHORIZATION,
                authorization_header(self.key_id.expose(), &signature),
            ),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_matches_the_documented_examples() {
        // The body and digest of Satispay's "Create the String" example.
        let body =
            "{\n  \"flow\": \"MATCH_CODE\",\n  \"amount_unit\": 100,\n  \"currency\": \"EUR\"\n}";
        assert_eq!(
            digest_header(body.as_bytes()),
            "SHA-256=ZML76UQPYzw5yDTmhySnU1S8nmqGde/jhqOG5rpfVSI="
        );
        assert_eq!(
            digest_header(b""),
            "SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn signing_string_is_the_documented_one() {
        let s = signing_string(
            "POST",
            "/wally-services/protocol/tests/signature",
            "staging.authservices.satispay.com",
            "Mon, 18 Mar 2019 15:10:24 +0000",
            "SHA-256=ZML76UQPYzw5yDTmhySnU1S8nmqGde/jhqOG5rpfVSI=",
        );
        assert_eq!(
            s,
            "(request-target): post /wally-services/protocol/tests/signature\n\
             host: staging.authservices.satispay.com\n\
             date: Mon, 18 Mar 2019 15:10:24 +0000\n\
             digest: SHA-256=ZML76UQPYzw5yDTmhySnU1S8nmqGde/jhqOG5rpfVSI="
        );
    }

    #[test]
    fn date_has_the_documented_form() {
        let t = OffsetDateTime::from_unix_timestamp(1_552_921_824).unwrap();
        assert_eq!(date_header(t), "Mon, 18 Mar 2019 15:10:24 +0000");
    }

    #[test]
    fn a_bad_key_is_refused_without_echoing_it() {
        let err = PrivateKey::from_pem(
            "-----BEGIN PRIVATE KEY-----\nnot-a-key\n-----END PRIVATE KEY-----",
        )
        .unwrap_err();
        assert!(!err.contains("not-a-key"));
    }
}
