//! The `Date` header value, formatted at most once per second per thread (and the wall
//! clock read as often).

use crate::proto::http::HttpDate;
use std::cell::Cell;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

thread_local! {
    /// The date for [`at`], and the instant until which it holds (the next second).
    static BY_INSTANT: Cell<Option<(Instant, HttpDate)>> = const { Cell::new(None) };
}

/// The date at `now`, an instant the caller has already read: the clock is read again
/// only once per second, when the date changes.
pub(crate) fn at(now: Instant) -> HttpDate {
    if let Some((until, date)) = BY_INSTANT.with(Cell::get) {
        if now < until {
            return date;
        }
    }
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let date = HttpDate::from_unix_secs(since_epoch.as_secs());
    // Valid until the wall clock's next second, as measured on the monotonic clock.
    let left = Duration::from_nanos(u64::from(1_000_000_000 - since_epoch.subsec_nanos()));
    BY_INSTANT.with(|c| c.set(Some((now + left, date))));
    date
}

/// The current date as an HTTP date.
pub(crate) fn now() -> HttpDate {
    at(Instant::now())
}
