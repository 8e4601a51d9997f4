//! Which certificate authorities outbound TLS trusts.

use pgm_core::{ConfigError, Env};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;

/// Names a PEM file whose certificates replace the compiled-in roots (the variable OpenSSL and
/// rustls-native-certs read for the same purpose).
pub const TRUSTED_ROOTS_VAR: &str = "SSL_CERT_FILE";

pub(crate) fn trusted(env: &Env) -> Result<RootCertStore, ConfigError> {
    match env.get(TRUSTED_ROOTS_VAR).filter(|path| !path.is_empty()) {
        None => Ok(RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        }),
        Some(path) => from_pem_file(path),
    }
}

/// A file that yields no usable certificate is refused at start-up: trusting nothing would
/// only fail later, on the first payment.
fn from_pem_file(path: &str) -> Result<RootCertStore, ConfigError> {
    let refuse = |why: String| ConfigError::new(TRUSTED_ROOTS_VAR, format!("{path}: {why}"));
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|e| refuse(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| refuse(e.to_string()))?;
    let mut roots = RootCertStore::empty();
    let (_, unusable) = roots.add_parsable_certificates(certificates);
    if roots.is_empty() {
        return Err(refuse(format!(
            "no usable certificate ({unusable} could not be parsed)"
        )));
    }
    Ok(roots)
}
