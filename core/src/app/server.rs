//! [`Server`]: configuration, routes and middleware, then `run`/`start`; the accept loop;
//! graceful shutdown.

use super::config::ServerConfig;
use super::conn::{ConnShared, Proto};
use super::deadlines::{self, Deadlines};
use super::driver::Driver;
use super::error::ServerError;
use super::handler::{Handler, SharedHandler};
use super::metrics::{Counters, Metrics};
use super::router::Router;
use super::runtime::{Listener, Runtime, Timer};
#[cfg(feature = "tls")]
use super::tls::{transport::TlsTransport, TlsConfig};
use crate::proto::http::{Method, ServerConnection};
use crate::proto::ws::{DeflateConfig, WsConfig};
use crate::proto::{HttpLimits, WsLimits};
use std::collections::HashMap;
use std::future::poll_fn;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

/// Everything a connection needs from the server, frozen when the server starts.
pub(crate) struct App {
    /// The WebSocket configuration every connection shares.
    pub ws_config: Arc<WsConfig>,
    pub router: Router,
    pub request_middleware: Vec<SharedHandler>,
    pub response_middleware: Vec<SharedHandler>,
}

/// Live server state shared by the accept loop, the connections and the handles.
pub(crate) struct ServerShared {
    pub shutting_down: AtomicBool,
    active: AtomicUsize,
    next_id: AtomicU64,
    /// Accept loops still running (one per listener: plaintext, TLS).
    accepting: AtomicUsize,
    conns: Mutex<HashMap<u64, Arc<ConnShared>>>,
    /// One waker per accept loop, by its `slot`.
    accept_wakers: Mutex<[Option<Waker>; 2]>,
    drain_wakers: Mutex<Vec<Waker>>,
    /// Every connection's timers, served by one background task.
    pub deadlines: Arc<Deadlines>,
    /// Routes, middleware and protocol configuration.
    pub app: Arc<App>,
    /// How long a graceful shutdown waits for connections.
    shutdown_timeout: Duration,
    /// When a graceful shutdown gives up on the connections still open.
    pub shutdown_deadline: OnceLock<Instant>,
    /// The runtime's clock ([`Runtime::now`]).
    pub clock: fn() -> Instant,
    /// What the server counts (see `app::metrics`).
    pub metrics: Arc<Counters>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ServerShared {
    fn new(
        app: Arc<App>,
        shutdown_timeout: Duration,
        clock: fn() -> Instant,
        metrics: Arc<Counters>,
    ) -> Self {
        ServerShared {
            shutting_down: AtomicBool::new(false),
            active: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
            accepting: AtomicUsize::new(0),
            conns: Mutex::new(HashMap::new()),
            accept_wakers: Mutex::new([None, None]),
            drain_wakers: Mutex::new(Vec::new()),
            deadlines: Arc::new(Deadlines::new()),
            app,
            shutdown_timeout,
            shutdown_deadline: OnceLock::new(),
            clock,
            metrics,
        }
    }

    pub(crate) fn connection_ended(&self, id: u64) {
        // SeqCst here and in `begin_shutdown`: each side writes one flag and reads the
        // other, and at least one of them must see both writes, or the deadline task
        // would never be told to end.
        if lock(&self.conns).remove(&id).is_some()
            && self.active.fetch_sub(1, Ordering::SeqCst) == 1
            && self.shutting_down.load(Ordering::SeqCst)
        {
            self.deadlines.finish();
        }
        self.wake_accept_loops();
        self.wake_drain();
    }

    fn wake_accept_loops(&self) {
        for w in lock(&self.accept_wakers).iter().flatten() {
            w.wake_by_ref();
        }
    }

    fn wake_drain(&self) {
        for w in lock(&self.drain_wakers).drain(..) {
            w.wake();
        }
    }

    fn begin_shutdown(&self) {
        let _ = self
            .shutdown_deadline
            .set((self.clock)() + self.shutdown_timeout);
        if self.shutting_down.swap(true, Ordering::SeqCst) {
            return;
        }
        if self.active.load(Ordering::SeqCst) == 0 {
            self.deadlines.finish();
        }
        self.wake_accept_loops();
        let conns: Vec<Arc<ConnShared>> = lock(&self.conns).values().cloned().collect();
        for c in conns {
            if let Some(w) = c.lock().driver_waker.as_ref() {
                w.wake_by_ref();
            }
        }
        self.wake_drain();
    }
}

/// Builder state behind the `Server`'s lock.
struct Setup {
    config: ServerConfig,
    router: Router,
    request_middleware: Vec<SharedHandler>,
    response_middleware: Vec<SharedHandler>,
    route_error: Option<super::router::RouteError>,
    /// How TLS listeners speak TLS.
    #[cfg(feature = "tls")]
    tls: Option<TlsConfig>,
    /// A second, TLS, listener next to the plaintext one.
    #[cfg(feature = "tls")]
    tls_port: Option<u16>,
    /// Made with the server, so a metrics handler can be routed before `start`.
    metrics: Arc<Counters>,
}

/// An HTTP/1.1 + WebSocket server on runtime `R`.
///
/// Configure it, add routes, then `run().await`. Every method takes `&self` (the server
/// is a cheap, cloneable handle), so configuration reads the same as in the article:
///
/// ```ignore
/// let server: Server = Server::new();
/// server.host("0.0.0.0").await;
/// server.port(60000).await;
/// server.route("/ws", websocket_handler).await;
/// server.run().await.unwrap();
/// ```
pub struct Server<R: Runtime> {
    rt: R,
    setup: Arc<Mutex<Setup>>,
}

impl<R: Runtime> Clone for Server<R> {
    fn clone(&self) -> Self {
        Server {
            rt: self.rt.clone(),
            setup: self.setup.clone(),
        }
    }
}

impl<R: Runtime + Default> Default for Server<R> {
    fn default() -> Self {
        Self::with_runtime(R::default())
    }
}

impl<R: Runtime + Default> Server<R> {
    /// A server with the default configuration on the runtime's default instance.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<R: Runtime> Server<R> {
    /// A server that spawns its tasks on `rt`.
    pub fn with_runtime(rt: R) -> Self {
        Server {
            rt,
            setup: Arc::new(Mutex::new(Setup {
                config: ServerConfig::default(),
                router: Router::default(),
                request_middleware: Vec::new(),
                response_middleware: Vec::new(),
                route_error: None,
                #[cfg(feature = "tls")]
                tls: None,
                #[cfg(feature = "tls")]
                tls_port: None,
                metrics: Arc::default(),
            })),
        }
    }

    /// The server's counters (shared by every `start` of this server).
    pub(super) fn counters(&self) -> Arc<Counters> {
        lock(&self.setup).metrics.clone()
    }

    fn edit(&self, f: impl FnOnce(&mut Setup)) -> &Self {
        f(&mut lock(&self.setup));
        self
    }

    /// The configuration so far.
    pub async fn config(&self) -> ServerConfig {
        lock(&self.setup).config.clone()
    }

    /// Replaces the whole configuration.
    pub async fn set_config(&self, config: ServerConfig) -> &Self {
        self.edit(|s| s.config = config)
    }

    /// Host name or address to bind (default `127.0.0.1`).
    pub async fn host(&self, host: impl Into<String>) -> &Self {
        let host = host.into();
        self.edit(|s| s.config.host = host)
    }

    /// Port to bind (default 60000; 0 for any free port).
    pub async fn port(&self, port: u16) -> &Self {
        self.edit(|s| s.config.port = port)
    }

    /// Turns `TCP_NODELAY` on for accepted sockets (the default).
    pub async fn enable_nodelay(&self) -> &Self {
        self.edit(|s| s.config.nodelay = true)
    }

    /// Turns `TCP_NODELAY` off.
    pub async fn disable_nodelay(&self) -> &Self {
        self.edit(|s| s.config.nodelay = false)
    }

    /// Sets `SO_LINGER` on accepted sockets.
    pub async fn enable_linger(&self, linger: Duration) -> &Self {
        self.edit(|s| s.config.linger = Some(linger))
    }

    /// Leaves `SO_LINGER` off (the default): close returns at once and the kernel
    /// finishes sending in the background.
    pub async fn disable_linger(&self) -> &Self {
        self.edit(|s| s.config.linger = None)
    }

    /// Bytes read from a socket at a time.
    pub async fn ws_buffer_size(&self, size: usize) -> &Self {
        self.edit(|s| s.config.read_buffer_size = size.max(512))
    }

    /// Turns on permessage-deflate with the default [`DeflateConfig`]: compressed messages
    /// both ways for clients that offer it (every browser does), with context takeover in
    /// 512-byte windows, so an idle connection keeps at most 1 KiB more (see
    /// [`DeflateConfig`] for the presets).
    pub async fn enable_ws_deflate(&self) -> &Self {
        self.ws_deflate(Some(DeflateConfig::default())).await
    }

    /// permessage-deflate with `config` (e.g. [`DeflateConfig::context_takeover`]), or off
    /// with `None` (the default).
    pub async fn ws_deflate(&self, config: Option<DeflateConfig>) -> &Self {
        self.edit(|s| s.config.ws_deflate = config)
    }

    /// WebSocket subprotocols the server speaks, most preferred first: the handshake
    /// answers with the first of them the client offered (`Context::websocket_protocol`).
    pub async fn ws_protocols(&self, protocols: &[&str]) -> &Self {
        let list: Vec<String> = protocols.iter().map(|p| p.to_string()).collect();
        self.edit(|s| s.config.ws_protocols = list)
    }

    /// Limits of the HTTP layer.
    pub async fn http_limits(&self, limits: HttpLimits) -> &Self {
        self.edit(|s| s.config.http = limits)
    }

    /// Limits and timers of WebSocket connections.
    pub async fn ws_limits(&self, limits: WsLimits) -> &Self {
        self.edit(|s| s.config.ws = limits)
    }

    /// Largest request body (413 above it).
    pub async fn max_body_size(&self, bytes: u64) -> &Self {
        self.edit(|s| s.config.http.max_body_size = bytes)
    }

    /// Largest WebSocket message (close 1009 above it).
    pub async fn max_message_size(&self, bytes: u64) -> &Self {
        self.edit(|s| {
            s.config.ws.max_message_size = bytes;
            s.config.ws.max_frame_size = s.config.ws.max_frame_size.min(bytes);
        })
    }

    /// Outgoing bytes queued per connection above which senders wait.
    pub async fn max_outgoing_queue(&self, bytes: usize) -> &Self {
        self.edit(|s| s.config.max_outgoing_queue = bytes)
    }

    /// Most connections open at once; the server stops accepting at this number.
    pub async fn max_connections(&self, n: usize) -> &Self {
        self.edit(|s| s.config.max_connections = n.max(1))
    }

    /// Speaks TLS (https, wss) with `config`. Without [`Server::tls_port`], the server's
    /// one port ([`Server::port`]) speaks TLS only; with it, `port` stays plaintext and
    /// `tls_port` speaks TLS, both serving the same routes.
    ///
    /// ```ignore
    /// server.port(8080).await;
    /// server.tls_port(8443).await;
    /// server.tls(TlsConfig::from_pem_files("cert.pem", "key.pem")?).await;
    /// ```
    #[cfg(feature = "tls")]
    pub async fn tls(&self, config: TlsConfig) -> &Self {
        self.edit(|s| s.tls = Some(config))
    }

    /// A TLS port next to the plaintext [`Server::port`] (0 for any free port, see
    /// [`ServerHandle::tls_local_addr`]). Needs [`Server::tls`].
    #[cfg(feature = "tls")]
    pub async fn tls_port(&self, port: u16) -> &Self {
        self.edit(|s| s.tls_port = Some(port))
    }

    /// Time graceful shutdown waits before dropping connections.
    pub async fn shutdown_timeout(&self, t: Duration) -> &Self {
        self.edit(|s| s.config.shutdown_timeout = t)
    }

    /// Records a configuration error that makes `start` fail (the first one wins).
    pub(super) fn refuse(&self, e: super::router::RouteError) -> &Self {
        self.edit(|s| {
            s.route_error.get_or_insert(e);
        })
    }

    fn add_route(&self, path: &str, method: Option<Method>, handler: SharedHandler) -> &Self {
        self.edit(|s| {
            if let Err(e) = s.router.add(path, method, handler) {
                s.route_error.get_or_insert(e);
            }
        })
    }

    /// Serves `path` with `handler` for every method, and WebSocket upgrades on it.
    /// `path` may hold `{name}` segments and a final `{*name}` catch-all. A malformed
    /// pattern makes `run` fail.
    pub async fn route(&self, path: &str, handler: impl Handler) -> &Self {
        self.add_route(path, None, Arc::new(handler))
    }

    /// Serves `path` for GET (and HEAD) only; other methods get 405.
    pub async fn get(&self, path: &str, handler: impl Handler) -> &Self {
        self.add_route(path, Some(Method::Get), Arc::new(handler))
    }

    /// Serves `path` for POST only.
    pub async fn post(&self, path: &str, handler: impl Handler) -> &Self {
        self.add_route(path, Some(Method::Post), Arc::new(handler))
    }

    /// Serves `path` for PUT only.
    pub async fn put(&self, path: &str, handler: impl Handler) -> &Self {
        self.add_route(path, Some(Method::Put), Arc::new(handler))
    }

    /// Serves `path` for DELETE only.
    pub async fn delete(&self, path: &str, handler: impl Handler) -> &Self {
        self.add_route(path, Some(Method::Delete), Arc::new(handler))
    }

    /// Serves `path` for `method` only.
    pub async fn route_method(&self, method: Method, path: &str, handler: impl Handler) -> &Self {
        self.add_route(path, Some(method), Arc::new(handler))
    }

    /// Runs `middleware` before every handler, in the order added. If it sends the
    /// response (HTTP), the chain stops there.
    pub async fn request_middleware(&self, middleware: impl Handler) -> &Self {
        let m: SharedHandler = Arc::new(middleware);
        self.edit(|s| s.request_middleware.push(m))
    }

    /// Runs `middleware` after every handler, in the order added; it can still change a
    /// response the handler did not send (the framework sends it afterwards).
    pub async fn response_middleware(&self, middleware: impl Handler) -> &Self {
        let m: SharedHandler = Arc::new(middleware);
        self.edit(|s| s.response_middleware.push(m))
    }

    /// Binds, starts accepting in the background, and returns a handle to the running
    /// server. Routes added afterwards do not apply to it.
    pub async fn start(&self) -> Result<ServerHandle, ServerError> {
        let (config, app, listeners, metrics) = {
            let mut s = lock(&self.setup);
            if let Some(e) = s.route_error.clone() {
                return Err(ServerError::Route(e));
            }
            let router = std::mem::take(&mut s.router);
            let app = App {
                ws_config: Arc::new(WsConfig {
                    limits: s.config.ws.clone(),
                    deflate: s.config.ws_deflate,
                    ..WsConfig::default()
                }),
                router,
                request_middleware: s.request_middleware.clone(),
                response_middleware: s.response_middleware.clone(),
            };
            (
                s.config.clone(),
                app,
                ListenerPlan::of(&s)?,
                s.metrics.clone(),
            )
        };
        // Bind every listener before starting anything, so a failure leaves nothing behind.
        let mut bound = Vec::new();
        for (port, tls) in listeners {
            let addr = resolve(&config.host, port)?;
            let listener = self
                .rt
                .listen(addr)
                .map_err(|e| ServerError::Bind(addr, e))?;
            let local = listener
                .local_addr()
                .map_err(|e| ServerError::Bind(addr, e))?;
            bound.push((listener, local, tls));
        }
        let local_addr = bound[0].1;
        let tls_local_addr = bound.iter().find(|b| b.2.is_some()).map(|b| b.1);
        let shared = Arc::new(ServerShared::new(
            Arc::new(app),
            config.shutdown_timeout,
            R::now,
            metrics,
        ));
        shared.accepting.store(bound.len(), Ordering::Release);
        let config = Arc::new(config);
        self.rt.spawn(deadlines::run(
            Arc::downgrade(&shared.deadlines),
            self.rt.clone(),
        ));
        for (slot, (listener, _, tls)) in bound.into_iter().enumerate() {
            let accept = AcceptLoop {
                rt: self.rt.clone(),
                listener: Some(listener),
                config: config.clone(),
                shared: shared.clone(),
                backoff: None,
                delay: MIN_BACKOFF,
                slot,
                #[cfg(feature = "tls")]
                tls,
            };
            #[cfg(not(feature = "tls"))]
            let _: Option<()> = tls;
            self.rt.spawn(accept.run());
        }
        Ok(ServerHandle {
            local_addr,
            tls_local_addr,
            shared,
        })
    }

    /// Binds and serves until [`ServerHandle::shutdown`] is called on a handle obtained
    /// from [`Server::start`] — for `run`, that is never, so it serves until the process
    /// ends. Fails only if the server cannot start.
    pub async fn run(&self) -> Result<(), ServerError> {
        let handle = self.start().await?;
        handle.wait().await;
        Ok(())
    }
}

fn resolve(host: &str, port: u16) -> Result<SocketAddr, ServerError> {
    let name = format!("{host}:{port}");
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (host, port)
        .to_socket_addrs()
        .map_err(|e| ServerError::Resolve(name.clone(), e))?
        .next()
        .ok_or_else(|| {
            ServerError::Resolve(name, io::Error::new(io::ErrorKind::NotFound, "no address"))
        })
}

/// What a listener speaks: TLS with this configuration, or plaintext (`None`).
#[cfg(feature = "tls")]
type ListenerTls = Option<Arc<TlsConfig>>;
#[cfg(not(feature = "tls"))]
type ListenerTls = Option<()>;

/// The listeners a server binds: the main port first, then a TLS port if asked for.
struct ListenerPlan;

impl ListenerPlan {
    fn of(s: &Setup) -> Result<Vec<(u16, ListenerTls)>, ServerError> {
        #[cfg(feature = "tls")]
        {
            let tls = s.tls.clone().map(Arc::new);
            match (s.tls_port, tls) {
                (None, tls) => Ok(vec![(s.config.port, tls)]),
                (Some(p), Some(tls)) => Ok(vec![(s.config.port, None), (p, Some(tls))]),
                (Some(_), None) => Err(ServerError::TlsNotConfigured),
            }
        }
        #[cfg(not(feature = "tls"))]
        Ok(vec![(s.config.port, None)])
    }
}

const MIN_BACKOFF: Duration = Duration::from_millis(5);
const MAX_BACKOFF: Duration = Duration::from_millis(500);

struct AcceptLoop<R: Runtime> {
    rt: R,
    listener: Option<R::Listener>,
    config: Arc<ServerConfig>,
    shared: Arc<ServerShared>,
    backoff: Option<R::Timer>,
    delay: Duration,
    /// Which of the server's accept wakers is ours.
    slot: usize,
    #[cfg(feature = "tls")]
    tls: ListenerTls,
}

impl<R: Runtime> AcceptLoop<R> {
    async fn run(mut self) {
        poll_fn(|cx| self.poll(cx)).await;
        // Stop listening before waiting for connections to drain.
        self.listener = None;
        self.shared.accepting.fetch_sub(1, Ordering::AcqRel);
        self.shared.wake_drain();
    }

    fn poll(&mut self, cx: &mut std::task::Context<'_>) -> Poll<()> {
        {
            let mut wakers = lock(&self.shared.accept_wakers);
            let w = &mut wakers[self.slot];
            if !w.as_ref().is_some_and(|old| old.will_wake(cx.waker())) {
                *w = Some(cx.waker().clone());
            }
        }
        loop {
            if self.shared.shutting_down.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
            if let Some(t) = self.backoff.as_mut() {
                if t.poll_elapsed(cx).is_pending() {
                    return Poll::Pending;
                }
                self.backoff = None;
            }
            if self.shared.active.load(Ordering::Acquire) >= self.config.max_connections {
                // `connection_ended` wakes us.
                return Poll::Pending;
            }
            let Some(listener) = self.listener.as_mut() else {
                return Poll::Ready(());
            };
            match listener.poll_accept(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok((stream, peer))) => {
                    self.delay = MIN_BACKOFF;
                    self.spawn_connection(stream, peer);
                }
                Poll::Ready(Err(e)) => {
                    // EMFILE, ENFILE, ENOBUFS, ECONNABORTED...: none of them is a reason
                    // to stop serving. Back off briefly so a full fd table does not spin.
                    if e.kind() != io::ErrorKind::Interrupted {
                        self.shared.metrics.refused.fetch_add(1, Ordering::Relaxed);
                        let t = self.rt.timer(R::now() + self.delay);
                        self.backoff = Some(t);
                        self.delay = (self.delay * 2).min(MAX_BACKOFF);
                    }
                }
            }
        }
    }

    fn spawn_connection(&mut self, stream: R::Stream, peer: SocketAddr) {
        use super::runtime::Transport;
        let _ = stream.set_nodelay(self.config.nodelay);
        if self.config.linger.is_some() {
            let _ = stream.set_linger(self.config.linger);
        }
        let now = R::now();
        let mut http = ServerConnection::new(self.config.http.clone(), now);
        http.set_date(super::date::now());
        let conn = Arc::new(ConnShared::new(
            Proto::Http(Box::new(http)),
            Some(peer),
            self.config.clone(),
            R::now,
        ));
        #[cfg(feature = "tls")]
        if let Some(config) = &self.tls {
            let deadline = now + config.handshake_timeout;
            // rustls refuses a connection only for a configuration it cannot use at all.
            let Ok(tls) = TlsTransport::new(stream, config, deadline, Some(conn.clone())) else {
                return;
            };
            let id = self.register(&conn);
            // A TLS connection is a driver type of its own, so the plaintext one stays small.
            let driver =
                Driver::<R, TlsTransport<R::Stream>>::new(tls, conn, self.shared.clone(), id);
            #[cfg(feature = "tracing")]
            let driver = super::trace::connection(driver, peer);
            self.rt.spawn(driver);
            return;
        }
        let id = self.register(&conn);
        let driver = Driver::<R>::new(stream, conn, self.shared.clone(), id);
        #[cfg(feature = "tracing")]
        let driver = super::trace::connection(driver, peer);
        self.rt.spawn(driver);
    }

    /// Counts a new connection in; returns its id.
    fn register(&self, conn: &Arc<ConnShared>) -> u64 {
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        self.shared.metrics.accepted.fetch_add(1, Ordering::Relaxed);
        lock(&self.shared.conns).insert(id, conn.clone());
        self.shared.active.fetch_add(1, Ordering::AcqRel);
        id
    }
}

/// A handle to a running server: its address, and graceful shutdown.
#[derive(Clone)]
pub struct ServerHandle {
    local_addr: SocketAddr,
    tls_local_addr: Option<SocketAddr>,
    shared: Arc<ServerShared>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("local_addr", &self.local_addr)
            .field("tls_local_addr", &self.tls_local_addr)
            .field("connections", &self.connections())
            .finish()
    }
}

impl ServerHandle {
    /// The address the server listens on (with the real port when 0 was asked for): its
    /// main port, which speaks TLS when the server has TLS and no separate TLS port.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address of the listener that speaks TLS, if any: [`ServerHandle::local_addr`]
    /// for a TLS-only server, the TLS port's when there is one next to a plaintext port.
    pub fn tls_local_addr(&self) -> Option<SocketAddr> {
        self.tls_local_addr
    }

    /// Open connections right now.
    pub fn connections(&self) -> usize {
        self.shared.active.load(Ordering::Acquire)
    }

    /// A snapshot of the server's counters and gauges (see [`Metrics`]).
    pub fn metrics(&self) -> Metrics {
        self.shared.metrics.snapshot()
    }

    pub(super) fn counters(&self) -> Arc<Counters> {
        self.shared.metrics.clone()
    }

    /// Deadlines armed with the server's timer task right now (one at most per connection
    /// that waits for a timeout): for tests that check that none is left behind.
    #[doc(hidden)]
    pub fn armed_deadlines(&self) -> usize {
        self.shared.deadlines.armed()
    }

    /// Starts a graceful shutdown: stop accepting, close WebSockets with 1001, let
    /// in-flight HTTP responses finish (then close), and drop whatever is still open
    /// after the shutdown timeout. Returns at once; see [`ServerHandle::wait`].
    pub fn shutdown(&self) {
        self.shared.begin_shutdown();
    }

    /// Waits until the server has shut down and every connection has ended.
    pub async fn wait(&self) {
        poll_fn(|cx| {
            lock(&self.shared.drain_wakers).push(cx.waker().clone());
            let stopped = self.shared.shutting_down.load(Ordering::Acquire)
                && self.shared.accepting.load(Ordering::Acquire) == 0
                && self.shared.active.load(Ordering::Acquire) == 0;
            if stopped {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }

    /// [`ServerHandle::shutdown`], then [`ServerHandle::wait`].
    pub async fn shutdown_and_wait(&self) {
        self.shutdown();
        self.wait().await
    }
}
