//! Per-count floors of the bitmap backend: where the lowest fit of a small request
//! cannot lie below.
//!
//! For every count `c` in `1..=`[`COUNTS`], [`Floors`] keeps an offset at or below the
//! lowest `p` with `[p, p + c)` all free. A search for `c` units starts there instead of
//! at the window's start, so the stretch of small holes that address-ordered placement
//! leaves at the bottom of a busy space is not rescanned by every request that none of
//! them fits; placement is unchanged, since no fit lies below a floor.
//!
//! The floors stay true by construction: allocating never creates a fit, so it leaves
//! them alone; a search with alignment 1 that started at a count's floor has ruled out
//! every start below its answer (and the answer itself, once allocated), so it may
//! raise the floors of that count and of every larger one ([`Floors::raise`]; the
//! backend does so only when the answer lies a word or more above the floor, since a
//! fit that close is found as cheaply again and the free that often follows at once
//! would lower the floors right back); a free can create fits only in the free run
//! it joins and only for counts up to that run's length, so it lowers just those floors
//! to the run's start ([`Floors::lower`]). Floors are `u32`s: an offset above
//! `u32::MAX` is kept as `u32::MAX`, which is still no higher than the truth.
//!
//! Only the counts searches have asked for are kept (a mask says which), so a free or
//! a raise walks those, not all [`COUNTS`]; a count asked for the first time starts at
//! the floor of the largest smaller count kept, also a true floor. Both walks stop at
//! the first floor already where they would put it: kept floors never fall as the count
//! grows.
//!
//! They live beside the words, `4 * COUNTS + 8` bytes in the backend itself whatever the
//! space's size, and a new backend starts with none kept.

#![forbid(unsafe_code)]

use super::words::{self, BITS, word_or_full};

/// The largest count with a floor: one word's worth, the small requests the word scan
/// serves.
pub(super) const COUNTS: usize = BITS;

/// The floor of each count `1..=COUNTS` that a search has asked for (index
/// `count - 1`); the others are not kept, so a free or a search walks only the counts
/// in use.
#[derive(Clone, Copy, Debug)]
pub(super) struct Floors {
    floor: [u32; COUNTS],
    /// Bit `count - 1` is set once `count` has a floor.
    kept: u64,
}

/// `offset` as a floor: above `u32::MAX` it is kept as `u32::MAX`, lower, so still true.
const fn clamp(offset: usize) -> u32 {
    if offset > u32::MAX as usize {
        u32::MAX
    } else {
        // In range: checked just above.
        #[allow(clippy::cast_possible_truncation)]
        let floor = offset as u32;
        floor
    }
}

impl Floors {
    /// No count kept yet.
    pub(super) const fn new() -> Self {
        Self {
            floor: [0; COUNTS],
            kept: 0,
        }
    }

    /// The floor of `count` (0, no knowledge, above [`COUNTS`]), kept from now on. A
    /// count asked for the first time starts at the floor of the largest smaller count
    /// kept (a fit of `count` units holds one of fewer at its start), or 0.
    #[inline]
    pub(super) fn of(&mut self, count: usize) -> usize {
        let Some(i) = count.checked_sub(1).filter(|&i| i < COUNTS) else {
            return 0;
        };
        if self.kept >> i & 1 == 0 {
            let below = self.kept & words::below_bit(i);
            self.floor[i] = match below.checked_ilog2() {
                Some(j) => self.floor[j as usize],
                None => 0,
            };
            self.kept |= 1 << i;
        }
        self.floor[i] as usize
    }

    /// No fit of `count` units starts below `offset`: the floor of `count` rises to it
    /// if lower, and so do those of larger counts (a fit of more units holds a fit of
    /// `count` at its start).
    #[inline]
    pub(super) fn raise(&mut self, count: usize, offset: usize) {
        let Some(first) = count.checked_sub(1).filter(|&i| i < COUNTS) else {
            return;
        };
        let raised = clamp(offset);
        // Kept floors never fall as the count grows (a raise lifts all larger counts, a
        // lower drops all smaller ones, a new count starts at the one below), so the
        // first floor already high enough ends the walk.
        let mut rest = self.kept & words::from_bit(first);
        while rest != 0 {
            let i = rest.trailing_zeros() as usize;
            if self.floor[i] >= raised {
                break;
            }
            self.floor[i] = raised;
            rest &= rest - 1;
        }
    }

    /// `[start, end)` of the used map `used` has just become free: the floors of the
    /// counts that can now fit in the free run around it drop to that run's start.
    /// Only up to `COUNTS` free units are looked at on either side: when the run goes on
    /// further, every floor is lowered anyway, and to a start at most `COUNTS` below
    /// `start`, below any new fit of at most `COUNTS` units (it holds a unit at or after
    /// `start`).
    #[inline]
    pub(super) fn lower(&mut self, used: &[u64], start: usize, end: usize) {
        // The largest kept count has the highest floor: when even that lies a run's
        // worth below `start`, no floor can drop (most frees, far above the holes).
        let Some(top) = self.kept.checked_ilog2() else {
            return;
        };
        if (self.floor[top as usize] as usize).saturating_add(COUNTS) <= start {
            return;
        }
        let before = free_below(used, start);
        let after = free_from(used, end);
        let run = before + (end - start) + after;
        let lowered = clamp(start - before);
        // Largest count first: below the first floor already low enough, all are.
        let mut rest = self.kept & words::below_bit(run.min(COUNTS));
        while let Some(i) = rest.checked_ilog2() {
            let i = i as usize;
            if self.floor[i] <= lowered {
                break;
            }
            self.floor[i] = lowered;
            rest &= !(1 << i);
        }
    }
}

/// Free units right below unit `at`, at most [`COUNTS`] of them (and none below 0).
fn free_below(used: &[u64], at: usize) -> usize {
    let (w, bit) = words::split(at);
    let below = match w.checked_sub(1) {
        Some(prev) => word_or_full(used, prev),
        None => u64::MAX,
    };
    // Units `at - 64 - bit .. at` with unit `at - 1` on top: bits at and above `bit` of
    // word `w` shifted out, zeros shifted in at the bottom count only once all 64 + bit
    // real units are free, and the count is capped at 64 below that.
    let window = (u128::from(word_or_full(used, w)) << 64 | u128::from(below)) << (BITS - bit);
    (window.leading_zeros() as usize).min(COUNTS)
}

/// Free units from unit `at` up, at most [`COUNTS`] of them (the used map's padding
/// bits end every run at the capacity).
fn free_from(used: &[u64], at: usize) -> usize {
    let (w, bit) = words::split(at);
    let window =
        (u128::from(word_or_full(used, w + 1)) << 64 | u128::from(word_or_full(used, w))) >> bit;
    (window.trailing_zeros() as usize).min(COUNTS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_runs_are_counted_across_words_and_capped() {
        let mut used = [u64::MAX; 4];
        assert_eq!((free_below(&used, 0), free_from(&used, 256)), (0, 0));
        used[1] = !(0b111 << 61); // units 125..128 free
        used[2] = !0b11; // units 128..130 free
        assert_eq!(free_below(&used, 128), 3);
        assert_eq!(free_below(&used, 129), 4);
        assert_eq!(free_from(&used, 125), 5);
        assert_eq!(free_from(&used, 127), 3);
        assert_eq!(free_below(&used, 125), 0);
        let empty = [0u64; 4];
        assert_eq!(free_below(&empty, 0), 0);
        assert_eq!(free_below(&empty, 10), 10);
        assert_eq!(free_below(&empty, 200), COUNTS);
        assert_eq!(free_from(&empty, 10), COUNTS);
        assert_eq!(free_from(&empty, 250), 6); // the slice's end reads as used
    }

    #[test]
    fn floors_rise_and_fall_only_where_told() {
        let mut floors = Floors::new();
        assert_eq!(floors.of(3), 0);
        floors.raise(3, 100);
        floors.raise(3, 50);
        floors.raise(0, 7); // no such count: ignored
        floors.raise(COUNTS + 1, 7);
        assert_eq!((floors.of(3), floors.of(COUNTS + 1)), (100, 0));
        assert_eq!(
            floors.of(COUNTS),
            100,
            "a new count starts at the one below"
        );
        assert_eq!(floors.of(2), 0);
        floors.raise(2, 90);
        assert_eq!((floors.of(2), floors.of(3)), (90, 100));
        assert_eq!(floors.of(1), 0);
        floors.raise(1, 120);
        assert_eq!(floors.of(COUNTS), 120, "larger counts rise with it");
        floors.raise(1, 80);
        assert_eq!(floors.of(1), 120, "floors never fall on a raise");
        // A free run of two units at 60..62: counts 1 and 2 may fit there, 3 may not.
        let mut used = [u64::MAX; 2];
        used[0] &= !(0b11 << 60);
        floors.lower(&used, 61, 62);
        assert_eq!((floors.of(1), floors.of(2), floors.of(3)), (60, 60, 120));
        floors.raise(COUNTS, usize::MAX);
        assert_eq!(floors.of(COUNTS), u32::MAX as usize);
    }
}
