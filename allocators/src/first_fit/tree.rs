//! The pieces that tile a unit space, in an AVL tree over a fixed arena.
//!
//! A *piece* is a maximal free extent or one live allocation; together they cover the
//! space exactly once. The tree is keyed by start offset and every node carries, for
//! each child, that subtree's height and the length of its longest free piece, so
//! [`PieceTree::first_fit`] can skip whole subtrees that cannot hold a request without
//! touching them, and a change climbs back to the root reading only the nodes on its
//! own path (never a sibling).
//!
//! This file owns node storage, balancing and that augmentation. It never allocates
//! after [`PieceTree::with_nodes`] (nodes come from a free list threaded through the
//! arena), never knows about errors or requests beyond the [`Fit`] questions, and keeps
//! no counters: those belong to the backend.
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

/// The summary of the empty subtree.
const EMPTY: Summary = Summary {
    height: 0,
    max_free: 0,
};

/// One arena slot. The piece's fields and the children's summaries are stored flat so
/// the node packs into 48 bytes on 64-bit targets.
///
/// Opaque to callers: they only size arrays of it for
/// [`FirstFit::with_storage`](super::FirstFit::with_storage).
#[derive(Clone, Copy, Debug)]
pub struct Node {
    start: usize,
    len: usize,
    /// Longest free piece in the left subtree.
    left_max: usize,
    /// Longest free piece in the right subtree.
    right_max: usize,
    left: u32,
    /// Next spare node while this node is on the spare list.
    right: u32,
    left_height: u8,
    right_height: u8,
    free: bool,
}

impl Node {
    const fn leaf(piece: Piece) -> Self {
        Self {
            start: piece.start,
            len: piece.len,
            free: piece.free,
            ..SPARE
        }
    }

    const fn piece(&self) -> Piece {
        Piece {
            start: self.start,
            len: self.len,
            free: self.free,
        }
    }

    const fn free_len(&self) -> usize {
        if self.free { self.len } else { 0 }
    }

    /// Longest free piece in this node's subtree.
    fn max_free(&self) -> usize {
        self.free_len().max(self.left_max).max(self.right_max)
    }

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
}

const SPARE: Node = Node {
    start: 0,
    len: 0,
    left_max: 0,
    right_max: 0,
    left: NIL,
    right: NIL,
    left_height: 0,
    right_height: 0,
    free: false,
};

/// Longest root-to-node path: an AVL tree of `n` nodes is less than
/// `1.4405 log2(n + 2)` high, which is below 47 for `n <= MAX_NODES`.
const MAX_HEIGHT: usize = 48;

/// The nodes of one descent, root first, kept so that an update can climb back up
/// without parent links or recursion. A path handed out by a lookup stays valid until
/// the next change to the tree.
#[derive(Clone, Debug)]
pub(super) struct Path {
    nodes: [u32; MAX_HEIGHT],
    len: usize,
}

impl Path {
    /// An empty path, to be filled by a lookup.
    pub(super) const fn new() -> Self {
        Self {
            nodes: [NIL; MAX_HEIGHT],
            len: 0,
        }
    }

    fn push(&mut self, at: u32) {
        self.nodes[self.len] = at;
        self.len += 1;
    }

    fn nodes(&self) -> &[u32] {
        &self.nodes[..self.len]
    }

    const fn len(&self) -> usize {
        self.len
    }

    /// The node the descent ended on (paths handed out are never empty).
    fn last(&self) -> u32 {
        self.nodes().last().copied().unwrap_or(NIL)
    }

    fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    fn copy_from(&mut self, nodes: &[u32]) {
        let len = nodes.len().min(MAX_HEIGHT);
        self.nodes[..len].copy_from_slice(&nodes[..len]);
        self.len = len;
    }
}

/// A piece and its neighbours in address order (see [`PieceTree::around`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Around {
    /// The piece that ends where `piece` starts, if any.
    pub(super) before: Option<Piece>,
    /// The piece looked up.
    pub(super) piece: Piece,
    /// The piece that starts where `piece` ends, if any.
    pub(super) after: Option<Piece>,
}

/// An AVL tree of [`Piece`]s keyed by start, over a preallocated arena: a `Vec` sized
/// once, or caller-provided storage such as an inline array.
#[derive(Clone, Debug)]
pub(super) struct PieceTree<S = Vec<Node>> {
    nodes: S,
    root: u32,
    spare_head: u32,
    spare: usize,
    /// The path to the piece whose state [`update_at`](Self::update_at) or whose first
    /// part [`split_at`](Self::split_at) last set, while no change has happened since
    /// (empty otherwise): where freeing the allocation just made will look first.
    recent: Path,
}

impl PieceTree {
    /// An empty tree able to hold `count` pieces (at most [`MAX_NODES`]); the only
    /// allocation the tree ever makes.
    pub(super) fn with_nodes(count: usize) -> Result<Self, OutOfMemory> {
        let count = count.min(MAX_NODES);
        let mut nodes = Vec::new();
        try_reserve(&mut nodes, count, "first-fit nodes")?;
        for next in 1..=count {
            let right = u32::try_from(next).ok().filter(|&n| (n as usize) < count);
            let node = Node {
                right: right.unwrap_or(NIL),
                ..SPARE
            };
            try_push(&mut nodes, node, "first-fit nodes")?;
        }
        Ok(Self {
            nodes,
            root: NIL,
            spare_head: if count == 0 { NIL } else { 0 },
            spare: count,
            recent: Path::new(),
        })
    }
}

impl<const N: usize> PieceTree<[Node; N]> {
    /// A tree over an inline arena of `N` nodes (at most [`MAX_NODES`] are used) holding
    /// `whole` as its only piece, or nothing; the whole arena is spare otherwise.
    /// `whole` needs `N >= 1`, which the caller checks.
    pub(super) const fn inline(whole: Option<Piece>) -> Self {
        let count = if N < MAX_NODES { N } else { MAX_NODES };
        let mut nodes = [SPARE; N];
        let mut i = 0;
        while i < count {
            // `i + 1 < count <= MAX_NODES < u32::MAX`: the cast is exact.
            #[allow(clippy::cast_possible_truncation)]
            let next = if i + 1 < count { (i + 1) as u32 } else { NIL };
            nodes[i].right = next;
            i += 1;
        }
        let (root, spare_head, spare) = match whole {
            Some(piece) if count > 0 => {
                nodes[0] = Node::leaf(piece);
                (0, if count > 1 { 1 } else { NIL }, count - 1)
            }
            _ => (NIL, if count > 0 { 0 } else { NIL }, count),
        };
        Self {
            nodes,
            root,
            spare_head,
            spare,
            recent: Path::new(),
        }
    }
}

impl<S: AsRef<[Node]> + AsMut<[Node]>> PieceTree<S> {
    /// Bytes of the arena, fixed at construction.
    pub(super) fn metadata_bytes(&self) -> usize {
        core::mem::size_of_val(self.nodes.as_ref())
    }

    /// Nodes still available for [`insert`](Self::insert).
    pub(super) const fn spare(&self) -> usize {
        self.spare
    }

    /// Length of the longest free piece (0 when none).
    pub(super) fn largest_free(&self) -> usize {
        self.summary(self.root).max_free
    }

    /// The piece with the greatest start `<= offset`: the one containing `offset` when
    /// the pieces tile the space and `offset` lies inside it.
    pub(super) fn containing(&self, offset: usize) -> Option<Piece> {
        let mut at = self.root;
        let mut best = None;
        while at != NIL {
            let node = &self.nodes.as_ref()[at as usize];
            if node.start <= offset {
                best = Some(node.piece());
                at = node.right;
            } else {
                at = node.left;
            }
        }
        best
    }

    /// Adds `piece`, whose start must not be in the tree yet. Returns `false` and
    /// changes nothing when no spare node is left (or the start is already there).
    pub(super) fn insert(&mut self, piece: Piece) -> bool {
        let (path, found) = self.descend(piece.start);
        if found {
            return false;
        }
        let Some(node) = self.take_spare() else {
            return false;
        };
        let leaf = Node::leaf(piece);
        self.nodes.as_mut()[node as usize] = leaf;
        match path.nodes().last() {
            None => self.root = node,
            Some(&parent) => {
                let parent = &mut self.nodes.as_mut()[parent as usize];
                if piece.start < parent.start {
                    parent.set_left(node, leaf.summary());
                } else {
                    parent.set_right(node, leaf.summary());
                }
            }
        }
        self.fix(path.nodes(), None);
        true
    }

    /// Removes the piece that starts at `start` (nothing happens if there is none).
    pub(super) fn remove(&mut self, start: usize) {
        let Some(mut path) = self.path_to(start) else {
            return;
        };
        let at = path.last();
        let Node { left, right, .. } = self.nodes.as_ref()[at as usize];
        if left == NIL || right == NIL {
            self.splice(&path, None);
            return;
        }
        // Two children: the successor (leftmost on the right, so without a left child)
        // takes this node's place by value, and its own node is the one unlinked.
        let dirty = path.len() - 1;
        let successor = self.push_leftmost(&mut path, right);
        let moved = self.nodes.as_ref()[successor as usize].piece();
        self.write(at, moved);
        self.splice(&path, Some(dirty));
    }

    /// Gives the piece that starts at `start` a new length and state. The caller keeps
    /// the pieces disjoint, so the key order is unchanged and only the augmentation on
    /// the path to it needs refreshing.
    pub(super) fn update(&mut self, start: usize, len: usize, free: bool) {
        if let Some(path) = self.path_to(start) {
            self.update_at(&path, len, free);
        }
    }

    /// [`update`](Self::update) of the piece at the end of `path`.
    pub(super) fn update_at(&mut self, path: &Path, len: usize, free: bool) {
        let node = &mut self.nodes.as_mut()[path.last() as usize];
        node.len = len;
        node.free = free;
        if self.fix(path.nodes(), Some(path.len() - 1)) {
            self.recent.copy_from(path.nodes());
        }
    }

    /// Cuts the piece that starts at `start` in two: it keeps `len` units in state
    /// `free`, and `next` (which must start right after them and end where the piece
    /// ended) becomes its successor. Returns `false` and changes nothing when the piece
    /// does not exist or no spare node is left.
    pub(super) fn split(&mut self, start: usize, len: usize, free: bool, next: Piece) -> bool {
        match self.path_to(start) {
            Some(mut path) => self.split_at(&mut path, len, free, next),
            None => false,
        }
    }

    /// [`split`](Self::split) of the piece at the end of `path` (which it consumes).
    ///
    /// One new node hangs as a leaf next to the old one in key order, so one path from
    /// the root is enough to place it and to refresh heights and maxima. It goes right
    /// after the old node (holding `next`) or right before it (holding the first part,
    /// the old node taking `next`: its key moves up without passing another key),
    /// preferring a place under a node that already has a child on the other side:
    /// there the leaf adds no height, so the climb stops early. Alloc+free pairs at
    /// one spot repeat this split and its undoing, and a height change each time would
    /// ripple up through every balanced ancestor.
    pub(super) fn split_at(
        &mut self,
        path: &mut Path,
        len: usize,
        free: bool,
        next: Piece,
    ) -> bool {
        let Some(leaf) = self.take_spare() else {
            return false;
        };
        let at = path.last();
        let dirty = path.len() - 1;
        let node = self.nodes.as_ref()[at as usize];
        let first = Piece {
            start: node.start,
            len,
            free,
        };
        let before = self.grows_after(&node) && !self.grows_before(&node);
        if before {
            let new = Node::leaf(first);
            self.nodes.as_mut()[leaf as usize] = new;
            self.write(at, next);
            if node.left == NIL {
                self.nodes.as_mut()[at as usize].set_left(leaf, new.summary());
            } else {
                let parent = self.push_rightmost(path, node.left);
                self.nodes.as_mut()[parent as usize].set_right(leaf, new.summary());
            }
        } else {
            let new = Node::leaf(next);
            self.nodes.as_mut()[leaf as usize] = new;
            self.write(at, first);
            if node.right == NIL {
                self.nodes.as_mut()[at as usize].set_right(leaf, new.summary());
            } else {
                let parent = self.push_leftmost(path, node.right);
                self.nodes.as_mut()[parent as usize].set_left(leaf, new.summary());
            }
        }
        if self.fix(path.nodes(), Some(dirty)) {
            // Remember where the first part went: the new leaf or the old node.
            if before {
                path.push(leaf);
                self.recent.copy_from(path.nodes());
            } else {
                self.recent.copy_from(&path.nodes()[..=dirty]);
            }
        }
        true
    }

    /// Whether a leaf hung right after `node` in key order lands under a leaf (and so
    /// makes a subtree taller).
    fn grows_after(&self, node: &Node) -> bool {
        if node.right == NIL {
            return node.left == NIL;
        }
        let mut at = node.right;
        loop {
            let below = &self.nodes.as_ref()[at as usize];
            if below.left == NIL {
                return below.right == NIL;
            }
            at = below.left;
        }
    }

    /// Whether a leaf hung right before `node` in key order lands under a leaf.
    fn grows_before(&self, node: &Node) -> bool {
        if node.left == NIL {
            return node.right == NIL;
        }
        let mut at = node.left;
        loop {
            let below = &self.nodes.as_ref()[at as usize];
            if below.right == NIL {
                return below.left == NIL;
            }
            at = below.right;
        }
    }

    /// Replaces the piece that starts at `merged.start` and its successor by `merged`
    /// (nothing happens if either is missing).
    pub(super) fn merge_next(&mut self, merged: Piece) {
        if let Some(mut path) = self.path_to(merged.start) {
            self.merge_next_at(&mut path, merged);
        }
    }

    /// [`merge_next`](Self::merge_next) of the piece at the end of `path` (which it
    /// consumes); `merged.start` must be that piece's start.
    ///
    /// Of two nodes adjacent in key order one is an ancestor of the other with the
    /// other at the near end of its subtree, so one of them has at most one child: that
    /// one is unlinked and `merged` is written into the survivor, whose key may move
    /// down to `merged.start` without passing any other key.
    pub(super) fn merge_next_at(&mut self, path: &mut Path, merged: Piece) {
        let at = path.last();
        let right = self.nodes.as_ref()[at as usize].right;
        if right != NIL {
            let dirty = path.len() - 1;
            self.write(at, merged);
            self.push_leftmost(path, right);
            self.splice(path, Some(dirty));
            return;
        }
        // No right subtree: the successor is the last ancestor we left by its left link.
        let nodes = path.nodes();
        let Some(dirty) = (0..nodes.len() - 1)
            .rev()
            .find(|&i| self.nodes.as_ref()[nodes[i] as usize].left == nodes[i + 1])
        else {
            return;
        };
        self.write(nodes[dirty], merged);
        self.splice(path, Some(dirty));
    }

    /// Moves `path` from its node to that node's predecessor; `false` (path unchanged)
    /// when there is none.
    pub(super) fn step_back(&self, path: &mut Path) -> bool {
        let left = self.nodes.as_ref()[path.last() as usize].left;
        if left != NIL {
            let mut at = left;
            while at != NIL {
                path.push(at);
                at = self.nodes.as_ref()[at as usize].right;
            }
            return true;
        }
        // No left subtree: the predecessor is the last ancestor left by its right link.
        let nodes = path.nodes();
        match (0..nodes.len() - 1)
            .rev()
            .find(|&i| self.nodes.as_ref()[nodes[i] as usize].right == nodes[i + 1])
        {
            Some(i) => {
                path.truncate(i + 1);
                true
            }
            None => false,
        }
    }

    /// The piece containing `offset` (the one with the greatest start `<= offset`) and
    /// the pieces right before and after it, found in one descent that leaves `path`
    /// (which must be empty) at the containing piece.
    pub(super) fn around(&self, offset: usize, path: &mut Path) -> Option<Around> {
        let recent = self
            .recent
            .nodes()
            .last()
            .map(|&at| &self.nodes.as_ref()[at as usize]);
        if recent.is_some_and(|node| node.start == offset) {
            // The piece last carved (typically the allocation just made): its path is
            // known, and its neighbours are near it on that path.
            path.copy_from(self.recent.nodes());
            return Some(self.around_path(path));
        }
        let (mut at, mut containing, mut before, mut after) = (self.root, NIL, NIL, NIL);
        let mut depth = 0;
        // `get` doubles as the `NIL` test: `NIL` is never a valid index.
        for (slot, len) in path.nodes.iter_mut().zip(1..) {
            let Some(node) = self.nodes.as_ref().get(at as usize) else {
                break;
            };
            *slot = at;
            if node.start <= offset {
                before = containing;
                containing = at;
                depth = len;
                at = node.right;
            } else {
                // The last left turn is the smallest start above `offset`: the successor.
                after = at;
                at = node.left;
            }
        }
        path.len = depth;
        if containing == NIL {
            return None;
        }
        // The predecessor is the rightmost node of the left subtree when there is one,
        // else the previous right turn of the descent.
        let mut below = self.nodes.as_ref()[containing as usize].left;
        while let Some(node) = self.nodes.as_ref().get(below as usize) {
            before = below;
            below = node.right;
        }
        Some(self.around_of(before, containing, after))
    }

    /// [`around`](Self::around) of the node at the end of `path`.
    fn around_path(&self, path: &Path) -> Around {
        let nodes = path.nodes();
        let at = path.last();
        let node = &self.nodes.as_ref()[at as usize];
        // Each neighbour is at the near end of a subtree of this node if it has one
        // there, else the last ancestor this path left on the other side.
        let ancestor = |left: bool| {
            (0..nodes.len().saturating_sub(1))
                .rev()
                .find(|&i| {
                    let up = &self.nodes.as_ref()[nodes[i] as usize];
                    (if left { up.right } else { up.left }) == nodes[i + 1]
                })
                .map_or(NIL, |i| nodes[i])
        };
        let before = if node.left == NIL {
            ancestor(true)
        } else {
            self.extreme(node.left, false)
        };
        let after = if node.right == NIL {
            ancestor(false)
        } else {
            self.extreme(node.right, true)
        };
        self.around_of(before, at, after)
    }

    /// The leftmost (`leftmost`) or rightmost node of the subtree at `at`.
    fn extreme(&self, mut at: u32, leftmost: bool) -> u32 {
        loop {
            let node = &self.nodes.as_ref()[at as usize];
            let next = if leftmost { node.left } else { node.right };
            if next == NIL {
                return at;
            }
            at = next;
        }
    }

    fn around_of(&self, before: u32, at: u32, after: u32) -> Around {
        let piece_of = |at: u32| self.nodes.as_ref().get(at as usize).map(Node::piece);
        Around {
            before: piece_of(before),
            piece: self.nodes.as_ref()[at as usize].piece(),
            after: piece_of(after),
        }
    }

    /// The lowest place where `fit` is satisfied, with the free piece that holds it.
    pub(super) fn first_fit(&self, fit: &Fit) -> Option<(Piece, usize)> {
        if self.summary(self.root).max_free < fit.count() {
            return None;
        }
        self.first_fit_at(self.root, fit)
    }

    /// The lowest free piece of at least `count` units, found in one descent: go left
    /// whenever the left subtree holds such a piece, else take this node if it is one,
    /// else go right (which then must hold one). Leaves `path` (which must be empty)
    /// at the piece found.
    pub(super) fn first_long_enough(&self, count: usize, path: &mut Path) -> Option<Piece> {
        if self.summary(self.root).max_free < count {
            return None;
        }
        let mut at = self.root;
        for (slot, len) in path.nodes.iter_mut().zip(1..) {
            let node = self.nodes.as_ref().get(at as usize)?;
            *slot = at;
            if node.left_max >= count {
                at = node.left;
            } else if node.free && node.len >= count {
                path.len = len;
                return Some(node.piece());
            } else {
                at = node.right;
            }
        }
        None
    }

    /// Calls `f` on every piece in address order.
    pub(super) fn for_each(&self, f: &mut dyn FnMut(Piece)) {
        self.for_each_at(self.root, f);
    }

    /// Searches the subtree at `at`, whose longest free piece the caller has checked
    /// to be at least `fit.count()` units.
    fn first_fit_at(&self, at: u32, fit: &Fit) -> Option<(Piece, usize)> {
        if at == NIL {
            return None;
        }
        let node = &self.nodes.as_ref()[at as usize];
        let piece = node.piece();
        if node.left_max >= fit.count() && fit.may_fit_below(piece.start) {
            if let Some(found) = self.first_fit_at(node.left, fit) {
                return Some(found);
            }
        }
        if piece.free {
            if let Some(offset) = fit.place(piece) {
                return Some((piece, offset));
            }
        }
        if node.right_max >= fit.count() && fit.may_fit_from(piece.end()) {
            return self.first_fit_at(node.right, fit);
        }
        None
    }

    fn for_each_at(&self, at: u32, f: &mut dyn FnMut(Piece)) {
        if at == NIL {
            return;
        }
        let node = &self.nodes.as_ref()[at as usize];
        self.for_each_at(node.left, f);
        f(node.piece());
        self.for_each_at(node.right, f);
    }

    /// The descent from the root towards the piece that starts at `start`, and whether
    /// it is there (if not, the path ends where it would be inserted).
    fn descend(&self, start: usize) -> (Path, bool) {
        let mut path = Path::new();
        let mut at = self.root;
        for (slot, len) in path.nodes.iter_mut().zip(1..) {
            let Some(node) = self.nodes.as_ref().get(at as usize) else {
                break;
            };
            *slot = at;
            path.len = len;
            if start == node.start {
                return (path, true);
            }
            at = if start < node.start {
                node.left
            } else {
                node.right
            };
        }
        (path, false)
    }

    fn path_to(&self, start: usize) -> Option<Path> {
        let (path, found) = self.descend(start);
        found.then_some(path)
    }

    /// Extends `path` from `at` down its left links; returns the leftmost node.
    fn push_leftmost(&self, path: &mut Path, mut at: u32) -> u32 {
        loop {
            path.push(at);
            let left = self.nodes.as_ref()[at as usize].left;
            if left == NIL {
                return at;
            }
            at = left;
        }
    }

    /// Extends `path` from `at` down its right links; returns the rightmost node.
    fn push_rightmost(&self, path: &mut Path, mut at: u32) -> u32 {
        loop {
            path.push(at);
            let right = self.nodes.as_ref()[at as usize].right;
            if right == NIL {
                return at;
            }
            at = right;
        }
    }

    fn write(&mut self, at: u32, piece: Piece) {
        let node = &mut self.nodes.as_mut()[at as usize];
        node.start = piece.start;
        node.len = piece.len;
        node.free = piece.free;
    }

    /// Unlinks the last node of `path`, which has at most one child, and refreshes the
    /// path above it; `dirty` is the index in `path` of a node whose piece changed.
    fn splice(&mut self, path: &Path, dirty: Option<usize>) {
        let nodes = path.nodes();
        let Some((&at, above)) = nodes.split_last() else {
            return;
        };
        let node = self.nodes.as_ref()[at as usize];
        let (child, summary) = if node.left == NIL {
            (node.right, node.right_summary())
        } else {
            (node.left, node.left_summary())
        };
        match above.last() {
            None => self.root = child,
            Some(&parent) => {
                let parent = &mut self.nodes.as_mut()[parent as usize];
                if parent.left == at {
                    parent.set_left(child, summary);
                } else {
                    parent.set_right(child, summary);
                }
            }
        }
        self.give_spare(at);
        self.fix(above, dirty);
    }

    /// Restores balance and the parents' view of their children along `path` (root
    /// first), bottom-up, after its last node changed (its piece, or a link the caller
    /// set together with its summary). `dirty` is the index of a node higher up whose
    /// piece also changed, if any.
    ///
    /// Each parent stores its children's summaries, so once the new summary of a
    /// subtree equals what its parent has stored (and the link is unchanged), nothing
    /// above can change except the dirty node: the climb jumps to it or stops.
    ///
    /// Every change ends here, so this is also where the remembered path goes stale.
    /// Returns whether no rotation happened: then `path` still leads from the root to
    /// its last node.
    fn fix(&mut self, path: &[u32], dirty: Option<usize>) -> bool {
        self.recent.len = 0;
        let Some(mut i) = path.len().checked_sub(1) else {
            return true;
        };
        let mut old = path[i];
        let mut top = self.rebalance(old);
        let mut kept = top == old;
        let mut summary = self.nodes.as_ref()[top as usize].summary();
        while let Some(up) = i.checked_sub(1) {
            let at = path[up];
            let parent = &mut self.nodes.as_mut()[at as usize];
            let left = parent.left == old;
            let stored = if left {
                parent.left_summary()
            } else {
                parent.right_summary()
            };
            if top == old && stored == summary {
                // Nothing changes at `parent` or above, unless a dirty node is there.
                i = match dirty {
                    Some(d) if d <= up => d,
                    _ => return kept,
                };
                old = path[i];
                top = self.rebalance(old);
                kept &= top == old;
                summary = self.nodes.as_ref()[top as usize].summary();
                continue;
            }
            if left {
                parent.set_left(top, summary);
            } else {
                parent.set_right(top, summary);
            }
            (i, old) = (up, at);
            if parent.left_height.abs_diff(parent.right_height) <= 1 {
                (top, summary) = (at, parent.summary());
            } else {
                top = self.rotate_to_balance(at);
                kept = false;
                summary = self.nodes.as_ref()[top as usize].summary();
            }
        }
        self.root = top;
        kept
    }

    fn take_spare(&mut self) -> Option<u32> {
        let node = self.spare_head;
        if node == NIL {
            return None;
        }
        self.spare_head = self.nodes.as_ref()[node as usize].right;
        self.spare -= 1;
        Some(node)
    }

    fn give_spare(&mut self, node: u32) {
        self.nodes.as_mut()[node as usize] = Node {
            right: self.spare_head,
            ..SPARE
        };
        self.spare_head = node;
        self.spare += 1;
    }

    fn summary(&self, at: u32) -> Summary {
        if at == NIL {
            EMPTY
        } else {
            self.nodes.as_ref()[at as usize].summary()
        }
    }

    fn rotate_right(&mut self, at: u32) -> u32 {
        let left = self.nodes.as_ref()[at as usize].left;
        let pivot = self.nodes.as_ref()[left as usize];
        let node = &mut self.nodes.as_mut()[at as usize];
        node.set_left(pivot.right, pivot.right_summary());
        let summary = node.summary();
        self.nodes.as_mut()[left as usize].set_right(at, summary);
        left
    }

    fn rotate_left(&mut self, at: u32) -> u32 {
        let right = self.nodes.as_ref()[at as usize].right;
        let pivot = self.nodes.as_ref()[right as usize];
        let node = &mut self.nodes.as_mut()[at as usize];
        node.set_right(pivot.left, pivot.left_summary());
        let summary = node.summary();
        self.nodes.as_mut()[right as usize].set_left(at, summary);
        right
    }

    /// Restores the AVL balance of `at` (children already balanced, heights differing
    /// by at most 2) and returns the subtree's new root.
    fn rebalance(&mut self, at: u32) -> u32 {
        let node = &self.nodes.as_ref()[at as usize];
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
        let node = self.nodes.as_ref()[at as usize];
        let (hl, hr) = (node.left_height, node.right_height);
        if hl > hr + 1 {
            let inner = self.nodes.as_ref()[node.left as usize];
            if inner.left_height < inner.right_height {
                let top = self.rotate_left(node.left);
                let summary = self.nodes.as_ref()[top as usize].summary();
                self.nodes.as_mut()[at as usize].set_left(top, summary);
            }
            return self.rotate_right(at);
        }
        if hr > hl + 1 {
            let inner = self.nodes.as_ref()[node.right as usize];
            if inner.right_height < inner.left_height {
                let top = self.rotate_right(node.right);
                let summary = self.nodes.as_ref()[top as usize].summary();
                self.nodes.as_mut()[at as usize].set_right(top, summary);
            }
            return self.rotate_left(at);
        }
        at
    }
}

#[cfg(test)]
impl<S: AsRef<[Node]> + AsMut<[Node]>> PieceTree<S> {
    /// Checks order, AVL balance, stored heights and augmentation; returns the pieces
    /// in order and the tree height.
    pub(super) fn check(&self) -> Result<(Vec<Piece>, u8), alloc::string::String> {
        let mut pieces = Vec::new();
        let height = self.check_at(self.root, &mut pieces)?.0;
        if pieces.windows(2).any(|w| w[0].start >= w[1].start) {
            return Err(alloc::format!("pieces out of order: {pieces:?}"));
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

    fn check_at(
        &self,
        at: u32,
        out: &mut Vec<Piece>,
    ) -> Result<(u8, usize), alloc::string::String> {
        if at == NIL {
            return Ok((0, 0));
        }
        let node = self.nodes.as_ref()[at as usize];
        let (hl, ml) = self.check_at(node.left, out)?;
        out.push(node.piece());
        let (hr, mr) = self.check_at(node.right, out)?;
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
        Ok((1 + hl.max(hr), node.free_len().max(ml).max(mr)))
    }
}

#[cfg(test)]
mod tests {
    use super::{Path, Piece, PieceTree};

    fn piece(start: usize, len: usize, free: bool) -> Piece {
        Piece { start, len, free }
    }

    #[test]
    fn stays_balanced_and_augmented_under_churn() {
        let mut tree = PieceTree::with_nodes(512).unwrap();
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut present = alloc::vec::Vec::new();
        for step in 0..4000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let key = (state % 1000) as usize * 10;
            if present.contains(&key) {
                tree.remove(key);
                present.retain(|&k| k != key);
            } else if tree.insert(piece(key, 1 + key % 7, step % 3 != 0)) {
                present.push(key);
            }
            let (pieces, height) = tree.check().unwrap();
            assert_eq!(pieces.len(), present.len());
            // AVL: height < 1.45 log2(n + 2).
            let bound = 1.45 * ((pieces.len() + 2) as f64).log2();
            assert!(
                f64::from(height) < bound,
                "height {height} for {} nodes",
                pieces.len()
            );
            let want = pieces.iter().map(|p| p.free_len()).max().unwrap_or(0);
            assert_eq!(tree.largest_free(), want);
        }
    }

    #[test]
    fn refuses_insert_when_full_and_reuses_removed_nodes() {
        let mut tree = PieceTree::with_nodes(2).unwrap();
        assert!(tree.insert(piece(0, 1, true)));
        assert!(tree.insert(piece(1, 1, false)));
        assert!(!tree.insert(piece(2, 1, true)));
        assert_eq!(tree.check().unwrap().0.len(), 2);
        tree.remove(0);
        assert_eq!(tree.spare(), 1);
        assert!(tree.insert(piece(2, 5, true)));
        assert_eq!(tree.largest_free(), 5);
        assert_eq!(tree.containing(1), Some(piece(1, 1, false)));
        assert_eq!(tree.containing(9), Some(piece(2, 5, true)));
        assert_eq!(tree.containing(0), None);
    }

    #[test]
    fn update_refreshes_the_augmentation() {
        let mut tree = PieceTree::with_nodes(8).unwrap();
        for i in 0..8 {
            assert!(tree.insert(piece(i * 10, 10, i % 2 == 0)));
        }
        assert_eq!(tree.largest_free(), 10);
        tree.update(70, 10, true);
        tree.update(60, 3, true);
        assert_eq!(tree.largest_free(), 10);
        tree.update(0, 1, false);
        tree.update(20, 1, false);
        tree.update(40, 1, false);
        tree.update(70, 2, true);
        assert_eq!(tree.largest_free(), 3);
        tree.check().unwrap();
    }

    #[test]
    fn split_and_merge_next_match_a_list_of_pieces() {
        let mut tree = PieceTree::with_nodes(300).unwrap();
        assert!(tree.insert(piece(0, 1000, true)));
        let mut model = alloc::vec![piece(0, 1000, true)];
        let mut state = 0x2545_F491_4F6C_DD1D_u64;
        for _ in 0..5000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let i = usize::try_from(state % model.len() as u64).unwrap_or(0);
            let p = model[i];
            let cut = usize::try_from((state >> 20) % 1000).unwrap_or(0);
            if p.len > 1 && model.len() < 300 && (state >> 40) % 3 != 0 {
                let len = 1 + cut % (p.len - 1);
                let next = piece(p.start + len, p.len - len, (state >> 50) % 2 == 0);
                let free = (state >> 51) % 2 == 0;
                assert!(tree.split(p.start, len, free, next));
                model[i] = piece(p.start, len, free);
                model.insert(i + 1, next);
            } else if i + 1 < model.len() {
                let merged = piece(p.start, p.len + model[i + 1].len, (state >> 52) % 2 == 0);
                tree.merge_next(merged);
                model[i] = merged;
                model.remove(i + 1);
            }
            let (pieces, _) = tree.check().unwrap();
            assert_eq!(pieces, model);
            let want = model.iter().map(|p| p.free_len()).max().unwrap_or(0);
            assert_eq!(tree.largest_free(), want);
            let first = model.iter().find(|p| p.free && p.len >= 7).copied();
            assert_eq!(tree.first_long_enough(7, &mut Path::new()), first);
            let mut path = Path::new();
            let around = tree.around(model[i].start, &mut path).unwrap();
            assert_eq!(around.piece, model[i]);
            let stepped = tree.step_back(&mut path);
            assert_eq!(stepped, i > 0);
            let at = tree.nodes[path.last() as usize].piece();
            assert_eq!(at, model[i.saturating_sub(1)]);
        }
    }

    #[cfg(target_pointer_width = "64")]
    #[test]
    fn nodes_pack_into_forty_eight_bytes() {
        assert_eq!(core::mem::size_of::<super::Node>(), 48);
    }

    #[test]
    fn around_finds_both_neighbours() {
        let mut tree = PieceTree::with_nodes(64).unwrap();
        for i in 0..40 {
            assert!(tree.insert(piece(i * 3, 3, i % 3 == 0)));
        }
        for offset in 0..120 {
            let around = tree.around(offset, &mut Path::new()).unwrap();
            let i = offset / 3;
            assert_eq!(around.piece, piece(i * 3, 3, i % 3 == 0));
            let before = i.checked_sub(1).map(|j| piece(j * 3, 3, j % 3 == 0));
            let after = (i + 1 < 40).then(|| piece(i * 3 + 3, 3, (i + 1) % 3 == 0));
            assert_eq!(
                (around.before, around.after),
                (before, after),
                "offset {offset}"
            );
        }
        tree.remove(0);
        assert_eq!(tree.around(2, &mut Path::new()), None);
        assert_eq!(tree.around(3, &mut Path::new()).unwrap().before, None);
    }

    #[test]
    fn zero_nodes_is_an_empty_tree() {
        let mut tree = PieceTree::with_nodes(0).unwrap();
        assert_eq!(tree.metadata_bytes(), 0);
        assert!(!tree.insert(piece(0, 1, true)));
        assert_eq!(tree.containing(0), None);
        assert_eq!(tree.largest_free(), 0);
    }
}
