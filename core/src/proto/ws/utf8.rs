//! Incremental UTF-8 validation across fragments and partial frames.
//!
//! [`Utf8Validator::feed`] takes the bytes of a text message in any pieces and fails as soon
//! as the bytes seen so far cannot be the start of valid UTF-8 (the Autobahn 6.4.x
//! "fail fast" cases): `std::str::from_utf8` already rejects a prefix as soon as it is
//! impossible (for example `F4 90` or `ED A0`), and tells an invalid sequence
//! (`error_len() == Some(_)`) from one cut short at the end (`None`). A cut-short tail of at
//! most 3 bytes is carried over to the next piece. The fast path is std's validator on each
//! whole piece, so the cost per byte is that of `from_utf8`.

/// Invalid UTF-8 was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utf8Error;

impl std::fmt::Display for Utf8Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("invalid UTF-8")
    }
}

impl std::error::Error for Utf8Error {}

/// Validates a UTF-8 stream piece by piece.
#[derive(Debug, Clone, Default)]
pub struct Utf8Validator {
    /// The start of a code point cut at the end of the previous piece.
    partial: [u8; 4],
    partial_len: u8,
}

impl Utf8Validator {
    /// A validator at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the bytes fed so far end on a code point boundary.
    pub fn is_complete(&self) -> bool {
        self.partial_len == 0
    }

    /// Forgets everything, for the next message.
    pub fn reset(&mut self) {
        self.partial_len = 0;
    }

    /// Validates the next piece of the stream; errors as soon as it is known to be invalid.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<(), Utf8Error> {
        if self.partial_len > 0 {
            // Finish the carried code point with at most 3 more bytes.
            let have = self.partial_len as usize;
            let mut tmp = [0u8; 8];
            tmp[..have].copy_from_slice(&self.partial[..have]);
            let take = data.len().min(4 - have);
            tmp[have..have + take].copy_from_slice(&data[..take]);
            match std::str::from_utf8(&tmp[..have + take]) {
                Ok(_) => {
                    // All of it valid: the code point finished within `take` bytes.
                    self.partial_len = 0;
                    data = &data[take..];
                }
                Err(e) if e.error_len().is_some() => return Err(Utf8Error),
                Err(e) => {
                    let used = e.valid_up_to();
                    if used == 0 {
                        // Still incomplete: `data` was too short to finish it.
                        debug_assert_eq!(take, data.len());
                        self.partial[have..have + take].copy_from_slice(&data[..take]);
                        self.partial_len = (have + take) as u8;
                        return Ok(());
                    }
                    // The code point finished; a new one starts inside `tmp`.
                    self.partial_len = 0;
                    data = &data[used - have..];
                }
            }
        }
        match std::str::from_utf8(data) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_some() => Err(Utf8Error),
            Err(e) => {
                let tail = &data[e.valid_up_to()..];
                debug_assert!(tail.len() < 4);
                self.partial[..tail.len()].copy_from_slice(tail);
                self.partial_len = tail.len() as u8;
                Ok(())
            }
        }
    }

    /// Ends the stream: an error if it stopped inside a code point.
    pub fn finish(&mut self) -> Result<(), Utf8Error> {
        let ok = self.partial_len == 0;
        self.partial_len = 0;
        if ok {
            Ok(())
        } else {
            Err(Utf8Error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_all_splits(bytes: &[u8]) {
        let whole = std::str::from_utf8(bytes).is_ok();
        // Two-way splits.
        for cut in 0..=bytes.len() {
            let mut v = Utf8Validator::new();
            let r = v
                .feed(&bytes[..cut])
                .and_then(|_| v.feed(&bytes[cut..]))
                .and_then(|_| v.finish());
            assert_eq!(r.is_ok(), whole, "{bytes:x?} cut {cut}");
        }
        // Byte by byte.
        let mut v = Utf8Validator::new();
        let mut r = Ok(());
        for b in bytes {
            r = r.and_then(|_| v.feed(std::slice::from_ref(b)));
        }
        assert_eq!(
            r.and_then(|_| v.finish()).is_ok(),
            whole,
            "{bytes:x?} bytewise"
        );
    }

    #[test]
    fn agrees_with_std_on_every_split() {
        let cases: &[&[u8]] = &[
            b"",
            b"hello",
            "κόσμε".as_bytes(),
            "a€b𝄞c".as_bytes(),
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64",
            b"\xf4\x90\x80\x80",
            b"\xf0\x9f\x98",
            b"\xc0\xaf",
            b"\xe0\x80\xaf",
            b"\xed\xbf\xbf",
            b"\xf8\x88\x80\x80\x80",
            b"\x80",
            b"ab\xc3",
            b"\xc3\xa9\xc3",
            b"\xef\xbb\xbf",
            b"\xf4\x8f\xbf\xbf",
        ];
        for c in cases {
            check_all_splits(c);
        }
    }

    #[test]
    fn fails_fast_on_impossible_prefix() {
        // 6.4.1: U+110000 encoded; F4 90 is already impossible.
        let mut v = Utf8Validator::new();
        v.feed("κόσμε".as_bytes()).unwrap();
        assert_eq!(v.feed(b"\xf4\x90"), Err(Utf8Error));
        let mut v = Utf8Validator::new();
        v.feed(b"\xf4").unwrap();
        assert_eq!(v.feed(b"\x90"), Err(Utf8Error));
        let mut v = Utf8Validator::new();
        v.feed(b"ok\xed").unwrap();
        assert_eq!(v.feed(b"\xa0"), Err(Utf8Error));
    }

    #[test]
    fn exhaustive_short_sequences() {
        // Every 1- and 2-byte sequence, and 3-byte ones with a lead in E0..F4, at every split.
        for a in 0..=255u8 {
            check_all_splits(&[a]);
            for b in 0..=255u8 {
                check_all_splits(&[a, b]);
            }
        }
        for a in 0xE0..=0xF4u8 {
            for b in 0x70..=0xC0u8 {
                for c in [0x7Fu8, 0x80, 0xBF, 0xC0] {
                    check_all_splits(&[a, b, c]);
                    check_all_splits(&[a, b, c, 0x80]);
                }
            }
        }
    }
}
