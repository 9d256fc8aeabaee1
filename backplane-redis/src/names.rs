//! Redis names for topics: the pub/sub channel and the presence key.
//!
//! A topic is percent-encoded: bytes outside `A-Z a-z 0-9 - _ . ~` become `%XX`, `%`
//! included. The encoding is injective and its output has no `:` or glob characters, so
//! `{prefix}:t:{topic}` is a different channel for every topic, none of them outside the
//! prefix, and no topic name can forge the channel of another topic or the presence key.

use std::fmt::Write;

/// The names one backplane uses, under its prefix.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    prefix: String,
}

/// Percent-encodes `topic` (see the module docs).
pub(crate) fn encode_topic(topic: &str) -> String {
    let mut out = String::with_capacity(topic.len());
    for b in topic.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

impl Names {
    pub(crate) fn new(prefix: &str) -> Self {
        Names {
            prefix: prefix.to_string(),
        }
    }

    /// The pub/sub channel of `topic`.
    pub(crate) fn channel(&self, topic: &str) -> String {
        format!("{}:t:{}", self.prefix, encode_topic(topic))
    }

    /// The hash holding, per process, how many members `topic` has there and until when.
    pub(crate) fn presence(&self, topic: &str) -> String {
        format!("{}:p:{}", self.prefix, encode_topic(topic))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn plain_topics_stay_readable() {
        let n = Names::new("app");
        assert_eq!(n.channel("room"), "app:t:room");
        assert_eq!(n.channel("room-1.a_b~"), "app:t:room-1.a_b~");
        assert_eq!(n.presence("room"), "app:p:room");
    }

    #[test]
    fn no_topic_escapes_its_prefix_or_forges_another() {
        let n = Names::new("app");
        let hostile = [
            "room",
            "room:x",
            "x:t:room",
            "../room",
            "room%3Ax",
            "room*",
            "[a-z]?",
            "",
            " ",
            "é",
            "\u{0}",
            "room\r\nPUBLISH app:t:room x",
            "%",
            "%25",
        ];
        let mut seen = HashSet::new();
        for topic in hostile {
            let channel = n.channel(topic);
            let rest = channel.strip_prefix("app:t:").expect("under the prefix");
            assert!(
                rest.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.~%".contains(&b)),
                "{topic:?} -> {channel:?}"
            );
            assert!(seen.insert(channel), "{topic:?} collides");
            assert_ne!(n.presence(topic), n.channel(topic));
        }
    }

    #[test]
    fn encoding_is_injective_on_every_short_byte_string() {
        // Every 1- and 2-byte string of a small alphabet that includes the escape byte.
        let alphabet = ["a", "%", "2", "5", ":", "é"];
        let mut seen = HashSet::new();
        for a in alphabet {
            assert!(seen.insert(encode_topic(a)));
            for b in alphabet {
                assert!(seen.insert(encode_topic(&format!("{a}{b}"))));
            }
        }
    }
}
