//! A simple [`EarlyMemory`]: a fixed list of memory banks and reservations.
//!
//! This module owns [`MemoryMap`], the early memory manager for tests, the simulator and
//! small platforms without one of their own. It places bottom-up (lowest fitting
//! address first; Linux memblock defaults to top-down). It must never allocate.
#![forbid(unsafe_code)]

use crate::{EarlyMemory, PhysRange};

/// Up to `N` memory banks and `N` reserved ranges, in fixed arrays.
///
/// ```
/// use contig_cma::{EarlyMemory, MemoryMap, PhysAddr, PhysRange};
/// let r = |b, s| PhysRange::new(PhysAddr::new(b), s).unwrap();
/// let mut mem: MemoryMap<4> = MemoryMap::new();
/// assert!(mem.add_memory(r(0x1000, 0x4000)));
/// assert!(mem.reserve(r(0x1000, 0x1000)));
/// assert!(!mem.reserve(r(0x1800, 0x1000))); // overlaps the first reservation
/// assert_eq!(mem.reserve_within(0x1000, 0x2000, r(0, 0x10000)), Some(r(0x2000, 0x1000)));
/// ```
#[derive(Clone, Debug)]
pub struct MemoryMap<const N: usize> {
    memory: [Option<PhysRange>; N],
    reserved: [Option<PhysRange>; N],
}

impl<const N: usize> Default for MemoryMap<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> MemoryMap<N> {
    /// No memory at all.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            memory: [None; N],
            reserved: [None; N],
        }
    }

    /// Adds a bank of usable memory; `false` when the bank list is full, the range is
    /// empty or it overlaps a bank already there.
    pub fn add_memory(&mut self, range: PhysRange) -> bool {
        if range.is_empty() || self.banks().any(|b| b.overlaps(&range)) {
            return false;
        }
        insert(&mut self.memory, range)
    }

    /// The memory banks, in the order they were added.
    pub fn banks(&self) -> impl Iterator<Item = PhysRange> + '_ {
        self.memory.iter().flatten().copied()
    }

    /// The reserved ranges, in the order they were reserved.
    pub fn reservations(&self) -> impl Iterator<Item = PhysRange> + '_ {
        self.reserved.iter().flatten().copied()
    }

    fn first_reserved_overlap(&self, range: &PhysRange) -> Option<PhysRange> {
        self.reservations().find(|r| r.overlaps(range))
    }

    /// The lowest free aligned run of `size` bytes inside `window`, not reserved yet.
    fn find_in(&self, size: usize, align: usize, window: PhysRange) -> Option<PhysRange> {
        let mut base = window.base().align_up(align)?;
        loop {
            let candidate = PhysRange::new(base, size).ok()?;
            if !window.contains_range(&candidate) {
                return None;
            }
            match self.first_reserved_overlap(&candidate) {
                None => return Some(candidate),
                Some(blocker) => base = blocker.end().align_up(align)?,
            }
        }
    }
}

impl<const N: usize> EarlyMemory for MemoryMap<N> {
    fn reserve(&mut self, range: PhysRange) -> bool {
        let is_memory = self.banks().any(|b| b.contains_range(&range));
        if range.is_empty() || !is_memory || self.first_reserved_overlap(&range).is_some() {
            return false;
        }
        insert(&mut self.reserved, range)
    }

    fn reserve_within(
        &mut self,
        size: usize,
        align: usize,
        within: PhysRange,
    ) -> Option<PhysRange> {
        if size == 0 {
            return None;
        }
        let banks = self.memory;
        let found = banks
            .iter()
            .flatten()
            .filter_map(|bank| bank.intersection(&within))
            .find_map(|window| self.find_in(size, align, window))?;
        self.reserve(found).then_some(found)
    }
}

fn insert<const N: usize>(slots: &mut [Option<PhysRange>; N], range: PhysRange) -> bool {
    match slots.iter_mut().find(|s| s.is_none()) {
        Some(slot) => {
            *slot = Some(range);
            true
        }
        None => false,
    }
}
