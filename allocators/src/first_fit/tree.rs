//! The pieces that tile a unit space, in an AVL tree over a fixed arena.
//!
//! A *piece* is a maximal free extent or one live allocation; together they cover the
//! space exactly once. The tree is keyed by start offset and every node carries the
//! length of the longest free piece in its subtree, so [`PieceTree::first_fit`] can
//! skip whole subtrees that cannot hold a request.
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

    const fn free_len(&self) -> usize {
        if self.free { self.len } else { 0 }
    }
}

/// One arena slot. The piece's fields are stored flat (not as a `Piece`) so the node
/// packs into 40 bytes on 64-bit targets instead of 48.
#[derive(Clone, Copy, Debug)]
struct Node {
    start: usize,
    len: usize,
    /// Longest free piece in this node's subtree.
    max_free: usize,
    left: u32,
    /// Next spare node while this node is on the spare list.
    right: u32,
    height: u8,
    free: bool,
}

impl Node {
    const fn piece(&self) -> Piece {
        Piece {
            start: self.start,
            len: self.len,
            free: self.free,
        }
    }
}

const SPARE: Node = Node {
    start: 0,
    len: 0,
    max_free: 0,
    left: NIL,
    right: NIL,
    height: 0,
    free: false,
};

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

/// An AVL tree of [`Piece`]s keyed by start, over a preallocated arena.
#[derive(Clone, Debug)]
pub(super) struct PieceTree {
    nodes: Vec<Node>,
    root: u32,
    spare_head: u32,
    spare: usize,
}

impl PieceTree {
    /// An empty tree able to hold `count` pieces (at most [`MAX_NODES`]); the only
    /// allocation the tree ever makes.
    pub(super) fn with_nodes(count: usize) -> Self {
        let count = count.min(MAX_NODES);
        let mut nodes = Vec::with_capacity(count);
        for next in 1..=count {
            let right = u32::try_from(next).ok().filter(|&n| (n as usize) < count);
            nodes.push(Node {
                right: right.unwrap_or(NIL),
                ..SPARE
            });
        }
        Self {
            nodes,
            root: NIL,
            spare_head: if count == 0 { NIL } else { 0 },
            spare: count,
        }
    }

    /// Bytes of the arena, fixed at construction.
    pub(super) fn metadata_bytes(&self) -> usize {
        self.nodes.len() * core::mem::size_of::<Node>()
    }

    /// Nodes still available for [`insert`](Self::insert).
    pub(super) const fn spare(&self) -> usize {
        self.spare
    }

    /// Length of the longest free piece (0 when none).
    pub(super) fn largest_free(&self) -> usize {
        self.max_free(self.root)
    }

    /// The piece with the greatest start `<= offset`: the one containing `offset` when
    /// the pieces tile the space and `offset` lies inside it.
    pub(super) fn containing(&self, offset: usize) -> Option<Piece> {
        let mut at = self.root;
        let mut best = None;
        while at != NIL {
            let node = &self.nodes[at as usize];
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
    /// changes nothing when no spare node is left.
    pub(super) fn insert(&mut self, piece: Piece) -> bool {
        let Some(node) = self.take_spare() else {
            return false;
        };
        self.nodes[node as usize] = Node {
            start: piece.start,
            len: piece.len,
            max_free: piece.free_len(),
            left: NIL,
            right: NIL,
            height: 1,
            free: piece.free,
        };
        self.root = self.insert_at(self.root, node, piece.start);
        true
    }

    /// Removes the piece that starts at `start` (nothing happens if there is none).
    pub(super) fn remove(&mut self, start: usize) {
        self.root = self.remove_at(self.root, start);
    }

    /// Gives the piece that starts at `start` a new length and state. The caller keeps
    /// the pieces disjoint, so the key order is unchanged and only the augmentation on
    /// the path to it needs refreshing.
    pub(super) fn update(&mut self, start: usize, len: usize, free: bool) {
        self.update_at(self.root, start, len, free);
    }

    /// The piece containing `offset` (the one with the greatest start `<= offset`) and
    /// the pieces right before and after it, found in one descent.
    pub(super) fn around(&self, offset: usize) -> Option<Around> {
        let (mut at, mut containing, mut before, mut after) = (self.root, NIL, NIL, NIL);
        while at != NIL {
            let node = &self.nodes[at as usize];
            if node.start <= offset {
                before = containing;
                containing = at;
                at = node.right;
            } else {
                // The last left turn is the smallest start above `offset`: the successor.
                after = at;
                at = node.left;
            }
        }
        if containing == NIL {
            return None;
        }
        // The predecessor is the rightmost node of the left subtree when there is one,
        // else the previous right turn of the descent.
        let mut below = self.nodes[containing as usize].left;
        while below != NIL {
            before = below;
            below = self.nodes[below as usize].right;
        }
        let piece_of = |at: u32| (at != NIL).then(|| self.nodes[at as usize].piece());
        Some(Around {
            before: piece_of(before),
            piece: self.nodes[containing as usize].piece(),
            after: piece_of(after),
        })
    }

    /// The lowest place where `fit` is satisfied, with the free piece that holds it.
    pub(super) fn first_fit(&self, fit: &Fit) -> Option<(Piece, usize)> {
        self.first_fit_at(self.root, fit)
    }

    /// Calls `f` on every piece in address order.
    pub(super) fn for_each(&self, f: &mut dyn FnMut(Piece)) {
        self.for_each_at(self.root, f);
    }

    fn first_fit_at(&self, at: u32, fit: &Fit) -> Option<(Piece, usize)> {
        if at == NIL {
            return None;
        }
        let node = &self.nodes[at as usize];
        if node.max_free < fit.count() {
            return None;
        }
        let piece = node.piece();
        if fit.may_fit_below(piece.start) {
            if let Some(found) = self.first_fit_at(node.left, fit) {
                return Some(found);
            }
        }
        if piece.free {
            if let Some(offset) = fit.place(piece) {
                return Some((piece, offset));
            }
        }
        if fit.may_fit_from(piece.end()) {
            return self.first_fit_at(node.right, fit);
        }
        None
    }

    fn for_each_at(&self, at: u32, f: &mut dyn FnMut(Piece)) {
        if at == NIL {
            return;
        }
        let node = &self.nodes[at as usize];
        self.for_each_at(node.left, f);
        f(node.piece());
        self.for_each_at(node.right, f);
    }

    fn take_spare(&mut self) -> Option<u32> {
        let node = self.spare_head;
        if node == NIL {
            return None;
        }
        self.spare_head = self.nodes[node as usize].right;
        self.spare -= 1;
        Some(node)
    }

    fn give_spare(&mut self, node: u32) {
        self.nodes[node as usize] = Node {
            right: self.spare_head,
            ..SPARE
        };
        self.spare_head = node;
        self.spare += 1;
    }

    fn height(&self, at: u32) -> u8 {
        if at == NIL {
            0
        } else {
            self.nodes[at as usize].height
        }
    }

    fn max_free(&self, at: u32) -> usize {
        if at == NIL {
            0
        } else {
            self.nodes[at as usize].max_free
        }
    }

    /// Recomputes the height and augmentation of `at` from its children.
    fn pull(&mut self, at: u32) {
        let node = self.nodes[at as usize];
        let (piece, left, right) = (node.piece(), node.left, node.right);
        let height = 1 + self.height(left).max(self.height(right));
        let max_free = piece
            .free_len()
            .max(self.max_free(left))
            .max(self.max_free(right));
        let node = &mut self.nodes[at as usize];
        node.height = height;
        node.max_free = max_free;
    }

    fn rotate_right(&mut self, at: u32) -> u32 {
        let left = self.nodes[at as usize].left;
        self.nodes[at as usize].left = self.nodes[left as usize].right;
        self.nodes[left as usize].right = at;
        self.pull(at);
        self.pull(left);
        left
    }

    fn rotate_left(&mut self, at: u32) -> u32 {
        let right = self.nodes[at as usize].right;
        self.nodes[at as usize].right = self.nodes[right as usize].left;
        self.nodes[right as usize].left = at;
        self.pull(at);
        self.pull(right);
        right
    }

    /// Restores the AVL balance of `at` (children already balanced, heights differing
    /// by at most 2) and returns the subtree's new root.
    fn rebalance(&mut self, at: u32) -> u32 {
        self.pull(at);
        let Node { left, right, .. } = self.nodes[at as usize];
        let (hl, hr) = (self.height(left), self.height(right));
        if hl > hr + 1 {
            let inner = self.nodes[left as usize];
            if self.height(inner.left) < self.height(inner.right) {
                self.nodes[at as usize].left = self.rotate_left(left);
            }
            return self.rotate_right(at);
        }
        if hr > hl + 1 {
            let inner = self.nodes[right as usize];
            if self.height(inner.right) < self.height(inner.left) {
                self.nodes[at as usize].right = self.rotate_right(right);
            }
            return self.rotate_left(at);
        }
        at
    }

    /// What `at`'s parent reads from it: which node it is, its height and its longest
    /// free piece.
    fn summary(&self, at: u32) -> (u32, u8, usize) {
        (at, self.height(at), self.max_free(at))
    }

    /// Links `child` under `at` (left or right) after an update below it. When the
    /// child's summary is what it was (`before`), `at` is still balanced and its own
    /// summary unchanged, so the update stops here instead of re-reading every sibling
    /// on the way back to the root.
    fn relink(&mut self, at: u32, left: bool, before: (u32, u8, usize), child: u32) -> u32 {
        let node = &mut self.nodes[at as usize];
        if left {
            node.left = child;
        } else {
            node.right = child;
        }
        if self.summary(child) == before {
            at
        } else {
            self.rebalance(at)
        }
    }

    /// Inserts `node`, whose start is `start`, into the subtree at `at`.
    fn insert_at(&mut self, at: u32, node: u32, start: usize) -> u32 {
        if at == NIL {
            return node;
        }
        let Node {
            start: key,
            left,
            right,
            ..
        } = self.nodes[at as usize];
        let go_left = start < key;
        let child = if go_left { left } else { right };
        let before = self.summary(child);
        let child = self.insert_at(child, node, start);
        self.relink(at, go_left, before, child)
    }

    fn remove_at(&mut self, at: u32, start: usize) -> u32 {
        if at == NIL {
            return NIL;
        }
        let Node {
            start: key,
            left,
            right,
            ..
        } = self.nodes[at as usize];
        if start == key {
            self.give_spare(at);
            if left == NIL {
                return right;
            }
            if right == NIL {
                return left;
            }
            let (rest, successor) = self.take_min(right);
            self.nodes[successor as usize].left = left;
            self.nodes[successor as usize].right = rest;
            return self.rebalance(successor);
        }
        let go_left = start < key;
        let child = if go_left { left } else { right };
        let before = self.summary(child);
        let child = self.remove_at(child, start);
        self.relink(at, go_left, before, child)
    }

    /// Unlinks the leftmost node of the subtree at `at`; returns the subtree's new root
    /// and the unlinked node.
    fn take_min(&mut self, at: u32) -> (u32, u32) {
        let Node { left, right, .. } = self.nodes[at as usize];
        if left == NIL {
            return (right, at);
        }
        let before = self.summary(left);
        let (rest, min) = self.take_min(left);
        (self.relink(at, true, before, rest), min)
    }

    /// Returns whether the longest free piece of the subtree at `at` changed.
    fn update_at(&mut self, at: u32, start: usize, len: usize, free: bool) -> bool {
        if at == NIL {
            return false;
        }
        let Node {
            start: key,
            left,
            right,
            ..
        } = self.nodes[at as usize];
        if start == key {
            let node = &mut self.nodes[at as usize];
            node.len = len;
            node.free = free;
        } else if !self.update_at(if start < key { left } else { right }, start, len, free) {
            return false;
        }
        let before = self.nodes[at as usize].max_free;
        self.pull(at);
        self.nodes[at as usize].max_free != before
    }
}

#[cfg(test)]
impl PieceTree {
    /// Checks order, AVL balance, stored heights and augmentation; returns the pieces
    /// in order and the tree height.
    pub(super) fn check(&self) -> Result<(Vec<Piece>, u8), alloc::string::String> {
        let mut pieces = Vec::new();
        let height = self.check_at(self.root, &mut pieces)?.0;
        if pieces.windows(2).any(|w| w[0].start >= w[1].start) {
            return Err(alloc::format!("pieces out of order: {pieces:?}"));
        }
        if pieces.len() + self.spare != self.nodes.len() {
            return Err(alloc::format!(
                "{} pieces + {} spare != {} nodes",
                pieces.len(),
                self.spare,
                self.nodes.len()
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
        let node = self.nodes[at as usize];
        let (hl, ml) = self.check_at(node.left, out)?;
        out.push(node.piece());
        let (hr, mr) = self.check_at(node.right, out)?;
        let height = 1 + hl.max(hr);
        let max_free = node.piece().free_len().max(ml).max(mr);
        if hl.abs_diff(hr) > 1 || node.height != height || node.max_free != max_free {
            return Err(alloc::format!(
                "node {at} {:?}: heights {hl}/{hr}, stored {} (want {height}), max_free {} (want {max_free})",
                node.piece(),
                node.height,
                node.max_free
            ));
        }
        Ok((height, max_free))
    }
}

#[cfg(test)]
mod tests {
    use super::{Piece, PieceTree};

    fn piece(start: usize, len: usize, free: bool) -> Piece {
        Piece { start, len, free }
    }

    #[test]
    fn stays_balanced_and_augmented_under_churn() {
        let mut tree = PieceTree::with_nodes(512);
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
        let mut tree = PieceTree::with_nodes(2);
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
        let mut tree = PieceTree::with_nodes(8);
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

    #[cfg(target_pointer_width = "64")]
    #[test]
    fn nodes_pack_into_forty_bytes() {
        assert_eq!(core::mem::size_of::<super::Node>(), 40);
    }

    #[test]
    fn around_finds_both_neighbours() {
        let mut tree = PieceTree::with_nodes(64);
        for i in 0..40 {
            assert!(tree.insert(piece(i * 3, 3, i % 3 == 0)));
        }
        for offset in 0..120 {
            let around = tree.around(offset).unwrap();
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
        assert_eq!(tree.around(2), None);
        assert_eq!(tree.around(3).unwrap().before, None);
    }

    #[test]
    fn zero_nodes_is_an_empty_tree() {
        let mut tree = PieceTree::with_nodes(0);
        assert_eq!(tree.metadata_bytes(), 0);
        assert!(!tree.insert(piece(0, 1, true)));
        assert_eq!(tree.containing(0), None);
        assert_eq!(tree.largest_free(), 0);
    }
}
