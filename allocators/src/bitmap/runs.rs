//! The run tree of the bitmap backend: where the free runs long enough for a request are.
//!
//! A complete binary tree over *leaves* of 128 units (two words of the used map). Every
//! inner node stores, for the units it covers, the free run at its start (`prefix`), the
//! free run at its end (`suffix`) and its longest free run, each a `u32` (12 bytes per
//! node, one node per leaf slot, slots rounded up to a power of two: 0.75 to 1.5 bits
//! per unit). Leaves are not stored: their runs are read off the two used words when
//! needed. [`RunTree::first_fit`] finds the lowest offset at or after a bound (and
//! aligned) where `count` free units start in `O(log n)` node visits plus one leaf scan
//! per level at most, whatever lies below it. A change of the used map
//! ([`RunTree::mark`]) is joined in at once while searches keep needing the tree
//! ([`Demand`]): the nodes wholly inside it written directly, the at most two per level
//! that hold its ends joined, and above where they meet, the ancestors up to where
//! nothing moved. Otherwise the nodes wholly inside it are written directly and those
//! above its two ends only marked stale, and a search first recomputes the stale ones
//! ([`RunTree::settle`]), so the tree costs nothing while the word scan finds every
//! fit.
//!
//! The tree lives in a slice of [`words`](RunTree::words) `u64`s that the bitmap's
//! storage holds: first one stale bit per node, then the nodes by sibling pairs, three
//! words a pair (each sibling's prefix and suffix runs, a word each, then both longest
//! runs in one word): 12 bytes per node, a node is read with two word loads and no wider
//! arithmetic, and the two children a join reads lie in one 24-byte stretch. [`RunTree`] itself
//! only knows the sizes, so the same code serves a heap bitmap and one over caller
//! storage, and [`init`](RunTree::init) is a `const fn`.
//!
//! Values saturate at `u32::MAX`; a saturated value still is at least any count the
//! tree is asked about, which is why [`RunTree::first_fit`] refuses counts above it.
//! This module only reads the used map; its owner must mark every change of it.

#![forbid(unsafe_code)]

use super::words;

/// Used-map words per leaf.
const LEAF_WORDS: usize = 2;
/// Units per leaf.
const LEAF_UNITS: usize = LEAF_WORDS * 64;
/// Changes after a search needed the run tree that are still joined into it at once
/// (see [`Demand`]): the tree stays settled while searches keep needing it, and goes
/// back to stale bits, which cost nothing more until the next search, once they stop.
/// Thirty-two save W1 1.7 % of its instructions and random descriptors at 64 B units
/// 0.9 %, but cost the scaling bench's allocate+free pair (1 to 16 units at 4 KiB)
/// about 2 % more time.
const EAGER_CHANGES: u32 = 16;

/// Free runs inside a leaf (between its prefix and suffix) that [`Runs::of_few_run_leaf`]
/// takes one by one before it falls back to the doubling search.
const INNER_RUNS: u32 = 3;

/// Leaves a change may span and be joined at once on [`EAGER_CHANGES`] alone. A longer
/// one is joined at once only if the searches before the last one came as close
/// together, too: two joins per level up to where its ends meet cost more than the
/// stale bits when later changes share its paths before the next search (video frames
/// allocated side by side, then freed together), and on random video at 64 B units,
/// where nearly every search needs the tree, the settle they spare is the larger part.
const EAGER_LEAVES: usize = 4;

/// How recently searches needed the run tree, in changes: what decides whether
/// [`RunTree::mark`] joins a change in at once or leaves it to the next search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Demand {
    /// Changes since a search last needed the tree (saturating).
    since_search: u32,
    /// Changes between the last two searches that needed it (saturating).
    last_gap: u32,
}

impl Demand {
    /// A new tree's: as if searches needed it just now.
    pub(super) const fn new() -> Self {
        Self {
            since_search: 0,
            last_gap: 0,
        }
    }

    /// Counts a change; returns the demand it is to be marked with.
    #[inline]
    pub(super) fn change(&mut self) -> Self {
        let now = *self;
        self.since_search = self.since_search.saturating_add(1);
        now
    }

    /// A search needed the tree.
    #[inline]
    pub(super) fn search(&mut self) {
        self.last_gap = self.since_search;
        self.since_search = 0;
    }

    /// Whether a change spanning `leaves` leaves is joined in at once.
    #[inline]
    const fn joins_at_once(self, leaves: usize) -> bool {
        if leaves <= EAGER_LEAVES {
            self.since_search < EAGER_CHANGES
        } else {
            max(self.since_search, self.last_gap) < EAGER_CHANGES
        }
    }
}

/// The larger of two `u32`s, in const context.
const fn max(a: u32, b: u32) -> u32 {
    if a > b { a } else { b }
}

/// The free runs of a stretch of units: at its start, at its end, and the longest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Runs {
    prefix: u32,
    suffix: u32,
    longest: u32,
}

impl Runs {
    /// The runs of one used word (a set bit is a used unit), run by run: the reference
    /// [`of_leaf`](Self::of_leaf) is tested against.
    #[cfg(test)]
    const fn of_word(used: u64) -> Self {
        match used {
            0 => Self {
                prefix: 64,
                suffix: 64,
                longest: 64,
            },
            u64::MAX => Self {
                prefix: 0,
                suffix: 0,
                longest: 0,
            },
            _ => {
                // Longest run of zero bits, one free run per step (at most 32).
                let (mut free, mut longest) = (!used, 0);
                while free != 0 {
                    let start = free.trailing_zeros();
                    let len = (!(free >> start)).trailing_zeros();
                    longest = max(longest, len);
                    // Clear the run: `len < 64` since `used` has a set bit.
                    free &= !(((1u64 << len) - 1) << start);
                }
                Self {
                    prefix: used.trailing_zeros(),
                    suffix: used.leading_zeros(),
                    longest,
                }
            }
        }
    }

    /// The runs of one leaf's 128 used bits, without a loop over its runs: the longest
    /// inside either word by doubling the run length while some run is that long, then
    /// adding halves (about 12 shift-and steps, both words at each), against the one
    /// across the middle. Word-wide shifts: a 128-bit shift by a variable amount costs
    /// several instructions more.
    #[inline(always)]
    const fn of_leaf(used: u128) -> Self {
        if used == u128::MAX {
            return Self {
                prefix: 0,
                suffix: 0,
                longest: 0,
            };
        }
        // The two halves: the casts keep exactly the bits they name.
        #[allow(clippy::cast_possible_truncation)]
        let (low, high) = (used as u64, (used >> 64) as u64);
        // Where a free run of `have` units starts, in each word.
        let (mut in_low, mut in_high, mut have) = (!low, !high, 1u32);
        if in_low | in_high == 0 {
            have = 0;
        }
        while have != 0 && have < 64 {
            let (low_longer, high_longer) =
                (in_low & (in_low >> have), in_high & (in_high >> have));
            if low_longer | high_longer == 0 {
                break;
            }
            (in_low, in_high) = (low_longer, high_longer);
            have *= 2;
        }
        // A run of `have` units exists in a word and none of `2 * have`: add the halves
        // that fit.
        let mut step = have / 2;
        while step >= 1 {
            if have + step <= 64 {
                let (low_longer, high_longer) =
                    (in_low & (in_low >> step), in_high & (in_high >> step));
                if low_longer | high_longer != 0 {
                    (in_low, in_high) = (low_longer, high_longer);
                    have += step;
                }
            }
            step /= 2;
        }
        Self {
            prefix: used.trailing_zeros(),
            suffix: used.leading_zeros(),
            longest: max(have, low.leading_zeros() + high.trailing_zeros()),
        }
    }

    /// [`of_leaf`](Self::of_leaf) for a leaf that likely holds few free runs strictly
    /// inside (between its prefix and its suffix), as the leaves at the ends of a long
    /// change and their siblings do on a map of large blocks: those runs are taken
    /// lowest first, a carry and two bit counts each, and only a leaf with more than
    /// [`INNER_RUNS`] of them takes the doubling search. On a leaf of many short runs
    /// (small blocks) this costs more than the doubling search alone, which is quick
    /// there, so single-leaf changes do not use it.
    #[inline(always)]
    const fn of_few_run_leaf(used: u128) -> Self {
        if used == 0 {
            return Self {
                prefix: 128,
                suffix: 128,
                longest: 128,
            };
        }
        let (prefix, suffix) = (used.trailing_zeros(), used.leading_zeros());
        // `x & (x + 1)` clears the trailing ones of `x`, here the prefix run; the mask
        // clears the suffix run (`suffix < 128`, as `used` has a set bit).
        let free = !used;
        let mut inner = free & free.wrapping_add(1) & (u128::MAX >> suffix);
        let mut longest = max(prefix, suffix);
        let mut runs = 0;
        while inner != 0 {
            if runs == INNER_RUNS {
                return Self::of_leaf(used);
            }
            // Adding the lowest set bit carries through the lowest run and stops on the
            // used unit after it (an inner run ends below the suffix run, so no
            // overflow).
            let past = inner.wrapping_add(inner & inner.wrapping_neg());
            longest = max(longest, past.trailing_zeros() - inner.trailing_zeros());
            inner &= past;
            runs += 1;
        }
        Self {
            prefix,
            suffix,
            longest,
        }
    }

    /// The runs of a stretch of `len` units all used (`used`) or all free, saturated as
    /// a join of its halves would be.
    #[inline(always)]
    fn uniform(len: usize, used: bool) -> Self {
        let full = if used {
            0
        } else {
            u32::try_from(len).unwrap_or(u32::MAX)
        };
        Self {
            prefix: full,
            suffix: full,
            longest: full,
        }
    }

    /// The runs of `left` (of `left_len` units) followed by `right` (of `right_len`).
    #[inline(always)]
    const fn join(left: Self, left_len: usize, right: Self, right_len: usize) -> Self {
        let prefix = if left.prefix as usize == left_len {
            left.prefix.saturating_add(right.prefix)
        } else {
            left.prefix
        };
        let suffix = if right.suffix as usize == right_len {
            right.suffix.saturating_add(left.suffix)
        } else {
            right.suffix
        };
        Self {
            prefix,
            suffix,
            longest: max(
                max(left.longest, right.longest),
                left.suffix.saturating_add(right.prefix),
            ),
        }
    }
}

/// A node of the tree as a search sees it: heap index, first unit, units covered.
#[derive(Clone, Copy, Debug)]
struct Node {
    index: usize,
    lo: usize,
    len: usize,
}

/// Word `w` of `words`, 0 past the end.
const fn word(words: &[u64], w: usize) -> u64 {
    if w < words.len() { words[w] } else { 0 }
}

/// The `u32` half `half` (0: low, 1: high) of `word`.
const fn half_of(word: u64, half: usize) -> u32 {
    // The shift moves the half to the bottom; the cast keeps exactly it.
    #[allow(clippy::cast_possible_truncation)]
    let value = (word >> (half * 32)) as u32;
    value
}

/// The run tree over a used map of a fixed number of words: its shape and where its
/// parts lie in the tree's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct RunTree {
    /// Leaf slots, a power of two (slots past the map read as fully used).
    leaves: usize,
    /// Words of stale bits at the start of the tree's words, one bit per inner node:
    /// its stored runs are stale. The ancestors of a stale node are stale too, so
    /// [`settle`](Self::settle) finds them all from the root. The nodes follow, in heap
    /// order: the root is 1, the children of `i` are `2i`, `2i + 1` (slot 0 unused);
    /// indices `leaves..2 * leaves` are the leaves, not stored.
    stale_words: usize,
}

impl RunTree {
    /// The tree over a used map of `used_words` words.
    pub(super) const fn new(used_words: usize) -> Self {
        let pairs = used_words.div_ceil(LEAF_WORDS);
        let leaves = if pairs > 1 { pairs } else { 1 }.next_power_of_two();
        let stale_words = Self::stored(leaves).div_ceil(64);
        Self {
            leaves,
            stale_words,
        }
    }

    /// Stored nodes: one per leaf slot (slot 0 spent to keep heap order), none for a
    /// tree of one leaf.
    const fn stored(leaves: usize) -> usize {
        if leaves > 1 { leaves } else { 0 }
    }

    /// Words the tree needs: `ceil(t / 64)` of stale bits and `12 t / 8` of nodes for
    /// `t` leaf slots (a power of two of 128-unit leaves, so `t` is even), none for a
    /// space of at most one leaf.
    pub(super) const fn words(&self) -> usize {
        self.stale_words + Self::stored(self.leaves) / 2 * 3
    }

    /// Builds the tree of `used` in `tree` (its [`words`](Self::words) words, all
    /// clear): every inner node from its children, none stale.
    pub(super) const fn init(&self, used: &[u64], tree: &mut [u64]) {
        let mut i = self.leaves;
        while i > 1 {
            i -= 1;
            let runs = self.join_children(used, tree, i, self.len_of(2 * i));
            self.set_node(tree, i, runs);
        }
    }

    /// Where inner node `i`'s prefix and suffix runs lie, and the word holding its
    /// longest run (low half for even `i`, high for odd).
    #[inline(always)]
    const fn slots(&self, i: usize) -> (usize, usize) {
        let pair = self.stale_words + i / 2 * 3;
        (pair + i % 2, pair + 2)
    }

    /// The stored runs of inner node `i`.
    #[inline(always)]
    const fn node(&self, tree: &[u64], i: usize) -> Runs {
        let (ends, longest) = self.slots(i);
        let ends = word(tree, ends);
        Runs {
            prefix: half_of(ends, 0),
            suffix: half_of(ends, 1),
            longest: half_of(word(tree, longest), i % 2),
        }
    }

    #[inline(always)]
    const fn set_node(&self, tree: &mut [u64], i: usize, runs: Runs) {
        let (ends, longest) = self.slots(i);
        if longest >= tree.len() {
            return;
        }
        tree[ends] = runs.prefix as u64 | (runs.suffix as u64) << 32;
        let shift = i % 2 * 32;
        tree[longest] = tree[longest] & !(0xFFFF_FFFF << shift) | (runs.longest as u64) << shift;
    }

    /// Units covered by a node of index `i`.
    const fn len_of(&self, i: usize) -> usize {
        // Depth below the root: leaves are at depth log2(leaves).
        let depth = (usize::BITS - 1 - i.leading_zeros()) as usize;
        let leaf_depth = self.leaves.trailing_zeros() as usize;
        LEAF_UNITS << (leaf_depth - depth)
    }

    /// The runs of node `i` (inner: stored; leaf: read off the used map).
    #[inline(always)]
    const fn runs(&self, used: &[u64], tree: &[u64], i: usize) -> Runs {
        if i < self.leaves {
            return self.node(tree, i);
        }
        let w = (i - self.leaves) * LEAF_WORDS;
        let (first, second) = (
            words::word_or_full(used, w),
            words::word_or_full(used, w + 1),
        );
        Runs::of_leaf(first as u128 | (second as u128) << 64)
    }

    /// The runs of leaf node `i` (`leaves <= i`), by [`Runs::of_few_run_leaf`].
    #[inline(always)]
    const fn few_run_leaf(&self, used: &[u64], i: usize) -> Runs {
        let w = (i - self.leaves) * LEAF_WORDS;
        let (first, second) = (
            words::word_or_full(used, w),
            words::word_or_full(used, w + 1),
        );
        Runs::of_few_run_leaf(first as u128 | (second as u128) << 64)
    }

    /// The runs of inner node `i` from its children, each of `half` units. Inner
    /// children are a sibling pair, read as their three words at once.
    const fn join_children(&self, used: &[u64], tree: &[u64], i: usize, half: usize) -> Runs {
        if 2 * i >= self.leaves {
            // Settling joins leaves after long changes (the single-leaf ones climb at
            // once while searches need the tree): mostly few runs inside.
            return Runs::join(
                self.few_run_leaf(used, 2 * i),
                half,
                self.few_run_leaf(used, 2 * i + 1),
                half,
            );
        }
        // The pair of children `2i`, `2i + 1` (see `slots`).
        let pair = self.stale_words + i * 3;
        let (left, right, longest) = (word(tree, pair), word(tree, pair + 1), word(tree, pair + 2));
        Runs::join(
            Runs {
                prefix: half_of(left, 0),
                suffix: half_of(left, 1),
                longest: half_of(longest, 0),
            },
            half,
            Runs {
                prefix: half_of(right, 0),
                suffix: half_of(right, 1),
                longest: half_of(longest, 1),
            },
            half,
        )
    }

    /// Brings the tree up to `[start, end)` (units) of `used_map` having become all used
    /// (`used`) or all free: at once when the tree is settled and `demand` says
    /// searches keep needing it ([`Demand::joins_at_once`]; a [climb](Self::climb)
    /// within one leaf, [`update_range`](Self::update_range) across more), or by
    /// marking it stale for the next search to settle
    /// ([`mark_stale`](Self::mark_stale)). Eager updates keep a tree that searches keep
    /// needing settled at the cost of the joins that change something; stale bits cost
    /// nothing more while no search needs the tree.
    pub(super) fn mark(
        &self,
        used_map: &[u64],
        tree: &mut [u64],
        (start, end): (usize, usize),
        used: bool,
        demand: Demand,
    ) {
        if self.leaves <= 1 || start >= end || tree.len() < self.words() {
            return;
        }
        let (first, last) = (start / LEAF_UNITS, (end - 1) / LEAF_UNITS);
        // The count alone first: a change on a quiet tree, the most frequent, goes
        // stale after one compare.
        if demand.since_search < EAGER_CHANGES
            && (first == last || demand.joins_at_once(last - first + 1))
            && !words::test(tree, 1)
        {
            if first == last {
                self.climb(used_map, tree, first);
            } else {
                // A copy per direction: the runs of the nodes inside the change are
                // then constants, and the joins with them fold.
                if used {
                    self.update_range::<true>(used_map, tree, (start, end));
                } else {
                    self.update_range::<false>(used_map, tree, (start, end));
                }
            }
        } else {
            self.mark_stale(tree, start, end, used);
        }
    }

    /// Rejoins the ancestors of leaf `leaf` (whose used units changed) bottom up, each
    /// from the runs just joined below it and its sibling's, until one comes out as
    /// stored: then, with the rest of the tree settled, so do all above it. Half the
    /// reads of joining each ancestor from both its children, and no level bounds.
    fn climb(&self, used_map: &[u64], tree: &mut [u64], leaf: usize) {
        let i = leaf + self.leaves;
        let runs = self.runs(used_map, tree, i);
        let sibling = self.runs(used_map, tree, i ^ 1);
        let joined = if i % 2 == 0 {
            Runs::join(runs, LEAF_UNITS, sibling, LEAF_UNITS)
        } else {
            Runs::join(sibling, LEAF_UNITS, runs, LEAF_UNITS)
        };
        self.rejoin_from(tree, i / 2, joined, 2 * LEAF_UNITS);
    }

    /// Stores `joined`, the runs inner node `i` (of `len` units) now has, and rejoins its
    /// ancestors from it and their other children, up to the first node that comes out
    /// as stored: with the rest of the tree settled, so does every node above it. Each
    /// level reads the node's sibling pair once, three words behind one bounds check:
    /// its stored runs, to compare, and its sibling's, for the join above.
    #[inline(always)]
    fn rejoin_from(&self, tree: &mut [u64], mut i: usize, mut joined: Runs, mut len: usize) {
        loop {
            let pair = self.stale_words + i / 2 * 3;
            let Some(words) = tree.get_mut(pair..pair + 3) else {
                return;
            };
            let (side, shift) = (i % 2, i % 2 * 32);
            // Compared as the stored words, not field by field.
            let ends = u64::from(joined.prefix) | u64::from(joined.suffix) << 32;
            let longest = words[2];
            let new_longest =
                longest & !(0xFFFF_FFFF << shift) | u64::from(joined.longest) << shift;
            if words[side] == ends && longest == new_longest {
                return;
            }
            words[side] = ends;
            words[2] = new_longest;
            if i <= 1 {
                return;
            }
            let other = words[side ^ 1];
            let sibling = Runs {
                prefix: half_of(other, 0),
                suffix: half_of(other, 1),
                longest: half_of(longest, side ^ 1),
            };
            joined = if side == 0 {
                Runs::join(joined, len, sibling, len)
            } else {
                Runs::join(sibling, len, joined, len)
            };
            i /= 2;
            len *= 2;
        }
    }

    /// Stores `runs` as inner node `i`'s and returns its sibling's stored runs, from the
    /// pair's three words behind one bounds check.
    #[inline(always)]
    fn store_returning_sibling(&self, tree: &mut [u64], i: usize, runs: Runs) -> Runs {
        let pair = self.stale_words + i / 2 * 3;
        let Some(words) = tree.get_mut(pair..pair + 3) else {
            return Runs::default();
        };
        let (side, shift) = (i % 2, i % 2 * 32);
        words[side] = u64::from(runs.prefix) | u64::from(runs.suffix) << 32;
        let longest = words[2] & !(0xFFFF_FFFF << shift) | u64::from(runs.longest) << shift;
        words[2] = longest;
        let other = words[side ^ 1];
        Runs {
            prefix: half_of(other, 0),
            suffix: half_of(other, 1),
            longest: half_of(longest, side ^ 1),
        }
    }

    /// [`mark`](Self::mark) of `[start, end)` (all used if `USED`, else all free) on a
    /// settled tree, which it leaves settled, level by level from the leaves: the nodes
    /// wholly inside the range get the runs of an all-used or all-free stretch without
    /// reading their children, and only the (at most two) nodes of a level holding an end
    /// of the range are joined, from the end nodes just computed below them and either a
    /// node wholly inside or an untouched sibling. Once both ends lie in one node, its
    /// ancestors are rejoined up to where nothing moved. Two joins per level below that
    /// node and one node write per node inside, against a climb per leaf.
    // Out of line: a longer body in `mark` costs every single-leaf change its prologue.
    #[inline(never)]
    fn update_range<const USED: bool>(
        &self,
        used_map: &[u64],
        tree: &mut [u64],
        (start, end): (usize, usize),
    ) {
        let used = USED;
        let (mut lo, mut hi) = (
            start / LEAF_UNITS + self.leaves,
            (end - 1) / LEAF_UNITS + self.leaves,
        );
        // Leaves at the ends of a long change: mostly a block's end and free units, or
        // whole words of either.
        let (mut lo_runs, mut hi_runs) = (
            self.few_run_leaf(used_map, lo),
            self.few_run_leaf(used_map, hi),
        );
        // The untouched siblings the end nodes are joined with while the ends lie in
        // different parents: `lo - 1` when `lo` is a right child, `hi + 1` when `hi` is
        // a left one (the other siblings lie inside the range).
        let apart = lo / 2 != hi / 2;
        let mut lo_sibling = if apart && lo % 2 == 1 {
            self.few_run_leaf(used_map, lo - 1)
        } else {
            Runs::default()
        };
        let mut hi_sibling = if apart && hi % 2 == 0 {
            self.few_run_leaf(used_map, hi + 1)
        } else {
            Runs::default()
        };
        let mut len = LEAF_UNITS;
        while lo / 2 != hi / 2 {
            // Node `lo + 1` (when `lo` is a left child) and node `hi - 1` (when `hi` is a
            // right child) lie strictly between the two ends: wholly inside the range.
            let inside = Runs::uniform(len, used);
            let lo_parent = if lo % 2 == 0 {
                Runs::join(lo_runs, len, inside, len)
            } else {
                Runs::join(lo_sibling, len, lo_runs, len)
            };
            let hi_parent = if hi % 2 == 1 {
                Runs::join(inside, len, hi_runs, len)
            } else {
                Runs::join(hi_runs, len, hi_sibling, len)
            };
            (lo, hi, len) = (lo / 2, hi / 2, len * 2);
            // When the new ends are siblings, the siblings read here are each other's
            // (the first one before its write): unused, as the loop ends.
            lo_sibling = self.store_returning_sibling(tree, lo, lo_parent);
            hi_sibling = self.store_returning_sibling(tree, hi, hi_parent);
            if hi - lo > 1 {
                self.fill(tree, lo + 1..hi, len, used);
            }
            (lo_runs, hi_runs) = (lo_parent, hi_parent);
        }
        if lo == 1 {
            return;
        }
        let joined = if lo == hi {
            // Within one node: joined with its untouched sibling.
            let sibling = self.runs(used_map, tree, lo ^ 1);
            if lo % 2 == 0 {
                Runs::join(lo_runs, len, sibling, len)
            } else {
                Runs::join(sibling, len, lo_runs, len)
            }
        } else {
            Runs::join(lo_runs, len, hi_runs, len)
        };
        self.rejoin_from(tree, lo / 2, joined, 2 * len);
    }

    /// The inner levels above the leaves of units `start..end`, bottom up: on each,
    /// the nodes that cover part of the range and those wholly inside it.
    fn levels(&self, start: usize, end: usize) -> impl Iterator<Item = Level> {
        let (mut lo, mut hi) = (
            start / LEAF_UNITS + self.leaves,
            (end - 1) / LEAF_UNITS + self.leaves,
        );
        // Nodes of a level cover `1 << shift` units each (shifts, not divisions: the
        // compiler cannot see that the lengths are powers of two).
        let mut shift = LEAF_UNITS.trailing_zeros();
        core::iter::from_fn(move || {
            lo /= 2;
            hi /= 2;
            shift += 1;
            if lo < 1 {
                return None;
            }
            let len = 1usize << shift;
            // The first index of this level; node `i` covers `(i - level) * len ..`.
            let level = 1 << (usize::BITS - 1 - lo.leading_zeros());
            Some(Level {
                lo,
                hi,
                inside_lo: (level + ((start + len - 1) >> shift)).max(lo),
                inside_hi: (level + (end >> shift)).min(hi + 1),
                len,
            })
        })
    }

    /// Writes the runs of nodes `range` of `len` units each, all used (`used`) or all
    /// free.
    #[inline(always)]
    fn fill(&self, tree: &mut [u64], range: core::ops::Range<usize>, len: usize, used: bool) {
        let runs = Runs::uniform(len, used);
        let full = runs.prefix;
        let (mut lo, mut hi) = (range.start, range.end);
        if lo % 2 == 1 && lo < hi {
            self.set_node(tree, lo, runs);
            lo += 1;
        }
        if hi % 2 == 1 && lo < hi {
            hi -= 1;
            self.set_node(tree, hi, runs);
        }
        // Whole sibling pairs in between: their three words are the same, stored
        // without reading them (a long change writes thousands of nodes).
        let ends = u64::from(full) | u64::from(full) << 32;
        let pairs = self.stale_words + lo / 2 * 3..self.stale_words + hi / 2 * 3;
        if let Some(words) = tree.get_mut(pairs) {
            for pair in words.chunks_exact_mut(3) {
                pair.copy_from_slice(&[ends, ends, ends]);
            }
        }
    }

    /// [`mark`](Self::mark) by stale bits: nodes wholly inside the range get their runs
    /// written directly and lose their stale bit; the at most two nodes per level that
    /// straddle an end of the range are marked stale, up to the first single ancestor
    /// already stale, and recomputed when a search needs the tree
    /// ([`settle`](Self::settle)).
    fn mark_stale(&self, tree: &mut [u64], start: usize, end: usize, used: bool) {
        let (lo, hi) = (
            start / LEAF_UNITS + self.leaves,
            (end - 1) / LEAF_UNITS + self.leaves,
        );
        if lo == hi {
            // Within one leaf (most changes): its ancestors, up to one already stale.
            let mut i = lo / 2;
            while i >= 1 {
                let (w, bit) = (i / 64, 1 << (i % 64));
                match tree.get_mut(w) {
                    Some(word) if *word & bit == 0 => *word |= bit,
                    _ => return,
                }
                i /= 2;
            }
            return;
        }
        for Level {
            lo,
            hi,
            inside_lo,
            inside_hi,
            len,
        } in self.levels(start, end)
        {
            if inside_lo < inside_hi {
                self.fill(tree, inside_lo..inside_hi, len, used);
                words::assign_range(tree, inside_lo, inside_hi, false);
                words::assign_range(tree, lo, inside_lo, true);
                words::assign_range(tree, inside_hi, hi + 1, true);
            } else {
                if lo == hi && words::test(tree, lo) {
                    break;
                }
                words::assign_range(tree, lo, hi + 1, true);
            }
        }
    }

    /// Recomputes every stale node from `used`, children first: `O(stale nodes)`.
    pub(super) fn settle(&self, used: &[u64], tree: &mut [u64]) {
        if self.leaves <= 1 || tree.len() < self.words() || !words::test(tree, 1) {
            return;
        }
        // Children first, in a loop rather than a recursion: down to a stale node
        // whose children are all settled, join it, back up to its parent (still
        // stale) and down again to its other stale child if any. The ancestors of a
        // stale node are stale, so this reaches every one from the root.
        let (mut i, mut half) = (1, LEAF_UNITS * self.leaves / 2);
        loop {
            let (left, right) = (2 * i, 2 * i + 1);
            if left < self.leaves && words::test(tree, left) {
                (i, half) = (left, half / 2);
                continue;
            }
            if right < self.leaves && words::test(tree, right) {
                (i, half) = (right, half / 2);
                continue;
            }
            let runs = self.join_children(used, tree, i, half);
            self.set_node(tree, i, runs);
            words::assign(tree, i, false);
            if i == 1 {
                return;
            }
            (i, half) = (i / 2, half * 2);
        }
    }

    /// The lowest offset `p >= from` such that `[p, p + count)` is free, if any, on a
    /// [settled](Self::settle) tree. `None` also for `count == 0` or `count > u32::MAX`
    /// (the caller searches those another way).
    #[cfg(test)]
    pub(super) fn first_run(
        &self,
        used: &[u64],
        tree: &[u64],
        from: usize,
        count: usize,
    ) -> Option<usize> {
        self.first_fit(used, tree, from, count, 1, 0)
    }

    /// The lowest offset `p >= from` with `phase + p` a multiple of `align` (a power of
    /// two) such that `[p, p + count)` is free, if any, on a [settled](Self::settle)
    /// tree. `None` also for `count == 0` or `count > u32::MAX` (the caller searches
    /// those another way). The alignment is checked on each free run long enough as the
    /// descent meets it, so a run whose aligned part is too short costs no new descent.
    pub(super) fn first_fit(
        &self,
        used: &[u64],
        tree: &[u64],
        from: usize,
        count: usize,
        align: usize,
        phase: usize,
    ) -> Option<usize> {
        if count == 0 || count > u32::MAX as usize {
            return None;
        }
        let walk = Walk {
            tree: self,
            used,
            words: tree,
            from,
            count,
            align,
            phase,
        };
        walk.visit()
    }

    /// The longest free run anywhere (saturated at `u32::MAX`).
    #[cfg(test)]
    pub(super) fn longest(&self, used: &[u64], tree: &[u64]) -> usize {
        self.runs(used, tree, 1).longest as usize
    }
}

/// Whether `free` has `count` consecutive set bits (`1 <= count <= 128`): `log2(count)`
/// shift-and steps.
fn has_run(free: u128, count: usize) -> bool {
    let (mut starts, mut have) = (free, 1);
    while have < count && starts != 0 {
        // `have < count <= 128`, so `1 <= step < 128`.
        let step = have.min(count - have);
        starts &= starts >> step;
        have += step;
    }
    starts != 0
}

/// One search of [`RunTree::first_fit`]: the tree, the used map and the tree's words,
/// and the request, so that each step of the descent passes only its node and carry.
struct Walk<'a> {
    tree: &'a RunTree,
    used: &'a [u64],
    words: &'a [u64],
    from: usize,
    count: usize,
    align: usize,
    phase: usize,
}

impl Walk<'_> {
    /// The aligned start of the request in the free run `[start, end)`, if it holds one.
    #[inline]
    fn fit(&self, start: usize, end: usize) -> Option<usize> {
        let at = crate::align_up_with_phase(start, self.align, self.phase)?;
        (at.checked_add(self.count)? <= end).then_some(at)
    }

    /// [`visit`](Self::visit) of leaf `leaf` (first unit `lo >= from`): its free prefix
    /// against the carry, then whether any run inside it is long enough (a few
    /// shift-and steps, not its full runs), and only then a [scan](Self::scan_leaf).
    fn visit_leaf(&self, leaf: usize, lo: usize, carry: &mut usize) -> Option<usize> {
        let w = leaf * LEAF_WORDS;
        let word = |k: usize| u128::from(self.used.get(w + k).copied().unwrap_or(u64::MAX));
        let used = word(0) | (word(1) << 64);
        let prefix = used.trailing_zeros() as usize;
        if *carry + prefix >= self.count {
            // The run so far (it goes on past the leaf when the leaf is all free).
            if let Some(at) = self.fit(lo - *carry, lo + prefix) {
                return Some(at);
            }
            if prefix == LEAF_UNITS {
                *carry += LEAF_UNITS;
                return None;
            }
        }
        if self.count > LEAF_UNITS || !has_run(!used, self.count) {
            *carry = if prefix == LEAF_UNITS {
                *carry + LEAF_UNITS
            } else {
                used.leading_zeros() as usize
            };
            return None;
        }
        self.scan_leaf(leaf, lo, carry)
    }

    /// [`visit`](Self::visit) of a leaf, unit run by unit run.
    fn scan_leaf(&self, leaf: usize, lo: usize, carry: &mut usize) -> Option<usize> {
        let (from, count) = (self.from, self.count);
        let w = leaf * LEAF_WORDS;
        let word = |k: usize| u128::from(self.used.get(w + k).copied().unwrap_or(u64::MAX));
        let free = !(word(0) | (word(1) << 64));
        let mut bit = 0;
        if from > lo {
            bit = from - lo;
            *carry = 0;
        }
        while bit < LEAF_UNITS {
            let rest = free >> bit;
            if rest & 1 == 0 {
                *carry = 0;
                if rest == 0 {
                    return None;
                }
                bit += rest.trailing_zeros() as usize;
                continue;
            }
            // The shift filled the top with used units, so the run stops at the end.
            let run = (!rest).trailing_zeros() as usize;
            if *carry + run >= count {
                // The run so far (it may go on past the leaf).
                if let Some(at) = self.fit(lo + bit - *carry, lo + bit + run) {
                    return Some(at);
                }
            }
            if bit + run >= LEAF_UNITS {
                *carry += run;
                return None;
            }
            *carry = 0;
            bit += run;
        }
        None
    }

    /// Searches the tree from the leaf holding `from` on, node by node in address
    /// order: a loop rather than a recursion into both children, so no call is made
    /// per node. A
    /// node's search is one [step](Self::step); a node ruled out hands over to the
    /// next one in address order, its parent's right sibling once it is a right child
    /// (both children ruled out rule the parent out), until the root is.
    fn visit(&self) -> Option<usize> {
        // The free run (at or after `from`) that ends right before the current node.
        let mut carry = 0;
        // From the leaf holding `from` rather than the root: every node the descent
        // would pass on the way down to it either holds `from` (it descends) or lies
        // below it (ruled out), and from that leaf on the walk is the same.
        let leaf = self.from / LEAF_UNITS;
        if leaf >= self.tree.leaves {
            return None;
        }
        let (mut i, mut lo, mut len) = (self.tree.leaves + leaf, leaf * LEAF_UNITS, LEAF_UNITS);
        // That leaf is the only node the walk meets that starts below `from`: every
        // later one lies after it or inside a node that does, which is what `step`
        // takes for granted.
        let first = if lo >= self.from {
            self.visit_leaf(leaf, lo, &mut carry)
        } else {
            self.scan_leaf(leaf, lo, &mut carry)
        };
        let mut step = Step::of(first);
        loop {
            match step {
                Step::Found(at) => return Some(at),
                Step::Descend => {
                    i *= 2;
                    len /= 2;
                }
                Step::RuledOut => {
                    while i % 2 == 1 {
                        if i == 1 {
                            return None;
                        }
                        i /= 2;
                        lo -= len;
                        len *= 2;
                    }
                    i += 1;
                    lo += len;
                }
            }
            step = self.step(Node { index: i, lo, len }, &mut carry);
        }
    }

    /// One node of [`visit`](Self::visit) after the first: the node `i`, which covers
    /// units from `lo`, at or after `from`; `carry` as there, updated to the free run
    /// that ends at the end of the node when the node is ruled out.
    #[inline(always)]
    fn step(&self, node: Node, carry: &mut usize) -> Step {
        let Node { index: i, lo, len } = node;
        let count = self.count;
        let leaves = self.tree.leaves;
        if i >= leaves {
            return Step::of(self.visit_leaf(i - leaves, lo, carry));
        }
        let runs = self.tree.node(self.words, i);
        let prefix = runs.prefix as usize;
        if *carry + prefix >= count {
            // The run so far (it goes on past the node when the node is all free).
            if let Some(at) = self.fit(lo - *carry, lo + prefix) {
                return Step::Found(at);
            }
            if prefix == len {
                *carry += len;
                return Step::RuledOut;
            }
            // Its aligned part is too short: look past it, inside the node.
        }
        if (runs.longest as usize) < count {
            *carry = if prefix == len {
                *carry + len
            } else {
                runs.suffix as usize
            };
            return Step::RuledOut;
        }
        Step::Descend
    }
}

/// What one node of a search came to ([`Walk::step`]).
enum Step {
    /// The lowest fit, inside the node or starting in the free run before it.
    Found(usize),
    /// No fit starts before the node's end.
    RuledOut,
    /// A fit may lie inside: its children decide, in order.
    Descend,
}

impl Step {
    /// A leaf's search result as a step.
    fn of(found: Option<usize>) -> Self {
        match found {
            Some(at) => Self::Found(at),
            None => Self::RuledOut,
        }
    }
}

/// One level of the walk from a changed range's leaves to the root
/// ([`RunTree::levels`]).
struct Level {
    /// The first node of the level that covers part of the range.
    lo: usize,
    /// The last one.
    hi: usize,
    /// The nodes wholly inside the range are `inside_lo..inside_hi` (empty when
    /// `inside_lo >= inside_hi`).
    inside_lo: usize,
    /// See `inside_lo`.
    inside_hi: usize,
    /// Units per node of the level.
    len: usize,
}

#[cfg(test)]
mod tests {
    use super::{Demand, EAGER_CHANGES, EAGER_LEAVES, RunTree, Runs, words};
    use alloc::vec;
    use alloc::vec::Vec;

    /// A tree and its words, as a bitmap's storage holds them, built over `used`.
    fn built(used: &[u64]) -> (RunTree, Vec<u64>) {
        let tree = RunTree::new(used.len());
        let mut words = vec![0; tree.words()];
        tree.init(used, &mut words);
        (tree, words)
    }

    /// The lowest `p >= from` with `count` free units, unit by unit.
    fn naive(used: &[u64], units: usize, from: usize, count: usize) -> Option<usize> {
        let free = |u: usize| u < units && used[u / 64] & (1 << (u % 64)) == 0;
        (from..units).find(|&p| (p..p + count).all(free))
    }

    fn check(used: &[u64], units: usize) {
        let (tree, words) = built(used);
        for from in (0..units).step_by(7) {
            for count in [1, 2, 5, 63, 64, 65, 127, 128, 129, 300, 1000] {
                assert_eq!(
                    tree.first_run(used, &words, from, count),
                    naive(used, units, from, count),
                    "from {from} count {count}"
                );
                for (align, phase) in [(2, 1), (8, 3), (64, 0), (128, 77)] {
                    let free = |u: usize| u < units && used[u / 64] & (1 << (u % 64)) == 0;
                    let aligned = (from..units)
                        .find(|&p| (phase + p) % align == 0 && (p..p + count).all(free));
                    assert_eq!(
                        tree.first_fit(used, &words, from, count, align, phase),
                        aligned,
                        "from {from} count {count} align {align} phase {phase}"
                    );
                }
            }
        }
    }

    #[test]
    fn word_runs() {
        assert_eq!(
            Runs::of_word(0),
            Runs {
                prefix: 64,
                suffix: 64,
                longest: 64
            }
        );
        let r = Runs::of_word(0b1000_0001_0000);
        assert_eq!((r.prefix, r.suffix, r.longest), (4, 52, 52));
        let r = Runs::of_word(!(0xFFFF_u64 << 20) & !1);
        assert_eq!((r.prefix, r.suffix, r.longest), (1, 0, 16));
        let r = Runs::of_word(1 << 63);
        assert_eq!((r.prefix, r.suffix, r.longest), (63, 0, 63));
        assert_eq!(Runs::of_word(u64::MAX).longest, 0);
    }

    #[test]
    fn leaf_runs_match_word_runs() {
        let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut cases = vec![(0, 0), (u64::MAX, u64::MAX), (0, u64::MAX), (u64::MAX, 0)];
        for _ in 0..20_000 {
            let (a, b, c, d) = (next(), next(), next(), next());
            // Sparse, dense and mixed words, so runs of every length occur.
            cases.push((a & b & c, d | a));
            cases.push((a & b & c & d, b & c & d));
            cases.push((a | b, a & b & c & d));
            cases.push((1 << (a % 64), 1 << (b % 64)));
            // Blocks: used runs of any length with free runs between, from none inside
            // the leaf to more than `of_few_run_leaf` takes one by one.
            let mut blocks = 0u128;
            let (mut at, blocks_wanted) = ((c % 24) as u32, 1 + d % 10);
            for k in 0..blocks_wanted {
                let len = 1 + ((a >> (6 * k)) % 20) as u32;
                if at + len > 128 {
                    break;
                }
                blocks |= (u128::MAX >> (128 - len)) << at;
                at += len + 1 + ((b >> (5 * k)) % 16) as u32;
                if at >= 128 {
                    break;
                }
            }
            #[allow(clippy::cast_possible_truncation)]
            cases.push((blocks as u64, (blocks >> 64) as u64));
            #[allow(clippy::cast_possible_truncation)]
            cases.push((!blocks as u64, (!blocks >> 64) as u64));
        }
        for (lo, hi) in cases {
            let used = u128::from(lo) | u128::from(hi) << 64;
            let words = Runs::join(Runs::of_word(lo), 64, Runs::of_word(hi), 64);
            assert_eq!(Runs::of_leaf(used), words, "{lo:#x} {hi:#x}");
            assert_eq!(Runs::of_few_run_leaf(used), words, "{lo:#x} {hi:#x}");
        }
    }

    #[test]
    fn finds_the_lowest_run_in_patterned_maps() {
        let mut rng = 0x1234_5678_9abc_def1_u64;
        for words in [1, 2, 3, 5, 8, 17] {
            for density in [0, 1, 3, 7] {
                let used: Vec<u64> = (0..words)
                    .map(|_| {
                        let mut w = 0;
                        for _ in 0..density {
                            rng ^= rng << 13;
                            rng ^= rng >> 7;
                            rng ^= rng << 17;
                            w |= 1 << (rng % 64);
                        }
                        w
                    })
                    .collect();
                check(&used, words * 64);
            }
        }
    }

    #[test]
    fn refresh_follows_changes() {
        let mut stale = Demand::new();
        for _ in 0..EAGER_CHANGES {
            stale.change();
        }
        let eager = Demand::new();
        let mut used = vec![0u64; 40];
        let (tree, mut words) = built(&used);
        assert_eq!(tree.longest(&used, &words), 40 * 64);
        used[3] = 1 << 5;
        used[30] = u64::MAX;
        tree.mark(&used, &mut words, (3 * 64 + 5, 3 * 64 + 6), true, stale);
        tree.mark(&used, &mut words, (30 * 64, 31 * 64), true, stale);
        assert!(words::test(&words, 1), "left stale");
        tree.settle(&used, &mut words);
        assert_eq!(tree.first_run(&used, &words, 0, 64 * 4), Some(3 * 64 + 6));
        assert_eq!(tree.first_run(&used, &words, 0, 27 * 64), None);
        assert_eq!(tree.longest(&used, &words), 64 * 26 + 58);
        used[3] = 0;
        used[30] = 0;
        tree.mark(&used, &mut words, (3 * 64 + 5, 3 * 64 + 6), false, eager);
        tree.mark(&used, &mut words, (30 * 64, 31 * 64), false, eager);
        tree.settle(&used, &mut words);
        assert_eq!(tree.first_run(&used, &words, 10, 40 * 64 - 10), Some(10));
        assert_eq!(tree.first_run(&used, &words, 10, 40 * 64 - 9), None);
        assert_eq!(tree.first_run(&used, &words, 0, usize::MAX), None);
        // Settling cleared every stale bit: the tree is what a fresh build gives.
        assert_eq!(words, built(&used).1);
    }

    /// Marks `steps` random changes of `used_words` words of used map at once (eager),
    /// of up to `longest` units, and checks after each that the tree is settled and
    /// what a fresh build gives: every node, in every place.
    fn check_eager_updates(used_words: usize, longest: usize, steps: usize) {
        let mut used = vec![0u64; used_words];
        let units = used.len() * 64;
        let (tree, mut words) = built(&used);
        let mut rng = 0x2545_f491_4f6c_dd1d_u64;
        for step in 0..steps {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            // Changes within one leaf (climbs) and across several (by level), short and
            // long, so that their ends fall on either child at every level.
            let len = match step % 4 {
                0 => 1 + (rng >> 40) as usize % 8,
                1 => 1 + (rng >> 40) as usize % 200,
                2 => 1 + (rng >> 40) as usize % 40,
                _ => 1 + (rng >> 40) as usize % longest,
            };
            let start = (rng >> 8) as usize % (units - len + 1);
            let now_used = rng & 1 == 1;
            for u in start..start + len {
                if now_used {
                    used[u / 64] |= 1 << (u % 64);
                } else {
                    used[u / 64] &= !(1 << (u % 64));
                }
            }
            tree.mark(
                &used,
                &mut words,
                (start, start + len),
                now_used,
                Demand::new(),
            );
            assert!(!words::test(&words, 1), "step {step}: left stale");
            assert_eq!(words, built(&used).1, "step {step}: {len} units at {start}");
        }
    }

    #[test]
    fn eager_updates_leave_the_tree_a_fresh_build_would_give() {
        // 37 used words: 19 leaves in 32 slots, so the last ones read as full.
        check_eager_updates(37, 900, 3_000);
        // 301 words: 151 leaves in 256 slots, changes of up to 117 leaves.
        check_eager_updates(301, 15_000, 3_000);
    }

    #[test]
    fn demand_joins_long_changes_at_once_only_while_searches_come_close_together() {
        let mut demand = Demand::new();
        assert!(demand.joins_at_once(1) && demand.joins_at_once(1000));
        for _ in 0..EAGER_CHANGES {
            assert!(demand.change().joins_at_once(EAGER_LEAVES + 1));
        }
        assert!(!demand.joins_at_once(1), "too long since the last search");
        demand.search();
        // Just searched, but the gap before was long: only short changes join.
        assert!(demand.joins_at_once(EAGER_LEAVES));
        assert!(!demand.joins_at_once(EAGER_LEAVES + 1));
        demand.change();
        demand.search();
        assert!(demand.joins_at_once(EAGER_LEAVES + 1));
        // The stale path is what a long change takes then.
        let mut used = vec![0u64; 40];
        let (tree, mut words) = built(&used);
        let mut quiet = Demand::new();
        for _ in 0..EAGER_CHANGES {
            quiet.change();
        }
        quiet.search();
        used[4..20].fill(u64::MAX);
        tree.mark(&used, &mut words, (4 * 64, 20 * 64), true, quiet);
        assert!(words::test(&words, 1), "left stale");
        tree.mark(&used, &mut words, (4 * 64, 20 * 64), true, Demand::new());
        tree.settle(&used, &mut words);
        assert_eq!(words, built(&used).1);
    }

    #[test]
    fn nodes_take_a_word_and_a_half() {
        // 40 used words: 20 leaves, rounded to 32 slots; 1 stale word, 48 node words.
        let tree = RunTree::new(40);
        assert_eq!(tree.words(), 1 + 32 * 3 / 2);
        assert_eq!(RunTree::new(0).words(), 0);
        assert_eq!(RunTree::new(2).words(), 0);
        assert_eq!(RunTree::new(3).words(), 1 + 3);
        let (tree, mut words) = built(&[0; 8]);
        for i in 1..4u32 {
            let runs = Runs {
                prefix: i,
                suffix: u32::MAX - i,
                longest: 1 << (20 + i),
            };
            tree.set_node(&mut words, i as usize, runs);
            assert_eq!(tree.node(&words, i as usize), runs);
        }
        assert_eq!(tree.node(&words, 1).prefix, 1);
        assert_eq!(words[0], 0, "no stale bit written");
    }
}
