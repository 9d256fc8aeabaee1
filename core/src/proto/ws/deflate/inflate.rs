//! [`Inflater`]: decompressing the messages a client sends, incrementally and within the
//! message size limit.

use super::{zlib_bits, History};
use flate2::{Decompress, FlushDecompress, Status};
use std::fmt;

/// The 4 bytes (an empty stored block's end) a sender strips from the end of every compressed message (RFC 7692
/// §7.2.1) and the receiver appends back (§7.2.2).
pub const TAIL: [u8; 4] = [0x00, 0x00, 0xFF, 0xFF];

/// How much is inflated per call before the size limit is checked again: the most a
/// message can overshoot its limit in memory, and only in this stack buffer.
const CHUNK: usize = 8 * 1024;

/// Why a compressed message could not be inflated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InflateError {
    /// The payload is not a valid DEFLATE stream (or has data after its final block).
    Corrupt,
    /// The inflated message grew past the size limit.
    TooLarge,
}

impl fmt::Display for InflateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InflateError::Corrupt => "invalid compressed data",
            InflateError::TooLarge => "inflated message too large",
        })
    }
}

impl std::error::Error for InflateError {}

/// The receiving half of a permessage-deflate connection.
///
/// Memory: the zlib state (about 7 KiB plus the window, up to 32 KiB) exists only while
/// it is used; [`Inflater::release`] drops it. With client context takeover, the last
/// window's worth of inflated bytes is kept (`history`, at most 2^client_max_window_bits
/// bytes) and restored as a preset dictionary into the next zlib state, which is exactly
/// the state the peer's compressor assumes.
pub struct Inflater {
    takeover: bool,
    bits: u8,
    state: Option<Box<Decompress>>,
    /// Takeover only: the last inflated bytes.
    history: History,
    /// The current message's stream ended with a final block: only our tail may follow.
    ended: bool,
    /// A message is being inflated: its zlib state holds bits and a partial block that no
    /// dictionary can restore, so it stays until the message ends.
    in_message: bool,
    /// The zlib state was prepared for the current message (reset, dictionary set).
    in_message_started: bool,
}

impl fmt::Debug for Inflater {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inflater")
            .field("takeover", &self.takeover)
            .field("bits", &self.bits)
            .field("live", &self.state.is_some())
            .field("history", &self.history.len())
            .finish()
    }
}

impl Inflater {
    /// An inflater for a peer window of `bits` (8..=15), keeping context between messages
    /// if `takeover` (the peer did not agree to `*_no_context_takeover`).
    pub fn new(bits: u8, takeover: bool) -> Self {
        Inflater {
            takeover,
            bits,
            state: None,
            history: History::new(bits),
            ended: false,
            in_message: false,
            in_message_started: false,
        }
    }

    /// The zlib state for the message being inflated. Every message starts from a fresh
    /// (or reset) state, given the history as its dictionary under takeover: the same
    /// state whether or not the connection released its memory since the last message, so
    /// a message decodes (or fails) the same either way, even one whose sender did not
    /// end the previous message on a block boundary as RFC 7692 §7.2.1 requires.
    fn state(&mut self) -> &mut Decompress {
        let (bits, takeover) = (self.bits, self.takeover);
        let history = &self.history;
        let fresh = self.state.is_none() || !self.in_message_started;
        let d = self.state.get_or_insert_with(|| {
            // A zlib inflater with a larger window accepts every stream made with a
            // smaller one, so an 8-bit client window is read with 9 bits.
            Box::new(Decompress::new_with_window_bits(false, zlib_bits(bits)))
        });
        if fresh {
            self.in_message_started = true;
            if takeover && !history.window().is_empty() {
                // Cannot fail on a fresh or reset raw inflater.
                let _ = d.set_dictionary(history.window());
            }
        }
        d
    }

    /// Inflates `input` (a piece of a compressed message's payload, unmasked), handing the
    /// output to `sink` in pieces of at most 8 KiB. `room` is how many more inflated bytes
    /// the message may have: going past it stops with [`InflateError::TooLarge`] before
    /// `sink` sees the excess. Returns the number of bytes produced.
    pub fn feed<E: From<InflateError>>(
        &mut self,
        input: &[u8],
        room: u64,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<u64, E> {
        self.in_message = true;
        self.run(input, false, room, sink)
    }

    /// Ends the message: inflates the stripped tail and whatever it flushes, then gets
    /// ready for the next message. Returns the number of bytes produced.
    pub fn finish<E: From<InflateError>>(
        &mut self,
        room: u64,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<u64, E> {
        let n = if self.ended {
            0
        } else {
            self.run(&TAIL, true, room, sink)?
        };
        self.ended = false;
        self.in_message = false;
        self.in_message_started = false;
        // The next message starts a new stream (see `state`): under takeover a new state
        // given the window as its dictionary, exactly as after an idle release (dropping
        // it here rather than resetting it was measured to keep idle connections small:
        // 2.2 KB instead of 14 KB per connection at 10,000 with glibc).
        if self.takeover {
            self.state = None;
        } else if let Some(s) = self.state.as_deref_mut() {
            s.reset(false);
        }
        Ok(n)
    }

    /// Forgets a message cut short (the connection is failing): nothing to keep.
    pub fn abort(&mut self) {
        self.state = None;
        self.ended = false;
        self.in_message = false;
        self.in_message_started = false;
    }

    fn run<E: From<InflateError>>(
        &mut self,
        mut input: &[u8],
        tail: bool,
        room: u64,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<u64, E> {
        if self.ended {
            // Data after the final block of this message's stream.
            return if input.is_empty() {
                Ok(0)
            } else {
                Err(InflateError::Corrupt.into())
            };
        }
        let mut out = [0u8; CHUNK];
        let mut produced = 0u64;
        loop {
            let d = self.state();
            let (in0, out0) = (d.total_in(), d.total_out());
            let result = d.decompress(input, &mut out, FlushDecompress::Sync);
            let used = (d.total_in() - in0) as usize;
            let made = (d.total_out() - out0) as usize;
            input = &input[used..];
            if made > 0 {
                produced += made as u64;
                if produced > room {
                    // The bytes within the limit go to the sink first (a UTF-8 error
                    // among them wins), so the outcome does not depend on the chunking.
                    let within = made - (produced - room) as usize;
                    sink(&out[..within])?;
                    return Err(InflateError::TooLarge.into());
                }
                if self.takeover {
                    self.history.push(&out[..made]);
                }
                sink(&out[..made])?;
            }
            // What was inflated before an error goes to the sink first, so the error a
            // message fails with (its text's UTF-8, its size, the data itself) does not
            // depend on how the input was split into reads.
            let status = result.map_err(|_| InflateError::Corrupt)?;
            if status == Status::StreamEnd {
                self.ended = true;
                if !input.is_empty() && !tail {
                    return Err(InflateError::Corrupt.into());
                }
                return Ok(produced);
            }
            // Done when all input is taken and the output was not filled (nothing more is
            // pending). Nothing moving while input is left means zlib cannot use it.
            if input.is_empty() && made < CHUNK {
                return Ok(produced);
            }
            if used == 0 && made == 0 {
                return if input.is_empty() {
                    Ok(produced)
                } else {
                    Err(InflateError::Corrupt.into())
                };
            }
        }
    }

    /// Frees everything an idle connection does not need: the zlib state (with takeover,
    /// the history, shrunk to one window, is what remains). In the middle of a message the
    /// state is kept: it cannot be rebuilt from the history there.
    pub fn release(&mut self) {
        if self.in_message {
            return;
        }
        self.state = None;
        self.history.shrink();
    }

    /// Bytes held while idle (for tests and measurements).
    pub fn idle_bytes(&self) -> usize {
        self.history.capacity()
    }
}
