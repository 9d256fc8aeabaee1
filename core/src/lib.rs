//! `wirelane-core`: the sans-IO HTTP/1.1 + WebSocket protocol core ([`proto`]) and the
//! runtime-agnostic server framework (`app`, behind the default feature `framework`) that
//! the runtime adapter crates (`wirelane-tokio`, `wirelane-async-std`, `wirelane-smol`)
//! drive.
//!
//! # The protocol layer alone
//!
//! `default-features = false` gives [`proto`] alone: no `app` module, no `socket2`, only
//! the dependencies the protocol layer is allowed (`bytes`, `httparse`, `sha1`, `base64`,
//! and `flate2` over zlib-rs for permessage-deflate: why, in [`proto::ws::deflate`]).
//! That is the build for an embedder with its own event loop, and CI builds it that way, so
//! the compiler checks that `proto` never reaches into the framework.
//!
//! Why a feature and not a separate crate: the layering the compiler checks is the same
//! (`proto` compiles without `app`), and a feature keeps every path as it is
//! (`wirelane_core::proto::…`, `wirelane_core::app::…`), where a crate split would rename
//! the protocol layer in every adapter, example, test, bench and fuzz target. What a
//! separate crate would add, a separate version number, nobody needs while the two layers
//! are released together.
//!
//! # Unsafe code
//!
//! None, except one block in the WebSocket message assembly (`proto::ws::assembly`; the
//! `allow` is on the one function that holds it, and the module docs give the invariant).
//! The crate root denies `unsafe_code` rather than forbidding it, because a `forbid` there
//! could not be lifted for that function; every other module with code forbids it
//! outright (at its `mod` line), so no `allow` can bring it back there.
#![deny(unsafe_code)]
#![forbid(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

#[cfg(feature = "framework")]
#[forbid(unsafe_code)]
pub mod app;
pub mod proto;

/// The crate's README examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
