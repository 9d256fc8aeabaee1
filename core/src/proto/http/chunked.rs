//! Incremental decoder of the chunked transfer coding (RFC 9112 §7.1).
//!
//! Rules:
//! - chunk-size line: `1*HEXDIG [ *BWS ";" ext ] CRLF`. The size must fit in a u64; the
//!   extensions are skipped but may not contain control characters (other than HTAB); the
//!   whole line, CRLF included, is at most `max_chunk_line` bytes (else 400), checked while
//!   it is still arriving.
//! - chunk data is followed by exactly CRLF (else 400).
//! - the sum of chunk sizes may not exceed `max_body_size` (413 as soon as a size crosses it).
//! - trailer section: header lines (`name: value`, no obs-fold, no whitespace before the
//!   colon), each at most `max_chunk_line` bytes, at most `max_headers` of them, the whole
//!   section at most `max_head_size` bytes; then an empty line.
//! - lines end with CRLF only.
//!
//! The decoder never rescans: it remembers how far it looked into the current line.

use super::body::is_token;
use super::error::HttpError;
use super::head::trim_ows;
use crate::proto::limits::HttpLimits;
use bytes::{Buf, Bytes, BytesMut};

/// What the decoder produced.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Chunk {
    /// Body bytes.
    Data(Bytes),
    /// The last chunk and its trailers: the body is complete.
    End(Vec<(String, String)>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a chunk-size line.
    Size,
    /// Inside chunk data; this many bytes left.
    Data(u64),
    /// Expecting the CRLF after chunk data.
    DataEnd,
    /// Reading trailer lines.
    Trailer,
    /// Done.
    Done,
}

/// The chunked decoder.
#[derive(Debug, Clone)]
pub(crate) struct ChunkedDecoder {
    state: State,
    /// How many bytes of the current line were already searched for LF.
    scanned: usize,
    /// Sum of chunk sizes so far.
    total: u64,
    /// Trailers collected so far.
    trailers: Vec<(String, String)>,
    /// Bytes of the trailer section so far.
    trailer_bytes: usize,
}

impl ChunkedDecoder {
    pub(crate) fn new() -> Self {
        ChunkedDecoder {
            state: State::Size,
            scanned: 0,
            total: 0,
            trailers: Vec::new(),
            trailer_bytes: 0,
        }
    }

    /// Whether the whole body has been decoded.
    #[allow(dead_code)]
    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Finds the next complete line at the front of `buf` (returns its length including
    /// CRLF), enforcing the line-length limit while it arrives.
    fn take_line(&mut self, buf: &BytesMut, max: usize) -> Result<Option<usize>, HttpError> {
        let window = buf.len().min(max);
        if let Some(i) = buf[self.scanned.min(window)..window]
            .iter()
            .position(|&b| b == b'\n')
        {
            let end = self.scanned.min(window) + i;
            self.scanned = 0;
            if end == 0 || buf[end - 1] != b'\r' {
                return Err(HttpError::BadChunk);
            }
            return Ok(Some(end + 1));
        }
        if buf.len() >= max {
            return Err(HttpError::ChunkLineTooLong);
        }
        self.scanned = window;
        Ok(None)
    }

    /// Decodes from the front of `buf`, consuming what it used. `Ok(None)`: needs more input.
    pub(crate) fn decode(
        &mut self,
        buf: &mut BytesMut,
        limits: &HttpLimits,
    ) -> Result<Option<Chunk>, HttpError> {
        loop {
            match self.state {
                State::Size => {
                    let Some(n) = self.take_line(buf, limits.max_chunk_line)? else {
                        return Ok(None);
                    };
                    let size = parse_size_line(&buf[..n - 2])?;
                    buf.advance(n);
                    self.total = self
                        .total
                        .checked_add(size)
                        .ok_or(HttpError::BodyTooLarge)?;
                    if self.total > limits.max_body_size {
                        return Err(HttpError::BodyTooLarge);
                    }
                    self.state = if size == 0 {
                        State::Trailer
                    } else {
                        State::Data(size)
                    };
                }
                State::Data(left) => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    let n = (buf.len() as u64).min(left) as usize;
                    let data = buf.split_to(n).freeze();
                    self.state = if left == n as u64 {
                        State::DataEnd
                    } else {
                        State::Data(left - n as u64)
                    };
                    return Ok(Some(Chunk::Data(data)));
                }
                State::DataEnd => {
                    if buf.len() < 2 {
                        if buf.first().is_some_and(|&b| b != b'\r') {
                            return Err(HttpError::BadChunk);
                        }
                        return Ok(None);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(HttpError::BadChunk);
                    }
                    buf.advance(2);
                    self.state = State::Size;
                }
                State::Trailer => {
                    let Some(n) = self.take_line(buf, limits.max_chunk_line)? else {
                        return Ok(None);
                    };
                    self.trailer_bytes += n;
                    if self.trailer_bytes > limits.max_head_size {
                        return Err(HttpError::HeadTooLarge);
                    }
                    if n == 2 {
                        buf.advance(2);
                        self.state = State::Done;
                        return Ok(Some(Chunk::End(std::mem::take(&mut self.trailers))));
                    }
                    if self.trailers.len() >= limits.max_headers {
                        return Err(HttpError::TooManyHeaders);
                    }
                    let field = parse_trailer(&buf[..n - 2])?;
                    self.trailers.push(field);
                    buf.advance(n);
                }
                State::Done => return Ok(None),
            }
        }
    }
}

fn hex(b: u8) -> Option<u64> {
    (b as char).to_digit(16).map(u64::from)
}

/// Parses `1*HEXDIG [ BWS ";" ext ]` (without the CRLF).
fn parse_size_line(line: &[u8]) -> Result<u64, HttpError> {
    let digits = line.iter().take_while(|&&b| hex(b).is_some()).count();
    if digits == 0 {
        return Err(HttpError::BadChunk);
    }
    let mut size: u64 = 0;
    for &b in &line[..digits] {
        size = size
            .checked_mul(16)
            .and_then(|s| s.checked_add(hex(b).unwrap_or(0)))
            .ok_or(HttpError::BadChunk)?;
    }
    let rest = &line[digits..];
    if rest.is_empty() {
        return Ok(size);
    }
    let ext = rest
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .map(|i| &rest[i..]);
    match ext {
        Some([b';', ext @ ..]) if ext.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f)) => {
            Ok(size)
        }
        _ => Err(HttpError::BadChunk),
    }
}

fn parse_trailer(line: &[u8]) -> Result<(String, String), HttpError> {
    if line[0] == b' ' || line[0] == b'\t' {
        return Err(HttpError::ObsFold);
    }
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(HttpError::InvalidHeader)?;
    let name = &line[..colon];
    let value = trim_ows(&line[colon + 1..]);
    if !is_token(name) || value.iter().any(|&b| b != b'\t' && (b < 0x20 || b == 0x7f)) {
        return Err(HttpError::InvalidHeader);
    }
    Ok((
        String::from_utf8_lossy(name).into_owned(),
        String::from_utf8_lossy(value).into_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    type Decoded = (Vec<u8>, Vec<(String, String)>);

    fn decode_all(input: &[u8], step: usize) -> Result<Decoded, HttpError> {
        let limits = HttpLimits::default();
        let mut dec = ChunkedDecoder::new();
        let mut buf = BytesMut::new();
        let mut body = Vec::new();
        for piece in input.chunks(step.max(1)) {
            buf.extend_from_slice(piece);
            while let Some(c) = dec.decode(&mut buf, &limits)? {
                match c {
                    Chunk::Data(d) => body.extend_from_slice(&d),
                    Chunk::End(t) => return Ok((body, t)),
                }
            }
        }
        Err(HttpError::IncompleteBody)
    }

    #[test]
    fn decodes_in_any_split() {
        let input = b"5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-T: v \r\n\r\n";
        for step in 1..input.len() {
            let (body, trailers) = decode_all(input, step).unwrap();
            assert_eq!(body, b"hello0123456789");
            assert_eq!(trailers, vec![("X-T".to_string(), "v".to_string())]);
        }
    }

    #[test]
    fn rejects_bad_chunks() {
        for bad in [
            &b"g\r\n"[..],
            b"\r\n",
            b"5\r\nhelloXX",
            b"5 \r\nhello\r\n0\r\n\r\n",
            b"-5\r\n",
            b"0x5\r\n",
            b"10000000000000000\r\n",
            b"5\nhello\r\n",
            b"0\r\nbad header\r\n\r\n",
        ] {
            assert!(
                decode_all(bad, 1000).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn long_line_rejected_early() {
        let limits = HttpLimits::default().max_chunk_line(8);
        let mut dec = ChunkedDecoder::new();
        let mut buf = BytesMut::from(&b"0000000000"[..]);
        assert_eq!(
            dec.decode(&mut buf, &limits),
            Err(HttpError::ChunkLineTooLong)
        );
    }
}
