//! Every way a use case can fail, and its one mapping to an HTTP problem.

use pgm_core::{PaymentError, PaymentState, ValidationError};
use pgm_providers::ProviderError;
use pgm_store::StoreError;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Validation(#[from] ValidationError),
    #[error("unknown or disabled provider `{0}`")]
    ProviderNotFound(String),
    #[error("provider `{provider}` has no payment method `{method}`")]
    MethodNotFound { provider: String, method: String },
    #[error("provider `{0}` does not support this operation")]
    NotSupported(String),
    #[error("no such payment")]
    PaymentNotFound,
    #[error("the payment was made with provider `{0}`: use its routes (/{0}/…)")]
    ProviderMismatch(String),
    #[error("the amount exceeds what remains to be {action} ({remaining})")]
    AmountExceedsRemaining {
        action: &'static str,
        remaining: String,
    },
    #[error("the payment is {state:?}; it cannot be {action}")]
    InvalidState {
        state: PaymentState,
        action: &'static str,
    },
    #[error("this idempotency key was used with a different request")]
    IdempotencyConflict,
    #[error("a request with this key is still being processed")]
    RequestInProgress { retry_after_secs: u64 },
    #[error("an earlier attempt of this refund may have reached the provider, which cannot deduplicate refunds: it is not sent again and stays reserved until checked with the provider")]
    RefundOutcomeUnknown,
    #[error("the provider is unavailable: {0}")]
    ProviderUnavailable(String),
    #[error("invalid callback signature")]
    InvalidSignature,
    #[error("malformed callback: {0}")]
    InvalidCallback(String),
    #[error("the payment store is unavailable")]
    StoreUnavailable(String),
    #[error("too much contention on this payment; retry")]
    Contention,
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        AppError::StoreUnavailable(e.to_string())
    }
}

impl From<PaymentError> for AppError {
    fn from(e: PaymentError) -> Self {
        match e {
            PaymentError::InvalidState { state, action } => {
                AppError::InvalidState { state, action }
            }
            PaymentError::AmountExceedsRemaining { remaining } => {
                AppError::AmountExceedsRemaining {
                    action: "refunded or captured",
                    remaining: remaining.to_decimal_string(),
                }
            }
            PaymentError::Money(m) => ValidationError::new("amount", m.to_string()).into(),
            // Another request with the same Idempotency-Key reserved it first: a retry replays
            // that request's answer.
            PaymentError::DuplicateRefund(_) => AppError::RequestInProgress {
                retry_after_secs: 1,
            },
            PaymentError::UnknownRefund(id) => {
                AppError::StoreUnavailable(format!("refund {id} vanished"))
            }
        }
    }
}

impl AppError {
    /// Provider errors outside pay (where a rejection is a KO, not an error).
    pub fn from_provider(provider: &str, e: ProviderError) -> AppError {
        match e {
            ProviderError::NotSupported => AppError::NotSupported(provider.to_owned()),
            ProviderError::Unavailable(why) => AppError::ProviderUnavailable(why),
            ProviderError::NotFound => AppError::PaymentNotFound,
            ProviderError::InvalidSignature(_) => AppError::InvalidSignature,
            ProviderError::InvalidCallback(why) => AppError::InvalidCallback(why),
            ProviderError::InvalidRequest { field, message } => {
                ValidationError::new(&field, message).into()
            }
            ProviderError::Rejected { message, .. } => {
                AppError::ProviderUnavailable(format!("rejected: {message}"))
            }
        }
    }
}

/// RFC 9457 problem details, as every error leaves the PGM. Never contains a secret, a card
/// token or a stack trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `urn:pgm:problem:` and the code in lower case with hyphens.
    #[serde(rename = "type")]
    #[schema(pattern = "^urn:pgm:problem:[a-z-]+$")]
    pub kind: String,
    pub title: String,
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    pub detail: String,
    /// Stable, upper case.
    #[schema(pattern = "^[A-Z_]+$")]
    pub code: &'static str,
    /// The offending field, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String)]
    pub field: Option<String>,
    #[serde(skip)]
    pub retry_after_secs: Option<u64>,
}

impl Problem {
    pub fn new(status: u16, code: &'static str, title: &str, detail: String) -> Problem {
        Problem {
            kind: format!(
                "urn:pgm:problem:{}",
                code.to_ascii_lowercase().replace('_', "-")
            ),
            title: title.to_owned(),
            status,
            detail,
            code,
            field: None,
            retry_after_secs: None,
        }
    }

    pub fn body(&self) -> String {
        serde_json::to_string(self).expect("problems serialize")
    }
}

impl From<&AppError> for Problem {
    fn from(e: &AppError) -> Problem {
        let detail = e.to_string();
        let (status, code, title) = match e {
            AppError::Validation(v) => {
                let mut p =
                    Problem::new(400, "VALIDATION_FAILED", "The request is invalid", detail);
                p.field = Some(v.field.clone());
                return p;
            }
            AppError::ProviderNotFound(_) => (404, "PROVIDER_NOT_FOUND", "Unknown provider"),
            AppError::MethodNotFound { .. } => (404, "METHOD_NOT_FOUND", "Unknown payment method"),
            AppError::NotSupported(_) => (
                501,
                "NOT_SUPPORTED_BY_PROVIDER",
                "Not supported by the provider",
            ),
            AppError::PaymentNotFound => (404, "PAYMENT_NOT_FOUND", "Payment not found"),
            AppError::ProviderMismatch(_) => (
                409,
                "PROVIDER_MISMATCH",
                "The payment belongs to another provider",
            ),
            AppError::AmountExceedsRemaining { .. } => (
                422,
                "AMOUNT_EXCEEDS_REMAINING",
                "Amount exceeds what remains",
            ),
            AppError::InvalidState { .. } => {
                (409, "INVALID_PAYMENT_STATE", "Payment in the wrong state")
            }
            AppError::IdempotencyConflict => {
                (409, "IDEMPOTENCY_CONFLICT", "Idempotency key reused")
            }
            AppError::RequestInProgress { retry_after_secs } => {
                let mut p = Problem::new(409, "REQUEST_IN_PROGRESS", "Request in progress", detail);
                p.retry_after_secs = Some(*retry_after_secs);
                return p;
            }
            AppError::RefundOutcomeUnknown => {
                (409, "REFUND_OUTCOME_UNKNOWN", "Refund outcome unknown")
            }
            AppError::ProviderUnavailable(_) => {
                (502, "PROVIDER_UNAVAILABLE", "Provider unavailable")
            }
            AppError::InvalidSignature => (401, "INVALID_SIGNATURE", "Invalid signature"),
            AppError::InvalidCallback(_) => (400, "INVALID_CALLBACK", "Malformed callback"),
            AppError::StoreUnavailable(_) => {
                // The engine's message may name internals: keep it in the logs only.
                tracing::error!(error = %detail, "store unavailable");
                return Problem::new(
                    503,
                    "STORE_UNAVAILABLE",
                    "Storage unavailable",
                    "the payment store is unavailable; retry later".into(),
                );
            }
            AppError::Contention => (503, "CONTENTION", "Too much contention"),
        };
        Problem::new(status, code, title, detail)
    }
}
