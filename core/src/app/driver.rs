//! The connection driver: one future per connection that moves bytes between the socket
//! and the protocol state machine, and polls the handler, all in the same task.
//!
//! Each poll runs rounds of: read (if the protocol wants input and the handler keeps up)
//! → turn protocol events into request bodies / queued messages, polling a handler that
//! waits for a message as soon as one is queued → poll the handler if something it waits
//! on changed → write everything queued with one vectored write once nothing else moves →
//! advance the close sequence → when the connection goes quiet, register the next
//! deadline with the server's shared deadline map (`deadlines.rs`). Rounds repeat while
//! any step made progress, up to a budget, after which the task yields so one busy
//! connection cannot starve others.
//!
//! Close sequence (`Phase`): `Open` → (protocol finished and output written) `Closing`
//! (shutdown of the write half) → `Draining` (read and discard what the peer still sends,
//! briefly, so our last response is not destroyed by a reset) → `Done`. A handler still
//! running at `Done` may linger for `handler_linger`, seeing the connection as closed.

use super::config::select_protocol;
use super::conn::{BodyState, ConnShared, Proto, RequestSlot};
use super::context::{message_len, Context, Mode};
use super::handler::{BoxFuture, SharedHandler};
use super::router::RouteMatch;
use super::runtime::{Runtime, Transport};
use super::server::{App, ServerShared};
use crate::proto::http::{BodyLength, HttpEvent, RequestHead, ResponseHead};
use crate::proto::ws::{self, CloseCode, HandshakeRequest, WsConnection, WsEvent, WsState};
use bytes::Bytes;
use std::cell::RefCell;
use std::future::Future;
use std::io::{self, IoSlice};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context as TaskCx, Poll};
use std::time::{Duration, Instant};

/// Rounds per poll before yielding to other tasks.
const ROUNDS_PER_POLL: usize = 32;
/// Queued output that is written at once rather than batched further.
const WRITE_BATCH: usize = 64 * 1024;
/// Buffers handed to one vectored write.
const MAX_IOVECS: usize = 64;
/// Unparsed WebSocket input above which the driver stops reading.
const WS_READ_PAUSE: usize = 256 * 1024;
/// How long, and how much, we read and discard after shutting down our write half. The
/// byte budget is large on purpose: a peer still sending an oversized frame when we fail
/// the connection (1009) must not get a reset that destroys our close frame.
const DRAIN_TIME: Duration = Duration::from_secs(2);
const DRAIN_BYTES: usize = 64 * 1024 * 1024;

thread_local! {
    /// One read buffer per worker thread, so that idle connections hold none.
    static READ_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Open,
    Closing,
    Draining { until: Instant, budget: usize },
    Done { at: Instant },
}

/// What a request is routed to.
enum Target {
    Handler(SharedHandler),
    NotFound,
    MethodNotAllowed(Vec<String>),
}

pub(crate) struct Driver<R: Runtime> {
    io: R::Stream,
    conn: Arc<ConnShared>,
    server: Arc<ServerShared>,
    id: u64,
    handler: Option<BoxFuture>,
    ctx: Option<Context>,
    next_request: u64,
    /// The deadline registered with the server's [`Deadlines`](super::deadlines).
    armed: Option<Instant>,
    read_eof: bool,
    /// The protocol has parsed everything it was given: reading more is useful. While it
    /// still holds unparsed input, reading waits, so a burst of messages costs one read.
    input_parsed: bool,
    phase: Phase,
    shutdown_seen: bool,
    /// Close an idle keep-alive connection (graceful shutdown).
    close_when_idle: bool,
    /// A valid WebSocket upgrade held back while request middleware decides on it.
    /// Boxed: it is rare and large, and the driver lives as long as the connection.
    pending_upgrade: Option<Box<PendingUpgrade>>,
    /// The socket said "no data" during this poll, so it will wake the task when data
    /// comes: reading again before the next wake-up would only repeat the answer.
    read_registered: bool,
    /// The last read returned less than it asked for: ask the transport whether more data
    /// came before reading again (see `Transport::poll_read_ready`).
    short_read: bool,
    /// The handler must be polled in this turn (new, or the task was woken from outside,
    /// perhaps for it); otherwise it is polled only when the state it waits on changes
    /// (`ConnState::nudged`).
    handler_due: bool,
}

/// A WebSocket upgrade waiting for the request middleware (which may refuse it by sending a
/// response, e.g. 401) before the 101 goes out.
struct PendingUpgrade {
    request: HandshakeRequest,
    head: RequestHead,
    params: Vec<(String, String)>,
    target: Target,
}

// The driver never pins its fields in place (it only uses them through `&mut`).
impl<R: Runtime> Unpin for Driver<R> {}

impl<R: Runtime> Driver<R> {
    pub(crate) fn new(
        io: R::Stream,
        conn: Arc<ConnShared>,
        server: Arc<ServerShared>,
        id: u64,
    ) -> Self {
        Driver {
            io,
            conn,
            server,
            id,
            handler: None,
            ctx: None,
            next_request: 0,
            armed: None,
            read_eof: false,
            input_parsed: true,
            phase: Phase::Open,
            shutdown_seen: false,
            close_when_idle: false,
            pending_upgrade: None,
            read_registered: false,
            short_read: false,
            handler_due: true,
        }
    }

    /// Output queued above which the driver stops reading and parsing: twice the
    /// senders' high-water mark, so protocol replies (pongs, close echoes, pipelined
    /// responses) cannot grow the queue without bound when the peer does not read.
    fn output_cap(&self) -> usize {
        self.conn
            .config
            .max_outgoing_queue
            .saturating_mul(2)
            .max(64 * 1024)
    }

    /// Reads once from the socket into the protocol, if it wants input.
    fn read(&mut self, cx: &mut TaskCx<'_>) -> io::Result<bool> {
        if self.read_eof || !self.input_parsed || self.read_registered {
            return Ok(false);
        }
        let output_cap = self.output_cap();
        let wants = {
            let mut st = self.conn.lock();
            match &mut st.proto {
                Proto::Http(h) => h.wants_read() && h.output().len() <= output_cap,
                Proto::Ws(w) => {
                    w.buffered_input() < WS_READ_PAUSE
                        && !w.is_closed()
                        && w.output().len() <= output_cap
                }
                Proto::Done => false,
            }
        };
        if !wants {
            return Ok(false);
        }
        if self.short_read {
            match self.io.poll_read_ready(cx) {
                Poll::Pending => {
                    self.read_registered = true;
                    return Ok(false);
                }
                Poll::Ready(r) => {
                    self.short_read = false;
                    r?;
                }
            }
        }
        let size = self.conn.config.read_buffer_size.max(512);
        READ_BUF.with(|cell| {
            let mut buf = cell.borrow_mut();
            if buf.len() < size {
                buf.resize(size, 0);
            }
            match self.io.poll_read(cx, &mut buf[..size]) {
                Poll::Pending => {
                    self.read_registered = true;
                    Ok(false)
                }
                Poll::Ready(Err(e)) => Err(e),
                Poll::Ready(Ok(n)) => {
                    let now = R::now();
                    self.input_parsed = false;
                    self.short_read = n > 0 && n < size;
                    let mut st = self.conn.lock();
                    if n == 0 {
                        self.read_eof = true;
                    }
                    match &mut st.proto {
                        Proto::Http(h) if n == 0 => h.handle_eof(),
                        Proto::Http(h) => h.handle_input(&buf[..n], now),
                        Proto::Ws(w) if n == 0 => w.handle_eof(now),
                        Proto::Ws(w) => w.handle_input(&buf[..n], now),
                        Proto::Done => {}
                    }
                    Ok(true)
                }
            }
        })
    }

    /// Nothing more to do until the next wake-up: give back buffer memory that holds
    /// nothing, so thousands of idle connections cost little.
    fn release_idle(&mut self) {
        let mut st = self.conn.lock();
        if st.ws.inbound.is_empty() && st.ws.inbound.capacity() > 0 {
            st.ws.inbound = Default::default();
        }
        match &mut st.proto {
            Proto::Ws(w) => w.release_idle_buffers(),
            Proto::Http(h) => h.output().release_idle(),
            Proto::Done => {}
        }
    }

    /// [`Driver::read`] while the connection is open; a read error ends the connection.
    fn read_or_fail(&mut self, cx: &mut TaskCx<'_>) -> bool {
        if self.phase != Phase::Open {
            return false;
        }
        match self.read(cx) {
            Ok(p) => p,
            Err(_) => {
                self.end_now(R::now());
                true
            }
        }
    }

    /// Bytes waiting to be written.
    fn queued(&self) -> usize {
        let mut st = self.conn.lock();
        st.proto.output().map_or(0, |o| o.len())
    }

    /// Writes what is queued (while the close sequence still writes); true when that
    /// calls for another round (see [`Driver::write`]). A write error ends the connection.
    fn flush(&mut self, cx: &mut TaskCx<'_>) -> bool {
        if !matches!(self.phase, Phase::Open | Phase::Closing) {
            return false;
        }
        match self.write(cx) {
            Ok(p) => p,
            Err(_) => {
                self.end_now(R::now());
                true
            }
        }
    }

    /// Writes queued output until the queue is empty or the socket is full. Returns
    /// whether the write unblocked something that needs another round: input and parsing
    /// held back by a full output queue, or a sender in this task (nudged). Writing alone
    /// does not: the round that called it goes on to the close sequence and the timer.
    fn write(&mut self, cx: &mut TaskCx<'_>) -> io::Result<bool> {
        let limit = self.conn.config.max_outgoing_queue;
        let cap = self.output_cap();
        let mut unblocked = false;
        loop {
            let mut st = self.conn.lock();
            let nudged = st.nudged;
            let Some(out) = st.proto.output() else {
                return Ok(unblocked || nudged);
            };
            if out.is_empty() {
                return Ok(unblocked || nudged);
            }
            let was_over = out.len() > cap;
            let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
            let n = out.io_slices(&mut slices);
            match self.io.poll_write_vectored(cx, &slices[..n]) {
                Poll::Pending => return Ok(unblocked || nudged),
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Ready(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
                Poll::Ready(Ok(k)) => {
                    out.advance(k);
                    let left = out.len();
                    unblocked |= was_over && left <= cap;
                    if left <= limit && !st.send_wakers.is_empty() {
                        st.wake_senders(Some(cx.waker()));
                    }
                }
            }
        }
    }

    /// Turns protocol events into work for the framework.
    fn process_events(&mut self, cx: &mut TaskCx<'_>) -> bool {
        let mut progress = false;
        let inbound_limit = self.conn.config.max_inbound_queue;
        let output_cap = self.output_cap();
        loop {
            let mut guard = self.conn.lock();
            let st = &mut *guard;
            match &mut st.proto {
                Proto::Http(h) => {
                    if h.output().len() > output_cap {
                        // Pipelined requests wait while responses are not being read.
                        return progress;
                    }
                    // The next pipelined request waits until the previous handler has
                    // returned, even if it already sent its response.
                    let answered = st.request.as_ref().is_none_or(|s| s.finished);
                    if self.handler.is_some() && answered {
                        return progress;
                    }
                    let Some(ev) = h.poll_event() else {
                        self.input_parsed = true;
                        return progress;
                    };
                    progress = true;
                    match ev {
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
                        HttpEvent::Head(head) => {
                            drop(guard);
                            self.start_http(head, false);
                        }
                        HttpEvent::Upgrade(head) => {
                            drop(guard);
                            self.start_upgrade(head);
                        }
                    }
                }
                Proto::Ws(w) => {
                    // Stop parsing while the handler has enough queued, or while a peer that
                    // does not read makes our replies (pongs, close) pile up.
                    if st.ws.inbound_bytes >= inbound_limit || w.output().len() > output_cap {
                        return progress;
                    }
                    let Some(ev) = w.poll_event() else {
                        self.input_parsed = true;
                        return progress;
                    };
                    progress = true;
                    match ev {
                        WsEvent::Message(m) => {
                            let batch_full = w.output().len() >= WRITE_BATCH;
                            st.ws.inbound_bytes += message_len(&m);
                            st.ws.inbound.push_back(m);
                            // A handler waiting for this message gets to answer it before
                            // the next frame is parsed, so replies keep their order with
                            // respect to a protocol error later in the same read. It is
                            // polled right here rather than in a new round of the driver
                            // loop: a burst of small messages then costs one lock and one
                            // handler poll per message, not a whole round each.
                            let waiting = st.recv_waker.is_some();
                            st.wake_receiver(Some(cx.waker()));
                            if waiting {
                                // Polled now: the nudge is answered.
                                st.nudged = false;
                                drop(guard);
                                self.poll_handler(cx);
                                if batch_full {
                                    return progress;
                                }
                            }
                        }
                        WsEvent::PeerClose(_) | WsEvent::Closed | WsEvent::Error(_) => {
                            st.ws.recv_done = true;
                            st.wake_receiver(Some(cx.waker()));
                            st.wake_senders(Some(cx.waker()));
                        }
                        _ => {}
                    }
                }
                Proto::Done => return progress,
            }
        }
    }

    fn route(&self, head: &RequestHead) -> (Target, Vec<(String, String)>) {
        match self.server.app.router.lookup(head.method(), head.path()) {
            RouteMatch::Found { handler, params } => (Target::Handler(handler), params),
            RouteMatch::MethodNotAllowed(allowed) => (Target::MethodNotAllowed(allowed), vec![]),
            RouteMatch::NotFound => (Target::NotFound, vec![]),
        }
    }

    /// Starts a handler for an HTTP request. `no_body`: no body events will follow.
    fn start_http(&mut self, head: RequestHead, no_body: bool) {
        let id = self.next_request;
        self.next_request += 1;
        {
            let mut guard = self.conn.lock();
            let st = &mut *guard;
            st.request = Some(RequestSlot {
                id,
                body: Vec::new(),
                body_state: if no_body {
                    BodyState::Complete
                } else {
                    BodyState::Receiving
                },
                head_sent: false,
                finished: false,
            });
            if let Proto::Http(h) = &mut st.proto {
                if self.shutdown_seen {
                    h.close_after_response();
                }
                if head.expects_continue() {
                    let _ = h.send_continue();
                }
            }
        }
        let (target, params) = self.route(&head);
        let ctx = Context::new(self.conn.clone(), head, params, Mode::Http { id });
        self.handler = Some(chain(self.server.app.clone(), ctx.clone(), target, true));
        self.handler_due = true;
        self.ctx = Some(ctx);
    }

    /// Handles a request that asks for a protocol switch.
    fn start_upgrade(&mut self, head: RequestHead) {
        if !head.headers().has_token("upgrade", "websocket") {
            // Another protocol (h2c...): ignore the offer and serve HTTP/1.1.
            return self.start_http(head, true);
        }
        let (target, params) = self.route(&head);
        let Target::Handler(_) = target else {
            return self.start_http(head, true);
        };
        let mut guard = self.conn.lock();
        let st = &mut *guard;
        let Proto::Http(h) = &mut st.proto else {
            return;
        };
        match ws::validate_request(&head) {
            Err(e) => {
                let (rh, body) = e.response();
                h.set_date(super::date::now());
                let _ = h.send_response(rh, BodyLength::Known(body.len() as u64));
                let _ = h.send_body(Bytes::from(body));
                let _ = h.finish_response();
            }
            Ok(request) if !self.server.app.request_middleware.is_empty() => {
                // Let the request middleware see the upgrade request first, as an HTTP
                // request: if it answers (401, 403...), that answer replaces the 101.
                let id = self.next_request;
                self.next_request += 1;
                st.request = Some(RequestSlot {
                    id,
                    body: Vec::new(),
                    body_state: BodyState::Complete,
                    head_sent: false,
                    finished: false,
                });
                drop(guard);
                let ctx = Context::new(
                    self.conn.clone(),
                    head.clone(),
                    params.clone(),
                    Mode::Http { id },
                );
                self.pending_upgrade = Some(Box::new(PendingUpgrade {
                    request,
                    head,
                    params,
                    target,
                }));
                self.handler = Some(request_middleware_only(
                    self.server.app.clone(),
                    ctx.clone(),
                ));
                self.handler_due = true;
                self.ctx = Some(ctx);
            }
            Ok(request) => {
                drop(guard);
                self.accept_websocket(request, head, params, target, true);
            }
        }
    }

    /// Sends the 101, switches the connection to WebSocket, and starts the handler (with the
    /// request middleware unless it already ran on the upgrade request).
    fn accept_websocket(
        &mut self,
        request: HandshakeRequest,
        head: RequestHead,
        params: Vec<(String, String)>,
        target: Target,
        with_request_middleware: bool,
    ) {
        let now = R::now();
        let mut guard = self.conn.lock();
        let st = &mut *guard;
        let Proto::Http(h) = &mut st.proto else {
            return;
        };
        let protocol = select_protocol(request.protocols(), &self.conn.config.ws_protocols);
        let response = request.response(protocol, Vec::new());
        let Ok(leftover) = h.accept_upgrade(response) else {
            return;
        };
        // The 101 (and anything queued before it) goes out first: the WebSocket takes over
        // the HTTP output queue as it is.
        let pending = std::mem::take(h.output());
        let mut w = WsConnection::with_shared_config(self.server.app.ws_config.clone(), now);
        *w.output() = pending;
        if !leftover.is_empty() {
            w.handle_input(&leftover, now);
        }
        if self.shutdown_seen {
            let _ = w.close(CloseCode::GOING_AWAY, "server shutting down", now);
        }
        st.proto = Proto::Ws(Box::new(w));
        st.request = None;
        drop(guard);
        let ctx = Context::new(self.conn.clone(), head, params, Mode::Ws);
        let with = with_request_middleware;
        self.handler = Some(chain(self.server.app.clone(), ctx.clone(), target, with));
        self.handler_due = true;
        self.ctx = Some(ctx);
    }

    /// Polls the handler; true when it finished.
    fn poll_handler(&mut self, cx: &mut TaskCx<'_>) -> bool {
        let Some(fut) = self.handler.as_mut() else {
            return false;
        };
        self.handler_due = false;
        let outcome = catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx)));
        match outcome {
            Ok(Poll::Pending) => false,
            Ok(Poll::Ready(())) => {
                self.handler = None;
                self.handler_done(false);
                true
            }
            Err(_) => {
                self.handler = None;
                self.handler_done(true);
                true
            }
        }
    }

    /// Completes what the handler left open: the HTTP response, or the WebSocket.
    fn handler_done(&mut self, panicked: bool) {
        if let Some(up) = self.pending_upgrade.take().map(|b| *b) {
            let refused = panicked || {
                let st = self.conn.lock();
                st.request.as_ref().is_none_or(|s| s.head_sent)
            };
            if !refused {
                self.ctx = None;
                self.conn.lock().request = None;
                return self.accept_websocket(up.request, up.head, up.params, up.target, false);
            }
            // Refused (or the middleware panicked): finish it as the HTTP request it was.
        }
        let Some(ctx) = self.ctx.take() else {
            return;
        };
        // The handler is done with the draft: take it rather than copy it.
        let draft = ctx
            .inner
            .draft
            .lock()
            .map(|mut d| {
                let head = d.take_head();
                (head, std::mem::take(&mut d.body.bytes))
            })
            .ok();
        let mut guard = self.conn.lock();
        let st = &mut *guard;
        match (&mut st.proto, ctx.inner.mode) {
            (Proto::Http(h), Mode::Http { id }) => {
                let Some(slot) = st.request.as_mut().filter(|s| s.id == id) else {
                    return;
                };
                h.set_date(super::date::now());
                if !slot.head_sent {
                    let (head, body) = match (draft, panicked) {
                        (Some(d), false) => d,
                        _ => {
                            h.close_after_response();
                            (
                                ResponseHead::new(500)
                                    .header("content-type", "text/plain; charset=utf-8"),
                                Bytes::from_static(b"Internal Server Error\n"),
                            )
                        }
                    };
                    let _ = h.send_response(head, BodyLength::Known(body.len() as u64));
                    if !body.is_empty() {
                        let _ = h.send_body(body);
                    }
                    let _ = h.finish_response();
                } else if !slot.finished {
                    if panicked {
                        // A truncated stream must not look complete: drop the connection.
                        drop(guard);
                        self.end_now(R::now());
                        return;
                    }
                    let _ = h.finish_response();
                }
                st.request = None;
            }
            (Proto::Ws(w), Mode::Ws) if w.state() == WsState::Open => {
                let code = if panicked {
                    CloseCode::INTERNAL
                } else {
                    CloseCode::NORMAL
                };
                let _ = w.close(code, "", R::now());
            }
            _ => {}
        }
    }

    /// Reacts to the server starting a graceful shutdown.
    fn check_shutdown(&mut self) -> bool {
        if self.shutdown_seen || !self.server.shutting_down.load(Ordering::Acquire) {
            return false;
        }
        self.shutdown_seen = true;
        let now = R::now();
        let busy = self.handler.is_some();
        let mut st = self.conn.lock();
        match &mut st.proto {
            Proto::Http(h) => {
                if !busy && h.is_idle() {
                    self.close_when_idle = true;
                } else {
                    h.close_after_response();
                }
            }
            Proto::Ws(w) => {
                if w.state() == WsState::Open {
                    let _ = w.close(CloseCode::GOING_AWAY, "server shutting down", now);
                }
            }
            Proto::Done => {}
        }
        true
    }

    /// Moves the close sequence forward.
    fn advance_phase(&mut self, cx: &mut TaskCx<'_>) -> bool {
        match self.phase {
            Phase::Open => {
                let finished = {
                    let mut st = self.conn.lock();
                    let idle_close = self.close_when_idle && self.handler.is_none();
                    match &mut st.proto {
                        Proto::Http(h) => {
                            (h.should_close() || (idle_close && h.is_idle()))
                                && h.output().is_empty()
                        }
                        Proto::Ws(w) => w.is_closed() && w.output().is_empty(),
                        Proto::Done => true,
                    }
                };
                if finished {
                    self.phase = Phase::Closing;
                }
                finished
            }
            Phase::Closing => match self.io.poll_shutdown(cx) {
                Poll::Pending => false,
                Poll::Ready(_) => {
                    self.mark_closed();
                    self.phase = if self.read_eof {
                        Phase::Done { at: R::now() }
                    } else {
                        Phase::Draining {
                            until: R::now() + DRAIN_TIME,
                            budget: DRAIN_BYTES,
                        }
                    };
                    true
                }
            },
            Phase::Draining { until, budget } => {
                let r = READ_BUF.with(|cell| {
                    let mut buf = cell.borrow_mut();
                    if buf.len() < 4096 {
                        buf.resize(4096, 0);
                    }
                    let n = buf.len().min(budget);
                    self.io.poll_read(cx, &mut buf[..n])
                });
                match r {
                    Poll::Pending => false,
                    Poll::Ready(Ok(n)) if n > 0 && n < budget => {
                        self.phase = Phase::Draining {
                            until,
                            budget: budget - n,
                        };
                        true
                    }
                    Poll::Ready(_) => {
                        self.phase = Phase::Done { at: R::now() };
                        true
                    }
                }
            }
            Phase::Done { .. } => false,
        }
    }

    /// Ends the connection at once (I/O error, truncated stream, shutdown deadline): the
    /// socket is done with, contexts and senders see it closed.
    fn end_now(&mut self, now: Instant) {
        self.mark_closed();
        self.phase = Phase::Done { at: now };
    }

    /// Removes our entry from the server's deadlines, if any.
    fn disarm(&mut self) {
        if let Some(at) = self.armed.take() {
            self.server.deadlines.disarm((at, self.id));
        }
    }

    /// When a graceful shutdown gives up on this connection (once it has seen it).
    fn hard_deadline(&self) -> Option<Instant> {
        if !self.shutdown_seen {
            return None;
        }
        self.server.shutdown_deadline.get().copied()
    }

    /// Marks the connection closed for contexts and senders, releasing protocol buffers.
    fn mark_closed(&mut self) {
        let mut st = self.conn.lock();
        st.proto = Proto::Done;
        st.ws.recv_done = true;
        if let Some(slot) = st.request.as_mut() {
            if slot.body_state == BodyState::Receiving {
                slot.body_state = BodyState::Failed;
            }
        }
        st.wake_receiver(None);
        st.wake_senders(None);
    }

    /// Whether the driver is done: the socket is finished and the handler returned (or
    /// overstayed its linger). Reads the clock only in that last case.
    fn finished(&self) -> bool {
        match self.phase {
            Phase::Done { at } => {
                self.handler.is_none() || R::now() >= at + self.conn.config.handler_linger
            }
            _ => false,
        }
    }

    /// The earliest instant at which something must happen.
    fn next_deadline(&self) -> Option<Instant> {
        let proto = {
            let st = self.conn.lock();
            match &st.proto {
                Proto::Http(h) => h.poll_timeout(),
                Proto::Ws(w) => w.poll_timeout(),
                Proto::Done => None,
            }
        };
        let phase = match self.phase {
            Phase::Draining { until, .. } => Some(until),
            Phase::Done { at } if self.handler.is_some() => {
                Some(at + self.conn.config.handler_linger)
            }
            _ => None,
        };
        [proto, phase, self.hard_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Handles the next deadline if it has passed (true), or makes sure the server's
    /// deadline task will wake us for it.
    fn poll_timer(&mut self, cx: &mut TaskCx<'_>) -> bool {
        let Some(deadline) = self.next_deadline() else {
            self.disarm();
            return false;
        };
        let now = R::now();
        if now < deadline {
            // Deadlines mostly move later (every byte received pushes the heartbeat back),
            // so an entry that will fire no later than needed stays: firing early only
            // re-arms. This keeps the shared map off the per-message path.
            match self.armed {
                Some(at) if at <= deadline && now < at => {}
                _ => {
                    self.disarm();
                    self.server.deadlines.arm(deadline, self.id, cx.waker());
                    self.armed = Some(deadline);
                }
            }
            return false;
        }
        self.disarm();
        {
            let mut st = self.conn.lock();
            match &mut st.proto {
                Proto::Http(h) => h.handle_timeout(now),
                Proto::Ws(w) => w.handle_timeout(now),
                Proto::Done => {}
            }
        }
        if let Phase::Draining { until, .. } = self.phase {
            if now >= until {
                self.phase = Phase::Done { at: now };
            }
        }
        if self.hard_deadline().is_some_and(|d| now >= d)
            && !matches!(self.phase, Phase::Done { .. })
        {
            self.end_now(now);
            self.handler = None;
        }
        true
    }
}

impl<R: Runtime> Future for Driver<R> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<()> {
        let this = self.get_mut();
        this.conn.lock().set_driver_waker(cx.waker());
        // A new wake-up: the socket may have data again, and the handler may have been
        // woken by something outside the connection (a timer, a channel).
        this.read_registered = false;
        this.handler_due = true;
        for _ in 0..ROUNDS_PER_POLL {
            let mut progress = false;
            if this.phase == Phase::Open {
                progress |= this.check_shutdown();
            }
            progress |= this.read_or_fail(cx);
            progress |= this.process_events(cx);
            if this.handler_due || std::mem::take(&mut this.conn.lock().nudged) {
                progress |= this.poll_handler(cx);
                progress |= this.process_events(cx);
            }
            // Replies accumulate while work remains, so a burst of messages goes out in one
            // vectored write; write as soon as nothing else moves, or when a lot is queued.
            if !progress || this.queued() >= WRITE_BATCH {
                progress |= this.flush(cx);
            }
            progress |= this.advance_phase(cx);
            if this.finished() {
                return Poll::Ready(());
            }
            // Deadlines matter only once the connection goes quiet (or at the end of the
            // budget, below): checking them after every burst would cost a lock and a timer
            // poll per round.
            if !progress {
                progress |= this.poll_timer(cx);
            }
            if !progress {
                // The handler may have made room for input during this round (it took
                // queued messages): read again before sleeping, so that either data comes
                // in or the socket is registered to wake us.
                progress |= this.read_or_fail(cx);
            }
            if !progress {
                this.release_idle();
                return Poll::Pending;
            }
        }
        this.flush(cx);
        this.poll_timer(cx);
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl<R: Runtime> Drop for Driver<R> {
    fn drop(&mut self) {
        // Drop the handler first: it may hold contexts whose drop touches the state.
        self.handler = None;
        self.ctx = None;
        self.disarm();
        self.mark_closed();
        self.server.connection_ended(self.id);
    }
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
