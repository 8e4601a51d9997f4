use crate::reply::problem;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use pgm_core::signing::constant_time_eq;
use pgm_core::Secret;

/// `Authorization: Bearer <PGM_API_KEY>` on merchant routes, when a key is configured. In AWS
/// the API Gateway authorizer does this job and no key is set.
pub async fn require_api_key(
    State(key): State<Option<Secret>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(key) = key else {
        return next.run(request).await;
    };
    let presented = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        Some(token) if constant_time_eq(token.as_bytes(), key.expose().as_bytes()) => {
            next.run(request).await
        }
        _ => {
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
    }
}
