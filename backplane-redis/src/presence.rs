//! The presence task: how many members each topic has in this process, kept in Redis with
//! an expiry, and the sums across processes that `Hub::member_count` asks for.
//!
//! A topic's presence is one hash, `{prefix}:p:{topic}`: a field per process (its node id)
//! whose value is `count:expires_at_ms`, in Redis's own clock (`TIME`, so the processes'
//! clocks do not matter). Each process rewrites its fields when its counts change and
//! every third of the TTL; a reader sums the fields that have not expired and deletes the
//! others, so a process that died stops counting within one TTL. The hash itself expires
//! one TTL after its last write, so a topic everybody left does not stay in Redis.

use crate::config::RedisConfig;
use crate::link::{self, Backoff};
use crate::names::Names;
use crate::shared::{add, Shared};
use redis::aio::MultiplexedConnection;
use redis::Client;
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{interval, timeout, Instant, MissedTickBehavior};

/// Presence questions answered in one pipeline, at most.
const BATCH: usize = 128;

/// Sets (or with a count of 0 removes) this process's field. KEYS[1] the hash; ARGV the
/// node, the count, the TTL in ms.
const WRITE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
if tonumber(ARGV[2]) == 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. (now + ttl))
  if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
end
return 0
";

/// Sums the live fields and deletes expired or unreadable ones. KEYS[1] the hash.
const COUNT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local all = redis.call('HGETALL', KEYS[1])
local sum = 0
for i = 1, #all, 2 do
  local n, exp = string.match(all[i + 1], '^(%d+):(%d+)$')
  if n and tonumber(exp) > now then
    sum = sum + tonumber(n)
  else
    redis.call('HDEL', KEYS[1], all[i])
  end
end
return sum
";

/// A `member_count` question waiting for its answer.
pub(crate) struct Query {
    pub topic: String,
    pub reply: oneshot::Sender<Option<usize>>,
}

struct Presence {
    shared: Arc<Shared>,
    cfg: Arc<RedisConfig>,
    names: Names,
    field: String,
    /// Topics whose field this process has written and not removed.
    written: HashSet<String>,
}

pub(crate) async fn run(
    shared: Arc<Shared>,
    cfg: Arc<RedisConfig>,
    client: Client,
    mut queries: mpsc::Receiver<Query>,
    mut stop: watch::Receiver<()>,
) {
    let mut p = Presence {
        field: format!("{:016x}", shared.node),
        names: Names::new(&cfg.prefix),
        written: HashSet::new(),
        shared,
        cfg,
    };
    let mut backoff = Backoff::new(&p.cfg, p.shared.node.rotate_left(41));
    let mut failed = false;
    let refresh_every = p.cfg.presence_ttl / 3;
    loop {
        let conn = tokio::select! {
            c = link::commands(&client, &p.cfg) => c,
            _ = link::shutdown(&mut stop) => return,
        };
        let Some(mut conn) = conn else {
            failed = true;
            // Questions asked meanwhile are answered at once: the hub falls back to the
            // local count rather than waiting for Redis.
            let until = Instant::now() + backoff.step();
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(until) => break,
                    q = queries.recv() => match q {
                        Some(q) => { let _ = q.reply.send(None); }
                        None => return,
                    },
                    _ = link::shutdown(&mut stop) => return,
                }
            }
            continue;
        };
        if failed {
            add(&p.shared.counters.reconnects, 1);
        }
        // Redis may have lost everything (a restart without persistence): rewrite all.
        p.mark_all();
        p.shared.links.presence.store(true, Ordering::Relaxed);
        backoff.reset();
        let mut refresh = interval(refresh_every);
        refresh.set_missed_tick_behavior(MissedTickBehavior::Delay);
        refresh.tick().await;
        let ok = loop {
            tokio::select! {
                _ = p.shared.presence_changed.notified() => {
                    if !p.flush(&mut conn).await { break false; }
                }
                _ = refresh.tick() => {
                    p.mark_all();
                    if !p.flush(&mut conn).await { break false; }
                }
                q = queries.recv() => {
                    let Some(q) = q else { break true };
                    let mut batch = vec![q];
                    while batch.len() < BATCH {
                        match queries.try_recv() {
                            Ok(q) => batch.push(q),
                            Err(_) => break,
                        }
                    }
                    // Writes first, so a member who just joined counts in the answer.
                    if !p.flush(&mut conn).await || !p.answer(&mut conn, batch).await {
                        break false;
                    }
                }
                _ = link::shutdown(&mut stop) => break true,
            }
        };
        if ok {
            // The backplane is going away: take this process's members out of the
            // counts now rather than letting them expire.
            let _ = p.flush(&mut conn).await;
            let gone: Vec<String> = p.written.iter().cloned().collect();
            let _ = p
                .write(&mut conn, gone.into_iter().map(|t| (t, 0)).collect())
                .await;
            return;
        }
        p.shared.links.presence.store(false, Ordering::Relaxed);
        failed = true;
    }
}

impl Presence {
    /// Marks every topic with local members to be written again.
    fn mark_all(&self) {
        let mut m = self.shared.members();
        let all: Vec<String> = m.counts.keys().cloned().collect();
        m.presence_dirty.extend(all);
    }

    /// Writes the counts of the topics that changed; on failure they stay to be written.
    async fn flush(&mut self, conn: &mut MultiplexedConnection) -> bool {
        let items: Vec<(String, usize)> = {
            let mut m = self.shared.members();
            let dirty: Vec<String> = m.presence_dirty.drain().collect();
            dirty
                .into_iter()
                .map(|t| {
                    let n = m.counts.get(&t).copied().unwrap_or(0);
                    (t, n)
                })
                .collect()
        };
        if items.is_empty() {
            return true;
        }
        let topics: Vec<String> = items.iter().map(|(t, _)| t.clone()).collect();
        let ok = self.write(conn, items).await;
        if !ok {
            self.shared.members().presence_dirty.extend(topics);
        }
        ok
    }

    async fn write(
        &mut self,
        conn: &mut MultiplexedConnection,
        items: Vec<(String, usize)>,
    ) -> bool {
        let ttl = self.cfg.presence_ttl.as_millis() as u64;
        let mut pipe = redis::pipe();
        let mut any = false;
        for (topic, n) in &items {
            if topic.len() > self.cfg.max_topic_len {
                continue;
            }
            pipe.cmd("EVAL")
                .arg(WRITE)
                .arg(1)
                .arg(self.names.presence(topic))
                .arg(&self.field)
                .arg(*n)
                .arg(ttl)
                .ignore();
            any = true;
        }
        if !any {
            return true;
        }
        let r = timeout(self.cfg.op_timeout, pipe.query_async::<()>(conn)).await;
        if !matches!(r, Ok(Ok(()))) {
            return false;
        }
        for (topic, n) in items {
            if n == 0 {
                self.written.remove(&topic);
            } else {
                self.written.insert(topic);
            }
        }
        true
    }

    async fn answer(&mut self, conn: &mut MultiplexedConnection, batch: Vec<Query>) -> bool {
        let mut pipe = redis::pipe();
        let mut asked = Vec::new();
        for q in batch {
            if q.topic.len() > self.cfg.max_topic_len {
                let _ = q.reply.send(None);
                continue;
            }
            pipe.cmd("EVAL")
                .arg(COUNT)
                .arg(1)
                .arg(self.names.presence(&q.topic));
            asked.push(q);
        }
        if asked.is_empty() {
            return true;
        }
        let r = timeout(self.cfg.op_timeout, pipe.query_async::<Vec<u64>>(conn)).await;
        match r {
            Ok(Ok(counts)) if counts.len() == asked.len() => {
                for (q, n) in asked.into_iter().zip(counts) {
                    let _ = q.reply.send(Some(n as usize));
                }
                true
            }
            _ => {
                for q in asked {
                    let _ = q.reply.send(None);
                }
                false
            }
        }
    }
}
