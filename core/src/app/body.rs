//! What `set_response_body` accepts, and how it remembers whether it was text.

use bytes::Bytes;

/// A response body or outgoing message payload, remembering whether it was given as text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Body {
    pub(crate) bytes: Bytes,
    /// Given as a string type: sent as a Text message on a WebSocket.
    pub(crate) text: bool,
}

impl Body {
    /// The body's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
    /// Whether it was given as text (`String`, `&str`).
    pub fn is_text(&self) -> bool {
        self.text
    }
    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }
    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
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
        Body {
            bytes: Bytes::from(self),
            text: true,
        }
    }
}
impl IntoBody for &String {
    fn into_body(self) -> Body {
        self.clone().into_body()
    }
}
impl IntoBody for &str {
    fn into_body(self) -> Body {
        Body {
            bytes: Bytes::copy_from_slice(self.as_bytes()),
            text: true,
        }
    }
}
impl IntoBody for std::borrow::Cow<'_, str> {
    fn into_body(self) -> Body {
        self.into_owned().into_body()
    }
}
impl IntoBody for Vec<u8> {
    fn into_body(self) -> Body {
        Body {
            bytes: Bytes::from(self),
            text: false,
        }
    }
}
impl IntoBody for &Vec<u8> {
    fn into_body(self) -> Body {
        self.clone().into_body()
    }
}
impl IntoBody for &[u8] {
    fn into_body(self) -> Body {
        Body {
            bytes: Bytes::copy_from_slice(self),
            text: false,
        }
    }
}
impl<const N: usize> IntoBody for &[u8; N] {
    fn into_body(self) -> Body {
        self.as_slice().into_body()
    }
}
impl IntoBody for Bytes {
    fn into_body(self) -> Body {
        Body {
            bytes: self,
            text: false,
        }
    }
}
