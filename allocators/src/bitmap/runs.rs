//! The run tree of the bitmap backend: where the free runs long enough for a request
//! are.
//!
//! A 4-ary tree over *leaves* of 128 units (two words of the used map): every inner
//! node has four children and covers four times the units of one. Each stored *group*
//! holds the runs of four siblings, the children of one node (for the units each
//! covers: the free run at its start, `prefix`, at its end, `suffix`, and its longest),
//! so a node's children are read together, and a change climbs half the levels of a
//! binary tree, a join of four entries each. Leaf entries are bytes (a leaf's runs are
//! at most 128): a group of four leaves takes two words. The entries of inner nodes are
//! `u32`s: a group takes six words (each sibling's prefix and suffix, a word each, then
//! the four longest runs, two to a word). The root's own runs are not stored: a search
//! never reads them. Levels are stored bottom up, each as many groups as the level
//! above has nodes, so none is rounded up to a power: about 8 bytes per leaf (4 in its
//! group, 4 in the groups above), half a bit per unit, and a stale bit per inner node.
//!
//! [`RunTree::first_fit`] finds the lowest offset at or after a bound (and aligned)
//! where `count` free units start, walking from the leaf holding the bound in address
//! order a group at a time: `O(log n)` node visits plus one leaf scan per level at
//! most, whatever lies below it. A change of the used map ([`RunTree::mark`]) is joined
//! in at once while searches keep needing the tree ([`Demand`]): the entries wholly
//! inside it written directly, the at most two groups per level that hold its ends
//! joined, and above where they meet, the ancestors up to where nothing moved: where
//! only a node's longest run moved (a hole opened or filled inside it, the most
//! frequent change), its parent's is found from the one stored for it and the siblings'
//! without a join. Otherwise the entries wholly inside it are written directly and the nodes above its
//! two ends only marked stale (one bit per inner node: its group, and so its own entry,
//! may be stale), and a search first recomputes the stale ones ([`RunTree::settle`]),
//! so the tree costs nothing while the word scan finds every fit.
//!
//! The tree lives in a slice of [`words`](RunTree::words) `u64`s that the bitmap's
//! storage holds: first the stale bits, then the levels' groups. [`RunTree`] itself only
//! knows the sizes and where each level starts, so the same code serves a heap bitmap
//! and one over caller storage, and [`init`](RunTree::init) is a `const fn`.
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
/// Children per inner node.
const FAN: usize = 4;
/// `log2(FAN)`: a level up multiplies a node's units by `1 << FAN_SHIFT`.
const FAN_SHIFT: u32 = 2;
/// Levels a tree can have, root included: a space of `n < 2^BITS` units has fewer
/// than `2^(BITS - 7)` leaves, so at most `(BITS - 7) / 2 + 1` levels above them.
const MAX_LEVELS: usize = usize::BITS as usize / 2;
/// Words of a group of leaf entries: one `u32` per leaf.
const LEAF_GROUP_WORDS: usize = 2;
/// Words of a group of inner entries: four words of `prefix | suffix << 32`, then two
/// of two longest runs each.
const GROUP_WORDS: usize = 6;

/// The runs of four siblings, in address order.
type Group = [Runs; FAN];

/// A group of four nodes without a free unit, the start of a group built in const
/// context (where `Runs::default()` cannot be called).
const NO_GROUP: Group = [Runs {
    prefix: 0,
    suffix: 0,
    longest: 0,
}; FAN];

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

    /// The runs of one leaf's 128 used bits, without a loop over its runs and without a
    /// branch on them: per word, the starts of free runs of at least 1, 2, 4, .. 32
    /// units (five shift-and steps), then the longest inside the word found bit by bit
    /// from the top, a run of `have + 2^k` starting where one of `have` does and one of
    /// `2^k` does `have` units later (six steps, both words at each, kept or not by a
    /// select), against the one across the middle. The longest inside a word comes out
    /// at most 63: a word all free is the run across the middle, which is at least 64.
    /// The loops this replaced (doubling while some run was left, then adding halves)
    /// each left or turned on the leaf's data: on random virtio at 64 B units, 18 % of
    /// all mispredicted branches, for 0.7 % fewer instructions; on random descriptors,
    /// whose leaves hold short runs those loops left early, 11 % of them for 5.7 %
    /// fewer. (Doing the steps past 8 units only when some run reaches 8 saved no
    /// instructions there and mispredicted more.) Word-wide shifts: a 128-bit shift by
    /// a variable amount costs several instructions more.
    #[inline(always)]
    const fn of_leaf(used: u128) -> Self {
        // The two halves: the casts keep exactly the bits they name.
        #[allow(clippy::cast_possible_truncation)]
        let (low, high) = (used as u64, (used >> 64) as u64);
        // `runs[k]`: where a free run of at least `2^k` units starts, in each word.
        let mut runs = [(0u64, 0u64); 6];
        runs[0] = (!low, !high);
        let mut k = 1;
        while k < 6 {
            let (l, h) = runs[k - 1];
            let half = 1 << (k - 1);
            runs[k] = (l & l >> half, h & h >> half);
            k += 1;
        }
        // Where a run of `have` units starts (every unit for 0), in each word.
        let (mut in_low, mut in_high, mut have) = (u64::MAX, u64::MAX, 0u32);
        let mut k = 6;
        while k > 0 {
            k -= 1;
            let (l, h) = runs[k];
            // `have < 64`: at most 32 + 16 + .. + 1 so far.
            let (low_longer, high_longer) = (in_low & l >> have, in_high & h >> have);
            let longer = (low_longer | high_longer) != 0;
            // Selects, not branches: which way this goes is the leaf's data.
            in_low = if longer { low_longer } else { in_low };
            in_high = if longer { high_longer } else { in_high };
            have += (longer as u32) << k;
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
/// The longest of the four longest runs a group of inner nodes stores in two words.
const fn longest_of_group(l01: u64, l23: u64) -> u32 {
    max(
        max(half_of(l01, 0), half_of(l01, 1)),
        max(half_of(l23, 0), half_of(l23, 1)),
    )
}

/// A leaf's runs as its entry: prefix, suffix and longest run a byte each (at most 128).
const fn pack_leaf(runs: Runs) -> u32 {
    runs.prefix | runs.suffix << 8 | runs.longest << 16
}

/// The runs a leaf entry holds.
const fn unpack_leaf(entry: u32) -> Runs {
    Runs {
        prefix: entry & 0xFF,
        suffix: entry >> 8 & 0xFF,
        longest: entry >> 16 & 0xFF,
    }
}

/// The runs of four siblings of `len` units each, joined: those of their parent.
#[inline(always)]
const fn join_group(group: &Group, len: usize) -> Runs {
    // Pairwise: the two inner joins do not wait on each other.
    let left = Runs::join(group[0], len, group[1], len);
    let right = Runs::join(group[2], len, group[3], len);
    Runs::join(left, 2 * len, right, 2 * len)
}

/// Sets the slots `from..to` of `group` to `runs`: a select per slot, where a loop
/// over the slice became a call to `memset` per group on every long change.
#[inline(always)]
fn fill_slots(group: &mut Group, from: usize, to: usize, runs: Runs) {
    for (k, slot) in group.iter_mut().enumerate() {
        if from <= k && k < to {
            *slot = runs;
        }
    }
}

/// One stored level of the tree: its depth (0: the leaves) and where its groups lie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Level {
    depth: u32,
    /// The number of its first group among all groups, bottom up: also the stale bit
    /// of the first node of the level above (whose children that group holds).
    first_group: usize,
    /// The tree word its first group starts at.
    word: usize,
    /// Words of one of its groups: [`LEAF_GROUP_WORDS`] for the leaves, else
    /// [`GROUP_WORDS`] (kept, not derived from the depth, as every step reads it).
    group_words: usize,
}

impl Level {
    /// The first word of group `g` of this level (the children of node `g` above).
    #[inline(always)]
    const fn group_word(self, g: usize) -> usize {
        self.word + g * self.group_words
    }
}

/// The 4-ary run tree over a used map of a fixed number of words: its shape and where
/// its parts lie in the tree's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct RunTree {
    /// Leaves: 128-unit stretches of the used map (the last one may reach past it; its
    /// units there read as used).
    leaves: usize,
    /// Levels above the leaves: the root is at this depth. 0 for a single leaf, which
    /// stores nothing.
    height: u32,
    /// Groups of all stored levels, which is also the number of inner nodes.
    groups: usize,
    /// Words of the whole tree (see [`words`](Self::words)): every change checks them.
    words: usize,
    /// Per depth up to the root's, the first word and the first group of the level's
    /// groups: every step up or down the tree takes them from here rather than
    /// summing the levels below.
    level_words: [usize; MAX_LEVELS],
    /// See `level_words`.
    level_groups: [usize; MAX_LEVELS],
    /// Words of stale bits at the start of the tree's words, one per inner node
    /// numbered as the group of its children: the group, and so the node's own entry,
    /// may be stale. The ancestors of a stale node are stale too, so
    /// [`settle`](Self::settle) finds them all from the root.
    stale_words: usize,
}

impl RunTree {
    /// The tree over a used map of `used_words` words.
    pub(super) const fn new(used_words: usize) -> Self {
        let leaves = used_words.div_ceil(LEAF_WORDS);
        let leaves = if leaves > 1 { leaves } else { 1 };
        let (mut height, mut span) = (0, 1usize);
        while span < leaves {
            span = span.saturating_mul(FAN);
            height += 1;
        }
        let mut tree = Self {
            leaves,
            height,
            groups: 0,
            words: 0,
            stale_words: 0,
            level_words: [0; MAX_LEVELS],
            level_groups: [0; MAX_LEVELS],
        };
        let mut depth = 1;
        while depth <= height {
            tree.groups += tree.nodes(depth);
            depth += 1;
        }
        tree.stale_words = tree.groups.div_ceil(64);
        // Each level's groups follow the level's below it.
        let (mut depth, mut word, mut group) = (0, tree.stale_words, 0);
        while depth <= height && (depth as usize) < MAX_LEVELS {
            tree.level_words[depth as usize] = word;
            tree.level_groups[depth as usize] = group;
            if depth < height {
                let groups = tree.nodes(depth + 1);
                let group_words = if depth == 0 {
                    LEAF_GROUP_WORDS
                } else {
                    GROUP_WORDS
                };
                word += groups * group_words;
                group += groups;
            }
            depth += 1;
        }
        if height > 0 {
            tree.words = word;
        }
        tree
    }

    /// Nodes at depth `depth` (at most `height`): the groups of the level below.
    const fn nodes(&self, depth: u32) -> usize {
        ((self.leaves - 1) >> (FAN_SHIFT * depth)) + 1
    }

    /// Words the tree needs: the stale bits, two per group of leaves and six per group
    /// of inner nodes; none for a space of one leaf.
    pub(super) const fn words(&self) -> usize {
        self.words
    }

    /// The leaves' level.
    const fn leaf_level(&self) -> Level {
        Level {
            depth: 0,
            first_group: 0,
            word: self.stale_words,
            group_words: LEAF_GROUP_WORDS,
        }
    }

    /// The level above `level` (whose depth is below the root's).
    #[inline(always)]
    const fn up(&self, level: Level) -> Level {
        self.level(level.depth + 1)
    }

    /// The level below `level` (whose depth is at least 1).
    #[inline(always)]
    const fn down(&self, level: Level) -> Level {
        self.level(level.depth - 1)
    }

    /// The level at `depth` (at most the root's).
    #[inline(always)]
    const fn level(&self, depth: u32) -> Level {
        // No tree has `MAX_LEVELS` levels (see there), so the remainder is the depth
        // itself, and no bound check is left.
        let d = depth as usize % MAX_LEVELS;
        Level {
            depth,
            first_group: self.level_groups[d],
            word: self.level_words[d],
            group_words: if depth == 0 {
                LEAF_GROUP_WORDS
            } else {
                GROUP_WORDS
            },
        }
    }

    /// The top stored level: the root's children.
    const fn top_level(&self) -> Level {
        self.level(self.height.saturating_sub(1))
    }

    /// The stale bit of the root.
    const fn root_bit(&self) -> usize {
        self.groups - 1
    }

    /// The runs of leaf `leaf`, off the used map, by `of`.
    #[inline(always)]
    const fn leaf_runs(used: &[u64], leaf: usize, few_runs: bool) -> Runs {
        let w = leaf * LEAF_WORDS;
        let (first, second) = (
            words::word_or_full(used, w),
            words::word_or_full(used, w + 1),
        );
        let bits = first as u128 | (second as u128) << 64;
        if few_runs {
            Runs::of_few_run_leaf(bits)
        } else {
            Runs::of_leaf(bits)
        }
    }

    /// Group `g` of `level`: the stored runs of nodes `4g .. 4g + 4` there (all used
    /// past the tree's words), its words read behind one bounds check.
    #[inline(always)]
    fn group(tree: &[u64], level: Level, g: usize) -> Group {
        if level.depth == 0 {
            Self::leaf_group(tree, level, g)
        } else {
            Self::inner_group(tree, level, g)
        }
    }

    /// [`group`](Self::group) of the leaves' level (`level`).
    #[inline(always)]
    fn leaf_group(tree: &[u64], level: Level, g: usize) -> Group {
        let at = level.word + g * LEAF_GROUP_WORDS;
        let Some(&[low, high]) = tree.get(at..at + LEAF_GROUP_WORDS) else {
            return NO_GROUP;
        };
        [
            unpack_leaf(half_of(low, 0)),
            unpack_leaf(half_of(low, 1)),
            unpack_leaf(half_of(high, 0)),
            unpack_leaf(half_of(high, 1)),
        ]
    }

    /// [`group`](Self::group) of a level above the leaves (`level`).
    #[inline(always)]
    fn inner_group(tree: &[u64], level: Level, g: usize) -> Group {
        let at = level.word + g * GROUP_WORDS;
        let Some(&[e0, e1, e2, e3, l01, l23]) = tree.get(at..at + GROUP_WORDS) else {
            return NO_GROUP;
        };
        let runs = |ends: u64, longest: u32| Runs {
            prefix: half_of(ends, 0),
            suffix: half_of(ends, 1),
            longest,
        };
        [
            runs(e0, half_of(l01, 0)),
            runs(e1, half_of(l01, 1)),
            runs(e2, half_of(l23, 0)),
            runs(e3, half_of(l23, 1)),
        ]
    }

    /// [`set_group`](Self::set_group) on the leaves' level (`level`).
    #[inline(always)]
    fn set_leaf_group(tree: &mut [u64], level: Level, g: usize, group: &Group) {
        let at = level.word + g * LEAF_GROUP_WORDS;
        if let Some(words) = tree.get_mut(at..at + LEAF_GROUP_WORDS) {
            words[0] = u64::from(pack_leaf(group[0])) | u64::from(pack_leaf(group[1])) << 32;
            words[1] = u64::from(pack_leaf(group[2])) | u64::from(pack_leaf(group[3])) << 32;
        }
    }

    /// [`set_group`](Self::set_group) on a level above the leaves (`level`).
    #[inline(always)]
    fn set_inner_group(tree: &mut [u64], level: Level, g: usize, group: &Group) {
        let at = level.word + g * GROUP_WORDS;
        if let Some(words) = tree.get_mut(at..at + GROUP_WORDS) {
            let ends = |runs: Runs| u64::from(runs.prefix) | u64::from(runs.suffix) << 32;
            let longest = |a: Runs, b: Runs| u64::from(a.longest) | u64::from(b.longest) << 32;
            words.copy_from_slice(&[
                ends(group[0]),
                ends(group[1]),
                ends(group[2]),
                ends(group[3]),
                longest(group[0], group[1]),
                longest(group[2], group[3]),
            ]);
        }
    }

    /// [`group`](Self::group) in const context, word by word.
    const fn const_group(tree: &[u64], level: Level, g: usize) -> Group {
        let at = level.group_word(g);
        let mut group = NO_GROUP;
        let mut s = 0;
        while s < FAN {
            group[s] = if level.depth == 0 {
                unpack_leaf(half_of(word(tree, at + s / 2), s % 2))
            } else {
                let ends = word(tree, at + s);
                Runs {
                    prefix: half_of(ends, 0),
                    suffix: half_of(ends, 1),
                    longest: half_of(word(tree, at + FAN + s / 2), s % 2),
                }
            };
            s += 1;
        }
        group
    }

    /// Stores `group` as group `g` of `level`.
    #[inline(always)]
    const fn set_group(tree: &mut [u64], level: Level, g: usize, group: &Group) {
        let at = level.group_word(g);
        if at + level.group_words > tree.len() {
            return;
        }
        if level.depth == 0 {
            tree[at] = pack_leaf(group[0]) as u64 | (pack_leaf(group[1]) as u64) << 32;
            tree[at + 1] = pack_leaf(group[2]) as u64 | (pack_leaf(group[3]) as u64) << 32;
        } else {
            let mut s = 0;
            while s < FAN {
                tree[at + s] = group[s].prefix as u64 | (group[s].suffix as u64) << 32;
                s += 1;
            }
            tree[at + FAN] = group[0].longest as u64 | (group[1].longest as u64) << 32;
            tree[at + FAN + 1] = group[2].longest as u64 | (group[3].longest as u64) << 32;
        }
    }

    /// Builds the tree of `used` in `tree` (its [`words`](Self::words) words, all
    /// clear): every entry from the used map or its children, none stale.
    pub(super) const fn init(&self, used: &[u64], tree: &mut [u64]) {
        if self.height == 0 || tree.len() < self.words() {
            return;
        }
        let leaves = self.leaf_level();
        let mut g = 0;
        while g < self.nodes(1) {
            let mut group = NO_GROUP;
            let mut s = 0;
            while s < FAN {
                group[s] = Self::leaf_runs(used, g * FAN + s, false);
                s += 1;
            }
            Self::set_group(tree, leaves, g, &group);
            g += 1;
        }
        let (mut below, mut len) = (leaves, LEAF_UNITS);
        while below.depth + 1 < self.height {
            // Each group of the level above at once, from the four groups below it.
            let level = self.up(below);
            let mut g = 0;
            while g < self.nodes(level.depth + 1) {
                let mut group = NO_GROUP;
                let mut s = 0;
                while s < FAN {
                    let child = g * FAN + s;
                    if child < self.nodes(level.depth) {
                        group[s] = join_group(&Self::const_group(tree, below, child), len);
                    }
                    s += 1;
                }
                Self::set_group(tree, level, g, &group);
                g += 1;
            }
            below = level;
            len *= FAN;
        }
    }

    /// Brings the tree up to `[start, end)` (units) of `used_map` having become all used
    /// (`used`) or all free: at once when the tree is settled and `demand` says
    /// searches keep needing it ([`Demand::joins_at_once`]; a [climb](Self::climb)
    /// within one leaf, [`update_range`](Self::update_range) across more), or by
    /// marking it stale for the next search to settle
    /// ([`mark_stale`](Self::mark_stale)).
    pub(super) fn mark(
        &self,
        used_map: &[u64],
        tree: &mut [u64],
        (start, end): (usize, usize),
        used: bool,
        demand: Demand,
    ) {
        if self.height == 0 || start >= end || tree.len() < self.words() {
            return;
        }
        let (first, last) = (start / LEAF_UNITS, (end - 1) / LEAF_UNITS);
        // The count alone first: a change on a quiet tree, the most frequent, goes
        // stale after one compare.
        if demand.since_search < EAGER_CHANGES
            && (first == last || demand.joins_at_once(last - first + 1))
            && !words::test(tree, self.root_bit())
        {
            if first == last {
                self.climb(used_map, tree, first);
            } else if used {
                // A copy per direction: the runs of the entries inside the change are
                // then constants, and the joins with them fold.
                self.update_range::<true>(used_map, tree, (start, end));
            } else {
                self.update_range::<false>(used_map, tree, (start, end));
            }
        } else {
            self.mark_stale(tree, start, end, used);
        }
    }

    /// Rejoins leaf `leaf` (whose used units changed) and its ancestors bottom up, each
    /// from its group (or, where only the longest run below moved, from its stored
    /// entry: [`longest_moved`](Self::longest_moved)), until an entry comes out as
    /// stored: then, with the rest of the tree settled, so do all above it.
    // Out of line: in `mark` its body would cost every change on a quiet tree, the
    // most frequent on the small-request traces, a longer prologue.
    #[inline(never)]
    fn climb(&self, used_map: &[u64], tree: &mut [u64], leaf: usize) {
        let leaves = self.leaf_level();
        let at = leaves.group_word(leaf / FAN) + leaf % FAN / 2;
        let shift = leaf % 2 * 32;
        let Some(stored) = tree.get_mut(at) else {
            return;
        };
        let runs = Self::leaf_runs(used_map, leaf, false);
        let entry = u64::from(pack_leaf(runs));
        let new = *stored & !(0xFFFF_FFFF << shift) | entry << shift;
        if new == *stored {
            return;
        }
        let old = unpack_leaf(half_of(*stored, leaf % 2));
        *stored = new;
        let joined = if runs.prefix == old.prefix && runs.suffix == old.suffix {
            let group = at - leaf % FAN / 2;
            let Some(&[low, high]) = tree.get(group..group + LEAF_GROUP_WORDS) else {
                return;
            };
            // A leaf entry's longest run is its third byte.
            let longest = |word: u64| max(half_of(word, 0) >> 16, half_of(word, 1) >> 16);
            let siblings = max(longest(low), longest(high));
            let moved = (old.longest, runs.longest);
            if let Some(moved) = self.longest_moved(tree, leaves, leaf, moved, siblings) {
                self.carry_longest(tree, self.up(leaves), leaf / FAN, moved);
            }
            return;
        } else {
            join_group(&Self::group(tree, leaves, leaf / FAN), LEAF_UNITS)
        };
        self.rejoin_from(tree, self.up(leaves), leaf / FAN, joined, FAN * LEAF_UNITS);
    }

    /// Stores `new` as the longest run of node `i` of `level` (above the leaves), whose
    /// longest run alone moved, from `old`, and carries the move up through its
    /// ancestors as far as their longest runs move (as [`longest_moved`](Self::longest_moved)
    /// decides): their prefixes and suffixes stay, so each level writes one value and
    /// reads its parent's, and where the run fell, its group's four longest runs. A rise
    /// stays a rise all the way up and a fall a fall, so each has its own loop: the
    /// rise, the tighter one, reads no sibling.
    #[inline(always)]
    fn carry_longest(&self, tree: &mut [u64], level: Level, i: usize, moved: (u32, u32)) {
        let (mut old, mut new) = moved;
        let (mut depth, mut i) = (level.depth, i);
        // Every level here is above the leaves: its groups are `GROUP_WORDS` apart, and
        // a step up is one lookup of where the level above starts.
        let mut at = level.word + i / FAN * GROUP_WORDS;
        if new > old {
            // A rise stays a rise: each ancestor shorter than `new` takes it, and the
            // first one at least as long ends the walk, with no sibling read.
            loop {
                let (slot, shift) = (at + FAN + i % FAN / 2, i % 2 * 32);
                let Some(word) = tree.get_mut(slot) else {
                    return;
                };
                *word = *word & !(0xFFFF_FFFF << shift) | u64::from(new) << shift;
                if depth + 1 == self.height {
                    return;
                }
                let parent = i / FAN;
                let parent_at = self.level_words[(depth + 1) as usize % MAX_LEVELS]
                    + parent / FAN * GROUP_WORDS;
                let Some(&parent_word) = tree.get(parent_at + FAN + parent % FAN / 2) else {
                    return;
                };
                if new <= half_of(parent_word, parent % 2) {
                    return;
                }
                (i, at, depth) = (parent, parent_at, depth + 1);
            }
        }
        loop {
            let Some(group) = tree.get_mut(at..at + GROUP_WORDS) else {
                return;
            };
            let (slot, shift) = (FAN + i % FAN / 2, i % 2 * 32);
            group[slot] = group[slot] & !(0xFFFF_FFFF << shift) | u64::from(new) << shift;
            if depth + 1 == self.height {
                return;
            }
            let siblings = longest_of_group(group[FAN], group[FAN + 1]);
            let parent = i / FAN;
            let parent_at =
                self.level_words[(depth + 1) as usize % MAX_LEVELS] + parent / FAN * GROUP_WORDS;
            let Some(&parent_word) = tree.get(parent_at + FAN + parent % FAN / 2) else {
                return;
            };
            let stored = half_of(parent_word, parent % 2);
            // A fall (or no move) stays one: longer elsewhere, or as long in a sibling,
            // the parent's stays.
            if old < stored || siblings >= old {
                return;
            }
            let Some(&[e0, e1, e2, e3, l01, l23]) = tree.get(at..at + GROUP_WORDS) else {
                return;
            };
            let runs = |ends: u64, longest: u32| Runs {
                prefix: half_of(ends, 0),
                suffix: half_of(ends, 1),
                longest,
            };
            let longest = Self::longest_within(&[
                runs(e0, half_of(l01, 0)),
                runs(e1, half_of(l01, 1)),
                runs(e2, half_of(l23, 0)),
                runs(e3, half_of(l23, 1)),
            ]);
            if longest == stored {
                return;
            }
            (old, new) = (stored, longest);
            (i, at, depth) = (parent, parent_at, depth + 1);
        }
    }

    /// The longest run of the parent of node `i` of `level` (a level below the top),
    /// as stored and as it becomes, once node `i`'s longest run alone went from `old` to
    /// `new` (as stored now in its group, whose four longest runs are at most
    /// `siblings`), or `None` if it stays, and so every entry above it. The parent's
    /// prefix, suffix and the runs across its children's borders stay as they are: its
    /// longest run rises to `new` if that is longer, and falls only if node `i` alone
    /// held it, to the longest of its children's and of those across their borders.
    /// Either way no join of the group: a run that only grew or shrank inside a node,
    /// the most frequent change, moves one value per level.
    #[inline(always)]
    fn longest_moved(
        &self,
        tree: &[u64],
        level: Level,
        i: usize,
        (old, new): (u32, u32),
        siblings: u32,
    ) -> Option<(u32, u32)> {
        let (up, parent) = (self.up(level), i / FAN);
        let at = up.group_word(parent / FAN) + FAN + parent % FAN / 2;
        let stored = half_of(*tree.get(at)?, parent % 2);
        let longest = if new > old {
            if new <= stored {
                return None;
            }
            new
        } else {
            // Longer elsewhere, or as long in a sibling: it stays.
            if old < stored || siblings >= old {
                return None;
            }
            let longest = Self::longest_within(&Self::group(tree, level, i / FAN));
            if longest == stored {
                return None;
            }
            longest
        };
        Some((stored, longest))
    }

    /// The longest run of the parent of `group`, four siblings none of which is all
    /// free: their own longest runs and the three across their borders (a run across
    /// more would pass through an all-free sibling). That holds where
    /// [`longest_moved`](Self::longest_moved) asks for it: no sibling's longest run
    /// reaches the one node `i` lost, and an all-free sibling's would.
    #[inline(always)]
    fn longest_within(group: &Group) -> u32 {
        let across = max(
            max(
                group[0].suffix.saturating_add(group[1].prefix),
                group[1].suffix.saturating_add(group[2].prefix),
            ),
            group[2].suffix.saturating_add(group[3].prefix),
        );
        max(
            max(
                max(group[0].longest, group[1].longest),
                max(group[2].longest, group[3].longest),
            ),
            across,
        )
    }

    /// Stores `joined`, the runs node `i` of `level` (of `len` units) now has, and
    /// rejoins its ancestors from their groups (or their stored entries, as
    /// [`climb`](Self::climb) does), up to the first entry that comes out as stored:
    /// with the rest of the tree settled, so does every one above it.
    #[inline(always)]
    fn rejoin_from(
        &self,
        tree: &mut [u64],
        mut level: Level,
        mut i: usize,
        mut joined: Runs,
        mut len: usize,
    ) {
        while level.depth < self.height {
            let at = level.group_word(i / FAN);
            let Some(words) = tree.get_mut(at..at + GROUP_WORDS) else {
                return;
            };
            let s = i % FAN;
            let shift = s % 2 * 32;
            // Compared as the stored words, not field by field.
            let ends = u64::from(joined.prefix) | u64::from(joined.suffix) << 32;
            let longest = words[FAN + s / 2];
            let new_longest =
                longest & !(0xFFFF_FFFF << shift) | u64::from(joined.longest) << shift;
            if words[s] == ends && longest == new_longest {
                return;
            }
            let ends_stay = words[s] == ends;
            words[s] = ends;
            words[FAN + s / 2] = new_longest;
            if level.depth + 1 == self.height {
                return;
            }
            if ends_stay {
                let siblings = longest_of_group(words[FAN], words[FAN + 1]);
                let moved = (half_of(longest, s % 2), joined.longest);
                if let Some(moved) = self.longest_moved(tree, level, i, moved, siblings) {
                    self.carry_longest(tree, self.up(level), i / FAN, moved);
                }
                return;
            }
            let mut group = [Runs::default(); FAN];
            for (k, runs) in group.iter_mut().enumerate() {
                *runs = Runs {
                    prefix: half_of(words[k], 0),
                    suffix: half_of(words[k], 1),
                    longest: half_of(words[FAN + k / 2], k % 2),
                };
            }
            joined = join_group(&group, len);
            i /= FAN;
            len *= FAN;
            level = self.up(level);
        }
    }

    /// [`mark`](Self::mark) of `[start, end)` (all used if `USED`, else all free) across
    /// more than one leaf, on a settled tree, which it leaves settled, level by level
    /// from the leaves: the entries wholly inside the range are written as those of an
    /// all-used or all-free stretch without reading anything, and only the (at most
    /// two) groups of a level holding an end of the range are joined. Once both ends
    /// lie in one group, its ancestors are rejoined up to where nothing moved.
    // Out of line: a longer body in `mark` costs every single-leaf change its prologue.
    #[inline(never)]
    fn update_range<const USED: bool>(
        &self,
        used_map: &[u64],
        tree: &mut [u64],
        (start, end): (usize, usize),
    ) {
        let (lo, hi) = (start / LEAF_UNITS, (end - 1) / LEAF_UNITS);
        // Leaves at the ends of a long change: mostly a block's end and free units, or
        // whole words of either.
        let (lo_runs, hi_runs) = (
            Self::leaf_runs(used_map, lo, true),
            Self::leaf_runs(used_map, hi, true),
        );
        // The leaves' level first, then the levels above: each instance of
        // `range_level` knows its groups' layout, with no test of the depth per group
        // read or written.
        let leaves = self.leaf_level();
        let Some(mut runs) =
            self.range_level::<true, USED>(tree, leaves, (lo, hi), (lo_runs, hi_runs), LEAF_UNITS)
        else {
            return;
        };
        let (mut lo, mut hi, mut len) = (lo / FAN, hi / FAN, FAN * LEAF_UNITS);
        let mut level = self.up(leaves);
        while level.depth < self.height {
            let Some(next) = self.range_level::<false, USED>(tree, level, (lo, hi), runs, len)
            else {
                return;
            };
            runs = next;
            (lo, hi, len) = (lo / FAN, hi / FAN, len * FAN);
            level = self.up(level);
        }
    }

    /// One level of [`update_range`](Self::update_range): entries `lo` and `hi` of
    /// `level` (nodes of `len` units, in the leaves' layout if `LEAVES`) become
    /// `ends`, those between them all used (`USED`) or all free. Returns the joined runs
    /// of the two groups that hold `lo` and `hi`, the ends one level up; `None` once
    /// both lie in one group, whose ancestors it has rejoined.
    #[inline(always)]
    fn range_level<const LEAVES: bool, const USED: bool>(
        &self,
        tree: &mut [u64],
        level: Level,
        (lo, hi): (usize, usize),
        (lo_runs, hi_runs): (Runs, Runs),
        len: usize,
    ) -> Option<(Runs, Runs)> {
        let get = if LEAVES {
            Self::leaf_group
        } else {
            Self::inner_group
        };
        let set = if LEAVES {
            Self::set_leaf_group
        } else {
            Self::set_inner_group
        };
        let inside = Runs::uniform(len, USED);
        let (lo_group, hi_group) = (lo / FAN, hi / FAN);
        if lo_group == hi_group {
            let mut group = get(tree, level, lo_group);
            group[lo % FAN] = lo_runs;
            fill_slots(&mut group, lo % FAN + 1, hi % FAN, inside);
            group[hi % FAN] = hi_runs;
            set(tree, level, lo_group, &group);
            let joined = join_group(&group, len);
            self.rejoin_from(tree, self.up(level), lo_group, joined, FAN * len);
            return None;
        }
        let mut low = get(tree, level, lo_group);
        low[lo % FAN] = lo_runs;
        fill_slots(&mut low, lo % FAN + 1, FAN, inside);
        let mut high = get(tree, level, hi_group);
        fill_slots(&mut high, 0, hi % FAN, inside);
        high[hi % FAN] = hi_runs;
        set(tree, level, lo_group, &low);
        set(tree, level, hi_group, &high);
        Self::fill_groups(tree, level, lo_group + 1..hi_group, inside);
        Some((join_group(&low, len), join_group(&high, len)))
    }

    /// Writes every entry of groups `range` of `level` as `runs` (of a uniform stretch),
    /// without reading them: a long change writes thousands.
    fn fill_groups(tree: &mut [u64], level: Level, range: core::ops::Range<usize>, runs: Runs) {
        if range.is_empty() {
            return;
        }
        let span = level.group_word(range.start)..level.group_word(range.end);
        let Some(words) = tree.get_mut(span) else {
            return;
        };
        if level.depth == 0 {
            let entry = u64::from(pack_leaf(runs));
            words.fill(entry | entry << 32);
        } else {
            let ends = u64::from(runs.prefix) | u64::from(runs.suffix) << 32;
            let longest = u64::from(runs.longest) | u64::from(runs.longest) << 32;
            for group in words.chunks_exact_mut(GROUP_WORDS) {
                group.copy_from_slice(&[ends, ends, ends, ends, longest, longest]);
            }
        }
    }

    /// Writes the entries of nodes `range` of `level` as `runs`: whole groups filled,
    /// the partial ones at its ends entry by entry.
    fn fill_entries(tree: &mut [u64], level: Level, range: core::ops::Range<usize>, runs: Runs) {
        let (mut lo, mut hi) = (range.start, range.end);
        while lo < hi && lo % FAN != 0 {
            Self::set_entry(tree, level, lo, runs);
            lo += 1;
        }
        while lo < hi && hi % FAN != 0 {
            hi -= 1;
            Self::set_entry(tree, level, hi, runs);
        }
        Self::fill_groups(tree, level, lo / FAN..hi / FAN, runs);
    }

    /// Stores `runs` as node `i`'s of `level`.
    #[inline(always)]
    fn set_entry(tree: &mut [u64], level: Level, i: usize, runs: Runs) {
        let (at, s) = (level.group_word(i / FAN), i % FAN);
        let shift = s % 2 * 32;
        let (half, whole) = if level.depth == 0 {
            (at + s / 2, None)
        } else {
            let ends = u64::from(runs.prefix) | u64::from(runs.suffix) << 32;
            (at + FAN + s / 2, Some((at + s, ends)))
        };
        let value = if level.depth == 0 {
            pack_leaf(runs)
        } else {
            runs.longest
        };
        if let Some(word) = tree.get_mut(half) {
            *word = *word & !(0xFFFF_FFFF << shift) | u64::from(value) << shift;
        }
        if let Some((at, ends)) = whole {
            if let Some(word) = tree.get_mut(at) {
                *word = ends;
            }
        }
    }

    /// [`mark`](Self::mark) by stale bits: entries wholly inside the range are written
    /// directly and their nodes lose their stale bit; the at most two nodes per level
    /// that straddle an end of the range are marked stale, up to the first single
    /// ancestor already stale, and recomputed when a search needs the tree
    /// ([`settle`](Self::settle)).
    fn mark_stale(&self, tree: &mut [u64], start: usize, end: usize, used: bool) {
        let (first, last) = (start / LEAF_UNITS, (end - 1) / LEAF_UNITS);
        let mut level = self.leaf_level();
        if first == last {
            // Within one leaf (most changes): its ancestors, up to one already stale.
            let mut i = first / FAN;
            loop {
                let bit = level.first_group + i;
                let (w, mask) = (bit / 64, 1 << (bit % 64));
                match tree.get_mut(w) {
                    Some(word) if *word & mask == 0 => *word |= mask,
                    _ => return,
                }
                if level.depth + 1 == self.height {
                    return;
                }
                level = self.up(level);
                i /= FAN;
            }
        }
        let mut shift = LEAF_UNITS.trailing_zeros();
        loop {
            // The entries of this level wholly inside the range.
            let len = 1usize << shift;
            let (inside_lo, inside_hi) = (start.div_ceil(len), end >> shift);
            if inside_lo < inside_hi {
                Self::fill_entries(tree, level, inside_lo..inside_hi, Runs::uniform(len, used));
            }
            // Their parents: wholly inside ones hold only inside entries, now written;
            // the others are stale.
            let parent_shift = shift + FAN_SHIFT;
            let parent_len = 1usize << parent_shift;
            let (lo, hi) = (start >> parent_shift, (end - 1) >> parent_shift);
            let (inside_lo, inside_hi) = (
                start.div_ceil(parent_len).max(lo),
                (end >> parent_shift).min(hi + 1),
            );
            let base = level.first_group;
            if inside_lo < inside_hi {
                words::assign_range(tree, base + inside_lo, base + inside_hi, false);
                words::assign_range(tree, base + lo, base + inside_lo, true);
                words::assign_range(tree, base + inside_hi, base + hi + 1, true);
            } else {
                if lo == hi && words::test(tree, base + lo) {
                    return;
                }
                words::assign_range(tree, base + lo, base + hi + 1, true);
            }
            if level.depth + 1 == self.height {
                return;
            }
            level = self.up(level);
            shift = parent_shift;
        }
    }

    /// Recomputes every stale node from `used`, children first: `O(stale nodes)`.
    pub(super) fn settle(&self, used: &[u64], tree: &mut [u64]) {
        if self.height == 0 || tree.len() < self.words() || !words::test(tree, self.root_bit()) {
            return;
        }
        // Children first, in a loop rather than a recursion: down to a stale node
        // whose children are all settled, join it, back up to its parent (still
        // stale) and down again to its next stale child if any. The ancestors of a
        // stale node are stale, so this reaches every one from the root. A node is
        // `i` above `below`, the level of its children, which are `len` units each.
        let (mut below, mut i) = (self.top_level(), 0);
        let mut len = LEAF_UNITS << (FAN_SHIFT * below.depth);
        loop {
            if below.depth > 0 {
                let lower = self.down(below);
                // Only real children: the bits past a level's last node are the next
                // level's.
                let children = (self.nodes(below.depth) - i * FAN).min(FAN);
                let first_child = lower.first_group + i * FAN;
                if let Some(s) = (0..children).find(|&s| words::test(tree, first_child + s)) {
                    (below, i, len) = (lower, i * FAN + s, len / FAN);
                    continue;
                }
            } else {
                // A node of leaves: its leaves changed, mostly at the ends of long
                // changes, so with few runs inside.
                let mut group = [Runs::default(); FAN];
                for (s, runs) in group.iter_mut().enumerate() {
                    *runs = Self::leaf_runs(used, i * FAN + s, true);
                }
                Self::set_group(tree, below, i, &group);
            }
            let runs = join_group(&Self::group(tree, below, i), len);
            words::assign(tree, below.first_group + i, false);
            if below.depth + 1 == self.height {
                return;
            }
            below = self.up(below);
            Self::set_entry(tree, below, i, runs);
            (i, len) = (i / FAN, len * FAN);
        }
    }

    /// The lowest offset `p >= from` such that `[p, p + count)` is free, if any, on a
    /// [settled](Self::settle) tree. `None` also for `count == 0` or `count > u32::MAX`.
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
    /// walk meets it, so a run whose aligned part is too short costs no new descent,
    /// and one at a node's start is not checked again on each level down to its end.
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
        if self.height == 0 {
            return Self::leaf_runs(used, 0, false).longest as usize;
        }
        let top = self.top_level();
        let len = LEAF_UNITS << (FAN_SHIFT * top.depth);
        join_group(&Self::group(tree, top, 0), len).longest as usize
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
/// and the request, so that each step of the walk passes only its node and carry.
struct Walk<'a> {
    tree: &'a RunTree,
    used: &'a [u64],
    words: &'a [u64],
    from: usize,
    count: usize,
    align: usize,
    phase: usize,
}

/// What a search learns from one node's runs as it passes the node.
enum Passing {
    /// The fit, at this unit, in the run that ends with the node's prefix.
    Fit(usize),
    /// No fit starts in the node: the search goes on past it.
    RuledOut,
    /// A fit may lie inside the node: the search looks inside.
    MayHold,
    /// As `MayHold`, but the node's prefix (this many units, at least the count and
    /// fewer than the node's) is ruled out (with the carry, its aligned part is too
    /// short). Each descendant that starts where the node does and is longer than the
    /// prefix would be found to hold it and so need a look inside too (its longest is
    /// at least the prefix): the search goes down to the deepest of them at once, and
    /// meets their later siblings as it climbs back.
    Deep(usize),
}

impl Walk<'_> {
    /// The aligned start of the request in the free run `[start, end)`, if it holds one.
    #[inline]
    fn fit(&self, start: usize, end: usize) -> Option<usize> {
        let at = crate::align_up_with_phase(start, self.align, self.phase)?;
        (at.checked_add(self.count)? <= end).then_some(at)
    }

    /// The first leaf of the walk when it starts at `from` (`lo >= from`): its free
    /// prefix against the carry, then whether any run inside it is long enough (a few
    /// shift-and steps, not its full runs), and only then a [scan](Self::scan_leaf).
    fn visit_leaf(&self, leaf: usize, lo: usize, carry: &mut usize) -> Option<usize> {
        let w = leaf * LEAF_WORDS;
        let word = |k: usize| u128::from(self.used.get(w + k).copied().unwrap_or(u64::MAX));
        let used = word(0) | (word(1) << 64);
        let prefix = used.trailing_zeros() as usize;
        if *carry + prefix >= self.count {
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

    /// A leaf's search, unit run by unit run.
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
    /// order, in a loop and a group at a time: a node ruled out hands over to its next
    /// sibling, read with it, or once it is the last of its group, to its parent's next
    /// sibling (all four children ruled out rule the parent out), until the root is.
    /// Into a node whose prefix is a run ruled out, it goes straight down to the
    /// deepest node that starts there and ends past that run ([`Passing::Deep`]).
    fn visit(&self) -> Option<usize> {
        let tree = self.tree;
        // The free run (at or after `from`) that ends right before the current node.
        let mut carry = 0;
        let leaf = self.from / LEAF_UNITS;
        if leaf >= tree.leaves {
            return None;
        }
        // That leaf is the only node the walk meets that starts below `from`: every
        // later one lies after it or inside a node that does, which is what
        // `scan_group` takes for granted.
        let lo = leaf * LEAF_UNITS;
        let first = if lo >= self.from {
            self.visit_leaf(leaf, lo, &mut carry)
        } else {
            self.scan_leaf(leaf, lo, &mut carry)
        };
        if first.is_some() || tree.height == 0 {
            return first;
        }
        // The walk is at slot `slot` of group `group` of `level`, whose nodes are `len`
        // units each; the group starts at unit `group_lo`.
        let mut level = tree.leaf_level();
        let (mut group, mut slot, mut len) = (leaf / FAN, leaf % FAN + 1, LEAF_UNITS);
        let mut group_lo = group * FAN * LEAF_UNITS;
        loop {
            while slot == FAN {
                if level.depth + 1 == tree.height {
                    return None;
                }
                level = tree.up(level);
                slot = group % FAN + 1;
                group /= FAN;
                len *= FAN;
                group_lo = group * FAN * len;
            }
            let passing = if level.depth == 0 {
                match self.scan_leaves(level, group, &mut slot, group_lo, &mut carry) {
                    Some(at) => Passing::Fit(at),
                    None => Passing::RuledOut,
                }
            } else {
                self.scan_group(level, group, &mut slot, group_lo, len, &mut carry)
            };
            let run = match passing {
                Passing::Fit(at) => return Some(at),
                Passing::RuledOut => continue,
                Passing::MayHold => 0,
                Passing::Deep(prefix) => prefix,
            };
            // Into node `slot`, which may hold a fit.
            group_lo += slot * len;
            level = tree.down(level);
            (group, slot, len) = (group * FAN + slot, 0, len / FAN);
            // Past the first children that hold all of a ruled-out prefix run
            // (`Passing::Deep`): the walk would only descend into each of them in turn,
            // and climbs back through their siblings anyway.
            while 0 < run && run < len && level.depth > 0 {
                level = tree.down(level);
                (group, len) = (group * FAN, len / FAN);
            }
        }
    }

    /// The inner nodes of group `group` of `level` from slot `slot` on, in order: each
    /// of `len` units, the group starting at unit `group_lo` (every node at or after
    /// `from`); `carry` as in [`visit`](Self::visit), updated past each node ruled out.
    /// The fit if found, or all ruled out (`slot` is `FAN`), or as the node at `slot`
    /// is passed when it may hold a fit ([`Passing::MayHold`] or [`Passing::Deep`]).
    #[inline(always)]
    fn scan_group(
        &self,
        level: Level,
        group: usize,
        slot: &mut usize,
        group_lo: usize,
        len: usize,
        carry: &mut usize,
    ) -> Passing {
        // The stride of a group above the leaves, a constant here.
        let at = level.word + group * GROUP_WORDS;
        // Read in place, slot by slot: copied out as arrays, the words went through the
        // stack on every slot.
        let Some(words) = self.words.get(at..at + GROUP_WORDS) else {
            *slot = FAN;
            return Passing::RuledOut;
        };
        while *slot < FAN {
            let s = *slot;
            let runs = Runs {
                prefix: half_of(words[s], 0),
                suffix: half_of(words[s], 1),
                longest: half_of(words[FAN + s / 2], s % 2),
            };
            match self.pass_node(runs, group_lo + s * len, len, carry) {
                Passing::RuledOut => *slot += 1,
                passing => return passing,
            }
        }
        Passing::RuledOut
    }

    /// One node of `len` units from unit `lo` with runs `runs`, as a search passes it:
    /// the fit made of `carry` (the free units just before `lo`) and the node's
    /// prefix, or the node ruled out (`carry` updated past it), or a fit possible
    /// inside it. Shared by the walks over groups of inner nodes and of leaves.
    #[inline(always)]
    fn pass_node(&self, runs: Runs, lo: usize, len: usize, carry: &mut usize) -> Passing {
        let (count, prefix) = (self.count, runs.prefix as usize);
        if *carry + prefix >= count {
            // The run so far (it goes on past the node when the node is all free).
            if let Some(at) = self.fit(lo - *carry, lo + prefix) {
                return Passing::Fit(at);
            }
            if prefix == len {
                *carry += len;
                return Passing::RuledOut;
            }
            // Its aligned part is too short: look past it, inside the node.
            if prefix >= count {
                return Passing::Deep(prefix);
            }
        }
        if (runs.longest as usize) < count {
            *carry = if prefix == len {
                *carry + len
            } else {
                runs.suffix as usize
            };
            return Passing::RuledOut;
        }
        Passing::MayHold
    }

    /// [`scan_group`](Self::scan_group) for a group of leaves: a leaf that may hold a
    /// fit is [scanned](Self::scan_leaf) at once.
    // Out of line: inlined beside `scan_group`, the walk worked out both kinds of
    // group's place and bounds (and kept them on the stack) on every step, whichever
    // it was at.
    #[inline(never)]
    fn scan_leaves(
        &self,
        level: Level,
        group: usize,
        slot: &mut usize,
        group_lo: usize,
        carry: &mut usize,
    ) -> Option<usize> {
        let at = level.word + group * LEAF_GROUP_WORDS;
        let Some(&[low, high]) = self.words.get(at..at + LEAF_GROUP_WORDS) else {
            *slot = FAN;
            return None;
        };
        let entries = [low, high];
        while *slot < FAN {
            let s = *slot;
            let runs = unpack_leaf(half_of(entries[s / 2], s % 2));
            let lo = group_lo + s * LEAF_UNITS;
            *slot += 1;
            match self.pass_node(runs, lo, LEAF_UNITS, carry) {
                Passing::Fit(at) => return Some(at),
                Passing::RuledOut => {}
                Passing::MayHold | Passing::Deep(_) => {
                    let found = self.scan_leaf(group * FAN + s, lo, carry);
                    if found.is_some() {
                        return found;
                    }
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::{
        Demand, EAGER_CHANGES, EAGER_LEAVES, RunTree, Runs, join_group, pack_leaf, unpack_leaf,
        words,
    };
    use alloc::vec;
    use alloc::vec::Vec;

    use crate::test_rng::{below, xorshift};

    /// A tree and its words, as a bitmap's storage holds them, built over `used`.
    fn built(used: &[u64]) -> (RunTree, Vec<u64>) {
        let tree = RunTree::new(used.len());
        let mut words = vec![0; tree.words()];
        tree.init(used, &mut words);
        (tree, words)
    }

    /// A demand that leaves every change to the next search.
    fn quiet() -> Demand {
        let mut demand = Demand::new();
        for _ in 0..EAGER_CHANGES {
            demand.change();
        }
        demand
    }

    fn is_free(used: &[u64], units: usize, u: usize) -> bool {
        u < units && used[u / 64] & (1 << (u % 64)) == 0
    }

    /// Every search of a few bounds, counts and alignments against a unit-by-unit one.
    fn check_searches(tree: &RunTree, used: &[u64], words: &[u64], units: usize, every: usize) {
        for from in (0..units).step_by(every) {
            for count in [1, 2, 5, 63, 64, 65, 127, 128, 129, 300, 513, 1000, 2100] {
                for (align, phase) in [(1, 0), (2, 1), (8, 3), (64, 0), (128, 77), (512, 5)] {
                    let aligned = (from..units).find(|&p| {
                        (phase + p) % align == 0 && (p..p + count).all(|u| is_free(used, units, u))
                    });
                    assert_eq!(
                        tree.first_fit(used, words, from, count, align, phase),
                        aligned,
                        "from {from} count {count} align {align} phase {phase}"
                    );
                }
            }
        }
    }

    #[test]
    fn leaf_entries_hold_every_leaf_run() {
        for runs in [
            Runs::of_leaf(0),
            Runs::of_leaf(u128::MAX),
            Runs::of_leaf(1),
            Runs::of_leaf(1 << 127),
            Runs::of_leaf(0x00F0_0000_0000_0000_0000_0000_0000_000F),
        ] {
            assert_eq!(unpack_leaf(pack_leaf(runs)), runs);
        }
    }

    #[test]
    fn finds_the_lowest_fit_in_patterned_maps() {
        let mut rng = 0x1234_5678_9abc_def1_u64;
        // One leaf (no tree), one group of leaves, a root over groups, and a last
        // group of leaves part past the map, at each of three heights.
        for used_words in [1, 2, 3, 5, 8, 9, 17, 40, 70, 131] {
            for density in [0, 1, 3, 7, 40] {
                let used: Vec<u64> = (0..used_words)
                    .map(|k| {
                        if density == 40 {
                            // Large used blocks between long free runs.
                            return if (k / 3) % 2 == 0 { u64::MAX } else { 0 };
                        }
                        let mut w = 0;
                        for _ in 0..density {
                            w |= 1 << (xorshift(&mut rng) % 64);
                        }
                        w
                    })
                    .collect();
                let (tree, words) = built(&used);
                check_searches(&tree, &used, &words, used_words * 64, 37);
            }
        }
    }

    /// Free runs all of one length, many across node starts at every level and
    /// misaligned for some requests, others of the same length elsewhere: a node whose
    /// prefix is such a run and its longest is sent down to where the run ends
    /// (`Passing::Deep`), which must still find the lowest fit, inside or after it.
    #[test]
    fn finds_the_lowest_fit_past_runs_too_short_once_aligned_at_node_starts() {
        let mut rng = 0x0bad_cafe_1234_5678_u64;
        for used_words in [8, 40, 131, 520] {
            let units = used_words * 64;
            for len in [70, 100, 130, 600] {
                let mut used = vec![u64::MAX; used_words];
                let mut free = |start: usize| {
                    for u in start..(start + len).min(units) {
                        used[u / 64] &= !(1 << (u % 64));
                    }
                };
                // A run ending a little past a node start of each size, for a few nodes.
                for node in [128, 512, 2048, 8192, 32768] {
                    for _ in 0..4 {
                        let lo = below(&mut rng, units) / node * node;
                        let before = below(&mut rng, len);
                        free(lo.saturating_sub(before));
                    }
                }
                // Runs of the same length anywhere, some inside those nodes.
                for _ in 0..6 {
                    free(below(&mut rng, units));
                }
                let (tree, words) = built(&used);
                check_searches(&tree, &used, &words, units, units / 29 + 1);
            }
        }
    }

    /// Random changes on `used_words` words of used map, of up to `longest` units,
    /// marked with `demand` for each step; after each the tree, once settled, must be
    /// what a fresh build gives, word for word, and eager changes must leave it settled.
    fn check_changes(
        used_words: usize,
        longest: usize,
        steps: usize,
        demand: impl Fn(usize) -> Demand,
    ) {
        let mut used = vec![0u64; used_words];
        let units = used.len() * 64;
        let (tree, mut words) = built(&used);
        let mut rng = 0x2545_f491_4f6c_dd1d_u64;
        for step in 0..steps {
            xorshift(&mut rng);
            // Changes within one leaf (climbs) and across several (by level), short and
            // long, so that their ends fall on every child at every level.
            let len = match step % 4 {
                0 => 1 + (rng >> 40) as usize % 8,
                1 => 1 + (rng >> 40) as usize % 200,
                2 => 1 + (rng >> 40) as usize % 600,
                _ => 1 + (rng >> 40) as usize % longest,
            };
            let len = len.min(units);
            let start = (rng >> 8) as usize % (units - len + 1);
            let now_used = rng & 1 == 1;
            for u in start..start + len {
                words::assign(&mut used, u, now_used);
            }
            let demand = demand(step);
            let was_settled = !words::test(&words, tree.root_bit());
            tree.mark(&used, &mut words, (start, start + len), now_used, demand);
            if was_settled && demand == Demand::new() {
                assert!(
                    !words::test(&words, tree.root_bit()),
                    "step {step}: left stale"
                );
                assert_eq!(words, built(&used).1, "step {step}: {len} units at {start}");
            }
            if step % 3 == 0 {
                tree.settle(&used, &mut words);
                assert_eq!(words, built(&used).1, "step {step}: {len} units at {start}");
            }
        }
        tree.settle(&used, &mut words);
        assert_eq!(words, built(&used).1);
        check_searches(&tree, &used, &words, units, 301);
    }

    #[test]
    fn eager_changes_leave_the_tree_a_fresh_build_would_give() {
        // 37 used words: 19 leaves, the last group of leaves part past the map.
        check_changes(37, 900, 3_000, |_| Demand::new());
        // 301 words: 151 leaves, four levels, changes of up to 117 leaves.
        check_changes(301, 15_000, 3_000, |_| Demand::new());
        check_changes(3, 150, 500, |_| Demand::new());
    }

    #[test]
    fn holes_opened_and_filled_inside_leaves_move_only_the_longest_runs_above() {
        // Blocks of 20 to 35 units side by side, one unit apart, over 301 words (four
        // levels above the leaves): freeing and taking back blocks that lie inside one
        // leaf moves the longest runs of their ancestors, mostly nothing else, rising
        // and falling past the runs of their siblings.
        let mut used = vec![0u64; 301];
        let units = used.len() * 64;
        let mut blocks = Vec::new();
        let mut rng = 0x0bad_5eed_1234_5678_u64;
        let mut next = || xorshift(&mut rng);
        let mut at = 0;
        while at + 36 < units {
            let len = 20 + (next() % 16) as usize;
            blocks.push((at, at + len));
            at += len + 1;
        }
        let set = |used: &mut [u64], (start, end): (usize, usize), on: bool| {
            for u in start..end {
                words::assign(used, u, on);
            }
        };
        for &block in &blocks {
            set(&mut used, block, true);
        }
        let (tree, mut words) = built(&used);
        let mut free = vec![false; blocks.len()];
        for step in 0..4_000 {
            let b = (next() >> 40) as usize % blocks.len();
            let (start, end) = blocks[b];
            if start / 128 != (end - 1) / 128 {
                continue;
            }
            free[b] = !free[b];
            set(&mut used, (start, end), !free[b]);
            tree.mark(&used, &mut words, (start, end), !free[b], Demand::new());
            assert_eq!(words, built(&used).1, "step {step}: block {b} at {start}");
        }
        check_searches(&tree, &used, &words, units, 301);
    }

    #[test]
    fn stale_changes_settle_to_a_fresh_build() {
        check_changes(37, 900, 3_000, |_| quiet());
        check_changes(301, 15_000, 3_000, |_| quiet());
        check_changes(1030, 60_000, 2_000, |step| {
            if step % 5 < 2 { Demand::new() } else { quiet() }
        });
    }

    #[test]
    fn refresh_follows_changes() {
        let mut used = vec![0u64; 40];
        let (tree, mut words) = built(&used);
        assert_eq!(tree.longest(&used, &words), 40 * 64);
        used[3] = 1 << 5;
        used[30] = u64::MAX;
        tree.mark(&used, &mut words, (3 * 64 + 5, 3 * 64 + 6), true, quiet());
        tree.mark(&used, &mut words, (30 * 64, 31 * 64), true, quiet());
        assert!(words::test(&words, tree.root_bit()), "left stale");
        tree.settle(&used, &mut words);
        assert_eq!(tree.first_run(&used, &words, 0, 64 * 4), Some(3 * 64 + 6));
        assert_eq!(tree.first_run(&used, &words, 0, 27 * 64), None);
        assert_eq!(tree.longest(&used, &words), 64 * 26 + 58);
        used[3] = 0;
        used[30] = 0;
        tree.mark(
            &used,
            &mut words,
            (3 * 64 + 5, 3 * 64 + 6),
            false,
            Demand::new(),
        );
        tree.mark(&used, &mut words, (30 * 64, 31 * 64), false, Demand::new());
        tree.settle(&used, &mut words);
        assert_eq!(tree.first_run(&used, &words, 10, 40 * 64 - 10), Some(10));
        assert_eq!(tree.first_run(&used, &words, 10, 40 * 64 - 9), None);
        assert_eq!(tree.first_run(&used, &words, 0, usize::MAX), None);
        assert_eq!(words, built(&used).1);
    }

    #[test]
    fn groups_take_two_words_of_leaves_and_six_above() {
        // 40 used words: 20 leaves in 5 groups of leaves, 2 groups of their parents
        // and 1 of the root's children.
        let tree = RunTree::new(40);
        assert_eq!(tree.words(), 1 + 5 * 2 + 3 * 6);
        assert_eq!(RunTree::new(0).words(), 0);
        assert_eq!(RunTree::new(2).words(), 0);
        assert_eq!(RunTree::new(3).words(), 1 + 2);
        // 2^20 leaves: every level a quarter of the one below, none rounded up.
        let tree = RunTree::new(2 << 20);
        let inner: usize = (1..=10).map(|d| 1 << (20 - 2 * d)).sum();
        let leaf_groups = 1 << 18;
        assert_eq!(
            tree.words(),
            inner.div_ceil(64) + 2 * leaf_groups + 6 * (inner - leaf_groups)
        );
        let (tree, words) = built(&[u64::MAX; 40]);
        let top = tree.top_level();
        assert_eq!(
            join_group(&RunTree::group(&words, top, 0), 128 * 16).longest,
            0
        );
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
    fn leaf_runs_find_every_run_length_at_every_place() {
        // One free run of each length at each start, alone or beside a shorter one
        // elsewhere (one unit shorter, so a step of the descent that kept a wrong
        // candidate would come out one off), within a word, filling one, or across the
        // middle: every bit of the longest run's length is decided by a select.
        for len in 1..=128u32 {
            let run = u128::MAX >> (128 - len);
            for at in 0..=128 - len {
                let free = run << at;
                let mut cases = vec![free];
                if len > 1 && at + len + 1 + (len - 1) <= 128 {
                    cases.push(free | (run >> 1) << (at + len + 1));
                }
                if len > 1 && at >= len {
                    cases.push(free | (run >> 1) << (at - len));
                }
                for free in cases {
                    let used = !free;
                    #[allow(clippy::cast_possible_truncation)]
                    let (lo, hi) = (used as u64, (used >> 64) as u64);
                    let words = Runs::join(Runs::of_word(lo), 64, Runs::of_word(hi), 64);
                    let leaf = Runs::of_leaf(used);
                    assert_eq!(leaf, words, "{len} at {at}: {used:#x}");
                    assert_eq!(leaf.longest, len, "{len} at {at}: {used:#x}");
                }
            }
        }
    }

    #[test]
    fn leaf_runs_match_word_runs() {
        let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || xorshift(&mut rng);
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
        assert!(words::test(&words, tree.root_bit()), "left stale");
        tree.mark(&used, &mut words, (4 * 64, 20 * 64), true, Demand::new());
        tree.settle(&used, &mut words);
        assert_eq!(words, built(&used).1);
    }
}
