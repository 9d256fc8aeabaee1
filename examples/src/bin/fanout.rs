//! Cross-process fan-out benchmark (issue 15): the server side for wirelane, and one load
//! tool that drives either wirelane or a Socket.IO peer. Run by
//! `examples/scaleout-bench/run.sh`.
//!
//! ```text
//! fanout serve --addr 127.0.0.1:PORT --redis redis://127.0.0.1:6379 [--threads 1]
//! fanout load  --servers HOST:PORT,HOST:PORT [--proto wirelane|socketio] [--subs 1000]
//!              [--rate 100] [--duration 10] [--size 100] [--cpu-pids PID,PID,...]
//! ```
//!
//! **serve**: a wirelane server whose [`Hub`] runs on the Redis backplane. A WebSocket on
//! `/sub` joins the topic `bench` and only listens; every message received on `/pub` is
//! published to `bench` unchanged, so it reaches the subscribers of every server on the
//! same Redis. This is what the Socket.IO peer (`scaleout-bench/socketio/server.mjs`) does
//! with a room and `io.to(room).emit`.
//!
//! **load**: opens `--subs` subscribers spread round-robin over `--servers`, and one
//! publisher on the first server. The publisher sends probes until every subscriber has
//! seen one (so every join and every Redis subscription is in place), then `--rate`
//! messages a second for `--duration` seconds: small JSON objects that carry their
//! sequence number and the wall-clock time they were sent (`{"seq":N,"t":MICROS,...}`,
//! padded to `--size` bytes). Every subscriber checks the order and records the
//! publish-to-delivery latency (same machine, same clock). The CPU time (user + system,
//! from `/proc/PID/stat`) of every `--cpu-pids` process (the servers and redis-server) is
//! read when the first message goes out and again once every message has arrived (or
//! nothing has arrived for 3 s). It prints the deliveries per CPU-second of those
//! processes together, the latency percentiles, and a last `RESULT {json}` line.
//!
//! With `--proto socketio` it speaks Engine.IO 4 / Socket.IO 5 over a plain WebSocket
//! (`/socket.io/?EIO=4&transport=websocket`): it connects to the main namespace (`40`),
//! answers the server's pings (`2` -> `3`), publishes with `42["pub",{...}]` and reads
//! `42["msg",{...}]`. One client program for both servers, so that both are measured with
//! the same client cost and the same clock; a thousand socket.io-client instances in one
//! Node process would compete with the servers for the machine's two cores.
//!
//! Everything is loopback and bounded: the handshakes time out after 10 s, probing after
//! 30 s, and the wait for the last deliveries after 3 s without progress.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use wirelane_core::app::{Hub, SlowClientPolicy};
use wirelane_core::proto::ws::client::upgrade_request;
use wirelane_core::proto::ws::frame::FrameHeader;
use wirelane_core::proto::ws::{accept_key, encode_client_frame, Opcode};
use wirelane_tokio::Context;

/// The one topic (room) of the benchmark.
const TOPIC: &str = "bench";
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the tool waits for the last deliveries when nothing arrives.
const DRAIN_IDLE: Duration = Duration::from_secs(3);
/// RFC 6455's example key: a benchmark against our own loopback servers needs no nonce.
const HANDSHAKE_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
/// The masking key of every client frame (masking is required, secrecy is not the point).
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn usage() -> ! {
    eprintln!(
        "usage: fanout serve --addr HOST:PORT --redis URL [--threads N]\n\
         \x20      fanout load --servers HOST:PORT[,HOST:PORT...] [--proto wirelane|socketio]\n\
         \x20                  [--subs N] [--rate MSGS_PER_S] [--duration SECS] [--size BYTES]\n\
         \x20                  [--cpu-pids PID,PID,...]"
    );
    std::process::exit(2)
}

fn main() {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("serve") => serve_main(args.collect()),
        Some("load") => std::process::exit(load_main(args.collect())),
        _ => usage(),
    }
}

/// `(flag, value)` pairs of a command line where every flag takes a value.
fn flag_pairs(args: Vec<String>) -> Vec<(String, String)> {
    let mut it = args.into_iter();
    let mut out = Vec::new();
    while let Some(flag) = it.next() {
        let Some(value) = it.next() else { usage() };
        out.push((flag, value));
    }
    out
}

fn parse<T: std::str::FromStr>(s: &str) -> T {
    s.parse().unwrap_or_else(|_| usage())
}

// ---------------------------------------------------------------------------------------
// serve

fn serve_main(args: Vec<String>) {
    let mut addr: Option<SocketAddr> = None;
    let mut redis: Option<String> = None;
    let mut threads = 1usize;
    for (flag, value) in flag_pairs(args) {
        match flag.as_str() {
            "--addr" => addr = Some(parse(&value)),
            "--redis" => redis = Some(value),
            "--threads" => threads = parse::<usize>(&value).max(1),
            _ => usage(),
        }
    }
    let (Some(addr), Some(redis)) = (addr, redis) else {
        usage()
    };
    let backplane =
        wirelane_redis::RedisBackplane::start(wirelane_redis::RedisConfig::new(redis.as_str()))
            .unwrap_or_else(|e| {
                eprintln!("fanout: --redis {redis}: {e}");
                std::process::exit(2)
            });
    // Disconnect, as in the demo: a subscriber that cannot keep up is cut off (and shows
    // up as missing deliveries) rather than slowing the room or growing memory.
    let hub = Hub::with_backplane(SlowClientPolicy::Disconnect, backplane);
    // One thread by default: a Node process serves its sockets on one thread too, and the
    // CPU time is what is compared.
    let rt = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
    .expect("tokio runtime");
    rt.block_on(serve(addr, hub));
}

async fn serve(addr: SocketAddr, hub: Hub) {
    let server = wirelane_tokio::Server::new();
    server.host(addr.ip().to_string()).await;
    server.port(addr.port()).await;
    server.enable_nodelay().await;
    let subs = hub.clone();
    server
        .route("/sub", move |ctx| subscriber(subs.clone(), ctx))
        .await;
    server
        .route("/pub", move |ctx| publisher(hub.clone(), ctx))
        .await;
    // Taken over before the server starts, so a SIGTERM right after `listening on` still
    // shuts down gracefully (and the backplane leaves Redis cleanly).
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])
    .expect("signal handlers");
    let handle = server.start().await.unwrap_or_else(|e| {
        eprintln!("fanout: {e}");
        std::process::exit(1)
    });
    println!("listening on {}", handle.local_addr());
    let on_signal = handle.clone();
    std::thread::spawn(move || {
        let mut forever = signals.forever();
        if forever.next().is_some() {
            on_signal.shutdown();
        }
        if forever.next().is_some() {
            std::process::exit(130);
        }
    });
    handle.wait().await;
}

/// `/sub`: a member of the topic until it goes away.
async fn subscriber(hub: Hub, ctx: Context) {
    if !ctx.is_websocket() {
        ctx.set_response_status_code(426).await;
        return;
    }
    let _member = hub.join(TOPIC, ctx.sender());
    // Subscribers send nothing; reading is how the handler learns of the close.
    while ctx.recv_message().await.is_some() {}
}

/// `/pub`: every message is published to the topic as it came (not a member itself).
async fn publisher(hub: Hub, ctx: Context) {
    if !ctx.is_websocket() {
        ctx.set_response_status_code(426).await;
        return;
    }
    while let Some(msg) = ctx.recv_message().await {
        hub.publish(TOPIC, msg);
    }
}

// ---------------------------------------------------------------------------------------
// load: options

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Proto {
    Wirelane,
    SocketIo,
}

#[derive(Clone)]
struct LoadArgs {
    proto: Proto,
    servers: Vec<SocketAddr>,
    subs: usize,
    rate: f64,
    duration: f64,
    size: usize,
    cpu_pids: Vec<u32>,
}

fn parse_load(args: Vec<String>) -> LoadArgs {
    let mut a = LoadArgs {
        proto: Proto::Wirelane,
        servers: Vec::new(),
        subs: 1000,
        rate: 100.0,
        duration: 10.0,
        size: 100,
        cpu_pids: Vec::new(),
    };
    for (flag, value) in flag_pairs(args) {
        match flag.as_str() {
            "--proto" => {
                a.proto = match value.as_str() {
                    "wirelane" => Proto::Wirelane,
                    "socketio" => Proto::SocketIo,
                    _ => usage(),
                }
            }
            "--servers" => a.servers = value.split(',').map(parse).collect(),
            "--subs" => a.subs = parse(&value),
            "--rate" => a.rate = parse(&value),
            "--duration" => a.duration = parse(&value),
            "--size" => a.size = parse(&value),
            "--cpu-pids" => a.cpu_pids = value.split(',').map(parse).collect(),
            _ => usage(),
        }
    }
    if a.servers.is_empty()
        || a.subs == 0
        || a.rate.is_nan()
        || a.rate <= 0.0
        || a.duration.is_nan()
        || a.duration <= 0.0
    {
        usage();
    }
    a
}

// ---------------------------------------------------------------------------------------
// load: the wire

/// A data frame from the client (masked).
fn client_text(payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(payload.len() + 14);
    encode_client_frame(true, Opcode::Text, payload, MASK, &mut frame);
    frame
}

/// Connects, sends the upgrade request for `path` and checks the 101 answer (blocking).
/// Reads the head byte by byte so that no frame the server sends right after it (Engine.IO's
/// open packet) is consumed here.
fn connect(addr: SocketAddr, path: &str) -> Result<TcpStream, String> {
    let mut s = TcpStream::connect_timeout(&addr, HANDSHAKE_TIMEOUT)
        .map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(HANDSHAKE_TIMEOUT))
        .map_err(|e| e.to_string())?;
    s.write_all(&upgrade_request(
        &addr.to_string(),
        path,
        HANDSHAKE_KEY,
        &[],
    ))
    .map_err(|e| format!("send upgrade: {e}"))?;
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            Ok(_) => return Err(format!("{addr}{path}: closed during the handshake")),
            Err(e) => return Err(format!("{addr}{path}: handshake: {e}")),
        }
        if head.len() > 8192 {
            return Err(format!("{addr}{path}: handshake answer too long"));
        }
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    if !head.starts_with("http/1.1 101") {
        let status = head.lines().next().unwrap_or("").to_string();
        return Err(format!("{addr}{path}: refused: {status}"));
    }
    let accept = accept_key(HANDSHAKE_KEY.as_bytes()).to_ascii_lowercase();
    if !head.contains(&format!("sec-websocket-accept: {accept}")) {
        return Err(format!("{addr}{path}: wrong Sec-WebSocket-Accept"));
    }
    s.set_read_timeout(None).map_err(|e| e.to_string())?;
    Ok(s)
}

fn sub_path(proto: Proto) -> &'static str {
    match proto {
        Proto::Wirelane => "/sub",
        Proto::SocketIo => "/socket.io/?EIO=4&transport=websocket",
    }
}

fn pub_path(proto: Proto) -> &'static str {
    match proto {
        Proto::Wirelane => "/pub",
        // The peer's server keeps the publisher out of the room (see server.mjs).
        Proto::SocketIo => "/socket.io/?EIO=4&transport=websocket&role=pub",
    }
}

/// What one complete server frame meant to the client.
enum Incoming<'a> {
    /// A benchmark message (wirelane) or a Socket.IO event: its JSON text.
    Data(&'a [u8]),
    /// Engine.IO ping: answer with a pong packet.
    EnginePing,
    /// WebSocket ping: answer with a pong frame carrying the same payload.
    WsPing(&'a [u8]),
    /// The server closed the connection.
    Close,
    /// Anything else (Engine.IO open, Socket.IO connect acknowledgement, pongs).
    Other,
}

/// Interprets one unfragmented server frame (neither server fragments such small messages;
/// a fragment counts as an error in the caller).
fn interpret(proto: Proto, opcode: Opcode, payload: &[u8]) -> Incoming<'_> {
    match opcode {
        Opcode::Close => Incoming::Close,
        Opcode::Ping => Incoming::WsPing(payload),
        Opcode::Text | Opcode::Binary => match proto {
            Proto::Wirelane => Incoming::Data(payload),
            // Engine.IO packet type, then Socket.IO packet type: `42` is an event.
            Proto::SocketIo => match payload {
                [b'2', ..] => Incoming::EnginePing,
                [b'4', b'2', rest @ ..] => Incoming::Data(rest),
                _ => Incoming::Other,
            },
        },
        _ => Incoming::Other,
    }
}

/// The unsigned number after `"key":` in a JSON text, if any (the tool reads only the
/// fields it wrote itself, so a full JSON parser would measure nothing more).
fn json_u64(text: &[u8], key: &[u8]) -> Option<u64> {
    let at = text.windows(key.len()).position(|w| w == key)? + key.len();
    let digits = text[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&text[at..at + digits])
        .ok()?
        .parse()
        .ok()
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Splits complete frames off the front of `buf` and hands each to `f`; keeps the rest.
/// Returns false on a frame the tool does not expect from these servers.
fn drain_frames(buf: &mut Vec<u8>, mut f: impl FnMut(Opcode, &[u8])) -> bool {
    let mut pos = 0;
    let mut ok = true;
    loop {
        let (header, header_len) = match FrameHeader::decode(&buf[pos..]) {
            Ok(Some(h)) => h,
            Ok(None) => break,
            Err(_) => {
                ok = false;
                pos = buf.len();
                break;
            }
        };
        let end = pos + header_len + header.payload_len as usize;
        if buf.len() < end {
            break;
        }
        if !header.fin || header.mask.is_some() || header.rsv != 0 {
            ok = false;
        }
        f(header.opcode, &buf[pos + header_len..end]);
        pos = end;
    }
    buf.drain(..pos);
    ok
}

// ---------------------------------------------------------------------------------------
// load: CPU time

/// User + system CPU seconds of a process so far (all its threads), from /proc/PID/stat.
fn cpu_seconds(pid: u32) -> Result<f64, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    // The command name (field 2) may hold spaces: count the fields after its ')'.
    let after = stat
        .rsplit_once(')')
        .ok_or_else(|| format!("/proc/{pid}/stat: no ')'"))?
        .1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 (utime) and 15 (stime), counted from 1 with the pid; `after` starts at 3.
    let ticks = |i: usize| -> Result<u64, String> {
        fields
            .get(i - 3)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("/proc/{pid}/stat: field {i}"))
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Ok((ticks(14)? + ticks(15)?) as f64 / hz)
}

fn cpu_all(pids: &[u32]) -> Result<Vec<f64>, String> {
    pids.iter().map(|&p| cpu_seconds(p)).collect()
}

// ---------------------------------------------------------------------------------------
// load: the publisher

/// What the publisher thread shares with the subscribers' loop.
struct Shared {
    /// Set by the loop once every subscriber has seen a probe.
    all_probed: AtomicBool,
    /// Measured messages sent so far, and set once the last one is out.
    sent: AtomicU64,
    done_sending: AtomicBool,
    /// CPU seconds of the watched processes and the instant when the first message went out.
    start: Mutex<Option<(Vec<f64>, Instant)>>,
    /// Set by the loop when it gives up (so that the publisher stops too).
    abort: AtomicBool,
}

/// The publisher's connection: writes block; reads are polled between writes so that
/// Engine.IO pings get their pong.
struct PubConn {
    stream: TcpStream,
    proto: Proto,
    buf: Vec<u8>,
}

impl PubConn {
    fn send_json(&mut self, json: &str) -> std::io::Result<()> {
        let frame = match self.proto {
            Proto::Wirelane => client_text(json.as_bytes()),
            Proto::SocketIo => client_text(format!("42[\"pub\",{json}]").as_bytes()),
        };
        self.stream.write_all(&frame)
    }

    /// Connects to Socket.IO's main namespace and waits for the server's `40` answer: an
    /// event sent before it makes the server close the connection (socket.io-client holds
    /// its emits back until then too).
    fn socketio_connect(&mut self) -> Result<(), String> {
        let err = |e: std::io::Error| format!("publisher: socket.io connect: {e}");
        self.stream.write_all(&client_text(b"40")).map_err(err)?;
        let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
        let mut chunk = [0u8; 4096];
        self.stream
            .set_read_timeout(Some(HANDSHAKE_TIMEOUT))
            .map_err(err)?;
        loop {
            let mut connected = false;
            drain_frames(&mut self.buf, |op, payload| {
                if op == Opcode::Text && payload.starts_with(b"40") {
                    connected = true;
                }
            });
            if connected {
                return self.stream.set_read_timeout(None).map_err(err);
            }
            if Instant::now() > deadline {
                return Err("publisher: no socket.io connect answer within 10 s".into());
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err("publisher: closed during the socket.io connect".into()),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) => return Err(err(e)),
            }
        }
    }

    /// Reads what has arrived without waiting, and answers pings.
    fn service(&mut self) -> std::io::Result<()> {
        self.stream.set_nonblocking(true)?;
        let mut chunk = [0u8; 4096];
        let res = loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => break Err(std::io::Error::other("publisher: server closed")),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        self.stream.set_nonblocking(false)?;
        res?;
        let mut replies = Vec::new();
        let proto = self.proto;
        drain_frames(&mut self.buf, |op, payload| {
            match interpret(proto, op, payload) {
                Incoming::EnginePing => replies.push(client_text(b"3")),
                Incoming::WsPing(p) => {
                    let mut f = Vec::new();
                    encode_client_frame(true, Opcode::Pong, p, MASK, &mut f);
                    replies.push(f);
                }
                _ => {}
            }
        });
        for r in replies {
            self.stream.write_all(&r)?;
        }
        Ok(())
    }
}

fn run_publisher(
    mut conn: PubConn,
    args: &LoadArgs,
    shared: &Shared,
    total: u64,
) -> Result<(), String> {
    let err = |e: std::io::Error| format!("publisher: {e}");
    // Probes until every subscriber has one: then every join, and every server's Redis
    // subscription, is in place before the clock starts.
    let deadline = Instant::now() + PROBE_TIMEOUT;
    let mut probe = 0u64;
    while !shared.all_probed.load(Ordering::Acquire) {
        if Instant::now() > deadline || shared.abort.load(Ordering::Acquire) {
            return Err("not every subscriber received a probe within 30 s".into());
        }
        probe += 1;
        conn.send_json(&format!("{{\"probe\":{probe}}}"))
            .map_err(err)?;
        conn.service().map_err(err)?;
        std::thread::sleep(Duration::from_millis(100));
    }
    // Let the last probes drain so that they are not counted in the measurement.
    std::thread::sleep(Duration::from_millis(500));
    conn.service().map_err(err)?;
    let padding = "x".repeat(args.size.saturating_sub(48));
    let interval = Duration::from_secs_f64(1.0 / args.rate);
    let cpu = cpu_all(&args.cpu_pids)?;
    let t0 = Instant::now();
    *shared.start.lock().expect("start lock") = Some((cpu, t0));
    for seq in 0..total {
        if shared.abort.load(Ordering::Acquire) {
            return Err("stopped by the subscribers' loop".into());
        }
        // A fixed schedule, not "interval after the last send": a slow send is not
        // allowed to lower the rate.
        let due = t0 + interval.mul_f64(seq as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let json = format!(
            "{{\"seq\":{seq},\"t\":{},\"body\":\"{padding}\"}}",
            now_micros()
        );
        conn.send_json(&json).map_err(err)?;
        shared.sent.store(seq + 1, Ordering::Release);
        conn.service().map_err(err)?;
    }
    shared.done_sending.store(true, Ordering::Release);
    // Keep answering pings until the loop is done with the measurement.
    while !shared.abort.load(Ordering::Acquire) {
        conn.service().map_err(err)?;
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// load: the subscribers

struct Sub {
    stream: mio::net::TcpStream,
    buf: Vec<u8>,
    probed: bool,
    /// Next sequence number expected (messages arrive in publisher order or not at all).
    next_seq: u64,
    received: u64,
    closed: bool,
}

#[derive(Default)]
struct Tally {
    delivered: u64,
    out_of_order: u64,
    protocol_errors: u64,
    closed: u64,
    probed: usize,
    /// Publish-to-delivery latencies in microseconds.
    latencies: Vec<u32>,
}

impl Sub {
    /// Reads everything available; returns false when the connection is gone.
    fn on_readable(&mut self, proto: Proto, scratch: &mut [u8], tally: &mut Tally) -> bool {
        loop {
            match self.stream.read(scratch) {
                Ok(0) => return false,
                Ok(n) => self.buf.extend_from_slice(&scratch[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return false,
            }
        }
        let now = now_micros();
        let mut replies: Vec<Vec<u8>> = Vec::new();
        let mut alive = true;
        let (probed, next_seq, received) =
            (&mut self.probed, &mut self.next_seq, &mut self.received);
        let ok = drain_frames(&mut self.buf, |op, payload| {
            match interpret(proto, op, payload) {
                Incoming::Data(json) => {
                    if let Some(seq) = json_u64(json, b"\"seq\":") {
                        tally.delivered += 1;
                        *received += 1;
                        if seq < *next_seq {
                            tally.out_of_order += 1;
                        }
                        *next_seq = seq + 1;
                        if let Some(t) = json_u64(json, b"\"t\":") {
                            tally
                                .latencies
                                .push(now.saturating_sub(t).min(u32::MAX as u64) as u32);
                        }
                    } else if json_u64(json, b"\"probe\":").is_some() && !*probed {
                        *probed = true;
                        tally.probed += 1;
                    }
                }
                Incoming::EnginePing => replies.push(client_text(b"3")),
                Incoming::WsPing(p) => {
                    let mut f = Vec::new();
                    encode_client_frame(true, Opcode::Pong, p, MASK, &mut f);
                    replies.push(f);
                }
                Incoming::Close => alive = false,
                Incoming::Other => {}
            }
        });
        if !ok {
            tally.protocol_errors += 1;
        }
        for r in replies {
            // Tiny and rare (one pong per ping interval): the socket buffer has room; a
            // short write would only cost this subscriber its connection.
            if self.stream.write(&r).ok() != Some(r.len()) {
                alive = false;
            }
        }
        alive
    }
}

fn raise_nofile() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit for both calls.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn load_main(args: Vec<String>) -> i32 {
    let args = parse_load(args);
    raise_nofile();
    match load(&args) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => {
            eprintln!("fanout: {e}");
            1
        }
    }
}

fn load(args: &LoadArgs) -> Result<bool, String> {
    let proto = args.proto;
    let total = (args.rate * args.duration).round().max(1.0) as u64;
    let poll_err = |e: std::io::Error| format!("poll: {e}");
    let mut poll = mio::Poll::new().map_err(poll_err)?;
    let mut subs = Vec::with_capacity(args.subs);
    let connecting = Instant::now();
    for i in 0..args.subs {
        let addr = args.servers[i % args.servers.len()];
        let mut stream = connect(addr, sub_path(proto))?;
        if proto == Proto::SocketIo {
            // Connect to the main namespace; the server joins the socket to the room then.
            stream
                .write_all(&client_text(b"40"))
                .map_err(|e| format!("socket.io connect: {e}"))?;
        }
        stream.set_nonblocking(true).map_err(|e| e.to_string())?;
        let mut stream = mio::net::TcpStream::from_std(stream);
        poll.registry()
            .register(&mut stream, mio::Token(i), mio::Interest::READABLE)
            .map_err(poll_err)?;
        subs.push(Sub {
            stream,
            buf: Vec::new(),
            probed: false,
            next_seq: 0,
            received: 0,
            closed: false,
        });
    }
    println!(
        "{} subscribers connected over {} server(s) in {:.2} s ({proto:?})",
        args.subs,
        args.servers.len(),
        connecting.elapsed().as_secs_f64()
    );

    let shared = Arc::new(Shared {
        all_probed: AtomicBool::new(false),
        sent: AtomicU64::new(0),
        done_sending: AtomicBool::new(false),
        start: Mutex::new(None),
        abort: AtomicBool::new(false),
    });
    let pub_stream = connect(args.servers[0], pub_path(proto))?;
    let mut pub_conn = PubConn {
        stream: pub_stream,
        proto,
        buf: Vec::new(),
    };
    if proto == Proto::SocketIo {
        pub_conn.socketio_connect()?;
    }
    let publisher = {
        let shared = shared.clone();
        let pub_args = args.clone();
        std::thread::spawn(move || {
            let r = run_publisher(pub_conn, &pub_args, &shared, total);
            // Whatever happened, the loop must not wait for a publisher that is gone.
            shared.done_sending.store(true, Ordering::Release);
            r
        })
    };

    let mut events = mio::Events::with_capacity(1024);
    let mut scratch = vec![0u8; 256 * 1024];
    let mut tally = Tally {
        latencies: Vec::with_capacity((total as usize).saturating_mul(args.subs).min(50_000_000)),
        ..Tally::default()
    };
    let expected = total * args.subs as u64;
    let mut last_progress = Instant::now();
    let mut last_delivered = 0;
    let probe_deadline = Instant::now() + PROBE_TIMEOUT + Duration::from_secs(1);
    let hard_deadline = probe_deadline + Duration::from_secs_f64(args.duration * 3.0 + 30.0);
    let end = loop {
        poll.poll(&mut events, Some(Duration::from_millis(20)))
            .map_err(poll_err)?;
        for ev in events.iter() {
            let sub = &mut subs[ev.token().0];
            if sub.closed {
                continue;
            }
            if !sub.on_readable(proto, &mut scratch, &mut tally) {
                sub.closed = true;
                tally.closed += 1;
                let _ = poll.registry().deregister(&mut sub.stream);
            }
        }
        if tally.probed == args.subs {
            shared.all_probed.store(true, Ordering::Release);
        }
        let now = Instant::now();
        if tally.delivered != last_delivered {
            last_delivered = tally.delivered;
            last_progress = now;
        }
        let done_sending = shared.done_sending.load(Ordering::Acquire);
        if done_sending
            && (tally.delivered >= expected || now.duration_since(last_progress) > DRAIN_IDLE)
        {
            break now;
        }
        if now > hard_deadline {
            break now;
        }
    };
    let cpu_end = cpu_all(&args.cpu_pids);
    shared.abort.store(true, Ordering::Release);
    let pub_result = publisher
        .join()
        .map_err(|_| "publisher thread panicked".to_string())?;
    // Once the measurement ended, the publisher's "stopped" is the expected way out.
    if let Err(e) = pub_result {
        if !e.starts_with("stopped by") {
            return Err(e);
        }
    }
    let cpu_end = cpu_end?;
    let Some((cpu_start, t0)) = shared.start.lock().expect("start lock").take() else {
        return Err("the measurement never started".into());
    };
    let sent = shared.sent.load(Ordering::Acquire);
    let wall = end.duration_since(t0).as_secs_f64();
    let cpu: Vec<f64> = cpu_end.iter().zip(&cpu_start).map(|(e, s)| e - s).collect();
    let cpu_total: f64 = cpu.iter().sum();
    tally.latencies.sort_unstable();
    let lat = &tally.latencies;
    let (p50, p99, p999, max) = (
        percentile(lat, 0.50),
        percentile(lat, 0.99),
        percentile(lat, 0.999),
        percentile(lat, 1.0),
    );
    let per_cpu_s = if cpu_total > 0.0 {
        tally.delivered as f64 / cpu_total
    } else {
        f64::NAN
    };
    let missing = (sent * args.subs as u64).saturating_sub(tally.delivered);
    let starved = subs.iter().filter(|s| s.received < sent).count();
    println!(
        "sent {sent} messages at {} /s, delivered {} of {} ({missing} missing, {} subscribers short, {} out of order, {} closed, {} protocol errors) in {wall:.2} s",
        args.rate,
        tally.delivered,
        sent * args.subs as u64,
        starved,
        tally.out_of_order,
        tally.closed,
        tally.protocol_errors
    );
    let cpu_list: Vec<String> = args
        .cpu_pids
        .iter()
        .zip(&cpu)
        .map(|(p, c)| format!("{p}: {c:.2} s"))
        .collect();
    println!(
        "CPU of the servers and Redis: {cpu_total:.2} s ({}); {per_cpu_s:.0} deliveries per CPU-second",
        cpu_list.join(", ")
    );
    println!("latency publish -> delivery: p50 {p50:.2} ms, p99 {p99:.2} ms, p99.9 {p999:.2} ms, max {max:.2} ms");
    let cpu_json: Vec<String> = cpu.iter().map(|c| format!("{c:.3}")).collect();
    println!(
        "RESULT {{\"proto\":\"{}\",\"subs\":{},\"rate\":{},\"sent\":{sent},\"delivered\":{},\"missing\":{missing},\"out_of_order\":{},\"closed\":{},\"wall_s\":{wall:.3},\"cpu_s\":[{}],\"cpu_total_s\":{cpu_total:.3},\"deliveries_per_cpu_s\":{per_cpu_s:.0},\"p50_ms\":{p50:.3},\"p99_ms\":{p99:.3},\"p999_ms\":{p999:.3},\"max_ms\":{max:.3}}}",
        match proto {
            Proto::Wirelane => "wirelane",
            Proto::SocketIo => "socketio",
        },
        args.subs,
        args.rate,
        tally.delivered,
        tally.out_of_order,
        tally.closed,
        cpu_json.join(",")
    );
    Ok(missing == 0 && tally.out_of_order == 0 && tally.protocol_errors == 0)
}
