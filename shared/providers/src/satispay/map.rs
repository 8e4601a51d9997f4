//! Satispay's answers in domain terms: pure functions, tested without a network.

use super::wire::{SatispayError, SatispayPayment};
use crate::kit::{Dialect, Refusal, RefusalKind};
use pgm_core::PaymentState;
use reqwest::StatusCode;

/// Satispay's error body `{"code": 34, "message": "...", "wlt": "<request id>"}`.
pub struct SatispayDialect;

/// The anti-hammering guard: refused for now, not for good.
const ANTI_HAMMERING: &str = "70";
/// "Not found".
const NOT_FOUND: &str = "41";
/// Refusals on the merits that Satispay answers with 403: insufficient availability, payment
/// not allowed, illegal state transition, unable to fulfil, too old to refund.
const ON_THE_MERITS: [&str; 5] = ["21", "27", "44", "45", "131"];

impl Dialect for SatispayDialect {
    const NAME: &'static str = "Satispay";
    const CREDENTIAL: &'static str = "SATISPAY_KEY_ID and SATISPAY_PRIVATE_KEY";

    fn refusal(_: StatusCode, body: &[u8]) -> Refusal {
        let error: SatispayError = serde_json::from_slice(body).unwrap_or_default();
        let code = error.code_text();
        let kind = match code.as_deref() {
            Some(ANTI_HAMMERING) => RefusalKind::TryLater,
            Some(NOT_FOUND) => RefusalKind::NotFound,
            Some(code) if ON_THE_MERITS.contains(&code) => RefusalKind::Definite,
            _ => RefusalKind::ByStatus,
        };
        // Satispay's request id lets its support find the request.
        let message = error.message.map(|m| match &error.wlt {
            Some(wlt) => format!("Satispay: {m} [wlt {wlt}]"),
            None => format!("Satispay: {m}"),
        });
        Refusal::new(code, message).kind(kind)
    }
}

/// Satispay ids are UUIDs; anything else would change the request path.
pub fn is_satispay_id(id: &str) -> bool {
    crate::kit::path_id(id, 64, b"-").is_some()
}

/// PGM's documented mapping (ACCEPTED→ACCEPTED, CANCELED→FAILED, PENDING→PENDING), plus: a
/// pending payment past its expiration can no longer be paid, and AUTHORIZED (fund locks) is an
/// authorisation. Anything unknown stays pending.
pub fn outcome(payment: &SatispayPayment) -> (PaymentState, &'static str) {
    match payment.status.as_str() {
        "ACCEPTED" => (PaymentState::Captured, "Payment accepted"),
        "CANCELED" => (PaymentState::Failed, "Payment canceled"),
        "AUTHORIZED" => (PaymentState::Authorized, "Payment authorised"),
        "PENDING" if payment.expired => (PaymentState::Failed, "Payment expired"),
        "PENDING" => (
            PaymentState::Pending,
            "Waiting for the buyer to pay with Satispay",
        ),
        _ => (
            PaymentState::Pending,
            "Unknown Satispay status; still pending",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kit::classify::answer;
    use crate::ProviderError;

    fn read_payment(status: u16, body: &str) -> Result<SatispayPayment, ProviderError> {
        answer::<SatispayDialect, _>(StatusCode::from_u16(status).unwrap(), body.as_bytes())
    }

    fn payment(status: &str, expired: bool) -> SatispayPayment {
        serde_json::from_value(
            serde_json::json!({"id": "a-1", "status": status, "expired": expired}),
        )
        .unwrap()
    }

    #[test]
    fn answers_are_classified_by_status_and_code() {
        let ok = read_payment(200, r#"{"id":"a-1","status":"PENDING","expired":false}"#).unwrap();
        assert_eq!(ok.id, "a-1");
        assert!(matches!(
            read_payment(200, "<html>"),
            Err(ProviderError::Unavailable(_))
        ));
        assert!(matches!(
            read_payment(502, ""),
            Err(ProviderError::Unavailable(_))
        ));
        assert_eq!(
            read_payment(404, r#"{"code":41,"wlt":"x"}"#).unwrap_err(),
            ProviderError::NotFound
        );
        assert_eq!(
            read_payment(400, r#"{"code":41,"wlt":"x"}"#).unwrap_err(),
            ProviderError::NotFound
        );
        assert!(matches!(
            read_payment(403, r#"{"code":70,"message":"Anti-hammering","wlt":"x"}"#),
            Err(ProviderError::Unavailable(_))
        ));
        match read_payment(
            400,
            r#"{"code":"36","message":"Malformed","wlt":"FnT15Fhr"}"#,
        ) {
            Err(ProviderError::Rejected { code, message }) => {
                assert_eq!(code.as_deref(), Some("36"));
                assert!(message.contains("Malformed") && message.contains("FnT15Fhr"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            read_payment(401, "not json"),
            Err(ProviderError::Rejected { code: Some(c), .. }) if c == "authentication_failed"
        ));
        assert!(matches!(
            read_payment(403, r#"{"code":45,"message":"Unable to fulfill","wlt":"x"}"#),
            Err(ProviderError::Rejected { code: Some(c), .. }) if c == "45"
        ));
    }

    #[test]
    fn maps_every_documented_status() {
        use PaymentState::*;
        for (status, expired, expected) in [
            ("ACCEPTED", false, Captured),
            ("CANCELED", false, Failed),
            ("AUTHORIZED", false, Authorized),
            ("PENDING", false, Pending),
            ("PENDING", true, Failed),
            ("SOMETHING_NEW", false, Pending),
        ] {
            assert_eq!(
                outcome(&payment(status, expired)).0,
                expected,
                "{status} {expired}"
            );
        }
    }
}
