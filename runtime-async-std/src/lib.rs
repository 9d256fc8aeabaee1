//! wirelane on async-std: `use wirelane_async_std::*;` gives [`Server`], [`Context`], the
//! message types and the header constants — the same API as `wirelane-tokio`.
//!
//! ```no_run
//! use wirelane_async_std::*;
//!
//! async fn echo(ctx: Context) {
//!     while let Some(msg) = ctx.recv_message().await {
//!         if ctx.send_message(msg).await.is_err() {
//!             break;
//!         }
//!     }
//! }
//!
//! #[async_std::main]
//! async fn main() {
//!     let server: Server = Server::new();
//!     server.port(8080).await;
//!     server.route("/ws", echo).await;
//!     server.run().await.unwrap();
//! }
//! ```
//!
//! async-std is discontinued upstream; this adapter is kept deliberately thin, and smol
//! (`wirelane-smol`) is the better choice for new code. Tasks go to async-std's global
//! executor (`async_std::task::spawn`; its size comes from `ASYNC_STD_THREAD_COUNT`),
//! sockets are async-std's, and timers are async-io's, the reactor async-std runs on.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskCx, Poll};
use std::time::Instant;
use wirelane_core::app;
use wirelane_core::app::futures_io::{FuturesIoStream, Latched};

pub use wirelane_core;
pub use wirelane_core::app::prelude::*;

/// The server, on async-std.
pub type Server = app::Server<AsyncStdRuntime>;

/// async-std, as the framework sees it: tasks go to `async_std::task::spawn`.
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncStdRuntime;

/// An async-std TCP stream.
pub type AsyncStdStream = FuturesIoStream<async_std::net::TcpStream>;

type AcceptFuture =
    Pin<Box<dyn Future<Output = io::Result<(async_std::net::TcpStream, SocketAddr)>> + Send>>;

/// An async-std TCP listener.
pub struct AsyncStdListener {
    listener: Arc<async_std::net::TcpListener>,
    /// async-std only offers `accept` as an `async fn`: the pending call lives here.
    accept: Option<AcceptFuture>,
}

impl std::fmt::Debug for AsyncStdListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncStdListener")
            .field("listener", &self.listener)
            .finish_non_exhaustive()
    }
}

/// A timer that can be moved to a new deadline (async-io's, which async-std runs on).
#[derive(Debug)]
pub struct AsyncStdTimer(Latched<async_io::Timer>);

impl app::Runtime for AsyncStdRuntime {
    type Stream = AsyncStdStream;
    type Listener = AsyncStdListener;
    type Timer = AsyncStdTimer;

    fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        async_std::task::spawn(fut);
    }

    fn listener_from_std(&self, listener: std::net::TcpListener) -> io::Result<AsyncStdListener> {
        listener.set_nonblocking(true)?;
        Ok(AsyncStdListener {
            listener: Arc::new(listener.into()),
            accept: None,
        })
    }

    fn timer(&self, deadline: Instant) -> AsyncStdTimer {
        AsyncStdTimer(Latched::new(async_io::Timer::at(deadline)))
    }
}

impl app::Listener for AsyncStdListener {
    type Stream = AsyncStdStream;

    fn poll_accept(
        &mut self,
        cx: &mut TaskCx<'_>,
    ) -> Poll<io::Result<(AsyncStdStream, SocketAddr)>> {
        let accept = self.accept.get_or_insert_with(|| {
            let listener = self.listener.clone();
            Box::pin(async move { listener.accept().await })
        });
        let result = std::task::ready!(accept.as_mut().poll(cx));
        self.accept = None;
        Poll::Ready(result.map(|(s, peer)| (FuturesIoStream(s), peer)))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

impl app::Timer for AsyncStdTimer {
    fn reset(&mut self, deadline: Instant) {
        self.0.reset_with(|t| {
            t.set_at(deadline);
        });
    }

    fn poll_elapsed(&mut self, cx: &mut TaskCx<'_>) -> Poll<()> {
        self.0.poll_elapsed(cx)
    }
}

/// The crate's README examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
