//! Peer: hyper 1 HTTP/1.1 hello server on one current-thread runtime (no WebSocket).
//!
//! With `--tuned`, hyper's `pipeline_flush` option is on: responses to pipelined requests
//! are written together instead of one write each.

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use wirelane_peers::{serve_forever, tuned, HELLO};

fn main() {
    serve_forever("hyper", |stream| async move {
        let _ = http1::Builder::new()
            .pipeline_flush(tuned())
            .serve_connection(TokioIo::new(stream), service_fn(hello))
            .await;
    });
}

async fn hello(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut resp = Response::builder().header("content-type", "text/plain");
    let body = if req.uri().path() == "/" {
        Bytes::from_static(HELLO.as_bytes())
    } else {
        resp = resp.status(StatusCode::NOT_FOUND);
        Bytes::new()
    };
    Ok(resp.body(Full::new(body)).expect("valid response"))
}
