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
use axum::routing::{get, post};
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

/// Paths and methods come from each handler's `#[utoipa::path]`, as the API's own routes do.
/// The sandbox's pages in the API document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(show_page, decide, list_charges),
    components(schemas(super::CallbackBody)),
    tags((name = "sandbox provider pages",
        description = "The simulated provider's own pages: the hosted 3-D Secure page and its books."))
)]
pub(crate) struct HostedPages;

/// The `{chargeId}` of the page's path.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // documents the path; the handlers read it positionally
struct ChargePath {
    /// The sandbox charge id (the paymentID).
    #[param(example = "sbx_0123456789abcdef01234567", rename = "chargeId")]
    charge_id: String,
}

/// The form the page posts.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the form; `Decision` reads it, leniently, to name what is wrong
struct DecisionForm {
    #[schema(pattern = "^(approve|decline)$")]
    decision: String,
    /// The hidden field of the page's forms.
    #[schema(rename = "pageToken")]
    page_token: String,
}

pub(crate) fn routes(core: Arc<SandboxCore>) -> Router {
    use utoipa::Path as _;
    Router::new()
        .route(&__path_show_page::path(), get(show_page))
        .route(&__path_decide::path(), post(decide))
        .route(&__path_list_charges::path(), get(list_charges))
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

/// The sandbox's hosted 3-D Secure page
///
/// Where `redirectToUrl` sends the buyer for tok_3ds. Shows the amount and two forms,
/// `#approve` and `#decline`, that POST the decision back here with the page's own token
/// (`pageToken`: signed, expiring after 15 minutes, good for one decision). Never framed, loads
/// nothing from elsewhere. Served only when the sandbox provider is enabled.
#[utoipa::path(get, path = "/sandbox/3ds/{chargeId}", operation_id = "sandbox3dsPage",
    tag = "sandbox provider pages", params(ChargePath), security(()),
    responses(
        (status = 200, content_type = "text/html", body = String,
            description = "The 3-D Secure page, or \"Already decided\" (with `#result`) once the buyer chose.",
            headers(("Content-Security-Policy" = String, description = "`default-src 'none'`, the page's style by hash, `frame-ancestors 'none'`."),
                ("X-Frame-Options" = String, description = "`DENY`."))),
        (status = 400, content_type = "application/problem+json", body = ref("#/components/schemas/Problem"),
            description = "The charge id cannot be decoded. Codes: `VALIDATION_FAILED`."),
        (status = 404, content_type = "application/problem+json", body = ref("#/components/schemas/Problem"),
            description = "No such charge. Codes: `PAYMENT_NOT_FOUND`."),
        (status = 503, content_type = "application/problem+json", body = ref("#/components/schemas/Problem"),
            description = "The sandbox's books are unavailable. Codes: `STORE_UNAVAILABLE`.")))]
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

/// The buyer's decision on the 3-D Secure page
///
/// Records the decision and sends the PGM a signed callback, then sends the buyer to the
/// payment's successRedirect or failureRedirect, or shows the result. The form must carry the
/// page's `pageToken`: without it (a form on another site, a script that knows only the charge
/// id) nothing is decided. Only the first decision counts: a later one (another tab, a double
/// submit, the same token again) changes nothing and gets the "Already decided" page. Served
/// only when the sandbox provider is enabled.
#[utoipa::path(post, path = "/sandbox/3ds/{chargeId}", operation_id = "sandbox3dsDecide",
    tag = "sandbox provider pages", params(ChargePath), security(()),
    request_body(content = DecisionForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, content_type = "text/html", body = String,
            description = "The result page when no redirect was given (`#result`), or \"Already decided\" with the decision on record."),
        (status = 303, description = "The first decision, when a redirect was given: to the payment's successRedirect (approved) or failureRedirect (declined).",
            headers(("Location" = String))),
        (status = 400, content_type = "application/problem+json", body = ref("#/components/schemas/Problem"),
            description = "The charge id cannot be decoded, `decision` is neither approve nor decline, or the form cannot be decoded; `field` names what is wrong. Codes: `VALIDATION_FAILED`."),
        (status = 403, content_type = "application/problem+json", body = ref("#/components/schemas/Problem"),
            description = "The form's `pageToken` is missing, is not this page's, or has expired (pages last 15 minutes): nothing was decided. Codes: `INVALID_PAGE_TOKEN`."),
        (status = 404, content_type = "application/problem+json", body = ref("#/components/schemas/Problem"),
            description = "No such charge. Codes: `PAYMENT_NOT_FOUND`."),
        (status = 413, content_type = "application/problem+json", body = ref("#/components/schemas/Problem"),
            description = "The form is larger than 4096 bytes. Codes: `PAYLOAD_TOO_LARGE`."),
        (status = 415, content_type = "application/problem+json", body = ref("#/components/schemas/Problem"),
            description = "The body is not application/x-www-form-urlencoded. Codes: `UNSUPPORTED_MEDIA_TYPE`."),
        (status = 503, content_type = "application/problem+json", body = ref("#/components/schemas/Problem"),
            description = "The sandbox's books are unavailable. Codes: `STORE_UNAVAILABLE`.")))]
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

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ChargesQuery {
    /// The merchant's shopTransactionID.
    #[param(required = true, value_type = String, min_length = 1)]
    reference: Option<String>,
}

/// The sandbox's books for a merchant reference
///
/// Every charge the sandbox made for a shopTransactionID, oldest first: what a PSP dashboard
/// would show (tests use it to check what was really charged and refunded). For the merchant
/// only (the API marks a request that passed merchant authentication): behind `PGM_API_KEY`
/// like the merchant routes; where no key is configured it answers only on a server that
/// serves the merchant routes too (the callback Lambda alone never does). Served only when the
/// sandbox provider is enabled.
#[utoipa::path(get, path = "/sandbox/charges", operation_id = "sandboxCharges",
    tag = "sandbox provider pages", params(ChargesQuery), security(("bearerAuth" = [])),
    responses(
        (status = 200, body = Vec<Charge>, description = "The charges, oldest first."),
        (status = 400, content_type = "application/problem+json", body = ref("#/components/schemas/Problem"),
            description = "`reference` is missing or empty. Codes: `VALIDATION_FAILED`."),
        (status = 401, content_type = "application/problem+json", body = ref("#/components/schemas/Problem"),
            description = "`Authorization: Bearer <PGM_API_KEY>` is missing or wrong. Codes: `UNAUTHORIZED`.",
            headers(("WWW-Authenticate" = String, description = "Always `Bearer`."))),
        (status = 503, content_type = "application/problem+json", body = ref("#/components/schemas/Problem"),
            description = "The sandbox's books are unavailable. Codes: `STORE_UNAVAILABLE`.")))]
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
