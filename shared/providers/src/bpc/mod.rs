//! BPC's payment gateway, API v2 (`api2`, seed 002 "Direct integration"): the merchant's own
//! page collects the card, `pay` creates a Payment with it (or with a Stored Payment Method),
//! and when BPC answers with a `nextAction` the buyer is sent to the ACS for 3-D Secure; BPC's
//! signed webhooks, `/check` and `/status` then say how it ended.
//!
//! | PGM | BPC api2 |
//! |---|---|
//! | pay | `POST /payments` (`captureMethod` `automatic`, or `manual` from `providerData.captureMethod`) |
//! | confirm | `POST /payments/{id}/capture` `{"amount"}` (`BPC_CAPTURE_PATH`) |
//! | session/void | `POST /payments/{id}/cancel` (`BPC_CANCEL_PATH`) |
//! | refund, session/refund | `POST /refunds` `{"paymentId","amount","metadata"}` (`BPC_REFUND_PATH`) |
//! | status, check, session/check | `GET /payments/{id}`; before the id is known, `GET /payments?metadata[pgmShopTransactionId]=…` |
//! | callback | `payment.*` events, `X-Signature` = HMAC-SHA256(raw body, `BPC_WEBHOOK_SECRET`) in hex |
//!
//! Only create and retrieve are in the seed. The capture, cancel and refund paths, the status
//! names beyond `succeeded`/`requires*`, the signature's algorithm and encoding, and the search
//! by metadata are not confirmed by BPC's public pages, so each is a setting with the default
//! above (README, "BPC").
//!
//! BPC documents no idempotency key: a create whose answer was lost is found again by the
//! `pgmShopTransactionId` every payment carries in `metadata` (our shopTransactionID and attempt), so
//! `/check` learns its id and nothing is created twice (the PGM never re-sends a pay).

mod map;
mod wire;

use crate::kit::{invalid, path_id, same_currency, Auth, ProviderClient, ProviderSettings};
use crate::{
    CallbackAck, CallbackOutcome, CallbackRequest, CallbackSubject, Capture, CaptureOutcome,
    PayOutcome, Provider, ProviderDeps, ProviderError, RefundOutcome, Refunds, SessionTokens,
    StatusLookup, StatusOutcome, Void, Webhooks,
};
use async_trait::async_trait;
use map::{redirect_url, refund_outcome, signature_matches, split, BpcDialect};
pub use map::{SignatureEncoding, StatusNames};
use pgm_core::wire::PayCommand;
use pgm_core::{ConfigError, Env, Money, Payment, PaymentState, Secret};
use serde_json::Value;
use std::collections::BTreeMap;
pub use wire::REFERENCE_KEY;
use wire::{Card, CreatePayment, CreateRefund, CustomerDetails, Event, List, PaymentMethod};

pub const NAME: &str = "bpc";
const METHODS: &[&str] = &["credit-cards"];
/// The `X-Version` the seed's examples send.
pub const DEFAULT_API_VERSION: &str = "2023-10-31";
pub const DEFAULT_SIGNATURE_HEADER: &str = "x-signature";
pub const DEFAULT_CAPTURE_PATH: &str = "/payments/{id}/capture";
pub const DEFAULT_CANCEL_PATH: &str = "/payments/{id}/cancel";
pub const DEFAULT_REFUND_PATH: &str = "/refunds";

/// Settings from the environment. `Debug` shows no secret.
#[derive(Debug, Clone)]
pub struct BpcConfig {
    /// `BPC_BASE_URL` (required: every bank runs its own api2 host; BPC's demo is
    /// `https://dev.bpcbt.com/api2`) and `BPC_TIMEOUT_MS`.
    pub api: ProviderSettings,
    /// `BPC_API_KEY`, sent as `X-Api-Key`.
    pub api_key: Secret,
    /// `BPC_API_VERSION`, sent as `X-Version` (default `2023-10-31`).
    pub api_version: String,
    /// `BPC_WEBHOOK_SECRET`: the webhook endpoint's secret from BPC's Personal area.
    pub webhook_secret: Secret,
    /// `BPC_WEBHOOK_SIGNATURE_HEADER` (default `X-Signature`).
    pub signature_header: String,
    /// `BPC_WEBHOOK_SIGNATURE_ENCODING`: `hex` (default) or `base64`.
    pub signature_encoding: SignatureEncoding,
    /// `BPC_CAPTURE_PATH`, `BPC_CANCEL_PATH` (with `{id}`) and `BPC_REFUND_PATH`.
    pub capture_path: String,
    pub cancel_path: String,
    pub refund_path: String,
    /// `BPC_SUCCEEDED_STATUSES`, `BPC_AUTHORIZED_STATUSES`, `BPC_FAILED_STATUSES`.
    pub statuses: StatusNames,
}

fn path_setting(
    env: &Env,
    var: &str,
    default: &str,
    needs_id: bool,
) -> Result<String, ConfigError> {
    let path = env.get(var).unwrap_or(default).trim().to_owned();
    if !path.starts_with('/') || (needs_id && !path.contains("{id}")) {
        let what = if needs_id { " and contain {id}" } else { "" };
        return Err(ConfigError::new(var, format!("must start with /{what}")));
    }
    Ok(path)
}

fn list_setting(env: &Env, var: &str, default: &str) -> Result<Vec<String>, ConfigError> {
    let list = split(env.get(var).unwrap_or(default));
    if list.is_empty() {
        return Err(ConfigError::new(var, "must name at least one status"));
    }
    Ok(list)
}

impl BpcConfig {
    pub fn from_env(env: &Env) -> Result<BpcConfig, ConfigError> {
        const BASE: &str = "BPC_BASE_URL";
        let base = env.url(BASE)?.ok_or_else(|| {
            ConfigError::new(
                BASE,
                "is required: the api2 address of your bank's BPC gateway (BPC's demo: https://dev.bpcbt.com/api2)",
            )
        })?;
        let signature_encoding = match env.get("BPC_WEBHOOK_SIGNATURE_ENCODING").unwrap_or("hex") {
            "hex" => SignatureEncoding::Hex,
            "base64" => SignatureEncoding::Base64,
            _ => {
                return Err(ConfigError::new(
                    "BPC_WEBHOOK_SIGNATURE_ENCODING",
                    "must be hex or base64",
                ))
            }
        };
        let signature_header = env
            .get("BPC_WEBHOOK_SIGNATURE_HEADER")
            .unwrap_or(DEFAULT_SIGNATURE_HEADER)
            .trim()
            .to_ascii_lowercase();
        if http::HeaderName::from_bytes(signature_header.as_bytes()).is_err() {
            return Err(ConfigError::new(
                "BPC_WEBHOOK_SIGNATURE_HEADER",
                "is not a header name",
            ));
        }
        Ok(BpcConfig {
            api: ProviderSettings::from_env(env, "BPC", &base)?,
            api_key: env.secret("BPC_API_KEY")?,
            api_version: env
                .get("BPC_API_VERSION")
                .unwrap_or(DEFAULT_API_VERSION)
                .to_owned(),
            webhook_secret: env.secret("BPC_WEBHOOK_SECRET")?,
            signature_header,
            signature_encoding,
            capture_path: path_setting(env, "BPC_CAPTURE_PATH", DEFAULT_CAPTURE_PATH, true)?,
            cancel_path: path_setting(env, "BPC_CANCEL_PATH", DEFAULT_CANCEL_PATH, true)?,
            refund_path: path_setting(env, "BPC_REFUND_PATH", DEFAULT_REFUND_PATH, false)?,
            statuses: StatusNames {
                succeeded: list_setting(env, "BPC_SUCCEEDED_STATUSES", map::DEFAULT_SUCCEEDED)?,
                authorized: list_setting(env, "BPC_AUTHORIZED_STATUSES", map::DEFAULT_AUTHORIZED)?,
                failed: list_setting(env, "BPC_FAILED_STATUSES", map::DEFAULT_FAILED)?,
            },
        })
    }
}

#[derive(Debug)]
pub struct Bpc {
    api: ProviderClient<BpcDialect>,
    config: BpcConfig,
}

/// BPC ids (`p_…`, `ps_…`) are letters, digits and `_`; anything else must not reach a path.
fn bpc_id(id: &str) -> Option<&str> {
    path_id(id, 255, b"_-")
}

/// What a payment carries in `metadata` to be found again: our shopTransactionID and attempt,
/// as in the pay's idempotency key.
fn reference(shop_transaction_id: &str, attempt: u32) -> String {
    format!("pgm-{shop_transaction_id}-{attempt}")
}

impl Bpc {
    pub fn from_env(env: &Env, deps: &ProviderDeps) -> Result<Bpc, ConfigError> {
        Ok(Bpc::new(BpcConfig::from_env(env)?, deps.http.clone()))
    }

    pub fn new(config: BpcConfig, http: reqwest::Client) -> Bpc {
        let auth = Auth::Header("x-api-key", config.api_key.clone());
        Bpc {
            api: ProviderClient::new(http, config.api.clone(), auth),
            config,
        }
    }

    fn with_id(template: &str, id: &str) -> String {
        template.replace("{id}", id)
    }

    async fn get_payment(&self, id: &str) -> Result<wire::Payment, ProviderError> {
        let id = bpc_id(id).ok_or(ProviderError::NotFound)?;
        self.api
            .get(format!("/payments/{id}"))
            .header("x-version", self.config.api_version.clone())
            .send()
            .await
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: String,
        body: &impl serde::Serialize,
    ) -> Result<T, ProviderError> {
        self.api
            .post(path)
            .header("x-version", self.config.api_version.clone())
            .json(body)
            .send()
            .await
    }

    /// The payment a create whose answer was lost made, found by its `pgmShopTransactionId`.
    async fn find_by_reference(&self, payment: &Payment) -> Result<wire::Payment, ProviderError> {
        let wanted = reference(&payment.shop_transaction_id, payment.claim.attempt);
        let list: List<wire::Payment> = self
            .api
            .get("/payments")
            .header("x-version", self.config.api_version.clone())
            .query([
                (format!("metadata[{REFERENCE_KEY}]"), wanted.clone()),
                ("limit".to_owned(), "10".to_owned()),
            ])
            .send()
            .await
            .map_err(|e| match e {
                // Saying "never received" would let the PGM settle a payment that may be
                // charged: an endpoint that cannot be searched leaves it pending instead.
                ProviderError::NotFound => ProviderError::Unavailable(
                    "BPC cannot be searched by metadata at BPC_BASE_URL; settle this payment by hand".into(),
                ),
                other => other,
            })?;
        let ours = |p: &&wire::Payment| {
            p.metadata.get(REFERENCE_KEY).and_then(Value::as_str) == Some(wanted.as_str())
        };
        match list.data.iter().find(ours) {
            Some(found) => Ok(found.clone()),
            None if list.data.is_empty() => Err(ProviderError::NotFound),
            // Payments that are not ours: the filter was ignored, so absence proves nothing.
            None => Err(ProviderError::Unavailable(
                "BPC ignored the metadata filter; settle this payment by hand".into(),
            )),
        }
    }

    fn create_body(&self, cmd: &PayCommand) -> Result<CreatePayment, ProviderError> {
        let card = cmd.provider_data.get("card").filter(|c| !c.is_null());
        let (payment_method, stored_payment_method_id) = match (card, &cmd.card_token) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "providerData.card",
                    "give either creditCardToken (a BPC Stored Payment Method id) or providerData.card, not both",
                ))
            }
            (Some(card), None) => (Some(card_from(card, cmd.buyer_name.as_deref())?), None),
            (None, Some(token)) => (None, Some(token.expose().to_owned())),
            (None, None) => {
                return Err(invalid(
                    "creditCardToken",
                    "bpc needs the card: creditCardToken (a BPC Stored Payment Method id) or providerData.card",
                ))
            }
        };
        let capture_method =
            match cmd.provider_data.get("captureMethod") {
                None | Some(Value::Null) => "automatic",
                Some(Value::String(m)) if m == "automatic" => "automatic",
                Some(Value::String(m)) if m == "manual" => "manual",
                Some(_) => return Err(invalid(
                    "providerData.captureMethod",
                    "must be \"manual\" (authorise now, capture with /confirm) or \"automatic\"",
                )),
            };
        let return_url = cmd.success_redirect.clone().ok_or_else(|| {
            invalid(
                "successRedirect",
                "is required by bpc: the buyer comes back there after 3-D Secure",
            )
        })?;
        let description = match cmd.provider_data.get("description") {
            None | Some(Value::Null) => format!("Order {}", cmd.shop_transaction_id),
            Some(Value::String(d)) if !d.trim().is_empty() => d.clone(),
            Some(_) => {
                return Err(invalid(
                    "providerData.description",
                    "must be a non-empty string",
                ))
            }
        };
        let mut metadata: BTreeMap<String, String> = cmd.metadata.clone();
        if metadata.contains_key(REFERENCE_KEY) {
            return Err(invalid(
                "metadata",
                format!("`{REFERENCE_KEY}` is the PGM's own key"),
            ));
        }
        metadata.insert(REFERENCE_KEY.into(), cmd.idempotency_key());
        let customer_details =
            (cmd.buyer_email.is_some() || cmd.buyer_name.is_some()).then(|| CustomerDetails {
                email: cmd.buyer_email.clone(),
                name: cmd.buyer_name.clone(),
            });
        Ok(CreatePayment {
            amount: cmd.amount.minor(),
            currency: cmd.amount.currency().code().to_ascii_lowercase(),
            capture_method,
            description,
            metadata,
            return_url,
            customer_details,
            payment_method,
            stored_payment_method_id,
        })
    }

    /// The stored payment's BPC id, or why there is nothing to act on.
    fn known_id<'a>(&self, payment: &'a Payment) -> Result<&'a str, ProviderError> {
        payment
            .provider_payment_id
            .as_deref()
            .and_then(bpc_id)
            .ok_or(ProviderError::NotFound)
    }
}

/// `providerData.card`: `{"number","expiryMonth","expiryYear","cvc","holderName"?}`, the
/// names of BPC's `paymentMethod.card`. Checked here so that a typo is a 400 naming the field,
/// not BPC's refusal.
fn card_from(card: &Value, buyer_name: Option<&str>) -> Result<PaymentMethod, ProviderError> {
    let field = |name: &str| format!("providerData.card.{name}");
    let text = |name: &str| card.get(name).and_then(Value::as_str).map(str::trim);
    let digits = |s: &str, min: usize, max: usize| {
        (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
    };
    let number = text("number")
        .map(|n| n.replace(' ', ""))
        .filter(|n| digits(n, 12, 19))
        .ok_or_else(|| invalid(&field("number"), "must be the card number, 12 to 19 digits"))?;
    let month = card
        .get("expiryMonth")
        .and_then(Value::as_u64)
        .filter(|m| (1..=12).contains(m))
        .ok_or_else(|| invalid(&field("expiryMonth"), "must be a number from 1 to 12"))?;
    let year = card
        .get("expiryYear")
        .and_then(Value::as_u64)
        .filter(|y| (2000..=2099).contains(y))
        .ok_or_else(|| invalid(&field("expiryYear"), "must be a four-digit year"))?;
    let cvc = text("cvc")
        .filter(|c| digits(c, 3, 4))
        .ok_or_else(|| invalid(&field("cvc"), "must be 3 or 4 digits, as a string"))?;
    let holder_name = text("holderName").or(buyer_name).map(str::to_owned);
    Ok(PaymentMethod {
        kind: "card",
        card: Card {
            number,
            expiry_month: month as u8,
            expiry_year: year as u16,
            cvc: cvc.to_owned(),
            holder_name,
        },
    })
}

#[async_trait]
impl Provider for Bpc {
    fn name(&self) -> &'static str {
        NAME
    }

    fn methods(&self) -> &'static [&'static str] {
        METHODS
    }

    async fn pay(&self, cmd: &PayCommand) -> Result<PayOutcome, ProviderError> {
        let body = self.create_body(cmd)?;
        let created: wire::Payment =
            self.post("/payments".into(), &body)
                .await
                .map_err(|e| match e {
                    // A create cannot miss an object: the endpoint itself is missing.
                    ProviderError::NotFound => ProviderError::Rejected {
                        code: Some("not_found".into()),
                        message: "BPC does not serve /payments at BPC_BASE_URL".into(),
                    },
                    other => other,
                })?;
        let status = self.config.statuses.outcome(&created);
        Ok(PayOutcome {
            provider_payment_id: Some(created.id.clone()),
            state: status.state,
            description: status.description,
            redirect_url: redirect_url(&created).filter(|_| status.state == PaymentState::Pending),
            redirect_url_mobile: None,
            recurrence_token: None,
        })
    }

    // The session routes take BPC's payment id as token: `session/void` is how an
    // authorisation is cancelled. There is no `session/open` (a Payment is created by `pay`).
    crate::capabilities!(
        Capture,
        Void,
        Refunds,
        StatusLookup,
        Webhooks,
        SessionTokens
    );
}

impl SessionTokens for Bpc {}

#[async_trait]
impl Capture for Bpc {
    async fn confirm(
        &self,
        payment: &Payment,
        amount: Money,
    ) -> Result<CaptureOutcome, ProviderError> {
        same_currency(payment, amount)?;
        let id = self.known_id(payment)?;
        let path = Bpc::with_id(&self.config.capture_path, id);
        let captured: wire::Payment = self
            .post(
                path,
                &wire::Capture {
                    amount: amount.minor(),
                },
            )
            .await?;
        let succeeded = self.config.statuses.state(&captured.status) == PaymentState::Captured;
        Ok(CaptureOutcome {
            succeeded,
            description: if succeeded {
                format!("Payment captured ({amount})")
            } else {
                format!("Capture not completed (BPC status {})", captured.status)
            },
        })
    }
}

#[async_trait]
impl Void for Bpc {
    async fn void(&self, payment: &Payment) -> Result<CaptureOutcome, ProviderError> {
        let id = self.known_id(payment)?;
        let path = Bpc::with_id(&self.config.cancel_path, id);
        let cancelled: wire::Payment = self.post(path, &serde_json::json!({})).await?;
        let succeeded = self.config.statuses.state(&cancelled.status) == PaymentState::Failed;
        Ok(CaptureOutcome {
            succeeded,
            description: if succeeded {
                "Authorisation released".into()
            } else {
                format!("Cancel not completed (BPC status {})", cancelled.status)
            },
        })
    }
}

#[async_trait]
impl Refunds for Bpc {
    /// No: BPC documents no idempotency key, so a refund whose answer was lost is never sent
    /// again (the PGM keeps it reserved until settled by hand).
    fn refunds_are_idempotent(&self) -> bool {
        false
    }

    async fn refund(
        &self,
        payment: &Payment,
        amount: Money,
        refund_id: &str,
    ) -> Result<RefundOutcome, ProviderError> {
        same_currency(payment, amount)?;
        let id = self.known_id(payment)?;
        let body = CreateRefund {
            payment_id: id.to_owned(),
            amount: amount.minor(),
            metadata: BTreeMap::from([("pgmRefundId".to_owned(), refund_id.to_owned())]),
        };
        let refund: wire::Refund = self.post(self.config.refund_path.clone(), &body).await?;
        Ok(refund_outcome(refund))
    }
}

#[async_trait]
impl StatusLookup for Bpc {
    async fn status(&self, payment: &Payment) -> Result<StatusOutcome, ProviderError> {
        let found = match &payment.provider_payment_id {
            Some(id) => self.get_payment(id).await?,
            None => self.find_by_reference(payment).await?,
        };
        Ok(self.config.statuses.outcome(&found))
    }
}

#[async_trait]
impl Webhooks for Bpc {
    /// BPC POSTs `{"created","type","data":{"object":{…}}}` signed in `X-Signature`. The
    /// signature covers the body only (no timestamp), so a replay is not refused: it can only
    /// repeat what was already true, and a payment's state only moves forward.
    async fn callback(&self, req: &CallbackRequest) -> Result<CallbackOutcome, ProviderError> {
        if req.method != http::Method::POST {
            return Err(ProviderError::InvalidCallback(
                "BPC sends webhooks as POST".into(),
            ));
        }
        let header = req.header(&self.config.signature_header).ok_or_else(|| {
            ProviderError::InvalidSignature(format!(
                "missing {} header",
                self.config.signature_header
            ))
        })?;
        if !signature_matches(
            self.config.webhook_secret.expose().as_bytes(),
            self.config.signature_encoding,
            header,
            &req.body,
        ) {
            return Err(ProviderError::InvalidSignature(
                "no signature matches".into(),
            ));
        }
        let event: Event = serde_json::from_slice(&req.body)
            .map_err(|e| ProviderError::InvalidCallback(format!("not a BPC event: {e}")))?;
        if !event.kind.starts_with("payment.") {
            // session.*, refund.*: nothing the PGM tracks by them.
            return Ok(CallbackOutcome::Ignored {
                ack: CallbackAck::default(),
            });
        }
        let object: wire::Payment = serde_json::from_value(event.data.object)
            .map_err(|e| ProviderError::InvalidCallback(format!("not a BPC Payment: {e}")))?;
        if bpc_id(&object.id).is_none() {
            return Err(ProviderError::InvalidCallback(
                "not a BPC payment id".into(),
            ));
        }
        Ok(CallbackOutcome::Payment {
            subject: CallbackSubject::ProviderPaymentId(object.id.clone()),
            verified: Some(self.config.statuses.outcome(&object)),
            ack: CallbackAck::default(),
        })
    }
}
