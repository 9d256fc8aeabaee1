//! The HTTP/1.1 server connection: a sans-IO state machine ([`ServerConnection`]) and the
//! types it speaks in.
//!
//! Modules, one job each:
//! - `head`: request head types ([`RequestHead`], [`Headers`], [`Method`], [`Version`]) and
//!   the incremental end-of-head scanner + `httparse` parse;
//! - `body`: request body framing decision (Content-Length / chunked / none);
//! - `chunked`: the chunked transfer-coding decoder;
//! - `response`: [`ResponseHead`], [`BodyLength`], head encoding;
//! - `date`: [`HttpDate`];
//! - `error`: [`HttpError`] (peer's fault, carries a status) and [`HttpUsageError`] (ours);
//! - `conn`: [`ServerConnection`], whose module docs state the rules of the state machine.
//!
//! # Driving a [`ServerConnection`]
//!
//! The loop (the full contract is in the [`proto`](crate::proto) docs): feed what the socket
//! reads with [`ServerConnection::handle_input`] (EOF with
//! [`ServerConnection::handle_eof`]); after every input and every command, take events with
//! [`ServerConnection::poll_event`] until `None`; write [`ServerConnection::output`] when it
//! is not empty; read only while [`ServerConnection::wants_read`]; sleep at most until
//! [`ServerConnection::poll_timeout`], then [`ServerConnection::handle_timeout`]; close once
//! [`ServerConnection::should_close`] and the output is written.
//!
//! A request for each [`HttpEvent::Head`] gets exactly one response: `send_response`, any
//! number of `send_body`, `finish_response` (early, before the body is read, is fine: the
//! core discards the rest). Responses go out in request order; a pipelined request is only
//! parsed once the previous response is finished.
//!
//! ```
//! use bytes::Bytes;
//! use std::io::IoSlice;
//! use std::time::Instant;
//! use wirelane_core::proto::http::{
//!     BodyLength, HttpDate, HttpEvent, ResponseHead, ServerConnection,
//! };
//! use wirelane_core::proto::HttpLimits;
//!
//! let now = Instant::now();
//! let mut conn = ServerConnection::new(HttpLimits::default(), now);
//! conn.set_date(HttpDate::from_unix_secs(784_111_777));
//!
//! // A request with a body, in two reads. Nothing happens until the head is complete.
//! conn.handle_input(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Le", now);
//! assert!(conn.poll_event().is_none());
//! conn.handle_input(b"ngth: 5\r\n\r\nhello", now);
//!
//! let mut body = Vec::new();
//! while let Some(event) = conn.poll_event() {
//!     match event {
//!         HttpEvent::Head(head) => assert_eq!(head.path(), "/echo"),
//!         HttpEvent::Body(piece) => body.extend_from_slice(&piece),
//!         HttpEvent::BodyEnd { .. } => {
//!             let head = ResponseHead::new(200).header("content-type", "text/plain");
//!             conn.send_response(head, BodyLength::Known(body.len() as u64)).unwrap();
//!             conn.send_body(Bytes::from(std::mem::take(&mut body))).unwrap();
//!             conn.finish_response().unwrap();
//!         }
//!         other => panic!("unexpected {other:?}"),
//!     }
//! }
//!
//! // Writable: one vectored write of the queued buffers, then `advance` by what it took.
//! let out = conn.output();
//! let mut slices = [IoSlice::new(&[]); 8];
//! let n = out.io_slices(&mut slices);
//! let wire: Vec<u8> = slices[..n].iter().flat_map(|s| s.iter().copied()).collect();
//! out.advance(wire.len());
//! assert_eq!(
//!     String::from_utf8(wire).unwrap(),
//!     "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\
//!      date: Sun, 06 Nov 1994 08:49:37 GMT\r\ncontent-length: 5\r\n\r\nhello"
//! );
//!
//! // Kept alive: waiting for the next request, with the idle timer running.
//! assert!(conn.wants_read() && !conn.should_close());
//! assert_eq!(conn.poll_timeout(), Some(now + conn.limits().idle_timeout));
//!
//! // The peer closes between requests: `PeerClosed`, then the driver closes the socket.
//! conn.handle_eof();
//! assert!(matches!(conn.poll_event(), Some(HttpEvent::PeerClosed)));
//! assert!(conn.should_close() && conn.output().is_empty());
//!
//! // A bad request: the core queues the error response itself and asks to close.
//! let mut conn = ServerConnection::new(HttpLimits::default(), now);
//! conn.handle_input(b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", now);
//! assert!(matches!(conn.poll_event(), Some(HttpEvent::Error(e)) if e.status() == 400));
//! assert!(conn.should_close());
//! assert!(conn.output().take_all().starts_with(b"HTTP/1.1 400 Bad Request\r\n"));
//! ```

mod body;
mod chunked;
mod conn;
mod date;
mod error;
mod head;
mod response;

pub use conn::{HttpEvent, ServerConnection};
pub use date::HttpDate;
pub use error::{HttpError, HttpUsageError};
pub use head::{Headers, Method, RequestHead, TargetForm, Version};
pub use response::{reason_phrase, BodyLength, ResponseHead};
