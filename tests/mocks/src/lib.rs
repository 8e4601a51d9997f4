//! Mock servers that behave like the providers' real APIs, for tests. Each module follows its
//! provider's documented wire format (not our adapter's convenience) and rejects what the real
//! API rejects, so that an adapter bug cannot pass. Every mock can be told to fail the way
//! networks fail: see [`Fault`].

pub mod axerve;
pub mod bpc;
pub mod braintree;
pub mod lambda_events;
pub mod moto;
pub mod paymentz;
pub mod safecharge;
pub mod sandbox_page;
pub mod satispay;
pub mod scalapay;
mod server;
pub mod soisy;
pub mod stripe;
pub mod unicredit;

pub use server::{with_faults, Fault, Faults, MockServer};
