//! The TLS plumbing of our own (`wirelane_core::app::tls`): the transport wrapper over an
//! in-memory socket that reads and writes in random chunks and sometimes answers
//! `Pending`. The first byte picks the mode: the input alone as ciphertext (garbage: no
//! plaintext may come out), a real rustls client exchanging the input as plaintext both
//! ways (everything arrives, in order), or the same with one byte of the client's records
//! flipped (what arrives is a prefix of what was sent, never other bytes). Bytes 1..9 seed
//! the chunking.
//!
//! The body lives in `wirelane_fuzz::tls_transport` (fuzz/src/lib.rs), so the corpus can be
//! replayed on stable by `core/tests/fuzz_replay.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wirelane_fuzz::tls_transport(data));
