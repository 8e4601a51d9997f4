//! The sandbox provider: a simulated PSP with test card tokens, a hosted 3DS page and signed
//! callbacks, so that every route of the API can be tried without credentials.
//!
//! | `creditCardToken` | outcome |
//! |---|---|
//! | `tok_ok` | approved (authorised only, with pre-authorisation on) |
//! | `tok_ko` | declined |
//! | `tok_3ds` | `REDIRECT_TO_URL` to the hosted 3DS page; the buyer approves or declines there |
//! | `tok_pending` | pending; the first status query afterwards finds it approved |
//! | `tok_unavailable` | the provider fails as a 5xx would; nothing is charged |
//! | anything else | declined, saying the token is unknown |

mod hosted;

pub use hosted::{callback_signature_header, CALLBACK_SIGNATURE_HEADER};
pub use pgm_core::sandbox_ledger::{
    Charge, ChargeStatus, LedgerError, LedgerRefund, SandboxLedger,
};

use crate::{
    CallbackAck, CallbackOutcome, CallbackRequest, CallbackSubject, Capture, CaptureOutcome,
    PayOutcome, Provider, ProviderDeps, ProviderError, RecurringPay, RefundLookup, RefundOutcome,
    RefundStatus, Refunds, SessionOpen, SessionOpened, SessionTokens, StatusLookup, StatusOutcome,
    Void, Webhooks,
};
use async_trait::async_trait;
use pgm_core::clock::now_ms;
use pgm_core::signing::verify_timestamped;
use pgm_core::wire::{PayCommand, SessionOpenCommand};
use pgm_core::{ConfigError, Env, Money, Payment, PaymentState, Secret};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub const NAME: &str = "sandbox";
const METHODS: &[&str] = &[
    "credit-cards",
    "applepay",
    "googlepay",
    "pay-pal",
    "satispay",
    "scalapay",
    "stripe",
    "safecharge",
    "soisy",
];
/// Callbacks older or newer than this are refused (replay protection).
const CALLBACK_TOLERANCE_SECS: i64 = 300;

pub struct SandboxConfig {
    /// `SANDBOX_WEBHOOK_SECRET`: signs the sandbox's callbacks. Random per process when unset.
    pub webhook_secret: Secret,
    /// `SANDBOX_PRE_AUTHORIZATION`: approved cards are only authorised; `/confirm` captures.
    pub pre_authorization: bool,
}

impl SandboxConfig {
    pub fn from_env(env: &Env) -> Result<SandboxConfig, ConfigError> {
        let webhook_secret = match env.get("SANDBOX_WEBHOOK_SECRET") {
            Some(s) => Secret::new(s),
            None => Secret::new(random_hex(32)),
        };
        Ok(SandboxConfig {
            webhook_secret,
            pre_authorization: env.bool_or("SANDBOX_PRE_AUTHORIZATION", false)?,
        })
    }
}

/// State shared by the adapter (the PGM side) and the hosted pages (the provider side).
pub(crate) struct SandboxCore {
    config: SandboxConfig,
    ledger: Arc<dyn SandboxLedger>,
    http: reqwest::Client,
    public_url: String,
}

pub struct Sandbox {
    core: Arc<SandboxCore>,
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill(&mut buf[..]);
    hex::encode(buf)
}

fn unavailable(e: LedgerError) -> ProviderError {
    ProviderError::Unavailable(e.to_string())
}

/// What a test token asks the simulated bank to do.
enum CardBehaviour {
    Approve,
    Decline(&'static str),
    ThreeDs,
    Pending,
    Unavailable,
}

fn behaviour(token: Option<&Secret>) -> CardBehaviour {
    match token.map(Secret::expose) {
        Some("tok_ok") => CardBehaviour::Approve,
        Some("tok_ko") => CardBehaviour::Decline("Card declined by the issuer"),
        Some("tok_3ds") => CardBehaviour::ThreeDs,
        Some("tok_pending") => CardBehaviour::Pending,
        Some("tok_unavailable") => CardBehaviour::Unavailable,
        // Never echo the token: it may be a real card token sent to the wrong provider.
        Some(_) => CardBehaviour::Decline(
            "Unknown sandbox card token: use tok_ok, tok_ko, tok_3ds, tok_pending or tok_unavailable",
        ),
        None => CardBehaviour::Decline("creditCardToken is required by the sandbox provider"),
    }
}

/// The body the sandbox provider POSTs to `/sandbox/callback`, signed in the
/// `Sandbox-Signature` header (`t=<unix seconds>,v1=<hex HMAC-SHA256(SANDBOX_WEBHOOK_SECRET,
/// "<t>.<raw body>")>`, 300 s tolerance). The GET form carries `chargeId`, `reference`,
/// `status`, `t` and, last, `v1` in the query; the signed message is the query up to `&v1=`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = SandboxCallback)]
pub struct CallbackBody {
    pub charge_id: String,
    pub reference: String,
    pub status: ChargeStatus,
}

/// Where a payment stands, from the sandbox's charge.
fn payment_state(status: ChargeStatus) -> PaymentState {
    match status {
        ChargeStatus::AwaitingBuyer | ChargeStatus::Processing => PaymentState::Pending,
        ChargeStatus::Authorized => PaymentState::Authorized,
        ChargeStatus::Captured => PaymentState::Captured,
        ChargeStatus::Declined => PaymentState::Failed,
        ChargeStatus::Voided => PaymentState::Voided,
    }
}

fn manual_capture(cmd: &PayCommand) -> bool {
    cmd.provider_data
        .get("captureMethod")
        .and_then(|v| v.as_str())
        == Some("manual")
}

/// What an approval makes of a charge: authorised only (pre-authorisation, or the charge's
/// manual capture), else captured.
fn approval(config: &SandboxConfig, capture_manually: bool) -> ChargeStatus {
    if config.pre_authorization || capture_manually {
        ChargeStatus::Authorized
    } else {
        ChargeStatus::Captured
    }
}

impl Sandbox {
    pub fn from_env(env: &Env, deps: &ProviderDeps) -> Result<Sandbox, ConfigError> {
        Ok(Sandbox::new(
            SandboxConfig::from_env(env)?,
            deps.sandbox_ledger.clone().ok_or_else(|| {
                ConfigError::new(
                    "ENABLED_PROVIDERS",
                    "the sandbox needs the PGM's store for its books, and this process has none",
                )
            })?,
            deps.http.clone(),
            deps.public_url.clone(),
        ))
    }

    pub fn new(
        config: SandboxConfig,
        ledger: Arc<dyn SandboxLedger>,
        http: reqwest::Client,
        public_url: String,
    ) -> Sandbox {
        Sandbox {
            core: Arc::new(SandboxCore {
                config,
                ledger,
                http,
                public_url,
            }),
        }
    }

    fn approved_status(&self, cmd: &PayCommand) -> ChargeStatus {
        approval(&self.core.config, manual_capture(cmd))
    }

    async fn charge(
        &self,
        cmd: &PayCommand,
        status: ChargeStatus,
        description: &str,
        recurrent_first: bool,
    ) -> Result<PayOutcome, ProviderError> {
        let id = format!("sbx_{}", random_hex(12));
        let captured_minor = if status == ChargeStatus::Captured {
            cmd.amount.minor()
        } else {
            0
        };
        let approved = matches!(status, ChargeStatus::Captured | ChargeStatus::Authorized);
        let charge = Charge {
            recurrence_token: (recurrent_first && approved).then(|| format!("rtok_{id}")),
            id,
            reference: cmd.shop_transaction_id.clone(),
            idempotency_key: cmd.idempotency_key(),
            amount_minor: cmd.amount.minor(),
            currency: cmd.amount.currency().code().to_owned(),
            status,
            captured_minor,
            refunds: Vec::new(),
            success_redirect: cmd.success_redirect.clone(),
            failure_redirect: cmd.failure_redirect.clone(),
            description: description.to_owned(),
            created_at: now_ms(),
            capture_manually: manual_capture(cmd),
        };
        let stored = self
            .core
            .ledger
            .create_charge(&charge)
            .await
            .map_err(unavailable)?;
        Ok(self.outcome(&stored))
    }

    fn outcome(&self, charge: &Charge) -> PayOutcome {
        let redirect_url = (charge.status == ChargeStatus::AwaitingBuyer)
            .then(|| format!("{}/sandbox/3ds/{}", self.core.public_url, charge.id));
        PayOutcome {
            provider_payment_id: Some(charge.id.clone()),
            state: payment_state(charge.status),
            description: charge.description.clone(),
            redirect_url_mobile: None,
            redirect_url,
            recurrence_token: charge.recurrence_token.clone(),
        }
    }

    async fn find(&self, payment: &Payment) -> Result<Charge, ProviderError> {
        let found = match &payment.provider_payment_id {
            Some(id) => self.core.ledger.charge(id).await.map_err(unavailable)?,
            None => self
                .core
                .ledger
                .charges_for(&payment.shop_transaction_id)
                .await
                .map_err(unavailable)?
                .pop(),
        };
        found.ok_or(ProviderError::NotFound)
    }
}

#[async_trait]
impl Provider for Sandbox {
    fn name(&self) -> &'static str {
        NAME
    }

    fn methods(&self) -> &'static [&'static str] {
        METHODS
    }

    async fn pay(&self, cmd: &PayCommand) -> Result<PayOutcome, ProviderError> {
        self.pay_card(cmd, false).await
    }

    fn hosted_routes(&self) -> Option<axum::Router> {
        Some(hosted::routes(self.core.clone()))
    }

    fn hosted_document(&self) -> Option<utoipa::openapi::OpenApi> {
        Some(<hosted::HostedPages as utoipa::OpenApi>::openapi())
    }

    crate::capabilities!(
        Refunds,
        RecurringPay,
        Capture,
        Void,
        RefundLookup,
        StatusLookup,
        Webhooks,
        SessionOpen,
        SessionTokens
    );
}

impl SessionTokens for Sandbox {}

#[async_trait]
impl Refunds for Sandbox {
    /// Yes: the sandbox ledger keeps one refund per refund id.
    fn refunds_are_idempotent(&self) -> bool {
        true
    }

    async fn refund(
        &self,
        payment: &Payment,
        amount: Money,
        refund_id: &str,
    ) -> Result<RefundOutcome, ProviderError> {
        let charge = self.find(payment).await?;
        if charge.status != ChargeStatus::Captured {
            return Err(ProviderError::Rejected {
                code: Some("charge_not_captured".into()),
                message: format!("the charge is {:?}", charge.status),
            });
        }
        let refund = LedgerRefund {
            id: refund_id.to_owned(),
            amount_minor: amount.minor(),
            created_at: now_ms(),
        };
        self.core
            .ledger
            .add_refund(&charge.id, &refund)
            .await
            .map_err(unavailable)?;
        Ok(RefundOutcome {
            state: RefundStatus::Succeeded,
            provider_refund_id: Some(format!("sbxr_{refund_id}")),
            description: "Refund accepted".into(),
        })
    }
}

#[async_trait]
impl RecurringPay for Sandbox {
    async fn pay_recurrent(&self, cmd: &PayCommand) -> Result<PayOutcome, ProviderError> {
        let details = cmd.recurrence.clone().unwrap_or_default();
        let token = details
            .recurrence_token
            .as_ref()
            .map(|t| t.expose().to_owned())
            .or(details.previous_payment_id.clone());
        let first = details.is_first_installment.unwrap_or(token.is_none());
        if first {
            return self.pay_card(cmd, true).await;
        }
        let Some(token) = token else {
            return Err(ProviderError::InvalidRequest {
                field: "recurrenceDetails.recurrenceToken".into(),
                message: "later instalments need the recurrenceToken (or previousPaymentID)".into(),
            });
        };
        let charge_id = token.strip_prefix("rtok_").unwrap_or(&token);
        let original = self
            .core
            .ledger
            .charge(charge_id)
            .await
            .map_err(unavailable)?;
        match original {
            Some(c) if c.recurrence_token.is_some() => {
                let status = self.approved_status(cmd);
                let mut outcome = self
                    .charge(cmd, status, "Instalment approved", false)
                    .await?;
                outcome.recurrence_token = c.recurrence_token;
                Ok(outcome)
            }
            _ => {
                self.charge(
                    cmd,
                    ChargeStatus::Declined,
                    "Unknown recurrence token",
                    false,
                )
                .await
            }
        }
    }
}

#[async_trait]
impl Capture for Sandbox {
    async fn confirm(
        &self,
        payment: &Payment,
        amount: Money,
    ) -> Result<CaptureOutcome, ProviderError> {
        let charge = self.find(payment).await?;
        let moved = self
            .core
            .ledger
            .transition(
                &charge.id,
                &[ChargeStatus::Authorized],
                ChargeStatus::Captured,
                amount.minor(),
            )
            .await
            .map_err(unavailable)?;
        if moved {
            Ok(CaptureOutcome {
                succeeded: true,
                description: "Payment captured".into(),
            })
        } else {
            Err(ProviderError::Rejected {
                code: Some("charge_not_capturable".into()),
                message: format!("the charge is {:?}", charge.status),
            })
        }
    }
}

#[async_trait]
impl Void for Sandbox {
    async fn void(&self, payment: &Payment) -> Result<CaptureOutcome, ProviderError> {
        let charge = self.find(payment).await?;
        let from = [
            ChargeStatus::Authorized,
            ChargeStatus::AwaitingBuyer,
            ChargeStatus::Processing,
        ];
        let moved = self
            .core
            .ledger
            .transition(&charge.id, &from, ChargeStatus::Voided, 0)
            .await
            .map_err(unavailable)?;
        if moved {
            Ok(CaptureOutcome {
                succeeded: true,
                description: "Authorisation released".into(),
            })
        } else {
            Err(ProviderError::Rejected {
                code: Some("charge_not_voidable".into()),
                message: format!("the charge is {:?}", charge.status),
            })
        }
    }
}

#[async_trait]
impl RefundLookup for Sandbox {
    async fn refund_status(
        &self,
        payment: &Payment,
        refund_id: &str,
    ) -> Result<Option<RefundOutcome>, ProviderError> {
        let charge = match self.find(payment).await {
            Ok(charge) => charge,
            Err(ProviderError::NotFound) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(charge
            .refunds
            .iter()
            .find(|r| r.id == refund_id)
            .map(|r| RefundOutcome {
                state: RefundStatus::Succeeded,
                provider_refund_id: Some(format!("sbxr_{}", r.id)),
                description: "Refund accepted".into(),
            }))
    }
}

#[async_trait]
impl StatusLookup for Sandbox {
    async fn status(&self, payment: &Payment) -> Result<StatusOutcome, ProviderError> {
        let mut charge = self.find(payment).await?;
        if charge.status == ChargeStatus::Processing {
            // The simulated bank settles a pending payment by the time anyone asks.
            let settled = approval(&self.core.config, charge.capture_manually);
            let captured = if settled == ChargeStatus::Captured {
                charge.amount_minor
            } else {
                0
            };
            self.core
                .ledger
                .transition(&charge.id, &[ChargeStatus::Processing], settled, captured)
                .await
                .map_err(unavailable)?;
            charge = self.find(payment).await?;
        }
        Ok(StatusOutcome {
            state: payment_state(charge.status),
            description: match charge.status {
                ChargeStatus::Captured => "Transaction completed".into(),
                ChargeStatus::Authorized => "Transaction authorised".into(),
                _ => charge.description.clone(),
            },
            captured_minor: (charge.status == ChargeStatus::Captured)
                .then_some(charge.captured_minor),
            provider_payment_id: Some(charge.id),
        })
    }
}

#[async_trait]
impl Webhooks for Sandbox {
    async fn callback(&self, req: &CallbackRequest) -> Result<CallbackOutcome, ProviderError> {
        let secret = self.core.config.webhook_secret.expose().as_bytes();
        let now = now_ms() / 1000;
        let body: CallbackBody = if req.method == http::Method::GET {
            // GET: the signed message is the query up to `&v1=` (the last parameter).
            let (signed, signature) = req
                .query
                .rsplit_once("&v1=")
                .ok_or_else(|| ProviderError::InvalidSignature("missing v1".into()))?;
            let t = req
                .query_param("t")
                .ok_or_else(|| ProviderError::InvalidSignature("missing t".into()))?;
            let header = format!("t={t},v1={signature}");
            verify_timestamped(
                secret,
                &header,
                signed.as_bytes(),
                now,
                CALLBACK_TOLERANCE_SECS,
            )
            .map_err(|e| ProviderError::InvalidSignature(e.to_string()))?;
            let field = |name: &str| {
                req.query_param(name)
                    .ok_or_else(|| ProviderError::InvalidCallback(format!("missing {name}")))
            };
            CallbackBody {
                charge_id: field("chargeId")?,
                reference: field("reference")?,
                status: serde_json::from_value(serde_json::Value::String(field("status")?))
                    .map_err(|_| ProviderError::InvalidCallback("unknown status".into()))?,
            }
        } else {
            let header = req.header(CALLBACK_SIGNATURE_HEADER).ok_or_else(|| {
                ProviderError::InvalidSignature("missing signature header".into())
            })?;
            verify_timestamped(secret, header, &req.body, now, CALLBACK_TOLERANCE_SECS)
                .map_err(|e| ProviderError::InvalidSignature(e.to_string()))?;
            serde_json::from_slice(&req.body)
                .map_err(|e| ProviderError::InvalidCallback(e.to_string()))?
        };
        Ok(CallbackOutcome::Payment {
            subject: CallbackSubject::ProviderPaymentId(body.charge_id.clone()),
            verified: Some(StatusOutcome {
                state: payment_state(body.status),
                description: match body.status {
                    ChargeStatus::Captured | ChargeStatus::Authorized => {
                        "Transaction completed".into()
                    }
                    ChargeStatus::Declined => "3DS authentication failed".into(),
                    _ => "Transaction pending".into(),
                },
                provider_payment_id: Some(body.charge_id),
                captured_minor: None,
            }),
            ack: CallbackAck::default(),
        })
    }
}

#[async_trait]
impl SessionOpen for Sandbox {
    async fn session_open(&self, cmd: &SessionOpenCommand) -> Result<SessionOpened, ProviderError> {
        let id = format!("sbx_{}", random_hex(12));
        let charge = Charge {
            id,
            reference: cmd.shop_transaction_id.clone(),
            idempotency_key: format!("session-{}", cmd.shop_transaction_id),
            amount_minor: cmd.amount.minor(),
            currency: cmd.amount.currency().code().to_owned(),
            // The simulated buyer authorises at once; confirm captures, void releases.
            status: ChargeStatus::Authorized,
            captured_minor: 0,
            refunds: Vec::new(),
            recurrence_token: None,
            success_redirect: None,
            failure_redirect: None,
            description: "Session open".into(),
            created_at: now_ms(),
            capture_manually: false,
        };
        let stored = self
            .core
            .ledger
            .create_charge(&charge)
            .await
            .map_err(unavailable)?;
        Ok(SessionOpened {
            session_token: stored.id,
            state: payment_state(stored.status),
            redirect_url: None,
        })
    }
}

impl Sandbox {
    async fn pay_card(
        &self,
        cmd: &PayCommand,
        recurrent: bool,
    ) -> Result<PayOutcome, ProviderError> {
        match behaviour(cmd.card_token.as_ref()) {
            CardBehaviour::Approve => {
                let status = self.approved_status(cmd);
                self.charge(cmd, status, "Transaction approved", recurrent)
                    .await
            }
            CardBehaviour::Decline(why) => {
                self.charge(cmd, ChargeStatus::Declined, why, false).await
            }
            CardBehaviour::ThreeDs => {
                self.charge(
                    cmd,
                    ChargeStatus::AwaitingBuyer,
                    "Transaction pending insertion of 3DS code",
                    recurrent,
                )
                .await
            }
            CardBehaviour::Pending => {
                self.charge(
                    cmd,
                    ChargeStatus::Processing,
                    "Transaction pending",
                    recurrent,
                )
                .await
            }
            CardBehaviour::Unavailable => Err(ProviderError::Unavailable(
                "sandbox simulated a 503 Service Unavailable".into(),
            )),
        }
    }
}
