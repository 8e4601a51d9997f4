//! The PGM domain. Knows nothing of HTTP, storage engines or AWS.

pub mod clock;
pub mod config;
pub mod event;
pub mod money;
pub mod payment;
pub mod sandbox_ledger;
pub mod secret;
pub mod signing;
pub mod wire;

pub use config::{ConfigError, Env};
pub use event::{EventType, NotificationEvent};
pub use money::{Currency, Money, MoneyError};
pub use payment::{ApiStatus, Payment, PaymentError, PaymentKind, PaymentState, StoredResponse};
pub use secret::Secret;
pub use wire::{PaymentRef, ValidationError};
