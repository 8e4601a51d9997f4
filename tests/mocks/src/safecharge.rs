//! A mock of Nuvei's (SafeCharge's) REST 1.0 API (`POST /ppp/api/v1/<method>.do`, JSON) as the
//! PGM and Nuvei's Node SDK meet it: openOrder, payment (with a 3-D Secure challenge),
//! getPaymentStatus, settleTransaction, voidTransaction, refundTransaction, and the signed DMNs
//! Nuvei sends (and retries until it gets a 200).
//!
//! What it holds to, as documented (providers.md §10; docs.nuvei.com "response handling",
//! "authentication", "refund", "void", "auth and settle"; the official SDKs' checksum orders):
//! - every answer is HTTP 200 with the envelope `status` `SUCCESS`|`ERROR`, `errCode`,
//!   `reason`; a refused request is `ERROR` with the errCode of Nuvei's table: 1001 invalid
//!   checksum, 1013 / 1022 wrong merchant / site id, 1019 a required field missing, 1021 a
//!   timeStamp that is not `YYYYMMDDHHmmss` within a day of now (Nuvei says "local time"),
//!   1040 / 1041 amount / currency, 1058 an operation the order's state does not allow,
//!   1064 / 1069 an unknown / expired session token, 1067 an unknown transactionType;
//! - the request checksum is `HASH(fields in the method's documented order + secret)`
//!   (SHA-256, or MD5 when the mock is made so); an absent optional field is skipped;
//! - amounts are decimal strings (`"10"`, `"10.5"`, `"10.00"`), never numbers;
//! - `clientRequestId` is refused when used before (the Java SDK's
//!   `ERR_CODE_CLIENT_REQUEST_ID_USED`; its number is not public: **UNCERTAIN**, 1066 here);
//! - settle only an approved Auth, up to its amount; refund only an approved Sale or Settle,
//!   in its currency, several times up to its amount; void an approved Auth or Sale once;
//! - DMNs carry `advanceResponseChecksum = HASH(secret + totalAmount + currency +
//!   responseTimeStamp + PPP_TransactionID + Status + productId)` (the secret first).
//!
//! Computed here independently of the PGM's own code, so one bug cannot hide in both sides.

use crate::server::MockServer;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use md5::Md5;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const MERCHANT_ID: &str = "427583496191624621";
pub const MERCHANT_SITE_ID: &str = "142033";
pub const SECRET_KEY: &str = "ZNpRTmSN3BtS7BeI0IKhIGJUeGLzs2TsB4rwxbzkWUJzN8XBLqxk8vGvdJeCxLHp";
/// Test cards: approved without a challenge, declined, and challenged by 3-D Secure.
pub const CARD_APPROVED: &str = "4000023104662535";
pub const CARD_DECLINED: &str = "5333463046218753";
pub const CARD_CHALLENGE: &str = "4000027891380961";
const REUSED_REQUEST_ID: i64 = 1066;

/// The checksum algorithm of the merchant site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Sha256,
    Md5,
}

pub fn hash_hex(alg: Hash, text: &str) -> String {
    match alg {
        Hash::Sha256 => hex::encode(Sha256::digest(text.as_bytes())),
        Hash::Md5 => hex::encode(Md5::digest(text.as_bytes())),
    }
}

/// A request as it reached the mock.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub body: Value,
}

#[derive(Debug, Clone)]
pub struct Tx {
    pub id: String,
    pub kind: String,
    pub status: String,
    pub amount: String,
    pub currency: String,
    pub related: Option<String>,
    pub session: Option<String>,
    pub client_unique_id: String,
    pub client_request_id: String,
    pub voided: bool,
}

impl Tx {
    fn minor(&self) -> i64 {
        minor(&self.amount).unwrap_or(0)
    }
}

#[derive(Debug, Clone)]
struct Order {
    order_id: String,
    client_unique_id: String,
    amount: String,
    currency: String,
    transaction_type: String,
    expired: bool,
    /// The last payment transaction made in this session.
    payment: Option<String>,
}

struct Books {
    alg: Hash,
    base_url: String,
    next: u64,
    orders: BTreeMap<String, Order>,
    txs: Vec<Tx>,
    used_request_ids: BTreeSet<String>,
    requests: Vec<RecordedRequest>,
}

impl Books {
    fn id(&mut self) -> String {
        self.next += 1;
        format!("{}", 711_000_000 + self.next)
    }

    fn tx(&self, id: &str) -> Option<&Tx> {
        self.txs.iter().find(|t| t.id == id)
    }
}

pub struct SafechargeMock {
    pub server: MockServer,
    books: Arc<Mutex<Books>>,
}

/// "10", "10.5", "10.00": a decimal string in major units.
fn minor(amount: &str) -> Option<i64> {
    let (int, frac) = amount.split_once('.').unwrap_or((amount, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || !(frac.is_empty() || digits(frac) && frac.len() <= 2) {
        return None;
    }
    let frac = format!("{frac:0<2}");
    Some(int.parse::<i64>().ok()? * 100 + frac.parse::<i64>().ok()?)
}

fn error(code: i64, reason: &str) -> Value {
    json!({"status": "ERROR", "errCode": code, "reason": reason, "version": "1.0"})
}

fn text(body: &Map<String, Value>, field: &str) -> Option<String> {
    match body.get(field)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `YYYYMMDDHHmmss` within a day of now (Nuvei asks for local time, whatever the zone).
fn time_stamp_ok(ts: &str) -> bool {
    if ts.len() != 14 || !ts.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let n = |r: std::ops::Range<usize>| ts[r].parse::<i64>().unwrap_or(-1);
    let (y, mo, d, h, mi, s) = (n(0..4), n(4..6), n(6..8), n(8..10), n(10..12), n(12..14));
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 59 {
        return false;
    }
    let Ok(month) = time::Month::try_from(mo as u8) else {
        return false;
    };
    let Ok(date) = time::Date::from_calendar_date(y as i32, month, d as u8) else {
        return false;
    };
    let Ok(at) = date.with_hms(h as u8, mi as u8, s as u8) else {
        return false;
    };
    (at.assume_utc().unix_timestamp() - now_unix()).abs() <= 26 * 3600
}

/// The documented checksum order of each method (the secret is appended).
fn checksum_fields(method: &str) -> Option<&'static [&'static str]> {
    Some(match method {
        "openOrder" | "payment" => &[
            "merchantId",
            "merchantSiteId",
            "clientRequestId",
            "amount",
            "currency",
            "timeStamp",
        ],
        "getPaymentStatus" => &[
            "merchantId",
            "merchantSiteId",
            "clientRequestId",
            "timeStamp",
        ],
        "settleTransaction" => &[
            "merchantId",
            "merchantSiteId",
            "clientRequestId",
            "clientUniqueId",
            "amount",
            "currency",
            "relatedTransactionId",
            "authCode",
            "descriptorMerchantName",
            "descriptorMerchantPhone",
            "comment",
            "urlDetails",
            "timeStamp",
        ],
        "voidTransaction" | "refundTransaction" => &[
            "merchantId",
            "merchantSiteId",
            "clientRequestId",
            "clientUniqueId",
            "amount",
            "currency",
            "relatedTransactionId",
            "authCode",
            "comment",
            "urlDetails",
            "timeStamp",
        ],
        _ => return None,
    })
}

fn expected_checksum(alg: Hash, method: &str, body: &Map<String, Value>) -> String {
    let mut concat = String::new();
    for field in checksum_fields(method).unwrap_or(&[]) {
        let value = if *field == "urlDetails" {
            body.get("urlDetails")
                .and_then(|u| u.get("notificationUrl"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        } else {
            text(body, field)
        };
        concat.push_str(&value.unwrap_or_default());
    }
    concat.push_str(SECRET_KEY);
    hash_hex(alg, &concat)
}

impl SafechargeMock {
    pub async fn start() -> SafechargeMock {
        SafechargeMock::start_with(Hash::Sha256).await
    }

    pub async fn start_with(alg: Hash) -> SafechargeMock {
        let books = Arc::new(Mutex::new(Books {
            alg,
            base_url: String::new(),
            next: 0,
            orders: BTreeMap::new(),
            txs: Vec::new(),
            used_request_ids: BTreeSet::new(),
            requests: Vec::new(),
        }));
        let router = Router::new().fallback(dispatch).with_state(books.clone());
        let server = MockServer::start(router).await;
        books.lock().unwrap().base_url = server.url.clone();
        SafechargeMock { server, books }
    }

    pub fn url(&self) -> &str {
        &self.server.url
    }

    fn books(&self) -> MutexGuard<'_, Books> {
        self.books.lock().unwrap()
    }

    pub fn requests(&self, method: &str) -> Vec<RecordedRequest> {
        let books = self.books();
        books
            .requests
            .iter()
            .filter(|r| r.method == method)
            .cloned()
            .collect()
    }

    pub fn orders_opened(&self) -> usize {
        self.books().orders.len()
    }

    pub fn transactions(&self) -> Vec<Tx> {
        self.books().txs.clone()
    }

    /// The session's approved money-taking transactions (Sale or Settle).
    pub fn charged(&self, session: &str) -> usize {
        let books = self.books();
        let unique = books
            .orders
            .get(session)
            .map(|o| o.client_unique_id.clone());
        books
            .txs
            .iter()
            .filter(|t| t.status == "APPROVED" && (t.kind == "Sale" || t.kind == "Settle"))
            .filter(|t| Some(&t.client_unique_id) == unique.as_ref())
            .count()
    }

    /// Minor units refunded (approved Credits) for the session's payment.
    pub fn refunded_minor(&self, session: &str) -> i64 {
        let books = self.books();
        let unique = books
            .orders
            .get(session)
            .map(|o| o.client_unique_id.clone());
        books
            .txs
            .iter()
            .filter(|t| t.status == "APPROVED" && t.kind == "Credit")
            .filter(|t| Some(&t.client_unique_id) == unique.as_ref())
            .map(Tx::minor)
            .sum()
    }

    /// The session's 15 minutes are over.
    pub fn expire_session(&self, session: &str) {
        if let Some(o) = self.books().orders.get_mut(session) {
            o.expired = true;
        }
    }

    /// The buyer at the issuer's ACS page: completes (or fails) the challenge of Auth3D
    /// transaction `id`. The liability-shift `payment` that follows decides the payment.
    pub fn complete_challenge(&self, id: &str, approves: bool) {
        let mut books = self.books();
        if let Some(t) = books.txs.iter_mut().find(|t| t.id == id) {
            t.status = if approves { "APPROVED" } else { "DECLINED" }.into();
        }
    }

    /// The DMN Nuvei sends about transaction `id`, as name-value pairs, signed.
    pub fn dmn(&self, id: &str) -> Vec<(String, String)> {
        let books = self.books();
        let tx = books.tx(id).expect("a transaction").clone();
        let order = tx
            .session
            .as_ref()
            .and_then(|s| books.orders.get(s))
            .or_else(|| {
                books
                    .orders
                    .values()
                    .find(|o| o.client_unique_id == tx.client_unique_id)
            })
            .cloned();
        let order_id = order.map(|o| o.order_id).unwrap_or_default();
        let now = time::OffsetDateTime::now_utc();
        let format =
            time::macros::format_description!("[year]-[month]-[day].[hour]:[minute]:[second]");
        let stamp = now.format(&format).unwrap_or_default();
        let product_id = "NA";
        let checksum = hash_hex(
            books.alg,
            &format!(
                "{SECRET_KEY}{}{}{stamp}{order_id}{}{product_id}",
                tx.amount, tx.currency, tx.status
            ),
        );
        let ppp = if tx.status == "APPROVED" {
            "OK"
        } else {
            "FAIL"
        };
        [
            ("ppp_status", ppp.to_owned()),
            ("Status", tx.status.clone()),
            ("PPP_TransactionID", order_id),
            ("TransactionID", tx.id.clone()),
            (
                "relatedTransactionId",
                tx.related.clone().unwrap_or_default(),
            ),
            ("transactionType", tx.kind.clone()),
            ("totalAmount", tx.amount.clone()),
            ("currency", tx.currency.clone()),
            ("responseTimeStamp", stamp),
            ("productId", product_id.to_owned()),
            ("clientUniqueId", tx.client_unique_id.clone()),
            ("clientRequestId", tx.client_request_id.clone()),
            ("merchant_id", MERCHANT_ID.to_owned()),
            ("merchant_site_id", MERCHANT_SITE_ID.to_owned()),
            ("ErrCode", "0".to_owned()),
            ("Reason", String::new()),
            ("advanceResponseChecksum", checksum),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// The `payment.do` body Nuvei's Web SDK sends from the buyer's browser to pay in
    /// `session` with `card` (`transactionType` `kind`: `Sale` or `Auth`), checksummed with the
    /// merchant's secret as the SDK's server side provides it. Post it to
    /// `{url}/ppp/api/v1/payment.do`. None for an unknown session.
    pub fn web_sdk_payment(&self, session: &str, card: &str, kind: &str) -> Option<Value> {
        let books = self.books();
        let order = books.orders.get(session)?;
        let format = time::macros::format_description!("[year][month][day][hour][minute][second]");
        let ts = time::OffsetDateTime::now_utc()
            .format(&format)
            .unwrap_or_default();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let id = format!("web-{nanos:x}-{}", books.next);
        let checksum = hash_hex(
            books.alg,
            &format!(
                "{MERCHANT_ID}{MERCHANT_SITE_ID}{id}{}{}{ts}{SECRET_KEY}",
                order.amount, order.currency
            ),
        );
        Some(json!({
            "sessionToken": session, "merchantId": MERCHANT_ID,
            "merchantSiteId": MERCHANT_SITE_ID, "clientRequestId": id,
            "clientUniqueId": order.client_unique_id, "amount": order.amount,
            "currency": order.currency, "transactionType": kind, "timeStamp": ts,
            "checksum": checksum,
            "paymentOption": {"card": {"cardNumber": card, "cardHolderName": "Ada Lovelace",
                "expirationMonth": "12", "expirationYear": "34", "CVV": "217"}},
        }))
    }

    /// The PENDING DMN Nuvei sends about a session nobody has paid yet (as for an APM whose
    /// outcome is not known), signed like every DMN. None for an unknown session.
    pub fn pending_dmn(&self, session: &str) -> Option<Vec<(String, String)>> {
        let books = self.books();
        let order = books.orders.get(session)?;
        let format =
            time::macros::format_description!("[year]-[month]-[day].[hour]:[minute]:[second]");
        let stamp = time::OffsetDateTime::now_utc()
            .format(&format)
            .unwrap_or_default();
        let checksum = hash_hex(
            books.alg,
            &format!(
                "{SECRET_KEY}{}{}{stamp}{}PENDINGNA",
                order.amount, order.currency, order.order_id
            ),
        );
        Some(
            [
                ("ppp_status", "PENDING".to_owned()),
                ("Status", "PENDING".to_owned()),
                ("PPP_TransactionID", order.order_id.clone()),
                ("transactionType", order.transaction_type.clone()),
                ("totalAmount", order.amount.clone()),
                ("currency", order.currency.clone()),
                ("responseTimeStamp", stamp),
                ("productId", "NA".to_owned()),
                ("clientUniqueId", order.client_unique_id.clone()),
                ("merchant_id", MERCHANT_ID.to_owned()),
                ("merchant_site_id", MERCHANT_SITE_ID.to_owned()),
                ("advanceResponseChecksum", checksum),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        )
    }

    /// Sends transaction `id`'s DMN to `url` as a form POST and retries as Nuvei does until
    /// a 200 (every 15 minutes for 24 h there; every `every` here, at most `attempts` times).
    /// Returns how many deliveries were made.
    pub async fn deliver_dmn(
        &self,
        id: &str,
        url: &str,
        attempts: usize,
        every: Duration,
    ) -> usize {
        let body = serde_urlencoded::to_string(self.dmn(id)).expect("pairs encode");
        let client = reqwest_lite::Client::new();
        for attempt in 1..=attempts {
            if client.post_form(url, &body).await == Some(200) {
                return attempt;
            }
            tokio::time::sleep(every).await;
        }
        attempts
    }

    /// The transaction a session's payment reached (None before the buyer paid).
    pub fn payment_of(&self, session: &str) -> Option<Tx> {
        let books = self.books();
        let id = books.orders.get(session)?.payment.clone()?;
        books.tx(&id).cloned()
    }
}

/// A minimal HTTP/1.1 client for DMN deliveries (the mocks crate has no HTTP client).
mod reqwest_lite {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    pub struct Client;

    impl Client {
        pub fn new() -> Client {
            Client
        }

        /// The status of a form POST to `url` (`http://host:port/path`), None on failure.
        pub async fn post_form(&self, url: &str, body: &str) -> Option<u16> {
            let rest = url.strip_prefix("http://")?;
            let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}")))?;
            let mut stream = tokio::net::TcpStream::connect(host).await.ok()?;
            let request = format!(
                "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(request.as_bytes()).await.ok()?;
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer).await.ok()?;
            let line = String::from_utf8_lossy(&answer);
            line.split_whitespace().nth(1)?.parse().ok()
        }
    }
}

async fn dispatch(State(books): State<Arc<Mutex<Books>>>, uri: Uri, body: Bytes) -> Response {
    // Nuvei's Node SDK asks for `/ppp//api/v1/<method>.do` (its resolver joins "/ppp/" and
    // "/api/v1/"), which Nuvei's servers take: empty path segments are collapsed here too.
    let path = uri.path().replace("//", "/");
    let Some(method) = path
        .strip_prefix("/ppp/api/v1/")
        .and_then(|m| m.strip_suffix(".do"))
    else {
        return (axum::http::StatusCode::NOT_FOUND, "not found").into_response();
    };
    let parsed: Result<Map<String, Value>, _> = serde_json::from_slice(&body);
    let mut books = books.lock().unwrap();
    let answer = match parsed {
        Err(_) => error(1066, "Invalid request"),
        Ok(body) => {
            books.requests.push(RecordedRequest {
                method: method.to_owned(),
                body: Value::Object(body.clone()),
            });
            handle(&mut books, method, &body).unwrap_or_else(|e| e)
        }
    };
    Json(answer).into_response()
}

fn handle(books: &mut Books, method: &str, body: &Map<String, Value>) -> Result<Value, Value> {
    if checksum_fields(method).is_none() {
        return Err(error(1066, "Invalid request"));
    }
    // getPaymentStatus needs only the session token; when the rest is sent it is checked.
    let authenticated = method != "getPaymentStatus" || body.contains_key("checksum");
    if authenticated {
        authenticate(books, method, body)?;
    }
    match method {
        "openOrder" => open_order(books, body),
        "payment" => payment(books, body),
        "getPaymentStatus" => payment_status(books, body),
        _ => related(books, method, body),
    }
}

fn authenticate(books: &mut Books, method: &str, body: &Map<String, Value>) -> Result<(), Value> {
    let mut required = vec!["merchantId", "merchantSiteId", "timeStamp", "checksum"];
    if method != "getPaymentStatus" {
        required.extend(["clientRequestId"]);
    }
    if method != "getPaymentStatus" {
        required.extend(["amount", "currency"]);
    }
    for field in required {
        if text(body, field).filter(|v| !v.is_empty()).is_none() {
            return Err(error(
                1019,
                &format!("Validation Error: {field} is required"),
            ));
        }
    }
    if text(body, "merchantId").as_deref() != Some(MERCHANT_ID) {
        return Err(error(1013, "Invalid merchant ID"));
    }
    if text(body, "merchantSiteId").as_deref() != Some(MERCHANT_SITE_ID) {
        return Err(error(1022, "Invalid merchant site ID"));
    }
    if !time_stamp_ok(&text(body, "timeStamp").unwrap_or_default()) {
        return Err(error(1021, "Invalid timestamp"));
    }
    if let Some(amount) = body.get("amount") {
        let positive = amount.as_str().and_then(minor).is_some_and(|m| m > 0);
        if !positive {
            return Err(error(1040, "Invalid or missing amount"));
        }
    }
    if let Some(currency) = body.get("currency") {
        let ok = currency
            .as_str()
            .is_some_and(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()));
        if !ok {
            return Err(error(1041, "Invalid or missing amount currency"));
        }
    }
    let sent = text(body, "checksum")
        .unwrap_or_default()
        .to_ascii_lowercase();
    if sent != expected_checksum(books.alg, method, body) {
        return Err(error(1001, "Invalid checksum"));
    }
    if let Some(id) = text(body, "clientRequestId") {
        if !books.used_request_ids.insert(id) {
            return Err(error(
                REUSED_REQUEST_ID,
                "clientRequestId has already been used",
            ));
        }
    }
    Ok(())
}

fn envelope(body: &Map<String, Value>, extra: Value) -> Value {
    let mut answer = json!({
        "status": "SUCCESS", "errCode": 0, "reason": "", "version": "1.0",
        "merchantId": MERCHANT_ID, "merchantSiteId": MERCHANT_SITE_ID,
        "internalRequestId": 1,
        "clientRequestId": text(body, "clientRequestId").unwrap_or_default(),
    });
    if let (Some(a), Value::Object(e)) = (answer.as_object_mut(), extra) {
        a.extend(e);
    }
    answer
}

fn open_order(books: &mut Books, body: &Map<String, Value>) -> Result<Value, Value> {
    let kind = text(body, "transactionType").unwrap_or_else(|| "Sale".into());
    if !["Sale", "Auth", "PreAuth"].contains(&kind.as_str()) {
        return Err(error(1067, "Invalid or missing transaction type"));
    }
    let order_id = books.id();
    let token = format!("{}-{}", hex::encode(order_id.as_bytes()), books.next);
    books.orders.insert(
        token.clone(),
        Order {
            order_id: order_id.clone(),
            client_unique_id: text(body, "clientUniqueId").unwrap_or_default(),
            amount: text(body, "amount").unwrap_or_default(),
            currency: text(body, "currency").unwrap_or_default(),
            transaction_type: kind,
            expired: false,
            payment: None,
        },
    );
    Ok(envelope(
        body,
        json!({"sessionToken": token, "orderId": order_id,
               "clientUniqueId": text(body, "clientUniqueId").unwrap_or_default()}),
    ))
}

fn session<'a>(books: &'a Books, body: &Map<String, Value>) -> Result<(String, &'a Order), Value> {
    let token = text(body, "sessionToken").unwrap_or_default();
    let order = books
        .orders
        .get(&token)
        .ok_or_else(|| error(1064, "Invalid session token"))?;
    if order.expired {
        return Err(error(1069, "Session expired"));
    }
    Ok((token, order))
}

fn tx_answer(body: &Map<String, Value>, tx: &Tx, order_id: &str, extra: Value) -> Value {
    let declined = tx.status == "DECLINED";
    let mut answer = envelope(
        body,
        json!({
            "orderId": order_id, "transactionId": tx.id, "transactionType": tx.kind,
            "transactionStatus": tx.status, "authCode": if declined { "" } else { "111361" },
            "gwErrorCode": if declined { -1 } else { 0 },
            "gwErrorReason": if declined { "Decline" } else { "" },
            "gwExtendedErrorCode": 0, "clientUniqueId": tx.client_unique_id,
        }),
    );
    if let (Some(a), Value::Object(e)) = (answer.as_object_mut(), extra) {
        a.extend(e);
    }
    answer
}

fn payment(books: &mut Books, body: &Map<String, Value>) -> Result<Value, Value> {
    let (token, order) = session(books, body)?;
    let order = order.clone();
    if text(body, "amount") != Some(order.amount.clone())
        || text(body, "currency") != Some(order.currency.clone())
    {
        return Err(error(
            1058,
            "Requested operation cannot be performed on this order",
        ));
    }
    let kind = text(body, "transactionType").unwrap_or(order.transaction_type.clone());
    let related = text(body, "relatedTransactionId");
    let card = body
        .get("paymentOption")
        .and_then(|p| p.get("card"))
        .and_then(|c| c.get("cardNumber"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let (status, tx_kind, challenge) = match (&related, card.as_deref()) {
        // The liability-shift call after a challenge: its outcome decides.
        (Some(id), _) => match books.tx(id) {
            Some(t) if t.kind == "Auth3D" && t.session.as_deref() == Some(token.as_str()) => {
                let approved = t.status == "APPROVED";
                (if approved { "APPROVED" } else { "DECLINED" }, kind, false)
            }
            _ => {
                return Err(error(
                    1058,
                    "Requested operation cannot be performed on this order",
                ))
            }
        },
        (None, Some(CARD_APPROVED)) => ("APPROVED", kind, false),
        (None, Some(CARD_DECLINED)) => ("DECLINED", kind, false),
        (None, Some(CARD_CHALLENGE)) => ("REDIRECT", "Auth3D".to_owned(), true),
        _ => return Err(error(1004, "Missing or invalid CardData data")),
    };
    let id = books.id();
    let tx = Tx {
        id: id.clone(),
        kind: tx_kind,
        status: status.into(),
        amount: order.amount.clone(),
        currency: order.currency.clone(),
        related,
        session: Some(token.clone()),
        client_unique_id: order.client_unique_id.clone(),
        client_request_id: text(body, "clientRequestId").unwrap_or_default(),
        voided: false,
    };
    books.txs.push(tx.clone());
    books.orders.get_mut(&token).expect("order").payment = Some(id.clone());
    let three_d = if challenge {
        json!({"paymentOption": {"card": {"threeD": {
            "acsUrl": format!("{}/acs/{id}", books.base_url), "cReq": hex::encode(&id),
            "result": "C", "version": "2.1.0"}}}})
    } else {
        json!({})
    };
    Ok(tx_answer(body, &tx, &order.order_id, three_d))
}

fn payment_status(books: &mut Books, body: &Map<String, Value>) -> Result<Value, Value> {
    let (_, order) = session(books, body)?;
    let Some(tx) = order.payment.as_deref().and_then(|id| books.tx(id)) else {
        return Ok(envelope(body, json!({})));
    };
    Ok(tx_answer(
        body,
        tx,
        &order.order_id,
        json!({"amount": tx.amount, "currency": tx.currency}),
    ))
}

fn related(books: &mut Books, method: &str, body: &Map<String, Value>) -> Result<Value, Value> {
    let refused = || {
        error(
            1058,
            "Requested operation cannot be performed on this order",
        )
    };
    let id = text(body, "relatedTransactionId")
        .ok_or_else(|| error(1019, "Validation Error: relatedTransactionId is required"))?;
    let original = books.tx(&id).cloned().ok_or_else(refused)?;
    let amount = text(body, "amount").unwrap_or_default();
    let currency = text(body, "currency").unwrap_or_default();
    let requested = minor(&amount).unwrap_or(0);
    if original.status != "APPROVED" || original.voided || currency != original.currency {
        return Err(refused());
    }
    let done = |kind: &str| -> i64 {
        books
            .txs
            .iter()
            .filter(|t| t.related.as_deref() == Some(id.as_str()))
            .filter(|t| t.kind == kind && t.status == "APPROVED")
            .map(Tx::minor)
            .sum()
    };
    let kind = match method {
        "settleTransaction" if original.kind == "Auth" => {
            if done("Settle") + requested > original.minor() {
                return Err(refused());
            }
            "Settle"
        }
        "refundTransaction" if original.kind == "Sale" || original.kind == "Settle" => {
            if done("Credit") + requested > original.minor() {
                return Err(refused());
            }
            "Credit"
        }
        "voidTransaction" if ["Auth", "Sale", "Settle"].contains(&original.kind.as_str()) => "Void",
        _ => return Err(refused()),
    };
    if kind == "Void" {
        if let Some(t) = books.txs.iter_mut().find(|t| t.id == id) {
            t.voided = true;
        }
    }
    let tx = Tx {
        id: books.id(),
        kind: kind.into(),
        status: "APPROVED".into(),
        amount,
        currency,
        related: Some(id),
        session: None,
        client_unique_id: text(body, "clientUniqueId").unwrap_or(original.client_unique_id),
        client_request_id: text(body, "clientRequestId").unwrap_or_default(),
        voided: false,
    };
    books.txs.push(tx.clone());
    Ok(tx_answer(body, &tx, "", json!({})))
}
