//! `/push/*`: one server-pushed stream delivered four ways, for the comparison the
//! WebSocket article makes (`loadgen --push ws|sse|long-poll|short-poll`, BENCHMARKS.md).
//!
//! With `--push-rate N`, a publisher thread publishes N messages a second, each stamped
//! with the wall-clock time it was published: `{"seq":S,"t":UNIX_NANOS}`.
//!
//! - `/push/ws` (WebSocket): joins the [`Hub`] topic `push`; each message is one text frame.
//! - `/push/sse`: Server-Sent Events, one event per message.
//! - `/push/poll?after=S`: long polling: answers as soon as there is a message after `S`
//!   (or at once, if there is one already) with every such message still kept, one per line.
//!   Without `after`, waits for the next one. The response's `x-seq` header is the `after`
//!   of the next poll.
//! - `/push/poll?after=S&wait=0`: short polling: the same, but answers at once, possibly
//!   with no messages.

use bytes::Bytes;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use wirelane_core::app::headers::CONTENT_TYPE;
use wirelane_core::app::{Context, Hub, Runtime, Server};

const TOPIC: &str = "push";
/// Messages kept for pollers that fall behind.
const KEEP: usize = 4096;

/// The published messages: the latest `KEEP`, and the tasks waiting for the next one.
#[derive(Default)]
struct Feed {
    state: Mutex<FeedState>,
}

#[derive(Default)]
struct FeedState {
    /// The last sequence number published (the first message is 1).
    last: u64,
    /// `(seq, message)`, oldest first.
    kept: VecDeque<(u64, Bytes)>,
    waiting: Vec<Waker>,
}

impl Feed {
    fn state(&self) -> MutexGuard<'_, FeedState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn publish(&self, seq: u64, msg: Bytes) {
        let waiting = {
            let mut st = self.state();
            st.last = seq;
            if st.kept.len() == KEEP {
                st.kept.pop_front();
            }
            st.kept.push_back((seq, msg));
            std::mem::take(&mut st.waiting)
        };
        waiting.into_iter().for_each(Waker::wake);
    }

    fn last(&self) -> u64 {
        self.state().last
    }

    /// The messages after `after` (and the last sequence number), waiting for one first
    /// when `wait` and there is none yet.
    async fn after(&self, after: u64, wait: bool) -> (Vec<Bytes>, u64) {
        poll_fn(|cx| {
            let mut st = self.state();
            if st.last <= after && wait {
                st.waiting.push(cx.waker().clone());
                return Poll::Pending;
            }
            let new = st.kept.iter().filter(|(s, _)| *s > after);
            Poll::Ready((new.map(|(_, m)| m.clone()).collect(), st.last.max(after)))
        })
        .await
    }
}

/// Messages a second the publisher publishes (`--push-rate`; 0: no publisher).
static RATE: OnceLock<f64> = OnceLock::new();

/// Sets the publishing rate, before [`routes`].
pub fn set_rate(rate: f64) {
    let _ = RATE.set(rate);
}

/// Adds the `/push/*` routes, and starts the publisher when the rate is above 0.
pub async fn routes<R: Runtime>(server: &Server<R>) {
    let rate = RATE.get().copied().unwrap_or(0.0);
    let hub = Hub::default();
    let feed = Arc::new(Feed::default());
    if rate > 0.0 {
        let (hub, feed) = (hub.clone(), feed.clone());
        std::thread::spawn(move || publish(&hub, &feed, rate));
    }
    server
        .route("/push/ws", move |ctx| ws(hub.clone(), ctx))
        .await;
    let f = feed.clone();
    server
        .get("/push/sse", move |ctx| sse(f.clone(), ctx))
        .await;
    server
        .get("/push/poll", move |ctx| poll(feed.clone(), ctx))
        .await;
}

/// Publishes `rate` messages a second, forever, on a fixed schedule; when it falls more
/// than 50 ms behind (a starved thread), it starts the schedule afresh instead of bursting.
fn publish(hub: &Hub, feed: &Feed, rate: f64) {
    let mut start = Instant::now();
    let mut seq = 0u64;
    loop {
        seq += 1;
        let due = start + Duration::from_secs_f64(seq as f64 / rate);
        let now = Instant::now();
        match due.checked_duration_since(now) {
            Some(wait) => std::thread::sleep(wait),
            None if now - due > Duration::from_millis(50) => {
                start = now - Duration::from_secs_f64(seq as f64 / rate);
            }
            None => {}
        }
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let msg = format!("{{\"seq\":{seq},\"t\":{t}}}");
        feed.publish(seq, Bytes::from(msg.clone()));
        hub.publish(TOPIC, msg);
    }
}

async fn ws(hub: Hub, ctx: Context) {
    if !ctx.is_websocket() {
        ctx.set_response_status_code(426).await;
        return;
    }
    let _member = hub.join(TOPIC, ctx.sender());
    // Stay a member until the client closes.
    while ctx.recv_message().await.is_some() {}
}

async fn sse(feed: Arc<Feed>, ctx: Context) {
    let mut seen = feed.last();
    loop {
        let (msgs, last) = feed.after(seen, true).await;
        seen = last;
        for m in msgs {
            let text = std::str::from_utf8(&m).unwrap_or_default();
            if ctx.send_event(None, text).await.is_err() {
                return;
            }
        }
    }
}

async fn poll(feed: Arc<Feed>, ctx: Context) {
    let after = ctx.query_param("after").and_then(|s| s.parse().ok());
    let wait = ctx.query_param("wait").as_deref() != Some("0");
    let (msgs, last) = feed.after(after.unwrap_or_else(|| feed.last()), wait).await;
    let mut body = Vec::with_capacity(msgs.iter().map(|m| m.len() + 1).sum());
    for m in msgs {
        body.extend_from_slice(&m);
        body.push(b'\n');
    }
    ctx.set_response_header(CONTENT_TYPE, "text/plain")
        .await
        .set_response_header("x-seq", last.to_string())
        .await
        .set_response_body(body)
        .await;
}
