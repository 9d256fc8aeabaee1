//! Randomized tests of the WebSocket connection (seeded, deterministic, run on stable):
//! random valid conversations at random splits against a model, and random corruptions of
//! them checked for the invariants the `ws_conn` fuzz target checks.

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::{Duration, Instant};
use wirelane_core::proto::ws::frame::MAX_CONTROL_PAYLOAD;
use wirelane_core::proto::ws::*;
use wirelane_core::proto::WsLimits;

/// A client frame with a fresh random masking key, as a real client sends it.
fn frame(rng: &mut StdRng, fin: bool, op: Opcode, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    encode_client_frame(fin, op, payload, rng.gen(), &mut v);
    v
}

fn random_text(rng: &mut StdRng, max: usize) -> String {
    const CHARS: &[char] = &[
        'a',
        'z',
        ' ',
        'é',
        'κ',
        '€',
        '𝄞',
        '\u{7ff}',
        '\u{ffff}',
        '\u{10ffff}',
    ];
    let n = rng.gen_range(0..max);
    (0..n)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())])
        .collect()
}

/// A valid conversation ending with a close frame, and the events it must produce.
fn conversation(rng: &mut StdRng) -> (Vec<u8>, Vec<WsEvent>) {
    let mut input = Vec::new();
    let mut want = Vec::new();
    for _ in 0..rng.gen_range(0..12) {
        let msg = if rng.gen_bool(0.5) {
            Message::Text(random_text(rng, 300))
        } else {
            let n = rng.gen_range(0..2000);
            Message::Binary((0..n).map(|_| rng.gen()).collect())
        };
        let bytes = msg.as_bytes().to_vec();
        // Split anywhere (text too: fragments may cut code points).
        let mut cuts: Vec<usize> = (0..rng.gen_range(0..4))
            .map(|_| rng.gen_range(0..=bytes.len()))
            .collect();
        cuts.sort();
        let mut start = 0;
        let pieces: Vec<&[u8]> = cuts
            .iter()
            .chain(std::iter::once(&bytes.len()))
            .map(|&c| {
                let p = &bytes[start..c];
                start = c;
                p
            })
            .collect();
        let mut late_ping = None;
        for (i, p) in pieces.iter().enumerate() {
            let last = i + 1 == pieces.len();
            let op = match (i, &msg) {
                (0, Message::Text(_)) => Opcode::Text,
                (0, Message::Binary(_)) => Opcode::Binary,
                _ => Opcode::Continuation,
            };
            input.extend(frame(rng, last, op, p));
            if rng.gen_bool(0.2) {
                let ping: Vec<u8> = (0..rng.gen_range(0..=MAX_CONTROL_PAYLOAD))
                    .map(|_| rng.gen())
                    .collect();
                input.extend(frame(rng, true, Opcode::Ping, &ping));
                let ev = WsEvent::Ping(Bytes::from(ping));
                if last {
                    // After the final fragment: the message comes first.
                    late_ping = Some(ev);
                } else {
                    want.push(ev);
                }
            }
        }
        want.push(WsEvent::Message(msg));
        want.extend(late_ping);
    }
    input.extend(frame(rng, true, Opcode::Close, &[0x03, 0xE8]));
    want.push(WsEvent::PeerClose(Some(CloseFrame {
        code: CloseCode::NORMAL,
        reason: String::new(),
    })));
    want.push(WsEvent::Closed);
    (input, want)
}

fn config() -> WsConfig {
    WsConfig {
        limits: WsLimits::default()
            .max_frame_size(4096)
            .max_message_size(8192)
            .max_fragments(16)
            .ping_interval(Some(Duration::from_secs(2)))
            .idle_timeout(Some(Duration::from_secs(5))),
        stream_fragments: false,
        deflate: None,
    }
}

/// Feeds `input` in random chunks; returns the events and the output.
fn feed(rng: &mut StdRng, cfg: WsConfig, input: &[u8]) -> (Vec<WsEvent>, Vec<u8>) {
    let t0 = Instant::now();
    let mut c = WsConnection::new(cfg, t0);
    let mut events = Vec::new();
    let mut rest = input;
    while !rest.is_empty() {
        let n = rng.gen_range(1..=rest.len().min(64));
        c.handle_input(&rest[..n], t0);
        rest = &rest[n..];
        while let Some(e) = c.poll_event() {
            events.push(e);
        }
    }
    c.handle_eof(t0);
    while let Some(e) = c.poll_event() {
        events.push(e);
    }
    assert!(c.is_closed());
    (events, c.output().take_all())
}

fn check_output(out: &[u8]) {
    let mut rest = out;
    let mut closed = false;
    while !rest.is_empty() {
        let (h, n) = FrameHeader::decode(rest).unwrap().unwrap();
        assert!(h.mask.is_none() && h.rsv == 0);
        assert!(!closed, "frame after our close frame");
        if h.opcode.is_control() {
            assert!(h.fin && h.payload_len as usize <= MAX_CONTROL_PAYLOAD);
        }
        closed |= h.opcode == Opcode::Close;
        rest = &rest[n + h.payload_len as usize..];
    }
}

#[test]
fn random_valid_conversations_match_the_model() {
    let mut rng = StdRng::seed_from_u64(1);
    for _ in 0..200 {
        let (input, want) = conversation(&mut rng);
        let (events, out) = feed(&mut rng, config(), &input);
        // Compare compactly: a failure must not print megabytes.
        assert_eq!(events.len(), want.len());
        for (i, (a, b)) in events.iter().zip(&want).enumerate() {
            assert!(a == b, "event {i}: {:.200}", format!("{a:?} != {b:?}"));
        }
        check_output(&out);
        // One pong per ping, then the close echo.
        let pings = want
            .iter()
            .filter(|e| matches!(e, WsEvent::Ping(_)))
            .count();
        let mut rest = &out[..];
        let mut frames = 0;
        while !rest.is_empty() {
            let (h, n) = FrameHeader::decode(rest).unwrap().unwrap();
            rest = &rest[n + h.payload_len as usize..];
            frames += 1;
        }
        assert_eq!(frames, pings + 1);
    }
}

#[test]
fn random_corruptions_keep_the_invariants() {
    let mut rng = StdRng::seed_from_u64(2);
    for i in 0..1200 {
        let (mut input, _) = conversation(&mut rng);
        for _ in 0..rng.gen_range(1..4) {
            let at = rng.gen_range(0..input.len());
            match rng.gen_range(0..3) {
                0 => input[at] ^= 1 << rng.gen_range(0..8),
                1 => input[at] = rng.gen(),
                _ => input.truncate(at),
            }
            if input.is_empty() {
                break;
            }
        }
        let mut cfg = config();
        cfg.stream_fragments = i % 2 == 1;
        let (events, out) = feed(&mut rng, cfg, &input);
        assert_eq!(
            events.iter().filter(|e| **e == WsEvent::Closed).count(),
            1,
            "{events:?}"
        );
        assert_eq!(events.last(), Some(&WsEvent::Closed));
        if let Some(WsEvent::Error(e)) = events.iter().rev().nth(1) {
            // A failure sends its close code, last.
            let mut rest = &out[..];
            let mut last = None;
            while !rest.is_empty() {
                let (h, n) = FrameHeader::decode(rest).unwrap().unwrap();
                last = Some((h.opcode, rest[n..n + h.payload_len as usize].to_vec()));
                rest = &rest[n + h.payload_len as usize..];
            }
            let (op, p) = last.expect("a close frame");
            assert_eq!(op, Opcode::Close);
            assert_eq!(u16::from_be_bytes([p[0], p[1]]), e.close_code().0);
        }
        check_output(&out);
    }
}
