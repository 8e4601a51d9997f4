//! Pay: idempotent on shopTransactionID, with the claim living on the payment itself so that a
//! happy path costs one conditional write to claim and one transaction to complete.

use crate::error::Problem;
use crate::idempotency::Reply;
use crate::{App, AppError, Change};
use pgm_core::clock::now_ms;
use pgm_core::event::{EventType, NotificationEvent};
use pgm_core::payment::{ClaimState, NewPayment, PayDuplicate};
use pgm_core::wire::{PayCommand, PayRequest, PayResponse, PayResult};
use pgm_core::{Payment, PaymentKind, PaymentState};
use pgm_providers::{Operation, PayOutcome, Provider, ProviderError};
use pgm_store::{Commit, StoreError};
use std::sync::Arc;

pub(crate) enum Claimed {
    /// Ours, to call the provider with.
    Fresh(Payment),
    /// Ours, but an earlier holder may have reached the provider: ask before paying.
    TakeOver(Payment),
    /// A duplicate of a finished request: its stored answer.
    Replay(Reply),
}

/// A duplicate can race a takeover or a new attempt; a few rounds settle who goes on.
const MAX_CLAIM_ROUNDS: usize = 5;

impl App {
    /// `request_hash` fingerprints the route and the body: the same shopTransactionID with
    /// anything different is a conflict, not a replay.
    pub async fn pay(
        &self,
        provider_name: &str,
        method: &str,
        request: PayRequest,
        recurrent: bool,
        request_hash: &str,
    ) -> Result<Reply, AppError> {
        let op = if recurrent {
            Operation::PayRecurrent
        } else {
            Operation::Pay
        };
        let provider = self.provider(provider_name, Some(method), op)?;
        let mut cmd = request.validate(method, recurrent)?;
        let fresh = |now| NewPayment {
            shop_transaction_id: cmd.shop_transaction_id.clone(),
            provider: provider.name().to_owned(),
            method: method.to_owned(),
            kind: if recurrent {
                PaymentKind::Recurrent
            } else {
                PaymentKind::Single
            },
            amount: cmd.amount,
            metadata: cmd.metadata.clone(),
            request_hash: request_hash.to_owned(),
            now,
            lock_ms: self.settings.pay_lock.as_millis() as i64,
        };
        match self.claim_payment(fresh, request_hash).await? {
            Claimed::Fresh(payment) => self.charge(provider, &mut cmd, payment, recurrent).await,
            Claimed::TakeOver(payment) => {
                self.take_over(provider, &mut cmd, payment, recurrent).await
            }
            Claimed::Replay(reply) => Ok(reply),
        }
    }

    /// Claims the payment's shopTransactionID for this request: creates it, or decides what a
    /// duplicate gets (replay, 409, takeover of a dead claim, new attempt after a final KO).
    pub(crate) async fn claim_payment(
        &self,
        fresh: impl Fn(i64) -> NewPayment,
        request_hash: &str,
    ) -> Result<Claimed, AppError> {
        for _ in 0..MAX_CLAIM_ROUNDS {
            let now = now_ms();
            let claimed = Payment::claimed(fresh(now));
            let Some(existing) = self.store.insert_payment(&claimed).await? else {
                return Ok(Claimed::Fresh(claimed));
            };
            let takeover = match existing.classify_duplicate(request_hash, now) {
                PayDuplicate::Replay(stored) => return Ok(Claimed::Replay(Reply::replay(stored))),
                PayDuplicate::ReplayCurrent => {
                    let current = Reply::json(&pay_response(&existing)).stored();
                    return Ok(Claimed::Replay(Reply::replay(current)));
                }
                PayDuplicate::InProgress { retry_after_secs } => {
                    return Err(AppError::RequestInProgress { retry_after_secs })
                }
                PayDuplicate::Conflict => return Err(AppError::IdempotencyConflict),
                PayDuplicate::TakeOver => true,
                PayDuplicate::NewAttempt => false,
            };
            let next = existing.restart_attempt(fresh(now), takeover);
            let commit = Commit {
                payment: &next,
                map_provider_id: None,
                events: &[],
                idempotency: None,
            };
            match self.store.commit(commit).await {
                Ok(()) if takeover => return Ok(Claimed::TakeOver(next)),
                Ok(()) => return Ok(Claimed::Fresh(next)),
                // Someone else took over or started a new attempt first: look again.
                Err(StoreError::VersionConflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(AppError::Contention)
    }

    /// Calls the provider for a claimed payment and records what it said.
    async fn charge(
        &self,
        provider: Arc<dyn Provider>,
        cmd: &mut PayCommand,
        payment: Payment,
        recurrent: bool,
    ) -> Result<Reply, AppError> {
        cmd.attempt = payment.claim.attempt;
        let result = if recurrent {
            provider.pay_recurrent(cmd).await
        } else {
            provider.pay(cmd).await
        };
        if let Err(e) = &result {
            tracing::warn!(provider = provider.name(), shop_transaction_id = %payment.shop_transaction_id, error = %e, "pay not approved");
        }
        self.finish_pay(payment, result).await
    }

    /// The earlier request died holding the claim, possibly after the provider charged. Ask
    /// the provider first; pay only if it never heard of the payment.
    async fn take_over(
        &self,
        provider: Arc<dyn Provider>,
        cmd: &mut PayCommand,
        payment: Payment,
        recurrent: bool,
    ) -> Result<Reply, AppError> {
        tracing::warn!(shop_transaction_id = %payment.shop_transaction_id, "taking over an abandoned pay");
        match provider.status(&payment).await {
            Ok(status) => {
                let outcome = PayOutcome {
                    provider_payment_id: status.provider_payment_id,
                    state: status.state,
                    description: status.description,
                    redirect_url: payment.redirect_url.clone(),
                    redirect_url_mobile: payment.redirect_url_mobile.clone(),
                    recurrence_token: payment.recurrence_token.clone(),
                };
                self.finish_pay(payment, Ok(outcome)).await
            }
            Err(ProviderError::NotFound) => self.charge(provider, cmd, payment, recurrent).await,
            Err(e) => self.finish_pay(payment, Err(e)).await,
        }
    }

    async fn finish_pay(
        &self,
        payment: Payment,
        result: Result<PayOutcome, ProviderError>,
    ) -> Result<Reply, AppError> {
        let (_, reply) = self
            .update(payment, |p, now| {
                let mut map_provider_id = None;
                let mut problem = None;
                match &result {
                    Ok(outcome) => {
                        if p.provider_payment_id.is_none() {
                            p.provider_payment_id = outcome.provider_payment_id.clone();
                            map_provider_id = outcome.provider_payment_id.clone();
                        }
                        // A callback may already have moved the payment further: `observe`
                        // only ever moves forward.
                        p.observe(outcome.state, &outcome.description, now);
                        p.redirect_url = outcome.redirect_url.clone();
                        p.redirect_url_mobile = outcome.redirect_url_mobile.clone();
                        p.recurrence_token = outcome.recurrence_token.clone().or(p.recurrence_token.take());
                    }
                    Err(ProviderError::Unavailable(_)) => {
                        p.result_description =
                            "Provider unavailable: the outcome will be settled by check or reconciliation".into();
                    }
                    Err(ProviderError::Rejected { message, .. }) => {
                        p.observe(PaymentState::Failed, &format!("Rejected by the provider: {message}"), now);
                    }
                    Err(e) => {
                        // The request cannot be served as it is (a field this provider needs,
                        // an operation it lacks). Nothing was charged: final, and a corrected
                        // request may start a new attempt.
                        let error = AppError::from_provider(&p.provider, e.clone());
                        p.observe(PaymentState::Failed, &error.to_string(), now);
                        problem = Some(Problem::from(&error));
                    }
                }
                let reply = match problem {
                    Some(problem) => Reply {
                        status: problem.status,
                        body: problem.body(),
                        replayed: false,
                    },
                    None => Reply::json(&pay_response(p)),
                };
                p.complete_claim(reply.stored(), p.state.is_final());
                let mut change = Change::new(reply);
                change.map_provider_id = map_provider_id;
                Ok(Some(change))
            })
            .await?;
        Ok(reply.expect("pay always writes"))
    }
}

impl App {
    /// Settles a pay that died holding its claim before the provider knew of the payment (the
    /// provider says it has none, and the claim's lock has run out): it failed, and its claim
    /// is completed with that answer. Atomic with the claim check, so a takeover that claimed
    /// the payment first (moving its version and lock) is never overwritten, and one that comes
    /// later replays the failure instead of charging.
    pub(crate) async fn settle_abandoned_pay(
        &self,
        payment: Payment,
    ) -> Result<(Payment, bool), AppError> {
        let (payment, settled) = self
            .update(payment, |p, now| {
                let abandoned = p.state == PaymentState::Initiated
                    && p.claim.state == ClaimState::InProgress
                    && now >= p.claim.lock_expires_at;
                if !abandoned {
                    return Ok(None);
                }
                p.observe(
                    PaymentState::Failed,
                    "The pay request ended before the provider received it",
                    now,
                );
                let reply = Reply::json(&pay_response(p));
                p.complete_claim(reply.stored(), true);
                let mut change = Change::new(());
                change.events.push(NotificationEvent::next_for(
                    p,
                    EventType::for_state(p.state),
                    now,
                ));
                Ok(Some(change))
            })
            .await?;
        Ok((payment, settled.is_some()))
    }
}

/// The v2 pay answer for the payment as it now stands.
fn pay_response(p: &Payment) -> PayResponse {
    let result = match p.state {
        PaymentState::Captured | PaymentState::Authorized => PayResult::Ok,
        PaymentState::Failed | PaymentState::Voided => PayResult::Ko,
        PaymentState::Pending | PaymentState::Initiated if p.redirect_url.is_some() => {
            PayResult::RedirectToUrl
        }
        PaymentState::Pending | PaymentState::Initiated => PayResult::Pending,
    };
    PayResponse {
        result,
        result_description: p.result_description.clone(),
        payment_id: p.provider_payment_id.clone(),
        redirect_to_url: p.redirect_url.clone(),
        redirect_to_url_mobile: p.redirect_url_mobile.clone(),
        recurrence_token: p.recurrence_token.clone(),
    }
}
