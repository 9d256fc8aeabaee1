//! The Redis backplane's contract across server processes (here: several servers in one
//! test process, each with its own hub, backplane and Redis connections, like separate
//! processes), against a real `redis-server`.

mod support;

use std::time::Duration;
use support::{presence, redis, until, AsyncStd, Node, Smol, Tokio};
use wirelane_core::app::backplane::envelope;
use wirelane_core::app::{Backplane, Hub, SlowClientPolicy};
use wirelane_core::proto::ws::DataKind;
use wirelane_redis::{RedisBackplane, RedisConfig};
use wirelane_testkit::client::{ws_connect, ws_recv, ws_recv_within, ws_send, Ws};
use wirelane_testkit::tokio_tungstenite::tungstenite::Message as TMessage;

const WAIT: Duration = Duration::from_secs(5);

fn text(s: impl Into<String>) -> TMessage {
    TMessage::Text(s.into())
}

async fn recv_text(ws: &mut Ws) -> String {
    match ws_recv(ws).await {
        TMessage::Text(t) => t,
        m => panic!("expected text, got {m:?}"),
    }
}

/// Nothing more arrives on `ws` for a while.
async fn quiet(ws: &mut Ws) {
    let r = tokio::time::timeout(Duration::from_millis(300), ws_recv_within(ws, WAIT)).await;
    assert!(r.is_err(), "unexpected message {:?}", r.ok());
}

/// Three servers, two members each: every member sees every message of every publisher
/// exactly once and in each publisher's order; each process encodes and sends each
/// publication once, and ignores its own coming back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_servers_every_member_sees_every_message_once_in_order() {
    let Some(redis) = redis() else { return };
    let nodes: Vec<Node> = (0..3)
        .map(|_| Node::start::<Tokio>(support::config(&redis)))
        .collect();
    let mut clients = Vec::new();
    for node in &nodes {
        for _ in 0..2 {
            clients.push(ws_connect(&node.url("room")).await);
        }
    }
    let refs: Vec<&Node> = nodes.iter().collect();
    assert!(presence(&refs, "room", 6, WAIT).await, "presence of 6");
    assert!(
        until(WAIT, || nodes.iter().all(|n| n.backplane.is_connected())).await,
        "all connected"
    );
    assert_eq!(redis.channels(), vec!["wirelane:t:room".to_string()]);

    const PER: usize = 100;
    // Publishers: the first member of each server, interleaved.
    for i in 0..PER {
        for p in 0..3 {
            ws_send(&mut clients[p * 2], text(format!("{p}:{i}"))).await;
        }
    }
    for (c, ws) in clients.iter_mut().enumerate() {
        let mut next = [0usize; 3];
        for _ in 0..3 * PER {
            let t = recv_text(ws).await;
            let (p, i) = t.split_once(':').expect("p:i");
            let (p, i): (usize, usize) = (p.parse().unwrap(), i.parse().unwrap());
            assert_eq!(
                i, next[p],
                "client {c}: publisher {p} out of order or twice"
            );
            next[p] += 1;
        }
        assert_eq!(next, [PER; 3], "client {c}");
        quiet(ws).await;
    }
    for node in &nodes {
        let s = node.hub.stats();
        let bp = s.backplane.expect("backplane stats");
        assert_eq!(s.published, PER as u64, "{s:?}");
        assert_eq!(bp.sent, PER as u64, "one PUBLISH per publication: {bp:?}");
        assert_eq!(bp.received, 2 * PER as u64, "{bp:?}");
        assert_eq!(bp.own_echoes, PER as u64, "{bp:?}");
        assert_eq!(s.delivered, 2 * 3 * PER as u64, "{s:?}");
        assert_eq!(
            (bp.lost_unreachable, bp.lost_in_transit, bp.ignored_foreign),
            (0, 0, 0)
        );
    }
}

/// `publish_except` leaves out the publishing member only, on every server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_except_excludes_the_sender_across_servers() {
    let Some(redis) = redis() else { return };
    let a = Node::start::<Tokio>(support::config(&redis));
    let b = Node::start::<Tokio>(support::config(&redis));
    let mut sender = ws_connect(&format!("{}?except", a.url("room"))).await;
    let mut a2 = ws_connect(&a.url("room")).await;
    let mut b1 = ws_connect(&b.url("room")).await;
    assert!(presence(&[&a, &b], "room", 3, WAIT).await);
    ws_send(&mut sender, text("hi")).await;
    assert_eq!(recv_text(&mut a2).await, "hi");
    assert_eq!(recv_text(&mut b1).await, "hi");
    quiet(&mut sender).await;
}

/// A process subscribes to a topic's channel while it has members and unsubscribes when
/// the last one leaves; presence follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_channel_goes_away_when_the_last_member_leaves() {
    let Some(redis) = redis() else { return };
    let a = Node::start::<Tokio>(support::config(&redis));
    let b = Node::start::<Tokio>(support::config(&redis));
    assert!(redis.channels().is_empty());
    let a1 = ws_connect(&a.url("lobby")).await;
    let a2 = ws_connect(&a.url("lobby")).await;
    let b1 = ws_connect(&b.url("lobby")).await;
    assert!(presence(&[&a, &b], "lobby", 3, WAIT).await);
    let numsub = || -> i64 {
        let v: (String, i64) = redis.cmd(&[b"PUBSUB", b"NUMSUB", b"wirelane:t:lobby"]);
        v.1
    };
    assert!(
        until(WAIT, || numsub() == 2).await,
        "one subscription per process"
    );
    drop(a1);
    assert!(presence(&[&a, &b], "lobby", 2, WAIT).await);
    assert_eq!(numsub(), 2, "a still has a member");
    drop(a2);
    assert!(until(WAIT, || numsub() == 1).await, "a unsubscribed");
    assert!(presence(&[&a, &b], "lobby", 1, WAIT).await);
    drop(b1);
    assert!(until(WAIT, || redis.channels().is_empty()).await);
    assert!(presence(&[&a, &b], "lobby", 0, WAIT).await);
}

/// The same contract on the async-std and smol adapters (and tokio), side by side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_std_smol_and_tokio_servers_share_a_room() {
    let Some(redis) = redis() else { return };
    let nodes = [
        Node::start::<AsyncStd>(support::config(&redis)),
        Node::start::<Smol>(support::config(&redis)),
        Node::start::<Tokio>(support::config(&redis)),
    ];
    let mut clients = Vec::new();
    for n in &nodes {
        clients.push(ws_connect(&n.url("mixed")).await);
        clients.push(ws_connect(&format!("{}?except", n.url("mixed"))).await);
    }
    let refs: Vec<&Node> = nodes.iter().collect();
    assert!(presence(&refs, "mixed", 6, WAIT).await);
    for i in 0..20 {
        for p in 0..3 {
            ws_send(&mut clients[p * 2 + 1], text(format!("{p}:{i}"))).await;
        }
    }
    for (c, ws) in clients.iter_mut().enumerate() {
        let mine = (c % 2 == 1).then_some(c / 2);
        let mut next = [0usize; 3];
        let want = if mine.is_some() { 40 } else { 60 };
        for _ in 0..want {
            let t = recv_text(ws).await;
            let (p, i) = t.split_once(':').expect("p:i");
            let (p, i): (usize, usize) = (p.parse().unwrap(), i.parse().unwrap());
            assert_ne!(Some(p), mine, "client {c} got its own message");
            assert_eq!(i, next[p], "client {c}: order");
            next[p] += 1;
        }
        quiet(ws).await;
    }
}

/// Whatever else arrives on our channels is ignored and counted; a valid envelope from
/// another node is delivered; topic names cannot reach other topics' channels.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_messages_are_ignored_and_counted() {
    let Some(redis) = redis() else { return };
    let a = Node::start::<Tokio>(support::config(&redis).max_envelope(4096));
    let mut ws = ws_connect(&a.url("room")).await;
    // Topics that look like other channels or keys, or globs: each its own channel.
    let mut tricky = ws_connect(&a.url("room:x")).await;
    assert!(presence(&[&a], "room", 1, WAIT).await);
    assert!(until(WAIT, || redis.channels().len() == 2).await);
    assert_eq!(
        redis.channels(),
        vec![
            "wirelane:t:room".to_string(),
            "wirelane:t:room%3Ax".to_string()
        ]
    );
    let publish = |payload: &[u8]| {
        let _: i64 = redis.cmd(&[b"PUBLISH", b"wirelane:t:room", payload]);
    };
    let valid =
        |node: u64, seq: u64, kind: DataKind, p: &[u8]| envelope::encode(node, seq, None, kind, p);
    publish(b"");
    publish(b"hello");
    publish(br#"{"type":"message"}"#);
    publish(b"wl\x09future version");
    publish(&valid(7, 1, DataKind::Text, b"ok")[..10]);
    let mut bad_flags = valid(7, 1, DataKind::Text, b"x");
    bad_flags[3] = 0xf0;
    publish(&bad_flags);
    publish(&valid(7, 1, DataKind::Text, &[0xc3, 0x28]));
    publish(&valid(7, 1, DataKind::Binary, &vec![b'x'; 5000]));
    publish(&valid(
        a.backplane.node(),
        1,
        DataKind::Text,
        b"forged echo",
    ));
    publish(&valid(7, 1, DataKind::Text, "from node 7 ✓".as_bytes()));
    assert_eq!(recv_text(&mut ws).await, "from node 7 ✓");
    quiet(&mut ws).await;
    quiet(&mut tricky).await;
    let bp = a.hub.stats().backplane.unwrap();
    assert_eq!(bp.ignored_foreign, 4, "{bp:?}");
    assert_eq!(bp.ignored_malformed, 3, "{bp:?}");
    assert_eq!(bp.ignored_oversized, 1, "{bp:?}");
    assert_eq!(bp.own_echoes, 1, "{bp:?}");
    assert_eq!(bp.received, 1, "{bp:?}");
    // Still serving.
    ws_send(&mut ws, text("after")).await;
    assert_eq!(recv_text(&mut ws).await, "after");
}

/// Without Redis, local delivery goes on, publications for other processes are dropped
/// and counted beyond the outbox bound, and presence falls back to the local count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_local_delivery_goes_on_and_losses_are_counted() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = RedisConfig::new(format!("redis://127.0.0.1:{port}")).outbox(4);
    let a = Node::start::<Tokio>(cfg);
    let mut c1 = ws_connect(&a.url("room")).await;
    let mut c2 = ws_connect(&a.url("room")).await;
    assert!(until(WAIT, || a.hub.members("room") == 2).await);
    for i in 0..10 {
        ws_send(&mut c1, text(format!("{i}"))).await;
    }
    for i in 0..10 {
        assert_eq!(recv_text(&mut c2).await, format!("{i}"));
        assert_eq!(recv_text(&mut c1).await, format!("{i}"));
    }
    let s = a.hub.stats();
    let bp = s.backplane.unwrap();
    assert!(!bp.connected);
    assert_eq!((s.published, bp.published), (10, 10));
    assert_eq!(bp.lost_unreachable, 6, "4 wait in the outbox: {bp:?}");
    assert_eq!(a.hub.member_count("room").await, 2);
}

/// Publications too large for the envelope limit, or on topics too long to carry, stay
/// local and are counted.
#[test]
fn oversized_publications_stay_local() {
    let bp = RedisBackplane::start(
        RedisConfig::new("redis://127.0.0.1:1")
            .max_envelope(100)
            .max_topic_len(8),
    )
    .unwrap();
    let hub = Hub::with_backplane(SlowClientPolicy::DropMessage, bp.clone());
    hub.publish("room", vec![0u8; 200]);
    hub.publish("a-very-long-topic", "x");
    let s = bp.stats();
    assert_eq!((s.published, s.dropped_oversized), (2, 2));
}

#[test]
fn bad_configuration_is_an_error() {
    for cfg in [
        RedisConfig::new("not a url"),
        RedisConfig::new("redis://127.0.0.1").prefix(""),
        RedisConfig::new("redis://127.0.0.1").prefix("has space"),
        RedisConfig::new("redis://127.0.0.1").outbox(0),
    ] {
        let e = RedisBackplane::start(cfg).expect_err("refused");
        assert!(!e.to_string().is_empty());
    }
}

/// Remote messages go through the same bounded per-member queues and slow-client policy as
/// local ones: a member on B that stops reading is disconnected (1008), removed and
/// counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_remote_member_meets_the_slow_client_policy() {
    let Some(redis) = redis() else { return };
    let a = Node::start::<Tokio>(support::config(&redis).outbox(4096));
    let b = Node::start_with::<Tokio>(
        support::config(&redis),
        SlowClientPolicy::Disconnect,
        Some(64 * 1024),
    );
    let mut publisher = ws_connect(&format!("{}?except", a.url("fast"))).await;
    let _stalled = ws_connect(&b.url("fast")).await; // never read from
    assert!(presence(&[&a, &b], "fast", 2, WAIT).await);
    // Up to 16 MiB: more than the kernel's socket buffers can hide.
    let chunk = "x".repeat(16 * 1024);
    for _ in 0..1024 {
        ws_send(&mut publisher, text(chunk.clone())).await;
        if b.hub.members("fast") == 0 {
            break;
        }
    }
    assert!(
        until(WAIT, || b.hub.members("fast") == 0).await,
        "the stalled member should have been dropped"
    );
    let s = b.hub.stats();
    assert!(s.dropped_slow >= 1 && s.remote >= 1, "{s:?}");
    assert_eq!(s.backplane.unwrap().lost_in_transit, 0);
}
