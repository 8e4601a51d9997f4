//! The sandbox's "provider side": the hosted 3DS page a buyer is redirected to, the signed
//! callback it sends to the PGM when the buyer decides, and a read-only view of its books.

use super::{CallbackBody, Charge, ChargeStatus, SandboxCore};
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use pgm_core::clock::now_ms;
use pgm_core::signing::sign_timestamped;
use pgm_core::{Currency, Money};
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
        .with_state(core)
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
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}}
.card{{border:1px solid #ccc;border-radius:8px;padding:1.5rem}}form{{display:inline}}
button{{font-size:1rem;padding:.6rem 1.2rem;margin:.5rem .5rem 0 0;border-radius:6px;border:1px solid #888;cursor:pointer}}
#approve button{{background:#1a7f37;color:#fff}}#decline button{{background:#cf222e;color:#fff}}</style>
</head><body><div class="card">{body}</div></body></html>"#,
        title = escape(title)
    ))
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        page(
            "Unknown payment",
            "<h1>Unknown payment</h1><p>The sandbox has no such payment.</p>",
        ),
    )
        .into_response()
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

async fn show_page(
    State(core): State<Arc<SandboxCore>>,
    Path(charge_id): Path<String>,
) -> Response {
    let charge = match core.ledger.charge(&charge_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return not_found(),
        Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    };
    if charge.status != ChargeStatus::AwaitingBuyer {
        return already_decided(&charge);
    }
    let action = format!("/sandbox/3ds/{}", escape(&charge.id));
    let body = format!(
        r#"<h1>3-D Secure check</h1>
<p>Sandbox bank &middot; order <code>{reference}</code></p>
<p>Amount: <strong id="amount">{amount}</strong></p>
<p>This simulates the issuer's authentication page. Choose the buyer's answer.</p>
<form id="approve" method="post" action="{action}"><input type="hidden" name="decision" value="approve"><button type="submit">Approve</button></form>
<form id="decline" method="post" action="{action}"><input type="hidden" name="decision" value="decline"><button type="submit">Decline</button></form>"#,
        reference = escape(&charge.reference),
        amount = escape(&display_amount(&charge)),
    );
    page("Sandbox 3-D Secure", &body).into_response()
}

#[derive(Deserialize)]
struct Decision {
    decision: String,
}

async fn decide(
    State(core): State<Arc<SandboxCore>>,
    Path(charge_id): Path<String>,
    headers: axum::http::HeaderMap,
    Form(form): Form<Decision>,
) -> Response {
    let approve = match form.decision.as_str() {
        "approve" => true,
        "decline" => false,
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                "decision must be approve or decline",
            )
                .into_response()
        }
    };
    let charge = match core.ledger.charge(&charge_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return not_found(),
        Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    };
    let to = match (approve, core.config.pre_authorization) {
        (false, _) => ChargeStatus::Declined,
        (true, true) => ChargeStatus::Authorized,
        (true, false) => ChargeStatus::Captured,
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
        Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    };
    if !moved {
        // Decided earlier (another tab, a double submit): answer with the decision on record,
        // never with this late request's choice.
        return match core.ledger.charge(&charge.id).await {
            Ok(Some(current)) => already_decided(&current),
            Ok(None) => not_found(),
            Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
        };
    }
    send_callback(&core, &pgm_base_url(&core, &headers), &charge, to).await;
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

/// Tells the PGM, the way a PSP does: a signed POST to its callback URL. A failed callback is
/// logged, not retried: the PGM's `/check` and reconciler exist for exactly that case.
/// Where the PGM is: `PGM_PUBLIC_URL`, or, when it is not set (the callback Lambda cannot be
/// given its own Function URL by CloudFormation), the host this page was served from.
fn pgm_base_url(core: &SandboxCore, headers: &axum::http::HeaderMap) -> String {
    if !core.public_url.is_empty() {
        return core.public_url.clone();
    }
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("https://{host}")
}

async fn send_callback(core: &SandboxCore, base_url: &str, charge: &Charge, status: ChargeStatus) {
    let body = CallbackBody {
        charge_id: charge.id.clone(),
        reference: charge.reference.clone(),
        status,
    };
    let body = serde_json::to_vec(&body).expect("serializes");
    let signature =
        callback_signature_header(core.config.webhook_secret.expose(), now_ms() / 1000, &body);
    let url = format!("{base_url}/sandbox/callback");
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
    reference: String,
}

/// The sandbox's books for one merchant reference: what a PSP dashboard would show.
async fn list_charges(
    State(core): State<Arc<SandboxCore>>,
    Query(q): Query<ChargesQuery>,
) -> Response {
    match core.ledger.charges_for(&q.reference).await {
        Ok(charges) => Json(charges).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}
