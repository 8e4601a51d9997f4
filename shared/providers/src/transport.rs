//! The one way adapters talk HTTP to a provider, so that every adapter classifies failures the
//! same way: nothing that happens after a request may have left is a definite "no".

use crate::ProviderError;
use bytes::Bytes;
use reqwest::StatusCode;
use serde::de::DeserializeOwned;

/// Sends `request` and reads the whole answer. A transport failure, including an answer cut
/// off mid-way, is `Unavailable`: the provider may have acted on the request.
pub async fn exchange(
    request: reqwest::RequestBuilder,
) -> Result<(StatusCode, Bytes), ProviderError> {
    let response = request
        .send()
        .await
        .map_err(|e| ProviderError::transport(&e))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| ProviderError::transport(&e))?;
    Ok((status, body))
}

/// [`exchange`], then: a non-2xx answer goes to `classify`; a 2xx answer is read as JSON, and
/// one that cannot be read is `Unavailable` (the provider answered, but we cannot tell what).
pub async fn exchange_json<T: DeserializeOwned>(
    request: reqwest::RequestBuilder,
    provider: &str,
    classify: impl FnOnce(StatusCode, &[u8]) -> ProviderError,
) -> Result<T, ProviderError> {
    let (status, body) = exchange(request).await?;
    if !status.is_success() {
        return Err(classify(status, &body));
    }
    serde_json::from_slice(&body)
        .map_err(|_| ProviderError::Unavailable(format!("{provider}'s answer could not be read")))
}
