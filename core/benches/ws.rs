//! WebSocket protocol benchmarks: frame decode + unmask (through `WsConnection`), frame
//! encode, UTF-8 validation, and the fast unmask against a byte loop, all as throughput.
//!
//! `cargo bench -p wirelane-core --bench ws`

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::time::Instant;
use wirelane_core::proto::ws::mask::{apply_mask, apply_mask_bytewise};
use wirelane_core::proto::ws::{
    encode_client_frame, DataKind, Opcode, Utf8Validator, WsConfig, WsConnection, WsEvent,
};
use wirelane_core::proto::WsLimits;

const SIZES: [(usize, &str); 4] = [
    (16, "16B"),
    (1024, "1KiB"),
    (64 * 1024, "64KiB"),
    (1024 * 1024, "1MiB"),
];
const KEY: [u8; 4] = [0x11, 0x22, 0x33, 0x44];

fn config() -> WsConfig {
    WsConfig {
        limits: WsLimits::default().ping_interval(None).idle_timeout(None),
        stream_fragments: false,
        deflate: None,
    }
}

fn masked_frame(op: Opcode, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    encode_client_frame(true, op, payload, KEY, &mut v);
    v
}

fn text_payload(n: usize) -> Vec<u8> {
    // Mostly ASCII with some 2-, 3- and 4-byte characters, cut at a char boundary.
    let unit = "The quick brown fox — jumps over the lazy dog; κόσμε 𝄞 ";
    let mut s = String::new();
    while s.len() < n {
        s.push_str(unit);
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s.into_bytes()
}

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("ws_decode_unmask");
    let t0 = Instant::now();
    for (n, name) in SIZES {
        g.throughput(Throughput::Bytes(n as u64));
        let bin = masked_frame(Opcode::Binary, &vec![0xA5u8; n]);
        let text = masked_frame(Opcode::Text, &text_payload(n));
        for (kind, frame) in [("binary", &bin), ("text", &text)] {
            let mut conn = WsConnection::new(config(), t0);
            g.bench_with_input(BenchmarkId::new(kind, name), frame, |b, frame| {
                b.iter(|| {
                    conn.handle_input(frame, t0);
                    match conn.poll_event() {
                        Some(WsEvent::Message(m)) => black_box(m),
                        other => panic!("{other:?}"),
                    }
                })
            });
        }
    }
    g.finish();
}

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("ws_encode");
    let t0 = Instant::now();
    for (n, name) in SIZES {
        g.throughput(Throughput::Bytes(n as u64));
        let payload = Bytes::from(vec![0x5Au8; n]);
        let mut conn = WsConnection::new(config(), t0);
        g.bench_with_input(BenchmarkId::new("binary", name), &payload, |b, p| {
            b.iter(|| {
                conn.send(DataKind::Binary, p.clone()).unwrap();
                // What a driver does after a successful vectored write of everything.
                let out = conn.output();
                let len = out.len();
                black_box(out.first_chunk());
                out.advance(len);
            })
        });
    }
    g.finish();
}

fn utf8(c: &mut Criterion) {
    let mut g = c.benchmark_group("ws_utf8");
    for (n, name) in [
        (1024usize, "1KiB"),
        (64 * 1024, "64KiB"),
        (1024 * 1024, "1MiB"),
    ] {
        g.throughput(Throughput::Bytes(n as u64));
        let mixed = text_payload(n);
        let ascii = vec![b'a'; n];
        for (kind, data) in [("mixed", &mixed), ("ascii", &ascii)] {
            g.bench_with_input(
                BenchmarkId::new(format!("validator_{kind}"), name),
                data,
                |b, d| {
                    b.iter(|| {
                        let mut v = Utf8Validator::new();
                        // In 4 KiB pieces, as a text message arriving over TCP would be.
                        for piece in d.chunks(4096) {
                            v.feed(black_box(piece)).unwrap();
                        }
                        v.finish().unwrap();
                    })
                },
            );
        }
        g.bench_with_input(
            BenchmarkId::new("std_from_utf8_mixed", name),
            &mixed,
            |b, d| b.iter(|| std::str::from_utf8(black_box(d)).unwrap().len()),
        );
    }
    g.finish();
}

fn mask(c: &mut Criterion) {
    let mut g = c.benchmark_group("ws_mask");
    for (n, name) in SIZES {
        g.throughput(Throughput::Bytes(n as u64));
        let mut buf = vec![0x3Cu8; n + 1];
        // Offset by one byte so the fast path works on an unaligned start.
        g.bench_function(BenchmarkId::new("fast", name), |b| {
            b.iter(|| apply_mask(black_box(&mut buf[1..]), KEY, 1))
        });
        g.bench_function(BenchmarkId::new("bytewise", name), |b| {
            b.iter(|| apply_mask_bytewise(black_box(&mut buf[1..]), KEY, 1))
        });
    }
    g.finish();
}

criterion_group!(benches, decode, encode, utf8, mask);
criterion_main!(benches);
