//! Extractors whose every rejection is a problem+json that names what is wrong.

use crate::reply::{problem, ProblemResponse};
use crate::MAX_BODY_BYTES;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A JSON object body, parsed into `T`, with the raw value kept for fingerprinting.
pub struct JsonBody<T> {
    pub value: T,
    pub json: Value,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ProblemResponse;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let headers = request.headers();
        if let Some(content_type) = headers.get(header::CONTENT_TYPE) {
            let json = content_type
                .to_str()
                .map(|v| v.to_ascii_lowercase().contains("json"))
                .unwrap_or(false);
            if !json {
                return Err(problem(
                    415,
                    "UNSUPPORTED_MEDIA_TYPE",
                    "Unsupported media type",
                    "the body must be application/json",
                ));
            }
        }
        let too_large = || {
            problem(
                413,
                "PAYLOAD_TOO_LARGE",
                "Payload too large",
                format!("the body must be at most {MAX_BODY_BYTES} bytes"),
            )
        };
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
            return Err(too_large());
        }
        let bytes = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES)
            .await
            .map_err(|_| too_large())?;
        let json: Value = serde_json::from_slice(&bytes).map_err(|e| {
            problem(
                400,
                "MALFORMED_JSON",
                "Malformed JSON",
                format!("the body is not valid JSON ({e})"),
            )
        })?;
        if !json.is_object() {
            return Err(problem(
                400,
                "MALFORMED_JSON",
                "Malformed JSON",
                "the body must be a JSON object",
            ));
        }
        let value = serde_path_to_error::deserialize(&json).map_err(|e| {
            let path = e.path().to_string();
            let detail = if path == "." {
                e.inner().to_string()
            } else {
                format!("{path}: {}", e.inner())
            };
            let mut p = problem(400, "VALIDATION_FAILED", "The request is invalid", detail);
            p.0.field = (path != ".").then_some(path);
            p
        })?;
        Ok(JsonBody { value, json })
    }
}

/// Path parameters as strings; a path that cannot be decoded is a problem, not a plain text.
pub struct Segments(pub Vec<String>);

impl<S: Send + Sync> FromRequestParts<S> for Segments {
    type Rejection = ProblemResponse;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = axum::extract::Path::<Vec<String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| {
                problem(
                    400,
                    "INVALID_PATH",
                    "Invalid path",
                    "the path could not be decoded",
                )
            })?;
        Ok(Segments(params.0))
    }
}

/// The query string, parsed into `T`.
pub fn query<T: DeserializeOwned>(raw: Option<&str>) -> Result<T, ProblemResponse> {
    serde_urlencoded::from_str(raw.unwrap_or("")).map_err(|e| {
        problem(
            400,
            "VALIDATION_FAILED",
            "The request is invalid",
            format!("query: {e}"),
        )
    })
}

/// The optional `Idempotency-Key` header.
pub fn idempotency_key(headers: &axum::http::HeaderMap) -> Result<Option<String>, ProblemResponse> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(v) => v.to_str().map(|s| Some(s.to_owned())).map_err(|_| {
            problem(
                400,
                "VALIDATION_FAILED",
                "The request is invalid",
                "Idempotency-Key must be visible ASCII",
            )
        }),
    }
}
