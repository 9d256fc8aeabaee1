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
pub use head::{Headers, Method, RequestHead, Version};
pub use response::{reason_phrase, BodyLength, ResponseHead};
