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
//! | `/` | the demo page: chat room, live chart of `/data` and `/events`, route console |
//! | `/ws`, `/chat`, `/data` | the article's first three handlers, as written |
//! | `/multiplexed`, `/broadcast`, `/game`, `/resilient`, `/trading`, `/collaboration` | the article's advanced handlers, as written |
//! | `/room` | a broadcast chat room: every client sees every client's messages |
//! | `/events` | Server-Sent Events: the same data points as `/data` |
//!
//! # The chat room and slow clients
//!
//! `/room` is built on [`Hub`]: each connection joins the topic `room` with its [`Sender`],
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

const INDEX_HTML: &str = include_str!("../../static/index.html");
const APP_JS: &str = include_str!("../../static/app.js");
const STYLE_CSS: &str = include_str!("../../static/style.css");

// ----- pages -----

async fn page(ctx: &Context, content_type: &'static str, body: &'static str) {
    ctx.set_response_header(CONTENT_TYPE, content_type)
        .await
        .set_response_header("cache-control", "no-cache")
        .await
        .set_response_body(body)
        .await;
}

async fn index(ctx: Context) {
    page(&ctx, "text/html; charset=utf-8", INDEX_HTML).await;
}

async fn app_js(ctx: Context) {
    page(&ctx, "text/javascript; charset=utf-8", APP_JS).await;
}

async fn style_css(ctx: Context) {
    page(&ctx, "text/css; charset=utf-8", STYLE_CSS).await;
}

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
        let data = format!(
            "{{\"timestamp\": {}, \"value\": {}, \"sequence\": {}}}",
            unix_seconds(),
            rand::random::<f32>() * 100.0,
            i
        );
        if ctx.send_event(None, &data).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ----- the chat room -----

/// Appends `s` to `out` as a JSON string literal.
fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A JSON object from `(key, value)` pairs; values are strings unless they are numbers.
fn json(fields: &[(&str, Field<'_>)]) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_str(&mut out, k);
        out.push(':');
        match v {
            Field::Str(s) => json_str(&mut out, s),
            Field::Num(n) => out.push_str(&n.to_string()),
        }
    }
    out.push('}');
    out
}

/// A value in [`json`].
enum Field<'a> {
    Str(&'a str),
    Num(u64),
}

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
    const TOPIC: &str = "room";
    let name = chat_name(&ctx);
    let member = hub.join(TOPIC, ctx.sender());
    // Across processes when the hub has a backplane (`--redis`).
    let members = hub.member_count(TOPIC).await as u64;
    let welcome = json(&[
        ("type", Field::Str("welcome")),
        ("name", Field::Str(&name)),
        ("members", Field::Num(members)),
    ]);
    if ctx.send_message(welcome).await.is_err() {
        return;
    }
    let joined = json(&[
        ("type", Field::Str("join")),
        ("name", Field::Str(&name)),
        ("members", Field::Num(members)),
    ]);
    hub.publish_except(TOPIC, member.id(), joined);
    while let Some(msg) = ctx.recv_message().await {
        let Message::Text(text) = msg else {
            continue; // the room relays text only
        };
        let text: String = text.chars().take(MAX_CHAT_CHARS).collect();
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let line = json(&[
            ("type", Field::Str("message")),
            ("from", Field::Str(&name)),
            ("text", Field::Str(text)),
            ("ts", Field::Num(unix_millis())),
        ]);
        hub.publish(TOPIC, line);
    }
    drop(member);
    let left = json(&[
        ("type", Field::Str("leave")),
        ("name", Field::Str(&name)),
        ("members", Field::Num(hub.member_count(TOPIC).await as u64)),
    ]);
    hub.publish(TOPIC, left);
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
    server.get("/", index).await;
    server.get("/index.html", index).await;
    server.get("/app.js", app_js).await;
    server.get("/style.css", style_css).await;
    server.get("/favicon.ico", favicon).await;
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
