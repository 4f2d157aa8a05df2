//! Our backends (and the power-of-two baseline, which is a `Backend` too) as contenders:
//! the only place that names their constructors, and the adapter that turns byte
//! requests into unit requests at a chosen granule.

#![forbid(unsafe_code)]

use contig_allocators::bitmap::Bitmap;
use contig_allocators::first_fit::FirstFit;
use contig_allocators::genalloc::GenBackend;
use contig_allocators::tlsf::Tlsf;
use contig_allocators::{Backend, Request};

use crate::arena::{Arena, Block};
use crate::pow2::PowerOfTwo;

/// Live allocations `FirstFit` and `Tlsf` are sized for in the workload benches: above the largest
/// live set of any workload (W3 and W2 peak near 8.3k), so the limit never bites.
pub const FIRST_FIT_SLOTS: usize = 1 << 16;

/// A unit allocator, by the name it is reported under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OurBackend {
    /// `FirstFit`.
    FirstFit,
    /// `Bitmap`.
    Bitmap,
    /// `Tlsf`.
    Tlsf,
    /// `GenBackend::first_fit`.
    GenallocFirstFit,
    /// `GenBackend::best_fit`.
    GenallocBestFit,
    /// `GenBackend::order_align`.
    GenallocOrderAlign,
    /// The Linux coherent-pool policy written in [`crate::pow2`].
    PowerOfTwo,
}

impl OurBackend {
    /// Every unit allocator, in report order.
    pub const ALL: [Self; 7] = [
        Self::FirstFit,
        Self::Bitmap,
        Self::Tlsf,
        Self::GenallocFirstFit,
        Self::GenallocBestFit,
        Self::GenallocOrderAlign,
        Self::PowerOfTwo,
    ];

    /// The name in tables.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::FirstFit => "first-fit",
            Self::Bitmap => "bitmap",
            Self::Tlsf => "tlsf",
            Self::GenallocFirstFit => "genalloc-first-fit",
            Self::GenallocBestFit => "genalloc-best-fit",
            Self::GenallocOrderAlign => "genalloc-order-align",
            Self::PowerOfTwo => "pow2-baseline",
        }
    }

    /// An empty backend of `units` units at phase 0, `FirstFit` and `Tlsf` sized for
    /// `slots` live allocations.
    ///
    /// # Panics
    ///
    /// When `Tlsf`'s metadata cannot be allocated.
    #[must_use]
    pub fn build(self, units: usize, slots: usize) -> Box<dyn Backend> {
        match self {
            Self::FirstFit => Box::new(FirstFit::new(units, 0, slots).unwrap()),
            Self::Bitmap => Box::new(Bitmap::new(units, 0).unwrap()),
            Self::Tlsf => Box::new(Tlsf::try_new(units, 0, slots).expect("room for the metadata")),
            Self::GenallocFirstFit => Box::new(GenBackend::first_fit(units, 0).unwrap()),
            Self::GenallocBestFit => Box::new(GenBackend::best_fit(units, 0).unwrap()),
            Self::GenallocOrderAlign => Box::new(GenBackend::order_align(units, 0).unwrap()),
            Self::PowerOfTwo => Box::new(PowerOfTwo::new(units, 0)),
        }
    }
}

/// A unit allocator driven in bytes: a request of `size` bytes aligned to `align` takes
/// `ceil(size / granule)` units aligned to `max(1, align / granule)` units. The arena
/// base is taken as absolute address 0, so the phase is 0.
///
/// Generic over the backend so that [`Contender::build`](crate::Contender::build) can
/// hand out one `Box<dyn Arena>` per contender with the backend inside it called
/// directly: one dynamic call per operation, like every peer adapter.
pub struct Units<B = Box<dyn Backend>> {
    which: OurBackend,
    backend: B,
    granule: usize,
    /// `log2(granule)`: the timed path shifts instead of dividing (a 64-bit division
    /// costs tens of cycles, several times per pair, which no peer adapter pays).
    granule_shift: u32,
    label: String,
}

impl Units {
    /// `which` over `arena_bytes / granule` units of `granule` bytes (a power of two).
    ///
    /// # Panics
    ///
    /// When `granule` is not a power of two.
    #[must_use]
    pub fn new(which: OurBackend, arena_bytes: usize, granule: usize) -> Self {
        let units = arena_bytes / granule;
        Units::with(
            which,
            which.build(units, FIRST_FIT_SLOTS.min(units)),
            granule,
        )
    }
}

impl OurBackend {
    /// [`Units`] of this backend over `arena_bytes` at `granule`, with the concrete
    /// backend type inside (no second dynamic call per operation).
    ///
    /// # Panics
    ///
    /// As [`Units::new`].
    #[must_use]
    pub fn arena(self, arena_bytes: usize, granule: usize) -> Box<dyn Arena> {
        let units = arena_bytes / granule;
        let slots = FIRST_FIT_SLOTS.min(units);
        match self {
            Self::FirstFit => Box::new(Units::with(
                self,
                FirstFit::new(units, 0, slots).unwrap(),
                granule,
            )),
            Self::Bitmap => Box::new(Units::with(self, Bitmap::new(units, 0).unwrap(), granule)),
            Self::Tlsf => {
                let tlsf = Tlsf::try_new(units, 0, slots).expect("room for the metadata");
                Box::new(Units::with(self, tlsf, granule))
            }
            _ => Box::new(Units::new(self, arena_bytes, granule)),
        }
    }
}

impl<B: Backend> Units<B> {
    /// `which`, already built as `backend`, at `granule` bytes per unit (a power of two).
    ///
    /// # Panics
    ///
    /// When `granule` is not a power of two.
    #[must_use]
    pub fn with(which: OurBackend, backend: B, granule: usize) -> Self {
        assert!(granule.is_power_of_two(), "granule {granule}");
        Self {
            which,
            backend,
            granule,
            granule_shift: granule.trailing_zeros(),
            label: format!("{}/{}", which.name(), granule_label(granule)),
        }
    }

    /// The backend behind the adapter (for its exact [`Stats`](contig_allocators::Stats)).
    #[must_use]
    pub fn backend(&self) -> &dyn Backend {
        &self.backend
    }

    fn units(&self, size: usize) -> usize {
        (size + self.granule - 1) >> self.granule_shift
    }
}

/// `"4K"` or `"64B"`.
#[must_use]
pub fn granule_label(granule: usize) -> String {
    if granule >= 1024 {
        format!("{}K", granule >> 10)
    } else {
        format!("{granule}B")
    }
}

impl<B: Backend> Arena for Units<B> {
    fn name(&self) -> String {
        self.label.clone()
    }

    fn arena_bytes(&self) -> usize {
        self.backend.capacity() * self.granule
    }

    fn alloc(&mut self, size: usize, align: usize) -> Option<Block> {
        let count = self.units(size);
        let request = Request::new(count).aligned((align >> self.granule_shift).max(1));
        let start = self.backend.allocate(request).ok()?;
        // The baseline really takes the rounded block; ours take exactly `count` units.
        let taken = match self.which {
            OurBackend::PowerOfTwo => PowerOfTwo::rounded(count).unwrap_or(count),
            _ => count,
        };
        Some(Block {
            offset: start << self.granule_shift,
            footprint: taken << self.granule_shift,
            handle: 0,
        })
    }

    fn free(&mut self, block: Block, size: usize, _align: usize) {
        let count = self.units(size);
        self.backend
            .free(block.offset >> self.granule_shift, count)
            .expect("freeing a block this adapter allocated");
    }

    fn metadata_bytes(&self) -> usize {
        self.backend.stats().metadata_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::{OurBackend, Units};
    use crate::arena::{Arena, largest_allocatable};

    #[test]
    fn bytes_become_units_and_alignment_becomes_unit_alignment() {
        let mut fine = Units::new(OurBackend::Bitmap, 1 << 20, 64);
        assert_eq!(fine.name(), "bitmap/64B");
        let a = fine.alloc(1, 1).unwrap();
        let b = fine.alloc(68, 128).unwrap();
        assert_eq!((a.offset, a.footprint), (0, 64));
        assert_eq!((b.offset, b.footprint), (128, 128)); // 2 units aligned to 2 units
        fine.free(b, 68, 128);
        fine.free(a, 1, 1);
        assert_eq!(largest_allocatable(&mut fine, 64), 1 << 20);

        let mut pages = Units::new(OurBackend::FirstFit, 1 << 20, 4096);
        let c = pages.alloc(68, 32).unwrap();
        assert_eq!(c.footprint, 4096);
        pages.free(c, 68, 32);
    }

    #[test]
    fn the_baseline_footprint_is_the_rounded_block() {
        let mut pow2 = Units::new(OurBackend::PowerOfTwo, 1 << 24, 4096);
        let block = pow2.alloc(3 * 4096 + 1, 4096).unwrap();
        assert_eq!(block.footprint, 4 * 4096);
        pow2.free(block, 3 * 4096 + 1, 4096);
        assert_eq!(pow2.backend().stats().used(), 0);
    }
}
