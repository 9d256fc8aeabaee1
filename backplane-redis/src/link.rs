//! Connecting to Redis: time limits on every connect, and the back-off between attempts.

use crate::config::RedisConfig;
use redis::aio::{MultiplexedConnection, PubSub};
use redis::{AsyncConnectionConfig, Client};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::timeout;

/// Why a task stops waiting: the backplane handle is gone.
pub(crate) struct Shutdown;

/// Waits for the backplane handle to be dropped (the sender side of `rx`).
pub(crate) async fn shutdown(rx: &mut watch::Receiver<()>) -> Shutdown {
    while rx.changed().await.is_ok() {}
    Shutdown
}

/// A connection for commands (publishing, presence), many requests in flight at once.
pub(crate) async fn commands(client: &Client, cfg: &RedisConfig) -> Option<MultiplexedConnection> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(cfg.op_timeout))
        .set_response_timeout(Some(cfg.op_timeout));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .ok()
}

/// A connection in subscriber mode.
pub(crate) async fn subscriber(client: &Client, cfg: &RedisConfig) -> Option<PubSub> {
    timeout(cfg.op_timeout, client.get_async_pubsub())
        .await
        .ok()?
        .ok()
}

/// Exponential back-off with jitter, so that many processes losing the same Redis do not
/// all come back in the same millisecond.
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
    rng: u64,
}

impl Backoff {
    pub(crate) fn new(cfg: &RedisConfig, seed: u64) -> Self {
        Backoff {
            min: cfg.backoff_min,
            max: cfg.backoff_max,
            next: cfg.backoff_min,
            rng: seed | 1,
        }
    }

    /// After a success: the next failure waits the minimum again.
    pub(crate) fn reset(&mut self) {
        self.next = self.min;
    }

    /// The wait before the next attempt (75–100 % of the current step), doubling the step.
    pub(crate) fn step(&mut self) -> Duration {
        // xorshift64: enough randomness for spreading retries.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let quarter = self.next / 4;
        let jitter = quarter.mul_f64((self.rng % 1000) as f64 / 1000.0);
        let wait = self.next - quarter + jitter;
        self.next = (self.next * 2).min(self.max);
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets() {
        let cfg = RedisConfig::new("redis://127.0.0.1")
            .backoff(Duration::from_millis(100), Duration::from_millis(400));
        let mut b = Backoff::new(&cfg, 42);
        let steps: Vec<Duration> = (0..5).map(|_| b.step()).collect();
        let caps = [100, 200, 400, 400, 400];
        for (s, cap) in steps.iter().zip(caps) {
            let cap = Duration::from_millis(cap);
            assert!(*s <= cap && *s >= cap * 3 / 4, "{s:?} vs {cap:?}");
        }
        b.reset();
        assert!(b.step() <= Duration::from_millis(100));
    }
}
