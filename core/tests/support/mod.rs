//! The client side of the driver tests on the memory runtime: request builders, a minimal
//! HTTP response parser, WebSocket client frames and a server frame parser.
//!
//! Shared by `driver_harness` and `driver_random`; each uses a part of it.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;
use wirelane_core::app::memory::{Faults, MemClient, MemRuntime};
use wirelane_core::app::{Context, Server, ServerHandle};
use wirelane_core::proto::ws::client::upgrade_request;
use wirelane_core::proto::ws::{encode_client_frame, Opcode};

/// Builds a server on `rt` (configured by `setup`), starts it, and returns its handle.
pub fn start<F, Fut>(rt: &MemRuntime, setup: F) -> ServerHandle
where
    F: FnOnce(Server<MemRuntime>) -> Fut,
    Fut: Future<Output = Server<MemRuntime>>,
{
    let server = Server::with_runtime(rt.clone());
    rt.block_on(async {
        server.port(0).await;
        let server = setup(server).await;
        server.start().await.expect("server starts")
    })
}

/// Connects with `faults` and lets the server accept.
pub fn connect(rt: &MemRuntime, handle: &ServerHandle, faults: Faults) -> MemClient {
    let c = rt
        .connect_with(handle.local_addr(), faults)
        .expect("connect");
    rt.run_until_idle();
    c
}

/// Everything ended: no connection and no deadline left.
pub fn assert_clean(handle: &ServerHandle) {
    assert_eq!(handle.connections(), 0, "connections left open");
    assert_eq!(handle.armed_deadlines(), 0, "deadlines left armed");
}

/// Advances the clock by `secs` seconds and runs what became due.
pub fn advance(rt: &MemRuntime, secs: u64) {
    rt.advance(Duration::from_secs(secs));
    rt.run_until_idle();
}

pub fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes()
}

pub fn post(path: &str, body: &[u8]) -> Vec<u8> {
    let mut v = format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    v.extend_from_slice(body);
    v
}

/// A POST whose body is sent in chunked encoding, one chunk per piece (empty pieces are
/// left out: an empty chunk ends the body).
pub fn post_chunked(path: &str, pieces: &[&[u8]]) -> Vec<u8> {
    let mut v = format!("POST {path} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        .into_bytes();
    for p in pieces.iter().filter(|p| !p.is_empty()) {
        v.extend_from_slice(format!("{:x}\r\n", p.len()).as_bytes());
        v.extend_from_slice(p);
        v.extend_from_slice(b"\r\n");
    }
    v.extend_from_slice(b"0\r\n\r\n");
    v
}

pub const WS_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub const WS_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// The opening handshake for `path`, written by the core's client module.
pub fn upgrade(path: &str) -> Vec<u8> {
    upgrade_request("t", path, WS_KEY, &[])
}

/// A parsed HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn body_str(&self) -> &str {
        std::str::from_utf8(&self.body).expect("UTF-8 body")
    }
}

/// Parses the first complete response in `buf` and removes it; `None` if incomplete.
/// Enough for these tests: Content-Length, chunked (no trailers) and 1xx/101 heads.
pub fn take_response(buf: &mut Vec<u8>) -> Option<Response> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buf[..end]).expect("UTF-8 head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let status: u16 = status_line.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').expect("header line");
            (n.trim().to_string(), v.trim().to_string())
        })
        .collect();
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let (body, used) = if status < 200 || status == 204 || status == 304 {
        (Vec::new(), end)
    } else if let Some(len) = find("content-length") {
        let len: usize = len.parse().expect("content-length");
        if buf.len() < end + len {
            return None;
        }
        (buf[end..end + len].to_vec(), end + len)
    } else if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let mut body = Vec::new();
        let mut at = end;
        loop {
            let line_end = buf[at..].windows(2).position(|w| w == b"\r\n")? + at;
            let size_text = std::str::from_utf8(&buf[at..line_end]).expect("chunk size");
            let size =
                usize::from_str_radix(size_text.split(';').next()?.trim(), 16).expect("chunk size");
            at = line_end + 2;
            if size == 0 {
                if buf.len() < at + 2 {
                    return None;
                }
                assert_eq!(&buf[at..at + 2], b"\r\n", "trailers are not expected");
                break (body, at + 2);
            }
            if buf.len() < at + size + 2 {
                return None;
            }
            body.extend_from_slice(&buf[at..at + size]);
            at += size + 2;
        }
    } else {
        // Close-delimited: complete only when the caller knows the stream ended.
        return None;
    };
    buf.drain(..used);
    Some(Response {
        status,
        headers,
        body,
    })
}

/// Every complete response in `buf` (removed from it).
pub fn take_responses(buf: &mut Vec<u8>) -> Vec<Response> {
    std::iter::from_fn(|| take_response(buf)).collect()
}

pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;

/// A masked client frame.
/// A masked client frame, written by the core's own client-side encoder. `opcode` is the
/// raw 4-bit value, so tests can also send reserved ones.
pub fn client_frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    encode_client_frame(fin, Opcode::Text, payload, [0x37, 0xfa, 0x21, 0x3d], &mut v);
    v[0] = (v[0] & 0xf0) | (opcode & 0x0f);
    v
}

pub fn text(s: &str) -> Vec<u8> {
    client_frame(TEXT, true, s.as_bytes())
}

pub fn close_frame(code: u16, reason: &str) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason.as_bytes());
    client_frame(CLOSE, true, &p)
}

/// A frame from the server (never masked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl Frame {
    /// The status code of a close frame.
    pub fn close_code(&self) -> Option<u16> {
        (self.opcode == CLOSE && self.payload.len() >= 2)
            .then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }

    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.payload).expect("UTF-8 payload")
    }
}

/// Parses and removes the complete server frames at the start of `buf`.
pub fn take_frames(buf: &mut Vec<u8>) -> Vec<Frame> {
    let mut frames = Vec::new();
    let mut at = 0;
    loop {
        let b = &buf[at..];
        if b.len() < 2 {
            break;
        }
        assert_eq!(b[1] & 0x80, 0, "server frames are not masked");
        let (len, hdr) = match b[1] & 0x7f {
            126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
            127 if b.len() >= 10 => (
                u64::from_be_bytes(b[2..10].try_into().expect("8 bytes")) as usize,
                10,
            ),
            126 | 127 => break,
            n => (n as usize, 2),
        };
        if b.len() < hdr + len {
            break;
        }
        frames.push(Frame {
            fin: b[0] & 0x80 != 0,
            opcode: b[0] & 0x0f,
            payload: b[hdr..hdr + len].to_vec(),
        });
        at += hdr + len;
    }
    buf.drain(..at);
    frames
}

/// A client connection with its unparsed input.
pub struct Peer {
    pub conn: MemClient,
    pub buf: Vec<u8>,
}

impl Peer {
    pub fn new(conn: MemClient) -> Self {
        Peer {
            conn,
            buf: Vec::new(),
        }
    }

    /// Reads what arrived and returns the complete responses.
    pub fn responses(&mut self) -> Vec<Response> {
        self.buf.extend(self.conn.read_available());
        take_responses(&mut self.buf)
    }

    /// Reads what arrived and returns the complete frames.
    pub fn frames(&mut self) -> Vec<Frame> {
        self.buf.extend(self.conn.read_available());
        take_frames(&mut self.buf)
    }

    /// Sends the upgrade request to `path` and checks the 101.
    pub fn upgrade(&mut self, rt: &MemRuntime, path: &str) {
        self.conn.write(&upgrade(path));
        rt.run_until_idle();
        let r = self.responses();
        assert_eq!(r.len(), 1, "one 101 response: {r:?}");
        assert_eq!(r[0].status, 101);
        assert_eq!(r[0].header("sec-websocket-accept"), Some(WS_ACCEPT));
    }
}

/// A latch a handler can wait on and the test opens.
#[derive(Clone, Default)]
pub struct Gate(std::sync::Arc<std::sync::Mutex<(bool, Vec<std::task::Waker>)>>);

impl Gate {
    pub fn open(&self) {
        let wakers = {
            let mut g = self.0.lock().unwrap();
            g.0 = true;
            std::mem::take(&mut g.1)
        };
        wakers.into_iter().for_each(std::task::Waker::wake);
    }

    pub async fn wait(&self) {
        std::future::poll_fn(|cx| {
            let mut g = self.0.lock().unwrap();
            if g.0 {
                std::task::Poll::Ready(())
            } else {
                g.1.push(cx.waker().clone());
                std::task::Poll::Pending
            }
        })
        .await
    }
}

/// Answers with the request path and body.
pub async fn echo_http(ctx: Context) {
    let body = ctx.get_request_body().await;
    let mut out = ctx.path().as_bytes().to_vec();
    out.push(b':');
    out.extend_from_slice(&body);
    ctx.set_response_body(out).await;
}

/// Echoes every WebSocket message.
pub async fn ws_echo(ctx: Context) {
    while let Some(m) = ctx.recv_message().await {
        if ctx.send_message(m).await.is_err() {
            break;
        }
    }
}
