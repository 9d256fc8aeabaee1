//! Faults: Redis killed and restarted mid-stream, a server process killed, a server
//! stopped cleanly. Against a real `redis-server`.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{presence, redis, until, Node, Tokio};
use wirelane_testkit::client::{ws_connect, ws_send};
use wirelane_testkit::futures_util::StreamExt;
use wirelane_testkit::tokio_tungstenite::tungstenite::Message as TMessage;

const WAIT: Duration = Duration::from_secs(5);

/// The numbers a client received, with their arrival times.
type Arrivals = Arc<Mutex<Vec<(Instant, usize)>>>;

/// Collects the numbers arriving on a WebSocket, with their arrival time, until `total - 1`
/// arrives or `limit` passes.
fn collect(
    mut ws: wirelane_testkit::client::Ws,
    total: usize,
    limit: Duration,
) -> (Arrivals, tokio::task::JoinHandle<()>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    let task = tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + limit;
        while let Ok(Some(Ok(m))) = tokio::time::timeout_at(deadline, ws.next()).await {
            if let TMessage::Text(t) = m {
                let n: usize = t.parse().expect("a number");
                g.lock().unwrap().push((Instant::now(), n));
                if n == total - 1 {
                    break;
                }
            }
        }
    });
    (got, task)
}

/// Redis killed and restarted while a publisher on server A streams to a member on A and
/// one on B: A's member gets everything; B's resumes within 2 s of the restart, in order,
/// without duplicates; and what B missed is exactly what the counters say was lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_mid_stream() {
    let Some(mut redis) = redis() else { return };
    const TOTAL: usize = 800;
    const EVERY: Duration = Duration::from_millis(4);
    // A small outbox, so that the outage overflows it.
    let a = Node::start::<Tokio>(support::config(&redis).outbox(100));
    let b = Node::start::<Tokio>(support::config(&redis));
    let mut publisher = ws_connect(&format!("{}?except", a.url("stream"))).await;
    let a_local = ws_connect(&a.url("stream")).await;
    let b_remote = ws_connect(&b.url("stream")).await;
    assert!(presence(&[&a, &b], "stream", 3, WAIT).await);
    let limit = Duration::from_secs(15);
    let (local, local_task) = collect(a_local, TOTAL, limit);
    let (remote, remote_task) = collect(b_remote, TOTAL, limit);

    let started = Instant::now();
    let mut killed_at = None;
    let mut restarted_at = None;
    for n in 0..TOTAL {
        ws_send(&mut publisher, TMessage::Text(n.to_string())).await;
        let t = started.elapsed();
        if killed_at.is_none() && t >= Duration::from_millis(1000) {
            redis.kill();
            killed_at = Some((Instant::now(), n));
        }
        if restarted_at.is_none() && t >= Duration::from_millis(2500) {
            redis.restart();
            restarted_at = Some((Instant::now(), n));
        }
        tokio::time::sleep(EVERY).await;
    }
    let (killed_at, killed_n) = killed_at.unwrap();
    let (restarted_at, restarted_n) = restarted_at.unwrap();
    local_task.await.unwrap();
    remote_task.await.unwrap();
    // Everything A will ever send has left its outbox.
    let settled = |n: &Node| {
        let s = n.hub.stats().backplane.unwrap();
        s.published == s.sent + s.lost_unreachable + s.dropped_oversized
    };
    assert!(until(WAIT, || settled(&a)).await);

    let local = local.lock().unwrap().clone();
    let remote = remote.lock().unwrap().clone();
    let numbers: Vec<usize> = local.iter().map(|(_, n)| *n).collect();
    assert_eq!(
        numbers,
        (0..TOTAL).collect::<Vec<_>>(),
        "local: all, in order"
    );
    let got: Vec<usize> = remote.iter().map(|(_, n)| *n).collect();
    assert!(
        got.windows(2).all(|w| w[0] < w[1]),
        "remote: in order, no duplicates"
    );
    assert_eq!(got.last(), Some(&(TOTAL - 1)), "remote got the end");
    let resumed = remote
        .iter()
        .find(|(t, _)| *t > restarted_at)
        .map(|(t, _)| t.duration_since(restarted_at))
        .expect("delivery resumed after the restart");
    let sa = a.hub.stats().backplane.unwrap();
    let sb = b.hub.stats().backplane.unwrap();
    let missed = TOTAL - got.len();
    eprintln!(
        "redis killed after message {killed_n}, restarted {:?} later after message {restarted_n}; \
         B received {} of {TOTAL}, missed {missed}; counted: A lost_unreachable {}, \
         B lost_in_transit {}; first remote delivery {resumed:?} after the restart; \
         reconnects A {} B {}",
        restarted_at.duration_since(killed_at),
        got.len(),
        sa.lost_unreachable,
        sb.lost_in_transit,
        sa.reconnects,
        sb.reconnects,
    );
    assert!(
        resumed <= Duration::from_secs(2),
        "resumed after {resumed:?}"
    );
    assert_eq!(sb.received as usize, got.len(), "{sb:?}");
    assert!(missed > 0, "the outage should have cost something");
    assert_eq!(
        sa.lost_unreachable + sb.lost_in_transit,
        missed as u64,
        "every missed message counted once: {sa:?} {sb:?}"
    );
    assert!(sa.reconnects >= 1 && sb.reconnects >= 1);
    assert!(sa.connected && sb.connected);
    // Presence was rewritten into the new, empty Redis (the two readers have left; the
    // publisher is still there).
    assert!(presence(&[&a, &b], "stream", 1, WAIT).await);
}

/// Run by `a_killed_process_stops_counting_within_the_ttl` as a child process: a server
/// with three members, until it is killed. As an ordinary test it does nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_node() {
    let Ok(url) = std::env::var("WIRELANE_REDIS_CHILD") else {
        return;
    };
    let cfg = wirelane_redis::RedisConfig::new(url).presence_ttl(Duration::from_secs(1));
    let node = Node::start::<Tokio>(cfg);
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(ws_connect(&node.url("room")).await);
    }
    assert!(until(WAIT, || node.hub.members("room") == 3).await);
    println!("ready");
    tokio::time::sleep(Duration::from_secs(60)).await;
}

/// A server process killed (SIGKILL) stops counting in presence within the TTL, and its
/// subscription goes; one stopped cleanly stops counting at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_process_stops_counting_within_the_ttl() {
    let Some(redis) = redis() else { return };
    let ttl = Duration::from_secs(1);
    let a = Node::start::<Tokio>(support::config(&redis).presence_ttl(ttl));
    let _a1 = ws_connect(&a.url("room")).await;
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["child_node", "--exact", "--nocapture", "--test-threads=1"])
        .env("WIRELANE_REDIS_CHILD", redis.url())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the child server");
    let stdout = child.stdout.take().unwrap();
    let ready = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|l| l.contains("ready"))
    });
    let ready = tokio::time::timeout(Duration::from_secs(20), ready).await;
    assert!(matches!(ready, Ok(Ok(true))), "child ready");
    assert!(
        presence(&[&a], "room", 4, WAIT).await,
        "1 here + 3 in the child"
    );
    let numsub = || -> i64 {
        let v: (String, i64) = redis.cmd(&[b"PUBSUB", b"NUMSUB", b"wirelane:t:room"]);
        v.1
    };
    assert_eq!(numsub(), 2);

    child.kill().expect("kill the child");
    let killed = Instant::now();
    let _ = child.wait();
    assert!(presence(&[&a], "room", 1, ttl + Duration::from_secs(2)).await);
    let gone_after = killed.elapsed();
    eprintln!("a killed process stopped counting {gone_after:?} after SIGKILL (TTL {ttl:?})");
    assert!(
        gone_after <= ttl + Duration::from_millis(300),
        "{gone_after:?}"
    );
    assert!(until(WAIT, || numsub() == 1).await);

    // A clean stop removes its members at once, long before its (10 s) TTL.
    let c = Node::start::<Tokio>(support::config(&redis).presence_ttl(Duration::from_secs(10)));
    let c1 = ws_connect(&c.url("room")).await;
    let c2 = ws_connect(&c.url("room")).await;
    assert!(presence(&[&a], "room", 3, WAIT).await);
    drop((c1, c2));
    let stopped = Instant::now();
    drop(c);
    assert!(presence(&[&a], "room", 1, Duration::from_secs(2)).await);
    eprintln!(
        "a cleanly stopped server stopped counting {:?} after its stop",
        stopped.elapsed()
    );
}
