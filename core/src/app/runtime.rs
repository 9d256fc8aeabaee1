//! The small trait set through which the framework talks to an async runtime.
//!
//! An adapter crate implements [`Runtime`] (spawning, listening, timers) and [`Transport`]
//! (a connected TCP stream) for its runtime; everything else — routing, the connection
//! driver, WebSocket handling, shutdown — is written once in [`crate::app`].

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::task::{Context as TaskCx, Poll};
use std::time::{Duration, Instant};

/// An async runtime: spawns tasks, accepts connections, and arms timers.
pub trait Runtime: Clone + Send + Sync + 'static {
    /// A connected TCP stream.
    type Stream: Transport;
    /// A bound TCP listener.
    type Listener: Listener<Stream = Self::Stream>;
    /// A resettable one-shot timer.
    type Timer: Timer;

    /// Runs `fut` to completion in the background.
    fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static;

    /// Turns a bound, listening std listener into this runtime's listener.
    fn listener_from_std(&self, listener: std::net::TcpListener) -> io::Result<Self::Listener>;

    /// Binds a listener on `addr`. The default binds a TCP socket with a deep backlog and
    /// `SO_REUSEADDR`, then hands it to [`Runtime::listener_from_std`]; a runtime with
    /// listeners of its own (an in-memory network for tests) overrides it.
    fn listen(&self, addr: SocketAddr) -> io::Result<Self::Listener> {
        self.listener_from_std(bind_tcp(addr)?)
    }

    /// The current instant. Every deadline the framework computes starts from it, and a
    /// timer from [`Runtime::timer`] fires when `now()` reaches its deadline. The default is
    /// the system's monotonic clock; a test runtime may supply a manual one.
    fn now() -> Instant {
        Instant::now()
    }

    /// A timer that fires at `deadline`. The framework needs few: one per server for all
    /// of its connections' deadlines, and one for the accept loop's back-off.
    fn timer(&self, deadline: Instant) -> Self::Timer;
}

/// A listening socket.
pub trait Listener: Send + Unpin + 'static {
    /// The streams it accepts.
    type Stream: Transport;
    /// Accepts the next connection.
    fn poll_accept(&mut self, cx: &mut TaskCx<'_>) -> Poll<io::Result<(Self::Stream, SocketAddr)>>;
    /// The address it is bound to.
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

/// A connected byte stream (TCP in practice).
pub trait Transport: Send + Unpin + 'static {
    /// Reads into `buf`; `Ok(0)` is end of stream.
    fn poll_read(&mut self, cx: &mut TaskCx<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>;
    /// Writes from several buffers at once; returns how many bytes were taken.
    fn poll_write_vectored(
        &mut self,
        cx: &mut TaskCx<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>>;
    /// [`poll_write_vectored`](Transport::poll_write_vectored) of the last bytes the
    /// connection will send: the driver calls [`poll_shutdown`](Transport::poll_shutdown)
    /// once they are written. A transport with closing bytes of its own (TLS's
    /// `close_notify`) may send them in the same write, saving a system call per
    /// connection. The default is a plain write.
    fn poll_write_last(
        &mut self,
        cx: &mut TaskCx<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, bufs)
    }
    /// Writes bytes the transport made of its own accord and still holds (TLS records made
    /// while reading: session tickets, a key update answer). The driver calls it when it
    /// has nothing queued to write, before it sleeps, so that such bytes ride with its next
    /// write when there is one and are never left behind. The default holds nothing.
    fn poll_flush(&mut self, cx: &mut TaskCx<'_>) -> Poll<io::Result<()>> {
        let _ = cx;
        Poll::Ready(Ok(()))
    }
    /// Shuts down the write half (sends FIN).
    fn poll_shutdown(&mut self, cx: &mut TaskCx<'_>) -> Poll<io::Result<()>>;
    /// Sets `TCP_NODELAY`.
    fn set_nodelay(&self, on: bool) -> io::Result<()>;
    /// Sets `SO_LINGER` (`None` turns it off, the system default).
    fn set_linger(&self, linger: Option<Duration>) -> io::Result<()>;
    /// Ready when the stream may have data to read; otherwise registers `cx` to be woken
    /// when it does. The driver calls it, instead of reading, after a read that returned
    /// fewer bytes than it asked for (the socket is then usually empty): a runtime that
    /// can register interest without a read saves a system call per wake-up. The default
    /// is always ready, so the driver simply reads again (right for tokio, which already
    /// answers that second read from its own readiness state).
    fn poll_read_ready(&mut self, cx: &mut TaskCx<'_>) -> Poll<io::Result<()>> {
        let _ = cx;
        Poll::Ready(Ok(()))
    }
    /// An instant by which the transport must have made progress of its own (a TLS
    /// handshake that must complete by then), in the clock of [`Runtime::now`]: the driver
    /// wakes at it and, once it has passed, ends the connection. The default is none.
    fn deadline(&self) -> Option<Instant> {
        None
    }
}

/// A one-shot timer that can be moved to a new deadline.
pub trait Timer: Send + Unpin + 'static {
    /// Moves the deadline (re-arming a timer that already fired).
    fn reset(&mut self, deadline: Instant);
    /// Ready once the deadline has passed.
    fn poll_elapsed(&mut self, cx: &mut TaskCx<'_>) -> Poll<()>;
}

/// Binds with a deep accept backlog (bursts of thousands of connects are normal for a
/// real-time server) and `SO_REUSEADDR` so a restarted server can bind at once.
fn bind_tcp(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}
