//! The behaviour suite of wirelane: real servers on 127.0.0.1, driven by independent
//! clients (`tokio-tungstenite` for WebSocket, raw TCP for HTTP and malformed input).
//!
//! The suite is written once. The routes and handlers are runtime-agnostic (a
//! [`Context`](wirelane_core::app::Context) is not generic), so every case lives here; a
//! runtime adapter only says how to make its runtime and how to block on a future, and
//! instantiates the suite with one macro call in a test file:
//!
//! ```ignore
//! // runtime-tokio/tests/behaviour.rs
//! struct Tokio;
//!
//! impl wirelane_testkit::Harness for Tokio {
//!     type Runtime = wirelane_tokio::TokioRuntime;
//!     const NAME: &'static str = "tokio";
//!     fn runtime() -> Self::Runtime {
//!         wirelane_tokio::TokioRuntime
//!     }
//!     fn block_on<F: std::future::Future>(fut: F) -> F::Output {
//!         tokio::runtime::Builder::new_multi_thread()
//!             .worker_threads(2)
//!             .enable_all()
//!             .build()
//!             .expect("tokio runtime")
//!             .block_on(fut)
//!     }
//! }
//!
//! wirelane_testkit::behaviour_suite!(Tokio);
//! ```
//!
//! The macro expands to one `#[test]` per case ([`cases`]). Each test starts its own
//! server with [`TestServer::start`] (a background thread running the adapter's runtime,
//! listening on 127.0.0.1:0), runs the client side on a tokio runtime of its own, and is
//! bounded by [`CASE_TIMEOUT`]. Dropping the [`TestServer`] shuts the server down, so a
//! failing case stops by itself too.
//!
//! Handlers that need to wait use [`util::sleep`] and [`util::Gate`], which need no
//! runtime (a timer thread and a waker), so they behave the same on every adapter.

#![warn(missing_docs)]

pub mod cases;
pub mod client;
pub mod tls;
pub mod util;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use wirelane_core::app::{Runtime, Server, ServerHandle};

pub use futures_util;
pub use tokio;
pub use tokio_tungstenite;
pub use wirelane_core;

/// The most one case may take, server start and shutdown included.
pub const CASE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a case waits for any single expected event (a response, a message, a close)
/// unless it says otherwise.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(5);

/// What a runtime adapter provides to run the suite: its runtime, and a way to drive a
/// future to completion on it.
pub trait Harness: 'static {
    /// The adapter's [`Runtime`].
    type Runtime: Runtime;
    /// The runtime's name, for messages.
    const NAME: &'static str;
    /// Whether the server speaks TLS (see [`tls::OverTls`]).
    const TLS: bool = false;
    /// A runtime instance that servers spawn their tasks on.
    fn runtime() -> Self::Runtime;
    /// Runs `fut` to completion on this runtime, blocking the current thread (a fresh
    /// background thread per server). Tasks spawned through [`Runtime::spawn`] must make
    /// progress while it runs (and may be dropped when it returns).
    fn block_on<F: Future>(fut: F) -> F::Output;
}

/// A server running on a harness's runtime in a background thread.
///
/// Dropping it starts a graceful shutdown and waits (bounded) for the thread to end.
pub struct TestServer {
    addr: SocketAddr,
    handle: ServerHandle,
    done: Option<mpsc::Receiver<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("addr", &self.addr)
            .finish()
    }
}

/// Shutdown timeout given to every test server (so a stuck connection cannot hold a
/// test for the 10 s default).
pub const TEST_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(3);

impl TestServer {
    /// Starts a server on `H`'s runtime, listening on 127.0.0.1 with a free port, after
    /// `configure` has added its routes and settings (it runs on the server's thread,
    /// with the server's runtime current).
    ///
    /// # Panics
    /// If the server fails to start.
    pub fn start<H, F, Fut>(configure: F) -> TestServer
    where
        H: Harness,
        F: FnOnce(Server<H::Runtime>) -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        let (addr_tx, addr_rx) = mpsc::channel();
        let (done_tx, done_rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(format!("wirelane-{}-server", H::NAME))
            .spawn(move || {
                H::block_on(async move {
                    let server = Server::with_runtime(H::runtime());
                    server.host("127.0.0.1").await;
                    server.port(0).await;
                    server.shutdown_timeout(TEST_SHUTDOWN_TIMEOUT).await;
                    if H::TLS {
                        server.tls(tls::server_config()).await;
                    }
                    configure(server.clone()).await;
                    match server.start().await {
                        Ok(handle) => {
                            let _ = addr_tx.send(Ok(handle.clone()));
                            handle.wait().await;
                        }
                        Err(e) => {
                            let _ = addr_tx.send(Err(e.to_string()));
                        }
                    }
                });
                let _ = done_tx.send(());
            })
            .expect("spawn server thread");
        let handle = match addr_rx.recv_timeout(STEP_TIMEOUT) {
            Ok(Ok(h)) => h,
            Ok(Err(e)) => panic!("[{}] server failed to start: {e}", H::NAME),
            Err(e) => panic!("[{}] server did not start: {e}", H::NAME),
        };
        if H::TLS {
            tls::register(handle.local_addr());
        }
        TestServer {
            addr: handle.local_addr(),
            handle,
            done: Some(done_rx),
            thread: Some(thread),
        }
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://ADDR{path}`, or `wss://` when the server speaks TLS.
    pub fn ws_url(&self, path: &str) -> String {
        let scheme = if tls::is_tls(self.addr) { "wss" } else { "ws" };
        format!("{scheme}://{}{}", self.addr, path)
    }

    /// The server's handle (shutdown, connection count).
    pub fn handle(&self) -> &ServerHandle {
        &self.handle
    }

    /// Starts a graceful shutdown and waits until every connection has ended and the
    /// server thread has returned; panics if that takes longer than `limit`.
    pub async fn shutdown_and_join(&mut self, limit: Duration) {
        let t0 = Instant::now();
        tls::unregister(self.addr);
        self.handle.shutdown();
        tokio::time::timeout(limit, self.handle.wait())
            .await
            .unwrap_or_else(|_| panic!("server did not shut down within {limit:?}"));
        let rest = limit.saturating_sub(t0.elapsed()) + Duration::from_millis(500);
        if let Some(done) = self.done.take() {
            let waited = tokio::task::spawn_blocking(move || done.recv_timeout(rest))
                .await
                .expect("join waiter");
            assert!(waited.is_ok(), "server thread did not end after shutdown");
        }
        if let Some(t) = self.thread.take() {
            t.join().expect("server thread panicked");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // Before the listener closes: its port may be reused by a plaintext server.
        tls::unregister(self.addr);
        self.handle.shutdown();
        if let Some(done) = self.done.take() {
            // Bounded: the shutdown timeout plus slack. A server that hangs longer is
            // left behind (the case has already failed or will be reported by its own
            // assertions); the test process ends anyway.
            if done
                .recv_timeout(TEST_SHUTDOWN_TIMEOUT + Duration::from_secs(2))
                .is_ok()
            {
                if let Some(t) = self.thread.take() {
                    let _ = t.join();
                }
            } else if !std::thread::panicking() {
                panic!("server thread did not end after shutdown");
            }
        }
    }
}

/// Runs one case: a tokio runtime for the client side, bounded by [`CASE_TIMEOUT`].
/// Called by the tests that [`behaviour_suite!`] generates.
pub fn run_case<H, F, Fut>(name: &str, case: F)
where
    H: Harness,
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    rt.block_on(async {
        if tokio::time::timeout(CASE_TIMEOUT, case()).await.is_err() {
            panic!(
                "[{}] case {name} did not finish within {CASE_TIMEOUT:?}",
                H::NAME
            );
        }
    });
}

/// Expands to one `#[test]` per behaviour case, run against the runtime of the given
/// [`Harness`] type. See the crate docs for an example. `behaviour_suite!(tls H)` runs the
/// same cases over TLS, in a module `tls`.
#[macro_export]
macro_rules! behaviour_suite {
    (tls $harness:ident) => {
        mod tls {
            $crate::behaviour_suite!($crate::tls::OverTls<super::$harness>);
            $crate::behaviour_suite!(@cases super::$harness;
                tls_sni_and_is_tls,
                tls_plain_and_tls_ports,
                tls_plaintext_http_gets_400,
                tls_hostile_handshakes,
                tls_handshake_timeout,
                tls_close_notify_and_alpn,
                tls_truncation_and_reset,
            );
        }
    };
    ($harness:ty) => {
        $crate::behaviour_suite!(@cases $harness;
            ws_echo_text,
            ws_echo_binary,
            ws_echo_fragmented,
            ws_echo_16_mib,
            ws_ping_pong,
            ws_ping_answered_while_handler_busy,
            ws_close_from_client_is_echoed,
            ws_close_when_handler_returns,
            ws_close_from_server,
            ws_handshake_missing_key_400,
            ws_handshake_version_8_426,
            ws_message_over_limit_1009,
            ws_fragments_over_limit_1009,
            ws_handler_panic_1011,
            ws_sender_from_spawned_task,
            ws_hub_broadcast,
            ws_article_api,
            ws_slow_reader_is_bounded,
            ws_heartbeat_and_idle_timeout,
            ws_inbound_backpressure,
            ws_middleware_decides_upgrade,
            ws_subprotocol_selection,
            ws_deflate,
            http_body_over_limit_413,
            http_huge_header_431,
            http_long_uri_414,
            http_head_timeout_408,
            http_idle_timeout_closes,
            http_not_found_404,
            http_absolute_form_target,
            http_method_not_allowed_405,
            http_keep_alive,
            http_pipelining_in_order,
            http_route_params_and_catch_all,
            http_middleware,
            http_handler_panic_500,
            http_sse_streamed_chunked,
            http_head_has_no_body,
            http_expect_100_continue,
            http_request_body_post,
            http_streamed_send_body,
            http_max_connections,
            graceful_shutdown,
        );
    };
    (@cases $harness:ty; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::run_case::<$harness, _, _>(
                    stringify!($name),
                    $crate::cases::$name::<$harness>,
                );
            }
        )*
    };
}
