//! The envelope: how one publication travels between processes through a broker.
//!
//! ```text
//! 0      2        3       4            12           20             28
//! | "wl" | version | flags | node (u64) | seq (u64)  | except (u64) | payload ...
//! ```
//!
//! Integers are big-endian. `flags` bit 0 is the kind (0 text, 1 binary), bit 1 says
//! whether `except` is set; other bits are zero. `node` identifies the publishing process
//! (its backplane), `seq` counts that node's publications on the topic from 1, so a receiver
//! can tell a gap (messages lost in transit) from a restart (a smaller number). The topic is
//! not in the envelope: the broker channel it arrives on names it.
//!
//! Decoding trusts nothing: a message from another program, another version, a truncated
//! or oversized one, or text that is not UTF-8 is an [`EnvelopeError`], never a panic.

use super::kind_code;
use crate::proto::ws::DataKind;
use bytes::Bytes;
use std::fmt;

/// The envelope format version this build reads and writes.
pub const VERSION: u8 = 1;
/// Bytes before the payload.
pub const HEADER_LEN: usize = 28;
const MAGIC: &[u8; 2] = b"wl";
const FLAG_BINARY: u8 = 1;
const FLAG_EXCEPT: u8 = 2;

/// One publication of another process, decoded and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    node: u64,
    seq: u64,
    except: Option<u64>,
    kind: DataKind,
    payload: Bytes,
}

/// Why bytes from the broker are not an envelope this build accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvelopeError {
    /// Larger than the configured limit (not looked at further).
    Oversized {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not an envelope of ours: no magic bytes.
    Foreign,
    /// Ours, but a version this build does not read.
    Version(u8),
    /// Shorter than the header.
    Truncated,
    /// Unknown flag bits.
    Flags(u8),
    /// A text payload that is not UTF-8.
    NotUtf8,
}

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvelopeError::Oversized { len, max } => {
                write!(f, "envelope of {len} bytes exceeds the limit of {max}")
            }
            EnvelopeError::Foreign => f.write_str("not a wirelane envelope"),
            EnvelopeError::Version(v) => write!(f, "unsupported envelope version {v}"),
            EnvelopeError::Truncated => f.write_str("envelope shorter than its header"),
            EnvelopeError::Flags(b) => write!(f, "unknown envelope flags {b:#04x}"),
            EnvelopeError::NotUtf8 => f.write_str("text envelope payload is not UTF-8"),
        }
    }
}

impl std::error::Error for EnvelopeError {}

impl EnvelopeError {
    /// Whether the bytes were not ours at all (another program or format version), as
    /// opposed to one of ours that is damaged or too large.
    pub fn is_foreign(&self) -> bool {
        matches!(self, EnvelopeError::Foreign | EnvelopeError::Version(_))
    }
}

/// The encoded length of an envelope carrying `payload_len` bytes.
pub fn encoded_len(payload_len: usize) -> usize {
    HEADER_LEN + payload_len
}

/// Encodes one publication (the payload is copied once, into the envelope).
pub fn encode(node: u64, seq: u64, except: Option<u64>, kind: DataKind, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded_len(payload.len()));
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    let mut flags = kind_code(kind) & FLAG_BINARY;
    if except.is_some() {
        flags |= FLAG_EXCEPT;
    }
    out.push(flags);
    out.extend_from_slice(&node.to_be_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&except.unwrap_or(0).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

fn be_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

impl Envelope {
    /// Decodes `bytes` (at most `max_len` long); the payload shares `bytes`' buffer.
    pub fn decode(bytes: Bytes, max_len: usize) -> Result<Envelope, EnvelopeError> {
        if bytes.len() > max_len {
            return Err(EnvelopeError::Oversized {
                len: bytes.len(),
                max: max_len,
            });
        }
        if bytes.len() < 3 || &bytes[..2] != MAGIC {
            return Err(EnvelopeError::Foreign);
        }
        if bytes[2] != VERSION {
            return Err(EnvelopeError::Version(bytes[2]));
        }
        if bytes.len() < HEADER_LEN {
            return Err(EnvelopeError::Truncated);
        }
        let flags = bytes[3];
        if flags & !(FLAG_BINARY | FLAG_EXCEPT) != 0 {
            return Err(EnvelopeError::Flags(flags));
        }
        let kind = if flags & FLAG_BINARY != 0 {
            DataKind::Binary
        } else {
            DataKind::Text
        };
        let payload = bytes.slice(HEADER_LEN..);
        if kind == DataKind::Text && std::str::from_utf8(&payload).is_err() {
            return Err(EnvelopeError::NotUtf8);
        }
        Ok(Envelope {
            node: be_u64(&bytes[4..]),
            seq: be_u64(&bytes[12..]),
            except: (flags & FLAG_EXCEPT != 0).then(|| be_u64(&bytes[20..])),
            kind,
            payload,
        })
    }

    /// The publishing process (its backplane's node id).
    pub fn node(&self) -> u64 {
        self.node
    }

    /// The publication's number among its node's publications on this topic.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The membership id (in the publishing process) the publisher excluded.
    pub fn except(&self) -> Option<u64> {
        self.except
    }

    /// Text or binary (a text payload has been checked to be UTF-8).
    pub fn kind(&self) -> DataKind {
        self.kind
    }

    /// The message payload.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for (kind, except) in [
            (DataKind::Text, None),
            (DataKind::Binary, Some(7)),
            (DataKind::Text, Some(u64::MAX)),
        ] {
            let bytes = encode(42, 9, except, kind, b"hello");
            assert_eq!(bytes.len(), encoded_len(5));
            let e = Envelope::decode(Bytes::from(bytes), 1024).expect("decodes");
            assert_eq!(
                (e.node(), e.seq(), e.except(), e.kind()),
                (42, 9, except, kind)
            );
            assert_eq!(&e.payload()[..], b"hello");
        }
    }

    #[test]
    fn hostile_input_is_an_error() {
        let good = encode(1, 1, None, DataKind::Text, b"ok");
        let cases: Vec<(Vec<u8>, EnvelopeError)> = vec![
            (vec![], EnvelopeError::Foreign),
            (b"w".to_vec(), EnvelopeError::Foreign),
            (b"{\"json\":1}".to_vec(), EnvelopeError::Foreign),
            (b"wl\x02rest-of-it".to_vec(), EnvelopeError::Version(2)),
            (good[..HEADER_LEN - 1].to_vec(), EnvelopeError::Truncated),
            (
                {
                    let mut b = good.clone();
                    b[3] = 0x80;
                    b
                },
                EnvelopeError::Flags(0x80),
            ),
            (
                encode(1, 1, None, DataKind::Text, &[0xff, 0xfe]),
                EnvelopeError::NotUtf8,
            ),
            (
                encode(1, 1, None, DataKind::Text, &[b'x'; 100]),
                EnvelopeError::Oversized { len: 128, max: 64 },
            ),
        ];
        for (bytes, want) in cases {
            assert_eq!(Envelope::decode(Bytes::from(bytes), 64), Err(want));
        }
        // Binary payloads are any bytes.
        let bin = encode(1, 1, None, DataKind::Binary, &[0xff, 0xfe]);
        assert!(Envelope::decode(Bytes::from(bin), 64).is_ok());
    }

    #[test]
    fn every_truncation_and_bit_flip_is_handled() {
        let good = encode(3, 4, Some(5), DataKind::Text, "héllo".as_bytes());
        for n in 0..good.len() {
            let _ = Envelope::decode(Bytes::copy_from_slice(&good[..n]), 1024);
        }
        for i in 0..good.len() {
            for bit in 0..8 {
                let mut b = good.clone();
                b[i] ^= 1 << bit;
                let _ = Envelope::decode(Bytes::from(b), 1024);
            }
        }
    }
}
