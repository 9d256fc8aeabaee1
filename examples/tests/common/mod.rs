//! What the process tests share: an example binary run as a child process on a free
//! loopback port, signals, and a raw-TCP WebSocket client just large enough to check
//! close frames. Every wait is bounded.

// Each test file uses its own part of this module.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use wirelane_core::proto::ws::client::upgrade_request;
use wirelane_core::proto::ws::{encode_client_frame, Opcode};

/// A running example binary; killed if a test ends (or fails) before it exits.
pub struct Server {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Server {
    /// Starts `bin --addr 127.0.0.1:0 ARGS...`, with at most `nofile` open files if given,
    /// and waits for its `listening on ADDR` line.
    pub fn start(bin: &str, args: &[&str], nofile: Option<u32>) -> Server {
        let mut cmd = match nofile {
            // `ulimit` is a shell builtin; `exec` keeps the pid, so signals reach the server.
            Some(n) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                    .arg(bin);
                c
            }
            None => Command::new(bin),
        };
        cmd.args(["--addr", "127.0.0.1:0"]).args(args);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start {bin}: {e}"));
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            // Keep draining so the server never blocks on a full pipe.
            for _ in lines {}
        });
        let line = match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{bin} did not print its address");
            }
        };
        let addr = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .trim()
            .parse()
            .expect("address");
        Server { child, addr }
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Sends a signal with `kill`, e.g. `-TERM`.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill {sig} failed");
    }

    /// Waits for the exit, at most `limit`; its exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
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

impl Drop for Server {
    fn drop(&mut self) {
        if self.running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Opens a WebSocket on `path` (raw TCP, read timeout 5 s) and reads the 101 head.
pub fn ws_connect(addr: SocketAddr, path: &str) -> TcpStream {
    let mut ws = TcpStream::connect(addr).expect("connect");
    ws.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    ws.write_all(&upgrade_request("t", path, "dGhlIHNhbXBsZSBub25jZQ==", &[]))
        .unwrap();
    // Byte by byte, so nothing after the head is consumed.
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
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    ws
}

/// Reads one frame, which must be a (final, unmasked) close frame; its status code.
pub fn read_close_code(ws: &mut TcpStream) -> u16 {
    let mut hdr = [0u8; 2];
    ws.read_exact(&mut hdr).expect("close frame");
    assert_eq!(hdr[0], 0x88, "expected a final close frame");
    let mut payload = vec![0u8; (hdr[1] & 0x7f) as usize];
    ws.read_exact(&mut payload).expect("close payload");
    assert!(payload.len() >= 2, "close frame without a code");
    u16::from_be_bytes([payload[0], payload[1]])
}

/// Sends a masked close frame with `code`.
pub fn send_close(ws: &mut TcpStream, code: u16) {
    let mut frame = Vec::new();
    encode_client_frame(
        true,
        Opcode::Close,
        &code.to_be_bytes(),
        [1, 2, 3, 4],
        &mut frame,
    );
    ws.write_all(&frame).unwrap();
}
