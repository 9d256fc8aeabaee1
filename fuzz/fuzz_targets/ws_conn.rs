//! Fuzzes the WebSocket connection state machine: the first byte picks the configuration
//! and how the rest is split into reads; messages are echoed back like an echo server; time
//! moves one second per read. Checks: no panic, every output frame is a valid unmasked
//! server frame, nothing follows our close frame, `Closed` comes exactly once and last.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, Instant};
use wirelane_core::proto::ws::frame::MAX_CONTROL_PAYLOAD;
use wirelane_core::proto::ws::*;
use wirelane_core::proto::WsLimits;

fn check_output(out: &[u8]) {
    let mut rest = out;
    let mut closed = false;
    while !rest.is_empty() {
        let (h, n) = FrameHeader::decode(rest)
            .expect("valid header")
            .expect("whole header");
        assert!(h.mask.is_none() && h.rsv == 0);
        assert!(!closed, "frame after our close frame");
        if h.opcode.is_control() {
            assert!(h.fin && h.payload_len as usize <= MAX_CONTROL_PAYLOAD);
        }
        if h.opcode == Opcode::Close {
            closed = true;
        }
        let len = h.payload_len as usize;
        assert!(rest.len() >= n + len);
        rest = &rest[n + len..];
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, input)) = data.split_first() else {
        return;
    };
    let small = flags & 2 != 0;
    let limits = WsLimits::default()
        .max_frame_size(if small { 64 } else { 1 << 20 })
        .max_message_size(if small { 100 } else { 2 << 20 })
        .max_fragments(if small { 3 } else { 1000 })
        .max_outgoing_frame_size(if flags & 8 != 0 { Some(7) } else { None })
        .close_timeout(Duration::from_secs(3))
        .ping_interval(Some(Duration::from_secs(2)))
        .idle_timeout(Some(Duration::from_secs(5)));
    let cfg = WsConfig {
        limits,
        stream_fragments: flags & 1 != 0,
    };
    let chunk = ((flags >> 4) as usize * 3) + 1;
    let mut now = Instant::now();
    let mut c = WsConnection::new(cfg, now);
    let mut out = Vec::new();
    let mut closed_seen = 0;
    let mut after_closed = 0;
    let mut pieces = 0;
    for piece in input.chunks(chunk) {
        pieces += 1;
        now += Duration::from_secs(1);
        c.handle_input(piece, now);
        if flags & 4 != 0 && pieces == 2 {
            let _ = c.close(CloseCode::NORMAL, "bye", now);
        }
        while let Some(ev) = c.poll_event() {
            if closed_seen > 0 {
                after_closed += 1;
            }
            match ev {
                WsEvent::Message(m) => {
                    let (kind, p) = m.into_payload();
                    let _ = c.send(kind, p);
                }
                WsEvent::Fragment { kind, data, .. } => {
                    if kind == DataKind::Binary {
                        let _ = c.send(kind, data);
                    }
                }
                WsEvent::Ping(_) => {
                    let _ = c.send_ping(Bytes::from_static(b"x"));
                }
                WsEvent::Closed => closed_seen += 1,
                _ => {}
            }
        }
        if let Some(t) = c.poll_timeout() {
            if t <= now {
                c.handle_timeout(now);
            }
        }
        let q = c.output();
        out.extend_from_slice(&q.take_all());
    }
    now += Duration::from_secs(10);
    c.handle_timeout(now);
    c.handle_eof(now);
    while let Some(ev) = c.poll_event() {
        if closed_seen > 0 {
            after_closed += 1;
        }
        if ev == WsEvent::Closed {
            closed_seen += 1;
        }
    }
    assert_eq!(closed_seen, 1, "exactly one Closed");
    assert_eq!(after_closed, 0, "nothing after Closed");
    assert!(c.is_closed());
    assert!(c.poll_event().is_none());
    out.extend_from_slice(&c.output().take_all());
    check_output(&out);
});
