//! Satispay (GBusiness API v1): the buyer approves a `MATCH_CODE` payment in the Satispay app
//! or on Satispay's web page; we learn the outcome by reading the payment (`GET /payments/{id}`).
//! Every request is signed (see [`signing`]). Satispay's callback carries no status and no
//! signature, so it is only a trigger for a status read.

mod map;
mod signing;
pub mod wire;

pub use signing::{digest_header, signing_string, PrivateKey, SatispaySigner, SIGNED_HEADERS};

use crate::kit::{invalid, Auth, ProviderClient, ProviderSettings};
use crate::{
    CallbackAck, CallbackOutcome, CallbackRequest, CallbackSubject, PayOutcome, Provider,
    ProviderDeps, ProviderError, RefundOutcome, RefundStatus, Refunds, StatusLookup, StatusOutcome,
    Webhooks,
};
use async_trait::async_trait;
use map::{is_satispay_id, outcome, SatispayDialect};
use pgm_core::wire::PayCommand;
use pgm_core::{ConfigError, Currency, Env, Money, Payment, PaymentState, Secret};
use std::sync::Arc;
use std::time::Duration;
use wire::{CreatePayment, PaymentList, SatispayPayment};

pub const NAME: &str = "satispay";
const METHODS: &[&str] = &["satispay"];

const LIVE_API: &str = "https://authservices.satispay.com/g_business/v1";
const SANDBOX_API: &str = "https://staging.authservices.satispay.com/g_business/v1";
/// Where the buyer pays (`/pay/{id}`) when the API does not hand us the full page URL.
const LIVE_WEB: &str = "https://online.satispay.com";
const SANDBOX_WEB: &str = "https://staging.online.satispay.com";

/// The documented cap of `x-satispay-response-wait-time` (and of SATISPAY_WAITING_SECONDS).
const MAX_WAITING_SECONDS: u64 = 60;
/// `external_code` holds at most 50 characters.
const MAX_EXTERNAL_CODE: usize = 50;
/// The list API's largest page.
const LOOKUP_PAGE_SIZE: &str = "100";
/// Pages looked through per status for a payment whose pay answer was lost: the newest
/// 1 000 payments of each status, which a lost answer (found by the reconciler within
/// minutes) is well inside; the bound only stops an endless walk.
const LOOKUP_MAX_PAGES: usize = 10;
/// The list API answers one status at a time (ACCEPTED when none is given).
const LOOKUP_STATUSES: [&str; 3] = ["PENDING", "ACCEPTED", "CANCELED"];

#[derive(Debug, Clone)]
pub struct SatispayConfig {
    /// `SATISPAY_BASE_URL` (else the live or staging API by `SATISPAY_IS_SANDBOX`) and
    /// `SATISPAY_TIMEOUT_MS`; a status read with long-polling waits longer.
    pub api: ProviderSettings,
    /// Satispay's web payment page host (live or staging).
    pub web_url: String,
    /// `SATISPAY_KEY_ID`: names our public key at Satispay.
    pub key_id: Secret,
    /// `SATISPAY_PRIVATE_KEY`: PEM, literal `\n` accepted.
    pub private_key: PrivateKey,
    /// `SATISPAY_WAITING_SECONDS` (0–60): long-poll of status reads while a payment is pending.
    pub waiting_seconds: u64,
    /// `SATISPAY_AFTER_BUY_WEB_REDIRECT_URL`: where Satispay's web page sends the buyer back.
    pub web_redirect_url: Option<String>,
    /// `SATISPAY_AFTER_BUY_MOBILE_REDIRECT_URL`: the same for the app flow (may be an app scheme).
    pub mobile_redirect_url: Option<String>,
}

impl SatispayConfig {
    pub fn from_env(env: &Env) -> Result<SatispayConfig, ConfigError> {
        let sandbox = env.bool_or("SATISPAY_IS_SANDBOX", false)?;
        let default_api = if sandbox { SANDBOX_API } else { LIVE_API };
        let private_key = PrivateKey::from_pem(env.require("SATISPAY_PRIVATE_KEY")?)
            .map_err(|why| ConfigError::new("SATISPAY_PRIVATE_KEY", why))?;
        let waiting_seconds: u64 = env.parse_or("SATISPAY_WAITING_SECONDS", 0)?;
        if waiting_seconds > MAX_WAITING_SECONDS {
            return Err(ConfigError::new(
                "SATISPAY_WAITING_SECONDS",
                format!("must be between 0 and {MAX_WAITING_SECONDS}"),
            ));
        }
        Ok(SatispayConfig {
            api: ProviderSettings::from_env(env, "SATISPAY", default_api)?,
            web_url: if sandbox { SANDBOX_WEB } else { LIVE_WEB }.to_owned(),
            key_id: env.secret("SATISPAY_KEY_ID")?,
            private_key,
            waiting_seconds,
            web_redirect_url: env.url("SATISPAY_AFTER_BUY_WEB_REDIRECT_URL")?,
            mobile_redirect_url: redirect_url(env, "SATISPAY_AFTER_BUY_MOBILE_REDIRECT_URL")?,
        })
    }
}

/// A URL with any scheme (`https://…` or an app's `myapp://…`), as mobile redirects may be.
fn redirect_url(env: &Env, var: &str) -> Result<Option<String>, ConfigError> {
    match env.get(var) {
        None => Ok(None),
        Some(v) if v.contains("://") && !v.chars().any(char::is_whitespace) => {
            Ok(Some(v.to_owned()))
        }
        Some(_) => Err(ConfigError::new(var, "is not a URL")),
    }
}

pub struct Satispay {
    api: ProviderClient<SatispayDialect>,
    web_url: String,
    waiting_seconds: u64,
    web_redirect_url: Option<String>,
    mobile_redirect_url: Option<String>,
    /// `{PGM_PUBLIC_URL}/satispay/callback`.
    callback_url: String,
}

impl Satispay {
    pub fn from_env(env: &Env, deps: &ProviderDeps) -> Result<Satispay, ConfigError> {
        Ok(Satispay::new(
            SatispayConfig::from_env(env)?,
            deps.http.clone(),
            deps.callback_url(NAME),
        ))
    }

    pub fn new(config: SatispayConfig, http: reqwest::Client, callback_url: String) -> Satispay {
        let signer = SatispaySigner {
            key_id: config.key_id,
            private_key: config.private_key,
        };
        Satispay {
            api: ProviderClient::new(http, config.api, Auth::Signed(Arc::new(signer))),
            web_url: config.web_url,
            waiting_seconds: config.waiting_seconds,
            web_redirect_url: config.web_redirect_url,
            mobile_redirect_url: config.mobile_redirect_url,
            callback_url,
        }
    }

    async fn create(
        &self,
        body: &CreatePayment<'_>,
        idempotency_key: String,
    ) -> Result<SatispayPayment, ProviderError> {
        self.api
            .post("/payments")
            .idempotency_key(idempotency_key)
            .json(body)
            .send()
            .await
    }

    async fn get_payment(&self, id: &str) -> Result<SatispayPayment, ProviderError> {
        if !is_satispay_id(id) {
            return Err(ProviderError::NotFound);
        }
        let mut request = self.api.get(format!("/payments/{id}"));
        if self.waiting_seconds > 0 {
            request = request
                .header(
                    "x-satispay-response-wait-time",
                    self.waiting_seconds.to_string(),
                )
                .wait_longer(Duration::from_secs(self.waiting_seconds));
        }
        request.send().await
    }

    /// A pay whose answer was lost left us without Satispay's id: look for our external_code
    /// among the payments of each status, newest first, page by page (`starting_after`) until
    /// found or [`LOOKUP_MAX_PAGES`] pages of a status are read. The list API cannot filter by
    /// external_code.
    async fn find_by_external_code(&self, code: &str) -> Result<SatispayPayment, ProviderError> {
        for status in LOOKUP_STATUSES {
            let mut after: Option<String> = None;
            for _ in 0..LOOKUP_MAX_PAGES {
                let mut query = vec![
                    ("status", status.to_owned()),
                    ("limit", LOOKUP_PAGE_SIZE.to_owned()),
                ];
                if let Some(after) = after.take() {
                    query.push(("starting_after", after));
                }
                let page: PaymentList = self.api.get("/payments").query(query).send().await?;
                let last = page.data.last().map(|p| p.id.clone());
                if let Some(found) = page.data.into_iter().find(|p| {
                    p.external_code.as_deref() == Some(code)
                        && p.kind.as_deref() != Some("REFUND_TO_BUSINESS")
                }) {
                    return Ok(found);
                }
                match last {
                    Some(last) if page.has_more => after = Some(last),
                    _ => break,
                }
            }
        }
        Err(ProviderError::NotFound)
    }

    /// Satispay's page for the payment, sending the buyer back to `back` when done.
    fn pay_page(&self, payment: &SatispayPayment, back: Option<&str>) -> String {
        let page = match payment.redirect_url.as_deref() {
            Some(url) if !url.is_empty() => url.split('?').next().unwrap_or(url).to_owned(),
            _ => format!("{}/pay/{}", self.web_url, payment.id),
        };
        match back.and_then(|b| serde_urlencoded::to_string([("redirect_url", b)]).ok()) {
            Some(query) => format!("{page}?{query}"),
            None => page,
        }
    }
}

fn require_eur(amount: Money) -> Result<(), ProviderError> {
    if amount.currency() == Currency::EUR {
        Ok(())
    } else {
        Err(invalid("currency", "Satispay only accepts EUR"))
    }
}

#[async_trait]
impl Provider for Satispay {
    fn name(&self) -> &'static str {
        NAME
    }

    fn methods(&self) -> &'static [&'static str] {
        METHODS
    }

    async fn pay(&self, cmd: &PayCommand) -> Result<PayOutcome, ProviderError> {
        require_eur(cmd.amount)?;
        if cmd.shop_transaction_id.len() > MAX_EXTERNAL_CODE {
            return Err(invalid(
                "shopTransactionID",
                format!("Satispay keeps at most {MAX_EXTERNAL_CODE} characters (external_code)"),
            ));
        }
        let callback_url = format!("{}?payment_id={{uuid}}", self.callback_url);
        let back = cmd
            .success_redirect
            .as_deref()
            .or(self.web_redirect_url.as_deref());
        let body = CreatePayment {
            flow: "MATCH_CODE",
            amount_unit: cmd.amount.minor(),
            currency: "EUR",
            external_code: Some(&cmd.shop_transaction_id),
            callback_url: Some(&callback_url),
            redirect_url: back,
            parent_payment_uid: None,
        };
        // Same key, same payment: a retried pay never creates a second one.
        let payment = self.create(&body, cmd.idempotency_key()).await?;
        let (state, description) = outcome(&payment);
        let waiting = state == PaymentState::Pending;
        Ok(PayOutcome {
            provider_payment_id: Some(payment.id.clone()),
            state,
            description: description.to_owned(),
            redirect_url: waiting.then(|| match payment.redirect_url.as_deref() {
                Some(url) if !url.is_empty() => url.to_owned(),
                _ => self.pay_page(&payment, back),
            }),
            redirect_url_mobile: waiting
                .then_some(self.mobile_redirect_url.as_deref())
                .flatten()
                .map(|mobile| self.pay_page(&payment, Some(mobile))),
            recurrence_token: None,
        })
    }

    crate::capabilities!(Refunds, StatusLookup, Webhooks);
}

#[async_trait]
impl Refunds for Satispay {
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
        require_eur(amount)?;
        let parent = payment
            .provider_payment_id
            .as_deref()
            .ok_or(ProviderError::NotFound)?;
        let external_code = [refund_id, payment.shop_transaction_id.as_str()]
            .into_iter()
            .find(|c| c.len() <= MAX_EXTERNAL_CODE);
        let body = CreatePayment {
            flow: "REFUND",
            amount_unit: amount.minor(),
            currency: "EUR",
            external_code,
            callback_url: None,
            redirect_url: None,
            parent_payment_uid: Some(parent),
        };
        let refund = self.create(&body, refund_id.to_owned()).await?;
        let succeeded = refund.status == "ACCEPTED";
        Ok(RefundOutcome {
            state: RefundStatus::settled(succeeded),
            provider_refund_id: Some(refund.id),
            description: if succeeded {
                "Refund accepted".into()
            } else {
                format!("Refund not accepted (status {})", refund.status)
            },
        })
    }
}

#[async_trait]
impl StatusLookup for Satispay {
    async fn status(&self, payment: &Payment) -> Result<StatusOutcome, ProviderError> {
        let found = match &payment.provider_payment_id {
            Some(id) => self.get_payment(id).await?,
            None => {
                self.find_by_external_code(&payment.shop_transaction_id)
                    .await?
            }
        };
        let (state, description) = outcome(&found);
        Ok(StatusOutcome {
            state,
            description: description.to_owned(),
            provider_payment_id: Some(found.id),
            // Satispay payments are taken in full when accepted.
            captured_minor: None,
        })
    }
}

#[async_trait]
impl Webhooks for Satispay {
    /// `GET {callback}?payment_id=<id>`: no body, no status, no signature. Only says "look
    /// again"; the PGM reads the payment with [`StatusLookup::status`] before believing anything.
    async fn callback(&self, req: &CallbackRequest) -> Result<CallbackOutcome, ProviderError> {
        let id = req
            .query_param("payment_id")
            .ok_or_else(|| ProviderError::InvalidCallback("missing payment_id".into()))?;
        if !is_satispay_id(&id) {
            return Err(ProviderError::InvalidCallback(
                "payment_id is not a Satispay id".into(),
            ));
        }
        Ok(CallbackOutcome::Payment {
            subject: CallbackSubject::ProviderPaymentId(id),
            verified: None,
            ack: CallbackAck::default(),
        })
    }
}
