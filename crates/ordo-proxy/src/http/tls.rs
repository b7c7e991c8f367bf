//! TLS for listeners: certificates from PEM files, ALPN for the HTTP
//! versions the listener speaks.

use std::path::Path;
use std::sync::Arc;

use ordo_config::proxy::{HttpVersion, ListenerConfig};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::ring;

/// An acceptor for the listener's certificates; relative paths are taken
/// from `base`. Errors name the file and what is wrong with it.
pub(crate) fn acceptor(
    l: &ListenerConfig,
    base: &Path,
) -> Result<Option<TlsAcceptor>, (String, String)> {
    let Some(tls) = &l.tls else { return Ok(None) };
    let read = |field: &str, file: &str| {
        let path = base.join(file);
        std::fs::read(&path).map_err(|e| {
            (
                format!("tls.{field}"),
                format!("cannot read {}: {e}", path.display()),
            )
        })
    };
    let cert_pem = read("cert", &tls.cert)?;
    let key_pem = read("key", &tls.key)?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| {
            (
                "tls.cert".to_owned(),
                format!("not a PEM certificate file: {e}"),
            )
        })?;
    if certs.is_empty() {
        return Err((
            "tls.cert".into(),
            format!("{} holds no certificate", tls.cert),
        ));
    }
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|e| ("tls.key".to_owned(), format!("not a PEM key file: {e}")))?
        .ok_or_else(|| {
            (
                "tls.key".to_owned(),
                format!("{} holds no private key", tls.key),
            )
        })?;
    let mut config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| ("tls".to_owned(), e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            (
                "tls".to_owned(),
                format!("the key does not fit the certificate: {e}"),
            )
        })?;
    config.alpn_protocols = l
        .protocols
        .iter()
        .rev()
        .map(|p| match p {
            HttpVersion::Http2 => b"h2".to_vec(),
            HttpVersion::Http1 => b"http/1.1".to_vec(),
        })
        .collect();
    // Prefer h2 when both are offered.
    config.alpn_protocols.sort_by_key(|p| p.as_slice() != b"h2");
    Ok(Some(TlsAcceptor::from(Arc::new(config))))
}
