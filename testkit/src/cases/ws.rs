//! WebSocket cases.

use super::echo;
use crate::client::{self, ws_connect, ws_expect_close, ws_expect_end, ws_recv, ws_send, Conn};
use crate::util::{eventually, sleep, Gate};
use crate::{Harness, TestServer};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as TCloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message as TMessage;
use wirelane_core::app::{Context, Hub, Runtime, SlowClientPolicy};
use wirelane_core::proto::ws::{CloseCode, Message, Opcode};

fn echo_server<H: Harness>() -> TestServer {
    TestServer::start::<H, _, _>(|s| async move {
        s.route("/ws", echo).await;
    })
}

/// Text messages (empty, ASCII, multi-byte UTF-8, 100 KB) come back as the same text.
pub async fn ws_echo_text<H: Harness>() {
    let server = echo_server::<H>();
    let mut ws = ws_connect(&server.ws_url("/ws")).await;
    let big: String = "wirelane ✓ ".repeat(10_000);
    for text in ["hello", "", "héllo wörld ✓ 🚀", big.as_str()] {
        ws_send(&mut ws, TMessage::Text(text.to_string())).await;
        assert_eq!(ws_recv(&mut ws).await, TMessage::Text(text.to_string()));
    }
    ws_send(&mut ws, TMessage::Close(None)).await;
}

/// Binary messages come back as binary, even when their bytes happen to be UTF-8.
pub async fn ws_echo_binary<H: Harness>() {
    let server = echo_server::<H>();
    let mut ws = ws_connect(&server.ws_url("/ws")).await;
    let all: Vec<u8> = (0..=255u8).collect();
    let big: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    for bytes in [all, b"utf-8 but binary".to_vec(), Vec::new(), big] {
        ws_send(&mut ws, TMessage::Binary(bytes.clone())).await;
        assert_eq!(ws_recv(&mut ws).await, TMessage::Binary(bytes));
    }
}

/// Fragmented messages (raw frames, with a ping between fragments and a UTF-8 sequence
/// split across fragments) are reassembled; the ping is answered before the message
/// completes.
pub async fn ws_echo_fragmented<H: Harness>() {
    let server = echo_server::<H>();
    let mut c = Conn::ws_open(server.addr(), "/ws").await;
    c.send_frame(false, Opcode::Text, b"Hel").await;
    c.send_frame(false, Opcode::Continuation, b"lo, ").await;
    c.send_frame(true, Opcode::Ping, b"in-between").await;
    let pong = c.read_frame().await;
    assert_eq!(
        (pong.opcode, pong.payload.as_slice()),
        (Opcode::Pong, &b"in-between"[..])
    );
    // "wörld": ö is C3 B6, split between two fragments.
    c.send_frame(false, Opcode::Continuation, b"w\xC3").await;
    c.send_frame(true, Opcode::Continuation, b"\xB6rld").await;
    let f = c.read_frame().await;
    assert!(f.fin);
    assert_eq!(f.opcode, Opcode::Text);
    assert_eq!(String::from_utf8(f.payload).unwrap(), "Hello, wörld");

    c.send_frame(false, Opcode::Binary, &[1, 2]).await;
    c.send_frame(false, Opcode::Continuation, &[3]).await;
    c.send_frame(false, Opcode::Continuation, &[]).await;
    c.send_frame(true, Opcode::Continuation, &[4, 5]).await;
    let f = c.read_frame().await;
    assert_eq!((f.fin, f.opcode), (true, Opcode::Binary));
    assert_eq!(f.payload, vec![1, 2, 3, 4, 5]);

    // Many small fragments.
    let mut expected = Vec::new();
    for i in 0..200u32 {
        let piece = format!("{i},");
        expected.extend_from_slice(piece.as_bytes());
        let opcode = if i == 0 {
            Opcode::Text
        } else {
            Opcode::Continuation
        };
        c.send_frame(i == 199, opcode, piece.as_bytes()).await;
    }
    let f = c.read_frame().await;
    assert_eq!((f.fin, f.opcode), (true, Opcode::Text));
    assert_eq!(f.payload, expected);

    c.send_frame(true, Opcode::Close, &client::close_payload(1000, ""))
        .await;
    let close = c.read_frame().await;
    assert_eq!(close.close_code(), Some(1000));
    assert!(matches!(
        c.read_to_end(crate::STEP_TIMEOUT).await,
        client::End::Eof(b) | client::End::Reset(b) if b.is_empty()
    ));
}

/// A 16 MiB message (the default frame limit) is echoed intact.
pub async fn ws_echo_16_mib<H: Harness>() {
    let server = echo_server::<H>();
    let mut ws = ws_connect(&server.ws_url("/ws")).await;
    let payload: Vec<u8> = (0..16u32 << 20)
        .map(|i| (i ^ (i >> 8) ^ (i >> 16)) as u8)
        .collect();
    ws_send(&mut ws, TMessage::Binary(payload.clone())).await;
    match client::ws_recv_within(&mut ws, Duration::from_secs(20)).await {
        TMessage::Binary(b) => {
            assert_eq!(b.len(), payload.len());
            assert!(b == payload, "16 MiB echo differs");
        }
        m => panic!("expected binary, got {m:?}"),
    }
}

/// A ping is answered with a pong carrying the same payload (tungstenite and raw, up to
/// the 125-byte control frame maximum).
pub async fn ws_ping_pong<H: Harness>() {
    let server = echo_server::<H>();
    let mut ws = ws_connect(&server.ws_url("/ws")).await;
    ws_send(&mut ws, TMessage::Ping(b"payload-123".to_vec())).await;
    assert_eq!(
        ws_recv(&mut ws).await,
        TMessage::Pong(b"payload-123".to_vec())
    );

    let mut c = Conn::ws_open(server.addr(), "/ws").await;
    let p: Vec<u8> = (0..125u8).collect();
    c.send_frame(true, Opcode::Ping, &p).await;
    let f = c.read_frame().await;
    assert_eq!((f.fin, f.opcode), (true, Opcode::Pong));
    assert_eq!(f.payload, p);
    c.send_frame(true, Opcode::Ping, b"").await;
    let f = c.read_frame().await;
    assert_eq!((f.opcode, f.payload.len()), (Opcode::Pong, 0));
}

/// Pings are answered by the connection driver even while the handler never receives.
pub async fn ws_ping_answered_while_handler_busy<H: Harness>() {
    let server = TestServer::start::<H, _, _>(|s| async move {
        s.route("/busy", |_ctx: Context| async move {
            sleep(Duration::from_secs(3)).await;
        })
        .await;
    });
    let mut c = Conn::ws_open(server.addr(), "/busy").await;
    c.send_frame(true, Opcode::Text, b"nobody reads this").await;
    let t0 = Instant::now();
    c.send_frame(true, Opcode::Ping, b"still there?").await;
    let f = c.read_frame().await;
    assert_eq!(
        (f.opcode, f.payload.as_slice()),
        (Opcode::Pong, &b"still there?"[..])
    );
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "pong took {:?}",
        t0.elapsed()
    );
}

/// The client closes with 4000: the server echoes 4000, closes TCP, and the handler sees
/// the end of the stream.
pub async fn ws_close_from_client_is_echoed<H: Harness>() {
    let ended = Gate::new();
    let e = ended.clone();
    let server = TestServer::start::<H, _, _>(|s| async move {
        s.route("/ws", move |ctx: Context| {
            let e = e.clone();
            async move {
                echo(ctx).await;
                e.open();
            }
        })
        .await;
    });
    let mut ws = ws_connect(&server.ws_url("/ws")).await;
    ws_send(&mut ws, TMessage::Text("before close".into())).await;
    assert_eq!(
        ws_recv(&mut ws).await,
        TMessage::Text("before close".into())
    );
    ws.close(Some(CloseFrame {
        code: TCloseCode::from(4000),
        reason: "client bye".into(),
    }))
    .await
    .expect("send close");
    let (code, before) = ws_expect_close(&mut ws).await;
    assert!(before.is_empty(), "{before:?}");
    assert_eq!(code.map(|c| c.0), Some(4000));
    ws_expect_end(&mut ws).await;
    assert!(
        ended.wait_for(crate::STEP_TIMEOUT).await,
        "handler did not end"
    );
}

/// When the handler returns, the framework closes with 1000 (after what it sent).
pub async fn ws_close_when_handler_returns<H: Harness>() {
    let server = TestServer::start::<H, _, _>(|s| async move {
        s.route("/once", |ctx: Context| async move {
            let _ = ctx.send_message(Message::Text("only one".into())).await;
        })
        .await;
    });
    let mut ws = ws_connect(&server.ws_url("/once")).await;
    let (code, before) = ws_expect_close(&mut ws).await;
    assert_eq!(before, vec![TMessage::Text("only one".into())]);
    assert_eq!(code.map(|c| c.0), Some(1000));
    ws_expect_end(&mut ws).await;
}

/// `ctx.close(CloseCode(4001), "bye")`: the client gets 4001 "bye"; once it answers, the
/// handler's receive ends and the server closes TCP; sending after close fails.
pub async fn ws_close_from_server<H: Harness>() {
    let ended = Gate::new();
    let send_failed = Arc::new(AtomicBool::new(false));
    let (e, sf) = (ended.clone(), send_failed.clone());
    let server = TestServer::start::<H, _, _>(|s| async move {
        s.route("/kick", move |ctx: Context| {
            let (e, sf) = (e.clone(), sf.clone());
            async move {
                ctx.close(CloseCode(4001), "bye").await.expect("close");
                sf.store(
                    ctx.send_message(Message::Text("too late".into()))
                        .await
                        .is_err(),
                    Ordering::SeqCst,
                );
                while ctx.recv_message().await.is_some() {}
                e.open();
            }
        })
        .await;
    });
    let mut ws = ws_connect(&server.ws_url("/kick")).await;
    let (code, before) = ws_expect_close(&mut ws).await;
    assert!(before.is_empty(), "nothing may follow a close: {before:?}");
    assert_eq!(code, Some((4001, "bye".to_string())));
    ws_expect_end(&mut ws).await;
    assert!(
        ended.wait_for(crate::STEP_TIMEOUT).await,
        "handler did not end"
    );
    assert!(
        send_failed.load(Ordering::SeqCst),
        "send after close succeeded"
    );
}

/// An upgrade without `Sec-WebSocket-Key` gets 400; the handler is not called.
pub async fn ws_handshake_missing_key_400<H: Harness>() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c2 = calls.clone();
    let server = TestServer::start::<H, _, _>(|s| async move {
        s.route("/ws", move |ctx: Context| {
            c2.fetch_add(1, Ordering::SeqCst);
            echo(ctx)
        })
        .await;
    });
    // Written out by hand: `upgrade_request` only builds valid requests.
    let r = client::request(
        server.addr(),
        "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n",
    )
    .await;
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    // A proper handshake on the same route still works.
    let _ok = Conn::ws_open(server.addr(), "/ws").await;
}

/// An upgrade with version 8 gets 426 with `Sec-WebSocket-Version: 13`.
pub async fn ws_handshake_version_8_426<H: Harness>() {
    let server = echo_server::<H>();
    // Written out by hand: `upgrade_request` only builds valid requests (version 13).
    let r = client::request(
        server.addr(),
        format!(
            "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 8\r\n\r\n",
            client::RAW_KEY
        ),
    )
    .await;
    assert_eq!(r.status, 426, "{r:?}");
    assert_eq!(r.header("sec-websocket-version"), Some("13"));
}

fn limited_echo_server<H: Harness>(max_message: u64) -> TestServer {
    TestServer::start::<H, _, _>(move |s| async move {
        s.max_message_size(max_message).await;
        s.route("/ws", echo).await;
    })
}

/// With `max_message_size(1024)`: a 1024-byte message is echoed, a 1025-byte one closes
/// the connection with 1009.
pub async fn ws_message_over_limit_1009<H: Harness>() {
    let server = limited_echo_server::<H>(1024);
    let mut ws = ws_connect(&server.ws_url("/ws")).await;
    let fits = "a".repeat(1024);
    ws_send(&mut ws, TMessage::Text(fits.clone())).await;
    assert_eq!(ws_recv(&mut ws).await, TMessage::Text(fits));
    ws_send(&mut ws, TMessage::Binary(vec![7; 1025])).await;
    let (code, before) = ws_expect_close(&mut ws).await;
    assert!(before.is_empty(), "{before:?}");
    assert_eq!(code.map(|c| c.0), Some(1009));
    ws_expect_end(&mut ws).await;
}

/// The message limit counts all fragments together: two 600-byte fragments exceed 1024.
pub async fn ws_fragments_over_limit_1009<H: Harness>() {
    let server = limited_echo_server::<H>(1024);
    let mut c = Conn::ws_open(server.addr(), "/ws").await;
    c.send_frame(false, Opcode::Binary, &[1; 600]).await;
    c.send_frame(false, Opcode::Continuation, &[2; 600]).await;
    let f = c.read_frame().await;
    assert_eq!(f.close_code(), Some(1009), "{f:?}");
}

/// A WebSocket handler that panics: the client gets 1011, and the server keeps serving.
pub async fn ws_handler_panic_1011<H: Harness>() {
    let server = TestServer::start::<H, _, _>(|s| async move {
        s.route("/panic", |ctx: Context| async move {
            let _ = ctx.recv_message().await;
            panic!("handler panics on purpose (test)");
        })
        .await;
        s.route("/ws", echo).await;
    });
    let mut ws = ws_connect(&server.ws_url("/panic")).await;
    ws_send(&mut ws, TMessage::Text("boom".into())).await;
    let (code, _) = ws_expect_close(&mut ws).await;
    assert_eq!(code.map(|c| c.0), Some(1011));
    ws_expect_end(&mut ws).await;
    let mut ws = ws_connect(&server.ws_url("/ws")).await;
    ws_send(&mut ws, TMessage::Text("still serving".into())).await;
    assert_eq!(
        ws_recv(&mut ws).await,
        TMessage::Text("still serving".into())
    );
}

/// A `Sender` moved into a task spawned on the runtime, then into a plain thread, pushes
/// messages to the connection while the handler only receives.
pub async fn ws_sender_from_spawned_task<H: Harness>() {
    let rt = H::runtime();
    let server = TestServer::start::<H, _, _>(move |s| async move {
        s.route("/push", move |ctx: Context| {
            let rt = rt.clone();
            async move {
                let sender = ctx.sender();
                let from_thread = ctx.sender();
                let task_done = Gate::new();
                let td = task_done.clone();
                rt.spawn(async move {
                    for i in 0..3 {
                        sender
                            .send(Message::Text(format!("from task {i}")))
                            .await
                            .expect("send from task");
                    }
                    td.open();
                });
                let gate = task_done.clone();
                std::thread::spawn(move || {
                    while !gate.is_open() {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    from_thread
                        .try_send(Message::Binary(b"from thread".to_vec()))
                        .expect("try_send from thread");
                });
                while ctx.recv_message().await.is_some() {}
            }
        })
        .await;
    });
    let mut ws = ws_connect(&server.ws_url("/push")).await;
    for i in 0..3 {
        assert_eq!(
            ws_recv(&mut ws).await,
            TMessage::Text(format!("from task {i}"))
        );
    }
    assert_eq!(
        ws_recv(&mut ws).await,
        TMessage::Binary(b"from thread".to_vec())
    );
    ws.close(None).await.expect("close");
}

/// Two clients in one `Hub` topic: what one sends, the other receives (and the sender
/// does not get its own message back).
pub async fn ws_hub_broadcast<H: Harness>() {
    let hub = Hub::new(SlowClientPolicy::DropMessage);
    let h2 = hub.clone();
    let server = TestServer::start::<H, _, _>(|s| async move {
        s.route("/room", move |ctx: Context| {
            let hub = h2.clone();
            async move {
                let me = hub.join("room", ctx.sender());
                while let Some(msg) = ctx.recv_message().await {
                    hub.publish_except("room", me.id(), msg);
                }
            }
        })
        .await;
    });
    let mut a = ws_connect(&server.ws_url("/room")).await;
    let mut b = ws_connect(&server.ws_url("/room")).await;
    assert!(
        eventually(crate::STEP_TIMEOUT, || hub.members("room") == 2).await,
        "both clients should have joined"
    );
    ws_send(&mut a, TMessage::Text("hello from a".into())).await;
    assert_eq!(ws_recv(&mut b).await, TMessage::Text("hello from a".into()));
    ws_send(&mut b, TMessage::Binary(vec![0xb0, 0x0b])).await;
    assert_eq!(ws_recv(&mut a).await, TMessage::Binary(vec![0xb0, 0x0b]));
    // `a` got only b's message, not its own: the next thing `a` sees is the close.
    a.close(None).await.expect("close a");
    let (_, before) = ws_expect_close(&mut a).await;
    assert!(before.is_empty(), "a received {before:?}");
    assert!(
        eventually(crate::STEP_TIMEOUT, || hub.members("room") == 1).await,
        "a should have left the room"
    );
}

/// The article's API: `get_request_header(SEC_WEBSOCKET_KEY)`,
/// `get_socket_addr_or_default_string`, `get_request_body` (empty at the end) and
/// `set_response_body(..).await.send_body().await` (bytes keep the kind received).
pub async fn ws_article_api<H: Harness>() {
    let server = TestServer::start::<H, _, _>(|s| async move {
        s.route("/article", |ctx: Context| async move {
            use wirelane_core::app::headers::SEC_WEBSOCKET_KEY;
            let key = ctx.get_request_header(SEC_WEBSOCKET_KEY).await;
            let addr = ctx.get_socket_addr_or_default_string().await;
            let hello = format!("{} {addr}", key.unwrap_or_default());
            if ctx
                .set_response_body(hello)
                .await
                .send_body()
                .await
                .is_err()
            {
                return;
            }
            loop {
                let body = ctx.get_request_body().await;
                if body.is_empty() {
                    break;
                }
                if ctx.set_response_body(body).await.send_body().await.is_err() {
                    break;
                }
            }
        })
        .await;
    });
    let mut c = Conn::ws_open(server.addr(), "/article").await;
    let local = c.stream.local_addr().expect("local addr");
    let f = c.read_frame().await;
    assert_eq!(f.opcode, Opcode::Text);
    assert_eq!(
        String::from_utf8(f.payload).unwrap(),
        format!("{} {local}", client::RAW_KEY)
    );
    c.send_frame(true, Opcode::Text, b"text stays text").await;
    let f = c.read_frame().await;
    assert_eq!(
        (f.opcode, f.payload.as_slice()),
        (Opcode::Text, &b"text stays text"[..])
    );
    c.send_frame(true, Opcode::Binary, b"binary stays binary")
        .await;
    let f = c.read_frame().await;
    assert_eq!(
        (f.opcode, f.payload.as_slice()),
        (Opcode::Binary, &b"binary stays binary"[..])
    );
    c.send_frame(true, Opcode::Close, &client::close_payload(1000, ""))
        .await;
    assert_eq!(c.read_frame().await.close_code(), Some(1000));
}

/// Handy for the slow-reader case: a shared count of messages sent and the handler's end.
#[derive(Default)]
struct Flood {
    sent: AtomicUsize,
    ended: Gate,
    error: Mutex<Option<String>>,
}

/// A client that never reads: the handler's `send_body().await` stops returning once the
/// outgoing queue and the kernel buffers are full, so the number of messages sent stops
/// growing and stays under the bound below. When the client goes away, the handler's
/// send fails and it ends.
pub async fn ws_slow_reader_is_bounded<H: Harness>() {
    const QUEUE: usize = 64 * 1024;
    const MSG: usize = 1024;
    const RCVBUF: u32 = 16 * 1024;
    let flood = Arc::new(Flood::default());
    let f2 = flood.clone();
    let server = TestServer::start::<H, _, _>(|s| async move {
        s.max_outgoing_queue(QUEUE).await;
        s.route("/flood", move |ctx: Context| {
            let flood = f2.clone();
            async move {
                let payload = vec![b'x'; MSG];
                loop {
                    match ctx.set_response_body(&payload).await.send_body().await {
                        Ok(()) => {
                            flood.sent.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(e) => {
                            *flood.error.lock().unwrap() = Some(e.to_string());
                            break;
                        }
                    }
                }
                flood.ended.open();
            }
        })
        .await;
    });

    // A small, fixed receive buffer (this also turns receive autotuning off).
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(RCVBUF).expect("SO_RCVBUF");
    let stream = socket.connect(server.addr()).await.expect("connect");
    let mut c = Conn::from_stream(stream);
    c.send(client::upgrade_request("/flood", &[])).await;
    // Not even the 101 is read: the client reads nothing at all.

    // Wait until the count stops moving: unchanged for 500 ms, at most 15 s.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut last = usize::MAX;
    let mut stable_since = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = flood.sent.load(Ordering::SeqCst);
        if now != last {
            last = now;
            stable_since = Instant::now();
        } else if stable_since.elapsed() >= Duration::from_millis(500) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the handler kept sending to a client that never reads: {now} messages of {MSG} B"
        );
    }
    let sent = flood.sent.load(Ordering::SeqCst);
    assert!(sent > 0, "the handler sent nothing");

    // The bound. A message is queued only while the connection's outgoing queue holds at
    // most `max_outgoing_queue` bytes, so the queue holds at most QUEUE + one frame.
    // Everything else has been written to the socket and sits in kernel buffers: the
    // server's send buffer (autotuned up to tcp_wmem's maximum) and the client's receive
    // buffer (fixed above; Linux doubles the value asked for, for its bookkeeping). Kernel
    // buffers count overhead too, so payload bytes in them are fewer than these sizes.
    // Each message costs MSG + 4 bytes (frame header) on the wire. The whole 101 response
    // is also in there; it is small and ignored here since it is covered by the slack.
    let wmem_max = read_sysctl_max("/proc/sys/net/ipv4/tcp_wmem").unwrap_or(4 << 20);
    let frame = MSG + 4;
    let bound_bytes = QUEUE + frame + wmem_max + 2 * RCVBUF as usize + 64 * 1024;
    let bound = bound_bytes / frame + 1;
    eprintln!("slow reader: {sent} messages of {MSG} B queued or written (bound {bound})");
    assert!(
        sent <= bound,
        "{sent} messages sent to a client that never reads (bound {bound}: queue {QUEUE} B + \
         send buffer {wmem_max} B + receive buffer {} B)",
        2 * RCVBUF
    );
    // The handler is blocked in send_body, not finished.
    assert!(
        !flood.ended.is_open(),
        "handler ended: {:?}",
        flood.error.lock().unwrap()
    );

    // The client goes away: the blocked send fails and the handler ends.
    drop(c);
    assert!(
        flood.ended.wait_for(crate::STEP_TIMEOUT).await,
        "handler still blocked after the client left"
    );
    assert!(
        eventually(crate::STEP_TIMEOUT, || server.handle().connections() == 0).await,
        "connection not released"
    );
}

/// The largest value of a `min default max` sysctl line.
fn read_sysctl_max(path: &str) -> Option<usize> {
    std::fs::read_to_string(path)
        .ok()?
        .split_whitespace()
        .last()?
        .parse()
        .ok()
}

/// Heartbeat and idle timeout: the server pings a silent client every `ping_interval`;
/// a client that never answers is closed with 1001 after `idle_timeout`, while one that
/// answers (tungstenite does) stays open.
pub async fn ws_heartbeat_and_idle_timeout<H: Harness>() {
    use wirelane_core::proto::WsLimits;
    let idle = Duration::from_millis(700);
    let server = TestServer::start::<H, _, _>(move |s| async move {
        s.ws_limits(
            WsLimits::default()
                .ping_interval(Some(Duration::from_millis(150)))
                .idle_timeout(Some(idle)),
        )
        .await;
        s.route("/ws", echo).await;
    });
    // Raw client that never answers.
    let mut c = Conn::ws_open(server.addr(), "/ws").await;
    let t0 = Instant::now();
    let first = c.read_frame().await;
    assert_eq!(first.opcode, Opcode::Ping, "{first:?}");
    let close = loop {
        let f = c.read_frame().await;
        if f.opcode != Opcode::Ping {
            break f;
        }
    };
    assert_eq!(close.close_code(), Some(1001), "{close:?}");
    let took = t0.elapsed();
    assert!(
        took >= idle - Duration::from_millis(100),
        "idle close after {took:?}"
    );

    // tungstenite answers every ping while it reads: still open after twice the idle
    // timeout.
    let mut ws = ws_connect(&server.ws_url("/ws")).await;
    let quiet = tokio::time::timeout(2 * idle, ws_recv(&mut ws)).await;
    assert!(quiet.is_err(), "unexpected message {quiet:?}");
    ws_send(&mut ws, TMessage::Text("alive".into())).await;
    assert_eq!(ws_recv(&mut ws).await, TMessage::Text("alive".into()));
}

/// A handler that does not receive: the server stops reading, so a client that keeps
/// sending is blocked after a bounded amount; once the handler receives, every message
/// arrives.
pub async fn ws_inbound_backpressure<H: Harness>() {
    const INBOUND: usize = 256 * 1024;
    const MSG: usize = 64 * 1024;
    const SNDBUF: u32 = 64 * 1024;
    let go = Gate::new();
    let g2 = go.clone();
    let server = TestServer::start::<H, _, _>(|s| async move {
        let mut config = s.config().await;
        config.max_inbound_queue = INBOUND;
        s.set_config(config).await;
        s.route("/lazy", move |ctx: Context| {
            let go = g2.clone();
            async move {
                go.wait().await;
                let mut count = 0usize;
                while let Some(m) = ctx.recv_message().await {
                    match m {
                        Message::Binary(b) if b.len() == MSG => count += 1,
                        Message::Text(t) if t == "end" => {
                            let _ = ctx.send_message(Message::Text(count.to_string())).await;
                        }
                        other => panic!("unexpected message of {} bytes", other.as_bytes().len()),
                    }
                }
            }
        })
        .await;
    });
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_send_buffer_size(SNDBUF).expect("SO_SNDBUF");
    let stream = socket.connect(server.addr()).await.expect("connect");
    let mut c = Conn::from_stream(stream);
    c.send(client::upgrade_request("/lazy", &[])).await;
    assert_eq!(c.read_head().await.status, 101);

    // The bound: what the framework holds (inbound queue + one message + the protocol's
    // unparsed input, at most 256 KiB before it stops reading + one read buffer of
    // 64 KiB) plus the kernel buffers between us: the server's receive buffer (autotuned
    // up to tcp_rmem's maximum) and ours for sending (fixed above, doubled by Linux).
    let rmem_max = read_sysctl_max("/proc/sys/net/ipv4/tcp_rmem").unwrap_or(6 << 20);
    let bound = INBOUND + MSG + 256 * 1024 + 64 * 1024 + rmem_max + 2 * SNDBUF as usize + (1 << 20);
    let frame = client::client_frame(true, Opcode::Binary, &vec![0x5a; MSG]);
    let mut sent = 0usize;
    let mut messages = 0usize;
    loop {
        assert!(
            sent <= bound,
            "the server kept reading from a client whose handler does not receive: {sent} B \
             (bound {bound} B)"
        );
        let write = tokio::io::AsyncWriteExt::write_all(&mut c.stream, &frame);
        tokio::pin!(write);
        match tokio::time::timeout(Duration::from_millis(300), &mut write).await {
            Ok(r) => {
                r.expect("write");
                sent += frame.len();
                messages += 1;
            }
            Err(_) => {
                // Blocked: the server stopped reading. Let the handler receive, and finish
                // the frame that was half written.
                go.open();
                tokio::time::timeout(crate::STEP_TIMEOUT, write)
                    .await
                    .expect("write resumes once the handler receives")
                    .expect("write");
                messages += 1;
                break;
            }
        }
    }
    eprintln!(
        "inbound backpressure: blocked after {sent} B in {messages} messages (bound {bound} B)"
    );
    c.send_frame(true, Opcode::Text, b"end").await;
    let f = tokio::time::timeout(Duration::from_secs(20), c.read_frame())
        .await
        .expect("count");
    assert_eq!(String::from_utf8(f.payload).unwrap(), messages.to_string());
}

/// Request middleware sees a WebSocket upgrade request before the 101: an answer it sends
/// (401 here) replaces the upgrade and the handler never runs; when it lets the request
/// through, the WebSocket opens and the middleware has run exactly once for it. Response
/// middleware runs after the WebSocket handler returns.
pub async fn ws_middleware_decides_upgrade<H: Harness>() {
    let seen = Arc::new(AtomicUsize::new(0));
    let handled = Arc::new(AtomicUsize::new(0));
    let after = Arc::new(AtomicUsize::new(0));
    let (s2, h2, a2) = (seen.clone(), handled.clone(), after.clone());
    let server = TestServer::start::<H, _, _>(|s| async move {
        s.request_middleware(move |ctx: Context| {
            let seen = s2.clone();
            async move {
                seen.fetch_add(1, Ordering::SeqCst);
                if ctx.query_param("token").as_deref() != Some("ok") {
                    let _ = ctx
                        .set_response_status_code(401)
                        .await
                        .set_response_body("no token")
                        .await
                        .send()
                        .await;
                }
            }
        })
        .await;
        s.response_middleware(move |_ctx: Context| {
            let after = a2.clone();
            async move {
                after.fetch_add(1, Ordering::SeqCst);
            }
        })
        .await;
        s.route("/ws", move |ctx: Context| {
            let handled = h2.clone();
            async move {
                handled.fetch_add(1, Ordering::SeqCst);
                echo(ctx).await
            }
        })
        .await;
    });
    let refused = client::request(server.addr(), client::upgrade_request("/ws", &[])).await;
    assert_eq!((refused.status, refused.text().as_str()), (401, "no token"));
    assert_eq!(
        handled.load(Ordering::SeqCst),
        0,
        "handler ran after a refusal"
    );
    assert_eq!(seen.load(Ordering::SeqCst), 1);

    let mut ws = ws_connect(&server.ws_url("/ws?token=ok")).await;
    ws_send(&mut ws, TMessage::Text("through".into())).await;
    assert_eq!(ws_recv(&mut ws).await, TMessage::Text("through".into()));
    assert_eq!(handled.load(Ordering::SeqCst), 1);
    assert_eq!(
        seen.load(Ordering::SeqCst),
        2,
        "request middleware ran twice"
    );
    ws_send(&mut ws, TMessage::Close(None)).await;
    assert!(
        eventually(Duration::from_secs(5), || after.load(Ordering::SeqCst) >= 1).await,
        "response middleware did not run after the WebSocket handler"
    );
}

/// Subprotocol negotiation: the server answers with the first protocol of its own list that
/// the client offered, and the handler sees the same choice; with no common protocol the
/// 101 names none.
pub async fn ws_subprotocol_selection<H: Harness>() {
    let server = TestServer::start::<H, _, _>(|s| async move {
        s.ws_protocols(&["chat.v2", "chat.v1"]).await;
        s.route("/ws", |ctx: Context| async move {
            let p = ctx.websocket_protocol().unwrap_or("none").to_string();
            let _ = ctx.send_message(p).await;
        })
        .await;
    });
    for (offer, want) in [
        ("chat.v1, chat.v2", Some("chat.v2")),
        ("other, chat.v1", Some("chat.v1")),
        ("other", None),
    ] {
        let mut c = Conn::connect(server.addr()).await;
        c.send(client::upgrade_request(
            "/ws",
            &[("Sec-WebSocket-Protocol", offer)],
        ))
        .await;
        let head = c.read_head().await;
        assert_eq!(head.status, 101, "offer {offer:?}");
        assert_eq!(
            head.header("sec-websocket-protocol"),
            want,
            "offer {offer:?}"
        );
        let f = c.read_frame().await;
        assert_eq!(
            String::from_utf8(f.payload).unwrap(),
            want.unwrap_or("none")
        );
    }
}

/// permessage-deflate, end to end: the framework answers Chromium's offer with the default
/// preset, inflates a compressed client message, compresses the echo (RSV1) above the
/// threshold and not below, sends `send_message_uncompressed` as it is, and a `Hub`
/// broadcast reaches many deflate members. Off by default: no offer is answered then.
pub async fn ws_deflate<H: Harness>() {
    use wirelane_core::proto::ws::deflate::{Compressor, InflateError, Inflater};
    use wirelane_core::proto::ws::{encode_client_frame_rsv, DeflateConfig};
    let offer = [(
        "Sec-WebSocket-Extensions",
        "permessage-deflate; client_max_window_bits",
    )];
    // Off by default.
    let plain = echo_server::<H>();
    let mut c = Conn::connect(plain.addr()).await;
    c.send(client::upgrade_request("/ws", &offer)).await;
    let head = c.read_head().await;
    assert_eq!(head.status, 101);
    assert_eq!(head.header("sec-websocket-extensions"), None);

    let hub = Hub::new(SlowClientPolicy::DropMessage);
    let h2 = hub.clone();
    let server = TestServer::start::<H, _, _>(|s| async move {
        s.enable_ws_deflate().await;
        s.route("/ws", echo).await;
        s.route("/secret", |ctx: Context| async move {
            let _ = ctx.send_message_uncompressed("x".repeat(500)).await;
            while ctx.recv_message().await.is_some() {}
        })
        .await;
        s.route("/room", move |ctx: Context| {
            let hub = h2.clone();
            async move {
                let _me = hub.join("room", ctx.sender());
                while let Some(msg) = ctx.recv_message().await {
                    hub.publish("room", msg);
                }
            }
        })
        .await;
    });
    let open = |path: &'static str| {
        let addr = server.addr();
        async move {
            let mut c = Conn::connect(addr).await;
            c.send(client::upgrade_request(path, &offer)).await;
            let head = c.read_head().await;
            assert_eq!(head.status, 101);
            let ext = head.header("sec-websocket-extensions").map(str::to_owned);
            assert_eq!(
                ext.as_deref(),
                Some(
                    DeflateParams::negotiate(&[offer[0].1], &DeflateConfig::default())
                        .unwrap()
                        .response_header()
                        .as_str()
                )
            );
            c
        }
    };
    use wirelane_core::proto::ws::DeflateParams;
    let inflate = |inf: &mut Inflater, data: &[u8]| {
        let mut out = Vec::new();
        let mut sink = |c: &[u8]| -> Result<(), InflateError> {
            out.extend_from_slice(c);
            Ok(())
        };
        inf.feed(data, u64::MAX, &mut sink).expect("inflates");
        inf.finish(u64::MAX, &mut sink).expect("inflates");
        out
    };
    let mut c = open("/ws").await;
    let mut z = Compressor::with_window(9, true, 6);
    let mut inf = Inflater::new(15, true);
    for text in [
        "{\"symbol\":\"AAPL\",\"price\":123.45,\"volume\":1000,\"type\":\"market_data\"}",
        "hi",
    ] {
        let mut frame = Vec::new();
        encode_client_frame_rsv(
            true,
            0b100,
            Opcode::Text,
            &z.compress(text.as_bytes()),
            [1, 2, 3, 4],
            &mut frame,
        );
        c.send(frame).await;
        let f = c.read_frame().await;
        assert_eq!(f.opcode, Opcode::Text);
        if text.len() >= 64 {
            assert_eq!(f.rsv, 0b100, "echo compressed");
            assert_eq!(inflate(&mut inf, &f.payload), text.as_bytes());
        } else {
            assert_eq!(
                (f.rsv, f.payload.as_slice()),
                (0, text.as_bytes()),
                "below the threshold"
            );
        }
    }
    let mut s = open("/secret").await;
    let f = s.read_frame().await;
    assert_eq!(
        (f.rsv, f.payload.len()),
        (0, 500),
        "sent uncompressed on request"
    );

    // A broadcast to many deflate members (default preset: each compresses with its own
    // context, and each inflates to the same text).
    let mut members = Vec::new();
    for _ in 0..20 {
        members.push(open("/room").await);
    }
    assert!(eventually(crate::STEP_TIMEOUT, || hub.members("room") == 20).await);
    let text = "market update: ".repeat(10);
    let mut frame = Vec::new();
    encode_client_frame_rsv(
        true,
        0,
        Opcode::Text,
        text.as_bytes(),
        [1, 2, 3, 4],
        &mut frame,
    );
    members[0].send(frame).await;
    for m in &mut members {
        let f = m.read_frame().await;
        assert_eq!(f.rsv, 0b100);
        assert_eq!(
            inflate(&mut Inflater::new(15, true), &f.payload),
            text.as_bytes()
        );
    }
}
