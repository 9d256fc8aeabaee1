//! TLS (https and wss), written once for every runtime: rustls driven over any
//! [`Transport`](super::Transport).
//!
//! rustls is a sans-IO state machine, like our protocol layer, so it is driven the same
//! way: [`transport::TlsTransport`] wraps the runtime's stream, feeds rustls the records
//! it reads and writes the records rustls makes, and the connection driver sees a plain
//! byte stream. No runtime-specific TLS crate (tokio-rustls, futures-rustls) is involved.
//!
//! - `config`: [`TlsConfig`], from PEM files, PEM text or a ready `rustls::ServerConfig`.
//! - `transport`: the [`Transport`](super::Transport) wrapper, built on rustls's
//!   *unbuffered* connection: the buffers are ours, so an idle connection holds none
//!   (rustls's buffered connection keeps a 4 KiB read buffer per connection forever).
//! - `sni`: learns the server name the client asked for (the unbuffered connection does
//!   not expose it).
//!
//! **Crypto provider: ring.** It builds with `cargo` alone on every platform we target (a C
//! compiler, which Rust toolchains need anyway; no cmake, no Go, no NASM, unlike
//! aws-lc-rs's build on some targets), quickly enough for CI, and its AES-GCM and
//! ChaCha20-Poly1305 are as fast as aws-lc-rs's on x86-64 and aarch64 for the record sizes
//! a WebSocket server sends. aws-lc-rs adds FIPS and post-quantum key exchange; users who
//! need them can build a `rustls::ServerConfig` with that provider themselves and pass it
//! to [`TlsConfig::from_rustls`] (our crate's `ring` dependency then only serves the PEM
//! convenience constructors).

pub(crate) mod config;
pub(crate) mod sni;
pub(crate) mod transport;

pub use config::{TlsConfig, DEFAULT_HANDSHAKE_TIMEOUT};
pub use rustls;

/// The TLS transport, for the fuzz target (not a stable API).
#[doc(hidden)]
pub mod fuzzing {
    pub use super::transport::TlsTransport;
}
