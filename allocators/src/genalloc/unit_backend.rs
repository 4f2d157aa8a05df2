//! [`GenBackend`]: the genalloc machinery behind the [`Backend`] trait, so a region can
//! choose `"genalloc"`, `"genalloc-best-fit"` or `"genalloc-order-align"` by name.
//!
//! This module owns the mapping from the unit-space contract (requests, windows,
//! claims, the documented error order, exact stats) onto one genalloc chunk. It adds
//! no placement logic of its own and never touches managed memory.
#![forbid(unsafe_code)]

use super::access::{Access, Exclusive};
use super::algorithm::{self, Strategy, Want};
use super::bits::{Bitmap, FreeError};
use crate::fallible::OutOfMemory;
use crate::{Backend, Error, Extent, Request, Stats, check_range};

/// Which genalloc algorithm a [`GenBackend`] places allocations with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnitFit {
    /// `first_fit_align` with the request's alignment: always the lowest fitting
    /// offset (backend name `"genalloc"`).
    FirstFit,
    /// `best_fit`, honouring the request's alignment and window: the lowest aligned
    /// run in the smallest hole that holds one (`"genalloc-best-fit"`).
    BestFit,
    /// `first_fit_order_align`: aligned to the larger of the request's alignment and
    /// the count rounded up to a power of two (`"genalloc-order-align"`).
    OrderAlign,
}

/// A [`Backend`] over `capacity` units run by genalloc's bitmap and fit algorithms.
///
/// It is one genalloc chunk whose first unit is absolute unit `phase`, with
/// `min_alloc_order` 0 (a unit is a granule), so the chunk's absolute alignment is the
/// backend's absolute alignment. It holds the chunk's bitmap directly rather than a
/// whole [`GenPool`](super::GenPool) because a backend's phase may sit anywhere in the
/// `usize` range, where a pool chunk would be refused for wrapping.
///
/// There is no limit on live allocations (two bits per unit describe them all), so
/// [`Error::TooManyAllocations`] never occurs. With `W` units per bitmap word (32 on
/// 64-bit targets, 16 on 32-bit ones) and `n = capacity`: `allocate` walks the free-run
/// summary (first fit: the words of the first 128 units first while the summary defers
/// its updates, then `O(log n)` node visits, plus `O(log n)` per long-enough run
/// without an aligned fit or for a window's two partial edges; best fit:
/// `O((R + 1) · log n)` plus a step per size class, `R` the holes of the answer's size
/// class `[2^k, 2^(k+1))` up to an exact fit), then writes `O(count / W)` words and
/// does an `O(count / 128 + log n)` summary update (deferred to the next search that
/// needs the summary, at one stale-set word per 64 leaves, while first fit keeps
/// finding its fit in those first units); `claim` and `free`
/// are `O(count / W + log n)`, plus, for a `claim` that starts past the free run at
/// the end of the space, `O(s / 128)` for the `s` free units it skips (the summary
/// leaves out that run, see the `genalloc` module docs), and for a `free` that
/// reaches that run, at most 256 summary leaves; `stats` and `for_each_allocation`
/// scan the map. Spaces of fewer than 256 units have no summary and are scanned word
/// by word.
///
/// `allocate`, `claim` and `free` take `&mut self`, so no other thread can see the
/// chunk while they run: they run the lock-free code of [`GenPool`](super::GenPool)
/// with exclusive access (`access` in `genalloc`), plain loads and stores where a pool uses
/// compare-exchanges, fetch-and-adds, fences and the tail move's bracket. Placement,
/// error order and the validation of frees are those of the shared code, which is the
/// same code.
///
/// ```
/// use contig_allocators::{Backend, Request, genalloc::GenBackend};
///
/// let mut b = GenBackend::best_fit(64, 0).unwrap();
/// let a = b.allocate(Request::new(8)).unwrap();
/// let hole = b.allocate(Request::new(3)).unwrap();
/// b.allocate(Request::new(1)).unwrap();
/// b.free(hole, 3).unwrap();
/// // Best fit fills the 3-unit hole rather than the big tail.
/// assert_eq!(b.allocate(Request::new(2)).unwrap(), hole);
/// assert_eq!((a, b.name()), (0, "genalloc-best-fit"));
/// ```
pub struct GenBackend {
    map: Bitmap,
    phase: usize,
    fit: UnitFit,
}

impl GenBackend {
    /// `capacity` free units whose offset 0 is absolute unit `phase`, placed by `fit`.
    ///
    /// # Errors
    ///
    /// [`OutOfMemory`] when its map (one bit per unit) cannot be allocated.
    pub fn new(capacity: usize, phase: usize, fit: UnitFit) -> Result<Self, OutOfMemory> {
        Ok(Self {
            map: Bitmap::new(capacity)?,
            phase,
            fit,
        })
    }

    /// A `"genalloc"` backend (first fit honouring the request's alignment).
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn first_fit(capacity: usize, phase: usize) -> Result<Self, OutOfMemory> {
        Self::new(capacity, phase, UnitFit::FirstFit)
    }

    /// A `"genalloc-best-fit"` backend.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn best_fit(capacity: usize, phase: usize) -> Result<Self, OutOfMemory> {
        Self::new(capacity, phase, UnitFit::BestFit)
    }

    /// A `"genalloc-order-align"` backend.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn order_align(capacity: usize, phase: usize) -> Result<Self, OutOfMemory> {
        Self::new(capacity, phase, UnitFit::OrderAlign)
    }

    /// The algorithm this backend places with.
    #[must_use]
    pub const fn fit(&self) -> UnitFit {
        self.fit
    }

    /// The absolute unit index of offset 0.
    #[must_use]
    pub const fn phase(&self) -> usize {
        self.phase
    }
}

/// The [`Backend`] operations, written once for both kinds of [`Access`]: the trait
/// runs them [`Exclusive`], as `&mut self` allows; the tests also run them
/// [`Shared`](super::access::Shared) to check that both place and refuse alike.
impl GenBackend {
    fn allocate_as<A: Access>(&mut self, request: Request) -> Result<usize, Error> {
        let window = request.validate(self.map.units())?;
        let (count, asked) = (request.count(), request.align());
        let (align, strategy) = match self.fit {
            UnitFit::FirstFit => (Some(asked), Strategy::Lowest),
            UnitFit::BestFit => (Some(asked), Strategy::SmallestHole),
            UnitFit::OrderAlign => (
                count.checked_next_power_of_two().map(|a| a.max(asked)),
                Strategy::Lowest,
            ),
        };
        let found = align.and_then(|align| {
            let want = Want {
                lo: window.lo,
                hi: window.hi,
                count,
                align,
                phase: self.phase,
            };
            algorithm::allocate::<A>(&self.map, &want, strategy)
        });
        found.ok_or(Error::NoSpace {
            count,
            align: asked,
        })
    }

    fn claim_as<A: Access>(&mut self, start: usize, count: usize) -> Result<(), Error> {
        check_range(start, count, self.map.units())?;
        let end = start + count;
        let first_busy = self.map.next_busy::<A>(start, end);
        if first_busy < end {
            return Err(Error::RangeBusy {
                start,
                count,
                first_busy,
            });
        }
        self.map
            .claim_as::<A>(start, count)
            .map_err(|first_busy| Error::RangeBusy {
                start,
                count,
                first_busy,
            })
    }

    fn free_as<A: Access>(&mut self, start: usize, count: usize) -> Result<(), Error> {
        check_range(start, count, self.map.units())?;
        self.map.release_as::<A>(start, count).map_err(|e| match e {
            FreeError::NotAllocated => Error::NotAllocated { start },
            FreeError::NotAllocationStart => Error::NotAllocationStart { start },
            FreeError::WrongCount { actual } => Error::WrongCount {
                start,
                count,
                actual,
            },
        })
    }
}

impl core::fmt::Debug for GenBackend {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GenBackend")
            .field("capacity", &self.map.units())
            .field("phase", &self.phase)
            .field("fit", &self.fit)
            .finish_non_exhaustive()
    }
}

impl Backend for GenBackend {
    fn name(&self) -> &'static str {
        match self.fit {
            UnitFit::FirstFit => "genalloc",
            UnitFit::BestFit => "genalloc-best-fit",
            UnitFit::OrderAlign => "genalloc-order-align",
        }
    }

    fn capacity(&self) -> usize {
        self.map.units()
    }

    fn allocate(&mut self, request: Request) -> Result<usize, Error> {
        self.allocate_as::<Exclusive>(request)
    }

    fn claim(&mut self, start: usize, count: usize) -> Result<(), Error> {
        self.claim_as::<Exclusive>(start, count)
    }

    fn free(&mut self, start: usize, count: usize) -> Result<(), Error> {
        self.free_as::<Exclusive>(start, count)
    }

    fn stats(&self) -> Stats {
        let census = self.map.census();
        Stats {
            capacity: self.capacity(),
            free: census.free,
            largest_free: census.largest_free,
            free_extents: census.free_extents,
            live_allocations: census.allocations,
            metadata_bytes: core::mem::size_of::<Self>() + self.map.metadata_bytes(),
        }
    }

    fn for_each_allocation(&self, f: &mut dyn FnMut(Extent)) {
        self.map
            .for_each_allocation(&mut |start, count| f(Extent::new(start, count)));
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn live(b: &GenBackend) -> Vec<(usize, usize)> {
        let mut v = Vec::new();
        b.for_each_allocation(&mut |e| v.push((e.start, e.count)));
        v
    }

    #[test]
    fn names_follow_the_fit() {
        assert_eq!(GenBackend::first_fit(1, 0).unwrap().name(), "genalloc");
        assert_eq!(
            GenBackend::best_fit(1, 0).unwrap().name(),
            "genalloc-best-fit"
        );
        assert_eq!(
            GenBackend::order_align(1, 0).unwrap().name(),
            "genalloc-order-align"
        );
        let b = GenBackend::new(8, 5, UnitFit::OrderAlign).unwrap();
        assert_eq!(
            (b.fit(), b.phase(), b.capacity()),
            (UnitFit::OrderAlign, 5, 8)
        );
    }

    #[test]
    fn sizes_at_the_edges() {
        let mut b = GenBackend::first_fit(64, 0).unwrap();
        assert_eq!(b.allocate(Request::new(0)), Err(Error::ZeroCount));
        let no_space = |count, _largest_free: usize| Error::NoSpace { count, align: 1 };
        assert_eq!(b.allocate(Request::new(65)), Err(no_space(65, 64)));
        assert_eq!(b.allocate(Request::new(64)), Ok(0));
        assert_eq!(b.allocate(Request::new(1)), Err(no_space(1, 0)));
        b.free(0, 64).unwrap();
        assert_eq!(b.allocate(Request::new(1)), Ok(0));
        assert_eq!(live(&b), [(0, 1)]);
    }

    #[test]
    fn alignment_edges() {
        let mut b = GenBackend::first_fit(64, 3).unwrap();
        assert_eq!(
            b.allocate(Request::new(1).aligned(6)),
            Err(Error::AlignNotPowerOfTwo { align: 6 })
        );
        assert_eq!(b.allocate(Request::new(2).aligned(8)), Ok(5));
        assert_eq!(
            b.allocate(Request::new(1).aligned(128)),
            Err(Error::NoSpace {
                count: 1,
                align: 128,
            })
        );
        // Phase 0 puts offset 0 on every alignment, however large.
        let mut z = GenBackend::first_fit(64, 0).unwrap();
        assert_eq!(z.allocate(Request::new(1).aligned(1 << 40)), Ok(0));
        // A phase near the top of the range wraps without trouble.
        let mut top = GenBackend::first_fit(8, usize::MAX).unwrap();
        assert_eq!(top.allocate(Request::new(1).aligned(4)), Ok(1));
    }

    #[test]
    fn windows_at_both_ends_and_empty() {
        let mut b = GenBackend::first_fit(64, 0).unwrap();
        assert_eq!(b.allocate(Request::new(4).within(0, 4)), Ok(0));
        assert_eq!(b.allocate(Request::new(4).within(60, 64)), Ok(60));
        assert_eq!(
            b.allocate(Request::new(1).within(60, 64)),
            Err(Error::NoSpace { count: 1, align: 1 })
        );
        let invalid = |lo, hi| Error::InvalidWindow {
            lo,
            hi,
            capacity: 64,
        };
        assert_eq!(b.allocate(Request::new(1).within(5, 5)), Err(invalid(5, 5)));
        assert_eq!(
            b.allocate(Request::new(1).within(0, 65)),
            Err(invalid(0, 65))
        );
        assert_eq!(
            b.allocate(Request::new(2).within(10, 20).aligned(8)),
            Ok(16)
        );
    }

    #[test]
    fn claim_checks_range_then_occupancy() {
        let mut b = GenBackend::first_fit(64, 0).unwrap();
        assert_eq!(b.claim(0, 0), Err(Error::ZeroCount));
        assert_eq!(
            b.claim(60, 5),
            Err(Error::OutOfBounds {
                start: 60,
                count: 5,
                capacity: 64
            })
        );
        b.claim(30, 4).unwrap();
        assert_eq!(
            b.claim(20, 20),
            Err(Error::RangeBusy {
                start: 20,
                count: 20,
                first_busy: 30
            })
        );
        assert_eq!(
            b.allocate(Request::new(31)),
            Err(Error::NoSpace {
                count: 31,
                align: 1,
            })
        );
        assert_eq!(b.allocate(Request::new(30)), Ok(0));
        assert_eq!(live(&b), [(0, 30), (30, 4)]);
        b.free(30, 4).unwrap();
    }

    #[test]
    fn free_errors_in_order() {
        let mut b = GenBackend::first_fit(64, 0).unwrap();
        let a = b.allocate(Request::new(4)).unwrap();
        let before = b.stats();
        assert_eq!(b.free(a, 0), Err(Error::ZeroCount));
        assert_eq!(
            b.free(63, 2),
            Err(Error::OutOfBounds {
                start: 63,
                count: 2,
                capacity: 64
            })
        );
        assert_eq!(b.free(10, 1), Err(Error::NotAllocated { start: 10 }));
        assert_eq!(
            b.free(a + 1, 1),
            Err(Error::NotAllocationStart { start: a + 1 })
        );
        assert_eq!(
            b.free(a, 3),
            Err(Error::WrongCount {
                start: a,
                count: 3,
                actual: 4
            })
        );
        assert_eq!(b.stats(), before);
        b.free(a, 4).unwrap();
        assert_eq!(b.free(a, 4), Err(Error::NotAllocated { start: a }));
    }

    #[test]
    fn fill_free_every_other_then_ask_for_too_much() {
        let mut b = GenBackend::first_fit(64, 0).unwrap();
        for i in 0..16 {
            assert_eq!(b.allocate(Request::new(4)), Ok(4 * i));
        }
        for i in (0..16).step_by(2) {
            b.free(4 * i, 4).unwrap();
        }
        let s = b.stats();
        assert_eq!(
            (s.free, s.largest_free, s.free_extents, s.live_allocations),
            (32, 4, 8, 8)
        );
        assert_eq!(
            b.allocate(Request::new(5)),
            Err(Error::NoSpace { count: 5, align: 1 })
        );
        assert_eq!(b.allocate(Request::new(4)), Ok(0));
        assert_eq!(s.metadata_bytes, b.stats().metadata_bytes);
    }

    #[test]
    fn best_fit_and_order_align_choices() {
        let mut best = GenBackend::best_fit(64, 0).unwrap();
        for (start, count) in [(0, 2), (4, 1), (12, 1)] {
            best.claim(start, count).unwrap();
        }
        assert_eq!(best.allocate(Request::new(3)), Ok(5));
        assert_eq!(best.allocate(Request::new(2)), Ok(2));
        assert_eq!(best.allocate(Request::new(2).aligned(4)), Ok(8));
        let mut order = GenBackend::order_align(64, 1).unwrap();
        assert_eq!(order.allocate(Request::new(3)), Ok(3));
        assert_eq!(order.allocate(Request::new(1)), Ok(0));
        assert_eq!(order.allocate(Request::new(5).aligned(2)), Ok(7));
        assert_eq!(order.allocate(Request::new(2).aligned(16)), Ok(15));
    }

    /// A seeded script of allocations (every fit, counts from one unit to several
    /// words, alignments, windows), fixed claims and frees (right ones, and ones with
    /// the wrong count, inside a block or of free units), run through the exclusive
    /// path (the [`Backend`] methods) and the shared path (the same methods with
    /// [`Shared`](super::super::access::Shared) access) on two backends of the same
    /// space: every step gives the same result, and the two hold the same bitmap words
    /// and the same summary tree (nodes, stale set, counters, tail) throughout.
    #[test]
    #[cfg_attr(miri, ignore)]
    fn the_exclusive_path_places_and_refuses_exactly_as_the_shared_one() {
        use super::super::access::Shared;
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = |n: usize| crate::test_rng::below(&mut state, n);
        let (mut placed, mut freed, mut refused) = (0, 0, 0);
        for (capacity, phase, fit) in [
            (4096, 0, UnitFit::FirstFit),
            (5000, 3, UnitFit::BestFit),
            (3000, 1, UnitFit::OrderAlign),
            (200, 0, UnitFit::FirstFit),
        ] {
            let mut exclusive = GenBackend::new(capacity, phase, fit).unwrap();
            let mut shared = GenBackend::new(capacity, phase, fit).unwrap();
            for step in 0..5000 {
                let blocks = live(&exclusive);
                let roll = next(16);
                let (got, want) = if roll < 8 || blocks.is_empty() {
                    let count = 1 + if next(6) == 0 { next(300) } else { next(12) };
                    let mut request = Request::new(count).aligned(1 << next(4));
                    if next(5) == 0 {
                        let lo = next(capacity);
                        request = request.within(lo, lo + 1 + next(capacity - lo));
                    }
                    let got = exclusive.allocate(request);
                    assert_eq!(got, shared.allocate_as::<Shared>(request), "{request:?}");
                    placed += usize::from(got.is_ok());
                    continue;
                } else if roll < 10 {
                    let (start, count) = (next(capacity), 1 + next(40));
                    (
                        exclusive.claim(start, count),
                        shared.claim_as::<Shared>(start, count),
                    )
                } else {
                    let (start, count) = blocks[next(blocks.len())];
                    let (start, count) = match next(8) {
                        0 => (start, count + 1),
                        1 if count > 1 => (start + 1, count - 1),
                        2 => (next(capacity), 1),
                        _ => (start, count),
                    };
                    let got = exclusive.free(start, count);
                    freed += usize::from(got.is_ok());
                    refused += usize::from(got.is_err());
                    (got, shared.free_as::<Shared>(start, count))
                };
                assert_eq!(got, want);
                if step % 64 == 0 {
                    assert_eq!(exclusive.map.state(), shared.map.state(), "step {step}");
                }
            }
            assert_eq!(exclusive.map.state(), shared.map.state());
            assert_eq!(live(&exclusive), live(&shared));
            assert_eq!(exclusive.stats(), shared.stats());
        }
        // The script did place, free and refuse, not only fail.
        assert!(
            placed > 5000 && freed > 3000 && refused > 500,
            "{placed} {freed} {refused}"
        );
    }

    #[test]
    fn an_empty_space_refuses_everything() {
        let mut b = GenBackend::first_fit(0, 0).unwrap();
        assert!(matches!(
            b.allocate(Request::new(1)),
            Err(Error::NoSpace { .. })
        ));
        assert!(matches!(b.claim(0, 1), Err(Error::OutOfBounds { .. })));
        assert_eq!(b.stats().capacity, 0);
    }
}
