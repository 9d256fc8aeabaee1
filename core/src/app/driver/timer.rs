//! The driver's one deadline: the earliest of the protocol's (request, idle, heartbeat,
//! close-handshake timeouts), the drain's end, the handler's linger, and the graceful
//! shutdown's hard deadline.
//!
//! Rules:
//! - a connection keeps at most one entry in the server's deadline map, and only while it
//!   has a deadline;
//! - an entry that fires no later than needed stays when the deadline moves later (every
//!   byte received pushes the heartbeat back: that must not touch the shared map); firing
//!   early only re-arms;
//! - when a deadline has passed, everything due at `now` is handled in one go, however
//!   many deadlines the clock jumped past.

use super::socket::Phase;
use super::Driver;
use crate::app::runtime::{Runtime, Transport};
use std::task::Context as TaskCx;
use std::time::Instant;

impl<R: Runtime, T: Transport> Driver<R, T> {
    /// Removes our entry from the server's deadlines, if any.
    pub(super) fn disarm(&mut self) {
        if let Some(at) = self.armed.take() {
            self.server.deadlines.disarm((at, self.id));
        }
    }

    /// When a graceful shutdown gives up on this connection (once it has seen it).
    fn hard_deadline(&self) -> Option<Instant> {
        if !self.shutdown_seen {
            return None;
        }
        self.server.shutdown_deadline.get().copied()
    }

    /// When the transport gives up (e.g. a TLS handshake not completed), while open.
    fn transport_deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Open | Phase::Closing => self.io.deadline(),
            _ => None,
        }
    }

    /// The earliest instant at which something must happen.
    fn next_deadline(&self) -> Option<Instant> {
        let proto = self.conn.lock().proto.poll_timeout();
        let phase = match self.phase {
            Phase::Draining { until, .. } => Some(until),
            Phase::Done { at } if self.handler.is_some() => {
                Some(at + self.conn.config.handler_linger)
            }
            _ => None,
        };
        [
            proto,
            phase,
            self.hard_deadline(),
            self.transport_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Handles what is due at `now` (true), or makes sure the server's deadline task will
    /// wake us for the next deadline.
    pub(super) fn poll_timer(&mut self, cx: &mut TaskCx<'_>, now: Instant) -> bool {
        let Some(deadline) = self.next_deadline() else {
            self.disarm();
            return false;
        };
        if now < deadline {
            match self.armed {
                Some(at) if at <= deadline && now < at => {}
                _ => {
                    self.disarm();
                    self.server.deadlines.arm(deadline, self.id, cx.waker());
                    self.armed = Some(deadline);
                }
            }
            return false;
        }
        self.disarm();
        self.conn.lock().proto.handle_timeout(now);
        if let Phase::Draining { until, .. } = self.phase {
            if now >= until {
                self.phase = Phase::Done { at: now };
            }
        }
        if self.hard_deadline().is_some_and(|d| now >= d)
            && !matches!(self.phase, Phase::Done { .. })
        {
            self.end_now(now);
            self.handler = None;
        }
        if self.transport_deadline().is_some_and(|d| now >= d) {
            self.end_now(now);
        }
        true
    }
}
