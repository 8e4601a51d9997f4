//! The one table of routes. Each row names what the route does, the Lambda function that
//! serves it, who may call it and its handler; the handler's `#[utoipa::path]` gives the
//! method and path. The axum routers (every route for `pgm-local`, one function's routes for
//! each Lambda) and the OpenAPI document are all built from this table, so a route cannot be
//! served without being documented, or documented without being served.

use crate::{document, handlers};
use axum::routing::{MethodFilter, MethodRouter};
use axum::Router;
use pgm_app::App;
use pgm_providers::Operation;
use utoipa::openapi::path::{HttpMethod, Paths};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;

/// A deployable: in AWS each is one Lambda function (`functions/<name>`, binary
/// `pgm-<name>`) that serves its rows of [`ROUTES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Pay,
    Confirm,
    Refund,
    /// What providers and buyers' browsers reach, without the merchant API key: the callback
    /// and the providers' hosted pages (the sandbox's 3DS page and books).
    Callback,
    Check,
    Status,
    Session,
}

impl Function {
    pub const ALL: [Function; 7] = [
        Function::Pay,
        Function::Confirm,
        Function::Refund,
        Function::Callback,
        Function::Check,
        Function::Status,
        Function::Session,
    ];

    /// The function's name (`functions/<name>`, binary `pgm-<name>`).
    pub fn name(self) -> &'static str {
        match self {
            Function::Pay => "pay",
            Function::Confirm => "confirm",
            Function::Refund => "refund",
            Function::Callback => "callback",
            Function::Check => "check",
            Function::Status => "status",
            Function::Session => "session",
        }
    }
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// The merchant's backend: behind the API key (when configured).
    Merchant,
    /// Providers (callbacks) and anyone (the API document).
    Public,
}

type SchemaList = Vec<(String, RefOr<Schema>)>;

/// One row of the table.
pub struct Route {
    /// What the route does; `None` for the API document itself.
    pub operation: Option<Operation>,
    /// The Lambda function that serves it.
    pub function: Function,
    pub(crate) access: Access,
    /// From the handler's `#[utoipa::path]`.
    pub path: fn() -> String,
    methods: fn() -> Vec<HttpMethod>,
    /// Adds the route's operation to the document, and the schemas it refers to.
    pub(crate) document: fn(&mut Paths, &mut SchemaList),
    handler: fn(MethodFilter) -> MethodRouter<App>,
}

macro_rules! route {
    ($operation:expr, $function:ident, $access:ident, $module:ident :: $handler:ident) => {
        pastey::paste! {
            Route {
                operation: $operation,
                function: Function::$function,
                access: Access::$access,
                path: <$module::[<__path_ $handler>] as utoipa::Path>::path,
                methods: <$module::[<__path_ $handler>] as utoipa::Path>::methods,
                document: document::add_route::<$module::[<__path_ $handler>]>,
                handler: |filter| axum::routing::on(filter, $module::$handler),
            }
        }
    };
}

/// Every route the API serves (the providers' hosted pages are the providers' own: see
/// `Provider::hosted_routes`). A GET also answers HEAD.
pub static ROUTES: &[Route] = &[
    route!(Some(Operation::Pay), Pay, Merchant, handlers::pay),
    route!(
        Some(Operation::PayRecurrent),
        Pay,
        Merchant,
        handlers::pay_recurrent
    ),
    route!(
        Some(Operation::Confirm),
        Confirm,
        Merchant,
        handlers::confirm
    ),
    route!(Some(Operation::Refund), Refund, Merchant, handlers::refund),
    route!(Some(Operation::Check), Check, Merchant, handlers::check),
    route!(Some(Operation::Status), Status, Merchant, handlers::status),
    route!(
        Some(Operation::SessionOpen),
        Session,
        Merchant,
        handlers::session_open
    ),
    route!(
        Some(Operation::SessionConfirm),
        Session,
        Merchant,
        handlers::session_confirm
    ),
    route!(
        Some(Operation::SessionVoid),
        Session,
        Merchant,
        handlers::session_void
    ),
    route!(
        Some(Operation::SessionRefund),
        Session,
        Merchant,
        handlers::session_refund
    ),
    route!(
        Some(Operation::SessionCheck),
        Session,
        Merchant,
        handlers::session_check
    ),
    route!(
        Some(Operation::Callback),
        Callback,
        Public,
        handlers::callback_get
    ),
    route!(
        Some(Operation::Callback),
        Callback,
        Public,
        handlers::callback_post
    ),
    route!(None, Status, Public, document::serve),
];

impl Route {
    /// `(method, path)` pairs, methods upper case, as API Gateway's route keys write them.
    pub fn keys(&self) -> Vec<(&'static str, String)> {
        let path = (self.path)();
        (self.methods)()
            .iter()
            .map(|method| (method_name(method), path.clone()))
            .collect()
    }

    /// Reached without the merchant's key (callbacks, the API document).
    pub fn is_public(&self) -> bool {
        self.access == Access::Public
    }
}

fn method_name(method: &HttpMethod) -> &'static str {
    match method {
        HttpMethod::Get => "GET",
        HttpMethod::Post => "POST",
        HttpMethod::Put => "PUT",
        HttpMethod::Delete => "DELETE",
        HttpMethod::Options => "OPTIONS",
        HttpMethod::Head => "HEAD",
        HttpMethod::Patch => "PATCH",
        HttpMethod::Trace => "TRACE",
    }
}

fn method_filter(method: &HttpMethod) -> MethodFilter {
    match method {
        HttpMethod::Get => MethodFilter::GET,
        HttpMethod::Post => MethodFilter::POST,
        HttpMethod::Put => MethodFilter::PUT,
        HttpMethod::Delete => MethodFilter::DELETE,
        HttpMethod::Options => MethodFilter::OPTIONS,
        HttpMethod::Head => MethodFilter::HEAD,
        HttpMethod::Patch => MethodFilter::PATCH,
        HttpMethod::Trace => MethodFilter::TRACE,
    }
}

/// The rows of `functions` for one kind of caller (rows on one path merge into one route);
/// `None` when there are none (axum refuses a layer on a router without routes).
pub(crate) fn router(access: Access, functions: &[Function]) -> Option<Router<App>> {
    ROUTES
        .iter()
        .filter(|route| route.access == access && functions.contains(&route.function))
        .fold(None, |router: Option<Router<App>>, route| {
            let path = (route.path)();
            let router = (route.methods)()
                .iter()
                .fold(router.unwrap_or_default(), |router, method| {
                    router.route(&path, (route.handler)(method_filter(method)))
                });
            Some(router)
        })
}
