//! Stripe's answers in domain terms: pure functions, tested without a network.

use super::wire::{CheckoutSession, ErrorBody, PaymentIntent, Refund};
use crate::kit::{Dialect, Refusal, RefusalKind};
use crate::{RefundOutcome, RefundStatus, StatusOutcome};
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
            // The key was used before with other parameters: that first request may have
            // acted (a refund sent by an older version), so this is no decline.
            _ if detail.kind.as_deref() == Some("idempotency_error") => RefusalKind::Unknown,
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

/// `pending` and `requires_action` are refunds Stripe accepted and completes later (or the
/// buyer must act on): pending, never counted as refunded until they succeed. `failed` and
/// `canceled` are refunds that will not happen. A status Stripe adds later reads as pending:
/// it must never count as money given back.
pub fn refund_outcome(refund: Refund) -> RefundOutcome {
    let status = refund.status.as_deref().unwrap_or("pending");
    let (state, description) = match status {
        "succeeded" => (RefundStatus::Succeeded, "Refund succeeded".to_owned()),
        "failed" | "canceled" => (
            RefundStatus::Failed,
            match refund.failure_reason.as_deref() {
                Some(reason) => format!("Refund {status} at Stripe ({reason})"),
                None => format!("Refund {status} at Stripe"),
            },
        ),
        other => (
            RefundStatus::Pending,
            format!("Refund pending at Stripe ({other}); the merchant is notified when it ends"),
        ),
    };
    RefundOutcome {
        state,
        description,
        provider_refund_id: Some(refund.id),
    }
}

/// Where a session stands, from its `status`, `payment_status` and (when known) its
/// PaymentIntent. PGM v2 maps `open/unpaid` → PENDING, `complete/paid` → ACCEPTED,
/// `expired/unpaid` → FAILED; the PaymentIntent adds what v2 did not have: an authorisation
/// awaiting capture, a released one, and a delayed payment that failed. Anything else stays
/// pending: an unknown value must never read as money taken.
///
/// Where the PaymentIntent is known it decides, not `payment_status`: Stripe documents `paid`
/// as "funds available in your account", which an authorisation awaiting capture is not, so a
/// completed manual-capture session may well say `unpaid` (research notes §1; no Stripe page
/// states it either way). `requires_capture` is authorised and `succeeded` captured whatever
/// the session says.
pub fn session_state(session: &CheckoutSession, intent: Option<&PaymentIntent>) -> StatusOutcome {
    let status = session.status.as_deref().unwrap_or_default();
    let paid = session.payment_status.as_deref().unwrap_or_default();
    let intent_status = intent.map(|pi| pi.status.as_str());
    let manual = intent.and_then(|pi| pi.capture_method.as_deref()) == Some("manual");
    let (state, description) = match (status, paid, intent_status) {
        ("expired", _, _) => (PaymentState::Failed, "Checkout session expired unpaid"),
        ("open", _, _) => (
            PaymentState::Pending,
            "Waiting for the buyer on Stripe Checkout",
        ),
        ("complete", _, Some("requires_capture")) => (
            PaymentState::Authorized,
            "Payment authorised, awaiting capture",
        ),
        ("complete", _, Some("succeeded")) | ("complete", "paid", None) => {
            (PaymentState::Captured, "Transaction completed")
        }
        ("complete", "paid", Some("canceled")) => (PaymentState::Voided, "Authorisation released"),
        ("complete", _, Some("canceled")) if manual => {
            (PaymentState::Voided, "Authorisation released")
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
            capture_method: None,
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

    #[test]
    fn a_manual_capture_session_is_read_from_its_payment_intent_not_payment_status() {
        let manual = |status: &str| PaymentIntent {
            capture_method: Some("manual".into()),
            ..intent(status)
        };
        let unpaid = session("complete", "unpaid");
        let state = |pi: PaymentIntent| session_state(&unpaid, Some(&pi)).state;
        assert_eq!(state(manual("requires_capture")), PaymentState::Authorized);
        assert_eq!(state(manual("succeeded")), PaymentState::Captured);
        assert_eq!(state(manual("canceled")), PaymentState::Voided);
        // Not manual: a delayed payment that was cancelled never went through.
        assert_eq!(state(intent("canceled")), PaymentState::Failed);
    }

    #[test]
    fn pending_and_requires_action_refunds_are_pending_not_succeeded() {
        let refund = |status: Option<&str>| Refund {
            id: "re_1".into(),
            status: status.map(str::to_owned),
            metadata: Default::default(),
            failure_reason: Some("declined".into()),
        };
        let state = |status| refund_outcome(refund(status)).state;
        assert_eq!(state(Some("succeeded")), RefundStatus::Succeeded);
        assert_eq!(state(Some("pending")), RefundStatus::Pending);
        assert_eq!(state(Some("requires_action")), RefundStatus::Pending);
        assert_eq!(state(Some("a_status_stripe_adds")), RefundStatus::Pending);
        assert_eq!(state(None), RefundStatus::Pending);
        assert_eq!(state(Some("failed")), RefundStatus::Failed);
        assert_eq!(state(Some("canceled")), RefundStatus::Failed);
        assert!(refund_outcome(refund(Some("failed")))
            .description
            .contains("declined"));
    }

    #[test]
    fn a_reused_idempotency_key_is_no_decline() {
        let body = br#"{"error":{"type":"idempotency_error","message":"Keys for idempotent requests can only be used with the same parameters"}}"#;
        assert_eq!(
            StripeDialect::refusal(StatusCode::BAD_REQUEST, body).kind,
            RefusalKind::Unknown
        );
    }
}
