//! Fuzzes the WebSocket handshake: raw bytes parsed as a request head, then validated; the
//! 101 response or the refusal is built. No panic; an accepted key is always 24 base64
//! characters and its accept value 28.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wirelane_core::proto::http::RequestHead;
use wirelane_core::proto::ws::{accept_key, validate_request};

fuzz_target!(|data: &[u8]| {
    assert_eq!(accept_key(data).len(), 28);
    if let Ok(head) = RequestHead::parse(data) {
        match validate_request(&head) {
            Ok(req) => {
                assert_eq!(req.key().len(), 24);
                assert_eq!(req.accept_key().len(), 28);
                let chosen = req.protocols().first().cloned();
                let resp = req.response(chosen.as_deref(), Vec::new());
                assert_eq!(resp.status, 101);
            }
            Err(e) => {
                let (head, body) = e.response();
                assert!(head.status == 400 || head.status == 426);
                assert!(!body.is_empty());
            }
        }
    }
});
