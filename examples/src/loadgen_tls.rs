//! The load generator's sockets: plain TCP, or TLS over it with rustls (ring), driven
//! without blocking by the generator's epoll loop.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;
use wirelane_core::app::tls::rustls;

/// A TLS client configuration: trusts one certificate (PEM file), server name `localhost`.
#[derive(Clone)]
pub struct TlsClient(Arc<rustls::ClientConfig>);

impl TlsClient {
    /// Trusts the certificates in PEM file `ca`.
    pub fn new(ca: &str) -> Result<TlsClient, String> {
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls::pki_types::CertificateDer::pem_file_iter(ca)
            .map_err(|e| format!("{ca}: {e}"))?
        {
            roots
                .add(cert.map_err(|e| format!("{ca}: {e}"))?)
                .map_err(|e| format!("{ca}: {e}"))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(TlsClient(Arc::new(config)))
    }
}

/// A connected socket.
pub enum Sock {
    /// Plain TCP.
    Tcp(TcpStream),
    /// TLS over TCP.
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Sock {
    /// Connects to `addr` (with `TCP_NODELAY`, and a read timeout for the handshakes);
    /// with `tls`, completes the TLS handshake.
    pub fn connect(
        addr: SocketAddr,
        timeout: Duration,
        tls: Option<&TlsClient>,
    ) -> Result<Sock, String> {
        let s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
        s.set_nodelay(true).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(timeout))
            .map_err(|e| e.to_string())?;
        let Some(tls) = tls else {
            return Ok(Sock::Tcp(s));
        };
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        let conn = rustls::ClientConnection::new(tls.0.clone(), name).map_err(|e| e.to_string())?;
        let mut stream = rustls::StreamOwned::new(conn, s);
        while stream.conn.is_handshaking() {
            stream
                .conn
                .complete_io(&mut stream.sock)
                .map_err(|e| format!("TLS handshake: {e}"))?;
        }
        Ok(Sock::Tls(Box::new(stream)))
    }

    /// The TCP socket underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Sock::Tcp(s) => s,
            Sock::Tls(s) => &s.sock,
        }
    }

    /// TLS: writes records made earlier that the socket did not take (non-blocking).
    pub fn send_pending(&mut self) -> io::Result<()> {
        if let Sock::Tls(s) = self {
            while s.conn.wants_write() {
                match s.conn.write_tls(&mut s.sock) {
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// TLS: whether records wait for the socket.
    pub fn has_pending(&self) -> bool {
        matches!(self, Sock::Tls(s) if s.conn.wants_write())
    }
}

impl Read for Sock {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Sock::Tcp(s) => s.read(buf),
            Sock::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Sock {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sock::Tcp(s) => s.write(buf),
            Sock::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sock::Tcp(s) => s.flush(),
            Sock::Tls(s) => s.flush(),
        }
    }
}
