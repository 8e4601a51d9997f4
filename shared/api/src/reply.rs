//! Turning use-case answers and errors into HTTP responses (the one place that does).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use pgm_app::{AppError, Problem};

pub const PROBLEM_JSON: &str = "application/problem+json";

/// A use-case reply (stored or fresh) as it goes out.
pub struct ReplyResponse(pub pgm_app::Reply);

impl IntoResponse for ReplyResponse {
    fn into_response(self) -> Response {
        let reply = self.0;
        let status =
            StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let content_type = if status.is_success() {
            "application/json"
        } else {
            PROBLEM_JSON
        };
        let mut response =
            (status, [(header::CONTENT_TYPE, content_type)], reply.body).into_response();
        if reply.replayed {
            response
                .headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
        }
        response
    }
}

/// An error as problem+json.
pub struct ProblemResponse(pub Box<Problem>);

impl IntoResponse for ProblemResponse {
    fn into_response(self) -> Response {
        let problem = *self.0;
        let status =
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (
            status,
            [(header::CONTENT_TYPE, PROBLEM_JSON)],
            problem.body(),
        )
            .into_response();
        if let Some(secs) = problem.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<AppError> for ProblemResponse {
    fn from(e: AppError) -> Self {
        ProblemResponse(Box::new(Problem::from(&e)))
    }
}

pub fn problem(
    status: u16,
    code: &'static str,
    title: &str,
    detail: impl Into<String>,
) -> ProblemResponse {
    ProblemResponse(Box::new(Problem::new(status, code, title, detail.into())))
}

pub async fn route_not_found() -> ProblemResponse {
    problem(
        404,
        "ROUTE_NOT_FOUND",
        "No such route",
        "no route matches this path",
    )
}

pub async fn method_not_allowed() -> ProblemResponse {
    problem(
        405,
        "METHOD_NOT_ALLOWED",
        "Method not allowed",
        "this route does not accept that HTTP method",
    )
}
