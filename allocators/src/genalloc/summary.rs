//! The free-run summary of one chunk's bitmap: where the free runs long enough for a
//! request are, so a search visits `O(log n)` nodes instead of every bitmap word.
//!
//! This module owns the summary tree, its update protocol and the tree searches. It
//! only reads the bitmap (through [`Bitmap::busy_word`]); the bitmap stays the truth,
//! and the summary is a hint that its users verify ([`algorithm`](super::algorithm)
//! claims what a search found, and falls back to the word scan when the hint is stale).
//!
//! # Tree
//!
//! A complete binary tree over *leaves* of [`LEAF_UNITS`] units (128: four bitmap words
//! on 64-bit targets, eight on 32-bit ones). Every node stores, for the units it
//! covers, the free run at its start (`prefix`), the free run at its end (`suffix`),
//! its longest free run, and `classes`: bit `k` is set when a free run that touches
//! neither end of the node has a length in `[2^k, 2^(k+1))`. Leaves are stored too, so
//! a change recomputes only its own leaves from the bitmap words. A node is four `u32`
//! fields in atomics (two words, two fields each, on 64-bit targets): 32 bytes per leaf
//! slot counting the inner nodes, leaf slots rounded up to a power of two, so 2 to 4
//! bits per unit next to the bitmap's 2. Chunks of fewer than
//! two whole leaves, or of more than `u32::MAX` units, get no tree and are searched word
//! by word: a scan of at most eight words costs less than keeping a tree current.
//! Three more words per chunk keep the free tail (below).
//!
//! # The free tail stays out of the tree
//!
//! The free run that reaches the chunk's end, the *tail*, is left out: the tree
//! describes the units below `tail`, and its leaves read every unit from `tail` on as
//! busy. While a chunk fills, every request that no hole holds goes to the tail; were
//! the tail in the tree, each such claim (and each free next to it) would change the
//! suffix and longest run of every ancestor of the boundary leaf, a climb to the
//! root. Outside the tree, a claim that starts at the tail reads busy before (in the
//! tail) and after (claimed), so it only moves `tail` and touches no node.
//!
//! First fit takes the tree's lowest fit below the tail; only when there is none, the
//! start of the free run that ends at the tail (normally the tail itself), if the
//! units from there to the chunk's end hold the request. That is the lowest fit: a fit
//! below the tail starts below that run or at its start. Best fit and windowed
//! searches walk the tree up to the tail and report the window's part of the tail as
//! one run, joined to the run that reaches the tail.
//!
//! The updater moves `tail` when a change reached it: past the last unit a claim put
//! in the tail, unmasking the free units it skipped (an aligned or fixed claim that
//! starts past the tail), while the claimed units read busy before and after and are
//! not recomputed; and down over the free run before it when the unit before the tail
//! is free (a free reached it), once the changed leaves are recomputed, masking the
//! run. The run's start comes from the leaf's words and the free ends of the nodes to
//! its left, `O(log n)`, the same walk a search makes, and a move masks at most
//! [`TAIL_DROP`] units of it, so the leaves one change rewrites stay bounded. While
//! the tail stops short of the run's start, every change moves it on, and a search
//! takes the run's start as the tail's answer. A move of `d` units recomputes `O(d / 128)` leaves and their paths: `d`
//! is at most [`TAIL_DROP`] down, and up it is the claim's own units plus the free
//! units it skipped, which earlier moves down masked (each paying for its units) or
//! which were the chunk's all-free start (a fixed claim at the end of a fresh chunk
//! pays once for the leaves below it, as building the tree did before).
//!
//! Everything right of the leaves below the tail reads busy, so searches start at the
//! *top*: the lowest node on the tree's left edge that covers those leaves (while a
//! chunk fills, a few levels below the root). Changes below the tail climb no higher
//! than the top, so the left-edge nodes above it are not kept current; every other
//! node is (those to the top's right only change through tail moves, whose climbs
//! meet the left edge above the top and stop there). A tail move up that makes a
//! higher node the top recomputes the edge up to it from the old top and its right
//! siblings before the new tail is published.
//!
//! # Updates: one updater at a time, nobody waits
//!
//! Every successful claim and every finished free calls [`Summary::changed`] after its
//! bitmap words changed. The nodes are written by one thread at a time, the *updater*;
//! the role is the flag `updating`, taken with a compare-exchange from 0 to 1 and handed
//! back with a store of 0. Nobody ever waits for it:
//!
//! * a change that takes the role recomputes its own leaves and the paths above them,
//!   then hands it back;
//! * a change that finds the role taken publishes its leaves in the `stale` bit set
//!   instead and leaves. A leaf is counted in `dirty` before its bit is set, and a leaf
//!   already in the set is published again by a compare-exchange that changes nothing,
//!   so the drain that clears its bit is ordered after the change and reads its words;
//! * *deferring*: once [`EAGER_CHANGES`] changes have passed without a search that
//!   needed the tree (first fit found its fit in the first leaf's words, see
//!   [`algorithm`](super::algorithm)), changes only publish their leaves, so a
//!   workload that keeps allocating near the start of the chunk pays one
//!   compare-exchange per change instead of a path update;
//! * a search that needs the tree and finds `dirty > 0` takes the role if it is free,
//!   drains the stale set (neighbouring leaves as one range, counting each off
//!   `dirty` once its path is current) and hands the role back.
//!
//! * *pending*: a change that only frees units strictly inside one leaf (the leaf's
//!   ends stay, its longest run and size classes only grow) stores the leaf and names
//!   it the pending leaf instead of updating the path; searches fold that leaf's
//!   longest run and classes into its ancestors as they read them. A later change
//!   that brings the leaf back to what the ancestors describe (a claim that refills
//!   the hole) only stores the leaf, one that keeps the gain inside keeps it pending,
//!   any other updates the path from the leaf's parent; and a change of any other
//!   leaf first brings the pending leaf's path up to date (folding its longest run
//!   and classes into the ancestors that lack them, as searches do), so at most one
//!   leaf is pending.
//!
//! * *tail moves*: a claim that reached the tail moves it up (see above) and
//!   recomputes only its units below the tail or the ones it skipped past it (a claim
//!   that starts exactly at the tail only moves it); a free that reached it moves it
//!   down once its leaves are recomputed.
//!
//! So no change is ever left out of the tree for good (its leaf stays counted until a
//! drain recomputed it), and no thread ever waits for another. A change of `c` units
//! recomputes `O(c / 128)` leaves and the nodes above them, level by level, up to the
//! first level where no node changed: `O(c / 128 + log n)`. Only the nodes at the two
//! ends of each level are joined from their children: the leaves wholly inside a
//! claim (busy while its caller holds them) or, with exclusive access, a free, and
//! the leaves a move of the tail down masks, are known to be all busy or all free, so
//! they and every node over only them are stored as that, with no word read and no
//! join (with shared access a racing claim may take freed units back before the
//! update, so a free's leaves are read from the words). A deferred one costs
//! `O(c / 128 / 64 + 1)` compare-exchanges, and the drain that folds in `s` stale
//! leaves costs `O(s · log n)` plus one read of the stale set, a bit per leaf.
//!
//! # Searches trust the tree only when it is settled
//!
//! A search uses the tree only when it reads `dirty == 0` and then `updating == 0`
//! (acquire: it then sees every node the last updater or drain wrote), and then reads
//! the pending leaf (acquire: the updater names a leaf, or none, only after writing
//! the slots that make the ancestors right without it). At that point
//! the tree describes every change made by a call that has returned. A change still in
//! flight can make the tree show a run that was just claimed (the caller finds it busy
//! and falls back to the word scan) or miss one that is being freed (so the search,
//! like one that ran a moment earlier, does not use it). A run freed by a call that
//! returned before the search began, and free throughout the search, is always found:
//! node values written meanwhile come from bitmap states in which it is free too.
//! While another thread holds the role, or stale leaves wait and the role is taken,
//! the callers scan the words, as genalloc did before it had a tree; under steady
//! contention on one chunk searches therefore cost what they did before.
//!
//! # A search never mixes two tails
//!
//! A move of the tail rewrites leaves a search may be reading: a move down masks free
//! units the tree showed, a move up unmasks units that were in the tail. A search that
//! read the tail before a move and the leaves after it (or the other way round) could
//! see a run in neither place, and miss it. So the updater brackets every move that
//! rewrites leaves in `tail_moves`: it stores an odd value, fences (release), stores
//! the tail and rewrites the leaves, then stores the next even value (release). A
//! search reads `tail_moves` (acquire) before it reads the tail, and again after it
//! read the nodes, behind an acquire fence: had it read any node a later move wrote,
//! the fence pairs with that move's release fence and the second read sees the odd
//! value or a later one. A search that reads an odd value, or two different ones,
//! treats the tree as unsettled (the word scan decides); one that reads the same even
//! value saw one tail and leaves masked by it, and the argument above holds for it
//! unchanged: below the tail the tree is what it was, and every unit from the tail on
//! was free in the bitmap state the updater last moved it from.
//!
//! A claim that starts exactly at the tail moves it with a plain store, no bracket:
//! no leaf changes (its units read busy before and after). A search that still reads
//! the old tail answers with units that are now claimed, which its claim finds busy,
//! so the word scan decides, as for any answer a change in flight took. So does a
//! claim from below the tail into it, after its leaves below the tail are recomputed
//! as for any claim: from the tail on its units read busy either way, and the store
//! (release) is after those leaves, so a search that reads the new tail sees them. So the tree
//! and its tail never hand out a claimed unit (every answer is claimed, and the claim
//! is the check) and never miss a run that a search without racing moves would find.
//!
//! # One chunk user: the same code, plain writes
//!
//! Everything above is the [`Shared`](super::access::Shared) access. The updates and
//! searches are generic over [`Access`]: with
//! [`Exclusive`](super::access::Exclusive) access (through `&mut`, so there is no
//! racing search and no other updater) the role is held without taking it,
//! publishing a leaf and draining the stale set are loads and stores, every acquire
//! and release above is relaxed (nothing to synchronise with), and a tail move has no
//! bracket, which searches then do not check; the tree goes through the same states.
#![forbid(unsafe_code)]

use crate::fallible::{OutOfMemory, try_boxed_slice};
use alloc::boxed::Box;

use super::access::Access;
use super::bits::{Bitmap, UNITS_PER_WORD, USED_HALF};
use super::sync::{AtomicU32, AtomicUsize, Ordering};

/// Bitmap words per leaf. Loom builds use one word per leaf so that a model of a few
/// dozen units already has a tree with inner nodes to race on.
#[cfg(not(loom))]
const LEAF_WORDS: usize = 128 / UNITS_PER_WORD;
#[cfg(loom)]
const LEAF_WORDS: usize = 1;

/// Units per leaf.
pub(crate) const LEAF_UNITS: usize = LEAF_WORDS * UNITS_PER_WORD;

/// Size classes of the runs strictly inside a leaf (shorter than the leaf).
const LEAF_CLASSES: usize = LEAF_UNITS.trailing_zeros() as usize;

/// Changes folded into the tree at once after a search needed it; later ones are
/// only published in the stale set until a search needs the tree again.
const EAGER_CHANGES: u32 = 4;

/// Leaves with at most this many free runs are summarised run by run (see
/// [`Runs::of_few_runs`]); more fragmented ones bit-parallel. At four, a leaf of four
/// short runs (small blocks' holes) cost more run by run than the few doubling steps
/// its short runs take.
const FEW_RUNS: u32 = 3;

/// Requests of at most this many units find their start in a leaf by doubling
/// ([`lowest_fit_in_leaf`], at most two steps), longer ones run by run
/// ([`lowest_run_in_leaf`]): short requests skip many short runs, long ones few.
const SHORT_FIT: usize = 4;

/// Bits per stale-set word.
const STALE_BITS: usize = usize::BITS as usize;

/// Units the tail moves down by at most per change (see [`Summary::tail_after_frees`]):
/// a change then masks a bounded number of leaves, and a tail left short of the free
/// run before it is still searched right ([`Summary::run_before`]).
const TAIL_DROP: usize = 256 * LEAF_UNITS;

/// The units of leaf `leaf` below unit `tail`, as a mask over the leaf's bits.
fn below_tail(leaf: usize, tail: usize) -> u128 {
    let first = leaf * LEAF_UNITS;
    if tail >= first + LEAF_UNITS {
        u128::MAX
    } else if tail <= first {
        0
    } else {
        (1u128 << (tail - first)) - 1
    }
}

/// The size class of a run of `len > 0` units: `floor(log2(len))`; a request of
/// `count` units starts the best-fit search at [`SmallestInClass`] of `class(count)`.
pub(crate) fn class(len: usize) -> u32 {
    usize::BITS - 1 - len.leading_zeros()
}

/// `v` as a `u32`; every run length stored here is at most the chunk's units, which a
/// chunk with a tree keeps within `u32`.
fn narrow(v: usize) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// The lowest unit of a leaf where `count` free units start and end inside it, its
/// free units the set bits of `free`: the lowest bit `p` such that the `count` units
/// from `p` are all free, however many shorter runs come first.
fn lowest_fit_in_leaf(free: u128, count: usize) -> Option<usize> {
    // The shortest requests by constant shifts: a `u128` shift by a variable amount
    // costs several instructions more on 64-bit targets.
    let starts = match count {
        0 => return None,
        1 => free,
        2 => free & free >> 1,
        3 => free & free >> 1 & free >> 2,
        4 => {
            let pairs = free & free >> 1;
            pairs & pairs >> 2
        }
        _ => return lowest_fit_by_doubling(free, count),
    };
    (starts != 0).then(|| starts.trailing_zeros() as usize)
}

/// [`lowest_fit_in_leaf`] of `count > 4` units, by doubling: `starts` keeps bit `p`
/// while the `covered` units from `p` are all free; each step at most doubles
/// `covered`, so `count` is reached in `log2(count)` steps.
fn lowest_fit_by_doubling(free: u128, count: usize) -> Option<usize> {
    if count == 0 || count > LEAF_UNITS {
        return None;
    }
    let (mut starts, mut covered) = (free, 1);
    while covered < count && starts != 0 {
        // Below `count <= LEAF_UNITS`, so the shift stays below 128.
        let step = covered.min(count - covered);
        starts &= starts >> step;
        covered += step;
    }
    (starts != 0).then(|| starts.trailing_zeros() as usize)
}

/// [`lowest_fit_in_leaf`] run by run: for a long request the leaf holds few runs
/// before the fit, fewer than the doubling steps.
fn lowest_run_in_leaf(free: u128, count: usize) -> Option<usize> {
    let mut bit = 0;
    while bit < LEAF_UNITS {
        let rest = free >> bit;
        if rest == 0 {
            return None;
        }
        bit += rest.trailing_zeros() as usize;
        let run = (!(free >> bit)).trailing_zeros() as usize;
        if run >= count {
            return Some(bit);
        }
        bit += run;
    }
    None
}

/// Whether at most `n` bits of `bits` are set: clearing the lowest set bit `n` times
/// leaves nothing. On targets without a population count instruction (baseline
/// x86-64 among them) `count_ones` of a `u128` is a few dozen instructions; this is a
/// handful for the small `n` it is asked about.
fn at_most_ones(bits: u128, n: u32) -> bool {
    let mut rest = bits;
    for _ in 0..n {
        rest &= rest.wrapping_sub(1);
    }
    rest == 0
}

/// Whether node `i` is `slot` or one of its ancestors (heap order, `1 <= i`).
fn covers(i: usize, slot: usize) -> bool {
    let depth = |n: usize| usize::BITS - 1 - n.leading_zeros();
    i <= slot && slot >> (depth(slot) - depth(i)) == i
}

/// The free runs of a stretch of units.
#[derive(Clone, Copy, Debug, Default, Eq)]
pub(crate) struct Runs {
    /// Free units at the start.
    pub(crate) prefix: u32,
    /// Free units at the end.
    pub(crate) suffix: u32,
    /// The longest free run.
    pub(crate) longest: u32,
    /// Bit `k`: some free run touching neither end has a length in `[2^k, 2^(k+1))`.
    pub(crate) classes: u32,
}

/// All four fields at once: every path update compares the value it computed with the
/// stored one, and the field-by-field comparison `derive` gives branches after each.
impl PartialEq for Runs {
    fn eq(&self, other: &Self) -> bool {
        (self.prefix ^ other.prefix)
            | (self.suffix ^ other.suffix)
            | (self.longest ^ other.longest)
            | (self.classes ^ other.classes)
            == 0
    }
}

impl Runs {
    /// The runs of a leaf whose free units are the set bits of `free` (bits at and
    /// above [`LEAF_UNITS`] are clear).
    fn of_leaf(free: u128) -> Self {
        let len = LEAF_UNITS;
        let prefix = free.trailing_ones() as usize;
        if prefix >= len {
            let all = narrow(len);
            return Self {
                prefix: all,
                suffix: all,
                longest: all,
                classes: 0,
            };
        }
        if free == 0 {
            return Self::default();
        }
        let starts = free & !(free << 1);
        // The run starts past the first, and past the second.
        let later = starts & starts.wrapping_sub(1);
        if later == 0 {
            return Self::of_one_run(free);
        }
        let past_two = later & later.wrapping_sub(1);
        if past_two == 0 {
            return Self::of_two_runs(free, starts);
        }
        if at_most_ones(past_two, FEW_RUNS - 2) {
            return Self::of_few_runs(free);
        }
        let suffix = (free << (128 - len)).leading_ones() as usize;
        let mut inner = starts & !1;
        if suffix > 0 {
            inner &= !(1u128 << (len - suffix));
        }
        // Bit-parallel, no loop over runs: `at_least` has bit `p` set while the `2^k`
        // units from `p` are all free; a run starts where a free unit follows a busy one
        // (or the leaf's start). Each doubling step also settles class `k`, and the
        // doubling stops at the class of the longest run, `top`: past it no unit starts
        // `2^(top + 1)` free units (a leaf this path sees is not all free).
        let mut at_least = free;
        let mut classes = 0;
        let mut top = LEAF_CLASSES;
        for k in 0..LEAF_CLASSES {
            let longer = at_least & (at_least >> (1 << k));
            if inner & at_least & !longer != 0 {
                classes |= 1 << k;
            }
            if longer == 0 {
                top = k;
                break;
            }
            at_least = longer;
        }
        // The longest run: from the windows of `2^top` free units, one lower power of two
        // at a time, the longer windows that still exist (a window of `w` units widened
        // by `d <= w` is where it and the one `d` further on both are).
        let mut longest = 1 << top;
        for k in (0..top).rev() {
            let longer = at_least & (at_least >> (1 << k));
            if longer != 0 {
                at_least = longer;
                longest += 1 << k;
            }
        }
        Self {
            prefix: narrow(prefix),
            suffix: narrow(suffix),
            longest: narrow(longest),
            classes,
        }
    }

    /// [`of_leaf`](Self::of_leaf) of a leaf with exactly one free run, not the whole
    /// leaf: its ends are the lowest and the highest free unit, so it takes no shift and
    /// no loop (the common leaf where holes are few, one block's hole or a tail's edge).
    fn of_one_run(free: u128) -> Self {
        let start = free.trailing_zeros() as usize;
        let end = 128 - free.leading_zeros() as usize;
        let len = narrow(end - start);
        let (at_start, at_end) = (start == 0, end == LEAF_UNITS);
        Self {
            prefix: if at_start { len } else { 0 },
            suffix: if at_end { len } else { 0 },
            longest: len,
            classes: if at_start || at_end {
                0
            } else {
                1 << class(len as usize)
            },
        }
    }

    /// [`of_leaf`](Self::of_leaf) of a leaf with exactly two free runs, whose first
    /// units are the set bits of `starts`: each run's ends are the lowest or highest
    /// bit of the runs' first and last units, so it takes no shift and no loop.
    fn of_two_runs(free: u128, starts: u128) -> Self {
        let lasts = free & !(free >> 1);
        let (first_start, first_end) = (
            starts.trailing_zeros() as usize,
            lasts.trailing_zeros() as usize + 1,
        );
        let (second_start, second_end) = (
            127 - starts.leading_zeros() as usize,
            128 - lasts.leading_zeros() as usize,
        );
        let (first, second) = (
            narrow(first_end - first_start),
            narrow(second_end - second_start),
        );
        let prefix = if first_start == 0 { first } else { 0 };
        let suffix = if second_end == LEAF_UNITS { second } else { 0 };
        // The first run ends before the second starts, so only its start can touch the
        // leaf's start and only the second's end the leaf's end.
        let mut classes = 0;
        if prefix == 0 {
            classes |= 1 << class(first as usize);
        }
        if suffix == 0 {
            classes |= 1 << class(second as usize);
        }
        Self {
            prefix,
            suffix,
            longest: first.max(second),
            classes,
        }
    }

    /// [`of_leaf`](Self::of_leaf) of a leaf with at most [`FEW_RUNS`] free runs, some
    /// unit free and some busy, run by run: a leaf next to a few holes costs a few bit
    /// operations a run instead of the doubling steps.
    fn of_few_runs(free: u128) -> Self {
        let mut runs = Self::default();
        let mut rest = free;
        while rest != 0 {
            let start = rest.trailing_zeros() as usize;
            let len = (rest >> start).trailing_ones() as usize;
            let end = start + len;
            if start == 0 {
                runs.prefix = narrow(len);
            } else if end == LEAF_UNITS {
                runs.suffix = narrow(len);
            } else {
                runs.classes |= 1 << class(len);
            }
            runs.longest = runs.longest.max(narrow(len));
            // Adding the run's lowest bit carries through the run and clears it
            // (wrapping to 0 for a run that reaches bit 127).
            rest &= rest.wrapping_add(1 << start);
        }
        runs
    }

    /// The runs of `len` units all free (`free`) or all busy.
    fn uniform(free: bool, len: u32) -> Self {
        if free {
            Self {
                prefix: len,
                suffix: len,
                longest: len,
                classes: 0,
            }
        } else {
            Self::default()
        }
    }

    /// A leaf's runs in one word, a byte a field: a leaf's run lengths are at most
    /// [`LEAF_UNITS`] and its classes below `2^LEAF_CLASSES`, so each fits in a byte.
    fn packed_leaf(self) -> u32 {
        const _: () = assert!(LEAF_UNITS <= u8::MAX as usize && LEAF_CLASSES <= 8);
        self.prefix | self.suffix << 8 | self.longest << 16 | self.classes << 24
    }

    /// Whether a leaf that went from `old` to `self` only gained free units strictly
    /// inside: same prefix and suffix, a longest run and size classes that only grew.
    /// Its ancestors' ends are then still right, and folding its longest run and
    /// classes into them ([`Summary::node`]) gives their current value.
    fn only_grows_inside(self, old: Self) -> bool {
        self.prefix == old.prefix
            && self.suffix == old.suffix
            && self.longest >= old.longest
            && self.classes & old.classes == old.classes
    }

    /// The runs of the parent of `node` and its sibling `other`, `node` being the
    /// left child when `side` is 0 and the right one when it is 1, each covering
    /// `half` units.
    #[inline(always)]
    fn join_sibling(node: Self, other: Self, side: usize, half: u32) -> Self {
        if side == 0 {
            Self::join(node, other, half)
        } else {
            Self::join(other, node, half)
        }
    }

    /// The runs of `left` followed by `right`, each covering `half` units.
    ///
    /// In `u32`: a node covers at most `2^32` units (leaf slots round a map of at most
    /// `u32::MAX` units up to a power of two), so `half` fits, and every sum is the
    /// length of a run inside the map (slots past it read as busy), so it fits too
    /// and the adds need no saturation, which every level of a path update would pay.
    fn join(left: Self, right: Self, half: u32) -> Self {
        let middle = left.suffix.wrapping_add(right.prefix);
        let left_free = left.prefix == half;
        let right_free = right.suffix == half;
        let prefix = if left_free {
            half.wrapping_add(right.prefix)
        } else {
            left.prefix
        };
        let suffix = if right_free {
            half.wrapping_add(left.suffix)
        } else {
            right.suffix
        };
        let inner = !left_free && !right_free && middle > 0;
        Self {
            prefix,
            suffix,
            longest: left.longest.max(right.longest).max(middle),
            classes: left.classes
                | right.classes
                | if inner {
                    1 << class(middle as usize)
                } else {
                    0
                },
        }
    }
}

/// Two `u32` fields of a node in one atomic word where the target has 64-bit words, so
/// a path update loads, compares and stores a node in two operations instead of four;
/// in two atomics elsewhere. Either way each field is read and written atomically,
/// which is all searches rely on (they already read a node's fields one at a time).
#[cfg(target_pointer_width = "64")]
struct U32Pair(AtomicUsize);

#[cfg(target_pointer_width = "64")]
impl U32Pair {
    fn new() -> Self {
        Self(AtomicUsize::new(0))
    }

    fn pack(low: u32, high: u32) -> usize {
        low as usize | (high as usize) << 32
    }

    /// The two fields of `word`: the casts keep exactly the bits they name.
    #[allow(clippy::cast_possible_truncation)]
    fn unpack(word: usize) -> (u32, u32) {
        (word as u32, (word >> 32) as u32)
    }

    fn load(&self) -> (u32, u32) {
        Self::unpack(self.0.load(Ordering::Relaxed))
    }

    fn low(&self) -> u32 {
        self.load().0
    }

    fn high(&self) -> u32 {
        self.load().1
    }

    /// Whether the pair holds `(low, high)`, compared as one word.
    fn holds(&self, low: u32, high: u32) -> bool {
        self.0.load(Ordering::Relaxed) == Self::pack(low, high)
    }

    fn store(&self, low: u32, high: u32) {
        self.0.store(Self::pack(low, high), Ordering::Relaxed);
    }
}

#[cfg(not(target_pointer_width = "64"))]
struct U32Pair(AtomicU32, AtomicU32);

#[cfg(not(target_pointer_width = "64"))]
impl U32Pair {
    fn new() -> Self {
        Self(AtomicU32::new(0), AtomicU32::new(0))
    }

    fn load(&self) -> (u32, u32) {
        (self.low(), self.high())
    }

    fn low(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }

    fn high(&self) -> u32 {
        self.1.load(Ordering::Relaxed)
    }

    fn holds(&self, low: u32, high: u32) -> bool {
        (self.low() ^ low) | (self.high() ^ high) == 0
    }

    fn store(&self, low: u32, high: u32) {
        self.0.store(low, Ordering::Relaxed);
        self.1.store(high, Ordering::Relaxed);
    }
}

/// One stored node, inner or leaf: [`Runs`] in atomics, so searches can read a node
/// while the updater rewrites it. The ends and the inside are each one pair.
struct Slot {
    /// `prefix` and `suffix`.
    ends: U32Pair,
    /// `longest` and `classes`.
    inside: U32Pair,
}

impl Slot {
    fn new() -> Self {
        Self {
            ends: U32Pair::new(),
            inside: U32Pair::new(),
        }
    }

    fn load(&self) -> Runs {
        let (prefix, suffix) = self.ends.load();
        let (longest, classes) = self.inside.load();
        Runs {
            prefix,
            suffix,
            longest,
            classes,
        }
    }

    fn prefix(&self) -> u32 {
        self.ends.low()
    }

    fn suffix(&self) -> u32 {
        self.ends.high()
    }

    fn longest(&self) -> u32 {
        self.inside.low()
    }

    /// Whether the slot holds `runs`.
    fn holds(&self, runs: Runs) -> bool {
        self.ends.holds(runs.prefix, runs.suffix) && self.inside.holds(runs.longest, runs.classes)
    }

    fn store(&self, runs: Runs) {
        self.ends.store(runs.prefix, runs.suffix);
        self.inside.store(runs.longest, runs.classes);
    }
}

/// What a tree search looks at: the window `[lo, hi)` of units.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window {
    /// First unit a run may use.
    pub(crate) lo: usize,
    /// One past the last unit a run may use.
    pub(crate) hi: usize,
}

/// What a search does with a node it may skip, and with each free run it meets.
pub(crate) trait Visitor {
    /// Whether the runs strictly inside a node with these `runs` can matter: `false`
    /// skips them (the runs at the node's ends are still reported).
    fn descend(&self, runs: &Runs) -> bool;
    /// A maximal free run (clipped to the window) of `len` units at `start`, in
    /// address order; `true` ends the search.
    fn run(&mut self, start: usize, len: usize) -> bool;
}

/// Units `[start, end)` that a change left all free (`free`) or all busy, as the
/// tree reads them (see [`Summary::refresh_leaves`]).
#[derive(Clone, Copy, Debug)]
struct Uniform {
    start: usize,
    end: usize,
    free: bool,
}

impl Uniform {
    /// `[start, end)`, all free (`free`) or all busy.
    const fn new(start: usize, end: usize, free: bool) -> Self {
        Self { start, end, free }
    }
}

/// Where first fit's descent ended.
enum Descent {
    /// In this leaf slot, which holds a run of the request.
    Leaf(usize),
    /// At the start of a run across the middle of a node, which holds the request.
    Across(usize),
}

/// The summary tree of one chunk's bitmap.
pub(crate) struct Summary {
    /// Leaf slots, a power of two, at least 2 (slots past the map read as busy).
    leaves: usize,
    /// Nodes in heap order: the root is 1, the children of `i` are `2i` and `2i + 1`
    /// (slot 0 unused); indices `leaves..2 * leaves` are the leaves.
    nodes: Box<[Slot]>,
    /// One bit per leaf whose path a thread that was not the updater asks for.
    stale: Box<[AtomicUsize]>,
    /// 1 while a thread holds the updater role, 0 otherwise (see the module docs).
    updating: AtomicUsize,
    /// Leaves in the stale set, counted before they are published there, so a search
    /// that reads 0 knows the stale set holds nothing that returned before it.
    dirty: AtomicUsize,
    /// `leaf + 1` for the one leaf whose slot is current while its ancestors still
    /// describe it before its last frees (0 for none); see [`Self::refresh_path`].
    /// Written by the updater only, with release after the slots it covers; searches
    /// fold that leaf into its ancestors as they read them.
    pending: AtomicUsize,
    /// The pending leaf's runs as its ancestors describe them, [packed](Runs::packed_leaf):
    /// a change that brings the leaf back to them needs no path update. Read and
    /// written by the updater only.
    pending_base: AtomicU32,
    /// Changes since a search last needed the tree (a hint: racing changes may lose
    /// counts, which only delays the switch to deferring).
    quiet: AtomicU32,
    /// The first unit of the free tail, which the tree leaves out: its leaves read
    /// every unit from here on as busy, so a claim or free that only moves this
    /// boundary leaves every node as it was. Written by the updater only, inside a
    /// `tail_moves` bracket (see the module docs).
    tail: AtomicUsize,
    /// Odd while the updater moves `tail` and rewrites the leaves the move covers,
    /// even otherwise, one more at each end of a move: a search that reads the same
    /// even value before and after it read `tail` and the nodes saw one tail and the
    /// leaves that go with it.
    tail_moves: AtomicUsize,
    /// 1 when the last move down stopped [`TAIL_DROP`] units below where it began with
    /// the unit before it still free, so the next change walks on (updater only).
    tail_short: AtomicU32,
}

impl Summary {
    /// The tree of an all-free map of `units` units, or `None` when a chunk that size
    /// needs none (fewer than two leaves) or cannot have one (more than `u32::MAX`
    /// units).
    pub(crate) fn new(map: &Bitmap) -> Result<Option<Self>, OutOfMemory> {
        let units = map.units();
        if units < 2 * LEAF_UNITS || u32::try_from(units).is_err() {
            return Ok(None);
        }
        let leaves = units.div_ceil(LEAF_UNITS).next_power_of_two();
        let tree = Self {
            leaves,
            nodes: try_boxed_slice(2 * leaves, Slot::new, "genalloc summary nodes")?,
            stale: try_boxed_slice(
                leaves.div_ceil(STALE_BITS),
                || AtomicUsize::new(0),
                "genalloc summary stale set",
            )?,
            updating: AtomicUsize::new(0),
            dirty: AtomicUsize::new(0),
            pending: AtomicUsize::new(0),
            pending_base: AtomicU32::new(0),
            quiet: AtomicU32::new(0),
            // The map is all free, so all of it is the tail and every node reads busy,
            // which the zeroed slots already say.
            tail: AtomicUsize::new(0),
            tail_moves: AtomicUsize::new(0),
            tail_short: AtomicU32::new(0),
        };
        Ok(Some(tree))
    }

    /// Every value the tree holds but the `tail_moves` count, which only the shared
    /// path's bracket advances: two trees that went through the same changes hold
    /// the same values.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn state(&self) -> alloc::vec::Vec<usize> {
        let mut state = alloc::vec::Vec::new();
        for i in 0..self.nodes.len() {
            let runs = self.runs(i);
            state
                .extend([runs.prefix, runs.suffix, runs.longest, runs.classes].map(|v| v as usize));
        }
        state.extend(self.stale.iter().map(|w| w.load(Ordering::Relaxed)));
        state.extend([
            self.updating.load(Ordering::Relaxed),
            self.dirty.load(Ordering::Relaxed),
            self.pending.load(Ordering::Relaxed),
            self.pending_base.load(Ordering::Relaxed) as usize,
            self.quiet.load(Ordering::Relaxed) as usize,
            self.tail.load(Ordering::Relaxed),
            self.tail_short.load(Ordering::Relaxed) as usize,
        ]);
        state
    }

    /// Bytes held by the tree.
    pub(crate) fn bytes(&self) -> usize {
        self.nodes.len() * size_of::<Slot>() + self.stale.len() * size_of::<usize>()
    }

    /// Units covered by node `i`.
    fn len_of(&self, i: usize) -> usize {
        let depth = (usize::BITS - 1 - i.leading_zeros()) as usize;
        let leaf_depth = self.leaves.trailing_zeros() as usize;
        LEAF_UNITS << (leaf_depth - depth)
    }

    /// The node searches start from while the tail is at `tail`: the lowest node on the
    /// tree's left edge that covers every leaf with units below the tail. Everything
    /// to its right reads busy, so no search needs the nodes above it, and changes
    /// below the tail stop climbing there ([`Self::above_top`]).
    fn top(&self, tail: usize) -> usize {
        // Up by one level for each bit of the last used leaf's index (the first leaf
        // when nothing is below the tail): no branch and no rounding up to a power of
        // two, which every climb and search paid for.
        let last = tail.saturating_sub(1) / LEAF_UNITS;
        self.leaves >> (usize::BITS - last.leading_zeros())
    }

    /// Whether node `i` is on the left edge above `top` (or past the root, 0): such a
    /// node is not kept current, and a climb stops below it. Every other node is
    /// current: those under `top` through the climbs of changes below the tail, those
    /// to its right through the climbs of the tail moves that mask and unmask them
    /// (they hang off the left edge, so their climbs meet it above `top` and stop).
    /// A move up recomputes the edge up to its new top ([`Self::raise_top`]).
    fn above_top(i: usize, top: usize) -> bool {
        i & i.wrapping_sub(1) == 0 && i < top
    }

    /// Recomputes the left edge from node `from` up to node `to` (`to <= from`, both on
    /// the edge) after the tail moved up: each from its child on the edge, current, and
    /// that child's right sibling, current too (see [`Self::above_top`]).
    fn raise_top(&self, from: usize, to: usize) {
        let (mut i, mut half) = (from, self.len_of(from));
        while i > to {
            let new = Runs::join(self.runs(i), self.runs(i + 1), narrow(half));
            i /= 2;
            half *= 2;
            if let Some(slot) = self.nodes.get(i) {
                slot.store(new);
            }
        }
    }

    /// The busy masks of leaf `leaf`'s words.
    fn leaf_busy<A: Access>(map: &Bitmap, leaf: usize) -> [usize; LEAF_WORDS] {
        let first = leaf * LEAF_WORDS;
        map.busy_inside::<A, LEAF_WORDS>(first)
            .unwrap_or_else(|| core::array::from_fn(|k| map.busy_word::<A>(first + k)))
    }

    /// The free units of a leaf whose words have the busy masks `busy`, as bits (bit
    /// `u` for the leaf's unit `u`).
    fn free_of(busy: [usize; LEAF_WORDS]) -> u128 {
        let mut free = 0u128;
        for (k, busy) in busy.into_iter().enumerate() {
            free |= ((!busy & USED_HALF) as u128) << (k * UNITS_PER_WORD);
        }
        free
    }

    /// The free units of leaf `leaf` as bits (bit `u` for the leaf's unit `u`).
    ///
    /// Inline: every leaf refresh and every first-fit search calls it, and the call
    /// (its register saves and restores) was about eight of its forty-odd instructions.
    #[inline]
    fn leaf_free<A: Access>(map: &Bitmap, leaf: usize) -> u128 {
        Self::free_of(Self::leaf_busy::<A>(map, leaf))
    }

    /// The free units of leaf `leaf` as the tree describes them: those below the
    /// tail (the updater's view; a leaf wholly in the tail reads no word).
    ///
    /// The common leaf, wholly below the tail, takes its words with one bounds check and
    /// no mask; the leaf at the tail, or one the map's end cuts, goes out of line: with
    /// them in the same body, the register saves their masks needed were about a fifth
    /// of every call. Not inlined itself: inlined into its many callers it cost them
    /// more registers than the call did.
    #[inline(never)]
    fn view_free<A: Access>(&self, map: &Bitmap, leaf: usize) -> u128 {
        let tail = self.tail.load(Ordering::Relaxed);
        if (leaf + 1) * LEAF_UNITS <= tail {
            if let Some(busy) = map.busy_inside::<A, LEAF_WORDS>(leaf * LEAF_WORDS) {
                return Self::free_of(busy);
            }
        }
        Self::view_free_at_edge::<A>(map, leaf, tail)
    }

    /// [`Self::view_free`] of a leaf the tail or the map's end may cut.
    #[inline(never)]
    fn view_free_at_edge<A: Access>(map: &Bitmap, leaf: usize, tail: usize) -> u128 {
        let below = below_tail(leaf, tail);
        if below == 0 {
            return 0;
        }
        Self::leaf_free::<A>(map, leaf) & below
    }

    /// [`Runs::of_leaf`] of leaf `leaf` as the tree describes it, read from the words;
    /// a leaf below the tail whose words are all busy or all free (the inside of a
    /// large block being claimed or freed) is told by comparing them, without
    /// assembling and summarising its bits.
    fn leaf_runs<A: Access>(&self, map: &Bitmap, leaf: usize) -> Runs {
        if (leaf + 1) * LEAF_UNITS > self.tail.load(Ordering::Relaxed) {
            return Runs::of_leaf(self.view_free::<A>(map, leaf));
        }
        let busy = Self::leaf_busy::<A>(map, leaf);
        if busy.iter().all(|&b| b == USED_HALF) {
            Runs::default()
        } else if busy.iter().all(|&b| b == 0) {
            Runs::of_leaf(u128::MAX >> (128 - LEAF_UNITS))
        } else {
            Runs::of_leaf(Self::free_of(busy))
        }
    }

    /// The stored runs of node `i`.
    fn runs(&self, i: usize) -> Runs {
        self.nodes.get(i).map_or_else(Runs::default, Slot::load)
    }

    /// Recomputes leaves `first..=last` and the paths above them, a level at a time, up
    /// to the level where nothing changed any more.
    ///
    /// `uniform` names leaves the caller knows to be all busy or all free (the inside
    /// of a large claim or free, below the tail): they, and every node whose leaves
    /// all lie among them, are stored as that, with no word read and no join; only the
    /// nodes at the two ends of each level are joined from their children. A change
    /// of `c` units then joins `O(log n)` nodes and stores `O(c / 128)`. Two leaves (a
    /// small change across a leaf boundary) go their own way, [`Self::refresh_pair`].
    fn refresh_leaves<A: Access>(
        &self,
        map: &Bitmap,
        first: usize,
        last: usize,
        uniform: Option<Uniform>,
    ) {
        if first == last {
            self.refresh_path::<A>(map, first);
            return;
        }
        self.flush_pending::<A>();
        let last = last.min(self.leaves - 1);
        if last == first + 1 {
            self.refresh_pair::<A>(map, first);
            return;
        }
        let Some(slots) = self.nodes.get(self.leaves + first..=self.leaves + last) else {
            return;
        };
        // The uniform leaves as offsets `ua..=ub` into `slots` (`ub < ua`: none, past
        // the other leaves, which are then all before them).
        let free = uniform.is_some_and(|u| u.free);
        // The leaves wholly inside the uniform units, clipped to `first..=last`.
        let (ua, ub) = match uniform {
            Some(u)
                if u.start.div_ceil(LEAF_UNITS).max(first) < (u.end / LEAF_UNITS).min(last + 1) =>
            {
                (
                    u.start.div_ceil(LEAF_UNITS).max(first) - first,
                    (u.end / LEAF_UNITS).min(last + 1) - 1 - first,
                )
            }
            _ => (slots.len(), slots.len() - 1),
        };
        let mut changed = false;
        let (before, rest) = slots.split_at(ua);
        let (inside, after) = rest.split_at(ub + 1 - ua);
        for (offset, slot) in before
            .iter()
            .enumerate()
            .chain(after.iter().enumerate().map(|(k, slot)| (ub + 1 + k, slot)))
        {
            let leaf = first + offset;
            // Only the leaves between the ends can lie wholly inside the change.
            let new = if leaf == first || leaf == last {
                Runs::of_leaf(self.view_free::<A>(map, leaf))
            } else {
                self.leaf_runs::<A>(map, leaf)
            };
            if !slot.holds(new) {
                slot.store(new);
                changed = true;
            }
        }
        if !inside.is_empty() {
            let new = Runs::uniform(free, narrow(LEAF_UNITS));
            for slot in inside {
                slot.store(new);
            }
            changed = true;
        }
        if !changed {
            return;
        }
        let (mut lo, mut hi) = ((first + self.leaves) / 2, (last + self.leaves) / 2);
        // The uniform nodes of the level below, as node indices (`ub < ua`: none).
        let (mut ua, mut ub) = (self.leaves + first + ua, self.leaves + first + ub);
        let mut half = LEAF_UNITS;
        while lo < hi {
            // A node is uniform when both its children are.
            (ua, ub) = (ua.div_ceil(2), ub.saturating_sub(1) / 2);
            if ub < ua {
                (ua, ub) = (hi + 1, hi);
            }
            // A level's parents and their children as two slices: one bounds check each
            // for the level instead of three for every node.
            let (Some(parents), Some(children)) =
                (self.nodes.get(lo..=hi), self.nodes.get(2 * lo..2 * hi + 2))
            else {
                return;
            };
            let (a, b) = (ua - lo, ub + 1 - lo);
            let (Some(before), Some(inside), Some(after)) =
                (parents.get(..a), parents.get(a..b), parents.get(b..))
            else {
                return;
            };
            let mut changed = Self::join_level(before, children, narrow(half));
            changed |= Self::join_level(after, children.get(2 * b..).unwrap_or(&[]), narrow(half));
            if !inside.is_empty() {
                let new = Runs::uniform(free, narrow(2 * half));
                for slot in inside {
                    slot.store(new);
                }
                changed = true;
            }
            if !changed {
                return;
            }
            lo /= 2;
            hi /= 2;
            half *= 2;
        }
        // One node left: it and its path go the way of a one-leaf change, reading only
        // the sibling at each level.
        let new = Runs::join(self.runs(2 * lo), self.runs(2 * lo + 1), narrow(half));
        self.carry_up(lo, &new, 2 * half);
    }

    /// [`refresh_leaves`](Self::refresh_leaves) of the two leaves `first` and
    /// `first + 1` (a small change across a leaf boundary), read from the words: with a
    /// common parent, one climb from it; else one climb from each leaf's parent, each
    /// stopping where nothing changes (the second recomputes the ancestors the paths
    /// share from their children, the first path's side already current), instead of
    /// joining both nodes of every level up to the common ancestor.
    fn refresh_pair<A: Access>(&self, map: &Bitmap, first: usize) {
        let (i, j) = (self.leaves + first, self.leaves + first + 1);
        let (Some(a), Some(b)) = (self.nodes.get(i), self.nodes.get(j)) else {
            return;
        };
        let new_a = Runs::of_leaf(self.view_free::<A>(map, first));
        let new_b = Runs::of_leaf(self.view_free::<A>(map, first + 1));
        let (changed_a, changed_b) = (!a.holds(new_a), !b.holds(new_b));
        if changed_a {
            a.store(new_a);
        }
        if changed_b {
            b.store(new_b);
        }
        if i / 2 == j / 2 {
            if changed_a || changed_b {
                self.carry_up_from(i);
            }
            return;
        }
        if changed_a {
            self.carry_up_from(i);
        }
        if changed_b {
            self.carry_up_from(j);
        }
    }

    /// Recomputes each of `parents` from its two children, the pairs of `children`
    /// in order, each child covering `half` units; whether any parent changed.
    fn join_level(parents: &[Slot], children: &[Slot], half: u32) -> bool {
        let mut changed = false;
        for (parent, pair) in parents.iter().zip(children.chunks_exact(2)) {
            if let [left, right] = pair {
                let new = Runs::join(left.load(), right.load(), half);
                if !parent.holds(new) {
                    parent.store(new);
                    changed = true;
                }
            }
        }
        changed
    }

    /// [`refresh_leaves`](Self::refresh_leaves) of one leaf.
    ///
    /// A change that only adds free units strictly inside the leaf (its prefix and
    /// suffix stay, its longest run and size classes only grow) stores the leaf and
    /// makes it the *pending* leaf instead of updating its path: the ancestors then
    /// lack only the leaf's new inner runs, which a search folds in as it reads them
    /// ([`Self::node`]). A change of the same leaf that restores what the ancestors
    /// describe (a claim that refills the hole a free left: the common case under
    /// random frees) stores the leaf and clears the pending leaf, touching no
    /// ancestor; any other one updates the path from the leaf's parent. A change of
    /// another leaf
    /// first brings the pending leaf's path up to date, so at most one leaf is pending.
    #[inline(always)]
    fn refresh_path<A: Access>(&self, map: &Bitmap, leaf: usize) {
        let i = self.leaves + leaf;
        let Some(slot) = self.nodes.get(i) else {
            return;
        };
        let new = Runs::of_leaf(self.view_free::<A>(map, leaf));
        let old = slot.load();
        if new == old {
            return;
        }
        let pending = self.pending.load(Ordering::Relaxed);
        if pending == leaf + 1 {
            slot.store(new);
            if new.packed_leaf() == self.pending_base.load(Ordering::Relaxed) {
                self.pending.store(0, A::order(Ordering::Release));
            } else if !new.only_grows_inside(old) {
                self.carry_up_from(i);
                self.pending.store(0, A::order(Ordering::Release));
            }
            return;
        }
        if pending != 0 {
            self.flush_pending::<A>();
        }
        if new.only_grows_inside(old) {
            slot.store(new);
            self.pending_base
                .store(old.packed_leaf(), Ordering::Relaxed);
            self.pending.store(leaf + 1, A::order(Ordering::Release));
            return;
        }
        self.carry_up(i, &new, LEAF_UNITS);
    }

    /// Brings the pending leaf's path up to date, if there is one.
    ///
    /// Its ancestors lack only the leaf's longest run and size classes (that is what
    /// made it pending, see [`Self::refresh_path`]), so each gets them folded in, as a
    /// search does ([`Self::node`]), with no join and no sibling read; from the first
    /// ancestor that already has them, every one above has them too (a node's longest
    /// run and classes cover its children's).
    #[inline(always)]
    fn flush_pending<A: Access>(&self) {
        let Some(leaf) = self.pending.load(Ordering::Relaxed).checked_sub(1) else {
            return;
        };
        let mut i = self.leaves + leaf;
        let gained = self.runs(i);
        let top = self.top(self.tail.load(Ordering::Relaxed));
        while !Self::above_top(i / 2, top) {
            i /= 2;
            let Some(node) = self.nodes.get(i) else {
                break;
            };
            let (longest, classes) = node.inside.load();
            if longest >= gained.longest && classes & gained.classes == gained.classes {
                break;
            }
            node.inside
                .store(longest.max(gained.longest), classes | gained.classes);
        }
        self.pending.store(0, A::order(Ordering::Release));
    }

    /// Folds `longest` and `classes`, which node `i` gained (its ends unchanged, its
    /// longest run and classes only grew), into its ancestors below the top, with no
    /// join and no sibling read: each ancestor's longest run and classes are its
    /// children's folded with the run across its middle, which depends only on the
    /// children's ends. From the first ancestor that already has them, every one above
    /// has them too (a node's longest run and classes cover its children's).
    #[inline(always)]
    fn fold_inside_up(&self, mut i: usize, longest: u32, classes: u32, top: usize) {
        while !Self::above_top(i / 2, top) {
            i /= 2;
            let Some(node) = self.nodes.get(i) else {
                break;
            };
            let (had_longest, had_classes) = node.inside.load();
            if had_longest >= longest && had_classes & classes == classes {
                break;
            }
            node.inside
                .store(had_longest.max(longest), had_classes | classes);
        }
    }

    /// Recomputes the parent of node `i` (a leaf) from its children and carries it up.
    fn carry_up_from(&self, i: usize) {
        let parent = Runs::join(self.runs(i & !1), self.runs(i | 1), narrow(LEAF_UNITS));
        self.carry_up(i / 2, &parent, 2 * LEAF_UNITS);
    }

    /// Node `i` and its sibling, left first, behind one bounds check; `None` past the
    /// root.
    fn sibling_pair(&self, i: usize) -> Option<&[Slot; 2]> {
        self.nodes
            .get(i & !1..(i & !1) + 2)
            .and_then(|pair| <&[Slot; 2]>::try_from(pair).ok())
    }

    /// Stores `new` in node `i`, which covers `len` units, and carries each new value
    /// to its parent, up to the first level where nothing changed: a level reads only
    /// the sibling and the old value (both from one pair of slots, behind one bounds
    /// check).
    ///
    /// `new` comes by reference: passed by value, the compiler kept the climbing node
    /// in the caller's copy, wrote it field by field and read it back a word at a time
    /// on every level, a load the processor cannot forward from those stores.
    fn carry_up(&self, mut i: usize, new: &Runs, len: usize) {
        // Below the root a node covers at most 2^31 units (see `Runs::join`), so its
        // width fits a u32; past the root it may wrap, unused.
        let (mut node, mut half) = (*new, narrow(len));
        let top = self.top(self.tail.load(Ordering::Relaxed));
        while let Some(pair) = self.sibling_pair(i) {
            // Which of the pair is `i`: indexing by the low bit needs no branch.
            let side = i & 1;
            let own = &pair[side];
            let same_ends = own.ends.holds(node.prefix, node.suffix);
            if same_ends && own.inside.holds(node.longest, node.classes) {
                return;
            }
            own.store(node);
            if Self::above_top(i / 2, top) {
                return;
            }
            node = Runs::join_sibling(node, pair[side ^ 1].load(), side, half);
            i /= 2;
            half = half.wrapping_mul(2);
            if same_ends {
                self.carry_inside_up(i, node.longest, node.classes, half, top);
                return;
            }
        }
    }

    /// [`carry_up`](Self::carry_up) once a node's ends stayed as they were: a node's
    /// ends depend only on its children's ends, so from there up only the longest run
    /// and the size classes can change, and each level compares and stores that one
    /// word, reading the node's unchanged ends to join it with its sibling. When the
    /// first node's longest run and classes only grew (a free), the ancestors take the
    /// gain as it is ([`Self::fold_inside_up`]): no sibling read and no join per level,
    /// the same values. Checked at the first level only: checking every level cost
    /// more where the climbs are short than it saved.
    fn carry_inside_up(
        &self,
        mut i: usize,
        mut longest: u32,
        mut classes: u32,
        mut half: u32,
        top: usize,
    ) {
        let mut first = true;
        while let Some(pair) = self.sibling_pair(i) {
            let side = i & 1;
            let own = &pair[side];
            let (had_longest, had_classes) = own.inside.load();
            if had_longest == longest && had_classes == classes {
                return;
            }
            own.inside.store(longest, classes);
            if Self::above_top(i / 2, top) {
                return;
            }
            if first && longest >= had_longest && classes & had_classes == had_classes {
                // Only grew: the ancestors take the gain as it is.
                self.fold_inside_up(i, longest, classes, top);
                return;
            }
            first = false;
            let (prefix, suffix) = own.ends.load();
            let node = Runs {
                prefix,
                suffix,
                longest,
                classes,
            };
            let parent = Runs::join_sibling(node, pair[side ^ 1].load(), side, half);
            (longest, classes) = (parent.longest, parent.classes);
            i /= 2;
            half = half.wrapping_mul(2);
        }
    }

    /// Folds the change of units `[start, end)` into the tree (updater only).
    ///
    /// A claim that reaches past the tail reads busy from the tail on both before (in
    /// the tail) and after (claimed, then the new tail), so only its units below the
    /// tail change in the leaves, or, when it starts past the tail, the free units it
    /// skipped; the tail moves past it. A claim that starts exactly at the tail
    /// changes no leaf at all, and a search that still reads the old tail finds its
    /// answer taken when it claims it. A change that ends short of the tail leaves the
    /// tail where it is (unless the last move down stopped short), so only its leaves
    /// are recomputed.
    fn refresh_change<A: Access>(&self, map: &Bitmap, start: usize, end: usize, claimed: bool) {
        let tail = self.tail.load(Ordering::Relaxed);
        if claimed && end > tail {
            self.tail_short.store(0, Ordering::Relaxed);
            if start > tail {
                // The skipped units become visible: a move in the bracket.
                self.move_tail::<A>(tail, end, || {
                    // With exclusive access they are all free: nobody else claims.
                    let skipped = A::ONLY_USER.then_some(Uniform::new(tail, start, true));
                    let (first, last) = (tail / LEAF_UNITS, (start - 1) / LEAF_UNITS);
                    self.refresh_leaves::<A>(map, first, last, skipped);
                });
                return;
            }
            if start < tail {
                // Below the tail, as any claim; from there on busy either way.
                let claimed = Some(Uniform::new(start, tail, false));
                self.refresh_leaves::<A>(map, start / LEAF_UNITS, (tail - 1) / LEAF_UNITS, claimed);
            }
            // A search that reads the new tail must find the edge up to its top current
            // (release; searches read the tail with acquire).
            let (old_top, new_top) = (self.top(tail), self.top(end));
            if new_top < old_top {
                self.raise_top(old_top, new_top);
            }
            self.tail.store(end, A::order(Ordering::Release));
            return;
        }
        let (first, last) = (start / LEAF_UNITS, (end - 1) / LEAF_UNITS);
        let below_tail = end < tail && self.tail_short.load(Ordering::Relaxed) == 0;
        if below_tail && first == last {
            self.refresh_path::<A>(map, first);
            return;
        }
        // Here the change ends at or below the tail. A claim's units stay busy while
        // its caller holds them; freed units stay free only with exclusive access (a
        // racing claim may take them back, and even finish its own update before this
        // one starts).
        let uniform = (claimed || A::ONLY_USER).then_some(Uniform::new(start, end, !claimed));
        if below_tail {
            self.refresh_leaves::<A>(map, first, last, uniform);
            return;
        }
        self.refresh_changed::<A>(map, first, last, uniform);
    }

    /// Folds a change of leaves `first..=last` into the tree (updater only): a claim
    /// that reached the tail moves it up first, and the changed leaves below the new
    /// tail and those the move covered are recomputed with it; otherwise the changed
    /// leaves are recomputed, and then a free that reached the tail moves it down over
    /// the free run before it, which the tree then describes. `uniform`: changed leaves
    /// below the tail known to be all busy or all free (see [`Self::refresh_leaves`]).
    fn refresh_changed<A: Access>(
        &self,
        map: &Bitmap,
        first: usize,
        last: usize,
        uniform: Option<Uniform>,
    ) {
        let tail = self.tail.load(Ordering::Relaxed);
        // Leaves wholly in the tail read all busy before and after: nothing to do there.
        let below =
            |tail: usize| (first * LEAF_UNITS < tail).then(|| last.min((tail - 1) / LEAF_UNITS));
        if let Some(moved) = self.tail_after_claims::<A>(map, first, last, tail) {
            let hi = (moved - 1) / LEAF_UNITS;
            self.move_tail::<A>(tail, moved, || match below(moved) {
                Some(last) if last + 1 >= tail / LEAF_UNITS => {
                    self.refresh_leaves::<A>(map, first.min(tail / LEAF_UNITS), last.max(hi), None);
                }
                Some(last) => {
                    self.refresh_leaves::<A>(map, first, last, None);
                    self.refresh_leaves::<A>(map, tail / LEAF_UNITS, hi, None);
                }
                None => self.refresh_leaves::<A>(map, tail / LEAF_UNITS, hi, None),
            });
            return;
        }
        if let Some(last) = below(tail) {
            self.refresh_leaves::<A>(map, first, last, uniform);
        }
        let moved = self.tail_after_frees::<A>(map, tail);
        if moved < tail {
            self.move_tail::<A>(tail, moved, || {
                // Leaves wholly at or past the new tail read all busy.
                let masked = Some(Uniform::new(moved, tail, false));
                self.refresh_leaves::<A>(map, moved / LEAF_UNITS, (tail - 1) / LEAF_UNITS, masked);
            });
        }
    }

    /// Moves the tail from `tail` to `moved` and rewrites, through `refresh`, the
    /// leaves the move covers, inside the bracket: a search that overlaps any of it
    /// sees `tail_moves` change and does not trust what it read (see the module docs).
    fn move_tail<A: Access>(&self, tail: usize, moved: usize, refresh: impl FnOnce()) {
        A::bracket(&self.tail_moves, || {
            self.tail.store(moved, Ordering::Relaxed);
            refresh();
            let (old_top, new_top) = (self.top(tail), self.top(moved));
            if new_top < old_top {
                self.raise_top(old_top, new_top);
            }
        });
    }

    /// Where the tail starts after a claim put units of leaves `first..=last` in it:
    /// past the last busy unit there, read from the words; `None` when none is busy.
    fn tail_after_claims<A: Access>(
        &self,
        map: &Bitmap,
        first: usize,
        last: usize,
        tail: usize,
    ) -> Option<usize> {
        let hi = ((last + 1) * LEAF_UNITS).min(map.units());
        if hi <= tail {
            return None;
        }
        map.last_busy::<A>((first * LEAF_UNITS).max(tail), hi)
            .map(|busy| busy + 1)
    }

    /// Where the tail starts once the tree describes every change below it: down over
    /// the free run before it when the unit before it is free (a free reached it),
    /// found through the tree in `O(log n)` ([`Self::run_before`]), by at most
    /// [`TAIL_DROP`] units per change, so the leaves it masks stay bounded; a later
    /// change moves on.
    fn tail_after_frees<A: Access>(&self, map: &Bitmap, tail: usize) -> usize {
        let Some(before) = tail.checked_sub(1) else {
            return tail;
        };
        if map.busy_word::<A>(before / UNITS_PER_WORD) >> (before % UNITS_PER_WORD) & 1 == 1 {
            self.tail_short.store(0, Ordering::Relaxed);
            return tail;
        }
        let floor = tail.saturating_sub(TAIL_DROP);
        let run = self.run_before::<A>(map, tail);
        self.tail_short
            .store(u32::from(run < floor), Ordering::Relaxed);
        run.max(floor)
    }

    /// Records that the bitmap words of units `[start, end)` changed (`start < end`,
    /// after the change; `claimed` when the caller claimed them all and still holds
    /// them). See the module docs for the protocol.
    pub(crate) fn changed<A: Access>(&self, map: &Bitmap, start: usize, end: usize, claimed: bool) {
        let (first, last) = (start / LEAF_UNITS, (end - 1) / LEAF_UNITS);
        let quiet = self.quiet.load(Ordering::Relaxed);
        if quiet >= EAGER_CHANGES {
            self.mark::<A>(first, last);
            return;
        }
        self.quiet.store(quiet + 1, Ordering::Relaxed);
        if self.take_role::<A>() {
            self.refresh_with_role::<A>(map, start, end, claimed);
        } else {
            self.mark::<A>(first, last);
        }
    }

    /// [`Self::refresh_change`] by the holder of the updater role, which it hands
    /// back. Out of line: inlined, its register saves moved ahead of the check that
    /// sends a deferred change to [`Self::mark`], which then paid them too.
    #[inline(never)]
    fn refresh_with_role<A: Access>(&self, map: &Bitmap, start: usize, end: usize, claimed: bool) {
        self.refresh_change::<A>(map, start, end, claimed);
        self.give_role::<A>();
    }

    /// Takes the updater role if nobody holds it (acquire: the updater then sees every
    /// node the last one wrote). Whoever fails goes on without waiting.
    ///
    /// With exclusive access the caller is the only user, so it has the role without
    /// taking it: `updating` stays 0, as it is between calls anyway, and nobody reads
    /// it meanwhile ([`Self::settled`] does not either).
    fn take_role<A: Access>(&self) -> bool {
        A::ONLY_USER
            || self.updating.load(Ordering::Relaxed) == 0
                && A::compare_exchange(&self.updating, 0, 1, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
    }

    /// Hands the role [taken](Self::take_role) back (release: the next updater or
    /// search sees every node written).
    fn give_role<A: Access>(&self) {
        if !A::ONLY_USER {
            self.updating.store(0, A::order(Ordering::Release));
        }
    }

    /// Publishes leaves `first..=last` in the stale set, counting in `dirty` every
    /// leaf it is the first to publish before publishing it.
    ///
    /// A leaf already in the set is published again by a compare-exchange that
    /// changes nothing: a plain load could be ordered before a drain's swap and so miss
    /// it, while a read-modify-write is ordered with the swap, and a drain that comes
    /// after it sees this change's bitmap words.
    ///
    /// Out of line: inlined, its loop made [`changed`](Self::changed) too big to
    /// inline into every claim and free, which then paid a call and the saving of
    /// its registers on the eager path too.
    #[inline(never)]
    fn mark<A: Access>(&self, first: usize, last: usize) {
        let mut leaf = first;
        while leaf <= last {
            let (w, bit) = (leaf / STALE_BITS, leaf % STALE_BITS);
            let n = (STALE_BITS - bit).min(last + 1 - leaf);
            let bits = (usize::MAX >> (STALE_BITS - n)) << bit;
            if let Some(word) = self.stale.get(w) {
                let mut seen = word.load(Ordering::Relaxed);
                let mut counted = 0;
                loop {
                    let new = (bits & !seen).count_ones() as usize;
                    if new > counted {
                        A::add(&self.dirty, new - counted, Ordering::Relaxed);
                        counted = new;
                    }
                    match A::compare_exchange_weak(
                        word,
                        seen,
                        seen | bits,
                        Ordering::AcqRel,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => {
                            if counted > new {
                                A::sub(&self.dirty, counted - new, Ordering::Relaxed);
                            }
                            break;
                        }
                        Err(now) => seen = now,
                    }
                }
            }
            leaf += n;
        }
    }

    /// Recomputes the path of every leaf in the stale set, clearing it. Neighbouring
    /// stale leaves are recomputed as one range, so their shared ancestors are joined
    /// once: a large deferred change costs what it would have cost at once.
    fn drain<A: Access>(&self, map: &Bitmap) {
        let mut range: Option<(usize, usize)> = None;
        for (w, word) in self.stale.iter().enumerate() {
            if word.load(Ordering::Relaxed) == 0 {
                continue;
            }
            let mut bits = A::take(word, Ordering::Acquire);
            while bits != 0 {
                let bit = bits.trailing_zeros() as usize;
                let run = (!(bits >> bit)).trailing_zeros() as usize;
                bits &= !((usize::MAX >> (STALE_BITS - run)) << bit);
                let (first, last) = (w * STALE_BITS + bit, w * STALE_BITS + bit + run - 1);
                range = match range {
                    Some((lo, hi)) if hi + 1 == first => Some((lo, last)),
                    Some((lo, hi)) => {
                        self.refresh_stale::<A>(map, lo, hi);
                        Some((first, last))
                    }
                    None => Some((first, last)),
                };
            }
        }
        if let Some((lo, hi)) = range {
            self.refresh_stale::<A>(map, lo, hi);
        }
    }

    /// Recomputes the drained stale leaves `first..=last`, then counts them off `dirty`
    /// (only then: a search that reads `dirty == 0` relies on the tree being current).
    fn refresh_stale<A: Access>(&self, map: &Bitmap, first: usize, last: usize) {
        self.refresh_changed::<A>(map, first, last, None);
        A::sub(&self.dirty, last + 1 - first, Ordering::Release);
    }

    /// Whether the tree describes every change made by a call that has returned.
    ///
    /// With exclusive access nobody holds the updater role while a search runs.
    fn settled<A: Access>(&self) -> bool {
        self.dirty.load(A::order(Ordering::Acquire)) == 0
            && (A::ONLY_USER || self.updating.load(A::order(Ordering::Acquire)) == 0)
    }

    /// Brings the deferred changes into the tree if no other thread is updating it,
    /// and says whether it is [settled](Self::settled).
    pub(crate) fn settle<A: Access>(&self, map: &Bitmap) -> bool {
        if self.dirty.load(A::order(Ordering::Acquire)) != 0 {
            self.drain_unless_updating::<A>(map);
        }
        self.settled::<A>()
    }

    /// Drains the stale set unless another thread holds the updater role. Out of line:
    /// the drain is rare on the search path, and inlined it kept the check every
    /// search makes first (and [`Self::settled_tail`] around it) from being inlined.
    #[inline(never)]
    fn drain_unless_updating<A: Access>(&self, map: &Bitmap) {
        if self.take_role::<A>() {
            self.drain::<A>(map);
            self.give_role::<A>();
        }
    }

    /// Whether changes are only being published in the stale set (no search has
    /// needed the tree for a while): a search that can avoid the tree then should.
    pub(crate) fn deferring(&self) -> bool {
        self.quiet.load(Ordering::Relaxed) >= EAGER_CHANGES
    }

    /// Records that a search needed the tree, so changes are folded in at once again.
    pub(crate) fn needed(&self) {
        if self.quiet.load(Ordering::Relaxed) != 0 {
            self.quiet.store(0, Ordering::Relaxed);
        }
    }

    /// The pending leaf's slot and runs, read by a search after it found the tree
    /// settled (acquire: it then sees the slots written before the leaf was named).
    fn pending_leaf<A: Access>(&self) -> Option<(usize, Runs)> {
        let slot = self
            .pending
            .load(A::order(Ordering::Acquire))
            .checked_sub(1)?
            + self.leaves;
        Some((slot, self.runs(slot)))
    }

    /// The runs of node `i` as a search must see them: with the inner runs of the
    /// `pending` leaf (see [`Self::refresh_path`]) folded in when `i` is one of its
    /// ancestors.
    fn node(&self, i: usize, pending: Option<(usize, Runs)>) -> Runs {
        let mut runs = self.runs(i);
        if let Some((slot, leaf)) = pending {
            if covers(i, slot) {
                runs.longest = runs.longest.max(leaf.longest);
                runs.classes |= leaf.classes;
            }
        }
        runs
    }

    /// The tail a search may use, if the tree is [settled](Self::settled) and no tail
    /// move is under way: the tail and the `tail_moves` value to check against
    /// ([`Self::same_tail`]) once the search read the nodes.
    ///
    /// With exclusive access no move can be under way, nor begin before the search
    /// ends: the count is not read ([`Self::same_tail`] does not check it either).
    #[inline]
    fn settled_tail<A: Access>(&self, map: &Bitmap) -> Option<(usize, usize)> {
        if !self.settle::<A>(map) {
            return None;
        }
        let moves = if A::ONLY_USER {
            0
        } else {
            self.tail_moves.load(A::order(Ordering::Acquire))
        };
        (moves & 1 == 0).then(|| (self.tail.load(A::order(Ordering::Acquire)), moves))
    }

    /// Whether no tail move began since `tail_moves` read `moves` (acquire fence: if
    /// the search read any node a later move wrote, this load sees that move).
    fn same_tail<A: Access>(&self, moves: usize) -> bool {
        if A::ONLY_USER {
            return true;
        }
        A::fence(Ordering::Acquire);
        self.tail_moves.load(Ordering::Relaxed) == moves
    }

    /// The first unit of the free run that ends at `tail` (`tail` when the unit before
    /// it is busy, as it is unless the last move stopped short, see [`TAIL_DROP`]):
    /// the leaf's words, then the free ends of the nodes to the left, `O(log n)`.
    fn run_before<A: Access>(&self, map: &Bitmap, tail: usize) -> usize {
        let Some(before) = tail.checked_sub(1) else {
            return 0;
        };
        // Usually the unit before the tail is busy: its word alone tells.
        if map.busy_word::<A>(before / UNITS_PER_WORD) >> (before % UNITS_PER_WORD) & 1 == 1 {
            return tail;
        }
        let leaf = before / LEAF_UNITS;
        // The leaf's units below the tail, 1 to LEAF_UNITS: the free ones just below it
        // are the leading ones once the unit before the tail is moved to bit 127.
        let ahead = tail - leaf * LEAF_UNITS;
        let run = (Self::leaf_free::<A>(map, leaf) << (128 - ahead)).leading_ones() as usize;
        if run < ahead {
            return tail - run;
        }
        let mut start = leaf * LEAF_UNITS;
        let mut i = self.leaves + leaf;
        while i > 1 {
            // A right child's left sibling ends where it starts; a left child starts
            // where its parent does.
            if i & 1 == 1 {
                let suffix = self.runs(i - 1).suffix as usize;
                start -= suffix;
                if suffix < self.len_of(i - 1) {
                    return start;
                }
            }
            i /= 2;
        }
        start
    }

    /// The free tail's answer for `count` units: the start of the free run that ends
    /// at `tail`, if from there to the map's end holds `count` units.
    fn tail_fit<A: Access>(&self, map: &Bitmap, tail: usize, count: usize) -> Option<usize> {
        let start = self.run_before::<A>(map, tail);
        (map.units() - start >= count).then_some(start)
    }

    /// The longest free run of the whole map, if the tree is [settled](Self::settled):
    /// the root's, folded with the pending leaf, or the free tail with the run before it.
    pub(crate) fn longest_run<A: Access>(&self, map: &Bitmap) -> Option<usize> {
        self.needed();
        let (tail, moves) = self.settled_tail::<A>(map)?;
        let root = self.node(self.top(tail), self.pending_leaf::<A>()).longest as usize;
        let longest = root.max(map.units() - self.run_before::<A>(map, tail));
        self.same_tail::<A>(moves).then_some(longest)
    }

    /// The lowest unit where `count` free units start, over the whole map, if the tree
    /// is [settled](Self::settled): one root-to-leaf descent below the tail (the left
    /// child if its longest run holds `count`, else the run across the middle if it
    /// does, else the right child) and a scan of one leaf, `O(log n)`; when no run
    /// below the tail holds `count`, the free run that reaches the map's end.
    pub(crate) fn lowest_run<A: Access>(
        &self,
        map: &Bitmap,
        count: usize,
    ) -> Option<Option<usize>> {
        let (tail, moves) = self.settled_tail::<A>(map)?;
        let found = match self.lowest_below_tail::<A>(map, count, self.top(tail))? {
            Some(start) => Some(start),
            None => self.tail_fit::<A>(map, tail, count),
        };
        self.same_tail::<A>(moves).then_some(found)
    }

    /// [`Self::lowest_run`] among the runs the tree describes, those below the tail.
    fn lowest_below_tail<A: Access>(
        &self,
        map: &Bitmap,
        count: usize,
        top: usize,
    ) -> Option<Option<usize>> {
        // The pending leaf matters only if it holds `count`: then every node on its
        // path does. Its ends need no folding: its ancestors know them.
        let pending_fit = self
            .pending_leaf::<A>()
            .filter(|(_, leaf)| leaf.longest as usize >= count)
            .map(|(slot, _)| slot);
        let top_longest = self.nodes.get(top).map_or(0, |top| top.longest() as usize);
        if top_longest < count && pending_fit.is_none() {
            return Some(None);
        }
        // Two copies of the descent: without a pending leaf (the common case) its
        // check drops out of every level.
        let descent = match pending_fit {
            Some(slot) => self.descend_lowest(count, Some(slot), top),
            None => self.descend_lowest(count, None, top),
        }?;
        let i = match descent {
            Descent::Leaf(i) => i,
            Descent::Across(start) => return Some(Some(start)),
        };
        let lo = (i - self.leaves) * LEAF_UNITS;
        // The leaf holds a run of `count` (a run reaching into it from the left would
        // have been found across a middle above).
        let free = Self::leaf_free::<A>(map, i - self.leaves);
        // `None`: the leaf changed since its node was read, a change is in flight.
        let bit = if count <= SHORT_FIT {
            lowest_fit_in_leaf(free, count)
        } else {
            lowest_run_in_leaf(free, count)
        }?;
        Some(Some(lo + bit))
    }

    /// First fit's root-to-leaf descent for a run of `count` units, which the root
    /// (with `pending_fit`, the pending leaf's slot if it holds `count`, folded in)
    /// holds: the left child if its longest run holds `count`, else the run across the
    /// middle if it does, else the right child. `None` when a node is missing.
    #[inline(always)]
    fn descend_lowest(
        &self,
        count: usize,
        pending_fit: Option<usize>,
        top: usize,
    ) -> Option<Descent> {
        // `below`: levels from the children of `i` down to the leaves, so the pending
        // leaf's ancestor among them is its slot shifted right by that much.
        let mut below = self.leaves.trailing_zeros() - top.trailing_zeros();
        let mut i = top;
        // The slots and the count in locals: read through `self`, the slots' address
        // was loaded again at every level (the atomic loads keep it from being
        // hoisted), and a `u32` count spares widening each longest run read (`count`
        // fits: the caller found a node or the pending leaf that holds it).
        let (nodes, leaves, wanted) = (&*self.nodes, self.leaves, narrow(count));
        while i < leaves {
            below -= 1;
            // Both children behind one bounds check; most steps read one field.
            let [left, right] = nodes
                .get(2 * i..2 * i + 2)
                .and_then(|pair| <&[Slot; 2]>::try_from(pair).ok())?;
            if pending_fit.is_some_and(|slot| slot >> below == 2 * i) || left.longest() >= wanted {
                i *= 2;
            } else {
                let suffix = left.suffix() as usize;
                if suffix + right.prefix() as usize >= count {
                    // The right child's first unit, less the left child's free end.
                    let first = ((2 * i + 1) << below) - leaves;
                    return Some(Descent::Across(first * LEAF_UNITS - suffix));
                }
                i = 2 * i + 1;
            }
        }
        Some(Descent::Leaf(i))
    }

    /// Reports the maximal free runs of `window` to `visitor` in address order, skipping
    /// the insides of nodes it declines, until it says stop. Returns `false` when the
    /// tree is not [settled](Self::settled) (nothing was reported).
    pub(crate) fn walk<A: Access>(
        &self,
        map: &Bitmap,
        window: Window,
        visitor: &mut impl Visitor,
    ) -> bool {
        let Some((tail, moves)) = self.settled_tail::<A>(map) else {
            return false;
        };
        // The tree describes the units below the tail, and reads the ones from there on
        // as busy; those are all free, so the window's part of them is one run, joined
        // to a run that reaches the tail. When the unit before the tail is busy (as it
        // is unless the last move down stopped short) no run reaches it, and the tree
        // is walked as far as its top covers, so that the top and the nodes over the
        // tail are whole nodes for the visitor, not cut at the tail.
        let top = self.top(tail);
        let before_busy = tail.checked_sub(1).is_none_or(|before| {
            map.busy_word::<A>(before / UNITS_PER_WORD) >> (before % UNITS_PER_WORD) & 1 == 1
        });
        let (tree, tail_from) = if window.lo >= tail {
            (None, window.lo)
        } else if window.hi <= tail {
            (Some(window), window.hi)
        } else if before_busy {
            let hi = self.len_of(top).max(window.hi);
            (Some(Window { lo: window.lo, hi }), tail)
        } else {
            let hi = tail;
            (Some(Window { lo: window.lo, hi }), tail)
        };
        let mut carry = 0;
        let pending = self.pending_leaf::<A>();
        let stopped = tree.is_some_and(|tree| {
            self.visit::<A>(
                map,
                tree,
                tail,
                pending,
                top,
                self.len_of(top),
                &mut carry,
                visitor,
            )
        });
        if !stopped {
            // A run reaching the window's end: the window's part of the tail, after the
            // run that reaches it, or the run the window ends in.
            let run = carry + (window.hi - tail_from);
            if run > 0 {
                visitor.run(window.hi - run, run);
            }
        }
        self.same_tail::<A>(moves)
    }

    /// Visits the subtree of node `top` (on the left edge, covering `[0, len)`) in
    /// address order, with the `pending` leaf folded in and the units from `tail` on
    /// read as busy, as the nodes read them; `carry` is the length of the free run
    /// that ends at the node being visited. Returns `true` once the visitor stopped.
    ///
    /// A loop over heap indices rather than a recursion: the next node after one is
    /// done is the right sibling of its lowest ancestor-or-self that is a left child,
    /// so no stack is kept, and each visit costs a few shifts instead of a call with
    /// nine arguments.
    #[allow(clippy::too_many_arguments)]
    fn visit<A: Access>(
        &self,
        map: &Bitmap,
        window: Window,
        tail: usize,
        pending: Option<(usize, Runs)>,
        top: usize,
        len: usize,
        carry: &mut usize,
        visitor: &mut impl Visitor,
    ) -> bool {
        let (mut i, mut lo, mut len) = (top, 0, len);
        loop {
            let hi = lo + len;
            // Whether to go down to the children of `i` rather than on past it.
            let mut down = false;
            if hi > window.lo && lo < window.hi {
                // Whether the node's runs leave its inside to be looked at.
                let mut open = true;
                if window.lo <= lo && hi <= window.hi {
                    let runs = self.node(i, pending);
                    let prefix = runs.prefix as usize;
                    if prefix == len {
                        *carry += len;
                        open = false;
                    } else if !visitor.descend(&runs) {
                        let run = *carry + prefix;
                        if run > 0 && visitor.run(lo + prefix - run, run) {
                            return true;
                        }
                        *carry = runs.suffix as usize;
                        open = false;
                    }
                }
                if open {
                    if i < self.leaves {
                        down = true;
                    } else if self.scan_leaf::<A>(
                        map,
                        window,
                        tail,
                        i - self.leaves,
                        lo,
                        carry,
                        visitor,
                    ) {
                        return true;
                    }
                }
            }
            if down {
                i *= 2;
                len /= 2;
                continue;
            }
            // On to the right sibling of the lowest left child at or above `i`.
            while i & 1 == 1 && i > top {
                i /= 2;
                lo -= len;
                len *= 2;
            }
            if i <= top {
                return false;
            }
            i += 1;
            lo += len;
        }
    }

    /// [`visit`](Self::visit) of a leaf at `lo`, run by run, clipped to the window, its
    /// units from the tail on read as busy.
    #[allow(clippy::too_many_arguments)]
    fn scan_leaf<A: Access>(
        &self,
        map: &Bitmap,
        window: Window,
        tail: usize,
        leaf: usize,
        lo: usize,
        carry: &mut usize,
        visitor: &mut impl Visitor,
    ) -> bool {
        let mut free = Self::leaf_free::<A>(map, leaf) & below_tail(leaf, tail);
        if window.lo > lo {
            free &= !((1u128 << (window.lo - lo)) - 1);
        }
        if window.hi < lo + LEAF_UNITS {
            free &= (1u128 << (window.hi - lo)) - 1;
        }
        // A run that reaches the window's end stays in `carry`: the walk joins it to
        // the tail when the window goes on into it.
        let end = LEAF_UNITS.min(window.hi - lo);
        let mut bit = 0;
        while bit < end {
            let rest = free >> bit;
            if rest & 1 == 0 {
                if *carry > 0 {
                    if visitor.run(lo + bit - *carry, *carry) {
                        return true;
                    }
                    *carry = 0;
                }
                if rest == 0 {
                    return false;
                }
                bit += rest.trailing_zeros() as usize;
                continue;
            }
            let run = (!rest).trailing_zeros() as usize;
            *carry += run;
            bit += run;
        }
        false
    }
}

/// First fit: the lowest run with an aligned start that holds `count` units.
pub(crate) struct Lowest<F> {
    /// Units asked for.
    pub(crate) count: usize,
    /// The aligned start in a run of `[start, end)`, if `count` units fit there.
    pub(crate) fit: F,
    /// The answer.
    pub(crate) found: Option<usize>,
}

impl<F: Fn(usize, usize) -> Option<usize>> Visitor for Lowest<F> {
    fn descend(&self, runs: &Runs) -> bool {
        runs.longest as usize >= self.count
    }

    fn run(&mut self, start: usize, len: usize) -> bool {
        if len >= self.count {
            self.found = (self.fit)(start, start + len);
        }
        self.found.is_some()
    }
}

/// Best fit within one size class: the smallest run of class `class` (lowest on
/// ties) that holds an aligned start of `count` units; an exact fit stops early.
pub(crate) struct SmallestInClass<F> {
    /// Units asked for.
    pub(crate) count: usize,
    /// The size class searched.
    pub(crate) class: u32,
    /// The aligned start in a run of `[start, end)`, if `count` units fit there.
    pub(crate) fit: F,
    /// The best so far: run length and start.
    pub(crate) best: Option<(usize, usize)>,
}

impl<F: Fn(usize, usize) -> Option<usize>> Visitor for SmallestInClass<F> {
    fn descend(&self, runs: &Runs) -> bool {
        runs.longest as usize >= self.count && runs.classes >> self.class & 1 == 1
    }

    fn run(&mut self, start: usize, len: usize) -> bool {
        if len < self.count || class(len) != self.class {
            return false;
        }
        if self.best.is_some_and(|(best, _)| best <= len) {
            return false;
        }
        if let Some(at) = (self.fit)(start, start + len) {
            self.best = Some((len, at));
            return len == self.count;
        }
        false
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::genalloc::access::Shared;
    use alloc::vec::Vec;

    /// Every maximal free run of `[lo, hi)`, unit by unit.
    fn naive_runs(map: &Bitmap, lo: usize, hi: usize) -> Vec<(usize, usize)> {
        let mut runs = Vec::new();
        let mut u = lo;
        while u < hi {
            if map.is_busy(u) {
                u += 1;
                continue;
            }
            let start = u;
            while u < hi && !map.is_busy(u) {
                u += 1;
            }
            runs.push((start, u - start));
        }
        runs
    }

    struct All(Vec<(usize, usize)>);

    impl Visitor for All {
        fn descend(&self, _: &Runs) -> bool {
            true
        }
        fn run(&mut self, start: usize, len: usize) -> bool {
            self.0.push((start, len));
            false
        }
    }

    /// Reports runs of at least `min` only where the tree says they may be.
    struct AtLeast(usize, Vec<(usize, usize)>);

    impl Visitor for AtLeast {
        fn descend(&self, runs: &Runs) -> bool {
            runs.longest as usize >= self.0
        }
        fn run(&mut self, start: usize, len: usize) -> bool {
            if len >= self.0 {
                self.1.push((start, len));
            }
            false
        }
    }

    use crate::test_rng::xorshift;

    /// Every unit of a leaf.
    fn leaf_mask() -> u128 {
        if LEAF_UNITS == 128 {
            u128::MAX
        } else {
            (1 << LEAF_UNITS) - 1
        }
    }

    fn pattern(units: usize, seed: u64, density: u64) -> Bitmap {
        let map = Bitmap::new(units).unwrap();
        let mut rng = seed;
        let mut u = 0;
        while u < units {
            xorshift(&mut rng);
            let len = 1 + (rng % 40) as usize;
            let len = len.min(units - u);
            if rng % 8 < density {
                map.claim(u, len).unwrap();
            }
            u += len;
        }
        map
    }

    #[test]
    #[cfg_attr(miri, ignore)] // Safe code, thousands of searches: slow under Miri.
    fn the_tree_reports_exactly_the_runs_of_the_map() {
        for (units, seed, density) in [
            (3 * LEAF_UNITS + 17, 1, 4),
            (8 * LEAF_UNITS, 2, 1),
            (5 * LEAF_UNITS - 3, 3, 7),
            (2 * LEAF_UNITS + 1, 4, 0),
            (16 * LEAF_UNITS + 5, 5, 6),
        ] {
            let map = pattern(units, seed, density);
            let tree = map.summary().unwrap();
            for (lo, hi) in [
                (0, units),
                (1, units),
                (5, units - 7),
                (LEAF_UNITS, 2 * LEAF_UNITS),
                (LEAF_UNITS - 1, LEAF_UNITS + 1),
            ] {
                let window = Window { lo, hi };
                let mut all = All(Vec::new());
                assert!(tree.walk::<Shared>(&map, window, &mut all));
                assert_eq!(all.0, naive_runs(&map, lo, hi), "{units} {lo}..{hi}");
                for min in [1, 2, 7, 40, 129, 300] {
                    let mut big = AtLeast(min, Vec::new());
                    assert!(tree.walk::<Shared>(&map, window, &mut big));
                    let want: Vec<_> = naive_runs(&map, lo, hi)
                        .into_iter()
                        .filter(|r| r.1 >= min)
                        .collect();
                    assert_eq!(big.1, want, "{units} {lo}..{hi} at least {min}");
                }
            }
            let runs = naive_runs(&map, 0, units);
            let longest = runs.iter().map(|r| r.1).max().unwrap_or(0);
            assert_eq!(tree.longest_run::<Shared>(&map), Some(longest));
        }
    }

    #[test]
    #[cfg_attr(miri, ignore)] // Safe code, thousands of searches: slow under Miri.
    fn size_classes_find_every_run_of_the_class() {
        let map = pattern(12 * LEAF_UNITS + 9, 7, 5);
        let tree = map.summary().unwrap();
        let runs = naive_runs(&map, 0, map.units());
        for count in [1, 2, 3, 5, 8, 13, 31, 64, 100] {
            for k in class(count)..12 {
                let mut v = SmallestInClass {
                    count,
                    class: k,
                    fit: |s: usize, e: usize| (e - s >= count).then_some(s),
                    best: None,
                };
                assert!(tree.walk::<Shared>(
                    &map,
                    Window {
                        lo: 0,
                        hi: map.units()
                    },
                    &mut v
                ));
                let want = runs
                    .iter()
                    .filter(|r| r.1 >= count && class(r.1) == k)
                    .min_by_key(|r| r.1)
                    .map(|r| (r.1, r.0));
                assert_eq!(v.best, want, "count {count} class {k}");
            }
        }
    }

    /// The runs of the `len` units from `lo` as the tree must describe them, unit by
    /// unit: those from `tail` on (and past the map) read as busy.
    fn naive_node(map: &Bitmap, tail: usize, lo: usize, len: usize) -> Runs {
        let hi = (lo + len).min(tail).min(map.units());
        let runs = if lo < hi {
            naive_runs(map, lo, hi)
        } else {
            Vec::new()
        };
        let mut want = Runs::default();
        for (start, run) in runs {
            let (at_start, at_end) = (start == lo, start + run == lo + len);
            if at_start {
                want.prefix = narrow(run);
            }
            if at_end {
                want.suffix = narrow(run);
            }
            if !at_start && !at_end {
                want.classes |= 1 << class(run);
            }
            want.longest = want.longest.max(narrow(run));
        }
        want
    }

    /// Every node under the top, as a search reads it (the pending leaf folded in),
    /// is what the map says, once the tree is settled.
    fn assert_current<A: Access>(map: &Bitmap, tree: &Summary, step: usize) {
        assert!(tree.settle::<A>(map));
        let tail = tree.tail.load(Ordering::Relaxed);
        let (top, pending) = (tree.top(tail), tree.pending_leaf::<A>());
        let leaf_depth = tree.leaves.trailing_zeros();
        for i in 1..2 * tree.leaves {
            let depth = usize::BITS - 1 - i.leading_zeros();
            let top_depth = usize::BITS - 1 - top.leading_zeros();
            if depth < top_depth || i >> (depth - top_depth) != top {
                continue;
            }
            let len = tree.len_of(i);
            let lo = (i << (leaf_depth - depth)) * LEAF_UNITS - tree.leaves * LEAF_UNITS;
            assert_eq!(
                tree.node(i, pending),
                naive_node(map, tail, lo, len),
                "node {i} at step {step}, tail {tail}"
            );
        }
    }

    /// Claims and frees of many leaves at once (whose inner leaves and nodes are
    /// stored as all busy or all free without reading the words), of a few units, and
    /// ones that reach the tail, through both kinds of access: after each the tree is
    /// what the map says, node by node.
    #[test]
    #[cfg_attr(miri, ignore)] // Safe code, a full tree check per step: slow under Miri.
    fn large_claims_and_frees_leave_every_node_current() {
        use crate::genalloc::access::Exclusive;
        fn run<A: Access>(seed: u64) {
            let units = 40 * LEAF_UNITS + 9;
            let map = Bitmap::new(units).unwrap();
            let tree = map.summary().unwrap();
            let mut state = seed;
            let mut next = |n: usize| crate::test_rng::below(&mut state, n);
            let mut live: Vec<(usize, usize)> = Vec::new();
            for step in 0..600 {
                if live.is_empty() || next(5) < 3 {
                    let count = 1 + if next(2) == 0 {
                        next(12 * LEAF_UNITS)
                    } else {
                        next(40)
                    };
                    let start = next(units - count + 1);
                    if map.claim_as::<A>(start, count).is_ok() {
                        live.push((start, count));
                    }
                } else {
                    let (start, count) = live.swap_remove(next(live.len()));
                    map.release_as::<A>(start, count).unwrap();
                }
                // Settled after every change, or after a few (then they were deferred).
                if next(4) != 0 {
                    assert_current::<A>(&map, tree, step);
                    tree.needed();
                }
            }
            assert_current::<A>(&map, tree, 600);
        }
        for seed in 1..4 {
            run::<Exclusive>(seed);
            run::<Shared>(seed);
        }
    }

    #[test]
    fn a_change_across_two_leaves_brings_both_paths_up_to_date() {
        use crate::genalloc::access::Exclusive;
        // The tree of one map is told of a change across a leaf boundary and reads the
        // words of a second map that differs in only one of the two leaves, so that
        // leaf alone changes: with a common parent (leaves 2 and 3) and without (3, 4).
        fn run<A: Access>(left: usize, changed: usize) {
            let units = 8 * LEAF_UNITS;
            let (map, other) = (Bitmap::new(units).unwrap(), Bitmap::new(units).unwrap());
            for m in [&map, &other] {
                // Blocks that keep the tail at the end and make each leaf distinct.
                m.claim(units - 1, 1).unwrap();
                for leaf in 0..8 {
                    m.claim(leaf * LEAF_UNITS + 3 + leaf, 2 + leaf).unwrap();
                }
            }
            other
                .claim(changed * LEAF_UNITS + LEAF_UNITS / 2, 5)
                .unwrap();
            let tree = map.summary().unwrap();
            // Nothing stale left (a drain would recompute every leaf from `other`),
            // and the change is folded in at once, not deferred.
            assert_current::<A>(&map, tree, 0);
            tree.needed();
            let boundary = (left + 1) * LEAF_UNITS;
            tree.changed::<A>(&other, boundary - 1, boundary + 1, false);
            assert_current::<A>(&other, tree, changed);
        }
        for (left, changed) in [(2, 2), (2, 3), (3, 3), (3, 4)] {
            run::<Exclusive>(left, changed);
            run::<Shared>(left, changed);
        }
    }

    #[test]
    fn the_tree_follows_claims_and_frees() {
        let units = 6 * LEAF_UNITS + 3;
        let map = Bitmap::new(units).unwrap();
        let tree = map.summary().unwrap();
        assert_eq!(tree.longest_run::<Shared>(&map).unwrap(), units);
        map.claim(LEAF_UNITS - 2, 2 * LEAF_UNITS).unwrap();
        map.claim(5 * LEAF_UNITS, 1).unwrap();
        assert_eq!(tree.longest_run::<Shared>(&map), Some(2 * LEAF_UNITS + 2));
        // The free tail after the last block is left out of the tree: the root sees
        // the units from there on as busy.
        let tail = || tree.tail.load(Ordering::Relaxed);
        assert_eq!(tail(), 5 * LEAF_UNITS + 1);
        let root = tree.runs(1);
        assert_eq!(
            (
                root.prefix as usize,
                root.suffix as usize,
                root.longest as usize
            ),
            (LEAF_UNITS - 2, 0, 2 * LEAF_UNITS + 2)
        );
        assert_eq!(root.classes, 1 << class(2 * LEAF_UNITS + 2));
        map.release(LEAF_UNITS - 2, 2 * LEAF_UNITS).unwrap();
        assert_eq!(tree.longest_run::<Shared>(&map), Some(5 * LEAF_UNITS));
        let root = tree.runs(1);
        assert_eq!(root.longest as usize, 5 * LEAF_UNITS);
        assert_eq!(root.classes, 0);
        // A rejected claim changes nothing.
        assert!(map.claim(5 * LEAF_UNITS - 1, 3).is_err());
        assert_eq!((tree.runs(1), tail()), (root, 5 * LEAF_UNITS + 1));
        // Freeing the last block gives its units and the free run before it to the
        // tail, and the tree forgets that run.
        map.release(5 * LEAF_UNITS, 1).unwrap();
        assert_eq!(tail(), 0);
        assert_eq!(tree.runs(tree.top(0)), Runs::default());
        assert_eq!(tree.longest_run::<Shared>(&map), Some(units));
    }

    #[test]
    fn the_tail_moves_with_the_claims_and_frees_that_reach_it() {
        // Room for a free run longer than a move down may mask at once.
        let top_block = TAIL_DROP + 14 * LEAF_UNITS;
        let units = top_block + 10 * LEAF_UNITS;
        let map = Bitmap::new(units).unwrap();
        let tree = map.summary().unwrap();
        // Read once the tree folded in every change (changes after a few without a
        // search that needed the tree only publish their leaves).
        let tail = || {
            assert!(tree.longest_run::<Shared>(&map).is_some());
            tree.tail.load(Ordering::Relaxed)
        };
        // The runs the tree's searches start from.
        let top = || tree.runs(tree.top(tail()));
        let all_runs = || {
            let mut all = All(Vec::new());
            assert!(tree.walk::<Shared>(&map, Window { lo: 0, hi: units }, &mut all));
            all.0
        };
        // A claim past the tail makes the units it skipped visible in the tree.
        map.claim(5 * LEAF_UNITS + 3, 2).unwrap();
        assert_eq!(tail(), 5 * LEAF_UNITS + 5);
        assert_eq!(top().longest as usize, 5 * LEAF_UNITS + 3);
        assert_eq!(tree.lowest_run::<Shared>(&map, 1), Some(Some(0)));
        assert_eq!(all_runs(), naive_runs(&map, 0, units));
        map.release(5 * LEAF_UNITS + 3, 2).unwrap();
        assert_eq!(tail(), 0);
        // Claims at the tail only move it.
        map.claim(0, 1).unwrap();
        map.claim(1, top_block - 1).unwrap();
        map.claim(top_block, 1).unwrap();
        assert_eq!(tail(), top_block + 1);
        assert_eq!(top(), Runs::default());
        // A free that reaches the tail moves it down at most `TAIL_DROP` units at a
        // time; searches still see one run from the free run's start to the end.
        map.release(1, top_block - 1).unwrap();
        map.release(top_block, 1).unwrap();
        assert_eq!(tail(), 14 * LEAF_UNITS + 1);
        assert_eq!(tree.lowest_run::<Shared>(&map, units - 1), Some(Some(1)));
        assert_eq!(tree.lowest_run::<Shared>(&map, units), Some(None));
        assert_eq!(tree.longest_run::<Shared>(&map), Some(units - 1));
        assert_eq!(all_runs(), [(1, units - 1)]);
        // The next change below the tail, here the free of unit 0, moves it on.
        map.release(0, 1).unwrap();
        assert_eq!(tail(), 0);
        assert_eq!(top(), Runs::default());
        assert_eq!(tree.lowest_run::<Shared>(&map, units), Some(Some(0)));
        // Again a tail that stopped short, then a claim from the free run before it
        // into it: the tail moves past the claim, and the tree sees its units below
        // the old tail taken.
        map.claim(0, 1).unwrap();
        map.claim(1, top_block - 1).unwrap();
        map.claim(top_block, 1).unwrap();
        map.release(1, top_block - 1).unwrap();
        map.release(top_block, 1).unwrap();
        assert_eq!(tail(), 14 * LEAF_UNITS + 1);
        map.claim(1, 20 * LEAF_UNITS).unwrap();
        assert_eq!(tail(), 20 * LEAF_UNITS + 1);
        assert_eq!(top(), Runs::default());
        assert_eq!(
            tree.lowest_run::<Shared>(&map, 1),
            Some(Some(20 * LEAF_UNITS + 1))
        );
    }

    #[test]
    fn a_tail_that_moves_up_past_the_top_brings_the_new_top_up_to_date() {
        let units = 16 * LEAF_UNITS;
        let map = Bitmap::new(units).unwrap();
        let tree = map.summary().unwrap();
        let eager = || assert!(tree.longest_run::<Shared>(&map).is_some());
        // Leaves 0 to 2 taken in blocks, a 2-unit block inside leaf 1.
        let hole = LEAF_UNITS + 10;
        for (start, len) in [
            (0, 5),
            (5, LEAF_UNITS - 5),
            (LEAF_UNITS, 10),
            (hole, 2),
            (hole + 2, LEAF_UNITS - 12),
            (2 * LEAF_UNITS, LEAF_UNITS),
        ] {
            eager();
            map.claim(start, len).unwrap();
        }
        // The tail moves down to leaf 2's start: the searches' top now covers two
        // leaves, and the changes below stop climbing there, above it the edge keeps
        // what it had.
        eager();
        map.release(2 * LEAF_UNITS, LEAF_UNITS).unwrap();
        assert_eq!(tree.top(tree.tail.load(Ordering::Relaxed)), tree.leaves / 2);
        eager();
        map.release(hole, 2).unwrap();
        eager();
        map.release(0, 5).unwrap();
        assert_eq!(tree.lowest_run::<Shared>(&map, 3), Some(Some(0)));
        // A claim at the tail that reaches leaf 2 makes the node over four leaves the
        // top: it must know the runs below.
        eager();
        map.claim(2 * LEAF_UNITS, 10).unwrap();
        assert_eq!(tree.top(tree.tail.load(Ordering::Relaxed)), tree.leaves / 4);
        assert_eq!(tree.lowest_run::<Shared>(&map, 2), Some(Some(0)));
        assert_eq!(
            tree.lowest_run::<Shared>(&map, 6),
            Some(Some(2 * LEAF_UNITS + 10))
        );
        assert_eq!(
            tree.longest_run::<Shared>(&map),
            Some(units - 2 * LEAF_UNITS - 10)
        );
        map.claim(0, 5).unwrap();
        assert_eq!(tree.lowest_run::<Shared>(&map, 2), Some(Some(hole)));
    }

    /// The stored (unfolded) runs of leaf `leaf`'s parent.
    fn stored_parent(tree: &Summary, leaf: usize) -> Runs {
        tree.runs((tree.leaves + leaf) / 2)
    }

    #[test]
    fn a_free_inside_a_leaf_waits_as_pending_and_every_search_folds_it_in() {
        let units = 8 * LEAF_UNITS;
        let map = Bitmap::new(units).unwrap();
        let tree = map.summary().unwrap();
        // Everything but the last leaf taken, in blocks that leave a two-unit block
        // strictly inside leaf 3 and another inside leaf 1.
        let (hole3, hole1, hole5) = (3 * LEAF_UNITS + 5, LEAF_UNITS + 9, 5 * LEAF_UNITS + 10);
        for (start, len) in [
            (0, hole1),
            (hole1, 2),
            (hole1 + 2, hole3 - hole1 - 2),
            (hole3, 2),
            (hole3 + 2, hole5 - hole3 - 2),
            (hole5, 3),
            (hole5 + 3, 7 * LEAF_UNITS - hole5 - 3),
        ] {
            map.claim(start, len).unwrap();
        }
        let window = Window { lo: 0, hi: units };
        // Changes fold into the tree at once only while searches need it: keep it so.
        let eager = || assert!(tree.longest_run::<Shared>(&map).is_some());
        eager();
        map.release(hole3, 2).unwrap();
        // Only the leaf changed: its parent still knows no free unit...
        assert_eq!(tree.pending.load(Ordering::Relaxed), 4);
        assert_eq!(stored_parent(tree, 3).longest, 0);
        // ...yet every search sees the hole.
        assert_eq!(tree.lowest_run::<Shared>(&map, 2), Some(Some(hole3)));
        assert_eq!(
            tree.lowest_run::<Shared>(&map, 3),
            Some(Some(7 * LEAF_UNITS))
        );
        assert_eq!(
            tree.node(1, tree.pending_leaf::<Shared>()).classes,
            1 << class(2)
        );
        let mut at_least = AtLeast(2, Vec::new());
        assert!(tree.walk::<Shared>(&map, window, &mut at_least));
        assert_eq!(at_least.1, [(hole3, 2), (7 * LEAF_UNITS, LEAF_UNITS)]);
        let mut best = SmallestInClass {
            count: 2,
            class: class(2),
            fit: |s: usize, e: usize| (e - s >= 2).then_some(s),
            best: None,
        };
        assert!(tree.walk::<Shared>(&map, window, &mut best));
        assert_eq!(best.best, Some((2, hole3)));
        // Refilling the hole restores what the ancestors describe: nothing pending.
        eager();
        map.claim(hole3, 2).unwrap();
        assert_eq!(tree.pending.load(Ordering::Relaxed), 0);
        assert_eq!(
            tree.lowest_run::<Shared>(&map, 1),
            Some(Some(7 * LEAF_UNITS))
        );
        // A change of another leaf brings the pending one's path up to date first.
        eager();
        map.release(hole3, 2).unwrap();
        eager();
        map.release(hole1, 2).unwrap();
        assert_eq!(tree.pending.load(Ordering::Relaxed), 2);
        assert_eq!(stored_parent(tree, 3).longest, 2);
        // ...all the way up: the stored root knows the hole (the free tail is outside
        // the tree), though not the pending one in leaf 1.
        assert_eq!(tree.runs(1).classes, 1 << class(2));
        assert_eq!(tree.lowest_run::<Shared>(&map, 2), Some(Some(hole1)));
        // A change that is not a pure gain inside the leaf updates the path at once.
        eager();
        map.claim(hole1, 1).unwrap();
        assert_eq!(tree.pending.load(Ordering::Relaxed), 0);
        assert_eq!(stored_parent(tree, 1).longest, 1);
        assert_eq!(tree.lowest_run::<Shared>(&map, 1), Some(Some(hole1 + 1)));
        // So does one that shortens the pending leaf's longest run within its class.
        eager();
        map.release(hole5, 3).unwrap();
        assert_eq!(tree.pending.load(Ordering::Relaxed), 6);
        eager();
        map.claim(hole5, 1).unwrap();
        assert_eq!(tree.pending.load(Ordering::Relaxed), 0);
        assert_eq!(stored_parent(tree, 5).longest, 2);
        // With every other run shorter, even the stored root knows no fit: the search
        // must fold the pending leaf in from the root down.
        for (start, len) in [(7 * LEAF_UNITS, LEAF_UNITS), (hole3, 2), (hole5 + 1, 2)] {
            eager();
            map.claim(start, len).unwrap();
        }
        eager();
        map.release(hole5 + 1, 2).unwrap();
        assert_eq!(tree.pending.load(Ordering::Relaxed), 6);
        assert_eq!(tree.runs(1).longest, 1);
        assert_eq!(tree.lowest_run::<Shared>(&map, 2), Some(Some(hole5 + 1)));
        assert_eq!(tree.longest_run::<Shared>(&map), Some(2));
    }

    #[test]
    fn only_a_pending_leaf_back_at_what_its_ancestors_describe_skips_the_path() {
        let units = 4 * LEAF_UNITS;
        let map = Bitmap::new(units).unwrap();
        let tree = map.summary().unwrap();
        // Every unit taken one by one, but for a two-unit block inside leaf 2.
        let (first, second) = (2 * LEAF_UNITS + 10, 2 * LEAF_UNITS + 20);
        let mut start = 0;
        while start < units {
            let len = if start == second { 2 } else { 1 };
            map.claim(start, len).unwrap();
            start += len;
        }
        let eager = || assert!(tree.longest_run::<Shared>(&map).is_some());
        eager();
        map.release(first, 1).unwrap();
        eager();
        map.release(second, 2).unwrap();
        assert_eq!(tree.pending.load(Ordering::Relaxed), 3);
        assert_eq!(stored_parent(tree, 2).longest, 0);
        // The leaf is back where it was when it first became pending, not where its
        // ancestors stand: the path must learn of the first hole.
        eager();
        map.claim(second, 2).unwrap();
        assert_eq!(tree.pending.load(Ordering::Relaxed), 0);
        assert_eq!(stored_parent(tree, 2).longest, 1);
        assert_eq!(tree.lowest_run::<Shared>(&map, 1), Some(Some(first)));
        // Refilling the second hole again is what the ancestors describe: nothing
        // pending, and the parent was right all along.
        eager();
        map.release(second, 2).unwrap();
        assert_eq!(tree.pending.load(Ordering::Relaxed), 3);
        eager();
        map.claim(second, 2).unwrap();
        assert_eq!(tree.pending.load(Ordering::Relaxed), 0);
        assert_eq!(stored_parent(tree, 2).longest, 1);
        assert_eq!(tree.lowest_run::<Shared>(&map, 1), Some(Some(first)));
        eager();
        map.claim(first, 1).unwrap();
        assert_eq!(tree.lowest_run::<Shared>(&map, 1), Some(None));
    }

    #[test]
    fn small_and_empty_maps_have_no_tree() {
        assert!(Bitmap::new(LEAF_UNITS).unwrap().summary().is_none());
        assert!(Bitmap::new(0).unwrap().summary().is_none());
        assert!(Bitmap::new(2 * LEAF_UNITS - 1).unwrap().summary().is_none());
        assert!(Bitmap::new(2 * LEAF_UNITS).unwrap().summary().is_some());
    }

    /// The free runs of a leaf, `(start, length)` in address order, unit by unit.
    fn naive_leaf_runs(free: u128) -> Vec<(usize, usize)> {
        let bit = |u: usize| u < LEAF_UNITS && free >> u & 1 == 1;
        let mut runs = Vec::new();
        let mut u = 0;
        while u < LEAF_UNITS {
            let start = u;
            while bit(u) {
                u += 1;
            }
            if u > start {
                runs.push((start, u - start));
            }
            u += 1;
        }
        runs
    }

    /// [`Runs::of_leaf`] unit by unit.
    fn naive_leaf(free: u128) -> Runs {
        let runs = naive_leaf_runs(free);
        let len = |at: usize| runs.iter().find(|r| r.0 == at).map_or(0, |r| r.1);
        let suffix = runs
            .last()
            .filter(|r| r.0 + r.1 == LEAF_UNITS)
            .map_or(0, |r| r.1);
        let classes = runs
            .iter()
            .filter(|r| r.0 != 0 && r.0 + r.1 != LEAF_UNITS)
            .fold(0, |c, r| c | 1 << class(r.1));
        Runs {
            prefix: narrow(len(0)),
            suffix: narrow(suffix),
            longest: narrow(runs.iter().map(|r| r.1).max().unwrap_or(0)),
            classes,
        }
    }

    #[test]
    #[cfg_attr(miri, ignore)] // Safe code, thousands of searches: slow under Miri.
    fn leaf_runs_match_a_unit_by_unit_count() {
        let mask = leaf_mask();
        let mut rng = 0x2545_f491_4f6c_dd1d_u64;
        for i in 0..4000 {
            let mut word = || u128::from(xorshift(&mut rng));
            // Sparse, dense and random masks, with runs of every length; and masks of
            // one to five runs (the run-by-run path and the first mask past it), some
            // touching the leaf's ends.
            let free = match i % 6 {
                0 => word() | word() << 64,
                1 => (word() | word() << 64) & (word() | word() << 64),
                2 => !((word() | word() << 64) & (word() | word() << 64) & word()),
                3 => (word() << 64 | word()) >> (i % 128),
                _ => {
                    let mut few = 0u128;
                    for _ in 0..=i % 5 {
                        let r = word();
                        let start = (r % LEAF_UNITS as u128) as usize;
                        let len = 1 + ((r >> 8) % (LEAF_UNITS - start) as u128) as usize;
                        let ones = if len == 128 {
                            u128::MAX
                        } else {
                            (1 << len) - 1
                        };
                        few |= ones << start;
                    }
                    if i % 3 == 0 { !few } else { few }
                }
            } & mask;
            assert_eq!(Runs::of_leaf(free), naive_leaf(free), "{free:#x}");
        }
    }

    #[test]
    fn at_most_ones_agrees_with_the_bit_count() {
        let mut rng = 0x2545_f491_4f6c_dd1d_u64;
        for i in 0..4000 {
            let mut word = || u128::from(xorshift(&mut rng));
            // Sparse values too, so that the small counts it is asked about occur.
            let bits = match i % 3 {
                0 => word() | word() << 64,
                1 => (word() & word() & word() & word()) << (i % 64),
                _ => 1u128 << (i % 128) | 1u128 << ((i * 7) % 128) | (word() & word()) >> 100,
            };
            for n in 0..8 {
                assert_eq!(
                    at_most_ones(bits, n),
                    bits.count_ones() <= n,
                    "{bits:#x} {n}"
                );
            }
        }
        assert!(at_most_ones(0, 0));
        assert!(!at_most_ones(u128::MAX, 127));
        assert!(at_most_ones(u128::MAX, 128));
    }

    #[test]
    #[cfg_attr(miri, ignore)] // Safe code, 39,000 naive leaf scans: seven minutes under Miri.
    fn the_lowest_fit_in_a_leaf_is_the_first_run_long_enough() {
        let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
        for i in 0..3000 {
            let mut word = || u128::from(xorshift(&mut rng));
            let free = match i % 3 {
                0 => word() | word() << 64,
                1 => (word() | word() << 64) & (word() | word() << 64),
                _ => !((word() | word() << 64) & (word() | word() << 64)),
            };
            let free = free & leaf_mask();
            for count in [1, 2, 3, 4, 5, 7, 8, 13, 24, 32, 64, 100, LEAF_UNITS] {
                let want = naive_leaf_runs(free)
                    .into_iter()
                    .find(|r| r.1 >= count)
                    .map(|r| r.0);
                assert_eq!(lowest_fit_in_leaf(free, count), want, "{free:#x} {count}");
                assert_eq!(lowest_run_in_leaf(free, count), want, "{free:#x} {count}");
            }
        }
        assert_eq!(lowest_fit_in_leaf(u128::MAX, LEAF_UNITS + 1), None);
        assert_eq!(lowest_fit_in_leaf(0, 1), None);
    }

    #[test]
    fn leaf_runs() {
        let r = Runs::of_leaf(0);
        assert_eq!(r, Runs::default());
        let full = leaf_mask();
        assert_eq!(Runs::of_leaf(full).longest as usize, LEAF_UNITS);
        // Free: 0..3, 5..6, 10..=13, and the top two units.
        let free = 0b111 | 1 << 5 | 0b1111 << 10 | 0b11 << (LEAF_UNITS - 2);
        let r = Runs::of_leaf(free);
        assert_eq!((r.prefix, r.suffix, r.longest), (3, 2, 4));
        assert_eq!(r.classes, 1 << 0 | 1 << 2);
    }
}
