//! Refunds. Each reserves its amount before the provider is asked, so concurrent refunds can
//! never together exceed what was captured.

use crate::capture::{session_reply, Route};
use crate::idempotency::{Claim, Reply};
use crate::{App, AppError, Change};
use pgm_core::event::{EventType, NotificationEvent};
use pgm_core::payment::RefundState;
use pgm_core::wire::{OkKo, PaymentAmountCommand, RefundResponse};
use pgm_core::{Money, Payment};
use pgm_providers::{
    Operation, ProviderError, RefundOutcome, RefundStatus as ProviderRefundStatus,
};
use rand::Rng;

impl App {
    pub async fn refund(
        &self,
        provider_name: &str,
        method: Option<&str>,
        cmd: PaymentAmountCommand,
        idempotency_key: Option<&str>,
        request_hash: &str,
        route: Route,
    ) -> Result<Reply, AppError> {
        let op = match route {
            Route::Payment => Operation::Refund,
            Route::Session => Operation::SessionRefund,
        };
        let provider = self.provider(provider_name, method, op)?;
        self.idempotent(
            "refund",
            idempotency_key,
            request_hash,
            |claim| async move {
                let payment = self.find(provider.name(), &cmd.payment).await?;
                let requested = cmd.amount_in(payment.amount.currency())?;
                let refund_id = claim.derived_id("rf").unwrap_or_else(random_refund_id);
                let checkable = provider.looks_up_refunds();
                let (payment, reservation) = self
                    .reserve(payment, &refund_id, requested, checkable)
                    .await?;
                let amount = match reservation {
                    // Settled since (by a check or the reconciler): answer from the record.
                    Reservation::Settled(verdict) => {
                        return self
                            .settle(payment, &refund_id, &verdict, &claim, route)
                            .await
                    }
                    Reservation::New(amount) => amount,
                    Reservation::Retried(amount) => {
                        // The first attempt may have reached the provider, and its idempotency
                        // key may be gone since (Stripe prunes keys after 24 h): re-sending
                        // could refund twice. Where the provider can be asked, ask first and
                        // send only a refund it never received.
                        if provider.looks_up_refunds() {
                            match provider.refund_status(&payment, &refund_id).await {
                                Ok(Some(verdict)) => {
                                    return self
                                        .settle(payment, &refund_id, &verdict, &claim, route)
                                        .await
                                }
                                Ok(None) => {}
                                Err(e) => return Err(AppError::from_provider(provider.name(), e)),
                            }
                        }
                        // Not found may still be the first attempt in flight: only a provider
                        // that deduplicates by our refund id may be sent it again.
                        if !provider.refunds_are_idempotent() {
                            return Err(AppError::RefundOutcomeUnknown);
                        }
                        amount
                    }
                };
                let verdict = match provider.refund(&payment, amount, &refund_id).await {
                    Ok(verdict) => verdict,
                    Err(ProviderError::Rejected { message, .. }) => declined(message),
                    // Outcome unknown: the reservation stays, so the amount cannot be refunded
                    // twice; a retry with the same Idempotency-Key reuses it, and a check or
                    // the reconciler settles it with the provider's answer.
                    Err(ProviderError::Unavailable(why)) => {
                        return Err(AppError::ProviderUnavailable(why))
                    }
                    Err(e) => declined(AppError::from_provider(provider.name(), e).to_string()),
                };
                self.settle(payment, &refund_id, &verdict, &claim, route)
                    .await
            },
        )
        .await
    }

    /// Reserves the refund, or finds what an earlier attempt with the same refund id left.
    async fn reserve(
        &self,
        payment: Payment,
        refund_id: &str,
        requested: Option<Money>,
        checkable: bool,
    ) -> Result<(Payment, Reservation), AppError> {
        if let Some(earlier) = payment.refunds.iter().find(|r| r.id == refund_id) {
            let reservation = match earlier.state {
                RefundState::Reserved => Reservation::Retried(
                    payment
                        .amount
                        .with_minor(earlier.amount_minor)
                        .map_err(|e| AppError::from(pgm_core::PaymentError::from(e)))?,
                ),
                RefundState::Succeeded | RefundState::Failed => {
                    Reservation::Settled(RefundOutcome {
                        state: ProviderRefundStatus::settled(
                            earlier.state == RefundState::Succeeded,
                        ),
                        provider_refund_id: earlier.provider_refund_id.clone(),
                        description: "Refund settled earlier".into(),
                    })
                }
            };
            return Ok((payment, reservation));
        }
        let (payment, amount) = self
            .update(payment, |p, now| {
                let amount = p.reserve_refund(refund_id, requested, checkable, now)?;
                Ok(Some(Change::new(amount)))
            })
            .await?;
        let amount = amount.expect("reservations always write");
        Ok((payment, Reservation::New(amount)))
    }

    async fn settle(
        &self,
        payment: Payment,
        refund_id: &str,
        verdict: &RefundOutcome,
        claim: &Claim,
        route: Route,
    ) -> Result<Reply, AppError> {
        let (_, reply) = self
            .update(payment, |p, now| {
                let refund = p
                    .refunds
                    .iter()
                    .find(|r| r.id == refund_id)
                    .cloned()
                    .ok_or(AppError::PaymentNotFound)?;
                let event = settle_reserved(p, refund_id, verdict, now)?;
                // From the record, which an earlier settlement may have decided already.
                let status = match p
                    .refunds
                    .iter()
                    .find(|r| r.id == refund_id)
                    .map(|r| r.state)
                {
                    Some(RefundState::Succeeded) => ProviderRefundStatus::Succeeded,
                    Some(RefundState::Reserved) => ProviderRefundStatus::Pending,
                    _ => ProviderRefundStatus::Failed,
                };
                let ok = status == ProviderRefundStatus::Succeeded;
                // A pending refund was taken by the provider: OK, with `refundStatus: PENDING`,
                // nothing counted as refunded yet, and a notification when it ends.
                let result = if status == ProviderRefundStatus::Failed {
                    OkKo::Ko
                } else {
                    OkKo::Ok
                };
                let description = &verdict.description;
                let reply = match route {
                    Route::Payment => Reply::json(&RefundResponse {
                        result,
                        result_description: description.clone(),
                        refund_id: refund_id.to_owned(),
                        // What this refund gave back: nothing when it failed.
                        refunded_amount: p
                            .amount
                            .with_minor(if ok { refund.amount_minor } else { 0 })
                            .map(|m| m.to_decimal_string())
                            .unwrap_or_default(),
                        remaining_amount: p.refundable().to_decimal_string(),
                        refund_status: Some(status),
                    }),
                    Route::Session => session_reply(result, description, p),
                };
                let mut change = Change::new(reply.clone());
                change.events.extend(event);
                change.idempotency = claim.completed(&reply);
                Ok(Some(change))
            })
            .await?;
        Ok(reply.expect("settling always writes"))
    }
}

/// What a refund request finds when it reserves its amount.
enum Reservation {
    /// Reserved now.
    New(Money),
    /// Reserved by an earlier attempt that may have reached the provider.
    Retried(Money),
    /// Settled since the earlier attempt.
    Settled(RefundOutcome),
}

fn declined(description: String) -> RefundOutcome {
    RefundOutcome {
        state: ProviderRefundStatus::Failed,
        provider_refund_id: None,
        description,
    }
}

/// Settles reserved refund `refund_id` of `p` with the provider's answer (nothing happens if it
/// is settled already) and returns the notification it calls for. A pending answer settles
/// nothing: the refund stays reserved and records the provider's id. Refunds that went through
/// are news for the merchant; a failed one is news only when it had been answered pending (the
/// merchant heard OK then); otherwise it was answered to the request that made it.
pub(crate) fn settle_reserved(
    p: &mut Payment,
    refund_id: &str,
    verdict: &RefundOutcome,
    now: i64,
) -> Result<Option<NotificationEvent>, AppError> {
    let Some(i) = p
        .refunds
        .iter()
        .position(|r| r.id == refund_id && r.state == RefundState::Reserved)
    else {
        return Ok(None);
    };
    if verdict.is_pending() {
        p.note_refund_pending(refund_id, verdict.provider_refund_id.clone(), now);
        return Ok(None);
    }
    // Only a pending answer gives a reserved refund the provider's id.
    let was_pending = p.refunds[i].provider_refund_id.is_some();
    // Move the refund last so the event describes it.
    let refund = p.refunds.remove(i);
    p.refunds.push(refund);
    p.settle_refund(
        refund_id,
        verdict.succeeded(),
        verdict.provider_refund_id.clone(),
        now,
    )?;
    let event = match verdict.state {
        ProviderRefundStatus::Succeeded => Some(EventType::RefundSucceeded),
        ProviderRefundStatus::Failed if was_pending => Some(EventType::RefundFailed),
        _ => None,
    };
    Ok(event.map(|e| NotificationEvent::next_for(p, e, now)))
}

fn random_refund_id() -> String {
    let mut bytes = [0u8; 10];
    rand::rng().fill(&mut bytes);
    format!("rf_{}", hex::encode(bytes))
}
