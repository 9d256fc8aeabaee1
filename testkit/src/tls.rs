//! The suite over TLS: the same cases, with the server speaking TLS and every client
//! connecting with rustls (tokio-rustls, and tokio-tungstenite's rustls connector).
//!
//! A case does not know whether it runs over TLS: [`TestServer::start`](crate::TestServer)
//! registers the address of a TLS server here, and [`Conn`](crate::client::Conn) and
//! [`ws_connect`](crate::client::ws_connect) look it up. The certificate (for `localhost`
//! and `127.0.0.1`) is made once per test process.

use crate::Harness;
use std::collections::HashSet;
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use wirelane_core::app::TlsConfig;

/// The server name the raw clients send (SNI); the certificate covers it.
pub const SERVER_NAME: &str = "localhost";

/// Runs the suite of harness `H` over TLS.
pub struct OverTls<H>(PhantomData<H>);

impl<H: Harness> Harness for OverTls<H> {
    type Runtime = H::Runtime;
    const NAME: &'static str = H::NAME;
    const TLS: bool = true;

    fn runtime() -> Self::Runtime {
        H::runtime()
    }

    fn block_on<F: Future>(fut: F) -> F::Output {
        H::block_on(fut)
    }
}

/// The test certificate and its key, PEM.
pub struct TestCert {
    /// Certificate, PEM.
    pub cert_pem: String,
    /// Private key, PEM.
    pub key_pem: String,
    /// Certificate, DER.
    pub cert_der: Vec<u8>,
}

/// The process's test certificate (self-signed, `localhost` and `127.0.0.1`).
pub fn test_cert() -> &'static TestCert {
    static CERT: OnceLock<TestCert> = OnceLock::new();
    CERT.get_or_init(|| {
        let names = vec![SERVER_NAME.to_string(), "127.0.0.1".to_string()];
        let rcgen::CertifiedKey { cert, key_pair } =
            rcgen::generate_simple_self_signed(names).expect("test certificate");
        TestCert {
            cert_pem: cert.pem(),
            key_pem: key_pair.serialize_pem(),
            cert_der: cert.der().to_vec(),
        }
    })
}

/// The server side: the test certificate as a [`TlsConfig`].
pub fn server_config() -> TlsConfig {
    let c = test_cert();
    TlsConfig::from_pem(c.cert_pem.as_bytes(), c.key_pem.as_bytes()).expect("test TLS config")
}

/// The client side: trusts the test certificate only; ring, TLS 1.2 and 1.3.
pub fn client_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            roots
                .add(test_cert().cert_der.clone().into())
                .expect("trust the test certificate");
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("protocol versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
            Arc::new(config)
        })
        .clone()
}

fn tls_addrs() -> &'static Mutex<HashSet<SocketAddr>> {
    static ADDRS: OnceLock<Mutex<HashSet<SocketAddr>>> = OnceLock::new();
    ADDRS.get_or_init(Default::default)
}

/// Notes that the server at `addr` speaks TLS.
pub fn register(addr: SocketAddr) {
    tls_addrs().lock().unwrap().insert(addr);
}

/// Forgets `addr` (its server is shutting down; the port may be reused).
pub fn unregister(addr: SocketAddr) {
    tls_addrs().lock().unwrap().remove(&addr);
}

/// Whether the server at `addr` speaks TLS.
pub fn is_tls(addr: SocketAddr) -> bool {
    tls_addrs().lock().unwrap().contains(&addr)
}

type Connect = tokio_rustls::Connect<TcpStream>;

/// A client stream: plain TCP, or TLS over it. The TLS handshake starts with the first
/// read or write, not at connect, and what is written before it completes is kept and sent
/// after it, so a case that talks to a server that does not accept yet (max connections)
/// behaves as over TCP, where the kernel takes the bytes.
pub enum ClientStream {
    /// Plaintext.
    Tcp(TcpStream),
    /// Handshaking, with what was written meanwhile.
    Connecting(Pin<Box<Connect>>, SocketAddr, Vec<u8>),
    /// Encrypted, with what was written during the handshake and is not sent yet.
    Tls(
        Box<tokio_rustls::client::TlsStream<TcpStream>>,
        SocketAddr,
        Vec<u8>,
    ),
    /// The handshake failed.
    Failed(SocketAddr),
}

impl std::fmt::Debug for ClientStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ClientStream::Tcp(_) => "Tcp",
            ClientStream::Connecting(..) => "Connecting",
            ClientStream::Tls(..) => "Tls",
            ClientStream::Failed(_) => "Failed",
        })
    }
}

impl ClientStream {
    /// Wraps `tcp` in TLS if its peer is a TLS test server.
    pub fn new(tcp: TcpStream) -> ClientStream {
        let peer = tcp.peer_addr().expect("peer address");
        if !is_tls(peer) {
            return ClientStream::Tcp(tcp);
        }
        let local = tcp.local_addr().expect("local address");
        let name = rustls::pki_types::ServerName::try_from(SERVER_NAME).expect("server name");
        let connect = tokio_rustls::TlsConnector::from(client_config()).connect(name, tcp);
        ClientStream::Connecting(Box::pin(connect), local, Vec::new())
    }

    /// Our end's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            ClientStream::Tcp(s) => s.local_addr(),
            ClientStream::Connecting(_, a, _)
            | ClientStream::Tls(_, a, _)
            | ClientStream::Failed(a) => Ok(*a),
        }
    }

    /// Completes the TLS handshake if it is still going on, waiting at most `limit` (a
    /// server that does not accept yet cannot answer; what is written meanwhile is kept).
    pub async fn settle(&mut self, limit: std::time::Duration) {
        if let ClientStream::Connecting(..) = self {
            let ready = std::future::poll_fn(|cx| self.poll_ready(cx));
            let _ = tokio::time::timeout(limit, ready).await;
        }
    }

    /// Drives the handshake, then sends what was written during it; ready once the
    /// stream can carry data.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let ClientStream::Connecting(connect, local, early) = self {
            let local = *local;
            match connect.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(tls)) => {
                    let early = std::mem::take(early);
                    *self = ClientStream::Tls(Box::new(tls), local, early);
                }
                Poll::Ready(Err(e)) => {
                    *self = ClientStream::Failed(local);
                    return Poll::Ready(Err(e));
                }
            }
        }
        match self {
            ClientStream::Failed(_) => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
            ClientStream::Tls(s, _, early) if !early.is_empty() => {
                while !early.is_empty() {
                    match Pin::new(&mut **s).poll_write(cx, early) {
                        Poll::Ready(Ok(n)) => {
                            early.drain(..n);
                        }
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Pending => return Poll::Pending,
                    }
                }
                Pin::new(&mut **s).poll_flush(cx)
            }
            _ => Poll::Ready(Ok(())),
        }
    }
}

impl AsyncRead for ClientStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.poll_ready(cx) {
            Poll::Ready(Ok(())) => {}
            // A handshake the server ended (a refused connection): seen as the end.
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Poll::Ready(Ok(()))
            }
            other => return other,
        }
        match this {
            ClientStream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            ClientStream::Tls(s, _, _) => match Pin::new(&mut **s).poll_read(cx, buf) {
                // The server ended TCP without close_notify (it does when it drops a
                // connection): the suite checks what came before, not how TLS ended.
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    Poll::Ready(Ok(()))
                }
                other => other,
            },
            _ => unreachable!("poll_ready settled the state"),
        }
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match this.poll_ready(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => {
                if let ClientStream::Connecting(_, _, early) = this {
                    early.extend_from_slice(buf);
                    return Poll::Ready(Ok(buf.len()));
                }
                return Poll::Pending;
            }
        }
        match this {
            ClientStream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            ClientStream::Tls(s, _, _) => Pin::new(&mut **s).poll_write(cx, buf),
            _ => unreachable!("poll_ready settled the state"),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.poll_ready(cx) {
            // Kept until the handshake completes, as the kernel would keep it.
            Poll::Pending if matches!(this, ClientStream::Connecting(..)) => {
                return Poll::Ready(Ok(()))
            }
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        match this {
            ClientStream::Tcp(s) => Pin::new(s).poll_flush(cx),
            ClientStream::Tls(s, _, _) => Pin::new(&mut **s).poll_flush(cx),
            _ => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this {
            ClientStream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            ClientStream::Tls(s, _, _) => Pin::new(&mut **s).poll_shutdown(cx),
            _ => Poll::Ready(Ok(())),
        }
    }
}
