//! Behaviour tests of the HTTP/1.1 server connection: every scenario is fed whole, byte by
//! byte, and split at random points, and must give the same events and output bytes.

use bytes::Bytes;
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::time::{Duration, Instant};
use wirelane_core::proto::http::*;
use wirelane_core::proto::HttpLimits;

/// A response plan: head, declared length, body pieces.
type Plan = (ResponseHead, BodyLength, Vec<&'static [u8]>);

/// What the test application does with each request.
#[derive(Clone, Copy)]
struct App {
    respond: fn(&RequestHead, &[u8]) -> Plan,
    /// Accept upgrades with a 101 (otherwise answer them like any request).
    accept_upgrade: bool,
    /// Answer right after the head instead of after the body.
    respond_early: bool,
}

fn echo(head: &RequestHead, body: &[u8]) -> Plan {
    let text = format!("{} {} {}", head.method(), head.target(), body.len());
    let text: &'static [u8] = Box::leak(text.into_bytes().into_boxed_slice());
    (
        ResponseHead::new(200),
        BodyLength::Known(text.len() as u64),
        vec![text],
    )
}

const ECHO: App = App {
    respond: echo,
    accept_upgrade: true,
    respond_early: false,
};

#[derive(Debug, PartialEq)]
struct Outcome {
    events: Vec<String>,
    output: Vec<u8>,
    should_close: bool,
    leftover: Option<Vec<u8>>,
}

fn respond(conn: &mut ServerConnection, app: &App, head: &RequestHead, body: &[u8]) {
    let (rh, len, pieces) = (app.respond)(head, body);
    conn.send_response(rh, len).unwrap();
    for p in pieces {
        conn.send_body(Bytes::from_static(p)).unwrap();
    }
    conn.finish_response().unwrap();
}

fn run_with(input: &[u8], pieces: &[usize], eof: bool, app: App, limits: HttpLimits) -> Outcome {
    let t0 = Instant::now();
    let mut conn = ServerConnection::new(limits, t0);
    let mut events: Vec<String> = Vec::new();
    let mut current: Option<(RequestHead, Vec<u8>)> = None;
    let mut leftover: Option<Vec<u8>> = None;
    let mut pos = 0;
    let mut pump =
        |conn: &mut ServerConnection, events: &mut Vec<String>, leftover: &mut Option<Vec<u8>>| {
            while let Some(ev) = conn.poll_event() {
                match ev {
                    HttpEvent::Head(h) => {
                        events.push(format!(
                            "head {} {} {:?}",
                            h.method(),
                            h.target(),
                            h.version()
                        ));
                        if h.expects_continue() {
                            conn.send_continue().unwrap();
                        }
                        if app.respond_early {
                            respond(conn, &app, &h, b"");
                        }
                        current = Some((h, Vec::new()));
                    }
                    HttpEvent::Upgrade(h) => {
                        events.push(format!("upgrade {}", h.target()));
                        if app.accept_upgrade {
                            let rest = conn
                                .accept_upgrade(
                                    ResponseHead::new(101)
                                        .header("connection", "upgrade")
                                        .header("upgrade", "websocket"),
                                )
                                .unwrap();
                            *leftover = Some(rest.to_vec());
                        } else {
                            respond(conn, &app, &h, b"");
                        }
                    }
                    HttpEvent::Body(b) => {
                        // Merge consecutive pieces so splits do not change the record.
                        match events.last_mut() {
                            Some(last) if last.starts_with("body ") => {
                                last.push_str(&String::from_utf8_lossy(&b))
                            }
                            _ => events.push(format!("body {}", String::from_utf8_lossy(&b))),
                        }
                        if let Some((_, body)) = current.as_mut() {
                            body.extend_from_slice(&b);
                        }
                    }
                    HttpEvent::BodyEnd { trailers } => {
                        events.push(format!("end {trailers:?}"));
                        let (h, body) = current.take().expect("body end without head");
                        if !app.respond_early {
                            respond(conn, &app, &h, &body);
                        }
                    }
                    HttpEvent::PeerClosed => events.push("peer closed".into()),
                    HttpEvent::Error(e) => events.push(format!("error {}", e.status())),
                }
            }
        };
    for &n in pieces {
        let end = (pos + n).min(input.len());
        if conn.is_upgraded() {
            // Bytes read after the hand-over belong to the new protocol.
            leftover.as_mut().unwrap().extend_from_slice(&input[pos..]);
            pos = input.len();
            break;
        }
        if !conn.wants_read() {
            break;
        }
        conn.handle_input(&input[pos..end], t0);
        pos = end;
        pump(&mut conn, &mut events, &mut leftover);
    }
    if pos < input.len() && conn.wants_read() {
        conn.handle_input(&input[pos..], t0);
        pump(&mut conn, &mut events, &mut leftover);
    }
    if eof {
        conn.handle_eof();
        pump(&mut conn, &mut events, &mut leftover);
    }
    Outcome {
        events,
        output: conn.output().take_all(),
        should_close: conn.should_close(),
        leftover,
    }
}

/// Runs `input` whole, byte by byte and in random splits; asserts they agree; returns one.
fn run_all(input: &[u8], eof: bool, app: App, limits: HttpLimits) -> Outcome {
    let whole = run_with(input, &[input.len()], eof, app, limits.clone());
    let bytewise = run_with(input, &vec![1; input.len()], eof, app, limits.clone());
    assert_eq!(
        whole,
        bytewise,
        "byte-by-byte differs for {:?}",
        String::from_utf8_lossy(input)
    );
    let mut rng = StdRng::seed_from_u64(0x5eed ^ input.len() as u64);
    for _ in 0..20 {
        let mut pieces = Vec::new();
        let mut left = input.len();
        while left > 0 {
            let n = rng.gen_range(1..=left.min(40));
            pieces.push(n);
            left -= n;
        }
        let r = run_with(input, &pieces, eof, app, limits.clone());
        assert_eq!(
            whole,
            r,
            "split {pieces:?} differs for {:?}",
            String::from_utf8_lossy(input)
        );
    }
    whole
}

fn run(input: &[u8]) -> Outcome {
    run_all(input, false, ECHO, HttpLimits::default())
}

fn text(o: &Outcome) -> String {
    String::from_utf8_lossy(&o.output).into_owned()
}

#[test]
fn simple_get_keep_alive() {
    let o = run(b"GET /hello?x=1 HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(o.events, vec!["head GET /hello?x=1 Http11", "end []"]);
    assert_eq!(
        text(&o),
        "HTTP/1.1 200 OK\r\ncontent-length: 16\r\n\r\nGET /hello?x=1 0"
    );
    assert!(!o.should_close);
}

#[test]
fn date_header_on_every_response() {
    let t0 = Instant::now();
    let mut c = ServerConnection::new(HttpLimits::default(), t0);
    c.set_date(HttpDate::from_unix_secs(784_111_777));
    c.handle_input(
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/9.9\r\n\r\n",
        t0,
    );
    assert!(matches!(c.poll_event(), Some(HttpEvent::Head(_))));
    assert!(matches!(c.poll_event(), Some(HttpEvent::BodyEnd { .. })));
    c.send_response(ResponseHead::new(200), BodyLength::Empty)
        .unwrap();
    c.finish_response().unwrap();
    assert!(matches!(
        c.poll_event(),
        Some(HttpEvent::Error(HttpError::UnsupportedVersion))
    ));
    let out = String::from_utf8(c.output().take_all()).unwrap();
    assert_eq!(
        out,
        "HTTP/1.1 200 OK\r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\ncontent-length: 0\r\n\r\n\
         HTTP/1.1 505 HTTP Version Not Supported\r\ncontent-type: text/plain\r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
         content-length: 25\r\nconnection: close\r\n\r\nunsupported HTTP version\n"
    );
    assert!(c.should_close());
}

#[test]
fn pipelined_requests_answered_in_order() {
    let o = run(b"GET /a HTTP/1.1\r\nHost: a\r\n\r\nPOST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyzGET /c HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /never HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(
        o.events,
        vec![
            "head GET /a Http11",
            "end []",
            "head POST /b Http11",
            "body xyz",
            "end []",
            "head GET /c Http11",
            "end []"
        ]
    );
    assert_eq!(
        text(&o),
        "HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\nGET /a 0\
         HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nPOST /b 3\
         HTTP/1.1 200 OK\r\ncontent-length: 8\r\nconnection: close\r\n\r\nGET /c 0"
    );
    assert!(o.should_close);
}

#[test]
fn next_head_only_after_finish() {
    let t0 = Instant::now();
    let mut c = ServerConnection::new(HttpLimits::default(), t0);
    c.handle_input(
        b"GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n",
        t0,
    );
    assert!(matches!(c.poll_event(), Some(HttpEvent::Head(h)) if h.path() == "/a"));
    assert!(matches!(c.poll_event(), Some(HttpEvent::BodyEnd { .. })));
    assert!(c.poll_event().is_none());
    assert!(c.poll_timeout().is_none(), "no timer while the app works");
    c.send_response(ResponseHead::new(200), BodyLength::Empty)
        .unwrap();
    assert!(c.poll_event().is_none());
    c.finish_response().unwrap();
    assert!(matches!(c.poll_event(), Some(HttpEvent::Head(h)) if h.path() == "/b"));
}

#[test]
fn http10_persistence() {
    let o = run(b"GET / HTTP/1.0\r\n\r\nGET /x HTTP/1.0\r\n\r\n");
    assert_eq!(o.events, vec!["head GET / Http10", "end []"]);
    assert_eq!(
        text(&o),
        "HTTP/1.1 200 OK\r\ncontent-length: 7\r\nconnection: close\r\n\r\nGET / 0"
    );
    assert!(o.should_close);

    let o = run(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /x HTTP/1.0\r\n\r\n");
    assert_eq!(o.events.len(), 4);
    assert_eq!(
        text(&o),
        "HTTP/1.1 200 OK\r\ncontent-length: 7\r\nconnection: keep-alive\r\n\r\nGET / 0\
         HTTP/1.1 200 OK\r\ncontent-length: 8\r\nconnection: close\r\n\r\nGET /x 0"
    );
}

fn streamed(_: &RequestHead, _: &[u8]) -> Plan {
    (
        ResponseHead::new(200).header("content-type", "text/plain"),
        BodyLength::Unknown,
        vec![b"hello ", b"", b"world"],
    )
}

#[test]
fn chunked_response_on_11_close_delimited_on_10() {
    let app = App {
        respond: streamed,
        ..ECHO
    };
    let o = run_all(
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        false,
        app,
        HttpLimits::default(),
    );
    assert_eq!(
        text(&o),
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n"
    );
    assert!(!o.should_close);
    let o = run_all(
        b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        false,
        app,
        HttpLimits::default(),
    );
    assert_eq!(
        text(&o),
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nhello world"
    );
    assert!(o.should_close);
}

#[test]
fn head_request_has_no_body_bytes() {
    let o = run(b"HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(text(&o), "HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n");
    let app = App {
        respond: streamed,
        ..ECHO
    };
    let o = run_all(
        b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        false,
        app,
        HttpLimits::default(),
    );
    assert_eq!(
        text(&o),
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n\
         HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n"
    );
}

fn no_content(head: &RequestHead, _: &[u8]) -> Plan {
    let status = if head.path() == "/204" { 204 } else { 304 };
    (
        ResponseHead::new(status)
            .header("Content-Length", "5")
            .header("etag", "\"x\""),
        BodyLength::Known(5),
        vec![],
    )
}

#[test]
fn status_204_304_have_no_length() {
    let app = App {
        respond: no_content,
        ..ECHO
    };
    let o = run_all(
        b"GET /204 HTTP/1.1\r\nHost: a\r\n\r\nGET /304 HTTP/1.1\r\nHost: a\r\n\r\n",
        false,
        app,
        HttpLimits::default(),
    );
    assert_eq!(
        text(&o),
        "HTTP/1.1 204 No Content\r\netag: \"x\"\r\n\r\nHTTP/1.1 304 Not Modified\r\netag: \"x\"\r\n\r\n"
    );
    let t0 = Instant::now();
    let mut c = ServerConnection::new(HttpLimits::default(), t0);
    c.handle_input(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", t0);
    c.poll_event();
    c.send_response(ResponseHead::new(204), BodyLength::Empty)
        .unwrap();
    assert_eq!(
        c.send_body(Bytes::from_static(b"x")),
        Err(HttpUsageError::BodyNotAllowed)
    );
}

#[test]
fn chunked_request_with_trailers_and_extensions() {
    let o = run(b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4;name=\"v\"\r\nWiki\r\n5\r\npedia\r\n0\r\nExpires: never\r\nX-Sum: 9\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(
        o.events,
        vec![
            "head POST /up Http11",
            "body Wikipedia",
            "end [(\"Expires\", \"never\"), (\"X-Sum\", \"9\")]",
            "head GET /next Http11",
            "end []"
        ]
    );
    assert!(text(&o).contains("POST /up 9"));
}

#[test]
fn expect_100_continue() {
    let o =
        run(b"PUT /f HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nabcd");
    assert_eq!(o.events, vec!["head PUT /f Http11", "body abcd", "end []"]);
    assert_eq!(
        text(&o),
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\nPUT /f 4"
    );
}

fn reject(_: &RequestHead, _: &[u8]) -> Plan {
    (ResponseHead::new(403), BodyLength::Known(2), vec![b"no"])
}

#[test]
fn early_response_without_continue_closes() {
    // The client waits for 100 Continue; we refuse instead, so its body will never come.
    let t0 = Instant::now();
    let mut c = ServerConnection::new(HttpLimits::default(), t0);
    c.handle_input(
        b"PUT /f HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
        t0,
    );
    assert!(matches!(c.poll_event(), Some(HttpEvent::Head(_))));
    c.send_response(ResponseHead::new(417), BodyLength::Empty)
        .unwrap();
    c.finish_response().unwrap();
    assert!(c.should_close());
    assert_eq!(
        String::from_utf8(c.output().take_all()).unwrap(),
        "HTTP/1.1 417 Expectation Failed\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
}

#[test]
fn early_response_discards_rest_of_body_and_keeps_alive() {
    let app = App {
        respond: reject,
        respond_early: true,
        ..ECHO
    };
    let o = run_all(
        b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789POST /b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /c HTTP/1.1\r\nHost: a\r\n\r\n",
        false,
        app,
        HttpLimits::default(),
    );
    assert_eq!(
        o.events,
        vec![
            "head POST /a Http11",
            "head POST /b Http11",
            "head GET /c Http11"
        ]
    );
    assert_eq!(
        text(&o)
            .matches("HTTP/1.1 403 Forbidden\r\ncontent-length: 2\r\n\r\nno")
            .count(),
        3
    );
    assert!(!o.should_close);
}

#[test]
fn upgrade_hands_over_leftover_bytes() {
    let req = b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\r\n\x81\x85abcd\x01\x02";
    let o = run(req);
    assert_eq!(o.events, vec!["upgrade /ws"]);
    assert_eq!(
        text(&o),
        "HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n"
    );
    assert_eq!(o.leftover.as_deref(), Some(&b"\x81\x85abcd\x01\x02"[..]));
    assert!(!o.should_close);

    // Declined upgrade: answered as a normal request, HTTP continues.
    let app = App {
        accept_upgrade: false,
        ..ECHO
    };
    let o = run_all(
        b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n",
        false,
        app,
        HttpLimits::default(),
    );
    assert_eq!(
        o.events,
        vec!["upgrade /ws", "head GET /x Http11", "end []"]
    );
    assert!(text(&o).ends_with("GET /x 0"));
}

#[test]
fn upgrade_with_body_is_a_normal_request() {
    let o = run(b"POST /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\nContent-Length: 2\r\n\r\nhi");
    assert_eq!(o.events, vec!["head POST /ws Http11", "body hi", "end []"]);
    // HTTP/1.0 upgrade requests are ignored (RFC 9110 §7.8).
    let o = run(b"GET /ws HTTP/1.0\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n");
    assert_eq!(o.events, vec!["head GET /ws Http10", "end []"]);
}

#[test]
fn eof_handling() {
    let o = run_all(
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        true,
        ECHO,
        HttpLimits::default(),
    );
    assert_eq!(o.events, vec!["head GET / Http11", "end []", "peer closed"]);
    assert!(o.should_close);
    let o = run_all(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nab",
        true,
        ECHO,
        HttpLimits::default(),
    );
    assert_eq!(o.events, vec!["head POST / Http11", "body ab", "error 400"]);
    assert!(text(&o).starts_with("HTTP/1.1 400 Bad Request\r\n"));
    let o = run_all(b"GET / HT", true, ECHO, HttpLimits::default());
    assert_eq!(o.events, vec!["error 400"]);
    let o = run_all(b"", true, ECHO, HttpLimits::default());
    assert_eq!(o.events, vec!["peer closed"]);
    assert!(o.output.is_empty());
}

#[test]
fn error_mid_response_writes_no_second_response() {
    let t0 = Instant::now();
    let mut c = ServerConnection::new(HttpLimits::default(), t0);
    c.handle_input(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
        t0,
    );
    assert!(matches!(c.poll_event(), Some(HttpEvent::Head(_))));
    assert!(matches!(c.poll_event(), Some(HttpEvent::Body(_))));
    c.send_response(ResponseHead::new(200), BodyLength::Unknown)
        .unwrap();
    c.send_body(Bytes::from_static(b"echo")).unwrap();
    c.handle_input(b"zz\r\n", t0);
    assert!(matches!(
        c.poll_event(),
        Some(HttpEvent::Error(HttpError::BadChunk))
    ));
    assert!(c.poll_event().is_none());
    assert!(c.should_close());
    let out = String::from_utf8(c.output().take_all()).unwrap();
    assert_eq!(
        out,
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\necho\r\n"
    );
    assert_eq!(
        c.send_body(Bytes::from_static(b"x")),
        Err(HttpUsageError::Closed)
    );
}

/// Sends a request head with `body_head` headers, answers 200 right after the head (a whole
/// response if `finish`, else only its head and a first piece), then feeds `body` in two
/// pieces split at `at` and, if `eof`, ends the input. Returns the events after the head,
/// the output, and whether the connection closes.
fn answer_before_body(
    body_head: &str,
    body: &[u8],
    at: usize,
    finish: bool,
    eof: bool,
    limits: HttpLimits,
) -> (Vec<String>, String, bool) {
    let t0 = Instant::now();
    let mut c = ServerConnection::new(limits, t0);
    c.handle_input(
        format!("POST /u HTTP/1.1\r\nHost: a\r\n{body_head}\r\n").as_bytes(),
        t0,
    );
    assert!(matches!(c.poll_event(), Some(HttpEvent::Head(_))));
    if finish {
        c.send_response(ResponseHead::new(200), BodyLength::Known(2))
            .unwrap();
        c.send_body(Bytes::from_static(b"ok")).unwrap();
        c.finish_response().unwrap();
    } else {
        c.send_response(ResponseHead::new(200), BodyLength::Unknown)
            .unwrap();
        c.send_body(Bytes::from_static(b"ok")).unwrap();
    }
    // Input is parsed to the end before more is read.
    assert!(c.poll_event().is_none());
    let mut events = Vec::new();
    for piece in [&body[..at], &body[at..]] {
        if !c.wants_read() {
            break;
        }
        c.handle_input(piece, t0);
        while let Some(ev) = c.poll_event() {
            events.push(match ev {
                HttpEvent::Error(e) => format!("error {}", e.status()),
                HttpEvent::Body(_) => "body".into(),
                other => format!("{other:?}"),
            });
        }
    }
    if eof {
        c.handle_eof();
        while let Some(ev) = c.poll_event() {
            events.push(format!("{ev:?}"));
        }
    }
    events.dedup();
    let out = String::from_utf8(c.output().take_all()).unwrap();
    (events, out, c.should_close())
}

#[test]
fn framing_error_after_the_response_started_gets_no_second_response() {
    let chunked = "Transfer-Encoding: chunked\r\n";
    // (what, body, status of the error)
    let cases: &[(&str, &[u8], u16)] = &[
        ("size not hex", b"zz\r\n", 400),
        ("size after data not hex", b"3\r\nabc\r\nq\r\n", 400),
        ("negative size", b"-5\r\nhello\r\n0\r\n\r\n", 400),
        ("size 0x-prefixed", b"0x5\r\nhello\r\n", 400),
        ("overflowing size", b"10000000000000000\r\n", 400),
        ("no CRLF after data", b"3\r\nabcXY3\r\nabc\r\n", 400),
        ("CR only after data", b"3\r\nabc\rX", 400),
        ("bare LF in size line", b"3\nabc\r\n", 400),
        ("bad extension", b"3;\x01\r\nabc\r\n", 400),
        ("bad trailer", b"0\r\nno colon\r\n\r\n", 400),
        (
            "size line too long",
            &[&b"1;"[..], &[b'e'; 5000], b"\r\n"].concat(),
            400,
        ),
        ("over max_body_size", b"8\r\n01234567\r\n9\r\n", 413),
    ];
    let limits = HttpLimits::default().max_body_size(16);
    for &(what, body, status) in cases {
        for finish in [true, false] {
            for at in 0..=body.len() {
                let (events, out, closes) =
                    answer_before_body(chunked, body, at, finish, false, limits.clone());
                let ctx = format!("{what}, finished {finish}, split at {at}: {events:?} {out:?}");
                assert_eq!(out.matches("HTTP/1.1 ").count(), 1, "{ctx}");
                assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{ctx}");
                assert_eq!(events.last(), Some(&format!("error {status}")), "{ctx}");
                assert!(closes, "{ctx}");
            }
        }
    }
    // A Content-Length or chunked body cut short by EOF after the response: one response,
    // then the connection closes.
    for (head, body) in [
        ("Content-Length: 10\r\n", &b"abc"[..]),
        (chunked, b"5\r\nab"),
        (chunked, b"0\r\nX-T: 1\r\n"),
    ] {
        for finish in [true, false] {
            for at in 0..=body.len() {
                let (events, out, closes) =
                    answer_before_body(head, body, at, finish, true, HttpLimits::default());
                let ctx = format!("{head:?}, finished {finish}, split at {at}: {events:?}");
                assert_eq!(out.matches("HTTP/1.1 ").count(), 1, "{ctx} {out:?}");
                assert!(closes, "{ctx}");
            }
        }
    }
}

#[test]
fn body_timeout_after_the_response_started_gets_no_second_response() {
    let limits = HttpLimits::default().body_timeout(Duration::from_secs(5));
    for finish in [true, false] {
        let t0 = Instant::now();
        let mut c = ServerConnection::new(limits.clone(), t0);
        c.handle_input(
            b"POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab",
            t0,
        );
        assert!(matches!(c.poll_event(), Some(HttpEvent::Head(_))));
        c.send_response(ResponseHead::new(200), BodyLength::Known(0))
            .unwrap();
        if finish {
            c.finish_response().unwrap();
        }
        while c.poll_event().is_some() {}
        let deadline = c.poll_timeout().expect("body timer");
        c.handle_timeout(deadline);
        assert!(matches!(
            c.poll_event(),
            Some(HttpEvent::Error(HttpError::BodyTimeout))
        ));
        let out = String::from_utf8(c.output().take_all()).unwrap();
        assert_eq!(
            out.matches("HTTP/1.1 ").count(),
            1,
            "finished {finish}: {out:?}"
        );
        assert!(c.should_close());
    }
}

#[test]
fn timeouts() {
    let limits = HttpLimits::default()
        .head_timeout(Duration::from_secs(10))
        .idle_timeout(Duration::from_secs(60));
    let t0 = Instant::now();
    let s = Duration::from_secs;

    // Nothing arrives on a new connection: silent close after head_timeout.
    let mut c = ServerConnection::new(limits.clone(), t0);
    assert_eq!(c.poll_timeout(), Some(t0 + s(10)));
    c.handle_timeout(t0 + s(9));
    assert!(!c.should_close());
    c.handle_timeout(t0 + s(10));
    assert!(c.should_close());
    assert!(c.poll_event().is_none());
    assert!(c.output().is_empty());

    // Part of a head (slowloris): 408 counted from the connection start.
    let mut c = ServerConnection::new(limits.clone(), t0);
    c.handle_input(b"GET / HTTP/1.1\r\nHo", t0 + s(5));
    assert!(c.poll_event().is_none());
    assert_eq!(c.poll_timeout(), Some(t0 + s(10)));
    c.handle_timeout(t0 + s(10));
    assert!(matches!(
        c.poll_event(),
        Some(HttpEvent::Error(HttpError::HeadTimeout))
    ));
    assert!(c.poll_event().is_none());
    assert!(c.should_close());
    let out = String::from_utf8(c.output().take_all()).unwrap();
    assert!(out.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{out}");
    assert!(out.contains("connection: close\r\n"));

    // Keep-alive: idle_timeout between requests, head_timeout once a head starts.
    let mut c = ServerConnection::new(limits.clone(), t0);
    c.handle_input(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", t0 + s(1));
    c.poll_event();
    c.poll_event();
    c.handle_timeout(t0 + s(100)); // the app is slow: no timer runs
    assert!(!c.should_close());
    c.handle_input(b"", t0 + s(100));
    c.send_response(ResponseHead::new(200), BodyLength::Empty)
        .unwrap();
    c.finish_response().unwrap();
    assert_eq!(c.poll_timeout(), Some(t0 + s(160)));
    assert!(c.is_idle());
    c.handle_input(b"G", t0 + s(150));
    assert_eq!(c.poll_timeout(), Some(t0 + s(160)));
    c.handle_timeout(t0 + s(159));
    assert!(!c.should_close());
    c.handle_timeout(t0 + s(160));
    assert!(matches!(
        c.poll_event(),
        Some(HttpEvent::Error(HttpError::HeadTimeout))
    ));

    // Idle connection times out silently.
    let mut c = ServerConnection::new(limits, t0);
    c.handle_input(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", t0);
    c.poll_event();
    c.poll_event();
    c.send_response(ResponseHead::new(200), BodyLength::Empty)
        .unwrap();
    c.finish_response().unwrap();
    c.output().take_all();
    c.handle_timeout(t0 + s(60));
    assert!(c.should_close());
    assert!(c.output().is_empty());
}

#[test]
fn pipelined_input_is_bounded() {
    let limits = HttpLimits::default().max_head_size(1024);
    let t0 = Instant::now();
    let mut c = ServerConnection::new(limits, t0);
    let one = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    let mut fed = 0;
    let mut waiting = false;
    while c.wants_read() {
        c.handle_input(one, t0);
        fed += 1;
        assert!(fed < 100);
        // Input is parsed before more is read (the first request is then in progress,
        // and the rest wait for its response).
        assert!(!c.wants_read());
        while let Some(ev) = c.poll_event() {
            waiting |= matches!(ev, HttpEvent::BodyEnd { .. });
        }
    }
    assert!(waiting);
    assert!(c.buffered() >= 1024 && c.buffered() < 1024 + one.len());
    // Draining events frees the buffer as requests are answered.
    c.send_response(ResponseHead::new(200), BodyLength::Empty)
        .unwrap();
    c.finish_response().unwrap();
    let mut answered = 1;
    while let Some(ev) = c.poll_event() {
        if let HttpEvent::BodyEnd { .. } = ev {
            c.send_response(ResponseHead::new(200), BodyLength::Empty)
                .unwrap();
            c.finish_response().unwrap();
            answered += 1;
        }
    }
    assert_eq!(answered, fed);
    assert!(c.wants_read());
    assert!(c.is_idle());
}

#[test]
fn usage_errors() {
    let t0 = Instant::now();
    let mut c = ServerConnection::new(HttpLimits::default(), t0);
    assert_eq!(
        c.send_response(ResponseHead::new(200), BodyLength::Empty),
        Err(HttpUsageError::NoRequest)
    );
    assert_eq!(c.finish_response(), Err(HttpUsageError::NoRequest));
    c.handle_input(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", t0);
    c.poll_event();
    assert_eq!(
        c.send_body(Bytes::new()),
        Err(HttpUsageError::NoResponseStarted)
    );
    assert_eq!(
        c.send_response(
            ResponseHead::new(200).header("x", "a\r\nb: c"),
            BodyLength::Empty
        ),
        Err(HttpUsageError::InvalidHeader)
    );
    assert_eq!(
        c.send_response(ResponseHead::new(101), BodyLength::Empty),
        Err(HttpUsageError::UseAcceptUpgrade)
    );
    assert_eq!(
        c.accept_upgrade(ResponseHead::new(101)).unwrap_err(),
        HttpUsageError::NotUpgrade
    );
    c.send_response(ResponseHead::new(200), BodyLength::Known(3))
        .unwrap();
    assert_eq!(
        c.send_response(ResponseHead::new(200), BodyLength::Empty),
        Err(HttpUsageError::ResponseAlreadyStarted)
    );
    assert_eq!(
        c.send_body(Bytes::from_static(b"abcd")),
        Err(HttpUsageError::BodyTooLong)
    );
    c.send_body(Bytes::from_static(b"ab")).unwrap();
    assert_eq!(
        c.finish_response(),
        Err(HttpUsageError::BodyIncomplete {
            declared: 3,
            sent: 2
        })
    );
    assert!(c.should_close());
}

#[test]
fn interim_and_app_connection_close() {
    let t0 = Instant::now();
    let mut c = ServerConnection::new(HttpLimits::default(), t0);
    c.handle_input(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", t0);
    c.poll_event();
    c.send_response(
        ResponseHead::new(103).header("link", "</s.css>"),
        BodyLength::Empty,
    )
    .unwrap();
    c.send_response(
        ResponseHead::new(200).header("Connection", "close"),
        BodyLength::Empty,
    )
    .unwrap();
    c.finish_response().unwrap();
    assert!(c.should_close());
    assert_eq!(
        String::from_utf8(c.output().take_all()).unwrap(),
        "HTTP/1.1 103 Early Hints\r\nlink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
}

#[test]
fn close_after_response() {
    let t0 = Instant::now();
    let mut c = ServerConnection::new(HttpLimits::default(), t0);
    c.handle_input(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", t0);
    c.poll_event();
    c.close_after_response();
    c.send_response(ResponseHead::new(200), BodyLength::Empty)
        .unwrap();
    assert!(!c.should_close());
    c.finish_response().unwrap();
    assert!(c.should_close());
    assert!(String::from_utf8(c.output().take_all())
        .unwrap()
        .contains("connection: close\r\n"));
    // Idle: closes at once.
    let mut c = ServerConnection::new(HttpLimits::default(), t0);
    assert!(c.is_idle());
    c.close_after_response();
    assert!(c.should_close());
}

#[test]
fn big_body_is_zero_copy_in_output() {
    let t0 = Instant::now();
    let mut c = ServerConnection::new(HttpLimits::default(), t0);
    c.handle_input(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", t0);
    c.poll_event();
    let big = Bytes::from(vec![b'x'; 100_000]);
    c.send_response(ResponseHead::new(200), BodyLength::Known(100_000))
        .unwrap();
    c.send_body(big.clone()).unwrap();
    c.finish_response().unwrap();
    let mut slices = [std::io::IoSlice::new(&[]); 4];
    let n = c.output().io_slices(&mut slices);
    assert_eq!(n, 2);
    assert_eq!(slices[1].as_ptr(), big.as_ptr());
}

/// Malformed and smuggling requests, each with the status the core must answer.
const MALFORMED: &[(&str, &[u8], u16)] = &[
    ("CL+TE", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("TE+CL", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400),
    ("two CL differing", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
    ("two CL identical", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400),
    ("CL list", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc", 400),
    ("CL plus sign", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc", 400),
    ("CL minus", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400),
    ("CL junk", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3x\r\n\r\nabc", 400),
    ("CL hex", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x3\r\n\r\nabc", 400),
    ("CL empty", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", 400),
    ("CL overflow", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400),
    ("CL inner space", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n", 400),
    ("CL too large", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4194305\r\n\r\n", 413),
    ("TE gzip", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    ("TE gzip, chunked", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
    ("TE unknown", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: foo\r\n\r\n", 501),
    ("TE chunked not last", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
    ("TE chunked twice", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400),
    ("TE chunked split fields twice", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    ("TE empty", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n", 400),
    ("TE junk token", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", 400),
    ("TE on 1.0", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("TE vertical tab", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \x0bchunked\r\n\r\n", 400),
    ("space before colon", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n", 400),
    ("obs-fold", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400),
    ("obs-fold tab", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", 400),
    ("space before first header", b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400),
    ("bare CR in value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400),
    ("bare CR in request line", b"GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("bare LF", b"GET / HTTP/1.1\nHost: a\n\n", 400),
    ("NUL in value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 400),
    ("bad header name", b"GET / HTTP/1.1\r\nHost: a\r\nX(y): 1\r\n\r\n", 400),
    ("empty header name", b"GET / HTTP/1.1\r\nHost: a\r\n: 1\r\n\r\n", 400),
    ("no colon", b"GET / HTTP/1.1\r\nHost: a\r\nJunk\r\n\r\n", 400),
    ("missing host", b"GET / HTTP/1.1\r\n\r\n", 400),
    ("two hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("HTTP/2.0", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    ("HTTP/1.2", b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505),
    ("HTTP/0.9", b"GET /\r\n\r\n", 400),
    ("lowercase version", b"GET / http/1.1\r\nHost: a\r\n\r\n", 400),
    ("double space", b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("bad method", b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("space in target", b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("chunk size junk", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    ("chunk size empty", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", 400),
    ("chunk size overflow", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n", 400),
    ("chunk size negative", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", 400),
    ("chunk size 0x", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk size trailing space", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n", 400),
    ("chunk missing CRLF", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n", 400),
    ("chunk LF only", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n", 400),
    ("chunk data too long", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n", 400),
    ("chunk ext with CR", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;a\rb\r\nabc\r\n0\r\n\r\n", 400),
    ("chunk body too large", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n400001\r\n", 413),
    ("trailer obs-fold", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\n b\r\n\r\n", 400),
    ("trailer no colon", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad\r\n\r\n", 400),
    ("CL then smuggled", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\nGET /x HTTP/1.1\r\n\r\n", 400),
    ("relative target", b"GET x/y HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("asterisk not OPTIONS", b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("absolute other scheme", b"GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("absolute userinfo", b"GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("absolute no host", b"GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("CONNECT no port", b"CONNECT a HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("CONNECT origin-form", b"CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
];

/// Answers with the path and query the core extracted from the target.
fn path_and_query(head: &RequestHead, _: &[u8]) -> Plan {
    let text = format!(
        "{:?} {} {:?}",
        head.target_form(),
        head.path(),
        head.query()
    );
    let text: &'static [u8] = Box::leak(text.into_bytes().into_boxed_slice());
    (
        ResponseHead::new(200),
        BodyLength::Known(text.len() as u64),
        vec![text],
    )
}

#[test]
fn every_target_form_is_accepted() {
    let app = App {
        respond: path_and_query,
        ..ECHO
    };
    let o = run_all(
        b"GET http://127.0.0.1:8080/ HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n\
          GET HTTPS://h/a/b?x=1 HTTP/1.1\r\nHost: h\r\n\r\n\
          GET http://h?q HTTP/1.1\r\nHost: h\r\n\r\n\
          OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n\
          CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n\
          GET /o?p HTTP/1.1\r\nHost: h\r\n\r\n",
        false,
        app,
        HttpLimits::default(),
    );
    let out = text(&o);
    let bodies: Vec<&str> = out
        .split("HTTP/1.1 200 OK\r\n")
        .skip(1)
        .map(|r| r.split_once("\r\n\r\n").unwrap().1)
        .collect();
    assert_eq!(
        bodies,
        vec![
            "Absolute / None",
            "Absolute /a/b Some(\"x=1\")",
            "Absolute / Some(\"q\")",
            "Asterisk * None",
            "Authority  None",
            "Origin /o Some(\"p\")",
        ]
    );
    assert!(!o.should_close);
}

#[test]
fn malformed_requests_get_their_status() {
    assert!(MALFORMED.len() >= 40);
    for (name, input, status) in MALFORMED {
        let o = run_all(input, false, ECHO, HttpLimits::default());
        let out = text(&o);
        let want = format!("HTTP/1.1 {status} ");
        assert!(
            out.starts_with(&want) || out.contains(&format!("\r\n\r\n{want}")),
            "{name}: got {out:?}"
        );
        assert!(out.contains("connection: close\r\n"), "{name}");
        assert!(
            o.events.last().unwrap() == &format!("error {status}"),
            "{name}: {:?}",
            o.events
        );
        assert!(o.should_close, "{name}");
    }
}

#[test]
fn limits_give_431_414_400() {
    let limits = HttpLimits::default()
        .max_head_size(200)
        .max_uri_len(50)
        .max_headers(3)
        .max_chunk_line(16);
    let cases: &[(&[u8], u16)] = &[
        (b"GET /0123456789012345678901234567890123456789012345678901234567890 HTTP/1.1\r\nHost: a\r\n\r\n", 414),
        (b"GET /0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789", 414),
        (b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\nHost: a\r\nA: 0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789", 431),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", 431),
    ];
    for (input, status) in cases {
        let o = run_all(input, false, ECHO, limits.clone());
        assert!(
            text(&o).starts_with(&format!("HTTP/1.1 {status} ")),
            "{:?} -> {:?}",
            String::from_utf8_lossy(input),
            text(&o)
        );
    }
    // A head exactly at the limit is fine.
    let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    let limits = HttpLimits::default().max_head_size(head.len());
    let o = run_all(head, false, ECHO, limits);
    assert!(text(&o).starts_with("HTTP/1.1 200 OK"));
}

#[test]
fn head_parsing_is_linear() {
    // A 16 KiB head fed one byte at a time must not be rescanned from the start each time.
    let mut head = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    while head.len() < 16_000 {
        head.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    head.extend_from_slice(b"\r\n");
    let limits = HttpLimits::default()
        .max_head_size(32 * 1024)
        .max_headers(1000);
    let start = std::time::Instant::now();
    for _ in 0..5 {
        let o = run_with(&head, &vec![1; head.len()], false, ECHO, limits.clone());
        assert_eq!(o.events.len(), 2);
    }
    // Quadratic rescanning would be ~5 * 16000^2 / 2 = 640M byte visits; linear is ~80K.
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
}

/// A caller that keeps buffers between requests (as the framework's driver does) gives the
/// connection memory to read into; the head shares it, and once the head is given back
/// and the connection is idle, the memory is taken back whole, for the next request.
#[test]
fn provided_input_memory_is_read_into_and_taken_back_when_idle() {
    let now = Instant::now();
    let mut conn = ServerConnection::new(HttpLimits::default(), now);
    assert!(conn.take_idle_input().is_none(), "no memory yet");
    let mut memory = bytes::BytesMut::with_capacity(4096);
    let start = memory.as_ptr() as usize;
    for (i, path) in ["/first", "/second", "/third"].into_iter().enumerate() {
        conn.provide_input_buffer(|| memory);
        let request = format!("GET {path} HTTP/1.1\r\nHost: h\r\n\r\n");
        conn.handle_input(request.as_bytes(), now);
        let head = match conn.poll_event() {
            Some(HttpEvent::Head(h)) => h,
            other => panic!("request {i}: {other:?}"),
        };
        assert_eq!(head.path(), path);
        let at = head.target().as_ptr() as usize;
        assert!(
            (start..start + 4096).contains(&at),
            "request {i}: the head is in the provided memory"
        );
        assert!(matches!(conn.poll_event(), Some(HttpEvent::BodyEnd { .. })));
        conn.send_response(ResponseHead::new(204), BodyLength::Empty)
            .unwrap();
        conn.finish_response().unwrap();
        assert!(conn.poll_event().is_none());
        conn.recycle_head(head);
        memory = conn.take_idle_input().expect("idle: the memory comes back");
        assert!(conn.take_idle_input().is_none());
    }
    // The head gone, all the room can be used again.
    assert!(memory.try_reclaim(4096));
    assert_eq!(memory.as_ptr() as usize, start);
}
