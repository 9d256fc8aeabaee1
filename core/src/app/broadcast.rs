//! [`Hub`]: topics (rooms) of WebSocket connections, and publishing to all members.
//!
//! Publishing never waits on a slow member: each member's outgoing queue is bounded
//! (`max_outgoing_queue`), and a member whose queue is full is handled by the hub's
//! [`SlowClientPolicy`]. The payload is encoded once and shared by every member's queue;
//! with permessage-deflate, compressed once per compression setting among the members that
//! keep no context (a [`PreparedMessage`] per publish).
//!
//! With a [`Backplane`] ([`Hub::with_backplane`]) a topic spans processes: publications
//! also go to the members on other servers, and theirs come here through the same bounded
//! queues and policy (see [`super::backplane`] for the rules).

use super::backplane::{Backplane, BackplaneStats, Inbox};
use super::error::TrySendError;
use super::sender::Sender;
use crate::proto::ws::{CloseCode, DataKind, Message, PreparedMessage};
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

/// What the hub does with a member whose outgoing queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SlowClientPolicy {
    /// Skip this message for that member (it misses it; others are unaffected).
    DropMessage,
    /// Close that member with 1008 (policy violation) and remove it: a client that cannot
    /// keep up is told so instead of silently missing messages.
    #[default]
    Disconnect,
}

/// Counters of a hub, since it was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HubStats {
    /// Calls to [`Hub::publish`] and [`Hub::publish_except`].
    pub published: u64,
    /// Messages queued to members of this process (from local and remote publishers).
    pub delivered: u64,
    /// Messages a member of this process missed because its queue was full (under either
    /// [`SlowClientPolicy`]).
    pub dropped_slow: u64,
    /// Publications from other processes handed to this hub by its backplane.
    pub remote: u64,
    /// The backplane's counters, if the hub has one.
    pub backplane: Option<BackplaneStats>,
}

type Topics = HashMap<String, Vec<(u64, Sender)>>;

/// Remote messages handed over by the backplane beyond this many wait for no member's
/// driver: the backplane's thread delivers them itself (a runtime that stalls must not
/// let the queue grow).
const MAX_QUEUED_REMOTE: usize = 1024;

/// A driver asked to deliver the remote queue that has not come within this time (its
/// task busy in a long poll, say) does not hold up the next messages: the backplane's
/// thread delivers the queue itself when the next one arrives.
const RELAY_PATIENCE: Duration = Duration::from_millis(20);

/// A publication of another process, waiting to be delivered here.
struct Remote {
    topic: Box<str>,
    kind: DataKind,
    payload: Bytes,
}

/// Remote messages between the backplane's thread and the runtime.
#[derive(Default)]
struct RemoteQueue {
    items: VecDeque<Remote>,
    /// When a member's driver was asked to deliver the queue, until the queue is found
    /// empty: meanwhile further messages only join the queue.
    asked_at: Option<Instant>,
    /// Turns the choice of driver among a topic's members, so that one whose task is
    /// slow to be polled is not asked every time.
    turn: usize,
}

pub(crate) struct HubInner {
    topics: Mutex<Topics>,
    remote_queue: Mutex<RemoteQueue>,
    /// Held while queued remote messages are delivered, so that two batches taken from the
    /// queue never interleave (order per publisher and topic).
    delivering: Mutex<()>,
    /// Itself, for the drivers asked to deliver the queue (weak: members' connections
    /// must not keep the hub alive).
    this: Weak<HubInner>,
    next_id: AtomicU64,
    policy: SlowClientPolicy,
    backplane: Option<Arc<dyn Backplane>>,
    published: AtomicU64,
    delivered: AtomicU64,
    dropped_slow: AtomicU64,
    remote: AtomicU64,
}

/// Topics of connections. Cheap to clone; clones share the topics.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new(SlowClientPolicy::default())
    }
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("policy", &self.inner.policy)
            .field("backplane", &self.inner.backplane.is_some())
            .finish()
    }
}

/// Membership of one connection in one topic; leaving happens when it is dropped.
#[derive(Debug)]
pub struct Membership {
    hub: Hub,
    topic: String,
    id: u64,
}

impl Drop for Membership {
    fn drop(&mut self) {
        let inner = &self.hub.inner;
        let mut topics = inner.topics();
        if let Some(members) = topics.get_mut(&self.topic) {
            let before = members.len();
            members.retain(|(id, _)| *id != self.id);
            if members.len() != before {
                inner.members_changed(&mut topics, &self.topic);
            }
        }
    }
}

impl Membership {
    /// The member's id in its topic (to exclude it from its own broadcasts).
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl HubInner {
    fn topics(&self) -> MutexGuard<'_, Topics> {
        self.topics.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// After `topic`'s member list changed: forgets an empty topic and tells the backplane.
    /// Called under the topics lock, so the backplane sees the counts in the order they
    /// happened (a stale "1" after a "0" would keep a subscription nobody needs).
    fn members_changed(&self, topics: &mut Topics, topic: &str) {
        let count = topics.get(topic).map_or(0, Vec::len);
        if count == 0 {
            topics.remove(topic);
        }
        if let Some(bp) = &self.backplane {
            bp.local_members(topic, count);
        }
    }

    /// Queues `payload` to this process's members of `topic` (but `except`); applies the
    /// slow-client policy. Returns how many members got it.
    fn deliver_local(
        &self,
        topic: &str,
        kind: DataKind,
        payload: Bytes,
        except: Option<u64>,
    ) -> usize {
        // Snapshot the members so no send happens under the hub lock.
        let members: Vec<(u64, Sender)> = match self.topics().get(topic) {
            Some(m) => m.clone(),
            None => return 0,
        };
        let mut delivered = 0;
        let mut dropped = 0;
        let mut gone = Vec::new();
        let mut prepared = PreparedMessage::new(kind, payload);
        for (id, sender) in &members {
            if Some(*id) == except {
                continue;
            }
            match sender.try_send_prepared(&mut prepared) {
                Ok(()) => delivered += 1,
                Err(TrySendError::Closed) => gone.push(*id),
                Err(TrySendError::Full) => {
                    dropped += 1;
                    sender.note_full(self.policy == SlowClientPolicy::Disconnect);
                    if self.policy == SlowClientPolicy::Disconnect {
                        let _ = sender.close(CloseCode::POLICY, "too slow to keep up");
                        gone.push(*id);
                    }
                }
            }
        }
        self.delivered
            .fetch_add(delivered as u64, Ordering::Relaxed);
        if dropped > 0 {
            self.dropped_slow.fetch_add(dropped, Ordering::Relaxed);
        }
        if !gone.is_empty() {
            let mut topics = self.topics();
            if let Some(m) = topics.get_mut(topic) {
                let before = m.len();
                m.retain(|(id, _)| !gone.contains(id));
                if m.len() != before {
                    self.members_changed(&mut topics, topic);
                }
            }
        }
        delivered
    }

    /// A publication from another process, from the backplane's [`Inbox`] (called on the
    /// backplane's thread). Returns the members of `topic` in this process.
    ///
    /// Delivering from that thread would wake every member's task across threads (on
    /// tokio, one eventfd write per member and message); instead the message joins a
    /// queue that one member's driver delivers on its runtime, with one wake-up for all
    /// the messages queued meanwhile. Without a driver to ask, or with the queue at
    /// its bound, this thread delivers the queue itself, in order.
    pub(crate) fn deliver_remote(&self, topic: &str, kind: DataKind, payload: Bytes) -> usize {
        self.remote.fetch_add(1, Ordering::Relaxed);
        let members = self.topics().get(topic).map_or(0, Vec::len);
        if members == 0 {
            return 0;
        }
        let (full, ask) = {
            let mut q = self.remote_queue();
            q.items.push_back(Remote {
                topic: topic.into(),
                kind,
                payload,
            });
            // Full: a driver was asked long ago and has not come yet, so deliver here.
            let now = Instant::now();
            let late = q.asked_at.is_some_and(|t| now - t > RELAY_PATIENCE);
            let full = late || q.items.len() > MAX_QUEUED_REMOTE;
            let ask = !full && q.asked_at.is_none();
            if ask {
                q.asked_at = Some(now);
                q.turn = q.turn.wrapping_add(1);
            }
            (full, ask.then_some(q.turn))
        };
        if full || ask.is_some_and(|turn| !self.ask_a_driver(topic, turn)) {
            self.deliver_queued_remote();
        }
        members
    }

    /// Asks one member's driver of `topic` to deliver the remote queue; false when none
    /// can (then the caller delivers it).
    fn ask_a_driver(&self, topic: &str, turn: usize) -> bool {
        let members: Vec<Sender> = match self.topics().get(topic) {
            Some(m) if !m.is_empty() => {
                let start = turn % m.len();
                let (before, after) = m.split_at(start);
                after
                    .iter()
                    .chain(before)
                    .map(|(_, s)| s.clone())
                    .take(8)
                    .collect()
            }
            _ => return false,
        };
        members.iter().any(|s| s.relay(&self.this))
    }

    /// Delivers the queued remote messages, in order, until the queue is empty.
    pub(crate) fn deliver_queued_remote(&self) {
        let _one_at_a_time = self.delivering.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let batch = {
                let mut q = self.remote_queue();
                if q.items.is_empty() {
                    q.asked_at = None;
                    return;
                }
                std::mem::take(&mut q.items)
            };
            for r in batch {
                // The publisher's `except` names a member of its own process, which never
                // delivers its own envelope again: every member here gets it.
                self.deliver_local(&r.topic, r.kind, r.payload, None);
            }
        }
    }

    fn remote_queue(&self) -> MutexGuard<'_, RemoteQueue> {
        self.remote_queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Hub {
    /// A hub that treats slow members with `policy`, for the members of this process.
    pub fn new(policy: SlowClientPolicy) -> Self {
        Self::build(policy, None)
    }

    /// A hub whose topics span processes through `backplane` (for example
    /// `wirelane_redis::RedisBackplane`): publications reach the members on every server
    /// attached to the same broker, and [`Hub::member_count`] counts them all.
    pub fn with_backplane(policy: SlowClientPolicy, backplane: Arc<dyn Backplane>) -> Self {
        let hub = Self::build(policy, Some(backplane.clone()));
        backplane.attach(Inbox::new(Arc::downgrade(&hub.inner)));
        hub
    }

    fn build(policy: SlowClientPolicy, backplane: Option<Arc<dyn Backplane>>) -> Self {
        Hub {
            inner: Arc::new_cyclic(|this| HubInner {
                topics: Mutex::new(HashMap::new()),
                remote_queue: Mutex::new(RemoteQueue::default()),
                delivering: Mutex::new(()),
                this: this.clone(),
                next_id: AtomicU64::new(0),
                policy,
                backplane,
                published: AtomicU64::new(0),
                delivered: AtomicU64::new(0),
                dropped_slow: AtomicU64::new(0),
                remote: AtomicU64::new(0),
            }),
        }
    }

    /// Adds `sender`'s connection to `topic` until the returned membership is dropped.
    pub fn join(&self, topic: &str, sender: Sender) -> Membership {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let mut topics = self.inner.topics();
        topics
            .entry(topic.to_string())
            .or_default()
            .push((id, sender));
        self.inner.members_changed(&mut topics, topic);
        drop(topics);
        Membership {
            hub: self.clone(),
            topic: topic.to_string(),
            id,
        }
    }

    /// Members of `topic` in this process right now.
    pub fn members(&self, topic: &str) -> usize {
        self.inner.topics().get(topic).map_or(0, Vec::len)
    }

    /// Members of `topic` in every process attached to this hub's backplane, as the broker
    /// knows them (a process that died stops counting once its presence expires). Without
    /// a backplane, or when the broker cannot answer, the members of this process.
    pub async fn member_count(&self, topic: &str) -> usize {
        let local = self.members(topic);
        match &self.inner.backplane {
            Some(bp) => bp.member_count(topic).await.unwrap_or(local),
            None => local,
        }
    }

    /// Sends `msg` to every member of `topic`, here and (with a backplane) in other
    /// processes; returns how many members of this process got it.
    pub fn publish(&self, topic: &str, msg: impl Into<Message>) -> usize {
        let (kind, payload) = Message::into_payload(msg.into());
        self.publish_shared(topic, kind, payload, None)
    }

    /// Sends `msg` to every member of `topic` but the member `except` (a membership id
    /// from [`Membership::id`]), here and in other processes; returns how many members of
    /// this process got it.
    pub fn publish_except(&self, topic: &str, except: u64, msg: impl Into<Message>) -> usize {
        let (kind, payload) = Message::into_payload(msg.into());
        self.publish_shared(topic, kind, payload, Some(except))
    }

    fn publish_shared(
        &self,
        topic: &str,
        kind: DataKind,
        payload: Bytes,
        except: Option<u64>,
    ) -> usize {
        self.inner.published.fetch_add(1, Ordering::Relaxed);
        if let Some(bp) = &self.inner.backplane {
            // Handed over before local delivery: the backplane only queues it, and the
            // order of one publisher's messages is fixed here either way.
            bp.publish(topic, kind, &payload, except);
        }
        self.inner.deliver_local(topic, kind, payload, except)
    }

    /// What the hub (and its backplane) has done so far.
    pub fn stats(&self) -> HubStats {
        let i = &self.inner;
        HubStats {
            published: i.published.load(Ordering::Relaxed),
            delivered: i.delivered.load(Ordering::Relaxed),
            dropped_slow: i.dropped_slow.load(Ordering::Relaxed),
            remote: i.remote.load(Ordering::Relaxed),
            backplane: i.backplane.as_ref().map(|bp| bp.stats()),
        }
    }
}
