//! Paymentz's wire types (REST v1, `/transactionServices/REST/v1/…`). Requests are
//! `application/x-www-form-urlencoded` with dotted names (`authentication.memberId`,
//! `card.number`), so they are built as pairs in `mod.rs`; answers are JSON, read here.

use serde::Deserialize;

pub const PREFIX: &str = "/transactionServices/REST/v1";

/// `result` of every answer: `00001` is success; other codes say why not.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ResultBlock {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub description: String,
}

/// `POST …/authToken`.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenAnswer {
    #[serde(rename = "AuthToken", default)]
    pub auth_token: Option<String>,
    #[serde(default)]
    pub result: Option<ResultBlock>,
}

/// A transaction as `/payments`, `/payments/{id}` and `/inquiry` answer it, and as the
/// notification carries it (with `checksum`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transaction {
    #[serde(default)]
    pub payment_id: Option<String>,
    #[serde(default)]
    pub merchant_transaction_id: Option<String>,
    /// The long status (`authsuccessful`, `capturesuccess`, …).
    #[serde(default)]
    pub status: Option<String>,
    /// The short status: `Y`, `N`, `P`, `3D`, `C`.
    #[serde(default)]
    pub transaction_status: Option<String>,
    #[serde(default)]
    pub result: Option<ResultBlock>,
    #[serde(default)]
    pub amount: Option<String>,
    #[serde(default)]
    pub currency: Option<String>,
    /// Where a 3-D Secure (or other asynchronous) payment sends the buyer.
    #[serde(default)]
    pub redirect: Option<Redirect>,
    /// Notifications only.
    #[serde(default)]
    pub checksum: Option<String>,
}

/// The redirect block of a `3D` answer. Its field names are not in the public docs
/// (UNCERTAIN); these follow the ACI/OPP format Paymentz's REST API is modelled on.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Redirect {
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub parameters: Vec<RedirectParameter>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RedirectParameter {
    pub name: String,
    pub value: String,
}
