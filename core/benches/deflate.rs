//! permessage-deflate benchmarks: compressing and inflating streams of small messages, the
//! article's market-data JSON and chat text, as throughput of uncompressed bytes, for the
//! default setting (no context takeover: each message on its own, the zlib state reset
//! between messages) and for context takeover; plus the cost of a message after an idle
//! release (the zlib state rebuilt, with takeover from the window as a dictionary). The
//! compression ratio of each stream is printed once before its group.
//!
//! `cargo bench -p wirelane-core --bench deflate`

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use wirelane_core::proto::ws::deflate::{Compressor, InflateError, Inflater};

/// The article's `/trading` messages: `{"type": "market_data", "symbol", "price", "volume",
/// "timestamp"}`, four symbols in turn, deterministic pseudo-random prices and volumes.
fn market_data(n: usize) -> Vec<Vec<u8>> {
    let symbols = ["AAPL", "GOOGL", "MSFT", "AMZN"];
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let price = 100.0 + (x % 5000) as f64 / 100.0;
            let volume = 1000 + (x >> 20) % 9000;
            format!(
                "{{\"type\": \"market_data\", \"symbol\": \"{}\", \"price\": {price:.2}, \
                 \"volume\": {volume}, \"timestamp\": {}}}",
                symbols[i % 4],
                1_700_000_000_000u64 + i as u64 * 250
            )
            .into_bytes()
        })
        .collect()
}

/// Chat lines of 40-200 bytes from a small vocabulary, as a room's messages.
fn chat(n: usize) -> Vec<Vec<u8>> {
    let words = [
        "hello", "everyone", "the", "meeting", "is", "moved", "to", "three", "o'clock", "can",
        "you", "share", "your", "screen", "please", "thanks", "I", "think", "we", "should", "ship",
        "it", "today", "after", "lunch", "sounds", "good", "see", "tomorrow", "ok",
    ];
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..n)
        .map(|_| {
            let mut s = String::from("{\"type\":\"message\",\"from\":\"alice\",\"text\":\"");
            let len = 40 + (x % 160) as usize;
            while s.len() < len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                s.push_str(words[(x % words.len() as u64) as usize]);
                s.push(' ');
            }
            s.push_str("\"}");
            s.into_bytes()
        })
        .collect()
}

fn compress_all(c: &mut Compressor, msgs: &[Vec<u8>]) -> Vec<Vec<u8>> {
    msgs.iter().map(|m| c.compress(m)).collect()
}

fn inflate_all(inf: &mut Inflater, msgs: &[Vec<u8>]) -> usize {
    let mut total = 0;
    let mut sink = |c: &[u8]| -> Result<(), InflateError> {
        total += c.len();
        Ok(())
    };
    for m in msgs {
        inf.feed(m, u64::MAX, &mut sink).expect("valid");
        inf.finish(u64::MAX, &mut sink).expect("valid");
    }
    total
}

fn bench(c: &mut Criterion) {
    for (name, msgs) in [("market", market_data(1000)), ("chat", chat(1000))] {
        let raw: usize = msgs.iter().map(Vec::len).sum();
        for (setting, takeover) in [("no_takeover", false), ("takeover", true)] {
            let compressed = compress_all(&mut Compressor::with_window(15, takeover, 6), &msgs);
            let wire: usize = compressed.iter().map(Vec::len).sum();
            eprintln!(
                "deflate {name}/{setting}: {} messages, {raw} B -> {wire} B, ratio {:.2}",
                msgs.len(),
                raw as f64 / wire as f64
            );
            let mut g = c.benchmark_group(format!("deflate/{name}/{setting}"));
            g.throughput(Throughput::Bytes(raw as u64));
            g.bench_function("compress", |b| {
                let mut comp = Compressor::with_window(15, takeover, 6);
                b.iter(|| black_box(compress_all(&mut comp, &msgs)))
            });
            g.bench_function("compress_after_idle_release", |b| {
                let mut comp = Compressor::with_window(15, takeover, 6);
                b.iter(|| {
                    msgs.iter()
                        .map(|m| {
                            let out = comp.compress(m);
                            comp.release();
                            out.len()
                        })
                        .sum::<usize>()
                })
            });
            g.bench_function("inflate", |b| {
                b.iter(|| {
                    // A fresh inflater per pass: the messages were compressed as one stream.
                    let mut inf = Inflater::new(15, takeover);
                    black_box(inflate_all(&mut inf, &compressed))
                })
            });
            g.finish();
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
