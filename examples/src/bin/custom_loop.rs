//! The echo/hello server of `echo`, with no async runtime: one thread drives
//! [`wirelane_core::proto`] from a plain non-blocking readiness loop (`mio`). This file is
//! the reference for embedding the protocol core in an event loop of your own.
//!
//! `GET /` answers `Hello, World!`, other paths 404; a WebSocket on `/` or `/ws` echoes
//! every message (text as text, binary as binary, up to 64 MiB).
//!
//! ```text
//! custom_loop [--addr 127.0.0.1:9001] [--write-timeout-ms 30000] [--shutdown-timeout-ms 10000]
//!             [--deflate off|default|takeover|none]
//! ```
//!
//! permessage-deflate (`--deflate`) is the core's too: the loop answers the offer with
//! `DeflateParams::negotiate` and `response_header`, turns it on with `enable_deflate`, and
//! calls `release_idle_buffers` whenever a connection has nothing more to do, which drops
//! the zlib states of a quiet connection.
//!
//! The contract with the core, per connection (see the `wirelane_core::proto` docs):
//! - bytes read → `handle_input(bytes, now)`, EOF → `handle_eof`; then `poll_event` until
//!   `None`, reacting to each event with commands (`send_response`, `send`, ...);
//! - whenever `output()` is not empty, write it (vectored) and `advance` by what was written;
//! - read only while the core wants input (`wants_read`, and our own high-water mark on
//!   the output queue): that is the backpressure;
//! - the poll's timeout is the earliest `poll_timeout()`; when it passes, `handle_timeout`;
//! - `should_close()` / `is_closed()` with the output written → shut the socket down.
//!
//! What the core leaves to the loop, and how this one does it:
//! - **Write deadline.** The core has no notion of the socket, so a peer that stops reading
//!   is the loop's to notice: while output is pending, each write that makes progress gives
//!   the connection `--write-timeout-ms` more; when that passes with nothing written, the
//!   socket is closed (a slow reader keeps its connection, a stalled one does not).
//! - **Graceful shutdown** on SIGTERM or SIGINT. A signal handler may do almost nothing, so
//!   `signal-hook` writes a byte to a socket pair whose other end is registered with mio:
//!   the signal arrives as one more readiness event. Then the listener is closed (new
//!   connections are refused), WebSockets get a close frame with 1001 (going away) and
//!   finish their close handshake, idle keep-alive connections are closed, and a request
//!   in progress (even one whose head is still arriving) is answered with
//!   `connection: close`, its connection closed after the response; upgrades are refused
//!   with 503. The process exits with status 0 once every connection has ended, or when
//!   `--shutdown-timeout-ms` has passed (or at a second signal), dropping what is left.
//!
//! Readiness is edge-triggered (mio), so each connection remembers whether its socket may
//! still hold input (`readable`) until a read says `WouldBlock`. Timers are found by a scan
//! of all connections per loop turn: simple, and fine for an example (a server with many
//! thousands of connections would keep a timer heap or wheel instead).

#![forbid(unsafe_code)]

use bytes::Bytes;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use std::collections::HashMap;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use wirelane_core::proto::http::{BodyLength, HttpDate, HttpEvent, ResponseHead, ServerConnection};
use wirelane_core::proto::ws::{
    validate_request, CloseCode, DeflateConfig, DeflateParams, WsConfig, WsConnection, WsEvent,
    WsState,
};
use wirelane_core::proto::{HttpLimits, OutQueue, WsLimits};

const LISTENER: Token = Token(0);
/// The read end of the socket pair the signal handlers write to.
const SIGNAL: Token = Token(1);
/// The first connection's token.
const FIRST_CONN: usize = 2;
/// Stop reading from a peer while this much output waits for it.
const HIGH_WATER: usize = 1 << 20;
/// After our side is done: how long we read and drop what the peer still sends, so that
/// closing with unread input (which sends a TCP reset) cannot destroy our last bytes.
const LINGER: Duration = Duration::from_secs(2);

/// What speaks on a connection.
// One per connection, switching variant once (at the upgrade). Boxed: the connection
// table holds `Conn`s inline, so an unboxed HTTP connection would make every slot (and
// every idle WebSocket's slot) as large as the HTTP state.
enum Proto {
    Http(Box<ServerConnection>),
    Ws(Box<WsConnection>),
    /// Everything is written and our side is shut down; input is dropped until EOF.
    Lingering(Instant),
}

struct Conn {
    sock: TcpStream,
    proto: Proto,
    /// The socket may have input (edge-triggered: set by an event, cleared by `WouldBlock`).
    readable: bool,
    eof: bool,
    /// See the module docs (write deadline).
    write_timeout: Duration,
    /// While output is pending: when the connection is dropped if no write makes progress.
    write_deadline: Option<Instant>,
    /// The server is shutting down: no keep-alive, no new WebSocket.
    draining: bool,
    /// How permessage-deflate offers are answered (`None`: declined).
    deflate: Option<DeflateConfig>,
}

impl Conn {
    fn output(&mut self) -> Option<&mut OutQueue> {
        match &mut self.proto {
            Proto::Http(c) => Some(c.output()),
            Proto::Ws(c) => Some(c.output()),
            Proto::Lingering(_) => None,
        }
    }

    fn wants_read(&mut self) -> bool {
        !self.eof
            && match &mut self.proto {
                Proto::Http(c) => c.wants_read() && c.output_len() < HIGH_WATER,
                Proto::Ws(c) => !c.is_closed() && c.output().len() < HIGH_WATER,
                Proto::Lingering(_) => true,
            }
    }

    /// The protocol's (or the linger's) next deadline.
    fn proto_deadline(&self) -> Option<Instant> {
        match &self.proto {
            Proto::Http(c) => c.poll_timeout(),
            Proto::Ws(c) => c.poll_timeout(),
            Proto::Lingering(until) => Some(*until),
        }
    }

    /// The earliest time this connection needs attention without socket readiness.
    fn deadline(&self) -> Option<Instant> {
        match (self.proto_deadline(), self.write_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Starts (or continues) the graceful shutdown of this connection; see the module docs.
    /// Called on every loop turn while the server drains: a keep-alive connection becomes
    /// idle only after its current response.
    fn drain(&mut self, now: Instant) {
        self.draining = true;
        match &mut self.proto {
            // Between requests, nothing buffered: closes now (the other cases get
            // `connection: close` when their request head is complete, in `http_events`).
            Proto::Http(c) if c.is_idle() => c.close_after_response(),
            Proto::Ws(c) if c.state() == WsState::Open => {
                // Fails only if our close frame is already queued.
                let _ = c.close(CloseCode::GOING_AWAY, "server shutting down", now);
            }
            _ => {}
        }
    }

    /// Moves bytes both ways until nothing more can be done without waiting. Returns false
    /// when the connection is finished and must be dropped.
    fn drive(&mut self, now: Instant, buf: &mut [u8]) -> bool {
        loop {
            let mut progress = false;
            if self.readable && self.wants_read() {
                match self.sock.read(buf) {
                    Ok(0) => {
                        self.eof = true;
                        match &mut self.proto {
                            Proto::Http(c) => c.handle_eof(),
                            Proto::Ws(c) => c.handle_eof(now),
                            Proto::Lingering(_) => return false,
                        }
                        progress = true;
                    }
                    Ok(n) => {
                        match &mut self.proto {
                            Proto::Http(c) => c.handle_input(&buf[..n], now),
                            Proto::Ws(c) => c.handle_input(&buf[..n], now),
                            Proto::Lingering(_) => {}
                        }
                        progress = true;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.readable = false,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => progress = true,
                    Err(_) => return false,
                }
            }
            self.process_events(now);
            match self.flush(now) {
                Ok(wrote) => progress |= wrote,
                Err(_) => return false,
            }
            let done = match &self.proto {
                Proto::Http(c) => c.should_close(),
                Proto::Ws(c) => c.is_closed(),
                Proto::Lingering(_) => false,
            };
            if done && self.output().is_none_or(|o| o.is_empty()) {
                // Our side is complete: send FIN, then drop input until the peer's EOF.
                let _ = self.sock.shutdown(Shutdown::Write);
                self.proto = Proto::Lingering(now + LINGER);
                progress = true;
            }
            if !progress {
                // Nothing to do until the next readiness event: give back what an idle
                // connection does not need (buffers, zlib states).
                if let Proto::Ws(c) = &mut self.proto {
                    c.release_idle_buffers();
                }
                return true;
            }
        }
    }

    /// Polls the core's events until `None`, answering each one.
    fn process_events(&mut self, now: Instant) {
        if let Proto::Http(c) = &mut self.proto {
            c.set_date(http_date());
            if let Some(ws) = http_events(c, now, self.draining, self.deflate.as_ref()) {
                self.proto = Proto::Ws(Box::new(ws));
            }
        }
        if let Proto::Ws(c) = &mut self.proto {
            while let Some(ev) = c.poll_event() {
                // Pings are answered and closes completed by the core; we only echo.
                if let WsEvent::Message(msg) = ev {
                    let (kind, payload) = msg.into_payload();
                    // An error only means we are closing: the message is dropped.
                    let _ = c.send(kind, payload);
                }
            }
        }
    }

    /// Writes as much of the output as the socket takes, with vectored writes, and moves
    /// the write deadline.
    fn flush(&mut self, now: Instant) -> io::Result<bool> {
        let Some(out) = (match &mut self.proto {
            Proto::Http(c) => Some(c.output()),
            Proto::Ws(c) => Some(c.output()),
            Proto::Lingering(_) => None,
        }) else {
            return Ok(false);
        };
        let mut wrote = false;
        while !out.is_empty() {
            let mut slices = [IoSlice::new(&[]); 64];
            let n = out.io_slices(&mut slices);
            match self.sock.write_vectored(&slices[..n]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => {
                    out.advance(written);
                    wrote = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.write_deadline = match self.write_deadline {
            _ if out.is_empty() => None,
            Some(d) if !wrote => Some(d),
            _ => Some(now + self.write_timeout),
        };
        Ok(wrote)
    }

    fn handle_timeout(&mut self, now: Instant) -> bool {
        match &mut self.proto {
            Proto::Http(c) => c.handle_timeout(now),
            Proto::Ws(c) => c.handle_timeout(now),
            Proto::Lingering(_) => return false,
        }
        true
    }
}

/// Answers the HTTP events; returns the WebSocket connection when a request upgraded.
/// `draining`: the server is shutting down (see the module docs).
fn http_events(
    c: &mut ServerConnection,
    now: Instant,
    draining: bool,
    deflate: Option<&DeflateConfig>,
) -> Option<WsConnection> {
    while let Some(ev) = c.poll_event() {
        if draining && matches!(ev, HttpEvent::Head(_) | HttpEvent::Upgrade(_)) {
            // Answer this request, then close: the response says `connection: close`.
            c.close_after_response();
        }
        match ev {
            HttpEvent::Upgrade(_) if draining => {
                let head = ResponseHead::new(503).header("content-type", "text/plain");
                respond(c, head, "Shutting down\n".into());
            }
            // Answered at once; a request body we do not read is discarded by the core.
            HttpEvent::Head(req) if req.path() == "/" => {
                let head = ResponseHead::new(200).header("content-type", "text/plain");
                respond(c, head, "Hello, World!".into());
            }
            HttpEvent::Head(_) => respond(c, not_found(), "Not Found\n".into()),
            HttpEvent::Upgrade(req) if !matches!(req.path(), "/" | "/ws") => {
                respond(c, not_found(), "Not Found\n".into());
            }
            HttpEvent::Upgrade(req) => match validate_request(&req) {
                Err(e) => {
                    let (head, body) = e.response();
                    respond(c, head, body);
                }
                Ok(handshake) => {
                    // Queue the 101; what followed the request head belongs to the
                    // WebSocket. The 101 is still in the HTTP output queue: move it to the
                    // front of the WebSocket's, so it is written first.
                    // permessage-deflate: the first acceptable offer, answered in the 101.
                    let params = deflate
                        .and_then(|cfg| DeflateParams::negotiate(handshake.extensions(), cfg));
                    let extensions = params
                        .iter()
                        .map(|p| {
                            (
                                "Sec-WebSocket-Extensions".into(),
                                p.response_header().into(),
                            )
                        })
                        .collect();
                    let rest = c
                        .accept_upgrade(handshake.response(None, extensions))
                        .expect("an Upgrade event allows accept_upgrade");
                    let mut ws = WsConnection::new(ws_config(), now);
                    if let Some(p) = params {
                        ws.enable_deflate(p);
                    }
                    ws.output().extend_from_slice(&c.output().take_all());
                    ws.handle_input(&rest, now);
                    return Some(ws);
                }
            },
            // Bodies are not read; PeerClosed/Error: the core already queued what to send
            // and `should_close` is now true.
            _ => {}
        }
    }
    None
}

fn not_found() -> ResponseHead {
    ResponseHead::new(404).header("content-type", "text/plain; charset=utf-8")
}

fn respond(c: &mut ServerConnection, head: ResponseHead, body: String) {
    let body = Bytes::from(body);
    let sent = c
        .send_response(head, BodyLength::Known(body.len() as u64))
        .and_then(|()| c.send_body(body))
        .and_then(|()| c.finish_response());
    if let Err(e) = sent {
        eprintln!("custom_loop: response not sent: {e}");
    }
}

fn ws_config() -> WsConfig {
    WsConfig {
        limits: WsLimits::default()
            .max_frame_size(64 << 20)
            .max_message_size(64 << 20),
        stream_fragments: false,
        // Answering offers is done above, with the loop's own setting.
        deflate: None,
    }
}

/// The `date` header value (the core never reads the clock itself).
fn http_date() -> HttpDate {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    HttpDate::from_unix_secs(secs)
}

/// The command line.
struct Args {
    addr: SocketAddr,
    write_timeout: Duration,
    shutdown_timeout: Duration,
    deflate: Option<DeflateConfig>,
}

const USAGE: &str = "usage: custom_loop [--addr HOST:PORT] [--write-timeout-ms MS] \
                     [--shutdown-timeout-ms MS] [--deflate off|default|takeover|none]

  --addr HOST:PORT           where to listen (default 127.0.0.1:9001; port 0: any free one,
                             printed as `listening on ADDR`)
  --write-timeout-ms MS      close a connection whose pending output made no progress for
                             this long (default 30000)
  --shutdown-timeout-ms MS   on SIGTERM/SIGINT, wait at most this long for connections to
                             end before exiting (default 10000)
  --deflate MODE             permessage-deflate: off (default), default (context takeover,
                             9-bit windows), takeover (15-bit windows), none (no context
                             takeover)";

fn parse_args() -> Args {
    let usage = || -> ! {
        eprintln!("{USAGE}");
        std::process::exit(2)
    };
    let mut parsed = Args {
        addr: "127.0.0.1:9001".parse().expect("valid default"),
        write_timeout: Duration::from_secs(30),
        shutdown_timeout: Duration::from_secs(10),
        deflate: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        let mut millis = || Duration::from_millis(value().parse().unwrap_or_else(|_| usage()));
        match flag.as_str() {
            "--addr" => parsed.addr = value().parse().unwrap_or_else(|_| usage()),
            "--write-timeout-ms" => parsed.write_timeout = millis(),
            "--shutdown-timeout-ms" => parsed.shutdown_timeout = millis(),
            "--deflate" => {
                parsed.deflate = match value().as_str() {
                    "off" => None,
                    "default" => Some(DeflateConfig::default()),
                    "takeover" => Some(DeflateConfig::context_takeover()),
                    "none" => Some(DeflateConfig::no_context_takeover()),
                    _ => usage(),
                }
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0)
            }
            _ => usage(),
        }
    }
    parsed
}

/// Makes SIGTERM and SIGINT readable on the returned socket (one byte per signal).
fn signal_socket() -> io::Result<mio::net::UnixStream> {
    let (read, write) = std::os::unix::net::UnixStream::pair()?;
    read.set_nonblocking(true)?;
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        // The handler writes without blocking and ignores a full buffer: a byte is
        // already waiting then, which is all we need to know.
        signal_hook::low_level::pipe::register(signal, write.try_clone()?)?;
    }
    Ok(mio::net::UnixStream::from_std(read))
}

fn main() -> io::Result<()> {
    let args = parse_args();
    let mut listener = Some(TcpListener::bind(args.addr)?);
    if let Some(l) = &listener {
        println!("listening on {}", l.local_addr()?);
    }
    let mut poll = Poll::new()?;
    if let Some(l) = &mut listener {
        poll.registry().register(l, LISTENER, Interest::READABLE)?;
    }
    let mut signals = signal_socket()?;
    poll.registry()
        .register(&mut signals, SIGNAL, Interest::READABLE)?;
    // Set at the first signal: when the shutdown gives up waiting.
    let mut shutdown_deadline: Option<Instant> = None;
    let mut events = Events::with_capacity(1024);
    let mut conns: HashMap<Token, Conn> = HashMap::new();
    let mut next_token = FIRST_CONN;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // Sleep until a socket is ready or the earliest deadline.
        let deadline = conns
            .values()
            .filter_map(Conn::deadline)
            .chain(shutdown_deadline)
            .min();
        let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if let Err(e) = poll.poll(&mut events, timeout) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        let now = Instant::now();
        let mut finished = Vec::new();
        for event in events.iter() {
            if event.token() == SIGNAL {
                // Edge-triggered: empty the socket so the next signal is an event again.
                while matches!(signals.read(&mut buf), Ok(n) if n > 0) {}
                if shutdown_deadline.is_some() {
                    eprintln!("custom_loop: second signal, exiting now");
                    return Ok(());
                }
                eprintln!("custom_loop: shutting down");
                shutdown_deadline = Some(now + args.shutdown_timeout);
                if let Some(mut l) = listener.take() {
                    // Closing the listener makes new connections fail at once.
                    let _ = poll.registry().deregister(&mut l);
                }
                continue;
            }
            if event.token() == LISTENER {
                let Some(listener) = &listener else {
                    continue;
                };
                // Edge-triggered: accept until WouldBlock.
                loop {
                    match listener.accept() {
                        Ok((mut sock, _peer)) => {
                            let token = Token(next_token);
                            next_token += 1;
                            let _ = sock.set_nodelay(true);
                            let interest = Interest::READABLE | Interest::WRITABLE;
                            if poll.registry().register(&mut sock, token, interest).is_ok() {
                                let http = ServerConnection::new(HttpLimits::default(), now);
                                let proto = Proto::Http(Box::new(http));
                                let conn = Conn {
                                    sock,
                                    proto,
                                    readable: true,
                                    eof: false,
                                    write_timeout: args.write_timeout,
                                    write_deadline: None,
                                    draining: false,
                                    deflate: args.deflate,
                                };
                                conns.insert(token, conn);
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        // EMFILE, ECONNABORTED, ...: never stop the server for it.
                        Err(e) => {
                            eprintln!("custom_loop: accept: {e}");
                            break;
                        }
                    }
                }
                continue;
            }
            if let Some(conn) = conns.get_mut(&event.token()) {
                conn.readable |= event.is_readable() || event.is_read_closed() || event.is_error();
                if !conn.drive(now, &mut buf) {
                    finished.push(event.token());
                }
            }
        }
        for token in finished.drain(..) {
            if let Some(mut conn) = conns.remove(&token) {
                let _ = poll.registry().deregister(&mut conn.sock);
            }
        }
        for (token, conn) in conns.iter_mut() {
            // A peer that stopped reading: nothing more can be delivered, drop it.
            if conn.write_deadline.is_some_and(|d| d <= now) {
                finished.push(*token);
                continue;
            }
            // Deadlines that passed: tell the core, then let it act (a 408, a ping, a close).
            let timed_out = conn.proto_deadline().is_some_and(|d| d <= now);
            if timed_out && !(conn.handle_timeout(now) && conn.drive(now, &mut buf)) {
                finished.push(*token);
                continue;
            }
            if shutdown_deadline.is_some() {
                conn.drain(now);
                if !conn.drive(now, &mut buf) {
                    finished.push(*token);
                }
            }
        }
        for token in finished {
            if let Some(mut conn) = conns.remove(&token) {
                let _ = poll.registry().deregister(&mut conn.sock);
            }
        }
        if let Some(deadline) = shutdown_deadline {
            if conns.is_empty() || now >= deadline {
                eprintln!("custom_loop: shut down ({} connections left)", conns.len());
                return Ok(());
            }
        }
    }
}
