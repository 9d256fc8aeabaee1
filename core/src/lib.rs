//! `wirelane-core`: the sans-IO HTTP/1.1 + WebSocket protocol core ([`proto`]) and the
//! runtime-agnostic server framework ([`app`]) that the runtime adapter crates
//! (`wirelane-tokio`, `wirelane-async-std`, `wirelane-smol`) drive.
#![forbid(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod app;
pub mod proto;
