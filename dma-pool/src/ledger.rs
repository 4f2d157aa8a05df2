//! The record of one source's live buffers: who owns each and its exact size.
//!
//! This module owns [`Ledger`]: a fixed-capacity, address-ordered map from a buffer's
//! physical base to its [`Record`], kept as an AVL tree in an arena sized once at
//! setup. Insert, remove and look-up are `O(log n)` and move no other record; insert
//! refuses a buffer that overlaps a live neighbour on either side, so a source (or a
//! custom backend behind it) that hands out memory twice is caught before anyone
//! writes to it. Each pool, CMA region and system allocator of a registry has its own
//! ledger under its own lock. It must never allocate after construction.
#![forbid(unsafe_code)]

use alloc::collections::TryReserveError;
use alloc::vec::Vec;

use crate::DeviceId;
use crate::cma::fallible::try_push;
use crate::cma::{PhysAddr, PhysRange};

/// What the registry knows of one live buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    /// Exact size in bytes.
    pub(crate) size: usize,
    /// The device it was allocated for (`None`: no device).
    pub(crate) owner: Option<DeviceId>,
}

/// Why a buffer could not be recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Every slot is in use.
    Full,
    /// It overlaps this live buffer.
    Overlaps(PhysRange),
}

const NIL: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
struct Node {
    base: PhysAddr,
    record: Record,
    left: u32,
    right: u32,
    height: u8,
}

/// A bounded, ordered record of live buffers (see the module doc).
#[derive(Debug)]
pub(crate) struct Ledger {
    /// The arena; it never grows past the capacity reserved at construction.
    nodes: Vec<Node>,
    capacity: usize,
    root: u32,
    /// Unused nodes, chained through `left`.
    free: u32,
    len: usize,
}

impl Ledger {
    /// Room for `capacity` live buffers (at most `u32::MAX - 1`), reserved now.
    pub(crate) fn try_new(capacity: usize) -> Result<Self, TryReserveError> {
        let capacity = capacity.min(NIL as usize);
        let mut nodes = Vec::new();
        nodes.try_reserve_exact(capacity)?;
        Ok(Self {
            nodes,
            capacity,
            root: NIL,
            free: NIL,
            len: 0,
        })
    }

    pub(crate) const fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) const fn len(&self) -> usize {
        self.len
    }

    /// Records a buffer of `record.size` bytes (at least one) at `base`.
    pub(crate) fn insert(&mut self, base: PhysAddr, record: Record) -> Result<(), Refused> {
        let range = PhysRange::new(base, record.size.max(1)).map_err(|_| Refused::Full)?;
        let before = self.last_at_or_before(base);
        let after = self.first_after(base);
        for (b, r) in [before, after].into_iter().flatten() {
            let live = PhysRange::new(b, r.size.max(1)).map_err(|_| Refused::Full)?;
            if live.overlaps(&range) {
                return Err(Refused::Overlaps(live));
            }
        }
        let node = self.new_node(base, record)?;
        self.root = self.insert_at(self.root, node);
        self.len += 1;
        Ok(())
    }

    /// The record of the buffer starting at `base`.
    pub(crate) fn get(&self, base: PhysAddr) -> Option<Record> {
        let mut at = self.root;
        while let Some(n) = self.node(at) {
            at = match base.cmp(&n.base) {
                core::cmp::Ordering::Less => n.left,
                core::cmp::Ordering::Greater => n.right,
                core::cmp::Ordering::Equal => return Some(n.record),
            };
        }
        None
    }

    /// The live buffer whose bytes include `addr`, if any.
    pub(crate) fn covering(&self, addr: PhysAddr) -> Option<PhysRange> {
        let (base, record) = self.last_at_or_before(addr)?;
        let range = PhysRange::new(base, record.size.max(1)).ok()?;
        range.contains(addr).then_some(range)
    }

    /// Forgets the buffer at `base` and returns its record.
    pub(crate) fn remove(&mut self, base: PhysAddr) -> Option<Record> {
        let record = self.get(base)?;
        let (root, removed) = self.remove_at(self.root, base);
        self.root = root;
        if removed != NIL {
            self.release_node(removed);
            self.len -= 1;
        }
        Some(record)
    }

    fn last_at_or_before(&self, addr: PhysAddr) -> Option<(PhysAddr, Record)> {
        let mut best = None;
        let mut at = self.root;
        while let Some(n) = self.node(at) {
            if n.base <= addr {
                best = Some((n.base, n.record));
                at = n.right;
            } else {
                at = n.left;
            }
        }
        best
    }

    fn first_after(&self, addr: PhysAddr) -> Option<(PhysAddr, Record)> {
        let mut best = None;
        let mut at = self.root;
        while let Some(n) = self.node(at) {
            if n.base > addr {
                best = Some((n.base, n.record));
                at = n.left;
            } else {
                at = n.right;
            }
        }
        best
    }

    fn node(&self, at: u32) -> Option<&Node> {
        self.nodes.get(at as usize)
    }

    fn new_node(&mut self, base: PhysAddr, record: Record) -> Result<u32, Refused> {
        let node = Node {
            base,
            record,
            left: NIL,
            right: NIL,
            height: 1,
        };
        if let Some(slot) = self.nodes.get_mut(self.free as usize) {
            let at = self.free;
            self.free = slot.left;
            *slot = node;
            return Ok(at);
        }
        if self.nodes.len() >= self.capacity {
            return Err(Refused::Full);
        }
        let at = u32::try_from(self.nodes.len()).map_err(|_| Refused::Full)?;
        // Within the capacity reserved at construction: never reallocates.
        try_push(&mut self.nodes, node, "ledger nodes").map_err(|_| Refused::Full)?;
        Ok(at)
    }

    fn release_node(&mut self, at: u32) {
        let free = self.free;
        if let Some(n) = self.nodes.get_mut(at as usize) {
            n.left = free;
            n.right = NIL;
            self.free = at;
        }
    }

    fn height(&self, at: u32) -> i32 {
        self.node(at).map_or(0, |n| i32::from(n.height))
    }

    fn links(&self, at: u32) -> (u32, u32) {
        self.node(at).map_or((NIL, NIL), |n| (n.left, n.right))
    }

    fn set_links(&mut self, at: u32, left: u32, right: u32) {
        let height = 1 + self.height(left).max(self.height(right));
        if let Some(n) = self.nodes.get_mut(at as usize) {
            n.left = left;
            n.right = right;
            // An AVL tree of at most 2^32 nodes is at most 46 high.
            n.height = u8::try_from(height).unwrap_or(u8::MAX);
        }
    }

    /// Restores the AVL balance at `at` after one of its subtrees changed height by
    /// one; returns the subtree's new root.
    fn rebalance(&mut self, at: u32) -> u32 {
        let (left, right) = self.links(at);
        let balance = self.height(left) - self.height(right);
        if balance > 1 {
            let (ll, lr) = self.links(left);
            if self.height(lr) > self.height(ll) {
                let left = self.rotate_left(left);
                self.set_links(at, left, right);
            }
            return self.rotate_right(at);
        }
        if balance < -1 {
            let (rl, rr) = self.links(right);
            if self.height(rl) > self.height(rr) {
                let right = self.rotate_right(right);
                self.set_links(at, left, right);
            }
            return self.rotate_left(at);
        }
        self.set_links(at, left, right);
        at
    }

    fn rotate_right(&mut self, at: u32) -> u32 {
        let (pivot, right) = self.links(at);
        let (pl, pr) = self.links(pivot);
        self.set_links(at, pr, right);
        self.set_links(pivot, pl, at);
        pivot
    }

    fn rotate_left(&mut self, at: u32) -> u32 {
        let (left, pivot) = self.links(at);
        let (pl, pr) = self.links(pivot);
        self.set_links(at, left, pl);
        self.set_links(pivot, at, pr);
        pivot
    }

    fn insert_at(&mut self, at: u32, new: u32) -> u32 {
        let (Some(here), Some(added)) = (self.node(at), self.node(new)) else {
            return new;
        };
        let (left, right) = (here.left, here.right);
        if added.base < here.base {
            let left = self.insert_at(left, new);
            self.set_links(at, left, right);
        } else {
            let right = self.insert_at(right, new);
            self.set_links(at, left, right);
        }
        self.rebalance(at)
    }

    /// Removes the node with `base` from the subtree at `at`; returns the subtree's
    /// new root and the unlinked node (`NIL` if absent).
    fn remove_at(&mut self, at: u32, base: PhysAddr) -> (u32, u32) {
        let Some(here) = self.node(at) else {
            return (NIL, NIL);
        };
        let (left, right) = (here.left, here.right);
        match base.cmp(&here.base) {
            core::cmp::Ordering::Less => {
                let (left, removed) = self.remove_at(left, base);
                self.set_links(at, left, right);
                (self.rebalance(at), removed)
            }
            core::cmp::Ordering::Greater => {
                let (right, removed) = self.remove_at(right, base);
                self.set_links(at, left, right);
                (self.rebalance(at), removed)
            }
            core::cmp::Ordering::Equal => {
                if left == NIL {
                    return (right, at);
                }
                if right == NIL {
                    return (left, at);
                }
                let (right, successor) = self.remove_min(right);
                self.set_links(successor, left, right);
                (self.rebalance(successor), at)
            }
        }
    }

    /// Unlinks the smallest node of the subtree at `at` (not `NIL`); returns the
    /// subtree's new root and that node.
    fn remove_min(&mut self, at: u32) -> (u32, u32) {
        let (left, right) = self.links(at);
        if left == NIL {
            return (right, at);
        }
        let (left, min) = self.remove_min(left);
        self.set_links(at, left, right);
        (self.rebalance(at), min)
    }

    #[cfg(all(test, not(loom)))]
    fn check(&self, at: u32) -> i32 {
        let Some(n) = self.node(at) else { return 0 };
        let (l, r) = (self.check(n.left), self.check(n.right));
        assert!((l - r).abs() <= 1, "unbalanced at {:?}", n.base);
        assert_eq!(i32::from(n.height), 1 + l.max(r));
        if let Some(left) = self.node(n.left) {
            assert!(left.base < n.base);
        }
        if let Some(right) = self.node(n.right) {
            assert!(right.base > n.base);
        }
        1 + l.max(r)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use quickcheck::{QuickCheck, TestResult};
    use std::collections::BTreeMap;

    fn rec(size: usize) -> Record {
        Record { size, owner: None }
    }

    fn at(a: u64) -> PhysAddr {
        PhysAddr::new(a)
    }

    #[test]
    fn neighbours_on_both_sides_are_checked() {
        let mut l = Ledger::try_new(4).unwrap();
        l.insert(at(0x1000), rec(0x100)).unwrap();
        l.insert(at(0x3000), rec(0x100)).unwrap();
        let first = PhysRange::new(at(0x1000), 0x100).unwrap();
        let second = PhysRange::new(at(0x3000), 0x100).unwrap();
        assert_eq!(l.insert(at(0x10ff), rec(1)), Err(Refused::Overlaps(first)));
        assert_eq!(l.insert(at(0x1000), rec(1)), Err(Refused::Overlaps(first)));
        assert_eq!(
            l.insert(at(0x0f00), rec(0x101)),
            Err(Refused::Overlaps(first))
        );
        assert_eq!(
            l.insert(at(0x2000), rec(0x1001)),
            Err(Refused::Overlaps(second))
        );
        l.insert(at(0x1100), rec(0x1f00)).unwrap(); // touches both, overlaps neither
        assert_eq!(l.covering(at(0x30ff)), Some(second));
        assert_eq!(l.covering(at(0x3100)), None);
        assert_eq!(l.len(), 3);
        l.insert(at(0), rec(0x1000)).unwrap();
        assert_eq!(l.insert(at(0x9000), rec(1)), Err(Refused::Full));
        assert_eq!(l.remove(at(0x1100)), Some(rec(0x1f00)));
        assert_eq!(l.remove(at(0x1100)), None);
        l.insert(at(0x9000), rec(1)).unwrap(); // the freed node is reused
        assert_eq!(l.capacity(), 4);
    }

    /// Random inserts and removes against a `BTreeMap` with the same overlap rule;
    /// the tree stays balanced and ordered.
    #[test]
    fn matches_a_btreemap() {
        fn prop(ops: Vec<(bool, u16, u8)>) -> TestResult {
            let mut ledger = Ledger::try_new(64).unwrap();
            let mut model: BTreeMap<u64, usize> = BTreeMap::new();
            for (insert, base, size) in ops {
                let (base, size) = (u64::from(base) * 4, usize::from(size) + 1);
                if insert {
                    let overlaps = model
                        .iter()
                        .any(|(&b, &s)| b < base + size as u64 && base < b + s as u64);
                    let got = ledger.insert(at(base), rec(size));
                    match got {
                        Ok(()) => {
                            assert!(!overlaps && model.len() < 64);
                            model.insert(base, size);
                        }
                        Err(Refused::Full) => assert!(!overlaps && model.len() == 64),
                        Err(Refused::Overlaps(live)) => {
                            assert!(overlaps);
                            let b = live.base().as_u64();
                            assert_eq!(model.get(&b), Some(&live.size()));
                        }
                    }
                } else {
                    let key = model.range(..=base).next_back().map(|(&b, _)| b);
                    let key = key.unwrap_or(base);
                    let expected = model.remove(&key).map(rec);
                    assert_eq!(ledger.remove(at(key)), expected);
                }
                assert_eq!(ledger.len(), model.len());
                ledger.check(ledger.root);
            }
            for (&b, &s) in &model {
                assert_eq!(ledger.get(at(b)), Some(rec(s)));
            }
            TestResult::passed()
        }
        // Miri checks the arena code paths, not the search: a few cases.
        QuickCheck::new()
            .tests(if cfg!(miri) { 5 } else { 300 })
            .quickcheck(prop as fn(Vec<(bool, u16, u8)>) -> TestResult);
    }
}
