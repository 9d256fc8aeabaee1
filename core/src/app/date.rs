//! The `Date` header value, formatted at most once per second per thread.

use crate::proto::http::HttpDate;
use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

thread_local! {
    static CACHE: Cell<Option<(u64, HttpDate)>> = const { Cell::new(None) };
}

/// The current date as an HTTP date.
pub(crate) fn now() -> HttpDate {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    CACHE.with(|c| match c.get() {
        Some((s, d)) if s == secs => d,
        _ => {
            let d = HttpDate::from_unix_secs(secs);
            c.set(Some((secs, d)));
            d
        }
    })
}
