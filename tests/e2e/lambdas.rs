//! The Lambda functions against moto's DynamoDB and SQS, invoked with the events AWS sends
//! them: API Gateway HTTP API (payload 2.0) and Function URL events for the HTTP functions,
//! SQS batches for the notifier, EventBridge's scheduled event for the reconciler. Lambda's
//! own parts (the SQS poller deleting what the notifier did not report failed, the Function
//! URL in front of the callback function) are played by the test.

mod aws;

use aws::{
    approve_3ds, finish, function_url_event, http_api_event, invoke_notifier, invoke_reconciler,
    pay, queue_depth, receive, scheduled_event, sqs_event, status, FunctionUrl, HttpFunction,
    HttpRequest, Stack, CALLBACK_SECRET,
};
use pgm_core::signing::verify_timestamped;
use pgm_e2e::Receiver;
use pgm_runtime::ops::{execute, Command};
use pgm_runtime::{AwsClients, Function, Notifier, Outbound, Pgm, Profile};
use serde_json::{json, Value};
use std::time::Duration;

/// `pgm-ops` as an operator runs it against the same deployment (same variables).
async fn ops(stack: &Stack, args: &[&str]) -> Value {
    let env = stack.env_with(&[("PGM_STORE", "dynamodb"), ("PGM_QUEUE", "sqs")]);
    let pgm = Pgm::build(&env, Profile::Local)
        .await
        .expect("pgm-ops starts");
    let command = Command::parse(args).expect("a command");
    execute(&pgm, &command).await.expect("the command succeeds")
}

fn assert_signed(raw: &[u8], signature: Option<&str>) {
    let now = pgm_core::clock::now_ms() / 1000;
    verify_timestamped(
        CALLBACK_SECRET.as_bytes(),
        signature.expect("PGM-Signature header"),
        raw,
        now,
        300,
    )
    .expect("a valid PGM-Signature");
}

#[tokio::test]
async fn pay_3ds_callback_notifier_and_status_through_lambda_events() {
    let receiver = Receiver::start().await;
    let mut callback_url = FunctionUrl::bind().await;
    let stack = Stack::new(
        &callback_url.url,
        &[("PAYMENT_CALLBACK_URL", receiver.url.as_str())],
    )
    .await;
    // Each function builds its own app, as each Lambda does at init.
    let pay_fn = stack.function(Function::Pay).await;
    let callback_fn = stack.function(Function::Callback).await;
    let status_fn = stack.function(Function::Status).await;
    callback_url.serve(&callback_fn);
    let notifier = Notifier::from_env(&stack.env, None)
        .await
        .expect("the notifier starts");
    let sqs = stack.sqs().await;

    // 1. The merchant pays through API Gateway.
    let paid = pay(&pay_fn, "lambda-1", "12.50", "tok_3ds").await;
    assert_eq!(paid.status, 200, "{}", paid.text());
    assert_eq!(paid.header("content-type"), Some("application/json"));
    let paid = paid.json();
    assert_eq!(paid["result"], "REDIRECT_TO_URL", "{paid}");
    let redirect = paid["redirectToUrl"].as_str().expect("redirect").to_owned();
    let page_path = redirect
        .strip_prefix(&callback_url.url)
        .expect("the 3DS page is on the callback function's URL")
        .to_owned();

    // 2. The buyer's browser opens the hosted page on the callback function's URL...
    let page = callback_fn
        .invoke(&function_url_event(
            &HttpRequest::get(&page_path),
            callback_url.host(),
        ))
        .await;
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(page.text().contains("Approve"), "{}", page.text());
    assert!(page.text().contains("12.50"), "{}", page.text());

    // ...and approves (a form POST, which the Function URL hands over base64-encoded). The
    // sandbox then sends its signed callback to PGM_PUBLIC_URL: the same Function URL.
    let approved = callback_fn
        .invoke(&function_url_event(
            &HttpRequest::post_form(
                &page_path,
                &pgm_mocks::sandbox_page::decision_form(&page.text(), "approve"),
            ),
            callback_url.host(),
        ))
        .await;
    assert_eq!(approved.status, 200, "{}", approved.text());
    assert!(approved.text().contains("Payment approved"));
    assert_eq!(
        callback_url.served(),
        vec![("POST /sandbox/callback".to_owned(), 200)],
        "the provider's callback reached the callback function and was accepted"
    );

    // 3. The notification is on the queue, not delivered yet: the notifier delivers it.
    assert!(receiver.for_payment("lambda-1").is_empty());
    let messages = receive(&sqs, &stack.queue_url, Duration::from_secs(10)).await;
    assert_eq!(messages.len(), 1, "one notification queued");
    let answer = invoke_notifier(&notifier, &sqs_event(&messages, &stack.queue_url)).await;
    assert_eq!(answer, json!({"batchItemFailures": []}));
    finish(&sqs, &stack.queue_url, &messages, &answer).await;
    let delivered = receiver.for_payment("lambda-1");
    assert_eq!(delivered.len(), 1);
    assert_signed(&delivered[0].raw, delivered[0].signature.as_deref());
    assert_eq!(delivered[0].body["status"], "ACCEPTED");
    assert_eq!(delivered[0].body["amount"], "12.50");
    assert_eq!(delivered[0].body["paymentID"], paid["paymentID"]);
    assert_eq!(queue_depth(&sqs, &stack.queue_url).await, 0);

    // 4. The merchant asks for the status through API Gateway.
    let answer = status(&status_fn, "lambda-1").await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let body = answer.json();
    assert_eq!(body["status"], "ACCEPTED");
    assert_eq!(body["state"], "CAPTURED");
    assert_eq!(body["capturedAmount"], "12.50");
}

/// The status function makes its SQS client on its first publish (`Pgm::build_for`): a status
/// request that finds a pending payment's outcome at the provider still queues the
/// notification.
#[tokio::test]
async fn a_status_request_that_finds_the_outcome_queues_the_notification() {
    let mut callback_url = FunctionUrl::bind().await;
    let stack = Stack::new(&callback_url.url, &[]).await;
    let pay_fn = stack.function(Function::Pay).await;
    let callback_fn = stack.function(Function::Callback).await;
    let status_fn = stack.function(Function::Status).await;
    let sqs = stack.sqs().await;

    let paid = pay(&pay_fn, "lambda-lost-callback", "7.00", "tok_3ds")
        .await
        .json();
    let redirect = paid["redirectToUrl"].as_str().expect("redirect").to_owned();
    let page_path = redirect
        .strip_prefix(&callback_url.url)
        .expect("the 3DS page is on the callback function's URL")
        .to_owned();
    // The buyer approves on the hosted page, but the sandbox's callback is lost: its URL is
    // served by a function without the callback route.
    callback_url.serve(&status_fn);
    let page = callback_fn
        .invoke(&function_url_event(
            &HttpRequest::get(&page_path),
            callback_url.host(),
        ))
        .await;
    let approved = callback_fn
        .invoke(&function_url_event(
            &HttpRequest::post_form(
                &page_path,
                &pgm_mocks::sandbox_page::decision_form(&page.text(), "approve"),
            ),
            callback_url.host(),
        ))
        .await;
    assert_eq!(approved.status, 200, "{}", approved.text());
    assert_eq!(
        callback_url.served(),
        vec![("POST /sandbox/callback".to_owned(), 404)],
        "the provider's callback did not reach the callback function"
    );
    assert_eq!(queue_depth(&sqs, &stack.queue_url).await, 0);

    // The status function asks the provider, records the outcome and queues the news.
    let answer = status(&status_fn, "lambda-lost-callback").await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json()["status"], "ACCEPTED");
    let messages = receive(&sqs, &stack.queue_url, Duration::from_secs(10)).await;
    assert_eq!(messages.len(), 1, "one notification queued");
}

#[tokio::test]
async fn each_function_serves_only_its_own_routes() {
    let stack = Stack::new("https://abc123.lambda-url.us-east-1.on.aws", &[]).await;
    let pay_fn = stack.function(Function::Pay).await;
    let status_fn = stack.function(Function::Status).await;
    let callback_fn = stack.function(Function::Callback).await;

    // The pay function does not answer a status request, and the other way round.
    let status_on_pay = status(&pay_fn, "nobody").await;
    assert_eq!(status_on_pay.status, 404, "{}", status_on_pay.text());
    assert_eq!(status_on_pay.json()["code"], "ROUTE_NOT_FOUND");
    assert_eq!(
        status_on_pay.header("content-type"),
        Some("application/problem+json")
    );
    let pay_on_status = aws::pay(&status_fn, "nobody", "1.00", "tok_ok").await;
    assert_eq!(pay_on_status.status, 404, "{}", pay_on_status.text());
    let pay_on_callback = aws::pay(&callback_fn, "nobody", "1.00", "tok_ok").await;
    assert_eq!(pay_on_callback.status, 404, "{}", pay_on_callback.text());

    // Each answers its own: an unknown payment's status, the OpenAPI document, a callback
    // without a signature.
    let unknown = status(&status_fn, "nobody").await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["code"], "PAYMENT_NOT_FOUND");
    let openapi = status_fn
        .invoke(&http_api_event(
            "GET /documentation/openapi.json",
            Value::Null,
            &HttpRequest::get("/documentation/openapi.json"),
        ))
        .await;
    assert_eq!(openapi.status, 200);
    assert_eq!(openapi.header("content-type"), Some("application/json"));
    assert!(openapi.json().is_object());
    let unsigned = callback_fn
        .invoke(&function_url_event(
            &HttpRequest::post_json(
                "/sandbox/callback",
                &json!({"chargeId": "sbx_x", "reference": "r", "status": "captured"}),
            ),
            "abc123.lambda-url.us-east-1.on.aws",
        ))
        .await;
    assert_eq!(unsigned.status, 401, "{}", unsigned.text());
    assert_eq!(unsigned.json()["code"], "INVALID_SIGNATURE");
}

#[tokio::test]
async fn a_receiver_that_keeps_failing_ends_in_the_dlq_and_the_redrive_delivers_it() {
    let receiver = Receiver::start().await;
    receiver.answer_with(503);
    let mut callback_url = FunctionUrl::bind().await;
    let stack = Stack::new(
        &callback_url.url,
        &[
            ("PAYMENT_CALLBACK_URL", receiver.url.as_str()),
            // Two tries: the first, and one retry a second later.
            ("PGM_NOTIFY_RETRY_SCHEDULE", "1s"),
        ],
    )
    .await;
    // The queues as the template makes them, except a one-second visibility timeout, so that
    // the message comes back after its last try within the test instead of after minutes.
    let sqs = stack.sqs().await;
    let schedule = pgm_notify::RetrySchedule::parse("test", "1s").expect("schedule");
    pgm_notify::sqs::create_queues_if_missing(
        &sqs,
        &stack.queue_url,
        &stack.dlq_url,
        1,
        pgm_notify::sqs::max_receive_count(&schedule),
    )
    .await
    .expect("queues");
    let pay_fn = stack.function(Function::Pay).await;
    let callback_fn = stack.function(Function::Callback).await;
    callback_url.serve(&callback_fn);
    let notifier = Notifier::from_env(&stack.env, None)
        .await
        .expect("the notifier starts");

    let paid = pay(&pay_fn, "lambda-dlq", "3.00", "tok_3ds").await.json();
    let redirect = paid["redirectToUrl"].as_str().expect("redirect");
    assert_eq!(approve_3ds(&callback_url, redirect).await, 200);

    // Lambda's poller: every batch goes to the notifier until the queue has nothing more.
    let mut batches = 0;
    loop {
        let messages = receive(&sqs, &stack.queue_url, Duration::from_secs(4)).await;
        if messages.is_empty() {
            break;
        }
        batches += 1;
        assert!(
            batches <= 5,
            "the message should have left the queue by now"
        );
        let answer = invoke_notifier(&notifier, &sqs_event(&messages, &stack.queue_url)).await;
        let failed = finish(&sqs, &stack.queue_url, &messages, &answer).await;
        assert_eq!(failed.len(), 1, "an undelivered message is reported failed");
    }
    assert_eq!(receiver.for_payment("lambda-dlq").len(), 2, "two tries");
    assert_eq!(queue_depth(&sqs, &stack.queue_url).await, 0);
    assert_eq!(
        queue_depth(&sqs, &stack.dlq_url).await,
        1,
        "after its last try the message is in the dead-letter queue"
    );

    // The merchant's endpoint is fixed; the operator redrives.
    receiver.answer_with(200);
    let redriven = ops(&stack, &["redrive"]).await;
    assert_eq!(
        redriven,
        json!({"redriven": 1, "from": "dead-letter queue"})
    );
    assert_eq!(queue_depth(&sqs, &stack.dlq_url).await, 0);
    let messages = receive(&sqs, &stack.queue_url, Duration::from_secs(10)).await;
    assert_eq!(messages.len(), 1);
    let answer = invoke_notifier(&notifier, &sqs_event(&messages, &stack.queue_url)).await;
    assert_eq!(answer, json!({"batchItemFailures": []}));
    finish(&sqs, &stack.queue_url, &messages, &answer).await;
    let tries = receiver.for_payment("lambda-dlq");
    assert_eq!(tries.len(), 3);
    assert_eq!(tries[2].body["status"], "ACCEPTED");
    assert_eq!(tries[2].body["eventId"], tries[0].body["eventId"]);
    assert_signed(&tries[2].raw, tries[2].signature.as_deref());
    assert_eq!(queue_depth(&sqs, &stack.queue_url).await, 0);
}

#[tokio::test]
async fn a_notification_committed_while_the_queue_is_unreachable_goes_out_after_the_reconciler_runs(
) {
    let receiver = Receiver::start().await;
    let mut callback_url = FunctionUrl::bind().await;
    let stack = Stack::new(
        &callback_url.url,
        &[
            ("PAYMENT_CALLBACK_URL", receiver.url.as_str()),
            ("PGM_RESEND_AFTER_SECONDS", "1"),
        ],
    )
    .await;
    let pay_fn = stack.function(Function::Pay).await; // creates the table and the queues
    let sqs = stack.sqs().await;

    // The callback function's SQS endpoint is a closed port: every publish fails.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut clients = AwsClients::load(&stack.env, &Outbound::from_env(&stack.env).unwrap()).await;
    clients.sqs = aws_sdk_sqs::Client::from_conf(
        clients
            .sqs
            .config()
            .to_builder()
            .endpoint_url(format!("http://127.0.0.1:{closed}"))
            .build(),
    );
    let env = stack.env_with(&[("PGM_CREATE_RESOURCES", "0")]);
    let pgm = Pgm::build_with(&env, Profile::Lambda, Some(clients))
        .await
        .expect("the callback function starts");
    let callback_fn = HttpFunction::from_pgm(&pgm, Function::Callback);
    callback_url.serve(&callback_fn);

    let paid = pay(&pay_fn, "lambda-stuck", "8.00", "tok_3ds").await.json();
    let redirect = paid["redirectToUrl"].as_str().expect("redirect");
    assert_eq!(approve_3ds(&callback_url, redirect).await, 200);
    assert!(
        callback_url
            .served()
            .contains(&("POST /sandbox/callback".to_owned(), 200)),
        "the callback is recorded even though the queue is down: {:?}",
        callback_url.served()
    );
    assert_eq!(queue_depth(&sqs, &stack.queue_url).await, 0);
    let inspected = ops(&stack, &["inspect", "lambda-stuck"]).await;
    assert_eq!(inspected["payment"]["state"], "CAPTURED", "{inspected}");
    let outbox = inspected["outbox"].as_array().expect("outbox entries");
    assert_eq!(outbox.len(), 1, "{inspected}");
    assert_eq!(outbox[0]["event"]["eventType"], "payment.succeeded");

    // The scheduled reconciler (a working queue) hands it to SQS once it is overdue.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let reconciler = Pgm::build(&stack.env, Profile::Lambda)
        .await
        .expect("the reconciler starts")
        .reconciler();
    let report = invoke_reconciler(&reconciler, &scheduled_event()).await;
    assert_eq!(report["resent"], 1, "{report}");

    let notifier = Notifier::from_env(&stack.env, None)
        .await
        .expect("the notifier starts");
    let messages = receive(&sqs, &stack.queue_url, Duration::from_secs(10)).await;
    assert_eq!(messages.len(), 1);
    let answer = invoke_notifier(&notifier, &sqs_event(&messages, &stack.queue_url)).await;
    assert_eq!(answer, json!({"batchItemFailures": []}));
    finish(&sqs, &stack.queue_url, &messages, &answer).await;
    let delivered = receiver.for_payment("lambda-stuck");
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].body["status"], "ACCEPTED");
    assert_eq!(
        delivered[0].body["eventId"], outbox[0]["event"]["eventId"],
        "the entry that was stuck is the one delivered"
    );
    let inspected = ops(&stack, &["inspect", "lambda-stuck"]).await;
    assert_eq!(inspected["outbox"], json!([]), "{inspected}");

    // A second pass finds nothing more to send.
    let report = invoke_reconciler(&reconciler, &scheduled_event()).await;
    assert_eq!(report["resent"], 0, "{report}");
}

/// The Lambda binaries are built from their own packages (`cargo lambda build -p pgm-<name>`,
/// or SAM from the function's directory): none of them may pull in SQLite.
#[test]
fn no_lambda_function_links_sqlite() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
    for function in [
        "pay",
        "refund",
        "confirm",
        "callback",
        "check",
        "status",
        "session",
        "notifier",
        "reconciler",
    ] {
        let output = std::process::Command::new(&cargo)
            .args(["tree", "--offline", "--manifest-path", manifest])
            .args(["-p", &format!("pgm-{function}"), "-e", "normal,build"])
            .args(["--prefix", "none"])
            .output()
            .expect("cargo tree runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let tree = String::from_utf8_lossy(&output.stdout);
        assert!(tree.contains("pgm-runtime"), "pgm-{function}: {tree}");
        assert!(tree.contains("aws-sdk-dynamodb"), "pgm-{function}: {tree}");
        assert!(
            !tree
                .lines()
                .any(|l| l.starts_with("rusqlite") || l.starts_with("libsqlite3-sys")),
            "pgm-{function} links SQLite:\n{tree}"
        );
    }
}
