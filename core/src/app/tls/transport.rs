//! [`TlsTransport`]: TLS over any [`Transport`], with rustls's unbuffered connection and
//! buffers of our own.
//!
//! Two layers:
//! - [`Session`]: no I/O. Records in → plaintext out ([`Session::receive`]); plaintext in
//!   → records out ([`Session::encrypt`], [`Session::close_notify`], then
//!   [`Session::output`]). The fuzz target drives it with bytes alone.
//! - [`TlsTransport`]: moves bytes between the inner transport and the session.
//!
//! Rules:
//! - the handshake happens inside reads: the driver reads first, as on any connection,
//!   and sees plaintext only once the handshake is complete; the transport's
//!   [`deadline`](Transport::deadline) is the handshake timeout until then;
//! - memory: ciphertext is read into a per-thread buffer and processed there; only an
//!   incomplete record is kept per connection (at most one record, or one handshake
//!   message while handshaking), and records not yet written; each buffer is freed once
//!   empty, so an idle connection holds none (rustls's buffered connection would keep a
//!   4 KiB read buffer for good);
//! - system calls: records rustls makes while reading (session tickets at the end of the
//!   handshake) are written with the driver's next write (the `101` response), or at its
//!   [`Transport::poll_flush`] before it sleeps; a handshake flight goes out
//!   at once; after a short read, readiness is asked for rather than reading again; the
//!   last write ([`Transport::poll_write_last`]) carries `close_notify` along;
//! - writes: plaintext is encrypted in batches (small messages share records) after the
//!   records already waiting, and all are written at once. A write whose
//!   records are not all out answers `Pending` and counts its plaintext as taken only when
//!   they are: the driver's queue keeps unwritten bytes at its head, so the next call
//!   starts with the same bytes, which are then acknowledged without encrypting them again;
//! - hostile input: a rustls error (garbage, a bad record, an alert, an oversized
//!   handshake message) sends rustls's alert if the socket takes it at once, then fails
//!   the connection; plaintext HTTP gets a plaintext `400` saying the port speaks TLS; end
//!   of stream before the handshake completes is an error; after it, end of stream without
//!   `close_notify` is an ordinary end of stream (the protocol layer has framing of its
//!   own and treats a truncated request or message as such).

use super::config::TlsConfig;
use super::sni;
use crate::app::conn::{ConnShared, TlsInfo};
use crate::app::runtime::Transport;
use rustls::server::{ServerConnectionData, UnbufferedServerConnection};
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError, WriteTraffic};
use std::cell::RefCell;
use std::io::{self, IoSlice};
use std::sync::Arc;
use std::task::{Context as TaskCx, Poll};
use std::time::{Duration, Instant};

/// Ciphertext read from the socket at a time, at least (one whole record and its header).
const MIN_READ: usize = 17 * 1024;
/// ... and at most.
const MAX_READ: usize = 256 * 1024;
/// Plaintext encrypted per write, at most.
const WRITE_BUDGET: usize = 256 * 1024;
/// Ciphertext kept between reads, at most: one handshake message (rustls accepts up to
/// 64 KiB) split over records, or one record. More is a peer that does not speak TLS.
const MAX_INCOMPLETE: usize = 64 * 1024 + 18 * 1024;
/// Room for record headers, tags and padding, per 16 KiB of plaintext (and one more).
const RECORD_OVERHEAD: usize = 64;

/// The answer to plaintext HTTP sent to a TLS port.
const PLAINTEXT_HTTP_REPLY: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 47\r\nConnection: close\r\n\r\nThis port speaks HTTPS: use https:// or wss://\n";

thread_local! {
    /// Ciphertext being processed (one per worker thread).
    static READ_SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// Plaintext gathered from several buffers to encrypt into shared records.
    static STAGE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// An emptied output buffer kept for the next connection that writes on this thread.
    static SPARE_OUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("tls: {e}"))
}

/// The TLS state of one connection, without I/O.
pub struct Session {
    conn: UnbufferedServerConnection,
    /// Records made, not yet written (`out_pos` of them are).
    outgoing: Vec<u8>,
    out_pos: usize,
    /// Decrypted plaintext that did not fit the reader's buffer (`plain_pos` of it taken).
    plain: Vec<u8>,
    plain_pos: usize,
    /// The handshake is not complete yet.
    handshaking: bool,
    /// The peer sent `close_notify` or ended the stream: no more plaintext.
    peer_closed: bool,
    close_sent: bool,
    /// A TLS error happened; the connection is unusable.
    failed: bool,
    /// The name the client asked for, until the handshake completes.
    server_name: Option<Box<str>>,
    /// Told the handshake's result (SNI), once.
    shared: Option<Arc<ConnShared>>,
}

/// What [`Session::run`] should do once rustls can send.
#[derive(Clone, Copy)]
enum Want<'a> {
    Nothing,
    Send(&'a [u8]),
    CloseNotify,
}

impl Session {
    /// A session in its handshake.
    pub fn new(config: &TlsConfig) -> Result<Session, rustls::Error> {
        Ok(Session {
            conn: UnbufferedServerConnection::new(config.rustls.clone())?,
            outgoing: Vec::new(),
            out_pos: 0,
            plain: Vec::new(),
            plain_pos: 0,
            handshaking: true,
            peer_closed: false,
            close_sent: false,
            failed: false,
            server_name: None,
            shared: None,
        })
    }

    /// Processes the records in `input`: plaintext goes to `out` (`filled` bytes of it are
    /// used; it is advanced) and what does not fit is kept for [`Session::take_plain`];
    /// handshake replies and alerts go to [`Session::output`]. Returns how many bytes of
    /// `input` are done with: the rest (an incomplete record, or records of a handshake
    /// message still incomplete) must be passed again, first, with more input after it.
    pub fn receive(
        &mut self,
        input: &mut [u8],
        out: &mut [u8],
        filled: &mut usize,
    ) -> io::Result<usize> {
        self.run(input, out, filled, Want::Nothing)
    }

    /// Plaintext kept by [`Session::receive`], into `out`; returns the bytes copied.
    pub fn take_plain(&mut self, out: &mut [u8]) -> usize {
        let left = &self.plain[self.plain_pos..];
        let n = left.len().min(out.len());
        out[..n].copy_from_slice(&left[..n]);
        self.plain_pos += n;
        if self.plain_pos == self.plain.len() {
            self.plain = Vec::new();
            self.plain_pos = 0;
        }
        n
    }

    /// Whether plaintext is waiting for [`Session::take_plain`].
    pub fn has_plain(&self) -> bool {
        self.plain_pos < self.plain.len()
    }

    /// Encrypts `data` into records (appended to [`Session::output`]). `pending` is the
    /// incomplete input kept from [`Session::receive`] (rustls may look at it); the
    /// returned count of its bytes is done with. Fails during the handshake.
    pub fn encrypt(&mut self, pending: &mut [u8], data: &[u8]) -> io::Result<usize> {
        self.run(pending, &mut [], &mut 0, Want::Send(data))
    }

    /// Queues a `close_notify` alert (once; not before the handshake is complete).
    pub fn close_notify(&mut self, pending: &mut [u8]) -> io::Result<usize> {
        if self.close_sent || self.handshaking || self.failed {
            return Ok(0);
        }
        self.close_sent = true;
        self.run(pending, &mut [], &mut 0, Want::CloseNotify)
    }

    /// Records waiting to be written.
    pub fn output(&self) -> &[u8] {
        &self.outgoing[self.out_pos..]
    }

    /// Marks `n` bytes of [`Session::output`] written.
    pub fn advance_output(&mut self, n: usize) {
        self.out_pos = (self.out_pos + n).min(self.outgoing.len());
        if self.out_pos == self.outgoing.len() {
            self.out_pos = 0;
            let mut buf = std::mem::take(&mut self.outgoing);
            buf.clear();
            // Kept for the next write on this thread rather than freed: a busy server
            // then allocates nothing per write, and an idle connection holds nothing.
            SPARE_OUT.with(|s| {
                let mut s = s.borrow_mut();
                if buf.capacity() > s.capacity() {
                    *s = buf;
                }
            });
        }
    }

    /// An output buffer to append to: ours, or the thread's spare.
    fn outgoing_buf(&mut self) -> &mut Vec<u8> {
        if self.outgoing.capacity() == 0 {
            self.outgoing = SPARE_OUT.with(|s| std::mem::take(&mut *s.borrow_mut()));
        }
        &mut self.outgoing
    }

    /// Runs rustls over `input` until it needs more input or can send (then does `want`).
    fn run(
        &mut self,
        input: &mut [u8],
        out: &mut [u8],
        filled: &mut usize,
        want: Want<'_>,
    ) -> io::Result<usize> {
        if self.failed {
            return Err(invalid("connection failed earlier"));
        }
        let mut consumed = 0;
        let result = loop {
            if self.handshaking {
                sni::clear();
            }
            if self.outgoing.capacity() == 0 {
                self.outgoing_buf();
            }
            let outgoing = &mut self.outgoing;
            let status = self.conn.process_tls_records(&mut input[consumed..]);
            let mut discard = status.discard;
            let step = match status.state {
                Err(e) => Err(invalid(e)),
                Ok(ConnectionState::ReadTraffic(mut traffic)) => {
                    let mut r = Ok(true);
                    while let Some(record) = traffic.next_record() {
                        match record {
                            Ok(rec) => {
                                discard += rec.discard;
                                let room = &mut out[*filled..];
                                let n = room.len().min(rec.payload.len());
                                room[..n].copy_from_slice(&rec.payload[..n]);
                                *filled += n;
                                self.plain.extend_from_slice(&rec.payload[n..]);
                            }
                            Err(e) => {
                                r = Err(invalid(e));
                                break;
                            }
                        }
                    }
                    r
                }
                Ok(ConnectionState::EncodeTlsData(mut enc)) => {
                    let start = outgoing.len();
                    let mut need = 4096;
                    loop {
                        outgoing.resize(start + need, 0);
                        match enc.encode(&mut outgoing[start..]) {
                            Ok(n) => {
                                outgoing.truncate(start + n);
                                break Ok(true);
                            }
                            Err(EncodeError::InsufficientSize(s)) => need = s.required_size,
                            Err(e) => {
                                outgoing.truncate(start);
                                break Err(invalid(e));
                            }
                        }
                    }
                }
                // Our output buffer is written before anything else, so it counts as sent.
                Ok(ConnectionState::TransmitTlsData(t)) => {
                    t.done();
                    Ok(true)
                }
                Ok(ConnectionState::PeerClosed) => {
                    self.peer_closed = true;
                    Ok(true)
                }
                Ok(ConnectionState::Closed) => {
                    self.peer_closed = true;
                    match want {
                        Want::Send(d) if !d.is_empty() => {
                            Err(io::Error::from(io::ErrorKind::BrokenPipe))
                        }
                        _ => Ok(false),
                    }
                }
                Ok(ConnectionState::WriteTraffic(mut traffic)) => match want {
                    Want::Nothing => Ok(false),
                    Want::Send(data) => encrypt_into(&mut traffic, data, outgoing).map(|_| false),
                    Want::CloseNotify => close_into(&mut traffic, outgoing).map(|_| false),
                },
                Ok(ConnectionState::BlockedHandshake) => match want {
                    Want::Send(d) if !d.is_empty() => {
                        Err(io::Error::from(io::ErrorKind::NotConnected))
                    }
                    _ => Ok(false),
                },
                // 0-RTT is switched off in every configuration we build (`TlsConfig`), so
                // this is a peer breaking the protocol, or a future state we do not know.
                Ok(_) => Err(invalid("unexpected TLS state")),
            };
            consumed += discard;
            if self.handshaking {
                if let Some(name) = sni::take() {
                    self.server_name = Some(name);
                }
            }
            match step {
                Ok(true) => {}
                Ok(false) => break Ok(consumed),
                Err(e) => break Err(e),
            }
        };
        if self.handshaking && !self.conn.is_handshaking() {
            self.handshaking = false;
            if let Some(shared) = self.shared.take() {
                shared.lock().tls = Some(Box::new(TlsInfo {
                    server_name: self.server_name.take(),
                }));
            }
        }
        if self.outgoing.is_empty() && self.outgoing.capacity() > 0 {
            self.advance_output(0);
        }
        if result.is_err() {
            self.fail();
        }
        result
    }

    /// Marks the session failed, after queueing the alert rustls has for the peer.
    fn fail(&mut self) {
        if self.failed {
            return;
        }
        self.failed = true;
        // After an error, rustls's next step is the alert it queued (if any).
        if let Ok(ConnectionState::EncodeTlsData(mut enc)) =
            self.conn.process_tls_records(&mut []).state
        {
            let mut alert = [0u8; 64];
            if let Ok(n) = enc.encode(&mut alert) {
                self.outgoing.extend_from_slice(&alert[..n]);
            }
        }
    }
}

/// Encrypts `data` (rustls splits it into records) at the end of `outgoing`.
fn encrypt_into(
    traffic: &mut WriteTraffic<'_, ServerConnectionData>,
    data: &[u8],
    outgoing: &mut Vec<u8>,
) -> io::Result<()> {
    let start = outgoing.len();
    let mut need = data.len() + (data.len() / (16 * 1024) + 1) * RECORD_OVERHEAD;
    loop {
        outgoing.resize(start + need, 0);
        match traffic.encrypt(data, &mut outgoing[start..]) {
            Ok(n) => {
                outgoing.truncate(start + n);
                return Ok(());
            }
            Err(EncryptError::InsufficientSize(s)) if s.required_size > need => {
                need = s.required_size
            }
            Err(e) => {
                outgoing.truncate(start);
                return Err(invalid(e));
            }
        }
    }
}

/// Encrypts a `close_notify` alert at the end of `outgoing`.
fn close_into(
    traffic: &mut WriteTraffic<'_, ServerConnectionData>,
    outgoing: &mut Vec<u8>,
) -> io::Result<()> {
    let mut alert = [0u8; 64];
    let n = traffic.queue_close_notify(&mut alert).map_err(invalid)?;
    outgoing.extend_from_slice(&alert[..n]);
    Ok(())
}

/// A TLS server connection over transport `T`.
pub struct TlsTransport<T> {
    io: T,
    tls: Box<State>,
}

/// The boxed part (the driver holds the transport inline, so it stays one pointer).
struct State {
    session: Session,
    /// Ciphertext received and not done with (an incomplete record); empty when idle.
    incoming: Vec<u8>,
    /// Plaintext at the head of the writer's buffers already encrypted into the output.
    unacked: usize,
    /// The handshake must be complete by then.
    deadline: Instant,
    /// Some ciphertext has arrived (the first bytes tell plaintext HTTP apart).
    seen_input: bool,
}

impl<T: Transport> TlsTransport<T> {
    /// Wraps `io` for a server-side handshake that must complete by `deadline`. The
    /// server name the client asked for goes to `shared` once the handshake completes.
    pub(crate) fn new(
        io: T,
        config: &TlsConfig,
        deadline: Instant,
        shared: Option<Arc<ConnShared>>,
    ) -> Result<Self, rustls::Error> {
        let mut session = Session::new(config)?;
        session.shared = shared;
        Ok(TlsTransport {
            io,
            tls: Box::new(State {
                session,
                incoming: Vec::new(),
                unacked: 0,
                deadline,
                seen_input: false,
            }),
        })
    }

    /// Wraps `io` with no handshake deadline and no connection to report to (fuzzing).
    #[doc(hidden)]
    pub fn for_fuzzing(io: T, config: &TlsConfig) -> Result<Self, rustls::Error> {
        let far = Instant::now() + Duration::from_secs(24 * 3600);
        Self::new(io, config, far, None)
    }

    /// The wrapped transport (fuzzing: the in-memory socket).
    #[doc(hidden)]
    pub fn inner_mut(&mut self) -> &mut T {
        &mut self.io
    }

    /// Writes the session's output; ready once all of it is written.
    fn flush(&mut self, cx: &mut TaskCx<'_>) -> Poll<io::Result<()>> {
        let s = &mut self.tls.session;
        while !s.output().is_empty() {
            match self.io.poll_write_vectored(cx, &[IoSlice::new(s.output())]) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => s.advance_output(n),
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Writes what the socket takes now (an alert, a refusal) before failing.
    fn last_words(&mut self, cx: &mut TaskCx<'_>, e: io::Error) -> Poll<io::Result<usize>> {
        let _ = self.flush(cx);
        Poll::Ready(Err(e))
    }

    /// Reads ciphertext once and processes it; `Ok(0)` with nothing in `buf` is "read
    /// again" (a handshake flight, an incomplete record), unless the peer has closed. The
    /// flag is true when the read returned less than it asked for (the socket is then
    /// probably empty).
    fn read_records(
        &mut self,
        cx: &mut TaskCx<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, bool)>> {
        let st = &mut *self.tls;
        let io = &mut self.io;
        READ_SCRATCH.with(|cell| {
            let mut scratch = cell.borrow_mut();
            let tail = st.incoming.len();
            let want = buf.len().clamp(MIN_READ, MAX_READ);
            if scratch.len() < tail + want {
                scratch.resize(tail + want, 0);
            }
            scratch[..tail].copy_from_slice(&st.incoming);
            let n = match io.poll_read(cx, &mut scratch[tail..tail + want]) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(0)) => {
                    if st.session.handshaking {
                        return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
                    }
                    st.session.peer_closed = true;
                    st.incoming = Vec::new();
                    return Poll::Ready(Ok((0, true)));
                }
                Poll::Ready(Ok(n)) => n,
            };
            if !st.seen_input {
                st.seen_input = true;
                if scratch[0].is_ascii_uppercase() {
                    st.session.failed = true;
                    st.session.outgoing = PLAINTEXT_HTTP_REPLY.to_vec();
                    return Poll::Ready(Err(invalid("plaintext HTTP on a TLS port")));
                }
            }
            let total = tail + n;
            let mut filled = 0;
            let consumed = st
                .session
                .receive(&mut scratch[..total], buf, &mut filled)?;
            let rest = &scratch[consumed.min(total)..total];
            if rest.len() > MAX_INCOMPLETE {
                st.session.failed = true;
                return Poll::Ready(Err(invalid("record or handshake message too large")));
            }
            if rest.is_empty() {
                st.incoming = Vec::new();
            } else {
                st.incoming.clear();
                st.incoming.extend_from_slice(rest);
            }
            Poll::Ready(Ok((filled, n < want)))
        })
    }
}

impl<T: Transport> TlsTransport<T> {
    /// Encrypts what `bufs` hold (up to [`WRITE_BUDGET`]) after the records already
    /// waiting (handshake tickets, a key update answer: one write carries them all), then
    /// `close_notify` too if `last` and all of `bufs` fit, and writes. Acknowledges the
    /// plaintext only once its records are all written (see the module docs).
    fn write_records(
        &mut self,
        cx: &mut TaskCx<'_>,
        bufs: &[IoSlice<'_>],
        last: bool,
    ) -> Poll<io::Result<usize>> {
        if self.tls.session.failed {
            return Poll::Ready(Err(invalid("connection failed")));
        }
        if self.tls.session.handshaking {
            // Only a timeout answer (408) can be written before any request; there is no
            // one to read it yet.
            return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
        }
        if self.tls.unacked > 0 {
            // The head of `bufs` is already encrypted: finish writing it.
            return match self.flush(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => Poll::Ready(Ok(std::mem::take(&mut self.tls.unacked))),
            };
        }
        let all = bufs.iter().map(|b| b.len()).sum::<usize>();
        let total = all.min(WRITE_BUDGET);
        if total == 0 {
            return self.flush(cx).map_ok(|()| 0);
        }
        let st = &mut *self.tls;
        let encrypted = match bufs.iter().find(|b| !b.is_empty()) {
            // One buffer holds it all: no staging copy.
            Some(first) if first.len() >= total => {
                st.session.encrypt(&mut st.incoming, &first[..total])
            }
            _ => STAGE.with(|stage| {
                let mut stage = stage.borrow_mut();
                stage.clear();
                for b in bufs {
                    let take = b.len().min(total - stage.len());
                    stage.extend_from_slice(&b[..take]);
                }
                st.session.encrypt(&mut st.incoming, &stage)
            }),
        };
        match encrypted {
            Ok(consumed) => {
                if consumed > 0 {
                    st.incoming.drain(..consumed.min(st.incoming.len()));
                }
            }
            Err(e) => return Poll::Ready(Err(e)),
        }
        if last && total == all {
            // The connection's last bytes: its close_notify goes in the same write
            // rather than in one of its own at shutdown.
            if let Ok(consumed) = st.session.close_notify(&mut st.incoming) {
                st.incoming.drain(..consumed.min(st.incoming.len()));
            }
        }
        match self.flush(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(total)),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                self.tls.unacked = total;
                Poll::Pending
            }
        }
    }
}

impl<T: Transport> Transport for TlsTransport<T> {
    fn poll_read(&mut self, cx: &mut TaskCx<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        if self.tls.session.has_plain() {
            return Poll::Ready(Ok(self.tls.session.take_plain(buf)));
        }
        loop {
            if self.tls.session.failed {
                return Poll::Ready(Err(invalid("connection failed")));
            }
            if self.tls.session.peer_closed {
                return Poll::Ready(Ok(0));
            }
            // Handshake records the socket did not take at once: out before anything else
            // (no write of the driver's can carry them; it has nothing to send yet).
            if self.tls.session.handshaking {
                if let Poll::Ready(Err(e)) = self.flush(cx) {
                    return Poll::Ready(Err(e));
                }
            }
            match self.read_records(cx, buf) {
                // Records made along with plaintext (session tickets at the end of the
                // handshake) are not written here: they ride with the driver's next write
                // (the 101 response), or go out at its `poll_flush` before it sleeps.
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return self.last_words(cx, e),
                Poll::Ready(Ok((0, short))) => {
                    // Handshake replies go out now: the peer answers only after them.
                    if let Poll::Ready(Err(e)) = self.flush(cx) {
                        return Poll::Ready(Err(e));
                    }
                    // After a short read the socket is probably empty: ask whether more
                    // came instead of reading (a read would only say "not yet", a system
                    // call on runtimes without readiness tracking of their own).
                    if short {
                        match self.io.poll_read_ready(cx) {
                            Poll::Pending => return Poll::Pending,
                            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                            Poll::Ready(Ok(())) => {}
                        }
                    }
                }
                Poll::Ready(Ok((n, _))) => return Poll::Ready(Ok(n)),
            }
        }
    }

    fn poll_write_vectored(
        &mut self,
        cx: &mut TaskCx<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.write_records(cx, bufs, false)
    }

    fn poll_write_last(
        &mut self,
        cx: &mut TaskCx<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.write_records(cx, bufs, true)
    }

    fn poll_flush(&mut self, cx: &mut TaskCx<'_>) -> Poll<io::Result<()>> {
        self.flush(cx)
    }

    fn poll_shutdown(&mut self, cx: &mut TaskCx<'_>) -> Poll<io::Result<()>> {
        // The writer's queue is gone: nothing more will be acknowledged.
        self.tls.unacked = 0;
        let st = &mut *self.tls;
        if let Ok(consumed) = st.session.close_notify(&mut st.incoming) {
            st.incoming.drain(..consumed.min(st.incoming.len()));
            if self.flush(cx).is_pending() {
                return Poll::Pending;
            }
        }
        self.io.poll_shutdown(cx)
    }

    fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.io.set_nodelay(on)
    }

    fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        self.io.set_linger(linger)
    }

    fn poll_read_ready(&mut self, cx: &mut TaskCx<'_>) -> Poll<io::Result<()>> {
        let s = &self.tls.session;
        if s.has_plain() || s.peer_closed || s.failed {
            return Poll::Ready(Ok(()));
        }
        self.io.poll_read_ready(cx)
    }

    fn deadline(&self) -> Option<Instant> {
        self.tls.session.handshaking.then_some(self.tls.deadline)
    }
}
