//! The `echo` binary as a process: an accept error (EMFILE) does not stop the server, and
//! SIGTERM shuts it down cleanly (exit status 0), closing WebSockets with 1001.
//!
//! Loopback only; every wait is bounded.

mod common;

use common::{read_close_code, send_close, ws_connect, Server};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const ECHO: &str = env!("CARGO_BIN_EXE_echo");

/// Sends `GET /` and reads the response, within `limit`; the raw response if complete.
fn get_root(addr: SocketAddr, limit: Duration) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, limit).ok()?;
    s.set_read_timeout(Some(limit)).ok()?;
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    text.ends_with("Hello, World!").then_some(text)
}

/// With 64 file descriptors, 150 connections exhaust the server's fd table (accept fails
/// with EMFILE: some connections are never served). Once they are closed, the server
/// accepts and answers again.
#[test]
fn emfile_does_not_stop_the_server() {
    const CONNS: usize = 150;
    let mut echo = Server::start(ECHO, &[], Some(64));
    assert!(get_root(echo.addr, Duration::from_secs(5)).is_some());

    let mut conns = Vec::with_capacity(CONNS);
    for _ in 0..CONNS {
        // The kernel completes connects from the listen backlog even when the server
        // cannot accept them.
        let mut s = TcpStream::connect_timeout(&echo.addr, Duration::from_secs(2))
            .expect("connect (backlog)");
        s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            .expect("write");
        conns.push(s);
    }
    // Served connections answer quickly; give them time, then look without waiting.
    std::thread::sleep(Duration::from_millis(1500));
    let mut answered = 0;
    for s in &mut conns {
        s.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
        let mut buf = [0u8; 256];
        if matches!(s.read(&mut buf), Ok(n) if n > 0 && buf.starts_with(b"HTTP/1.1 200")) {
            answered += 1;
        }
    }
    assert!(answered > 0, "no connection was served at all");
    assert!(
        answered < CONNS,
        "all {CONNS} connections were served: the fd limit was not reached, so this test \
         proves nothing"
    );
    assert!(echo.running(), "echo died on EMFILE");

    drop(conns);
    // Accept errors are retried with a back-off of at most 500 ms.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if get_root(echo.addr, Duration::from_secs(1)).is_some() {
            break;
        }
        assert!(echo.running(), "echo died after EMFILE");
        assert!(
            Instant::now() < deadline,
            "echo stopped answering after EMFILE ({answered} of {CONNS} were served before)"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // And it keeps answering.
    for _ in 0..5 {
        assert!(get_root(echo.addr, Duration::from_secs(2)).is_some());
    }
    echo.signal("-TERM");
    assert_eq!(echo.wait_exit(Duration::from_secs(10)), Some(0));
}

/// SIGTERM: an open WebSocket receives close 1001, an idle keep-alive connection is
/// closed, and echo exits with status 0 promptly.
#[test]
fn sigterm_exits_cleanly() {
    let mut echo = Server::start(ECHO, &[], None);

    let mut idle = TcpStream::connect(echo.addr).expect("connect");
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    idle.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = idle.read(&mut buf).expect("response");
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));

    let mut ws = ws_connect(echo.addr, "/ws");

    let t0 = Instant::now();
    echo.signal("-TERM");

    // The WebSocket gets a close frame with 1001 and answers it.
    assert_eq!(read_close_code(&mut ws), 1001);
    send_close(&mut ws, 1001);

    // The idle connection is closed.
    assert_eq!(idle.read(&mut buf).expect("eof"), 0);
    drop(idle);
    drop(ws);

    assert_eq!(
        echo.wait_exit(Duration::from_secs(5)),
        Some(0),
        "echo did not exit cleanly on SIGTERM"
    );
    assert!(t0.elapsed() < Duration::from_secs(5));
}
