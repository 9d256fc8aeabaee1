//! Static files: [`Server::static_dir`] serves a directory under a path prefix, with
//! content types, validators (`ETag`, `Last-Modified`) and `304`, byte ranges (`206`,
//! one range or `multipart/byteranges` for several, and `416`), HEAD, and streaming in
//! chunks.
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
//! A `Range: bytes=...` header (the unit in any case; another unit is ignored) is a list
//! of `a-b`, `a-` and `-n` ranges. Ranges that start past the end of the file (or ask for
//! a zero-byte suffix) are dropped, as RFC 9110 §14.2 allows; the rest are clamped to the
//! file, sorted, and those that overlap or touch are merged into one (so `0-,0-,0-` costs
//! one copy of the file, not three). Then:
//!
//! - one range left: `206` with `Content-Range: bytes a-b/len` and those bytes;
//! - several: `206` with `Content-Type: multipart/byteranges; boundary=...` (RFC 9110
//!   §14.6), one part per range in ascending order, each with the file's `Content-Type` and
//!   its own `Content-Range`, and the exact `Content-Length` of the whole body, worked out
//!   before anything is sent. The boundary is 32 hex digits picked at random for each
//!   response, after the file was written, from keys nobody outside the process knows: a
//!   file cannot be made to contain it (one derived from the file, such as its `ETag`,
//!   could be), and by chance it occurs with probability 2^-128 per position. Making
//!   sure instead would mean reading every range twice;
//! - none: `416` with `Content-Range: bytes */len`, as for a malformed header (one spec
//!   that is not digits, or `b` before `a`) or one with more than [`MAX_RANGES`] ranges
//!   (counted as asked, before merging: a request made to waste the server's time).
//!
//! HEAD gets the same head as GET (status, type, length) and no body. `If-Range` is
//! honoured: a stale validator gets the whole file (`200`). What curl shows (the
//! validators and `date` left out):
//!
//! ```text
//! $ curl -i -r 0-1,4-5 http://127.0.0.1:8080/page.txt    # page.txt: 0123456789
//! HTTP/1.1 206 Partial Content
//! content-type: multipart/byteranges; boundary=e1d13aa1e30a35805994f612a5aeda13
//! content-length: 262
//!
//! --e1d13aa1e30a35805994f612a5aeda13
//! Content-Type: text/plain; charset=utf-8
//! Content-Range: bytes 0-1/10
//!
//! 01
//! --e1d13aa1e30a35805994f612a5aeda13
//! Content-Type: text/plain; charset=utf-8
//! Content-Range: bytes 4-5/10
//!
//! 45
//! --e1d13aa1e30a35805994f612a5aeda13--
//! ```
//!
//! # Reading files
//!
//! Files are read in [`CHUNK`]-sized pieces, each sent before the next is read, and
//! `send_body` waits while the connection's outgoing queue is full, so a large file costs
//! one chunk of memory whatever its size and however slow the client. A multipart body is
//! sent the same way, each part's delimiter and header fields with its first piece. The reads are
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
use std::hash::{BuildHasher, RandomState};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
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
    /// No range, or another unit: the whole file.
    Whole,
    /// The satisfiable ranges (first and last byte, inclusive), sorted, none overlapping
    /// or touching another; at least one.
    Parts(Vec<(u64, u64)>),
    /// Malformed, too many ranges, or none satisfiable.
    Unsatisfiable,
}

fn parse_range(header: &str, len: u64) -> RangeAsk {
    let Some((unit, set)) = header.split_once('=') else {
        return RangeAsk::Whole;
    };
    // Range units are case-insensitive (RFC 9110 §14.1); another unit is ignored.
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return RangeAsk::Whole;
    }
    // Empty list elements (`0-1,,4-5`) are accepted and ignored (RFC 9110 §5.6.1).
    let specs: Vec<&str> = set
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    // The cap counts ranges as asked, before coalescing: a request for hundreds of ranges
    // is made to waste the server's time, whatever they add up to.
    if specs.is_empty() || specs.len() > MAX_RANGES {
        return RangeAsk::Unsatisfiable;
    }
    let mut ranges = Vec::with_capacity(specs.len());
    for spec in specs {
        match one_range(spec, len) {
            Spec::Malformed => return RangeAsk::Unsatisfiable,
            // RFC 9110 §14.2: the set is satisfiable if any one range is; the others
            // are left out of the answer.
            Spec::Outside => {}
            Spec::Bytes(start, end) => ranges.push((start, end)),
        }
    }
    if ranges.is_empty() {
        return RangeAsk::Unsatisfiable;
    }
    RangeAsk::Parts(coalesce(ranges))
}

/// One range spec of a `Range` header, checked against the file.
enum Spec {
    /// Not `first-last`, `first-` or `-suffix` with digits, or `last` before `first`.
    Malformed,
    /// Well formed but selecting no byte of the file (starts at or past its end, or a
    /// zero-length suffix).
    Outside,
    /// First and last byte, clamped to the file.
    Bytes(u64, u64),
}

fn one_range(spec: &str, len: u64) -> Spec {
    let Some((first, last)) = spec.split_once('-') else {
        return Spec::Malformed;
    };
    // Digits only; a number too large for u64 saturates, which is still past the end of
    // any file (a first byte) or beyond it (a last byte or a suffix): clamping then gives
    // the answer the number means.
    let num = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(s.bytes().fold(0u64, |n, b| {
            n.saturating_mul(10).saturating_add(u64::from(b - b'0'))
        }))
    };
    if first.is_empty() {
        return match num(last) {
            None => Spec::Malformed,
            Some(0) => Spec::Outside,
            Some(_) if len == 0 => Spec::Outside,
            Some(n) => Spec::Bytes(len - n.min(len), len - 1),
        };
    }
    let Some(start) = num(first) else {
        return Spec::Malformed;
    };
    let end = if last.is_empty() {
        u64::MAX
    } else {
        match num(last) {
            Some(end) if end >= start => end,
            _ => return Spec::Malformed,
        }
    };
    if start >= len {
        return Spec::Outside;
    }
    Spec::Bytes(start, end.min(len - 1))
}

/// Sorts the ranges and merges those that overlap or touch (RFC 9110 §14.6 lets a server
/// coalesce them, whatever order they were asked in). Requests such as `0-,0-,0-` would
/// otherwise make the server send the file once per range.
fn coalesce(mut ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    ranges.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        match out.last_mut() {
            // `last.1 + 1` cannot overflow: a last byte is below the file's length.
            Some(last) if start <= last.1 + 1 => last.1 = last.1.max(end),
            _ => out.push((start, end)),
        }
    }
    out
}

/// A `multipart/byteranges` body (RFC 9110 §14.6), laid out before the head is sent so
/// its length is known: each part is the text before its bytes (the delimiter, then the
/// part's `Content-Type` and `Content-Range`) followed by the bytes, read from the file
/// as they are sent; the body ends with the closing delimiter.
struct Multipart {
    boundary: String,
    /// Each part's first and last byte and the text sent before them.
    parts: Vec<(u64, u64, String)>,
    closing: String,
}

impl Multipart {
    fn new(ranges: &[(u64, u64)], len: u64, content_type: &str) -> Multipart {
        let boundary = boundary();
        let parts = ranges
            .iter()
            .enumerate()
            .map(|(i, &(start, end))| {
                // The CRLF before a delimiter belongs to the delimiter (RFC 2046 §5.1.1),
                // not to the bytes of the part before it.
                let crlf = if i == 0 { "" } else { "\r\n" };
                let lead = format!(
                    "{crlf}--{boundary}\r\nContent-Type: {content_type}\r\n\
                     Content-Range: bytes {start}-{end}/{len}\r\n\r\n"
                );
                (start, end, lead)
            })
            .collect();
        let closing = format!("\r\n--{boundary}--\r\n");
        Multipart {
            boundary,
            parts,
            closing,
        }
    }

    /// The body's length in bytes, the `Content-Length` of the response.
    fn len(&self) -> u64 {
        let parts: u64 = self
            .parts
            .iter()
            .map(|(start, end, lead)| lead.len() as u64 + (end - start + 1))
            .sum();
        parts + self.closing.len() as u64
    }
}

/// A fresh boundary: 128 bits from a keyed hash of a counter, as 32 hex digits, the same
/// length every time so that a HEAD and a GET announce the same `Content-Length`.
///
/// A multipart reader splits the body at the boundary, so it must not occur in the parts.
/// Checking that it does not would mean reading every range twice (once to look, once to
/// send), and a boundary derived from the file (its `ETag`, say) is known to anyone, so a
/// file written to contain it would split into forged parts. This one is picked when the
/// response is made, after the file was written, from keys drawn from the operating
/// system's randomness when the process first needs them (std's `RandomState`, the keyed
/// SipHash whose keys `HashMap` keeps secret against collision attacks). Nobody outside
/// the process can predict it, so no file can be written to contain it, and by chance a
/// given 32-digit string occurs at a given position with probability 2^-128: never, in
/// any file that fits on a disk.
fn boundary() -> String {
    static KEYS: OnceLock<RandomState> = OnceLock::new();
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let keys = KEYS.get_or_init(RandomState::new);
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    format!(
        "{:016x}{:016x}",
        keys.hash_one((n, 0u8)),
        keys.hash_one((n, 1u8))
    )
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
    let file_type = content_type(path);
    ctx.set_response_header(headers::CONTENT_TYPE, file_type)
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
    let ranges = match ask {
        RangeAsk::Whole => None,
        RangeAsk::Parts(ranges) => Some(ranges),
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
    match ranges.as_deref() {
        None => {
            if send_head(ctx, len).await {
                send_file_bytes(ctx, &mut file, 0, len, "").await;
            }
        }
        // One range (also what several become when they overlap or touch): a plain 206.
        // RFC 9110 §14.6 forbids a multipart answer with one part, which a client that
        // asked for one range may not understand.
        Some(&[(start, end)]) => {
            ctx.set_response_status_code(206)
                .await
                .set_response_header(headers::CONTENT_RANGE, format!("bytes {start}-{end}/{len}"))
                .await;
            if send_head(ctx, end - start + 1).await {
                send_file_bytes(ctx, &mut file, start, end - start + 1, "").await;
            }
        }
        Some(ranges) => {
            let body = Multipart::new(ranges, len, file_type);
            ctx.set_response_status_code(206)
                .await
                .set_response_header(
                    headers::CONTENT_TYPE,
                    format!("multipart/byteranges; boundary={}", body.boundary),
                )
                .await;
            if !send_head(ctx, body.len()).await {
                return;
            }
            for (start, end, lead) in &body.parts {
                if !send_file_bytes(ctx, &mut file, *start, end - start + 1, lead).await {
                    return;
                }
            }
            ctx.set_response_body(body.closing).await;
            if ctx.send_body().await.is_err() {
                return;
            }
        }
    }
    // What has been sent is the whole body: nothing is left for the handler's return to send.
    ctx.set_response_body(Bytes::new()).await;
}

/// Sends the head declaring a body of `len` bytes; `false` when no body is to follow
/// (a HEAD request, or a connection that is gone).
async fn send_head(ctx: &Context, len: u64) -> bool {
    ctx.send_head_with_length(len).await.is_ok() && *ctx.method() != Method::Head
}

/// Sends `count` bytes of `file` from byte `start`, preceded by `lead`, in pieces of at
/// most [`CHUNK`] file bytes, each sent (waiting while the outgoing queue is full) before
/// the next is read. `false` when the file could not be read to the end or the
/// connection is gone: the head promised a length, so the body is cut short and the
/// connection with it, the honest answer to a file that cannot be read.
async fn send_file_bytes(
    ctx: &Context,
    file: &mut File,
    start: u64,
    count: u64,
    lead: &str,
) -> bool {
    if file.seek(SeekFrom::Start(start)).is_err() {
        return false;
    }
    // The lead (a part's delimiter and header fields) travels with the part's first piece.
    let mut lead = lead.as_bytes();
    let mut left = count;
    while left > 0 {
        let want = left.min(CHUNK as u64) as usize;
        let mut buf = Vec::with_capacity(lead.len() + want);
        buf.extend_from_slice(lead);
        let at = buf.len();
        buf.resize(at + want, 0);
        match file.read(&mut buf[at..]) {
            Ok(0) | Err(_) => return false, // shrunk or unreadable
            Ok(n) => {
                buf.truncate(at + n);
                left -= n as u64;
            }
        }
        lead = &[];
        ctx.set_response_body(Bytes::from(buf)).await;
        if ctx.send_body().await.is_err() {
            return false;
        }
    }
    true
}
