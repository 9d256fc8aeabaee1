//! Push mode: many clients receiving one server-pushed stream (`echo --push-rate N`), over
//! a WebSocket, Server-Sent Events, HTTP long polling or HTTP short polling.
//!
//! ```text
//! loadgen --push ws|sse|long-poll|short-poll [--addr 127.0.0.1:9001] [--clients 1000]
//!         [--duration 5] [--warmup 1] [--interval 1] [--server-pid PID] [--json]
//! ```
//!
//! Each message carries the wall-clock time it was published (`{"seq":S,"t":UNIX_NANOS}`);
//! the client is on the same machine, so the delivery latency is its receive time minus
//! that stamp. After connecting every client and a warm-up, for `--duration` seconds it
//! counts messages delivered, their latency, the bytes each way on the sockets (HTTP and
//! framing included, TCP/IP headers not), and, with `--server-pid`, the server's CPU time
//! and its RSS with every client connected. Sequence gaps are reported as `missed`.
//! Short polling polls every `--interval` seconds, the clients spread evenly over it.

use super::{own_cpu_secs, vm_rss_kib, Epoll, Histogram};
use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Ws,
    Sse,
    LongPoll,
    ShortPoll,
}

struct PushArgs {
    addr: SocketAddr,
    mode: Mode,
    clients: usize,
    duration: f64,
    warmup: f64,
    interval: f64,
    server_pid: Option<u32>,
    json: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: loadgen --push ws|sse|long-poll|short-poll [--addr HOST:PORT] [--clients N]\n\
         \x20              [--duration SECS] [--warmup SECS] [--interval SECS] [--server-pid PID] [--json]"
    );
    std::process::exit(2)
}

/// Runs push mode when the arguments ask for it (`--push`); `None` otherwise.
pub fn run_if_asked() -> Option<bool> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if !argv.iter().any(|a| a == "--push") {
        return None;
    }
    let mut a = PushArgs {
        addr: "127.0.0.1:9001".parse().expect("valid default"),
        mode: Mode::Ws,
        clients: 1000,
        duration: 5.0,
        warmup: 1.0,
        interval: 1.0,
        server_pid: None,
        json: false,
    };
    let mut it = argv.into_iter();
    while let Some(flag) = it.next() {
        if flag == "--json" {
            a.json = true;
            continue;
        }
        let v = it.next().unwrap_or_else(|| usage());
        let bad = |_| usage();
        match flag.as_str() {
            "--addr" => a.addr = v.parse().unwrap_or_else(bad),
            "--push" => {
                a.mode = match v.as_str() {
                    "ws" => Mode::Ws,
                    "sse" => Mode::Sse,
                    "long-poll" => Mode::LongPoll,
                    "short-poll" => Mode::ShortPoll,
                    _ => usage(),
                }
            }
            "--clients" => a.clients = v.parse().unwrap_or_else(|_| usage()),
            "--duration" => a.duration = v.parse().unwrap_or_else(|_| usage()),
            "--warmup" => a.warmup = v.parse().unwrap_or_else(|_| usage()),
            "--interval" => a.interval = v.parse().unwrap_or_else(|_| usage()),
            "--server-pid" => a.server_pid = Some(v.parse().unwrap_or_else(|_| usage())),
            _ => usage(),
        }
    }
    if a.clients == 0 || a.duration <= 0.0 || a.interval <= 0.0 {
        usage();
    }
    Some(run(&a))
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64
}

/// Where a client's input parser is.
enum Phase {
    /// Waiting for an HTTP response head.
    Head,
    /// A long-poll or short-poll response body of this many bytes.
    Body(usize),
    /// An SSE body in chunked transfer coding.
    Chunked,
    /// An SSE body without framing (read until the connection closes).
    Raw,
    /// WebSocket frames.
    Frames,
}

struct Client {
    s: TcpStream,
    inbuf: Vec<u8>,
    /// Decoded SSE text not yet split into events.
    events: Vec<u8>,
    phase: Phase,
    /// The last sequence number seen, and the `after` of the next poll.
    last_seq: u64,
    after: Option<u64>,
    /// A poll is in flight.
    polling: bool,
    next_poll: Option<Instant>,
    dead: bool,
}

#[derive(Default)]
struct Counts {
    messages: u64,
    missed: u64,
    errors: u64,
    bytes_in: u64,
    bytes_out: u64,
    error_text: Vec<String>,
}

impl Counts {
    fn error(&mut self, text: String) {
        self.errors += 1;
        if self.error_text.len() < 10 {
            self.error_text.push(text);
        }
    }
}

fn server_cpu_ticks(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; count from after its ')'.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn clk_tck() -> f64 {
    // SAFETY: plain sysconf query.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

fn run(a: &PushArgs) -> bool {
    let rss_before = a.server_pid.and_then(vm_rss_kib);
    let mut counts = Counts::default();
    let mut clients = Vec::with_capacity(a.clients);
    let connect_start = Instant::now();
    for _ in 0..a.clients {
        match open(a) {
            Ok(c) => clients.push(c),
            Err(e) => {
                counts.error(e);
                if counts.errors > 20 {
                    break;
                }
            }
        }
    }
    let connect_s = connect_start.elapsed().as_secs_f64();
    let ep = Epoll::new();
    let start = Instant::now();
    let n = clients.len().max(1);
    for (i, c) in clients.iter_mut().enumerate() {
        c.s.set_nonblocking(true).expect("nonblocking");
        ep.add(c.s.as_raw_fd(), libc::EPOLLIN, i as u64);
        match a.mode {
            Mode::LongPoll => send_poll(c, a, &mut counts),
            Mode::ShortPoll => {
                let offset = a.interval * i as f64 / n as f64;
                c.next_poll = Some(start + Duration::from_secs_f64(offset));
            }
            _ => {}
        }
    }
    // Short polls are due in this order (each client's next one goes to the back).
    let mut due: VecDeque<usize> = (0..clients.len()).collect();
    let measure_from = start + Duration::from_secs_f64(a.warmup);
    let end = measure_from + Duration::from_secs_f64(a.duration);
    let mut measuring = false;
    let mut hist = Histogram::new();
    let mut cpu0 = None;
    let mut buf = vec![0u8; 256 * 1024];
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        if !measuring && now >= measure_from {
            measuring = true;
            counts = Counts {
                errors: counts.errors,
                error_text: std::mem::take(&mut counts.error_text),
                ..Counts::default()
            };
            hist = Histogram::new();
            cpu0 = a.server_pid.and_then(server_cpu_ticks);
        }
        // Short polls that are due.
        while let Some(&i) = due.front() {
            let c = &mut clients[i];
            match c.next_poll {
                Some(t) if t <= now => {
                    due.pop_front();
                    if !c.dead && !c.polling {
                        send_poll(c, a, &mut counts);
                    }
                    c.next_poll = Some(t + Duration::from_secs_f64(a.interval));
                    due.push_back(i);
                }
                _ => break,
            }
        }
        let next = due
            .front()
            .and_then(|&i| clients[i].next_poll)
            .unwrap_or(end)
            .min(end)
            .min(if measuring { end } else { measure_from });
        let ms = next.saturating_duration_since(now).as_millis().min(100) as i32;
        let got = ep.wait(&mut events, ms);
        for ev in &events[..got] {
            let i = ev.u64 as usize;
            let c = &mut clients[i];
            if c.dead {
                continue;
            }
            read_client(c, a, &mut buf, &mut hist, &mut counts);
            if c.dead {
                // Leave the epoll set, so a closed socket does not wake us up again.
                let _ = ep_del(&ep, c);
            }
        }
    }
    if !measuring {
        counts.error("the measurement never started (the client fell behind)".into());
    }
    let cpu1 = a.server_pid.and_then(server_cpu_ticks);
    let rss = a.server_pid.and_then(vm_rss_kib);
    let connected = clients.iter().filter(|c| !c.dead).count();
    drop(clients);

    let server_cpu_s = match (cpu0, cpu1) {
        (Some(x), Some(y)) => Some((y - x) as f64 / clk_tck()),
        _ => None,
    };
    let us = |q| hist.quantile(q) as f64 / 1000.0;
    let per_msg = |b: u64| {
        if counts.messages > 0 {
            b as f64 / counts.messages as f64
        } else {
            0.0
        }
    };
    let opt = |v: Option<f64>, d: usize| v.map_or("null".to_string(), |x| format!("{x:.d$}"));
    let mode = match a.mode {
        Mode::Ws => "ws",
        Mode::Sse => "sse",
        Mode::LongPoll => "long-poll",
        Mode::ShortPoll => "short-poll",
    };
    let rate = counts.messages as f64 / a.duration;
    let per_cpu = server_cpu_s
        .filter(|&c| c > 0.0)
        .map(|c| counts.messages as f64 / c);
    if a.json {
        println!(
            "{{\"mode\":\"push\",\"push\":\"{mode}\",\"clients\":{},\"connected\":{connected},\
             \"connect_s\":{connect_s:.3},\"duration\":{:.3},\"messages\":{},\"msgs_per_s\":{rate:.1},\
             \"p50_us\":{:.1},\"p99_us\":{:.1},\"p999_us\":{:.1},\"bytes_in\":{},\"bytes_out\":{},\
             \"bytes_per_msg\":{:.1},\"missed\":{},\"errors\":{},\"server_cpu_s\":{},\
             \"msgs_per_server_cpu_s\":{},\"rss_before_kib\":{},\"rss_kib\":{},\"client_cpu_s\":{:.3}}}",
            a.clients,
            a.duration,
            counts.messages,
            us(0.5),
            us(0.99),
            us(0.999),
            counts.bytes_in,
            counts.bytes_out,
            per_msg(counts.bytes_in + counts.bytes_out),
            counts.missed,
            counts.errors,
            opt(server_cpu_s, 3),
            opt(per_cpu, 0),
            rss_before.map_or("null".into(), |v| v.to_string()),
            rss.map_or("null".into(), |v| v.to_string()),
            own_cpu_secs()
        );
    } else {
        println!(
            "push {mode}: {connected}/{} clients, {} msgs in {:.1} s ({rate:.0}/s), latency p50 {:.1} us \
             p99 {:.1} us p999 {:.1} us, {:.1} B/msg on the wire, missed {}, errors {}, server CPU {} s \
             ({} msgs per server-CPU-s), server RSS {} -> {} KiB",
            a.clients,
            counts.messages,
            a.duration,
            us(0.5),
            us(0.99),
            us(0.999),
            per_msg(counts.bytes_in + counts.bytes_out),
            counts.missed,
            counts.errors,
            opt(server_cpu_s, 2),
            opt(per_cpu, 0),
            rss_before.map_or("?".into(), |v| v.to_string()),
            rss.map_or("?".into(), |v| v.to_string()),
        );
    }
    for e in counts.error_text.iter().take(5) {
        eprintln!("loadgen: {e}");
    }
    counts.errors == 0 && counts.messages > 0
}

fn ep_del(ep: &Epoll, c: &Client) -> Option<()> {
    let mut ev = libc::epoll_event { events: 0, u64: 0 };
    // SAFETY: valid descriptors and event.
    let r = unsafe { libc::epoll_ctl(ep.0, libc::EPOLL_CTL_DEL, c.s.as_raw_fd(), &mut ev) };
    (r == 0).then_some(())
}

/// Connects one client and starts its stream (WebSocket handshake; SSE request).
fn open(a: &PushArgs) -> Result<Client, String> {
    let (s, phase) = if a.mode == Mode::Ws {
        (super::connect_plain(a.addr, "/push/ws")?, Phase::Frames)
    } else {
        let s = TcpStream::connect_timeout(&a.addr, Duration::from_secs(10))
            .map_err(|e| format!("connect: {e}"))?;
        s.set_nodelay(true).map_err(|e| e.to_string())?;
        (s, Phase::Head)
    };
    let mut c = Client {
        s,
        inbuf: Vec::with_capacity(4096),
        events: Vec::new(),
        phase,
        last_seq: 0,
        after: None,
        polling: false,
        next_poll: None,
        dead: false,
    };
    if a.mode == Mode::Sse {
        let req = format!(
            "GET /push/sse HTTP/1.1\r\nhost: {}\r\naccept: text/event-stream\r\n\r\n",
            a.addr
        );
        c.s.write_all(req.as_bytes())
            .map_err(|e| format!("write: {e}"))?;
    }
    Ok(c)
}

/// Sends the next poll (the request is small: one write does it on a fresh socket buffer).
fn send_poll(c: &mut Client, a: &PushArgs, counts: &mut Counts) {
    let wait = if a.mode == Mode::ShortPoll {
        "&wait=0"
    } else {
        ""
    };
    let after = c.after.map_or(String::new(), |s| s.to_string());
    let req = format!(
        "GET /push/poll?after={after}{wait} HTTP/1.1\r\nhost: {}\r\n\r\n",
        a.addr
    );
    match c.s.write(req.as_bytes()) {
        Ok(n) if n == req.len() => {
            counts.bytes_out += n as u64;
            c.polling = true;
        }
        Ok(_) => {
            c.dead = true;
            counts.error("short write of a poll request".into());
        }
        Err(e) => {
            c.dead = true;
            counts.error(format!("write: {e}"));
        }
    }
}

fn read_client(
    c: &mut Client,
    a: &PushArgs,
    buf: &mut [u8],
    hist: &mut Histogram,
    counts: &mut Counts,
) {
    // A few reads at most: the socket stays ready (level-triggered), and one busy client
    // must not starve the others or the clock.
    for _ in 0..4 {
        match c.s.read(buf) {
            Ok(0) => {
                c.dead = true;
                counts.error("server closed the connection".into());
                return;
            }
            Ok(n) => {
                counts.bytes_in += n as u64;
                c.inbuf.extend_from_slice(&buf[..n]);
                if n < buf.len() {
                    break;
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => {
                c.dead = true;
                counts.error(format!("read: {e}"));
                return;
            }
        }
    }
    let now = now_ns();
    let mut msgs: Vec<Vec<u8>> = Vec::new();
    let used = parse(c, a, &mut msgs, counts);
    c.inbuf.drain(..used);
    for m in msgs {
        on_message(c, &m, now, hist, counts);
    }
    if matches!(a.mode, Mode::LongPoll) && !c.polling && !c.dead {
        send_poll(c, a, counts);
    }
}

/// Parses what `c.inbuf` holds, collecting the messages; returns the bytes consumed.
fn parse(c: &mut Client, a: &PushArgs, msgs: &mut Vec<Vec<u8>>, counts: &mut Counts) -> usize {
    let b = &c.inbuf;
    let mut at = 0;
    loop {
        let rest = &b[at..];
        match c.phase {
            Phase::Frames => {
                if rest.len() < 2 {
                    return at;
                }
                let (hdr, len) = match rest[1] & 0x7f {
                    126 if rest.len() >= 4 => (4, u16::from_be_bytes([rest[2], rest[3]]) as usize),
                    127 if rest.len() >= 10 => (
                        10,
                        u64::from_be_bytes(rest[2..10].try_into().expect("8 bytes")) as usize,
                    ),
                    126 | 127 => return at,
                    l => (2, l as usize),
                };
                if rest.len() < hdr + len {
                    return at;
                }
                match rest[0] & 0x0f {
                    0x1 => msgs.push(rest[hdr..hdr + len].to_vec()),
                    0x8 => {
                        c.dead = true;
                        counts.error("server sent close".into());
                    }
                    _ => {}
                }
                at += hdr + len;
            }
            Phase::Head => {
                let Some(end) = find(rest, b"\r\n\r\n") else {
                    return at;
                };
                let head = String::from_utf8_lossy(&rest[..end]).to_ascii_lowercase();
                at += end + 4;
                if !head.starts_with("http/1.1 200") {
                    c.dead = true;
                    counts.error(format!("response: {}", head.lines().next().unwrap_or("")));
                    return at;
                }
                let header = |name: &str| {
                    head.lines()
                        .filter_map(|l| l.split_once(':'))
                        .find(|(n, _)| n.trim() == name)
                        .map(|(_, v)| v.trim().to_string())
                };
                if a.mode == Mode::Sse {
                    c.phase = if header("transfer-encoding").is_some_and(|v| v.contains("chunked"))
                    {
                        Phase::Chunked
                    } else {
                        Phase::Raw
                    };
                } else {
                    c.after = header("x-seq").and_then(|v| v.parse().ok()).or(c.after);
                    let len = header("content-length").and_then(|v| v.parse().ok());
                    c.phase = Phase::Body(len.unwrap_or(0));
                }
            }
            Phase::Body(len) => {
                if rest.len() < len {
                    return at;
                }
                msgs.extend(
                    rest[..len]
                        .split(|&x| x == b'\n')
                        .filter(|l| !l.is_empty())
                        .map(<[u8]>::to_vec),
                );
                at += len;
                c.phase = Phase::Head;
                c.polling = false;
            }
            Phase::Chunked => {
                let Some(line) = find(rest, b"\r\n") else {
                    return at;
                };
                let size_text = String::from_utf8_lossy(&rest[..line]);
                let size_hex = size_text.split(';').next().unwrap_or("").trim();
                let Ok(size) = usize::from_str_radix(size_hex, 16) else {
                    c.dead = true;
                    counts.error(format!("bad chunk size {size_hex:?}"));
                    return at;
                };
                if size == 0 {
                    c.dead = true;
                    counts.error("event stream ended".into());
                    return at;
                }
                if rest.len() < line + 2 + size + 2 {
                    return at;
                }
                c.events.extend_from_slice(&rest[line + 2..line + 2 + size]);
                at += line + 2 + size + 2;
                take_events(&mut c.events, msgs);
            }
            Phase::Raw => {
                c.events.extend_from_slice(rest);
                take_events(&mut c.events, msgs);
                return b.len();
            }
        }
    }
}

/// Moves the `data:` of every complete event out of `events`.
fn take_events(events: &mut Vec<u8>, msgs: &mut Vec<Vec<u8>>) {
    let mut used = 0;
    while let Some(end) = find(&events[used..], b"\n\n") {
        for line in events[used..used + end].split(|&x| x == b'\n') {
            if let Some(data) = line.strip_prefix(b"data: ") {
                msgs.push(data.to_vec());
            }
        }
        used += end + 2;
    }
    events.drain(..used);
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The number after `"key":` in a message.
fn field(msg: &[u8], key: &[u8]) -> Option<u64> {
    let at = find(msg, key)? + key.len();
    let digits = msg[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&msg[at..at + digits])
        .ok()?
        .parse()
        .ok()
}

fn on_message(c: &mut Client, m: &[u8], now: u64, hist: &mut Histogram, counts: &mut Counts) {
    let (Some(seq), Some(t)) = (field(m, b"\"seq\":"), field(m, b"\"t\":")) else {
        counts.error(format!(
            "not a push message: {:?}",
            String::from_utf8_lossy(m)
        ));
        return;
    };
    if c.last_seq != 0 {
        if seq <= c.last_seq {
            counts.error(format!("message {seq} again or out of order"));
            return;
        }
        counts.missed += seq - c.last_seq - 1;
    }
    c.last_seq = seq;
    counts.messages += 1;
    hist.record(now.saturating_sub(t));
}
