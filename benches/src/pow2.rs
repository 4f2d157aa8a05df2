//! The power-of-two-order baseline: Linux's per-device coherent pool policy
//! (`kernel/dma/coherent.c`): a request is rounded up to `2^order` units and placed at
//! the first free, naturally aligned run found by a linear bitmap search
//! (`bitmap_find_free_region`). Written here so that every contender is compared with
//! what Linux does today.
//!
//! It is a [`Backend`] so that it runs through exactly the same adapter as ours. The
//! placement is our [`Bitmap`] asked for the rounded block at its natural alignment:
//! the lowest free naturally aligned run is exactly what Linux's step-by-`2^order`
//! scan finds. `free` accepts the size that was asked for (or the block size).

#![forbid(unsafe_code)]

use contig_allocators::bitmap::Bitmap;
use contig_allocators::{Backend, Error, Extent, Request, Stats};

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
    blocks: Bitmap,
}

impl PowerOfTwo {
    /// An empty pool of `capacity` units whose offset 0 is absolute unit `phase`.
    #[must_use]
    pub fn new(capacity: usize, phase: usize) -> Self {
        Self {
            blocks: Bitmap::new(capacity, phase).unwrap(),
        }
    }

    /// The block size a request of `count` units really takes: `count` rounded up to a
    /// power of two (`None` on overflow).
    #[must_use]
    pub const fn rounded(count: usize) -> Option<usize> {
        count.checked_next_power_of_two()
    }
}

impl Backend for PowerOfTwo {
    fn name(&self) -> &'static str {
        "pow2-baseline"
    }

    fn capacity(&self) -> usize {
        self.blocks.capacity()
    }

    fn allocate(&mut self, request: Request) -> Result<usize, Error> {
        request.validate(self.capacity())?;
        let no_space = Error::NoSpace {
            count: request.count(),
            align: request.align(),
        };
        let Some(size) = Self::rounded(request.count()) else {
            return Err(no_space);
        };
        let block = Request::new(size)
            .aligned(size.max(request.align()))
            .with_window(request.window());
        self.blocks.allocate(block).map_err(|e| match e {
            Error::NoSpace { .. } => no_space,
            other => other,
        })
    }

    fn claim(&mut self, start: usize, count: usize) -> Result<(), Error> {
        self.blocks.claim(start, count)
    }

    fn free(&mut self, start: usize, count: usize) -> Result<(), Error> {
        match self.blocks.free(start, count) {
            Err(Error::WrongCount { actual, .. }) if Self::rounded(count) == Some(actual) => {
                self.blocks.free(start, actual)
            }
            result => result,
        }
    }

    /// The bitmap's stats, with metadata counted as the Linux pool's bitmap plus our
    /// start bits (two bits per unit); the search summary of the `Bitmap` reused here is
    /// not part of the policy being measured.
    fn stats(&self) -> Stats {
        Stats {
            metadata_bytes: self.capacity().div_ceil(64) * 2 * 8,
            ..self.blocks.stats()
        }
    }

    fn for_each_allocation(&self, f: &mut dyn FnMut(Extent)) {
        self.blocks.for_each_allocation(f);
    }
}

#[cfg(test)]
mod tests {
    use contig_allocators::{Backend, Error, Extent, Request};

    use super::PowerOfTwo;
    use crate::SplitMix64;
    use crate::workload::video::NV12_1080P;

    #[test]
    fn search_finds_what_linux_step_by_order_scan_finds() {
        let mut rng = SplitMix64::new(17);
        for phase in [0, 5] {
            let mut pool = PowerOfTwo::new(1000, phase);
            let mut used = [false; 1000];
            for _ in 0..120 {
                let (start, count) = (rng.range(0, 990), rng.range(1, 9));
                if pool.claim(start, count).is_ok() {
                    used[start..start + count].fill(true);
                }
            }
            for order in 0..6 {
                let size = 1usize << order;
                // Linux: `for (pos = 0; ; pos += 1 << order)` over absolute positions.
                let naive = (0..1000)
                    .filter(|o| (phase + o) % size == 0 && o + size <= 1000)
                    .find(|&o| (o..o + size).all(|u| !used[u]));
                let got = pool.clone().allocate(Request::new(size)).ok();
                assert_eq!(got, naive, "order {order}");
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
            Err(Error::NoSpace { count: 9, align: 1 })
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
