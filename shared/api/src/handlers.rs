//! One thin handler per route: extract, call the use case, reply.

use crate::extract::{idempotency_key, query, JsonBody, Segments};
use crate::reply::{problem, ProblemResponse, ReplyResponse};
use crate::MAX_BODY_BYTES;
use axum::extract::{RawQuery, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, MethodRouter};
use axum::Json;
use pgm_app::{App, Route};
use pgm_core::event::fingerprint;
use pgm_core::wire::{
    AmendRequest, LookupQuery, PayRequest, SessionOpenRequest, SessionRequest, StatusResponse,
};
use pgm_providers::registry::canonical_name;
use pgm_providers::{CallbackRequest, Operation};
use serde_json::{json, Value};

type Answer = Result<ReplyResponse, ProblemResponse>;

/// The fingerprint of a request: its route and body, so that the same key used for another
/// route or body is a conflict rather than a replay.
fn request_hash(operation: &str, segments: &[String], body: &Value) -> String {
    let mut route: Vec<&str> = segments.iter().map(String::as_str).collect();
    if let Some(first) = route.first_mut() {
        *first = canonical_name(first);
    }
    fingerprint(&json!({ "operation": operation, "route": route, "body": body }))
}

fn provider_and_method(segments: &[String]) -> (&str, Option<&str>) {
    (
        segments.first().map(String::as_str).unwrap_or_default(),
        segments.get(1).map(String::as_str),
    )
}

/// The route's provider (and method) must exist and serve `op` before its body is read: an
/// unknown provider is a 404, not a complaint about a field that provider may not even have.
fn body_for<T: serde::de::DeserializeOwned>(
    app: &App,
    segments: &[String],
    op: Operation,
    body: &JsonBody<T>,
) -> Result<T, ProblemResponse> {
    let (provider, method) = provider_and_method(segments);
    app.provider(provider, method, op)?;
    body.parse()
}

async fn pay_route(
    app: App,
    segments: Vec<String>,
    body: JsonBody<PayRequest>,
    recurrent: bool,
) -> Answer {
    let (operation, op) = if recurrent {
        ("pay/recurrent", Operation::PayRecurrent)
    } else {
        ("pay", Operation::Pay)
    };
    let hash = request_hash(operation, &segments, &body.json);
    let request = body_for(&app, &segments, op, &body)?;
    let (provider, method) = provider_and_method(&segments);
    let reply = app
        .pay(
            provider,
            method.unwrap_or_default(),
            request,
            recurrent,
            &hash,
        )
        .await?;
    Ok(ReplyResponse(reply))
}

pub async fn pay(
    State(app): State<App>,
    Segments(s): Segments,
    body: JsonBody<PayRequest>,
) -> Answer {
    pay_route(app, s, body, false).await
}

pub async fn pay_recurrent(
    State(app): State<App>,
    Segments(s): Segments,
    body: JsonBody<PayRequest>,
) -> Answer {
    pay_route(app, s, body, true).await
}

pub async fn confirm(
    State(app): State<App>,
    Segments(s): Segments,
    headers: HeaderMap,
    body: JsonBody<AmendRequest>,
) -> Answer {
    let key = idempotency_key(&headers)?;
    let hash = request_hash("confirm", &s, &body.json);
    let cmd = body_for(&app, &s, Operation::Confirm, &body)?
        .validate()
        .map_err(pgm_app::AppError::from)?;
    let (provider, method) = provider_and_method(&s);
    Ok(ReplyResponse(
        app.confirm(provider, method, cmd, key.as_deref(), &hash, Route::Payment)
            .await?,
    ))
}

pub async fn refund(
    State(app): State<App>,
    Segments(s): Segments,
    headers: HeaderMap,
    body: JsonBody<AmendRequest>,
) -> Answer {
    let key = idempotency_key(&headers)?;
    let hash = request_hash("refund", &s, &body.json);
    let cmd = body_for(&app, &s, Operation::Refund, &body)?
        .validate()
        .map_err(pgm_app::AppError::from)?;
    let (provider, method) = provider_and_method(&s);
    Ok(ReplyResponse(
        app.refund(provider, method, cmd, key.as_deref(), &hash, Route::Payment)
            .await?,
    ))
}

pub async fn check(
    State(app): State<App>,
    Segments(s): Segments,
    RawQuery(raw): RawQuery,
) -> Result<Json<StatusResponse>, ProblemResponse> {
    let reference = query::<LookupQuery>(raw.as_deref())?
        .validate()
        .map_err(pgm_app::AppError::from)?;
    Ok(Json(
        app.check(provider_and_method(&s).0, &reference).await?,
    ))
}

pub async fn status(
    State(app): State<App>,
    Segments(s): Segments,
    RawQuery(raw): RawQuery,
) -> Result<Json<StatusResponse>, ProblemResponse> {
    let reference = query::<LookupQuery>(raw.as_deref())?
        .validate()
        .map_err(pgm_app::AppError::from)?;
    Ok(Json(
        app.status(provider_and_method(&s).0, &reference).await?,
    ))
}

pub async fn session_open(
    State(app): State<App>,
    Segments(s): Segments,
    body: JsonBody<SessionOpenRequest>,
) -> Answer {
    let hash = request_hash("session/open", &s, &body.json);
    let request = body_for(&app, &s, Operation::SessionOpen, &body)?;
    Ok(ReplyResponse(
        app.session_open(provider_and_method(&s).0, request, &hash)
            .await?,
    ))
}

/// Session routes name the payment by its token.
async fn session_route(
    app: &App,
    operation: &str,
    s: &[String],
    headers: &HeaderMap,
    body: JsonBody<SessionRequest>,
) -> Answer {
    let key = idempotency_key(headers)?;
    let hash = request_hash(operation, s, &body.json);
    let op = match operation {
        "session/confirm" => Operation::SessionConfirm,
        "session/refund" => Operation::SessionRefund,
        "session/void" => Operation::SessionVoid,
        _ => Operation::SessionCheck,
    };
    let cmd = body_for(app, s, op, &body)?
        .validate()
        .map_err(pgm_app::AppError::from)?;
    let provider = provider_and_method(s).0;
    let reply = match operation {
        "session/confirm" => {
            app.confirm(provider, None, cmd, key.as_deref(), &hash, Route::Session)
                .await?
        }
        "session/refund" => {
            app.refund(provider, None, cmd, key.as_deref(), &hash, Route::Session)
                .await?
        }
        "session/void" => app.void(provider, cmd, key.as_deref(), &hash).await?,
        _ => app.session_check(provider, cmd).await?,
    };
    Ok(ReplyResponse(reply))
}

/// The handler of `POST /{provider}/session/<operation>` (confirm, void, refund, check).
pub fn session_action(operation: &'static str) -> MethodRouter<App> {
    post(
        move |State(app): State<App>,
              Segments(s): Segments,
              headers: HeaderMap,
              body: JsonBody<SessionRequest>| async move {
            session_route(&app, operation, &s, &headers, body).await
        },
    )
}

/// Webhooks keep their raw bytes: signatures are computed over them.
pub async fn callback(
    State(app): State<App>,
    Segments(s): Segments,
    request: Request,
) -> Result<Response, ProblemResponse> {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 4 * MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            problem(
                413,
                "PAYLOAD_TOO_LARGE",
                "Payload too large",
                "callback body too large",
            )
        })?;
    let callback = CallbackRequest {
        method: parts.method,
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers: parts.headers,
        body,
    };
    let ack = app.callback(provider_and_method(&s).0, callback).await?;
    let status = StatusCode::from_u16(ack.status).unwrap_or(StatusCode::OK);
    Ok((status, [(header::CONTENT_TYPE, ack.content_type)], ack.body).into_response())
}
