//! The connection driver: one future per connection that moves bytes between the socket
//! and the protocol state machine, and polls the handler, all in the same task.
//!
//! It is split by job:
//! - [`socket`]: reading, writing, and the close sequence `Open → Closing → Draining → Done`;
//! - [`exchange`]: protocol events to requests and messages; routing, starting the handler,
//!   the WebSocket upgrade, the handler's end (and panic), graceful shutdown;
//! - [`timer`]: the connection's one deadline in the server's shared deadline map;
//! - [`spare`]: what HTTP exchanges leave for the next one, kept per worker thread;
//! - this file: the round loop that joins them.
//!
//! Rules of the round loop:
//! - the clock is read once per round ([`Runtime::now`]) and passed down; nothing below
//!   reads it;
//! - a round: read (if the protocol wants input and the output is not piling up) → turn
//!   events into work, polling a handler that waits for a message as soon as one is queued
//!   → notice a shutdown → poll the handler if something it waits on changed → write, once
//!   nothing else moves or a lot is queued (replies to a burst go out in one vectored
//!   write) → advance the close sequence → if nothing moved, check the deadline, then read
//!   once more (the handler may have made room) before sleeping;
//! - rounds repeat while any step made progress, up to [`ROUNDS_PER_POLL`]; then the task
//!   yields (waking itself) so one busy connection cannot starve the others;
//! - before sleeping, buffers that hold nothing are given back, so an idle connection
//!   costs little; an HTTP connection's buffers and spare request context go to the
//!   worker thread's spares ([`spare`]), where the next request of any connection takes
//!   them;
//! - the future ends when the socket is done and the handler has returned (or has
//!   overstayed `handler_linger`).

mod exchange;
mod socket;
mod spare;

pub use spare::release_spare_buffers;
mod timer;

use super::broadcast::HubInner;
use super::context::Context;
use super::handler::BoxFuture;
use super::runtime::{Runtime, Transport};
use super::server::ServerShared;
use exchange::PendingUpgrade;
use socket::{Phase, Reading};
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context as TaskCx, Poll};
use std::time::Instant;

use super::conn::ConnShared;

/// Rounds per poll before yielding to other tasks.
const ROUNDS_PER_POLL: usize = 32;

/// The driver of one connection on runtime `R` over transport `T` (the runtime's own
/// stream, or a wrapper of it such as TLS).
pub(crate) struct Driver<R: Runtime, T: Transport = <R as Runtime>::Stream> {
    // ---- the socket side (socket.rs) ----
    io: T,
    reading: Reading,
    phase: Phase,
    // ---- the exchange side (exchange.rs) ----
    conn: Arc<ConnShared>,
    server: Arc<ServerShared>,
    handler: Option<BoxFuture>,
    /// The context of the handler running; between HTTP requests, the last one emptied
    /// for the next (see `Context::recycle`). One field for both keeps the connection's
    /// task within tokio's 256-byte size class.
    ctx: Option<Context>,
    next_request: u64,
    /// A valid WebSocket upgrade held back while request middleware decides on it.
    /// Boxed: it is rare and large, and the driver lives as long as the connection.
    pending_upgrade: Option<Box<PendingUpgrade>>,
    /// The server's graceful shutdown has been noticed (and acted on).
    shutdown_seen: bool,
    /// The handler must be polled in this turn (new, or the task was woken from outside,
    /// perhaps for it); otherwise it is polled only when the state it waits on changes
    /// (`ConnState::nudged`).
    handler_due: bool,
    // ---- the timer (timer.rs) ----
    id: u64,
    /// The deadline registered with the server's [`Deadlines`](super::deadlines).
    armed: Option<Instant>,
    _runtime: PhantomData<fn() -> R>,
}

// The driver never pins its fields in place (it only uses them through `&mut`).
impl<R: Runtime, T: Transport> Unpin for Driver<R, T> {}

impl<R: Runtime, T: Transport> Driver<R, T> {
    pub(crate) fn new(io: T, conn: Arc<ConnShared>, server: Arc<ServerShared>, id: u64) -> Self {
        Driver {
            io,
            reading: Reading::Ready,
            phase: Phase::Open,
            conn,
            server,
            handler: None,
            ctx: None,
            next_request: 0,
            pending_upgrade: None,
            shutdown_seen: false,
            handler_due: true,
            id,
            armed: None,
            _runtime: PhantomData,
        }
    }

    /// The spare context: with no handler running, what `ctx` holds is one (see
    /// `Context::recycle`).
    fn take_spare_ctx(&mut self) -> Option<Context> {
        match self.handler {
            None => self.ctx.take(),
            Some(_) => None,
        }
    }

    /// One round of the loop (see the module docs).
    fn round(&mut self, cx: &mut TaskCx<'_>, now: Instant) -> Round {
        let mut progress = self.read_or_fail(cx, now);
        progress |= self.process_events(cx, now);
        // After reading: a request already in the socket when the shutdown began is served
        // (closing "idle" connections must not drop what has arrived).
        progress |= self.check_shutdown(now);
        if self.handler_due || std::mem::take(&mut self.conn.lock().nudged) {
            progress |= self.poll_handler(cx, now);
            progress |= self.process_events(cx, now);
        }
        if !progress || self.queued() >= socket::WRITE_BATCH {
            progress |= self.flush(cx, now);
        }
        progress |= self.advance_phase(cx, now);
        if self.finished(now) {
            return Round::Finished;
        }
        // Deadlines matter only once the connection goes quiet (or at the end of the
        // budget): checking them after every burst would cost a lock and a map update
        // per round.
        if !progress {
            progress |= self.poll_timer(cx, now);
        }
        if !progress {
            // The handler may have made room for input during this round (it took queued
            // messages): read again before sleeping, so that either data comes in or the
            // socket is registered to wake us.
            progress |= self.read_or_fail(cx, now);
        }
        if progress {
            Round::Again
        } else {
            Round::Quiet
        }
    }
}

/// How a round ended.
enum Round {
    /// Something moved: run another round.
    Again,
    /// Nothing moved: every source of work will wake the task.
    Quiet,
    /// The socket is done and the handler has returned.
    Finished,
}

impl<R: Runtime, T: Transport> Future for Driver<R, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<()> {
        let this = self.get_mut();
        let relays = {
            let mut st = this.conn.lock();
            st.set_driver_waker(cx.waker());
            std::mem::take(&mut st.relays)
        };
        // Remote messages a hub asked this task to deliver: done here, on the runtime, so
        // that waking the members' tasks costs no cross-thread wake-up each.
        run_relays(relays);
        // A new wake-up: the socket may have data again, and the handler may have been
        // woken by something outside the connection (a timer, a channel).
        this.reading.on_wake_up();
        this.handler_due = true;
        for _ in 0..ROUNDS_PER_POLL {
            match this.round(cx, R::now()) {
                Round::Again => {}
                Round::Quiet => {
                    this.release_idle();
                    return Poll::Pending;
                }
                Round::Finished => return Poll::Ready(()),
            }
        }
        // Out of budget: write what is queued, keep the deadline armed, and come back
        // after the other tasks had their turn.
        let now = R::now();
        this.flush(cx, now);
        this.poll_timer(cx, now);
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl<R: Runtime, T: Transport> Drop for Driver<R, T> {
    fn drop(&mut self) {
        // Drop the handler first: it may hold contexts whose drop touches the state.
        self.handler = None;
        self.ctx = None;
        self.disarm();
        self.mark_closed();
        let relays = {
            let mut st = self.conn.lock();
            self.server.metrics.ended(&mut st.ws.counts);
            // From now on hubs pick another member's driver; what they asked of this one
            // is done here, or it would never be.
            st.driver_gone = true;
            std::mem::take(&mut st.relays)
        };
        run_relays(relays);
        self.server.connection_ended(self.id);
    }
}

/// Delivers the queued remote messages of each hub still alive (with no connection lock
/// held: delivering locks every member's connection, this one's too).
fn run_relays(relays: Vec<Weak<HubInner>>) {
    for hub in relays {
        if let Some(hub) = hub.upgrade() {
            hub.deliver_queued_remote();
        }
    }
}
