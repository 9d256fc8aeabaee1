//! The in-memory network of [`MemRuntime`](super::MemRuntime): listeners, and duplex
//! pipes whose server end ([`MemStream`]) injects faults and whose client end
//! ([`MemClient`]) is driven synchronously by the test.

use super::lock;
use crate::app::runtime::{Listener, Transport};
use std::collections::{HashMap, VecDeque};
use std::io::{self, IoSlice};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context as TaskCx, Poll, Waker};
use std::time::Duration;

/// How a server-side stream misbehaves. The default behaves like a fast, healthy socket:
/// reads and writes take as much as they can, and nothing fails.
///
/// Byte counts (`*_after`) count bytes the server has read or written on this stream
/// since it was accepted.
#[derive(Debug, Clone)]
pub struct Faults {
    /// Largest number of bytes one read returns (1: every read returns one byte).
    pub max_read: usize,
    /// Largest number of bytes one write accepts (1: every write takes one byte).
    pub max_write: usize,
    /// Bytes written by the server that the client may leave unread before writes return
    /// `Pending` (the socket buffers of both ends, in TCP terms). Reading on the client
    /// makes room and wakes the writer.
    pub client_buffer: usize,
    /// `WouldBlock` storms before every read that has something to return.
    pub read_storm: Storm,
    /// `WouldBlock` storms before every write that could take bytes.
    pub write_storm: Storm,
    /// Reads fail with this error kind once this many bytes have been read (and keep
    /// failing).
    pub read_error_after: Option<(u64, io::ErrorKind)>,
    /// Writes fail with this error kind once this many bytes have been written: the write
    /// that reaches the count is cut short there, the next one fails, and so do later
    /// reads if the kind is `ConnectionReset` (after `BrokenPipe`, reads see end of stream).
    pub write_error_after: Option<(u64, io::ErrorKind)>,
    /// The server sees end of stream after reading this many bytes, as if the client had
    /// half-closed there; whatever the client writes beyond it is discarded.
    pub eof_after: Option<u64>,
    /// How shutting down the write half behaves.
    pub shutdown: ShutdownFault,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            max_read: usize::MAX,
            max_write: usize::MAX,
            client_buffer: usize::MAX,
            read_storm: Storm::default(),
            write_storm: Storm::default(),
            read_error_after: None,
            write_error_after: None,
            eof_after: None,
            shutdown: ShutdownFault::Ok,
        }
    }
}

impl Faults {
    /// Sets [`Faults::max_read`] (at least 1).
    pub fn max_read(mut self, n: usize) -> Self {
        self.max_read = n.max(1);
        self
    }

    /// Sets [`Faults::max_write`] (at least 1).
    pub fn max_write(mut self, n: usize) -> Self {
        self.max_write = n.max(1);
        self
    }

    /// Sets [`Faults::client_buffer`] (at least 1).
    pub fn client_buffer(mut self, n: usize) -> Self {
        self.client_buffer = n.max(1);
        self
    }

    /// Sets [`Faults::read_storm`].
    pub fn read_storm(mut self, pending: u32, wake: StormWake) -> Self {
        self.read_storm = Storm { pending, wake };
        self
    }

    /// Sets [`Faults::write_storm`].
    pub fn write_storm(mut self, pending: u32, wake: StormWake) -> Self {
        self.write_storm = Storm { pending, wake };
        self
    }

    /// Sets [`Faults::read_error_after`].
    pub fn read_error_after(mut self, bytes: u64, kind: io::ErrorKind) -> Self {
        self.read_error_after = Some((bytes, kind));
        self
    }

    /// Sets [`Faults::write_error_after`].
    pub fn write_error_after(mut self, bytes: u64, kind: io::ErrorKind) -> Self {
        self.write_error_after = Some((bytes, kind));
        self
    }

    /// Sets [`Faults::eof_after`].
    pub fn eof_after(mut self, bytes: u64) -> Self {
        self.eof_after = Some(bytes);
        self
    }

    /// Sets [`Faults::shutdown`].
    pub fn shutdown(mut self, shutdown: ShutdownFault) -> Self {
        self.shutdown = shutdown;
        self
    }
}

/// A run of `Pending` answers that an operation gives before it goes through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Storm {
    /// `Pending` answers before each operation that could go through (0: no storm).
    pub pending: u32,
    /// Who wakes the task after each of them.
    pub wake: StormWake,
}

/// Who wakes a task that a [`Storm`] answered `Pending`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StormWake {
    /// The stream wakes it at once: a spurious wake-up, as after an edge that another
    /// reader consumed.
    #[default]
    Immediately,
    /// Only the client's next action on the connection (any [`MemClient`] call that
    /// touches it, [`MemClient::nudge`] included) wakes it.
    OnClientAction,
}

/// How [`Transport::poll_shutdown`] behaves on a [`MemStream`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ShutdownFault {
    /// Sends FIN at once.
    #[default]
    Ok,
    /// Answers `Pending` this many times (waking at once), then sends FIN.
    Pending(u32),
    /// Fails with this error; no FIN is sent.
    Error(io::ErrorKind),
}

/// The state of one connection, shared by its two ends.
struct Pipe {
    faults: Faults,
    /// Client → server bytes not yet read by the server.
    inbound: VecDeque<u8>,
    client_fin: bool,
    client_reset: bool,
    client_dropped: bool,
    read_total: u64,
    /// Server → client bytes not yet read by the client.
    outbound: VecDeque<u8>,
    server_fin: bool,
    server_dropped: bool,
    written_total: u64,
    /// The error an injected fault left the stream with.
    broken: Option<io::ErrorKind>,
    read_stalls: u32,
    write_stalls: u32,
    shutdown_stalls: u32,
    read_waker: Option<Waker>,
    write_waker: Option<Waker>,
    nodelay: Option<bool>,
    linger: Option<Option<Duration>>,
}

impl Pipe {
    fn new(faults: Faults) -> Self {
        Pipe {
            faults,
            inbound: VecDeque::new(),
            client_fin: false,
            client_reset: false,
            client_dropped: false,
            read_total: 0,
            outbound: VecDeque::new(),
            server_fin: false,
            server_dropped: false,
            written_total: 0,
            broken: None,
            read_stalls: 0,
            write_stalls: 0,
            shutdown_stalls: 0,
            read_waker: None,
            write_waker: None,
            nodelay: None,
            linger: None,
        }
    }

    /// The client did something: wake the server-side tasks waiting on this stream.
    fn wake_server(&mut self) {
        if let Some(w) = self.read_waker.take() {
            w.wake();
        }
        if let Some(w) = self.write_waker.take() {
            w.wake();
        }
    }

    /// Bytes the server may still read before the injected end of stream.
    fn readable(&self) -> usize {
        let left = match self.faults.eof_after {
            Some(k) => usize::try_from(k.saturating_sub(self.read_total)).unwrap_or(usize::MAX),
            None => usize::MAX,
        };
        self.inbound.len().min(left)
    }

    /// The server sees end of stream (once what is readable has been read).
    fn at_eof(&self) -> bool {
        self.client_fin || self.faults.eof_after.is_some_and(|k| self.read_total >= k)
    }

    /// The error a read gets now, if any.
    fn read_error(&mut self) -> Option<io::Error> {
        if let Some(kind) = self.broken {
            return (kind != io::ErrorKind::BrokenPipe).then(|| kind.into());
        }
        if self.client_reset {
            return Some(io::ErrorKind::ConnectionReset.into());
        }
        if let Some((k, kind)) = self.faults.read_error_after {
            if self.read_total >= k {
                self.broken = Some(kind);
                return Some(kind.into());
            }
        }
        None
    }

    /// Whether a read would return something now (data, end of stream or an error).
    fn read_ready(&self) -> bool {
        self.broken.is_some()
            || self.client_reset
            || self
                .faults
                .read_error_after
                .is_some_and(|(k, _)| self.read_total >= k)
            || self.readable() > 0
            || self.at_eof()
    }

    /// Answers `Pending` if a storm is still going on before this operation.
    fn stall(storm: Storm, stalls: &mut u32, slot: &mut Option<Waker>, cx: &TaskCx<'_>) -> bool {
        if *stalls >= storm.pending {
            *stalls = 0;
            return false;
        }
        *stalls += 1;
        match storm.wake {
            StormWake::Immediately => cx.waker().wake_by_ref(),
            StormWake::OnClientAction => *slot = Some(cx.waker().clone()),
        }
        true
    }
}

/// Listeners by address.
#[derive(Default)]
pub(super) struct Net {
    listeners: HashMap<SocketAddr, Arc<Mutex<Backlog>>>,
    next_port: u16,
    next_client_port: u16,
}

impl Net {
    pub(super) fn connect(&mut self, addr: SocketAddr, faults: Faults) -> io::Result<MemClient> {
        let backlog = self
            .listeners
            .get(&addr)
            .ok_or(io::ErrorKind::ConnectionRefused)?;
        let port = 40000 + self.next_client_port % 20000;
        self.next_client_port = self.next_client_port.wrapping_add(1);
        let peer = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
        let pipe = Arc::new(Mutex::new(Pipe::new(faults)));
        let mut b = lock(backlog);
        b.queue.push_back((MemStream { pipe: pipe.clone() }, peer));
        if let Some(w) = b.waker.take() {
            w.wake();
        }
        Ok(MemClient { pipe, peer })
    }
}

pub(super) fn listen(net: &Arc<Mutex<Net>>, addr: SocketAddr) -> io::Result<MemListener> {
    let mut n = lock(net);
    let addr = if addr.port() == 0 {
        loop {
            n.next_port = n.next_port.wrapping_add(1);
            let candidate = SocketAddr::new(addr.ip(), 1024 + n.next_port % 60000);
            if !n.listeners.contains_key(&candidate) {
                break candidate;
            }
        }
    } else {
        addr
    };
    if n.listeners.contains_key(&addr) {
        return Err(io::ErrorKind::AddrInUse.into());
    }
    let backlog = Arc::new(Mutex::new(Backlog::default()));
    n.listeners.insert(addr, backlog.clone());
    Ok(MemListener {
        addr,
        backlog,
        net: Arc::downgrade(net),
    })
}

/// Connections made and not yet accepted.
#[derive(Default)]
struct Backlog {
    queue: VecDeque<(MemStream, SocketAddr)>,
    waker: Option<Waker>,
}

/// An in-memory listener of a [`MemRuntime`](super::MemRuntime); dropping it unbinds the
/// address (later connects are refused, connections not yet accepted are dropped).
pub struct MemListener {
    addr: SocketAddr,
    backlog: Arc<Mutex<Backlog>>,
    /// Weak: the listener lives in a task of the runtime that owns the network.
    net: Weak<Mutex<Net>>,
}

impl std::fmt::Debug for MemListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemListener")
            .field("addr", &self.addr)
            .finish()
    }
}

impl Listener for MemListener {
    type Stream = MemStream;

    fn poll_accept(&mut self, cx: &mut TaskCx<'_>) -> Poll<io::Result<(MemStream, SocketAddr)>> {
        let mut b = lock(&self.backlog);
        match b.queue.pop_front() {
            Some(conn) => Poll::Ready(Ok(conn)),
            None => {
                b.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.addr)
    }
}

impl Drop for MemListener {
    fn drop(&mut self) {
        if let Some(net) = self.net.upgrade() {
            lock(&net).listeners.remove(&self.addr);
        }
        let pending = std::mem::take(&mut lock(&self.backlog).queue);
        drop(pending);
    }
}

/// The server end of an in-memory connection: a [`Transport`] that injects the
/// connection's [`Faults`].
pub struct MemStream {
    pipe: Arc<Mutex<Pipe>>,
}

impl std::fmt::Debug for MemStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemStream").finish_non_exhaustive()
    }
}

impl Transport for MemStream {
    fn poll_read(&mut self, cx: &mut TaskCx<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let mut guard = lock(&self.pipe);
        let p = &mut *guard;
        if let Some(e) = p.read_error() {
            return Poll::Ready(Err(e));
        }
        if !p.read_ready() {
            p.read_waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        if p.broken == Some(io::ErrorKind::BrokenPipe) {
            return Poll::Ready(Ok(0));
        }
        if Pipe::stall(
            p.faults.read_storm,
            &mut p.read_stalls,
            &mut p.read_waker,
            cx,
        ) {
            return Poll::Pending;
        }
        let mut n = p.readable().min(buf.len()).min(p.faults.max_read);
        if let Some((k, _)) = p.faults.read_error_after {
            let left = usize::try_from(k - p.read_total).unwrap_or(usize::MAX);
            n = n.min(left);
        }
        for (dst, src) in buf[..n].iter_mut().zip(p.inbound.drain(..n)) {
            *dst = src;
        }
        p.read_total += n as u64;
        if p.faults.eof_after.is_some_and(|k| p.read_total >= k) {
            // The client's bytes past the injected end of stream never arrive.
            p.inbound.clear();
        }
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        &mut self,
        cx: &mut TaskCx<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let mut guard = lock(&self.pipe);
        let p = &mut *guard;
        if let Some(kind) = p.broken {
            return Poll::Ready(Err(kind.into()));
        }
        if p.client_reset {
            return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
        }
        if p.client_dropped || p.server_fin {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total == 0 {
            return Poll::Ready(Ok(0));
        }
        let mut limit = total.min(p.faults.max_write);
        if let Some((k, kind)) = p.faults.write_error_after {
            if p.written_total >= k {
                p.broken = Some(kind);
                return Poll::Ready(Err(kind.into()));
            }
            limit = limit.min(usize::try_from(k - p.written_total).unwrap_or(usize::MAX));
        }
        let room = p.faults.client_buffer.saturating_sub(p.outbound.len());
        if room == 0 {
            p.write_waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        if Pipe::stall(
            p.faults.write_storm,
            &mut p.write_stalls,
            &mut p.write_waker,
            cx,
        ) {
            return Poll::Pending;
        }
        let n = limit.min(room);
        let mut left = n;
        for b in bufs {
            let take = left.min(b.len());
            p.outbound.extend(&b[..take]);
            left -= take;
            if left == 0 {
                break;
            }
        }
        p.written_total += n as u64;
        Poll::Ready(Ok(n))
    }

    fn poll_shutdown(&mut self, cx: &mut TaskCx<'_>) -> Poll<io::Result<()>> {
        let mut p = lock(&self.pipe);
        if let Some(kind) = p.broken {
            return Poll::Ready(Err(kind.into()));
        }
        match p.faults.shutdown {
            ShutdownFault::Ok => {}
            ShutdownFault::Pending(n) => {
                if p.shutdown_stalls < n {
                    p.shutdown_stalls += 1;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
            }
            ShutdownFault::Error(kind) => return Poll::Ready(Err(kind.into())),
        }
        p.server_fin = true;
        Poll::Ready(Ok(()))
    }

    fn set_nodelay(&self, on: bool) -> io::Result<()> {
        lock(&self.pipe).nodelay = Some(on);
        Ok(())
    }

    fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        lock(&self.pipe).linger = Some(linger);
        Ok(())
    }

    fn poll_read_ready(&mut self, cx: &mut TaskCx<'_>) -> Poll<io::Result<()>> {
        let mut p = lock(&self.pipe);
        if p.read_ready() {
            Poll::Ready(Ok(()))
        } else {
            p.read_waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

impl Drop for MemStream {
    fn drop(&mut self) {
        let mut p = lock(&self.pipe);
        p.server_dropped = true;
        p.read_waker = None;
        p.write_waker = None;
        // Unread input is gone with the socket; memory tests expect it freed.
        p.inbound = VecDeque::new();
    }
}

/// The client end of an in-memory connection, driven synchronously by the test: what it
/// writes is there for the server's next read, and what the server wrote is there to
/// read once the runtime has run ([`MemRuntime::run_until_idle`](super::MemRuntime)).
///
/// Every call that touches the connection wakes the server tasks waiting on it.
pub struct MemClient {
    pipe: Arc<Mutex<Pipe>>,
    peer: SocketAddr,
}

impl std::fmt::Debug for MemClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemClient")
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl MemClient {
    /// Sends `bytes` to the server.
    ///
    /// # Panics
    /// After [`MemClient::shutdown_write`] or [`MemClient::reset`].
    pub fn write(&self, bytes: &[u8]) {
        let mut p = lock(&self.pipe);
        assert!(
            !p.client_fin && !p.client_reset,
            "MemClient::write after shutdown_write or reset"
        );
        let past_eof = p.faults.eof_after.is_some_and(|k| p.read_total >= k);
        if !p.server_dropped && !past_eof {
            p.inbound.extend(bytes);
        }
        p.wake_server();
    }

    /// Half-closes: the server reads end of stream after what was written.
    pub fn shutdown_write(&self) {
        let mut p = lock(&self.pipe);
        p.client_fin = true;
        p.wake_server();
    }

    /// Resets the connection (an RST): the server's reads and writes fail with
    /// `ConnectionReset`, and what was in flight either way is lost.
    pub fn reset(&self) {
        let mut p = lock(&self.pipe);
        p.client_reset = true;
        p.inbound.clear();
        p.outbound.clear();
        p.wake_server();
    }

    /// Takes everything the server has written and the client has not read yet.
    pub fn read_available(&self) -> Vec<u8> {
        self.read_at_most(usize::MAX)
    }

    /// Takes at most `n` of the bytes the server has written and the client has not read.
    pub fn read_at_most(&self, n: usize) -> Vec<u8> {
        let mut p = lock(&self.pipe);
        let n = n.min(p.outbound.len());
        let v: Vec<u8> = p.outbound.drain(..n).collect();
        if p.outbound.is_empty() {
            // Give the memory back: tests count live allocations.
            p.outbound = VecDeque::new();
        }
        p.wake_server();
        v
    }

    /// Bytes the server has written that the client has not read yet.
    pub fn unread(&self) -> usize {
        lock(&self.pipe).outbound.len()
    }

    /// Whether the server has closed its end: shut down its write half (FIN) or dropped
    /// the stream. Bytes written before may still be unread.
    pub fn is_closed_by_server(&self) -> bool {
        let p = lock(&self.pipe);
        p.server_fin || p.server_dropped
    }

    /// Whether the server has dropped its end of the connection altogether.
    pub fn is_dropped_by_server(&self) -> bool {
        lock(&self.pipe).server_dropped
    }

    /// Wakes the server tasks waiting on this connection without doing anything (a
    /// spurious wake-up; also ends a [`StormWake::OnClientAction`] stall).
    pub fn nudge(&self) {
        lock(&self.pipe).wake_server();
    }

    /// The faults the server end injects now.
    pub fn faults(&self) -> Faults {
        lock(&self.pipe).faults.clone()
    }

    /// Changes the faults the server end injects from now on (counts such as
    /// [`Faults::write_error_after`] still count from the start of the connection).
    pub fn set_faults(&self, faults: Faults) {
        let mut p = lock(&self.pipe);
        p.faults = faults;
        p.wake_server();
    }

    /// Bytes the server has read from this connection.
    pub fn bytes_read_by_server(&self) -> u64 {
        lock(&self.pipe).read_total
    }

    /// Bytes the server has written to this connection.
    pub fn bytes_written_by_server(&self) -> u64 {
        lock(&self.pipe).written_total
    }

    /// What the server set `TCP_NODELAY` to, if it did.
    pub fn nodelay(&self) -> Option<bool> {
        lock(&self.pipe).nodelay
    }

    /// What the server set `SO_LINGER` to, if it did.
    pub fn linger(&self) -> Option<Option<Duration>> {
        lock(&self.pipe).linger
    }

    /// The client's address, as the server sees it.
    pub fn local_addr(&self) -> SocketAddr {
        self.peer
    }
}

impl Drop for MemClient {
    fn drop(&mut self) {
        let mut p = lock(&self.pipe);
        p.client_fin = true;
        p.client_dropped = true;
        p.outbound = VecDeque::new();
        p.wake_server();
    }
}
