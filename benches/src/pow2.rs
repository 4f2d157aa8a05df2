//! The power-of-two-order baseline: Linux's per-device coherent pool policy
//! (`kernel/dma/coherent.c`): a request is rounded up to `2^order` units and placed at
//! the first free, naturally aligned run found by a linear bitmap search
//! (`bitmap_find_free_region`). Written here so that every contender is compared with
//! what Linux does today.
//!
//! It is a [`Backend`] so that it runs through exactly the same adapter as ours. Next to
//! Linux's one "used" bit per unit it keeps one "starts an allocation" bit, which lets
//! `free` return the typed errors the trait promises; `metadata_bytes` counts both.

#![forbid(unsafe_code)]

use contig_allocators::{
    Backend, Error, Extent, Request, Stats, Window, align_up_with_phase, check_range,
};

use crate::bits::{first_set, get, set_range};

/// Power-of-two-order allocation over a bitmap, as in Linux's dma coherent pools.
///
/// ```
/// use contig_allocators::{Backend, Request};
/// use contig_benches::pow2::PowerOfTwo;
///
/// let mut pool = PowerOfTwo::new(64, 0);
/// let a = pool.allocate(Request::new(3)).unwrap(); // rounded up to 4 units
/// assert_eq!(pool.stats().used(), 4);
/// pool.free(a, 3).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct PowerOfTwo {
    capacity: usize,
    phase: usize,
    used: Vec<u64>,
    starts: Vec<u64>,
    used_units: usize,
    live: usize,
}

impl PowerOfTwo {
    /// An empty pool of `capacity` units whose offset 0 is absolute unit `phase`.
    #[must_use]
    pub fn new(capacity: usize, phase: usize) -> Self {
        let words = capacity.div_ceil(64);
        Self {
            capacity,
            phase,
            used: vec![0; words],
            starts: vec![0; words],
            used_units: 0,
            live: 0,
        }
    }

    /// The block size a request of `count` units really takes: `count` rounded up to a
    /// power of two (`None` on overflow).
    #[must_use]
    pub const fn rounded(count: usize) -> Option<usize> {
        count.checked_next_power_of_two()
    }

    fn first_busy(&self, lo: usize, hi: usize) -> Option<usize> {
        first_set(lo, hi, |w| self.used[w])
    }

    /// The first free naturally aligned run of `size` units inside `window`. Skipping a
    /// candidate's busy run finds exactly what Linux's step-by-`2^order` scan finds
    /// (no aligned run can start inside a busy unit), with word-sized steps.
    fn search(&self, window: Window, size: usize, align: usize) -> Option<usize> {
        let mut at = align_up_with_phase(window.lo, align, self.phase)?;
        loop {
            let end = at.checked_add(size)?;
            if end > window.hi {
                return None;
            }
            match self.first_busy(at, end) {
                None => return Some(at),
                Some(busy) => {
                    // Jump over the whole busy run, a word at a time.
                    let free = first_set(busy, window.hi, |w| !self.used[w])?;
                    at = align_up_with_phase(free, align, self.phase)?;
                }
            }
        }
    }

    /// One past the last unit of the allocation that starts at `start`.
    fn extent_end(&self, start: usize) -> usize {
        first_set(start + 1, self.capacity, |w| !self.used[w] | self.starts[w])
            .unwrap_or(self.capacity)
    }

    fn mark(&mut self, start: usize, count: usize) {
        set_range(&mut self.used, start, start + count, true);
        set_range(&mut self.starts, start, start + 1, true);
        self.used_units += count;
        self.live += 1;
    }

    /// (largest free run, number of free runs), by a scan.
    fn free_runs(&self) -> (usize, usize) {
        let (mut largest, mut runs, mut at) = (0, 0, 0);
        while let Some(lo) = first_set(at, self.capacity, |w| !self.used[w]) {
            let hi = self.first_busy(lo, self.capacity).unwrap_or(self.capacity);
            largest = largest.max(hi - lo);
            runs += 1;
            at = hi;
        }
        (largest, runs)
    }
}

impl Backend for PowerOfTwo {
    fn name(&self) -> &'static str {
        "pow2-baseline"
    }

    fn capacity(&self) -> usize {
        self.capacity
    }

    fn allocate(&mut self, request: Request) -> Result<usize, Error> {
        let window = request.validate(self.capacity)?;
        let no_space = |this: &Self| Error::NoSpace {
            count: request.count(),
            align: request.align(),
            largest_free: this.free_runs().0,
        };
        let Some(size) = Self::rounded(request.count()) else {
            return Err(no_space(self));
        };
        match self.search(window, size, size.max(request.align())) {
            Some(start) => {
                self.mark(start, size);
                Ok(start)
            }
            None => Err(no_space(self)),
        }
    }

    fn claim(&mut self, start: usize, count: usize) -> Result<(), Error> {
        check_range(start, count, self.capacity)?;
        if let Some(first_busy) = self.first_busy(start, start + count) {
            return Err(Error::RangeBusy {
                start,
                count,
                first_busy,
            });
        }
        self.mark(start, count);
        Ok(())
    }

    /// Accepts the count that was asked for (or the rounded block size, or a claim's
    /// exact size): the extent is recovered from the two bitmaps.
    fn free(&mut self, start: usize, count: usize) -> Result<(), Error> {
        check_range(start, count, self.capacity)?;
        if !get(&self.used, start) {
            return Err(Error::NotAllocated { start });
        }
        if !get(&self.starts, start) {
            return Err(Error::NotAllocationStart { start });
        }
        let actual = self.extent_end(start) - start;
        if actual != count && Self::rounded(count) != Some(actual) {
            return Err(Error::WrongCount {
                start,
                count,
                actual,
            });
        }
        set_range(&mut self.used, start, start + actual, false);
        set_range(&mut self.starts, start, start + 1, false);
        self.used_units -= actual;
        self.live -= 1;
        Ok(())
    }

    fn stats(&self) -> Stats {
        let (largest_free, free_extents) = self.free_runs();
        Stats {
            capacity: self.capacity,
            free: self.capacity - self.used_units,
            largest_free,
            free_extents,
            live_allocations: self.live,
            metadata_bytes: (self.used.len() + self.starts.len()) * 8,
        }
    }

    fn for_each_allocation(&self, f: &mut dyn FnMut(Extent)) {
        let mut at = 0;
        while let Some(start) = first_set(at, self.capacity, |w| self.starts[w]) {
            let end = self.extent_end(start);
            f(Extent::new(start, end - start));
            at = start + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use contig_allocators::{Backend, Error, Extent, Request};

    use super::PowerOfTwo;
    use crate::SplitMix64;
    use crate::bits::get;
    use crate::workload::video::NV12_1080P;

    #[test]
    fn search_finds_what_linux_step_by_order_scan_finds() {
        let mut rng = SplitMix64::new(17);
        for phase in [0, 5] {
            let mut pool = PowerOfTwo::new(1000, phase);
            for _ in 0..120 {
                let (start, count) = (rng.range(0, 990), rng.range(1, 9));
                let _ = pool.claim(start, count);
            }
            for order in 0..6 {
                let size = 1usize << order;
                // Linux: `for (pos = 0; ; pos += 1 << order)` over absolute positions.
                let naive = (0..1000)
                    .filter(|o| (phase + o) % size == 0 && o + size <= 1000)
                    .find(|&o| (o..o + size).all(|u| !get(&pool.used, u)));
                let window = contig_allocators::Window::new(0, 1000);
                assert_eq!(pool.search(window, size, size), naive, "order {order}");
            }
        }
    }

    #[test]
    fn a_1080p_frame_takes_4_mib_and_wastes_a_quarter() {
        let pages = NV12_1080P.div_ceil(4096);
        assert_eq!(pages, 760);
        let block = PowerOfTwo::rounded(pages).unwrap();
        assert_eq!(block * 4096, 4 << 20);
        let waste_permille = (block * 4096 - NV12_1080P) * 1000 / (block * 4096);
        assert_eq!(waste_permille, 258); // 25.8 %
        let mut pool = PowerOfTwo::new(4096, 0);
        let at = pool.allocate(Request::new(pages)).unwrap();
        assert_eq!(at % 1024, 0);
        assert_eq!(pool.stats().used(), 1024);
    }

    #[test]
    fn blocks_are_naturally_aligned_in_absolute_terms() {
        let mut pool = PowerOfTwo::new(256, 3);
        let a = pool.allocate(Request::new(1)).unwrap();
        let b = pool.allocate(Request::new(5)).unwrap();
        let c = pool.allocate(Request::new(2).aligned(16)).unwrap();
        assert_eq!(a, 0);
        assert_eq!((3 + b) % 8, 0);
        assert_eq!((3 + c) % 16, 0);
        let mut seen = Vec::new();
        pool.for_each_allocation(&mut |e| seen.push(e));
        assert_eq!(
            seen,
            vec![Extent::new(a, 1), Extent::new(b, 8), Extent::new(c, 2)]
        );
    }

    #[test]
    fn adjacent_blocks_free_independently_with_typed_errors() {
        let mut pool = PowerOfTwo::new(64, 0);
        let a = pool.allocate(Request::new(3)).unwrap();
        let b = pool.allocate(Request::new(4)).unwrap();
        assert_eq!((a, b), (0, 4));
        assert_eq!(
            pool.free(a, 8),
            Err(Error::WrongCount {
                start: 0,
                count: 8,
                actual: 4
            })
        );
        assert_eq!(pool.free(1, 1), Err(Error::NotAllocationStart { start: 1 }));
        pool.free(a, 3).unwrap();
        assert_eq!(pool.free(a, 3), Err(Error::NotAllocated { start: 0 }));
        let stats = pool.stats();
        assert_eq!(
            (stats.free, stats.largest_free, stats.free_extents),
            (60, 56, 2)
        );
        assert_eq!(stats.live_allocations, 1);
        assert_eq!(stats.metadata_bytes, 16);
    }

    #[test]
    fn fails_with_no_space_when_no_aligned_run_is_free() {
        let mut pool = PowerOfTwo::new(16, 0);
        pool.claim(7, 2).unwrap();
        assert_eq!(
            pool.allocate(Request::new(9)),
            Err(Error::NoSpace {
                count: 9,
                align: 1,
                largest_free: 7
            })
        );
        // 8 free units at 0..7 and 9..16, but no aligned run of 8.
        assert!(pool.allocate(Request::new(8)).is_err());
        assert_eq!(pool.allocate(Request::new(4)).unwrap(), 0);
        assert_eq!(
            pool.claim(3, 2),
            Err(Error::RangeBusy {
                start: 3,
                count: 2,
                first_busy: 3
            })
        );
        pool.free(7, 2).unwrap();
        assert_eq!(pool.stats().used(), 4);
    }
}
