//! Transaction sessions (`session/open|confirm|void|refund|check`). A session is stored as a
//! payment of kind `Session` whose provider id is the session token, so confirm, void and
//! refund reuse the same rules and invariants as every other payment.

use crate::idempotency::Reply;
use crate::pay::Claimed;
use crate::{App, AppError, Change, Problem};
use pgm_core::payment::NewPayment;
use pgm_core::wire::{
    OkKo, PaymentAmountCommand, SessionOpenRequest, SessionOpenResponse, SessionResponse,
};
use pgm_core::{PaymentKind, PaymentState};
use pgm_providers::{Operation, ProviderError};

impl App {
    pub async fn session_open(
        &self,
        provider_name: &str,
        request: SessionOpenRequest,
        request_hash: &str,
    ) -> Result<Reply, AppError> {
        let provider = self.provider(provider_name, None, Operation::SessionOpen)?;
        let cmd = request.validate()?;
        let fresh = |now| NewPayment {
            shop_transaction_id: cmd.shop_transaction_id.clone(),
            provider: provider.name().to_owned(),
            method: "session".into(),
            kind: PaymentKind::Session,
            amount: cmd.amount,
            metadata: Default::default(),
            request_hash: request_hash.to_owned(),
            now,
            lock_ms: self.settings.pay_lock.as_millis() as i64,
        };
        let payment = match self.claim_payment(fresh, request_hash).await? {
            Claimed::Replay(reply) => return Ok(reply),
            // Opening is idempotent at the provider (keyed by shopTransactionID), so a
            // takeover simply opens again.
            Claimed::Fresh(p) | Claimed::TakeOver(p) => p,
        };
        let result = provider.session_open(&cmd).await;
        let (_, reply) = self
            .update(payment, |p, now| match &result {
                Ok(opened) => {
                    p.provider_payment_id = Some(opened.session_token.clone());
                    p.redirect_url = opened.redirect_url.clone();
                    p.observe(opened.state, "Session open", now);
                    let reply = Reply::json(&SessionOpenResponse {
                        session_token: opened.session_token.clone(),
                        shop_transaction_id: p.shop_transaction_id.clone(),
                        amount: p.amount.to_decimal_string(),
                        currency: p.amount.currency().code().to_owned(),
                        redirect_to_url: opened.redirect_url.clone(),
                    });
                    p.complete_claim(reply.stored(), false);
                    let mut change = Change::new(Ok(reply));
                    change.map_provider_id = Some(opened.session_token.clone());
                    Ok(Some(change))
                }
                Err(e) => {
                    let error = AppError::from_provider(&p.provider, e.clone());
                    if matches!(e, ProviderError::Unavailable(_)) {
                        // Leave the claim open for an immediate retry (which opens again,
                        // idempotently at the provider) instead of replaying a 502 forever.
                        p.claim.lock_expires_at = now;
                        return Ok(Some(Change::new(Err(error))));
                    }
                    p.observe(PaymentState::Failed, &error.to_string(), now);
                    let problem = Problem::from(&error);
                    let reply = Reply {
                        status: problem.status,
                        body: problem.body(),
                        replayed: false,
                    };
                    p.complete_claim(reply.stored(), true);
                    Ok(Some(Change::new(Ok(reply))))
                }
            })
            .await?;
        reply.expect("session open always writes")
    }

    /// `session/check`: the provider's view of the session where it has one, recorded.
    pub async fn session_check(
        &self,
        provider_name: &str,
        cmd: PaymentAmountCommand,
    ) -> Result<Reply, AppError> {
        let provider = self.provider(provider_name, None, Operation::SessionCheck)?;
        let mut payment = self.find(provider.name(), &cmd.payment).await?;
        if provider.supports(Operation::Status) {
            payment = self.refresh(&provider, payment).await?.0;
        }
        Ok(Reply::json(&SessionResponse {
            result: OkKo::Ok,
            result_description: format!("Session is {:?}", payment.state),
            status: Some(payment.state.api_status()),
        }))
    }
}
