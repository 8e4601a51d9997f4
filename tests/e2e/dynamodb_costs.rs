//! What each operation costs in DynamoDB requests on the happy path, counted on the wire by
//! the store client's `RequestCounter` while the requests go through the app as the Lambda
//! functions serve them (API Gateway / Function URL events). The sandbox's own books stand for
//! the PSP's database and are kept with an uncounted client.

mod aws;

use aws::{
    function_url_event, http_api_event, pay, status, FunctionUrl, HttpFunction, HttpRequest, Stack,
};
use pgm_runtime::{AwsClients, Function, Outbound, Pgm, Profile};
use pgm_store::dynamodb::RequestCounter;
use serde_json::json;
use std::collections::BTreeMap;

fn line(operation: &str, counts: &BTreeMap<String, u64>) -> String {
    format!(
        "{operation:<9} reads {} writes {}  {counts:?}",
        RequestCounter::reads(counts),
        RequestCounter::writes(counts)
    )
}

#[tokio::test]
async fn requests_per_operation_on_the_happy_path() {
    let mut callback_url = FunctionUrl::bind().await;
    let stack = Stack::new(&callback_url.url, &[]).await;
    let counter = RequestCounter::new();
    let clients = AwsClients::load(&stack.env, &Outbound::from_env(&stack.env).unwrap())
        .await
        .count_store_requests(counter.clone());
    let pgm = Pgm::build_with(&stack.env, Profile::Lambda, Some(clients))
        .await
        .expect("the functions start");
    let pay_fn = HttpFunction::from_pgm(&pgm, Function::Pay);
    let callback_fn = HttpFunction::from_pgm(&pgm, Function::Callback);
    let status_fn = HttpFunction::from_pgm(&pgm, Function::Status);
    let refund_fn = HttpFunction::from_pgm(&pgm, Function::Refund);
    callback_url.serve(&callback_fn);
    counter.take(); // table and queue set-up

    let mut report = Vec::new();

    let paid = pay(&pay_fn, "cost-ok", "10.00", "tok_ok").await;
    assert_eq!(paid.json()["result"], "OK", "{}", paid.text());
    let pay_ok = counter.take();
    report.push(line("pay", &pay_ok));

    let paid = pay(&pay_fn, "cost-3ds", "10.00", "tok_3ds").await;
    assert_eq!(paid.json()["result"], "REDIRECT_TO_URL", "{}", paid.text());
    let pay_3ds = counter.take();
    report.push(line("pay (3DS)", &pay_3ds));

    // The buyer approves; the sandbox's signed callback reaches the callback function through
    // its Function URL. Only the callback's requests are on the counted client.
    let redirect = paid.json()["redirectToUrl"]
        .as_str()
        .expect("redirect")
        .to_owned();
    let page = redirect
        .strip_prefix(&callback_url.url)
        .expect("on the callback URL")
        .to_owned();
    // The page itself (a ledger read) is not part of the counted flow: the buyer opened it.
    let shown = callback_fn
        .invoke(&function_url_event(
            &HttpRequest::get(&page),
            callback_url.host(),
        ))
        .await;
    assert_eq!(shown.status, 200, "{}", shown.text());
    counter.take();
    let approved = callback_fn
        .invoke(&function_url_event(
            &HttpRequest::post_form(
                &page,
                &pgm_mocks::sandbox_page::decision_form(&shown.text(), "approve"),
            ),
            callback_url.host(),
        ))
        .await;
    assert_eq!(approved.status, 200);
    assert_eq!(
        callback_url.served(),
        vec![("POST /sandbox/callback".to_owned(), 200)]
    );
    let callback = counter.take();
    report.push(line("callback", &callback));

    let answer = status(&status_fn, "cost-3ds").await;
    assert_eq!(answer.json()["status"], "ACCEPTED", "{}", answer.text());
    let status_counts = counter.take();
    report.push(line("status", &status_counts));

    let refunded = refund_fn
        .invoke(&http_api_event(
            "POST /{provider}/{method}/refund",
            json!({"provider": "sandbox", "method": "credit-cards"}),
            &HttpRequest::post_json(
                "/sandbox/credit-cards/refund",
                &json!({"shopTransactionID": "cost-3ds", "amount": "4.00"}),
            ),
        ))
        .await;
    assert_eq!(refunded.json()["result"], "OK", "{}", refunded.text());
    let refund = counter.take();
    report.push(line("refund", &refund));

    let refunded = refund_fn
        .invoke(&http_api_event(
            "POST /{provider}/{method}/refund",
            json!({"provider": "sandbox", "method": "credit-cards"}),
            &HttpRequest::post_json(
                "/sandbox/credit-cards/refund",
                &json!({"shopTransactionID": "cost-3ds", "amount": "1.00"}),
            )
            .header("Idempotency-Key", "cost-refund-2"),
        ))
        .await;
    assert_eq!(refunded.json()["result"], "OK", "{}", refunded.text());
    let refund_keyed = counter.take();
    report.push(line("refund (Idempotency-Key)", &refund_keyed));

    println!("DynamoDB requests per operation (happy path):");
    for l in &report {
        println!("  {l}");
    }

    // Pay: one conditional put to claim, one transaction to complete; no read.
    for counts in [&pay_ok, &pay_3ds] {
        assert!(RequestCounter::writes(counts) <= 2, "{counts:?}");
        assert_eq!(RequestCounter::reads(counts), 0, "{counts:?}");
    }
    // A settled payment's status is one read and nothing else.
    assert_eq!(
        RequestCounter::writes(&status_counts),
        0,
        "{status_counts:?}"
    );
    assert_eq!(
        RequestCounter::reads(&status_counts),
        1,
        "{status_counts:?}"
    );
    // The callback and the refunds write (and queue) their notification.
    assert!(RequestCounter::writes(&callback) >= 1, "{callback:?}");
    assert!(RequestCounter::writes(&refund) >= 1, "{refund:?}");
}
