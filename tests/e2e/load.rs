//! Load without loss: a bounded load on loopback against the local PGM (embedded store, sandbox
//! provider, real HTTP) ends with stored totals equal to what the load generator saw
//! acknowledged, and no 5xx.
//!
//! `PGM_LOAD_PAYS` orders (default 20 000) are worked through by `PGM_LOAD_CONCURRENCY` clients
//! (default 50). Each order is one pay (approved or declined) with, drawn from a fixed seed
//! (`PGM_LOAD_SEED`): an identical pay sent at the same time, the same pay again later, a
//! different body under the same id, and partial refunds (alone, in concurrent pairs, retried
//! with the same Idempotency-Key, or asking for more than remains). The generator keeps its own
//! ledger of what was acknowledged and at the end compares it with the PGM's `/status` and the
//! sandbox's own books, order by order and in total. No timing is asserted: the test prints how
//! long it took.

use pgm_e2e::{Answer, TestServer};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

const PAY: &str = "/sandbox/credit-cards/pay";
const REFUND: &str = "/sandbox/credit-cards/refund";

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {v:?}")),
        Err(_) => default,
    }
}

/// SplitMix64: a small, fixed-seed generator, so that a failing mix can be replayed.
struct Draw(u64);

impl Draw {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// True with probability `percent`/100.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    /// A number in `low..=high`.
    fn between(&mut self, low: i64, high: i64) -> i64 {
        low + (self.next() % (high - low + 1) as u64) as i64
    }
}

/// A refund the generator will ask for: `None` refunds what remains.
#[derive(Debug, Clone)]
enum RefundStep {
    One(Option<i64>),
    /// Two refunds sent at the same time.
    ConcurrentPair(i64, i64),
    /// The same refund sent twice at once under one Idempotency-Key: counted once.
    KeyedTwice(i64),
}

/// One order of the load, decided up front from the seed.
#[derive(Debug, Clone)]
struct Order {
    id: String,
    amount_minor: i64,
    approved: bool,
    concurrent_duplicate: bool,
    later_duplicate: bool,
    conflicting_body: bool,
    refunds: Vec<RefundStep>,
}

impl Order {
    fn draw(index: usize, draw: &mut Draw) -> Order {
        let amount_minor = draw.between(100, 50_000);
        let approved = !draw.chance(10);
        let mut refunds = Vec::new();
        if approved && draw.chance(35) {
            for _ in 0..draw.between(1, 3) {
                // Up to the whole amount each: later ones often ask for more than remains.
                let step = match draw.next() % 10 {
                    0 => RefundStep::One(None),
                    1 | 2 => RefundStep::ConcurrentPair(
                        draw.between(1, amount_minor),
                        draw.between(1, amount_minor),
                    ),
                    3 => RefundStep::KeyedTwice(draw.between(1, amount_minor)),
                    _ => RefundStep::One(Some(draw.between(1, amount_minor))),
                };
                refunds.push(step);
            }
        }
        Order {
            id: format!("load-{index}"),
            amount_minor,
            approved,
            concurrent_duplicate: draw.chance(15),
            later_duplicate: draw.chance(10),
            conflicting_body: draw.chance(3),
            refunds,
        }
    }

    fn pay_body(&self) -> Value {
        let token = if self.approved { "tok_ok" } else { "tok_ko" };
        json!({"amount": decimal(self.amount_minor), "shopTransactionID": self.id, "creditCardToken": token})
    }
}

fn decimal(minor: i64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

fn minor(decimal: &Value) -> i64 {
    let text = decimal
        .as_str()
        .unwrap_or_else(|| panic!("not an amount: {decimal}"));
    let (units, cents) = text.split_once('.').expect("two decimals");
    assert_eq!(cents.len(), 2, "EUR amounts carry two decimals: {text}");
    units.parse::<i64>().expect("units") * 100 + cents.parse::<i64>().expect("cents")
}

/// What the generator saw acknowledged for one order.
#[derive(Debug, Default, Clone)]
struct Acknowledged {
    answered: bool,
    payment_id: Option<String>,
    /// Captured according to an acknowledged `OK`.
    paid_minor: i64,
    refunded_minor: i64,
    refunds_ok: usize,
    refunds_refused: usize,
}

/// Every answer of the run by (route, status, code), and the first unexpected ones.
#[derive(Default)]
struct Tally {
    answers: BTreeMap<(String, u16, String), u64>,
    server_errors: Vec<String>,
}

struct Load {
    pgm: TestServer,
    tally: Mutex<Tally>,
}

impl Load {
    fn record(&self, route: &str, answer: &Answer) {
        let code = if answer.status == 200 {
            answer.json()["result"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        } else {
            serde_json::from_str::<Value>(&answer.text)
                .ok()
                .and_then(|v| v["code"].as_str().map(str::to_owned))
                .unwrap_or_default()
        };
        let mut tally = self.tally.lock().unwrap();
        *tally
            .answers
            .entry((route.to_owned(), answer.status, code))
            .or_default() += 1;
        if answer.status >= 500 && tally.server_errors.len() < 20 {
            tally
                .server_errors
                .push(format!("{route} {}: {}", answer.status, answer.text));
        }
    }

    async fn pay(&self, body: &Value) -> Answer {
        let answer = self.pgm.post(PAY, body).await;
        self.record("pay", &answer);
        answer
    }

    async fn refund(&self, order: &Order, amount: Option<i64>, key: Option<&str>) -> Answer {
        let mut body = json!({"shopTransactionID": order.id});
        if let Some(a) = amount {
            body["amount"] = json!(decimal(a));
        }
        let mut request = self
            .pgm
            .client
            .post(format!("{}{REFUND}", self.pgm.url))
            .json(&body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let answer = self.pgm.send(request).await;
        self.record("refund", &answer);
        answer
    }

    /// Runs one order and returns what was acknowledged. Panics on any answer the API does not
    /// allow for it.
    async fn run(&self, order: &Order) -> Acknowledged {
        let body = order.pay_body();
        let answers = if order.concurrent_duplicate {
            let (a, b) = tokio::join!(self.pay(&body), self.pay(&body));
            vec![a, b]
        } else {
            vec![self.pay(&body).await]
        };
        let mut ack = Acknowledged::default();
        for answer in &answers {
            if answer.status == 409 {
                answer.problem(409, "REQUEST_IN_PROGRESS");
                continue;
            }
            self.check_pay_answer(order, answer, &mut ack);
        }
        assert!(
            ack.answered,
            "{}: no pay was answered: {answers:?}",
            order.id
        );

        let mut remaining = ack.paid_minor;
        for (i, step) in order.refunds.iter().enumerate() {
            match step {
                RefundStep::One(amount) => {
                    let answer = self.refund(order, *amount, None).await;
                    let asked = amount.unwrap_or(remaining);
                    self.check_sequential_refund(order, &answer, asked, &mut remaining, &mut ack);
                }
                RefundStep::ConcurrentPair(a, b) => {
                    let (ra, rb) = tokio::join!(
                        self.refund(order, Some(*a), None),
                        self.refund(order, Some(*b), None)
                    );
                    let ok_a = self.refund_outcome(order, &ra, *a, &mut ack);
                    let ok_b = self.refund_outcome(order, &rb, *b, &mut ack);
                    let granted = [(ok_a, *a), (ok_b, *b)]
                        .iter()
                        .filter(|(ok, _)| *ok)
                        .map(|(_, amount)| amount)
                        .sum::<i64>();
                    assert!(granted <= remaining, "{}: pair over-refunded", order.id);
                    if a + b <= remaining {
                        assert!(ok_a && ok_b, "{}: a pair that fits was refused", order.id);
                    }
                    if !ok_a {
                        assert!(*a > remaining - if ok_b { *b } else { 0 }, "{}", order.id);
                    }
                    if !ok_b {
                        assert!(*b > remaining - if ok_a { *a } else { 0 }, "{}", order.id);
                    }
                    remaining -= granted;
                }
                RefundStep::KeyedTwice(amount) => {
                    let key = format!("{}-refund-{i}", order.id);
                    let (ra, rb) = tokio::join!(
                        self.refund(order, Some(*amount), Some(&key)),
                        self.refund(order, Some(*amount), Some(&key))
                    );
                    let first = [&ra, &rb].into_iter().find(|r| r.status != 409).cloned();
                    let Some(first) = first else {
                        panic!(
                            "{}: both keyed refunds answered 409: {ra:?} {rb:?}",
                            order.id
                        )
                    };
                    for other in [&ra, &rb] {
                        if other.status == 409 {
                            other.problem(409, "REQUEST_IN_PROGRESS");
                        } else {
                            // The same key answers the same, whichever request did the work.
                            assert_eq!(
                                (other.status, other.json()),
                                (first.status, first.json()),
                                "{}",
                                order.id
                            );
                        }
                    }
                    self.check_sequential_refund(order, &first, *amount, &mut remaining, &mut ack);
                }
            }
        }

        if order.later_duplicate {
            let replay = self.pay(&body).await;
            assert_eq!(replay.status, 200, "{}: {}", order.id, replay.text);
            assert_eq!(replay.header("idempotent-replayed"), Some("true"));
            assert_eq!(
                replay.json()["paymentID"].as_str(),
                ack.payment_id.as_deref(),
                "{}",
                order.id
            );
        }
        if order.conflicting_body {
            let mut other = body.clone();
            other["amount"] = json!(decimal(order.amount_minor + 1));
            let answer = self.pay(&other).await;
            if order.approved {
                answer.problem(409, "IDEMPOTENCY_CONFLICT");
            } else {
                // After a final KO a different body is a new attempt: declined again.
                assert_eq!(answer.status, 200, "{}: {}", order.id, answer.text);
                assert_eq!(answer.json()["result"], "KO", "{}", order.id);
            }
        }
        ack
    }

    fn check_pay_answer(&self, order: &Order, answer: &Answer, ack: &mut Acknowledged) {
        assert_eq!(answer.status, 200, "{}: {}", order.id, answer.text);
        let body = answer.json();
        let expected = if order.approved { "OK" } else { "KO" };
        assert_eq!(body["result"], expected, "{}: {}", order.id, answer.text);
        let payment_id = body["paymentID"].as_str().map(str::to_owned);
        if ack.answered {
            assert_eq!(ack.payment_id, payment_id, "{}: same paymentID", order.id);
        }
        ack.answered = true;
        ack.payment_id = payment_id;
        if order.approved {
            ack.paid_minor = order.amount_minor;
        }
    }

    /// Records a refund answered alone; it is granted exactly when it fits what remains.
    fn check_sequential_refund(
        &self,
        order: &Order,
        answer: &Answer,
        asked: i64,
        remaining: &mut i64,
        ack: &mut Acknowledged,
    ) {
        let fits = asked > 0 && asked <= *remaining;
        let ok = self.refund_outcome(order, answer, asked, ack);
        assert_eq!(
            ok, fits,
            "{}: refund of {asked} with {remaining} left",
            order.id
        );
        if ok {
            *remaining -= asked;
            assert_eq!(minor(&answer.json()["remainingAmount"]), *remaining);
        }
    }

    /// Whether a refund was granted (200 OK, counted in the ledger) or refused (422).
    fn refund_outcome(
        &self,
        order: &Order,
        answer: &Answer,
        asked: i64,
        ack: &mut Acknowledged,
    ) -> bool {
        match answer.status {
            200 => {
                let body = answer.json();
                assert_eq!(body["result"], "OK", "{}: {}", order.id, answer.text);
                assert_eq!(minor(&body["refundedAmount"]), asked, "{}", order.id);
                ack.refunded_minor += asked;
                ack.refunds_ok += 1;
                true
            }
            _ => {
                answer.problem(422, "AMOUNT_EXCEEDS_REMAINING");
                ack.refunds_refused += 1;
                false
            }
        }
    }
}

/// Compares one order's acknowledged ledger with the PGM's store and the sandbox's books.
async fn verify(pgm: &TestServer, order: &Order, ack: &Acknowledged) -> (i64, i64) {
    let status = pgm.status_of(&order.id).await;
    let charges = pgm.sandbox_charges(&order.id).await;
    if order.approved {
        assert_eq!(
            (status["state"].as_str(), status["paymentID"].as_str()),
            (Some("CAPTURED"), ack.payment_id.as_deref()),
            "{}: {status}",
            order.id
        );
        assert_eq!(charges.len(), 1, "{}: charged once: {charges:?}", order.id);
        let charge = &charges[0];
        let refunded: i64 = charge["refunds"]
            .as_array()
            .expect("refunds")
            .iter()
            .map(|r| r["amount_minor"].as_i64().expect("amount_minor"))
            .sum();
        assert_eq!(charge["captured_minor"], ack.paid_minor, "{}", order.id);
        assert_eq!(
            refunded, ack.refunded_minor,
            "{}: sandbox refunds",
            order.id
        );
    } else {
        assert_eq!(status["state"], "FAILED", "{}: {status}", order.id);
        assert!(
            charges
                .iter()
                .all(|c| c["captured_minor"] == 0
                    && c["refunds"].as_array().is_some_and(Vec::is_empty)),
            "{}: a declined order moved money: {charges:?}",
            order.id
        );
    }
    let captured = minor(&status["capturedAmount"]);
    let refunded = minor(&status["refundedAmount"]);
    assert_eq!(captured, ack.paid_minor, "{}: stored captured", order.id);
    assert_eq!(
        refunded, ack.refunded_minor,
        "{}: stored refunded",
        order.id
    );
    (captured, refunded)
}

/// Runs `work` over every order (with its index) with `concurrency` clients at once; the
/// results come back in order of index.
async fn for_each_order<F, Fut, T>(orders: &Arc<Vec<Order>>, concurrency: usize, work: F) -> Vec<T>
where
    F: Fn(usize, Order) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = T> + Send,
    T: Send + 'static,
{
    let next = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..concurrency {
        let (orders, next, work) = (orders.clone(), next.clone(), work.clone());
        clients.push(tokio::spawn(async move {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(order) = orders.get(i) else { break };
                done.push((i, work(i, order.clone()).await));
            }
            done
        }));
    }
    let mut results = Vec::new();
    for client in clients {
        results.extend(client.await.expect("a load client panicked"));
    }
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bounded_load_loses_nothing_and_never_answers_5xx() {
    let pays = env_number("PGM_LOAD_PAYS", 20_000) as usize;
    let concurrency = env_number("PGM_LOAD_CONCURRENCY", 50) as usize;
    let seed = env_number("PGM_LOAD_SEED", 5);
    let mut draw = Draw(seed);
    let orders: Arc<Vec<Order>> = Arc::new((0..pays).map(|i| Order::draw(i, &mut draw)).collect());
    let load = Arc::new(Load {
        pgm: TestServer::start(&[]).await,
        tally: Mutex::new(Tally::default()),
    });

    let started = Instant::now();
    let acks = for_each_order(&orders, concurrency, {
        let load = load.clone();
        move |_, order| {
            let load = load.clone();
            async move { load.run(&order).await }
        }
    })
    .await;
    let load_time = started.elapsed();

    // Acknowledged means durable: the books are read from a PGM restarted on the same data.
    let Load { pgm, tally } = Arc::into_inner(load).expect("the load clients are done");
    let tally = tally.into_inner().expect("tally");
    let pgm = Arc::new(TestServer::start_in(pgm.shut_down(), &[]).await);
    let verified = Instant::now();
    let acks = Arc::new(acks);
    let stored = for_each_order(&orders, concurrency, {
        let (pgm, acks) = (pgm.clone(), acks.clone());
        move |i, order| {
            let (pgm, acks) = (pgm.clone(), acks.clone());
            async move { verify(&pgm, &order, &acks[i]).await }
        }
    })
    .await;

    let acknowledged_paid: i64 = acks.iter().map(|a| a.paid_minor).sum();
    let acknowledged_refunded: i64 = acks.iter().map(|a| a.refunded_minor).sum();
    let stored_paid: i64 = stored.iter().map(|(p, _)| p).sum();
    let stored_refunded: i64 = stored.iter().map(|(_, r)| r).sum();
    let requests: u64 = tally.answers.values().sum();
    println!(
        "load: {pays} orders, {requests} requests at {concurrency} concurrent in {:.1} s \
         ({:.0} requests/s); verified in {:.1} s; seed {seed}",
        load_time.as_secs_f64(),
        requests as f64 / load_time.as_secs_f64(),
        verified.elapsed().as_secs_f64()
    );
    println!(
        "load: acknowledged paid {} refunded {} ({} refunds granted, {} refused)",
        decimal(acknowledged_paid),
        decimal(acknowledged_refunded),
        acks.iter().map(|a| a.refunds_ok).sum::<usize>(),
        acks.iter().map(|a| a.refunds_refused).sum::<usize>()
    );
    for ((route, status, code), n) in &tally.answers {
        println!("load:   {route} {status} {code}: {n}");
    }
    assert!(
        tally.server_errors.is_empty(),
        "5xx: {:#?}",
        tally.server_errors
    );
    assert_eq!(stored_paid, acknowledged_paid, "stored captured total");
    assert_eq!(
        stored_refunded, acknowledged_refunded,
        "stored refunded total"
    );
    // The mix did what it is for: duplicates, refusals and refunds all happened.
    let seen = |route: &str, status: u16, code: &str| {
        tally
            .answers
            .get(&(route.to_owned(), status, code.to_owned()))
            .copied()
            .unwrap_or_default()
    };
    if pays >= 1_000 {
        assert!(seen("pay", 200, "KO") > 0 && seen("refund", 200, "OK") > 0);
        assert!(seen("refund", 422, "AMOUNT_EXCEEDS_REMAINING") > 0);
        assert!(seen("pay", 409, "IDEMPOTENCY_CONFLICT") > 0);
    }
}
