//! Server-wide counters and gauges ([`ServerHandle::metrics`] → [`Metrics`]) and their
//! Prometheus text exposition ([`Server::metrics_handler`], [`metrics_handler`]).
//!
//! # How counting stays cheap
//!
//! Every counter is a relaxed atomic in the server's shared state, bumped where the event
//! already happens (accept loop, end of an HTTP exchange, WebSocket upgrade, Hub). The
//! per-message WebSocket counters are the only ones on the hot path, so they are first
//! kept in the connection's own state (under the lock the driver holds anyway, plain
//! adds) and added to the server's atomics when the connection's task goes to sleep and
//! when it ends: one batch of atomic adds per wake-up, not one per message. A snapshot can
//! therefore lag a busy connection by what it did since it last went idle.
//!
//! A protocol error ends its connection, so each connection records at most one, also
//! added when it ends.

use super::context::Context;
use super::handler::{BoxFuture, Handler};
use super::headers;
use super::runtime::Runtime;
use super::server::{Server, ServerHandle};
use crate::proto::http::HttpError;
use crate::proto::ws::{CloseCode, WsError};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// Kinds of protocol errors, as counted (a few buckets that call for different actions,
/// not every variant of [`HttpError`] and [`WsError`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProtocolErrorKind {
    /// A malformed HTTP request (400, 501, 505).
    HttpMalformed,
    /// An HTTP request over a size limit (413, 414, 431).
    HttpTooLarge,
    /// An HTTP head or body that did not arrive in time (408).
    HttpTimeout,
    /// A WebSocket framing or protocol violation (close 1002).
    WsProtocol,
    /// A WebSocket text message that is not UTF-8 (close 1007).
    WsInvalidUtf8,
    /// A WebSocket frame or message over its limit (close 1009).
    WsTooLarge,
    /// A WebSocket peer silent past the idle timeout.
    WsTimeout,
}

impl ProtocolErrorKind {
    /// Every kind, in the order of [`ProtocolErrors::counts`].
    pub const ALL: [ProtocolErrorKind; 7] = [
        ProtocolErrorKind::HttpMalformed,
        ProtocolErrorKind::HttpTooLarge,
        ProtocolErrorKind::HttpTimeout,
        ProtocolErrorKind::WsProtocol,
        ProtocolErrorKind::WsInvalidUtf8,
        ProtocolErrorKind::WsTooLarge,
        ProtocolErrorKind::WsTimeout,
    ];

    /// A short name (the `kind` label of the Prometheus exposition).
    pub fn as_str(self) -> &'static str {
        match self {
            ProtocolErrorKind::HttpMalformed => "http_malformed",
            ProtocolErrorKind::HttpTooLarge => "http_too_large",
            ProtocolErrorKind::HttpTimeout => "http_timeout",
            ProtocolErrorKind::WsProtocol => "ws_protocol",
            ProtocolErrorKind::WsInvalidUtf8 => "ws_invalid_utf8",
            ProtocolErrorKind::WsTooLarge => "ws_too_large",
            ProtocolErrorKind::WsTimeout => "ws_timeout",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// The bucket of an HTTP error.
    pub(crate) fn of_http(e: &HttpError) -> Self {
        match e.status() {
            408 => ProtocolErrorKind::HttpTimeout,
            413 | 414 | 431 => ProtocolErrorKind::HttpTooLarge,
            _ => ProtocolErrorKind::HttpMalformed,
        }
    }

    /// The bucket of a WebSocket error.
    pub(crate) fn of_ws(e: &WsError) -> Self {
        if matches!(e, WsError::IdleTimeout) {
            return ProtocolErrorKind::WsTimeout;
        }
        match e.close_code() {
            CloseCode::INVALID_PAYLOAD => ProtocolErrorKind::WsInvalidUtf8,
            CloseCode::TOO_BIG => ProtocolErrorKind::WsTooLarge,
            _ => ProtocolErrorKind::WsProtocol,
        }
    }
}

/// Protocol errors seen, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProtocolErrors {
    /// Counts in the order of [`ProtocolErrorKind::ALL`].
    pub counts: [u64; 7],
}

impl ProtocolErrors {
    /// The count of one kind.
    pub fn get(&self, kind: ProtocolErrorKind) -> u64 {
        self.counts[kind.index()]
    }

    /// All kinds together.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// A snapshot of a server's counters (totals since it started) and gauges (now).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Connections open now (gauge).
    pub connections_open: u64,
    /// Connections accepted.
    pub connections_accepted: u64,
    /// Connections that could not be accepted (accept errors such as EMFILE; the server
    /// backs off and goes on).
    pub connections_refused: u64,
    /// HTTP responses by status class: `[1xx, 2xx, 3xx, 4xx, 5xx]` (101 upgrades and the
    /// core's own error answers included).
    pub http_responses: [u64; 5],
    /// WebSocket connections opened (101 sent).
    pub ws_opened: u64,
    /// WebSocket connections ended.
    pub ws_closed: u64,
    /// WebSocket messages received (whole messages, after reassembly).
    pub ws_messages_in: u64,
    /// Payload bytes of the messages received.
    pub ws_bytes_in: u64,
    /// WebSocket messages queued to send (Hub publishes included, once per member).
    pub ws_messages_out: u64,
    /// Payload bytes of the messages queued to send.
    pub ws_bytes_out: u64,
    /// Protocol errors by kind.
    pub protocol_errors: ProtocolErrors,
    /// Members a [`Hub`](super::Hub) disconnected because their outgoing queue was full
    /// ([`SlowClientPolicy::Disconnect`](super::SlowClientPolicy::Disconnect)).
    pub slow_client_disconnects: u64,
    /// Messages a [`Hub`](super::Hub) skipped for a member whose queue was full
    /// ([`SlowClientPolicy::DropMessage`](super::SlowClientPolicy::DropMessage)).
    pub hub_drops: u64,
}

impl Metrics {
    /// HTTP responses of every class.
    pub fn http_responses_total(&self) -> u64 {
        self.http_responses.iter().sum()
    }

    /// The Prometheus text exposition format (version 0.0.4) of this snapshot, metric
    /// names prefixed `wirelane_`.
    pub fn to_prometheus(&self) -> String {
        let mut out = String::with_capacity(2048);
        let mut one = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = write!(
                out,
                "# HELP wirelane_{name} {help}\n# TYPE wirelane_{name} {kind}\nwirelane_{name} {value}\n"
            );
        };
        one(
            "connections_open",
            "gauge",
            "Connections open now.",
            self.connections_open,
        );
        one(
            "connections_accepted_total",
            "counter",
            "Connections accepted.",
            self.connections_accepted,
        );
        one(
            "connections_refused_total",
            "counter",
            "Accept errors (the server backs off and goes on).",
            self.connections_refused,
        );
        one(
            "ws_opened_total",
            "counter",
            "WebSocket connections opened.",
            self.ws_opened,
        );
        one(
            "ws_closed_total",
            "counter",
            "WebSocket connections ended.",
            self.ws_closed,
        );
        one(
            "ws_messages_received_total",
            "counter",
            "WebSocket messages received.",
            self.ws_messages_in,
        );
        one(
            "ws_received_bytes_total",
            "counter",
            "Payload bytes of WebSocket messages received.",
            self.ws_bytes_in,
        );
        one(
            "ws_messages_sent_total",
            "counter",
            "WebSocket messages queued to send.",
            self.ws_messages_out,
        );
        one(
            "ws_sent_bytes_total",
            "counter",
            "Payload bytes of WebSocket messages queued to send.",
            self.ws_bytes_out,
        );
        one(
            "slow_client_disconnects_total",
            "counter",
            "Hub members disconnected for a full outgoing queue.",
            self.slow_client_disconnects,
        );
        one(
            "hub_drops_total",
            "counter",
            "Messages a Hub skipped for a member with a full queue.",
            self.hub_drops,
        );
        out.push_str("# HELP wirelane_http_responses_total HTTP responses by status class.\n");
        out.push_str("# TYPE wirelane_http_responses_total counter\n");
        for (i, n) in self.http_responses.iter().enumerate() {
            let _ = writeln!(
                out,
                "wirelane_http_responses_total{{class=\"{}xx\"}} {n}",
                i + 1
            );
        }
        out.push_str("# HELP wirelane_protocol_errors_total Protocol errors by kind.\n");
        out.push_str("# TYPE wirelane_protocol_errors_total counter\n");
        for kind in ProtocolErrorKind::ALL {
            let n = self.protocol_errors.get(kind);
            let _ = writeln!(
                out,
                "wirelane_protocol_errors_total{{kind=\"{}\"}} {n}",
                kind.as_str()
            );
        }
        out
    }
}

/// What one connection counted since it last reported (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct ConnCounts {
    pub messages_in: u32,
    pub messages_out: u32,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Messages a Hub skipped for this connection (its queue was full).
    pub hub_drops: u32,
    /// A Hub closed this connection for being too slow.
    pub slow_disconnect: bool,
    /// The connection became a WebSocket (counted as one closed when it ends).
    pub websocket: bool,
}

impl ConnCounts {
    // `#[inline]` on these: they run per message, from other codegen units.
    #[inline]
    pub(crate) fn received(&mut self, bytes: usize) {
        self.messages_in += 1;
        self.bytes_in += bytes as u64;
    }

    #[inline]
    pub(crate) fn sent(&mut self, bytes: usize) {
        self.messages_out += 1;
        self.bytes_out += bytes as u64;
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.messages_in == 0
            && self.messages_out == 0
            && self.hub_drops == 0
            && !self.slow_disconnect
    }
}

/// The server's counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub accepted: AtomicU64,
    pub refused: AtomicU64,
    /// Connections ended (open = accepted - ended).
    ended: AtomicU64,
    http: [AtomicU64; 5],
    pub ws_opened: AtomicU64,
    pub ws_closed: AtomicU64,
    messages_in: AtomicU64,
    bytes_in: AtomicU64,
    messages_out: AtomicU64,
    bytes_out: AtomicU64,
    errors: [AtomicU64; 7],
    slow_client_disconnects: AtomicU64,
    hub_drops: AtomicU64,
}

impl Counters {
    /// Counts one HTTP response.
    pub(crate) fn response(&self, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.http[class].fetch_add(1, Relaxed);
    }

    pub(crate) fn protocol_error(&self, kind: ProtocolErrorKind) {
        self.errors[kind.index()].fetch_add(1, Relaxed);
    }

    /// Counts an HTTP protocol error, and the core's answer to it when no handler owns
    /// the request (a malformed or oversized head: the core answers alone).
    pub(crate) fn http_error(&self, e: &HttpError, core_answers: bool) {
        self.protocol_error(ProtocolErrorKind::of_http(e));
        #[cfg(feature = "tracing")]
        super::trace::protocol_error(ProtocolErrorKind::of_http(e), e);
        if core_answers {
            self.response(e.status());
        }
    }

    pub(crate) fn ws_error(&self, e: &WsError) {
        self.protocol_error(ProtocolErrorKind::of_ws(e));
        #[cfg(feature = "tracing")]
        super::trace::protocol_error(ProtocolErrorKind::of_ws(e), e);
    }

    pub(crate) fn ws_opened(&self) {
        self.response(101);
        self.ws_opened.fetch_add(1, Relaxed);
    }

    /// A connection ended: adds what it counted last.
    pub(crate) fn ended(&self, c: &mut ConnCounts) {
        if c.websocket {
            self.ws_closed.fetch_add(1, Relaxed);
        }
        self.take(c);
        self.ended.fetch_add(1, Relaxed);
    }

    /// Adds what a connection counted, and clears it (keeping whether it is a WebSocket).
    #[inline]
    pub(crate) fn take(&self, c: &mut ConnCounts) {
        if !c.is_empty() {
            self.add(c);
        }
    }

    fn add(&self, c: &mut ConnCounts) {
        if c.hub_drops > 0 {
            self.hub_drops.fetch_add(u64::from(c.hub_drops), Relaxed);
        }
        if c.slow_disconnect {
            self.slow_client_disconnects.fetch_add(1, Relaxed);
        }
        if c.messages_in > 0 {
            self.messages_in
                .fetch_add(u64::from(c.messages_in), Relaxed);
            self.bytes_in.fetch_add(c.bytes_in, Relaxed);
        }
        if c.messages_out > 0 {
            self.messages_out
                .fetch_add(u64::from(c.messages_out), Relaxed);
            self.bytes_out.fetch_add(c.bytes_out, Relaxed);
        }
        *c = ConnCounts {
            websocket: c.websocket,
            ..ConnCounts::default()
        };
    }

    pub(crate) fn snapshot(&self) -> Metrics {
        let get = |a: &AtomicU64| a.load(Relaxed);
        // `ended` first: read the other way, a connection accepted and ended in between
        // could make the difference negative.
        let ended = get(&self.ended);
        Metrics {
            connections_open: get(&self.accepted).saturating_sub(ended),
            connections_accepted: get(&self.accepted),
            connections_refused: get(&self.refused),
            http_responses: self.http.each_ref().map(get),
            ws_opened: get(&self.ws_opened),
            ws_closed: get(&self.ws_closed),
            ws_messages_in: get(&self.messages_in),
            ws_bytes_in: get(&self.bytes_in),
            ws_messages_out: get(&self.messages_out),
            ws_bytes_out: get(&self.bytes_out),
            protocol_errors: ProtocolErrors {
                counts: self.errors.each_ref().map(get),
            },
            slow_client_disconnects: get(&self.slow_client_disconnects),
            hub_drops: get(&self.hub_drops),
        }
    }
}

/// A handler that answers with a server's metrics in the Prometheus text format (from
/// [`Server::metrics_handler`](super::Server::metrics_handler) for the same server, or
/// [`metrics_handler`] with a [`ServerHandle`] for another one, such as an admin port).
#[derive(Clone)]
pub struct MetricsHandler {
    counters: Arc<Counters>,
}

impl std::fmt::Debug for MetricsHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsHandler").finish_non_exhaustive()
    }
}

impl Handler for MetricsHandler {
    fn call(&self, ctx: Context) -> BoxFuture {
        let text = self.counters.snapshot().to_prometheus();
        Box::pin(async move {
            ctx.set_response_header(headers::CONTENT_TYPE, PROMETHEUS_TYPE)
                .await
                .set_response_header(headers::CACHE_CONTROL, "no-store")
                .await
                .set_response_body(text)
                .await;
        })
    }

    fn accepts_websocket(&self) -> bool {
        false
    }
}

/// The content type of the Prometheus text format.
const PROMETHEUS_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A handler that serves `handle`'s metrics in the Prometheus text format (for example
/// on a separate admin server: `admin.get("/metrics", metrics_handler(&handle))`).
pub fn metrics_handler(handle: &ServerHandle) -> MetricsHandler {
    MetricsHandler {
        counters: handle.counters(),
    }
}

impl<R: Runtime> Server<R> {
    /// A handler that serves this server's metrics in the Prometheus text format:
    /// `server.get("/metrics", server.metrics_handler().await)`. Usable before the
    /// server starts (the counters exist from the moment the server is made).
    pub async fn metrics_handler(&self) -> MetricsHandler {
        MetricsHandler {
            counters: self.counters(),
        }
    }
}
