//! Braintree (`pay-pal`), through the classic gateway API the SDKs use (XML, HTTP Basic
//! `public_key:private_key`, every path under `/merchants/{merchant_id}`). The buyer approves
//! in the merchant's front end (Drop-in / PayPal button), which turns a client token into a
//! payment method nonce; `pay` makes the sale with it, so the outcome is known at once.
//!
//! | PGM | Braintree |
//! |---|---|
//! | pay | `POST /transactions` (sale; nonce or vaulted customer; `submit-for-settlement` per `BRAINTREE_SUBMIT_FOR_SETTLEMENT`) |
//! | confirm | `PUT /transactions/{id}/submit_for_settlement` (an authorised sale, at most its amount) |
//! | refund | `GET /transactions/{id}`, then `POST …/refund` when settled, `PUT …/void` when not (whole amount only) |
//! | status, check | `GET /transactions/{id}`; without an id (a lost pay answer) `POST /transactions/advanced_search_ids` by `order-id` |
//! | callback | `bt_signature`/`bt_payload` (HMAC-SHA1, see [`webhook`]); `GET ?bt_challenge=` answered |
//! | `pgm-ops braintree-client-token` | `POST /client_token` |
//!
//! The currency is the merchant account's (`BRAINTREE_MERCHANT_ACCOUNT_ID`): Braintree takes
//! none in the request, so a pay in another currency is refused before it is sent.

mod map;
mod webhook;
mod wire;

use crate::kit::classify::{refused, unreadable};
use crate::kit::{
    invalid, path_id, same_currency, Auth, Dialect, ProviderClient, ProviderSettings,
};
use crate::{
    CallbackAck, CallbackOutcome, CallbackRequest, CallbackSubject, Capture, CaptureOutcome,
    PayOutcome, Provider, ProviderDeps, ProviderError, RefundOutcome, RefundStatus, Refunds,
    StatusLookup, StatusOutcome, Webhooks,
};
use async_trait::async_trait;
use map::{refund_plan, sale_outcome, status_outcome, BraintreeDialect, RefundPlan};
use pgm_core::wire::PayCommand;
use pgm_core::{ConfigError, Currency, Env, Money, Payment, PaymentState, Secret};
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value};
use wire::{parse, search_ids, ApiError, Node, Transaction, Xml};

pub const NAME: &str = "braintree";
const METHODS: &[&str] = &["pay-pal"];
pub const SANDBOX_BASE_URL: &str = "https://api.sandbox.braintreegateway.com:443";
pub const LIVE_BASE_URL: &str = "https://api.braintreegateway.com:443";
/// The classic API version the SDKs send (braintree_python 4.x `Configuration.api_version`).
const API_VERSION: &str = "6";
const XML: &str = "application/xml";

/// Settings from the environment (api.md's `BRAINTREE_*`). `Debug` shows no secret.
#[derive(Debug, Clone)]
pub struct BraintreeConfig {
    /// `BRAINTREE_BASE_URL` (default by `BRAINTREE_IS_SANDBOX`) and `BRAINTREE_TIMEOUT_MS`.
    pub api: ProviderSettings,
    pub merchant_id: String,
    /// `BRAINTREE_MERCHANT_ACCOUNT_ID`: the account (and so the currency) sales go to;
    /// unset, the merchant's default account.
    pub merchant_account_id: Option<String>,
    /// `BRAINTREE_CURRENCY` (default EUR): the merchant account's currency, which pays must use.
    pub currency: Currency,
    pub public_key: String,
    pub private_key: Secret,
    /// `BRAINTREE_SUBMIT_FOR_SETTLEMENT` (default true): sales are captured at once; false
    /// leaves them authorised until `/confirm`.
    pub submit_for_settlement: bool,
}

impl BraintreeConfig {
    pub fn from_env(env: &Env) -> Result<BraintreeConfig, ConfigError> {
        let sandbox = env.bool_or("BRAINTREE_IS_SANDBOX", true)?;
        let default_url = if sandbox {
            SANDBOX_BASE_URL
        } else {
            LIVE_BASE_URL
        };
        let merchant_id = env.require("BRAINTREE_MERCHANT_ID")?;
        if path_id(merchant_id, 64, b"_-").is_none() {
            return Err(ConfigError::new(
                "BRAINTREE_MERCHANT_ID",
                "must be letters, digits, `_` or `-` (it goes into every request path)",
            ));
        }
        let currency = env.get("BRAINTREE_CURRENCY").unwrap_or("EUR");
        Ok(BraintreeConfig {
            api: ProviderSettings::from_env(env, "BRAINTREE", default_url)?,
            merchant_id: merchant_id.to_owned(),
            merchant_account_id: env
                .get("BRAINTREE_MERCHANT_ACCOUNT_ID")
                .filter(|v| !v.is_empty())
                .map(str::to_owned),
            currency: Currency::parse(currency)
                .map_err(|_| ConfigError::new("BRAINTREE_CURRENCY", "must be an ISO 4217 code"))?,
            public_key: env.require("BRAINTREE_PUBLIC_KEY")?.to_owned(),
            private_key: env.secret("BRAINTREE_PRIVATE_KEY")?,
            submit_for_settlement: env.bool_or("BRAINTREE_SUBMIT_FOR_SETTLEMENT", true)?,
        })
    }
}

#[derive(Debug)]
pub struct Braintree {
    api: ProviderClient<BraintreeDialect>,
    merchant_path: String,
    merchant_account_id: Option<String>,
    currency: Currency,
    public_key: String,
    private_key: Secret,
    submit_for_settlement: bool,
}

/// Braintree ids (transactions, customers) are letters, digits, `_` and `-`; anything else
/// cannot be one and must not reach a URL path.
fn braintree_id(id: &str) -> Option<&str> {
    path_id(id, 64, b"_-")
}

/// What `brainTreeDataRequest` asks for (api.md).
#[derive(Debug, Clone, PartialEq, Eq)]
struct SaleRequest {
    nonce: Option<String>,
    device_data: Option<String>,
    customer_id: Option<String>,
    store_in_vault: bool,
}

fn sale_request(data: Option<&Map<String, Value>>) -> Result<SaleRequest, ProviderError> {
    const FIELD: &str = "brainTreeDataRequest";
    let data = data.ok_or_else(|| {
        invalid(
            FIELD,
            "is required by braintree: {nonce, deviceData, customerId, storeInVault, vaulted}",
        )
    })?;
    if let Some(key) = data.keys().find(|k| {
        ![
            "nonce",
            "deviceData",
            "customerId",
            "storeInVault",
            "vaulted",
        ]
        .contains(&k.as_str())
    }) {
        return Err(invalid(&format!("{FIELD}.{key}"), "is not a known field"));
    }
    let text = |key: &str| -> Result<Option<String>, ProviderError> {
        match data.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
            Some(_) => Err(invalid(
                &format!("{FIELD}.{key}"),
                "must be a non-empty string",
            )),
        }
    };
    let flag = |key: &str| -> Result<bool, ProviderError> {
        match data.get(key) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(invalid(&format!("{FIELD}.{key}"), "must be true or false")),
        }
    };
    let nonce = text("nonce")?;
    // Drop-in hands device data over as a JSON string; an object is taken as that JSON.
    let device_data = match data.get("deviceData") {
        Some(Value::Object(o)) => Some(Value::Object(o.clone()).to_string()),
        _ => text("deviceData")?,
    };
    let customer_id = text("customerId")?;
    if customer_id
        .as_deref()
        .is_some_and(|c| path_id(c, 36, b"_-").is_none())
    {
        return Err(invalid(
            &format!("{FIELD}.customerId"),
            "a Braintree customer id: up to 36 letters, digits, `_` or `-`",
        ));
    }
    let (store_in_vault, vaulted) = (flag("storeInVault")?, flag("vaulted")?);
    match (vaulted, &nonce, &customer_id) {
        (true, Some(_), _) => Err(invalid(
            &format!("{FIELD}.nonce"),
            "must be absent when vaulted is true: the customer's vaulted payment method pays",
        )),
        (true, None, None) => Err(invalid(
            &format!("{FIELD}.customerId"),
            "is required when vaulted is true",
        )),
        (true, None, Some(_)) if store_in_vault => Err(invalid(
            &format!("{FIELD}.storeInVault"),
            "stores a new payment method (a nonce); a vaulted one is stored already",
        )),
        (false, None, _) => Err(invalid(
            &format!("{FIELD}.nonce"),
            "is required (the payment method nonce from the front end), unless vaulted is true",
        )),
        _ => Ok(SaleRequest {
            nonce,
            device_data,
            customer_id,
            store_in_vault,
        }),
    }
}

/// A 2xx answer's root, or Braintree's 422 `<api-error-response>` (validation errors or a
/// declined transaction).
type Answer = Result<Node, ApiError>;

impl Braintree {
    pub fn from_env(env: &Env, deps: &ProviderDeps) -> Result<Braintree, ConfigError> {
        Ok(Braintree::new(
            BraintreeConfig::from_env(env)?,
            deps.http.clone(),
        ))
    }

    pub fn new(config: BraintreeConfig, http: reqwest::Client) -> Braintree {
        let auth = Auth::Basic(config.public_key.clone(), config.private_key.clone());
        Braintree {
            api: ProviderClient::new(http, config.api, auth),
            merchant_path: format!("/merchants/{}", config.merchant_id),
            merchant_account_id: config.merchant_account_id,
            currency: config.currency,
            public_key: config.public_key,
            private_key: config.private_key,
            submit_for_settlement: config.submit_for_settlement,
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Xml>,
    ) -> Result<Answer, ProviderError> {
        let mut request = self
            .api
            .request(method, format!("{}{path}", self.merchant_path))
            .header("accept", XML)
            .header("x-apiversion", API_VERSION);
        if let Some(body) = body {
            request = request.body(XML, body.finish());
        }
        let (status, bytes) = request.exchange().await?;
        if status.is_success() {
            return parse(&bytes)
                .map(Ok)
                .ok_or_else(unreadable::<BraintreeDialect>);
        }
        if status == StatusCode::UNPROCESSABLE_ENTITY {
            if let Some(error) = parse(&bytes).as_ref().and_then(ApiError::from_node) {
                return Ok(Err(error));
            }
        }
        Err(refused::<BraintreeDialect>(
            status,
            BraintreeDialect::refusal(status, &bytes),
        ))
    }

    /// A transaction answer, or the 422's refusal as the kit words it.
    fn transaction(answer: Answer) -> Result<Transaction, ProviderError> {
        match answer {
            Ok(node) => Transaction::from_node(&node).ok_or_else(unreadable::<BraintreeDialect>),
            Err(error) => Err(rejected(error)),
        }
    }

    async fn find(&self, id: &str) -> Result<Transaction, ProviderError> {
        let id = braintree_id(id).ok_or(ProviderError::NotFound)?;
        Self::transaction(
            self.call(Method::GET, &format!("/transactions/{id}"), None)
                .await?,
        )
    }

    /// The payment's sale: by its id, or by our reference (`order-id`) when a lost pay answer
    /// left us without one; then the newest sale of that reference counts.
    async fn sale_of(&self, payment: &Payment) -> Result<Transaction, ProviderError> {
        if let Some(id) = payment.provider_payment_id.as_deref() {
            return self.find(id).await;
        }
        let search = Xml::default()
            .open("search")
            .open("order-id")
            .text("is", &payment.shop_transaction_id)
            .close("order-id")
            .close("search");
        let answer = self
            .call(
                Method::POST,
                "/transactions/advanced_search_ids",
                Some(search),
            )
            .await?
            .map_err(rejected)?;
        match search_ids(&answer).last() {
            Some(id) => self.find(id).await,
            None => Err(ProviderError::NotFound),
        }
    }

    /// A client token for the merchant's front end (Drop-in, the PayPal button), optionally
    /// for a vaulted customer: `pgm-ops braintree-client-token [customerId]`.
    pub async fn client_token(&self, customer_id: Option<&str>) -> Result<String, ProviderError> {
        if customer_id.is_some_and(|c| path_id(c, 36, b"_-").is_none()) {
            return Err(invalid(
                "customerId",
                "a Braintree customer id: up to 36 letters, digits, `_` or `-`",
            ));
        }
        let body = Xml::default()
            .open("client-token")
            .integer("version", 2)
            .opt("customer-id", customer_id)
            .opt("merchant-account-id", self.merchant_account_id.as_deref())
            .close("client-token");
        let answer = self
            .call(Method::POST, "/client_token", Some(body))
            .await?
            .map_err(rejected)?;
        answer
            .text_of("value")
            .ok_or_else(unreadable::<BraintreeDialect>)
    }

    /// `providerData.submitForSettlement` (**ext**) overrides `BRAINTREE_SUBMIT_FOR_SETTLEMENT`
    /// for one pay: `false` authorises it for a later `/confirm`.
    fn submit_for_settlement(&self, cmd: &PayCommand) -> Result<bool, ProviderError> {
        match cmd.provider_data.get("submitForSettlement") {
            None | Some(Value::Null) => Ok(self.submit_for_settlement),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(invalid(
                "providerData.submitForSettlement",
                "must be true (capture now) or false (authorise; /confirm captures)",
            )),
        }
    }

    fn sale_body(&self, cmd: &PayCommand, sale: &SaleRequest, submit: bool) -> Xml {
        Xml::default()
            .open("transaction")
            .text("type", "sale")
            .text("amount", &cmd.amount.to_decimal_string())
            .text("order-id", &cmd.shop_transaction_id)
            .opt("merchant-account-id", self.merchant_account_id.as_deref())
            .opt("payment-method-nonce", sale.nonce.as_deref())
            .opt("customer-id", sale.customer_id.as_deref())
            .opt("device-data", sale.device_data.as_deref())
            .open("options")
            .boolean("submit-for-settlement", submit)
            .boolean("store-in-vault-on-success", sale.store_in_vault)
            .close("options")
            .close("transaction")
    }
}

/// A 422 without a transaction: Braintree refused the request (definite), with its code.
fn rejected(error: ApiError) -> ProviderError {
    ProviderError::Rejected {
        code: error.first_code().map(str::to_owned),
        message: error
            .message
            .unwrap_or_else(|| "Braintree refused the request".into()),
    }
}

#[async_trait]
impl Provider for Braintree {
    fn name(&self) -> &'static str {
        NAME
    }

    fn methods(&self) -> &'static [&'static str] {
        METHODS
    }

    async fn pay(&self, cmd: &PayCommand) -> Result<PayOutcome, ProviderError> {
        let sale = sale_request(cmd.braintree.as_ref())?;
        let submit = self.submit_for_settlement(cmd)?;
        if cmd.amount.currency() != self.currency {
            return Err(invalid(
                "currency",
                format!(
                    "must be {}, the currency of the Braintree merchant account",
                    self.currency
                ),
            ));
        }
        match self
            .call(
                Method::POST,
                "/transactions",
                Some(self.sale_body(cmd, &sale, submit)),
            )
            .await?
        {
            Ok(node) => Transaction::from_node(&node)
                .map(|t| sale_outcome(&t))
                .ok_or_else(unreadable::<BraintreeDialect>),
            // A processor decline: a 422 that carries the declined transaction.
            Err(ApiError {
                transaction: Some(t),
                ..
            }) => Ok(sale_outcome(&t)),
            Err(error) => Err(rejected(error)),
        }
    }

    crate::capabilities!(Capture, Refunds, StatusLookup, Webhooks);
}

#[async_trait]
impl Capture for Braintree {
    async fn confirm(
        &self,
        payment: &Payment,
        amount: Money,
    ) -> Result<CaptureOutcome, ProviderError> {
        same_currency(payment, amount)?;
        let id = payment
            .provider_payment_id
            .as_deref()
            .and_then(braintree_id)
            .ok_or(ProviderError::NotFound)?;
        let body = Xml::default()
            .open("transaction")
            .text("amount", &amount.to_decimal_string())
            .close("transaction");
        let answer = self
            .call(
                Method::PUT,
                &format!("/transactions/{id}/submit_for_settlement"),
                Some(body),
            )
            .await?;
        let t = Self::transaction(answer)?;
        Ok(CaptureOutcome {
            succeeded: status_outcome(&t).state == PaymentState::Captured,
            description: format!("Payment captured ({amount})"),
        })
    }
}

#[async_trait]
impl Refunds for Braintree {
    /// No: the classic API takes no idempotency key for refunds, so a refund whose answer was
    /// lost is never sent again.
    fn refunds_are_idempotent(&self) -> bool {
        false
    }

    /// Refunds a settled sale; voids one not settled yet, which Braintree allows only whole.
    async fn refund(
        &self,
        payment: &Payment,
        amount: Money,
        _refund_id: &str,
    ) -> Result<RefundOutcome, ProviderError> {
        same_currency(payment, amount)?;
        let sale = self.sale_of(payment).await?;
        let whole = payment.refunded_minor == 0 && amount.minor() == payment.captured_minor;
        let (path, method, body) = match refund_plan(&sale.status, whole) {
            RefundPlan::Refund => (
                format!("/transactions/{}/refund", sale.id),
                Method::POST,
                Some(
                    Xml::default()
                        .open("transaction")
                        .text("amount", &amount.to_decimal_string())
                        .close("transaction"),
                ),
            ),
            RefundPlan::Void => (format!("/transactions/{}/void", sale.id), Method::PUT, None),
            RefundPlan::Refuse(why) => {
                return Err(ProviderError::Rejected {
                    code: Some(sale.status.clone()),
                    message: why.into(),
                })
            }
        };
        let t = Self::transaction(self.call(method, &path, body).await?)?;
        let voided = t.status == "voided";
        Ok(RefundOutcome {
            state: RefundStatus::Succeeded,
            provider_refund_id: Some(t.id),
            description: if voided {
                "Payment voided before settlement".into()
            } else {
                "Refund accepted".into()
            },
        })
    }
}

#[async_trait]
impl StatusLookup for Braintree {
    async fn status(&self, payment: &Payment) -> Result<StatusOutcome, ProviderError> {
        Ok(status_outcome(&self.sale_of(payment).await?))
    }
}

#[async_trait]
impl Webhooks for Braintree {
    async fn callback(&self, req: &CallbackRequest) -> Result<CallbackOutcome, ProviderError> {
        if req.method == http::Method::GET {
            let challenge = req.query_param("bt_challenge").ok_or_else(|| {
                ProviderError::InvalidCallback("Braintree sends webhooks as POST".into())
            })?;
            let answer =
                webhook::challenge_answer(&self.public_key, self.private_key.expose(), &challenge)
                    .map_err(|e| ProviderError::InvalidCallback(e.to_string()))?;
            return Ok(CallbackOutcome::Ignored {
                ack: CallbackAck {
                    status: 200,
                    content_type: "text/plain",
                    body: answer,
                },
            });
        }
        let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&req.body)
            .map_err(|_| ProviderError::InvalidCallback("not a form body".into()))?;
        let field = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .ok_or_else(|| ProviderError::InvalidSignature(format!("{name} is missing")))
        };
        let (signature, payload) = (field("bt_signature")?, field("bt_payload")?);
        webhook::verify(
            &self.public_key,
            self.private_key.expose(),
            signature,
            payload,
        )
        .map_err(|e| ProviderError::InvalidSignature(e.to_string()))?;
        let notification = webhook::notification(payload)
            .map_err(|e| ProviderError::InvalidCallback(e.to_string()))?;
        match (notification.kind.as_str(), notification.transaction) {
            ("transaction_settled" | "transaction_settlement_declined", Some(t)) => {
                Ok(CallbackOutcome::Payment {
                    subject: CallbackSubject::ProviderPaymentId(t.id.clone()),
                    verified: Some(status_outcome(&t)),
                    ack: CallbackAck::default(),
                })
            }
            // `check` (the Control Panel's test) and kinds about other things.
            _ => Ok(CallbackOutcome::Ignored {
                ack: CallbackAck::default(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(v: Value) -> Result<SaleRequest, ProviderError> {
        sale_request(v.as_object())
    }

    fn field_of(e: ProviderError) -> String {
        match e {
            ProviderError::InvalidRequest { field, .. } => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_data_request_says_how_the_sale_is_paid() {
        let nonce =
            req(json!({"nonce": "n1", "deviceData": {"a": 1}, "storeInVault": true})).unwrap();
        assert_eq!(nonce.nonce.as_deref(), Some("n1"));
        assert_eq!(nonce.device_data.as_deref(), Some("{\"a\":1}"));
        assert!(nonce.store_in_vault);
        let vaulted = req(json!({"customerId": "c-1", "vaulted": true})).unwrap();
        assert_eq!(
            (vaulted.nonce, vaulted.customer_id.as_deref()),
            (None, Some("c-1"))
        );
    }

    #[test]
    fn a_bad_data_request_names_its_field() {
        assert_eq!(
            field_of(sale_request(None).unwrap_err()),
            "brainTreeDataRequest"
        );
        for (body, field) in [
            (json!({}), "brainTreeDataRequest.nonce"),
            (json!({"nonce": ""}), "brainTreeDataRequest.nonce"),
            (json!({"nonce": 5}), "brainTreeDataRequest.nonce"),
            (json!({"vaulted": true}), "brainTreeDataRequest.customerId"),
            (
                json!({"vaulted": true, "nonce": "n", "customerId": "c"}),
                "brainTreeDataRequest.nonce",
            ),
            (
                json!({"vaulted": true, "customerId": "c", "storeInVault": true}),
                "brainTreeDataRequest.storeInVault",
            ),
            (
                json!({"nonce": "n", "customerId": "../x"}),
                "brainTreeDataRequest.customerId",
            ),
            (
                json!({"nonce": "n", "vaulted": "yes"}),
                "brainTreeDataRequest.vaulted",
            ),
            (json!({"nonce": "n", "tip": 1}), "brainTreeDataRequest.tip"),
        ] {
            assert_eq!(field_of(req(body.clone()).unwrap_err()), field, "{body}");
        }
    }

    #[test]
    fn settings_come_from_the_v2_names() {
        let env = Env::from_pairs([
            ("BRAINTREE_MERCHANT_ID", "m1"),
            ("BRAINTREE_PUBLIC_KEY", "pk"),
            ("BRAINTREE_PRIVATE_KEY", "sk"),
            ("BRAINTREE_IS_SANDBOX", "false"),
        ]);
        let c = BraintreeConfig::from_env(&env).unwrap();
        assert_eq!(c.api.base_url, LIVE_BASE_URL);
        assert!(c.submit_for_settlement);
        assert!(!format!("{c:?}").contains("\"sk\""));
        let bad = Env::from_pairs([("BRAINTREE_MERCHANT_ID", "m/1")]);
        assert!(BraintreeConfig::from_env(&bad)
            .unwrap_err()
            .to_string()
            .contains("BRAINTREE_MERCHANT_ID"));
    }
}
