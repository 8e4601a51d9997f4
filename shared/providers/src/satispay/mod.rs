//! Satispay (GBusiness API v1): the buyer approves a `MATCH_CODE` payment in the Satispay app
//! or on Satispay's web page; we learn the outcome by reading the payment (`GET /payments/{id}`).
//! Every request is signed (see [`signing`]). Satispay's callback carries no status and no
//! signature, so it is only a trigger for a status read.

mod signing;
pub mod wire;

pub use signing::{digest_header, signing_string, PrivateKey, SIGNED_HEADERS};

use crate::{
    CallbackAck, CallbackOutcome, CallbackRequest, CallbackSubject, Operation, PayOutcome,
    Provider, ProviderDeps, ProviderError, RefundOutcome, StatusOutcome,
};
use async_trait::async_trait;
use bytes::Bytes;
use pgm_core::wire::PayCommand;
use pgm_core::{ConfigError, Currency, Env, Money, Payment, PaymentState, Secret};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use std::time::Duration;
use time::OffsetDateTime;
use wire::{CreatePayment, PaymentList, SatispayError, SatispayPayment};

pub const NAME: &str = "satispay";
const METHODS: &[&str] = &["satispay"];

const LIVE_API: &str = "https://authservices.satispay.com/g_business/v1";
const SANDBOX_API: &str = "https://staging.authservices.satispay.com/g_business/v1";
/// Where the buyer pays (`/pay/{id}`) when the API does not hand us the full page URL.
const LIVE_WEB: &str = "https://online.satispay.com";
const SANDBOX_WEB: &str = "https://staging.online.satispay.com";

/// Per-request timeout; a status read with long-polling waits this much longer.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
/// The documented cap of `x-satispay-response-wait-time` (and of SATISPAY_WAITING_SECONDS).
const MAX_WAITING_SECONDS: u64 = 60;
/// `external_code` holds at most 50 characters.
const MAX_EXTERNAL_CODE: usize = 50;
/// How many recent payments a lookup by shopTransactionID scans (the list API's largest page).
const LOOKUP_PAGE_SIZE: u32 = 100;

#[derive(Debug, Clone)]
pub struct SatispayConfig {
    /// `SATISPAY_BASE_URL`, else the live or staging API by `SATISPAY_IS_SANDBOX`.
    pub base_url: String,
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
    /// `SATISPAY_TIMEOUT_MS`: how long one request may take before its outcome counts as unknown
    /// (default 15 s). An operator setting: the merchant's backend has a timeout of its own, and
    /// a pay that waits for the provider longer than its caller does helps nobody.
    pub timeout: Duration,
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
            base_url: env.url_or("SATISPAY_BASE_URL", default_api)?,
            web_url: if sandbox { SANDBOX_WEB } else { LIVE_WEB }.to_owned(),
            key_id: env.secret("SATISPAY_KEY_ID")?,
            private_key,
            waiting_seconds,
            web_redirect_url: env.url("SATISPAY_AFTER_BUY_WEB_REDIRECT_URL")?,
            mobile_redirect_url: redirect_url(env, "SATISPAY_AFTER_BUY_MOBILE_REDIRECT_URL")?,
            timeout: timeout_from_env(env)?,
        })
    }
}

/// `SATISPAY_TIMEOUT_MS` in milliseconds, at least 1.
fn timeout_from_env(env: &Env) -> Result<Duration, ConfigError> {
    const VAR: &str = "SATISPAY_TIMEOUT_MS";
    match env.parse_or(VAR, DEFAULT_TIMEOUT.as_millis() as u64)? {
        0 => Err(ConfigError::new(VAR, "must be at least 1 (milliseconds)")),
        ms => Ok(Duration::from_millis(ms)),
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
    config: SatispayConfig,
    http: reqwest::Client,
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
        Satispay {
            config,
            http,
            callback_url,
        }
    }

    /// Sends one signed request to `{base_url}{path}` and returns the status and raw body.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        extra_headers: &[(&'static str, String)],
        timeout: Duration,
    ) -> Result<(StatusCode, Bytes), ProviderError> {
        let url =
            reqwest::Url::parse(&format!("{}{path}", self.config.base_url)).map_err(|_| {
                ProviderError::Unavailable("SATISPAY_BASE_URL does not make a URL".into())
            })?;
        let target = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        // The Host line signed must be the Host header sent: the port only when not default.
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            (None, _) => {
                return Err(ProviderError::Unavailable(
                    "SATISPAY_BASE_URL has no host".into(),
                ))
            }
        };
        let has_body = body.is_some();
        let body = body.unwrap_or_default();
        let digest = signing::digest_header(&body);
        let date = signing::date_header(OffsetDateTime::now_utc());
        let message = signing::signing_string(method.as_str(), &target, &host, &date, &digest);
        let signature = self.config.private_key.sign(&message);
        let mut request = self
            .http
            .request(method, url)
            .timeout(timeout)
            .header(HOST, host)
            .header("Date", date)
            .header("Digest", digest)
            .header(ACCEPT, "application/json")
            .header(
                AUTHORIZATION,
                signing::authorization_header(self.config.key_id.expose(), &signature),
            );
        if has_body {
            request = request.header(CONTENT_TYPE, "application/json").body(body);
        }
        for (name, value) in extra_headers {
            request = request.header(*name, value);
        }
        crate::transport::exchange(request).await
    }

    async fn create(
        &self,
        body: &CreatePayment<'_>,
        idempotency_key: String,
    ) -> Result<SatispayPayment, ProviderError> {
        let json = serde_json::to_vec(body).map_err(|e| ProviderError::InvalidRequest {
            field: "body".into(),
            message: e.to_string(),
        })?;
        let (status, bytes) = self
            .call(
                Method::POST,
                "/payments",
                Some(json),
                &[("Idempotency-Key", idempotency_key)],
                self.config.timeout,
            )
            .await?;
        read(status, &bytes)
    }

    async fn get_payment(&self, id: &str) -> Result<SatispayPayment, ProviderError> {
        if !is_satispay_id(id) {
            return Err(ProviderError::NotFound);
        }
        let mut headers = Vec::new();
        let mut timeout = self.config.timeout;
        if self.config.waiting_seconds > 0 {
            headers.push((
                "x-satispay-response-wait-time",
                self.config.waiting_seconds.to_string(),
            ));
            timeout += Duration::from_secs(self.config.waiting_seconds);
        }
        let (status, bytes) = self
            .call(
                Method::GET,
                &format!("/payments/{id}"),
                None,
                &headers,
                timeout,
            )
            .await?;
        read(status, &bytes)
    }

    /// A pay whose answer was lost left us without Satispay's id: look for our external_code
    /// among the most recent payments (the list API cannot filter by it).
    async fn find_by_external_code(&self, code: &str) -> Result<SatispayPayment, ProviderError> {
        let path = format!("/payments?limit={LOOKUP_PAGE_SIZE}");
        let (status, bytes) = self
            .call(Method::GET, &path, None, &[], self.config.timeout)
            .await?;
        let list: PaymentList = read(status, &bytes)?;
        list.data
            .into_iter()
            .find(|p| {
                p.external_code.as_deref() == Some(code)
                    && p.kind.as_deref() != Some("REFUND_TO_BUSINESS")
            })
            .ok_or(ProviderError::NotFound)
    }

    /// Satispay's page for the payment, sending the buyer back to `back` when done.
    fn pay_page(&self, payment: &SatispayPayment, back: Option<&str>) -> String {
        let page = match payment.redirect_url.as_deref() {
            Some(url) if !url.is_empty() => url.split('?').next().unwrap_or(url).to_owned(),
            _ => format!("{}/pay/{}", self.config.web_url, payment.id),
        };
        match back.and_then(|b| serde_urlencoded::to_string([("redirect_url", b)]).ok()) {
            Some(query) => format!("{page}?{query}"),
            None => page,
        }
    }
}

/// Satispay ids are UUIDs; anything else would change the request path.
fn is_satispay_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn require_eur(amount: Money) -> Result<(), ProviderError> {
    if amount.currency() == Currency::EUR {
        Ok(())
    } else {
        Err(ProviderError::InvalidRequest {
            field: "currency".into(),
            message: "Satispay only accepts EUR".into(),
        })
    }
}

/// Reads a Satispay answer: 2xx is the body, 404 has no such payment, 5xx and bodies we cannot
/// read leave the outcome unknown, any other 4xx is a definite refusal.
fn read<T: DeserializeOwned>(status: StatusCode, body: &[u8]) -> Result<T, ProviderError> {
    if status.is_success() {
        return serde_json::from_slice(body)
            .map_err(|_| ProviderError::Unavailable("unreadable Satispay response".into()));
    }
    if !status.is_client_error() {
        return Err(ProviderError::Unavailable(format!(
            "Satispay answered HTTP {}",
            status.as_u16()
        )));
    }
    let error: SatispayError = serde_json::from_slice(body).unwrap_or_default();
    let code = error.code_text();
    if status == StatusCode::NOT_FOUND {
        return Err(ProviderError::NotFound);
    }
    // 70 is the anti-hammering guard: the request was refused for now, not for good.
    if status == StatusCode::TOO_MANY_REQUESTS || code.as_deref() == Some("70") {
        return Err(ProviderError::Unavailable(
            "Satispay is rate limiting (anti-hammering)".into(),
        ));
    }
    let mut message = format!(
        "Satispay refused the request (HTTP {}): {}",
        status.as_u16(),
        error.message.as_deref().unwrap_or("no message")
    );
    if let Some(wlt) = &error.wlt {
        message.push_str(&format!(" [wlt {wlt}]"));
    }
    Err(ProviderError::Rejected { code, message })
}

/// PGM's documented mapping (ACCEPTED→ACCEPTED, CANCELED→FAILED, PENDING→PENDING), plus: a
/// pending payment past its expiration can no longer be paid, and AUTHORIZED (fund locks) is an
/// authorisation. Anything unknown stays pending.
fn outcome(payment: &SatispayPayment) -> (PaymentState, &'static str) {
    match payment.status.as_str() {
        "ACCEPTED" => (PaymentState::Captured, "Payment accepted"),
        "CANCELED" => (PaymentState::Failed, "Payment canceled"),
        "AUTHORIZED" => (PaymentState::Authorized, "Payment authorised"),
        "PENDING" if payment.expired => (PaymentState::Failed, "Payment expired"),
        "PENDING" => (
            PaymentState::Pending,
            "Waiting for the buyer to pay with Satispay",
        ),
        _ => (
            PaymentState::Pending,
            "Unknown Satispay status; still pending",
        ),
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

    /// Yes: refunds carry the refund id as Idempotency-Key.
    fn refunds_are_idempotent(&self) -> bool {
        true
    }

    fn supports(&self, op: Operation) -> bool {
        matches!(
            op,
            Operation::Pay
                | Operation::Refund
                | Operation::Callback
                | Operation::Check
                | Operation::Status
        )
    }

    async fn pay(&self, cmd: &PayCommand) -> Result<PayOutcome, ProviderError> {
        require_eur(cmd.amount)?;
        if cmd.shop_transaction_id.len() > MAX_EXTERNAL_CODE {
            return Err(ProviderError::InvalidRequest {
                field: "shopTransactionID".into(),
                message: format!(
                    "Satispay keeps at most {MAX_EXTERNAL_CODE} characters (external_code)"
                ),
            });
        }
        let callback_url = format!("{}?payment_id={{uuid}}", self.callback_url);
        let back = cmd
            .success_redirect
            .as_deref()
            .or(self.config.web_redirect_url.as_deref());
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
                .then_some(self.config.mobile_redirect_url.as_deref())
                .flatten()
                .map(|mobile| self.pay_page(&payment, Some(mobile))),
            recurrence_token: None,
        })
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
            succeeded,
            provider_refund_id: Some(refund.id),
            description: if succeeded {
                "Refund accepted".into()
            } else {
                format!("Refund not accepted (status {})", refund.status)
            },
        })
    }

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

    /// `GET {callback}?payment_id=<id>`: no body, no status, no signature. Only says "look
    /// again"; the PGM reads the payment with [`Provider::status`] before believing anything.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn read_payment(status: u16, body: &str) -> Result<SatispayPayment, ProviderError> {
        read(StatusCode::from_u16(status).unwrap(), body.as_bytes())
    }

    #[test]
    fn answers_are_classified_by_status_and_code() {
        let ok = read_payment(200, r#"{"id":"a-1","status":"PENDING","expired":false}"#).unwrap();
        assert_eq!(ok.id, "a-1");
        assert!(matches!(
            read_payment(200, "<html>"),
            Err(ProviderError::Unavailable(_))
        ));
        assert!(matches!(
            read_payment(502, ""),
            Err(ProviderError::Unavailable(_))
        ));
        assert_eq!(
            read_payment(404, r#"{"code":41,"wlt":"x"}"#).unwrap_err(),
            ProviderError::NotFound
        );
        assert!(matches!(
            read_payment(403, r#"{"code":70,"message":"Anti-hammering","wlt":"x"}"#),
            Err(ProviderError::Unavailable(_))
        ));
        match read_payment(
            400,
            r#"{"code":"36","message":"Malformed","wlt":"FnT15Fhr"}"#,
        ) {
            Err(ProviderError::Rejected { code, message }) => {
                assert_eq!(code.as_deref(), Some("36"));
                assert!(message.contains("Malformed") && message.contains("FnT15Fhr"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            read_payment(401, "not json"),
            Err(ProviderError::Rejected { code: None, .. })
        ));
    }
}
