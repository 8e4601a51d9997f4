//! One thin handler per route: extract, call the use case, reply. Each handler's
//! `#[utoipa::path]` is its route (method and path, read by the route table) and its entry in
//! the API document; its doc comment is the operation's summary (first line) and description.

use crate::document::{CallbackAck, IdempotencyKeyHeader, RecurrentPayRequest};
use crate::extract::{idempotency_key, query, JsonBody, PathParams};
use crate::reply::{problem, ProblemResponse, ReplyResponse};
use crate::responses::{
    AmendProblems, CallbackProblems, CheckProblems, PayProblems, SessionAmendProblems,
    SessionCheckProblems, SessionOpenProblems, SessionVoidProblems, StatusProblems,
};
use crate::route_params::{PaymentRoute, ProviderRoute};
use crate::MAX_BODY_BYTES;
use axum::extract::{RawQuery, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use pgm_app::{App, Route};
use pgm_core::event::fingerprint;
use pgm_core::wire::{
    ConfirmRefundRequest, ConfirmResponse, LookupQuery, PayRequest, PayResponse, RefundResponse,
    SessionOpenRequest, SessionOpenResponse, SessionRequest, SessionResponse, StatusResponse,
};
use pgm_providers::registry::canonical_name;
use pgm_providers::{CallbackRequest, Operation};
use serde_json::{json, Value};

/// What a handler that replays stored answers returns.
type ReplyResult = Result<ReplyResponse, ProblemResponse>;

/// The fingerprint of a request: its operation, route and body, so that the same key used for
/// another route or body is a conflict rather than a replay.
fn request_hash(op: Operation, route: &[&str], body: &Value) -> String {
    let mut route = route.to_vec();
    if let Some(first) = route.first_mut() {
        *first = canonical_name(first);
    }
    fingerprint(&json!({ "operation": op.route(), "route": route, "body": body }))
}

/// The route's provider (and method) must exist and serve `op` before its body is read: an
/// unknown provider is a 404, not a complaint about a field that provider may not even have.
fn body_for<T: serde::de::DeserializeOwned>(
    app: &App,
    provider: &str,
    method: Option<&str>,
    op: Operation,
    body: &JsonBody<T>,
) -> Result<T, ProblemResponse> {
    app.provider(provider, method, op)?;
    body.parse()
}

async fn pay_route(
    app: App,
    route: PaymentRoute,
    body: JsonBody<PayRequest>,
    op: Operation,
) -> ReplyResult {
    let hash = request_hash(op, &[&route.provider, &route.method], &body.json);
    let request = body_for(&app, &route.provider, Some(&route.method), op, &body)?;
    let recurrent = op == Operation::PayRecurrent;
    let reply = app
        .pay(&route.provider, &route.method, request, recurrent, &hash)
        .await?;
    Ok(ReplyResponse(reply))
}

/// Start a payment
///
/// Idempotent on `shopTransactionID`: the same body again returns the stored answer (header
/// `Idempotent-Replayed: true`) and never reaches the provider twice; a different body under
/// the same shopTransactionID is a 409 IDEMPOTENCY_CONFLICT, except after a final KO (also one
/// that came after the answer: 3DS declined, a pending payment settled FAILED), when a new
/// attempt starts. `Idempotency-Key` is not used here.
#[utoipa::path(post, path = "/{provider}/{method}/pay", operation_id = "pay", tag = "payments",
    params(PaymentRoute), request_body = PayRequest, security(("bearerAuth" = [])),
    responses(
        (status = 200, body = PayResponse, headers(("Idempotent-Replayed" = String, description = "`true`: the stored answer to an earlier identical request.")),
            description = "The provider's answer (OK, KO, REDIRECT_TO_URL) or PENDING when it is not known yet."),
        PayProblems))]
pub async fn pay(
    State(app): State<App>,
    PathParams(route): PathParams<PaymentRoute>,
    body: JsonBody<PayRequest>,
) -> ReplyResult {
    pay_route(app, route, body, Operation::Pay).await
}

/// First or later instalment of a recurring payment
///
/// As pay, with `recurrenceDetails` required and an amount that may be zero (card
/// verification). The first instalment answers a `recurrenceToken` that later instalments send
/// in `recurrenceDetails.recurrenceToken`.
#[utoipa::path(post, path = "/{provider}/{method}/pay/recurrent", operation_id = "payRecurrent",
    tag = "payments", params(PaymentRoute), request_body = RecurrentPayRequest, security(("bearerAuth" = [])),
    responses(
        (status = 200, body = PayResponse, headers(("Idempotent-Replayed" = String, description = "`true`: the stored answer to an earlier identical request.")),
            description = "As pay; `recurrenceToken` is present once the provider gave one."),
        PayProblems))]
pub async fn pay_recurrent(
    State(app): State<App>,
    PathParams(route): PathParams<PaymentRoute>,
    body: JsonBody<PayRequest>,
) -> ReplyResult {
    pay_route(app, route, body, Operation::PayRecurrent).await
}

/// Capture a pre-authorised payment
///
/// Captures the whole authorisation or `amount` of it. A provider's refusal is a 200 with
/// result KO.
#[utoipa::path(post, path = "/{provider}/{method}/confirm", operation_id = "confirm",
    tag = "payments", params(PaymentRoute, IdempotencyKeyHeader), request_body = ConfirmRefundRequest,
    security(("bearerAuth" = [])),
    responses(
        (status = 200, body = ConfirmResponse, headers(("Idempotent-Replayed" = String, description = "`true`: the stored answer to an earlier identical request.")),
            description = "The capture's result."),
        AmendProblems))]
pub async fn confirm(
    State(app): State<App>,
    PathParams(route): PathParams<PaymentRoute>,
    headers: HeaderMap,
    body: JsonBody<ConfirmRefundRequest>,
) -> ReplyResult {
    let key = idempotency_key(&headers)?;
    let op = Operation::Confirm;
    let hash = request_hash(op, &[&route.provider, &route.method], &body.json);
    let cmd = body_for(&app, &route.provider, Some(&route.method), op, &body)?
        .validate()
        .map_err(pgm_app::AppError::from)?;
    let reply = app
        .confirm(
            &route.provider,
            Some(&route.method),
            cmd,
            key.as_deref(),
            &hash,
            Route::Payment,
        )
        .await?;
    Ok(ReplyResponse(reply))
}

/// Refund a payment, fully or partly
///
/// Refunds `amount`, or what remains. Several partial refunds may follow one another until the
/// captured amount is reached; concurrent refunds can never together exceed it. A provider's
/// refusal is a 200 with result KO; a refund the provider completes later answers OK with
/// `refundStatus: PENDING`, and its end is notified.
#[utoipa::path(post, path = "/{provider}/{method}/refund", operation_id = "refund",
    tag = "payments", params(PaymentRoute, IdempotencyKeyHeader), request_body = ConfirmRefundRequest,
    security(("bearerAuth" = [])),
    responses(
        (status = 200, body = RefundResponse, headers(("Idempotent-Replayed" = String, description = "`true`: the stored answer to an earlier identical request.")),
            description = "The refund's result."),
        AmendProblems))]
pub async fn refund(
    State(app): State<App>,
    PathParams(route): PathParams<PaymentRoute>,
    headers: HeaderMap,
    body: JsonBody<ConfirmRefundRequest>,
) -> ReplyResult {
    let key = idempotency_key(&headers)?;
    let op = Operation::Refund;
    let hash = request_hash(op, &[&route.provider, &route.method], &body.json);
    let cmd = body_for(&app, &route.provider, Some(&route.method), op, &body)?
        .validate()
        .map_err(pgm_app::AppError::from)?;
    let reply = app
        .refund(
            &route.provider,
            Some(&route.method),
            cmd,
            key.as_deref(),
            &hash,
            Route::Payment,
        )
        .await?;
    Ok(ReplyResponse(reply))
}

/// Ask the provider now
///
/// Asks the provider for the payment's status now, records it and, if the payment reached an
/// outcome, notifies the merchant.
#[utoipa::path(get, path = "/{provider}/check", operation_id = "check", tag = "payments",
    params(ProviderRoute, LookupQuery), security(("bearerAuth" = [])),
    responses(
        (status = 200, body = StatusResponse, description = "The payment as now known."),
        CheckProblems))]
pub async fn check(
    State(app): State<App>,
    PathParams(route): PathParams<ProviderRoute>,
    RawQuery(raw): RawQuery,
) -> Result<Json<StatusResponse>, ProblemResponse> {
    let reference = query::<LookupQuery>(raw.as_deref())?
        .validate()
        .map_err(pgm_app::AppError::from)?;
    Ok(Json(app.check(&route.provider, &reference).await?))
}

/// The payment's status
///
/// The stored status; a payment still pending is checked with the provider first (if the
/// provider cannot be reached, the stored status is the answer).
#[utoipa::path(get, path = "/{provider}/status", operation_id = "status", tag = "payments",
    params(ProviderRoute, LookupQuery), security(("bearerAuth" = [])),
    responses(
        (status = 200, body = StatusResponse, description = "The payment as known."),
        StatusProblems))]
pub async fn status(
    State(app): State<App>,
    PathParams(route): PathParams<ProviderRoute>,
    RawQuery(raw): RawQuery,
) -> Result<Json<StatusResponse>, ProblemResponse> {
    let reference = query::<LookupQuery>(raw.as_deref())?
        .validate()
        .map_err(pgm_app::AppError::from)?;
    Ok(Json(app.status(&route.provider, &reference).await?))
}

/// Open a transaction session
///
/// Idempotent on `shopTransactionID`, like pay (`Idempotency-Key` is not used here).
#[utoipa::path(post, path = "/{provider}/session/open", operation_id = "sessionOpen",
    tag = "sessions", params(ProviderRoute), request_body = SessionOpenRequest,
    security(("bearerAuth" = [])),
    responses(
        (status = 200, body = SessionOpenResponse, headers(("Idempotent-Replayed" = String, description = "`true`: the stored answer to an earlier identical request.")),
            description = "The session."),
        SessionOpenProblems))]
pub async fn session_open(
    State(app): State<App>,
    PathParams(route): PathParams<ProviderRoute>,
    body: JsonBody<SessionOpenRequest>,
) -> ReplyResult {
    let op = Operation::SessionOpen;
    let hash = request_hash(op, &[&route.provider], &body.json);
    let request = body_for(&app, &route.provider, None, op, &body)?;
    Ok(ReplyResponse(
        app.session_open(&route.provider, request, &hash).await?,
    ))
}

/// Session routes name the payment by its token.
async fn session_route(
    app: App,
    op: Operation,
    route: ProviderRoute,
    headers: HeaderMap,
    body: JsonBody<SessionRequest>,
) -> ReplyResult {
    let key = idempotency_key(&headers)?;
    let hash = request_hash(op, &[&route.provider], &body.json);
    let cmd = body_for(&app, &route.provider, None, op, &body)?
        .validate()
        .map_err(pgm_app::AppError::from)?;
    let (provider, key) = (route.provider.as_str(), key.as_deref());
    let reply = match op {
        Operation::SessionConfirm => {
            app.confirm(provider, None, cmd, key, &hash, Route::Session)
                .await?
        }
        Operation::SessionRefund => {
            app.refund(provider, None, cmd, key, &hash, Route::Session)
                .await?
        }
        Operation::SessionVoid => app.void(provider, cmd, key, &hash).await?,
        _ => app.session_check(provider, cmd).await?,
    };
    Ok(ReplyResponse(reply))
}

/// Capture a session's payment
///
/// A provider's refusal is a 200 with result KO.
#[utoipa::path(post, path = "/{provider}/session/confirm", operation_id = "sessionConfirm",
    tag = "sessions", params(ProviderRoute, IdempotencyKeyHeader), request_body = SessionRequest,
    security(("bearerAuth" = [])),
    responses(
        (status = 200, body = SessionResponse, headers(("Idempotent-Replayed" = String, description = "`true`: the stored answer to an earlier identical request.")),
            description = "The result and the payment's status."),
        SessionAmendProblems))]
pub async fn session_confirm(
    State(app): State<App>,
    PathParams(route): PathParams<ProviderRoute>,
    headers: HeaderMap,
    body: JsonBody<SessionRequest>,
) -> ReplyResult {
    session_route(app, Operation::SessionConfirm, route, headers, body).await
}

/// Release a session's authorisation
///
/// A provider's refusal is a 200 with result KO.
#[utoipa::path(post, path = "/{provider}/session/void", operation_id = "sessionVoid",
    tag = "sessions", params(ProviderRoute, IdempotencyKeyHeader), request_body = SessionRequest,
    security(("bearerAuth" = [])),
    responses(
        (status = 200, body = SessionResponse, headers(("Idempotent-Replayed" = String, description = "`true`: the stored answer to an earlier identical request.")),
            description = "The result and the payment's status."),
        SessionVoidProblems))]
pub async fn session_void(
    State(app): State<App>,
    PathParams(route): PathParams<ProviderRoute>,
    headers: HeaderMap,
    body: JsonBody<SessionRequest>,
) -> ReplyResult {
    session_route(app, Operation::SessionVoid, route, headers, body).await
}

/// Refund a session's payment
///
/// A provider's refusal is a 200 with result KO.
#[utoipa::path(post, path = "/{provider}/session/refund", operation_id = "sessionRefund",
    tag = "sessions", params(ProviderRoute, IdempotencyKeyHeader), request_body = SessionRequest,
    security(("bearerAuth" = [])),
    responses(
        (status = 200, body = SessionResponse, headers(("Idempotent-Replayed" = String, description = "`true`: the stored answer to an earlier identical request.")),
            description = "The result and the payment's status."),
        SessionAmendProblems))]
pub async fn session_refund(
    State(app): State<App>,
    PathParams(route): PathParams<ProviderRoute>,
    headers: HeaderMap,
    body: JsonBody<SessionRequest>,
) -> ReplyResult {
    session_route(app, Operation::SessionRefund, route, headers, body).await
}

/// A session's status
///
/// The provider's view of the session where it has one, recorded (and notified if it reached
/// an outcome). `amount` is ignored.
#[utoipa::path(post, path = "/{provider}/session/check", operation_id = "sessionCheck",
    tag = "sessions", params(ProviderRoute), request_body = SessionRequest,
    security(("bearerAuth" = [])),
    responses(
        (status = 200, body = SessionResponse, description = "Always result OK, with the session's status."),
        SessionCheckProblems))]
pub async fn session_check(
    State(app): State<App>,
    PathParams(route): PathParams<ProviderRoute>,
    headers: HeaderMap,
    body: JsonBody<SessionRequest>,
) -> ReplyResult {
    session_route(app, Operation::SessionCheck, route, headers, body).await
}

const CALLBACK_DOC: &str =
    "Called by the provider, never by the merchant: not behind the API key. \
    The provider's own signature authenticates it; a provider that signs nothing is only a \
    trigger, and the PGM re-reads the status from the provider before believing anything. The \
    body and query are the provider's own format (the sandbox's is `SandboxCallback`, signed in \
    the `Sandbox-Signature` header; its GET form carries the signature in the query). A change \
    of outcome is notified to the merchant (see the `paymentNotification` webhook).";

/// Provider callback (GET form)
#[utoipa::path(get, path = "/{provider}/callback", operation_id = "callbackGet",
    tag = "provider callbacks", description = CALLBACK_DOC, params(ProviderRoute), security(()),
    responses(
        (status = 200, body = CallbackAck, description = "Accepted (also when it changed nothing)."),
        CallbackProblems))]
pub async fn callback_get(
    state: State<App>,
    route: PathParams<ProviderRoute>,
    request: Request,
) -> Result<Response, ProblemResponse> {
    callback(state, route, request).await
}

/// Provider callback
#[utoipa::path(post, path = "/{provider}/callback", operation_id = "callbackPost",
    tag = "provider callbacks", description = CALLBACK_DOC, security(()), params(ProviderRoute,
        ("Sandbox-Signature" = Option<String>, Header,
            description = "The sandbox's signature (`t=…,v1=…`); other providers use their own headers.")),
    responses(
        (status = 200, body = CallbackAck, description = "Accepted (also when it changed nothing)."),
        CallbackProblems))]
pub async fn callback_post(
    state: State<App>,
    route: PathParams<ProviderRoute>,
    request: Request,
) -> Result<Response, ProblemResponse> {
    callback(state, route, request).await
}

/// Webhooks keep their raw bytes: signatures are computed over them.
async fn callback(
    State(app): State<App>,
    PathParams(route): PathParams<ProviderRoute>,
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
    let ack = app.callback(&route.provider, callback).await?;
    let status = StatusCode::from_u16(ack.status).unwrap_or(StatusCode::OK);
    Ok((status, [(header::CONTENT_TYPE, ack.content_type)], ack.body).into_response())
}
