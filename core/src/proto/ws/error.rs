//! Errors: [`WsError`] for what the peer did wrong (each carries the close code we send), and
//! [`WsUsageError`] for misuse of the API by the application.

use super::close::CloseCode;
use std::fmt;

/// A violation of RFC 6455 by the peer (or a limit it exceeded, or its silence). The
/// connection is failed: we send a close frame with [`WsError::close_code`] (when we have not
/// sent one yet) and finish without waiting for the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WsError {
    /// A client frame without the MASK bit (RFC 6455 §5.1). 1002.
    UnmaskedFrame,
    /// One of RSV1..RSV3 set while no extension was negotiated (§5.2). 1002.
    ReservedBits,
    /// Opcode 0x3-0x7 or 0xB-0xF (§5.2). 1002.
    ReservedOpcode(u8),
    /// A control frame with a payload over 125 bytes (§5.5). 1002.
    ControlTooLong,
    /// A control frame without FIN (§5.5). 1002.
    FragmentedControl,
    /// A continuation frame while no fragmented message was in progress (§5.4). 1002.
    UnexpectedContinuation,
    /// A new text/binary frame while a fragmented message was in progress (§5.4). 1002.
    ExpectedContinuation,
    /// A 64-bit payload length with its most significant bit set (§5.2). 1002.
    LengthOverflow,
    /// A payload length not encoded in the minimal number of bytes (§5.2). 1002.
    NonMinimalLength,
    /// A frame payload over [`WsLimits::max_frame_size`](crate::proto::WsLimits). 1009.
    FrameTooLarge,
    /// A message over [`WsLimits::max_message_size`](crate::proto::WsLimits), summed over
    /// its fragments. 1009.
    MessageTooLarge,
    /// A message in more frames than [`WsLimits::max_fragments`](crate::proto::WsLimits). 1009.
    TooManyFragments,
    /// A text message that is not valid UTF-8 (detected as early as possible). 1007.
    InvalidUtf8,
    /// A close frame whose status code may not appear on the wire (§7.4). 1002.
    InvalidCloseCode(u16),
    /// A close frame with a 1-byte payload (§5.5.1). 1002.
    InvalidClosePayload,
    /// A close frame whose reason is not valid UTF-8 (§5.5.1). 1007.
    InvalidCloseReason,
    /// A compressed message (permessage-deflate) whose payload is not valid DEFLATE data.
    /// 1007.
    InvalidCompressedData,
    /// The peer sent nothing at all for [`WsLimits::idle_timeout`](crate::proto::WsLimits). 1001.
    IdleTimeout,
}

impl WsError {
    /// The close code we send for this error.
    pub fn close_code(&self) -> CloseCode {
        use WsError::*;
        match self {
            FrameTooLarge | MessageTooLarge | TooManyFragments => CloseCode::TOO_BIG,
            InvalidUtf8 | InvalidCloseReason | InvalidCompressedData => CloseCode::INVALID_PAYLOAD,
            IdleTimeout => CloseCode::GOING_AWAY,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

impl fmt::Display for WsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use WsError::*;
        match self {
            UnmaskedFrame => f.write_str("client frame not masked"),
            ReservedBits => f.write_str("reserved bits set"),
            ReservedOpcode(op) => write!(f, "reserved opcode {op:#x}"),
            ControlTooLong => f.write_str("control frame payload over 125 bytes"),
            FragmentedControl => f.write_str("fragmented control frame"),
            UnexpectedContinuation => f.write_str("continuation frame without a message"),
            ExpectedContinuation => f.write_str("new data frame inside a fragmented message"),
            LengthOverflow => f.write_str("64-bit payload length with the top bit set"),
            NonMinimalLength => f.write_str("payload length not minimally encoded"),
            FrameTooLarge => f.write_str("frame too large"),
            MessageTooLarge => f.write_str("message too large"),
            TooManyFragments => f.write_str("too many fragments"),
            InvalidUtf8 => f.write_str("invalid UTF-8 in text message"),
            InvalidCompressedData => f.write_str("invalid compressed data"),
            InvalidCloseCode(c) => write!(f, "invalid close code {c}"),
            InvalidClosePayload => f.write_str("close frame payload of 1 byte"),
            InvalidCloseReason => f.write_str("invalid UTF-8 in close reason"),
            IdleTimeout => f.write_str("idle timeout"),
        }
    }
}

impl std::error::Error for WsError {}

/// A command the connection cannot carry out in its current state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WsUsageError {
    /// We already sent a close frame (or the connection is finished): nothing more may be sent.
    Closed,
    /// A ping/pong payload over 125 bytes.
    ControlTooLong,
    /// [`WsConnection::close`](super::WsConnection::close) with a code that may not be sent
    /// (1004-1006, 1015, and codes outside 1000-4999 other than the registered ones).
    InvalidCloseCode(u16),
}

impl fmt::Display for WsUsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WsUsageError::Closed => f.write_str("the WebSocket connection is closing or closed"),
            WsUsageError::ControlTooLong => f.write_str("control frame payload over 125 bytes"),
            WsUsageError::InvalidCloseCode(c) => write!(f, "close code {c} may not be sent"),
        }
    }
}

impl std::error::Error for WsUsageError {}

impl From<super::deflate::InflateError> for WsError {
    fn from(e: super::deflate::InflateError) -> Self {
        match e {
            super::deflate::InflateError::Corrupt => WsError::InvalidCompressedData,
            super::deflate::InflateError::TooLarge => WsError::MessageTooLarge,
        }
    }
}
