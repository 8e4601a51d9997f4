//! Input that could be read two ways, or that is not what it claims, is refused before anything
//! is charged: duplicate keys, bodies that are not declared JSON, routes of another provider.

use pgm_e2e::TestServer;
use serde_json::json;

const PAY: &str = "/sandbox/credit-cards/pay";

#[tokio::test]
async fn duplicate_keys_are_refused_naming_the_key() {
    let pgm = TestServer::start(&[]).await;
    let twice = r#"{"amount":"1.00","shopTransactionID":"si-dup","creditCardToken":"tok_ok","amount":"900.00"}"#;
    let answer = pgm.post_raw(PAY, "application/json", twice).await;
    let problem = answer.problem(400, "VALIDATION_FAILED");
    assert_eq!(problem["field"], "amount", "{problem}");
    let nested = r#"{"amount":"1.00","shopTransactionID":"si-dup","creditCardToken":"tok_ok","metadata":{"a":"1","a":"2"}}"#;
    let answer = pgm.post_raw(PAY, "application/json", nested).await;
    assert_eq!(
        answer.problem(400, "VALIDATION_FAILED")["field"],
        "metadata.a"
    );
    assert!(
        pgm.sandbox_charges("si-dup").await.is_empty(),
        "nothing charged"
    );
}

#[tokio::test]
async fn only_declared_json_is_read() {
    let pgm = TestServer::start(&[]).await;
    let body =
        json!({"amount": "2.00", "shopTransactionID": "si-type", "creditCardToken": "tok_ok"})
            .to_string();
    // No Content-Type at all.
    let bare = pgm
        .send(
            pgm.client
                .post(format!("{}{PAY}", pgm.url))
                .body(body.clone()),
        )
        .await;
    bare.problem(415, "UNSUPPORTED_MEDIA_TYPE");
    for refused in [
        "text/plain",
        "text/json",
        "application/jsonp",
        "application/x-json-stream",
        "multipart/form-data; boundary=json",
    ] {
        pgm.post_raw(PAY, refused, body.clone())
            .await
            .problem(415, "UNSUPPORTED_MEDIA_TYPE");
    }
    assert!(
        pgm.sandbox_charges("si-type").await.is_empty(),
        "nothing charged"
    );
    for accepted in [
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/merge-patch+json",
    ] {
        let answer = pgm.post_raw(PAY, accepted, body.clone()).await;
        assert_eq!(answer.status, 200, "{accepted}: {}", answer.text);
    }
    assert_eq!(
        pgm.sandbox_charges("si-type").await.len(),
        1,
        "charged once"
    );
}

#[tokio::test]
async fn the_route_provider_is_checked_before_its_body() {
    let pgm = TestServer::start(&[]).await;
    // A body no provider would accept, on a provider that does not exist: the provider is
    // what is wrong.
    pgm.post("/nope/credit-cards/refund", &json!({"amount": "x"}))
        .await
        .problem(404, "PROVIDER_NOT_FOUND");
    pgm.post("/nope/credit-cards/pay", &json!({"amount": 5}))
        .await
        .problem(404, "PROVIDER_NOT_FOUND");
    pgm.post("/sandbox/bitcoin/confirm", &json!({"amount": []}))
        .await
        .problem(404, "METHOD_NOT_FOUND");
    pgm.post("/nope/session/confirm", &json!({}))
        .await
        .problem(404, "PROVIDER_NOT_FOUND");
}

#[tokio::test]
async fn a_refund_or_confirm_on_another_providers_route_is_refused() {
    let pgm = TestServer::start(&[
        ("ENABLED_PROVIDERS", "sandbox,gestpay"),
        ("GESTPAY_API_KEY", "k"),
        ("GESTPAY_SHOP_LOGIN", "GESPAY1"),
    ])
    .await;
    assert_eq!(
        pgm.pay("si-other", "5.00", "tok_ok").await.json()["result"],
        "OK"
    );
    for route in [
        "/gestpay/credit-cards/refund",
        "/axerve/credit-cards/confirm",
    ] {
        let answer = pgm
            .post(
                route,
                &json!({"shopTransactionID": "si-other", "amount": "1.00"}),
            )
            .await;
        let problem = answer.problem(409, "PROVIDER_MISMATCH");
        assert!(
            problem["detail"].as_str().unwrap().contains("sandbox"),
            "{problem}"
        );
    }
    let status = pgm.status_of("si-other").await;
    assert_eq!(status["refundedAmount"], "0.00");
}

/// Every problem `code` the service can answer is in README.md's table: codes are found in
/// the source as the literal after a status (`problem(405, "METHOD_NOT_ALLOWED", …)`,
/// `(503, "CONTENTION", …)`, `problem(StatusCode::FORBIDDEN, "INVALID_PAGE_TOKEN", …)`).
#[test]
fn every_problem_code_is_documented() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let mut sources = Vec::new();
    for dir in [
        "shared/api/src",
        "shared/app/src",
        "shared/providers/src/sandbox",
        "shared/providers/src/sandbox/hosted",
    ] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "rs") {
                sources.push(std::fs::read_to_string(path).unwrap());
            }
        }
    }
    let mut codes = std::collections::BTreeSet::new();
    for source in &sources {
        for (i, _) in source.match_indices('"') {
            let Some(code) = source[i + 1..].split('"').next() else {
                continue;
            };
            let is_code =
                code.len() > 3 && code.chars().all(|c| c.is_ascii_uppercase() || c == '_');
            let before = source[..i].trim_end();
            let Some(before) = before.strip_suffix(',') else {
                continue;
            };
            let status = before
                .trim_end()
                .rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .next()
                .unwrap_or_default();
            let after_status = (status.len() == 3 && status.chars().all(|c| c.is_ascii_digit()))
                || status.starts_with("StatusCode::");
            if is_code && after_status {
                codes.insert(code.to_owned());
            }
        }
    }
    for known in [
        "METHOD_NOT_ALLOWED",
        "INVALID_PATH",
        "CONTENTION",
        "INVALID_PAGE_TOKEN",
    ] {
        assert!(codes.contains(known), "the scan misses {known}: {codes:?}");
    }
    let missing: Vec<_> = codes
        .iter()
        .filter(|code| !readme.contains(&format!("`{code}`")))
        .collect();
    assert!(missing.is_empty(), "codes not in README.md: {missing:?}");
}
