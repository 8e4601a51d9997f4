//! Storage: the port ([`PaymentStore`]) and its adapters.

#[cfg(feature = "dynamodb")]
pub mod dynamodb;
#[cfg(feature = "embedded")]
pub mod embedded;
mod port;

pub use port::*;
