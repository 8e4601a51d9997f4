//! BPC's answers in domain terms: pure functions, tested without a network.

use super::wire::{ErrorBody, Payment, Refund};
use crate::kit::{Dialect, Refusal, RefusalKind};
use crate::{RefundOutcome, RefundStatus, StatusOutcome};
use base64::Engine;
use pgm_core::signing::{constant_time_eq, hmac_sha256_hex};
use pgm_core::PaymentState;
use reqwest::StatusCode;
use serde_json::Value;

/// BPC's error answers (see [`ErrorBody`]).
pub struct BpcDialect;

impl Dialect for BpcDialect {
    const NAME: &'static str = "BPC";
    const CREDENTIAL: &'static str = "BPC_API_KEY";

    fn refusal(_: StatusCode, body: &[u8]) -> Refusal {
        let body = serde_json::from_slice::<ErrorBody>(body).unwrap_or_default();
        let (code, message) = match body.error {
            Some(e) => (e.code.or(e.kind), e.message),
            None => (body.code, body.message),
        };
        let kind = match code.as_deref() {
            Some("resourceMissing" | "paymentNotFound") => RefusalKind::NotFound,
            Some("rateLimit" | "lockTimeout") => RefusalKind::TryLater,
            _ => RefusalKind::ByStatus,
        };
        Refusal::new(code, message).kind(kind)
    }
}

/// Which payment `status` values mean what. The seed confirms `succeeded`, `requiresAction`,
/// `requiresCapture` and `requiresPaymentMethod`; `canceled` is implied by `payment.canceled`;
/// `failed` is not confirmed. So the lists are settings (`BPC_*_STATUSES`); any other value
/// (`requiresAction`, `processing`, one BPC adds later) is pending: an unknown value must
/// never read as money taken, nor as money refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusNames {
    pub succeeded: Vec<String>,
    pub authorized: Vec<String>,
    pub failed: Vec<String>,
}

pub const DEFAULT_SUCCEEDED: &str = "succeeded";
pub const DEFAULT_AUTHORIZED: &str = "requiresCapture";
/// `requiresPaymentMethod` after a create that carried a payment method is a declined card
/// (or a failed 3-D Secure): the PGM never sends another method to the same payment.
pub const DEFAULT_FAILED: &str = "failed,canceled,requiresPaymentMethod";

impl Default for StatusNames {
    fn default() -> Self {
        StatusNames {
            succeeded: split(DEFAULT_SUCCEEDED),
            authorized: split(DEFAULT_AUTHORIZED),
            failed: split(DEFAULT_FAILED),
        }
    }
}

pub fn split(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

impl StatusNames {
    pub fn state(&self, status: &str) -> PaymentState {
        let is = |list: &[String]| list.iter().any(|s| s == status);
        if is(&self.succeeded) {
            PaymentState::Captured
        } else if is(&self.authorized) {
            PaymentState::Authorized
        } else if is(&self.failed) {
            PaymentState::Failed
        } else {
            PaymentState::Pending
        }
    }

    /// Where a Payment object stands.
    pub fn outcome(&self, payment: &Payment) -> StatusOutcome {
        let state = self.state(&payment.status);
        let description = match state {
            PaymentState::Captured => "Transaction completed".to_owned(),
            PaymentState::Authorized => "Payment authorised, awaiting capture".to_owned(),
            PaymentState::Failed => {
                format!("Payment not completed (BPC status {})", payment.status)
            }
            _ if redirect_url(payment).is_some() => "Waiting for 3-D Secure".to_owned(),
            _ => format!("Payment pending (BPC status {})", payment.status),
        };
        StatusOutcome {
            state,
            description,
            provider_payment_id: Some(payment.id.clone()),
            // What a (possibly partial) capture took.
            captured_minor: payment
                .amount_received
                .filter(|_| state == PaymentState::Captured),
        }
    }
}

/// The 3-D Secure redirect of a `nextAction` block. Its shape is not in the seed, so the URL
/// is read from the places an api2-style answer puts it: `nextAction.redirectToUrl.url` (the
/// mock's shape), `nextAction.redirect.url`, `nextAction.url`.
pub fn redirect_url(payment: &Payment) -> Option<String> {
    let next = payment.next_action.as_ref()?;
    [
        next.pointer("/redirectToUrl/url"),
        next.pointer("/redirect/url"),
        next.get("url"),
    ]
    .into_iter()
    .flatten()
    .find_map(Value::as_str)
    .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
    .map(str::to_owned)
}

/// A refund BPC did not refuse is accepted; only `failed` and `canceled` are refunds that will
/// not happen. BPC's refund lifecycle is not documented where we could read it, and the adapter
/// cannot look a refund up later, so an accepted one counts as done rather than stay reserved
/// with nothing to settle it.
pub fn refund_outcome(refund: Refund) -> RefundOutcome {
    let status = refund.status.as_deref().unwrap_or("pending");
    RefundOutcome {
        state: RefundStatus::settled(!matches!(status, "failed" | "canceled")),
        description: format!("Refund {status}"),
        provider_refund_id: Some(refund.id),
    }
}

/// How `X-Signature` is encoded. The seed says only "symmetric signature with HMAC"; the
/// default is the most common reading: HMAC-SHA256 of the raw body with the webhook secret, in
/// hex (`BPC_WEBHOOK_SIGNATURE_ENCODING=base64` for the other common one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureEncoding {
    Hex,
    Base64,
}

/// Whether `header` is `secret`'s HMAC-SHA256 of `body`. A `sha256=` prefix is accepted, and
/// hex in either case.
pub fn signature_matches(
    secret: &[u8],
    encoding: SignatureEncoding,
    header: &str,
    body: &[u8],
) -> bool {
    let given = header.trim();
    let given = given.strip_prefix("sha256=").unwrap_or(given);
    let hex_mac = hmac_sha256_hex(secret, body);
    match encoding {
        SignatureEncoding::Hex => {
            constant_time_eq(given.to_ascii_lowercase().as_bytes(), hex_mac.as_bytes())
        }
        SignatureEncoding::Base64 => {
            let raw = hex::decode(&hex_mac).unwrap_or_default();
            let expected = base64::engine::general_purpose::STANDARD.encode(raw);
            constant_time_eq(given.as_bytes(), expected.as_bytes())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payment(status: &str, next_action: Option<Value>) -> Payment {
        serde_json::from_value(serde_json::json!({
            "id": "p_1", "status": status, "amount": 1000, "amountReceived": 400,
            "nextAction": next_action,
        }))
        .unwrap()
    }

    #[test]
    fn maps_every_status_and_unknown_ones_stay_pending() {
        use PaymentState::*;
        let names = StatusNames::default();
        for (status, expected) in [
            ("succeeded", Captured),
            ("requiresCapture", Authorized),
            ("requiresAction", Pending),
            ("processing", Pending),
            ("failed", Failed),
            ("canceled", Failed),
            ("requiresPaymentMethod", Failed),
            ("somethingNew", Pending),
            ("SUCCEEDED", Pending),
        ] {
            assert_eq!(names.state(status), expected, "{status}");
        }
        let captured = names.outcome(&payment("succeeded", None));
        assert_eq!(captured.captured_minor, Some(400));
        assert_eq!(captured.provider_payment_id.as_deref(), Some("p_1"));
        assert_eq!(
            names.outcome(&payment("processing", None)).captured_minor,
            None
        );
    }

    #[test]
    fn status_names_are_settings() {
        let names = StatusNames {
            failed: split(" declined , failed,"),
            ..StatusNames::default()
        };
        assert_eq!(names.state("declined"), PaymentState::Failed);
        assert_eq!(names.state("canceled"), PaymentState::Pending);
    }

    #[test]
    fn reads_the_redirect_wherever_next_action_puts_it() {
        use serde_json::json;
        for next in [
            json!({"type": "redirectToUrl", "redirectToUrl": {"url": "https://acs.test/1"}}),
            json!({"type": "redirect", "redirect": {"url": "https://acs.test/1"}}),
            json!({"url": "https://acs.test/1"}),
        ] {
            let p = payment("requiresAction", Some(next.clone()));
            assert_eq!(
                redirect_url(&p).as_deref(),
                Some("https://acs.test/1"),
                "{next}"
            );
            assert_eq!(
                StatusNames::default().outcome(&p).description,
                "Waiting for 3-D Secure"
            );
        }
        let not_a_url = payment("requiresAction", Some(json!({"url": "javascript:x"})));
        assert_eq!(redirect_url(&not_a_url), None);
        assert_eq!(redirect_url(&payment("requiresAction", None)), None);
    }

    #[test]
    fn signatures_in_hex_or_base64() {
        let body = br#"{"type":"payment.succeeded"}"#;
        let hex_sig = hmac_sha256_hex(b"whsec", body);
        assert!(signature_matches(
            b"whsec",
            SignatureEncoding::Hex,
            &hex_sig,
            body
        ));
        assert!(signature_matches(
            b"whsec",
            SignatureEncoding::Hex,
            &format!("sha256={}", hex_sig.to_uppercase()),
            body
        ));
        assert!(!signature_matches(
            b"other",
            SignatureEncoding::Hex,
            &hex_sig,
            body
        ));
        assert!(!signature_matches(
            b"whsec",
            SignatureEncoding::Hex,
            &hex_sig,
            b"{}"
        ));
        let b64 = base64::engine::general_purpose::STANDARD.encode(hex::decode(&hex_sig).unwrap());
        assert!(signature_matches(
            b"whsec",
            SignatureEncoding::Base64,
            &b64,
            body
        ));
        assert!(!signature_matches(
            b"whsec",
            SignatureEncoding::Base64,
            &hex_sig,
            body
        ));
    }

    #[test]
    fn bpc_errors_read_as_their_kind() {
        let nested =
            br#"{"error":{"type":"invalidRequest","code":"amountInvalid","message":"bad amount"}}"#;
        let r = BpcDialect::refusal(StatusCode::BAD_REQUEST, nested);
        assert_eq!(
            (r.code.as_deref(), r.message.as_deref(), r.kind),
            (
                Some("amountInvalid"),
                Some("bad amount"),
                RefusalKind::ByStatus
            )
        );
        let flat = br#"{"code":"resourceMissing","message":"no such payment"}"#;
        assert_eq!(
            BpcDialect::refusal(StatusCode::BAD_REQUEST, flat).kind,
            RefusalKind::NotFound
        );
        assert_eq!(
            BpcDialect::refusal(StatusCode::BAD_REQUEST, b"<html>"),
            Refusal::default()
        );
    }
}
