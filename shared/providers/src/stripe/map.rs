//! Stripe's answers in domain terms: pure functions, tested without a network.

use super::wire::{CheckoutSession, ErrorBody, PaymentIntent, Refund};
use crate::kit::{Dialect, Refusal, RefusalKind};
use crate::{RefundOutcome, StatusOutcome};
use pgm_core::PaymentState;
use reqwest::StatusCode;

/// Stripe's error envelope `{"error":{"type","code","param","message"}}`.
pub struct StripeDialect;

impl Dialect for StripeDialect {
    const NAME: &'static str = "Stripe";
    const CREDENTIAL: &'static str = "STRIPE_PRIVATE_KEY";

    fn refusal(_: StatusCode, body: &[u8]) -> Refusal {
        let detail = serde_json::from_slice::<ErrorBody>(body)
            .map(|b| b.error)
            .unwrap_or_default();
        let kind = match detail.code.as_deref() {
            Some("resource_missing") => RefusalKind::NotFound,
            // Another request with the same idempotency key is still running at Stripe.
            Some("idempotency_key_in_use" | "lock_timeout" | "rate_limit") => RefusalKind::TryLater,
            _ => RefusalKind::ByStatus,
        };
        Refusal::new(detail.code.or(detail.kind), detail.message).kind(kind)
    }
}

pub fn outcome(state: PaymentState, description: &str, session_id: &str) -> StatusOutcome {
    StatusOutcome {
        state,
        description: description.to_owned(),
        provider_payment_id: Some(session_id.to_owned()),
        captured_minor: None,
    }
}

/// `pending` and `requires_action` are accepted refunds that Stripe completes later; only
/// `failed` and `canceled` are refunds that will not happen.
pub fn refund_outcome(refund: Refund) -> RefundOutcome {
    let status = refund.status.as_deref().unwrap_or("pending");
    RefundOutcome {
        succeeded: !matches!(status, "failed" | "canceled"),
        description: format!("Refund {status}"),
        provider_refund_id: Some(refund.id),
    }
}

/// Where a session stands, from its `status`, `payment_status` and (when known) its
/// PaymentIntent. PGM v2 maps `open/unpaid` → PENDING, `complete/paid` → ACCEPTED,
/// `expired/unpaid` → FAILED; the PaymentIntent adds what v2 did not have: an authorisation
/// awaiting capture, a released one, and a delayed payment that failed. Anything else stays
/// pending: an unknown value must never read as money taken.
pub fn session_state(session: &CheckoutSession, intent: Option<&PaymentIntent>) -> StatusOutcome {
    let status = session.status.as_deref().unwrap_or_default();
    let paid = session.payment_status.as_deref().unwrap_or_default();
    let intent_status = intent.map(|pi| pi.status.as_str());
    let (state, description) = match (status, paid, intent_status) {
        ("expired", _, _) => (PaymentState::Failed, "Checkout session expired unpaid"),
        ("open", _, _) => (
            PaymentState::Pending,
            "Waiting for the buyer on Stripe Checkout",
        ),
        ("complete", "paid", Some("requires_capture")) => (
            PaymentState::Authorized,
            "Payment authorised, awaiting capture",
        ),
        ("complete", "paid", Some("canceled")) => (PaymentState::Voided, "Authorisation released"),
        ("complete", "paid", None | Some("succeeded")) => {
            (PaymentState::Captured, "Transaction completed")
        }
        ("complete", "unpaid", Some("requires_payment_method" | "canceled")) => {
            (PaymentState::Failed, "The delayed payment failed")
        }
        ("complete", "unpaid", _) => (PaymentState::Pending, "Payment processing"),
        _ => (
            PaymentState::Pending,
            "Stripe reports a state the PGM does not know yet",
        ),
    };
    StatusOutcome {
        // What a (possibly partial) capture took; unknown when the intent is not expanded.
        captured_minor: intent
            .filter(|_| state == PaymentState::Captured)
            .and_then(|pi| pi.amount_received),
        ..outcome(state, description, &session.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(status: &str, paid: &str) -> CheckoutSession {
        serde_json::from_value(serde_json::json!({
            "id": "cs_test_1", "status": status, "payment_status": paid, "payment_intent": null
        }))
        .unwrap()
    }

    fn intent(status: &str) -> PaymentIntent {
        PaymentIntent {
            id: "pi_1".into(),
            status: status.into(),
            amount_received: None,
        }
    }

    #[test]
    fn maps_every_session_state() {
        use PaymentState::*;
        let cases = [
            ("open", "unpaid", None, Pending),
            ("complete", "paid", None, Captured),
            ("complete", "paid", Some("succeeded"), Captured),
            ("complete", "paid", Some("requires_capture"), Authorized),
            ("complete", "paid", Some("canceled"), Voided),
            ("complete", "paid", Some("processing"), Pending),
            ("complete", "unpaid", Some("processing"), Pending),
            (
                "complete",
                "unpaid",
                Some("requires_payment_method"),
                Failed,
            ),
            ("complete", "no_payment_required", None, Pending),
            ("expired", "unpaid", None, Failed),
            ("something_new", "paid", Some("succeeded"), Pending),
        ];
        for (status, paid, pi, expected) in cases {
            let pi = pi.map(intent);
            assert_eq!(
                session_state(&session(status, paid), pi.as_ref()).state,
                expected,
                "{status}/{paid}/{pi:?}"
            );
        }
    }

    #[test]
    fn stripes_error_codes_read_as_their_kind() {
        let body = |code: &str| {
            format!(
                r#"{{"error":{{"type":"invalid_request_error","code":"{code}","message":"m"}}}}"#
            )
        };
        let kind = |code: &str| {
            StripeDialect::refusal(StatusCode::BAD_REQUEST, body(code).as_bytes()).kind
        };
        assert_eq!(kind("resource_missing"), RefusalKind::NotFound);
        assert_eq!(kind("idempotency_key_in_use"), RefusalKind::TryLater);
        assert_eq!(kind("amount_too_small"), RefusalKind::ByStatus);
        let unreadable = StripeDialect::refusal(StatusCode::BAD_REQUEST, b"<html>");
        assert_eq!(unreadable, Refusal::default());
    }
}
