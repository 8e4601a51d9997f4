//! PGM's one outbound HTTP stack, built once per process: the trusted roots and the TLS
//! configuration, the reqwest clients made from them (providers, notifications) and, with the
//! `aws` feature, the same stack as the AWS SDK's HTTP client (DynamoDB, SQS).
//!
//! Why one stack: left to themselves, reqwest (through rustls-platform-verifier) and the AWS
//! SDK (through its default hyper client, once per service client) each read and parse the
//! system's certificate store at start-up. That was most of a Lambda function's init time
//! (BENCHMARKS.md). Here the roots are Mozilla's, compiled in as ready trust anchors, so
//! building them costs a copy, and every client of the process shares the one configuration.

mod roots;
#[cfg(feature = "aws")]
mod sdk;

pub use roots::TRUSTED_ROOTS_VAR;

use pgm_core::{ConfigError, Env};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
}

/// The process's outbound TLS configuration. Cheap to clone (one shared `Arc`).
#[derive(Clone, Debug)]
pub struct Outbound {
    tls: Arc<rustls::ClientConfig>,
}

impl Outbound {
    /// Trusts Mozilla's root certificates (the `webpki-roots` crate), or only the certificates
    /// of the PEM file named by `SSL_CERT_FILE` when it is set (a private CA, an inspecting
    /// proxy), as OpenSSL and rustls-native-certs read that variable.
    pub fn from_env(env: &Env) -> Result<Outbound, OutboundError> {
        let roots = roots::trusted(env)?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Outbound { tls: Arc::new(tls) })
    }

    /// A reqwest client builder over this TLS configuration, for callers that add settings.
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        reqwest::Client::builder().tls_backend_preconfigured(rustls::ClientConfig::clone(&self.tls))
    }

    /// The pooled client providers and notifications use (each request sets its own timeout).
    pub fn client(&self) -> Result<reqwest::Client, reqwest::Error> {
        self.client_builder().build()
    }

    /// This stack as the AWS SDK's HTTP client: give it to `aws_config`'s loader (or a service
    /// config builder) with `.http_client(…)`.
    #[cfg(feature = "aws")]
    pub fn aws_http_client(&self) -> aws_smithy_runtime_api::client::http::SharedHttpClient {
        sdk::http_client(self.clone())
    }
}
