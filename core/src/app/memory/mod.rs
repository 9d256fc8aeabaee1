//! An in-memory [`Runtime`]: a deterministic single-threaded executor, a manual clock and
//! an in-memory network whose server-side streams can inject faults. Test handlers — and
//! the framework's own connection driver — without sockets, threads or sleeps.
//!
//! - [`MemRuntime`] runs spawned tasks only when the test says so
//!   ([`MemRuntime::run_until_idle`], [`MemRuntime::block_on`]), in the order they were
//!   woken, so a test is the same schedule every time.
//! - Time stands still until [`MemRuntime::advance`] moves it; every deadline the server
//!   computes starts from [`Runtime::now`], so a 60 s idle timeout costs nothing to test.
//! - [`MemRuntime::connect`] opens a connection to a server started on the runtime and
//!   gives the client end, a [`MemClient`]; the server end is a [`MemStream`], which
//!   misbehaves as its [`Faults`] say (one-byte reads and writes, `WouldBlock` storms,
//!   resets in the middle of a write...).
//!
//! The clock is per thread: [`Runtime::now`] takes no `self`, so the time lives in a
//! thread-local. The memory runtime runs everything on the thread that drives it, so its
//! tasks always read the clock the test moves; runtimes driven from the same thread share
//! that clock.
//!
//! ```
//! use wirelane_core::app::memory::MemRuntime;
//! use wirelane_core::app::{Context, Server};
//!
//! async fn hello(ctx: Context) {
//!     ctx.set_response_body("hi").await;
//! }
//!
//! let rt = MemRuntime::new();
//! let server = Server::with_runtime(rt.clone());
//! let handle = rt.block_on(async {
//!     server.port(80).await.route("/", hello).await;
//!     server.start().await.unwrap()
//! });
//! let client = rt.connect(handle.local_addr()).unwrap();
//! client.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
//! rt.run_until_idle();
//! let response = String::from_utf8(client.read_available()).unwrap();
//! assert!(response.starts_with("HTTP/1.1 200"));
//! assert!(response.ends_with("\r\n\r\nhi"));
//! ```

mod net;

pub use net::{Faults, MemClient, MemListener, MemStream, ShutdownFault, Storm, StormWake};

use super::runtime::{Runtime, Timer};
use net::Net;
use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context as TaskCx, Poll, Wake, Waker};
use std::time::{Duration, Instant};

thread_local! {
    /// The manual clock of this thread (set on first use, then moved only by `advance`).
    static CLOCK: Cell<Option<Instant>> = const { Cell::new(None) };
}

fn clock_now() -> Instant {
    CLOCK.with(|c| match c.get() {
        Some(t) => t,
        None => {
            // Any starting point will do: only differences between instants matter.
            let t = Instant::now();
            c.set(Some(t));
            t
        }
    })
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking test task must not turn every later lock into a second panic.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

struct TaskEntry {
    /// `None` while the task is being polled.
    future: Option<Task>,
    waker: Arc<TaskWaker>,
}

#[derive(Default)]
struct Exec {
    tasks: HashMap<u64, TaskEntry>,
    /// Woken tasks, in wake order.
    ready: VecDeque<u64>,
    next_id: u64,
}

struct Inner {
    exec: Mutex<Exec>,
    timers: Mutex<Vec<Weak<Mutex<TimerState>>>>,
    net: Arc<Mutex<Net>>,
    poll_budget: AtomicUsize,
}

/// The waker of one task: queues it once, however often it is woken before it runs.
struct TaskWaker {
    id: u64,
    queued: AtomicBool,
    /// Weak: tasks hold their own wakers (in timers, streams...), and a strong reference
    /// would keep the runtime alive through them.
    inner: Weak<Inner>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(inner) = self.inner.upgrade() {
            let mut exec = lock(&inner.exec);
            if !self.queued.swap(true, Ordering::SeqCst) {
                exec.ready.push_back(self.id);
            }
        }
    }
}

/// Wakes `block_on`'s own future.
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Polls more than this in one `run_until_idle` look like a livelock.
const DEFAULT_POLL_BUDGET: usize = 1_000_000;

/// A deterministic in-memory runtime: tasks run when the test drives them, time moves when
/// the test advances it, and connections are in-memory pipes (see the [module
/// docs](self)). Clones share the same executor, timers and network.
#[derive(Clone)]
pub struct MemRuntime {
    inner: Arc<Inner>,
}

impl Default for MemRuntime {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemRuntime")
            .field("tasks", &self.tasks())
            .field("now", &Self::now())
            .finish()
    }
}

impl MemRuntime {
    /// A runtime with no task, no timer and no listener.
    pub fn new() -> Self {
        MemRuntime {
            inner: Arc::new(Inner {
                exec: Mutex::new(Exec::default()),
                timers: Mutex::new(Vec::new()),
                net: Arc::new(Mutex::new(Net::default())),
                poll_budget: AtomicUsize::new(DEFAULT_POLL_BUDGET),
            }),
        }
    }

    /// The current time of this thread's manual clock (same as [`Runtime::now`]).
    pub fn now() -> Instant {
        clock_now()
    }

    /// Moves this thread's clock forward by `by` — possibly past many deadlines at once —
    /// and wakes the tasks waiting on every timer that is now due. Nothing runs until the
    /// next [`MemRuntime::run_until_idle`].
    pub fn advance(&self, by: Duration) {
        let now = CLOCK.with(|c| {
            let t = clock_now() + by;
            c.set(Some(t));
            t
        });
        let due: Vec<Waker> = {
            let mut timers = lock(&self.inner.timers);
            timers.retain(|t| t.strong_count() > 0);
            timers
                .iter()
                .filter_map(Weak::upgrade)
                .filter_map(|t| {
                    let mut st = lock(&t);
                    if st.deadline <= now {
                        st.waker.take()
                    } else {
                        None
                    }
                })
                .collect()
        };
        for w in due {
            w.wake();
        }
    }

    /// The earliest deadline of a timer that a task waits on, if any.
    pub fn next_timer(&self) -> Option<Instant> {
        lock(&self.inner.timers)
            .iter()
            .filter_map(Weak::upgrade)
            .filter_map(|t| {
                let st = lock(&t);
                st.waker.as_ref().map(|_| st.deadline)
            })
            .min()
    }

    /// Sets how many task polls one [`MemRuntime::run_until_idle`] may make before it
    /// panics, taking the schedule for a livelock (default one million).
    pub fn set_poll_budget(&self, polls: usize) {
        self.inner.poll_budget.store(polls, Ordering::Relaxed);
    }

    /// Tasks spawned and not yet finished (waiting or woken).
    pub fn tasks(&self) -> usize {
        lock(&self.inner.exec).tasks.len()
    }

    /// Polls woken tasks, in the order they were woken, until none is woken; returns the
    /// number of polls. Tasks waiting on a timer stay asleep until
    /// [`MemRuntime::advance`] makes it due.
    ///
    /// # Panics
    /// If a task panics (the panic goes on), or after more polls than the poll budget
    /// ([`MemRuntime::set_poll_budget`]): tasks that keep waking each other forever.
    pub fn run_until_idle(&self) -> usize {
        let budget = self.inner.poll_budget.load(Ordering::Relaxed);
        let mut polls = 0;
        loop {
            let next = {
                let mut exec = lock(&self.inner.exec);
                loop {
                    let Some(id) = exec.ready.pop_front() else {
                        break None;
                    };
                    if let Some(entry) = exec.tasks.get_mut(&id) {
                        if let Some(fut) = entry.future.take() {
                            break Some((id, fut, entry.waker.clone()));
                        }
                    }
                }
            };
            let Some((id, mut fut, task_waker)) = next else {
                return polls;
            };
            polls += 1;
            assert!(
                polls <= budget,
                "MemRuntime: more than {budget} polls without going idle (a livelock?)"
            );
            // Cleared before the poll, so that a wake during the poll queues it again.
            task_waker.queued.store(false, Ordering::SeqCst);
            let waker = Waker::from(task_waker);
            let done = fut
                .as_mut()
                .poll(&mut TaskCx::from_waker(&waker))
                .is_ready();
            let finished = {
                let mut exec = lock(&self.inner.exec);
                if done {
                    exec.tasks.remove(&id)
                } else {
                    if let Some(entry) = exec.tasks.get_mut(&id) {
                        entry.future = Some(fut);
                    }
                    None
                }
            };
            // Dropped outside the lock: a task's drop may wake or spawn others.
            drop(finished);
        }
    }

    /// Runs `fut` to completion on this thread, running the spawned tasks whenever it
    /// waits.
    ///
    /// # Panics
    /// If `fut` waits for something that no task will ever do: nothing is woken and the
    /// clock does not move by itself (advance it from a task, or use
    /// [`MemRuntime::run_until_idle`] and [`MemRuntime::advance`] instead).
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        let flag = Arc::new(Flag(AtomicBool::new(true)));
        let waker = Waker::from(flag.clone());
        let mut fut = pin!(fut);
        loop {
            if flag.0.swap(false, Ordering::SeqCst) {
                if let Poll::Ready(v) = fut.as_mut().poll(&mut TaskCx::from_waker(&waker)) {
                    return v;
                }
            }
            self.run_until_idle();
            assert!(
                flag.0.load(Ordering::SeqCst),
                "MemRuntime::block_on: the future waits for something no task will do \
                 (a timer? the clock moves only with `advance`)"
            );
        }
    }

    /// Drops every task that has not finished, and returns how many there were. Tasks
    /// hold clones of their runtime, so a test that checks for leaks calls this when it
    /// abandons tasks that would otherwise never end.
    pub fn abort_all(&self) -> usize {
        let tasks: Vec<TaskEntry> = {
            let mut exec = lock(&self.inner.exec);
            exec.ready.clear();
            exec.tasks.drain().map(|(_, t)| t).collect()
        };
        let n = tasks.len();
        drop(tasks);
        n
    }

    /// Opens a connection to the in-memory listener bound on `addr`, with a well-behaved
    /// server end. The server sees it on its next accept.
    pub fn connect(&self, addr: SocketAddr) -> io::Result<MemClient> {
        self.connect_with(addr, Faults::default())
    }

    /// Opens a connection whose server end injects `faults`.
    pub fn connect_with(&self, addr: SocketAddr, faults: Faults) -> io::Result<MemClient> {
        lock(&self.inner.net).connect(addr, faults)
    }
}

impl Runtime for MemRuntime {
    type Stream = MemStream;
    type Listener = MemListener;
    type Timer = MemTimer;

    fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let mut exec = lock(&self.inner.exec);
        let id = exec.next_id;
        exec.next_id += 1;
        let waker = Arc::new(TaskWaker {
            id,
            queued: AtomicBool::new(true),
            inner: Arc::downgrade(&self.inner),
        });
        exec.tasks.insert(
            id,
            TaskEntry {
                future: Some(Box::pin(fut)),
                waker,
            },
        );
        exec.ready.push_back(id);
    }

    fn listener_from_std(&self, _listener: std::net::TcpListener) -> io::Result<MemListener> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the memory runtime has no sockets: Runtime::listen gives an in-memory listener",
        ))
    }

    /// Binds an in-memory listener (port 0 picks a free one); [`MemRuntime::connect`]
    /// reaches it.
    fn listen(&self, addr: SocketAddr) -> io::Result<MemListener> {
        net::listen(&self.inner.net, addr)
    }

    fn now() -> Instant {
        clock_now()
    }

    fn timer(&self, deadline: Instant) -> MemTimer {
        let state = Arc::new(Mutex::new(TimerState {
            deadline,
            waker: None,
        }));
        lock(&self.inner.timers).push(Arc::downgrade(&state));
        MemTimer { state }
    }
}

struct TimerState {
    deadline: Instant,
    /// The task waiting for the deadline (taken when `advance` wakes it).
    waker: Option<Waker>,
}

/// A timer of the [`MemRuntime`]: due once the manual clock reaches its deadline.
pub struct MemTimer {
    state: Arc<Mutex<TimerState>>,
}

impl std::fmt::Debug for MemTimer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemTimer")
            .field("deadline", &lock(&self.state).deadline)
            .finish()
    }
}

impl Timer for MemTimer {
    fn reset(&mut self, deadline: Instant) {
        lock(&self.state).deadline = deadline;
    }

    fn poll_elapsed(&mut self, cx: &mut TaskCx<'_>) -> Poll<()> {
        let mut st = lock(&self.state);
        if clock_now() >= st.deadline {
            st.waker = None;
            Poll::Ready(())
        } else {
            st.waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}
