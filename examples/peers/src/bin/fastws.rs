//! Peer: fastwebsockets over a hyper 1 HTTP/1.1 server (upgrade), one current-thread runtime.

use fastwebsockets::upgrade::{is_upgrade_request, upgrade, UpgradeFut};
use fastwebsockets::{FragmentCollector, OpCode};
use http_body_util::{Either, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use wirelane_peers::{serve_forever, HELLO};

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
    let mut ws = FragmentCollector::new(ws);
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
