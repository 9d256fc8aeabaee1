//! The request body timer of the HTTP/1.1 server connection (`HttpLimits::body_timeout`):
//! a peer that stops sending a body it announced is answered 408 (or just dropped once the
//! response has started), a slow but steady body is not, and no clock is read: time only
//! moves through the `now` arguments.

use bytes::Bytes;
use std::time::{Duration, Instant};
use wirelane_core::proto::http::*;
use wirelane_core::proto::HttpLimits;

const TIMEOUT: Duration = Duration::from_secs(30);

fn s(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn limits() -> HttpLimits {
    HttpLimits::default()
        .body_timeout(TIMEOUT)
        .head_timeout(s(10))
        .idle_timeout(s(60))
}

/// Drains the events, as short strings.
fn events(c: &mut ServerConnection) -> Vec<String> {
    let mut v = Vec::new();
    while let Some(ev) = c.poll_event() {
        v.push(match ev {
            HttpEvent::Head(h) => format!("head {}", h.target()),
            HttpEvent::Upgrade(h) => format!("upgrade {}", h.target()),
            HttpEvent::Body(b) => format!("body {}", String::from_utf8_lossy(&b)),
            HttpEvent::BodyEnd { trailers } => format!("end {trailers:?}"),
            HttpEvent::PeerClosed => "peer closed".into(),
            HttpEvent::Error(e) => format!("error {e:?} {}", e.status()),
        });
    }
    v
}

fn output(c: &mut ServerConnection) -> String {
    String::from_utf8(c.output().take_all()).unwrap()
}

const CL_HEAD: &[u8] = b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n";
const CHUNKED_HEAD: &[u8] = b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
/// A chunked body of 10 data bytes, with an extension and a trailer.
const CHUNKED_BODY: &[u8] = b"4;x=y\r\nabcd\r\n6\r\nefghij\r\n0\r\nt: v\r\n\r\n";
const CL_BODY: &[u8] = b"abcdefghij";

#[test]
fn default_and_setter() {
    assert_eq!(HttpLimits::default().body_timeout, s(30));
    assert_eq!(HttpLimits::default().body_timeout(s(5)).body_timeout, s(5));
}

/// Head then silence (no body byte at all, or part of it): 408 `body_timeout` after the
/// last byte, never before.
#[test]
fn silent_body_gets_408() {
    let t0 = Instant::now();
    let cases: [(&[u8], &[u8]); 4] = [
        (CL_HEAD, b""),
        (CL_HEAD, b"abc"),
        (CHUNKED_HEAD, b""),
        (CHUNKED_HEAD, b"4;x=y\r\nab"),
    ];
    for (head, part) in cases {
        let mut c = ServerConnection::new(limits(), t0);
        c.handle_input(head, t0 + s(1));
        let mut evs = events(&mut c);
        c.handle_input(part, t0 + s(2));
        evs.extend(events(&mut c));
        assert_eq!(evs[0], "head /up");
        let last = if part.is_empty() { s(1) } else { s(2) };
        assert_eq!(c.poll_timeout(), Some(t0 + last + TIMEOUT), "{evs:?}");
        c.handle_timeout(t0 + last + TIMEOUT - Duration::from_millis(1));
        assert!(!c.should_close());
        assert!(events(&mut c).is_empty());
        assert!(c.output().is_empty());

        c.handle_timeout(t0 + last + TIMEOUT);
        assert_eq!(events(&mut c), vec!["error BodyTimeout 408"]);
        assert!(c.should_close());
        assert!(c.poll_timeout().is_none());
        let out = output(&mut c);
        assert!(out.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{out}");
        assert!(out.contains("connection: close\r\n"), "{out}");
        assert!(out.ends_with("\r\n\r\nrequest body timeout\n"), "{out}");
        // Late input and the app's commands find the connection closed.
        c.handle_input(b"defghij", t0 + s(100));
        assert!(events(&mut c).is_empty());
        assert_eq!(
            c.send_response(ResponseHead::new(200), BodyLength::Empty),
            Err(HttpUsageError::Closed)
        );
    }
}

/// One byte every 29 s (just under the timeout): the body completes and is answered; the
/// timer is pushed back by every byte.
#[test]
fn slow_but_steady_body_completes() {
    for (head, body) in [(CL_HEAD, CL_BODY), (CHUNKED_HEAD, CHUNKED_BODY)] {
        let t0 = Instant::now();
        let mut c = ServerConnection::new(limits(), t0);
        c.handle_input(head, t0);
        let mut evs = events(&mut c);
        let mut t = t0;
        for &b in body {
            assert_eq!(c.poll_timeout(), Some(t + TIMEOUT));
            // The driver wakes up before the deadline (early wake-ups are harmless).
            c.handle_timeout(t + s(29));
            assert!(!c.should_close());
            t += s(29);
            c.handle_input(&[b], t);
            evs.extend(events(&mut c));
        }
        let body_text: String = evs.iter().filter_map(|e| e.strip_prefix("body ")).collect();
        assert_eq!(body_text, "abcdefghij");
        assert!(evs.last().unwrap().starts_with("end "), "{evs:?}");
        // The whole body is in: no body timer while the app works.
        assert!(c.poll_timeout().is_none());
        c.handle_timeout(t + s(1000));
        assert!(!c.should_close());
        let t = t + s(1000);
        c.send_response(ResponseHead::new(204), BodyLength::Empty)
            .unwrap();
        c.finish_response().unwrap();
        assert_eq!(output(&mut c), "HTTP/1.1 204 No Content\r\n\r\n");
        assert!(!c.should_close());
        // Back to the idle timer of a kept-alive connection.
        assert_eq!(c.poll_timeout(), Some(t + s(60)));
    }
}

/// Silence while the app already writes its response: the connection is dropped without a
/// single byte more (the response is cut short), and the app learns about it.
#[test]
fn silence_while_responding_closes_without_bytes() {
    for (head, part) in [(CL_HEAD, &b"abc"[..]), (CHUNKED_HEAD, &b"3\r\nabc\r\n"[..])] {
        let t0 = Instant::now();
        let mut c = ServerConnection::new(limits(), t0);
        c.handle_input(head, t0);
        c.handle_input(part, t0 + s(1));
        assert_eq!(events(&mut c), vec!["head /up", "body abc"]);
        c.send_response(ResponseHead::new(200), BodyLength::Unknown)
            .unwrap();
        c.send_body(Bytes::from_static(b"partial")).unwrap();
        let out = output(&mut c);
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert_eq!(c.poll_timeout(), Some(t0 + s(1) + TIMEOUT));
        c.handle_timeout(t0 + s(31));
        assert_eq!(events(&mut c), vec!["error BodyTimeout 408"]);
        assert!(c.should_close());
        assert!(c.output().is_empty());
        assert_eq!(
            c.send_body(Bytes::from_static(b"more")),
            Err(HttpUsageError::Closed)
        );
    }
}

/// The app answered without reading the body: the rest is discarded, under the same timer.
/// Silence there closes the connection with no bytes (the response is complete already).
#[test]
fn silence_while_discarding_closes_without_bytes() {
    for (head, part) in [(CL_HEAD, &b"abc"[..]), (CHUNKED_HEAD, &b"3\r\nabc\r\n"[..])] {
        let t0 = Instant::now();
        let mut c = ServerConnection::new(limits(), t0);
        c.handle_input(head, t0);
        assert_eq!(events(&mut c), vec!["head /up"]);
        c.send_response(ResponseHead::new(200), BodyLength::Empty)
            .unwrap();
        c.finish_response().unwrap();
        assert_eq!(
            output(&mut c),
            "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
        );
        assert!(!c.should_close());
        c.handle_input(part, t0 + s(5));
        assert!(
            events(&mut c).is_empty(),
            "discarded bytes are not reported"
        );
        assert_eq!(c.poll_timeout(), Some(t0 + s(5) + TIMEOUT));
        c.handle_timeout(t0 + s(34));
        assert!(!c.should_close());
        c.handle_timeout(t0 + s(35));
        assert_eq!(events(&mut c), vec!["error BodyTimeout 408"]);
        assert!(c.should_close());
        assert!(c.output().is_empty(), "no second response");
        assert!(c.poll_timeout().is_none());
    }
}

/// A discarded body that keeps arriving is read to its end and the connection is kept.
#[test]
fn slow_discard_completes_and_keeps_alive() {
    for (head, body) in [(CL_HEAD, CL_BODY), (CHUNKED_HEAD, CHUNKED_BODY)] {
        let t0 = Instant::now();
        let mut c = ServerConnection::new(limits(), t0);
        c.handle_input(head, t0);
        assert_eq!(events(&mut c), vec!["head /up"]);
        c.send_response(ResponseHead::new(200), BodyLength::Empty)
            .unwrap();
        c.finish_response().unwrap();
        c.output().take_all();
        let mut t = t0;
        for &b in body {
            assert_eq!(c.poll_timeout(), Some(t + TIMEOUT));
            t += s(20);
            c.handle_timeout(t);
            c.handle_input(&[b], t);
            assert!(events(&mut c).is_empty());
        }
        assert!(!c.should_close());
        assert!(c.is_idle());
        assert_eq!(c.poll_timeout(), Some(t + s(60)), "idle timer now");
        c.handle_input(b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n", t + s(1));
        assert_eq!(events(&mut c), vec!["head /next", "end []"]);
    }
}

/// A client that sent `Expect: 100-continue` waits for us: no body timer until the 100 is
/// sent, and then the silence counts from the moment it was sent (the next `now`).
#[test]
fn no_body_timer_while_client_waits_for_continue() {
    let t0 = Instant::now();
    let mut c = ServerConnection::new(limits(), t0);
    c.handle_input(
        b"PUT /f HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
        t0,
    );
    assert_eq!(events(&mut c), vec!["head /f"]);
    assert!(c.poll_timeout().is_none());
    c.handle_timeout(t0 + s(100));
    assert!(!c.should_close());
    // The app decides later (no `now` given meanwhile): the core cannot date the 100, so it
    // asks for a wake-up right away, and the clock starts at that wake-up.
    c.send_continue().unwrap();
    assert_eq!(output(&mut c), "HTTP/1.1 100 Continue\r\n\r\n");
    assert_eq!(c.poll_timeout(), Some(t0 + s(100)));
    c.handle_timeout(t0 + s(200));
    assert!(!c.should_close());
    assert!(events(&mut c).is_empty());
    assert_eq!(c.poll_timeout(), Some(t0 + s(200) + TIMEOUT));
    c.handle_input(b"abc", t0 + s(220));
    assert_eq!(events(&mut c), vec!["body abc", "end []"]);
    assert!(c.poll_timeout().is_none());
}

/// While the input buffer is full we do not read, so the peer's silence does not count;
/// once it drains, the clock restarts at the next `now`.
#[test]
fn no_body_timer_while_we_do_not_read() {
    let limits = limits().max_head_size(1024).max_chunk_line(64);
    let t0 = Instant::now();
    let mut c = ServerConnection::new(limits, t0);
    c.handle_input(
        b"POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n",
        t0,
    );
    assert_eq!(events(&mut c), vec!["head /big"]);
    c.send_response(ResponseHead::new(200), BodyLength::Empty)
        .unwrap();
    c.finish_response().unwrap();
    c.output().take_all();
    assert_eq!(c.poll_timeout(), Some(t0 + TIMEOUT), "discarding");
    // Input arrives while the driver does not poll (say the handler has not returned yet):
    // the buffer fills up and reading stops.
    c.handle_input(&[b'x'; 1024], t0 + s(10));
    assert!(!c.wants_read());
    assert!(c.poll_timeout().is_none());
    c.handle_timeout(t0 + s(500));
    assert!(!c.should_close());
    // Much later the buffer is drained (no `now` since): wake up right away to date it.
    assert!(events(&mut c).is_empty());
    assert!(c.wants_read());
    assert_eq!(c.poll_timeout(), Some(t0 + s(500)));
    c.handle_timeout(t0 + s(900));
    assert!(!c.should_close());
    assert_eq!(c.poll_timeout(), Some(t0 + s(900) + TIMEOUT));
    c.handle_timeout(t0 + s(900) + TIMEOUT);
    assert_eq!(events(&mut c), vec!["error BodyTimeout 408"]);
    assert!(c.should_close());
    assert!(c.output().is_empty());
}

/// EOF inside a body is still `IncompleteBody` (400), not a timeout; a body fully buffered
/// but not yet polled is never "silent".
#[test]
fn eof_and_buffered_body_are_not_timeouts() {
    let t0 = Instant::now();
    let mut c = ServerConnection::new(limits(), t0);
    c.handle_input(CL_HEAD, t0);
    c.handle_input(b"abc", t0);
    c.handle_eof();
    assert_eq!(
        events(&mut c),
        vec!["head /up", "body abc", "error IncompleteBody 400"]
    );
    assert!(c.poll_timeout().is_none());

    let mut c = ServerConnection::new(limits(), t0);
    c.handle_input(CL_HEAD, t0);
    assert_eq!(events(&mut c), vec!["head /up"]);
    c.handle_input(CL_BODY, t0 + s(1));
    // Not polled yet: the body may well be complete, so no timer.
    assert!(c.poll_timeout().is_none());
    c.handle_timeout(t0 + s(1000));
    assert!(!c.should_close());
    assert_eq!(events(&mut c), vec!["body abcdefghij", "end []"]);
}
