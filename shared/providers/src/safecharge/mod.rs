//! SafeCharge (Nuvei), REST 1.0 (`POST {base}/ppp/api/v1/<method>.do`, JSON), behind the
//! `session/*` routes only, as in PGM v2.
//!
//! | PGM | Nuvei |
//! |---|---|
//! | session/open | `openOrder.do` → `sessionToken` (our `paymentID`), `orderId` |
//! | (the payment) | the buyer's browser pays in that session with Nuvei's Web SDK, which runs the 3-D Secure challenge (`payment.do`, REDIRECT → ACS → `payment.do` again); the PGM learns the outcome from the DMN or `session/check` |
//! | session/check, /check, /status | `getPaymentStatus.do` (`sessionToken`) |
//! | session/confirm, /confirm | `settleTransaction.do` of the session's `Auth` |
//! | session/void | `voidTransaction.do` of the session's transaction |
//! | session/refund, /refund | `refundTransaction.do` of the session's `Sale` |
//! | callback | DMNs (GET query or POST form) verified with `advanceResponseChecksum` |
//!
//! Why `session/confirm` captures rather than pays: the v2 confirm body is `{sessionToken,
//! amount}` and carries no card, and Nuvei takes card data only from its Web SDK in the buyer's
//! browser (PCI). So the payment itself, 3DS included, happens between the buyer and Nuvei in
//! the session the PGM opened; with `SAFECHARGE_TRANSACTION_TYPE=Auth` it is a
//! pre-authorisation that `session/confirm` settles (v2's "Pre-Authentication" sessions).
//! `pay` is not served (501): it has no session for the buyer to pay in.
//!
//! Every request is authenticated in its body: `merchantId`, `merchantSiteId`, `timeStamp`
//! (UTC `YYYYMMDDHHmmss`) and the checksum of [`checksum::request`]. `clientRequestId` is new
//! for every call except a refund's, which is our refund id: Nuvei refuses a reused one, so a
//! refund can never be made twice by a resend; that refusal reads as "outcome unknown".
//!
//! Nuvei keeps no link from our reference to a session, and `getPaymentStatus` answers only
//! while the session lives (15 minutes, Nuvei's documented lifetime): past that, check and
//! the operations that need the session's transaction id are refused by Nuvei (errCode 1069),
//! which the PGM reports as a refusal; the DMN has settled the payment by then.

pub mod checksum;
mod map;
mod wire;

use crate::kit::classify::endpoint_missing;
use crate::kit::{invalid, same_currency, Auth, ProviderClient, ProviderSettings};
use crate::{
    CallbackAck, CallbackOutcome, CallbackRequest, CallbackSubject, Capture, CaptureOutcome,
    PayOutcome, Provider, ProviderDeps, ProviderError, RefundOutcome, RefundStatus, Refunds,
    SessionOpen, SessionOpened, SessionTokens, StatusLookup, StatusOutcome, Void, Webhooks,
};
use async_trait::async_trait;
use checksum::{DmnFields, HashAlgorithm};
use map::SafechargeDialect;
use pgm_core::signing::constant_time_eq;
use pgm_core::wire::{PayCommand, SessionOpenCommand};
use pgm_core::{ConfigError, Env, Money, Payment, PaymentState, Secret};
use serde::de::DeserializeOwned;
use serde::Serialize;
use wire::{GetPaymentStatus, OpenOrder, OrderOpened, RelatedTransaction, Transaction, UrlDetails};

pub const NAME: &str = "safecharge";
const METHODS: &[&str] = &["safecharge"];
/// Nuvei's production host; the sandbox is `https://ppp-test.nuvei.com` (or the older
/// `https://ppp-test.safecharge.com`).
pub const DEFAULT_BASE_URL: &str = "https://secure.safecharge.com";
const API: &str = "/ppp/api/v1";
/// Nuvei's documented maximum for `clientUniqueId` (our shopTransactionID).
const CLIENT_UNIQUE_ID_MAX: usize = 45;

/// Settings from the environment. `Debug` shows no secret.
#[derive(Debug, Clone)]
pub struct SafechargeConfig {
    /// `SAFECHARGE_BASE_URL`, else v2's `SAFECHARGE_URL`, else production; and
    /// `SAFECHARGE_TIMEOUT_MS`.
    pub api: ProviderSettings,
    pub merchant_id: String,
    pub merchant_site_id: String,
    /// `SAFECHARGE_MERCHANT_SECRET_KEY`: keys both checksums.
    pub secret_key: Secret,
    /// `SAFECHARGE_HASH_ALGORITHM`: `sha256` (default) or `md5`, as Nuvei set up the site.
    pub algorithm: HashAlgorithm,
    /// `SAFECHARGE_TRANSACTION_TYPE`: `Sale` (default) or `Auth` (session/confirm settles).
    pub transaction_type: &'static str,
    /// Where Nuvei sends DMNs: `{PGM_PUBLIC_URL}/safecharge/callback`.
    pub notification_url: String,
}

impl SafechargeConfig {
    pub fn from_env(env: &Env, deps: &ProviderDeps) -> Result<SafechargeConfig, ConfigError> {
        let default_base = env.url_or("SAFECHARGE_URL", DEFAULT_BASE_URL)?;
        let algorithm = match env.get("SAFECHARGE_HASH_ALGORITHM") {
            None => HashAlgorithm::default(),
            Some(text) => HashAlgorithm::parse(text).ok_or_else(|| {
                ConfigError::new("SAFECHARGE_HASH_ALGORITHM", "must be sha256 or md5")
            })?,
        };
        let transaction_type = match env.get("SAFECHARGE_TRANSACTION_TYPE").map(str::trim) {
            None | Some("Sale") => "Sale",
            Some("Auth") => "Auth",
            Some(_) => {
                return Err(ConfigError::new(
                    "SAFECHARGE_TRANSACTION_TYPE",
                    "must be Sale or Auth",
                ))
            }
        };
        Ok(SafechargeConfig {
            api: ProviderSettings::from_env(env, "SAFECHARGE", &default_base)?,
            merchant_id: env.require("SAFECHARGE_MERCHANT_ID")?.to_owned(),
            merchant_site_id: env.require("SAFECHARGE_MERCHANT_SITE_ID")?.to_owned(),
            secret_key: env.secret("SAFECHARGE_MERCHANT_SECRET_KEY")?,
            algorithm,
            transaction_type,
            notification_url: deps.callback_url(NAME),
        })
    }
}

#[derive(Debug)]
pub struct Safecharge {
    api: ProviderClient<SafechargeDialect>,
    config: SafechargeConfig,
}

/// `timeStamp`: UTC `YYYYMMDDHHmmss` (24-hour; two SDKs get this wrong, see providers.md).
fn time_stamp() -> String {
    let format = time::macros::format_description!("[year][month][day][hour][minute][second]");
    time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_default()
}

/// A fresh `clientRequestId`: Nuvei refuses one it has seen.
fn fresh_request_id() -> String {
    format!("pgm{}", hex::encode(rand::random::<[u8; 10]>()))
}

impl Safecharge {
    pub fn from_env(env: &Env, deps: &ProviderDeps) -> Result<Safecharge, ConfigError> {
        Ok(Safecharge::new(
            SafechargeConfig::from_env(env, deps)?,
            deps.http.clone(),
        ))
    }

    pub fn new(config: SafechargeConfig, http: reqwest::Client) -> Safecharge {
        Safecharge {
            api: ProviderClient::new(http, config.api.clone(), Auth::None),
            config,
        }
    }

    fn checksum(&self, parts: &[Option<&str>]) -> String {
        checksum::request(
            self.config.algorithm,
            parts,
            self.config.secret_key.expose(),
        )
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        body: &impl Serialize,
    ) -> Result<T, ProviderError> {
        self.api
            .post(format!("{API}/{method}.do"))
            .json(body)
            .send()
            .await
    }

    fn session_token(payment: &Payment) -> Result<&str, ProviderError> {
        // An open whose answer was lost left no token, and Nuvei cannot be asked by our
        // reference: no session exists for anyone to pay in.
        payment
            .provider_payment_id
            .as_deref()
            .ok_or(ProviderError::NotFound)
    }

    /// The session's payment transaction, as `getPaymentStatus` reports it.
    async fn payment_status(&self, payment: &Payment) -> Result<Transaction, ProviderError> {
        let (id, ts) = (fresh_request_id(), time_stamp());
        let c = &self.config;
        let body = GetPaymentStatus {
            session_token: Self::session_token(payment)?.to_owned(),
            checksum: self.checksum(&[
                Some(&c.merchant_id),
                Some(&c.merchant_site_id),
                Some(&id),
                Some(&ts),
            ]),
            merchant_id: c.merchant_id.clone(),
            merchant_site_id: c.merchant_site_id.clone(),
            client_request_id: id,
            time_stamp: ts,
        };
        self.call("getPaymentStatus", &body).await
    }

    /// The approved transaction of the session an operation refers to, of one of `kinds`.
    async fn related(&self, payment: &Payment, kinds: &[&str]) -> Result<String, ProviderError> {
        let tx = self.payment_status(payment).await?;
        let approved = tx.transaction_status.as_deref() == Some("APPROVED");
        let kind = tx.transaction_type.clone().unwrap_or_default();
        match tx.transaction_id {
            Some(id) if approved && kinds.iter().any(|k| k.eq_ignore_ascii_case(&kind)) => Ok(id),
            _ => Err(ProviderError::Rejected {
                code: Some("no_transaction".into()),
                message: format!(
                    "Nuvei has no approved {} in this session ({})",
                    kinds.join(" or "),
                    map::description(&Transaction {
                        transaction_type: None,
                        ..tx
                    })
                ),
            }),
        }
    }

    /// settleTransaction, voidTransaction and refundTransaction: one body, one checksum order
    /// (merchantId, merchantSiteId, clientRequestId, clientUniqueId, amount, currency,
    /// relatedTransactionId, authCode, [descriptors,] comment, urlDetails, timeStamp).
    async fn related_call(
        &self,
        method: &str,
        payment: &Payment,
        amount: Money,
        related: String,
        client_request_id: String,
    ) -> Result<Transaction, ProviderError> {
        let c = &self.config;
        let ts = time_stamp();
        let amount_text = amount.to_decimal_string();
        let currency = amount.currency().code().to_owned();
        let body = RelatedTransaction {
            checksum: self.checksum(&[
                Some(&c.merchant_id),
                Some(&c.merchant_site_id),
                Some(&client_request_id),
                Some(&payment.shop_transaction_id),
                Some(&amount_text),
                Some(&currency),
                Some(&related),
                Some(&c.notification_url),
                Some(&ts),
            ]),
            merchant_id: c.merchant_id.clone(),
            merchant_site_id: c.merchant_site_id.clone(),
            client_request_id,
            client_unique_id: payment.shop_transaction_id.clone(),
            amount: amount_text,
            currency,
            related_transaction_id: related,
            url_details: UrlDetails {
                notification_url: c.notification_url.clone(),
            },
            time_stamp: ts,
        };
        self.call(method, &body).await
    }

    fn verify(&self, params: &[(String, String)]) -> Result<(), ProviderError> {
        let get = |name: &str| param(params, name).unwrap_or("");
        let received = param(params, "advanceResponseChecksum")
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                ProviderError::InvalidSignature("missing advanceResponseChecksum".into())
            })?;
        let status = param(params, "Status")
            .or(param(params, "status"))
            .unwrap_or("");
        let expected = checksum::dmn(
            self.config.algorithm,
            self.config.secret_key.expose(),
            &DmnFields {
                total_amount: get("totalAmount"),
                currency: get("currency"),
                response_time_stamp: get("responseTimeStamp"),
                ppp_transaction_id: get("PPP_TransactionID"),
                status,
                product_id: get("productId"),
            },
        );
        if constant_time_eq(
            received.trim().to_ascii_lowercase().as_bytes(),
            expected.as_bytes(),
        ) {
            Ok(())
        } else {
            Err(ProviderError::InvalidSignature(
                "advanceResponseChecksum does not match".into(),
            ))
        }
    }
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Nuvei's answer to DMNs it should stop retrying: any 200.
fn ack() -> CallbackAck {
    CallbackAck {
        status: 200,
        content_type: "text/plain",
        body: "OK".into(),
    }
}

#[async_trait]
impl Provider for Safecharge {
    fn name(&self) -> &'static str {
        NAME
    }

    fn methods(&self) -> &'static [&'static str] {
        METHODS
    }

    fn serves_pay(&self) -> bool {
        false
    }

    async fn pay(&self, _: &PayCommand) -> Result<PayOutcome, ProviderError> {
        Err(ProviderError::NotSupported)
    }

    crate::capabilities!(
        Capture,
        Void,
        Refunds,
        StatusLookup,
        Webhooks,
        SessionOpen,
        SessionTokens
    );
}

impl SessionTokens for Safecharge {}

#[async_trait]
impl SessionOpen for Safecharge {
    async fn session_open(&self, cmd: &SessionOpenCommand) -> Result<SessionOpened, ProviderError> {
        if cmd.shop_transaction_id.len() > CLIENT_UNIQUE_ID_MAX {
            return Err(invalid(
                "shopTransactionID",
                format!("must be at most {CLIENT_UNIQUE_ID_MAX} characters for safecharge"),
            ));
        }
        let c = &self.config;
        // A fresh id even when a lost answer is retried: an unpaid order costs nothing, and
        // Nuvei would refuse the old id without giving the first session back.
        let (id, ts) = (fresh_request_id(), time_stamp());
        let amount = cmd.amount.to_decimal_string();
        let currency = cmd.amount.currency().code().to_owned();
        let body = OpenOrder {
            checksum: self.checksum(&[
                Some(&c.merchant_id),
                Some(&c.merchant_site_id),
                Some(&id),
                Some(&amount),
                Some(&currency),
                Some(&ts),
            ]),
            merchant_id: c.merchant_id.clone(),
            merchant_site_id: c.merchant_site_id.clone(),
            client_request_id: id,
            client_unique_id: cmd.shop_transaction_id.clone(),
            amount,
            currency,
            transaction_type: c.transaction_type,
            url_details: UrlDetails {
                notification_url: c.notification_url.clone(),
            },
            time_stamp: ts,
        };
        let opened: OrderOpened = self
            .call("openOrder", &body)
            .await
            .map_err(|e| endpoint_missing::<SafechargeDialect>(e, "openOrder"))?;
        if opened.session_token.is_empty() {
            return Err(ProviderError::Unavailable(
                "Nuvei opened an order without a sessionToken".into(),
            ));
        }
        Ok(SessionOpened {
            session_token: opened.session_token,
            state: PaymentState::Pending,
            redirect_url: None,
        })
    }
}

#[async_trait]
impl StatusLookup for Safecharge {
    async fn status(&self, payment: &Payment) -> Result<StatusOutcome, ProviderError> {
        Ok(map::status_outcome(&self.payment_status(payment).await?))
    }
}

#[async_trait]
impl Capture for Safecharge {
    async fn confirm(
        &self,
        payment: &Payment,
        amount: Money,
    ) -> Result<CaptureOutcome, ProviderError> {
        same_currency(payment, amount)?;
        let auth = self.related(payment, &["Auth", "PreAuth"]).await?;
        let tx = self
            .related_call(
                "settleTransaction",
                payment,
                amount,
                auth,
                fresh_request_id(),
            )
            .await?;
        Ok(map::capture_outcome(&tx))
    }
}

#[async_trait]
impl Void for Safecharge {
    async fn void(&self, payment: &Payment) -> Result<CaptureOutcome, ProviderError> {
        let related = self.related(payment, &["Auth", "PreAuth", "Sale"]).await?;
        let tx = self
            .related_call(
                "voidTransaction",
                payment,
                payment.amount,
                related,
                fresh_request_id(),
            )
            .await?;
        Ok(map::capture_outcome(&tx))
    }
}

#[async_trait]
impl Refunds for Safecharge {
    async fn refund(
        &self,
        payment: &Payment,
        amount: Money,
        refund_id: &str,
    ) -> Result<RefundOutcome, ProviderError> {
        same_currency(payment, amount)?;
        // A settled Auth is refunded against its Settle transaction, which the session does
        // not report; only Sale sessions can be refunded from here.
        let sale = self.related(payment, &["Sale"]).await?;
        let tx = self
            .related_call(
                "refundTransaction",
                payment,
                amount,
                sale,
                refund_id.to_owned(),
            )
            .await?;
        let state = match map::state(tx.transaction_status.as_deref(), Some("Credit")) {
            PaymentState::Captured => RefundStatus::Succeeded,
            PaymentState::Failed => RefundStatus::Failed,
            _ => RefundStatus::Pending,
        };
        Ok(RefundOutcome {
            state,
            provider_refund_id: tx.transaction_id.clone(),
            description: map::description(&tx),
        })
    }

    /// Never sent twice: the refund's `clientRequestId` is our refund id, which Nuvei refuses
    /// the second time without saying what the first did.
    fn refunds_are_idempotent(&self) -> bool {
        false
    }
}

#[async_trait]
impl Webhooks for Safecharge {
    async fn callback(&self, req: &CallbackRequest) -> Result<CallbackOutcome, ProviderError> {
        // GET (query) or POST (form), as the merchant's DMN setting says: read both.
        let mut params = req.query_pairs();
        if !req.body.is_empty() {
            let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&req.body)
                .map_err(|_| ProviderError::InvalidCallback("the body is not a form".into()))?;
            params.extend(form);
        }
        self.verify(&params)?;
        let kind = param(&params, "transactionType").unwrap_or("");
        let status = param(&params, "Status")
            .or(param(&params, "status"))
            .unwrap_or("")
            .to_ascii_uppercase();
        // Card tokenisation DMNs carry no payment; PENDING ones are followed by the final one.
        if param(&params, "type") == Some("CARD_TOKENIZATION") || status == "PENDING" {
            return Ok(CallbackOutcome::Ignored { ack: ack() });
        }
        let subject = param(&params, "clientUniqueId")
            .filter(|s| !s.is_empty())
            .map(|s| CallbackSubject::ShopTransactionId(s.to_owned()))
            .ok_or_else(|| ProviderError::InvalidCallback("no clientUniqueId".into()))?;
        let reason = param(&params, "Reason").unwrap_or("");
        let description = match status.as_str() {
            "APPROVED" => "Transaction completed".to_owned(),
            _ if reason.is_empty() => status.clone(),
            _ => format!("{status}: {reason}"),
        };
        if kind.eq_ignore_ascii_case("Credit") || kind.eq_ignore_ascii_case("Refund") {
            let state = if status == "APPROVED" {
                RefundStatus::Succeeded
            } else {
                RefundStatus::Failed
            };
            return Ok(CallbackOutcome::Refund {
                subject,
                // The refund's clientRequestId is our refund id (see the module doc).
                refund_id: param(&params, "clientRequestId").map(str::to_owned),
                outcome: RefundOutcome {
                    state,
                    provider_refund_id: param(&params, "TransactionID").map(str::to_owned),
                    description,
                },
                ack: ack(),
            });
        }
        Ok(CallbackOutcome::Payment {
            subject,
            verified: Some(StatusOutcome {
                state: map::state(Some(&status), Some(kind)),
                description,
                provider_payment_id: None,
                captured_minor: None,
            }),
            ack: ack(),
        })
    }
}
