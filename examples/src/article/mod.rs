//! The article's handlers, compiled from the article's own text.
//!
//! `handlers.rs` holds every Rust code block of `websocket-article.txt` in the article's
//! order — `websocket_handler`, `chat_websocket_handler`, `real_time_data_handler`, the
//! article's `main`, the multiplexed, broadcast, game, resilient, trading and collaboration
//! handlers and their helpers — changed in two ways only: the `use hyperlane::*;` line is
//! gone, and the `\"` escapes that the article's formatting lost inside string literals are
//! back. Nothing else is touched (not even the indentation, which the article lost too, and
//! rustfmt does not reach `include!`d files). A change to wirelane's API that breaks the
//! article's code therefore breaks this crate's build.
//!
//! # One text, one module per runtime
//!
//! The text is `include!`d once per adapter, each time after that adapter's `use` line
//! (`use wirelane_tokio::*;`, …), exactly as a reader of the article would write it for
//! that runtime. So the article is checked against what each adapter exports, not only
//! against the tokio one.
//!
//! # `tokio::time`, `tokio::select!` and `rand` on the other runtimes
//!
//! The article's handlers call `tokio::time::sleep`, `tokio::time::interval` and
//! `tokio::select!` by their full paths, and `rand::random`. `rand` and `select!` work on
//! any executor. tokio's timers need a tokio time driver in the thread-local context when
//! they are created and polled. Three faithful ways were weighed:
//!
//! 1. a shim module called `tokio` (timers from async-io, a hand-written `select!`): it
//!    would silently change what `tokio::select!` means (branch fairness, cancellation),
//!    so the article's code would no longer be what it says it is;
//! 2. rewriting the handlers per runtime: not the article any more;
//! 3. **chosen:** keep real tokio timers, driven by one small background tokio runtime
//!    (one worker thread, time driver only, started on first use). [`with_tokio_timers`]
//!    wraps a handler's future so that every poll enters that runtime's context; the
//!    handler still runs on the chosen runtime's executor (its task is the framework's
//!    connection task, spawned by the adapter), its socket I/O is the adapter's, and only
//!    the wake-ups of its `sleep`/`interval` come from the tokio timer thread. This is the
//!    technique of the `async-compat` crate, written here in a few lines.
//!
//! On tokio itself nothing is wrapped.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context as TaskCx, Poll};
use wirelane_core::app::{BoxFuture, Context, Handler};

/// Declares a module with the article's code compiled after `use $adapter::*;`, and a
/// `routes()` function listing the article's handlers with the demo's paths.
macro_rules! article_module {
    ($(#[$attr:meta])* $name:ident, $adapter:ident) => {
        $(#[$attr])*
        #[allow(
            dead_code,
            unused_imports,
            unused_variables,
            clippy::all,
            clippy::pedantic
        )] // the article's code is kept as the article writes it
        pub mod $name {
            use $adapter::*;
            include!("handlers.rs");

            /// Every handler of the article, with the path the demo serves it on.
            pub fn routes() -> Vec<(&'static str, Box<dyn wirelane_core::app::Handler>)> {
                vec![
                    ("/ws", Box::new(websocket_handler)),
                    ("/chat", Box::new(chat_websocket_handler)),
                    ("/data", Box::new(real_time_data_handler)),
                    ("/multiplexed", Box::new(multiplexed_websocket_handler)),
                    ("/broadcast", Box::new(broadcast_websocket_handler)),
                    ("/game", Box::new(game_websocket_handler)),
                    ("/resilient", Box::new(resilient_websocket_handler)),
                    ("/trading", Box::new(trading_websocket_handler)),
                    ("/collaboration", Box::new(collaboration_websocket_handler)),
                ]
            }

            /// Runs the article's own `main`, unchanged: binds `0.0.0.0:60000` and serves
            /// `/ws`, `/chat` and `/data` until the process ends.
            pub fn article_main() {
                main()
            }
        }
    };
}

article_module!(
    /// The article's code after `use wirelane_tokio::*;`.
    on_tokio,
    wirelane_tokio
);

article_module!(
    /// The article's code after `use wirelane_async_std::*;`.
    on_async_std,
    wirelane_async_std
);

article_module!(
    /// The article's code after `use wirelane_smol::*;`.
    on_smol,
    wirelane_smol
);

/// The background tokio runtime whose time driver serves `tokio::time` in handlers that
/// run on another runtime.
fn timer_runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("tokio-timers")
            .enable_time()
            .build()
            .expect("the tokio timer runtime starts")
    })
}

/// A future polled inside the background tokio runtime's context (see the module docs).
struct InTokioContext {
    fut: BoxFuture,
}

impl Future for InTokioContext {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<()> {
        let _guard = timer_runtime().enter();
        self.fut.as_mut().poll(cx)
    }
}

/// Wraps `handler` so that its `tokio::time` calls work on any runtime (see the module
/// docs). The handler keeps running on the server's own runtime.
pub fn with_tokio_timers(handler: Box<dyn Handler>) -> impl Handler {
    move |ctx: Context| InTokioContext {
        fut: handler.call(ctx),
    }
}
