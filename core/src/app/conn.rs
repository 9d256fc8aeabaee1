//! State shared by a connection's driver and the handler's [`Context`](super::Context)s and
//! [`Sender`](super::Sender)s.
//!
//! The driver and the handler usually run in the same task, so the mutex is uncontended;
//! it is there because a handler may move a `Context` clone or a `Sender` into other tasks.

use super::broadcast::HubInner;
use super::config::ServerConfig;
use super::error::SendError;
use crate::proto::http::ServerConnection;
use crate::proto::outbuf::COPY_THRESHOLD;
use crate::proto::ws::{DataKind, Message, PreparedMessage, WsConnection, WsState, WsUsageError};
use crate::proto::{Connection, OutQueue};
use bytes::Bytes;
use parking_lot::{Mutex, MutexGuard};
use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context as TaskCx, Poll, Waker};
use std::time::Instant;

/// The protocol the connection currently speaks.
pub(crate) enum Proto {
    Http(Box<ServerConnection>),
    Ws(Box<WsConnection>),
    /// The socket is gone; every operation fails.
    Done,
}

/// Calls the same [`Connection`] method on whichever protocol is live (statically
/// dispatched: these calls sit on the per-message path), or yields `$done` once the
/// socket is gone.
macro_rules! each_proto {
    ($proto:expr, $c:ident => $call:expr, $done:expr) => {
        match $proto {
            Proto::Http($c) => $call,
            Proto::Ws($c) => $call,
            Proto::Done => $done,
        }
    };
}

/// The driver asks the protocol these questions without caring which one it is.
impl Proto {
    pub(crate) fn output(&mut self) -> Option<&mut OutQueue> {
        each_proto!(self, c => Some(Connection::output(&mut **c)), None)
    }

    /// Bytes queued for writing.
    pub(crate) fn queued(&mut self) -> usize {
        self.output().map_or(0, |o| o.len())
    }

    pub(crate) fn handle_input(&mut self, input: &[u8], now: Instant) {
        each_proto!(self, c => c.handle_input(input, now), ())
    }

    pub(crate) fn handle_eof(&mut self, now: Instant) {
        each_proto!(self, c => Connection::handle_eof(&mut **c, now), ())
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        each_proto!(self, c => c.handle_timeout(now), ())
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        each_proto!(self, c => c.poll_timeout(), None)
    }

    pub(crate) fn wants_read(&self) -> bool {
        each_proto!(self, c => c.wants_read(), false)
    }

    /// Finished and written out: time to close the socket. `Done` (socket already gone)
    /// counts as finished.
    pub(crate) fn is_finished(&mut self) -> bool {
        each_proto!(self, c => Connection::is_closed(&**c) && Connection::output(&mut **c).is_empty(), true)
    }

    /// Finished, perhaps with output still queued: nothing more will be queued, so the
    /// queued output is the last the connection sends. `Done` counts as closed.
    pub(crate) fn is_closed(&self) -> bool {
        each_proto!(self, c => Connection::is_closed(&**c), true)
    }

    pub(crate) fn release_idle_buffers(&mut self) {
        each_proto!(self, c => c.release_idle_buffers(), ())
    }
}

/// The request an HTTP handler is working on.
pub(crate) struct RequestSlot {
    /// Which request of the connection this is (contexts of older ones are stale).
    pub id: u64,
    /// Body received so far.
    pub body: Vec<u8>,
    pub body_state: BodyState,
    /// The response head has gone out (streaming or complete).
    pub head_sent: bool,
    /// The response is complete.
    pub finished: bool,
}

/// How far the request body has arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyState {
    Receiving,
    Complete,
    /// The request failed (bad framing, limit, peer gone): the body is unusable.
    Failed,
}

/// WebSocket bookkeeping of the framework side.
#[derive(Default)]
pub(crate) struct WsSide {
    pub inbound: VecDeque<Message>,
    pub inbound_bytes: usize,
    /// Kind of the last data message received (Binary before any).
    pub last_kind: Option<DataKind>,
    /// No more messages will arrive (peer closed, connection failed or closed).
    pub recv_done: bool,
    /// Messages and bytes counted since the driver last reported them (see `app::metrics`).
    pub counts: crate::app::metrics::ConnCounts,
}

/// Why [`ConnState::ws_try_send`] did not queue a message.
pub(crate) enum WsSendRefused<P = Bytes> {
    /// The outgoing queue is over its limit; here is the payload back.
    Full(P),
    /// The connection is not open.
    Closed,
}

/// Mutable per-connection state.
pub(crate) struct ConnState {
    pub proto: Proto,
    pub request: Option<RequestSlot>,
    pub ws: WsSide,
    /// Wakes the connection's driver (for senders in other tasks, and shutdown).
    pub driver_waker: Option<Waker>,
    /// A task waiting for a message or for the request body.
    pub recv_waker: Option<Waker>,
    /// Tasks waiting for room in the outgoing queue.
    pub send_wakers: Vec<Waker>,
    /// Something the handler may wait for happened while the driver's own task (which
    /// polls the handler) was running, so no wake-up was sent: the driver polls the
    /// handler again in the same turn.
    pub nudged: bool,
    /// Hubs that asked this connection's driver to deliver their queued remote messages
    /// on its next poll (see `HubInner::deliver_remote`): a backplane thread hands a
    /// message to the runtime with one wake-up of this task instead of one per member.
    pub relays: Vec<Weak<HubInner>>,
    /// The driver is gone (dropped): nothing asked of it here would ever run.
    pub driver_gone: bool,
    /// What the TLS handshake settled (set once it completes; `None` on plaintext).
    #[cfg(feature = "tls")]
    pub tls: Option<Box<TlsInfo>>,
}

/// What a completed TLS handshake tells the handler.
#[cfg(feature = "tls")]
pub(crate) struct TlsInfo {
    /// The server name the client asked for (SNI).
    pub server_name: Option<Box<str>>,
}

/// Shared, immutable-after-accept facts about a connection plus its mutable state.
pub(crate) struct ConnShared {
    pub state: Mutex<ConnState>,
    pub peer: Option<SocketAddr>,
    pub config: Arc<ServerConfig>,
    /// The runtime's clock (`Runtime::now`), for commands issued outside the driver.
    pub clock: fn() -> Instant,
}

fn store_waker(slot: &mut Option<Waker>, w: &Waker) {
    match slot {
        Some(old) if old.will_wake(w) => {}
        _ => *slot = Some(w.clone()),
    }
}

impl ConnShared {
    pub(crate) fn new(
        proto: Proto,
        peer: Option<SocketAddr>,
        config: Arc<ServerConfig>,
        clock: fn() -> Instant,
    ) -> Self {
        ConnShared {
            state: Mutex::new(ConnState {
                proto,
                request: None,
                ws: WsSide::default(),
                driver_waker: None,
                recv_waker: None,
                send_wakers: Vec::new(),
                nudged: false,
                relays: Vec::new(),
                driver_gone: false,
                #[cfg(feature = "tls")]
                tls: None,
            }),
            peer,
            config,
            clock,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, ConnState> {
        // A panic while holding the lock leaves consistent-enough state (every critical
        // section is a few field updates), so a lock without poisoning fits.
        self.state.lock()
    }
}

impl ConnState {
    /// Remembers `w` as the task waiting to receive.
    pub(crate) fn park_receiver(&mut self, w: &Waker) {
        store_waker(&mut self.recv_waker, w);
    }

    /// Remembers `w` as a task waiting for room to send.
    pub(crate) fn park_sender(&mut self, w: &Waker) {
        if !self.send_wakers.iter().any(|x| x.will_wake(w)) {
            self.send_wakers.push(w.clone());
        }
    }

    /// Remembers the driver's waker.
    pub(crate) fn set_driver_waker(&mut self, w: &Waker) {
        store_waker(&mut self.driver_waker, w);
    }

    /// Wakes the receiver; if it is the task `current` (the driver's, which polls the
    /// handler), marks the handler as nudged instead.
    pub(crate) fn wake_receiver(&mut self, current: Option<&Waker>) {
        if let Some(w) = &self.recv_waker {
            if current.is_some_and(|c| c.will_wake(w)) {
                // Kept, not taken: the handler parks again with the same waker after each
                // message, and keeping it saves a clone and a drop (two atomic operations
                // on the task) per message. At worst the driver polls a handler that is
                // no longer waiting to receive, which is harmless.
                self.nudged = true;
                return;
            }
        }
        if let Some(w) = self.recv_waker.take() {
            w.wake();
        }
    }

    /// Wakes every task waiting for room to send (the task `current` is nudged instead).
    pub(crate) fn wake_senders(&mut self, current: Option<&Waker>) {
        for w in self.send_wakers.drain(..) {
            if current.is_some_and(|c| c.will_wake(&w)) {
                self.nudged = true;
                continue;
            }
            w.wake();
        }
    }

    /// Wakes the driver, unless it is the task `current`.
    pub(crate) fn wake_driver(&self, current: &Waker) {
        if let Some(w) = &self.driver_waker {
            if !w.will_wake(current) {
                w.wake_by_ref();
            }
        }
    }

    /// The next message straight from the protocol, for a receiver that found the queue
    /// empty: the next frame already received, when it is a whole plain message (see
    /// `WsConnection::poll_plain_message`). It skips the driver's event loop and the
    /// receiver's park and wake-up, so a burst of messages is answered in one poll of the
    /// handler, one message buffer going round. Not while replies pile up: the driver
    /// parses nothing then either (its output cap), and the sender would wait anyway.
    pub(crate) fn take_plain_message(&mut self, out_limit: usize) -> Option<Message> {
        let Proto::Ws(ws) = &mut self.proto else {
            return None;
        };
        if ws.output().len() > out_limit {
            return None;
        }
        let m = ws.poll_plain_message()?;
        self.ws.counts.received(m.len());
        self.ws.last_kind = Some(m.kind());
        Some(m)
    }

    /// Queues a WebSocket data message, honouring the outgoing high-water mark.
    ///
    /// Takes the payload by value (a clone of a `Bytes` built from a `Vec` would allocate)
    /// and hands it back when the queue is full, so the caller can retry with it.
    pub(crate) fn ws_try_send(
        &mut self,
        kind: DataKind,
        payload: Bytes,
        limit: usize,
    ) -> Result<(), WsSendRefused> {
        self.ws_try_send_with(kind, payload, limit, WsConnection::send)
    }

    /// Like [`ConnState::ws_try_send`], never compressed (permessage-deflate).
    pub(crate) fn ws_try_send_uncompressed(
        &mut self,
        kind: DataKind,
        payload: Bytes,
        limit: usize,
    ) -> Result<(), WsSendRefused> {
        self.ws_try_send_with(kind, payload, limit, WsConnection::send_uncompressed)
    }

    /// The high-water check, the count and the state check of a send, around `send`.
    fn ws_try_send_with(
        &mut self,
        kind: DataKind,
        payload: Bytes,
        limit: usize,
        send: fn(&mut WsConnection, DataKind, Bytes) -> Result<(), WsUsageError>,
    ) -> Result<(), WsSendRefused> {
        match &mut self.proto {
            Proto::Ws(ws) if ws.state() == WsState::Open => {
                if ws.output().len() > limit {
                    return Err(WsSendRefused::Full(payload));
                }
                self.ws.counts.sent(payload.len());
                send(ws, kind, payload).map_err(|_| WsSendRefused::Closed)
            }
            _ => Err(WsSendRefused::Closed),
        }
    }

    /// Like [`ConnState::ws_try_send`] for a message prepared for many connections
    /// (compressed once per setting, see [`PreparedMessage`]).
    pub(crate) fn ws_try_send_prepared(
        &mut self,
        msg: &mut PreparedMessage,
        limit: usize,
    ) -> Result<(), WsSendRefused<()>> {
        match &mut self.proto {
            Proto::Ws(ws) if ws.state() == WsState::Open => {
                if ws.output().len() > limit {
                    return Err(WsSendRefused::Full(()));
                }
                ws.send_prepared(msg).map_err(|_| WsSendRefused::Closed)
            }
            _ => Err(WsSendRefused::Closed),
        }
    }

    /// Like [`ConnState::ws_try_send`] for a whole [`Message`]: a small payload is copied
    /// into the output and its buffer goes back to the protocol for the next message
    /// received (an echo allocates nothing per message); a large one is queued by
    /// reference.
    pub(crate) fn ws_try_send_message(
        &mut self,
        msg: Message,
        limit: usize,
    ) -> Result<(), WsSendRefused<Message>> {
        match &mut self.proto {
            Proto::Ws(ws) if ws.state() == WsState::Open => {
                if ws.output().len() > limit {
                    return Err(WsSendRefused::Full(msg));
                }
                let (kind, buf) = match msg {
                    Message::Text(s) => (DataKind::Text, s.into_bytes()),
                    Message::Binary(b) => (DataKind::Binary, b),
                };
                self.ws.counts.sent(buf.len());
                let sent = if buf.len() < COPY_THRESHOLD {
                    let r = ws.send_copied(kind, &buf);
                    ws.recycle_buffer(buf);
                    r
                } else {
                    ws.send(kind, Bytes::from(buf))
                };
                sent.map_err(|_| WsSendRefused::Closed)
            }
            _ => Err(WsSendRefused::Closed),
        }
    }
}

impl ConnShared {
    /// Sends a whole message, waiting while the outgoing queue is over its limit.
    pub(crate) fn send_message(&self, msg: Option<Message>) -> SendMessage<'_> {
        SendMessage { conn: self, msg }
    }
}

/// The future of `send_message` (a named type keeps it small: it is part of every
/// handler future that sends, and so of the memory of every connection).
pub(crate) struct SendMessage<'a> {
    conn: &'a ConnShared,
    /// `None` once sent, or from the start when the context is not a WebSocket.
    msg: Option<Message>,
}

impl Future for SendMessage<'_> {
    type Output = Result<(), SendError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.conn
            .poll_send(cx, &mut this.msg, ConnState::ws_try_send_message)
    }
}

impl ConnShared {
    /// One attempt of a waiting send: queues `*payload` with `try_send` (given the state and
    /// the outgoing limit), or, when the queue is full, keeps it in `payload` and parks `cx`
    /// until the driver has written enough. `None` in `payload` means there is nothing to
    /// send (already sent, or not a WebSocket): `Closed`.
    pub(crate) fn poll_send<P>(
        &self,
        cx: &mut TaskCx<'_>,
        payload: &mut Option<P>,
        try_send: impl FnOnce(&mut ConnState, P, usize) -> Result<(), WsSendRefused<P>>,
    ) -> Poll<Result<(), SendError>> {
        let Some(p) = payload.take() else {
            return Poll::Ready(Err(SendError::Closed));
        };
        let mut st = self.lock();
        match try_send(&mut st, p, self.config.max_outgoing_queue) {
            Ok(()) => {
                st.wake_driver(cx.waker());
                Poll::Ready(Ok(()))
            }
            Err(WsSendRefused::Full(p)) => {
                *payload = Some(p);
                st.park_sender(cx.waker());
                st.wake_driver(cx.waker());
                Poll::Pending
            }
            Err(WsSendRefused::Closed) => Poll::Ready(Err(SendError::Closed)),
        }
    }
}
