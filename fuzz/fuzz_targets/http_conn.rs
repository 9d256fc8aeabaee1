//! The HTTP/1.1 server connection: arbitrary bytes (after an 8-byte seed) in arbitrary
//! splits, with an application that answers every request in varied ways (early/late,
//! streamed, HEAD-style, upgrades accepted or declined, 100-continue) and time jumps.
//!
//! Checks: no panic; buffered input never exceeds `read_buffer_limit()` plus one input; no
//! events after `should_close`; usage errors never happen for a well-behaved application.
//!
//! The body lives in `wirelane_fuzz::http_conn` (fuzz/src/lib.rs), so the corpus can be replayed
//! on stable by `core/tests/fuzz_replay.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wirelane_fuzz::http_conn(data));
