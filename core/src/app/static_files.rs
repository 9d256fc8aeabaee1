//! Static files: [`Server::static_dir`] serves a directory under a path prefix, with
//! content types, validators (`ETag`, `Last-Modified`) and `304`, single byte ranges
//! (`206`, `416`), HEAD, and streaming in chunks.
//!
//! # No escape from the root
//!
//! The request path is taken as received (escapes kept) and checked segment by segment
//! before any file is touched: each segment is percent-decoded on its own, and a segment
//! that is empty (`//`, an absolute path after the prefix), starts with `.` (`..`, `.`,
//! dotfiles such as `.env` or `.git`, also when written `%2e%2e`), or decodes to a `/`, a
//! `\`, a `:` or a NUL (`%2f`, `%5c`, raw backslashes, drive letters) is refused with `404`,
//! as is an escape that is not valid UTF-8. Then the file's path is canonicalized (symlinks
//! resolved) and must still lie under the canonical root: a symlink that points outside
//! the root is a `404` too, one that stays inside is followed. Every refusal is the same
//! `404` as a missing file, so a prober learns nothing about what exists outside.
//!
//! # Ranges
//!
//! One `bytes` range (`a-b`, `a-`, `-n`) is answered with `206` and `Content-Range`; a
//! range that is unsatisfiable or malformed with `416` and `Content-Range: bytes */len`.
//! Several ranges are answered with the whole file (`200`), which RFC 9110 allows: a
//! multipart/byteranges body is rarely asked for by real clients. More than
//! [`MAX_RANGES`] ranges is `416` (a request made to waste the server's time). A Range in
//! another unit is ignored. `If-Range` is honoured (a stale validator gets the whole file).
//!
//! # Reading files
//!
//! Files are read in [`CHUNK`]-sized pieces, each sent before the next is read, and
//! `send_body` waits while the connection's outgoing queue is full, so a large file costs
//! one chunk of memory whatever its size and however slow the client. The reads are
//! plain `std::fs` calls on the connection's task: the framework knows no runtime, so it
//! has no blocking pool to hand them to, and a 64 KiB read from the page cache takes
//! microseconds. A site that serves files from slow storage should put a cache or a CDN
//! in front.

use super::context::Context;
use super::handler::{BoxFuture, Handler};
use super::headers;
use super::router::RouteError;
use super::runtime::Runtime;
use super::server::Server;
use crate::proto::http::{HttpDate, Method};
use bytes::Bytes;
use std::fs::{File, Metadata};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

/// Bytes read from a file and sent at a time.
pub const CHUNK: usize = 64 * 1024;

/// Most ranges a request may ask for before it is refused with `416`.
pub const MAX_RANGES: usize = 16;

/// The file served for a directory.
const INDEX: &str = "index.html";

impl<R: Runtime> Server<R> {
    /// Serves the files under `dir` at `prefix` (`"/static"`, or `"/"` for a whole site),
    /// for GET and HEAD: `GET /static/css/site.css` reads `dir/css/site.css`, and a
    /// directory path ending in `/` serves its `index.html`. See the
    /// [module docs](crate::app::static_files) for what is answered and what is refused (every way out of
    /// `dir` is a `404`). If `dir` cannot be opened, `run`/`start` fail.
    ///
    /// Routes registered elsewhere under the same prefix take precedence over the files
    /// (a static segment beats the catch-all).
    pub async fn static_dir(&self, prefix: &str, dir: impl AsRef<Path>) -> &Self {
        let dir = dir.as_ref();
        let root = match dir.canonicalize() {
            Ok(root) if root.is_dir() => root,
            Ok(_) => {
                return self.refuse(RouteError::StaticDir(dir.into(), "not a directory".into()))
            }
            Err(e) => return self.refuse(RouteError::StaticDir(dir.into(), e.to_string())),
        };
        let base = prefix.trim_end_matches('/');
        let dir = Arc::new(StaticDir {
            root,
            prefix: format!("{base}/"),
        });
        let handler = StaticHandler(dir);
        let pattern = format!("{base}/{{*path}}");
        self.get(&pattern, handler.clone()).await;
        if !base.is_empty() {
            // `/static` alone: redirect to `/static/` so relative links in its index work.
            self.get(base, handler).await;
        }
        self
    }
}

/// The handler behind [`Server::static_dir`].
struct StaticDir {
    /// Canonical, so a canonical file path can be checked against it by prefix.
    root: PathBuf,
    /// The route prefix with one trailing `/`.
    prefix: String,
}

/// The route's handler: HTTP only (an upgrade to a file path is served as HTTP, a 404).
#[derive(Clone)]
struct StaticHandler(Arc<StaticDir>);

impl Handler for StaticHandler {
    fn call(&self, ctx: Context) -> BoxFuture {
        let dir = self.0.clone();
        Box::pin(async move { dir.serve(&ctx).await })
    }

    fn accepts_websocket(&self) -> bool {
        false
    }
}

/// What a request path resolves to.
enum Resolved {
    File(PathBuf),
    /// A directory asked for without its trailing `/`.
    Redirect,
    NotFound,
}

impl StaticDir {
    async fn serve(&self, ctx: &Context) {
        if ctx.is_websocket() {
            // A WebSocket upgrade to a file path: nothing to say on it.
            return;
        }
        let path = ctx.path();
        let rest = match path.strip_prefix(self.prefix.as_str()) {
            Some(rest) => rest,
            None if format!("{path}/") == self.prefix => return redirect(ctx, path).await,
            None => return not_found(ctx).await,
        };
        match self.resolve(rest) {
            Resolved::File(file) => serve_file(ctx, &file).await,
            Resolved::Redirect => redirect(ctx, path).await,
            Resolved::NotFound => not_found(ctx).await,
        }
    }

    /// Maps the part of the request path after the prefix to a file under the root.
    fn resolve(&self, rest: &str) -> Resolved {
        let mut candidate = self.root.clone();
        let (segments, dir_asked) = match rest.strip_suffix('/') {
            Some(dir) => (dir, true),
            None => (rest, rest.is_empty()),
        };
        if !segments.is_empty() {
            for raw in segments.split('/') {
                match decode_segment(raw) {
                    Some(seg) => candidate.push(seg),
                    None => return Resolved::NotFound,
                }
            }
        }
        let Some(mut file) = self.inside(&candidate) else {
            return Resolved::NotFound;
        };
        if file.is_dir() {
            if !dir_asked {
                return Resolved::Redirect;
            }
            match self.inside(&file.join(INDEX)) {
                Some(index) => file = index,
                None => return Resolved::NotFound,
            }
        } else if dir_asked && !segments.is_empty() {
            // `file.txt/`: not a directory.
            return Resolved::NotFound;
        }
        if file.is_file() {
            Resolved::File(file)
        } else {
            Resolved::NotFound
        }
    }

    /// `path` canonicalized, if it exists and lies under the root (symlinks resolved).
    fn inside(&self, path: &Path) -> Option<PathBuf> {
        let real = path.canonicalize().ok()?;
        real.starts_with(&self.root).then_some(real)
    }
}

/// One path segment, percent-decoded; `None` when it could lead anywhere but one level
/// down (see the module docs).
fn decode_segment(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            i += 3;
            u8::from_str_radix(hex, 16).ok()?
        } else {
            i += 1;
            bytes[i - 1]
        };
        out.push(b);
    }
    let seg = String::from_utf8(out).ok()?;
    let refused = seg.is_empty() || seg.starts_with('.') || seg.contains(['/', '\\', ':', '\0']);
    (!refused).then_some(seg)
}

async fn not_found(ctx: &Context) {
    ctx.set_response_status_code(404)
        .await
        .set_response_body("Not Found\n")
        .await;
}

async fn redirect(ctx: &Context, path: &str) {
    let mut location = format!("{path}/");
    if let Some(q) = ctx.query() {
        location.push('?');
        location.push_str(q);
    }
    ctx.set_response_status_code(308)
        .await
        .set_response_header(headers::LOCATION, location)
        .await;
}

/// The content type for a file name, from its extension; `application/octet-stream`
/// when unknown. Text types say UTF-8.
pub fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" | "map" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "md" => "text/markdown; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "ico" => "image/x-icon",
        "wasm" => "application/wasm",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        "pdf" => "application/pdf",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mp3" => "audio/mpeg",
        "ogg" => "audio/ogg",
        "wav" => "audio/wav",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        _ => "application/octet-stream",
    }
}

/// The validators of a file: a strong `ETag` from its length and modification time (as
/// nginx does: no hashing of the contents), and its modification time in whole seconds.
struct Validators {
    etag: String,
    modified: Option<u64>,
}

impl Validators {
    fn of(meta: &Metadata) -> Self {
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok());
        let nanos = mtime.map_or(0, |d| d.as_nanos());
        Validators {
            etag: format!("\"{:x}-{:x}\"", meta.len(), nanos),
            modified: mtime.map(|d| d.as_secs()),
        }
    }

    /// Whether an `If-None-Match` list names this file (weak comparison, `*` matches).
    fn none_match(&self, header: &str) -> bool {
        let ours = self.etag.as_str();
        header
            .split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == ours)
    }

    /// Whether the file is unchanged since an HTTP date.
    fn not_modified_since(&self, header: &str) -> bool {
        let (Some(modified), Ok(since)) = (self.modified, httpdate::parse_http_date(header)) else {
            return false;
        };
        let since = since.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        modified <= since
    }

    /// Whether an `If-Range` validator still holds (strong comparison for an entity tag;
    /// an exact match for a date).
    fn if_range_holds(&self, header: &str) -> bool {
        let header = header.trim();
        if header.starts_with('"') {
            return header == self.etag;
        }
        match (self.modified, httpdate::parse_http_date(header)) {
            (Some(m), Ok(t)) => t.duration_since(UNIX_EPOCH).is_ok_and(|d| d.as_secs() == m),
            _ => false,
        }
    }
}

/// What a `Range` header asks of a file of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
enum RangeAsk {
    /// No range, another unit, or several ranges: the whole file.
    Whole,
    /// Bytes `start..=end`.
    Part { start: u64, end: u64 },
    /// Malformed, unsatisfiable, or too many ranges.
    Unsatisfiable,
}

fn parse_range(header: &str, len: u64) -> RangeAsk {
    let Some(specs) = header.trim().strip_prefix("bytes=") else {
        return RangeAsk::Whole;
    };
    let specs: Vec<&str> = specs.split(',').map(str::trim).collect();
    if specs.len() > MAX_RANGES {
        return RangeAsk::Unsatisfiable;
    }
    let parsed: Option<Vec<(u64, u64)>> = specs.iter().map(|s| one_range(s, len)).collect();
    match parsed.as_deref() {
        Some([(start, end)]) => RangeAsk::Part {
            start: *start,
            end: *end,
        },
        Some(_) => RangeAsk::Whole,
        None => RangeAsk::Unsatisfiable,
    }
}

/// One `first-last`, `first-` or `-suffix` spec, clamped to the file; `None` when it is
/// malformed or selects nothing.
fn one_range(spec: &str, len: u64) -> Option<(u64, u64)> {
    let (first, last) = spec.split_once('-')?;
    let num = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    if first.is_empty() {
        let n = num(last)?;
        if n == 0 || len == 0 {
            return None;
        }
        return Some((len - n.min(len), len - 1));
    }
    let start = num(first)?;
    if start >= len {
        return None;
    }
    let end = if last.is_empty() {
        len - 1
    } else {
        let end = num(last)?;
        if end < start {
            return None;
        }
        end.min(len - 1)
    };
    Some((start, end))
}

async fn serve_file(ctx: &Context, path: &Path) {
    let opened = File::open(path).and_then(|f| {
        let meta = f.metadata()?;
        Ok((f, meta))
    });
    let Ok((mut file, meta)) = opened else {
        return not_found(ctx).await;
    };
    let len = meta.len();
    let v = Validators::of(&meta);
    ctx.set_response_header(headers::ETAG, v.etag.clone()).await;
    if let Some(m) = v.modified {
        ctx.set_response_header(
            headers::LAST_MODIFIED,
            HttpDate::from_unix_secs(m).as_str().to_string(),
        )
        .await;
    }
    let head = ctx.request_head().headers();
    // RFC 9110 §13.2.2: If-None-Match first; If-Modified-Since only without it.
    let unchanged = match head.get_str(headers::IF_NONE_MATCH) {
        Some(tags) => v.none_match(tags),
        None => head
            .get_str(headers::IF_MODIFIED_SINCE)
            .is_some_and(|d| v.not_modified_since(d)),
    };
    if unchanged {
        ctx.set_response_status_code(304).await;
        return;
    }
    ctx.set_response_header(headers::CONTENT_TYPE, content_type(path))
        .await
        .set_response_header(headers::ACCEPT_RANGES, "bytes")
        .await
        .set_response_header("x-content-type-options", "nosniff")
        .await;
    let range_applies = head
        .get_str(headers::IF_RANGE)
        .is_none_or(|validator| v.if_range_holds(validator));
    let ask = match head.get_str(headers::RANGE) {
        Some(r) if range_applies => parse_range(r, len),
        _ => RangeAsk::Whole,
    };
    let (start, count) = match ask {
        RangeAsk::Whole => (0, len),
        RangeAsk::Part { start, end } => {
            ctx.set_response_status_code(206)
                .await
                .set_response_header(headers::CONTENT_RANGE, format!("bytes {start}-{end}/{len}"))
                .await;
            (start, end - start + 1)
        }
        RangeAsk::Unsatisfiable => {
            ctx.set_response_status_code(416)
                .await
                .set_response_header(headers::CONTENT_RANGE, format!("bytes */{len}"))
                .await
                .set_response_header(headers::CONTENT_TYPE, headers::TEXT_PLAIN)
                .await
                .set_response_body("Range Not Satisfiable\n")
                .await;
            return;
        }
    };
    if ctx.send_head_with_length(count).await.is_err() || *ctx.method() == Method::Head {
        return;
    }
    if start > 0 && file.seek(SeekFrom::Start(start)).is_err() {
        // The head promised `count` bytes: sending none cuts the connection, which is
        // the honest answer to a file that cannot be read.
        return;
    }
    let mut left = count;
    while left > 0 {
        let want = left.min(CHUNK as u64) as usize;
        let mut buf = vec![0; want];
        match file.read(&mut buf) {
            Ok(0) | Err(_) => return, // shrunk or unreadable: cut (see above)
            Ok(n) => {
                buf.truncate(n);
                left -= n as u64;
            }
        }
        ctx.set_response_body(Bytes::from(buf)).await;
        if ctx.send_body().await.is_err() {
            return;
        }
    }
    ctx.set_response_body(Bytes::new()).await;
}
