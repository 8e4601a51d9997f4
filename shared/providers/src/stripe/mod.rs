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
//! | callback | `checkout.session.*` and refund (`refund.updated`, `refund.failed`, `charge.refund.updated`) events, `Stripe-Signature` (HMAC-SHA256 of `t.body`, 300 s) |
//!
//! Session routes take the Checkout Session id as `sessionToken`; there is no `session/open`
//! (a session is opened by `pay`, which needs the buyer's redirect URLs), nor recurrent pay.

mod map;
mod wire;

use crate::kit::classify::endpoint_missing;
use crate::kit::{invalid, path_id, same_currency, Auth, ProviderClient, ProviderSettings};
use crate::{
    CallbackAck, CallbackOutcome, CallbackRequest, CallbackSubject, Capture, CaptureOutcome,
    PayOutcome, Provider, ProviderDeps, ProviderError, RefundLookup, RefundOutcome, Refunds,
    SessionTokens, StatusLookup, StatusOutcome, Void, Webhooks,
};
use async_trait::async_trait;
use map::{outcome, refund_outcome, session_state, StripeDialect};
use pgm_core::clock::now_ms;
use pgm_core::signing::verify_timestamped;
use pgm_core::wire::PayCommand;
use pgm_core::{ConfigError, Env, Money, Payment, PaymentState, Secret};
use serde::de::DeserializeOwned;
use serde_json::Value;
use wire::{CheckoutSession, Event, Form, PaymentIntent, Refund, RefundList};

pub const NAME: &str = "stripe";
const METHODS: &[&str] = &["stripe"];
pub const DEFAULT_BASE_URL: &str = "https://api.stripe.com";
/// What Stripe's own SDKs accept between the signature's timestamp and now.
pub const SIGNATURE_TOLERANCE_SECS: i64 = 300;
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
    /// `STRIPE_BASE_URL` (default `https://api.stripe.com`; test or live mode comes from the
    /// key) and `STRIPE_TIMEOUT_MS`.
    pub api: ProviderSettings,
    /// `STRIPE_PRIVATE_KEY`: the secret key (`sk_…` or a restricted `rk_…`).
    pub secret_key: Secret,
    /// `STRIPE_WEBHOOK_SECRET`: the webhook endpoint's signing secret (`whsec_…`).
    pub webhook_secret: Secret,
}

impl StripeConfig {
    pub fn from_env(env: &Env) -> Result<StripeConfig, ConfigError> {
        Ok(StripeConfig {
            api: ProviderSettings::from_env(env, "STRIPE", DEFAULT_BASE_URL)?,
            secret_key: env.secret("STRIPE_PRIVATE_KEY")?,
            webhook_secret: env.secret("STRIPE_WEBHOOK_SECRET")?,
        })
    }
}

#[derive(Debug)]
pub struct Stripe {
    api: ProviderClient<StripeDialect>,
    webhook_secret: Secret,
}

/// Stripe ids are `[A-Za-z0-9_]`; anything else cannot be one and must not reach a URL path.
fn stripe_id(id: &str) -> Option<&str> {
    path_id(id, 255, b"_")
}

impl Stripe {
    pub fn from_env(env: &Env, deps: &ProviderDeps) -> Result<Stripe, ConfigError> {
        Ok(Stripe::new(StripeConfig::from_env(env)?, deps.http.clone()))
    }

    pub fn new(config: StripeConfig, http: reqwest::Client) -> Stripe {
        Stripe {
            api: ProviderClient::new(http, config.api, Auth::Bearer(config.secret_key)),
            webhook_secret: config.webhook_secret,
        }
    }

    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        form: &Form,
        idempotency_key: &str,
    ) -> Result<T, ProviderError> {
        self.api
            .post(path)
            .idempotency_key(idempotency_key)
            .form(form.pairs())
            .send()
            .await
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, ProviderError> {
        self.api.get(path).query(query.iter().copied()).send().await
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

    async fn pay(&self, cmd: &PayCommand) -> Result<PayOutcome, ProviderError> {
        let form = self.checkout_form(cmd)?;
        let session: CheckoutSession = self
            .post("/v1/checkout/sessions", &form, &cmd.idempotency_key())
            .await
            .map_err(|e| endpoint_missing::<StripeDialect>(e, "Checkout Sessions"))?;
        PayOutcome::redirect(
            "Stripe",
            session.id,
            session.url,
            "Redirect the buyer to Stripe Checkout",
        )
    }

    // The session routes take the Checkout Session id as token. There is no `session/open`:
    // a session is opened by `pay`, which needs the buyer's redirect URLs.
    crate::capabilities!(
        Capture,
        Void,
        Refunds,
        RefundLookup,
        StatusLookup,
        Webhooks,
        SessionTokens
    );
}

impl SessionTokens for Stripe {}

#[async_trait]
impl Capture for Stripe {
    async fn confirm(
        &self,
        payment: &Payment,
        amount: Money,
    ) -> Result<CaptureOutcome, ProviderError> {
        same_currency(payment, amount)?;
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
}

#[async_trait]
impl Void for Stripe {
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
}

#[async_trait]
impl Refunds for Stripe {
    /// Yes: refunds carry the refund id as Idempotency-Key.
    fn refunds_are_idempotent(&self) -> bool {
        true
    }

    async fn refund(
        &self,
        payment: &Payment,
        amount: Money,
        refund_id: &str,
    ) -> Result<RefundOutcome, ProviderError> {
        same_currency(payment, amount)?;
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
        // Names the payment in Stripe's refund webhooks, whose Refund object only knows the
        // PaymentIntent (the PGM knows the payment by its Checkout Session).
        form.push(
            "metadata[pgm_shop_transaction_id]",
            payment.shop_transaction_id.clone(),
        );
        let refund: Refund = self.post("/v1/refunds", &form, refund_id).await?;
        Ok(refund_outcome(refund))
    }
}

#[async_trait]
impl RefundLookup for Stripe {
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
}

#[async_trait]
impl StatusLookup for Stripe {
    async fn status(&self, payment: &Payment) -> Result<StatusOutcome, ProviderError> {
        let session = self.session(payment).await?;
        Ok(session_state(&session, session.expanded_intent()))
    }
}

#[async_trait]
impl Webhooks for Stripe {
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
            self.webhook_secret.expose().as_bytes(),
            header,
            &req.body,
            now_ms() / 1000,
            SIGNATURE_TOLERANCE_SECS,
        )
        .map_err(|e| ProviderError::InvalidSignature(e.to_string()))?;
        let event: Event = serde_json::from_slice(&req.body)
            .map_err(|e| ProviderError::InvalidCallback(format!("not a Stripe event: {e}")))?;
        if REFUND_EVENTS.contains(&event.kind.as_str()) {
            return refund_event(event.data.object);
        }
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
            _ if session.status.as_deref() == Some("complete") => {
                // The session says neither whether the money is taken or only held (manual
                // capture), nor reliably whether an authorisation is `paid`: the PaymentIntent
                // says, and Stripe itself is asked.
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

/// Events whose `data.object` is a Refund: since API version 2024-10-28.acacia Stripe sends
/// `refund.*` for every refund; `charge.refund.updated` is what older versions send for card
/// refunds. `refund.created` is not among them: a refund we create is answered by its request.
const REFUND_EVENTS: [&str; 3] = ["refund.updated", "refund.failed", "charge.refund.updated"];

/// A signed refund event: settles one of our refunds that Stripe answered `pending`. Refunds
/// without our metadata (made in Stripe's dashboard, or by a PGM that did not yet name the
/// payment in it) are acknowledged and ignored; the reconciler still settles ours by asking.
fn refund_event(object: Value) -> Result<CallbackOutcome, ProviderError> {
    let refund: Refund = serde_json::from_value(object)
        .map_err(|e| ProviderError::InvalidCallback(format!("not a Refund: {e}")))?;
    let (Some(payment), Some(ours)) = (
        refund.metadata.get("pgm_shop_transaction_id").cloned(),
        refund.metadata.get("pgm_refund_id").cloned(),
    ) else {
        return Ok(CallbackOutcome::Ignored {
            ack: CallbackAck::default(),
        });
    };
    Ok(CallbackOutcome::Refund {
        subject: CallbackSubject::ShopTransactionId(payment),
        refund_id: Some(ours),
        outcome: refund_outcome(refund),
        ack: CallbackAck::default(),
    })
}
