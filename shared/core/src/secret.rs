//! Values that must never reach a log line or an error body.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A secret string (API key, private key, webhook secret, card token). `Debug` and `Display`
/// print `[REDACTED]`; the value is only reachable through [`Secret::expose`], which makes
/// every use greppable. Equality is constant-time (see the `PartialEq` impl).
#[derive(Clone, Default)]
pub struct Secret(String);

/// Constant-time in the contents (`subtle`), so that comparing a presented key or signature
/// with a secret does not tell an attacker, through timing, how many leading bytes matched.
/// Only the length may show, as in every such comparison.
impl PartialEq for Secret {
    fn eq(&self, other: &Secret) -> bool {
        crate::signing::constant_time_eq(self.0.as_bytes(), other.0.as_bytes())
    }
}

impl Eq for Secret {}

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// Serializes as `[REDACTED]`: a secret written into JSON is a bug, and this makes it harmless.
impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("[REDACTED]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_value() {
        let s = Secret::new("sk_live_123");
        assert_eq!(format!("{s} {s:?}"), "[REDACTED] [REDACTED]");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"[REDACTED]\"");
        assert_eq!(s.expose(), "sk_live_123");
    }

    #[test]
    fn equality_compares_the_whole_value() {
        let s = Secret::new("sk_live_123");
        assert_eq!(s, Secret::new("sk_live_123"));
        assert_ne!(s, Secret::new("sk_live_124"));
        assert_ne!(s, Secret::new("sk_live_12"));
        assert_ne!(s, Secret::new(""));
    }
}
