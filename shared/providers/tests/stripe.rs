//! The Stripe adapter over HTTP against the Stripe mock (tests/mocks/src/stripe.rs), which
//! holds to Stripe's documented wire format and refuses what Stripe refuses.

use pgm_core::clock::now_ms;
use pgm_core::payment::NewPayment;
use pgm_core::wire::{PayCommand, PayRequest};
use pgm_core::{Currency, Env, Money, Payment, PaymentKind, PaymentState};
use pgm_mocks::stripe::{signature_header, StripeMock, TEST_SECRET_KEY};
use pgm_mocks::Fault;
use pgm_providers::stripe::{Stripe, StripeConfig};
use pgm_providers::{
    CallbackOutcome, CallbackRequest, CallbackSubject, Operation, Provider, ProviderDeps,
    ProviderError, Registry,
};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const WEBHOOK_SECRET: &str = "whsec_pgm_test_0123456789abcdef";

fn env_for(mock: &StripeMock) -> Env {
    Env::from_pairs([
        ("STRIPE_BASE_URL", mock.url()),
        ("STRIPE_PRIVATE_KEY", TEST_SECRET_KEY),
        ("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
    ])
}

fn adapter(mock: &StripeMock) -> Arc<dyn Provider> {
    let mut config = StripeConfig::from_env(&env_for(mock)).unwrap();
    // Short, so that the timeout test does not take 15 s.
    config.api.timeout = Duration::from_millis(700);
    Arc::new(Stripe::new(config, reqwest::Client::new()))
}

async fn setup() -> (StripeMock, Arc<dyn Provider>) {
    let mock = StripeMock::start().await;
    let stripe = adapter(&mock);
    (mock, stripe)
}

fn pay_cmd(extra: &str) -> PayCommand {
    let json = format!(
        r#"{{"amount":"5.00","shopTransactionID":"order-1","successRedirect":"https://shop.example/ok",
        "failureRedirect":"https://shop.example/ko"{extra}}}"#
    );
    serde_json::from_str::<PayRequest>(&json)
        .unwrap()
        .validate("stripe", false)
        .unwrap()
}

fn manual_cmd() -> PayCommand {
    pay_cmd(r#","providerData":{"captureMethod":"manual"}"#)
}

/// The payment as the PGM stores it after `pay`.
fn payment(cmd: &PayCommand, provider_payment_id: Option<&str>) -> Payment {
    let mut p = Payment::claimed(NewPayment {
        shop_transaction_id: cmd.shop_transaction_id.clone(),
        provider: "stripe".into(),
        method: "stripe".into(),
        kind: PaymentKind::Single,
        amount: cmd.amount,
        metadata: BTreeMap::new(),
        request_hash: "h".into(),
        now: now_ms(),
        lock_ms: 60_000,
    });
    p.provider_payment_id = provider_payment_id.map(str::to_owned);
    p
}

fn eur(minor: i64) -> Money {
    Money::from_minor(minor, Currency::EUR).unwrap()
}

/// Pays and lets the buyer pay on the hosted page; returns the stored payment.
async fn paid(mock: &StripeMock, stripe: &Arc<dyn Provider>, cmd: &PayCommand) -> Payment {
    let outcome = stripe.pay(cmd).await.unwrap();
    let id = outcome.provider_payment_id.unwrap();
    mock.complete_session(&id).unwrap();
    payment(cmd, Some(&id))
}

fn signed_request(body: &str, header: &str) -> CallbackRequest {
    let mut headers = http::HeaderMap::new();
    headers.insert("stripe-signature", header.parse().unwrap());
    headers.insert("content-type", "application/json".parse().unwrap());
    CallbackRequest {
        method: http::Method::POST,
        query: String::new(),
        headers,
        body: bytes::Bytes::from(body.to_owned()),
    }
}

fn signed(body: &str) -> CallbackRequest {
    signed_request(
        body,
        &signature_header(WEBHOOK_SECRET, now_ms() / 1000, body),
    )
}

// ---------------------------------------------------------------------------------------------
// pay

#[tokio::test]
async fn pay_opens_a_checkout_session_and_redirects_the_buyer() {
    let (mock, stripe) = setup().await;
    let cmd = pay_cmd(r#","buyerEmail":"ada@example.com","metadata":{"cart":"c-9"}"#);
    let outcome = stripe.pay(&cmd).await.unwrap();

    let id = outcome.provider_payment_id.clone().unwrap();
    assert!(id.starts_with("cs_test_"), "{id}");
    assert_eq!(outcome.state, PaymentState::Pending);
    assert_eq!(
        outcome.redirect_url,
        Some(format!("{}/c/pay/{id}", mock.url()))
    );

    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    assert_eq!(sent.path, "/v1/checkout/sessions");
    assert_eq!(
        sent.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        sent.authorization.as_deref(),
        Some(format!("Bearer {TEST_SECRET_KEY}").as_str())
    );
    assert_eq!(sent.idempotency_key, Some(cmd.idempotency_key()));
    for (name, value) in [
        ("mode", "payment"),
        ("success_url", "https://shop.example/ok"),
        ("cancel_url", "https://shop.example/ko"),
        ("client_reference_id", "order-1"),
        ("customer_email", "ada@example.com"),
        ("line_items[0][price_data][currency]", "eur"),
        ("line_items[0][price_data][unit_amount]", "500"),
        (
            "line_items[0][price_data][product_data][name]",
            "Order order-1",
        ),
        ("line_items[0][quantity]", "1"),
        ("metadata[cart]", "c-9"),
    ] {
        assert_eq!(sent.param(name).as_deref(), Some(value), "{name}");
    }
    assert_eq!(sent.param("payment_intent_data[capture_method]"), None);

    let session = mock.session_json(&id).unwrap();
    assert_eq!(session["amount_total"], 500);
    assert_eq!(session["currency"], "eur");
    assert_eq!(session["status"], "open");
}

#[tokio::test]
async fn pay_sends_products_as_line_items_and_manual_capture_when_asked() {
    let (mock, stripe) = setup().await;
    let cmd = pay_cmd(
        r#","products":[{"name":"Tea","amount":"1.50","quantity":2},{"name":"Cup","amount":"2.00"}],
        "providerData":{"captureMethod":"manual"}"#,
    );
    let id = stripe.pay(&cmd).await.unwrap().provider_payment_id.unwrap();
    let sent = &mock.requests()[0];
    assert_eq!(
        sent.param("line_items[0][price_data][product_data][name]")
            .as_deref(),
        Some("Tea")
    );
    assert_eq!(
        sent.param("line_items[0][price_data][unit_amount]")
            .as_deref(),
        Some("150")
    );
    assert_eq!(sent.param("line_items[0][quantity]").as_deref(), Some("2"));
    assert_eq!(
        sent.param("line_items[1][price_data][unit_amount]")
            .as_deref(),
        Some("200")
    );
    assert_eq!(
        sent.param("payment_intent_data[capture_method]").as_deref(),
        Some("manual")
    );
    assert_eq!(mock.session_json(&id).unwrap()["amount_total"], 500);
}

#[tokio::test]
async fn pay_without_redirect_urls_is_refused_before_reaching_stripe() {
    let (mock, stripe) = setup().await;
    for (missing, field) in [
        ("successRedirect", "successRedirect"),
        ("failureRedirect", "failureRedirect"),
    ] {
        let mut cmd = pay_cmd("");
        if missing == "successRedirect" {
            cmd.success_redirect = None;
        } else {
            cmd.failure_redirect = None;
        }
        match stripe.pay(&cmd).await {
            Err(ProviderError::InvalidRequest { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{other:?}"),
        }
    }
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn pay_with_products_not_adding_up_or_metadata_beyond_stripe_limits_is_refused() {
    let (mock, stripe) = setup().await;
    let cmd = pay_cmd(r#","products":[{"name":"Tea","amount":"1.00"}]"#);
    assert!(
        matches!(stripe.pay(&cmd).await, Err(ProviderError::InvalidRequest { field, .. }) if field == "products")
    );
    let long_key = "k".repeat(41);
    let cmd = pay_cmd(&format!(r#","metadata":{{"{long_key}":"v"}}"#));
    assert!(
        matches!(stripe.pay(&cmd).await, Err(ProviderError::InvalidRequest { field, .. }) if field == "metadata")
    );
    let cmd = pay_cmd(r#","metadata":{"a[b]":"v"}"#);
    assert!(
        matches!(stripe.pay(&cmd).await, Err(ProviderError::InvalidRequest { field, .. }) if field == "metadata")
    );
    let cmd = pay_cmd(r#","providerData":{"captureMethod":"later"}"#);
    assert!(
        matches!(stripe.pay(&cmd).await, Err(ProviderError::InvalidRequest { field, .. }) if field == "providerData.captureMethod")
    );
    assert_eq!(mock.sessions_created(), 0);
}

#[tokio::test]
async fn a_stripe_4xx_is_a_rejection_with_stripes_code() {
    let (mock, stripe) = setup().await;
    // Beyond Stripe's largest amount: Stripe refuses, the adapter passes the refusal on.
    let mut cmd = pay_cmd("");
    cmd.amount = eur(100_000_000);
    match stripe.pay(&cmd).await {
        Err(ProviderError::Rejected { code, message }) => {
            assert_eq!(code.as_deref(), Some("amount_too_large"));
            assert!(message.contains("999,999.99"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(mock.sessions_created(), 0);
}

#[tokio::test]
async fn a_wrong_key_is_rejected_without_echoing_it() {
    let mock = StripeMock::start_with_key("sk_test_the_right_one").await;
    let stripe = adapter(&mock);
    match stripe.pay(&pay_cmd("")).await {
        Err(e @ ProviderError::Rejected { .. }) => {
            let text = format!("{e} {e:?}");
            assert!(text.contains("STRIPE_PRIVATE_KEY"), "{text}");
            assert!(
                !text.contains(TEST_SECRET_KEY) && !text.contains("sk_test_51P"),
                "{text}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(mock.sessions_created(), 0);
}

#[tokio::test]
async fn the_mock_refuses_json_bodies_float_amounts_and_missing_params_like_stripe() {
    // Guards the guard: the mock must refuse what Stripe refuses, or adapter bugs pass.
    let mock = StripeMock::start().await;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/checkout/sessions", mock.url());
    let send = |body: reqwest::RequestBuilder| async { body.send().await.unwrap() };
    let json = send(
        http.post(&url)
            .bearer_auth(TEST_SECRET_KEY)
            .json(&serde_json::json!({"mode":"payment"})),
    )
    .await;
    assert_eq!(json.status(), 400);
    let float = send(http.post(&url).bearer_auth(TEST_SECRET_KEY).form(&[
        ("mode", "payment"),
        ("line_items[0][price_data][currency]", "eur"),
        ("line_items[0][price_data][unit_amount]", "5.00"),
        ("line_items[0][price_data][product_data][name]", "x"),
        ("line_items[0][quantity]", "1"),
    ]))
    .await;
    assert_eq!(float.status(), 400);
    let body: serde_json::Value = float.json().await.unwrap();
    assert_eq!(body["error"]["code"], "parameter_invalid_integer");
    assert_eq!(
        body["error"]["param"],
        "line_items[0][price_data][unit_amount]"
    );
    let missing = send(
        http.post(&url)
            .bearer_auth(TEST_SECRET_KEY)
            .form(&[("mode", "payment")]),
    )
    .await;
    let body: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(body["error"]["code"], "parameter_missing");
    let unknown = send(
        http.post(&url)
            .bearer_auth(TEST_SECRET_KEY)
            .form(&[("mode", "payment"), ("amount", "5")]),
    )
    .await;
    let body: serde_json::Value = unknown.json().await.unwrap();
    assert_eq!(body["error"]["code"], "parameter_unknown");
    let anonymous = send(http.post(&url).form(&[("mode", "payment")])).await;
    assert_eq!(anonymous.status(), 401);
    assert_eq!(mock.sessions_created(), 0);
}

#[tokio::test]
async fn a_retried_pay_is_the_same_session() {
    let (mock, stripe) = setup().await;
    let cmd = pay_cmd("");
    let first = stripe.pay(&cmd).await.unwrap();
    let again = stripe.pay(&cmd).await.unwrap();
    assert_eq!(first.provider_payment_id, again.provider_payment_id);
    assert_eq!(mock.sessions_created(), 1);
    // A new attempt after a final KO is a new key, and so a new session.
    let mut next = cmd.clone();
    next.attempt = 2;
    let other = stripe.pay(&next).await.unwrap();
    assert_ne!(other.provider_payment_id, first.provider_payment_id);
    assert_eq!(mock.sessions_created(), 2);
}

// ---------------------------------------------------------------------------------------------
// status

#[tokio::test]
async fn status_follows_the_session_through_every_documented_state() {
    let (mock, stripe) = setup().await;
    let state = |p: Payment| {
        let stripe = &stripe;
        async move { stripe.status(&p).await.unwrap().state }
    };

    // open/unpaid → pending; complete/paid → captured.
    let cmd = pay_cmd("");
    let id = stripe.pay(&cmd).await.unwrap().provider_payment_id.unwrap();
    assert_eq!(state(payment(&cmd, Some(&id))).await, PaymentState::Pending);
    mock.complete_session(&id).unwrap();
    let status = stripe.status(&payment(&cmd, Some(&id))).await.unwrap();
    assert_eq!(status.state, PaymentState::Captured);
    assert_eq!(status.provider_payment_id.as_deref(), Some(id.as_str()));

    // expired → failed.
    let cmd = pay_cmd("");
    let mut cmd2 = cmd.clone();
    cmd2.attempt = 2;
    let id = stripe
        .pay(&cmd2)
        .await
        .unwrap()
        .provider_payment_id
        .unwrap();
    mock.expire_session(&id).unwrap();
    assert_eq!(state(payment(&cmd, Some(&id))).await, PaymentState::Failed);

    // manual capture: complete/paid with the PaymentIntent requires_capture → authorised.
    let mut cmd = manual_cmd();
    cmd.shop_transaction_id = "manual".into();
    let p = paid(&mock, &stripe, &cmd).await;
    assert_eq!(state(p).await, PaymentState::Authorized);

    // delayed methods: complete/unpaid → pending, then succeeded or failed.
    for (succeeds, expected) in [
        (true, PaymentState::Captured),
        (false, PaymentState::Failed),
    ] {
        let mut cmd = pay_cmd("");
        cmd.shop_transaction_id = format!("async-{succeeds}");
        let id = stripe.pay(&cmd).await.unwrap().provider_payment_id.unwrap();
        mock.complete_session_async(&id).unwrap();
        assert_eq!(state(payment(&cmd, Some(&id))).await, PaymentState::Pending);
        mock.settle_async_payment(&id, succeeds).unwrap();
        assert_eq!(state(payment(&cmd, Some(&id))).await, expected);
    }

    // The status call expands the PaymentIntent, as documented.
    let last = mock.requests().into_iter().last().unwrap();
    assert_eq!(last.method, "GET");
    assert!(
        last.query.contains("expand%5B%5D=payment_intent")
            || last.query.contains("expand[]=payment_intent"),
        "{}",
        last.query
    );
}

#[tokio::test]
async fn status_of_an_unknown_or_missing_session_is_not_found() {
    let (_mock, stripe) = setup().await;
    let cmd = pay_cmd("");
    assert_eq!(
        stripe.status(&payment(&cmd, Some("cs_test_nope"))).await,
        Err(ProviderError::NotFound)
    );
    assert_eq!(
        stripe.status(&payment(&cmd, None)).await,
        Err(ProviderError::NotFound)
    );
    assert_eq!(
        stripe.status(&payment(&cmd, Some("../v1/refunds"))).await,
        Err(ProviderError::NotFound)
    );
}

// ---------------------------------------------------------------------------------------------
// callback

#[tokio::test]
async fn a_signed_completed_event_is_a_verified_capture() {
    let (mock, stripe) = setup().await;
    let cmd = pay_cmd("");
    let p = paid(&mock, &stripe, &cmd).await;
    let id = p.provider_payment_id.clone().unwrap();
    let body = mock.event_body("checkout.session.completed", &id).unwrap();
    match stripe.callback(&signed(&body)).await.unwrap() {
        CallbackOutcome::Payment {
            subject,
            verified,
            ack,
        } => {
            assert_eq!(subject, CallbackSubject::ProviderPaymentId(id.clone()));
            let verified = verified.unwrap();
            assert_eq!(verified.state, PaymentState::Captured);
            assert_eq!(verified.provider_payment_id, Some(id));
            assert_eq!(ack.status, 200);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn signed_events_map_manual_capture_expiry_and_failed_delayed_payments() {
    let (mock, stripe) = setup().await;
    let state_of = |outcome: CallbackOutcome| match outcome {
        CallbackOutcome::Payment { verified, .. } => verified.unwrap().state,
        other => panic!("{other:?}"),
    };
    let p = paid(&mock, &stripe, &manual_cmd()).await;
    let body = mock
        .event_body(
            "checkout.session.completed",
            p.provider_payment_id.as_deref().unwrap(),
        )
        .unwrap();
    assert_eq!(
        state_of(stripe.callback(&signed(&body)).await.unwrap()),
        PaymentState::Authorized
    );

    let mut cmd = pay_cmd("");
    cmd.shop_transaction_id = "expiring".into();
    let id = stripe.pay(&cmd).await.unwrap().provider_payment_id.unwrap();
    mock.expire_session(&id).unwrap();
    let body = mock.event_body("checkout.session.expired", &id).unwrap();
    assert_eq!(
        state_of(stripe.callback(&signed(&body)).await.unwrap()),
        PaymentState::Failed
    );

    cmd.shop_transaction_id = "delayed".into();
    let id = stripe.pay(&cmd).await.unwrap().provider_payment_id.unwrap();
    mock.complete_session_async(&id).unwrap();
    let body = mock.event_body("checkout.session.completed", &id).unwrap();
    assert_eq!(
        state_of(stripe.callback(&signed(&body)).await.unwrap()),
        PaymentState::Pending
    );
    mock.settle_async_payment(&id, false).unwrap();
    let body = mock
        .event_body("checkout.session.async_payment_failed", &id)
        .unwrap();
    assert_eq!(
        state_of(stripe.callback(&signed(&body)).await.unwrap()),
        PaymentState::Failed
    );

    cmd.shop_transaction_id = "delayed-ok".into();
    let id = stripe.pay(&cmd).await.unwrap().provider_payment_id.unwrap();
    mock.complete_session_async(&id).unwrap();
    mock.settle_async_payment(&id, true).unwrap();
    let body = mock
        .event_body("checkout.session.async_payment_succeeded", &id)
        .unwrap();
    assert_eq!(
        state_of(stripe.callback(&signed(&body)).await.unwrap()),
        PaymentState::Captured
    );
}

#[tokio::test]
async fn forged_tampered_stale_or_unsigned_callbacks_are_refused() {
    let (mock, stripe) = setup().await;
    let p = paid(&mock, &stripe, &pay_cmd("")).await;
    let body = mock
        .event_body(
            "checkout.session.completed",
            p.provider_payment_id.as_deref().unwrap(),
        )
        .unwrap();
    let now = now_ms() / 1000;

    let forged = signed_request(&body, &signature_header("whsec_someone_else", now, &body));
    let tampered = signed_request(
        &body.replace("\"paid\"", "\"unpaid\""),
        &signature_header(WEBHOOK_SECRET, now, &body),
    );
    let stale = signed_request(&body, &signature_header(WEBHOOK_SECRET, now - 301, &body));
    let future = signed_request(&body, &signature_header(WEBHOOK_SECRET, now + 301, &body));
    let mut unsigned = signed(&body);
    unsigned.headers.remove("stripe-signature");
    let garbage = signed_request(&body, "v1=abc");
    for (name, req) in [
        ("forged", forged),
        ("tampered", tampered),
        ("stale", stale),
        ("future", future),
        ("unsigned", unsigned),
        ("garbage", garbage),
    ] {
        assert!(
            matches!(
                stripe.callback(&req).await,
                Err(ProviderError::InvalidSignature(_))
            ),
            "{name}"
        );
    }
}

#[tokio::test]
async fn any_of_several_v1_signatures_may_match() {
    let (mock, stripe) = setup().await;
    let p = paid(&mock, &stripe, &pay_cmd("")).await;
    let body = mock
        .event_body(
            "checkout.session.completed",
            p.provider_payment_id.as_deref().unwrap(),
        )
        .unwrap();
    let now = now_ms() / 1000;
    let good = signature_header(WEBHOOK_SECRET, now, &body);
    let good_v1 = good.split_once(",v1=").unwrap().1;
    let old = signature_header("whsec_rolled_away", now, &body);
    let old_v1 = old.split_once(",v1=").unwrap().1;
    let header = format!("t={now},v1={old_v1},v1={good_v1},v0=ignored");
    assert!(matches!(
        stripe.callback(&signed_request(&body, &header)).await,
        Ok(CallbackOutcome::Payment { .. })
    ));
}

#[tokio::test]
async fn other_event_types_are_acknowledged_and_ignored() {
    let (mock, stripe) = setup().await;
    let body = mock.event_body_for(
        "charge.refund.updated",
        serde_json::json!({"id": "re_1", "object": "refund", "status": "succeeded"}),
    );
    assert!(matches!(
        stripe.callback(&signed(&body)).await,
        Ok(CallbackOutcome::Ignored { ack }) if ack.status == 200
    ));
    // Signed but not an event at all: readable signature, unreadable content.
    assert!(matches!(
        stripe.callback(&signed("{\"hello\":1}")).await,
        Err(ProviderError::InvalidCallback(_))
    ));
}

// ---------------------------------------------------------------------------------------------
// refunds

#[tokio::test]
async fn a_full_refund_goes_to_the_payment_intent_with_our_refund_id_as_key() {
    let (mock, stripe) = setup().await;
    let p = paid(&mock, &stripe, &pay_cmd("")).await;
    let pi = mock
        .payment_intent_of(p.provider_payment_id.as_deref().unwrap())
        .unwrap();
    let outcome = stripe.refund(&p, eur(500), "rf-1").await.unwrap();
    assert!(outcome.succeeded());
    assert!(outcome.provider_refund_id.unwrap().starts_with("re_"));
    let refunds = mock.refunds();
    assert_eq!(refunds.len(), 1);
    assert_eq!(
        (refunds[0].payment_intent.as_str(), refunds[0].amount),
        (pi.as_str(), 500)
    );
    let sent = mock.requests().into_iter().last().unwrap();
    assert_eq!(sent.path, "/v1/refunds");
    assert_eq!(sent.idempotency_key.as_deref(), Some("rf-1"));
    assert_eq!(sent.param("amount").as_deref(), Some("500"));
}

#[tokio::test]
async fn several_partial_refunds_until_the_amount_then_stripe_refuses() {
    let (mock, stripe) = setup().await;
    let p = paid(&mock, &stripe, &pay_cmd("")).await;
    assert!(stripe
        .refund(&p, eur(200), "rf-1")
        .await
        .unwrap()
        .succeeded());
    assert!(stripe
        .refund(&p, eur(200), "rf-2")
        .await
        .unwrap()
        .succeeded());
    // 400 asked, 100 left: Stripe refuses the over-refund.
    match stripe.refund(&p, eur(400), "rf-3").await {
        Err(ProviderError::Rejected { message, .. }) => {
            assert!(
                message.contains("greater than unrefunded amount"),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(stripe
        .refund(&p, eur(100), "rf-4")
        .await
        .unwrap()
        .succeeded());
    assert!(matches!(
        stripe.refund(&p, eur(1), "rf-5").await,
        Err(ProviderError::Rejected { code: Some(code), .. }) if code == "charge_already_refunded"
    ));
    let amounts: Vec<i64> = mock.refunds().iter().map(|r| r.amount).collect();
    assert_eq!(amounts, vec![200, 200, 100]);
}

#[tokio::test]
async fn a_retried_refund_is_one_refund() {
    let (mock, stripe) = setup().await;
    let p = paid(&mock, &stripe, &pay_cmd("")).await;
    mock.server.faults.push(Fault::ErrorAfterWork);
    assert!(matches!(
        stripe.refund(&p, eur(300), "rf-1").await,
        Err(ProviderError::Unavailable(_))
    ));
    // The PGM retries with the same refund id: Stripe replays the first answer.
    assert!(stripe
        .refund(&p, eur(300), "rf-1")
        .await
        .unwrap()
        .succeeded());
    assert_eq!(mock.refunds().len(), 1);
}

#[tokio::test]
async fn refund_status_finds_our_refund_by_its_id_through_every_page_of_the_list() {
    let (mock, stripe) = setup().await;
    let p = paid(&mock, &stripe, &pay_cmd("")).await;
    // 150 refunds of one cent: the oldest is on the second page of 100, newest first.
    for i in 0..150 {
        let refund = stripe.refund(&p, eur(1), &format!("rf-{i}")).await.unwrap();
        assert!(refund.succeeded());
    }
    let oldest = stripe.refund_status(&p, "rf-0").await.unwrap().unwrap();
    assert!(oldest.succeeded());
    assert_eq!(
        oldest.provider_refund_id.as_deref(),
        Some(mock.refunds()[0].id.as_str())
    );
    let newest = stripe.refund_status(&p, "rf-149").await.unwrap().unwrap();
    assert_eq!(
        newest.provider_refund_id.as_deref(),
        Some(mock.refunds()[149].id.as_str())
    );
    assert_eq!(
        stripe.refund_status(&p, "rf-never-sent").await.unwrap(),
        None
    );
    let lists: Vec<String> = mock
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path == "/v1/refunds")
        .map(|r| r.query.clone())
        .collect();
    assert!(
        lists.iter().any(|q| q.contains("starting_after=")),
        "the second page was asked for: {lists:?}"
    );
    mock.server.faults.push(Fault::Delay(Duration::ZERO));
    mock.server.faults.push(Fault::Unavailable);
    assert!(matches!(
        stripe.refund_status(&p, "rf-0").await,
        Err(ProviderError::Unavailable(_))
    ));
}

#[tokio::test]
async fn refunding_an_unpaid_session_is_refused_before_stripe() {
    let (mock, stripe) = setup().await;
    let cmd = pay_cmd("");
    let id = stripe.pay(&cmd).await.unwrap().provider_payment_id.unwrap();
    assert!(matches!(
        stripe
            .refund(&payment(&cmd, Some(&id)), eur(500), "rf-1")
            .await,
        Err(ProviderError::Rejected { .. })
    ));
    assert!(mock.refunds().is_empty());
}

// ---------------------------------------------------------------------------------------------
// confirm and void (manual capture)

#[tokio::test]
async fn confirm_captures_the_authorised_payment_intent() {
    let (mock, stripe) = setup().await;
    let p = paid(&mock, &stripe, &manual_cmd()).await;
    let id = p.provider_payment_id.clone().unwrap();
    assert_eq!(mock.amount_received(&id), 0);
    let outcome = stripe.confirm(&p, eur(300)).await.unwrap();
    assert!(outcome.succeeded);
    assert_eq!(mock.amount_received(&id), 300);
    let sent = mock.requests().into_iter().last().unwrap();
    assert!(sent.path.ends_with("/capture"), "{}", sent.path);
    assert_eq!(sent.param("amount_to_capture").as_deref(), Some("300"));
    assert_eq!(
        stripe.status(&p).await.unwrap().state,
        PaymentState::Captured
    );
    // Captured once: a second confirm is refused by Stripe.
    assert!(matches!(
        stripe.confirm(&p, eur(200)).await,
        Err(ProviderError::Rejected { code: Some(code), .. }) if code == "payment_intent_unexpected_state"
    ));
    assert_eq!(mock.charges(), 1);
}

#[tokio::test]
async fn confirm_of_an_unpaid_or_automatically_captured_session_is_refused() {
    let (mock, stripe) = setup().await;
    let cmd = manual_cmd();
    let id = stripe.pay(&cmd).await.unwrap().provider_payment_id.unwrap();
    assert!(matches!(
        stripe.confirm(&payment(&cmd, Some(&id)), eur(500)).await,
        Err(ProviderError::Rejected { .. })
    ));
    let mut auto = pay_cmd("");
    auto.shop_transaction_id = "auto".into();
    let p = paid(&mock, &stripe, &auto).await;
    assert!(matches!(
        stripe.confirm(&p, eur(500)).await,
        Err(ProviderError::Rejected { .. })
    ));
}

#[tokio::test]
async fn void_cancels_the_authorisation() {
    let (mock, stripe) = setup().await;
    let p = paid(&mock, &stripe, &manual_cmd()).await;
    assert!(stripe.void(&p).await.unwrap().succeeded);
    let pi = mock
        .payment_intent_of(p.provider_payment_id.as_deref().unwrap())
        .unwrap();
    assert_eq!(mock.payment_intent_json(&pi).unwrap()["status"], "canceled");
    assert_eq!(stripe.status(&p).await.unwrap().state, PaymentState::Voided);
    assert_eq!(mock.charges(), 0);
    // A repeated void (a retry after a lost answer) is the same void, not an error.
    assert!(stripe.void(&p).await.unwrap().succeeded);
    // Nothing left to capture.
    assert!(matches!(
        stripe.confirm(&p, eur(500)).await,
        Err(ProviderError::Rejected { .. })
    ));
    assert_eq!(mock.charges(), 0);
}

// ---------------------------------------------------------------------------------------------
// failures

#[tokio::test]
async fn a_500_after_the_work_is_unavailable_and_the_retry_is_the_same_session() {
    let (mock, stripe) = setup().await;
    let cmd = pay_cmd("");
    mock.server.faults.push(Fault::ErrorAfterWork);
    assert!(matches!(
        stripe.pay(&cmd).await,
        Err(ProviderError::Unavailable(_))
    ));
    assert_eq!(mock.sessions_created(), 1);
    let retried = stripe.pay(&cmd).await.unwrap();
    assert_eq!(mock.sessions_created(), 1);
    mock.complete_session(retried.provider_payment_id.as_deref().unwrap())
        .unwrap();
    assert_eq!(mock.charges(), 1);
}

#[tokio::test]
async fn resets_and_timeouts_are_unavailable() {
    let (mock, stripe) = setup().await;
    let cmd = pay_cmd("");
    for fault in [
        Fault::Reset,
        Fault::ResetAfterWork,
        Fault::Delay(Duration::from_millis(1500)),
    ] {
        mock.server.faults.push(fault);
        assert!(
            matches!(stripe.pay(&cmd).await, Err(ProviderError::Unavailable(_))),
            "{fault:?}"
        );
    }
    // The status call fails the same way.
    let p = payment(&cmd, Some("cs_test_x"));
    mock.server
        .faults
        .push(Fault::Delay(Duration::from_millis(1500)));
    assert!(matches!(
        stripe.status(&p).await,
        Err(ProviderError::Unavailable(_))
    ));
    // Whatever happened, one key made at most one session.
    assert!(mock.sessions_created() <= 1);
}

#[tokio::test]
async fn a_lost_answer_to_a_capture_is_unavailable_and_the_retry_captures_once() {
    let (mock, stripe) = setup().await;
    let p = paid(&mock, &stripe, &manual_cmd()).await;
    let id = p.provider_payment_id.clone().unwrap();
    // confirm looks the session up, then captures: the lookup goes through (a zero delay), the
    // capture happens and its answer is lost.
    mock.server.faults.push(Fault::Delay(Duration::ZERO));
    mock.server.faults.push(Fault::ErrorAfterWork);
    assert!(matches!(
        stripe.confirm(&p, eur(500)).await,
        Err(ProviderError::Unavailable(_))
    ));
    assert_eq!(mock.amount_received(&id), 500);
    // The PGM retries: same idempotency key, Stripe replays the capture instead of refusing it.
    assert!(stripe.confirm(&p, eur(500)).await.unwrap().succeeded);
    assert_eq!(mock.amount_received(&id), 500);
    assert_eq!(mock.charges(), 1);
}

// ---------------------------------------------------------------------------------------------
// configuration

#[tokio::test]
async fn debug_output_never_shows_the_keys() {
    let _ = setup().await;
    let config = StripeConfig::from_env(&Env::from_pairs([
        ("STRIPE_PRIVATE_KEY", TEST_SECRET_KEY),
        ("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
    ]))
    .unwrap();
    for text in [
        format!("{:?}", Stripe::new(config.clone(), reqwest::Client::new())),
        format!("{config:?}"),
        format!("{config:#?}"),
    ] {
        assert!(!text.contains(TEST_SECRET_KEY), "{text}");
        assert!(!text.contains(WEBHOOK_SECRET), "{text}");
        assert!(text.contains("REDACTED"), "{text}");
    }
    assert_eq!(config.api.base_url, "https://api.stripe.com");
}

#[test]
fn a_missing_or_malformed_variable_is_named() {
    let full = [
        ("STRIPE_PRIVATE_KEY", TEST_SECRET_KEY),
        ("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
        ("STRIPE_BASE_URL", "https://api.stripe.com/"),
    ];
    assert_eq!(
        StripeConfig::from_env(&Env::from_pairs(full))
            .unwrap()
            .api
            .base_url,
        "https://api.stripe.com"
    );
    for (var, value) in [
        ("STRIPE_PRIVATE_KEY", ""),
        ("STRIPE_WEBHOOK_SECRET", ""),
        ("STRIPE_BASE_URL", "api.stripe.com"),
    ] {
        let pairs = full.map(|(k, v)| if k == var { (k, value) } else { (k, v) });
        let err = StripeConfig::from_env(&Env::from_pairs(pairs)).unwrap_err();
        assert_eq!(err.var, var);
    }
}

/// The registry's `ENABLED_PROVIDERS=stripe` arm; the sandbox books are not used by Stripe.

#[test]
fn the_registry_builds_stripe_from_its_variables() {
    let deps = ProviderDeps {
        http: reqwest::Client::new(),
        public_url: "https://pgm.example".into(),
        sandbox_ledger: None,
    };
    let env = Env::from_pairs([
        ("ENABLED_PROVIDERS", "stripe"),
        ("STRIPE_PRIVATE_KEY", TEST_SECRET_KEY),
        ("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
    ]);
    let registry = Registry::from_env(&env, &deps).unwrap();
    let stripe = registry.get("stripe").unwrap();
    assert_eq!(stripe.methods(), &["stripe"]);
    let served: Vec<Operation> = Operation::ALL
        .into_iter()
        .filter(|op| stripe.supports(*op))
        .collect();
    assert!(
        !served.contains(&Operation::PayRecurrent) && !served.contains(&Operation::SessionOpen)
    );
    assert!(served.contains(&Operation::Refund) && served.contains(&Operation::SessionVoid));
    let missing = Env::from_pairs([
        ("ENABLED_PROVIDERS", "stripe"),
        ("STRIPE_PRIVATE_KEY", TEST_SECRET_KEY),
    ]);
    assert_eq!(
        Registry::from_env(&missing, &deps).err().unwrap().var,
        "STRIPE_WEBHOOK_SECRET"
    );
}

#[tokio::test]
async fn unsupported_operations_answer_not_supported() {
    let (_mock, stripe) = setup().await;
    assert!(matches!(
        stripe.pay_recurrent(&pay_cmd("")).await,
        Err(ProviderError::NotSupported)
    ));
    let open = pgm_core::wire::SessionOpenRequest {
        shop_transaction_id: "s1".into(),
        amount: "5.00".into(),
        currency: None,
    }
    .validate()
    .unwrap();
    assert!(matches!(
        stripe.session_open(&open).await,
        Err(ProviderError::NotSupported)
    ));
}

// ---------------------------------------------------------------------------------------------
// Pending refunds, refund webhooks, manual capture read from the PaymentIntent

#[tokio::test]
async fn pending_and_requires_action_refunds_are_pending_until_stripe_finishes_them() {
    use pgm_providers::RefundStatus;
    let (mock, stripe) = setup().await;
    let p = paid(&mock, &stripe, &pay_cmd("")).await;
    for (i, status) in ["pending", "requires_action"].into_iter().enumerate() {
        mock.set_new_refund_status(status);
        let outcome = stripe
            .refund(&p, eur(100), &format!("rf-{i}"))
            .await
            .unwrap();
        assert_eq!(outcome.state, RefundStatus::Pending, "{status}");
        assert!(!outcome.succeeded(), "{status}");
        let found = stripe
            .refund_status(&p, &format!("rf-{i}"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.state, RefundStatus::Pending, "{status}");
    }
    let refunds = mock.refunds();
    mock.finish_refund(&refunds[0].id, "succeeded").unwrap();
    mock.finish_refund(&refunds[1].id, "canceled").unwrap();
    let state = |id: &'static str| {
        let (stripe, p) = (&stripe, &p);
        async move { stripe.refund_status(p, id).await.unwrap().unwrap().state }
    };
    assert_eq!(state("rf-0").await, RefundStatus::Succeeded);
    assert_eq!(state("rf-1").await, RefundStatus::Failed);
    // Each refund names its payment for the webhooks that settle it.
    let sent = mock
        .requests()
        .into_iter()
        .rfind(|r| r.path == "/v1/refunds" && r.method == "POST")
        .unwrap();
    assert_eq!(
        sent.param("metadata[pgm_shop_transaction_id]").as_deref(),
        Some("order-1")
    );
}

#[tokio::test]
async fn refund_events_settle_our_refunds_and_ignore_others() {
    use pgm_providers::RefundStatus;
    let (mock, stripe) = setup().await;
    let p = paid(&mock, &stripe, &pay_cmd("")).await;
    mock.set_new_refund_status("pending");
    for (i, (event, ends, expected)) in [
        ("refund.updated", "succeeded", RefundStatus::Succeeded),
        ("refund.failed", "failed", RefundStatus::Failed),
        ("charge.refund.updated", "canceled", RefundStatus::Failed),
    ]
    .into_iter()
    .enumerate()
    {
        stripe
            .refund(&p, eur(100), &format!("rf-{i}"))
            .await
            .unwrap();
        let refund = mock.refunds().pop().unwrap();
        mock.finish_refund(&refund.id, ends).unwrap();
        let body = mock.refund_event_body(event, &refund.id).unwrap();
        match stripe.callback(&signed(&body)).await.unwrap() {
            CallbackOutcome::Refund {
                subject,
                refund_id,
                outcome,
                ack,
            } => {
                assert_eq!(
                    subject,
                    CallbackSubject::ShopTransactionId("order-1".into())
                );
                assert_eq!(refund_id, Some(format!("rf-{i}")));
                assert_eq!(outcome.state, expected, "{event}");
                assert_eq!(outcome.provider_refund_id, Some(refund.id.clone()));
                assert_eq!(ack.status, 200);
            }
            other => panic!("{event}: {other:?}"),
        }
    }
    // A refund made in Stripe's dashboard carries none of our metadata: not ours to settle.
    let mut foreign = mock.refund_json(&mock.refunds()[0].id).unwrap();
    foreign["metadata"] = serde_json::json!({});
    let body = mock.event_body_for("refund.updated", foreign);
    assert!(matches!(
        stripe.callback(&signed(&body)).await.unwrap(),
        CallbackOutcome::Ignored { .. }
    ));
    // Forged refund events are refused like any other.
    let body = mock
        .refund_event_body("refund.updated", &mock.refunds()[0].id)
        .unwrap();
    let forged = signed_request(
        &body,
        &signature_header("whsec_someone_else", now_ms() / 1000, &body),
    );
    assert!(matches!(
        stripe.callback(&forged).await,
        Err(ProviderError::InvalidSignature(_))
    ));
}

#[tokio::test]
async fn a_completed_manual_capture_session_is_authorised_from_its_payment_intent() {
    let (mock, stripe) = setup().await;
    // What Stripe may report for a held authorisation (notes §1): complete, `unpaid`.
    let p = paid(&mock, &stripe, &manual_cmd()).await;
    let id = p.provider_payment_id.clone().unwrap();
    assert_eq!(mock.session_json(&id).unwrap()["payment_status"], "unpaid");
    assert_eq!(
        stripe.status(&p).await.unwrap().state,
        PaymentState::Authorized
    );
    let body = mock.event_body("checkout.session.completed", &id).unwrap();
    match stripe.callback(&signed(&body)).await.unwrap() {
        CallbackOutcome::Payment { verified, .. } => {
            assert_eq!(verified.unwrap().state, PaymentState::Authorized)
        }
        other => panic!("{other:?}"),
    }
    // The webhook's session has the PaymentIntent as an id only: Stripe was asked for it.
    let pi = mock.payment_intent_of(&id).unwrap();
    assert!(mock
        .requests()
        .iter()
        .any(|r| r.method == "GET" && r.path == format!("/v1/payment_intents/{pi}")));
    // Captured: the PaymentIntent says `succeeded`.
    assert!(stripe.confirm(&p, eur(500)).await.unwrap().succeeded);
    assert_eq!(
        stripe.status(&p).await.unwrap().state,
        PaymentState::Captured
    );

    // And if Stripe says `paid` for the authorisation, it is still only authorised.
    mock.set_manual_capture_payment_status("paid");
    let mut cmd = manual_cmd();
    cmd.shop_transaction_id = "manual-paid".into();
    let p = paid(&mock, &stripe, &cmd).await;
    assert_eq!(
        stripe.status(&p).await.unwrap().state,
        PaymentState::Authorized
    );
    // Released: voided, whatever payment_status said.
    assert!(stripe.void(&p).await.unwrap().succeeded);
    assert_eq!(stripe.status(&p).await.unwrap().state, PaymentState::Voided);
}
