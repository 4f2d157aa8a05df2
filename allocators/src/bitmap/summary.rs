//! The summary levels of the bitmap backend: which words of the "used" map are full.
//!
//! Level 0 has one bit per word of the used map, set when that word is full (all 64
//! units in use); level `k + 1` has one bit per word of level `k`, set when that word is
//! all ones. Levels are added until one has a single word, so finding the next word with
//! a free unit costs `O(levels)` word reads however long the full stretch it jumps over
//! (a level-`k` bit stands for `64^(k+1)` units). Padding bits past the end of each level
//! are set, so they read as "full" and no search ever stops on them.
//!
//! The levels lie one after the other (level 0 first) in one slice of
//! [`words`](Summary::words) words that the bitmap's storage holds; [`Summary`] itself
//! only knows their sizes, so the same code serves a heap bitmap and one over caller
//! storage, and [`init`](Summary::init) is a `const fn`.
//!
//! This module owns the summary bits only; it never changes the used map and must be
//! [`refresh`](Summary::refresh)ed by its owner after every change of it.

#![forbid(unsafe_code)]

use super::words::{self, BITS};

/// One level: where its words start in the summary slice, how many there are, and how
/// many of their bits stand for something (one per word of the level below).
#[derive(Clone, Copy, Debug)]
struct Level {
    start: usize,
    len: usize,
    bits: usize,
}

impl Level {
    /// The level above this one, or `None` for the top level (at most one word).
    const fn up(self) -> Option<Self> {
        if self.len <= 1 {
            None
        } else {
            Some(Self {
                start: self.start + self.len,
                len: self.len.div_ceil(BITS),
                bits: self.len,
            })
        }
    }
}

/// The "word is full" levels over a used map of a fixed number of words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Summary {
    used_words: usize,
    /// Words of level 0, kept so that the common operations (a refresh that stops at
    /// level 0, a search that finds a word there) compute nothing about the levels.
    first_len: usize,
}

impl Summary {
    /// The summary of a used map of `used_words` words.
    pub(super) const fn new(used_words: usize) -> Self {
        Self {
            used_words,
            first_len: used_words.div_ceil(BITS),
        }
    }

    /// Level 0.
    const fn first(&self) -> Level {
        Level {
            start: 0,
            len: self.first_len,
            bits: self.used_words,
        }
    }

    /// Words of all levels: `ceil(n / 64) + ceil(n / 64^2) + ...` for `n` used words, up
    /// to and including the first level of at most one word.
    pub(super) const fn words(&self) -> usize {
        let mut level = self.first();
        let mut total = level.len;
        while let Some(up) = level.up() {
            total += up.len;
            level = up;
        }
        total
    }

    /// Lays out the summary of a used map with no full word in `summary` (its
    /// [`words`](Self::words) words, all clear): sets the padding bits of every level.
    pub(super) const fn init(&self, summary: &mut [u64]) {
        let mut level = self.first();
        loop {
            let end = (level.start + level.len) * BITS;
            words::assign_range(summary, level.start * BITS + level.bits, end, true);
            match level.up() {
                Some(up) => level = up,
                None => break,
            }
        }
    }

    /// Recomputes the summary bits of used words `first..=last` (and of their parents)
    /// from `used`, where the words strictly between `first` and `last` have just been
    /// made all ones (`full`) or all zeros: their bits are written without reading them,
    /// which for a long change is most of its words.
    #[inline(always)]
    pub(super) fn refresh(
        &self,
        used: &[u64],
        summary: &mut [u64],
        (first, last): (usize, usize),
        full: bool,
    ) {
        // Level 0 from the used map; most changes stop there.
        let Some(bits) = summary.get_mut(..self.first_len) else {
            return;
        };
        if last > first + 1 {
            Self::refresh_level(used, bits, first, first);
            Self::refresh_level(used, bits, last, last);
            words::assign_range(bits, first + 1, last, full);
            // Whether the inner bits moved is not looked at: the levels above are read
            // for this range's few summary words only.
        } else if last == first + 1 {
            // Two words, as a change of a few tens of units often spans: a bit each,
            // without the loop over summary words.
            let moved_first = Self::refresh_level(used, bits, first, first);
            if !(Self::refresh_level(used, bits, last, last) | moved_first) {
                return;
            }
        } else if !Self::refresh_level(used, bits, first, last) {
            return;
        }
        self.refresh_above(summary, (first / BITS, last / BITS));
    }

    /// Recomputes the bits of level-0 words `first..=last` on the levels above, after
    /// some of theirs moved.
    // Out of line: about half the changes of a busy map fill or open a used word, and
    // those few more steps would cost every change a longer prologue in `refresh`.
    #[inline(never)]
    fn refresh_above(&self, summary: &mut [u64], (mut first, mut last): (usize, usize)) {
        let mut below = self.first();
        while let Some(level) = below.up() {
            let Some((lower, upper)) = summary.split_at_mut_checked(level.start) else {
                return;
            };
            let (Some(below_bits), Some(bits)) =
                (lower.get(below.start..), upper.get_mut(..level.len))
            else {
                return;
            };
            if !Self::refresh_level(below_bits, bits, first, last) {
                return;
            }
            first /= BITS;
            last /= BITS;
            below = level;
        }
    }

    /// Sets bits `first..=last` of `bits` to whether words `first..=last` of `below` are
    /// full; whether any bit changed. Parents summarise only these bits: if none moved,
    /// neither do they. Builds each summary word's new bits in a register and stores
    /// them once.
    #[inline(always)]
    fn refresh_level(below: &[u64], bits: &mut [u64], first: usize, last: usize) -> bool {
        if first == last {
            // One word (most changes): one bit.
            let full = below.get(first).is_some_and(|&word| word == u64::MAX);
            let changed = words::test(bits, first) != full;
            words::assign(bits, first, full);
            return changed;
        }
        Self::refresh_words(below, bits, first, last)
    }

    /// [`refresh_level`](Self::refresh_level) of more than one word.
    #[inline(never)]
    fn refresh_words(below: &[u64], bits: &mut [u64], first: usize, last: usize) -> bool {
        let mut changed = false;
        let mut w = first;
        while w <= last {
            let (word, bit) = words::split(w);
            // Bits `bit..=end_bit` of summary word `word`.
            let end = last.min(word * BITS + BITS - 1);
            let mut full = 0u64;
            for (k, &used) in below.get(w..=end).unwrap_or(&[]).iter().enumerate() {
                if used == u64::MAX {
                    full |= 1 << (bit + k);
                }
            }
            // Words past `below` read as not full: their bits are cleared.
            let mask = words::from_bit(bit) & words::below_bit(end % BITS + 1);
            if let Some(b) = bits.get_mut(word) {
                let new = *b & !mask | full;
                changed |= new != *b;
                *b = new;
            }
            w = end + 1;
        }
        changed
    }

    /// The first used-map word at index `>= from` that is not full, if any.
    pub(super) fn next_not_full(&self, summary: &[u64], from: usize) -> Option<usize> {
        Self::first_clear(summary, self.first(), from)
    }

    /// The first clear bit at index `>= from` of `level`: looks in the word holding
    /// `from`, and past it asks the level above which word of this level to look in next.
    fn first_clear(summary: &[u64], level: Level, from: usize) -> Option<usize> {
        let bits = summary.get(level.start..level.start + level.len)?;
        let (w, bit) = words::split(from);
        let clear = !*bits.get(w)? & words::from_bit(bit);
        if clear != 0 {
            return Some(w * BITS + clear.trailing_zeros() as usize);
        }
        let next = Self::first_clear(summary, level.up()?, w + 1)?;
        let clear = !*bits.get(next)?;
        (clear != 0).then(|| next * BITS + clear.trailing_zeros() as usize)
    }

    /// The number of words of each level, level 0 first.
    #[cfg(test)]
    fn level_lens(&self) -> alloc::vec::Vec<usize> {
        let mut lens = alloc::vec![];
        let mut level = Some(self.first());
        while let Some(l) = level {
            lens.push(l.len);
            level = l.up();
        }
        lens
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    /// A summary and its words, as a bitmap's storage holds them.
    struct Levels {
        summary: Summary,
        words: Vec<u64>,
    }

    impl Levels {
        fn empty(used_words: usize) -> Self {
            let summary = Summary::new(used_words);
            let mut words = vec![0; summary.words()];
            summary.init(&mut words);
            Self { summary, words }
        }

        /// After any change of words `first..=last`: word by word, none known.
        fn refresh(&mut self, used: &[u64], first: usize, last: usize) {
            for w in first..=last {
                self.summary.refresh(used, &mut self.words, (w, w), false);
            }
        }

        /// After words `first + 1..last` became all ones (`full`) or zeros.
        fn refresh_filled(&mut self, used: &[u64], first: usize, last: usize, full: bool) {
            self.summary
                .refresh(used, &mut self.words, (first, last), full);
        }

        fn next_not_full(&self, from: usize) -> Option<usize> {
            self.summary.next_not_full(&self.words, from)
        }
    }

    fn refreshed(used: &[u64]) -> Levels {
        let mut s = Levels::empty(used.len());
        if !used.is_empty() {
            s.refresh(used, 0, used.len() - 1);
        }
        s
    }

    #[test]
    fn skips_full_words_over_several_levels() {
        // 64 * 64 + 5 used words: level 0 has 65 words, level 1 two, level 2 one.
        let mut used = vec![u64::MAX; 64 * 64 + 5];
        let s = refreshed(&used);
        assert_eq!(s.summary.level_lens(), [65, 2, 1]);
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
        let mut used = vec![0u64; n];
        let mut s = Levels::empty(n);
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
        // Long changes: only their end words are read.
        used[100..=8000].fill(0);
        used[8000] = u64::MAX;
        s.refresh_filled(&used, 100, 8000, false);
        assert_eq!(s.next_not_full(0), Some(100));
        assert_eq!(s.next_not_full(101), Some(101));
        assert_eq!(s.next_not_full(7999), Some(7999));
        assert_eq!(s.next_not_full(8000), None);
        used[99..=6000].fill(u64::MAX);
        used[6000] = 1;
        s.refresh_filled(&used, 99, 6000, true);
        assert_eq!(s.next_not_full(0), Some(6000));
        used[6000] = u64::MAX;
        used[6001..=7999].fill(u64::MAX);
        s.refresh_filled(&used, 6000, 7999, true);
        assert_eq!(s.next_not_full(0), None);
        assert_eq!(s.summary.level_lens(), [129, 3, 1]);
    }

    #[test]
    fn two_word_refreshes_equal_a_fresh_summary() {
        // Two levels above the first, mostly full, so that a change of two words where
        // one or both move their bit reaches the levels above.
        let n = 64 * 64 * 2 + 3;
        let mut used = vec![u64::MAX; n];
        let mut s = refreshed(&used);
        let mut rng = 0x0123_4567_89ab_cdef_u64;
        for step in 0..1_500 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            // Near one place, so words fill up again as well as empty.
            let w = 64 * 64 - 40 + (rng >> 8) as usize % 80;
            for (k, word) in used[w..=w + 1].iter_mut().enumerate() {
                *word = match (rng >> (20 + 3 * k)) % 8 {
                    0 => 0,
                    1 => u64::MAX - 1,
                    _ => u64::MAX,
                };
            }
            s.refresh_filled(&used, w, w + 1, false);
            assert_eq!(
                s.words,
                refreshed(&used).words,
                "step {step}: words {w}, {}",
                w + 1
            );
        }
    }

    #[test]
    fn sizes_are_exact_and_padding_reads_as_full() {
        assert_eq!(Summary::new(0).words(), 0);
        assert_eq!(Levels::empty(0).next_not_full(0), None);
        assert_eq!(Summary::new(1).words(), 1);
        assert_eq!(Levels::empty(1).words, [u64::MAX << 1]);
        assert_eq!(Levels::empty(1).next_not_full(0), Some(0));
        assert_eq!(Levels::empty(1).next_not_full(1), None);
        assert_eq!(Summary::new(64).words(), 1);
        assert_eq!(Levels::empty(64).words, [0]);
        assert_eq!(Summary::new(65).words(), 3);
        // Level 0: 65 bits in two words; level 1: 2 bits in one word.
        assert_eq!(Levels::empty(65).words, [0, u64::MAX << 1, u64::MAX << 2]);
        assert_eq!(Levels::empty(65).next_not_full(64), Some(64));
        assert_eq!(Levels::empty(65).next_not_full(65), None);
    }
}
