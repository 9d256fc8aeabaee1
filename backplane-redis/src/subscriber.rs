//! The subscribing task: one Redis channel per topic with local members, and the messages
//! of other processes from those channels to the hub.

use crate::config::RedisConfig;
use crate::link::{self, Backoff};
use crate::names::Names;
use crate::sequence::Gaps;
use crate::shared::{add, Shared};
use bytes::Bytes;
use futures_util::StreamExt;
use redis::aio::PubSubSink;
use redis::{Client, Msg};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::{interval, sleep, timeout, MissedTickBehavior};
use wirelane_core::app::backplane::envelope::{Envelope, EnvelopeError};

/// How often an idle subscriber connection is checked with a PING (a broker that hangs
/// without closing the socket is noticed within this plus `op_timeout`).
const PING_EVERY: Duration = Duration::from_secs(2);

/// Channels this connection is subscribed to, and the topic each one carries.
type Subscribed = HashMap<String, String>;

pub(crate) async fn run(
    shared: Arc<Shared>,
    cfg: Arc<RedisConfig>,
    client: Client,
    mut stop: watch::Receiver<()>,
) {
    let names = Names::new(&cfg.prefix);
    let mut gaps = Gaps::default();
    let mut backoff = Backoff::new(&cfg, shared.node.rotate_left(17));
    let mut failed = false;
    loop {
        let pubsub = tokio::select! {
            p = link::subscriber(&client, &cfg) => p,
            _ = link::shutdown(&mut stop) => return,
        };
        let Some(pubsub) = pubsub else {
            failed = true;
            tokio::select! {
                _ = sleep(backoff.step()) => continue,
                _ = link::shutdown(&mut stop) => return,
            }
        };
        let (mut sink, mut stream) = pubsub.split();
        let mut subscribed = Subscribed::new();
        // A new connection has no subscriptions: every topic with local members again.
        let topics: Vec<String> = {
            let mut m = shared.members();
            m.sub_dirty.clear();
            m.counts.keys().cloned().collect()
        };
        let wanted = topics.into_iter().map(|t| (t, true)).collect();
        if apply(&mut sink, &names, &cfg, wanted, &mut subscribed, &mut gaps)
            .await
            .is_err()
        {
            failed = true;
            continue;
        }
        if failed {
            add(&shared.counters.reconnects, 1);
        }
        shared.links.subscriber.store(true, Ordering::Relaxed);
        backoff.reset();
        let mut ping = interval(PING_EVERY);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        ping.tick().await;
        loop {
            tokio::select! {
                msg = stream.next() => match msg {
                    Some(msg) => receive(&shared, &cfg, &subscribed, &mut gaps, &msg),
                    None => break, // the connection is gone
                },
                _ = shared.sub_changed.notified() => {
                    let changes: Vec<(String, bool)> = {
                        let mut m = shared.members();
                        let dirty: Vec<String> = m.sub_dirty.drain().collect();
                        dirty
                            .into_iter()
                            .map(|t| {
                                let want = m.counts.contains_key(&t);
                                (t, want)
                            })
                            .collect()
                    };
                    if apply(&mut sink, &names, &cfg, changes, &mut subscribed, &mut gaps)
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
                _ = ping.tick() => {
                    let pong = timeout(cfg.op_timeout, sink.ping::<redis::Value>()).await;
                    if !matches!(pong, Ok(Ok(_))) {
                        break;
                    }
                }
                _ = link::shutdown(&mut stop) => return,
            }
        }
        shared.links.subscriber.store(false, Ordering::Relaxed);
        failed = true;
    }
}

/// Subscribes to (`true`) or unsubscribes from (`false`) the channels of `changes`,
/// in one command each way.
async fn apply(
    sink: &mut PubSubSink,
    names: &Names,
    cfg: &RedisConfig,
    changes: Vec<(String, bool)>,
    subscribed: &mut Subscribed,
    gaps: &mut Gaps,
) -> Result<(), ()> {
    let mut sub = Vec::new();
    let mut unsub = Vec::new();
    for (topic, want) in changes {
        if topic.len() > cfg.max_topic_len {
            continue; // stays local (see `RedisConfig::max_topic_len`)
        }
        let channel = names.channel(&topic);
        match (want, subscribed.contains_key(&channel)) {
            (true, false) => {
                sub.push(channel.clone());
                subscribed.insert(channel, topic);
            }
            (false, true) => {
                subscribed.remove(&channel);
                gaps.forget_topic(&topic);
                unsub.push(channel);
            }
            _ => {}
        }
    }
    if !sub.is_empty() {
        let r = timeout(cfg.op_timeout, sink.subscribe(&sub)).await;
        if !matches!(r, Ok(Ok(()))) {
            return Err(());
        }
    }
    if !unsub.is_empty() {
        let r = timeout(cfg.op_timeout, sink.unsubscribe(&unsub)).await;
        if !matches!(r, Ok(Ok(()))) {
            return Err(());
        }
    }
    Ok(())
}

/// One message from Redis: checked, decoded once, and handed to the hub.
fn receive(
    shared: &Shared,
    cfg: &RedisConfig,
    subscribed: &Subscribed,
    gaps: &mut Gaps,
    msg: &Msg,
) {
    let c = &shared.counters;
    // A message still in flight when its channel was unsubscribed has no topic here.
    let Some(topic) = subscribed.get(msg.get_channel_name()) else {
        return;
    };
    let bytes = msg.get_payload_bytes();
    if bytes.len() > cfg.max_envelope {
        add(&c.ignored_oversized, 1);
        return;
    }
    let envelope = match Envelope::decode(Bytes::copy_from_slice(bytes), cfg.max_envelope) {
        Ok(e) => e,
        Err(e) if e.is_foreign() => return add(&c.ignored_foreign, 1),
        Err(EnvelopeError::Oversized { .. }) => return add(&c.ignored_oversized, 1),
        Err(_) => return add(&c.ignored_malformed, 1),
    };
    if envelope.node() == shared.node {
        // Delivered locally when it was published.
        return add(&c.own_echoes, 1);
    }
    add(
        &c.lost_in_transit,
        gaps.observe(envelope.node(), topic, envelope.seq()),
    );
    add(&c.received, 1);
    if let Some(inbox) = shared.inbox.get() {
        inbox.deliver(topic, &envelope);
    }
}
