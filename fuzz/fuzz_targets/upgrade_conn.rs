//! A whole connection as a server embedding the core drives it: it starts in HTTP
//! (`GET /` answers 200, anything else 404), upgrades on a valid WebSocket handshake
//! (`validate_request` + `accept_upgrade`, the bytes after the head handed to the new
//! [`WsConnection`]), refuses an invalid one with its 400/426, and continues as a WebSocket
//! echo. The first byte sets the WebSocket configuration (as in [`ws_conn`]) and the read
//! size; the rest is the byte stream from the client.
//!
//! Checks: no panic and no usage error; every byte the client sent after the upgrade
//! request's head reaches the WebSocket side exactly once, in order (the leftover plus
//! later reads); the HTTP output before the upgrade ends with the 101 head; the WebSocket
//! output is valid and `Closed` comes exactly once, last.
//!
//! The body lives in `wirelane_fuzz::upgrade_conn` (fuzz/src/lib.rs), so the corpus can be replayed
//! on stable by `core/tests/fuzz_replay.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wirelane_fuzz::upgrade_conn(data));
