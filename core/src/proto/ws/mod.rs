//! WebSocket, server side (RFC 6455), sans-IO.
//!
//! - [`handshake`]: validating the upgrade request and building the 101 response;
//! - [`frame`]: frame headers; [`mask`]: fast (un)masking; [`utf8`]: incremental UTF-8
//!   validation; [`close`]: close codes; [`message`]: messages;
//! - [`conn`]: [`WsConnection`], the connection state machine (its module docs state its
//!   rules).
//!
//! No extension is negotiated (RSV bits are a protocol error), so permessage-deflate offers
//! are ignored.

pub mod close;
pub mod conn;
pub mod error;
pub mod frame;
pub mod handshake;
pub mod mask;
pub mod message;
pub mod utf8;

pub use close::{CloseCode, CloseFrame};
pub use conn::{WsConfig, WsConnection, WsEvent, WsState};
pub use error::{WsError, WsUsageError};
pub use frame::{FrameHeader, Opcode};
pub use handshake::{accept_key, validate_request, HandshakeError, HandshakeRequest};
pub use message::{DataKind, Message};
pub use utf8::Utf8Validator;
