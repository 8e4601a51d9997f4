//! Axerve Ecommerce Solutions (formerly Banca Sella GestPay), REST API v1. `pay` creates the
//! payment and sends the buyer to Axerve's hosted page (`userRedirect.href`); the outcome is
//! read with `payment/detail`. Payments the shop only authorises (`AUT`) are captured with
//! `payment/capture`. Axerve's server notification is not signed: it is only a trigger.
//! Route aliases: `gestpay` and `axerve`.

mod map;
pub mod wire;

use crate::kit::{Auth, ProviderClient, ProviderSettings};
use crate::{
    CallbackAck, CallbackOutcome, CallbackRequest, CallbackSubject, Capture, CaptureOutcome,
    PayOutcome, Provider, ProviderDeps, ProviderError, RefundOutcome, RefundStatus, Refunds,
    StatusLookup, StatusOutcome, Webhooks,
};
use async_trait::async_trait;
use map::{captured_minor, is_approved, outcome, payment_type, AxerveDialect};
use pgm_core::wire::{validate_id, PayCommand};
use pgm_core::{ConfigError, Env, Money, Payment, PaymentState, Secret};
use serde::de::DeserializeOwned;
use serde::Serialize;
use wire::{
    AmountOperation, CreatePayload, CreatePayment, ResponseUrls, TransactionPayload, TransactionRef,
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

#[derive(Debug, Clone)]
pub struct GestpayConfig {
    /// `GESTPAY_BASE_URL` (else the live or sandbox API by `GESTPAY_IS_SANDBOX`) and
    /// `GESTPAY_TIMEOUT_MS`.
    pub api: ProviderSettings,
    /// `GESTPAY_API_KEY`, sent as `Authorization: apikey <key>`.
    pub api_key: Secret,
    /// `GESTPAY_SHOP_LOGIN`, in every request body.
    pub shop_login: String,
}

impl GestpayConfig {
    pub fn from_env(env: &Env) -> Result<GestpayConfig, ConfigError> {
        let sandbox = env.bool_or("GESTPAY_IS_SANDBOX", false)?;
        let default_api = if sandbox { SANDBOX_API } else { LIVE_API };
        Ok(GestpayConfig {
            api: ProviderSettings::from_env(env, "GESTPAY", default_api)?,
            api_key: env.secret("GESTPAY_API_KEY")?,
            shop_login: env.require("GESTPAY_SHOP_LOGIN")?.to_owned(),
        })
    }
}

pub struct Gestpay {
    api: ProviderClient<AxerveDialect>,
    shop_login: String,
    /// `{PGM_PUBLIC_URL}/gestpay/callback`.
    callback_url: String,
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
            api: ProviderClient::new(http, config.api, Auth::Scheme("apikey", config.api_key)),
            shop_login: config.shop_login,
            callback_url,
        }
    }

    /// POSTs JSON to `{base_url}/{path}` with the API key and reads the envelope.
    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ProviderError> {
        self.api.post(format!("/{path}")).json(body).send().await
    }

    /// Axerve's id when we have it, else ours (every operation accepts either).
    fn transaction<'a>(&'a self, payment: &'a Payment) -> TransactionRef<'a> {
        match payment.provider_payment_id.as_deref() {
            Some(id) => TransactionRef {
                shop_login: &self.shop_login,
                payment_id: Some(id),
                shop_transaction_id: None,
            },
            None => TransactionRef {
                shop_login: &self.shop_login,
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

    async fn pay(&self, cmd: &PayCommand) -> Result<PayOutcome, ProviderError> {
        let notification = cmd
            .server_redirect
            .clone()
            .unwrap_or_else(|| self.notification_url(&cmd.shop_transaction_id));
        let currency = cmd.amount.currency();
        let body = CreatePayment {
            shop_login: &self.shop_login,
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

    crate::capabilities!(Capture, Refunds, StatusLookup, Webhooks);
}

#[async_trait]
impl Capture for Gestpay {
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
}

#[async_trait]
impl Refunds for Gestpay {
    /// No: Axerve has no idempotency key for refunds.
    fn refunds_are_idempotent(&self) -> bool {
        false
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
            state: RefundStatus::settled(succeeded),
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
}

#[async_trait]
impl StatusLookup for Gestpay {
    async fn status(&self, payment: &Payment) -> Result<StatusOutcome, ProviderError> {
        let detail: TransactionPayload = self
            .post("payment/detail", &self.transaction(payment))
            .await?;
        let (state, description) = outcome(&detail);
        Ok(StatusOutcome {
            state,
            description,
            provider_payment_id: detail.payment_id.clone().filter(|id| !id.is_empty()),
            // A partial capture shows in the MOV events' amounts.
            captured_minor: (state == PaymentState::Captured)
                .then(|| captured_minor(&detail, payment.amount.currency()))
                .flatten(),
        })
    }
}

#[async_trait]
impl Webhooks for Gestpay {
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
            if shop != self.shop_login {
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
