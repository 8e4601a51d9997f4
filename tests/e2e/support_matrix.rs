//! The README's support matrix is generated from what the providers say they support
//! (`Registry::support_matrix`), and the HTTP API keeps that word: a route a provider does not
//! serve answers 501 `NOT_SUPPORTED_BY_PROVIDER`, a route it serves never does.
//!
//! When a provider changes, regenerate the README section (between the `support-matrix` markers)
//! with:
//!
//! ```sh
//! PGM_UPDATE_README=1 cargo test -p pgm-e2e --test support_matrix
//! ```

use pgm_core::Env;
use pgm_e2e::TestServer;
use pgm_mocks::axerve::AxerveMock;
use pgm_mocks::bpc::BpcMock;
use pgm_mocks::braintree::BraintreeMock;
use pgm_mocks::paymentz::{PaymentzMock, CARD_OK};
use pgm_mocks::safecharge::{SafechargeMock, MERCHANT_ID, MERCHANT_SITE_ID, SECRET_KEY};
use pgm_mocks::satispay::{SatispayMock, TEST_KEY_ID, TEST_PRIVATE_KEY_PEM};
use pgm_mocks::scalapay::{ScalapayMock, SANDBOX_API_KEY};
use pgm_mocks::soisy::{SoisyMock, SANDBOX_PARTNER_KEY, SANDBOX_SHOP_ID};
use pgm_mocks::stripe::{StripeMock, TEST_SECRET_KEY};
use pgm_mocks::MockServer;
use pgm_providers::registry::KNOWN_PROVIDERS;
use pgm_providers::{Operation, Provider, ProviderDeps, Registry};
use pgm_store::embedded::EmbeddedStore;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;

const START: &str = "<!-- support-matrix:start -->";
const END: &str = "<!-- support-matrix:end -->";
const GESTPAY_SHOP: &str = "GESPAY80790";
const GESTPAY_KEY: &str = "e2e-axerve-api-key";
const PAYMENTZ: [&str; 4] = ["197", "pgm-merchant", "11359", "pz_secure_matrix"];

/// Where each provider's API is: the mocks, or nowhere (the README needs no API).
struct BaseUrls {
    stripe: String,
    satispay: String,
    gestpay: String,
    scalapay: String,
    safecharge: String,
    bpc: String,
    paymentz: String,
    unicredit: String,
    soisy: String,
    braintree: String,
}

impl BaseUrls {
    fn unreachable() -> BaseUrls {
        let nowhere = "http://127.0.0.1:9".to_owned();
        BaseUrls {
            stripe: nowhere.clone(),
            satispay: nowhere.clone(),
            gestpay: nowhere.clone(),
            scalapay: nowhere.clone(),
            safecharge: nowhere.clone(),
            bpc: nowhere.clone(),
            paymentz: nowhere.clone(),
            unicredit: nowhere.clone(),
            soisy: nowhere.clone(),
            braintree: nowhere,
        }
    }
}

/// Test settings of every provider this build implements.
fn provider_settings(urls: &BaseUrls) -> Vec<(&'static str, String)> {
    vec![
        ("SANDBOX_WEBHOOK_SECRET", "whsec_matrix".into()),
        ("GESTPAY_BASE_URL", urls.gestpay.clone()),
        ("GESTPAY_API_KEY", GESTPAY_KEY.into()),
        ("GESTPAY_SHOP_LOGIN", GESTPAY_SHOP.into()),
        ("SATISPAY_BASE_URL", urls.satispay.clone()),
        ("SATISPAY_KEY_ID", TEST_KEY_ID.into()),
        ("SATISPAY_PRIVATE_KEY", TEST_PRIVATE_KEY_PEM.into()),
        ("SCALAPAY_BASE_URL", urls.scalapay.clone()),
        ("SCALAPAY_API_KEY", SANDBOX_API_KEY.into()),
        (
            "SCALAPAY_SUCCESS_REDIRECT_URL",
            "https://shop.example/ok".into(),
        ),
        (
            "SCALAPAY_FAILURE_REDIRECT_URL",
            "https://shop.example/ko".into(),
        ),
        ("SOISY_BASE_URL", urls.soisy.clone()),
        ("SOISY_SHOP_ID", SANDBOX_SHOP_ID.into()),
        ("SOISY_PARTNER_KEY", SANDBOX_PARTNER_KEY.into()),
        ("BRAINTREE_BASE_URL", urls.braintree.clone()),
        (
            "BRAINTREE_MERCHANT_ID",
            pgm_mocks::braintree::MERCHANT_ID.into(),
        ),
        (
            "BRAINTREE_PUBLIC_KEY",
            pgm_mocks::braintree::PUBLIC_KEY.into(),
        ),
        (
            "BRAINTREE_PRIVATE_KEY",
            pgm_mocks::braintree::PRIVATE_KEY.into(),
        ),
        ("STRIPE_BASE_URL", urls.stripe.clone()),
        ("STRIPE_PRIVATE_KEY", TEST_SECRET_KEY.into()),
        ("STRIPE_WEBHOOK_SECRET", "whsec_matrix".into()),
        ("SAFECHARGE_BASE_URL", urls.safecharge.clone()),
        ("SAFECHARGE_MERCHANT_ID", MERCHANT_ID.into()),
        ("SAFECHARGE_MERCHANT_SITE_ID", MERCHANT_SITE_ID.into()),
        ("SAFECHARGE_MERCHANT_SECRET_KEY", SECRET_KEY.into()),
        ("BPC_BASE_URL", urls.bpc.clone()),
        ("BPC_API_KEY", pgm_mocks::bpc::TEST_API_KEY.into()),
        ("BPC_WEBHOOK_SECRET", "whsec_matrix".into()),
        ("PAYMENTZ_BASE_URL", urls.paymentz.clone()),
        ("PAYMENTZ_PARTNER_ID", PAYMENTZ[0].into()),
        ("PAYMENTZ_USERNAME", PAYMENTZ[1].into()),
        ("PAYMENTZ_MEMBER_ID", PAYMENTZ[2].into()),
        ("PAYMENTZ_SECURE_KEY", PAYMENTZ[3].into()),
        ("UNICREDIT_PAYMENT_URL", urls.unicredit.clone()),
        ("UNICREDIT_USER_ID", "UNI_ECOM".into()),
        ("UNICREDIT_SECRET", "UNI_TESTKEY".into()),
    ]
}

fn env_with(settings: &[(&str, String)], enabled: &str) -> Env {
    let mut env = Env::from_pairs(settings.iter().map(|(k, v)| (*k, v.as_str())));
    env.set("ENABLED_PROVIDERS", enabled);
    env
}

/// Every known provider this build has an adapter for: those the registry does not refuse as
/// "not available in this build". A new adapter joins by itself (and fails here until its test
/// settings are added above).
fn implemented(settings: &[(&str, String)], deps: &ProviderDeps) -> Vec<&'static str> {
    KNOWN_PROVIDERS
        .iter()
        .copied()
        .filter(
            |name| match Registry::from_env(&env_with(settings, name), deps) {
                Ok(_) => true,
                Err(e) if e.to_string().contains("not available in this build") => false,
                Err(e) => panic!("{name} is implemented but its test settings are missing: {e}"),
            },
        )
        .collect()
}

fn deps(dir: &tempfile::TempDir) -> ProviderDeps {
    let store = EmbeddedStore::open(&dir.path().join("pgm.db")).expect("embedded store");
    ProviderDeps {
        http: reqwest::Client::new(),
        public_url: "http://127.0.0.1:8080".into(),
        sandbox_ledger: Some(Arc::new(store)),
    }
}

fn readme_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../README.md")
}

/// The README with its support-matrix section replaced by `table`.
fn with_section(readme: &str, table: &str) -> String {
    let start = readme.find(START).expect("README has the start marker") + START.len();
    let end = readme[start..]
        .find(END)
        .expect("README has the end marker")
        + start;
    format!("{}\n{table}{}", &readme[..start], &readme[end..])
}

#[test]
fn the_readme_support_matrix_is_generated_from_the_providers() {
    let dir = tempfile::tempdir().unwrap();
    let deps = deps(&dir);
    let settings = provider_settings(&BaseUrls::unreachable());
    let names = implemented(&settings, &deps);
    assert!(
        names.len() >= 5 && names[0] == "sandbox",
        "implemented: {names:?}"
    );
    let registry = Registry::from_env(&env_with(&settings, &names.join(",")), &deps).unwrap();
    assert_eq!(registry.iter().count(), names.len());
    let table = registry.support_matrix();
    // Rows in the API document's order, one per implemented provider.
    let rows: Vec<&str> = table
        .lines()
        .skip(2)
        .filter_map(|row| row.split('`').nth(1))
        .collect();
    assert_eq!(rows, names);

    let path = readme_path();
    let readme = std::fs::read_to_string(&path).expect("README.md");
    let expected = with_section(&readme, &table);
    if std::env::var("PGM_UPDATE_README").as_deref() == Ok("1") {
        std::fs::write(&path, &expected).expect("write README.md");
        return;
    }
    assert!(
        readme == expected,
        "README.md's support matrix is stale; regenerate it with \
         `PGM_UPDATE_README=1 cargo test -p pgm-e2e --test support_matrix`. Expected:\n{table}"
    );
}

/// The mocks of every provider with an API, and a PGM serving all providers against them.
struct World {
    _stripe: StripeMock,
    _bpc: BpcMock,
    _scalapay: ScalapayMock,
    _safecharge: SafechargeMock,
    _satispay: MockServer,
    _gestpay: MockServer,
    _paymentz: MockServer,
    _unicredit: MockServer,
    _soisy: MockServer,
    _braintree: BraintreeMock,
    pgm: TestServer,
    registry: Registry,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let stripe = StripeMock::start().await;
    let bpc = BpcMock::start().await;
    let scalapay = ScalapayMock::start().await;
    let safecharge = SafechargeMock::start().await;
    let satispay = MockServer::start(SatispayMock::with_test_key().router()).await;
    let gestpay = MockServer::start(AxerveMock::new(GESTPAY_SHOP, GESTPAY_KEY).router()).await;
    let [partner, user, member, key] = PAYMENTZ;
    let paymentz = MockServer::start(PaymentzMock::new(partner, user, member, key).router()).await;
    let unicredit = MockServer::start(
        pgm_mocks::unicredit::UnicreditMock::new("UNI_ECOM", "UNI_TESTKEY").router(),
    )
    .await;
    let soisy = MockServer::start(SoisyMock::default().router()).await;
    let braintree = BraintreeMock::start().await;
    let urls = BaseUrls {
        stripe: stripe.url().to_owned(),
        satispay: format!("{}{}", satispay.url, pgm_mocks::satispay::API_PREFIX),
        gestpay: format!("{}{}", gestpay.url, pgm_mocks::axerve::API_PREFIX),
        scalapay: scalapay.url().to_owned(),
        safecharge: safecharge.url().to_owned(),
        bpc: bpc.url(),
        paymentz: paymentz.url.clone(),
        unicredit: format!("{}{}", unicredit.url, pgm_mocks::unicredit::SERVICES),
        soisy: soisy.url.clone(),
        braintree: braintree.url().to_owned(),
    };
    let settings = provider_settings(&urls);
    let dir = tempfile::tempdir().unwrap();
    let deps = deps(&dir);
    let names = implemented(&settings, &deps).join(",");
    let registry = Registry::from_env(&env_with(&settings, &names), &deps).unwrap();
    let mut extra: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    extra.push(("ENABLED_PROVIDERS", &names));
    let pgm = TestServer::start(&extra).await;
    World {
        _stripe: stripe,
        _bpc: bpc,
        _scalapay: scalapay,
        _safecharge: safecharge,
        _satispay: satispay,
        _gestpay: gestpay,
        _paymentz: paymentz,
        _unicredit: unicredit,
        _soisy: soisy,
        _braintree: braintree,
        pgm,
        registry,
        _dir: dir,
    }
}

/// A pay body `provider` can take: one body for all, each reading what it needs, except where
/// two providers read the same field differently (a card token, the card's own fields).
fn pay_body(provider: &str, id: &str) -> Value {
    let mut body = common_pay_body(id);
    if provider == "bpc" {
        // BPC takes either a stored payment method or card data, never both.
        body["creditCardToken"] = json!(pgm_mocks::bpc::STORED_OK);
        body["providerData"]
            .as_object_mut()
            .expect("an object")
            .remove("card");
    }
    body
}

fn common_pay_body(id: &str) -> Value {
    json!({
        "amount": "5.00",
        "shopTransactionID": id,
        "creditCardToken": "tok_ok",
        "buyerName": "Ada Lovelace",
        "buyerEmail": "ada@example.com",
        "successRedirect": "https://shop.example/ok",
        "failureRedirect": "https://shop.example/ko",
        "brainTreeDataRequest": {"nonce": pgm_mocks::braintree::PAYPAL_NONCE},
        "providerData": {
            "consumer": {"givenNames": "Ada", "surname": "Lovelace", "phoneNumber": "+393331234567"},
            "shipping": {"name": "Ada Lovelace", "countryCode": "IT", "postcode": "20100",
                         "suburb": "Milano", "line1": "Via Roma 1", "phoneNumber": "+393331234567"},
            "paymentBrand": "VISA",
            "card": {"number": CARD_OK, "expiryMonth": "12", "expiryYear": "2030", "cvv": "123"},
        },
    })
}

/// Drives one route of `provider` with a minimal valid request about `payment` (a payment the
/// provider has, when it can take one) and returns the HTTP status.
async fn drive(
    pgm: &TestServer,
    provider: &dyn Provider,
    op: Operation,
    payment: &Known,
) -> (u16, String) {
    let name = provider.name();
    let method = provider.methods()[0];
    let id = &payment.shop_transaction_id;
    let token = payment
        .token
        .clone()
        .unwrap_or_else(|| "no-such-token".into());
    let answer = match op {
        Operation::Pay => {
            pgm.post(
                &format!("/{name}/{method}/pay"),
                &pay_body(name, &format!("mx-{name}-pay-again")),
            )
            .await
        }
        Operation::PayRecurrent => {
            let mut body = pay_body(name, &format!("mx-{name}-recurrent"));
            body["recurrenceDetails"] = json!({"isFirstInstallment": true});
            pgm.post(&format!("/{name}/{method}/pay/recurrent"), &body)
                .await
        }
        Operation::Confirm => {
            pgm.post(
                &format!("/{name}/{method}/confirm"),
                &json!({"shopTransactionID": id, "amount": "1.00"}),
            )
            .await
        }
        Operation::Refund => {
            pgm.post(
                &format!("/{name}/{method}/refund"),
                &json!({"shopTransactionID": id, "amount": "1.00"}),
            )
            .await
        }
        Operation::Callback => {
            pgm.post_raw(&format!("/{name}/callback"), "application/json", "{}")
                .await
        }
        Operation::Check => {
            pgm.get(&format!("/{name}/check?shopTransactionId={id}"))
                .await
        }
        Operation::Status => {
            pgm.get(&format!("/{name}/status?shopTransactionId={id}"))
                .await
        }
        Operation::SessionOpen => {
            pgm.post(
                &format!("/{name}/session/open"),
                &json!({"shopTransactionID": format!("mx-{name}-session"), "amount": "5.00"}),
            )
            .await
        }
        Operation::SessionConfirm
        | Operation::SessionVoid
        | Operation::SessionRefund
        | Operation::SessionCheck => {
            let amount = matches!(op, Operation::SessionVoid | Operation::SessionCheck)
                .then_some(Value::Null)
                .unwrap_or_else(|| json!("1.00"));
            pgm.post(
                &format!("/{name}/{}", op.route()),
                &json!({"sessionToken": token, "amount": amount}),
            )
            .await
        }
    };
    (answer.status, answer.text)
}

/// The payment a provider's routes are driven with.
struct Known {
    shop_transaction_id: String,
    /// Its provider id: what session routes name it by.
    token: Option<String>,
}

#[tokio::test]
async fn routes_answer_501_exactly_where_the_matrix_says_no() {
    let w = world().await;
    let mut checked = 0;
    for provider in w.registry.iter() {
        let name = provider.name();
        // A payment to name in the other routes, made through the API where the provider can.
        let shop_transaction_id = format!("mx-{name}");
        let mut token = None;
        if provider.supports(Operation::Pay) {
            let pay = w
                .pgm
                .post(
                    &format!("/{name}/{}/pay", provider.methods()[0]),
                    &pay_body(name, &shop_transaction_id),
                )
                .await;
            assert_eq!(pay.status, 200, "{name}: {}", pay.text);
            token = pay.json()["paymentID"].as_str().map(str::to_owned);
        } else if provider.supports(Operation::SessionOpen) {
            // A provider that serves no pay (SafeCharge) takes its payments in sessions.
            let opened = w
                .pgm
                .post(
                    &format!("/{name}/session/open"),
                    &json!({"shopTransactionID": shop_transaction_id, "amount": "5.00"}),
                )
                .await;
            assert_eq!(opened.status, 200, "{name}: {}", opened.text);
            token = opened.json()["sessionToken"].as_str().map(str::to_owned);
        }
        let known = Known {
            shop_transaction_id,
            token,
        };
        for op in Operation::ALL {
            let (status, text) = drive(&w.pgm, provider.as_ref(), op, &known).await;
            let route = op.route();
            if provider.supports(op) {
                assert!(
                    status != 501 && status < 500,
                    "{name} serves {route} but answered {status}: {text}"
                );
            } else {
                assert_eq!(status, 501, "{name} does not serve {route}: {text}");
                assert!(text.contains("NOT_SUPPORTED_BY_PROVIDER"), "{text}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, w.registry.iter().count() * Operation::ALL.len());
}
