//! permessage-deflate: inflate and message assembly under every parameter combination (see
//! `wirelane_fuzz::ws_deflate` in fuzz/src/lib.rs, whose corpus `core/tests/fuzz_replay.rs`
//! replays on stable).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wirelane_fuzz::ws_deflate(data));
