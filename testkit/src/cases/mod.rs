//! The behaviour cases, one `pub async fn NAME<H: Harness>()` each. [`behaviour_suite!`]
//! (crate root) turns each into a `#[test]`; the list there must name every case here.
//!
//! [`behaviour_suite!`]: crate::behaviour_suite

mod http;
mod lifecycle;
mod tls;
mod ws;

pub use http::*;
pub use lifecycle::*;
pub use tls::*;
pub use ws::*;

use wirelane_core::app::Context;

/// WebSocket echo with the typed API: text back as text, binary as binary.
pub async fn echo(ctx: Context) {
    while let Some(msg) = ctx.recv_message().await {
        if ctx.send_message(msg).await.is_err() {
            break;
        }
    }
}

/// `text/plain` body `Hello, World!`.
pub async fn hello(ctx: Context) {
    ctx.set_response_header("content-type", "text/plain")
        .await
        .set_response_body("Hello, World!")
        .await;
}
