//! Spans and events through the `tracing` facade (feature `tracing`).
//!
//! What is emitted (target `wirelane`):
//! - span `connection` (INFO) around the whole life of a connection: `peer`, `protocol`
//!   (`http`, then `websocket` after an upgrade);
//! - span `request` (DEBUG) around each HTTP request's handler (so a handler's own events
//!   carry it): `method`, `path`, and, once answered, `status` and `duration_us`; an
//!   event `response` (DEBUG) when its handler is done, with the same fields;
//! - WebSocket events (DEBUG): `websocket opened` (`path`, `subprotocol`, `extensions`),
//!   `websocket closed` (`code`, `reason`, `by`: `peer` or `server`), `protocol error`
//!   (`kind`, `error`; HTTP ones too).
//!
//! Without the feature none of this is compiled. With it and no subscriber (or one that
//! filters these levels out), each call site costs a check of `tracing`'s global maximum
//! level, a relaxed atomic load, and the request's clock is never read.

use super::context::Context;
use super::handler::BoxFuture;
use super::metrics::ProtocolErrorKind;
use crate::proto::ws::{CloseCode, WsEvent};
use std::fmt::Display;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context as TaskCx, Poll};
use std::time::Instant;
use tracing::{debug, debug_span, field, info_span, Instrument, Span};

/// The span state of one HTTP request, kept in its context.
#[derive(Debug)]
pub(crate) struct RequestSpan {
    span: Span,
    /// `None` when the span is disabled: the clock is read only for a span that is kept.
    started: Option<Instant>,
}

impl RequestSpan {
    pub(crate) fn new(head: &crate::proto::http::RequestHead) -> Self {
        // The fields are read only when the span is enabled.
        let span = debug_span!(
            target: "wirelane",
            "request",
            method = head.method().as_str(),
            path = head.path(),
            status = field::Empty,
            duration_us = field::Empty
        );
        let started = (!span.is_disabled()).then(Instant::now);
        RequestSpan { span, started }
    }

    /// A WebSocket keeps its upgrade request's context for life: no request span.
    pub(crate) fn none() -> Self {
        RequestSpan {
            span: Span::none(),
            started: None,
        }
    }
}

/// `driver`, run inside a new `connection` span; as it is when the span is disabled, so
/// that without a subscriber no poll pays for entering and leaving a span.
pub(crate) fn connection<F: Future + Unpin>(driver: F, peer: SocketAddr) -> Connection<F> {
    let span = info_span!(
        target: "wirelane",
        "connection",
        %peer,
        protocol = "http"
    );
    if span.is_disabled() {
        Connection::Plain(driver)
    } else {
        Connection::Traced(Box::new(driver.instrument(span)))
    }
}

/// A connection's driver, in its span or not (see [`connection`]). The traced one is boxed:
/// this is the future of every connection's task, and a span beside the driver would make
/// every task larger (tokio rounds a task up to a multiple of 128 bytes), subscriber or not.
pub(crate) enum Connection<F> {
    Plain(F),
    Traced(Box<tracing::instrument::Instrumented<F>>),
}

impl<F: Future + Unpin> Future for Connection<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<F::Output> {
        match self.get_mut() {
            Connection::Plain(f) => Pin::new(f).poll(cx),
            Connection::Traced(f) => Pin::new(f).poll(cx),
        }
    }
}

/// Runs the request's handler inside its span, when the span is enabled (otherwise the
/// future is left as it is: no extra allocation without a subscriber).
pub(crate) fn instrument_handler(ctx: &Context, handler: &mut Option<BoxFuture>) {
    if ctx.inner.trace.started.is_none() {
        return;
    }
    if let Some(fut) = handler.take() {
        *handler = Some(Box::pin(fut.instrument(ctx.inner.trace.span.clone())));
    }
}

/// A WebSocket event that ends the connection, seen by the driver.
pub(crate) fn ws_event(ev: &WsEvent) {
    match ev {
        WsEvent::PeerClose(frame) => ws_closed(
            By::Peer,
            frame.as_ref().map(|f| f.code),
            frame.as_ref().map_or("", |f| f.reason.as_str()),
        ),
        WsEvent::Error(e) => ws_closed(By::Server, Some(e.close_code()), &e.to_string()),
        _ => {}
    }
}

/// An HTTP request's handler is done; `status` was (or is being) sent.
pub(crate) fn response(ctx: &Context, status: u16) {
    let t = &ctx.inner.trace;
    let Some(started) = t.started else {
        return;
    };
    let duration_us = started.elapsed().as_micros() as u64;
    t.span.record("status", status);
    t.span.record("duration_us", duration_us);
    debug!(target: "wirelane", parent: &t.span, status, duration_us, "response");
}

/// The connection became a WebSocket.
pub(crate) fn ws_opened(path: &str, subprotocol: Option<&str>, extensions: &str) {
    Span::current().record("protocol", "websocket");
    debug!(
        target: "wirelane",
        path,
        subprotocol = subprotocol.unwrap_or(""),
        extensions,
        "websocket opened"
    );
}

/// Who closed a WebSocket.
#[derive(Debug, Clone, Copy)]
pub(crate) enum By {
    Peer,
    Server,
}

/// A WebSocket close handshake began.
pub(crate) fn ws_closed(by: By, code: Option<CloseCode>, reason: &str) {
    let by = match by {
        By::Peer => "peer",
        By::Server => "server",
    };
    debug!(
        target: "wirelane",
        code = code.map(|c| c.0),
        reason,
        by,
        "websocket closed"
    );
}

/// The peer broke the protocol (the connection answers and closes).
pub(crate) fn protocol_error(kind: ProtocolErrorKind, error: &dyn Display) {
    debug!(target: "wirelane", kind = kind.as_str(), %error, "protocol error");
}
