//! The outbound stack verifies what it connects to: a TLS front (made here with a test CA) before
//! moto, reached by reqwest and by the AWS SDK through `Outbound`. A certificate is accepted
//! only when its CA is trusted and it names the host that was asked for.

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use pgm_core::Env;
use pgm_http::{Outbound, OutboundError, TRUSTED_ROOTS_VAR};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use std::error::Error;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// A CA made for this test run, and a TLS front before moto whose certificate it signed for
/// `localhost` only (no IP address among its names).
struct TlsFront {
    port: u16,
    ca_file: PathBuf,
}

impl TlsFront {
    async fn start() -> TlsFront {
        let moto = pgm_mocks::moto::endpoint().await;
        let moto = moto.trim_start_matches("http://").to_owned();

        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "PGM outbound TLS test CA");
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();

        let ca_file = std::env::temp_dir().join(format!(
            "pgm-http-test-ca-{}-{}.pem",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::write(&ca_file, ca_cert.pem()).unwrap();

        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
            )
            .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(server));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, moto) = (acceptor.clone(), moto.clone());
                tokio::spawn(async move {
                    // A refused handshake is what some tests expect: nothing to forward then.
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut upstream = TcpStream::connect(moto).await.unwrap();
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
                });
            }
        });
        TlsFront { port, ca_file }
    }

    fn trusting_env(&self) -> Env {
        Env::from_pairs([(TRUSTED_ROOTS_VAR, self.ca_file.to_str().unwrap())])
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.ca_file);
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// moto answers any HTTP request; a status means the TLS handshake succeeded.
async fn reqwest_get(outbound: &Outbound, url: &str) -> Result<u16, reqwest::Error> {
    let client = outbound.client().unwrap();
    Ok(client.get(url).send().await?.status().as_u16())
}

/// DynamoDB's ListTables through the SDK with `outbound` as its HTTP client (no retries, so a
/// refusal is seen once).
async fn list_tables(outbound: &Outbound, endpoint: &str) -> Result<(), String> {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .endpoint_url(endpoint)
        .retry_config(RetryConfig::disabled())
        .http_client(outbound.aws_http_client())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
        .list_tables()
        .send()
        .await
        .map(|_| ())
        .map_err(|e| chain(&e))
}

/// An error and all its sources, as one line to search.
fn chain(e: &(dyn Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(source) = next {
        text.push_str(": ");
        text.push_str(&source.to_string());
        next = source.source();
    }
    text
}

/// reqwest and the SDK both fail to reach `url`, for `reason` (rustls's words).
async fn assert_both_refuse(outbound: &Outbound, url: &str, reason: &str) {
    let refused = chain(&reqwest_get(outbound, url).await.unwrap_err());
    assert!(refused.contains(reason), "reqwest: {refused}");
    let refused = list_tables(outbound, url).await.unwrap_err();
    assert!(refused.contains(reason), "the SDK: {refused}");
}

#[tokio::test]
async fn a_certificate_signed_by_a_trusted_ca_is_accepted_by_reqwest_and_the_sdk() {
    let front = TlsFront::start().await;
    let outbound = Outbound::from_env(&front.trusting_env()).unwrap();
    let url = format!("https://localhost:{}/", front.port);

    let status = reqwest_get(&outbound, &url).await.unwrap();
    assert!((200..600).contains(&status), "an HTTP answer: {status}");
    list_tables(&outbound, &url).await.unwrap();
}

#[tokio::test]
async fn the_compiled_in_roots_refuse_a_ca_they_do_not_know() {
    let front = TlsFront::start().await;
    let outbound = Outbound::from_env(&Env::default()).unwrap();
    let url = format!("https://localhost:{}/", front.port);

    assert_both_refuse(&outbound, &url, "UnknownIssuer").await;
}

#[tokio::test]
async fn a_certificate_for_another_name_is_refused_even_from_a_trusted_ca() {
    let front = TlsFront::start().await;
    let outbound = Outbound::from_env(&front.trusting_env()).unwrap();
    // The certificate names `localhost`; 127.0.0.1 is the same server under another name.
    let url = format!("https://127.0.0.1:{}/", front.port);

    assert_both_refuse(&outbound, &url, "not valid for name").await;
}

#[test]
fn ssl_cert_file_that_yields_no_certificate_is_refused_at_start_up() {
    let empty = std::env::temp_dir().join(format!("pgm-http-test-empty-{}.pem", rand_suffix()));
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let missing = std::env::temp_dir().join("pgm-http-test-no-such-file.pem");

    for path in [&empty, &missing] {
        let env = Env::from_pairs([(TRUSTED_ROOTS_VAR, path.to_str().unwrap())]);
        match Outbound::from_env(&env) {
            Err(OutboundError::Config(e)) => {
                let message = e.to_string();
                assert!(message.contains(TRUSTED_ROOTS_VAR), "{message}");
                assert!(message.contains(path.to_str().unwrap()), "{message}");
            }
            other => panic!(
                "{}: expected a configuration error, got {other:?}",
                path.display()
            ),
        }
    }
    let _ = std::fs::remove_file(&empty);
}
