//! Negotiating permessage-deflate (RFC 7692 §5, §7.1): reading the client's offers and
//! answering the first one this server can accept.
//!
//! An offer this server cannot accept (an unknown or repeated parameter, a value out of
//! range) is skipped, never a reason to refuse the handshake: when no offer is acceptable
//! the connection simply goes uncompressed.

use super::DeflateConfig;
use std::fmt;

/// The extension token (RFC 7692 §7).
pub const EXTENSION_NAME: &str = "permessage-deflate";

/// One permessage-deflate offer, its parameters checked (RFC 7692 §7.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeflateOffer {
    /// `server_no_context_takeover`: the client asks us to start every message afresh.
    pub server_no_context_takeover: bool,
    /// `client_no_context_takeover`: the client says it will start every message afresh.
    pub client_no_context_takeover: bool,
    /// `server_max_window_bits=N`: the largest window the client lets us use.
    pub server_max_window_bits: Option<u8>,
    /// `client_max_window_bits[=N]`: the client lets us choose its window (`Some(None)`:
    /// any size; `Some(Some(n))`: at most `n`).
    pub client_max_window_bits: Option<Option<u8>>,
}

/// Why an offer was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OfferError {
    /// Another extension.
    NotDeflate,
    /// A parameter RFC 7692 does not define.
    UnknownParameter(String),
    /// A parameter given twice (§7.1: the offer is then invalid).
    DuplicateParameter(String),
    /// A value missing, present where none is allowed, or outside 8..=15.
    InvalidValue(String),
}

impl fmt::Display for OfferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OfferError::NotDeflate => f.write_str("not a permessage-deflate offer"),
            OfferError::UnknownParameter(p) => write!(f, "unknown parameter `{p}`"),
            OfferError::DuplicateParameter(p) => write!(f, "parameter `{p}` given twice"),
            OfferError::InvalidValue(p) => write!(f, "invalid value for `{p}`"),
        }
    }
}

impl std::error::Error for OfferError {}

impl DeflateOffer {
    /// Parses one offer: the extension name, then `;`-separated parameters, each a token
    /// with an optional `=value` (a token or a quoted string, RFC 7692 §5.1 / RFC 6455
    /// §9.1).
    pub fn parse(offer: &str) -> Result<DeflateOffer, OfferError> {
        let mut parts = offer.split(';').map(str::trim);
        let name = parts.next().unwrap_or("");
        if !name.eq_ignore_ascii_case(EXTENSION_NAME) {
            return Err(OfferError::NotDeflate);
        }
        let mut o = DeflateOffer::default();
        let mut seen = [false; 4];
        for part in parts {
            let (key, value) = match part.split_once('=') {
                Some((k, v)) => (k.trim(), Some(unquote(v.trim()))),
                None => (part, None),
            };
            let lower = key.to_ascii_lowercase();
            let slot = match lower.as_str() {
                "server_no_context_takeover" => 0,
                "client_no_context_takeover" => 1,
                "server_max_window_bits" => 2,
                "client_max_window_bits" => 3,
                _ => return Err(OfferError::UnknownParameter(key.to_owned())),
            };
            if std::mem::replace(&mut seen[slot], true) {
                return Err(OfferError::DuplicateParameter(lower));
            }
            let invalid = || OfferError::InvalidValue(lower.clone());
            match (slot, value) {
                (0, None) => o.server_no_context_takeover = true,
                (1, None) => o.client_no_context_takeover = true,
                (2, Some(v)) => {
                    o.server_max_window_bits = Some(window_bits(v).ok_or_else(invalid)?)
                }
                (3, None) => o.client_max_window_bits = Some(None),
                (3, Some(v)) => {
                    o.client_max_window_bits = Some(Some(window_bits(v).ok_or_else(invalid)?))
                }
                _ => return Err(invalid()),
            }
        }
        Ok(o)
    }
}

/// A quoted-string value without its quotes (the values we accept never need escapes).
fn unquote(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v)
}

/// 8..=15, written as plain decimal digits without a leading zero (RFC 7692 §7.1.2.1).
fn window_bits(v: &str) -> Option<u8> {
    if v.is_empty() || v.len() > 2 || v.starts_with('0') || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u8 = v.parse().ok()?;
    (8..=15).contains(&n).then_some(n)
}

/// What was agreed for one connection: the parameters both sides use, and the response
/// header that tells the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeflateParams {
    /// We start every message we send afresh (no back-references into earlier ones).
    pub server_no_context_takeover: bool,
    /// The client starts every message it sends afresh.
    pub client_no_context_takeover: bool,
    /// The window we compress with, as negotiated (8..=15); see the
    /// [module docs](super) for why 8 is compressed with a 9-bit zlib window.
    pub server_max_window_bits: u8,
    /// The window the client compresses with (15 when the client did not let us choose).
    pub client_max_window_bits: u8,
    /// The compression level (0..=9).
    pub level: u8,
    /// Messages shorter than this many bytes are sent uncompressed.
    pub threshold: usize,
    /// Whether the response names `server_max_window_bits` (only when the client offered
    /// it).
    declare_server_bits: bool,
    /// Whether the response names `client_max_window_bits` (only when the client offered
    /// it).
    declare_client_bits: bool,
}

impl DeflateParams {
    /// The first acceptable offer among `offers` (one entry per comma-separated
    /// `Sec-WebSocket-Extensions` item, in the client's order), answered per `config`;
    /// `None` declines them all (the connection is uncompressed).
    pub fn negotiate<S: AsRef<str>>(offers: &[S], config: &DeflateConfig) -> Option<Self> {
        offers
            .iter()
            .filter_map(|o| DeflateOffer::parse(o.as_ref()).ok())
            .find_map(|o| Self::accept(&o, config))
    }

    /// The answer to one offer per `config`, or `None` if this server cannot accept it.
    pub fn accept(offer: &DeflateOffer, config: &DeflateConfig) -> Option<Self> {
        let config_server = config.server_max_window_bits.clamp(8, 15);
        let config_client = config.client_max_window_bits.clamp(8, 15);
        let (server_bits, declare_server_bits) = match offer.server_max_window_bits {
            // A smaller value than offered is allowed (§7.1.2.1).
            Some(n) => (n.min(config_server), true),
            // Not offered: we may not name it, but we may use a smaller window silently.
            None => (config_server, false),
        };
        let (client_bits, declare_client_bits) = match offer.client_max_window_bits {
            Some(limit) => (limit.unwrap_or(15).min(config_client), true),
            // Not offered: the client uses up to 15 bits, and we must not ask otherwise.
            None => (15, false),
        };
        Some(DeflateParams {
            server_no_context_takeover: offer.server_no_context_takeover
                || !config.server_context_takeover,
            // A client we cannot hold to a small window must not keep a context we would
            // have to hold 32 KiB of per idle connection.
            client_no_context_takeover: offer.client_no_context_takeover
                || !config.client_context_takeover
                || (!declare_client_bits && config_client < 15),
            server_max_window_bits: server_bits,
            client_max_window_bits: client_bits,
            level: config.level.min(9),
            threshold: config.threshold,
            declare_server_bits,
            declare_client_bits,
        })
    }

    /// The `Sec-WebSocket-Extensions` response value.
    pub fn response_header(&self) -> String {
        let mut s = String::from(EXTENSION_NAME);
        if self.server_no_context_takeover {
            s.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            s.push_str("; client_no_context_takeover");
        }
        if self.declare_server_bits {
            s.push_str(&format!(
                "; server_max_window_bits={}",
                self.server_max_window_bits
            ));
        }
        if self.declare_client_bits {
            s.push_str(&format!(
                "; client_max_window_bits={}",
                self.client_max_window_bits
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> DeflateConfig {
        DeflateConfig::default()
    }

    fn answer(offers: &[&str], config: &DeflateConfig) -> Option<String> {
        DeflateParams::negotiate(offers, config).map(|p| p.response_header())
    }

    #[test]
    fn parses_every_parameter_form() {
        let o = DeflateOffer::parse(
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=10; client_max_window_bits",
        )
        .unwrap();
        assert_eq!(
            o,
            DeflateOffer {
                server_no_context_takeover: true,
                client_no_context_takeover: true,
                server_max_window_bits: Some(10),
                client_max_window_bits: Some(None),
            }
        );
        let o = DeflateOffer::parse("PerMessage-Deflate;client_max_window_bits=\"8\"").unwrap();
        assert_eq!(o.client_max_window_bits, Some(Some(8)));
    }

    #[test]
    fn rejects_invalid_offers() {
        for (offer, err) in [
            ("x-webkit-deflate-frame", OfferError::NotDeflate),
            (
                "permessage-deflate; foo",
                OfferError::UnknownParameter("foo".into()),
            ),
            (
                "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                OfferError::DuplicateParameter("server_no_context_takeover".into()),
            ),
            (
                "permessage-deflate; server_max_window_bits",
                OfferError::InvalidValue("server_max_window_bits".into()),
            ),
            (
                "permessage-deflate; server_max_window_bits=7",
                OfferError::InvalidValue("server_max_window_bits".into()),
            ),
            (
                "permessage-deflate; client_max_window_bits=16",
                OfferError::InvalidValue("client_max_window_bits".into()),
            ),
            (
                "permessage-deflate; client_max_window_bits=09",
                OfferError::InvalidValue("client_max_window_bits".into()),
            ),
            (
                "permessage-deflate; server_no_context_takeover=1",
                OfferError::InvalidValue("server_no_context_takeover".into()),
            ),
        ] {
            assert_eq!(DeflateOffer::parse(offer), Err(err.clone()), "{offer}");
            assert!(!err.to_string().is_empty());
        }
    }

    #[test]
    fn chromium_offer_with_defaults_and_takeover() {
        let chromium = ["permessage-deflate; client_max_window_bits"];
        // Defaults: context takeover, the client held to 9 bits (ours is 9 too, silently:
        // the client did not offer server_max_window_bits).
        assert_eq!(
            answer(&chromium, &cfg()).as_deref(),
            Some("permessage-deflate; client_max_window_bits=9")
        );
        assert_eq!(
            answer(&chromium, &DeflateConfig::no_context_takeover()).as_deref(),
            Some(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 client_max_window_bits=15"
            )
        );
        // Firefox and Safari offer no client_max_window_bits: a 15-bit client context
        // would cost 32 KiB per idle connection, so the client keeps none.
        assert_eq!(
            answer(&["permessage-deflate"], &cfg()).as_deref(),
            Some("permessage-deflate; client_no_context_takeover")
        );
        let t = DeflateConfig::context_takeover();
        let p = DeflateParams::negotiate(&chromium, &t).unwrap();
        assert!(!p.server_no_context_takeover && !p.client_no_context_takeover);
        assert_eq!(
            p.response_header(),
            format!(
                "permessage-deflate; client_max_window_bits={}",
                t.client_max_window_bits
            )
        );
    }

    #[test]
    fn first_acceptable_offer_wins_and_bad_ones_are_skipped() {
        let offers = [
            "x-webkit-deflate-frame",
            "permessage-deflate; server_max_window_bits=20",
            "permessage-deflate; server_max_window_bits=10",
            "permessage-deflate",
        ];
        assert_eq!(
            answer(&offers, &DeflateConfig::no_context_takeover()).as_deref(),
            Some(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=10"
            )
        );
        assert_eq!(answer(&["permessage-deflate; bogus"], &cfg()), None);
        assert_eq!(answer(&[], &cfg()), None);
    }

    #[test]
    fn window_bits_are_the_smaller_of_offer_and_config() {
        let c = DeflateConfig {
            server_max_window_bits: 11,
            client_max_window_bits: 10,
            ..DeflateConfig::context_takeover()
        };
        let p = DeflateParams::negotiate(
            &["permessage-deflate; server_max_window_bits=13; client_max_window_bits=9"],
            &c,
        )
        .unwrap();
        assert_eq!(
            (p.server_max_window_bits, p.client_max_window_bits),
            (11, 9)
        );
        // 8 bits, both ways: accepted and answered as 8 (the zlib side uses 9, safely).
        let p = DeflateParams::negotiate(
            &["permessage-deflate; server_max_window_bits=8; client_max_window_bits=8"],
            &c,
        )
        .unwrap();
        assert_eq!((p.server_max_window_bits, p.client_max_window_bits), (8, 8));
        assert_eq!(
            p.response_header(),
            "permessage-deflate; server_max_window_bits=8; client_max_window_bits=8"
        );
        // Not offered: not named in the response; the client keeps 15; ours is silent.
        let p = DeflateParams::negotiate(&["permessage-deflate"], &c).unwrap();
        assert_eq!(
            (p.server_max_window_bits, p.client_max_window_bits),
            (11, 15)
        );
        assert_eq!(
            p.response_header(),
            "permessage-deflate; client_no_context_takeover"
        );
        let t = DeflateConfig::context_takeover();
        let p = DeflateParams::negotiate(&["permessage-deflate"], &t).unwrap();
        assert_eq!(p.response_header(), "permessage-deflate");
        // The client's own no-context-takeover request is honoured and echoed.
        let p = DeflateParams::negotiate(
            &["permessage-deflate; server_no_context_takeover; client_no_context_takeover"],
            &c,
        )
        .unwrap();
        assert!(p.server_no_context_takeover && p.client_no_context_takeover);
    }
}
