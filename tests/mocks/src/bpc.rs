//! A mock of BPC's payment gateway API v2 (`api2`), written from seed 002 ("Direct
//! integration", dev.bpcbt.com) and docs/providers.md §8, not from the PGM's adapter.
//!
//! What it holds to, as the seed shows BPC doing:
//! - every request carries `X-Api-Key` (a wrong or missing one is a 401) and `X-Version` (a
//!   date, `2023-10-31` in the seed; missing or malformed is a 400); bodies are
//!   `application/json`;
//! - `POST /api2/payments`: `amount` an integer of minor units (a string or `5.00` is a 400),
//!   `currency` a three-letter ISO 4217 code (returned lower case, as in the seed), either a
//!   `paymentMethod` block with card data (`type: "card"`, `card{number, expiryMonth,
//!   expiryYear, cvc, holderName?}`) or a `storedPaymentMethodId`, never both; `captureMethod`
//!   `automatic` (default) or `manual`; unknown top-level fields are refused;
//! - statuses `requiresAction` (with `nextAction`, 3-D Secure), `requiresCapture` (manual
//!   capture), `succeeded`, `canceled`, `failed`; card data is answered masked;
//! - `GET /api2/payments/{id}`, and `GET /api2/payments?metadata[<key>]=<value>&limit=` (a
//!   list `{"data":[…],"hasMore"}`);
//! - `POST /api2/payments/{id}/capture` `{"amount"?}` (at most `amountCapturable`), `POST
//!   /api2/payments/{id}/cancel` (only before the first capture: `requiresPaymentMethod`,
//!   `requiresCapture`, `requiresAction`), `POST /api2/refunds` `{"paymentId","amount"?,
//!   "metadata"?}` (only after capture, never beyond what was received). These three paths are
//!   not confirmed by BPC's public pages (providers.md §8 "UNCERTAIN"); they are the adapter's
//!   configurable defaults;
//! - errors: `{"error":{"type","code","message","param"?}}` with a 4xx status.
//!
//! Webhooks: BPC signs each event with the endpoint's secret (`X-Signature`); the exact scheme
//! is not public, so the mock uses the adapter's documented default, hex HMAC-SHA256 of the raw
//! body, computed here independently of the PGM's code. Tests play the buyer with
//! [`BpcMock::complete_3ds`] and BPC's webhook sender with [`BpcMock::event_body`] and
//! [`signature`]; [`BpcMock::send_webhooks_to`] makes the mock POST them itself (the
//! `bpc_mock` example, for trying the flow by hand).

use crate::server::MockServer;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Router;
use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// The key the mock accepts unless told otherwise.
pub const TEST_API_KEY: &str = "bpc_test_6HUXQFbeomV1zf5i8cgm5W8K";
/// A card that needs 3-D Secure: the answer carries `nextAction`.
pub const CARD_3DS: &str = "4000000000003220";
/// The seed's card: approved without 3-D Secure.
pub const CARD_OK: &str = "4444555511113333";
/// A card the issuer declines: `failed`.
pub const CARD_DECLINED: &str = "4000000000000002";
/// Stored Payment Methods with the same outcomes.
pub const STORED_3DS: &str = "spm_3ds";
pub const STORED_OK: &str = "spm_ok";
pub const STORED_DECLINED: &str = "spm_declined";

/// `X-Signature` of a webhook body: hex HMAC-SHA256(secret, raw body).
pub fn signature(webhook_secret: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(webhook_secret.as_bytes()).expect("any key");
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    ThreeDs,
    Approve,
    Decline,
}

#[derive(Debug, Clone)]
struct Payment {
    id: String,
    created: String,
    amount: i64,
    currency: String,
    capture_method: String,
    status: &'static str,
    amount_capturable: i64,
    amount_received: i64,
    refunded: i64,
    description: Option<String>,
    metadata: Map<String, Value>,
    return_url: Option<String>,
    customer_details: Option<Value>,
    /// The card as answered: masked.
    card: Option<Value>,
    stored_payment_method_id: Option<String>,
}

/// A refund as BPC's books hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockRefund {
    pub id: String,
    pub payment_id: String,
    pub amount: i64,
    pub metadata: BTreeMap<String, String>,
}

#[derive(Default)]
struct Books {
    api_key: String,
    base_url: String,
    payments: Vec<Payment>,
    refunds: Vec<MockRefund>,
    /// Events in the order BPC would send them: (type, payment id).
    events: Vec<(String, String)>,
    webhook: Option<(String, String)>,
    next: u64,
}

type Shared = Arc<Mutex<Books>>;

pub struct BpcMock {
    pub server: MockServer,
    books: Shared,
}

impl BpcMock {
    pub async fn start() -> BpcMock {
        BpcMock::start_with_key(TEST_API_KEY).await
    }

    pub async fn start_with_key(api_key: &str) -> BpcMock {
        BpcMock::start_at(api_key, "127.0.0.1:0").await
    }

    /// A mock on a fixed address (the `bpc_mock` example).
    pub async fn start_on(addr: &str) -> BpcMock {
        BpcMock::start_at(TEST_API_KEY, addr).await
    }

    async fn start_at(api_key: &str, addr: &str) -> BpcMock {
        let books: Shared = Arc::new(Mutex::new(Books {
            api_key: api_key.to_owned(),
            ..Books::default()
        }));
        let router = Router::new().fallback(dispatch).with_state(books.clone());
        let server = MockServer::start_on(router, addr).await;
        books.lock().expect("books").base_url = server.url.clone();
        BpcMock { server, books }
    }

    /// The API base, as `BPC_BASE_URL` takes it (`…/api2`, like `https://dev.bpcbt.com/api2`).
    pub fn url(&self) -> String {
        format!("{}/api2", self.server.url)
    }

    fn books(&self) -> MutexGuard<'_, Books> {
        self.books.lock().expect("books")
    }

    /// Makes the mock POST every event it emits to `url`, signed with `secret`, as BPC does
    /// for a registered webhook endpoint.
    pub fn send_webhooks_to(&self, url: &str, secret: &str) {
        self.books().webhook = Some((url.to_owned(), secret.to_owned()));
    }

    /// The buyer passes (or fails) 3-D Secure at the ACS: the payment goes on to `succeeded`
    /// (`requiresCapture` with manual capture), or `failed`.
    pub fn complete_3ds(&self, id: &str, approves: bool) -> Result<(), String> {
        complete_3ds(&self.books, id, approves)
    }

    /// The Payment object as `GET /payments/{id}` answers it.
    pub fn payment_json(&self, id: &str) -> Option<Value> {
        let books = self.books();
        books.payments.iter().find(|p| p.id == id).map(payment_json)
    }

    /// A webhook body about the payment as it is now: `{"created","type","data":{"object"}}`.
    pub fn event_body(&self, event_type: &str, id: &str) -> Option<String> {
        self.payment_json(id)
            .map(|object| event_body_for(event_type, object))
    }

    /// The events emitted so far: (type, payment id).
    pub fn events(&self) -> Vec<(String, String)> {
        self.books().events.clone()
    }

    pub fn payments_created(&self) -> usize {
        self.books().payments.len()
    }

    /// Payments that took the buyer's money.
    pub fn charges(&self) -> usize {
        self.books()
            .payments
            .iter()
            .filter(|p| p.amount_received > 0)
            .count()
    }

    pub fn refunds(&self) -> Vec<MockRefund> {
        self.books().refunds.clone()
    }

    /// The ids of the payments created, oldest first.
    pub fn payment_ids(&self) -> Vec<String> {
        self.books().payments.iter().map(|p| p.id.clone()).collect()
    }
}

pub fn event_body_for(event_type: &str, object: Value) -> String {
    json!({"created": now_iso(), "type": event_type, "data": {"object": object}}).to_string()
}

fn now_iso() -> String {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn payment_json(p: &Payment) -> Value {
    let mut v = json!({
        "id": p.id,
        "amount": p.amount,
        "amountCapturable": p.amount_capturable,
        "amountReceived": p.amount_received,
        "amountRefunded": p.refunded,
        "captureMethod": p.capture_method,
        "created": p.created,
        "currency": p.currency,
        "customerDetails": p.customer_details.clone().unwrap_or(json!({})),
        "description": p.description,
        "metadata": p.metadata,
        "returnUrl": p.return_url,
        "status": p.status,
    });
    if let Some(card) = &p.card {
        v["paymentMethod"] = json!({"type": "card", "card": card});
    }
    if let Some(spm) = &p.stored_payment_method_id {
        v["storedPaymentMethodId"] = json!(spm);
    }
    v
}

fn error(
    status: StatusCode,
    kind: &str,
    code: &str,
    message: &str,
    param: Option<&str>,
) -> Response {
    let mut e = json!({"type": kind, "code": code, "message": message});
    if let Some(param) = param {
        e["param"] = json!(param);
    }
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"error": e}).to_string(),
    )
        .into_response()
}

fn invalid(code: &str, message: &str, param: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "invalidRequestError",
        code,
        message,
        Some(param),
    )
}

/// [`invalid`], boxed: a `Response` is too large to be the error of a `Result` passed around.
fn bad(code: &str, message: &str, param: &str) -> Box<Response> {
    Box::new(invalid(code, message, param))
}

fn not_found(what: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "invalidRequestError",
        "resourceMissing",
        &format!("No such {what}"),
        None,
    )
}

fn ok(value: Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

/// Queues an event and, when a webhook endpoint is set, POSTs it signed.
fn emit(books: &mut Books, event_type: &str, id: &str) {
    books.events.push((event_type.to_owned(), id.to_owned()));
    let Some((url, secret)) = books.webhook.clone() else {
        return;
    };
    let Some(object) = books.payments.iter().find(|p| p.id == id).map(payment_json) else {
        return;
    };
    let body = event_body_for(event_type, object);
    let sig = signature(&secret, &body);
    // After the answer that caused it, as BPC's asynchronous delivery would be.
    tokio::task::spawn_blocking(move || {
        std::thread::sleep(std::time::Duration::from_millis(50));
        if let Err(e) = post_raw(&url, &body, &sig) {
            eprintln!("bpc mock: webhook to {url} failed: {e}");
        }
    });
}

/// A minimal HTTP/1.1 POST over a plain TCP connection (the mock has no HTTP client, and its
/// webhooks only go to a local PGM).
fn post_raw(url: &str, body: &str, sig: &str) -> std::io::Result<()> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "only http:// webhook URLs",
        )
    })?;
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let mut stream = std::net::TcpStream::connect(host)?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nX-Version: 2023-11-15\r\nX-Signature: {sig}\r\nAPI-Request-Id: req_{}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        rand::random::<u64>(),
        body.len()
    );
    stream.write_all(request.as_bytes())?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    Ok(())
}

fn complete_3ds(books: &Shared, id: &str, approves: bool) -> Result<(), String> {
    let mut books = books.lock().expect("books");
    let p = books
        .payments
        .iter_mut()
        .find(|p| p.id == id)
        .ok_or_else(|| format!("no payment {id}"))?;
    if p.status != "requiresAction" {
        return Err(format!("payment {id} is {}, not requiresAction", p.status));
    }
    let event = settle(
        p,
        if approves {
            Outcome::Approve
        } else {
            Outcome::Decline
        },
    );
    emit(&mut books, event, id);
    Ok(())
}

/// Applies an authorisation outcome; returns the event BPC sends for it.
fn settle(p: &mut Payment, outcome: Outcome) -> &'static str {
    match (outcome, p.capture_method.as_str()) {
        (Outcome::Decline, _) => {
            p.status = "failed";
            "payment.failed"
        }
        (_, "manual") => {
            p.status = "requiresCapture";
            p.amount_capturable = p.amount;
            "payment.amountCapturableUpdated"
        }
        _ => {
            p.status = "succeeded";
            p.amount_received = p.amount;
            "payment.succeeded"
        }
    }
}

async fn dispatch(
    State(books): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    // The ACS page the buyer is sent to: no API key (it is the buyer's browser).
    if let Some(id) = path.strip_prefix("/acs/") {
        return acs(&books, &method, id, &body);
    }
    let Some(route) = path.strip_prefix("/api2") else {
        return not_found("route");
    };
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
    if key != Some(books.lock().expect("books").api_key.as_str()) {
        return error(
            StatusCode::UNAUTHORIZED,
            "authenticationError",
            "invalidApiKey",
            "Invalid API key provided",
            None,
        );
    }
    let version = headers.get("x-version").and_then(|v| v.to_str().ok());
    if !version.is_some_and(is_date) {
        return invalid(
            "versionInvalid",
            "X-Version must be an API version date (YYYY-MM-DD)",
            "X-Version",
        );
    }
    let segments: Vec<&str> = route.trim_start_matches('/').split('/').collect();
    let json_body = || -> Result<Map<String, Value>, Box<Response>> {
        let is_json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("application/json"));
        if !is_json {
            return Err(bad(
                "contentTypeInvalid",
                "Content-Type must be application/json",
                "Content-Type",
            ));
        }
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(bad("bodyInvalid", "The body must be a JSON object", "body")),
        }
    };
    let mut books = books.lock().expect("books");
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["payments"]) => match json_body() {
            Ok(b) => create_payment(&mut books, b),
            Err(e) => *e,
        },
        ("GET", ["payments"]) => list_payments(&books, uri.query().unwrap_or("")),
        ("GET", ["payments", id]) => match books.payments.iter().find(|p| p.id == *id) {
            Some(p) => ok(payment_json(p)),
            None => not_found("payment"),
        },
        ("POST", ["payments", id, "capture"]) => match json_body() {
            Ok(b) => capture(&mut books, id, b),
            Err(e) => *e,
        },
        ("POST", ["payments", id, "cancel"]) => match json_body() {
            Ok(b) if b.is_empty() => cancel(&mut books, id),
            Ok(_) => invalid("parameterUnknown", "cancel takes no parameters", "body"),
            Err(e) => *e,
        },
        ("POST", ["refunds"]) => match json_body() {
            Ok(b) => refund(&mut books, b),
            Err(e) => *e,
        },
        _ => not_found("route"),
    }
}

fn is_date(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
}

/// An integer of minor units: a JSON number without a fraction (`5.00` and `"500"` are not).
fn minor_units(
    v: Option<&Value>,
    param: &str,
    required: bool,
) -> Result<Option<i64>, Box<Response>> {
    match v {
        None if !required => Ok(None),
        None => Err(bad(
            "parameterMissing",
            &format!("Missing required param: {param}"),
            param,
        )),
        Some(Value::Number(n)) if n.is_i64() && n.as_i64() > Some(0) => Ok(n.as_i64()),
        Some(_) => Err(bad(
            "amountInvalid",
            &format!("{param} must be a positive integer in minor currency units"),
            param,
        )),
    }
}

const ISO_CURRENCIES: &[&str] = &[
    "eur", "usd", "gbp", "chf", "jpy", "pln", "czk", "huf", "sek", "dkk", "nok", "ron", "bgn",
    "kzt", "uzs", "amd", "byn", "rub", "try", "aed",
];

fn create_payment(books: &mut Books, b: Map<String, Value>) -> Response {
    const KNOWN: &[&str] = &[
        "amount",
        "currency",
        "captureMethod",
        "customerDetails",
        "description",
        "metadata",
        "paymentMethod",
        "paymentMethodOptions",
        "returnUrl",
        "storedPaymentMethodId",
    ];
    if let Some(unknown) = b.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return invalid(
            "parameterUnknown",
            &format!("Received unknown parameter: {unknown}"),
            unknown,
        );
    }
    let amount = match minor_units(b.get("amount"), "amount", true) {
        Ok(a) => a.unwrap_or_default(),
        Err(e) => return *e,
    };
    let currency = match b.get("currency").and_then(Value::as_str) {
        Some(c) if ISO_CURRENCIES.contains(&c.to_ascii_lowercase().as_str()) => {
            c.to_ascii_lowercase()
        }
        Some(_) => {
            return invalid(
                "currencyInvalid",
                "currency must be a three-letter ISO 4217 code",
                "currency",
            )
        }
        None => {
            return invalid(
                "parameterMissing",
                "Missing required param: currency",
                "currency",
            )
        }
    };
    let capture_method = match b.get("captureMethod") {
        None => "automatic".to_owned(),
        Some(Value::String(m)) if m == "automatic" || m == "manual" => m.clone(),
        Some(_) => {
            return invalid(
                "parameterInvalid",
                "captureMethod must be automatic or manual",
                "captureMethod",
            )
        }
    };
    let metadata = match b.get("metadata") {
        None => Map::new(),
        Some(Value::Object(m)) if m.values().all(Value::is_string) => m.clone(),
        Some(_) => {
            return invalid(
                "parameterInvalid",
                "metadata must be an object of strings",
                "metadata",
            )
        }
    };
    let return_url = match b.get("returnUrl") {
        None => None,
        Some(Value::String(u)) if u.starts_with("https://") || u.starts_with("http://") => {
            Some(u.clone())
        }
        Some(_) => {
            return invalid(
                "urlInvalid",
                "returnUrl must be an http(s) URL",
                "returnUrl",
            )
        }
    };
    let description = match b.get("description") {
        None => None,
        Some(Value::String(d)) => Some(d.clone()),
        Some(_) => {
            return invalid(
                "parameterInvalid",
                "description must be a string",
                "description",
            )
        }
    };
    let customer_details = match b.get("customerDetails") {
        None => None,
        Some(Value::Object(c)) => {
            if c.get("email")
                .is_some_and(|e| !e.as_str().is_some_and(|e| e.contains('@')))
            {
                return invalid(
                    "emailInvalid",
                    "customerDetails.email is not an e-mail address",
                    "customerDetails.email",
                );
            }
            Some(Value::Object(c.clone()))
        }
        Some(_) => {
            return invalid(
                "parameterInvalid",
                "customerDetails must be an object",
                "customerDetails",
            )
        }
    };
    let (card, stored, outcome) = match (b.get("paymentMethod"), b.get("storedPaymentMethodId")) {
        (Some(_), Some(_)) => {
            return invalid(
                "parameterConflict",
                "Pass either paymentMethod or storedPaymentMethodId, not both",
                "paymentMethod",
            )
        }
        (None, None) => {
            return invalid(
                "parameterMissing",
                "Pass paymentMethod with card data or storedPaymentMethodId",
                "paymentMethod",
            )
        }
        (Some(pm), None) => match read_card(pm) {
            Ok((masked, outcome)) => (Some(masked), None, outcome),
            Err(e) => return *e,
        },
        (None, Some(Value::String(spm))) => {
            let outcome = match spm.as_str() {
                STORED_3DS => Outcome::ThreeDs,
                STORED_OK => Outcome::Approve,
                STORED_DECLINED => Outcome::Decline,
                _ => {
                    return invalid(
                        "storedPaymentMethodNotFound",
                        "No such stored payment method",
                        "storedPaymentMethodId",
                    )
                }
            };
            (None, Some(spm.clone()), outcome)
        }
        (None, Some(_)) => {
            return invalid(
                "parameterInvalid",
                "storedPaymentMethodId must be a string",
                "storedPaymentMethodId",
            )
        }
    };
    if outcome == Outcome::ThreeDs && return_url.is_none() {
        return invalid(
            "parameterMissing",
            "returnUrl is required when 3-D Secure may be needed",
            "returnUrl",
        );
    }
    books.next += 1;
    let id = format!("p_{}{:08}", random_part(), books.next);
    let mut p = Payment {
        id: id.clone(),
        created: now_iso(),
        amount,
        currency,
        capture_method,
        status: "requiresAction",
        amount_capturable: 0,
        amount_received: 0,
        refunded: 0,
        description,
        metadata,
        return_url,
        customer_details,
        card,
        stored_payment_method_id: stored,
    };
    let settled = (outcome != Outcome::ThreeDs).then(|| settle(&mut p, outcome));
    let mut answer = payment_json(&p);
    if p.status == "requiresAction" {
        answer["nextAction"] = json!({
            "type": "redirectToUrl",
            "redirectToUrl": {"url": format!("{}/acs/{id}", books.base_url), "returnUrl": p.return_url},
        });
    }
    books.payments.push(p);
    emit(books, "payment.created", &id);
    if let Some(event) = settled {
        emit(books, event, &id);
    }
    ok(answer)
}

fn random_part() -> String {
    format!("{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff)
}

fn read_card(pm: &Value) -> Result<(Value, Outcome), Box<Response>> {
    let param = |p: &str| format!("paymentMethod.card.{p}");
    if pm.get("type").and_then(Value::as_str) != Some("card") {
        return Err(bad(
            "parameterInvalid",
            "paymentMethod.type must be card",
            "paymentMethod.type",
        ));
    }
    let card = pm.get("card").and_then(Value::as_object).ok_or_else(|| {
        bad(
            "parameterMissing",
            "Missing required param: paymentMethod.card",
            "paymentMethod.card",
        )
    })?;
    let number = card
        .get("number")
        .and_then(Value::as_str)
        .filter(|n| (12..=19).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| {
            bad(
                "cardNumberInvalid",
                "card.number must be a string of 12 to 19 digits",
                &param("number"),
            )
        })?;
    let month = card
        .get("expiryMonth")
        .and_then(Value::as_i64)
        .filter(|m| (1..=12).contains(m))
        .ok_or_else(|| {
            bad(
                "expiryInvalid",
                "card.expiryMonth must be an integer 1-12",
                &param("expiryMonth"),
            )
        })?;
    let year = card
        .get("expiryYear")
        .and_then(Value::as_i64)
        .filter(|y| (2000..=2099).contains(y))
        .ok_or_else(|| {
            bad(
                "expiryInvalid",
                "card.expiryYear must be a four-digit integer",
                &param("expiryYear"),
            )
        })?;
    card.get("cvc")
        .and_then(Value::as_str)
        .filter(|c| (3..=4).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| {
            bad(
                "cvcInvalid",
                "card.cvc must be a string of 3 or 4 digits",
                &param("cvc"),
            )
        })?;
    let holder = card.get("holderName").cloned().unwrap_or(Value::Null);
    let masked = format!("{}**{}", &number[..6], &number[number.len() - 4..]);
    let outcome = match number {
        CARD_3DS => Outcome::ThreeDs,
        CARD_OK => Outcome::Approve,
        _ => Outcome::Decline,
    };
    Ok((
        json!({"expiryMonth": month, "expiryYear": year, "holderName": holder, "maskedNumber": masked}),
        outcome,
    ))
}

fn list_payments(books: &Books, query: &str) -> Response {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    let mut limit = 10usize;
    let mut filters = Vec::new();
    for (k, v) in pairs {
        if k == "limit" {
            match v.parse::<usize>() {
                Ok(n) if (1..=100).contains(&n) => limit = n,
                _ => return invalid("parameterInvalid", "limit must be 1-100", "limit"),
            }
        } else if let Some(key) = k
            .strip_prefix("metadata[")
            .and_then(|k| k.strip_suffix(']'))
        {
            filters.push((key.to_owned(), v));
        } else {
            return invalid(
                "parameterUnknown",
                &format!("Received unknown parameter: {k}"),
                &k,
            );
        }
    }
    let matching: Vec<Value> = books
        .payments
        .iter()
        .rev()
        .filter(|p| {
            filters
                .iter()
                .all(|(k, v)| p.metadata.get(k).and_then(Value::as_str) == Some(v))
        })
        .map(payment_json)
        .collect();
    let has_more = matching.len() > limit;
    ok(json!({"data": matching.into_iter().take(limit).collect::<Vec<_>>(), "hasMore": has_more}))
}

fn capture(books: &mut Books, id: &str, b: Map<String, Value>) -> Response {
    if let Some(unknown) = b.keys().find(|k| k.as_str() != "amount") {
        return invalid(
            "parameterUnknown",
            &format!("Received unknown parameter: {unknown}"),
            unknown,
        );
    }
    let amount = match minor_units(b.get("amount"), "amount", false) {
        Ok(a) => a,
        Err(e) => return *e,
    };
    let Some(p) = books.payments.iter_mut().find(|p| p.id == id) else {
        return not_found("payment");
    };
    if p.status != "requiresCapture" {
        return invalid(
            "paymentUnexpectedState",
            &format!(
                "This payment is {}; only requiresCapture can be captured",
                p.status
            ),
            "id",
        );
    }
    let amount = amount.unwrap_or(p.amount_capturable);
    if amount > p.amount_capturable {
        return invalid(
            "amountTooLarge",
            "amount exceeds amountCapturable",
            "amount",
        );
    }
    p.status = "succeeded";
    p.amount_received = amount;
    p.amount_capturable = 0;
    let answer = payment_json(p);
    emit(books, "payment.funded", id);
    emit(books, "payment.succeeded", id);
    ok(answer)
}

fn cancel(books: &mut Books, id: &str) -> Response {
    let Some(p) = books.payments.iter_mut().find(|p| p.id == id) else {
        return not_found("payment");
    };
    if !matches!(
        p.status,
        "requiresPaymentMethod" | "requiresCapture" | "requiresAction"
    ) {
        return invalid(
            "paymentUnexpectedState",
            &format!("This payment is {}; it cannot be canceled", p.status),
            "id",
        );
    }
    p.status = "canceled";
    p.amount_capturable = 0;
    let answer = payment_json(p);
    emit(books, "payment.canceled", id);
    ok(answer)
}

fn refund(books: &mut Books, b: Map<String, Value>) -> Response {
    if let Some(unknown) = b
        .keys()
        .find(|k| !["paymentId", "amount", "metadata"].contains(&k.as_str()))
    {
        return invalid(
            "parameterUnknown",
            &format!("Received unknown parameter: {unknown}"),
            unknown,
        );
    }
    let Some(payment_id) = b
        .get("paymentId")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return invalid(
            "parameterMissing",
            "Missing required param: paymentId",
            "paymentId",
        );
    };
    let amount = match minor_units(b.get("amount"), "amount", false) {
        Ok(a) => a,
        Err(e) => return *e,
    };
    let metadata: BTreeMap<String, String> = match b.get("metadata") {
        None => BTreeMap::new(),
        Some(Value::Object(m)) if m.values().all(Value::is_string) => m
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect(),
        Some(_) => {
            return invalid(
                "parameterInvalid",
                "metadata must be an object of strings",
                "metadata",
            )
        }
    };
    let Some(p) = books.payments.iter_mut().find(|p| p.id == payment_id) else {
        return invalid("resourceMissing", "No such payment", "paymentId");
    };
    if p.status != "succeeded" {
        return invalid(
            "paymentUnexpectedState",
            &format!(
                "This payment is {}; only captured payments can be refunded",
                p.status
            ),
            "paymentId",
        );
    }
    let remaining = p.amount_received - p.refunded;
    let amount = amount.unwrap_or(remaining);
    if amount > remaining || amount <= 0 {
        return invalid(
            "amountTooLarge",
            "amount exceeds what remains to be refunded",
            "amount",
        );
    }
    p.refunded += amount;
    let currency = p.currency.clone();
    books.next += 1;
    let refund = MockRefund {
        id: format!("re_{}{:08}", random_part(), books.next),
        payment_id: payment_id.clone(),
        amount,
        metadata: metadata.clone(),
    };
    books.refunds.push(refund.clone());
    books
        .events
        .push(("refund.succeeded".into(), payment_id.clone()));
    ok(json!({
        "id": refund.id, "paymentId": payment_id, "amount": amount, "currency": currency,
        "metadata": metadata, "status": "succeeded", "created": now_iso(),
    }))
}

/// The ACS page: GET shows Approve/Decline, POST `decision=approve|decline` completes 3-D
/// Secure and sends the buyer back to the payment's `returnUrl`.
fn acs(books: &Shared, method: &Method, id: &str, body: &[u8]) -> Response {
    let return_url = {
        let books = books.lock().expect("books");
        match books.payments.iter().find(|p| p.id == id) {
            Some(p) => p.return_url.clone().unwrap_or_default(),
            None => return (StatusCode::NOT_FOUND, "unknown payment").into_response(),
        }
    };
    if method == Method::GET {
        return Html(format!(
            "<!doctype html><title>BPC mock ACS</title><h1>3-D Secure (mock)</h1>\
             <form method=post><button name=decision value=approve>Approve</button>\
             <button name=decision value=decline>Decline</button></form><p>{id}</p>"
        ))
        .into_response();
    }
    let approves = String::from_utf8_lossy(body).contains("decision=approve");
    match complete_3ds(books, id, approves) {
        Ok(()) => Redirect::to(&return_url).into_response(),
        Err(e) => (StatusCode::CONFLICT, e).into_response(),
    }
}
