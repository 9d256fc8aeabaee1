//! Client side of the suite: a raw HTTP/1.1 client and a raw WebSocket frame client over
//! TCP (for malformed input and for exact bytes), and `tokio-tungstenite` helpers (an
//! independent implementation). Every read is bounded by [`STEP_TIMEOUT`] unless a
//! function takes its own limit.

use crate::tls::{self, ClientStream};
use crate::STEP_TIMEOUT;
use futures_util::{SinkExt, StreamExt};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message as TMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use wirelane_core::proto::ws::{self, encode_client_frame, Opcode};

/// A `tokio-tungstenite` client stream.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

// ---------------------------------------------------------------------------------------
// Raw TCP / HTTP
// ---------------------------------------------------------------------------------------

/// A parsed HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header fields, names lowercased, in order.
    pub headers: Vec<(String, String)>,
    /// The body (chunked encoding removed).
    pub body: Vec<u8>,
    /// Whether the body came chunked.
    pub chunked: bool,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Whether the server said it will close the connection.
    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// A response head (for streamed responses).
#[derive(Debug, Clone)]
pub struct Head {
    /// Status code.
    pub status: u16,
    /// Header fields, names lowercased.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// The first value of header `name` among lowercased `headers`.
fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let name = name.to_ascii_lowercase();
    headers
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}

/// How a read that expected the connection to end actually ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// Orderly end of stream, after these extra bytes.
    Eof(Vec<u8>),
    /// Connection reset, after these extra bytes.
    Reset(Vec<u8>),
}

impl End {
    /// The bytes received before the end.
    pub fn bytes(&self) -> &[u8] {
        match self {
            End::Eof(b) | End::Reset(b) => b,
        }
    }
}

/// A raw TCP connection (TLS over it when the server speaks TLS) with a read buffer.
#[derive(Debug)]
pub struct Conn {
    /// The socket.
    pub stream: ClientStream,
    buf: Vec<u8>,
}

async fn within<T>(limit: Duration, what: &str, fut: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(limit, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {limit:?} waiting for {what}"),
    }
}

impl Conn {
    /// Connects to `addr`.
    pub async fn connect(addr: SocketAddr) -> Conn {
        let stream = within(STEP_TIMEOUT, "connect", TcpStream::connect(addr))
            .await
            .expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Conn::from_stream(stream)
    }

    /// Wraps a connected stream (in TLS when its peer is a TLS test server).
    pub fn from_stream(stream: TcpStream) -> Conn {
        Conn {
            stream: ClientStream::new(stream),
            buf: Vec::new(),
        }
    }

    /// Writes all of `bytes`.
    pub async fn send(&mut self, bytes: impl AsRef<[u8]>) {
        // TLS: the handshake first, unless the server does not answer (not accepting).
        self.stream.settle(Duration::from_millis(500)).await;
        within(STEP_TIMEOUT, "write", async {
            self.stream.write_all(bytes.as_ref()).await?;
            // TLS: out of the client's buffer and onto the wire.
            self.stream.flush().await
        })
        .await
        .expect("write");
    }

    /// Reads more bytes into the buffer; `Ok(0)` at end of stream.
    async fn fill(&mut self) -> io::Result<usize> {
        let mut tmp = [0u8; 16 * 1024];
        let n = self.stream.read(&mut tmp).await?;
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(n)
    }

    /// Reads until the buffer holds `n` bytes, then takes them.
    async fn take_exact(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            let got = self.fill().await.expect("read");
            assert!(got > 0, "connection closed while {n} bytes were expected");
        }
        self.buf.drain(..n).collect()
    }

    /// Reads up to and including the next `\r\n`, returning the line without it.
    async fn take_line(&mut self) -> String {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..i + 2).collect();
                return String::from_utf8_lossy(&line[..i]).into_owned();
            }
            let got = self.fill().await.expect("read");
            assert!(got > 0, "connection closed inside a line");
        }
    }

    /// Reads one response head.
    pub async fn read_head(&mut self) -> Head {
        within(STEP_TIMEOUT, "a response head", async {
            let status_line = self.take_line().await;
            let mut parts = status_line.splitn(3, ' ');
            let version = parts.next().unwrap_or("");
            assert!(
                version.starts_with("HTTP/1."),
                "not a status line: {status_line:?}"
            );
            let status: u16 = parts
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
            let mut headers = Vec::new();
            loop {
                let line = self.take_line().await;
                if line.is_empty() {
                    break;
                }
                let (n, v) = line
                    .split_once(':')
                    .unwrap_or_else(|| panic!("bad header line {line:?}"));
                headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
            Head { status, headers }
        })
        .await
    }

    /// Reads one chunk of a chunked body: `Some(data)`, or `None` for the last chunk
    /// (trailers are read and dropped).
    pub async fn read_chunk(&mut self) -> Option<Vec<u8>> {
        within(STEP_TIMEOUT, "a chunk", async {
            let line = self.take_line().await;
            let size_hex = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_hex, 16)
                .unwrap_or_else(|_| panic!("bad chunk size line {line:?}"));
            if size == 0 {
                while !self.take_line().await.is_empty() {}
                return None;
            }
            let data = self.take_exact(size).await;
            let crlf = self.take_exact(2).await;
            assert_eq!(crlf, b"\r\n", "chunk not followed by CRLF");
            Some(data)
        })
        .await
    }

    /// Reads one whole response (`head_request`: the request was HEAD, so no body).
    pub async fn read_response(&mut self, head_request: bool) -> Response {
        let head = self.read_head().await;
        let no_body = head_request || head.status < 200 || head.status == 204 || head.status == 304;
        let chunked = head
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        let mut body = Vec::new();
        if !no_body {
            if chunked {
                while let Some(c) = self.read_chunk().await {
                    body.extend_from_slice(&c);
                }
            } else if let Some(len) = head.header("content-length") {
                let len: usize = len.parse().expect("content-length");
                body = within(STEP_TIMEOUT, "a response body", self.take_exact(len)).await;
            } else {
                // Close-delimited.
                body = self.read_to_end(STEP_TIMEOUT).await.bytes().to_vec();
            }
        }
        Response {
            status: head.status,
            headers: head.headers,
            body,
            chunked,
        }
    }

    /// Reads until the peer ends the connection (at most `limit`, else panics); returns
    /// how it ended and what came before.
    pub async fn read_to_end(&mut self, limit: Duration) -> End {
        within(limit, "the connection to close", async {
            loop {
                match self.fill().await {
                    Ok(0) => return End::Eof(std::mem::take(&mut self.buf)),
                    Ok(_) => {}
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
                        ) =>
                    {
                        return End::Reset(std::mem::take(&mut self.buf))
                    }
                    Err(e) => panic!("read: {e}"),
                }
            }
        })
        .await
    }

    /// Whether anything (bytes or the end of the stream) arrives within `d`.
    pub async fn quiet_for(&mut self, d: Duration) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        tokio::time::timeout(d, self.fill()).await.is_err()
    }

    /// Bytes received but not consumed yet.
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }
}

/// One request, one response, on a fresh connection.
pub async fn request(addr: SocketAddr, raw: impl AsRef<[u8]>) -> Response {
    let raw = raw.as_ref();
    let mut c = Conn::connect(addr).await;
    c.send(raw).await;
    c.read_response(raw_is_head(raw)).await
}

fn raw_is_head(raw: &[u8]) -> bool {
    raw.starts_with(b"HEAD ")
}

/// `GET {path}` on a fresh connection.
pub async fn get(addr: SocketAddr, path: &str) -> Response {
    request(addr, format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n")).await
}

// ---------------------------------------------------------------------------------------
// Raw WebSocket frames
// ---------------------------------------------------------------------------------------

/// A frame received from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// FIN bit.
    pub fin: bool,
    /// RSV1..RSV3 (RSV1 = `0b100`: a permessage-deflate compressed message).
    pub rsv: u8,
    /// Opcode.
    pub opcode: Opcode,
    /// Payload (servers do not mask).
    pub payload: Vec<u8>,
}

impl Frame {
    /// The status code of a close frame, if it has one.
    pub fn close_code(&self) -> Option<u16> {
        (self.opcode == Opcode::Close && self.payload.len() >= 2)
            .then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }
}

/// A client frame, masked with a fixed key.
pub fn client_frame(fin: bool, opcode: Opcode, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_client_frame(fin, opcode, payload, [0x37, 0xfa, 0x21, 0x3d], &mut out);
    out
}

/// A close frame payload: code and reason.
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason.as_bytes());
    p
}

/// The key every raw handshake uses (RFC 6455's example), and its accept value.
pub const RAW_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
/// `Sec-WebSocket-Accept` for [`RAW_KEY`].
pub const RAW_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// A valid opening handshake request for `path` with [`RAW_KEY`] and the `extra` header
/// fields.
pub fn upgrade_request(path: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    ws::client::upgrade_request("t", path, RAW_KEY, extra)
}

impl Conn {
    /// Opens a WebSocket on `path` with a raw handshake; panics unless the answer is 101
    /// with the right accept key.
    pub async fn ws_open(addr: SocketAddr, path: &str) -> Conn {
        let mut c = Conn::connect(addr).await;
        c.send(upgrade_request(path, &[])).await;
        let head = c.read_head().await;
        assert_eq!(head.status, 101, "handshake answer: {head:?}");
        assert_eq!(head.header("sec-websocket-accept"), Some(RAW_ACCEPT));
        c
    }

    /// Sends one masked frame.
    pub async fn send_frame(&mut self, fin: bool, opcode: Opcode, payload: &[u8]) {
        self.send(client_frame(fin, opcode, payload)).await;
    }

    /// Reads one frame.
    pub async fn read_frame(&mut self) -> Frame {
        within(STEP_TIMEOUT, "a frame", async {
            let h = self.take_exact(2).await;
            let fin = h[0] & 0x80 != 0;
            let rsv = (h[0] >> 4) & 0x07;
            let opcode = Opcode::from_u8(h[0] & 0x0f).expect("a server sends no reserved opcode");
            assert_eq!(h[1] & 0x80, 0, "server frames must not be masked");
            let len = match h[1] & 0x7f {
                126 => u16::from_be_bytes(self.take_exact(2).await.try_into().unwrap()) as usize,
                127 => u64::from_be_bytes(self.take_exact(8).await.try_into().unwrap()) as usize,
                n => n as usize,
            };
            let payload = self.take_exact(len).await;
            Frame {
                fin,
                rsv,
                opcode,
                payload,
            }
        })
        .await
    }
}

// ---------------------------------------------------------------------------------------
// tokio-tungstenite
// ---------------------------------------------------------------------------------------

/// Opens a WebSocket with tungstenite (message and frame limits raised to 64 MiB); a
/// `wss://` URL trusts the suite's test certificate.
pub async fn ws_connect(url: &str) -> Ws {
    let config = WebSocketConfig {
        max_message_size: Some(64 << 20),
        max_frame_size: Some(64 << 20),
        ..WebSocketConfig::default()
    };
    let connector = url
        .starts_with("wss:")
        .then(|| tokio_tungstenite::Connector::Rustls(tls::client_config()));
    let (ws, resp) = within(
        STEP_TIMEOUT,
        "the WebSocket handshake",
        tokio_tungstenite::connect_async_tls_with_config(url, Some(config), true, connector),
    )
    .await
    .unwrap_or_else(|e| panic!("WebSocket connect to {url}: {e}"));
    assert_eq!(resp.status().as_u16(), 101);
    ws
}

/// Sends one message.
pub async fn ws_send(ws: &mut Ws, msg: TMessage) {
    within(STEP_TIMEOUT, "a WebSocket send", ws.send(msg))
        .await
        .expect("WebSocket send");
}

/// The next message (pings skipped; tungstenite answers them).
pub async fn ws_recv(ws: &mut Ws) -> TMessage {
    ws_recv_within(ws, STEP_TIMEOUT).await
}

/// The next message within `limit` (pings skipped).
pub async fn ws_recv_within(ws: &mut Ws, limit: Duration) -> TMessage {
    within(limit, "a WebSocket message", async {
        loop {
            match ws.next().await {
                Some(Ok(TMessage::Ping(_))) => continue,
                Some(Ok(m)) => return m,
                Some(Err(e)) => panic!("WebSocket read: {e}"),
                None => panic!("WebSocket stream ended without a close frame"),
            }
        }
    })
    .await
}

/// Reads until the server's close frame; returns its code and reason (`None` when it
/// carried no code). Data messages before it are returned too, in order.
pub async fn ws_expect_close(ws: &mut Ws) -> (Option<(u16, String)>, Vec<TMessage>) {
    let mut before = Vec::new();
    loop {
        match ws_recv(ws).await {
            TMessage::Close(frame) => {
                let code = frame.map(|f| (u16::from(f.code), f.reason.into_owned()));
                return (code, before);
            }
            m => before.push(m),
        }
    }
}

/// After the close handshake, waits for the stream to end (the server closes TCP).
pub async fn ws_expect_end(ws: &mut Ws) {
    within(STEP_TIMEOUT, "the WebSocket to end", async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) => return,
                Some(Ok(TMessage::Ping(_))) => {}
                Some(Ok(m)) => panic!("unexpected message after close: {m:?}"),
            }
        }
    })
    .await
}
