//! Spare byte buffers, kept per worker thread: the memory an HTTP connection reads a
//! request into and writes its response from.
//!
//! Rules:
//! - a connection going idle gives its empty buffers back here rather than freeing them,
//!   and takes buffers from here when input arrives, so a keep-alive exchange costs no
//!   allocation for them, while an idle connection still holds none;
//! - only buffers of a useful size whose whole memory is free again (no request head or
//!   body still shares it) are kept, and at most [`KEPT`] per thread, so the pool's memory
//!   is bounded whatever the load.

use bytes::BytesMut;
use std::cell::RefCell;

/// The size of a new buffer; also the room a kept buffer must have.
const SIZE: usize = 4096;
/// Buffers larger than this are freed rather than kept.
const LARGEST: usize = 4 * SIZE;
/// Most buffers kept per thread.
const KEPT: usize = 32;

thread_local! {
    static SPARE: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
}

/// A buffer with room for at least [`SIZE`] bytes: a kept one, or a new one.
pub(super) fn take() -> BytesMut {
    SPARE
        .with(|s| s.borrow_mut().pop())
        .unwrap_or_else(|| BytesMut::with_capacity(SIZE))
}

/// Keeps `buf` for a later [`take`], if it is worth keeping and there is room.
pub(super) fn give(mut buf: BytesMut) {
    buf.clear();
    // `try_reclaim` fails while another handle shares the memory (nothing is copied);
    // it is needed only when bytes were taken from the front.
    if buf.capacity() > LARGEST || (buf.capacity() < SIZE && !buf.try_reclaim(SIZE)) {
        return;
    }
    SPARE.with(|s| {
        let mut s = s.borrow_mut();
        if s.len() < KEPT {
            s.push(buf);
        }
    });
}

/// Frees the spare buffers the calling thread keeps between requests (at most 32 of 4 to
/// 16 KiB each). Servers need not call it: it is for a thread that will serve no more
/// connections, or for measuring memory.
pub fn release_spare_buffers() {
    SPARE.with(|s| *s.borrow_mut() = Vec::new());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_buffer_is_taken_again_and_shared_ones_are_not_kept() {
        // Each test runs on its own thread: the pool starts empty.
        let mut b = take();
        assert!(b.capacity() >= SIZE);
        b.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
        let at = b.as_ptr();
        give(b);
        let again = take();
        assert_eq!(again.as_ptr(), at, "the kept buffer comes back");
        assert!(again.is_empty());

        // Memory still shared with a head is not kept.
        let mut shared = again;
        shared.extend_from_slice(b"abc");
        let head = shared.split_to(3).freeze();
        give(shared);
        assert_ne!(take().as_ptr(), at);
        drop(head);

        // Nor is a large buffer, and the pool is bounded.
        give(BytesMut::with_capacity(LARGEST + 1));
        for _ in 0..KEPT + 8 {
            give(BytesMut::with_capacity(SIZE));
        }
        SPARE.with(|s| assert_eq!(s.borrow().len(), KEPT));
    }
}
