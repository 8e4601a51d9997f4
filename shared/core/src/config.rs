//! Reading configuration from the environment once, at start, with errors that name the variable.

use crate::secret::Secret;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration: {var}: {message}")]
pub struct ConfigError {
    pub var: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(var: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            var: var.to_owned(),
            message: message.into(),
        }
    }
}

/// A snapshot of environment variables. Tests build one from pairs; processes from `std::env`.
#[derive(Debug, Clone, Default)]
pub struct Env(BTreeMap<String, String>);

impl Env {
    pub fn from_process() -> Env {
        Env(std::env::vars().collect())
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Env {
        Env(pairs
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect())
    }

    pub fn set(&mut self, key: &str, value: &str) {
        self.0.insert(key.to_owned(), value.to_owned());
    }

    /// The value, with unset and blank treated alike.
    pub fn get(&self, var: &str) -> Option<&str> {
        self.0.get(var).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    pub fn require(&self, var: &str) -> Result<&str, ConfigError> {
        self.get(var)
            .ok_or_else(|| ConfigError::new(var, "is required but not set"))
    }

    pub fn secret(&self, var: &str) -> Result<Secret, ConfigError> {
        self.require(var).map(Secret::new)
    }

    pub fn bool_or(&self, var: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(var) {
            None => Ok(default),
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Ok(true),
                "0" | "false" | "no" | "off" => Ok(false),
                _ => Err(ConfigError::new(
                    var,
                    format!("`{v}` is not a boolean (true/false)"),
                )),
            },
        }
    }

    pub fn parse_or<T: std::str::FromStr>(&self, var: &str, default: T) -> Result<T, ConfigError> {
        match self.get(var) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| ConfigError::new(var, format!("`{v}` is not a valid value"))),
        }
    }

    /// An http(s) URL without a trailing slash.
    pub fn url(&self, var: &str) -> Result<Option<String>, ConfigError> {
        match self.get(var) {
            None => Ok(None),
            Some(v) if v.starts_with("http://") || v.starts_with("https://") => {
                Ok(Some(v.trim_end_matches('/').to_owned()))
            }
            Some(v) => Err(ConfigError::new(
                var,
                format!("`{v}` is not an http(s) URL"),
            )),
        }
    }

    pub fn url_or(&self, var: &str, default: &str) -> Result<String, ConfigError> {
        Ok(self.url(var)?.unwrap_or_else(|| default.to_owned()))
    }
}
