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
//! What pay needs: Scalapay's OpenAPI requires `consumer{givenNames, surname, email,
//! phoneNumber}`, `shipping{name, countryCode, postcode, suburb, line1, phoneNumber}`,
//! `items[]{name, category, sku, quantity, price}`, `merchant{redirectConfirmUrl,
//! redirectCancelUrl}` and `totalAmount`. The v2 pay body has only `buyerName`, `buyerEmail` and
//! `products[]`; the rest comes in `providerData.consumer`, `providerData.shipping` and
//! (optionally) `providerData.items`, as in PGM v3. A pay lacking one is refused with the field's
//! name (`providerData.consumer.phoneNumber`, …) before Scalapay is asked (see `wire::order`).
//!
//! Where the capture happens: PGM v2 had no confirm step for Scalapay, and its API has none to
//! offer the merchant, so the capture is part of reading the order. Whenever `status` (hence
//! `/status`, `/check` and the reconciler) or a webhook finds an order the buyer authorised but
//! nobody captured, the adapter captures it, with a fixed idempotency key so that a webhook and
//! a status call racing each other make one capture. Refunds, which PGM v2 lacked, are served
//! because Scalapay's API has them.

mod map;
mod wire;

use crate::kit::classify::endpoint_missing;
use crate::kit::{invalid, same_currency, Auth, ProviderClient, ProviderSettings};
use crate::{
    CallbackAck, CallbackOutcome, CallbackRequest, CallbackSubject, PayOutcome, Provider,
    ProviderDeps, ProviderError, RefundOutcome, RefundStatus, Refunds, SessionTokens, StatusLookup,
    StatusOutcome, Webhooks,
};
use async_trait::async_trait;
use map::{awaiting_capture, lower, order_state, order_token, outcome, ScalapayDialect};
use pgm_core::signing::{constant_time_eq, hmac_sha256_hex};
use pgm_core::wire::PayCommand;
use pgm_core::{ConfigError, Env, Money, Payment, PaymentState, Secret};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use wire::{Captured, OrderCreated, OrderDetails, Reference, Refunded, Webhook};

pub const NAME: &str = "scalapay";
const METHODS: &[&str] = &["scalapay"];
/// Scalapay's production API. The sandbox is `https://integration.api.scalapay.com`
/// (set `SCALAPAY_BASE_URL`, or v2's `SCALAPAY_BASE_PATH`).
pub const DEFAULT_BASE_URL: &str = "https://api.scalapay.com";
pub const SANDBOX_BASE_URL: &str = "https://integration.api.scalapay.com";
pub const SIGNATURE_HEADER: &str = "x-scalapay-hmac-v1";
pub const TIMESTAMP_HEADER: &str = "x-scalapay-timestamp";

/// Settings from the environment. `Debug` shows no secret.
#[derive(Debug, Clone)]
pub struct ScalapayConfig {
    /// `SCALAPAY_BASE_URL`, else v2's `SCALAPAY_BASE_PATH`, else production; and
    /// `SCALAPAY_TIMEOUT_MS`.
    pub api: ProviderSettings,
    /// `SCALAPAY_API_KEY`: the Bearer key, which also keys the webhook HMAC (Scalapay documents
    /// no separate webhook secret).
    pub api_key: Secret,
    /// `SCALAPAY_SUCCESS_REDIRECT_URL`: where the buyer returns after authorising, when the pay
    /// request has no `successRedirect`.
    pub success_redirect: Option<String>,
    /// `SCALAPAY_FAILURE_REDIRECT_URL`: where the buyer returns after cancelling, when the pay
    /// request has no `failureRedirect`.
    pub failure_redirect: Option<String>,
}

impl ScalapayConfig {
    pub fn from_env(env: &Env) -> Result<ScalapayConfig, ConfigError> {
        // v2 named the base URL SCALAPAY_BASE_PATH; the kit's name wins when both are set.
        let default_base = env.url_or("SCALAPAY_BASE_PATH", DEFAULT_BASE_URL)?;
        Ok(ScalapayConfig {
            api: ProviderSettings::from_env(env, "SCALAPAY", &default_base)?,
            api_key: env.secret("SCALAPAY_API_KEY")?,
            success_redirect: env.url("SCALAPAY_SUCCESS_REDIRECT_URL")?,
            failure_redirect: env.url("SCALAPAY_FAILURE_REDIRECT_URL")?,
        })
    }
}

#[derive(Debug)]
pub struct Scalapay {
    api: ProviderClient<ScalapayDialect>,
    /// Keys the webhook HMAC.
    api_key: Secret,
    success_redirect: Option<String>,
    failure_redirect: Option<String>,
}

impl Scalapay {
    pub fn from_env(env: &Env, deps: &ProviderDeps) -> Result<Scalapay, ConfigError> {
        Ok(Scalapay::new(
            ScalapayConfig::from_env(env)?,
            deps.http.clone(),
        ))
    }

    pub fn new(config: ScalapayConfig, http: reqwest::Client) -> Scalapay {
        Scalapay {
            api: ProviderClient::new(http, config.api, Auth::Bearer(config.api_key.clone())),
            api_key: config.api_key,
            success_redirect: config.success_redirect,
            failure_redirect: config.failure_redirect,
        }
    }

    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &Value,
        idempotency_key: &str,
    ) -> Result<T, ProviderError> {
        self.api
            .post(path)
            .idempotency_key(idempotency_key)
            .json(body)
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
        let expected = hmac_sha256_hex(self.api_key.expose().as_bytes(), &message);
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

    async fn pay(&self, cmd: &PayCommand) -> Result<PayOutcome, ProviderError> {
        let redirect =
            |given: &Option<String>, fallback: &Option<String>, field: &str, var: &str| {
                given.clone().or_else(|| fallback.clone()).ok_or_else(|| {
                    invalid(
                        field,
                        format!("is required by scalapay unless {var} is set"),
                    )
                })
            };
        let confirm = redirect(
            &cmd.success_redirect,
            &self.success_redirect,
            "successRedirect",
            "SCALAPAY_SUCCESS_REDIRECT_URL",
        )?;
        let cancel = redirect(
            &cmd.failure_redirect,
            &self.failure_redirect,
            "failureRedirect",
            "SCALAPAY_FAILURE_REDIRECT_URL",
        )?;
        let body = wire::order(cmd, &confirm, &cancel)?;
        let created: OrderCreated = self
            .post("/v2/orders", &body, &cmd.idempotency_key())
            .await
            .map_err(|e| endpoint_missing::<ScalapayDialect>(e, "orders"))?;
        PayOutcome::redirect(
            "Scalapay",
            created.token,
            created.checkout_url,
            "Redirect the buyer to Scalapay",
        )
    }

    // The session routes reach refund and status with the order token as token. No
    // merchant-driven capture or void: the capture is part of status (see the module doc).
    crate::capabilities!(Refunds, StatusLookup, Webhooks, SessionTokens);
}

impl SessionTokens for Scalapay {}

#[async_trait]
impl Refunds for Scalapay {
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
        let token = payment
            .provider_payment_id
            .as_deref()
            .and_then(order_token)
            .ok_or(ProviderError::NotFound)?;
        // Only the fields Scalapay's refund schema lists: `merchantReference` is in its answer,
        // not in the request, and Scalapay's validation refuses keys it does not know.
        let body = json!({
            "refundAmount": wire::money(amount),
            "merchantRefundReference": refund_id,
        });
        let refunded: Refunded = self
            .post(&format!("/v2/payments/{token}/refund"), &body, refund_id)
            .await?;
        Ok(RefundOutcome {
            state: RefundStatus::Succeeded,
            provider_refund_id: refunded.refund_token,
            description: format!("Refund of {amount} accepted"),
        })
    }
}

#[async_trait]
impl StatusLookup for Scalapay {
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
}

#[async_trait]
impl Webhooks for Scalapay {
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
            // A refund Scalapay processed: news about a refund, never a failed payment. The
            // payload does not say which of our refunds it is (its refund keys are not
            // documented), so it settles nothing: acknowledged, logged by the PGM, not counted
            // (our refunds are settled by the refund call's own answer).
            "refunded" => {
                return Ok(CallbackOutcome::Refund {
                    subject: CallbackSubject::ProviderPaymentId(token.to_owned()),
                    refund_id: None,
                    outcome: RefundOutcome {
                        state: RefundStatus::Succeeded,
                        provider_refund_id: None,
                        description: "Order refunded at Scalapay".into(),
                    },
                    ack: CallbackAck::default(),
                })
            }
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
