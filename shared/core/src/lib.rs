//! The PGM domain. Knows nothing of HTTP, storage engines or AWS.

pub mod clock;
pub mod config;
pub mod event;
pub mod money;
pub mod payment;
pub mod sandbox_ledger;
pub mod schema;
pub mod secret;
pub mod signing;
pub mod wire;

pub use config::{ConfigError, Env};
pub use event::{EventType, NotificationEvent};
pub use money::{Currency, Money, MoneyError};
pub use payment::{ApiStatus, Payment, PaymentError, PaymentKind, PaymentState, StoredResponse};
pub use secret::Secret;
pub use wire::{PaymentRef, ValidationError};

/// Put in a request's extensions by the HTTP layer once the caller has shown the merchant's
/// credentials (or where merchant routes are open because none are configured). A route that
/// a provider serves for the merchant only (the sandbox's books) refuses a request without it,
/// so a router that forgets the check fails closed.
#[derive(Debug, Clone, Copy)]
pub struct MerchantAuthenticated;
