//! The system allocator: ordinary (non-coherent) memory, the last resort for
//! `NON_CONSISTENT` requests.
//!
//! This module owns the [`SystemMemory`] trait the kernel implements, and its
//! implementation for a [`Region`] (what the simulator and simple ports use). It must
//! never be asked for coherent memory.
#![forbid(unsafe_code)]

use lock_api::RawMutex;

use crate::cma::{PhysRange, Region, Request};

/// Page-granular memory from the system (the page allocator).
///
/// A safe trait: the registry does not trust its answers. It checks every range it
/// returns against the request and its [`span`](Self::span) and against the live
/// buffers it handed out before, and refuses a wrong one before writing to it.
pub trait SystemMemory: Sync {
    /// `size` bytes (`size` is never zero) aligned to `align` (a power of two) inside
    /// `window`, or `None`.
    fn allocate(&self, size: usize, align: usize, window: PhysRange) -> Option<PhysRange>;

    /// Frees exactly what [`allocate`](Self::allocate) returned; false (and nothing
    /// changed) if `range` is not such a live allocation.
    fn free(&self, range: PhysRange) -> bool;

    /// The physical bytes it may ever hand out. A registry refuses a system allocator
    /// whose span overlaps one of its pools or CMA regions, and an answer outside it.
    fn span(&self) -> PhysRange;

    /// Whether `range` lies in memory this allocator manages.
    fn owns(&self, range: PhysRange) -> bool {
        self.span().contains_range(&range)
    }
}

impl<R: RawMutex + Sync> SystemMemory for Region<R> {
    fn allocate(&self, size: usize, align: usize, window: PhysRange) -> Option<PhysRange> {
        let request = Request::new(size).aligned(align).within(window);
        Region::allocate(self, &request).ok()
    }

    fn free(&self, range: PhysRange) -> bool {
        Region::free(self, range).is_ok()
    }

    fn span(&self) -> PhysRange {
        self.range()
    }
}
