//! The request head: [`Method`], [`Version`], [`Headers`], [`RequestHead`], [`TargetForm`],
//! and the incremental end-of-head scanner.
//!
//! The request-target must have one of the four forms of RFC 9112 §3.2, or the request is
//! refused with 400 (no guessing what another shape meant): origin-form (`/path?query`);
//! absolute-form with an `http` or `https` scheme (`http://host/path?query`, which a server
//! MUST accept; it is routed by its path and query like origin-form, and an authority with
//! userinfo or no host is refused, RFC 9110 §4.2); authority-form (`host:port`), only and
//! always for CONNECT; asterisk-form (`*`), only for OPTIONS.
//!
//! Parsing happens in two steps so it stays linear in the input:
//! 1. [`HeadScanner`] walks the buffered bytes once, remembering where it stopped, until it
//!    finds the empty line that ends the head. On the way it enforces the line-level rules
//!    (CRLF only: bare CR and bare LF are errors; no obs-fold; request line / URI length;
//!    header count; head size), so an oversized or hostile head is rejected as soon as the
//!    limit is crossed, without waiting for the rest.
//! 2. Once the head is complete, `httparse` parses it exactly once, and the result is kept as
//!    ranges into one [`Bytes`] (no per-header copy).

use super::body::{self, RequestBody};
use super::error::HttpError;
use crate::proto::limits::HttpLimits;
use bytes::Bytes;
use std::fmt;
use std::ops::Range;

/// The protocol version of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// HTTP/1.0
    Http10,
    /// HTTP/1.1
    Http11,
}

/// A request method.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// GET
    Get,
    /// HEAD
    Head,
    /// POST
    Post,
    /// PUT
    Put,
    /// DELETE
    Delete,
    /// PATCH
    Patch,
    /// OPTIONS
    Options,
    /// CONNECT
    Connect,
    /// TRACE
    Trace,
    /// Any other method token, as received (methods are case-sensitive).
    Other(Box<str>),
}

impl Method {
    /// The method as it appears on the request line.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Patch => "PATCH",
            Method::Options => "OPTIONS",
            Method::Connect => "CONNECT",
            Method::Trace => "TRACE",
            Method::Other(s) => s,
        }
    }

    fn from_token(s: &str) -> Method {
        match s {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "PATCH" => Method::Patch,
            "OPTIONS" => Method::Options,
            "CONNECT" => Method::Connect,
            "TRACE" => Method::Trace,
            other => Method::Other(other.into()),
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Request headers, kept as ranges into the head's single `Bytes` (no per-header copy).
#[derive(Clone, Default)]
pub struct Headers {
    bytes: Bytes,
    /// Per header: name start, name end, value start, value end, as offsets into `bytes`
    /// (32 bits: a head over 4 GiB is refused at parse), half the memory of `Range<usize>`s
    /// for what a WebSocket keeps for its whole life.
    entries: Vec<[u32; 4]>,
}

impl Headers {
    fn name_at(&self, i: usize) -> &str {
        // Names were checked to be tokens (ASCII) by httparse.
        std::str::from_utf8(self.name_bytes(i)).unwrap_or("")
    }

    fn name_bytes(&self, i: usize) -> &[u8] {
        let e = self.entries[i];
        &self.bytes[e[0] as usize..e[1] as usize]
    }

    fn value_at(&self, i: usize) -> &[u8] {
        let e = self.entries[i];
        &self.bytes[e[2] as usize..e[3] as usize]
    }

    /// The value of the first header called `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        (0..self.entries.len())
            .find(|&i| self.name_bytes(i).eq_ignore_ascii_case(name.as_bytes()))
            .map(|i| self.value_at(i))
    }

    /// The value of the first header called `name`, if present and UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The values of every header called `name` (case-insensitive), in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        (0..self.entries.len())
            .filter(move |&i| self.name_bytes(i).eq_ignore_ascii_case(name.as_bytes()))
            .map(move |i| self.value_at(i))
    }

    /// Every header as `(name, value)`, names as received, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        (0..self.entries.len()).map(move |i| (self.name_at(i), self.value_at(i)))
    }

    /// Number of header fields.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no header fields.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether a comma-separated header (all occurrences) contains `token`,
    /// case-insensitive (e.g. `Connection: keep-alive`, `Upgrade`).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.get_all(name).any(|v| {
            v.split(|&b| b == b',')
                .any(|t| trim_ows(t).eq_ignore_ascii_case(token.as_bytes()))
        })
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|(n, v)| (n, String::from_utf8_lossy(v))))
            .finish()
    }
}

/// Trims optional whitespace (SP, HTAB) on both ends.
pub(crate) fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// The form of a request-target (RFC 9112 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetForm {
    /// `/path?query`, what clients send to an origin server.
    Origin,
    /// `http://host/path?query` (scheme `http` or `https`), what clients send to a proxy.
    Absolute,
    /// `host:port`, the target of a CONNECT request.
    Authority,
    /// `*`, a server-wide OPTIONS request.
    Asterisk,
}

/// A parsed request head.
#[derive(Clone)]
pub struct RequestHead {
    method: Method,
    /// Offsets of the target in the head's bytes (held by `headers`, so one handle
    /// serves both).
    target: Range<u32>,
    target_form: TargetForm,
    version: Version,
    headers: Headers,
    keep_alive: bool,
    expects_continue: bool,
    upgrade: bool,
    body: RequestBody,
}

impl fmt::Debug for RequestHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestHead")
            .field("method", &self.method)
            .field("target", &self.target())
            .field("version", &self.version)
            .field("headers", &self.headers)
            .finish()
    }
}

impl Default for RequestHead {
    /// An empty `GET` with no target and no headers: a placeholder for a head taken away.
    fn default() -> Self {
        RequestHead {
            method: Method::Get,
            target: 0..0,
            target_form: TargetForm::Origin,
            version: Version::Http11,
            headers: Headers::default(),
            keep_alive: true,
            expects_continue: false,
            upgrade: false,
            body: RequestBody::Empty,
        }
    }
}

impl RequestHead {
    /// Takes the head apart for its header index, whose memory the next parse reuses
    /// (see [`ServerConnection::recycle_head`](super::ServerConnection::recycle_head)).
    pub(crate) fn into_header_index(self) -> Vec<[u32; 4]> {
        self.headers.entries
    }

    /// Gives the head its own copy of its bytes, so that it no longer keeps the memory of
    /// the buffer it was parsed from.
    pub(crate) fn detach(&mut self) {
        self.headers.bytes = Bytes::copy_from_slice(&self.headers.bytes);
    }

    /// The request method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The request-target as received, in whichever form it came.
    pub fn target(&self) -> &str {
        let (a, b) = (self.target.start as usize, self.target.end as usize);
        std::str::from_utf8(&self.headers.bytes[a..b]).unwrap_or("")
    }

    /// The form of the request-target.
    pub fn target_form(&self) -> TargetForm {
        self.target_form
    }

    /// The authority (`host[:port]`) named by an absolute-form or authority-form target;
    /// `None` for origin-form and asterisk-form (the `Host` header names it then).
    pub fn authority(&self) -> Option<&str> {
        let t = self.target();
        match self.target_form {
            TargetForm::Absolute => split_absolute(t).map(|(authority, _)| authority),
            TargetForm::Authority => Some(t),
            TargetForm::Origin | TargetForm::Asterisk => None,
        }
    }

    /// The path and query part of the target (`*` for asterisk-form, empty for
    /// authority-form), fragment included if the client sent one.
    fn path_and_query(&self) -> &str {
        let t = self.target();
        match self.target_form {
            TargetForm::Origin | TargetForm::Asterisk => t,
            TargetForm::Absolute => split_absolute(t).map_or("", |(_, rest)| rest),
            TargetForm::Authority => "",
        }
    }

    /// The path: the target before `?` (and before `#`, which should not be sent at all).
    /// For an absolute-form target, the path after its authority (`/` if it has none); for
    /// asterisk-form, `*`; for authority-form (CONNECT), empty.
    pub fn path(&self) -> &str {
        let t = self.path_and_query();
        // A byte search: several times cheaper than a `str` search for a set of chars.
        let end = t.bytes().position(|b| b == b'?' || b == b'#');
        let path = &t[..end.unwrap_or(t.len())];
        if path.is_empty() && self.target_form == TargetForm::Absolute {
            "/"
        } else {
            path
        }
    }

    /// The query: after `?`, without any `#` fragment (in any target form).
    pub fn query(&self) -> Option<&str> {
        let t = self.path_and_query();
        let t = &t[..t.find('#').unwrap_or(t.len())];
        t.find('?').map(|i| &t[i + 1..])
    }

    /// The protocol version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The header fields.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// Whether the client sent `Expect: 100-continue` (HTTP/1.1 only).
    pub fn expects_continue(&self) -> bool {
        self.expects_continue
    }

    /// Whether the client wants the connection kept open after this request: HTTP/1.1 unless
    /// `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`.
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    /// Whether this is an upgrade request (HTTP/1.1, `Upgrade` header, `Connection: upgrade`,
    /// and no body).
    pub fn is_upgrade(&self) -> bool {
        self.upgrade
    }

    /// Whether the request has a body (Content-Length > 0 or chunked).
    pub fn has_body(&self) -> bool {
        !matches!(self.body, RequestBody::Empty)
    }

    pub(crate) fn body(&self) -> RequestBody {
        self.body
    }

    /// Parses one complete head (up to and including the empty line; anything after it is
    /// ignored) with the default [`HttpLimits`]. For tests and custom loops.
    pub fn parse(bytes: &[u8]) -> Result<RequestHead, HttpError> {
        let limits = HttpLimits::default();
        let mut scanner = HeadScanner::default();
        match scanner.scan(bytes, &limits)? {
            Some(end) => parse_head(
                Bytes::copy_from_slice(&bytes[..end]),
                scanner.header_lines,
                &limits,
                Vec::new(),
            ),
            None => Err(HttpError::IncompleteHead),
        }
    }
}

/// Incremental search for the end of a request head; see the module docs.
#[derive(Debug, Default, Clone)]
pub(crate) struct HeadScanner {
    /// Next byte to look at.
    pos: usize,
    /// Start of the current line.
    line_start: usize,
    /// Whether the request line has been seen (leading empty lines are skipped).
    request_line_done: bool,
    /// Header lines seen so far.
    pub(crate) header_lines: usize,
}

/// Room for the method, the spaces and the version around a target on the request line.
const REQUEST_LINE_SLACK: usize = 64;

impl HeadScanner {
    /// Scans `buf` (which only ever grows between calls) from where the last call stopped.
    /// Returns the length of the head (including the final CRLF CRLF) once complete.
    pub(crate) fn scan(
        &mut self,
        buf: &[u8],
        limits: &HttpLimits,
    ) -> Result<Option<usize>, HttpError> {
        let len = buf.len();
        while self.pos < len {
            // Jump to the next CR or LF.
            let rest = &buf[self.pos..];
            match find_cr_or_lf(rest) {
                None => {
                    self.pos = len;
                    break;
                }
                Some(i) => self.pos += i,
            }
            if buf[self.pos] == b'\r' {
                if self.pos + 1 == len {
                    break; // decide when the next byte arrives
                }
                if buf[self.pos + 1] != b'\n' {
                    return Err(HttpError::BareCr);
                }
                self.pos += 1;
            } else if self.pos == 0 || buf[self.pos - 1] != b'\r' {
                return Err(HttpError::BareLf);
            }
            // buf[pos] is the LF of a CRLF.
            let line = &buf[self.line_start..self.pos - 1];
            self.pos += 1;
            self.line_start = self.pos;
            if line.is_empty() {
                if self.request_line_done {
                    if self.pos > limits.max_head_size {
                        return Err(HttpError::HeadTooLarge);
                    }
                    return Ok(Some(self.pos));
                }
                continue; // leading empty line before the request line
            }
            if !self.request_line_done {
                self.request_line_done = true;
                // The target is part of the line: only a longer line can hold one too long.
                if line.len() > limits.max_uri_len {
                    check_request_line(line, limits)?;
                }
            } else {
                if line[0] == b' ' || line[0] == b'\t' {
                    return Err(HttpError::ObsFold);
                }
                self.header_lines += 1;
                if self.header_lines > limits.max_headers {
                    return Err(HttpError::TooManyHeaders);
                }
            }
        }
        // Incomplete: check what can already be known.
        if !self.request_line_done
            && len - self.line_start > limits.max_uri_len + REQUEST_LINE_SLACK
        {
            return Err(HttpError::UriTooLong);
        }
        if len >= limits.max_head_size {
            return Err(HttpError::HeadTooLarge);
        }
        Ok(None)
    }
}

fn check_request_line(line: &[u8], limits: &HttpLimits) -> Result<(), HttpError> {
    let first = line.iter().position(|&b| b == b' ');
    let last = line.iter().rposition(|&b| b == b' ');
    if let (Some(a), Some(b)) = (first, last) {
        if b > a && b - a - 1 > limits.max_uri_len {
            return Err(HttpError::UriTooLong);
        }
    } else if line.len() > limits.max_uri_len + REQUEST_LINE_SLACK {
        return Err(HttpError::UriTooLong);
    }
    Ok(())
}

/// Whether `v` looks like `HTTP/<digit>[.<digit>]` (an HTTP version we do not speak: 505).
fn looks_like_version(v: &[u8]) -> bool {
    match v.strip_prefix(b"HTTP/") {
        Some([d]) => d.is_ascii_digit(),
        Some([d, b'.', e]) => d.is_ascii_digit() && e.is_ascii_digit(),
        _ => false,
    }
}

/// Splits an absolute-form target with an `http` or `https` scheme (any case) into its
/// authority and the rest (path, query, fragment; possibly empty).
fn split_absolute(t: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = t.split_once("://")?;
    if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(rest.split_at(end))
}

/// Whether `a` is a `host:port` authority as CONNECT needs it: a port is required (RFC
/// 9110 §9.3.6), userinfo is not allowed.
fn is_host_port(a: &str) -> bool {
    let Some((host, port)) = a.rsplit_once(':') else {
        return false;
    };
    !host.is_empty()
        && !host.contains(['/', '?', '#', '@'])
        && !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
}

/// Decides the form of `target` for `method`, or refuses it (see the module docs).
fn target_form(method: &Method, target: &str) -> Result<TargetForm, HttpError> {
    if *method == Method::Connect {
        return if is_host_port(target) {
            Ok(TargetForm::Authority)
        } else {
            Err(HttpError::Malformed("CONNECT needs a host:port target"))
        };
    }
    if target.starts_with('/') {
        return Ok(TargetForm::Origin);
    }
    if target == "*" {
        return if *method == Method::Options {
            Ok(TargetForm::Asterisk)
        } else {
            Err(HttpError::Malformed("only OPTIONS may have the target *"))
        };
    }
    match split_absolute(target) {
        Some((authority, _)) if !authority.is_empty() && !authority.contains('@') => {
            Ok(TargetForm::Absolute)
        }
        _ => Err(HttpError::Malformed("invalid request target")),
    }
}

fn offset_in(base: &[u8], part: &[u8]) -> Range<usize> {
    let start = part.as_ptr() as usize - base.as_ptr() as usize;
    start..start + part.len()
}

/// The index of the first CR or LF in `s`. Eight bytes at a time: in each little-endian
/// word, a byte equal to CR (or LF) becomes zero after the XOR, and the classic
/// "has a zero byte" bit trick marks it; the lowest mark is exact (borrows only run
/// upwards), and the lowest byte of the word is the first in memory. This search is most of
/// the cost of scanning a head, byte by byte it was a third of `RequestHead::parse`.
fn find_cr_or_lf(s: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero_bytes = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    let mut chunks = s.chunks_exact(8);
    let mut base = 0;
    for c in &mut chunks {
        let v = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        let marks =
            zero_bytes(v ^ (ONES * u64::from(b'\r'))) | zero_bytes(v ^ (ONES * u64::from(b'\n')));
        if marks != 0 {
            return Some(base + (marks.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .map(|i| base + i)
}

/// Which of the headers that [`parse_head`] acts on a head has.
#[derive(Default)]
struct Seen {
    hosts: usize,
    /// `Content-Length` or `Transfer-Encoding`.
    framing: bool,
    connection: bool,
    expect: bool,
    upgrade: bool,
}

impl Seen {
    fn note(&mut self, name: &[u8]) {
        // The length sorts out all but one candidate before any byte is compared.
        let is = |known: &str| name.eq_ignore_ascii_case(known.as_bytes());
        match name.len() {
            4 if is("host") => self.hosts += 1,
            6 if is("expect") => self.expect = true,
            7 if is("upgrade") => self.upgrade = true,
            10 if is("connection") => self.connection = true,
            14 if is("content-length") => self.framing = true,
            17 if is("transfer-encoding") => self.framing = true,
            _ => {}
        }
    }
}

/// Stack room for headers before falling back to a heap array.
const STACK_HEADERS: usize = 32;

/// Parses a complete head (`bytes` ends with CRLF CRLF and passed [`HeadScanner`]).
///
/// `entries` is memory for the header index (emptied here): a recycled one saves an
/// allocation per request on a keep-alive connection.
pub(crate) fn parse_head(
    bytes: Bytes,
    header_lines: usize,
    limits: &HttpLimits,
    mut entries: Vec<[u32; 4]>,
) -> Result<RequestHead, HttpError> {
    let mut stack = [httparse::EMPTY_HEADER; STACK_HEADERS];
    let mut heap;
    let slots: &mut [httparse::Header<'_>] = if header_lines <= STACK_HEADERS {
        &mut stack[..]
    } else {
        heap = vec![httparse::EMPTY_HEADER; header_lines];
        &mut heap[..]
    };
    let mut req = httparse::Request::new(slots);
    let status = req.parse(&bytes).map_err(|e| match e {
        httparse::Error::HeaderName | httparse::Error::HeaderValue => HttpError::InvalidHeader,
        httparse::Error::TooManyHeaders => HttpError::TooManyHeaders,
        httparse::Error::Version => {
            let start = bytes
                .iter()
                .position(|&b| b != b'\r' && b != b'\n')
                .unwrap_or(0);
            let end = bytes[start..]
                .iter()
                .position(|&b| b == b'\r')
                .map_or(bytes.len(), |i| start + i);
            let line = &bytes[start..end];
            let parts: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
            if parts.len() == 3 && looks_like_version(parts[2]) {
                HttpError::UnsupportedVersion
            } else {
                HttpError::Malformed("malformed request line")
            }
        }
        httparse::Error::Token => HttpError::Malformed("invalid method"),
        httparse::Error::NewLine => HttpError::Malformed("malformed line ending"),
        _ => HttpError::Malformed("malformed request line"),
    })?;
    if status.is_partial() {
        return Err(HttpError::Malformed("incomplete request head"));
    }
    let method = Method::from_token(req.method.unwrap_or(""));
    let path = req.path.unwrap_or("");
    if path.len() > limits.max_uri_len {
        return Err(HttpError::UriTooLong);
    }
    let target_form = target_form(&method, path)?;
    let target = offset_in(&bytes, path.as_bytes());
    let version = match req.version {
        Some(0) => Version::Http10,
        Some(1) => Version::Http11,
        _ => return Err(HttpError::UnsupportedVersion),
    };
    if u32::try_from(bytes.len()).is_err() {
        return Err(HttpError::HeadTooLarge);
    }
    entries.clear();
    entries.reserve(req.headers.len());
    // One pass notes which of the headers this parser acts on are present, so that the
    // checks below look again only at those (most requests have few of them).
    let mut seen = Seen::default();
    for h in req.headers.iter() {
        seen.note(h.name.as_bytes());
        let (n, v) = (
            offset_in(&bytes, h.name.as_bytes()),
            offset_in(&bytes, h.value),
        );
        // In range: every offset is within `bytes`, checked above to fit in 32 bits.
        entries.push([n.start, n.end, v.start, v.end].map(|x| x as u32));
    }
    let headers = Headers { bytes, entries };

    if version == Version::Http11 && seen.hosts != 1 {
        return Err(HttpError::MissingHost);
    }
    let body = if seen.framing {
        body::request_body(&headers, version, limits)?
    } else {
        RequestBody::Empty
    };
    let conn_close = seen.connection && headers.has_token("connection", "close");
    let keep_alive = match version {
        Version::Http11 => !conn_close,
        Version::Http10 => {
            !conn_close && seen.connection && headers.has_token("connection", "keep-alive")
        }
    };
    let expects_continue = version == Version::Http11
        && seen.expect
        && headers
            .get("expect")
            .is_some_and(|v| trim_ows(v).eq_ignore_ascii_case(b"100-continue"));
    let upgrade = version == Version::Http11
        && matches!(body, RequestBody::Empty)
        && seen.upgrade
        && seen.connection
        && headers.has_token("connection", "upgrade");
    Ok(RequestHead {
        method,
        // In range: checked above to fit in 32 bits, like the header offsets.
        target: target.start as u32..target.end as u32,
        target_form,
        version,
        headers,
        keep_alive,
        expects_continue,
        upgrade,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_simple_head() {
        let h =
            RequestHead::parse(b"GET /a/b?x=1#f HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-a: 2\r\n\r\n")
                .unwrap();
        assert_eq!(h.method(), &Method::Get);
        assert_eq!(h.target(), "/a/b?x=1#f");
        assert_eq!(h.path(), "/a/b");
        assert_eq!(h.query(), Some("x=1"));
        assert_eq!(h.version(), Version::Http11);
        assert_eq!(h.headers().len(), 3);
        assert_eq!(h.headers().get("x-a"), Some(&b"1"[..]));
        assert_eq!(
            h.headers().get_all("X-A").collect::<Vec<_>>(),
            vec![&b"1"[..], b"2"]
        );
        assert!(h.keep_alive());
        assert!(!h.expects_continue());
    }

    /// Parses `METHOD TARGET HTTP/1.1` with a Host header.
    fn with_target(method: &str, target: &str) -> Result<RequestHead, HttpError> {
        RequestHead::parse(format!("{method} {target} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes())
    }

    #[test]
    fn absolute_form_is_routed_by_its_path_and_query() {
        // (target, path, query, authority)
        let cases: &[(&str, &str, Option<&str>, &str)] = &[
            ("http://127.0.0.1:8080/", "/", None, "127.0.0.1:8080"),
            ("http://127.0.0.1:8080", "/", None, "127.0.0.1:8080"),
            (
                "HTTPS://example.com/a/b?x=1&y#f",
                "/a/b",
                Some("x=1&y"),
                "example.com",
            ),
            ("hTtP://h?q", "/", Some("q"), "h"),
            ("http://[::1]:80/p?", "/p", Some(""), "[::1]:80"),
            ("http://h/a?b/c", "/a", Some("b/c"), "h"),
            ("http://h#frag", "/", None, "h"),
        ];
        for &(target, path, query, authority) in cases {
            let h = with_target("GET", target).unwrap();
            assert_eq!(h.target(), target);
            assert_eq!(h.target_form(), TargetForm::Absolute, "{target}");
            assert_eq!(h.path(), path, "{target}");
            assert_eq!(h.query(), query, "{target}");
            assert_eq!(h.authority(), Some(authority), "{target}");
        }
    }

    #[test]
    fn path_is_the_target_before_query_and_fragment() {
        let cases = [
            ("GET", "/", "/"),
            ("GET", "/a/b?x=1#f", "/a/b"),
            ("GET", "/a#f?x", "/a"),
            ("GET", "/?", "/"),
            ("GET", "http://h:1", "/"),
            ("GET", "http://h:1?q", "/"),
            ("GET", "HTTPS://h/p/q?r#s", "/p/q"),
            ("GET", "http://h#frag", "/"),
            ("OPTIONS", "*", "*"),
            ("CONNECT", "h:443", ""),
        ];
        for (method, target, want) in cases {
            let h = with_target(method, target).unwrap();
            assert_eq!(h.path(), want, "{method} {target}");
            // The same as cutting the path-and-query at '?' or '#'.
            let pq = h.path_and_query();
            let cut = &pq[..pq.find(['?', '#']).unwrap_or(pq.len())];
            let cut = if cut.is_empty() && h.target_form() == TargetForm::Absolute {
                "/"
            } else {
                cut
            };
            assert_eq!(h.path(), cut, "{method} {target}");
        }
    }

    #[test]
    fn origin_asterisk_and_authority_forms() {
        let h = with_target("GET", "/x?y").unwrap();
        assert_eq!(
            (h.target_form(), h.path(), h.query(), h.authority()),
            (TargetForm::Origin, "/x", Some("y"), None)
        );
        // An origin-form path that happens to contain a URL is still a path.
        let h = with_target("GET", "/http://h/x").unwrap();
        assert_eq!(
            (h.target_form(), h.path()),
            (TargetForm::Origin, "/http://h/x")
        );
        let h = with_target("OPTIONS", "*").unwrap();
        assert_eq!(
            (h.target_form(), h.path(), h.query(), h.authority()),
            (TargetForm::Asterisk, "*", None, None)
        );
        let h = with_target("CONNECT", "example.com:443").unwrap();
        assert_eq!(
            (h.target_form(), h.path(), h.query(), h.authority()),
            (TargetForm::Authority, "", None, Some("example.com:443"))
        );
        let h = with_target("CONNECT", "[::1]:8443").unwrap();
        assert_eq!(h.authority(), Some("[::1]:8443"));
    }

    #[test]
    fn targets_of_no_form_are_400() {
        for (method, target) in [
            ("GET", "*"),
            ("GET", "example.com:443"),
            ("GET", "relative/path"),
            ("GET", "ftp://h/x"),
            ("GET", "ws://h/x"),
            ("GET", "http:/h/x"),
            ("GET", "http:///x"),
            ("GET", "http://"),
            ("GET", "http://user:pw@h/x"),
            ("CONNECT", "/"),
            ("CONNECT", "*"),
            ("CONNECT", "example.com"),
            ("CONNECT", "example.com:"),
            ("CONNECT", ":443"),
            ("CONNECT", "example.com:x"),
            ("CONNECT", "http://example.com:443/"),
            ("CONNECT", "user@example.com:443"),
            ("OPTIONS", "**"),
        ] {
            let e = with_target(method, target).unwrap_err();
            assert_eq!(e.status(), 400, "{method} {target}: {e:?}");
        }
    }

    #[test]
    fn tokens_and_persistence() {
        let h =
            RequestHead::parse(b"GET / HTTP/1.0\r\nConnection: foo, Keep-Alive\r\n\r\n").unwrap();
        assert!(h.keep_alive());
        assert!(h.headers().has_token("connection", "keep-alive"));
        let h = RequestHead::parse(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        assert!(!h.keep_alive());
        let h =
            RequestHead::parse(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").unwrap();
        assert!(!h.keep_alive());
    }

    #[test]
    fn find_cr_or_lf_matches_a_byte_loop() {
        // Every position of a CR, an LF, or both, in every length up to 40, over bytes
        // that tempt the bit trick (0x0c, 0x0e, 0x8d, 0x8a, 0x00, 0xff neighbours).
        let fillers = [b'a', 0x0c, 0x0e, 0x8d, 0x8a, 0x00, 0xff, 0x0b];
        for len in 0..40 {
            for &fill in &fillers {
                let naive = |s: &[u8]| s.iter().position(|&b| b == b'\r' || b == b'\n');
                let base = vec![fill; len];
                assert_eq!(find_cr_or_lf(&base), naive(&base));
                for at in 0..len {
                    for mark in [b'\r', b'\n'] {
                        let mut v = base.clone();
                        v[at] = mark;
                        assert_eq!(find_cr_or_lf(&v), Some(at), "len {len} at {at}");
                        if at + 1 < len {
                            v[at + 1] = b'\n';
                            assert_eq!(find_cr_or_lf(&v), Some(at));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn scanner_is_incremental() {
        let data = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let limits = HttpLimits::default();
        let mut s = HeadScanner::default();
        for n in 0..data.len() {
            assert_eq!(s.scan(&data[..n], &limits), Ok(None), "at {n}");
        }
        assert_eq!(s.scan(data, &limits), Ok(Some(data.len())));
    }

    #[test]
    fn scanner_errors() {
        let limits = HttpLimits::default();
        let cases: &[(&[u8], HttpError)] = &[
            (b"GET / HTTP/1.1\rHost: a\r\n\r\n", HttpError::BareCr),
            (b"GET / HTTP/1.1\nHost: a\r\n\r\n", HttpError::BareLf),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\n b\r\n\r\n",
                HttpError::ObsFold,
            ),
        ];
        for (input, err) in cases {
            assert_eq!(
                HeadScanner::default().scan(input, &limits),
                Err(err.clone())
            );
        }
    }

    #[test]
    fn version_errors() {
        assert_eq!(
            RequestHead::parse(b"GET / HTTP/2.0\r\n\r\n").unwrap_err(),
            HttpError::UnsupportedVersion
        );
        assert_eq!(
            RequestHead::parse(b"GET / HTTP/1.2\r\n\r\n").unwrap_err(),
            HttpError::UnsupportedVersion
        );
        assert_eq!(
            RequestHead::parse(b"GET / FOO/1.1\r\n\r\n")
                .unwrap_err()
                .status(),
            400
        );
    }
}
