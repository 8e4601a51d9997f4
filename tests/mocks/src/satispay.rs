//! Satispay GBusiness API v1, as documented: every call must carry a valid HTTP Signature
//! (RSA-SHA256 over `(request-target) host date digest`) made with a key registered here, and a
//! `Digest` that matches the body; anything off is a 401 `{"code":34,...}` like the real API.
//! Payments are `MATCH_CODE` one-offs and `REFUND` payments with `parent_payment_uid`; amounts
//! must be integer cents in EUR. Tests play the buyer with [`SatispayMock::accept`] and friends.
//!
//! Serve it with [`crate::MockServer::start`]`(mock.router())`; the API base is
//! `{server.url}/g_business/v1`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use rand::Rng;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use rsa::RsaPublicKey;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::OffsetDateTime;

pub const API_PREFIX: &str = "/g_business/v1";
/// The staging web page the API names in `redirect_url`.
pub const WEB_HOST: &str = "https://staging.online.satispay.com";
/// The headers Satispay's docs tell merchants to sign, in that order.
const REQUIRED_SIGNED: [&str; 4] = ["(request-target)", "host", "date", "digest"];
const MAX_EXTERNAL_CODE: usize = 50;
const FLOWS_NOT_SIMULATED: [&str; 5] = [
    "MATCH_USER",
    "FUND_LOCK",
    "PRE_AUTHORIZED",
    "PRE_AUTHORIZED_FUND_LOCK",
    "HOTP_AUTH",
];

// ---------------------------------------------------------------------------------------------
// Test credentials: made for these tests only, shared by the adapter's tests and the end-to-end
// tests so that no key literal is repeated.

/// The key id Satispay would hand back from `POST /authentication_keys` for the test key.
pub const TEST_KEY_ID: &str = "4ekqhmf77q95deciis2frre12el393rteletbrg4rffqri3n58lsjsvf6uph934o7vr";

// RSA 2048 (openssl genpkey / genrsa). The main pair is PKCS#8; the other pair is PKCS#1, for
// wrong-key tests and to show that both encodings sign alike.
/// PKCS#8 private key of [`TEST_KEY_ID`] (what `SATISPAY_PRIVATE_KEY` holds).
pub const TEST_PRIVATE_KEY_PEM: &str = "\
-----BEGIN PRIVATE KEY-----\n\
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCfIzg5qRbZkU3J\n\
zNIXF4QI9OiJJQi7EaO9SH6d1UdsVScGp3UBFfoON15cnitpS/ZAvviOUAKAGwzm\n\
dBDJmBL4siAI7g6L5bZ8DzbdmG4O/NilyMtlqXUGVJuutNVYgaHOW440YKyCDsTi\n\
QYOOFUe5hq4Ktnvef6jRASFyHkNEahJ0pAKWbIcjfT3ozkrawm0FFMeRC5LOg+gq\n\
MjtR0d8yPRzu2y6PYygO4y94OgsnNqlVtG1YO2o7fcmvN9NFA1A17oX79RbeV16b\n\
vJ83Tn2wOlTKLxcpavf2/9pe1dQdr3hp4prbu5dm27wYFRtC/CkBQCwTC1X5VaOh\n\
DNOJtd75AgMBAAECggEADSXtC5CNp4Cyn2F5mzhRa6cGfmxNph0dPPKcKYC5Y7k+\n\
XfWgfGw7KokHFhpoZk0FJdDRevqf1kNF49WDnJBgwuT+shYvI/5g/yuHojPppfnc\n\
kYf/TCE93r3HVh4xQVyGiKT2YRv6rM05FaOJkcfu0uSOhSqSHe5Ivan9AC+BacnD\n\
U3IIE6oOEipp6YInktSHfTT+9sNWbWBB5o5KlI0Roi2wX6V7qBvl9UVrRftn7qH7\n\
dXxqgARQ5P6cOv+zuIWCcfMepAHxhYNi9JIaIbrql7TbY7M38cdSUkYp42iKq/H/\n\
oHXg1/wUtNPQi7c/5dt//nfq/vWEdm88k9o1I/DJTQKBgQDaT68nlhJK9yTxgxxh\n\
lou0EMpVyF6dncs7+oKQg/WdrYV0Al5oNZLYpR2/nAoOP7f80kvBUlXA3m3vhJ4b\n\
XOWsK2BVhKTNgV6dP15Q+BRN2uH+s9Ewo5rhC8qn9X4yLrs2Iv62210EYZaMCA/O\n\
ucMhxqFlnnjxynFj3LuY8LhC9QKBgQC6nFdAl9ZvjeR8k9XcySTA4sZgWX+SzlOa\n\
K5ZqB07oqLdlubqo2EfNiCEztAQeI5ny+KQpFsvE43A34/I/lbLpY3iRKvGEErCo\n\
TiudIHt5hcczBBm36A5r03aHHnHtY+CHVCnQCGkJkz7z+HBCu4gbsK2fTY4Im4EF\n\
9AHxjrkRdQKBgHVhvwYD9RYFyQFqw8ndDoTlOkXhlK4e9/Xp/mYB7gC4GjeERoq1\n\
s511OoeaOPXsYNs5n630vVMUxfuxTOndi0iFkiipR4uP8fWO6wGSQiiSdk1jFimW\n\
7mHu2ypwH0iQQ+0Z5+ceD+eZKT9l3koDK95vVLy09sbbWRieyOe1Fv45AoGBAK2D\n\
OxnjVM7rB33SVDNzj8oN0li6PwW49UFPsA8sdnGcltJubKIcYD86iWyywHVpsvaZ\n\
vMI74QJUW/6L4669udqK1Ate+6xLWJlV/fWew1COVFcaQ/OdQPN/byFZ7KLHkHkk\n\
h7BYcZomoI1m/rL9/iOJFxcdnKhiNwjbBoedpnUVAoGAAqf9eJMyZzBCfFWG6eki\n\
wEPFYkTK/B8tCrxNJOZqKU1bLwOZRLP1U4xB4VL1LyIO7+0+3m20KUptyI8b5v1Z\n\
qDh4Ms6qjQJYhqLqcsuogIJuVbx1/NgFmBmipCGsD00jQrRj/FClHa0o+vXcTlec\n\
j2bg+/shRpJWTIS4b9N+I2U=\n\
-----END PRIVATE KEY-----\n\
";

/// Its public half, as registered at Satispay.
pub const TEST_PUBLIC_KEY_PEM: &str = "\
-----BEGIN PUBLIC KEY-----\n\
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAnyM4OakW2ZFNyczSFxeE\n\
CPToiSUIuxGjvUh+ndVHbFUnBqd1ARX6DjdeXJ4raUv2QL74jlACgBsM5nQQyZgS\n\
+LIgCO4Oi+W2fA823ZhuDvzYpcjLZal1BlSbrrTVWIGhzluONGCsgg7E4kGDjhVH\n\
uYauCrZ73n+o0QEhch5DRGoSdKQClmyHI3096M5K2sJtBRTHkQuSzoPoKjI7UdHf\n\
Mj0c7tsuj2MoDuMveDoLJzapVbRtWDtqO33JrzfTRQNQNe6F+/UW3ldem7yfN059\n\
sDpUyi8XKWr39v/aXtXUHa94aeKa27uXZtu8GBUbQvwpAUAsEwtV+VWjoQzTibXe\n\
+QIDAQAB\n\
-----END PUBLIC KEY-----\n\
";

/// Another merchant's key (PKCS#1): Satispay knows it only when a test registers it.
pub const OTHER_PRIVATE_KEY_PEM: &str = "\
-----BEGIN RSA PRIVATE KEY-----\n\
MIIEowIBAAKCAQEAoyVQUIt0usSYNkk3QxOWWOH0gaGXYeb7sgMQh6vzHoH4rX2o\n\
LxZyQOtbZJ7sa4q27uz/vXFFkXbPlgrx1jm5a1mG+dboVUOYMwQlSm2yZiupkl+k\n\
lm7mP83182IlKOt4C+i4jbbSS9O/2Wr9XUWuUptCLGNRBCvXDLDfiTm79ah33K7+\n\
53JrK0l7EnapHaMO19xqwnlkZ59JfBDZq4bcwp6D6mp2ECqEDZVA5+dYT/Ugm3mx\n\
9ruONUItekSxwEovHTZu7hdZLSLpEZ5gwGAur8ZVwnJ42aFTEk7LhIUOtcO87enW\n\
e2Q7LAgc0fKAtEf2Y6EZ8SU8nHrq9UEWRoYD8QIDAQABAoIBAAwLO4VAsFC/5e0/\n\
BTR/WA5ueuCNg3mTpeHfuksLwX5PccJsB/wW6/8ZKOVyGom7YzMa/au4dp5tHxjI\n\
bM9H8mVnhfCAgiUWQQCGJjMbC0wh3co7o5DD9d1AuQ8bQBtH29REPUif9iEpLAzy\n\
yirGM77vLYjNmavlSSJLlesBXzv8sigW8bmE0Xuaoj2dvo9qenh2Xwm1QwMS5Lwm\n\
3SqfeTjURCLWdI0AucbI0iI1GIPAZIhmpYkFWeayTPmQ4iCt8wuT+WcynAjqAcbM\n\
xy4dy4ZuBH4ioKFPlINpdAkVq84MB3QS6kPh/dsD3V0YwzrW+AjWCzrHa6YPLNQJ\n\
SDP5FCkCgYEA456KbDFEFSj2CEW4lshda9aw41Q10xz6f1T6il2lyBUGqYXOr5LJ\n\
KEPaLMjy31KoFpaUhiMBL0++ny4thipcLLnM75mXGglWNMDR/XNTme0IK+JOEXeH\n\
X8yETYrCf+2jjr1oidvyxbVkyZgUSqpavQ3fGhckla2P4AVBWrsvS4kCgYEAt3zR\n\
1WCf+tty09XxikI4pV5zbmYNnGzdFgcRy5qzmoTWZ6AtWgiPYn6ELdQcTDurpVfV\n\
Yvrlc+Fy4REiDbFtXaReU72PJjJa6U4XHz2SyZ9IPosSTNZcLibsslFfgqWAvXj7\n\
q1Ws6EO7B6sRnmJwj5LhqGVJydLqpt4ijMnp0ykCgYAhsWUiEMTYMQECRnfFchFK\n\
FjSG4f85qc92q7iOZMBWdq5Ox6zJlnvKRwjzmidBYXXaKh4AIQxa2X4JCAfbFUgh\n\
orswOFcClqE5G9W5o6mbXlfYTx5pPX0/dAGdjM2vrBiK14Sy62jrVSd/I9DVIJRf\n\
6b69mPFkapWifoSnDpA4qQKBgQCgwOlxoPLoK6ThdLnmIHhSYXqOCTj5h+L2boEn\n\
uUSLJsBVD19MVt2QNDmHkSKto0WRWW9pBVlLegRUrNcB2iVv+hZuFVA57bn6VuEp\n\
DJ/ypur7aIpC6TbfdFjBLUuZQXiWB02uYSRYZSaR5E1OTv5AuzWafAr2mCPeyBTK\n\
9gc2aQKBgGvC7hKKRWsRIthWXmtnrRit5fqXUEtaED8N8VlwMqTsIDthcDIOw7HV\n\
FO3FFAhgKVcyzFdj09ZGuZvXsiesExRjKgypfQwoULHTjlME8F6fgpyGcNGw6qos\n\
7tnAJTEJtoQ6UMO58rEl87q9HL7OGFNtIdRRmqSbkHOSJWGppX5f\n\
-----END RSA PRIVATE KEY-----\n\
";

/// Its public half.
pub const OTHER_PUBLIC_KEY_PEM: &str = "\
-----BEGIN PUBLIC KEY-----\n\
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAoyVQUIt0usSYNkk3QxOW\n\
WOH0gaGXYeb7sgMQh6vzHoH4rX2oLxZyQOtbZJ7sa4q27uz/vXFFkXbPlgrx1jm5\n\
a1mG+dboVUOYMwQlSm2yZiupkl+klm7mP83182IlKOt4C+i4jbbSS9O/2Wr9XUWu\n\
UptCLGNRBCvXDLDfiTm79ah33K7+53JrK0l7EnapHaMO19xqwnlkZ59JfBDZq4bc\n\
wp6D6mp2ECqEDZVA5+dYT/Ugm3mx9ruONUItekSxwEovHTZu7hdZLSLpEZ5gwGAu\n\
r8ZVwnJ42aFTEk7LhIUOtcO87enWe2Q7LAgc0fKAtEf2Y6EZ8SU8nHrq9UEWRoYD\n\
8QIDAQAB\n\
-----END PUBLIC KEY-----\n\
";

/// A payment as the mock holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockPayment {
    pub id: String,
    /// `TO_BUSINESS` or `REFUND_TO_BUSINESS`.
    pub kind: String,
    pub flow: String,
    pub amount_unit: i64,
    pub currency: String,
    /// `PENDING`, `ACCEPTED`, `CANCELED` (or `AUTHORIZED`, set by a test).
    pub status: String,
    pub expired: bool,
    pub external_code: Option<String>,
    /// As sent, `{uuid}` placeholder included.
    pub callback_url: Option<String>,
    /// As sent (where the buyer goes back to).
    pub redirect_url: Option<String>,
    pub parent_payment_uid: Option<String>,
    /// Refunds: the sum of refund payments made against this one.
    pub refunded_unit: i64,
    pub insert_date: String,
}

/// One request as it arrived (after the signature check, whatever its result).
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path_and_query: String,
    pub authorization: Option<String>,
    pub body: String,
}

#[derive(Default)]
struct Inner {
    keys: HashMap<String, RsaPublicKey>,
    payments: Vec<MockPayment>,
    /// `Idempotency-Key` → the payment it created.
    idempotency: HashMap<String, String>,
    created: usize,
    refunds: usize,
    rejected_signatures: usize,
    requests: Vec<RecordedRequest>,
}

#[derive(Clone, Default)]
pub struct SatispayMock {
    inner: Arc<Mutex<Inner>>,
}

/// An error answer in Satispay's format: `{"code": 34, "message": "...", "wlt": "<request id>"}`.
pub struct SatispayError {
    status: StatusCode,
    code: u32,
    message: String,
}

impl IntoResponse for SatispayError {
    fn into_response(self) -> Response {
        let wlt: String = rand::rng()
            .sample_iter(rand::distr::Alphanumeric)
            .take(8)
            .map(char::from)
            .collect();
        (
            self.status,
            Json(json!({"code": self.code, "message": self.message, "wlt": wlt})),
        )
            .into_response()
    }
}

fn error(status: StatusCode, code: u32, message: &str) -> SatispayError {
    SatispayError {
        status,
        code,
        message: message.to_owned(),
    }
}

fn unauthorized(message: &str) -> SatispayError {
    error(StatusCode::UNAUTHORIZED, 34, message)
}

fn malformed(message: &str) -> SatispayError {
    error(StatusCode::BAD_REQUEST, 36, message)
}

fn new_id() -> String {
    let b: [u8; 16] = rand::rng().random();
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn now_text() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default()
}

impl MockPayment {
    fn to_json(&self) -> Value {
        let mut v = json!({
            "id": self.id,
            "type": self.kind,
            "amount_unit": self.amount_unit,
            "currency": self.currency,
            "status": self.status,
            "expired": self.expired,
            "metadata": {},
            "sender": {"type": if self.kind == "REFUND_TO_BUSINESS" { "SHOP" } else { "CONSUMER" }},
            "receiver": {"id": "0c4f4511-1afa-4b17-b529-ff7465d126c1",
                         "type": if self.kind == "REFUND_TO_BUSINESS" { "CONSUMER" } else { "SHOP" }},
            "insert_date": self.insert_date,
            "expire_date": self.insert_date,
        });
        if let Some(code) = &self.external_code {
            v["external_code"] = json!(code);
            v["description"] = json!(code);
        }
        if self.flow == "MATCH_CODE" {
            v["code_identifier"] = json!(format!("S6Y-PAY--{}", self.id.to_uppercase()));
            let page = format!("{WEB_HOST}/pay/{}", self.id);
            v["redirect_url"] = json!(match &self.redirect_url {
                Some(back) => format!(
                    "{page}?{}",
                    serde_urlencoded::to_string([("redirect_url", back)]).unwrap_or_default()
                ),
                None => page,
            });
        }
        v
    }
}

impl SatispayMock {
    /// A mock that knows one key: `key_id` names the merchant's public key (PEM, SPKI or PKCS#1).
    pub fn new(key_id: &str, public_key_pem: &str) -> SatispayMock {
        let mock = SatispayMock::default();
        mock.register_key(key_id, public_key_pem);
        mock
    }

    /// A mock that knows the test key pair ([`TEST_KEY_ID`], [`TEST_PUBLIC_KEY_PEM`]).
    pub fn with_test_key() -> SatispayMock {
        SatispayMock::new(TEST_KEY_ID, TEST_PUBLIC_KEY_PEM)
    }

    /// What `POST /authentication_keys` does: Satispay now knows this public key by `key_id`.
    pub fn register_key(&self, key_id: &str, public_key_pem: &str) {
        let key = RsaPublicKey::from_public_key_pem(public_key_pem)
            .or_else(|_| RsaPublicKey::from_pkcs1_pem(public_key_pem))
            .expect("a public key in PEM form");
        self.lock().keys.insert(key_id.to_owned(), key);
    }

    pub fn router(&self) -> Router {
        Router::new().fallback(handle).with_state(self.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, id: &str, change: impl FnOnce(&mut MockPayment)) -> bool {
        let mut inner = self.lock();
        match inner
            .payments
            .iter_mut()
            .find(|p| p.id == id && p.status == "PENDING")
        {
            Some(p) => {
                change(p);
                true
            }
            None => false,
        }
    }

    /// The buyer pays in the app. Only a pending, unexpired payment can be accepted.
    pub fn accept(&self, id: &str) -> bool {
        self.set(id, |p| {
            if !p.expired {
                p.status = "ACCEPTED".into()
            }
        }) && self.payment(id).is_some_and(|p| p.status == "ACCEPTED")
    }

    /// The buyer declines (or the merchant cancels): the payment is CANCELED.
    pub fn cancel(&self, id: &str) -> bool {
        self.set(id, |p| p.status = "CANCELED".into())
    }

    /// The expiration date passes: still PENDING, with `expired: true`.
    pub fn expire(&self, id: &str) -> bool {
        self.set(id, |p| p.expired = true)
    }

    /// Forces any status string (e.g. `AUTHORIZED` of fund-lock flows, or one Satispay may add).
    pub fn force_status(&self, id: &str, status: &str) -> bool {
        let mut inner = self.lock();
        match inner.payments.iter_mut().find(|p| p.id == id) {
            Some(p) => {
                p.status = status.to_owned();
                true
            }
            None => false,
        }
    }

    /// Other shoppers' payments made since (newest last), `status` each, as if created through
    /// the API: what pushes an older payment deeper into `GET /payments`' pages.
    pub fn seed_payments(&self, count: usize, status: &str) {
        let mut inner = self.lock();
        for i in 0..count {
            inner.payments.push(MockPayment {
                id: new_id(),
                kind: "TO_BUSINESS".into(),
                flow: "MATCH_CODE".into(),
                amount_unit: 100,
                currency: "EUR".into(),
                status: status.to_owned(),
                expired: false,
                external_code: Some(format!("seeded-{i}")),
                callback_url: None,
                redirect_url: None,
                parent_payment_uid: None,
                refunded_unit: 0,
                insert_date: now_text(),
            });
        }
    }

    pub fn payment(&self, id: &str) -> Option<MockPayment> {
        self.lock().payments.iter().find(|p| p.id == id).cloned()
    }

    pub fn payments(&self) -> Vec<MockPayment> {
        self.lock().payments.clone()
    }

    /// The URL Satispay calls (GET, no body) when the payment changes: `callback_url` with
    /// `{uuid}` replaced by the payment id.
    pub fn callback_url(&self, id: &str) -> Option<String> {
        self.payment(id)?
            .callback_url
            .map(|u| u.replace("{uuid}", id))
    }

    /// One-off payments created (idempotent replays not counted).
    pub fn created_payments(&self) -> usize {
        self.lock().created
    }

    pub fn refund_count(&self) -> usize {
        self.lock().refunds
    }

    pub fn rejected_signatures(&self) -> usize {
        self.lock().rejected_signatures
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// Checks the HTTP Signature the way Satispay documents it.
    fn verify(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), SatispayError> {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        let auth =
            header("authorization").ok_or_else(|| unauthorized("Missing Authorization header"))?;
        let params = auth
            .strip_prefix("Signature ")
            .map(parse_signature_params)
            .ok_or_else(|| unauthorized("Authorization is not a Signature"))?;
        let param = |k: &str| params.get(k).map(String::as_str);
        if param("algorithm") != Some("rsa-sha256") {
            return Err(unauthorized("Unsupported signature algorithm"));
        }
        let signed: Vec<String> = param("headers")
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_ascii_lowercase)
            .collect();
        if REQUIRED_SIGNED
            .iter()
            .any(|h| !signed.iter().any(|s| s == h))
        {
            return Err(unauthorized(
                "Signature must cover (request-target) host date digest",
            ));
        }
        let key = {
            let inner = self.lock();
            let key_id = param("keyId").ok_or_else(|| unauthorized("Missing keyId"))?;
            inner
                .keys
                .get(key_id)
                .cloned()
                .ok_or_else(|| unauthorized("Merchant not found or unauthorized"))?
        };
        let expected_digest = format!("SHA-256={}", BASE64.encode(Sha256::digest(body)));
        if header("digest") != Some(expected_digest.as_str()) {
            return Err(unauthorized("Digest does not match the body"));
        }
        let date_format = format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] [offset_hour sign:mandatory][offset_minute]"
        );
        if header("date").is_none_or(|d| OffsetDateTime::parse(d, date_format).is_err()) {
            return Err(unauthorized(
                "Date is missing or not in the EEE, dd MMM yyyy HH:mm:ss Z form",
            ));
        }
        let mut lines = Vec::new();
        for name in &signed {
            if name == "(request-target)" {
                let target = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
                lines.push(format!(
                    "(request-target): {} {target}",
                    method.as_str().to_ascii_lowercase()
                ));
            } else {
                let value =
                    header(name).ok_or_else(|| unauthorized("A signed header is missing"))?;
                lines.push(format!("{name}: {value}"));
            }
        }
        let signature = param("signature")
            .and_then(|s| BASE64.decode(s).ok())
            .and_then(|b| Signature::try_from(b.as_slice()).ok())
            .ok_or_else(|| unauthorized("Malformed signature"))?;
        VerifyingKey::<Sha256>::new(key)
            .verify(lines.join("\n").as_bytes(), &signature)
            .map_err(|_| unauthorized("Invalid signature"))
    }

    fn create(&self, headers: &HeaderMap, body: &[u8]) -> Response {
        let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(body) else {
            return malformed("Malformed payment").into_response();
        };
        let idempotency_key = headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if let Some(key) = &idempotency_key {
            let inner = self.lock();
            if let Some(id) = inner.idempotency.get(key) {
                if let Some(p) = inner.payments.iter().find(|p| &p.id == id) {
                    return Json(p.to_json()).into_response();
                }
            }
        }
        let fields = match PaymentFields::read(&obj) {
            Ok(f) => f,
            Err(response) => return response.into_response(),
        };
        let created = match fields.flow.as_str() {
            "MATCH_CODE" => self.create_one_off(fields),
            "REFUND" => self.create_refund(fields),
            f if FLOWS_NOT_SIMULATED.contains(&f) => {
                Err(malformed("This mock only simulates MATCH_CODE and REFUND"))
            }
            _ => Err(malformed("Malformed flow")),
        };
        match created {
            Ok(payment) => {
                let mut inner = self.lock();
                if let Some(key) = idempotency_key {
                    inner.idempotency.insert(key, payment.id.clone());
                }
                let json = payment.to_json();
                inner.payments.push(payment);
                Json(json).into_response()
            }
            Err(response) => response.into_response(),
        }
    }

    fn create_one_off(&self, f: PaymentFields) -> Result<MockPayment, SatispayError> {
        self.lock().created += 1;
        Ok(MockPayment {
            id: new_id(),
            kind: "TO_BUSINESS".into(),
            flow: f.flow,
            amount_unit: f.amount_unit,
            currency: f.currency,
            status: "PENDING".into(),
            expired: false,
            external_code: f.external_code,
            callback_url: f.callback_url,
            redirect_url: f.redirect_url,
            parent_payment_uid: None,
            refunded_unit: 0,
            insert_date: now_text(),
        })
    }

    fn create_refund(&self, f: PaymentFields) -> Result<MockPayment, SatispayError> {
        let parent_id = f
            .parent_payment_uid
            .clone()
            .ok_or_else(|| malformed("parent_payment_uid is required with the REFUND flow"))?;
        let mut inner = self.lock();
        let parent = inner
            .payments
            .iter_mut()
            .find(|p| p.id == parent_id && p.kind == "TO_BUSINESS")
            .ok_or_else(|| error(StatusCode::NOT_FOUND, 41, "Payment not found"))?;
        if parent.status != "ACCEPTED" {
            return Err(error(
                StatusCode::FORBIDDEN,
                45,
                "Unable to fulfill the request: payment not accepted",
            ));
        }
        if f.amount_unit > parent.amount_unit - parent.refunded_unit {
            return Err(error(
                StatusCode::BAD_REQUEST,
                21,
                "Insufficient availability",
            ));
        }
        parent.refunded_unit += f.amount_unit;
        inner.refunds += 1;
        Ok(MockPayment {
            id: new_id(),
            kind: "REFUND_TO_BUSINESS".into(),
            flow: f.flow,
            amount_unit: f.amount_unit,
            currency: f.currency,
            status: "ACCEPTED".into(),
            expired: false,
            external_code: f.external_code,
            callback_url: f.callback_url,
            redirect_url: None,
            parent_payment_uid: Some(parent_id),
            refunded_unit: 0,
            insert_date: now_text(),
        })
    }

    /// `GET /payments/{id}`, long-polling up to `x-satispay-response-wait-time` seconds while the
    /// payment is pending.
    async fn get(&self, id: &str, headers: &HeaderMap) -> Response {
        let wait = match headers
            .get("x-satispay-response-wait-time")
            .map(|v| v.to_str().ok().and_then(|s| s.parse::<u64>().ok()))
        {
            None => 0,
            Some(Some(s)) if s <= 60 => s,
            Some(_) => {
                return malformed("x-satispay-response-wait-time must be 0 to 60 seconds")
                    .into_response()
            }
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
        loop {
            let Some(p) = self.payment(id) else {
                return error(StatusCode::NOT_FOUND, 41, "Payment not found").into_response();
            };
            if p.status != "PENDING" || p.expired || tokio::time::Instant::now() >= deadline {
                return Json(p.to_json()).into_response();
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// `GET /payments?status=&limit=&starting_after=`: newest first. Without `status`, Satispay
    /// lists the `ACCEPTED` payments only (the documented default), never all of them.
    fn list(&self, query: Option<&str>) -> Response {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(query.unwrap_or("")).unwrap_or_default();
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let limit = match get("limit").map(str::parse::<usize>) {
            None => 20,
            Some(Ok(n)) if (1..=100).contains(&n) => n,
            Some(_) => return malformed("limit must be between 1 and 100").into_response(),
        };
        let inner = self.lock();
        let mut all: Vec<&MockPayment> = inner
            .payments
            .iter()
            .rev()
            .filter(|p| p.status == get("status").unwrap_or("ACCEPTED"))
            .collect();
        if let Some(after) = get("starting_after") {
            match all.iter().position(|p| p.id == after) {
                Some(i) => all.drain(..=i).for_each(drop),
                None => return malformed("starting_after is not a payment id").into_response(),
            }
        }
        let has_more = all.len() > limit;
        let data: Vec<Value> = all
            .into_iter()
            .take(limit)
            .map(MockPayment::to_json)
            .collect();
        Json(json!({"has_more": has_more, "data": data})).into_response()
    }
}

/// `keyId="...", algorithm="...", headers="...", signature="..."` → map.
fn parse_signature_params(text: &str) -> HashMap<String, String> {
    text.split(',')
        .filter_map(|part| part.trim().split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
        .collect()
}

/// The create body, checked the way Satispay checks it.
struct PaymentFields {
    flow: String,
    amount_unit: i64,
    currency: String,
    external_code: Option<String>,
    callback_url: Option<String>,
    redirect_url: Option<String>,
    parent_payment_uid: Option<String>,
}

impl PaymentFields {
    fn read(obj: &Map<String, Value>) -> Result<PaymentFields, SatispayError> {
        let text = |k: &str| -> Result<Option<String>, SatispayError> {
            match obj.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(malformed(&format!("{k} must be a string"))),
            }
        };
        let flow = text("flow")?.ok_or_else(|| malformed("flow is required"))?;
        // Integer cents only: "5.00", 5.5 or "500" are all malformed.
        let amount_unit = match obj.get("amount_unit") {
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n.as_i64().filter(|a| *a > 0),
            _ => None,
        }
        .ok_or_else(|| malformed("amount_unit must be a positive integer of cents"))?;
        let currency = text("currency")?.ok_or_else(|| malformed("currency is required"))?;
        if currency != "EUR" {
            return Err(malformed("Currency not supported"));
        }
        let external_code = text("external_code")?;
        if external_code
            .as_ref()
            .is_some_and(|c| c.chars().count() > MAX_EXTERNAL_CODE)
        {
            return Err(malformed("external_code is longer than 50 characters"));
        }
        Ok(PaymentFields {
            flow,
            amount_unit,
            currency,
            external_code,
            callback_url: text("callback_url")?,
            redirect_url: text("redirect_url")?,
            parent_payment_uid: text("parent_payment_uid")?,
        })
    }
}

async fn handle(
    State(mock): State<SatispayMock>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let verified = mock.verify(&method, &uri, &headers, &body);
    {
        let mut inner = mock.lock();
        inner.requests.push(RecordedRequest {
            method: method.to_string(),
            path_and_query: uri
                .path_and_query()
                .map(|p| p.to_string())
                .unwrap_or_default(),
            authorization: headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        if verified.is_err() {
            inner.rejected_signatures += 1;
        }
    }
    if let Err(response) = verified {
        return response.into_response();
    }
    let Some(rest) = uri.path().strip_prefix(API_PREFIX) else {
        return error(StatusCode::NOT_FOUND, 41, "Not found").into_response();
    };
    match (method, rest.trim_end_matches('/')) {
        (Method::POST, "/payments") => mock.create(&headers, &body),
        (Method::GET, "/payments") => mock.list(uri.query()),
        (Method::GET, path) => match path.strip_prefix("/payments/") {
            Some(id) if !id.contains('/') => mock.get(id, &headers).await,
            _ => error(StatusCode::NOT_FOUND, 41, "Not found").into_response(),
        },
        _ => error(StatusCode::NOT_FOUND, 41, "Not found").into_response(),
    }
}
