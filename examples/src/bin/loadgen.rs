//! WebSocket echo load generator (loopback benchmarks; see `examples/peers/compare.sh`).
//!
//! ```text
//! loadgen [--addr 127.0.0.1:9001] [--path /ws] [--conns 64] [--window 16] [--size 32]
//!         [--duration 5] [--threads 1] [--text] [--deflate] [--json] [--tls --tls-ca FILE]
//! loadgen --idle N [--server-pid PID] [--hold 1] [--deflate] [--json] [--tls --tls-ca FILE]
//! loadgen --handshakes [--threads 1] [--duration 5] [--json] [--tls --tls-ca FILE]
//! loadgen --rate R [--conns 64] [--active N] ...                     (see loadgen/paced.rs)
//! loadgen --push ws|sse|long-poll|short-poll [--clients 1000] ...   (see loadgen/push.rs)
//! ```
//!
//! `--tls`: every connection is TLS (rustls, ring, trusting only `--tls-ca`, server name
//! `localhost`). Handshake mode: each thread repeats, for `--duration` seconds, a new
//! connection (a full TLS 1.3 handshake with `--tls`), the upgrade, one 32 B echo, and the
//! close; prints the count per second.
//!
//! Load mode: `--conns` WebSocket connections, each keeping `--window` messages of
//! `--size` bytes in flight; every echoed payload is compared with what was sent, and the
//! run lasts `--duration` seconds. Prints msgs/s, MB/s (payload, one direction), latency
//! p50/p99/p999 and the error count (the exit status is 1 when there were errors).
//!
//! Idle mode: opens N WebSocket connections, holds them, and reports the server's RSS
//! growth per connection (VmRSS of `--server-pid` before and after), once right after the
//! handshakes and once after one echoed message on every connection. With `--deflate`
//! every connection offers permessage-deflate exactly as Chromium does
//! (`permessage-deflate; client_max_window_bits`), requires it in the answer, and its one
//! message goes out compressed (RSV1).
//!
//! A hand-written client so that it is not the bottleneck: the masked frames are encoded
//! once up front (with the core's client-side encoder), replies are verified as they
//! stream in (no reassembly copies), each connection's refills go out in one write per
//! read, reads go into one large buffer per thread, and each thread runs one
//! level-triggered epoll loop.

#[path = "../loadgen_tls.rs"]
mod loadgen_tls;

use loadgen_tls::{Sock, TlsClient};
use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};
use wirelane_core::proto::ws::client::upgrade_request;
use wirelane_core::proto::ws::deflate::{Compressor, InflateError, Inflater};
use wirelane_core::proto::ws::frame::MAX_HEADER_LEN;
use wirelane_core::proto::ws::{accept_key, encode_client_frame, encode_client_frame_rsv, Opcode};

#[path = "loadgen/paced.rs"]
mod paced;
#[path = "loadgen/push.rs"]
mod push;

/// Distinct payloads cycled through (each with its own mask key).
const PATTERNS: usize = 64;
const READ_BUF: usize = 256 * 1024;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Every connection's `Sec-WebSocket-Key` (RFC 6455's example): a benchmark against a
/// server we trust needs no fresh nonce.
const HANDSHAKE_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

#[derive(Clone)]
struct Args {
    addr: SocketAddr,
    path: String,
    conns: usize,
    window: usize,
    size: usize,
    duration: f64,
    threads: usize,
    text: bool,
    json: bool,
    idle: Option<usize>,
    server_pid: Option<u32>,
    hold: f64,
    tls: Option<TlsClient>,
    handshakes: bool,
    deflate: bool,
}

/// The offer Chromium sends.
const CHROMIUM_OFFER: &str = "permessage-deflate; client_max_window_bits";

fn usage(code: i32) -> ! {
    eprintln!(
        "usage: loadgen [--addr HOST:PORT] [--path /ws] [--conns C] [--window W] [--size S]\n\
         \x20              [--duration SECS] [--threads N] [--text] [--deflate] [--json]\n\
         \x20      loadgen --idle N [--server-pid PID] [--hold SECS] [--deflate] [--json]\n\
         \x20      loadgen --handshakes [--threads N] [--duration SECS] [--json]\n\
         \x20      loadgen --rate R [--conns C] [--active N] ...   (latency at a fixed load)\n\
         \x20      loadgen --push ws|sse|long-poll|short-poll [--clients N] ...   (pushed stream)\n\
         \x20      (load, idle and handshake modes) --tls --tls-ca FILE"
    );
    std::process::exit(code)
}

fn parse_args() -> Args {
    let mut a = Args {
        addr: "127.0.0.1:9001".parse().expect("valid default"),
        path: "/ws".into(),
        conns: 64,
        window: 16,
        size: 32,
        duration: 5.0,
        threads: 1,
        text: false,
        json: false,
        idle: None,
        server_pid: None,
        hold: 1.0,
        tls: None,
        handshakes: false,
        deflate: false,
    };
    let mut tls = false;
    let mut ca: Option<String> = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut v = || it.next().unwrap_or_else(|| usage(2));
        fn num<T: std::str::FromStr>(s: String) -> T {
            s.parse().unwrap_or_else(|_| usage(2))
        }
        match flag.as_str() {
            "--addr" => a.addr = num(v()),
            "--path" => a.path = v(),
            "--conns" | "-c" => a.conns = num(v()),
            "--window" | "-w" => a.window = num(v()),
            "--size" | "-s" => a.size = num(v()),
            "--duration" | "-d" => a.duration = num(v()),
            "--threads" | "-t" => a.threads = num(v()),
            "--idle" => a.idle = Some(num(v())),
            "--server-pid" => a.server_pid = Some(num(v())),
            "--hold" => a.hold = num(v()),
            "--text" => a.text = true,
            "--json" => a.json = true,
            "--tls" => tls = true,
            "--tls-ca" => ca = Some(v()),
            "--handshakes" => a.handshakes = true,
            "--deflate" => a.deflate = true,
            "-h" | "--help" => usage(0),
            _ => usage(2),
        }
    }
    if a.conns == 0 || a.window == 0 || a.threads == 0 || a.duration <= 0.0 {
        usage(2);
    }
    match (tls, ca) {
        (true, Some(ca)) => match TlsClient::new(&ca) {
            Ok(c) => a.tls = Some(c),
            Err(e) => {
                eprintln!("loadgen: {e}");
                std::process::exit(2)
            }
        },
        (false, None) => {}
        _ => usage(2),
    }
    a
}

fn main() {
    raise_nofile();
    // Modes with their own arguments, in their own files (loadgen/*.rs).
    if let Some(ok) = push::run_if_asked().or_else(paced::run_if_asked) {
        std::process::exit(if ok { 0 } else { 1 });
    }
    let args = parse_args();
    raise_nofile();
    let ok = match args.idle {
        Some(n) => idle(&args, n),
        None if args.handshakes => handshakes(&args),
        None => load(&args),
    };
    std::process::exit(if ok { 0 } else { 1 });
}

// ---------------------------------------------------------------------------------------
// Frames and handshake

/// The payloads and their pre-encoded, masked client frames.
struct Patterns {
    payloads: Vec<Vec<u8>>,
    frames: Vec<Vec<u8>>,
    /// The frames are compressed (permessage-deflate).
    deflate: bool,
}

impl Patterns {
    fn new(size: usize, text: bool) -> Patterns {
        let mut payloads = Vec::with_capacity(PATTERNS);
        let mut frames = Vec::with_capacity(PATTERNS);
        for k in 0..PATTERNS {
            let payload: Vec<u8> = (0..size)
                .map(|j| {
                    let v = (k * 131 + j * 7 + (j >> 8)) as u8;
                    if text {
                        b'a' + v % 26
                    } else {
                        v
                    }
                })
                .collect();
            let key = (0x9e37_79b9u32.wrapping_mul(k as u32 + 1)).to_be_bytes();
            let opcode = if text { Opcode::Text } else { Opcode::Binary };
            let mut frame = Vec::with_capacity(payload.len() + MAX_HEADER_LEN);
            encode_client_frame(true, opcode, &payload, key, &mut frame);
            frames.push(frame);
            payloads.push(payload);
        }
        Patterns {
            payloads,
            frames,
            deflate: false,
        }
    }

    /// Re-encodes every frame compressed (permessage-deflate, RSV1), each message on its
    /// own: valid whatever context takeover was agreed, and within any window (9 bits,
    /// which a zlib stream keeps within 8's reach too). Returns raw / compressed payload
    /// bytes.
    fn compress(&mut self, text: bool) -> f64 {
        self.deflate = true;
        let mut z = Compressor::with_window(9, false, 6);
        let (mut raw, mut wire) = (0, 0);
        let opcode = if text { Opcode::Text } else { Opcode::Binary };
        for (k, (payload, frame)) in self.payloads.iter().zip(&mut self.frames).enumerate() {
            let key = (0x9e37_79b9u32.wrapping_mul(k as u32 + 1)).to_be_bytes();
            let c = z.compress(payload);
            raw += payload.len();
            wire += c.len();
            frame.clear();
            encode_client_frame_rsv(true, 0b100, opcode, &c, key, frame);
        }
        raw as f64 / wire.max(1) as f64
    }
}

/// [`connect`] without TLS or compression, for the modes that speak plain TCP only
/// (paced, push).
fn connect_plain(addr: SocketAddr, path: &str) -> Result<std::net::TcpStream, String> {
    match connect(addr, path, None, false)? {
        Sock::Tcp(s) => Ok(s),
        Sock::Tls(_) => Err("TLS where none was asked for".into()),
    }
}

/// Connects (with TLS if `tls`; offering permessage-deflate as Chromium does if
/// `deflate`) and completes the opening handshake (blocking), leaving the socket blocking.
fn connect(
    addr: SocketAddr,
    path: &str,
    tls: Option<&TlsClient>,
    deflate: bool,
) -> Result<Sock, String> {
    let mut s = Sock::connect(addr, HANDSHAKE_TIMEOUT, tls)?;
    let offer = [("Sec-WebSocket-Extensions", CHROMIUM_OFFER)];
    let extra: &[(&str, &str)] = if deflate { &offer } else { &[] };
    let req = upgrade_request(&addr.to_string(), path, HANDSHAKE_KEY, extra);
    s.write_all(&req).map_err(|e| e.to_string())?;
    s.flush().map_err(|e| e.to_string())?;
    // Read byte-wise up to the end of the head: the server sends nothing after it until
    // we send a frame, so nothing of the stream is lost.
    let mut head = Vec::with_capacity(256);
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(1) => head.push(b[0]),
            Ok(_) => return Err("closed during handshake".into()),
            Err(e) => return Err(format!("handshake: {e}")),
        }
        if head.len() > 8192 {
            return Err("handshake response too long".into());
        }
    }
    let text = String::from_utf8_lossy(&head);
    if !text.starts_with("HTTP/1.1 101") {
        return Err(format!(
            "handshake refused: {}",
            text.lines().next().unwrap_or("")
        ));
    }
    let accept = format!(
        "sec-websocket-accept: {}",
        accept_key(HANDSHAKE_KEY.as_bytes())
    );
    if !text
        .to_ascii_lowercase()
        .contains(&accept.to_ascii_lowercase())
    {
        return Err("wrong Sec-WebSocket-Accept".into());
    }
    if deflate
        && !text
            .to_ascii_lowercase()
            .contains("sec-websocket-extensions: permessage-deflate")
    {
        return Err("permessage-deflate not negotiated".into());
    }
    s.tcp().set_read_timeout(None).map_err(|e| e.to_string())?;
    Ok(s)
}

// ---------------------------------------------------------------------------------------
// Streaming reply parser with verification

#[derive(Clone, Copy, PartialEq, Eq)]
enum Payload {
    /// Compare with the expected message.
    Data,
    /// A control frame's payload: skip.
    Skip,
}

/// The payloads expected next: message `n` of this chunk is `payloads[(base + n) % len]`.
struct Expect<'a> {
    payloads: &'a [Vec<u8>],
    base: usize,
}

impl Expect<'_> {
    fn get(&self, n: usize) -> &[u8] {
        &self.payloads[(self.base + n) % self.payloads.len()]
    }
}

/// Incremental decoder of server frames that checks payloads as they arrive.
struct Reader {
    hdr: [u8; 14],
    hdr_len: usize,
    /// Payload bytes left in the current frame (when `in_payload`).
    remaining: u64,
    in_payload: bool,
    kind: Payload,
    fin: bool,
    /// Offset within the current (possibly fragmented) message.
    msg_off: usize,
    in_message: bool,
    mismatch: bool,
    /// With `--deflate`: inflates compressed replies (RSV1), keeping the server's context
    /// (a 15-bit window reads any smaller one; with no takeover the history goes unused).
    inflater: Option<Box<Inflater>>,
    /// The current message is compressed: its payload is gathered here, then inflated and
    /// compared whole.
    compressed: Option<Vec<u8>>,
}

/// What the reader saw in a chunk of input.
#[derive(Default)]
struct Seen {
    messages: usize,
    errors: usize,
    closed: bool,
}

impl Reader {
    fn new(deflate: bool) -> Reader {
        Reader {
            inflater: deflate.then(|| Box::new(Inflater::new(15, true))),
            compressed: None,
            hdr: [0; 14],
            hdr_len: 0,
            remaining: 0,
            in_payload: false,
            kind: Payload::Data,
            fin: false,
            msg_off: 0,
            in_message: false,
            mismatch: false,
        }
    }

    /// Feeds bytes, checking payloads against `expected`; counts complete messages.
    fn feed(&mut self, mut data: &[u8], expected: &Expect<'_>, seen: &mut Seen) {
        while !data.is_empty() && !seen.closed {
            if self.in_payload {
                let take = (self.remaining.min(data.len() as u64)) as usize;
                if let (Payload::Data, Some(z)) = (self.kind, &mut self.compressed) {
                    z.extend_from_slice(&data[..take]);
                } else if self.kind == Payload::Data {
                    let exp = expected.get(seen.messages);
                    let end = self.msg_off + take;
                    if end > exp.len() || exp[self.msg_off..end] != data[..take] {
                        self.mismatch = true;
                    }
                    self.msg_off = end;
                }
                data = &data[take..];
                self.remaining -= take as u64;
                if self.remaining == 0 {
                    self.end_frame(expected, seen);
                }
                continue;
            }
            // Header bytes.
            let need = self.header_len();
            let take = (need - self.hdr_len).min(data.len());
            self.hdr[self.hdr_len..self.hdr_len + take].copy_from_slice(&data[..take]);
            self.hdr_len += take;
            data = &data[take..];
            if self.hdr_len < self.header_len() {
                continue;
            }
            self.start_frame(expected, seen);
        }
    }

    /// Header length implied by what we have so far.
    fn header_len(&self) -> usize {
        if self.hdr_len < 2 {
            return 2;
        }
        let masked = if self.hdr[1] & 0x80 != 0 { 4 } else { 0 };
        masked
            + match self.hdr[1] & 0x7f {
                126 => 4,
                127 => 10,
                _ => 2,
            }
    }

    fn start_frame(&mut self, expected: &Expect<'_>, seen: &mut Seen) {
        let (b0, b1) = (self.hdr[0], self.hdr[1]);
        let len = match b1 & 0x7f {
            126 => u16::from_be_bytes([self.hdr[2], self.hdr[3]]) as u64,
            127 => u64::from_be_bytes(self.hdr[2..10].try_into().expect("8 bytes")),
            l => l as u64,
        };
        self.hdr_len = 0;
        // RSV1 starts a compressed message when deflate was negotiated.
        let rsv1_ok = self.inflater.is_some() && !self.in_message && matches!(b0 & 0x0f, 1 | 2);
        if b1 & 0x80 != 0 || b0 & if rsv1_ok { 0x30 } else { 0x70 } != 0 {
            seen.errors += 1; // masked server frame or RSV bits: protocol error
        }
        if matches!(b0 & 0x0f, 1 | 2) {
            self.compressed = (rsv1_ok && b0 & 0x40 != 0).then(Vec::new);
        }
        self.fin = b0 & 0x80 != 0;
        self.kind = Payload::Data;
        match b0 & 0x0f {
            0x1 | 0x2 => {
                if self.in_message {
                    seen.errors += 1;
                }
                self.in_message = true;
                self.msg_off = 0;
                self.mismatch = false;
            }
            0x0 if self.in_message => {}
            0x8 => {
                seen.closed = true;
                return;
            }
            0x9 | 0xa => self.kind = Payload::Skip,
            _ => {
                seen.errors += 1;
                seen.closed = true;
                return;
            }
        }
        self.remaining = len;
        self.in_payload = true;
        if len == 0 {
            self.end_frame(expected, seen);
        }
    }

    fn end_frame(&mut self, expected: &Expect<'_>, seen: &mut Seen) {
        self.in_payload = false;
        if self.kind == Payload::Skip || !self.fin {
            return;
        }
        if let (Some(z), Some(inf)) = (self.compressed.take(), self.inflater.as_deref_mut()) {
            let exp = expected.get(seen.messages);
            let mut out = Vec::with_capacity(exp.len());
            let mut sink = |c: &[u8]| -> Result<(), InflateError> {
                out.extend_from_slice(c);
                Ok(())
            };
            let ok =
                inf.feed(&z, 1 << 26, &mut sink).is_ok() && inf.finish(1 << 26, &mut sink).is_ok();
            self.mismatch = !ok || out != exp;
            self.msg_off = out.len();
        }
        if self.mismatch || self.msg_off != expected.get(seen.messages).len() {
            seen.errors += 1;
        }
        self.in_message = false;
        seen.messages += 1;
    }
}

// ---------------------------------------------------------------------------------------
// Latency histogram (log-linear, ~3% resolution)

struct Histogram {
    counts: Vec<u64>,
    total: u64,
}

impl Histogram {
    fn new() -> Histogram {
        Histogram {
            counts: vec![0; 64 * 32 + 64],
            total: 0,
        }
    }

    fn index(v: u64) -> usize {
        if v < 64 {
            return v as usize;
        }
        let e = 63 - v.leading_zeros() as usize;
        ((e - 5) << 5) + ((v >> (e - 5)) as usize & 31) + 32
    }

    fn value(i: usize) -> u64 {
        if i < 64 {
            return i as u64;
        }
        let j = i - 32;
        let e = (j >> 5) + 5;
        (((j & 31) | 32) as u64) << (e - 5)
    }

    fn record(&mut self, ns: u64) {
        self.counts[Self::index(ns)] += 1;
        self.total += 1;
    }

    fn merge(&mut self, o: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&o.counts) {
            *a += b;
        }
        self.total += o.total;
    }

    /// The value at quantile `q` in nanoseconds (bucket lower bound).
    fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((self.total as f64 * q).ceil() as u64).clamp(1, self.total);
        let mut acc = 0;
        for (i, c) in self.counts.iter().enumerate() {
            acc += c;
            if acc >= rank {
                return Self::value(i);
            }
        }
        0
    }
}

// ---------------------------------------------------------------------------------------
// Load mode

struct Conn {
    s: Sock,
    reader: Reader,
    /// Index of the next message to send / to receive.
    sent: usize,
    received: usize,
    /// Send times of the messages in flight, oldest first.
    times: VecDeque<Instant>,
    /// Encoded frames waiting for the socket.
    out: Vec<u8>,
    out_pos: usize,
    want_out: bool,
    dead: bool,
}

#[derive(Default)]
struct Totals {
    messages: u64,
    errors: u64,
    hist: Option<Histogram>,
    error_text: Vec<String>,
}

fn load(args: &Args) -> bool {
    let mut patterns = Patterns::new(args.size, args.text);
    // permessage-deflate: the payloads go out compressed; compressed replies are inflated
    // whole (per connection, with the server's context) and compared.
    let ratio = args.deflate.then(|| patterns.compress(args.text));
    let patterns = std::sync::Arc::new(patterns);
    // Connect everything first (sequentially), then start all threads at once.
    let mut per_thread: Vec<Vec<Sock>> = (0..args.threads).map(|_| Vec::new()).collect();
    let mut errors = Vec::new();
    for i in 0..args.conns {
        match connect(args.addr, &args.path, args.tls.as_ref(), args.deflate) {
            Ok(s) => per_thread[i % args.threads].push(s),
            Err(e) => errors.push(e),
        }
    }
    let duration = Duration::from_secs_f64(args.duration);
    let start = Instant::now();
    let deadline = start + duration;
    let handles: Vec<_> = per_thread
        .into_iter()
        .map(|socks| {
            let p = patterns.clone();
            let window = args.window;
            std::thread::spawn(move || run_thread(socks, &p, window, deadline))
        })
        .collect();
    let mut t = Totals {
        hist: Some(Histogram::new()),
        errors: errors.len() as u64,
        error_text: errors,
        ..Totals::default()
    };
    for h in handles {
        let r = h.join().expect("load thread");
        t.messages += r.messages;
        t.errors += r.errors;
        t.error_text.extend(r.error_text);
        if let (Some(a), Some(b)) = (t.hist.as_mut(), r.hist.as_ref()) {
            a.merge(b);
        }
    }
    let elapsed = duration.as_secs_f64();
    let hist = t.hist.expect("histogram");
    let rate = t.messages as f64 / elapsed;
    let mbps = rate * args.size as f64 / 1e6;
    let us = |q| hist.quantile(q) as f64 / 1000.0;
    let (p50, p99, p999) = (us(0.5), us(0.99), us(0.999));
    if args.json {
        println!(
            "{{\"mode\":\"load\",\"conns\":{},\"window\":{},\"size\":{},\"duration\":{:.3},\
             \"messages\":{},\"msgs_per_s\":{:.1},\"mb_per_s\":{:.3},\"p50_us\":{:.1},\
             \"p99_us\":{:.1},\"p999_us\":{:.1},\"errors\":{},\"client_cpu_s\":{:.3},\
             \"deflate_ratio\":{}}}",
            args.conns,
            args.window,
            args.size,
            elapsed,
            t.messages,
            rate,
            mbps,
            p50,
            p99,
            p999,
            t.errors,
            own_cpu_secs(),
            ratio.map_or("null".into(), |r| format!("{r:.3}"))
        );
    } else {
        println!(
            "{} conns x window {} x {} B for {:.1} s: {} msgs, {:.0} msgs/s, {:.2} MB/s, \
             latency p50 {:.1} us p99 {:.1} us p999 {:.1} us, errors {}, loadgen CPU {:.2} s",
            args.conns,
            args.window,
            args.size,
            elapsed,
            t.messages,
            rate,
            mbps,
            p50,
            p99,
            p999,
            t.errors,
            own_cpu_secs()
        );
    }
    for e in t.error_text.iter().take(5) {
        eprintln!("loadgen: {e}");
    }
    t.errors == 0 && t.messages > 0
}

fn run_thread(socks: Vec<Sock>, p: &Patterns, window: usize, deadline: Instant) -> Totals {
    let mut hist = Histogram::new();
    let mut t = Totals::default();
    let ep = Epoll::new();
    let mut conns: Vec<Conn> = Vec::with_capacity(socks.len());
    let now = Instant::now();
    for (i, s) in socks.into_iter().enumerate() {
        s.tcp().set_nonblocking(true).expect("nonblocking");
        ep.add(s.tcp().as_raw_fd(), libc::EPOLLIN, i as u64);
        let mut c = Conn {
            s,
            reader: Reader::new(p.deflate),
            sent: 0,
            received: 0,
            times: VecDeque::with_capacity(window),
            out: Vec::with_capacity(window * p.frames[0].len()),
            out_pos: 0,
            want_out: false,
            dead: false,
        };
        for _ in 0..window {
            queue(&mut c, p, now);
        }
        flush(&ep, i, &mut c, &mut t);
        conns.push(c);
    }
    let mut buf = vec![0u8; READ_BUF];
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    let mut live = conns.iter().filter(|c| !c.dead).count();
    while live > 0 {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let ms = (deadline - now).as_millis().clamp(1, 100) as i32;
        let n = ep.wait(&mut events, ms);
        for ev in &events[..n] {
            let (flags, i) = (ev.events, ev.u64 as usize);
            let c = &mut conns[i];
            if c.dead {
                continue;
            }
            if flags & libc::EPOLLOUT as u32 != 0 {
                flush(&ep, i, c, &mut t);
            }
            if flags & (libc::EPOLLIN | libc::EPOLLHUP | libc::EPOLLERR) as u32 != 0 {
                read_conn(c, p, &mut buf, &mut hist, &mut t, deadline);
                if !c.dead {
                    flush(&ep, i, c, &mut t);
                }
            }
            if c.dead {
                live -= 1;
            }
        }
    }
    // Say goodbye properly; nothing more is counted.
    let mut bye = Vec::new();
    encode_client_frame(
        true,
        Opcode::Close,
        &1000u16.to_be_bytes(),
        [1, 2, 3, 4],
        &mut bye,
    );
    for c in &mut conns {
        c.s.tcp().set_nonblocking(false).ok();
        let _ = c.s.write_all(&bye);
        let _ = c.s.flush();
        let _ = c.s.tcp().shutdown(std::net::Shutdown::Write);
    }
    t.hist = Some(hist);
    t
}

/// Queues the next pre-encoded frame on `c`.
fn queue(c: &mut Conn, p: &Patterns, now: Instant) {
    c.out.extend_from_slice(&p.frames[c.sent % PATTERNS]);
    c.sent += 1;
    c.times.push_back(now);
}

fn read_conn(
    c: &mut Conn,
    p: &Patterns,
    buf: &mut [u8],
    hist: &mut Histogram,
    t: &mut Totals,
    deadline: Instant,
) {
    let n = match c.s.read(buf) {
        Ok(0) => {
            c.dead = true;
            t.errors += 1;
            t.error_text.push("server closed the connection".into());
            return;
        }
        Ok(n) => n,
        Err(e) if e.kind() == ErrorKind::WouldBlock => return,
        Err(e) => {
            c.dead = true;
            t.errors += 1;
            t.error_text.push(format!("read: {e}"));
            return;
        }
    };
    let now = Instant::now();
    let base = c.received;
    let expected = Expect {
        payloads: &p.payloads,
        base,
    };
    let mut seen = Seen::default();
    c.reader.feed(&buf[..n], &expected, &mut seen);
    t.errors += seen.errors as u64;
    if seen.errors > 0 && t.error_text.len() < 10 {
        t.error_text.push(format!(
            "payload mismatch or bad frame after message {base}"
        ));
    }
    if seen.closed {
        c.dead = true;
        t.errors += 1;
        t.error_text.push("server sent close".into());
    }
    let sending = now < deadline;
    for _ in 0..seen.messages {
        c.received += 1;
        match c.times.pop_front() {
            Some(at) => hist.record(now.duration_since(at).as_nanos() as u64),
            None => {
                t.errors += 1;
                t.error_text.push("reply to a message never sent".into());
            }
        }
        if sending {
            t.messages += 1;
            queue(c, p, now);
        }
    }
}

/// Writes queued frames; waits for EPOLLOUT when the socket is full.
fn flush(ep: &Epoll, i: usize, c: &mut Conn, t: &mut Totals) {
    while c.out_pos < c.out.len() {
        match c.s.write(&c.out[c.out_pos..]) {
            Ok(k) => c.out_pos += k,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => {
                c.dead = true;
                t.errors += 1;
                t.error_text.push(format!("write: {e}"));
                return;
            }
        }
    }
    if c.out_pos == c.out.len() {
        c.out.clear();
        c.out_pos = 0;
    }
    // TLS: records made but not taken by the socket yet.
    if let Err(e) = c.s.send_pending() {
        c.dead = true;
        t.errors += 1;
        t.error_text.push(format!("write: {e}"));
        return;
    }
    let want = !c.out.is_empty() || c.s.has_pending();
    if want != c.want_out {
        let ev = if want {
            libc::EPOLLIN | libc::EPOLLOUT
        } else {
            libc::EPOLLIN
        };
        ep.modify(c.s.tcp().as_raw_fd(), ev, i as u64);
        c.want_out = want;
    }
}

// ---------------------------------------------------------------------------------------
// Idle mode

fn idle(args: &Args, n: usize) -> bool {
    let rss = |pid: Option<u32>| pid.and_then(vm_rss_kib);
    let before = rss(args.server_pid);
    let started = Instant::now();
    let mut socks = Vec::with_capacity(n);
    let mut errors = Vec::new();
    for _ in 0..n {
        match connect(args.addr, &args.path, args.tls.as_ref(), args.deflate) {
            Ok(s) => socks.push(s),
            Err(e) => {
                errors.push(e);
                if errors.len() > 20 {
                    break;
                }
            }
        }
    }
    let connect_secs = started.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs_f64(args.hold));
    let after = rss(args.server_pid);
    // One echo on every connection: proves they are alive, and shows what a connection
    // that has carried a message and gone idle again holds.
    let mut p = Patterns::new(16, false);
    if args.deflate {
        p.compress(false);
    }
    let mut buf = vec![0u8; 4096];
    for (i, s) in socks.iter_mut().enumerate() {
        let k = i % PATTERNS;
        let r = s
            .tcp()
            .set_read_timeout(Some(HANDSHAKE_TIMEOUT))
            .and_then(|_| s.write_all(&p.frames[k]))
            .and_then(|_| s.flush());
        if let Err(e) = r {
            errors.push(format!("write: {e}"));
            continue;
        }
        let mut reader = Reader::new(args.deflate);
        let mut seen = Seen::default();
        let expected = Expect {
            payloads: &p.payloads,
            base: k,
        };
        while seen.messages == 0 && !seen.closed {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => {
                    seen.closed = true;
                    seen.errors += 1;
                }
                Ok(m) => reader.feed(&buf[..m], &expected, &mut seen),
            }
        }
        if seen.errors > 0 || seen.messages != 1 {
            errors.push(format!("connection {i}: echo failed"));
        }
    }
    std::thread::sleep(Duration::from_secs_f64(args.hold));
    let after_msg = rss(args.server_pid);
    let open = socks.len();
    let per = |a: Option<u64>| match (before, a) {
        (Some(b), Some(a)) if open > 0 => Some((a.saturating_sub(b)) as f64 * 1024.0 / open as f64),
        _ => None,
    };
    let fmt = |v: Option<f64>| v.map_or("null".to_string(), |x| format!("{x:.0}"));
    let fmtk = |v: Option<u64>| v.map_or("null".to_string(), |x| x.to_string());
    if args.json {
        println!(
            "{{\"mode\":\"idle\",\"conns\":{open},\"requested\":{n},\"connect_s\":{connect_secs:.3},\
             \"rss_before_kib\":{},\"rss_after_kib\":{},\"rss_after_msg_kib\":{},\
             \"bytes_per_conn\":{},\"bytes_per_conn_after_msg\":{},\"errors\":{}}}",
            fmtk(before),
            fmtk(after),
            fmtk(after_msg),
            fmt(per(after)),
            fmt(per(after_msg)),
            errors.len()
        );
    } else {
        println!(
            "{open}/{n} idle connections in {connect_secs:.2} s; server RSS {} -> {} KiB \
             ({} B/conn), after one echo each {} KiB ({} B/conn); errors {}",
            fmtk(before),
            fmtk(after),
            fmt(per(after)),
            fmtk(after_msg),
            fmt(per(after_msg)),
            errors.len()
        );
    }
    for e in errors.iter().take(5) {
        eprintln!("loadgen: {e}");
    }
    errors.is_empty()
}

// ---------------------------------------------------------------------------------------
// Handshake mode

fn handshakes(args: &Args) -> bool {
    let deadline = Instant::now() + Duration::from_secs_f64(args.duration);
    let workers: Vec<_> = (0..args.threads)
        .map(|_| {
            let a = args.clone();
            std::thread::spawn(move || {
                let p = Patterns::new(32, false);
                let (mut done, mut errors) = (0u64, Vec::new());
                let mut buf = vec![0u8; 4096];
                while Instant::now() < deadline {
                    match one_cycle(&a, &p, &mut buf, done as usize % PATTERNS) {
                        Ok(()) => done += 1,
                        Err(e) => {
                            errors.push(e);
                            if errors.len() > 20 {
                                break;
                            }
                        }
                    }
                }
                (done, errors)
            })
        })
        .collect();
    let (mut done, mut errors) = (0u64, Vec::new());
    for w in workers {
        let (d, e) = w.join().expect("handshake thread");
        done += d;
        errors.extend(e);
    }
    let rate = done as f64 / args.duration;
    if args.json {
        println!(
            "{{\"mode\":\"handshakes\",\"tls\":{},\"cycles\":{done},\"per_s\":{rate:.1},\
             \"duration\":{:.3},\"errors\":{},\"client_cpu_s\":{:.3}}}",
            args.tls.is_some(),
            args.duration,
            errors.len(),
            own_cpu_secs()
        );
    } else {
        println!(
            "{done} connect+upgrade+echo+close cycles in {:.1} s ({rate:.0}/s), errors {}",
            args.duration,
            errors.len()
        );
    }
    for e in errors.iter().take(5) {
        eprintln!("loadgen: {e}");
    }
    errors.is_empty() && done > 0
}

/// One connection: connect (TLS handshake), upgrade, one echo, close handshake.
fn one_cycle(a: &Args, p: &Patterns, buf: &mut [u8], k: usize) -> Result<(), String> {
    let mut s = connect(a.addr, &a.path, a.tls.as_ref(), false)?;
    let io = |e: std::io::Error| e.to_string();
    s.tcp()
        .set_read_timeout(Some(HANDSHAKE_TIMEOUT))
        .map_err(io)?;
    s.write_all(&p.frames[k]).map_err(io)?;
    let mut bye = Vec::new();
    encode_client_frame(
        true,
        Opcode::Close,
        &1000u16.to_be_bytes(),
        [9, 8, 7, 6],
        &mut bye,
    );
    s.flush().map_err(io)?;
    let mut reader = Reader::new(false);
    let mut seen = Seen::default();
    let expected = Expect {
        payloads: &p.payloads,
        base: k,
    };
    while seen.messages == 0 {
        match s.read(buf) {
            Ok(0) => return Err("closed before the echo".into()),
            Ok(m) => reader.feed(&buf[..m], &expected, &mut seen),
            Err(e) => return Err(format!("read: {e}")),
        }
        if seen.errors > 0 || seen.closed {
            return Err("bad echo".into());
        }
    }
    s.write_all(&bye).map_err(io)?;
    s.flush().map_err(io)?;
    // The server's close frame, then its end of the connection.
    loop {
        match s.read(buf) {
            Ok(0) | Err(_) => return Ok(()),
            Ok(_) => {}
        }
    }
}

/// VmRSS of a process, in KiB.
fn vm_rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

// ---------------------------------------------------------------------------------------
// System calls

struct Epoll(i32);

impl Epoll {
    fn new() -> Epoll {
        // SAFETY: plain syscall.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        assert!(
            fd >= 0,
            "epoll_create1: {}",
            std::io::Error::last_os_error()
        );
        Epoll(fd)
    }

    fn ctl(&self, op: i32, fd: i32, events: i32, key: u64) {
        let mut ev = libc::epoll_event {
            events: events as u32,
            u64: key,
        };
        // SAFETY: `ev` is a valid epoll_event for the duration of the call.
        let r = unsafe { libc::epoll_ctl(self.0, op, fd, &mut ev) };
        assert!(r == 0, "epoll_ctl: {}", std::io::Error::last_os_error());
    }

    fn add(&self, fd: i32, events: i32, key: u64) {
        self.ctl(libc::EPOLL_CTL_ADD, fd, events, key)
    }

    fn modify(&self, fd: i32, events: i32, key: u64) {
        self.ctl(libc::EPOLL_CTL_MOD, fd, events, key)
    }

    fn wait(&self, events: &mut [libc::epoll_event], timeout_ms: i32) -> usize {
        // SAFETY: `events` is valid for `len` entries.
        let n = unsafe {
            libc::epoll_wait(self.0, events.as_mut_ptr(), events.len() as i32, timeout_ms)
        };
        n.max(0) as usize
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        // SAFETY: we own the descriptor.
        unsafe { libc::close(self.0) };
    }
}

/// CPU time (user + system) this process has used, in seconds.
fn own_cpu_secs() -> f64 {
    // SAFETY: an all-zero rusage is valid, and getrusage only writes into it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is valid for writes.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Raises the soft open-files limit to the hard one (for `--idle 10000`).
fn raise_nofile() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}
