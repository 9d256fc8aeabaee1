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
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::Resolve(h, e) => write!(f, "cannot resolve {h}: {e}"),
            ServerError::Bind(a, e) => write!(f, "cannot listen on {a}: {e}"),
            ServerError::Route(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ServerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServerError::Resolve(_, e) | ServerError::Bind(_, e) => Some(e),
            ServerError::Route(e) => Some(e),
        }
    }
}
