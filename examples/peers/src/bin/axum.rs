//! Peer: axum (WebSocketUpgrade over tokio-tungstenite), one current-thread runtime.
//!
//! Two ways: as axum's docs write a handler (`recv`, then `send`, which flushes every
//! message), and with `--tuned` the throughput idiom of tokio-tungstenite's examples:
//! `split` the socket and `forward` the data messages, so replies are fed into the write
//! buffer and flushed only when no more input is ready.

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use futures_util::{future, StreamExt, TryStreamExt};
use wirelane_peers::{addr_arg, runtime, tuned, HELLO};

fn main() {
    let addr = addr_arg("axum");
    runtime().block_on(async move {
        let app = Router::new()
            .route("/", get(root))
            .route("/ws", get(ws_only));
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
        println!(
            "listening on {}",
            listener.local_addr().expect("local addr")
        );
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app).await.expect("serve");
    });
}

async fn root(ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>) -> Response {
    match ws {
        Ok(ws) => upgrade(ws),
        Err(_) => ([("content-type", "text/plain")], HELLO).into_response(),
    }
}

async fn ws_only(ws: WebSocketUpgrade) -> Response {
    upgrade(ws)
}

fn upgrade(ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(64 << 20)
        .max_frame_size(64 << 20)
        .on_upgrade(echo)
}

async fn echo(mut socket: WebSocket) {
    if tuned() {
        let (write, read) = socket.split();
        let data =
            read.try_filter(|m| future::ready(matches!(m, Message::Text(_) | Message::Binary(_))));
        let _ = data.forward(write).await;
        return;
    }
    while let Some(Ok(msg)) = socket.recv().await {
        if matches!(msg, Message::Close(_)) {
            return;
        }
        let data = matches!(msg, Message::Text(_) | Message::Binary(_));
        if data && socket.send(msg).await.is_err() {
            return;
        }
    }
}
