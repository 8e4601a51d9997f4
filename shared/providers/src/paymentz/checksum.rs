//! Paymentz's checksum: the lowercase hex MD5 of values joined by `|`. Every request and every
//! notification uses it; only which values, and in which order, differ. This module is the one
//! place that computes it.

use md5::{Digest, Md5};
use pgm_core::ConfigError;

/// `MD5(v1|v2|…)`, lowercase hex. Values go in exactly as sent (amounts with their 2 decimals).
pub fn checksum(values: &[&str]) -> String {
    hex::encode(Md5::digest(values.join("|").as_bytes()))
}

/// A payment (`/payments`, DB or PA): `memberId|secureKey|merchantTransactionId|amount`.
pub fn payment(member_id: &str, secure_key: &str, merchant_tx: &str, amount: &str) -> String {
    checksum(&[member_id, secure_key, merchant_tx, amount])
}

/// A notification (and the browser's return): `paymentId|merchantTransactionId|amount|short
/// status|secureKey` (note: the key comes last here).
pub fn notification(
    payment_id: &str,
    merchant_tx: &str,
    amount: &str,
    short_status: &str,
    secure_key: &str,
) -> String {
    checksum(&[payment_id, merchant_tx, amount, short_status, secure_key])
}

/// A value a back-office checksum can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    MemberId,
    SecureKey,
    PaymentId,
    Amount,
}

/// The back-office (`/payments/{id}`: CP, RF, RV, IN) checksum's layout. The public docs cut
/// off before the formula, so it is a setting: `PAYMENTZ_BACKOFFICE_CHECKSUM`, a
/// comma-separated list of `memberId`, `secureKey`, `paymentId`, `amount`. The default,
/// `memberId,secureKey,paymentId,amount`, extends the inquiry checksum a third party documents
/// (`memberId|secureKey|paymentId`); an operation without an amount (RV, IN) leaves `amount`
/// out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackofficeLayout(Vec<Field>);

pub const DEFAULT_BACKOFFICE_LAYOUT: &str = "memberId,secureKey,paymentId,amount";

impl BackofficeLayout {
    pub fn parse(var: &str, text: &str) -> Result<BackofficeLayout, ConfigError> {
        let mut fields = Vec::new();
        for name in text.split(',').map(str::trim) {
            fields.push(match name {
                "memberId" => Field::MemberId,
                "secureKey" => Field::SecureKey,
                "paymentId" => Field::PaymentId,
                "amount" => Field::Amount,
                other => {
                    return Err(ConfigError::new(
                        var,
                        format!("unknown field `{other}` (memberId, secureKey, paymentId, amount)"),
                    ))
                }
            });
        }
        if !fields.contains(&Field::SecureKey) {
            return Err(ConfigError::new(var, "must include secureKey"));
        }
        Ok(BackofficeLayout(fields))
    }

    /// The checksum of one back-office request; `amount` is `None` for RV and IN.
    pub fn sign(
        &self,
        member_id: &str,
        secure_key: &str,
        payment_id: &str,
        amount: Option<&str>,
    ) -> String {
        let values: Vec<&str> = self
            .0
            .iter()
            .filter_map(|f| match f {
                Field::MemberId => Some(member_id),
                Field::SecureKey => Some(secure_key),
                Field::PaymentId => Some(payment_id),
                Field::Amount => amount,
            })
            .collect();
        checksum(&values)
    }
}

impl Default for BackofficeLayout {
    fn default() -> Self {
        BackofficeLayout::parse("", DEFAULT_BACKOFFICE_LAYOUT).expect("the default parses")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected digests computed outside this code, with coreutils:
    // `printf '%s' '<input>' | md5sum`.
    #[test]
    fn vectors() {
        assert_eq!(
            checksum(&["paymentz\n"]),
            "add1e0e89a3e80ce5ee87c6d8be00551"
        );
        assert_eq!(
            payment("11359", "s3cr3tKey", "order-1", "50.00"),
            "304820fd81e3954fcb1a14f85ac8aaea"
        );
        // The shape of providers.md's notification example (`77251|011E1D8A5C034|156.00|N|key`).
        assert_eq!(
            notification("77251", "011E1D8A5C034", "156.00", "N", "s3cr3tKey"),
            "14e8f56ecacaec75ce2a5dd017a85f86"
        );
        let layout = BackofficeLayout::default();
        assert_eq!(
            layout.sign("11359", "s3cr3tKey", "77251", Some("10.00")),
            "d9e5e0eca9e4eacb7c734fbe9edf3886"
        );
        assert_eq!(
            layout.sign("11359", "s3cr3tKey", "77251", None),
            "102168d0d7f3ed566984e464b06bc81e"
        );
    }

    #[test]
    fn a_layout_names_known_fields_and_the_key() {
        assert!(BackofficeLayout::parse("V", "memberId,secureKey,paymentId").is_ok());
        let err = BackofficeLayout::parse("V", "memberId,secret").unwrap_err();
        assert!(err.to_string().contains("secret"), "{err}");
        assert!(BackofficeLayout::parse("V", "memberId,paymentId").is_err());
    }
}
