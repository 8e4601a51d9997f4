//! One HTTP client for adapters: the provider's base URL, its auth, the per-provider timeout,
//! and answers read through the provider's [`Dialect`] and the one classification of
//! [`super::classify`].

use super::classify::{self, Dialect};
use super::ProviderSettings;
use crate::ProviderError;
use bytes::Bytes;
use pgm_core::Secret;
use reqwest::header::{HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

/// How requests prove who we are.
#[derive(Clone)]
pub enum Auth {
    /// `Authorization: Bearer <secret>`.
    Bearer(Secret),
    /// `Authorization: <scheme> <secret>`, as Axerve's `apikey <key>`.
    Scheme(&'static str, Secret),
    /// HTTP Basic `user:password`, as Braintree's `public_key:private_key`.
    Basic(String, Secret),
    /// The key in a header of its own, as BPC's `X-Api-Key: <key>`.
    Header(&'static str, Secret),
    /// Headers computed from the request itself (HTTP signatures).
    Signed(Arc<dyn Signer>),
    /// No credential (a provider that authenticates in the body, or a token flow of its own).
    None,
}

/// Signs a request as it will be sent: method, the full URL (path and query) and the body.
pub trait Signer: Send + Sync {
    fn sign(
        &self,
        method: &Method,
        url: &Url,
        body: &[u8],
    ) -> Result<Vec<(HeaderName, String)>, ProviderError>;
}

/// An adapter's client. Cheap to clone: reqwest's pool is shared by every provider.
pub struct ProviderClient<D> {
    http: reqwest::Client,
    settings: ProviderSettings,
    auth: Auth,
    dialect: PhantomData<fn() -> D>,
}

impl<D> Clone for ProviderClient<D> {
    fn clone(&self) -> Self {
        ProviderClient {
            http: self.http.clone(),
            settings: self.settings.clone(),
            auth: self.auth.clone(),
            dialect: PhantomData,
        }
    }
}

impl<D> std::fmt::Debug for ProviderClient<D> {
    /// The settings only: never the credential.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderClient")
            .field("base_url", &self.settings.base_url)
            .field("timeout", &self.settings.timeout)
            .finish_non_exhaustive()
    }
}

impl<D: Dialect> ProviderClient<D> {
    pub fn new(http: reqwest::Client, settings: ProviderSettings, auth: Auth) -> Self {
        ProviderClient {
            http,
            settings,
            auth,
            dialect: PhantomData,
        }
    }

    pub fn settings(&self) -> &ProviderSettings {
        &self.settings
    }

    /// A request to `{base_url}{path}`; `path` starts with `/`.
    pub fn request(&self, method: Method, path: impl Into<String>) -> Request<'_, D> {
        Request {
            client: self,
            method,
            path: path.into(),
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
            extra_wait: Duration::ZERO,
        }
    }

    pub fn get(&self, path: impl Into<String>) -> Request<'_, D> {
        self.request(Method::GET, path)
    }

    pub fn post(&self, path: impl Into<String>) -> Request<'_, D> {
        self.request(Method::POST, path)
    }
}

/// One request being put together.
pub struct Request<'c, D> {
    client: &'c ProviderClient<D>,
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(HeaderName, String)>,
    body: Option<(&'static str, Vec<u8>)>,
    extra_wait: Duration,
}

impl<D: Dialect> Request<'_, D> {
    pub fn query<K: Into<String>, V: Into<String>>(
        mut self,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.query
            .extend(pairs.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers
            .push((HeaderName::from_static(name), value.into()));
        self
    }

    /// The provider-side idempotency key (`Idempotency-Key`, as Stripe, Scalapay and Satispay
    /// name it).
    pub fn idempotency_key(self, key: impl Into<String>) -> Self {
        self.header("idempotency-key", key)
    }

    pub fn json(mut self, body: &impl Serialize) -> Self {
        // Our own wire types always serialise; an empty body would be refused by the provider.
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        self.body = Some(("application/json", bytes));
        self
    }

    pub fn form<K: AsRef<str>, V: AsRef<str>>(mut self, pairs: &[(K, V)]) -> Self {
        let pairs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_ref(), v.as_ref()))
            .collect();
        // Pairs of strings always encode.
        let encoded = serde_urlencoded::to_string(pairs).unwrap_or_default();
        self.body = Some(("application/x-www-form-urlencoded", encoded.into_bytes()));
        self
    }

    /// A body already encoded by the adapter (a SOAP envelope, say), sent as `content_type`.
    pub fn body(mut self, content_type: &'static str, bytes: impl Into<Vec<u8>>) -> Self {
        self.body = Some((content_type, bytes.into()));
        self
    }

    /// Lets this request take `extra` longer than the provider's timeout (a long poll).
    pub fn wait_longer(mut self, extra: Duration) -> Self {
        self.extra_wait = extra;
        self
    }

    /// Sends and reads the answer through the provider's dialect.
    pub async fn send<T: DeserializeOwned>(self) -> Result<T, ProviderError> {
        let (status, body) = self.exchange().await?;
        classify::answer::<D, T>(status, &body)
    }

    /// Sends and returns the status and the whole body, unread. A transport failure, an answer
    /// cut off mid-way included, is classified by [`classify::transport`].
    pub async fn exchange(self) -> Result<(StatusCode, Bytes), ProviderError> {
        let client = self.client;
        let mut url =
            Url::parse(&format!("{}{}", client.settings.base_url, self.path)).map_err(|_| {
                ProviderError::Rejected {
                    code: Some("invalid_url".into()),
                    message: format!("{} request path does not make a URL", D::NAME),
                }
            })?;
        if !self.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&self.query);
        }
        let body = self.body.as_ref().map(|(_, b)| b.as_slice()).unwrap_or(&[]);
        let mut request = client
            .http
            .request(self.method.clone(), url.clone())
            .timeout(client.settings.timeout + self.extra_wait);
        // JSON unless the request asks for another format (Soisy lists orders only as CSV):
        // two Accept headers would leave the provider to pick one.
        if !self.headers.iter().any(|(name, _)| name == ACCEPT) {
            request = request.header(ACCEPT, "application/json");
        }
        request = match &client.auth {
            Auth::Bearer(secret) => request.bearer_auth(secret.expose()),
            Auth::Scheme(scheme, secret) => {
                request.header(AUTHORIZATION, format!("{scheme} {}", secret.expose()))
            }
            Auth::Basic(user, secret) => request.basic_auth(user, Some(secret.expose())),
            Auth::Header(name, secret) => request.header(*name, secret.expose()),
            Auth::Signed(signer) => {
                let mut request = request;
                for (name, value) in signer.sign(&self.method, &url, body)? {
                    request = request.header(name, value);
                }
                request
            }
            Auth::None => request,
        };
        for (name, value) in self.headers {
            let value = HeaderValue::from_str(&value).map_err(|_| ProviderError::Rejected {
                code: Some("invalid_header".into()),
                message: format!("a {name} header for {} is not valid", D::NAME),
            })?;
            request = request.header(name, value);
        }
        if let Some((content_type, bytes)) = self.body {
            request = request.header(CONTENT_TYPE, content_type).body(bytes);
        }
        let response = request
            .send()
            .await
            .map_err(|e| classify::transport::<D>(&e))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| classify::transport::<D>(&e))?;
        Ok((status, body))
    }
}
