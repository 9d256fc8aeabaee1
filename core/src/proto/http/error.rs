//! Errors: [`HttpError`] for bad input from the peer (each carries the status the core
//! answered with) and [`HttpUsageError`] for misuse of the API by the application.

use std::fmt;

/// Bad input from the peer, or a limit it exceeded.
///
/// When the connection reports one (as [`crate::proto::http::HttpEvent::Error`]) the core
/// has already queued the matching error response (unless the request already had a final
/// response, being written or finished) and will close the connection after it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpError {
    /// The request head is larger than `max_head_size` (431).
    HeadTooLarge,
    /// More header (or trailer) fields than `max_headers` (431).
    TooManyHeaders,
    /// The request target is longer than `max_uri_len` (414).
    UriTooLong,
    /// The body is larger than `max_body_size` (413).
    BodyTooLarge,
    /// A Content-Length that is not a plain decimal number, or several of them (400).
    InvalidContentLength,
    /// Both Content-Length and Transfer-Encoding (400).
    ConflictingLength,
    /// A transfer coding other than `chunked` (501).
    UnsupportedTransferCoding,
    /// A Transfer-Encoding that is malformed, has `chunked` not last (or twice), or is sent
    /// in an HTTP/1.0 request (400).
    InvalidTransferEncoding,
    /// A malformed chunk: bad size, overflow, missing CRLF after the data (400).
    BadChunk,
    /// A chunk-size or trailer line longer than `max_chunk_line` (400).
    ChunkLineTooLong,
    /// A header line folded onto the previous one (obs-fold) (400).
    ObsFold,
    /// A CR not followed by LF (400).
    BareCr,
    /// A line ending in LF without CR (400). We accept only CRLF line endings.
    BareLf,
    /// An invalid header name or value, or whitespace before the colon (400).
    InvalidHeader,
    /// An HTTP/1.1 request without exactly one Host header (400).
    MissingHost,
    /// A protocol version other than HTTP/1.0 and HTTP/1.1 (505).
    UnsupportedVersion,
    /// The request head did not arrive within `head_timeout` (408).
    HeadTimeout,
    /// The peer sent nothing for `body_timeout` while a request body was being received or
    /// discarded (408; no response is written if one was already started or finished).
    BodyTimeout,
    /// The peer closed the connection in the middle of a request head (400).
    IncompleteHead,
    /// The peer closed the connection in the middle of a request body (400).
    IncompleteBody,
    /// Any other malformed request head (400); the text says what.
    Malformed(&'static str),
}

impl HttpError {
    /// The HTTP status code the core answers this error with.
    pub fn status(&self) -> u16 {
        match self {
            HttpError::HeadTooLarge | HttpError::TooManyHeaders => 431,
            HttpError::UriTooLong => 414,
            HttpError::BodyTooLarge => 413,
            HttpError::UnsupportedTransferCoding => 501,
            HttpError::UnsupportedVersion => 505,
            HttpError::HeadTimeout | HttpError::BodyTimeout => 408,
            _ => 400,
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            HttpError::HeadTooLarge => "request head too large",
            HttpError::TooManyHeaders => "too many header fields",
            HttpError::UriTooLong => "request target too long",
            HttpError::BodyTooLarge => "request body too large",
            HttpError::InvalidContentLength => "invalid content-length",
            HttpError::ConflictingLength => "both content-length and transfer-encoding",
            HttpError::UnsupportedTransferCoding => "unsupported transfer coding",
            HttpError::InvalidTransferEncoding => "invalid transfer-encoding",
            HttpError::BadChunk => "malformed chunked body",
            HttpError::ChunkLineTooLong => "chunk-size or trailer line too long",
            HttpError::ObsFold => "obsolete line folding",
            HttpError::BareCr => "bare CR",
            HttpError::BareLf => "bare LF line ending",
            HttpError::InvalidHeader => "invalid header field",
            HttpError::MissingHost => "missing or repeated host header",
            HttpError::UnsupportedVersion => "unsupported HTTP version",
            HttpError::HeadTimeout => "request head timeout",
            HttpError::BodyTimeout => "request body timeout",
            HttpError::IncompleteHead => "connection closed inside the request head",
            HttpError::IncompleteBody => "connection closed inside the request body",
            HttpError::Malformed(what) => what,
        };
        f.write_str(s)
    }
}

impl std::error::Error for HttpError {}

/// Misuse of the [`crate::proto::http::ServerConnection`] API by the application.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpUsageError {
    /// No request is waiting for a response.
    NoRequest,
    /// The response head was already sent.
    ResponseAlreadyStarted,
    /// `send_body`/`finish_response` before `send_response`.
    NoResponseStarted,
    /// More body bytes than the declared Content-Length.
    BodyTooLong,
    /// `finish_response` before all declared bytes were sent; the connection will close.
    BodyIncomplete {
        /// Declared length.
        declared: u64,
        /// Bytes actually sent.
        sent: u64,
    },
    /// Body bytes for a response that has none (HEAD is exempt: bytes are dropped; 1xx,
    /// 204, 304 are not).
    BodyNotAllowed,
    /// A header name that is not a token, or a value/reason with CR, LF, NUL or another
    /// control character.
    InvalidHeader,
    /// A status code outside 100..=999.
    InvalidStatus,
    /// A 101 response must be sent with `accept_upgrade`.
    UseAcceptUpgrade,
    /// `accept_upgrade` without a pending upgrade request, or with a status other than 101.
    NotUpgrade,
    /// The connection is closed, failed or upgraded.
    Closed,
}

impl fmt::Display for HttpUsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpUsageError::NoRequest => f.write_str("no request is awaiting a response"),
            HttpUsageError::ResponseAlreadyStarted => f.write_str("response already started"),
            HttpUsageError::NoResponseStarted => f.write_str("no response started"),
            HttpUsageError::BodyTooLong => f.write_str("body longer than declared"),
            HttpUsageError::BodyIncomplete { declared, sent } => {
                write!(f, "body shorter than declared ({sent} of {declared} bytes)")
            }
            HttpUsageError::BodyNotAllowed => f.write_str("this response has no body"),
            HttpUsageError::InvalidHeader => f.write_str("invalid header name or value"),
            HttpUsageError::InvalidStatus => f.write_str("invalid status code"),
            HttpUsageError::UseAcceptUpgrade => f.write_str("send 101 with accept_upgrade"),
            HttpUsageError::NotUpgrade => f.write_str("no upgrade to accept (or status not 101)"),
            HttpUsageError::Closed => f.write_str("connection closed"),
        }
    }
}

impl std::error::Error for HttpUsageError {}
