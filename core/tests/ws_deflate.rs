//! permessage-deflate on a [`WsConnection`]: bytes in at every split, events and bytes out.
//! The RFC 7692 §7.2.3 examples byte for byte, the RSV1 rules, fragmented and streamed
//! compressed messages, context takeover across idle releases, and sending.

use bytes::Bytes;
use std::time::Instant;
use wirelane_core::proto::ws::deflate::{Compressor, InflateError, Inflater, TAIL};
use wirelane_core::proto::ws::frame::FrameHeader;
use wirelane_core::proto::ws::*;
use wirelane_core::proto::WsLimits;

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
const RSV1: u8 = 0b100;

fn params(offer: &str, config: &DeflateConfig) -> DeflateParams {
    DeflateParams::negotiate(&[offer], config).expect("accepted")
}

/// No context takeover either way (each message on its own).
fn defaults() -> DeflateParams {
    params(
        "permessage-deflate; client_max_window_bits",
        &DeflateConfig::no_context_takeover(),
    )
}

fn takeover() -> DeflateParams {
    params(
        "permessage-deflate; client_max_window_bits",
        &DeflateConfig::context_takeover(),
    )
}

fn config(limits: WsLimits, stream: bool) -> WsConfig {
    WsConfig {
        limits: limits.ping_interval(None).idle_timeout(None),
        stream_fragments: stream,
        deflate: Some(DeflateConfig::default()),
    }
}

fn conn(p: Option<DeflateParams>, cfg: &WsConfig) -> WsConnection {
    let mut c = WsConnection::new(cfg.clone(), Instant::now());
    if let Some(p) = p {
        c.enable_deflate(p);
    }
    c
}

/// A masked client frame with RSV bits.
fn frame(fin: bool, rsv: u8, op: Opcode, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    encode_client_frame_rsv(fin, rsv, op, payload, KEY, &mut v);
    v
}

fn events_of(c: &mut WsConnection) -> Vec<WsEvent> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

/// Feeds `input` cut at `cuts` (sorted), returning all events (streamed pieces glued).
fn feed_cut(c: &mut WsConnection, input: &[u8], cuts: &[usize]) -> Vec<WsEvent> {
    let t = Instant::now();
    let mut events = Vec::new();
    let mut at = 0;
    for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
        c.handle_input(&input[at..cut], t);
        at = cut;
        events.extend(events_of(c));
    }
    glue(events)
}

fn glue(events: Vec<WsEvent>) -> Vec<WsEvent> {
    let mut out: Vec<WsEvent> = Vec::new();
    for e in events {
        if let (
            WsEvent::Fragment { data, fin, .. },
            Some(WsEvent::Fragment {
                data: d0, fin: f0, ..
            }),
        ) = (&e, out.last_mut())
        {
            if !*f0 {
                let mut v = d0.to_vec();
                v.extend_from_slice(data);
                *d0 = Bytes::from(v);
                *f0 = *fin;
                continue;
            }
        }
        out.push(e);
    }
    out
}

/// Every split of `input` in two and three pieces (three only for short inputs), and byte
/// by byte: the events must always be `want`.
fn at_every_split(p: Option<DeflateParams>, cfg: &WsConfig, input: &[u8], want: &[WsEvent]) {
    let mut splits: Vec<Vec<usize>> = vec![vec![], (1..input.len()).collect()];
    for a in 1..input.len() {
        splits.push(vec![a]);
        if input.len() <= 40 {
            for b in a + 1..input.len() {
                splits.push(vec![a, b]);
            }
        }
    }
    for cuts in splits {
        let mut c = conn(p, cfg);
        assert_eq!(feed_cut(&mut c, input, &cuts), want, "cuts {cuts:?}");
    }
}

fn text(s: &str) -> WsEvent {
    WsEvent::Message(Message::Text(s.to_owned()))
}

/// The error event, then Closed, and the close code on the wire.
fn failed_with(c: &mut WsConnection, input: &[u8], code: u16) {
    c.handle_input(input, Instant::now());
    let ev = events_of(c);
    assert!(
        matches!(ev.as_slice(), [.., WsEvent::Error(e), WsEvent::Closed] if e.close_code().0 == code),
        "{ev:?}"
    );
    let out = c.output().take_all();
    let (h, n) = FrameHeader::decode(&out).unwrap().unwrap();
    let (h, n) = if h.opcode == Opcode::Close {
        (h, n)
    } else {
        // Skip a pong queued before the failure.
        let rest = &out[n + h.payload_len as usize..];
        let (h2, n2) = FrameHeader::decode(rest).unwrap().unwrap();
        return assert_eq!(
            (h2.opcode, u16::from_be_bytes([rest[n2], rest[n2 + 1]])),
            (Opcode::Close, code)
        );
    };
    assert_eq!(h.opcode, Opcode::Close);
    assert_eq!(u16::from_be_bytes([out[n], out[n + 1]]), code);
}

// RFC 7692 §7.2.3.1: "Hello" compressed, whole and in two fragments.
const HELLO: &[u8] = &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
// §7.2.3.2: the second "Hello" referring back into the first (context takeover).
const HELLO_AGAIN: &[u8] = &[0xf2, 0x00, 0x11, 0x00, 0x00];
// §7.2.3.3: "Hello" in a stored (uncompressed) DEFLATE block.
const HELLO_STORED: &[u8] = &[
    0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
];

#[test]
fn rfc_examples_at_every_split() {
    let cfg = config(WsLimits::default(), false);
    let mut input = frame(true, RSV1, Opcode::Text, HELLO);
    input.extend(frame(false, RSV1, Opcode::Text, &HELLO[..3]));
    input.extend(frame(true, 0, Opcode::Ping, b"mid"));
    input.extend(frame(true, 0, Opcode::Continuation, &HELLO[3..]));
    input.extend(frame(true, RSV1, Opcode::Text, HELLO_STORED));
    input.extend(frame(true, 0, Opcode::Text, b"plain"));
    let want = vec![
        text("Hello"),
        WsEvent::Ping(Bytes::from_static(b"mid")),
        text("Hello"),
        text("Hello"),
        text("plain"),
    ];
    at_every_split(Some(defaults()), &cfg, &input, &want);
    // Streamed: the same text arrives in pieces.
    let scfg = config(WsLimits::default(), true);
    let piece = |s: &'static str, fin| WsEvent::Fragment {
        kind: DataKind::Text,
        data: Bytes::from_static(s.as_bytes()),
        fin,
    };
    // What the first fragment's 3 bytes inflate to comes before the ping.
    let swant = vec![
        piece("Hello", true),
        piece("He", false),
        WsEvent::Ping(Bytes::from_static(b"mid")),
        piece("llo", true),
        piece("Hello", true),
        piece("plain", true),
    ];
    at_every_split(Some(defaults()), &scfg, &input, &swant);
}

#[test]
fn context_takeover_shares_the_window_even_across_idle_releases() {
    let cfg = config(WsLimits::default(), false);
    let mut input = frame(true, RSV1, Opcode::Text, HELLO);
    input.extend(frame(true, RSV1, Opcode::Text, HELLO_AGAIN));
    at_every_split(
        Some(takeover()),
        &cfg,
        &input,
        &[text("Hello"), text("Hello")],
    );
    // The zlib state is dropped between the two; the window comes back as a dictionary.
    let mut c = conn(Some(takeover()), &cfg);
    c.handle_input(&frame(true, RSV1, Opcode::Text, HELLO), Instant::now());
    assert_eq!(events_of(&mut c), [text("Hello")]);
    c.release_idle_buffers();
    assert_eq!(c.deflate_idle_bytes(), 5);
    c.handle_input(
        &frame(true, RSV1, Opcode::Text, HELLO_AGAIN),
        Instant::now(),
    );
    assert_eq!(events_of(&mut c), [text("Hello")]);
    // Without takeover negotiated, the back-reference is corrupt data: 1007.
    let mut c = conn(Some(defaults()), &cfg);
    c.handle_input(&frame(true, RSV1, Opcode::Text, HELLO), Instant::now());
    assert_eq!(events_of(&mut c), [text("Hello")]);
    failed_with(&mut c, &frame(true, RSV1, Opcode::Text, HELLO_AGAIN), 1007);
}

#[test]
fn long_messages_from_a_takeover_client_with_releases() {
    // A client compressing with context, 12-bit window; the server releases its state after
    // every message, so each one is inflated from a restored window.
    let cfg = config(WsLimits::default(), false);
    let p = params(
        "permessage-deflate; client_max_window_bits=12",
        &DeflateConfig::context_takeover(),
    );
    assert_eq!(p.client_max_window_bits, 12);
    let mut client = Compressor::with_window(12, true, 6);
    let mut c = conn(Some(p), &cfg);
    for i in 0..40 {
        let msg = format!(
            "{{\"seq\":{i},\"sym\":\"BTC-USD\",\"px\":{}}}",
            40000 + i * 7
        )
        .repeat(i % 5 + 1);
        let payload = client.compress(msg.as_bytes());
        // Fragment it in three to exercise continuations too.
        let (a, b) = payload.split_at(payload.len() / 3);
        let mut input = frame(false, RSV1, Opcode::Text, a);
        input.extend(frame(false, 0, Opcode::Continuation, b));
        input.extend(frame(true, 0, Opcode::Continuation, &[]));
        c.handle_input(&input, Instant::now());
        assert_eq!(events_of(&mut c), [text(&msg)], "message {i}");
        if i % 2 == 0 {
            c.release_idle_buffers();
            assert!(c.deflate_idle_bytes() <= 4096);
        }
    }
}

#[test]
fn rsv_rules() {
    let cfg = config(WsLimits::default(), false);
    for (input, p) in [
        // RSV1 without negotiation.
        (frame(true, RSV1, Opcode::Text, HELLO), None),
        // RSV1 on a continuation frame.
        (
            [
                frame(false, RSV1, Opcode::Text, &HELLO[..3]),
                frame(true, RSV1, Opcode::Continuation, &HELLO[3..]),
            ]
            .concat(),
            Some(defaults()),
        ),
        // RSV1 on control frames.
        (frame(true, RSV1, Opcode::Ping, b""), Some(defaults())),
        (
            frame(true, RSV1, Opcode::Close, &[3, 232]),
            Some(defaults()),
        ),
        // RSV2, RSV3: no extension defines them.
        (frame(true, 0b010, Opcode::Text, b"x"), Some(defaults())),
        (
            frame(true, 0b001 | RSV1, Opcode::Binary, b"x"),
            Some(defaults()),
        ),
    ] {
        let mut c = conn(p, &cfg);
        failed_with(&mut c, &input, 1002);
    }
}

#[test]
fn corrupt_data_and_invalid_utf8_after_inflate() {
    let cfg = config(WsLimits::default(), false);
    // A reserved block type (BTYPE=11).
    failed_with(
        &mut conn(Some(defaults()), &cfg),
        &frame(true, RSV1, Opcode::Binary, &[0xff, 0xff]),
        1007,
    );
    // Data after a final block.
    let mut c = Compressor::with_window(15, false, 6);
    let mut fin = c.compress(b"abc");
    fin[0] |= 1; // BFINAL on the only block
    let mut ok = conn(Some(defaults()), &cfg);
    ok.handle_input(&frame(true, RSV1, Opcode::Binary, &fin), Instant::now());
    assert_eq!(
        events_of(&mut ok),
        [WsEvent::Message(Message::Binary(b"abc".to_vec()))]
    );
    let mut bad = fin.clone();
    bad.extend(HELLO);
    failed_with(
        &mut conn(Some(defaults()), &cfg),
        &frame(true, RSV1, Opcode::Binary, &bad),
        1007,
    );
    // Inflated text that is not UTF-8.
    let bytes = c.compress(b"ok \xff\xfe");
    failed_with(
        &mut conn(Some(defaults()), &cfg),
        &frame(true, RSV1, Opcode::Text, &bytes),
        1007,
    );
}

#[test]
fn a_bomb_gets_1009_from_the_inflated_size() {
    let limits = WsLimits::default().max_message_size(1 << 18);
    let mut c = Compressor::with_window(15, false, 9);
    let bomb = c.compress(&vec![0u8; 8 << 20]);
    assert!(bomb.len() < 16 * 1024, "{}", bomb.len());
    for stream in [false, true] {
        failed_with(
            &mut conn(Some(defaults()), &config(limits.clone(), stream)),
            &frame(true, RSV1, Opcode::Binary, &bomb),
            1009,
        );
    }
    // Exactly at the limit is fine.
    let at = c.compress(&vec![7u8; 1 << 18]);
    let mut ok = conn(Some(defaults()), &config(limits, false));
    ok.handle_input(&frame(true, RSV1, Opcode::Binary, &at), Instant::now());
    assert!(matches!(events_of(&mut ok).as_slice(), [WsEvent::Message(m)] if m.len() == 1 << 18));
}

/// Server frames: (rsv, fin, opcode, payload).
fn server_frames(mut out: &[u8]) -> Vec<(u8, bool, Opcode, Vec<u8>)> {
    let mut v = Vec::new();
    while !out.is_empty() {
        let (h, n) = FrameHeader::decode(out).unwrap().expect("whole frame");
        let len = h.payload_len as usize;
        v.push((h.rsv, h.fin, h.opcode, out[n..n + len].to_vec()));
        out = &out[n + len..];
    }
    v
}

/// Inflates one whole compressed payload like a client.
fn client_inflate(inf: &mut Inflater, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut sink = |c: &[u8]| -> Result<(), InflateError> {
        out.extend_from_slice(c);
        Ok(())
    };
    inf.feed(payload, u64::MAX, &mut sink).unwrap();
    inf.finish(u64::MAX, &mut sink).unwrap();
    out
}

#[test]
fn sending_compresses_above_the_threshold_and_never_control_frames() {
    let cfg = config(WsLimits::default(), false);
    let mut c = conn(Some(defaults()), &cfg);
    let long = "the quick brown fox jumps over the lazy dog; ".repeat(20);
    c.send(DataKind::Text, Bytes::from(long.clone())).unwrap();
    c.send(DataKind::Text, Bytes::from_static(b"short"))
        .unwrap();
    c.send_uncompressed(DataKind::Text, Bytes::from(long.clone()))
        .unwrap();
    c.send_copied(DataKind::Binary, long.as_bytes()).unwrap();
    c.send_ping(Bytes::from(vec![b'p'; 100])).unwrap();
    // Incompressible and no takeover: goes out as it is.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<u8> = (0..500)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect();
    c.send(DataKind::Binary, Bytes::from(noise.clone()))
        .unwrap();
    let frames = server_frames(&c.output().take_all());
    let mut inf = Inflater::new(15, false);
    assert_eq!(frames[0].0, RSV1);
    assert!(frames[0].3.len() < long.len() / 5);
    assert_eq!(client_inflate(&mut inf, &frames[0].3), long.as_bytes());
    assert_eq!(frames[1], (0, true, Opcode::Text, b"short".to_vec()));
    assert_eq!(frames[2], (0, true, Opcode::Text, long.as_bytes().to_vec()));
    assert_eq!(frames[3].0, RSV1);
    assert_eq!(client_inflate(&mut inf, &frames[3].3), long.as_bytes());
    assert_eq!(frames[4], (0, true, Opcode::Ping, vec![b'p'; 100]));
    assert_eq!(frames[5], (0, true, Opcode::Binary, noise));
}

#[test]
fn outgoing_fragments_carry_rsv1_on_the_first_only() {
    let cfg = config(WsLimits::default().max_outgoing_frame_size(Some(16)), false);
    let mut c = conn(Some(defaults()), &cfg);
    let long = "abcdefgh".repeat(100) + &"0123456789".repeat(30);
    c.send(DataKind::Text, Bytes::from(long.clone())).unwrap();
    let frames = server_frames(&c.output().take_all());
    assert!(frames.len() > 2);
    let mut joined = Vec::new();
    for (i, (rsv, fin, op, p)) in frames.iter().enumerate() {
        assert_eq!(*rsv, if i == 0 { RSV1 } else { 0 });
        assert_eq!(
            *op,
            if i == 0 {
                Opcode::Text
            } else {
                Opcode::Continuation
            }
        );
        assert_eq!(*fin, i == frames.len() - 1);
        joined.extend_from_slice(p);
    }
    assert_eq!(
        client_inflate(&mut Inflater::new(15, false), &joined),
        long.as_bytes()
    );
}

#[test]
fn server_context_takeover_survives_idle_releases() {
    let cfg = config(WsLimits::default(), false);
    let p = takeover();
    let mut c = conn(Some(p), &cfg);
    let mut inf = Inflater::new(p.server_max_window_bits, true);
    let msg = "{\"type\":\"trade\",\"symbol\":\"ETH-USD\",\"price\":3150.25,\"size\":0.5,\"side\":\"buy\"}";
    let mut sizes = Vec::new();
    for i in 0..6 {
        c.send(DataKind::Text, Bytes::from(msg)).unwrap();
        let frames = server_frames(&c.output().take_all());
        assert_eq!(frames[0].0, RSV1);
        sizes.push(frames[0].3.len());
        assert_eq!(client_inflate(&mut inf, &frames[0].3), msg.as_bytes());
        if i % 2 == 1 {
            c.release_idle_buffers();
            inf.release();
        }
    }
    // Later copies refer back to the first: a few bytes each.
    assert!(sizes[1..].iter().all(|&s| s < 12), "{sizes:?}");
    let idle = c.deflate_idle_bytes();
    assert!(idle > 0 && idle <= 2 * 32 * 1024, "{idle}");
    // With the defaults nothing stays.
    let mut d = conn(Some(defaults()), &cfg);
    d.send(DataKind::Text, Bytes::from(msg)).unwrap();
    d.handle_input(&frame(true, RSV1, Opcode::Text, HELLO), Instant::now());
    assert_eq!(events_of(&mut d), [text("Hello")]);
    d.release_idle_buffers();
    assert_eq!(d.deflate_idle_bytes(), 0);
}

#[test]
fn prepared_messages_compress_once_per_setting() {
    let cfg = config(WsLimits::default(), false);
    let level1 = params(
        "permessage-deflate",
        &DeflateConfig::no_context_takeover().level(1),
    );
    let mut conns: Vec<WsConnection> = (0..1000).map(|_| conn(Some(defaults()), &cfg)).collect();
    conns.push(conn(Some(level1), &cfg));
    conns.push(conn(Some(takeover()), &cfg));
    conns.push(conn(None, &cfg));
    let payload = "market data ".repeat(40);
    let mut m = PreparedMessage::new(DataKind::Text, Bytes::from(payload.clone()));
    for c in &mut conns {
        c.send_prepared(&mut m).unwrap();
    }
    // 1,000 members without takeover share one compression, level 1 another: two; the takeover connection compresses for
    // itself, outside the cache.
    assert_eq!(m.compressions(), 2);
    let outs: Vec<Vec<u8>> = conns.iter_mut().map(|c| c.output().take_all()).collect();
    assert!(outs[1..1000].iter().all(|o| *o == outs[0]));
    for (i, o) in outs.iter().enumerate() {
        let f = &server_frames(o)[0];
        if i == 1002 {
            assert_eq!(f.0, 0);
            assert_eq!(f.3, payload.as_bytes());
        } else {
            assert_eq!(f.0, RSV1);
            assert_eq!(
                client_inflate(&mut Inflater::new(15, i == 1001), &f.3),
                payload.as_bytes()
            );
        }
    }
}

#[test]
fn eight_bit_windows_both_ways() {
    // The client asks for 8-bit windows both ways; zlib needs 9, which stays within 8's
    // reach when compressing (see the deflate module docs) and reads 8-bit streams.
    let cfg = config(WsLimits::default(), false);
    let p = params(
        "permessage-deflate; server_max_window_bits=8; client_max_window_bits=8",
        &DeflateConfig::context_takeover(),
    );
    assert_eq!(
        p.response_header(),
        "permessage-deflate; server_max_window_bits=8; client_max_window_bits=8"
    );
    let mut c = conn(Some(p), &cfg);
    let mut client = Compressor::with_window(8, true, 6);
    let mut inf = Inflater::new(8, true);
    for i in 0..20 {
        let msg = format!("message {i}: ").repeat(30 + i);
        c.handle_input(
            &frame(true, RSV1, Opcode::Text, &client.compress(msg.as_bytes())),
            Instant::now(),
        );
        assert_eq!(events_of(&mut c), [text(&msg)]);
        c.send(DataKind::Text, Bytes::from(msg.clone())).unwrap();
        let f = &server_frames(&c.output().take_all())[0];
        assert_eq!(client_inflate(&mut inf, &f.3), msg.as_bytes());
        c.release_idle_buffers();
        assert!(c.deflate_idle_bytes() <= 2 * 256);
    }
    let _ = TAIL;
}

#[test]
fn releasing_in_the_middle_of_a_compressed_message_keeps_its_state() {
    // Found by the ws_deflate fuzz target: with takeover, the zlib state of a message cut
    // between fragments cannot be rebuilt from the history, so it must survive a release.
    let cfg = config(WsLimits::default(), false);
    let mut client = Compressor::with_window(15, true, 6);
    let msg: Vec<u8> = (0..3000u32).map(|i| (i % 7) as u8).collect();
    let z = client.compress(&msg);
    let mut c = conn(Some(takeover()), &cfg);
    for (cut, fin) in [(0, false), (5, true)] {
        let part = if fin { &z[cut..] } else { &z[..5] };
        let op = if fin {
            Opcode::Continuation
        } else {
            Opcode::Binary
        };
        let rsv = if fin { 0 } else { RSV1 };
        c.handle_input(&frame(fin, rsv, op, part), Instant::now());
        let ev = events_of(&mut c);
        if fin {
            assert_eq!(ev, [WsEvent::Message(Message::Binary(msg.clone()))]);
        } else {
            assert!(ev.is_empty());
        }
        c.release_idle_buffers();
    }
}
