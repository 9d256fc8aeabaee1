//! The minimal echo/hello server used by the conformance suite and the benchmarks.
//!
//! `GET /` answers `Hello, World!`; a WebSocket on `/` or `/ws` echoes every message
//! (text as text, binary as binary). Prints `listening on ADDR` once bound, and shuts
//! down gracefully on SIGINT/SIGTERM.
//!
//! ```text
//! echo [--addr 127.0.0.1:9001] [--runtime tokio] [--threads 1]
//! ```

use std::net::SocketAddr;
use wirelane_tokio::*;

async fn root(ctx: Context) {
    if ctx.is_websocket() {
        return echo(ctx).await;
    }
    ctx.set_response_header(CONTENT_TYPE, "text/plain")
        .await
        .set_response_body("Hello, World!")
        .await;
}

async fn echo(ctx: Context) {
    while let Some(msg) = ctx.recv_message().await {
        if ctx.send_message(msg).await.is_err() {
            break;
        }
    }
}

struct Args {
    addr: SocketAddr,
    runtime: String,
    threads: usize,
}

fn usage() -> ! {
    eprintln!("usage: echo [--addr HOST:PORT] [--runtime tokio] [--threads N]");
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut args = Args {
        addr: "127.0.0.1:9001".parse().expect("valid default"),
        runtime: "tokio".into(),
        threads: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--addr" => args.addr = value().parse().unwrap_or_else(|_| usage()),
            "--runtime" => args.runtime = value(),
            "--threads" => args.threads = value().parse().unwrap_or_else(|_| usage()),
            "-h" | "--help" => usage(),
            _ => usage(),
        }
    }
    args
}

async fn serve(addr: SocketAddr) {
    let server: Server = Server::new();
    server.host(addr.ip().to_string()).await;
    server.port(addr.port()).await;
    server.enable_nodelay().await;
    server
        .ws_limits(
            WsLimits::default()
                .max_frame_size(64 << 20)
                .max_message_size(64 << 20),
        )
        .await;
    server.route("/", root).await;
    server.route("/ws", echo).await;
    let handle = server.start().await.unwrap_or_else(|e| {
        eprintln!("echo: {e}");
        std::process::exit(1)
    });
    println!("listening on {}", handle.local_addr());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    handle.shutdown_and_wait().await;
}

fn main() {
    let args = parse_args();
    if args.runtime != "tokio" {
        eprintln!("echo: unknown runtime {:?}", args.runtime);
        std::process::exit(2);
    }
    let rt = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
    }
    .expect("tokio runtime");
    rt.block_on(serve(args.addr));
}
