//! The bodies of the cargo-fuzz targets, as plain functions of the input bytes.
//!
//! Each `fuzz_targets/<name>.rs` is one line that calls the function of the same name here,
//! so the very same checks run three ways:
//! - under libFuzzer (`cargo fuzz run <name>`, nightly or `RUSTC_BOOTSTRAP=1`);
//! - as a corpus replay on stable: `core/tests/fuzz_replay.rs` includes this file with
//!   `#[path]` and runs every file of `fuzz/corpus/<name>/` through it (part of
//!   `cargo test --workspace`);
//! - as regression tests: `core/tests/fuzz_regressions.rs` keeps every input that once
//!   crashed a target, inline.
//!
//! This file only depends on `wirelane-core` and `bytes` (both available to core's
//! integration tests), never on `libfuzzer-sys`.

use bytes::Bytes;
use std::time::{Duration, Instant};
use wirelane_core::proto::http::{
    BodyLength, HttpEvent, RequestHead, ResponseHead, ServerConnection,
};
use wirelane_core::proto::ws::deflate::{InflateError, Inflater};
use wirelane_core::proto::ws::frame::MAX_CONTROL_PAYLOAD;
use wirelane_core::proto::ws::mask::{apply_mask, apply_mask_bytewise};
use wirelane_core::proto::ws::{
    accept_key, validate_request, CloseCode, DataKind, DeflateConfig, DeflateParams, FrameHeader,
    Opcode, Utf8Validator, WsConfig, WsConnection, WsEvent,
};
use wirelane_core::proto::{HttpLimits, WsLimits};

/// The names of all targets, in the order `.ci/fuzz.sh` runs them.
pub const TARGETS: &[&str] = &[
    "http_conn",
    "ws_frame",
    "ws_conn",
    "ws_handshake",
    "upgrade_conn",
    #[cfg(feature = "tls")]
    "tls_transport",
    "ws_deflate",
];

/// Runs the target called `name` on `data` (panics on an unknown name).
pub fn run(name: &str, data: &[u8]) {
    match name {
        "http_conn" => http_conn(data),
        "ws_frame" => ws_frame(data),
        "ws_conn" => ws_conn(data),
        "ws_handshake" => ws_handshake(data),
        "upgrade_conn" => upgrade_conn(data),
        #[cfg(feature = "tls")]
        "tls_transport" => tls_target::tls_transport(data),
        "ws_deflate" => ws_deflate(data),
        other => panic!("unknown fuzz target {other:?}"),
    }
}

/// A tiny deterministic generator (xorshift64*), seeded from the input.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

// ---------------------------------------------------------------------------------------
// http_conn
// ---------------------------------------------------------------------------------------

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

/// The HTTP/1.1 server connection: arbitrary bytes (after an 8-byte seed) in arbitrary
/// splits, with an application that answers every request in varied ways (early/late,
/// streamed, HEAD-style, upgrades accepted or declined, 100-continue) and time jumps.
///
/// Checks: no panic; buffered input never exceeds `read_buffer_limit()` plus one input; no
/// events after `should_close`; usage errors never happen for a well-behaved application.
pub fn http_conn(data: &[u8]) {
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
}

// ---------------------------------------------------------------------------------------
// ws_frame
// ---------------------------------------------------------------------------------------

/// The frame header decoder, masking and the incremental UTF-8 validator with raw bytes:
/// no panic, header encode/decode round trip, fast unmask equal to the byte loop, the
/// validator agreeing with `std::str::from_utf8` at every split the input suggests.
pub fn ws_frame(data: &[u8]) {
    // Walk the input as a stream of frames.
    let mut rest = data;
    while let Ok(Some((h, n))) = FrameHeader::decode(rest) {
        assert!((2..=14).contains(&n));
        assert_eq!(n, h.encoded_len());
        let _ = h.check_client_frame();
        let mut enc = Vec::new();
        h.encode(&mut enc);
        assert_eq!(enc, rest[..n], "decode/encode round trip");
        let skip = (h.payload_len.min((rest.len() - n) as u64) as usize) + n;
        let payload = &rest[n..skip];
        if let Some(key) = h.mask {
            for phase in 0..4 {
                let mut a = payload.to_vec();
                let mut b = a.clone();
                apply_mask(&mut a, key, phase);
                apply_mask_bytewise(&mut b, key, phase);
                assert_eq!(a, b);
            }
        }
        rest = &rest[skip..];
        if skip == n && h.payload_len > 0 {
            break;
        }
    }

    // UTF-8: split the whole input at points chosen by its first bytes.
    let whole = std::str::from_utf8(data).is_ok();
    let step = data.first().map_or(1, |b| (*b as usize % 7) + 1);
    let mut v = Utf8Validator::new();
    let mut ok = true;
    for piece in data.chunks(step) {
        if v.feed(piece).is_err() {
            ok = false;
            break;
        }
    }
    if ok {
        ok = v.finish().is_ok();
    }
    assert_eq!(ok, whole);
}

// ---------------------------------------------------------------------------------------
// ws_conn
// ---------------------------------------------------------------------------------------

/// Checks a server's output stream: whole, valid, unmasked frames; control frames final and
/// short; nothing after our close frame.
fn check_ws_output(out: &[u8]) {
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

/// The WebSocket limits both WebSocket targets use: small when `small`.
fn ws_config(flags: u8) -> WsConfig {
    let small = flags & 2 != 0;
    let limits = WsLimits::default()
        .max_frame_size(if small { 64 } else { 1 << 20 })
        .max_message_size(if small { 100 } else { 2 << 20 })
        .max_fragments(if small { 3 } else { 1000 })
        .max_outgoing_frame_size(if flags & 8 != 0 { Some(7) } else { None })
        .close_timeout(Duration::from_secs(3))
        .ping_interval(Some(Duration::from_secs(2)))
        .idle_timeout(Some(Duration::from_secs(5)));
    WsConfig {
        limits,
        stream_fragments: flags & 1 != 0,
        deflate: None,
    }
}

/// Handles one WebSocket event like an echo server; counts `Closed` and what follows it.
fn echo_ws_event(c: &mut WsConnection, ev: WsEvent, closed_seen: &mut u32, after: &mut u32) {
    if *closed_seen > 0 {
        *after += 1;
    }
    match ev {
        WsEvent::Message(m) => {
            let (kind, p) = m.into_payload();
            let _ = c.send(kind, p);
        }
        WsEvent::Fragment {
            kind: DataKind::Binary,
            data,
            ..
        } => {
            let _ = c.send(DataKind::Binary, data);
        }
        WsEvent::Ping(_) => {
            let _ = c.send_ping(Bytes::from_static(b"x"));
        }
        WsEvent::Closed => *closed_seen += 1,
        _ => {}
    }
}

/// Ends a WebSocket run: time passes, EOF, every event; then checks that `Closed` came
/// exactly once and last, and that the whole output is valid.
fn finish_ws(
    mut c: WsConnection,
    mut now: Instant,
    mut closed_seen: u32,
    mut after: u32,
    out: &mut Vec<u8>,
) {
    now += Duration::from_secs(10);
    c.handle_timeout(now);
    c.handle_eof(now);
    while let Some(ev) = c.poll_event() {
        echo_ws_event(&mut c, ev, &mut closed_seen, &mut after);
    }
    assert_eq!(closed_seen, 1, "exactly one Closed");
    assert_eq!(after, 0, "nothing after Closed");
    assert!(c.is_closed());
    assert!(c.poll_event().is_none());
    out.extend_from_slice(&c.output().take_all());
    check_ws_output(out);
}

/// The WebSocket connection state machine: the first byte picks the configuration and how
/// the rest is split into reads; messages are echoed back like an echo server; time moves
/// one second per read. Checks: no panic, every output frame is a valid unmasked server
/// frame, nothing follows our close frame, `Closed` comes exactly once and last.
pub fn ws_conn(data: &[u8]) {
    let Some((&flags, input)) = data.split_first() else {
        return;
    };
    let chunk = ((flags >> 4) as usize * 3) + 1;
    let mut now = Instant::now();
    let mut c = WsConnection::new(ws_config(flags), now);
    let mut out = Vec::new();
    let mut closed_seen = 0;
    let mut after = 0;
    for (i, piece) in input.chunks(chunk).enumerate() {
        now += Duration::from_secs(1);
        c.handle_input(piece, now);
        if flags & 4 != 0 && i == 1 {
            let _ = c.close(CloseCode::NORMAL, "bye", now);
        }
        while let Some(ev) = c.poll_event() {
            echo_ws_event(&mut c, ev, &mut closed_seen, &mut after);
        }
        if c.poll_timeout().is_some_and(|t| t <= now) {
            c.handle_timeout(now);
        }
        out.extend_from_slice(&c.output().take_all());
    }
    finish_ws(c, now, closed_seen, after, &mut out);
    same_with_buffer_reuse(flags, input);
}

/// Differential check of the buffer reuse paths: the same input, given once whole and once
/// in pieces (sizes from `flags`) with everything a driver does between reads — idle
/// buffers released, replies copied (`send_copied`) and their buffers handed back
/// (`recycle_buffer`) — must give the same events and the same output bytes. Timers are
/// off so that the number of reads does not matter.
fn same_with_buffer_reuse(flags: u8, input: &[u8]) {
    let mut cfg = ws_config(flags);
    cfg.limits = cfg.limits.ping_interval(None).idle_timeout(None);
    let now = Instant::now();
    let run = |pieces: usize, reuse: bool| {
        let mut c = WsConnection::new(cfg.clone(), now);
        let mut events = Vec::new();
        let mut out = Vec::new();
        let size = input.len().div_ceil(pieces.max(1)).max(1);
        for piece in input.chunks(size) {
            c.handle_input(piece, now);
            while let Some(ev) = c.poll_event() {
                if let WsEvent::Message(m) = &ev {
                    if reuse {
                        let (kind, bytes) = (m.kind(), m.as_bytes().to_vec());
                        let _ = c.send_copied(kind, &bytes);
                        c.recycle_buffer(bytes);
                    } else {
                        let _ = c.send(m.kind(), Bytes::copy_from_slice(m.as_bytes()));
                    }
                }
                events.push(ev);
            }
            out.extend_from_slice(&c.output().take_all());
            if reuse {
                c.release_idle_buffers();
            }
        }
        c.handle_eof(now);
        while let Some(ev) = c.poll_event() {
            events.push(ev);
        }
        out.extend_from_slice(&c.output().take_all());
        (events, out)
    };
    if cfg.stream_fragments {
        return; // fragment boundaries follow the reads by design
    }
    let whole = run(1, false);
    let pieces = ((flags >> 4) as usize + 2).min(input.len().max(1));
    let split = run(pieces, true);
    assert_eq!(whole, split, "reads: 1 vs {pieces} with buffer reuse");
}

// ---------------------------------------------------------------------------------------
// ws_handshake
// ---------------------------------------------------------------------------------------

/// The WebSocket handshake: raw bytes parsed as a request head, then validated; the 101
/// response or the refusal is built. No panic; an accepted key is always 24 base64
/// characters and its accept value 28.
pub fn ws_handshake(data: &[u8]) {
    assert_eq!(accept_key(data).len(), 28);
    if let Ok(head) = RequestHead::parse(data) {
        match validate_request(&head) {
            Ok(req) => {
                assert_eq!(req.key().len(), 24);
                assert_eq!(req.accept_key().len(), 28);
                let chosen = req.protocols().first().cloned();
                let resp = req.response(chosen.as_deref(), Vec::new());
                assert_eq!(resp.status, 101);
            }
            Err(e) => {
                let (head, body) = e.response();
                assert!(head.status == 400 || head.status == 426);
                assert!(!body.is_empty());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// upgrade_conn
// ---------------------------------------------------------------------------------------

/// A whole connection as a server embedding the core drives it: it starts in HTTP
/// (`GET /` answers 200, anything else 404), upgrades on a valid WebSocket handshake
/// (`validate_request` + `accept_upgrade`, the bytes after the head handed to the new
/// [`WsConnection`]), refuses an invalid one with its 400/426, and continues as a WebSocket
/// echo. The first byte sets the WebSocket configuration (as in [`ws_conn`]) and the read
/// size; the rest is the byte stream from the client.
///
/// Checks: no panic and no usage error; every byte the client sent after the upgrade
/// request's head reaches the WebSocket side exactly once, in order (the leftover plus
/// later reads); the HTTP output before the upgrade ends with the 101 head; the WebSocket
/// output is valid and `Closed` comes exactly once, last.
pub fn upgrade_conn(data: &[u8]) {
    let Some((&flags, input)) = data.split_first() else {
        return;
    };
    let chunk = ((flags >> 4) as usize * 5) + 1;
    let limits = HttpLimits::default()
        .max_head_size(1024)
        .max_headers(16)
        .max_body_size(1024);
    let mut now = Instant::now();
    let mut http = ServerConnection::new(limits, now);
    let mut http_out = Vec::new();
    let mut pos = 0;
    let mut ws: Option<WsConnection> = None;
    // Where the WebSocket bytes start in `input`, and how many the WebSocket side got.
    let mut head_end = 0;
    let mut ws_fed = 0usize;
    let mut eofs = 0;
    while ws.is_none() && !http.should_close() {
        if pos < input.len() && http.wants_read() {
            let end = (pos + chunk).min(input.len());
            http.handle_input(&input[pos..end], now);
            pos = end;
        } else {
            // Everything is sent (or the core takes no more): EOF must end the HTTP side.
            assert!(eofs < 2, "EOF did not end the HTTP connection");
            http.handle_eof();
            eofs += 1;
        }
        while let Some(ev) = http.poll_event() {
            match ev {
                HttpEvent::Head(h) => {
                    // Answer at once; the body (if any) is discarded by the core.
                    let (status, text) = if h.path() == "/" {
                        (200, "Hello, World!")
                    } else {
                        (404, "Not Found")
                    };
                    let head = ResponseHead::new(status).header("content-type", "text/plain");
                    http.send_response(head, BodyLength::Known(text.len() as u64))
                        .unwrap();
                    http.send_body(Bytes::from_static(text.as_bytes())).unwrap();
                    http.finish_response().unwrap();
                }
                HttpEvent::Upgrade(h) => match validate_request(&h) {
                    Ok(req) => {
                        let rest = http.accept_upgrade(req.response(None, Vec::new())).unwrap();
                        assert!(http.poll_event().is_none(), "event after the upgrade");
                        // The leftover is exactly the last bytes fed after the head.
                        head_end = pos - rest.len();
                        assert_eq!(&rest[..], &input[head_end..pos]);
                        let mut c = WsConnection::new(ws_config(flags), now);
                        c.handle_input(&rest, now);
                        ws_fed = rest.len();
                        ws = Some(c);
                        break;
                    }
                    Err(e) => {
                        let (head, text) = e.response();
                        http.send_response(head, BodyLength::Known(text.len() as u64))
                            .unwrap();
                        http.send_body(Bytes::from(text)).unwrap();
                        http.finish_response().unwrap();
                    }
                },
                HttpEvent::Body(_)
                | HttpEvent::BodyEnd { .. }
                | HttpEvent::PeerClosed
                | HttpEvent::Error(_) => {}
            }
        }
        http_out.extend_from_slice(&http.output().take_all());
    }
    let Some(mut c) = ws else {
        assert!(http.should_close());
        return;
    };
    assert!(http.is_upgraded() && !http.should_close() && !http.wants_read());
    let last_head = http_out
        .windows(9)
        .rposition(|w| w == b"HTTP/1.1 ")
        .expect("a response head");
    assert!(
        http_out[last_head..].starts_with(b"HTTP/1.1 101 ") && http_out.ends_with(b"\r\n\r\n"),
        "the 101 head is the last HTTP output"
    );
    // Continue as WebSocket, starting with the leftover already fed.
    let mut ws_out = Vec::new();
    let (mut closed_seen, mut after) = (0, 0);
    loop {
        while let Some(ev) = c.poll_event() {
            echo_ws_event(&mut c, ev, &mut closed_seen, &mut after);
        }
        if c.poll_timeout().is_some_and(|t| t <= now) {
            c.handle_timeout(now);
        }
        ws_out.extend_from_slice(&c.output().take_all());
        if pos == input.len() || c.is_closed() {
            break;
        }
        now += Duration::from_secs(1);
        let end = (pos + chunk).min(input.len());
        c.handle_input(&input[pos..end], now);
        ws_fed += end - pos;
        pos = end;
    }
    assert_eq!(
        ws_fed,
        pos - head_end,
        "every byte after the head went to the WebSocket"
    );
    finish_ws(c, now, closed_seen, after, &mut ws_out);
}

#[cfg(feature = "tls")]
pub use tls_target::tls_transport;

/// The TLS plumbing of our own (`app::tls`): records in → plaintext out, plaintext in →
/// records out, over an in-memory transport that reads and writes in random chunks and
/// sometimes answers `Pending`.
#[cfg(feature = "tls")]
mod tls_target {
    use super::Rng;
    use std::collections::VecDeque;
    use std::io::{self, IoSlice, Read, Write};
    use std::sync::Arc;
    use std::task::{Context, Poll, Waker};
    use std::time::Duration;
    use wirelane_core::app::tls::{fuzzing::TlsTransport, rustls, TlsConfig};
    use wirelane_core::app::Transport;

    const CERT: &[u8] = include_bytes!("../tls/cert.pem");
    const KEY: &[u8] = include_bytes!("../tls/key.pem");

    /// An in-memory socket: reads what was pushed, in random pieces; takes random amounts.
    struct Mock {
        inbound: VecDeque<u8>,
        eof: bool,
        written: Vec<u8>,
        rng: Rng,
    }

    impl Transport for Mock {
        fn poll_read(&mut self, _: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
            if self.inbound.is_empty() {
                return if self.eof {
                    Poll::Ready(Ok(0))
                } else {
                    Poll::Pending
                };
            }
            let most = self.inbound.len().min(buf.len());
            let n = 1 + (self.rng.next() as usize) % most;
            for (b, x) in buf.iter_mut().zip(self.inbound.drain(..n)) {
                *b = x;
            }
            Poll::Ready(Ok(n))
        }

        fn poll_write_vectored(
            &mut self,
            _: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            if self.rng.next() % 4 == 0 {
                return Poll::Pending;
            }
            let total: usize = bufs.iter().map(|b| b.len()).sum();
            if total == 0 {
                return Poll::Ready(Ok(0));
            }
            let mut n = 1 + (self.rng.next() as usize) % total;
            let taken = n;
            for b in bufs {
                let k = b.len().min(n);
                self.written.extend_from_slice(&b[..k]);
                n -= k;
            }
            Poll::Ready(Ok(taken))
        }

        fn poll_shutdown(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn set_nodelay(&self, _: bool) -> io::Result<()> {
            Ok(())
        }

        fn set_linger(&self, _: Option<Duration>) -> io::Result<()> {
            Ok(())
        }
    }

    fn client_config() -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(CERT) {
            roots
                .add(cert.expect("fuzz certificate"))
                .expect("trust it");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config)
    }

    use rustls::pki_types::pem::PemObject;

    /// Reads everything the server yields now; `None` once it ended (EOF or error).
    fn server_read(
        server: &mut TlsTransport<Mock>,
        rng: &mut Rng,
        into: &mut Vec<u8>,
    ) -> Option<()> {
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            let mut buf = vec![0u8; 1 + (rng.next() as usize) % 40_000];
            match server.poll_read(&mut cx, &mut buf) {
                Poll::Pending => return Some(()),
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return None,
                Poll::Ready(Ok(n)) => into.extend_from_slice(&buf[..n]),
            }
        }
    }

    /// Garbage (mode 0), a real client (mode 1), a real client whose records get one
    /// byte flipped (mode 2).
    pub fn tls_transport(data: &[u8]) {
        if data.len() < 9 {
            return;
        }
        let mode = data[0] % 3;
        let mut rng = Rng(u64::from_le_bytes(data[1..9].try_into().unwrap()) | 1);
        let body = &data[9..];
        let config = TlsConfig::from_pem(CERT, KEY).expect("fuzz TLS config");
        let mock = Mock {
            inbound: VecDeque::new(),
            eof: false,
            written: Vec::new(),
            rng: Rng(rng.next() | 1),
        };
        let mut server = TlsTransport::for_fuzzing(mock, &config).expect("session");
        let mut cx = Context::from_waker(Waker::noop());

        if mode == 0 {
            // Nothing but the input: no plaintext may come out, nothing may be written
            // as plaintext, and it ends (no loop without progress).
            let mut got = Vec::new();
            let mut rest = body;
            while !rest.is_empty() {
                let k = (1 + (rng.next() as usize) % 3000).min(rest.len());
                let (piece, tail) = rest.split_at(k);
                rest = tail;
                // Through the transport's own reader: reach into the mock.
                push(&mut server, piece, false);
                if server_read(&mut server, &mut rng, &mut got).is_none() {
                    break;
                }
            }
            push(&mut server, &[], true);
            let _ = server_read(&mut server, &mut rng, &mut got);
            assert!(got.is_empty(), "plaintext out of garbage: {got:?}");
            assert!(matches!(
                server.poll_write_vectored(&mut cx, &[IoSlice::new(b"x")]),
                Poll::Ready(Err(_))
            ));
            return;
        }

        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut client = rustls::ClientConnection::new(client_config(), name).expect("client");
        let flip_at = if mode == 2 {
            Some(rng.next() as usize % 4000)
        } else {
            None
        };
        let mut flipped = false;
        let mut wire_pos = 0usize;
        let (mut client_sent, mut server_got) = (Vec::new(), Vec::new());
        let (mut server_sent, mut client_got) = (Vec::new(), Vec::new());
        let mut queue: Vec<u8> = Vec::new();
        let mut pieces = body.chunks(97).collect::<VecDeque<_>>();
        let mut server_alive = true;
        let mut client_alive = true;
        for round in 0..400 {
            if pieces.is_empty() && queue.is_empty() && round > 20 {
                break;
            }
            // Client → server.
            if !client.is_handshaking() && client_alive {
                if let Some(p) = pieces.front() {
                    if rng.next() % 2 == 0 {
                        client.writer().write_all(p).unwrap();
                        client_sent.extend_from_slice(p);
                        pieces.pop_front();
                    }
                }
            }
            let mut wire = Vec::new();
            while client.wants_write() {
                client.write_tls(&mut wire).unwrap();
            }
            if let Some(at) = flip_at {
                if !flipped && at >= wire_pos && at < wire_pos + wire.len() {
                    wire[at - wire_pos] ^= 0x5a;
                    flipped = true;
                }
            }
            wire_pos += wire.len();
            push(&mut server, &wire, false);
            if server_alive && server_read(&mut server, &mut rng, &mut server_got).is_none() {
                server_alive = false;
            }
            // Server → client: the driver's contract, unwritten bytes stay at the head.
            if server_alive && server.deadline().is_none() {
                if let Some(p) = pieces.front() {
                    if rng.next() % 2 == 0 {
                        queue.extend_from_slice(p);
                        pieces.pop_front();
                    }
                }
                while !queue.is_empty() {
                    let cut = (rng.next() as usize) % queue.len();
                    let slices = [IoSlice::new(&queue[..cut]), IoSlice::new(&queue[cut..])];
                    match server.poll_write_vectored(&mut cx, &slices) {
                        Poll::Ready(Ok(n)) => {
                            assert!(n > 0 && n <= queue.len());
                            server_sent.extend(queue.drain(..n));
                        }
                        Poll::Ready(Err(_)) => {
                            server_alive = false;
                            break;
                        }
                        Poll::Pending => break,
                    }
                }
                // As the driver does with nothing queued: records the transport made of
                // its own (session tickets) go out.
                if queue.is_empty() && server_alive {
                    if let Poll::Ready(Err(_)) = server.poll_flush(&mut cx) {
                        server_alive = false;
                    }
                }
            }
            let out = std::mem::take(&mut server_mock(&mut server).written);
            let mut slice = &out[..];
            while client_alive && !slice.is_empty() {
                if client.read_tls(&mut slice).is_err() {
                    client_alive = false;
                }
                if client.process_new_packets().is_err() {
                    client_alive = false;
                }
                let mut buf = [0u8; 4096];
                while let Ok(n) = client.reader().read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    client_got.extend_from_slice(&buf[..n]);
                }
            }
            if !server_alive && !client_alive {
                break;
            }
        }
        // Whatever the server read is what the client sent, or the start of it (a
        // flipped byte must never turn into different plaintext).
        assert!(
            client_sent.starts_with(&server_got),
            "server read other bytes than sent"
        );
        // (Bytes still queued may have gone out: acknowledged once all their records are.)
        server_sent.extend_from_slice(&queue);
        assert!(
            server_sent.starts_with(&client_got),
            "client read other bytes than sent"
        );
        if mode == 1 {
            assert!(server_alive && client_alive, "a clean exchange failed");
            assert!(!client.is_handshaking(), "the handshake did not complete");
            assert_eq!(server_got, client_sent, "server missed plaintext");
        }
    }

    fn server_mock(server: &mut TlsTransport<Mock>) -> &mut Mock {
        server.inner_mut()
    }

    fn push(server: &mut TlsTransport<Mock>, bytes: &[u8], eof: bool) {
        let m = server_mock(server);
        m.inbound.extend(bytes.iter().copied());
        m.eof |= eof;
    }
}

// ---------------------------------------------------------------------------------------
// ws_deflate
// ---------------------------------------------------------------------------------------

/// The permessage-deflate parameters a parameter byte selects: bit 0
/// `server_no_context_takeover`, bit 1 `client_no_context_takeover`, bits 2-4 the client's
/// window (8 + n), bits 5-7 ours (8 + n); so the 256 values are every combination. The
/// server is configured for context takeover and 15-bit windows (so the offer decides),
/// and compresses everything from 8 bytes up.
fn deflate_params(p: u8) -> DeflateParams {
    let mut offer = String::from("permessage-deflate");
    if p & 1 != 0 {
        offer.push_str("; server_no_context_takeover");
    }
    if p & 2 != 0 {
        offer.push_str("; client_no_context_takeover");
    }
    offer.push_str(&format!("; client_max_window_bits={}", 8 + ((p >> 2) & 7)));
    offer.push_str(&format!("; server_max_window_bits={}", 8 + (p >> 5)));
    let config = DeflateConfig::context_takeover().threshold(8);
    let params = DeflateParams::negotiate(&[offer], &config).expect("a valid offer");
    assert_eq!(params.server_no_context_takeover, p & 1 != 0);
    assert_eq!(params.client_no_context_takeover, p & 2 != 0);
    assert_eq!(params.client_max_window_bits, 8 + ((p >> 2) & 7));
    assert_eq!(params.server_max_window_bits, 8 + (p >> 5));
    params
}

/// Checks a deflate connection's output like [`check_ws_output`], and more: RSV1 only on
/// the first frame of a data message, and every compressed message inflates (as the
/// client would, with the negotiated window and takeover) without error. Returns the
/// frames as the client reads them: (opcode, payload), data messages whole and inflated.
fn check_deflate_output(out: &[u8], params: &DeflateParams) -> Vec<(Opcode, Vec<u8>)> {
    let mut frames = Vec::new();
    let mut inflater = Inflater::new(
        params.server_max_window_bits,
        !params.server_no_context_takeover,
    );
    let mut rest = out;
    let mut closed = false;
    // The compressed message being read: its payload so far.
    let mut message: Option<(Opcode, bool, Vec<u8>)> = None;
    while !rest.is_empty() {
        let (h, n) = FrameHeader::decode(rest)
            .expect("valid header")
            .expect("whole header");
        assert!(h.mask.is_none() && h.rsv & 0b011 == 0);
        assert!(!closed, "frame after our close frame");
        let len = h.payload_len as usize;
        assert!(rest.len() >= n + len);
        let payload = &rest[n..n + len];
        if h.opcode.is_control() {
            assert!(h.fin && len <= MAX_CONTROL_PAYLOAD && h.rsv == 0);
            closed |= h.opcode == Opcode::Close;
            frames.push((h.opcode, payload.to_vec()));
        } else {
            let (op, compressed, mut buf) = match (h.opcode, message.take()) {
                (Opcode::Continuation, Some(m)) => {
                    assert_eq!(h.rsv, 0, "RSV1 on a continuation frame");
                    m
                }
                (op @ (Opcode::Text | Opcode::Binary), None) => (op, h.rsv != 0, Vec::new()),
                other => panic!("bad message sequence {other:?}"),
            };
            buf.extend_from_slice(payload);
            if !h.fin {
                message = Some((op, compressed, buf));
            } else if compressed {
                let mut plain = Vec::new();
                let mut sink = |c: &[u8]| -> Result<(), InflateError> {
                    plain.extend_from_slice(c);
                    Ok(())
                };
                inflater
                    .feed(&buf, u64::MAX, &mut sink)
                    .expect("our output inflates");
                inflater
                    .finish(u64::MAX, &mut sink)
                    .expect("our output inflates");
                frames.push((op, plain));
            } else {
                frames.push((op, buf));
            }
        }
        rest = &rest[n + len..];
    }
    frames
}

/// Inflate and message assembly with permessage-deflate negotiated, under every parameter
/// combination: byte 0 as in [`ws_conn`] (configuration, read size), byte 1 the parameters
/// ([`deflate_params`]), then masked client frames (compressed ones have RSV1). Messages are
/// echoed (so compressed back); every second read the connection releases its idle
/// memory, so context takeover goes through the window-as-dictionary path. Checks: those
/// of [`ws_conn`], RSV1 only where allowed in our output, our compressed output inflates,
/// and the same input whole or in pieces with releases gives the same events and the same
/// frames as the client reads them.
pub fn ws_deflate(data: &[u8]) {
    let [flags, p, input @ ..] = data else {
        return;
    };
    let params = deflate_params(*p);
    let chunk = ((flags >> 4) as usize * 3) + 1;
    let mut now = Instant::now();
    let new_conn = |now| {
        let mut c = WsConnection::new(ws_config(*flags), now);
        c.enable_deflate(params);
        c
    };
    let mut c = new_conn(now);
    let mut out = Vec::new();
    let mut closed_seen = 0;
    let mut after = 0;
    for (i, piece) in input.chunks(chunk).enumerate() {
        now += Duration::from_secs(1);
        c.handle_input(piece, now);
        if flags & 4 != 0 && i == 1 {
            let _ = c.close(CloseCode::NORMAL, "bye", now);
        }
        while let Some(ev) = c.poll_event() {
            echo_ws_event(&mut c, ev, &mut closed_seen, &mut after);
        }
        if c.poll_timeout().is_some_and(|t| t <= now) {
            c.handle_timeout(now);
        }
        out.extend_from_slice(&c.output().take_all());
        if i % 2 == 1 {
            c.release_idle_buffers();
        }
    }
    // As `finish_ws`, with the deflate-aware output check.
    now += Duration::from_secs(10);
    c.handle_timeout(now);
    c.handle_eof(now);
    while let Some(ev) = c.poll_event() {
        echo_ws_event(&mut c, ev, &mut closed_seen, &mut after);
    }
    assert_eq!(closed_seen, 1, "exactly one Closed");
    assert_eq!(after, 0, "nothing after Closed");
    assert!(c.is_closed() && c.poll_event().is_none());
    out.extend_from_slice(&c.output().take_all());
    let _ = check_deflate_output(&out, &params);

    // Differential: whole vs. pieces with idle releases in between (timers off).
    if flags & 1 != 0 {
        return; // streamed pieces follow the reads by design
    }
    let run = |pieces: usize| {
        let mut c = new_conn(now);
        let mut events = Vec::new();
        let mut out = Vec::new();
        let size = input.len().div_ceil(pieces.max(1)).max(1);
        for piece in input.chunks(size) {
            c.handle_input(piece, now);
            while let Some(ev) = c.poll_event() {
                if let WsEvent::Message(m) = &ev {
                    let _ = c.send(m.kind(), Bytes::copy_from_slice(m.as_bytes()));
                }
                events.push(ev);
            }
            out.extend_from_slice(&c.output().take_all());
            c.release_idle_buffers();
        }
        // Compared as the client reads them: a compressor restored from its window after
        // a release may choose other (equally valid) back-references than one kept alive.
        (events, check_deflate_output(&out, &params))
    };
    let pieces = ((flags >> 4) as usize + 2).min(input.len().max(1));
    assert_eq!(
        run(1),
        run(pieces),
        "reads: 1 vs {pieces} with idle releases"
    );
}
