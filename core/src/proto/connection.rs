//! [`Connection`]: the questions both protocol state machines of a connection answer the
//! same way, so that an event loop drives "the protocol" without asking which one it is.
//!
//! A connection starts as [`http::ServerConnection`](super::http::ServerConnection) and may
//! become a [`ws::WsConnection`](super::ws::WsConnection) after an upgrade. Everything an
//! event loop does with the socket and the clock is the same for both: feed input, report
//! EOF and deadlines, ask whether to read, write the output, close when finished. What
//! differs (events and commands) stays on each type.
//!
//! Rules every implementation keeps:
//! - `wants_read` is false while input already handed in has not been parsed to the end
//!   (call `poll_event` until it returns `None` first): a burst of messages then costs one
//!   read, and unparsed input never piles up. It is also false while the protocol holds as
//!   much unparsed input as it allows (its read pause), after EOF, and once closed.
//! - `is_closed` true means: nothing more will be exchanged; write the output, then close
//!   the socket. It never turns false again.
//! - `poll_timeout` is recomputed after every step; `handle_timeout(now)` may be called
//!   early or late (it acts only on deadlines that have passed at `now`).
//! - `release_idle_buffers` gives back memory that holds nothing; the next input or command
//!   allocates again.

use super::http::ServerConnection;
use super::outbuf::OutQueue;
use super::ws::WsConnection;
use std::time::Instant;

/// The socket-and-clock side of a protocol state machine (see the [module docs](self)).
pub trait Connection {
    /// Bytes read from the peer, split anywhere.
    fn handle_input(&mut self, input: &[u8], now: Instant);
    /// The peer closed its sending side.
    fn handle_eof(&mut self, now: Instant);
    /// A deadline from [`Connection::poll_timeout`] may have passed.
    fn handle_timeout(&mut self, now: Instant);
    /// The next instant at which [`Connection::handle_timeout`] must be called.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Whether reading more from the socket is useful now.
    fn wants_read(&self) -> bool;
    /// Whether the connection is finished: once the output is written, close the socket.
    fn is_closed(&self) -> bool;
    /// Bytes received and not yet parsed.
    fn buffered_input(&self) -> usize;
    /// The bytes to write.
    fn output(&mut self) -> &mut OutQueue;
    /// Frees buffers that hold nothing.
    fn release_idle_buffers(&mut self);
}

impl Connection for ServerConnection {
    fn handle_input(&mut self, input: &[u8], now: Instant) {
        ServerConnection::handle_input(self, input, now)
    }
    fn handle_eof(&mut self, _now: Instant) {
        ServerConnection::handle_eof(self)
    }
    fn handle_timeout(&mut self, now: Instant) {
        ServerConnection::handle_timeout(self, now)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        ServerConnection::poll_timeout(self)
    }
    fn wants_read(&self) -> bool {
        ServerConnection::wants_read(self)
    }
    fn is_closed(&self) -> bool {
        self.should_close()
    }
    fn buffered_input(&self) -> usize {
        self.buffered()
    }
    fn output(&mut self) -> &mut OutQueue {
        ServerConnection::output(self)
    }
    fn release_idle_buffers(&mut self) {
        drop(self.take_idle_input());
        ServerConnection::output(self).release_idle()
    }
}

impl Connection for WsConnection {
    fn handle_input(&mut self, input: &[u8], now: Instant) {
        WsConnection::handle_input(self, input, now)
    }
    fn handle_eof(&mut self, now: Instant) {
        WsConnection::handle_eof(self, now)
    }
    fn handle_timeout(&mut self, now: Instant) {
        WsConnection::handle_timeout(self, now)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        WsConnection::poll_timeout(self)
    }
    fn wants_read(&self) -> bool {
        WsConnection::wants_read(self)
    }
    fn is_closed(&self) -> bool {
        WsConnection::is_closed(self)
    }
    fn buffered_input(&self) -> usize {
        WsConnection::buffered_input(self)
    }
    fn output(&mut self) -> &mut OutQueue {
        WsConnection::output(self)
    }
    fn release_idle_buffers(&mut self) {
        WsConnection::release_idle_buffers(self)
    }
}
