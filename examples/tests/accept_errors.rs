//! The `echo` binary as a process: an accept error (EMFILE) does not stop the server, and
//! SIGTERM shuts it down cleanly (exit status 0), closing WebSockets with 1001.
//!
//! Loopback only; every wait is bounded.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use wirelane_core::proto::ws::client::upgrade_request;
use wirelane_core::proto::ws::{encode_client_frame, Opcode};

const ECHO: &str = env!("CARGO_BIN_EXE_echo");

/// The echo process; killed if a test fails before it exits.
struct Echo {
    child: Child,
    addr: SocketAddr,
}

impl Echo {
    /// Starts `echo --addr 127.0.0.1:0`, with at most `nofile` open files if given, and
    /// waits for its `listening on ADDR` line.
    fn start(nofile: Option<u32>) -> Echo {
        let mut cmd = match nofile {
            // `ulimit` is a shell builtin; `exec` keeps the pid, so signals reach echo.
            Some(n) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!("ulimit -n {n} && exec \"$0\" --addr 127.0.0.1:0"))
                    .arg(ECHO);
                c
            }
            None => {
                let mut c = Command::new(ECHO);
                c.args(["--addr", "127.0.0.1:0"]);
                c
            }
        };
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start echo");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            // Keep draining so echo never blocks on a full pipe.
            for _ in lines {}
        });
        let line = match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!("echo did not print its address");
            }
        };
        let addr = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .trim()
            .parse()
            .expect("address");
        Echo { child, addr }
    }

    fn running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill {sig} failed");
    }

    /// Waits for the exit, at most `limit`; its exit code.
    fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status.code().unwrap_or(-1));
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        if self.running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

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
    let mut echo = Echo::start(Some(64));
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
    let mut echo = Echo::start(None);

    let mut idle = TcpStream::connect(echo.addr).expect("connect");
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    idle.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = idle.read(&mut buf).expect("response");
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));

    let mut ws = TcpStream::connect(echo.addr).expect("connect");
    ws.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    ws.write_all(&upgrade_request(
        "t",
        "/ws",
        "dGhlIHNhbXBsZSBub25jZQ==",
        &[],
    ))
    .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        assert_eq!(
            ws.read(&mut b).expect("handshake"),
            1,
            "closed in handshake"
        );
        head.push(b[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{head:?}");

    let t0 = Instant::now();
    echo.signal("-TERM");

    // The WebSocket gets a close frame with 1001 and answers it.
    let mut hdr = [0u8; 2];
    ws.read_exact(&mut hdr).expect("close frame");
    assert_eq!(hdr[0], 0x88, "expected a final close frame");
    let mut payload = vec![0u8; (hdr[1] & 0x7f) as usize];
    ws.read_exact(&mut payload).expect("close payload");
    assert!(payload.len() >= 2);
    assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 1001);
    let mut reply = Vec::new();
    encode_client_frame(
        true,
        Opcode::Close,
        &1001u16.to_be_bytes(),
        [1, 2, 3, 4],
        &mut reply,
    );
    ws.write_all(&reply).unwrap();

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
