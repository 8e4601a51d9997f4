//! Confirm (capture) and void: the changes to an authorised payment. Both answer the v2
//! route's shape or the session route's (see [`Route`]).

use crate::idempotency::Reply;
use crate::{App, AppError, Change};
use pgm_core::event::{EventType, NotificationEvent};
use pgm_core::wire::{ConfirmResponse, OkKo, PaymentAmountCommand, SessionResponse};
use pgm_core::{Money, Payment, PaymentState};
use pgm_providers::{Operation, ProviderError};

/// Which route asked: the v2 routes and the session routes answer in different shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Payment,
    Session,
}

pub(crate) fn session_reply(result: OkKo, description: &str, p: &Payment) -> Reply {
    Reply::json(&SessionResponse {
        result,
        result_description: description.to_owned(),
        status: Some(p.state.api_status()),
    })
}

impl App {
    pub async fn confirm(
        &self,
        provider_name: &str,
        method: Option<&str>,
        cmd: PaymentAmountCommand,
        idempotency_key: Option<&str>,
        request_hash: &str,
        route: Route,
    ) -> Result<Reply, AppError> {
        let op = match route {
            Route::Payment => Operation::Confirm,
            Route::Session => Operation::SessionConfirm,
        };
        let provider = self.provider(provider_name, method, op)?;
        self.idempotent(
            "confirm",
            idempotency_key,
            request_hash,
            |claim| async move {
                let payment = self.find(provider.name(), &cmd.payment).await?;
                let amount = cmd
                    .amount_in(payment.amount.currency())?
                    .unwrap_or(payment.amount);
                // Check the rules before asking the provider to move money.
                payment.clone().capture(amount, payment.updated_at)?;
                let (succeeded, description) = match provider.confirm(&payment, amount).await {
                    Ok(capture) => (capture.succeeded, capture.description),
                    Err(ProviderError::Rejected { message, .. }) => (false, message),
                    Err(e) => return Err(AppError::from_provider(provider.name(), e)),
                };
                let reply = |p: &Payment, result: OkKo| match route {
                    Route::Payment => Reply::json(&ConfirmResponse {
                        result,
                        result_description: description.clone(),
                        captured_amount: Money::from_minor(p.captured_minor, p.amount.currency())
                            .map(|m| m.to_decimal_string())
                            .unwrap_or_default(),
                    }),
                    Route::Session => session_reply(result, &description, p),
                };
                let (_, change) = self
                    .update(payment, |p, now| {
                        let captured_now = succeeded && p.state == PaymentState::Authorized;
                        if captured_now {
                            p.capture(amount, now)?;
                        }
                        let result = if succeeded && p.state == PaymentState::Captured {
                            OkKo::Ok
                        } else {
                            OkKo::Ko
                        };
                        let reply = reply(p, result);
                        let mut change = Change::new(reply.clone());
                        if captured_now {
                            change.events.push(NotificationEvent::next_for(
                                p,
                                EventType::PaymentCaptured,
                                now,
                            ));
                        }
                        change.idempotency = claim.completed(&reply);
                        Ok(Some(change))
                    })
                    .await?;
                Ok(change.expect("confirm always writes"))
            },
        )
        .await
    }

    /// Session void: releases an authorisation.
    pub async fn void(
        &self,
        provider_name: &str,
        cmd: PaymentAmountCommand,
        idempotency_key: Option<&str>,
        request_hash: &str,
    ) -> Result<Reply, AppError> {
        let provider = self.provider(provider_name, None, Operation::SessionVoid)?;
        self.idempotent("void", idempotency_key, request_hash, |claim| async move {
            let payment = self.find(provider.name(), &cmd.payment).await?;
            if !matches!(
                payment.state,
                PaymentState::Authorized | PaymentState::Pending | PaymentState::Initiated
            ) {
                return Err(AppError::InvalidState {
                    state: payment.state,
                    action: "voided",
                });
            }
            let (succeeded, description) = match provider.void(&payment).await {
                Ok(o) => (o.succeeded, o.description),
                Err(ProviderError::Rejected { message, .. }) => (false, message),
                Err(e) => return Err(AppError::from_provider(provider.name(), e)),
            };
            let (_, reply) = self
                .update(payment, |p, now| {
                    let moved = succeeded && p.observe(PaymentState::Voided, &description, now);
                    let result = if succeeded { OkKo::Ok } else { OkKo::Ko };
                    let reply = session_reply(result, &description, p);
                    let mut change = Change::new(reply.clone());
                    if moved {
                        change.events.push(NotificationEvent::next_for(
                            p,
                            EventType::PaymentVoided,
                            now,
                        ));
                    }
                    change.idempotency = claim.completed(&reply);
                    Ok(Some(change))
                })
                .await?;
            Ok(reply.expect("void always writes"))
        })
        .await
    }
}
