//! Storage: the port ([`PaymentStore`]) and its adapters.

#[cfg(feature = "embedded")]
pub mod embedded;
mod port;

pub use port::*;
