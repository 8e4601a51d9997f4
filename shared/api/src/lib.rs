//! The HTTP face of the PGM: the axum routers that `pgm-local` serves (every route) and that
//! each Lambda hands to `lambda_http` (one operation group). Handlers are thin: parse, call the use case, map the answer.

mod auth;
mod extract;
mod handlers;
mod openapi;
mod reply;
mod strict_json;

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
        ("POST", "/{provider}/session/confirm") => {
            (Merchant, handlers::session_action("session/confirm"))
        }
        ("POST", "/{provider}/session/void") => {
            (Merchant, handlers::session_action("session/void"))
        }
        ("POST", "/{provider}/session/refund") => {
            (Merchant, handlers::session_action("session/refund"))
        }
        ("POST", "/{provider}/session/check") => {
            (Merchant, handlers::session_action("session/check"))
        }
        ("GET", "/{provider}/callback") => (Public, get(handlers::callback)),
        ("POST", "/{provider}/callback") => (Public, post(handlers::callback)),
        ("GET", "/documentation/openapi.json") => (Public, get(openapi::serve)),
        (method, path) => panic!("route_table() lists {method} {path} but no handler serves it"),
    }
}

/// The routes one deployable serves: in AWS each group is one Lambda function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `POST /{provider}/{method}/pay` and `/pay/recurrent`.
    Pay,
    /// `POST /{provider}/{method}/confirm`.
    Confirm,
    /// `POST /{provider}/{method}/refund`.
    Refund,
    /// `GET|POST /{provider}/callback` and the providers' hosted pages (the sandbox's 3DS page
    /// and books): what providers and buyers' browsers reach, without the merchant API key.
    Callback,
    /// `GET /{provider}/check`.
    Check,
    /// `GET /{provider}/status` and the OpenAPI document.
    Status,
    /// `POST /{provider}/session/open|confirm|void|refund|check`.
    Session,
}

impl Operation {
    pub const ALL: [Operation; 7] = [
        Operation::Pay,
        Operation::Confirm,
        Operation::Refund,
        Operation::Callback,
        Operation::Check,
        Operation::Status,
        Operation::Session,
    ];

    /// The function's name (`functions/<name>`, binary `pgm-<name>`).
    pub fn name(self) -> &'static str {
        match self {
            Operation::Pay => "pay",
            Operation::Confirm => "confirm",
            Operation::Refund => "refund",
            Operation::Callback => "callback",
            Operation::Check => "check",
            Operation::Status => "status",
            Operation::Session => "session",
        }
    }

    /// The group a route belongs to (the Lambda function that serves it).
    fn serves(self, path: &str) -> bool {
        let group = match path {
            "/{provider}/{method}/pay" | "/{provider}/{method}/pay/recurrent" => Operation::Pay,
            "/{provider}/{method}/confirm" => Operation::Confirm,
            "/{provider}/{method}/refund" => Operation::Refund,
            "/{provider}/callback" => Operation::Callback,
            "/{provider}/check" => Operation::Check,
            "/{provider}/status" | "/documentation/openapi.json" => Operation::Status,
            _ if path.starts_with("/{provider}/session/") => Operation::Session,
            other => panic!("route {other} belongs to no operation group"),
        };
        group == self
    }
}

/// The table's routes of `operation` for one kind of caller (two entries on one path merge
/// into one route); `None` when there are none (axum refuses a layer on a router without
/// routes).
fn routes(access: Access, operation: Operation) -> Option<Router<App>> {
    let mut any = false;
    let router = route_table()
        .iter()
        .filter(|(_, path)| operation.serves(path))
        .fold(Router::new(), |router, (method, path)| {
            match handler(method, path) {
                (kind, method_router) if kind == access => {
                    any = true;
                    router.route(path, method_router)
                }
                _ => router,
            }
        });
    any.then_some(router)
}

/// The routes of the given operation groups, with the API key on merchant routes and
/// problem+json answers for unknown routes and methods. The callback group also serves the
/// providers' hosted pages (the sandbox's 3DS page and books).
pub fn operations_router(app: App, config: ApiConfig, operations: &[Operation]) -> Router {
    let mut router = Router::new();
    let merchant_routes_served = operations
        .iter()
        .any(|&op| routes(Access::Merchant, op).is_some());
    for &operation in operations {
        if let Some(merchant) = routes(Access::Merchant, operation) {
            let merchant = merchant.route_layer(axum::middleware::from_fn_with_state(
                config.api_key.clone(),
                auth::require_api_key,
            ));
            router = router.merge(merchant.with_state(app.clone()));
        }
        if let Some(public) = routes(Access::Public, operation) {
            router = router.merge(public.with_state(app.clone()));
        }
        if operation == Operation::Callback {
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
    }
    router
        .fallback(reply::route_not_found)
        .method_not_allowed_fallback(reply::method_not_allowed)
}

/// The router of one Lambda function: that operation group's routes only.
pub fn operation_router(app: App, config: ApiConfig, operation: Operation) -> Router {
    operations_router(app, config, &[operation])
}

/// Every route of the API (`pgm-local`). Merchant routes sit behind the API key (when
/// configured); the callback, the providers' hosted pages and the OpenAPI document do not.
pub fn router(app: App, config: ApiConfig) -> Router {
    operations_router(app, config, &Operation::ALL)
}
