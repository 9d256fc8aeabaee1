//! [`RedisConfig`]: where the broker is and the bounds the backplane keeps.

use std::fmt;
use std::time::Duration;

/// How a [`RedisBackplane`](crate::RedisBackplane) connects and what it bounds.
///
/// Every queue and wait has a limit with a default; the setters change one each.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    pub(crate) url: String,
    pub(crate) prefix: String,
    pub(crate) outbox: usize,
    pub(crate) outbox_max_age: Duration,
    pub(crate) max_envelope: usize,
    pub(crate) max_topic_len: usize,
    pub(crate) presence_ttl: Duration,
    pub(crate) op_timeout: Duration,
    pub(crate) backoff_min: Duration,
    pub(crate) backoff_max: Duration,
}

/// Why a backplane could not be built.
#[derive(Debug)]
pub enum ConfigError {
    /// The Redis URL does not parse (`redis://host:port/db`).
    Url(String),
    /// The prefix is empty, or has bytes other than printable ASCII without spaces.
    Prefix(String),
    /// A bound is zero where it must not be.
    Bound(&'static str),
    /// The backplane's I/O thread could not be started.
    Thread(std::io::Error),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Url(e) => write!(f, "invalid Redis URL: {e}"),
            ConfigError::Prefix(p) => write!(
                f,
                "invalid channel prefix {p:?}: printable ASCII without spaces, not empty"
            ),
            ConfigError::Bound(what) => write!(f, "{what} must be above zero"),
            ConfigError::Thread(e) => write!(f, "cannot start the Redis I/O thread: {e}"),
        }
    }
}

impl std::error::Error for ConfigError {}

impl RedisConfig {
    /// Connects to `url` (`redis://127.0.0.1:6379`) with the default bounds.
    pub fn new(url: impl Into<String>) -> Self {
        RedisConfig {
            url: url.into(),
            prefix: "wirelane".into(),
            outbox: 1024,
            outbox_max_age: Duration::from_secs(2),
            max_envelope: 1 << 20,
            max_topic_len: 256,
            presence_ttl: Duration::from_secs(10),
            op_timeout: Duration::from_secs(1),
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_secs(1),
        }
    }

    /// The prefix of every Redis channel and key this backplane uses (default
    /// `wirelane`). Processes that should share rooms use the same prefix; different
    /// applications on one Redis use different ones.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Publications waiting for Redis, at most (default 1024). While Redis is unreachable
    /// they wait here; beyond this bound new ones are dropped and counted.
    pub fn outbox(mut self, publications: usize) -> Self {
        self.outbox = publications;
        self
    }

    /// How long a publication may wait for Redis before it is dropped and counted
    /// (default 2 s): after an outage, stale chat lines are not replayed.
    pub fn outbox_max_age(mut self, age: Duration) -> Self {
        self.outbox_max_age = age;
        self
    }

    /// Largest envelope sent or accepted, header included (default 1 MiB). Larger
    /// publications stay local and are counted; larger messages from Redis are ignored.
    pub fn max_envelope(mut self, bytes: usize) -> Self {
        self.max_envelope = bytes;
        self
    }

    /// Longest topic name carried across processes, in bytes (default 256). A longer
    /// topic stays local to each process, and its publications are counted as oversized.
    pub fn max_topic_len(mut self, bytes: usize) -> Self {
        self.max_topic_len = bytes;
        self
    }

    /// How long this process's members stay counted in Redis without a refresh (default
    /// 10 s; refreshed every third of it): how soon a dead process stops counting.
    pub fn presence_ttl(mut self, ttl: Duration) -> Self {
        self.presence_ttl = ttl;
        self
    }

    /// Longest wait for a Redis connect or reply before the connection is given up and
    /// re-established (default 1 s).
    pub fn op_timeout(mut self, timeout: Duration) -> Self {
        self.op_timeout = timeout;
        self
    }

    /// Reconnection back-off: the first retry after `min`, doubling up to `max` (default
    /// 50 ms to 1 s).
    pub fn backoff(mut self, min: Duration, max: Duration) -> Self {
        self.backoff_min = min;
        self.backoff_max = max.max(min);
        self
    }

    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        let prefix_ok = !self.prefix.is_empty()
            && self.prefix.bytes().all(|b| b.is_ascii_graphic())
            && self.prefix.len() <= 128;
        if !prefix_ok {
            return Err(ConfigError::Prefix(self.prefix.clone()));
        }
        for (value, what) in [
            (self.outbox, "outbox"),
            (self.max_topic_len, "max_topic_len"),
            (self.max_envelope, "max_envelope"),
        ] {
            if value == 0 {
                return Err(ConfigError::Bound(what));
            }
        }
        for (value, what) in [
            (self.presence_ttl, "presence_ttl"),
            (self.op_timeout, "op_timeout"),
            (self.backoff_min, "backoff"),
        ] {
            if value.is_zero() {
                return Err(ConfigError::Bound(what));
            }
        }
        Ok(())
    }
}
