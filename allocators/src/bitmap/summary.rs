//! The summary levels of the bitmap backend: which words of the "used" map are full.
//!
//! Level 0 has one bit per word of the used map, set when that word is full (all 64
//! units in use); level `k + 1` has one bit per word of level `k`, set when that word is
//! all ones. Levels are added until one has a single word, so finding the next word with
//! a free unit costs `O(levels)` word reads however long the full stretch it jumps over
//! (a level-`k` bit stands for `64^(k+1)` units). Padding bits past the end of each level
//! are set, so they read as "full" and no search ever stops on them.
//!
//! This module owns the summary bits only; it never changes the used map and must be
//! [`refresh`](Summary::refresh)ed by its owner after every change of it.

#![forbid(unsafe_code)]

use crate::fallible::{OutOfMemory, try_boxed_slice, try_push};
use alloc::boxed::Box;
use alloc::vec::Vec;

use super::words::{self, BITS};

/// The "word is full" levels over a used map of a fixed number of words.
#[derive(Clone, Debug)]
pub(super) struct Summary {
    levels: Vec<Box<[u64]>>,
}

impl Summary {
    /// The summary of a used map of `used_words` words, all of them not full.
    pub(super) fn new(used_words: usize) -> Result<Self, OutOfMemory> {
        let mut levels = Vec::new();
        let mut bits = used_words;
        loop {
            let len = bits.div_ceil(BITS);
            let mut level = try_boxed_slice(len, || 0u64, "bitmap summary words")?;
            words::assign_range(&mut level, bits, len * BITS, true);
            try_push(&mut levels, level, "bitmap summary levels")?;
            if len <= 1 {
                break;
            }
            bits = len;
        }
        Ok(Self { levels })
    }

    /// Bytes held by all levels.
    pub(super) fn bytes(&self) -> usize {
        self.levels.iter().map(|l| l.len() * 8).sum()
    }

    /// Recomputes the summary bits of used words `first..=last` (and of their parents)
    /// from `used`.
    pub(super) fn refresh(&mut self, used: &[u64], first: usize, last: usize) {
        let (mut first, mut last) = (first, last);
        let mut below = used;
        for level in &mut self.levels {
            let mut changed = false;
            for w in first..=last {
                let full = below.get(w).is_some_and(|&word| word == u64::MAX);
                changed |= words::test(level, w) != full;
                words::assign(level, w, full);
            }
            // Parents summarise only these bits: if none moved, neither do they.
            if !changed {
                break;
            }
            first /= BITS;
            last /= BITS;
            below = level;
        }
    }

    /// The first used-map word at index `>= from` that is not full, if any.
    pub(super) fn next_not_full(&self, from: usize) -> Option<usize> {
        self.first_clear(0, from)
    }

    /// The first clear bit at index `>= from` of level `level`: looks in the word holding
    /// `from`, and past it asks the level above which word of this level to look in next.
    fn first_clear(&self, level: usize, from: usize) -> Option<usize> {
        let bits = self.levels.get(level)?;
        let (w, bit) = words::split(from);
        let clear = !*bits.get(w)? & words::from_bit(bit);
        if clear != 0 {
            return Some(w * BITS + clear.trailing_zeros() as usize);
        }
        let next = self.first_clear(level + 1, w + 1)?;
        let clear = !*bits.get(next)?;
        (clear != 0).then(|| next * BITS + clear.trailing_zeros() as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refreshed(used: &[u64]) -> Summary {
        let mut s = Summary::new(used.len()).unwrap();
        if !used.is_empty() {
            s.refresh(used, 0, used.len() - 1);
        }
        s
    }

    #[test]
    fn skips_full_words_over_several_levels() {
        // 64 * 64 + 5 used words: level 0 has 65 words, level 1 two, level 2 one.
        let mut used = alloc::vec![u64::MAX; 64 * 64 + 5];
        let s = refreshed(&used);
        assert_eq!(s.levels.len(), 3);
        assert_eq!(s.next_not_full(0), None);
        used[4099] = u64::MAX - 1;
        let s = refreshed(&used);
        assert_eq!(s.next_not_full(0), Some(4099));
        assert_eq!(s.next_not_full(4099), Some(4099));
        assert_eq!(s.next_not_full(4100), None);
        assert_eq!(s.next_not_full(1 << 40), None);
        used[7] = 0;
        let mut s = s;
        s.refresh(&used, 7, 7);
        assert_eq!(s.next_not_full(0), Some(7));
        assert_eq!(s.next_not_full(8), Some(4099));
    }

    #[test]
    fn word_by_word_refreshes_propagate_through_every_level() {
        let n = 64 * 64 * 2 + 3;
        let mut used = alloc::vec![0u64; n];
        let mut s = Summary::new(n).unwrap();
        for w in 0..n {
            assert_eq!(s.next_not_full(0), Some(w));
            used[w] = u64::MAX;
            s.refresh(&used, w, w);
        }
        assert_eq!(s.next_not_full(0), None);
        // A word that stays not full leaves the parents alone; one that empties reaches them.
        used[5000] = 1;
        s.refresh(&used, 5000, 5000);
        used[5000] = 3;
        s.refresh(&used, 5000, 5000);
        assert_eq!(s.next_not_full(0), Some(5000));
        used[5000] = u64::MAX;
        s.refresh(&used, 5000, 5000);
        assert_eq!(s.next_not_full(0), None);
        used[100..=8000].fill(0);
        s.refresh(&used, 100, 8000);
        assert_eq!(s.next_not_full(0), Some(100));
        assert_eq!(s.next_not_full(8001), None);
        assert_eq!(
            s.levels.iter().map(|l| l.len()).collect::<Vec<_>>(),
            [129, 3, 1]
        );
    }

    #[test]
    fn sizes_are_exact() {
        assert_eq!(Summary::new(0).unwrap().bytes(), 0);
        assert_eq!(Summary::new(0).unwrap().next_not_full(0), None);
        assert_eq!(Summary::new(1).unwrap().bytes(), 8);
        assert_eq!(Summary::new(1).unwrap().next_not_full(0), Some(0));
        assert_eq!(Summary::new(64).unwrap().bytes(), 8);
        assert_eq!(Summary::new(65).unwrap().bytes(), 3 * 8);
    }
}
