//! Soisy's wire format: the create-order form (the fields Soisy documents, amounts in integer
//! euro cents), the order it returns, its error bodies, its callback form and the CSV order list.

use crate::kit::invalid;
use crate::ProviderError;
use pgm_core::wire::PayCommand;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// Instalments Soisy accepts (create-order docs: "between 3 and 60").
pub const INSTALMENTS: std::ops::RangeInclusive<u64> = 3..=60;

/// Buyer fields of the create-order call that a merchant may pass in `providerData`, each with
/// the format Soisy documents. Checked here so that a wrong one is our 400 naming the field,
/// not a refusal from Soisy after the buyer was kept waiting.
const BUYER_FIELDS: &[(&str, Format)] = &[
    ("email", Format::Email),
    ("firstname", Format::Text),
    ("lastname", Format::Text),
    ("vatId", Format::Digits(11)),
    ("vatCountry", Format::Upper(2)),
    ("fiscalCode", Format::Alnum(16)),
    ("mobilePhone", Format::Text),
    ("countryCallingCode", Format::Text),
    ("city", Format::Text),
    ("province", Format::Upper(2)),
    ("address", Format::Text),
    ("civicNumber", Format::Text),
    ("postalCode", Format::Digits(5)),
];

#[derive(Clone, Copy)]
enum Format {
    Text,
    Email,
    /// Exactly n ASCII digits.
    Digits(usize),
    /// Exactly n uppercase ASCII letters.
    Upper(usize),
    /// Exactly n ASCII letters or digits.
    Alnum(usize),
}

impl Format {
    fn check(self, value: &str) -> Result<(), String> {
        let exactly = |n: usize, ok: fn(u8) -> bool, what: &str| {
            if value.len() == n && value.bytes().all(ok) {
                Ok(())
            } else {
                Err(format!("must be {n} {what}"))
            }
        };
        match self {
            Format::Text if value.trim().is_empty() => Err("must not be empty".into()),
            Format::Text => Ok(()),
            Format::Email if value.contains('@') && !value.contains(char::is_whitespace) => Ok(()),
            Format::Email => Err("must be an email address".into()),
            Format::Digits(n) => exactly(n, |b| b.is_ascii_digit(), "digits"),
            Format::Upper(n) => exactly(n, |b| b.is_ascii_uppercase(), "uppercase letters"),
            Format::Alnum(n) => exactly(n, |b| b.is_ascii_alphanumeric(), "letters or digits"),
        }
    }
}

/// The create-order form (`POST /api/shops/{shopId}/orders`), as Soisy's own plugins send it:
/// form fields, the amount in integer cents, our shopTransactionID as `orderReference`.
pub fn order_form(
    cmd: &PayCommand,
    callback_url: &str,
) -> Result<Vec<(String, String)>, ProviderError> {
    let mut form: BTreeMap<&str, String> = BTreeMap::new();
    form.insert("amount", cmd.amount.minor().to_string());
    form.insert("orderReference", cmd.shop_transaction_id.clone());
    form.insert("callbackUrl", callback_url.to_owned());
    if let Some(url) = &cmd.success_redirect {
        form.insert("successUrl", url.clone());
    }
    if let Some(url) = &cmd.failure_redirect {
        form.insert("errorUrl", url.clone());
    }
    if let Some(email) = &cmd.buyer_email {
        form.insert("email", email.clone());
    }
    // v2's buyerName is one string; Soisy wants first and last name apart.
    if let Some((first, last)) = cmd.buyer_name.as_deref().and_then(split_name) {
        form.insert("firstname", first.to_owned());
        form.insert("lastname", last.to_owned());
    }
    let data = &cmd.provider_data;
    for (key, format) in BUYER_FIELDS {
        if let Some(value) = data.get(*key) {
            let field = format!("providerData.{key}");
            let text = value
                .as_str()
                .ok_or_else(|| invalid(&field, "must be a string"))?;
            format.check(text).map_err(|why| invalid(&field, why))?;
            form.insert(key, text.to_owned());
        }
    }
    if let Some(value) = data.get("instalments") {
        let n = value
            .as_u64()
            .filter(|n| INSTALMENTS.contains(n))
            .ok_or_else(|| {
                invalid(
                    "providerData.instalments",
                    "must be a whole number from 3 to 60",
                )
            })?;
        form.insert("instalments", n.to_string());
    }
    if let Some(value) = data.get("zeroInterestRate") {
        let on = value
            .as_bool()
            .ok_or_else(|| invalid("providerData.zeroInterestRate", "must be true or false"))?;
        form.insert("zeroInterestRate", on.to_string());
    }
    // Other keys are left alone: a merchant may send one providerData to several providers
    // (Scalapay's consumer and shipping, say); Soisy gets only the fields it documents.
    Ok(form.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

fn split_name(name: &str) -> Option<(&str, &str)> {
    let name = name.trim();
    let (first, last) = name.split_once(char::is_whitespace)?;
    Some((first, last.trim())).filter(|(f, l)| !f.is_empty() && !l.is_empty())
}

/// The create-order answer: the order token (our paymentID) and, per Soisy's docs, the page to
/// send the buyer to "alongside the token" (Soisy's own plugins build it instead).
#[derive(Debug, Clone, Deserialize)]
pub struct OrderCreated {
    pub token: String,
    #[serde(default, rename = "redirectUrl")]
    pub redirect_url: Option<String>,
}

/// `GET /api/shops/{shopId}/orders/{token}`: only the fields we read.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub token: String,
    #[serde(default)]
    pub status: String,
    /// Integer cents.
    #[serde(default)]
    pub loan_amount: Option<i64>,
    #[serde(default)]
    pub order_reference: Option<String>,
}

/// Soisy's error bodies, as its plugins read them: `{"errors": {"field": ["message", …]}}`
/// (validation), sometimes `{"errors": ["message"]}` or `{"error": "message"}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SoisyError {
    #[serde(default)]
    pub error: Option<Value>,
    #[serde(default)]
    pub errors: Option<Value>,
}

impl SoisyError {
    /// The first field named, and every message as `field: message`.
    pub fn read(&self) -> (Option<String>, Option<String>) {
        let mut field = None;
        let mut messages = Vec::new();
        match &self.errors {
            Some(Value::Object(map)) => {
                for (key, value) in map {
                    field.get_or_insert_with(|| key.clone());
                    for text in texts(value) {
                        messages.push(format!("{key}: {text}"));
                    }
                }
            }
            Some(other) => messages.extend(texts(other)),
            None => {}
        }
        if let Some(error) = &self.error {
            messages.extend(texts(error));
        }
        let message = (!messages.is_empty()).then(|| format!("Soisy: {}", messages.join("; ")));
        (field, message)
    }
}

fn texts(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().flat_map(texts).collect(),
        Value::Null => Vec::new(),
        other => vec![other.to_string()],
    }
}

/// Soisy's callback (`application/x-www-form-urlencoded`): `eventId, eventMessage, eventDate,
/// orderToken, orderReference`. Unsigned.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Callback {
    #[serde(default)]
    pub event_id: Option<String>,
    #[serde(default)]
    pub event_message: Option<String>,
    #[serde(default)]
    pub order_token: Option<String>,
    #[serde(default)]
    pub order_reference: Option<String>,
}

/// In the CSV order list (`GET …/orders`, `Accept: text/csv`), the token of the last order made
/// for `reference`, read by column name (`soisyOrderReference`, `orderReference`).
pub fn token_in_csv(csv: &str, reference: &str) -> Option<String> {
    let mut rows = csv_rows(csv).into_iter();
    let header = rows.next()?;
    let column = |name: &str| header.iter().position(|h| h.trim() == name);
    let (token, order_ref) = (column("soisyOrderReference")?, column("orderReference")?);
    rows.filter(|row| row.get(order_ref).map(String::as_str) == Some(reference))
        .filter_map(|row| row.get(token).cloned())
        .rfind(|t| !t.is_empty())
}

/// RFC 4180 rows: quoted fields may hold commas, quotes (doubled) and line breaks.
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let (mut row, mut field) = (Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csv_list_is_read_by_column_with_quotes() {
        let csv = "soisyOrderReference,orderReference,firstName,status\r\n\
                   tok1,ref-1,Ada,cancelled\r\n\
                   tok2,\"ref,2\",\"Lo \"\"Ada\"\"\nLovelace\",quote\r\n\
                   tok3,ref-1,Ada,quote\r\n";
        assert_eq!(token_in_csv(csv, "ref-1").as_deref(), Some("tok3"));
        assert_eq!(token_in_csv(csv, "ref,2").as_deref(), Some("tok2"));
        assert_eq!(token_in_csv(csv, "ref-9"), None);
        assert_eq!(token_in_csv("", "ref-1"), None);
        assert_eq!(token_in_csv("a,b\nx,y", "x"), None);
    }

    #[test]
    fn errors_name_their_field() {
        let e: SoisyError =
            serde_json::from_str(r#"{"errors":{"amount":["must be an integer"]}}"#).unwrap();
        assert_eq!(
            e.read(),
            (
                Some("amount".into()),
                Some("Soisy: amount: must be an integer".into())
            )
        );
        let e: SoisyError = serde_json::from_str(r#"{"error":"Order not found"}"#).unwrap();
        assert_eq!(e.read(), (None, Some("Soisy: Order not found".into())));
        assert_eq!(SoisyError::default().read(), (None, None));
    }

    #[test]
    fn field_formats() {
        assert!(Format::Digits(5).check("20100").is_ok());
        assert!(Format::Digits(5).check("2010").is_err());
        assert!(Format::Upper(2).check("MI").is_ok());
        assert!(Format::Upper(2).check("mi").is_err());
        assert!(Format::Alnum(16).check("RSSMRA80A01F205X").is_ok());
        assert!(Format::Email.check("a b@c").is_err());
        assert_eq!(
            split_name("Ada  King Lovelace"),
            Some(("Ada", "King Lovelace"))
        );
        assert_eq!(split_name("Ada"), None);
    }
}
