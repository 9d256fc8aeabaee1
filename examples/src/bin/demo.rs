//! The demo: one server with every route of the article, a real broadcast chat room, a
//! Server-Sent Events stream, and the browser pages that use them.
//!
//! ```text
//! demo [--addr 127.0.0.1:60000] [--runtime tokio|async-std|smol] [--redis URL] [--article-main]
//!      [--tls-cert FILE --tls-key FILE | --tls-self-signed] [--tls-port PORT]
//! ```
//!
//! Routes (every WebSocket route also answers plain HTTP through the same handler):
//!
//! | path | what |
//! |---|---|
//! | `/` | the demo page: chat room, live chart of `/data` and `/events`, route console (files of `examples/static/`, served by `static_dir`) |
//! | `/ws`, `/chat`, `/data` | the article's first three handlers, as written |
//! | `/multiplexed`, `/broadcast`, `/game`, `/resilient`, `/trading`, `/collaboration` | the article's advanced handlers, as written |
//! | `/room` | a broadcast chat room: every client sees every client's messages |
//! | `/events` | Server-Sent Events: the same data points as `/data` |
//! | `/metrics` | the server's metrics, Prometheus text format |
//!
//! WebSocket upgrades are accepted from the demo's own pages only (`Origin` checked,
//! `403` otherwise), or from clients that send no `Origin` (not browsers).
//!
//! # The chat room and slow clients
//!
//! `/room` is built on [`Hub`]: each connection joins the topic `room` with its [`Sender`](wirelane_tokio::Sender),
//! and every message is published once, its payload shared by all members' queues.
//! Publishing never waits: each member's outgoing queue is bounded by the server's
//! `max_outgoing_queue` ([`OUTGOING_QUEUE`] here), and a member whose queue is full when a
//! message is published is disconnected with close code 1008 ("too slow to keep up",
//! [`SlowClientPolicy::Disconnect`]) and removed from the room, so one stalled reader
//! neither slows the room down nor grows the server's memory, and it learns why it was
//! dropped (the page shows the code and reconnects) instead of silently missing messages.
//!
//! # Across processes
//!
//! With `--redis redis://127.0.0.1:6379` the room's [`Hub`] runs on a Redis backplane
//! (`wirelane-redis`): demos started on several ports (or machines) with the same Redis
//! share one room, and the online count is the sum over all of them. Without it the room
//! is this process's alone.
//!
//! # Runtimes
//!
//! `--runtime tokio|async-std|smol` picks the adapter; the server, routes and pages are the
//! same. The article's handlers are compiled once per adapter, each after that adapter's
//! `use` line; on async-std and smol their `tokio::time` calls are served by a small
//! background tokio timer runtime (see `examples/src/article/mod.rs` for why).

#![forbid(unsafe_code)]

#[path = "../article/mod.rs"]
mod article;
#[path = "../tls_args.rs"]
mod tls_args;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use wirelane_core::app::{self, Handler, Hub, Runtime, SlowClientPolicy};
use wirelane_tokio::{Context, Message, CONTENT_TYPE};

/// Outgoing bytes queued per connection; also the room's per-client queue bound.
const OUTGOING_QUEUE: usize = 64 * 1024;
/// Largest WebSocket message the demo accepts (close 1009 above it).
const MAX_MESSAGE: u64 = 1 << 20;
/// Longest chat message relayed, in characters.
const MAX_CHAT_CHARS: usize = 1000;

/// The browser pages, served by `Server::static_dir` from the source tree (so an edited
/// page shows on reload, no rebuild needed).
const STATIC_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/static");

async fn favicon(ctx: Context) {
    ctx.set_response_status_code(204).await;
}

// ----- Server-Sent Events -----

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `/events`: the same stream as the article's `/data` (100 points, 100 ms apart, the same
/// JSON), as Server-Sent Events. Tells the browser to reconnect one second after the end.
async fn events(ctx: Context) {
    ctx.set_response_header(CONTENT_TYPE, "text/event-stream")
        .await
        .set_response_header("cache-control", "no-cache")
        .await
        .set_response_body("retry: 1000\n\n")
        .await;
    if ctx.send_body().await.is_err() {
        return;
    }
    for i in 0..100 {
        let data = serde_json::json!({
            "timestamp": unix_seconds(),
            "value": rand::random::<f32>() * 100.0,
            "sequence": i,
        })
        .to_string();
        if ctx.send_event(None, &data).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ----- the chat room -----

/// What the room sends its clients (one JSON object per message, tagged by `type`).
#[derive(serde::Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum RoomEvent<'a> {
    /// To the newcomer.
    Welcome { name: &'a str, members: usize },
    /// To the others when someone joins.
    Join { name: &'a str, members: usize },
    /// To everyone, the sender included.
    Message {
        from: &'a str,
        text: &'a str,
        ts: u64,
    },
    /// To the others when someone leaves.
    Leave { name: &'a str, members: usize },
}

impl RoomEvent<'_> {
    fn publish(&self, hub: &Hub, except: Option<u64>) {
        let text = serde_json::to_string(self).expect("room events serialize");
        match except {
            Some(id) => hub.publish_except(ROOM, id, text),
            None => hub.publish(ROOM, text),
        };
    }
}

/// The room's topic in the hub.
const ROOM: &str = "room";

/// A display name from `?name=`: trimmed, printable, at most 24 characters; or a guest name.
fn chat_name(ctx: &Context) -> String {
    let asked: String = ctx
        .query_param("name")
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(24)
        .collect();
    let asked = asked.trim();
    if asked.is_empty() {
        format!("guest-{}", rand::random::<u16>())
    } else {
        asked.to_string()
    }
}

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `/room`: the broadcast chat room (see the crate docs for the slow-client policy).
///
/// Server → client messages are JSON: `welcome` (to the newcomer), `join` and `leave`
/// (to the others), and `message` (to everyone, the sender included, in the order the
/// server relayed them). Client → server: each text message is one chat line.
async fn room(hub: Hub, ctx: Context) {
    if !ctx.is_websocket() {
        ctx.set_response_status_code(426)
            .await
            .set_response_header("upgrade", "websocket")
            .await
            .set_response_body("/room is a WebSocket endpoint\n")
            .await;
        return;
    }
    let name = chat_name(&ctx);
    let member = hub.join(ROOM, ctx.sender());
    // Across processes when the hub has a backplane (`--redis`).
    let members = hub.member_count(ROOM).await;
    let welcome = RoomEvent::Welcome {
        name: &name,
        members,
    };
    if ctx.send_json(&welcome).await.is_err() {
        return;
    }
    RoomEvent::Join {
        name: &name,
        members,
    }
    .publish(&hub, Some(member.id()));
    while let Some(msg) = ctx.recv_message().await {
        let Message::Text(text) = msg else {
            continue; // the room relays text only
        };
        let text: String = text.chars().take(MAX_CHAT_CHARS).collect();
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        RoomEvent::Message {
            from: &name,
            text,
            ts: unix_millis(),
        }
        .publish(&hub, None);
    }
    drop(member);
    RoomEvent::Leave {
        name: &name,
        members: hub.member_count(ROOM).await,
    }
    .publish(&hub, None);
}

// ----- the server -----

/// Command-line options.
struct Args {
    addr: SocketAddr,
    runtime: String,
    redis: Option<String>,
    article_main: bool,
    tls: tls_args::TlsArgs,
}

const USAGE: &str =
    "usage: demo [--addr HOST:PORT] [--runtime tokio|async-std|smol] [--article-main] [TLS options]

  --addr HOST:PORT   address to listen on (default 127.0.0.1:60000)
  --runtime NAME     async runtime: tokio (default), async-std or smol
  --redis URL        share /room with every demo on this Redis (redis://127.0.0.1:6379)
  --article-main     run the article's own main() instead (0.0.0.0:60000, /ws /chat /data)";

const USAGE_END: &str = "Open http://HOST:PORT/ in a browser (https:// with TLS).";

fn usage(code: i32) -> ! {
    eprintln!("{USAGE}\n{}\n\n{USAGE_END}", tls_args::USAGE);
    std::process::exit(code)
}

fn parse_args() -> Args {
    let mut args = Args {
        addr: "127.0.0.1:60000".parse().expect("valid default"),
        runtime: "tokio".into(),
        redis: None,
        article_main: false,
        tls: Default::default(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage(2));
        match args.tls.take(&flag, &mut value) {
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => {
                eprintln!("demo: {e}");
                usage(2)
            }
        }
        match flag.as_str() {
            "--addr" => args.addr = value().parse().unwrap_or_else(|_| usage(2)),
            "--runtime" => args.runtime = value(),
            "--redis" => args.redis = Some(value()),
            "--article-main" => args.article_main = true,
            "-h" | "--help" => {
                println!("{USAGE}\n{}\n\n{USAGE_END}", tls_args::USAGE);
                std::process::exit(0)
            }
            _ => usage(2),
        }
    }
    args
}

/// The origins whose pages may open the demo's WebSockets: the demo's own pages, by
/// whichever loopback name the browser used. A handshake without `Origin` (the interop
/// clients, curl, loadgen: not a browser) is allowed; see `wirelane_core::app::origin`.
fn own_origins(addr: SocketAddr, tls_port: Option<u16>) -> Vec<String> {
    let mut origins = Vec::new();
    // Both schemes: the port may speak TLS (`--tls-self-signed` alone), and a second TLS
    // port serves the same pages.
    for port in std::iter::once(addr.port()).chain(tls_port) {
        for scheme in ["http", "https"] {
            origins.push(format!("{scheme}://{}", SocketAddr::new(addr.ip(), port)));
            if addr.ip().is_loopback() || addr.ip().is_unspecified() {
                for host in ["localhost", "127.0.0.1", "[::1]"] {
                    origins.push(format!("{scheme}://{host}:{port}"));
                }
            }
        }
    }
    origins
}

/// Adds every route of the demo to `server`. `wrap` adapts a handler to the runtime (see
/// `article::with_tokio_timers`).
async fn add_routes<R, H>(
    server: &app::Server<R>,
    hub: Hub,
    article_routes: Vec<(&'static str, Box<dyn Handler>)>,
    wrap: impl Fn(Box<dyn Handler>) -> H,
) where
    R: Runtime,
    H: Handler,
{
    server.enable_nodelay().await;
    server.disable_linger().await;
    server.ws_buffer_size(4096).await;
    server.max_outgoing_queue(OUTGOING_QUEUE).await;
    server.max_message_size(MAX_MESSAGE).await;
    server.shutdown_timeout(Duration::from_secs(2)).await;
    // permessage-deflate with the defaults: browsers' chat and JSON traffic shrinks several
    // times, and no compression state stays on an idle connection.
    server.enable_ws_deflate().await;
    for (path, handler) in article_routes {
        server.route(path, wrap(handler)).await;
    }
    let room: Box<dyn Handler> = Box::new(move |ctx| room(hub.clone(), ctx));
    server.route("/room", wrap(room)).await;
    server.get("/events", wrap(Box::new(events))).await;
    server.get("/favicon.ico", favicon).await;
    let metrics = server.metrics_handler().await;
    server.get("/metrics", metrics).await;
    server.static_dir("/", STATIC_DIR).await;
}

/// Binds, prints the address, and serves until SIGINT/SIGTERM (then shuts down gracefully;
/// a second signal exits at once). The same on every runtime.
async fn serve<R: Runtime>(
    server: app::Server<R>,
    addr: SocketAddr,
    runtime: &str,
    tls: &tls_args::TlsArgs,
) {
    server.host(addr.ip().to_string()).await;
    server.port(addr.port()).await;
    if addr.port() != 0 {
        // With port 0 the real port is known only after binding: no check then.
        server
            .ws_allowed_origins(own_origins(addr, tls.port()))
            .await;
    }
    let tls = tls.apply(&server).await.unwrap_or_else(|e| {
        eprintln!("demo: {e}");
        std::process::exit(1)
    });
    // Signals are taken over before the server starts, so one sent right after the
    // `listening on` line still shuts down gracefully.
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])
    .expect("signal handlers");
    let handle = server.start().await.unwrap_or_else(|e| {
        eprintln!("demo: {e}");
        std::process::exit(1)
    });
    match handle.tls_local_addr() {
        Some(a) if a == handle.local_addr() => {
            println!("listening on https://{a}/ (runtime {runtime})")
        }
        Some(a) => println!(
            "listening on http://{}/ and https://{a}/ (runtime {runtime})",
            handle.local_addr()
        ),
        None => println!(
            "listening on http://{}/ (runtime {runtime})",
            handle.local_addr()
        ),
    }
    debug_assert_eq!(tls, handle.tls_local_addr().is_some());
    let on_signal = handle.clone();
    std::thread::spawn(move || {
        let mut forever = signals.forever();
        if forever.next().is_some() {
            on_signal.shutdown();
        }
        if forever.next().is_some() {
            std::process::exit(130);
        }
    });
    handle.wait().await;
}

/// The room's hub: on a Redis backplane with `--redis`, this process's alone without.
fn room_hub(redis: Option<&str>) -> Hub {
    let Some(url) = redis else {
        return Hub::new(SlowClientPolicy::Disconnect);
    };
    match wirelane_redis::RedisBackplane::start(wirelane_redis::RedisConfig::new(url)) {
        Ok(backplane) => Hub::with_backplane(SlowClientPolicy::Disconnect, backplane),
        Err(e) => {
            eprintln!("demo: --redis {url}: {e}");
            std::process::exit(2)
        }
    }
}

fn main() {
    let args = parse_args();
    let hub = room_hub(args.redis.as_deref());
    // The server's spans and events (feature `tracing`): `RUST_LOG=wirelane=debug` shows
    // every request and WebSocket event; the default shows warnings only.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match args.runtime.as_str() {
        "tokio" => {
            if args.article_main {
                return article::on_tokio::article_main();
            }
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("tokio runtime")
                .block_on(async {
                    let server = wirelane_tokio::Server::new();
                    // Native tokio: the handlers' `tokio::time` needs no help.
                    add_routes(&server, hub, article::on_tokio::routes(), |h| {
                        move |ctx| h.call(ctx)
                    })
                    .await;
                    serve(server, args.addr, "tokio", &args.tls).await
                });
        }
        "async-std" => {
            if args.article_main {
                return article::on_async_std::article_main();
            }
            async_std::task::block_on(async {
                let server = wirelane_async_std::Server::new();
                add_routes(
                    &server,
                    hub,
                    article::on_async_std::routes(),
                    article::with_tokio_timers,
                )
                .await;
                serve(server, args.addr, "async-std", &args.tls).await
            });
        }
        "smol" => {
            if args.article_main {
                return article::on_smol::article_main();
            }
            // Our own executor: run by this thread plus one helper per other core.
            let ex = Arc::new(smol::Executor::new());
            let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
            for _ in 1..threads {
                let ex = ex.clone();
                std::thread::spawn(move || smol::block_on(ex.run(smol::future::pending::<()>())));
            }
            let rt = wirelane_smol::SmolRuntime::new(ex.clone());
            smol::block_on(ex.run(async {
                let server = wirelane_smol::Server::with_runtime(rt);
                add_routes(
                    &server,
                    hub,
                    article::on_smol::routes(),
                    article::with_tokio_timers,
                )
                .await;
                serve(server, args.addr, "smol", &args.tls).await
            }));
        }
        other => {
            eprintln!("demo: unknown runtime {other:?} (tokio, async-std or smol)");
            std::process::exit(2);
        }
    }
}
