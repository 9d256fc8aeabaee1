//! Peer: tokio-tungstenite echo on one current-thread runtime.
//!
//! Two ways: as the docs' first example writes it (`next`, then `send`, which writes and
//! flushes every message), and with `--tuned` as the crate's own `echo-server` example does
//! for throughput: `split`, then `forward` the data messages into the sink, which feeds
//! each message into the write buffer and flushes only when no more input is ready.
//!
//! tokio-tungstenite has no HTTP server, so a connection whose first request is not a
//! WebSocket upgrade is served by a tiny keep-alive `GET /` responder here; only the
//! WebSocket path is meant for comparison.

use futures_util::{future, SinkExt, StreamExt, TryStreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use wirelane_peers::{serve_forever, tuned, HELLO};

fn main() {
    serve_forever("tungstenite", serve);
}

async fn serve(stream: TcpStream) {
    // Look at the first request head without consuming it.
    let mut head = vec![0u8; 4096];
    let upgrade = loop {
        let Ok(n) = stream.peek(&mut head).await else {
            return;
        };
        if n == 0 {
            return;
        }
        let text = String::from_utf8_lossy(&head[..n]).to_ascii_lowercase();
        if text.contains("\r\n\r\n") {
            break text.contains("upgrade: websocket");
        }
        if n == head.len() {
            return;
        }
        tokio::task::yield_now().await;
    };
    if upgrade {
        echo(stream).await
    } else {
        hello(stream).await
    }
}

// The callback type (and its large error) is tungstenite's.
#[allow(clippy::result_large_err)]
async fn echo(stream: TcpStream) {
    let check = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        match req.uri().path() {
            "/" | "/ws" => Ok(resp),
            _ => {
                let mut e = ErrorResponse::new(Some("Not Found".into()));
                *e.status_mut() = tokio_tungstenite::tungstenite::http::StatusCode::NOT_FOUND;
                Err(e)
            }
        }
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, check).await else {
        return;
    };
    if tuned() {
        let (write, read) = ws.split();
        let data = read.try_filter(|m| future::ready(m.is_text() || m.is_binary()));
        let _ = data.forward(write).await;
        return;
    }
    while let Some(Ok(msg)) = ws.next().await {
        if msg.is_close() {
            break;
        }
        if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
            return;
        }
    }
    let _ = ws.close(None).await;
}

async fn hello(mut stream: TcpStream) {
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{HELLO}",
        HELLO.len()
    );
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.drain(..end + 4);
            if stream.write_all(response.as_bytes()).await.is_err() {
                return;
            }
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}
