//! Turning SDK failures into [`StoreError`]s. The outcomes that mean something to the domain
//! (a failed condition, a cancelled transaction) are matched on the SDK's typed errors where
//! they are handled; everything else (throttling, timeouts, network, a missing table) is
//! `Unavailable`: the request may be retried later.

use crate::StoreError;
use aws_sdk_dynamodb::error::{BuildError, DisplayErrorContext, SdkError};

pub fn unavailable<E, R>(operation: &str, err: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    // The SDK's error text names the operation's failure, never the request or credentials.
    StoreError::Unavailable(format!(
        "DynamoDB {operation}: {}",
        DisplayErrorContext(&err)
    ))
}

/// A builder left a required field unset: a bug in this module, reported, not panicked on.
pub fn built<T>(result: Result<T, BuildError>) -> Result<T, StoreError> {
    result.map_err(|e| StoreError::Unavailable(format!("DynamoDB request not built: {e}")))
}
