//! Data messages and their assembly from fragments.

use super::utf8::Utf8Validator;
use bytes::Bytes;

/// The kind of a data message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataKind {
    /// UTF-8 text (opcode 0x1).
    Text,
    /// Binary data (opcode 0x2).
    Binary,
}

/// A whole data message, fragments reassembled; text is already validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
}

impl Message {
    /// Text or binary.
    pub fn kind(&self) -> DataKind {
        match self {
            Message::Text(_) => DataKind::Text,
            Message::Binary(_) => DataKind::Binary,
        }
    }

    /// The payload bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Message::Text(s) => s.as_bytes(),
            Message::Binary(b) => b,
        }
    }

    /// Payload length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The payload, without copying.
    pub fn into_bytes(self) -> Vec<u8> {
        match self {
            Message::Text(s) => s.into_bytes(),
            Message::Binary(b) => b,
        }
    }

    /// The payload as [`Bytes`] (for [`WsConnection::send`](super::WsConnection::send)),
    /// without copying.
    pub fn into_payload(self) -> (DataKind, Bytes) {
        let kind = self.kind();
        (kind, Bytes::from(self.into_bytes()))
    }
}

impl From<String> for Message {
    fn from(s: String) -> Self {
        Message::Text(s)
    }
}

impl From<&str> for Message {
    fn from(s: &str) -> Self {
        Message::Text(s.to_owned())
    }
}

impl From<Vec<u8>> for Message {
    fn from(b: Vec<u8>) -> Self {
        Message::Binary(b)
    }
}

/// A data message being received: its kind, the payload so far (unless streaming), the
/// UTF-8 state of text, and the counts the limits apply to.
#[derive(Debug)]
pub(crate) struct Assembly {
    pub kind: DataKind,
    pub buf: Vec<u8>,
    pub utf8: Utf8Validator,
    pub fragments: usize,
    pub size: u64,
}

impl Assembly {
    /// A message of `kind` assembled in `buf` (empty; its capacity is reused).
    pub fn with_buffer(kind: DataKind, buf: Vec<u8>) -> Self {
        debug_assert!(buf.is_empty());
        Assembly {
            kind,
            buf,
            utf8: Utf8Validator::new(),
            fragments: 0,
            size: 0,
        }
    }

    /// The finished message (the text was validated piece by piece as it arrived, so this
    /// only checks that it did not end inside a code point).
    pub fn finish(mut self) -> Result<Message, super::WsError> {
        match self.kind {
            DataKind::Binary => Ok(Message::Binary(self.buf)),
            DataKind::Text => {
                self.utf8
                    .finish()
                    .map_err(|_| super::WsError::InvalidUtf8)?;
                // SAFETY: every byte of `buf` went through `self.utf8.feed` in order, as it
                // arrived (see `WsConnection::payload`), and `finish` just checked that the
                // stream did not end inside a code point, so `buf` is valid UTF-8.
                // Measured (benches/ws.rs, ws_decode_unmask/text): validating a second time
                // with `String::from_utf8` halved the throughput of non-ASCII text.
                debug_assert!(std::str::from_utf8(&self.buf).is_ok());
                Ok(Message::Text(unsafe {
                    String::from_utf8_unchecked(self.buf)
                }))
            }
        }
    }
}
