//! Braintree's classic gateway XML, as its SDKs write and read it: requests are one root
//! element with dasherised names (`<transaction><payment-method-nonce>…`), booleans typed
//! `type="boolean"`; answers are read into a small element tree, names with dashes turned into
//! underscores (as the SDKs' parsers do), then into the few fields the adapter needs.

use quick_xml::events::Event;

/// One element of an answer.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub text: String,
    pub children: Vec<Node>,
}

impl Node {
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The trimmed text of a child; `None` when missing or empty (`nil="true"` is empty).
    pub fn text_of(&self, name: &str) -> Option<String> {
        self.child(name)
            .map(|c| c.text.trim().to_owned())
            .filter(|t| !t.is_empty())
    }
}

/// The root element of a document; `None` when it is not well-formed XML.
pub fn parse(xml: &[u8]) -> Option<Node> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut stack: Vec<Node> = Vec::new();
    let mut buf = Vec::new();
    let element = |name: &str| Node {
        name: name.replace('-', "_"),
        ..Node::default()
    };
    loop {
        let closed = match reader.read_event_into(&mut buf).ok()? {
            Event::Start(e) => {
                stack.push(element(e.name().as_ref()));
                None
            }
            Event::Empty(e) => Some(element(e.name().as_ref())),
            Event::End(_) => Some(stack.pop()?),
            // Entity references come as their own events: a text event holds none.
            // Whitespace around the root element (after the declaration) belongs to nothing.
            Event::Text(t) => {
                if let Some(open) = stack.last_mut() {
                    open.text.push_str(&t.xml10_content());
                }
                None
            }
            Event::CData(t) => {
                stack.last_mut()?.text.push_str(&t.xml10_content());
                None
            }
            Event::GeneralRef(r) => {
                let reference = format!("&{};", r.xml10_content());
                let text = quick_xml::escape::unescape(&reference).ok()?;
                stack.last_mut()?.text.push_str(&text);
                None
            }
            Event::Eof => return None,
            _ => None,
        };
        if let Some(node) = closed {
            match stack.last_mut() {
                Some(parent) => parent.children.push(node),
                None => return Some(node),
            }
        }
        buf.clear();
    }
}

/// A request document, written element by element.
#[derive(Debug, Default)]
pub struct Xml(String);

impl Xml {
    pub fn open(mut self, name: &str) -> Xml {
        self.0.push_str(&format!("<{name}>"));
        self
    }

    pub fn close(mut self, name: &str) -> Xml {
        self.0.push_str(&format!("</{name}>"));
        self
    }

    pub fn text(mut self, name: &str, value: &str) -> Xml {
        let value = quick_xml::escape::escape(value);
        self.0.push_str(&format!("<{name}>{value}</{name}>"));
        self
    }

    pub fn opt(self, name: &str, value: Option<&str>) -> Xml {
        match value {
            Some(v) => self.text(name, v),
            None => self,
        }
    }

    pub fn boolean(mut self, name: &str, value: bool) -> Xml {
        self.0
            .push_str(&format!("<{name} type=\"boolean\">{value}</{name}>"));
        self
    }

    pub fn integer(mut self, name: &str, value: i64) -> Xml {
        self.0
            .push_str(&format!("<{name} type=\"integer\">{value}</{name}>"));
        self
    }

    pub fn finish(self) -> Vec<u8> {
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}", self.0).into_bytes()
    }
}

/// What the adapter reads of a `<transaction>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    pub id: String,
    pub status: String,
    /// `sale` or `credit` (a refund).
    pub kind: Option<String>,
    /// Decimal string in major units, as Braintree writes it.
    pub amount: Option<String>,
    pub currency: Option<String>,
    pub order_id: Option<String>,
    pub refund_ids: Vec<String>,
    pub processor_response_code: Option<String>,
    pub processor_response_text: Option<String>,
}

impl Transaction {
    pub fn from_node(node: &Node) -> Option<Transaction> {
        Some(Transaction {
            id: node.text_of("id")?,
            status: node.text_of("status").unwrap_or_default(),
            kind: node.text_of("type"),
            amount: node.text_of("amount"),
            currency: node.text_of("currency_iso_code"),
            order_id: node.text_of("order_id"),
            refund_ids: node
                .child("refund_ids")
                .map(|r| {
                    r.children
                        .iter()
                        .map(|i| i.text.trim().to_owned())
                        .collect()
                })
                .unwrap_or_default(),
            processor_response_code: node.text_of("processor_response_code"),
            processor_response_text: node.text_of("processor_response_text"),
        })
    }
}

/// One validation error, wherever it is nested (`errors/transaction/errors/error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    pub code: String,
    pub attribute: Option<String>,
    pub message: Option<String>,
}

/// An `<api-error-response>`: validation errors, or a declined transaction.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApiError {
    pub message: Option<String>,
    pub errors: Vec<ValidationError>,
    pub transaction: Option<Transaction>,
}

impl ApiError {
    pub fn from_node(node: &Node) -> Option<ApiError> {
        if node.name != "api_error_response" {
            return None;
        }
        let mut errors = Vec::new();
        if let Some(tree) = node.child("errors") {
            collect_errors(tree, &mut errors);
        }
        Some(ApiError {
            message: node.text_of("message"),
            errors,
            transaction: node.child("transaction").and_then(Transaction::from_node),
        })
    }

    pub fn first_code(&self) -> Option<&str> {
        self.errors.first().map(|e| e.code.as_str())
    }
}

fn collect_errors(node: &Node, into: &mut Vec<ValidationError>) {
    for child in &node.children {
        if child.name == "error" {
            if let Some(code) = child.text_of("code") {
                into.push(ValidationError {
                    code,
                    attribute: child.text_of("attribute"),
                    message: child.text_of("message"),
                });
            }
        } else {
            collect_errors(child, into);
        }
    }
}

/// `<search-results><ids type="array"><item>…` → the ids.
pub fn search_ids(node: &Node) -> Vec<String> {
    node.child("ids")
        .map(|ids| {
            ids.children
                .iter()
                .map(|i| i.text.trim().to_owned())
                .filter(|i| !i.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_escaped_and_typed_as_the_sdks_write_them() {
        let body = Xml::default()
            .open("transaction")
            .text("order-id", "a<b&c")
            .boolean("submit-for-settlement", true)
            .integer("version", 2)
            .opt("customer-id", None)
            .close("transaction")
            .finish();
        let text = String::from_utf8(body).unwrap();
        assert!(text.ends_with(
            "<transaction><order-id>a&lt;b&amp;c</order-id>\
             <submit-for-settlement type=\"boolean\">true</submit-for-settlement>\
             <version type=\"integer\">2</version></transaction>"
        ));
        let back = parse(text.as_bytes()).unwrap();
        assert_eq!(back.text_of("order_id").as_deref(), Some("a<b&c"));
    }

    #[test]
    fn an_error_response_reads_deep_errors_and_a_declined_transaction() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
            <api-error-response>
              <errors><errors type="array"/>
                <transaction><errors type="array">
                  <error><code>91565</code><attribute type="symbol">payment_method_nonce</attribute>
                  <message>Unknown payment_method_nonce.</message></error>
                </errors></transaction>
              </errors>
              <message>Unknown payment_method_nonce.</message>
            </api-error-response>"#;
        let e = ApiError::from_node(&parse(xml).unwrap()).unwrap();
        assert_eq!(e.first_code(), Some("91565"));
        assert_eq!(
            e.errors[0].attribute.as_deref(),
            Some("payment_method_nonce")
        );
        assert!(e.transaction.is_none());

        let declined = br#"<api-error-response><errors><errors type="array"/></errors>
            <message>Do Not Honor</message><transaction><id>t1</id><status>processor_declined</status>
            <refund-ids type="array"/><order-id nil="true"/></transaction></api-error-response>"#;
        let e = ApiError::from_node(&parse(declined).unwrap()).unwrap();
        let t = e.transaction.unwrap();
        assert_eq!(
            (t.id.as_str(), t.status.as_str()),
            ("t1", "processor_declined")
        );
        assert_eq!(t.order_id, None);
        assert!(t.refund_ids.is_empty());
        assert!(parse(b"<a><b></a>").is_none());
        assert!(parse(b"").is_none());
    }
}
