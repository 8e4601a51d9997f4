//! A payment and its state machine. Every money invariant is checked here, in plain code; the
//! stores only make sure that a payment is written back at the version it was read.

use crate::money::{Money, MoneyError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Where a payment stands, in more detail than the API's three values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentState {
    /// The pay request is claimed; the provider has not answered (or its answer was lost).
    Initiated,
    /// The provider knows the payment and has not decided (3DS, app approval, bank delay).
    Pending,
    /// Pre-authorised: the funds are held until `/confirm` captures them.
    Authorized,
    /// The money is taken. Refunds only change the refunded amount.
    Captured,
    /// Declined, abandoned or expired. Final.
    Failed,
    /// An authorisation released without capture. Final.
    Voided,
}

/// The API's view of a payment: ACCEPTED (authorised or captured), FAILED (declined, expired
/// or voided), PENDING (not decided yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum ApiStatus {
    Accepted,
    Failed,
    Pending,
}

impl PaymentState {
    pub fn api_status(self) -> ApiStatus {
        match self {
            PaymentState::Initiated | PaymentState::Pending => ApiStatus::Pending,
            PaymentState::Authorized | PaymentState::Captured => ApiStatus::Accepted,
            PaymentState::Failed | PaymentState::Voided => ApiStatus::Failed,
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, PaymentState::Failed | PaymentState::Voided)
    }

    /// Whether news from the provider may move a payment from `self` to `next`. States only
    /// move forward: a late "pending" never undoes a capture, a late "approved" never revives
    /// a payment we already reported as failed.
    pub fn may_become(self, next: PaymentState) -> bool {
        use PaymentState::*;
        match (self, next) {
            (a, b) if a == b => false,
            (Initiated, _) => true,
            (Pending, Authorized | Captured | Failed) => true,
            (Authorized, Captured | Voided | Failed) => true,
            _ => false,
        }
    }
}

/// How the payment came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentKind {
    Single,
    Recurrent,
    Session,
}

/// A stored HTTP answer, replayed verbatim to idempotent retries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClaimState {
    InProgress,
    Completed,
}

/// The idempotency claim of the pay request. It lives on the payment itself because the pay's
/// idempotency key is the payment's own key (shopTransactionID): one write claims both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayClaim {
    pub request_hash: String,
    pub state: ClaimState,
    /// Unix ms after which another request may take over an `InProgress` claim.
    pub lock_expires_at: i64,
    pub response: Option<StoredResponse>,
    /// The answer was a final KO: a different body may start a new attempt.
    pub retryable: bool,
    /// Increases with every attempt; part of the provider-side idempotency key.
    pub attempt: u32,
}

/// What a duplicate pay request should get, given the stored payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayDuplicate {
    Replay(StoredResponse),
    /// The stored answer is stale (the payment failed after it): answer what it is now.
    ReplayCurrent,
    InProgress {
        retry_after_secs: u64,
    },
    Conflict,
    /// The earlier request died holding the claim: take over, but ask the provider first.
    TakeOver,
    /// The earlier attempt ended in a final KO and this body differs: a fresh attempt.
    NewAttempt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RefundState {
    /// Counted against what remains before the provider is asked, so that concurrent refunds
    /// can never together exceed the captured amount. A refund the provider accepted but
    /// completes later (pending) stays reserved, with its `provider_refund_id` set.
    Reserved,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub id: String,
    pub amount_minor: i64,
    pub state: RefundState,
    pub provider_refund_id: Option<String>,
    pub created_at: i64,
    /// Whether the provider can be asked about this refund later (`refund_status`): then, when
    /// its answer is lost, `/check` and the reconciler settle it with the provider's truth.
    #[serde(default)]
    pub checkable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    #[error("the payment is {state:?}; it cannot be {action}")]
    InvalidState {
        state: PaymentState,
        action: &'static str,
    },
    #[error("the amount exceeds what remains ({remaining})")]
    AmountExceedsRemaining { remaining: Money },
    #[error(transparent)]
    Money(#[from] MoneyError),
    #[error("no refund {0} on this payment")]
    UnknownRefund(String),
    #[error("refund {0} exists already")]
    DuplicateRefund(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub shop_transaction_id: String,
    pub provider: String,
    pub method: String,
    pub kind: PaymentKind,
    /// The amount asked for (and authorised, once the provider says so).
    pub amount: Money,
    pub state: PaymentState,
    pub provider_payment_id: Option<String>,
    pub captured_minor: i64,
    pub refunded_minor: i64,
    pub refunds: Vec<Refund>,
    pub result_description: String,
    pub redirect_url: Option<String>,
    pub redirect_url_mobile: Option<String>,
    pub recurrence_token: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub claim: PayClaim,
    /// Optimistic-concurrency version: a store writes a payment only over `version - 1`.
    pub version: u64,
    /// Sequence of the last notification event (per payment, increasing).
    pub event_sequence: u64,
    pub created_at: i64,
    pub updated_at: i64,
    /// Earlier attempts that failed, oldest first: a new attempt replaces the fields above
    /// but keeps what became of these (and their provider ids, so that their late callbacks
    /// are recognised and never applied to the new attempt).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub past_attempts: Vec<PastAttempt>,
}

/// A failed attempt, as it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PastAttempt {
    pub attempt: u32,
    pub provider_payment_id: Option<String>,
    pub state: PaymentState,
    pub result_description: String,
    pub amount: Money,
    pub updated_at: i64,
}

/// How long a pay may hold its claim before a retry may take it over.
pub const PAY_LOCK_MS: i64 = 60_000;

pub struct NewPayment {
    pub shop_transaction_id: String,
    pub provider: String,
    pub method: String,
    pub kind: PaymentKind,
    pub amount: Money,
    pub metadata: BTreeMap<String, String>,
    pub request_hash: String,
    pub now: i64,
    /// How long the claim blocks duplicates before a retry may take it over.
    pub lock_ms: i64,
}

impl Payment {
    /// A payment whose pay request has just been claimed (version 1, state `Initiated`).
    pub fn claimed(new: NewPayment) -> Payment {
        Payment {
            shop_transaction_id: new.shop_transaction_id,
            provider: new.provider,
            method: new.method,
            kind: new.kind,
            amount: new.amount,
            state: PaymentState::Initiated,
            provider_payment_id: None,
            captured_minor: 0,
            refunded_minor: 0,
            refunds: Vec::new(),
            result_description: "Payment started".into(),
            redirect_url: None,
            redirect_url_mobile: None,
            recurrence_token: None,
            metadata: new.metadata,
            claim: PayClaim {
                request_hash: new.request_hash,
                state: ClaimState::InProgress,
                lock_expires_at: new.now + new.lock_ms,
                response: None,
                retryable: false,
                attempt: 1,
            },
            version: 1,
            event_sequence: 0,
            created_at: new.now,
            updated_at: new.now,
            past_attempts: Vec::new(),
        }
    }

    /// The pay was answered (redirect, pending) and the payment failed afterwards (3DS
    /// declined, settled FAILED by a callback or a check): the stored answer is stale.
    pub fn failed_after_answer(&self) -> bool {
        self.claim.state == ClaimState::Completed
            && self.state == PaymentState::Failed
            && !self.claim.retryable
    }

    /// Whether `provider_payment_id` is one of the earlier, failed attempts.
    pub fn is_past_attempt(&self, provider_payment_id: &str) -> bool {
        self.provider_payment_id.as_deref() != Some(provider_payment_id)
            && self
                .past_attempts
                .iter()
                .any(|a| a.provider_payment_id.as_deref() == Some(provider_payment_id))
    }

    /// Decides what a pay request for an already known shopTransactionID gets.
    pub fn classify_duplicate(&self, request_hash: &str, now: i64) -> PayDuplicate {
        let same_body = self.claim.request_hash == request_hash;
        if self.failed_after_answer() {
            // As after a final KO: the same body is told the outcome (not the stale redirect
            // or PENDING), another body starts a new attempt.
            return if same_body {
                PayDuplicate::ReplayCurrent
            } else {
                PayDuplicate::NewAttempt
            };
        }
        match self.claim.state {
            ClaimState::Completed if same_body => match &self.claim.response {
                Some(response) => PayDuplicate::Replay(response.clone()),
                None => PayDuplicate::Conflict,
            },
            ClaimState::Completed if self.claim.retryable && self.state.is_final() => {
                PayDuplicate::NewAttempt
            }
            ClaimState::Completed => PayDuplicate::Conflict,
            ClaimState::InProgress if !same_body => PayDuplicate::Conflict,
            ClaimState::InProgress if now < self.claim.lock_expires_at => {
                let ms_left = (self.claim.lock_expires_at - now).max(0) as u64;
                PayDuplicate::InProgress {
                    retry_after_secs: ms_left.div_ceil(1000).clamp(1, 60),
                }
            }
            ClaimState::InProgress => PayDuplicate::TakeOver,
        }
    }

    /// Starts another attempt on this payment (after a final KO, or taking over a dead claim).
    /// Returns the next version to be written over the current one.
    /// A takeover keeps the attempt number, so the provider-side idempotency key is the same
    /// and even a blind retry could not charge twice.
    pub fn restart_attempt(&self, fresh: NewPayment, takeover: bool) -> Payment {
        let lock_ms = fresh.lock_ms;
        let now = fresh.now;
        let mut next = if takeover {
            self.clone()
        } else {
            let mut p = Payment::claimed(fresh);
            p.created_at = self.created_at;
            p.event_sequence = self.event_sequence;
            p.past_attempts = self.past_attempts.clone();
            p.past_attempts.push(PastAttempt {
                attempt: self.claim.attempt,
                provider_payment_id: self.provider_payment_id.clone(),
                state: self.state,
                result_description: self.result_description.clone(),
                amount: self.amount,
                updated_at: self.updated_at,
            });
            p
        };
        next.claim.state = ClaimState::InProgress;
        next.claim.lock_expires_at = now + lock_ms;
        next.claim.attempt = self.claim.attempt + u32::from(!takeover);
        next.updated_at = now.max(self.updated_at);
        next.claim.response = None;
        next.claim.retryable = false;
        next.version = self.version + 1;
        next
    }

    /// Records news from the provider. Returns whether the state changed (and so whether the
    /// merchant has something to be told).
    pub fn observe(&mut self, next: PaymentState, description: &str, now: i64) -> bool {
        if !self.state.may_become(next) {
            return false;
        }
        self.state = next;
        self.result_description = description.to_owned();
        if next == PaymentState::Captured && self.captured_minor == 0 {
            self.captured_minor = self.amount.minor();
        }
        self.updated_at = now;
        true
    }

    /// Records what the provider says it captured, when that differs from what we hold (a
    /// partial capture whose answer was lost was taken to be the full amount). Returns whether
    /// it changed anything. An amount the payment cannot have (above the authorised amount, or
    /// below what was refunded or is being refunded) is ignored.
    pub fn record_captured(&mut self, minor: i64, now: i64) -> bool {
        let possible = self.refunded_minor + self.reserved_minor()..=self.amount.minor();
        if self.state != PaymentState::Captured
            || minor == self.captured_minor
            || minor <= 0
            || !possible.contains(&minor)
        {
            return false;
        }
        self.captured_minor = minor;
        self.updated_at = now;
        true
    }

    /// Captures a pre-authorised payment, for at most the authorised amount.
    pub fn capture(&mut self, amount: Money, now: i64) -> Result<(), PaymentError> {
        if self.state != PaymentState::Authorized {
            return Err(PaymentError::InvalidState {
                state: self.state,
                action: "confirmed",
            });
        }
        self.check_currency(amount)?;
        if amount.minor() > self.amount.minor() {
            return Err(PaymentError::AmountExceedsRemaining {
                remaining: self.amount,
            });
        }
        self.state = PaymentState::Captured;
        self.captured_minor = amount.minor();
        self.result_description = "Payment captured".into();
        self.updated_at = now;
        Ok(())
    }

    /// Whether the reconciler should ask the provider about this payment once it has been quiet
    /// for a while: its outcome is not known yet, or one of its refunds' is (and can be asked).
    pub fn awaits_news(&self) -> bool {
        matches!(self.state, PaymentState::Initiated | PaymentState::Pending)
            || self
                .refunds
                .iter()
                .any(|r| r.state == RefundState::Reserved && r.checkable)
    }

    /// Reserved refunds made before `before` whose provider can say what became of them: their
    /// request is over (it was made before `before`), yet they were never settled.
    pub fn unsettled_refunds(&self, before: i64) -> Vec<Refund> {
        self.refunds
            .iter()
            .filter(|r| r.state == RefundState::Reserved && r.checkable && r.created_at < before)
            .cloned()
            .collect()
    }

    /// Refunds in flight: reserved, not yet settled.
    fn reserved_minor(&self) -> i64 {
        self.refunds
            .iter()
            .filter(|r| r.state == RefundState::Reserved)
            .map(|r| r.amount_minor)
            .sum()
    }

    /// What can still be refunded: captured less refunded less refunds in flight.
    pub fn refundable(&self) -> Money {
        let minor = (self.captured_minor - self.refunded_minor - self.reserved_minor()).max(0);
        Money::from_minor(minor, self.amount.currency()).expect("never above the captured amount")
    }

    /// Reserves `amount` for refund `id`. `None` refunds everything that remains.
    /// `checkable`: whether the provider can later say what became of it.
    pub fn reserve_refund(
        &mut self,
        id: &str,
        amount: Option<Money>,
        checkable: bool,
        now: i64,
    ) -> Result<Money, PaymentError> {
        if self.refunds.iter().any(|r| r.id == id) {
            return Err(PaymentError::DuplicateRefund(id.to_owned()));
        }
        if self.state != PaymentState::Captured {
            return Err(PaymentError::InvalidState {
                state: self.state,
                action: "refunded",
            });
        }
        let remaining = self.refundable();
        let amount = match amount {
            Some(a) => {
                self.check_currency(a)?;
                a
            }
            None => remaining,
        };
        if amount.is_zero() || amount.minor() > remaining.minor() {
            return Err(PaymentError::AmountExceedsRemaining { remaining });
        }
        self.refunds.push(Refund {
            id: id.to_owned(),
            amount_minor: amount.minor(),
            state: RefundState::Reserved,
            provider_refund_id: None,
            created_at: now,
            checkable,
        });
        self.updated_at = now;
        Ok(amount)
    }

    /// Records that the provider accepted reserved refund `id` but completes it later: it stays
    /// reserved (neither refundable again nor counted as refunded) until settled, and now
    /// carries the provider's id. Whether anything changed.
    pub fn note_refund_pending(
        &mut self,
        id: &str,
        provider_refund_id: Option<String>,
        now: i64,
    ) -> bool {
        let Some(refund) = self
            .refunds
            .iter_mut()
            .find(|r| r.id == id && r.state == RefundState::Reserved)
        else {
            return false;
        };
        if provider_refund_id.is_none() || refund.provider_refund_id == provider_refund_id {
            return false;
        }
        refund.provider_refund_id = provider_refund_id;
        self.updated_at = now;
        true
    }

    /// Settles a reserved refund with the provider's answer.
    pub fn settle_refund(
        &mut self,
        id: &str,
        succeeded: bool,
        provider_refund_id: Option<String>,
        now: i64,
    ) -> Result<(), PaymentError> {
        let refund = self
            .refunds
            .iter_mut()
            .find(|r| r.id == id && r.state == RefundState::Reserved)
            .ok_or_else(|| PaymentError::UnknownRefund(id.to_owned()))?;
        refund.state = if succeeded {
            RefundState::Succeeded
        } else {
            RefundState::Failed
        };
        // Keep the id a pending answer recorded when the final word does not repeat it.
        if provider_refund_id.is_some() {
            refund.provider_refund_id = provider_refund_id;
        }
        if succeeded {
            self.refunded_minor += refund.amount_minor;
        }
        self.updated_at = now;
        Ok(())
    }

    pub fn refunded(&self) -> Money {
        Money::from_minor(self.refunded_minor, self.amount.currency()).expect("bounded")
    }

    fn check_currency(&self, amount: Money) -> Result<(), PaymentError> {
        if amount.currency() != self.amount.currency() {
            return Err(
                MoneyError::CurrencyMismatch(amount.currency(), self.amount.currency()).into(),
            );
        }
        Ok(())
    }

    /// Marks the pay claim done with the response every retry will get.
    pub fn complete_claim(&mut self, response: StoredResponse, final_ko: bool) {
        self.claim.state = ClaimState::Completed;
        self.claim.response = Some(response);
        self.claim.retryable = final_ko;
    }

    /// The next version of this payment, to be written over the current one.
    pub fn bump(&mut self, now: i64) {
        self.version += 1;
        self.updated_at = self.updated_at.max(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    fn payment(minor: i64) -> Payment {
        Payment::claimed(NewPayment {
            shop_transaction_id: "order-1".into(),
            provider: "sandbox".into(),
            method: "credit-cards".into(),
            kind: PaymentKind::Single,
            amount: Money::from_minor(minor, Currency::EUR).unwrap(),
            metadata: BTreeMap::new(),
            request_hash: "h1".into(),
            now: 1_000,
            lock_ms: PAY_LOCK_MS,
        })
    }

    fn eur(minor: i64) -> Money {
        Money::from_minor(minor, Currency::EUR).unwrap()
    }

    #[test]
    fn states_only_move_forward() {
        use PaymentState::*;
        assert!(Initiated.may_become(Captured));
        assert!(Pending.may_become(Failed));
        assert!(!Captured.may_become(Pending));
        assert!(!Captured.may_become(Failed));
        assert!(!Failed.may_become(Captured));
        assert!(!Pending.may_become(Pending));
        assert_eq!(Authorized.api_status(), ApiStatus::Accepted);
        assert_eq!(Initiated.api_status(), ApiStatus::Pending);
        assert_eq!(Voided.api_status(), ApiStatus::Failed);
    }

    #[test]
    fn refunds_never_exceed_the_captured_amount() {
        let mut p = payment(1000);
        assert!(
            p.reserve_refund("r0", Some(eur(1)), false, 2).is_err(),
            "not captured yet"
        );
        assert!(p.observe(PaymentState::Captured, "ok", 2));
        assert_eq!(
            p.reserve_refund("r1", Some(eur(400)), false, 3).unwrap(),
            eur(400)
        );
        assert_eq!(
            p.reserve_refund("r2", Some(eur(400)), false, 3).unwrap(),
            eur(400)
        );
        // Both still in flight: only 200 remain.
        assert_eq!(
            p.reserve_refund("r3", Some(eur(300)), false, 3),
            Err(PaymentError::AmountExceedsRemaining {
                remaining: eur(200)
            })
        );
        p.settle_refund("r1", true, None, 4).unwrap();
        p.settle_refund("r2", false, None, 4).unwrap();
        assert_eq!(p.refundable(), eur(600));
        assert_eq!(p.reserve_refund("r4", None, false, 5).unwrap(), eur(600));
        p.settle_refund("r4", true, None, 5).unwrap();
        assert_eq!(p.refunded(), eur(1000));
        assert!(p.reserve_refund("r5", None, false, 6).is_err());
    }

    #[test]
    fn a_refund_id_is_reserved_once() {
        let mut p = payment(1000);
        p.observe(PaymentState::Captured, "ok", 2);
        p.reserve_refund("r1", Some(eur(100)), true, 3).unwrap();
        p.settle_refund("r1", true, None, 4).unwrap();
        assert_eq!(
            p.reserve_refund("r1", Some(eur(100)), true, 5),
            Err(PaymentError::DuplicateRefund("r1".into()))
        );
        assert_eq!(p.refunds.len(), 1);
    }

    #[test]
    fn a_checkable_reserved_refund_awaits_news_until_settled() {
        let mut p = payment(1000);
        assert!(p.awaits_news(), "initiated");
        p.observe(PaymentState::Captured, "ok", 2);
        assert!(!p.awaits_news());
        p.reserve_refund("unchecked", Some(eur(100)), false, 3)
            .unwrap();
        assert!(!p.awaits_news(), "nobody can ask the provider about it");
        p.reserve_refund("checked", Some(eur(100)), true, 4)
            .unwrap();
        assert!(p.awaits_news());
        assert!(
            p.unsettled_refunds(4).is_empty(),
            "its request may be running"
        );
        assert_eq!(p.unsettled_refunds(5)[0].id, "checked");
        p.settle_refund("checked", false, None, 6).unwrap();
        assert!(!p.awaits_news());
    }

    #[test]
    fn what_the_provider_says_was_captured_corrects_a_full_capture_taken_for_granted() {
        let mut p = payment(3000);
        assert!(!p.record_captured(2000, 2), "not captured");
        p.observe(PaymentState::Captured, "ok", 2);
        assert_eq!(p.captured_minor, 3000);
        assert!(p.record_captured(2000, 3));
        assert_eq!(p.refundable(), eur(2000));
        assert!(!p.record_captured(2000, 4), "nothing new");
        assert!(!p.record_captured(3001, 4), "above the authorisation");
        p.reserve_refund("r1", Some(eur(1500)), false, 5).unwrap();
        assert!(!p.record_captured(1000, 6), "below what is being refunded");
        assert!(!p.record_captured(0, 6));
        assert_eq!(p.captured_minor, 2000);
    }

    #[test]
    fn capture_is_bounded_by_the_authorisation() {
        let mut p = payment(1000);
        assert!(p.capture(eur(1000), 2).is_err(), "not authorised yet");
        p.observe(PaymentState::Authorized, "held", 2);
        assert!(p.capture(eur(1001), 3).is_err());
        p.capture(eur(800), 3).unwrap();
        assert_eq!(p.captured_minor, 800);
        assert_eq!(p.refundable(), eur(800));
    }

    #[test]
    fn duplicates_are_classified_like_stripe_does() {
        let mut p = payment(1000);
        assert!(matches!(
            p.classify_duplicate("h1", 2_000),
            PayDuplicate::InProgress { .. }
        ));
        assert_eq!(p.classify_duplicate("h2", 2_000), PayDuplicate::Conflict);
        assert_eq!(
            p.classify_duplicate("h1", 1_000 + PAY_LOCK_MS),
            PayDuplicate::TakeOver
        );
        let response = StoredResponse {
            status: 200,
            body: "{}".into(),
        };
        p.observe(PaymentState::Failed, "declined", 3);
        p.complete_claim(response.clone(), true);
        assert_eq!(
            p.classify_duplicate("h1", 4),
            PayDuplicate::Replay(response)
        );
        assert_eq!(p.classify_duplicate("h2", 4), PayDuplicate::NewAttempt);
    }

    #[test]
    fn a_pending_refund_stays_reserved_with_the_providers_id_until_settled() {
        let mut p = payment(1000);
        p.observe(PaymentState::Captured, "ok", 2);
        p.reserve_refund("r1", Some(eur(400)), true, 3).unwrap();
        assert!(p.note_refund_pending("r1", Some("re_1".into()), 4));
        assert!(
            !p.note_refund_pending("r1", Some("re_1".into()), 5),
            "known"
        );
        assert_eq!(p.refundable(), eur(600), "still reserved");
        assert_eq!(p.refunded(), eur(0), "not refunded yet");
        assert!(p.awaits_news());
        // The final word need not repeat the provider's id.
        p.settle_refund("r1", true, None, 6).unwrap();
        assert_eq!(p.refunds[0].provider_refund_id.as_deref(), Some("re_1"));
        assert_eq!(p.refunded(), eur(400));
        assert!(
            !p.note_refund_pending("r1", Some("re_2".into()), 7),
            "settled"
        );
    }
}
