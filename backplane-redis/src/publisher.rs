//! The publishing task: takes this process's publications from the outbox, numbers them,
//! and sends them to Redis in pipelined batches.

use crate::config::RedisConfig;
use crate::link::{self, Backoff};
use crate::names::Names;
use crate::sequence::Numbering;
use crate::shared::{add, Shared};
use bytes::Bytes;
use redis::Client;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep, timeout};
use wirelane_core::app::backplane::envelope;
use wirelane_core::proto::ws::DataKind;

/// Publications sent in one pipeline, at most: one round trip for many messages, without
/// holding a large batch in memory.
const BATCH: usize = 256;

/// One publication waiting for Redis.
pub(crate) struct Outgoing {
    pub topic: String,
    pub kind: DataKind,
    pub payload: Bytes,
    pub except: Option<u64>,
    pub queued_at: Instant,
}

pub(crate) async fn run(
    shared: Arc<Shared>,
    cfg: Arc<RedisConfig>,
    client: Client,
    mut outbox: mpsc::Receiver<Outgoing>,
    mut stop: watch::Receiver<()>,
) {
    let names = Names::new(&cfg.prefix);
    let mut numbering = Numbering::default();
    let mut backoff = Backoff::new(&cfg, shared.node);
    let mut failed = false;
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        // While this connects (or waits to retry), publications wait in the outbox, up to
        // its bound; the hub drops and counts what does not fit.
        let conn = tokio::select! {
            c = link::commands(&client, &cfg) => c,
            _ = link::shutdown(&mut stop) => return,
        };
        let Some(mut conn) = conn else {
            failed = true;
            tokio::select! {
                _ = sleep(backoff.step()) => continue,
                _ = link::shutdown(&mut stop) => return,
            }
        };
        if failed {
            add(&shared.counters.reconnects, 1);
        }
        shared.links.publisher.store(true, Ordering::Relaxed);
        backoff.reset();
        loop {
            if outbox.recv_many(&mut batch, BATCH).await == 0 {
                return; // the backplane handle is gone
            }
            let now = Instant::now();
            let mut pipe = redis::pipe();
            let mut sent = 0;
            for m in batch.drain(..) {
                if now.duration_since(m.queued_at) > cfg.outbox_max_age {
                    add(&shared.counters.lost_unreachable, 1);
                    continue;
                }
                let seq = numbering.next(&m.topic);
                let env = envelope::encode(shared.node, seq, m.except, m.kind, &m.payload);
                pipe.cmd("PUBLISH")
                    .arg(names.channel(&m.topic))
                    .arg(env)
                    .ignore();
                sent += 1;
            }
            if sent == 0 {
                continue;
            }
            // Numbered and written: if the connection fails now, whoever misses them
            // sees the gap in the numbers and counts them as lost in transit.
            add(&shared.counters.sent, sent);
            let result = timeout(cfg.op_timeout, pipe.query_async::<()>(&mut conn)).await;
            if !matches!(result, Ok(Ok(()))) {
                break;
            }
        }
        shared.links.publisher.store(false, Ordering::Relaxed);
        failed = true;
    }
}
