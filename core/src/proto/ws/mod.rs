//! WebSocket, server side (RFC 6455), sans-IO, with the few client-side pieces a test or
//! load client needs.
//!
//! - [`handshake`]: validating the upgrade request and building the 101 response;
//! - [`frame`]: frame headers; [`mask`]: fast (un)masking; [`utf8`]: incremental UTF-8
//!   validation; [`close`]: close codes; [`message`]: messages (and, privately, their
//!   assembly from fragments);
//! - [`conn`]: [`WsConnection`], the connection state machine (its module docs state its
//!   rules);
//! - [`client`]: the client's side of the wire (masked frames, the upgrade request), for
//!   test clients, load generators and embedded clients.
//!
//! - [`deflate`]: permessage-deflate (RFC 7692), the one extension: negotiation,
//!   compression, bounded inflate. Without it being negotiated, RSV bits are a protocol
//!   error.
//!
//! # Driving a [`WsConnection`]
//!
//! Create it after the upgrade (see the hand-over in the [`proto`](crate::proto) docs) and
//! feed it the bytes that followed the request head. Then, as for HTTP: input with
//! [`WsConnection::handle_input`] (EOF: [`WsConnection::handle_eof`]), events with
//! [`WsConnection::poll_event`] until `None` after every input and command, output from
//! [`WsConnection::output`], deadlines from [`WsConnection::poll_timeout`] into
//! [`WsConnection::handle_timeout`] (heartbeat pings, idle timeout, close timeout). Pings are
//! answered and the close handshake is completed by the core; stop reading while the output
//! is above your high-water mark. Once [`WsConnection::is_closed`] and the output is
//! written, close the socket (the server closes TCP first).
//!
//! An echo, with the client's frames from [`encode_client_frame`]:
//!
//! ```
//! use std::time::Instant;
//! use wirelane_core::proto::ws::{
//!     encode_client_frame, CloseCode, Opcode, WsConfig, WsConnection, WsEvent, WsState,
//! };
//!
//! /// A final client frame, masked with a fixed key.
//! fn client_frame(opcode: Opcode, payload: &[u8]) -> Vec<u8> {
//!     let mut frame = Vec::new();
//!     encode_client_frame(true, opcode, payload, [0x37, 0xfa, 0x21, 0x3d], &mut frame);
//!     frame
//! }
//! // RFC 6455 §5.7: a masked "Hello".
//! assert_eq!(
//!     client_frame(Opcode::Text, b"Hello"),
//!     [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
//! );
//!
//! let now = Instant::now();
//! let mut ws = WsConnection::new(WsConfig::default(), now);
//! let mut input = client_frame(Opcode::Text, b"Hello");
//! input.extend(client_frame(Opcode::Binary, &[1, 2, 3]));
//! input.extend(client_frame(Opcode::Ping, b"hb"));
//!
//! // Any split works; here the three frames arrive in reads of 4 bytes.
//! for piece in input.chunks(4) {
//!     ws.handle_input(piece, now);
//!     while let Some(event) = ws.poll_event() {
//!         match event {
//!             WsEvent::Message(msg) => {
//!                 let (kind, payload) = msg.into_payload(); // text stays text
//!                 ws.send(kind, payload).unwrap();
//!             }
//!             WsEvent::Ping(_) => {} // informative: the pong is already queued
//!             other => panic!("unexpected {other:?}"),
//!         }
//!     }
//! }
//! // Server frames are unmasked: text echo, binary echo, pong.
//! let wire = ws.output().take_all();
//! assert_eq!(wire, b"\x81\x05Hello\x82\x03\x01\x02\x03\x8a\x02hb");
//!
//! // The client closes with 1000: the core echoes the code, then the connection is done.
//! ws.handle_input(&client_frame(Opcode::Close, &1000u16.to_be_bytes()), now);
//! assert!(matches!(ws.poll_event(), Some(WsEvent::PeerClose(Some(f))) if f.code == CloseCode::NORMAL));
//! assert_eq!(ws.poll_event(), Some(WsEvent::Closed));
//! assert_eq!(ws.poll_event(), None);
//! assert_eq!(ws.output().take_all(), b"\x88\x02\x03\xe8");
//! assert!(ws.is_closed() && ws.state() == WsState::Closed && ws.poll_timeout().is_none());
//! ```

// Every module forbids unsafe code except `assembly`, whose one `unsafe` block turns a
// validated text message into a `String` without a second pass (its docs give the
// invariant). The crate root only denies it, so that one module can allow it.
mod assembly;
#[forbid(unsafe_code)]
pub mod client;
#[forbid(unsafe_code)]
pub mod close;
#[forbid(unsafe_code)]
pub mod conn;
#[forbid(unsafe_code)]
pub mod deflate;
#[forbid(unsafe_code)]
pub mod error;
#[forbid(unsafe_code)]
pub mod frame;
#[forbid(unsafe_code)]
pub mod handshake;
#[forbid(unsafe_code)]
pub mod mask;
#[forbid(unsafe_code)]
pub mod message;
#[forbid(unsafe_code)]
pub mod utf8;

pub use client::{encode_client_frame, encode_client_frame_rsv};
pub use close::{CloseCode, CloseFrame};
pub use conn::{WsConfig, WsConnection, WsEvent, WsState, RECYCLE_MAX, WAITING_INPUT_MAX};
pub use deflate::{DeflateConfig, DeflateParams, PreparedMessage};
pub use error::{WsError, WsUsageError};
pub use frame::{FrameHeader, Opcode};
pub use handshake::{accept_key, validate_request, HandshakeError, HandshakeRequest};
pub use message::{DataKind, Message};
pub use utf8::Utf8Validator;
