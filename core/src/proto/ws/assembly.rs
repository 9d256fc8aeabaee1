//! [`Assembly`]: a data message put together from the payload pieces of its frames.
//!
//! This is the one module of the crate that uses `unsafe` (allowed on [`Assembly::finish`]
//! alone): a finished text message becomes a `String` without a second UTF-8 pass. The
//! invariant that makes that sound is kept by this module alone: the fields are private,
//! and the only ways to add bytes are [`Assembly::append_masked`] and [`Assembly::append`],
//! which validate what they add before they return. Nothing outside can put a byte into the buffer that the
//! validator did not see.

use super::mask::unmask_into;
use super::message::{DataKind, Message};
use super::utf8::{Utf8Error, Utf8Validator};

/// A data message being received: its kind and its payload so far.
///
/// Invariant: `buf` holds exactly the bytes fed to `utf8`, in order, since it was reset.
/// For a text message that means `buf` is valid UTF-8 up to at most one code point cut short
/// at the end, which `utf8` carries and [`Assembly::finish`] rejects.
#[derive(Debug)]
pub(crate) struct Assembly {
    kind: DataKind,
    buf: Vec<u8>,
    utf8: Utf8Validator,
}

impl Assembly {
    /// An empty message of `kind`, assembled in `buf` (whose content is dropped and whose
    /// capacity is reused).
    pub(crate) fn new(kind: DataKind, mut buf: Vec<u8>) -> Self {
        buf.clear();
        Assembly {
            kind,
            buf,
            utf8: Utf8Validator::new(),
        }
    }

    /// Text or binary.
    pub(crate) fn kind(&self) -> DataKind {
        self.kind
    }

    /// Makes room for `additional` more payload bytes.
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.buf.reserve(additional);
    }

    /// Appends `masked` unmasked with `key` (`phase`: the position of `masked[0]` in the
    /// frame's payload, mod 4), validating it if the message is text.
    ///
    /// On error the message is unusable: what it held is dropped, and the caller fails the
    /// connection.
    pub(crate) fn append_masked(
        &mut self,
        masked: &[u8],
        key: [u8; 4],
        phase: usize,
    ) -> Result<(), Utf8Error> {
        let start = self.buf.len();
        unmask_into(&mut self.buf, masked, key, phase);
        self.validate_from(start)
    }

    /// Makes room for `additional` more bytes, growing by doubling but never past `cap`
    /// bytes in all (when the message may not grow past `cap`, so an inflated message
    /// allocates no more than its limit).
    pub(crate) fn reserve_within(&mut self, additional: usize, cap: usize) {
        let need = self.buf.len() + additional;
        if need > self.buf.capacity() {
            let target = need.max(self.buf.capacity() * 2).min(cap.max(need));
            self.buf.reserve_exact(target - self.buf.len());
        }
    }

    /// Appends `data` (already unmasked: an inflated piece of a compressed message),
    /// validating it if the message is text. Errors as [`Assembly::append_masked`].
    pub(crate) fn append(&mut self, data: &[u8]) -> Result<(), Utf8Error> {
        let start = self.buf.len();
        self.buf.extend_from_slice(data);
        self.validate_from(start)
    }

    /// Validates what was just added from `start` on (text only), dropping everything on
    /// error so the invariant holds.
    fn validate_from(&mut self, start: usize) -> Result<(), Utf8Error> {
        if self.kind == DataKind::Text {
            if let Err(e) = self.utf8.feed(&self.buf[start..]) {
                // The validator's state is undefined after an error: start over empty, which
                // is valid, so the invariant holds whatever the caller does next.
                self.buf.clear();
                self.utf8.reset();
                return Err(e);
            }
        }
        Ok(())
    }

    /// The finished message. Text was validated piece by piece as it arrived, so this only
    /// checks that it did not end inside a code point.
    #[allow(unsafe_code)]
    pub(crate) fn finish(mut self) -> Result<Message, Utf8Error> {
        match self.kind {
            DataKind::Binary => Ok(Message::Binary(self.buf)),
            DataKind::Text => {
                self.utf8.finish()?;
                debug_assert!(std::str::from_utf8(&self.buf).is_ok());
                // SAFETY: by the type's invariant, every byte of `buf` went through
                // `utf8.feed`, in order and nothing else did (the fields are private to this
                // module; `append_masked` and `append` are the only writers and both end in
                // `validate_from`; `new` empties the buffer and the error path empties it
                // again). `Utf8Validator::feed` accepts a
                // stream only if it is valid UTF-8 up to a cut-short final code point (it is
                // std's `from_utf8` on every piece plus the carried bytes across pieces),
                // and `finish` just checked that nothing was cut short. So `buf` is UTF-8.
                // Why not `String::from_utf8`: measured (benches/ws.rs,
                // ws_decode_unmask/text), a second pass halved the throughput of non-ASCII
                // text.
                Ok(Message::Text(unsafe {
                    String::from_utf8_unchecked(self.buf)
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::ws::mask::apply_mask;

    const KEY: [u8; 4] = [0x12, 0x34, 0x56, 0x78];

    /// `payload` masked as if it started `phase` bytes into a frame's payload.
    fn masked_at(payload: &[u8], phase: usize) -> Vec<u8> {
        let mut m = payload.to_vec();
        apply_mask(&mut m, KEY, phase);
        m
    }

    fn masked(payload: &[u8]) -> Vec<u8> {
        masked_at(payload, 0)
    }

    /// `payload` (masked as one frame) appended in two pieces cut at `cut`.
    fn assemble(kind: DataKind, payload: &[u8], cut: usize) -> Result<Message, Utf8Error> {
        let m = masked(payload);
        let mut a = Assembly::new(kind, b"stale bytes".to_vec());
        a.append_masked(&m[..cut], KEY, 0)?;
        a.append_masked(&m[cut..], KEY, cut & 3)?;
        a.finish()
    }

    #[test]
    fn text_at_every_split() {
        let text = "añ€𝄞 fin";
        for cut in 0..=text.len() {
            assert_eq!(
                assemble(DataKind::Text, text.as_bytes(), cut),
                Ok(Message::Text(text.to_owned())),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn binary_is_not_validated() {
        let bytes = [0xFF, 0xC3, 0x00, 0x80];
        for cut in 0..=bytes.len() {
            assert_eq!(
                assemble(DataKind::Binary, &bytes, cut),
                Ok(Message::Binary(bytes.to_vec()))
            );
        }
    }

    #[test]
    fn invalid_or_cut_short_text_is_refused() {
        for bad in [&b"ok \xFF"[..], b"\xED\xA0\x80", b"cut \xE2\x82"] {
            for cut in 0..=bad.len() {
                assert_eq!(
                    assemble(DataKind::Text, bad, cut),
                    Err(Utf8Error),
                    "{bad:x?}"
                );
            }
        }
    }

    #[test]
    fn a_failed_append_leaves_nothing_unvalidated() {
        // "€" cut after its first byte, then a piece that breaks it: the error drops what
        // was held, so the assembly cannot be finished into invalid text afterwards.
        let mut a = Assembly::new(DataKind::Text, Vec::new());
        a.append_masked(&masked(b"x\xE2"), KEY, 0).unwrap();
        assert_eq!(a.append_masked(&masked_at(b"A", 2), KEY, 2), Err(Utf8Error));
        a.append_masked(&masked(b"ok"), KEY, 0).unwrap();
        assert_eq!(a.finish(), Ok(Message::Text("ok".to_owned())));
    }
}
