//! Learning what the provider knows: callbacks, `/check`, `/status` and the reconciler all end
//! in `apply_status`, which moves the payment forward and notifies the merchant once per change.

use crate::refund::settle_reserved;
use crate::{App, AppError, Change};
use pgm_core::clock::now_ms;
use pgm_core::event::{EventType, NotificationEvent};
use pgm_core::payment::{ClaimState, RefundState};
use pgm_core::wire::StatusResponse;
use pgm_core::{ApiStatus, Money, Payment, PaymentRef, PaymentState};
use pgm_providers::{
    CallbackAck, CallbackOutcome, CallbackRequest, CallbackSubject, Operation, Provider,
    ProviderError, RefundOutcome, RefundStatus, StatusOutcome,
};
use std::sync::Arc;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReconcileReport {
    pub examined: usize,
    /// Payments whose state changed.
    pub settled: usize,
    /// Payments the provider could not be asked about this time.
    pub unreachable: usize,
}

pub fn status_response(p: &Payment) -> StatusResponse {
    let currency = p.amount.currency();
    let amount = |minor| {
        Money::from_minor(minor, currency)
            .map(|m| m.to_decimal_string())
            .unwrap_or_default()
    };
    StatusResponse {
        status: p.state.api_status(),
        state: p.state,
        payment_id: p.provider_payment_id.clone(),
        shop_transaction_id: p.shop_transaction_id.clone(),
        amount: p.amount.to_decimal_string(),
        currency: currency.code().to_owned(),
        captured_amount: amount(p.captured_minor),
        refunded_amount: amount(p.refunded_minor),
    }
}

impl App {
    /// Records what the provider says. The merchant is notified when the payment reaches an
    /// outcome (accepted or failed); moves between pending states are not news.
    pub(crate) async fn apply_status(
        &self,
        payment: Payment,
        status: StatusOutcome,
    ) -> Result<(Payment, bool), AppError> {
        let (payment, changed) = self
            .update(payment, |p, now| {
                let mut change = Change::new(());
                if p.provider_payment_id.is_none() {
                    if let Some(id) = &status.provider_payment_id {
                        p.provider_payment_id = Some(id.clone());
                        change.map_provider_id = Some(id.clone());
                    }
                }
                let moved = p.observe(status.state, &status.description, now);
                let corrected = status
                    .captured_minor
                    .is_some_and(|minor| p.record_captured(minor, now));
                if moved && p.state.api_status() != ApiStatus::Pending {
                    let event = EventType::for_state(p.state);
                    change
                        .events
                        .push(NotificationEvent::next_for(p, event, now));
                }
                if !moved && !corrected && change.map_provider_id.is_none() {
                    return Ok(None);
                }
                Ok(Some(change))
            })
            .await?;
        Ok((payment, changed.is_some()))
    }

    /// Asks the provider and records the answer, for the payment and for its refunds whose
    /// answer was lost.
    pub(crate) async fn refresh(
        &self,
        provider: &Arc<dyn Provider>,
        payment: Payment,
    ) -> Result<(Payment, bool), AppError> {
        let (payment, moved) = self.refresh_payment(provider, payment).await?;
        let (payment, settled) = self.settle_lost_refunds(provider, payment).await?;
        Ok((payment, moved || settled))
    }

    /// A payment the provider never heard of, whose pay has finished, failed: nothing was
    /// charged.
    async fn refresh_payment(
        &self,
        provider: &Arc<dyn Provider>,
        payment: Payment,
    ) -> Result<(Payment, bool), AppError> {
        match provider.status(&payment).await {
            Ok(status) => self.apply_status(payment, status).await,
            Err(ProviderError::NotFound)
                if payment.state == PaymentState::Initiated
                    && payment.claim.state == ClaimState::Completed =>
            {
                let status = StatusOutcome {
                    state: PaymentState::Failed,
                    description: "The provider never received this payment".into(),
                    provider_payment_id: None,
                    captured_minor: None,
                };
                self.apply_status(payment, status).await
            }
            Err(ProviderError::NotFound)
                if payment.state == PaymentState::Initiated
                    && payment.claim.state == ClaimState::InProgress
                    && now_ms() >= payment.claim.lock_expires_at =>
            {
                self.settle_abandoned_pay(payment).await
            }
            Err(e) => Err(AppError::from_provider(provider.name(), e)),
        }
    }

    /// Settles reserved refunds whose request is over (older than the pay lock, which outlasts
    /// any provider timeout) with what the provider says became of them. A refund the provider
    /// never received failed: its amount may be refunded again.
    async fn settle_lost_refunds(
        &self,
        provider: &Arc<dyn Provider>,
        mut payment: Payment,
    ) -> Result<(Payment, bool), AppError> {
        let before = now_ms() - self.settings.pay_lock.as_millis() as i64;
        let mut settled = false;
        for refund in payment.unsettled_refunds(before) {
            let verdict = match provider.refund_status(&payment, &refund.id).await {
                Ok(Some(verdict)) => verdict,
                Ok(None) => RefundOutcome {
                    state: RefundStatus::Failed,
                    provider_refund_id: None,
                    description: "The provider never received this refund".into(),
                },
                Err(e) => return Err(AppError::from_provider(provider.name(), e)),
            };
            // Still pending at the provider: asked again next time, or settled by its webhook.
            let pending = verdict.is_pending();
            let (next, changed) = self
                .settle_refund_news(payment, &refund.id, &verdict)
                .await?;
            payment = next;
            settled |= changed && !pending;
        }
        Ok((payment, settled))
    }

    /// Records what the provider says of reserved refund `refund_id`: settled (and notified) or
    /// still pending. Whether anything was written; nothing is when the refund was settled
    /// meanwhile or is not ours.
    async fn settle_refund_news(
        &self,
        payment: Payment,
        refund_id: &str,
        verdict: &RefundOutcome,
    ) -> Result<(Payment, bool), AppError> {
        let (payment, changed) = self
            .update(payment, |p, now| {
                if !p
                    .refunds
                    .iter()
                    .any(|r| r.id == refund_id && r.state == RefundState::Reserved)
                {
                    return Ok(None); // settled meanwhile, or never ours
                }
                if verdict.is_pending() {
                    let noted =
                        p.note_refund_pending(refund_id, verdict.provider_refund_id.clone(), now);
                    return Ok(noted.then(|| Change::new(())));
                }
                let mut change = Change::new(());
                change
                    .events
                    .extend(settle_reserved(p, refund_id, verdict, now)?);
                Ok(Some(change))
            })
            .await?;
        Ok((payment, changed.is_some()))
    }

    pub async fn callback(
        &self,
        provider_name: &str,
        request: CallbackRequest,
    ) -> Result<CallbackAck, AppError> {
        let provider = self.provider(provider_name, None, Operation::Callback)?;
        let outcome = provider
            .callback(&request)
            .await
            .map_err(|e| AppError::from_provider(provider.name(), e))?;
        let (subject, verified, ack) = match outcome {
            CallbackOutcome::Payment {
                subject,
                verified,
                ack,
            } => (subject, verified, ack),
            CallbackOutcome::Refund {
                subject,
                refund_id,
                outcome,
                ack,
            } => {
                let Some(refund_id) = refund_id else {
                    // The provider does not say which refund (Scalapay's `refunded`): ours are
                    // settled by their own answers, so this one is news, not money to count.
                    tracing::info!(
                        provider = provider.name(),
                        subject = ?subject,
                        description = %outcome.description,
                        "refund webhook naming none of our refunds: acknowledged, nothing counted"
                    );
                    return Ok(ack);
                };
                let payment = self.find(provider.name(), &payment_ref(subject)).await?;
                let (_, changed) = self
                    .settle_refund_news(payment, &refund_id, &outcome)
                    .await?;
                if !changed {
                    tracing::info!(
                        provider = provider.name(),
                        refund_id = %refund_id,
                        "refund webhook with nothing new (settled already, or still pending)"
                    );
                }
                return Ok(ack);
            }
            CallbackOutcome::Ignored { ack } => return Ok(ack),
        };
        let reference = payment_ref(subject);
        let payment = self.find(provider.name(), &reference).await?;
        if let PaymentRef::PaymentId(id) = &reference {
            if payment.is_past_attempt(id) {
                // News of an earlier attempt that failed (a redelivered decline): it is
                // history, and must never settle the attempt now running.
                tracing::info!(shop_transaction_id = %payment.shop_transaction_id, "callback for an earlier attempt ignored");
                return Ok(ack);
            }
        }
        match verified {
            Some(status) => {
                self.apply_status(payment, status).await?;
            }
            // Unsigned callbacks are only a trigger: believe the provider's API, not the caller.
            None => {
                self.refresh(&provider, payment).await?;
            }
        }
        Ok(ack)
    }

    /// `/check`: ask the provider now, record, notify.
    pub async fn check(
        &self,
        provider_name: &str,
        reference: &PaymentRef,
    ) -> Result<StatusResponse, AppError> {
        let provider = self.provider(provider_name, None, Operation::Check)?;
        let payment = self.find(provider.name(), reference).await?;
        let (payment, _) = self.refresh(&provider, payment).await?;
        Ok(status_response(&payment))
    }

    /// `/status`: the stored state; a payment still pending is checked with the provider
    /// first (if the provider cannot be reached, the stored state is the answer).
    pub async fn status(
        &self,
        provider_name: &str,
        reference: &PaymentRef,
    ) -> Result<StatusResponse, AppError> {
        let provider = self.provider(provider_name, None, Operation::Status)?;
        let payment = self.find(provider.name(), reference).await?;
        if payment.state.api_status() != ApiStatus::Pending {
            return Ok(status_response(&payment));
        }
        match self.refresh(&provider, payment.clone()).await {
            Ok((payment, _)) => Ok(status_response(&payment)),
            Err(e) => {
                tracing::info!(error = %e, "status answered from the store");
                Ok(status_response(&payment))
            }
        }
    }

    /// One reconciliation pass: payments pending for longer than `settings.stale_after` are
    /// checked with their provider.
    pub async fn reconcile_once(&self, limit: usize) -> Result<ReconcileReport, AppError> {
        let cutoff = now_ms() - self.settings.stale_after.as_millis() as i64;
        let stale = self.store.stale_pending(cutoff, limit).await?;
        let mut report = ReconcileReport::default();
        for payment in stale {
            report.examined += 1;
            let Some(provider) = self.providers.get(&payment.provider).cloned() else {
                continue;
            };
            if !provider.supports(Operation::Status) {
                continue;
            }
            let id = payment.shop_transaction_id.clone();
            match self.refresh(&provider, payment).await {
                Ok((_, true)) => report.settled += 1,
                Ok((_, false)) => {}
                Err(e) => {
                    report.unreachable += 1;
                    tracing::warn!(shop_transaction_id = %id, error = %e, "reconciliation deferred");
                }
            }
        }
        Ok(report)
    }
}

fn payment_ref(subject: CallbackSubject) -> PaymentRef {
    match subject {
        CallbackSubject::ShopTransactionId(id) => PaymentRef::ShopTransactionId(id),
        CallbackSubject::ProviderPaymentId(id) => PaymentRef::PaymentId(id),
    }
}
