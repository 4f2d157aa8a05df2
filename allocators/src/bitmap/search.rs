//! Finding the lowest fitting run in the bitmap backend.
//!
//! Every path returns the lowest offset `s >= lo` with `phase + s` a multiple of `align`,
//! `s + count <= hi` and every unit of `[s, s + count)` free:
//!
//! * **run tree** (`runs.rs`): the lowest aligned start of `count` free units at or
//!   after a bound, in `O(log n)`: the descent checks the alignment on every free run
//!   long enough that it meets, and past a run whose aligned part is too short (of
//!   `count .. count + align - 1` units) it goes on from there rather than from the
//!   root (with alignment 1 there is no such run): the cost does not grow with the
//!   space.
//! * **word path**, first, for `count <= 64` and `align <= 64`, over the first few words
//!   from `lo` that are not full (full stretches skipped through the summary): for each, the positions where a free run of
//!   `count` units starts (reaching into the next word at most) are computed (for one
//!   unit, the free units themselves; for two to four, three shifts and masks set once
//!   per search, without a branch; above, `log2(count)` shift-and steps) and masked by
//!   the aligned positions.
//! * **run path**, first, for larger requests, over a few candidates only (and without
//!   limit for counts above `u32::MAX`, beyond what the tree counts): jump to the next
//!   free unit (summary), align up, look for the first used unit in the candidate range,
//!   continue past it.
//!
//! This module only reads the maps; it never changes them.

#![forbid(unsafe_code)]

use super::summary::Summary;
use super::words::{self, BITS};
use super::{Core, Parts};
use crate::{Window, align_up_with_phase};

/// Words the word scan reads before a request of at most [`FEW_UNITS`] units asks the
/// run tree; a longer one reads a quarter of them (two). A non-full word of a busy map
/// almost always holds a few free units, seldom a run of tens: for virtio buffers at
/// 64 B units (24 to 32 units) six more words of scan cost more than the tree search
/// they rarely spare (12 % more instructions on random virtio), while for descriptors
/// of 1 to 4 units they mostly find the fit (two words cost W3 16 % more).
const NEAR_WORDS: usize = 8;
/// The longest request the word scan reads all [`NEAR_WORDS`] words for.
const FEW_UNITS: usize = 4;
/// [`Search::fit_in_words`] for one unit.
const ONE: u8 = 0;
/// [`Search::fit_in_words`] for 2 to [`FEW_UNITS`] units.
const SHORT: u8 = 1;
/// [`Search::fit_in_words`] for more units.
const LONG: u8 = 2;
/// Candidates the run path tries before a large request asks the run tree.
const NEAR_RUNS: usize = 8;

impl Core {
    /// The lowest offset where `count` units aligned to `align` fit inside `window`.
    /// `count >= 1`, `align` a power of two and `window` inside the space (validated).
    pub(super) fn lowest_fit(
        &mut self,
        words: &mut [u64],
        count: usize,
        align: usize,
        window: Window,
    ) -> Option<usize> {
        // Borrowed, not copied: the run tree's shape is a few hundred bytes.
        let (layout, phase) = (&self.layout, self.phase);
        let parts = layout.parts(words);
        let search = Search {
            used: parts.used,
            summary: parts.summary,
            levels: &layout.summary,
            phase,
        };
        if count > u32::MAX as usize {
            // Beyond what the run tree counts: the plain scans, unbounded.
            return search
                .fit_by_runs(count, align, window, usize::MAX)
                .unwrap_or(None);
        }
        // First the plain scans over the next few candidates (full stretches are skipped
        // through the summary): quicker than settling and descending the tree when the
        // fit is close, and bounded when it is not.
        let near = if count == 1 && align <= BITS {
            search.fit_in_words::<ONE>(count, align, window, NEAR_WORDS)
        } else if count <= FEW_UNITS && align <= BITS {
            search.fit_in_words::<SHORT>(count, align, window, NEAR_WORDS)
        } else if count <= BITS && align <= BITS {
            search.fit_in_words::<LONG>(count, align, window, NEAR_WORDS / 4)
        } else {
            search.fit_by_runs(count, align, window, NEAR_RUNS)
        };
        let from = match near {
            Ok(found) => return found,
            Err(resume) => resume,
        };
        self.demand.search();
        let parts = layout.parts_mut(words);
        layout.runs.settle(parts.used, parts.tree);
        let Parts { used, tree, .. } = layout.parts(words);
        // The lowest aligned start of `count` free units at or after `from`: the lowest
        // fit, unless it ends past the window (then so does every later one).
        let at = layout
            .runs
            .first_fit(used, tree, from, count, align, phase)?;
        (at.checked_add(count)? <= window.hi).then_some(at)
    }
}

/// A search over a bitmap's maps, borrowed: the used map and the summary, all the
/// plain scans read.
struct Search<'a> {
    used: &'a [u64],
    summary: &'a [u64],
    levels: &'a Summary,
    phase: usize,
}

impl Search<'_> {
    /// Free units of used-map word `w` below offset `hi` (none past the end).
    #[inline]
    fn free_bits(&self, w: usize, hi: usize) -> u64 {
        let Some(&used) = self.used.get(w) else {
            return 0;
        };
        let base = w * BITS;
        let limit = if hi >= base + BITS {
            u64::MAX
        } else {
            words::below_bit(hi.saturating_sub(base))
        };
        !used & limit
    }

    /// The word path over at most `budget` words that are not full: `Ok` with the
    /// answer, or `Err(resume)` when the budget ran out, every start below `resume`
    /// (and at or above `window.lo`) having been ruled out.
    /// `KIND` is what the count is: [`ONE`] (every free unit starts a run), [`SHORT`]
    /// (`count <= FEW_UNITS`: [`words::ShortRun`], without a branch) or [`LONG`]
    /// ([`words::run_starts`]).
    #[inline(always)]
    fn fit_in_words<const KIND: u8>(
        &self,
        count: usize,
        align: usize,
        window: Window,
        budget: usize,
    ) -> Result<Option<usize>, usize> {
        let (mut w, first_bit) = words::split(window.lo);
        let mut mask = words::from_bit(first_bit);
        let mut left = budget;
        // `align <= 64` divides every word's first offset: the aligned positions are
        // the same in every word.
        let aligned = words::aligned_positions(align, self.phase);
        let short = words::ShortRun::new(count);
        while w * BITS < window.hi {
            if left == 0 {
                return Err((w * BITS).max(window.lo));
            }
            left -= 1;
            let next_free = self.free_bits(w + 1, window.hi);
            let free = self.free_bits(w, window.hi);
            let starts = match KIND {
                ONE => free,
                SHORT => short.starts(free, next_free),
                _ => words::run_starts(free, next_free, count),
            };
            let hits = starts & mask & aligned;
            if hits != 0 {
                return Ok(Some(w * BITS + hits.trailing_zeros() as usize));
            }
            mask = u64::MAX;
            // The next word, just read, is the next one not full when it has a free
            // unit: the summary is asked only to skip full words.
            if next_free != 0 {
                w += 1;
                continue;
            }
            // A full word holds no start of a free run.
            match self.levels.next_not_full(self.summary, w + 1) {
                Some(next) => w = next,
                None => return Ok(None),
            }
        }
        Ok(None)
    }

    /// The run path over at most `budget` candidates: `Ok` with the answer, or
    /// `Err(resume)` when the budget ran out, every aligned start below `resume` (and at
    /// or above `window.lo`) having been ruled out.
    fn fit_by_runs(
        &self,
        count: usize,
        align: usize,
        window: Window,
        budget: usize,
    ) -> Result<Option<usize>, usize> {
        let Some(mut candidate) = align_up_with_phase(window.lo, align, self.phase) else {
            return Ok(None);
        };
        let mut left = budget;
        loop {
            if left == 0 {
                return Err(candidate);
            }
            left -= 1;
            let Some(end) = candidate.checked_add(count).filter(|&end| end <= window.hi) else {
                return Ok(None);
            };
            let Some(free) = next_free(self.used, self.summary, self.levels, candidate) else {
                return Ok(None);
            };
            let next = if free > candidate {
                align_up_with_phase(free, align, self.phase)
            } else {
                match words::first_set(self.used, candidate, end) {
                    None => return Ok(Some(candidate)),
                    Some(busy) => align_up_with_phase(busy + 1, align, self.phase),
                }
            };
            match next {
                Some(next) => candidate = next,
                None => return Ok(None),
            }
        }
    }
}

/// The first free unit at offset `>= from` of the used map `used`, skipping full words
/// through its summary (`levels` over the words `summary`).
pub(super) fn next_free(
    used: &[u64],
    summary: &[u64],
    levels: &Summary,
    from: usize,
) -> Option<usize> {
    let (w, bit) = words::split(from);
    let free = !*used.get(w)? & words::from_bit(bit);
    if free != 0 {
        return Some(w * BITS + free.trailing_zeros() as usize);
    }
    let w = levels.next_not_full(summary, w + 1)?;
    let free = !*used.get(w)?;
    (free != 0).then(|| w * BITS + free.trailing_zeros() as usize)
}
