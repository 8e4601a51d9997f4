//! The provider kit: what every adapter needs and none should write again.
//!
//! - [`settings`]: `<PROVIDER>_BASE_URL` and `<PROVIDER>_TIMEOUT_MS`, read the same way for all;
//! - [`client`]: one HTTP client per adapter (base URL, auth, timeout), whose answers are read
//!   through the provider's [`Dialect`] and classified once, in [`classify`]: a definite failure
//!   (a refusal with the provider's reason, or a connection that never opened) versus an unknown
//!   outcome (timeout, 5xx, an answer cut off or unreadable), which leaves a payment PENDING;
//! - [`checks`]: the request checks adapters share (a field this provider needs, the currency,
//!   ids that may go into a URL path).

pub mod checks;
pub mod classify;
pub mod client;
pub mod settings;

pub use checks::{invalid, path_id, same_currency};
pub use classify::{Dialect, Refusal, RefusalKind};
pub use client::{Auth, ProviderClient, Signer};
pub use settings::ProviderSettings;
