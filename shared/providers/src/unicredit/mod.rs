//! UniCredit PagOnline Imprese, the IGFS CG gateway (SOAP). `pay` calls `Init` and sends the
//! buyer to the gateway's page (`redirectURL`); the gateway sends the buyer back to our
//! callback (`notifyURL` on success, `errorURL` otherwise), which is only a trigger: the PGM
//! then asks `Verify` and believes only its signed answer. With pre-authorisation the payment
//! is authorised (trType `AUTH`); `/confirm` captures it (`Confirm`), `session/void` releases it
//! (`VoidAuth`) and `/refund` credits a captured payment (`Credit`). The transaction
//! operations name the payment by its `tranID`, which `Verify` tells, so each asks `Verify`
//! first.
//!
//! Configuration keeps the v2 names (api.md): `UNICREDIT_USER_ID` is IGFS's terminal id
//! (`tid`), `UNICREDIT_SECRET` its signature key (`kSig`), `UNICREDIT_PAYMENT_URL` (or
//! `UNICREDIT_BASE_URL`) the services base. The legacy PagOnline's `UNICREDIT_NUMERO_COMMERCIANTE`,
//! `UNICREDIT_STABILIMENTO` and `UNICREDIT_PASSWORD` have no IGFS counterpart and are not read.

mod map;
pub mod signature;
pub mod wire;

use crate::kit::{invalid, same_currency, Auth, ProviderClient, ProviderSettings};
use crate::{
    CallbackAck, CallbackOutcome, CallbackRequest, CallbackSubject, Capture, CaptureOutcome,
    PayOutcome, Provider, ProviderDeps, ProviderError, RefundOutcome, RefundStatus, Refunds,
    SessionTokens, StatusLookup, StatusOutcome, Void, Webhooks,
};
use async_trait::async_trait;
use map::{expect_ok, read, transaction_outcome, verify_state, IgfsDialect};
use pgm_core::wire::{validate_id, PayCommand};
use pgm_core::{ConfigError, Env, Money, Payment, PaymentState, Secret};
use serde_json::Value;
use wire::{Call, Fields, Op, CONTENT_TYPE};

pub const NAME: &str = "unicredit";
const METHODS: &[&str] = &["credit-cards"];

/// Live services; the test ones are `https://testeps.netswgroup.it/UNI_CG_SERVICES/services`.
const LIVE_API: &str = "https://pagamenti.unicredit.it/UNI_CG_SERVICES/services";
/// Which trType a payment was made with travels in the last merchant field, which Verify
/// echoes, so that `/check` knows an approved payment is only authorised.
const TR_TYPE_FIELD: &str = "addInfo5";
const DEFAULT_LANGUAGE: &str = "IT";

#[derive(Debug, Clone)]
pub struct UnicreditConfig {
    /// `UNICREDIT_BASE_URL`, else `UNICREDIT_PAYMENT_URL`, else the live services.
    pub api: ProviderSettings,
    /// `UNICREDIT_USER_ID`: IGFS's terminal id (`tid`, `UNI_ECOM` on the test gateway).
    pub tid: String,
    /// `UNICREDIT_SECRET`: the signature key (`kSig`).
    pub ksig: Secret,
    /// `UNICREDIT_USE_PRE_AUTHORIZATION`: trType `AUTH` (then `/confirm`) instead of `PURCHASE`.
    pub pre_authorization: bool,
    /// `UNICREDIT_AFTER_BUY_OK_REDIRECT_URL` / `..._KO_...`: where the buyer goes from our
    /// callback page.
    pub ok_redirect: Option<String>,
    pub ko_redirect: Option<String>,
}

impl UnicreditConfig {
    pub fn from_env(env: &Env) -> Result<UnicreditConfig, ConfigError> {
        const PAYMENT_URL: &str = "UNICREDIT_PAYMENT_URL";
        let default_api = env.url_or(PAYMENT_URL, LIVE_API)?;
        if default_api.ends_with(".do") {
            return Err(ConfigError::new(
                PAYMENT_URL,
                "is a legacy PagOnline page; IGFS CG needs the services base, \
                 e.g. https://pagamenti.unicredit.it/UNI_CG_SERVICES/services",
            ));
        }
        Ok(UnicreditConfig {
            api: ProviderSettings::from_env(env, "UNICREDIT", &default_api)?,
            tid: env.require("UNICREDIT_USER_ID")?.to_owned(),
            ksig: env.secret("UNICREDIT_SECRET")?,
            pre_authorization: env.bool_or("UNICREDIT_USE_PRE_AUTHORIZATION", false)?,
            ok_redirect: env.url("UNICREDIT_AFTER_BUY_OK_REDIRECT_URL")?,
            ko_redirect: env.url("UNICREDIT_AFTER_BUY_KO_REDIRECT_URL")?,
        })
    }
}

pub struct Unicredit {
    api: ProviderClient<IgfsDialect>,
    config: UnicreditConfig,
    /// `{PGM_PUBLIC_URL}/unicredit/callback`.
    callback_url: String,
}

impl Unicredit {
    pub fn from_env(env: &Env, deps: &ProviderDeps) -> Result<Unicredit, ConfigError> {
        Ok(Unicredit::new(
            UnicreditConfig::from_env(env)?,
            deps.http.clone(),
            deps.callback_url(NAME),
        ))
    }

    pub fn new(config: UnicreditConfig, http: reqwest::Client, callback_url: String) -> Unicredit {
        Unicredit {
            // IGFS authenticates in the body: the signature.
            api: ProviderClient::new(http, config.api.clone(), Auth::None),
            config,
            callback_url,
        }
    }

    /// Sends one signed call and reads its signed answer.
    async fn call(&self, call: Call) -> Result<Fields, ProviderError> {
        let key = self.config.ksig.expose().as_bytes();
        let envelope = call.envelope(&self.config.tid, key);
        let (status, body) = self
            .api
            .post(call.op.port())
            .body(CONTENT_TYPE, envelope)
            .exchange()
            .await?;
        read(call.op, status, &body, key)
    }

    /// Verify of a payment we know the gateway's id of.
    async fn verify(&self, payment: &Payment) -> Result<Fields, ProviderError> {
        let payment_id = payment
            .provider_payment_id
            .as_deref()
            .ok_or(ProviderError::NotFound)?;
        self.call(
            Call::new(Op::Verify, &payment.shop_transaction_id).field("paymentID", payment_id),
        )
        .await
    }

    /// The approved transaction's `tranID`, which Confirm, VoidAuth and Credit refer to.
    /// A payment the buyer has not finished has none: a definite no (a void of it is a KO).
    async fn tran_id(&self, payment: &Payment) -> Result<String, ProviderError> {
        let fields = self.verify(payment).await?;
        if fields.get("rc") == map::PENDING && map::call_error(&fields).is_none() {
            return Err(ProviderError::Rejected {
                code: Some(map::PENDING.into()),
                message: "UniCredit has no approved transaction for this payment yet".into(),
            });
        }
        let fields = expect_ok(fields)?;
        fields.present("tranID").map(str::to_owned).ok_or_else(|| {
            ProviderError::Unavailable("UniCredit's Verify carries no tranID".into())
        })
    }

    /// Our callback for this payment: the buyer's way back (`error` on the error path).
    fn return_url(&self, shop_transaction_id: &str, error: bool) -> String {
        let mut query = vec![("shopTransactionID", shop_transaction_id)];
        if error {
            query.push(("outcome", "error"));
        }
        let query = serde_urlencoded::to_string(query).unwrap_or_default();
        format!("{}?{query}", self.callback_url)
    }

    /// `providerData.captureMethod` ("manual" = authorise only) overrides the configuration.
    fn pre_authorised(&self, cmd: &PayCommand) -> Result<bool, ProviderError> {
        match cmd.provider_data.get("captureMethod") {
            None | Some(Value::Null) => Ok(self.config.pre_authorization),
            Some(Value::String(m)) if m == "manual" => Ok(true),
            Some(Value::String(m)) if m == "automatic" => Ok(false),
            Some(_) => Err(invalid(
                "providerData.captureMethod",
                "must be \"manual\" (authorise now, capture with /confirm) or \"automatic\"",
            )),
        }
    }

    /// The page language, `providerData.langID` (two letters), else Italian.
    fn language(cmd: &PayCommand) -> Result<String, ProviderError> {
        match cmd.provider_data.get("langID") {
            None | Some(Value::Null) => Ok(DEFAULT_LANGUAGE.into()),
            Some(Value::String(l))
                if l.len() == 2 && l.bytes().all(|b| b.is_ascii_alphabetic()) =>
            {
                Ok(l.to_ascii_uppercase())
            }
            Some(_) => Err(invalid(
                "providerData.langID",
                "must be a two-letter language code, e.g. IT or EN",
            )),
        }
    }

    /// What the buyer sees on our callback: back to the shop's page when one is configured.
    fn buyer_page(&self, error: bool) -> CallbackAck {
        let target = if error {
            &self.config.ko_redirect
        } else {
            &self.config.ok_redirect
        };
        let body = match target {
            Some(url) => {
                let url = quick_xml::escape::escape(url.as_str());
                format!(
                    "<!doctype html><meta http-equiv=\"refresh\" content=\"0;url={url}\">\
                     <a href=\"{url}\">Back to the shop</a>"
                )
            }
            None => "<!doctype html><p>Payment received; you may close this page.</p>".into(),
        };
        CallbackAck {
            status: 200,
            content_type: "text/html; charset=utf-8",
            body,
        }
    }
}

#[async_trait]
impl Provider for Unicredit {
    fn name(&self) -> &'static str {
        NAME
    }

    fn methods(&self) -> &'static [&'static str] {
        METHODS
    }

    async fn pay(&self, cmd: &PayCommand) -> Result<PayOutcome, ProviderError> {
        let tr_type = if self.pre_authorised(cmd)? {
            "AUTH"
        } else {
            "PURCHASE"
        };
        let language = Self::language(cmd)?;
        let id = &cmd.shop_transaction_id;
        let notify = self.return_url(id, false);
        let call = Call::new(Op::Init, id)
            .field("shopUserRef", cmd.buyer_email.clone().unwrap_or_default())
            .field("shopUserName", cmd.buyer_name.clone().unwrap_or_default())
            .field("trType", tr_type)
            .field("amount", cmd.amount.minor().to_string())
            .field("currencyCode", cmd.amount.currency().code())
            .field("langID", language)
            .field("notifyURL", notify.clone())
            .field("errorURL", self.return_url(id, true))
            // The server-to-server notification's parameters are not documented: it is one
            // more trigger for Verify, on the same route.
            .field("callbackURL", notify)
            .field(TR_TYPE_FIELD, tr_type);
        let fields = expect_ok(self.call(call).await?)?;
        let payment_id = fields.present("paymentID").ok_or_else(|| {
            ProviderError::Unavailable("UniCredit's Init carries no paymentID".into())
        })?;
        PayOutcome::redirect(
            "UniCredit",
            payment_id.to_owned(),
            fields.present("redirectURL").map(str::to_owned),
            "Redirect the buyer to the UniCredit payment page",
        )
    }

    // `session/void` (VoidAuth) is the only route that releases an authorisation.
    crate::capabilities!(
        Capture,
        Void,
        Refunds,
        StatusLookup,
        Webhooks,
        SessionTokens
    );
}

impl SessionTokens for Unicredit {}

#[async_trait]
impl StatusLookup for Unicredit {
    /// Verify, by the gateway's paymentID. Without one (a lost Init answer) the gateway
    /// cannot be asked: Verify takes no order id.
    async fn status(&self, payment: &Payment) -> Result<StatusOutcome, ProviderError> {
        let fields = self.verify(payment).await?;
        let pre_authorised = match fields.get(TR_TYPE_FIELD) {
            "AUTH" => true,
            "PURCHASE" => false,
            _ => self.config.pre_authorization,
        };
        let (mut state, description) = verify_state(&fields, pre_authorised)?;
        // Verify reports the original authorisation; a captured payment stays captured.
        if state == PaymentState::Authorized && payment.state == PaymentState::Captured {
            state = PaymentState::Captured;
        }
        Ok(StatusOutcome {
            state,
            description,
            provider_payment_id: None,
            captured_minor: None,
        })
    }
}

#[async_trait]
impl Capture for Unicredit {
    async fn confirm(
        &self,
        payment: &Payment,
        amount: Money,
    ) -> Result<CaptureOutcome, ProviderError> {
        same_currency(payment, amount)?;
        let tran_id = self.tran_id(payment).await?;
        let call = Call::new(Op::Confirm, &payment.shop_transaction_id)
            .field("amount", amount.minor().to_string())
            .field("refTranID", tran_id);
        let (succeeded, why) = transaction_outcome(&self.call(call).await?)?;
        Ok(CaptureOutcome {
            succeeded,
            description: if succeeded {
                "Payment captured".into()
            } else {
                why
            },
        })
    }
}

#[async_trait]
impl Void for Unicredit {
    async fn void(&self, payment: &Payment) -> Result<CaptureOutcome, ProviderError> {
        let tran_id = self.tran_id(payment).await?;
        let call = Call::new(Op::VoidAuth, &payment.shop_transaction_id)
            .field("amount", payment.amount.minor().to_string())
            .field("refTranID", tran_id);
        let (succeeded, why) = transaction_outcome(&self.call(call).await?)?;
        Ok(CaptureOutcome {
            succeeded,
            description: if succeeded {
                "Authorisation released".into()
            } else {
                why
            },
        })
    }
}

#[async_trait]
impl Refunds for Unicredit {
    /// No: Credit has no idempotency key, so a Credit whose answer was lost is never re-sent.
    fn refunds_are_idempotent(&self) -> bool {
        false
    }

    async fn refund(
        &self,
        payment: &Payment,
        amount: Money,
        _refund_id: &str,
    ) -> Result<RefundOutcome, ProviderError> {
        same_currency(payment, amount)?;
        let tran_id = self.tran_id(payment).await?;
        let call = Call::new(Op::Credit, &payment.shop_transaction_id)
            .field("amount", amount.minor().to_string())
            .field("currencyCode", amount.currency().code())
            .field("refTranID", tran_id);
        let fields = self.call(call).await?;
        let (succeeded, why) = transaction_outcome(&fields)?;
        Ok(RefundOutcome {
            state: RefundStatus::settled(succeeded),
            provider_refund_id: fields.present("tranID").map(str::to_owned),
            description: if succeeded {
                "Refund accepted".into()
            } else {
                why
            },
        })
    }
}

#[async_trait]
impl Webhooks for Unicredit {
    /// The buyer's return (or the gateway's notification) on the URLs we gave Init: a trigger
    /// naming our order, never believed without Verify.
    async fn callback(&self, req: &CallbackRequest) -> Result<CallbackOutcome, ProviderError> {
        let id = req
            .query_param("shopTransactionID")
            .ok_or_else(|| ProviderError::InvalidCallback("no shopTransactionID".into()))?;
        validate_id("shopTransactionID", &id)
            .map_err(|e| ProviderError::InvalidCallback(e.to_string()))?;
        let error = req.query_param("outcome").as_deref() == Some("error");
        Ok(CallbackOutcome::Payment {
            subject: CallbackSubject::ShopTransactionId(id),
            verified: None,
            ack: self.buyer_page(error),
        })
    }
}
