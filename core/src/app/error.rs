//! Errors of the framework API.

use std::fmt;
use std::io;

/// Why a message or body could not be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// The connection is closed (or closing: nothing may follow our close frame).
    Closed,
    /// The response head was already sent, so status and headers can no longer change.
    AlreadySent,
    /// This context's request has already been answered and the connection moved on.
    Stale,
    /// The protocol layer refused the data (for example, more bytes than the declared length).
    Protocol(String),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closed => f.write_str("connection closed"),
            SendError::AlreadySent => f.write_str("response already sent"),
            SendError::Stale => f.write_str("request already answered"),
            SendError::Protocol(m) => write!(f, "protocol error: {m}"),
        }
    }
}

impl std::error::Error for SendError {}

/// Why [`Sender::try_send`](super::Sender::try_send) refused a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrySendError {
    /// The connection's outgoing queue is over its limit (the peer reads too slowly).
    Full,
    /// The connection is closed.
    Closed,
}

impl fmt::Display for TrySendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full => f.write_str("outgoing queue full"),
            TrySendError::Closed => f.write_str("connection closed"),
        }
    }
}

impl std::error::Error for TrySendError {}

/// Why the server could not start.
#[derive(Debug)]
pub enum ServerError {
    /// The host/port did not resolve to an address.
    Resolve(String, io::Error),
    /// Binding or listening failed.
    Bind(std::net::SocketAddr, io::Error),
    /// A route pattern is malformed.
    Route(super::router::RouteError),
    /// A TLS port was asked for (`Server::tls_port`) but no TLS configuration was given
    /// (`Server::tls`); both exist with the `tls` feature.
    TlsNotConfigured,
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::Resolve(h, e) => write!(f, "cannot resolve {h}: {e}"),
            ServerError::Bind(a, e) => write!(f, "cannot listen on {a}: {e}"),
            ServerError::Route(e) => write!(f, "{e}"),
            ServerError::TlsNotConfigured => {
                f.write_str("a TLS port was set but no TLS configuration (Server::tls)")
            }
        }
    }
}

impl std::error::Error for ServerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServerError::Resolve(_, e) | ServerError::Bind(_, e) => Some(e),
            ServerError::Route(e) => Some(e),
            ServerError::TlsNotConfigured => None,
        }
    }
}

/// Why a TLS configuration could not be made from certificate and key files (or PEM
/// text): each variant names the file (`"<memory>"` for PEM given as bytes) and what is
/// wrong with it.
#[cfg(feature = "tls")]
#[derive(Debug)]
pub enum TlsError {
    /// The file could not be read.
    Read(std::path::PathBuf, io::Error),
    /// The file is not valid PEM (a section is cut short or malformed).
    Pem(std::path::PathBuf, String),
    /// The certificate file holds no `CERTIFICATE` section.
    NoCertificate(std::path::PathBuf),
    /// The key file holds no private key (`PRIVATE KEY`, `RSA PRIVATE KEY` or
    /// `EC PRIVATE KEY` section).
    NoPrivateKey(std::path::PathBuf),
    /// rustls refused the certificate chain and key (for example, a key type it cannot
    /// sign with, or a key that does not match the certificate).
    Rejected {
        /// The certificate file.
        cert: std::path::PathBuf,
        /// The key file.
        key: std::path::PathBuf,
        /// rustls's reason.
        reason: rustls::Error,
    },
}

#[cfg(feature = "tls")]
impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Read(p, e) => write!(f, "cannot read {}: {e}", p.display()),
            TlsError::Pem(p, e) => write!(f, "{} is not valid PEM: {e}", p.display()),
            TlsError::NoCertificate(p) => {
                write!(f, "{} holds no certificate (no CERTIFICATE section)", p.display())
            }
            TlsError::NoPrivateKey(p) => write!(
                f,
                "{} holds no private key (no PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY section)",
                p.display()
            ),
            TlsError::Rejected { cert, key, reason } => write!(
                f,
                "certificate {} with key {} rejected: {reason}",
                cert.display(),
                key.display()
            ),
        }
    }
}

#[cfg(feature = "tls")]
impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::Read(_, e) => Some(e),
            TlsError::Rejected { reason, .. } => Some(reason),
            _ => None,
        }
    }
}
