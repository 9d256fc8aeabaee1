//! The sans-IO protocol layer: bytes in, events out, bytes to send out.
//!
//! Nothing in this module performs I/O, spawns threads, reads the clock or touches global
//! state. Time comes in as a `now: Instant` argument; each state machine reports its next
//! deadline (`poll_timeout`) and is told when it passes (`handle_timeout`).
//!
//! Two state machines, one per protocol phase of a connection (their socket-and-clock side
//! is the same, the [`Connection`] trait, so an event loop can drive either without asking
//! which it is):
//! [`http::ServerConnection`] (HTTP/1.1: requests, responses, keep-alive, pipelining, the
//! upgrade request) and [`ws::WsConnection`] (WebSocket after the upgrade: frames,
//! messages, ping/pong, the close handshake). Both have the same shape (after quinn-proto):
//! - inputs: `handle_input(bytes, now)`, `handle_eof(..)`, `handle_timeout(now)`;
//! - commands: `send_response`/`send_body`/`finish_response`/`accept_upgrade` (HTTP),
//!   `send`/`send_ping`/`close` (WebSocket), ...;
//! - outputs: `poll_event()`, `poll_timeout()`, and [`OutQueue`] (`output()`), the bytes to
//!   write, as a list of buffers for vectored writes.
//!
//! # The event-loop contract
//!
//! The driver (your event loop) owns the socket and the clock; the core owns the protocol
//! and never writes or reads anything itself. Per connection:
//!
//! 1. **Accepted**: `ServerConnection::new(limits, now)`. Optionally
//!    [`set_date`](http::ServerConnection::set_date) now and then (the core never reads the
//!    wall clock, so without it responses carry no `date` header).
//! 2. **Bytes arrive**: `handle_input(&bytes, now)`, in whatever pieces the socket gives.
//!    Input is only buffered there: the parsing happens lazily in `poll_event`, one event at
//!    a time. So **after every input and every command, call `poll_event()` until it
//!    returns `None`**, answering each event with commands. (A finished response is what
//!    lets the next pipelined request through, so the events after a command are real.)
//! 3. **Read only while the core wants input**: `wants_read` (on both connections, and on
//!    the [`Connection`] trait they share) is false until the last input has been parsed
//!    (`poll_event` returned `None`), while the unparsed input is at the protocol's mark
//!    (pipelined requests waiting for their turn; [`WsLimits::read_pause`]), after EOF, on
//!    close and after an upgrade. Also stop reading while the output is above your own
//!    high-water mark (each ping queues a pong, each echo a message). Not reading is the
//!    backpressure: memory stays bounded by the limits plus your marks.
//! 4. **The socket is writable** (or anything was queued): while `output()` is not empty,
//!    [`OutQueue::io_slices`] fills an `IoSlice` array for one `write_vectored`, and
//!    [`OutQueue::advance`] drops what the socket accepted. Ask for writability only while
//!    the queue is not empty.
//! 5. **EOF** (a read of 0 bytes): `handle_eof`, then poll events. HTTP then reports
//!    `PeerClosed` (between requests) or an `Error`; WebSocket reports `Closed`.
//! 6. **Timers**: wait at most until `poll_timeout()` (recompute it after every step: it
//!    moves with input and output); when it has passed, `handle_timeout(now)`, poll
//!    events and write. The core decides what a deadline means: a 408, a silent close of an
//!    idle keep-alive connection, a heartbeat ping, a WebSocket idle close (1001), the end of
//!    a close handshake the peer did not answer.
//! 7. **Close**: once [`http::ServerConnection::should_close`] or
//!    [`ws::WsConnection::is_closed`] is true *and* the output is written, shut the socket
//!    down. For the WebSocket, the server closes TCP first (RFC 6455 §7.1.1). Best practice
//!    is a lingering close: `shutdown(Write)`, then read and drop input until EOF or a short
//!    timeout, so unread input does not turn the close into a reset that destroys the last
//!    bytes (an error response, a close frame).
//!
//! Errors by the peer (bad syntax, ambiguous framing, a limit, a protocol violation) arrive as
//! events ([`http::HttpEvent::Error`], [`ws::WsEvent::Error`]) after the core has already
//! queued the answer (an HTTP error response with `connection: close`, a close frame with the
//! right code): the driver only writes the output and closes. Misuse of the API by the
//! application is a separate error type returned by the command
//! ([`http::HttpUsageError`], [`ws::WsUsageError`]).
//!
//! ## The upgrade hand-over
//!
//! An HTTP/1.1 request with `Upgrade` and `Connection: upgrade` ends HTTP parsing with
//! [`http::HttpEvent::Upgrade`]. Then:
//! - check it with [`ws::validate_request`]; on `Err(e)`, answer with `e.response()` (400,
//!   or 426 with `Sec-WebSocket-Version: 13`) like any response, and HTTP goes on;
//! - on `Ok(handshake)`, [`http::ServerConnection::accept_upgrade`] with
//!   `handshake.response(..)` queues the 101 and returns the bytes the client sent after the
//!   request head (often the first frames, sent without waiting for the 101). The HTTP
//!   connection is done: no more events, no reading, `should_close` stays false; but its
//!   output still holds the 101, which must be written before any WebSocket byte;
//! - create [`ws::WsConnection::new`], feed it the leftover bytes with `handle_input`, and
//!   poll its events: from here on the connection is WebSocket.
//!
//! `examples/src/bin/custom_loop.rs` in the repository is a complete server built this
//! way on `mio` (HTTP + WebSocket echo, passing the Autobahn suite).
//!
//! # Example: a whole connection, in memory
//!
//! A client sends a `GET`, then an upgrade request with its first (masked) frame in the same
//! read; the server answers the `GET`, accepts the upgrade and echoes the frame.
//!
//! ```
//! use bytes::Bytes;
//! use std::io::IoSlice;
//! use std::time::Instant;
//! use wirelane_core::proto::http::{BodyLength, HttpEvent, ResponseHead, ServerConnection};
//! use wirelane_core::proto::ws::{validate_request, WsConfig, WsConnection, WsEvent};
//! use wirelane_core::proto::{HttpLimits, OutQueue};
//!
//! /// What a driver does when the socket is writable (here: into a Vec).
//! fn write_all(out: &mut OutQueue, wire: &mut Vec<u8>) {
//!     while !out.is_empty() {
//!         let mut slices = [IoSlice::new(&[]); 16];
//!         let n = out.io_slices(&mut slices);
//!         let written: usize = slices[..n].iter().map(|s| s.len()).sum();
//!         wire.extend(slices[..n].iter().flat_map(|s| s.iter().copied()));
//!         out.advance(written); // a socket may take less: advance by what it took
//!     }
//! }
//!
//! let now = Instant::now();
//! let mut http = ServerConnection::new(HttpLimits::default(), now);
//! let mut wire = Vec::new(); // what the client receives
//!
//! let mut input = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec();
//! input.extend_from_slice(
//!     b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
//!       Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
//! );
//! // The client's first frame, right behind the head: "Hello" masked (RFC 6455 §5.7).
//! input.extend_from_slice(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
//!
//! // Bytes arrive: input, then events until None.
//! http.handle_input(&input, now);
//! let mut ws = None;
//! while let Some(event) = http.poll_event() {
//!     match event {
//!         HttpEvent::Head(head) => {
//!             assert_eq!(head.path(), "/");
//!             let body = Bytes::from_static(b"Hello, World!");
//!             http.send_response(ResponseHead::new(200), BodyLength::Known(13)).unwrap();
//!             http.send_body(body).unwrap();
//!             http.finish_response().unwrap(); // lets the next request through
//!         }
//!         HttpEvent::BodyEnd { .. } => {}
//!         HttpEvent::Upgrade(head) => {
//!             let handshake = validate_request(&head).expect("a valid handshake");
//!             let rest = http.accept_upgrade(handshake.response(None, Vec::new())).unwrap();
//!             let mut conn = WsConnection::new(WsConfig::default(), now);
//!             conn.handle_input(&rest, now); // the frame that came with the request
//!             ws = Some(conn);
//!         }
//!         other => panic!("unexpected {other:?}"),
//!     }
//! }
//! // The HTTP output (the 200, then the 101) goes out before any WebSocket byte.
//! write_all(http.output(), &mut wire);
//! assert!(http.is_upgraded() && !http.wants_read() && !http.should_close());
//!
//! let mut ws = ws.expect("upgraded");
//! while let Some(event) = ws.poll_event() {
//!     if let WsEvent::Message(msg) = event {
//!         let (kind, payload) = msg.into_payload();
//!         ws.send(kind, payload).unwrap();
//!     }
//! }
//! write_all(ws.output(), &mut wire);
//!
//! let text = String::from_utf8_lossy(&wire);
//! assert!(text.starts_with("HTTP/1.1 200 OK\r\n"));
//! assert!(text.contains("\r\n\r\nHello, World!HTTP/1.1 101 Switching Protocols\r\n"));
//! assert!(text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
//! // The echo: an unmasked text frame, after the 101's empty line.
//! assert!(wire.ends_with(b"\r\n\r\n\x81\x05Hello"));
//! ```

// `ws` holds the crate's one `unsafe` block (in `ws::assembly`), so it forbids unsafe code
// module by module itself; the rest forbid it here.
#[forbid(unsafe_code)]
pub mod connection;
#[forbid(unsafe_code)]
pub mod http;
#[forbid(unsafe_code)]
pub mod limits;
#[forbid(unsafe_code)]
pub mod outbuf;
pub mod ws;

pub use connection::Connection;
pub use limits::{HttpLimits, WsLimits};
pub use outbuf::OutQueue;
