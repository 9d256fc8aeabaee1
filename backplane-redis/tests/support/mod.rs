//! What the Redis tests share: a real `redis-server` of their own, servers on each
//! runtime with a hub on a Redis backplane, and WebSocket clients.

#![allow(dead_code)] // each test binary uses a part

use std::future::Future;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use wirelane_core::app::{Context, Hub, SlowClientPolicy};
use wirelane_redis::{RedisBackplane, RedisConfig};
use wirelane_testkit::{Harness, TestServer};

/// A `redis-server` on a free loopback port, without persistence; killed when dropped.
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
}

/// Starts a `redis-server`, or says loudly why not and returns `None` (the test then
/// passes without checking anything), unless `WIRELANE_REQUIRE_REDIS=1`, where a missing
/// `redis-server` fails the test.
pub fn redis() -> Option<RedisServer> {
    let found = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        let required = std::env::var("WIRELANE_REQUIRE_REDIS").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "redis-server is not on PATH and WIRELANE_REQUIRE_REDIS=1: install it (apt-get install redis-server)"
        );
        // Written to the process's stderr directly: the test harness hides what
        // `eprintln!` prints in a passing test, and this must be seen.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
             !! SKIPPED: redis-server is not on PATH; the Redis backplane is UNTESTED !!\n\
             !! install it (apt-get install redis-server) or set WIRELANE_REQUIRE_REDIS=1\n\
             !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
        );
        return None;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut server = RedisServer { port, child: None };
    server.restart();
    Some(server)
}

impl RedisServer {
    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server (again) on the same port, empty, and waits until it answers.
    pub fn restart(&mut self) {
        self.kill();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if TcpStream::connect(addr).is_ok() && self.try_cmd(&["PING"]).is_some() {
                return;
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn try_cmd(&self, args: &[&str]) -> Option<redis::Value> {
        let client = redis::Client::open(self.url()).ok()?;
        let mut con = client
            .get_connection_with_timeout(Duration::from_secs(2))
            .ok()?;
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query(&mut con).ok()
    }

    /// Runs one command on a connection of its own.
    pub fn cmd<T: redis::FromRedisValue>(&self, args: &[&[u8]]) -> T {
        let client = redis::Client::open(self.url()).expect("url");
        let mut con = client
            .get_connection_with_timeout(Duration::from_secs(2))
            .expect("connect to redis");
        let mut cmd = redis::cmd(std::str::from_utf8(args[0]).expect("command name"));
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query(&mut con).expect("redis command")
    }

    /// The channels with at least one subscriber (`PUBSUB CHANNELS`).
    pub fn channels(&self) -> Vec<String> {
        let mut c: Vec<String> = self.cmd(&[b"PUBSUB", b"CHANNELS"]);
        c.sort();
        c
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Fast-moving bounds for tests: quick reconnects, a short presence TTL.
pub fn config(redis: &RedisServer) -> RedisConfig {
    RedisConfig::new(redis.url())
        .backoff(Duration::from_millis(20), Duration::from_millis(250))
        .presence_ttl(Duration::from_secs(1))
}

/// One server process: a server on runtime `H` with a hub on its own Redis backplane.
///
/// `/room/{topic}` joins `topic` and publishes every message it receives to it
/// (`?except` publishes to the others only).
pub struct Node {
    pub hub: Hub,
    pub backplane: Arc<RedisBackplane>,
    pub server: TestServer,
}

impl Node {
    pub fn start<H: Harness>(cfg: RedisConfig) -> Node {
        Self::start_with::<H>(cfg, SlowClientPolicy::DropMessage, None)
    }

    pub fn start_with<H: Harness>(
        cfg: RedisConfig,
        policy: SlowClientPolicy,
        max_queue: Option<usize>,
    ) -> Node {
        let backplane = RedisBackplane::start(cfg).expect("backplane");
        let hub = Hub::with_backplane(policy, backplane.clone());
        let h = hub.clone();
        let server = TestServer::start::<H, _, _>(move |s| async move {
            if let Some(q) = max_queue {
                s.max_outgoing_queue(q).await;
            }
            s.route("/room/{topic}", move |ctx: Context| room(h.clone(), ctx))
                .await;
        });
        Node {
            hub,
            backplane,
            server,
        }
    }

    pub fn url(&self, topic: &str) -> String {
        self.server.ws_url(&format!("/room/{topic}"))
    }
}

async fn room(hub: Hub, ctx: Context) {
    let topic = ctx.route_param("topic").unwrap_or("room").to_string();
    let except = ctx.query().is_some_and(|q| q.contains("except"));
    let me = hub.join(&topic, ctx.sender());
    while let Some(msg) = ctx.recv_message().await {
        if except {
            hub.publish_except(&topic, me.id(), msg);
        } else {
            hub.publish(&topic, msg);
        }
    }
}

/// Polls `cond` every 10 ms until it holds or `limit` passes.
pub async fn until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until every node's hub counts `n` members of `topic` across processes.
pub async fn presence(nodes: &[&Node], topic: &str, n: usize, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        let mut all = true;
        for node in nodes {
            if node.hub.member_count(topic).await != n {
                all = false;
            }
        }
        if all {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ----- the runtimes -----

pub struct Tokio;

impl Harness for Tokio {
    type Runtime = wirelane_tokio::TokioRuntime;
    const NAME: &'static str = "tokio";
    fn runtime() -> Self::Runtime {
        wirelane_tokio::TokioRuntime
    }
    fn block_on<F: Future>(fut: F) -> F::Output {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime")
            .block_on(fut)
    }
}

pub struct AsyncStd;

impl Harness for AsyncStd {
    type Runtime = wirelane_async_std::AsyncStdRuntime;
    const NAME: &'static str = "async-std";
    fn runtime() -> Self::Runtime {
        wirelane_async_std::AsyncStdRuntime
    }
    fn block_on<F: Future>(fut: F) -> F::Output {
        async_std::task::block_on(fut)
    }
}

pub struct Smol;

fn smol_executor() -> Arc<smol::Executor<'static>> {
    static EXECUTOR: OnceLock<Arc<smol::Executor<'static>>> = OnceLock::new();
    EXECUTOR
        .get_or_init(|| {
            let ex = Arc::new(smol::Executor::new());
            let run = ex.clone();
            std::thread::Builder::new()
                .name("smol-test".into())
                .spawn(move || smol::block_on(run.run(smol::future::pending::<()>())))
                .expect("executor thread");
            ex
        })
        .clone()
}

impl Harness for Smol {
    type Runtime = wirelane_smol::SmolRuntime;
    const NAME: &'static str = "smol";
    fn runtime() -> Self::Runtime {
        wirelane_smol::SmolRuntime::new(smol_executor())
    }
    fn block_on<F: Future>(fut: F) -> F::Output {
        smol::block_on(smol_executor().run(fut))
    }
}
