//! The TLS options shared by `echo` and `demo`: `--tls-cert FILE --tls-key FILE`, or
//! `--tls-self-signed` (a certificate for localhost made at start with rcgen, whose
//! fingerprints are printed so a client can pin it), and `--tls-port PORT` for a TLS port
//! next to the plaintext one.

use std::path::PathBuf;
use wirelane_core::app::{Runtime, Server, TlsConfig};

/// Usage lines for the TLS options.
pub const USAGE: &str =
    "  --tls-cert FILE    serve TLS with this PEM certificate chain (with --tls-key)
  --tls-key FILE     the PEM private key of --tls-cert
  --tls-self-signed  serve TLS with a certificate for localhost made at start (rcgen);
                     prints its SHA-256 fingerprint and its SPKI hash (for pinning)
  --tls-port PORT    with TLS: plaintext stays on --addr, TLS listens on PORT too";

/// The TLS options given on the command line.
#[derive(Debug, Default)]
pub struct TlsArgs {
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    self_signed: bool,
    port: Option<u16>,
}

impl TlsArgs {
    /// The second, TLS, port asked for with `--tls-port`.
    #[allow(dead_code)] // echo does not need it
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// Takes `flag` (and its value from `value`) if it is a TLS option; false otherwise.
    pub fn take(&mut self, flag: &str, value: &mut dyn FnMut() -> String) -> Result<bool, String> {
        match flag {
            "--tls-cert" => self.cert = Some(value().into()),
            "--tls-key" => self.key = Some(value().into()),
            "--tls-self-signed" => self.self_signed = true,
            "--tls-port" => {
                let v = value();
                self.port = Some(
                    v.parse()
                        .map_err(|_| format!("--tls-port: bad port {v:?}"))?,
                );
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The configuration asked for (loading the files or making a certificate), or `None`
    /// for plaintext.
    pub fn config(&self) -> Result<Option<TlsConfig>, String> {
        match (&self.cert, &self.key, self.self_signed) {
            (None, None, false) => {
                if self.port.is_some() {
                    return Err("--tls-port needs --tls-cert/--tls-key or --tls-self-signed".into());
                }
                Ok(None)
            }
            (Some(cert), Some(key), false) => TlsConfig::from_pem_files(cert, key)
                .map(Some)
                .map_err(|e| e.to_string()),
            (None, None, true) => self_signed().map(Some),
            (_, _, true) => {
                Err("--tls-self-signed and --tls-cert/--tls-key exclude each other".into())
            }
            _ => Err("--tls-cert and --tls-key go together".into()),
        }
    }

    /// Applies the options to `server`: TLS on the main port, or on `--tls-port` next to it.
    /// Returns whether the server speaks TLS.
    pub async fn apply<R: Runtime>(&self, server: &Server<R>) -> Result<bool, String> {
        let Some(config) = self.config()? else {
            return Ok(false);
        };
        server.tls(config).await;
        if let Some(port) = self.port {
            server.tls_port(port).await;
        }
        Ok(true)
    }
}

/// A certificate for `localhost`, `127.0.0.1` and `::1`, made now; prints how to pin it.
fn self_signed() -> Result<TlsConfig, String> {
    let names = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    let rcgen::CertifiedKey { cert, key_pair } =
        rcgen::generate_simple_self_signed(names).map_err(|e| e.to_string())?;
    let sha256 = |b: &[u8]| ring::digest::digest(&ring::digest::SHA256, b);
    let fingerprint: Vec<String> = sha256(cert.der())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    println!("tls: self-signed certificate for localhost");
    println!("tls: SHA-256 fingerprint {}", fingerprint.join(":"));
    println!(
        "tls: SPKI SHA-256 (base64) {}",
        base64_encode(sha256(&key_pair.public_key_der()).as_ref())
    );
    TlsConfig::from_pem(cert.pem().as_bytes(), key_pair.serialize_pem().as_bytes())
        .map_err(|e| e.to_string())
}

/// Standard base64 with padding (for Chromium's `--ignore-certificate-errors-spki-list`).
fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
