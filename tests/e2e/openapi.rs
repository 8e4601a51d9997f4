//! The OpenAPI document (generated from the code: pgm-api's route table, the handlers'
//! `#[utoipa::path]` and the wire types' schemas) against the running server: every documented
//! operation is exercised over HTTP, and every real answer (status, content type, headers,
//! body) is checked against the document served at `/documentation/openapi.json`. The
//! notifications the merchant receives are checked against the document's webhook.

use jsonschema::{Draft, Registry, Validator};
use pgm_core::signing::{sign_timestamped, verify_timestamped};
use pgm_e2e::{eventually, Answer, Receiver, TestServer, SANDBOX_SECRET};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

/// Where the document is registered for `$ref` resolution (never fetched).
const BASE: &str = "https://pgm.invalid/openapi.json";
const API_KEY: &str = "test-api-key-0123";
const CALLBACK_SECRET: &str = "whsec_merchant_test";

const HTTP_METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// `/{provider}/x/{method}` → `/{}/x/{}`: parameter names do not matter on the wire.
fn shape(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            _ if in_param => {}
            _ => out.push(c),
        }
    }
    out
}

/// Does a concrete path (query excluded) fit a path template?
fn fits(template: &str, path: &str) -> bool {
    let path = path.split('?').next().unwrap_or_default();
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| (t.starts_with('{') && t.ends_with('}') && !p.is_empty()) || t == p)
}

/// Makes every local `$ref` of a schema taken out of the document point into the registered
/// document, so it resolves exactly as it would in place.
fn anchor_refs(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match v {
                    Value::String(s) if key == "$ref" && s.starts_with('#') => {
                        *s = format!("{BASE}{s}")
                    }
                    _ => anchor_refs(v),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(anchor_refs),
        _ => {}
    }
}

/// The document, ready to validate against, and which operations the test has exercised.
struct Contract {
    doc: Value,
    registry: Registry<'static>,
    exercised: Mutex<BTreeSet<(String, String)>>,
}

impl Contract {
    fn new(doc: Value) -> Contract {
        assert!(
            doc["openapi"]
                .as_str()
                .is_some_and(|v| v.starts_with("3.1.")),
            "not OpenAPI 3.1"
        );
        assert_eq!(
            doc["jsonSchemaDialect"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        let registry = Registry::new()
            .add(BASE, Draft::Draft202012.create_resource(doc.clone()))
            .expect("document registers")
            .prepare()
            .expect("document's references resolve");
        Contract {
            doc,
            registry,
            exercised: Mutex::new(BTreeSet::new()),
        }
    }

    fn validator(&self, schema: &Value) -> Validator {
        let mut schema = schema.clone();
        anchor_refs(&mut schema);
        jsonschema::options()
            .with_draft(Draft::Draft202012)
            .with_registry(&self.registry)
            .should_validate_formats(true)
            .build(&schema)
            .unwrap_or_else(|e| panic!("schema does not compile ({e}): {schema}"))
    }

    fn errors(&self, schema: &Value, instance: &Value) -> Vec<String> {
        self.validator(schema)
            .iter_errors(instance)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect()
    }

    /// Follows a `$ref` to a component (responses, parameters) within the document.
    fn resolve<'a>(&'a self, value: &'a Value) -> &'a Value {
        match value.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let pointer = r.strip_prefix('#').expect("local reference");
                self.doc
                    .pointer(pointer)
                    .unwrap_or_else(|| panic!("dangling {r}"))
            }
            None => value,
        }
    }

    /// Every (METHOD, path shape) the document describes.
    fn documented(&self) -> BTreeSet<(String, String)> {
        let mut ops = BTreeSet::new();
        for (path, item) in self.doc["paths"].as_object().expect("paths") {
            for method in HTTP_METHODS {
                if item.get(*method).is_some() {
                    ops.insert((method.to_uppercase(), shape(path)));
                }
            }
        }
        ops
    }

    fn operation(&self, method: &str, template: &str) -> &Value {
        self.doc["paths"]
            .get(template)
            .and_then(|item| item.get(method.to_lowercase()))
            .unwrap_or_else(|| panic!("{method} {template} is not documented"))
    }

    /// Checks a real answer to `method path` against the operation `method template`: the
    /// status is one the operation lists, and the content type, body and headers are as
    /// documented for that status.
    fn check(&self, method: &str, template: &str, path: &str, answer: &Answer) {
        assert!(fits(template, path), "{path} does not fit {template}");
        let operation = self.operation(method, template);
        self.exercised
            .lock()
            .unwrap()
            .insert((method.to_owned(), shape(template)));
        let status = answer.status.to_string();
        let response = operation["responses"]
            .get(&status)
            .map(|r| self.resolve(r))
            .unwrap_or_else(|| {
                panic!("{method} {path} answered {status}, which {method} {template} does not document: {}", answer.text)
            });
        self.check_response(&format!("{method} {path} → {status}"), response, answer);
    }

    /// Checks an answer against a documented response object.
    fn check_response(&self, what: &str, response: &Value, answer: &Answer) {
        match response.get("content").and_then(Value::as_object) {
            Some(content) => {
                let content_type = answer.header("content-type").unwrap_or_default();
                let essence = content_type.split(';').next().unwrap_or_default().trim();
                let media = content
                    .get(essence)
                    .or_else(|| content.get("*/*"))
                    .unwrap_or_else(|| {
                        panic!(
                            "{what}: content type `{content_type}` is not documented ({:?})",
                            content.keys()
                        )
                    });
                if let Some(schema) = media.get("schema") {
                    let instance = if essence == "application/json" || essence.ends_with("+json") {
                        serde_json::from_str(&answer.text).unwrap_or_else(|e| {
                            panic!("{what}: body is not JSON ({e}): {}", answer.text)
                        })
                    } else {
                        Value::String(answer.text.clone())
                    };
                    let errors = self.errors(schema, &instance);
                    assert!(
                        errors.is_empty(),
                        "{what}: body does not match the schema: {errors:#?}\n{}",
                        answer.text
                    );
                }
            }
            None => assert!(
                answer.text.is_empty(),
                "{what}: a body where none is documented: {}",
                answer.text
            ),
        }
        for (name, header) in response
            .get("headers")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let header = self.resolve(header);
            match answer.header(name) {
                None => assert!(
                    header["required"] != true,
                    "{what}: required header {name} missing"
                ),
                Some(value) => {
                    let Some(schema) = header.get("schema") else {
                        continue;
                    };
                    let as_string = Value::String(value.to_owned());
                    let as_json: Value = serde_json::from_str(value).unwrap_or(as_string.clone());
                    assert!(
                        self.errors(schema, &as_string).is_empty()
                            || self.errors(schema, &as_json).is_empty(),
                        "{what}: header {name}: {value} does not match {schema}"
                    );
                }
            }
        }
    }

    /// The JSON request body schema of an operation.
    fn request_schema(&self, method: &str, template: &str) -> &Value {
        &self.operation(method, template)["requestBody"]["content"]["application/json"]["schema"]
    }

    /// Whether the document's request schema accepts `body` as the server does (checked both
    /// ways: bodies the server took must pass, bodies it refused as invalid must not).
    fn assert_request(&self, method: &str, template: &str, body: &Value, valid: bool) {
        let errors = self.errors(self.request_schema(method, template), body);
        assert_eq!(
            errors.is_empty(),
            valid,
            "{method} {template}: schema verdict on {body}: {errors:#?}"
        );
    }

    fn assert_all_exercised(&self) {
        let exercised = self.exercised.lock().unwrap().clone();
        let missed: Vec<_> = self.documented().difference(&exercised).cloned().collect();
        assert!(
            missed.is_empty(),
            "documented operations the test never called: {missed:?}"
        );
    }
}

/// The server, a contract and a few ways to call it; every answer is checked.
struct Api {
    pgm: TestServer,
    contract: Contract,
    /// Does not follow redirects, so a 303 is seen as served.
    http: reqwest::Client,
}

impl Api {
    async fn start(extra: &[(&str, &str)]) -> Api {
        let pgm = TestServer::start(extra).await;
        let served = pgm.get("/documentation/openapi.json").await;
        let doc = served.json();
        let contract = Contract::new(doc.clone());
        contract.check(
            "GET",
            "/documentation/openapi.json",
            "/documentation/openapi.json",
            &served,
        );
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Api {
            pgm,
            contract,
            http,
        }
    }

    /// Sends `build(request)`, with the API key where the operation declares bearerAuth, and
    /// checks the answer against `method template`.
    async fn call(
        &self,
        method: &str,
        template: &str,
        path: &str,
        build: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Answer {
        let mut request = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.pgm.url));
        if needs_key(self.contract.operation(method, template)) {
            request = request.bearer_auth(API_KEY);
        }
        let answer = self.pgm.send(build(request)).await;
        self.contract.check(method, template, path, &answer);
        answer
    }

    async fn post(&self, template: &str, path: &str, body: &Value) -> Answer {
        self.call("POST", template, path, |r| r.json(body)).await
    }

    async fn post_keyed(&self, template: &str, path: &str, key: &str, body: &Value) -> Answer {
        self.call("POST", template, path, |r| {
            r.header("idempotency-key", key).json(body)
        })
        .await
    }

    async fn get(&self, template: &str, path: &str) -> Answer {
        self.call("GET", template, path, |r| r).await
    }

    async fn status_of(&self, shop_transaction_id: &str) -> Value {
        let answer = self
            .get(
                STATUS,
                &format!("/sandbox/status?shopTransactionId={shop_transaction_id}"),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.json()
    }
}

/// Does the operation declare the merchant's bearer key?
fn needs_key(operation: &Value) -> bool {
    operation["security"]
        .as_array()
        .expect("every operation states its security")
        .iter()
        .any(|s| s.get("bearerAuth").is_some())
}

const PAY: &str = "/{provider}/{method}/pay";
const RECURRENT: &str = "/{provider}/{method}/pay/recurrent";
const CONFIRM: &str = "/{provider}/{method}/confirm";
const REFUND: &str = "/{provider}/{method}/refund";
const CHECK: &str = "/{provider}/check";
const STATUS: &str = "/{provider}/status";
const SESSION_OPEN: &str = "/{provider}/session/open";
const SESSION_CONFIRM: &str = "/{provider}/session/confirm";
const SESSION_VOID: &str = "/{provider}/session/void";
const SESSION_REFUND: &str = "/{provider}/session/refund";
const SESSION_CHECK: &str = "/{provider}/session/check";
const CALLBACK: &str = "/{provider}/callback";
const THREE_DS: &str = "/sandbox/3ds/{chargeId}";
const CHARGES: &str = "/sandbox/charges";

fn pay_body(id: &str, amount: &str, token: &str) -> Value {
    json!({"amount": amount, "shopTransactionID": id, "creditCardToken": token})
}

/// The document lists the routes the server serves, including the sandbox's hosted pages:
/// each documented path answers (neither 404 ROUTE_NOT_FOUND nor 405), and security is as
/// documented.
#[tokio::test]
async fn documented_routes_are_served_and_guarded_as_documented() {
    let api = Api::start(&[("PGM_API_KEY", API_KEY)]).await;
    for (path, item) in api.contract.doc["paths"].as_object().unwrap() {
        for method in HTTP_METHODS.iter().filter(|m| item.get(**m).is_some()) {
            let concrete = path
                .replace("{provider}", "sandbox")
                .replace("{method}", "credit-cards")
                .replace("{chargeId}", "sbx_nothing");
            let method = method.to_uppercase();
            let answer = api
                .pgm
                .send(
                    api.http
                        .request(
                            method.parse().unwrap(),
                            format!("{}{concrete}", api.pgm.url),
                        )
                        .bearer_auth(API_KEY),
                )
                .await;
            assert_ne!(answer.status, 405, "{method} {path}");
            let problem = serde_json::from_str::<Value>(&answer.text).unwrap_or_default();
            assert_ne!(problem["code"], "ROUTE_NOT_FOUND", "{method} {path}");
        }
    }
    // Generated from doc comments: a comment utoipa could not read leaves a hole.
    for (path, item) in api.contract.doc["paths"].as_object().unwrap() {
        for method in HTTP_METHODS.iter().filter(|m| item.get(**m).is_some()) {
            let operation = &item[*method];
            assert!(
                operation["summary"].is_string(),
                "{method} {path}: no summary"
            );
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                assert!(
                    parameter["description"].is_string(),
                    "{method} {path}: parameter {} has no description",
                    parameter["name"]
                );
            }
        }
    }
    for page in [
        "/sandbox/3ds/{chargeId}",
        "/sandbox/charges",
        "/documentation/openapi.json",
    ] {
        assert!(
            api.contract.doc["paths"].get(page).is_some(),
            "{page} is documented"
        );
    }

    // Security as documented: without the key, exactly the operations that declare bearerAuth
    // answer 401 UNAUTHORIZED.
    for (path, item) in api.contract.doc["paths"].as_object().unwrap() {
        for method in HTTP_METHODS {
            let Some(operation) = item.get(*method) else {
                continue;
            };
            let method = method.to_uppercase();
            let needs_key = needs_key(operation);
            let concrete = path
                .replace("{provider}", "sandbox")
                .replace("{method}", "credit-cards")
                .replace("{chargeId}", "sbx_nothing");
            let request = api.http.request(
                method.parse().unwrap(),
                format!("{}{concrete}", api.pgm.url),
            );
            let request = if method == "POST" {
                request.json(&json!({}))
            } else {
                request
            };
            let answer = api.pgm.send(request).await;
            api.contract.check(&method, path, &concrete, &answer);
            let refused = answer.status == 401 && answer.json()["code"] == "UNAUTHORIZED";
            assert_eq!(
                refused, needs_key,
                "{method} {path} without a key: {} {}",
                answer.status, answer.text
            );
            if needs_key {
                assert_eq!(answer.header("www-authenticate"), Some("Bearer"));
                let wrong = api
                    .pgm
                    .send(
                        api.http
                            .request(
                                method.parse().unwrap(),
                                format!("{}{concrete}", api.pgm.url),
                            )
                            .bearer_auth("not-the-key")
                            .json(&json!({})),
                    )
                    .await;
                api.contract.check(&method, path, &concrete, &wrong);
                assert_eq!(wrong.status, 401, "{method} {path} with a wrong key");
            }
        }
    }

    // What no operation covers: unknown paths and methods.
    let responses = &api.contract.doc["components"]["responses"];
    let nowhere = api.pgm.get("/nothing/here/at/all").await;
    nowhere.problem(404, "ROUTE_NOT_FOUND");
    api.contract.check_response(
        "GET /nothing/here/at/all",
        &responses["RouteNotFound"],
        &nowhere,
    );
    let wrong_method = api.pgm.get("/sandbox/credit-cards/pay").await;
    wrong_method.problem(405, "METHOD_NOT_ALLOWED");
    api.contract
        .check_response("GET on pay", &responses["MethodNotAllowed"], &wrong_method);
    let wrong_method = api
        .pgm
        .send(
            api.http
                .delete(format!("{}/sandbox/3ds/sbx_x", api.pgm.url)),
        )
        .await;
    wrong_method.problem(405, "METHOD_NOT_ALLOWED");
    api.contract.check_response(
        "DELETE on the 3DS page",
        &responses["MethodNotAllowed"],
        &wrong_method,
    );
}

#[tokio::test]
async fn every_operation_answers_as_documented() {
    let receiver = Receiver::start().await;
    let api = Api::start(&[
        ("PGM_API_KEY", API_KEY),
        ("PAYMENT_CALLBACK_URL", &receiver.url),
        ("PAYMENT_CALLBACK_SECRET", CALLBACK_SECRET),
    ])
    .await;
    let c = &api.contract;
    let pay = "/sandbox/credit-cards/pay";

    // ---- pay
    let full = json!({
        "amount": "10.00", "shopTransactionID": "o-full", "currency": "EUR", "creditCardToken": "tok_ok",
        "buyerName": "Ada Lovelace", "buyerEmail": "ada@example.com",
        "successRedirect": "https://shop.example/ok", "failureRedirect": "https://shop.example/ko",
        "serverRedirect": "https://shop.example/server", "brainTreeDataRequest": {"nonce": "n"},
        "products": [{"sku": "a", "qty": 1}], "payPalDescription": "order 42",
        "recurrenceDetails": null, "providerData": {"note": "x"}, "metadata": {"order": "42"}
    });
    c.assert_request("POST", PAY, &full, true);
    let ok = api.post(PAY, pay, &full).await;
    assert_eq!(ok.json()["result"], "OK", "{}", ok.text);
    let replay = api.post(PAY, pay, &full).await;
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.text, ok.text);
    api.post(
        PAY,
        pay,
        &json!({"amount": "11.00", "shopTransactionID": "o-full", "creditCardToken": "tok_ok"}),
    )
    .await
    .problem(409, "IDEMPOTENCY_CONFLICT");
    for (id, token, result) in [
        ("o-ko", "tok_ko", "KO"),
        ("o-3ds", "tok_3ds", "REDIRECT_TO_URL"),
        ("o-pending", "tok_pending", "PENDING"),
        ("o-down", "tok_unavailable", "PENDING"),
    ] {
        let body = pay_body(id, "5.00", token);
        c.assert_request("POST", PAY, &body, true);
        assert_eq!(
            api.post(PAY, pay, &body).await.json()["result"],
            result,
            "{token}"
        );
    }
    let jpy = json!({"amount": "500", "shopTransactionID": "o-jpy", "currency": "JPY", "creditCardToken": "tok_ok"});
    c.assert_request("POST", PAY, &jpy, true);
    assert_eq!(api.post(PAY, pay, &jpy).await.json()["result"], "OK");
    for id in ["o-auth", "o-auth2"] {
        let body = json!({"amount": "10.00", "shopTransactionID": id, "creditCardToken": "tok_ok", "providerData": {"captureMethod": "manual"}});
        assert_eq!(api.post(PAY, pay, &body).await.json()["result"], "OK");
    }
    for bad in [
        json!({"amount": "0", "shopTransactionID": "o-bad", "creditCardToken": "tok_ok"}),
        json!({"amount": "0.00", "shopTransactionID": "o-bad"}),
        json!({"amount": 5.5, "shopTransactionID": "o-bad"}),
        json!({"amount": "5,00", "shopTransactionID": "o-bad"}),
        json!({"amount": "-1", "shopTransactionID": "o-bad"}),
        json!({"amount": "5.00"}),
        json!({"amount": "5.00", "shopTransactionID": "o bad"}),
        json!({"amount": "5.00", "shopTransactionID": "o-bad", "currency": "eur"}),
        json!({"amount": "5.00", "shopTransactionID": "o-bad", "successRedirect": "javascript:alert(1)"}),
        json!({"amount": "5.00", "shopTransactionID": "o-bad", "buyerEmail": "nobody"}),
        json!({"amount": "5.00", "shopTransactionID": "o-bad", "metadata": {"k": 1}}),
    ] {
        c.assert_request("POST", PAY, &bad, false);
        api.post(PAY, pay, &bad)
            .await
            .problem(400, "VALIDATION_FAILED");
    }
    api.call("POST", PAY, pay, |r| {
        r.header("content-type", "application/json")
            .body("{\"amount\":")
    })
    .await
    .problem(400, "MALFORMED_JSON");
    api.call("POST", PAY, pay, |r| {
        r.header("content-type", "text/plain").body("{}")
    })
    .await
    .problem(415, "UNSUPPORTED_MEDIA_TYPE");
    let huge = json!({"amount": "5.00", "shopTransactionID": "o-huge", "payPalDescription": "x".repeat(70_000)});
    api.post(PAY, pay, &huge)
        .await
        .problem(413, "PAYLOAD_TOO_LARGE");
    api.post(
        PAY,
        "/nope/credit-cards/pay",
        &pay_body("o-x", "5.00", "tok_ok"),
    )
    .await
    .problem(404, "PROVIDER_NOT_FOUND");
    api.post(
        PAY,
        "/sandbox/bitcoin/pay",
        &pay_body("o-x", "5.00", "tok_ok"),
    )
    .await
    .problem(404, "METHOD_NOT_FOUND");
    api.post(PAY, "/sandbox/%FF/pay", &pay_body("o-x", "5.00", "tok_ok"))
        .await
        .problem(400, "INVALID_PATH");

    // ---- pay/recurrent
    let recurrent = "/sandbox/credit-cards/pay/recurrent";
    let first = json!({"amount": "9.99", "shopTransactionID": "o-rec-1", "creditCardToken": "tok_ok",
        "recurrenceDetails": {"isFirstInstallment": true, "installmentFrequencyInDays": 30, "expiresOn": "2030-01-01"}});
    c.assert_request("POST", RECURRENT, &first, true);
    let first = api.post(RECURRENT, recurrent, &first).await.json();
    let token = first["recurrenceToken"]
        .as_str()
        .expect("a recurrence token")
        .to_owned();
    let later = json!({"amount": "9.99", "shopTransactionID": "o-rec-2",
        "recurrenceDetails": {"isFirstInstallment": false, "recurrenceToken": token}});
    c.assert_request("POST", RECURRENT, &later, true);
    assert_eq!(
        api.post(RECURRENT, recurrent, &later).await.json()["result"],
        "OK"
    );
    let no_details =
        json!({"amount": "9.99", "shopTransactionID": "o-rec-3", "creditCardToken": "tok_ok"});
    c.assert_request("POST", RECURRENT, &no_details, false);
    api.post(RECURRENT, recurrent, &no_details)
        .await
        .problem(400, "VALIDATION_FAILED");
    // Both spellings of previousPaymentID: the server refuses it, so the document must too
    // (found by scripts/fuzz-api: the document allowed it).
    let both_spellings = json!({"amount": "9.99", "shopTransactionID": "o-rec-5",
        "recurrenceDetails": {"previousPaymentID": "sbx_a", "previousPaymentId": "sbx_a"}});
    c.assert_request("POST", RECURRENT, &both_spellings, false);
    c.assert_request("POST", PAY, &both_spellings, false);
    api.post(RECURRENT, recurrent, &both_spellings)
        .await
        .problem(400, "VALIDATION_FAILED");
    // The provider needs a token for a later instalment: a final 400, replayed to duplicates.
    let tokenless = json!({"amount": "9.99", "shopTransactionID": "o-rec-4", "recurrenceDetails": {"isFirstInstallment": false}});
    let refused = api.post(RECURRENT, recurrent, &tokenless).await;
    assert_eq!(
        refused.problem(400, "VALIDATION_FAILED")["field"],
        "recurrenceDetails.recurrenceToken"
    );
    let replayed = api.post(RECURRENT, recurrent, &tokenless).await;
    replayed.problem(400, "VALIDATION_FAILED");
    assert_eq!(replayed.header("idempotent-replayed"), Some("true"));

    // ---- confirm
    let confirm = "/sandbox/credit-cards/confirm";
    let body = json!({"shopTransactionID": "o-auth", "amount": "3.00"});
    c.assert_request("POST", CONFIRM, &body, true);
    let captured = api.post_keyed(CONFIRM, confirm, "k-confirm-1", &body).await;
    assert_eq!(
        captured.json()["capturedAmount"],
        "3.00",
        "{}",
        captured.text
    );
    let again = api.post_keyed(CONFIRM, confirm, "k-confirm-1", &body).await;
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    api.post_keyed(
        CONFIRM,
        confirm,
        "k-confirm-1",
        &json!({"shopTransactionID": "o-auth"}),
    )
    .await
    .problem(409, "IDEMPOTENCY_CONFLICT");
    api.post_keyed(CONFIRM, confirm, "k-confirm-2", &body)
        .await
        .problem(409, "INVALID_PAYMENT_STATE");
    api.post(
        CONFIRM,
        confirm,
        &json!({"shopTransactionID": "o-auth2", "amount": "10.01"}),
    )
    .await
    .problem(422, "AMOUNT_EXCEEDS_REMAINING");
    api.post(CONFIRM, confirm, &json!({"paymentID": "sbx_nothing"}))
        .await
        .problem(404, "PAYMENT_NOT_FOUND");
    api.post_keyed(CONFIRM, confirm, "has space", &body)
        .await
        .problem(400, "VALIDATION_FAILED");
    for bad in [
        json!({}),
        json!({"shopTransactionID": null}),
        json!({"shopTransactionID": "o-auth2", "amount": "0"}),
    ] {
        c.assert_request("POST", CONFIRM, &bad, false);
        api.post(CONFIRM, confirm, &bad)
            .await
            .problem(400, "VALIDATION_FAILED");
    }
    api.post(CONFIRM, "/sandbox/bitcoin/confirm", &body)
        .await
        .problem(404, "METHOD_NOT_FOUND");

    // ---- refund
    let refund = "/sandbox/credit-cards/refund";
    let body = json!({"shopTransactionID": "o-full", "amount": "4.00"});
    c.assert_request("POST", REFUND, &body, true);
    let refunded = api
        .post_keyed(REFUND, refund, "k-refund-1", &body)
        .await
        .json();
    assert_eq!(
        (
            refunded["result"].as_str(),
            refunded["remainingAmount"].as_str()
        ),
        (Some("OK"), Some("6.00"))
    );
    let again = api.post_keyed(REFUND, refund, "k-refund-1", &body).await;
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    api.post(
        REFUND,
        refund,
        &json!({"shopTransactionID": "o-full", "amount": "100.00"}),
    )
    .await
    .problem(422, "AMOUNT_EXCEEDS_REMAINING");
    api.post(REFUND, refund, &json!({"shopTransactionID": "o-ko"}))
        .await
        .problem(409, "INVALID_PAYMENT_STATE");
    api.post(REFUND, refund, &json!({"shopTransactionID": "o-nothing"}))
        .await
        .problem(404, "PAYMENT_NOT_FOUND");
    let by_payment_id = json!({"paymentID": ok.json()["paymentID"]});
    c.assert_request("POST", REFUND, &by_payment_id, true);
    let rest = api.post(REFUND, refund, &by_payment_id).await.json();
    assert_eq!(
        (
            rest["refundedAmount"].as_str(),
            rest["remainingAmount"].as_str()
        ),
        (Some("6.00"), Some("0.00"))
    );

    // ---- check and status
    let pending_id = api.status_of("o-pending").await["paymentID"]
        .as_str()
        .unwrap()
        .to_owned();
    let checked = api
        .get(CHECK, &format!("/sandbox/check?paymentId={pending_id}"))
        .await;
    assert_eq!(checked.json()["status"], "ACCEPTED");
    api.get(CHECK, "/sandbox/check")
        .await
        .problem(400, "VALIDATION_FAILED");
    api.get(CHECK, "/sandbox/check?shopTransactionId=o-nothing")
        .await
        .problem(404, "PAYMENT_NOT_FOUND");
    api.get(CHECK, "/nope/check?shopTransactionId=o-full")
        .await
        .problem(404, "PROVIDER_NOT_FOUND");
    for (query, state) in [
        ("shopTransactionId=o-full", "CAPTURED"),
        ("shopTransactionID=o-ko", "FAILED"),
        ("shopTransactionId=o-jpy", "CAPTURED"),
        ("shopTransactionId=o-3ds", "PENDING"),
        ("shopTransactionId=o-auth2", "AUTHORIZED"),
        ("shopTransactionId=o-down", "FAILED"),
    ] {
        assert_eq!(
            api.get(STATUS, &format!("/sandbox/status?{query}"))
                .await
                .json()["state"],
            state,
            "{query}"
        );
    }
    api.get(STATUS, "/sandbox/status?shopTransactionId=")
        .await
        .problem(400, "VALIDATION_FAILED");
    api.get(STATUS, "/sandbox/status?paymentId=sbx_nothing")
        .await
        .problem(404, "PAYMENT_NOT_FOUND");

    // ---- sessions
    let open = |id: &str, amount: &str| json!({"shopTransactionID": id, "amount": amount, "currency": "EUR"});
    let mut tokens = Vec::new();
    for id in ["s-1", "s-2", "s-3"] {
        c.assert_request("POST", SESSION_OPEN, &open(id, "10.00"), true);
        let opened = api
            .post(SESSION_OPEN, "/sandbox/session/open", &open(id, "10.00"))
            .await
            .json();
        tokens.push(opened["sessionToken"].as_str().unwrap().to_owned());
    }
    let again = api
        .post(SESSION_OPEN, "/sandbox/session/open", &open("s-1", "10.00"))
        .await;
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    api.post(SESSION_OPEN, "/sandbox/session/open", &open("s-1", "11.00"))
        .await
        .problem(409, "IDEMPOTENCY_CONFLICT");
    c.assert_request("POST", SESSION_OPEN, &open("s-4", "abc"), false);
    api.post(SESSION_OPEN, "/sandbox/session/open", &open("s-4", "abc"))
        .await
        .problem(400, "VALIDATION_FAILED");
    api.post(SESSION_OPEN, "/nope/session/open", &open("s-4", "1.00"))
        .await
        .problem(404, "PROVIDER_NOT_FOUND");

    let session = |i: usize, amount: Option<&str>| match amount {
        Some(a) => json!({"sessionToken": tokens[i], "amount": a}),
        None => json!({"sessionToken": tokens[i]}),
    };
    c.assert_request("POST", SESSION_CONFIRM, &session(0, Some("2.00")), true);
    let confirmed = api
        .post_keyed(
            SESSION_CONFIRM,
            "/sandbox/session/confirm",
            "k-s-1",
            &session(0, Some("2.00")),
        )
        .await;
    assert_eq!(confirmed.json()["status"], "ACCEPTED");
    let again = api
        .post_keyed(
            SESSION_CONFIRM,
            "/sandbox/session/confirm",
            "k-s-1",
            &session(0, Some("2.00")),
        )
        .await;
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    api.post(
        SESSION_CONFIRM,
        "/sandbox/session/confirm",
        &session(0, None),
    )
    .await
    .problem(409, "INVALID_PAYMENT_STATE");
    api.post(
        SESSION_CONFIRM,
        "/sandbox/session/confirm",
        &session(2, Some("999.00")),
    )
    .await
    .problem(422, "AMOUNT_EXCEEDS_REMAINING");
    c.assert_request("POST", SESSION_CONFIRM, &json!({}), false);
    api.post(SESSION_CONFIRM, "/sandbox/session/confirm", &json!({}))
        .await
        .problem(400, "VALIDATION_FAILED");
    api.post(
        SESSION_REFUND,
        "/sandbox/session/refund",
        &session(0, Some("1.00")),
    )
    .await;
    api.post(
        SESSION_REFUND,
        "/sandbox/session/refund",
        &session(0, Some("99.00")),
    )
    .await
    .problem(422, "AMOUNT_EXCEEDS_REMAINING");
    let voided = api
        .post_keyed(
            SESSION_VOID,
            "/sandbox/session/void",
            "k-void",
            &session(1, None),
        )
        .await;
    assert_eq!(voided.json()["status"], "FAILED");
    api.post(SESSION_VOID, "/sandbox/session/void", &session(1, None))
        .await
        .problem(409, "INVALID_PAYMENT_STATE");
    api.post(
        SESSION_VOID,
        "/sandbox/session/void",
        &json!({"sessionToken": "sbx_nothing"}),
    )
    .await
    .problem(404, "PAYMENT_NOT_FOUND");
    assert_eq!(
        api.post(SESSION_CHECK, "/sandbox/session/check", &session(0, None))
            .await
            .json()["result"],
        "OK"
    );
    api.post(
        SESSION_CHECK,
        "/sandbox/session/check",
        &json!({"sessionToken": "sbx_nothing"}),
    )
    .await
    .problem(404, "PAYMENT_NOT_FOUND");
    api.call("POST", SESSION_CHECK, "/sandbox/session/check", |r| {
        r.header("content-type", "text/plain").body("x")
    })
    .await
    .problem(415, "UNSUPPORTED_MEDIA_TYPE");

    // ---- the sandbox's hosted pages
    let three_ds_id = api.status_of("o-3ds").await["paymentID"]
        .as_str()
        .unwrap()
        .to_owned();
    let page_path = format!("/sandbox/3ds/{three_ds_id}");
    let page = api.get(THREE_DS, &page_path).await;
    assert!(page.text.contains("id=\"approve\""), "{}", page.text);
    let token = pgm_mocks::sandbox_page::page_token(&page.text)
        .expect("the page's token")
        .to_owned();
    let form_with = |r: reqwest::RequestBuilder, decision: &str, token: &str| {
        r.form(&[
            ("decision", decision.to_owned()),
            ("pageToken", token.to_owned()),
        ])
    };
    let form = |r: reqwest::RequestBuilder, decision: &str| form_with(r, decision, &token);
    assert_eq!(
        api.call("POST", THREE_DS, &page_path, |r| r
            .form(&[("decision", "approve")]))
            .await
            .status,
        403
    );
    assert_eq!(
        api.call("POST", THREE_DS, &page_path, |r| form(r, "maybe"))
            .await
            .status,
        400
    );
    assert_eq!(
        api.call("POST", THREE_DS, &page_path, |r| r.body("decision=approve"))
            .await
            .status,
        415
    );
    assert_eq!(
        api.call("POST", THREE_DS, &page_path, |r| r
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("verdict=yes&pageToken={token}")))
            .await
            .status,
        400
    );
    let decided = api
        .call("POST", THREE_DS, &page_path, |r| form(r, "approve"))
        .await;
    assert!(
        decided.text.contains("Payment approved"),
        "{}",
        decided.text
    );
    assert!(api
        .get(THREE_DS, &page_path)
        .await
        .text
        .contains("Already decided"));
    assert_eq!(
        api.get(THREE_DS, "/sandbox/3ds/sbx_nothing").await.status,
        404
    );
    assert_eq!(
        api.call("POST", THREE_DS, "/sandbox/3ds/sbx_nothing", |r| form(
            r, "approve"
        ))
        .await
        .status,
        403,
        "another page's token is refused before anything is looked up"
    );
    let redirecting = json!({"amount": "5.00", "shopTransactionID": "o-3ds-r", "creditCardToken": "tok_3ds",
        "successRedirect": "https://shop.example/ok", "failureRedirect": "https://shop.example/ko"});
    let redirect_url = api.post(PAY, pay, &redirecting).await.json()["redirectToUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let redirect_path = redirect_url.strip_prefix(&api.pgm.url).unwrap().to_owned();
    let redirect_page = api.get(THREE_DS, &redirect_path).await;
    let redirect_token = pgm_mocks::sandbox_page::page_token(&redirect_page.text)
        .expect("the page's token")
        .to_owned();
    let declined = api
        .call("POST", THREE_DS, &redirect_path, |r| {
            form_with(r, "decline", &redirect_token)
        })
        .await;
    assert_eq!(
        (declined.status, declined.header("location")),
        (303, Some("https://shop.example/ko"))
    );
    let charges = api
        .get(CHARGES, "/sandbox/charges?reference=o-full")
        .await
        .json();
    assert_eq!(charges[0]["refunds"].as_array().map(Vec::len), Some(2));
    assert_eq!(api.get(CHARGES, "/sandbox/charges").await.status, 400);

    // ---- provider callbacks (public: no key needed, none sent)
    let pending_3ds = api
        .post(PAY, pay, &pay_body("o-3ds-cb", "5.00", "tok_3ds"))
        .await
        .json();
    let charge_id = pending_3ds["paymentID"].as_str().unwrap().to_owned();
    let callback = |body: Vec<u8>, signature: String| {
        move |r: reqwest::RequestBuilder| {
            r.header("content-type", "application/json")
                .header("sandbox-signature", signature)
                .body(body)
        }
    };
    let now = pgm_core::clock::now_ms() / 1000;
    let signed = |body: &Value| {
        let raw = serde_json::to_vec(body).unwrap();
        let signature = sign_timestamped(SANDBOX_SECRET.as_bytes(), now, &raw);
        (raw, signature)
    };
    let cb = "/sandbox/callback";
    let (raw, sig) =
        signed(&json!({"chargeId": charge_id, "reference": "o-3ds-cb", "status": "CAPTURED"}));
    let accepted = api
        .call("POST", CALLBACK, cb, callback(raw.clone(), sig.clone()))
        .await;
    assert_eq!(accepted.json(), json!({"received": true}));
    assert_eq!(api.status_of("o-3ds-cb").await["status"], "ACCEPTED");
    api.call(
        "POST",
        CALLBACK,
        cb,
        callback(raw.clone(), sig.replace("v1=", "v1=0")),
    )
    .await
    .problem(401, "INVALID_SIGNATURE");
    let (raw_bad, sig_bad) = (
        b"not json".to_vec(),
        sign_timestamped(SANDBOX_SECRET.as_bytes(), now, b"not json"),
    );
    api.call("POST", CALLBACK, cb, callback(raw_bad, sig_bad))
        .await
        .problem(400, "INVALID_CALLBACK");
    let (raw, sig) =
        signed(&json!({"chargeId": "sbx_nothing", "reference": "x", "status": "CAPTURED"}));
    api.call("POST", CALLBACK, cb, callback(raw.clone(), sig.clone()))
        .await
        .problem(404, "PAYMENT_NOT_FOUND");
    api.call("POST", CALLBACK, "/nope/callback", callback(raw, sig))
        .await
        .problem(404, "PROVIDER_NOT_FOUND");
    let huge = vec![b' '; 300 * 1024];
    api.call("POST", CALLBACK, cb, callback(huge, String::new()))
        .await
        .problem(413, "PAYLOAD_TOO_LARGE");
    let query = format!("chargeId={charge_id}&reference=o-3ds-cb&status=CAPTURED&t={now}");
    let v1 = sign_timestamped(SANDBOX_SECRET.as_bytes(), now, query.as_bytes());
    let v1 = v1.split_once(",v1=").unwrap().1;
    let get_path = format!("{cb}?{query}&v1={v1}");
    assert_eq!(
        api.get(CALLBACK, &get_path).await.json(),
        json!({"received": true})
    );
    api.get(CALLBACK, &format!("{cb}?{query}&v1=00"))
        .await
        .problem(401, "INVALID_SIGNATURE");

    c.assert_all_exercised();

    // ---- the notifications these changes caused, against the document's webhook
    let webhook = &c.doc["webhooks"]["paymentNotification"]["post"];
    let schema = &webhook["requestBody"]["content"]["application/json"]["schema"];
    let signature_schema = &webhook["parameters"][0]["schema"];
    assert_eq!(webhook["parameters"][0]["name"], "PGM-Signature");
    // Captures: o-auth, s-1; refunds: two on o-full, one on s-1; void: s-2; outcomes: o-pending
    // (check), o-down (status: the provider never saw it), o-3ds (approved on the page), o-3ds-r
    // (declined there), o-3ds-cb (callback).
    let expected = 11;
    assert!(
        eventually(Duration::from_secs(10), || async {
            receiver.received().len() >= expected
        })
        .await,
        "{} notifications",
        receiver.received().len()
    );
    let received = receiver.received();
    assert_eq!(
        received.len(),
        expected,
        "{:#?}",
        received.iter().map(|n| &n.body).collect::<Vec<_>>()
    );
    let mut types = BTreeSet::new();
    for n in &received {
        let errors = c.errors(schema, &n.body);
        assert!(
            errors.is_empty(),
            "notification does not match the webhook schema: {errors:#?}\n{}",
            n.body
        );
        let signature = n.signature.as_deref().expect("signed");
        assert!(
            c.errors(signature_schema, &json!(signature)).is_empty(),
            "{signature}"
        );
        let now = pgm_core::clock::now_ms() / 1000;
        verify_timestamped(CALLBACK_SECRET.as_bytes(), signature, &n.raw, now, 300)
            .expect("valid PGM-Signature");
        types.insert(n.body["eventType"].as_str().unwrap().to_owned());
    }
    let expected_types: BTreeSet<String> = [
        "payment.captured",
        "refund.succeeded",
        "payment.voided",
        "payment.succeeded",
        "payment.failed",
    ]
    .map(String::from)
    .into();
    assert_eq!(types, expected_types);
}

/// The validation helpers themselves: a schema mismatch, an undocumented status or content
/// type must fail, or the checks above prove nothing.
#[tokio::test]
async fn the_contract_checks_can_fail() {
    let pgm = TestServer::start(&[]).await;
    let contract = Contract::new(pgm.get("/documentation/openapi.json").await.json());
    let answer = |status: u16, content_type: &str, text: &str| {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("content-type", content_type.parse().unwrap());
        Answer {
            status,
            headers,
            text: text.to_owned(),
        }
    };
    let good = r#"{"result":"OK","resultDescription":"x","paymentID":null,"redirectToUrl":null,"redirectToUrlMobile":null}"#;
    contract.check(
        "POST",
        PAY,
        "/sandbox/credit-cards/pay",
        &answer(200, "application/json", good),
    );
    let fails = |status: u16, content_type: &'static str, text: &'static str| {
        let a = answer(status, content_type, text);
        let c = &contract;
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            c.check("POST", PAY, "/sandbox/credit-cards/pay", &a)
        }))
        .is_err()
    };
    assert!(fails(
        200,
        "application/json",
        r#"{"result":"MAYBE","resultDescription":"x","paymentID":null,"redirectToUrl":null,"redirectToUrlMobile":null}"#
    ));
    assert!(fails(
        200,
        "application/json",
        r#"{"result":"OK","resultDescription":"x","paymentID":null,"redirectToUrl":null,"redirectToUrlMobile":null,"extra":1}"#
    ));
    assert!(fails(
        200,
        "application/json",
        r#"{"result":"OK","resultDescription":"x"}"#
    ));
    assert!(fails(200, "text/plain", good));
    assert!(fails(418, "application/problem+json", r#"{}"#));
    assert!(fails(
        502,
        "application/problem+json",
        r#"{"type":"urn:pgm:problem:provider-unavailable","title":"t","status":502,"detail":"d","code":"PROVIDER_UNAVAILABLE"}"#
    ));
    assert!(fails(
        404,
        "application/problem+json",
        r#"{"type":"urn:pgm:problem:payment-not-found","title":"t","status":409,"detail":"d","code":"PAYMENT_NOT_FOUND"}"#
    ));
    assert!(fails(
        404,
        "application/problem+json",
        r#"{"type":"urn:pgm:problem:x","title":"t","status":404,"detail":"d","code":"ROUTE_NOT_FOUND"}"#
    ));
    assert!(!fails(
        404,
        "application/problem+json",
        r#"{"type":"urn:pgm:problem:payment-not-found","title":"t","status":404,"detail":"d","code":"PAYMENT_NOT_FOUND"}"#
    ));
    contract.assert_request(
        "POST",
        PAY,
        &json!({"amount": "1.00", "shopTransactionID": "a", "shopTransactionId": "a"}),
        false,
    );
    contract.assert_request("POST", CONFIRM, &json!({"paymentId": "a"}), true);
}
