//! The sandbox's "provider side": the hosted 3DS page a buyer is redirected to, the signed
//! callback it sends to the PGM when the buyer decides, and a read-only view of its books
//! (for the merchant only).

mod problem;
mod token;

use super::{CallbackBody, Charge, ChargeStatus, SandboxCore};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use pgm_core::clock::now_ms;
use pgm_core::signing::sign_timestamped;
use pgm_core::{Currency, MerchantAuthenticated, Money};
use problem::{invalid, not_found, problem, unavailable};
use serde::Deserialize;
use std::sync::Arc;

/// The header carrying the sandbox's callback signature (`t=…,v1=…`).
pub const CALLBACK_SIGNATURE_HEADER: &str = "sandbox-signature";

/// Signs a callback body the way the sandbox does (for tests that play the provider).
pub fn callback_signature_header(secret: &str, unix_seconds: i64, body: &[u8]) -> String {
    sign_timestamped(secret.as_bytes(), unix_seconds, body)
}

pub(crate) fn routes(core: Arc<SandboxCore>) -> Router {
    Router::new()
        .route("/sandbox/3ds/{charge_id}", get(show_page).post(decide))
        .route("/sandbox/charges", get(list_charges))
        .layer(axum::middleware::map_response(page_headers))
        .with_state(core)
}

/// The page's style, allowed by its hash rather than by `'unsafe-inline'`.
const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}\
.card{border:1px solid #ccc;border-radius:8px;padding:1.5rem}form{display:inline}\
button{font-size:1rem;padding:.6rem 1.2rem;margin:.5rem .5rem 0 0;border-radius:6px;border:1px solid #888;cursor:pointer}\
#approve button{background:#1a7f37;color:#fff}#decline button{background:#cf222e;color:#fff}";

/// A page that decides payments must not load anything from elsewhere, run scripts, or be
/// framed (clickjacking: a hidden frame over a button of another site). `form-action` is left
/// out on purpose: browsers apply it to the redirect that follows the POST, which goes to the
/// merchant's `successRedirect`.
fn content_security_policy() -> String {
    use base64::Engine;
    use sha2::Digest;
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(STYLE));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; base-uri 'none'; frame-ancestors 'none'"
    )
}

async fn page_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(&content_security_policy()) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // The page carries a one-use secret: never kept by a cache.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn display_amount(charge: &Charge) -> String {
    Currency::parse(&charge.currency)
        .ok()
        .and_then(|c| Money::from_minor(charge.amount_minor, c).ok())
        .map(|m| m.to_string())
        .unwrap_or_default()
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{title}</title>
<style>{STYLE}</style>
</head><body><div class="card">{body}</div></body></html>"#,
        title = escape(title)
    ))
}

fn already_decided(charge: &Charge) -> Response {
    page(
        "Already decided",
        &format!(
            "<h1>Already decided</h1><p id=\"result\">This payment is {:?}.</p>",
            charge.status
        ),
    )
    .into_response()
}

/// An undecodable charge id in the path: a problem, not axum's plain-text rejection.
fn bad_charge_id() -> Response {
    invalid("chargeId", "the charge id could not be decoded")
}

async fn show_page(
    State(core): State<Arc<SandboxCore>>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let Ok(Path(charge_id)) = path else {
        return bad_charge_id();
    };
    let charge = match core.ledger.charge(&charge_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return not_found(),
        Err(e) => return ledger_failed(e),
    };
    if charge.status != ChargeStatus::AwaitingBuyer {
        return already_decided(&charge);
    }
    let action = format!("/sandbox/3ds/{}", escape(&charge.id));
    let token = token::issue(
        core.config.webhook_secret.expose(),
        &charge.id,
        now_ms() / 1000,
        &super::random_hex(16),
    );
    let token = format!(
        r#"<input type="hidden" name="pageToken" value="{}">"#,
        escape(&token)
    );
    let body = format!(
        r#"<h1>3-D Secure check</h1>
<p>Sandbox bank &middot; order <code>{reference}</code></p>
<p>Amount: <strong id="amount">{amount}</strong></p>
<p>This simulates the issuer's authentication page. Choose the buyer's answer.</p>
<form id="approve" method="post" action="{action}">{token}<input type="hidden" name="decision" value="approve"><button type="submit">Approve</button></form>
<form id="decline" method="post" action="{action}">{token}<input type="hidden" name="decision" value="decline"><button type="submit">Decline</button></form>"#,
        reference = escape(&charge.reference),
        amount = escape(&display_amount(&charge)),
    );
    page("Sandbox 3-D Secure", &body).into_response()
}

fn ledger_failed(e: super::LedgerError) -> Response {
    tracing::warn!(error = %e, "sandbox ledger unavailable");
    unavailable()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Decision {
    decision: Option<String>,
    page_token: Option<String>,
}

/// Why the posted form could not be read.
enum FormError {
    NotAForm,
    TooLarge,
    Undecodable,
}

impl FormError {
    fn response(self) -> Response {
        match self {
            FormError::NotAForm => problem(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                "Unsupported media type",
                "the page posts application/x-www-form-urlencoded",
            ),
            FormError::TooLarge => problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                "Payload too large",
                "the form must be at most 4096 bytes",
            ),
            FormError::Undecodable => invalid("decision", "the form could not be decoded"),
        }
    }
}

/// The form the page posts (`application/x-www-form-urlencoded`), read by hand so that every
/// refusal is a problem+json rather than axum's plain-text rejection.
async fn read_form(request: Request) -> Result<Decision, FormError> {
    let form_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form_type {
        return Err(FormError::NotAForm);
    }
    let bytes = axum::body::to_bytes(request.into_body(), 4096)
        .await
        .map_err(|_| FormError::TooLarge)?;
    serde_urlencoded::from_bytes(&bytes).map_err(|_| FormError::Undecodable)
}

async fn decide(
    State(core): State<Arc<SandboxCore>>,
    path: Result<Path<String>, PathRejection>,
    request: Request,
) -> Response {
    let Ok(Path(charge_id)) = path else {
        return bad_charge_id();
    };
    let form = match read_form(request).await {
        Ok(form) => form,
        Err(e) => return e.response(),
    };
    let secret = core.config.webhook_secret.expose();
    if let Err(e) = token::verify(
        secret,
        &charge_id,
        form.page_token.as_deref(),
        now_ms() / 1000,
    ) {
        let detail = match e {
            token::TokenError::Missing => {
                "the form's pageToken is missing: open the page and use its buttons"
            }
            token::TokenError::Invalid => "the form's pageToken is not valid for this payment",
            token::TokenError::Expired => "the page has expired: open it again",
        };
        return problem(
            StatusCode::FORBIDDEN,
            "INVALID_PAGE_TOKEN",
            "Invalid page token",
            detail,
        );
    }
    let approve = match form.decision.as_deref() {
        Some("approve") => true,
        Some("decline") => false,
        _ => return invalid("decision", "decision must be approve or decline"),
    };
    let charge = match core.ledger.charge(&charge_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return not_found(),
        Err(e) => return ledger_failed(e),
    };
    let to = if approve {
        super::approval(&core.config, charge.capture_manually)
    } else {
        ChargeStatus::Declined
    };
    let captured = if to == ChargeStatus::Captured {
        charge.amount_minor
    } else {
        0
    };
    let moved = match core
        .ledger
        .transition(&charge.id, &[ChargeStatus::AwaitingBuyer], to, captured)
        .await
    {
        Ok(moved) => moved,
        Err(e) => return ledger_failed(e),
    };
    if !moved {
        // Decided earlier (another tab, a double submit): answer with the decision on record,
        // never with this late request's choice.
        return match core.ledger.charge(&charge.id).await {
            Ok(Some(current)) => already_decided(&current),
            Ok(None) => not_found(),
            Err(e) => ledger_failed(e),
        };
    }
    send_callback(&core, &charge, to).await;
    let target = if approve {
        &charge.success_redirect
    } else {
        &charge.failure_redirect
    };
    match target {
        Some(url) => Redirect::to(url).into_response(),
        None => {
            let text = if approve {
                "Payment approved"
            } else {
                "Payment declined"
            };
            page(
                text,
                &format!("<h1 id=\"result\">{text}</h1><p>You can close this window.</p>"),
            )
            .into_response()
        }
    }
}

/// Tells the PGM, the way a PSP does: a signed POST to its callback URL, at `PGM_PUBLIC_URL`
/// (configuration only: never a Host header, which the caller chooses). A failed callback is
/// logged, not retried: the PGM's `/check` and reconciler exist for exactly that case.
async fn send_callback(core: &SandboxCore, charge: &Charge, status: ChargeStatus) {
    let body = CallbackBody {
        charge_id: charge.id.clone(),
        reference: charge.reference.clone(),
        status,
    };
    let body = serde_json::to_vec(&body).expect("serializes");
    let signature =
        callback_signature_header(core.config.webhook_secret.expose(), now_ms() / 1000, &body);
    let url = format!("{}/sandbox/callback", core.public_url);
    let result = core
        .http
        .post(&url)
        .timeout(std::time::Duration::from_secs(10))
        .header("content-type", "application/json")
        .header(CALLBACK_SIGNATURE_HEADER, signature)
        .body(body)
        .send()
        .await;
    match result {
        Ok(r) if r.status().is_success() => {
            tracing::info!(charge = %charge.id, "sandbox callback delivered")
        }
        Ok(r) => {
            tracing::warn!(charge = %charge.id, status = %r.status(), "sandbox callback refused")
        }
        Err(e) => tracing::warn!(charge = %charge.id, error = %e, "sandbox callback failed"),
    }
}

#[derive(Deserialize)]
struct ChargesQuery {
    reference: Option<String>,
}

/// The sandbox's books for one merchant reference: what a PSP dashboard would show, to the
/// merchant only (the API marks a request that passed merchant authentication).
async fn list_charges(
    State(core): State<Arc<SandboxCore>>,
    merchant: Option<Extension<MerchantAuthenticated>>,
    request: Request,
) -> Response {
    if merchant.is_none() {
        let mut response = problem(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "Unauthorized",
            "a valid `Authorization: Bearer <key>` header is required",
        );
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    let query: ChargesQuery = match serde_urlencoded::from_str(request.uri().query().unwrap_or(""))
    {
        Ok(q) => q,
        Err(_) => return invalid("reference", "the query could not be decoded"),
    };
    let Some(reference) = query.reference.filter(|r| !r.is_empty()) else {
        return invalid("reference", "reference (the shopTransactionID) is required");
    };
    match core.ledger.charges_for(&reference).await {
        Ok(charges) => Json(charges).into_response(),
        Err(e) => ledger_failed(e),
    }
}
