//! Who may open a WebSocket: [`Server::ws_allowed_origins`], and the origin matching that
//! the CORS middleware shares.
//!
//! # Why
//!
//! A browser lets any page open a WebSocket to any server, and sends the user's cookies
//! with the handshake; the same-origin policy does not apply. A page on `evil.example`
//! can so talk to `bank.example`'s WebSocket as the logged-in user (cross-site WebSocket
//! hijacking). What the browser does tell the server is the page's origin, in the
//! `Origin` header, which a page cannot forge. Checking it is the defence.
//!
//! # A missing Origin
//!
//! Every browser sends `Origin` on a WebSocket handshake, so a request without one comes
//! from a program (a command-line client, a server-side library, a test), which carries
//! no user's ambient credentials from a browser and could send any `Origin` it liked
//! anyway. Such a request is **allowed**. An `Origin: null` (sandboxed iframes, `file:`
//! pages) is a browser's and is refused unless `"null"` is in the list.

use super::runtime::Runtime;
use super::server::Server;
use crate::proto::http::RequestHead;

impl<R: Runtime> Server<R> {
    /// Accepts WebSocket upgrades only from pages of these origins (`scheme://host[:port]`,
    /// as browsers send them: `"https://app.example.com"`, `"http://localhost:8080"`);
    /// an upgrade from another origin is answered `403 Forbidden` and never reaches the
    /// handler or the middleware. `"*"` allows every origin. A handshake without an `Origin`
    /// header (not from a browser) is allowed: see the [module docs](crate::app::origin).
    ///
    /// Without this call every origin may connect (the default, for compatibility), which
    /// a server that reads cookies or other ambient credentials on its WebSocket routes
    /// should not keep.
    pub async fn ws_allowed_origins<I, S>(&self, origins: I) -> &Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let list = OriginList::new(origins);
        let mut config = self.config().await;
        config.ws_allowed_origins = Some(list);
        self.set_config(config).await
    }
}

/// A list of allowed origins, normalized for comparison.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginList {
    any: bool,
    origins: Vec<String>,
}

impl OriginList {
    /// The list of `origins` (`"*"` allows any).
    pub fn new<I, S>(origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut list = OriginList::default();
        for o in origins {
            let o = o.as_ref().trim();
            if o == "*" {
                list.any = true;
            } else {
                list.origins.push(normalize(o));
            }
        }
        list
    }

    /// Whether the list allows every origin.
    pub fn allows_any(&self) -> bool {
        self.any
    }

    /// Whether `origin` (an `Origin` header value) is allowed.
    pub fn allows(&self, origin: &str) -> bool {
        if self.any {
            return true;
        }
        let origin = normalize(origin.trim());
        self.origins.contains(&origin)
    }
}

/// Lowercase, without a trailing `/`, and without the scheme's default port: the form
/// browsers send (`https://example.com`), whatever form the configuration used.
fn normalize(origin: &str) -> String {
    let o = origin.trim_end_matches('/').to_ascii_lowercase();
    for (scheme, port) in [
        ("http://", ":80"),
        ("https://", ":443"),
        ("ws://", ":80"),
        ("wss://", ":443"),
    ] {
        if o.starts_with(scheme) {
            if let Some(bare) = o.strip_suffix(port) {
                return bare.to_string();
            }
        }
    }
    o
}

/// Whether a WebSocket upgrade request passes the server's origin check.
pub(crate) fn upgrade_allowed(list: Option<&OriginList>, head: &RequestHead) -> bool {
    let Some(list) = list else {
        return true;
    };
    match head.headers().get(super::headers::ORIGIN) {
        None => true,
        Some(value) => std::str::from_utf8(value).is_ok_and(|o| list.allows(o)),
    }
}

/// The answer to an upgrade from an origin that is not allowed.
pub(crate) fn forbidden() -> (crate::proto::http::ResponseHead, bytes::Bytes) {
    let head = crate::proto::http::ResponseHead::new(403)
        .header(super::headers::CONTENT_TYPE, super::headers::TEXT_PLAIN);
    (
        head,
        bytes::Bytes::from_static(b"Forbidden: origin not allowed\n"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_compare_in_browser_form() {
        let list = OriginList::new([
            "https://App.Example.com/",
            "http://localhost:8080",
            "http://a:80",
        ]);
        assert!(list.allows("https://app.example.com"));
        assert!(list.allows("https://app.example.com:443"));
        assert!(list.allows("http://localhost:8080"));
        assert!(list.allows("http://a"));
        assert!(!list.allows("http://app.example.com"));
        assert!(!list.allows("https://app.example.com.evil.test"));
        assert!(!list.allows("http://localhost:8081"));
        assert!(!list.allows("null"));
        assert!(OriginList::new(["*"]).allows("null"));
        assert!(OriginList::new(["null"]).allows("null"));
    }
}
