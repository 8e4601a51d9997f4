//! Bad input always gets a 4xx problem+json naming what is wrong, never a 5xx, never a change.

use pgm_e2e::TestServer;
use serde_json::json;

#[tokio::test]
async fn bad_pay_requests_are_4xx_problems_and_change_nothing() {
    let pgm = TestServer::start(&[]).await;
    let pay = "/sandbox/credit-cards/pay";
    let body = |amount: serde_json::Value| json!({"amount": amount, "shopTransactionID": "b-1", "creditCardToken": "tok_ok"});
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("malformed", "{\"amount\": \"5.00\",".into(), 400, "MALFORMED_JSON"),
        ("not an object", "[1,2]".into(), 400, "MALFORMED_JSON"),
        ("empty", "".into(), 400, "MALFORMED_JSON"),
        ("missing amount", json!({"shopTransactionID": "b-1"}).to_string(), 400, "VALIDATION_FAILED"),
        ("missing id", json!({"amount": "5.00"}).to_string(), 400, "VALIDATION_FAILED"),
        ("5.001", body(json!("5.001")).to_string(), 400, "VALIDATION_FAILED"),
        ("-1", body(json!("-1")).to_string(), 400, "VALIDATION_FAILED"),
        ("abc", body(json!("abc")).to_string(), 400, "VALIDATION_FAILED"),
        ("1e3", body(json!("1e3")).to_string(), 400, "VALIDATION_FAILED"),
        ("0", body(json!("0")).to_string(), 400, "VALIDATION_FAILED"),
        ("0.00", body(json!("0.00")).to_string(), 400, "VALIDATION_FAILED"),
        ("30 digits", body(json!("123456789012345678901234567890")).to_string(), 400, "VALIDATION_FAILED"),
        ("number 5.5", body(json!(5.5)).to_string(), 400, "VALIDATION_FAILED"),
        ("30-digit number", "{\"amount\": 123456789012345678901234567890, \"shopTransactionID\": \"b-1\"}".into(), 400, "VALIDATION_FAILED"),
        ("null amount", body(json!(null)).to_string(), 400, "VALIDATION_FAILED"),
        ("bad currency", json!({"amount": "5.00", "shopTransactionID": "b-1", "currency": "EURO"}).to_string(), 400, "VALIDATION_FAILED"),
        ("id with space", json!({"amount": "5.00", "shopTransactionID": "b 1"}).to_string(), 400, "VALIDATION_FAILED"),
        ("id too long", json!({"amount": "5.00", "shopTransactionID": "x".repeat(129)}).to_string(), 400, "VALIDATION_FAILED"),
        ("oversized", json!({"amount": "5.00", "shopTransactionID": "b-1", "payPalDescription": "x".repeat(70_000)}).to_string(), 413, "PAYLOAD_TOO_LARGE"),
    ];
    for (name, raw, status, code) in cases {
        let answer = pgm.post_raw(pay, "application/json", raw).await;
        assert!(answer.status < 500, "{name}: {}", answer.text);
        let problem = answer.problem(status, code);
        assert!(
            !problem["detail"].as_str().unwrap_or_default().is_empty(),
            "{name}: no detail"
        );
    }
    // The field is named.
    let answer = pgm
        .post_raw(pay, "application/json", body(json!("5.001")).to_string())
        .await;
    assert_eq!(answer.json()["field"], "amount");
    let answer = pgm
        .post_raw(
            pay,
            "application/json",
            json!({"amount": "5.00"}).to_string(),
        )
        .await;
    assert!(
        answer.json()["detail"]
            .as_str()
            .unwrap()
            .contains("shopTransactionID"),
        "{}",
        answer.text
    );

    pgm.post_raw(pay, "text/plain", body(json!("5.00")).to_string())
        .await
        .problem(415, "UNSUPPORTED_MEDIA_TYPE");
    pgm.post("/nope/credit-cards/pay", &body(json!("5.00")))
        .await
        .problem(404, "PROVIDER_NOT_FOUND");
    pgm.post("/stripe/stripe/pay", &body(json!("5.00")))
        .await
        .problem(404, "PROVIDER_NOT_FOUND");
    pgm.post("/sandbox/bitcoin/pay", &body(json!("5.00")))
        .await
        .problem(404, "METHOD_NOT_FOUND");
    pgm.get("/sandbox/credit-cards/pay")
        .await
        .problem(405, "METHOD_NOT_ALLOWED");
    pgm.get("/nothing/here/at/all")
        .await
        .problem(404, "ROUTE_NOT_FOUND");

    // None of it left a trace.
    pgm.get("/sandbox/status?shopTransactionId=b-1")
        .await
        .problem(404, "PAYMENT_NOT_FOUND");
    assert!(pgm.sandbox_charges("b-1").await.is_empty());
}

#[tokio::test]
async fn bad_refunds_checks_and_sessions_are_4xx_problems() {
    let pgm = TestServer::start(&[]).await;
    pgm.pay("b-paid", "10.00", "tok_ok").await;
    let refund = "/sandbox/credit-cards/refund";
    pgm.post(refund, &json!({"amount": "1.00"}))
        .await
        .problem(400, "VALIDATION_FAILED");
    pgm.post(
        refund,
        &json!({"shopTransactionID": "b-paid", "amount": "1.001"}),
    )
    .await
    .problem(400, "VALIDATION_FAILED");
    pgm.post(
        refund,
        &json!({"shopTransactionID": "b-paid", "amount": "0"}),
    )
    .await
    .problem(400, "VALIDATION_FAILED");
    pgm.post(
        refund,
        &json!({"shopTransactionID": "b-paid", "amount": "-1"}),
    )
    .await
    .problem(400, "VALIDATION_FAILED");
    pgm.post(
        refund,
        &json!({"shopTransactionID": "b-none", "amount": "1.00"}),
    )
    .await
    .problem(404, "PAYMENT_NOT_FOUND");
    pgm.post(
        refund,
        &json!({"shopTransactionID": "b-paid", "amount": "10.01"}),
    )
    .await
    .problem(422, "AMOUNT_EXCEEDS_REMAINING");
    pgm.get("/sandbox/status")
        .await
        .problem(400, "VALIDATION_FAILED");
    pgm.get("/sandbox/check?shopTransactionId=")
        .await
        .problem(400, "VALIDATION_FAILED");
    // Both spellings of one query parameter are refused (the document says so), not guessed.
    for query in [
        "shopTransactionId=b-paid&shopTransactionID=b-paid",
        "paymentId=x&paymentID=x",
    ] {
        pgm.get(&format!("/sandbox/status?{query}"))
            .await
            .problem(400, "VALIDATION_FAILED");
    }
    pgm.get("/sandbox/status?shopTransactionId=nope")
        .await
        .problem(404, "PAYMENT_NOT_FOUND");
    pgm.post(
        "/sandbox/session/open",
        &json!({"shopTransactionID": "b-s", "amount": "abc"}),
    )
    .await
    .problem(400, "VALIDATION_FAILED");
    pgm.post("/sandbox/session/confirm", &json!({}))
        .await
        .problem(400, "VALIDATION_FAILED");
    let bad_key = pgm
        .send(
            pgm.client
                .post(format!("{}{refund}", pgm.url))
                .header("idempotency-key", "has space")
                .json(&json!({"shopTransactionID": "b-paid", "amount": "1.00"})),
        )
        .await;
    bad_key.problem(400, "VALIDATION_FAILED");
    // Nothing was refunded by any of it.
    assert_eq!(pgm.status_of("b-paid").await["refundedAmount"], "0.00");
}
