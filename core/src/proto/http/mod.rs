//! HTTP/1.1 server connection (in progress).
