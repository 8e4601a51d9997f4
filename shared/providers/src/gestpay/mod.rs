//! Axerve Ecommerce Solutions (formerly Banca Sella GestPay), REST API v1. `pay` creates the
//! payment and sends the buyer to Axerve's hosted page (`userRedirect.href`); the outcome is
//! read with `payment/detail`. Payments the shop only authorises (`AUT`) are captured with
//! `payment/capture`. Axerve's server notification is not signed: it is only a trigger.
//! Route aliases: `gestpay` and `axerve`.

pub mod wire;

use crate::{
    CallbackAck, CallbackOutcome, CallbackRequest, CallbackSubject, CaptureOutcome, Operation,
    PayOutcome, Provider, ProviderDeps, ProviderError, RefundOutcome, StatusOutcome,
};
use async_trait::async_trait;
use pgm_core::wire::{validate_id, PayCommand};
use pgm_core::{ConfigError, Env, Money, Payment, PaymentState, Secret};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::Duration;
use wire::{
    AmountOperation, CreatePayload, CreatePayment, Envelope, ResponseUrls, TransactionPayload,
    TransactionRef,
};

pub const NAME: &str = "gestpay";
const METHODS: &[&str] = &[
    "credit-cards",
    "applepay",
    "googlepay",
    "pay-pal",
    "satispay",
];

const LIVE_API: &str = "https://ecomms2s.sella.it/api/v1";
const SANDBOX_API: &str = "https://sandbox.gestpay.net/api/v1";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// Error codes with a meaning of their own (the rest are definite refusals).
const TRANSACTION_NOT_FOUND: &str = "2011";
const TECHNICAL_ERROR: &str = "9999";

#[derive(Debug, Clone)]
pub struct GestpayConfig {
    /// `GESTPAY_BASE_URL`, else the live or sandbox API by `GESTPAY_IS_SANDBOX`.
    pub base_url: String,
    /// `GESTPAY_API_KEY`, sent as `Authorization: apikey <key>`.
    pub api_key: Secret,
    /// `GESTPAY_SHOP_LOGIN`, in every request body.
    pub shop_login: String,
    /// `GESTPAY_TIMEOUT_MS`: how long one request may take before its outcome counts as unknown
    /// (default 15 s). An operator setting: the merchant's backend has a timeout of its own, and
    /// a pay that waits for the provider longer than its caller does helps nobody.
    pub timeout: Duration,
}

impl GestpayConfig {
    pub fn from_env(env: &Env) -> Result<GestpayConfig, ConfigError> {
        let sandbox = env.bool_or("GESTPAY_IS_SANDBOX", false)?;
        let default_api = if sandbox { SANDBOX_API } else { LIVE_API };
        Ok(GestpayConfig {
            base_url: env.url_or("GESTPAY_BASE_URL", default_api)?,
            api_key: env.secret("GESTPAY_API_KEY")?,
            shop_login: env.require("GESTPAY_SHOP_LOGIN")?.to_owned(),
            timeout: timeout_from_env(env)?,
        })
    }
}

/// `GESTPAY_TIMEOUT_MS` in milliseconds, at least 1.
fn timeout_from_env(env: &Env) -> Result<Duration, ConfigError> {
    const VAR: &str = "GESTPAY_TIMEOUT_MS";
    match env.parse_or(VAR, DEFAULT_TIMEOUT.as_millis() as u64)? {
        0 => Err(ConfigError::new(VAR, "must be at least 1 (milliseconds)")),
        ms => Ok(Duration::from_millis(ms)),
    }
}

pub struct Gestpay {
    config: GestpayConfig,
    http: reqwest::Client,
    /// `{PGM_PUBLIC_URL}/gestpay/callback`.
    callback_url: String,
}

/// The hosted page shows only this kind of payment. Google Pay has no code in Axerve's
/// payment-type table, so its page offers whatever the shop has enabled.
fn payment_type(method: &str) -> Option<&'static str> {
    match method {
        "credit-cards" => Some("CREDITCARD"),
        "pay-pal" => Some("PAYPAL"),
        "applepay" => Some("APPLEPAY"),
        "satispay" => Some("SATISPAY"),
        _ => None,
    }
}

/// Reads an Axerve answer. The envelope decides, not only the HTTP status: an `error.code`
/// other than `"0"` is an error even inside a 200.
fn read<T: DeserializeOwned>(status: StatusCode, body: &[u8]) -> Result<T, ProviderError> {
    if status.is_server_error() {
        return Err(ProviderError::Unavailable(format!(
            "Axerve answered HTTP {}",
            status.as_u16()
        )));
    }
    let envelope: Envelope<serde_json::Value> = match serde_json::from_slice(body) {
        Ok(envelope) => envelope,
        Err(_) if status.is_client_error() => {
            return Err(ProviderError::Rejected {
                code: None,
                message: format!("Axerve refused the request (HTTP {})", status.as_u16()),
            })
        }
        Err(_) => {
            return Err(ProviderError::Unavailable(
                "unreadable Axerve response".into(),
            ))
        }
    };
    let code = envelope.error.code.trim();
    if code != "0" {
        return Err(match code {
            TRANSACTION_NOT_FOUND => ProviderError::NotFound,
            TECHNICAL_ERROR => ProviderError::Unavailable("Axerve technical error (9999)".into()),
            _ => ProviderError::Rejected {
                code: Some(code.to_owned()),
                message: format!("Axerve: {} (error {code})", envelope.error.description),
            },
        });
    }
    if !status.is_success() {
        return Err(ProviderError::Rejected {
            code: None,
            message: format!("Axerve refused the request (HTTP {})", status.as_u16()),
        });
    }
    let payload = envelope
        .payload
        .ok_or_else(|| ProviderError::Unavailable("Axerve answer without payload".into()))?;
    serde_json::from_value(payload)
        .map_err(|_| ProviderError::Unavailable("unreadable Axerve payload".into()))
}

fn is_approved(result: &str) -> bool {
    matches!(result, "OK" | "APPROVED")
}

/// `transactionResult` first (PGM's table: APPROVED/OK → accepted, DECLINED/KO → failed,
/// PENDING/WAITING/UNSUBMITTED → pending), then the last event tells how far an approved
/// payment went: `AUT` authorised only; `MOV`/`PRE` settled; `REQ`/`STO` refunds of a settled
/// payment; `CAN` authorisation cancelled. Unknown values stay pending.
fn outcome(p: &TransactionPayload) -> (PaymentState, String) {
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
            let last_event = p.events.last().map(|e| e.eventtype.as_str()).unwrap_or("");
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

impl Gestpay {
    pub fn from_env(env: &Env, deps: &ProviderDeps) -> Result<Gestpay, ConfigError> {
        Ok(Gestpay::new(
            GestpayConfig::from_env(env)?,
            deps.http.clone(),
            deps.callback_url(NAME),
        ))
    }

    pub fn new(config: GestpayConfig, http: reqwest::Client, callback_url: String) -> Gestpay {
        Gestpay {
            config,
            http,
            callback_url,
        }
    }

    /// POSTs JSON to `{base_url}/{path}` with the API key and reads the envelope.
    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ProviderError> {
        let request = self
            .http
            .post(format!("{}/{path}", self.config.base_url))
            .timeout(self.config.timeout)
            .header(
                AUTHORIZATION,
                format!("apikey {}", self.config.api_key.expose()),
            )
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/json")
            .json(body);
        let (status, bytes) = crate::transport::exchange(request).await?;
        read(status, &bytes)
    }

    /// Axerve's id when we have it, else ours (every operation accepts either).
    fn transaction<'a>(&'a self, payment: &'a Payment) -> TransactionRef<'a> {
        match payment.provider_payment_id.as_deref() {
            Some(id) => TransactionRef {
                shop_login: &self.config.shop_login,
                payment_id: Some(id),
                shop_transaction_id: None,
            },
            None => TransactionRef {
                shop_login: &self.config.shop_login,
                payment_id: None,
                shop_transaction_id: Some(&payment.shop_transaction_id),
            },
        }
    }

    /// Our callback, carrying our own id: whatever Axerve appends, the trigger names the payment.
    fn notification_url(&self, shop_transaction_id: &str) -> String {
        let query = serde_urlencoded::to_string([("shopTransactionID", shop_transaction_id)])
            .unwrap_or_default();
        format!("{}?{query}", self.callback_url)
    }
}

/// The callback's parameters: query string, then a form or JSON body (Axerve's REST docs leave
/// the format open; the legacy flow sends `a` = shop login and `b` = an encrypted string).
fn callback_params(req: &CallbackRequest) -> Vec<(String, String)> {
    let mut params = req.query_pairs();
    if !req.body.is_empty() {
        let json = req
            .header("content-type")
            .is_some_and(|c| c.to_ascii_lowercase().contains("json"));
        if json {
            if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(&req.body) {
                params.extend(
                    map.into_iter()
                        .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned()))),
                );
            }
        } else if let Ok(pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&req.body) {
            params.extend(pairs);
        }
    }
    params
}

#[async_trait]
impl Provider for Gestpay {
    fn name(&self) -> &'static str {
        NAME
    }

    fn methods(&self) -> &'static [&'static str] {
        METHODS
    }

    fn supports(&self, op: Operation) -> bool {
        matches!(
            op,
            Operation::Pay
                | Operation::Confirm
                | Operation::Refund
                | Operation::Callback
                | Operation::Check
                | Operation::Status
        )
    }

    async fn pay(&self, cmd: &PayCommand) -> Result<PayOutcome, ProviderError> {
        let notification = cmd
            .server_redirect
            .clone()
            .unwrap_or_else(|| self.notification_url(&cmd.shop_transaction_id));
        let currency = cmd.amount.currency();
        let body = CreatePayment {
            shop_login: &self.config.shop_login,
            amount: cmd.amount.to_decimal_string(),
            currency: currency.code(),
            shop_transaction_id: &cmd.shop_transaction_id,
            buyer_name: cmd.buyer_name.as_deref(),
            buyer_email: cmd.buyer_email.as_deref(),
            payment_type: payment_type(&cmd.method).map(|t| vec![t]),
            response_urls: Some(ResponseUrls {
                buyer_ok: cmd.success_redirect.as_deref(),
                buyer_ko: cmd.failure_redirect.as_deref(),
                server_notification_url: notification,
            }),
        };
        let created: CreatePayload = self.post("payment/create/", &body).await?;
        let payment_id = created
            .payment_id
            .filter(|id| !id.is_empty())
            .ok_or_else(|| {
                ProviderError::Unavailable("Axerve created a payment without paymentID".into())
            })?;
        let href = created
            .user_redirect
            .and_then(|r| r.href)
            .filter(|h| !h.is_empty());
        Ok(PayOutcome {
            provider_payment_id: Some(payment_id),
            state: PaymentState::Pending,
            description: "Redirect the buyer to the Axerve payment page".into(),
            redirect_url: href,
            redirect_url_mobile: None,
            recurrence_token: None,
        })
    }

    async fn confirm(
        &self,
        payment: &Payment,
        amount: Money,
    ) -> Result<CaptureOutcome, ProviderError> {
        let currency = amount.currency();
        let body = AmountOperation {
            transaction: self.transaction(payment),
            amount: amount.to_decimal_string(),
            currency: currency.code(),
        };
        let answer: TransactionPayload = self.post("payment/capture/", &body).await?;
        let succeeded = is_approved(&answer.transaction_result);
        Ok(CaptureOutcome {
            succeeded,
            description: if succeeded {
                "Payment captured".into()
            } else {
                answer
                    .transaction_error_description
                    .unwrap_or_else(|| "Capture refused".into())
            },
        })
    }

    async fn refund(
        &self,
        payment: &Payment,
        amount: Money,
        _refund_id: &str,
    ) -> Result<RefundOutcome, ProviderError> {
        // Axerve has no idempotency key for refunds: a refund whose answer is lost is reported
        // Unavailable and must be settled by reading the payment's events, never retried blindly.
        let currency = amount.currency();
        let body = AmountOperation {
            transaction: self.transaction(payment),
            amount: amount.to_decimal_string(),
            currency: currency.code(),
        };
        let answer: TransactionPayload = self.post("payment/refund/", &body).await?;
        let succeeded = is_approved(&answer.transaction_result);
        Ok(RefundOutcome {
            succeeded,
            provider_refund_id: None,
            description: if succeeded {
                "Refund accepted".into()
            } else {
                answer
                    .transaction_error_description
                    .unwrap_or_else(|| "Refund refused".into())
            },
        })
    }

    async fn status(&self, payment: &Payment) -> Result<StatusOutcome, ProviderError> {
        let detail: TransactionPayload = self
            .post("payment/detail", &self.transaction(payment))
            .await?;
        let (state, description) = outcome(&detail);
        Ok(StatusOutcome {
            state,
            description,
            provider_payment_id: detail.payment_id.filter(|id| !id.is_empty()),
            // payment/detail's events carry amounts, but which of them a partial capture is
            // is not documented well enough to trust: the full amount is assumed.
            captured_minor: None,
        })
    }

    /// A trigger only: Axerve signs nothing, so the PGM reads `payment/detail` before believing
    /// anything. The subject is our shopTransactionID (we put it in the notification URL), or
    /// Axerve's paymentID when the call carries one.
    async fn callback(&self, req: &CallbackRequest) -> Result<CallbackOutcome, ProviderError> {
        let params = callback_params(req);
        let param = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        for shop in [param("a"), param("shopLogin")].into_iter().flatten() {
            if shop != self.config.shop_login {
                return Err(ProviderError::InvalidCallback(
                    "callback for another shop".into(),
                ));
            }
        }
        let subject = if let Some(id) = param("shopTransactionID") {
            validate_id("shopTransactionID", &id)
                .map_err(|e| ProviderError::InvalidCallback(e.to_string()))?;
            CallbackSubject::ShopTransactionId(id)
        } else if let Some(id) = param("paymentID") {
            validate_id("paymentID", &id)
                .map_err(|e| ProviderError::InvalidCallback(e.to_string()))?;
            CallbackSubject::ProviderPaymentId(id)
        } else if param("b").is_some() {
            return Err(ProviderError::InvalidCallback(
                "only the encrypted parameter b: no payment id to look up".into(),
            ));
        } else {
            return Err(ProviderError::InvalidCallback(
                "no shopTransactionID or paymentID".into(),
            ));
        };
        Ok(CallbackOutcome::Payment {
            subject,
            verified: None,
            ack: CallbackAck::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_detail(status: u16, body: &str) -> Result<TransactionPayload, ProviderError> {
        read(StatusCode::from_u16(status).unwrap(), body.as_bytes())
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
        assert!(matches!(
            read_detail(500, technical),
            Err(ProviderError::Unavailable(_))
        ));
        assert!(matches!(
            read_detail(200, technical),
            Err(ProviderError::Unavailable(_))
        ));
        assert!(matches!(
            read_detail(200, "<html>"),
            Err(ProviderError::Unavailable(_))
        ));
        assert!(matches!(
            read_detail(403, "Forbidden"),
            Err(ProviderError::Rejected { code: None, .. })
        ));
    }

    #[test]
    fn the_request_timeout_is_an_operator_setting() {
        let config = |extra: &[(&str, &str)]| {
            let mut env =
                Env::from_pairs([("GESTPAY_API_KEY", "k"), ("GESTPAY_SHOP_LOGIN", "GESPAY1")]);
            for (k, v) in extra {
                env.set(k, v);
            }
            GestpayConfig::from_env(&env)
        };
        assert_eq!(config(&[]).unwrap().timeout, DEFAULT_TIMEOUT);
        assert_eq!(
            config(&[("GESTPAY_TIMEOUT_MS", "250")]).unwrap().timeout,
            Duration::from_millis(250)
        );
        for bad in ["0", "-1", "1.5", "soon"] {
            let err = config(&[("GESTPAY_TIMEOUT_MS", bad)]).unwrap_err();
            assert!(
                err.to_string().contains("GESTPAY_TIMEOUT_MS"),
                "{bad}: {err}"
            );
        }
    }
}
