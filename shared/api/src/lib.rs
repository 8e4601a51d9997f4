//! The HTTP face of the PGM: one axum [`Router`] that `pgm-local` serves and every Lambda
//! hands to `lambda_http`. Handlers are thin: parse, call the use case, map the answer.

mod auth;
mod extract;
mod handlers;
mod openapi;
mod reply;

use axum::routing::{get, post};
use axum::Router;
use pgm_app::App;
use pgm_core::Secret;

pub use openapi::OPENAPI_JSON;

/// Largest request body accepted on merchant routes (a pay request is well under 4 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Clone, Default)]
pub struct ApiConfig {
    /// `PGM_API_KEY`: when set, merchant routes need `Authorization: Bearer <key>`.
    pub api_key: Option<Secret>,
}

/// Every route of the API. Merchant routes sit behind the API key (when configured); the
/// callback, the providers' hosted pages and the OpenAPI document do not.
pub fn router(app: App, config: ApiConfig) -> Router {
    let merchant = merchant_routes().route_layer(axum::middleware::from_fn_with_state(
        config.api_key.clone(),
        auth::require_api_key,
    ));
    let public = Router::new()
        .route(
            "/{provider}/callback",
            get(handlers::callback).post(handlers::callback),
        )
        .route("/documentation/openapi.json", get(openapi::serve));
    let mut router = merchant.merge(public).with_state(app.clone());
    for provider in app.providers.iter() {
        if let Some(hosted) = provider.hosted_routes() {
            router = router.merge(hosted);
        }
    }
    router
        .fallback(reply::route_not_found)
        .method_not_allowed_fallback(reply::method_not_allowed)
}

/// Merchant routes, without state: also used by the per-operation Lambdas.
pub fn merchant_routes() -> Router<App> {
    Router::new()
        .route("/{provider}/{method}/pay", post(handlers::pay))
        .route(
            "/{provider}/{method}/pay/recurrent",
            post(handlers::pay_recurrent),
        )
        .route("/{provider}/{method}/confirm", post(handlers::confirm))
        .route("/{provider}/{method}/refund", post(handlers::refund))
        .route("/{provider}/check", get(handlers::check))
        .route("/{provider}/status", get(handlers::status))
        .route("/{provider}/session/open", post(handlers::session_open))
        .route(
            "/{provider}/session/confirm",
            post(handlers::session_confirm),
        )
        .route("/{provider}/session/void", post(handlers::session_void))
        .route("/{provider}/session/refund", post(handlers::session_refund))
        .route("/{provider}/session/check", post(handlers::session_check))
}
