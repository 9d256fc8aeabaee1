//! JSON requests, responses and WebSocket messages (feature `json`), on the memory runtime.

// The framework's: nothing to test without it (`--no-default-features`).
#![cfg(feature = "framework")]

mod support;

use serde::{Deserialize, Serialize};
use support::*;
use wirelane_core::app::memory::{Faults, MemRuntime};
use wirelane_core::app::{Context, JsonError, ServerHandle};

#[derive(Debug, Deserialize, Serialize, PartialEq)]
struct Point {
    x: i32,
    y: i32,
}

async fn sum(ctx: Context) {
    match ctx.request_json::<Point>().await {
        Ok(p) => {
            ctx.set_response_json(&serde_json_sum(&p)).await.unwrap();
        }
        Err(e) => e.respond(&ctx).await,
    }
}

fn serde_json_sum(p: &Point) -> std::collections::BTreeMap<&'static str, i32> {
    [("sum", p.x + p.y)].into_iter().collect()
}

/// A handler body written with `?`, answered in one place.
async fn try_sum(ctx: Context) -> Result<(), JsonError> {
    let p: Point = ctx.request_json().await?;
    ctx.set_response_json(&Point { x: p.y, y: p.x }).await?;
    Ok(())
}

async fn swap(ctx: Context) {
    if let Err(e) = try_sum(ctx.clone()).await {
        e.respond(&ctx).await;
    }
}

async fn ws_points(ctx: Context) {
    while let Some(msg) = ctx.recv_json::<Point>().await {
        match msg {
            Ok(p) => {
                if ctx.send_json(&Point { x: p.y, y: p.x }).await.is_err() {
                    break;
                }
            }
            Err(e) => e.respond(&ctx).await,
        }
    }
}

fn server(rt: &MemRuntime) -> ServerHandle {
    start(rt, |s| async move {
        s.post("/sum", sum).await;
        s.post("/swap", swap).await;
        s.route("/ws", ws_points).await;
        s
    })
}

fn exchange(rt: &MemRuntime, handle: &ServerHandle, request: &[u8]) -> Response {
    let c = connect(rt, handle, Faults::default());
    c.write(request);
    rt.run_until_idle();
    let mut out = c.read_available();
    take_response(&mut out).expect("a response")
}

#[test]
fn a_json_body_is_parsed_and_the_answer_is_json() {
    let rt = MemRuntime::new();
    let h = server(&rt);
    let r = exchange(&rt, &h, &post("/sum", br#"{"x": 2, "y": 40}"#));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.body_str(), r#"{"sum":42}"#);
    let r = exchange(&rt, &h, &post("/swap", br#"{"x": 1, "y": 2}"#));
    assert_eq!(r.body_str(), r#"{"x":2,"y":1}"#);
}

#[test]
fn bad_json_is_a_400_with_the_parsers_message() {
    let rt = MemRuntime::new();
    let h = server(&rt);
    let cases: &[(&[u8], &str)] = &[
        (br#"{"x": 2, "y": "#, "EOF while parsing"),
        (br#"{"x": 2}"#, "missing field `y`"),
        (br#"{"x": "two", "y": 1}"#, "invalid type: string"),
        (b"", "EOF while parsing"),
        (b"\xff", "expected value"),
    ];
    for path in ["/sum", "/swap"] {
        for (body, message) in cases {
            let r = exchange(&rt, &h, &post(path, body));
            assert_eq!(r.status, 400, "{path} {body:?}");
            assert_eq!(r.header("content-type"), Some("application/json"));
            let v: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON error body");
            let error = v["error"].as_str().expect("an error message");
            assert!(
                error.starts_with("invalid JSON: ") && error.contains(message),
                "{path} {body:?}: {error}"
            );
            assert!(error.contains("line 1 column"), "{error}");
        }
    }
}

#[test]
fn websocket_json_messages_round_trip_and_bad_ones_are_answered_not_dropped() {
    let rt = MemRuntime::new();
    let h = server(&rt);
    let c = connect(&rt, &h, Faults::default());
    c.write(&upgrade("/ws"));
    rt.run_until_idle();
    let mut out = c.read_available();
    assert_eq!(take_response(&mut out).expect("101").status, 101);
    c.write(&text(r#"{"x": 1, "y": 2}"#));
    c.write(&text("not json"));
    c.write(&client_frame(BINARY, true, br#"{"x": 5, "y": 6}"#));
    rt.run_until_idle();
    let mut out = c.read_available();
    let frames = take_frames(&mut out);
    assert_eq!(frames.len(), 3, "{frames:?}");
    assert_eq!(frames[0].text(), r#"{"x":2,"y":1}"#);
    assert!(
        frames[1].text().contains("invalid JSON: expected"),
        "{}",
        frames[1].text()
    );
    assert_eq!(frames[2].text(), r#"{"x":6,"y":5}"#);
    assert_eq!(frames[2].opcode, TEXT);
    c.write(&close_frame(1000, ""));
    rt.run_until_idle();
    let _ = c.read_available();
    c.shutdown_write();
    rt.run_until_idle();
    assert_clean(&h);
}
