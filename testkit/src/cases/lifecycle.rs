//! Server lifecycle cases: graceful shutdown.

use super::echo;
use crate::client::{ws_connect, ws_expect_close, ws_expect_end, ws_recv, ws_send, Conn};
use crate::util::{eventually, sleep, Gate};
use crate::{Harness, TestServer, STEP_TIMEOUT};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message as TMessage;
use wirelane_core::app::Context;

/// Graceful shutdown: an open WebSocket gets close 1001, an in-flight slow HTTP response
/// still completes, an idle keep-alive connection is closed, new connections are refused,
/// and waiting for the end returns well before the shutdown timeout.
pub async fn graceful_shutdown<H: Harness>() {
    let started = Gate::new();
    let st = started.clone();
    let mut server = TestServer::start::<H, _, _>(|s| async move {
        s.route("/ws", echo).await;
        s.route("/slow", move |ctx: Context| {
            let st = st.clone();
            async move {
                st.open();
                sleep(Duration::from_millis(600)).await;
                ctx.set_response_body("finished anyway").await;
            }
        })
        .await;
        s.route("/", super::hello).await;
    });
    let addr = server.addr();

    let mut ws = ws_connect(&server.ws_url("/ws")).await;
    ws_send(&mut ws, TMessage::Text("up".into())).await;
    assert_eq!(ws_recv(&mut ws).await, TMessage::Text("up".into()));

    let mut idle = Conn::connect(addr).await;
    idle.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n").await;
    assert_eq!(idle.read_response(false).await.status, 200);

    let mut slow = Conn::connect(addr).await;
    slow.send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n").await;
    assert!(
        started.wait_for(STEP_TIMEOUT).await,
        "slow handler not started"
    );
    assert_eq!(server.handle().connections(), 3);

    let t0 = Instant::now();
    server.handle().shutdown();

    // The WebSocket is told the server is going away.
    let (code, _) = ws_expect_close(&mut ws).await;
    assert_eq!(code.map(|c| c.0), Some(1001));
    // Reading on lets tungstenite flush its answer; then the server closes TCP.
    ws_expect_end(&mut ws).await;

    // New connections are refused once the listener is gone.
    assert!(
        eventually(STEP_TIMEOUT, || {
            std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err()
        })
        .await,
        "still accepting after shutdown"
    );

    // The idle keep-alive connection is closed without a response.
    let end = idle.read_to_end(STEP_TIMEOUT).await;
    assert!(end.bytes().is_empty(), "{end:?}");
    // Closing our side ends the server's short drain of what we might still send.
    drop(idle);

    // The in-flight request still gets its full response, marked as the last one.
    let r = slow.read_response(false).await;
    assert_eq!((r.status, r.text().as_str()), (200, "finished anyway"));
    assert!(r.closes(), "the last response should say Connection: close");
    let end = slow.read_to_end(STEP_TIMEOUT).await;
    assert!(end.bytes().is_empty(), "{end:?}");
    drop(slow);

    // Everything ended: the wait returns, long before the 3 s shutdown timeout would
    // have forced it.
    server.shutdown_and_join(Duration::from_secs(3)).await;
    let took = t0.elapsed();
    assert!(
        took < crate::TEST_SHUTDOWN_TIMEOUT - Duration::from_millis(500),
        "shutdown took {took:?}: connections were not drained but dropped at the deadline"
    );
    assert_eq!(server.handle().connections(), 0);
}
