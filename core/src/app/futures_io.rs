//! [`Transport`] for any [`futures_io`] stream (feature `futures-io`).
//!
//! async-std and smol both expose their sockets through the `futures-io` traits
//! (`AsyncRead` + `AsyncWrite`), so the glue between those traits and [`Transport`] is
//! written once here and used by both adapters. `futures-io` is a trait-only crate (no
//! runtime), so the framework still depends on no runtime.
//!
//! Socket options and the write-half shutdown go through [`socket2::SockRef`], so the
//! stream only has to expose its file descriptor (socket handle on Windows), as every TCP
//! stream type does. (`poll_close` is not enough for the shutdown: on async-io streams it
//! only flushes and never sends FIN.)

use super::runtime::Transport;
use futures_io::{AsyncRead, AsyncWrite};
use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::pin::Pin;
use std::task::{Context as TaskCx, Poll};
use std::time::Duration;

/// A futures-io TCP stream as a [`Transport`].
///
/// `S` is the runtime's stream type, e.g. `async_std::net::TcpStream` or
/// `async_io::Async<std::net::TcpStream>`.
#[derive(Debug)]
pub struct FuturesIoStream<S>(pub S);

impl<S> FuturesIoStream<S> {
    /// Wraps `stream`.
    pub fn new(stream: S) -> Self {
        FuturesIoStream(stream)
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.0
    }

    /// Unwraps the stream.
    pub fn into_inner(self) -> S {
        self.0
    }
}

impl<S> Transport for FuturesIoStream<S>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    for<'a> socket2::SockRef<'a>: From<&'a S>,
{
    fn poll_read(&mut self, cx: &mut TaskCx<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }

    fn poll_write_vectored(
        &mut self,
        cx: &mut TaskCx<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn poll_shutdown(&mut self, cx: &mut TaskCx<'_>) -> Poll<io::Result<()>> {
        // futures-io's `poll_close` does not mean the same on every runtime: on async-io
        // streams (smol, async-std) it only flushes. So flush through it, then send the
        // FIN ourselves; the read half stays open, as the driver expects.
        match Pin::new(&mut self.0).poll_close(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Ready(Ok(())) => {
                Poll::Ready(socket2::SockRef::from(&self.0).shutdown(Shutdown::Write))
            }
        }
    }

    fn set_nodelay(&self, on: bool) -> io::Result<()> {
        socket2::SockRef::from(&self.0).set_nodelay(on)
    }

    fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        socket2::SockRef::from(&self.0).set_linger(linger)
    }
}

/// A one-shot timer future held elapsed once it has fired, until it is reset: the
/// contract of [`Timer`](super::runtime::Timer). async-io's timers (async-std's and smol's)
/// stay pending forever after firing, so both adapters wrap theirs in this.
#[derive(Debug)]
pub struct Latched<T> {
    timer: T,
    fired: bool,
}

impl<T: std::future::Future + Unpin> Latched<T> {
    /// Wraps `timer`, not yet fired.
    pub fn new(timer: T) -> Self {
        Latched {
            timer,
            fired: false,
        }
    }

    /// Re-arms the timer with `set` (which moves its deadline).
    pub fn reset_with(&mut self, set: impl FnOnce(&mut T)) {
        set(&mut self.timer);
        self.fired = false;
    }

    /// Ready once the timer has fired, and from then on until the next reset.
    pub fn poll_elapsed(&mut self, cx: &mut TaskCx<'_>) -> Poll<()> {
        if !self.fired && Pin::new(&mut self.timer).poll(cx).is_ready() {
            self.fired = true;
        }
        if self.fired {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::task::Waker;

    /// Like an async-io timer: ready once when armed, pending forever after that.
    struct FiresOnce(bool);
    impl Future for FiresOnce {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, _: &mut TaskCx<'_>) -> Poll<()> {
            if std::mem::take(&mut self.0) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }
    }

    #[test]
    fn latched_stays_elapsed_until_reset() {
        let mut cx = TaskCx::from_waker(Waker::noop());
        let mut t = Latched::new(FiresOnce(false));
        assert!(t.poll_elapsed(&mut cx).is_pending());
        t.reset_with(|f| f.0 = true);
        assert!(t.poll_elapsed(&mut cx).is_ready());
        assert!(t.poll_elapsed(&mut cx).is_ready(), "held after firing");
        t.reset_with(|_| {});
        assert!(t.poll_elapsed(&mut cx).is_pending(), "reset clears it");
    }
}
