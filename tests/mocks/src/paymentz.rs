//! Paymentz ("PZ") REST API v1, as its docs describe it (providers.md section 9, seed 003):
//! `POST /transactionServices/REST/v1/authToken` (form: `authentication.partnerId`,
//! `merchant.username`, `authentication.sKey`) answers a JWT `AuthToken` valid one hour; every
//! other call needs it in the `AuthToken` header (401 without it, or once it expired or was
//! revoked). Bodies are forms with an MD5 checksum: `memberId|secureKey|merchantTransactionId|
//! amount` for `/payments`; the back-office layout (CP/RF/RV/IN on `/payments/{id}`) is
//! configurable like the adapter's, defaulting to `memberId|secureKey|paymentId|amount`
//! (without amount for RV and IN). Amounts have exactly two decimals. Errors are
//! `{"result":{"code","description"}}` with a 4xx.
//!
//! Test cards: [`CARD_3DS`] asks for 3-D Secure (the buyer then decides with
//! [`PaymentzMock::approve`] / [`PaymentzMock::decline`]), [`CARD_DECLINED`] is declined, any
//! other Luhn-valid number is approved at once. Refunds: one per transaction (seed 003: "it is
//! not possible to refund the same transaction more than once"), up to the captured amount;
//! reversal (RV) only of an authorisation, never partial. Notifications are built by
//! [`PaymentzMock::notification`] with the documented checksum
//! (`paymentId|merchantTransactionId|amount|transactionStatus|secureKey`).

use crate::server::{with_faults, Faults};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use md5::{Digest, Md5};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

pub const PREFIX: &str = "/transactionServices/REST/v1";
/// Where a 3-D Secure payment sends the buyer (`?paymentId=…` follows).
pub const ACS_PAGE: &str = "https://acs.paymentz.test/3ds/challenge";
pub const CARD_3DS: &str = "4000000000003220";
pub const CARD_DECLINED: &str = "4000000000000002";
pub const CARD_OK: &str = "4111111111111111";

#[derive(Debug, Clone)]
pub struct PzPayment {
    pub payment_id: String,
    pub merchant_transaction_id: String,
    pub payment_type: String,
    pub amount_minor: i64,
    pub currency: String,
    /// Long status (`authstarted`, `authsuccessful`, `capturesuccess`, …).
    pub status: String,
    /// Short status: `3D`, `Y`, `N`, `C`.
    pub short: String,
    pub captured_minor: i64,
    pub refunded_minor: i64,
    pub refunds: usize,
    pub notification_url: String,
}

struct Inner {
    partner_id: String,
    username: String,
    member_id: String,
    secure_key: String,
    token_ttl_secs: i64,
    /// Token → expiry (unix seconds).
    tokens: HashMap<String, i64>,
    token_fetches: usize,
    backoffice_layout: Vec<String>,
    payments: Vec<PzPayment>,
    next_id: u64,
}

#[derive(Clone)]
pub struct PaymentzMock {
    inner: Arc<Mutex<Inner>>,
    /// Faults for the payment routes only (the token route never sees them).
    pub payment_faults: Faults,
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn md5_hex(values: &[&str]) -> String {
    hex::encode(Md5::digest(values.join("|").as_bytes()))
}

/// An error answer: `{"result":{"code","description"}}` with its HTTP status.
struct PzError {
    status: StatusCode,
    code: &'static str,
    description: String,
}

impl IntoResponse for PzError {
    fn into_response(self) -> Response {
        let body = json!({"result": {"code": self.code, "description": self.description}});
        (self.status, Json(body)).into_response()
    }
}

fn error(status: StatusCode, code: &'static str, description: &str) -> PzError {
    PzError {
        status,
        code,
        description: description.to_owned(),
    }
}

fn bad(description: &str) -> PzError {
    error(StatusCode::BAD_REQUEST, "10012", description)
}

/// `12.30` → 1230; anything but digits, a dot and exactly two decimals is refused.
fn parse_amount(text: &str) -> Option<i64> {
    let (units, cents) = text.split_once('.')?;
    if units.is_empty()
        || cents.len() != 2
        || !units
            .chars()
            .chain(cents.chars())
            .all(|c| c.is_ascii_digit())
    {
        return None;
    }
    Some(units.parse::<i64>().ok()? * 100 + cents.parse::<i64>().ok()?)
}

fn amount_string(minor: i64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

fn luhn(number: &str) -> bool {
    if number.len() < 12 || number.len() > 19 || !number.chars().all(|c| c.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = number
        .chars()
        .rev()
        .enumerate()
        .map(|(i, c)| {
            let d = c.to_digit(10).unwrap_or(0);
            if i % 2 == 1 {
                if d * 2 > 9 {
                    d * 2 - 9
                } else {
                    d * 2
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

type Form = HashMap<String, String>;

impl PaymentzMock {
    pub fn new(
        partner_id: &str,
        username: &str,
        member_id: &str,
        secure_key: &str,
    ) -> PaymentzMock {
        PaymentzMock {
            inner: Arc::new(Mutex::new(Inner {
                partner_id: partner_id.into(),
                username: username.into(),
                member_id: member_id.into(),
                secure_key: secure_key.into(),
                token_ttl_secs: 3600,
                tokens: HashMap::new(),
                token_fetches: 0,
                backoffice_layout: ["memberId", "secureKey", "paymentId", "amount"]
                    .map(String::from)
                    .to_vec(),
                payments: Vec::new(),
                next_id: 77251,
            })),
            payment_faults: Faults::default(),
        }
    }

    pub fn router(&self) -> Router {
        let payments = Router::new()
            .route(&format!("{PREFIX}/payments"), post(create))
            .route(&format!("{PREFIX}/payments/{{id}}"), post(backoffice))
            .route(&format!("{PREFIX}/inquiry"), post(inquiry))
            .with_state(self.clone());
        Router::new()
            .route(&format!("{PREFIX}/authToken"), post(auth_token))
            .with_state(self.clone())
            .merge(with_faults(payments, self.payment_faults.clone()))
    }

    /// The back-office checksum's fields, in order (`memberId`, `secureKey`, `paymentId`,
    /// `amount`), as the gateway is configured.
    pub fn set_backoffice_layout(&self, fields: &[&str]) {
        self.inner.lock().unwrap().backoffice_layout =
            fields.iter().map(|f| f.to_string()).collect();
    }

    /// Every token issued so far stops working (expired or revoked at the gateway) although
    /// its `exp` claim says otherwise.
    pub fn expire_tokens(&self) {
        for expiry in self.inner.lock().unwrap().tokens.values_mut() {
            *expiry = 0;
        }
    }

    pub fn token_fetches(&self) -> usize {
        self.inner.lock().unwrap().token_fetches
    }

    pub fn payments(&self) -> Vec<PzPayment> {
        self.inner.lock().unwrap().payments.clone()
    }

    pub fn payment(&self, payment_id: &str) -> Option<PzPayment> {
        self.payments()
            .into_iter()
            .find(|p| p.payment_id == payment_id)
    }

    /// The buyer passes 3-D Secure: a DB is captured, a PA authorised.
    pub fn approve(&self, payment_id: &str) -> bool {
        self.decide(payment_id, true)
    }

    pub fn decline(&self, payment_id: &str) -> bool {
        self.decide(payment_id, false)
    }

    fn decide(&self, payment_id: &str, approves: bool) -> bool {
        let mut inner = self.inner.lock().unwrap();
        let Some(p) = inner
            .payments
            .iter_mut()
            .find(|p| p.payment_id == payment_id && p.short == "3D")
        else {
            return false;
        };
        settle(p, approves);
        true
    }

    /// The notification Paymentz POSTs to `notificationUrl` about the payment as it is now:
    /// (URL, JSON body), checksum made with `key` (the merchant's secure key unless a test
    /// forges one).
    pub fn notification_with_key(
        &self,
        payment_id: &str,
        key: Option<&str>,
    ) -> Option<(String, String)> {
        let inner = self.inner.lock().unwrap();
        let p = inner.payments.iter().find(|p| p.payment_id == payment_id)?;
        let amount = amount_string(p.amount_minor);
        let key = key.unwrap_or(&inner.secure_key);
        let body = json!({
            "paymentId": p.payment_id,
            "merchantTransactionId": p.merchant_transaction_id,
            "amount": amount,
            "currency": p.currency,
            "status": p.status,
            "transactionStatus": p.short,
            "result": result_of(p),
            "card": {"bin": "400000", "last4Digits": "3220"},
            "paymentBrand": "VISA",
            "paymentMode": "CC",
            "remark": "",
            "timestamp": "2026-12-06 12:47:43",
            "checksum": md5_hex(&[&p.payment_id, &p.merchant_transaction_id, &amount, &p.short, key]),
        });
        Some((p.notification_url.clone(), body.to_string()))
    }

    pub fn notification(&self, payment_id: &str) -> Option<(String, String)> {
        self.notification_with_key(payment_id, None)
    }

    /// Rejects a call without a valid AuthToken as the gateway does (401).
    fn authorised(&self, headers: &HeaderMap) -> Result<(), PzError> {
        let token = headers
            .get("authtoken")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let inner = self.inner.lock().unwrap();
        match inner.tokens.get(token) {
            Some(&expiry) if expiry > now_secs() => Ok(()),
            _ => Err(error(
                StatusCode::UNAUTHORIZED,
                "10003",
                "Authorization token is invalid or expired",
            )),
        }
    }
}

fn settle(p: &mut PzPayment, approves: bool) {
    match (approves, p.payment_type.as_str()) {
        (true, "DB") => {
            p.status = "capturesuccess".into();
            p.short = "Y".into();
            p.captured_minor = p.amount_minor;
        }
        (true, _) => {
            p.status = "authsuccessful".into();
            p.short = "Y".into();
        }
        (false, _) => {
            p.status = "authfailed".into();
            p.short = "N".into();
        }
    }
}

fn result_of(p: &PzPayment) -> Value {
    match p.short.as_str() {
        "Y" => json!({"code": "00001", "description": "Transaction succeeded"}),
        "N" => json!({"code": "20007", "description": "Transaction declined by the issuer"}),
        "C" => json!({"code": "00001", "description": "Transaction cancelled"}),
        _ => {
            json!({"code": "00002", "description": "Transaction pending: 3D Secure authentication required"})
        }
    }
}

fn transaction(p: &PzPayment) -> Value {
    let mut body = json!({
        "paymentId": p.payment_id,
        "merchantTransactionId": p.merchant_transaction_id,
        "status": p.status,
        "transactionStatus": p.short,
        "result": result_of(p),
        "amount": amount_string(p.amount_minor),
        "currency": p.currency,
        "paymentBrand": "VISA",
        "paymentMode": "CC",
        "timestamp": "2026-12-06 12:47:43",
    });
    if p.short == "3D" {
        body["redirect"] = json!({"url": ACS_PAGE, "method": "GET",
            "parameters": [{"name": "paymentId", "value": p.payment_id}]});
    }
    body
}

fn form(body: &Bytes, headers: &HeaderMap) -> Result<Form, PzError> {
    let form_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if !form_type {
        return Err(bad(
            "Content-Type must be application/x-www-form-urlencoded",
        ));
    }
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .map(|pairs| pairs.into_iter().collect())
        .map_err(|_| bad("Malformed request body"))
}

fn field<'a>(form: &'a Form, name: &str) -> Result<&'a str, PzError> {
    form.get(name)
        .map(String::as_str)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| bad(&format!("Invalid request: {name} is required")))
}

async fn auth_token(State(mock): State<PaymentzMock>, headers: HeaderMap, body: Bytes) -> Response {
    let form = match form(&body, &headers) {
        Ok(f) => f,
        Err(r) => return r.into_response(),
    };
    let mut inner = mock.inner.lock().unwrap();
    let ok = form.get("authentication.partnerId") == Some(&inner.partner_id)
        && form.get("merchant.username") == Some(&inner.username)
        && form.get("authentication.sKey") == Some(&inner.secure_key);
    if !ok {
        return error(
            StatusCode::UNAUTHORIZED,
            "10001",
            "Authentication failed: invalid partnerId, username or sKey",
        )
        .into_response();
    }
    inner.token_fetches += 1;
    let exp = now_secs() + inner.token_ttl_secs;
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let token = format!(
        "{}.{}.{}",
        b64(json!({"alg": "HS256", "typ": "JWT"})),
        b64(
            json!({"iss": "PZ", "sub": inner.username, "role": "merchant", "exp": exp, "n": inner.token_fetches})
        ),
        hex::encode(rand::random::<[u8; 16]>())
    );
    inner.tokens.insert(token.clone(), exp);
    Json(json!({
        "partnerId": inner.partner_id, "memberId": inner.member_id,
        "result": {"code": "200", "description": "Token generated successfully"},
        "timestamp": "2026-12-06 12:47:43", "LoginName": inner.username, "AuthToken": token,
    }))
    .into_response()
}

async fn create(State(mock): State<PaymentzMock>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = mock.authorised(&headers) {
        return r.into_response();
    }
    let form = match form(&body, &headers) {
        Ok(f) => f,
        Err(r) => return r.into_response(),
    };
    match create_payment(&mock, &form) {
        Ok(v) => v,
        Err(e) => e.into_response(),
    }
}

fn create_payment(mock: &PaymentzMock, form: &Form) -> Result<Response, PzError> {
    for name in [
        "authentication.memberId",
        "authentication.checksum",
        "merchantTransactionId",
        "amount",
        "currency",
        "paymentType",
        "paymentMode",
        "paymentBrand",
        "card.number",
        "card.expiryMonth",
        "card.expiryYear",
        "card.cvv",
        "merchantRedirectUrl",
    ] {
        field(form, name)?;
    }
    let mut inner = mock.inner.lock().unwrap();
    let member = field(form, "authentication.memberId")?;
    if member != inner.member_id {
        return Err(error(StatusCode::UNAUTHORIZED, "10002", "Invalid memberId"));
    }
    let mtid = field(form, "merchantTransactionId")?;
    let amount_text = field(form, "amount")?;
    let expected = md5_hex(&[member, &inner.secure_key, mtid, amount_text]);
    if field(form, "authentication.checksum")? != expected {
        return Err(error(StatusCode::BAD_REQUEST, "10005", "Checksum mismatch"));
    }
    let amount = parse_amount(amount_text)
        .filter(|a| *a > 0)
        .ok_or_else(|| bad("Invalid amount: two decimals required"))?;
    let currency = field(form, "currency")?;
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(bad("Invalid currency"));
    }
    let payment_type = field(form, "paymentType")?;
    if !matches!(payment_type, "DB" | "PA") {
        return Err(bad("Invalid paymentType"));
    }
    let number = field(form, "card.number")?;
    let month = field(form, "card.expiryMonth")?;
    let year = field(form, "card.expiryYear")?;
    let cvv = field(form, "card.cvv")?;
    let month_ok = month.len() == 2 && matches!(month.parse::<u8>(), Ok(1..=12));
    if !luhn(number) || !month_ok || year.len() != 4 || !(3..=4).contains(&cvv.len()) {
        return Err(bad("Invalid card details"));
    }
    if inner
        .payments
        .iter()
        .any(|p| p.merchant_transaction_id == mtid)
    {
        return Err(bad("Duplicate merchantTransactionId"));
    }
    inner.next_id += 1;
    let mut p = PzPayment {
        payment_id: inner.next_id.to_string(),
        merchant_transaction_id: mtid.into(),
        payment_type: payment_type.into(),
        amount_minor: amount,
        currency: currency.into(),
        status: "authstarted".into(),
        short: "3D".into(),
        captured_minor: 0,
        refunded_minor: 0,
        refunds: 0,
        notification_url: form.get("notificationUrl").cloned().unwrap_or_default(),
    };
    match number {
        CARD_3DS => {}
        CARD_DECLINED => settle(&mut p, false),
        _ => settle(&mut p, true),
    }
    let answer = transaction(&p);
    inner.payments.push(p);
    Ok(Json(answer).into_response())
}

async fn backoffice(
    State(mock): State<PaymentzMock>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = mock.authorised(&headers) {
        return r.into_response();
    }
    let form = match form(&body, &headers) {
        Ok(f) => f,
        Err(r) => return r.into_response(),
    };
    match amend(&mock, &id, &form) {
        Ok(v) => v,
        Err(e) => e.into_response(),
    }
}

fn amend(mock: &PaymentzMock, id: &str, form: &Form) -> Result<Response, PzError> {
    let mut inner = mock.inner.lock().unwrap();
    let member = field(form, "authentication.memberId")?;
    if member != inner.member_id {
        return Err(error(StatusCode::UNAUTHORIZED, "10002", "Invalid memberId"));
    }
    let payment_type = field(form, "paymentType")?;
    let amount_text = match payment_type {
        "CP" | "RF" => Some(field(form, "amount")?),
        "RV" | "IN" => None,
        _ => return Err(bad("Invalid paymentType")),
    };
    let values: Vec<&str> = inner
        .backoffice_layout
        .iter()
        .filter_map(|f| match f.as_str() {
            "memberId" => Some(member),
            "secureKey" => Some(inner.secure_key.as_str()),
            "paymentId" => Some(id),
            "amount" => amount_text,
            _ => None,
        })
        .collect();
    if field(form, "authentication.checksum")? != md5_hex(&values) {
        return Err(error(StatusCode::BAD_REQUEST, "10005", "Checksum mismatch"));
    }
    let amount = match amount_text {
        Some(text) => Some(
            parse_amount(text)
                .filter(|a| *a > 0)
                .ok_or_else(|| bad("Invalid amount: two decimals required"))?,
        ),
        None => None,
    };
    let p = inner
        .payments
        .iter_mut()
        .find(|p| p.payment_id == id)
        .ok_or_else(|| error(StatusCode::NOT_FOUND, "10010", "Transaction not found"))?;
    let refuse = |why: &str| error(StatusCode::BAD_REQUEST, "20020", why);
    match (payment_type, amount) {
        ("CP", Some(a)) => {
            if p.status != "authsuccessful" {
                return Err(refuse("Capture is allowed only against an authorised PA"));
            }
            if a > p.amount_minor {
                return Err(refuse("Capture amount exceeds the authorised amount"));
            }
            p.status = "capturesuccess".into();
            p.captured_minor = a;
        }
        ("RV", None) => {
            if p.status != "authsuccessful" {
                return Err(refuse("Reversal is allowed only against an authorised PA"));
            }
            p.status = "authcancelled".into();
            p.short = "C".into();
        }
        ("RF", Some(a)) => {
            if p.status != "capturesuccess" && p.status != "reversed" {
                return Err(refuse(
                    "Refund is allowed only against a debit or a captured payment",
                ));
            }
            if p.refunds > 0 {
                return Err(refuse("Transaction has already been refunded"));
            }
            if a > p.captured_minor {
                return Err(refuse("Refund amount exceeds the captured amount"));
            }
            p.refunds += 1;
            p.refunded_minor += a;
            if p.refunded_minor == p.captured_minor {
                p.status = "reversed".into();
            }
        }
        _ => {}
    }
    Ok(Json(transaction(p)).into_response())
}

async fn inquiry(State(mock): State<PaymentzMock>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = mock.authorised(&headers) {
        return r.into_response();
    }
    let form = match form(&body, &headers) {
        Ok(f) => f,
        Err(r) => return r.into_response(),
    };
    let answer = (|| {
        let inner = mock.inner.lock().unwrap();
        let member = field(&form, "authentication.memberId")?;
        let mtid = field(&form, "merchantTransactionId")?;
        if field(&form, "paymentType")? != "IN" || field(&form, "idType")? != "MID" {
            return Err(bad("Invalid paymentType or idType"));
        }
        if field(&form, "authentication.checksum")? != md5_hex(&[member, &inner.secure_key, mtid]) {
            return Err(error(StatusCode::BAD_REQUEST, "10005", "Checksum mismatch"));
        }
        let p = inner
            .payments
            .iter()
            .find(|p| p.merchant_transaction_id == mtid)
            .ok_or_else(|| error(StatusCode::NOT_FOUND, "10010", "Transaction not found"))?;
        Ok(Json(transaction(p)).into_response())
    })();
    match answer {
        Ok(v) => v,
        Err(e) => e.into_response(),
    }
}
