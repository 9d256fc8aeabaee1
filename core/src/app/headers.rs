//! Header names as lowercase constants, for `get_request_header` / `set_response_header`.
#![allow(missing_docs)]

pub const ACCEPT: &str = "accept";
pub const ACCEPT_RANGES: &str = "accept-ranges";
pub const ACCESS_CONTROL_ALLOW_ORIGIN: &str = "access-control-allow-origin";
pub const ALLOW: &str = "allow";
pub const CACHE_CONTROL: &str = "cache-control";
pub const CONNECTION: &str = "connection";
pub const CONTENT_LENGTH: &str = "content-length";
pub const CONTENT_RANGE: &str = "content-range";
pub const CONTENT_TYPE: &str = "content-type";
pub const COOKIE: &str = "cookie";
pub const DATE: &str = "date";
pub const ETAG: &str = "etag";
pub const HOST: &str = "host";
pub const IF_MODIFIED_SINCE: &str = "if-modified-since";
pub const IF_NONE_MATCH: &str = "if-none-match";
pub const IF_RANGE: &str = "if-range";
pub const LAST_MODIFIED: &str = "last-modified";
pub const LOCATION: &str = "location";
pub const ORIGIN: &str = "origin";
pub const RANGE: &str = "range";
pub const SERVER: &str = "server";
pub const SET_COOKIE: &str = "set-cookie";
pub const TRANSFER_ENCODING: &str = "transfer-encoding";
pub const UPGRADE: &str = "upgrade";
pub const USER_AGENT: &str = "user-agent";
pub const SEC_WEBSOCKET_ACCEPT: &str = "sec-websocket-accept";
pub const SEC_WEBSOCKET_EXTENSIONS: &str = "sec-websocket-extensions";
pub const SEC_WEBSOCKET_KEY: &str = "sec-websocket-key";
pub const SEC_WEBSOCKET_PROTOCOL: &str = "sec-websocket-protocol";
pub const SEC_WEBSOCKET_VERSION: &str = "sec-websocket-version";

/// Common content types.
pub const TEXT_PLAIN: &str = "text/plain; charset=utf-8";
pub const TEXT_HTML: &str = "text/html; charset=utf-8";
pub const TEXT_EVENT_STREAM: &str = "text/event-stream";
pub const APPLICATION_JSON: &str = "application/json";
