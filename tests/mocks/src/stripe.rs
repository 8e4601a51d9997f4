//! A mock of Stripe's API as the PGM's adapter meets it: Checkout Sessions, PaymentIntents
//! (retrieve, capture, cancel), Refunds and signed webhook events.
//!
//! What it holds to, as Stripe does (docs.stripe.com/api; parameter names checked against the
//! official stripe-dotnet SDK, which is generated from Stripe's OpenAPI spec):
//! - auth: `Authorization: Bearer sk_…` or HTTP Basic with the key as user name; a missing or
//!   wrong key is a 401 with Stripe's error envelope;
//! - bodies: `application/x-www-form-urlencoded` with bracket notation; a JSON body, an unknown
//!   parameter, a missing required one or a non-integer amount (`5.00`) is a 400 with
//!   `{"error":{"type","code","param","message"}}`;
//! - `Idempotency-Key`: the first executed answer is saved and replayed (`Idempotent-Replayed:
//!   true`); the same key with other parameters is a 400 `idempotency_error`; answers to requests
//!   that failed validation are not saved;
//! - state: sessions (`open` → `complete`/`expired`), PaymentIntents created when the buyer
//!   pays (`succeeded`, or `requires_capture` with manual capture, the session then `unpaid` by
//!   default: see `Books::manual_capture_payment_status`), captures, cancels, refunds, with
//!   refunds beyond what remains refused; refunds start `succeeded` or, when told, `pending` /
//!   `requires_action` until [`StripeMock::finish_refund`];
//! - idempotency keys are kept until [`StripeMock::prune_idempotency_keys`] plays Stripe's
//!   24-hour pruning;
//! - lists (refunds, a session's line items): `{"object":"list","data","has_more","url"}`, paged
//!   with `limit`, `starting_after` and `ending_before`; `expand[]` only for what Stripe expands;
//! - every answer carries its own `Request-Id`.
//!
//! Stripe's official Python SDK drives it in tests/stripe_sdk.rs, which is what holds these
//! shapes to Stripe's rather than to what our own adapter expects.
//!
//! Tests play the buyer with [`StripeMock::complete_session`] and friends, and play Stripe's
//! webhook sender with [`StripeMock::event_body`], [`StripeMock::refund_event_body`] and
//! [`signature_header`].

use crate::server::MockServer;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine;
use form::Params;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

/// The secret key the mock accepts unless told otherwise.
pub const TEST_SECRET_KEY: &str = "sk_test_51PgmMockKey0000000000000000";
/// The API version the mock's events say they were rendered with.
pub const API_VERSION: &str = "2024-06-20";

/// `Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<payload>")>`, computed
/// the way Stripe's SDKs document it (stripe-ruby `Webhook::Signature.compute_signature`). Kept
/// independent of the PGM's own signing code on purpose, so that a bug there cannot hide here.
pub fn signature_header(webhook_secret: &str, unix_seconds: i64, payload: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(webhook_secret.as_bytes()).expect("any key length");
    mac.update(format!("{unix_seconds}.{payload}").as_bytes());
    format!(
        "t={unix_seconds},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// A request as it reached the mock, for tests that check what the adapter put on the wire.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: Option<String>,
    pub idempotency_key: Option<String>,
    pub authorization: Option<String>,
    pub body: String,
}

impl RecordedRequest {
    /// The decoded form parameters of the body.
    pub fn params(&self) -> Vec<(String, String)> {
        Params::parse(self.body.as_bytes())
            .map(|p| p.0)
            .unwrap_or_default()
    }

    pub fn param(&self, name: &str) -> Option<String> {
        self.params()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// A refund as Stripe's books hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockRefund {
    pub id: String,
    pub payment_intent: String,
    pub amount: i64,
    pub currency: String,
    /// The Refund object as Stripe returns it (for retrieval and lists).
    pub object: Value,
}

/// A line item with the ids Stripe gives it: `price_data` makes an ad-hoc Price (and Product),
/// and the item, the Price and the Product each have their own id.
#[derive(Debug, Clone)]
struct LineItem {
    id: String,
    price: String,
    product: String,
    name: String,
    currency: String,
    unit_amount: i64,
    quantity: i64,
}

#[derive(Debug, Clone)]
struct Session {
    id: String,
    created: i64,
    expires_at: i64,
    status: &'static str,
    payment_status: &'static str,
    currency: String,
    amount_total: i64,
    client_reference_id: Option<String>,
    customer_email: Option<String>,
    metadata: BTreeMap<String, String>,
    success_url: Option<String>,
    cancel_url: Option<String>,
    capture_method: String,
    payment_intent: Option<String>,
    line_items: Vec<LineItem>,
}

#[derive(Debug, Clone)]
struct Intent {
    id: String,
    created: i64,
    amount: i64,
    currency: String,
    capture_method: String,
    status: &'static str,
    amount_capturable: i64,
    amount_received: i64,
    amount_refunded: i64,
    cancellation_reason: Option<String>,
    latest_charge: String,
}

#[derive(Debug, Clone)]
struct Saved {
    path: String,
    params: Vec<(String, String)>,
    status: StatusCode,
    body: Value,
}

#[derive(Default)]
struct Books {
    secret_key: String,
    base_url: String,
    next_id: u64,
    /// Numbers the `Request-Id` of each answer, apart from `next_id` so that object ids stay
    /// the same whatever was asked before.
    next_request: u64,
    sessions: BTreeMap<String, Session>,
    intents: BTreeMap<String, Intent>,
    refunds: Vec<MockRefund>,
    idempotency: BTreeMap<String, Saved>,
    requests: Vec<RecordedRequest>,
    /// What a completed manual-capture session's `payment_status` says while its PaymentIntent
    /// awaits capture. UNCERTAIN: no Stripe page states it. Stripe defines `paid` as "the
    /// payment funds are available in your account" and `unpaid` as "not yet available", and
    /// held funds are not available, so `unpaid` is the default (research notes §1);
    /// [`StripeMock::set_manual_capture_payment_status`] switches to `paid` to prove the PGM
    /// does not depend on it.
    manual_capture_payment_status: &'static str,
    /// The status new refunds start in: `succeeded` (cards, usually), or `pending` /
    /// `requires_action` as Stripe answers for some payment methods and balances.
    new_refund_status: &'static str,
}

impl Books {
    fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        // splitmix64: ids that look random but are reproducible within a run.
        let mut z = self.next_id.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        format!("{prefix}{:016x}{:04}", z ^ (z >> 31), self.next_id)
    }
}

type Shared = Arc<Mutex<Books>>;

/// The Stripe mock, serving until dropped.
pub struct StripeMock {
    pub server: MockServer,
    books: Shared,
}

impl StripeMock {
    /// Starts a mock that accepts [`TEST_SECRET_KEY`].
    pub async fn start() -> StripeMock {
        StripeMock::start_with_key(TEST_SECRET_KEY).await
    }

    pub async fn start_with_key(secret_key: &str) -> StripeMock {
        let books: Shared = Arc::new(Mutex::new(Books {
            secret_key: secret_key.to_owned(),
            manual_capture_payment_status: "unpaid",
            new_refund_status: "succeeded",
            ..Books::default()
        }));
        let router = Router::new().fallback(dispatch).with_state(books.clone());
        let server = MockServer::start(router).await;
        books.lock().expect("books").base_url = server.url.clone();
        StripeMock { server, books }
    }

    pub fn url(&self) -> &str {
        &self.server.url
    }

    fn books(&self) -> MutexGuard<'_, Books> {
        self.books.lock().expect("books")
    }

    /// The buyer pays on the hosted page by card: the session completes `paid`, and its
    /// PaymentIntent is `succeeded` (or `requires_capture` when the session asked for manual
    /// capture). Returns the PaymentIntent id.
    pub fn complete_session(&self, session_id: &str) -> Result<String, String> {
        self.pay_session(session_id, false)
    }

    /// The buyer pays with a delayed method (SEPA debit…): the session completes `unpaid`, its
    /// PaymentIntent `processing`, until [`StripeMock::settle_async_payment`].
    pub fn complete_session_async(&self, session_id: &str) -> Result<String, String> {
        self.pay_session(session_id, true)
    }

    fn pay_session(&self, session_id: &str, delayed: bool) -> Result<String, String> {
        let mut books = self.books();
        let session = books
            .sessions
            .get(session_id)
            .cloned()
            .ok_or_else(|| format!("no session {session_id}"))?;
        if session.status != "open" {
            return Err(format!("session {session_id} is {}", session.status));
        }
        let id = books.new_id("pi_");
        let charge = books.new_id("ch_");
        let manual = session.capture_method == "manual";
        let books_manual_status = books.manual_capture_payment_status;
        let (status, capturable, received) = match (delayed, manual) {
            (true, _) => ("processing", 0, 0),
            (false, true) => ("requires_capture", session.amount_total, 0),
            (false, false) => ("succeeded", 0, session.amount_total),
        };
        books.intents.insert(
            id.clone(),
            Intent {
                id: id.clone(),
                created: now(),
                amount: session.amount_total,
                currency: session.currency.clone(),
                capture_method: session.capture_method.clone(),
                status,
                amount_capturable: capturable,
                amount_received: received,
                amount_refunded: 0,
                cancellation_reason: None,
                latest_charge: charge,
            },
        );
        let session = books.sessions.get_mut(session_id).expect("just read");
        session.status = "complete";
        session.payment_status = match (delayed, manual) {
            (true, _) => "unpaid",
            (false, true) => books_manual_status,
            (false, false) => "paid",
        };
        session.payment_intent = Some(id.clone());
        Ok(id)
    }

    /// A delayed payment succeeds (`checkout.session.async_payment_succeeded`) or fails
    /// (`…_failed`: the session stays `complete` + `unpaid`, the PaymentIntent goes back to
    /// `requires_payment_method`).
    pub fn settle_async_payment(&self, session_id: &str, succeeded: bool) -> Result<(), String> {
        let mut books = self.books();
        let session = books
            .sessions
            .get(session_id)
            .cloned()
            .ok_or_else(|| format!("no session {session_id}"))?;
        let pi = session
            .payment_intent
            .ok_or_else(|| format!("session {session_id} has no payment"))?;
        let intent = books.intents.get_mut(&pi).ok_or("no intent")?;
        if intent.status != "processing" {
            return Err(format!("intent {pi} is {}", intent.status));
        }
        if succeeded {
            intent.status = "succeeded";
            intent.amount_received = intent.amount;
        } else {
            intent.status = "requires_payment_method";
        }
        if succeeded {
            books
                .sessions
                .get_mut(session_id)
                .expect("read")
                .payment_status = "paid";
        }
        Ok(())
    }

    /// The session times out unpaid (`checkout.session.expired`).
    pub fn expire_session(&self, session_id: &str) -> Result<(), String> {
        let mut books = self.books();
        let session = books
            .sessions
            .get_mut(session_id)
            .ok_or_else(|| format!("no session {session_id}"))?;
        if session.status != "open" {
            return Err(format!("session {session_id} is {}", session.status));
        }
        session.status = "expired";
        Ok(())
    }

    /// The session as `GET /v1/checkout/sessions/{id}` shows it (PaymentIntent not expanded).
    pub fn session_json(&self, session_id: &str) -> Option<Value> {
        let books = self.books();
        books
            .sessions
            .get(session_id)
            .map(|s| session_json(&books, s, &[]))
    }

    pub fn payment_intent_json(&self, intent_id: &str) -> Option<Value> {
        self.books().intents.get(intent_id).map(intent_json)
    }

    pub fn payment_intent_of(&self, session_id: &str) -> Option<String> {
        self.books()
            .sessions
            .get(session_id)
            .and_then(|s| s.payment_intent.clone())
    }

    /// An event body as Stripe would POST it to the webhook endpoint, with the session as it is
    /// now in `data.object`.
    pub fn event_body(&self, event_type: &str, session_id: &str) -> Option<String> {
        let object = self.session_json(session_id)?;
        Some(self.event_body_for(event_type, object))
    }

    /// An event about any object (`charge.refund.updated`, `invoice.payment_succeeded`, …).
    pub fn event_body_for(&self, event_type: &str, object: Value) -> String {
        let id = self.books().new_id("evt_");
        json!({
            "id": id,
            "object": "event",
            "api_version": API_VERSION,
            "created": now(),
            "livemode": false,
            "pending_webhooks": 1,
            "request": {"id": null, "idempotency_key": null},
            "type": event_type,
            "data": {"object": object},
        })
        .to_string()
    }

    pub fn sessions_created(&self) -> usize {
        self.books().sessions.len()
    }

    /// PaymentIntents that took money (succeeded), i.e. how many times a buyer was charged.
    pub fn charges(&self) -> usize {
        self.books()
            .intents
            .values()
            .filter(|i| i.amount_received > 0)
            .count()
    }

    /// What was captured on the session's PaymentIntent.
    pub fn amount_received(&self, session_id: &str) -> i64 {
        let books = self.books();
        books
            .sessions
            .get(session_id)
            .and_then(|s| s.payment_intent.as_ref())
            .and_then(|pi| books.intents.get(pi))
            .map(|i| i.amount_received)
            .unwrap_or(0)
    }

    pub fn refunds(&self) -> Vec<MockRefund> {
        self.books().refunds.clone()
    }

    /// What completed manual-capture sessions report as `payment_status` from now on (`unpaid`
    /// by default; see the field's comment: Stripe's docs do not settle it).
    pub fn set_manual_capture_payment_status(&self, status: &'static str) {
        self.books().manual_capture_payment_status = status;
    }

    /// The status refunds created from now on start in (`succeeded` by default; `pending` or
    /// `requires_action` for refunds Stripe completes later).
    pub fn set_new_refund_status(&self, status: &'static str) {
        self.books().new_refund_status = status;
    }

    /// Stripe finishes a refund that was `pending` or `requires_action`: `succeeded`, `failed`
    /// (with `failure_reason`; the money is refundable again) or `canceled`. Returns the Refund
    /// object as it now is, for [`StripeMock::refund_event_body`].
    pub fn finish_refund(&self, refund_id: &str, status: &'static str) -> Result<Value, String> {
        let mut books = self.books();
        let refund = books
            .refunds
            .iter_mut()
            .find(|r| r.id == refund_id)
            .ok_or_else(|| format!("no refund {refund_id}"))?;
        let now = refund.object["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if !matches!(now.as_str(), "pending" | "requires_action") {
            return Err(format!("refund {refund_id} is {now}"));
        }
        if !matches!(status, "succeeded" | "failed" | "canceled") {
            return Err(format!("a refund cannot end {status}"));
        }
        refund.object["status"] = json!(status);
        if status == "failed" {
            refund.object["failure_reason"] = json!("declined");
        }
        let (object, intent, amount) = (
            refund.object.clone(),
            refund.payment_intent.clone(),
            refund.amount,
        );
        if status != "succeeded" {
            if let Some(intent) = books.intents.get_mut(&intent) {
                intent.amount_refunded -= amount;
            }
        }
        Ok(object)
    }

    /// The Refund object as `GET /v1/refunds/{id}` shows it.
    pub fn refund_json(&self, refund_id: &str) -> Option<Value> {
        self.books()
            .refunds
            .iter()
            .find(|r| r.id == refund_id)
            .map(|r| r.object.clone())
    }

    /// A refund event (`refund.updated`, `refund.failed`, `charge.refund.updated`) with the
    /// Refund as it is now in `data.object`, as Stripe sends them.
    pub fn refund_event_body(&self, event_type: &str, refund_id: &str) -> Option<String> {
        let object = self.refund_json(refund_id)?;
        Some(self.event_body_for(event_type, object))
    }

    /// Stripe prunes idempotency keys once they are 24 hours old
    /// (docs.stripe.com/api/idempotent_requests): a key sent again after that is a new request.
    /// This forgets every saved key at once.
    pub fn prune_idempotency_keys(&self) {
        self.books().idempotency.clear();
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.books().requests.clone()
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// The HTTP side.

/// What an endpoint answers, and whether Stripe's idempotency layer keeps it: answers to
/// requests that failed validation are not kept, so a corrected retry with the same key runs.
struct Answer {
    status: StatusCode,
    body: Value,
    keep: bool,
}

fn ok(body: Value) -> Answer {
    Answer {
        status: StatusCode::OK,
        body,
        keep: true,
    }
}

fn error_json(kind: &str, code: Option<&str>, param: Option<&str>, message: &str) -> Value {
    let mut error = json!({"type": kind, "message": message});
    if let Some(code) = code {
        error["code"] = json!(code);
        error["doc_url"] = json!(format!(
            "https://stripe.com/docs/error-codes/{}",
            code.replace('_', "-")
        ));
    }
    if let Some(param) = param {
        error["param"] = json!(param);
    }
    json!({ "error": error })
}

/// A 400 for parameters that failed validation (not kept by idempotency).
fn invalid(code: Option<&str>, param: Option<&str>, message: impl Into<String>) -> Answer {
    Answer {
        status: StatusCode::BAD_REQUEST,
        body: error_json("invalid_request_error", code, param, &message.into()),
        keep: false,
    }
}

/// A refusal once the endpoint ran (kept by idempotency, as Stripe keeps 4xx results).
fn refused(
    status: StatusCode,
    code: Option<&str>,
    param: Option<&str>,
    message: impl Into<String>,
) -> Answer {
    Answer {
        status,
        body: error_json("invalid_request_error", code, param, &message.into()),
        keep: true,
    }
}

fn missing(object: &str, id: &str, param: &str) -> Answer {
    refused(
        StatusCode::NOT_FOUND,
        Some("resource_missing"),
        Some(param),
        format!("No such {object}: '{id}'"),
    )
}

fn respond(status: StatusCode, body: &Value, replayed: bool, key: Option<&str>) -> Response {
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    let headers = response.headers_mut();
    if let Some(key) = key.and_then(|k| HeaderValue::from_str(k).ok()) {
        headers.insert("idempotency-key", key);
        if replayed {
            headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
        }
    }
    response
}

fn unauthorized(message: String) -> Response {
    let body = error_json("invalid_request_error", None, None, &message);
    let mut response = respond(StatusCode::UNAUTHORIZED, &body, false, None);
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"Stripe\""),
    );
    response
}

/// The key from `Bearer <key>` or `Basic base64(<key>:)`.
fn presented_key(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    if let Some(token) = value.strip_prefix("Bearer ") {
        return Some(token.trim().to_owned());
    }
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    Some(text.split(':').next().unwrap_or_default().to_owned())
}

/// `None` when the key is right; otherwise Stripe's 401.
fn refuse_key(expected: &str, headers: &HeaderMap) -> Option<Response> {
    match presented_key(headers) {
        None => Some(unauthorized(
            "You did not provide an API key. You need to provide your API key in the Authorization header, \
             using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
                .into(),
        )),
        Some(key) if key == expected => None,
        Some(key) => {
            // Stripe masks the key it refuses: prefix and last four characters only.
            let prefix: String = key.chars().take(8).collect();
            let tail: String = key.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
            Some(unauthorized(format!("Invalid API Key provided: {prefix}****{tail}")))
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
    let mut books = books.lock().expect("books");
    let mut response = handle(&mut books, method, uri, headers, body);
    // Stripe answers every request, failed ones included, with its own `Request-Id` (`req_…`),
    // the id its logs and support go by; the SDKs surface it on results and errors.
    books.next_request += 1;
    let request_id = format!("req_mock{:014}", books.next_request);
    if let Ok(id) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("request-id", id);
    }
    response
}

/// One request, start to end: recorded, authenticated, decoded, idempotency applied, answered.
fn handle(
    books: &mut Books,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
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
        authorization: text_header("authorization"),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    if let Some(response) = refuse_key(&books.secret_key, &headers) {
        return response;
    }
    let form_body = content_type
        .as_deref()
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if method == Method::POST && !body.is_empty() && !form_body {
        let answer = invalid(
            None,
            None,
            "Invalid request (check that your POST content type is application/x-www-form-urlencoded). \
             If you have any questions, we can help at https://support.stripe.com/.",
        );
        return respond(answer.status, &answer.body, false, None);
    }
    let raw = if method == Method::GET {
        uri.query().unwrap_or_default().as_bytes().to_vec()
    } else {
        body.to_vec()
    };
    let Some(params) = Params::parse(&raw) else {
        let answer = invalid(
            None,
            None,
            "Invalid request: the parameters could not be decoded.",
        );
        return respond(answer.status, &answer.body, false, None);
    };
    let path = uri.path().to_owned();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();

    // Idempotency applies to POSTs only; GETs are safe to repeat anyway.
    let key = idempotency_key.filter(|_| method == Method::POST);
    if let Some(key) = &key {
        if let Some(saved) = books.idempotency.get(key) {
            if saved.path != path || saved.params != params.canonical() {
                let body = json!({"error": {
                    "type": "idempotency_error",
                    "message": format!(
                        "Keys for idempotent requests can only be used with the same parameters they were first \
                         used with. Try using a key other than '{key}' if you meant to execute a different request."
                    ),
                }});
                return respond(StatusCode::BAD_REQUEST, &body, false, Some(key));
            }
            return respond(saved.status, &saved.body, true, Some(key));
        }
    }

    let answer = match (&method, segments.as_slice()) {
        (&Method::POST, ["v1", "checkout", "sessions"]) => create_session(books, &params),
        (&Method::GET, ["v1", "checkout", "sessions", id]) => retrieve_session(books, id, &params),
        (&Method::GET, ["v1", "checkout", "sessions", id, "line_items"]) => {
            list_line_items(books, id, &params)
        }
        (&Method::POST, ["v1", "checkout", "sessions", id, "expire"]) => {
            expire_session(books, id, &params)
        }
        (&Method::GET, ["v1", "payment_intents", id]) => retrieve_intent(books, id, &params),
        (&Method::POST, ["v1", "payment_intents", id, "capture"]) => {
            capture_intent(books, id, &params)
        }
        (&Method::POST, ["v1", "payment_intents", id, "cancel"]) => {
            cancel_intent(books, id, &params)
        }
        (&Method::POST, ["v1", "refunds"]) => create_refund(books, &params),
        (&Method::GET, ["v1", "refunds"]) => list_refunds(books, &params),
        (&Method::GET, ["v1", "refunds", id]) => retrieve_refund(books, id, &params),
        _ => Answer {
            status: StatusCode::NOT_FOUND,
            body: error_json(
                "invalid_request_error",
                None,
                None,
                &format!("Unrecognized request URL ({method}: {path})."),
            ),
            keep: false,
        },
    };
    if let (Some(key), true) = (&key, answer.keep) {
        books.idempotency.insert(
            key.clone(),
            Saved {
                path,
                params: params.canonical(),
                status: answer.status,
                body: answer.body.clone(),
            },
        );
    }
    respond(answer.status, &answer.body, false, key.as_deref())
}

// ---------------------------------------------------------------------------------------------
// Parameter checks, with Stripe's codes.

const EXPAND: [&str; 2] = ["expand[]", "expand[#]"];

fn check_known(params: &Params, allowed: &[&str]) -> Result<(), Answer> {
    let mut all: Vec<&str> = allowed.to_vec();
    all.extend(EXPAND);
    match params.unknown(&all) {
        Some(name) => Err(invalid(
            Some("parameter_unknown"),
            Some(name),
            format!("Received unknown parameter: {name}"),
        )),
        None => Ok(()),
    }
}

fn required<'a>(params: &'a Params, name: &str) -> Result<&'a str, Answer> {
    params.get(name).filter(|v| !v.is_empty()).ok_or_else(|| {
        invalid(
            Some("parameter_missing"),
            Some(name),
            format!("Missing required param: {name}."),
        )
    })
}

/// Stripe amounts are integers of the smallest unit: `500`, never `5.00` or `5e2`.
fn integer(params: &Params, name: &str) -> Result<Option<i64>, Answer> {
    match params.get(name) {
        None => Ok(None),
        Some(v) if !v.is_empty() && v.len() <= 18 && v.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(v.parse().ok())
        }
        Some(v) => Err(invalid(
            Some("parameter_invalid_integer"),
            Some(name),
            format!("Invalid integer: {v}"),
        )),
    }
}

fn one_of(params: &Params, name: &str, allowed: &[&str]) -> Result<Option<String>, Answer> {
    match params.get(name) {
        None => Ok(None),
        Some(v) if allowed.contains(&v) => Ok(Some(v.to_owned())),
        Some(v) => Err(invalid(
            None,
            Some(name),
            format!(
                "Invalid {name}: must be one of {} (got {v})",
                allowed.join(", ")
            ),
        )),
    }
}

/// Currencies the mock knows, as Stripe spells them (lower case). Stripe takes either case.
const CURRENCIES: &[&str] = &[
    "eur", "usd", "gbp", "chf", "jpy", "sek", "nok", "dkk", "pln", "czk", "huf", "ron", "bgn",
    "cad", "aud", "nzd", "sgd", "hkd", "mxn", "brl", "krw", "kwd", "bhd",
];

fn currency(params: &Params, name: &str) -> Result<String, Answer> {
    let value = required(params, name)?.to_ascii_lowercase();
    if CURRENCIES.contains(&value.as_str()) {
        Ok(value)
    } else {
        Err(invalid(
            None,
            Some(name),
            format!("Invalid currency: {value}."),
        ))
    }
}

fn url(params: &Params, name: &str) -> Result<Option<String>, Answer> {
    match params.get(name) {
        None => Ok(None),
        Some(v) if (v.starts_with("https://") || v.starts_with("http://")) && !v.contains(' ') => {
            Ok(Some(v.to_owned()))
        }
        Some(_) => Err(invalid(Some("url_invalid"), Some(name), "Not a valid URL")),
    }
}

/// Stripe's metadata limits: 50 keys, names up to 40 characters, values up to 500.
fn metadata(params: &Params, prefix: &str) -> Result<BTreeMap<String, String>, Answer> {
    let entries = params.map(prefix);
    if entries.len() > 50 {
        return Err(invalid(
            Some("parameter_invalid_empty"),
            Some(prefix),
            "You can specify up to 50 keys in metadata.",
        ));
    }
    for (k, v) in &entries {
        if k.chars().count() > 40 {
            return Err(invalid(
                None,
                Some(&format!("{prefix}[{k}]")),
                "Metadata keys can be at most 40 characters long.",
            ));
        }
        if v.chars().count() > 500 {
            return Err(invalid(
                None,
                Some(&format!("{prefix}[{k}]")),
                "Metadata values can be at most 500 characters long.",
            ));
        }
    }
    Ok(entries.into_iter().collect())
}

// ---------------------------------------------------------------------------------------------
// Endpoints.

fn create_session(books: &mut Books, params: &Params) -> Answer {
    match build_session(books, params) {
        Ok(session) => {
            let body = session_json(books, &session, &[]);
            books.sessions.insert(session.id.clone(), session);
            ok(body)
        }
        Err(answer) => answer,
    }
}

fn build_session(books: &mut Books, params: &Params) -> Result<Session, Answer> {
    check_known(
        params,
        &[
            "mode",
            "success_url",
            "cancel_url",
            "client_reference_id",
            "customer_email",
            "expires_at",
            "locale",
            "metadata[*]",
            "line_items[#][quantity]",
            "line_items[#][price]",
            "line_items[#][price_data][currency]",
            "line_items[#][price_data][unit_amount]",
            "line_items[#][price_data][product_data][name]",
            "line_items[#][price_data][product_data][description]",
            "payment_intent_data[capture_method]",
            "payment_intent_data[description]",
            "payment_intent_data[metadata][*]",
            "payment_method_types[#]",
        ],
    )?;
    let mode = required(params, "mode")?;
    if mode != "payment" {
        return Err(invalid(
            None,
            Some("mode"),
            format!("This mock serves mode=payment only (got {mode})"),
        ));
    }
    let indices = params.indices("line_items");
    if indices.is_empty() {
        return Err(invalid(
            Some("parameter_missing"),
            Some("line_items"),
            "Missing required param: line_items.",
        ));
    }
    let mut items = Vec::new();
    let mut session_currency: Option<String> = None;
    for i in indices {
        let p = |rest: &str| format!("line_items[{i}]{rest}");
        let quantity = integer(params, &p("[quantity]"))?.ok_or_else(|| {
            invalid(
                Some("parameter_missing"),
                Some(&p("[quantity]")),
                format!("Missing required param: {}.", p("[quantity]")),
            )
        })?;
        if quantity < 1 {
            return Err(invalid(
                None,
                Some(&p("[quantity]")),
                "Quantity must be at least 1.",
            ));
        }
        if let Some(price) = params.get(&p("[price]")) {
            return Err(invalid(
                Some("resource_missing"),
                Some(&p("[price]")),
                format!("No such price: '{price}'"),
            ));
        }
        let item_currency = currency(params, &p("[price_data][currency]"))?;
        let unit_amount = integer(params, &p("[price_data][unit_amount]"))?.ok_or_else(|| {
            invalid(
                Some("parameter_missing"),
                Some(&p("[price_data][unit_amount]")),
                format!(
                    "Missing required param: {}.",
                    p("[price_data][unit_amount]")
                ),
            )
        })?;
        let name = required(params, &p("[price_data][product_data][name]"))?.to_owned();
        match &session_currency {
            Some(c) if *c != item_currency => {
                return Err(invalid(
                    None,
                    Some(&p("[price_data][currency]")),
                    "All line items must have the same currency.",
                ))
            }
            _ => session_currency = Some(item_currency),
        }
        items.push(LineItem {
            id: books.new_id("li_"),
            price: books.new_id("price_"),
            product: books.new_id("prod_"),
            name,
            currency: session_currency.clone().unwrap_or_default(),
            unit_amount,
            quantity,
        });
    }
    let amount_total = items
        .iter()
        .try_fold(0i64, |sum, item| {
            item.unit_amount
                .checked_mul(item.quantity)
                .and_then(|line| sum.checked_add(line))
        })
        .unwrap_or(i64::MAX);
    if amount_total > 99_999_999 {
        return Err(invalid(
            Some("amount_too_large"),
            Some("line_items"),
            "The Checkout Session's total amount due must be no more than 999,999.99.",
        ));
    }
    if amount_total == 0 {
        return Err(invalid(
            Some("amount_too_small"),
            Some("line_items"),
            "The Checkout Session's total amount due must be greater than zero.",
        ));
    }
    let success_url = url(params, "success_url")?;
    let cancel_url = url(params, "cancel_url")?;
    let capture_method = one_of(
        params,
        "payment_intent_data[capture_method]",
        &["automatic", "automatic_async", "manual"],
    )?
    .unwrap_or_else(|| "automatic_async".into());
    let metadata = metadata(params, "metadata")?;
    let customer_email = params.get("customer_email").map(str::to_owned);
    if let Some(email) = &customer_email {
        if !email.contains('@') {
            return Err(invalid(
                Some("email_invalid"),
                Some("customer_email"),
                format!("Invalid email address: {email}"),
            ));
        }
    }
    let client_reference_id = params.get("client_reference_id").map(str::to_owned);
    if client_reference_id
        .as_ref()
        .is_some_and(|c| c.chars().count() > 200)
    {
        return Err(invalid(
            None,
            Some("client_reference_id"),
            "client_reference_id must be at most 200 characters.",
        ));
    }
    let created = now();
    let expires_at = integer(params, "expires_at")?.unwrap_or(created + 24 * 3600);
    if expires_at < created + 30 * 60 || expires_at > created + 24 * 3600 {
        return Err(invalid(
            None,
            Some("expires_at"),
            "The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.",
        ));
    }
    Ok(Session {
        id: books.new_id("cs_test_"),
        created,
        expires_at,
        status: "open",
        payment_status: "unpaid",
        currency: session_currency.unwrap_or_default(),
        amount_total,
        client_reference_id,
        customer_email,
        metadata,
        success_url,
        cancel_url,
        capture_method,
        payment_intent: None,
        line_items: items,
    })
}

/// The Checkout Session object; `expand` names the fields shown whole (`payment_intent`,
/// `line_items`) instead of as an id, or not at all.
fn session_json(books: &Books, s: &Session, expand: &[&str]) -> Value {
    let payment_intent = match &s.payment_intent {
        Some(pi) if expand.contains(&"payment_intent") => books
            .intents
            .get(pi)
            .map(intent_json)
            .unwrap_or(Value::Null),
        Some(pi) => json!(pi),
        None => Value::Null,
    };
    let mut session = json!({
        "id": s.id,
        "object": "checkout.session",
        "amount_subtotal": s.amount_total,
        "amount_total": s.amount_total,
        "cancel_url": s.cancel_url,
        "client_reference_id": s.client_reference_id,
        "created": s.created,
        "currency": s.currency,
        "customer_email": s.customer_email,
        "expires_at": s.expires_at,
        "livemode": false,
        "metadata": s.metadata,
        "mode": "payment",
        "payment_intent": payment_intent,
        "payment_status": s.payment_status,
        "status": s.status,
        "success_url": s.success_url,
        // Stripe shows the hosted page's URL only while the session can still be paid.
        "url": (s.status == "open").then(|| format!("{}/c/pay/{}", books.base_url, s.id)),
    });
    // Stripe leaves `line_items` out of the session unless expanded, and then it is the first
    // page of the session's line item list, whose `url` is where the rest can be read.
    if expand.contains(&"line_items") {
        let items = line_items_json(s);
        let (window, has_more) = window(items.len(), None, None, DEFAULT_LIMIT);
        session["line_items"] = list_json(&items[window], has_more, &line_items_url(&s.id));
    }
    session
}

fn line_items_url(session_id: &str) -> String {
    format!("/v1/checkout/sessions/{session_id}/line_items")
}

/// The session's line items (`"object": "item"`), each with the Price that its `price_data`
/// made, as Stripe shows them.
fn line_items_json(s: &Session) -> Vec<(String, Value)> {
    s.line_items
        .iter()
        .map(|l| {
            let amount = l.unit_amount * l.quantity;
            let item = json!({
                "id": l.id,
                "object": "item",
                "amount_discount": 0,
                "amount_subtotal": amount,
                "amount_tax": 0,
                "amount_total": amount,
                "currency": l.currency,
                "description": l.name,
                "price": {
                    "id": l.price,
                    "object": "price",
                    "currency": l.currency,
                    "livemode": false,
                    "product": l.product,
                    "type": "one_time",
                    "unit_amount": l.unit_amount,
                },
                "quantity": l.quantity,
            });
            (l.id.clone(), item)
        })
        .collect()
}

fn intent_json(i: &Intent) -> Value {
    json!({
        "id": i.id,
        "object": "payment_intent",
        "amount": i.amount,
        "amount_capturable": i.amount_capturable,
        "amount_received": i.amount_received,
        "cancellation_reason": i.cancellation_reason,
        "capture_method": i.capture_method,
        "created": i.created,
        "currency": i.currency,
        "latest_charge": i.latest_charge,
        "livemode": false,
        "status": i.status,
    })
}

/// The `expand[]` fields, each one of `allowed` (Stripe refuses to expand anything else).
fn expand_ok<'a>(params: &'a Params, allowed: &[&str]) -> Result<Vec<&'a str>, Answer> {
    let fields = params.expand();
    if let Some(field) = fields.iter().find(|f| !allowed.contains(f)) {
        return Err(invalid(
            None,
            Some("expand"),
            format!("This property cannot be expanded ({field})."),
        ));
    }
    Ok(fields)
}

fn retrieve_session(books: &Books, id: &str, params: &Params) -> Answer {
    let expand = match check_known(params, &[])
        .and_then(|_| expand_ok(params, &["payment_intent", "line_items"]))
    {
        Ok(e) => e,
        Err(a) => return a,
    };
    match books.sessions.get(id) {
        Some(s) => ok(session_json(books, s, &expand)),
        None => missing("checkout.session", id, "session"),
    }
}

/// `GET /v1/checkout/sessions/{id}/line_items`: the items in the order they were given.
fn list_line_items(books: &Books, id: &str, params: &Params) -> Answer {
    if let Err(a) = check_known(params, &PAGING).and_then(|_| expand_ok(params, &[])) {
        return a;
    }
    match books.sessions.get(id) {
        Some(s) => paged(
            &line_items_json(s),
            params,
            "line_item",
            &line_items_url(id),
        ),
        None => missing("checkout.session", id, "session"),
    }
}

fn expire_session(books: &mut Books, id: &str, params: &Params) -> Answer {
    if let Err(a) = check_known(params, &[]) {
        return a;
    }
    let Some(session) = books.sessions.get_mut(id) else {
        return missing("checkout.session", id, "session");
    };
    if session.status != "open" {
        return refused(
            StatusCode::BAD_REQUEST,
            None,
            None,
            format!(
                "Only Checkout Sessions with a status in [\"open\"] can be expired. This Checkout Session has a status of \"{}\".",
                session.status
            ),
        );
    }
    session.status = "expired";
    let session = session.clone();
    ok(session_json(books, &session, &[]))
}

fn retrieve_intent(books: &Books, id: &str, params: &Params) -> Answer {
    if let Err(a) = check_known(params, &[]).and_then(|_| expand_ok(params, &[])) {
        return a;
    }
    match books.intents.get(id) {
        Some(i) => ok(intent_json(i)),
        None => missing("payment_intent", id, "intent"),
    }
}

fn capture_intent(books: &mut Books, id: &str, params: &Params) -> Answer {
    if let Err(a) = check_known(params, &["amount_to_capture", "metadata[*]"]) {
        return a;
    }
    let amount = match integer(params, "amount_to_capture") {
        Ok(a) => a,
        Err(a) => return a,
    };
    let Some(intent) = books.intents.get_mut(id) else {
        return missing("payment_intent", id, "intent");
    };
    if intent.status != "requires_capture" {
        return refused(
            StatusCode::BAD_REQUEST,
            Some("payment_intent_unexpected_state"),
            None,
            format!(
                "This PaymentIntent could not be captured because it has a status of {}. Only a PaymentIntent \
                 with one of the following statuses may be captured: requires_capture.",
                intent.status
            ),
        );
    }
    let amount = amount.unwrap_or(intent.amount_capturable);
    if amount < 1 || amount > intent.amount_capturable {
        // UNCERTAIN: Stripe's exact code for this case; the shape (400, param) is Stripe's.
        return refused(
            StatusCode::BAD_REQUEST,
            Some("amount_too_large"),
            Some("amount_to_capture"),
            format!(
                "The amount to capture ({amount}) must be between 1 and the amount capturable ({}).",
                intent.amount_capturable
            ),
        );
    }
    intent.status = "succeeded";
    intent.amount_received = amount;
    intent.amount_capturable = 0;
    let answer = ok(intent_json(intent));
    // Captured funds are the documented meaning of `paid`.
    for session in books.sessions.values_mut() {
        if session.payment_intent.as_deref() == Some(id) {
            session.payment_status = "paid";
        }
    }
    answer
}

const CANCELABLE: [&str; 5] = [
    "requires_payment_method",
    "requires_capture",
    "requires_confirmation",
    "requires_action",
    "processing",
];

fn cancel_intent(books: &mut Books, id: &str, params: &Params) -> Answer {
    if let Err(a) = check_known(params, &["cancellation_reason"]) {
        return a;
    }
    let reason = match one_of(
        params,
        "cancellation_reason",
        &[
            "duplicate",
            "fraudulent",
            "requested_by_customer",
            "abandoned",
        ],
    ) {
        Ok(r) => r,
        Err(a) => return a,
    };
    let Some(intent) = books.intents.get_mut(id) else {
        return missing("payment_intent", id, "intent");
    };
    if !CANCELABLE.contains(&intent.status) {
        return refused(
            StatusCode::BAD_REQUEST,
            Some("payment_intent_unexpected_state"),
            None,
            format!(
                "You cannot cancel this PaymentIntent because it has a status of {}. Only a PaymentIntent with \
                 one of the following statuses may be canceled: {}.",
                intent.status,
                CANCELABLE.join(", ")
            ),
        );
    }
    intent.status = "canceled";
    intent.amount_capturable = 0;
    intent.cancellation_reason = reason;
    ok(intent_json(intent))
}

fn create_refund(books: &mut Books, params: &Params) -> Answer {
    if let Err(a) = check_known(
        params,
        &[
            "payment_intent",
            "charge",
            "amount",
            "reason",
            "metadata[*]",
        ],
    ) {
        return a;
    }
    let amount = match integer(params, "amount") {
        Ok(a) => a,
        Err(a) => return a,
    };
    if let Err(a) = one_of(
        params,
        "reason",
        &["duplicate", "fraudulent", "requested_by_customer"],
    ) {
        return a;
    }
    if let Err(a) = metadata(params, "metadata") {
        return a;
    }
    let intent_id = match (params.get("payment_intent"), params.get("charge")) {
        (Some(pi), _) => pi.to_owned(),
        (None, Some(charge)) => match books.intents.values().find(|i| i.latest_charge == charge) {
            Some(i) => i.id.clone(),
            None => return missing("charge", charge, "charge"),
        },
        (None, None) => {
            return invalid(
                Some("parameter_missing"),
                None,
                "One of the following params should be provided for this request: payment_intent or charge.",
            )
        }
    };
    let Some(intent) = books.intents.get_mut(&intent_id) else {
        return refused(
            StatusCode::BAD_REQUEST,
            Some("resource_missing"),
            Some("payment_intent"),
            format!("No such payment_intent: '{intent_id}'"),
        );
    };
    if intent.status != "succeeded" {
        return refused(
            StatusCode::BAD_REQUEST,
            None,
            Some("payment_intent"),
            format!(
                "This PaymentIntent ({intent_id}) does not have a successful charge to refund."
            ),
        );
    }
    let remaining = intent.amount_received - intent.amount_refunded;
    if remaining == 0 {
        return refused(
            StatusCode::BAD_REQUEST,
            Some("charge_already_refunded"),
            None,
            format!("Charge {} has already been refunded.", intent.latest_charge),
        );
    }
    let amount = amount.unwrap_or(remaining);
    if amount < 1 || amount > remaining {
        // The message is Stripe's (seen in public client code); the code is UNCERTAIN.
        return refused(
            StatusCode::BAD_REQUEST,
            Some("amount_too_large"),
            Some("amount"),
            format!(
                "Refund amount ({amount} {cur}) is greater than unrefunded amount on charge ({remaining} {cur})",
                cur = intent.currency
            ),
        );
    }
    intent.amount_refunded += amount;
    let (charge, currency) = (intent.latest_charge.clone(), intent.currency.clone());
    let id = books.new_id("re_");
    let object = json!({
        "id": id,
        "object": "refund",
        "amount": amount,
        "charge": charge,
        "created": now(),
        "currency": currency,
        "metadata": params.map("metadata").into_iter().collect::<BTreeMap<_, _>>(),
        "payment_intent": intent_id,
        "reason": params.get("reason"),
        "status": books.new_refund_status,
        "failure_reason": null,
    });
    books.refunds.push(MockRefund {
        id,
        payment_intent: intent_id,
        amount,
        currency,
        object: object.clone(),
    });
    ok(object)
}

/// `GET /v1/refunds`: newest first, filtered by `payment_intent` or `charge`, paged as every
/// Stripe list.
fn list_refunds(books: &Books, params: &Params) -> Answer {
    let mut allowed = vec!["payment_intent", "charge"];
    allowed.extend(PAGING);
    if let Err(a) = check_known(params, &allowed).and_then(|_| expand_ok(params, &[])) {
        return a;
    }
    let matches = |r: &&MockRefund| {
        params
            .get("payment_intent")
            .is_none_or(|pi| r.payment_intent == pi)
            && params
                .get("charge")
                .is_none_or(|c| r.object["charge"].as_str() == Some(c))
    };
    let newest_first: Vec<(String, Value)> = books
        .refunds
        .iter()
        .rev()
        .filter(matches)
        .map(|r| (r.id.clone(), r.object.clone()))
        .collect();
    paged(&newest_first, params, "refund", "/v1/refunds")
}

/// `GET /v1/refunds/{id}`.
fn retrieve_refund(books: &Books, id: &str, params: &Params) -> Answer {
    if let Err(a) = check_known(params, &[]).and_then(|_| expand_ok(params, &[])) {
        return a;
    }
    match books.refunds.iter().find(|r| r.id == id) {
        Some(r) => ok(r.object.clone()),
        None => missing("refund", id, "refund"),
    }
}

// ---------------------------------------------------------------------------------------------
// Lists, as every Stripe list endpoint pages them (docs.stripe.com/api/pagination).

/// The paging parameters every list takes.
const PAGING: [&str; 3] = ["limit", "starting_after", "ending_before"];
const DEFAULT_LIMIT: usize = 10;

/// One page of `items` (id and object, in the list's order): up to `limit` (1 to 100, default
/// 10) of them after `starting_after` or, paging backwards, the ones just before
/// `ending_before`, the cursor being the id of an `object` in the list.
fn paged(items: &[(String, Value)], params: &Params, object: &str, url: &str) -> Answer {
    let limit = match integer(params, "limit") {
        Ok(None) => DEFAULT_LIMIT,
        Ok(Some(n)) if (1..=100).contains(&n) => n as usize,
        Ok(Some(_)) => {
            return invalid(
                None,
                Some("limit"),
                "This value must be greater than or equal to 1 and less than or equal to 100.",
            )
        }
        Err(a) => return a,
    };
    let position = |name: &str| -> Result<Option<usize>, Answer> {
        let Some(id) = params.get(name) else {
            return Ok(None);
        };
        match items.iter().position(|(i, _)| i == id) {
            Some(at) => Ok(Some(at)),
            None => Err(missing(object, id, name)),
        }
    };
    let (after, before) = match (position("starting_after"), position("ending_before")) {
        (Ok(Some(_)), Ok(Some(_))) => {
            return invalid(
                None,
                None,
                "You may only specify one of these parameters: ending_before, starting_after.",
            )
        }
        (Ok(after), Ok(before)) => (after, before),
        (Err(a), _) | (_, Err(a)) => return a,
    };
    let (window, has_more) = window(items.len(), after, before, limit);
    ok(list_json(&items[window], has_more, url))
}

/// Which items a page holds, and whether the list goes on past them in the paging direction.
fn window(
    len: usize,
    after: Option<usize>,
    before: Option<usize>,
    limit: usize,
) -> (std::ops::Range<usize>, bool) {
    match before {
        // Backwards: the `limit` items nearest the cursor, still in the list's order.
        Some(end) => {
            let start = end.saturating_sub(limit);
            (start..end, start > 0)
        }
        None => {
            let start = after.map_or(0, |at| at + 1);
            let end = (start + limit).min(len);
            (start..end, end < len)
        }
    }
}

/// Stripe's list object: `url` is the list's own path, which the SDKs page with.
fn list_json(page: &[(String, Value)], has_more: bool, url: &str) -> Value {
    json!({
        "object": "list",
        "data": page.iter().map(|(_, object)| object).collect::<Vec<_>>(),
        "has_more": has_more,
        "url": url,
    })
}

mod form {
    // Stripe's request encoding: `application/x-www-form-urlencoded` with bracket notation
    // (`line_items[0][price_data][unit_amount]=500`, `expand[]=payment_intent`). Kept flat: a
    // parameter is its full bracketed name, and endpoints look names up or match them against
    // patterns, which is all a mock needs to accept exactly what Stripe accepts.

    /// The decoded parameters, in the order they came.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct Params(pub Vec<(String, String)>);

    impl Params {
        /// Decodes a form body or a query string. `None` when it is not form encoding at all.
        pub fn parse(raw: &[u8]) -> Option<Params> {
            serde_urlencoded::from_bytes::<Vec<(String, String)>>(raw)
                .ok()
                .map(Params)
        }

        pub fn get(&self, name: &str) -> Option<&str> {
            self.0
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        }

        /// The values of `expand[]` / `expand[0]`.
        pub fn expand(&self) -> Vec<&str> {
            self.0
                .iter()
                .filter(|(k, _)| key_matches("expand[]", k) || key_matches("expand[#]", k))
                .map(|(_, v)| v.as_str())
                .collect()
        }

        /// The sorted indices `i` of parameters named `{prefix}[i]…`.
        pub fn indices(&self, prefix: &str) -> Vec<u32> {
            let mut found: Vec<u32> = self
                .0
                .iter()
                .filter_map(|(k, _)| {
                    let segments = segments(k)?;
                    (segments.first() == Some(&prefix))
                        .then(|| segments.get(1)?.parse().ok())
                        .flatten()
                })
                .collect();
            found.sort_unstable();
            found.dedup();
            found
        }

        /// `map[key]=value` entries (metadata).
        pub fn map(&self, prefix: &str) -> Vec<(String, String)> {
            self.0
                .iter()
                .filter_map(|(k, v)| match segments(k)?.as_slice() {
                    [head, key] if *head == prefix && !key.is_empty() => {
                        Some(((*key).to_owned(), v.clone()))
                    }
                    _ => None,
                })
                .collect()
        }

        /// The first parameter no pattern allows: what Stripe answers `parameter_unknown` for.
        pub fn unknown<'a>(&'a self, allowed: &[&str]) -> Option<&'a str> {
            self.0
                .iter()
                .map(|(k, _)| k.as_str())
                .find(|k| !allowed.iter().any(|p| key_matches(p, k)))
        }

        /// Same parameters, whatever the order (for idempotency comparisons).
        pub fn canonical(&self) -> Vec<(String, String)> {
            let mut sorted = self.0.clone();
            sorted.sort();
            sorted
        }
    }

    /// `a[b][0][]` → `["a", "b", "0", ""]`; `None` when the brackets are malformed.
    fn segments(key: &str) -> Option<Vec<&str>> {
        let (head, mut rest) = match key.find('[') {
            Some(i) => (&key[..i], &key[i..]),
            None => (key, ""),
        };
        if head.is_empty() {
            return None;
        }
        let mut out = vec![head];
        while !rest.is_empty() {
            let inner = rest.strip_prefix('[')?;
            let close = inner.find(']')?;
            out.push(&inner[..close]);
            rest = &inner[close + 1..];
        }
        Some(out)
    }

    /// Pattern segments: `#` is an index (digits), `*` any non-empty key, anything else itself.
    pub fn key_matches(pattern: &str, key: &str) -> bool {
        let (Some(p), Some(k)) = (segments(pattern), segments(key)) else {
            return false;
        };
        p.len() == k.len()
            && p.iter().zip(&k).all(|(p, k)| match *p {
                "#" => !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()),
                "*" => !k.is_empty(),
                literal => literal == *k,
            })
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn signs_like_stripe() {
            // Expected value computed separately (Python's hmac) over "<t>.<payload>".
            assert_eq!(
                crate::stripe::signature_header("whsec_test", 1_700_000_000, "{\"id\":\"evt_1\"}"),
                "t=1700000000,v1=c89214b5b5da833daed6f0b8c5bb6bd58cea9022bd80ccc78230f3942d632925"
            );
        }

        #[test]
        fn parses_percent_encoded_brackets_and_matches_patterns() {
            let p = Params::parse(
                b"line_items%5B0%5D%5Bprice_data%5D%5Bunit_amount%5D=500&expand[]=payment_intent&metadata[order]=a1",
            )
            .unwrap();
            assert_eq!(p.get("line_items[0][price_data][unit_amount]"), Some("500"));
            assert_eq!(p.expand(), vec!["payment_intent"]);
            assert_eq!(p.indices("line_items"), vec![0]);
            assert_eq!(
                p.map("metadata"),
                vec![("order".to_owned(), "a1".to_owned())]
            );
            assert!(key_matches(
                "line_items[#][price_data][unit_amount]",
                "line_items[12][price_data][unit_amount]"
            ));
            assert!(!key_matches(
                "line_items[#][quantity]",
                "line_items[x][quantity]"
            ));
            assert!(!key_matches("metadata[*]", "metadata[]"));
            assert_eq!(
                p.unknown(&["line_items[#][price_data][unit_amount]", "expand[]"]),
                Some("metadata[order]")
            );
        }
    }
}
