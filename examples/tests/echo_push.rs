//! The `echo` binary's pushed stream (`--push-rate`), as a process: the same messages, in
//! order, over a WebSocket, Server-Sent Events, long polling and short polling. Behaviour
//! only; the speeds are measured by `examples/peers/compare.sh`, not asserted here.
//!
//! Loopback only; every wait is bounded.

mod common;

use common::{ws_connect, Server};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const ECHO: &str = env!("CARGO_BIN_EXE_echo");

/// The `seq` of every `{"seq":S,"t":T}` in `text`, in order.
fn seqs(text: &str) -> Vec<u64> {
    text.split("{\"seq\":")
        .skip(1)
        .filter_map(|rest| rest.split(',').next()?.parse().ok())
        .collect()
}

fn consecutive(s: &[u64]) -> bool {
    s.windows(2).all(|w| w[1] == w[0] + 1)
}

/// Reads from `c` until `done` says so about what has arrived, for at most 5 s.
fn read_until(c: &mut TcpStream, done: impl Fn(&str) -> bool) -> String {
    c.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline && !done(&String::from_utf8_lossy(&got)) {
        match c.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => continue,
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// One GET on a fresh connection; the whole response (head and body).
fn get(addr: SocketAddr, target: &str) -> String {
    let mut c = TcpStream::connect(addr).expect("connect");
    write!(c, "GET {target} HTTP/1.1\r\nhost: t\r\n\r\n").unwrap();
    read_until(&mut c, |r| {
        let Some((head, body)) = r.split_once("\r\n\r\n") else {
            return false;
        };
        let len = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|v| v.trim().parse::<usize>().ok());
        len.is_some_and(|n| body.len() >= n)
    })
}

fn header(response: &str, name: &str) -> Option<u64> {
    response
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn one_stream_four_ways() {
    let server = Server::start(ECHO, &["--push-rate", "100"], None);
    let addr = server.addr;

    // WebSocket: text frames, consecutive.
    let mut ws = ws_connect(addr, "/push/ws");
    let text = read_until(&mut ws, |t| seqs(t).len() >= 5);
    let s = seqs(&text);
    assert!(s.len() >= 5 && consecutive(&s), "ws: {s:?}");

    // SSE: one `data:` event per message, consecutive.
    let mut sse = TcpStream::connect(addr).expect("connect");
    sse.write_all(b"GET /push/sse HTTP/1.1\r\nhost: t\r\n\r\n")
        .unwrap();
    let text = read_until(&mut sse, |t| seqs(t).len() >= 5);
    assert!(text.contains("text/event-stream"), "sse head: {text}");
    assert!(text.contains("data: {\"seq\":"), "sse: {text}");
    let s = seqs(&text);
    assert!(s.len() >= 5 && consecutive(&s), "sse: {s:?}");

    // Long polling: waits for the next message; `after` picks up where the last ended.
    let first = get(addr, "/push/poll");
    let last = header(&first, "x-seq").expect("x-seq");
    assert_eq!(seqs(&first).last(), Some(&last), "{first}");
    std::thread::sleep(Duration::from_millis(100));
    let next = get(addr, &format!("/push/poll?after={last}"));
    let s = seqs(&next);
    assert!(s.first() == Some(&(last + 1)) && consecutive(&s), "{next}");

    // Short polling: answers at once, with what came since `after`.
    let now = get(addr, &format!("/push/poll?after={}&wait=0", u64::MAX - 1));
    assert!(now.starts_with("HTTP/1.1 200"), "{now}");
    assert!(seqs(&now).is_empty(), "{now}");
    let since = header(&next, "x-seq").expect("x-seq");
    let caught_up = get(addr, &format!("/push/poll?after={since}&wait=0"));
    let s = seqs(&caught_up);
    assert!(
        s.is_empty() || (s[0] == since + 1 && consecutive(&s)),
        "{caught_up}"
    );
}
