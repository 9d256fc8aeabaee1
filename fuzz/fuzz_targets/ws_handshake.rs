//! The WebSocket handshake: raw bytes parsed as a request head, then validated; the 101
//! response or the refusal is built. No panic; an accepted key is always 24 base64
//! characters and its accept value 28.
//!
//! The body lives in `wirelane_fuzz::ws_handshake` (fuzz/src/lib.rs), so the corpus can be replayed
//! on stable by `core/tests/fuzz_replay.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wirelane_fuzz::ws_handshake(data));
