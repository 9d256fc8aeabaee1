//! Frame headers (RFC 6455 §5.2): [`Opcode`], [`FrameHeader`], decoding and encoding.
//!
//! Decoding looks at no more than the 2-14 header bytes and never at the payload, so a
//! caller can check limits before buffering anything. It rejects what is wrong whatever the
//! role (reserved opcodes, a 64-bit length with the top bit set, a non-minimal length);
//! the server-side rules (masking, RSV bits, control frame rules) are in
//! [`FrameHeader::check_client_frame`].

use super::error::WsError;
use bytes::BufMut;

/// A frame opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Opcode {
    /// 0x0: continues a fragmented message.
    Continuation,
    /// 0x1: the first frame of a text message.
    Text,
    /// 0x2: the first frame of a binary message.
    Binary,
    /// 0x8: close.
    Close,
    /// 0x9: ping.
    Ping,
    /// 0xA: pong.
    Pong,
}

impl Opcode {
    /// Decodes the low 4 bits of the first header byte; reserved opcodes are an error.
    pub fn from_u8(v: u8) -> Result<Opcode, WsError> {
        Ok(match v {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            other => return Err(WsError::ReservedOpcode(other)),
        })
    }

    /// The 4-bit wire value.
    pub fn as_u8(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    /// Close, ping and pong are control frames.
    pub fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// Largest payload of a control frame.
pub const MAX_CONTROL_PAYLOAD: usize = 125;
/// Longest possible frame header: 2 + 8 (length) + 4 (mask).
pub const MAX_HEADER_LEN: usize = 14;

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// The FIN bit: last frame of a message.
    pub fin: bool,
    /// RSV1..RSV3 as the 3 low bits (RSV1 = 0b100).
    pub rsv: u8,
    /// The opcode.
    pub opcode: Opcode,
    /// The masking key, when the MASK bit is set.
    pub mask: Option<[u8; 4]>,
    /// The payload length.
    pub payload_len: u64,
}

impl FrameHeader {
    /// A final, unmasked frame header without RSV bits (what a server sends).
    pub fn new(opcode: Opcode, fin: bool, payload_len: u64) -> Self {
        FrameHeader {
            fin,
            rsv: 0,
            opcode,
            mask: None,
            payload_len,
        }
    }

    /// Decodes a header from the start of `buf`.
    ///
    /// Returns `Ok(None)` when more bytes are needed, `Ok(Some((header, header_len)))` when a
    /// whole header is there. Errors as soon as the bytes available show one: a reserved
    /// opcode (from the first byte), a 64-bit length with its top bit set, or a length not
    /// encoded minimally.
    pub fn decode(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, WsError> {
        let Some(&b0) = buf.first() else {
            return Ok(None);
        };
        let opcode = Opcode::from_u8(b0 & 0x0F)?;
        let Some(&b1) = buf.get(1) else {
            return Ok(None);
        };
        let masked = b1 & 0x80 != 0;
        let (payload_len, len_bytes) = match b1 & 0x7F {
            126 => {
                let Some(b) = buf.get(2..4) else {
                    return Ok(None);
                };
                let n = u16::from_be_bytes([b[0], b[1]]) as u64;
                if n < 126 {
                    return Err(WsError::NonMinimalLength);
                }
                (n, 2)
            }
            127 => {
                let Some(b) = buf.get(2..10) else {
                    return Ok(None);
                };
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                let n = u64::from_be_bytes(a);
                if n >> 63 != 0 {
                    return Err(WsError::LengthOverflow);
                }
                if n <= u16::MAX as u64 {
                    return Err(WsError::NonMinimalLength);
                }
                (n, 8)
            }
            n => (n as u64, 0),
        };
        let mut len = 2 + len_bytes;
        let mask = if masked {
            let Some(m) = buf.get(len..len + 4) else {
                return Ok(None);
            };
            len += 4;
            Some([m[0], m[1], m[2], m[3]])
        } else {
            None
        };
        Ok(Some((
            FrameHeader {
                fin: b0 & 0x80 != 0,
                rsv: (b0 >> 4) & 0x07,
                opcode,
                mask,
                payload_len,
            },
            len,
        )))
    }

    /// The rules every frame a client sends to a server must follow (RFC 6455 §5.1-§5.5),
    /// apart from those that need the connection's state (continuation, limits): masked, no
    /// RSV bit (we negotiate no extension), control frames final and at most 125 bytes.
    pub fn check_client_frame(&self) -> Result<(), WsError> {
        self.check_client_frame_with(false)
    }

    /// [`FrameHeader::check_client_frame`] on a connection that negotiated
    /// permessage-deflate when `rsv1_allowed`: RSV1 may then be set on the first frame of a
    /// data message (RFC 7692 §6.1), never on a control or continuation frame.
    pub fn check_client_frame_with(&self, rsv1_allowed: bool) -> Result<(), WsError> {
        let allowed = if rsv1_allowed && matches!(self.opcode, Opcode::Text | Opcode::Binary) {
            0b100
        } else {
            0
        };
        if self.rsv & !allowed != 0 {
            return Err(WsError::ReservedBits);
        }
        if self.mask.is_none() {
            return Err(WsError::UnmaskedFrame);
        }
        if self.opcode.is_control() {
            if !self.fin {
                return Err(WsError::FragmentedControl);
            }
            if self.payload_len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(WsError::ControlTooLong);
            }
        }
        Ok(())
    }

    /// Bytes [`FrameHeader::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        let len = match self.payload_len {
            0..=125 => 2,
            126..=0xFFFF => 4,
            _ => 10,
        };
        len + if self.mask.is_some() { 4 } else { 0 }
    }

    /// Writes the header, with the length in its minimal form.
    pub fn encode(&self, dst: &mut impl BufMut) {
        let (buf, n) = self.to_array();
        dst.put_slice(&buf[..n]);
    }

    /// The encoded header in a fixed array, and how many of its bytes are used (lets a
    /// caller reserve room once for header and payload together).
    pub fn to_array(&self) -> ([u8; MAX_HEADER_LEN], usize) {
        let mut b = [0u8; MAX_HEADER_LEN];
        b[0] = (self.fin as u8) << 7 | (self.rsv & 0x07) << 4 | self.opcode.as_u8();
        let m = if self.mask.is_some() { 0x80 } else { 0 };
        let mut n = match self.payload_len {
            len @ 0..=125 => {
                b[1] = m | len as u8;
                2
            }
            len @ 126..=0xFFFF => {
                b[1] = m | 126;
                b[2..4].copy_from_slice(&(len as u16).to_be_bytes());
                4
            }
            len => {
                b[1] = m | 127;
                b[2..10].copy_from_slice(&len.to_be_bytes());
                10
            }
        };
        if let Some(k) = self.mask {
            b[n..n + 4].copy_from_slice(&k);
            n += 4;
        }
        (b, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(h: FrameHeader) -> Vec<u8> {
        let mut v = Vec::new();
        h.encode(&mut v);
        assert_eq!(v.len(), h.encoded_len());
        v
    }

    #[test]
    fn roundtrips_every_length_form() {
        for len in [0u64, 1, 125, 126, 127, 65535, 65536, 1 << 32, (1 << 63) - 1] {
            for mask in [None, Some([1, 2, 3, 4])] {
                for op in [Opcode::Text, Opcode::Binary, Opcode::Continuation] {
                    let h = FrameHeader {
                        fin: len % 2 == 0,
                        rsv: 0,
                        opcode: op,
                        mask,
                        payload_len: len,
                    };
                    let bytes = enc(h);
                    // Every prefix is incomplete, the whole is complete.
                    for cut in 0..bytes.len() {
                        assert_eq!(FrameHeader::decode(&bytes[..cut]), Ok(None));
                    }
                    let mut more = bytes.clone();
                    more.extend_from_slice(b"payload");
                    assert_eq!(FrameHeader::decode(&more), Ok(Some((h, bytes.len()))));
                }
            }
        }
    }

    #[test]
    fn rejects_bad_lengths_and_opcodes() {
        assert_eq!(
            FrameHeader::decode(&[0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0]),
            Err(WsError::LengthOverflow)
        );
        assert_eq!(
            FrameHeader::decode(&[0x81, 0xFE, 0x00, 0x7D]),
            Err(WsError::NonMinimalLength)
        );
        assert_eq!(
            FrameHeader::decode(&[0x81, 0xFF, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF]),
            Err(WsError::NonMinimalLength)
        );
        for op in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
            assert_eq!(
                FrameHeader::decode(&[0x80 | op]),
                Err(WsError::ReservedOpcode(op))
            );
        }
    }

    #[test]
    fn rfc_unmasked_hello_header() {
        // RFC 6455 §5.7: a single-frame unmasked text message "Hello".
        let h = FrameHeader::decode(&[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f])
            .unwrap()
            .unwrap();
        assert_eq!(h, (FrameHeader::new(Opcode::Text, true, 5), 2));
        assert_eq!(h.0.check_client_frame(), Err(WsError::UnmaskedFrame));
    }
}
