//! `pgm-local` on the AWS backend (`PGM_STORE=dynamodb`, `PGM_QUEUE=sqs`, against moto): the
//! same notifier and reconciler code the Lambdas run, in-process. The notifier polls the queue
//! and feeds each batch to the batch handler.

mod aws;

use aws::Stack;
use pgm_e2e::{eventually, Receiver, TestServer};
use std::time::Duration;

#[tokio::test]
async fn pgm_local_on_dynamodb_and_sqs_notifies_through_the_queue() {
    let receiver = Receiver::start().await;
    // The stack's variables (table, queues, AWS endpoint); TestServer sets the public URL.
    let stack = Stack::new("http://placeholder.invalid", &[]).await;
    let mut extra = stack.pgm_local_env();
    extra.push(("PAYMENT_CALLBACK_URL".into(), receiver.url.clone()));
    let extra: Vec<(&str, &str)> = extra
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let pgm = TestServer::start(&extra).await;

    let paid = pgm.pay("local-aws-1", "7.00", "tok_3ds").await.json();
    let redirect = paid["redirectToUrl"].as_str().expect("redirect").to_owned();
    let approved = pgm.decide_3ds(&redirect, "approve").await;
    assert_eq!(approved.status, 200, "{}", approved.text);
    assert!(
        eventually(Duration::from_secs(15), || async {
            receiver.for_payment("local-aws-1").len() == 1
        })
        .await,
        "the in-process notifier delivers from the queue"
    );
    assert_eq!(
        receiver.for_payment("local-aws-1")[0].body["status"],
        "ACCEPTED"
    );
    assert_eq!(pgm.status_of("local-aws-1").await["status"], "ACCEPTED");
    let sqs = stack.sqs().await;
    assert!(
        eventually(Duration::from_secs(5), || async {
            aws::queue_depth(&sqs, &stack.queue_url).await == 0
        })
        .await,
        "the delivered message is deleted from the queue"
    );
}
