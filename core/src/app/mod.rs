//! The runtime-agnostic framework: [`Server`], routing, [`Context`], the connection
//! driver, and the [`Runtime`]/[`Transport`] traits that adapters implement.
//!
//! An adapter crate fills in the runtime (`wirelane_tokio::Server` is
//! `Server<TokioRuntime>`) and re-exports the rest, so a handler written for one runtime
//! compiles on the others unchanged.

pub mod backplane;
mod body;
mod broadcast;
mod config;
mod conn;
mod context;
mod cors;
mod date;
mod deadlines;
mod driver;
mod error;
#[cfg(feature = "futures-io")]
pub mod futures_io;
mod handler;
pub mod headers;
#[cfg(feature = "json")]
mod json;
pub mod memory;
pub mod metrics;
pub mod origin;
mod router;
mod runtime;
mod sender;
mod server;
pub mod static_files;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(feature = "tracing")]
mod trace;

pub use backplane::{Backplane, BackplaneStats, Inbox};
pub use body::{Body, IntoBody};
pub use broadcast::{Hub, HubStats, Membership, SlowClientPolicy};
pub use config::ServerConfig;
pub use context::Context;
pub use cors::Cors;
pub use driver::release_spare_buffers;
#[cfg(feature = "tls")]
pub use error::TlsError;
pub use error::{SendError, ServerError, TrySendError};
pub use handler::{BoxFuture, Handler};
#[cfg(feature = "json")]
pub use json::JsonError;
pub use metrics::{metrics_handler, Metrics, MetricsHandler, ProtocolErrorKind};
pub use router::RouteError;
pub use runtime::{Listener, Runtime, Timer, Transport};
pub use sender::Sender;
pub use server::{Server, ServerHandle};
#[cfg(feature = "tls")]
pub use tls::TlsConfig;

/// Everything a handler author needs, re-exported by every adapter crate (`use
/// wirelane_tokio::*;`), so the three adapters offer the same names by construction.
/// The adapters add only `Server` (with their runtime filled in) and their runtime type.
pub mod prelude {
    pub use super::headers::*;
    #[cfg(feature = "json")]
    pub use super::JsonError;
    pub use super::{
        metrics_handler, Backplane, BackplaneStats, Body, BoxFuture, Context, Cors, Handler, Hub,
        HubStats, IntoBody, Listener, Membership, Metrics, MetricsHandler, RouteError, Runtime,
        SendError, Sender, ServerConfig, ServerError, ServerHandle, SlowClientPolicy, Timer,
        Transport, TrySendError,
    };
    #[cfg(feature = "tls")]
    pub use super::{TlsConfig, TlsError};
    pub use crate::proto::http::Method;
    pub use crate::proto::ws::{CloseCode, DataKind, Message};
    pub use crate::proto::{HttpLimits, WsLimits};
}

/// The size of the connection driver for runtime `R` (for the adapters' size-budget tests:
/// every idle connection pays for it, and tokio rounds its task allocation up to a multiple
/// of 128 bytes, so a few bytes more can cost 128 per connection).
#[doc(hidden)]
pub fn driver_size<R: runtime::Runtime>() -> usize {
    std::mem::size_of::<driver::Driver<R>>()
}
