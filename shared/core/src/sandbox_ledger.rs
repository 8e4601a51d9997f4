//! The sandbox provider's own books: what a real PSP would hold on its side. Kept behind a
//! port so that it is as durable as the PGM's store (embedded or DynamoDB). The port lives in
//! the domain, not in the providers crate, so that the stores implement it without depending
//! on any adapter.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[schema(as = SandboxChargeStatus)]
pub enum ChargeStatus {
    /// Waiting for the buyer on the hosted 3DS page.
    AwaitingBuyer,
    /// Accepted by the "bank", not yet settled (tok_pending).
    Processing,
    Authorized,
    Captured,
    Declined,
    Voided,
}

/// One refund of a charge (minor units, Unix milliseconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = SandboxRefund)]
pub struct LedgerRefund {
    pub id: String,
    pub amount_minor: i64,
    pub created_at: i64,
}

/// One charge in the sandbox provider's own books (what a PSP dashboard shows). Amounts are
/// integer minor units, times Unix milliseconds; field names are the sandbox's own
/// (snake_case).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = SandboxCharge)]
pub struct Charge {
    pub id: String,
    /// The merchant's shopTransactionID.
    pub reference: String,
    /// Same key, same charge: the sandbox honours idempotency like Stripe does.
    pub idempotency_key: String,
    pub amount_minor: i64,
    pub currency: String,
    pub status: ChargeStatus,
    pub captured_minor: i64,
    pub refunds: Vec<LedgerRefund>,
    /// Set on a recurrent first instalment; later instalments charge against it.
    pub recurrence_token: Option<String>,
    pub success_redirect: Option<String>,
    pub failure_redirect: Option<String>,
    pub description: String,
    pub created_at: i64,
    /// `captureMethod: "manual"`: an approval only authorises, whenever it comes (at once,
    /// after 3DS, or when a pending charge settles); `/confirm` captures.
    #[serde(default)]
    pub capture_manually: bool,
}

impl Charge {
    pub fn refunded_minor(&self) -> i64 {
        self.refunds.iter().map(|r| r.amount_minor).sum()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("sandbox ledger unavailable: {0}")]
pub struct LedgerError(pub String);

#[async_trait]
pub trait SandboxLedger: Send + Sync {
    /// Records a charge unless one with the same `idempotency_key` exists; returns the stored
    /// charge either way.
    async fn create_charge(&self, charge: &Charge) -> Result<Charge, LedgerError>;

    async fn charge(&self, id: &str) -> Result<Option<Charge>, LedgerError>;

    /// Charges made for a merchant reference, oldest first.
    async fn charges_for(&self, reference: &str) -> Result<Vec<Charge>, LedgerError>;

    /// Compare-and-set of the status: moves the charge to `to` (with `captured_minor`) only if
    /// its status is one of `from`. Returns whether it moved.
    async fn transition(
        &self,
        id: &str,
        from: &[ChargeStatus],
        to: ChargeStatus,
        captured_minor: i64,
    ) -> Result<bool, LedgerError>;

    /// Appends a refund; a refund id seen before is not added twice. Like a lax PSP, the sandbox
    /// does not check the total against the capture: that invariant is the PGM's to keep, and
    /// the tests read these books to prove it.
    async fn add_refund(&self, charge_id: &str, refund: &LedgerRefund) -> Result<(), LedgerError>;
}
