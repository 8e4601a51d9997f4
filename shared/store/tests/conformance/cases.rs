//! The cases every [`PaymentStore`] (and its [`SandboxLedger`]) must pass, written once against
//! the traits. Times are synthetic unix milliseconds so that every boundary is exact.

use pgm_core::payment::{NewPayment, PAY_LOCK_MS};
use pgm_core::sandbox_ledger::{Charge, ChargeStatus, LedgerRefund, SandboxLedger};
use pgm_core::Currency;
use pgm_core::{
    EventType, Money, NotificationEvent, Payment, PaymentKind, PaymentState, StoredResponse,
};
use pgm_store::{
    Commit, IdempotencyClaim, IdempotencyRecord, OutboxEntry, PaymentStore, StoreError,
};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A store under test, with whatever keeps it alive (a temporary directory, a table).
pub struct Backend {
    pub store: Arc<dyn PaymentStore>,
    pub ledger: Arc<dyn SandboxLedger>,
    pub _keep: Box<dyn std::any::Any + Send + Sync>,
}

const T0: i64 = 1_700_000_000_000;

fn eur(minor: i64) -> Money {
    Money::from_minor(minor, Currency::EUR).unwrap()
}

fn new_payment(id: &str, minor: i64, now: i64) -> Payment {
    Payment::claimed(NewPayment {
        shop_transaction_id: id.into(),
        provider: "sandbox".into(),
        method: "credit-cards".into(),
        kind: PaymentKind::Single,
        amount: eur(minor),
        metadata: BTreeMap::from([("order".to_owned(), id.to_owned())]),
        request_hash: "hash-1".into(),
        now,
        lock_ms: PAY_LOCK_MS,
    })
}

fn commit(payment: &Payment) -> Commit<'_> {
    Commit {
        payment,
        map_provider_id: None,
        events: &[],
        idempotency: None,
    }
}

/// The next version of `payment` with news from the provider.
fn observed(payment: &Payment, state: PaymentState, now: i64) -> Payment {
    let mut next = payment.clone();
    next.observe(state, "news", now);
    next.bump(now);
    next
}

/// Stores a payment that the provider has captured (version 2).
async fn captured_payment(store: &dyn PaymentStore, id: &str, minor: i64) -> Payment {
    let first = new_payment(id, minor, T0);
    assert!(store.insert_payment(&first).await.unwrap().is_none());
    let mut next = observed(&first, PaymentState::Captured, T0 + 1);
    next.provider_payment_id = Some(format!("pid-{id}"));
    store.commit(commit(&next)).await.unwrap();
    next
}

pub async fn insert_then_replay(b: Backend) {
    let store = b.store;
    let first = new_payment("order-1", 1000, T0);
    assert_eq!(
        store.insert_payment(&first).await.unwrap(),
        None,
        "a new payment is created"
    );

    let mut other = new_payment("order-1", 2500, T0 + 5);
    other.claim.request_hash = "hash-2".into();
    let existing = store.insert_payment(&other).await.unwrap();
    assert_eq!(
        existing,
        Some(first.clone()),
        "the stored payment comes back unchanged"
    );

    assert_eq!(store.get_payment("order-1").await.unwrap(), Some(first));
    assert_eq!(store.get_payment("order-2").await.unwrap(), None);
}

pub async fn commits_need_the_version_they_read(b: Backend) {
    let store = b.store;
    let v1 = new_payment("order-1", 1000, T0);
    store.insert_payment(&v1).await.unwrap();

    let v2 = observed(&v1, PaymentState::Pending, T0 + 10);
    store.commit(commit(&v2)).await.unwrap();
    assert_eq!(
        store.get_payment("order-1").await.unwrap(),
        Some(v2.clone())
    );

    // Written again over v2 it would be a lost update.
    let stale = observed(&v1, PaymentState::Failed, T0 + 20);
    assert!(matches!(
        store.commit(commit(&stale)).await,
        Err(StoreError::VersionConflict)
    ));
    let mut skipping = observed(&v2, PaymentState::Captured, T0 + 30);
    skipping.version += 1;
    assert!(matches!(
        store.commit(commit(&skipping)).await,
        Err(StoreError::VersionConflict)
    ));
    assert_eq!(
        store.get_payment("order-1").await.unwrap(),
        Some(v2.clone())
    );

    // Version 1 through commit means "create": only once.
    let created = new_payment("order-2", 500, T0);
    store.commit(commit(&created)).await.unwrap();
    assert!(matches!(
        store.commit(commit(&created)).await,
        Err(StoreError::VersionConflict)
    ));
    assert_eq!(store.get_payment("order-2").await.unwrap(), Some(created));
    // A later version of a payment that does not exist has nothing to be written over.
    let ghost = observed(
        &new_payment("order-3", 500, T0),
        PaymentState::Pending,
        T0 + 1,
    );
    assert!(matches!(
        store.commit(commit(&ghost)).await,
        Err(StoreError::VersionConflict)
    ));
    assert_eq!(store.get_payment("order-3").await.unwrap(), None);
}

pub async fn concurrent_commits_have_one_winner(b: Backend) {
    let store = b.store;
    let v1 = new_payment("order-1", 1000, T0);
    store.insert_payment(&v1).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        let mut next = observed(&v1, PaymentState::Pending, T0 + 10);
        next.result_description = format!("writer {i}");
        tasks.push(tokio::spawn(async move {
            store
                .commit(commit(&next))
                .await
                .map(|()| next.result_description)
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(who) => winners.push(who),
            Err(StoreError::VersionConflict) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one writer wins version 2");
    let stored = store.get_payment("order-1").await.unwrap().unwrap();
    assert_eq!(stored.version, 2);
    assert_eq!(stored.result_description, winners[0]);
}

pub async fn provider_ids_map_to_one_payment(b: Backend) {
    let store = b.store;
    let a1 = new_payment("order-a", 1000, T0);
    let b1 = new_payment("order-b", 1000, T0);
    store.insert_payment(&a1).await.unwrap();
    store.insert_payment(&b1).await.unwrap();

    let mut a2 = observed(&a1, PaymentState::Pending, T0 + 1);
    a2.provider_payment_id = Some("pid-1".into());
    store
        .commit(Commit {
            map_provider_id: Some("pid-1"),
            ..commit(&a2)
        })
        .await
        .unwrap();
    assert_eq!(
        store.find_by_provider_id("sandbox", "pid-1").await.unwrap(),
        Some(a2.clone())
    );
    assert_eq!(
        store.find_by_provider_id("stripe", "pid-1").await.unwrap(),
        None,
        "per provider"
    );
    assert_eq!(
        store.find_by_provider_id("sandbox", "pid-2").await.unwrap(),
        None
    );

    // The same payment may record its own id again.
    let a3 = observed(&a2, PaymentState::Captured, T0 + 2);
    store
        .commit(Commit {
            map_provider_id: Some("pid-1"),
            ..commit(&a3)
        })
        .await
        .unwrap();

    // Another payment claiming the id fails as a whole: no version, no event, no answer.
    let mut b2 = observed(&b1, PaymentState::Pending, T0 + 3);
    let event = NotificationEvent::next_for(&mut b2, EventType::PaymentPending, T0 + 3);
    let record = IdempotencyRecord {
        key: "pay#order-b".into(),
        request_hash: "h".into(),
        response: Some(StoredResponse {
            status: 200,
            body: "{}".into(),
        }),
        lock_expires_at: T0 + 60_000,
        expires_at: T0 + 86_400_000,
    };
    let taken = store
        .commit(Commit {
            payment: &b2,
            map_provider_id: Some("pid-1"),
            events: std::slice::from_ref(&event),
            idempotency: Some(&record),
        })
        .await;
    match taken {
        Err(StoreError::MappingTaken(id)) => assert_eq!(id, "pid-1"),
        other => panic!("expected MappingTaken, got {other:?}"),
    }
    assert_eq!(
        store.get_payment("order-b").await.unwrap(),
        Some(b1.clone())
    );
    assert_eq!(
        store.find_by_provider_id("sandbox", "pid-1").await.unwrap(),
        Some(a3)
    );
    assert!(store
        .due_events(T0 + 1_000_000, 10)
        .await
        .unwrap()
        .is_empty());
    let fresh = IdempotencyRecord {
        response: None,
        ..record.clone()
    };
    assert!(
        matches!(
            store.claim_idempotency(&fresh, T0 + 4).await.unwrap(),
            IdempotencyClaim::Claimed
        ),
        "the failed commit left no idempotency record"
    );
}

fn record(key: &str, now: i64) -> IdempotencyRecord {
    IdempotencyRecord {
        key: key.into(),
        request_hash: "hash-1".into(),
        response: None,
        lock_expires_at: now + 60_000,
        expires_at: now + 86_400_000,
    }
}

fn existing(claim: IdempotencyClaim) -> IdempotencyRecord {
    match claim {
        IdempotencyClaim::Existing(record) => record,
        IdempotencyClaim::Claimed => panic!("expected the existing record"),
    }
}

fn claimed(claim: &IdempotencyClaim) -> bool {
    matches!(claim, IdempotencyClaim::Claimed)
}

pub async fn idempotency_claim_replay_and_takeover(b: Backend) {
    let store = b.store;
    let first = record("refund#k1", T0);
    assert!(claimed(&store.claim_idempotency(&first, T0).await.unwrap()));

    // While it runs, a duplicate (same or different body) sees the unfinished record.
    let mut other = record("refund#k1", T0 + 1);
    other.request_hash = "hash-2".into();
    assert_eq!(
        existing(store.claim_idempotency(&other, T0 + 1).await.unwrap()),
        first
    );

    // Completed with a commit: the answer comes back to every retry, even after the lock.
    let payment = new_payment("order-1", 1000, T0);
    store.insert_payment(&payment).await.unwrap();
    let next = observed(&payment, PaymentState::Pending, T0 + 2);
    let done = IdempotencyRecord {
        response: Some(StoredResponse {
            status: 201,
            body: r#"{"ok":true}"#.into(),
        }),
        ..first.clone()
    };
    store
        .commit(Commit {
            idempotency: Some(&done),
            ..commit(&next)
        })
        .await
        .unwrap();
    let after_lock = first.lock_expires_at + 1;
    assert_eq!(
        existing(store.claim_idempotency(&other, after_lock).await.unwrap()),
        done
    );

    // Forgotten once it expires.
    let late = done.expires_at + 1;
    let again = record("refund#k1", late);
    assert!(claimed(
        &store.claim_idempotency(&again, late).await.unwrap()
    ));
    assert_eq!(
        existing(store.claim_idempotency(&other, late).await.unwrap()),
        again
    );

    // An unfinished claim whose holder died is taken over after its lock.
    let takeover_at = again.lock_expires_at + 1;
    let heir = record("refund#k1", takeover_at);
    assert!(claimed(
        &store.claim_idempotency(&heir, takeover_at).await.unwrap()
    ));
    assert_eq!(
        existing(store.claim_idempotency(&other, takeover_at).await.unwrap()),
        heir
    );

    // Released: the next request may run at once.
    store.release_idempotency("refund#k1").await.unwrap();
    assert!(claimed(
        &store.claim_idempotency(&other, takeover_at).await.unwrap()
    ));

    // Keys are independent.
    assert!(claimed(
        &store
            .claim_idempotency(&record("refund#k2", T0), T0)
            .await
            .unwrap()
    ));
}

pub async fn concurrent_claims_have_one_winner(b: Backend) {
    let store = b.store;
    let mut tasks = Vec::new();
    for i in 0..10 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = record("pay#same", T0);
            mine.request_hash = format!("hash-{i}");
            store.claim_idempotency(&mine, T0).await.unwrap()
        }));
    }
    let mut winners = 0;
    for task in tasks {
        if claimed(&task.await.unwrap()) {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
}

/// The race Hyperswitch left open (#13182): concurrent refunds that together exceed the
/// captured amount. Each task reads, reserves and commits, and re-reads on a version conflict.
pub async fn concurrent_refunds_never_exceed_the_capture(b: Backend) {
    let store = b.store;
    let captured = captured_payment(store.as_ref(), "order-1", 1000).await;
    assert_eq!(captured.captured_minor, 1000);

    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for _attempt in 0..200 {
                let mut payment = store.get_payment("order-1").await.unwrap().unwrap();
                let now = T0 + 100 + i;
                if payment
                    .reserve_refund(&format!("r{i}"), Some(eur(150)), false, now)
                    .is_err()
                {
                    return false;
                }
                payment.bump(now);
                match store.commit(commit(&payment)).await {
                    Ok(()) => return true,
                    Err(StoreError::VersionConflict) => continue,
                    Err(other) => panic!("unexpected {other:?}"),
                }
            }
            panic!("refund task {i} never got through");
        }));
    }
    let mut succeeded = 0;
    for task in tasks {
        if task.await.unwrap() {
            succeeded += 1;
        }
    }
    let stored = store.get_payment("order-1").await.unwrap().unwrap();
    let reserved: i64 = stored.refunds.iter().map(|r| r.amount_minor).sum();
    assert!(
        reserved <= stored.captured_minor,
        "{reserved} reserved of {}",
        stored.captured_minor
    );
    // 6 × 150 = 900 fit in 1000; a 7th would not. Each success is exactly one write.
    assert_eq!(succeeded, 6);
    assert_eq!(stored.refunds.len(), 6);
    assert_eq!(reserved, 900);
    assert_eq!(stored.version, captured.version + 6);
}

fn event_ids(entries: &[OutboxEntry]) -> Vec<String> {
    entries.iter().map(|e| e.event.event_id.clone()).collect()
}

pub async fn outbox_due_retry_park_done(b: Backend) {
    let store = b.store;
    let v1 = new_payment("order-1", 1000, T0);
    store.insert_payment(&v1).await.unwrap();
    let t = T0 + 1_000;
    let mut v2 = observed(&v1, PaymentState::Pending, t);
    let first = NotificationEvent::next_for(&mut v2, EventType::PaymentPending, t);
    let second = NotificationEvent::next_for(&mut v2, EventType::PaymentSucceeded, t);
    store
        .commit(Commit {
            events: &[first.clone(), second.clone()],
            ..commit(&v2)
        })
        .await
        .unwrap();

    assert!(
        store.due_events(t - 1, 10).await.unwrap().is_empty(),
        "not due before the change"
    );
    let due = store.due_events(t, 10).await.unwrap();
    let mut ids = event_ids(&due);
    ids.sort();
    let mut expected = vec![first.event_id.clone(), second.event_id.clone()];
    expected.sort();
    assert_eq!(ids, expected, "both due at the time of the change");
    let entry = due.iter().find(|e| e.event == first).unwrap().clone();
    assert_eq!(
        (entry.attempts, entry.next_attempt_at, entry.parked),
        (0, t, false)
    );
    assert_eq!(store.due_events(t, 1).await.unwrap().len(), 1, "limit");

    // The first fails once: it comes back after its retry time, behind the second.
    let retry = OutboxEntry {
        attempts: 1,
        next_attempt_at: t + 60_000,
        ..entry.clone()
    };
    store.event_retry(&retry).await.unwrap();
    assert_eq!(
        event_ids(&store.due_events(t + 59_999, 10).await.unwrap()),
        vec![second.event_id.clone()]
    );
    let later = store.due_events(t + 60_000, 10).await.unwrap();
    assert_eq!(
        event_ids(&later),
        vec![second.event_id.clone(), first.event_id.clone()],
        "oldest due first"
    );
    assert_eq!(later[1], retry);

    // The second is delivered. A late retry of it (from a worker that timed out) must not
    // bring it back.
    store.event_done(&second.event_id).await.unwrap();
    store.event_done(&second.event_id).await.unwrap(); // twice is fine
    let late_retry = OutboxEntry {
        attempts: 1,
        ..later[0].clone()
    };
    store.event_retry(&late_retry).await.unwrap();
    assert_eq!(
        event_ids(&store.due_events(t + 60_000, 10).await.unwrap()),
        vec![first.event_id.clone()]
    );

    // The first gives up: parked, never due again, listed as parked.
    let parked = OutboxEntry {
        attempts: 8,
        parked: true,
        ..retry.clone()
    };
    store.event_retry(&parked).await.unwrap();
    assert!(store.due_events(i64::MAX / 2, 10).await.unwrap().is_empty());
    assert_eq!(store.parked_events(10).await.unwrap(), vec![parked.clone()]);

    // A redrive brings it back.
    let redriven = OutboxEntry {
        parked: false,
        next_attempt_at: t + 90_000,
        ..parked.clone()
    };
    store.event_retry(&redriven).await.unwrap();
    assert!(store.parked_events(10).await.unwrap().is_empty());
    assert_eq!(
        store.due_events(t + 90_000, 10).await.unwrap(),
        vec![redriven]
    );
}

pub async fn parked_events_oldest_first(b: Backend) {
    let store = b.store;
    let mut parked = Vec::new();
    for (i, created) in [(0, T0 + 300), (1, T0 + 100), (2, T0 + 200)] {
        let id = format!("order-{i}");
        let v1 = new_payment(&id, 1000, created);
        store.insert_payment(&v1).await.unwrap();
        let mut v2 = observed(&v1, PaymentState::Pending, created);
        let event = NotificationEvent::next_for(&mut v2, EventType::PaymentPending, created);
        store
            .commit(Commit {
                events: std::slice::from_ref(&event),
                ..commit(&v2)
            })
            .await
            .unwrap();
        let entry = store
            .due_events(created, 10)
            .await
            .unwrap()
            .into_iter()
            .find(|e| e.event == event)
            .unwrap();
        assert_eq!(entry.created_at, created);
        let gave_up = OutboxEntry {
            parked: true,
            attempts: 5,
            ..entry
        };
        store.event_retry(&gave_up).await.unwrap();
        parked.push(gave_up);
    }
    parked.sort_by_key(|e| e.created_at);
    assert_eq!(store.parked_events(10).await.unwrap(), parked);
    assert_eq!(store.parked_events(2).await.unwrap(), parked[..2].to_vec());
}

pub async fn stale_pending_boundaries(b: Backend) {
    let store = b.store;
    let initiated = new_payment("order-initiated", 1000, T0 + 100);
    store.insert_payment(&initiated).await.unwrap();
    let pending_v1 = new_payment("order-pending", 1000, T0);
    store.insert_payment(&pending_v1).await.unwrap();
    let pending = observed(&pending_v1, PaymentState::Pending, T0 + 200);
    store.commit(commit(&pending)).await.unwrap();
    let done_v1 = new_payment("order-captured", 1000, T0);
    store.insert_payment(&done_v1).await.unwrap();
    store
        .commit(commit(&observed(&done_v1, PaymentState::Captured, T0 + 50)))
        .await
        .unwrap();

    let ids = |payments: Vec<Payment>| {
        let mut ids: Vec<String> = payments
            .into_iter()
            .map(|p| p.shop_transaction_id)
            .collect();
        ids.sort();
        ids
    };
    assert!(
        store.stale_pending(T0 + 100, 10).await.unwrap().is_empty(),
        "strictly older"
    );
    assert_eq!(
        ids(store.stale_pending(T0 + 101, 10).await.unwrap()),
        vec!["order-initiated"]
    );
    assert_eq!(
        store.stale_pending(T0 + 101, 10).await.unwrap(),
        vec![initiated.clone()]
    );
    assert_eq!(
        ids(store.stale_pending(T0 + 201, 10).await.unwrap()),
        vec!["order-initiated", "order-pending"]
    );
    assert_eq!(
        store.stale_pending(T0 + 201, 1).await.unwrap(),
        vec![initiated.clone()],
        "the oldest first"
    );

    // Settled: no longer pending.
    store
        .commit(commit(&observed(
            &initiated,
            PaymentState::Failed,
            T0 + 300,
        )))
        .await
        .unwrap();
    assert_eq!(
        ids(store.stale_pending(T0 + 10_000, 10).await.unwrap()),
        vec!["order-pending"]
    );

    // A captured payment awaits news while a refund the provider can be asked about has no
    // answer; one the provider cannot be asked about is left to people.
    let mut refunding = store.get_payment("order-captured").await.unwrap().unwrap();
    refunding
        .reserve_refund("r-unchecked", Some(eur(100)), false, T0 + 400)
        .unwrap();
    refunding.bump(T0 + 400);
    store.commit(commit(&refunding)).await.unwrap();
    assert_eq!(
        ids(store.stale_pending(T0 + 10_000, 10).await.unwrap()),
        vec!["order-pending"]
    );
    refunding
        .reserve_refund("r-checked", Some(eur(100)), true, T0 + 500)
        .unwrap();
    refunding.bump(T0 + 500);
    store.commit(commit(&refunding)).await.unwrap();
    assert!(refunding.awaits_news());
    assert_eq!(
        ids(store.stale_pending(T0 + 10_000, 10).await.unwrap()),
        vec!["order-captured", "order-pending"]
    );
    refunding
        .settle_refund("r-checked", true, None, T0 + 600)
        .unwrap();
    refunding.bump(T0 + 600);
    store.commit(commit(&refunding)).await.unwrap();
    assert_eq!(
        ids(store.stale_pending(T0 + 10_000, 10).await.unwrap()),
        vec!["order-pending"]
    );
}

fn charge(id: &str, reference: &str, key: &str, created_at: i64) -> Charge {
    Charge {
        id: id.into(),
        reference: reference.into(),
        idempotency_key: key.into(),
        amount_minor: 1000,
        currency: "EUR".into(),
        status: ChargeStatus::Authorized,
        captured_minor: 0,
        refunds: Vec::new(),
        recurrence_token: None,
        success_redirect: Some("https://shop.example/ok".into()),
        failure_redirect: None,
        description: "Transaction approved".into(),
        created_at,
        // Not the default: the books must keep it (the 3DS page and a later status read it).
        capture_manually: true,
    }
}

pub async fn ledger_create_is_idempotent(b: Backend) {
    let ledger = b.ledger;
    let first = charge("sbx_1", "order-1", "key-1", T0);
    assert_eq!(ledger.create_charge(&first).await.unwrap(), first);
    let retry = charge("sbx_2", "order-1", "key-1", T0 + 5);
    assert_eq!(
        ledger.create_charge(&retry).await.unwrap(),
        first,
        "same key, same charge"
    );
    assert_eq!(ledger.charge("sbx_1").await.unwrap(), Some(first.clone()));
    assert_eq!(ledger.charge("sbx_2").await.unwrap(), None);

    let second = charge("sbx_3", "order-1", "key-2", T0 + 10);
    ledger.create_charge(&second).await.unwrap();
    let other = charge("sbx_4", "order-2", "key-3", T0 + 1);
    ledger.create_charge(&other).await.unwrap();
    assert_eq!(
        ledger.charges_for("order-1").await.unwrap(),
        vec![first, second]
    );
    assert_eq!(ledger.charges_for("order-2").await.unwrap(), vec![other]);
    assert!(ledger.charges_for("order-3").await.unwrap().is_empty());

    // Concurrent creations with one key: one charge.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let ledger = ledger.clone();
        tasks.push(tokio::spawn(async move {
            let mine = charge(&format!("sbx_c{i}"), "order-9", "key-9", T0 + 20);
            ledger.create_charge(&mine).await.unwrap().id
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every caller got the same charge: {ids:?}");
    assert_eq!(ledger.charges_for("order-9").await.unwrap().len(), 1);
}

pub async fn ledger_transition_is_compare_and_set(b: Backend) {
    let ledger = b.ledger;
    ledger
        .create_charge(&charge("sbx_1", "order-1", "key-1", T0))
        .await
        .unwrap();
    assert!(!ledger
        .transition(
            "sbx_1",
            &[ChargeStatus::Processing],
            ChargeStatus::Captured,
            1000
        )
        .await
        .unwrap());
    assert!(!ledger
        .transition(
            "sbx_nope",
            &[ChargeStatus::Authorized],
            ChargeStatus::Captured,
            1000
        )
        .await
        .unwrap());
    assert_eq!(
        ledger.charge("sbx_nope").await.unwrap(),
        None,
        "no charge made up"
    );

    // Capture and void race: exactly one wins.
    let mut tasks = Vec::new();
    for i in 0..10 {
        let ledger = ledger.clone();
        tasks.push(tokio::spawn(async move {
            let (to, captured) = if i % 2 == 0 {
                (ChargeStatus::Captured, 800)
            } else {
                (ChargeStatus::Voided, 0)
            };
            let from = [ChargeStatus::Authorized, ChargeStatus::AwaitingBuyer];
            ledger
                .transition("sbx_1", &from, to, captured)
                .await
                .unwrap()
                .then_some(to)
        }));
    }
    let mut moved = Vec::new();
    for task in tasks {
        moved.extend(task.await.unwrap());
    }
    assert_eq!(moved.len(), 1, "{moved:?}");
    let stored = ledger.charge("sbx_1").await.unwrap().unwrap();
    assert_eq!(stored.status, moved[0]);
    assert_eq!(
        stored.captured_minor,
        if moved[0] == ChargeStatus::Captured {
            800
        } else {
            0
        }
    );
    assert_eq!(
        stored.description, "Transaction approved",
        "the fixed facts stay"
    );
}

pub async fn ledger_refunds_are_idempotent(b: Backend) {
    let ledger = b.ledger;
    ledger
        .create_charge(&charge("sbx_1", "order-1", "key-1", T0))
        .await
        .unwrap();
    assert!(ledger
        .transition(
            "sbx_1",
            &[ChargeStatus::Authorized],
            ChargeStatus::Captured,
            1000
        )
        .await
        .unwrap());
    let r1 = LedgerRefund {
        id: "r1".into(),
        amount_minor: 300,
        created_at: T0 + 1,
    };
    let r2 = LedgerRefund {
        id: "r2".into(),
        amount_minor: 200,
        created_at: T0 + 2,
    };
    ledger.add_refund("sbx_1", &r1).await.unwrap();
    ledger.add_refund("sbx_1", &r1).await.unwrap();
    ledger.add_refund("sbx_1", &r2).await.unwrap();
    let stored = ledger.charge("sbx_1").await.unwrap().unwrap();
    assert_eq!(stored.refunds, vec![r1.clone(), r2]);
    assert_eq!(stored.refunded_minor(), 500);
    assert_eq!(stored.status, ChargeStatus::Captured);
    assert_eq!(stored.captured_minor, 1000);

    // The same refund sent concurrently is still recorded once.
    let r3 = LedgerRefund {
        id: "r3".into(),
        amount_minor: 100,
        created_at: T0 + 3,
    };
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let ledger = ledger.clone();
        let r3 = r3.clone();
        tasks.push(tokio::spawn(async move {
            ledger.add_refund("sbx_1", &r3).await.unwrap()
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let stored = ledger.charge("sbx_1").await.unwrap().unwrap();
    assert_eq!(stored.refunds.len(), 3);
    assert_eq!(stored.refunded_minor(), 600);
}
