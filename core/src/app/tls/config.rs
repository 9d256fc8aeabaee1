//! [`TlsConfig`]: the certificate chain, key and rustls settings a TLS listener uses.

use super::sni::CaptureSni;
use crate::app::error::TlsError;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The ALPN protocol the server speaks over TLS.
const ALPN_HTTP11: &[u8] = b"http/1.1";

/// Default time a client has to complete the TLS handshake.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How a server speaks TLS: a certificate chain with its key (or a whole rustls
/// configuration), and the handshake timeout. Cheap to clone.
///
/// ```no_run
/// # use wirelane_core::app::tls::TlsConfig;
/// let tls = TlsConfig::from_pem_files("cert.pem", "key.pem")?;
/// # Ok::<(), wirelane_core::app::TlsError>(())
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    pub(crate) rustls: Arc<rustls::ServerConfig>,
    pub(crate) handshake_timeout: Duration,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("alpn", &"http/1.1")
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// Reads a PEM certificate chain (leaf first) and a PEM private key (PKCS#8, PKCS#1
    /// or SEC1) from files. TLS 1.2 and 1.3, ring's cipher suites, ALPN `http/1.1`.
    pub fn from_pem_files(
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<TlsConfig, TlsError> {
        let (cert, key) = (cert.as_ref(), key.as_ref());
        let cert_pem = std::fs::read(cert).map_err(|e| TlsError::Read(cert.into(), e))?;
        let key_pem = std::fs::read(key).map_err(|e| TlsError::Read(key.into(), e))?;
        Self::build(&cert_pem, cert, &key_pem, key)
    }

    /// Like [`TlsConfig::from_pem_files`], from PEM text in memory (errors name the
    /// file `<memory>`).
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<TlsConfig, TlsError> {
        let here = Path::new("<memory>");
        Self::build(cert_pem, here, key_pem, here)
    }

    /// Uses a ready rustls configuration, for what the PEM constructors do not offer
    /// (client certificates, several certificates chosen by server name, another crypto
    /// provider, session resumption settings). Two settings are overridden, since the
    /// server depends on them: ALPN is `http/1.1` only (the only protocol it speaks), and
    /// 0-RTT early data is off (it can be replayed; HTTP requests must not be).
    pub fn from_rustls(config: Arc<rustls::ServerConfig>) -> TlsConfig {
        let mut config = Arc::unwrap_or_clone(config);
        config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
        config.max_early_data_size = 0;
        config.cert_resolver = Arc::new(CaptureSni(config.cert_resolver.clone()));
        TlsConfig {
            rustls: Arc::new(config),
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    /// Time a client has, from the accept, to complete the handshake (default 10 s);
    /// a client that stalls longer is disconnected.
    pub fn handshake_timeout(mut self, timeout: Duration) -> TlsConfig {
        self.handshake_timeout = timeout;
        self
    }

    /// The rustls configuration in use.
    pub fn rustls_config(&self) -> &Arc<rustls::ServerConfig> {
        &self.rustls
    }

    fn build(
        cert_pem: &[u8],
        cert: &Path,
        key_pem: &[u8],
        key: &Path,
    ) -> Result<TlsConfig, TlsError> {
        let pem_err = |p: &Path, e: pem::Error| TlsError::Pem(p.into(), e.to_string());
        let chain = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| pem_err(cert, e))?;
        if chain.is_empty() {
            return Err(TlsError::NoCertificate(cert.into()));
        }
        let private = match PrivateKeyDer::from_pem_slice(key_pem) {
            Ok(k) => k,
            Err(pem::Error::NoItemsFound) => return Err(TlsError::NoPrivateKey(key.into())),
            Err(e) => return Err(pem_err(key, e)),
        };
        let rejected = |reason| TlsError::Rejected {
            cert: PathBuf::from(cert),
            key: PathBuf::from(key),
            reason,
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(rejected)?
            .with_no_client_auth()
            .with_single_cert(chain, private)
            .map_err(rejected)?;
        Ok(Self::from_rustls(Arc::new(config)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The fuzz target's certificate (P-256, for localhost): any valid pair will do here.
    const CERT: &[u8] = include_bytes!("../../../../fuzz/tls/cert.pem");
    const KEY: &[u8] = include_bytes!("../../../../fuzz/tls/key.pem");

    fn scratch(name: &str, bytes: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("wirelane-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn good_pair_loads_with_alpn_and_no_early_data() {
        let c = TlsConfig::from_pem_files(scratch("c.pem", CERT), scratch("k.pem", KEY)).unwrap();
        assert_eq!(c.rustls.alpn_protocols, vec![b"http/1.1".to_vec()]);
        assert_eq!(c.rustls.max_early_data_size, 0);
        assert_eq!(c.handshake_timeout, DEFAULT_HANDSHAKE_TIMEOUT);
        let c = c.handshake_timeout(Duration::from_secs(3));
        assert_eq!(c.handshake_timeout, Duration::from_secs(3));
    }

    #[test]
    fn errors_name_the_file_and_the_problem() {
        let missing = std::env::temp_dir().join("wirelane-no-such-cert.pem");
        let e = TlsConfig::from_pem_files(&missing, scratch("k1.pem", KEY)).unwrap_err();
        assert!(
            matches!(e, TlsError::Read(ref p, _) if *p == missing),
            "{e:?}"
        );
        assert!(e.to_string().contains("wirelane-no-such-cert.pem"), "{e}");

        let key_as_cert = scratch("key-as-cert.pem", KEY);
        let e = TlsConfig::from_pem_files(&key_as_cert, scratch("k2.pem", KEY)).unwrap_err();
        assert!(
            matches!(e, TlsError::NoCertificate(ref p) if *p == key_as_cert),
            "{e:?}"
        );
        assert!(e.to_string().contains("key-as-cert.pem"), "{e}");

        let cert_as_key = scratch("cert-as-key.pem", CERT);
        let e = TlsConfig::from_pem_files(scratch("c3.pem", CERT), &cert_as_key).unwrap_err();
        assert!(
            matches!(e, TlsError::NoPrivateKey(ref p) if *p == cert_as_key),
            "{e:?}"
        );
        assert!(e.to_string().contains("no private key"), "{e}");

        let cut = &CERT[..CERT.len() / 2];
        let e = TlsConfig::from_pem(cut, KEY).unwrap_err();
        assert!(matches!(e, TlsError::Pem(..)), "{e:?}");
        assert!(e.to_string().contains("<memory>"), "{e}");

        // A certificate with a key that is not a key rustls can sign with.
        let junk_key = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        let e = TlsConfig::from_pem(CERT, junk_key).unwrap_err();
        assert!(matches!(e, TlsError::Rejected { .. }), "{e:?}");
    }
}
