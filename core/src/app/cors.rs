//! [`Cors`]: Cross-Origin Resource Sharing for HTTP routes, as request middleware.
//!
//! A browser lets a page read a response from another origin only if the response says
//! so (`access-control-allow-origin`), and before a request that a plain form could not
//! have sent (a `PUT`, a JSON body, a custom header) it asks first with a preflight
//! `OPTIONS`. [`Cors`] answers the preflight itself (`204` with the allowed methods and
//! headers, or `403` when the origin, method or a header is not allowed) and adds the
//! allow headers to every other response to an allowed origin. Every response to a
//! request with an `Origin` gets `vary: origin`, so a shared cache does not hand one
//! origin's answer to another.
//!
//! WebSocket upgrades are not CORS requests (browsers do not preflight them): use
//! [`Server::ws_allowed_origins`](super::Server::ws_allowed_origins) for those.

use super::context::Context;
use super::origin::OriginList;
use super::runtime::Runtime;
use super::server::Server;
use crate::proto::http::Method;
use std::sync::Arc;
use std::time::Duration;

/// A CORS policy. Build it, then install it with [`Server::cors`].
///
/// ```
/// use std::time::Duration;
/// use wirelane_core::app::Cors;
///
/// let cors = Cors::new()
///     .allow_origins(["https://app.example.com"])
///     .allow_methods(["GET", "POST", "PUT"])
///     .allow_headers(["content-type", "authorization"])
///     .allow_credentials(true)
///     .max_age(Duration::from_secs(600));
/// # let _ = cors;
/// ```
#[derive(Debug, Clone)]
pub struct Cors {
    origins: OriginList,
    methods: Vec<String>,
    headers: Vec<String>,
    expose: Vec<String>,
    credentials: bool,
    max_age: Option<Duration>,
}

impl Default for Cors {
    fn default() -> Self {
        Cors::new()
    }
}

impl Cors {
    /// A policy that allows no origin yet, the methods `GET`, `HEAD` and `POST`, no extra
    /// request header, and no credentials.
    pub fn new() -> Self {
        Cors {
            origins: OriginList::default(),
            methods: ["GET", "HEAD", "POST"].map(String::from).to_vec(),
            headers: Vec::new(),
            expose: Vec::new(),
            credentials: false,
            max_age: None,
        }
    }

    /// The origins whose pages may read responses (`"*"`: any).
    pub fn allow_origins<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, origins: I) -> Self {
        self.origins = OriginList::new(origins);
        self
    }

    /// The methods a preflight may ask for (replaces the default `GET`, `HEAD`, `POST`).
    pub fn allow_methods<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, methods: I) -> Self {
        self.methods = methods
            .into_iter()
            .map(|m| m.as_ref().to_ascii_uppercase())
            .collect();
        self
    }

    /// The request headers a preflight may ask for (`"*"`: any).
    pub fn allow_headers<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, headers: I) -> Self {
        self.headers = headers
            .into_iter()
            .map(|h| h.as_ref().to_ascii_lowercase())
            .collect();
        self
    }

    /// Response headers the page's script may read beyond the always-safe ones.
    pub fn expose_headers<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, headers: I) -> Self {
        self.expose = headers
            .into_iter()
            .map(|h| h.as_ref().to_ascii_lowercase())
            .collect();
        self
    }

    /// Whether the browser may send cookies and read the response to a credentialed
    /// request. With credentials the allowed origin is echoed, never `*`, as the
    /// standard requires.
    pub fn allow_credentials(mut self, yes: bool) -> Self {
        self.credentials = yes;
        self
    }

    /// How long a browser may cache a preflight answer.
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = Some(age);
        self
    }

    /// The `access-control-allow-origin` value for an allowed `origin`.
    fn allow_origin_value(&self, origin: &str) -> String {
        if self.origins.allows_any() && !self.credentials {
            "*".to_string()
        } else {
            origin.to_string()
        }
    }

    fn method_allowed(&self, method: &str) -> bool {
        self.methods
            .iter()
            .any(|m| m.eq_ignore_ascii_case(method.trim()))
    }

    fn headers_allowed(&self, requested: &str) -> bool {
        if self.headers.iter().any(|h| h == "*") && !self.credentials {
            return true;
        }
        requested
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .all(|h| self.headers.iter().any(|a| a.eq_ignore_ascii_case(h)))
    }

    /// The middleware: answers preflights, adds the allow headers to the others.
    async fn apply(&self, ctx: Context) {
        if ctx.is_websocket() {
            return;
        }
        let Some(origin) = ctx
            .request_head()
            .headers()
            .get_str("origin")
            .map(str::to_string)
        else {
            return; // not a cross-origin request from a browser
        };
        ctx.add_response_header("vary", "origin").await;
        let allowed = self.origins.allows(&origin);
        let head = ctx.request_head().headers();
        let preflight_method = head
            .get_str("access-control-request-method")
            .map(str::to_string);
        if *ctx.method() == Method::Options {
            if let Some(method) = preflight_method {
                let requested = head
                    .get_str("access-control-request-headers")
                    .unwrap_or("")
                    .to_string();
                return self
                    .preflight(&ctx, &origin, allowed, &method, &requested)
                    .await;
            }
        }
        if !allowed {
            return;
        }
        ctx.set_response_header(
            "access-control-allow-origin",
            self.allow_origin_value(&origin),
        )
        .await;
        if self.credentials {
            ctx.set_response_header("access-control-allow-credentials", "true")
                .await;
        }
        if !self.expose.is_empty() {
            ctx.set_response_header("access-control-expose-headers", self.expose.join(", "))
                .await;
        }
    }

    async fn preflight(
        &self,
        ctx: &Context,
        origin: &str,
        allowed: bool,
        method: &str,
        requested: &str,
    ) {
        ctx.add_response_header("vary", "access-control-request-method")
            .await
            .add_response_header("vary", "access-control-request-headers")
            .await;
        if !(allowed && self.method_allowed(method) && self.headers_allowed(requested)) {
            ctx.set_response_status_code(403)
                .await
                .set_response_body("CORS preflight refused\n")
                .await;
            let _ = ctx.send().await;
            return;
        }
        ctx.set_response_status_code(204)
            .await
            .set_response_header(
                "access-control-allow-origin",
                self.allow_origin_value(origin),
            )
            .await
            .set_response_header("access-control-allow-methods", self.methods.join(", "))
            .await;
        if !requested.trim().is_empty() {
            // Echo what was asked (all of it is allowed, checked above): this also covers
            // `*` with credentials, where a literal `*` would not be honoured.
            ctx.set_response_header("access-control-allow-headers", requested.trim().to_string())
                .await;
        }
        if self.credentials {
            ctx.set_response_header("access-control-allow-credentials", "true")
                .await;
        }
        if let Some(age) = self.max_age {
            ctx.set_response_header("access-control-max-age", age.as_secs().to_string())
                .await;
        }
        let _ = ctx.send().await;
    }
}

impl<R: Runtime> Server<R> {
    /// Applies `cors` to every HTTP request, as request middleware (in the order added
    /// with the other middleware): preflights are answered before any route runs, even on
    /// paths with no `OPTIONS` route.
    pub async fn cors(&self, cors: Cors) -> &Self {
        let cors = Arc::new(cors);
        self.request_middleware(move |ctx: Context| {
            let cors = cors.clone();
            async move { cors.apply(ctx).await }
        })
        .await
    }
}
