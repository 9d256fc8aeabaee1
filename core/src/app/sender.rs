//! [`Sender`]: a cloneable handle that any task can use to push messages to one
//! WebSocket connection.

use super::broadcast::HubInner;
use super::conn::{ConnShared, Proto, WsSendRefused};
use super::error::{SendError, TrySendError};
use crate::proto::ws::{CloseCode, DataKind, Message, PreparedMessage, WsState};
use bytes::Bytes;
use std::future::{poll_fn, Future};
use std::sync::{Arc, Weak};

/// Sends messages to one WebSocket connection from anywhere. Cloning is cheap.
///
/// Messages from all senders and from the handler go out in the order they were queued.
/// The connection's outgoing queue is bounded (`max_outgoing_queue`): [`Sender::send`]
/// waits for room, [`Sender::try_send`] refuses with [`TrySendError::Full`].
#[derive(Clone)]
pub struct Sender {
    conn: Arc<ConnShared>,
    ws: bool,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("peer", &self.conn.peer)
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Sender {
    pub(crate) fn new(conn: Arc<ConnShared>, ws: bool) -> Self {
        Sender { conn, ws }
    }

    /// Whether the connection can no longer take messages.
    pub fn is_closed(&self) -> bool {
        if !self.ws {
            return true;
        }
        let mut st = self.conn.lock();
        match &mut st.proto {
            Proto::Ws(ws) => ws.state() != WsState::Open,
            _ => true,
        }
    }

    /// Whether two senders reach the same connection.
    pub fn same_connection(&self, other: &Sender) -> bool {
        Arc::ptr_eq(&self.conn, &other.conn)
    }

    /// Sends a message, waiting while the outgoing queue is over its limit.
    pub fn send(
        &self,
        msg: impl Into<Message>,
    ) -> impl Future<Output = Result<(), SendError>> + Send + '_ {
        self.conn.send_message(self.ws.then(|| msg.into()))
    }

    /// Sends a text message whose bytes are shared (for example by a broadcast to many
    /// connections: the payload is not copied per connection).
    ///
    /// # Panics
    /// If `kind` is [`DataKind::Text`] and `payload` is not UTF-8.
    pub async fn send_shared(&self, kind: DataKind, payload: Bytes) -> Result<(), SendError> {
        assert!(
            kind == DataKind::Binary || std::str::from_utf8(&payload).is_ok(),
            "text payload must be UTF-8"
        );
        self.send_raw(kind, payload).await
    }

    /// Queues a message if the outgoing queue has room, without waiting.
    pub fn try_send(&self, msg: impl Into<Message>) -> Result<(), TrySendError> {
        let (kind, payload) = Message::into_payload(msg.into());
        self.try_send_shared(kind, payload)
    }

    /// Like [`Sender::try_send`] with a shared payload.
    ///
    /// # Panics
    /// If `kind` is [`DataKind::Text`] and `payload` is not UTF-8.
    pub fn try_send_shared(&self, kind: DataKind, payload: Bytes) -> Result<(), TrySendError> {
        assert!(
            kind == DataKind::Binary || std::str::from_utf8(&payload).is_ok(),
            "text payload must be UTF-8"
        );
        if !self.ws {
            return Err(TrySendError::Closed);
        }
        let limit = self.conn.config.max_outgoing_queue;
        let mut st = self.conn.lock();
        match st.ws_try_send(kind, payload, limit) {
            Ok(()) => {
                if let Some(w) = &st.driver_waker {
                    w.wake_by_ref();
                }
                Ok(())
            }
            Err(WsSendRefused::Full(_)) => Err(TrySendError::Full),
            Err(WsSendRefused::Closed) => Err(TrySendError::Closed),
        }
    }

    /// Sends a message like [`Sender::send`], never compressed even when the connection
    /// negotiated permessage-deflate (data already compressed, or a secret that must not
    /// share a compression context with attacker-chosen text).
    pub async fn send_uncompressed(&self, msg: impl Into<Message>) -> Result<(), SendError> {
        let (kind, payload) = Message::into_payload(msg.into());
        let mut payload = self.ws.then_some(payload);
        poll_fn(|cx| {
            self.conn.poll_send(cx, &mut payload, |st, p, limit| {
                st.ws_try_send_uncompressed(kind, p, limit)
            })
        })
        .await
    }

    /// Queues a message prepared for many connections if the outgoing queue has room
    /// (what [`Hub`](super::Hub) publishes with: compressed once per setting).
    pub(crate) fn try_send_prepared(&self, msg: &mut PreparedMessage) -> Result<(), TrySendError> {
        if !self.ws {
            return Err(TrySendError::Closed);
        }
        let limit = self.conn.config.max_outgoing_queue;
        let mut st = self.conn.lock();
        match st.ws_try_send_prepared(msg, limit) {
            Ok(()) => {
                if let Some(w) = &st.driver_waker {
                    w.wake_by_ref();
                }
                Ok(())
            }
            Err(WsSendRefused::Full(_)) => Err(TrySendError::Full),
            Err(WsSendRefused::Closed) => Err(TrySendError::Closed),
        }
    }

    /// Asks this connection's driver to deliver `hub`'s queued remote messages on its next
    /// poll, and wakes it. False when no driver will run it: not a WebSocket, a driver
    /// that is gone, or one that has never been polled (so its waker is unknown).
    pub(crate) fn relay(&self, hub: &Weak<HubInner>) -> bool {
        if !self.ws {
            return false;
        }
        let mut st = self.conn.lock();
        if st.driver_gone {
            return false;
        }
        let Some(w) = st.driver_waker.clone() else {
            return false;
        };
        st.relays.push(hub.clone());
        drop(st);
        w.wake();
        true
    }

    pub(crate) async fn send_raw(&self, kind: DataKind, payload: Bytes) -> Result<(), SendError> {
        let mut payload = self.ws.then_some(payload);
        poll_fn(|cx| {
            self.conn.poll_send(cx, &mut payload, |st, p, limit| {
                st.ws_try_send(kind, p, limit)
            })
        })
        .await
    }

    /// Counts, for the server's metrics, a Hub message this connection's full queue made
    /// it miss (`disconnect: false`) or its disconnection for being too slow.
    pub(crate) fn note_full(&self, disconnect: bool) {
        let mut st = self.conn.lock();
        let first = st.ws.counts.is_empty();
        if disconnect {
            st.ws.counts.slow_disconnect = true;
        } else {
            st.ws.counts.hub_drops += 1;
        }
        // The driver reports counts when it goes idle; a stalled reader's driver may sleep
        // for long, so wake it once (not per drop) to report this one.
        if first {
            if let Some(w) = &st.driver_waker {
                w.wake_by_ref();
            }
        }
    }

    /// Starts the close handshake with `code` and `reason` (cut to fit a control frame).
    pub fn close(&self, code: CloseCode, reason: &str) -> Result<(), SendError> {
        #[cfg(feature = "tracing")]
        if self.ws {
            crate::app::trace::ws_closed(crate::app::trace::By::Server, Some(code), reason);
        }
        let mut st = self.conn.lock();
        let result = match &mut st.proto {
            Proto::Ws(ws) if self.ws => ws
                .close(code, reason, (self.conn.clock)())
                .map_err(|_| SendError::Closed),
            _ => Err(SendError::Closed),
        };
        if let Some(w) = &st.driver_waker {
            w.wake_by_ref();
        }
        result
    }
}
