//! A decompression bomb is refused having allocated at most the message limit: this test
//! binary counts every allocation (its own global allocator) while one compressed frame of
//! about 32 KiB that would inflate to 32 MiB goes through a connection limited to 1 MiB.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use wirelane_core::proto::ws::deflate::Compressor;
use wirelane_core::proto::ws::*;
use wirelane_core::proto::WsLimits;

struct Counting;
static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let n = NOW.fetch_add(l.size(), Ordering::Relaxed) + l.size();
        PEAK.fetch_max(n, Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        NOW.fetch_sub(l.size(), Ordering::Relaxed);
        System.dealloc(p, l)
    }
}

#[global_allocator]
static A: Counting = Counting;

#[test]
fn bomb_allocates_at_most_the_limit() {
    let limit = 1 << 20;
    let bomb = Compressor::with_window(15, false, 1).compress(&vec![0u8; 32 << 20]);
    let mut input = Vec::new();
    encode_client_frame_rsv(true, 0b100, Opcode::Binary, &bomb, [1, 2, 3, 4], &mut input);
    let p = DeflateParams::negotiate(&["permessage-deflate"], &DeflateConfig::default()).unwrap();
    let mut c = WsConnection::new(
        WsConfig {
            limits: WsLimits::default().max_message_size(limit),
            ..WsConfig::default()
        },
        Instant::now(),
    );
    c.enable_deflate(p);
    let base = NOW.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    c.handle_input(&input, Instant::now());
    let events: Vec<WsEvent> = std::iter::from_fn(|| c.poll_event()).collect();
    assert!(
        matches!(
            events.as_slice(),
            [WsEvent::Error(WsError::MessageTooLarge), WsEvent::Closed]
        ),
        "{events:?}"
    );
    let peak = PEAK.load(Ordering::Relaxed) - base;
    // The message buffer (growth capped at the limit; while it moves, the old half is
    // still there), the input buffer holding the frame, and the inflater's own state.
    let bound = limit as usize * 3 / 2 + input.len() + 128 * 1024;
    assert!(peak <= bound, "peak {peak} > {bound}");
    eprintln!(
        "bomb: {} bytes in, peak {peak} bytes allocated (limit {limit})",
        input.len()
    );
}
