//! [`GenBackend`]: the genalloc machinery behind the [`Backend`] trait, so a region can
//! choose `"genalloc"`, `"genalloc-best-fit"` or `"genalloc-order-align"` by name.
//!
//! This module owns the mapping from the unit-space contract (requests, windows,
//! claims, the documented error order, exact stats) onto one genalloc chunk. It adds
//! no placement logic of its own and never touches managed memory.
#![forbid(unsafe_code)]

use super::algorithm::{self, Strategy, Want};
use super::bits::{Bitmap, FreeError};
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
/// [`Error::TooManyAllocations`] never occurs. `allocate` is `O(capacity / 32)` word
/// reads for the search plus `O(count / 32)` compare-exchanges; `free` is
/// `O(count / 32)`; `stats` and `for_each_allocation` scan the map.
///
/// ```
/// use contig_allocators::{Backend, Request, genalloc::GenBackend};
///
/// let mut b = GenBackend::best_fit(64, 0);
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
    #[must_use]
    pub fn new(capacity: usize, phase: usize, fit: UnitFit) -> Self {
        Self {
            map: Bitmap::new(capacity),
            phase,
            fit,
        }
    }

    /// A `"genalloc"` backend (first fit honouring the request's alignment).
    #[must_use]
    pub fn first_fit(capacity: usize, phase: usize) -> Self {
        Self::new(capacity, phase, UnitFit::FirstFit)
    }

    /// A `"genalloc-best-fit"` backend.
    #[must_use]
    pub fn best_fit(capacity: usize, phase: usize) -> Self {
        Self::new(capacity, phase, UnitFit::BestFit)
    }

    /// A `"genalloc-order-align"` backend.
    #[must_use]
    pub fn order_align(capacity: usize, phase: usize) -> Self {
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
        let window = request.validate(self.capacity())?;
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
            algorithm::allocate(&self.map, &want, strategy)
        });
        found.ok_or_else(|| Error::NoSpace {
            count,
            align: asked,
            largest_free: self.map.census().largest_free,
        })
    }

    fn claim(&mut self, start: usize, count: usize) -> Result<(), Error> {
        check_range(start, count, self.capacity())?;
        let end = start + count;
        let first_busy = self.map.next_busy(start, end);
        if first_busy < end {
            return Err(Error::RangeBusy {
                start,
                count,
                first_busy,
            });
        }
        self.map
            .claim(start, count)
            .map_err(|first_busy| Error::RangeBusy {
                start,
                count,
                first_busy,
            })
    }

    fn free(&mut self, start: usize, count: usize) -> Result<(), Error> {
        check_range(start, count, self.capacity())?;
        self.map.release(start, count).map_err(|e| match e {
            FreeError::NotAllocated => Error::NotAllocated { start },
            FreeError::NotAllocationStart => Error::NotAllocationStart { start },
            FreeError::WrongCount { actual } => Error::WrongCount {
                start,
                count,
                actual,
            },
        })
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
