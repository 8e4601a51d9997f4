//! Stripe's wire format: requests are `application/x-www-form-urlencoded` with bracket notation
//! (`line_items[0][price_data][unit_amount]=500`), amounts are integers of the currency's
//! smallest unit and currencies are lower case; answers are JSON objects, of which we read only
//! the fields below. Parameter names follow Stripe's API reference (checked against the
//! stripe-dotnet SDK, which is generated from Stripe's OpenAPI spec).

use crate::kit::invalid;
use crate::ProviderError;
use pgm_core::wire::PayCommand;
use pgm_core::Money;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// Form parameters in the order they are sent. Names carry their brackets; reqwest
/// percent-encodes them, which Stripe decodes like any form body.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Form(Vec<(String, String)>);

impl Form {
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push((name.into(), value.into()));
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }
}

/// One line of a Checkout Session, in the payment's currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineItem {
    pub name: String,
    pub unit_amount: Money,
    pub quantity: i64,
}

impl LineItem {
    pub fn write(&self, index: usize, form: &mut Form) {
        let at = |rest: &str| format!("line_items[{index}]{rest}");
        form.push(
            at("[price_data][currency]"),
            self.unit_amount.currency().code().to_ascii_lowercase(),
        );
        form.push(
            at("[price_data][unit_amount]"),
            self.unit_amount.minor().to_string(),
        );
        form.push(at("[price_data][product_data][name]"), self.name.clone());
        form.push(at("[quantity]"), self.quantity.to_string());
    }
}

/// The lines the buyer sees: the pay request's `products[]` when given (each
/// `{"name", "amount" (unit price, decimal string), "quantity" (default 1)}`), else one line for
/// the whole amount named `providerData.productName` or after the order. The products must add
/// up to the amount exactly: Stripe charges what the lines add up to, and the PGM must know what
/// was charged.
pub fn line_items(cmd: &PayCommand) -> Result<Vec<LineItem>, ProviderError> {
    if cmd.products.is_empty() {
        let name = cmd
            .provider_data
            .get("productName")
            .and_then(Value::as_str)
            .filter(|n| !n.trim().is_empty())
            .map(str::to_owned)
            .unwrap_or_else(|| format!("Order {}", cmd.shop_transaction_id));
        return Ok(vec![LineItem {
            name,
            unit_amount: cmd.amount,
            quantity: 1,
        }]);
    }
    let currency = cmd.amount.currency();
    let mut items = Vec::with_capacity(cmd.products.len());
    let mut total: i64 = 0;
    for (i, product) in cmd.products.iter().enumerate() {
        let field = |name: &str| format!("products[{i}].{name}");
        let name = product
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| invalid(&field("name"), "every product needs a name"))?;
        let amount = product
            .get("amount")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                invalid(
                    &field("amount"),
                    "the unit price, as a decimal string such as \"5.00\"",
                )
            })?;
        let unit_amount = Money::parse_decimal(amount, currency)
            .map_err(|e| invalid(&field("amount"), e.to_string()))?;
        let quantity = match product.get("quantity") {
            None | Some(Value::Null) => 1,
            Some(q) => q
                .as_i64()
                .filter(|q| (1..=10_000).contains(q))
                .ok_or_else(|| {
                    invalid(&field("quantity"), "must be a whole number from 1 to 10000")
                })?,
        };
        total = unit_amount
            .minor()
            .checked_mul(quantity)
            .and_then(|line| total.checked_add(line))
            .ok_or_else(|| invalid("products", "the products add up to too much"))?;
        items.push(LineItem {
            name: name.to_owned(),
            unit_amount,
            quantity,
        });
    }
    if total != cmd.amount.minor() {
        let sum = Money::from_minor(total, currency)
            .map(|m| m.to_string())
            .unwrap_or_else(|_| "too much".into());
        return Err(invalid(
            "products",
            format!(
                "the products add up to {sum}, not the amount {}",
                cmd.amount
            ),
        ));
    }
    Ok(items)
}

/// A Checkout Session (`object: "checkout.session"`).
#[derive(Debug, Clone, Deserialize)]
pub struct CheckoutSession {
    pub id: String,
    /// The hosted page; present only while the session is `open`.
    #[serde(default)]
    pub url: Option<String>,
    /// `open`, `complete` or `expired`.
    #[serde(default)]
    pub status: Option<String>,
    /// `unpaid`, `paid` or `no_payment_required`.
    #[serde(default)]
    pub payment_status: Option<String>,
    /// The PaymentIntent's id, or the object itself when asked with `expand[]=payment_intent`.
    /// Null until the buyer pays, on recent API versions.
    #[serde(default)]
    pub payment_intent: Option<IntentRef>,
}

impl CheckoutSession {
    pub fn intent_id(&self) -> Option<&str> {
        match &self.payment_intent {
            Some(IntentRef::Id(id)) => Some(id),
            Some(IntentRef::Expanded(pi)) => Some(&pi.id),
            None => None,
        }
    }

    pub fn expanded_intent(&self) -> Option<&PaymentIntent> {
        match &self.payment_intent {
            Some(IntentRef::Expanded(pi)) => Some(pi),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum IntentRef {
    Id(String),
    Expanded(PaymentIntent),
}

/// A PaymentIntent (`object: "payment_intent"`).
#[derive(Debug, Clone, Deserialize)]
pub struct PaymentIntent {
    pub id: String,
    /// `requires_payment_method`, `requires_confirmation`, `requires_action`, `processing`,
    /// `requires_capture`, `canceled` or `succeeded`.
    pub status: String,
    /// Minor units captured: less than `amount` after a partial capture.
    #[serde(default)]
    pub amount_received: Option<i64>,
    /// `automatic`, `automatic_async` or `manual`: tells a released authorisation (`canceled`
    /// after `manual`) from a payment that never went through.
    #[serde(default)]
    pub capture_method: Option<String>,
}

/// A Refund (`object: "refund"`).
#[derive(Debug, Clone, Deserialize)]
pub struct Refund {
    pub id: String,
    /// `pending`, `requires_action`, `succeeded`, `failed` or `canceled`.
    #[serde(default)]
    pub status: Option<String>,
    /// Ours carry `pgm_refund_id` and `pgm_shop_transaction_id`.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Why a `failed` refund failed (`declined`, `expired_or_canceled_card`, …).
    #[serde(default)]
    pub failure_reason: Option<String>,
}

/// A page of `GET /v1/refunds` (`object: "list"`), newest first.
#[derive(Debug, Clone, Deserialize)]
pub struct RefundList {
    pub data: Vec<Refund>,
    #[serde(default)]
    pub has_more: bool,
}

/// `{"error": {"type", "code", "param", "message"}}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ErrorDetail {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// A webhook event: `{"id":"evt_…","object":"event","type":…,"data":{"object":{…}}}`.
#[derive(Debug, Clone, Deserialize)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: String,
    pub data: EventData,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EventData {
    pub object: Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgm_core::wire::PayRequest;

    fn cmd(json: &str) -> PayCommand {
        serde_json::from_str::<PayRequest>(json)
            .unwrap()
            .validate("stripe", false)
            .unwrap()
    }

    #[test]
    fn one_line_for_the_amount_without_products() {
        let items = line_items(&cmd(r#"{"amount":"12.34","shopTransactionID":"o1"}"#)).unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].unit_amount.minor(), 1234);
        assert_eq!(items[0].name, "Order o1");
        let mut form = Form::default();
        items[0].write(0, &mut form);
        assert_eq!(
            form.pairs()[0],
            (
                "line_items[0][price_data][currency]".to_owned(),
                "eur".to_owned()
            )
        );
        assert_eq!(
            form.pairs()[1],
            (
                "line_items[0][price_data][unit_amount]".to_owned(),
                "1234".to_owned()
            )
        );
    }

    #[test]
    fn products_must_add_up_to_the_amount() {
        let ok = cmd(r#"{"amount":"12.00","shopTransactionID":"o1","products":[
                {"name":"Tea","amount":"3.00","quantity":2},{"name":"Cup","amount":"6.00"}]}"#);
        let items = line_items(&ok).unwrap();
        assert_eq!(
            items.iter().map(|i| i.quantity).collect::<Vec<_>>(),
            vec![2, 1]
        );
        let short = cmd(
            r#"{"amount":"12.00","shopTransactionID":"o1","products":[{"name":"Tea","amount":"3.00"}]}"#,
        );
        assert!(
            matches!(line_items(&short), Err(ProviderError::InvalidRequest { field, .. }) if field == "products")
        );
        let float = cmd(
            r#"{"amount":"3.00","shopTransactionID":"o1","products":[{"name":"Tea","amount":3.0}]}"#,
        );
        assert!(
            matches!(line_items(&float), Err(ProviderError::InvalidRequest { field, .. }) if field == "products[0].amount")
        );
    }
}
