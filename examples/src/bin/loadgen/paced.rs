//! Paced mode: latency at a fixed offered load.
//!
//! ```text
//! loadgen --rate R [--addr 127.0.0.1:9001] [--path /ws] [--conns 64] [--active N]
//!         [--size 32] [--duration 5] [--json]
//! ```
//!
//! Opens `--conns` WebSocket connections, of which the first `--active` (default: all)
//! send; messages go out on a fixed schedule, R a second in all, round-robin over the
//! active connections, whatever the replies do (an open loop). A message's latency runs
//! from the time it was due, not the time it left, so a server (or a load generator) that
//! falls behind shows it in the tail instead of hiding it. Replies are verified as in load
//! mode. Reports p50/p99/p99.9, the rate achieved, and how far sending fell behind schedule.

use super::{
    connect_plain, own_cpu_secs, Epoll, Expect, Histogram, Patterns, Reader, Seen, PATTERNS,
};
use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

struct PacedArgs {
    addr: SocketAddr,
    path: String,
    conns: usize,
    active: Option<usize>,
    size: usize,
    rate: f64,
    duration: f64,
    json: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: loadgen --rate R [--addr HOST:PORT] [--path /ws] [--conns C] [--active N]\n\
         \x20              [--size S] [--duration SECS] [--json]"
    );
    std::process::exit(2)
}

/// Runs paced mode when the arguments ask for it (`--rate`); `None` otherwise.
pub fn run_if_asked() -> Option<bool> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if !argv.iter().any(|a| a == "--rate") {
        return None;
    }
    let mut a = PacedArgs {
        addr: "127.0.0.1:9001".parse().expect("valid default"),
        path: "/ws".into(),
        conns: 64,
        active: None,
        size: 32,
        rate: 0.0,
        duration: 5.0,
        json: false,
    };
    let mut it = argv.into_iter();
    while let Some(flag) = it.next() {
        if flag == "--json" {
            a.json = true;
            continue;
        }
        let v = it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--addr" => a.addr = v.parse().unwrap_or_else(|_| usage()),
            "--path" => a.path = v,
            "--conns" | "-c" => a.conns = v.parse().unwrap_or_else(|_| usage()),
            "--active" => a.active = Some(v.parse().unwrap_or_else(|_| usage())),
            "--size" | "-s" => a.size = v.parse().unwrap_or_else(|_| usage()),
            "--rate" => a.rate = v.parse().unwrap_or_else(|_| usage()),
            "--duration" | "-d" => a.duration = v.parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    let active = a.active.unwrap_or(a.conns);
    if a.conns == 0 || active == 0 || active > a.conns || a.rate <= 0.0 || a.duration <= 0.0 {
        usage();
    }
    Some(run(&a, active))
}

struct Conn {
    s: TcpStream,
    reader: Reader,
    sent: usize,
    received: usize,
    /// When each message in flight was due, oldest first.
    due: VecDeque<Instant>,
    out: Vec<u8>,
    out_pos: usize,
    want_out: bool,
    dead: bool,
}

fn run(a: &PacedArgs, active: usize) -> bool {
    let p = Patterns::new(a.size, false);
    let mut errors: Vec<String> = Vec::new();
    let mut conns = Vec::with_capacity(a.conns);
    let connect_start = Instant::now();
    for _ in 0..a.conns {
        match connect_plain(a.addr, &a.path) {
            Ok(s) => conns.push(s),
            Err(e) => {
                errors.push(e);
                if errors.len() > 20 {
                    break;
                }
            }
        }
    }
    let connect_s = connect_start.elapsed().as_secs_f64();
    let active = active.min(conns.len());
    let ep = Epoll::new();
    let mut conns: Vec<Conn> = conns
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            s.set_nonblocking(true).expect("nonblocking");
            ep.add(s.as_raw_fd(), libc::EPOLLIN, i as u64);
            Conn {
                s,
                reader: Reader::new(false),
                sent: 0,
                received: 0,
                due: VecDeque::new(),
                out: Vec::new(),
                out_pos: 0,
                want_out: false,
                dead: false,
            }
        })
        .collect();
    let mut hist = Histogram::new();
    let (mut sent, mut received, mut errs) = (0u64, 0u64, errors.len() as u64);
    let mut max_lag = Duration::ZERO;
    let mut buf = vec![0u8; 256 * 1024];
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    let start = Instant::now();
    // With no connection there is nothing to send: end at once.
    let end = start + Duration::from_secs_f64(if active == 0 { 0.0 } else { a.duration });
    let interval = Duration::from_secs_f64(1.0 / a.rate);
    let mut touched: Vec<usize> = Vec::new();
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        // Queue every message that is due by now, then write each connection's batch.
        loop {
            let due = start + interval.mul_f64(sent as f64);
            if due > now || due >= end {
                break;
            }
            max_lag = max_lag.max(now - due);
            let i = sent as usize % active;
            let c = &mut conns[i];
            if !c.dead {
                c.out.extend_from_slice(&p.frames[c.sent % PATTERNS]);
                c.sent += 1;
                c.due.push_back(due);
                if c.out.len() == p.frames[0].len() {
                    touched.push(i);
                }
            }
            sent += 1;
        }
        for i in touched.drain(..) {
            errs += flush(&ep, i, &mut conns[i], &mut errors);
        }
        let next_due = start + interval.mul_f64(sent as f64);
        let wait = next_due.min(end).saturating_duration_since(Instant::now());
        // Under a millisecond: poll without sleeping, so messages leave on time.
        let ms = if wait < Duration::from_millis(1) {
            0
        } else {
            (wait.as_millis() as i32 - 1).clamp(0, 100)
        };
        let n = ep.wait(&mut events, ms);
        for ev in &events[..n] {
            let (flags, i) = (ev.events, ev.u64 as usize);
            let c = &mut conns[i];
            if c.dead {
                continue;
            }
            if flags & libc::EPOLLOUT as u32 != 0 {
                errs += flush(&ep, i, c, &mut errors);
            }
            if flags & (libc::EPOLLIN | libc::EPOLLHUP | libc::EPOLLERR) as u32 != 0 {
                let (got, e) = read(c, &p, &mut buf, &mut hist, &mut errors);
                received += got;
                errs += e;
            }
        }
    }
    // Say goodbye; what is still in flight is not counted.
    drop(conns);
    let us = |q| hist.quantile(q) as f64 / 1000.0;
    let rate = received as f64 / a.duration;
    if a.json {
        println!(
            "{{\"mode\":\"paced\",\"conns\":{},\"active\":{active},\"size\":{},\"rate\":{:.1},\
             \"duration\":{:.3},\"connect_s\":{connect_s:.3},\"sent\":{sent},\"messages\":{received},\
             \"msgs_per_s\":{rate:.1},\"p50_us\":{:.1},\"p99_us\":{:.1},\"p999_us\":{:.1},\
             \"max_send_lag_us\":{:.0},\"errors\":{errs},\"client_cpu_s\":{:.3}}}",
            a.conns,
            a.size,
            a.rate,
            a.duration,
            us(0.5),
            us(0.99),
            us(0.999),
            max_lag.as_secs_f64() * 1e6,
            own_cpu_secs()
        );
    } else {
        println!(
            "{} conns ({active} active) x {} B at {:.0} msgs/s for {:.1} s: sent {sent}, received \
             {received} ({rate:.0}/s), latency p50 {:.1} us p99 {:.1} us p999 {:.1} us, sending fell \
             behind by up to {:.0} us, errors {errs}, loadgen CPU {:.2} s",
            a.conns,
            a.size,
            a.rate,
            a.duration,
            us(0.5),
            us(0.99),
            us(0.999),
            max_lag.as_secs_f64() * 1e6,
            own_cpu_secs()
        );
    }
    for e in errors.iter().take(5) {
        eprintln!("loadgen: {e}");
    }
    errs == 0 && received > 0
}

/// Writes what is queued; returns the errors (0 or 1).
fn flush(ep: &Epoll, i: usize, c: &mut Conn, errors: &mut Vec<String>) -> u64 {
    while c.out_pos < c.out.len() {
        match c.s.write(&c.out[c.out_pos..]) {
            Ok(k) => c.out_pos += k,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => {
                c.dead = true;
                errors.push(format!("write: {e}"));
                return 1;
            }
        }
    }
    if c.out_pos == c.out.len() {
        c.out.clear();
        c.out_pos = 0;
    }
    let want = !c.out.is_empty();
    if want != c.want_out {
        let ev = if want {
            libc::EPOLLIN | libc::EPOLLOUT
        } else {
            libc::EPOLLIN
        };
        ep.modify(c.s.as_raw_fd(), ev, i as u64);
        c.want_out = want;
    }
    0
}

/// Reads replies and records their latency; returns (messages, errors).
fn read(
    c: &mut Conn,
    p: &Patterns,
    buf: &mut [u8],
    hist: &mut Histogram,
    errors: &mut Vec<String>,
) -> (u64, u64) {
    let n = match c.s.read(buf) {
        Ok(0) => {
            c.dead = true;
            errors.push("server closed the connection".into());
            return (0, 1);
        }
        Ok(n) => n,
        Err(e) if e.kind() == ErrorKind::WouldBlock => return (0, 0),
        Err(e) => {
            c.dead = true;
            errors.push(format!("read: {e}"));
            return (0, 1);
        }
    };
    let now = Instant::now();
    let expected = Expect {
        payloads: &p.payloads,
        base: c.received,
    };
    let mut seen = Seen::default();
    c.reader.feed(&buf[..n], &expected, &mut seen);
    let mut errs = seen.errors as u64;
    if seen.closed {
        c.dead = true;
        errs += 1;
        errors.push("server sent close".into());
    }
    for _ in 0..seen.messages {
        c.received += 1;
        match c.due.pop_front() {
            Some(due) => hist.record(now.duration_since(due).as_nanos() as u64),
            None => errs += 1,
        }
    }
    if errs > 0 && errors.len() < 10 {
        errors.push(format!("bad reply after message {}", c.received));
    }
    (seen.messages as u64, errs)
}
