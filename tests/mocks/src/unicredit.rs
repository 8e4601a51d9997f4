//! UniCredit PagOnline Imprese (IGFS CG), SOAP 1.1, as its documentation and the public PHP
//! client (mattiabasone/PagOnline) describe it: `POST {base}/PaymentInitGatewayPort` (Init,
//! Verify) and `{base}/PaymentTranGatewayPort` (Confirm, VoidAuth, Credit), `text/xml`
//! envelopes whose body element is in the service namespace and holds `<request>`. Every
//! request must carry apiVersion, our terminal id and the signature
//! `base64(HMAC-SHA256(kSig, apiVersion+tid+merID+payInstr+shopID+<op fields>))` (computed here
//! from the documented order, independently of the adapter); every answer is signed the same
//! way over its documented fields. Amounts are integers of minor units. Errors are `rc` codes
//! (IGFS_20000 missing data, IGFS_20022 bad signature, IGFS_810 unknown terminal, ...) inside
//! an HTTP 200; a malformed envelope is a SOAP `Client` fault with HTTP 500.
//!
//! Tests play the buyer with [`UnicreditMock::approve`] / [`UnicreditMock::decline`]; the
//! buyer's browser then returns to `notifyURL` / `errorURL` ([`UnicreditMock::return_url`]).
//! The API base is `{server.url}{SERVICES}`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine;
use hmac::{Hmac, Mac};
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;
use rand::Rng;
use sha2::Sha256;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

pub const SERVICES: &str = "/UNI_CG_SERVICES/services";
/// The gateway's payment page (test environment).
pub const PAYMENT_PAGE: &str = "https://testeps.netswgroup.it/UNI_CG_WEB/app/main/show";
const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const SERVICE_NS: &str = "http://services.api.web.cg.igfs.apps.netsw.it/";
const CURRENCIES: [&str; 4] = ["EUR", "USD", "GBP", "CHF"];
const TR_TYPES: [&str; 3] = ["AUTH", "PURCHASE", "VERIFY"];

/// Each operation's signed request fields after the common five, in the documented order.
fn signed_fields(op: &str) -> Option<&'static [&'static str]> {
    Some(match op {
        "Init" => &[
            "shopUserRef",
            "shopUserName",
            "shopUserAccount",
            "shopUserMobilePhone",
            "shopUserIMEI",
            "trType",
            "amount",
            "currencyCode",
            "langID",
            "notifyURL",
            "errorURL",
            "callbackURL",
            "addInfo1",
            "addInfo2",
            "addInfo3",
            "addInfo4",
            "addInfo5",
            "payInstrToken",
            "topUpID",
        ],
        "Verify" => &["paymentID", "refTranID"],
        "Confirm" => &[
            "amount",
            "refTranID",
            "addInfo1",
            "addInfo2",
            "addInfo3",
            "addInfo4",
            "addInfo5",
            "topUpID",
        ],
        "VoidAuth" => &[
            "amount",
            "refTranID",
            "addInfo1",
            "addInfo2",
            "addInfo3",
            "addInfo4",
            "addInfo5",
        ],
        "Credit" => &[
            "shopUserRef",
            "amount",
            "currencyCode",
            "refTranID",
            "pan",
            "payInstrToken",
            "expireMonth",
            "expireYear",
            "addInfo1",
            "addInfo2",
            "addInfo3",
            "addInfo4",
            "addInfo5",
        ],
        _ => return None,
    })
}

/// The signed fields of each answer.
fn answer_fields(op: &str) -> &'static [&'static str] {
    match op {
        "Init" => &[
            "tid",
            "shopID",
            "rc",
            "errorDesc",
            "paymentID",
            "redirectURL",
        ],
        "Verify" => &[
            "tid",
            "shopID",
            "rc",
            "errorDesc",
            "paymentID",
            "tranID",
            "authCode",
            "enrStatus",
            "authStatus",
        ],
        _ => &[
            "tid",
            "shopID",
            "rc",
            "errorDesc",
            "tranID",
            "date",
            "addInfo1",
            "addInfo2",
            "addInfo3",
            "addInfo4",
            "addInfo5",
        ],
    }
}

fn sign(key: &str, values: &[&str]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("any key");
    mac.update(values.concat().as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgfsPayment {
    pub payment_id: String,
    pub shop_id: String,
    pub tr_type: String,
    pub amount_minor: i64,
    pub currency: String,
    pub notify_url: String,
    pub error_url: String,
    pub add_info: [String; 5],
    /// `IGFS_814` until the buyer acts, then `IGFS_000` or a decline code.
    pub rc: String,
    pub tran_id: Option<String>,
    pub captured_minor: i64,
    pub refunded_minor: i64,
    pub voided: bool,
}

struct Inner {
    tid: String,
    ksig: String,
    payments: Vec<IgfsPayment>,
    next: u64,
    created: usize,
    /// Every operation received, by name (signature checked or not).
    calls: Vec<String>,
}

#[derive(Clone)]
pub struct UnicreditMock {
    inner: Arc<Mutex<Inner>>,
}

/// An `rc` refusal.
struct Rc(&'static str, &'static str);

const MISSING: Rc = Rc("IGFS_20000", "MISSING DATA");

impl UnicreditMock {
    pub fn new(tid: &str, ksig: &str) -> UnicreditMock {
        UnicreditMock {
            inner: Arc::new(Mutex::new(Inner {
                tid: tid.into(),
                ksig: ksig.into(),
                payments: Vec::new(),
                next: 536_964_610_157_762,
                created: 0,
                calls: Vec::new(),
            })),
        }
    }

    pub fn router(&self) -> Router {
        Router::new().fallback(handle).with_state(self.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn with<T>(
        &self,
        payment_id: &str,
        f: impl FnOnce(&mut IgfsPayment, &mut u64) -> T,
    ) -> Option<T> {
        let mut inner = self.lock();
        let Inner { payments, next, .. } = &mut *inner;
        payments
            .iter_mut()
            .find(|p| p.payment_id == payment_id)
            .map(|p| f(p, next))
    }

    /// The buyer pays on the gateway's page: authorised (AUTH) or captured (PURCHASE).
    pub fn approve(&self, payment_id: &str) -> bool {
        self.with(payment_id, |p, next| {
            if p.rc != "IGFS_814" {
                return false;
            }
            *next += 1;
            p.rc = "IGFS_000".into();
            p.tran_id = Some(format!("30553080{next}"));
            if p.tr_type == "PURCHASE" {
                p.captured_minor = p.amount_minor;
            }
            true
        })
        .unwrap_or(false)
    }

    /// The bank declines the buyer's card.
    pub fn decline(&self, payment_id: &str) -> bool {
        self.with(payment_id, |p, _| {
            let pending = p.rc == "IGFS_814";
            if pending {
                p.rc = "IGFS_008".into();
            }
            pending
        })
        .unwrap_or(false)
    }

    /// Where the gateway sends the buyer's browser back: `notifyURL` after an approval,
    /// `errorURL` otherwise.
    pub fn return_url(&self, payment_id: &str) -> Option<String> {
        let p = self.payment(payment_id)?;
        Some(if p.rc == "IGFS_000" {
            p.notify_url
        } else {
            p.error_url
        })
    }

    pub fn payment(&self, payment_id: &str) -> Option<IgfsPayment> {
        self.lock()
            .payments
            .iter()
            .find(|p| p.payment_id == payment_id)
            .cloned()
    }

    pub fn payments(&self) -> Vec<IgfsPayment> {
        self.lock().payments.clone()
    }

    pub fn created(&self) -> usize {
        self.lock().created
    }

    /// The operations received so far, oldest first.
    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    fn dispatch(
        &self,
        port: &str,
        op: &str,
        f: &BTreeMap<String, String>,
    ) -> Result<Vec<(&'static str, String)>, Rc> {
        let get = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
        let (tid, ksig) = {
            let inner = self.lock();
            (inner.tid.clone(), inner.ksig.clone())
        };
        if get("apiVersion").is_empty() {
            return Err(Rc("IGFS_20021", "INVALID API VERSION FIELD"));
        }
        if get("tid") != tid {
            return Err(Rc("IGFS_810", "TERMINAL NOT RECOGNIZED"));
        }
        let mut signed = vec![
            get("apiVersion"),
            get("tid"),
            get("merID"),
            get("payInstr"),
            get("shopID"),
        ];
        signed.extend(signed_fields(op).unwrap_or(&[]).iter().map(|k| get(k)));
        if get("signature") != sign(&ksig, &signed) {
            return Err(Rc("IGFS_20022", "INVALID SIGNATURE FIELD"));
        }
        if get("shopID").is_empty() {
            return Err(MISSING);
        }
        match (port, op) {
            ("PaymentInitGatewayPort", "Init") => self.init(f),
            ("PaymentInitGatewayPort", "Verify") => self.verify(f),
            ("PaymentTranGatewayPort", "Confirm" | "VoidAuth" | "Credit") => {
                self.transaction(op, f)
            }
            _ => Err(Rc("IGFS_20001", "INVALID OPERATION CODE")),
        }
    }

    fn init(&self, f: &BTreeMap<String, String>) -> Result<Vec<(&'static str, String)>, Rc> {
        let get = |k: &str| f.get(k).cloned().unwrap_or_default();
        let tr_type = get("trType");
        if !TR_TYPES.contains(&tr_type.as_str()) {
            return Err(Rc("IGFS_20001", "INVALID OPERATION CODE"));
        }
        let amount = minor(&get("amount"))?;
        let currency = get("currencyCode");
        if !CURRENCIES.contains(&currency.as_str()) {
            return Err(Rc("IGFS_085", "WRONG CURRENCY CODE"));
        }
        let lang = get("langID");
        if lang.len() != 2 {
            return Err(Rc("IGFS_20013", "INVALID LANGUAGE CODE"));
        }
        let url = |u: &str| u.starts_with("http://") || u.starts_with("https://");
        let (notify_url, error_url) = (get("notifyURL"), get("errorURL"));
        if !url(&notify_url) {
            return Err(Rc("IGFS_20010", "INVALID REPLY URL"));
        }
        if !url(&error_url) {
            return Err(Rc("IGFS_20011", "INVALID ERROR URL"));
        }
        let shop_id = get("shopID");
        let mut inner = self.lock();
        if inner.payments.iter().any(|p| p.shop_id == shop_id) {
            return Err(Rc("IGFS_20026", "DUPLICATED SHOP ID"));
        }
        inner.next += 1;
        inner.created += 1;
        let payment_id = format!("000{:017}", inner.next);
        let reference: String = (0..32)
            .map(|_| format!("{:X}", rand::rng().random_range(0..16u8)))
            .collect();
        inner.payments.push(IgfsPayment {
            payment_id: payment_id.clone(),
            shop_id,
            tr_type,
            amount_minor: amount,
            currency,
            notify_url,
            error_url,
            add_info: ["addInfo1", "addInfo2", "addInfo3", "addInfo4", "addInfo5"].map(get),
            rc: "IGFS_814".into(),
            tran_id: None,
            captured_minor: 0,
            refunded_minor: 0,
            voided: false,
        });
        Ok(vec![
            ("paymentID", payment_id),
            (
                "redirectURL",
                format!("{PAYMENT_PAGE}?referenceData={reference}"),
            ),
        ])
    }

    fn verify(&self, f: &BTreeMap<String, String>) -> Result<Vec<(&'static str, String)>, Rc> {
        let payment_id = f.get("paymentID").ok_or(MISSING)?;
        let inner = self.lock();
        let p = inner
            .payments
            .iter()
            .find(|p| &p.payment_id == payment_id && Some(&p.shop_id) == f.get("shopID"))
            .ok_or(Rc("IGFS_20023", "INVALID PAYMENT ID FIELD"))?;
        let mut out = vec![("paymentID", p.payment_id.clone()), ("rc", p.rc.clone())];
        if let Some(tran) = &p.tran_id {
            out.extend([
                ("tranID", tran.clone()),
                ("authCode", "559144".into()),
                ("enrStatus", "Y".into()),
                ("authStatus", "Y".into()),
                ("brand", "VISA".into()),
                ("maskedPan", "453997******0006".into()),
            ]);
        }
        for (i, name) in ["addInfo1", "addInfo2", "addInfo3", "addInfo4", "addInfo5"]
            .into_iter()
            .enumerate()
        {
            out.push((name, p.add_info[i].clone()));
        }
        Ok(out)
    }

    fn transaction(
        &self,
        op: &str,
        f: &BTreeMap<String, String>,
    ) -> Result<Vec<(&'static str, String)>, Rc> {
        let amount = minor(f.get("amount").ok_or(MISSING)?)?;
        let ref_tran = f.get("refTranID").ok_or(MISSING)?;
        let mut inner = self.lock();
        inner.next += 1;
        let tran_id = format!("30553080{}", inner.next);
        let p = inner
            .payments
            .iter_mut()
            .find(|p| p.tran_id.as_ref() == Some(ref_tran) && Some(&p.shop_id) == f.get("shopID"))
            .ok_or(Rc("IGFS_033", "ORIGINAL TRANSACTION NOT FOUND"))?;
        let authorised_only = p.tr_type == "AUTH" && p.captured_minor == 0 && !p.voided;
        match op {
            "Confirm" => {
                if !authorised_only {
                    return Err(Rc("IGFS_20007", "INVALID ORDER STATUS"));
                }
                if amount > p.amount_minor {
                    return Err(Rc("IGFS_098", "AMOUNT EXCEEDING THE AMOUNT AUTHORISED"));
                }
                p.captured_minor = amount;
            }
            "VoidAuth" => {
                if !authorised_only {
                    return Err(Rc("IGFS_20007", "INVALID ORDER STATUS"));
                }
                if amount > p.amount_minor {
                    return Err(Rc("IGFS_098", "AMOUNT EXCEEDING THE AMOUNT AUTHORISED"));
                }
                p.voided = true;
            }
            _ => {
                if f.get("currencyCode").is_some_and(|c| c != &p.currency) {
                    return Err(Rc("IGFS_085", "WRONG CURRENCY CODE"));
                }
                if p.captured_minor == 0 {
                    return Err(Rc("IGFS_20007", "INVALID ORDER STATUS"));
                }
                if amount > p.captured_minor - p.refunded_minor {
                    return Err(Rc(
                        "IGFS_00260",
                        "THE AMOUNT OF THE CLAIM EXCEEDS THE AMOUNT OF THE MOVEMENT",
                    ));
                }
                p.refunded_minor += amount;
            }
        }
        Ok(vec![
            ("tranID", tran_id),
            ("date", "2026-05-04T10:00:00+02:00".into()),
        ])
    }

    /// The signed answer: `rc`, `error`, `errorDesc` and the operation's fields.
    fn answer(
        &self,
        op: &str,
        shop_id: &str,
        result: Result<Vec<(&'static str, String)>, Rc>,
    ) -> Response {
        let (tid, ksig) = {
            let inner = self.lock();
            (inner.tid.clone(), inner.ksig.clone())
        };
        let mut fields: BTreeMap<&str, String> = BTreeMap::new();
        fields.insert("tid", tid);
        fields.insert("shopID", shop_id.to_owned());
        match result {
            Ok(out) => {
                fields.insert("rc", "IGFS_000".into());
                fields.insert("errorDesc", "TRANSACTION OK".into());
                fields.extend(out);
            }
            Err(Rc(rc, desc)) => {
                fields.insert("rc", rc.into());
                fields.insert("errorDesc", desc.into());
            }
        }
        // Verify reports the payment's own rc (pending, declined) as its answer's.
        let rc = fields["rc"].clone();
        let desc = match rc.as_str() {
            "IGFS_000" => "TRANSACTION OK",
            "IGFS_814" => "TRANSACTION PENDING",
            "IGFS_008" => "AUTHORIZATION DENIED",
            _ => fields["errorDesc"].as_str(),
        }
        .to_owned();
        fields.insert("errorDesc", desc);
        fields.insert("error", (rc != "IGFS_000").to_string());
        let values: Vec<&str> = answer_fields(op)
            .iter()
            .map(|k| fields.get(k).map(String::as_str).unwrap_or(""))
            .collect();
        let signature = sign(&ksig, &values);
        fields.insert("signature", signature);
        let mut body = String::new();
        for (k, v) in &fields {
            if !v.is_empty() {
                body.push_str(&format!(
                    "<{k}>{}</{k}>",
                    quick_xml::escape::escape(v.as_str())
                ));
            }
        }
        let xml = format!(
            "<soap:Envelope xmlns:soap=\"{SOAP_NS}\"><soap:Body><ns1:{op}Response xmlns:ns1=\"{SERVICE_NS}\">\
             <response>{body}</response></ns1:{op}Response></soap:Body></soap:Envelope>"
        );
        ([(header::CONTENT_TYPE, "text/xml;charset=UTF-8")], xml).into_response()
    }
}

/// Amounts are integers of minor units, above zero.
fn minor(text: &str) -> Result<i64, Rc> {
    match text.parse::<i64>() {
        Ok(n) if n > 0 && text.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(Rc("IGFS_032", "INVALID AMOUNT")),
    }
}

fn fault(message: &str) -> Response {
    let xml = format!(
        "<soap:Envelope xmlns:soap=\"{SOAP_NS}\"><soap:Body><soap:Fault><faultcode>soap:Client</faultcode>\
         <faultstring>{message}</faultstring></soap:Fault></soap:Body></soap:Envelope>"
    );
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, "text/xml;charset=UTF-8")],
        xml,
    )
        .into_response()
}

/// The operation (the body element in the service namespace) and its request's fields; `Err`
/// names what is not a well-formed IGFS envelope.
fn read_envelope(body: &str) -> Result<(String, BTreeMap<String, String>), String> {
    let mut reader = NsReader::from_str(body);
    let mut path: Vec<(String, bool)> = Vec::new();
    let mut op = None;
    let mut fields = BTreeMap::new();
    let mut text = String::new();
    loop {
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|e| format!("not XML: {e}"))?;
        let in_ns = |want: &str| matches!(&ns, ResolveResult::Bound(n) if n.0 == want);
        match event {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_owned();
                let ok = match path.len() {
                    0 => name == "Envelope" && in_ns(SOAP_NS),
                    1 => (name == "Body" || name == "Header") && in_ns(SOAP_NS),
                    2 if path[1].0 == "Body" => {
                        op = Some(name.clone());
                        in_ns(SERVICE_NS)
                    }
                    3 => name == "request" && matches!(ns, ResolveResult::Unbound),
                    _ => true,
                };
                if !ok {
                    return Err(format!("unexpected element {name}"));
                }
                path.push((name, ok));
                text.clear();
            }
            Event::Text(t) => text.push_str(&t),
            Event::CData(c) => text.push_str(&c),
            Event::GeneralRef(r) => match r.resolve_char_ref().ok().flatten() {
                Some(c) => text.push(c),
                None => text.push_str(
                    quick_xml::escape::resolve_predefined_entity(&r).ok_or("bad entity")?,
                ),
            },
            Event::End(_) => {
                let (name, _) = path.pop().ok_or("unbalanced")?;
                if path.len() == 4 {
                    fields.insert(name, text.trim().to_owned());
                }
                text.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !path.is_empty() {
        return Err("truncated envelope".into());
    }
    Ok((op.ok_or("no operation in the body")?, fields))
}

async fn handle(
    State(mock): State<UnicreditMock>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(port) = uri
        .path()
        .strip_prefix(SERVICES)
        .map(|p| p.trim_matches('/').to_owned())
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if port != "PaymentInitGatewayPort" && port != "PaymentTranGatewayPort" {
        return StatusCode::NOT_FOUND.into_response();
    }
    let xml = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("text/xml"));
    if !xml {
        return StatusCode::UNSUPPORTED_MEDIA_TYPE.into_response();
    }
    let Ok(text) = std::str::from_utf8(&body) else {
        return fault("not UTF-8");
    };
    let (op, fields) = match read_envelope(text) {
        Ok(parsed) => parsed,
        Err(why) => return fault(&why),
    };
    if signed_fields(&op).is_none() {
        return fault(&format!("unknown operation {op}"));
    }
    mock.lock().calls.push(op.clone());
    let result = mock.dispatch(&port, &op, &fields);
    let shop_id = fields.get("shopID").cloned().unwrap_or_default();
    // Verify answers with the payment's own rc (pending, declined), not IGFS_000.
    let result = match result {
        Ok(mut out) if op == "Verify" => {
            let rc = out
                .iter()
                .position(|(k, _)| *k == "rc")
                .map(|i| out.remove(i).1);
            match rc.as_deref() {
                Some("IGFS_814") => Err(Rc("IGFS_814", "TRANSACTION PENDING")),
                Some("IGFS_008") => Err(Rc("IGFS_008", "AUTHORIZATION DENIED")),
                _ => Ok(out),
            }
        }
        other => other,
    };
    mock.answer(&op, &shop_id, result)
}
