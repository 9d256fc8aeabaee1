//! The minimal echo/hello server used by the conformance suite and the benchmarks.
//!
//! `GET /` answers `Hello, World!`; a WebSocket on `/` or `/ws` echoes every message
//! (text as text, binary as binary). Prints `listening on ADDR` once bound, and shuts
//! down gracefully on SIGINT/SIGTERM (a second signal exits at once).
//!
//! The handlers and the configuration are written once, generic over the runtime; only
//! `main` differs per runtime (how the executor is built and blocked on).
//!
//! ```text
//! echo [--addr 127.0.0.1:9001] [--runtime tokio|async-std|smol] [--threads 1]
//!      [--push-rate N] [--deflate off|default|takeover|none]
//!      [--tls-cert FILE --tls-key FILE | --tls-self-signed] [--tls-port PORT]
//! ```
//!
//! `/push/ws`, `/push/sse` and `/push/poll` serve one server-pushed stream four ways (see
//! `echo/push.rs`); `--push-rate N` publishes N messages a second to it (default 0: none).
//!
//! With TLS it serves https and wss (on `--addr`, or on `--tls-port` next to plaintext).
//!
//! `--deflate` answers permessage-deflate offers (off by default, as in the framework):
//! `default` is `DeflateConfig::default()` (context takeover, 9-bit windows), `takeover`
//! is `DeflateConfig::context_takeover()` (15-bit windows), `none` is
//! `DeflateConfig::no_context_takeover()`.

#![forbid(unsafe_code)]

#[path = "../tls_args.rs"]
mod tls_args;

use std::net::SocketAddr;
use std::sync::Arc;
use wirelane_core::app::headers::CONTENT_TYPE;
use wirelane_core::app::{Context, Runtime, Server, ServerHandle};
use wirelane_core::proto::ws::DeflateConfig;
use wirelane_core::proto::WsLimits;

#[path = "echo/push.rs"]
mod push;

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
    push_rate: f64,
    tls: tls_args::TlsArgs,
    deflate: Option<DeflateConfig>,
}

fn usage() -> ! {
    eprintln!(
        "usage: echo [--addr HOST:PORT] [--runtime tokio|async-std|smol] [--threads N] \
         [--push-rate N] [--deflate off|default|takeover|none] [TLS options]\n{}",
        tls_args::USAGE
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut args = Args {
        addr: "127.0.0.1:9001".parse().expect("valid default"),
        runtime: "tokio".into(),
        threads: 1,
        push_rate: 0.0,
        tls: Default::default(),
        deflate: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage());
        match args.tls.take(&flag, &mut value) {
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => {
                eprintln!("echo: {e}");
                usage()
            }
        }
        match flag.as_str() {
            "--addr" => args.addr = value().parse().unwrap_or_else(|_| usage()),
            "--runtime" => args.runtime = value(),
            "--threads" => args.threads = value().parse().unwrap_or_else(|_| usage()),
            "--push-rate" => args.push_rate = value().parse().unwrap_or_else(|_| usage()),
            "--deflate" => args.deflate = deflate_mode(&value()).unwrap_or_else(|| usage()),
            "-h" | "--help" => usage(),
            _ => usage(),
        }
    }
    args.threads = args.threads.max(1);
    args
}

/// The permessage-deflate setting named by `--deflate` (`Some(None)`: off).
fn deflate_mode(name: &str) -> Option<Option<DeflateConfig>> {
    match name {
        "off" => Some(None),
        "default" => Some(Some(DeflateConfig::default())),
        "takeover" => Some(Some(DeflateConfig::context_takeover())),
        "none" => Some(Some(DeflateConfig::no_context_takeover())),
        _ => None,
    }
}

/// Configures and starts the server on any runtime, then serves until SIGINT/SIGTERM
/// and drains.
async fn serve<R: Runtime>(
    server: Server<R>,
    addr: SocketAddr,
    tls: &tls_args::TlsArgs,
    deflate: Option<DeflateConfig>,
) {
    server.ws_deflate(deflate).await;
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
    push::routes(&server).await;
    let tls = tls.apply(&server).await.unwrap_or_else(|e| {
        eprintln!("echo: {e}");
        std::process::exit(1)
    });
    // Signals are taken over before the server starts, so one sent right after the
    // `listening on` line still shuts down gracefully.
    let signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])
    .expect("signal handlers");
    let handle = server.start().await.unwrap_or_else(|e| {
        eprintln!("echo: {e}");
        std::process::exit(1)
    });
    println!("listening on {}", handle.local_addr());
    if tls {
        if let Some(a) = handle.tls_local_addr() {
            println!("tls on {a}");
        }
    }
    shutdown_on_signal(signals, handle.clone());
    handle.wait().await;
}

/// A plain thread waits for the signals (the same on every runtime): the first starts a
/// graceful shutdown, the second exits at once.
fn shutdown_on_signal(mut signals: signal_hook::iterator::Signals, handle: ServerHandle) {
    std::thread::spawn(move || {
        let mut forever = signals.forever();
        if forever.next().is_some() {
            handle.shutdown();
        }
        if forever.next().is_some() {
            std::process::exit(130);
        }
    });
}

fn main() {
    let args = parse_args();
    push::set_rate(args.push_rate);
    match args.runtime.as_str() {
        "tokio" => {
            let rt = if args.threads == 1 {
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
            rt.block_on(serve(
                wirelane_tokio::Server::new(),
                args.addr,
                &args.tls,
                args.deflate,
            ));
        }
        "async-std" => {
            // async-std's global executor reads its size once, on first use.
            if std::env::var_os("ASYNC_STD_THREAD_COUNT").is_none() {
                std::env::set_var("ASYNC_STD_THREAD_COUNT", args.threads.to_string());
            }
            async_std::task::block_on(serve(
                wirelane_async_std::Server::new(),
                args.addr,
                &args.tls,
                args.deflate,
            ));
        }
        "smol" => {
            // Our own executor: run by this thread, plus `threads - 1` helpers.
            let ex = Arc::new(smol::Executor::new());
            for _ in 1..args.threads {
                let ex = ex.clone();
                std::thread::spawn(move || smol::block_on(ex.run(smol::future::pending::<()>())));
            }
            let rt = wirelane_smol::SmolRuntime::new(ex.clone());
            let server = wirelane_smol::Server::with_runtime(rt);
            smol::block_on(ex.run(serve(server, args.addr, &args.tls, args.deflate)));
        }
        other => {
            eprintln!("echo: unknown runtime {other:?} (tokio, async-std or smol)");
            std::process::exit(2);
        }
    }
}
