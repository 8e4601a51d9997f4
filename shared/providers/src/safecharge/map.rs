//! Pure readings of Nuvei's answers and DMNs into the domain (no I/O).

use super::wire::{Envelope, Transaction};
use crate::kit::classify::{refused, unreadable, Dialect, Refusal, RefusalKind};
use crate::{CaptureOutcome, ProviderError, StatusOutcome};
use pgm_core::PaymentState;
use reqwest::StatusCode;
use serde::de::DeserializeOwned;

/// Nuvei's envelope: HTTP 200 with `status: "ERROR"`, `errCode` and `reason` for a refused
/// request (stage 1), and the gateway's verdict in `transactionStatus` (stage 2).
pub struct SafechargeDialect;

/// errCodes of Nuvei's table (docs.nuvei.com "response handling") that need a reading other
/// than "refused for good".
const GENERAL_ERROR: i64 = 1000;
const COMMUNICATION_ERROR: i64 = 1038;
const CREDENTIAL_CODES: [i64; 3] = [1001, 1013, 1022];

impl Dialect for SafechargeDialect {
    const NAME: &'static str = "Nuvei";
    const CREDENTIAL: &'static str =
        "SAFECHARGE_MERCHANT_ID, SAFECHARGE_MERCHANT_SITE_ID and SAFECHARGE_MERCHANT_SECRET_KEY";

    fn refusal(_: StatusCode, body: &[u8]) -> Refusal {
        match serde_json::from_slice::<Envelope>(body) {
            Ok(e) => envelope_refusal(&e),
            Err(_) => Refusal::default(),
        }
    }

    fn success<T: DeserializeOwned>(status: StatusCode, body: &[u8]) -> Result<T, ProviderError> {
        let envelope: Envelope = serde_json::from_slice(body).map_err(|_| unreadable::<Self>())?;
        if envelope.status != "SUCCESS" || envelope.err_code != 0 {
            return Err(refused::<Self>(status, envelope_refusal(&envelope)));
        }
        serde_json::from_slice(body).map_err(|_| unreadable::<Self>())
    }
}

fn envelope_refusal(e: &Envelope) -> Refusal {
    let code = Some(e.err_code.to_string());
    if CREDENTIAL_CODES.contains(&e.err_code) {
        // A 200 carries it, so the kit cannot see a 401: name the variables here. Nuvei's own
        // words are not passed on (they may echo what we sent).
        return Refusal::new(
            code,
            Some(format!(
                "Nuvei refused our credentials (errCode {}; check {})",
                e.err_code,
                SafechargeDialect::CREDENTIAL
            )),
        )
        .kind(RefusalKind::Definite);
    }
    // A reused clientRequestId means an earlier request with it reached Nuvei: what it did is
    // unknown here and is asked for, never sent again. Nuvei's errCode for it is not in the
    // public table, so its reason is read.
    let reused = e.reason.to_ascii_lowercase().contains("clientrequestid");
    let kind = if reused || e.err_code == GENERAL_ERROR || e.err_code == COMMUNICATION_ERROR {
        RefusalKind::Unknown
    } else {
        RefusalKind::Definite
    };
    Refusal::new(code, Some(e.reason.clone())).kind(kind)
}

/// What a transaction's status and type say about the payment.
pub fn state(status: Option<&str>, kind: Option<&str>) -> PaymentState {
    match status.map(str::to_ascii_uppercase).as_deref() {
        Some("APPROVED") => match kind.map(str::to_ascii_lowercase).as_deref() {
            Some("auth") | Some("preauth") => PaymentState::Authorized,
            Some("void") => PaymentState::Voided,
            // 3DS steps carry no money: the payment that follows decides.
            Some("initauth3d") | Some("auth3d") => PaymentState::Pending,
            _ => PaymentState::Captured,
        },
        Some("DECLINED") | Some("ERROR") => PaymentState::Failed,
        // REDIRECT (3DS or an APM page), PENDING, or no payment yet in the session.
        _ => PaymentState::Pending,
    }
}

/// Why the gateway said what it said, for `resultDescription`.
pub fn description(tx: &Transaction) -> String {
    let reason = tx
        .gw_error_reason
        .as_deref()
        .or(tx.payment_method_error_reason.as_deref())
        .filter(|r| !r.is_empty());
    match (tx.transaction_status.as_deref(), reason) {
        (Some("APPROVED"), _) => "Transaction completed".into(),
        (Some(s), Some(r)) => format!("{s}: {r}"),
        (Some(s), None) => s.to_owned(),
        (None, _) => "Nothing paid in this session yet".into(),
    }
}

/// A settle or void answered in `tx`: done only when Nuvei approved it.
pub fn capture_outcome(tx: &Transaction) -> CaptureOutcome {
    CaptureOutcome {
        succeeded: tx.transaction_status.as_deref() == Some("APPROVED"),
        description: description(tx),
    }
}

/// `getPaymentStatus`'s answer as a status.
pub fn status_outcome(tx: &Transaction) -> StatusOutcome {
    StatusOutcome {
        state: state(
            tx.transaction_status.as_deref(),
            tx.transaction_type.as_deref(),
        ),
        description: description(tx),
        provider_payment_id: None,
        captured_minor: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(body: &str) -> Result<serde_json::Value, ProviderError> {
        SafechargeDialect::success(StatusCode::OK, body.as_bytes())
    }

    #[test]
    fn an_error_envelope_is_a_refusal_even_with_200() {
        let e = read(r#"{"status":"ERROR","errCode":1040,"reason":"Invalid or missing amount"}"#)
            .unwrap_err();
        assert_eq!(
            e,
            ProviderError::Rejected {
                code: Some("1040".into()),
                message: "Invalid or missing amount".into()
            }
        );
        assert!(read(r#"{"status":"SUCCESS","errCode":0,"reason":""}"#).is_ok());
        // errCode as a string, as some answers carry it.
        assert!(read(r#"{"status":"SUCCESS","errCode":"0"}"#).is_ok());
    }

    #[test]
    fn credentials_general_errors_and_reused_request_ids_read_as_the_kit_words_them() {
        let creds =
            read(r#"{"status":"ERROR","errCode":1001,"reason":"Invalid checksum"}"#).unwrap_err();
        assert!(
            matches!(&creds, ProviderError::Rejected { message, .. } if message.contains("SAFECHARGE_MERCHANT_SECRET_KEY")),
            "{creds:?}"
        );
        for body in [
            r#"{"status":"ERROR","errCode":1000,"reason":"General Error"}"#,
            r#"{"status":"ERROR","errCode":1140,"reason":"clientRequestId already used"}"#,
        ] {
            assert!(
                matches!(read(body), Err(ProviderError::Unavailable(_))),
                "{body}"
            );
        }
        assert!(matches!(
            read("not json"),
            Err(ProviderError::Unavailable(_))
        ));
    }

    #[test]
    fn transaction_states() {
        use PaymentState::*;
        let cases = [
            (Some("APPROVED"), Some("Sale"), Captured),
            (Some("APPROVED"), Some("Auth"), Authorized),
            (Some("APPROVED"), Some("Settle"), Captured),
            (Some("APPROVED"), Some("Void"), Voided),
            (Some("APPROVED"), Some("Auth3D"), Pending),
            (Some("DECLINED"), Some("Sale"), Failed),
            (Some("ERROR"), Some("Sale"), Failed),
            (Some("REDIRECT"), Some("Auth3D"), Pending),
            (Some("PENDING"), None, Pending),
            (None, None, Pending),
        ];
        for (status, kind, expected) in cases {
            assert_eq!(state(status, kind), expected, "{status:?} {kind:?}");
        }
    }

    #[test]
    fn descriptions_carry_the_gateways_reason() {
        let tx = Transaction {
            transaction_status: Some("DECLINED".into()),
            gw_error_reason: Some("Do not honor".into()),
            ..Default::default()
        };
        assert_eq!(description(&tx), "DECLINED: Do not honor");
        assert_eq!(
            description(&Transaction::default()),
            "Nothing paid in this session yet"
        );
    }
}
