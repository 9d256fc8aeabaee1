//! WebSocket origin checks (`Server::ws_allowed_origins`) and the CORS middleware, on the
//! memory runtime.

// The framework's: nothing to test without it (`--no-default-features`).
#![cfg(feature = "framework")]

mod support;

use std::time::Duration;
use support::*;
use wirelane_core::app::memory::{Faults, MemRuntime};
use wirelane_core::app::{Context, Cors, ServerHandle};

async fn ws_hello(ctx: Context) {
    if ctx.is_websocket() {
        let _ = ctx.send_message("hello").await;
    } else {
        ctx.set_response_body("plain").await;
    }
}

fn upgrade_from(path: &str, origin: Option<&str>) -> Vec<u8> {
    let origin = origin.map_or(String::new(), |o| format!("Origin: {o}\r\n"));
    format!(
        "GET {path} HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 13\r\n{origin}\r\n"
    )
    .into_bytes()
}

fn first_response(rt: &MemRuntime, h: &ServerHandle, request: &[u8]) -> Response {
    let c = connect(rt, h, Faults::default());
    c.write(request);
    rt.run_until_idle();
    let mut out = c.read_available();
    let r = take_response(&mut out).expect("a response");
    c.shutdown_write();
    rt.run_until_idle();
    let _ = c.read_available();
    r
}

#[test]
fn upgrades_from_other_origins_get_403() {
    let rt = MemRuntime::new();
    let h = start(&rt, |s| async move {
        s.ws_allowed_origins(["https://app.example.com", "http://localhost:8080"])
            .await;
        s.route("/ws", ws_hello).await;
        s
    });
    let cases = [
        (Some("https://app.example.com"), 101),
        (Some("https://APP.example.com:443"), 101),
        (Some("http://localhost:8080"), 101),
        // No Origin: not a browser, allowed (see `app::origin`).
        (None, 101),
        (Some("https://evil.example"), 403),
        (Some("http://app.example.com"), 403),
        (Some("https://app.example.com.evil.example"), 403),
        (Some("null"), 403),
    ];
    for (origin, status) in cases {
        let r = first_response(&rt, &h, &upgrade_from("/ws", origin));
        assert_eq!(r.status, status, "{origin:?}");
        if status == 403 {
            assert_eq!(r.body_str(), "Forbidden: origin not allowed\n");
        }
    }
    // Plain HTTP on the same route is not affected (CORS governs that).
    let r = first_response(
        &rt,
        &h,
        b"GET /ws HTTP/1.1\r\nHost: t\r\nOrigin: https://evil.example\r\n\r\n",
    );
    assert_eq!((r.status, r.body_str()), (200, "plain"));
    assert_clean(&h);
}

#[test]
fn without_a_list_every_origin_may_connect() {
    let rt = MemRuntime::new();
    let h = start(&rt, |s| async move {
        s.route("/ws", ws_hello).await;
        s
    });
    let r = first_response(&rt, &h, &upgrade_from("/ws", Some("https://evil.example")));
    assert_eq!(r.status, 101);
    assert_clean(&h);
}

async fn api(ctx: Context) {
    ctx.set_response_body("data").await;
}

fn cors_server(rt: &MemRuntime, cors: Cors) -> ServerHandle {
    start(rt, |s| async move {
        s.cors(cors).await;
        s.get("/api", api).await;
        s.put("/api", api).await;
        s.route("/ws", ws_hello).await;
        s
    })
}

fn headers_of(r: &Response, name: &str) -> Vec<String> {
    r.headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
        .collect()
}

#[test]
fn cors_simple_requests_get_the_allow_headers_and_vary() {
    let rt = MemRuntime::new();
    let cors = Cors::new()
        .allow_origins(["https://app.example.com"])
        .expose_headers(["x-total"]);
    let h = cors_server(&rt, cors);
    let ok = first_response(
        &rt,
        &h,
        b"GET /api HTTP/1.1\r\nHost: t\r\nOrigin: https://app.example.com\r\n\r\n",
    );
    assert_eq!(ok.status, 200);
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(ok.header("access-control-expose-headers"), Some("x-total"));
    assert_eq!(ok.header("access-control-allow-credentials"), None);
    assert_eq!(headers_of(&ok, "vary"), ["origin"]);
    let other = first_response(
        &rt,
        &h,
        b"GET /api HTTP/1.1\r\nHost: t\r\nOrigin: https://evil.example\r\n\r\n",
    );
    assert_eq!((other.status, other.body_str()), (200, "data"));
    assert_eq!(other.header("access-control-allow-origin"), None);
    assert_eq!(headers_of(&other, "vary"), ["origin"]);
    // No Origin: not a CORS request, nothing added.
    let plain = first_response(&rt, &h, &get("/api"));
    assert_eq!(plain.header("vary"), None);
    // A 404 to an allowed origin carries the headers too (the page can read the error).
    let missing = first_response(
        &rt,
        &h,
        b"GET /nope HTTP/1.1\r\nHost: t\r\nOrigin: https://app.example.com\r\n\r\n",
    );
    assert_eq!(missing.status, 404);
    assert!(missing.header("access-control-allow-origin").is_some());
    // WebSocket upgrades go through untouched.
    let ws = first_response(&rt, &h, &upgrade_from("/ws", Some("https://evil.example")));
    assert_eq!(ws.status, 101);
    assert_clean(&h);
}

fn preflight(method: &str, headers: Option<&str>, origin: &str) -> Vec<u8> {
    let headers = headers.map_or(String::new(), |h| {
        format!("Access-Control-Request-Headers: {h}\r\n")
    });
    format!(
        "OPTIONS /api HTTP/1.1\r\nHost: t\r\nOrigin: {origin}\r\n\
         Access-Control-Request-Method: {method}\r\n{headers}\r\n"
    )
    .into_bytes()
}

#[test]
fn cors_preflights_are_answered() {
    let rt = MemRuntime::new();
    let cors = Cors::new()
        .allow_origins(["https://app.example.com"])
        .allow_methods(["GET", "PUT"])
        .allow_headers(["content-type", "x-token"])
        .allow_credentials(true)
        .max_age(Duration::from_secs(600));
    let h = cors_server(&rt, cors);
    let origin = "https://app.example.com";
    let r = first_response(
        &rt,
        &h,
        &preflight("PUT", Some("Content-Type, X-Token"), origin),
    );
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-origin"), Some(origin));
    assert_eq!(r.header("access-control-allow-methods"), Some("GET, PUT"));
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("Content-Type, X-Token")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(r.header("access-control-max-age"), Some("600"));
    let vary = headers_of(&r, "vary");
    assert!(vary.contains(&"origin".to_string()), "{vary:?}");
    let refused = [
        preflight("DELETE", None, origin),
        preflight("PUT", Some("x-other"), origin),
        preflight("PUT", None, "https://evil.example"),
    ];
    for request in refused {
        let r = first_response(&rt, &h, &request);
        assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&request));
        assert_eq!(r.header("access-control-allow-origin"), None);
    }
    // A credentialed policy with any origin echoes the origin, never `*`.
    let cors = Cors::new().allow_origins(["*"]).allow_credentials(true);
    let h2 = cors_server(&rt, cors);
    let r = first_response(&rt, &h2, &preflight("GET", None, "https://x.example"));
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://x.example")
    );
    let cors = Cors::new().allow_origins(["*"]);
    let h3 = cors_server(&rt, cors);
    let r = first_response(&rt, &h3, &preflight("GET", None, "https://x.example"));
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_clean(&h);
    assert_clean(&h2);
    assert_clean(&h3);
}
