//! The socket side of the driver: reading into the protocol, writing its output, and the
//! close sequence.
//!
//! Rules:
//! - read only while the protocol wants input ([`Proto::wants_read`]: its last input is
//!   parsed and its read pause is not reached) and our output is not piling up
//!   ([`Driver::output_cap`]): not reading is the backpressure;
//! - after a read that returned less than it asked for, ask the transport whether more
//!   came ([`Transport::poll_read_ready`]) rather than reading into an empty socket; after
//!   the socket answered "not yet", do not ask again before the next wake-up; the drain
//!   after our shutdown asks whether data came before reading too;
//! - one read buffer per worker thread, so idle connections hold none;
//! - write with one vectored write of the queued buffers; a write that brings the queue
//!   under the senders' mark wakes the senders waiting for room; with nothing queued,
//!   the transport writes what it holds of its own ([`Transport::poll_flush`]: TLS
//!   tickets), so that it rides with our next write when there is one; the write that
//!   holds the protocol's last bytes is a [`Transport::poll_write_last`];
//! - a read or write error ends the connection at once (`Done`), nothing more is written;
//! - close sequence: `Open` → (protocol finished and output written) `Closing` (shutdown of
//!   the write half) → `Draining` (read and discard what the peer still sends, for a
//!   bounded time and byte count, so our last bytes are not destroyed by a reset) → `Done`.
//!   A handler still running at `Done` may linger for `handler_linger`, seeing the
//!   connection as closed.

use super::{spare, Driver};
use crate::app::conn::{BodyState, Proto};
use crate::app::runtime::{Runtime, Transport};
use std::cell::RefCell;
use std::io::{self, IoSlice};
use std::task::{Context as TaskCx, Poll};
use std::time::{Duration, Instant};

/// Queued output that is written at once rather than batched further.
pub(super) const WRITE_BATCH: usize = 64 * 1024;
/// Buffers handed to one vectored write.
const MAX_IOVECS: usize = 64;
/// Buffers handed to a vectored write without preparing room for [`MAX_IOVECS`].
const FEW_IOVECS: usize = 4;
/// How long, and how much, we read and discard after shutting down our write half. The
/// byte budget is large on purpose: a peer still sending an oversized frame when we fail
/// the connection (1009) must not get a reset that destroys our close frame.
pub(super) const DRAIN_TIME: Duration = Duration::from_secs(2);
const DRAIN_BYTES: usize = 64 * 1024 * 1024;

thread_local! {
    /// One read buffer per worker thread, so that idle connections hold none.
    static READ_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Where the close sequence is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Open,
    Closing,
    Draining { until: Instant, budget: usize },
    Done { at: Instant },
}

/// Where reading stands, as far as the socket is concerned (the protocol decides the rest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reading {
    /// Read when the protocol wants input.
    Ready,
    /// The last read returned less than it asked for: the socket is probably empty, so
    /// ask whether more came before reading.
    AfterShortRead,
    /// The socket answered "not yet" during this poll and will wake the task: asking
    /// again before then would only repeat the answer.
    Registered { after_short_read: bool },
    /// The peer closed its sending side.
    Eof,
}

impl Reading {
    /// A new wake-up: the socket may have data again.
    pub(super) fn on_wake_up(&mut self) {
        if let Reading::Registered { after_short_read } = *self {
            *self = if after_short_read {
                Reading::AfterShortRead
            } else {
                Reading::Ready
            };
        }
    }
}

impl<R: Runtime, T: Transport> Driver<R, T> {
    /// Output queued above which the driver stops reading and parsing: twice the
    /// senders' high-water mark, so protocol replies (pongs, close echoes, pipelined
    /// responses) cannot grow the queue without bound when the peer does not read.
    pub(super) fn output_cap(&self) -> usize {
        self.conn
            .config
            .max_outgoing_queue
            .saturating_mul(2)
            .max(64 * 1024)
    }

    /// Bytes waiting to be written.
    pub(super) fn queued(&self) -> usize {
        self.conn.lock().proto.queued()
    }

    /// Reads once from the socket into the protocol, if it wants input; true when
    /// something was read (or EOF seen).
    fn read(&mut self, cx: &mut TaskCx<'_>, now: Instant) -> io::Result<bool> {
        let after_short_read = match self.reading {
            Reading::Ready => false,
            Reading::AfterShortRead => true,
            Reading::Registered { .. } | Reading::Eof => return Ok(false),
        };
        let cap = self.output_cap();
        {
            let mut st = self.conn.lock();
            if !st.proto.wants_read() || st.proto.queued() > cap {
                return Ok(false);
            }
        }
        if after_short_read {
            match self.io.poll_read_ready(cx) {
                Poll::Pending => {
                    self.reading = Reading::Registered {
                        after_short_read: true,
                    };
                    return Ok(false);
                }
                Poll::Ready(r) => {
                    self.reading = Reading::Ready;
                    r?;
                }
            }
        }
        let size = self.conn.config.read_buffer_size.max(512);
        READ_BUF.with(|cell| {
            let mut buf = cell.borrow_mut();
            if buf.len() < size {
                buf.resize(size, 0);
            }
            match self.io.poll_read(cx, &mut buf[..size]) {
                Poll::Pending => {
                    self.reading = Reading::Registered {
                        after_short_read: false,
                    };
                    Ok(false)
                }
                Poll::Ready(Err(e)) => Err(e),
                Poll::Ready(Ok(0)) => {
                    self.reading = Reading::Eof;
                    self.conn.lock().proto.handle_eof(now);
                    Ok(true)
                }
                Poll::Ready(Ok(n)) => {
                    self.reading = if n < size {
                        Reading::AfterShortRead
                    } else {
                        Reading::Ready
                    };
                    let mut st = self.conn.lock();
                    if let Proto::Http(h) = &mut st.proto {
                        // Input usually means a request and a response: memory for both, and
                        // a context for the request, from the spares.
                        let ctx = &mut self.ctx;
                        let wants_ctx = ctx.is_none() && self.handler.is_none();
                        spare::with(|s| {
                            h.provide_input_buffer(|| s.buffer());
                            h.output().provide_tail(|| s.buffer());
                            if wants_ctx {
                                if let Some((spare, index)) = s.exchange() {
                                    h.provide_header_index(index);
                                    *ctx = Some(spare);
                                }
                            }
                        });
                    }
                    st.proto.handle_input(&buf[..n], now);
                    Ok(true)
                }
            }
        })
    }

    /// [`Driver::read`] while the connection is open; a read error ends the connection.
    pub(super) fn read_or_fail(&mut self, cx: &mut TaskCx<'_>, now: Instant) -> bool {
        if self.phase != Phase::Open {
            return false;
        }
        match self.read(cx, now) {
            Ok(p) => p,
            Err(_) => {
                self.end_now(now);
                true
            }
        }
    }

    /// Nothing more to do until the next wake-up: give back buffer memory that holds
    /// nothing, so thousands of idle connections cost little.
    pub(super) fn release_idle(&mut self) {
        let spare_ctx = self.take_spare_ctx();
        let mut st = self.conn.lock();
        self.server.metrics.take(&mut st.ws.counts);
        if st.ws.inbound.is_empty() && st.ws.inbound.capacity() > 0 {
            st.ws.inbound = Default::default();
        }
        if let Proto::Http(h) = &mut st.proto {
            // Kept for the next request of this connection or another one (see `spare`).
            let input = h.take_idle_input();
            let tail = h.output().take_idle_tail();
            let exchange = spare_ctx.map(|ctx| (ctx, h.take_header_index()));
            if input.is_some() || tail.is_some() || exchange.is_some() {
                let no_room = spare::with(|s| {
                    input.into_iter().chain(tail).for_each(|b| s.keep_buffer(b));
                    exchange.and_then(|e| s.keep_exchange(e))
                });
                drop(no_room);
            }
        }
        st.proto.release_idle_buffers();
    }

    /// Writes what is queued (while the close sequence still writes); true when that
    /// calls for another round (see [`Driver::write`]). A write error ends the connection.
    pub(super) fn flush(&mut self, cx: &mut TaskCx<'_>, now: Instant) -> bool {
        if !matches!(self.phase, Phase::Open | Phase::Closing) {
            return false;
        }
        match self.write(cx) {
            Ok(p) => p,
            Err(_) => {
                self.end_now(now);
                true
            }
        }
    }

    /// Writes queued output until the queue is empty or the socket is full. Returns
    /// whether the write unblocked something that needs another round: input and parsing
    /// held back by a full output queue, or a sender in this task (nudged). Writing alone
    /// does not: the round that called it goes on to the close sequence and the timer.
    fn write(&mut self, cx: &mut TaskCx<'_>) -> io::Result<bool> {
        let limit = self.conn.config.max_outgoing_queue;
        let cap = self.output_cap();
        let mut unblocked = false;
        loop {
            let mut st = self.conn.lock();
            let nudged = st.nudged;
            let closed = st.proto.is_closed();
            let Some(out) = st.proto.output().filter(|o| !o.is_empty()) else {
                drop(st);
                // Nothing of ours to write: what the transport holds of its own goes now,
                // before the task sleeps (if it does not finish, it wakes us to go on).
                if let Poll::Ready(Err(e)) = self.io.poll_flush(cx) {
                    return Err(e);
                }
                return Ok(unblocked || nudged);
            };
            let was_over = out.len() > cap;
            // Few buffers is the usual case (a response, a burst of replies in the tail):
            // a small array then, as filling the large one costs more than the rest.
            let mut small = [IoSlice::new(&[]); FEW_IOVECS];
            let mut large;
            let slices: &mut [IoSlice<'_>] = if out.buffers() <= FEW_IOVECS {
                &mut small
            } else {
                large = [IoSlice::new(&[]); MAX_IOVECS];
                &mut large
            };
            let n = out.io_slices(slices);
            // The protocol is finished and this write holds all it queued: the transport
            // may add its own closing bytes (TLS close_notify) to the same write.
            let last = closed && slices[..n].iter().map(|s| s.len()).sum::<usize>() == out.len();
            let written = if last {
                self.io.poll_write_last(cx, &slices[..n])
            } else {
                self.io.poll_write_vectored(cx, &slices[..n])
            };
            match written {
                Poll::Pending => return Ok(unblocked || nudged),
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Ready(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
                Poll::Ready(Ok(k)) => {
                    out.advance(k.min(out.len()));
                    let left = out.len();
                    unblocked |= was_over && left <= cap;
                    if left <= limit && !st.send_wakers.is_empty() {
                        st.wake_senders(Some(cx.waker()));
                    }
                }
            }
        }
    }

    /// Moves the close sequence forward; true when it moved.
    pub(super) fn advance_phase(&mut self, cx: &mut TaskCx<'_>, now: Instant) -> bool {
        match self.phase {
            Phase::Open => {
                let finished = self.conn.lock().proto.is_finished();
                if finished {
                    self.phase = Phase::Closing;
                }
                finished
            }
            Phase::Closing => match self.io.poll_shutdown(cx) {
                Poll::Pending => false,
                Poll::Ready(_) => {
                    self.mark_closed();
                    self.phase = if self.reading == Reading::Eof {
                        Phase::Done { at: now }
                    } else {
                        Phase::Draining {
                            until: now + DRAIN_TIME,
                            budget: DRAIN_BYTES,
                        }
                    };
                    true
                }
            },
            Phase::Draining { until, budget } => self.drain(cx, now, until, budget),
            Phase::Done { .. } => false,
        }
    }

    /// Reads and discards what the peer still sends after our shutdown.
    fn drain(&mut self, cx: &mut TaskCx<'_>, now: Instant, until: Instant, budget: usize) -> bool {
        // The peer has usually not answered our shutdown yet: ask whether anything came
        // rather than reading (on runtimes that can tell, a read would only say "not yet").
        if self.io.poll_read_ready(cx).is_pending() {
            return false;
        }
        let r = READ_BUF.with(|cell| {
            let mut buf = cell.borrow_mut();
            if buf.len() < 4096 {
                buf.resize(4096, 0);
            }
            let n = buf.len().min(budget);
            self.io.poll_read(cx, &mut buf[..n])
        });
        match r {
            Poll::Pending => false,
            Poll::Ready(Ok(n)) if n > 0 && n < budget => {
                self.phase = Phase::Draining {
                    until,
                    budget: budget - n,
                };
                true
            }
            // EOF, an error, or the budget spent: done.
            Poll::Ready(_) => {
                self.phase = Phase::Done { at: now };
                true
            }
        }
    }

    /// Ends the connection at once (I/O error, truncated stream, shutdown deadline): the
    /// socket is done with, contexts and senders see it closed.
    pub(super) fn end_now(&mut self, now: Instant) {
        self.mark_closed();
        self.phase = Phase::Done { at: now };
    }

    /// Marks the connection closed for contexts and senders, releasing protocol buffers.
    pub(super) fn mark_closed(&mut self) {
        let mut st = self.conn.lock();
        st.proto = Proto::Done;
        st.ws.recv_done = true;
        if let Some(slot) = st.request.as_mut() {
            if slot.body_state == BodyState::Receiving {
                slot.body_state = BodyState::Failed;
            }
        }
        st.wake_receiver(None);
        st.wake_senders(None);
    }

    /// Whether the driver is done: the socket is finished and the handler returned (or
    /// overstayed its linger).
    pub(super) fn finished(&self, now: Instant) -> bool {
        match self.phase {
            Phase::Done { at } => {
                self.handler.is_none() || now >= at + self.conn.config.handler_linger
            }
            _ => false,
        }
    }
}
