//! Runs real flows through the `pgm-local` binary at LOG_LEVEL=trace with distinctive secret
//! values (merchant API key, notification secret, the sandbox's webhook secret, a provider API
//! key, card tokens) and fails if any of them appears in the captured logs or in any response
//! body the PGM sent.

use pgm_core::signing::sign_timestamped;
use pgm_e2e::{eventually, Receiver};
use pgm_mocks::axerve::AxerveMock;
use pgm_mocks::MockServer;
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::time::Duration;

const API_KEY: &str = "pgmkey_SECRET_merchant_7f3a9c";
const CALLBACK_SECRET: &str = "whsec_SECRET_notify_51d2e8";
const SANDBOX_SECRET: &str = "whsec_SECRET_sandbox_0b7c44";
const GESTPAY_KEY: &str = "R0VTUEFZ_SECRET_apikey_93be21";
const CARD_TOKEN: &str = "tok_SECRET_card_4111111111111111";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn no_secret_reaches_a_log_line_or_a_response_body() {
    let receiver = Receiver::start().await;
    let axerve = AxerveMock::new("GESPAY_SHOP_1", GESTPAY_KEY);
    let axerve_server = MockServer::start(axerve.router()).await;
    let data = tempfile::tempdir().unwrap();
    let log_path = data.path().join("pgm.log");
    let port = free_port();
    let base = format!("http://localhost:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_pgm-local"))
        .env_clear()
        .env("HTTP_PORT", port.to_string())
        .env("PGM_DATA_DIR", data.path())
        .env("LOG_LEVEL", "trace")
        .env("ENABLED_PROVIDERS", "sandbox,gestpay")
        .env("PGM_API_KEY", API_KEY)
        .env("PAYMENT_CALLBACK_URL", &receiver.url)
        .env("PAYMENT_CALLBACK_SECRET", CALLBACK_SECRET)
        .env("SANDBOX_WEBHOOK_SECRET", SANDBOX_SECRET)
        .env("GESTPAY_API_KEY", GESTPAY_KEY)
        .env("GESTPAY_SHOP_LOGIN", "GESPAY_SHOP_1")
        .env("GESTPAY_BASE_URL", format!("{}/api/v1", axerve_server.url))
        .stdout(Stdio::from(std::fs::File::create(&log_path).unwrap()))
        .stderr(Stdio::from(
            std::fs::File::options()
                .append(true)
                .open(&log_path)
                .unwrap(),
        ))
        .spawn()
        .expect("pgm-local starts");

    let client = reqwest::Client::new();
    let ready = eventually(Duration::from_secs(20), || async {
        client
            .get(format!("{base}/documentation/openapi.json"))
            .send()
            .await
            .is_ok()
    })
    .await;
    assert!(ready, "pgm-local did not start");

    let mut bodies = Vec::new();
    let call = |request: reqwest::RequestBuilder| {
        let request = request.bearer_auth(API_KEY);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.text().await.unwrap())
        }
    };
    let pay = |id: &str, token: &str| {
        client
            .post(format!("{base}/sandbox/credit-cards/pay"))
            .json(&json!({"amount": "5.00", "shopTransactionID": id, "creditCardToken": token}))
    };
    // Sandbox: an unknown (secret) token, a 3DS payment completed through the signed callback,
    // a refund, a forged callback, bad input, a wrong API key.
    bodies.push(call(pay("h-1", CARD_TOKEN)).await);
    let (_, three_ds) = call(pay("h-2", "tok_3ds")).await;
    let page = serde_json::from_str::<Value>(&three_ds).unwrap()["redirectToUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    bodies.push((200, three_ds));
    let html = client
        .get(&page)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let decided = client
        .post(&page)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(pgm_mocks::sandbox_page::decision_form(&html, "approve"))
        .send()
        .await
        .unwrap();
    bodies.push((decided.status().as_u16(), decided.text().await.unwrap()));
    bodies.push(
        call(
            client
                .post(format!("{base}/sandbox/credit-cards/refund"))
                .json(&json!({"shopTransactionID": "h-2", "amount": "1.00"})),
        )
        .await,
    );
    let forged = json!({"chargeId": "sbx_x", "reference": "h-2", "status": "CAPTURED"}).to_string();
    let wrong = sign_timestamped(
        b"not-the-secret",
        pgm_core::clock::now_ms() / 1000,
        forged.as_bytes(),
    );
    bodies.push(
        call(
            client
                .post(format!("{base}/sandbox/callback"))
                .header("sandbox-signature", wrong)
                .body(forged),
        )
        .await,
    );
    bodies.push(
        call(
            client
                .post(format!("{base}/sandbox/credit-cards/pay"))
                .header("content-type", "application/json")
                .body(format!(
                    "{{\"amount\":\"x\",\"creditCardToken\":\"{CARD_TOKEN}\""
                )),
        )
        .await,
    );
    let unauthorized = client
        .get(format!("{base}/sandbox/status?shopTransactionId=h-2"))
        .bearer_auth(format!("{API_KEY}x"))
        .send()
        .await
        .unwrap();
    bodies.push((
        unauthorized.status().as_u16(),
        unauthorized.text().await.unwrap(),
    ));
    // Axerve: pay, the buyer approves at the provider, the (unsigned) notification triggers a
    // status read, a partial refund.
    let (_, axerve_pay) = call(client.post(format!("{base}/gestpay/credit-cards/pay")).json(&json!({"amount": "9.00", "shopTransactionID": "h-3", "buyerName": "Ada", "buyerEmail": "ada@example.com"}))).await;
    let payment_id = serde_json::from_str::<Value>(&axerve_pay).unwrap()["paymentID"]
        .as_str()
        .expect(&axerve_pay)
        .to_owned();
    bodies.push((200, axerve_pay));
    assert!(axerve.approve(&payment_id));
    let callback = client
        .get(format!(
            "{base}/gestpay/callback?a=GESPAY_SHOP_1&shopTransactionID=h-3"
        ))
        .send()
        .await
        .unwrap();
    bodies.push((callback.status().as_u16(), callback.text().await.unwrap()));
    bodies.push(call(client.get(format!("{base}/gestpay/status?shopTransactionId=h-3"))).await);
    bodies.push(
        call(
            client
                .post(format!("{base}/gestpay/credit-cards/refund"))
                .json(&json!({"shopTransactionID": "h-3", "amount": "2.00"})),
        )
        .await,
    );

    assert!(
        eventually(Duration::from_secs(10), || async {
            receiver.received().len() >= 3
        })
        .await,
        "notifications went out"
    );
    child.kill().unwrap();
    child.wait().unwrap();

    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        logs.len() > 1000,
        "trace logging produced output ({} bytes)",
        logs.len()
    );
    let notifications: Vec<String> = receiver
        .received()
        .iter()
        .map(|n| String::from_utf8_lossy(&n.raw).into_owned())
        .collect();
    for secret in [
        API_KEY,
        CALLBACK_SECRET,
        SANDBOX_SECRET,
        GESTPAY_KEY,
        CARD_TOKEN,
    ] {
        assert!(
            !logs.contains(secret),
            "a secret reached the logs: {secret}"
        );
        for (status, body) in &bodies {
            assert!(
                !body.contains(secret),
                "a secret reached a {status} response: {body}"
            );
        }
        for body in &notifications {
            assert!(!body.contains(secret), "a secret reached a notification");
        }
    }
    // The flows really ran.
    let statuses: Vec<u16> = bodies.iter().map(|(s, _)| *s).collect();
    assert!(
        statuses.contains(&401)
            && statuses.contains(&400)
            && statuses.iter().filter(|s| **s == 200).count() >= 6,
        "{statuses:?}"
    );
}
