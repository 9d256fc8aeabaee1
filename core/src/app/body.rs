//! What `set_response_body` accepts, and how it remembers whether it was text.

use bytes::Bytes;

/// A response body or outgoing message payload, remembering whether it was given as text.
#[derive(Debug, Clone)]
pub struct Body(Repr);

/// Where a body's bytes are, and whether they were given as text (sent as a Text message
/// on a WebSocket). A short body copied from a borrowed string or slice is kept inline: a
/// typical small response (`"Hello, World!"`, a short JSON reply) costs no allocation, and
/// is copied into the output once. The flag sits in each variant so that the inline bytes
/// fit beside the tag in the room of a `Bytes` and its padding (a context holds a body
/// for the life of a WebSocket).
#[derive(Debug, Clone)]
enum Repr {
    Shared {
        bytes: Bytes,
        text: bool,
    },
    Inline {
        len: u8,
        text: bool,
        buf: [u8; INLINE_MAX],
    },
}

/// Longest body kept inline.
const INLINE_MAX: usize = 37;

impl Default for Body {
    fn default() -> Self {
        Body::shared(Bytes::new(), false)
    }
}

impl PartialEq for Body {
    fn eq(&self, other: &Body) -> bool {
        self.is_text() == other.is_text() && self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Body {}

impl Body {
    fn shared(bytes: Bytes, text: bool) -> Body {
        Body(Repr::Shared { bytes, text })
    }

    /// A copy of `s`, inline when it is short.
    fn copied(s: &[u8], text: bool) -> Body {
        if s.len() > INLINE_MAX {
            return Body::shared(Bytes::copy_from_slice(s), text);
        }
        let mut buf = [0; INLINE_MAX];
        buf[..s.len()].copy_from_slice(s);
        // In range: at most INLINE_MAX.
        let len = s.len() as u8;
        Body(Repr::Inline { len, text, buf })
    }

    /// The body's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Shared { bytes, .. } => bytes,
            Repr::Inline { len, buf, .. } => &buf[..usize::from(*len)],
        }
    }

    /// The body as `Bytes` (a copy only when it was kept inline).
    pub(crate) fn into_bytes(self) -> Bytes {
        match self.0 {
            Repr::Shared { bytes, .. } => bytes,
            Repr::Inline { len, buf, .. } => Bytes::copy_from_slice(&buf[..usize::from(len)]),
        }
    }

    /// Whether it was given as text (`String`, `&str`).
    pub fn is_text(&self) -> bool {
        match self.0 {
            Repr::Shared { text, .. } | Repr::Inline { text, .. } => text,
        }
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Anything `set_response_body` accepts: strings (sent as WebSocket Text) and bytes.
pub trait IntoBody {
    /// Converts into a [`Body`].
    fn into_body(self) -> Body;
}

impl IntoBody for Body {
    fn into_body(self) -> Body {
        self
    }
}
impl IntoBody for String {
    fn into_body(self) -> Body {
        Body::shared(Bytes::from(self), true)
    }
}
impl IntoBody for &String {
    fn into_body(self) -> Body {
        self.as_str().into_body()
    }
}
impl IntoBody for &str {
    fn into_body(self) -> Body {
        Body::copied(self.as_bytes(), true)
    }
}
impl IntoBody for std::borrow::Cow<'_, str> {
    fn into_body(self) -> Body {
        match self {
            std::borrow::Cow::Borrowed(s) => s.into_body(),
            std::borrow::Cow::Owned(s) => s.into_body(),
        }
    }
}
impl IntoBody for Vec<u8> {
    fn into_body(self) -> Body {
        Body::shared(Bytes::from(self), false)
    }
}
impl IntoBody for &Vec<u8> {
    fn into_body(self) -> Body {
        self.as_slice().into_body()
    }
}
impl IntoBody for &[u8] {
    fn into_body(self) -> Body {
        Body::copied(self, false)
    }
}
impl<const N: usize> IntoBody for &[u8; N] {
    fn into_body(self) -> Body {
        self.as_slice().into_body()
    }
}
impl IntoBody for Bytes {
    fn into_body(self) -> Body {
        Body::shared(self, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_takes_no_more_room_than_bytes_and_a_flag() {
        assert!(std::mem::size_of::<Body>() <= std::mem::size_of::<Bytes>() + 8);
    }

    #[test]
    fn short_and_long_bodies_read_the_same_whatever_their_form() {
        let long = "x".repeat(INLINE_MAX + 1);
        for s in ["", "Hello, World!", &"y".repeat(INLINE_MAX), &long] {
            let forms = [
                s.into_body(),
                s.to_string().into_body(),
                (&s.to_string()).into_body(),
                std::borrow::Cow::Borrowed(s).into_body(),
            ];
            for b in &forms {
                assert_eq!(b.as_bytes(), s.as_bytes());
                assert_eq!(b.len(), s.len());
                assert_eq!(b.is_empty(), s.is_empty());
                assert!(b.is_text());
                assert_eq!(b, &forms[0], "equal whether inline or shared");
                assert_eq!(&b.clone().into_bytes()[..], s.as_bytes());
            }
            let bytes = s.as_bytes().into_body();
            assert!(!bytes.is_text());
            assert_ne!(bytes, forms[0], "text and bytes differ");
            assert_eq!(bytes, Bytes::copy_from_slice(s.as_bytes()).into_body());
        }
    }
}
