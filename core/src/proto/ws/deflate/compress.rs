//! [`Compressor`]: compressing the messages the server sends.

use super::inflate::TAIL;
use super::{zlib_bits, DeflateParams, History};
use flate2::{Compress, Compression, FlushCompress};
use std::fmt;

/// The sending half of a permessage-deflate connection.
///
/// Memory: a zlib compressor costs about 2^(bits+2) + 64 KiB (some 200 KiB at 15 bits), so
/// it exists only while messages are being sent; [`Compressor::release`] drops it. Without
/// server context takeover nothing else is kept. With it, the last window's worth of sent
/// bytes is kept and restored as a preset dictionary into the next compressor: the client's
/// inflater holds the same bytes, so back-references into them stay valid.
pub struct Compressor {
    takeover: bool,
    bits: u8,
    level: u8,
    state: Option<Box<Compress>>,
    /// Takeover only: the last bytes compressed.
    history: History,
}

impl fmt::Debug for Compressor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compressor")
            .field("takeover", &self.takeover)
            .field("bits", &self.bits)
            .field("live", &self.state.is_some())
            .field("history", &self.history.len())
            .finish()
    }
}

impl Compressor {
    /// The server's compressor for what `params` agreed.
    pub fn new(params: &DeflateParams) -> Self {
        Self::with_window(
            params.server_max_window_bits,
            !params.server_no_context_takeover,
            params.level,
        )
    }

    /// A compressor with a window of `bits` (8..=15), keeping context between messages if
    /// `takeover`, at zlib `level` (0..=9): a client's is
    /// `with_window(client_max_window_bits, !client_no_context_takeover, level)`.
    pub fn with_window(bits: u8, takeover: bool, level: u8) -> Self {
        Compressor {
            takeover,
            bits: bits.clamp(8, 15),
            level: level.min(9),
            state: None,
            history: History::new(bits),
        }
    }

    /// Whether each message is compressed on its own, so one compressed payload can be
    /// shared by every connection with the same [`Compressor::key`].
    pub(crate) fn shareable(&self) -> bool {
        !self.takeover
    }

    /// What the compressed bytes of a message depend on (without takeover).
    pub(crate) fn key(&self) -> (u8, u8) {
        (zlib_bits(self.bits), self.level)
    }

    fn state(&mut self) -> &mut Compress {
        let (bits, level, takeover) = (self.bits, self.level, self.takeover);
        let history = &self.history;
        self.state.get_or_insert_with(|| {
            // zlib cannot write a raw stream with an 8-bit window. With 9 bits it never
            // refers further back than 2^9 - 262 = 250 bytes (its MAX_DIST; zlib-rs keeps
            // it), which is within the 256 bytes an 8-bit window holds, so the stream is
            // valid for a peer that asked for 8 (RFC 7692 §7.1.2.1 only bounds the window
            // the peer must keep).
            let mut c = Compress::new_with_window_bits(
                Compression::new(level.into()),
                false,
                zlib_bits(bits),
            );
            if takeover && !history.window().is_empty() {
                // Cannot fail on a fresh raw compressor.
                let _ = c.set_dictionary(history.window());
            }
            Box::new(c)
        })
    }

    /// The compressed payload of one message (the trailing `00 00 FF FF` removed, RFC 7692
    /// §7.2.1).
    pub fn compress(&mut self, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(payload.len() / 2 + 64);
        let c = self.state();
        let start = c.total_in();
        loop {
            let taken = (c.total_in() - start) as usize;
            if out.len() == out.capacity() {
                out.reserve(out.capacity().max(64));
            }
            let before = (c.total_in(), out.len());
            // Only a misuse of zlib's API fails here (raw deflate into a Vec with room),
            // never the data: that would be a bug, not something a peer can cause.
            c.compress_vec(&payload[taken..], &mut out, FlushCompress::Sync)
                .expect("compressing into a Vec with room cannot fail");
            // Finished when all input is taken and the flush did not fill the output
            // (zlib then has nothing left to write).
            if (c.total_in() - start) as usize == payload.len() && out.len() < out.capacity() {
                break;
            }
            // No progress with room to write: stop rather than spin (never seen; zlib
            // always moves when it has room).
            if before == (c.total_in(), out.len()) && out.len() < out.capacity() {
                debug_assert!(false, "zlib made no progress");
                break;
            }
        }
        debug_assert!(out.ends_with(&TAIL));
        if out.ends_with(&TAIL) {
            out.truncate(out.len() - TAIL.len());
        }
        if self.takeover {
            self.history.push(payload);
        } else if let Some(c) = self.state.as_deref_mut() {
            c.reset();
        }
        out
    }

    /// Frees the compressor (with takeover, the history is what remains).
    pub fn release(&mut self) {
        self.state = None;
        self.history.shrink();
    }

    /// Bytes held while idle (for tests and measurements).
    pub fn idle_bytes(&self) -> usize {
        self.history.capacity()
    }
}
