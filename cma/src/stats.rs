//! What a region reports about itself.
//!
//! This module owns [`RegionStats`]: the backend's exact occupancy (in units) plus the
//! region's own counters, with byte conversions. It must never take a lock itself; the
//! region fills it in under its lock.
#![forbid(unsafe_code)]

use contig_allocators::Stats;

/// Event counters a region keeps under its lock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Counters {
    /// Successful allocations.
    pub allocations: usize,
    /// Allocations that failed after the request itself was found valid (window,
    /// space, reclaim).
    pub failures: usize,
    /// Successful frees.
    pub frees: usize,
    /// Candidates the reclaim hook reported busy.
    pub reclaim_busy: usize,
    /// Retries after a busy candidate (at most the retry limit per allocation).
    pub reclaim_retries: usize,
    /// Candidates the reclaim hook failed to take back.
    pub reclaim_failures: usize,
}

/// A snapshot of a region: occupancy and counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RegionStats {
    /// The region's allocation unit in bytes.
    pub granule: usize,
    /// The backend's exact occupancy, in units of `granule`.
    pub backend: Stats,
    /// The region's event counters.
    pub counters: Counters,
}

impl RegionStats {
    /// Bytes in the region.
    #[must_use]
    pub const fn size_bytes(&self) -> usize {
        self.backend.capacity * self.granule
    }

    /// Bytes not allocated.
    #[must_use]
    pub const fn free_bytes(&self) -> usize {
        self.backend.free * self.granule
    }

    /// Bytes allocated (whole granules).
    #[must_use]
    pub const fn used_bytes(&self) -> usize {
        self.backend.used() * self.granule
    }

    /// Bytes in the longest free run.
    #[must_use]
    pub const fn largest_free_bytes(&self) -> usize {
        self.backend.largest_free * self.granule
    }
}
