//! The named string schemas of the API document: the wire types keep amounts, ids, currencies
//! and URLs as strings (validated in `wire`), and point their fields here with
//! `#[schema(value_type = …)]` so that the document states the same rules the validation
//! applies.

use crate::money::CURRENCIES;
use crate::wire::MAX_ID_LEN;
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

/// A decimal amount in major units, as a string: digits, optionally a dot and at most as many
/// decimals as the currency has (EUR 2, JPY 0, KWD 3; the pattern allows up to 3, the currency
/// decides). No sign, exponent, spaces or separators. At most 10^15 minor units.
#[derive(ToSchema)]
#[allow(dead_code)] // names a schema; never built: the wire types keep a String
#[schema(pattern = r"^[0-9]+(\.[0-9]{1,3})?$", examples("5.00", "12.5", "500"))]
pub struct Amount(String);

/// An amount as the PGM writes it: major units with exactly the currency's number of decimals
/// ("5.00" EUR, "500" JPY, "1.250" KWD).
#[derive(ToSchema)]
#[allow(dead_code)] // names a schema; never built: the wire types keep a String
#[schema(pattern = r"^[0-9]+(\.[0-9]{2,3})?$", examples("5.00"))]
pub struct WireAmount(String);

/// An identifier: 1 to 128 visible ASCII characters, no spaces.
#[derive(ToSchema)]
#[allow(dead_code)] // names a schema; never built: the wire types keep a String
#[schema(min_length = 1, max_length = 128, pattern = "^[!-~]+$")]
pub struct Id(String);

/// An http(s) URL of at most 2048 characters without whitespace or control characters.
#[derive(ToSchema)]
#[allow(dead_code)] // names a schema; never built: the wire types keep a String
#[schema(
    max_length = 2048,
    pattern = r"^https?://[^\s\u0000-\u001f\u007f-\u009f]*$"
)]
pub struct HttpUrl(String);

/// An [`Amount`] greater than zero.
pub struct PositiveAmount;

impl PartialSchema for PositiveAmount {
    fn schema() -> RefOr<Schema> {
        AllOfBuilder::new()
            .item(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                Amount::name(),
            )))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(r"^(?!0*(\.0*)?$)")),
            )
            .description(Some("An Amount greater than zero."))
            .into()
    }
}

impl ToSchema for PositiveAmount {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((Amount::name().into(), Amount::schema()));
    }
}

/// `metadata`: a string map stored with the payment and echoed in notifications (the limits
/// of `wire::MAX_METADATA_ENTRIES` and of `PayRequest::validate`).
pub struct Metadata;

impl PartialSchema for Metadata {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .max_properties(Some(crate::wire::MAX_METADATA_ENTRIES))
            .property_names(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .max_length(Some(64)),
            ))
            .additional_properties(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .max_length(Some(512)),
            ))
            .description(Some(
                "A string map stored with the payment and echoed in notifications: at most 50 \
                 entries, keys up to 64 bytes, values up to 512 bytes.",
            ))
            .into()
    }
}

impl ToSchema for Metadata {}

/// The ISO 4217 codes [`crate::Currency::parse`] accepts: the schema is the table itself.
pub struct CurrencyCode;

impl PartialSchema for CurrencyCode {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "ISO 4217 code, upper case. Only the codes listed are accepted (funds codes and \
                 precious metals are left out on purpose).",
            ))
            .enum_values(Some(CURRENCIES.iter().map(|(code, _)| *code)))
            .into()
    }
}

impl ToSchema for CurrencyCode {
    fn name() -> std::borrow::Cow<'static, str> {
        "Currency".into()
    }
}

const _: () = assert!(MAX_ID_LEN == 128, "the Id schema states 128");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    #[test]
    fn the_currency_schema_lists_every_accepted_code() {
        let json = serde_json::to_value(CurrencyCode::schema()).unwrap();
        let codes = json["enum"].as_array().unwrap();
        assert_eq!(codes.len(), CURRENCIES.len());
        for code in codes {
            assert!(Currency::parse(code.as_str().unwrap()).is_ok());
        }
    }
}
