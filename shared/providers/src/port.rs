//! The provider port: what the PGM asks of a payment provider, in domain terms.

use async_trait::async_trait;
use pgm_core::wire::{PayCommand, SessionOpenCommand};
use pgm_core::{Money, Payment, PaymentState};

/// Every operation of the API that reaches a provider. A provider that does not serve one
/// answers `NotSupported`, which the API turns into 501 `NOT_SUPPORTED_BY_PROVIDER`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    Pay,
    PayRecurrent,
    Confirm,
    Refund,
    Callback,
    Check,
    Status,
    SessionOpen,
    SessionConfirm,
    SessionVoid,
    SessionRefund,
    SessionCheck,
}

impl Operation {
    pub const ALL: [Operation; 12] = [
        Operation::Pay,
        Operation::PayRecurrent,
        Operation::Confirm,
        Operation::Refund,
        Operation::Callback,
        Operation::Check,
        Operation::Status,
        Operation::SessionOpen,
        Operation::SessionConfirm,
        Operation::SessionVoid,
        Operation::SessionRefund,
        Operation::SessionCheck,
    ];

    /// The route suffix, as in the API document and the README's support matrix.
    pub fn route(self) -> &'static str {
        match self {
            Operation::Pay => "pay",
            Operation::PayRecurrent => "pay/recurrent",
            Operation::Confirm => "confirm",
            Operation::Refund => "refund",
            Operation::Callback => "callback",
            Operation::Check => "check",
            Operation::Status => "status",
            Operation::SessionOpen => "session/open",
            Operation::SessionConfirm => "session/confirm",
            Operation::SessionVoid => "session/void",
            Operation::SessionRefund => "session/refund",
            Operation::SessionCheck => "session/check",
        }
    }
}

/// What a provider said about a payment it was asked to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayOutcome {
    /// The provider's id for the payment (v2 `paymentID`). `None` only with a decline that
    /// created nothing at the provider.
    pub provider_payment_id: Option<String>,
    /// `Pending` (with or without a redirect), `Authorized`, `Captured` or `Failed`.
    pub state: PaymentState,
    pub description: String,
    pub redirect_url: Option<String>,
    pub redirect_url_mobile: Option<String>,
    /// For recurrent payments: what later instalments charge against.
    pub recurrence_token: Option<String>,
}

impl PayOutcome {
    /// The provider created payment `id` and the buyer goes to `url` to decide. A created
    /// payment without a URL cannot be finished from here, but it exists at the provider: the
    /// outcome is unknown and is settled through status, never a decline.
    pub fn redirect(
        provider: &str,
        id: String,
        url: Option<String>,
        description: &str,
    ) -> Result<PayOutcome, ProviderError> {
        let url = url.filter(|u| !u.is_empty()).ok_or_else(|| {
            ProviderError::Unavailable(format!(
                "{provider} created a payment without a URL for the buyer"
            ))
        })?;
        Ok(PayOutcome {
            provider_payment_id: Some(id),
            state: PaymentState::Pending,
            description: description.to_owned(),
            redirect_url: Some(url),
            redirect_url_mobile: None,
            recurrence_token: None,
        })
    }
}

/// What the provider says a payment's state is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusOutcome {
    pub state: PaymentState,
    pub description: String,
    /// Set when the provider reveals an id we did not know (e.g. after a lost pay answer).
    pub provider_payment_id: Option<String>,
    /// Minor units the provider says it captured, where it says (a partial capture whose
    /// answer was lost). `None`: a captured payment is taken to be captured in full.
    pub captured_minor: Option<i64>,
}

/// Where a refund stands at the provider; the same three states the refund answer reports.
pub use pgm_core::wire::RefundStatus;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundOutcome {
    pub state: RefundStatus,
    pub provider_refund_id: Option<String>,
    pub description: String,
}

impl RefundOutcome {
    pub fn succeeded(&self) -> bool {
        self.state == RefundStatus::Succeeded
    }

    pub fn is_pending(&self) -> bool {
        self.state == RefundStatus::Pending
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureOutcome {
    pub succeeded: bool,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionOpened {
    pub session_token: String,
    /// The state the payment starts in (`Pending` until the buyer acts, or `Authorized`).
    pub state: PaymentState,
    pub redirect_url: Option<String>,
}

/// An incoming webhook, as raw as it came: signatures are computed over raw bytes.
#[derive(Debug, Clone)]
pub struct CallbackRequest {
    pub method: http::Method,
    /// The raw query string, without `?`.
    pub query: String,
    pub headers: http::HeaderMap,
    pub body: bytes::Bytes,
}

impl CallbackRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The query parameters, decoded.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        serde_urlencoded::from_str(&self.query).unwrap_or_default()
    }

    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// Which payment a callback is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackSubject {
    ShopTransactionId(String),
    ProviderPaymentId(String),
}

/// What the provider answers to a callback: most want a bare 200.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackAck {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Default for CallbackAck {
    fn default() -> Self {
        CallbackAck {
            status: 200,
            content_type: "application/json",
            body: "{\"received\":true}".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackOutcome {
    /// A callback about a payment. `verified` is the state the provider vouched for with a
    /// valid signature; `None` means the callback was only a trigger (unsigned providers) and
    /// the PGM must ask the provider for the status before believing anything.
    Payment {
        subject: CallbackSubject,
        verified: Option<StatusOutcome>,
        ack: CallbackAck,
    },
    /// A signed callback about one refund of a payment: it settles a refund the provider
    /// completes later. `refund_id` is ours (the id the refund was made with); `None` when the
    /// provider does not tell which of our refunds it is (Scalapay's `refunded` webhook), and
    /// then the event is only acknowledged and logged, never counted.
    Refund {
        subject: CallbackSubject,
        refund_id: Option<String>,
        outcome: RefundOutcome,
        ack: CallbackAck,
    },
    /// A genuine callback about something we do not track (another event type).
    Ignored { ack: CallbackAck },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    #[error("this provider does not support that operation")]
    NotSupported,
    /// 5xx, timeout, connection reset: the outcome is unknown and must be settled later.
    #[error("provider unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the request (4xx): a definite no.
    #[error("provider rejected the request: {message}")]
    Rejected {
        code: Option<String>,
        message: String,
    },
    /// The provider has no such payment (e.g. a pay that never reached it).
    #[error("the provider has no such payment")]
    NotFound,
    /// A callback whose signature is missing, wrong or stale.
    #[error("invalid callback signature: {0}")]
    InvalidSignature(String),
    /// A callback we cannot read.
    #[error("malformed callback: {0}")]
    InvalidCallback(String),
    /// The request lacks something this provider needs (e.g. Stripe's successRedirect).
    #[error("{field}: {message}")]
    InvalidRequest { field: String, message: String },
}

/// A payment provider. One module per provider implements it, with its wire types beside it.
/// Methods get the stored [`Payment`] where one exists; its `provider_payment_id` is what the
/// provider knows the payment by.
///
/// Paying is what every provider does; everything else is a capability, a small trait of its
/// own that an adapter implements and hands out from its `as_…` method. What a provider
/// supports (the 501 answers and the README's support matrix, see [`Provider::supports`]) is
/// read from those, so it cannot drift from the code.
#[async_trait]
pub trait Provider: Send + Sync {
    /// The route segment (`stripe`, `gestpay`, …).
    fn name(&self) -> &'static str;

    /// The payment-method segments this provider serves.
    fn methods(&self) -> &'static [&'static str];

    async fn pay(&self, cmd: &PayCommand) -> Result<PayOutcome, ProviderError>;

    /// Whether `pay` is served. Every provider pays, except one whose payments can only be
    /// made by the buyer inside a session the PGM opens (SafeCharge: Nuvei's Web SDK takes the
    /// card in the buyer's browser); its `pay` answers 501.
    fn serves_pay(&self) -> bool {
        true
    }

    fn as_recurring(&self) -> Option<&dyn RecurringPay> {
        None
    }

    fn as_capture(&self) -> Option<&dyn Capture> {
        None
    }

    fn as_void(&self) -> Option<&dyn Void> {
        None
    }

    fn as_refunds(&self) -> Option<&dyn Refunds> {
        None
    }

    fn as_refund_lookup(&self) -> Option<&dyn RefundLookup> {
        None
    }

    fn as_status(&self) -> Option<&dyn StatusLookup> {
        None
    }

    fn as_webhooks(&self) -> Option<&dyn Webhooks> {
        None
    }

    fn as_session_open(&self) -> Option<&dyn SessionOpen> {
        None
    }

    /// `Some` when the `session/*` routes serve this provider, taking its payment id as
    /// `sessionToken` (Stripe's Checkout Session, Scalapay's order token); confirm, void, refund
    /// and check then go to the capabilities above.
    fn as_session_tokens(&self) -> Option<&dyn SessionTokens> {
        None
    }

    /// Pages this provider serves from the PGM's own host (only the sandbox has any: its
    /// hosted 3DS page). Mounted beside the API routes.
    fn hosted_routes(&self) -> Option<axum::Router> {
        None
    }

    /// The OpenAPI description of [`Provider::hosted_routes`], merged into the API document.
    fn hosted_document(&self) -> Option<utoipa::openapi::OpenApi> {
        None
    }
}

/// Hands out, inside an adapter's `impl Provider`, the capabilities it implements:
/// `capabilities!(Capture, Refunds, StatusLookup)` writes the `as_…` methods returning
/// `Some(self)` for those traits, so that what an adapter serves is said once, by the traits it
/// implements and this list, which the compiler checks against each other.
#[macro_export]
macro_rules! capabilities {
    ($($capability:ident),+ $(,)?) => { $( $crate::capability!($capability); )+ };
}

/// One `as_…` method of [`capabilities!`].
#[doc(hidden)]
#[macro_export]
macro_rules! capability {
    (RecurringPay) => { $crate::capability!(@ as_recurring, RecurringPay); };
    (Capture) => { $crate::capability!(@ as_capture, Capture); };
    (Void) => { $crate::capability!(@ as_void, Void); };
    (Refunds) => { $crate::capability!(@ as_refunds, Refunds); };
    (RefundLookup) => { $crate::capability!(@ as_refund_lookup, RefundLookup); };
    (StatusLookup) => { $crate::capability!(@ as_status, StatusLookup); };
    (Webhooks) => { $crate::capability!(@ as_webhooks, Webhooks); };
    (SessionOpen) => { $crate::capability!(@ as_session_open, SessionOpen); };
    (SessionTokens) => { $crate::capability!(@ as_session_tokens, SessionTokens); };
    (@ $method:ident, $trait:ident) => {
        fn $method(&self) -> Option<&dyn $crate::$trait> {
            Some(self)
        }
    };
}

/// Pays later instalments against a first one.
#[async_trait]
pub trait RecurringPay: Send + Sync {
    async fn pay_recurrent(&self, cmd: &PayCommand) -> Result<PayOutcome, ProviderError>;
}

/// Captures a pre-authorised payment (`/confirm`, `session/confirm`).
#[async_trait]
pub trait Capture: Send + Sync {
    async fn confirm(
        &self,
        payment: &Payment,
        amount: Money,
    ) -> Result<CaptureOutcome, ProviderError>;
}

/// Releases an authorisation (`session/void`).
#[async_trait]
pub trait Void: Send + Sync {
    async fn void(&self, payment: &Payment) -> Result<CaptureOutcome, ProviderError>;
}

/// Refunds captured money (`/refund`, `session/refund`).
#[async_trait]
pub trait Refunds: Send + Sync {
    /// Refunds `amount` of a captured payment. `refund_id` is ours and unique per refund: use
    /// it as the provider-side idempotency key where the provider has one.
    async fn refund(
        &self,
        payment: &Payment,
        amount: Money,
        refund_id: &str,
    ) -> Result<RefundOutcome, ProviderError>;

    /// Whether sending the same refund again (same `refund_id`) can never refund twice, because
    /// the provider deduplicates it. Where it cannot, the PGM never re-sends a refund whose
    /// first attempt's outcome is unknown.
    fn refunds_are_idempotent(&self) -> bool;

    /// How many refunds a payment may have at the provider (`None`: any number, up to the
    /// captured amount). A provider that refunds a transaction once refuses a second refund.
    fn refunds_per_payment(&self) -> Option<u32> {
        None
    }
}

/// Finds one of our refunds at the provider, to settle a refund whose answer was lost.
/// Refunds made through a provider that cannot be asked stay reserved after a lost answer
/// until someone settles them by hand.
#[async_trait]
pub trait RefundLookup: Send + Sync {
    /// What became of our refund `refund_id` of `payment`: `Ok(None)` when the provider never
    /// received it. Only called for refunds whose request is over.
    async fn refund_status(
        &self,
        payment: &Payment,
        refund_id: &str,
    ) -> Result<Option<RefundOutcome>, ProviderError>;
}

/// Asks the provider where a payment stands (`/check`, `/status`, `session/check`, the
/// reconciler, and a takeover of a pay whose answer was lost).
#[async_trait]
pub trait StatusLookup: Send + Sync {
    /// Also used to settle a pay whose answer was lost: then `provider_payment_id` may be
    /// `None` and the provider is asked by our shopTransactionID where it can be.
    async fn status(&self, payment: &Payment) -> Result<StatusOutcome, ProviderError>;
}

/// Verifies and reads the provider's webhooks (`/{provider}/callback`).
#[async_trait]
pub trait Webhooks: Send + Sync {
    async fn callback(&self, req: &CallbackRequest) -> Result<CallbackOutcome, ProviderError>;
}

/// Opens a transaction session (`session/open`).
#[async_trait]
pub trait SessionOpen: Send + Sync {
    async fn session_open(&self, cmd: &SessionOpenCommand) -> Result<SessionOpened, ProviderError>;
}

/// The provider's payments can be driven through the `session/*` routes by their id.
pub trait SessionTokens: Send + Sync {}

/// The calls the application makes, each answering `NotSupported` where the provider lacks
/// the capability: one place decides, from the `as_…` methods alone.
impl dyn Provider {
    /// Whether the route is served (the 501 answers and the README's support matrix).
    pub fn supports(&self, op: Operation) -> bool {
        let sessions = self.as_session_tokens().is_some();
        match op {
            Operation::Pay => self.serves_pay(),
            Operation::PayRecurrent => self.serves_pay() && self.as_recurring().is_some(),
            Operation::Confirm => self.as_capture().is_some(),
            Operation::Refund => self.as_refunds().is_some(),
            Operation::Callback => self.as_webhooks().is_some(),
            Operation::Check | Operation::Status => self.as_status().is_some(),
            Operation::SessionOpen => self.as_session_open().is_some(),
            Operation::SessionConfirm => sessions && self.as_capture().is_some(),
            Operation::SessionVoid => sessions && self.as_void().is_some(),
            Operation::SessionRefund => sessions && self.as_refunds().is_some(),
            Operation::SessionCheck => sessions && self.as_status().is_some(),
        }
    }

    pub async fn pay_recurrent(&self, cmd: &PayCommand) -> Result<PayOutcome, ProviderError> {
        self.as_recurring()
            .ok_or(ProviderError::NotSupported)?
            .pay_recurrent(cmd)
            .await
    }

    pub async fn confirm(
        &self,
        payment: &Payment,
        amount: Money,
    ) -> Result<CaptureOutcome, ProviderError> {
        self.as_capture()
            .ok_or(ProviderError::NotSupported)?
            .confirm(payment, amount)
            .await
    }

    pub async fn void(&self, payment: &Payment) -> Result<CaptureOutcome, ProviderError> {
        self.as_void()
            .ok_or(ProviderError::NotSupported)?
            .void(payment)
            .await
    }

    pub async fn refund(
        &self,
        payment: &Payment,
        amount: Money,
        refund_id: &str,
    ) -> Result<RefundOutcome, ProviderError> {
        self.as_refunds()
            .ok_or(ProviderError::NotSupported)?
            .refund(payment, amount, refund_id)
            .await
    }

    pub fn refunds_are_idempotent(&self) -> bool {
        self.as_refunds()
            .is_some_and(|r| r.refunds_are_idempotent())
    }

    pub fn looks_up_refunds(&self) -> bool {
        self.as_refund_lookup().is_some()
    }

    pub async fn refund_status(
        &self,
        payment: &Payment,
        refund_id: &str,
    ) -> Result<Option<RefundOutcome>, ProviderError> {
        self.as_refund_lookup()
            .ok_or(ProviderError::NotSupported)?
            .refund_status(payment, refund_id)
            .await
    }

    pub async fn status(&self, payment: &Payment) -> Result<StatusOutcome, ProviderError> {
        self.as_status()
            .ok_or(ProviderError::NotSupported)?
            .status(payment)
            .await
    }

    pub async fn callback(&self, req: &CallbackRequest) -> Result<CallbackOutcome, ProviderError> {
        self.as_webhooks()
            .ok_or(ProviderError::NotSupported)?
            .callback(req)
            .await
    }

    pub async fn session_open(
        &self,
        cmd: &SessionOpenCommand,
    ) -> Result<SessionOpened, ProviderError> {
        self.as_session_open()
            .ok_or(ProviderError::NotSupported)?
            .session_open(cmd)
            .await
    }
}
