//! [`WsConnection`]: the server side of an open WebSocket connection, sans-IO.
//!
//! # Rules
//!
//! - **Input** ([`WsConnection::handle_input`]) is only buffered; frames are parsed lazily by
//!   [`WsConnection::poll_event`], as far as needed for the next event, so a driver that
//!   stops polling stops the parsing, and [`WsConnection::buffered_input`] tells it when to
//!   stop reading the socket. Parsing is linear: each byte is looked at once (a header is at
//!   most 14 bytes), data payload bytes leave the input buffer as soon as they arrive
//!   (unmasked straight into the message buffer, text validated on the way), so an invalid
//!   UTF-8 sequence fails the connection even in the middle of a frame. A control frame's
//!   payload (at most 125 bytes) waits in the input buffer until it is whole, so input that
//!   waits for more is never more than [`WAITING_INPUT_MAX`] bytes. A whole unfragmented
//!   data frame of at most 64 KiB that is already buffered becomes a message in one step;
//!   anything unusual about it (including every error) is left to the general parser.
//! - **Buffers**: [`WsConnection::recycle_buffer`] takes back the buffer of a message the
//!   application is done with and assembles the next message in it (that buffer has no
//!   other use); [`WsConnection::release_idle_buffers`] frees everything an idle connection
//!   does not need: the recycled buffer, and all input buffer memory beyond the few bytes
//!   that wait for the rest of their frame.
//! - **Limits** ([`WsLimits`]) are checked from each frame header before any of its payload
//!   is buffered: frame size, message size summed over fragments, fragment count (1009).
//!   Memory per connection is therefore bounded by `max_message_size` plus what the driver
//!   lets pile up in the input buffer and the output queue. A driver should drain
//!   [`WsConnection::output`] (or stop calling `poll_event`) when the output is above its
//!   high-water mark: each incoming ping queues a pong.
//! - **Control frames**: a ping is answered with a pong carrying the same payload, queued
//!   when the ping is parsed (in `poll_event`); the [`WsEvent::Ping`] is informative. Control
//!   frames may arrive between the fragments of a message.
//! - **Close handshake**:
//!   - the peer closes first (state `Open`): we queue a close frame echoing its status code
//!     (an empty close frame if it sent none), report [`WsEvent::PeerClose`] (state
//!     `ClosingRemote`), then [`WsEvent::Closed`]: the server closes TCP once the output is
//!     written (RFC 6455 §7.1.1: the server closes first);
//!   - we close first ([`WsConnection::close`], state `ClosingLocal`): data messages that
//!     still arrive are delivered (pings are not answered: nothing is ever sent after our
//!     close frame), and the peer's close frame ends it ([`WsEvent::PeerClose`] then
//!     [`WsEvent::Closed`]); without it, [`WsLimits::close_timeout`] after our close frame,
//!     [`WsEvent::Closed`];
//!   - the peer breaks the protocol or a limit: we queue a close frame with the code of the
//!     [`WsError`] (unless we had already sent one), report [`WsEvent::Error`] then
//!     [`WsEvent::Closed`] right away, without waiting for the peer, and ignore further input;
//!   - EOF without a close frame (even in the middle of a frame): [`WsEvent::Closed`] once the
//!     input buffered before it is parsed.
//! - **Timers** (from the `now` arguments, never the clock): with
//!   [`WsLimits::ping_interval`], a ping (empty payload) is sent when the peer has been silent
//!   that long (and again every interval while it stays silent); with
//!   [`WsLimits::idle_timeout`], a peer silent that long (no bytes at all, pongs included)
//!   fails the connection with [`WsError::IdleTimeout`] and close code 1001.
//! - **Output**: unmasked frames with minimal length encoding; a frame header goes into the
//!   [`OutQueue`] tail, a payload of 1 KiB or more is queued as its own [`Bytes`] without a
//!   copy. [`WsLimits::max_outgoing_frame_size`] splits long messages into fragments.
//! - **permessage-deflate** ([`WsConnection::enable_deflate`], RFC 7692): RSV1 marks a
//!   compressed message and is accepted only on its first frame (elsewhere, or when not
//!   negotiated: 1002). Its payload is unmasked and inflated as it arrives, in pieces of at
//!   most 8 KiB; [`WsLimits::max_message_size`] applies to the wire size and, after every
//!   piece, to the inflated size, so a bomb fails with 1009 having buffered at most the
//!   limit. Corrupt DEFLATE data: 1007. Sent messages of at least the threshold are
//!   compressed (control frames never are); [`WsConnection::send_uncompressed`] opts one
//!   out.
//! - After [`WsEvent::Closed`], `poll_event` returns `None` and input is ignored.

use super::assembly::Assembly;
use super::close::{parse_close_payload, truncate_reason, CloseCode, CloseFrame};
use super::deflate::{DeflateConfig, DeflateParams, PerMessageDeflate, PreparedMessage};
use super::error::{WsError, WsUsageError};
use super::frame::{FrameHeader, Opcode, MAX_CONTROL_PAYLOAD};
use super::mask::apply_mask;
use super::message::{DataKind, Message};
use super::utf8::Utf8Validator;
use crate::proto::{OutQueue, WsLimits};
use bytes::{Buf, Bytes, BytesMut};
use std::sync::Arc;
use std::time::Instant;

/// Largest message buffer [`WsConnection::recycle_buffer`] keeps for reuse.
pub const RECYCLE_MAX: usize = 64 * 1024;

/// The most input a [`WsConnection`] keeps while it waits for more: a frame header cut
/// short, or a whole control frame header with part of its payload. Everything else is
/// parsed as soon as [`WsConnection::poll_event`] is called.
pub const WAITING_INPUT_MAX: usize = 14 + MAX_CONTROL_PAYLOAD;

/// Configuration of a [`WsConnection`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WsConfig {
    /// Limits and timers.
    pub limits: WsLimits,
    /// Report data as [`WsEvent::Fragment`] pieces as they arrive instead of whole
    /// [`WsEvent::Message`]s (for messages too large to hold in memory; the limits still
    /// apply, so raise them along with this).
    pub stream_fragments: bool,
    /// permessage-deflate: how offers are answered. `None` (the default) declines them
    /// all. Used by whoever answers the handshake (the framework does);
    /// [`WsConnection::enable_deflate`] turns it on for one connection.
    pub deflate: Option<DeflateConfig>,
}

/// The state of the close handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WsState {
    /// Messages flow both ways.
    Open,
    /// We sent a close frame and wait for the peer's.
    ClosingLocal,
    /// The peer sent a close frame and we queued our reply.
    ClosingRemote,
    /// Finished: drain the output, then close the socket.
    Closed,
}

/// What happened on the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsEvent {
    /// A whole data message.
    Message(Message),
    /// Only in streaming mode ([`WsConfig::stream_fragments`]): a piece of a data message as
    /// it arrives; text pieces are UTF-8-validated incrementally (a piece may end mid code
    /// point). `fin` marks the last piece of the message.
    Fragment {
        /// Text or binary (also on continuation pieces).
        kind: DataKind,
        /// The unmasked bytes.
        data: Bytes,
        /// Whether this is the last piece of the message.
        fin: bool,
    },
    /// A ping (informative: the pong is already queued).
    Ping(Bytes),
    /// A pong.
    Pong(Bytes),
    /// The peer sent a close frame (`None`: no status code). We queued our echo if we had not
    /// closed yet.
    PeerClose(Option<CloseFrame>),
    /// The connection is finished (close handshake complete, timed out, or failed); drain the
    /// output, then close the socket.
    Closed,
    /// We failed the connection: a protocol error, with the close code we sent.
    Error(WsError),
}

/// Where the frame parser is.
#[derive(Debug, Clone, Copy)]
enum Read {
    Header,
    Payload(InFrame),
}

/// The frame whose payload is being read.
#[derive(Debug, Clone, Copy)]
struct InFrame {
    opcode: Opcode,
    fin: bool,
    key: [u8; 4],
    len: u64,
    done: u64,
}

/// A data message being received by the general parser, and the counts its limits apply
/// to.
#[derive(Debug)]
struct Incoming {
    fragments: usize,
    size: u64,
    /// RSV1 was set on its first frame: the payload is DEFLATE data.
    compressed: bool,
    /// Compressed only: the inflated size so far.
    inflated: u64,
    data: Receiving,
}

/// Where the payload of the message being received goes.
#[derive(Debug)]
enum Receiving {
    /// Kept until the message is whole, then reported as one [`WsEvent::Message`].
    Assembled(Assembly),
    /// Reported piece by piece ([`WsConfig::stream_fragments`]); text is checked as it
    /// passes.
    Streamed { kind: DataKind, utf8: Utf8Validator },
}

/// What remains to report once the connection has decided to end.
#[derive(Debug)]
enum Ending {
    None,
    /// [`WsEvent::Closed`] is next.
    Closed,
    /// [`WsEvent::Error`], then [`WsEvent::Closed`].
    Error(WsError),
}

enum Step {
    Event(WsEvent),
    Continue,
    NeedMore,
}

/// The server side of a WebSocket connection (see the [module docs](self) for its rules).
#[derive(Debug)]
pub struct WsConnection {
    config: Arc<WsConfig>,
    state: WsState,
    inbuf: BytesMut,
    /// Bytes at the front of `inbuf` already taken by the one-step path
    /// ([`WsConnection::whole_small_frame`]), given back to `inbuf` in one `advance` when
    /// anything else looks at the buffer ([`WsConnection::settle_input`]): a burst of
    /// small frames then costs one pointer update, not one per frame.
    taken: usize,
    read: Read,
    /// The message being assembled by the general parser (boxed: most messages take the
    /// one-step path and never need it, and an idle connection should be small).
    msg: Option<Box<Incoming>>,
    out: OutQueue,
    /// An emptied message buffer handed back by the application, reused by the next
    /// message so a request/reply exchange allocates nothing per message. It is only ever
    /// a message buffer: a control frame's payload waits in `inbuf` instead.
    recycled: Vec<u8>,
    /// Events decided but not yet reported: the connection is ending.
    ending: Ending,
    eof: bool,
    closed_queued: bool,
    /// Input was handed in after `poll_event` last ran out of events: parse before reading.
    unparsed: bool,
    last_input: Instant,
    last_ping: Instant,
    close_deadline: Option<Instant>,
    /// permessage-deflate, when negotiated (boxed: most connections have none).
    deflate: Option<Box<PerMessageDeflate>>,
}

impl WsConnection {
    /// A connection that has just been upgraded (the 101 response is sent).
    pub fn new(config: WsConfig, now: Instant) -> Self {
        Self::with_shared_config(Arc::new(config), now)
    }

    /// Like [`WsConnection::new`], with a configuration shared by many connections (a
    /// server keeps one, instead of a copy per connection).
    pub fn with_shared_config(config: Arc<WsConfig>, now: Instant) -> Self {
        WsConnection {
            config,
            state: WsState::Open,
            inbuf: BytesMut::new(),
            taken: 0,
            read: Read::Header,
            msg: None,
            out: OutQueue::new(),
            recycled: Vec::new(),
            ending: Ending::None,
            eof: false,
            closed_queued: false,
            unparsed: false,
            last_input: now,
            last_ping: now,
            close_deadline: None,
            deflate: None,
        }
    }

    /// Turns on permessage-deflate with the parameters agreed in the handshake (the
    /// response must carry [`DeflateParams::response_header`]). Call it before the first
    /// input.
    pub fn enable_deflate(&mut self, params: DeflateParams) {
        self.deflate = Some(Box::new(PerMessageDeflate::new(params)));
    }

    /// The permessage-deflate parameters in force, if it was negotiated.
    pub fn deflate_params(&self) -> Option<&DeflateParams> {
        self.deflate.as_deref().map(|d| &d.params)
    }

    /// Bytes of deflate state an idle connection keeps after
    /// [`WsConnection::release_idle_buffers`] (the context-takeover windows; 0 without
    /// takeover or deflate).
    pub fn deflate_idle_bytes(&self) -> usize {
        self.deflate
            .as_deref()
            .map_or(0, PerMessageDeflate::idle_bytes)
    }

    /// The configuration.
    pub fn config(&self) -> &WsConfig {
        &self.config
    }

    // ---- inputs ----

    /// Bytes read from the socket, split anywhere. They are only buffered here; parsing
    /// happens in [`WsConnection::poll_event`] — with one exception that changes no
    /// outcome: the middle of a binary payload whose header was already parsed is unmasked
    /// straight into its message, saving a copy through the input buffer.
    pub fn handle_input(&mut self, data: &[u8], now: Instant) {
        if data.is_empty() || self.eof || self.closed_queued || self.state == WsState::Closed {
            return;
        }
        self.last_input = now;
        self.unparsed = true;
        self.settle_input();
        let direct = self.take_payload_directly(data);
        self.inbuf.extend_from_slice(&data[direct..]);
    }

    /// Unmasks a prefix of `data` into the binary message being assembled, when nothing is
    /// buffered before it; returns how many bytes it took. It always leaves the frame's last
    /// byte to `poll_event`, which completes frames and messages and applies every rule;
    /// binary payloads need no check on the way (text is left alone: its UTF-8 check may
    /// fail, and failing belongs to `poll_event`).
    fn take_payload_directly(&mut self, data: &[u8]) -> usize {
        let Read::Payload(mut f) = self.read else {
            return 0;
        };
        if !self.inbuf.is_empty() || f.opcode.is_control() {
            return 0;
        }
        let Some(Incoming {
            data: Receiving::Assembled(a),
            compressed: false,
            ..
        }) = self.msg.as_deref_mut()
        else {
            return 0;
        };
        if a.kind() != DataKind::Binary {
            return 0;
        }
        let remaining = f.len - f.done;
        let take = remaining.saturating_sub(1).min(data.len() as u64) as usize;
        if take == 0 {
            return 0;
        }
        let appended = a.append_masked(&data[..take], f.key, (f.done & 3) as usize);
        // Binary: there is nothing to validate, so appending cannot fail.
        debug_assert!(appended.is_ok());
        f.done += take as u64;
        self.read = Read::Payload(f);
        take
    }

    /// The peer closed its side of TCP.
    pub fn handle_eof(&mut self, _now: Instant) {
        self.eof = true;
    }

    /// A deadline reported by [`WsConnection::poll_timeout`] may have passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.closed_queued {
            return;
        }
        match self.state {
            WsState::ClosingLocal if self.close_deadline.is_some_and(|d| now >= d) => {
                self.queue_closed();
            }
            WsState::Open => {
                let l = &self.config.limits;
                if l.idle_timeout.is_some_and(|t| now >= self.last_input + t) {
                    self.fail(WsError::IdleTimeout);
                    return;
                }
                if let Some(t) = l.ping_interval {
                    if now >= self.last_input.max(self.last_ping) + t {
                        self.last_ping = now;
                        write_control(&mut self.out, Opcode::Ping, &[]);
                    }
                }
            }
            _ => {}
        }
    }

    // ---- outputs ----

    /// The next event, parsing buffered input as far as needed for it.
    pub fn poll_event(&mut self) -> Option<WsEvent> {
        let event = self.next_event();
        if event.is_none() {
            self.unparsed = false;
        }
        event
    }

    fn next_event(&mut self) -> Option<WsEvent> {
        loop {
            match std::mem::replace(&mut self.ending, Ending::None) {
                Ending::None => {}
                Ending::Error(e) => {
                    self.ending = Ending::Closed;
                    return Some(WsEvent::Error(e));
                }
                Ending::Closed => {
                    self.state = WsState::Closed;
                    return Some(WsEvent::Closed);
                }
            }
            if self.input_finished() {
                return None;
            }
            if let Some(m) = self.whole_small_frame() {
                return Some(WsEvent::Message(m));
            }
            match self.step() {
                Ok(Step::Event(ev)) => return Some(ev),
                Ok(Step::Continue) => {}
                Ok(Step::NeedMore) => {
                    if !self.eof {
                        return None;
                    }
                    // EOF: the peer went away without completing the close handshake.
                    self.queue_closed();
                }
                Err(e) => self.fail(e),
            }
        }
    }

    /// The next message, only when the buffered input begins with a whole unfragmented data
    /// frame that becomes a message in one step; `None` otherwise, having changed nothing
    /// (anything else, every error included, is left to [`WsConnection::poll_event`]).
    ///
    /// An application waiting for a message can take it this way straight from the
    /// protocol, without a trip through the driver's event loop: it can only ever be the
    /// event `poll_event` would return next, and it never ends the connection.
    pub fn poll_plain_message(&mut self) -> Option<Message> {
        if !matches!(self.ending, Ending::None) || self.input_finished() {
            return None;
        }
        self.whole_small_frame()
    }

    /// Nothing more is parsed: the connection is ending, or the peer's close has arrived.
    fn input_finished(&self) -> bool {
        self.closed_queued || matches!(self.state, WsState::ClosingRemote | WsState::Closed)
    }

    /// The next deadline at which [`WsConnection::handle_timeout`] must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed_queued {
            return None;
        }
        match self.state {
            WsState::ClosingLocal => self.close_deadline,
            WsState::Open => {
                let l = &self.config.limits;
                let idle = l.idle_timeout.map(|t| self.last_input + t);
                let ping = l
                    .ping_interval
                    .map(|t| self.last_input.max(self.last_ping) + t);
                match (idle, ping) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
            _ => None,
        }
    }

    /// The bytes to write to the socket.
    pub fn output(&mut self) -> &mut OutQueue {
        &mut self.out
    }

    /// Frees buffer memory an idle connection does not need (the recycled message buffer,
    /// empty input and output buffers; input that waits for the rest of its frame moves to
    /// a buffer of its size). Call it when the connection goes quiet; the next message
    /// allocates again.
    pub fn release_idle_buffers(&mut self) {
        self.settle_input();
        if self.inbuf.is_empty() {
            if self.inbuf.capacity() > 0 {
                self.inbuf = BytesMut::new();
            }
        } else if self.inbuf.len() <= WAITING_INPUT_MAX {
            // A few bytes waiting for the rest of their frame would otherwise keep the
            // whole allocation of the last large read (`capacity` cannot tell: it does not
            // count what was consumed before them), so copy them out.
            self.inbuf = BytesMut::from(&self.inbuf[..]);
        }
        self.recycled = Vec::new();
        self.out.release_idle();
        if let Some(d) = self.deflate.as_deref_mut() {
            d.release();
        }
    }

    /// Whether reading more is useful now: the connection is not closed, the last input has been parsed (`poll_event` returned `None` since), and less than
    /// [`WsLimits::read_pause`](crate::proto::WsLimits::read_pause) is waiting unparsed.
    pub fn wants_read(&self) -> bool {
        !self.unparsed
            && !self.eof
            && self.state != WsState::Closed
            && self.inbuf.len() - self.taken < self.config.limits.read_pause
    }

    /// Bytes received but not yet turned into events.
    pub fn buffered_input(&self) -> usize {
        self.inbuf.len() - self.taken
    }

    /// The state of the close handshake.
    pub fn state(&self) -> WsState {
        self.state
    }

    /// Whether the connection is finished: once the output is drained, close the socket.
    pub fn is_closed(&self) -> bool {
        self.state == WsState::Closed
    }

    // ---- commands ----

    /// Sends one whole message, split into frames of at most
    /// [`WsLimits::max_outgoing_frame_size`] bytes. Payloads of 1 KiB or more are queued
    /// without a copy. A text payload must be UTF-8.
    ///
    /// With permessage-deflate, a payload of at least the threshold is sent compressed
    /// (uncompressed instead when that would not make it smaller and no context is kept).
    pub fn send(&mut self, kind: DataKind, payload: Bytes) -> Result<(), WsUsageError> {
        self.send_with(kind, payload, true)
    }

    /// Sends one whole message like [`WsConnection::send`], never compressed (for data that
    /// is already compressed, or a secret that should not share a compression context with
    /// attacker-chosen data).
    pub fn send_uncompressed(
        &mut self,
        kind: DataKind,
        payload: Bytes,
    ) -> Result<(), WsUsageError> {
        self.send_with(kind, payload, false)
    }

    /// Sends a message prepared for many connections: with permessage-deflate negotiated
    /// without server context takeover, it is compressed once per distinct setting and the
    /// compressed bytes are shared (see [`PreparedMessage`]).
    pub fn send_prepared(&mut self, msg: &mut PreparedMessage) -> Result<(), WsUsageError> {
        self.check_open()?;
        let kind = msg.kind();
        if let Some(d) = self.deflate.as_deref_mut() {
            if d.compresses(msg.payload().len()) {
                let compressed = if d.compressor.shareable() {
                    msg.compressed_for(&mut d.compressor)
                } else {
                    Some(Bytes::from(d.compressor.compress(msg.payload())))
                };
                if let Some(c) = compressed {
                    self.write_message(kind, c, true);
                    return Ok(());
                }
            }
        }
        self.write_message(kind, msg.payload().clone(), false);
        Ok(())
    }

    fn send_with(
        &mut self,
        kind: DataKind,
        payload: Bytes,
        compress: bool,
    ) -> Result<(), WsUsageError> {
        self.check_open()?;
        debug_assert!(
            kind == DataKind::Binary || std::str::from_utf8(&payload).is_ok(),
            "text message payload is not UTF-8"
        );
        if let Some(c) = self.compressed(compress, &payload) {
            self.write_message(kind, Bytes::from(c), true);
        } else {
            self.write_message(kind, payload, false);
        }
        Ok(())
    }

    /// The compressed payload, if this message goes out compressed.
    fn compressed(&mut self, compress: bool, payload: &[u8]) -> Option<Vec<u8>> {
        let d = self.deflate.as_deref_mut().filter(|_| compress)?;
        if !d.compresses(payload.len()) {
            return None;
        }
        let c = d.compressor.compress(payload);
        // Without context takeover a message may go out as it is when compressing did not
        // help; with it, the peer must see what the compressor saw.
        if d.compressor.shareable() && c.len() >= payload.len() {
            return None;
        }
        Some(c)
    }

    /// Queues a message's frames (RSV1 on the first if `compressed`).
    fn write_message(&mut self, kind: DataKind, payload: Bytes, compressed: bool) {
        let first = data_opcode(kind);
        let max = self
            .config
            .limits
            .max_outgoing_frame_size
            .unwrap_or(usize::MAX)
            .max(1);
        if payload.len() <= max {
            write_data(&mut self.out, first, true, compressed, payload);
            return;
        }
        let mut offset = 0;
        while offset < payload.len() {
            let end = (offset + max).min(payload.len());
            let op = if offset == 0 {
                first
            } else {
                Opcode::Continuation
            };
            write_data(
                &mut self.out,
                op,
                end == payload.len(),
                compressed && offset == 0,
                payload.slice(offset..end),
            );
            offset = end;
        }
    }

    /// Sends one whole message like [`WsConnection::send`], copying `payload` into the
    /// output queue (for small payloads the caller does not keep, such as a received
    /// message echoed back; its buffer can then be given to
    /// [`WsConnection::recycle_buffer`]).
    pub fn send_copied(&mut self, kind: DataKind, payload: &[u8]) -> Result<(), WsUsageError> {
        let max = self.config.limits.max_outgoing_frame_size;
        if max.is_some_and(|m| payload.len() > m.max(1)) {
            return self.send(kind, Bytes::copy_from_slice(payload));
        }
        self.check_open()?;
        debug_assert!(
            kind == DataKind::Binary || std::str::from_utf8(payload).is_ok(),
            "text message payload is not UTF-8"
        );
        if let Some(c) = self.compressed(true, payload) {
            self.write_message(kind, Bytes::from(c), true);
            return Ok(());
        }
        write_copied(&mut self.out, data_opcode(kind), payload);
        Ok(())
    }

    /// Hands back the buffer of a message the application is done with; the next message
    /// received is assembled in it instead of a new allocation. Buffers larger than
    /// [`RECYCLE_MAX`] are dropped, so a rare large message does not pin its memory.
    pub fn recycle_buffer(&mut self, mut buf: Vec<u8>) {
        if buf.capacity() <= RECYCLE_MAX && buf.capacity() > self.recycled.capacity() {
            buf.clear();
            self.recycled = buf;
        }
    }

    /// Sends a ping (payload at most 125 bytes).
    pub fn send_ping(&mut self, payload: Bytes) -> Result<(), WsUsageError> {
        self.send_control(Opcode::Ping, &payload)
    }

    /// Sends an unsolicited pong (payload at most 125 bytes).
    pub fn send_pong(&mut self, payload: Bytes) -> Result<(), WsUsageError> {
        self.send_control(Opcode::Pong, &payload)
    }

    /// Starts the close handshake: sends a close frame with `code` and `reason` (truncated to
    /// 123 bytes at a char boundary) and waits for the peer's close frame for at most
    /// [`WsLimits::close_timeout`]. [`CloseCode::NO_STATUS`] sends a close frame without a
    /// status code. Nothing can be sent afterwards.
    pub fn close(
        &mut self,
        code: CloseCode,
        reason: &str,
        now: Instant,
    ) -> Result<(), WsUsageError> {
        self.check_open()?;
        if code == CloseCode::NO_STATUS {
            write_control(&mut self.out, Opcode::Close, &[]);
        } else if !code.is_valid_on_wire() {
            return Err(WsUsageError::InvalidCloseCode(code.0));
        } else {
            write_close(&mut self.out, code, reason);
        }
        self.state = WsState::ClosingLocal;
        self.close_deadline = Some(now + self.config.limits.close_timeout);
        Ok(())
    }

    // ---- internals ----

    fn check_open(&self) -> Result<(), WsUsageError> {
        if self.state == WsState::Open && !self.closed_queued {
            Ok(())
        } else {
            Err(WsUsageError::Closed)
        }
    }

    fn send_control(&mut self, op: Opcode, payload: &[u8]) -> Result<(), WsUsageError> {
        self.check_open()?;
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(WsUsageError::ControlTooLong);
        }
        write_control(&mut self.out, op, payload);
        Ok(())
    }

    fn queue_closed(&mut self) {
        if !self.closed_queued {
            self.closed_queued = true;
            if matches!(self.ending, Ending::None) {
                self.ending = Ending::Closed;
            }
        }
    }

    /// Fails the connection: close frame (if we have not sent one), Error, Closed.
    fn fail(&mut self, e: WsError) {
        if self.closed_queued {
            return;
        }
        if self.state == WsState::Open {
            write_close(&mut self.out, e.close_code(), &e.to_string());
        }
        self.state = WsState::Closed;
        self.inbuf = BytesMut::new();
        self.taken = 0;
        self.msg = None;
        if let Some(d) = self.deflate.as_deref_mut() {
            d.inflater.abort();
        }
        self.ending = Ending::Error(e);
        self.queue_closed();
    }

    /// The fast path for the common case: the input starts with a whole, unfragmented
    /// text or binary frame of at most 64 KiB, within the limits (and valid UTF-8 if it
    /// is text). It becomes a message in one step. Anything else, including every
    /// error, is left to the general parser ([`WsConnection::step`]), which applies the
    /// same rules frame by frame.
    fn whole_small_frame(&mut self) -> Option<Message> {
        if !matches!(self.read, Read::Header) || self.msg.is_some() || self.config.stream_fragments
        {
            return None;
        }
        let b = &self.inbuf[self.taken..];
        let (&b0, &b1) = (b.first()?, b.get(1)?);
        // FIN, no RSV bits, Text or Binary; masked (every client frame must be).
        let kind = match b0 {
            0x81 => DataKind::Text,
            0x82 => DataKind::Binary,
            _ => return None,
        };
        let (len, start) = match b1 {
            0x80..=0xFD => ((b1 & 0x7F) as usize, 6),
            0xFE => {
                let n = u16::from_be_bytes([*b.get(2)?, *b.get(3)?]) as usize;
                if n < 126 {
                    return None; // non-minimal length: the general parser rejects it
                }
                (n, 8)
            }
            _ => return None,
        };
        let l = &self.config.limits;
        if b.len() < start + len
            || len as u64 > l.max_frame_size
            || len as u64 > l.max_message_size
            || l.max_fragments == 0
        {
            return None;
        }
        let key = [b[start - 4], b[start - 3], b[start - 2], b[start - 1]];
        // Unmasked in place (the input buffer is ours), then copied out in one piece.
        let at = self.taken + start;
        let payload = &mut self.inbuf[at..at + len];
        apply_mask(payload, key, 0);
        let mut buf = std::mem::take(&mut self.recycled);
        buf.extend_from_slice(payload);
        let msg = match kind {
            DataKind::Binary => Message::Binary(buf),
            DataKind::Text => match String::from_utf8(buf) {
                Ok(text) => Message::Text(text),
                Err(e) => {
                    // Invalid: put the frame back as it arrived (masking twice is the
                    // identity) for the general parser, which fails the connection with
                    // 1007.
                    apply_mask(&mut self.inbuf[at..at + len], key, 0);
                    self.recycle_buffer(e.into_bytes());
                    return None;
                }
            },
        };
        self.taken += start + len;
        if self.taken == self.inbuf.len() {
            // The burst is all taken: emptying the buffer is cheaper than advancing it.
            self.inbuf.clear();
            self.taken = 0;
        }
        Some(msg)
    }

    /// Gives the bytes taken by the one-step path back to the input buffer (see `taken`).
    #[inline]
    fn settle_input(&mut self) {
        if self.taken > 0 {
            self.inbuf.advance(self.taken);
            self.taken = 0;
        }
    }

    fn step(&mut self) -> Result<Step, WsError> {
        self.settle_input();
        match self.read {
            Read::Header => {
                let Some((h, n)) = FrameHeader::decode(&self.inbuf)? else {
                    return Ok(Step::NeedMore);
                };
                h.check_client_frame_with(self.deflate.is_some())?;
                self.begin_frame(&h)?;
                self.inbuf.advance(n);
                self.read = Read::Payload(InFrame {
                    opcode: h.opcode,
                    fin: h.fin,
                    key: h.mask.unwrap_or_default(),
                    len: h.payload_len,
                    done: 0,
                });
                Ok(Step::Continue)
            }
            Read::Payload(f) => self.payload(f),
        }
    }

    /// Applies the rules that need the connection's state, before any payload is buffered.
    fn begin_frame(&mut self, h: &FrameHeader) -> Result<(), WsError> {
        let l = &self.config.limits;
        if h.opcode.is_control() {
            return Ok(());
        }
        if h.payload_len > l.max_frame_size {
            return Err(WsError::FrameTooLarge);
        }
        match (h.opcode, &mut self.msg) {
            (Opcode::Continuation, None) => return Err(WsError::UnexpectedContinuation),
            (Opcode::Continuation, Some(_)) => {}
            (_, Some(_)) => return Err(WsError::ExpectedContinuation),
            (op, None) => {
                let kind = if op == Opcode::Text {
                    DataKind::Text
                } else {
                    DataKind::Binary
                };
                let data = if self.config.stream_fragments {
                    Receiving::Streamed {
                        kind,
                        utf8: Utf8Validator::new(),
                    }
                } else {
                    let buf = std::mem::take(&mut self.recycled);
                    Receiving::Assembled(Assembly::new(kind, buf))
                };
                self.msg = Some(Box::new(Incoming {
                    fragments: 0,
                    size: 0,
                    compressed: h.rsv & 0b100 != 0,
                    inflated: 0,
                    data,
                }));
            }
        }
        let m = self.msg.as_mut().expect("message set above");
        m.fragments += 1;
        if m.fragments > l.max_fragments {
            return Err(WsError::TooManyFragments);
        }
        m.size = m.size.saturating_add(h.payload_len);
        if m.size > l.max_message_size {
            return Err(WsError::MessageTooLarge);
        }
        if let (Receiving::Assembled(a), false) = (&mut m.data, m.compressed) {
            // Bounded by the limits checked above. (A compressed message grows as it is
            // inflated instead.)
            a.reserve(h.payload_len as usize);
        }
        Ok(())
    }

    fn payload(&mut self, mut f: InFrame) -> Result<Step, WsError> {
        if f.opcode.is_control() {
            return self.control(f);
        }
        let remaining = f.len - f.done;
        let take = remaining.min(self.inbuf.len() as u64) as usize;
        if take == 0 && remaining > 0 {
            return Ok(Step::NeedMore);
        }
        let phase = (f.done & 3) as usize;
        f.done += take as u64;
        let complete = f.done == f.len;
        self.read = if complete {
            Read::Header
        } else {
            Read::Payload(f)
        };

        let max = self.config.limits.max_message_size;
        let m: &mut Incoming = self.msg.as_mut().expect("data frame without a message");
        let last = complete && f.fin;
        let Incoming {
            data,
            compressed,
            inflated,
            ..
        } = m;
        let inflater = match (*compressed, self.deflate.as_deref_mut()) {
            (true, Some(d)) => {
                apply_mask(&mut self.inbuf[..take], f.key, phase);
                Some(&mut d.inflater)
            }
            _ => None,
        };
        match data {
            Receiving::Streamed { kind, utf8 } => {
                let kind = *kind;
                let data = if let Some(inflater) = inflater {
                    let mut out = BytesMut::new();
                    let mut sink = |c: &[u8]| {
                        if kind == DataKind::Text {
                            utf8.feed(c).map_err(|_| WsError::InvalidUtf8)?;
                        }
                        out.extend_from_slice(c);
                        Ok(())
                    };
                    let input = &self.inbuf[..take];
                    *inflated += inflater.feed::<WsError>(
                        input,
                        max.saturating_sub(*inflated),
                        &mut sink,
                    )?;
                    if last {
                        *inflated +=
                            inflater.finish::<WsError>(max.saturating_sub(*inflated), &mut sink)?;
                    }
                    self.inbuf.advance(take);
                    out.freeze()
                } else {
                    apply_mask(&mut self.inbuf[..take], f.key, phase);
                    if kind == DataKind::Text {
                        utf8.feed(&self.inbuf[..take])
                            .map_err(|_| WsError::InvalidUtf8)?;
                    }
                    self.inbuf.split_to(take).freeze()
                };
                if last && kind == DataKind::Text {
                    utf8.finish().map_err(|_| WsError::InvalidUtf8)?;
                }
                if last {
                    self.msg = None;
                }
                if !data.is_empty() || last {
                    return Ok(Step::Event(WsEvent::Fragment {
                        kind,
                        data,
                        fin: last,
                    }));
                }
                Ok(Step::Continue)
            }
            Receiving::Assembled(a) => {
                if let Some(inflater) = inflater {
                    let mut sink = |c: &[u8]| {
                        a.reserve_within(c.len(), max as usize);
                        a.append(c).map_err(|_| WsError::InvalidUtf8)
                    };
                    let input = &self.inbuf[..take];
                    *inflated += inflater.feed::<WsError>(
                        input,
                        max.saturating_sub(*inflated),
                        &mut sink,
                    )?;
                    if last {
                        *inflated +=
                            inflater.finish::<WsError>(max.saturating_sub(*inflated), &mut sink)?;
                    }
                } else {
                    a.append_masked(&self.inbuf[..take], f.key, phase)
                        .map_err(|_| WsError::InvalidUtf8)?;
                }
                self.inbuf.advance(take);
                if last {
                    let Some(Incoming {
                        data: Receiving::Assembled(a),
                        ..
                    }) = self.msg.take().map(|m| *m)
                    else {
                        unreachable!("the message is assembled (matched above)");
                    };
                    let msg = a.finish().map_err(|_| WsError::InvalidUtf8)?;
                    return Ok(Step::Event(WsEvent::Message(msg)));
                }
                Ok(if complete {
                    Step::Continue
                } else {
                    Step::NeedMore
                })
            }
        }
    }

    /// A control frame, once its payload is all in the input buffer (it waits there: at
    /// most 125 bytes, so no buffer of its own is needed, and a connection that goes idle
    /// in the middle of one keeps those bytes with the rest of its input).
    fn control(&mut self, f: InFrame) -> Result<Step, WsError> {
        let len = f.len as usize; // at most 125: `check_client_frame`
        if self.inbuf.len() < len {
            return Ok(Step::NeedMore);
        }
        let mut buf = [0u8; MAX_CONTROL_PAYLOAD];
        let payload = &mut buf[..len];
        payload.copy_from_slice(&self.inbuf[..len]);
        apply_mask(payload, f.key, 0);
        self.inbuf.advance(len);
        self.read = Read::Header;
        let payload = &buf[..len];
        match f.opcode {
            Opcode::Ping => {
                if self.state == WsState::Open {
                    write_control(&mut self.out, Opcode::Pong, payload);
                }
                Ok(Step::Event(WsEvent::Ping(Bytes::copy_from_slice(payload))))
            }
            Opcode::Pong => Ok(Step::Event(WsEvent::Pong(Bytes::copy_from_slice(payload)))),
            Opcode::Close => {
                let frame = parse_close_payload(payload)?;
                if self.state == WsState::Open {
                    match &frame {
                        Some(fr) => write_close(&mut self.out, fr.code, ""),
                        None => write_control(&mut self.out, Opcode::Close, &[]),
                    }
                    self.state = WsState::ClosingRemote;
                }
                self.msg = None;
                self.inbuf = BytesMut::new();
                self.taken = 0;
                self.queue_closed();
                Ok(Step::Event(WsEvent::PeerClose(frame)))
            }
            _ => unreachable!("not a control opcode"),
        }
    }
}

/// Queues a data frame: header in the tail, payload by reference when large. `rsv1`: the
/// first frame of a compressed message.
fn write_data(out: &mut OutQueue, op: Opcode, fin: bool, rsv1: bool, payload: Bytes) {
    let mut h = FrameHeader::new(op, fin, payload.len() as u64);
    h.rsv = if rsv1 { 0b100 } else { 0 };
    let (h, n) = h.to_array();
    out.extend_from_slice(&h[..n]);
    if !payload.is_empty() {
        out.push(payload);
    }
}

/// Queues a control frame (payload at most 125 bytes, copied into the tail).
fn write_control(out: &mut OutQueue, op: Opcode, payload: &[u8]) {
    debug_assert!(payload.len() <= MAX_CONTROL_PAYLOAD);
    write_copied(out, op, payload);
}

/// Queues a final frame with its payload copied into the tail.
fn write_copied(out: &mut OutQueue, op: Opcode, payload: &[u8]) {
    let (h, n) = FrameHeader::new(op, true, payload.len() as u64).to_array();
    out.extend_from_slices(&[&h[..n], payload]);
}

/// The opcode that starts a message of `kind`.
fn data_opcode(kind: DataKind) -> Opcode {
    match kind {
        DataKind::Text => Opcode::Text,
        DataKind::Binary => Opcode::Binary,
    }
}

/// Queues a close frame with a status code and a reason cut to fit.
fn write_close(out: &mut OutQueue, code: CloseCode, reason: &str) {
    let reason = truncate_reason(reason);
    let mut p = [0u8; MAX_CONTROL_PAYLOAD];
    p[..2].copy_from_slice(&code.0.to_be_bytes());
    p[2..2 + reason.len()].copy_from_slice(reason.as_bytes());
    write_control(out, Opcode::Close, &p[..2 + reason.len()]);
}
