//! wirelane on smol: `use wirelane_smol::*;` gives [`Server`], [`Context`], the message
//! types and the header constants — the same API as `wirelane-tokio`.
//!
//! ```no_run
//! use wirelane_smol::*;
//!
//! async fn echo(ctx: Context) {
//!     while let Some(msg) = ctx.recv_message().await {
//!         if ctx.send_message(msg).await.is_err() {
//!             break;
//!         }
//!     }
//! }
//!
//! fn main() {
//!     smol::block_on(async {
//!         let server: Server = Server::new();
//!         server.port(8080).await;
//!         server.route("/ws", echo).await;
//!         server.run().await.unwrap();
//!     })
//! }
//! ```
//!
//! # Executors
//!
//! [`Server::new`] spawns the server's tasks with `smol::spawn`, i.e. on smol's global
//! executor, which runs on its own background threads (one unless the `SMOL_THREADS`
//! environment variable says otherwise); any `smol::block_on` in `main` is enough.
//!
//! To choose the threads yourself, give the server your own executor and run it:
//!
//! ```no_run
//! use std::sync::Arc;
//! use wirelane_smol::*;
//!
//! let ex = Arc::new(smol::Executor::new());
//! let server: Server = Server::with_runtime(SmolRuntime::new(ex.clone()));
//! // ... configure and add routes ...
//! smol::block_on(ex.run(async { server.run().await.unwrap() }));
//! ```
//!
//! Sockets are `smol::Async<std::net::TcpStream>`, driven by smol's reactor (async-io);
//! timers are `smol::Timer`s, moved with `Timer::set_at`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use smol::{Async, Executor};
use std::fmt;
use std::future::Future;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context as TaskCx, Poll};
use std::time::{Duration, Instant};
use wirelane_core::app;
use wirelane_core::app::futures_io::{FuturesIoStream, Latched};

pub use wirelane_core;
pub use wirelane_core::app::prelude::*;

/// The server, on smol.
pub type Server = app::Server<SmolRuntime>;

/// smol, as the framework sees it: tasks go to a given [`Executor`], or by default
/// (`SmolRuntime::default()`, what [`Server::new`] uses) to `smol::spawn`'s global
/// executor.
#[derive(Clone, Default)]
pub struct SmolRuntime {
    executor: Option<Arc<Executor<'static>>>,
}

impl SmolRuntime {
    /// Spawns the server's tasks on `executor`. Someone must run it (`executor.run(..)`),
    /// on as many threads as the server should use.
    pub fn new(executor: Arc<Executor<'static>>) -> Self {
        SmolRuntime {
            executor: Some(executor),
        }
    }

    /// The executor tasks are spawned on (`None`: smol's global executor).
    pub fn executor(&self) -> Option<&Arc<Executor<'static>>> {
        self.executor.as_ref()
    }
}

impl fmt::Debug for SmolRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let which = if self.executor.is_some() {
            "given"
        } else {
            "global"
        };
        f.debug_struct("SmolRuntime")
            .field("executor", &which)
            .finish()
    }
}

/// A smol TCP stream: the futures-io glue, plus async-io's readiness check, so the driver
/// registers for more data after a short read without an extra `read` that would only
/// return `EAGAIN`.
#[derive(Debug)]
pub struct SmolStream(FuturesIoStream<Async<std::net::TcpStream>>);

impl SmolStream {
    /// The socket.
    pub fn get_ref(&self) -> &Async<std::net::TcpStream> {
        self.0.get_ref()
    }
}

impl app::Transport for SmolStream {
    fn poll_read(&mut self, cx: &mut TaskCx<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.0.poll_read(cx, buf)
    }

    fn poll_write_vectored(
        &mut self,
        cx: &mut TaskCx<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.0.poll_write_vectored(cx, bufs)
    }

    fn poll_shutdown(&mut self, cx: &mut TaskCx<'_>) -> Poll<io::Result<()>> {
        self.0.poll_shutdown(cx)
    }

    fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.0.set_nodelay(on)
    }

    fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        self.0.set_linger(linger)
    }

    fn poll_read_ready(&mut self, cx: &mut TaskCx<'_>) -> Poll<io::Result<()>> {
        self.0.get_ref().poll_readable(cx)
    }
}

/// A smol TCP listener.
#[derive(Debug)]
pub struct SmolListener(Async<std::net::TcpListener>);

/// A smol timer that can be moved to a new deadline.
#[derive(Debug)]
pub struct SmolTimer(Latched<smol::Timer>);

impl app::Runtime for SmolRuntime {
    type Stream = SmolStream;
    type Listener = SmolListener;
    type Timer = SmolTimer;

    fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        match &self.executor {
            Some(ex) => ex.spawn(fut).detach(),
            None => smol::spawn(fut).detach(),
        }
    }

    fn listener_from_std(&self, listener: std::net::TcpListener) -> io::Result<SmolListener> {
        Async::new(listener).map(SmolListener)
    }

    fn timer(&self, deadline: Instant) -> SmolTimer {
        SmolTimer(Latched::new(smol::Timer::at(deadline)))
    }
}

impl app::Listener for SmolListener {
    type Stream = SmolStream;

    fn poll_accept(&mut self, cx: &mut TaskCx<'_>) -> Poll<io::Result<(SmolStream, SocketAddr)>> {
        loop {
            match self.0.get_ref().accept() {
                Ok((stream, peer)) => {
                    return Poll::Ready(
                        Async::new(stream).map(|s| (SmolStream(FuturesIoStream(s)), peer)),
                    )
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if let Err(e) = std::task::ready!(self.0.poll_readable(cx)) {
                        return Poll::Ready(Err(e));
                    }
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.get_ref().local_addr()
    }
}

impl app::Timer for SmolTimer {
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
