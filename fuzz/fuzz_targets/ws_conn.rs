//! The WebSocket connection state machine: the first byte picks the configuration and how
//! the rest is split into reads; messages are echoed back like an echo server; time moves
//! one second per read. Checks: no panic, every output frame is a valid unmasked server
//! frame, nothing follows our close frame, `Closed` comes exactly once and last.
//!
//! The body lives in `wirelane_fuzz::ws_conn` (fuzz/src/lib.rs), so the corpus can be replayed
//! on stable by `core/tests/fuzz_replay.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wirelane_fuzz::ws_conn(data));
