//! Figure 4, DynamoDB requests per operation on the happy path, and SQS requests per notification,
//! counted on the wire between each Lambda binary and moto.

use crate::aws_proxy::Counts;
use crate::deployment::{Deployed, Stage};
use crate::events::{self, HttpAnswer, HttpRequest};
use crate::sqs_poller;
use crate::Bench;
use serde_json::{json, Value};

const READS: &[&str] = &[
    "GetItem",
    "BatchGetItem",
    "Query",
    "Scan",
    "TransactGetItems",
];

struct Row {
    operation: String,
    pgm: Counts,
    provider: Counts,
}

fn list(counts: &Counts, service: &str) -> String {
    let parts: Vec<String> = counts
        .iter()
        .filter(|((s, _), _)| s == service)
        .map(|((_, op), n)| format!("{op} {n}"))
        .collect();
    if parts.is_empty() {
        "—".into()
    } else {
        parts.join(", ")
    }
}

fn sum(counts: &Counts, service: &str, reads: Option<bool>) -> u64 {
    counts
        .iter()
        .filter(|((s, op), _)| {
            s == service && reads.is_none_or(|r| READS.contains(&op.as_str()) == r)
        })
        .map(|(_, n)| n)
        .sum()
}

/// Invokes an HTTP function and checks the answer.
async fn http(
    deployed: &Deployed,
    event: &Value,
    ok: impl Fn(&HttpAnswer) -> bool,
) -> Result<HttpAnswer, String> {
    let answer = HttpAnswer::read(&deployed.function.invoke(event).await?);
    if ok(&answer) {
        Ok(answer)
    } else {
        Err(format!(
            "{}: unexpected answer {} {}",
            deployed.function.name, answer.status, answer.text
        ))
    }
}

fn row(operation: &str, deployed: &Deployed) -> Row {
    Row {
        operation: operation.to_owned(),
        pgm: deployed.aws.take(),
        provider: deployed.aws.take_provider(),
    }
}

fn result_is(value: &'static str) -> impl Fn(&HttpAnswer) -> bool {
    move |a| a.status == 200 && a.body["result"] == value
}

pub async fn run(bench: &Bench) -> Result<super::Report, String> {
    let Stage {
        moto,
        receiver,
        mut function_url,
        deployment,
    } = Stage::start(bench, "requests").await?;
    let pay = deployment.deploy("pgm-pay").await?;
    // Two instances of the callback function, as in AWS: one serves the buyer's Approve on the
    // hosted 3DS page, the other the sandbox's signed callback sent meanwhile to its URL.
    let page = deployment.deploy("pgm-callback").await?;
    let callback = deployment.deploy("pgm-callback").await?;
    function_url.serve(callback.function.clone());
    let status = deployment.deploy("pgm-status").await?;
    let refund = deployment.deploy("pgm-refund").await?;
    let confirm = deployment.deploy("pgm-confirm").await?;
    let check = deployment.deploy("pgm-check").await?;
    let session = deployment.deploy("pgm-session").await?;
    let notifier = deployment.deploy("pgm-notifier").await?;
    let reconciler = deployment.deploy("pgm-reconciler").await?;
    let mut rows = Vec::new();

    let paid =
        json!({"amount": "10.00", "shopTransactionID": "rq-ok", "creditCardToken": "tok_ok"});
    http(&pay, &events::pay(&paid), result_is("OK")).await?;
    rows.push(row("pay (approved at once)", &pay));

    let body =
        json!({"amount": "10.00", "shopTransactionID": "rq-3ds", "creditCardToken": "tok_3ds"});
    let redirect = http(&pay, &events::pay(&body), result_is("REDIRECT_TO_URL")).await?;
    rows.push(row("pay (3-D Secure: redirect)", &pay));
    let page_path = redirect.body["redirectToUrl"]
        .as_str()
        .and_then(|url| url.strip_prefix(&function_url.url))
        .ok_or("the 3DS page is not on the callback function's URL")?
        .to_owned();
    // The buyer opens the page first (its form carries the page's token); that read is not
    // part of the Approve row.
    let shown = http(
        &page,
        &events::function_url(&HttpRequest::get(&page_path), function_url.host()),
        |a| a.status == 200,
    )
    .await?;
    page.aws.take();
    page.aws.take_provider();
    let form = pgm_mocks::sandbox_page::decision_form(&shown.text, "approve");
    let approve = HttpRequest::post_form(&page_path, &form);
    http(
        &page,
        &events::function_url(&approve, function_url.host()),
        |a| a.status == 200,
    )
    .await?;
    rows.push(row(
        "sandbox's 3DS page, Approve (the provider's part)",
        &page,
    ));
    rows.push(row("callback (signed, payment captured)", &callback));

    http(&status, &events::observe("status", "rq-3ds"), |a| {
        a.status == 200 && a.body["status"] == "ACCEPTED"
    })
    .await?;
    rows.push(row("status", &status));

    let refund_event = |amount: &str, key: Option<&str>| {
        let mut request = HttpRequest::post_json(
            "/sandbox/credit-cards/refund",
            &json!({"shopTransactionID": "rq-3ds", "amount": amount}),
        );
        if let Some(key) = key {
            request.headers.push(("idempotency-key".into(), key.into()));
        }
        events::http_api(
            "POST /{provider}/{method}/refund",
            json!({"provider": "sandbox", "method": "credit-cards"}),
            &request,
        )
    };
    http(&refund, &refund_event("4.00", None), result_is("OK")).await?;
    rows.push(row("refund (partial)", &refund));
    http(
        &refund,
        &refund_event("1.00", Some("rq-refund-2")),
        result_is("OK"),
    )
    .await?;
    rows.push(row("refund (with Idempotency-Key)", &refund));

    let manual = json!({"amount": "10.00", "shopTransactionID": "rq-manual", "creditCardToken": "tok_ok",
        "providerData": {"captureMethod": "manual"}});
    http(&pay, &events::pay(&manual), result_is("OK")).await?;
    rows.push(row("pay (authorised, manual capture)", &pay));
    let confirm_body = json!({"shopTransactionID": "rq-manual"});
    http(
        &confirm,
        &events::amend("confirm", &confirm_body),
        result_is("OK"),
    )
    .await?;
    rows.push(row("confirm", &confirm));

    http(&check, &events::observe("check", "rq-3ds"), |a| {
        a.status == 200
    })
    .await?;
    rows.push(row("check (nothing new)", &check));

    let opened = http(
        &session,
        &events::session(
            "open",
            &json!({"shopTransactionID": "rq-session", "amount": "20.00"}),
        ),
        |a| a.status == 200 && a.body["sessionToken"].is_string(),
    )
    .await?;
    rows.push(row("session open", &session));
    let token = opened.body["sessionToken"].clone();
    http(
        &session,
        &events::session(
            "confirm",
            &json!({"sessionToken": token, "amount": "20.00"}),
        ),
        |a| a.status == 200,
    )
    .await?;
    rows.push(row("session confirm", &session));

    // Lambda's poller hands the queued notifications to the notifier.
    let client = reqwest::Client::new();
    let arn = sqs_poller::queue_arn(&deployment.queue_url);
    let (mut delivered, mut batches) = (0, 0);
    loop {
        let batch = sqs_poller::receive(&client, &moto, &deployment.queue_url).await?;
        if batch.is_empty() {
            break;
        }
        let answer = notifier
            .function
            .invoke(&events::sqs_batch(&batch, &arn))
            .await?;
        if answer != json!({"batchItemFailures": []}) {
            return Err(format!("notifier: {answer}"));
        }
        delivered +=
            sqs_poller::finish(&client, &moto, &deployment.queue_url, &batch, &answer).await?;
        batches += 1;
    }
    if delivered == 0 || receiver.received() != delivered as u64 {
        return Err(format!(
            "notifier: {delivered} messages, {} deliveries",
            receiver.received()
        ));
    }
    rows.push(row(
        &format!("notifier: {delivered} notifications delivered, {batches} batch(es)"),
        &notifier,
    ));
    // One that the merchant's endpoint refuses: its retry is a visibility change.
    receiver.answer_with(503);
    http(&refund, &refund_event("1.00", None), result_is("OK")).await?;
    refund.aws.take();
    let batch = sqs_poller::receive(&client, &moto, &deployment.queue_url).await?;
    let answer = notifier
        .function
        .invoke(&events::sqs_batch(&batch, &arn))
        .await?;
    if answer["batchItemFailures"].as_array().map(Vec::len) != Some(batch.len()) || batch.is_empty()
    {
        return Err(format!("notifier with a failing receiver: {answer}"));
    }
    rows.push(row("notifier: one notification refused (503)", &notifier));

    reconciler.function.invoke(&events::scheduled()).await?;
    rows.push(row("reconciler pass (nothing due)", &reconciler));

    let mut out = String::new();
    out.push_str("| operation (one Lambda invocation) | DynamoDB requests | reads | writes | SQS requests | sandbox provider's books (stand for the PSP's database) |\n");
    out.push_str("|---|---|---:|---:|---|---|\n");
    for r in &rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            r.operation,
            list(&r.pgm, "DynamoDB"),
            sum(&r.pgm, "DynamoDB", Some(true)),
            sum(&r.pgm, "DynamoDB", Some(false)),
            list(&r.pgm, "SQS"),
            list(&r.provider, "DynamoDB"),
        ));
    }
    let published: u64 = rows.iter().map(|r| sum(&r.pgm, "SQS", None)).sum::<u64>();
    out.push_str(&format!(
        "\nCounted by a proxy between each function's AWS SDK and moto (`X-Amz-Target` of each \
         request, retries included). Requests for the sandbox's own `SBX#…` items are listed \
         apart: a real provider keeps those books at its end. SQS per notification: the \
         function that commits it sends it with one `SendMessageBatch` (up to 10 per commit) \
         then removes it from the outbox (one DynamoDB `DeleteItem` per notification, in the \
         same row); \
         the notifier makes no SQS request for a delivered notification (Lambda deletes it) and \
         one `ChangeMessageVisibility` for a refused one. Lambda's own poller adds a \
         `ReceiveMessage` and a `DeleteMessageBatch` per batch of up to 10 (played here by the \
         bench, not counted above). SQS requests seen from the functions in this run: \
         {published}.\n"
    ));
    Ok(out.into())
}
