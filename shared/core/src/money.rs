//! Money as integer minor units plus an ISO 4217 currency. No floating point anywhere.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The largest amount we accept, in minor units: 10^15 (ten trillion euros). Anything larger is a
/// client mistake, and the bound keeps every sum of amounts far away from `i64` overflow.
pub const MAX_MINOR: i64 = 1_000_000_000_000_000;

/// ISO 4217 codes we accept, with their minor-unit exponent. Funds codes and precious metals
/// are left out on purpose: no provider charges them.
pub(crate) const CURRENCIES: &[(&str, u8)] = &[
    ("AED", 2),
    ("AFN", 2),
    ("ALL", 2),
    ("AMD", 2),
    ("ANG", 2),
    ("AOA", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("AWG", 2),
    ("AZN", 2),
    ("BAM", 2),
    ("BBD", 2),
    ("BDT", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BIF", 0),
    ("BMD", 2),
    ("BND", 2),
    ("BOB", 2),
    ("BRL", 2),
    ("BSD", 2),
    ("BTN", 2),
    ("BWP", 2),
    ("BYN", 2),
    ("BZD", 2),
    ("CAD", 2),
    ("CDF", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("CRC", 2),
    ("CUP", 2),
    ("CVE", 2),
    ("CZK", 2),
    ("DJF", 0),
    ("DKK", 2),
    ("DOP", 2),
    ("DZD", 2),
    ("EGP", 2),
    ("ERN", 2),
    ("ETB", 2),
    ("EUR", 2),
    ("FJD", 2),
    ("FKP", 2),
    ("GBP", 2),
    ("GEL", 2),
    ("GHS", 2),
    ("GIP", 2),
    ("GMD", 2),
    ("GNF", 0),
    ("GTQ", 2),
    ("GYD", 2),
    ("HKD", 2),
    ("HNL", 2),
    ("HTG", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("IQD", 3),
    ("IRR", 2),
    ("ISK", 0),
    ("JMD", 2),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KGS", 2),
    ("KHR", 2),
    ("KMF", 0),
    ("KRW", 0),
    ("KWD", 3),
    ("KYD", 2),
    ("KZT", 2),
    ("LAK", 2),
    ("LBP", 2),
    ("LKR", 2),
    ("LRD", 2),
    ("LSL", 2),
    ("LYD", 3),
    ("MAD", 2),
    ("MDL", 2),
    ("MGA", 2),
    ("MKD", 2),
    ("MMK", 2),
    ("MNT", 2),
    ("MOP", 2),
    ("MRU", 2),
    ("MUR", 2),
    ("MVR", 2),
    ("MWK", 2),
    ("MXN", 2),
    ("MYR", 2),
    ("MZN", 2),
    ("NAD", 2),
    ("NGN", 2),
    ("NIO", 2),
    ("NOK", 2),
    ("NPR", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PAB", 2),
    ("PEN", 2),
    ("PGK", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("PYG", 0),
    ("QAR", 2),
    ("RON", 2),
    ("RSD", 2),
    ("RUB", 2),
    ("RWF", 0),
    ("SAR", 2),
    ("SBD", 2),
    ("SCR", 2),
    ("SDG", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("SHP", 2),
    ("SLE", 2),
    ("SOS", 2),
    ("SRD", 2),
    ("SSP", 2),
    ("STN", 2),
    ("SVC", 2),
    ("SYP", 2),
    ("SZL", 2),
    ("THB", 2),
    ("TJS", 2),
    ("TMT", 2),
    ("TND", 3),
    ("TOP", 2),
    ("TRY", 2),
    ("TTD", 2),
    ("TWD", 2),
    ("TZS", 2),
    ("UAH", 2),
    ("UGX", 0),
    ("USD", 2),
    ("UYU", 2),
    ("UZS", 2),
    ("VES", 2),
    ("VND", 0),
    ("VUV", 0),
    ("WST", 2),
    ("XAF", 0),
    ("XCD", 2),
    ("XOF", 0),
    ("XPF", 0),
    ("YER", 2),
    ("ZAR", 2),
    ("ZMW", 2),
    ("ZWL", 2),
];

/// An ISO 4217 currency we know the exponent of.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency {
    code: [u8; 3],
    exponent: u8,
}

impl Currency {
    pub const EUR: Currency = Currency {
        code: *b"EUR",
        exponent: 2,
    };

    /// Strict: three upper-case letters naming a currency in our table.
    pub fn parse(code: &str) -> Result<Currency, MoneyError> {
        CURRENCIES
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(c, e)| Currency {
                code: c
                    .as_bytes()
                    .try_into()
                    .expect("table codes have three letters"),
                exponent: *e,
            })
            .ok_or_else(|| MoneyError::UnknownCurrency(code.chars().take(8).collect()))
    }

    pub fn code(&self) -> &str {
        std::str::from_utf8(&self.code).expect("currency codes are ASCII")
    }

    /// How many decimals the minor unit has (EUR 2, JPY 0, KWD 3).
    pub fn exponent(&self) -> u8 {
        self.exponent
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl TryFrom<String> for Currency {
    type Error = MoneyError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Currency::parse(&s)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.code().to_owned()
    }
}

impl FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::parse(s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("`{0}` is not an ISO 4217 currency code we support")]
    UnknownCurrency(String),
    #[error("amount is empty")]
    Empty,
    #[error("amount must be a plain decimal number such as \"5.00\"")]
    NotADecimal,
    #[error("amount must not be negative")]
    Negative,
    #[error("amount has more than {max} decimals, the most {currency} allows")]
    TooManyDecimals { max: u8, currency: Currency },
    #[error("amount is larger than the largest amount accepted")]
    TooLarge,
    #[error("amounts in different currencies ({0} and {1})")]
    CurrencyMismatch(Currency, Currency),
}

/// An amount in minor units of a currency. Always between 0 and [`MAX_MINOR`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

impl Money {
    pub fn from_minor(minor: i64, currency: Currency) -> Result<Money, MoneyError> {
        if minor < 0 {
            return Err(MoneyError::Negative);
        }
        if minor > MAX_MINOR {
            return Err(MoneyError::TooLarge);
        }
        Ok(Money { minor, currency })
    }

    pub fn zero(currency: Currency) -> Money {
        Money { minor: 0, currency }
    }

    /// Parses the wire form: digits, optionally a dot and at most `exponent` digits.
    /// Rejects signs, exponents, spaces, separators and anything a float parser would forgive.
    pub fn parse_decimal(text: &str, currency: Currency) -> Result<Money, MoneyError> {
        if text.is_empty() {
            return Err(MoneyError::Empty);
        }
        if text.starts_with('-') {
            return Err(MoneyError::Negative);
        }
        let (whole, fraction) = match text.split_once('.') {
            Some((w, f)) => (w, Some(f)),
            None => (text, None),
        };
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(whole) || fraction.is_some_and(|f| !all_digits(f)) {
            return Err(MoneyError::NotADecimal);
        }
        let fraction = fraction.unwrap_or("");
        let exponent = currency.exponent();
        if fraction.len() > exponent as usize {
            return Err(MoneyError::TooManyDecimals {
                max: exponent,
                currency,
            });
        }
        let whole = whole.trim_start_matches('0');
        // 16 whole digits already exceed MAX_MINOR for every exponent; checking the length
        // first keeps the arithmetic below free of overflow.
        if whole.len() > 16 {
            return Err(MoneyError::TooLarge);
        }
        let scale = 10i64.pow(exponent as u32);
        let whole_value: i64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| MoneyError::TooLarge)?
        };
        let mut fraction_value: i64 = if fraction.is_empty() {
            0
        } else {
            fraction.parse().map_err(|_| MoneyError::NotADecimal)?
        };
        for _ in fraction.len()..exponent as usize {
            fraction_value *= 10;
        }
        let minor = whole_value
            .checked_mul(scale)
            .and_then(|v| v.checked_add(fraction_value))
            .ok_or(MoneyError::TooLarge)?;
        Money::from_minor(minor, currency)
    }

    pub fn minor(&self) -> i64 {
        self.minor
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    pub fn is_zero(&self) -> bool {
        self.minor == 0
    }

    /// Same currency, other amount.
    pub fn with_minor(&self, minor: i64) -> Result<Money, MoneyError> {
        Money::from_minor(minor, self.currency)
    }

    /// The wire form: always exactly `exponent` decimals ("5.00", "500" for JPY, "1.250" for KWD).
    pub fn to_decimal_string(&self) -> String {
        let exponent = self.currency.exponent() as u32;
        if exponent == 0 {
            return self.minor.to_string();
        }
        let scale = 10i64.pow(exponent);
        format!(
            "{}.{:0width$}",
            self.minor / scale,
            self.minor % scale,
            width = exponent as usize
        )
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_decimal_string(), self.currency)
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur(s: &str) -> Result<i64, MoneyError> {
        Money::parse_decimal(s, Currency::EUR).map(|m| m.minor())
    }

    #[test]
    fn parses_plain_decimals_into_minor_units() {
        assert_eq!(eur("5.00"), Ok(500));
        assert_eq!(eur("5"), Ok(500));
        assert_eq!(eur("5.1"), Ok(510));
        assert_eq!(eur("0.01"), Ok(1));
        assert_eq!(eur("0"), Ok(0));
        assert_eq!(eur("1234567.89"), Ok(123_456_789));
    }

    #[test]
    fn rejects_everything_that_is_not_a_plain_decimal() {
        for bad in [
            "abc", "1e3", "5.", ".5", "+5", " 5", "5 ", "5,00", "0x10", "5.0.0", "NaN", "∞",
        ] {
            assert_eq!(eur(bad), Err(MoneyError::NotADecimal), "{bad}");
        }
        assert_eq!(eur(""), Err(MoneyError::Empty));
        assert_eq!(eur("-1"), Err(MoneyError::Negative));
        assert!(matches!(
            eur("5.001"),
            Err(MoneyError::TooManyDecimals { max: 2, .. })
        ));
        assert_eq!(
            eur("123456789012345678901234567890"),
            Err(MoneyError::TooLarge)
        );
        assert_eq!(eur("10000000000000.01"), Err(MoneyError::TooLarge));
        assert_eq!(eur("10000000000000.00"), Ok(MAX_MINOR));
    }

    #[test]
    fn follows_each_currency_exponent() {
        let jpy = Currency::parse("JPY").unwrap();
        let kwd = Currency::parse("KWD").unwrap();
        assert_eq!(Money::parse_decimal("500", jpy).unwrap().minor(), 500);
        assert!(Money::parse_decimal("500.5", jpy).is_err());
        assert_eq!(Money::parse_decimal("1.25", kwd).unwrap().minor(), 1250);
        assert_eq!(
            Money::parse_decimal("1.25", kwd)
                .unwrap()
                .to_decimal_string(),
            "1.250"
        );
        assert_eq!(
            Money::from_minor(500, jpy).unwrap().to_decimal_string(),
            "500"
        );
        assert_eq!(
            Money::from_minor(7, Currency::EUR)
                .unwrap()
                .to_decimal_string(),
            "0.07"
        );
    }

    #[test]
    fn currency_codes_are_strict() {
        assert!(Currency::parse("eur").is_err());
        assert!(Currency::parse("EURO").is_err());
        assert!(Currency::parse("XXX").is_err());
        assert_eq!(Currency::parse("USD").unwrap().code(), "USD");
    }

    #[test]
    fn round_trips_through_the_wire_form() {
        for minor in [0, 1, 9, 10, 99, 100, 12345, MAX_MINOR] {
            let m = Money::from_minor(minor, Currency::EUR).unwrap();
            assert_eq!(
                Money::parse_decimal(&m.to_decimal_string(), Currency::EUR).unwrap(),
                m
            );
        }
    }
}
