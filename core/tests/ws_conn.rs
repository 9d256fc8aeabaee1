//! Behaviour tests of the WebSocket connection: bytes in, events and bytes out, at every
//! split point. No sockets, no clock (one base `Instant`, moved by hand).

use bytes::Bytes;
use std::time::{Duration, Instant};
use wirelane_core::proto::ws::frame::FrameHeader;
use wirelane_core::proto::ws::*;
use wirelane_core::proto::WsLimits;

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A masked client frame. `op` is the 4-bit wire value rather than an [`Opcode`] so that
/// the tests can send reserved opcodes too: those are written into the first byte of an
/// otherwise well-formed frame.
fn cf(fin: bool, op: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    encode_client_frame(fin, Opcode::Binary, payload, KEY, &mut v);
    v[0] = (v[0] & 0xF0) | op;
    v
}

/// The final frame `op` with RSV bits `rsv` (RSV1 = 0b100) set, which no client may send
/// here since no extension is negotiated.
fn with_rsv(rsv: u8, op: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = cf(true, op, payload);
    v[0] |= rsv << 4;
    v
}

/// A final frame as a server sends it, unmasked, which a server must refuse from a client.
fn unmasked(op: Opcode, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    FrameHeader::new(op, true, payload.len() as u64).encode(&mut v);
    v.extend_from_slice(payload);
    v
}

/// A final masked binary frame whose length is written in the longer `len_field` (the 2 or
/// 8 bytes after 126 or 127) though it fits a shorter form: a non-minimal length, which the
/// core's encoder never writes, so these bytes are put together here.
fn non_minimal(len_field: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0x82, 0x80 | if len_field.len() == 2 { 126 } else { 127 }];
    v.extend_from_slice(len_field);
    v.extend_from_slice(&KEY);
    mask::unmask_into(&mut v, payload, KEY, 0);
    v
}

fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut v = code.to_be_bytes().to_vec();
    v.extend_from_slice(reason);
    v
}

fn no_timers() -> WsConfig {
    WsConfig {
        limits: WsLimits::default().ping_interval(None).idle_timeout(None),
        stream_fragments: false,
        deflate: None,
    }
}

/// Server frames in `out`: (fin, opcode, payload).
fn server_frames(mut out: &[u8]) -> Vec<(bool, Opcode, Vec<u8>)> {
    let mut v = Vec::new();
    while !out.is_empty() {
        let (h, n) = FrameHeader::decode(out).unwrap().expect("whole frame");
        assert!(h.mask.is_none(), "server frames are not masked");
        assert_eq!(h.rsv, 0);
        let len = h.payload_len as usize;
        v.push((h.fin, h.opcode, out[n..n + len].to_vec()));
        out = &out[n + len..];
    }
    v
}

fn drain(c: &mut WsConnection, events: &mut Vec<WsEvent>) {
    while let Some(e) = c.poll_event() {
        events.push(e);
    }
}

/// Feeds `input` in the given chunk sizes, polling after each; then EOF if asked.
fn run_chunks(
    cfg: &WsConfig,
    input: &[u8],
    chunks: &[usize],
    eof: bool,
) -> (Vec<WsEvent>, Vec<u8>) {
    let t0 = Instant::now();
    let mut c = WsConnection::new(cfg.clone(), t0);
    let mut events = Vec::new();
    let mut rest = input;
    for &n in chunks {
        let n = n.min(rest.len());
        c.handle_input(&rest[..n], t0);
        rest = &rest[n..];
        drain(&mut c, &mut events);
    }
    c.handle_input(rest, t0);
    drain(&mut c, &mut events);
    if eof {
        c.handle_eof(t0);
        drain(&mut c, &mut events);
    }
    (events, c.output().take_all())
}

fn run(cfg: &WsConfig, input: &[u8]) -> (Vec<WsEvent>, Vec<u8>) {
    run_chunks(cfg, input, &[], false)
}

/// Streaming events glued back together so splits do not matter.
fn normalize(events: Vec<WsEvent>) -> Vec<WsEvent> {
    let mut out: Vec<WsEvent> = Vec::new();
    for e in events {
        if let WsEvent::Fragment { kind, data, fin } = &e {
            if let Some(WsEvent::Fragment {
                kind: k0,
                data: d0,
                fin: false,
            }) = out.last_mut()
            {
                assert_eq!(k0, kind);
                let mut v = d0.to_vec();
                v.extend_from_slice(data);
                *d0 = Bytes::from(v);
                if *fin {
                    let last = out.pop().unwrap();
                    if let WsEvent::Fragment { kind, data, .. } = last {
                        out.push(WsEvent::Fragment {
                            kind,
                            data,
                            fin: true,
                        });
                    }
                }
                continue;
            }
        }
        out.push(e);
    }
    out
}

// ---------------------------------------------------------------------------------------
// RFC 6455 §5.7 examples, byte for byte.

#[test]
fn rfc_5_7_masked_hello_decodes() {
    let bytes = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    let (ev, out) = run(&no_timers(), &bytes);
    assert_eq!(ev, vec![WsEvent::Message(Message::Text("Hello".into()))]);
    assert!(out.is_empty());
}

#[test]
fn rfc_5_7_masked_pong_decodes() {
    let bytes = [
        0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    let (ev, _) = run(&no_timers(), &bytes);
    assert_eq!(ev, vec![WsEvent::Pong(Bytes::from_static(b"Hello"))]);
}

#[test]
fn rfc_5_7_fragmented_hello_decodes_when_masked() {
    let mut bytes = cf(false, 1, b"Hel");
    bytes.extend(cf(true, 0, b"lo"));
    let (ev, _) = run(&no_timers(), &bytes);
    assert_eq!(ev, vec![WsEvent::Message(Message::Text("Hello".into()))]);
}

fn server(cfg: WsConfig) -> WsConnection {
    WsConnection::new(cfg, Instant::now())
}

#[test]
fn rfc_5_7_unmasked_examples_encode() {
    let mut c = server(no_timers());
    c.send(DataKind::Text, Bytes::from_static(b"Hello"))
        .unwrap();
    assert_eq!(
        c.output().take_all(),
        [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]
    );

    let mut cfg = no_timers();
    cfg.limits.max_outgoing_frame_size = Some(3);
    let mut c = server(cfg);
    c.send(DataKind::Text, Bytes::from_static(b"Hello"))
        .unwrap();
    assert_eq!(
        c.output().take_all(),
        [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f]
    );

    let mut c = server(no_timers());
    c.send_ping(Bytes::from_static(b"Hello")).unwrap();
    assert_eq!(
        c.output().take_all(),
        [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]
    );

    let mut c = server(no_timers());
    let p256: Vec<u8> = (0..256u32).map(|i| i as u8).collect();
    c.send(DataKind::Binary, Bytes::from(p256.clone())).unwrap();
    let out = c.output().take_all();
    assert_eq!(out[..4], [0x82, 0x7E, 0x01, 0x00]);
    assert_eq!(out[4..], p256[..]);

    let mut c = server(no_timers());
    let p64k = vec![0xABu8; 65536];
    c.send(DataKind::Binary, Bytes::from(p64k.clone())).unwrap();
    let out = c.output().take_all();
    assert_eq!(
        out[..10],
        [0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00]
    );
    assert_eq!(out[10..], p64k[..]);
}

// ---------------------------------------------------------------------------------------
// Every split point.

fn conversation() -> Vec<u8> {
    let mut v = Vec::new();
    v.extend(cf(true, 1, "héllo €𝄞".as_bytes()));
    v.extend(cf(false, 1, "frag".as_bytes()));
    v.extend(cf(true, 9, b"ping!"));
    v.extend(cf(false, 0, "ment €".as_bytes()[..6].as_ref())); // ends mid code point
    v.extend(cf(true, 0, &"ment €".as_bytes()[6..]));
    v.extend(cf(true, 2, &[0u8, 1, 2, 255]));
    v.extend(cf(true, 2, &vec![7u8; 300])); // 16-bit length
    v.extend(cf(true, 1, b""));
    v.extend(cf(true, 10, b""));
    v.extend(cf(true, 8, &close_payload(1000, b"bye")));
    v.extend(cf(true, 1, b"ignored after close"));
    v
}

fn expected_conversation() -> Vec<WsEvent> {
    vec![
        WsEvent::Message(Message::Text("héllo €𝄞".into())),
        WsEvent::Ping(Bytes::from_static(b"ping!")),
        WsEvent::Message(Message::Text("fragment €".into())),
        WsEvent::Message(Message::Binary(vec![0, 1, 2, 255])),
        WsEvent::Message(Message::Binary(vec![7u8; 300])),
        WsEvent::Message(Message::Text(String::new())),
        WsEvent::Pong(Bytes::new()),
        WsEvent::PeerClose(Some(CloseFrame {
            code: CloseCode::NORMAL,
            reason: "bye".into(),
        })),
        WsEvent::Closed,
    ]
}

fn expected_conversation_output() -> Vec<u8> {
    let mut v = vec![0x8A, 5];
    v.extend_from_slice(b"ping!");
    v.extend_from_slice(&[0x88, 2, 0x03, 0xE8]);
    v
}

#[test]
fn conversation_all_at_once() {
    let (ev, out) = run(&no_timers(), &conversation());
    assert_eq!(ev, expected_conversation());
    assert_eq!(out, expected_conversation_output());
}

#[test]
fn conversation_at_every_two_way_split() {
    let input = conversation();
    for cut in 0..=input.len() {
        let (ev, out) = run_chunks(&no_timers(), &input, &[cut], false);
        assert_eq!(ev, expected_conversation(), "cut {cut}");
        assert_eq!(out, expected_conversation_output(), "cut {cut}");
    }
}

#[test]
fn conversation_byte_by_byte_and_random_chunks() {
    let input = conversation();
    let ones = vec![1usize; input.len()];
    let (ev, out) = run_chunks(&no_timers(), &input, &ones, false);
    assert_eq!(ev, expected_conversation());
    assert_eq!(out, expected_conversation_output());
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(6455);
    for _ in 0..300 {
        let chunks: Vec<usize> = (0..40).map(|_| rng.gen_range(1..20)).collect();
        let (ev, out) = run_chunks(&no_timers(), &input, &chunks, false);
        assert_eq!(ev, expected_conversation(), "{chunks:?}");
        assert_eq!(out, expected_conversation_output());
    }
}

#[test]
fn streaming_conversation_at_every_split() {
    let mut cfg = no_timers();
    cfg.stream_fragments = true;
    let input = conversation();
    let mut want: Vec<WsEvent> = expected_conversation()
        .into_iter()
        .map(|e| match e {
            WsEvent::Message(m) => WsEvent::Fragment {
                kind: m.kind(),
                data: Bytes::from(m.into_bytes()),
                fin: true,
            },
            e => e,
        })
        .collect();
    // The ping arrives between the two fragments of the second message.
    want.splice(
        1..3,
        [
            WsEvent::Fragment {
                kind: DataKind::Text,
                data: Bytes::from_static(b"frag"),
                fin: false,
            },
            WsEvent::Ping(Bytes::from_static(b"ping!")),
            WsEvent::Fragment {
                kind: DataKind::Text,
                data: Bytes::from("ment €"),
                fin: true,
            },
        ],
    );
    for cut in 0..=input.len() {
        let (ev, out) = run_chunks(&cfg, &input, &[cut], false);
        assert_eq!(normalize(ev), want, "cut {cut}");
        assert_eq!(out, expected_conversation_output());
    }
    let ones = vec![1usize; input.len()];
    let (ev, _) = run_chunks(&cfg, &input, &ones, false);
    assert_eq!(normalize(ev), want);
}

#[test]
fn streaming_emits_pieces_as_they_arrive() {
    let mut cfg = no_timers();
    cfg.stream_fragments = true;
    let t = Instant::now();
    let mut c = WsConnection::new(cfg, t);
    let frame = cf(true, 2, &[9u8; 1000]);
    c.handle_input(&frame[..8 + 400], t);
    assert_eq!(
        c.poll_event(),
        Some(WsEvent::Fragment {
            kind: DataKind::Binary,
            data: Bytes::from(vec![9u8; 400]),
            fin: false
        })
    );
    assert_eq!(c.buffered_input(), 0);
    assert_eq!(c.poll_event(), None);
    c.handle_input(&frame[408..], t);
    assert_eq!(
        c.poll_event(),
        Some(WsEvent::Fragment {
            kind: DataKind::Binary,
            data: Bytes::from(vec![9u8; 600]),
            fin: true
        })
    );
}

// ---------------------------------------------------------------------------------------
// Protocol violations, each with its close code.

fn small_limits() -> WsConfig {
    let mut cfg = no_timers();
    cfg.limits = cfg
        .limits
        .max_frame_size(1000)
        .max_message_size(1500)
        .max_fragments(4);
    cfg
}

#[test]
fn violation_table() {
    let text = |p: &[u8]| cf(true, 1, p);
    let cat = |a: Vec<u8>, b: Vec<u8>| [a, b].concat();
    let mut huge_len = vec![0x82, 0xFF];
    huge_len.extend_from_slice(&(1u64 << 40).to_be_bytes());
    huge_len.extend_from_slice(&KEY);
    let mut top_bit = vec![0x82, 0xFF];
    top_bit.extend_from_slice(&(1u64 << 63).to_be_bytes());
    top_bit.extend_from_slice(&KEY);

    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("unmasked text", unmasked(Opcode::Text, b"hi"), 1002),
        ("unmasked binary", unmasked(Opcode::Binary, b"hi"), 1002),
        ("unmasked ping", unmasked(Opcode::Ping, b""), 1002),
        ("unmasked close", unmasked(Opcode::Close, &[3, 232]), 1002),
        ("rsv1", with_rsv(0b100, 1, b"hi"), 1002),
        ("rsv2", with_rsv(0b010, 1, b"hi"), 1002),
        ("rsv3", with_rsv(0b001, 1, b"hi"), 1002),
        ("rsv on ping", with_rsv(0b111, 9, b""), 1002),
        ("opcode 3", cf(true, 3, b""), 1002),
        ("opcode 4", cf(true, 4, b"x"), 1002),
        ("opcode 5", cf(true, 5, b""), 1002),
        ("opcode 6", cf(true, 6, b""), 1002),
        ("opcode 7", cf(true, 7, b""), 1002),
        ("opcode B", cf(true, 0xB, b""), 1002),
        ("opcode C", cf(true, 0xC, b""), 1002),
        ("opcode D", cf(true, 0xD, b""), 1002),
        ("opcode E", cf(true, 0xE, b""), 1002),
        ("opcode F", cf(true, 0xF, b"x"), 1002),
        (
            "reserved opcode after a message",
            cat(text(b"ok"), cf(true, 5, b"")),
            1002,
        ),
        ("ping 126 bytes", cf(true, 9, &[0; 126]), 1002),
        ("pong 126 bytes", cf(true, 10, &[0; 126]), 1002),
        (
            "close 126 bytes",
            cf(true, 8, &close_payload(1000, &[b'a'; 124])),
            1002,
        ),
        ("fragmented ping", cf(false, 9, b"x"), 1002),
        ("fragmented pong", cf(false, 10, b"x"), 1002),
        ("fragmented close", cf(false, 8, &[3, 232]), 1002),
        ("continuation first", cf(false, 0, b"x"), 1002),
        ("final continuation first", cf(true, 0, b"x"), 1002),
        (
            "continuation after whole message",
            cat(text(b"a"), cf(true, 0, b"b")),
            1002,
        ),
        (
            "text inside fragmented text",
            cat(cf(false, 1, b"a"), cf(true, 1, b"b")),
            1002,
        ),
        (
            "binary inside fragmented text",
            cat(cf(false, 1, b"a"), cf(true, 2, b"b")),
            1002,
        ),
        ("64-bit length top bit", top_bit, 1002),
        (
            "non-minimal 16-bit length",
            non_minimal(&10u16.to_be_bytes(), &[1; 10]),
            1002,
        ),
        (
            "non-minimal 64-bit length",
            non_minimal(&300u64.to_be_bytes(), &[1; 300]),
            1002,
        ),
        ("frame over max_frame_size", cf(true, 2, &[0; 1001]), 1009),
        ("2^40-byte frame header", huge_len, 1009),
        (
            "message over max_message_size",
            cat(cf(false, 2, &[0; 800]), cf(true, 0, &[0; 800])),
            1009,
        ),
        (
            "too many fragments",
            [
                cf(false, 1, b"a"),
                cf(false, 0, b"b"),
                cf(false, 0, b"c"),
                cf(false, 0, b"d"),
                cf(true, 0, b"e"),
            ]
            .concat(),
            1009,
        ),
        ("invalid UTF-8", text(b"\xff"), 1007),
        ("surrogate in text", text(b"ab\xed\xa0\x80"), 1007),
        ("overlong in text", text(b"\xc0\xaf"), 1007),
        (
            "invalid UTF-8 across fragments",
            cat(cf(false, 1, b"\xf4"), cf(true, 0, b"\x90\x80\x80")),
            1007,
        ),
        ("text ends mid code point", text(b"ab\xe2\x82"), 1007),
        (
            "fragmented text ends mid code point",
            cat(cf(false, 1, b"\xe2"), cf(true, 0, b"\x82")),
            1007,
        ),
        ("1-byte close", cf(true, 8, &[3]), 1002),
        ("close code 0", cf(true, 8, &close_payload(0, b"")), 1002),
        (
            "close code 999",
            cf(true, 8, &close_payload(999, b"")),
            1002,
        ),
        (
            "close code 1004",
            cf(true, 8, &close_payload(1004, b"")),
            1002,
        ),
        (
            "close code 1005",
            cf(true, 8, &close_payload(1005, b"")),
            1002,
        ),
        (
            "close code 1006",
            cf(true, 8, &close_payload(1006, b"")),
            1002,
        ),
        (
            "close code 1015",
            cf(true, 8, &close_payload(1015, b"")),
            1002,
        ),
        (
            "close code 1016",
            cf(true, 8, &close_payload(1016, b"")),
            1002,
        ),
        (
            "close code 2999",
            cf(true, 8, &close_payload(2999, b"")),
            1002,
        ),
        (
            "close code 5000",
            cf(true, 8, &close_payload(5000, b"")),
            1002,
        ),
        (
            "close code 65535",
            cf(true, 8, &close_payload(65535, b"")),
            1002,
        ),
        (
            "close reason not UTF-8",
            cf(true, 8, &close_payload(1000, b"\xce\xba\xed\xa0\x80")),
            1007,
        ),
    ];
    assert!(cases.len() >= 30);
    for stream in [false, true] {
        let mut cfg = small_limits();
        cfg.stream_fragments = stream;
        for (name, input, code) in &cases {
            for chunk in [input.len().max(1), 1, 3] {
                let chunks = vec![chunk; input.len()];
                let (ev, out) = run_chunks(&cfg, input, &chunks, false);
                let n = ev.len();
                assert!(n >= 2, "{name}: {ev:?}");
                assert_eq!(ev[n - 1], WsEvent::Closed, "{name}");
                match &ev[n - 2] {
                    WsEvent::Error(e) => assert_eq!(e.close_code().0, *code, "{name}: {e}"),
                    other => panic!("{name}: expected an error, got {other:?}"),
                }
                let frames = server_frames(&out);
                let (fin, op, payload) = frames.last().expect("a close frame").clone();
                assert!(fin, "{name}");
                assert_eq!(op, Opcode::Close, "{name}");
                assert_eq!(
                    u16::from_be_bytes([payload[0], payload[1]]),
                    *code,
                    "{name}"
                );
                assert!(std::str::from_utf8(&payload[2..]).is_ok());
            }
        }
    }
}

#[test]
fn limits_are_checked_before_the_payload_arrives() {
    let t = Instant::now();
    let mut c = WsConnection::new(small_limits(), t);
    // Only the header of a 2000-byte frame.
    c.handle_input(&cf(true, 2, &[0; 2000])[..8], t);
    assert_eq!(c.poll_event(), Some(WsEvent::Error(WsError::FrameTooLarge)));
    assert_eq!(c.poll_event(), Some(WsEvent::Closed));
    assert!(c.is_closed());
    assert_eq!(c.buffered_input(), 0);
}

#[test]
fn invalid_utf8_fails_fast_mid_frame() {
    // Autobahn 6.4.3: the invalid part of one frame arrives before the frame is complete.
    let t = Instant::now();
    let mut c = WsConnection::new(no_timers(), t);
    let mut payload = "κόσμε".as_bytes().to_vec();
    payload.extend_from_slice(b"\xf4\x90\x80\x80");
    payload.extend_from_slice(b"edited");
    let frame = cf(true, 1, &payload);
    let split = 2 + 4 + "κόσμε".len();
    c.handle_input(&frame[..split], t);
    assert_eq!(c.poll_event(), None);
    c.handle_input(&frame[split..split + 4], t);
    assert_eq!(c.poll_event(), Some(WsEvent::Error(WsError::InvalidUtf8)));
    assert_eq!(c.poll_event(), Some(WsEvent::Closed));
}

// ---------------------------------------------------------------------------------------
// Close handshake, both sides, timeouts.

#[test]
fn peer_closes_first_we_echo_and_finish() {
    let t = Instant::now();
    let mut c = WsConnection::new(no_timers(), t);
    c.handle_input(&cf(true, 8, &close_payload(4000, b"done")), t);
    assert_eq!(
        c.poll_event(),
        Some(WsEvent::PeerClose(Some(CloseFrame {
            code: CloseCode(4000),
            reason: "done".into()
        })))
    );
    assert_eq!(c.state(), WsState::ClosingRemote);
    assert_eq!(
        c.send(DataKind::Text, Bytes::from_static(b"x")),
        Err(WsUsageError::Closed)
    );
    assert_eq!(c.poll_event(), Some(WsEvent::Closed));
    assert!(c.is_closed());
    assert_eq!(c.poll_event(), None);
    assert_eq!(
        server_frames(&c.output().take_all()),
        vec![(true, Opcode::Close, vec![0x0F, 0xA0])]
    );
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn peer_close_without_status_gets_an_empty_close() {
    let (ev, out) = run(&no_timers(), &cf(true, 8, b""));
    assert_eq!(ev, vec![WsEvent::PeerClose(None), WsEvent::Closed]);
    assert_eq!(out, [0x88, 0x00]);
}

#[test]
fn we_close_first_then_peer_replies() {
    let t = Instant::now();
    let mut c = WsConnection::new(no_timers(), t);
    c.close(CloseCode::NORMAL, "bye", t).unwrap();
    assert_eq!(c.state(), WsState::ClosingLocal);
    assert_eq!(
        server_frames(&c.output().take_all()),
        vec![(true, Opcode::Close, close_payload(1000, b"bye"))]
    );
    // Nothing more may be sent.
    assert_eq!(
        c.send(DataKind::Binary, Bytes::new()),
        Err(WsUsageError::Closed)
    );
    assert_eq!(c.send_ping(Bytes::new()), Err(WsUsageError::Closed));
    assert_eq!(c.close(CloseCode::NORMAL, "", t), Err(WsUsageError::Closed));
    assert_eq!(c.poll_timeout(), Some(t + Duration::from_secs(5)));
    // A message still in flight is delivered; a ping is not answered.
    c.handle_input(&cf(true, 1, b"late"), t);
    c.handle_input(&cf(true, 9, b"p"), t);
    c.handle_input(&cf(true, 8, &close_payload(1000, b"")), t);
    assert_eq!(
        c.poll_event(),
        Some(WsEvent::Message(Message::Text("late".into())))
    );
    assert_eq!(
        c.poll_event(),
        Some(WsEvent::Ping(Bytes::from_static(b"p")))
    );
    assert_eq!(
        c.poll_event(),
        Some(WsEvent::PeerClose(Some(CloseFrame {
            code: CloseCode::NORMAL,
            reason: String::new()
        })))
    );
    assert_eq!(c.poll_event(), Some(WsEvent::Closed));
    assert!(c.is_closed());
    assert!(c.output().is_empty(), "nothing after our close frame");
}

#[test]
fn close_timeout_when_peer_never_replies() {
    let t = Instant::now();
    let mut cfg = no_timers();
    cfg.limits.close_timeout = Duration::from_secs(2);
    let mut c = WsConnection::new(cfg, t);
    c.close(CloseCode::GOING_AWAY, "", t).unwrap();
    c.handle_timeout(t + Duration::from_millis(1999));
    assert_eq!(c.poll_event(), None);
    assert_eq!(c.poll_timeout(), Some(t + Duration::from_secs(2)));
    c.handle_timeout(t + Duration::from_secs(2));
    assert_eq!(c.poll_event(), Some(WsEvent::Closed));
    assert!(c.is_closed());
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn close_reason_is_truncated_at_a_char_boundary() {
    let t = Instant::now();
    let mut c = WsConnection::new(no_timers(), t);
    c.close(CloseCode::NORMAL, &"é".repeat(100), t).unwrap();
    let frames = server_frames(&c.output().take_all());
    assert_eq!(frames[0].2.len(), 2 + 122);
    assert!(std::str::from_utf8(&frames[0].2[2..]).is_ok());
}

#[test]
fn close_with_invalid_code_is_refused_and_no_status_sends_empty() {
    let t = Instant::now();
    let mut c = WsConnection::new(no_timers(), t);
    assert_eq!(
        c.close(CloseCode::ABNORMAL, "", t),
        Err(WsUsageError::InvalidCloseCode(1006))
    );
    assert_eq!(c.state(), WsState::Open);
    c.close(CloseCode::NO_STATUS, "ignored", t).unwrap();
    assert_eq!(c.output().take_all(), [0x88, 0x00]);
}

#[test]
fn eof_without_close_is_abnormal_closed() {
    let mut input = cf(true, 1, b"one");
    input.extend_from_slice(&cf(true, 1, b"two")[..4]); // cut inside a frame
    let (ev, out) = run_chunks(&no_timers(), &input, &[], true);
    assert_eq!(
        ev,
        vec![
            WsEvent::Message(Message::Text("one".into())),
            WsEvent::Closed
        ]
    );
    assert!(out.is_empty());
}

#[test]
fn input_after_closed_is_ignored() {
    let t = Instant::now();
    let mut c = WsConnection::new(no_timers(), t);
    c.handle_input(&cf(true, 3, b""), t);
    assert!(matches!(c.poll_event(), Some(WsEvent::Error(_))));
    assert_eq!(c.poll_event(), Some(WsEvent::Closed));
    c.handle_input(&cf(true, 1, b"more"), t);
    assert_eq!(c.buffered_input(), 0);
    assert_eq!(c.poll_event(), None);
}

// ---------------------------------------------------------------------------------------
// Heartbeat and idle timeout.

#[test]
fn heartbeat_ping_and_idle_timeout() {
    let t = Instant::now();
    let cfg = WsConfig {
        limits: WsLimits::default()
            .ping_interval(Some(Duration::from_secs(10)))
            .idle_timeout(Some(Duration::from_secs(25))),
        stream_fragments: false,
        deflate: None,
    };
    let mut c = WsConnection::new(cfg, t);
    assert_eq!(c.poll_timeout(), Some(t + Duration::from_secs(10)));
    c.handle_timeout(t + Duration::from_secs(10));
    assert_eq!(c.output().take_all(), [0x89, 0x00]);
    assert_eq!(c.poll_timeout(), Some(t + Duration::from_secs(20)));
    // The peer answers: silence counts from its pong.
    let t12 = t + Duration::from_secs(12);
    c.handle_input(&cf(true, 10, b""), t12);
    assert_eq!(c.poll_event(), Some(WsEvent::Pong(Bytes::new())));
    assert_eq!(c.poll_timeout(), Some(t12 + Duration::from_secs(10)));
    c.handle_timeout(t12 + Duration::from_secs(10));
    c.handle_timeout(t12 + Duration::from_secs(20));
    assert_eq!(server_frames(&c.output().take_all()).len(), 2);
    assert_eq!(c.poll_timeout(), Some(t12 + Duration::from_secs(25)));
    c.handle_timeout(t12 + Duration::from_secs(25));
    assert_eq!(c.poll_event(), Some(WsEvent::Error(WsError::IdleTimeout)));
    assert_eq!(c.poll_event(), Some(WsEvent::Closed));
    let frames = server_frames(&c.output().take_all());
    assert_eq!(frames.last().unwrap().1, Opcode::Close);
    assert_eq!(frames.last().unwrap().2[..2], [0x03, 0xE9]);
}

#[test]
fn no_timers_no_deadline() {
    let c = WsConnection::new(no_timers(), Instant::now());
    assert_eq!(c.poll_timeout(), None);
}

// ---------------------------------------------------------------------------------------
// Output.

#[test]
fn outgoing_fragmentation_without_copies() {
    let mut cfg = no_timers();
    cfg.limits.max_outgoing_frame_size = Some(4096);
    let mut c = WsConnection::new(cfg, Instant::now());
    let payload: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
    c.send(DataKind::Binary, Bytes::from(payload.clone()))
        .unwrap();
    // Header, 4096, header, 4096, header, 1808: every piece of 1 KiB or more is its own
    // buffer (not copied), headers sit in the tail between them.
    let mut slices = [std::io::IoSlice::new(&[]); 8];
    let n = c.output().io_slices(&mut slices);
    assert_eq!(n, 6);
    assert_eq!(slices[1].len(), 4096);
    let frames = server_frames(&c.output().take_all());
    assert_eq!(
        frames
            .iter()
            .map(|f| (f.0, f.1, f.2.len()))
            .collect::<Vec<_>>(),
        vec![
            (false, Opcode::Binary, 4096),
            (false, Opcode::Continuation, 4096),
            (true, Opcode::Continuation, 1808)
        ]
    );
    let joined: Vec<u8> = frames.into_iter().flat_map(|f| f.2).collect();
    assert_eq!(joined, payload);
}

#[test]
fn small_frames_coalesce_into_one_buffer() {
    let mut c = WsConnection::new(no_timers(), Instant::now());
    for i in 0..10 {
        c.send(DataKind::Text, Bytes::from(format!("msg {i}")))
            .unwrap();
    }
    let mut slices = [std::io::IoSlice::new(&[]); 4];
    assert_eq!(c.output().io_slices(&mut slices), 1);
    assert_eq!(server_frames(&c.output().take_all()).len(), 10);
}

#[test]
fn empty_message_and_control_limits() {
    let mut c = WsConnection::new(no_timers(), Instant::now());
    c.send(DataKind::Binary, Bytes::new()).unwrap();
    assert_eq!(c.output().take_all(), [0x82, 0x00]);
    assert_eq!(
        c.send_ping(Bytes::from(vec![0; 126])),
        Err(WsUsageError::ControlTooLong)
    );
    c.send_pong(Bytes::from_static(b"x")).unwrap();
    assert_eq!(c.output().take_all(), [0x8A, 0x01, b'x']);
}

#[test]
fn large_message_roundtrip_over_many_fragments() {
    // 4 MiB in 64-byte fragments (Autobahn 9.3.1) with interleaved pings.
    let payload: Vec<u8> = (0..(4usize << 20)).map(|i| b'a' + (i % 26) as u8).collect();
    let mut input = Vec::new();
    for (i, chunk) in payload.chunks(64).enumerate() {
        let op = if i == 0 { 1 } else { 0 };
        input.extend(cf((i + 1) * 64 >= payload.len(), op, chunk));
        if i % 10_000 == 0 {
            input.extend(cf(true, 9, b"hb"));
        }
    }
    let (ev, _) = run_chunks(
        &no_timers(),
        &input,
        &vec![65536; input.len() / 65536],
        false,
    );
    let msgs: Vec<_> = ev
        .into_iter()
        .filter(|e| matches!(e, WsEvent::Message(_)))
        .collect();
    assert_eq!(
        msgs,
        vec![WsEvent::Message(Message::Text(
            String::from_utf8(payload).unwrap()
        ))]
    );
}

#[test]
fn middle_of_binary_payload_skips_the_input_buffer() {
    let t = Instant::now();
    let mut c = WsConnection::new(no_timers(), t);
    let payload: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    let frame = cf(true, 2, &payload);
    // Header and part of the payload: parsed by poll_event.
    c.handle_input(&frame[..8 + 400], t);
    assert_eq!(c.poll_event(), None);
    assert_eq!(c.buffered_input(), 0);
    // The rest arrives once the header is known: all but the frame's last byte go
    // straight into the message.
    c.handle_input(&frame[408..], t);
    assert_eq!(c.buffered_input(), 1);
    assert_eq!(
        c.poll_event(),
        Some(WsEvent::Message(Message::Binary(payload)))
    );
    // Text is never taken early (its UTF-8 check belongs to poll_event).
    let text = cf(true, 1, "é".repeat(300).as_bytes());
    c.handle_input(&text[..10], t);
    assert_eq!(c.poll_event(), None);
    c.handle_input(&text[10..], t);
    assert_eq!(c.buffered_input(), text.len() - 10);
    assert_eq!(
        c.poll_event(),
        Some(WsEvent::Message(Message::Text("é".repeat(300))))
    );
}

#[test]
fn recycled_buffer_holds_the_next_message() {
    let now = Instant::now();
    let mut c = server(no_timers());
    c.handle_input(&cf(true, 2, b"first"), now);
    let Some(WsEvent::Message(Message::Binary(mut buf))) = c.poll_event() else {
        panic!("expected a binary message");
    };
    buf.reserve(4096);
    let (ptr, cap) = (buf.as_ptr(), buf.capacity());
    c.recycle_buffer(buf);
    // A text message (fast path: whole frame in the input) lands in the same memory.
    c.handle_input(&cf(true, 1, "second ✓".as_bytes()), now);
    let Some(WsEvent::Message(Message::Text(text))) = c.poll_event() else {
        panic!("expected a text message");
    };
    assert_eq!(text, "second ✓");
    assert_eq!((text.as_ptr(), text.capacity()), (ptr, cap));
    // Too large a buffer is not kept.
    c.recycle_buffer(Vec::with_capacity(RECYCLE_MAX + 1));
    c.handle_input(&cf(true, 2, b"third"), now);
    let Some(WsEvent::Message(m)) = c.poll_event() else {
        panic!("expected a message");
    };
    assert!(m.into_bytes().capacity() <= RECYCLE_MAX);
}

#[test]
fn send_copied_writes_the_same_frames_as_send() {
    for (len, max) in [
        (0, None),
        (5, None),
        (125, None),
        (126, None),
        (700, None),
        (700, Some(300)),
    ] {
        let payload: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
        let mut cfg = no_timers();
        cfg.limits.max_outgoing_frame_size = max;
        let mut a = server(cfg.clone());
        let mut b = server(cfg);
        a.send(DataKind::Text, Bytes::from(payload.clone()))
            .unwrap();
        b.send_copied(DataKind::Text, &payload).unwrap();
        assert_eq!(
            a.output().take_all(),
            b.output().take_all(),
            "len {len}, max {max:?}"
        );
    }
}

#[test]
fn recycling_a_buffer_mid_control_frame_keeps_its_payload() {
    let now = Instant::now();
    let mut c = server(no_timers());
    let ping = cf(true, 9, b"ping payload");
    c.handle_input(&ping[..9], now);
    assert_eq!(c.poll_event(), None);
    // The application hands back a buffer while the ping's payload is half read.
    c.recycle_buffer(Vec::with_capacity(256));
    c.handle_input(&ping[9..], now);
    assert_eq!(
        c.poll_event(),
        Some(WsEvent::Ping(Bytes::from_static(b"ping payload")))
    );
    assert_eq!(
        server_frames(&c.output().take_all()),
        vec![(true, Opcode::Pong, b"ping payload".to_vec())]
    );
}

#[test]
fn going_idle_mid_control_frame_keeps_its_payload() {
    // Autobahn 2.6: a 125-byte ping sent one byte at a time; the driver releases idle
    // buffers between the bytes.
    let now = Instant::now();
    let mut c = server(no_timers());
    let payload = [0xFEu8; 125];
    let ping = cf(true, 9, &payload);
    for b in &ping {
        c.handle_input(std::slice::from_ref(b), now);
        if let Some(ev) = c.poll_event() {
            assert_eq!(ev, WsEvent::Ping(Bytes::copy_from_slice(&payload)));
        }
        // What waits for the rest of the frame is only the frame itself.
        assert!(c.buffered_input() <= WAITING_INPUT_MAX);
        c.release_idle_buffers();
    }
    assert_eq!(
        server_frames(&c.output().take_all()),
        vec![(true, Opcode::Pong, payload.to_vec())]
    );
}

#[test]
fn a_control_frame_leaves_the_recycled_buffer_to_the_next_message() {
    let now = Instant::now();
    let mut c = server(no_timers());
    let mut buf = Vec::with_capacity(4096);
    buf.extend_from_slice(b"old content");
    let (ptr, cap) = (buf.as_ptr(), buf.capacity());
    c.recycle_buffer(buf);
    // A ping and a pong, the ping split so its payload has to wait for the rest.
    let ping = cf(true, 9, b"are you there");
    c.handle_input(&ping[..8], now);
    assert_eq!(c.poll_event(), None);
    c.handle_input(&ping[8..], now);
    c.handle_input(&cf(true, 10, b"yes"), now);
    assert_eq!(
        c.poll_event(),
        Some(WsEvent::Ping(Bytes::from_static(b"are you there")))
    );
    assert_eq!(
        c.poll_event(),
        Some(WsEvent::Pong(Bytes::from_static(b"yes")))
    );
    // A fragmented message (general parser) with the ping between its fragments.
    c.handle_input(&cf(false, 2, b"new "), now);
    c.handle_input(&cf(true, 9, b"mid"), now);
    c.handle_input(&cf(true, 0, b"message"), now);
    assert_eq!(
        c.poll_event(),
        Some(WsEvent::Ping(Bytes::from_static(b"mid")))
    );
    let Some(WsEvent::Message(Message::Binary(got))) = c.poll_event() else {
        panic!("expected a binary message");
    };
    assert_eq!(got, b"new message");
    assert_eq!((got.as_ptr(), got.capacity()), (ptr, cap));
}

/// A burst taken with `poll_plain_message` and finished with `poll_event`, split at every
/// point: the plain messages come out one by one, anything else (a ping, a frame cut
/// short, a fragment) is left untouched for `poll_event`, and `buffered_input` counts only
/// what has not been taken.
#[test]
fn plain_messages_are_taken_until_anything_else_at_every_split() {
    let mut input = Vec::new();
    input.extend(cf(true, 0x1, b"one"));
    input.extend(cf(true, 0x2, &[7u8; 200])); // 16-bit length
    input.extend(cf(true, 0x9, b"ping"));
    input.extend(cf(true, 0x1, b"two"));
    input.extend(cf(false, 0x1, b"fr"));
    input.extend(cf(true, 0x0, b"ag"));
    input.extend(cf(true, 0x1, b"three"));
    let want = vec![
        Message::Text("one".into()),
        Message::Binary(vec![7u8; 200]),
        Message::Text("two".into()),
        Message::Text("frag".into()),
        Message::Text("three".into()),
    ];
    for split in 0..=input.len() {
        let mut c = server(no_timers());
        let t0 = Instant::now();
        let mut got = Vec::new();
        let mut pings = 0;
        for part in [&input[..split], &input[split..]] {
            c.handle_input(part, t0);
            loop {
                let before = c.buffered_input();
                if let Some(m) = c.poll_plain_message() {
                    assert!(
                        c.buffered_input() < before,
                        "split {split}: taken bytes counted"
                    );
                    got.push(m);
                    continue;
                }
                assert_eq!(
                    c.buffered_input(),
                    before,
                    "split {split}: a refusal changes nothing"
                );
                match c.poll_event() {
                    Some(WsEvent::Message(m)) => got.push(m),
                    Some(WsEvent::Ping(_)) => pings += 1,
                    Some(other) => panic!("split {split}: unexpected {other:?}"),
                    None => break,
                }
            }
        }
        assert_eq!(got, want, "split {split}");
        assert_eq!(pings, 1, "split {split}");
        assert_eq!(c.buffered_input(), 0, "split {split}");
        let out = c.output().take_all();
        assert_eq!(
            server_frames(&out),
            vec![(true, Opcode::Pong, b"ping".to_vec())]
        );
    }
}

/// Invalid UTF-8 in a whole small text frame: `poll_plain_message` refuses it and leaves
/// the frame as it arrived (it unmasks in place to look), so the general parser still
/// fails the connection with 1007 — after the messages before it were taken.
#[test]
fn plain_message_refuses_invalid_text_and_leaves_it_intact() {
    let mut input = cf(true, 0x1, b"fine");
    input.extend(cf(true, 0x1, &[b'a', 0xFF, b'b']));
    let mut c = server(no_timers());
    c.handle_input(&input, Instant::now());
    assert_eq!(c.poll_plain_message(), Some(Message::Text("fine".into())));
    assert_eq!(c.poll_plain_message(), None);
    assert_eq!(c.poll_plain_message(), None, "asking again changes nothing");
    match c.poll_event() {
        Some(WsEvent::Error(e)) => assert_eq!(e.close_code(), CloseCode::INVALID_PAYLOAD),
        other => panic!("expected the 1007 error, got {other:?}"),
    }
    assert_eq!(c.poll_plain_message(), None, "nothing after an error");
    let out = c.output().take_all();
    let frames = server_frames(&out);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].1, Opcode::Close);
    assert_eq!(&frames[0].2[..2], &1007u16.to_be_bytes());
}

/// After the peer's close frame nothing more is taken, even whole frames behind it.
#[test]
fn no_plain_message_after_the_peer_closed() {
    let mut input = cf(true, 0x8, &close_payload(1000, b""));
    input.extend(cf(true, 0x1, b"late"));
    let mut c = server(no_timers());
    c.handle_input(&input, Instant::now());
    assert_eq!(c.poll_plain_message(), None);
    assert!(matches!(c.poll_event(), Some(WsEvent::PeerClose(_))));
    assert_eq!(c.poll_plain_message(), None);
}
