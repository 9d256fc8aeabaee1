//! permessage-deflate (RFC 7692): compressed WebSocket messages with bounded memory.
//!
//! - [`negotiate`]: reading the client's offers and answering one ([`DeflateParams`]);
//! - [`Inflater`]: decompressing what the client sends, checking the message size limit
//!   against the *inflated* size after every 8 KiB, so a small frame that would inflate to
//!   gigabytes fails with 1009 having buffered at most the limit;
//! - [`Compressor`]: compressing what the server sends.
//!
//! Both are public for clients too (tests, load generators): a client compresses with the
//! client's parameters ([`Compressor::with_window`]) and inflates with the server's.
//! - [`PreparedMessage`]: one message for many connections, compressed once per distinct
//!   set of parameters (what [`Hub`](crate::app::Hub) broadcasts use).
//!
//! Turn it on with [`WsConfig::deflate`](super::WsConfig::deflate); after the handshake,
//! [`DeflateParams::negotiate`] on the offers, the response header from
//! [`DeflateParams::response_header`], and [`WsConnection::enable_deflate`](super::WsConnection::enable_deflate) on the
//! connection. The framework does all three itself.
//!
//! # Memory
//!
//! A zlib compressor costs about 200 KiB at 15 window bits and an inflater up to 40 KiB,
//! too much to keep for every idle connection. So the zlib states exist only while
//! messages flow: [`WsConnection::release_idle_buffers`](super::WsConnection::release_idle_buffers) (which the framework calls when a
//! connection goes quiet) drops them. What must survive between messages under context
//! takeover is only the last window of data (at most 2^window_bits bytes per direction),
//! restored as a preset dictionary into the next zlib state, which gives the same stream
//! as a state that had been kept.
//!
//! The presets, with what an idle connection keeps and the ratio measured on streams of
//! small messages (`benches/deflate.rs`: the article's market-data JSON / chat lines):
//!
//! | preset | windows | idle | ratio market / chat |
//! |---|---|---|---|
//! | [`DeflateConfig::default`] | context takeover, 9 bits | ≤ 1 KiB | about 3.8 / 2.5 |
//! | [`DeflateConfig::no_context_takeover`] | none | 0 | about 1.15 / 1.3 |
//! | [`DeflateConfig::context_takeover`] | context takeover, 15 bits | ≤ 64 KiB | about 6 / 4.7 |
//!
//! Small messages compress well only against the previous ones, hence takeover by
//! default, with windows small enough to keep an idle connection small. A client that
//! does not let us choose its window (no `client_max_window_bits` in its offer) would
//! use 15 bits, so it is asked for `client_no_context_takeover` instead whenever the
//! configured client window is smaller. Without server context takeover, a broadcast
//! is compressed once for all members ([`PreparedMessage`]); with it, once per member.
//!
//! # Window bits of 8
//!
//! zlib (and so zlib-rs and flate2) cannot use an 8-bit window for a raw stream. That is
//! harmless both ways: an inflater with a 9-bit window reads every stream written with an
//! 8-bit one, and a 9-bit zlib compressor never refers back further than 250 bytes
//! (`MAX_DIST` = window − 262), within the 256 bytes a peer that asked for
//! `server_max_window_bits=8` keeps. So 8 is accepted and answered as 8.
//!
//! # Why flate2 with zlib-rs
//!
//! The one dependency the protocol layer adds for this. RFC 7692 needs raw DEFLATE with a
//! chosen window size, sync flushes, resets and preset dictionaries: that is zlib's API,
//! which miniz_oxide (flate2's default backend) only partly has (no window bits). flate2
//! is the ecosystem's maintained binding (rust-lang org); its `zlib-rs` backend is a
//! pure-Rust, memory-safe zlib (Trifecta Tech Foundation) as fast as zlib-ng, so there is
//! no C toolchain and no C code parsing hostile input.

mod compress;
mod inflate;
pub mod negotiate;

pub use compress::Compressor;
pub use inflate::{InflateError, Inflater, TAIL};
pub use negotiate::{DeflateOffer, DeflateParams, OfferError};

use super::message::DataKind;
use bytes::Bytes;

/// How this server negotiates permessage-deflate; see the [module docs](self) for what
/// each choice costs in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeflateConfig {
    /// zlib compression level, 0 (store) to 9 (smallest). Default 6 (zlib's default).
    pub level: u8,
    /// The largest window we compress with (8..=15; the client may ask for less). Default
    /// 9 (512 bytes).
    pub server_max_window_bits: u8,
    /// The window we ask the client to compress with, when its offer lets us choose
    /// (8..=15; when it does not, and this is below 15, we ask for
    /// `client_no_context_takeover` instead). Default 9.
    pub client_max_window_bits: u8,
    /// Keep our compression context from message to message (better ratio on small
    /// similar messages; up to 2^server_max_window_bits bytes kept per idle connection;
    /// a broadcast is then compressed per member). Default true; false sends
    /// `server_no_context_takeover`.
    pub server_context_takeover: bool,
    /// Let the client keep its context (up to 2^client_max_window_bits bytes kept per idle
    /// connection to inflate its next message). Default true; false sends
    /// `client_no_context_takeover`.
    pub client_context_takeover: bool,
    /// Messages shorter than this many bytes are sent uncompressed (compressing them costs
    /// time and rarely saves a byte). Default 64.
    pub threshold: usize,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            level: 6,
            server_max_window_bits: 9,
            client_max_window_bits: 9,
            server_context_takeover: true,
            client_context_takeover: true,
            threshold: 64,
        }
    }
}

impl DeflateConfig {
    /// Context takeover both ways with 15-bit windows: the best ratio on streams of small
    /// similar messages, for up to 64 KiB per idle connection (two windows).
    pub fn context_takeover() -> Self {
        DeflateConfig::default().window_bits(15)
    }

    /// No context takeover either way: every message compressed on its own, nothing kept
    /// between messages, and a broadcast compressed once for all members. Small messages
    /// hardly shrink; large ones do.
    pub fn no_context_takeover() -> Self {
        DeflateConfig {
            server_context_takeover: false,
            client_context_takeover: false,
            ..DeflateConfig::default().window_bits(15)
        }
    }

    /// Sets [`DeflateConfig::level`].
    pub fn level(mut self, v: u8) -> Self {
        self.level = v.min(9);
        self
    }

    /// Sets both window sizes (8..=15).
    pub fn window_bits(mut self, v: u8) -> Self {
        self.server_max_window_bits = v.clamp(8, 15);
        self.client_max_window_bits = v.clamp(8, 15);
        self
    }

    /// Sets [`DeflateConfig::threshold`].
    pub fn threshold(mut self, v: usize) -> Self {
        self.threshold = v;
        self
    }

    /// Sets [`DeflateConfig::server_context_takeover`].
    pub fn server_context_takeover(mut self, v: bool) -> Self {
        self.server_context_takeover = v;
        self
    }

    /// Sets [`DeflateConfig::client_context_takeover`].
    pub fn client_context_takeover(mut self, v: bool) -> Self {
        self.client_context_takeover = v;
        self
    }
}

/// Bytes in a window of `bits`.
fn window_len(bits: u8) -> usize {
    1 << bits.clamp(8, 15)
}

/// The window size zlib is given for a negotiated one (see the module docs on 8 bits).
fn zlib_bits(bits: u8) -> u8 {
    bits.clamp(9, 15)
}

/// The last bytes of a stream, enough to restore a window: up to two windows are held
/// while data flows (so trimming moves each byte at most once), one when idle.
#[derive(Debug)]
struct History {
    window: usize,
    buf: Vec<u8>,
}

impl History {
    fn new(bits: u8) -> Self {
        History {
            window: window_len(bits),
            buf: Vec::new(),
        }
    }

    fn push(&mut self, data: &[u8]) {
        let w = self.window;
        if data.len() >= w {
            self.buf.clear();
            self.buf.extend_from_slice(&data[data.len() - w..]);
            return;
        }
        if self.buf.len() + data.len() > 2 * w {
            self.buf.drain(..self.buf.len() + data.len() - w);
        }
        self.buf.extend_from_slice(data);
    }

    /// The last window.
    fn window(&self) -> &[u8] {
        &self.buf[self.buf.len().saturating_sub(self.window)..]
    }

    fn len(&self) -> usize {
        self.buf.len()
    }

    /// Keeps one window, in an allocation of its size.
    fn shrink(&mut self) {
        let excess = self.buf.len().saturating_sub(self.window);
        self.buf.drain(..excess);
        self.buf.shrink_to_fit();
    }

    fn capacity(&self) -> usize {
        self.buf.capacity()
    }
}

/// The deflate state of one connection: what was agreed and both halves.
#[derive(Debug)]
pub(crate) struct PerMessageDeflate {
    pub(crate) params: DeflateParams,
    pub(crate) inflater: Inflater,
    pub(crate) compressor: Compressor,
}

impl PerMessageDeflate {
    pub(crate) fn new(params: DeflateParams) -> Self {
        PerMessageDeflate {
            inflater: Inflater::new(
                params.client_max_window_bits,
                !params.client_no_context_takeover,
            ),
            compressor: Compressor::new(&params),
            params,
        }
    }

    /// Whether a message of `len` bytes is sent compressed.
    pub(crate) fn compresses(&self, len: usize) -> bool {
        len >= self.params.threshold
    }

    pub(crate) fn release(&mut self) {
        self.inflater.release();
        self.compressor.release();
    }

    pub(crate) fn idle_bytes(&self) -> usize {
        self.inflater.idle_bytes() + self.compressor.idle_bytes()
    }
}

/// One message to send to many connections ([`WsConnection::send_prepared`](super::WsConnection::send_prepared)): the payload
/// is compressed at most once for each distinct compression setting among the
/// connections that negotiated permessage-deflate without server context takeover, and the
/// compressed bytes are shared by all of them. (A connection with context takeover
/// compresses against its own history, so it compresses for itself.)
#[derive(Debug, Clone)]
pub struct PreparedMessage {
    kind: DataKind,
    payload: Bytes,
    /// Compressed payloads by (zlib window bits, level); `None`: compressing did not make
    /// it smaller, so it goes out as it is.
    compressed: Vec<((u8, u8), Option<Bytes>)>,
    compressions: usize,
}

impl PreparedMessage {
    /// A message of `kind` (a text payload must be UTF-8).
    pub fn new(kind: DataKind, payload: Bytes) -> Self {
        PreparedMessage {
            kind,
            payload,
            compressed: Vec::new(),
            compressions: 0,
        }
    }

    /// Text or binary.
    pub fn kind(&self) -> DataKind {
        self.kind
    }

    /// The uncompressed payload.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// How many times the payload was compressed so far.
    pub fn compressions(&self) -> usize {
        self.compressions
    }

    /// The shared compressed payload for `compressor`'s setting, compressing it with
    /// `compressor` the first time.
    pub(crate) fn compressed_for(&mut self, compressor: &mut Compressor) -> Option<Bytes> {
        let key = compressor.key();
        if let Some((_, c)) = self.compressed.iter().find(|(k, _)| *k == key) {
            return c.clone();
        }
        self.compressions += 1;
        let c = compressor.compress(&self.payload);
        let c = (c.len() < self.payload.len()).then(|| Bytes::from(c));
        self.compressed.push((key, c.clone()));
        c
    }
}
