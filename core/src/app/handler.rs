//! What a route handler or middleware is: any `async fn(Context)`.

use super::context::Context;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A boxed, sendable future with no output: a running handler.
pub type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Something that handles a request: implemented for every `Fn(Context) -> impl Future<Output = ()>`,
/// so a plain `async fn handler(ctx: Context)` is a handler.
pub trait Handler: Send + Sync + 'static {
    /// Starts handling with `ctx`.
    fn call(&self, ctx: Context) -> BoxFuture;

    /// Whether a WebSocket upgrade on this handler's route is accepted (the default); when
    /// not, the upgrade request is served as plain HTTP (static files, metrics).
    fn accepts_websocket(&self) -> bool {
        true
    }
}

impl<F, Fut> Handler for F
where
    F: Fn(Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    fn call(&self, ctx: Context) -> BoxFuture {
        Box::pin((self)(ctx))
    }
}

/// A shared handler, as stored in the router and middleware lists.
pub(crate) type SharedHandler = Arc<dyn Handler>;
