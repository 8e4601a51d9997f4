//! Soisy's order API, as documented (doc.soisy.it, soisy.it/integration) and as Soisy's own
//! plugins call it: the shop id in the path and `X-Auth-Token: <partner key>`; orders created
//! from form fields (JSON is taken too) with the amount in integer euro cents; `GET` of one
//! order as JSON; the order list only as CSV (`Accept: text/csv`, else 400). Validation errors
//! are `400 {"errors": {"<field>": ["<message>"]}}` as the plugins read them; an unknown order
//! is 404. UNCERTAIN (not documented, chosen here): a wrong key is `401 {"error": …}`, an
//! unknown shop 404.
//!
//! Soisy's side of the loan is played by tests with [`SoisyMock::event`], which moves the order
//! to the status the event announces and returns the callback Soisy would POST (unsigned form).
//! Serve it with [`crate::MockServer::start`]`(mock.router())`; the API base is the server URL.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use rand::Rng;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The public sandbox credentials hard-coded in Soisy's WooCommerce plugin.
pub const SANDBOX_SHOP_ID: &str = "partnershop";
pub const SANDBOX_PARTNER_KEY: &str = "partnerkey";
/// Where buyers apply (sandbox): `{WEBAPP}/{shopId}#/loan-request?token={token}`.
pub const WEBAPP: &str = "https://shop.sandbox.soisy.it";

/// Each documented event, its message, and the order status it moves the order to.
pub const EVENTS: [(&str, &str, &str); 6] = [
    ("LoanWasApproved", "loan approved", "request_accepted"),
    (
        "RequestCompleted",
        "waiting for verification",
        "waiting_for_verification",
    ),
    (
        "LoanWasVerified",
        "waiting for disbursement",
        "waiting_for_disbursement",
    ),
    ("LoanWasDisbursed", "payment received", "disbursed"),
    ("UserWasRejected", "documents check KO", "cancelled"),
    ("UserWasRejected", "payment failed", "cancelled"),
];
const FINAL: [&str; 2] = ["disbursed", "cancelled"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockOrder {
    pub token: String,
    pub amount: Option<i64>,
    pub instalments: Option<u64>,
    pub status: String,
    pub order_reference: Option<String>,
    pub callback_url: Option<String>,
    pub success_url: Option<String>,
    pub error_url: Option<String>,
    /// Every field as received.
    pub fields: Map<String, Value>,
    pub created_at: String,
}

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path_and_query: String,
    pub auth_token: Option<String>,
    pub content_type: Option<String>,
    pub accept: Option<String>,
    pub body: String,
}

/// What Soisy POSTs to the order's `callbackUrl`: `application/x-www-form-urlencoded`.
#[derive(Debug, Clone)]
pub struct SoisyCallback {
    pub url: String,
    pub body: String,
}

struct Inner {
    shop_id: String,
    key: String,
    orders: Vec<MockOrder>,
    requests: Vec<RecordedRequest>,
    /// Cents, when the shop has limits (Soisy's own plugins check 100–15 000 €).
    limits: Option<(i64, i64)>,
}

#[derive(Clone)]
pub struct SoisyMock {
    inner: Arc<Mutex<Inner>>,
}

impl Default for SoisyMock {
    fn default() -> Self {
        SoisyMock::new(SANDBOX_SHOP_ID, SANDBOX_PARTNER_KEY)
    }
}

/// An error answer, boxed: handlers pass it up through `Result`s.
type Refused = Box<Response>;

fn error(status: StatusCode, field: Option<&str>, message: &str) -> Refused {
    let body = match field {
        Some(field) => json!({"errors": {field: [message]}}),
        None => json!({"error": message}),
    };
    Box::new((status, Json(body)).into_response())
}

impl SoisyMock {
    pub fn new(shop_id: &str, key: &str) -> SoisyMock {
        SoisyMock {
            inner: Arc::new(Mutex::new(Inner {
                shop_id: shop_id.into(),
                key: key.into(),
                orders: Vec::new(),
                requests: Vec::new(),
                limits: None,
            })),
        }
    }

    /// Refuses amounts outside `min..=max` cents, as a shop's loan limits do.
    pub fn with_limits(self, min: i64, max: i64) -> SoisyMock {
        self.inner.lock().unwrap().limits = Some((min, max));
        self
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/api/shops/{shop}/orders", get(list).post(create))
            .route("/api/shops/{shop}/orders/{token}", get(fetch))
            .with_state(self.clone())
    }

    /// Soisy moves the order as `event_id` says (`message` picks between the two
    /// `UserWasRejected`) and returns the callback it sends. `Err` for an unknown order or
    /// event, or an order already final.
    pub fn event(&self, token: &str, event_id: &str) -> Result<SoisyCallback, String> {
        let (_, message, status) = EVENTS
            .iter()
            .find(|(id, _, _)| *id == event_id)
            .ok_or_else(|| format!("unknown event {event_id}"))?;
        {
            let mut inner = self.inner.lock().unwrap();
            let order = inner
                .orders
                .iter_mut()
                .find(|o| o.token == token)
                .ok_or("no such order")?;
            if FINAL.contains(&order.status.as_str()) {
                return Err(format!("order is {}", order.status));
            }
            order.status = (*status).into();
        }
        self.callback(token, event_id, message)
    }

    /// The callback Soisy would send for `event_id` now, without moving the order (a replay,
    /// or a forgery when the order says otherwise).
    pub fn callback(
        &self,
        token: &str,
        event_id: &str,
        message: &str,
    ) -> Result<SoisyCallback, String> {
        let order = self.order(token).ok_or("no such order")?;
        let url = order.callback_url.ok_or("the order has no callbackUrl")?;
        let body = serde_urlencoded::to_string([
            ("eventId", event_id),
            ("eventMessage", message),
            ("eventDate", "2026-01-15T10:00:00+01:00"),
            ("orderToken", token),
            (
                "orderReference",
                order.order_reference.as_deref().unwrap_or(""),
            ),
        ])
        .expect("strings encode");
        Ok(SoisyCallback { url, body })
    }

    pub fn force_status(&self, token: &str, status: &str) -> bool {
        let mut inner = self.inner.lock().unwrap();
        let found = inner.orders.iter_mut().find(|o| o.token == token);
        found.map(|o| o.status = status.into()).is_some()
    }

    pub fn order(&self, token: &str) -> Option<MockOrder> {
        let inner = self.inner.lock().unwrap();
        inner.orders.iter().find(|o| o.token == token).cloned()
    }

    pub fn orders(&self) -> Vec<MockOrder> {
        self.inner.lock().unwrap().orders.clone()
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.inner.lock().unwrap().requests.clone()
    }

    /// Records the request and checks the shop and the key; the error to answer otherwise.
    fn admit(
        &self,
        method: &str,
        shop: &str,
        path_and_query: String,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), Refused> {
        let header = |n: &str| {
            headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let mut inner = self.inner.lock().unwrap();
        inner.requests.push(RecordedRequest {
            method: method.into(),
            path_and_query,
            auth_token: header("x-auth-token"),
            content_type: header("content-type"),
            accept: header("accept"),
            body: String::from_utf8_lossy(body).into_owned(),
        });
        if shop != inner.shop_id {
            return Err(error(StatusCode::NOT_FOUND, None, "Shop not found"));
        }
        if header("x-auth-token").as_deref() != Some(inner.key.as_str()) {
            return Err(error(
                StatusCode::UNAUTHORIZED,
                None,
                "Invalid X-Auth-Token",
            ));
        }
        Ok(())
    }
}

/// The body's fields, from a form (as Soisy's plugins send) or JSON.
fn fields(headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, Refused> {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with("application/json") {
        return serde_json::from_slice(body)
            .map_err(|_| error(StatusCode::BAD_REQUEST, None, "Malformed JSON body"));
    }
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|_| error(StatusCode::BAD_REQUEST, None, "Malformed form body"))?;
        return Ok(pairs
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect());
    }
    Err(error(
        StatusCode::BAD_REQUEST,
        None,
        "Unsupported content type",
    ))
}

fn text(fields: &Map<String, Value>, key: &str) -> Option<String> {
    match fields.get(key)? {
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The documented formats of the create-order fields.
fn validate(f: &Map<String, Value>, limits: Option<(i64, i64)>) -> Result<(), Refused> {
    let bad = |field: &str, why: &str| Err(error(StatusCode::BAD_REQUEST, Some(field), why));
    let exactly = |key: &str, n: usize, ok: fn(u8) -> bool| {
        text(f, key).is_none_or(|v| v.len() == n && v.bytes().all(ok))
    };
    if let Some(amount) = text(f, "amount") {
        match amount.parse::<i64>() {
            Ok(cents) if cents > 0 => {
                if let Some((min, max)) = limits.filter(|(min, max)| cents < *min || cents > *max) {
                    return bad("amount", &format!("must be between {min} and {max}"));
                }
            }
            _ => return bad("amount", "must be a positive integer of euro cents"),
        }
    }
    if let Some(n) = text(f, "instalments") {
        if !n.parse::<u64>().is_ok_and(|n| (3..=60).contains(&n)) {
            return bad("instalments", "must be between 3 and 60");
        }
    }
    for key in ["successUrl", "errorUrl", "callbackUrl"] {
        if text(f, key).is_some_and(|u| !u.starts_with("http://") && !u.starts_with("https://")) {
            return bad(key, "must be a valid URL");
        }
    }
    for key in ["vatCountry", "province"] {
        if !exactly(key, 2, |b| b.is_ascii_uppercase()) {
            return bad(key, "must be 2 uppercase characters");
        }
    }
    if !exactly("postalCode", 5, |b| b.is_ascii_digit()) {
        return bad("postalCode", "must be 5 digits");
    }
    if !exactly("fiscalCode", 16, |b| b.is_ascii_alphanumeric()) {
        return bad("fiscalCode", "must be 16 characters");
    }
    if text(f, "email").is_some_and(|e| !e.contains('@')) {
        return bad("email", "must be a valid email address");
    }
    Ok(())
}

async fn create(
    State(mock): State<SoisyMock>,
    Path(shop): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/api/shops/{shop}/orders");
    if let Err(e) = mock.admit("POST", &shop, path, &headers, &body) {
        return *e;
    }
    let f = match fields(&headers, &body) {
        Ok(f) => f,
        Err(e) => return *e,
    };
    let limits = mock.inner.lock().unwrap().limits;
    if let Err(e) = validate(&f, limits) {
        return *e;
    }
    let token: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(32)
        .map(char::from)
        .collect();
    let order = MockOrder {
        token: token.clone(),
        amount: text(&f, "amount").and_then(|a| a.parse().ok()),
        instalments: text(&f, "instalments").and_then(|n| n.parse().ok()),
        status: "quote".into(),
        order_reference: text(&f, "orderReference"),
        callback_url: text(&f, "callbackUrl"),
        success_url: text(&f, "successUrl"),
        error_url: text(&f, "errorUrl"),
        fields: f,
        created_at: time::OffsetDateTime::now_utc().date().to_string(),
    };
    mock.inner.lock().unwrap().orders.push(order);
    let redirect = format!("{WEBAPP}/{shop}#/loan-request?token={token}");
    Json(json!({"token": token, "redirectUrl": redirect})).into_response()
}

async fn fetch(
    State(mock): State<SoisyMock>,
    Path((shop, token)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/api/shops/{shop}/orders/{token}");
    if let Err(e) = mock.admit("GET", &shop, path, &headers, b"") {
        return *e;
    }
    let Some(o) = mock.order(&token) else {
        return *error(StatusCode::NOT_FOUND, None, "Order not found");
    };
    let disbursed = (o.status == "disbursed").then_some("2026-01-15T10:00:00+01:00");
    Json(json!({
        "shopOrderId": format!("so_{}", &o.token[..8]),
        "token": o.token,
        "shopId": shop,
        "email": text(&o.fields, "email"),
        "instalmentsNumber": o.instalments,
        "loanAmount": o.amount,
        "loanNetAmount": o.amount.map(|a| a * 95 / 100),
        "status": o.status,
        "successUrl": o.success_url,
        "errorUrl": o.error_url,
        "orderReference": o.order_reference,
        "createdAt": o.created_at,
        "loanDisbursedAt": disbursed,
    }))
    .into_response()
}

/// The CSV list, filtered by `fromCreatedAt` (yyyy-mm-dd) and `status` as documented.
async fn list(
    State(mock): State<SoisyMock>,
    Path(shop): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut path = format!("/api/shops/{shop}/orders");
    if let Ok(q) = serde_urlencoded::to_string(&query) {
        path = format!("{path}?{q}");
    }
    if let Err(e) = mock.admit("GET", &shop, path, &headers, b"") {
        return *e;
    }
    let accept = headers.get("accept").and_then(|v| v.to_str().ok());
    if accept != Some("text/csv") {
        return *error(StatusCode::BAD_REQUEST, None, "Invalid HTTP Accept header");
    }
    if let Some(day) = query.get("fromCreatedAt") {
        let ok = day.len() == 10
            && time::Date::parse(
                day,
                time::macros::format_description!("[year]-[month]-[day]"),
            )
            .is_ok();
        if !ok {
            return *error(
                StatusCode::BAD_REQUEST,
                Some("fromCreatedAt"),
                "must be yyyy-mm-dd",
            );
        }
    }
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let mut csv = String::from(
        "soisyOrderReference,orderReference,firstName,lastName,loanNetAmount,loanAmount,\
         zeroInterestRate,feeForDisbursement,status,requestedAt,disbursedAt,instalments\r\n",
    );
    for o in mock.orders() {
        let from = query.get("fromCreatedAt").map(String::as_str).unwrap_or("");
        let status = query.get("status").map(String::as_str);
        if o.created_at.as_str() < from || status.is_some_and(|s| s != o.status) {
            continue;
        }
        let euros = |c: Option<i64>| c.map(|c| format!("{}.{:02}", c / 100, c % 100));
        csv.push_str(&format!(
            "{},{},{},{},{},{},false,,{},{},,{}\r\n",
            o.token,
            quote(o.order_reference.as_deref().unwrap_or("")),
            quote(&text(&o.fields, "firstname").unwrap_or_default()),
            quote(&text(&o.fields, "lastname").unwrap_or_default()),
            euros(o.amount.map(|a| a * 95 / 100)).unwrap_or_default(),
            euros(o.amount).unwrap_or_default(),
            o.status,
            o.created_at,
            o.instalments.map(|n| n.to_string()).unwrap_or_default(),
        ));
    }
    ([("content-type", "text/csv")], csv).into_response()
}
