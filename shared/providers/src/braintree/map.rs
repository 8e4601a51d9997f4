//! Braintree's answers in domain terms: pure functions, tested without a network.

use super::wire::{parse, ApiError, Transaction};
use crate::kit::{Dialect, Refusal, RefusalKind};
use crate::{PayOutcome, StatusOutcome};
use pgm_core::PaymentState;
use reqwest::StatusCode;

/// Braintree's error answers: 422 `<api-error-response>` (validation errors, definite);
/// 401/403/404/426/429/5xx with an empty body, read from the status.
pub struct BraintreeDialect;

impl Dialect for BraintreeDialect {
    const NAME: &'static str = "Braintree";
    const CREDENTIAL: &'static str =
        "BRAINTREE_MERCHANT_ID, BRAINTREE_PUBLIC_KEY and BRAINTREE_PRIVATE_KEY";

    fn refusal(status: StatusCode, body: &[u8]) -> Refusal {
        let Some(error) = parse(body).as_ref().and_then(ApiError::from_node) else {
            // 426: our API version is too old for the gateway; nothing was done.
            return Refusal::default();
        };
        let code = error.first_code().map(str::to_owned);
        let kind = if status == StatusCode::UNPROCESSABLE_ENTITY {
            RefusalKind::Definite
        } else {
            RefusalKind::ByStatus
        };
        Refusal::new(code, error.message).kind(kind)
    }
}

/// A transaction's status in the PGM's terms (Braintree's statuses, providers.md §5):
/// submitted for settlement and later is money taken (a settlement can still be declined,
/// which a webhook or a check then reports); `authorized` awaits `/confirm`; anything the
/// PGM does not know stays pending: an unknown value must never read as money taken.
pub fn state_of(status: &str) -> (PaymentState, &'static str) {
    match status {
        "submitted_for_settlement"
        | "settling"
        | "settled"
        | "settlement_pending"
        | "settlement_confirmed" => (PaymentState::Captured, "Transaction completed"),
        "authorized" => (
            PaymentState::Authorized,
            "Payment authorised, awaiting capture",
        ),
        "voided" => (PaymentState::Voided, "Authorisation released"),
        "processor_declined" => (PaymentState::Failed, "Declined by the processor"),
        "gateway_rejected" => (PaymentState::Failed, "Rejected by Braintree's gateway"),
        "failed" => (PaymentState::Failed, "The transaction failed"),
        "settlement_declined" => (PaymentState::Failed, "Settlement declined"),
        "authorization_expired" => (PaymentState::Failed, "Authorisation expired"),
        _ => (
            PaymentState::Pending,
            "Braintree reports a state the PGM does not know yet",
        ),
    }
}

/// What the provider says of a transaction, for `/status`, `/check` and webhooks.
pub fn status_outcome(t: &Transaction) -> StatusOutcome {
    let (state, description) = state_of(&t.status);
    StatusOutcome {
        state,
        description: describe(description, t),
        provider_payment_id: Some(t.id.clone()),
        captured_minor: None,
    }
}

/// A sale's answer: the transaction (approved, or declined inside a 422).
pub fn sale_outcome(t: &Transaction) -> PayOutcome {
    let status = status_outcome(t);
    PayOutcome {
        provider_payment_id: Some(t.id.clone()),
        state: status.state,
        description: status.description,
        redirect_url: None,
        redirect_url_mobile: None,
        recurrence_token: None,
    }
}

/// Declines say why, in the processor's words (`2000 Do Not Honor`).
fn describe(base: &str, t: &Transaction) -> String {
    match (
        t.status.as_str(),
        &t.processor_response_code,
        &t.processor_response_text,
    ) {
        ("processor_declined", Some(code), Some(text)) => format!("{base}: {code} {text}"),
        _ => base.to_owned(),
    }
}

/// How a refund is made of a transaction in `status`: Braintree refunds only settled (or
/// settling) sales and voids only unsettled ones, whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundPlan {
    Refund,
    Void,
    /// The reason it cannot be done now.
    Refuse(&'static str),
}

pub fn refund_plan(status: &str, whole: bool) -> RefundPlan {
    match status {
        "settled" | "settling" => RefundPlan::Refund,
        "authorized" | "submitted_for_settlement" | "settlement_pending" if whole => {
            RefundPlan::Void
        }
        "authorized" | "submitted_for_settlement" | "settlement_pending" => RefundPlan::Refuse(
            "Braintree has not settled this payment yet: before settlement only the whole \
             amount can be given back (a void); refund a part once it is settled",
        ),
        _ => RefundPlan::Refuse("Braintree cannot refund a transaction in this state"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tx(status: &str) -> Transaction {
        Transaction {
            id: "t1".into(),
            status: status.into(),
            kind: Some("sale".into()),
            amount: Some("10.00".into()),
            currency: Some("EUR".into()),
            order_id: Some("o1".into()),
            refund_ids: vec![],
            processor_response_code: Some("2000".into()),
            processor_response_text: Some("Do Not Honor".into()),
        }
    }

    #[test]
    fn every_documented_status_has_a_state_and_unknown_ones_stay_pending() {
        use PaymentState::*;
        for (status, state) in [
            ("submitted_for_settlement", Captured),
            ("settling", Captured),
            ("settled", Captured),
            ("settlement_pending", Captured),
            ("settlement_confirmed", Captured),
            ("authorized", Authorized),
            ("authorizing", Pending),
            ("voided", Voided),
            ("processor_declined", Failed),
            ("gateway_rejected", Failed),
            ("failed", Failed),
            ("settlement_declined", Failed),
            ("authorization_expired", Failed),
            ("unrecognized", Pending),
            ("something_new", Pending),
        ] {
            assert_eq!(state_of(status).0, state, "{status}");
        }
    }

    #[test]
    fn a_decline_says_the_processors_reason() {
        let out = sale_outcome(&tx("processor_declined"));
        assert_eq!(out.state, PaymentState::Failed);
        assert_eq!(out.provider_payment_id.as_deref(), Some("t1"));
        assert_eq!(
            out.description,
            "Declined by the processor: 2000 Do Not Honor"
        );
        assert_eq!(
            sale_outcome(&tx("settled")).description,
            "Transaction completed"
        );
    }

    #[test]
    fn settled_is_refunded_unsettled_is_voided_whole() {
        assert_eq!(refund_plan("settled", false), RefundPlan::Refund);
        assert_eq!(refund_plan("settling", true), RefundPlan::Refund);
        assert_eq!(
            refund_plan("submitted_for_settlement", true),
            RefundPlan::Void
        );
        assert_eq!(refund_plan("authorized", true), RefundPlan::Void);
        assert_eq!(refund_plan("settlement_pending", true), RefundPlan::Void);
        assert!(matches!(
            refund_plan("submitted_for_settlement", false),
            RefundPlan::Refuse(_)
        ));
        assert!(matches!(refund_plan("voided", true), RefundPlan::Refuse(_)));
    }

    #[test]
    fn validation_errors_are_definite_refusals_with_the_first_code() {
        let body = br#"<api-error-response><errors><transaction><errors type="array">
            <error><code>91506</code><attribute>base</attribute><message>Cannot refund transaction unless it is settled.</message></error>
            </errors></transaction></errors><message>Cannot refund transaction unless it is settled.</message></api-error-response>"#;
        let r = BraintreeDialect::refusal(StatusCode::UNPROCESSABLE_ENTITY, body);
        assert_eq!(r.code.as_deref(), Some("91506"));
        assert_eq!(r.kind, RefusalKind::Definite);
        assert_eq!(
            BraintreeDialect::refusal(StatusCode::UNAUTHORIZED, b""),
            Refusal::default()
        );
    }
}
