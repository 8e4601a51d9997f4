//! The sandbox's hosted pages as an attacker sees them: the 3DS page's form needs the page's
//! own token (no cross-site or scripted decision), the page cannot be framed and loads nothing
//! from elsewhere, the books are the merchant's only, and every refusal is problem+json.

use pgm_e2e::{Receiver, TestServer};
use std::time::Duration;

const FORM: &str = "application/x-www-form-urlencoded";

async fn three_ds(pgm: &TestServer, id: &str) -> String {
    let pay = pgm.pay(id, "9.00", "tok_3ds").await.json();
    pay["redirectToUrl"]
        .as_str()
        .expect("a redirect")
        .to_owned()
}

async fn post_form(pgm: &TestServer, url: &str, body: &str) -> pgm_e2e::Answer {
    pgm.send(
        pgm.client
            .post(url)
            .header("content-type", FORM)
            .body(body.to_owned()),
    )
    .await
}

#[tokio::test]
async fn a_decision_without_the_pages_token_is_refused_and_settles_nothing() {
    let receiver = Receiver::start().await;
    let pgm = TestServer::start(&[("PAYMENT_CALLBACK_URL", &receiver.url)]).await;
    let url = three_ds(&pgm, "hp-csrf").await;
    let other = three_ds(&pgm, "hp-csrf-other").await;
    let other_page = pgm.send(pgm.client.get(&other)).await;
    let other_token = pgm_mocks::sandbox_page::page_token(&other_page.text)
        .expect("a token")
        .to_owned();

    for body in [
        "decision=decline".to_owned(),
        "decision=decline&pageToken=".to_owned(),
        "decision=decline&pageToken=123.abc.def".to_owned(),
        // A real token, but another payment's page.
        format!("decision=decline&pageToken={other_token}"),
    ] {
        post_form(&pgm, &url, &body)
            .await
            .problem(403, "INVALID_PAGE_TOKEN");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(pgm.status_of("hp-csrf").await["status"], "PENDING");
    assert!(receiver.for_payment("hp-csrf").is_empty());

    // With the page's own token, the buyer's decision goes through, once.
    let page = pgm.send(pgm.client.get(&url)).await;
    let form = pgm_mocks::sandbox_page::decision_form(&page.text, "decline");
    assert_eq!(post_form(&pgm, &url, &form).await.status, 200);
    assert_eq!(pgm.status_of("hp-csrf").await["status"], "FAILED");
    let approve = form.replace("decision=decline", "decision=approve");
    let again = post_form(&pgm, &url, &approve).await;
    assert!(again.text.contains("Already decided"), "{}", again.text);
    assert_eq!(pgm.status_of("hp-csrf").await["status"], "FAILED");
}

#[tokio::test]
async fn the_page_forbids_framing_and_foreign_content() {
    let pgm = TestServer::start(&[]).await;
    let url = three_ds(&pgm, "hp-headers").await;
    let page = pgm.send(pgm.client.get(&url)).await;
    assert_eq!(page.status, 200);
    let csp = page.header("content-security-policy").expect("a CSP");
    for directive in [
        "default-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert_eq!(page.header("cache-control"), Some("no-store"));
    // Refusals carry the headers too.
    let refused = post_form(&pgm, &url, "decision=approve").await;
    assert_eq!(refused.header("x-frame-options"), Some("DENY"));
}

#[tokio::test]
async fn the_hosted_routes_answer_errors_as_problems() {
    let pgm = TestServer::start(&[]).await;
    let url = three_ds(&pgm, "hp-problems").await;
    let page = pgm.send(pgm.client.get(&url)).await;
    let token = pgm_mocks::sandbox_page::page_token(&page.text)
        .expect("a token")
        .to_owned();

    let no_decision = post_form(&pgm, &url, &format!("pageToken={token}")).await;
    assert_eq!(
        no_decision.problem(400, "VALIDATION_FAILED")["field"],
        "decision"
    );
    let json = pgm
        .send(
            pgm.client
                .post(&url)
                .json(&serde_json::json!({"decision": "approve", "pageToken": token})),
        )
        .await;
    json.problem(415, "UNSUPPORTED_MEDIA_TYPE");
    let unknown = format!("{}/sandbox/3ds/sbx_nope", pgm.url);
    pgm.send(pgm.client.get(&unknown))
        .await
        .problem(404, "PAYMENT_NOT_FOUND");
    let no_reference = pgm.get("/sandbox/charges").await;
    assert_eq!(
        no_reference.problem(400, "VALIDATION_FAILED")["field"],
        "reference"
    );
    assert_eq!(pgm.status_of("hp-problems").await["status"], "PENDING");
}

#[tokio::test]
async fn the_sandbox_books_need_the_merchant_key() {
    let key = "key_books_1";
    let pgm = TestServer::start(&[("PGM_API_KEY", key)]).await;
    let paid = pgm
        .send(
            pgm.client
                .post(format!("{}/sandbox/credit-cards/pay", pgm.url))
                .bearer_auth(key)
                .json(&serde_json::json!({"amount": "3.00", "shopTransactionID": "hp-books", "creditCardToken": "tok_ok"})),
        )
        .await;
    assert_eq!(paid.status, 200, "{}", paid.text);

    let books = format!("{}/sandbox/charges?reference=hp-books", pgm.url);
    let anonymous = pgm.send(pgm.client.get(&books)).await;
    anonymous.problem(401, "UNAUTHORIZED");
    assert_eq!(anonymous.header("www-authenticate"), Some("Bearer"));
    pgm.send(pgm.client.get(&books).bearer_auth("wrong"))
        .await
        .problem(401, "UNAUTHORIZED");
    let charges = pgm.sandbox_charges("hp-books").await;
    assert_eq!(charges.len(), 1);
}
