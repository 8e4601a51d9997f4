//! Stripe, through Checkout Sessions: `pay` creates a session and sends the buyer to Stripe's
//! hosted page (`paymentID` = the session id, `cs_…`); the session's PaymentIntent is captured
//! (`confirm`) or cancelled (`session/void`) when the merchant asked for manual capture;
//! refunds go through `POST /v1/refunds`; webhooks are verified with `Stripe-Signature`.
//!
//! | PGM | Stripe |
//! |---|---|
//! | pay | `POST /v1/checkout/sessions` (mode=payment), `Idempotency-Key` = the pay's key |
//! | confirm, session/confirm | `POST /v1/payment_intents/{pi}/capture` (`amount_to_capture`) |
//! | session/void | `POST /v1/payment_intents/{pi}/cancel` |
//! | refund, session/refund | `POST /v1/refunds` (`payment_intent`, `amount`), `Idempotency-Key` = our refund id |
//! | status, check, session/check | `GET /v1/checkout/sessions/{id}?expand[]=payment_intent` |
//! | callback | `checkout.session.*` events, `Stripe-Signature` (HMAC-SHA256 of `t.body`, 300 s) |
//!
//! Session routes take the Checkout Session id as `sessionToken`; there is no `session/open`
//! (a session is opened by `pay`, which needs the buyer's redirect URLs), nor recurrent pay.

mod wire;

use crate::{
    CallbackAck, CallbackOutcome, CallbackRequest, CallbackSubject, CaptureOutcome, Operation,
    PayOutcome, Provider, ProviderDeps, ProviderError, RefundOutcome, StatusOutcome,
};
use async_trait::async_trait;
use pgm_core::clock::now_ms;
use pgm_core::signing::verify_timestamped;
use pgm_core::wire::PayCommand;
use pgm_core::{ConfigError, Env, Money, Payment, PaymentState, Secret};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::time::Duration;
use wire::{CheckoutSession, ErrorBody, Event, Form, PaymentIntent, Refund, RefundList};

pub const NAME: &str = "stripe";
const METHODS: &[&str] = &["stripe"];
pub const DEFAULT_BASE_URL: &str = "https://api.stripe.com";
/// What Stripe's own SDKs accept between the signature's timestamp and now.
pub const SIGNATURE_TOLERANCE_SECS: i64 = 300;
/// Per request: long enough for Stripe's slow moments, short enough for the PGM's callers.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
/// Stripe's metadata limits (docs.stripe.com/metadata: keys up to 40 characters and without
/// square brackets, values up to 500); the PGM's own limits are wider, so a request beyond
/// Stripe's is refused here with a clear field.
const METADATA_KEY_MAX: usize = 40;
const METADATA_VALUE_MAX: usize = 500;
/// Pages of 100 refunds looked through for one of ours before giving up.
const MAX_REFUND_PAGES: usize = 10;

/// Settings from the environment. `Debug` shows no secret.
#[derive(Debug, Clone)]
pub struct StripeConfig {
    /// `STRIPE_BASE_URL`, default `https://api.stripe.com` (test or live mode comes from the key).
    pub base_url: String,
    /// `STRIPE_PRIVATE_KEY`: the secret key (`sk_…` or a restricted `rk_…`).
    pub secret_key: Secret,
    /// `STRIPE_WEBHOOK_SECRET`: the webhook endpoint's signing secret (`whsec_…`).
    pub webhook_secret: Secret,
    /// `STRIPE_TIMEOUT_MS`: how long one request may take before its outcome counts as unknown
    /// (default 15 s). An operator setting: the merchant's backend has a timeout of its own, and
    /// a pay that waits for the provider longer than its caller does helps nobody.
    pub timeout: Duration,
}

impl StripeConfig {
    pub fn from_env(env: &Env) -> Result<StripeConfig, ConfigError> {
        Ok(StripeConfig {
            base_url: env.url_or("STRIPE_BASE_URL", DEFAULT_BASE_URL)?,
            secret_key: env.secret("STRIPE_PRIVATE_KEY")?,
            webhook_secret: env.secret("STRIPE_WEBHOOK_SECRET")?,
            timeout: timeout_from_env(env)?,
        })
    }
}

/// `STRIPE_TIMEOUT_MS` in milliseconds, at least 1.
fn timeout_from_env(env: &Env) -> Result<Duration, ConfigError> {
    const VAR: &str = "STRIPE_TIMEOUT_MS";
    match env.parse_or(VAR, DEFAULT_TIMEOUT.as_millis() as u64)? {
        0 => Err(ConfigError::new(VAR, "must be at least 1 (milliseconds)")),
        ms => Ok(Duration::from_millis(ms)),
    }
}

#[derive(Debug)]
pub struct Stripe {
    config: StripeConfig,
    http: reqwest::Client,
}

fn invalid(field: &str, message: impl Into<String>) -> ProviderError {
    ProviderError::InvalidRequest {
        field: field.to_owned(),
        message: message.into(),
    }
}

fn outcome(state: PaymentState, description: &str, session_id: &str) -> StatusOutcome {
    StatusOutcome {
        state,
        description: description.to_owned(),
        provider_payment_id: Some(session_id.to_owned()),
        captured_minor: None,
    }
}

/// `pending` and `requires_action` are accepted refunds that Stripe completes later; only
/// `failed` and `canceled` are refunds that will not happen.
fn refund_outcome(refund: Refund) -> RefundOutcome {
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
fn session_state(session: &CheckoutSession, intent: Option<&PaymentIntent>) -> StatusOutcome {
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

/// Stripe ids are `[A-Za-z0-9_]`; anything else cannot be one and must not reach a URL path.
fn stripe_id(id: &str) -> Option<&str> {
    (!id.is_empty()
        && id.len() <= 255
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
    .then_some(id)
}

/// Turns a non-2xx answer into a typed error. No Stripe message about keys is passed on: a
/// 401 names our variable instead.
fn classify(status: reqwest::StatusCode, body: &[u8]) -> ProviderError {
    let detail = serde_json::from_slice::<ErrorBody>(body)
        .map(|b| b.error)
        .unwrap_or_default();
    match status.as_u16() {
        500.. => ProviderError::Unavailable(format!("Stripe answered {status}")),
        429 => ProviderError::Unavailable("Stripe is rate limiting requests (429)".into()),
        // Another request with the same idempotency key is still running at Stripe.
        409 => ProviderError::Unavailable(
            "Stripe reports a conflicting request in progress (409)".into(),
        ),
        401 | 403 => ProviderError::Rejected {
            code: Some("authentication_failed".into()),
            message: "Stripe refused the secret key (check STRIPE_PRIVATE_KEY)".into(),
        },
        404 => ProviderError::NotFound,
        _ if detail.code.as_deref() == Some("resource_missing") => ProviderError::NotFound,
        _ => {
            let mut message = detail
                .message
                .unwrap_or_else(|| format!("Stripe answered {status}"));
            if message.len() > 300 {
                let mut cut = 300;
                while !message.is_char_boundary(cut) {
                    cut -= 1;
                }
                message.truncate(cut);
            }
            ProviderError::Rejected {
                code: detail.code.or(detail.kind),
                message,
            }
        }
    }
}

impl Stripe {
    pub fn from_env(env: &Env, deps: &ProviderDeps) -> Result<Stripe, ConfigError> {
        Ok(Stripe::new(StripeConfig::from_env(env)?, deps.http.clone()))
    }

    pub fn new(config: StripeConfig, http: reqwest::Client) -> Stripe {
        Stripe { config, http }
    }

    /// Sends a request and reads the JSON answer. Transport failures, 5xx and an answer that
    /// cannot be read are `Unavailable`: Stripe may have done the work.
    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, ProviderError> {
        let request = request
            .bearer_auth(self.config.secret_key.expose())
            .timeout(self.config.timeout);
        crate::transport::exchange_json(request, "Stripe", classify).await
    }

    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        form: &Form,
        idempotency_key: &str,
    ) -> Result<T, ProviderError> {
        let request = self
            .http
            .post(format!("{}{path}", self.config.base_url))
            .header("Idempotency-Key", idempotency_key)
            .form(form.pairs());
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

    /// The payment's Checkout Session with its PaymentIntent expanded.
    async fn session(&self, payment: &Payment) -> Result<CheckoutSession, ProviderError> {
        // Checkout Sessions cannot be looked up by our reference (`client_reference_id` is not a
        // list filter), so a pay whose answer was lost has no session id to ask about. Such a
        // session cannot be paid either: nobody ever got its URL, and it expires unpaid.
        let id = payment
            .provider_payment_id
            .as_deref()
            .and_then(stripe_id)
            .ok_or(ProviderError::NotFound)?;
        self.get(
            &format!("/v1/checkout/sessions/{id}"),
            &[("expand[]", "payment_intent")],
        )
        .await
    }

    async fn intent(&self, id: &str) -> Result<PaymentIntent, ProviderError> {
        let id = stripe_id(id).ok_or(ProviderError::NotFound)?;
        self.get(&format!("/v1/payment_intents/{id}"), &[]).await
    }

    fn same_currency(payment: &Payment, amount: Money) -> Result<(), ProviderError> {
        if amount.currency() == payment.amount.currency() {
            Ok(())
        } else {
            Err(invalid(
                "amount",
                format!(
                    "must be in {}, the payment's currency",
                    payment.amount.currency()
                ),
            ))
        }
    }

    fn checkout_form(&self, cmd: &PayCommand) -> Result<Form, ProviderError> {
        let required = |value: &Option<String>, field: &str| {
            value.clone().ok_or_else(|| {
                invalid(
                    field,
                    "is required by stripe: Checkout sends the buyer there when the payment ends",
                )
            })
        };
        let success_url = required(&cmd.success_redirect, "successRedirect")?;
        let cancel_url = required(&cmd.failure_redirect, "failureRedirect")?;
        let manual_capture =
            match cmd.provider_data.get("captureMethod") {
                None | Some(Value::Null) => false,
                Some(Value::String(m)) if m == "manual" => true,
                Some(Value::String(m)) if m == "automatic" => false,
                Some(_) => return Err(invalid(
                    "providerData.captureMethod",
                    "must be \"manual\" (authorise now, capture with /confirm) or \"automatic\"",
                )),
            };
        let beyond_stripe = |(k, v): &(&String, &String)| {
            k.chars().count() > METADATA_KEY_MAX
                || k.contains(['[', ']'])
                || v.chars().count() > METADATA_VALUE_MAX
        };
        if let Some((key, _)) = cmd.metadata.iter().find(beyond_stripe) {
            return Err(invalid(
                "metadata",
                format!(
                    "`{key}`: Stripe takes keys up to {METADATA_KEY_MAX} characters without square brackets, \
                     and values up to {METADATA_VALUE_MAX} characters"
                ),
            ));
        }
        let customer_email = cmd.buyer_email.clone().or_else(|| {
            cmd.provider_data
                .get("buyerEmail")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });

        let mut form = Form::default();
        form.push("mode", "payment");
        form.push("success_url", success_url);
        form.push("cancel_url", cancel_url);
        form.push("client_reference_id", cmd.shop_transaction_id.clone());
        for (i, item) in wire::line_items(cmd)?.iter().enumerate() {
            item.write(i, &mut form);
        }
        if let Some(email) = customer_email {
            form.push("customer_email", email);
        }
        for (key, value) in &cmd.metadata {
            form.push(format!("metadata[{key}]"), value.clone());
        }
        if manual_capture {
            form.push("payment_intent_data[capture_method]", "manual");
        }
        Ok(form)
    }
}

#[async_trait]
impl Provider for Stripe {
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
            Pay | Confirm | Refund | Callback | Check | Status => true,
            // The session routes reach confirm, void, refund and status with the Checkout
            // Session id as token.
            SessionConfirm | SessionVoid | SessionRefund | SessionCheck => true,
            PayRecurrent | SessionOpen => false,
        }
    }

    async fn pay(&self, cmd: &PayCommand) -> Result<PayOutcome, ProviderError> {
        let form = self.checkout_form(cmd)?;
        let session: CheckoutSession = self
            .post("/v1/checkout/sessions", &form, &cmd.idempotency_key())
            .await
            .map_err(|e| match e {
                // A create cannot miss an object: the endpoint itself is missing.
                ProviderError::NotFound => ProviderError::Rejected {
                    code: Some("not_found".into()),
                    message: "Stripe does not serve Checkout Sessions at STRIPE_BASE_URL".into(),
                },
                other => other,
            })?;
        let Some(url) = session.url.clone() else {
            // An answer we cannot use to send the buyer anywhere: the session exists, so the
            // outcome is settled later through status.
            return Err(ProviderError::Unavailable(
                "Stripe returned a Checkout Session without a URL".into(),
            ));
        };
        Ok(PayOutcome {
            provider_payment_id: Some(session.id),
            state: PaymentState::Pending,
            description: "Redirect the buyer to Stripe Checkout".into(),
            redirect_url: Some(url),
            redirect_url_mobile: None,
            recurrence_token: None,
        })
    }

    async fn confirm(
        &self,
        payment: &Payment,
        amount: Money,
    ) -> Result<CaptureOutcome, ProviderError> {
        Stripe::same_currency(payment, amount)?;
        let session = self.session(payment).await?;
        let Some(intent) = session.intent_id() else {
            return Err(ProviderError::Rejected {
                code: Some("not_authorized".into()),
                message: "the buyer has not paid this Checkout Session".into(),
            });
        };
        let mut form = Form::default();
        form.push("amount_to_capture", amount.minor().to_string());
        // One capture per session and amount: a retried confirm is the same capture.
        let key = format!("pgm-capture-{}-{}", session.id, amount.minor());
        let captured: PaymentIntent = self
            .post(
                &format!("/v1/payment_intents/{intent}/capture"),
                &form,
                &key,
            )
            .await?;
        Ok(CaptureOutcome {
            succeeded: captured.status == "succeeded",
            description: format!("Payment captured ({amount})"),
        })
    }

    async fn void(&self, payment: &Payment) -> Result<CaptureOutcome, ProviderError> {
        let session = self.session(payment).await?;
        let Some(intent) = session.intent_id() else {
            return Err(ProviderError::Rejected {
                code: Some("nothing_to_void".into()),
                message: "the buyer has not paid this Checkout Session".into(),
            });
        };
        let key = format!("pgm-void-{}", session.id);
        let cancelled: PaymentIntent = self
            .post(
                &format!("/v1/payment_intents/{intent}/cancel"),
                &Form::default(),
                &key,
            )
            .await?;
        Ok(CaptureOutcome {
            succeeded: cancelled.status == "canceled",
            description: "Authorisation released".into(),
        })
    }

    async fn refund(
        &self,
        payment: &Payment,
        amount: Money,
        refund_id: &str,
    ) -> Result<RefundOutcome, ProviderError> {
        Stripe::same_currency(payment, amount)?;
        let session = self.session(payment).await?;
        let Some(intent) = session.intent_id() else {
            return Err(ProviderError::Rejected {
                code: Some("nothing_to_refund".into()),
                message: "the buyer has not paid this Checkout Session".into(),
            });
        };
        let mut form = Form::default();
        form.push("payment_intent", intent);
        form.push("amount", amount.minor().to_string());
        form.push("metadata[pgm_refund_id]", refund_id);
        let refund: Refund = self.post("/v1/refunds", &form, refund_id).await?;
        Ok(refund_outcome(refund))
    }

    /// Lists the PaymentIntent's refunds (newest first, pages of 100) and finds ours by the
    /// `metadata[pgm_refund_id]` every refund of ours carries.
    async fn refund_status(
        &self,
        payment: &Payment,
        refund_id: &str,
    ) -> Result<Option<RefundOutcome>, ProviderError> {
        let session = self.session(payment).await?;
        let Some(intent) = session.intent_id() else {
            return Ok(None);
        };
        let mut after: Option<String> = None;
        // A payment has few refunds; the bound only stops a misbehaving endpoint.
        for _ in 0..MAX_REFUND_PAGES {
            let mut query = vec![("payment_intent", intent), ("limit", "100")];
            if let Some(after) = after.as_deref() {
                query.push(("starting_after", after));
            }
            let page: RefundList = self.get("/v1/refunds", &query).await?;
            if let Some(found) = page
                .data
                .iter()
                .find(|r| r.metadata.get("pgm_refund_id").map(String::as_str) == Some(refund_id))
            {
                return Ok(Some(refund_outcome(found.clone())));
            }
            match page.data.last() {
                Some(last) if page.has_more => after = Some(last.id.clone()),
                _ => return Ok(None),
            }
        }
        Err(ProviderError::Unavailable(
            "too many refund pages to look through".into(),
        ))
    }

    fn looks_up_refunds(&self) -> bool {
        true
    }

    async fn status(&self, payment: &Payment) -> Result<StatusOutcome, ProviderError> {
        let session = self.session(payment).await?;
        Ok(session_state(&session, session.expanded_intent()))
    }

    async fn callback(&self, req: &CallbackRequest) -> Result<CallbackOutcome, ProviderError> {
        if req.method != http::Method::POST {
            return Err(ProviderError::InvalidCallback(
                "Stripe sends webhooks as POST".into(),
            ));
        }
        let header = req.header("stripe-signature").ok_or_else(|| {
            ProviderError::InvalidSignature("missing Stripe-Signature header".into())
        })?;
        verify_timestamped(
            self.config.webhook_secret.expose().as_bytes(),
            header,
            &req.body,
            now_ms() / 1000,
            SIGNATURE_TOLERANCE_SECS,
        )
        .map_err(|e| ProviderError::InvalidSignature(e.to_string()))?;
        let event: Event = serde_json::from_slice(&req.body)
            .map_err(|e| ProviderError::InvalidCallback(format!("not a Stripe event: {e}")))?;
        if !event.kind.starts_with("checkout.session.") {
            return Ok(CallbackOutcome::Ignored {
                ack: CallbackAck::default(),
            });
        }
        let session: CheckoutSession = serde_json::from_value(event.data.object)
            .map_err(|e| ProviderError::InvalidCallback(format!("not a Checkout Session: {e}")))?;
        let verified = match event.kind.as_str() {
            "checkout.session.expired" => outcome(
                PaymentState::Failed,
                "Checkout session expired unpaid",
                &session.id,
            ),
            "checkout.session.async_payment_failed" => outcome(
                PaymentState::Failed,
                "The delayed payment failed",
                &session.id,
            ),
            _ if session.payment_status.as_deref() == Some("paid") => {
                // The event says paid but not whether the money is taken or only held (manual
                // capture): the PaymentIntent says, and Stripe itself is asked.
                let intent = match session.intent_id() {
                    Some(id) => Some(self.intent(id).await?),
                    None => None,
                };
                session_state(&session, intent.as_ref())
            }
            _ => session_state(&session, None),
        };
        Ok(CallbackOutcome::Payment {
            subject: CallbackSubject::ProviderPaymentId(session.id.clone()),
            verified: Some(verified),
            ack: CallbackAck::default(),
        })
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
    fn ids_that_are_not_stripe_ids_never_reach_a_path() {
        assert_eq!(stripe_id("cs_test_a1B2"), Some("cs_test_a1B2"));
        assert_eq!(stripe_id("../v1/refunds"), None);
        assert_eq!(stripe_id("cs_1?expand[]=x"), None);
        assert_eq!(stripe_id(""), None);
    }

    #[test]
    fn the_request_timeout_is_an_operator_setting() {
        let config = |extra: &[(&str, &str)]| {
            let mut env = Env::from_pairs([
                ("STRIPE_PRIVATE_KEY", "sk_test_x"),
                ("STRIPE_WEBHOOK_SECRET", "whsec_x"),
            ]);
            for (k, v) in extra {
                env.set(k, v);
            }
            StripeConfig::from_env(&env)
        };
        assert_eq!(config(&[]).unwrap().timeout, DEFAULT_TIMEOUT);
        assert_eq!(
            config(&[("STRIPE_TIMEOUT_MS", "250")]).unwrap().timeout,
            Duration::from_millis(250)
        );
        for bad in ["0", "-1", "1.5", "soon"] {
            let err = config(&[("STRIPE_TIMEOUT_MS", bad)]).unwrap_err();
            assert!(
                err.to_string().contains("STRIPE_TIMEOUT_MS"),
                "{bad}: {err}"
            );
        }
    }
}
