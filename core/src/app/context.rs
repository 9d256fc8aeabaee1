//! [`Context`]: what a handler gets — the request, the response being built, and, on a
//! WebSocket route, the message stream.

use super::body::{Body, IntoBody};
use super::conn::{BodyState, ConnShared, Proto};
use super::error::SendError;
use super::headers;
use super::router::percent_decode;
use super::sender::Sender;
use crate::proto::http::{BodyLength, Method, RequestHead, ResponseHead};
use crate::proto::ws::{CloseCode, DataKind, Message};
use bytes::Bytes;
use parking_lot::{Mutex, MutexGuard};
use std::borrow::Cow;
use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;

/// Whether a context serves one HTTP request or a whole WebSocket connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The `id`th request of its connection.
    Http { id: u64 },
    /// A WebSocket connection, after the 101; `protocol` indexes the subprotocol agreed
    /// on in `ServerConfig::ws_protocols` (chosen once, from the handshake's own parse).
    Ws { protocol: Option<u16> },
}

/// A response's header list, as a handler sets it.
pub(crate) type Headers = Vec<(Cow<'static, str>, Cow<'static, str>)>;

/// The response a handler is building.
#[derive(Debug, Clone)]
pub(crate) struct Draft {
    pub status: u16,
    pub headers: Vec<(Cow<'static, str>, Cow<'static, str>)>,
    pub body: Body,
}

impl Draft {
    fn new() -> Self {
        Draft {
            status: 200,
            headers: Vec::new(),
            body: Body::default(),
        }
    }

    /// The response head for this draft; adds a content-type when the handler set none.
    pub(crate) fn head(&self) -> ResponseHead {
        Self::head_from(self.status, self.headers.clone(), &self.body)
    }

    /// The response head as set, with no content-type guessed from the draft body.
    pub(crate) fn head_without_type(&self) -> ResponseHead {
        let mut head = ResponseHead::new(self.status);
        head.headers = self.headers.clone();
        head
    }

    /// The response head, taking the draft's headers (the draft is done with).
    pub(crate) fn take_head(&mut self) -> ResponseHead {
        Self::head_from(self.status, std::mem::take(&mut self.headers), &self.body)
    }

    fn head_from(
        status: u16,
        headers: Vec<(Cow<'static, str>, Cow<'static, str>)>,
        body: &Body,
    ) -> ResponseHead {
        let mut head = ResponseHead::new(status);
        head.headers = headers;
        // Usually set with the lower-case constant: an exact match is cheaper to find.
        let has_type = head.headers.iter().any(|(n, _)| {
            n == headers::CONTENT_TYPE || n.eq_ignore_ascii_case(headers::CONTENT_TYPE)
        });
        if !has_type && !body.is_empty() {
            let ty = if body.is_text() {
                headers::TEXT_PLAIN
            } else {
                "application/octet-stream"
            };
            head.headers.push((headers::CONTENT_TYPE.into(), ty.into()));
        }
        head
    }
}

pub(crate) struct CtxInner {
    pub conn: Arc<ConnShared>,
    pub head: RequestHead,
    /// Boxed slice rather than `Vec`: a WebSocket keeps its context for life.
    pub params: Box<[(String, String)]>,
    pub mode: Mode,
    pub draft: Mutex<Draft>,
    #[cfg(feature = "tracing")]
    pub trace: super::trace::RequestSpan,
}

/// A handler's view of one HTTP request, or of one WebSocket connection.
///
/// Cheap to clone; clones share everything. Every method that waits is cancel-safe: a
/// future dropped before it completes loses no message and sends nothing twice.
#[derive(Clone)]
pub struct Context {
    pub(crate) inner: Arc<CtxInner>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("method", &self.inner.head.method().as_str())
            .field("target", &self.inner.head.target())
            .field("peer", &self.inner.conn.peer)
            .field("websocket", &self.is_websocket())
            .finish()
    }
}

/// Header capacity of a draft kept for the next request (see [`Context::recycle`]).
const KEPT_HEADERS: usize = 16;

impl Context {
    /// A context for `head`; `spare`, a context given back by [`Context::recycle`], is
    /// reused when it has one.
    pub(crate) fn new(
        spare: Option<Context>,
        conn: Arc<ConnShared>,
        head: RequestHead,
        params: Vec<(String, String)>,
        mode: Mode,
    ) -> Self {
        #[cfg(feature = "tracing")]
        let trace = match mode {
            Mode::Http { .. } => super::trace::RequestSpan::new(&head),
            Mode::Ws { .. } => super::trace::RequestSpan::none(),
        };
        if let Some(mut ctx) = spare {
            if let Some(inner) = Arc::get_mut(&mut ctx.inner) {
                inner.conn = conn;
                inner.head = head;
                inner.params = params.into_boxed_slice();
                inner.mode = mode;
                #[cfg(feature = "tracing")]
                {
                    inner.trace = trace;
                }
                return ctx;
            }
        }
        Context {
            inner: Arc::new(CtxInner {
                conn,
                head,
                params: params.into_boxed_slice(),
                mode,
                draft: Mutex::new(Draft::new()),
                #[cfg(feature = "tracing")]
                trace,
            }),
        }
    }

    /// Takes the context back after its request, if nothing else holds it (no clone
    /// kept by the application): it is emptied for the next request, and its head is
    /// returned so the protocol can reuse its memory. A keep-alive connection then
    /// allocates no new context, and no new header list, per request.
    /// `headers`: the header list of the response sent (taken from the draft for it), whose
    /// memory the next draft reuses.
    pub(crate) fn recycle(mut self, mut headers: Headers) -> Option<(Context, RequestHead)> {
        let inner = Arc::get_mut(&mut self.inner)?;
        let head = std::mem::take(&mut inner.head);
        inner.params = Box::default();
        let draft = inner.draft.get_mut();
        draft.status = 200;
        draft.body = Body::default();
        headers.clear();
        draft.headers = if headers.capacity() <= KEPT_HEADERS {
            headers
        } else {
            Vec::new()
        };
        #[cfg(feature = "tracing")]
        {
            inner.trace = super::trace::RequestSpan::none();
        }
        Some((self, head))
    }

    fn draft(&self) -> MutexGuard<'_, Draft> {
        self.inner.draft.lock()
    }

    // ----- the request -----

    /// The request head (for a WebSocket, the upgrade request).
    pub fn request_head(&self) -> &RequestHead {
        &self.inner.head
    }

    /// The request method.
    pub fn method(&self) -> &Method {
        self.inner.head.method()
    }

    /// The request path, as received (percent-escapes kept).
    pub fn path(&self) -> &str {
        self.inner.head.path()
    }

    /// The query string (after `?`), if any.
    pub fn query(&self) -> Option<&str> {
        self.inner.head.query()
    }

    /// The first query parameter called `name`, percent-decoded (`+` read as a space).
    pub fn query_param(&self, name: &str) -> Option<String> {
        let q = self.query()?;
        q.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let k = percent_decode(&k.replace('+', " "));
            (k == name).then(|| percent_decode(&v.replace('+', " ")))
        })
    }

    /// The value a `{name}` (or `{*name}`) route segment captured, percent-decoded.
    pub fn route_param(&self, name: &str) -> Option<&str> {
        self.inner
            .params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every route parameter, in pattern order.
    pub fn route_params(&self) -> &[(String, String)] {
        &self.inner.params
    }

    /// The peer's address, when the transport knows it.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.inner.conn.peer
    }

    /// The subprotocol the handshake agreed on (see `Server::ws_protocols`), if any.
    pub fn websocket_protocol(&self) -> Option<&str> {
        let Mode::Ws { protocol: Some(i) } = self.inner.mode else {
            return None;
        };
        let list = &self.inner.conn.config.ws_protocols;
        list.get(usize::from(i)).map(String::as_str)
    }

    /// Whether this context is a WebSocket connection.
    pub fn is_websocket(&self) -> bool {
        matches!(self.inner.mode, Mode::Ws { .. })
    }

    /// Whether the connection is encrypted (https, wss): it came in on a TLS listener.
    pub fn is_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.inner.conn.lock().tls.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }

    /// The server name the client asked for in its TLS handshake (SNI), if it was a TLS
    /// connection and the client sent one (clients send none for an IP address).
    pub fn tls_server_name(&self) -> Option<String> {
        #[cfg(feature = "tls")]
        return self
            .inner
            .conn
            .lock()
            .tls
            .as_ref()
            .and_then(|t| t.server_name.as_deref().map(str::to_string));
        #[cfg(not(feature = "tls"))]
        None
    }

    /// The first value of request header `name` (case-insensitive), if present and UTF-8.
    pub async fn get_request_header(&self, name: &str) -> Option<String> {
        self.inner.head.headers().get_str(name).map(str::to_string)
    }

    /// Every request header, names as received.
    pub async fn get_request_headers(&self) -> Vec<(String, String)> {
        self.inner
            .head
            .headers()
            .iter()
            .map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v).into_owned()))
            .collect()
    }

    /// The request method as text (`"GET"`).
    pub async fn get_request_method(&self) -> String {
        self.method().as_str().to_string()
    }

    /// The request path.
    pub async fn get_request_path(&self) -> String {
        self.path().to_string()
    }

    /// The query string, or an empty string.
    pub async fn get_request_query(&self) -> String {
        self.query().unwrap_or("").to_string()
    }

    /// A route parameter.
    pub async fn get_route_param(&self, name: &str) -> Option<String> {
        self.route_param(name).map(str::to_string)
    }

    /// The peer's address.
    pub async fn get_socket_addr(&self) -> Option<SocketAddr> {
        self.peer_addr()
    }

    /// The peer's address as text, or `"0.0.0.0:0"` when unknown.
    pub async fn get_socket_addr_or_default_string(&self) -> String {
        self.peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|| "0.0.0.0:0".to_string())
    }

    /// HTTP: the whole request body (empty if it was refused or the peer went away).
    /// WebSocket: the payload of the next whole message, waiting for it; an empty `Vec`
    /// once the peer has closed or the connection failed.
    pub async fn get_request_body(&self) -> Vec<u8> {
        match self.inner.mode {
            Mode::Ws { .. } => match self.recv_message().await {
                Some(Message::Text(s)) => s.into_bytes(),
                Some(Message::Binary(b)) => b,
                None => Vec::new(),
            },
            Mode::Http { id } => self.http_body(id).await,
        }
    }

    /// [`Context::get_request_body`] as text (invalid UTF-8 replaced).
    pub async fn get_request_body_string(&self) -> String {
        let body = self.get_request_body().await;
        match String::from_utf8(body) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }
    }

    async fn http_body(&self, id: u64) -> Vec<u8> {
        poll_fn(|cx| {
            let mut st = self.inner.conn.lock();
            let st = &mut *st;
            match st.request.as_mut() {
                Some(slot) if slot.id == id => match slot.body_state {
                    BodyState::Complete => Poll::Ready(slot.body.clone()),
                    BodyState::Failed => Poll::Ready(Vec::new()),
                    BodyState::Receiving => {
                        st.park_receiver(cx.waker());
                        st.wake_driver(cx.waker());
                        Poll::Pending
                    }
                },
                _ => Poll::Ready(Vec::new()),
            }
        })
        .await
    }

    // ----- WebSocket messages -----

    /// The next whole WebSocket message (text is valid UTF-8), or `None` once the peer
    /// has closed or the connection failed. Always `None` on a plain HTTP request.
    pub async fn recv_message(&self) -> Option<Message> {
        if !self.is_websocket() {
            return None;
        }
        // The limits are read inside the closure, not captured: every capture is kept in
        // the handler's future, which an idle WebSocket holds for life.
        poll_fn(|cx| {
            let config = &self.inner.conn.config;
            let (limit, out_limit) = (config.max_inbound_queue, config.max_outgoing_queue);
            let mut st = self.inner.conn.lock();
            if let Some(m) = st.ws.inbound.pop_front() {
                let was_full = st.ws.inbound_bytes >= limit;
                st.ws.inbound_bytes -= m.len();
                st.ws.last_kind = Some(m.kind());
                if was_full {
                    st.wake_driver(cx.waker());
                }
                return Poll::Ready(Some(m));
            }
            if st.ws.recv_done || matches!(st.proto, Proto::Done) {
                return Poll::Ready(None);
            }
            if let Some(m) = st.take_plain_message(out_limit) {
                return Poll::Ready(Some(m));
            }
            st.park_receiver(cx.waker());
            Poll::Pending
        })
        .await
    }

    /// Sends one WebSocket message, waiting while the outgoing queue is over its limit.
    /// `Err(SendError::Closed)` once the connection is closing or closed.
    pub fn send_message(
        &self,
        msg: impl Into<Message>,
    ) -> impl Future<Output = Result<(), SendError>> + Send + '_ {
        let msg = (self.is_websocket()).then(|| msg.into());
        self.inner.conn.send_message(msg)
    }

    /// Sends one WebSocket message like [`Context::send_message`], never compressed, even
    /// when permessage-deflate was negotiated.
    pub async fn send_message_uncompressed(
        &self,
        msg: impl Into<Message>,
    ) -> Result<(), SendError> {
        self.sender().send_uncompressed(msg).await
    }

    /// A handle that other tasks can use to send messages to this WebSocket connection.
    pub fn sender(&self) -> Sender {
        Sender::new(self.inner.conn.clone(), self.is_websocket())
    }

    /// Starts the WebSocket close handshake with `code` and `reason`.
    pub async fn close(&self, code: CloseCode, reason: &str) -> Result<(), SendError> {
        self.sender().close(code, reason)
    }

    // ----- the response -----

    /// Sets the response status (HTTP only; default 200).
    pub async fn set_response_status_code(&self, status: u16) -> &Self {
        self.draft().status = status;
        self
    }

    /// Sets a response header, replacing any earlier value of the same name.
    pub async fn set_response_header(
        &self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<Cow<'static, str>>,
    ) -> &Self {
        let name = name.into();
        let mut d = self.draft();
        d.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
        d.headers.push((name, value.into()));
        self
    }

    /// Adds a response header, keeping earlier values of the same name.
    pub async fn add_response_header(
        &self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<Cow<'static, str>>,
    ) -> &Self {
        self.draft().headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body that the next `send`/`send_body` sends. Strings go out as WebSocket
    /// Text messages, bytes as the kind of the last message received (Binary if none, or
    /// if they are not UTF-8).
    pub async fn set_response_body<B: IntoBody>(&self, body: B) -> &Self {
        self.draft().body = body.into_body();
        self
    }

    /// The response body set so far.
    pub async fn get_response_body(&self) -> Vec<u8> {
        self.draft().body.as_bytes().to_vec()
    }

    /// The response status set so far.
    pub async fn get_response_status_code(&self) -> u16 {
        self.draft().status
    }

    /// Whether the HTTP response head has been sent (always `true` on a WebSocket).
    pub async fn is_response_sent(&self) -> bool {
        match self.inner.mode {
            Mode::Ws { .. } => true,
            Mode::Http { id } => {
                let st = self.inner.conn.lock();
                match &st.request {
                    Some(slot) if slot.id == id => slot.head_sent,
                    _ => true,
                }
            }
        }
    }

    /// HTTP: sends the whole response (status, headers, body) now. WebSocket: same as
    /// [`Context::send_body`].
    pub async fn send(&self) -> Result<(), SendError> {
        match self.inner.mode {
            Mode::Ws { .. } => self.send_body().await,
            Mode::Http { id } => self.http_send_whole(id),
        }
    }

    /// WebSocket: sends the body as one message. HTTP: streams the body as the next piece
    /// of a response of unknown length (the head goes first, on the first call), waiting
    /// while the outgoing queue is over its limit; the response ends when the handler
    /// returns.
    pub async fn send_body(&self) -> Result<(), SendError> {
        let body = self.draft().body.clone();
        match self.inner.mode {
            Mode::Ws { .. } => {
                let sender = self.sender();
                let kind = if body.is_text() {
                    DataKind::Text
                } else {
                    let last = self.inner.conn.lock().ws.last_kind;
                    match last {
                        Some(DataKind::Text) if std::str::from_utf8(body.as_bytes()).is_ok() => {
                            DataKind::Text
                        }
                        _ => DataKind::Binary,
                    }
                };
                sender.send_raw(kind, body.into_bytes()).await
            }
            Mode::Http { id } => self.http_send_chunk(id, body.into_bytes()).await,
        }
    }

    /// HTTP: sends the response head now (status and headers set so far), declaring a body
    /// of exactly `len` bytes (`content-length`), which then follows in pieces through
    /// [`Context::send_body`], each waiting while the outgoing queue is full. If the
    /// handler returns having sent fewer bytes, the connection is cut, so a truncated body
    /// never looks complete. On a HEAD request no body is sent, whatever follows.
    pub async fn send_head_with_length(&self, len: u64) -> Result<(), SendError> {
        let Mode::Http { id } = self.inner.mode else {
            return Err(SendError::Closed);
        };
        let head = self.draft().head_without_type();
        self.http_send_head(id, head, len, None)
    }

    /// HTTP: sends one Server-Sent Event (`event:` when `event` is given, one `data:` line
    /// per line of `data`). The first call sends the head with
    /// `content-type: text/event-stream` unless another type was set.
    pub async fn send_event(&self, event: Option<&str>, data: &str) -> Result<(), SendError> {
        {
            let mut d = self.draft();
            if !d
                .headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(headers::CONTENT_TYPE))
            {
                d.headers.push((
                    headers::CONTENT_TYPE.into(),
                    headers::TEXT_EVENT_STREAM.into(),
                ));
                d.headers
                    .push((headers::CACHE_CONTROL.into(), "no-cache".into()));
            }
        }
        let mut s = String::with_capacity(data.len() + 16);
        if let Some(ev) = event {
            s.push_str("event: ");
            s.push_str(ev);
            s.push('\n');
        }
        for line in data.split('\n') {
            s.push_str("data: ");
            s.push_str(line);
            s.push('\n');
        }
        s.push('\n');
        match self.inner.mode {
            Mode::Http { id } => self.http_send_chunk(id, Bytes::from(s)).await,
            Mode::Ws { .. } => Err(SendError::Closed),
        }
    }

    fn http_send_whole(&self, id: u64) -> Result<(), SendError> {
        let draft = self.draft().clone();
        let len = draft.body.len() as u64;
        self.http_send_head(id, draft.head(), len, Some(draft.body))
    }

    /// Sends request `id`'s response head, declaring a body of `len` bytes; with `whole`
    /// (exactly `len` bytes), the body too and the end of the response.
    fn http_send_head(
        &self,
        id: u64,
        head: ResponseHead,
        len: u64,
        whole: Option<Body>,
    ) -> Result<(), SendError> {
        let protocol = |e: crate::proto::http::HttpUsageError| SendError::Protocol(e.to_string());
        let mut guard = self.inner.conn.lock();
        let st = &mut *guard;
        let slot = match st.request.as_mut() {
            Some(s) if s.id == id => s,
            _ => return Err(SendError::Stale),
        };
        if slot.head_sent {
            return Err(SendError::AlreadySent);
        }
        let Proto::Http(h) = &mut st.proto else {
            return Err(SendError::Closed);
        };
        h.set_date(super::date::now());
        h.send_response(head, BodyLength::Known(len))
            .map_err(protocol)?;
        if let Some(body) = whole {
            if !body.is_empty() {
                h.send_body_slice(body.as_bytes()).map_err(protocol)?;
            }
            h.finish_response().map_err(protocol)?;
            slot.finished = true;
        }
        slot.head_sent = true;
        if let Some(w) = &st.driver_waker {
            w.wake_by_ref();
        }
        Ok(())
    }

    async fn http_send_chunk(&self, id: u64, bytes: Bytes) -> Result<(), SendError> {
        let limit = self.inner.conn.config.max_outgoing_queue;
        // Taken by value on success: cloning a `Bytes` made from a `String` allocates.
        let mut bytes = Some(bytes);
        poll_fn(|cx| {
            let mut guard = self.inner.conn.lock();
            let st = &mut *guard;
            let slot = match st.request.as_mut() {
                Some(s) if s.id == id => s,
                _ => return Poll::Ready(Err(SendError::Stale)),
            };
            if slot.finished {
                return Poll::Ready(Err(SendError::AlreadySent));
            }
            let Proto::Http(h) = &mut st.proto else {
                return Poll::Ready(Err(SendError::Closed));
            };
            if h.output().len() > limit {
                st.park_sender(cx.waker());
                st.wake_driver(cx.waker());
                return Poll::Pending;
            }
            if !slot.head_sent {
                // Lock order: the connection, then the draft. No code holds the draft
                // while it takes the connection lock.
                let head = self.draft().head();
                h.set_date(super::date::now());
                if let Err(e) = h.send_response(head, BodyLength::Unknown) {
                    return Poll::Ready(Err(SendError::Protocol(e.to_string())));
                }
                slot.head_sent = true;
            }
            match bytes.take() {
                Some(b) if !b.is_empty() => {
                    if let Err(e) = h.send_body(b) {
                        return Poll::Ready(Err(SendError::Protocol(e.to_string())));
                    }
                }
                _ => {}
            }
            st.wake_driver(cx.waker());
            Poll::Ready(Ok(()))
        })
        .await
    }
}

#[allow(dead_code)]
fn assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<Context>();
}
