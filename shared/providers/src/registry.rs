//! Which providers run, built once at start from the environment.

use crate::sandbox::{Sandbox, SandboxLedger};
use crate::{Operation, Provider};
use pgm_core::{ConfigError, Env};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Every provider name the API knows, in the order of the API document.
pub const KNOWN_PROVIDERS: &[&str] = &[
    "sandbox",
    "gestpay",
    "satispay",
    "unicredit",
    "braintree",
    "scalapay",
    "safecharge",
    "soisy",
    "stripe",
    "bpc",
    "paymentz",
];

/// What adapters are built with: made once per process, shared by all.
#[derive(Clone)]
pub struct ProviderDeps {
    /// One pooled HTTP client for every provider (timeouts set per request by adapters).
    pub http: reqwest::Client,
    /// `PGM_PUBLIC_URL`: where providers reach us (callbacks, hosted pages). No trailing slash.
    pub public_url: String,
    /// The sandbox's own books (the "provider side" state), kept in the PGM's store. Only the
    /// sandbox uses them; a process without them cannot enable the sandbox.
    pub sandbox_ledger: Option<Arc<dyn SandboxLedger>>,
}

impl ProviderDeps {
    /// What every adapter but the sandbox needs.
    pub fn new(http: reqwest::Client, public_url: impl Into<String>) -> ProviderDeps {
        ProviderDeps {
            http,
            public_url: public_url.into(),
            sandbox_ledger: None,
        }
    }

    /// The URL a provider calls back: `{PGM_PUBLIC_URL}/{provider}/callback`.
    pub fn callback_url(&self, provider: &str) -> String {
        format!("{}/{provider}/callback", self.public_url)
    }
}

/// The enabled providers, by route name.
#[derive(Clone, Default)]
pub struct Registry {
    providers: BTreeMap<&'static str, Arc<dyn Provider>>,
}

impl Registry {
    /// Builds the providers named in `ENABLED_PROVIDERS` (default `sandbox`). A provider whose
    /// settings are missing or malformed stops the process with the variable's name.
    pub fn from_env(env: &Env, deps: &ProviderDeps) -> Result<Registry, ConfigError> {
        const VAR: &str = "ENABLED_PROVIDERS";
        let mut registry = Registry::default();
        for name in env.get(VAR).unwrap_or("sandbox").split(',').map(str::trim) {
            let name = canonical_name(name);
            let provider: Arc<dyn Provider> = match name {
                "sandbox" => Arc::new(Sandbox::from_env(env, deps)?),
                "gestpay" => Arc::new(crate::gestpay::Gestpay::from_env(env, deps)?),
                "satispay" => Arc::new(crate::satispay::Satispay::from_env(env, deps)?),
                "stripe" => Arc::new(crate::stripe::Stripe::from_env(env, deps)?),
                "scalapay" => Arc::new(crate::scalapay::Scalapay::from_env(env, deps)?),
                "safecharge" => Arc::new(crate::safecharge::Safecharge::from_env(env, deps)?),
                "bpc" => Arc::new(crate::bpc::Bpc::from_env(env, deps)?),
                "paymentz" => Arc::new(crate::paymentz::Paymentz::from_env(env, deps)?),
                "unicredit" => Arc::new(crate::unicredit::Unicredit::from_env(env, deps)?),
                "soisy" => Arc::new(crate::soisy::Soisy::from_env(env, deps)?),
                "braintree" => Arc::new(crate::braintree::Braintree::from_env(env, deps)?),
                "" => continue,
                known if KNOWN_PROVIDERS.contains(&known) => {
                    return Err(ConfigError::new(
                        VAR,
                        format!("provider `{known}` is not available in this build yet"),
                    ))
                }
                other => {
                    return Err(ConfigError::new(
                        VAR,
                        format!(
                            "unknown provider `{other}` (known: {})",
                            KNOWN_PROVIDERS.join(", ")
                        ),
                    ))
                }
            };
            registry.insert(provider);
        }
        Ok(registry)
    }

    pub fn insert(&mut self, provider: Arc<dyn Provider>) {
        self.providers.insert(provider.name(), provider);
    }

    /// The provider serving route segment `name` (aliases accepted).
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Provider>> {
        self.providers.get(canonical_name(name))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Provider>> {
        self.providers.values()
    }

    /// The README's support matrix, from what each provider says it [`Provider::supports`]: a
    /// markdown table with one row per provider (in [`KNOWN_PROVIDERS`] order, any other after
    /// them by name), its payment methods, and ✓ or — for every route of [`Operation::ALL`].
    pub fn support_matrix(&self) -> String {
        let mut table = String::from("| provider | methods |");
        let mut rule = String::from("|---|---|");
        for op in Operation::ALL {
            table.push_str(&format!(" {} |", op.route()));
            rule.push_str(":---:|");
        }
        table.push('\n');
        table.push_str(&rule);
        table.push('\n');
        let known = KNOWN_PROVIDERS
            .iter()
            .filter_map(|name| self.providers.get(name));
        let others = self
            .providers
            .iter()
            .filter(|(name, _)| !KNOWN_PROVIDERS.contains(name))
            .map(|(_, provider)| provider);
        for provider in known.chain(others) {
            let methods: Vec<String> = provider
                .methods()
                .iter()
                .map(|m| format!("`{m}`"))
                .collect();
            table.push_str(&format!(
                "| `{}` | {} |",
                provider.name(),
                methods.join(", ")
            ));
            for op in Operation::ALL {
                table.push_str(if provider.supports(op) {
                    " ✓ |"
                } else {
                    " — |"
                });
            }
            table.push('\n');
        }
        table
    }
}

/// `axerve` is Axerve's new name for GestPay; both route segments reach the same adapter.
pub fn canonical_name(name: &str) -> &str {
    match name {
        "axerve" => "gestpay",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PayOutcome, ProviderError};
    use async_trait::async_trait;
    use pgm_core::wire::PayCommand;
    use pgm_core::{Money, Payment};

    /// A provider that serves only what it is told to.
    struct Fake {
        name: &'static str,
        methods: &'static [&'static str],
        refunds: bool,
        sessions: bool,
        everything: bool,
    }

    #[async_trait]
    impl Provider for Fake {
        fn name(&self) -> &'static str {
            self.name
        }

        fn methods(&self) -> &'static [&'static str] {
            self.methods
        }

        async fn pay(&self, _: &PayCommand) -> Result<PayOutcome, ProviderError> {
            Err(ProviderError::NotSupported)
        }

        fn as_refunds(&self) -> Option<&dyn crate::Refunds> {
            (self.refunds || self.everything).then_some(self)
        }

        fn as_status(&self) -> Option<&dyn crate::StatusLookup> {
            (self.sessions || self.everything).then_some(self)
        }

        fn as_session_tokens(&self) -> Option<&dyn crate::SessionTokens> {
            (self.sessions || self.everything).then_some(self)
        }

        fn as_recurring(&self) -> Option<&dyn crate::RecurringPay> {
            self.everything.then_some(self)
        }

        fn as_capture(&self) -> Option<&dyn crate::Capture> {
            self.everything.then_some(self)
        }

        fn as_void(&self) -> Option<&dyn crate::Void> {
            self.everything.then_some(self)
        }

        fn as_webhooks(&self) -> Option<&dyn crate::Webhooks> {
            self.everything.then_some(self)
        }

        fn as_session_open(&self) -> Option<&dyn crate::SessionOpen> {
            self.everything.then_some(self)
        }
    }

    // Never called: the matrix reads only which capabilities exist.
    #[async_trait]
    impl crate::Refunds for Fake {
        async fn refund(
            &self,
            _: &Payment,
            _: Money,
            _: &str,
        ) -> Result<crate::RefundOutcome, ProviderError> {
            Err(ProviderError::NotSupported)
        }
        fn refunds_are_idempotent(&self) -> bool {
            false
        }
    }
    #[async_trait]
    impl crate::StatusLookup for Fake {
        async fn status(&self, _: &Payment) -> Result<crate::StatusOutcome, ProviderError> {
            Err(ProviderError::NotSupported)
        }
    }
    impl crate::SessionTokens for Fake {}
    #[async_trait]
    impl crate::RecurringPay for Fake {
        async fn pay_recurrent(&self, _: &PayCommand) -> Result<PayOutcome, ProviderError> {
            Err(ProviderError::NotSupported)
        }
    }
    #[async_trait]
    impl crate::Capture for Fake {
        async fn confirm(
            &self,
            _: &Payment,
            _: Money,
        ) -> Result<crate::CaptureOutcome, ProviderError> {
            Err(ProviderError::NotSupported)
        }
    }
    #[async_trait]
    impl crate::Void for Fake {
        async fn void(&self, _: &Payment) -> Result<crate::CaptureOutcome, ProviderError> {
            Err(ProviderError::NotSupported)
        }
    }
    #[async_trait]
    impl crate::Webhooks for Fake {
        async fn callback(
            &self,
            _: &crate::CallbackRequest,
        ) -> Result<crate::CallbackOutcome, ProviderError> {
            Err(ProviderError::NotSupported)
        }
    }
    #[async_trait]
    impl crate::SessionOpen for Fake {
        async fn session_open(
            &self,
            _: &pgm_core::wire::SessionOpenCommand,
        ) -> Result<crate::SessionOpened, ProviderError> {
            Err(ProviderError::NotSupported)
        }
    }

    #[test]
    fn the_support_matrix_has_a_row_per_provider_in_the_documents_order() {
        let mut registry = Registry::default();
        registry.insert(Arc::new(Fake {
            name: "stripe",
            methods: &["stripe"],
            refunds: true,
            sessions: false,
            everything: false,
        }));
        registry.insert(Arc::new(Fake {
            name: "zzz-custom",
            methods: &["a", "b"],
            refunds: false,
            sessions: true,
            everything: false,
        }));
        registry.insert(Arc::new(Fake {
            name: "gestpay",
            methods: &["credit-cards", "pay-pal"],
            refunds: false,
            sessions: false,
            everything: true,
        }));
        let expected = "\
| provider | methods | pay | pay/recurrent | confirm | refund | callback | check | status | session/open | session/confirm | session/void | session/refund | session/check |
|---|---|:---:|:---:|:---:|:---:|:---:|:---:|:---:|:---:|:---:|:---:|:---:|:---:|
| `gestpay` | `credit-cards`, `pay-pal` | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
| `stripe` | `stripe` | ✓ | — | — | ✓ | — | — | — | — | — | — | — | — |
| `zzz-custom` | `a`, `b` | ✓ | — | — | — | — | ✓ | ✓ | — | — | — | — | ✓ |
";
        assert_eq!(registry.support_matrix(), expected);
    }
}
