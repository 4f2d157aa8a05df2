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
pub trait SystemMemory: Sync {
    /// `size` bytes (`size` is never zero) aligned to `align` (a power of two) inside
    /// `window`, or `None`.
    fn allocate(&self, size: usize, align: usize, window: PhysRange) -> Option<PhysRange>;

    /// Frees exactly what [`allocate`](Self::allocate) returned; false (and nothing
    /// changed) if `range` is not such a live allocation.
    fn free(&self, range: PhysRange) -> bool;

    /// Whether `range` lies in memory this allocator manages.
    fn owns(&self, range: PhysRange) -> bool;
}

impl<R: RawMutex + Sync> SystemMemory for Region<R> {
    fn allocate(&self, size: usize, align: usize, window: PhysRange) -> Option<PhysRange> {
        let request = Request::new(size).aligned(align).within(window);
        Region::allocate(self, &request).ok()
    }

    fn free(&self, range: PhysRange) -> bool {
        Region::free(self, range).is_ok()
    }

    fn owns(&self, range: PhysRange) -> bool {
        self.range().contains_range(&range)
    }
}
