//! Axerve Ecommerce Solutions (GestPay) REST API v1, as documented: `Authorization: apikey <key>`
//! (403 `1171` when missing, `1166` when wrong), JSON bodies whose values are all strings, the
//! shop login in every body, amounts as decimal strings in major units, and every answer in the
//! `{"error":{"code","description"},"payload":{}}` envelope. Payments are created for the hosted
//! page; tests play the buyer with [`AxerveMock::approve`] / [`AxerveMock::decline`]. The shop
//! settles at once by default (`MOV`); with [`AxerveMock::set_auto_settle`]`(false)` it only
//! authorises (`AUT`) and `payment/capture` settles. Refunds need a settled payment and never
//! exceed what is left.
//!
//! Serve it with [`crate::MockServer::start`]`(mock.router())`; the API base is
//! `{server.url}/api/v1`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use rand::Rng;
use serde_json::{json, Map, Value};
use std::sync::{Arc, Mutex};

pub const API_PREFIX: &str = "/api/v1";
/// The hosted page `userRedirect.href` points at (sandbox).
pub const PAYMENT_PAGE: &str = "https://sandbox.gestpay.net/pagam/src/index.html";
/// The legacy limit of shopTransactionID.
const MAX_SHOP_TRANSACTION_ID: usize = 50;
/// `paymentType` codes of Axerve's payment-type table.
const PAYMENT_TYPES: [&str; 31] = [
    "S2PALI",
    "APPLEPAY",
    "BANCONTACT",
    "S2PCRU",
    "COMPASS",
    "CONSEL",
    "CREDITCARD",
    "S2PEPS",
    "S2PGIR",
    "HYPE",
    "S2PIDE",
    "IDEAL",
    "KLARNA",
    "S2PKON",
    "MASTERPASS",
    "S2PMER",
    "S2PMUL",
    "MYBANK",
    "ONECARD",
    "PAYPAL",
    "S2PPSC",
    "S2PQIW",
    "SATISPAY",
    "S2PSOF",
    "SOFORT",
    "TRUSTPAY",
    "S2PUNI",
    "S2PWMO",
    "S2PYAN",
    "BON",
    "UPMOBILE",
];
/// Currencies the mock knows, with their decimals.
const CURRENCIES: [(&str, u32); 5] = [("EUR", 2), ("USD", 2), ("GBP", 2), ("CHF", 2), ("JPY", 0)];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AxervePayment {
    pub payment_id: String,
    pub payment_token: String,
    pub bank_transaction_id: String,
    pub shop_transaction_id: String,
    pub amount_minor: i64,
    pub currency: String,
    pub buyer_name: Option<String>,
    pub buyer_email: Option<String>,
    pub payment_type: Vec<String>,
    pub buyer_ok: Option<String>,
    pub buyer_ko: Option<String>,
    pub server_notification_url: Option<String>,
    /// `UNSUBMITTED` until the buyer acts; then `OK` or `KO` (tests may force any value).
    pub result: String,
    /// The last event: `""`, `AUT`, `MOV`, `STO`, ...
    pub state: String,
    /// `(eventtype, amount in minor units)`, oldest first.
    pub events: Vec<(String, i64)>,
    pub captured_minor: i64,
    pub refunded_minor: i64,
    pub error_code: String,
    pub error_description: String,
}

struct Inner {
    shop_login: String,
    api_key: String,
    payments: Vec<AxervePayment>,
    next_id: u64,
    auto_settle: bool,
    errors_in_http_200: bool,
    created: usize,
    captures: usize,
    refunds: usize,
}

#[derive(Clone)]
pub struct AxerveMock {
    inner: Arc<Mutex<Inner>>,
}

/// An error answer, in the envelope.
struct AxError {
    status: StatusCode,
    code: &'static str,
    description: &'static str,
}

const fn ax(status: StatusCode, code: &'static str, description: &'static str) -> AxError {
    AxError {
        status,
        code,
        description,
    }
}

const BAD: StatusCode = StatusCode::BAD_REQUEST;

fn exponent(currency: &str) -> Option<u32> {
    CURRENCIES
        .iter()
        .find(|(c, _)| *c == currency)
        .map(|(_, e)| *e)
}

/// `"72.5"`, `"27.30"`: digits, optionally a dot and at most the currency's decimals.
fn parse_amount(text: &str, exponent: u32) -> Result<i64, AxError> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty()
        || !digits(whole)
        || !digits(fraction)
        || (text.contains('.') && fraction.is_empty())
    {
        return Err(ax(BAD, "1113", "Not numeric amount"));
    }
    if fraction.len() > exponent as usize {
        return Err(ax(
            BAD,
            "1114",
            "Amount with a wrong number of decimal digits",
        ));
    }
    let padded = format!("{fraction:0<width$}", width = exponent as usize);
    let minor = format!("{whole}{padded}")
        .parse::<i64>()
        .map_err(|_| ax(BAD, "1147", "Too big amount"))?;
    if minor == 0 {
        return Err(ax(BAD, "1146", "Too small amount"));
    }
    Ok(minor)
}

fn decimal(minor: i64, exponent: u32) -> String {
    if exponent == 0 {
        return minor.to_string();
    }
    let scale = 10i64.pow(exponent);
    format!(
        "{}.{:0w$}",
        minor / scale,
        minor % scale,
        w = exponent as usize
    )
}

/// A string field: absent is `None`; present but not a string is 1105 (all values are strings).
fn text(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, AxError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ax(BAD, "1105", "Invalid parameter value")),
    }
}

fn required(obj: &Map<String, Value>, key: &str) -> Result<String, AxError> {
    text(obj, key)?.ok_or(ax(BAD, "1108", "Compulsory parameter not set"))
}

impl AxervePayment {
    fn exponent(&self) -> u32 {
        exponent(&self.currency).unwrap_or(2)
    }

    fn short(&self, kind: &str) -> Value {
        json!({
            "transactionType": kind,
            "transactionResult": "OK",
            "bankTransactionID": self.bank_transaction_id,
            "shopTransactionID": self.shop_transaction_id,
            "paymentID": self.payment_id,
        })
    }

    fn detail(&self) -> Value {
        let e = self.exponent();
        json!({
            "transactionType": "detail",
            "transactionResult": self.result,
            "transactionState": self.state,
            "bankTransactionID": self.bank_transaction_id,
            "shopTransactionID": self.shop_transaction_id,
            "authorizationCode": if self.result == "OK" { "0010202" } else { "" },
            "paymentID": self.payment_id,
            "currency": self.currency,
            "country": "ITALIA",
            "company": "MASTERCARD",
            "tdLevel": "FULL",
            // Each event sits in an `event` wrapper, as the payment/detail reference shows it.
            "events": self.events.iter().map(|(t, a)| json!({"event": {
                "eventtype": t, "eventamount": decimal(*a, e), "eventdate": "19/08/16 16:13:14",
                "eventARN": "", "environment": "ONL", "operator": ""
            }})).collect::<Vec<_>>(),
            "buyer": {"name": self.buyer_name.clone().unwrap_or_default(),
                      "email": self.buyer_email.clone().unwrap_or_default()},
            "transactionErrorCode": self.error_code,
            "transactionErrorDescription": self.error_description,
            "maskedPAN": "541238******4012",
        })
    }
}

impl AxerveMock {
    pub fn new(shop_login: &str, api_key: &str) -> AxerveMock {
        AxerveMock {
            inner: Arc::new(Mutex::new(Inner {
                shop_login: shop_login.to_owned(),
                api_key: api_key.to_owned(),
                payments: Vec::new(),
                next_id: 146_972_136_693,
                auto_settle: true,
                errors_in_http_200: false,
                created: 0,
                captures: 0,
                refunds: 0,
            })),
        }
    }

    pub fn router(&self) -> Router {
        Router::new().fallback(handle).with_state(self.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `true` (default): an approved payment is settled at once (`MOV`). `false`: only
    /// authorised (`AUT`), as with a shop that settles by hand or by `payment/capture`.
    pub fn set_auto_settle(&self, on: bool) {
        self.lock().auto_settle = on;
    }

    /// Answer errors with HTTP 200 and the error only in the envelope (as some Axerve answers
    /// and the official SDKs' checks suggest), instead of the documented 4xx.
    pub fn set_errors_in_http_200(&self, on: bool) {
        self.lock().errors_in_http_200 = on;
    }

    fn with_payment<T>(
        &self,
        payment_id: &str,
        f: impl FnOnce(&mut AxervePayment, bool) -> T,
    ) -> Option<T> {
        let mut inner = self.lock();
        let auto_settle = inner.auto_settle;
        inner
            .payments
            .iter_mut()
            .find(|p| p.payment_id == payment_id)
            .map(|p| f(p, auto_settle))
    }

    /// The buyer pays on the hosted page and the bank approves.
    pub fn approve(&self, payment_id: &str) -> bool {
        self.with_payment(payment_id, |p, auto_settle| {
            if p.result != "UNSUBMITTED" {
                return false;
            }
            p.result = "OK".into();
            p.events.push(("AUT".into(), p.amount_minor));
            p.state = "AUT".into();
            if auto_settle {
                p.events.push(("MOV".into(), p.amount_minor));
                p.state = "MOV".into();
                p.captured_minor = p.amount_minor;
            }
            true
        })
        .unwrap_or(false)
    }

    /// The bank declines the buyer's payment.
    pub fn decline(&self, payment_id: &str) -> bool {
        self.with_payment(payment_id, |p, _| {
            if p.result != "UNSUBMITTED" {
                return false;
            }
            p.result = "KO".into();
            p.error_code = "74".into();
            p.error_description = "Authorization denied".into();
            true
        })
        .unwrap_or(false)
    }

    /// Forces `transactionResult` and `transactionState` (any documented pair, or unknown ones).
    pub fn force_outcome(&self, payment_id: &str, result: &str, state: &str) -> bool {
        self.with_payment(payment_id, |p, _| {
            p.result = result.to_owned();
            p.state = state.to_owned();
        })
        .is_some()
    }

    pub fn payment(&self, payment_id: &str) -> Option<AxervePayment> {
        self.lock()
            .payments
            .iter()
            .find(|p| p.payment_id == payment_id)
            .cloned()
    }

    pub fn payments(&self) -> Vec<AxervePayment> {
        self.lock().payments.clone()
    }

    /// The server-to-server call Axerve makes (GET): the notification URL with the legacy
    /// parameters appended, `a` = shop login and `b` = an encrypted string (opaque here).
    pub fn notification_url(&self, payment_id: &str) -> Option<String> {
        let shop = self.lock().shop_login.clone();
        let payment = self.payment(payment_id)?;
        let base = payment.server_notification_url?;
        let b: String = (0..24)
            .map(|_| format!("{:X}", rand::rng().random_range(0..16u8)))
            .collect();
        let sep = if base.contains('?') { '&' } else { '?' };
        Some(format!("{base}{sep}a={shop}&b={b}"))
    }

    pub fn created_payments(&self) -> usize {
        self.lock().created
    }

    pub fn capture_count(&self) -> usize {
        self.lock().captures
    }

    pub fn refund_count(&self) -> usize {
        self.lock().refunds
    }

    fn reply(&self, result: Result<Value, AxError>) -> Response {
        match result {
            Ok(payload) => Json(json!({
                "error": {"code": "0", "description": "request correctly processed"},
                "payload": payload,
            }))
            .into_response(),
            Err(e) => {
                let status = if self.lock().errors_in_http_200 {
                    StatusCode::OK
                } else {
                    e.status
                };
                (status, Json(json!({"error": {"code": e.code, "description": e.description}, "payload": {}})))
                    .into_response()
            }
        }
    }

    fn authenticate(&self, headers: &HeaderMap) -> Result<(), AxError> {
        let forbidden = StatusCode::FORBIDDEN;
        let header = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .ok_or(ax(forbidden, "1171", "missing authentication header"))?;
        if header != format!("apikey {}", self.lock().api_key) {
            return Err(ax(forbidden, "1166", "Invalid ApiKey"));
        }
        Ok(())
    }

    /// The JSON object body, with the shop login checked.
    fn body(&self, bytes: &[u8]) -> Result<Map<String, Value>, AxError> {
        let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(bytes) else {
            return Err(ax(BAD, "1105", "Invalid parameter value"));
        };
        if required(&obj, "shopLogin")? != self.lock().shop_login {
            return Err(ax(BAD, "1131", "Not accepted call: Shop not recognized"));
        }
        Ok(obj)
    }

    fn create(&self, obj: &Map<String, Value>) -> Result<Value, AxError> {
        let currency = required(obj, "currency")?;
        let exp = exponent(&currency).ok_or(ax(BAD, "1111", "Invalid currency code"))?;
        let amount_minor = parse_amount(&required(obj, "amount")?, exp)?;
        let shop_transaction_id = required(obj, "shopTransactionID")?;
        if shop_transaction_id.chars().count() > MAX_SHOP_TRANSACTION_ID {
            return Err(ax(BAD, "1116", "Too long shopTransactionID parameter"));
        }
        let buyer_email = text(obj, "buyerEmail")?;
        if buyer_email.as_ref().is_some_and(|e| !e.contains('@')) {
            return Err(ax(BAD, "1127", "Invalid cardholder email address"));
        }
        let payment_type = match obj.get("paymentType") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v.as_str() {
                    Some(t) if PAYMENT_TYPES.contains(&t) => Ok(t.to_owned()),
                    _ => Err(ax(BAD, "1105", "Invalid parameter value")),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(ax(BAD, "1105", "Invalid parameter value")),
        };
        let urls = match obj.get("responseURLs") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err(ax(BAD, "1105", "Invalid parameter value")),
        };
        let mut inner = self.lock();
        inner.next_id += 1;
        inner.created += 1;
        let payment_token: String = (0..32)
            .map(|_| format!("{:x}", rand::rng().random_range(0..16u8)))
            .collect();
        let payment = AxervePayment {
            payment_id: inner.next_id.to_string(),
            payment_token,
            bank_transaction_id: (inner.next_id % 1_000_000).to_string(),
            shop_transaction_id,
            amount_minor,
            currency,
            buyer_name: text(obj, "buyerName")?,
            buyer_email,
            payment_type,
            buyer_ok: text(&urls, "buyerOK")?,
            buyer_ko: text(&urls, "buyerKO")?,
            server_notification_url: text(&urls, "serverNotificationURL")?,
            result: "UNSUBMITTED".into(),
            state: String::new(),
            events: Vec::new(),
            captured_minor: 0,
            refunded_minor: 0,
            error_code: String::new(),
            error_description: String::new(),
        };
        let href = format!(
            "{PAYMENT_PAGE}?paymentID={}&paymentToken={}&shopLogin={}&lightbox=false",
            payment.payment_id, payment.payment_token, inner.shop_login
        );
        let answer = json!({
            "paymentToken": payment.payment_token,
            "paymentID": payment.payment_id,
            "userRedirect": {"href": href},
        });
        inner.payments.push(payment);
        Ok(answer)
    }

    /// The payment named by paymentID, else shopTransactionID (the latest), else bankTransactionID.
    fn find(&self, obj: &Map<String, Value>) -> Result<usize, AxError> {
        let payment_id = text(obj, "paymentID")?;
        let shop_id = text(obj, "shopTransactionID")?;
        let bank_id = text(obj, "bankTransactionID")?;
        if payment_id.is_none() && shop_id.is_none() && bank_id.is_none() {
            return Err(ax(BAD, "1108", "Compulsory parameter not set"));
        }
        let inner = self.lock();
        inner
            .payments
            .iter()
            .rposition(|p| {
                payment_id.as_ref().is_none_or(|id| &p.payment_id == id)
                    && shop_id
                        .as_ref()
                        .is_none_or(|id| &p.shop_transaction_id == id)
                    && bank_id
                        .as_ref()
                        .is_none_or(|id| &p.bank_transaction_id == id)
            })
            .ok_or(ax(BAD, "2011", "Transaction not found"))
    }

    fn detail(&self, obj: &Map<String, Value>) -> Result<Value, AxError> {
        let i = self.find(obj)?;
        Ok(self.lock().payments[i].detail())
    }

    /// The amount and currency of a capture or refund, checked against the payment.
    fn amount_for(&self, obj: &Map<String, Value>, i: usize) -> Result<i64, AxError> {
        let currency = required(obj, "currency")?;
        let amount = required(obj, "amount")?;
        let inner = self.lock();
        let p = &inner.payments[i];
        if currency != p.currency {
            return Err(ax(BAD, "65", "Wrong currency"));
        }
        parse_amount(&amount, p.exponent())
    }

    fn capture(&self, obj: &Map<String, Value>) -> Result<Value, AxError> {
        let i = self.find(obj)?;
        let amount = self.amount_for(obj, i)?;
        let mut inner = self.lock();
        let p = &mut inner.payments[i];
        if p.result != "OK" || p.state != "AUT" {
            return Err(ax(BAD, "2019", "Transaction can not be settled"));
        }
        if amount > p.amount_minor {
            return Err(ax(BAD, "58", "Confirmed amount exceeds authorized amount"));
        }
        p.events.push(("MOV".into(), amount));
        p.state = "MOV".into();
        p.captured_minor = amount;
        let answer = p.short("capture");
        inner.captures += 1;
        Ok(answer)
    }

    fn refund(&self, obj: &Map<String, Value>) -> Result<Value, AxError> {
        let i = self.find(obj)?;
        let amount = self.amount_for(obj, i)?;
        let mut inner = self.lock();
        let p = &mut inner.payments[i];
        if p.result != "OK" || !matches!(p.state.as_str(), "MOV" | "STO") {
            return Err(ax(BAD, "2018", "Transaction can not be refunded"));
        }
        if amount > p.captured_minor - p.refunded_minor {
            return Err(ax(
                BAD,
                "2014",
                "You requested a refund operation with an amount exceeding transaction balance",
            ));
        }
        p.events.push(("STO".into(), amount));
        p.state = "STO".into();
        p.refunded_minor += amount;
        let answer = p.short("refund");
        inner.refunds += 1;
        Ok(answer)
    }

    fn post(&self, operation: &str, headers: &HeaderMap, bytes: &[u8]) -> Result<Value, AxError> {
        self.authenticate(headers)?;
        let obj = self.body(bytes)?;
        match operation {
            "create" => self.create(&obj),
            "detail" => self.detail(&obj),
            "capture" => self.capture(&obj),
            "refund" => self.refund(&obj),
            _ => Err(ax(StatusCode::NOT_FOUND, "1104", "Invalid parameter name")),
        }
    }
}

async fn handle(
    State(mock): State<AxerveMock>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().trim_end_matches('/');
    let Some(rest) = path
        .strip_prefix(API_PREFIX)
        .and_then(|r| r.strip_prefix("/payment/"))
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let result = match (method, rest) {
        (Method::POST, op) if ["create", "detail", "capture", "refund"].contains(&op) => {
            mock.post(op, &headers, &body)
        }
        // GET payment/detail/{paymentID}
        (Method::GET, r) if r.starts_with("detail/") => {
            mock.authenticate(&headers).and_then(|_| {
                let mut by_id = Map::new();
                by_id.insert("paymentID".into(), json!(&r["detail/".len()..]));
                mock.detail(&by_id)
            })
        }
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    mock.reply(result)
}
