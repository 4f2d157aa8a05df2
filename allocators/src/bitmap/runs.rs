//! The run tree of the bitmap backend: where the free runs long enough for a request are.
//!
//! A complete binary tree over *leaves* of 128 units (two words of the used map). Every
//! inner node stores, for the units it covers, the free run at its start (`prefix`), the
//! free run at its end (`suffix`) and its longest free run, each a `u32` (12 bytes per
//! node, one node per leaf slot, slots rounded up to a power of two: 0.75 to 1.5 bits
//! per unit). Leaves are not stored: their runs are
//! read off the two used words when needed. [`RunTree::first_run`] finds the lowest
//! offset at or after a bound where `count` free units start in `O(log n)` node visits
//! plus one leaf scan per level at most, whatever lies below it. A change of the used
//! map only marks the nodes above it stale ([`RunTree::mark`], amortized `O(1)` per
//! leaf); a search first recomputes the stale ones ([`RunTree::settle`]), so the tree
//! costs nothing while the word scan finds every fit.
//!
//! Values saturate at `u32::MAX`; a saturated value still is at least any count the
//! tree is asked about, which is why [`RunTree::first_run`] refuses counts above it.
//! This module only reads the used map; its owner must mark every change of it.

#![forbid(unsafe_code)]

use crate::fallible::{OutOfMemory, try_boxed_slice};
use alloc::boxed::Box;

use super::words;

/// Used-map words per leaf.
const LEAF_WORDS: usize = 2;
/// Units per leaf.
const LEAF_UNITS: usize = LEAF_WORDS * 64;

/// The free runs of a stretch of units: at its start, at its end, and the longest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Runs {
    prefix: u32,
    suffix: u32,
    longest: u32,
}

impl Runs {
    /// The runs of one used word (a set bit is a used unit).
    fn of_word(used: u64) -> Self {
        match used {
            0 => Self {
                prefix: 64,
                suffix: 64,
                longest: 64,
            },
            u64::MAX => Self::default(),
            _ => {
                // Longest run of zero bits, one free run per step (at most 32).
                let (mut free, mut longest) = (!used, 0);
                while free != 0 {
                    let start = free.trailing_zeros();
                    let len = (!(free >> start)).trailing_zeros();
                    longest = longest.max(len);
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

    /// The runs of `left` (of `left_len` units) followed by `right` (of `right_len`).
    fn join(left: Self, left_len: usize, right: Self, right_len: usize) -> Self {
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
            longest: left
                .longest
                .max(right.longest)
                .max(left.suffix.saturating_add(right.prefix)),
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

/// The run tree over a used map of a fixed number of words.
#[derive(Clone, Debug)]
pub(super) struct RunTree {
    /// Leaf slots, a power of two (slots past the map read as fully used).
    leaves: usize,
    /// Inner nodes in heap order: the root is 1, the children of `i` are `2i`, `2i + 1`
    /// (slot 0 unused); indices `leaves..2 * leaves` are the leaves, not stored.
    nodes: Box<[Runs]>,
    /// One bit per inner node: its stored runs are stale. The ancestors of a stale
    /// node are stale too, so [`settle`](Self::settle) finds them all from the root.
    stale: Box<[u64]>,
}

impl RunTree {
    /// The tree of `used`, built from scratch.
    pub(super) fn new(used: &[u64]) -> Result<Self, OutOfMemory> {
        let leaves = used.len().div_ceil(LEAF_WORDS).max(1).next_power_of_two();
        // One leaf needs no inner node; otherwise slot 0 is spent to keep heap order.
        let stored = if leaves > 1 { leaves } else { 0 };
        let mut tree = Self {
            leaves,
            nodes: try_boxed_slice(stored, Runs::default, "bitmap run-tree nodes")?,
            stale: try_boxed_slice(stored.div_ceil(64), || 0, "bitmap run-tree words")?,
        };
        for i in (1..leaves).rev() {
            let half = tree.len_of(2 * i);
            tree.nodes[i] = tree.join_children(used, i, half);
        }
        Ok(tree)
    }

    /// Bytes held: 12 per leaf slot (a power of two of 128-unit leaves) plus a stale
    /// bit per slot, none for a space of at most one leaf.
    pub(super) fn bytes(&self) -> usize {
        self.nodes.len() * size_of::<Runs>() + self.stale.len() * size_of::<u64>()
    }

    /// [`bytes`](Self::bytes) of the tree over `words` used-map words.
    #[cfg(test)]
    pub(super) fn bytes_for(words: usize) -> usize {
        let leaves = words.div_ceil(LEAF_WORDS).max(1).next_power_of_two();
        if leaves > 1 {
            leaves * size_of::<Runs>() + leaves.div_ceil(64) * size_of::<u64>()
        } else {
            0
        }
    }

    /// Units covered by a node of index `i`.
    fn len_of(&self, i: usize) -> usize {
        // Depth below the root: leaves are at depth log2(leaves).
        let depth = (usize::BITS - 1 - i.leading_zeros()) as usize;
        let leaf_depth = self.leaves.trailing_zeros() as usize;
        LEAF_UNITS << (leaf_depth - depth)
    }

    /// The runs of node `i` (inner: stored; leaf: read off the used map).
    fn runs(&self, used: &[u64], i: usize) -> Runs {
        if i < self.leaves {
            return self.nodes[i];
        }
        let w = (i - self.leaves) * LEAF_WORDS;
        let word = |k: usize| Runs::of_word(used.get(w + k).copied().unwrap_or(u64::MAX));
        Runs::join(word(0), 64, word(1), 64)
    }

    /// The runs of inner node `i` from its children, each of `half` units.
    fn join_children(&self, used: &[u64], i: usize, half: usize) -> Runs {
        Runs::join(
            self.runs(used, 2 * i),
            half,
            self.runs(used, 2 * i + 1),
            half,
        )
    }

    fn is_stale(&self, i: usize) -> bool {
        self.stale
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// Marks the nodes above used words `first..=last` stale, a level at a time (a word
    /// of bits per 64 nodes), up to the first single ancestor already stale. Nothing is recomputed
    /// until a search needs the tree ([`settle`](Self::settle)), so changes that no
    /// search looks at cost a few bit tests.
    pub(super) fn mark(&mut self, first: usize, last: usize) {
        let (mut lo, mut hi) = (
            (first / LEAF_WORDS + self.leaves) / 2,
            (last / LEAF_WORDS + self.leaves) / 2,
        );
        while lo >= 1 && hi < self.leaves {
            if lo == hi && self.is_stale(lo) {
                break;
            }
            words::assign_range(&mut self.stale, lo, hi + 1, true);
            lo /= 2;
            hi /= 2;
        }
    }

    /// Recomputes every stale node from `used`, children first: `O(stale nodes)`.
    pub(super) fn settle(&mut self, used: &[u64]) {
        if self.leaves > 1 {
            self.settle_node(used, 1, LEAF_UNITS * self.leaves / 2);
        }
    }

    fn settle_node(&mut self, used: &[u64], i: usize, half: usize) {
        if !self.is_stale(i) {
            return;
        }
        if 2 * i < self.leaves {
            self.settle_node(used, 2 * i, half / 2);
            self.settle_node(used, 2 * i + 1, half / 2);
        }
        self.nodes[i] = self.join_children(used, i, half);
        self.stale[i / 64] &= !(1 << (i % 64));
    }

    /// The lowest offset `p >= from` such that `[p, p + count)` is free, if any, on a
    /// [settled](Self::settle) tree. `None` also for `count == 0` or `count > u32::MAX` (the caller searches those
    /// another way).
    pub(super) fn first_run(&self, used: &[u64], from: usize, count: usize) -> Option<usize> {
        if count == 0 || count > u32::MAX as usize {
            return None;
        }
        let mut carry = 0;
        let root = Node {
            index: 1,
            lo: 0,
            len: LEAF_UNITS * self.leaves,
        };
        self.visit(used, root, from, count, &mut carry)
    }

    /// Searches node `i`, which covers units from `lo`; `carry` is the length of the
    /// free run (at or after `from`) that ends right before `lo`, and is updated to the
    /// one that ends at the end of the node.
    fn visit(
        &self,
        used: &[u64],
        node: Node,
        from: usize,
        count: usize,
        carry: &mut usize,
    ) -> Option<usize> {
        let Node { index: i, lo, len } = node;
        let hi = lo + len;
        if hi <= from {
            *carry = 0;
            return None;
        }
        if lo >= from {
            let runs = self.runs(used, i);
            if *carry + runs.prefix as usize >= count {
                return Some(lo - *carry);
            }
            if (runs.longest as usize) < count {
                *carry = if runs.prefix as usize == len {
                    *carry + len
                } else {
                    runs.suffix as usize
                };
                return None;
            }
        }
        if i >= self.leaves {
            return Self::scan_leaf(used, i - self.leaves, lo, from, count, carry);
        }
        let half = len / 2;
        let left = Node {
            index: 2 * i,
            lo,
            len: half,
        };
        if let Some(found) = self.visit(used, left, from, count, carry) {
            return Some(found);
        }
        let right = Node {
            index: 2 * i + 1,
            lo: lo + half,
            len: half,
        };
        self.visit(used, right, from, count, carry)
    }

    /// [`visit`](Self::visit) of a leaf, unit run by unit run.
    fn scan_leaf(
        used: &[u64],
        leaf: usize,
        lo: usize,
        from: usize,
        count: usize,
        carry: &mut usize,
    ) -> Option<usize> {
        let w = leaf * LEAF_WORDS;
        let word = |k: usize| u128::from(used.get(w + k).copied().unwrap_or(u64::MAX));
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
                return Some(lo + bit - *carry);
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

    /// The longest free run anywhere (saturated at `u32::MAX`).
    #[cfg(test)]
    pub(super) fn longest(&self, used: &[u64]) -> usize {
        self.runs(used, 1).longest as usize
    }
}

#[cfg(test)]
mod tests {
    use super::{RunTree, Runs};
    use alloc::vec;
    use alloc::vec::Vec;

    /// The lowest `p >= from` with `count` free units, unit by unit.
    fn naive(used: &[u64], units: usize, from: usize, count: usize) -> Option<usize> {
        let free = |u: usize| u < units && used[u / 64] & (1 << (u % 64)) == 0;
        (from..units).find(|&p| (p..p + count).all(free))
    }

    fn check(used: &[u64], units: usize) {
        let tree = RunTree::new(used).unwrap();
        for from in (0..units).step_by(7) {
            for count in [1, 2, 5, 63, 64, 65, 127, 128, 129, 300, 1000] {
                assert_eq!(
                    tree.first_run(used, from, count),
                    naive(used, units, from, count),
                    "from {from} count {count}"
                );
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
        let mut used = vec![0u64; 40];
        let mut tree = RunTree::new(&used).unwrap();
        assert_eq!(tree.longest(&used), 40 * 64);
        used[3] = 1 << 5;
        used[30] = u64::MAX;
        tree.mark(3, 3);
        tree.mark(30, 30);
        tree.settle(&used);
        assert_eq!(tree.first_run(&used, 0, 64 * 4), Some(3 * 64 + 6));
        assert_eq!(tree.first_run(&used, 0, 27 * 64), None);
        assert_eq!(tree.longest(&used), 64 * 26 + 58);
        used[3] = 0;
        used[30] = 0;
        tree.mark(3, 30);
        tree.settle(&used);
        assert_eq!(tree.first_run(&used, 10, 40 * 64 - 10), Some(10));
        assert_eq!(tree.first_run(&used, 10, 40 * 64 - 9), None);
        assert_eq!(tree.first_run(&used, 0, usize::MAX), None);
    }
}
