//! [`ServerConnection`]: the HTTP/1.1 server connection state machine (sans-IO).
//!
//! # State machine
//!
//! The connection keeps two states side by side, one per direction, plus the request in
//! progress (the *exchange*). The rules:
//!
//! **Receive side** (`Recv`):
//! - `Head`: waiting for a request head. Only entered when the send side is `Idle`, so a
//!   pipelined head is parsed (and its `Head` event emitted) only after the previous response
//!   was finished: requests are answered one at a time, in order.
//! - `Head` → `Body` on a complete head (event `Head`); the body decoder is *empty*,
//!   *length* or *chunked*. `Body` → `Done` when the body ends (event `BodyEnd`).
//! - `Head` → `UpgradePending` on an upgrade request (HTTP/1.1, no body, `Upgrade` header and
//!   a `Connection: upgrade` token; event `Upgrade`, no `BodyEnd`). From there
//!   `accept_upgrade` → `Upgraded` (done with HTTP), or a normal response → back to `Head`.
//! - `Done`/`UpgradePending` → `Head` when the response is finished and the connection is kept.
//! - `Body` → `Discard` when the response is finished before the request body was read: the
//!   rest of the body (bounded by `max_body_size`) is read and dropped, then `Head`. We keep the
//!   connection rather than close it, except when the client is waiting for a `100 Continue`
//!   that was never sent: then it will not send the body, so we answer `Connection: close`.
//! - any → `Closed` on an error, on EOF, or when the connection will close after a response.
//!
//! **Send side** (`Send`):
//! - `Idle` (no request awaiting a response) → `Waiting` when a request head is emitted.
//! - `Waiting` → `Body` on `send_response` with a final status (1xx other than 101 are interim
//!   heads and keep `Waiting`; 100 comes from `send_continue`, 101 from `accept_upgrade`).
//! - `Body` → `Idle` on `finish_response`, or → `Closed` if the connection closes after it.
//!
//! **Errors from the peer**: the `Error` event is the last one. If the current request has no
//! final response yet (send side `Idle` or `Waiting`), the core queues its error response
//! (with `connection: close`). Once a final response has started, it writes nothing more:
//! a response being written is cut short, and an error found while discarding the unread
//! body of an already answered request (`Recv::Discard`, send side `Idle` again) gets no
//! second response either; one request never gets two. The peer sees the close. Either way
//! [`ServerConnection::should_close`] is then true.
//!
//! **Work happens in `poll_event`**: `handle_input` only buffers. Each `poll_event` call
//! parses as far as needed for one event, so input is consumed only as fast as the
//! application takes events, and `wants_read` turns false once
//! `max(max_head_size, max_chunk_line)` bytes are buffered: buffered input stays below that
//! plus the size of one `handle_input` call (if the driver honours `wants_read`).
//!
//! **Timers** (driven only by the `now` arguments; none runs while the app works on a
//! response and no input is needed):
//! - on a new connection, the first head must be complete within `head_timeout` from the
//!   connection's start; if nothing at all arrived, the connection is closed silently,
//!   otherwise with a 408;
//! - after a response, the connection may idle for `idle_timeout` (then it is closed silently);
//!   once the first byte of the next head arrives it has `head_timeout` to complete (408);
//! - while a request body is read (`Recv::Body`) or discarded (`Recv::Discard`) and
//!   `poll_event` found that it needs more input than is buffered, the peer may stay silent
//!   (no byte at all) for at most `body_timeout`, counted from its last byte or from when the
//!   body started to be awaited (head parsed, `100 Continue` sent, or input buffer no longer
//!   full), whichever is later. A body that keeps arriving, however slowly, never times out.
//!   The timer does not run while the input buffer is full (we are not reading) nor while the
//!   client waits for a `100 Continue` we have not sent. When it passes: `Error(BodyTimeout)`;
//!   a 408 is queued if the response head was not sent yet; if a response is being written,
//!   or the body is being discarded after the response, nothing is written: the connection
//!   just closes. When the clock restarts at a moment the core cannot date (no `now` given
//!   since), `poll_timeout` reports the last `now` (already passed) so that the driver calls
//!   `handle_timeout` with a fresh time, which starts the clock and reports no timeout.
//!
//! **EOF**: between requests → `PeerClosed`; inside a head or body → `Error` (400) ; while the
//! app works on a response → the response may still be finished (the peer may have only
//! half-closed), then the connection closes.

use super::body::RequestBody;
use super::chunked::{Chunk, ChunkedDecoder};
use super::date::HttpDate;
use super::error::{HttpError, HttpUsageError};
use super::head::{parse_head, HeadScanner, RequestHead, Version};
use super::response::{
    encode_head, put_hex, status_has_no_body, BodyLength, ConnectionHeader, FramingHeader,
    ResponseHead,
};
use crate::proto::limits::HttpLimits;
use crate::proto::outbuf::OutQueue;
use bytes::{Bytes, BytesMut};
use std::time::Instant;

/// What the connection reports to the application.
#[derive(Debug)]
pub enum HttpEvent {
    /// A request head; body events (`Body`*, then `BodyEnd`) follow. For a request without
    /// body, `BodyEnd` follows immediately.
    Head(RequestHead),
    /// A request (no body) that asks for a protocol switch: `Upgrade` header +
    /// `Connection: upgrade` token. Parsing stops after it: the app either calls
    /// `accept_upgrade` or answers it like any request with `send_response` (then HTTP
    /// continues). No `BodyEnd` follows an `Upgrade`.
    Upgrade(RequestHead),
    /// A piece of the request body.
    Body(Bytes),
    /// The request body is complete.
    BodyEnd {
        /// Trailer fields of a chunked body (empty otherwise).
        trailers: Vec<(String, String)>,
    },
    /// Peer closed (EOF) between requests; nothing more will come.
    PeerClosed,
    /// Bad input, limit or timeout exceeded: the core has already queued its error response
    /// (short text/plain body, `connection: close`), unless the request already has a final
    /// response (being written or finished), and will close after the output is written.
    Error(HttpError),
}

/// How the rest of a request body is read.
#[derive(Debug)]
enum BodyDecoder {
    Length(u64),
    Chunked(Box<ChunkedDecoder>),
    /// Nothing left: the next step reports the end.
    End,
}

enum Piece {
    Data(Bytes),
    End(Vec<(String, String)>),
}

impl BodyDecoder {
    fn new(body: RequestBody) -> Self {
        match body {
            RequestBody::Empty => BodyDecoder::End,
            RequestBody::Length(n) => BodyDecoder::Length(n),
            RequestBody::Chunked => BodyDecoder::Chunked(Box::new(ChunkedDecoder::new())),
        }
    }

    fn decode(
        &mut self,
        buf: &mut BytesMut,
        limits: &HttpLimits,
    ) -> Result<Option<Piece>, HttpError> {
        match self {
            BodyDecoder::End => Ok(Some(Piece::End(Vec::new()))),
            BodyDecoder::Length(left) => {
                if buf.is_empty() {
                    return Ok(None);
                }
                let n = (buf.len() as u64).min(*left) as usize;
                *left -= n as u64;
                let data = buf.split_to(n).freeze();
                if *left == 0 {
                    *self = BodyDecoder::End;
                }
                Ok(Some(Piece::Data(data)))
            }
            BodyDecoder::Chunked(dec) => match dec.decode(buf, limits)? {
                None => Ok(None),
                Some(Chunk::Data(d)) => Ok(Some(Piece::Data(d))),
                Some(Chunk::End(t)) => Ok(Some(Piece::End(t))),
            },
        }
    }
}

#[derive(Debug)]
enum Recv {
    Head,
    Body(BodyDecoder),
    Done,
    UpgradePending,
    Discard(BodyDecoder),
    Upgraded,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutBody {
    /// 1xx/204/304: no body bytes allowed.
    None,
    /// HEAD: body bytes are dropped.
    Drop,
    Length {
        declared: u64,
        sent: u64,
    },
    Chunked,
    /// Close-delimited (HTTP/1.0, unknown length).
    Close,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Send {
    Idle,
    Waiting,
    Body(OutBody),
    Closed,
}

/// The request being answered.
#[derive(Debug, Clone, Copy)]
struct Exchange {
    version: Version,
    is_head: bool,
    keep_alive: bool,
    expects_continue: bool,
    continue_sent: bool,
}

/// The HTTP/1.1 server side of one connection, as a sans-IO state machine (see the module
/// docs for its rules).
#[derive(Debug)]
pub struct ServerConnection {
    limits: HttpLimits,
    buf: BytesMut,
    scanner: HeadScanner,
    recv: Recv,
    send: Send,
    exchange: Option<Exchange>,
    /// Close after the current response (app asked, or must).
    close_after: bool,
    peer_eof: bool,
    /// The driver must close once the output is written.
    closed: bool,
    date: Option<HttpDate>,
    out: OutQueue,
    pending: Option<HttpEvent>,
    /// Latest `now` we were given.
    now: Instant,
    /// When we started waiting for the next request.
    wait_start: Instant,
    /// Whether no request has been received yet.
    first: bool,
    /// When the head being received started (its deadline is this + head_timeout).
    head_start: Option<Instant>,
    /// Start of the peer's current silence for the body timer: the last input, or when we
    /// (re)started waiting for the body. `None`: restart at the next `now` we are given (we
    /// resumed waiting at an unknown time after `self.now`).
    body_clock: Option<Instant>,
    /// `poll_event` found that the request body (being read or discarded) needs more input
    /// than is buffered. Cleared by new input.
    body_starved: bool,
    /// Input was handed in after `poll_event` last returned `None`: parse before reading.
    unparsed: bool,
    /// Memory for the next head's header index, from a head given back
    /// ([`ServerConnection::recycle_head`]).
    spare_index: Vec<[u32; 4]>,
}

/// Largest header index (in headers) kept for reuse between requests: enough for what
/// browsers send, small enough not to matter on an idle connection.
const SPARE_INDEX_MAX: usize = 32;

impl ServerConnection {
    /// A new connection that started at `now`.
    pub fn new(limits: HttpLimits, now: Instant) -> Self {
        ServerConnection {
            limits,
            buf: BytesMut::new(),
            scanner: HeadScanner::default(),
            recv: Recv::Head,
            send: Send::Idle,
            exchange: None,
            close_after: false,
            peer_eof: false,
            closed: false,
            date: None,
            out: OutQueue::new(),
            pending: None,
            now,
            wait_start: now,
            first: true,
            head_start: None,
            body_clock: Some(now),
            body_starved: false,
            unparsed: false,
            spare_index: Vec::new(),
        }
    }

    /// The limits this connection enforces.
    pub fn limits(&self) -> &HttpLimits {
        &self.limits
    }

    /// Bytes of input buffered and not yet consumed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Bytes queued for writing (same as `output().len()`).
    pub fn output_len(&self) -> usize {
        self.out.len()
    }

    /// Most input the core buffers before `wants_read` turns false.
    pub fn read_buffer_limit(&self) -> usize {
        self.limits
            .max_head_size
            .max(self.limits.max_chunk_line)
            .max(64)
    }

    // ----- memory -----

    /// Gives back a head this connection produced, once the application is done with it:
    /// the next head reuses its header index instead of allocating one.
    pub fn recycle_head(&mut self, head: RequestHead) {
        self.provide_header_index(head.into_header_index());
    }

    /// Takes the memory kept for the next head's header index (see
    /// [`ServerConnection::recycle_head`]), for a caller that keeps it while the
    /// connection is idle.
    pub fn take_header_index(&mut self) -> Vec<[u32; 4]> {
        std::mem::take(&mut self.spare_index)
    }

    /// Gives memory for the next head's header index, if it has more room than what the
    /// connection keeps (see [`ServerConnection::take_header_index`]).
    pub fn provide_header_index(&mut self, index: Vec<[u32; 4]>) {
        if index.capacity() > self.spare_index.capacity() && index.capacity() <= SPARE_INDEX_MAX {
            self.spare_index = index;
        }
    }

    /// Gives the input buffer memory from `make`, if it has none (`make` is not called
    /// otherwise): a caller that keeps spare buffers saves an allocation per request. The
    /// contents of the buffer `make` returns are discarded.
    pub fn provide_input_buffer(&mut self, make: impl FnOnce() -> BytesMut) {
        crate::proto::outbuf::provide_memory(&mut self.buf, make);
    }

    /// Takes the input buffer's memory when it holds no input (see
    /// [`ServerConnection::provide_input_buffer`]).
    pub fn take_idle_input(&mut self) -> Option<BytesMut> {
        if self.buf.is_empty() && self.buf.capacity() > 0 {
            Some(std::mem::take(&mut self.buf))
        } else {
            None
        }
    }

    // ----- inputs -----

    /// Feeds bytes received from the peer (any split). They are buffered; the work happens
    /// in [`ServerConnection::poll_event`]. Input after EOF, an error, or an upgrade is
    /// ignored.
    pub fn handle_input(&mut self, data: &[u8], now: Instant) {
        self.now = now;
        if self.closed
            || self.peer_eof
            || matches!(self.recv, Recv::Upgraded | Recv::Closed)
            || data.is_empty()
        {
            return;
        }
        if matches!(self.recv, Recv::Head) && self.buf.is_empty() && self.head_start.is_none() {
            self.head_start = Some(if self.first { self.wait_start } else { now });
        }
        self.buf.extend_from_slice(data);
        self.body_clock = Some(now);
        self.body_starved = false;
        self.unparsed = true;
    }

    /// The peer closed its sending side.
    pub fn handle_eof(&mut self) {
        if !matches!(self.recv, Recv::Upgraded) {
            self.peer_eof = true;
        }
    }

    /// Tells the connection the time is `now`; call it when [`ServerConnection::poll_timeout`]
    /// passes.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        if self.body_timer_runs() {
            let Some(start) = self.body_clock else {
                // We resumed waiting some time before `now`: the silence starts now.
                self.body_clock = Some(now);
                return;
            };
            if now < start + self.limits.body_timeout {
                return;
            }
            let ev = self.fail(HttpError::BodyTimeout);
            self.pending = Some(ev);
            return;
        }
        let Some(deadline) = self.poll_timeout() else {
            return;
        };
        if now < deadline {
            return;
        }
        if self.buf.is_empty() {
            self.close_now();
        } else {
            let ev = self.fail(HttpError::HeadTimeout);
            self.pending = Some(ev);
        }
    }

    /// Sets the date used for the `date` header of every response (including the core's own
    /// error responses). Without it, no `date` header is written.
    pub fn set_date(&mut self, date: HttpDate) {
        self.date = Some(date);
    }

    // ----- outputs -----

    /// The next event, if any. Call until `None` after every input and command.
    pub fn poll_event(&mut self) -> Option<HttpEvent> {
        if let Some(ev) = self.pending.take() {
            return Some(ev);
        }
        let limit = self.read_buffer_limit();
        let was_full = self.buf.len() >= limit;
        let ev = self.step();
        if was_full && self.buf.len() < limit {
            // We stopped reading while the buffer was full, so the peer's silence did not
            // count; we read again from some time after the last `now`.
            self.body_clock = None;
        }
        if ev.is_none() {
            self.unparsed = false;
        }
        ev
    }

    fn step(&mut self) -> Option<HttpEvent> {
        loop {
            match &mut self.recv {
                Recv::Head => return self.step_head(),
                Recv::Body(dec) => {
                    return match dec.decode(&mut self.buf, &self.limits) {
                        Ok(Some(Piece::Data(d))) => Some(HttpEvent::Body(d)),
                        Ok(Some(Piece::End(trailers))) => {
                            self.recv = Recv::Done;
                            Some(HttpEvent::BodyEnd { trailers })
                        }
                        Ok(None) if self.peer_eof => Some(self.fail(HttpError::IncompleteBody)),
                        Ok(None) => {
                            self.body_starved = true;
                            None
                        }
                        Err(e) => Some(self.fail(e)),
                    };
                }
                Recv::Discard(dec) => match dec.decode(&mut self.buf, &self.limits) {
                    Ok(Some(Piece::Data(_))) => continue,
                    Ok(Some(Piece::End(_))) => self.enter_head(),
                    Ok(None) => {
                        if self.peer_eof {
                            self.close_now();
                        } else {
                            self.body_starved = true;
                        }
                        return None;
                    }
                    Err(e) => return Some(self.fail(e)),
                },
                Recv::Done | Recv::UpgradePending | Recv::Upgraded | Recv::Closed => return None,
            }
        }
    }

    fn step_head(&mut self) -> Option<HttpEvent> {
        if self.buf.is_empty() && !self.peer_eof {
            // Between requests, nothing to scan (the usual case after a response).
            return None;
        }
        let end = match self.scanner.scan(&self.buf, &self.limits) {
            Err(e) => return Some(self.fail(e)),
            Ok(None) => {
                if !self.peer_eof {
                    return None;
                }
                if self.buf.iter().all(|&b| b == b'\r' || b == b'\n') {
                    self.close_now();
                    return Some(HttpEvent::PeerClosed);
                }
                return Some(self.fail(HttpError::IncompleteHead));
            }
            Ok(Some(end)) => end,
        };
        let lines = self.scanner.header_lines;
        self.scanner = HeadScanner::default();
        // A head that fills a buffer allocated for it alone takes the buffer (a split would
        // cost a shared-ownership record); otherwise the head shares the buffer's memory,
        // which the buffer takes back once the head is dropped, so a keep-alive connection
        // with a larger buffer (`provide_input_buffer`) reads every request into it.
        let bytes = if end == self.buf.capacity() {
            std::mem::take(&mut self.buf).freeze()
        } else {
            self.buf.split_to(end).freeze()
        };
        let index = std::mem::take(&mut self.spare_index);
        let mut head = match parse_head(bytes, lines, &self.limits, index) {
            Ok(h) => h,
            Err(e) => return Some(self.fail(e)),
        };
        self.first = false;
        self.head_start = None;
        self.exchange = Some(Exchange {
            version: head.version(),
            is_head: *head.method() == super::Method::Head,
            keep_alive: head.keep_alive(),
            expects_continue: head.expects_continue(),
            continue_sent: false,
        });
        self.send = Send::Waiting;
        if head.is_upgrade() {
            // A WebSocket keeps its upgrade request for life: not the whole input buffer.
            head.detach();
            self.recv = Recv::UpgradePending;
            Some(HttpEvent::Upgrade(head))
        } else {
            self.recv = Recv::Body(BodyDecoder::new(head.body()));
            // The body is awaited from now on (the head may have waited in the buffer).
            self.body_clock = Some(self.now);
            self.body_starved = false;
            Some(HttpEvent::Head(head))
        }
    }

    /// The earliest deadline, if a timer runs (see the module docs).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.body_timer_runs() {
            // `None`: a deadline already passed asks for a `handle_timeout` with a fresh `now`,
            // which restarts the clock.
            return Some(match self.body_clock {
                Some(t) => t + self.limits.body_timeout,
                None => self.now,
            });
        }
        if self.closed || !matches!(self.recv, Recv::Head) || self.send != Send::Idle {
            return None;
        }
        Some(match self.head_start {
            Some(t) => t + self.limits.head_timeout,
            None if self.first => self.wait_start + self.limits.head_timeout,
            None => self.wait_start + self.limits.idle_timeout,
        })
    }

    /// The bytes to write.
    pub fn output(&mut self) -> &mut OutQueue {
        &mut self.out
    }

    /// Whether the core takes more input now. False until the last input has been parsed
    /// (`poll_event` returned `None` since), when closing, after EOF or an upgrade, and while [`ServerConnection::read_buffer_limit`] bytes are buffered (e.g. pipelined
    /// requests waiting for the current response to finish).
    pub fn wants_read(&self) -> bool {
        !self.unparsed
            && !self.closed
            && !self.peer_eof
            && !matches!(self.recv, Recv::Upgraded | Recv::Closed)
            && self.buf.len() < self.read_buffer_limit()
    }

    /// Whether, once the output is written, the driver must close the socket.
    pub fn should_close(&self) -> bool {
        self.closed
    }

    /// Whether the connection is between requests with nothing buffered (graceful shutdown
    /// may close it).
    pub fn is_idle(&self) -> bool {
        !self.closed
            && matches!(self.recv, Recv::Head)
            && self.send == Send::Idle
            && self.buf.is_empty()
            && self.pending.is_none()
    }

    /// Whether the connection was handed over with `accept_upgrade`.
    pub fn is_upgraded(&self) -> bool {
        matches!(self.recv, Recv::Upgraded)
    }

    // ----- commands -----

    fn check_open(&self) -> Result<(), HttpUsageError> {
        if self.send == Send::Closed {
            return Err(HttpUsageError::Closed);
        }
        Ok(())
    }

    /// Sends `100 Continue` for the current request if it expects one and its body has not
    /// been fully read (no-op otherwise, including after the response head was sent).
    pub fn send_continue(&mut self) -> Result<(), HttpUsageError> {
        self.check_open()?;
        if self.send == Send::Idle {
            return Err(HttpUsageError::NoRequest);
        }
        let body_pending = matches!(self.recv, Recv::Body(_));
        if let (Send::Waiting, Some(ex)) = (self.send, self.exchange.as_mut()) {
            if ex.expects_continue && !ex.continue_sent && body_pending {
                ex.continue_sent = true;
                self.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                // The client starts sending its body now, maybe long after the last `now`.
                self.body_clock = None;
            }
        }
        Ok(())
    }

    /// Sends the response head. `body` gives the framing; for HEAD requests and 1xx/204/304
    /// no body is sent (see the module docs of `response`). A 1xx status other than 100/101
    /// is sent as an interim head, after which a final response is still expected.
    pub fn send_response(
        &mut self,
        head: ResponseHead,
        body: BodyLength,
    ) -> Result<(), HttpUsageError> {
        self.send_response_ref(&head, body)
    }

    /// [`ServerConnection::send_response`] for a head the caller keeps (to reuse its
    /// header list for the next response).
    pub fn send_response_ref(
        &mut self,
        head: &ResponseHead,
        body: BodyLength,
    ) -> Result<(), HttpUsageError> {
        self.check_open()?;
        match self.send {
            Send::Idle => return Err(HttpUsageError::NoRequest),
            Send::Body(_) => return Err(HttpUsageError::ResponseAlreadyStarted),
            Send::Closed => return Err(HttpUsageError::Closed),
            Send::Waiting => {}
        }
        head.validate()?;
        if head.status == 101 {
            return Err(HttpUsageError::UseAcceptUpgrade);
        }
        let Some(ex) = self.exchange else {
            return Err(HttpUsageError::NoRequest);
        };
        if head.status < 200 {
            let date = self.date;
            self.out.with_tail(|t| {
                encode_head(
                    t,
                    head,
                    FramingHeader::None,
                    ConnectionHeader::None,
                    date.as_ref(),
                )
            });
            return Ok(());
        }
        if head.asks_close() {
            self.close_after = true;
        }
        let body_unread = matches!(self.recv, Recv::Body(_));
        if body_unread && ex.expects_continue && !ex.continue_sent {
            // The client waits for 100 before sending its body; it will not come.
            self.close_after = true;
        }
        let (framing, mut out) = if status_has_no_body(head.status) {
            (FramingHeader::None, OutBody::None)
        } else {
            match body {
                BodyLength::Empty => (
                    FramingHeader::Length(0),
                    OutBody::Length {
                        declared: 0,
                        sent: 0,
                    },
                ),
                BodyLength::Known(n) => (
                    FramingHeader::Length(n),
                    OutBody::Length {
                        declared: n,
                        sent: 0,
                    },
                ),
                BodyLength::Unknown if ex.version == Version::Http11 => {
                    (FramingHeader::Chunked, OutBody::Chunked)
                }
                BodyLength::Unknown => (FramingHeader::None, OutBody::Close),
            }
        };
        if ex.is_head && out != OutBody::None {
            out = OutBody::Drop;
        }
        let eof_done = self.peer_eof && self.buf.is_empty() && !body_unread;
        let close = self.close_after || !ex.keep_alive || out == OutBody::Close || eof_done;
        self.close_after = close;
        let conn = if close {
            ConnectionHeader::Close
        } else if ex.version == Version::Http10 {
            ConnectionHeader::KeepAlive
        } else {
            ConnectionHeader::None
        };
        let date = self.date;
        self.out
            .with_tail(|t| encode_head(t, head, framing, conn, date.as_ref()));
        self.send = Send::Body(out);
        Ok(())
    }

    /// Sends a piece of the response body (zero-copy for large pieces).
    pub fn send_body(&mut self, data: Bytes) -> Result<(), HttpUsageError> {
        let len = data.len();
        self.send_body_with(len, |out| out.push(data))
    }

    /// [`ServerConnection::send_body`] from a slice, copied into the output.
    pub fn send_body_slice(&mut self, data: &[u8]) -> Result<(), HttpUsageError> {
        self.send_body_with(data.len(), |out| out.extend_from_slice(data))
    }

    /// Sends `len` body bytes that `put` queues.
    fn send_body_with(
        &mut self,
        len: usize,
        put: impl FnOnce(&mut OutQueue),
    ) -> Result<(), HttpUsageError> {
        self.check_open()?;
        let Send::Body(out) = &mut self.send else {
            return Err(match self.send {
                Send::Idle => HttpUsageError::NoRequest,
                _ => HttpUsageError::NoResponseStarted,
            });
        };
        match out {
            OutBody::Drop => {}
            OutBody::None => {
                if len != 0 {
                    return Err(HttpUsageError::BodyNotAllowed);
                }
            }
            OutBody::Length { declared, sent } => {
                let len = len as u64;
                if *declared - *sent < len {
                    return Err(HttpUsageError::BodyTooLong);
                }
                *sent += len;
                put(&mut self.out);
            }
            OutBody::Chunked => {
                if len != 0 {
                    self.out.with_tail(|t| {
                        put_hex(t, len as u64);
                        t.extend_from_slice(b"\r\n");
                    });
                    put(&mut self.out);
                    self.out.extend_from_slice(b"\r\n");
                }
            }
            OutBody::Close => put(&mut self.out),
        }
        Ok(())
    }

    /// Ends the response. The connection then reads the next request, or closes.
    ///
    /// If fewer bytes than a declared Content-Length were sent, the response cannot be
    /// completed: the connection closes and `BodyIncomplete` is returned.
    pub fn finish_response(&mut self) -> Result<(), HttpUsageError> {
        self.check_open()?;
        let out = match self.send {
            Send::Body(out) => out,
            Send::Idle => return Err(HttpUsageError::NoRequest),
            _ => return Err(HttpUsageError::NoResponseStarted),
        };
        match out {
            OutBody::Length { declared, sent } if sent < declared => {
                self.close_now();
                return Err(HttpUsageError::BodyIncomplete { declared, sent });
            }
            OutBody::Chunked => self.out.extend_from_slice(b"0\r\n\r\n"),
            _ => {}
        }
        self.send = Send::Idle;
        self.exchange = None;
        if self.close_after {
            self.close_now();
            return Ok(());
        }
        match std::mem::replace(&mut self.recv, Recv::Closed) {
            Recv::Done | Recv::UpgradePending => self.enter_head(),
            Recv::Body(dec) => self.recv = Recv::Discard(dec),
            other => self.recv = other,
        }
        Ok(())
    }

    /// Asks to close after the current response (adds `connection: close` if the head is not
    /// sent yet). Between requests with nothing received, closes now; a request whose head
    /// has begun to arrive is current: it is read (within the head timeout) and answered
    /// first.
    pub fn close_after_response(&mut self) {
        self.close_after = true;
        let between = match self.recv {
            Recv::Head => self.buf.is_empty() && self.pending.is_none(),
            Recv::Discard(_) => true,
            _ => false,
        };
        if self.send == Send::Idle && between {
            self.close_now();
        }
    }

    /// Queues `head` (a 101) and hands over the bytes that followed the upgrade request's
    /// head. The connection is then done with HTTP (`should_close` stays false; no more
    /// events).
    pub fn accept_upgrade(&mut self, head: ResponseHead) -> Result<BytesMut, HttpUsageError> {
        self.check_open()?;
        if !matches!(self.recv, Recv::UpgradePending)
            || self.send != Send::Waiting
            || head.status != 101
        {
            return Err(HttpUsageError::NotUpgrade);
        }
        head.validate()?;
        self.out
            .with_tail(|t| encode_head(t, &head, FramingHeader::None, ConnectionHeader::App, None));
        self.recv = Recv::Upgraded;
        self.send = Send::Closed;
        self.exchange = None;
        Ok(self.buf.split())
    }

    // ----- internals -----

    /// Whether the body timer runs: a request body is being read or discarded, `poll_event`
    /// found it needs more input, and we are reading (buffer not full, no EOF) and not holding
    /// the body back ourselves (a client waiting for a `100 Continue` we have not sent).
    fn body_timer_runs(&self) -> bool {
        let awaiting_continue = self
            .exchange
            .is_some_and(|ex| ex.expects_continue && !ex.continue_sent);
        !self.closed
            && !self.peer_eof
            && self.body_starved
            && match self.recv {
                Recv::Body(_) => !awaiting_continue,
                Recv::Discard(_) => true,
                _ => false,
            }
            && self.buf.len() < self.read_buffer_limit()
    }

    fn enter_head(&mut self) {
        self.recv = Recv::Head;
        self.body_starved = false;
        self.scanner = HeadScanner::default();
        self.wait_start = self.now;
        self.head_start = if self.buf.is_empty() {
            None
        } else {
            Some(self.now)
        };
    }

    fn close_now(&mut self) {
        self.closed = true;
        self.recv = Recv::Closed;
        self.send = Send::Closed;
        self.exchange = None;
        self.buf = BytesMut::new();
    }

    /// Reacts to bad input: queues the error response if the request in progress has no
    /// final response yet, closes.
    fn fail(&mut self, err: HttpError) -> HttpEvent {
        // In `Discard` the request was answered already (the send side is idle again): an
        // error response now would be a second response to it.
        let answered = matches!(self.recv, Recv::Discard(_));
        if matches!(self.send, Send::Idle | Send::Waiting) && !answered {
            let text = format!("{err}\n");
            let head = ResponseHead::new(err.status()).header("content-type", "text/plain");
            let date = self.date;
            self.out.with_tail(|t| {
                encode_head(
                    t,
                    &head,
                    FramingHeader::Length(text.len() as u64),
                    ConnectionHeader::Close,
                    date.as_ref(),
                );
                t.extend_from_slice(text.as_bytes());
            });
        }
        self.close_now();
        HttpEvent::Error(err)
    }
}
