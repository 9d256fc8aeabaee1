//! The frame header decoder, masking and the incremental UTF-8 validator with raw bytes:
//! no panic, header encode/decode round trip, fast unmask equal to the byte loop, the
//! validator agreeing with `std::str::from_utf8` at every split the input suggests.
//!
//! The body lives in `wirelane_fuzz::ws_frame` (fuzz/src/lib.rs), so the corpus can be replayed
//! on stable by `core/tests/fuzz_replay.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wirelane_fuzz::ws_frame(data));
