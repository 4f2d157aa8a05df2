//! What a backend reports about its space.

/// A snapshot of a backend's occupancy, all counts in units except `metadata_bytes`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Stats {
    /// Units in the space.
    pub capacity: usize,
    /// Units not allocated.
    pub free: usize,
    /// Length of the longest run of free units.
    pub largest_free: usize,
    /// Number of maximal runs of free units.
    pub free_extents: usize,
    /// Number of live allocations (claims included).
    pub live_allocations: usize,
    /// Bytes of out-of-band metadata the backend holds (fixed at construction).
    pub metadata_bytes: usize,
}

impl Stats {
    /// Units allocated.
    #[must_use]
    pub const fn used(&self) -> usize {
        self.capacity - self.free
    }

    /// External fragmentation in per-mille: `1000 * (1 - largest_free / free)`, 0 when
    /// nothing is free. 0 means all free memory is one run.
    #[must_use]
    pub const fn fragmentation_permille(&self) -> usize {
        if self.free == 0 {
            0
        } else {
            1000 - (self.largest_free as u128 * 1000 / self.free as u128) as usize
        }
    }
}
