//! Soisy (instalment loans): `pay` creates an order (a loan application) and sends the buyer to
//! Soisy's web app (`paymentID` = the order token); the buyer applies there; Soisy tells us of
//! each step with an **unsigned** form POST to our callback, which is therefore only a trigger:
//! the PGM reads the order (`GET …/orders/{token}`) before believing anything. Soisy pays the
//! merchant when the loan is disbursed; there is no capture, void or refund API (refunds are
//! 501, as in PGM v2). The events and statuses are mapped in [`map`].
//!
//! | PGM | Soisy (`X-Auth-Token: SOISY_PARTNER_KEY`, shop id in the path) |
//! |---|---|
//! | pay | `POST /api/shops/{shopId}/orders` (form fields, amount in cents, `orderReference` = shopTransactionID) |
//! | status, check | `GET /api/shops/{shopId}/orders/{token}`; after a lost pay answer, the CSV list `GET /api/shops/{shopId}/orders?fromCreatedAt=…` by `orderReference` |
//! | callback | `POST {PGM_PUBLIC_URL}/soisy/callback`, form `eventId, eventMessage, eventDate, orderToken, orderReference` |

mod map;
pub mod wire;

pub use map::{announced_status, order_state, EVENTS};

use crate::kit::classify::{endpoint_missing, refused};
use crate::kit::{invalid, Auth, Dialect, ProviderClient, ProviderSettings};
use crate::{
    CallbackAck, CallbackOutcome, CallbackRequest, CallbackSubject, PayOutcome, Provider,
    ProviderDeps, ProviderError, StatusLookup, StatusOutcome, Webhooks,
};
use async_trait::async_trait;
use map::{order_token, SoisyDialect};
use pgm_core::wire::PayCommand;
use pgm_core::{ConfigError, Currency, Env, Payment, Secret};
use wire::{Callback, Order, OrderCreated};

pub const NAME: &str = "soisy";
const METHODS: &[&str] = &["soisy"];
/// Soisy's production API; the sandbox is `https://api.sandbox.soisy.it`.
pub const DEFAULT_BASE_URL: &str = "https://api.soisy.it";
pub const SANDBOX_BASE_URL: &str = "https://api.sandbox.soisy.it";
/// Where buyers apply: `{webapp}/{shopId}#/loan-request?token={token}`.
const LIVE_WEBAPP: &str = "https://shop.soisy.it";
const SANDBOX_WEBAPP: &str = "https://shop.sandbox.soisy.it";
/// A day either side of the payment's creation, for the CSV list's `fromCreatedAt` (a date,
/// in Soisy's time zone, which we do not know).
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Settings from the environment. `Debug` shows no secret.
#[derive(Debug, Clone)]
pub struct SoisyConfig {
    /// `SOISY_BASE_URL` (v2's name; a value ending in `/api/shops` is taken as the same host)
    /// and `SOISY_TIMEOUT_MS`.
    pub api: ProviderSettings,
    /// `SOISY_SHOP_ID`: goes into every path and into the buyer's URL.
    pub shop_id: String,
    /// `SOISY_PARTNER_KEY`: sent as `X-Auth-Token`.
    pub partner_key: Secret,
    /// `SOISY_WEBAPP_URL` (ext), else Soisy's web app for the API's environment.
    pub webapp_url: String,
}

impl SoisyConfig {
    pub fn from_env(env: &Env) -> Result<SoisyConfig, ConfigError> {
        let mut api = ProviderSettings::from_env(env, "SOISY", DEFAULT_BASE_URL)?;
        if let Some(host) = api.base_url.strip_suffix("/api/shops") {
            api.base_url = host.to_owned();
        }
        let shop_id = env.require("SOISY_SHOP_ID")?.trim().to_owned();
        if order_token(&shop_id).is_none() {
            return Err(ConfigError::new(
                "SOISY_SHOP_ID",
                "must be letters, digits, '-' or '_'",
            ));
        }
        let default_webapp = if api.base_url.contains("sandbox.soisy.it") {
            SANDBOX_WEBAPP
        } else {
            LIVE_WEBAPP
        };
        let webapp_url = env.url_or("SOISY_WEBAPP_URL", default_webapp)?;
        Ok(SoisyConfig {
            api,
            shop_id,
            partner_key: env.secret("SOISY_PARTNER_KEY")?,
            webapp_url: webapp_url.trim_end_matches('/').to_owned(),
        })
    }
}

#[derive(Debug)]
pub struct Soisy {
    api: ProviderClient<SoisyDialect>,
    shop_id: String,
    webapp_url: String,
    /// `{PGM_PUBLIC_URL}/soisy/callback`.
    callback_url: String,
}

impl Soisy {
    pub fn from_env(env: &Env, deps: &ProviderDeps) -> Result<Soisy, ConfigError> {
        Ok(Soisy::new(
            SoisyConfig::from_env(env)?,
            deps.http.clone(),
            deps.callback_url(NAME),
        ))
    }

    pub fn new(config: SoisyConfig, http: reqwest::Client, callback_url: String) -> Soisy {
        let auth = Auth::Header("x-auth-token", config.partner_key);
        Soisy {
            api: ProviderClient::new(http, config.api, auth),
            shop_id: config.shop_id,
            webapp_url: config.webapp_url,
            callback_url,
        }
    }

    fn orders(&self) -> String {
        format!("/api/shops/{}/orders", self.shop_id)
    }

    async fn order(&self, token: &str) -> Result<Order, ProviderError> {
        let token = order_token(token).ok_or(ProviderError::NotFound)?;
        self.api
            .get(format!("{}/{token}", self.orders()))
            .send()
            .await
    }

    /// A pay whose answer was lost left us without the token: Soisy's CSV order list, from the
    /// day before the payment was made, holds it under our `orderReference`.
    async fn find_by_reference(&self, payment: &Payment) -> Result<String, ProviderError> {
        let since = pgm_core::clock::rfc3339(payment.created_at - DAY_MS);
        let day = since.get(..10).unwrap_or(&since).to_owned();
        let (status, body) = self
            .api
            .get(self.orders())
            .header("accept", "text/csv")
            .query([("fromCreatedAt", day)])
            .exchange()
            .await?;
        if !status.is_success() {
            return Err(refused::<SoisyDialect>(
                status,
                SoisyDialect::refusal(status, &body),
            ));
        }
        let csv = std::str::from_utf8(&body)
            .map_err(|_| crate::kit::classify::unreadable::<SoisyDialect>())?;
        wire::token_in_csv(csv, &payment.shop_transaction_id).ok_or(ProviderError::NotFound)
    }

    /// The buyer's page: Soisy's `redirectUrl` when it sends one, else the documented web app URL.
    fn buyer_url(&self, created: &OrderCreated) -> String {
        match created.redirect_url.as_deref() {
            Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
                url.to_owned()
            }
            _ => format!(
                "{}/{}#/loan-request?token={}",
                self.webapp_url, self.shop_id, created.token
            ),
        }
    }
}

#[async_trait]
impl Provider for Soisy {
    fn name(&self) -> &'static str {
        NAME
    }

    fn methods(&self) -> &'static [&'static str] {
        METHODS
    }

    async fn pay(&self, cmd: &PayCommand) -> Result<PayOutcome, ProviderError> {
        if cmd.amount.currency() != Currency::EUR {
            return Err(invalid("currency", "Soisy lends in EUR only"));
        }
        let form = wire::order_form(cmd, &self.callback_url)?;
        // Soisy has no idempotency key: a retried pay after a lost answer is found by status
        // (the CSV list by orderReference) rather than sent again; the PGM never re-sends it.
        let created: OrderCreated = self
            .api
            .post(self.orders())
            .form(&form)
            .send()
            .await
            .map_err(|e| endpoint_missing::<SoisyDialect>(e, "orders for SOISY_SHOP_ID"))?;
        if order_token(&created.token).is_none() {
            return Err(ProviderError::Unavailable(
                "Soisy answered without a usable order token".into(),
            ));
        }
        let url = self.buyer_url(&created);
        PayOutcome::redirect(
            "Soisy",
            created.token,
            Some(url),
            "Redirect the buyer to Soisy to apply for the instalment loan",
        )
    }

    crate::capabilities!(StatusLookup, Webhooks);
}

#[async_trait]
impl StatusLookup for Soisy {
    async fn status(&self, payment: &Payment) -> Result<StatusOutcome, ProviderError> {
        let token = match payment.provider_payment_id.as_deref() {
            Some(token) => token.to_owned(),
            None => self.find_by_reference(payment).await?,
        };
        let order = self.order(&token).await?;
        let (state, description) = order_state(&order.status);
        Ok(StatusOutcome {
            state,
            description: description.to_owned(),
            provider_payment_id: Some(order.token),
            // A disbursed loan pays the whole order.
            captured_minor: None,
        })
    }
}

#[async_trait]
impl Webhooks for Soisy {
    /// Any of Soisy's events (see [`map`]), known or not, is a trigger to read the order: the
    /// form is unsigned, so what it claims is never believed.
    async fn callback(&self, req: &CallbackRequest) -> Result<CallbackOutcome, ProviderError> {
        if req.method != http::Method::POST {
            return Err(ProviderError::InvalidCallback(
                "Soisy sends callbacks as a form POST".into(),
            ));
        }
        let form: Callback = serde_urlencoded::from_bytes(&req.body)
            .ok()
            .filter(|f: &Callback| f.order_token.is_some())
            // Soisy's older page shows the fields as JSON; take that too.
            .or_else(|| serde_json::from_slice(&req.body).ok())
            .ok_or_else(|| ProviderError::InvalidCallback("not a Soisy callback".into()))?;
        let token = form
            .order_token
            .as_deref()
            .and_then(order_token)
            .ok_or_else(|| {
                ProviderError::InvalidCallback("missing or malformed orderToken".into())
            })?;
        if form.event_id.as_deref().is_none_or(str::is_empty) {
            return Err(ProviderError::InvalidCallback("missing eventId".into()));
        }
        tracing::info!(
            event = form.event_id.as_deref().unwrap_or_default(),
            message = form.event_message.as_deref().unwrap_or_default(),
            reference = form.order_reference.as_deref().unwrap_or_default(),
            known = form
                .event_id
                .as_deref()
                .and_then(announced_status)
                .is_some(),
            "soisy callback: reading the order"
        );
        Ok(CallbackOutcome::Payment {
            subject: CallbackSubject::ProviderPaymentId(token.to_owned()),
            verified: None,
            ack: CallbackAck::default(),
        })
    }
}
