//! The hosted routes' errors, as RFC 9457 problem+json like every other error of the PGM
//! (the providers crate cannot use the API crate's type: the API depends on it).

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

pub fn problem(status: StatusCode, code: &str, title: &str, detail: &str) -> Response {
    with_field(status, code, title, detail, None)
}

fn with_field(
    status: StatusCode,
    code: &str,
    title: &str,
    detail: &str,
    field: Option<&str>,
) -> Response {
    let mut body = serde_json::json!({
        "type": format!("urn:pgm:problem:{}", code.to_ascii_lowercase().replace('_', "-")),
        "title": title,
        "status": status.as_u16(),
        "detail": detail,
        "code": code,
    });
    if let Some(field) = field {
        body["field"] = field.into();
    }
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}

pub fn not_found() -> Response {
    problem(
        StatusCode::NOT_FOUND,
        "PAYMENT_NOT_FOUND",
        "Payment not found",
        "the sandbox has no such payment",
    )
}

pub fn unavailable() -> Response {
    problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "STORE_UNAVAILABLE",
        "Storage unavailable",
        "the sandbox's books are unavailable; retry later",
    )
}

/// A validation problem naming the offending field, like the API's.
pub fn invalid(field: &str, detail: &str) -> Response {
    with_field(
        StatusCode::BAD_REQUEST,
        "VALIDATION_FAILED",
        "The request is invalid",
        detail,
        Some(field),
    )
}
