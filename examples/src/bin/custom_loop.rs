//! The echo/hello server of `echo`, with no async runtime: one thread drives
//! [`wirelane_core::proto`] from a plain non-blocking readiness loop (`mio`). This file is
//! the reference for embedding the protocol core in an event loop of your own.
//!
//! `GET /` answers `Hello, World!`, other paths 404; a WebSocket on `/` or `/ws` echoes
//! every message (text as text, binary as binary, up to 64 MiB).
//!
//! ```text
//! custom_loop [--addr 127.0.0.1:9001]
//! ```
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
use wirelane_core::proto::ws::{validate_request, WsConfig, WsConnection, WsEvent};
use wirelane_core::proto::{HttpLimits, OutQueue, WsLimits};

const LISTENER: Token = Token(0);
/// Stop reading from a peer while this much output waits for it.
const HIGH_WATER: usize = 1 << 20;
/// After our side is done: how long we read and drop what the peer still sends, so that
/// closing with unread input (which sends a TCP reset) cannot destroy our last bytes.
const LINGER: Duration = Duration::from_secs(2);

/// What speaks on a connection.
// One per connection, switching variant once (at the upgrade): boxing would only add an
// allocation.
#[allow(clippy::large_enum_variant)]
enum Proto {
    Http(ServerConnection),
    Ws(WsConnection),
    /// Everything is written and our side is shut down; input is dropped until EOF.
    Lingering(Instant),
}

struct Conn {
    sock: TcpStream,
    proto: Proto,
    /// The socket may have input (edge-triggered: set by an event, cleared by `WouldBlock`).
    readable: bool,
    eof: bool,
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

    fn deadline(&self) -> Option<Instant> {
        match &self.proto {
            Proto::Http(c) => c.poll_timeout(),
            Proto::Ws(c) => c.poll_timeout(),
            Proto::Lingering(until) => Some(*until),
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
            match self.flush() {
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
                return true;
            }
        }
    }

    /// Polls the core's events until `None`, answering each one.
    fn process_events(&mut self, now: Instant) {
        if let Proto::Http(c) = &mut self.proto {
            c.set_date(http_date());
            if let Some(ws) = http_events(c, now) {
                self.proto = Proto::Ws(ws);
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

    /// Writes as much of the output as the socket takes, with vectored writes.
    fn flush(&mut self) -> io::Result<bool> {
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
fn http_events(c: &mut ServerConnection, now: Instant) -> Option<WsConnection> {
    while let Some(ev) = c.poll_event() {
        match ev {
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
                    let rest = c
                        .accept_upgrade(handshake.response(None, Vec::new()))
                        .expect("an Upgrade event allows accept_upgrade");
                    let mut ws = WsConnection::new(ws_config(), now);
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
    }
}

/// The `date` header value (the core never reads the clock itself).
fn http_date() -> HttpDate {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    HttpDate::from_unix_secs(secs)
}

fn parse_args() -> SocketAddr {
    let usage = || -> ! {
        eprintln!("usage: custom_loop [--addr HOST:PORT]");
        std::process::exit(2)
    };
    let mut addr = "127.0.0.1:9001".parse().expect("valid default");
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--addr" => {
                let value = args.next().unwrap_or_else(|| usage());
                addr = value.parse().unwrap_or_else(|_| usage());
            }
            _ => usage(),
        }
    }
    addr
}

fn main() -> io::Result<()> {
    let mut listener = TcpListener::bind(parse_args())?;
    println!("listening on {}", listener.local_addr()?);
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut events = Events::with_capacity(1024);
    let mut conns: HashMap<Token, Conn> = HashMap::new();
    let mut next_token = 1;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // Sleep until a socket is ready or the earliest protocol deadline.
        let deadline = conns.values().filter_map(Conn::deadline).min();
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
            if event.token() == LISTENER {
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
                                let proto = Proto::Http(http);
                                let conn = Conn {
                                    sock,
                                    proto,
                                    readable: true,
                                    eof: false,
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
        // Deadlines that passed: tell the core, then let it act (a 408, a ping, a close).
        for (token, conn) in conns.iter_mut() {
            if conn.deadline().is_some_and(|d| d <= now)
                && !(conn.handle_timeout(now) && conn.drive(now, &mut buf))
            {
                finished.push(*token);
            }
        }
        for token in finished {
            if let Some(mut conn) = conns.remove(&token) {
                let _ = poll.registry().deregister(&mut conn.sock);
            }
        }
    }
}
