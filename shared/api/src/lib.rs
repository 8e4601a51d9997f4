//! The HTTP face of the PGM: the axum routers that `pgm-local` serves (every route) and that
//! each Lambda hands to `lambda_http` (one operation group). Handlers are thin: parse, call the
//! use case, map the answer.

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

    /// The group's merchant routes (behind the API key), without state; `None` for a group
    /// that has none (axum refuses a route layer on a router without routes).
    fn merchant_routes(self) -> Option<Router<App>> {
        let routes = Router::new();
        Some(match self {
            Operation::Pay => routes
                .route("/{provider}/{method}/pay", post(handlers::pay))
                .route(
                    "/{provider}/{method}/pay/recurrent",
                    post(handlers::pay_recurrent),
                ),
            Operation::Confirm => {
                routes.route("/{provider}/{method}/confirm", post(handlers::confirm))
            }
            Operation::Refund => {
                routes.route("/{provider}/{method}/refund", post(handlers::refund))
            }
            Operation::Callback => return None,
            Operation::Check => routes.route("/{provider}/check", get(handlers::check)),
            Operation::Status => routes.route("/{provider}/status", get(handlers::status)),
            Operation::Session => routes
                .route("/{provider}/session/open", post(handlers::session_open))
                .route(
                    "/{provider}/session/confirm",
                    post(handlers::session_confirm),
                )
                .route("/{provider}/session/void", post(handlers::session_void))
                .route("/{provider}/session/refund", post(handlers::session_refund))
                .route("/{provider}/session/check", post(handlers::session_check)),
        })
    }

    /// The group's public routes: no API key (providers, browsers, documentation readers).
    fn public_routes(self, app: &App) -> Router {
        match self {
            Operation::Callback => {
                let mut routes = Router::new()
                    .route(
                        "/{provider}/callback",
                        get(handlers::callback).post(handlers::callback),
                    )
                    .with_state(app.clone());
                for provider in app.providers.iter() {
                    if let Some(hosted) = provider.hosted_routes() {
                        routes = routes.merge(hosted);
                    }
                }
                routes
            }
            Operation::Status => {
                Router::new().route("/documentation/openapi.json", get(openapi::serve))
            }
            _ => Router::new(),
        }
    }
}

/// The routes of the given operation groups, with the API key on merchant routes and
/// problem+json answers for unknown routes and methods.
pub fn operations_router(app: App, config: ApiConfig, operations: &[Operation]) -> Router {
    let mut router = Router::new();
    for operation in operations {
        if let Some(merchant) = operation.merchant_routes() {
            let merchant = merchant
                .route_layer(axum::middleware::from_fn_with_state(
                    config.api_key.clone(),
                    auth::require_api_key,
                ))
                .with_state(app.clone());
            router = router.merge(merchant);
        }
        router = router.merge(operation.public_routes(&app));
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

/// Merchant routes of every group, without state.
pub fn merchant_routes() -> Router<App> {
    Operation::ALL
        .iter()
        .filter_map(|operation| operation.merchant_routes())
        .fold(Router::new(), Router::merge)
}
