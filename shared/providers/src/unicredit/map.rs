//! IGFS CG's answers in domain terms: pure functions, tested without a network.
//!
//! An answer is read in three steps: the HTTP status and SOAP envelope ([`read`]: a fault or
//! an unreadable body is the kit's business), the answer's signature, then its `rc`: `IGFS_000`
//! is success, `IGFS_814` "transaction pending", the codes below say something about the call
//! itself (our credentials, a payment the gateway does not know, its own malfunction) and
//! every other code is a refusal on the merits (or, for Verify, the payment's outcome).

use super::signature::verify;
use super::wire::{parse, Fields, Op, Parsed};
use crate::kit::classify::{refused, unreadable};
use crate::kit::{Dialect, Refusal, RefusalKind};
use crate::ProviderError;
use pgm_core::PaymentState;
use reqwest::StatusCode;

pub const OK: &str = "IGFS_000";
pub const PENDING: &str = "IGFS_814";

/// The gateway's or the acquirer's own malfunction: the operation may have happened.
const TECHNICAL: &[&str] = &[
    "IGFS_005",   // formatting error
    "IGFS_006",   // file system error
    "IGFS_007",   // communication error
    "IGFS_086",   // system malfunction
    "IGFS_087",   // acquirer not reachable
    "IGFS_088",   // no response from acquirer
    "IGFS_091",   // malfunction of the acquirer system
    "IGFS_903",   // resend transaction
    "IGFS_909",   // system error
    "IGFS_90000", // database error
];

/// Our terminal or our signature key was refused.
const CREDENTIALS: &[&str] = &[
    "IGFS_00452", // not existent terminal code
    "IGFS_00456", // wrong terminal code
    "IGFS_010",   // unauthorized merchant
    "IGFS_101",   // wrong MAC
    "IGFS_800",   // terminal not enabled
    "IGFS_803",   // wrong terminal code
    "IGFS_810",   // terminal not recognized
    "IGFS_811",   // terminal locked
    "IGFS_20022", // invalid signature field
];

/// The gateway does not know the payment or transaction we named.
const UNKNOWN_PAYMENT: &[&str] = &[
    "IGFS_20023", // invalid payment id field
    "IGFS_033",   // original transaction not found
    "IGFS_092",   // unknown transaction
];

/// IGFS CG's HTTP-level errors: SOAP faults. A `Client` fault is our malformed request, a
/// definite refusal even though SOAP 1.1 sends it with HTTP 500; any other fault is the
/// server's and leaves the outcome unknown.
pub struct IgfsDialect;

impl Dialect for IgfsDialect {
    const NAME: &'static str = "UniCredit";
    const CREDENTIAL: &'static str = "UNICREDIT_USER_ID and UNICREDIT_SECRET";

    fn refusal(_: StatusCode, body: &[u8]) -> Refusal {
        match parse(body) {
            Some(Parsed::Fault { code, message }) => {
                let kind = if code.ends_with("Client") {
                    RefusalKind::Definite
                } else {
                    RefusalKind::Unknown
                };
                let message = format!("UniCredit refused the request: {message}");
                Refusal::new(Some(code), Some(message)).kind(kind)
            }
            _ => Refusal::default(),
        }
    }
}

/// Reads one answer of `op`: its fields, a success's signature checked against `key`.
pub fn read(op: Op, status: StatusCode, body: &[u8], key: &[u8]) -> Result<Fields, ProviderError> {
    if !status.is_success() {
        return Err(refused::<IgfsDialect>(
            status,
            IgfsDialect::refusal(status, body),
        ));
    }
    let fields = match parse(body) {
        Some(Parsed::Response(fields)) => fields,
        Some(Parsed::Fault { .. }) => {
            return Err(refused::<IgfsDialect>(
                StatusCode::INTERNAL_SERVER_ERROR,
                IgfsDialect::refusal(status, body),
            ))
        }
        None => return Err(unreadable::<IgfsDialect>()),
    };
    // As the library: an answer that claims success must be signed with our key; an error
    // answer is read as it is (the gateway does not always sign those, and with a wrong key
    // its refusal could never be read).
    let claims_success = fields.get("error") != "true" || fields.get("rc") == OK;
    if claims_success {
        let signed: Vec<&str> = op.answer_signed().iter().map(|f| fields.get(f)).collect();
        let genuine = fields
            .present("signature")
            .is_some_and(|given| verify(key, &signed, given));
        if !genuine {
            // An answer we cannot trust may still mean the gateway acted: unknown, never a no.
            return Err(ProviderError::Unavailable(format!(
                "UniCredit's {} answer is not signed with UNICREDIT_SECRET",
                op.name()
            )));
        }
    }
    Ok(fields)
}

/// What a failing `rc` says about the call itself; `None` when it is the operation's own
/// outcome (success, pending, or a refusal on the merits).
pub fn call_error(fields: &Fields) -> Option<ProviderError> {
    let rc = fields.get("rc");
    let refusal = || {
        Refusal::new(
            Some(rc.to_owned()),
            Some(format!("UniCredit: {} ({rc})", fields.get("errorDesc"))),
        )
    };
    if TECHNICAL.contains(&rc) {
        return Some(refused::<IgfsDialect>(
            StatusCode::OK,
            refusal().kind(RefusalKind::Unknown),
        ));
    }
    if CREDENTIALS.contains(&rc) {
        return Some(refused::<IgfsDialect>(StatusCode::UNAUTHORIZED, refusal()));
    }
    if UNKNOWN_PAYMENT.contains(&rc) {
        return Some(ProviderError::NotFound);
    }
    None
}

/// An operation that must succeed (Init, and Verify before a transaction op): `IGFS_000`, or
/// the error it is. A pending answer is unknown; any other code a definite refusal.
pub fn expect_ok(fields: Fields) -> Result<Fields, ProviderError> {
    if let Some(e) = call_error(&fields) {
        return Err(e);
    }
    match fields.get("rc") {
        OK => Ok(fields),
        PENDING => Err(ProviderError::Unavailable(
            "UniCredit says the transaction is pending".into(),
        )),
        rc => Err(ProviderError::Rejected {
            code: Some(rc.to_owned()),
            message: format!("UniCredit: {} ({rc})", fields.get("errorDesc")),
        }),
    }
}

/// A Confirm, VoidAuth or Credit: done (`true`), refused on the merits (`false`, with the
/// gateway's reason), or an error.
pub fn transaction_outcome(fields: &Fields) -> Result<(bool, String), ProviderError> {
    if let Some(e) = call_error(fields) {
        return Err(e);
    }
    match fields.get("rc") {
        OK => Ok((true, String::new())),
        PENDING => Err(ProviderError::Unavailable(
            "UniCredit says the transaction is pending".into(),
        )),
        rc => Ok((
            false,
            format!("UniCredit: {} ({rc})", fields.get("errorDesc")),
        )),
    }
}

/// Verify's answer as the payment's state. `IGFS_000` is an approved transaction: authorised
/// only when it was made with trType AUTH (`pre_authorised`), else captured. `IGFS_814` is
/// pending (the buyer has not finished); any other outcome code failed.
pub fn verify_state(
    fields: &Fields,
    pre_authorised: bool,
) -> Result<(PaymentState, String), ProviderError> {
    if let Some(e) = call_error(fields) {
        return Err(e);
    }
    Ok(match fields.get("rc") {
        OK if pre_authorised => (PaymentState::Authorized, "Payment authorised".into()),
        OK => (PaymentState::Captured, "Transaction completed".into()),
        PENDING => (
            PaymentState::Pending,
            "Waiting for the buyer on the UniCredit page".into(),
        ),
        rc => (
            PaymentState::Failed,
            match fields.present("errorDesc") {
                Some(why) => format!("UniCredit: {why} ({rc})"),
                None => format!("UniCredit declined the payment ({rc})"),
            },
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::super::signature::signature;
    use super::*;

    const KEY: &[u8] = b"k";

    /// A Verify answer with `rc`, signed with `key` (or not at all).
    fn verify_answer(rc: &str, error: bool, key: Option<&[u8]>) -> String {
        let desc = if rc == OK {
            "TRANSACTION OK"
        } else {
            "AUTHORIZATION DENIED"
        };
        let fields = ["UNI_ECOM", "o1", rc, desc, "p1", "t1", "a1", "", ""];
        let signature = key
            .map(|k| format!("<signature>{}</signature>", signature(k, &fields)))
            .unwrap_or_default();
        format!(
            "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body>\
             <ns1:VerifyResponse xmlns:ns1=\"http://services.api.web.cg.igfs.apps.netsw.it/\"><response>\
             <tid>UNI_ECOM</tid><rc>{rc}</rc><error>{error}</error><errorDesc>{desc}</errorDesc>{signature}\
             <shopID>o1</shopID><paymentID>p1</paymentID><tranID>t1</tranID><authCode>a1</authCode>\
             </response></ns1:VerifyResponse></soap:Body></soap:Envelope>"
        )
    }

    fn read_verify(body: &str) -> Result<Fields, ProviderError> {
        read(Op::Verify, StatusCode::OK, body.as_bytes(), KEY)
    }

    #[test]
    fn answers_are_believed_only_when_signed_with_our_key() {
        let ok = read_verify(&verify_answer(OK, false, Some(KEY))).unwrap();
        assert_eq!(ok.get("tranID"), "t1");
        for forged in [
            verify_answer(OK, false, Some(b"other")),
            verify_answer(OK, false, None),
        ] {
            assert!(matches!(
                read_verify(&forged),
                Err(ProviderError::Unavailable(_))
            ));
        }
        // An unsigned error answer is read (the gateway does not always sign them).
        let declined = read_verify(&verify_answer("IGFS_008", true, None)).unwrap();
        assert_eq!(
            verify_state(&declined, false).unwrap().0,
            PaymentState::Failed
        );
        // Nor is its signature's key checked: with a wrong key, the refusal must still be read.
        assert!(read_verify(&verify_answer("IGFS_20022", true, Some(b"other"))).is_ok());
        // A success that says error=true is still a success, and must be signed.
        assert!(read_verify(&verify_answer(OK, true, None)).is_err());
    }

    #[test]
    fn faults_and_unreadable_bodies_follow_the_kit() {
        let fault = |code: &str| {
            format!(
                "<soap:Envelope xmlns:soap=\"{}\"><soap:Body><soap:Fault><faultcode>{code}</faultcode>\
                 <faultstring>bad</faultstring></soap:Fault></soap:Body></soap:Envelope>",
                super::super::wire::SOAP_NS
            )
        };
        let client = read(
            Op::Init,
            StatusCode::INTERNAL_SERVER_ERROR,
            fault("soap:Client").as_bytes(),
            KEY,
        );
        assert!(
            matches!(client, Err(ProviderError::Rejected { code: Some(c), .. }) if c == "soap:Client")
        );
        let server = read(
            Op::Init,
            StatusCode::INTERNAL_SERVER_ERROR,
            fault("soap:Server").as_bytes(),
            KEY,
        );
        assert!(matches!(server, Err(ProviderError::Unavailable(_))));
        for (status, body) in [(200, "<html>"), (503, "busy"), (200, "")] {
            let status = StatusCode::from_u16(status).unwrap();
            assert!(matches!(
                read(Op::Init, status, body.as_bytes(), KEY),
                Err(ProviderError::Unavailable(_))
            ));
        }
    }

    fn fields(rc: &str) -> Fields {
        let mut f = Fields::default();
        f.0.insert("rc".into(), rc.into());
        f.0.insert("errorDesc".into(), "WHY".into());
        f
    }

    #[test]
    fn rc_codes_mean_what_igfs_says() {
        use PaymentState::*;
        assert_eq!(verify_state(&fields(OK), true).unwrap().0, Authorized);
        assert_eq!(verify_state(&fields(OK), false).unwrap().0, Captured);
        assert_eq!(verify_state(&fields(PENDING), false).unwrap().0, Pending);
        assert_eq!(verify_state(&fields("IGFS_008"), false).unwrap().0, Failed);
        assert_eq!(verify_state(&fields("IGFS_20090"), true).unwrap().0, Failed);
        assert_eq!(
            verify_state(&fields("IGFS_20023"), false),
            Err(ProviderError::NotFound)
        );
        assert!(matches!(
            verify_state(&fields("IGFS_909"), false),
            Err(ProviderError::Unavailable(_))
        ));
        let refused = verify_state(&fields("IGFS_20022"), false).unwrap_err();
        assert!(
            matches!(&refused, ProviderError::Rejected { message, .. } if message.contains("UNICREDIT_SECRET")),
            "{refused:?}"
        );
        assert!(transaction_outcome(&fields(OK)).unwrap().0);
        let (done, why) = transaction_outcome(&fields("IGFS_098")).unwrap();
        assert!(!done && why.contains("WHY") && why.contains("IGFS_098"));
        assert!(matches!(
            transaction_outcome(&fields(PENDING)),
            Err(ProviderError::Unavailable(_))
        ));
        assert!(
            matches!(expect_ok(fields("IGFS_20026")), Err(ProviderError::Rejected { code: Some(c), .. }) if c == "IGFS_20026")
        );
    }
}
