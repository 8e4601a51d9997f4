//! The settings every provider has, under the same names: `<PROVIDER>_BASE_URL` (the API's
//! address, for a sandbox, a proxy or a mock) and `<PROVIDER>_TIMEOUT_MS`.

use pgm_core::{ConfigError, Env};
use std::time::Duration;

/// Per request, unless `<PROVIDER>_TIMEOUT_MS` says otherwise: long enough for a provider's slow
/// moments, short enough for the PGM's callers.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderSettings {
    /// Without a trailing slash.
    pub base_url: String,
    /// How long one request may take before its outcome counts as unknown. An operator
    /// setting: the merchant's backend has a timeout of its own, and a pay that waits for the
    /// provider longer than its caller does helps nobody.
    pub timeout: Duration,
}

impl ProviderSettings {
    /// `{prefix}_BASE_URL` (else `default_base_url`) and `{prefix}_TIMEOUT_MS` (at least 1).
    pub fn from_env(
        env: &Env,
        prefix: &str,
        default_base_url: &str,
    ) -> Result<ProviderSettings, ConfigError> {
        let base_url = env.url_or(&format!("{prefix}_BASE_URL"), default_base_url)?;
        Ok(ProviderSettings {
            base_url: base_url.trim_end_matches('/').to_owned(),
            timeout: timeout(env, prefix)?,
        })
    }
}

fn timeout(env: &Env, prefix: &str) -> Result<Duration, ConfigError> {
    let var = format!("{prefix}_TIMEOUT_MS");
    match env.parse_or(&var, DEFAULT_TIMEOUT.as_millis() as u64)? {
        0 => Err(ConfigError::new(&var, "must be at least 1 (milliseconds)")),
        ms => Ok(Duration::from_millis(ms)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<ProviderSettings, ConfigError> {
        ProviderSettings::from_env(
            &Env::from_pairs(pairs.iter().copied()),
            "ACME",
            "https://api.acme.test/v1",
        )
    }

    #[test]
    fn defaults_and_overrides() {
        let default = settings(&[]).unwrap();
        assert_eq!(default.base_url, "https://api.acme.test/v1");
        assert_eq!(default.timeout, DEFAULT_TIMEOUT);
        let set = settings(&[
            ("ACME_BASE_URL", "http://127.0.0.1:9/x/"),
            ("ACME_TIMEOUT_MS", "250"),
        ])
        .unwrap();
        assert_eq!(set.base_url, "http://127.0.0.1:9/x");
        assert_eq!(set.timeout, Duration::from_millis(250));
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        for bad in ["0", "-1", "1.5", "soon"] {
            let err = settings(&[("ACME_TIMEOUT_MS", bad)]).unwrap_err();
            assert!(err.to_string().contains("ACME_TIMEOUT_MS"), "{bad}: {err}");
        }
        let err = settings(&[("ACME_BASE_URL", "not a url")]).unwrap_err();
        assert!(err.to_string().contains("ACME_BASE_URL"), "{err}");
    }
}
