//! Close status codes (RFC 6455 §7.4) and the close frame payload.

use super::error::WsError;
use std::fmt;

/// A close status code.
///
/// Which codes may appear on the wire ([`CloseCode::is_valid_on_wire`]): 1000-1003,
/// 1007-1014 (1012-1014 are registered with IANA: service restart, try again later, bad
/// gateway) and 3000-4999 (libraries and applications). Everything else is rejected with
/// 1002: below 1000, 1004 (reserved), 1005 and 1006 (never sent, they describe a missing
/// status / an abnormal closure locally), 1015 (TLS failure, never sent), 1016-2999
/// (reserved for the protocol), 5000 and up. This is what the Autobahn test suite
/// expects (cases 7.7.x accept, 7.9.x reject).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: normal closure.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the endpoint is going away (server shutdown, idle timeout, page navigation).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: protocol error.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: a kind of data the endpoint cannot accept.
    pub const UNSUPPORTED: CloseCode = CloseCode(1003);
    /// 1005: no status code was present (never sent on the wire).
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1006: the connection closed without a close frame (never sent on the wire).
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: data inconsistent with the message type (invalid UTF-8 in text).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: a message that violates the endpoint's policy.
    pub const POLICY: CloseCode = CloseCode(1008);
    /// 1009: a message too big to process.
    pub const TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: the client expected an extension the server did not negotiate.
    pub const EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: an unexpected condition on the server.
    pub const INTERNAL: CloseCode = CloseCode(1011);

    /// Whether this code may appear in a close frame (RFC 6455 §7.4, IANA registry).
    pub fn is_valid_on_wire(&self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<u16> for CloseCode {
    fn from(v: u16) -> Self {
        CloseCode(v)
    }
}

/// The payload of a close frame that carried a status code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code.
    pub code: CloseCode,
    /// The reason, possibly empty (at most 123 bytes of UTF-8 on the wire).
    pub reason: String,
}

/// Largest close reason that fits a control frame with the 2-byte code.
pub const MAX_CLOSE_REASON: usize = 123;

/// Decodes a received close frame payload: `None` for an empty payload (no status).
pub fn parse_close_payload(payload: &[u8]) -> Result<Option<CloseFrame>, WsError> {
    match payload.len() {
        0 => Ok(None),
        1 => Err(WsError::InvalidClosePayload),
        _ => {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            if !CloseCode(code).is_valid_on_wire() {
                return Err(WsError::InvalidCloseCode(code));
            }
            let reason = std::str::from_utf8(&payload[2..])
                .map_err(|_| WsError::InvalidCloseReason)?
                .to_owned();
            Ok(Some(CloseFrame {
                code: CloseCode(code),
                reason,
            }))
        }
    }
}

/// `reason` cut to at most [`MAX_CLOSE_REASON`] bytes, at a char boundary.
pub fn truncate_reason(reason: &str) -> &str {
    if reason.len() <= MAX_CLOSE_REASON {
        return reason;
    }
    let mut end = MAX_CLOSE_REASON;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_validity_matches_autobahn() {
        for ok in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999,
            4000, 4999,
        ] {
            assert!(CloseCode(ok).is_valid_on_wire(), "{ok}");
        }
        for bad in [
            0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            assert!(!CloseCode(bad).is_valid_on_wire(), "{bad}");
        }
    }

    #[test]
    fn parses_payloads() {
        assert_eq!(parse_close_payload(b""), Ok(None));
        assert_eq!(
            parse_close_payload(b"\x03"),
            Err(WsError::InvalidClosePayload)
        );
        assert_eq!(
            parse_close_payload(b"\x03\xe8bye"),
            Ok(Some(CloseFrame {
                code: CloseCode::NORMAL,
                reason: "bye".into()
            }))
        );
        assert_eq!(
            parse_close_payload(b"\x03\xedx"),
            Err(WsError::InvalidCloseCode(1005))
        );
        assert_eq!(
            parse_close_payload(b"\x03\xe8\xff"),
            Err(WsError::InvalidCloseReason)
        );
    }

    #[test]
    fn truncates_at_char_boundary() {
        let s = "é".repeat(100); // 200 bytes
        let t = truncate_reason(&s);
        assert_eq!(t.len(), 122);
        assert_eq!(truncate_reason("short"), "short");
        let a = "a".repeat(130);
        assert_eq!(truncate_reason(&a).len(), 123);
    }
}
