//! Limits on what a peer may make us buffer or wait for, with safe defaults.
//!
//! Every limit is a plain public field with a builder-style setter, so configuration reads
//! like `HttpLimits::default().max_body_size(1 << 20)`.

use std::time::Duration;

/// Limits of the HTTP/1.1 server connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// Largest request head (request line + headers + final CRLF), in bytes. Over it: 431
    /// (or 414 when the request line alone is over [`HttpLimits::max_uri_len`]).
    pub max_head_size: usize,
    /// Largest number of header fields in a head (and in chunked trailers). Over it: 431.
    pub max_headers: usize,
    /// Longest request target, in bytes. Over it: 414.
    pub max_uri_len: usize,
    /// Largest request body, in bytes, whatever its framing. Over it: 413.
    pub max_body_size: u64,
    /// Longest chunk-size line (size, extensions, CRLF) and trailer line. Over it: 400.
    pub max_chunk_line: usize,
    /// Time allowed from the first byte of a request head (or from the start of the
    /// connection) until the whole head has arrived. Over it: 408.
    pub head_timeout: Duration,
    /// Time a kept-alive connection may sit idle between requests before it is closed.
    pub idle_timeout: Duration,
    /// Longest the peer may stay silent (not a single byte) while a request body is being
    /// received, or discarded after the response. Over it: 408 if the response head was not
    /// sent yet, otherwise the connection is just closed. Time during which we do not read
    /// (input buffer full) or the client waits for our `100 Continue` does not count.
    pub body_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_head_size: 16 * 1024,
            max_headers: 100,
            max_uri_len: 8 * 1024,
            max_body_size: 4 * 1024 * 1024,
            max_chunk_line: 1024,
            head_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(30),
        }
    }
}

impl HttpLimits {
    /// Sets [`HttpLimits::max_head_size`].
    pub fn max_head_size(mut self, v: usize) -> Self {
        self.max_head_size = v;
        self
    }
    /// Sets [`HttpLimits::max_headers`].
    pub fn max_headers(mut self, v: usize) -> Self {
        self.max_headers = v;
        self
    }
    /// Sets [`HttpLimits::max_uri_len`].
    pub fn max_uri_len(mut self, v: usize) -> Self {
        self.max_uri_len = v;
        self
    }
    /// Sets [`HttpLimits::max_body_size`].
    pub fn max_body_size(mut self, v: u64) -> Self {
        self.max_body_size = v;
        self
    }
    /// Sets [`HttpLimits::max_chunk_line`].
    pub fn max_chunk_line(mut self, v: usize) -> Self {
        self.max_chunk_line = v;
        self
    }
    /// Sets [`HttpLimits::head_timeout`].
    pub fn head_timeout(mut self, v: Duration) -> Self {
        self.head_timeout = v;
        self
    }
    /// Sets [`HttpLimits::idle_timeout`].
    pub fn idle_timeout(mut self, v: Duration) -> Self {
        self.idle_timeout = v;
        self
    }
    /// Sets [`HttpLimits::body_timeout`].
    pub fn body_timeout(mut self, v: Duration) -> Self {
        self.body_timeout = v;
        self
    }
}

/// Limits and timers of a WebSocket connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsLimits {
    /// Largest payload of a single frame, checked from the frame header. Over it: 1009.
    pub max_frame_size: u64,
    /// Largest message, summed over its fragments, checked from each frame header before the
    /// payload is buffered. Over it: 1009.
    pub max_message_size: u64,
    /// Largest number of frames in one fragmented message. Over it: 1009.
    pub max_fragments: usize,
    /// Largest payload of an outgoing data frame; longer messages are split into fragments
    /// of this size. `None` sends every message as one frame.
    pub max_outgoing_frame_size: Option<usize>,
    /// Time we wait for the peer's close frame (and then for it to close TCP) after we sent
    /// ours; then the connection is dropped.
    pub close_timeout: Duration,
    /// Interval of heartbeat pings sent while the peer is silent. `None` sends none.
    pub ping_interval: Option<Duration>,
    /// Time the peer may stay completely silent (no frame at all, pongs included) before the
    /// connection is closed with 1001. `None` waits forever.
    pub idle_timeout: Option<Duration>,
    /// Unparsed input above which the connection stops asking for more
    /// ([`WsConnection::wants_read`](super::ws::WsConnection::wants_read)): what a peer can
    /// make us buffer beyond the frame being assembled. Default 256 KiB.
    pub read_pause: usize,
}

impl Default for WsLimits {
    fn default() -> Self {
        WsLimits {
            max_frame_size: 16 * 1024 * 1024,
            max_message_size: 32 * 1024 * 1024,
            max_fragments: 128 * 1024,
            max_outgoing_frame_size: None,
            close_timeout: Duration::from_secs(5),
            ping_interval: Some(Duration::from_secs(30)),
            idle_timeout: Some(Duration::from_secs(75)),
            read_pause: 256 * 1024,
        }
    }
}

impl WsLimits {
    /// Sets [`WsLimits::read_pause`].
    pub fn read_pause(mut self, v: usize) -> Self {
        // Below a few frame headers' worth, a half-received control frame could stop
        // reading for good (see `ws::WAITING_INPUT_MAX`).
        self.read_pause = v.max(1024);
        self
    }

    /// Sets [`WsLimits::max_frame_size`].
    pub fn max_frame_size(mut self, v: u64) -> Self {
        self.max_frame_size = v;
        self
    }
    /// Sets [`WsLimits::max_message_size`].
    pub fn max_message_size(mut self, v: u64) -> Self {
        self.max_message_size = v;
        self
    }
    /// Sets [`WsLimits::max_fragments`].
    pub fn max_fragments(mut self, v: usize) -> Self {
        self.max_fragments = v;
        self
    }
    /// Sets [`WsLimits::max_outgoing_frame_size`].
    pub fn max_outgoing_frame_size(mut self, v: Option<usize>) -> Self {
        self.max_outgoing_frame_size = v;
        self
    }
    /// Sets [`WsLimits::close_timeout`].
    pub fn close_timeout(mut self, v: Duration) -> Self {
        self.close_timeout = v;
        self
    }
    /// Sets [`WsLimits::ping_interval`].
    pub fn ping_interval(mut self, v: Option<Duration>) -> Self {
        self.ping_interval = v;
        self
    }
    /// Sets [`WsLimits::idle_timeout`].
    pub fn idle_timeout(mut self, v: Option<Duration>) -> Self {
        self.idle_timeout = v;
        self
    }
}
