//! The HTTP face of the PGM: one axum [`Router`] that `pgm-local` serves and every Lambda
//! hands to `lambda_http`. Handlers are thin: parse, call the use case, map the answer.

mod auth;
mod extract;
mod handlers;
mod openapi;
mod reply;

use axum::routing::{get, post, MethodRouter};
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

/// Every route the API itself serves, as (HTTP method, path); a GET also answers HEAD. The router
/// is built from this table (see `handler`), so a route cannot be served without being listed,
/// and the OpenAPI test checks that the document describes exactly these routes (plus the
/// providers' hosted pages, which the providers serve). Add routes here, nowhere else.
pub fn route_table() -> &'static [(&'static str, &'static str)] {
    &[
        ("POST", "/{provider}/{method}/pay"),
        ("POST", "/{provider}/{method}/pay/recurrent"),
        ("POST", "/{provider}/{method}/confirm"),
        ("POST", "/{provider}/{method}/refund"),
        ("GET", "/{provider}/check"),
        ("GET", "/{provider}/status"),
        ("POST", "/{provider}/session/open"),
        ("POST", "/{provider}/session/confirm"),
        ("POST", "/{provider}/session/void"),
        ("POST", "/{provider}/session/refund"),
        ("POST", "/{provider}/session/check"),
        ("GET", "/{provider}/callback"),
        ("POST", "/{provider}/callback"),
        ("GET", "/documentation/openapi.json"),
    ]
}

/// Who may call a route.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    /// The merchant's backend: behind the API key (when configured).
    Merchant,
    /// Providers (callbacks) and anyone (the OpenAPI document).
    Public,
}

/// The handler of a [`route_table`] entry.
fn handler(method: &str, path: &str) -> (Access, MethodRouter<App>) {
    use Access::{Merchant, Public};
    match (method, path) {
        ("POST", "/{provider}/{method}/pay") => (Merchant, post(handlers::pay)),
        ("POST", "/{provider}/{method}/pay/recurrent") => (Merchant, post(handlers::pay_recurrent)),
        ("POST", "/{provider}/{method}/confirm") => (Merchant, post(handlers::confirm)),
        ("POST", "/{provider}/{method}/refund") => (Merchant, post(handlers::refund)),
        ("GET", "/{provider}/check") => (Merchant, get(handlers::check)),
        ("GET", "/{provider}/status") => (Merchant, get(handlers::status)),
        ("POST", "/{provider}/session/open") => (Merchant, post(handlers::session_open)),
        ("POST", "/{provider}/session/confirm") => (Merchant, post(handlers::session_confirm)),
        ("POST", "/{provider}/session/void") => (Merchant, post(handlers::session_void)),
        ("POST", "/{provider}/session/refund") => (Merchant, post(handlers::session_refund)),
        ("POST", "/{provider}/session/check") => (Merchant, post(handlers::session_check)),
        ("GET", "/{provider}/callback") => (Public, get(handlers::callback)),
        ("POST", "/{provider}/callback") => (Public, post(handlers::callback)),
        ("GET", "/documentation/openapi.json") => (Public, get(openapi::serve)),
        (method, path) => panic!("route_table() lists {method} {path} but no handler serves it"),
    }
}

/// The table's routes for one kind of caller (two entries on one path merge into one route).
fn routes(access: Access) -> Router<App> {
    route_table()
        .iter()
        .fold(Router::new(), |router, (method, path)| {
            match handler(method, path) {
                (kind, method_router) if kind == access => router.route(path, method_router),
                _ => router,
            }
        })
}

/// Every route of the API. Merchant routes sit behind the API key (when configured); the
/// callback, the providers' hosted pages and the OpenAPI document do not.
pub fn router(app: App, config: ApiConfig) -> Router {
    let merchant = merchant_routes().route_layer(axum::middleware::from_fn_with_state(
        config.api_key.clone(),
        auth::require_api_key,
    ));
    let mut router = merchant
        .merge(routes(Access::Public))
        .with_state(app.clone());
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
    routes(Access::Merchant)
}
