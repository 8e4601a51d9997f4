//! Axerve's answers in domain terms: pure functions, tested without a network.

use super::wire::{Envelope, TransactionPayload};
use crate::kit::classify::{refused, unreadable};
use crate::kit::{Dialect, Refusal, RefusalKind};
use crate::ProviderError;
use pgm_core::{Currency, Money, PaymentState};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;

/// Error codes with a meaning of their own (the rest are definite refusals).
const TRANSACTION_NOT_FOUND: &str = "2011";
const TECHNICAL_ERROR: &str = "9999";

/// Every Axerve answer is `{"error":{"code","description"},"payload":{…}}`, and the envelope
/// decides, not only the HTTP status: an `error.code` other than `"0"` is an error even inside
/// a 200.
pub struct AxerveDialect;

impl Dialect for AxerveDialect {
    const NAME: &'static str = "Axerve";
    const CREDENTIAL: &'static str = "GESTPAY_API_KEY";

    fn refusal(_: StatusCode, body: &[u8]) -> Refusal {
        let Ok(envelope) = serde_json::from_slice::<Envelope<serde_json::Value>>(body) else {
            return Refusal::default();
        };
        let code = envelope.error.code.trim().to_owned();
        let kind = match code.as_str() {
            TRANSACTION_NOT_FOUND => RefusalKind::NotFound,
            TECHNICAL_ERROR => RefusalKind::Unknown,
            _ => RefusalKind::ByStatus,
        };
        let message = format!("Axerve: {} (error {code})", envelope.error.description);
        Refusal::new(Some(code), Some(message)).kind(kind)
    }

    fn success<T: DeserializeOwned>(status: StatusCode, body: &[u8]) -> Result<T, ProviderError> {
        let envelope: Envelope<serde_json::Value> =
            serde_json::from_slice(body).map_err(|_| unreadable::<Self>())?;
        if envelope.error.code.trim() != "0" {
            return Err(refused::<Self>(status, Self::refusal(status, body)));
        }
        let payload = envelope
            .payload
            .ok_or_else(|| ProviderError::Unavailable("Axerve answer without payload".into()))?;
        serde_json::from_value(payload).map_err(|_| unreadable::<Self>())
    }
}

/// The hosted page shows only this kind of payment (`paymentType` of payment/create). Google
/// Pay's code is not in the references we could read, so its page offers whatever the shop
/// has enabled.
pub fn payment_type(method: &str) -> Option<&'static str> {
    match method {
        "credit-cards" => Some("CREDITCARD"),
        "pay-pal" => Some("PAYPAL"),
        "applepay" => Some("APPLEPAY"),
        "satispay" => Some("SATISPAY"),
        _ => None,
    }
}

pub fn is_approved(result: &str) -> bool {
    matches!(result, "OK" | "APPROVED")
}

/// `transactionResult` first (PGM's table: APPROVED/OK → accepted, DECLINED/KO → failed,
/// PENDING/WAITING/UNSUBMITTED → pending), then the last event (`transactionState`) tells how
/// far an approved payment went: `AUT` authorised only; `MOV`/`PRE` settled; `REQ`/`STO`
/// refunds of a settled payment; `CAN` authorisation cancelled. Unknown values stay pending.
pub fn outcome(p: &TransactionPayload) -> (PaymentState, String) {
    let result = p.transaction_result.trim().to_ascii_uppercase();
    match result.as_str() {
        "KO" | "DECLINED" => {
            let why = p
                .transaction_error_description
                .clone()
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| "Payment declined".into());
            (PaymentState::Failed, why)
        }
        r if is_approved(r) => {
            let last_event = p
                .events
                .last()
                .map(|e| e.event.eventtype.as_str())
                .unwrap_or("");
            let state = match p.transaction_state.trim() {
                "" => last_event,
                s => s,
            };
            match state.to_ascii_uppercase().as_str() {
                "AUT" => (PaymentState::Authorized, "Payment authorised".into()),
                "MOV" | "PRE" | "REQ" | "STO" => {
                    (PaymentState::Captured, "Transaction completed".into())
                }
                "CAN" => (PaymentState::Failed, "Authorisation cancelled".into()),
                // Approved without any event yet: the result alone is Axerve's "approved".
                "" => (PaymentState::Captured, "Transaction completed".into()),
                _ => (
                    PaymentState::Pending,
                    "Unknown Axerve transaction state; still pending".into(),
                ),
            }
        }
        "" | "PENDING" | "XX" | "WAITING" | "UNSUBMITTED" => (
            PaymentState::Pending,
            "Waiting for the buyer or the bank".into(),
        ),
        _ => (
            PaymentState::Pending,
            "Unknown Axerve result; still pending".into(),
        ),
    }
}

/// What was captured, in minor units: the sum of the `MOV` (amount transferred) events. `None`
/// when there is none, or when an amount cannot be read (then the PGM assumes the whole
/// amount rather than guess).
pub fn captured_minor(p: &TransactionPayload, currency: Currency) -> Option<i64> {
    let movements = p
        .events
        .iter()
        .filter(|e| e.event.eventtype.trim().eq_ignore_ascii_case("MOV"));
    let mut total: Option<i64> = None;
    for entry in movements {
        let amount = entry.event.eventamount.as_deref()?.trim();
        let minor = Money::parse_decimal(amount, currency).ok()?.minor();
        total = Some(total.unwrap_or(0).checked_add(minor)?);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kit::classify::answer;
    use serde_json::json;

    fn read_detail(status: u16, body: &str) -> Result<TransactionPayload, ProviderError> {
        answer::<AxerveDialect, _>(StatusCode::from_u16(status).unwrap(), body.as_bytes())
    }

    fn detail(result: &str, state: &str, events: &[(&str, &str)]) -> TransactionPayload {
        serde_json::from_value(json!({
            "transactionResult": result, "transactionState": state,
            "events": events.iter().map(|(t, a)| json!({"event": {"eventtype": t, "eventamount": a}})).collect::<Vec<_>>()
        }))
        .unwrap()
    }

    #[test]
    fn the_envelope_decides_whatever_the_http_status() {
        let ok = r#"{"error":{"code":"0","description":"request correctly processed"},
                     "payload":{"transactionResult":"OK","transactionState":"MOV","paymentID":"1"}}"#;
        assert_eq!(read_detail(200, ok).unwrap().transaction_state, "MOV");
        let refused =
            r#"{"error":{"code":"1105","description":"Invalid parameter value"},"payload":{}}"#;
        for status in [200, 400] {
            match read_detail(status, refused) {
                Err(ProviderError::Rejected { code, message }) => {
                    assert_eq!(code.as_deref(), Some("1105"));
                    assert!(message.contains("Invalid parameter value"));
                }
                other => panic!("{status}: {other:?}"),
            }
        }
        let missing =
            r#"{"error":{"code":"2011","description":"Transaction not found"},"payload":{}}"#;
        assert_eq!(
            read_detail(200, missing).unwrap_err(),
            ProviderError::NotFound
        );
        let technical = r#"{"error":{"code":"9999","description":"Technical error"},"payload":{}}"#;
        for status in [200, 500] {
            assert!(matches!(
                read_detail(status, technical),
                Err(ProviderError::Unavailable(_))
            ));
        }
        assert!(matches!(
            read_detail(200, "<html>"),
            Err(ProviderError::Unavailable(_))
        ));
        let forbidden = read_detail(403, "Forbidden").unwrap_err();
        assert!(
            matches!(forbidden, ProviderError::Rejected { code: Some(c), message } if c == "authentication_failed" && message.contains("GESTPAY_API_KEY"))
        );
    }

    #[test]
    fn authorised_captured_and_refunded_follow_the_events() {
        use PaymentState::*;
        let cases = [
            (detail("OK", "AUT", &[("AUT", "10.00")]), Authorized),
            (
                detail("APPROVED", "MOV", &[("AUT", "10.00"), ("MOV", "10.00")]),
                Captured,
            ),
            (
                detail("OK", "", &[("AUT", "10.00"), ("MOV", "4.00")]),
                Captured,
            ),
            (
                detail("OK", "STO", &[("MOV", "10.00"), ("STO", "2.00")]),
                Captured,
            ),
            (
                detail("OK", "CAN", &[("AUT", "10.00"), ("CAN", "10.00")]),
                Failed,
            ),
            (detail("KO", "", &[]), Failed),
            (detail("", "", &[]), Pending),
            (detail("WAITING", "", &[]), Pending),
            (detail("OK", "ZZZ", &[]), Pending),
        ];
        for (payload, expected) in cases {
            assert_eq!(outcome(&payload).0, expected, "{payload:?}");
        }
    }

    #[test]
    fn the_captured_amount_is_the_sum_of_the_movements() {
        let eur = Currency::EUR;
        assert_eq!(
            captured_minor(&detail("OK", "AUT", &[("AUT", "10.00")]), eur),
            None
        );
        let partial = detail("OK", "MOV", &[("AUT", "10.00"), ("MOV", "4.5")]);
        assert_eq!(captured_minor(&partial, eur), Some(450));
        let two = detail(
            "OK",
            "STO",
            &[
                ("AUT", "10.00"),
                ("MOV", "4.00"),
                ("MOV", "6.00"),
                ("STO", "1.00"),
            ],
        );
        assert_eq!(captured_minor(&two, eur), Some(1000));
        // An amount we cannot read: assume the whole payment rather than guess.
        assert_eq!(
            captured_minor(&detail("OK", "MOV", &[("MOV", "4,00")]), eur),
            None
        );
    }
}
