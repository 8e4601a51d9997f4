use axum::http::header;
use axum::response::IntoResponse;

/// The OpenAPI 3.1 document of every route. Written by hand next to the code it describes;
/// a test checks real responses against it.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

pub async fn serve() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON)
}
