//! Payload masking (RFC 6455 §5.3): `byte[i] ^= key[i % 4]`.
//!
//! [`apply_mask`] works a 64-bit word at a time with the key rotated to the current phase
//! and repeated twice, over `chunks_exact_mut(8)`; LLVM turns that loop into SIMD on
//! x86-64 and aarch64. It is safe code: unaligned loads go through `from_ne_bytes`, which
//! compiles to plain unaligned moves, so no alignment prologue (and no `unsafe`) is needed.
//! See `benches/ws.rs` for the speed against [`apply_mask_bytewise`].
//!
//! `phase` is the position of `buf[0]` inside the masked payload (mod 4), so a payload that
//! arrives in pieces can be unmasked piece by piece.

/// The reference implementation: one byte at a time.
pub fn apply_mask_bytewise(buf: &mut [u8], key: [u8; 4], phase: usize) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= key[(i + phase) & 3];
    }
}

/// The key rotated to start at `phase`, and the same repeated over a 64-bit word.
#[inline]
fn rotated_key(key: [u8; 4], phase: usize) -> ([u8; 4], u64) {
    // Rotating the key as one word (rather than gathering four bytes) keeps this a few
    // instructions: it runs once per frame, which for chat-sized frames is a fair share
    // of the masking itself.
    let shift = 8 * (phase as u32 & 3);
    let word = u32::from_ne_bytes(key);
    let k32 = if cfg!(target_endian = "little") {
        word.rotate_right(shift)
    } else {
        word.rotate_left(shift)
    };
    (k32.to_ne_bytes(), u64::from(k32) | (u64::from(k32) << 32))
}

/// XORs `buf` with the masking `key`, starting `phase` bytes into the key.
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], phase: usize) {
    let (k, k64) = rotated_key(key, phase);
    if buf.len() < 64 {
        // Chat-sized: the 32-byte blocks below cost more to set up than they save.
        xor_words(buf, k, k64);
        return;
    }
    let mut chunks = buf.chunks_exact_mut(32);
    for c in &mut chunks {
        for w in c.chunks_exact_mut(8) {
            let v = u64::from_ne_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]) ^ k64;
            w.copy_from_slice(&v.to_ne_bytes());
        }
    }
    xor_words(chunks.into_remainder(), k, k64);
}

/// XORs `buf` with the rotated key, a 64-bit word at a time, then the tail bytewise.
#[inline]
fn xor_words(buf: &mut [u8], k: [u8; 4], k64: u64) {
    let mut words = buf.chunks_exact_mut(8);
    for w in &mut words {
        let v = u64::from_ne_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]) ^ k64;
        w.copy_from_slice(&v.to_ne_bytes());
    }
    // Everything before this point was a multiple of 8 bytes, so the key phase is `p` again.
    for (i, b) in words.into_remainder().iter_mut().enumerate() {
        *b ^= k[i & 3];
    }
}

/// Payloads up to this long are unmasked while copied, a word at a time, by [`unmask_into`].
const SMALL: usize = 64;

/// Appends `src` unmasked to `dst`, in one pass over memory: blocks small enough to stay in
/// the L1 cache are copied and then unmasked in place.
pub fn unmask_into(dst: &mut Vec<u8>, src: &[u8], key: [u8; 4], phase: usize) {
    const BLOCK: usize = 8 * 1024; // multiple of 4: every block starts at the same phase
    if src.len() <= SMALL {
        // Chat-sized payloads: unmask in a fixed-size block on the stack (eight whole
        // words, unrolled, no tail loop), then append it with one copy. Reading past the
        // payload is harmless: those bytes are zeros and are not appended.
        let n = src.len();
        let (_, k64) = rotated_key(key, phase);
        let mut block = [0u8; SMALL];
        block[..n].copy_from_slice(src);
        for w in block.chunks_exact_mut(8) {
            let v = u64::from_ne_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]) ^ k64;
            w.copy_from_slice(&v.to_ne_bytes());
        }
        dst.extend_from_slice(&block[..n]);
        return;
    }
    dst.reserve(src.len());
    for block in src.chunks(BLOCK) {
        let start = dst.len();
        dst.extend_from_slice(block);
        apply_mask(&mut dst[start..], key, phase);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_matches_bytewise_for_every_length_alignment_and_phase() {
        let key = [0x12, 0x34, 0x56, 0x78];
        let src: Vec<u8> = (0..400u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in 0..=300 {
            for align in 0..8 {
                for phase in 0..4 {
                    let mut a = src[..len + align].to_vec();
                    let mut b = a.clone();
                    apply_mask(&mut a[align..], key, phase);
                    apply_mask_bytewise(&mut b[align..], key, phase);
                    assert_eq!(a, b, "len {len} align {align} phase {phase}");
                }
            }
        }
    }

    #[test]
    fn unmask_into_matches_and_splits() {
        let key = [0xA1, 0xB2, 0xC3, 0xD4];
        let data: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        let mut want = data.clone();
        apply_mask_bytewise(&mut want, key, 0);
        for split in [0usize, 1, 3, 7, 8191, 8192, 8193, 19_999] {
            let mut out = vec![9u8; 3]; // existing content is kept
            unmask_into(&mut out, &want[..split], key, 0);
            unmask_into(&mut out, &want[split..], key, split);
            assert_eq!(&out[..3], &[9, 9, 9]);
            assert_eq!(&out[3..], &data[..], "split {split}");
        }
    }

    #[test]
    fn unmask_into_small_and_large_paths_agree_with_bytewise_at_every_phase() {
        let key = [0x9E, 0x37, 0x79, 0xB9];
        let src: Vec<u8> = (0..200u32).map(|i| (i * 31 + 7) as u8).collect();
        for len in 0..=SMALL + 70 {
            for phase in 0..4 {
                let mut want = src[..len].to_vec();
                apply_mask_bytewise(&mut want, key, phase);
                let mut out = vec![1u8, 2];
                unmask_into(&mut out, &src[..len], key, phase);
                assert_eq!(&out[..2], &[1, 2]);
                assert_eq!(&out[2..], &want[..], "len {len} phase {phase}");
            }
        }
    }

    #[test]
    fn masking_twice_is_identity() {
        let key = [1, 2, 3, 4];
        let mut v: Vec<u8> = (0..=255).collect();
        apply_mask(&mut v, key, 1);
        apply_mask(&mut v, key, 1);
        assert_eq!(v, (0..=255).collect::<Vec<u8>>());
    }
}
