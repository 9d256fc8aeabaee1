//! [`Hub`]: topics (rooms) of WebSocket connections, and publishing to all members.
//!
//! Publishing never waits on a slow member: each member's outgoing queue is bounded
//! (`max_outgoing_queue`), and a member whose queue is full is handled by the hub's
//! [`SlowClientPolicy`]. The payload is encoded once and shared by every member's queue.

use super::error::TrySendError;
use super::sender::Sender;
use crate::proto::ws::{CloseCode, DataKind, Message};
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

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

struct HubInner {
    topics: Mutex<HashMap<String, Vec<(u64, Sender)>>>,
    next_id: AtomicU64,
    policy: SlowClientPolicy,
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
        let mut topics = self.hub.topics();
        if let Some(members) = topics.get_mut(&self.topic) {
            members.retain(|(id, _)| *id != self.id);
            if members.is_empty() {
                topics.remove(&self.topic);
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

impl Hub {
    /// A hub that treats slow members with `policy`.
    pub fn new(policy: SlowClientPolicy) -> Self {
        Hub {
            inner: Arc::new(HubInner {
                topics: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(0),
                policy,
            }),
        }
    }

    fn topics(&self) -> MutexGuard<'_, HashMap<String, Vec<(u64, Sender)>>> {
        self.inner.topics.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds `sender`'s connection to `topic` until the returned membership is dropped.
    pub fn join(&self, topic: &str, sender: Sender) -> Membership {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        self.topics()
            .entry(topic.to_string())
            .or_default()
            .push((id, sender));
        Membership {
            hub: self.clone(),
            topic: topic.to_string(),
            id,
        }
    }

    /// Members of `topic` right now.
    pub fn members(&self, topic: &str) -> usize {
        self.topics().get(topic).map_or(0, Vec::len)
    }

    /// Sends `msg` to every member of `topic`; returns how many got it.
    pub fn publish(&self, topic: &str, msg: impl Into<Message>) -> usize {
        let (kind, payload) = Message::into_payload(msg.into());
        self.publish_shared(topic, kind, payload, None)
    }

    /// Sends `msg` to every member of `topic` but the member `except` (a membership id).
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
        // Snapshot the members so no send happens under the hub lock.
        let members: Vec<(u64, Sender)> = match self.topics().get(topic) {
            Some(m) => m.clone(),
            None => return 0,
        };
        let mut delivered = 0;
        let mut gone = Vec::new();
        for (id, sender) in &members {
            if Some(*id) == except {
                continue;
            }
            match sender.try_send_shared(kind, payload.clone()) {
                Ok(()) => delivered += 1,
                Err(TrySendError::Closed) => gone.push(*id),
                Err(TrySendError::Full) => {
                    sender.note_full(self.inner.policy == SlowClientPolicy::Disconnect);
                    if self.inner.policy == SlowClientPolicy::Disconnect {
                        let _ = sender.close(CloseCode::POLICY, "too slow to keep up");
                        gone.push(*id);
                    }
                }
            }
        }
        if !gone.is_empty() {
            if let Some(m) = self.topics().get_mut(topic) {
                m.retain(|(id, _)| !gone.contains(id));
            }
        }
        delivered
    }
}
