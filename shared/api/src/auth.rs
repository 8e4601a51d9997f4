use crate::reply::problem;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use pgm_core::signing::constant_time_eq;
use pgm_core::Secret;

/// Whether the request carries the merchant's key (`open`: no key is configured and merchant
/// routes are served without one).
fn is_merchant(key: Option<&Secret>, request: &Request, open: bool) -> bool {
    let Some(key) = key else {
        return open;
    };
    request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|token| constant_time_eq(token.as_bytes(), key.expose().as_bytes()))
}

/// On the providers' hosted routes: marks a request from the merchant (the key, when one is
/// configured) so that a route for the merchant only (the sandbox's books) can refuse the
/// others, while the buyer-facing pages stay public. Without a key, the mark is given only
/// where the merchant routes themselves are open (`open`); a router serving no merchant route
/// (the callback Lambda, behind a Function URL that no authorizer guards) never gives it.
pub async fn mark_merchant(
    State((key, open)): State<(Option<Secret>, bool)>,
    mut request: Request,
    next: Next,
) -> Response {
    if is_merchant(key.as_ref(), &request, open) {
        request
            .extensions_mut()
            .insert(pgm_core::MerchantAuthenticated);
    }
    next.run(request).await
}

/// `Authorization: Bearer <PGM_API_KEY>` on merchant routes, when a key is configured. In AWS
/// the API Gateway authorizer does this job and no key is set.
pub async fn require_api_key(
    State(key): State<Option<Secret>>,
    request: Request,
    next: Next,
) -> Response {
    if is_merchant(key.as_ref(), &request, true) {
        return next.run(request).await;
    }
    let mut response = problem(
        401,
        "UNAUTHORIZED",
        "Unauthorized",
        "a valid `Authorization: Bearer <key>` header is required",
    )
    .into_response();
    response.headers_mut().insert(
        axum::http::header::WWW_AUTHENTICATE,
        axum::http::HeaderValue::from_static("Bearer"),
    );
    response
}
