//! Scalapay (buy now, pay later), through its Orders API: `pay` creates an order and sends the
//! buyer to Scalapay's checkout (`paymentID` = the order token); the buyer authorises the plan
//! there and comes back to the merchant's confirm URL; the order must then be **captured**, or
//! nothing is charged and the authorisation lapses.
//!
//! | PGM | Scalapay |
//! |---|---|
//! | pay | `POST /v2/orders`, `Idempotency-Key` = the pay's key |
//! | status, check, session/check | `GET /v2/payments/{token}` (by reference: `GET /v2/payments/references`), and the capture below |
//! | (capture) | `POST /v2/payments/capture`, `Idempotency-Key` = `pgm-capture-{token}` |
//! | refund, session/refund | `POST /v2/payments/{token}/refund` (`refundAmount`, `merchantRefundReference`) |
//! | callback | webhooks signed `x-scalapay-hmac-v1` (HMAC-SHA256 keyed with the API key) |
//!
//! Where the capture happens: PGM v2 had no confirm step for Scalapay, and its API has none to
//! offer the merchant, so the capture is part of reading the order. Whenever `status` (hence
//! `/status`, `/check` and the reconciler) or a webhook finds an order the buyer authorised but
//! nobody captured, the adapter captures it, with a fixed idempotency key so that a webhook and
//! a status call racing each other make one capture. Refunds, which PGM v2 lacked, are served
//! because Scalapay's API has them.

mod wire;

use crate::{
    CallbackAck, CallbackOutcome, CallbackRequest, CallbackSubject, Operation, PayOutcome,
    Provider, ProviderDeps, ProviderError, RefundOutcome, StatusOutcome,
};
use async_trait::async_trait;
use pgm_core::signing::{constant_time_eq, hmac_sha256_hex};
use pgm_core::wire::PayCommand;
use pgm_core::{ConfigError, Env, Money, Payment, PaymentState, Secret};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::time::Duration;
use wire::{Captured, ErrorBody, OrderCreated, OrderDetails, Reference, Refunded, Webhook};

pub const NAME: &str = "scalapay";
const METHODS: &[&str] = &["scalapay"];
/// Scalapay's production API. The sandbox is `https://integration.api.scalapay.com`
/// (set `SCALAPAY_BASE_URL`, or v2's `SCALAPAY_BASE_PATH`).
pub const DEFAULT_BASE_URL: &str = "https://api.scalapay.com";
pub const SANDBOX_BASE_URL: &str = "https://integration.api.scalapay.com";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
pub const SIGNATURE_HEADER: &str = "x-scalapay-hmac-v1";
pub const TIMESTAMP_HEADER: &str = "x-scalapay-timestamp";

/// Settings from the environment. `Debug` shows no secret.
#[derive(Debug, Clone)]
pub struct ScalapayConfig {
    /// `SCALAPAY_BASE_URL`, else v2's `SCALAPAY_BASE_PATH`, else production.
    pub base_url: String,
    /// `SCALAPAY_API_KEY`: the Bearer key, which also keys the webhook HMAC (Scalapay documents
    /// no separate webhook secret).
    pub api_key: Secret,
    /// `SCALAPAY_SUCCESS_REDIRECT_URL`: where the buyer returns after authorising, when the pay
    /// request has no `successRedirect`.
    pub success_redirect: Option<String>,
    /// `SCALAPAY_FAILURE_REDIRECT_URL`: where the buyer returns after cancelling, when the pay
    /// request has no `failureRedirect`.
    pub failure_redirect: Option<String>,
    /// `SCALAPAY_TIMEOUT_MS`: how long one request may take before its outcome counts as unknown
    /// (default 15 s). An operator setting: the merchant's backend has a timeout of its own, and
    /// a pay that waits for the provider longer than its caller does helps nobody.
    pub timeout: Duration,
}

impl ScalapayConfig {
    pub fn from_env(env: &Env) -> Result<ScalapayConfig, ConfigError> {
        let base_url = match env.url("SCALAPAY_BASE_URL")? {
            Some(url) => url,
            None => env.url_or("SCALAPAY_BASE_PATH", DEFAULT_BASE_URL)?,
        };
        Ok(ScalapayConfig {
            base_url,
            api_key: env.secret("SCALAPAY_API_KEY")?,
            success_redirect: env.url("SCALAPAY_SUCCESS_REDIRECT_URL")?,
            failure_redirect: env.url("SCALAPAY_FAILURE_REDIRECT_URL")?,
            timeout: timeout_from_env(env)?,
        })
    }
}

/// `SCALAPAY_TIMEOUT_MS` in milliseconds, at least 1.
fn timeout_from_env(env: &Env) -> Result<Duration, ConfigError> {
    const VAR: &str = "SCALAPAY_TIMEOUT_MS";
    match env.parse_or(VAR, DEFAULT_TIMEOUT.as_millis() as u64)? {
        0 => Err(ConfigError::new(VAR, "must be at least 1 (milliseconds)")),
        ms => Ok(Duration::from_millis(ms)),
    }
}

#[derive(Debug)]
pub struct Scalapay {
    config: ScalapayConfig,
    http: reqwest::Client,
}

fn outcome(state: PaymentState, description: impl Into<String>, token: &str) -> StatusOutcome {
    StatusOutcome {
        state,
        description: description.into(),
        provider_payment_id: Some(token.to_owned()),
        // PGM captures Scalapay orders in full.
        captured_minor: None,
    }
}

fn lower(status: &Option<String>) -> String {
    status.as_deref().unwrap_or_default().to_ascii_lowercase()
}

/// The buyer authorised the order and it still waits for its capture.
fn awaiting_capture(order: &OrderDetails) -> bool {
    matches!(lower(&order.status).as_str(), "authorized" | "approved")
        && lower(&order.capture_status) != "captured"
}

/// PGM v3's mapping: `charged` → ACCEPTED; `refunded`, `expired` → FAILED; `created`,
/// `pending`, `authorized`, `approved` and anything else → PENDING. (A refunded order reads as
/// failed, as in v3; the PGM's state machine never moves a captured payment back, so this only
/// matters for an order the PGM never saw captured.)
fn order_state(order: &OrderDetails) -> StatusOutcome {
    let status = lower(&order.status);
    let (state, description) = match status.as_str() {
        "charged" => (PaymentState::Captured, "Transaction completed".to_owned()),
        "refunded" => (PaymentState::Failed, "Order refunded".to_owned()),
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
fn order_token(token: &str) -> Option<&str> {
    (!token.is_empty() && token.len() <= 64 && token.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then_some(token)
}

fn classify(status: reqwest::StatusCode, body: &[u8]) -> ProviderError {
    let error = serde_json::from_slice::<ErrorBody>(body).unwrap_or_default();
    match status.as_u16() {
        500.. => ProviderError::Unavailable(format!("Scalapay answered {status}")),
        429 => ProviderError::Unavailable("Scalapay is rate limiting requests (429)".into()),
        // `conflicting_operation_in_progress`: try again later with the same key.
        409 => ProviderError::Unavailable(
            "Scalapay reports a conflicting operation in progress (409)".into(),
        ),
        401 | 403 => ProviderError::Rejected {
            code: Some("authentication_failed".into()),
            message: "Scalapay refused the API key (check SCALAPAY_API_KEY)".into(),
        },
        404 => ProviderError::NotFound,
        _ if error.error_code.as_deref() == Some("invalid_token") => ProviderError::NotFound,
        _ => {
            let mut message = error
                .text()
                .unwrap_or_else(|| format!("Scalapay answered {status}"));
            if message.len() > 300 {
                let mut cut = 300;
                while !message.is_char_boundary(cut) {
                    cut -= 1;
                }
                message.truncate(cut);
            }
            ProviderError::Rejected {
                code: error.error_code,
                message,
            }
        }
    }
}

impl Scalapay {
    pub fn from_env(env: &Env, deps: &ProviderDeps) -> Result<Scalapay, ConfigError> {
        Ok(Scalapay::new(
            ScalapayConfig::from_env(env)?,
            deps.http.clone(),
        ))
    }

    pub fn new(config: ScalapayConfig, http: reqwest::Client) -> Scalapay {
        Scalapay { config, http }
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, ProviderError> {
        let request = request
            .bearer_auth(self.config.api_key.expose())
            .timeout(self.config.timeout);
        crate::transport::exchange_json(request, "Scalapay", classify).await
    }

    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &Value,
        idempotency_key: &str,
    ) -> Result<T, ProviderError> {
        let request = self
            .http
            .post(format!("{}{path}", self.config.base_url))
            .header("Idempotency-Key", idempotency_key)
            .json(body);
        self.send(request).await
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, ProviderError> {
        let request = self
            .http
            .get(format!("{}{path}", self.config.base_url))
            .query(query);
        self.send(request).await
    }

    async fn order(&self, token: &str) -> Result<OrderDetails, ProviderError> {
        self.get(&format!("/v2/payments/{token}"), &[]).await
    }

    /// The newest order made for our shopTransactionID (the order's `merchantReference`): how a
    /// pay whose answer was lost is found again.
    async fn find_by_reference(&self, reference: &str) -> Result<String, ProviderError> {
        let found: Vec<Reference> = self
            .get(
                "/v2/payments/references",
                &[("merchantOrderReference", reference)],
            )
            .await?;
        found
            .into_iter()
            .map(|r| r.order_token)
            .find(|t| order_token(t).is_some())
            .ok_or(ProviderError::NotFound)
    }

    /// Reads the order and captures it when the buyer has authorised it: see the module doc.
    async fn settle(
        &self,
        token: &str,
        reference: Option<&str>,
    ) -> Result<StatusOutcome, ProviderError> {
        let order = self.order(token).await?;
        if !awaiting_capture(&order) {
            return Ok(order_state(&order));
        }
        let mut body = json!({ "token": token });
        if let Some(reference) = reference {
            body["merchantReference"] = json!(reference);
        }
        // No amount: Scalapay captures the order's total, which is the payment's amount.
        let captured: Result<Captured, ProviderError> = self
            .post(
                "/v2/payments/capture",
                &body,
                &format!("pgm-capture-{token}"),
            )
            .await;
        match captured {
            Ok(c) if lower(&c.status) == "approved" => Ok(outcome(
                PaymentState::Captured,
                "Transaction completed",
                token,
            )),
            // Refused (captured meanwhile, or the authorisation lapsed) or an answer we do not
            // know: the order says where it stands. Not captured again from here.
            Ok(_) | Err(ProviderError::Rejected { .. }) => {
                Ok(order_state(&self.order(token).await?))
            }
            Err(e) => Err(e),
        }
    }

    fn verify(&self, req: &CallbackRequest) -> Result<(), ProviderError> {
        let signature = req.header(SIGNATURE_HEADER).ok_or_else(|| {
            ProviderError::InvalidSignature(format!("missing {SIGNATURE_HEADER} header"))
        })?;
        let timestamp = req
            .header(TIMESTAMP_HEADER)
            .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                ProviderError::InvalidSignature(format!(
                    "missing or malformed {TIMESTAMP_HEADER} header"
                ))
            })?;
        let mut message = format!("V1:{timestamp}:").into_bytes();
        message.extend_from_slice(&req.body);
        let expected = hmac_sha256_hex(self.config.api_key.expose().as_bytes(), &message);
        if constant_time_eq(
            signature.trim().to_ascii_lowercase().as_bytes(),
            expected.as_bytes(),
        ) {
            // No freshness window: Scalapay documents none and redelivers failed webhooks with
            // growing delays. A replayed genuine webhook only repeats a fact, states only move
            // forward, and the capture it may trigger is idempotent.
            Ok(())
        } else {
            Err(ProviderError::InvalidSignature(
                "no signature matches".into(),
            ))
        }
    }
}

#[async_trait]
impl Provider for Scalapay {
    fn name(&self) -> &'static str {
        NAME
    }

    fn methods(&self) -> &'static [&'static str] {
        METHODS
    }

    /// Yes: refunds carry the refund id as Idempotency-Key.
    fn refunds_are_idempotent(&self) -> bool {
        true
    }

    fn supports(&self, op: Operation) -> bool {
        use Operation::*;
        match op {
            Pay | Refund | Callback | Check | Status => true,
            // The session routes reach refund and status with the order token as token.
            SessionRefund | SessionCheck => true,
            // No merchant-driven capture or void (capture is part of status, see the module
            // doc), no recurring payments, no sessions of Scalapay's own.
            PayRecurrent | Confirm | SessionOpen | SessionConfirm | SessionVoid => false,
        }
    }

    async fn pay(&self, cmd: &PayCommand) -> Result<PayOutcome, ProviderError> {
        let redirect =
            |given: &Option<String>, fallback: &Option<String>, field: &str, var: &str| {
                given.clone().or_else(|| fallback.clone()).ok_or_else(|| {
                    ProviderError::InvalidRequest {
                        field: field.to_owned(),
                        message: format!("is required by scalapay unless {var} is set"),
                    }
                })
            };
        let confirm = redirect(
            &cmd.success_redirect,
            &self.config.success_redirect,
            "successRedirect",
            "SCALAPAY_SUCCESS_REDIRECT_URL",
        )?;
        let cancel = redirect(
            &cmd.failure_redirect,
            &self.config.failure_redirect,
            "failureRedirect",
            "SCALAPAY_FAILURE_REDIRECT_URL",
        )?;
        let body = wire::order(cmd, &confirm, &cancel)?;
        let created: OrderCreated = self
            .post("/v2/orders", &body, &cmd.idempotency_key())
            .await
            .map_err(|e| match e {
                ProviderError::NotFound => ProviderError::Rejected {
                    code: Some("not_found".into()),
                    message: "Scalapay does not serve orders at the configured base URL".into(),
                },
                other => other,
            })?;
        let Some(url) = created.checkout_url.clone() else {
            return Err(ProviderError::Unavailable(
                "Scalapay created an order without a checkout URL".into(),
            ));
        };
        Ok(PayOutcome {
            provider_payment_id: Some(created.token),
            state: PaymentState::Pending,
            description: "Redirect the buyer to Scalapay".into(),
            redirect_url: Some(url),
            redirect_url_mobile: None,
            recurrence_token: None,
        })
    }

    async fn refund(
        &self,
        payment: &Payment,
        amount: Money,
        refund_id: &str,
    ) -> Result<RefundOutcome, ProviderError> {
        if amount.currency() != payment.amount.currency() {
            return Err(ProviderError::InvalidRequest {
                field: "amount".into(),
                message: format!(
                    "must be in {}, the payment's currency",
                    payment.amount.currency()
                ),
            });
        }
        let token = payment
            .provider_payment_id
            .as_deref()
            .and_then(order_token)
            .ok_or(ProviderError::NotFound)?;
        let body = json!({
            "refundAmount": wire::money(amount),
            "merchantReference": payment.shop_transaction_id,
            "merchantRefundReference": refund_id,
        });
        let refunded: Refunded = self
            .post(&format!("/v2/payments/{token}/refund"), &body, refund_id)
            .await?;
        Ok(RefundOutcome {
            succeeded: true,
            provider_refund_id: refunded.refund_token,
            description: format!("Refund of {amount} accepted"),
        })
    }

    async fn status(&self, payment: &Payment) -> Result<StatusOutcome, ProviderError> {
        let token = match payment.provider_payment_id.as_deref() {
            Some(token) => order_token(token)
                .ok_or(ProviderError::NotFound)?
                .to_owned(),
            None => self.find_by_reference(&payment.shop_transaction_id).await?,
        };
        self.settle(&token, Some(&payment.shop_transaction_id))
            .await
    }

    async fn callback(&self, req: &CallbackRequest) -> Result<CallbackOutcome, ProviderError> {
        if req.method != http::Method::POST {
            return Err(ProviderError::InvalidCallback(
                "Scalapay sends webhooks as POST".into(),
            ));
        }
        self.verify(req)?;
        let hook: Webhook = serde_json::from_slice(&req.body)
            .map_err(|e| ProviderError::InvalidCallback(format!("not a Scalapay webhook: {e}")))?;
        let token = order_token(&hook.order_token)
            .ok_or_else(|| ProviderError::InvalidCallback("malformed orderToken".into()))?;
        let verified = match lower(&hook.status).as_str() {
            // The buyer authorised: capture now (the mandatory step), from the order's own state.
            "authorized" | "approved" => Some(
                self.settle(token, hook.merchant_reference.as_deref())
                    .await?,
            ),
            "charged" => Some(outcome(
                PaymentState::Captured,
                "Transaction completed",
                token,
            )),
            "expired" => Some(outcome(PaymentState::Failed, "Order expired", token)),
            "refunded" => Some(outcome(PaymentState::Failed, "Order refunded", token)),
            "created" | "pending" => Some(outcome(
                PaymentState::Pending,
                "Waiting for the buyer on Scalapay",
                token,
            )),
            // A status Scalapay added later: a genuine trigger, but the PGM asks for the status.
            _ => None,
        };
        Ok(CallbackOutcome::Payment {
            subject: CallbackSubject::ProviderPaymentId(token.to_owned()),
            verified,
            ack: CallbackAck::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(status: &str, capture: &str) -> OrderDetails {
        serde_json::from_value(json!({"token": "T1", "status": status, "captureStatus": capture}))
            .unwrap()
    }

    #[test]
    fn maps_the_v3_statuses() {
        use PaymentState::*;
        for (status, expected) in [
            ("charged", Captured),
            ("refunded", Failed),
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
    fn the_request_timeout_is_an_operator_setting() {
        let config = |extra: &[(&str, &str)]| {
            let mut env = Env::from_pairs([("SCALAPAY_API_KEY", "k")]);
            for (k, v) in extra {
                env.set(k, v);
            }
            ScalapayConfig::from_env(&env)
        };
        assert_eq!(config(&[]).unwrap().timeout, DEFAULT_TIMEOUT);
        assert_eq!(
            config(&[("SCALAPAY_TIMEOUT_MS", "250")]).unwrap().timeout,
            Duration::from_millis(250)
        );
        for bad in ["0", "-1", "1.5", "soon"] {
            let err = config(&[("SCALAPAY_TIMEOUT_MS", bad)]).unwrap_err();
            assert!(
                err.to_string().contains("SCALAPAY_TIMEOUT_MS"),
                "{bad}: {err}"
            );
        }
    }
}
