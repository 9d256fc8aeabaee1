//! wirelane on tokio: `use wirelane_tokio::*;` gives [`Server`], [`Context`], the message
//! types and the header constants.
//!
//! ```no_run
//! use wirelane_tokio::*;
//!
//! async fn echo(ctx: Context) {
//!     while let Some(msg) = ctx.recv_message().await {
//!         if ctx.send_message(msg).await.is_err() {
//!             break;
//!         }
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() {
//!     let server: Server = Server::new();
//!     server.port(8080).await;
//!     server.route("/ws", echo).await;
//!     server.run().await.unwrap();
//! }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context as TaskCx, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use wirelane_core::app;

pub use wirelane_core;
pub use wirelane_core::app::prelude::*;

/// The server, on tokio.
pub type Server = app::Server<TokioRuntime>;

/// The tokio runtime, as the framework sees it: tasks go to `tokio::spawn` on the current
/// runtime (multi-thread or current-thread).
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioRuntime;

/// A tokio TCP stream.
#[derive(Debug)]
pub struct TokioStream(tokio::net::TcpStream);

/// A tokio TCP listener.
#[derive(Debug)]
pub struct TokioListener(tokio::net::TcpListener);

/// A tokio sleep that can be reset.
#[derive(Debug)]
pub struct TokioTimer(Pin<Box<tokio::time::Sleep>>);

impl app::Runtime for TokioRuntime {
    type Stream = TokioStream;
    type Listener = TokioListener;
    type Timer = TokioTimer;

    fn spawn<F>(&self, fut: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        tokio::spawn(fut);
    }

    fn listener_from_std(&self, listener: std::net::TcpListener) -> io::Result<TokioListener> {
        listener.set_nonblocking(true)?;
        tokio::net::TcpListener::from_std(listener).map(TokioListener)
    }

    fn timer(&self, deadline: Instant) -> TokioTimer {
        TokioTimer(Box::pin(tokio::time::sleep_until(deadline.into())))
    }
}

impl app::Listener for TokioListener {
    type Stream = TokioStream;

    fn poll_accept(&mut self, cx: &mut TaskCx<'_>) -> Poll<io::Result<(TokioStream, SocketAddr)>> {
        self.0
            .poll_accept(cx)
            .map(|r| r.map(|(s, a)| (TokioStream(s), a)))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

impl app::Transport for TokioStream {
    fn poll_read(&mut self, cx: &mut TaskCx<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let mut rb = ReadBuf::new(buf);
        match Pin::new(&mut self.0).poll_read(cx, &mut rb) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(rb.filled().len())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_write_vectored(
        &mut self,
        cx: &mut TaskCx<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        // One buffer (a small message, or several copied into one): a plain write(2)
        // skips the kernel's copying and checking of an iovec array.
        match bufs {
            [one] => Pin::new(&mut self.0).poll_write(cx, one),
            _ => Pin::new(&mut self.0).poll_write_vectored(cx, bufs),
        }
    }

    fn poll_shutdown(&mut self, cx: &mut TaskCx<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.0.set_nodelay(on)
    }

    fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        socket2::SockRef::from(&self.0).set_linger(linger)
    }
}

impl app::Timer for TokioTimer {
    fn reset(&mut self, deadline: Instant) {
        self.0.as_mut().reset(deadline.into());
    }

    fn poll_elapsed(&mut self, cx: &mut TaskCx<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

use std::future::Future as _;

/// The crate's README examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// The workspace README's guide (every Rust example in it), compiled as doctests: here
/// because its examples use this adapter.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct GuideDoctests;
