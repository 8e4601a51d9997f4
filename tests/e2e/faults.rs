//! Fault injection, on both backends (SQLite + the local delivery loop; DynamoDB + SQS on
//! moto): what the network does to the provider at each step of pay, refund and callback
//! (timeouts, 5xx, connection resets, before or after the provider did the work); the store
//! failing between the provider's answer and the write that records it, and the process
//! crashing there; the merchant's receiver down for a long stretch; the notification queue
//! unreachable.
//!
//! Each scenario shows, against the provider's own books (the Stripe mock's, the sandbox's):
//! no second charge on retry, no refund beyond what was paid, PGM's state converging to the
//! provider's after a check or one reconciliation pass (`pgm-ops reconcile`), and every
//! notification reaching a receiver that dedupes on eventId exactly once.

mod aws;
mod fault_rig;

use fault_rig::{on_both_backends, Backend, Rig};
use pgm_core::PaymentState;
use pgm_e2e::eventually;
use pgm_e2e::faults::{completes_pay, moves_to, settles_refund};
use pgm_mocks::Fault;
use std::time::Duration;

/// A request that outlives `STRIPE_TIMEOUT_MS` (400 ms).
const TIMEOUT: Fault = Fault::Delay(Duration::from_millis(900));

/// Every way the network fails a request: before the provider acts, or after.
const NETWORK_FAULTS: [(Fault, &str); 5] = [
    (Fault::Unavailable, "503"),
    (Fault::ErrorAfterWork, "500-after-work"),
    (Fault::Reset, "reset"),
    (Fault::ResetAfterWork, "reset-after-work"),
    (TIMEOUT, "timeout"),
];

// ---------------------------------------------------------------------------------------------
// pay

#[tokio::test]
async fn a_pay_the_network_lost_is_pending_never_charged_and_settled_by_check() {
    on_both_backends(|backend| async move {
        let rig = Rig::start(backend, &[]).await;
        for (fault, name) in NETWORK_FAULTS {
            let id = format!("pay-{name}");
            rig.stripe.server.faults.push(fault);
            let first = rig.stripe_pay(&id, "15.00").await;
            assert_eq!(first.status, 200, "{backend:?} {name}: {}", first.text);
            assert_eq!(first.json()["result"], "PENDING", "{backend:?} {name}");
            // The merchant retries: the stored answer, and Stripe is not asked again.
            let asked = rig.stripe.requests().len();
            let again = rig.stripe_pay(&id, "15.00").await;
            assert_eq!(again.header("idempotent-replayed"), Some("true"));
            assert_eq!(again.json(), first.json());
            assert_eq!(rig.stripe.requests().len(), asked, "{backend:?} {name}");
            if fault == TIMEOUT {
                // Whatever the slow request still does at Stripe, it is over before the check.
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            // No session id came back: none can be paid (nobody has its URL), so the check
            // settles the payment as failed.
            let checked = rig.check("stripe", &id).await;
            assert_eq!(checked.status, 200, "{backend:?} {name}: {}", checked.text);
            assert_eq!(checked.json()["status"], "FAILED", "{backend:?} {name}");
        }
        assert_eq!(rig.stripe.charges(), 0, "{backend:?}");
        for (_, name) in NETWORK_FAULTS {
            rig.delivered_exactly_once(&format!("pay-{name}"), &["payment.failed"])
                .await;
        }
    })
    .await;
}

#[tokio::test]
async fn a_crash_after_the_provider_charged_is_taken_over_by_the_retry_without_a_second_charge() {
    on_both_backends(|backend| async move {
        let mut rig = Rig::start(backend, &[]).await;
        // The sandbox charges at once; Stripe opens a Checkout Session. Then the process dies
        // before it records the answer.
        rig.faults.crash_at_commit("crash-sbx", completes_pay);
        rig.sandbox_pay("crash-sbx", "10.00", "tok_ok")
            .await
            .problem(503, "STORE_UNAVAILABLE");
        rig.crash();
        rig.restart().await;
        rig.faults.crash_at_commit("crash-st", completes_pay);
        rig.stripe_pay("crash-st", "12.00")
            .await
            .problem(503, "STORE_UNAVAILABLE");
        rig.crash();
        rig.restart().await;
        assert_eq!(rig.faults.failed_commits(), 2);
        let books = rig.sandbox_books("crash-sbx").await;
        assert_eq!(books.len(), 1, "{backend:?}: {books:?}");
        assert_eq!(books[0].status, "CAPTURED");
        assert_eq!(rig.stripe.sessions_created(), 1);

        // The merchant retries the same pay: once the dead request's claim expires, the retry
        // asks the provider before paying.
        let retried = rig
            .retry_while_in_progress(|| rig.sandbox_pay("crash-sbx", "10.00", "tok_ok"))
            .await;
        assert_eq!(retried.status, 200, "{backend:?}: {}", retried.text);
        assert_eq!(retried.json()["result"], "OK", "{}", retried.text);
        assert_eq!(retried.json()["paymentID"], books[0].id.as_str());
        assert_eq!(rig.sandbox_books("crash-sbx").await, books, "{backend:?}");
        let status = rig.status("sandbox", "crash-sbx").await;
        assert_eq!(
            (status["state"].as_str(), status["capturedAmount"].as_str()),
            (Some("CAPTURED"), Some("10.00")),
            "{backend:?}"
        );

        // Stripe: the retry carries the same Idempotency-Key, so Stripe hands back the session
        // it opened for the dead request.
        let retried = rig
            .retry_while_in_progress(|| rig.stripe_pay("crash-st", "12.00"))
            .await;
        assert_eq!(retried.status, 200, "{backend:?}: {}", retried.text);
        assert_eq!(
            retried.json()["result"],
            "REDIRECT_TO_URL",
            "{}",
            retried.text
        );
        assert_eq!(rig.stripe.sessions_created(), 1, "{backend:?}");
        let session = retried.json()["paymentID"].as_str().unwrap().to_owned();
        rig.stripe.complete_session(&session).unwrap();
        let answer = rig
            .stripe_webhook("checkout.session.completed", &session)
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert_eq!(rig.status("stripe", "crash-st").await["state"], "CAPTURED");
        assert_eq!(rig.stripe.charges(), 1);
        assert_eq!(rig.stripe.amount_received(&session), 1200);

        // The sandbox pay was answered OK to the retry: nothing to notify.
        rig.delivered_exactly_once("crash-sbx", &[]).await;
        rig.delivered_exactly_once("crash-st", &["payment.succeeded"])
            .await;
    })
    .await;
}

#[tokio::test]
async fn a_crash_after_the_provider_charged_converges_in_one_reconciliation_pass() {
    on_both_backends(|backend| async move {
        let mut rig = Rig::start(backend, &[]).await;
        rig.faults.crash_at_commit("recon-sbx", completes_pay);
        rig.sandbox_pay("recon-sbx", "8.00", "tok_ok")
            .await
            .problem(503, "STORE_UNAVAILABLE");
        rig.crash();
        // The merchant never retries. The operator's pass, once the payment is stale:
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let report = rig.reconcile_pass().await;
        assert_eq!(report["examined"], 1, "{backend:?}: {report}");
        assert_eq!(report["settled"], 1, "{backend:?}: {report}");
        rig.restart().await;
        let status = rig.status("sandbox", "recon-sbx").await;
        assert_eq!(
            (status["state"].as_str(), status["capturedAmount"].as_str()),
            (Some("CAPTURED"), Some("8.00")),
            "{backend:?}"
        );
        let books = rig.sandbox_books("recon-sbx").await;
        assert_eq!(books.len(), 1, "{backend:?}");
        assert_eq!(books[0].captured_minor, 800);
        rig.delivered_exactly_once("recon-sbx", &["payment.succeeded"])
            .await;

        // A late retry by the merchant is answered with what happened; nothing more is
        // charged or notified.
        let late = rig
            .retry_while_in_progress(|| rig.sandbox_pay("recon-sbx", "8.00", "tok_ok"))
            .await;
        assert_eq!(late.json()["result"], "OK", "{backend:?}: {}", late.text);
        assert_eq!(rig.sandbox_books("recon-sbx").await, books);
        rig.delivered_exactly_once("recon-sbx", &["payment.succeeded"])
            .await;
    })
    .await;
}

/// A pay that died after Stripe opened its Checkout Session leaves no session id behind, and
/// Checkout Sessions cannot be looked up by our reference: nobody has the session's URL, so
/// nothing can be charged. Once the dead request's claim has run out, a check (or the
/// reconciler) settles it failed; a retry of the same pay then replays that answer.
#[tokio::test]
async fn a_crash_after_stripe_opened_its_session_settles_without_a_retry() {
    on_both_backends(|backend| async move {
        let mut rig = Rig::start(backend, &[]).await;
        rig.faults.crash_at_commit("crash-st-recon", completes_pay);
        rig.stripe_pay("crash-st-recon", "12.00")
            .await
            .problem(503, "STORE_UNAVAILABLE");
        rig.crash();
        rig.restart().await;
        // Past the dead request's claim, and stale for the reconciler.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let checked = rig.check("stripe", "crash-st-recon").await;
        assert_eq!(checked.status, 200, "{backend:?}: {}", checked.text);
        let report = rig.reconcile_pass().await;
        assert_eq!(report["unreachable"], 0, "{backend:?}: {report}");
        let status = rig.status("stripe", "crash-st-recon").await;
        assert_ne!(status["state"], "INITIATED", "{backend:?}: {status}");
        assert_eq!(rig.stripe.charges(), 0);
        rig.delivered_exactly_once("crash-st-recon", &["payment.failed"])
            .await;
        let retried = rig.stripe_pay("crash-st-recon", "12.00").await;
        assert_eq!(retried.header("idempotent-replayed"), Some("true"));
        assert_eq!(
            retried.json()["result"],
            "KO",
            "{backend:?}: {}",
            retried.text
        );
    })
    .await;
}

/// The merchant's retry (a takeover, which reopens the same Checkout Session) and a check (which
/// would settle the dead pay as failed) race: whichever claims the payment first wins, and the
/// other never contradicts it. A buyer sent to the session never finds the payment FAILED.
#[tokio::test]
async fn a_retry_and_a_check_racing_over_a_dead_pay_agree() {
    on_both_backends(|backend| async move {
        let mut rig = Rig::start(backend, &[]).await;
        let ids: Vec<String> = (0..4).map(|i| format!("race-{i}")).collect();
        for id in &ids {
            rig.faults.crash_at_commit(id, completes_pay);
        }
        for id in &ids {
            rig.stripe_pay(id, "9.00")
                .await
                .problem(503, "STORE_UNAVAILABLE");
            rig.crash();
            rig.restart().await;
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
        for id in &ids {
            let (retried, checked) =
                tokio::join!(rig.stripe_pay(id, "9.00"), rig.check("stripe", id));
            assert!(checked.status < 500, "{backend:?}: {}", checked.text);
            let result = retried.json()["result"].clone();
            let state = rig.status("stripe", id).await["status"].clone();
            match result.as_str() {
                Some("REDIRECT_TO_URL") => assert_eq!(state, "PENDING", "{backend:?} {id}"),
                Some("KO") => assert_eq!(state, "FAILED", "{backend:?} {id}"),
                other => panic!("{backend:?} {id}: {other:?} {}", retried.text),
            }
        }
        assert_eq!(rig.stripe.charges(), 0);
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// refund

#[tokio::test]
async fn a_refund_the_network_lost_is_retried_with_its_key_and_refunded_once() {
    on_both_backends(|backend| async move {
        let rig = Rig::start(backend, &[]).await;
        let session = rig.stripe_paid("rf-net", "20.00").await;
        for (done, (fault, name)) in NETWORK_FAULTS.into_iter().enumerate() {
            // A refund reads the session, then posts the refund: the post is the one hit.
            rig.stripe.server.faults.push(Fault::Delay(Duration::ZERO));
            rig.stripe.server.faults.push(fault);
            let key = format!("rf-net-{name}");
            let lost = rig
                .refund("stripe", "rf-net", Some("2.00"), Some(&key))
                .await;
            lost.problem(502, "PROVIDER_UNAVAILABLE");
            if fault == TIMEOUT {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            let retried = rig
                .refund("stripe", "rf-net", Some("2.00"), Some(&key))
                .await;
            assert_eq!(retried.status, 200, "{backend:?} {name}: {}", retried.text);
            assert_eq!(retried.json()["result"], "OK", "{backend:?} {name}");
            assert_eq!(retried.json()["refundedAmount"], "2.00");
            // Nothing stays reserved: what remains is what Stripe has not refunded.
            let remaining = format!("{}.00", 20 - 2 * (done + 1));
            assert_eq!(retried.json()["remainingAmount"], remaining.as_str());
        }
        assert_eq!(rig.stripe.refunds().len(), 5, "{backend:?}: one per refund");
        assert_eq!(rig.stripe_refunded(&session), 1000);
        let status = rig.status("stripe", "rf-net").await;
        assert_eq!(status["refundedAmount"], "10.00", "{backend:?}");
        rig.delivered_exactly_once(
            "rf-net",
            &[
                "payment.succeeded",
                "refund.succeeded",
                "refund.succeeded",
                "refund.succeeded",
                "refund.succeeded",
                "refund.succeeded",
            ],
        )
        .await;

        // Without a key, a lost full refund is not sent again: what it reserved stays
        // reserved, so the retry finds nothing left to refund.
        rig.stripe.server.faults.push(Fault::Delay(Duration::ZERO));
        rig.stripe.server.faults.push(Fault::ResetAfterWork);
        rig.refund("stripe", "rf-net", None, None)
            .await
            .problem(502, "PROVIDER_UNAVAILABLE");
        rig.refund("stripe", "rf-net", None, None)
            .await
            .problem(422, "AMOUNT_EXCEEDS_REMAINING");
        assert_eq!(
            rig.stripe_refunded(&session),
            2000,
            "{backend:?}: all of it, once"
        );
    })
    .await;
}

#[tokio::test]
async fn a_crash_after_the_provider_refunded_is_settled_by_the_retry_without_a_second_refund() {
    on_both_backends(|backend| async move {
        let mut rig = Rig::start(backend, &[]).await;
        let pay = rig.sandbox_pay("rf-crash-sbx", "10.00", "tok_ok").await;
        assert_eq!(pay.json()["result"], "OK", "{}", pay.text);
        let session = rig.stripe_paid("rf-crash-st", "20.00").await;

        for (provider, id, amount, remaining) in [
            ("sandbox", "rf-crash-sbx", "4.00", "6.00"),
            ("stripe", "rf-crash-st", "5.00", "15.00"),
        ] {
            rig.faults.crash_at_commit(id, settles_refund);
            let key = format!("{id}-1");
            rig.refund(provider, id, Some(amount), Some(&key))
                .await
                .problem(503, "STORE_UNAVAILABLE");
            rig.crash();
            rig.restart().await;
            let retried = rig
                .retry_while_in_progress(|| rig.refund(provider, id, Some(amount), Some(&key)))
                .await;
            assert_eq!(
                retried.status, 200,
                "{backend:?} {provider}: {}",
                retried.text
            );
            assert_eq!(retried.json()["result"], "OK");
            assert_eq!(retried.json()["refundedAmount"], amount);
            assert_eq!(retried.json()["remainingAmount"], remaining);
            assert_eq!(rig.status(provider, id).await["refundedAmount"], amount);
        }
        let books = rig.sandbox_books("rf-crash-sbx").await;
        assert_eq!(books[0].refunds_minor, vec![400], "{backend:?}");
        assert_eq!(rig.stripe.refunds().len(), 1, "{backend:?}");
        assert_eq!(rig.stripe_refunded(&session), 500);
        rig.delivered_exactly_once("rf-crash-sbx", &["refund.succeeded"])
            .await;
        rig.delivered_exactly_once("rf-crash-st", &["payment.succeeded", "refund.succeeded"])
            .await;
    })
    .await;
}

/// PENDING THE LEAD'S CHANGE (a provider refund-status lookup in the Provider port, used by
/// check and reconcile): until then a refund whose answer was lost stays `Reserved` and this
/// test fails.
#[tokio::test]
async fn a_lost_refund_answer_converges_after_check() {
    on_both_backends(|backend| async move {
        let rig = Rig::start(backend, &[]).await;
        // The sandbox refunded; the write that records it failed.
        rig.sandbox_pay("lost-rf-sbx", "10.00", "tok_ok").await;
        rig.faults.fail_commit("lost-rf-sbx", settles_refund);
        rig.refund("sandbox", "lost-rf-sbx", Some("4.00"), None)
            .await
            .problem(503, "STORE_UNAVAILABLE");
        // Stripe refunded; its answer was lost.
        let session = rig.stripe_paid("lost-rf-st", "20.00").await;
        rig.stripe.server.faults.push(Fault::Delay(Duration::ZERO));
        rig.stripe.server.faults.push(Fault::ResetAfterWork);
        rig.refund("stripe", "lost-rf-st", Some("5.00"), None)
            .await
            .problem(502, "PROVIDER_UNAVAILABLE");
        // A refund that never reached Stripe: its reservation holds back the whole amount.
        let never = rig.stripe_paid("never-rf-st", "20.00").await;
        rig.stripe.server.faults.push(Fault::Delay(Duration::ZERO));
        rig.stripe.server.faults.push(Fault::Unavailable);
        rig.refund("stripe", "never-rf-st", None, None)
            .await
            .problem(502, "PROVIDER_UNAVAILABLE");
        assert_eq!(
            rig.sandbox_books("lost-rf-sbx").await[0].refunds_minor,
            vec![400]
        );
        assert_eq!(rig.stripe_refunded(&session), 500);
        assert_eq!(rig.stripe_refunded(&never), 0);

        // A check settles only refunds whose request is over: older than the pay lock (1 s
        // here), which outlasts any provider timeout. Before that, one may still be in flight.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        for (provider, id, refunded) in [
            ("sandbox", "lost-rf-sbx", "4.00"),
            ("stripe", "lost-rf-st", "5.00"),
            ("stripe", "never-rf-st", "0.00"),
        ] {
            let checked = rig.check(provider, id).await;
            assert_eq!(checked.status, 200, "{backend:?}: {}", checked.text);
            assert_eq!(
                checked.json()["refundedAmount"],
                refunded,
                "{backend:?}: {provider}'s books say {refunded} was refunded: {}",
                checked.text
            );
        }
        rig.delivered_exactly_once("lost-rf-sbx", &["refund.succeeded"])
            .await;
        rig.delivered_exactly_once("lost-rf-st", &["payment.succeeded", "refund.succeeded"])
            .await;
        // Settled, a reservation no longer holds back the rest.
        let rest = rig.refund("stripe", "lost-rf-st", None, None).await;
        assert_eq!(
            rest.json()["refundedAmount"],
            "15.00",
            "{backend:?}: {}",
            rest.text
        );
        assert_eq!(rig.stripe_refunded(&session), 2000);
        let all = rig.refund("stripe", "never-rf-st", None, None).await;
        assert_eq!(
            all.json()["refundedAmount"],
            "20.00",
            "{backend:?}: {}",
            all.text
        );
        assert_eq!(rig.stripe_refunded(&never), 2000);
    })
    .await;
}

/// PENDING THE LEAD'S CHANGE, like [`a_lost_refund_answer_converges_after_check`].
#[tokio::test]
async fn a_lost_refund_answer_converges_in_one_reconciliation_pass() {
    on_both_backends(|backend| async move {
        let mut rig = Rig::start(backend, &[]).await;
        rig.sandbox_pay("lost-rf-recon", "10.00", "tok_ok").await;
        rig.faults.crash_at_commit("lost-rf-recon", settles_refund);
        rig.refund("sandbox", "lost-rf-recon", Some("3.00"), None)
            .await
            .problem(503, "STORE_UNAVAILABLE");
        rig.crash();
        tokio::time::sleep(Duration::from_millis(1100)).await;
        rig.reconcile_pass().await;
        rig.restart().await;
        assert_eq!(
            rig.status("sandbox", "lost-rf-recon").await["refundedAmount"],
            "3.00",
            "{backend:?}"
        );
        assert_eq!(
            rig.sandbox_books("lost-rf-recon").await[0].refunds_minor,
            vec![300]
        );
        rig.delivered_exactly_once("lost-rf-recon", &["refund.succeeded"])
            .await;
        let rest = rig.refund("sandbox", "lost-rf-recon", None, None).await;
        assert_eq!(rest.json()["refundedAmount"], "7.00", "{}", rest.text);
    })
    .await;
}

/// PENDING THE LEAD'S CHANGE (`StatusOutcome` carrying the captured amount): a check records
/// a capture as the whole authorised amount (`Payment::observe`), so a partial capture whose
/// answer was lost converges to the wrong amount and refunds beyond what Stripe captured are
/// let through to Stripe (which refuses them).
#[tokio::test]
async fn a_partial_capture_whose_answer_was_lost_converges_to_what_stripe_captured() {
    on_both_backends(|backend| async move {
        let rig = Rig::start(backend, &[]).await;
        let mut body = fault_rig::stripe_pay_body("cap-lost", "30.00");
        body["providerData"] = serde_json::json!({"captureMethod": "manual"});
        let opened = rig.pgm().post("/stripe/stripe/pay", &body).await;
        let session = opened.json()["paymentID"].as_str().unwrap().to_owned();
        rig.stripe.complete_session(&session).unwrap();
        assert_eq!(
            rig.check("stripe", "cap-lost").await.json()["state"],
            "AUTHORIZED"
        );
        // Confirm reads the session, then captures: Stripe captures, the answer is lost.
        rig.stripe.server.faults.push(Fault::Delay(Duration::ZERO));
        rig.stripe.server.faults.push(Fault::ResetAfterWork);
        rig.pgm()
            .post(
                "/stripe/stripe/confirm",
                &serde_json::json!({"shopTransactionID": "cap-lost", "amount": "20.00"}),
            )
            .await
            .problem(502, "PROVIDER_UNAVAILABLE");
        assert_eq!(rig.stripe.amount_received(&session), 2000);
        let checked = rig.check("stripe", "cap-lost").await;
        assert_eq!(
            (
                checked.json()["state"].as_str(),
                checked.json()["capturedAmount"].as_str()
            ),
            (Some("CAPTURED"), Some("20.00")),
            "{backend:?}: Stripe captured 20.00: {}",
            checked.text
        );
        rig.refund("stripe", "cap-lost", Some("20.01"), None)
            .await
            .problem(422, "AMOUNT_EXCEEDS_REMAINING");
        let all = rig.refund("stripe", "cap-lost", None, None).await;
        assert_eq!(all.json()["refundedAmount"], "20.00", "{}", all.text);
        assert_eq!(rig.stripe_refunded(&session), 2000);
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// callback (and check)

#[tokio::test]
async fn a_webhook_that_failed_at_any_step_is_applied_once_when_stripe_retries_it() {
    on_both_backends(|backend| async move {
        let mut rig = Rig::start(backend, &[]).await;
        let session = rig.stripe_session("cb", "9.00").await;
        rig.stripe.complete_session(&session).unwrap();
        // The webhook says paid; the PGM asks Stripe for the PaymentIntent, and that read fails.
        for fault in [Fault::Unavailable, Fault::Reset, TIMEOUT] {
            rig.stripe.server.faults.push(fault);
            rig.stripe_webhook("checkout.session.completed", &session)
                .await
                .problem(502, "PROVIDER_UNAVAILABLE");
        }
        // The store fails to record it; then the process dies while recording it.
        rig.faults
            .fail_commit("cb", moves_to(PaymentState::Captured));
        rig.stripe_webhook("checkout.session.completed", &session)
            .await
            .problem(503, "STORE_UNAVAILABLE");
        rig.faults
            .crash_at_commit("cb", moves_to(PaymentState::Captured));
        rig.stripe_webhook("checkout.session.completed", &session)
            .await
            .problem(503, "STORE_UNAVAILABLE");
        rig.crash();
        rig.restart().await;
        // Stripe retries a webhook until it gets a 2xx, and may send it again after that.
        for _ in 0..2 {
            let answer = rig
                .stripe_webhook("checkout.session.completed", &session)
                .await;
            assert_eq!(answer.status, 200, "{backend:?}: {}", answer.text);
        }
        assert_eq!(rig.status("stripe", "cb").await["state"], "CAPTURED");
        assert_eq!(rig.stripe.charges(), 1);
        rig.delivered_exactly_once("cb", &["payment.succeeded"])
            .await;
    })
    .await;
}

#[tokio::test]
async fn a_callback_lost_to_a_crash_converges_in_one_reconciliation_pass() {
    on_both_backends(|backend| async move {
        let mut rig = Rig::start(backend, &[]).await;
        let pay = rig.sandbox_pay("cb-crash", "7.00", "tok_3ds").await;
        // The buyer approves; the sandbox's callback reaches a PGM that dies recording it. The
        // sandbox does not call back twice.
        rig.faults
            .crash_at_commit("cb-crash", moves_to(PaymentState::Captured));
        rig.approve_3ds(&pay).await;
        assert_eq!(rig.faults.failed_commits(), 1, "{backend:?}");
        rig.crash();
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let report = rig.reconcile_pass().await;
        assert_eq!(report["settled"], 1, "{backend:?}: {report}");
        rig.restart().await;
        assert_eq!(rig.status("sandbox", "cb-crash").await["state"], "CAPTURED");
        let books = rig.sandbox_books("cb-crash").await;
        assert_eq!(books.len(), 1);
        assert_eq!(books[0].captured_minor, 700);
        rig.delivered_exactly_once("cb-crash", &["payment.succeeded"])
            .await;
    })
    .await;
}

#[tokio::test]
async fn a_payment_whose_webhook_never_came_converges_on_check_through_provider_faults() {
    on_both_backends(|backend| async move {
        let rig = Rig::start(backend, &[]).await;
        let session = rig.stripe_session("chk", "6.00").await;
        rig.stripe.complete_session(&session).unwrap();
        for fault in [Fault::Unavailable, Fault::Reset, TIMEOUT] {
            rig.stripe.server.faults.push(fault);
            rig.check("stripe", "chk")
                .await
                .problem(502, "PROVIDER_UNAVAILABLE");
        }
        // The check's write fails too.
        rig.faults
            .fail_commit("chk", moves_to(PaymentState::Captured));
        rig.check("stripe", "chk")
            .await
            .problem(503, "STORE_UNAVAILABLE");
        let checked = rig.check("stripe", "chk").await;
        assert_eq!(checked.status, 200, "{backend:?}: {}", checked.text);
        assert_eq!(checked.json()["state"], "CAPTURED");
        // The webhook arriving late changes nothing.
        let late = rig
            .stripe_webhook("checkout.session.completed", &session)
            .await;
        assert_eq!(late.status, 200, "{}", late.text);
        assert_eq!(rig.stripe.charges(), 1);
        rig.delivered_exactly_once("chk", &["payment.succeeded"])
            .await;
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// notifications

/// Payments that each produce notifications: a 3DS approval, a pending payment settled by
/// check, two refunds. Returns `(shopTransactionID, expected event types)`.
async fn make_news(rig: &Rig, prefix: &str) -> Vec<(String, Vec<&'static str>)> {
    let three_ds = format!("{prefix}-3ds");
    let pay = rig.sandbox_pay(&three_ds, "7.00", "tok_3ds").await;
    rig.approve_3ds(&pay).await;
    let pending = format!("{prefix}-pending");
    rig.sandbox_pay(&pending, "3.00", "tok_pending").await;
    let checked = rig.check("sandbox", &pending).await;
    assert_eq!(checked.json()["state"], "CAPTURED", "{}", checked.text);
    let refunded = format!("{prefix}-refunded");
    rig.sandbox_pay(&refunded, "10.00", "tok_ok").await;
    for amount in ["1.00", "2.00"] {
        let answer = rig.refund("sandbox", &refunded, Some(amount), None).await;
        assert_eq!(answer.json()["result"], "OK", "{}", answer.text);
    }
    vec![
        (three_ds, vec!["payment.succeeded"]),
        (pending, vec!["payment.succeeded"]),
        (refunded, vec!["refund.succeeded", "refund.succeeded"]),
    ]
}

fn all_attempts(rig: &Rig, news: &[(String, Vec<&str>)]) -> Vec<(String, usize)> {
    news.iter()
        .flat_map(|(id, _)| rig.attempts(id).into_iter())
        .collect()
}

/// Waits until every notification of `news` has been tried at least `times` times.
async fn tried(rig: &Rig, news: &[(String, Vec<&str>)], times: usize) -> bool {
    eventually(Duration::from_secs(20), || async {
        news.iter().all(|(id, expected)| {
            let attempts = rig.attempts(id);
            attempts.len() == expected.len() && attempts.values().all(|n| *n >= times)
        })
    })
    .await
}

#[tokio::test]
async fn a_receiver_down_for_a_long_stretch_gets_every_notification_once_when_back() {
    on_both_backends(|backend| async move {
        let mut rig = Rig::start(backend, &[]).await;
        rig.receiver.answer_with(503);
        let news = make_news(&rig, "down").await;
        // Every notification is tried and refused again and again; the PGM restarts meanwhile.
        assert!(
            tried(&rig, &news, 2).await,
            "{backend:?}: {:?}",
            all_attempts(&rig, &news)
        );
        rig.crash();
        rig.restart().await;
        assert!(
            tried(&rig, &news, 4).await,
            "{backend:?}: {:?}",
            all_attempts(&rig, &news)
        );
        assert!(news.iter().all(|(id, _)| rig.deduped(id).is_empty()));
        rig.receiver.answer_with(200);
        for (id, expected) in &news {
            rig.delivered_exactly_once(id, expected).await;
        }
    })
    .await;
}

#[tokio::test]
async fn a_receiver_down_past_the_last_retry_gets_its_notification_after_a_redrive() {
    on_both_backends(|backend| async move {
        // Three tries in all.
        let rig = Rig::start(backend, &[("PGM_NOTIFY_RETRY_SCHEDULE", "100ms,100ms")]).await;
        rig.receiver.answer_with(503);
        let pay = rig.sandbox_pay("parked", "5.00", "tok_3ds").await;
        rig.approve_3ds(&pay).await;
        assert!(
            eventually(Duration::from_secs(20), || async {
                rig.given_up("parked").await == 1
            })
            .await,
            "{backend:?}: given up after its last try"
        );
        assert_eq!(
            rig.attempts("parked").values().sum::<usize>(),
            3,
            "{backend:?}"
        );
        rig.receiver.answer_with(200);
        let redriven = rig.redrive().await;
        assert_eq!(redriven["redriven"], 1, "{backend:?}: {redriven}");
        rig.delivered_exactly_once("parked", &["payment.succeeded"])
            .await;
    })
    .await;
}

#[tokio::test]
async fn notifications_wait_out_an_unreachable_queue_and_are_delivered_once() {
    on_both_backends(|backend| async move {
        // A reconciliation pass every second re-sends what the queue did not take.
        let rig = Rig::start(backend, &[("PGM_RECONCILE_INTERVAL_SECONDS", "1")]).await;
        rig.faults.queue_down();
        let news = make_news(&rig, "queue").await;
        let published = rig.faults.refused_publishes();
        assert!(
            published >= 4,
            "{backend:?}: every commit's publish was refused"
        );
        if backend == Backend::DynamoSqs {
            // SQS is the only way out: nothing reaches the merchant while it is unreachable,
            // and the outbox keeps every event, through the reconciler's refused re-sends.
            assert!(
                eventually(Duration::from_secs(10), || async {
                    rig.faults.refused_publishes() > published
                })
                .await,
                "the reconciler tries again"
            );
            for (id, expected) in &news {
                assert!(rig.receiver.for_payment(id).is_empty(), "{id}");
                assert_eq!(rig.faults.outbox(id).await.len(), expected.len(), "{id}");
            }
        }
        // (The local queue is the outbox itself, drained by the delivery loop: a failed
        // publish only means the loop wakes later.)
        rig.faults.queue_back();
        for (id, expected) in &news {
            rig.delivered_exactly_once(id, expected).await;
        }
        for (id, _) in &news {
            assert!(
                eventually(Duration::from_secs(5), || async {
                    rig.faults.outbox(id).await.is_empty()
                })
                .await,
                "{backend:?}: {id} left the outbox"
            );
        }
    })
    .await;
}
