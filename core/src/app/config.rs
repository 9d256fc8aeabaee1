//! Server configuration: addresses, socket options, limits and queue sizes.

use crate::proto::ws::DeflateConfig;
use crate::proto::{HttpLimits, WsLimits};
use std::time::Duration;

/// Everything a [`Server`](super::Server) can be configured with. Each field has a safe
/// default and a setter on `Server`.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Host name or IP address to bind (default `127.0.0.1`; use `0.0.0.0` to listen on
    /// every interface).
    pub host: String,
    /// TCP port (default 60000; 0 picks a free port, see `ServerHandle::local_addr`).
    pub port: u16,
    /// `TCP_NODELAY` on accepted sockets (default on: real-time traffic wants it).
    pub nodelay: bool,
    /// `SO_LINGER` on accepted sockets (default off).
    pub linger: Option<Duration>,
    /// Bytes read from a socket at a time (default 256 KiB: a 64 KiB message arrives in one
    /// read). The read buffer is shared per worker thread, so an idle connection holds none.
    pub read_buffer_size: usize,
    /// Limits of the HTTP/1.1 layer.
    pub http: HttpLimits,
    /// Limits and timers of WebSocket connections.
    pub ws: WsLimits,
    /// Outgoing bytes queued per connection above which senders wait (`send_body().await`,
    /// `Sender::send`) or are refused (`Sender::try_send`). Default 256 KiB.
    pub max_outgoing_queue: usize,
    /// Received WebSocket message bytes queued for the handler above which the connection
    /// stops reading from the peer. Default 1 MiB (one message is always accepted).
    pub max_inbound_queue: usize,
    /// Open connections above which the server stops accepting (default 100,000).
    pub max_connections: usize,
    /// Time graceful shutdown waits for connections to finish before dropping them
    /// (default 10 s).
    pub shutdown_timeout: Duration,
    /// Time a handler may keep running after its connection has closed (default 1 s); it
    /// sees the close as an empty body / `None` message / `Err` on send.
    pub handler_linger: Duration,
    /// WebSocket subprotocols the server speaks, most preferred first (default none). The
    /// handshake answers with the first of these that the client offered.
    pub ws_protocols: Vec<String>,
    /// permessage-deflate (RFC 7692): `None` (the default) declines every offer. Off by
    /// default because compression costs CPU on every message and, where a message mixes
    /// a secret with attacker-chosen text, its size can leak the secret (as CRIME did);
    /// an application turns it on knowing its traffic (`Server::enable_ws_deflate`).
    pub ws_deflate: Option<DeflateConfig>,
    /// Origins whose pages may open a WebSocket (default `None`: any). An upgrade from
    /// another origin gets `403`; see [`Server::ws_allowed_origins`](super::Server::ws_allowed_origins).
    pub ws_allowed_origins: Option<super::origin::OriginList>,
}

/// The subprotocol to answer with, as an index into `supported`: the first of `supported`
/// (server preference) that the client `offered`.
pub(crate) fn select_protocol(offered: &[String], supported: &[String]) -> Option<u16> {
    let i = supported.iter().position(|s| offered.contains(s))?;
    u16::try_from(i).ok()
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            host: "127.0.0.1".to_string(),
            port: 60000,
            nodelay: true,
            linger: None,
            read_buffer_size: 256 * 1024,
            http: HttpLimits::default(),
            ws: WsLimits::default(),
            max_outgoing_queue: 256 * 1024,
            max_inbound_queue: 1024 * 1024,
            max_connections: 100_000,
            shutdown_timeout: Duration::from_secs(10),
            handler_linger: Duration::from_secs(1),
            ws_protocols: Vec::new(),
            ws_deflate: None,
            ws_allowed_origins: None,
        }
    }
}
