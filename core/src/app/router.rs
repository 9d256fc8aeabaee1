//! Route table: paths with static segments, `{name}` parameters and a final `{*rest}`
//! catch-all, optionally per method.
//!
//! Matching prefers, segment by segment, a static segment over a parameter over a
//! catch-all, so `/users/me` wins over `/users/{id}` whatever the order of registration.

use super::handler::SharedHandler;
use crate::proto::http::Method;
use std::collections::HashMap;
use std::fmt;

/// One segment of a route pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Static(String),
    Param(String),
    CatchAll(String),
}

/// Why a route pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// The pattern does not start with `/`.
    NotAbsolute(String),
    /// A `{*name}` segment is not the last one.
    CatchAllNotLast(String),
    /// A `{` without its `}`, or an empty name.
    BadParameter(String),
    /// The directory given to `Server::static_dir` cannot be served (path, why).
    StaticDir(std::path::PathBuf, String),
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteError::NotAbsolute(p) => write!(f, "route {p:?} must start with '/'"),
            RouteError::CatchAllNotLast(p) => {
                write!(f, "route {p:?}: a catch-all segment must be the last one")
            }
            RouteError::BadParameter(p) => write!(f, "route {p:?}: malformed {{parameter}}"),
            RouteError::StaticDir(dir, why) => {
                write!(f, "static_dir {}: {why}", dir.display())
            }
        }
    }
}

impl std::error::Error for RouteError {}

fn parse_pattern(pattern: &str) -> Result<Vec<Segment>, RouteError> {
    if !pattern.starts_with('/') {
        return Err(RouteError::NotAbsolute(pattern.to_string()));
    }
    let parts: Vec<&str> = pattern[1..].split('/').collect();
    let mut out = Vec::with_capacity(parts.len());
    for (i, part) in parts.iter().enumerate() {
        if let Some(inner) = part.strip_prefix('{') {
            let name = inner
                .strip_suffix('}')
                .ok_or_else(|| RouteError::BadParameter(pattern.to_string()))?;
            if let Some(rest) = name.strip_prefix('*') {
                if rest.is_empty() {
                    return Err(RouteError::BadParameter(pattern.to_string()));
                }
                if i + 1 != parts.len() {
                    return Err(RouteError::CatchAllNotLast(pattern.to_string()));
                }
                out.push(Segment::CatchAll(rest.to_string()));
            } else {
                if name.is_empty() || name.contains(['{', '}']) {
                    return Err(RouteError::BadParameter(pattern.to_string()));
                }
                out.push(Segment::Param(name.to_string()));
            }
        } else {
            out.push(Segment::Static(part.to_string()));
        }
    }
    Ok(out)
}

/// A registered route.
struct Route {
    pattern: String,
    segments: Vec<Segment>,
    /// `None` serves every method.
    method: Option<Method>,
    handler: SharedHandler,
}

/// The outcome of looking a request up.
pub(crate) enum RouteMatch {
    /// A handler, with the parameters it captured (name, value) in pattern order.
    Found {
        handler: SharedHandler,
        params: Vec<(String, String)>,
    },
    /// The path is known but not for this method; the methods that are.
    MethodNotAllowed(Vec<String>),
    /// Nothing matches the path.
    NotFound,
}

/// The route table.
#[derive(Default)]
pub(crate) struct Router {
    routes: Vec<Route>,
    /// The routes whose patterns have no parameter, by pattern (indexes into `routes`, in
    /// registration order). Such a route matching a path is the best match there is (its
    /// rank is all static digits; only the same pattern ranks the same), so a lookup that
    /// finds one for the method needs no scan of the table.
    exact: HashMap<String, Vec<usize>, PathHash>,
}

/// The hash of the route index: a multiply-rotate over eight bytes at a time, several
/// times cheaper than the default SipHash on short paths. Collision attacks are not a
/// concern here: the index holds only the application's own patterns, so a request path
/// can only be compared with those, however it hashes.
#[derive(Clone, Copy, Default)]
struct PathHash;

impl std::hash::BuildHasher for PathHash {
    type Hasher = PathHasher;
    fn build_hasher(&self) -> PathHasher {
        PathHasher(0)
    }
}

/// The state of [`PathHash`].
struct PathHasher(u64);

impl PathHasher {
    const K: u64 = 0x517c_c1b7_2722_0a95;

    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::K);
    }
}

impl std::hash::Hasher for PathHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes([
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
            ]));
        }
        let rest = chunks.remainder();
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        // The length goes in with the last word, so "a" and "a\0" differ.
        self.add(u64::from_le_bytes(last) ^ ((bytes.len() as u64) << 56));
    }

    fn write_u8(&mut self, b: u8) {
        self.add(u64::from(b));
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Match quality of a route for a path, smaller is better: one 2-bit digit per segment
/// (1 static, 2 parameter, 3 catch-all), first segment in the top bits, so comparing the
/// numbers compares the digit sequences lexicographically. Routes deeper than 32 segments
/// share the rank of their first 32.
type Rank = u64;

fn push_digit(rank: &mut Rank, depth: &mut u32, digit: u64) {
    if *depth < 32 {
        *rank |= digit << (62 - 2 * *depth);
        *depth += 1;
    }
}

/// The best route found so far: its rank, whether its method matched exactly, and its
/// captured parameters.
type Best<'a> = Option<(Rank, bool, &'a Route, Vec<(String, String)>)>;

fn match_segments(segments: &[Segment], path: &str) -> Option<(Rank, Vec<(String, String)>)> {
    let path = path.strip_prefix('/')?;
    let mut rank: Rank = 0;
    let mut depth = 0;
    let mut params = Vec::new();
    let mut rest = Some(path);
    for seg in segments {
        let current = rest?;
        let (part, next) = match current.find('/') {
            Some(i) => (&current[..i], Some(&current[i + 1..])),
            None => (current, None),
        };
        match seg {
            Segment::Static(s) => {
                if s != part {
                    return None;
                }
                push_digit(&mut rank, &mut depth, 1);
            }
            Segment::Param(name) => {
                if part.is_empty() {
                    return None;
                }
                params.push((name.clone(), percent_decode(part)));
                push_digit(&mut rank, &mut depth, 2);
            }
            Segment::CatchAll(name) => {
                params.push((name.clone(), percent_decode(current)));
                push_digit(&mut rank, &mut depth, 3);
                return Some((rank, params));
            }
        }
        rest = next;
    }
    if rest.is_some() {
        return None;
    }
    Some((rank, params))
}

/// Whether a route for `route_method` serves a request with `method` (a GET route serves
/// HEAD too).
fn method_serves(route_method: &Method, method: &Method) -> bool {
    route_method == method || (*route_method == Method::Get && *method == Method::Head)
}

fn found(route: &Route, params: Vec<(String, String)>) -> RouteMatch {
    RouteMatch::Found {
        handler: route.handler.clone(),
        params,
    }
}

/// Decodes `%XX` escapes; invalid escapes and non-UTF-8 results are kept as received.
pub(crate) fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

impl Router {
    /// Adds a route; a later route with the same pattern and method replaces the earlier.
    pub(crate) fn add(
        &mut self,
        pattern: &str,
        method: Option<Method>,
        handler: SharedHandler,
    ) -> Result<(), RouteError> {
        let segments = parse_pattern(pattern)?;
        self.routes
            .retain(|r| !(r.segments == segments && r.method == method));
        self.routes.push(Route {
            pattern: pattern.to_string(),
            segments,
            method,
            handler,
        });
        // Routes are added at start-up: rebuilding the index keeps it simple.
        self.exact.clear();
        for (i, r) in self.routes.iter().enumerate() {
            if r.segments.iter().all(|s| matches!(s, Segment::Static(_))) {
                self.exact.entry(r.pattern.clone()).or_default().push(i);
            }
        }
        Ok(())
    }

    /// Looks up `path` for `method`.
    pub(crate) fn lookup(&self, method: &Method, path: &str) -> RouteMatch {
        if let Some(ids) = self.exact.get(path) {
            // The same choice as the scan among routes of one rank: the first route with
            // the method (GET serving HEAD), else the first for every method.
            let mut any_method = None;
            for r in ids.iter().map(|&i| &self.routes[i]) {
                match &r.method {
                    Some(m) if method_serves(m, method) => return found(r, Vec::new()),
                    None if any_method.is_none() => any_method = Some(r),
                    _ => {}
                }
            }
            if let Some(r) = any_method {
                return found(r, Vec::new());
            }
        }
        self.scan(method, path)
    }

    /// Looks up `path` for `method` by trying every route.
    fn scan(&self, method: &Method, path: &str) -> RouteMatch {
        let mut best: Best<'_> = None;
        let mut allowed: Vec<String> = Vec::new();
        for route in &self.routes {
            let Some((rank, params)) = match_segments(&route.segments, path) else {
                continue;
            };
            let method_ok = route
                .method
                .as_ref()
                .is_none_or(|m| method_serves(m, method));
            if !method_ok {
                if let Some(m) = &route.method {
                    allowed.push(m.as_str().to_string());
                }
                continue;
            }
            // Exact method beats any-method at the same rank.
            let exact = route.method.is_some();
            let better = match &best {
                None => true,
                Some((r, e, _, _)) => rank < *r || (rank == *r && exact && !*e),
            };
            if better {
                best = Some((rank, exact, route, params));
            }
        }
        match best {
            Some((_, _, route, params)) => found(route, params),
            None if !allowed.is_empty() => {
                allowed.sort();
                allowed.dedup();
                if allowed.iter().any(|m| m == "GET") {
                    allowed.push("HEAD".to_string());
                }
                RouteMatch::MethodNotAllowed(allowed)
            }
            None => RouteMatch::NotFound,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::context::Context;
    use std::sync::Arc;

    fn h() -> SharedHandler {
        Arc::new(|_ctx: Context| async {})
    }

    fn found(r: &Router, m: Method, p: &str) -> Option<Vec<(String, String)>> {
        match r.lookup(&m, p) {
            RouteMatch::Found { params, .. } => Some(params),
            _ => None,
        }
    }

    #[test]
    fn static_param_and_catch_all() {
        let mut r = Router::default();
        r.add("/", None, h()).unwrap();
        r.add("/users/{id}", None, h()).unwrap();
        r.add("/users/me", None, h()).unwrap();
        r.add("/static/{*path}", None, h()).unwrap();
        assert_eq!(found(&r, Method::Get, "/"), Some(vec![]));
        assert_eq!(
            found(&r, Method::Get, "/users/42"),
            Some(vec![("id".into(), "42".into())])
        );
        assert_eq!(found(&r, Method::Get, "/users/me"), Some(vec![]));
        assert_eq!(
            found(&r, Method::Get, "/users/a%20b"),
            Some(vec![("id".into(), "a b".into())])
        );
        assert_eq!(
            found(&r, Method::Get, "/static/css/site.css"),
            Some(vec![("path".into(), "css/site.css".into())])
        );
        assert_eq!(found(&r, Method::Get, "/users"), None);
        assert_eq!(found(&r, Method::Get, "/users/"), None);
        assert_eq!(found(&r, Method::Get, "/users/1/x"), None);
        assert_eq!(found(&r, Method::Get, "/nope"), None);
    }

    #[test]
    fn methods_and_405() {
        let mut r = Router::default();
        r.add("/items", Some(Method::Get), h()).unwrap();
        r.add("/items", Some(Method::Post), h()).unwrap();
        assert!(found(&r, Method::Get, "/items").is_some());
        assert!(found(&r, Method::Head, "/items").is_some());
        match r.lookup(&Method::Delete, "/items") {
            RouteMatch::MethodNotAllowed(m) => assert_eq!(m, vec!["GET", "POST", "HEAD"]),
            _ => panic!("expected 405"),
        }
        assert!(matches!(
            r.lookup(&Method::Get, "/other"),
            RouteMatch::NotFound
        ));
    }

    #[test]
    fn bad_patterns() {
        let mut r = Router::default();
        assert!(matches!(
            r.add("x", None, h()),
            Err(RouteError::NotAbsolute(_))
        ));
        assert!(matches!(
            r.add("/{*a}/b", None, h()),
            Err(RouteError::CatchAllNotLast(_))
        ));
        assert!(matches!(
            r.add("/{a", None, h()),
            Err(RouteError::BadParameter(_))
        ));
        assert!(matches!(
            r.add("/{}", None, h()),
            Err(RouteError::BadParameter(_))
        ));
    }

    /// The index of parameterless routes gives what the scan of every route gives, for
    /// every method and path of a table that mixes them, with methods and without.
    #[test]
    fn exact_index_agrees_with_the_scan() {
        let patterns = [
            "/", "/a", "/a/b", "/a/{x}", "/{x}/b", "/a/{*r}", "/{*r}", "/c",
        ];
        let methods = [
            None,
            Some(Method::Get),
            Some(Method::Post),
            Some(Method::Head),
        ];
        let paths = [
            "/", "/a", "/a/", "/a/b", "/a/c", "/x/b", "/c", "/c/d", "/b", "//",
        ];
        let asks = [Method::Get, Method::Head, Method::Post, Method::Delete];
        // Several tables: each pattern with a method picked by a little generator.
        for seed in 0..64u32 {
            let mut r = Router::default();
            for (i, p) in patterns.iter().enumerate() {
                let pick = (seed.wrapping_mul(2_654_435_761) >> (i * 3)) as usize;
                for k in 0..(1 + pick % 2) {
                    r.add(p, methods[(pick + k) % methods.len()].clone(), h())
                        .unwrap();
                }
            }
            for path in paths {
                for m in &asks {
                    let (fast, slow) = (r.lookup(m, path), r.scan(m, path));
                    let same = match (&fast, &slow) {
                        (
                            RouteMatch::Found {
                                handler: a,
                                params: pa,
                            },
                            RouteMatch::Found {
                                handler: b,
                                params: pb,
                            },
                        ) => Arc::ptr_eq(a, b) && pa == pb,
                        (RouteMatch::MethodNotAllowed(a), RouteMatch::MethodNotAllowed(b)) => {
                            a == b
                        }
                        (RouteMatch::NotFound, RouteMatch::NotFound) => true,
                        _ => false,
                    };
                    assert!(same, "seed {seed} {m:?} {path}");
                }
            }
        }
    }

    #[test]
    fn percent_decoding_is_total() {
        assert_eq!(percent_decode("a%2Fb"), "a/b");
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%ff"), "%ff");
    }
}
