//! The path parameters of the API's routes, as typed extractors (see `extract::PathParams`)
//! that also document themselves (utoipa reads the fields' doc comments, written out in full:
//! it does not expand `#[doc = macro!()]`).

use serde::Deserialize;
use utoipa::IntoParams;

/// `/{provider}/{method}/…`: the payment routes.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PaymentRoute {
    /// A provider name: sandbox, gestpay (alias axerve), satispay, unicredit, braintree,
    /// scalapay, safecharge, soisy, stripe, bpc, paymentz. Only the providers in
    /// ENABLED_PROVIDERS answer; any other name is a 404 PROVIDER_NOT_FOUND.
    #[param(example = "sandbox")]
    pub provider: String,
    /// A payment-method segment the provider offers: credit-cards, applepay, googlepay,
    /// pay-pal, satispay, scalapay, stripe, safecharge, soisy (the sandbox offers all of them).
    /// Any other is a 404 METHOD_NOT_FOUND.
    #[param(example = "credit-cards")]
    pub method: String,
}

/// `/{provider}/…`: lookups, sessions and callbacks.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProviderRoute {
    /// A provider name: sandbox, gestpay (alias axerve), satispay, unicredit, braintree,
    /// scalapay, safecharge, soisy, stripe, bpc, paymentz. Only the providers in
    /// ENABLED_PROVIDERS answer; any other name is a 404 PROVIDER_NOT_FOUND.
    #[param(example = "sandbox")]
    pub provider: String,
}
