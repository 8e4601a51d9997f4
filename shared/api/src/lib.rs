//! The HTTP face of the PGM: the axum routers that `pgm-local` serves (every route) and that
//! each Lambda hands to `lambda_http` (its rows of the route table), and the OpenAPI document
//! generated from the same table. Handlers are thin: parse, call the use case, map the answer.

mod auth;
mod document;
mod extract;
mod handlers;
mod reply;
mod responses;
mod route_params;
mod routes;
mod strict_json;

use axum::Router;
use pgm_app::App;
use pgm_core::Secret;
use routes::Access;

pub use document::document;
pub use routes::{Function, Route, ROUTES};

/// Largest request body accepted on merchant routes (a pay request is well under 4 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Clone, Default)]
pub struct ApiConfig {
    /// `PGM_API_KEY`: when set, merchant routes need `Authorization: Bearer <key>`.
    pub api_key: Option<Secret>,
}

/// The routes of the given functions, with the API key on merchant routes and problem+json
/// answers for unknown routes and methods. The callback function also serves the providers'
/// hosted pages (the sandbox's 3DS page and books).
pub fn functions_router(app: App, config: ApiConfig, functions: &[Function]) -> Router {
    let mut router = Router::new();
    let merchant = routes::router(Access::Merchant, functions);
    let merchant_routes_served = merchant.is_some();
    if let Some(merchant) = merchant {
        let merchant = merchant.route_layer(axum::middleware::from_fn_with_state(
            config.api_key.clone(),
            auth::require_api_key,
        ));
        router = router.merge(merchant.with_state(app.clone()));
    }
    if let Some(public) = routes::router(Access::Public, functions) {
        router = router.merge(public.with_state(app.clone()));
    }
    if functions.contains(&Function::Callback) {
        for provider in app.providers.iter() {
            if let Some(hosted) = provider.hosted_routes() {
                let marked = hosted.layer(axum::middleware::from_fn_with_state(
                    (config.api_key.clone(), merchant_routes_served),
                    auth::mark_merchant,
                ));
                router = router.merge(marked);
            }
        }
    }
    router
        .fallback(reply::route_not_found)
        .method_not_allowed_fallback(reply::method_not_allowed)
}

/// The router of one Lambda function: its rows of the route table only.
pub fn function_router(app: App, config: ApiConfig, function: Function) -> Router {
    functions_router(app, config, &[function])
}

/// Every route of the API (`pgm-local`). Merchant routes sit behind the API key (when
/// configured); the callback, the providers' hosted pages and the API document do not.
pub fn router(app: App, config: ApiConfig) -> Router {
    functions_router(app, config, &Function::ALL)
}
