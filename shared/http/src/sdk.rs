//! The AWS SDK's HTTP client over PGM's outbound stack: a reqwest client per distinct
//! connector settings (the SDK's connect and read timeouts), all on the one TLS configuration.
//! Made lazily, when the SDK first sends with those settings, which costs no certificate work.

use crate::Outbound;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::retries::ErrorKind;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::body::SdkBody;
use std::collections::HashMap;
use std::error::Error;
use std::sync::RwLock;
use std::time::Duration;

pub(crate) fn http_client(outbound: Outbound) -> SharedHttpClient {
    SharedHttpClient::new(SdkHttpClient {
        outbound,
        connectors: RwLock::new(HashMap::new()),
    })
}

/// (connect timeout, read timeout): what a reqwest client is built with.
type Timeouts = (Option<Duration>, Option<Duration>);

#[derive(Debug)]
struct SdkHttpClient {
    outbound: Outbound,
    connectors: RwLock<HashMap<Timeouts, SharedHttpConnector>>,
}

impl HttpClient for SdkHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let key = (settings.connect_timeout(), settings.read_timeout());
        if let Some(connector) = read(&self.connectors).get(&key) {
            return connector.clone();
        }
        let mut connectors = self
            .connectors
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        connectors
            .entry(key)
            .or_insert_with(|| SharedHttpConnector::new(self.connector(key)))
            .clone()
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SdkHttpClient {
    fn connector(&self, (connect, read): Timeouts) -> Connector {
        let mut builder = self.outbound.client_builder();
        if let Some(timeout) = connect {
            builder = builder.connect_timeout(timeout);
        }
        if let Some(timeout) = read {
            builder = builder.read_timeout(timeout);
        }
        // Building can only fail on a TLS backend reqwest does not know, which `Outbound`
        // rules out; the error is still carried to the request rather than panicking.
        Connector {
            client: builder.build().map_err(|e| e.to_string()),
        }
    }
}

#[derive(Debug)]
struct Connector {
    client: Result<reqwest::Client, String>,
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = match &self.client {
            Ok(client) => client.clone(),
            Err(e) => {
                let e = format!("the SDK's HTTP client could not be built: {e}");
                return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into())));
            }
        };
        let request = match to_reqwest(request) {
            Ok(request) => request,
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e))),
        };
        HttpConnectorFuture::new(async move {
            let response = client.execute(request).await.map_err(classify)?;
            let response =
                http::Response::<reqwest::Body>::from(response).map(SdkBody::from_body_1_x);
            HttpResponse::try_from(response).map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

fn to_reqwest(request: HttpRequest) -> Result<reqwest::Request, Box<dyn Error + Send + Sync>> {
    let request = request.try_into_http1x()?.map(|body: SdkBody| {
        // DynamoDB and SQS bodies are in memory; a streaming body is passed on as a stream.
        match body.bytes() {
            Some(bytes) => reqwest::Body::from(bytes.to_vec()),
            None => reqwest::Body::wrap(body),
        }
    });
    Ok(reqwest::Request::try_from(request)?)
}

/// Sorts a transport failure the way the SDK's own hyper client does, so that its retry
/// strategy sees the same kinds: timeouts, I/O (connect, reset, closed) and the rest.
fn classify(e: reqwest::Error) -> ConnectorError {
    if e.is_timeout() {
        return ConnectorError::timeout(e.into());
    }
    if e.is_builder() {
        return ConnectorError::user(e.into());
    }
    if let Some(hyper) = find_source::<hyper::Error>(&e) {
        if hyper.is_incomplete_message() {
            return ConnectorError::other(e.into(), Some(ErrorKind::TransientError));
        }
        if hyper.is_closed() || hyper.is_canceled() {
            return ConnectorError::io(e.into());
        }
    }
    if e.is_connect() || find_source::<std::io::Error>(&e).is_some() {
        return ConnectorError::io(e.into());
    }
    ConnectorError::other(e.into(), None)
}

fn find_source<'a, E: Error + 'static>(e: &'a (dyn Error + 'static)) -> Option<&'a E> {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(found) = e.downcast_ref::<E>() {
            return Some(found);
        }
        next = e.source();
    }
    None
}
