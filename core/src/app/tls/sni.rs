//! The server name (SNI) a client asked for, learnt while rustls chooses the certificate.
//!
//! rustls's unbuffered server connection does not expose the name it received, but it
//! asks the configuration's certificate resolver for a certificate with the ClientHello
//! in hand. [`CaptureSni`] wraps that resolver and notes the name in a thread-local slot:
//! the resolver runs inside `process_tls_records`, on the thread and within the call
//! that the TLS transport makes, so the transport takes the name right after the call
//! and no other connection can have written the slot in between.

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::cell::RefCell;
use std::sync::Arc;

thread_local! {
    /// The name seen by the last resolver call on this thread, not yet taken.
    static SEEN: RefCell<Option<Box<str>>> = const { RefCell::new(None) };
}

/// A certificate resolver that notes the client's server name, then asks the real one.
#[derive(Debug)]
pub(crate) struct CaptureSni(pub Arc<dyn ResolvesServerCert>);

impl ResolvesServerCert for CaptureSni {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name().map(Box::from);
        SEEN.with(|s| *s.borrow_mut() = name);
        self.0.resolve(hello)
    }

    fn only_raw_public_keys(&self) -> bool {
        self.0.only_raw_public_keys()
    }
}

/// Forgets a name left by an earlier call (before processing a ClientHello).
pub(crate) fn clear() {
    SEEN.with(|s| s.borrow_mut().take());
}

/// Takes the name noted since the last [`clear`], if any.
pub(crate) fn take() -> Option<Box<str>> {
    SEEN.with(|s| s.borrow_mut().take())
}
