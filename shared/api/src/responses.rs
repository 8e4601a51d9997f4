//! The error answers of the API document: each is an `application/problem+json` with the
//! status it is sent with and the `code`s it may carry, listed once under
//! `components.responses`. Handlers name a set of them (see `problem_sets!`) in their
//! `responses(...)`.

use std::collections::BTreeMap;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::{Content, Ref, RefOr};
use utoipa::ToSchema;

use crate::reply::PROBLEM_JSON;

/// A problem answer: `Problem` with its status and codes pinned.
fn problem_response(status: u16, codes: &[&str], description: &str) -> ResponseBuilder {
    let pinned = ObjectBuilder::new()
        .property(
            "status",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .enum_values(Some([status])),
        )
        .property(
            "code",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(codes.iter().copied())),
        );
    let schema: Schema = AllOfBuilder::new()
        .item(Ref::from_schema_name(pgm_app::Problem::name()))
        .item(pinned)
        .into();
    let codes = codes
        .iter()
        .map(|code| format!("`{code}`"))
        .collect::<Vec<_>>()
        .join(", ");
    ResponseBuilder::new()
        .description(format!("{description} Codes: {codes}."))
        .content(PROBLEM_JSON, Content::new(Some(schema)))
}

fn header(description: &str, schema: ObjectBuilder) -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

/// `Retry-After` on the answers that ask the client to come back.
fn with_retry_after(response: ResponseBuilder) -> ResponseBuilder {
    response.header(
        "Retry-After",
        header(
            "Seconds to wait before retrying (with REQUEST_IN_PROGRESS).",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[0-9]+$")),
        ),
    )
}

/// A problem answer of the document: the status it is sent with.
pub trait Problem: for<'r> utoipa::ToResponse<'r> {
    const STATUS: u16;
}

/// Sets of problem answers, one per kind of route, for the handlers' `responses(...)`.
macro_rules! problem_sets {
    ($($(#[doc = $doc:literal])* $set:ident = [$($problem:ident),+];)+) => {
        $(
            $(#[doc = $doc])*
            pub struct $set;

            impl utoipa::IntoResponses for $set {
                fn responses() -> BTreeMap<String, RefOr<Response>> {
                    // References to `components.responses`, named as `problem_responses!` names
                    // them.
                    BTreeMap::from([$((
                        <$problem as Problem>::STATUS.to_string(),
                        RefOr::Ref(Ref::from_response_name(stringify!($problem))),
                    )),+])
                }
            }
        )+
    };
}

problem_sets! {
    /// pay and pay/recurrent.
    PayProblems = [BadPay, Unauthorized, NotFoundWithMethod, RequestTimeout, PayConflict,
        PayloadTooLarge, UnsupportedMediaType, NotSupported, Unavailable];
    /// confirm and refund.
    AmendProblems = [BadBody, Unauthorized, NotFoundWithMethod, RequestTimeout, AmendConflict,
        PayloadTooLarge, UnsupportedMediaType, AmountExceedsRemaining, NotSupported,
        ProviderUnavailable, Unavailable];
    /// check (status: without ProviderUnavailable, see `StatusProblems`).
    CheckProblems = [BadQuery, Unauthorized, NotFound, ProviderMismatch, NotSupported,
        ProviderUnavailable, Unavailable];
    /// status: a provider that cannot be reached leaves the stored status as the answer.
    StatusProblems = [BadQuery, Unauthorized, NotFound, ProviderMismatch, NotSupported,
        Unavailable];
    /// session/open.
    SessionOpenProblems = [BadPay, Unauthorized, NotFound, RequestTimeout, PayConflict,
        PayloadTooLarge, UnsupportedMediaType, NotSupported, ProviderUnavailable, Unavailable];
    /// session/confirm and session/refund.
    SessionAmendProblems = [BadBody, Unauthorized, NotFound, RequestTimeout, AmendConflict,
        PayloadTooLarge, UnsupportedMediaType, AmountExceedsRemaining, NotSupported,
        ProviderUnavailable, Unavailable];
    /// session/void: no amount.
    SessionVoidProblems = [BadBody, Unauthorized, NotFound, RequestTimeout, AmendConflict,
        PayloadTooLarge, UnsupportedMediaType, NotSupported, ProviderUnavailable, Unavailable];
    /// session/check: changes nothing the merchant sent, so no conflict.
    SessionCheckProblems = [BadBody, Unauthorized, NotFound, RequestTimeout, PayloadTooLarge,
        UnsupportedMediaType, NotSupported, ProviderUnavailable, Unavailable];
    /// The provider callbacks.
    CallbackProblems = [BadCallback, InvalidSignature, NotFound, ProviderMismatch,
        PayloadTooLarge, NotSupported, ProviderUnavailable, Unavailable];
}

macro_rules! problem_responses {
    ($($(#[doc = $doc:literal])* $name:ident = $status:literal [$($code:literal),+] $(.$extra:ident())?;)+) => {
        $(
            $(#[doc = $doc])*
            pub struct $name;

            impl Problem for $name {
                const STATUS: u16 = $status;
            }

            impl<'r> utoipa::ToResponse<'r> for $name {
                fn response() -> (&'r str, RefOr<Response>) {
                    let description = concat!($($doc),*).trim();
                    let response = problem_response($status, &[$($code),+], description);
                    $(let response = $extra(response);)?
                    (stringify!($name), response.build().into())
                }
            }
        )+

        /// Every problem answer, for the document's `components.responses`.
        pub fn all() -> Vec<(&'static str, RefOr<Response>)> {
            vec![$(<$name as utoipa::ToResponse>::response()),+]
        }
    };
}

problem_responses! {
    /// The request is invalid: the body is not a JSON object (MALFORMED_JSON), a field is
    /// missing or wrong (VALIDATION_FAILED, with `field` when one is at fault; also an
    /// `Idempotency-Key` that is not 1-128 visible ASCII characters, or a key given twice in
    /// one object), or a path segment cannot be decoded (INVALID_PATH).
    BadBody = 400 ["VALIDATION_FAILED", "MALFORMED_JSON", "INVALID_PATH"];
    /// The request is invalid (as BadBody), or the provider needs a field the request lacks
    /// (VALIDATION_FAILED; final for the attempt and replayed to duplicates, a corrected
    /// request starts a new attempt).
    BadPay = 400 ["VALIDATION_FAILED", "MALFORMED_JSON", "INVALID_PATH"];
    /// Neither shopTransactionId nor paymentId is given, one is empty or malformed, or the
    /// path cannot be decoded.
    BadQuery = 400 ["VALIDATION_FAILED", "INVALID_PATH"];
    /// The callback is signed correctly but malformed (INVALID_CALLBACK), or names nothing
    /// usable.
    BadCallback = 400 ["INVALID_CALLBACK", "VALIDATION_FAILED", "INVALID_PATH"];
    /// `Authorization: Bearer <PGM_API_KEY>` is missing or wrong.
    Unauthorized = 401 ["UNAUTHORIZED"] .with_www_authenticate();
    /// The provider's signature is missing, wrong or outside the tolerance window. Nothing
    /// changed.
    InvalidSignature = 401 ["INVALID_SIGNATURE"];
    /// Unknown or disabled provider, a method the provider does not offer, or no such
    /// payment.
    NotFoundWithMethod = 404 ["PROVIDER_NOT_FOUND", "METHOD_NOT_FOUND", "PAYMENT_NOT_FOUND"];
    /// Unknown or disabled provider, or no such payment.
    NotFound = 404 ["PROVIDER_NOT_FOUND", "PAYMENT_NOT_FOUND"];
    /// No route has this path.
    RouteNotFound = 404 ["ROUTE_NOT_FOUND"];
    /// The route does not take this HTTP method.
    MethodNotAllowed = 405 ["METHOD_NOT_ALLOWED"];
    /// The body did not arrive in full in time.
    RequestTimeout = 408 ["REQUEST_TIMEOUT"];
    /// The same shopTransactionID is still being paid (REQUEST_IN_PROGRESS, retry after
    /// `Retry-After`), or was paid with another body (IDEMPOTENCY_CONFLICT).
    PayConflict = 409 ["REQUEST_IN_PROGRESS", "IDEMPOTENCY_CONFLICT"] .with_retry_after();
    /// The payment's state does not allow it, the Idempotency-Key was used with another
    /// request or is still running, an earlier attempt of this refund may have reached a
    /// provider that cannot deduplicate refunds, or the payment belongs to another provider.
    AmendConflict = 409 [
        "INVALID_PAYMENT_STATE",
        "IDEMPOTENCY_CONFLICT",
        "REQUEST_IN_PROGRESS",
        "REFUND_OUTCOME_UNKNOWN",
        "PROVIDER_MISMATCH"
    ] .with_retry_after();
    /// The payment was made with another provider: use its routes.
    ProviderMismatch = 409 ["PROVIDER_MISMATCH"];
    /// The body is larger than 64 KiB (callbacks: 256 KiB).
    PayloadTooLarge = 413 ["PAYLOAD_TOO_LARGE"];
    /// The body is not `application/json` (or a `+json` type).
    UnsupportedMediaType = 415 ["UNSUPPORTED_MEDIA_TYPE"];
    /// The amount is more than what remains to be captured or refunded.
    AmountExceedsRemaining = 422 ["AMOUNT_EXCEEDS_REMAINING"];
    /// The provider does not offer this operation.
    NotSupported = 501 ["NOT_SUPPORTED_BY_PROVIDER"];
    /// The provider did not answer, or answered with an error; nothing changed.
    ProviderUnavailable = 502 ["PROVIDER_UNAVAILABLE"];
    /// The payment store is unavailable, or too many requests changed this payment at once
    /// (CONTENTION): retry.
    Unavailable = 503 ["STORE_UNAVAILABLE", "CONTENTION"];
}

fn with_www_authenticate(response: ResponseBuilder) -> ResponseBuilder {
    response.header(
        "WWW-Authenticate",
        header(
            "Always `Bearer`.",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["Bearer"])),
        ),
    )
}
