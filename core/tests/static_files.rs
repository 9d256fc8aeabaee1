//! `Server::static_dir` on the memory runtime: content types, validators and 304, ranges,
//! HEAD, streaming, and every way out of the root (all 404).

// The framework's: nothing to test without it (`--no-default-features`).
#![cfg(feature = "framework")]

mod support;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use support::*;
use wirelane_core::app::memory::{Faults, MemClient, MemRuntime};
use wirelane_core::app::{Context, ServerError, ServerHandle};

/// A fresh directory tree for one test, removed when dropped:
/// `site/` (the root: index.html, app.js, big.bin, sub/index.html, sub/page.txt,
/// .env, a symlink inside the root and one pointing outside) and `secret.txt` beside it.
struct Tree {
    base: PathBuf,
}

const BIG: usize = 300 * 1024 + 17;

fn big_content() -> Vec<u8> {
    (0..BIG).map(|i| (i * 7 % 251) as u8).collect()
}

impl Tree {
    fn new() -> Tree {
        static N: AtomicUsize = AtomicUsize::new(0);
        let base = std::env::temp_dir().join(format!(
            "wirelane-static-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&base);
        let site = base.join("site");
        std::fs::create_dir_all(site.join("sub")).unwrap();
        std::fs::write(site.join("index.html"), "<h1>home</h1>").unwrap();
        std::fs::write(site.join("app.js"), "console.log(1)").unwrap();
        std::fs::write(site.join("big.bin"), big_content()).unwrap();
        std::fs::write(site.join("sub/index.html"), "<h1>sub</h1>").unwrap();
        std::fs::write(site.join("sub/page.txt"), "0123456789").unwrap();
        std::fs::write(site.join(".env"), "TOKEN=hidden").unwrap();
        std::fs::write(base.join("secret.txt"), "SECRET").unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(base.join("secret.txt"), site.join("leak.txt")).unwrap();
            std::os::unix::fs::symlink(&base, site.join("up")).unwrap();
            std::os::unix::fs::symlink(site.join("sub/page.txt"), site.join("alias.txt")).unwrap();
        }
        Tree { base }
    }

    fn site(&self) -> PathBuf {
        self.base.join("site")
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

async fn hello(ctx: Context) {
    ctx.set_response_body("a route").await;
}

fn server(rt: &MemRuntime, site: &Path) -> ServerHandle {
    let site = site.to_path_buf();
    start(rt, |s| async move {
        s.static_dir("/static", &site).await;
        s.get("/static/route", hello).await;
        s
    })
}

/// Sends `request` on a new connection and returns the one response.
fn ask(rt: &MemRuntime, h: &ServerHandle, request: &str) -> Response {
    let c = connect(rt, h, Faults::default());
    c.write(request.as_bytes());
    rt.run_until_idle();
    let mut out = c.read_available();
    let r = take_response(&mut out).unwrap_or_else(|| panic!("a response to {request:?}"));
    c.shutdown_write();
    rt.run_until_idle();
    r
}

/// Runs the server and reads until a whole response has arrived in `out` (the client may
/// read slowly: bounded, so a server that stalls fails the test instead of hanging it).
fn read_response(rt: &MemRuntime, c: &MemClient, out: &mut Vec<u8>) -> Option<Response> {
    for _ in 0..10_000 {
        rt.run_until_idle();
        out.extend(c.read_available());
        if let Some(r) = take_response(out) {
            return Some(r);
        }
    }
    None
}

fn get_with(path: &str, headers: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n{headers}\r\n")
}

#[test]
fn files_are_served_with_their_type_and_validators() {
    let t = Tree::new();
    let rt = MemRuntime::new();
    let h = server(&rt, &t.site());
    let r = ask(&rt, &h, &get_with("/static/app.js", ""));
    assert_eq!(r.status, 200);
    assert_eq!(r.body_str(), "console.log(1)");
    assert_eq!(
        r.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert!(r.header("etag").is_some_and(|e| e.starts_with('"')));
    assert!(r
        .header("last-modified")
        .is_some_and(|d| d.ends_with(" GMT")));
    let r = ask(&rt, &h, &get_with("/static/sub/page.txt", ""));
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    // A directory serves its index; without the slash it redirects to it.
    let r = ask(&rt, &h, &get_with("/static/", ""));
    assert_eq!((r.status, r.body_str()), (200, "<h1>home</h1>"));
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let r = ask(&rt, &h, &get_with("/static/sub/", ""));
    assert_eq!(r.body_str(), "<h1>sub</h1>");
    let r = ask(&rt, &h, &get_with("/static/sub?x=1", ""));
    assert_eq!(
        (r.status, r.header("location")),
        (308, Some("/static/sub/?x=1"))
    );
    let r = ask(&rt, &h, &get_with("/static", ""));
    assert_eq!((r.status, r.header("location")), (308, Some("/static/")));
    // A route under the prefix wins over the files.
    assert_eq!(
        ask(&rt, &h, &get_with("/static/route", "")).body_str(),
        "a route"
    );
    // Percent-escapes of ordinary characters are fine.
    assert_eq!(ask(&rt, &h, &get_with("/static/%61pp.js", "")).status, 200);
    // A WebSocket upgrade under the prefix is not accepted: it is served as HTTP.
    let up = String::from_utf8(upgrade("/static/app.js")).unwrap();
    let r = ask(&rt, &h, &up);
    assert_eq!((r.status, r.body_str()), (200, "console.log(1)"));
    let up = String::from_utf8(upgrade("/static/nope")).unwrap();
    assert_eq!(ask(&rt, &h, &up).status, 404);
    // Other methods are not served.
    let r = ask(
        &rt,
        &h,
        "POST /static/app.js HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(r.status, 405);
    assert_clean(&h);
}

#[test]
fn conditional_requests_get_304() {
    let t = Tree::new();
    let rt = MemRuntime::new();
    let h = server(&rt, &t.site());
    let first = ask(&rt, &h, &get_with("/static/app.js", ""));
    let etag = first.header("etag").unwrap().to_string();
    let modified = first.header("last-modified").unwrap().to_string();
    let cases = [
        (format!("If-None-Match: {etag}\r\n"), 304),
        (format!("If-None-Match: \"nope\", W/{etag}\r\n"), 304),
        ("If-None-Match: *\r\n".to_string(), 304),
        ("If-None-Match: \"nope\"\r\n".to_string(), 200),
        (format!("If-Modified-Since: {modified}\r\n"), 304),
        (
            "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n".to_string(),
            200,
        ),
        ("If-Modified-Since: yesterday\r\n".to_string(), 200),
        // If-None-Match takes precedence over If-Modified-Since.
        (
            format!("If-None-Match: \"nope\"\r\nIf-Modified-Since: {modified}\r\n"),
            200,
        ),
    ];
    for (headers, status) in cases {
        let r = ask(&rt, &h, &get_with("/static/app.js", &headers));
        assert_eq!(r.status, status, "{headers}");
        if status == 304 {
            assert!(r.body.is_empty());
            assert_eq!(r.header("etag"), Some(etag.as_str()));
        }
    }
    assert_clean(&h);
}

#[test]
fn single_ranges_get_206_and_bad_ones_416() {
    let t = Tree::new();
    let rt = MemRuntime::new();
    let h = server(&rt, &t.site());
    let path = "/static/sub/page.txt"; // "0123456789"
    let ok = [
        ("bytes=2-5", "2345", "bytes 2-5/10"),
        ("bytes=7-", "789", "bytes 7-9/10"),
        ("bytes=-3", "789", "bytes 7-9/10"),
        ("bytes=-30", "0123456789", "bytes 0-9/10"),
        ("bytes=8-100", "89", "bytes 8-9/10"),
        ("bytes=0-0", "0", "bytes 0-0/10"),
    ];
    for (range, body, content_range) in ok {
        let r = ask(&rt, &h, &get_with(path, &format!("Range: {range}\r\n")));
        assert_eq!(r.status, 206, "{range}");
        assert_eq!(r.body_str(), body, "{range}");
        assert_eq!(r.header("content-range"), Some(content_range), "{range}");
    }
    let many: String = (0..17)
        .map(|i| format!("{i}-{i}"))
        .collect::<Vec<_>>()
        .join(",");
    let refused = [
        "bytes=10-".to_string(),
        "bytes=100-200".to_string(),
        "bytes=-0".to_string(),
        "bytes=5-2".to_string(),
        "bytes=a-b".to_string(),
        "bytes=-".to_string(),
        "bytes=1-2-3".to_string(),
        "bytes=99999999999999999999999-".to_string(),
        format!("bytes={many}"),
    ];
    for range in refused {
        let r = ask(&rt, &h, &get_with(path, &format!("Range: {range}\r\n")));
        assert_eq!(r.status, 416, "{range}");
        assert_eq!(r.header("content-range"), Some("bytes */10"), "{range}");
    }
    // Another unit: ignored. The unit's name is case-insensitive.
    let r = ask(&rt, &h, &get_with(path, "Range: items=0-1\r\n"));
    assert_eq!((r.status, r.body_str()), (200, "0123456789"));
    let r = ask(&rt, &h, &get_with(path, "Range: Bytes=0-1\r\n"));
    assert_eq!((r.status, r.body_str()), (206, "01"));
    // If-Range: a matching validator keeps the range, a stale one gets the whole file.
    let etag = ask(&rt, &h, &get_with(path, ""))
        .header("etag")
        .unwrap()
        .to_string();
    let r = ask(
        &rt,
        &h,
        &get_with(path, &format!("Range: bytes=0-1\r\nIf-Range: {etag}\r\n")),
    );
    assert_eq!((r.status, r.body_str()), (206, "01"));
    let r = ask(
        &rt,
        &h,
        &get_with(path, "Range: bytes=0-1\r\nIf-Range: \"old\"\r\n"),
    );
    assert_eq!((r.status, r.body_str()), (200, "0123456789"));
    assert_clean(&h);
}

/// The boundary a multipart/byteranges response announces (checked to be 32 hex digits).
fn boundary_of(r: &Response) -> String {
    let ct = r.header("content-type").expect("a content type");
    let b = ct
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("multipart/byteranges: {ct}"));
    assert!(
        b.len() == 32 && b.bytes().all(|c| c.is_ascii_hexdigit()),
        "{b}"
    );
    b.to_string()
}

/// The exact multipart/byteranges body for `parts` (first, last) of `file`, written out
/// here independently of the server's code.
fn multipart(boundary: &str, ctype: &str, file: &[u8], parts: &[(usize, usize)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, &(a, b)) in parts.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Type: {ctype}\r\nContent-Range: bytes {a}-{b}/{}\r\n\r\n",
                file.len()
            )
            .as_bytes(),
        );
        out.extend_from_slice(&file[a..=b]);
    }
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

const PAGE: &[u8] = b"0123456789";
const TXT: &str = "text/plain; charset=utf-8";

#[test]
fn several_ranges_get_a_multipart_answer() {
    let t = Tree::new();
    let rt = MemRuntime::new();
    let h = server(&rt, &t.site());
    let path = "/static/sub/page.txt";
    let range = |r: &str| ask(&rt, &h, &get_with(path, &format!("Range: {r}\r\n")));
    let cases: &[(&str, &[(usize, usize)])] = &[
        // two ranges
        ("bytes=0-1,4-5", &[(0, 1), (4, 5)]),
        // asked out of order: sent in ascending order
        ("bytes=4-5,0-1", &[(0, 1), (4, 5)]),
        // empty list elements are ignored
        ("bytes=0-1,,4-5,", &[(0, 1), (4, 5)]),
        // suffix ranges, with and without another range
        ("bytes=0-0,-2", &[(0, 0), (8, 9)]),
        ("bytes=-1,1-2,-30", &[(0, 9)]),
        // overlapping or touching ranges are merged; the others stay apart
        ("bytes=7-8,0-1,1-2", &[(0, 2), (7, 8)]),
        ("bytes=0-1,2-3,6-7,5-5", &[(0, 3), (5, 7)]),
        // an open end, clamped, and one more
        ("bytes=1-1,8-", &[(1, 1), (8, 9)]),
        // one satisfiable range among unsatisfiable ones (start past the end, empty suffix)
        ("bytes=0-1,4-5,20-,-0", &[(0, 1), (4, 5)]),
    ];
    for &(ask_for, parts) in cases {
        let r = range(ask_for);
        assert_eq!(r.status, 206, "{ask_for}");
        assert_eq!(r.header("accept-ranges"), Some("bytes"), "{ask_for}");
        assert!(r.header("etag").is_some(), "{ask_for}");
        if let [(a, b)] = parts {
            // One range left after merging: a plain 206, no multipart.
            assert_eq!(r.header("content-type"), Some(TXT), "{ask_for}");
            assert_eq!(
                r.header("content-range"),
                Some(format!("bytes {a}-{b}/10").as_str()),
                "{ask_for}"
            );
            assert_eq!(r.body, PAGE[*a..=*b], "{ask_for}");
            continue;
        }
        let b = boundary_of(&r);
        assert_eq!(r.header("content-range"), None, "{ask_for}");
        let want = multipart(&b, TXT, PAGE, parts);
        assert_eq!(
            String::from_utf8_lossy(&r.body),
            String::from_utf8_lossy(&want),
            "{ask_for}"
        );
        assert_eq!(
            r.header("content-length"),
            Some(want.len().to_string().as_str())
        );
    }
    // Written out once by hand, so the layout itself is checked, not just the helper.
    let r = range("bytes=0-1,4-5");
    let b = boundary_of(&r);
    assert_eq!(
        r.body_str(),
        format!(
            "--{b}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-range: bytes 0-1/10\r\n\r\n01\r\n\
             --{b}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-range: bytes 4-5/10\r\n\r\n45\r\n\
             --{b}--\r\n"
        )
        .replace("content-type", "Content-Type")
        .replace("content-range", "Content-Range")
    );
    // Each response has its own boundary.
    assert_ne!(b, boundary_of(&range("bytes=0-1,4-5")));
    // Overlapping ranges that cover the file: one 206 of the file, not three copies.
    let r = range("bytes=0-,0-,0-");
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 0-9/10"));
    assert_eq!(r.body, PAGE);
    // None satisfiable, or one malformed among good ones: 416.
    for ask_for in [
        "bytes=10-,20-30,-0",
        "bytes=0-1,x-2",
        "bytes=0-1,5-2",
        "bytes=,",
    ] {
        let r = range(ask_for);
        assert_eq!(r.status, 416, "{ask_for}");
        assert_eq!(r.header("content-range"), Some("bytes */10"), "{ask_for}");
    }
    // MAX_RANGES (16) is allowed, counted before merging: 16 single bytes of big.bin.
    let sixteen: Vec<(usize, usize)> = (0..16).map(|i| (i * 1000, i * 1000)).collect();
    let spec: Vec<String> = sixteen.iter().map(|(a, b)| format!("{a}-{b}")).collect();
    let r = ask(
        &rt,
        &h,
        &get_with(
            "/static/big.bin",
            &format!("Range: bytes={}\r\n", spec.join(",")),
        ),
    );
    assert_eq!(r.status, 206);
    let b = boundary_of(&r);
    assert!(r.body == multipart(&b, "application/octet-stream", &big_content(), &sixteen));
    assert_clean(&h);
}

#[test]
fn multipart_head_and_if_range() {
    let t = Tree::new();
    let rt = MemRuntime::new();
    let h = server(&rt, &t.site());
    let path = "/static/sub/page.txt";
    let full = ask(&rt, &h, &get_with(path, "Range: bytes=0-1,4-5\r\n"));
    // HEAD: the same head as the GET (status, type, length), then no body.
    let c = connect(&rt, &h, Faults::default());
    c.write(format!("HEAD {path} HTTP/1.1\r\nHost: t\r\nRange: bytes=0-1,4-5\r\n\r\n").as_bytes());
    c.write(&get("/static/app.js"));
    rt.run_until_idle();
    let out = c.read_available();
    let text = String::from_utf8_lossy(&out);
    let (head, rest) = text.split_once("\r\n\r\n").expect("a head");
    assert!(head.starts_with("HTTP/1.1 206"), "{head}");
    assert!(
        head.contains("content-type: multipart/byteranges; boundary="),
        "{head}"
    );
    let length = format!("content-length: {}", full.body.len());
    assert!(head.contains(&length), "{head}");
    assert!(rest.starts_with("HTTP/1.1 200"), "{rest}");
    assert!(rest.ends_with("console.log(1)"));
    c.shutdown_write();
    rt.run_until_idle();
    // If-Range: a matching validator keeps the ranges, a stale one gets the whole file.
    let etag = full.header("etag").unwrap();
    let r = ask(
        &rt,
        &h,
        &get_with(
            path,
            &format!("Range: bytes=0-1,4-5\r\nIf-Range: {etag}\r\n"),
        ),
    );
    let b = boundary_of(&r);
    assert_eq!(r.body, multipart(&b, TXT, PAGE, &[(0, 1), (4, 5)]));
    let r = ask(
        &rt,
        &h,
        &get_with(path, "Range: bytes=0-1,4-5\r\nIf-Range: \"old\"\r\n"),
    );
    assert_eq!((r.status, r.body_str()), (200, "0123456789"));
    assert_eq!(r.header("content-type"), Some(TXT));
    let r = ask(
        &rt,
        &h,
        &get_with(
            path,
            "Range: bytes=0-1,4-5\r\nIf-Range: Sun, 06 Nov 1994 08:49:37 GMT\r\n",
        ),
    );
    assert_eq!((r.status, r.body_str()), (200, "0123456789"));
    assert_clean(&h);
}

#[test]
fn a_multipart_answer_is_streamed_through_a_small_client_buffer() {
    let t = Tree::new();
    let rt = MemRuntime::new();
    let h = server(&rt, &t.site());
    let c = connect(&rt, &h, Faults::default().client_buffer(8 * 1024));
    // Parts that cross chunk boundaries, one of them larger than a chunk, and a suffix.
    c.write(get_with("/static/big.bin", "Range: bytes=-17,0-99,65530-200000\r\n").as_bytes());
    let mut out = Vec::new();
    let response = read_response(&rt, &c, &mut out);
    let r = response.expect("the parts arrive");
    assert_eq!(r.status, 206);
    let b = boundary_of(&r);
    let parts = [(0, 99), (65530, 200000), (BIG - 17, BIG - 1)];
    assert!(r.body == multipart(&b, "application/octet-stream", &big_content(), &parts));
    c.shutdown_write();
    rt.run_until_idle();
    assert_clean(&h);
}

#[test]
fn head_sends_the_headers_only() {
    let t = Tree::new();
    let rt = MemRuntime::new();
    let h = server(&rt, &t.site());
    let c = connect(&rt, &h, Faults::default());
    c.write(b"HEAD /static/big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    c.write(&get("/static/app.js"));
    rt.run_until_idle();
    let out = c.read_available();
    let text = String::from_utf8_lossy(&out);
    let (head, rest) = text.split_once("\r\n\r\n").expect("a head");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains(&format!("content-length: {BIG}")), "{head}");
    // The next response follows the HEAD's head at once: no body was sent.
    assert!(rest.starts_with("HTTP/1.1 200"), "{rest}");
    assert!(rest.ends_with("console.log(1)"));
    c.shutdown_write();
    rt.run_until_idle();
    assert_clean(&h);
}

#[test]
fn a_large_file_is_streamed_through_a_small_client_buffer() {
    let t = Tree::new();
    let rt = MemRuntime::new();
    let h = server(&rt, &t.site());
    // The client reads 8 KiB at a time: the server cannot queue the whole file, so it must
    // stream it in pieces, waiting for room.
    let c = connect(&rt, &h, Faults::default().client_buffer(8 * 1024));
    c.write(&get("/static/big.bin"));
    let mut out = Vec::new();
    let response = read_response(&rt, &c, &mut out);
    let r = response.expect("the whole file arrives");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some(BIG.to_string().as_str()));
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert!(r.body == big_content(), "the bytes arrive intact");
    // A range in the middle of a large file crosses chunk boundaries.
    c.write(get_with("/static/big.bin", "Range: bytes=65530-131080\r\n").as_bytes());
    let response = read_response(&rt, &c, &mut out);
    let r = response.expect("the range arrives");
    assert_eq!(r.status, 206);
    assert!(r.body == big_content()[65530..=131080]);
    c.shutdown_write();
    rt.run_until_idle();
    assert_clean(&h);
}

/// Every way out of the root, and every hidden name: all 404, like a missing file.
#[test]
fn no_escape_from_the_root() {
    let t = Tree::new();
    let rt = MemRuntime::new();
    let h = server(&rt, &t.site());
    let forms = [
        // plain dot-dot
        "/static/../secret.txt",
        "/static/sub/../../secret.txt",
        "/static/sub/..",
        "/static/..",
        // percent-encoded dots, any case, and mixed
        "/static/%2e%2e/secret.txt",
        "/static/%2E%2E/secret.txt",
        "/static/.%2e/secret.txt",
        "/static/%2e./secret.txt",
        "/static/sub/%2e%2e/%2e%2e/secret.txt",
        // encoded slashes
        "/static/..%2fsecret.txt",
        "/static/%2e%2e%2fsecret.txt",
        "/static/sub%2f..%2f..%2fsecret.txt",
        "/static/%2Fetc%2Fpasswd",
        // backslashes, raw and encoded
        "/static/..\\secret.txt",
        "/static/sub\\..\\..\\secret.txt",
        "/static/..%5csecret.txt",
        "/static/%5c..%5csecret.txt",
        // absolute paths after the prefix
        "/static//etc/passwd",
        "/static/%2fetc/passwd",
        "/static//secret.txt",
        // drive letters, NUL, double encoding, bad escapes
        "/static/C:%5cWindows%5cwin.ini",
        "/static/app.js%00.png",
        "/static/%252e%252e/secret.txt",
        "/static/%2",
        "/static/%zz",
        "/static/%c0%ae%c0%ae/secret.txt",
        // dot segments and dotfiles
        "/static/./app.js",
        "/static/.env",
        "/static/%2eenv",
        // symlinks that point outside the root (a file, and a directory)
        "/static/leak.txt",
        "/static/up/secret.txt",
        // a file asked for as a directory, and missing files
        "/static/app.js/",
        "/static/missing.txt",
    ];
    for path in forms {
        let r = ask(&rt, &h, &get_with(path, ""));
        assert_eq!(
            r.status,
            404,
            "{path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.body_str(), "Not Found\n", "{path}");
    }
    // An absolute-form target is routed by its path: the same rules apply.
    let r = ask(
        &rt,
        &h,
        "GET http://t/static/../secret.txt HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    assert_eq!(r.status, 404);
    // A symlink that stays inside the root is followed, and so is a path through a link
    // that leads back inside (what counts is where the file really is).
    #[cfg(unix)]
    {
        let r = ask(&rt, &h, &get_with("/static/alias.txt", ""));
        assert_eq!(r.body_str(), "0123456789");
        let r = ask(&rt, &h, &get_with("/static/up/site/app.js", ""));
        assert_eq!(r.body_str(), "console.log(1)");
    }
    assert_clean(&h);
}

#[test]
fn a_missing_directory_makes_start_fail() {
    let rt = MemRuntime::new();
    let server = wirelane_core::app::Server::with_runtime(rt.clone());
    let err = rt.block_on(async {
        server.port(0).await;
        server.static_dir("/", "/definitely/not/here").await;
        server
            .start()
            .await
            .expect_err("a missing directory is refused")
    });
    assert!(matches!(err, ServerError::Route(_)), "{err}");
    assert!(err.to_string().contains("/definitely/not/here"), "{err}");
}

#[test]
fn a_site_at_the_root() {
    let t = Tree::new();
    let rt = MemRuntime::new();
    let site = t.site();
    let h = start(&rt, |s| async move {
        s.static_dir("/", &site).await;
        s
    });
    assert_eq!(ask(&rt, &h, &get_with("/", "")).body_str(), "<h1>home</h1>");
    assert_eq!(
        ask(&rt, &h, &get_with("/sub/page.txt", "")).body_str(),
        "0123456789"
    );
    assert_eq!(ask(&rt, &h, &get_with("/../secret.txt", "")).status, 404);
    assert_eq!(
        ask(&rt, &h, &get_with("/%2e%2e/secret.txt", "")).status,
        404
    );
    assert_clean(&h);
}
