//! The v2 wire types (camelCase JSON, amounts as decimal strings) and their validation into
//! commands the rest of the system can trust.

use crate::money::{Currency, Money, MoneyError};
use crate::schema::{CurrencyCode, HttpUrl, Id, Metadata, PositiveAmount, WireAmount};
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// A client mistake, naming the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: &str, message: impl Into<String>) -> ValidationError {
        ValidationError {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

fn money_error(field: &str, e: MoneyError) -> ValidationError {
    ValidationError::new(field, e.to_string())
}

/// Longest shopTransactionID we accept: keys stay small and every provider's limit is above it.
pub const MAX_ID_LEN: usize = 128;

/// Our ids go into storage keys, URLs and provider fields: visible ASCII only, no spaces.
pub fn validate_id(field: &str, value: &str) -> Result<(), ValidationError> {
    if value.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if value.len() > MAX_ID_LEN {
        return Err(ValidationError::new(
            field,
            format!("must be at most {MAX_ID_LEN} characters"),
        ));
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ValidationError::new(
            field,
            "may only contain visible ASCII characters (no spaces)",
        ));
    }
    Ok(())
}

fn parse_currency(currency: Option<&str>) -> Result<Currency, ValidationError> {
    match currency {
        None => Ok(Currency::EUR),
        Some(code) => Currency::parse(code).map_err(|e| money_error("currency", e)),
    }
}

fn validate_url(field: &str, url: &Option<String>) -> Result<(), ValidationError> {
    if let Some(url) = url {
        let ok = (url.starts_with("https://") || url.starts_with("http://"))
            && url.len() <= 2048
            && !url.chars().any(|c| c.is_whitespace() || c.is_control());
        if !ok {
            return Err(ValidationError::new(field, "must be an http(s) URL"));
        }
    }
    Ok(())
}

/// Recurring payments. A first instalment (isFirstInstallment true, or no token given) is
/// charged like a pay and answers a `recurrenceToken`; later instalments send that token (or
/// the first payment's paymentID as previousPaymentID). Unknown fields are ignored.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecurrenceDetails {
    #[serde(default)]
    pub is_first_installment: Option<bool>,
    #[serde(default)]
    pub expires_on: Option<String>,
    #[serde(default)]
    pub installment_amount: Option<String>,
    #[serde(default)]
    pub installment_frequency_in_days: Option<u32>,
    /// The first instalment's paymentID (also accepted as `previousPaymentId`).
    #[serde(default, rename = "previousPaymentID", alias = "previousPaymentId")]
    pub previous_payment_id: Option<String>,
    /// The token the first instalment's answer gave.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub recurrence_token: Option<Secret>,
}

/// The body of `POST /{provider}/{method}/pay` and `/pay/recurrent`. Only `amount` and
/// `shopTransactionID` are always required; the rest depends on the provider. Unknown fields
/// are ignored. On `/pay/recurrent`, `recurrenceDetails` is required and the amount may be
/// zero (card verification for a first instalment).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PayRequest {
    #[schema(value_type = PositiveAmount)]
    pub amount: String,
    /// The merchant's id of the payment; the idempotency key of pay. Also accepted as
    /// `shopTransactionId`.
    #[serde(rename = "shopTransactionID", alias = "shopTransactionId")]
    #[schema(value_type = Id)]
    pub shop_transaction_id: String,
    /// Defaults to EUR.
    #[serde(default)]
    #[schema(value_type = Option<CurrencyCode>)]
    pub currency: Option<String>,
    /// The card token (sandbox: `tok_ok`, `tok_ko`, `tok_3ds`, `tok_pending`, `tok_unavailable`).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub credit_card_token: Option<Secret>,
    #[serde(default)]
    pub buyer_name: Option<String>,
    #[serde(default)]
    #[schema(max_length = 254, pattern = "@")]
    pub buyer_email: Option<String>,
    /// Where the buyer's browser goes after a successful redirect flow.
    #[serde(default)]
    #[schema(value_type = Option<HttpUrl>)]
    pub success_redirect: Option<String>,
    /// Where the buyer's browser goes after a failed or abandoned redirect flow.
    #[serde(default)]
    #[schema(value_type = Option<HttpUrl>)]
    pub failure_redirect: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<HttpUrl>)]
    pub server_redirect: Option<String>,
    /// Braintree: `nonce`, `deviceData`, `customerId`, `storeInVault`, `vaulted`.
    #[serde(default)]
    pub brain_tree_data_request: Option<Map<String, Value>>,
    #[serde(default)]
    pub products: Option<Vec<Value>>,
    #[serde(default)]
    pub pay_pal_description: Option<String>,
    #[serde(default)]
    pub recurrence_details: Option<RecurrenceDetails>,
    /// Provider-specific fields (e.g. Scalapay's `shipping`, `consumer`).
    #[serde(default)]
    pub provider_data: Option<Map<String, Value>>,
    /// ext: echoed in every notification. At most 50 entries, keys up to 64 and values up to
    /// 512 characters.
    #[serde(default)]
    #[schema(value_type = Option<Metadata>)]
    pub metadata: Option<BTreeMap<String, String>>,
}

/// A validated pay request, as providers receive it.
#[derive(Debug, Clone)]
pub struct PayCommand {
    pub shop_transaction_id: String,
    pub method: String,
    pub amount: Money,
    pub card_token: Option<Secret>,
    pub buyer_name: Option<String>,
    pub buyer_email: Option<String>,
    pub success_redirect: Option<String>,
    pub failure_redirect: Option<String>,
    pub server_redirect: Option<String>,
    pub braintree: Option<Map<String, Value>>,
    pub products: Vec<Value>,
    pub paypal_description: Option<String>,
    pub recurrence: Option<RecurrenceDetails>,
    pub provider_data: Map<String, Value>,
    pub metadata: BTreeMap<String, String>,
    /// Attempt number of this pay on the payment; with the id it makes the provider-side
    /// idempotency key, so a retried call is one charge.
    pub attempt: u32,
}

impl PayCommand {
    /// The key we give providers that support idempotent requests.
    pub fn idempotency_key(&self) -> String {
        format!("pgm-{}-{}", self.shop_transaction_id, self.attempt)
    }
}

pub const MAX_METADATA_ENTRIES: usize = 50;

impl PayRequest {
    pub fn validate(self, method: &str, recurrent: bool) -> Result<PayCommand, ValidationError> {
        validate_id("shopTransactionID", &self.shop_transaction_id)?;
        let currency = parse_currency(self.currency.as_deref())?;
        let amount =
            Money::parse_decimal(&self.amount, currency).map_err(|e| money_error("amount", e))?;
        if amount.is_zero() && !recurrent {
            return Err(ValidationError::new("amount", "must be greater than zero"));
        }
        if recurrent && self.recurrence_details.is_none() {
            return Err(ValidationError::new(
                "recurrenceDetails",
                "is required for recurrent payments",
            ));
        }
        validate_url("successRedirect", &self.success_redirect)?;
        validate_url("failureRedirect", &self.failure_redirect)?;
        validate_url("serverRedirect", &self.server_redirect)?;
        let metadata = self.metadata.unwrap_or_default();
        if metadata.len() > MAX_METADATA_ENTRIES
            || metadata.iter().any(|(k, v)| k.len() > 64 || v.len() > 512)
        {
            return Err(ValidationError::new(
                "metadata",
                "at most 50 entries, keys up to 64 and values up to 512 characters",
            ));
        }
        if let Some(email) = &self.buyer_email {
            if !email.contains('@') || email.len() > 254 {
                return Err(ValidationError::new(
                    "buyerEmail",
                    "must be an e-mail address",
                ));
            }
        }
        Ok(PayCommand {
            shop_transaction_id: self.shop_transaction_id,
            method: method.to_owned(),
            amount,
            card_token: self.credit_card_token.filter(|t| !t.is_empty()),
            buyer_name: self.buyer_name,
            buyer_email: self.buyer_email,
            success_redirect: self.success_redirect,
            failure_redirect: self.failure_redirect,
            server_redirect: self.server_redirect,
            braintree: self.brain_tree_data_request,
            products: self.products.unwrap_or_default(),
            paypal_description: self.pay_pal_description,
            recurrence: self.recurrence_details,
            provider_data: self.provider_data.unwrap_or_default(),
            metadata,
            attempt: 1,
        })
    }
}

/// OK: authorised or captured. KO: declined (final). REDIRECT_TO_URL: send the buyer to
/// `redirectToUrl` (3DS, wallet, hosted page); the outcome comes by notification and
/// `/status`. PENDING (ext): the outcome is not known yet; never a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PayResult {
    Ok,
    Ko,
    RedirectToUrl,
    /// ext: the outcome is not known yet (provider unreachable, or a payment the provider
    /// settles later). Never a failure: `/status`, `/check` and the notification settle it.
    Pending,
}

/// The answer to pay. A provider's decline is not an error: it is a 200 with `result: KO`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PayResponse {
    pub result: PayResult,
    pub result_description: String,
    #[serde(rename = "paymentID")]
    #[schema(required = true)]
    pub payment_id: Option<String>,
    #[schema(required = true)]
    pub redirect_to_url: Option<String>,
    #[schema(required = true)]
    pub redirect_to_url_mobile: Option<String>,
    /// ext: for recurrent payments, the token later instalments use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurrence_token: Option<String>,
}

/// How confirm, refund and check name a payment: by the merchant's id or by the provider's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentRef {
    ShopTransactionId(String),
    PaymentId(String),
}

fn payment_ref(
    shop_transaction_id: Option<String>,
    payment_id: Option<String>,
) -> Result<PaymentRef, ValidationError> {
    match (shop_transaction_id, payment_id) {
        (Some(id), _) => {
            validate_id("shopTransactionID", &id)?;
            Ok(PaymentRef::ShopTransactionId(id))
        }
        (None, Some(id)) => {
            validate_id("paymentID", &id)?;
            Ok(PaymentRef::PaymentId(id))
        }
        (None, None) => Err(ValidationError::new(
            "shopTransactionID",
            "shopTransactionID or paymentID is required",
        )),
    }
}

/// The body of `POST /{provider}/{method}/confirm` and `/refund`. Names the payment by
/// `shopTransactionID` (preferred when both are given) or by `paymentID`. Without `amount`,
/// confirm captures the whole authorisation and refund refunds what remains. The amount's
/// decimals must fit the payment's currency. Unknown fields are ignored.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmRefundRequest {
    /// Also accepted as `shopTransactionId`.
    #[serde(default, rename = "shopTransactionID", alias = "shopTransactionId")]
    #[schema(value_type = Option<Id>)]
    pub shop_transaction_id: Option<String>,
    /// Also accepted as `paymentId`.
    #[serde(default, rename = "paymentID", alias = "paymentId")]
    #[schema(value_type = Option<Id>)]
    pub payment_id: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<PositiveAmount>)]
    pub amount: Option<String>,
}

/// A validated confirm or refund. The amount's currency is the payment's, so it is parsed
/// once the payment is loaded: see [`PaymentAmountCommand::amount_in`].
#[derive(Debug, Clone)]
pub struct PaymentAmountCommand {
    pub payment: PaymentRef,
    pub amount: Option<String>,
}

impl ConfirmRefundRequest {
    pub fn validate(self) -> Result<PaymentAmountCommand, ValidationError> {
        let payment = payment_ref(self.shop_transaction_id, self.payment_id)?;
        if let Some(amount) = &self.amount {
            // Syntax is checked now, against the widest exponent, so bad input fails before
            // any lookup; the exact exponent is checked in `amount_in`.
            Money::parse_decimal(amount, Currency::parse("KWD").expect("known"))
                .map_err(|e| money_error("amount", e))?;
        }
        Ok(PaymentAmountCommand {
            payment,
            amount: self.amount,
        })
    }
}

impl PaymentAmountCommand {
    pub fn amount_in(&self, currency: Currency) -> Result<Option<Money>, ValidationError> {
        match &self.amount {
            None => Ok(None),
            Some(text) => {
                let amount =
                    Money::parse_decimal(text, currency).map_err(|e| money_error("amount", e))?;
                if amount.is_zero() {
                    return Err(ValidationError::new("amount", "must be greater than zero"));
                }
                Ok(Some(amount))
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum OkKo {
    Ok,
    Ko,
}

/// Where a refund stands at the provider (the refund answer's ext `refundStatus`, and what a
/// provider adapter reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RefundStatus {
    /// The money went back: counted as refunded.
    Succeeded,
    /// Accepted, but the provider completes it later (Stripe's `pending` and `requires_action`):
    /// its amount stays reserved, neither refundable again nor counted as refunded, until a
    /// webhook, `/check` or the reconciler learns how it ended.
    Pending,
    /// It will not happen (declined, failed, canceled): its amount is refundable again.
    Failed,
}

impl RefundStatus {
    /// For providers whose refunds end at once, one way or the other.
    pub fn settled(succeeded: bool) -> RefundStatus {
        if succeeded {
            RefundStatus::Succeeded
        } else {
            RefundStatus::Failed
        }
    }
}

/// The answer to refund (and to `session/refund`'s payment-route twin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefundResponse {
    /// `OK` when the provider took the refund (done or pending), `KO` when it did not.
    pub result: OkKo,
    pub result_description: String,
    /// ext: the PGM's id of this refund (stable across retries with the same
    /// Idempotency-Key).
    #[serde(rename = "refundID")]
    pub refund_id: String,
    /// What this refund gave back: nothing while pending or after a failure.
    #[schema(value_type = WireAmount)]
    pub refunded_amount: String,
    /// What can still be refunded.
    #[schema(value_type = WireAmount)]
    pub remaining_amount: String,
    /// ext: `SUCCEEDED`, `PENDING` (the merchant is notified when it ends) or `FAILED`.
    /// Absent only in answers stored by earlier versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_status: Option<RefundStatus>,
}

/// The answer to confirm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmResponse {
    pub result: OkKo,
    pub result_description: String,
    /// ext: captured so far.
    #[schema(value_type = WireAmount)]
    pub captured_amount: String,
}

/// Query of `/check` and `/status`: `shopTransactionId` or `paymentId` (either spelling of ID).
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LookupQuery {
    /// The merchant's id of the payment (also accepted as `shopTransactionID`, but not both
    /// spellings at once). One of shopTransactionId and paymentId is required;
    /// shopTransactionId wins when both are given.
    #[serde(default, rename = "shopTransactionId", alias = "shopTransactionID")]
    #[param(value_type = Option<Id>)]
    pub shop_transaction_id: Option<String>,
    /// The provider's id of the payment (also accepted as `paymentID`).
    #[serde(default, rename = "paymentId", alias = "paymentID")]
    #[param(value_type = Option<Id>)]
    pub payment_id: Option<String>,
}

impl LookupQuery {
    pub fn validate(self) -> Result<PaymentRef, ValidationError> {
        payment_ref(self.shop_transaction_id, self.payment_id)
    }
}

/// The answer to `/status` and `/check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusResponse {
    pub status: crate::payment::ApiStatus,
    /// ext: the finer state (`AUTHORIZED`, `CAPTURED`, …).
    pub state: crate::payment::PaymentState,
    /// ext
    #[serde(rename = "paymentID")]
    #[schema(required = true)]
    pub payment_id: Option<String>,
    /// ext
    #[serde(rename = "shopTransactionID")]
    pub shop_transaction_id: String,
    /// ext
    #[schema(value_type = WireAmount)]
    pub amount: String,
    /// ext
    #[schema(value_type = CurrencyCode)]
    pub currency: String,
    /// ext
    #[schema(value_type = WireAmount)]
    pub captured_amount: String,
    /// ext
    #[schema(value_type = WireAmount)]
    pub refunded_amount: String,
}

/// The body of `POST /{provider}/session/open`. Idempotent on `shopTransactionID`, like pay.
/// Unknown fields are ignored.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionOpenRequest {
    /// Also accepted as `shopTransactionId`.
    #[serde(rename = "shopTransactionID", alias = "shopTransactionId")]
    #[schema(value_type = Id)]
    pub shop_transaction_id: String,
    #[schema(value_type = PositiveAmount)]
    pub amount: String,
    /// Defaults to EUR.
    #[serde(default)]
    #[schema(value_type = Option<CurrencyCode>)]
    pub currency: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SessionOpenCommand {
    pub shop_transaction_id: String,
    pub amount: Money,
}

impl SessionOpenRequest {
    pub fn validate(self) -> Result<SessionOpenCommand, ValidationError> {
        validate_id("shopTransactionID", &self.shop_transaction_id)?;
        let currency = parse_currency(self.currency.as_deref())?;
        let amount =
            Money::parse_decimal(&self.amount, currency).map_err(|e| money_error("amount", e))?;
        if amount.is_zero() {
            return Err(ValidationError::new("amount", "must be greater than zero"));
        }
        Ok(SessionOpenCommand {
            shop_transaction_id: self.shop_transaction_id,
            amount,
        })
    }
}

/// The answer to `session/open`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionOpenResponse {
    pub session_token: String,
    #[serde(rename = "shopTransactionID")]
    pub shop_transaction_id: String,
    #[schema(value_type = WireAmount)]
    pub amount: String,
    #[schema(value_type = CurrencyCode)]
    pub currency: String,
    /// Where the buyer completes the payment, when the provider hosts a page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_to_url: Option<String>,
}

/// The body of `POST /{provider}/session/confirm|void|refund|check`: names the session by its
/// token. `amount` (confirm, refund) defaults to the whole remaining amount. Unknown fields are
/// ignored.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionRequest {
    #[schema(value_type = Id)]
    pub session_token: String,
    #[serde(default)]
    #[schema(value_type = Option<PositiveAmount>)]
    pub amount: Option<String>,
}

impl SessionRequest {
    pub fn validate(self) -> Result<PaymentAmountCommand, ValidationError> {
        validate_id("sessionToken", &self.session_token)?;
        ConfirmRefundRequest {
            shop_transaction_id: None,
            payment_id: Some(self.session_token),
            amount: self.amount,
        }
        .validate()
        .map_err(|e| match e.field.as_str() {
            "paymentID" => ValidationError::new("sessionToken", e.message),
            _ => e,
        })
    }
}

/// The answer to `session/confirm|void|refund|check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionResponse {
    pub result: OkKo,
    pub result_description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<crate::payment::ApiStatus>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pay(json: &str) -> Result<PayCommand, ValidationError> {
        serde_json::from_str::<PayRequest>(json)
            .unwrap()
            .validate("credit-cards", false)
    }

    #[test]
    fn pay_validation_names_the_field() {
        assert!(pay(r#"{"amount":"5.00","shopTransactionID":"a1"}"#).is_ok());
        for (body, field) in [
            (r#"{"amount":"5.001","shopTransactionID":"a1"}"#, "amount"),
            (r#"{"amount":"0","shopTransactionID":"a1"}"#, "amount"),
            (r#"{"amount":"1e3","shopTransactionID":"a1"}"#, "amount"),
            (
                r#"{"amount":"5.00","shopTransactionID":""}"#,
                "shopTransactionID",
            ),
            (
                r#"{"amount":"5.00","shopTransactionID":"a b"}"#,
                "shopTransactionID",
            ),
            (
                r#"{"amount":"5.00","shopTransactionID":"a","currency":"eur"}"#,
                "currency",
            ),
            (
                r#"{"amount":"5.00","shopTransactionID":"a","successRedirect":"javascript:x"}"#,
                "successRedirect",
            ),
        ] {
            assert_eq!(pay(body).unwrap_err().field, field, "{body}");
        }
    }

    #[test]
    fn recurrent_payments_may_be_zero_but_need_details() {
        let req: PayRequest =
            serde_json::from_str(r#"{"amount":"0","shopTransactionID":"a1"}"#).unwrap();
        assert_eq!(
            req.clone()
                .validate("credit-cards", true)
                .unwrap_err()
                .field,
            "recurrenceDetails"
        );
        let req = PayRequest {
            recurrence_details: Some(RecurrenceDetails::default()),
            ..req
        };
        assert!(req.validate("credit-cards", true).is_ok());
    }

    #[test]
    fn amend_amount_follows_the_payment_currency() {
        let cmd = ConfirmRefundRequest {
            shop_transaction_id: Some("a".into()),
            payment_id: None,
            amount: Some("5.5".into()),
        }
        .validate()
        .unwrap();
        assert_eq!(cmd.amount_in(Currency::EUR).unwrap().unwrap().minor(), 550);
        assert!(cmd.amount_in(Currency::parse("JPY").unwrap()).is_err());
    }
}
