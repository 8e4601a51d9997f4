//! A mock of Scalapay's Orders API ("3.0", paths under `/v2`) as the PGM's adapter meets it:
//! create order, get order details, find orders by merchant reference, capture, refund, and the
//! signed webhooks Scalapay sends.
//!
//! What it holds to, as documented (Scalapay's published OpenAPI of the Orders API, mirrored in
//! `api-evangelist/scalapay`; developers.scalapay.com "messages validation"):
//! - auth: `Authorization: Bearer <api key>`; a missing or wrong key is a 401 whose body is the
//!   bare JSON string `"Unauthorized"`;
//! - bodies are JSON; money is an object `{"amount":"190.00","currency":"EUR"}` with the amount
//!   a decimal *string*: a number, a comma, a sign or three decimals is a 400
//!   `api_validationerror` listing the field, Joi-style, as Scalapay answers;
//! - `POST /v2/orders` requires `totalAmount`, `consumer{givenNames, surname, email,
//!   phoneNumber}`, `shipping{name, countryCode, postcode, suburb, line1, phoneNumber}`,
//!   `items[]{name, category, sku, quantity, price}` and `merchant{redirectConfirmUrl,
//!   redirectCancelUrl}`; a missing one is a 400 `api_validationerror` naming its path, and a key
//!   the order schema does not list is refused as Joi refuses unknown keys;
//! - the refund body is `refundAmount` (required) and `merchantRefundReference`: any other key
//!   (`merchantReference` included, which only the answer carries) is refused the same way;
//! - an unknown order token is a 422 `invalid_token`;
//! - `Idempotency-Key`: a retried request gets the first answer again, with
//!   `Request-Idempotency: true`;
//! - state: an order is `created` until the buyer authorises it on Scalapay's page
//!   (`authorized`), `charged` once captured, `refunded` once refunded in full, `expired` when
//!   never captured. Refunds beyond what was captured are refused.
//!
//! Not documented, so chosen here and marked UNCERTAIN: the answer to capturing an order that is
//! not authorised and to refunding more than remains (a 400 with the published code
//! `pre_condition_failed`).

use crate::server::MockServer;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

/// Scalapay's public sandbox key (documented in its API reference).
pub const SANDBOX_API_KEY: &str = "qhtfs87hjnc12kkos";

/// `x-scalapay-hmac-v1`: hex HMAC-SHA256 keyed with the merchant's API key over
/// `"V1:" + timestamp + ":" + payload`, as Scalapay documents it. Independent of the PGM's own
/// code on purpose.
pub fn hmac_v1(api_key: &str, timestamp_ms: &str, payload: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(api_key.as_bytes()).expect("any key length");
    mac.update(format!("V1:{timestamp_ms}:{payload}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A request as it reached the mock.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: Option<String>,
    pub idempotency_key: Option<String>,
    pub body: String,
}

impl RecordedRequest {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockRefund {
    pub refund_token: String,
    pub amount_minor: i64,
    pub merchant_refund_reference: Option<String>,
}

#[derive(Debug, Clone)]
struct Order {
    token: String,
    created: String,
    created_seq: u64,
    status: String,
    capture_status: &'static str,
    total_minor: i64,
    currency: String,
    merchant_reference: Option<String>,
    details: Map<String, Value>,
    captured_minor: i64,
    refunds: Vec<MockRefund>,
    eligibility_feedback: Option<String>,
}

impl Order {
    fn refunded_minor(&self) -> i64 {
        self.refunds.iter().map(|r| r.amount_minor).sum()
    }
}

#[derive(Default)]
struct Books {
    api_key: String,
    base_url: String,
    next_id: u64,
    orders: BTreeMap<String, Order>,
    idempotency: BTreeMap<(String, String), (StatusCode, Value)>,
    captures: usize,
    requests: Vec<RecordedRequest>,
}

impl Books {
    fn next(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Ten upper-case letters and digits, like `71KH916VPE`.
    fn new_token(&mut self) -> String {
        const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
        let mut z = self.next().wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
        (0..10)
            .map(|_| {
                z = z.rotate_left(7).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                ALPHABET[(z % 36) as usize] as char
            })
            .collect()
    }
}

type Shared = Arc<Mutex<Books>>;

/// The Scalapay mock, serving until dropped.
pub struct ScalapayMock {
    pub server: MockServer,
    books: Shared,
}

impl ScalapayMock {
    /// Starts a mock that accepts [`SANDBOX_API_KEY`].
    pub async fn start() -> ScalapayMock {
        ScalapayMock::start_with_key(SANDBOX_API_KEY).await
    }

    pub async fn start_with_key(api_key: &str) -> ScalapayMock {
        let books: Shared = Arc::new(Mutex::new(Books {
            api_key: api_key.to_owned(),
            ..Books::default()
        }));
        let router = Router::new().fallback(dispatch).with_state(books.clone());
        let server = MockServer::start(router).await;
        books.lock().expect("books").base_url = server.url.clone();
        ScalapayMock { server, books }
    }

    pub fn url(&self) -> &str {
        &self.server.url
    }

    fn books(&self) -> MutexGuard<'_, Books> {
        self.books.lock().expect("books")
    }

    fn with_order<T>(
        &self,
        token: &str,
        f: impl FnOnce(&mut Order) -> Result<T, String>,
    ) -> Result<T, String> {
        let mut books = self.books();
        let order = books
            .orders
            .get_mut(token)
            .ok_or_else(|| format!("no order {token}"))?;
        f(order)
    }

    /// The buyer approves the plan on Scalapay's page: the order is `authorized`, and stays so
    /// until the merchant captures it.
    pub fn authorize_order(&self, token: &str) -> Result<(), String> {
        self.with_order(token, |o| {
            if o.status != "created" {
                return Err(format!("order {token} is {}", o.status));
            }
            o.status = "authorized".into();
            Ok(())
        })
    }

    /// The buyer is refused (fraud check): the order ends `expired` with the eligibility
    /// feedback Scalapay's example shows.
    pub fn decline_order(&self, token: &str) -> Result<(), String> {
        self.with_order(token, |o| {
            o.status = "expired".into();
            o.eligibility_feedback = Some("DECLINED_FRAUD".into());
            Ok(())
        })
    }

    /// The order (or its authorisation) times out uncaptured.
    pub fn expire_order(&self, token: &str) -> Result<(), String> {
        self.with_order(token, |o| {
            if o.capture_status == "captured" {
                return Err(format!("order {token} is captured"));
            }
            o.status = "expired".into();
            Ok(())
        })
    }

    /// Puts an order in any status (`pending`, `approved`, or one Scalapay may add later), for
    /// tests of the status mapping.
    pub fn force_status(&self, token: &str, status: &str) -> Result<(), String> {
        self.with_order(token, |o| {
            o.status = status.to_owned();
            Ok(())
        })
    }

    /// The order as `GET /v2/payments/{token}` shows it.
    pub fn order_json(&self, token: &str) -> Option<Value> {
        self.books().orders.get(token).map(order_json)
    }

    /// The body Scalapay POSTs to the merchant's webhook listener about this order now.
    /// (UNCERTAIN: the documented keys are there; `totalAmount`'s exact shape is not documented
    /// and is rendered as the usual money object.)
    pub fn webhook_body(&self, token: &str) -> Option<String> {
        let books = self.books();
        let o = books.orders.get(token)?;
        Some(
            json!({
                "totalAmount": money_json(o.total_minor, &o.currency),
                "status": o.status,
                "orderToken": o.token,
                "merchantReference": o.merchant_reference,
            })
            .to_string(),
        )
    }

    pub fn orders_created(&self) -> usize {
        self.books().orders.len()
    }

    /// How many captures Scalapay executed (each one takes the buyer's money).
    pub fn captures(&self) -> usize {
        self.books().captures
    }

    pub fn captured_minor(&self, token: &str) -> i64 {
        self.books()
            .orders
            .get(token)
            .map(|o| o.captured_minor)
            .unwrap_or(0)
    }

    pub fn refunds(&self, token: &str) -> Vec<MockRefund> {
        self.books()
            .orders
            .get(token)
            .map(|o| o.refunds.clone())
            .unwrap_or_default()
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.books().requests.clone()
    }
}

/// Now as ISO 8601 UTC with milliseconds (`2024-11-08T11:26:17.000Z`), as Scalapay writes dates.
fn now_iso() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let (days, rest) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Days since the epoch to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000
    )
}

// ---------------------------------------------------------------------------------------------
// Money as Scalapay writes it.

/// `"190.00"` → 19000. Decimal strings only, at most two decimals.
fn parse_minor(text: &str) -> Option<i64> {
    let (whole, fraction) = match text.split_once('.') {
        Some((w, f)) => (w, f),
        None => (text, ""),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty()
        || whole.len() > 12
        || !digits(whole)
        || fraction.len() > 2
        || !digits(fraction)
    {
        return None;
    }
    if text.contains('.') && fraction.is_empty() {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let fraction: i64 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().ok()?
    };
    let scale = if text.split_once('.').map(|(_, f)| f.len()) == Some(1) {
        10
    } else {
        1
    };
    Some(whole * 100 + fraction * scale)
}

fn money_json(minor: i64, currency: &str) -> Value {
    json!({"amount": format!("{}.{:02}", minor / 100, minor % 100), "currency": currency})
}

// ---------------------------------------------------------------------------------------------
// The HTTP side.

struct Answer {
    status: StatusCode,
    body: Value,
}

fn ok(body: Value) -> Answer {
    Answer {
        status: StatusCode::OK,
        body,
    }
}

fn error_id() -> String {
    let ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("error-{:x}", ns % 0xffff_ffff_ffff)
}

/// Scalapay's validation error: `api_validationerror` with the Joi-style list of fields.
fn validation(field: &[&str], message: impl Into<String>, kind: &str) -> Answer {
    Answer {
        status: StatusCode::BAD_REQUEST,
        body: json!({
            "errorCode": "api_validationerror",
            "errorId": error_id(),
            "message": {
                "status": 400,
                "statusText": "Bad Request",
                "errors": [{
                    "field": field,
                    "location": "body",
                    "messages": [message.into()],
                    "types": [kind],
                }],
            },
            "httpStatusCode": 400,
        }),
    }
}

fn failure(status: StatusCode, code: &str, message: impl Into<String>) -> Answer {
    Answer {
        status,
        body: json!({
            "errorCode": code,
            "errorId": error_id(),
            "message": message.into(),
            "httpStatusCode": status.as_u16(),
        }),
    }
}

fn invalid_token(token: &str) -> Answer {
    failure(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_token",
        format!("Order {token} not found."),
    )
}

fn respond(status: StatusCode, body: &Value, replayed: bool) -> Response {
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    if replayed {
        response
            .headers_mut()
            .insert("request-idempotency", HeaderValue::from_static("true"));
    }
    response
}

async fn dispatch(
    State(books): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut books = books.lock().expect("books");
    let text_header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = text_header("content-type");
    let idempotency_key = text_header("idempotency-key");
    books.requests.push(RecordedRequest {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or_default().to_owned(),
        content_type: content_type.clone(),
        idempotency_key: idempotency_key.clone(),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let authorised = text_header("authorization")
        .and_then(|v| v.strip_prefix("Bearer ").map(|k| k.trim() == books.api_key))
        .unwrap_or(false);
    if !authorised {
        return respond(StatusCode::UNAUTHORIZED, &json!("Unauthorized"), false);
    }
    let path = uri.path().to_owned();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();

    let json_body = if method == Method::POST {
        let is_json = content_type
            .as_deref()
            .is_some_and(|c| c.starts_with("application/json"));
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(map)) if is_json => Some(map),
            _ => {
                let answer = validation(
                    &[],
                    "Request body must be a JSON object (Content-Type: application/json)",
                    "object.base",
                );
                return respond(answer.status, &answer.body, false);
            }
        }
    } else {
        None
    };

    let idem = idempotency_key
        .filter(|_| method == Method::POST)
        .map(|k| (k, path.clone()));
    if let Some(saved) = idem.as_ref().and_then(|k| books.idempotency.get(k)) {
        return respond(saved.0, &saved.1, true);
    }

    let body = json_body.unwrap_or_default();
    let answer = match (&method, segments.as_slice()) {
        (&Method::POST, ["v2", "orders"]) => create_order(&mut books, &body),
        (&Method::GET, ["v2", "payments", "references"]) => {
            references(&books, uri.query().unwrap_or_default())
        }
        (&Method::GET, ["v2", "payments", token]) => match books.orders.get(*token) {
            Some(o) => ok(order_json(o)),
            None => invalid_token(token),
        },
        (&Method::POST, ["v2", "payments", "capture"]) => capture(&mut books, &body),
        (&Method::POST, ["v2", "payments", token, "refund"]) => refund(&mut books, token, &body),
        _ => failure(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("Cannot {method} {path}"),
        ),
    };
    // Only answers that did something are worth replaying; a refused request may be retried.
    if let (Some(key), true) = (idem, answer.status.is_success()) {
        books
            .idempotency
            .insert(key, (answer.status, answer.body.clone()));
    }
    respond(answer.status, &answer.body, false)
}

// ---------------------------------------------------------------------------------------------
// Field checks, Joi-style.

fn object<'a>(
    parent: &'a Map<String, Value>,
    path: &[&str],
    required: bool,
) -> Result<Option<&'a Map<String, Value>>, Answer> {
    let name = path.last().copied().unwrap_or_default();
    match parent.get(name) {
        None | Some(Value::Null) if !required => Ok(None),
        None | Some(Value::Null) => Err(validation(
            path,
            format!("\"{name}\" is required"),
            "any.required",
        )),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(validation(
            path,
            format!("\"{name}\" must be of type object"),
            "object.base",
        )),
    }
}

fn string<'a>(
    parent: &'a Map<String, Value>,
    path: &[&str],
    required: bool,
) -> Result<Option<&'a str>, Answer> {
    let name = path.last().copied().unwrap_or_default();
    match parent.get(name) {
        None | Some(Value::Null) if !required => Ok(None),
        None | Some(Value::Null) => Err(validation(
            path,
            format!("\"{name}\" is required"),
            "any.required",
        )),
        Some(Value::String(s)) if s.is_empty() => Err(validation(
            path,
            format!("\"{name}\" is not allowed to be empty"),
            "any.empty",
        )),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(validation(
            path,
            format!("\"{name}\" must be a string"),
            "string.base",
        )),
    }
}

/// A money object: `{"amount": "5.00", "currency": "EUR"}`.
fn money(
    parent: &Map<String, Value>,
    path: &[&str],
    required: bool,
) -> Result<Option<(i64, String)>, Answer> {
    let Some(map) = object(parent, path, required)? else {
        return Ok(None);
    };
    let field = |name: &'static str| [path, &[name]].concat();
    let amount = string(map, &field("amount"), true)?.unwrap_or_default();
    let Some(minor) = parse_minor(amount) else {
        return Err(validation(
            &field("amount"),
            format!("\"amount\" with value \"{amount}\" fails to match the required pattern: /^\\d+(\\.\\d{{1,2}})?$/"),
            "string.pattern.base",
        ));
    };
    let currency = string(map, &field("currency"), true)?.unwrap_or_default();
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(validation(
            &field("currency"),
            format!("\"currency\" with value \"{currency}\" fails to match the required pattern: /^[A-Z]{{3}}$/"),
            "string.pattern.base",
        ));
    }
    Ok(Some((minor, currency.to_owned())))
}

fn url(parent: &Map<String, Value>, path: &[&str]) -> Result<(), Answer> {
    let value = string(parent, path, true)?.unwrap_or_default();
    if value.starts_with("https://") || value.starts_with("http://") {
        Ok(())
    } else {
        let name = path.last().copied().unwrap_or_default();
        Err(validation(
            path,
            format!("\"{name}\" must be a valid uri"),
            "string.uri",
        ))
    }
}

const ORDER_FIELDS: [&str; 15] = [
    "totalAmount",
    "consumer",
    "billing",
    "shipping",
    "items",
    "discounts",
    "merchant",
    "merchantReference",
    "shippingAmount",
    "taxAmount",
    "type",
    "product",
    "frequency",
    "orderExpiryMilliseconds",
    "extensions",
];

fn validate_order(body: &Map<String, Value>) -> Result<(i64, String), Answer> {
    if let Some(unknown) = body.keys().find(|k| !ORDER_FIELDS.contains(&k.as_str())) {
        return Err(validation(
            &[unknown],
            format!("\"{unknown}\" is not allowed"),
            "object.unknown",
        ));
    }
    let (total, currency) = money(body, &["totalAmount"], true)?.unwrap_or_default();
    let consumer = object(body, &["consumer"], true)?
        .cloned()
        .unwrap_or_default();
    string(&consumer, &["consumer", "givenNames"], true)?;
    string(&consumer, &["consumer", "surname"], true)?;
    let email = string(&consumer, &["consumer", "email"], true)?.unwrap_or_default();
    if !email.contains('@') {
        return Err(validation(
            &["consumer", "email"],
            "\"email\" must be a valid email",
            "string.email",
        ));
    }
    string(&consumer, &["consumer", "phoneNumber"], true)?;
    let shipping = object(body, &["shipping"], true)?
        .cloned()
        .unwrap_or_default();
    for field in [
        "name",
        "countryCode",
        "postcode",
        "suburb",
        "line1",
        "phoneNumber",
    ] {
        string(&shipping, &["shipping", field], true)?;
    }
    match body.get("items") {
        Some(Value::Array(items)) if !items.is_empty() => {
            for (i, item) in items.iter().enumerate() {
                let index = i.to_string();
                let at = |name: &'static str| vec!["items", index.as_str(), name];
                let Value::Object(item) = item else {
                    return Err(validation(
                        &["items", &index],
                        "\"value\" must be of type object",
                        "object.base",
                    ));
                };
                for field in ["name", "category", "sku"] {
                    string(item, &at(field), true)?;
                }
                match item.get("quantity") {
                    Some(Value::Number(n)) if n.as_u64().is_some_and(|q| q >= 1) => {}
                    None | Some(Value::Null) => {
                        return Err(validation(
                            &at("quantity"),
                            "\"quantity\" is required",
                            "any.required",
                        ))
                    }
                    _ => {
                        return Err(validation(
                            &at("quantity"),
                            "\"quantity\" must be an integer greater than or equal to 1",
                            "number.base",
                        ))
                    }
                }
                money(item, &at("price"), true)?;
            }
        }
        Some(Value::Array(_)) => {
            return Err(validation(
                &["items"],
                "\"items\" must contain at least 1 items",
                "array.min",
            ))
        }
        Some(_) => {
            return Err(validation(
                &["items"],
                "\"items\" must be an array",
                "array.base",
            ))
        }
        None => {
            return Err(validation(
                &["items"],
                "\"items\" is required",
                "any.required",
            ))
        }
    }
    let merchant = object(body, &["merchant"], true)?
        .cloned()
        .unwrap_or_default();
    url(&merchant, &["merchant", "redirectConfirmUrl"])?;
    url(&merchant, &["merchant", "redirectCancelUrl"])?;
    string(body, &["merchantReference"], false)?;
    for (field, allowed) in [
        ("type", &["", "online", "offline", "link"][..]),
        ("product", &["", "pay-in-3", "pay-in-4", "later"][..]),
    ] {
        if let Some(value) = body.get(field) {
            if !value.as_str().is_some_and(|v| allowed.contains(&v)) {
                return Err(validation(
                    &[field],
                    format!("\"{field}\" must be one of [{}]", allowed.join(", ")),
                    "any.only",
                ));
            }
        }
    }
    Ok((total, currency))
}

// ---------------------------------------------------------------------------------------------
// Endpoints.

fn create_order(books: &mut Books, body: &Map<String, Value>) -> Answer {
    let (total_minor, currency) = match validate_order(body) {
        Ok(v) => v,
        Err(a) => return a,
    };
    if total_minor == 0 {
        return validation(
            &["totalAmount", "amount"],
            "\"amount\" must be greater than 0",
            "number.min",
        );
    }
    let token = books.new_token();
    let created_seq = books.next();
    let order = Order {
        token: token.clone(),
        created: now_iso(),
        created_seq,
        status: "created".into(),
        capture_status: "pending",
        total_minor,
        currency,
        merchant_reference: body
            .get("merchantReference")
            .and_then(Value::as_str)
            .map(str::to_owned),
        details: body.clone(),
        captured_minor: 0,
        refunds: Vec::new(),
        eligibility_feedback: None,
    };
    books.orders.insert(token.clone(), order);
    ok(json!({
        "token": token,
        "expires": now_iso(),
        "checkoutUrl": format!("{}/checkout/{token}", books.base_url),
    }))
}

fn order_json(o: &Order) -> Value {
    let mut details = o.details.clone();
    if let Some(reference) = &o.merchant_reference {
        details.insert("merchantReference".into(), json!(reference));
    }
    let mut body = json!({
        "token": o.token,
        "created": o.created,
        "status": o.status,
        "captureStatus": o.capture_status,
        "totalAmount": money_json(o.total_minor, &o.currency),
        "orderDetails": details,
    });
    if let Some(feedback) = &o.eligibility_feedback {
        body["lastEligibilityFeedback"] = json!(feedback);
    }
    body
}

fn references(books: &Books, query: &str) -> Answer {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    let param = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let (token, reference) = (param("orderToken"), param("merchantOrderReference"));
    if token.is_none() && reference.is_none() && param("merchantProcessorReference").is_none() {
        return failure(
            StatusCode::BAD_REQUEST,
            "pre_condition_failed",
            "At least one query parameter must be provided.",
        );
    }
    let mut found: Vec<&Order> = books
        .orders
        .values()
        .filter(|o| token.is_none_or(|t| o.token == t))
        .filter(|o| reference.is_none_or(|r| o.merchant_reference.as_deref() == Some(r)))
        .collect();
    found.sort_by_key(|o| std::cmp::Reverse(o.created_seq));
    ok(Value::Array(
        found
            .into_iter()
            .take(100)
            .map(|o| {
                json!({
                    "orderToken": o.token,
                    "merchantOrderReference": o.merchant_reference,
                    "merchantProcessorReference": null,
                    "createdAt": o.created,
                })
            })
            .collect(),
    ))
}

fn capture(books: &mut Books, body: &Map<String, Value>) -> Answer {
    let token = match string(body, &["token"], true) {
        Ok(t) => t.unwrap_or_default().to_owned(),
        Err(a) => return a,
    };
    let amount = match money(body, &["amount"], false) {
        Ok(a) => a,
        Err(a) => return a,
    };
    let reference = match string(body, &["merchantReference"], false) {
        Ok(r) => r.map(str::to_owned),
        Err(a) => return a,
    };
    let Some(order) = books.orders.get_mut(&token) else {
        return invalid_token(&token);
    };
    // UNCERTAIN (undocumented): the exact answer for an order that is not awaiting capture.
    if !(order.status == "authorized" || order.status == "approved")
        || order.capture_status == "captured"
    {
        return failure(
            StatusCode::BAD_REQUEST,
            "pre_condition_failed",
            format!("Order {token} cannot be captured: it is {}.", order.status),
        );
    }
    let minor = match amount {
        Some((minor, currency))
            if currency != order.currency || minor == 0 || minor > order.total_minor =>
        {
            return validation(
                &["amount", "amount"],
                format!(
                    "\"amount\" must be between 0.01 and the order total in {}",
                    order.currency
                ),
                "number.max",
            )
        }
        Some((minor, _)) => minor,
        None => order.total_minor,
    };
    if reference.is_some() {
        order.merchant_reference = reference;
    }
    order.status = "charged".into();
    order.capture_status = "captured";
    order.captured_minor = minor;
    let answer = json!({
        "token": order.token,
        "status": "APPROVED",
        "totalAmount": money_json(minor, &order.currency),
        "orderDetails": order_json(order)["orderDetails"].clone(),
        "capturedAt": now_iso(),
    });
    books.captures += 1;
    ok(answer)
}

/// The refund request's schema: `refundAmount` (required) and `merchantRefundReference`. Nothing
/// else (`merchantReference` is in the answer, not the request).
const REFUND_FIELDS: [&str; 2] = ["refundAmount", "merchantRefundReference"];

fn refund(books: &mut Books, token: &str, body: &Map<String, Value>) -> Answer {
    if let Some(unknown) = body.keys().find(|k| !REFUND_FIELDS.contains(&k.as_str())) {
        return validation(
            &[unknown],
            format!("\"{unknown}\" is not allowed"),
            "object.unknown",
        );
    }
    let (minor, currency) = match money(body, &["refundAmount"], true) {
        Ok(a) => a.unwrap_or_default(),
        Err(a) => return a,
    };
    let refund_reference = match string(body, &["merchantRefundReference"], false) {
        Ok(rr) => rr.map(str::to_owned),
        Err(a) => return a,
    };
    let refund_token = format!("rfnd_{}", books.new_token());
    let Some(order) = books.orders.get_mut(token) else {
        return invalid_token(token);
    };
    if currency != order.currency {
        return validation(
            &["refundAmount", "currency"],
            format!("\"currency\" must be {}", order.currency),
            "any.only",
        );
    }
    // UNCERTAIN (undocumented): the exact answer for refunding an uncaptured order or more than
    // remains; that Scalapay refuses both is certain.
    if order.capture_status != "captured" {
        return failure(
            StatusCode::BAD_REQUEST,
            "pre_condition_failed",
            format!("Order {token} has not been captured."),
        );
    }
    let remaining = order.captured_minor - order.refunded_minor();
    if minor == 0 || minor > remaining {
        return failure(
            StatusCode::BAD_REQUEST,
            "pre_condition_failed",
            format!(
                "Refund amount {} exceeds the refundable amount {}.",
                money_json(minor, &currency)["amount"]
                    .as_str()
                    .unwrap_or_default(),
                money_json(remaining, &currency)["amount"]
                    .as_str()
                    .unwrap_or_default()
            ),
        );
    }
    order.refunds.push(MockRefund {
        refund_token: refund_token.clone(),
        amount_minor: minor,
        merchant_refund_reference: refund_reference.clone(),
    });
    if order.refunded_minor() == order.captured_minor {
        order.status = "refunded".into();
    }
    ok(json!({
        "token": order.token,
        "amount": money_json(minor, &currency),
        "merchantReference": order.merchant_reference,
        "merchantRefundReference": refund_reference,
        "refundToken": refund_token,
        "refundedAt": now_iso(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_decimal_strings_with_at_most_two_decimals() {
        assert_eq!(parse_minor("190.00"), Some(19000));
        assert_eq!(parse_minor("5"), Some(500));
        assert_eq!(parse_minor("5.5"), Some(550));
        for bad in ["", "5.", ".5", "5,00", "-5", "5.001", "1e3", " 5"] {
            assert_eq!(parse_minor(bad), None, "{bad}");
        }
    }

    #[test]
    fn signs_as_documented() {
        // The inputs of Scalapay's documented example; the expected value computed separately
        // (Python's hmac module) from "V1:<timestamp>:<payload>".
        assert_eq!(
            hmac_v1("api_key", "1234567890123", "{\"payload\":\"payload\"}"),
            "1c9b245f89f458d992c1681c60388e0bda17335de5492f23547a0f9de5bf5969"
        );
    }
}
