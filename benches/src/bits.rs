//! Word-level helpers over `u64` bit vectors (bit `i` is bit `i % 64` of word `i / 64`),
//! used by the power-of-two baseline. Callers keep `lo <= hi <= words.len() * 64`.

#![forbid(unsafe_code)]

/// The first index in `[lo, hi)` whose bit in `select(word_index)` is set.
pub(crate) fn first_set(lo: usize, hi: usize, select: impl Fn(usize) -> u64) -> Option<usize> {
    let mut at = lo;
    while at < hi {
        let word = at / 64;
        let bits = select(word) & (!0u64 << (at % 64));
        if bits != 0 {
            let found = word * 64 + bits.trailing_zeros() as usize;
            return (found < hi).then_some(found);
        }
        at = (word + 1) * 64;
    }
    None
}

/// Sets (or clears) every bit of `[lo, hi)`.
pub(crate) fn set_range(words: &mut [u64], lo: usize, hi: usize, value: bool) {
    let mut at = lo;
    while at < hi {
        let word = at / 64;
        let end = hi.min((word + 1) * 64);
        let width = end - at;
        let mask = if width == 64 {
            !0
        } else {
            ((1u64 << width) - 1) << (at % 64)
        };
        if value {
            words[word] |= mask;
        } else {
            words[word] &= !mask;
        }
        at = end;
    }
}

/// Whether bit `i` is set.
pub(crate) fn get(words: &[u64], i: usize) -> bool {
    words[i / 64] >> (i % 64) & 1 == 1
}

#[cfg(test)]
mod tests {
    use super::{first_set, get, set_range};

    #[test]
    fn ranges_set_clear_and_search_across_words() {
        let mut w = vec![0u64; 4];
        set_range(&mut w, 60, 130, true);
        assert!(!get(&w, 59) && get(&w, 60) && get(&w, 129) && !get(&w, 130));
        assert_eq!(first_set(0, 256, |i| w[i]), Some(60));
        assert_eq!(first_set(61, 256, |i| w[i]), Some(61));
        assert_eq!(first_set(130, 256, |i| w[i]), None);
        assert_eq!(first_set(0, 256, |i| !w[i]), Some(0));
        assert_eq!(first_set(60, 256, |i| !w[i]), Some(130));
        assert_eq!(first_set(60, 100, |i| !w[i]), None);
        set_range(&mut w, 64, 128, false);
        assert_eq!(first_set(61, 256, |i| !w[i]), Some(64));
        assert_eq!(w[1], 0);
    }
}
