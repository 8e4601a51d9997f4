//! Soisy's answers and callback events in domain terms: pure functions, tested without a network.
//!
//! Order status (`GET …/orders/{token}`) → payment state; the callback events are only triggers
//! (unsigned), each naming the order status a re-read is expected to find:
//!
//! | eventId | eventMessage | order status | payment | notification |
//! |---|---|---|---|---|
//! | `LoanWasApproved` | loan approved | `request_accepted` | PENDING | none |
//! | `RequestCompleted` | waiting for verification | `waiting_for_verification` | PENDING | none |
//! | `LoanWasVerified` | waiting for disbursement | `waiting_for_disbursement` | PENDING | none |
//! | `LoanWasDisbursed` | payment received | `disbursed` | ACCEPTED (captured) | `payment.succeeded` |
//! | `UserWasRejected` | documents check KO / payment failed | `cancelled` | FAILED | `payment.failed` |
//! | anything else | | (whatever the order says) | from the order | from the order |
//!
//! `waiting_for_disbursement` stays PENDING: the loan is granted but Soisy has not paid the
//! merchant yet, and an ACCEPTED payment is one the merchant may ship.

use super::wire::SoisyError;
use crate::kit::{Dialect, Refusal};
use pgm_core::PaymentState;
use reqwest::StatusCode;

/// Soisy's error bodies (see [`SoisyError`]).
pub struct SoisyDialect;

impl Dialect for SoisyDialect {
    const NAME: &'static str = "Soisy";
    const CREDENTIAL: &'static str = "SOISY_SHOP_ID and SOISY_PARTNER_KEY";

    fn refusal(_: StatusCode, body: &[u8]) -> Refusal {
        let error: SoisyError = serde_json::from_slice(body).unwrap_or_default();
        let (field, message) = error.read();
        Refusal::new(field, message)
    }
}

/// Order tokens go into URL paths: letters, digits, `-` and `_` only.
pub fn order_token(token: &str) -> Option<&str> {
    crate::kit::path_id(token, 128, b"-_")
}

/// The payment state an order status means, with a description for the merchant.
pub fn order_state(status: &str) -> (PaymentState, &'static str) {
    match status.trim().to_ascii_lowercase().as_str() {
        "disbursed" => (PaymentState::Captured, "Loan disbursed: payment received"),
        "cancelled" | "canceled" => (PaymentState::Failed, "Loan application cancelled"),
        "quote" => (
            PaymentState::Pending,
            "Waiting for the buyer to apply on Soisy",
        ),
        "request_received" => (PaymentState::Pending, "Loan application received"),
        // Soisy's list documents `request_accepted`; third-party plugins read `request_approved`.
        "request_accepted" | "request_approved" => (
            PaymentState::Pending,
            "Loan pre-approved; application continuing",
        ),
        "waiting_for_verification" => (
            PaymentState::Pending,
            "Loan application completed; waiting for verification",
        ),
        "waiting_for_disbursement" => (
            PaymentState::Pending,
            "Loan verified; waiting for disbursement",
        ),
        _ => (PaymentState::Pending, "Unknown Soisy status; still pending"),
    }
}

/// Every callback event Soisy documents (eventId), and the order status each announces.
pub const EVENTS: [(&str, &str); 5] = [
    ("LoanWasApproved", "request_accepted"),
    ("RequestCompleted", "waiting_for_verification"),
    ("LoanWasVerified", "waiting_for_disbursement"),
    ("LoanWasDisbursed", "disbursed"),
    ("UserWasRejected", "cancelled"),
];

/// The order status an event announces; `None` for an event Soisy added later (still a
/// trigger: the order is read all the same).
pub fn announced_status(event_id: &str) -> Option<&'static str> {
    EVENTS
        .iter()
        .find(|(id, _)| *id == event_id)
        .map(|(_, status)| *status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kit::classify::answer;
    use crate::ProviderError;
    use PaymentState::*;

    #[test]
    fn every_documented_status_and_event_is_mapped() {
        for (status, state) in [
            ("quote", Pending),
            ("request_received", Pending),
            ("request_accepted", Pending),
            ("waiting_for_verification", Pending),
            ("waiting_for_disbursement", Pending),
            ("disbursed", Captured),
            ("cancelled", Failed),
            ("DISBURSED", Captured),
            ("something_new", Pending),
        ] {
            assert_eq!(order_state(status).0, state, "{status}");
        }
        let expected = [Pending, Pending, Pending, Captured, Failed];
        for ((event, _), state) in EVENTS.iter().zip(expected) {
            let status = announced_status(event).unwrap();
            assert_eq!(order_state(status).0, state, "{event}");
        }
        assert_eq!(announced_status("LoanWasRefunded"), None);
    }

    #[test]
    fn tokens_are_plain() {
        assert_eq!(order_token("a1B2-c_3"), Some("a1B2-c_3"));
        for bad in ["", "../orders", "a?b", "a/b", "a b"] {
            assert_eq!(order_token(bad), None, "{bad}");
        }
    }

    #[test]
    fn answers_are_classified() {
        let read = |status: u16, body: &str| {
            answer::<SoisyDialect, serde_json::Value>(
                StatusCode::from_u16(status).unwrap(),
                body.as_bytes(),
            )
        };
        match read(
            400,
            r#"{"errors":{"amount":["The amount must be an integer"]}}"#,
        ) {
            Err(ProviderError::Rejected { code, message }) => {
                assert_eq!(code.as_deref(), Some("amount"));
                assert!(message.contains("must be an integer"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(read(404, "{}").unwrap_err(), ProviderError::NotFound);
        assert!(matches!(read(500, "x"), Err(ProviderError::Unavailable(_))));
        assert!(matches!(
            read(401, r#"{"error":"bad token partnerkey"}"#),
            Err(ProviderError::Rejected { message, .. })
                if message.contains("SOISY_PARTNER_KEY") && !message.contains("partnerkey")
        ));
        assert!(matches!(
            read(200, "<html>"),
            Err(ProviderError::Unavailable(_))
        ));
    }
}
