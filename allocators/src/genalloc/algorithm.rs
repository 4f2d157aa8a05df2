//! The fit algorithms: where in one chunk a run of units goes.
//!
//! This module owns the *choice* of a position (lowest fit, smallest hole, a fixed
//! offset) and the search-claim-retry loop that turns a choice into an allocation when
//! other threads race for the same units. It reads the bitmap through its search
//! helpers and changes it only through [`Bitmap::claim`]; it never sees addresses.
#![forbid(unsafe_code)]

use super::access::Access;
use super::bits::Bitmap;
use super::summary::{LEAF_UNITS, Lowest, SmallestInClass, Summary, Window, class};
use crate::align_up_with_phase;

/// How to choose among the runs that fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Strategy {
    /// The lowest aligned run (Linux `gen_pool_first_fit*`).
    Lowest,
    /// The lowest aligned run inside the smallest free hole that holds one (Linux
    /// `gen_pool_best_fit`, ties going to the lowest hole).
    SmallestHole,
    /// Exactly the given unit or nothing (Linux `gen_pool_fixed_alloc`).
    At(usize),
}

/// What a search looks for, all in units of one chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Want {
    /// First unit a result may use.
    pub(crate) lo: usize,
    /// One past the last unit a result may use (at most the chunk's units).
    pub(crate) hi: usize,
    /// Units asked for (> 0).
    pub(crate) count: usize,
    /// Alignment in units (a power of two), relative to absolute unit 0.
    pub(crate) align: usize,
    /// Absolute unit index of the chunk's unit 0.
    pub(crate) phase: usize,
}

impl Want {
    /// The first aligned start inside `[from, to)` where `count` units end by `to`.
    fn fit_in(&self, from: usize, to: usize) -> Option<usize> {
        let start = align_up_with_phase(from, self.align, self.phase)?;
        let end = start.checked_add(self.count)?;
        (end <= to).then_some(start)
    }

    /// The units a result may use.
    const fn window(&self) -> Window {
        Window {
            lo: self.lo,
            hi: self.hi,
        }
    }
}

/// Where a search found room: the summary tree's answer is a hint that the claim
/// itself checks (a change in flight may have taken it); the word scan's is what the
/// words said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Found {
    /// From the summary tree.
    Tree(usize),
    /// From the word scan.
    Words(usize),
}

impl Found {
    /// The first unit of the room found.
    #[cfg(test)]
    const fn start(self) -> usize {
        match self {
            Self::Tree(start) | Self::Words(start) => start,
        }
    }
}

/// The lowest aligned free run: from the head's words while the tree defers its
/// updates, then from the summary tree when it is settled, otherwise by the word scan.
fn lowest<A: Access>(map: &Bitmap, want: &Want) -> Option<Found> {
    if let Some(tree) = map.summary() {
        if tree.deferring() {
            if let Some(start) = scan_head::<A>(map, want) {
                return Some(Found::Words(start));
            }
        }
        let found = tree_lowest::<A>(tree, map, want);
        // An answer in the head could have come from the word scan: it does not keep
        // the tree's updates eager.
        if found.is_some_and(|f| f.is_none_or(|start| start >= head_end(want))) {
            tree.needed();
        }
        match found {
            Some(None) => return None,
            Some(Some(start)) => return Some(Found::Tree(start)),
            None => {}
        }
    }
    scan_lowest::<A>(map, want).map(Found::Words)
}

/// [`lowest`] on the tree: `None` when the tree is not settled.
///
/// Over the whole map it starts from the tree's lowest run of `count` (one descent):
/// no fit lies below it, and when its aligned start still fits, which only needs the
/// fewer than `align` units past its first `count` to be free, that start is the
/// answer. Otherwise, and for windows, the walk visits the runs in order.
fn tree_lowest<A: Access>(tree: &Summary, map: &Bitmap, want: &Want) -> Option<Option<usize>> {
    if want.lo == 0 && want.hi == map.units() {
        let lowest = tree.lowest_run::<A>(map, want.count)?;
        if want.align == 1 {
            return Some(lowest);
        }
        let Some(run) = lowest else {
            // No run holds `count` units, aligned or not.
            return Some(None);
        };
        // `[run, run + count)` is free; so is the aligned fit if the units it adds are.
        if let Some(start) = want.fit_in(run, want.hi) {
            let (from, end) = (run + want.count, start + want.count);
            if map.next_busy::<A>(from, end) >= end {
                return Some(Some(start));
            }
        }
    }
    let mut visitor = Lowest {
        count: want.count,
        fit: |from, to| want.fit_in(from, to),
        found: None,
    };
    tree.walk::<A>(map, want.window(), &mut visitor)
        .then_some(visitor.found)
}

/// Units at the start of the window that first fit scans word by word before it asks
/// the tree: a fit this close costs a few word reads, and a search that ends here
/// leaves the tree alone, so it can go on deferring its updates.
const HEAD_UNITS: usize = LEAF_UNITS;

/// One past the last unit of the window's head.
fn head_end(want: &Want) -> usize {
    want.hi.min(want.lo.saturating_add(HEAD_UNITS))
}

/// [`lowest`] over the starts in the first [`HEAD_UNITS`] units of the window, by the
/// word scan; `None` when no fit starts there (or none fits at all).
fn scan_head<A: Access>(map: &Bitmap, want: &Want) -> Option<usize> {
    scan_lowest_below::<A>(map, want, head_end(want))
}

/// [`lowest`] by the word scan, judged on a snapshot of the map.
pub(crate) fn scan_lowest<A: Access>(map: &Bitmap, want: &Want) -> Option<usize> {
    scan_lowest_below::<A>(map, want, want.hi)
}

/// [`scan_lowest`] taking only free units below `free_below` as where a run starts
/// (the aligned fit in it may lie past them and end anywhere in the window).
fn scan_lowest_below<A: Access>(map: &Bitmap, want: &Want, free_below: usize) -> Option<usize> {
    let mut from = want.lo;
    loop {
        let free = map.next_free::<A>(from, free_below)?;
        let start = want.fit_in(free, want.hi)?;
        match map.last_busy::<A>(start, start + want.count) {
            None => return Some(start),
            Some(busy) => from = busy + 1,
        }
    }
}

/// The lowest aligned run in the smallest free hole (clipped to the window) that holds
/// one: from the summary tree when it is settled, size class by size class, otherwise
/// by the word scan.
///
/// Holes of a smaller size class are all smaller than those of a larger one, so the
/// answer is the best of the first class (from the request's own) that holds a fit;
/// the tree skips every subtree without a hole of that class.
fn smallest_hole<A: Access>(map: &Bitmap, want: &Want) -> Option<Found> {
    if let Some(found) = map
        .summary()
        .and_then(|tree| tree_smallest_hole::<A>(tree, map, want))
    {
        return found.map(Found::Tree);
    }
    scan_smallest_hole::<A>(map, want).map(Found::Words)
}

/// [`smallest_hole`] on the tree: `None` when the tree is not settled.
fn tree_smallest_hole<A: Access>(
    tree: &Summary,
    map: &Bitmap,
    want: &Want,
) -> Option<Option<usize>> {
    tree.needed();
    let span = want.hi.saturating_sub(want.lo);
    if span < want.count {
        return Some(None);
    }
    for class in class(want.count)..=class(span) {
        let mut visitor = SmallestInClass {
            count: want.count,
            class,
            fit: |from, to| want.fit_in(from, to),
            best: None,
        };
        if !tree.walk::<A>(map, want.window(), &mut visitor) {
            return None;
        }
        if let Some((_, start)) = visitor.best {
            return Some(Some(start));
        }
    }
    Some(None)
}

/// [`smallest_hole`] by the word scan: every hole of the window, an exact fit ending
/// the search early.
pub(crate) fn scan_smallest_hole<A: Access>(map: &Bitmap, want: &Want) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    let mut from = want.lo;
    while let Some(hole) = map.next_free::<A>(from, want.hi) {
        let end = map.next_busy::<A>(hole, want.hi);
        let len = end - hole;
        if let Some(start) = want.fit_in(hole, end) {
            if best.is_none_or(|(best_len, _)| len < best_len) {
                best = Some((len, start));
                if len == want.count {
                    break;
                }
            }
        }
        from = end;
    }
    best.map(|(_, start)| start)
}

/// Searches with `strategy` and claims the result, searching again whenever another
/// thread claimed part of the chosen run first.
///
/// Lock-free: a retry happens only after some other claim or free changed a word we
/// read, and a claim that loses rolls back at once, so the system as a whole always
/// progresses. Returns the first unit, or `None` when nothing fits any more.
///
/// Under contention the choice is only as good as the snapshot it was made on: a
/// straddling claim shows in its first word before it may lose the next one and roll
/// back, so a racing search can be pushed past units that turn out free (Linux's
/// `bitmap_set_ll` roll-back has the same effect). A result may then sit higher than
/// sequential first fit would put it, or a search may fail while a fit reappears; it
/// never overlaps another block.
pub(crate) fn allocate<A: Access>(map: &Bitmap, want: &Want, strategy: Strategy) -> Option<usize> {
    if want.count == 0 || want.hi > map.units() {
        return None;
    }
    loop {
        let found = match strategy {
            Strategy::Lowest => lowest::<A>(map, want)?,
            Strategy::SmallestHole => smallest_hole::<A>(map, want)?,
            Strategy::At(at) => {
                let end = at.checked_add(want.count)?;
                if at < want.lo || end > want.hi {
                    return None;
                }
                // A fixed claim does not retry: a conflict means the range is taken.
                return map.claim_as::<A>(at, want.count).ok().map(|()| at);
            }
        };
        let start = match found {
            Found::Words(start) => start,
            Found::Tree(start) => {
                // The claim checks the tree's answer; only a change still in flight can
                // have taken it, and the tree may not know of that change yet, so the
                // words decide the next try (asking the tree again could spin until
                // the other thread reported its change).
                if map.claim_as::<A>(start, want.count).is_ok() {
                    return Some(start);
                }
                match strategy {
                    Strategy::SmallestHole => scan_smallest_hole::<A>(map, want)?,
                    _ => scan_lowest::<A>(map, want)?,
                }
            }
        };
        if map.claim_as::<A>(start, want.count).is_ok() {
            return Some(start);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::genalloc::access::Shared;

    fn want(count: usize, align: usize, phase: usize, hi: usize) -> Want {
        Want {
            lo: 0,
            hi,
            count,
            align,
            phase,
        }
    }

    /// 0..2 used, 2..4 free, 4..5 used, 5..12 free, 12..13 used, 13..16 free.
    fn layout() -> Bitmap {
        let map = Bitmap::new(16).unwrap();
        map.claim(0, 2).unwrap();
        map.claim(4, 1).unwrap();
        map.claim(12, 1).unwrap();
        map
    }

    #[test]
    fn lowest_takes_the_first_hole_that_fits() {
        let map = layout();
        let lowest = |w: &Want| lowest::<Shared>(&map, w).map(Found::start);
        assert_eq!(lowest(&want(2, 1, 0, 16)), Some(2));
        assert_eq!(lowest(&want(3, 1, 0, 16)), Some(5));
        assert_eq!(lowest(&want(8, 1, 0, 16)), None);
        assert_eq!(lowest(&want(2, 4, 0, 16)), Some(8));
        // Absolute alignment: unit 5 sits at absolute 8 when the phase is 3.
        assert_eq!(lowest(&want(2, 8, 3, 16)), Some(5));
        let window = Want {
            lo: 6,
            hi: 12,
            ..want(3, 1, 0, 16)
        };
        assert_eq!(lowest(&window), Some(6));
    }

    #[test]
    fn smallest_hole_prefers_the_tightest_fit() {
        let map = layout();
        let smallest_hole = |w: &Want| smallest_hole::<Shared>(&map, w).map(Found::start);
        assert_eq!(smallest_hole(&want(2, 1, 0, 16)), Some(2));
        assert_eq!(smallest_hole(&want(3, 1, 0, 16)), Some(13));
        assert_eq!(smallest_hole(&want(4, 1, 0, 16)), Some(5));
        // Aligned to 4 only the 5..12 hole holds two units at 8.
        assert_eq!(smallest_hole(&want(2, 4, 0, 16)), Some(8));
        assert_eq!(smallest_hole(&want(8, 1, 0, 16)), None);
    }

    /// A map of `units` units with blocks claimed and released by a seeded script,
    /// large enough to have a summary tree.
    fn churned(units: usize, seed: u64) -> Bitmap {
        let map = Bitmap::new(units).unwrap();
        let mut rng = seed | 1;
        let mut next = |n: usize| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            usize::try_from(rng % n as u64).unwrap()
        };
        let mut live = alloc::vec::Vec::new();
        for _ in 0..units / 4 {
            if live.is_empty() || next(3) != 0 {
                let big = next(8) == 0;
                let count = 1 + next(if big { 200 } else { 12 });
                let at = next(units);
                if at + count <= units && map.claim(at, count).is_ok() {
                    live.push((at, count));
                }
            } else {
                let (at, count) = live.swap_remove(next(live.len()));
                map.release(at, count).unwrap();
            }
        }
        map
    }

    /// An aligned first fit over the whole map starts from the tree's lowest run of
    /// `count`: its aligned start is taken when the units it adds past the run's first
    /// `count` are free, and only then; a run one unit short sends the search on.
    #[test]
    fn an_aligned_fit_past_the_lowest_run_is_checked_unit_by_unit() {
        use crate::genalloc::access::Exclusive;
        let map = Bitmap::new(4 * LEAF_UNITS).unwrap();
        // Free: 70..190 (120 units, the lowest run of 120), 191..400, then a tail.
        map.claim(0, 70).unwrap();
        map.claim(190, 1).unwrap();
        map.claim(400, 1).unwrap();
        let tree = map.summary().unwrap();
        let w = |count| want(count, 64, 0, map.units());
        // 62 units fit at 128, ending at the busy unit 190; 63 would cover it.
        assert_eq!(
            tree_lowest::<Exclusive>(tree, &map, &w(62)),
            Some(Some(128))
        );
        assert_eq!(
            tree_lowest::<Exclusive>(tree, &map, &w(63)),
            Some(Some(192))
        );
        // The lowest run of 120 is exactly 120 units: at 128 they would cover 190.
        assert_eq!(
            tree_lowest::<Exclusive>(tree, &map, &w(120)),
            Some(Some(192))
        );
        assert_eq!(tree_lowest::<Shared>(tree, &map, &w(120)), Some(Some(192)));
        for count in [1, 62, 63, 72, 120, 121, 200, 209, 210, 300] {
            assert_eq!(
                tree_lowest::<Exclusive>(tree, &map, &w(count)),
                Some(scan_lowest::<Exclusive>(&map, &w(count))),
                "{count}"
            );
        }
    }

    /// The tree searches give exactly what the word scans give, for every kind of
    /// request: counts across size classes, alignments, phases and windows.
    #[test]
    #[cfg_attr(miri, ignore)]
    fn tree_searches_match_the_word_scans() {
        let mut found = 0;
        for (units, seed) in [(1000, 1), (4099, 2), (300, 3), (20_000, 4)] {
            let map = churned(units, seed);
            assert!(map.summary().is_some());
            for count in [1, 2, 3, 4, 5, 7, 8, 12, 16, 33, 100, 129, 250, 1000] {
                for (align, phase) in [(1, 0), (2, 1), (4, 0), (8, 3), (64, 5)] {
                    for (lo, hi) in [(0, units), (7, units - 3), (units / 3, units / 2)] {
                        let w = Want {
                            lo,
                            hi,
                            count,
                            align,
                            phase,
                        };
                        let tree = map.summary().unwrap();
                        let first = scan_lowest::<Shared>(&map, &w);
                        assert_eq!(tree_lowest::<Shared>(tree, &map, &w), Some(first), "{w:?}");
                        assert_eq!(lowest::<Shared>(&map, &w).map(Found::start), first);
                        let best = scan_smallest_hole::<Shared>(&map, &w);
                        assert_eq!(
                            tree_smallest_hole::<Shared>(tree, &map, &w),
                            Some(best),
                            "{w:?}"
                        );
                        assert_eq!(smallest_hole::<Shared>(&map, &w).map(Found::start), best);
                        found += usize::from(first.is_some());
                    }
                }
            }
        }
        // Most requests fit somewhere, so the answers were compared, not just `None`s.
        assert!(found > 600, "{found}");
    }

    #[test]
    fn fixed_claims_exactly_or_fails() {
        let map = layout();
        assert_eq!(
            allocate::<Shared>(&map, &want(2, 1, 0, 16), Strategy::At(3)),
            None
        );
        assert_eq!(
            allocate::<Shared>(&map, &want(2, 1, 0, 16), Strategy::At(2)),
            Some(2)
        );
        assert_eq!(
            allocate::<Shared>(&map, &want(4, 1, 0, 16), Strategy::At(13)),
            None
        );
        assert_eq!(
            allocate::<Shared>(&map, &want(3, 1, 0, 16), Strategy::At(13)),
            Some(13)
        );
    }

    #[test]
    fn allocate_claims_what_it_found() {
        let map = layout();
        assert_eq!(
            allocate::<Shared>(&map, &want(3, 1, 0, 16), Strategy::Lowest),
            Some(5)
        );
        assert_eq!(
            allocate::<Shared>(&map, &want(3, 1, 0, 16), Strategy::Lowest),
            Some(8)
        );
        assert_eq!(
            allocate::<Shared>(&map, &want(1, 1, 0, 16), Strategy::SmallestHole),
            Some(11)
        );
        assert_eq!(
            allocate::<Shared>(&map, &want(0, 1, 0, 16), Strategy::Lowest),
            None
        );
        assert_eq!(
            allocate::<Shared>(&map, &want(1, 1, 0, 17), Strategy::Lowest),
            None
        );
    }
}
