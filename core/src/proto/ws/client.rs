//! The client's side of the wire: masked frames (RFC 6455 §5.3) and the opening handshake
//! request (§4.1), for test clients, load generators and embedded clients that talk to a
//! WebSocket server.
//!
//! Both write exactly what they are asked to, including what a server must refuse (a
//! fragmented or over-long control frame, a frame that breaks the message sequence), so a
//! test can send those too. They do no I/O and keep no state: choosing a fresh random
//! masking key and handshake key per connection, as the RFC asks of a real client, is the
//! caller's part.

use super::frame::{FrameHeader, Opcode};
use super::mask::unmask_into;

/// Appends one client frame to `out`: the header with the MASK bit and `mask_key`, then
/// `payload` masked with that key.
pub fn encode_client_frame(
    fin: bool,
    opcode: Opcode,
    payload: &[u8],
    mask_key: [u8; 4],
    out: &mut Vec<u8>,
) {
    encode_client_frame_rsv(fin, 0, opcode, payload, mask_key, out);
}

/// [`encode_client_frame`] with the RSV bits `rsv` (RSV1 = `0b100`: the first frame of a
/// permessage-deflate compressed message, whose payload comes from a
/// [`Compressor`](super::deflate::Compressor)).
pub fn encode_client_frame_rsv(
    fin: bool,
    rsv: u8,
    opcode: Opcode,
    payload: &[u8],
    mask_key: [u8; 4],
    out: &mut Vec<u8>,
) {
    let header = FrameHeader {
        fin,
        rsv,
        opcode,
        mask: Some(mask_key),
        payload_len: payload.len() as u64,
    };
    let (head, head_len) = header.to_array();
    out.reserve(head_len + payload.len());
    out.extend_from_slice(&head[..head_len]);
    // Masking is an XOR, so the server's copy-and-unmask masks just as well, in one pass.
    unmask_into(out, payload, mask_key, 0);
}

/// The opening handshake request: `GET path` to `host` asking for a WebSocket (version 13)
/// with the base64 `key`, followed by the `extra_headers` fields in order (e.g.
/// `Sec-WebSocket-Protocol`) and the blank line that ends the head.
///
/// The server's answer carries [`accept_key`](super::accept_key)`(key)`.
///
/// # Panics
///
/// If any of the strings holds a CR or LF: that would end the head early or forge a field.
/// A test that needs a malformed request writes its bytes itself.
pub fn upgrade_request(
    host: &str,
    path: &str,
    key: &str,
    extra_headers: &[(&str, &str)],
) -> Vec<u8> {
    let fields = [("Host", host), ("Sec-WebSocket-Key", key)];
    for s in [path].into_iter().chain(
        fields
            .iter()
            .chain(extra_headers)
            .flat_map(|&(n, v)| [n, v]),
    ) {
        assert!(
            !s.contains(['\r', '\n']),
            "CR or LF in a handshake request part: {s:?}"
        );
    }
    let mut req = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
    );
    for (name, value) in extra_headers {
        req.push_str(name);
        req.push_str(": ");
        req.push_str(value);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    req.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::http::RequestHead;
    use crate::proto::ws::{
        accept_key, validate_request, Message, WsConfig, WsConnection, WsEvent,
    };
    use std::time::Instant;

    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    fn frame(fin: bool, opcode: Opcode, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_client_frame(fin, opcode, payload, KEY, &mut out);
        out
    }

    #[test]
    fn rfc_masked_hello() {
        // RFC 6455 §5.7: a single-frame masked text message "Hello".
        assert_eq!(
            frame(true, Opcode::Text, b"Hello"),
            [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
        // The same as two fragments: "Hel" then "lo".
        let mut two = frame(false, Opcode::Text, b"Hel");
        two.extend(frame(true, Opcode::Continuation, b"lo"));
        assert_eq!(
            two,
            [
                0x01, 0x83, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, //
                0x80, 0x82, 0x37, 0xfa, 0x21, 0x3d, 0x5b, 0x95,
            ]
        );
    }

    #[test]
    fn appends_and_uses_the_16_and_64_bit_length_forms() {
        let mut out = vec![0xAA];
        encode_client_frame(true, Opcode::Binary, &[0; 256], KEY, &mut out);
        // RFC 6455 §5.7: "256 bytes binary message in a single unmasked frame" is
        // 0x82 0x7E 0x0100; masked, the length byte gains 0x80.
        assert_eq!(out[..5], [0xAA, 0x82, 0xFE, 0x01, 0x00]);
        assert_eq!(out[5..9], KEY);
        // Zeros masked are the key repeated.
        assert!(out[9..].chunks(4).all(|c| c == KEY));
        assert_eq!(out.len(), 1 + 8 + 256);

        // "64KiB binary message in a single unmasked frame": 0x82 0x7F 0x0000000000010000.
        let big = frame(true, Opcode::Binary, &[0; 65536]);
        assert_eq!(big[..10], [0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0]);
        assert_eq!(big[10..14], KEY);
        assert_eq!(big.len(), 14 + 65536);
    }

    #[test]
    fn the_server_reads_what_it_writes_at_every_length_boundary() {
        let now = Instant::now();
        for len in [0usize, 1, 125, 126, 65535, 65536] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
            let bytes = frame(true, Opcode::Binary, &payload);

            let (header, header_len) = FrameHeader::decode(&bytes).unwrap().unwrap();
            assert_eq!(header.check_client_frame(), Ok(()), "len {len}");
            assert_eq!(header.mask, Some(KEY));
            assert_eq!(header_len + len, bytes.len(), "len {len}");

            let mut ws = WsConnection::new(WsConfig::default(), now);
            ws.handle_input(&bytes, now);
            assert_eq!(
                ws.poll_event(),
                Some(WsEvent::Message(Message::Binary(payload))),
                "len {len}"
            );
            assert_eq!(ws.poll_event(), None);
        }
    }

    #[test]
    fn upgrade_request_is_one_the_server_accepts() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let req = upgrade_request("a", "/chat?x=1", key, &[("Sec-WebSocket-Protocol", "v2")]);
        assert_eq!(
            req,
            b"GET /chat?x=1 HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
              Sec-WebSocket-Protocol: v2\r\n\r\n"
        );

        let head = RequestHead::parse(&req).expect("a whole request head");
        assert_eq!(head.target(), "/chat?x=1");
        let handshake = validate_request(&head).expect("a valid upgrade");
        assert_eq!(handshake.protocols(), ["v2"]);
        assert_eq!(handshake.accept_key(), accept_key(key.as_bytes()));
        assert_eq!(handshake.accept_key(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    #[should_panic(expected = "CR or LF")]
    fn upgrade_request_refuses_a_forged_field() {
        upgrade_request("a", "/", "k", &[("X", "1\r\nHost: b")]);
    }
}
