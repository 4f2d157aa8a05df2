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
    /// The exact stats of a space given as one "used" flag per unit, in order, with
    /// `live_allocations` live allocations (metadata reported as 0). `O(units)`: for
    /// reference models and tests, not for a backend's hot path.
    ///
    /// ```
    /// use contig_allocators::Stats;
    /// let s = Stats::of_units([true, false, false, true, false], 2);
    /// assert_eq!((s.free, s.largest_free, s.free_extents), (3, 2, 2));
    /// ```
    #[must_use]
    pub fn of_units(used: impl IntoIterator<Item = bool>, live_allocations: usize) -> Self {
        let mut stats = Self {
            live_allocations,
            ..Self::default()
        };
        let mut run = 0;
        for used in used.into_iter().chain(core::iter::once(true)) {
            if used {
                if run > 0 {
                    stats.free_extents += 1;
                    stats.largest_free = stats.largest_free.max(run);
                }
                run = 0;
            } else {
                run += 1;
                stats.free += 1;
            }
            stats.capacity += 1;
        }
        // The sentinel `true` closed the last run; it is not a unit.
        stats.capacity -= 1;
        stats
    }

    /// Units allocated (0 for inconsistent stats with `free > capacity`, which only a
    /// backend breaking its contract reports).
    #[must_use]
    pub const fn used(&self) -> usize {
        self.capacity.saturating_sub(self.free)
    }

    /// External fragmentation in per-mille: `1000 * (1 - largest_free / free)`, 0 when
    /// nothing is free. 0 means all free memory is one run.
    ///
    /// ```
    /// use contig_allocators::Stats;
    /// let s = Stats { capacity: 100, free: 40, largest_free: 10, ..Stats::default() };
    /// assert_eq!(s.fragmentation_permille(), 750);
    /// ```
    #[must_use]
    pub const fn fragmentation_permille(&self) -> usize {
        if self.free == 0 || self.largest_free >= self.free {
            0
        } else {
            // largest_free < free, so the quotient is below 1000 and fits.
            1000 - (self.largest_free as u128 * 1000 / self.free as u128) as usize
        }
    }
}
