//! [`Backplane`]: what carries a [`Hub`](super::Hub)'s publications to the hubs of other
//! processes, so that a topic's members may sit on several servers.
//!
//! The framework defines the seam and the wire format ([`envelope`]); a broker lives in its
//! own crate (`wirelane-redis` for Redis pub/sub). The rules every backplane keeps:
//!
//! - **Never wait.** [`Backplane::publish`] and [`Backplane::local_members`] are called from
//!   the publisher's task, under the hub's lock: they hand work to the backplane's own I/O
//!   and return.
//! - **At most once, bounded, counted.** What cannot be carried (broker unreachable, queue
//!   full, message too large) is dropped and counted in [`BackplaneStats`], never held
//!   without bound and never retried twice.
//! - **One copy per process.** A remote message is decoded once and its payload shared by
//!   every local member's queue, under the same bounded queues and slow-client policy as a
//!   local publication (the hub does that part, through the [`Inbox`]).

pub mod envelope;

use super::broadcast::HubInner;
use crate::proto::ws::DataKind;
use bytes::Bytes;
use envelope::Envelope;
use std::future::Future;
use std::pin::Pin;
use std::sync::Weak;

/// The answer to a presence question: members across processes, or `None` when the broker
/// could not tell (unreachable, too slow).
pub type PresenceFuture = Pin<Box<dyn Future<Output = Option<usize>> + Send + 'static>>;

/// Carries publications between the hubs of several processes through a broker.
pub trait Backplane: Send + Sync + 'static {
    /// Connects the backplane to the hub it was given to: messages from other processes are
    /// handed to `inbox`. Called once, when the hub is built.
    fn attach(&self, inbox: Inbox);

    /// `topic` now has `count` members in this process. The backplane receives a topic's
    /// messages while its count is above zero and keeps the count visible to other
    /// processes for [`Backplane::member_count`]. Never waits.
    fn local_members(&self, topic: &str, count: usize);

    /// Carries one publication of this process to the other processes. `except` is the
    /// membership id the publisher excluded, if any. Never waits: what cannot be carried is
    /// dropped and counted.
    fn publish(&self, topic: &str, kind: DataKind, payload: &Bytes, except: Option<u64>);

    /// Members of `topic` in all processes, as the broker knows them.
    fn member_count(&self, topic: &str) -> PresenceFuture;

    /// What the backplane has done so far.
    fn stats(&self) -> BackplaneStats;
}

/// Counters of a backplane, since it started. Every publication handed to
/// [`Backplane::publish`] is either `sent` or in one of the `lost_*`/`dropped_*` counters
/// (or still queued); every envelope received is `received`, `own_echoes` or ignored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BackplaneStats {
    /// Publications handed to the backplane for other processes.
    pub published: u64,
    /// Publications the broker accepted.
    pub sent: u64,
    /// Publications dropped because the broker was unreachable (queue full, queued too
    /// long, or the connection failed while they were being sent).
    pub lost_unreachable: u64,
    /// Publications not carried because their envelope would exceed the size limit.
    pub dropped_oversized: u64,
    /// Publications of other processes delivered to this process's hub.
    pub received: u64,
    /// Publications of other processes that never arrived (gaps in a publisher's
    /// sequence numbers, such as messages lost in a broker restart).
    pub lost_in_transit: u64,
    /// This process's own publications coming back from the broker (not delivered again).
    pub own_echoes: u64,
    /// Messages that were not our envelope (garbage, another format or version).
    pub ignored_foreign: u64,
    /// Our envelopes that were damaged (truncated, bad kind, text that is not UTF-8).
    pub ignored_malformed: u64,
    /// Messages larger than the size limit, ignored.
    pub ignored_oversized: u64,
    /// Times the connection to the broker was (re-)established after a failure.
    pub reconnects: u64,
    /// Whether the broker is reachable right now.
    pub connected: bool,
}

/// Where a backplane hands the messages of other processes: the local members of the hub
/// it is attached to. Cheap to clone; it does not keep the hub alive.
#[derive(Clone)]
pub struct Inbox {
    hub: Weak<HubInner>,
}

impl std::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbox")
            .field("hub_alive", &(self.hub.strong_count() > 0))
            .finish()
    }
}

impl Inbox {
    pub(crate) fn new(hub: Weak<HubInner>) -> Self {
        Inbox { hub }
    }

    /// Delivers a decoded envelope from another process to this process's members of
    /// `topic`, through their bounded queues and the hub's slow-client policy, in the
    /// order of the calls. Returns how many members it goes to, or `None` once the hub is
    /// gone.
    ///
    /// It does not wait for the members' runtime: the message is queued (boundedly) for
    /// one member connection's task to hand to all of them, so the envelopes arriving
    /// together cost the runtime one wake-up rather than one per member and message.
    pub fn deliver(&self, topic: &str, envelope: &Envelope) -> Option<usize> {
        let hub = self.hub.upgrade()?;
        Some(hub.deliver_remote(topic, envelope.kind(), envelope.payload().clone()))
    }

    /// Whether the hub still exists (a backplane may stop once it is gone).
    pub fn is_open(&self) -> bool {
        self.hub.strong_count() > 0
    }
}

/// The kind byte of an envelope.
pub(crate) fn kind_code(kind: DataKind) -> u8 {
    match kind {
        DataKind::Text => 0,
        DataKind::Binary => 1,
    }
}
