//! IGFS CG's SOAP wire format, as mattiabasone/PagOnline sends and reads it: a SOAP 1.1
//! envelope (`text/xml; charset="utf-8"`) whose body is `<ser:{Op}><request>…</request>`
//! in the service namespace, one element per field in the operation's order, an empty field
//! left out; the answer's `<response>` holds one element per field.

use super::signature::signature;
use quick_xml::escape::{escape, resolve_predefined_entity};
use quick_xml::events::Event;
use quick_xml::Reader;
use std::collections::BTreeMap;

/// The API version the library sends; it is the first signed field.
pub const API_VERSION: &str = "2.4.1.5";
pub const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const SERVICE_NS: &str = "http://services.api.web.cg.igfs.apps.netsw.it/";
pub const CONTENT_TYPE: &str = "text/xml; charset=\"utf-8\"";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Init,
    Verify,
    Confirm,
    VoidAuth,
    Credit,
}

/// Signed fields of every answer of the payment-transaction port (Confirm, VoidAuth, Credit).
const TRAN_ANSWER: &[&str] = &[
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
];

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Init => "Init",
            Op::Verify => "Verify",
            Op::Confirm => "Confirm",
            Op::VoidAuth => "VoidAuth",
            Op::Credit => "Credit",
        }
    }

    /// `Init` and `Verify` live on the init port, the rest on the transaction port.
    pub fn port(self) -> &'static str {
        match self {
            Op::Init | Op::Verify => "/PaymentInitGatewayPort",
            _ => "/PaymentTranGatewayPort",
        }
    }

    /// The operation's own signed fields, in signature order, after apiVersion, tid, merID,
    /// payInstr and shopID.
    pub fn signed(self) -> &'static [&'static str] {
        match self {
            Op::Init => &[
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
            Op::Verify => &["paymentID", "refTranID"],
            Op::Confirm => &[
                "amount",
                "refTranID",
                "addInfo1",
                "addInfo2",
                "addInfo3",
                "addInfo4",
                "addInfo5",
                "topUpID",
            ],
            Op::VoidAuth => &[
                "amount",
                "refTranID",
                "addInfo1",
                "addInfo2",
                "addInfo3",
                "addInfo4",
                "addInfo5",
            ],
            Op::Credit => &[
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
        }
    }

    /// The answer's signed fields, in signature order.
    pub fn answer_signed(self) -> &'static [&'static str] {
        match self {
            Op::Init => &[
                "tid",
                "shopID",
                "rc",
                "errorDesc",
                "paymentID",
                "redirectURL",
            ],
            Op::Verify => &[
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
            Op::Confirm | Op::VoidAuth | Op::Credit => TRAN_ANSWER,
        }
    }
}

/// One request: the operation, our order id (`shopID`) and the operation's fields in the
/// order the envelope lists them.
pub struct Call {
    pub op: Op,
    shop_id: String,
    fields: Vec<(&'static str, String)>,
}

impl Call {
    pub fn new(op: Op, shop_id: &str) -> Call {
        Call {
            op,
            shop_id: shop_id.to_owned(),
            fields: Vec::new(),
        }
    }

    pub fn field(mut self, name: &'static str, value: impl Into<String>) -> Call {
        self.fields.push((name, value.into()));
        self
    }

    fn value(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// The signature over the documented order (no merID or payInstr: we address the
    /// terminal by tid).
    pub fn signature(&self, tid: &str, key: &[u8]) -> String {
        let mut signed = vec![API_VERSION, tid, "", "", self.shop_id.as_str()];
        signed.extend(self.op.signed().iter().map(|name| self.value(name)));
        signature(key, &signed)
    }

    /// The whole SOAP envelope, signed.
    pub fn envelope(&self, tid: &str, key: &[u8]) -> String {
        let signature = self.signature(tid, key);
        let mut xml = format!(
            "<soapenv:Envelope xmlns:soapenv=\"{SOAP_NS}\" xmlns:ser=\"{SERVICE_NS}\">\
             <soapenv:Body><ser:{op}><request>",
            op = self.op.name()
        );
        let common = [
            ("apiVersion", API_VERSION),
            ("tid", tid),
            ("signature", signature.as_str()),
            ("shopID", self.shop_id.as_str()),
        ];
        let fields = self.fields.iter().map(|(n, v)| (*n, v.as_str()));
        for (name, value) in common.into_iter().chain(fields) {
            if !value.is_empty() {
                xml.push_str(&format!("<{name}>{}</{name}>", escape(value)));
            }
        }
        xml.push_str(&format!(
            "</request></ser:{}></soapenv:Body></soapenv:Envelope>",
            self.op.name()
        ));
        xml
    }
}

/// A SOAP answer: the `<response>` fields, or a SOAP fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Response(Fields),
    Fault { code: String, message: String },
}

/// The leaf elements of `<response>`, by name (nested ones, as `payAddData`, are skipped).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields(pub BTreeMap<String, String>);

impl Fields {
    /// The field's text, "" when absent (as the signature recipe treats it).
    pub fn get(&self, name: &str) -> &str {
        self.0.get(name).map(String::as_str).unwrap_or("")
    }

    pub fn present(&self, name: &str) -> Option<&str> {
        Some(self.get(name)).filter(|v| !v.is_empty())
    }
}

/// Reads a SOAP answer; `None` when it is not one.
pub fn parse(body: &[u8]) -> Option<Parsed> {
    let text = std::str::from_utf8(body).ok()?;
    // Not trimmed per event: a value with an entity arrives in pieces (`x `, `&amp;`, ` y`).
    let mut reader = Reader::from_str(text);
    // Element names from the root down to where we are.
    let mut path: Vec<String> = Vec::new();
    let mut fields = BTreeMap::new();
    let mut fault = BTreeMap::new();
    let mut text = String::new();
    let mut saw_envelope = false;
    let mut saw_response = false;
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_owned();
                saw_envelope |= path.is_empty() && name == "Envelope";
                saw_response |= name == "response";
                path.push(name);
                text.clear();
            }
            Event::Text(t) => text.push_str(&t),
            Event::CData(c) => text.push_str(&c),
            Event::GeneralRef(r) => {
                if let Some(c) = r.resolve_char_ref().ok()? {
                    text.push(c);
                } else {
                    text.push_str(resolve_predefined_entity(&r)?);
                }
            }
            Event::End(_) => {
                let name = path.pop()?;
                let parent = path.last().map(String::as_str);
                // Only the response's own children: a nested element's parent is not it.
                if parent == Some("response") {
                    fields.insert(name, text.trim().to_owned());
                } else if parent == Some("Fault") {
                    fault.insert(name, text.trim().to_owned());
                }
                text.clear();
            }
            Event::Empty(e) if path.last().is_some_and(|p| p == "response") => {
                fields.insert(e.local_name().as_ref().to_owned(), String::new());
            }
            Event::Eof => break,
            _ => {}
        }
    }
    // An answer cut off mid-way is no answer.
    if !saw_envelope || !path.is_empty() {
        return None;
    }
    if !fault.is_empty() {
        let get = |k: &str| fault.get(k).cloned().unwrap_or_default();
        return Some(Parsed::Fault {
            code: get("faultcode"),
            message: get("faultstring"),
        });
    }
    saw_response.then_some(Parsed::Response(Fields(fields)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_lists_the_fields_in_order_and_leaves_empty_ones_out() {
        let call = Call::new(Op::Confirm, "order-1")
            .field("amount", "500")
            .field("refTranID", "3055308080726666")
            .field("addInfo1", "");
        let xml = call.envelope("UNI_ECOM", b"UNI_TESTKEY");
        assert_eq!(
            xml,
            "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" \
             xmlns:ser=\"http://services.api.web.cg.igfs.apps.netsw.it/\"><soapenv:Body>\
             <ser:Confirm><request><apiVersion>2.4.1.5</apiVersion><tid>UNI_ECOM</tid>\
             <signature>2xEUEBf87fTkleV28K8+gvPsdQyV6NYeJtNLLWu+8lc=</signature>\
             <shopID>order-1</shopID><amount>500</amount><refTranID>3055308080726666</refTranID>\
             </request></ser:Confirm></soapenv:Body></soapenv:Envelope>"
        );
        let tricky = Call::new(Op::Verify, "a&b<c>").envelope("T", b"k");
        assert!(
            tricky.contains("<shopID>a&amp;b&lt;c&gt;</shopID>"),
            "{tricky}"
        );
    }

    #[test]
    fn reads_the_librarys_verify_answer_and_faults() {
        let verify = r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
            <soap:Body><ns1:VerifyResponse xmlns:ns1="http://services.api.web.cg.igfs.apps.netsw.it/">
            <response><tid>UNI_MYBK</tid><rc>IGFS_000</rc><error>false</error><errorDesc></errorDesc>
            <shopID><![CDATA[a&b]]></shopID><paymentID>0005</paymentID><addInfo1>x &amp; y</addInfo1>
            <payAddData><key>k</key><value>v</value></payAddData><status>C</status>
            </response></ns1:VerifyResponse></soap:Body></soap:Envelope>"#;
        let Some(Parsed::Response(fields)) = parse(verify.as_bytes()) else {
            panic!("a response")
        };
        assert_eq!(fields.get("rc"), "IGFS_000");
        assert_eq!(fields.get("shopID"), "a&b");
        assert_eq!(fields.get("addInfo1"), "x & y");
        assert_eq!(fields.get("errorDesc"), "");
        assert_eq!(fields.get("status"), "C");
        assert_eq!(
            fields.get("key"),
            "",
            "nested fields are not the response's"
        );
        let fault = r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>
            <soap:Fault><faultcode>soap:Client</faultcode><faultstring>Unmarshalling Error</faultstring></soap:Fault>
            </soap:Body></soap:Envelope>"#;
        assert_eq!(
            parse(fault.as_bytes()),
            Some(Parsed::Fault {
                code: "soap:Client".into(),
                message: "Unmarshalling Error".into()
            })
        );
        assert_eq!(parse(b"<html><body>busy</body></html>"), None);
        assert_eq!(parse(b"<soap:Envelope xmlns:soap=\"x\"><soap:Body>"), None);
        assert_eq!(parse(b""), None);
    }
}
