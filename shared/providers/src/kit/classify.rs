//! One reading of what a provider's answer means for the money, shared by every adapter.
//!
//! | answer | meaning | [`ProviderError`] |
//! |---|---|---|
//! | connection never opened (refused, DNS, TLS) | nothing was sent: a definite failure | `Rejected { code: "provider_unreachable" }` |
//! | timeout, reset, answer cut off, 2xx we cannot read | the provider may have acted: unknown | `Unavailable` |
//! | 5xx, or an error the provider calls technical | unknown | `Unavailable` |
//! | 429, a conflicting request in progress | not now, maybe later: unknown | `Unavailable` |
//! | 401 / 403 | our credential was refused: definite | `Rejected`, naming the variable (code: the provider's, else `authentication_failed`) |
//! | a refusal the dialect calls definite (any status) | definite | `Rejected { code, message }` |
//! | 404, or the provider's "no such payment" | definite | `NotFound` |
//! | any other 4xx | definite, with the provider's reason | `Rejected { code, message }` |
//!
//! A provider speaks through its [`Dialect`]: how its error bodies read, and (rarely) how its
//! 2xx answers carry an error of their own.

use crate::ProviderError;
use reqwest::StatusCode;
use serde::de::DeserializeOwned;

/// How much of a provider's message is passed on (they can be long, and they end up in
/// merchants' logs).
const MESSAGE_MAX: usize = 300;

/// What a refusal is, as far as the provider's body says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RefusalKind {
    /// Read it from the HTTP status.
    #[default]
    ByStatus,
    /// The provider has no such payment (a 4xx with the provider's own "not found" code).
    NotFound,
    /// Refused for now, not for good (rate limits, a conflicting request in progress).
    TryLater,
    /// The provider's own technical error: it may have acted.
    Unknown,
    /// A refusal on the merits (the payment's state, an amount), whatever the status says:
    /// some providers answer those with 403 or 409.
    Definite,
}

/// A provider's error answer, read from its body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Refusal {
    pub code: Option<String>,
    pub message: Option<String>,
    pub kind: RefusalKind,
}

impl Refusal {
    pub fn new(code: Option<String>, message: Option<String>) -> Refusal {
        Refusal {
            code,
            message,
            kind: RefusalKind::ByStatus,
        }
    }

    pub fn kind(mut self, kind: RefusalKind) -> Refusal {
        self.kind = kind;
        self
    }
}

/// A provider's wire conventions, for the shared client and classification.
pub trait Dialect: Send + Sync + 'static {
    /// The provider's name as people write it (`Stripe`, `Axerve`): in messages.
    const NAME: &'static str;
    /// The variable(s) holding our credential, named when the provider refuses it.
    const CREDENTIAL: &'static str;

    /// Reads an error answer's body (any status): code, message, and what kind of refusal.
    fn refusal(status: StatusCode, body: &[u8]) -> Refusal;

    /// Reads a 2xx answer. JSON by default; a provider whose 2xx answers can carry an error
    /// (an envelope) reads it here and answers [`refused`] for it.
    fn success<T: DeserializeOwned>(status: StatusCode, body: &[u8]) -> Result<T, ProviderError> {
        let _ = status;
        serde_json::from_slice(body).map_err(|_| unreadable::<Self>())
    }
}

/// An answer that came but cannot be read: the provider may have acted.
pub fn unreadable<D: Dialect + ?Sized>() -> ProviderError {
    ProviderError::Unavailable(format!("{}'s answer could not be read", D::NAME))
}

/// Classifies a complete answer: 2xx through [`Dialect::success`], anything else through
/// [`Dialect::refusal`] and [`refused`].
pub fn answer<D: Dialect, T: DeserializeOwned>(
    status: StatusCode,
    body: &[u8],
) -> Result<T, ProviderError> {
    if status.is_success() {
        D::success(status, body)
    } else {
        Err(refused::<D>(status, D::refusal(status, body)))
    }
}

/// The one classification of a refusal (see the module's table).
pub fn refused<D: Dialect + ?Sized>(status: StatusCode, refusal: Refusal) -> ProviderError {
    let name = D::NAME;
    let code_note = refusal
        .code
        .as_deref()
        .map(|c| format!(", code {c}"))
        .unwrap_or_default();
    if refusal.kind == RefusalKind::Definite {
        return rejected::<D>(status, refusal);
    }
    if status.is_server_error() || refusal.kind == RefusalKind::Unknown {
        return ProviderError::Unavailable(format!(
            "{name} answered {}{code_note}",
            status.as_u16()
        ));
    }
    if status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::CONFLICT && refusal.kind != RefusalKind::NotFound
        || refusal.kind == RefusalKind::TryLater
    {
        return ProviderError::Unavailable(format!(
            "{name} asks to try again later ({}{code_note})",
            status.as_u16()
        ));
    }
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        // The provider's own words about keys are not passed on: they may quote the key.
        return ProviderError::Rejected {
            message: format!(
                "{name} refused our credentials ({}{code_note}; check {})",
                status.as_u16(),
                D::CREDENTIAL
            ),
            code: refusal.code.or(Some("authentication_failed".into())),
        };
    }
    if status == StatusCode::NOT_FOUND || refusal.kind == RefusalKind::NotFound {
        return ProviderError::NotFound;
    }
    rejected::<D>(status, refusal)
}

/// A definite refusal, with the provider's reason.
fn rejected<D: Dialect + ?Sized>(status: StatusCode, refusal: Refusal) -> ProviderError {
    let name = D::NAME;
    let message = refusal
        .message
        .filter(|m| !m.trim().is_empty())
        .map(|m| truncate(m, MESSAGE_MAX))
        .unwrap_or_else(|| format!("{name} answered {}", status.as_u16()));
    ProviderError::Rejected {
        code: refusal.code,
        message,
    }
}

/// A create call's refusal. `NotFound` there cannot mean a missing payment (none existed yet):
/// the endpoint itself is missing, a wrong base URL. A definite refusal naming what is missing.
pub fn endpoint_missing<D: Dialect + ?Sized>(e: ProviderError, what: &str) -> ProviderError {
    match e {
        ProviderError::NotFound => ProviderError::Rejected {
            code: Some("not_found".into()),
            message: format!(
                "{} does not serve {what} at the configured base URL",
                D::NAME
            ),
        },
        other => other,
    }
}

/// A transport failure. Only a connection that never opened is certain to have sent nothing;
/// after that (timeouts included) the provider may have acted on the request.
pub fn transport<D: Dialect + ?Sized>(e: &reqwest::Error) -> ProviderError {
    // The URL is left out on purpose: some providers put credentials in query strings.
    if e.is_connect() {
        return ProviderError::Rejected {
            code: Some("provider_unreachable".into()),
            message: format!("{} could not be reached; nothing was sent", D::NAME),
        };
    }
    let kind = if e.is_timeout() {
        "timed out"
    } else {
        "failed mid-way"
    };
    ProviderError::Unavailable(format!("the request to {} {kind}", D::NAME))
}

fn truncate(mut message: String, max: usize) -> String {
    if message.len() > max {
        let mut cut = max;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Acme;
    impl Dialect for Acme {
        const NAME: &'static str = "Acme";
        const CREDENTIAL: &'static str = "ACME_KEY";
        fn refusal(_: StatusCode, body: &[u8]) -> Refusal {
            let text = String::from_utf8_lossy(body).into_owned();
            match text.as_str() {
                "gone" => Refusal::new(Some("gone".into()), None).kind(RefusalKind::NotFound),
                "busy" => Refusal::new(Some("busy".into()), None).kind(RefusalKind::TryLater),
                "tech" => Refusal::new(Some("9999".into()), None).kind(RefusalKind::Unknown),
                _ => Refusal::new(Some("bad".into()), Some(text)),
            }
        }
    }

    fn classify(status: u16, body: &str) -> ProviderError {
        refused::<Acme>(
            StatusCode::from_u16(status).unwrap(),
            Acme::refusal(StatusCode::from_u16(status).unwrap(), body.as_bytes()),
        )
    }

    fn unknown(e: &ProviderError) -> bool {
        matches!(e, ProviderError::Unavailable(_))
    }

    #[test]
    fn what_may_have_happened_is_unknown_never_a_refusal() {
        for (status, body) in [
            (500, "x"),
            (502, ""),
            (503, "x"),
            (429, "x"),
            (409, "x"),
            (400, "busy"),
            (200, "tech"),
        ] {
            assert!(unknown(&classify(status, body)), "{status} {body}");
        }
    }

    #[test]
    fn refusals_carry_the_providers_reason_but_never_its_words_on_keys() {
        assert_eq!(
            classify(400, "amount too small"),
            ProviderError::Rejected {
                code: Some("bad".into()),
                message: "amount too small".into()
            }
        );
        let auth = classify(401, "key sk_live_123 is wrong");
        assert!(
            matches!(&auth, ProviderError::Rejected { code: Some(c), message } if c == "bad" && message.contains("ACME_KEY") && !message.contains("sk_live")),
            "{auth:?}"
        );
        let merits = refused::<Acme>(
            StatusCode::FORBIDDEN,
            Refusal::new(Some("45".into()), Some("not accepted".into()))
                .kind(RefusalKind::Definite),
        );
        assert_eq!(
            merits,
            ProviderError::Rejected {
                code: Some("45".into()),
                message: "not accepted".into()
            }
        );
        assert_eq!(classify(404, "x"), ProviderError::NotFound);
        assert_eq!(classify(400, "gone"), ProviderError::NotFound);
        let long = classify(400, &"é".repeat(400));
        assert!(
            matches!(long, ProviderError::Rejected { message, .. } if message.len() <= MESSAGE_MAX)
        );
        assert!(
            matches!(classify(400, ""), ProviderError::Rejected { message, .. } if message == "Acme answered 400")
        );
    }

    #[test]
    fn a_create_that_finds_nothing_names_the_missing_endpoint() {
        let missing = endpoint_missing::<Acme>(ProviderError::NotFound, "orders");
        assert!(
            matches!(missing, ProviderError::Rejected { code: Some(c), message } if c == "not_found" && message == "Acme does not serve orders at the configured base URL")
        );
        let other = ProviderError::Unavailable("x".into());
        assert_eq!(endpoint_missing::<Acme>(other.clone(), "orders"), other);
    }

    #[test]
    fn a_created_payment_without_a_url_is_unknown_not_declined() {
        let ok = crate::PayOutcome::redirect(
            "Acme",
            "p1".into(),
            Some("https://pay.test/p1".into()),
            "Go",
        )
        .unwrap();
        assert_eq!(
            (ok.state, ok.redirect_url.as_deref()),
            (pgm_core::PaymentState::Pending, Some("https://pay.test/p1"))
        );
        for url in [None, Some(String::new())] {
            assert!(unknown(
                &crate::PayOutcome::redirect("Acme", "p1".into(), url, "Go").unwrap_err()
            ));
        }
    }

    #[test]
    fn a_2xx_is_read_as_json_or_is_unknown() {
        let ok: Result<serde_json::Value, _> = answer::<Acme, _>(StatusCode::OK, b"{\"a\":1}");
        assert_eq!(ok.unwrap()["a"], 1);
        let cut: Result<serde_json::Value, _> = answer::<Acme, _>(StatusCode::OK, b"{\"a\":");
        assert!(unknown(&cut.unwrap_err()));
    }

    #[tokio::test]
    async fn a_refused_connection_is_definite_and_a_timeout_is_not() {
        // A port nobody listens on: bind, learn the port, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let refused = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .unwrap_err();
        assert!(
            matches!(transport::<Acme>(&refused), ProviderError::Rejected { code: Some(c), .. } if c == "provider_unreachable")
        );

        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", silent.local_addr().unwrap());
        let timed_out = reqwest::Client::new()
            .get(url)
            .timeout(std::time::Duration::from_millis(100))
            .send()
            .await
            .unwrap_err();
        assert!(unknown(&transport::<Acme>(&timed_out)));
        drop(silent);
    }
}
