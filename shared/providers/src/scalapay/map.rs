//! Scalapay's answers in domain terms: pure functions, tested without a network.

use super::wire::{ErrorBody, OrderDetails};
use crate::kit::{path_id, Dialect, Refusal, RefusalKind};
use crate::StatusOutcome;
use pgm_core::PaymentState;
use reqwest::StatusCode;

/// Scalapay's error body `{"errorCode","errorId","message":…,"httpStatusCode"}`.
pub struct ScalapayDialect;

impl Dialect for ScalapayDialect {
    const NAME: &'static str = "Scalapay";
    const CREDENTIAL: &'static str = "SCALAPAY_API_KEY";

    fn refusal(_: StatusCode, body: &[u8]) -> Refusal {
        let error = serde_json::from_slice::<ErrorBody>(body).unwrap_or_default();
        let kind = match error.error_code.as_deref() {
            // "Order … not found."
            Some("invalid_token") => RefusalKind::NotFound,
            // Try again later with the same key.
            Some("conflicting_operation_in_progress") => RefusalKind::TryLater,
            _ => RefusalKind::ByStatus,
        };
        Refusal::new(error.error_code.clone(), error.text()).kind(kind)
    }
}

pub fn outcome(state: PaymentState, description: impl Into<String>, token: &str) -> StatusOutcome {
    StatusOutcome {
        state,
        description: description.into(),
        provider_payment_id: Some(token.to_owned()),
        // PGM captures Scalapay orders in full.
        captured_minor: None,
    }
}

pub fn lower(status: &Option<String>) -> String {
    status.as_deref().unwrap_or_default().to_ascii_lowercase()
}

/// The buyer authorised the order and it still waits for its capture.
pub fn awaiting_capture(order: &OrderDetails) -> bool {
    matches!(lower(&order.status).as_str(), "authorized" | "approved")
        && lower(&order.capture_status) != "captured"
}

/// PGM v3's mapping: `charged` → ACCEPTED; `expired` → FAILED; `created`, `pending`,
/// `authorized`, `approved` and anything else → PENDING. A `refunded` order was charged first:
/// it reads as captured (the refunds are the PGM's to count), never as a failed payment.
pub fn order_state(order: &OrderDetails) -> StatusOutcome {
    let status = lower(&order.status);
    let (state, description) = match status.as_str() {
        "charged" => (PaymentState::Captured, "Transaction completed".to_owned()),
        "refunded" => (
            PaymentState::Captured,
            "Order charged, then refunded".to_owned(),
        ),
        "expired" => (
            PaymentState::Failed,
            match &order.last_eligibility_feedback {
                Some(why) => format!("Order expired ({why})"),
                None => "Order expired".to_owned(),
            },
        ),
        "created" | "pending" => (
            PaymentState::Pending,
            "Waiting for the buyer on Scalapay".to_owned(),
        ),
        "authorized" | "approved" => (
            PaymentState::Pending,
            "Authorised by the buyer, capture pending".to_owned(),
        ),
        _ => (
            PaymentState::Pending,
            "Scalapay reports a state the PGM does not know yet".to_owned(),
        ),
    };
    outcome(state, description, &order.token)
}

/// Order tokens are letters and digits (`71KH916VPE`); anything else must not reach a path.
pub fn order_token(token: &str) -> Option<&str> {
    path_id(token, 64, b"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn order(status: &str, capture: &str) -> OrderDetails {
        serde_json::from_value(json!({"token": "T1", "status": status, "captureStatus": capture}))
            .unwrap()
    }

    #[test]
    fn maps_the_v3_statuses_and_a_refund_is_never_a_failure() {
        use PaymentState::*;
        for (status, expected) in [
            ("charged", Captured),
            ("refunded", Captured),
            ("expired", Failed),
            ("created", Pending),
            ("pending", Pending),
            ("authorized", Pending),
            ("approved", Pending),
            ("CHARGED", Captured),
            ("something_new", Pending),
            ("", Pending),
        ] {
            assert_eq!(
                order_state(&order(status, "pending")).state,
                expected,
                "{status}"
            );
        }
    }

    #[test]
    fn only_authorised_uncaptured_orders_await_capture() {
        assert!(awaiting_capture(&order("authorized", "pending")));
        assert!(awaiting_capture(&order("approved", "pending")));
        assert!(!awaiting_capture(&order("approved", "captured")));
        assert!(!awaiting_capture(&order("created", "pending")));
        assert!(!awaiting_capture(&order("charged", "captured")));
    }

    #[test]
    fn tokens_that_are_not_tokens_never_reach_a_path() {
        assert_eq!(order_token("71KH916VPE"), Some("71KH916VPE"));
        assert_eq!(order_token("../capture"), None);
        assert_eq!(order_token(""), None);
    }

    #[test]
    fn scalapays_error_codes_read_as_their_kind() {
        let kind = |body: &str| {
            ScalapayDialect::refusal(StatusCode::UNPROCESSABLE_ENTITY, body.as_bytes()).kind
        };
        assert_eq!(
            kind(r#"{"errorCode":"invalid_token","message":"Order null not found."}"#),
            RefusalKind::NotFound
        );
        assert_eq!(
            kind(r#"{"errorCode":"conflicting_operation_in_progress"}"#),
            RefusalKind::TryLater
        );
        let validation = ScalapayDialect::refusal(
            StatusCode::BAD_REQUEST,
            br#"{"errorCode":"api_validationerror","message":{"errors":[{"field":["consumer","phoneNumber"],"messages":["is required"]}]}}"#,
        );
        assert_eq!(validation.code.as_deref(), Some("api_validationerror"));
        assert!(validation.message.unwrap().contains("consumer.phoneNumber"));
    }
}
