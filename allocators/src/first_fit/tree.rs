//! The pieces that tile a unit space: an address-order list of all of them, an AVL tree
//! of the free ones, and an index from allocation starts to their nodes, over one fixed
//! arena.
//!
//! A *piece* is a maximal free extent or one live allocation; together they cover the
//! space exactly once, and each has a node linked to the pieces before and after it in
//! address order. The free pieces but a free last one (beside the tree, see
//! [`PieceTree`]'s `wild`) also form a tree keyed by start where every node
//! carries, for each child, that subtree's height and the length of its longest free
//! piece, so [`PieceTree::first_fit`] can skip whole subtrees that cannot hold a request
//! without touching them; with parent links, a change climbs from its own node and stops
//! at the first ancestor whose stored view of the changed subtree is still right.
//!
//! Free pieces of at most [`SMALL`] units that a free or a cut of another such piece
//! makes are kept out of the tree instead, in one pairing heap by start per length,
//! threaded through the tree links of their nodes (see [`PieceTree`]'s `small`); a
//! piece in the tree that is cut that short stays in the tree, and so does a piece
//! merged while the tree is very short.
//!
//! Allocations are found by start through an open-addressing hash table (linear
//! probing, backward-shift deletion) whose slots (an entry and its hash) are threaded
//! through the same arena, one in each of its first nodes: about twice as many as the
//! most nodes in use at once (it doubles as more come into use), at most all of them. There are
//! never more allocations than nodes in use, and at most half as many as nodes when the
//! arena is sized by the allocation limit (`2m + 1` nodes for `m` allocations).
//!
//! This file owns node storage, the list, balancing, the augmentation, the heaps and the
//! index. It never allocates after [`PieceTree::with_nodes`] (nodes come from a free
//! list threaded through the arena), never knows about errors or requests beyond the
//! [`Fit`] questions, and keeps no counters: those belong to the backend.
//!
//! Nodes live in a `Vec` and link by `u32` index rather than through
//! `intrusive-collections`: its `RBTree` offers no hook to recompute a per-node
//! aggregate when it rotates, and its cursors cannot descend to a chosen child, so the
//! pruned search below cannot be expressed with it.
#![forbid(unsafe_code)]

use crate::fallible::{OutOfMemory, try_push, try_reserve};
use alloc::vec::Vec;

use super::fit::Fit;

/// The "no node" index.
const NIL: u32 = u32::MAX;

/// The largest arena a tree can index (`NIL` is reserved).
pub(super) const MAX_NODES: usize = (u32::MAX - 1) as usize;

/// A run of units that is either one free extent or one live allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Piece {
    /// First unit.
    pub(super) start: usize,
    /// Units (never 0 in the tree).
    pub(super) len: usize,
    /// Free extent (`true`) or allocation (`false`).
    pub(super) free: bool,
}

impl Piece {
    /// One past the last unit (pieces lie inside the space, so this cannot overflow).
    pub(super) const fn end(&self) -> usize {
        self.start + self.len
    }

    #[cfg(test)]
    const fn free_len(&self) -> usize {
        if self.free { self.len } else { 0 }
    }
}

/// What a parent needs to know about a subtree: its height and its longest free piece.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Summary {
    height: u8,
    max_free: usize,
}

/// The summary of a subtree of one free piece of `len` units.
const fn leaf_summary(len: usize) -> Summary {
    Summary {
        height: 1,
        max_free: len,
    }
}

/// The `left_height` of a node in a heap rather than the tree: no tree is that tall,
/// and a heap node has no use for the field.
const IN_HEAP: u8 = u8::MAX;

/// The summary of the empty subtree.
const EMPTY: Summary = Summary {
    height: 0,
    max_free: 0,
};

/// One arena slot: a piece, its address-order links, its tree links and children's
/// summaries (free pieces only), and one slot of the allocation index (unrelated to the
/// piece in the same node). 64 bytes on 64-bit targets, aligned there so that a node is
/// one cache line; 48 on 32-bit targets.
///
/// Opaque to callers: they only size arrays of it for
/// [`FirstFit::with_storage`](super::FirstFit::with_storage).
#[derive(Clone, Copy, Debug)]
#[cfg_attr(target_pointer_width = "64", repr(align(64)))]
pub struct Node {
    start: usize,
    len: usize,
    /// Longest free piece in the left subtree.
    left_max: usize,
    /// Longest free piece in the right subtree.
    right_max: usize,
    left: u32,
    right: u32,
    parent: u32,
    /// The piece before this one in address order.
    prev: u32,
    /// The piece after this one in address order; the next spare node while this node
    /// is on the spare list.
    next: u32,
    /// Slot of the allocation index: the node of an allocation, or `NIL`.
    slot: u32,
    /// The hash of that allocation's start.
    slot_hash: u32,
    left_height: u8,
    right_height: u8,
    free: bool,
    /// Whether the probe of an index entry stored past this slot went over it: only
    /// then can emptying the slot break a probe sequence, so a removal from a slot
    /// without it skips the backward shift and never reads the next slot (one more
    /// cache line, as every node is one). It may be left set when no entry needs it any
    /// more; that only costs the shift.
    slot_passed: bool,
}

impl Node {
    const fn piece(&self) -> Piece {
        Piece {
            start: self.start,
            len: self.len,
            free: self.free,
        }
    }

    /// Longest free piece in this node's subtree: only tree nodes have one, and they
    /// are all free, so the node's own length needs no check of its state.
    #[inline]
    fn max_free(&self) -> usize {
        self.len.max(self.left_max).max(self.right_max)
    }

    #[inline]
    fn summary(&self) -> Summary {
        Summary {
            height: 1 + self.left_height.max(self.right_height),
            max_free: self.max_free(),
        }
    }

    const fn left_summary(&self) -> Summary {
        Summary {
            height: self.left_height,
            max_free: self.left_max,
        }
    }

    const fn right_summary(&self) -> Summary {
        Summary {
            height: self.right_height,
            max_free: self.right_max,
        }
    }

    /// Points the left link at `child`, whose subtree is summed up by `summary`.
    const fn set_left(&mut self, child: u32, summary: Summary) {
        self.left = child;
        self.left_height = summary.height;
        self.left_max = summary.max_free;
    }

    /// Points the right link at `child`, whose subtree is summed up by `summary`.
    const fn set_right(&mut self, child: u32, summary: Summary) {
        self.right = child;
        self.right_height = summary.height;
        self.right_max = summary.max_free;
    }

    const fn set_piece(&mut self, piece: Piece) {
        self.start = piece.start;
        self.len = piece.len;
        self.free = piece.free;
    }
}

/// [`PieceTree::climb_lengths`] over the arena `nodes`, for the climbs that hold it
/// as one slice already.
#[inline(always)]
fn climb_lengths_in(nodes: &mut [Node], mut at: u32) {
    let node = &nodes[at as usize];
    let (mut up, mut max) = (node.parent, node.max_free());
    // `NIL` is past the end of every arena, so the root's missing parent ends the loop.
    while let Some(parent) = nodes.get_mut(up as usize) {
        let stored = if parent.left == at {
            &mut parent.left_max
        } else {
            &mut parent.right_max
        };
        if *stored == max {
            return;
        }
        *stored = max;
        (at, max, up) = (up, parent.max_free(), parent.parent);
    }
}

/// Joins the pairing heaps rooted at `a` and `b` (roots: no parent, no sibling that
/// matters) into one and returns its root, the lower-starting of the two; the other
/// becomes its first child. A heap node keeps its first child in `left`, its next
/// sibling in `right`, and in `parent` its parent when it is a first child, else its
/// previous sibling, so that it can be cut out in `O(1)`.
#[inline(always)]
fn meld(nodes: &mut [Node], a: u32, b: u32) -> u32 {
    let (top, below) = if nodes[a as usize].start < nodes[b as usize].start {
        (a, b)
    } else {
        (b, a)
    };
    let first = nodes[top as usize].left;
    // The old first child's back link, written without a branch on whether there is
    // one (which half of the melds mispredicted): with none, into `below`, whose link
    // is set just after.
    let back = if first == NIL { below } else { first };
    nodes[back as usize].parent = below;
    let child = &mut nodes[below as usize];
    (child.right, child.parent) = (first, top);
    nodes[top as usize].left = below;
    top
}

/// Melds the sibling list from `first` into one heap, two-pass pairing (pairs from the
/// left, then each pair into the result from the right), and returns its root with no
/// parent and no sibling; `NIL` for an empty list.
#[inline(always)]
fn meld_siblings(nodes: &mut [Node], first: u32) -> u32 {
    // The pairs are stacked through their `right` links, the last one on top.
    let (mut stack, mut at) = (NIL, first);
    while let Some(node) = nodes.get(at as usize) {
        let second = node.right;
        let (pair, next) = match nodes.get(second as usize) {
            Some(after) => {
                let next = after.right;
                (meld(nodes, at, second), next)
            }
            None => (at, NIL),
        };
        nodes[pair as usize].right = stack;
        (stack, at) = (pair, next);
    }
    let Some(top) = nodes.get(stack as usize) else {
        return NIL;
    };
    let (mut root, mut rest) = (stack, top.right);
    while let Some(node) = nodes.get(rest as usize) {
        let next = node.right;
        root = meld(nodes, rest, root);
        rest = next;
    }
    let top = &mut nodes[root as usize];
    (top.right, top.parent) = (NIL, NIL);
    root
}

/// Pairs the sibling list from `first` (two nodes or more) and melds the result under
/// `root`, which starts below all of them: the removal of a heap node below the root.
/// Apart from [`PieceTree::heap_remove`] for the same reason as its root case.
#[inline(never)]
fn meld_children_under(nodes: &mut [Node], root: u32, first: u32) {
    let below = meld_siblings(nodes, first);
    meld(nodes, root, below);
}

// The sizes the docs state (`metadata_bytes` is a multiple of them).
#[cfg(target_pointer_width = "64")]
const _: () = assert!(core::mem::size_of::<Node>() == 64);
#[cfg(target_pointer_width = "32")]
const _: () = assert!(core::mem::size_of::<Node>() == 48);

const SPARE: Node = Node {
    start: 0,
    len: 0,
    left_max: 0,
    right_max: 0,
    left: NIL,
    right: NIL,
    parent: NIL,
    prev: NIL,
    next: NIL,
    slot: NIL,
    slot_hash: 0,
    left_height: 0,
    right_height: 0,
    free: false,
    slot_passed: false,
};

/// An AVL tree of [`Piece`]s keyed by start, over a preallocated arena: a `Vec` sized
/// once, or caller-provided storage such as an inline array.
#[derive(Clone, Debug)]
pub(super) struct PieceTree<S = Vec<Node>> {
    nodes: S,
    /// Root of the tree of free pieces (all but `wild`).
    root: u32,
    /// The last piece when it is free, kept out of the tree: allocations cut from the
    /// end of the space (most of them while the space fills up) change only its start
    /// and length, where in the tree its length is on every ancestor's right and each
    /// cut would climb to the root. It lies above every piece of the tree, so a search
    /// tries it after the tree. `NIL` when the last piece is an allocation.
    wild: u32,
    /// The piece at offset 0, head of the address-order list of all pieces.
    first: u32,
    spare_head: u32,
    spare: usize,
    /// Slots of the allocation index: the first this many nodes. A node's slot is read
    /// on every allocation and free, so the index is kept about twice as large as the
    /// most nodes in use at once rather than as the whole arena: in a large arena of
    /// which little is used, its slots then share the cache with the nodes in use
    /// (spare nodes are handed out lowest first, and given back ones first, or from
    /// inside the index: see `take_spare_at_home`) instead of
    /// costing a miss each. Live allocations never outnumber the nodes in use, so it
    /// stays at most half full; it doubles (a rehash) as more nodes come into use.
    index_len: usize,
    /// The spare count below which the index must grow before a cut (which may take
    /// two nodes): `arena + 2 - index_len / 2`, or 0 once it spans the arena.
    grow_below_spare: usize,
    /// For each length `1..=small_limit` (at index `length - 1`): the root of a pairing
    /// heap, by start, of the free pieces of exactly that length, which are not in the
    /// tree (`NIL` when there are none). See [`SMALL`].
    small: [u32; SMALL],
    /// The heaps' lowest starts and a tournament tree over them, so that the lowest
    /// piece of many busy heaps of lengths `count..=SMALL` is found in `log2(SMALL)`
    /// steps rather than by comparing every busy heap's root: at
    /// `SMALL + h`, the start of the piece at heap `h`'s root (`usize::MAX` for an
    /// empty heap), always current; at `i` in `1..SMALL`, the lowest of `2 * i` and
    /// `2 * i + 1`, brought up to date only when a search uses them (see
    /// `small_stale`). Reads no node.
    small_min: [usize; 2 * SMALL],
    /// For each inner entry `i` of `small_min` (`1..SMALL`), the heap whose root's start
    /// it holds (entry 0 unused).
    small_win: [u8; SMALL],
    /// Bit `h` set for each heap whose lowest start changed since the inner entries of
    /// `small_min` were last replayed: only the entries above such heaps can be out of
    /// date. A heap's root changes on most heap operations, and a search that compares
    /// few heaps compares their roots directly, so the tree is replayed only for the
    /// searches that use it, and only where it changed (a root that came back to the
    /// start it had costs one step).
    small_stale: u64,
    /// Bit `length - 1` set for each heap that holds a piece.
    small_used: u64,
    /// Free pieces up to this many units that a free or the cut of a heap piece makes
    /// go into the heaps; longer ones, and pieces of the tree cut shorter, are in the
    /// tree. Every heap piece is at most this long. Starts at [`SMALL`] and only ever
    /// drops: an aligned or windowed request needs the pieces it could use in address
    /// order, which only the tree gives, so it lowers the limit below its count for
    /// good.
    small_limit: usize,
}

/// The longest free pieces kept out of the tree, in per-length heaps. A request of
/// `count <= SMALL` units with no alignment and no window can take the lowest piece of
/// any length from `count` on, which is the lowest of the heaps' roots for `count..=SMALL`
/// and the tree's lowest piece that long: most frees and allocations of small
/// blocks then insert into and take the root of a heap, `O(1)` and `O(log s)` amortized,
/// instead of inserting into and removing from the tree with their climbs. 64, one bit
/// per heap in a `u64`: at 64-byte units that covers DMA descriptors (1-4 units) and
/// packet buffers (24-32).
pub(super) const SMALL: usize = 64;
const _: () = assert!(SMALL <= 64, "one bit per heap in a u64");

/// The widest span of lengths (from the request's count to the longest busy heap)
/// whose busy heaps a search for a short piece always compares root by root: a span
/// takes one instruction to tell, where counting the bits of the mask takes a dozen on
/// targets without a population count. Over a wider span, it still does so for up to
/// [`LINEAR_HEAPS`] busy heaps, and replays and uses the tournament tree over them for
/// more.
pub(super) const LINEAR_SPAN: u32 = 40;

/// See [`LINEAR_SPAN`].
pub(super) const LINEAR_HEAPS: u32 = 12;

/// Brings the inner entries of the heaps' tournament tree (`min` and `win`, see
/// `PieceTree::small_min`) up to date above the heaps in `stale`, whose lowest starts
/// changed: from each, recomputes the entries above it and stops at the first one that
/// keeps its start and winner (nothing above it changes on its account; an entry above
/// it that another stale heap changed is recomputed from that heap).
fn replay_heaps(min: &mut [usize; 2 * SMALL], win: &mut [u8; SMALL], mut stale: u64) {
    while stale != 0 {
        let mut at = SMALL + stale.trailing_zeros() as usize;
        stale &= stale - 1;
        while at > 1 {
            let low = at & !1;
            let (left, right) = (min[low], min[low + 1]);
            let (lowest, from) = if right < left {
                (right, low + 1)
            } else {
                (left, low)
            };
            // `from - SMALL < SMALL <= 256`: the cast is exact.
            #[allow(clippy::cast_possible_truncation)]
            let winner = if from >= SMALL {
                (from - SMALL) as u8
            } else {
                win[from]
            };
            at = low / 2;
            if min[at] == lowest && win[at] == winner {
                break;
            }
            (min[at], win[at]) = (lowest, winner);
        }
    }
}
const _: () = assert!(
    SMALL.is_power_of_two() && SMALL <= 256,
    "a full tree, heaps in a u8"
);

/// The `small_win` of all-empty heaps: any heap below an entry is right for it, as all
/// starts are `usize::MAX`; the leftmost one.
const LEFTMOST_HEAPS: [u8; SMALL] = {
    let mut win = [0; SMALL];
    let mut i = 1;
    while i < SMALL {
        let mut leaf = i;
        while leaf < SMALL {
            leaf *= 2;
        }
        // `leaf - SMALL < SMALL <= 256`: the cast is exact.
        #[allow(clippy::cast_possible_truncation)]
        let heap = (leaf - SMALL) as u8;
        win[i] = heap;
        i += 1;
    }
    win
};

/// The tree height (levels) from which pieces a free merges go to the heaps (see
/// [`PieceTree::file_merged`]): below it the tree has at most three nodes, and changing
/// a piece's length there costs less than moving it between heaps.
const HEAPS_FROM_HEIGHT: u8 = 3;

/// The fewest slots the allocation index starts with (fewer only in a smaller arena).
const MIN_INDEX_LEN: usize = 64;

/// Slots of the allocation index over an arena of `nodes` nodes of which `in_use` are
/// in use, with room for two more: at least twice that (see `PieceTree::index_len`), a
/// power of two from [`MIN_INDEX_LEN`], or the whole arena.
const fn index_len_for(nodes: usize, in_use: usize) -> usize {
    let want = 2 * (in_use + 2);
    let mut len = MIN_INDEX_LEN;
    while len < want && len < nodes {
        len *= 2;
    }
    if len < nodes { len } else { nodes }
}

/// See `PieceTree::grow_below_spare` (`nodes`: the arena's usable nodes).
const fn grow_below_spare(nodes: usize, index_len: usize) -> usize {
    if index_len >= nodes {
        0
    } else {
        nodes + 2 - index_len / 2
    }
}

/// Where the index holds an allocation: the slot, and the allocation's node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Indexed {
    slot: usize,
    /// The allocation's node.
    pub(super) node: u32,
}

/// Fibonacci hashing multiplier (`2^64 / golden ratio`).
const HASH: u64 = 0x9E37_79B9_7F4A_7C15;

/// The index's hash of an allocation start: the high half of a Fibonacci hash.
const fn hash(start: usize) -> u32 {
    // The shift leaves 32 bits: the cast is exact.
    #[allow(clippy::cast_possible_truncation)]
    let hash = ((start as u64).wrapping_mul(HASH) >> 32) as u32;
    hash
}

impl PieceTree {
    /// A tree able to hold `count` pieces (at most [`MAX_NODES`]) holding `whole` as
    /// its only piece, or nothing; the only allocation the tree ever makes. `whole`
    /// needs `count >= 1`, which the caller checks.
    pub(super) fn with_nodes(count: usize, whole: Option<Piece>) -> Result<Self, OutOfMemory> {
        let count = count.min(MAX_NODES);
        let mut nodes = Vec::new();
        try_reserve(&mut nodes, count, "first-fit nodes")?;
        for _ in 0..count {
            try_push(&mut nodes, SPARE, "first-fit nodes")?;
        }
        let (first, spare_head, spare) = thread(&mut nodes, whole);
        Ok(Self {
            nodes,
            root: NIL,
            wild: first,
            first,
            spare_head,
            spare,
            index_len: index_len_for(count, count - spare),
            grow_below_spare: grow_below_spare(count, index_len_for(count, count - spare)),
            small: [NIL; SMALL],
            small_min: [usize::MAX; 2 * SMALL],
            small_win: LEFTMOST_HEAPS,
            small_stale: 0,
            small_used: 0,
            small_limit: SMALL,
        })
    }
}

/// Threads the spare list through `nodes` (all [`SPARE`]) and puts `whole` in node 0;
/// returns the node of the first piece, the spare head and the spare count.
const fn thread(nodes: &mut [Node], whole: Option<Piece>) -> (u32, u32, usize) {
    let count = if nodes.len() < MAX_NODES {
        nodes.len()
    } else {
        MAX_NODES
    };
    let mut i = 0;
    while i < count {
        // `i + 1 < count <= MAX_NODES < u32::MAX`: the cast is exact.
        #[allow(clippy::cast_possible_truncation)]
        let next = if i + 1 < count { (i + 1) as u32 } else { NIL };
        nodes[i].next = next;
        // `i - 1 < MAX_NODES`: the cast is exact (the head's link is never read).
        #[allow(clippy::cast_possible_truncation)]
        let prev = if i > 0 { (i - 1) as u32 } else { NIL };
        nodes[i].prev = prev;
        i += 1;
    }
    match whole {
        Some(piece) if count > 0 => {
            nodes[0].set_piece(piece);
            nodes[0].next = NIL;
            (0, if count > 1 { 1 } else { NIL }, count - 1)
        }
        _ => (NIL, if count > 0 { 0 } else { NIL }, count),
    }
}

impl<const N: usize> PieceTree<[Node; N]> {
    /// A tree over an inline arena of `N` nodes (at most [`MAX_NODES`] are used) holding
    /// `whole` as its only piece, or nothing; the whole arena is spare otherwise.
    /// `whole` needs `N >= 1`, which the caller checks.
    pub(super) const fn inline(whole: Option<Piece>) -> Self {
        let mut nodes = [SPARE; N];
        let (first, spare_head, spare) = thread(&mut nodes, whole);
        let count = if N < MAX_NODES { N } else { MAX_NODES };
        let used = count - spare;
        Self {
            nodes,
            root: NIL,
            wild: first,
            first,
            spare_head,
            spare,
            index_len: index_len_for(count, used),
            grow_below_spare: grow_below_spare(count, index_len_for(count, used)),
            small: [NIL; SMALL],
            small_min: [usize::MAX; 2 * SMALL],
            small_win: LEFTMOST_HEAPS,
            small_stale: 0,
            small_used: 0,
            small_limit: SMALL,
        }
    }
}

impl<S: AsRef<[Node]> + AsMut<[Node]>> PieceTree<S> {
    /// Bytes of the arena, fixed at construction.
    pub(super) fn metadata_bytes(&self) -> usize {
        core::mem::size_of_val(self.nodes.as_ref())
    }

    /// Nodes still available to [`carve`](Self::carve).
    #[cfg(test)]
    pub(super) const fn spare(&self) -> usize {
        self.spare
    }

    /// Length of the longest free piece (0 when none).
    pub(super) fn largest_free(&self) -> usize {
        // Heap `h` holds pieces of `h + 1` units: the highest busy one is the longest.
        let small = (u64::BITS - self.small_used.leading_zeros()) as usize;
        self.summary(self.root)
            .max_free
            .max(self.wild_len())
            .max(small)
    }

    /// Length of the free last piece kept out of the tree (0 when there is none).
    fn wild_len(&self) -> usize {
        self.nodes
            .as_ref()
            .get(self.wild as usize)
            .map_or(0, |n| n.len)
    }

    /// The piece held by node `at`.
    pub(super) fn piece(&self, at: u32) -> Piece {
        self.node(at).piece()
    }

    /// The free piece with the greatest start `<= offset`, which holds `offset` unless
    /// `offset` lies in an allocation.
    ///
    /// Only the tree (and the free last piece) can answer this by a descent, so it
    /// first moves whatever the heaps hold into the tree (see
    /// [`move_heaps_to_tree`](Self::move_heaps_to_tree)). Its callers, `claim` and a
    /// refused free, are rare; placement does not change, as searches compare the heaps
    /// with the tree anyway.
    pub(super) fn free_before(&mut self, offset: usize) -> Option<u32> {
        if self.small_used != 0 {
            self.move_heaps_to_tree();
        }
        if let Some(wild) = self.nodes.as_ref().get(self.wild as usize) {
            if wild.start <= offset {
                return Some(self.wild);
            }
        }
        let mut at = self.root;
        let mut best = None;
        while let Some(node) = self.nodes.as_ref().get(at as usize) {
            if node.start <= offset {
                best = Some(at);
                at = node.right;
            } else {
                at = node.left;
            }
        }
        best
    }

    /// Moves every piece the heaps hold into the tree, leaving the small limit as it is
    /// (later frees fill the heaps again). Each piece moved got into its heap by one
    /// free or cut at `O(1)`, so the `O(log s + log f)` per piece here is paid once per
    /// such filing: `O(log f)` amortized over them, never a walk over the allocations.
    #[inline(never)]
    fn move_heaps_to_tree(&mut self) {
        while self.small_used != 0 {
            self.heap_to_tree(self.small_used.trailing_zeros() as usize);
        }
    }

    /// Moves every piece of heap `heap` (pieces of `heap + 1` units) into the tree.
    fn heap_to_tree(&mut self, heap: usize) {
        while self.small[heap] != NIL {
            let root = self.small[heap];
            self.heap_remove(root, heap + 1);
            self.tree_insert(root);
        }
    }

    /// Turns `[at, at + count)` of the free piece in node `free` into an allocation,
    /// leaving the units before and after it free; returns the allocation's node, or
    /// `None` (nothing changed) when fewer spare nodes are left than it takes (one for
    /// each of the two remainders that is not empty).
    ///
    /// The free piece's node keeps whichever remainder is not empty, its key moving at
    /// most up to the allocation's end, past no other free piece; with both, the tail
    /// gets a new node; with neither, the node leaves the tree and becomes the
    /// allocation.
    // Inlined into the allocation path (its one caller outside tests): the call's
    // register saves and argument moves were a noticeable share of a pair.
    #[inline(always)]
    pub(super) fn carve(&mut self, free: u32, at: usize, count: usize) -> Option<u32> {
        let piece = self.piece(free);
        let end = at + count;
        let (head, tail) = (at > piece.start, end < piece.end());
        if self.spare < usize::from(head) + usize::from(tail) {
            return None;
        }
        // Two nodes may come into use, and the index must stay twice as large.
        if self.spare < self.grow_below_spare {
            self.grow_index();
        }
        let used = Piece {
            start: at,
            len: count,
            free: false,
        };
        let wild = free == self.wild;
        // A piece in a heap leaves it before its length or start changes, and whatever
        // is left of it is filed again; a piece in the tree stays there while what is
        // left of it is too long for the heaps.
        let small = !wild && self.in_heap(free);
        if small {
            self.heap_remove(free, piece.len);
        }
        let node = if !head && !tail {
            if wild {
                self.wild = NIL;
            } else if !small {
                self.tree_remove(free);
            }
            self.node_mut(free).set_piece(used);
            free
        } else {
            let node = self.take_spare_at_home(hash(at))?;
            self.fresh(node, used);
            if head {
                let head_len = at - piece.start;
                self.node_mut(free).len = head_len;
                self.list_insert_after(free, node);
                let mut rest = NIL;
                if tail {
                    rest = self.take_spare()?;
                    self.fresh(
                        rest,
                        Piece {
                            start: end,
                            len: piece.end() - end,
                            free: true,
                        },
                    );
                    self.list_insert_after(node, rest);
                }
                if wild {
                    // The head is no longer last: into the tree or a heap, and the
                    // tail (if any) is the new last piece.
                    self.wild = rest;
                    self.file(free);
                } else if small {
                    self.heap_insert(free, head_len);
                    if tail {
                        self.file(rest);
                    }
                } else {
                    if tail {
                        let rest_len = piece.end() - end;
                        if rest_len <= self.small_limit {
                            self.heap_insert(rest, rest_len);
                        } else {
                            self.tree_insert_after(free, rest);
                        }
                    }
                    self.climb_lengths(free);
                }
            } else {
                let rest_len = piece.end() - end;
                let moved = self.node_mut(free);
                moved.start = end;
                moved.len = rest_len;
                self.list_insert_before(free, node);
                if small {
                    self.heap_insert(free, rest_len);
                } else if !wild {
                    self.climb_lengths(free);
                }
            }
            node
        };
        // The index has a slot per node, and fewer allocations than nodes before this.
        self.index_hashed(node, hash(at));
        Some(node)
    }

    /// Returns the allocation in node `used` to the free space, merging it with its
    /// free neighbours in address order; returns how many of them it merged with (so
    /// the number of free pieces changes by one minus that).
    /// Goes through [`find`](Self::find) and [`release_found`](Self::release_found),
    /// as the backend's free does, so the tests drive that path.
    #[cfg(test)]
    pub(super) fn release(&mut self, used: u32) -> usize {
        let found = self
            .find(self.node(used).start)
            .filter(|found| found.node == used)
            .expect("only indexed allocations are released");
        self.release_found(found).0
    }

    /// Returns the allocation [`find`](Self::find) returned to the free space, merging
    /// it with its free neighbours in address order; returns how many of them it merged
    /// with (so the number of free pieces changes by one minus that) and the node of
    /// the free piece it is now part of.
    pub(super) fn release_found(&mut self, found: Indexed) -> (usize, u32) {
        self.unindex_slot(found.slot);
        self.merge_free(found.node)
    }

    /// Merges the allocation in node `used` (`len` units) with the free pieces just
    /// below and above it into one piece, kept in the upper one's node when
    /// `into_upper`, else in the lower one's, and returns that node. The other two
    /// nodes leave the list and become spare; the one that goes leaves the tree first
    /// when `gone_in_tree`. The kept node's place (its climb, or its heap) is the
    /// caller's to settle.
    #[inline(always)]
    fn merge_three(
        &mut self,
        used: u32,
        len: usize,
        (before, lower): (u32, &Node),
        (after, upper): (u32, &Node),
        into_upper: bool,
        gone_in_tree: bool,
    ) -> u32 {
        let (gone, kept) = if into_upper {
            let merged = self.node_mut(after);
            merged.start = lower.start;
            merged.len += lower.len + len;
            (before, after)
        } else {
            self.node_mut(before).len += len + upper.len;
            (after, before)
        };
        self.list_remove(used);
        self.give_spare(used);
        if gone_in_tree {
            self.tree_remove(gone);
        }
        self.list_remove(gone);
        self.give_spare(gone);
        kept
    }

    /// Turns the allocation in node `used`, already out of the index, into free space,
    /// merging it with its free neighbours; returns how many of them it merged with and
    /// the node of the merged piece.
    // Inlined into the free path for the same reason as `carve`.
    #[inline(always)]
    fn merge_free(&mut self, used: u32) -> (usize, u32) {
        let node = self.node(used);
        let (prev, next, start, len) = (node.prev, node.next, node.start, node.len);
        let before =
            Some(prev).filter(|&p| self.nodes.as_ref().get(p as usize).is_some_and(|n| n.free));
        let after =
            Some(next).filter(|&n| self.nodes.as_ref().get(n as usize).is_some_and(|n| n.free));
        let last = next == NIL;
        match (before, after) {
            (Some(before), Some(after)) if after == self.wild => {
                // The merged piece is last: it stays in the last piece's node.
                let below = self.piece(before);
                self.unfile(before);
                let merged = self.node_mut(after);
                merged.start = below.start;
                merged.len += below.len + len;
                self.list_remove(used);
                self.give_spare(used);
                self.list_remove(before);
                self.give_spare(before);
                (2, after)
            }
            (Some(before), Some(after)) => {
                let (lower, upper) = (*self.node(before), *self.node(after));
                let (lower_small, upper_small) = (self.in_heap(before), self.in_heap(after));
                if !lower_small && !upper_small {
                    // The two are next to each other in the tree, so one of them has at
                    // most one child (the lower of the two, on the other's side): that
                    // one leaves the tree, unlinked without the two-child swap and its
                    // second climb, and the other's node takes the merged piece
                    // (moving its key down past the one leaving only).
                    let into_upper = upper.left != NIL && upper.right != NIL;
                    let kept = self.merge_three(
                        used,
                        len,
                        (before, &lower),
                        (after, &upper),
                        into_upper,
                        true,
                    );
                    self.climb_lengths(kept);
                    return (2, kept);
                }
                // One or both are in heaps and leave them; one in the tree keeps the
                // merged piece in its node (its key moves down past heap pieces and the
                // allocation only), else it is filed again.
                if lower_small {
                    self.heap_remove(before, lower.len);
                }
                if upper_small {
                    self.heap_remove(after, upper.len);
                }
                let kept = self.merge_three(
                    used,
                    len,
                    (before, &lower),
                    (after, &upper),
                    !upper_small,
                    false,
                );
                if lower_small && upper_small {
                    self.file_merged(kept);
                } else {
                    self.climb_lengths(kept);
                }
                (2, kept)
            }
            (Some(before), None) => {
                let lower_len = self.node(before).len;
                let small = self.in_heap(before);
                if last {
                    self.unfile(before);
                    self.wild = before;
                } else if small {
                    self.heap_remove(before, lower_len);
                }
                self.node_mut(before).len += len;
                self.list_remove(used);
                self.give_spare(used);
                if !last {
                    if small {
                        self.file_merged(before);
                    } else {
                        self.climb_lengths(before);
                    }
                }
                (1, before)
            }
            (None, Some(after)) => {
                // The key moves down past the allocation only: no free piece between.
                let upper_len = self.node(after).len;
                let small = after != self.wild && self.in_heap(after);
                if small {
                    self.heap_remove(after, upper_len);
                }
                let merged = self.node_mut(after);
                merged.start = start;
                merged.len += len;
                self.list_remove(used);
                self.give_spare(used);
                if small {
                    self.file_merged(after);
                } else if after != self.wild {
                    self.climb_lengths(after);
                }
                (1, after)
            }
            (None, None) => {
                self.node_mut(used).free = true;
                if last {
                    self.wild = used;
                } else {
                    self.file(used);
                }
                (0, used)
            }
        }
    }

    /// The allocation that starts at `start`, if it is in the index.
    #[cfg(test)]
    pub(super) fn lookup(&self, start: usize) -> Option<u32> {
        self.find(start).map(|found| found.node)
    }

    /// The allocation that starts at `start` and the index slot that holds it, if it is
    /// in the index: a free hands the slot back to [`release_found`](Self::release_found)
    /// rather than probing for it a second time.
    pub(super) fn find(&self, start: usize) -> Option<Indexed> {
        let (nodes, len) = (self.nodes.as_ref(), self.index_len);
        let hash = hash(start);
        let mut i = self.home(hash);
        for _ in 0..len {
            let slot = &nodes[i];
            let node = nodes.get(slot.slot as usize)?;
            // The stored hash spares reading the nodes of the other entries.
            if slot.slot_hash == hash && node.start == start {
                return Some(Indexed {
                    slot: i,
                    node: slot.slot,
                });
            }
            i = if i + 1 == len { 0 } else { i + 1 };
        }
        None
    }

    /// Adds node `at` (an allocation, whose start is not in the index yet) to the
    /// index. Returns `false` when the index is full, which the node budget rules out
    /// (live allocations never outnumber the nodes).
    pub(super) fn index(&mut self, at: u32) -> bool {
        self.index_hashed(at, hash(self.node(at).start))
    }

    /// [`index`](Self::index) with the hash of the node's start already known.
    #[inline(always)]
    fn index_hashed(&mut self, at: u32, hash: u32) -> bool {
        let len = self.index_len;
        let mut i = self.home(hash);
        for _ in 0..len {
            let slot = &mut self.nodes.as_mut()[i];
            if slot.slot == NIL {
                slot.slot = at;
                slot.slot_hash = hash;
                return true;
            }
            slot.slot_passed = true;
            i = if i + 1 == len { 0 } else { i + 1 };
        }
        false
    }

    /// Doubles the index (or more, to twice the nodes in use plus two; at most the whole
    /// arena) and indexes every allocation again, found on the address-order list:
    /// `O(n)` for `n` pieces, at most twice the index's old size, once per doubling.
    #[inline(never)]
    fn grow_index(&mut self) {
        let nodes = self.nodes.as_mut();
        let usable = nodes.len().min(MAX_NODES);
        let len = index_len_for(usable, usable - self.spare).max(2 * self.index_len);
        let len = len.min(usable);
        for slot in &mut nodes[..len] {
            (slot.slot, slot.slot_passed) = (NIL, false);
        }
        self.index_len = len;
        self.grow_below_spare = grow_below_spare(usable, len);
        let mut at = self.first;
        while let Some(node) = self.nodes.as_ref().get(at as usize) {
            let (next, free) = (node.next, node.free);
            if !free {
                // Fewer allocations than slots: this cannot fail.
                self.index(at);
            }
            at = next;
        }
    }

    /// Empties index slot `hole`, shifting the entries after it back so that no probe
    /// sequence is broken.
    // Inlined into the free path for the same reason as `carve`.
    #[inline(always)]
    fn unindex_slot(&mut self, mut hole: usize) {
        let len = self.index_len;
        if let Some(slot) = self.nodes.as_mut().get_mut(hole) {
            if !slot.slot_passed {
                slot.slot = NIL;
                return;
            }
        }
        let mut i = hole;
        for _ in 1..len {
            i = if i + 1 == len { 0 } else { i + 1 };
            let Node {
                slot: entry,
                slot_hash,
                ..
            } = self.nodes.as_ref()[i];
            if entry == NIL {
                break;
            }
            let home = self.home(slot_hash);
            // The entry stays unless its home lies cyclically outside (hole, i].
            let stays = if hole <= i {
                hole < home && home <= i
            } else {
                hole < home || home <= i
            };
            if !stays {
                let to = &mut self.nodes.as_mut()[hole];
                (to.slot, to.slot_hash) = (entry, slot_hash);
                hole = i;
            }
        }
        // Lookups stay right with this slot empty, so no entry's probe crosses it.
        let last = &mut self.nodes.as_mut()[hole];
        (last.slot, last.slot_passed) = (NIL, false);
    }

    /// The index slot where a probe for a start of hash `hash` begins.
    fn home(&self, hash: u32) -> usize {
        let len = self.index_len as u64;
        // Both factors are below 2^32, so the product fits and the result is `< len`.
        #[allow(clippy::cast_possible_truncation)]
        let slot = ((u64::from(hash) * len) >> 32) as usize;
        slot
    }

    /// The lowest place where `fit` is satisfied: the node of the free piece that
    /// holds it, and the offset (the tree's pieces all lie below the free last piece,
    /// which is tried after them).
    pub(super) fn first_fit(&self, fit: &Fit) -> Option<(u32, usize)> {
        if self.summary(self.root).max_free >= fit.count() {
            if let Some(found) = self.first_fit_at(self.root, fit) {
                return Some(found);
            }
        }
        let wild = self.nodes.as_ref().get(self.wild as usize)?;
        fit.place(wild.piece()).map(|at| (self.wild, at))
    }

    /// The free last piece kept out of the tree when it has at least `count` units.
    fn wild_if_long_enough(&self, count: usize) -> Option<u32> {
        (self.wild != NIL && self.wild_len() >= count).then_some(self.wild)
    }

    /// The node of the lowest free piece of at least `count` units, found in one
    /// descent: go left whenever the left subtree holds such a piece, else take this
    /// node if it is one, else go right (which then must hold one); the free last
    /// piece when the tree holds none.
    // Inlined into both of `allocate`'s callers: as a call it costs about as much as
    // the descent of a shallow tree.
    #[inline(always)]
    pub(super) fn first_long_enough(&mut self, count: usize) -> Option<u32> {
        // The heaps that hold pieces of `count` units or more (only heaps below the
        // limit hold any): with none, the tree and the free last piece are all there is.
        let heaps = if count <= SMALL {
            self.small_used >> (count - 1)
        } else {
            0
        };
        if heaps != 0 {
            return self.first_long_enough_small(count, heaps);
        }
        if self.summary(self.root).max_free < count {
            return self.wild_if_long_enough(count);
        }
        self.lowest_long_enough_in(self.root, count)
    }

    /// The node of the lowest free piece of at least `count` units that ends after
    /// `from`, found in one descent: a node that ends at or before `from` sends it
    /// right; any other is a place (itself when long enough, else the lowest in its
    /// right subtree, all of which ends after `from`) lower than the last one noted,
    /// and sends it left to look for a lower one while its left subtree holds a piece
    /// that long. The free last piece when the tree holds none. Also tells whether it
    /// passed over a piece that long which ends at or before `from`, that is, whether
    /// starting from `from` saved anything over [`first_long_enough`](Self::first_long_enough).
    // Kept out of line: only searches of a shape with a floor take it.
    #[inline(never)]
    pub(super) fn lowest_long_enough_after(
        &self,
        from: usize,
        count: usize,
    ) -> (Option<u32>, bool) {
        let nodes = self.nodes.as_ref();
        let (mut at, mut found, mut below) = (self.root, NIL, false);
        let mut skipped = false;
        while let Some(node) = nodes.get(at as usize) {
            if node.start + node.len <= from {
                skipped |= node.len >= count || node.left_max >= count;
                if node.right_max < count {
                    break;
                }
                at = node.right;
            } else {
                if node.len >= count {
                    (found, below) = (at, false);
                } else if node.right_max >= count {
                    (found, below) = (node.right, true);
                }
                if node.left_max < count {
                    break;
                }
                at = node.left;
            }
        }
        if found != NIL {
            let lowest = if below {
                self.lowest_long_enough_in(found, count)
            } else {
                Some(found)
            };
            return (lowest, skipped);
        }
        let wild = self
            .wild_if_long_enough(count)
            .filter(|&wild| self.node(wild).piece().end() > from);
        (wild, skipped)
    }

    /// The lowest free piece of at least `count` units in the subtree at `at`, whose
    /// longest free piece the caller has checked to be that long.
    fn lowest_long_enough_in(&self, mut at: u32, count: usize) -> Option<u32> {
        while let Some(node) = self.nodes.as_ref().get(at as usize) {
            if node.left_max >= count {
                at = node.left;
            } else if node.len >= count {
                return Some(at);
            } else {
                at = node.right;
            }
        }
        None
    }

    /// The lowest free piece of the tree of at least `count` units if it starts below
    /// `bound`: the descent of [`lowest_long_enough_in`](Self::lowest_long_enough_in)
    /// from the root, which stops where it would take or pass a node starting at or
    /// above `bound` (all it could still find lies there).
    #[inline(always)]
    fn lowest_long_enough_below(&self, count: usize, bound: usize) -> Option<u32> {
        let mut at = self.root;
        while let Some(node) = self.nodes.as_ref().get(at as usize) {
            if node.left_max >= count {
                at = node.left;
            } else if node.start >= bound {
                return None;
            } else if node.len >= count {
                return Some(at);
            } else {
                at = node.right;
            }
        }
        None
    }

    /// The next free piece of at least `count` units after the one in node `at`, in
    /// address order: the lowest such piece in its right subtree, else the first
    /// ancestor reached from its left subtree that is one or has one on its right, else
    /// the free last piece (which has no next).
    pub(super) fn next_long_enough(&self, mut at: u32, count: usize) -> Option<u32> {
        if at == self.wild {
            return None;
        }
        let nodes = self.nodes.as_ref();
        let node = nodes.get(at as usize)?;
        if node.right_max >= count {
            return self.lowest_long_enough_in(node.right, count);
        }
        let mut up = node.parent;
        while let Some(parent) = nodes.get(up as usize) {
            if parent.left == at {
                if parent.len >= count {
                    return Some(up);
                }
                if parent.right_max >= count {
                    return self.lowest_long_enough_in(parent.right, count);
                }
            }
            (at, up) = (up, parent.parent);
        }
        self.wild_if_long_enough(count)
    }

    /// Calls `f` on every piece in address order.
    pub(super) fn for_each(&self, f: &mut dyn FnMut(Piece)) {
        let mut at = self.first;
        while let Some(node) = self.nodes.as_ref().get(at as usize) {
            f(node.piece());
            at = node.next;
        }
    }

    /// Searches the subtree at `at`, whose longest free piece the caller has checked
    /// to be at least `fit.count()` units.
    fn first_fit_at(&self, at: u32, fit: &Fit) -> Option<(u32, usize)> {
        let node = self.nodes.as_ref().get(at as usize)?;
        let piece = node.piece();
        if node.left_max >= fit.count() && fit.may_fit_below(piece.start) {
            if let Some(found) = self.first_fit_at(node.left, fit) {
                return Some(found);
            }
        }
        if piece.free {
            if let Some(offset) = fit.place(piece) {
                return Some((at, offset));
            }
        }
        if node.right_max >= fit.count() && fit.may_fit_from(piece.end()) {
            return self.first_fit_at(node.right, fit);
        }
        None
    }

    fn node(&self, at: u32) -> &Node {
        &self.nodes.as_ref()[at as usize]
    }

    fn node_mut(&mut self, at: u32) -> &mut Node {
        &mut self.nodes.as_mut()[at as usize]
    }

    /// Puts the node `new` (not in the list) right after `at` in address order.
    // Inlined: once `carve` is inlined into `allocate`, the compiler otherwise keeps
    // this, `list_remove` and `tree_unlink` as calls on the allocation path.
    #[inline(always)]
    fn list_insert_after(&mut self, at: u32, new: u32) {
        let next = self.node(at).next;
        let node = self.node_mut(new);
        node.prev = at;
        node.next = next;
        self.node_mut(at).next = new;
        if next != NIL {
            self.node_mut(next).prev = new;
        }
    }

    /// Links node `new` into the address-order list just before node `at`: the piece
    /// before `at` (if any) has its link written, never read, so that a miss on its
    /// cache line holds nothing up.
    #[inline(always)]
    fn list_insert_before(&mut self, at: u32, new: u32) {
        let nodes = self.nodes.as_mut();
        let prev = nodes[at as usize].prev;
        nodes[at as usize].prev = new;
        let node = &mut nodes[new as usize];
        (node.prev, node.next) = (prev, at);
        match nodes.get_mut(prev as usize) {
            Some(before) => before.next = new,
            None => self.first = new,
        }
    }

    /// Takes node `at` out of the address-order list.
    // Inlined for the same reason as `list_insert_after`.
    #[inline(always)]
    fn list_remove(&mut self, at: u32) {
        let Node { prev, next, .. } = *self.node(at);
        if prev == NIL {
            self.first = next;
        } else {
            self.node_mut(prev).next = next;
        }
        if next != NIL {
            self.node_mut(next).prev = prev;
        }
    }

    /// Adds the free node `at`, cut from the end of the tree node `prev` (whose length
    /// already excludes it), to the tree right after `prev`: no tree node lies between
    /// them, so its place is `prev`'s right child or the leftmost place below that,
    /// found without the descent from the root. The subtrees above `prev` still count
    /// `prev`'s length from before the cut, at least `at`'s, so only those below `prev`
    /// gain it; the caller's [`climb_lengths`](Self::climb_lengths) from `prev` then
    /// brings the values above in line with the cut.
    // Kept out of line: only cuts that leave free units on both sides take it, and
    // inlined it costs the other cuts of `carve` registers.
    #[inline(never)]
    fn tree_insert_after(&mut self, prev: u32, at: u32) {
        let len = self.node(at).len;
        let nodes = self.nodes.as_mut();
        let above = &mut nodes[prev as usize];
        above.right_max = above.right_max.max(len);
        let (mut parent, mut down) = (prev, above.right);
        while let Some(node) = nodes.get_mut(down as usize) {
            node.left_max = node.left_max.max(len);
            parent = down;
            down = node.left;
        }
        let leaf = &mut nodes[at as usize];
        (leaf.left, leaf.right, leaf.parent) = (NIL, NIL, parent);
        (leaf.left_height, leaf.right_height) = (0, 0);
        (leaf.left_max, leaf.right_max) = (0, 0);
        let up = &mut nodes[parent as usize];
        let other = if parent == prev {
            let other = up.left_height;
            up.set_right(at, leaf_summary(len));
            other
        } else {
            let other = up.right_height;
            up.set_left(at, leaf_summary(len));
            other
        };
        // A parent gaining a leaf stays balanced: the heights climb from it.
        if let Some(unbalanced) = self.climb_heights(parent, 1 + other.max(1)) {
            self.climb(unbalanced);
        }
    }

    /// Adds the free node `at` (in the list, not in the tree) to the tree: one descent
    /// by key to a leaf position, then a climb for the heights.
    // Inlined into `carve` and `merge_free` for the same reason as `tree_remove`.
    #[inline(always)]
    fn tree_insert(&mut self, at: u32) {
        let Piece { start, len, .. } = self.piece(at);
        let (mut parent, mut down) = (NIL, self.root);
        // Every subtree the descent enters gains the new piece, so its longest free
        // piece is known on the way down: the climb after it then only carries height
        // changes, where raising each ancestor's view would have climbed for as long
        // as the new piece is the longest around it. One slice for the whole descent,
        // as in the climb.
        let nodes = self.nodes.as_mut();
        while let Some(node) = nodes.get_mut(down as usize) {
            parent = down;
            down = if start < node.start {
                node.left_max = node.left_max.max(len);
                node.left
            } else {
                node.right_max = node.right_max.max(len);
                node.right
            };
        }
        let leaf = self.node_mut(at);
        (leaf.left, leaf.right, leaf.parent) = (NIL, NIL, parent);
        (leaf.left_height, leaf.right_height) = (0, 0);
        (leaf.left_max, leaf.right_max) = (0, 0);
        if parent == NIL {
            self.root = at;
            return;
        }
        let up = self.node_mut(parent);
        let other = if start < up.start {
            let other = up.right_height;
            up.set_left(at, leaf_summary(len));
            other
        } else {
            let other = up.left_height;
            up.set_right(at, leaf_summary(len));
            other
        };
        // A parent gaining a leaf stays balanced: the heights climb from it. The one
        // rotation an insertion can call for brings the subtree back to its height
        // from before, and the descent already gave every ancestor its longest-free
        // value, so nothing above the rotated subtree changes: no climb after it.
        if let Some(unbalanced) = self.climb_heights(parent, 1 + other.max(1)) {
            self.rotate_to_balance(unbalanced);
        }
    }

    /// Adds the free node `at` (in the list, in neither the tree nor a heap) where its
    /// length puts it: the heap of its length when that is at most the small limit,
    /// else the tree.
    #[inline(always)]
    fn file(&mut self, at: u32) {
        let len = self.node(at).len;
        if len <= self.small_limit {
            self.heap_insert(at, len);
        } else {
            self.tree_insert(at);
        }
    }

    /// [`file`](Self::file) for a piece a free has just merged: into a heap only while
    /// the tree is at least [`HEAPS_FROM_HEIGHT`] levels tall. Blocks freed in address
    /// order grow one hole a free at a time; through the heaps it would move from one
    /// heap to the next on every free, where in a short tree only its longest-free
    /// values change, a step or two.
    // Out of line, as `heap_remove`.
    #[inline(never)]
    fn file_merged(&mut self, at: u32) {
        let len = self.node(at).len;
        let tall = self
            .nodes
            .as_ref()
            .get(self.root as usize)
            .is_some_and(|root| 1 + root.left_height.max(root.right_height) >= HEAPS_FROM_HEIGHT);
        if len <= self.small_limit && tall {
            self.heap_insert(at, len);
        } else {
            self.tree_insert(at);
        }
    }

    /// Takes the free node `at` out of the heap or the tree it is in.
    #[inline(always)]
    fn unfile(&mut self, at: u32) {
        if self.in_heap(at) {
            self.heap_remove(at, self.node(at).len);
        } else {
            self.tree_remove(at);
        }
    }

    /// Whether the free node `at` (not the free last piece) is in a heap.
    fn in_heap(&self, at: u32) -> bool {
        self.node(at).left_height == IN_HEAP
    }

    /// Adds the free node `at`, of `len <= small_limit` units, to the heap of its
    /// length: it becomes the root (over the old one) or the root's first child, by one
    /// comparison with the recorded lowest start.
    #[inline(always)]
    fn heap_insert(&mut self, at: u32, len: usize) {
        let heap = len - 1;
        let nodes = self.nodes.as_mut();
        let root = self.small[heap];
        let first = nodes.get(root as usize).map_or(NIL, |root| root.left);
        let node = &mut nodes[at as usize];
        let start = node.start;
        node.left_height = IN_HEAP;
        if start < self.small_min[SMALL + heap] {
            // Also the empty heap's case: its lowest start is `usize::MAX`.
            (node.left, node.right, node.parent) = (root, NIL, NIL);
            if let Some(old) = nodes.get_mut(root as usize) {
                old.parent = at;
            }
            self.small[heap] = at;
            self.small_used |= 1 << heap;
            self.set_heap_min(heap, start);
        } else {
            (node.left, node.right, node.parent) = (NIL, first, root);
            if let Some(second) = nodes.get_mut(first as usize) {
                second.parent = at;
            }
            nodes[root as usize].left = at;
        }
    }

    /// Takes the free node `at`, of `len` units, out of the heap of its length: its
    /// children are paired into one heap, which takes its place (the root's, or melded
    /// under the root, which stays, after `at` is cut out of its sibling list).
    // Out of line: inlined at each of its callers it doubled the size of `free`, and
    // traces that seldom touch the heaps ran 5-10 % slower per pair for it although
    // they executed only a few per cent more instructions.
    #[inline(never)]
    fn heap_remove(&mut self, at: u32, len: usize) {
        let heap = len - 1;
        let nodes = self.nodes.as_mut();
        let Node {
            left,
            right,
            parent,
            ..
        } = nodes[at as usize];
        let root = self.small[heap];
        if root == at {
            match nodes.get_mut(left as usize) {
                None => {
                    self.small[heap] = NIL;
                    self.small_used &= !(1 << heap);
                    self.set_heap_min(heap, usize::MAX);
                }
                // An only child becomes the root without the pairing passes.
                Some(only) if only.right == NIL => {
                    only.parent = NIL;
                    let start = only.start;
                    self.small[heap] = left;
                    self.set_heap_min(heap, start);
                }
                Some(_) => self.heap_root_from_children(heap, left),
            }
            return;
        }
        // Branch-free, as in `meld`: the link from above is a first-child or a
        // next-sibling link by a coin toss, and so is whether a sibling follows (with
        // none, its back link goes to `at`, which is leaving).
        let up = &mut nodes[parent as usize];
        let link = if up.left == at {
            &mut up.left
        } else {
            &mut up.right
        };
        *link = right;
        nodes[if right == NIL { at } else { right } as usize].parent = parent;
        // The root starts below every other piece of its heap, so it stays.
        match nodes.get(left as usize) {
            None => {}
            Some(only) if only.right == NIL => {
                meld(nodes, root, left);
            }
            Some(_) => meld_children_under(nodes, root, left),
        }
    }

    /// The part of [`heap_remove`](Self::heap_remove) for a root with two children or
    /// more: pairs them into the heap's new root. Apart, so that the common removals
    /// (a root with at most one child) keep no values across a call and save no
    /// registers.
    #[inline(never)]
    fn heap_root_from_children(&mut self, heap: usize, first: u32) {
        let nodes = self.nodes.as_mut();
        let below = meld_siblings(nodes, first);
        let start = nodes[below as usize].start;
        self.small[heap] = below;
        self.set_heap_min(heap, start);
    }

    /// Records `start` as the lowest start of heap `heap` (`usize::MAX`: empty); the
    /// tournament above it is replayed when a search needs it.
    #[inline(always)]
    fn set_heap_min(&mut self, heap: usize, start: usize) {
        self.small_min[SMALL + heap] = start;
        self.small_stale |= 1 << heap;
    }

    /// Moves the heaps of lengths from `count` on into the tree and lowers the small
    /// limit below `count`, so that the tree holds every free piece of `count` units or
    /// more: the searches for aligned or windowed requests and the walk to the next
    /// long-enough piece see only the tree. Each heap is moved once, as the limit only
    /// drops.
    #[inline(never)]
    pub(super) fn hold_in_tree_from(&mut self, count: usize) {
        while self.small_limit >= count && self.small_limit > 0 {
            self.heap_to_tree(self.small_limit - 1);
            self.small_limit -= 1;
        }
    }

    /// The small limit: free pieces up to this many units are in heaps, not the tree.
    pub(super) const fn small_limit(&self) -> usize {
        self.small_limit
    }

    /// The lowest start among the heaps of lengths `count..=SMALL` and its heap (any
    /// heap when all are empty), from the tournament tree, replayed first where stale.
    #[inline(never)]
    fn lowest_of_heaps_from(&mut self, count: usize) -> (usize, usize) {
        if self.small_stale != 0 {
            replay_heaps(&mut self.small_min, &mut self.small_win, self.small_stale);
            self.small_stale = 0;
        }
        // The entries covering heaps `count - 1..SMALL` exactly, bottom up: a right
        // child at the range's left edge is taken alone, the rest is its parent's.
        let (mut lowest, mut heap) = (usize::MAX, 0);
        let (mut at, mut end) = (SMALL + count - 1, 2 * SMALL);
        while at < end {
            if at & 1 == 1 {
                let min = self.small_min[at];
                if min < lowest {
                    let won = if at >= SMALL {
                        at - SMALL
                    } else {
                        usize::from(self.small_win[at])
                    };
                    (lowest, heap) = (min, won);
                }
                at += 1;
            }
            (at, end) = (at / 2, end / 2);
        }
        (lowest, heap)
    }

    /// The node of the lowest free piece of at least `count <= small_limit` units: the
    /// lowest of the roots of the heaps of lengths `count..=small_limit` and of the
    /// tree's lowest piece that long, else the free last piece.
    #[inline(always)]
    fn first_long_enough_small(&mut self, count: usize, heaps: u64) -> Option<u32> {
        let (lowest, heap) = if u64::BITS - heaps.leading_zeros() <= LINEAR_SPAN
            || heaps.count_ones() <= LINEAR_HEAPS
        {
            let (mut lowest, mut best) = (usize::MAX, 0);
            let mut used = heaps;
            while used != 0 {
                let heap = count - 1 + used.trailing_zeros() as usize;
                used &= used - 1;
                if self.small_min[SMALL + heap] < lowest {
                    (best, lowest) = (heap, self.small_min[SMALL + heap]);
                }
            }
            (lowest, best)
        } else {
            self.lowest_of_heaps_from(count)
        };
        // A busy heap has a lowest start below `usize::MAX`.
        let best = self.small[heap];
        if self.summary(self.root).max_free >= count {
            if let Some(at) = self.lowest_long_enough_below(count, lowest) {
                return Some(at);
            }
        }
        if best != NIL {
            return Some(best);
        }
        self.wild_if_long_enough(count)
    }

    /// The climb after [`tree_insert`](Self::tree_insert), whose descent already set
    /// every longest-free value on the path: from node `at` (balanced, its own stored
    /// heights right, `height` its subtree's height, passed in by the caller who
    /// just stored one of them) up, each step rewrites only the parent's stored
    /// height for the side it came from, stopping where it is already right, and
    /// returns the first ancestor that falls out of balance for a
    /// [`climb`](Self::climb) to rotate.
    #[inline(always)]
    fn climb_heights(&mut self, mut at: u32, mut height: u8) -> Option<u32> {
        let nodes = self.nodes.as_mut();
        let mut up = nodes[at as usize].parent;
        // `NIL` is past the end of every arena, so the root's missing parent ends the
        // loop.
        while let Some(parent) = nodes.get_mut(up as usize) {
            // The other side's height is read before the store, as in
            // `climb_balanced`: reading both back after it stalls the load.
            let (stored, other) = if parent.left == at {
                (&mut parent.left_height, parent.right_height)
            } else {
                (&mut parent.right_height, parent.left_height)
            };
            if *stored == height {
                return None;
            }
            *stored = height;
            if height.abs_diff(other) > 1 {
                return Some(up);
            }
            (at, height, up) = (up, 1 + height.max(other), parent.parent);
        }
        None
    }

    /// Takes the free node `at` out of the tree (it stays in the list), refreshing the
    /// augmentation above it.
    // Inlined: most calls come from `carve` and `merge_free`, and near the root of a
    // small tree the call's register saves cost about as much as the work.
    #[inline(always)]
    fn tree_remove(&mut self, at: u32) {
        let node = *self.node(at);
        if node.left == NIL || node.right == NIL {
            self.tree_unlink(at);
            return;
        }
        // Two children: the successor (leftmost on the right, so without a left child)
        // moves into this node's place, its own right subtree taking its old place.
        let mut next = node.right;
        while let Some(below) = self.nodes.as_ref().get(next as usize) {
            if below.left == NIL {
                break;
            }
            next = below.left;
        }
        let moved = *self.node(next);
        let from = if moved.parent == at {
            next
        } else {
            if moved.right != NIL {
                self.node_mut(moved.right).parent = moved.parent;
            }
            self.node_mut(moved.parent)
                .set_left(moved.right, moved.right_summary());
            self.node_mut(node.right).parent = next;
            self.node_mut(next)
                .set_right(node.right, node.right_summary());
            moved.parent
        };
        self.node_mut(node.left).parent = next;
        let successor = self.node_mut(next);
        successor.set_left(node.left, node.left_summary());
        successor.parent = node.parent;
        self.replace_child(node.parent, at, next);
        self.climb(from);
        self.climb(next);
    }

    /// Unlinks the tree node `at`, which has at most one child, refreshing the
    /// augmentation above it.
    // Inlined for the same reason as `list_insert_after`.
    #[inline(always)]
    fn tree_unlink(&mut self, at: u32) {
        let node = *self.node(at);
        let (child, summary) = if node.left == NIL {
            (node.right, node.right_summary())
        } else {
            (node.left, node.left_summary())
        };
        if child != NIL {
            self.node_mut(child).parent = node.parent;
        }
        let up = node.parent;
        if up == NIL {
            self.root = child;
            return;
        }
        let parent = self.node_mut(up);
        if parent.left == at {
            parent.set_left(child, summary);
        } else {
            parent.set_right(child, summary);
        }
        self.climb(up);
    }

    /// Brings the longest-free values above node `at` in line after its length changed
    /// and nothing else did: heights and balance stay as they are, so each step only
    /// rewrites the parent's stored value for the side it came from, and it stops at
    /// the first parent whose stored value is already right. Half the work of a
    /// [`climb`](Self::climb) step, which also carries and checks heights.
    fn climb_lengths(&mut self, at: u32) {
        climb_lengths_in(self.nodes.as_mut(), at);
    }

    /// Restores balance and the parents' view of their children from node `at` up,
    /// after `at` changed (its piece, or a link set together with its summary) while
    /// the summaries it stores of its children stayed right.
    ///
    /// Each parent stores its children's summaries, so once the summary of a subtree
    /// equals what its parent has stored, nothing above can change: the climb stops
    /// there, reading only nodes on its way up.
    fn climb(&mut self, at: u32) {
        let mut at = self.rebalance(at);
        while let Some(unbalanced) = self.climb_balanced(at) {
            at = self.rotate_to_balance(unbalanced);
        }
    }

    /// The steps of [`climb`](Self::climb) from `at` (balanced, its summary right) up
    /// to where it stops or to the first ancestor that falls out of balance, which it
    /// returns for a rotation. From the first parent whose stored height of the child
    /// stays, only longest-free values can change above, and the rest of the way is
    /// [`climb_lengths`](Self::climb_lengths)'s.
    ///
    /// It holds the arena as one slice for the whole walk: through `self` on every
    /// step, the arena's address and length were read again after each store, since
    /// the compiler cannot tell that a node store leaves them unchanged.
    #[inline(always)]
    fn climb_balanced(&mut self, mut at: u32) -> Option<u32> {
        let nodes = self.nodes.as_mut();
        let node = &nodes[at as usize];
        let (mut up, mut summary) = (node.parent, node.summary());
        // `NIL` is past the end of every arena, so the root's missing parent ends the
        // loop here.
        while let Some(parent) = nodes.get_mut(up as usize) {
            // The link to `at` is already there: only the summary is rewritten. Where
            // the height stays, the parent's height and balance stay too, and only
            // longest-free values can change above: the cheaper climb takes over.
            let left = parent.left == at;
            let (stored, other) = if left {
                (parent.left_summary(), parent.right_summary())
            } else {
                (parent.right_summary(), parent.left_summary())
            };
            if stored.height == summary.height {
                if stored.max_free != summary.max_free {
                    if left {
                        parent.left_max = summary.max_free;
                    } else {
                        parent.right_max = summary.max_free;
                    }
                    climb_lengths_in(nodes, up);
                }
                return None;
            }
            if left {
                (parent.left_height, parent.left_max) = (summary.height, summary.max_free);
            } else {
                (parent.right_height, parent.right_max) = (summary.height, summary.max_free);
            }
            // The parent's balance and summary come from the values in hand rather
            // than from the fields just written: reading a node's heights back right
            // after a narrow store to one of them stalls store-to-load forwarding.
            if summary.height.abs_diff(other.height) > 1 {
                return Some(up);
            }
            summary = Summary {
                height: 1 + summary.height.max(other.height),
                max_free: parent.len.max(summary.max_free).max(other.max_free),
            };
            (at, up) = (up, parent.parent);
        }
        self.root = at;
        None
    }

    /// Makes the spare node `at` a node outside the tree holding `piece`. Its other
    /// fields are left as they were: a node's tree links and summaries mean something
    /// only while it is in the tree, and [`tree_insert`](Self::tree_insert) sets them
    /// all; its list links are set by the list insertion that follows.
    fn fresh(&mut self, at: u32, piece: Piece) {
        self.node_mut(at).set_piece(piece);
    }

    #[inline(always)]
    fn take_spare(&mut self) -> Option<u32> {
        let node = self.spare_head;
        if node == NIL {
            return None;
        }
        self.spare_head = self.node(node).next;
        self.spare -= 1;
        Some(node)
    }

    /// A spare node for a new allocation whose start has hash `hash`: the node at the
    /// index slot where a probe for it begins when that one is spare (a free then
    /// finds the slot and the node it holds on one cache line), else the head of the
    /// spare list.
    #[inline(always)]
    fn take_spare_at_home(&mut self, hash: u32) -> Option<u32> {
        let home = self.home(hash);
        let nodes = self.nodes.as_mut();
        match nodes.get(home) {
            // A spare node has no piece, so no length; the head is taken as usual.
            // `home < index_len <= MAX_NODES`: the cast is exact.
            #[allow(clippy::cast_possible_truncation)]
            Some(node) if node.len == 0 && home as u32 != self.spare_head => {
                let (prev, next) = (node.prev, node.next);
                // Not the head, so `prev` is the spare node above it.
                nodes[prev as usize].next = next;
                if let Some(below) = nodes.get_mut(next as usize) {
                    below.prev = prev;
                }
                self.spare -= 1;
                #[allow(clippy::cast_possible_truncation)]
                Some(home as u32)
            }
            _ => self.take_spare(),
        }
    }

    /// Returns `node` to the spare list, keeping its index slot; nothing but its list
    /// links and its length (0, which marks it spare) is read while it is spare, and
    /// [`fresh`](Self::fresh) sets the piece when it is taken again. The list is doubly
    /// linked (`prev` up towards the head, whose own `prev` is stale) so that
    /// [`take_spare_at_home`](Self::take_spare_at_home) can take a node from its middle.
    // Inlined: a handful of stores, where the call cost as much at each of the free
    // path's merges.
    #[inline(always)]
    fn give_spare(&mut self, node: u32) {
        let head = self.spare_head;
        let nodes = self.nodes.as_mut();
        if let Some(below) = nodes.get_mut(head as usize) {
            below.prev = node;
        }
        let spare = &mut nodes[node as usize];
        (spare.next, spare.len) = (head, 0);
        self.spare_head = node;
        self.spare += 1;
    }

    fn summary(&self, at: u32) -> Summary {
        self.nodes
            .as_ref()
            .get(at as usize)
            .map_or(EMPTY, Node::summary)
    }

    /// Points `up`'s link to `old` at `new` instead (or the root, when `up` is `NIL`),
    /// leaving the stored summary to the caller.
    fn replace_child(&mut self, up: u32, old: u32, new: u32) {
        if up == NIL {
            self.root = new;
        } else {
            let parent = self.node_mut(up);
            if parent.left == old {
                parent.left = new;
            } else {
                parent.right = new;
            }
        }
    }

    fn rotate_right(&mut self, at: u32) -> u32 {
        let node = *self.node(at);
        let pivot = *self.node(node.left);
        if pivot.right != NIL {
            self.node_mut(pivot.right).parent = at;
        }
        let moved = self.node_mut(at);
        moved.set_left(pivot.right, pivot.right_summary());
        moved.parent = node.left;
        let summary = moved.summary();
        let top = self.node_mut(node.left);
        top.set_right(at, summary);
        top.parent = node.parent;
        self.replace_child(node.parent, at, node.left);
        node.left
    }

    fn rotate_left(&mut self, at: u32) -> u32 {
        let node = *self.node(at);
        let pivot = *self.node(node.right);
        if pivot.left != NIL {
            self.node_mut(pivot.left).parent = at;
        }
        let moved = self.node_mut(at);
        moved.set_right(pivot.left, pivot.left_summary());
        moved.parent = node.right;
        let summary = moved.summary();
        let top = self.node_mut(node.right);
        top.set_left(at, summary);
        top.parent = node.parent;
        self.replace_child(node.parent, at, node.right);
        node.right
    }

    /// Restores the AVL balance of `at` (children already balanced, heights differing
    /// by at most 2) and returns the subtree's new root.
    fn rebalance(&mut self, at: u32) -> u32 {
        let node = self.node(at);
        if node.left_height.abs_diff(node.right_height) <= 1 {
            at
        } else {
            self.rotate_to_balance(at)
        }
    }

    /// [`rebalance`](Self::rebalance) of a node known to be out of balance: rare
    /// enough to keep out of the climb's loop.
    #[inline(never)]
    fn rotate_to_balance(&mut self, at: u32) -> u32 {
        let node = *self.node(at);
        let (hl, hr) = (node.left_height, node.right_height);
        if hl > hr + 1 {
            let inner = *self.node(node.left);
            if inner.left_height < inner.right_height {
                let top = self.rotate_left(node.left);
                let summary = self.node(top).summary();
                self.node_mut(at).set_left(top, summary);
            }
            return self.rotate_right(at);
        }
        if hr > hl + 1 {
            let inner = *self.node(node.right);
            if inner.right_height < inner.left_height {
                let top = self.rotate_right(node.right);
                let summary = self.node(top).summary();
                self.node_mut(at).set_right(top, summary);
            }
            return self.rotate_left(at);
        }
        at
    }
}

#[cfg(test)]
impl<S: AsRef<[Node]> + AsMut<[Node]>> PieceTree<S> {
    /// Checks the address-order list, the tree of free pieces (order, AVL balance,
    /// stored heights and augmentation, parent links; every free piece but a free last
    /// one, which is the out-of-tree one) and that the index holds exactly the
    /// allocations; returns all pieces in order and the tree height.
    pub(super) fn check(&self) -> Result<(Vec<Piece>, u8), alloc::string::String> {
        let mut in_tree = Vec::new();
        let height = self.check_at(self.root, NIL, &mut in_tree)?.0;
        let mut order = Vec::new();
        let (mut at, mut prev) = (self.first, NIL);
        while at != NIL && order.len() <= self.nodes.as_ref().len() {
            let node = self.node(at);
            if node.prev != prev {
                return Err(alloc::format!("node {at}: prev {} not {prev}", node.prev));
            }
            if !node.free && self.lookup(node.start) != Some(at) {
                return Err(alloc::format!("allocation {:?} not indexed", node.piece()));
            }
            order.push(at);
            (prev, at) = (at, node.next);
        }
        let pieces: Vec<Piece> = order.iter().map(|&at| self.piece(at)).collect();
        if pieces.windows(2).any(|w| w[0].end() != w[1].start) {
            return Err(alloc::format!("pieces out of order: {pieces:?}"));
        }
        let last = order.last().copied().unwrap_or(NIL);
        let last_free = order.last().is_some_and(|&at| self.node(at).free);
        if self.wild != if last_free { last } else { NIL } {
            return Err(alloc::format!(
                "out-of-tree node {} but last piece {last} (free: {last_free})",
                self.wild
            ));
        }
        let all_free: Vec<u32> = order
            .iter()
            .copied()
            .filter(|&at| self.node(at).free && at != self.wild)
            .collect();
        let free_pieces = all_free.len() + usize::from(last_free);
        let (small, free): (Vec<u32>, Vec<u32>) =
            all_free.iter().partition(|&&at| self.in_heap(at));
        self.check_heaps(&small)?;
        if free != in_tree {
            return Err(alloc::format!(
                "tree holds {in_tree:?}, free pieces {free:?}"
            ));
        }
        let indexed = self.nodes.as_ref().iter().filter(|n| n.slot != NIL).count();
        self.check_probes()?;
        if indexed != pieces.len() - free_pieces {
            return Err(alloc::format!(
                "{indexed} indexed, {} allocations",
                pieces.len() - free_pieces
            ));
        }
        // The spare list: every node on it has no length, each but the head links back
        // to the one above it, and it holds the spare count.
        let (mut at, mut above, mut spares) = (self.spare_head, NIL, 0);
        while let Some(node) = self.nodes.as_ref().get(at as usize) {
            if node.len != 0 || (above != NIL && node.prev != above) {
                return Err(alloc::format!(
                    "spare node {at}: len {}, prev {} not {above}",
                    node.len,
                    node.prev
                ));
            }
            spares += 1;
            if spares > self.spare {
                return Err(alloc::format!("more than {} spare nodes", self.spare));
            }
            (above, at) = (at, node.next);
        }
        if spares != self.spare {
            return Err(alloc::format!("{spares} spare nodes, not {}", self.spare));
        }
        if pieces.len() + self.spare != self.nodes.as_ref().len() {
            return Err(alloc::format!(
                "{} pieces + {} spare != {} nodes",
                pieces.len(),
                self.spare,
                self.nodes.as_ref().len()
            ));
        }
        Ok((pieces, height))
    }

    /// Whether a search for `count` units uses the heaps' tournament tree.
    pub(super) const fn uses_tournament(&self, count: usize) -> bool {
        let heaps = self.small_used >> (count - 1);
        u64::BITS - heaps.leading_zeros() > LINEAR_SPAN && heaps.count_ones() > LINEAR_HEAPS
    }

    /// How many free pieces are in the heaps rather than the tree.
    pub(super) fn heap_pieces(&self) -> usize {
        let mut at = self.first;
        let mut count = 0;
        while let Some(node) = self.nodes.as_ref().get(at as usize) {
            count += usize::from(node.free && at != self.wild && self.in_heap(at));
            at = node.next;
        }
        count
    }

    /// The heaps hold exactly the free pieces `small` (those up to the small limit long
    /// but the free last one), each in the heap of its length, every child starting
    /// after its parent, with the links a cut relies on (`parent` the parent of a first
    /// child, the previous sibling of any other), and each heap's recorded lowest start
    /// is its root's.
    fn check_heaps(&self, small: &[u32]) -> Result<(), alloc::string::String> {
        let nodes = self.nodes.as_ref();
        let mut seen = Vec::new();
        for (heap, &root) in self.small.iter().enumerate() {
            let min = nodes.get(root as usize).map_or(usize::MAX, |n| n.start);
            let used = self.small_used >> heap & 1 == 1;
            if heap >= self.small_limit && root != NIL
                || self.small_min[SMALL + heap] != min
                || used != (root != NIL)
            {
                return Err(alloc::format!("heap {heap}: root {root}, min {min}"));
            }
            if root != NIL
                && (nodes[root as usize].parent != NIL || nodes[root as usize].right != NIL)
            {
                return Err(alloc::format!("heap {heap}: root {root} has links"));
            }
            let mut stack = alloc::vec![root];
            while let Some(at) = stack.pop() {
                let Some(node) = nodes.get(at as usize) else {
                    continue;
                };
                if node.len != heap + 1
                    || !node.free
                    || node.left_height != IN_HEAP
                    || seen.len() > nodes.len()
                {
                    return Err(alloc::format!(
                        "node {at} {:?} in heap {heap}",
                        node.piece()
                    ));
                }
                seen.push(at);
                let mut prev = at;
                let mut child = node.left;
                while let Some(below) = nodes.get(child as usize) {
                    if below.start <= node.start || below.parent != prev {
                        return Err(alloc::format!(
                            "heap {heap}: child {child} of {at}: start {} parent link {}",
                            below.start,
                            below.parent
                        ));
                    }
                    stack.push(child);
                    (prev, child) = (child, below.right);
                }
            }
        }
        // The tournament tree, replayed where stale, is right everywhere.
        let (mut mins, mut wins) = (self.small_min, self.small_win);
        replay_heaps(&mut mins, &mut wins, self.small_stale);
        for at in 1..SMALL {
            let (min, heap) = (mins[at], usize::from(wins[at]));
            let (mut first, mut width) = (at, 1);
            while first < SMALL {
                (first, width) = (first * 2, width * 2);
            }
            let below = first - SMALL..first - SMALL + width;
            if min != mins[2 * at].min(mins[2 * at + 1])
                || !below.contains(&heap)
                || mins[SMALL + heap] != min
            {
                return Err(alloc::format!(
                    "heap tournament {at}: {min} from heap {heap}"
                ));
            }
        }
        seen.sort_unstable();
        let mut want = small.to_vec();
        want.sort_unstable();
        if seen != want {
            return Err(alloc::format!("heaps hold {seen:?}, small pieces {want:?}"));
        }
        Ok(())
    }

    /// Every index entry is reachable from its home slot: each slot from the home up
    /// to the entry's own is occupied and marked as passed over.
    fn check_probes(&self) -> Result<(), alloc::string::String> {
        let nodes = self.nodes.as_ref();
        let live = nodes.iter().filter(|n| n.slot != NIL).count();
        let in_use = nodes.len().min(MAX_NODES) - self.spare;
        if self.index_len < nodes.len() && 2 * in_use > self.index_len
            || nodes[self.index_len..].iter().any(|n| n.slot != NIL)
            || 2 * live > self.index_len.max(1) && self.index_len < nodes.len()
        {
            return Err(alloc::format!(
                "index of {} slots over {in_use} nodes in use, {live} entries",
                self.index_len,
            ));
        }
        for (at, slot) in nodes.iter().enumerate() {
            if slot.slot == NIL {
                continue;
            }
            let mut i = self.home(slot.slot_hash);
            while i != at {
                let over = &nodes[i];
                if over.slot == NIL || !over.slot_passed {
                    return Err(alloc::format!(
                        "entry in slot {at} probes over slot {i} (entry {}, passed {})",
                        over.slot,
                        over.slot_passed
                    ));
                }
                i = if i + 1 == self.index_len { 0 } else { i + 1 };
            }
        }
        Ok(())
    }

    fn check_at(
        &self,
        at: u32,
        parent: u32,
        out: &mut Vec<u32>,
    ) -> Result<(u8, usize), alloc::string::String> {
        if at == NIL {
            return Ok((0, 0));
        }
        let node = *self.node(at);
        if node.parent != parent || !node.free {
            return Err(alloc::format!(
                "node {at}: parent {} not {parent}, or not free",
                node.parent
            ));
        }
        let (hl, ml) = self.check_at(node.left, at, out)?;
        out.push(at);
        let (hr, mr) = self.check_at(node.right, at, out)?;
        let stored = (
            node.left_height,
            node.left_max,
            node.right_height,
            node.right_max,
        );
        if hl.abs_diff(hr) > 1 || stored != (hl, ml, hr, mr) {
            return Err(alloc::format!(
                "node {at} {:?}: children {hl}/{ml} and {hr}/{mr}, stored {stored:?}",
                node.piece(),
            ));
        }
        Ok((1 + hl.max(hr), node.len.max(ml).max(mr)))
    }
}

#[cfg(test)]
mod tests {
    use super::{Piece, PieceTree};

    fn piece(start: usize, len: usize, free: bool) -> Piece {
        Piece { start, len, free }
    }

    /// Carves and releases at random places, checked against a list of pieces after
    /// every step.
    #[test]
    fn carve_and_release_match_a_list_of_pieces() {
        let mut tree = PieceTree::with_nodes(601, Some(piece(0, 3000, true))).unwrap();
        // The walks below for 7 units, as an aligned request's, see only the tree;
        // pieces of up to 6 units still go to the heaps.
        tree.hold_in_tree_from(7);
        let mut model = alloc::vec![piece(0, 3000, true)];
        let mut state = 0x2545_F491_4F6C_DD1D_u64;
        let mut height_max = 0;
        for _ in 0..6000 {
            let i = crate::test_rng::below(&mut state, model.len());
            let p = model[i];
            if p.free {
                let at = tree.free_before(p.start).unwrap();
                assert_eq!(tree.piece(at), p);
                let r = usize::try_from(state >> 20).unwrap_or(0);
                let skip = r % p.len;
                let count = 1 + (r >> 12) % (p.len - skip);
                let used = tree.carve(at, p.start + skip, count).unwrap();
                assert_eq!(tree.piece(used), piece(p.start + skip, count, false));
                let mut parts = alloc::vec![piece(p.start + skip, count, false)];
                if skip > 0 {
                    parts.insert(0, piece(p.start, skip, true));
                }
                if skip + count < p.len {
                    parts.push(piece(p.start + skip + count, p.len - skip - count, true));
                }
                model.splice(i..=i, parts);
            } else {
                let at = tree.lookup(p.start).unwrap();
                let merged = tree.release(at);
                let (mut first, mut last) = (i, i);
                if i > 0 && model[i - 1].free {
                    first -= 1;
                }
                if model.get(i + 1).is_some_and(|p| p.free) {
                    last += 1;
                }
                assert_eq!(merged, last - first);
                let start = model[first].start;
                let end = model[last].end();
                model.splice(first..=last, [piece(start, end - start, true)]);
            }
            let (pieces, height) = tree.check().unwrap();
            assert_eq!(pieces, model);
            height_max = height_max.max(height);
            let want = model.iter().map(|p| p.free_len()).max().unwrap_or(0);
            assert_eq!(tree.largest_free(), want);
            for count in [3, 7] {
                let first = model.iter().find(|p| p.free && p.len >= count).copied();
                assert_eq!(
                    tree.first_long_enough(count).map(|at| tree.piece(at)),
                    first
                );
            }
            let from = usize::try_from((state >> 9) % 3000).unwrap_or(0);
            let after = model
                .iter()
                .find(|p| p.free && p.len >= 7 && p.end() > from)
                .copied();
            let skips = model
                .iter()
                .any(|p| p.free && p.len >= 7 && p.end() <= from);
            assert_eq!(
                tree.lowest_long_enough_after(from, 7),
                (after.map(|p| tree.free_before(p.start).unwrap()), skips),
                "from {from}"
            );
            let long: alloc::vec::Vec<Piece> = model
                .iter()
                .filter(|p| p.free && p.len >= 7)
                .copied()
                .collect();
            let mut walked = alloc::vec::Vec::new();
            let mut at = tree.first_long_enough(7);
            while let Some(node) = at {
                walked.push(tree.piece(node));
                at = tree.next_long_enough(node, 7);
            }
            assert_eq!(walked, long);
            let mut seen = alloc::vec::Vec::new();
            tree.for_each(&mut |p| seen.push(p));
            assert_eq!(seen, model);
        }
        // At most 301 free pieces: an AVL tree of that size is at most 11 levels deep.
        assert!(height_max <= 11, "height {height_max}");
    }

    /// Every way a free last piece arises or grows leaves it beside the tree: the
    /// tree is empty (height 0) whenever the only free piece is the last one.
    #[test]
    fn the_free_last_piece_stays_beside_the_tree() {
        let mut tree = PieceTree::with_nodes(9, Some(piece(0, 100, true))).unwrap();
        // Every free piece but the last in the tree, none in the heaps.
        tree.hold_in_tree_from(1);
        let whole = alloc::vec![piece(0, 100, true)];
        assert_eq!(tree.check().unwrap(), (whole.clone(), 0));
        // Cut at its start, the rest stays beside the tree; merging down into it too.
        let free = tree.free_before(0).unwrap();
        let a = tree.carve(free, 0, 10).unwrap();
        assert_eq!(tree.check().unwrap().1, 0);
        assert_eq!(tree.release(a), 1);
        assert_eq!(tree.check().unwrap(), (whole.clone(), 0));
        // Taken whole, then freed with no free neighbour.
        let free = tree.free_before(0).unwrap();
        let a = tree.carve(free, 0, 10).unwrap();
        let free = tree.free_before(10).unwrap();
        let b = tree.carve(free, 10, 90).unwrap();
        assert_eq!(tree.largest_free(), 0);
        assert_eq!(tree.release(b), 0);
        assert_eq!(tree.check().unwrap().1, 0);
        assert_eq!(
            tree.first_long_enough(90).map(|at| tree.piece(at)),
            Some(piece(10, 90, true))
        );
        // Freed between a hole in the tree and the last piece: one piece, no tree.
        let free = tree.free_before(10).unwrap();
        let c = tree.carve(free, 10, 5).unwrap();
        assert_eq!(tree.release(a), 0);
        assert_eq!(tree.check().unwrap().1, 1);
        assert_eq!(tree.release(c), 2);
        assert_eq!(tree.check().unwrap(), (whole.clone(), 0));
        // The last allocation freed after a free piece in the tree.
        let free = tree.free_before(0).unwrap();
        let a = tree.carve(free, 0, 10).unwrap();
        let free = tree.free_before(10).unwrap();
        let b = tree.carve(free, 10, 90).unwrap();
        assert_eq!(tree.release(a), 0);
        assert_eq!(tree.check().unwrap().1, 1);
        assert_eq!(tree.release(b), 1);
        assert_eq!(tree.check().unwrap(), (whole, 0));
    }

    #[cfg(target_pointer_width = "64")]
    #[test]
    fn nodes_are_one_cache_line() {
        assert_eq!(core::mem::size_of::<super::Node>(), 64);
        assert_eq!(core::mem::align_of::<super::Node>(), 64);
    }

    #[test]
    fn index_survives_collisions_and_wraparound() {
        // A full index over 5 nodes: every slot used, probes wrap around the end.
        let mut tree = PieceTree::with_nodes(5, Some(piece(0, 5, true))).unwrap();
        let mut nodes = alloc::vec::Vec::new();
        for start in 0..5 {
            let free = tree.free_before(start).unwrap();
            nodes.push(tree.carve(free, start, 1).unwrap());
        }
        assert_eq!(tree.spare(), 0);
        tree.check().unwrap();
        for (start, &node) in nodes.iter().enumerate() {
            assert_eq!(tree.lookup(start), Some(node));
        }
        assert_eq!(tree.lookup(5), None);
        // Every other one, so no free neighbour to merge with.
        for &node in nodes.iter().rev().step_by(2) {
            assert_eq!(tree.release(node), 0);
        }
        for (start, &node) in nodes.iter().enumerate() {
            let want = (start % 2 == 1).then_some(node);
            assert_eq!(tree.lookup(start), want, "start {start}");
        }
        tree.check().unwrap();
    }

    #[test]
    fn a_new_allocation_takes_the_spare_node_at_its_home_slot() {
        let mut tree = PieceTree::with_nodes(64, Some(piece(0, 1000, true))).unwrap();
        let mut rng = 0x2545_F491_4F6C_DD1D_u64;
        let mut below = |n| crate::test_rng::below(&mut rng, n);
        let mut live: alloc::vec::Vec<(usize, u32)> = alloc::vec::Vec::new();
        let (mut at_home, mut elsewhere) = (0, 0);
        for round in 0..2000 {
            if live.len() < 20 && (live.len() < 5 || below(2) == 0) {
                // A cut inside a free piece needs a new node for the allocation.
                let start = below(1000);
                let Some(free) = tree.free_before(start) else {
                    continue;
                };
                let fp = tree.piece(free);
                if !fp.free || start >= fp.end() || start == fp.start {
                    continue;
                }
                let home = tree.home(super::hash(start));
                let home_spare = tree.nodes[home].len == 0;
                let node = tree.carve(free, start, 1).unwrap();
                if home_spare {
                    assert_eq!(node as usize, home, "round {round}");
                    at_home += 1;
                } else {
                    assert_ne!(node as usize, home, "round {round}");
                    elsewhere += 1;
                }
                live.push((start, node));
            } else {
                let (start, node) = live.swap_remove(below(live.len()));
                assert_eq!(tree.lookup(start), Some(node));
                tree.release(node);
            }
            tree.check().unwrap();
        }
        assert!(
            at_home > 100 && elsewhere > 10,
            "{at_home} at home, {elsewhere} not"
        );
    }

    #[test]
    fn index_grows_with_the_nodes_in_use() {
        let mut tree = PieceTree::with_nodes(1000, Some(piece(0, 1000, true))).unwrap();
        assert_eq!(tree.index_len, super::MIN_INDEX_LEN);
        let mut lens = alloc::vec![tree.index_len];
        let mut live = alloc::vec::Vec::new();
        // One-unit allocations one unit apart: two more nodes each after the first.
        for start in (0..600).step_by(2) {
            let free = tree.free_before(start).unwrap();
            live.push((start, tree.carve(free, start, 1).unwrap()));
            // Also checks the index's size against the nodes in use.
            tree.check().unwrap();
            if lens.last() != Some(&tree.index_len) {
                lens.push(tree.index_len);
            }
            for &(start, node) in &live {
                assert_eq!(tree.lookup(start), Some(node));
            }
        }
        assert_eq!(lens, [64, 128, 256, 512, 1000]);
        for &(_, node) in live.iter().rev().step_by(3) {
            tree.release(node);
        }
        tree.check().unwrap();
    }

    #[test]
    fn zero_nodes_is_an_empty_tree() {
        let mut tree = PieceTree::with_nodes(0, None).unwrap();
        assert_eq!(tree.metadata_bytes(), 0);
        assert_eq!(tree.free_before(0), None);
        assert_eq!(tree.lookup(0), None);
        assert_eq!(tree.largest_free(), 0);
        assert_eq!(tree.first_long_enough(1), None);
        tree.for_each(&mut |_| panic!("no pieces"));
    }
}
