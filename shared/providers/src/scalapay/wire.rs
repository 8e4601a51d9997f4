//! Scalapay's wire format (Orders API "3.0", paths under `/v2`): JSON bodies, money as
//! `{"amount":"190.00","currency":"EUR"}` with the amount a decimal string in major units.
//! Field names follow Scalapay's published OpenAPI and its PHP SDK.

use crate::ProviderError;
use pgm_core::wire::PayCommand;
use pgm_core::Money;
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// Scalapay's money object.
pub fn money(amount: Money) -> Value {
    json!({"amount": amount.to_decimal_string(), "currency": amount.currency().code()})
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> ProviderError {
    ProviderError::InvalidRequest {
        field: field.into(),
        message: message.into(),
    }
}

fn object(cmd: &PayCommand, name: &str) -> Option<Map<String, Value>> {
    cmd.provider_data
        .get(name)
        .and_then(Value::as_object)
        .cloned()
}

/// What Scalapay's OpenAPI requires of `consumer`, of the `shipping` address and of each item
/// (`POST /v2/orders`). Scalapay refuses an order lacking any of them, so the PGM names the
/// missing one before asking.
const CONSUMER_REQUIRED: [&str; 4] = ["givenNames", "surname", "email", "phoneNumber"];
const SHIPPING_REQUIRED: [&str; 6] = [
    "name",
    "countryCode",
    "postcode",
    "suburb",
    "line1",
    "phoneNumber",
];
const ITEM_REQUIRED_TEXT: [&str; 3] = ["name", "category", "sku"];

/// A value the merchant did not really send: absent, null or a blank string.
fn absent(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.trim().is_empty(),
        Some(_) => false,
    }
}

/// Each of `names` must be a non-blank string of `map`; the first that is not is named as
/// `{prefix}.{name}`.
fn require_text(
    map: &Map<String, Value>,
    names: &[&str],
    prefix: &str,
    what: &str,
) -> Result<(), ProviderError> {
    for name in names {
        let value = map.get(*name);
        if absent(value) {
            return Err(invalid(
                format!("{prefix}.{name}"),
                format!("is required by Scalapay ({what})"),
            ));
        }
        if !matches!(value, Some(Value::String(_))) {
            return Err(invalid(format!("{prefix}.{name}"), "must be a string"));
        }
    }
    Ok(())
}

/// The buyer: `providerData.consumer` as the merchant gives it (the PGM v3 contract), with
/// `buyerName` split into given names and surname when the consumer names neither, and
/// `buyerEmail` filling a missing email. The phone number has no v2 field: it comes only in
/// `providerData.consumer.phoneNumber`.
fn consumer(cmd: &PayCommand) -> Result<Value, ProviderError> {
    let given = object(cmd, "consumer");
    let sent_consumer = given.is_some();
    let mut consumer = given.unwrap_or_default();
    if absent(consumer.get("givenNames")) && absent(consumer.get("surname")) {
        let name = cmd.buyer_name.as_deref().map(str::trim).unwrap_or_default();
        match name.rsplit_once(char::is_whitespace) {
            Some((given, surname)) => {
                consumer.insert("givenNames".into(), json!(given.trim()));
                consumer.insert("surname".into(), json!(surname));
            }
            None if !sent_consumer => {
                return Err(invalid(
                    "providerData.consumer",
                    "Scalapay needs the buyer: providerData.consumer {givenNames, surname, email, phoneNumber}, \
                     or buyerName with given names and surname",
                ))
            }
            None => {}
        }
    }
    if let Some(email) = cmd.buyer_email.as_deref().filter(|e| !e.trim().is_empty()) {
        if absent(consumer.get("email")) {
            consumer.insert("email".into(), json!(email));
        }
    }
    require_text(
        &consumer,
        &CONSUMER_REQUIRED,
        "providerData.consumer",
        "the buyer's givenNames, surname, email (or buyerEmail) and phoneNumber",
    )?;
    Ok(Value::Object(consumer))
}

/// The shipping address, `providerData.shipping`, with every field Scalapay requires.
fn shipping(cmd: &PayCommand) -> Result<Value, ProviderError> {
    let shipping = object(cmd, "shipping").ok_or_else(|| {
        invalid(
            "providerData.shipping",
            "Scalapay needs the shipping address {name, countryCode, postcode, suburb, line1, phoneNumber}",
        )
    })?;
    require_text(
        &shipping,
        &SHIPPING_REQUIRED,
        "providerData.shipping",
        "the shipping address {name, countryCode, postcode, suburb, line1, phoneNumber}",
    )?;
    Ok(Value::Object(shipping))
}

/// `providerData.items` as the merchant gives them: each with name, category, sku, quantity and
/// price {amount, currency}, as Scalapay requires. Their formats are Scalapay's to judge.
fn given_items(items: &[Value]) -> Result<Vec<Value>, ProviderError> {
    const WHAT: &str = "each item needs name, category, sku, quantity and price {amount, currency}";
    for (i, item) in items.iter().enumerate() {
        let at = format!("providerData.items[{i}]");
        let Some(item) = item.as_object() else {
            return Err(invalid(at, "must be an object"));
        };
        require_text(item, &ITEM_REQUIRED_TEXT, &at, WHAT)?;
        if absent(item.get("quantity")) {
            return Err(invalid(
                format!("{at}.quantity"),
                format!("is required by Scalapay ({WHAT})"),
            ));
        }
        let price = match item.get("price") {
            Some(Value::Object(price)) => price,
            value if absent(value) => {
                return Err(invalid(
                    format!("{at}.price"),
                    format!("is required by Scalapay ({WHAT})"),
                ))
            }
            _ => {
                return Err(invalid(
                    format!("{at}.price"),
                    "must be an object {amount, currency}",
                ))
            }
        };
        for name in ["amount", "currency"] {
            if absent(price.get(name)) {
                return Err(invalid(
                    format!("{at}.price.{name}"),
                    format!("is required by Scalapay ({WHAT})"),
                ));
            }
        }
    }
    Ok(items.to_vec())
}

/// What was bought: `providerData.items` as given, else the pay request's `products[]`
/// (`{"name", "amount" (unit price), "quantity", "sku", "category"}`), else one line for the
/// whole amount.
fn items(cmd: &PayCommand) -> Result<Vec<Value>, ProviderError> {
    if let Some(items) = cmd.provider_data.get("items").and_then(Value::as_array) {
        if !items.is_empty() {
            return given_items(items);
        }
    }
    let currency = cmd.amount.currency();
    if cmd.products.is_empty() {
        let name = cmd
            .provider_data
            .get("productName")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| format!("Order {}", cmd.shop_transaction_id));
        return Ok(vec![json!({
            "name": name,
            "category": "general",
            "sku": cmd.shop_transaction_id,
            "quantity": 1,
            "price": money(cmd.amount),
        })]);
    }
    cmd.products
        .iter()
        .enumerate()
        .map(|(i, product)| {
            let field = |name: &str| format!("products[{i}].{name}");
            let text = |name: &str| {
                product
                    .get(name)
                    .and_then(Value::as_str)
                    .filter(|s| !s.trim().is_empty())
            };
            let name =
                text("name").ok_or_else(|| invalid(field("name"), "every product needs a name"))?;
            let amount = text("amount").ok_or_else(|| {
                invalid(
                    field("amount"),
                    "the unit price, as a decimal string such as \"5.00\"",
                )
            })?;
            let price = Money::parse_decimal(amount, currency)
                .map_err(|e| invalid(field("amount"), e.to_string()))?;
            let quantity = match product.get("quantity") {
                None | Some(Value::Null) => 1,
                Some(q) => q
                    .as_i64()
                    .filter(|q| (1..=10_000).contains(q))
                    .ok_or_else(|| {
                        invalid(field("quantity"), "must be a whole number from 1 to 10000")
                    })?,
            };
            Ok(json!({
                "name": name,
                "category": text("category").unwrap_or("general"),
                "sku": text("sku").map(str::to_owned).unwrap_or_else(|| format!("item-{}", i + 1)),
                "quantity": quantity,
                "price": money(price),
            }))
        })
        .collect()
}

/// The body of `POST /v2/orders`. `merchantReference` is our shopTransactionID, which is also
/// how a lost order is found again (`GET /v2/payments/references`).
pub fn order(
    cmd: &PayCommand,
    confirm_url: &str,
    cancel_url: &str,
) -> Result<Value, ProviderError> {
    let shipping = shipping(cmd)?;
    let consumer = consumer(cmd)?;
    let mut body = Map::new();
    body.insert("totalAmount".into(), money(cmd.amount));
    body.insert("consumer".into(), consumer);
    body.insert("shipping".into(), shipping);
    body.insert("items".into(), Value::Array(items(cmd)?));
    body.insert(
        "merchant".into(),
        json!({"redirectConfirmUrl": confirm_url, "redirectCancelUrl": cancel_url}),
    );
    body.insert("merchantReference".into(), json!(cmd.shop_transaction_id));
    body.insert("type".into(), json!("online"));
    // Optional order fields the merchant may pass through as they are documented.
    for name in [
        "billing",
        "product",
        "frequency",
        "orderExpiryMilliseconds",
        "discounts",
    ] {
        if let Some(value) = cmd.provider_data.get(name).filter(|v| !v.is_null()) {
            body.insert(name.into(), value.clone());
        }
    }
    Ok(Value::Object(body))
}

/// `POST /v2/orders` → `{token, expires, checkoutUrl}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderCreated {
    pub token: String,
    #[serde(default)]
    pub checkout_url: Option<String>,
}

/// `GET /v2/payments/{token}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderDetails {
    pub token: String,
    /// `created`, `pending`, `authorized`, `approved`, `charged`, `refunded`, `expired`, … (the
    /// list may grow, Scalapay warns).
    #[serde(default)]
    pub status: Option<String>,
    /// `pending` until captured, then `captured`.
    #[serde(default)]
    pub capture_status: Option<String>,
    /// Why the buyer was refused (`DECLINED_FRAUD`, …).
    #[serde(default)]
    pub last_eligibility_feedback: Option<String>,
}

/// `POST /v2/payments/capture` → `{token, status: "APPROVED", …}`.
#[derive(Debug, Clone, Deserialize)]
pub struct Captured {
    #[serde(default)]
    pub status: Option<String>,
}

/// `POST /v2/payments/{token}/refund` → `{token, amount, refundToken, refundedAt, …}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Refunded {
    #[serde(default)]
    pub refund_token: Option<String>,
}

/// One entry of `GET /v2/payments/references`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reference {
    pub order_token: String,
}

/// `{"errorCode","errorId","message","httpStatusCode"}`; `message` is a string, or an object
/// listing the fields that failed validation.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub message: Option<Value>,
}

impl ErrorBody {
    /// A readable message: the text, or `field.path: message; …` for validation errors.
    pub fn text(&self) -> Option<String> {
        match &self.message {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Object(m)) => {
                let errors = m.get("errors")?.as_array()?;
                let parts: Vec<String> = errors
                    .iter()
                    .map(|e| {
                        let field = e
                            .get("field")
                            .and_then(Value::as_array)
                            .map(|f| {
                                f.iter()
                                    .filter_map(Value::as_str)
                                    .collect::<Vec<_>>()
                                    .join(".")
                            })
                            .unwrap_or_default();
                        let messages = e
                            .get("messages")
                            .and_then(Value::as_array)
                            .map(|m| {
                                m.iter()
                                    .filter_map(Value::as_str)
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            })
                            .unwrap_or_default();
                        format!("{field}: {messages}")
                    })
                    .collect();
                (!parts.is_empty()).then(|| parts.join("; "))
            }
            _ => None,
        }
    }
}

/// A webhook: `{"totalAmount", "status", "orderToken", "merchantReference", …}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub order_token: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub merchant_reference: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgm_core::wire::PayRequest;

    fn cmd(extra: &str) -> PayCommand {
        let json = format!(r#"{{"amount":"7.50","shopTransactionID":"o1"{extra}}}"#);
        serde_json::from_str::<PayRequest>(&json)
            .unwrap()
            .validate("scalapay", false)
            .unwrap()
    }

    const SHIPPING: &str = r#""shipping":{"name":"Ada","countryCode":"IT","postcode":"20100","suburb":"Milano","line1":"Via Roma 1","phoneNumber":"+393331234567"},"consumer":{"phoneNumber":"+393331234567"}"#;

    #[test]
    fn builds_the_documented_order() {
        let body = order(
            &cmd(&format!(r#","buyerName":"Ada Maria Lovelace","buyerEmail":"ada@example.com","providerData":{{{SHIPPING}}}"#)),
            "https://shop/ok",
            "https://shop/ko",
        )
        .unwrap();
        assert_eq!(
            body["totalAmount"],
            json!({"amount": "7.50", "currency": "EUR"})
        );
        assert_eq!(
            body["consumer"],
            json!({"givenNames": "Ada Maria", "surname": "Lovelace", "email": "ada@example.com",
                   "phoneNumber": "+393331234567"})
        );
        assert_eq!(
            body["items"][0]["price"],
            json!({"amount": "7.50", "currency": "EUR"})
        );
        assert_eq!(body["merchant"]["redirectConfirmUrl"], "https://shop/ok");
        assert_eq!(body["merchantReference"], "o1");
    }

    #[test]
    fn names_what_scalapay_needs_and_the_request_lacks() {
        let no_shipping = order(
            &cmd(r#","buyerName":"Ada Lovelace""#),
            "https://a",
            "https://b",
        );
        assert!(
            matches!(no_shipping, Err(ProviderError::InvalidRequest { field, .. }) if field == "providerData.shipping")
        );
        let one_name = order(
            &cmd(&format!(
                r#","buyerName":"Ada","providerData":{{{SHIPPING}}}"#
            )),
            "https://a",
            "https://b",
        );
        assert!(
            matches!(one_name, Err(ProviderError::InvalidRequest { field, .. }) if field == "providerData.consumer.givenNames")
        );
    }

    #[test]
    fn reads_validation_errors() {
        let body: ErrorBody = serde_json::from_value(json!({
            "errorCode": "api_validationerror",
            "message": {"errors": [{"field": ["totalAmount", "amount"], "messages": ["\"amount\" is not allowed to be empty"]}]}
        }))
        .unwrap();
        assert_eq!(
            body.text().unwrap(),
            "totalAmount.amount: \"amount\" is not allowed to be empty"
        );
    }
}
