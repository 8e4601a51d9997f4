//! Every sandbox token and every route, over HTTP against a running PGM.

use pgm_core::signing::sign_timestamped;
use pgm_e2e::{eventually, Receiver, TestServer, SANDBOX_SECRET};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn each_token_gives_its_documented_result() {
    let pgm = TestServer::start(&[]).await;

    let ok = pgm.pay("t-ok", "5.00", "tok_ok").await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.json()["result"], "OK");
    assert!(ok.json()["paymentID"].as_str().unwrap().starts_with("sbx_"));
    assert_eq!(pgm.status_of("t-ok").await["status"], "ACCEPTED");

    let ko = pgm.pay("t-ko", "5.00", "tok_ko").await.json();
    assert_eq!(ko["result"], "KO");
    assert_eq!(pgm.status_of("t-ko").await["status"], "FAILED");

    let three_ds = pgm.pay("t-3ds", "5.00", "tok_3ds").await.json();
    assert_eq!(three_ds["result"], "REDIRECT_TO_URL");
    let url = three_ds["redirectToUrl"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/sandbox/3ds/sbx_", pgm.url)),
        "{url}"
    );
    assert_eq!(pgm.status_of("t-3ds").await["status"], "PENDING");

    let unknown = pgm.pay("t-unknown", "5.00", "4111111111111111").await;
    assert_eq!(unknown.json()["result"], "KO");
    assert!(unknown.json()["resultDescription"]
        .as_str()
        .unwrap()
        .contains("Unknown sandbox card token"));
    assert!(
        !unknown.text.contains("4111111111111111"),
        "the token must not be echoed"
    );
}

#[tokio::test]
async fn pending_payments_settle_on_check_and_notify() {
    let receiver = Receiver::start().await;
    let pgm = TestServer::start(&[("PAYMENT_CALLBACK_URL", &receiver.url)]).await;

    let pending = pgm.pay("t-pending", "7.50", "tok_pending").await.json();
    assert_eq!(pending["result"], "PENDING");
    let payment_id = pending["paymentID"].as_str().unwrap().to_owned();

    let checked = pgm
        .get(&format!("/sandbox/check?paymentId={payment_id}"))
        .await;
    assert_eq!(checked.status, 200, "{}", checked.text);
    assert_eq!(checked.json()["status"], "ACCEPTED");
    assert!(
        eventually(Duration::from_secs(5), || async {
            receiver.for_payment("t-pending").len() == 1
        })
        .await
    );
    let n = &receiver.for_payment("t-pending")[0].body;
    assert_eq!(n["isSuccessful"], true);
    assert_eq!(n["paymentID"], payment_id.as_str());
    assert_eq!(n["eventType"], "payment.succeeded");
    assert_eq!(n["amount"], "7.50");

    // A second check changes nothing and notifies nothing more.
    pgm.get("/sandbox/check?shopTransactionId=t-pending").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.for_payment("t-pending").len(), 1);
}

#[tokio::test]
async fn an_unavailable_provider_leaves_the_payment_pending_until_checked() {
    let pgm = TestServer::start(&[]).await;
    let answer = pgm.pay("t-down", "5.00", "tok_unavailable").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json()["result"], "PENDING");
    assert!(
        pgm.sandbox_charges("t-down").await.is_empty(),
        "nothing was charged"
    );
    // The provider never saw it: asking it settles the payment as failed.
    let checked = pgm
        .get("/sandbox/check?shopTransactionId=t-down")
        .await
        .json();
    assert_eq!(checked["status"], "FAILED");
}

#[tokio::test]
async fn three_ds_decided_on_the_hosted_page_completes_through_a_signed_callback() {
    let receiver = Receiver::start().await;
    let pgm = TestServer::start(&[("PAYMENT_CALLBACK_URL", &receiver.url)]).await;
    for (id, decision, status, successful) in [
        ("t-3ds-yes", "approve", "ACCEPTED", true),
        ("t-3ds-no", "decline", "FAILED", false),
    ] {
        let pay = pgm.pay(id, "12.00", "tok_3ds").await.json();
        let page_url = pay["redirectToUrl"].as_str().unwrap().to_owned();
        let page = pgm
            .client
            .get(&page_url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("id=\"approve\"") && page.contains("id=\"decline\""),
            "{page}"
        );
        assert!(page.contains("12.00 EUR"));
        // Submit the form the way the browser does, with the page's own token.
        let form = pgm_mocks::sandbox_page::decision_form(&page, decision);
        let submit = || {
            pgm.client
                .post(&page_url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form.clone())
                .send()
        };
        let result = submit().await.unwrap();
        assert_eq!(result.status(), 200);
        assert_eq!(pgm.status_of(id).await["status"], status);
        assert!(
            eventually(Duration::from_secs(5), || async {
                receiver.for_payment(id).len() == 1
            })
            .await
        );
        assert_eq!(receiver.for_payment(id)[0].body["isSuccessful"], successful);
        // Deciding again (the same form, its token used) changes nothing.
        submit().await.unwrap();
        assert_eq!(pgm.status_of(id).await["status"], status);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.received().len(),
        2,
        "exactly one notification per payment"
    );
}

fn signed_post_callback(
    charge_id: &str,
    reference: &str,
    status: &str,
    secret: &str,
    t: i64,
) -> (String, Vec<u8>) {
    let body = serde_json::to_vec(
        &json!({"chargeId": charge_id, "reference": reference, "status": status}),
    )
    .unwrap();
    (sign_timestamped(secret.as_bytes(), t, &body), body)
}

#[tokio::test]
async fn forged_or_stale_callbacks_are_refused_and_change_nothing() {
    let pgm = TestServer::start(&[]).await;
    let pay = pgm.pay("t-cb", "5.00", "tok_3ds").await.json();
    let charge_id = pay["paymentID"].as_str().unwrap().to_owned();
    let now = pgm_core::clock::now_ms() / 1000;

    let post = |signature: String, body: Vec<u8>| {
        pgm.send(
            pgm.client
                .post(format!("{}/sandbox/callback", pgm.url))
                .header("sandbox-signature", signature)
                .header("content-type", "application/json")
                .body(body),
        )
    };
    let (sig, body) = signed_post_callback(&charge_id, "t-cb", "CAPTURED", "wrong-secret", now);
    post(sig, body).await.problem(401, "INVALID_SIGNATURE");
    let (sig, body) =
        signed_post_callback(&charge_id, "t-cb", "CAPTURED", SANDBOX_SECRET, now - 301);
    post(sig, body).await.problem(401, "INVALID_SIGNATURE");
    let (sig, _) = signed_post_callback(&charge_id, "t-cb", "DECLINED", SANDBOX_SECRET, now);
    let (_, tampered) = signed_post_callback(&charge_id, "t-cb", "CAPTURED", SANDBOX_SECRET, now);
    post(sig, tampered).await.problem(401, "INVALID_SIGNATURE");
    let unsigned = pgm
        .get(&format!(
            "/sandbox/callback?chargeId={charge_id}&reference=t-cb&status=CAPTURED"
        ))
        .await;
    unsigned.problem(401, "INVALID_SIGNATURE");
    assert_eq!(pgm.status_of("t-cb").await["status"], "PENDING");

    // A valid GET callback (query signed up to `&v1=`) is believed.
    let signed = format!("chargeId={charge_id}&reference=t-cb&status=CAPTURED&t={now}");
    let v1 = sign_timestamped(SANDBOX_SECRET.as_bytes(), now, signed.as_bytes());
    let v1 = v1.split(",v1=").nth(1).unwrap();
    let ok = pgm
        .get(&format!("/sandbox/callback?{signed}&v1={v1}"))
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(pgm.status_of("t-cb").await["status"], "ACCEPTED");

    // A signed callback about a payment we do not know is a 404, not a 5xx.
    let (sig, body) = signed_post_callback("sbx_nope", "nope", "CAPTURED", SANDBOX_SECRET, now);
    post(sig, body).await.problem(404, "PAYMENT_NOT_FOUND");
}

/// `captureMethod: "manual"` holds for every token: approved at once, after 3DS, or when a
/// pending charge settles, the payment is authorised only, and `/confirm` captures it.
#[tokio::test]
async fn manual_capture_holds_for_every_token() {
    let pgm = TestServer::start(&[]).await;
    for (id, token) in [
        ("t-man-ok", "tok_ok"),
        ("t-man-3ds", "tok_3ds"),
        ("t-man-pending", "tok_pending"),
    ] {
        let body = json!({"amount": "10.00", "shopTransactionID": id, "creditCardToken": token,
                          "providerData": {"captureMethod": "manual"}});
        let pay = pgm.post("/sandbox/credit-cards/pay", &body).await.json();
        if let Some(page) = pay["redirectToUrl"].as_str() {
            assert_eq!(pgm.decide_3ds(page, "approve").await.status, 200);
        }
        let checked = pgm
            .get(&format!("/sandbox/check?shopTransactionId={id}"))
            .await
            .json();
        assert_eq!(checked["state"], "AUTHORIZED", "{token}: {checked}");
        assert_eq!(checked["capturedAmount"], "0.00", "{token}: {checked}");
        let books = pgm.sandbox_charges(id).await;
        assert_eq!(books[0]["status"], "AUTHORIZED", "{token}");
        let confirm = pgm
            .post(
                "/sandbox/credit-cards/confirm",
                &json!({"shopTransactionID": id, "amount": "10.00"}),
            )
            .await;
        assert_eq!(confirm.status, 200, "{token}: {}", confirm.text);
        let captured = pgm.status_of(id).await;
        assert_eq!(captured["state"], "CAPTURED", "{token}: {captured}");
        assert_eq!(captured["capturedAmount"], "10.00", "{token}");
    }
}

#[tokio::test]
async fn pre_authorisation_then_confirm_captures_at_most_the_authorised_amount() {
    let receiver = Receiver::start().await;
    let pgm = TestServer::start(&[
        ("SANDBOX_PRE_AUTHORIZATION", "true"),
        ("PAYMENT_CALLBACK_URL", &receiver.url),
    ])
    .await;
    let pay = pgm.pay("t-auth", "10.00", "tok_ok").await.json();
    assert_eq!(pay["result"], "OK");
    assert_eq!(pgm.status_of("t-auth").await["state"], "AUTHORIZED");
    // Nothing to refund before capture.
    pgm.post(
        "/sandbox/credit-cards/refund",
        &json!({"shopTransactionID": "t-auth", "amount": "1.00"}),
    )
    .await
    .problem(409, "INVALID_PAYMENT_STATE");
    pgm.post(
        "/sandbox/credit-cards/confirm",
        &json!({"shopTransactionID": "t-auth", "amount": "10.01"}),
    )
    .await
    .problem(422, "AMOUNT_EXCEEDS_REMAINING");
    let confirm = pgm
        .post(
            "/sandbox/credit-cards/confirm",
            &json!({"shopTransactionID": "t-auth", "amount": "8.00"}),
        )
        .await;
    assert_eq!(confirm.status, 200, "{}", confirm.text);
    assert_eq!(confirm.json()["result"], "OK");
    assert_eq!(confirm.json()["capturedAmount"], "8.00");
    let status = pgm.status_of("t-auth").await;
    assert_eq!(
        (status["state"].as_str(), status["capturedAmount"].as_str()),
        (Some("CAPTURED"), Some("8.00"))
    );
    pgm.post(
        "/sandbox/credit-cards/confirm",
        &json!({"shopTransactionID": "t-auth"}),
    )
    .await
    .problem(409, "INVALID_PAYMENT_STATE");
    // Refunds are bounded by the captured amount, not the authorised one.
    pgm.post(
        "/sandbox/credit-cards/refund",
        &json!({"shopTransactionID": "t-auth", "amount": "9.00"}),
    )
    .await
    .problem(422, "AMOUNT_EXCEEDS_REMAINING");
    let full = pgm
        .post(
            "/sandbox/credit-cards/refund",
            &json!({"shopTransactionID": "t-auth"}),
        )
        .await
        .json();
    assert_eq!(
        (
            full["result"].as_str(),
            full["refundedAmount"].as_str(),
            full["remainingAmount"].as_str()
        ),
        (Some("OK"), Some("8.00"), Some("0.00"))
    );
    let charges = pgm.sandbox_charges("t-auth").await;
    assert_eq!(charges[0]["captured_minor"], 800);
    assert!(
        eventually(Duration::from_secs(5), || async {
            receiver.for_payment("t-auth").len() == 2
        })
        .await
    );
    let types: Vec<_> = receiver
        .for_payment("t-auth")
        .iter()
        .map(|n| n.body["eventType"].clone())
        .collect();
    assert!(
        types.contains(&json!("payment.captured")) && types.contains(&json!("refund.succeeded")),
        "{types:?}"
    );
}

#[tokio::test]
async fn recurrent_payments_charge_later_instalments_against_the_token() {
    let pgm = TestServer::start(&[]).await;
    let first = pgm
        .post(
            "/sandbox/credit-cards/pay/recurrent",
            &json!({"amount": "0", "shopTransactionID": "t-rec-1", "creditCardToken": "tok_ok",
                    "recurrenceDetails": {"isFirstInstallment": true, "installmentFrequencyInDays": 30}}),
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.text);
    let token = first.json()["recurrenceToken"]
        .as_str()
        .expect("a recurrence token")
        .to_owned();
    let second = pgm
        .post(
            "/sandbox/credit-cards/pay/recurrent",
            &json!({"amount": "9.99", "shopTransactionID": "t-rec-2",
                    "recurrenceDetails": {"isFirstInstallment": false, "recurrenceToken": token}}),
        )
        .await
        .json();
    assert_eq!(second["result"], "OK");
    let bogus = pgm
        .post(
            "/sandbox/credit-cards/pay/recurrent",
            &json!({"amount": "9.99", "shopTransactionID": "t-rec-3",
                    "recurrenceDetails": {"isFirstInstallment": false, "recurrenceToken": "rtok_sbx_nothing"}}),
        )
        .await
        .json();
    assert_eq!(bogus["result"], "KO");
    pgm.post(
        "/sandbox/credit-cards/pay/recurrent",
        &json!({"amount": "1.00", "shopTransactionID": "t-rec-4"}),
    )
    .await
    .problem(400, "VALIDATION_FAILED");
}

#[tokio::test]
async fn all_five_session_routes_work() {
    let pgm = TestServer::start(&[]).await;
    let open = pgm
        .post(
            "/sandbox/session/open",
            &json!({"shopTransactionID": "t-sess", "amount": "20.00", "currency": "EUR"}),
        )
        .await;
    assert_eq!(open.status, 200, "{}", open.text);
    let token = open.json()["sessionToken"].as_str().unwrap().to_owned();
    let check = pgm
        .post("/sandbox/session/check", &json!({"sessionToken": token}))
        .await
        .json();
    assert_eq!(check["status"], "ACCEPTED");
    let confirm = pgm
        .post(
            "/sandbox/session/confirm",
            &json!({"sessionToken": token, "amount": "20.00"}),
        )
        .await
        .json();
    assert_eq!(confirm["result"], "OK");
    let refund = pgm
        .post(
            "/sandbox/session/refund",
            &json!({"sessionToken": token, "amount": "5.00"}),
        )
        .await
        .json();
    assert_eq!(refund["result"], "OK");
    pgm.post(
        "/sandbox/session/refund",
        &json!({"sessionToken": token, "amount": "15.01"}),
    )
    .await
    .problem(422, "AMOUNT_EXCEEDS_REMAINING");
    pgm.post("/sandbox/session/void", &json!({"sessionToken": token}))
        .await
        .problem(409, "INVALID_PAYMENT_STATE");

    let other = pgm
        .post(
            "/sandbox/session/open",
            &json!({"shopTransactionID": "t-sess-2", "amount": "3.00"}),
        )
        .await
        .json();
    let token2 = other["sessionToken"].as_str().unwrap();
    let void = pgm
        .post("/sandbox/session/void", &json!({"sessionToken": token2}))
        .await
        .json();
    assert_eq!(
        (void["result"].as_str(), void["status"].as_str()),
        (Some("OK"), Some("FAILED"))
    );
    pgm.post(
        "/sandbox/session/check",
        &json!({"sessionToken": "sbx_unknown"}),
    )
    .await
    .problem(404, "PAYMENT_NOT_FOUND");
}

#[tokio::test]
async fn merchant_routes_need_the_api_key_when_one_is_set() {
    let pgm = TestServer::start(&[("PGM_API_KEY", "key_merchant_1")]).await;
    pgm.pay("t-auth-1", "5.00", "tok_ok")
        .await
        .problem(401, "UNAUTHORIZED");
    let wrong = pgm
        .send(
            pgm.client
                .get(format!("{}/sandbox/status?shopTransactionId=x", pgm.url))
                .bearer_auth("nope"),
        )
        .await;
    wrong.problem(401, "UNAUTHORIZED");
    let ok = pgm
        .send(
            pgm.client
                .post(format!("{}/sandbox/credit-cards/pay", pgm.url))
                .bearer_auth("key_merchant_1")
                .json(&json!({"amount": "5.00", "shopTransactionID": "t-auth-1", "creditCardToken": "tok_ok"})),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    // The webhook and the OpenAPI document are not behind the merchant key.
    assert_eq!(pgm.get("/documentation/openapi.json").await.status, 200);
    pgm.post("/sandbox/callback", &json!({}))
        .await
        .problem(401, "INVALID_SIGNATURE");
}
