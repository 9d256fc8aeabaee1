//! [`HttpDate`]: the IMF-fixdate used in the `Date` header, computed from a Unix time that
//! the caller supplies (the core never reads the clock).

use std::fmt;

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), 29 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct HttpDate([u8; 29]);

const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

impl HttpDate {
    /// The date for `secs` seconds after 1970-01-01T00:00:00Z. Years past 9999 are clamped
    /// to 9999-12-31T23:59:59Z (the format has four year digits).
    pub fn from_unix_secs(secs: u64) -> Self {
        let secs = secs.min(253_402_300_799);
        let days = secs / 86_400;
        let rem = secs % 86_400;
        let (hh, mm, ss) = (rem / 3600, rem % 3600 / 60, rem % 60);
        // Civil-from-days (proleptic Gregorian), era-based, for days since 1970-01-01.
        let z = days as i64 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);

        let mut b = *b"Thu, 01 Jan 1970 00:00:00 GMT";
        b[..3].copy_from_slice(DAYS[(days % 7) as usize]);
        let two = |b: &mut [u8], v: u64| {
            b[0] = b'0' + (v / 10) as u8;
            b[1] = b'0' + (v % 10) as u8;
        };
        two(&mut b[5..7], day as u64);
        b[8..11].copy_from_slice(MONTHS[(month - 1) as usize]);
        let y = year as u64;
        two(&mut b[12..14], y / 100);
        two(&mut b[14..16], y % 100);
        two(&mut b[17..19], hh);
        two(&mut b[20..22], mm);
        two(&mut b[23..25], ss);
        HttpDate(b)
    }

    /// The date as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for HttpDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for HttpDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(
            HttpDate::from_unix_secs(0).as_str(),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
        assert_eq!(
            HttpDate::from_unix_secs(784_111_777).as_str(),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert_eq!(
            HttpDate::from_unix_secs(951_782_400).as_str(),
            "Tue, 29 Feb 2000 00:00:00 GMT"
        );
        assert_eq!(
            HttpDate::from_unix_secs(1_700_000_000).as_str(),
            "Tue, 14 Nov 2023 22:13:20 GMT"
        );
        assert_eq!(
            HttpDate::from_unix_secs(u64::MAX).as_str(),
            "Fri, 31 Dec 9999 23:59:59 GMT"
        );
    }
}
