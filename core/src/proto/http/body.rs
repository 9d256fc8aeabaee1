//! Request body framing (RFC 9112 §6): decides, from the head, how the body is delimited.
//!
//! Rules (strict; ambiguous framing is rejected, never guessed at):
//! - `Transfer-Encoding` and `Content-Length` together: 400 (request smuggling vector).
//! - `Transfer-Encoding` in an HTTP/1.0 request: 400.
//! - `Transfer-Encoding` list: every element must be a non-empty token. `chunked` must be the
//!   last coding and appear once (else 400). Any other coding (`gzip, chunked` included) is
//!   501: we do not decode transfer codings other than chunked.
//! - `Content-Length`: exactly one field whose value is 1*DIGIT (surrounding whitespace
//!   allowed) and fits in a u64. Repeated fields or lists, even identical ones (`5, 5`), are
//!   rejected with 400: accepting them buys nothing and widens the parser's surface.
//! - A declared Content-Length over `max_body_size` is 413 right away, before any body byte.
//! - No Content-Length and no Transfer-Encoding: the request has no body.

use super::error::HttpError;
use super::head::{trim_ows, Headers, Version};
use crate::proto::limits::HttpLimits;

/// How a request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestBody {
    /// No body.
    Empty,
    /// Exactly this many bytes (> 0).
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
}

/// The token characters (RFC 9110 §5.6.2), as a table: header names are checked byte by
/// byte on every response, and a search of the symbol list for each '-' cost more than
/// the rest of the check.
const TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        i += 1;
    }
    table
};

fn is_tchar(b: u8) -> bool {
    TCHAR[usize::from(b)]
}

/// Whether `s` is a non-empty token (RFC 9110 §5.6.2).
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// Parses a Content-Length value.
pub(crate) fn parse_content_length(v: &[u8]) -> Option<u64> {
    let v = trim_ows(v);
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    v.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// Decides the framing of a request body from its headers.
pub(crate) fn request_body(
    headers: &Headers,
    version: Version,
    limits: &HttpLimits,
) -> Result<RequestBody, HttpError> {
    let mut te_seen = false;
    let mut chunked_last = false;
    let mut chunked_count = 0;
    let mut unknown = false;
    for v in headers.get_all("transfer-encoding") {
        te_seen = true;
        for coding in v.split(|&b| b == b',') {
            let coding = trim_ows(coding);
            // A coding may carry parameters (`gzip;q=1`); chunked may not.
            let (name, params) = match coding.iter().position(|&b| b == b';') {
                Some(i) => (trim_ows(&coding[..i]), true),
                None => (coding, false),
            };
            if !is_token(name) {
                return Err(HttpError::InvalidTransferEncoding);
            }
            if name.eq_ignore_ascii_case(b"chunked") && !params {
                chunked_count += 1;
                chunked_last = true;
            } else {
                if chunked_last {
                    // chunked followed by another coding
                    return Err(HttpError::InvalidTransferEncoding);
                }
                unknown = true;
            }
        }
    }
    let mut cl_fields = headers.get_all("content-length");
    let cl = cl_fields.next();
    if te_seen {
        if cl.is_some() {
            return Err(HttpError::ConflictingLength);
        }
        if version == Version::Http10 {
            return Err(HttpError::InvalidTransferEncoding);
        }
        if chunked_count > 1 {
            return Err(HttpError::InvalidTransferEncoding);
        }
        if unknown {
            return Err(HttpError::UnsupportedTransferCoding);
        }
        if !chunked_last {
            return Err(HttpError::InvalidTransferEncoding);
        }
        return Ok(RequestBody::Chunked);
    }
    let Some(cl) = cl else {
        return Ok(RequestBody::Empty);
    };
    if cl_fields.next().is_some() {
        return Err(HttpError::InvalidContentLength);
    }
    let n = parse_content_length(cl).ok_or(HttpError::InvalidContentLength)?;
    if n > limits.max_body_size {
        return Err(HttpError::BodyTooLarge);
    }
    Ok(if n == 0 {
        RequestBody::Empty
    } else {
        RequestBody::Length(n)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_table_is_the_rfc_list() {
        for b in 0..=255u8 {
            let want = b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
            assert_eq!(is_tchar(b), want, "byte {b}");
        }
    }

    #[test]
    fn content_length_values() {
        assert_eq!(parse_content_length(b"0"), Some(0));
        assert_eq!(parse_content_length(b" 12 "), Some(12));
        assert_eq!(parse_content_length(b"007"), Some(7));
        assert_eq!(
            parse_content_length(b"18446744073709551615"),
            Some(u64::MAX)
        );
        for bad in [
            &b""[..],
            b"+1",
            b"-1",
            b"1a",
            b"0x10",
            b"5, 5",
            b"18446744073709551616",
            b"1 2",
        ] {
            assert_eq!(
                parse_content_length(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn tokens() {
        assert!(is_token(b"chunked"));
        assert!(!is_token(b""));
        assert!(!is_token(b"a b"));
    }
}
