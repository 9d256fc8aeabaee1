//! [`Deadlines`]: the timers of all of a server's connections, kept in one ordered map and
//! served by one runtime timer in one background task.
//!
//! A connection always has a deadline (heartbeat, idle or request timeout), so a runtime
//! timer per connection would cost its memory for every idle connection (tokio's is
//! 256 bytes). Here a connection costs one map entry, and only while armed.
//!
//! Rules:
//! - a connection has at most one entry, keyed by (deadline, connection id), holding the
//!   waker of its driver;
//! - the task removes every entry whose deadline has passed and wakes its driver; the
//!   driver reads the clock to see that its deadline passed (a wake-up for any other
//!   reason looks the same to it, and is harmless);
//! - an entry is replaced only when the deadline moves earlier; a driver woken for a
//!   deadline that has since moved later simply arms again (deadlines mostly move later:
//!   every byte received pushes a heartbeat back, and that must cost nothing);
//! - the task sleeps until the earliest deadline; arming an earlier one wakes it;
//! - the task ends once the server is gone, or has shut down with no connection left.

use super::runtime::{Runtime, Timer};
use std::collections::BTreeMap;
use std::future::poll_fn;
use std::sync::{Mutex, MutexGuard, Weak};
use std::task::{Poll, Waker};
use std::time::Instant;

/// A connection's armed deadline, as the key of its entry.
pub(crate) type Armed = (Instant, u64);

/// The deadlines of one server's connections.
pub(crate) struct Deadlines {
    state: Mutex<State>,
}

struct State {
    entries: BTreeMap<Armed, Waker>,
    /// The task's waker, and the deadline it sleeps until (`None`: until woken).
    task: Option<Waker>,
    sleeping_until: Option<Instant>,
    /// Set when the task should end once nothing is armed (server shut down, drained).
    finished: bool,
}

impl Deadlines {
    pub(crate) fn new() -> Self {
        Deadlines {
            state: Mutex::new(State {
                entries: BTreeMap::new(),
                task: None,
                sleeping_until: None,
                finished: false,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Arms a deadline for connection `id`; `waker` is woken once it has passed.
    /// [`Deadlines::disarm`] takes the same `(deadline, id)`.
    pub(crate) fn arm(&self, deadline: Instant, id: u64, waker: &Waker) {
        let mut st = self.lock();
        st.entries.insert((deadline, id), waker.clone());
        if st.sleeping_until.is_none_or(|t| deadline < t) {
            st.sleeping_until = Some(deadline);
            if let Some(w) = &st.task {
                w.wake_by_ref();
            }
        }
    }

    /// Removes an armed deadline (nothing happens if it already fired).
    pub(crate) fn disarm(&self, key: Armed) {
        self.lock().entries.remove(&key);
    }

    /// The server has shut down and its last connection ended: the task may end.
    pub(crate) fn finish(&self) {
        let mut st = self.lock();
        st.finished = true;
        if let Some(w) = &st.task {
            w.wake_by_ref();
        }
    }

    /// Number of armed deadlines (for tests).
    pub(crate) fn armed(&self) -> usize {
        self.lock().entries.len()
    }
}

impl Drop for Deadlines {
    fn drop(&mut self) {
        // The task holds a weak reference: wake it so it sees that the server is gone.
        let st = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = st.task.take() {
            w.wake();
        }
    }
}

/// The background task that fires the deadlines of `deadlines` with one timer of `rt`.
pub(crate) async fn run<R: Runtime>(deadlines: Weak<Deadlines>, rt: R) {
    let mut timer: Option<R::Timer> = None;
    let mut due: Vec<Waker> = Vec::new();
    poll_fn(|cx| loop {
        let Some(d) = deadlines.upgrade() else {
            return Poll::Ready(());
        };
        let (next, done) = {
            let mut st = d.lock();
            if !st.task.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                st.task = Some(cx.waker().clone());
            }
            let now = R::now();
            while let Some(entry) = st.entries.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                due.push(entry.remove());
            }
            let done = st.finished && st.entries.is_empty();
            if done {
                st.task = None;
            }
            let next = st.entries.first_key_value().map(|(k, _)| k.0);
            st.sleeping_until = next;
            (next, done)
        };
        // Woken outside the lock: a driver on another thread may arm again at once.
        for w in due.drain(..) {
            w.wake();
        }
        if done {
            return Poll::Ready(());
        }
        let Some(next) = next else {
            return Poll::Pending; // `arm` wakes us
        };
        let t = match timer.as_mut() {
            Some(t) => {
                t.reset(next);
                t
            }
            None => timer.insert(rt.timer(next)),
        };
        if t.poll_elapsed(cx).is_pending() {
            return Poll::Pending;
        }
        // Already passed: fire it in the next turn of the loop.
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;
    use std::time::Duration;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn arming_an_earlier_deadline_wakes_the_task_and_disarm_removes() {
        let d = Deadlines::new();
        let task = Arc::new(Count(AtomicUsize::new(0)));
        d.lock().task = Some(Waker::from(task.clone()));
        let conn = Waker::from(Arc::new(Count(AtomicUsize::new(0))));
        let t0 = Instant::now();
        let late = (t0 + Duration::from_secs(10), 1);
        d.arm(late.0, late.1, &conn);
        assert_eq!(
            task.0.load(Ordering::SeqCst),
            1,
            "first deadline wakes the task"
        );
        d.arm(t0 + Duration::from_secs(20), 2, &conn);
        assert_eq!(task.0.load(Ordering::SeqCst), 1, "a later one does not");
        let early = (t0 + Duration::from_secs(5), 3);
        d.arm(early.0, early.1, &conn);
        assert_eq!(task.0.load(Ordering::SeqCst), 2, "an earlier one does");
        assert_eq!(d.armed(), 3);
        d.disarm(late);
        d.disarm(early);
        d.disarm(early);
        assert_eq!(d.armed(), 1);
    }
}
