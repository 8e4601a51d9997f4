//! Paymentz's answers in domain terms: pure functions, tested without a network.

use super::wire::{Redirect, ResultBlock, Transaction};
use crate::kit::classify::{refused, unreadable};
use crate::kit::{Dialect, Refusal, RefusalKind};
use crate::ProviderError;
use base64::Engine;
use pgm_core::PaymentState;
use reqwest::StatusCode;
use serde::de::DeserializeOwned;

/// `result.code` of a successful request.
pub const SUCCESS: &str = "00001";

/// Errors are `{"result":{"code","description"}}` with a 4xx; a 2xx answer without a
/// transaction (no `paymentId`) whose code is not success is an error too.
pub struct PaymentzDialect;

impl Dialect for PaymentzDialect {
    const NAME: &'static str = "Paymentz";
    const CREDENTIAL: &'static str =
        "PAYMENTZ_PARTNER_ID, PAYMENTZ_USERNAME, PAYMENTZ_SECURE_KEY and PAYMENTZ_MEMBER_ID";

    fn refusal(_: StatusCode, body: &[u8]) -> Refusal {
        let Some(result) = result_of(body) else {
            return Refusal::default();
        };
        let message = format!("Paymentz: {} (code {})", result.description, result.code);
        Refusal::new(Some(result.code), Some(message))
    }

    fn success<T: DeserializeOwned>(status: StatusCode, body: &[u8]) -> Result<T, ProviderError> {
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|_| unreadable::<Self>())?;
        let has_transaction = value.get("paymentId").is_some_and(|v| !v.is_null());
        let has_token = value.get("AuthToken").is_some_and(|v| !v.is_null());
        let code = value
            .pointer("/result/code")
            .and_then(|c| c.as_str())
            .unwrap_or(SUCCESS);
        if !has_transaction && !has_token && code != SUCCESS {
            let refusal = Self::refusal(status, body).kind(RefusalKind::Definite);
            return Err(refused::<Self>(status, refusal));
        }
        serde_json::from_value(value).map_err(|_| unreadable::<Self>())
    }
}

fn result_of(body: &[u8]) -> Option<ResultBlock> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    serde_json::from_value(value.get("result")?.clone()).ok()
}

/// What a transaction's statuses say. The long `status` decides where it is known (it tells an
/// authorisation from a capture); otherwise the short `transactionStatus`: `Y` done, `N`
/// failed, `C` cancelled, `P`/`3D` waiting. A refunded transaction (`reversed`,
/// `markedforreversal`) was captured: its refunds are the PGM's own books, not a failure.
pub fn outcome(tx: &Transaction, pre_authorised: bool) -> (PaymentState, String) {
    let why = tx
        .result
        .as_ref()
        .map(|r| r.description.trim().to_owned())
        .filter(|d| !d.is_empty());
    let long = tx
        .status
        .as_deref()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let short = tx
        .transaction_status
        .as_deref()
        .unwrap_or("")
        .trim()
        .to_ascii_uppercase();
    use PaymentState::*;
    let state = match long.as_str() {
        "authsuccessful" => Authorized,
        "capturesuccess" | "settled" | "reversed" | "markedforreversal" | "chargeback" => Captured,
        "authfailed" | "capturefailed" | "failed" => Failed,
        "authcancelled" | "cancelled" => {
            if pre_authorised {
                Voided
            } else {
                Failed
            }
        }
        "begun" | "authstarted" | "capturestarted" | "cancelstarted" => Pending,
        _ => match short.as_str() {
            "Y" if pre_authorised => Authorized,
            "Y" => Captured,
            "N" => Failed,
            "C" => Failed,
            _ => Pending,
        },
    };
    let description = match state {
        Authorized => "Payment authorised".to_owned(),
        Captured => "Transaction completed".to_owned(),
        Failed | Voided => why.unwrap_or_else(|| "Payment declined".into()),
        Pending | Initiated => "Waiting for the buyer or the bank".to_owned(),
    };
    (state, description)
}

/// Whether the short status asks for the buyer at a 3-D Secure (or other) page.
pub fn needs_redirect(tx: &Transaction) -> bool {
    tx.transaction_status
        .as_deref()
        .is_some_and(|s| s.trim().eq_ignore_ascii_case("3D"))
        || tx.redirect.as_ref().is_some_and(|r| !r.url.is_empty())
}

/// One URL for the buyer: the redirect's parameters go into its query string (the v2 API
/// carries a URL only, and a browser GET is what `redirectToUrl` is followed with).
pub fn redirect_url(redirect: &Redirect) -> Option<String> {
    let mut url = reqwest::Url::parse(redirect.url.trim()).ok()?;
    if !redirect.parameters.is_empty() {
        let mut query = url.query_pairs_mut();
        for p in &redirect.parameters {
            query.append_pair(&p.name, &p.value);
        }
    }
    Some(url.into())
}

/// The `exp` claim (unix seconds) of the AuthToken, a JWT; `None` when it cannot be read.
pub fn jwt_expiry(token: &str) -> Option<i64> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("exp")?.as_i64()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kit::classify::answer;
    use serde_json::json;

    fn tx(long: &str, short: &str) -> Transaction {
        serde_json::from_value(
            json!({"paymentId": "1", "status": long, "transactionStatus": short,
            "result": {"code": "20007", "description": "Insufficient funds"}}),
        )
        .unwrap()
    }

    #[test]
    fn statuses_map_to_states() {
        use PaymentState::*;
        for (long, short, pre, expected) in [
            ("capturesuccess", "Y", false, Captured),
            ("authsuccessful", "Y", true, Authorized),
            ("", "Y", true, Authorized),
            ("", "Y", false, Captured),
            ("authfailed", "N", false, Failed),
            ("", "N", false, Failed),
            ("authcancelled", "C", true, Voided),
            ("", "3D", false, Pending),
            ("begun", "P", false, Pending),
            ("reversed", "Y", false, Captured),
            ("whatever", "?", false, Pending),
        ] {
            assert_eq!(outcome(&tx(long, short), pre).0, expected, "{long} {short}");
        }
        assert_eq!(
            outcome(&tx("authfailed", "N"), false).1,
            "Insufficient funds"
        );
    }

    #[test]
    fn redirects_carry_their_parameters() {
        let r: Redirect = serde_json::from_value(json!({"url": "https://acs.example/3ds?x=1",
            "parameters": [{"name": "MD", "value": "a b"}]}))
        .unwrap();
        assert_eq!(
            redirect_url(&r).unwrap(),
            "https://acs.example/3ds?x=1&MD=a+b"
        );
    }

    #[test]
    fn errors_read_from_the_result_block() {
        let body = br#"{"result":{"code":"10005","description":"Invalid checksum"}}"#;
        for status in [200, 400] {
            let err =
                answer::<PaymentzDialect, Transaction>(StatusCode::from_u16(status).unwrap(), body)
                    .unwrap_err();
            assert!(
                matches!(&err, ProviderError::Rejected { code: Some(c), message } if c == "10005" && message.contains("Invalid checksum")),
                "{status}: {err:?}"
            );
        }
        let declined = br#"{"paymentId":"9","transactionStatus":"N","result":{"code":"20007","description":"Declined"}}"#;
        let tx: Transaction = answer::<PaymentzDialect, _>(StatusCode::OK, declined).unwrap();
        assert_eq!(tx.payment_id.as_deref(), Some("9"));
        let gone = answer::<PaymentzDialect, Transaction>(StatusCode::NOT_FOUND, body);
        assert_eq!(gone.unwrap_err(), ProviderError::NotFound);
    }

    #[test]
    fn the_token_expiry_is_the_jwt_exp_claim() {
        let b64 = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let token = format!(
            "{}.{}.sig",
            b64(json!({"alg": "HS256"})),
            b64(json!({"iss": "PZ", "exp": 1_800_000_000}))
        );
        assert_eq!(jwt_expiry(&token), Some(1_800_000_000));
        assert_eq!(jwt_expiry("opaque"), None);
    }
}
