//! [`OutQueue`]: the bytes a state machine wants written, kept as a list of buffers so a
//! driver can hand them to one vectored write (`writev`).
//!
//! Small pieces (status lines, headers, frame headers, small payloads) are appended to one
//! growing tail buffer, so a burst of small messages becomes one contiguous slice; large
//! payloads are queued as their own [`Bytes`] without being copied.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use std::collections::VecDeque;
use std::io::IoSlice;

/// Payloads at least this long are queued by reference instead of copied into the tail.
pub const COPY_THRESHOLD: usize = 1024;

/// First allocation of the tail buffer.
pub const INITIAL_TAIL: usize = 1024;

/// A queue of bytes to write, in order.
#[derive(Debug, Default)]
pub struct OutQueue {
    /// Buffers queued before `tail`, oldest first.
    front: VecDeque<Bytes>,
    /// The newest bytes, where small writes accumulate.
    tail: BytesMut,
    /// Total bytes queued.
    len: usize,
}

impl OutQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of bytes waiting to be written.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is waiting to be written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends a copy of `data`.
    pub fn extend_from_slice(&mut self, data: &[u8]) {
        self.reserve_tail(data.len());
        self.tail.extend_from_slice(data);
        self.len += data.len();
    }

    /// Appends a copy of each of `parts`, in order (for example a frame header and its
    /// payload), reserving room for all of them at once.
    pub fn extend_from_slices(&mut self, parts: &[&[u8]]) {
        let total = parts.iter().map(|p| p.len()).sum();
        self.reserve_tail(total);
        for p in parts {
            self.tail.extend_from_slice(p);
        }
        self.len += total;
    }

    /// Makes room for `additional` bytes in the tail. A tail without memory (a new or
    /// idle queue) starts at [`INITIAL_TAIL`] bytes, so a burst of small writes costs one
    /// allocation instead of a chain of doublings.
    fn reserve_tail(&mut self, additional: usize) {
        if self.tail.capacity() == 0 {
            self.tail = BytesMut::with_capacity(additional.max(INITIAL_TAIL));
        } else {
            self.tail.reserve(additional);
        }
    }

    /// Appends `data`, copying it only when it is small.
    pub fn push(&mut self, data: Bytes) {
        if data.len() < COPY_THRESHOLD {
            self.extend_from_slice(&data);
            return;
        }
        self.seal_tail();
        self.len += data.len();
        self.front.push_back(data);
    }

    /// Runs `f` on the tail buffer so a caller can encode into it in place; the bytes `f`
    /// appends are queued.
    pub fn with_tail<R>(&mut self, f: impl FnOnce(&mut BytesMut) -> R) -> R {
        self.reserve_tail(0);
        let before = self.tail.len();
        let r = f(&mut self.tail);
        self.len += self.tail.len() - before;
        r
    }

    /// Moves the tail into the list of sealed buffers, so later pushes go after it.
    fn seal_tail(&mut self) {
        if !self.tail.is_empty() {
            self.front.push_back(self.tail.split().freeze());
        }
    }

    /// How many buffers hold the queued bytes (what [`OutQueue::io_slices`] would fill).
    pub fn buffers(&self) -> usize {
        self.front.len() + usize::from(!self.tail.is_empty())
    }

    /// Fills `dst` with slices of the queued bytes, oldest first; returns how many it filled.
    pub fn io_slices<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for b in &self.front {
            if n == dst.len() {
                return n;
            }
            dst[n] = IoSlice::new(b);
            n += 1;
        }
        if n < dst.len() && !self.tail.is_empty() {
            dst[n] = IoSlice::new(&self.tail);
            n += 1;
        }
        n
    }

    /// The oldest contiguous piece of queued bytes (empty when nothing is queued).
    pub fn first_chunk(&self) -> &[u8] {
        match self.front.front() {
            Some(b) => b,
            None => &self.tail,
        }
    }

    /// Drops the first `n` queued bytes, after a write accepted them.
    ///
    /// # Panics
    /// If `n` is more than [`OutQueue::len`]: that is a bug in the caller.
    pub fn advance(&mut self, mut n: usize) {
        assert!(n <= self.len, "OutQueue::advance past the end");
        self.len -= n;
        while n > 0 {
            match self.front.front_mut() {
                Some(b) if b.len() <= n => {
                    n -= b.len();
                    self.front.pop_front();
                }
                Some(b) => {
                    b.advance(n);
                    return;
                }
                None => {
                    self.tail.advance(n);
                    n = 0;
                }
            }
        }
        if self.len == 0 && self.tail.capacity() > 64 * 1024 {
            // Do not keep a large buffer alive on an idle connection.
            self.tail = BytesMut::new();
        }
    }

    /// Frees the buffers' memory if nothing is queued (for idle connections).
    pub fn release_idle(&mut self) {
        if self.len == 0 {
            if self.tail.capacity() > 0 {
                self.tail = BytesMut::new();
            }
            if self.front.capacity() > 0 {
                self.front = VecDeque::new();
            }
        }
    }

    /// Takes the tail buffer's memory when nothing is queued, for a caller that keeps spare
    /// buffers (see [`OutQueue::provide_tail`]); `None` when there is none to take.
    pub fn take_idle_tail(&mut self) -> Option<BytesMut> {
        if self.len != 0 || self.tail.capacity() == 0 {
            return None;
        }
        if self.front.capacity() > 0 {
            self.front = VecDeque::new();
        }
        Some(std::mem::take(&mut self.tail))
    }

    /// Gives the tail memory from `make`, if it has none (`make` is not called otherwise).
    /// The contents of the buffer `make` returns are discarded.
    pub fn provide_tail(&mut self, make: impl FnOnce() -> BytesMut) {
        provide_memory(&mut self.tail, make);
    }

    /// Moves every queued byte into one contiguous buffer (for tests and simple drivers).
    pub fn take_all(&mut self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len);
        for b in self.front.drain(..) {
            out.put_slice(&b);
        }
        out.put_slice(&self.tail);
        self.tail.clear();
        self.len = 0;
        out
    }
}

/// Gives `slot` the memory of the (emptied) buffer `make` returns, if it has none; `make`
/// is not called otherwise. For buffers that a caller keeps between uses.
pub(crate) fn provide_memory(slot: &mut BytesMut, make: impl FnOnce() -> BytesMut) {
    if slot.capacity() == 0 {
        let mut buf = make();
        buf.clear();
        *slot = buf;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gather(q: &OutQueue) -> Vec<u8> {
        let mut slices = [IoSlice::new(&[]); 16];
        let n = q.io_slices(&mut slices);
        slices[..n].iter().flat_map(|s| s.iter().copied()).collect()
    }

    #[test]
    fn keeps_order_across_small_and_large_pushes() {
        let mut q = OutQueue::new();
        q.extend_from_slice(b"head");
        let big = Bytes::from(vec![7u8; 4096]);
        q.push(big.clone());
        q.push(Bytes::from_static(b"small"));
        let mut want = b"head".to_vec();
        want.extend_from_slice(&big);
        want.extend_from_slice(b"small");
        assert_eq!(q.len(), want.len());
        assert_eq!(gather(&q), want);
        // Advance across every boundary and check what remains.
        for cut in [1usize, 3, 4, 5, 4100, want.len()] {
            let mut q2 = OutQueue::new();
            q2.extend_from_slice(b"head");
            q2.push(big.clone());
            q2.push(Bytes::from_static(b"small"));
            q2.advance(cut);
            assert_eq!(gather(&q2), want[cut..].to_vec(), "cut {cut}");
            assert_eq!(q2.len(), want.len() - cut);
        }
    }

    #[test]
    fn a_given_tail_is_used_and_taken_back_only_when_idle() {
        let mut q = OutQueue::new();
        assert!(q.take_idle_tail().is_none(), "no memory to take");
        let mut spare = BytesMut::with_capacity(4096);
        spare.extend_from_slice(b"stale");
        let at = spare.as_ptr();
        q.provide_tail(|| spare);
        q.extend_from_slice(b"abc");
        assert_eq!(q.first_chunk(), b"abc", "stale contents are discarded");
        assert_eq!(q.first_chunk().as_ptr(), at, "the given memory is used");
        assert!(q.take_idle_tail().is_none(), "bytes are queued");
        q.advance(3);
        let back = q.take_idle_tail().expect("idle: the tail is taken");
        assert!(back.capacity() > 0);
        assert!(q.take_idle_tail().is_none());
        // A queue that already has a tail keeps it.
        q.extend_from_slice(b"x");
        let own = q.first_chunk().as_ptr();
        q.provide_tail(|| unreachable!("the queue has a tail"));
        q.extend_from_slice(b"y");
        assert_eq!(q.first_chunk().as_ptr(), own);
        assert_eq!(q.take_all(), b"xy");
    }

    #[test]
    fn with_tail_counts_bytes() {
        let mut q = OutQueue::new();
        q.with_tail(|b| b.extend_from_slice(b"abc"));
        assert_eq!(q.len(), 3);
        assert_eq!(q.first_chunk(), b"abc");
        assert_eq!(q.take_all(), b"abc");
        assert!(q.is_empty());
    }
}
