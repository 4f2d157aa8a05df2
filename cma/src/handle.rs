//! Handles to allocations: an owning one that frees on drop, and plain data.
//!
//! This module owns [`Allocation`] (RAII: freed when dropped) and [`RawAllocation`]
//! (region index, physical range; for callers that track ownership themselves, e.g.
//! across an FFI boundary). It must never free anything twice on its own: an
//! `Allocation` frees exactly once, and a double free of a `RawAllocation` is refused by
//! the region as an error.
#![forbid(unsafe_code)]

use core::fmt;
use core::mem::ManuallyDrop;

use lock_api::RawMutex;

use crate::{AreaSet, DefaultLock, DmaError, PhysAddr, PhysRange};

/// Which region of an [`AreaSet`] (its index, in the order regions were added).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RegionId(pub(crate) usize);

impl RegionId {
    /// The region added `index`-th (from 0).
    #[must_use]
    pub const fn new(index: usize) -> Self {
        Self(index)
    }

    /// The index.
    #[must_use]
    pub const fn index(self) -> usize {
        self.0
    }
}

/// An allocation as plain data: which region, which bytes (`range.size()` is the size
/// asked for). Copying it does not copy ownership: free it once, through
/// [`AreaSet::free`]; a second free is an error as long as nobody reallocated the
/// same range in between (then it would free theirs, as with any C-style API).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RawAllocation {
    /// The region it came from.
    pub region: RegionId,
    /// Its physical bytes.
    pub range: PhysRange,
}

/// An owned allocation, freed when dropped.
///
/// ```
/// use contig_cma::{AreaSet, Declaration, PhysAddr, Region, Registry, Request};
/// let registry = Registry::with_builtins().unwrap();
/// let spec = Declaration::new("r", 0x4000).backend("first-fit").at(PhysAddr::new(0)).unwrap();
/// let mut area: AreaSet = AreaSet::new();
/// area.add(Region::new(spec, &registry, None).unwrap()).unwrap();
///
/// let a = area.alloc_from_region("r", &Request::new(0x1000)).unwrap();
/// assert_eq!(area.stats("r").unwrap().used_bytes(), 0x1000);
/// drop(a);
/// assert_eq!(area.stats("r").unwrap().used_bytes(), 0);
///
/// let raw = area.alloc_from_region("r", &Request::new(0x1000)).unwrap().into_raw();
/// area.free(raw).unwrap();
/// assert!(area.free(raw).is_err()); // freeing a plain handle twice is an error
/// ```
#[must_use = "dropping an Allocation frees it at once"]
pub struct Allocation<'a, R: RawMutex = DefaultLock> {
    area: &'a AreaSet<R>,
    raw: RawAllocation,
}

impl<'a, R: RawMutex> Allocation<'a, R> {
    /// Takes ownership of `raw`, which must be a live allocation of `area` that nobody
    /// else will free.
    pub const fn from_raw(area: &'a AreaSet<R>, raw: RawAllocation) -> Self {
        Self { area, raw }
    }

    /// The plain data of the allocation.
    #[must_use]
    pub const fn raw(&self) -> RawAllocation {
        self.raw
    }

    /// The physical bytes (exactly the size asked for).
    #[must_use]
    pub const fn range(&self) -> PhysRange {
        self.raw.range
    }

    /// The first byte.
    #[must_use]
    pub const fn addr(&self) -> PhysAddr {
        self.raw.range.base()
    }

    /// The size asked for.
    #[must_use]
    pub const fn size(&self) -> usize {
        self.raw.range.size()
    }

    /// The region it came from.
    #[must_use]
    pub const fn region(&self) -> RegionId {
        self.raw.region
    }

    /// Gives up ownership: the caller must free the returned handle.
    #[must_use = "the allocation leaks unless the handle is freed"]
    pub fn into_raw(self) -> RawAllocation {
        ManuallyDrop::new(self).raw
    }

    /// Frees now and reports the outcome (dropping frees too, but cannot report).
    ///
    /// # Errors
    ///
    /// Those of [`AreaSet::free`]; only possible if a copy of the raw handle was freed.
    pub fn free(self) -> Result<(), DmaError> {
        let this = ManuallyDrop::new(self);
        this.area.free(this.raw)
    }
}

impl<R: RawMutex> Drop for Allocation<'_, R> {
    fn drop(&mut self) {
        // Can only fail if someone freed a copy of the raw handle: nothing to undo.
        let _ = self.area.free(self.raw);
    }
}

impl<R: RawMutex> fmt::Debug for Allocation<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Allocation").field(&self.raw).finish()
    }
}
