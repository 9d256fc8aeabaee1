//! The exchange side of the driver: what the protocol's events mean to the framework.
//!
//! Rules:
//! - HTTP: one request at a time. A request head starts its handler; the next pipelined
//!   request waits until that handler has returned (even if it already sent its
//!   response). Body events fill the request's slot; its end or failure wakes a handler
//!   waiting for the body. Events wait while our output piles up (the peer is not
//!   reading our responses).
//! - Upgrade: a request that asks for WebSocket on a route that has a handler is validated
//!   by the protocol layer (400/426 when invalid). Request middleware, if any, first sees
//!   it as an HTTP request and may refuse it by answering (401, 403...); otherwise the 101
//!   goes out, the connection switches to WebSocket, and the handler runs once for the
//!   life of the connection. Other upgrades (h2c...) are served as plain HTTP/1.1.
//! - WebSocket: messages queue for the handler up to `max_inbound_queue` bytes; then
//!   parsing (and so reading) stops. A handler waiting for a message is polled as soon as
//!   one is queued, before the next frame is parsed: replies keep their order with respect
//!   to a protocol error later in the same read, and a burst costs one handler poll per
//!   message rather than a driver round each.
//! - The handler's end completes what it left open: the response it built (or a 500 if it
//!   panicked before sending a head; a truncated stream is cut, never made to look
//!   complete), or the WebSocket (closed with 1000, or 1011 after a panic).
//! - Graceful shutdown: HTTP closes after the current response (at once when idle); a
//!   WebSocket gets 1001, also one upgraded after the shutdown began.

use super::Driver;
use crate::app::config::select_protocol;
use crate::app::conn::{BodyState, ConnState, Proto, RequestSlot};
use crate::app::context::{Context, Headers, Mode};
use crate::app::handler::{BoxFuture, SharedHandler};
use crate::app::origin;
use crate::app::router::RouteMatch;
use crate::app::runtime::{Runtime, Transport};
use crate::app::server::App;
use crate::proto::http::{BodyLength, HttpEvent, RequestHead, ResponseHead, ServerConnection};
use crate::proto::ws::{self, CloseCode, HandshakeRequest, WsConnection, WsEvent, WsState};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context as TaskCx, Poll};
use std::time::Instant;

/// What a request is routed to.
pub(super) enum Target {
    Handler(SharedHandler),
    NotFound,
    MethodNotAllowed(Vec<String>),
}

/// A WebSocket upgrade waiting for the request middleware (which may refuse it by sending a
/// response, e.g. 401) before the 101 goes out.
pub(crate) struct PendingUpgrade {
    request: HandshakeRequest,
    head: RequestHead,
    params: Vec<(String, String)>,
    target: Target,
}

/// What the handler future runs.
enum Run {
    /// Middleware (request middleware optional) and the routed target.
    Chain {
        target: Target,
        request_middleware: bool,
    },
    /// The request middleware alone, deciding on a pending upgrade.
    RequestMiddleware,
}

/// What the driver must do about the next protocol event (decided under the lock, done
/// after it is released).
enum Next {
    /// No event now (or events must wait).
    Wait,
    /// An event handled in place.
    Handled,
    /// A request head: start its handler.
    Request(RequestHead),
    /// A request that asks for a protocol switch.
    Upgrade(RequestHead),
    /// A message was queued for a handler that waits for one: poll it now. `batch_full`:
    /// enough output is queued that the driver should write before parsing more.
    Deliver { batch_full: bool },
}

impl<R: Runtime, T: Transport> Driver<R, T> {
    /// Turns protocol events into work for the framework; true when any event was taken.
    pub(super) fn process_events(&mut self, cx: &mut TaskCx<'_>, now: Instant) -> bool {
        let mut progress = false;
        loop {
            match self.next_event(cx) {
                Next::Wait => return progress,
                Next::Handled => {}
                Next::Request(head) => self.start_request(head, false),
                Next::Upgrade(head) => self.start_upgrade(head, now),
                Next::Deliver { batch_full } => {
                    self.poll_handler(cx, now);
                    if batch_full {
                        return true;
                    }
                }
            }
            progress = true;
        }
    }

    fn next_event(&mut self, cx: &mut TaskCx<'_>) -> Next {
        let output_cap = self.output_cap();
        let busy = self.handler.is_some();
        let inbound_limit = self.conn.config.max_inbound_queue;
        let mut guard = self.conn.lock();
        let st = &mut *guard;
        match &mut st.proto {
            Proto::Http(h) => {
                let h: &mut ServerConnection = h;
                if h.output().len() > output_cap {
                    // Pipelined requests wait while responses are not being read.
                    return Next::Wait;
                }
                let answered = st.request.as_ref().is_none_or(|s| s.finished);
                if busy && answered {
                    return Next::Wait;
                }
                match h.poll_event() {
                    None => Next::Wait,
                    Some(ev) => {
                        if let HttpEvent::Error(e) = &ev {
                            self.server.metrics.http_error(e, st.request.is_none());
                        }
                        http_event(st, ev, cx)
                    }
                }
            }
            Proto::Ws(w) => {
                let w: &mut WsConnection = w;
                // Stop parsing while the handler has enough queued, or while a peer that
                // does not read makes our replies (pongs, close) pile up.
                if st.ws.inbound_bytes >= inbound_limit || w.output().len() > output_cap {
                    return Next::Wait;
                }
                let Some(ev) = w.poll_event() else {
                    return Next::Wait;
                };
                let batch_full = w.output().len() >= super::socket::WRITE_BATCH;
                if let WsEvent::Error(e) = &ev {
                    self.server.metrics.ws_error(e);
                }
                ws_event(st, ev, cx, batch_full)
            }
            Proto::Done => Next::Wait,
        }
    }
}

/// Applies an HTTP event to the request slot, or says what the driver must start.
fn http_event(st: &mut ConnState, ev: HttpEvent, cx: &mut TaskCx<'_>) -> Next {
    match ev {
        HttpEvent::Head(head) => return Next::Request(head),
        HttpEvent::Upgrade(head) => return Next::Upgrade(head),
        HttpEvent::Body(b) => {
            if let Some(slot) = st.request.as_mut() {
                slot.body.extend_from_slice(&b);
            }
        }
        HttpEvent::BodyEnd { .. } => {
            if let Some(slot) = st.request.as_mut() {
                slot.body_state = BodyState::Complete;
            }
            st.wake_receiver(Some(cx.waker()));
        }
        HttpEvent::Error(_) => {
            if let Some(slot) = st.request.as_mut() {
                if slot.body_state == BodyState::Receiving {
                    slot.body_state = BodyState::Failed;
                }
            }
            st.wake_receiver(Some(cx.waker()));
        }
        HttpEvent::PeerClosed => {}
    }
    Next::Handled
}

/// Applies a WebSocket event to the handler's side of the connection.
fn ws_event(st: &mut ConnState, ev: WsEvent, cx: &mut TaskCx<'_>, batch_full: bool) -> Next {
    match ev {
        WsEvent::Message(m) => {
            st.ws.counts.received(m.len());
            st.ws.inbound_bytes += m.len();
            st.ws.inbound.push_back(m);
            let waiting = st.recv_waker.is_some();
            st.wake_receiver(Some(cx.waker()));
            if waiting {
                // Polled at once by the driver: the nudge is answered.
                st.nudged = false;
                return Next::Deliver { batch_full };
            }
        }
        WsEvent::PeerClose(_) | WsEvent::Closed | WsEvent::Error(_) => {
            #[cfg(feature = "tracing")]
            crate::app::trace::ws_event(&ev);
            st.ws.recv_done = true;
            st.wake_receiver(Some(cx.waker()));
            st.wake_senders(Some(cx.waker()));
        }
        _ => {}
    }
    Next::Handled
}

impl<R: Runtime, T: Transport> Driver<R, T> {
    fn route(&self, head: &RequestHead) -> (Target, Vec<(String, String)>) {
        match self.server.app.router.lookup(head.method(), head.path()) {
            RouteMatch::Found { handler, params } => (Target::Handler(handler), params),
            RouteMatch::MethodNotAllowed(allowed) => (Target::MethodNotAllowed(allowed), vec![]),
            RouteMatch::NotFound => (Target::NotFound, vec![]),
        }
    }

    /// Starts the handler future for a request or a WebSocket.
    fn start_handler(
        &mut self,
        head: RequestHead,
        params: Vec<(String, String)>,
        mode: Mode,
        run: Run,
    ) {
        let spare = self.take_spare_ctx();
        let ctx = Context::new(spare, self.conn.clone(), head, params, mode);
        let app = self.server.app.clone();
        self.handler = Some(match run {
            Run::Chain {
                target,
                request_middleware,
            } => chain(app, ctx.clone(), target, request_middleware),
            Run::RequestMiddleware => request_middleware_only(app, ctx.clone()),
        });
        #[cfg(feature = "tracing")]
        crate::app::trace::instrument_handler(&ctx, &mut self.handler);
        self.handler_due = true;
        self.ctx = Some(ctx);
    }

    /// Starts the handler of an HTTP request. `no_body`: no body events will follow.
    fn start_request(&mut self, head: RequestHead, no_body: bool) {
        let id = {
            let mut guard = self.conn.lock();
            let st = &mut *guard;
            let body = if no_body {
                BodyState::Complete
            } else {
                BodyState::Receiving
            };
            let id = open_request(&mut self.next_request, st, body);
            if let Proto::Http(h) = &mut st.proto {
                if self.shutdown_seen {
                    h.close_after_response();
                }
                if head.expects_continue() {
                    let _ = h.send_continue();
                }
            }
            id
        };
        let (target, params) = self.route(&head);
        let run = Run::Chain {
            target,
            request_middleware: true,
        };
        self.start_handler(head, params, Mode::Http { id }, run);
    }

    /// Handles a request that asks for a protocol switch.
    fn start_upgrade(&mut self, head: RequestHead, now: Instant) {
        if !head.headers().has_token("upgrade", "websocket") {
            // Another protocol (h2c...): ignore the offer and serve HTTP/1.1.
            return self.start_request(head, true);
        }
        let (target, params) = self.route(&head);
        if !matches!(&target, Target::Handler(h) if h.accepts_websocket()) {
            return self.start_request(head, true);
        }
        let request = match ws::validate_request(&head) {
            Ok(request) => request,
            Err(e) => {
                let (rh, body) = e.response();
                self.server.metrics.response(rh.status);
                if let Proto::Http(h) = &mut self.conn.lock().proto {
                    send_whole(h, &rh, body.as_bytes(), now);
                }
                return;
            }
        };
        if !origin::upgrade_allowed(self.conn.config.ws_allowed_origins.as_ref(), &head) {
            self.server.metrics.response(403);
            if let Proto::Http(h) = &mut self.conn.lock().proto {
                let (rh, body) = origin::forbidden();
                send_whole(h, &rh, &body, now);
            }
            return;
        }
        if self.server.app.request_middleware.is_empty() {
            return self.accept_websocket(request, head, params, target, true, now);
        }
        // Let the request middleware see the upgrade request first, as an HTTP request:
        // if it answers (401, 403...), that answer replaces the 101.
        let id = {
            let mut guard = self.conn.lock();
            open_request(&mut self.next_request, &mut guard, BodyState::Complete)
        };
        let (ctx_head, ctx_params) = (head.clone(), params.clone());
        self.pending_upgrade = Some(Box::new(PendingUpgrade {
            request,
            head,
            params,
            target,
        }));
        self.start_handler(
            ctx_head,
            ctx_params,
            Mode::Http { id },
            Run::RequestMiddleware,
        );
    }

    /// Sends the 101, switches the connection to WebSocket, and starts the handler (with the
    /// request middleware unless it already ran on the upgrade request).
    fn accept_websocket(
        &mut self,
        request: HandshakeRequest,
        head: RequestHead,
        params: Vec<(String, String)>,
        target: Target,
        request_middleware: bool,
        now: Instant,
    ) {
        let protocol = select_protocol(request.protocols(), &self.conn.config.ws_protocols);
        {
            let mut guard = self.conn.lock();
            let st = &mut *guard;
            let Proto::Http(h) = &mut st.proto else {
                return;
            };
            let chosen = protocol.map(|i| self.conn.config.ws_protocols[usize::from(i)].as_str());
            // permessage-deflate: the first acceptable offer, if the server has it on.
            let deflate = (self.server.app.ws_config.deflate.as_ref())
                .and_then(|c| ws::DeflateParams::negotiate(request.extensions(), c));
            let extensions = deflate.iter().map(|p| {
                let v = p.response_header();
                ("Sec-WebSocket-Extensions".into(), v.into())
            });
            let Ok(leftover) = h.accept_upgrade(request.response(chosen, extensions.collect()))
            else {
                return;
            };
            // The 101 (and anything queued before it) goes out first: the WebSocket takes
            // over the HTTP output queue as it is.
            let pending = std::mem::take(h.output());
            let mut w = WsConnection::with_shared_config(self.server.app.ws_config.clone(), now);
            *w.output() = pending;
            if let Some(p) = deflate {
                w.enable_deflate(p);
            }
            if !leftover.is_empty() {
                w.handle_input(&leftover, now);
            }
            if self.shutdown_seen {
                let _ = w.close(CloseCode::GOING_AWAY, "server shutting down", now);
            }
            st.proto = Proto::Ws(Box::new(w));
            st.request = None;
            st.ws.counts.websocket = true;
            #[cfg(feature = "tracing")]
            crate::app::trace::ws_opened(head.path(), chosen, "");
        }
        self.server.metrics.ws_opened();
        let run = Run::Chain {
            target,
            request_middleware,
        };
        self.start_handler(head, params, Mode::Ws { protocol }, run);
    }

    /// Polls the handler; true when it finished.
    pub(super) fn poll_handler(&mut self, cx: &mut TaskCx<'_>, now: Instant) -> bool {
        // Cleared even when no handler runs: a due flag left set would keep the round from
        // taking a stale nudge, and a nudge reported as progress forever is a busy loop
        // (found by the harness: `malformed_request_behind_a_blocked_response_does_not_spin`).
        self.handler_due = false;
        let Some(fut) = self.handler.as_mut() else {
            return false;
        };
        let panicked = match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(Poll::Pending) => return false,
            Ok(Poll::Ready(())) => false,
            Err(_) => true,
        };
        self.handler = None;
        self.handler_done(panicked, now);
        true
    }

    /// Completes what the handler left open: the pending upgrade, the HTTP response, or
    /// the WebSocket.
    fn handler_done(&mut self, panicked: bool, now: Instant) {
        if let Some(up) = self.pending_upgrade.take().map(|b| *b) {
            let refused = panicked || {
                let st = self.conn.lock();
                st.request.as_ref().is_none_or(|s| s.head_sent)
            };
            if !refused {
                self.ctx = None;
                self.conn.lock().request = None;
                let PendingUpgrade {
                    request,
                    head,
                    params,
                    target,
                } = up;
                return self.accept_websocket(request, head, params, target, false, now);
            }
            // Refused (or the middleware panicked): finish it as the HTTP request it was.
        }
        let Some(ctx) = self.ctx.take() else {
            return;
        };
        match ctx.inner.mode {
            Mode::Http { id } => {
                let headers = self.finish_http(&ctx, id, panicked, now);
                self.keep_context(ctx, headers);
            }
            Mode::Ws { .. } => {
                if let Proto::Ws(w) = &mut self.conn.lock().proto {
                    if w.state() == WsState::Open {
                        let code = if panicked {
                            CloseCode::INTERNAL
                        } else {
                            CloseCode::NORMAL
                        };
                        #[cfg(feature = "tracing")]
                        crate::app::trace::ws_closed(crate::app::trace::By::Server, Some(code), "");
                        let _ = w.close(code, "", now);
                    }
                }
            }
        }
    }

    /// Keeps the context of a finished request for the next one, if the application kept
    /// no clone of it (see [`Context::recycle`]); its head goes back to the protocol.
    fn keep_context(&mut self, ctx: Context, headers: Headers) {
        let Some((ctx, head)) = ctx.recycle(headers) else {
            return;
        };
        if let Proto::Http(h) = &mut self.conn.lock().proto {
            h.recycle_head(head);
            self.ctx = Some(ctx);
        }
    }

    /// Sends the response an HTTP handler built (or a 500 after a panic) when it did not
    /// send it itself, and ends a stream it left open.
    /// Returns the draft's header list, for the next request's draft.
    fn finish_http(&mut self, ctx: &Context, id: u64, panicked: bool, now: Instant) -> Headers {
        // The handler is done with the draft: take it rather than copy it.
        let (head, body) = {
            let mut d = ctx.inner.draft.lock();
            (d.take_head(), std::mem::take(&mut d.body))
        };
        let mut guard = self.conn.lock();
        let st = &mut *guard;
        let Proto::Http(h) = &mut st.proto else {
            return head.headers;
        };
        let Some(slot) = st.request.as_mut().filter(|s| s.id == id) else {
            return head.headers;
        };
        let status = if !panicked || slot.head_sent {
            head.status
        } else {
            500
        };
        self.server.metrics.response(status);
        #[cfg(feature = "tracing")]
        crate::app::trace::response(ctx, status);
        if !slot.head_sent {
            if panicked {
                h.close_after_response();
                let (head, body) = internal_error();
                send_whole(h, &head, body, now);
            } else {
                send_whole(h, &head, body.as_bytes(), now);
            }
        } else if !slot.finished {
            if panicked {
                // A truncated stream must not look complete: drop the connection.
                drop(guard);
                self.end_now(now);
                return head.headers;
            }
            let _ = h.finish_response();
        }
        st.request = None;
        head.headers
    }

    /// Reacts to the server starting a graceful shutdown; true the first time.
    pub(super) fn check_shutdown(&mut self, now: Instant) -> bool {
        if self.shutdown_seen
            || self.phase != super::socket::Phase::Open
            || !self.server.shutting_down.load(Ordering::Acquire)
        {
            return false;
        }
        self.shutdown_seen = true;
        match &mut self.conn.lock().proto {
            // Closes at once when no request is in progress.
            Proto::Http(h) => h.close_after_response(),
            Proto::Ws(w) => {
                if w.state() == WsState::Open {
                    #[cfg(feature = "tracing")]
                    crate::app::trace::ws_closed(
                        crate::app::trace::By::Server,
                        Some(CloseCode::GOING_AWAY),
                        "server shutting down",
                    );
                    let _ = w.close(CloseCode::GOING_AWAY, "server shutting down", now);
                }
            }
            Proto::Done => {}
        }
        true
    }
}

/// Opens the slot of a new HTTP request, numbered from `next`; returns its id.
fn open_request(next: &mut u64, st: &mut ConnState, body_state: BodyState) -> u64 {
    let id = *next;
    *next += 1;
    st.request = Some(RequestSlot {
        id,
        body: Vec::new(),
        body_state,
        head_sent: false,
        finished: false,
    });
    id
}

/// The answer to a handler that panicked before sending anything.
fn internal_error() -> (ResponseHead, &'static [u8]) {
    let head = ResponseHead::new(500).header("content-type", "text/plain; charset=utf-8");
    (head, b"Internal Server Error\n")
}

/// Sends a whole response with a known length.
fn send_whole(h: &mut ServerConnection, head: &ResponseHead, body: &[u8], now: Instant) {
    h.set_date(crate::app::date::at(now));
    let _ = h.send_response_ref(head, BodyLength::Known(body.len() as u64));
    if !body.is_empty() {
        let _ = h.send_body_slice(body);
    }
    let _ = h.finish_response();
}

/// The request middleware alone, on a WebSocket upgrade request (see `PendingUpgrade`).
fn request_middleware_only(app: Arc<App>, ctx: Context) -> BoxFuture {
    Box::pin(async move {
        for m in &app.request_middleware {
            m.call(ctx.clone()).await;
            if ctx.is_response_sent().await {
                return;
            }
        }
    })
}

/// The future that runs middlewares and the handler for one request or WebSocket.
fn chain(app: Arc<App>, ctx: Context, target: Target, request_middleware: bool) -> BoxFuture {
    let skip_request = !request_middleware || app.request_middleware.is_empty();
    if skip_request && app.response_middleware.is_empty() {
        if let Target::Handler(h) = &target {
            // Nothing to wrap: the handler's own future is the whole chain (one allocation
            // less per request, and less memory per idle WebSocket).
            return h.call(ctx);
        }
    }
    Box::pin(async move {
        if !skip_request {
            for m in &app.request_middleware {
                m.call(ctx.clone()).await;
                if !ctx.is_websocket() && ctx.is_response_sent().await {
                    return;
                }
            }
        }
        match target {
            Target::Handler(h) => h.call(ctx.clone()).await,
            Target::NotFound => {
                ctx.set_response_status_code(404)
                    .await
                    .set_response_body("Not Found\n")
                    .await;
            }
            Target::MethodNotAllowed(allowed) => {
                ctx.set_response_status_code(405)
                    .await
                    .set_response_header("allow", allowed.join(", "))
                    .await
                    .set_response_body("Method Not Allowed\n")
                    .await;
            }
        }
        for m in &app.response_middleware {
            m.call(ctx.clone()).await;
        }
    })
}
