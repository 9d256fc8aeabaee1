//! Peer: fastwebsockets over a hyper 1 HTTP/1.1 server (upgrade), one current-thread runtime.
//!
//! Two ways: as its docs write an echo (`write_frame` writes each frame to the socket at
//! once), and with `--tuned` write-batched: fastwebsockets has no batching switch of its
//! own (its `writev` options only pick how one frame is written), and its docs say to wrap
//! the stream in a buffered writer and `flush`; the tuned echo writes frames into a buffer
//! that is flushed when no more input is ready (`BatchedIo` below), the same rule as
//! `forward` in tokio-tungstenite.

use fastwebsockets::upgrade::{is_upgrade_request, upgrade, UpgradeFut};
use fastwebsockets::{FragmentCollector, OpCode};
use http_body_util::{Either, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use wirelane_peers::{serve_forever, tuned, HELLO};

type Body = Either<Full<Bytes>, Empty<Bytes>>;

fn main() {
    serve_forever("fastws", |stream| async move {
        let _ = http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service_fn(handle))
            .with_upgrades()
            .await;
    });
}

async fn handle(mut req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path();
    if path != "/" && path != "/ws" {
        return Ok(status(StatusCode::NOT_FOUND));
    }
    if is_upgrade_request(&req) {
        return Ok(match upgrade(&mut req) {
            Ok((resp, fut)) => {
                tokio::spawn(echo(fut));
                resp.map(Either::Right)
            }
            Err(_) => status(StatusCode::BAD_REQUEST),
        });
    }
    if path != "/" {
        return Ok(status(StatusCode::NOT_FOUND));
    }
    Ok(Response::builder()
        .header("content-type", "text/plain")
        .body(Either::Left(Full::new(Bytes::from_static(
            HELLO.as_bytes(),
        ))))
        .expect("valid response"))
}

fn status(code: StatusCode) -> Response<Body> {
    Response::builder()
        .status(code)
        .body(Either::Right(Empty::new()))
        .expect("valid response")
}

async fn echo(fut: UpgradeFut) {
    let Ok(ws) = fut.await else {
        return;
    };
    if tuned() {
        let io = BatchedIo::new(ws.into_inner());
        let ws = fastwebsockets::WebSocket::after_handshake(io, fastwebsockets::Role::Server);
        return echo_loop(FragmentCollector::new(ws)).await;
    }
    echo_loop(FragmentCollector::new(ws)).await
}

async fn echo_loop<S>(mut ws: FragmentCollector<S>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        let Ok(frame) = ws.read_frame().await else {
            return;
        };
        let data = matches!(frame.opcode, OpCode::Text | OpCode::Binary);
        if frame.opcode == OpCode::Close || (data && ws.write_frame(frame).await.is_err()) {
            return;
        }
    }
}

/// A stream whose writes go into a buffer, written out when a read finds no input ready
/// (or on `flush`, or when the buffer passes 64 KiB): replies to a burst of requests leave
/// in one write.
struct BatchedIo<S> {
    io: S,
    out: Vec<u8>,
    /// Bytes of `out` already written.
    pos: usize,
}

const BATCH_LIMIT: usize = 64 * 1024;

impl<S: AsyncWrite + Unpin> BatchedIo<S> {
    fn new(io: S) -> Self {
        BatchedIo {
            io,
            out: Vec::with_capacity(4096),
            pos: 0,
        }
    }

    /// Writes out the buffer; `Pending` until all of it is written.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.pos < self.out.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.out[self.pos..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pos += n;
        }
        self.out.clear();
        self.pos = 0;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for BatchedIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Pending => {
                // No input ready: now is the time to send what was batched.
                if let Poll::Ready(Err(e)) = this.poll_drain(cx) {
                    return Poll::Ready(Err(e));
                }
                Poll::Pending
            }
            done => done,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for BatchedIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.out.is_empty() && data.len() >= BATCH_LIMIT / 4 {
            // A large frame gains nothing from the copy.
            return Pin::new(&mut this.io).poll_write(cx, data);
        }
        if this.out.len() >= BATCH_LIMIT {
            ready!(this.poll_drain(cx))?;
        }
        this.out.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}
