//! Extractors whose every rejection is a problem+json that names what is wrong.

use crate::reply::{problem, ProblemResponse};
use crate::strict_json;
use crate::MAX_BODY_BYTES;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::marker::PhantomData;

/// A JSON object body: checked (media type, size, syntax, no duplicate keys) when extracted,
/// and read into `T` by [`JsonBody::parse`] only after the route's provider is known, so that
/// an unknown provider or method is told so before any provider-specific field.
pub struct JsonBody<T> {
    pub json: Value,
    into: PhantomData<fn() -> T>,
}

/// Bodies this much over the limit are still read (and thrown away) before the 413, so that
/// the client gets the answer instead of a connection reset with its upload half sent.
const DRAIN_BYTES: usize = 8 * 1024 * 1024;

fn too_large() -> ProblemResponse {
    problem(
        413,
        "PAYLOAD_TOO_LARGE",
        "Payload too large",
        format!("the body must be at most {MAX_BODY_BYTES} bytes"),
    )
}

/// Over the limit, or not all there: the server's body deadline ran out, or the client left.
fn body_error(e: axum::Error) -> ProblemResponse {
    let inner = e.into_inner();
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(inner.as_ref());
    while let Some(error) = cause {
        if error.is::<http_body_util::LengthLimitError>() {
            return too_large();
        }
        cause = error.source();
    }
    problem(
        408,
        "REQUEST_TIMEOUT",
        "Request body incomplete",
        "the body did not arrive in full in time",
    )
}

/// `application/json`, or a `+json` structured syntax (`application/merge-patch+json`), with
/// parameters (`; charset=utf-8`) allowed. A missing type is not JSON: a form or a text body
/// must never be taken for a payment.
fn is_json(content_type: Option<&header::HeaderValue>) -> bool {
    let Some(essence) = content_type
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
    else {
        return false;
    };
    essence == "application/json"
        || essence
            .split_once('/')
            .is_some_and(|(kind, subtype)| !kind.is_empty() && subtype.ends_with("+json"))
}

impl<S: Send + Sync, T> FromRequest<S> for JsonBody<T> {
    type Rejection = ProblemResponse;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let headers = request.headers();
        if !is_json(headers.get(header::CONTENT_TYPE)) {
            return Err(problem(
                415,
                "UNSUPPORTED_MEDIA_TYPE",
                "Unsupported media type",
                "the body must be application/json (Content-Type: application/json)",
            ));
        }
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
            // Up to DRAIN_BYTES: past that the client is not sent the answer it will not read.
            if declared.is_some_and(|n| n <= DRAIN_BYTES) {
                let _ = axum::body::to_bytes(request.into_body(), DRAIN_BYTES).await;
            }
            return Err(too_large());
        }
        let bytes = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES)
            .await
            .map_err(body_error)?;
        let json =
            strict_json::from_slice(&bytes).map_err(|e| match strict_json::duplicate_key(&e) {
                Some(key) => {
                    let mut p = problem(
                        400,
                        "VALIDATION_FAILED",
                        "The request is invalid",
                        format!("`{key}` appears more than once in the body"),
                    );
                    p.0.field = Some(key);
                    p
                }
                None => problem(
                    400,
                    "MALFORMED_JSON",
                    "Malformed JSON",
                    format!("the body is not valid JSON ({e})"),
                ),
            })?;
        if !json.is_object() {
            return Err(problem(
                400,
                "MALFORMED_JSON",
                "Malformed JSON",
                "the body must be a JSON object",
            ));
        }
        Ok(JsonBody {
            json,
            into: PhantomData,
        })
    }
}

impl<T: DeserializeOwned> JsonBody<T> {
    /// The body as the route's request type; a field that does not fit is named.
    pub fn parse(&self) -> Result<T, ProblemResponse> {
        serde_path_to_error::deserialize(&self.json).map_err(|e| {
            let path = e.path().to_string();
            let detail = if path == "." {
                e.inner().to_string()
            } else {
                format!("{path}: {}", e.inner())
            };
            let mut p = problem(400, "VALIDATION_FAILED", "The request is invalid", detail);
            p.0.field = (path != ".").then_some(path);
            p
        })
    }
}

/// Path parameters read into `T` by name; a path that cannot be decoded is a problem, not a
/// plain text.
pub struct PathParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParams<T> {
    type Rejection = ProblemResponse;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map_err(|_| {
                problem(
                    400,
                    "INVALID_PATH",
                    "Invalid path",
                    "the path could not be decoded",
                )
            })?;
        Ok(PathParams(params.0))
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
