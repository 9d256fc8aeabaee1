//! Server metrics (`ServerHandle::metrics`) and the Prometheus handler, on the memory
//! runtime.

// The framework's: nothing to test without it (`--no-default-features`).
#![cfg(feature = "framework")]

mod support;

use support::*;
use wirelane_core::app::memory::{Faults, MemRuntime};
use wirelane_core::app::{Context, Hub, ProtocolErrorKind, SlowClientPolicy};
use wirelane_core::proto::WsLimits;

async fn hello(ctx: Context) {
    ctx.set_response_body("hello").await;
}

async fn ws_echo(ctx: Context) {
    while let Some(m) = ctx.recv_message().await {
        if ctx.send_message(m).await.is_err() {
            break;
        }
    }
}

#[test]
fn http_and_websocket_traffic_is_counted() {
    let rt = MemRuntime::new();
    let h = start(&rt, |s| async move {
        s.ws_limits(WsLimits {
            ping_interval: None,
            idle_timeout: None,
            ..WsLimits::default()
        })
        .await;
        s.get("/hello", hello).await;
        s.route("/ws", ws_echo).await;
        let metrics = s.metrics_handler().await;
        s.get("/metrics", metrics).await;
        s
    });
    assert_eq!(h.metrics(), Default::default());
    // Two 200s and a 404 on one connection, then a malformed request on another.
    let c = connect(&rt, &h, Faults::default());
    c.write(&get("/hello"));
    c.write(&get("/hello"));
    c.write(&get("/missing"));
    rt.run_until_idle();
    assert_eq!(take_responses(&mut c.read_available()).len(), 3);
    let bad = connect(&rt, &h, Faults::default());
    bad.write(b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
    rt.run_until_idle();
    assert_eq!(
        take_response(&mut bad.read_available()).unwrap().status,
        400
    );
    // A WebSocket: two messages each way.
    let ws = connect(&rt, &h, Faults::default());
    ws.write(&upgrade("/ws"));
    ws.write(&text("hi"));
    ws.write(&text("there"));
    rt.run_until_idle();
    let _ = ws.read_available();
    let m = h.metrics();
    assert_eq!(m.connections_accepted, 3);
    assert_eq!(m.connections_open, 3, "{m:?}");
    assert_eq!(m.http_responses, [1, 2, 0, 2, 0], "{m:?}");
    assert_eq!(m.ws_opened, 1);
    assert_eq!((m.ws_messages_in, m.ws_bytes_in), (2, 7));
    assert_eq!((m.ws_messages_out, m.ws_bytes_out), (2, 7));
    assert_eq!(m.protocol_errors.get(ProtocolErrorKind::HttpMalformed), 1);
    // A WebSocket protocol error: an unmasked frame.
    ws.write(&[0x81, 0x01, b'x']);
    rt.run_until_idle();
    let _ = ws.read_available();
    c.shutdown_write();
    ws.shutdown_write();
    bad.shutdown_write();
    rt.run_until_idle();
    let m = h.metrics();
    assert_eq!(
        m.protocol_errors.get(ProtocolErrorKind::WsProtocol),
        1,
        "{m:?}"
    );
    assert_eq!(m.protocol_errors.total(), 2);
    assert_eq!((m.ws_closed, m.connections_open), (1, 0), "{m:?}");
    // The exposition.
    let c = connect(&rt, &h, Faults::default());
    c.write(&get("/metrics"));
    rt.run_until_idle();
    let r = take_response(&mut c.read_available()).unwrap();
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let body = r.body_str();
    for line in [
        "# TYPE wirelane_connections_open gauge",
        "wirelane_connections_open 1",
        "wirelane_connections_accepted_total 4",
        "wirelane_http_responses_total{class=\"2xx\"} 2",
        "wirelane_http_responses_total{class=\"4xx\"} 2",
        "wirelane_ws_messages_received_total 2",
        "wirelane_protocol_errors_total{kind=\"ws_protocol\"} 1",
    ] {
        assert!(
            body.lines().any(|l| l == line),
            "{line:?} missing in\n{body}"
        );
    }
    c.shutdown_write();
    rt.run_until_idle();
    assert_clean(&h);
}

#[test]
fn hub_drops_and_slow_client_disconnects_are_counted() {
    for policy in [SlowClientPolicy::DropMessage, SlowClientPolicy::Disconnect] {
        let rt = MemRuntime::new();
        let hub = Hub::new(policy);
        let member_hub = hub.clone();
        let h = start(&rt, |s| async move {
            s.max_outgoing_queue(1024).await;
            s.route("/ws", move |ctx: Context| {
                let hub = member_hub.clone();
                async move {
                    let _m = hub.join("t", ctx.sender());
                    while ctx.recv_message().await.is_some() {}
                }
            })
            .await;
            s
        });
        // The client never reads: its queue fills.
        let c = connect(&rt, &h, Faults::default().client_buffer(16));
        c.write(&upgrade("/ws"));
        rt.run_until_idle();
        let big = "x".repeat(4096);
        for _ in 0..4 {
            hub.publish("t", big.as_str());
            rt.run_until_idle();
        }
        let m = h.metrics();
        match policy {
            SlowClientPolicy::DropMessage => {
                assert!(m.hub_drops >= 1, "{m:?}");
                assert_eq!(m.slow_client_disconnects, 0);
            }
            SlowClientPolicy::Disconnect => {
                assert_eq!(m.slow_client_disconnects, 1, "{m:?}");
                assert_eq!(m.hub_drops, 0);
            }
        }
        c.reset();
        rt.run_until_idle();
        rt.advance(std::time::Duration::from_secs(60));
        rt.run_until_idle();
    }
}
