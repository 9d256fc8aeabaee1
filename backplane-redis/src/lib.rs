//! A [`Hub`](wirelane_core::app::Hub) across processes: a [`Backplane`] on Redis pub/sub.
//!
//! ```no_run
//! # use std::sync::Arc;
//! use wirelane_core::app::{Hub, SlowClientPolicy};
//! use wirelane_redis::{RedisBackplane, RedisConfig};
//!
//! let backplane = RedisBackplane::start(RedisConfig::new("redis://127.0.0.1:6379"))?;
//! let hub = Hub::with_backplane(SlowClientPolicy::Disconnect, backplane);
//! // hub.join / hub.publish / hub.publish_except as without a backplane;
//! // hub.member_count(topic).await counts the members of every process.
//! # Ok::<(), wirelane_redis::ConfigError>(())
//! ```
//!
//! # The contract
//!
//! - **Channels.** Each topic is one Redis channel, `{prefix}:t:{topic}` with the topic
//!   percent-encoded (so no topic name reaches outside the prefix or another topic's
//!   channel). A process is subscribed to a topic's channel exactly while it has local
//!   members of the topic, and unsubscribes when the last one leaves.
//! - **Encoded once.** A publication becomes one envelope and one `PUBLISH`, whatever the
//!   number of members and processes; a receiving process decodes it once and shares the
//!   payload among its members' queues.
//! - **Exclusion and echoes.** The envelope carries the publishing node and the excluded
//!   membership id, so `publish_except` excludes the sender everywhere; a process ignores
//!   its own publications coming back from Redis (its members got them when published).
//! - **Order** is kept per publisher and topic: one queue, one connection, one Redis.
//! - **At most once.** Nothing is retried. Remote messages go into the same bounded
//!   per-member queues, under the same `SlowClientPolicy`, as local ones.
//! - **Redis unreachable.** Local delivery is unaffected. Publications for other processes
//!   wait in a bounded outbox ([`RedisConfig::outbox`], [`RedisConfig::outbox_max_age`]);
//!   beyond that they are dropped and counted (`lost_unreachable`). The connections are
//!   retried with exponential back-off ([`RedisConfig::backoff`]) and, once back, every topic
//!   with local members is subscribed again and its presence rewritten. Messages published
//!   elsewhere while this process was not subscribed are lost; receivers count them from
//!   the gaps in each publisher's sequence numbers (`lost_in_transit`).
//! - **Presence.** `Hub::member_count(topic)` sums the members of every process, as kept in
//!   Redis with an expiry ([`RedisConfig::presence_ttl`]): a process that dies stops counting
//!   within one TTL; one that stops cleanly removes its members at once. When Redis cannot
//!   answer, the hub counts its own members.
//! - **Hostile input.** Anything on our channels that is not our envelope (garbage, another
//!   version, too large, text that is not UTF-8) is ignored and counted, never a panic.
//! - **Counters**: [`BackplaneStats`] (through `Hub::stats`) for publications sent, lost,
//!   received and ignored; `HubStats` for deliveries and slow-client drops.
//!
//! # Runtimes
//!
//! The Redis I/O runs on one dedicated thread per backplane, with its own current-thread
//! tokio runtime, whatever runtime (tokio, async-std, smol) serves the connections. The
//! `redis` crate (1.x) supports tokio and smol but no longer async-std, and picks its
//! runtime per process; with its I/O on a thread of its own, one implementation serves all
//! three adapters the same way and never competes with the connections' tasks. The hub
//! never waits on that thread: a publication is a non-blocking push into the bounded
//! outbox. Remote messages are handed to the hub, which has one member connection's task
//! push them into every member's queue on that connection's runtime (one cross-thread
//! wake-up for the messages that arrive together, not one per member), through the same
//! non-blocking queue push as local ones.
//!
//! The thread holds three Redis connections: one in subscriber mode, one for `PUBLISH`
//! (pipelined in batches), one for presence. It stops when the backplane is dropped (with
//! the hub that owns it), after removing this process's presence.

mod config;
mod link;
mod names;
mod presence;
mod publisher;
mod sequence;
mod shared;
mod subscriber;

pub use config::{ConfigError, RedisConfig};
pub use wirelane_core::app::{Backplane, BackplaneStats};

use bytes::Bytes;
use presence::Query;
use publisher::Outgoing;
use shared::{add, Shared};
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot, watch};
use wirelane_core::app::backplane::{envelope, PresenceFuture};
use wirelane_core::app::Inbox;
use wirelane_core::proto::ws::DataKind;

/// Presence questions waiting for the presence task, at most; beyond, the hub gets no
/// answer and counts its own members.
const MAX_QUERIES: usize = 1024;

/// The Redis backplane of one process's hub. Build it with [`RedisBackplane::start`] and
/// give it to `Hub::with_backplane`; one backplane serves one hub.
pub struct RedisBackplane {
    shared: Arc<Shared>,
    cfg: Arc<RedisConfig>,
    outbox: mpsc::Sender<Outgoing>,
    queries: mpsc::Sender<Query>,
    // Dropping it tells the I/O tasks to stop.
    _stop: watch::Sender<()>,
}

impl std::fmt::Debug for RedisBackplane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackplane")
            .field("node", &format_args!("{:016x}", self.shared.node))
            .field("prefix", &self.cfg.prefix)
            .finish()
    }
}

/// A node id unlikely to repeat across processes and restarts.
fn new_node_id() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

impl RedisBackplane {
    /// Checks `config` and starts the backplane's I/O thread. It does not wait for Redis:
    /// the hub works locally at once, and spans processes as soon as Redis is reachable.
    pub fn start(config: RedisConfig) -> Result<Arc<RedisBackplane>, ConfigError> {
        config.check()?;
        let client = redis::Client::open(config.url.as_str())
            .map_err(|e| ConfigError::Url(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ConfigError::Thread)?;
        let cfg = Arc::new(config);
        let shared = Arc::new(Shared::new(new_node_id()));
        let (outbox, outbox_rx) = mpsc::channel(cfg.outbox);
        let (queries, queries_rx) = mpsc::channel(MAX_QUERIES);
        let (stop, stop_rx) = watch::channel(());
        let tasks = {
            let (s, c) = (shared.clone(), cfg.clone());
            let publishing = publisher::run(
                s.clone(),
                c.clone(),
                client.clone(),
                outbox_rx,
                stop_rx.clone(),
            );
            let subscribing =
                subscriber::run(s.clone(), c.clone(), client.clone(), stop_rx.clone());
            let presence = presence::run(s, c, client, queries_rx, stop_rx);
            async move {
                tokio::join!(publishing, subscribing, presence);
            }
        };
        std::thread::Builder::new()
            .name("wirelane-redis".into())
            .spawn(move || runtime.block_on(tasks))
            .map_err(ConfigError::Thread)?;
        Ok(Arc::new(RedisBackplane {
            shared,
            cfg,
            outbox,
            queries,
            _stop: stop,
        }))
    }

    /// This process's node id, as carried in its envelopes and presence entries.
    pub fn node(&self) -> u64 {
        self.shared.node
    }

    /// Whether all three connections to Redis are up right now.
    pub fn is_connected(&self) -> bool {
        self.shared.stats().connected
    }
}

impl Backplane for RedisBackplane {
    /// # Panics
    /// If the backplane is already attached to a hub: one backplane serves one hub.
    fn attach(&self, inbox: Inbox) {
        assert!(
            self.shared.inbox.set(inbox).is_ok(),
            "a RedisBackplane serves one Hub; start one per hub"
        );
    }

    fn local_members(&self, topic: &str, count: usize) {
        let mut m = self.shared.members();
        let had = if count == 0 {
            m.counts.remove(topic).is_some()
        } else if let Some(n) = m.counts.get_mut(topic) {
            *n = count;
            true
        } else {
            m.counts.insert(topic.to_string(), count);
            false
        };
        if had != (count > 0) {
            m.sub_dirty.insert(topic.to_string());
            self.shared.sub_changed.notify_one();
        }
        m.presence_dirty.insert(topic.to_string());
        self.shared.presence_changed.notify_one();
    }

    fn publish(&self, topic: &str, kind: DataKind, payload: &Bytes, except: Option<u64>) {
        let c = &self.shared.counters;
        add(&c.published, 1);
        if topic.len() > self.cfg.max_topic_len
            || envelope::encoded_len(payload.len()) > self.cfg.max_envelope
        {
            add(&c.dropped_oversized, 1);
            return;
        }
        let out = Outgoing {
            topic: topic.to_string(),
            kind,
            payload: payload.clone(),
            except,
            queued_at: Instant::now(),
        };
        if self.outbox.try_send(out).is_err() {
            add(&c.lost_unreachable, 1);
        }
    }

    fn member_count(&self, topic: &str) -> PresenceFuture {
        let (reply, answer) = oneshot::channel();
        let query = Query {
            topic: topic.to_string(),
            reply,
        };
        if self.queries.try_send(query).is_err() {
            return Box::pin(std::future::ready(None));
        }
        // A oneshot receiver needs no particular runtime to be awaited.
        Box::pin(async move { answer.await.ok().flatten() })
    }

    fn stats(&self) -> BackplaneStats {
        self.shared.stats()
    }
}
