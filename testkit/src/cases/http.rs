//! HTTP cases.

use super::hello;
use crate::client::{self, Conn};
use crate::util::{sleep, Gate};
use crate::{Harness, TestServer, STEP_TIMEOUT};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wirelane_core::app::Context;
use wirelane_core::proto::HttpLimits;

/// Echoes the request body with its length in a header.
async fn echo_body(ctx: Context) {
    let body = ctx.get_request_body().await;
    ctx.set_response_header("x-body-len", body.len().to_string())
        .await
        .set_response_body(body)
        .await;
}

fn limited_server<H: Harness>(limits: HttpLimits) -> TestServer {
    TestServer::start::<H, _, _>(move |s| async move {
        s.http_limits(limits).await;
        s.route("/", hello).await;
        s.route("/upload", echo_body).await;
    })
}

/// After an error response the server closes the connection (nothing else follows).
async fn expect_closed(c: &mut Conn) {
    let end = c.read_to_end(STEP_TIMEOUT).await;
    assert!(end.bytes().is_empty(), "bytes after the error: {end:?}");
}

/// A body over `max_body_size` gets 413 (from the declared length, before it is sent),
/// and the connection is closed; a body at the limit is accepted.
pub async fn http_body_over_limit_413<H: Harness>() {
    let server = limited_server::<H>(HttpLimits::default().max_body_size(1024));
    let r = client::request(
        server.addr(),
        [
            &b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 1024\r\n\r\n"[..],
            &[b'a'; 1024],
        ]
        .concat(),
    )
    .await;
    assert_eq!((r.status, r.body.len()), (200, 1024));

    let mut c = Conn::connect(server.addr()).await;
    c.send("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 2048\r\n\r\n")
        .await;
    let r = c.read_response(false).await;
    assert_eq!(r.status, 413, "{r:?}");
    assert!(r.closes());
    expect_closed(&mut c).await;

    // Chunked: the limit applies to the decoded body as it arrives.
    let mut c = Conn::connect(server.addr()).await;
    c.send("POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        .await;
    for _ in 0..3 {
        c.send(format!("200\r\n{}\r\n", "b".repeat(0x200))).await;
    }
    let r = c.read_response(false).await;
    assert_eq!(r.status, 413, "{r:?}");
}

/// A head larger than the head limit (16 KiB by default) gets 431.
pub async fn http_huge_header_431<H: Harness>() {
    let server = limited_server::<H>(HttpLimits::default());
    let mut c = Conn::connect(server.addr()).await;
    c.send(format!(
        "GET / HTTP/1.1\r\nHost: t\r\nX-Huge: {}\r\n\r\n",
        "h".repeat(20 * 1024)
    ))
    .await;
    let r = c.read_response(false).await;
    assert_eq!(r.status, 431, "{r:?}");
    expect_closed(&mut c).await;
    // Too many header fields: 431 too.
    let server = limited_server::<H>(HttpLimits::default().max_headers(10));
    let many: String = (0..20).map(|i| format!("X-H{i}: v\r\n")).collect();
    let r = client::request(
        server.addr(),
        format!("GET / HTTP/1.1\r\nHost: t\r\n{many}\r\n"),
    )
    .await;
    assert_eq!(r.status, 431, "{r:?}");
}

/// A request target longer than the URI limit (8 KiB by default) gets 414.
pub async fn http_long_uri_414<H: Harness>() {
    let server = limited_server::<H>(HttpLimits::default());
    let mut c = Conn::connect(server.addr()).await;
    c.send(format!(
        "GET /{} HTTP/1.1\r\nHost: t\r\n\r\n",
        "u".repeat(9 * 1024)
    ))
    .await;
    let r = c.read_response(false).await;
    assert_eq!(r.status, 414, "{r:?}");
    expect_closed(&mut c).await;
}

/// Slowloris: a head that never completes gets 408 after the head timeout, then the
/// connection is closed; not before the timeout.
pub async fn http_head_timeout_408<H: Harness>() {
    let timeout = Duration::from_millis(400);
    let server = limited_server::<H>(HttpLimits::default().head_timeout(timeout));
    let mut c = Conn::connect(server.addr()).await;
    let t0 = Instant::now();
    c.send("GET / HTTP/1.1\r\nHost: t\r\n").await;
    // Keep trickling header bytes: trickling must not extend the deadline.
    for i in 0..3 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        c.send(format!("X-Slow-{i}: ")).await;
    }
    let r = c.read_response(false).await;
    let took = t0.elapsed();
    assert_eq!(r.status, 408, "{r:?}");
    assert!(
        took >= timeout - Duration::from_millis(50),
        "408 came early: {took:?}"
    );
    assert!(
        took < timeout + Duration::from_secs(2),
        "408 came late: {took:?}"
    );
    expect_closed(&mut c).await;
}

/// A kept-alive connection left idle is closed silently after the idle timeout (and
/// not before).
pub async fn http_idle_timeout_closes<H: Harness>() {
    let idle = Duration::from_millis(400);
    let server = limited_server::<H>(HttpLimits::default().idle_timeout(idle));
    let mut c = Conn::connect(server.addr()).await;
    c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n").await;
    let r = c.read_response(false).await;
    assert_eq!((r.status, r.text().as_str()), (200, "Hello, World!"));
    assert!(!r.closes());
    let t0 = Instant::now();
    assert!(
        c.quiet_for(idle - Duration::from_millis(150)).await,
        "closed before the idle timeout"
    );
    let end = c.read_to_end(idle + Duration::from_secs(2)).await;
    assert!(end.bytes().is_empty(), "idle close sent bytes: {end:?}");
    let took = t0.elapsed();
    assert!(took >= idle - Duration::from_millis(50), "{took:?}");
}

/// An unknown path gets 404.
pub async fn http_not_found_404<H: Harness>() {
    let server = limited_server::<H>(HttpLimits::default());
    let r = client::get(server.addr(), "/no/such/thing").await;
    assert_eq!(r.status, 404, "{r:?}");
    // A WebSocket upgrade to an unknown path is a 404 too, not a 101.
    let r = client::request(server.addr(), client::upgrade_request("/nope", &[])).await;
    assert_eq!(r.status, 404, "{r:?}");
}

/// A request in absolute-form (`GET http://host/path?query`, as sent to a proxy) is routed
/// by its path and query (RFC 9112 §3.2.2: a server MUST accept it), not by the whole URI.
pub async fn http_absolute_form_target<H: Harness>() {
    let server = TestServer::start::<H, _, _>(|s| async move {
        s.route("/", hello).await;
        s.route("/q", |ctx: Context| async move {
            let q = ctx.query_param("x").unwrap_or_default();
            ctx.set_response_body(format!("{} x={q}", ctx.path())).await;
        })
        .await;
    });
    let a = server.addr();
    let r = client::request(a, format!("GET http://{a}/ HTTP/1.1\r\nHost: {a}\r\n\r\n")).await;
    assert_eq!(r.status, 200, "{r:?}");
    // Scheme in any case, no path at all: the path is `/`.
    let r = client::request(a, format!("GET HTTP://{a} HTTP/1.1\r\nHost: {a}\r\n\r\n")).await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = client::request(
        a,
        format!("GET http://{a}/q?x=1 HTTP/1.1\r\nHost: {a}\r\n\r\n"),
    )
    .await;
    assert_eq!((r.status, r.text()), (200, "/q x=1".to_string()), "{r:?}");
    // A target of no form at all is refused, not routed.
    let r = client::request(a, "GET q HTTP/1.1\r\nHost: t\r\n\r\n").await;
    assert_eq!(r.status, 400, "{r:?}");
}

/// A known path with another method gets 405 with `Allow`.
pub async fn http_method_not_allowed_405<H: Harness>() {
    let server = TestServer::start::<H, _, _>(|s| async move {
        s.get("/items", hello).await;
        s.post("/items", echo_body).await;
    });
    let r = client::request(server.addr(), "DELETE /items HTTP/1.1\r\nHost: t\r\n\r\n").await;
    assert_eq!(r.status, 405, "{r:?}");
    let allow = r.header("allow").expect("Allow header");
    let mut methods: Vec<&str> = allow.split(',').map(str::trim).collect();
    methods.sort_unstable();
    assert_eq!(methods, vec!["GET", "HEAD", "POST"]);
    assert_eq!(client::get(server.addr(), "/items").await.status, 200);
}

fn peer_server<H: Harness>() -> TestServer {
    TestServer::start::<H, _, _>(|s| async move {
        s.route("/peer/{tag}", |ctx: Context| async move {
            let tag = ctx.get_route_param("tag").await.unwrap_or_default();
            if tag == "slow" {
                sleep(Duration::from_millis(200)).await;
            }
            let peer = ctx.get_socket_addr_or_default_string().await;
            ctx.set_response_body(format!("{tag} {peer}")).await;
        })
        .await;
    })
}

/// Several requests, one after the other, on one connection.
pub async fn http_keep_alive<H: Harness>() {
    let server = peer_server::<H>();
    let mut c = Conn::connect(server.addr()).await;
    let me = c.stream.local_addr().unwrap();
    for i in 0..5 {
        c.send(format!("GET /peer/{i} HTTP/1.1\r\nHost: t\r\n\r\n"))
            .await;
        let r = c.read_response(false).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), format!("{i} {me}"));
        assert!(!r.closes());
    }
    // HTTP/1.0 with keep-alive asked for, then a final `Connection: close`.
    c.send("GET /peer/ten HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .await;
    let r = c.read_response(false).await;
    assert_eq!(r.text(), format!("ten {me}"));
    c.send("GET /peer/last HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await;
    let r = c.read_response(false).await;
    assert_eq!(r.text(), format!("last {me}"));
    assert!(r.closes());
    expect_closed(&mut c).await;
}

/// Several requests in one write: the responses come back in order, the first (slow)
/// one included.
pub async fn http_pipelining_in_order<H: Harness>() {
    let server = peer_server::<H>();
    let mut c = Conn::connect(server.addr()).await;
    let me = c.stream.local_addr().unwrap();
    let tags = ["slow", "a", "b", "c", "d"];
    let all: String = tags
        .iter()
        .map(|t| format!("GET /peer/{t} HTTP/1.1\r\nHost: t\r\n\r\n"))
        .collect();
    c.send(all).await;
    for t in tags {
        let r = c.read_response(false).await;
        assert_eq!(r.text(), format!("{t} {me}"));
    }
    // POSTs with bodies, pipelined, split across a write boundary.
    let req = |b: &str| {
        format!(
            "POST /peer/p{b} HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{b}",
            b.len()
        )
    };
    let both = format!("{}{}", req("one"), req("two"));
    let (x, y) = both.split_at(both.len() / 2 + 3);
    c.send(x).await;
    c.send(y).await;
    assert_eq!(c.read_response(false).await.text(), format!("pone {me}"));
    assert_eq!(c.read_response(false).await.text(), format!("ptwo {me}"));
}

/// `{name}` parameters (percent-decoded), static segments winning over parameters, and
/// a final `{*rest}` catch-all; the query string is available apart.
pub async fn http_route_params_and_catch_all<H: Harness>() {
    let server = TestServer::start::<H, _, _>(|s| async move {
        s.route("/users/{id}", |ctx: Context| async move {
            let id = ctx.get_route_param("id").await.unwrap_or_default();
            let q = ctx.query_param("q").unwrap_or_default();
            ctx.set_response_body(format!("user {id} q={q}")).await;
        })
        .await;
        s.route("/users/me", |ctx: Context| async move {
            ctx.set_response_body("me").await;
        })
        .await;
        s.route("/users/{id}/posts/{post}", |ctx: Context| async move {
            let p = ctx.route_params().to_vec();
            ctx.set_response_body(format!("{p:?}")).await;
        })
        .await;
        s.route("/files/{*path}", |ctx: Context| async move {
            let p = ctx.get_route_param("path").await.unwrap_or_default();
            ctx.set_response_body(format!("file {p}")).await;
        })
        .await;
    });
    let a = server.addr();
    assert_eq!(client::get(a, "/users/42").await.text(), "user 42 q=");
    assert_eq!(
        client::get(a, "/users/a%20b?q=x+y").await.text(),
        "user a b q=x y"
    );
    assert_eq!(client::get(a, "/users/me").await.text(), "me");
    assert_eq!(
        client::get(a, "/users/7/posts/9").await.text(),
        r#"[("id", "7"), ("post", "9")]"#
    );
    assert_eq!(
        client::get(a, "/files/css/site/main.css").await.text(),
        "file css/site/main.css"
    );
    assert_eq!(client::get(a, "/users").await.status, 404);
    assert_eq!(client::get(a, "/users/1/other").await.status, 404);
}

/// Request middleware runs before the handler and can answer on its own (the handler is
/// then not called); response middleware runs after and can still change the response.
pub async fn http_middleware<H: Harness>() {
    let handled = Arc::new(AtomicUsize::new(0));
    let h2 = handled.clone();
    let server = TestServer::start::<H, _, _>(|s| async move {
        s.request_middleware(|ctx: Context| async move {
            ctx.set_response_header("x-request-mw", "1").await;
            if ctx.path().starts_with("/private")
                && ctx.get_request_header("authorization").await.is_none()
            {
                ctx.set_response_status_code(401)
                    .await
                    .set_response_body("no entry")
                    .await;
                let _ = ctx.send().await;
            }
        })
        .await;
        s.response_middleware(|ctx: Context| async move {
            if ctx.is_response_sent().await {
                return;
            }
            let body = ctx.get_response_body().await;
            let mut upper = String::from_utf8_lossy(&body).to_uppercase();
            upper.push_str(" [mw]");
            ctx.set_response_header("x-response-mw", "1")
                .await
                .set_response_body(upper)
                .await;
        })
        .await;
        s.route("/{*any}", move |ctx: Context| {
            let h2 = h2.clone();
            async move {
                h2.fetch_add(1, Ordering::SeqCst);
                ctx.set_response_body(format!("handled {}", ctx.path()))
                    .await;
            }
        })
        .await;
    });
    let r = client::get(server.addr(), "/public").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "HANDLED /PUBLIC [mw]");
    assert_eq!(r.header("x-request-mw"), Some("1"));
    assert_eq!(r.header("x-response-mw"), Some("1"));
    assert_eq!(handled.load(Ordering::SeqCst), 1);

    let r = client::get(server.addr(), "/private/x").await;
    assert_eq!((r.status, r.text().as_str()), (401, "no entry"));
    assert_eq!(r.header("x-request-mw"), Some("1"));
    assert_eq!(
        handled.load(Ordering::SeqCst),
        1,
        "handler ran after a refusal"
    );

    let r = client::request(
        server.addr(),
        "GET /private/x HTTP/1.1\r\nHost: t\r\nAuthorization: yes\r\n\r\n",
    )
    .await;
    assert_eq!(r.text(), "HANDLED /PRIVATE/X [mw]");
    assert_eq!(handled.load(Ordering::SeqCst), 2);
}

/// An HTTP handler that panics: 500 (and that connection closes), and the server goes on
/// serving.
pub async fn http_handler_panic_500<H: Harness>() {
    let server = TestServer::start::<H, _, _>(|s| async move {
        s.route("/panic", |_ctx: Context| async move {
            panic!("handler panics on purpose (test)");
        })
        .await;
        s.route("/", hello).await;
    });
    let mut c = Conn::connect(server.addr()).await;
    c.send("GET /panic HTTP/1.1\r\nHost: t\r\n\r\n").await;
    let r = c.read_response(false).await;
    assert_eq!(r.status, 500, "{r:?}");
    expect_closed(&mut c).await;
    for _ in 0..3 {
        let r = client::get(server.addr(), "/").await;
        assert_eq!((r.status, r.text().as_str()), (200, "Hello, World!"));
    }
}

/// Server-Sent Events: `text/event-stream`, chunked, each event delivered while the
/// handler is still running (it waits for the client to have seen the first event).
pub async fn http_sse_streamed_chunked<H: Harness>() {
    let seen_first = Gate::new();
    let s2 = seen_first.clone();
    let server = TestServer::start::<H, _, _>(|s| async move {
        s.route("/events", move |ctx: Context| {
            let seen = s2.clone();
            async move {
                ctx.send_event(None, "first").await.expect("event 1");
                seen.wait().await;
                ctx.send_event(Some("tick"), "two\nlines")
                    .await
                    .expect("event 2");
                ctx.send_event(None, "last").await.expect("event 3");
            }
        })
        .await;
        s.route("/", hello).await;
    });
    let mut c = Conn::connect(server.addr()).await;
    c.send("GET /events HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n\r\n")
        .await;
    let head = c.read_head().await;
    assert_eq!(head.status, 200);
    assert!(head
        .header("content-type")
        .is_some_and(|v| v.starts_with("text/event-stream")));
    assert_eq!(head.header("transfer-encoding"), Some("chunked"));
    assert_eq!(head.header("content-length"), None);
    let mut stream = Vec::new();
    while !stream.ends_with(b"\n\n") {
        stream.extend(c.read_chunk().await.expect("first event"));
    }
    assert_eq!(stream, b"data: first\n\n");
    seen_first.open();
    let mut rest = Vec::new();
    while let Some(chunk) = c.read_chunk().await {
        rest.extend(chunk);
    }
    assert_eq!(
        String::from_utf8(rest).unwrap(),
        "event: tick\ndata: two\ndata: lines\n\ndata: last\n\n"
    );
    // The stream ended properly, so the connection is still usable.
    c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n").await;
    assert_eq!(c.read_response(false).await.text(), "Hello, World!");
}

/// HEAD gets the GET response's head with no body; the connection stays in sync.
pub async fn http_head_has_no_body<H: Harness>() {
    let server = TestServer::start::<H, _, _>(|s| async move {
        s.get("/", hello).await;
    });
    let mut c = Conn::connect(server.addr()).await;
    c.send("HEAD / HTTP/1.1\r\nHost: t\r\n\r\n").await;
    let r = c.read_response(true).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("13"));
    assert!(
        c.quiet_for(Duration::from_millis(100)).await,
        "HEAD response had a body: {:?}",
        c.buffered()
    );
    c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n").await;
    let r = c.read_response(false).await;
    assert_eq!((r.status, r.text().as_str()), (200, "Hello, World!"));
}

/// `Expect: 100-continue`: the server says 100 before the body is sent, then answers.
pub async fn http_expect_100_continue<H: Harness>() {
    let server = TestServer::start::<H, _, _>(|s| async move {
        s.post("/upload", echo_body).await;
    });
    let mut c = Conn::connect(server.addr()).await;
    c.send(
        "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n",
    )
    .await;
    let interim = c.read_head().await;
    assert_eq!(interim.status, 100, "{interim:?}");
    c.send("hello world").await;
    let r = c.read_response(false).await;
    assert_eq!((r.status, r.text().as_str()), (200, "hello world"));
}

/// `get_request_body` on a POST: Content-Length and chunked bodies, whole.
pub async fn http_request_body_post<H: Harness>() {
    let server = TestServer::start::<H, _, _>(|s| async move {
        s.post("/upload", echo_body).await;
    });
    let body: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    let mut c = Conn::connect(server.addr()).await;
    let mut req = format!(
        "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    // Sent in pieces, so the body arrives over several reads.
    for piece in req.chunks(7_000) {
        c.send(piece).await;
    }
    let r = c.read_response(false).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-body-len"), Some("100000"));
    assert!(r.body == body, "body differs");

    c.send("POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        .await;
    c.send("5\r\nhello\r\n1;ext=1\r\n \r\n").await;
    c.send("5\r\nworld\r\n0\r\n\r\n").await;
    let r = c.read_response(false).await;
    assert_eq!(r.text(), "hello world");
}

/// The article's API on plain HTTP: `set_response_body(..).await.send_body().await`
/// streams each body as one more chunk (the head goes first), delivered while the
/// handler still runs.
pub async fn http_streamed_send_body<H: Harness>() {
    let go_on = Gate::new();
    let g2 = go_on.clone();
    let server = TestServer::start::<H, _, _>(|s| async move {
        s.route("/stream", move |ctx: Context| {
            let go_on = g2.clone();
            async move {
                ctx.set_response_body("part one;")
                    .await
                    .send_body()
                    .await
                    .expect("chunk 1");
                go_on.wait().await;
                ctx.set_response_body(b"part two".to_vec())
                    .await
                    .send_body()
                    .await
                    .expect("chunk 2");
            }
        })
        .await;
    });
    let mut c = Conn::connect(server.addr()).await;
    c.send("GET /stream HTTP/1.1\r\nHost: t\r\n\r\n").await;
    let head = c.read_head().await;
    assert_eq!(head.status, 200);
    assert_eq!(head.header("transfer-encoding"), Some("chunked"));
    assert_eq!(c.read_chunk().await.as_deref(), Some(&b"part one;"[..]));
    go_on.open();
    let mut rest = Vec::new();
    while let Some(chunk) = c.read_chunk().await {
        rest.extend(chunk);
    }
    assert_eq!(rest, b"part two");
}

/// `max_connections(1)`: a second connection is not served while the first is open, and
/// is served as soon as the first closes.
pub async fn http_max_connections<H: Harness>() {
    let server = TestServer::start::<H, _, _>(|s| async move {
        s.max_connections(1).await;
        s.route("/", hello).await;
    });
    let mut first = Conn::connect(server.addr()).await;
    first.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n").await;
    assert_eq!(first.read_response(false).await.status, 200);

    // The kernel completes the connect (listen backlog); the server does not accept it.
    let mut second = Conn::connect(server.addr()).await;
    second.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n").await;
    assert!(
        second.quiet_for(Duration::from_millis(300)).await,
        "a connection over the limit was served"
    );
    assert_eq!(server.handle().connections(), 1);
    drop(first);
    let r = second.read_response(false).await;
    assert_eq!((r.status, r.text().as_str()), (200, "Hello, World!"));
}
