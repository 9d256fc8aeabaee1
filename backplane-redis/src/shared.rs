//! State shared between the [`RedisBackplane`](crate::RedisBackplane) handle (called by
//! the hub, on any thread) and the I/O tasks on the backplane's thread.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use tokio::sync::Notify;
use wirelane_core::app::{BackplaneStats, Inbox};

/// Local member counts, and which topics changed since the tasks last looked.
#[derive(Default)]
pub(crate) struct Members {
    /// Topics with members in this process, and how many.
    pub counts: HashMap<String, usize>,
    /// Topics whose subscription may need to change.
    pub sub_dirty: HashSet<String>,
    /// Topics whose presence entry must be rewritten.
    pub presence_dirty: HashSet<String>,
}

/// One counter per [`BackplaneStats`] field.
#[derive(Default)]
pub(crate) struct Counters {
    pub published: AtomicU64,
    pub sent: AtomicU64,
    pub lost_unreachable: AtomicU64,
    pub dropped_oversized: AtomicU64,
    pub received: AtomicU64,
    pub lost_in_transit: AtomicU64,
    pub own_echoes: AtomicU64,
    pub ignored_foreign: AtomicU64,
    pub ignored_malformed: AtomicU64,
    pub ignored_oversized: AtomicU64,
    pub reconnects: AtomicU64,
}

/// Which of the three connections are up.
#[derive(Default)]
pub(crate) struct Links {
    pub publisher: AtomicBool,
    pub subscriber: AtomicBool,
    pub presence: AtomicBool,
}

pub(crate) struct Shared {
    pub node: u64,
    pub members: Mutex<Members>,
    pub sub_changed: Notify,
    pub presence_changed: Notify,
    pub inbox: OnceLock<Inbox>,
    pub counters: Counters,
    pub links: Links,
}

pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Shared {
    pub(crate) fn new(node: u64) -> Self {
        Shared {
            node,
            members: Mutex::new(Members::default()),
            sub_changed: Notify::new(),
            presence_changed: Notify::new(),
            inbox: OnceLock::new(),
            counters: Counters::default(),
            links: Links::default(),
        }
    }

    pub(crate) fn members(&self) -> MutexGuard<'_, Members> {
        self.members.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn stats(&self) -> BackplaneStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let up = |a: &AtomicBool| a.load(Ordering::Relaxed);
        BackplaneStats {
            published: get(&c.published),
            sent: get(&c.sent),
            lost_unreachable: get(&c.lost_unreachable),
            dropped_oversized: get(&c.dropped_oversized),
            received: get(&c.received),
            lost_in_transit: get(&c.lost_in_transit),
            own_echoes: get(&c.own_echoes),
            ignored_foreign: get(&c.ignored_foreign),
            ignored_malformed: get(&c.ignored_malformed),
            ignored_oversized: get(&c.ignored_oversized),
            reconnects: get(&c.reconnects),
            connected: up(&self.links.publisher)
                && up(&self.links.subscriber)
                && up(&self.links.presence),
        }
    }
}
