//! Payment providers: the [`Provider`] port, the registry built from `ENABLED_PROVIDERS`, and one
//! module per provider (adapter + its wire types).

pub mod bpc;
pub mod braintree;
pub mod gestpay;
pub mod kit;
pub mod paymentz;
mod port;
pub mod registry;
pub mod safecharge;
pub mod sandbox;
pub mod satispay;
pub mod scalapay;
pub mod soisy;
pub mod stripe;
pub mod unicredit;

pub use port::*;
pub use registry::{ProviderDeps, Registry};
