//! The connection driver's rules, tested on the memory runtime: no sockets, no sleeps, the
//! clock moves only when a test advances it, and the server-side stream misbehaves on
//! demand (one-byte reads and writes, `WouldBlock` storms, resets, early end of stream).
//!
//! Every test ends with the server holding no connection and no armed deadline.

// The driver is the framework's: without it (`--no-default-features`) there is nothing
// to test here.
#![cfg(feature = "framework")]

mod support;

use std::io::ErrorKind;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::*;
use wirelane_core::app::memory::{Faults, MemRuntime, ShutdownFault, StormWake};
use wirelane_core::app::{Context, Runtime, ServerHandle};
use wirelane_core::proto::{HttpLimits, WsLimits};

async fn hello(ctx: Context) {
    ctx.set_response_body("hello").await;
}

fn http_server(rt: &MemRuntime) -> ServerHandle {
    start(rt, |s| async move {
        s.route("/hello", hello).await;
        s.route("/{*rest}", echo_http).await;
        s
    })
}

fn ws_server(rt: &MemRuntime, limits: WsLimits) -> ServerHandle {
    start(rt, |s| async move {
        s.ws_limits(limits).await;
        s.route("/ws", ws_echo).await;
        s
    })
}

/// WebSocket limits with no timer, so a test only sees the ones it turns on.
fn quiet() -> WsLimits {
    WsLimits {
        ping_interval: None,
        idle_timeout: None,
        ..WsLimits::default()
    }
}

/// The client half-closes; the server finishes and the connection ends.
fn client_leaves(rt: &MemRuntime, handle: &ServerHandle, peer: &Peer) {
    peer.conn.shutdown_write();
    rt.run_until_idle();
    assert!(peer.conn.is_closed_by_server());
    assert_clean(handle);
}

/// The WebSocket client answers the server's close and half-closes.
fn ws_client_closes(rt: &MemRuntime, handle: &ServerHandle, peer: &mut Peer) {
    peer.conn.write(&close_frame(1000, ""));
    rt.run_until_idle();
    peer.conn.shutdown_write();
    rt.run_until_idle();
    assert!(peer.conn.is_dropped_by_server());
    assert_clean(handle);
}

// ----- HTTP exchanges -----

#[test]
fn get_keep_alive_serves_several_requests_on_one_connection() {
    let rt = MemRuntime::new();
    let handle = http_server(&rt);
    let mut peer = Peer::new(connect(&rt, &handle, Faults::default()));
    for _ in 0..3 {
        peer.conn.write(&get("/hello"));
        rt.run_until_idle();
        let r = peer.responses();
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].status, r[0].body_str()), (200, "hello"));
        assert!(!peer.conn.is_closed_by_server());
    }
    assert_eq!(handle.connections(), 1);
    client_leaves(&rt, &handle, &peer);
}

/// The context of a finished request is reused for the next one on the connection: nothing
/// of the first request's response (status, headers, body, route parameters) may show in
/// the second, and a context the application kept is left alone.
#[test]
fn a_reused_context_starts_every_request_afresh() {
    let rt = MemRuntime::new();
    let kept: Arc<Mutex<Vec<Context>>> = Arc::default();
    let keep = kept.clone();
    let handle = start(&rt, move |s| async move {
        s.route("/set/{name}", |ctx: Context| async move {
            let name = ctx.route_param("name").unwrap_or("").to_string();
            ctx.set_response_status_code(201)
                .await
                .set_response_header("x-first", name)
                .await
                .set_response_body("first body")
                .await;
        })
        .await;
        s.route("/keep", move |ctx: Context| {
            let keep = keep.clone();
            async move {
                ctx.set_response_header("x-kept", "yes").await;
                keep.lock().unwrap().push(ctx);
            }
        })
        .await;
        s.route("/plain", |ctx: Context| async move {
            let seen = format!(
                "{} {:?} {:?} {}",
                ctx.get_response_status_code().await,
                ctx.route_param("name"),
                ctx.get_response_body().await,
                ctx.path()
            );
            ctx.set_response_body(seen).await;
        })
        .await;
        s
    });
    let mut peer = Peer::new(connect(&rt, &handle, Faults::default()));
    for first in ["/set/a", "/keep", "/set/b"] {
        peer.conn.write(&get(first));
        rt.run_until_idle();
        peer.conn.write(&get("/plain"));
        rt.run_until_idle();
        let r = peer.responses();
        assert_eq!(r.len(), 2, "after {first}");
        assert_eq!(r[1].status, 200, "after {first}");
        assert_eq!(r[1].body_str(), "200 None [] /plain", "after {first}");
        for name in ["x-first", "x-kept"] {
            assert_eq!(r[1].header(name), None, "{name} after {first}");
        }
    }
    // The kept context still sees its own request.
    let kept = kept.lock().unwrap().pop().unwrap();
    assert_eq!(kept.path(), "/keep");
    drop(kept);
    client_leaves(&rt, &handle, &peer);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let rt = MemRuntime::new();
    let handle = http_server(&rt);
    let mut peer = Peer::new(connect(&rt, &handle, Faults::default()));
    let mut burst = get("/a");
    burst.extend(post("/b", b"xyz"));
    burst.extend(get("/c"));
    burst.extend(post_chunked("/d", &[b"12", b"345"]));
    peer.conn.write(&burst);
    rt.run_until_idle();
    let bodies: Vec<String> = peer
        .responses()
        .iter()
        .map(|r| r.body_str().to_string())
        .collect();
    assert_eq!(bodies, ["/a:", "/b:xyz", "/c:", "/d:12345"]);
    client_leaves(&rt, &handle, &peer);
}

#[test]
fn pipelined_requests_with_one_byte_reads_and_writes() {
    let rt = MemRuntime::new();
    let handle = http_server(&rt);
    let faults = Faults::default().max_read(1).max_write(1);
    let mut peer = Peer::new(connect(&rt, &handle, faults));
    let mut burst = post("/x", b"first");
    burst.extend(post("/y", b"second"));
    peer.conn.write(&burst);
    rt.run_until_idle();
    let bodies: Vec<String> = peer
        .responses()
        .iter()
        .map(|r| r.body_str().to_string())
        .collect();
    assert_eq!(bodies, ["/x:first", "/y:second"]);
    client_leaves(&rt, &handle, &peer);
}

#[test]
fn content_length_body_fed_one_byte_at_a_time() {
    let rt = MemRuntime::new();
    let handle = http_server(&rt);
    let mut peer = Peer::new(connect(&rt, &handle, Faults::default().max_read(1)));
    let body: Vec<u8> = (0..200u32).map(|i| b'a' + (i % 26) as u8).collect();
    for b in post("/up", &body) {
        assert!(
            peer.responses().is_empty(),
            "no answer before the body ends"
        );
        peer.conn.write(&[b]);
        rt.run_until_idle();
    }
    let r = peer.responses();
    assert_eq!(r.len(), 1);
    assert_eq!(&r[0].body[..4], b"/up:");
    assert_eq!(&r[0].body[4..], &body[..]);
    client_leaves(&rt, &handle, &peer);
}

#[test]
fn chunked_body_fed_one_byte_at_a_time() {
    let rt = MemRuntime::new();
    let handle = http_server(&rt);
    let mut peer = Peer::new(connect(&rt, &handle, Faults::default().max_read(1)));
    for b in post_chunked("/c", &[b"hello ", b"chunked ", b"world"]) {
        peer.conn.write(&[b]);
        rt.run_until_idle();
    }
    let r = peer.responses();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].body_str(), "/c:hello chunked world");
    client_leaves(&rt, &handle, &peer);
}

#[test]
fn response_written_one_byte_at_a_time() {
    let rt = MemRuntime::new();
    let handle = http_server(&rt);
    let mut peer = Peer::new(connect(&rt, &handle, Faults::default().max_write(1)));
    let body = vec![b'z'; 3000];
    peer.conn.write(&post("/big", &body));
    rt.run_until_idle();
    let r = peer.responses();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].body.len(), 3005);
    client_leaves(&rt, &handle, &peer);
}

#[test]
fn streamed_response_written_one_byte_at_a_time_through_a_small_client_buffer() {
    let rt = MemRuntime::new();
    let handle = start(&rt, |s| async move {
        s.route("/stream", |ctx: Context| async move {
            for i in 0..20 {
                ctx.set_response_body(format!("part{i};")).await;
                ctx.send_body().await.unwrap();
            }
        })
        .await;
        s
    });
    let faults = Faults::default().max_write(1).client_buffer(7);
    let mut peer = Peer::new(connect(&rt, &handle, faults));
    peer.conn.write(&get("/stream"));
    let mut got = Vec::new();
    for _ in 0..10_000 {
        rt.run_until_idle();
        got = peer.responses();
        if !got.is_empty() {
            break;
        }
    }
    let want: String = (0..20).map(|i| format!("part{i};")).collect();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body_str(), want);
    client_leaves(&rt, &handle, &peer);
}

#[test]
fn read_would_block_storms_with_spurious_wake_ups() {
    let rt = MemRuntime::new();
    let handle = http_server(&rt);
    let faults = Faults::default()
        .max_read(3)
        .read_storm(5, StormWake::Immediately);
    let mut peer = Peer::new(connect(&rt, &handle, faults));
    peer.conn.write(&post("/s", b"storm body"));
    rt.run_until_idle();
    let r = peer.responses();
    assert_eq!(r[0].body_str(), "/s:storm body");
    client_leaves(&rt, &handle, &peer);
}

#[test]
fn write_would_block_storms_with_spurious_wake_ups() {
    let rt = MemRuntime::new();
    let handle = http_server(&rt);
    let faults = Faults::default()
        .max_write(2)
        .write_storm(4, StormWake::Immediately);
    let mut peer = Peer::new(connect(&rt, &handle, faults));
    peer.conn.write(&post("/w", b"0123456789"));
    rt.run_until_idle();
    assert_eq!(peer.responses()[0].body_str(), "/w:0123456789");
    client_leaves(&rt, &handle, &peer);
}

#[test]
fn storm_woken_only_by_the_client_stalls_until_the_client_acts() {
    let rt = MemRuntime::new();
    let handle = http_server(&rt);
    let faults = Faults::default().read_storm(2, StormWake::OnClientAction);
    let mut peer = Peer::new(connect(&rt, &handle, faults));
    peer.conn.write(&get("/n"));
    rt.run_until_idle();
    assert!(peer.responses().is_empty(), "the stalled read waits");
    peer.conn.nudge();
    rt.run_until_idle();
    assert!(peer.responses().is_empty(), "one more stall");
    peer.conn.nudge();
    rt.run_until_idle();
    assert_eq!(peer.responses()[0].body_str(), "/n:");
    // The end of stream goes through the same storm.
    peer.conn.shutdown_write();
    rt.run_until_idle();
    assert!(!peer.conn.is_closed_by_server());
    peer.conn.nudge();
    peer.conn.nudge();
    rt.run_until_idle();
    assert!(
        !peer.conn.is_closed_by_server(),
        "each nudge ends one stall"
    );
    peer.conn.nudge();
    rt.run_until_idle();
    assert!(peer.conn.is_closed_by_server());
    assert_clean(&handle);
}

#[test]
fn expect_continue_gets_100_then_the_response() {
    let rt = MemRuntime::new();
    let handle = http_server(&rt);
    let mut peer = Peer::new(connect(&rt, &handle, Faults::default()));
    peer.conn
        .write(b"POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
    rt.run_until_idle();
    let r = peer.responses();
    assert_eq!(r.iter().map(|r| r.status).collect::<Vec<_>>(), [100]);
    peer.conn.write(b"abc");
    rt.run_until_idle();
    assert_eq!(peer.responses()[0].body_str(), "/e:abc");
    client_leaves(&rt, &handle, &peer);
}

#[test]
fn not_found_and_method_not_allowed_keep_the_connection() {
    let rt = MemRuntime::new();
    let handle = start(&rt, |s| async move {
        s.get("/only-get", hello).await;
        s
    });
    let mut peer = Peer::new(connect(&rt, &handle, Faults::default()));
    peer.conn.write(&get("/missing"));
    peer.conn.write(&post("/only-get", b""));
    peer.conn.write(&get("/only-get"));
    rt.run_until_idle();
    let r = peer.responses();
    assert_eq!(
        r.iter().map(|r| r.status).collect::<Vec<_>>(),
        [404, 405, 200]
    );
    assert_eq!(r[1].header("allow"), Some("GET, HEAD"));
    client_leaves(&rt, &handle, &peer);
}

#[test]
fn accepted_streams_get_the_socket_options() {
    let rt = MemRuntime::new();
    let handle = start(&rt, |s| async move {
        s.enable_linger(Duration::from_secs(3)).await;
        s
    });
    let peer = Peer::new(connect(&rt, &handle, Faults::default()));
    assert_eq!(peer.conn.nodelay(), Some(true));
    assert_eq!(peer.conn.linger(), Some(Some(Duration::from_secs(3))));
    client_leaves(&rt, &handle, &peer);
}

// ----- faults in the middle of an exchange -----

/// A handler that streams until sending fails, and records that it saw the failure.
fn streaming_server(rt: &MemRuntime, saw_closed: Arc<AtomicBool>) -> ServerHandle {
    start(rt, move |s| async move {
        s.route("/stream", move |ctx: Context| {
            let saw_closed = saw_closed.clone();
            async move {
                ctx.set_response_body(vec![b'x'; 1000]).await;
                for _ in 0..1000 {
                    if ctx.send_body().await.is_err() {
                        saw_closed.store(true, Ordering::SeqCst);
                        return;
                    }
                }
            }
        })
        .await;
        s
    })
}

fn write_error_mid_response(kind: ErrorKind) {
    let rt = MemRuntime::new();
    let saw_closed = Arc::new(AtomicBool::new(false));
    let handle = streaming_server(&rt, saw_closed.clone());
    let faults = Faults::default()
        .max_write(700)
        .write_error_after(5000, kind);
    let peer = connect(&rt, &handle, faults);
    peer.write(&get("/stream"));
    rt.run_until_idle();
    assert_eq!(peer.bytes_written_by_server(), 5000);
    assert!(
        saw_closed.load(Ordering::SeqCst),
        "the handler saw the close"
    );
    assert!(peer.is_dropped_by_server());
    assert_clean(&handle);
}

#[test]
fn connection_reset_in_the_middle_of_a_write_ends_the_connection() {
    write_error_mid_response(ErrorKind::ConnectionReset);
}

#[test]
fn broken_pipe_in_the_middle_of_a_write_ends_the_connection() {
    write_error_mid_response(ErrorKind::BrokenPipe);
}

#[test]
fn websocket_write_error_fails_the_senders() {
    let rt = MemRuntime::new();
    let results = Arc::new(Mutex::new(Vec::new()));
    let r2 = results.clone();
    let handle = start(&rt, move |s| async move {
        s.max_outgoing_queue(1000).await;
        s.route("/ws", move |ctx: Context| {
            let results = r2.clone();
            async move {
                for i in 0..200u32 {
                    let ok = ctx.send_message(vec![i as u8; 100]).await.is_ok();
                    results.lock().unwrap().push(ok);
                    if !ok {
                        return;
                    }
                }
            }
        })
        .await;
        s
    });
    let faults = Faults::default().write_error_after(3000, ErrorKind::BrokenPipe);
    let mut peer = Peer::new(connect(&rt, &handle, faults));
    peer.upgrade(&rt, "/ws");
    rt.run_until_idle();
    let results = results.lock().unwrap();
    assert_eq!(results.last(), Some(&false), "the last send failed");
    assert!(results.len() < 200);
    assert!(peer.conn.is_dropped_by_server());
    assert_clean(&handle);
}

#[test]
fn read_error_in_the_middle_of_a_request_ends_the_connection() {
    let rt = MemRuntime::new();
    let handle = http_server(&rt);
    let faults = Faults::default().read_error_after(30, ErrorKind::ConnectionReset);
    let peer = Peer::new(connect(&rt, &handle, faults));
    peer.conn.write(&post("/r", &[b'q'; 100]));
    rt.run_until_idle();
    assert_eq!(peer.conn.bytes_read_by_server(), 30);
    assert_eq!(peer.conn.unread(), 0, "nothing was answered");
    assert!(peer.conn.is_dropped_by_server());
    assert_clean(&handle);
}

#[test]
fn client_reset_while_the_handler_waits_for_the_body() {
    let rt = MemRuntime::new();
    let handle = http_server(&rt);
    let peer = Peer::new(connect(&rt, &handle, Faults::default()));
    let req = post("/r", &[b'q'; 100]);
    peer.conn.write(&req[..req.len() - 10]);
    rt.run_until_idle();
    assert_eq!(handle.connections(), 1);
    peer.conn.reset();
    rt.run_until_idle();
    assert!(peer.conn.is_dropped_by_server());
    assert_clean(&handle);
}

/// For each offset of a request, end the stream there (client half-close, or the stream's
/// injected end of stream): only the whole request is answered, and every connection ends.
#[test]
fn eof_at_every_offset_of_a_request() {
    let rt = MemRuntime::new();
    let handle = http_server(&rt);
    let mut req = post("/eof", b"0123456789");
    req.extend(post_chunked("/eof2", &[b"ab", b"cd"]));
    let first_len = post("/eof", b"0123456789").len();
    for k in 0..=req.len() {
        for injected in [false, true] {
            let faults = if injected {
                Faults::default().eof_after(k as u64)
            } else {
                Faults::default()
            };
            let mut peer = Peer::new(connect(&rt, &handle, faults));
            if injected {
                peer.conn.write(&req);
            } else {
                peer.conn.write(&req[..k]);
                peer.conn.shutdown_write();
            }
            rt.run_until_idle();
            let ok: Vec<String> = peer
                .responses()
                .into_iter()
                .filter(|r| r.status == 200)
                .map(|r| r.body_str().to_string())
                .collect();
            let want: &[&str] = if k == req.len() {
                &["/eof:0123456789", "/eof2:abcd"]
            } else if k >= first_len {
                &["/eof:0123456789"]
            } else {
                &[]
            };
            assert_eq!(ok, want, "offset {k}, injected {injected}");
            assert!(peer.conn.is_closed_by_server(), "offset {k}");
            // A partial request may be answered 400 before closing; once the client's
            // FIN was read, nothing is left to drain.
            assert!(peer.conn.is_dropped_by_server(), "offset {k}");
            assert_clean(&handle);
        }
    }
}

/// The handler waited for the body (so the connection's receive waker is the driver's
/// own), its response is stuck behind a client that does not read, and then a malformed
/// request arrives: its error event "wakes the receiver" — the stale waker, the driver's —
/// which sets `nudged` although no handler runs. `handler_due` stays true for the whole
/// poll when there is no handler, so `nudged` is never taken, and every flush reports
/// progress because of it: the driver burns its round budget, wakes itself, and does it
/// again, forever, until the client reads (a busy loop per connection that any client
/// can cause).
#[test]
fn malformed_request_behind_a_blocked_response_does_not_spin() {
    let rt = MemRuntime::new();
    rt.set_poll_budget(10_000);
    let handle = http_server(&rt);
    let mut peer = Peer::new(connect(&rt, &handle, Faults::default().client_buffer(16)));
    let req = post("/a", b"x");
    let (head, body) = req.split_at(req.len() - 1);
    peer.conn.write(head);
    rt.run_until_idle();
    peer.conn.write(body);
    rt.run_until_idle();
    peer.conn.write(b"bad\r\n\r\n");
    // Panics here ("without going idle") while the bug is there.
    rt.run_until_idle();
    let mut got = Vec::new();
    while !peer.conn.is_closed_by_server() {
        peer.buf.extend(peer.conn.read_available());
        rt.run_until_idle();
    }
    got.extend(peer.responses());
    assert_eq!(got.iter().map(|r| r.status).collect::<Vec<_>>(), [200, 400]);
    client_leaves(&rt, &handle, &peer);
}

// ----- HTTP timers -----

#[test]
fn header_read_timeout_answers_408_and_closes() {
    let rt = MemRuntime::new();
    let handle = start(&rt, |s| async move {
        s.http_limits(HttpLimits::default().head_timeout(Duration::from_secs(10)))
            .await;
        s
    });
    let mut peer = Peer::new(connect(&rt, &handle, Faults::default()));
    peer.conn.write(b"GET / HTTP/1.1\r\nHost:");
    rt.run_until_idle();
    advance(&rt, 9);
    assert!(peer.responses().is_empty());
    advance(&rt, 1);
    let r = peer.responses();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].status, 408);
    assert!(peer.conn.is_closed_by_server());
    // Draining (the client never half-closes) ends by itself.
    assert_eq!(handle.connections(), 1);
    advance(&rt, 2);
    assert!(peer.conn.is_dropped_by_server());
    assert_clean(&handle);
}

#[test]
fn keep_alive_idle_timeout_closes_quietly() {
    let rt = MemRuntime::new();
    let handle = start(&rt, |s| async move {
        s.http_limits(HttpLimits::default().idle_timeout(Duration::from_secs(60)))
            .await;
        s.route("/hello", hello).await;
        s
    });
    let mut peer = Peer::new(connect(&rt, &handle, Faults::default()));
    peer.conn.write(&get("/hello"));
    rt.run_until_idle();
    assert_eq!(peer.responses().len(), 1);
    advance(&rt, 59);
    assert!(!peer.conn.is_closed_by_server());
    advance(&rt, 1);
    assert!(peer.conn.is_closed_by_server());
    assert_eq!(peer.conn.unread(), 0, "an idle close sends no response");
    peer.conn.shutdown_write();
    rt.run_until_idle();
    assert_clean(&handle);
}

#[test]
fn clock_jump_past_every_http_deadline_at_once() {
    let rt = MemRuntime::new();
    let handle = http_server(&rt);
    let mut peer = Peer::new(connect(&rt, &handle, Faults::default()));
    peer.conn.write(b"GET /slow HTTP/1.1\r\n");
    rt.run_until_idle();
    // Past the head timeout, the idle timeout, the body timeout and the drain time.
    advance(&rt, 3600);
    let r = peer.responses();
    assert_eq!(r.iter().map(|r| r.status).collect::<Vec<_>>(), [408]);
    advance(&rt, 3600);
    assert!(peer.conn.is_dropped_by_server());
    assert_clean(&handle);
}

// ----- WebSocket -----

#[test]
fn websocket_echo_with_frames_split_at_every_byte() {
    let rt = MemRuntime::new();
    let handle = ws_server(&rt, quiet());
    let mut script = text("one");
    script.extend(client_frame(BINARY, true, &[1, 2, 3, 4, 5]));
    script.extend(client_frame(TEXT, false, b"fr"));
    script.extend(client_frame(PING, true, b"p"));
    script.extend(client_frame(0, true, b"ag"));
    for k in 0..=script.len() {
        let mut peer = Peer::new(connect(&rt, &handle, Faults::default()));
        peer.upgrade(&rt, "/ws");
        peer.conn.write(&script[..k]);
        rt.run_until_idle();
        peer.conn.write(&script[k..]);
        rt.run_until_idle();
        let frames = peer.frames();
        let got: Vec<(u8, Vec<u8>)> = frames.into_iter().map(|f| (f.opcode, f.payload)).collect();
        assert_eq!(
            got,
            [
                (TEXT, b"one".to_vec()),
                (BINARY, vec![1, 2, 3, 4, 5]),
                (PONG, b"p".to_vec()),
                (TEXT, b"frag".to_vec()),
            ],
            "split at {k}"
        );
        ws_client_closes_after_own_close(&rt, &mut peer);
    }
    assert_clean(&handle);
}

/// The client starts the close handshake; the server echoes it and closes.
fn ws_client_closes_after_own_close(rt: &MemRuntime, peer: &mut Peer) {
    peer.conn.write(&close_frame(1000, "bye"));
    rt.run_until_idle();
    let f = peer.frames();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].close_code(), Some(1000));
    assert!(peer.conn.is_closed_by_server());
    peer.conn.shutdown_write();
    rt.run_until_idle();
}

#[test]
fn websocket_upgrade_and_echo_one_byte_at_a_time_both_ways() {
    let rt = MemRuntime::new();
    let handle = ws_server(&rt, quiet());
    let faults = Faults::default().max_read(1).max_write(1);
    let mut peer = Peer::new(connect(&rt, &handle, faults));
    for b in upgrade("/ws") {
        peer.conn.write(&[b]);
        rt.run_until_idle();
    }
    assert_eq!(peer.responses()[0].status, 101);
    for i in 0..5 {
        for b in text(&format!("message {i}")) {
            peer.conn.write(&[b]);
            rt.run_until_idle();
        }
    }
    let got: Vec<String> = peer.frames().iter().map(|f| f.text().to_string()).collect();
    let want: Vec<String> = (0..5).map(|i| format!("message {i}")).collect();
    assert_eq!(got, want);
    ws_client_closes_after_own_close(&rt, &mut peer);
    assert_clean(&handle);
}

#[test]
fn ping_is_answered_while_the_handler_is_busy() {
    let rt = MemRuntime::new();
    let gate = Gate::default();
    let g = gate.clone();
    let handle = start(&rt, move |s| async move {
        s.route("/ws", move |ctx: Context| {
            let gate = g.clone();
            async move {
                gate.wait().await;
                while ctx.recv_message().await.is_some() {}
            }
        })
        .await;
        s
    });
    let mut peer = Peer::new(connect(&rt, &handle, Faults::default()));
    peer.upgrade(&rt, "/ws");
    peer.conn.write(&text("queued for later"));
    peer.conn.write(&client_frame(PING, true, b"are you there"));
    rt.run_until_idle();
    let f = peer.frames();
    assert_eq!(f.len(), 1);
    assert_eq!((f[0].opcode, f[0].text()), (PONG, "are you there"));
    gate.open();
    ws_client_closes_after_own_close(&rt, &mut peer);
    assert_clean(&handle);
}

#[test]
fn server_closes_with_1000_when_the_handler_returns() {
    let rt = MemRuntime::new();
    let handle = start(&rt, |s| async move {
        s.route("/ws", |ctx: Context| async move {
            ctx.send_message("bye").await.unwrap();
        })
        .await;
        s
    });
    let mut peer = Peer::new(connect(&rt, &handle, Faults::default()));
    peer.upgrade(&rt, "/ws");
    let f = peer.frames();
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].text(), "bye");
    assert_eq!(f[1].close_code(), Some(1000));
    assert!(
        !peer.conn.is_closed_by_server(),
        "waits for the client's close"
    );
    ws_client_closes(&rt, &handle, &mut peer);
}

#[test]
fn server_close_handshake_times_out_when_the_client_never_answers() {
    let rt = MemRuntime::new();
    let limits = WsLimits {
        close_timeout: Duration::from_secs(5),
        ..quiet()
    };
    let handle = start(&rt, move |s| async move {
        s.ws_limits(limits).await;
        s.route("/ws", |_ctx: Context| async move {}).await;
        s
    });
    let mut peer = Peer::new(connect(&rt, &handle, Faults::default()));
    peer.upgrade(&rt, "/ws");
    assert_eq!(peer.frames()[0].close_code(), Some(1000));
    advance(&rt, 4);
    assert!(!peer.conn.is_closed_by_server());
    advance(&rt, 1);
    assert!(peer.conn.is_closed_by_server());
    // Then draining gives up too.
    advance(&rt, 2);
    assert!(peer.conn.is_dropped_by_server());
    assert_clean(&handle);
}

#[test]
fn handler_panic_answers_500_on_http() {
    let rt = MemRuntime::new();
    let handle = start(&rt, |s| async move {
        s.route(
            "/boom",
            |_ctx: Context| async move { panic!("handler bug") },
        )
        .await;
        s
    });
    let mut peer = Peer::new(connect(&rt, &handle, Faults::default()));
    peer.conn.write(&get("/boom"));
    rt.run_until_idle();
    let r = peer.responses();
    assert_eq!(r[0].status, 500);
    assert_eq!(r[0].header("connection"), Some("close"));
    assert!(peer.conn.is_closed_by_server());
    client_leaves(&rt, &handle, &peer);
}

#[test]
fn handler_panic_closes_a_websocket_with_1011() {
    let rt = MemRuntime::new();
    let handle = start(&rt, |s| async move {
        s.route("/ws", |ctx: Context| async move {
            ctx.recv_message().await;
            panic!("handler bug");
        })
        .await;
        s
    });
    let mut peer = Peer::new(connect(&rt, &handle, Faults::default()));
    peer.upgrade(&rt, "/ws");
    peer.conn.write(&text("trigger"));
    rt.run_until_idle();
    let f = peer.frames();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].close_code(), Some(1011));
    ws_client_closes(&rt, &handle, &mut peer);
}

#[test]
fn outbound_backpressure_makes_send_wait_until_the_client_reads() {
    let rt = MemRuntime::new();
    let sent = Arc::new(AtomicUsize::new(0));
    let s2 = sent.clone();
    let handle = start(&rt, move |s| async move {
        s.ws_limits(quiet()).await;
        s.max_outgoing_queue(4096).await;
        s.route("/ws", move |ctx: Context| {
            let sent = s2.clone();
            async move {
                for i in 0..100u32 {
                    let mut payload = i.to_be_bytes().to_vec();
                    payload.resize(1000, b'.');
                    ctx.send_message(payload).await.unwrap();
                    sent.fetch_add(1, Ordering::SeqCst);
                }
                ctx.recv_message().await;
            }
        })
        .await;
        s
    });
    let faults = Faults::default().client_buffer(2000);
    let mut peer = Peer::new(connect(&rt, &handle, faults));
    peer.conn.write(&upgrade("/ws"));
    rt.run_until_idle();
    let stalled = sent.load(Ordering::SeqCst);
    assert!(
        stalled < 20,
        "send waits: {stalled} sent into a 2 KB + 4 KB pipe"
    );
    rt.run_until_idle();
    assert_eq!(sent.load(Ordering::SeqCst), stalled, "and stays waiting");
    let mut frames = Vec::new();
    let mut head = Vec::new();
    while frames.len() < 100 {
        head.extend(peer.conn.read_available());
        rt.run_until_idle();
        if let Some(r) = take_response(&mut head) {
            assert_eq!(r.status, 101);
        }
        if !head.starts_with(b"HTTP") {
            frames.extend(take_frames(&mut head));
        }
    }
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(&f.payload[..4], &(i as u32).to_be_bytes(), "message {i}");
    }
    assert_eq!(sent.load(Ordering::SeqCst), 100);
    peer.buf = head;
    ws_client_closes_after_own_close(&rt, &mut peer);
    assert_clean(&handle);
}

#[test]
fn inbound_backpressure_stops_reading_while_the_handler_does_not_take_messages() {
    let rt = MemRuntime::new();
    let gate = Gate::default();
    let got = Arc::new(Mutex::new(Vec::new()));
    let (g, got2) = (gate.clone(), got.clone());
    let handle = start(&rt, move |s| async move {
        s.ws_limits(quiet()).await;
        s.ws_buffer_size(512).await;
        s.set_config({
            let mut c = s.config().await;
            c.max_inbound_queue = 4096;
            c
        })
        .await;
        s.route("/ws", move |ctx: Context| {
            let (gate, got) = (g.clone(), got2.clone());
            async move {
                gate.wait().await;
                while let Some(m) = ctx.recv_message().await {
                    got.lock().unwrap().push(m.into_bytes());
                }
            }
        })
        .await;
        s
    });
    let mut peer = Peer::new(connect(&rt, &handle, Faults::default()));
    peer.upgrade(&rt, "/ws");
    let before = peer.conn.bytes_read_by_server();
    let mut total = 0;
    for i in 0..100u32 {
        let mut payload = i.to_be_bytes().to_vec();
        payload.resize(1000, b'-');
        let frame = client_frame(BINARY, true, &payload);
        total += frame.len() as u64;
        peer.conn.write(&frame);
    }
    rt.run_until_idle();
    let read = peer.conn.bytes_read_by_server() - before;
    assert!(
        read < 8 * 1024,
        "reading stopped after {read} of {total} bytes"
    );
    gate.open();
    rt.run_until_idle();
    assert_eq!(peer.conn.bytes_read_by_server() - before, total);
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 100);
    for (i, m) in got.iter().enumerate() {
        assert_eq!(&m[..4], &(i as u32).to_be_bytes());
    }
    ws_client_closes_after_own_close(&rt, &mut peer);
    assert_clean(&handle);
}

#[test]
fn a_sender_used_from_another_task() {
    let rt = MemRuntime::new();
    let rt2 = rt.clone();
    let handle = start(&rt, move |s| async move {
        s.ws_limits(quiet()).await;
        s.route("/ws", move |ctx: Context| {
            let rt = rt2.clone();
            async move {
                let sender = ctx.sender();
                rt.spawn(async move {
                    for i in 0..10 {
                        sender.send(format!("n{i}")).await.unwrap();
                    }
                });
                while ctx.recv_message().await.is_some() {}
            }
        })
        .await;
        s
    });
    let mut peer = Peer::new(connect(&rt, &handle, Faults::default().max_write(5)));
    peer.upgrade(&rt, "/ws");
    let got: Vec<String> = peer.frames().iter().map(|f| f.text().to_string()).collect();
    let want: Vec<String> = (0..10).map(|i| format!("n{i}")).collect();
    assert_eq!(got, want);
    ws_client_closes_after_own_close(&rt, &mut peer);
    assert_clean(&handle);
    assert_eq!(
        rt.tasks(),
        2,
        "only the accept loop and the deadline task are left"
    );
}

#[test]
fn a_sender_outliving_its_connection_sees_it_closed() {
    let rt = MemRuntime::new();
    let kept = Arc::new(Mutex::new(None));
    let k2 = kept.clone();
    let handle = start(&rt, move |s| async move {
        s.ws_limits(quiet()).await;
        s.route("/ws", move |ctx: Context| {
            let kept = k2.clone();
            async move {
                *kept.lock().unwrap() = Some(ctx.sender());
            }
        })
        .await;
        s
    });
    let mut peer = Peer::new(connect(&rt, &handle, Faults::default()));
    peer.upgrade(&rt, "/ws");
    assert_eq!(peer.frames()[0].close_code(), Some(1000));
    ws_client_closes(&rt, &handle, &mut peer);
    let sender = kept.lock().unwrap().take().unwrap();
    assert!(sender.is_closed());
    assert!(rt.block_on(sender.send("late")).is_err());
}

#[test]
fn websocket_client_reset_ends_the_connection() {
    let rt = MemRuntime::new();
    let handle = ws_server(&rt, quiet());
    let mut peer = Peer::new(connect(&rt, &handle, Faults::default()));
    peer.upgrade(&rt, "/ws");
    peer.conn.write(&text("x"));
    rt.run_until_idle();
    peer.conn.reset();
    rt.run_until_idle();
    assert!(peer.conn.is_dropped_by_server());
    assert_clean(&handle);
}

#[test]
fn websocket_client_eof_without_close_frame_ends_the_connection() {
    let rt = MemRuntime::new();
    let handle = ws_server(&rt, quiet());
    let mut peer = Peer::new(connect(&rt, &handle, Faults::default()));
    peer.upgrade(&rt, "/ws");
    peer.conn.write(&text("half a message")[..5]);
    peer.conn.shutdown_write();
    rt.run_until_idle();
    assert!(peer.conn.is_dropped_by_server());
    assert_clean(&handle);
}

#[test]
fn heartbeat_pings_a_silent_client_and_a_pong_keeps_it_alive() {
    let rt = MemRuntime::new();
    let limits = WsLimits {
        ping_interval: Some(Duration::from_secs(30)),
        idle_timeout: Some(Duration::from_secs(75)),
        ..WsLimits::default()
    };
    let handle = ws_server(&rt, limits);
    let mut peer = Peer::new(connect(&rt, &handle, Faults::default()));
    peer.upgrade(&rt, "/ws");
    for _ in 0..5 {
        advance(&rt, 29);
        assert!(peer.frames().is_empty());
        advance(&rt, 1);
        let f = peer.frames();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].opcode, PING);
        peer.conn.write(&client_frame(PONG, true, &f[0].payload));
        rt.run_until_idle();
    }
    ws_client_closes_after_own_close(&rt, &mut peer);
    assert_clean(&handle);
}

#[test]
fn idle_timeout_closes_a_silent_websocket_with_1001() {
    let rt = MemRuntime::new();
    let limits = WsLimits {
        idle_timeout: Some(Duration::from_secs(75)),
        ..quiet()
    };
    let handle = ws_server(&rt, limits);
    let mut peer = Peer::new(connect(&rt, &handle, Faults::default()));
    peer.upgrade(&rt, "/ws");
    advance(&rt, 74);
    assert!(peer.frames().is_empty());
    advance(&rt, 1);
    let f = peer.frames();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].close_code(), Some(1001));
    ws_client_closes(&rt, &handle, &mut peer);
}

/// One jump of the clock past the heartbeat, the idle timeout and the close-handshake
/// timeout: the connection is closed (1001) and, since the client never answers, dropped
/// once the close timeout has passed after that — not in the same instant, and never
/// left hanging.
#[test]
fn clock_jump_past_heartbeat_idle_and_close_timeout_at_once() {
    let rt = MemRuntime::new();
    let limits = WsLimits {
        ping_interval: Some(Duration::from_secs(30)),
        idle_timeout: Some(Duration::from_secs(75)),
        close_timeout: Duration::from_secs(5),
        ..WsLimits::default()
    };
    let handle = ws_server(&rt, limits);
    let mut peer = Peer::new(connect(&rt, &handle, Faults::default()));
    peer.upgrade(&rt, "/ws");
    advance(&rt, 1000);
    let f = peer.frames();
    let closes: Vec<u16> = f.iter().filter_map(Frame::close_code).collect();
    assert_eq!(closes, [1001], "frames: {f:?}");
    assert!(f.iter().all(|f| f.opcode == PING || f.opcode == CLOSE));
    advance(&rt, 1000);
    assert!(peer.conn.is_dropped_by_server());
    assert_clean(&handle);
}

#[test]
fn websocket_message_limit_closes_with_1009() {
    let rt = MemRuntime::new();
    let handle = start(&rt, |s| async move {
        s.ws_limits(quiet()).await;
        s.max_message_size(100).await;
        s.route("/ws", ws_echo).await;
        s
    });
    let mut peer = Peer::new(connect(&rt, &handle, Faults::default().max_read(7)));
    peer.upgrade(&rt, "/ws");
    peer.conn.write(&text("fits"));
    peer.conn.write(&client_frame(BINARY, true, &[0; 500]));
    rt.run_until_idle();
    let f = peer.frames();
    assert_eq!(f[0].text(), "fits");
    assert_eq!(f.last().and_then(Frame::close_code), Some(1009));
    ws_client_closes(&rt, &handle, &mut peer);
}

/// A burst of messages and then a protocol error, all in one read: every message before
/// the error is answered, in order, before the close frame with 1002 (the handler takes
/// the burst straight from the protocol, never past the frame that ends the connection).
#[test]
fn websocket_burst_then_protocol_error_answers_the_burst_first() {
    let rt = MemRuntime::new();
    let handle = ws_server(&rt, quiet());
    let mut peer = Peer::new(connect(&rt, &handle, Faults::default()));
    peer.upgrade(&rt, "/ws");
    let mut burst = Vec::new();
    for i in 0..20 {
        burst.extend(text(&format!("m{i}")));
    }
    // A reserved opcode (3): 1002.
    burst.extend(client_frame(3, true, b"bad"));
    burst.extend(text("after the error"));
    peer.conn.write(&burst);
    rt.run_until_idle();
    let f = peer.frames();
    let texts: Vec<&str> = f
        .iter()
        .filter(|f| f.opcode == TEXT)
        .map(Frame::text)
        .collect();
    let want: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
    assert_eq!(texts, want);
    assert_eq!(f.len(), 21, "nothing after the close frame: {f:?}");
    assert_eq!(f.last().and_then(Frame::close_code), Some(1002));
    ws_client_closes(&rt, &handle, &mut peer);
}

/// The same burst taken by a handler that receives in a task of its own (the driver's
/// task is not the one polling it): every message arrives once, in order.
#[test]
fn websocket_burst_received_in_another_task() {
    let rt = MemRuntime::new();
    let spawner = rt.clone();
    let got = Arc::new(Mutex::new(Vec::new()));
    let seen = got.clone();
    let handle = start(&rt, move |s| async move {
        s.ws_limits(quiet()).await;
        s.route("/ws", move |ctx: Context| {
            let seen = seen.clone();
            let rt = spawner.clone();
            async move {
                let done = Gate::default();
                let finished = done.clone();
                let c = ctx.clone();
                rt.spawn(async move {
                    while let Some(m) = c.recv_message().await {
                        let text = String::from_utf8(m.into_bytes()).unwrap();
                        seen.lock().unwrap().push(text.clone());
                        if c.send_message(text).await.is_err() {
                            break;
                        }
                    }
                    finished.open();
                });
                // Stay until the receiving task is done (the connection lives with us).
                done.wait().await;
            }
        })
        .await;
        s
    });
    let mut peer = Peer::new(connect(&rt, &handle, Faults::default().max_read(5)));
    peer.upgrade(&rt, "/ws");
    let mut burst = Vec::new();
    for i in 0..50 {
        burst.extend(text(&format!("n{i}")));
    }
    peer.conn.write(&burst);
    rt.run_until_idle();
    let want: Vec<String> = (0..50).map(|i| format!("n{i}")).collect();
    assert_eq!(*got.lock().unwrap(), want);
    let f = peer.frames();
    let texts: Vec<&str> = f.iter().map(Frame::text).collect();
    assert_eq!(texts, want);
    peer.conn.write(&close_frame(1000, ""));
    rt.run_until_idle();
    peer.conn.shutdown_write();
    rt.run_until_idle();
    assert!(peer.conn.is_dropped_by_server());
    assert_clean(&handle);
}

// ----- graceful shutdown -----

#[test]
fn shutdown_closes_websockets_with_1001() {
    let rt = MemRuntime::new();
    let handle = ws_server(&rt, quiet());
    let mut peers: Vec<Peer> = (0..3)
        .map(|_| Peer::new(connect(&rt, &handle, Faults::default())))
        .collect();
    for p in &mut peers {
        p.upgrade(&rt, "/ws");
    }
    handle.shutdown();
    rt.run_until_idle();
    for p in &mut peers {
        let f = p.frames();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].close_code(), Some(1001));
        p.conn.write(&close_frame(1001, ""));
        p.conn.shutdown_write();
    }
    rt.run_until_idle();
    assert_clean(&handle);
    assert!(
        rt.connect(handle.local_addr()).is_err(),
        "stopped listening"
    );
    assert_eq!(rt.tasks(), 0, "the accept loop and the deadline task ended");
}

#[test]
fn shutdown_lets_in_flight_http_finish_and_closes_idle_keep_alive() {
    let rt = MemRuntime::new();
    let gate = Gate::default();
    let g = gate.clone();
    let handle = start(&rt, move |s| async move {
        s.route("/hello", hello).await;
        s.route("/slow", move |ctx: Context| {
            let gate = g.clone();
            async move {
                gate.wait().await;
                ctx.set_response_body("done").await;
            }
        })
        .await;
        s
    });
    let mut idle = Peer::new(connect(&rt, &handle, Faults::default()));
    idle.conn.write(&get("/hello"));
    let mut busy = Peer::new(connect(&rt, &handle, Faults::default()));
    busy.conn.write(&get("/slow"));
    rt.run_until_idle();
    assert_eq!(idle.responses().len(), 1);
    handle.shutdown();
    rt.run_until_idle();
    assert!(idle.conn.is_closed_by_server(), "idle keep-alive closed");
    assert!(!busy.conn.is_closed_by_server());
    gate.open();
    rt.run_until_idle();
    let r = busy.responses();
    assert_eq!(r[0].body_str(), "done");
    assert_eq!(r[0].header("connection"), Some("close"));
    assert!(busy.conn.is_closed_by_server());
    idle.conn.shutdown_write();
    busy.conn.shutdown_write();
    rt.run_until_idle();
    assert_clean(&handle);
    assert_eq!(rt.tasks(), 0);
}

#[test]
fn shutdown_deadline_drops_stragglers() {
    let rt = MemRuntime::new();
    let handle = start(&rt, |s| async move {
        s.shutdown_timeout(Duration::from_secs(10)).await;
        s.ws_limits(quiet()).await;
        s.route("/forever", |_ctx: Context| std::future::pending::<()>())
            .await;
        s
    });
    let stuck_http = connect(&rt, &handle, Faults::default());
    stuck_http.write(&get("/forever"));
    let mut ws = Peer::new(connect(&rt, &handle, Faults::default()));
    ws.upgrade(&rt, "/forever");
    let waited = Arc::new(AtomicBool::new(false));
    let (w2, h2) = (waited.clone(), handle.clone());
    rt.spawn(async move {
        h2.shutdown_and_wait().await;
        w2.store(true, Ordering::SeqCst);
    });
    rt.run_until_idle();
    assert_eq!(ws.frames()[0].close_code(), Some(1001));
    advance(&rt, 9);
    assert_eq!(handle.connections(), 2);
    assert!(!waited.load(Ordering::SeqCst));
    advance(&rt, 1);
    assert!(stuck_http.is_dropped_by_server());
    assert!(ws.conn.is_dropped_by_server());
    assert!(waited.load(Ordering::SeqCst), "wait() returned");
    assert_clean(&handle);
    assert_eq!(rt.tasks(), 0);
}

#[test]
fn upgrade_arriving_as_shutdown_begins_gets_101_then_1001() {
    let rt = MemRuntime::new();
    let handle = ws_server(&rt, quiet());
    let mut peer = Peer::new(connect(&rt, &handle, Faults::default().max_read(10)));
    peer.conn.write(&upgrade("/ws"));
    handle.shutdown();
    rt.run_until_idle();
    let r = peer.responses();
    assert_eq!(r[0].status, 101);
    assert_eq!(peer.frames()[0].close_code(), Some(1001));
    ws_client_closes(&rt, &handle, &mut peer);
}

/// A request whose head has begun to arrive is current: shutdown lets the rest arrive and
/// answers it (a WebSocket then gets 1001 at once).
#[test]
fn shutdown_answers_a_request_whose_head_is_arriving() {
    let rt = MemRuntime::new();
    let handle = ws_server(&rt, quiet());
    let mut peer = Peer::new(connect(&rt, &handle, Faults::default()));
    let request = upgrade("/ws");
    peer.conn.write(&request[..20]);
    rt.run_until_idle();
    handle.shutdown();
    rt.run_until_idle();
    assert!(!peer.conn.is_closed_by_server());
    peer.conn.write(&request[20..]);
    rt.run_until_idle();
    assert_eq!(peer.responses()[0].status, 101);
    assert_eq!(peer.frames()[0].close_code(), Some(1001));
    ws_client_closes(&rt, &handle, &mut peer);
}

/// ... but a head that stops arriving does not hold the shutdown up: it gets the head
/// timeout's 408, and the connection ends.
#[test]
fn shutdown_does_not_wait_for_a_stalled_request_head() {
    let rt = MemRuntime::new();
    let handle = ws_server(&rt, quiet());
    let peer = Peer::new(connect(&rt, &handle, Faults::default()));
    peer.conn.write(&upgrade("/ws")[..20]);
    rt.run_until_idle();
    handle.shutdown();
    rt.run_until_idle();
    advance(&rt, 10);
    assert!(peer.conn.is_closed_by_server());
    let answer = String::from_utf8_lossy(&peer.conn.read_available()).into_owned();
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    client_leaves(&rt, &handle, &peer);
}

// ----- connections and the close sequence -----

#[test]
fn max_connections_holds_back_accepting_until_one_ends() {
    let rt = MemRuntime::new();
    let handle = start(&rt, |s| async move {
        s.max_connections(2).await;
        s.route("/hello", hello).await;
        s
    });
    let mut peers: Vec<Peer> = (0..3)
        .map(|_| Peer::new(connect(&rt, &handle, Faults::default())))
        .collect();
    for p in &peers {
        p.conn.write(&get("/hello"));
    }
    rt.run_until_idle();
    assert_eq!(handle.connections(), 2);
    assert_eq!(peers[0].responses().len(), 1);
    assert_eq!(peers[1].responses().len(), 1);
    assert!(peers[2].responses().is_empty(), "not accepted yet");
    peers[0].conn.shutdown_write();
    rt.run_until_idle();
    assert_eq!(peers[2].responses().len(), 1, "accepted once a slot freed");
    assert_eq!(handle.connections(), 2);
    for p in &peers[1..] {
        p.conn.shutdown_write();
    }
    rt.run_until_idle();
    assert_clean(&handle);
}

#[test]
fn draining_after_close_reads_and_discards_until_the_client_ends() {
    let rt = MemRuntime::new();
    let handle = http_server(&rt);
    let mut peer = Peer::new(connect(&rt, &handle, Faults::default()));
    peer.conn
        .write(b"GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    rt.run_until_idle();
    assert_eq!(peer.responses()[0].status, 200);
    assert!(peer.conn.is_closed_by_server());
    let before = peer.conn.bytes_read_by_server();
    peer.conn.write(&[b'g'; 5000]);
    rt.run_until_idle();
    assert_eq!(peer.conn.bytes_read_by_server(), before + 5000, "drained");
    assert!(!peer.conn.is_dropped_by_server(), "no reset while draining");
    assert!(peer.responses().is_empty());
    peer.conn.shutdown_write();
    rt.run_until_idle();
    assert!(peer.conn.is_dropped_by_server());
    assert_clean(&handle);
}

#[test]
fn draining_gives_up_after_its_time() {
    let rt = MemRuntime::new();
    let handle = http_server(&rt);
    let mut peer = Peer::new(connect(&rt, &handle, Faults::default()));
    peer.conn
        .write(b"GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    rt.run_until_idle();
    assert_eq!(peer.responses().len(), 1);
    assert_eq!(handle.armed_deadlines(), 1, "the drain deadline");
    advance(&rt, 1);
    assert!(!peer.conn.is_dropped_by_server());
    advance(&rt, 1);
    assert!(peer.conn.is_dropped_by_server());
    assert_clean(&handle);
}

#[test]
fn shutdown_that_stays_pending_a_while_still_closes() {
    let rt = MemRuntime::new();
    let handle = http_server(&rt);
    let faults = Faults::default().shutdown(ShutdownFault::Pending(5));
    let mut peer = Peer::new(connect(&rt, &handle, faults));
    peer.conn
        .write(b"GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    rt.run_until_idle();
    assert_eq!(peer.responses().len(), 1);
    assert!(peer.conn.is_closed_by_server());
    client_leaves(&rt, &handle, &peer);
}

#[test]
fn failing_shutdown_still_ends_the_connection() {
    let rt = MemRuntime::new();
    let handle = http_server(&rt);
    let faults = Faults::default().shutdown(ShutdownFault::Error(ErrorKind::NotConnected));
    let mut peer = Peer::new(connect(&rt, &handle, faults));
    peer.conn
        .write(b"GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    rt.run_until_idle();
    assert_eq!(peer.responses().len(), 1);
    assert!(!peer.conn.is_closed_by_server(), "no FIN went out");
    advance(&rt, 2);
    assert!(peer.conn.is_dropped_by_server());
    assert_clean(&handle);
}

#[test]
fn handler_lingering_after_close_is_dropped_after_handler_linger() {
    let rt = MemRuntime::new();
    let handle = start(&rt, |s| async move {
        s.ws_limits(quiet()).await;
        s.route("/ws", |ctx: Context| async move {
            while ctx.recv_message().await.is_some() {}
            // Ignores the close and keeps going.
            std::future::pending::<()>().await
        })
        .await;
        s
    });
    let mut peer = Peer::new(connect(&rt, &handle, Faults::default()));
    peer.upgrade(&rt, "/ws");
    ws_client_closes_after_own_close(&rt, &mut peer);
    assert_eq!(handle.connections(), 1, "the handler lingers");
    assert_eq!(handle.armed_deadlines(), 1);
    advance(&rt, 1);
    assert_clean(&handle);
}

#[test]
fn handler_finishing_within_its_linger_ends_the_connection_then() {
    let rt = MemRuntime::new();
    let gate = Gate::default();
    let g = gate.clone();
    let handle = start(&rt, move |s| async move {
        s.ws_limits(quiet()).await;
        s.route("/ws", move |ctx: Context| {
            let gate = g.clone();
            async move {
                while ctx.recv_message().await.is_some() {}
                gate.wait().await;
            }
        })
        .await;
        s
    });
    let mut peer = Peer::new(connect(&rt, &handle, Faults::default()));
    peer.upgrade(&rt, "/ws");
    ws_client_closes_after_own_close(&rt, &mut peer);
    assert_eq!(handle.connections(), 1);
    gate.open();
    rt.run_until_idle();
    assert_clean(&handle);
}

#[test]
fn many_connections_with_mixed_faults_all_end() {
    let rt = MemRuntime::new();
    let handle = start(&rt, |s| async move {
        s.ws_limits(quiet()).await;
        s.route("/ws", ws_echo).await;
        s.route("/{*rest}", echo_http).await;
        s
    });
    let mut peers = Vec::new();
    for i in 0..40u64 {
        let faults = Faults::default()
            .max_read(1 + (i as usize % 5))
            .max_write(1 + (i as usize % 7))
            .read_storm((i % 3) as u32, StormWake::Immediately)
            .write_storm((i % 4) as u32, StormWake::Immediately);
        let mut p = Peer::new(connect(&rt, &handle, faults));
        if i % 2 == 0 {
            p.upgrade(&rt, "/ws");
            p.conn.write(&text(&format!("conn {i}")));
        } else {
            p.conn.write(&post(&format!("/c{i}"), b"body"));
        }
        peers.push(p);
    }
    rt.run_until_idle();
    for (i, p) in peers.iter_mut().enumerate() {
        if i % 2 == 0 {
            assert_eq!(p.frames()[0].text(), format!("conn {i}"));
            p.conn.write(&close_frame(1000, ""));
        } else {
            assert_eq!(p.responses()[0].body_str(), format!("/c{i}:body"));
        }
        p.conn.shutdown_write();
    }
    rt.run_until_idle();
    assert_clean(&handle);
}

// ----- the memory runtime itself -----

#[test]
fn memory_timers_fire_when_the_clock_reaches_them() {
    use wirelane_core::app::Timer;
    let rt = MemRuntime::new();
    let t0 = MemRuntime::now();
    let fired = Arc::new(AtomicUsize::new(0));
    for secs in [5u64, 1, 3] {
        let mut timer = rt.timer(t0 + Duration::from_secs(secs));
        let fired = fired.clone();
        rt.spawn(async move {
            std::future::poll_fn(|cx| timer.poll_elapsed(cx)).await;
            fired.fetch_add(1, Ordering::SeqCst);
        });
    }
    rt.run_until_idle();
    assert_eq!(rt.next_timer(), Some(t0 + Duration::from_secs(1)));
    advance(&rt, 2);
    assert_eq!(fired.load(Ordering::SeqCst), 1);
    advance(&rt, 10);
    assert_eq!(fired.load(Ordering::SeqCst), 3);
    assert_eq!(rt.tasks(), 0);
    assert_eq!(rt.next_timer(), None);
}

#[test]
#[should_panic(expected = "waits for something no task will do")]
fn block_on_reports_a_future_that_can_never_finish() {
    let rt = MemRuntime::new();
    rt.block_on(std::future::pending::<()>());
}

#[test]
#[should_panic(expected = "without going idle")]
fn run_until_idle_reports_a_livelock() {
    let rt = MemRuntime::new();
    rt.set_poll_budget(1000);
    rt.spawn(std::future::poll_fn(|cx| {
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }));
    rt.run_until_idle();
}

#[test]
fn a_second_bind_on_the_same_address_fails_and_unbinding_refuses_connects() {
    let rt = MemRuntime::new();
    let handle = start(&rt, |s| async move { s });
    let again = wirelane_core::app::Server::with_runtime(rt.clone());
    let addr = handle.local_addr();
    let err = rt.block_on(async {
        again.port(addr.port()).await;
        again.start().await
    });
    assert!(err.is_err());
    handle.shutdown();
    rt.run_until_idle();
    assert_eq!(
        rt.connect(addr).unwrap_err().kind(),
        ErrorKind::ConnectionRefused
    );
    assert_eq!(rt.tasks(), 0);
}
