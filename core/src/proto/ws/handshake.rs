//! The opening handshake, server side (RFC 6455 §4.2): validating the upgrade request and
//! building the 101 response (or the 400/426 refusal).
//!
//! Validation is strict where the RFC says MUST and lenient where it costs nothing: header
//! names are case-insensitive, `Upgrade` and `Connection` are comma lists searched for
//! their token case-insensitively, values are trimmed. Extensions offered by the client
//! (`Sec-WebSocket-Extensions`) are recorded and never accepted: no extension is
//! negotiated, so the connection treats any RSV bit as a protocol error.

use crate::proto::http::{Method, RequestHead, ResponseHead, Version};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha1::{Digest, Sha1};
use std::borrow::Cow;
use std::fmt;

/// The GUID appended to the key (RFC 6455 §1.3).
pub const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: `base64(sha1(key + GUID))`.
pub fn accept_key(key: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(key);
    h.update(WS_GUID.as_bytes());
    STANDARD.encode(h.finalize())
}

/// A valid upgrade request, ready to be answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeRequest {
    key: String,
    accept: String,
    protocols: Vec<String>,
    extensions: Vec<String>,
}

impl HandshakeRequest {
    /// The subprotocols the client offered (`Sec-WebSocket-Protocol`), in its order of
    /// preference.
    pub fn protocols(&self) -> &[String] {
        &self.protocols
    }

    /// The extensions the client offered (`Sec-WebSocket-Extensions`, one entry per
    /// comma-separated offer). Informative: none is accepted.
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// The client's `Sec-WebSocket-Key`.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The `Sec-WebSocket-Accept` value.
    pub fn accept_key(&self) -> &str {
        &self.accept
    }

    /// The 101 response: `Upgrade`, `Connection`, `Sec-WebSocket-Accept`, the chosen
    /// protocol (only if the client offered it, else it is left out) and `extra_headers`.
    pub fn response(
        &self,
        protocol: Option<&str>,
        extra_headers: Vec<(Cow<'static, str>, Cow<'static, str>)>,
    ) -> ResponseHead {
        let mut r = ResponseHead::new(101)
            .header("Upgrade", "websocket")
            .header("Connection", "Upgrade")
            .header("Sec-WebSocket-Accept", self.accept.clone());
        if let Some(p) = protocol.filter(|p| self.protocols.iter().any(|o| o == p)) {
            r = r.header("Sec-WebSocket-Protocol", p.to_owned());
        }
        r.headers.extend(extra_headers);
        r
    }
}

/// Why an upgrade request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The method is not GET. 400.
    NotGet,
    /// The version is not HTTP/1.1. 400.
    NotHttp11,
    /// No `Upgrade: websocket`. 400.
    MissingUpgrade,
    /// No `upgrade` token in `Connection`. 400.
    MissingConnectionUpgrade,
    /// No `Sec-WebSocket-Version`. 426 with `Sec-WebSocket-Version: 13`.
    MissingVersion,
    /// A `Sec-WebSocket-Version` other than 13 (or several). 426 with
    /// `Sec-WebSocket-Version: 13`.
    UnsupportedVersion,
    /// No `Sec-WebSocket-Key`. 400.
    MissingKey,
    /// A `Sec-WebSocket-Key` that is not the base64 of 16 bytes, or several. 400.
    InvalidKey,
    /// The request has a body. 400.
    UnexpectedBody,
}

impl HandshakeError {
    /// The HTTP status of the refusal.
    pub fn status(&self) -> u16 {
        match self {
            HandshakeError::MissingVersion | HandshakeError::UnsupportedVersion => 426,
            _ => 400,
        }
    }

    /// The full error response head (400, or 426 with `Sec-WebSocket-Version: 13`) and its
    /// text body with the reason.
    pub fn response(&self) -> (ResponseHead, String) {
        let mut head =
            ResponseHead::new(self.status()).header("Content-Type", "text/plain; charset=utf-8");
        if self.status() == 426 {
            head = head
                .header("Sec-WebSocket-Version", "13")
                .header("Upgrade", "websocket");
        }
        (head, format!("WebSocket handshake refused: {self}\n"))
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HandshakeError::NotGet => "the method must be GET",
            HandshakeError::NotHttp11 => "the version must be HTTP/1.1",
            HandshakeError::MissingUpgrade => "missing `Upgrade: websocket`",
            HandshakeError::MissingConnectionUpgrade => "missing `Connection: Upgrade`",
            HandshakeError::MissingVersion => "missing Sec-WebSocket-Version (13 is supported)",
            HandshakeError::UnsupportedVersion => {
                "unsupported Sec-WebSocket-Version (13 is supported)"
            }
            HandshakeError::MissingKey => "missing Sec-WebSocket-Key",
            HandshakeError::InvalidKey => "Sec-WebSocket-Key must be the base64 of 16 bytes",
            HandshakeError::UnexpectedBody => "an upgrade request has no body",
        })
    }
}

impl std::error::Error for HandshakeError {}

fn trim(v: &[u8]) -> &[u8] {
    let s = v
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(v.len());
    let e = v
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(s, |i| i + 1);
    &v[s..e.max(s)]
}

/// Comma-separated items of every occurrence of a header, trimmed, empty ones dropped.
fn list(head: &RequestHead, name: &str) -> Vec<String> {
    head.headers()
        .get_all(name)
        .flat_map(|v| v.split(|&b| b == b','))
        .map(trim)
        .filter(|t| !t.is_empty())
        .map(|t| String::from_utf8_lossy(t).into_owned())
        .collect()
}

/// Checks an upgrade request (RFC 6455 §4.2.1).
pub fn validate_request(head: &RequestHead) -> Result<HandshakeRequest, HandshakeError> {
    if *head.method() != Method::Get {
        return Err(HandshakeError::NotGet);
    }
    if head.version() != Version::Http11 {
        return Err(HandshakeError::NotHttp11);
    }
    let h = head.headers();
    if !h.has_token("upgrade", "websocket") {
        return Err(HandshakeError::MissingUpgrade);
    }
    if !h.has_token("connection", "upgrade") {
        return Err(HandshakeError::MissingConnectionUpgrade);
    }
    let versions: Vec<&[u8]> = h.get_all("sec-websocket-version").map(trim).collect();
    match versions.as_slice() {
        [] => return Err(HandshakeError::MissingVersion),
        [v] if *v == b"13" => {}
        _ => return Err(HandshakeError::UnsupportedVersion),
    }
    let keys: Vec<&[u8]> = h.get_all("sec-websocket-key").map(trim).collect();
    let key = match keys.as_slice() {
        [] => return Err(HandshakeError::MissingKey),
        [k] => *k,
        _ => return Err(HandshakeError::InvalidKey),
    };
    // base64 of 16 bytes is exactly 24 characters ending in "==".
    if key.len() != 24 || !matches!(STANDARD.decode(key), Ok(d) if d.len() == 16) {
        return Err(HandshakeError::InvalidKey);
    }
    if head.has_body() {
        return Err(HandshakeError::UnexpectedBody);
    }
    let key = String::from_utf8_lossy(key).into_owned();
    Ok(HandshakeRequest {
        accept: accept_key(key.as_bytes()),
        key,
        protocols: list(head, "sec-websocket-protocol"),
        extensions: list(head, "sec-websocket-extensions"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_accept_key() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    fn req(lines: &[&str]) -> String {
        let mut s = lines.join("\r\n");
        s.push_str("\r\n\r\n");
        s
    }

    const GOOD: &[&str] = &[
        "GET /chat HTTP/1.1",
        "Host: server.example.com",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Origin: http://example.com",
        "Sec-WebSocket-Protocol: chat, superchat",
        "Sec-WebSocket-Version: 13",
    ];

    fn validate(lines: &[&str]) -> Result<HandshakeRequest, HandshakeError> {
        validate_request(&RequestHead::parse(req(lines).as_bytes()).expect("parses"))
    }

    /// GOOD with the line `replace` (a whole line, or a header name) replaced or removed.
    fn with(replace: &str, by: Option<&str>) -> Vec<String> {
        GOOD.iter()
            .filter_map(|l| {
                let same_header = l.contains(':') && l.split(':').next() == Some(replace);
                if same_header || *l == replace {
                    by.map(str::to_owned)
                } else {
                    Some((*l).to_owned())
                }
            })
            .collect()
    }

    fn v(lines: Vec<String>) -> Result<HandshakeRequest, HandshakeError> {
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        validate(&refs)
    }

    #[test]
    fn accepts_the_rfc_example() {
        let r = validate(GOOD).unwrap();
        assert_eq!(r.accept_key(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(r.protocols(), ["chat", "superchat"]);
        let resp = r.response(Some("chat"), vec![("X-Extra".into(), "1".into())]);
        assert_eq!(resp.status, 101);
        let get = |n: &str| {
            resp.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.to_string())
        };
        assert_eq!(get("upgrade").as_deref(), Some("websocket"));
        assert_eq!(get("connection").as_deref(), Some("Upgrade"));
        assert_eq!(
            get("sec-websocket-accept").as_deref(),
            Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        );
        assert_eq!(get("sec-websocket-protocol").as_deref(), Some("chat"));
        assert_eq!(get("x-extra").as_deref(), Some("1"));
        // A protocol the client did not offer is left out.
        let resp = r.response(Some("other"), vec![]);
        assert!(!resp
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("sec-websocket-protocol")));
    }

    #[test]
    fn lenient_forms_are_accepted() {
        let lines = with("Connection", Some("connection: keep-alive, UPGRADE"));
        let mut lines: Vec<String> = lines
            .into_iter()
            .map(|l| {
                if l.starts_with("Upgrade") {
                    "UPGRADE:  WebSocket ".into()
                } else {
                    l
                }
            })
            .collect();
        lines.push("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits".into());
        let r = v(lines).unwrap();
        assert_eq!(
            r.extensions(),
            ["permessage-deflate; client_max_window_bits"]
        );
    }

    #[test]
    fn rejections_400_and_426() {
        let cases: Vec<(Vec<String>, HandshakeError, u16)> = vec![
            (
                with("GET /chat HTTP/1.1", Some("POST /chat HTTP/1.1")),
                HandshakeError::NotGet,
                400,
            ),
            (
                with("GET /chat HTTP/1.1", Some("GET /chat HTTP/1.0")),
                HandshakeError::NotHttp11,
                400,
            ),
            (with("Upgrade", None), HandshakeError::MissingUpgrade, 400),
            (
                with("Upgrade", Some("Upgrade: h2c")),
                HandshakeError::MissingUpgrade,
                400,
            ),
            (
                with("Connection", Some("Connection: keep-alive")),
                HandshakeError::MissingConnectionUpgrade,
                400,
            ),
            (
                with("Sec-WebSocket-Key", None),
                HandshakeError::MissingKey,
                400,
            ),
            (
                with("Sec-WebSocket-Key", Some("Sec-WebSocket-Key: c2hvcnQ=")),
                HandshakeError::InvalidKey,
                400,
            ),
            (
                with(
                    "Sec-WebSocket-Key",
                    Some("Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!=="),
                ),
                HandshakeError::InvalidKey,
                400,
            ),
            (
                with(
                    "Sec-WebSocket-Key",
                    Some("Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAAAAA=="),
                ),
                HandshakeError::InvalidKey,
                400,
            ),
            (
                with("Sec-WebSocket-Version", None),
                HandshakeError::MissingVersion,
                426,
            ),
            (
                with("Sec-WebSocket-Version", Some("Sec-WebSocket-Version: 8")),
                HandshakeError::UnsupportedVersion,
                426,
            ),
        ];
        for (lines, want, status) in cases {
            let e = v(lines.clone()).expect_err(&format!("{lines:?}"));
            assert_eq!(e, want);
            assert_eq!(e.status(), status);
            let (head, body) = e.response();
            assert_eq!(head.status, status);
            assert!(body.contains(&e.to_string()));
            let has_version = head
                .headers
                .iter()
                .any(|(k, v)| k.eq_ignore_ascii_case("sec-websocket-version") && v == "13");
            assert_eq!(has_version, status == 426);
        }
        // Two keys.
        let mut lines = with("Host", Some("Host: a"));
        lines.push("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==".into());
        assert_eq!(v(lines), Err(HandshakeError::InvalidKey));
    }
}
