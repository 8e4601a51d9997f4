//! Braintree's classic gateway API as its SDKs speak it (braintree_python 4.x `util/http.py`,
//! `util/generator.py`, `transaction_gateway.py`; providers.md §5), for the operations the PGM
//! uses: sale, find, submit for settlement, void, refund, search by order id, client token.
//!
//! What the gateway enforces and this mock enforces too, so that a wrong request fails:
//! - every path under `/merchants/{merchant_id}`, HTTP Basic `public_key:private_key` (401
//!   otherwise, empty body, as the SDK expects), `X-ApiVersion` (426 without one: the SDK's
//!   `UpgradeRequiredError`); a body is XML (`Content-Type: application/xml`);
//! - element names dasherised (Ruby) or underscored (Python's generator keeps the key): both
//!   are read, as the gateway reads both;
//! - amounts are decimal strings of at most two decimals, greater than zero; `type` is
//!   required; a payment method (nonce, or a vaulted customer) is required; a nonce is used
//!   once; `order-id` at most 255 characters; the merchant account must exist;
//! - refunds only of `settled`/`settling` sales, several partial ones up to what remains;
//!   voids only of `authorized`/`submitted_for_settlement`/`settlement_pending`; submit for
//!   settlement only of `authorized`, at most the authorised amount;
//! - a refusal is HTTP 422 `<api-error-response>` with `<errors>` nested by object (validation)
//!   or with the declined `<transaction>` (processor decline), as `ErrorResult` reads them.
//!
//! Test nonces, as in Braintree's sandbox: `fake-valid-nonce` and `fake-paypal-one-time-nonce`
//! approve (reusable), `fake-processor-declined-visa-nonce` is declined (2000 Do Not Honor),
//! `fake-consumed-nonce` is consumed; [`BraintreeMock::nonce`] issues single-use ones.

use crate::{Fault, MockServer};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use base64::Engine;
use quick_xml::events::Event;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

pub const MERCHANT_ID: &str = "pgm_merchant";
pub const PUBLIC_KEY: &str = "pgm_public_key";
pub const PRIVATE_KEY: &str = "pgm_private_key_0123456789";
/// The merchant account the PGM is configured with; its currency is the payments' currency.
pub const MERCHANT_ACCOUNT_ID: &str = "pgm_eur";
pub const CURRENCY: &str = "EUR";
pub const VALID_NONCE: &str = "fake-valid-nonce";
pub const PAYPAL_NONCE: &str = "fake-paypal-one-time-nonce";
pub const DECLINED_NONCE: &str = "fake-processor-declined-visa-nonce";
pub const CONSUMED_NONCE: &str = "fake-consumed-nonce";

/// One transaction in the mock's books (a sale, or the credit a refund creates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    pub id: String,
    pub kind: &'static str,
    pub status: String,
    pub amount_minor: i64,
    pub order_id: Option<String>,
    pub customer_id: Option<String>,
    pub merchant_account_id: String,
    pub device_data: Option<String>,
    pub refunded_transaction_id: Option<String>,
    pub refund_ids: Vec<String>,
    pub processor_response_code: &'static str,
    pub processor_response_text: &'static str,
}

#[derive(Default)]
struct Books {
    transactions: BTreeMap<String, Transaction>,
    /// Customer id → its vaulted payment method tokens (the first is the default).
    customers: BTreeMap<String, Vec<String>>,
    issued_nonces: BTreeSet<String>,
    used_nonces: BTreeSet<String>,
    next_id: u64,
    client_tokens: usize,
}

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Books>>);

pub struct BraintreeMock {
    pub server: MockServer,
    books: Shared,
}

impl BraintreeMock {
    pub async fn start() -> BraintreeMock {
        let books = Shared::default();
        let merchant = Router::new()
            .route("/transactions", post(sale))
            .route("/transactions/advanced_search_ids", post(search_ids))
            .route("/transactions/{id}", get(find))
            .route(
                "/transactions/{id}/submit_for_settlement",
                put(settle_submit),
            )
            .route("/transactions/{id}/void", put(void))
            .route("/transactions/{id}/refund", post(refund))
            .route("/client_token", post(client_token))
            .with_state(books.clone());
        let router = Router::new().nest("/merchants/{merchant_id}", merchant);
        BraintreeMock {
            server: MockServer::start(router).await,
            books,
        }
    }

    pub fn url(&self) -> &str {
        &self.server.url
    }

    pub fn fault(&self, fault: Fault) {
        self.server.faults.push(fault);
    }

    /// A fresh single-use nonce, as the front end's Drop-in would get from a client token.
    pub fn nonce(&self) -> String {
        let mut books = self.books.0.lock().unwrap();
        books.next_id += 1;
        let nonce = format!("tokenpp_{:08}", books.next_id);
        books.issued_nonces.insert(nonce.clone());
        nonce
    }

    /// A customer with one vaulted payment method, as the Control Panel would create one.
    pub fn add_customer(&self, customer_id: &str) {
        let mut books = self.books.0.lock().unwrap();
        books
            .customers
            .insert(customer_id.to_owned(), vec![format!("pm_{customer_id}")]);
    }

    /// The vaulted payment methods of a customer (`None`: no such customer).
    pub fn vaulted(&self, customer_id: &str) -> Option<Vec<String>> {
        self.books
            .0
            .lock()
            .unwrap()
            .customers
            .get(customer_id)
            .cloned()
    }

    pub fn transaction(&self, id: &str) -> Option<Transaction> {
        self.books.0.lock().unwrap().transactions.get(id).cloned()
    }

    pub fn sales(&self) -> Vec<Transaction> {
        let books = self.books.0.lock().unwrap();
        books
            .transactions
            .values()
            .filter(|t| t.kind == "sale")
            .cloned()
            .collect()
    }

    /// Sales for one of our references.
    pub fn sales_for(&self, order_id: &str) -> Vec<Transaction> {
        self.sales()
            .into_iter()
            .filter(|t| t.order_id.as_deref() == Some(order_id))
            .collect()
    }

    /// Minor units refunded (credits) of the sales of `order_id`, voided sales counted whole.
    pub fn refunded_minor(&self, order_id: &str) -> i64 {
        let books = self.books.0.lock().unwrap();
        let sales: Vec<&Transaction> = books
            .transactions
            .values()
            .filter(|t| t.kind == "sale" && t.order_id.as_deref() == Some(order_id))
            .collect();
        sales
            .iter()
            .map(|sale| {
                if sale.status == "voided" {
                    return sale.amount_minor;
                }
                sale.refund_ids
                    .iter()
                    .filter_map(|id| books.transactions.get(id))
                    .map(|credit| credit.amount_minor)
                    .sum()
            })
            .sum()
    }

    pub fn client_tokens_issued(&self) -> usize {
        self.books.0.lock().unwrap().client_tokens
    }

    /// Settlement, which the real gateway runs in batches (the sandbox's `testing.settle`).
    pub fn settle(&self, id: &str) -> Result<(), String> {
        self.move_status(id, &["submitted_for_settlement", "settling"], "settled")
    }

    pub fn decline_settlement(&self, id: &str) -> Result<(), String> {
        self.move_status(
            id,
            &["submitted_for_settlement", "settling"],
            "settlement_declined",
        )
    }

    fn move_status(&self, id: &str, from: &[&str], to: &str) -> Result<(), String> {
        let mut books = self.books.0.lock().unwrap();
        let t = books
            .transactions
            .get_mut(id)
            .ok_or_else(|| format!("no transaction {id}"))?;
        if !from.contains(&t.status.as_str()) {
            return Err(format!("transaction {id} is {}", t.status));
        }
        t.status = to.to_owned();
        Ok(())
    }
}

// ---- XML, as the SDKs write it and read it ----

/// An element: dashes in names read as underscores (both spellings reach the gateway).
#[derive(Debug, Default, Clone)]
pub struct Node {
    pub name: String,
    pub text: String,
    pub children: Vec<Node>,
}

impl Node {
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn text_of(&self, name: &str) -> Option<String> {
        self.child(name).map(|c| c.text.trim().to_owned())
    }

    fn flag(&self, name: &str) -> bool {
        matches!(self.text_of(name).as_deref(), Some("true" | "1"))
    }
}

/// Parses a document into its root element; `None` when it is not well-formed XML.
pub fn parse(xml: &[u8]) -> Option<Node> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut stack: Vec<Node> = Vec::new();
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf).ok()? {
            Event::Start(e) => stack.push(Node {
                name: e.name().as_ref().replace('-', "_"),
                ..Node::default()
            }),
            Event::Empty(e) => {
                let node = Node {
                    name: e.name().as_ref().replace('-', "_"),
                    ..Node::default()
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => return Some(node),
                }
            }
            Event::Text(t) => {
                // Entity references come as their own events: this text has none. Whitespace
                // around the root (after the declaration) belongs to nothing.
                if let Some(open) = stack.last_mut() {
                    open.text.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                let name = r.xml10_content();
                let reference = format!("&{name};");
                let text = quick_xml::escape::unescape(&reference).ok()?;
                stack.last_mut()?.text.push_str(&text);
            }
            Event::End(_) => {
                let node = stack.pop()?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => return Some(node),
                }
            }
            Event::Eof => return None,
            _ => {}
        }
        buf.clear();
    }
}

fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

fn decimal(minor: i64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

/// `^\d+(\.\d{1,2})?$` in minor units: Braintree's amount format (81503 otherwise).
fn parse_amount(text: &str) -> Option<i64> {
    let (units, cents) = match text.split_once('.') {
        Some((u, c)) if (1..=2).contains(&c.len()) => (u, c),
        Some(_) => return None,
        None => (text, "0"),
    };
    if units.is_empty()
        || !units
            .bytes()
            .chain(cents.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let cents: i64 = format!("{cents:0<2}").parse().ok()?;
    units
        .parse::<i64>()
        .ok()?
        .checked_mul(100)?
        .checked_add(cents)
}

fn transaction_xml(t: &Transaction) -> String {
    let opt = |name: &str, value: &Option<String>| match value {
        Some(v) => format!("<{name}>{}</{name}>", escape(v)),
        None => format!("<{name} nil=\"true\"/>"),
    };
    let refunds: String = t
        .refund_ids
        .iter()
        .map(|id| format!("<item>{}</item>", escape(id)))
        .collect();
    format!(
        "<transaction><id>{id}</id><status>{status}</status><type>{kind}</type>\
         <currency-iso-code>{CURRENCY}</currency-iso-code><amount>{amount}</amount>\
         <merchant-account-id>{ma}</merchant-account-id>{order}<customer>{customer}</customer>\
         <refund-ids type=\"array\">{refunds}</refund-ids>{refunded}\
         <processor-response-code>{code}</processor-response-code>\
         <processor-response-text>{text}</processor-response-text>\
         <payment-instrument-type>paypal_account</payment-instrument-type></transaction>",
        id = escape(&t.id),
        status = t.status,
        kind = t.kind,
        amount = decimal(t.amount_minor),
        ma = escape(&t.merchant_account_id),
        order = opt("order-id", &t.order_id),
        customer = opt("id", &t.customer_id),
        refunded = opt("refunded-transaction-id", &t.refunded_transaction_id),
        code = t.processor_response_code,
        text = t.processor_response_text,
    )
}

fn xml_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [("content-type", "application/xml; charset=utf-8")],
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}"),
    )
        .into_response()
}

/// A validation error on `object` (`transaction`), as `ValidationErrorCollection` nests it.
fn validation(object: &str, code: &str, attribute: &str, message: &str) -> Response {
    let object = object.replace('_', "-");
    xml_response(
        StatusCode::UNPROCESSABLE_ENTITY,
        format!(
            "<api-error-response><errors><errors type=\"array\"/><{object}><errors type=\"array\">\
             <error><code>{code}</code><attribute type=\"symbol\">{attribute}</attribute>\
             <message>{message}</message></error></errors></{object}></errors>\
             <message>{message}</message></api-error-response>",
            message = escape(message)
        ),
    )
}

/// The checks a settlement or refund request passes first (auth, merchant, XML `<transaction>`),
/// and its `<transaction>` with its optional `<amount>` (absent: the whole amount), refused when
/// malformed.
fn optional_amount(
    merchant_id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Node, Option<String>), Box<Response>> {
    gate(merchant_id, headers, !body.is_empty())?;
    let tx = body_root(body, "transaction")?;
    let amount = tx.text_of("amount").filter(|a| !a.is_empty());
    if amount.is_some() {
        if let Some(r) = invalid_amount(amount.as_deref()) {
            return Err(Box::new(r));
        }
    }
    Ok((tx, amount))
}

fn invalid_amount(text: Option<&str>) -> Option<Response> {
    match text {
        None | Some("") => Some(validation(
            "transaction",
            "81502",
            "amount",
            "Amount is required.",
        )),
        Some(t) => match parse_amount(t) {
            None => Some(validation(
                "transaction",
                "81503",
                "amount",
                "Amount is an invalid format.",
            )),
            Some(0) => Some(validation(
                "transaction",
                "81531",
                "amount",
                "Amount must be greater than zero.",
            )),
            Some(_) => None,
        },
    }
}

// ---- the gateway's routes ----

/// Basic auth, the merchant in the path, the API version and (for bodies) the XML type.
fn gate(merchant_id: &str, headers: &HeaderMap, has_body: bool) -> Result<(), Box<Response>> {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{PUBLIC_KEY}:{PRIVATE_KEY}"))
    );
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if header("authorization") != Some(expected.as_str()) {
        return Err(Box::new(StatusCode::UNAUTHORIZED.into_response()));
    }
    // Keys belong to one merchant: another merchant's path is not theirs to use.
    if merchant_id != MERCHANT_ID {
        return Err(Box::new(StatusCode::FORBIDDEN.into_response()));
    }
    if header("x-apiversion")
        .and_then(|v| v.parse::<u32>().ok())
        .is_none_or(|v| v < 4)
    {
        return Err(Box::new(StatusCode::UPGRADE_REQUIRED.into_response()));
    }
    if has_body && !header("content-type").is_some_and(|c| c.starts_with("application/xml")) {
        return Err(Box::new(StatusCode::UNSUPPORTED_MEDIA_TYPE.into_response()));
    }
    Ok(())
}

/// The body's root element, which must be `root`; an empty body reads as an empty `root`.
fn body_root(body: &[u8], root: &str) -> Result<Node, Box<Response>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Node {
            name: root.to_owned(),
            ..Node::default()
        });
    }
    match parse(body) {
        Some(node) if node.name == root => Ok(node),
        _ => Err(Box::new(
            (StatusCode::BAD_REQUEST, "malformed XML").into_response(),
        )),
    }
}

fn with<T>(books: &Shared, f: impl FnOnce(&mut Books) -> T) -> T {
    f(&mut books.0.lock().unwrap())
}

async fn sale(
    State(books): State<Shared>,
    Path(merchant_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = gate(&merchant_id, &headers, true) {
        return *r;
    }
    let tx = match body_root(&body, "transaction") {
        Ok(t) => t,
        Err(r) => return *r,
    };
    match tx.text_of("type").as_deref() {
        Some("sale") => {}
        None | Some("") => {
            return validation(
                "transaction",
                "91524",
                "type",
                "Transaction type is required.",
            )
        }
        Some(_) => {
            return validation(
                "transaction",
                "91523",
                "type",
                "Transaction type is invalid.",
            )
        }
    }
    if let Some(r) = invalid_amount(tx.text_of("amount").as_deref()) {
        return r;
    }
    let amount_minor = tx
        .text_of("amount")
        .as_deref()
        .and_then(parse_amount)
        .unwrap_or(0);
    let order_id = tx.text_of("order_id").filter(|o| !o.is_empty());
    if order_id.as_ref().is_some_and(|o| o.chars().count() > 255) {
        return validation("transaction", "91501", "order_id", "Order ID is too long.");
    }
    let merchant_account_id = tx
        .text_of("merchant_account_id")
        .unwrap_or_else(|| MERCHANT_ACCOUNT_ID.to_owned());
    if merchant_account_id != MERCHANT_ACCOUNT_ID {
        return validation(
            "transaction",
            "91513",
            "merchant_account_id",
            "Merchant account ID is invalid.",
        );
    }
    let options = tx.child("options").cloned().unwrap_or_default();
    let submit = options.flag("submit_for_settlement");
    let store = options.flag("store_in_vault_on_success") || options.flag("store_in_vault");
    let nonce = tx.text_of("payment_method_nonce").filter(|n| !n.is_empty());
    let customer_id = tx.text_of("customer_id").filter(|c| !c.is_empty());
    let device_data = tx.text_of("device_data");

    with(&books, |books| {
        if let Some(customer) = &customer_id {
            // A vaulted customer pays with its default method; with a nonce, the customer
            // must exist too (the nonce's method is then stored for it when asked).
            match books.customers.get(customer) {
                Some(methods) if nonce.is_some() || !methods.is_empty() => {}
                _ => {
                    return validation(
                        "transaction",
                        "91510",
                        "customer_id",
                        "Customer ID is invalid.",
                    )
                }
            }
        }
        let declined = match nonce.as_deref() {
            None if customer_id.is_none() => {
                return validation(
                    "transaction",
                    "91508",
                    "base",
                    "Cannot determine payment method.",
                )
            }
            None => false,
            Some(CONSUMED_NONCE) => {
                return validation(
                    "transaction",
                    "91564",
                    "payment_method_nonce",
                    "Cannot use a payment_method_nonce more than once.",
                )
            }
            Some(VALID_NONCE | PAYPAL_NONCE) => false,
            Some(DECLINED_NONCE) => true,
            Some(n) if books.used_nonces.contains(n) => {
                return validation(
                    "transaction",
                    "91564",
                    "payment_method_nonce",
                    "Cannot use a payment_method_nonce more than once.",
                )
            }
            Some(n) if books.issued_nonces.contains(n) => false,
            Some(_) => {
                return validation(
                    "transaction",
                    "91565",
                    "payment_method_nonce",
                    "Unknown payment_method_nonce.",
                )
            }
        };
        if let Some(n) = &nonce {
            if books.issued_nonces.contains(n) {
                books.used_nonces.insert(n.clone());
            }
        }
        books.next_id += 1;
        let id = format!("bt{:06}", books.next_id);
        let mut customer_id = customer_id.clone();
        if store && !declined && nonce.is_some() {
            let customer = customer_id
                .get_or_insert_with(|| format!("cust{:06}", books.next_id))
                .clone();
            books
                .customers
                .entry(customer)
                .or_default()
                .push(format!("pm_{id}"));
        }
        let (status, code, text) = match (declined, submit) {
            (true, _) => ("processor_declined", "2000", "Do Not Honor"),
            (false, true) => ("submitted_for_settlement", "1000", "Approved"),
            (false, false) => ("authorized", "1000", "Approved"),
        };
        let t = Transaction {
            id: id.clone(),
            kind: "sale",
            status: status.into(),
            amount_minor,
            order_id,
            customer_id,
            merchant_account_id,
            device_data,
            refunded_transaction_id: None,
            refund_ids: Vec::new(),
            processor_response_code: code,
            processor_response_text: text,
        };
        books.transactions.insert(id, t.clone());
        if declined {
            // A decline is a 422 carrying the transaction (ErrorResult.transaction).
            xml_response(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "<api-error-response><errors><errors type=\"array\"/></errors>\
                     <message>{text}</message>{}</api-error-response>",
                    transaction_xml(&t)
                ),
            )
        } else {
            xml_response(StatusCode::CREATED, transaction_xml(&t))
        }
    })
}

async fn find(
    State(books): State<Shared>,
    Path((merchant_id, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = gate(&merchant_id, &headers, false) {
        return *r;
    }
    match with(&books, |b| b.transactions.get(&id).cloned()) {
        Some(t) => xml_response(StatusCode::OK, transaction_xml(&t)),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn settle_submit(
    State(books): State<Shared>,
    Path((merchant_id, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (_, amount) = match optional_amount(&merchant_id, &headers, &body) {
        Ok(read) => read,
        Err(r) => return *r,
    };
    with(&books, |books| {
        let Some(t) = books.transactions.get_mut(&id) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        if t.status != "authorized" {
            return validation(
                "transaction",
                "91507",
                "base",
                "Cannot submit for settlement unless status is authorized.",
            );
        }
        let minor = amount
            .as_deref()
            .and_then(parse_amount)
            .unwrap_or(t.amount_minor);
        if minor > t.amount_minor {
            return validation(
                "transaction",
                "91522",
                "amount",
                "Settlement amount cannot be more than the authorized amount.",
            );
        }
        t.amount_minor = minor;
        t.status = "submitted_for_settlement".into();
        xml_response(StatusCode::OK, transaction_xml(t))
    })
}

async fn void(
    State(books): State<Shared>,
    Path((merchant_id, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = gate(&merchant_id, &headers, !body.is_empty()) {
        return *r;
    }
    with(&books, |books| {
        let Some(t) = books.transactions.get_mut(&id) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        if ![
            "authorized",
            "submitted_for_settlement",
            "settlement_pending",
        ]
        .contains(&t.status.as_str())
        {
            return validation(
                "transaction",
                "91504",
                "base",
                "Transaction can only be voided if status is authorized, submitted_for_settlement, or - for PayPal - settlement_pending.",
            );
        }
        t.status = "voided".into();
        xml_response(StatusCode::OK, transaction_xml(t))
    })
}

async fn refund(
    State(books): State<Shared>,
    Path((merchant_id, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (tx, amount) = match optional_amount(&merchant_id, &headers, &body) {
        Ok(read) => read,
        Err(r) => return *r,
    };
    with(&books, |books| {
        let Some(sale) = books.transactions.get(&id).cloned() else {
            return StatusCode::NOT_FOUND.into_response();
        };
        if sale.kind != "sale" {
            return validation("transaction", "91505", "base", "Cannot refund credit");
        }
        if !["settled", "settling"].contains(&sale.status.as_str()) {
            return validation(
                "transaction",
                "91506",
                "base",
                "Cannot refund transaction unless it is settled.",
            );
        }
        let refunded: i64 = sale
            .refund_ids
            .iter()
            .filter_map(|r| books.transactions.get(r))
            .map(|c| c.amount_minor)
            .sum();
        let remaining = sale.amount_minor - refunded;
        if remaining == 0 {
            return validation(
                "transaction",
                "91512",
                "base",
                "Transaction has already been completely refunded.",
            );
        }
        let minor = amount
            .as_deref()
            .and_then(parse_amount)
            .unwrap_or(remaining);
        if minor > remaining {
            return validation(
                "transaction",
                "91521",
                "amount",
                "Refund amount is too large.",
            );
        }
        books.next_id += 1;
        let credit_id = format!("bt{:06}", books.next_id);
        let credit = Transaction {
            id: credit_id.clone(),
            kind: "credit",
            status: "submitted_for_settlement".into(),
            amount_minor: minor,
            order_id: tx.text_of("order_id").or(sale.order_id.clone()),
            customer_id: sale.customer_id.clone(),
            merchant_account_id: sale.merchant_account_id.clone(),
            device_data: None,
            refunded_transaction_id: Some(sale.id.clone()),
            refund_ids: Vec::new(),
            processor_response_code: "1002",
            processor_response_text: "Processed",
        };
        books.transactions.insert(credit_id.clone(), credit.clone());
        if let Some(s) = books.transactions.get_mut(&id) {
            s.refund_ids.push(credit_id);
        }
        xml_response(StatusCode::CREATED, transaction_xml(&credit))
    })
}

/// `<search><order-id><is>…</is></order-id></search>` → the ids of the matching transactions.
async fn search_ids(
    State(books): State<Shared>,
    Path(merchant_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = gate(&merchant_id, &headers, true) {
        return *r;
    }
    let search = match body_root(&body, "search") {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let wanted = search.child("order_id").and_then(|o| o.text_of("is"));
    let ids: String = with(&books, |books| {
        books
            .transactions
            .values()
            .filter(|t| wanted.is_none() || t.order_id == wanted)
            .map(|t| format!("<item>{}</item>", escape(&t.id)))
            .collect()
    });
    xml_response(
        StatusCode::OK,
        format!(
            "<search-results><page-size type=\"integer\">50</page-size>\
             <ids type=\"array\">{ids}</ids></search-results>"
        ),
    )
}

/// A client token: base64 of the JSON configuration the client SDKs read (version 2).
async fn client_token(
    State(books): State<Shared>,
    Path(merchant_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = gate(&merchant_id, &headers, true) {
        return *r;
    }
    let request = match body_root(&body, "client_token") {
        Ok(r) => r,
        Err(r) => return *r,
    };
    let customer = request.text_of("customer_id").filter(|c| !c.is_empty());
    let n = with(&books, |books| {
        if let Some(c) = &customer {
            if !books.customers.contains_key(c) {
                return Err(Box::new(validation(
                    "client_token",
                    "92804",
                    "customer_id",
                    "Customer specified by customer_id does not exist",
                )));
            }
        }
        books.client_tokens += 1;
        Ok(books.client_tokens)
    });
    let n = match n {
        Ok(n) => n,
        Err(r) => return *r,
    };
    let config = serde_json::json!({
        "version": 2,
        "authorizationFingerprint": format!("mock-fingerprint-{n}"),
        "configUrl": format!("https://api.sandbox.braintreegateway.com:443/merchants/{MERCHANT_ID}/client_api/v1/configuration"),
        "merchantId": MERCHANT_ID,
        "environment": "sandbox",
    });
    let value = base64::engine::general_purpose::STANDARD.encode(config.to_string());
    xml_response(
        StatusCode::CREATED,
        format!("<client-token><value>{value}</value></client-token>"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_decimal_strings_of_two_decimals_at_most() {
        assert_eq!(parse_amount("10.00"), Some(1000));
        assert_eq!(parse_amount("10.5"), Some(1050));
        assert_eq!(parse_amount("7"), Some(700));
        for bad in ["10.001", "-1.00", "1e3", "", ".5", "10."] {
            assert_eq!(parse_amount(bad), None, "{bad}");
        }
    }

    #[test]
    fn both_spellings_of_names_parse() {
        let n = parse(b"<transaction><order-id>a&amp;b</order-id><payment_method_nonce>n</payment_method_nonce><x/></transaction>").unwrap();
        assert_eq!(n.text_of("order_id").as_deref(), Some("a&b"));
        assert_eq!(n.text_of("payment_method_nonce").as_deref(), Some("n"));
        assert!(parse(b"<a><b></a>").is_none());
    }
}
