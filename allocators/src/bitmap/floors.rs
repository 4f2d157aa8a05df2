//! Per-count floors of the bitmap backend: where the lowest fit of a request of a given
//! count cannot lie below.
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
//! Larger counts get floors per count and alignment in a few slots ([`LARGE`]), taken
//! by the first search for each pair (the slots are reused in turn once all are taken):
//! a space holding a few frame sizes asks for the same large counts again and again,
//! and without a floor each would rescan from the window's start. Such a floor bounds
//! the fits at its alignment only, since that is all its searches rule out: it rises
//! with its own searches and with those of fewer units at an alignment dividing its
//! own (a fit of the slot's count and alignment is one of theirs). A free leaves the
//! floor of a count the free run it joins cannot hold (when the run is measured whole,
//! within [`COUNTS`] units each side of the freed range); otherwise it lowers it to the
//! run's start, or to `start + 1 - count` when that is higher or the run's start lies
//! beyond the measure: a new fit holds a freed unit, so starts no lower. (Measuring
//! further, up to the count, cost more on the random video trace than the searches it
//! spared.)
//!
//! They live beside the words, `4 * COUNTS + 8 + 8 * LARGE + 8` bytes (304) in the
//! backend itself whatever the space's size, and a new backend starts with none kept.

#![forbid(unsafe_code)]

use super::words::{self, BITS, word_or_full};

/// The largest count with a floor: one word's worth, the small requests the word scan
/// serves.
pub(super) const COUNTS: usize = BITS;

/// Counts above [`COUNTS`] with a floor at a time: enough for the few frame or buffer
/// sizes a driver repeats, and a walk of them on a free is a few compares.
pub(super) const LARGE: usize = 4;

/// The floor of each count `1..=COUNTS` that a search has asked for (index
/// `count - 1`); the others are not kept, so a free or a search walks only the counts
/// in use.
#[derive(Clone, Copy, Debug)]
pub(super) struct Floors {
    floor: [u32; COUNTS],
    /// Bit `count - 1` is set once `count` has a floor.
    kept: u64,
    /// Counts above [`COUNTS`] kept, in the first `large_kept` slots.
    large_count: [u32; LARGE],
    /// The alignment of `large_count[i]`'s requests, as its log2: the floor bounds its
    /// fits with that alignment only (the searches that raise it see no others).
    large_align: [u8; LARGE],
    /// The floor of `large_count[i]` at alignment `large_align[i]`.
    large_floor: [u32; LARGE],
    /// Slots of `large_count` in use.
    large_kept: u8,
    /// The slot a new large count takes once all are in use.
    large_next: u8,
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
            large_count: [0; LARGE],
            large_align: [0; LARGE],
            large_floor: [0; LARGE],
            large_kept: 0,
            large_next: 0,
        }
    }

    /// The floor of `count` units aligned to `align` (a power of two), kept from now on:
    /// up to [`COUNTS`] units, the count's floor whatever the alignment; above, that of
    /// the count at that alignment. A floor asked for the first time starts at the
    /// highest kept floor of fewer units at an alignment dividing `align` (a fit of
    /// `count` units holds one of those at its start), or 0.
    #[inline]
    pub(super) fn of(&mut self, count: usize, align: usize) -> usize {
        let Some(i) = count.checked_sub(1).filter(|&i| i < COUNTS) else {
            return self.of_large(count, align);
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

    /// [`of`](Self::of) for a count above [`COUNTS`].
    fn of_large(&mut self, count: usize, align: usize) -> usize {
        let Some(align_log2) = align.checked_ilog2().and_then(|l| u8::try_from(l).ok()) else {
            return 0;
        };
        let Ok(count) = u32::try_from(count) else {
            return 0;
        };
        let kept = usize::from(self.large_kept);
        for slot in 0..kept {
            if self.large_count[slot] == count && self.large_align[slot] == align_log2 {
                return self.large_floor[slot] as usize;
            }
        }
        // Kept small floors never fall as the count grows: the largest one is the highest.
        let mut start = match self.kept.checked_ilog2() {
            Some(top) => self.floor[top as usize],
            None => 0,
        };
        for slot in 0..kept {
            if self.large_count[slot] < count && self.large_align[slot] <= align_log2 {
                start = start.max(self.large_floor[slot]);
            }
        }
        let slot = if kept < LARGE {
            self.large_kept += 1;
            kept
        } else {
            let slot = usize::from(self.large_next);
            self.large_next = if slot + 1 < LARGE {
                self.large_next + 1
            } else {
                0
            };
            slot
        };
        self.large_count[slot] = count;
        self.large_align[slot] = align_log2;
        self.large_floor[slot] = start;
        start as usize
    }

    /// No fit of `count` units aligned to `align` starts below `offset`: the floor of
    /// `count` at `align` rises to it if lower, and so do those of larger counts at
    /// alignments `align` divides (such a fit holds one of `count` units aligned to
    /// `align` at its start); those of counts up to [`COUNTS`] only for `align == 1`,
    /// as they bound fits at every alignment.
    #[inline]
    pub(super) fn raise(&mut self, count: usize, align: usize, offset: usize) {
        let Some(align_log2) = align.checked_ilog2() else {
            return;
        };
        if count == 0 {
            return;
        }
        let raised = clamp(offset);
        for slot in 0..usize::from(self.large_kept) {
            if self.large_count[slot] as usize >= count
                && u32::from(self.large_align[slot]) >= align_log2
                && self.large_floor[slot] < raised
            {
                self.large_floor[slot] = raised;
            }
        }
        if align != 1 {
            return;
        }
        let Some(first) = count.checked_sub(1).filter(|&i| i < COUNTS) else {
            return;
        };
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
        let small = self
            .kept
            .checked_ilog2()
            .is_some_and(|top| (self.floor[top as usize] as usize).saturating_add(COUNTS) > start);
        // A new fit of a large count holds a freed unit: it starts at `start + 1 - count`
        // or above, so a floor no higher stays (most frees again).
        let large = (0..usize::from(self.large_kept)).any(|slot| {
            self.large_floor[slot] as usize
                > (start + 1).saturating_sub(self.large_count[slot] as usize)
        });
        if !small && !large {
            return;
        }
        let before = free_below(used, start);
        let after = free_from(used, end);
        let run = before + (end - start) + after;
        if small {
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
        if large {
            self.lower_large(start, before, after, run);
        }
    }

    /// The large counts' part of [`lower`](Self::lower): the free run around the freed
    /// range at `start` has `before` free units below `start` and `after` past its end
    /// (each counted up to [`COUNTS`]), `run` in all.
    fn lower_large(&mut self, start: usize, before: usize, after: usize, run: usize) {
        // The run's length is known only when both sides stopped short of the cap: then
        // a count longer than it has no new fit.
        let run_known = before < COUNTS && after < COUNTS;
        for slot in 0..usize::from(self.large_kept) {
            let count = self.large_count[slot] as usize;
            if run_known && count > run {
                continue;
            }
            let holding_a_freed_unit = (start + 1).saturating_sub(count);
            // Past the cap the run's start is unknown, and `start - before` would lie above it.
            let lowered = if before < COUNTS {
                clamp((start - before).max(holding_a_freed_unit))
            } else {
                clamp(holding_a_freed_unit)
            };
            if self.large_floor[slot] > lowered {
                self.large_floor[slot] = lowered;
            }
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
        assert_eq!(floors.of(3, 1), 0);
        floors.raise(3, 1, 100);
        floors.raise(3, 1, 50);
        floors.raise(0, 1, 7); // no such count: ignored
        floors.raise(COUNTS + 1, 1, 7);
        assert_eq!(floors.of(3, 1), 100);
        assert_eq!(
            floors.of(COUNTS, 1),
            100,
            "a new count starts at the one below"
        );
        assert_eq!(floors.of(2, 1), 0);
        floors.raise(2, 1, 90);
        assert_eq!((floors.of(2, 1), floors.of(3, 1)), (90, 100));
        assert_eq!(floors.of(1, 1), 0);
        floors.raise(1, 1, 120);
        assert_eq!(floors.of(COUNTS, 1), 120, "larger counts rise with it");
        floors.raise(1, 1, 80);
        assert_eq!(floors.of(1, 1), 120, "floors never fall on a raise");
        // A free run of two units at 60..62: counts 1 and 2 may fit there, 3 may not.
        let mut used = [u64::MAX; 2];
        used[0] &= !(0b11 << 60);
        floors.lower(&used, 61, 62);
        assert_eq!(
            (floors.of(1, 1), floors.of(2, 1), floors.of(3, 1)),
            (60, 60, 120)
        );
        floors.raise(COUNTS, 1, usize::MAX);
        assert_eq!(floors.of(COUNTS, 1), u32::MAX as usize);
    }

    #[test]
    fn floors_take_a_fixed_few_hundred_bytes() {
        assert_eq!(size_of::<Floors>(), 4 * COUNTS + 8 + 8 * LARGE + 8);
    }

    #[test]
    fn large_counts_keep_exact_floors_in_a_few_slots() {
        let mut floors = Floors::new();

        assert_eq!(floors.of(10, 1), 0);
        floors.raise(10, 1, 40);
        assert_eq!(
            floors.of(100, 1),
            40,
            "a new large count starts at a smaller one"
        );
        floors.raise(100, 1, 500);
        floors.raise(200, 1, 900); // not kept: changes nothing
        assert_eq!(floors.of(100, 1), 500);
        assert_eq!(floors.of(200, 1), 500, "and at a smaller large one");
        floors.raise(80, 1, 700);
        assert_eq!(
            (floors.of(100, 1), floors.of(200, 1)),
            (700, 700),
            "larger counts rise with a smaller one"
        );
        floors.raise(150, 1, 800);
        assert_eq!((floors.of(100, 1), floors.of(200, 1)), (700, 800));
        floors.raise(100, 1, 600);
        assert_eq!(floors.of(100, 1), 700, "floors never fall on a raise");

        // Units 650..700 free (a run of 50): too short for 100, floors stay.
        let mut used = [u64::MAX; 20];
        for unit in 650..700 {
            used[unit / BITS] &= !(1 << (unit % BITS));
        }
        floors.lower(&used, 660, 670);
        assert_eq!((floors.of(100, 1), floors.of(200, 1)), (700, 800));
        // 620..760 free (140 units, more than the measure reaches below 690): 100 may fit
        // from 690 + 1 - 100 on, 200 may too as far as the measure knows.
        for unit in 620..760 {
            used[unit / BITS] &= !(1 << (unit % BITS));
        }
        floors.lower(&used, 690, 691);
        assert_eq!((floors.of(100, 1), floors.of(200, 1)), (591, 491));
        // A free whose run is measured whole: down to its start, not below (the raise
        // lifts 200 too).
        floors.raise(100, 1, 1000);
        let mut used = [u64::MAX; 20];
        for unit in 900..1010 {
            used[unit / BITS] &= !(1 << (unit % BITS));
        }
        floors.lower(&used, 950, 960);
        assert_eq!(floors.of(100, 1), 900);
        assert_eq!(floors.of(200, 1), 1000, "no fit of 200 in 110 units");

        // More counts than slots: the oldest slot is taken over.
        for count in [300, 400, 500] {
            floors.of(count, 1);
        }
        assert_eq!(usize::from(floors.large_kept), LARGE);
        assert_eq!(floors.large_count, [500, 200, 300, 400]);
        assert!(!floors.large_count.contains(&100), "no longer kept");
    }

    #[test]
    fn large_floors_hold_for_their_alignment() {
        let mut floors = Floors::new();
        assert_eq!(floors.of(100, 64), 0);
        floors.raise(100, 64, 1000);
        assert_eq!(floors.of(100, 64), 1000);
        assert_eq!(
            floors.of(100, 1),
            0,
            "an aligned answer says nothing of unaligned fits"
        );
        assert_eq!(
            floors.of(200, 128),
            1000,
            "a fit at a multiple of the alignment is one at the alignment"
        );
        floors.raise(100, 1, 1200);
        assert_eq!(
            (floors.of(100, 64), floors.of(200, 128)),
            (1200, 1200),
            "every alignment rises with alignment 1"
        );
        floors.raise(150, 128, 1300);
        assert_eq!(
            (floors.of(100, 1), floors.of(100, 64), floors.of(200, 128)),
            (1200, 1200, 1300)
        );
        floors.raise(10, 64, 5000);
        assert_eq!(
            (floors.of(10, 1), floors.of(100, 1), floors.of(100, 64)),
            (0, 1200, 5000),
            "an aligned small answer raises no floor of alignment 1"
        );
    }
}
