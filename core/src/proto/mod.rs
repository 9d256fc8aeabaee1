//! The sans-IO protocol layer: bytes in, events out, bytes to send out.
//!
//! Nothing in this module performs I/O, spawns threads, reads the clock or touches global
//! state. Time comes in as a `now: Instant` argument; each state machine reports its next
//! deadline (`poll_timeout`) and is told when it passes (`handle_timeout`).
//!
//! Every state machine follows the same shape (after quinn-proto):
//! - inputs: `handle_input(bytes, now)`, `handle_eof()`, `handle_timeout(now)`;
//! - commands: `send_*`, `close`, ...;
//! - outputs: `poll_event()`, `poll_timeout()`, and [`OutQueue`] (`output()`), the bytes to
//!   write, as a list of buffers for vectored writes.

pub mod http;
pub mod limits;
pub mod outbuf;
pub mod ws;

pub use limits::{HttpLimits, WsLimits};
pub use outbuf::OutQueue;
