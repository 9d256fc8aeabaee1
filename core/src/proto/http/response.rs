//! Responses: [`ResponseHead`], [`BodyLength`], validation and encoding of the head.
//!
//! The core owns the framing headers. Whatever the application puts in `headers`:
//! - `content-length` and `transfer-encoding` are dropped; the core writes its own from the
//!   [`BodyLength`] (`content-length: N`, `transfer-encoding: chunked`, or nothing for a
//!   close-delimited body), and none at all for 1xx, 204 and 304;
//! - `connection` is dropped (an app `Connection: close` is honoured as
//!   `close_after_response`); the core writes `connection: close` whenever the connection
//!   will close and `connection: keep-alive` to an HTTP/1.0 client it keeps; for a 101 the
//!   application's `connection` header is written as given;
//! - `date` from the application is kept, otherwise the core adds the date set with
//!   `set_date` (if any) to every non-1xx response.
//!
//! The status line is always `HTTP/1.1` (RFC 9110 §6.2: a server sends its own highest
//! version), with the standard reason phrase unless the application gives one.

use super::body::is_token;
use super::date::HttpDate;
use super::error::HttpUsageError;
use bytes::{BufMut, BytesMut};
use std::borrow::Cow;

/// The length of a response body, announced with the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLength {
    /// No body (`content-length: 0`, or nothing for 1xx/204/304).
    Empty,
    /// Exactly this many bytes (`content-length`).
    Known(u64),
    /// Not known in advance: chunked to HTTP/1.1 clients, close-delimited to HTTP/1.0.
    Unknown,
}

/// A response head: status, optional reason phrase, headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// The status code (100..=999).
    pub status: u16,
    /// The reason phrase; `None` uses the standard one.
    pub reason: Option<Cow<'static, str>>,
    /// Header fields, written in order (see the module docs for the framing headers).
    pub headers: Vec<(Cow<'static, str>, Cow<'static, str>)>,
}

impl ResponseHead {
    /// A head with `status`, the standard reason and no headers.
    pub fn new(status: u16) -> Self {
        ResponseHead {
            status,
            reason: None,
            headers: Vec::new(),
        }
    }

    /// Adds a header field.
    pub fn header(
        mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<Cow<'static, str>>,
    ) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Checks status, reason, header names and values.
    pub(crate) fn validate(&self) -> Result<(), HttpUsageError> {
        if !(100..=999).contains(&self.status) {
            return Err(HttpUsageError::InvalidStatus);
        }
        let text_ok = |s: &str| s.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f));
        if let Some(r) = &self.reason {
            if !text_ok(r) {
                return Err(HttpUsageError::InvalidHeader);
            }
        }
        for (n, v) in &self.headers {
            if !is_token(n.as_bytes()) || !text_ok(v) {
                return Err(HttpUsageError::InvalidHeader);
            }
        }
        Ok(())
    }

    /// Whether the application asked for `Connection: close`.
    pub(crate) fn asks_close(&self) -> bool {
        self.headers.iter().any(|(n, v)| {
            n.eq_ignore_ascii_case("connection")
                && v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close"))
        })
    }
}

/// Whether a response with this status has no body (1xx, 204, 304).
pub(crate) fn status_has_no_body(status: u16) -> bool {
    status < 200 || status == 204 || status == 304
}

/// The standard reason phrase of a status code ("" if unknown).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// The framing header the core writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FramingHeader {
    /// None (1xx/204/304, or close-delimited).
    None,
    /// `content-length: N`
    Length(u64),
    /// `transfer-encoding: chunked`
    Chunked,
}

/// The `connection` header the core writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnectionHeader {
    /// None.
    None,
    /// `connection: close`
    Close,
    /// `connection: keep-alive`
    KeepAlive,
    /// The application's own `connection` header(s), as given (101).
    App,
}

/// Writes a status line and headers, ending with the empty line.
pub(crate) fn encode_head(
    dst: &mut BytesMut,
    head: &ResponseHead,
    framing: FramingHeader,
    connection: ConnectionHeader,
    date: Option<&HttpDate>,
) {
    dst.reserve(
        64 + head
            .headers
            .iter()
            .map(|(n, v)| n.len() + v.len() + 4)
            .sum::<usize>(),
    );
    dst.put_slice(b"HTTP/1.1 ");
    put_status(dst, head.status);
    dst.put_u8(b' ');
    match &head.reason {
        Some(r) => dst.put_slice(r.as_bytes()),
        None => dst.put_slice(reason_phrase(head.status).as_bytes()),
    }
    dst.put_slice(b"\r\n");
    let mut app_date = false;
    for (n, v) in &head.headers {
        if n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("transfer-encoding") {
            continue;
        }
        if n.eq_ignore_ascii_case("connection") && connection != ConnectionHeader::App {
            continue;
        }
        app_date |= n.eq_ignore_ascii_case("date");
        dst.put_slice(n.as_bytes());
        dst.put_slice(b": ");
        dst.put_slice(v.as_bytes());
        dst.put_slice(b"\r\n");
    }
    if let (Some(d), false, true) = (date, app_date, head.status >= 200) {
        dst.put_slice(b"date: ");
        dst.put_slice(d.as_bytes());
        dst.put_slice(b"\r\n");
    }
    match framing {
        FramingHeader::None => {}
        FramingHeader::Length(n) => {
            dst.put_slice(b"content-length: ");
            put_decimal(dst, n);
            dst.put_slice(b"\r\n");
        }
        FramingHeader::Chunked => dst.put_slice(b"transfer-encoding: chunked\r\n"),
    }
    match connection {
        ConnectionHeader::Close => dst.put_slice(b"connection: close\r\n"),
        ConnectionHeader::KeepAlive => dst.put_slice(b"connection: keep-alive\r\n"),
        ConnectionHeader::None | ConnectionHeader::App => {}
    }
    dst.put_slice(b"\r\n");
}

fn put_status(dst: &mut BytesMut, status: u16) {
    let s = status.min(999);
    dst.put_slice(&[
        b'0' + (s / 100) as u8,
        b'0' + (s / 10 % 10) as u8,
        b'0' + (s % 10) as u8,
    ]);
}

pub(crate) fn put_decimal(dst: &mut BytesMut, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    dst.put_slice(&tmp[i..]);
}

pub(crate) fn put_hex(dst: &mut BytesMut, mut n: u64) {
    let mut tmp = [0u8; 16];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b"0123456789abcdef"[(n % 16) as usize];
        n /= 16;
        if n == 0 {
            break;
        }
    }
    dst.put_slice(&tmp[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_framing_and_drops_app_framing_headers() {
        let head = ResponseHead::new(200)
            .header("Content-Type", "text/plain")
            .header("Content-Length", "99")
            .header("Connection", "keep-alive");
        let mut b = BytesMut::new();
        let date = HttpDate::from_unix_secs(0);
        encode_head(
            &mut b,
            &head,
            FramingHeader::Length(5),
            ConnectionHeader::Close,
            Some(&date),
        );
        assert_eq!(
            &b[..],
            &b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\ndate: Thu, 01 Jan 1970 00:00:00 GMT\r\ncontent-length: 5\r\nconnection: close\r\n\r\n"[..]
        );
    }

    #[test]
    fn validation() {
        assert!(ResponseHead::new(200)
            .header("x", "a\r\nb")
            .validate()
            .is_err());
        assert!(ResponseHead::new(200)
            .header("x y", "a")
            .validate()
            .is_err());
        assert!(ResponseHead::new(200)
            .header("x", "a\0")
            .validate()
            .is_err());
        assert!(ResponseHead::new(99).validate().is_err());
        assert!(ResponseHead::new(200)
            .header("x", "a\tb")
            .validate()
            .is_ok());
    }

    #[test]
    fn numbers() {
        let mut b = BytesMut::new();
        put_decimal(&mut b, 0);
        put_hex(&mut b, 255);
        put_decimal(&mut b, u64::MAX);
        assert_eq!(&b[..], b"0ff18446744073709551615");
    }
}
