//! The `custom_loop` binary as a process: graceful shutdown on SIGTERM/SIGINT (WebSockets
//! closed with 1001, idle connections closed, a request in progress answered, exit status
//! 0, bounded by the shutdown deadline) and the write deadline (a peer that stops reading
//! is dropped).
//!
//! Loopback only; every wait is bounded.

mod common;

use common::{read_close_code, send_close, ws_connect, Server};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const CUSTOM_LOOP: &str = env!("CARGO_BIN_EXE_custom_loop");

/// Sends `GET /` on `c` and reads one response (it fits in one read on loopback).
fn get_root(c: &mut TcpStream) -> String {
    c.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let mut buf = [0u8; 1024];
    let n = c.read(&mut buf).expect("response");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn connect(addr: std::net::SocketAddr) -> TcpStream {
    let c = TcpStream::connect(addr).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c
}

/// SIGTERM: an open WebSocket receives close 1001, an idle keep-alive connection is
/// closed, new connections are refused, a request whose head was still arriving is
/// answered with `connection: close`, and the process exits with status 0.
#[test]
fn sigterm_drains_connections_and_exits_0() {
    let mut server = Server::start(CUSTOM_LOOP, &[], None);
    let addr = server.addr;

    let mut idle = connect(addr);
    assert!(get_root(&mut idle).starts_with("HTTP/1.1 200"));
    // A round trip first, so the server has surely accepted this connection.
    let mut busy = connect(addr);
    assert!(get_root(&mut busy).starts_with("HTTP/1.1 200"));
    busy.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n").unwrap();
    let mut ws = ws_connect(addr, "/ws");
    // Let the server read the partial head before the signal comes.
    std::thread::sleep(Duration::from_millis(300));

    let t0 = Instant::now();
    server.signal("-TERM");

    assert_eq!(read_close_code(&mut ws), 1001);
    send_close(&mut ws, 1001);
    // The close frame was sent in the turn that handled the signal, after the listener
    // was closed.
    assert!(
        TcpStream::connect(addr).is_err(),
        "a new connection was accepted during the shutdown"
    );
    let mut buf = [0u8; 256];
    assert_eq!(idle.read(&mut buf).expect("eof"), 0, "idle not closed");

    busy.write_all(b"\r\n").unwrap();
    let mut response = Vec::new();
    busy.read_to_end(&mut response).expect("response, then EOF");
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response:?}");
    assert!(
        response.contains("\r\nconnection: close\r\n"),
        "{response:?}"
    );
    assert!(response.ends_with("Hello, World!"), "{response:?}");
    drop((idle, busy, ws));

    assert_eq!(
        server.wait_exit(Duration::from_secs(5)),
        Some(0),
        "custom_loop did not exit cleanly on SIGTERM"
    );
    assert!(t0.elapsed() < Duration::from_secs(5));
}

/// SIGINT starts the same shutdown; a WebSocket peer that never completes the close
/// handshake does not hold it up past `--shutdown-timeout-ms` (well before the
/// WebSocket's own 5 s close timeout).
#[test]
fn shutdown_deadline_bounds_the_drain() {
    let mut server = Server::start(CUSTOM_LOOP, &["--shutdown-timeout-ms", "300"], None);
    let mut ws = ws_connect(server.addr, "/");
    let t0 = Instant::now();
    server.signal("-INT");
    assert_eq!(read_close_code(&mut ws), 1001);
    // No close frame back: the server waits for one until the shutdown deadline.
    assert_eq!(server.wait_exit(Duration::from_secs(3)), Some(0));
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(250), "exited after {took:?}");
    drop(ws);
}

/// A client that sends a large message and never reads the echo: once the socket buffers
/// are full, no write makes progress, and after `--write-timeout-ms` the server closes
/// the connection; it goes on serving others.
#[test]
fn stalled_reader_is_closed_after_the_write_timeout() {
    // Far more than the loopback socket buffers hold while the client does not read (its
    // receive buffer grows only as it reads; the server's send buffer is at most
    // net.ipv4.tcp_wmem's maximum, 4 MiB by default).
    const LEN: usize = 32 << 20;
    let server = Server::start(CUSTOM_LOOP, &["--write-timeout-ms", "200"], None);
    let mut ws = ws_connect(server.addr, "/ws");
    ws.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    // A masked binary frame with mask key 0, so the payload goes as it is.
    let mut frame = vec![0x82, 0xff];
    frame.extend_from_slice(&(LEN as u64).to_be_bytes());
    frame.extend_from_slice(&[0; 4]);
    frame.resize(frame.len() + LEN, b'x');
    ws.write_all(&frame).expect("send the message");

    // Not reading, for well over the write timeout.
    std::thread::sleep(Duration::from_millis(1500));
    ws.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut got = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    let end = loop {
        match ws.read(&mut buf) {
            Ok(0) => break "eof".to_string(),
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break "reset".to_string(),
            Err(e) => break format!("{e}"),
        }
    };
    assert!(
        end == "eof" || end == "reset",
        "the connection stayed open ({end}, {got} bytes read)"
    );
    assert!(got < LEN, "the whole echo arrived ({got} bytes)");

    // Other connections are served as before.
    let mut ws = ws_connect(server.addr, "/ws");
    ws.write_all(&[0x81, 0x82, 0, 0, 0, 0, b'h', b'i']).unwrap();
    let mut echo = [0u8; 4];
    ws.read_exact(&mut echo).expect("echo");
    assert_eq!(echo, [0x81, 0x02, b'h', b'i']);
}
