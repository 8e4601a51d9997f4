//! The OpenAPI 3.1 document, generated from the code: the operations from the route table's
//! handlers (`#[utoipa::path]`), the schemas from the wire types, the problem answers from
//! `responses`, the providers' hosted pages from the providers that serve them, and the
//! notification the merchant receives as a webhook. Built when asked for, never at start-up.

use crate::responses;
use crate::routes::ROUTES;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use pgm_app::App;
use pgm_core::schema::{Amount, Id};
use pgm_core::wire::PayRequest;
use pgm_core::NotificationEvent;
use serde_json::{json, Value};
use utoipa::openapi::path::Paths;
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi, Ref, RefOr};
use utoipa::{IntoParams, OpenApi as _, PartialSchema, ToSchema};

/// The optional `Idempotency-Key` header of confirm, refund and the session changes.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)] // documents the header that `extract::idempotency_key` reads
pub struct IdempotencyKeyHeader {
    /// The first request with a key does the work; a retry with the same key and body gets
    /// the stored answer (`Idempotent-Replayed: true`), with another body a 409
    /// IDEMPOTENCY_CONFLICT, while the first still runs a 409 REQUEST_IN_PROGRESS. Kept at
    /// least 24 h.
    #[param(rename = "Idempotency-Key", value_type = Option<Id>)]
    pub key: Option<String>,
}

/// The acknowledgement the PGM gives a provider whose callback it accepted (the providers that
/// expect another answer get theirs).
pub struct CallbackAck;

impl PartialSchema for CallbackAck {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .property(
                "received",
                ObjectBuilder::new()
                    .schema_type(Type::Boolean)
                    .enum_values(Some([true])),
            )
            .required("received")
            .description(Some(
                "The acknowledgement the PGM gives a provider whose callback it accepted.",
            ))
            .into()
    }
}

impl ToSchema for CallbackAck {}

/// The body of `/pay/recurrent`: [`PayRequest`] with `recurrenceDetails` required and an
/// amount that may be zero (card verification for a first instalment). Derived from
/// `PayRequest`'s own schema, so the two cannot drift apart.
pub struct RecurrentPayRequest;

impl PartialSchema for RecurrentPayRequest {
    fn schema() -> RefOr<Schema> {
        let mut schema = PayRequest::schema();
        if let RefOr::T(Schema::Object(object)) = &mut schema {
            object.properties.insert(
                "amount".into(),
                RefOr::Ref(Ref::from_schema_name(Amount::name())),
            );
            object.required.push("recurrenceDetails".into());
            object.description = Some(
                "The pay body with `recurrenceDetails` required; the amount may be zero (card \
                 verification for a first instalment)."
                    .into(),
            );
        }
        schema
    }
}

impl ToSchema for RecurrentPayRequest {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((PayRequest::name().into(), PayRequest::schema()));
        PayRequest::schemas(schemas);
        schemas.push((Amount::name().into(), Amount::schema()));
    }
}

/// What `/documentation/openapi.json` answers.
pub struct OpenApiDocument;

impl PartialSchema for OpenApiDocument {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .property(
                "openapi",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(r"^3\.1\.[0-9]+$")),
            )
            .required("openapi")
            .required("info")
            .required("paths")
            .into()
    }
}

impl ToSchema for OpenApiDocument {}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "PGM — Payment Gateway Manager",
        description = "One provider-agnostic API in front of many payment providers (the v2 wire \
shapes; fields marked ext are additions, optional for callers).\n\nAmounts are decimal strings in \
major units (\"5.00\"), never numbers. Every error the PGM itself produces is an RFC 9457 \
`application/problem+json` with a stable upper-case `code`; a provider's decline is not an error \
but a 200 with `result: KO`. A path not listed here answers 404 ROUTE_NOT_FOUND and a method not \
listed for a path 405 METHOD_NOT_ALLOWED (see the RouteNotFound and MethodNotAllowed responses). \
Every GET also answers HEAD, without a body.\n\nMerchant routes need `Authorization: Bearer \
<PGM_API_KEY>` when PGM_API_KEY is set (in AWS the API Gateway authorizer does this job); \
provider callbacks, the provider's hosted pages and this document do not.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    tags(
        (name = "payments", description = "Pay, confirm, refund, check and status."),
        (name = "sessions", description = "Transaction sessions, named by their sessionToken."),
        (name = "provider callbacks", description = "Webhooks the providers call."),
        (name = "documentation"),
        (name = "notifications", description = "What the PGM sends the merchant.")
    )
)]
struct Base;

/// Notification to the merchant
///
/// After a callback, a check, a capture, a refund or a void changes what is known of a
/// payment, the PGM POSTs this to PAYMENT_CALLBACK_URL. Delivery is at least once: anything but
/// a 2xx within 8 s is retried with growing delays, then parked in a dead-letter queue from
/// which it can be redriven. Deduplicate on `eventId`.
#[utoipa::path(post, path = "paymentNotification", operation_id = "paymentNotification",
    tag = "notifications", request_body = NotificationEvent,
    params(
        ("PGM-Signature" = Option<String>, Header, pattern = "^t=[0-9]+,v1=[0-9a-f]{64}$",
            description = "Present when PAYMENT_CALLBACK_SECRET is set: `t=<unix seconds>,v1=<hex \
            HMAC-SHA256(secret, \"<t>.<raw body>\")>`. Verify it over the raw body and refuse old \
            timestamps (e.g. more than 300 s away)."),
        ("PGM-Event-Id" = String, Header, description = "The body's `eventId`.")),
    responses((status = "2XX", description = "Delivered."),
        (status = "default", description = "Not delivered: retried later.")))]
#[allow(dead_code)] // documents a request the PGM sends; nothing serves it
fn payment_notification() {}

/// The answers' schemas (requests stay open: unknown fields are ignored).
const CLOSED_ANSWERS: &[&str] = &[
    "PayResponse",
    "ConfirmResponse",
    "RefundResponse",
    "StatusResponse",
    "SessionOpenResponse",
    "SessionResponse",
    "Problem",
];

/// Adds the operation of a handler's `#[utoipa::path]` to `paths`, and the schemas it uses.
pub(crate) fn add_route<P: utoipa::Path + utoipa::__dev::SchemaReferences>(
    paths: &mut Paths,
    schemas: &mut Vec<(String, RefOr<Schema>)>,
) {
    P::schemas(schemas);
    paths.add_path_operation(P::path(), P::methods(), P::operation());
}

/// The serde aliases of the request types (`#[serde(alias)]`), which utoipa does not see:
/// (schema, field, alias). Each alias is documented as a deprecated property, and giving both
/// spellings is refused, as serde refuses a duplicate field.
const ALIASES: &[(&str, &str, &str)] = &[
    ("PayRequest", "shopTransactionID", "shopTransactionId"),
    (
        "RecurrentPayRequest",
        "shopTransactionID",
        "shopTransactionId",
    ),
    (
        "SessionOpenRequest",
        "shopTransactionID",
        "shopTransactionId",
    ),
    (
        "ConfirmRefundRequest",
        "shopTransactionID",
        "shopTransactionId",
    ),
    ("ConfirmRefundRequest", "paymentID", "paymentId"),
    (
        "RecurrenceDetails",
        "previousPaymentID",
        "previousPaymentId",
    ),
];

/// Requests that need at least one of several optional fields, as a string (validation's
/// `payment_ref`): confirm and refund name the payment one way or the other.
const ONE_OF_REQUIRED: &[(&str, &[&str])] = &[(
    "ConfirmRefundRequest",
    &[
        "shopTransactionID",
        "shopTransactionId",
        "paymentID",
        "paymentId",
    ],
)];

fn document_aliases(schemas: &mut serde_json::Map<String, Value>) {
    for (schema, field, alias) in ALIASES {
        let Some(schema) = schemas.get_mut(*schema) else {
            continue;
        };
        let mut property = schema["properties"][field].clone();
        property["deprecated"] = true.into();
        property["description"] = format!("Alias of `{field}`.").into();
        schema["properties"][alias] = property;
        let required = schema.get_mut("required").and_then(Value::as_array_mut);
        let was_required = required.is_some_and(|required| {
            let before = required.len();
            required.retain(|name| name != field);
            before != required.len()
        });
        let rule = if was_required {
            json!({"oneOf": [
                {"required": [field], "not": {"required": [alias]}},
                {"required": [alias], "not": {"required": [field]}},
            ]})
        } else {
            json!({"not": {"required": [field, alias]}})
        };
        all_of(schema).push(rule);
    }
    for (schema, fields) in ONE_OF_REQUIRED {
        if let Some(schema) = schemas.get_mut(*schema) {
            let any_of: Vec<Value> = fields
                .iter()
                .map(|f| json!({"required": [f], "properties": {*f: {"type": "string"}}}))
                .collect();
            all_of(schema).push(json!({ "anyOf": any_of }));
        }
    }
}

fn all_of(schema: &mut Value) -> &mut Vec<Value> {
    if !schema["allOf"].is_array() {
        schema["allOf"] = json!([]);
    }
    schema["allOf"].as_array_mut().expect("made an array above")
}

/// The whole document as JSON: [`openapi`] with what utoipa cannot say (the serde aliases).
pub fn document(app: &App) -> Value {
    let mut doc = serde_json::to_value(openapi(app)).expect("the document serialises");
    if let Some(schemas) = doc["components"]["schemas"].as_object_mut() {
        document_aliases(schemas);
    }
    doc
}

/// The table's routes and the hosted pages of `app`'s providers, as utoipa builds them.
fn openapi(app: &App) -> OpenApi {
    let mut doc = Base::openapi();
    // The schemas are JSON Schema 2020-12, as OpenAPI 3.1 allows: say so, for validators.
    doc.json_schema_dialect = Some("https://json-schema.org/draft/2020-12/schema".into());
    let mut paths = Paths::new();
    let mut schemas = Vec::new();
    for route in ROUTES {
        (route.document)(&mut paths, &mut schemas);
    }
    let mut webhooks = Paths::new();
    add_route::<__path_payment_notification>(&mut webhooks, &mut schemas);
    doc.paths = paths;
    doc.webhooks = Some(webhooks);

    // Problem answers refer to the Problem schema by name only (see `responses`).
    schemas.push((pgm_app::Problem::name().into(), pgm_app::Problem::schema()));
    let components = doc.components.get_or_insert_with(Default::default);
    for (name, schema) in schemas {
        components.schemas.insert(name, schema);
    }
    // What the PGM answers has exactly the fields documented: a client may rely on that.
    for name in CLOSED_ANSWERS {
        if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(*name) {
            object.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
        }
    }
    components.responses.extend(
        responses::all()
            .into_iter()
            .map(|(name, response)| (name.to_owned(), response)),
    );
    components.add_security_scheme(
        "bearerAuth",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "PGM_API_KEY. When no key is configured (local runs without PGM_API_KEY, or \
                     AWS where the API Gateway authorizer checks callers) the PGM does not check it.",
                ))
                .build(),
        ),
    );
    for provider in app.providers.iter() {
        if let Some(hosted) = provider.hosted_document() {
            doc.merge(hosted);
        }
    }
    doc
}

/// This document
///
/// The OpenAPI 3.1 document of every route.
#[utoipa::path(get, path = "/documentation/openapi.json", operation_id = "openapi",
    tag = "documentation", security(()),
    responses((status = 200, body = OpenApiDocument, description = "This document.")))]
pub async fn serve(State(app): State<App>) -> impl IntoResponse {
    // Built per request: tools fetch it once, it is not on a payment's path, and a cache would
    // have to follow each App's providers (the hosted pages it documents).
    (
        [(header::CONTENT_TYPE, "application/json")],
        document(&app).to_string(),
    )
}
