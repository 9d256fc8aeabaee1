//! Runtime-free waiting for handlers: they run on whatever runtime the harness provides,
//! so they must not use tokio's (or any runtime's) timers.

use std::future::{poll_fn, Future};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::Duration;

/// A latch: starts closed, opens once, and wakes everything waiting on it. Cheap to
/// clone; clones share the latch.
#[derive(Clone, Default)]
pub struct Gate {
    inner: Arc<GateInner>,
}

#[derive(Default)]
struct GateInner {
    open: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("open", &self.is_open())
            .finish()
    }
}

impl Gate {
    /// A closed gate.
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens the gate (idempotent).
    pub fn open(&self) {
        self.inner.open.store(true, Ordering::Release);
        let wakers = std::mem::take(&mut *self.inner.wakers.lock().unwrap());
        for w in wakers {
            w.wake();
        }
    }

    /// Whether the gate is open.
    pub fn is_open(&self) -> bool {
        self.inner.open.load(Ordering::Acquire)
    }

    /// Waits until the gate is open.
    pub fn wait(&self) -> impl Future<Output = ()> + Send + '_ {
        poll_fn(move |cx| {
            if self.is_open() {
                return Poll::Ready(());
            }
            self.inner.wakers.lock().unwrap().push(cx.waker().clone());
            if self.is_open() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }

    /// Waits (on the client side) until the gate is open, at most `limit`; whether it
    /// opened.
    pub async fn wait_for(&self, limit: Duration) -> bool {
        tokio::time::timeout(limit, self.wait()).await.is_ok()
    }
}

/// Sleeps `d` without any runtime: a helper thread opens a [`Gate`] when time is up.
pub async fn sleep(d: Duration) {
    let gate = Gate::new();
    let g = gate.clone();
    std::thread::spawn(move || {
        std::thread::sleep(d);
        g.open();
    });
    gate.wait().await
}

/// Polls `cond` every 10 ms until it holds, at most `limit`; whether it held.
pub async fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
