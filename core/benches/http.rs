//! Head parsing + framing throughput of the HTTP/1.1 server connection.
//!
//! - `parse_head/browser`: `RequestHead::parse` of a typical ~300-byte browser request.
//! - `conn/browser`: the full connection round: input → `Head` + `BodyEnd` → a small
//!   response (head + 13-byte body) → output drained.
//! - `conn/pipelined16`: the same with 16 pipelined requests in one input.

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use std::time::Instant;
use wirelane_core::proto::http::{
    BodyLength, HttpDate, HttpEvent, RequestHead, ResponseHead, ServerConnection,
};
use wirelane_core::proto::HttpLimits;

const BROWSER: &[u8] = b"GET /api/items?page=2&sort=name HTTP/1.1\r\n\
Host: example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br\r\n\
Connection: keep-alive\r\n\
Cookie: session=abc123\r\n\r\n";

fn serve(conn: &mut ServerConnection, input: &[u8], now: Instant) -> usize {
    conn.handle_input(input, now);
    let mut served = 0;
    while let Some(ev) = conn.poll_event() {
        if let HttpEvent::BodyEnd { .. } = ev {
            conn.send_response(
                ResponseHead::new(200).header("content-type", "text/plain"),
                BodyLength::Known(13),
            )
            .unwrap();
            conn.send_body(Bytes::from_static(b"Hello, world!"))
                .unwrap();
            conn.finish_response().unwrap();
            served += 1;
        }
    }
    let out = conn.output();
    let n = out.len();
    out.advance(n);
    served
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse_head");
    g.throughput(Throughput::Bytes(BROWSER.len() as u64));
    g.bench_function("browser_bytes", |b| {
        b.iter(|| RequestHead::parse(black_box(BROWSER)).unwrap())
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("browser_requests", |b| {
        b.iter(|| RequestHead::parse(black_box(BROWSER)).unwrap())
    });
    g.finish();

    let now = Instant::now();
    let mut pipelined = Vec::new();
    for _ in 0..16 {
        pipelined.extend_from_slice(BROWSER);
    }
    let mut g = c.benchmark_group("conn");
    for (name, input, n) in [
        ("browser", BROWSER, 1u64),
        ("pipelined16", &pipelined[..], 16),
    ] {
        let mut conn = ServerConnection::new(HttpLimits::default(), now);
        conn.set_date(HttpDate::from_unix_secs(1_700_000_000));
        g.throughput(Throughput::Elements(n));
        g.bench_function(format!("{name}_requests"), |b| {
            b.iter(|| assert_eq!(serve(&mut conn, black_box(input), now), n as usize))
        });
        g.throughput(Throughput::Bytes(input.len() as u64));
        g.bench_function(format!("{name}_bytes"), |b| {
            b.iter(|| assert_eq!(serve(&mut conn, black_box(input), now), n as usize))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
