//! Fuzzes the HTTP/1.1 server connection: arbitrary bytes in arbitrary splits, with an
//! application that answers every request in varied ways (early/late, streamed, HEAD-style,
//! upgrades accepted or declined, 100-continue) and time jumps.
//!
//! Checks: no panic; buffered input never exceeds `read_buffer_limit()` plus one input; no
//! events after `should_close`; usage errors never happen for a well-behaved application.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, Instant};
use wirelane_core::proto::http::{BodyLength, HttpEvent, ResponseHead, ServerConnection};
use wirelane_core::proto::HttpLimits;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn respond(conn: &mut ServerConnection, rng: &mut Rng) {
    let kind = rng.next() % 5;
    let (status, len, body): (u16, BodyLength, &[&'static [u8]]) = match kind {
        0 => (200, BodyLength::Known(5), &[b"hello"]),
        1 => (200, BodyLength::Unknown, &[b"a", b"", b"bc"]),
        2 => (204, BodyLength::Empty, &[]),
        3 => (404, BodyLength::Empty, &[]),
        _ => (304, BodyLength::Known(3), &[]),
    };
    let mut head = ResponseHead::new(status).header("x-test", "1");
    if rng.next() % 8 == 0 {
        head = head.header("connection", "close");
    }
    if conn.send_response(head, len).is_err() {
        return; // the connection failed meanwhile (e.g. error mid-body): allowed
    }
    for b in body {
        conn.send_body(Bytes::from_static(b)).unwrap();
    }
    conn.finish_response().unwrap();
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let mut rng = Rng(u64::from_le_bytes(data[..8].try_into().unwrap()) | 1);
    let input = &data[8..];
    let limits = HttpLimits::default()
        .max_head_size(512)
        .max_headers(8)
        .max_uri_len(128)
        .max_body_size(1024)
        .max_chunk_line(32)
        .head_timeout(Duration::from_secs(10))
        .idle_timeout(Duration::from_secs(30));
    let t0 = Instant::now();
    let mut now = t0;
    let mut conn = ServerConnection::new(limits, now);
    let cap = conn.read_buffer_limit();
    let mut pos = 0;
    let mut in_request = false;
    let mut responded = false;
    let mut closed_seen = false;
    let mut stalls = 0;
    loop {
        if !conn.should_close() && !conn.is_upgraded() && pos < input.len() && conn.wants_read() {
            let n = (1 + rng.next() % 64) as usize;
            let end = (pos + n).min(input.len());
            conn.handle_input(&input[pos..end], now);
            assert!(
                conn.buffered() <= cap + (end - pos),
                "buffered {} > {cap} + {}",
                conn.buffered(),
                end - pos
            );
            pos = end;
        } else {
            stalls += 1;
        }
        if rng.next() % 16 == 0 {
            now += Duration::from_secs(rng.next() % 40);
            conn.handle_timeout(now);
        }
        if pos == input.len() && rng.next() % 2 == 0 {
            conn.handle_eof();
        }
        while let Some(ev) = conn.poll_event() {
            assert!(!closed_seen, "event after close: {ev:?}");
            match ev {
                HttpEvent::Head(h) => {
                    in_request = true;
                    responded = false;
                    if h.expects_continue() && rng.next() % 2 == 0 {
                        conn.send_continue().unwrap();
                    }
                    if rng.next() % 4 == 0 {
                        respond(&mut conn, &mut rng);
                        responded = true;
                    }
                }
                HttpEvent::Upgrade(_) => {
                    if rng.next() % 2 == 0 {
                        conn.accept_upgrade(ResponseHead::new(101).header("upgrade", "x"))
                            .unwrap();
                    } else {
                        respond(&mut conn, &mut rng);
                    }
                }
                HttpEvent::Body(b) => assert!(in_request && !b.is_empty()),
                HttpEvent::BodyEnd { .. } => {
                    assert!(in_request);
                    in_request = false;
                    if !responded {
                        respond(&mut conn, &mut rng);
                    }
                }
                HttpEvent::PeerClosed | HttpEvent::Error(_) => closed_seen = true,
            }
            assert!(conn.buffered() <= cap + 64);
        }
        // Drain part of the output, like a socket would.
        let out = conn.output();
        let n = out.len().min((rng.next() % 4096) as usize);
        out.advance(n);
        if conn.should_close()
            || conn.is_upgraded()
            || stalls > 4
            || (pos == input.len() && rng.next() % 4 == 0)
        {
            break;
        }
    }
    conn.handle_eof();
    while conn.poll_event().is_some() {}
    assert!(conn.output_len() < 1 << 20);
});
