//! One chunk of a [`GenPool`](super::GenPool): a CPU address range, its optional
//! physical address, its owner, and the occupancy map of its granules.
//!
//! This module owns the translation between addresses and granule indices inside one
//! chunk and the chunk's free-granule counter. It never decides where an allocation
//! goes (that is [`algorithm`](super::algorithm)) and never touches other chunks.
#![forbid(unsafe_code)]

use super::bits::{Bitmap, FreeError};
use super::sync::{AtomicUsize, Ordering};
use crate::fallible::OutOfMemory;

/// A chunk: `size` bytes at CPU address `virt`, in granules of `1 << order` bytes.
pub(crate) struct Chunk<O> {
    virt: usize,
    phys: Option<u64>,
    size: usize,
    order: u32,
    map: Bitmap,
    /// Free granules; exact whenever no claim or free is in flight.
    avail: AtomicUsize,
    owner: O,
}

impl<O> Chunk<O> {
    /// A free chunk. The caller has checked that `virt` and `size` are multiples of the
    /// granule, `size > 0`, and that neither address range wraps.
    pub(crate) fn new(
        virt: usize,
        phys: Option<u64>,
        size: usize,
        order: u32,
        owner: O,
    ) -> Result<Self, OutOfMemory> {
        let units = size >> order;
        Ok(Self {
            virt,
            phys,
            size,
            order,
            map: Bitmap::new(units)?,
            avail: AtomicUsize::new(units),
            owner,
        })
    }

    /// CPU address of the first byte.
    pub(crate) const fn virt(&self) -> usize {
        self.virt
    }

    /// Physical address of the first byte, if one was given.
    pub(crate) const fn phys(&self) -> Option<u64> {
        self.phys
    }

    /// Bytes in the chunk.
    pub(crate) const fn size(&self) -> usize {
        self.size
    }

    /// The owner given when the chunk was added.
    pub(crate) const fn owner(&self) -> &O {
        &self.owner
    }

    /// The occupancy map.
    pub(crate) const fn map(&self) -> &Bitmap {
        &self.map
    }

    /// Granules in the chunk.
    pub(crate) const fn units(&self) -> usize {
        self.map.units()
    }

    /// Absolute granule index of the chunk's first granule (virt is granule aligned).
    pub(crate) const fn phase(&self) -> usize {
        self.virt >> self.order
    }

    /// Free granules.
    pub(crate) fn avail_units(&self) -> usize {
        self.avail.load(Ordering::Relaxed)
    }

    /// Whether byte address `addr` lies in the chunk.
    pub(crate) const fn contains(&self, addr: usize) -> bool {
        addr >= self.virt && addr - self.virt < self.size
    }

    /// Whether `[virt, virt + size)` shares a byte with this chunk (`size > 0`, no wrap).
    pub(crate) const fn overlaps(&self, virt: usize, size: usize) -> bool {
        virt < self.virt + self.size && self.virt < virt + size
    }

    /// Byte address of granule `unit`.
    pub(crate) const fn addr_of(&self, unit: usize) -> usize {
        self.virt + (unit << self.order)
    }

    /// Records that `units` granules were claimed (after the claim, for the same
    /// reason as in [`free`](Self::free)).
    pub(crate) fn took(&self, units: usize) {
        self.avail.fetch_sub(units, Ordering::Relaxed);
    }

    /// Frees the block of `units` granules at byte address `addr` (inside the chunk).
    pub(crate) fn free(&self, addr: usize, units: usize) -> Result<(), FreeError> {
        let offset = addr - self.virt;
        let unit = offset >> self.order;
        if offset & ((1 << self.order) - 1) != 0 {
            // Not on a granule boundary, so it cannot start a block.
            return Err(if self.map.is_used(unit) {
                FreeError::NotAllocationStart
            } else {
                FreeError::NotAllocated
            });
        }
        // Count the granules free before they are: `avail` may run high for a moment
        // (until a free that is refused takes them back) but never low, so a search
        // never skips a chunk that has room. A block inside one word is freed by the
        // compare-exchange that validates it, so there is no moment in between.
        self.avail.fetch_add(units, Ordering::Relaxed);
        self.map.release(unit, units).inspect_err(|_| {
            self.avail.fetch_sub(units, Ordering::Relaxed);
        })
    }
}
