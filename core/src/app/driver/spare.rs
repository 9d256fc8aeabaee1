//! Spares kept per worker thread for HTTP exchanges: the byte buffers a connection reads a
//! request into and writes its response from, and an emptied request context with the
//! protocol's header index.
//!
//! Rules:
//! - a connection going idle gives its empty buffers and its spare context back here
//!   rather than freeing them, and takes them from here when input arrives, so a
//!   keep-alive exchange allocates none of them, while an idle connection holds none;
//! - only buffers of a useful size whose whole memory is free again (no request head or
//!   body still shares it) are kept, and at most [`KEPT`] of each kind per thread, so the
//!   memory kept is bounded whatever the load;
//! - a kept context still points at the connection it last served (whose shared state,
//!   already closed if that connection ended, lives on until the context is reused or
//!   dropped): bounded by the same [`KEPT`].

use crate::app::context::Context;
use bytes::BytesMut;
use std::cell::RefCell;

/// The size of a new buffer.
const SIZE: usize = 4096;
/// A kept buffer has at least this much room (more is reclaimed by `reserve` once the
/// memory before it is free).
const ROOM: usize = 512;
/// Buffers larger than this are freed rather than kept.
const LARGEST: usize = 4 * SIZE;
/// Most buffers, and most contexts, kept per thread.
const KEPT: usize = 32;

/// An emptied context (see `Context::recycle`) and a header index for the next head.
pub(super) type Exchange = (Context, Vec<[u32; 4]>);

/// What one thread keeps.
pub(super) struct Spares {
    buffers: Vec<BytesMut>,
    exchanges: Vec<Exchange>,
}

thread_local! {
    static SPARES: RefCell<Spares> = const {
        RefCell::new(Spares {
            buffers: Vec::new(),
            exchanges: Vec::new(),
        })
    };
}

/// Runs `f` on this thread's spares (one access for all a connection gives or takes).
pub(super) fn with<R>(f: impl FnOnce(&mut Spares) -> R) -> R {
    SPARES.with(|s| f(&mut s.borrow_mut()))
}

impl Spares {
    /// A kept buffer (empty, with at least [`ROOM`] bytes of room), or a new one.
    pub(super) fn buffer(&mut self) -> BytesMut {
        self.buffers
            .pop()
            .unwrap_or_else(|| BytesMut::with_capacity(SIZE))
    }

    /// Keeps `buf` for a later [`Spares::buffer`], if it is worth keeping and there is room.
    pub(super) fn keep_buffer(&mut self, mut buf: BytesMut) {
        buf.clear();
        // Room is reclaimed only when little is left: `reserve` does it anyway when the
        // buffer fills, and `try_reclaim` fails (copying nothing) while a request head or
        // body still shares the memory before it.
        let room = buf.capacity();
        if room > LARGEST || (room < ROOM && !buf.try_reclaim(SIZE)) {
            return;
        }
        if self.buffers.len() < KEPT {
            self.buffers.push(buf);
        }
    }

    /// A kept context and header index, if there is one.
    pub(super) fn exchange(&mut self) -> Option<Exchange> {
        self.exchanges.pop()
    }

    /// Keeps an emptied context and a header index for a later [`Spares::exchange`], if
    /// there is room; otherwise gives them back, for the caller to drop outside this
    /// borrow (a context's drop may reach code that uses the spares).
    #[must_use]
    pub(super) fn keep_exchange(&mut self, exchange: Exchange) -> Option<Exchange> {
        if self.exchanges.len() < KEPT {
            self.exchanges.push(exchange);
            return None;
        }
        Some(exchange)
    }
}

/// Frees the spares the calling thread keeps between requests (at most 32 buffers of 4
/// to 16 KiB, and 32 request contexts). Servers need not call it: it is for a thread that
/// will serve no more connections, or for measuring memory.
pub fn release_spare_buffers() {
    let kept = with(|s| {
        (
            std::mem::take(&mut s.buffers),
            std::mem::take(&mut s.exchanges),
        )
    });
    // Dropped outside the borrow: a context's drop may run arbitrary code.
    drop(kept);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_buffer_is_taken_again_and_shared_or_large_ones_are_not_kept() {
        // Each test runs on its own thread: the spares start empty.
        let mut b = with(Spares::buffer);
        assert!(b.capacity() >= SIZE);
        b.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
        let at = b.as_ptr();
        with(|s| s.keep_buffer(b));
        let again = with(Spares::buffer);
        assert_eq!(again.as_ptr(), at, "the kept buffer comes back");
        assert!(again.is_empty());

        // Little room left while the memory before it is shared with a head: not kept.
        let mut shared = again;
        shared.resize(SIZE - ROOM / 2, b'x');
        let head = shared.split_to(SIZE - ROOM / 2).freeze();
        with(|s| s.keep_buffer(shared));
        assert_ne!(with(Spares::buffer).as_ptr(), at);
        drop(head);

        // The same once the head is gone: its room is reclaimed and it is kept.
        let mut b = BytesMut::with_capacity(SIZE);
        b.resize(SIZE - ROOM / 2, b'y');
        let head = b.split_to(SIZE - ROOM / 2).freeze();
        drop(head);
        with(|s| s.keep_buffer(b));
        assert!(with(Spares::buffer).capacity() >= SIZE);

        // Large buffers are not kept, and the spares are bounded.
        with(|s| s.keep_buffer(BytesMut::with_capacity(LARGEST + 1)));
        assert_eq!(with(|s| s.buffers.len()), 0);
        for _ in 0..KEPT + 8 {
            with(|s| s.keep_buffer(BytesMut::with_capacity(SIZE)));
        }
        assert_eq!(with(|s| s.buffers.len()), KEPT);
        release_spare_buffers();
        assert_eq!(with(|s| s.buffers.len()), 0);
    }
}
