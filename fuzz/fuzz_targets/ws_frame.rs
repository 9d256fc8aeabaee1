//! Fuzzes the frame header decoder, masking and the incremental UTF-8 validator with raw
//! bytes: no panic, header encode/decode round trip, fast unmask equal to the byte loop,
//! the validator agreeing with `std::str::from_utf8` at every split the input suggests.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wirelane_core::proto::ws::mask::{apply_mask, apply_mask_bytewise};
use wirelane_core::proto::ws::{FrameHeader, Utf8Validator};

fuzz_target!(|data: &[u8]| {
    // Walk the input as a stream of frames.
    let mut rest = data;
    while let Ok(Some((h, n))) = FrameHeader::decode(rest) {
        assert!((2..=14).contains(&n));
        assert_eq!(n, h.encoded_len());
        let _ = h.check_client_frame();
        let mut enc = Vec::new();
        h.encode(&mut enc);
        assert_eq!(enc, rest[..n], "decode/encode round trip");
        let skip = (h.payload_len.min((rest.len() - n) as u64) as usize) + n;
        let payload = &rest[n..skip];
        if let Some(key) = h.mask {
            for phase in 0..4 {
                let mut a = payload.to_vec();
                let mut b = a.clone();
                apply_mask(&mut a, key, phase);
                apply_mask_bytewise(&mut b, key, phase);
                assert_eq!(a, b);
            }
        }
        rest = &rest[skip..];
        if skip == n && h.payload_len > 0 {
            break;
        }
    }

    // UTF-8: split the whole input at points chosen by its first bytes.
    let whole = std::str::from_utf8(data).is_ok();
    let step = data.first().map_or(1, |b| (*b as usize % 7) + 1);
    let mut v = Utf8Validator::new();
    let mut ok = true;
    for piece in data.chunks(step) {
        if v.feed(piece).is_err() {
            ok = false;
            break;
        }
    }
    if ok {
        ok = v.finish().is_ok();
    }
    assert_eq!(ok, whole);
});
