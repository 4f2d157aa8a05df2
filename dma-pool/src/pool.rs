//! A coherent pool: memory declared for DMA, with its bus base and CPU mapping.
//!
//! This module owns [`CoherentPool`] and [`PoolOptions`] (Linux
//! `dma_declare_coherent_memory`'s per-device memory, and the `linux,dma-default`
//! pool): exact-size allocation under a DMA mask, free with validation, marking ranges
//! occupied. Sizes are exact to the byte (the backend works in bytes); each buffer starts
//! on a page. It must never know which device uses it nor touch the pool's memory.
#![forbid(unsafe_code)]

use core::fmt;

use lock_api::{Mutex, RawMutex};

use crate::cma::{
    Declaration, DefaultLock, DmaError as CmaDmaError, Error as CmaError, Name, PhysAddr,
    PhysRange, Region, RegionIndex, RegionStats, Registry, Request,
};
use crate::ledger::Ledger;
use crate::{DmaAddr, Error, Mapper};

/// How a pool behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PoolOptions {
    fallthrough: bool,
    page: usize,
    max_buffers: Option<usize>,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl PoolOptions {
    /// Exclusive (a full pool fails the allocation), 4 KiB pages, one buffer per page
    /// at most.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            fallthrough: false,
            page: 4096,
            max_buffers: None,
        }
    }

    /// Whether an allocation the pool cannot serve may go on to the next source.
    #[must_use]
    pub const fn fallthrough(self, fallthrough: bool) -> Self {
        Self {
            fallthrough,
            ..self
        }
    }

    /// The page: bases and size must be multiples, buffers start on one.
    #[must_use]
    pub const fn page(self, page: usize) -> Self {
        Self { page, ..self }
    }

    /// How many live buffers the pool's metadata holds (default: one per page).
    #[must_use]
    pub const fn max_buffers(self, max: usize) -> Self {
        Self {
            max_buffers: Some(max),
            ..self
        }
    }
}

/// Coherent memory for one device (or for everyone, as the default pool).
///
/// `R` defaults to `contig_cma::DefaultLock`, which is not IRQ-safe; see the crate's
/// "Interrupt context" table for which calls may run in a handler with an IRQ-safe
/// lock.
///
/// ```
/// use contig_dma_pool::{CoherentPool, DmaAddr, NoMapping, PoolOptions};
/// use contig_dma_pool::cma::{PhysAddr, PhysRange};
/// // STM32MP15 RETRAM: 64K at 0x3800_0000, seen by the M4 at bus address 0.
/// let pool: CoherentPool = CoherentPool::new(
///     "retram", PhysAddr::new(0x3800_0000), DmaAddr::new(0), 0x1_0000,
///     &NoMapping, PoolOptions::new(),
/// ).unwrap();
/// let a = pool.allocate(100, u64::MAX).unwrap();
/// assert_eq!(pool.to_dma(a), Some(DmaAddr::new(0)));
/// let b = pool.allocate(100, u64::MAX).unwrap(); // next page
/// assert_eq!(pool.to_dma(b), Some(DmaAddr::new(0x1000)));
/// assert!(pool.free(PhysRange::new(a.base(), 99).unwrap()).is_err()); // resized
/// pool.free(a).unwrap();
/// assert!(pool.free(a).is_err()); // double free
/// ```
pub struct CoherentPool<'m, R: RawMutex = DefaultLock> {
    region: Region<R>,
    bus: DmaAddr,
    mapper: &'m dyn Mapper,
    options: PoolOptions,
    /// Who owns each buffer a registry handed out from this pool, and its exact size.
    ledger: Mutex<R, Ledger>,
}

impl<'m, R: RawMutex> CoherentPool<'m, R> {
    /// A pool of `size` bytes at physical `phys`, seen by devices at bus address `bus`,
    /// reached by the CPU through `mapper`.
    ///
    /// # Errors
    ///
    /// In order: [`Error::Cma`] for a bad name, [`Error::BadPageSize`],
    /// [`Error::PoolZeroSize`], [`Error::PoolMisaligned`], [`Error::PoolOverflow`],
    /// then [`Error::Cma`] if the region cannot be built, [`Error::OutOfMemory`] if its
    /// metadata cannot be reserved.
    pub fn new(
        name: &str,
        phys: PhysAddr,
        bus: DmaAddr,
        size: usize,
        mapper: &'m dyn Mapper,
        options: PoolOptions,
    ) -> Result<Self, Error> {
        let pool = Name::new(name)?;
        let page = options.page;
        if !page.is_power_of_two() {
            return Err(Error::BadPageSize { page });
        }
        if size == 0 {
            return Err(Error::PoolZeroSize { pool });
        }
        if !phys.is_aligned(page) || !bus.is_aligned(page as u64) || size % page != 0 {
            return Err(Error::PoolMisaligned {
                pool,
                phys,
                bus,
                size,
                page,
            });
        }
        if bus.checked_add(size as u64).is_none() {
            return Err(Error::PoolOverflow { pool, bus, size });
        }
        let declaration = Declaration::new(name, size)
            .granule(1)
            .backend("first-fit")
            .max_allocations(max_buffers(options, size));
        let spec = declaration.at(phys).map_err(|e| match e {
            CmaError::AddressOverflow { .. } => Error::PoolOverflow { pool, bus, size },
            other => Error::Cma(other),
        })?;
        let region = Region::new(spec, &Registry::with_builtins()?, None)?;
        let count = max_buffers(options, size);
        let ledger = Ledger::try_new(count).map_err(|_| Error::OutOfMemory {
            what: "pool buffer records",
            count,
        })?;
        Ok(Self {
            region,
            bus,
            mapper,
            options,
            ledger: Mutex::new(ledger),
        })
    }

    /// The pool's name.
    #[must_use]
    pub const fn name(&self) -> Name {
        self.region.name()
    }

    /// Its physical bytes.
    #[must_use]
    pub const fn phys(&self) -> PhysRange {
        self.region.range()
    }

    /// The bus address of its first byte.
    #[must_use]
    pub const fn bus(&self) -> DmaAddr {
        self.bus
    }

    /// How the CPU reaches it.
    #[must_use]
    pub fn mapper(&self) -> &'m dyn Mapper {
        self.mapper
    }

    /// Its options.
    #[must_use]
    pub const fn options(&self) -> PoolOptions {
        self.options
    }

    /// How many live buffers it can hold at most (occupied ranges included).
    #[must_use]
    pub const fn max_buffers(&self) -> usize {
        max_buffers(self.options, self.region.range().size())
    }

    /// Whether an allocation it cannot serve may try the next source.
    #[must_use]
    pub const fn is_fallthrough(&self) -> bool {
        self.options.fallthrough
    }

    /// Live buffers (occupied ranges included).
    #[must_use]
    pub fn live(&self) -> usize {
        self.region.stats().backend.live_allocations
    }

    /// Buffers a device registry handed out from this pool and still records.
    #[must_use]
    pub fn records(&self) -> usize {
        self.ledger.lock().len()
    }

    /// The record of live buffers a registry keeps for this pool.
    pub(crate) const fn ledger(&self) -> &Mutex<R, Ledger> {
        &self.ledger
    }

    /// Occupancy and counters.
    #[must_use]
    pub fn stats(&self) -> RegionStats {
        self.region.stats()
    }

    /// The bus address of `range`, if it lies in the pool.
    #[must_use]
    pub fn to_dma(&self, range: PhysRange) -> Option<DmaAddr> {
        if !self.phys().contains_range(&range) {
            return None;
        }
        let off = range.base().offset_from(self.phys().base())?;
        self.bus.checked_add(off as u64)
    }

    /// The physical range of `size` bytes at bus address `dma`, if they lie in the pool.
    #[must_use]
    pub fn to_phys(&self, dma: DmaAddr, size: usize) -> Option<PhysRange> {
        let off = usize::try_from(dma.offset_from(self.bus)?).ok()?;
        let base = self.phys().base().checked_add(off).ok()?;
        let range = PhysRange::new(base, size).ok()?;
        self.phys().contains_range(&range).then_some(range)
    }

    /// The part of the pool a device with DMA mask `mask` can reach.
    #[must_use]
    pub fn reachable(&self, mask: u64) -> Option<PhysRange> {
        let last_off = mask.checked_sub(self.bus.as_u64())?;
        let size = usize::try_from(last_off)
            .map_or(usize::MAX, |o| o.saturating_add(1))
            .min(self.phys().size());
        PhysRange::new(self.phys().base(), size).ok()
    }

    /// `size` bytes on a page, with bus addresses at most `mask`.
    ///
    /// # Errors
    ///
    /// The region's reason, naming the pool's region as [`RegionIndex::ALONE`]
    /// ([`explain`](Self::explain) names the pool): zero size, no space, mask below the
    /// pool ([`CmaDmaError::WindowMissesRegion`]).
    pub fn allocate(&self, size: usize, mask: u64) -> Result<PhysRange, CmaDmaError> {
        self.allocate_aligned(size, 1, mask)
    }

    /// `size` bytes whose physical base is a multiple of `align` and of the page
    /// (whichever is larger; `align` is a power of two), with bus addresses at most
    /// `mask`. The size stays exact.
    ///
    /// # Errors
    ///
    /// As [`allocate`](Self::allocate); [`CmaDmaError::RequestAlign`] for an `align`
    /// that is not a power of two.
    pub fn allocate_aligned(
        &self,
        size: usize,
        align: usize,
        mask: u64,
    ) -> Result<PhysRange, CmaDmaError> {
        let reachable = self
            .reachable(mask)
            .ok_or(CmaDmaError::WindowMissesRegion {
                region: RegionIndex::ALONE,
                // The mask ends below the pool: what it reaches of the pool is nothing at
                // the pool's base, which says where the pool starts.
                window: PhysRange::new(self.phys().base(), 0).unwrap_or(PhysRange::EMPTY),
            })?;
        let request = Request::new(size)
            .aligned(align.max(self.options.page))
            .within(reachable);
        self.region.allocate(&request)
    }

    /// Frees a buffer: `range` must be exactly what [`allocate`](Self::allocate) or
    /// [`occupy`](Self::occupy) returned.
    ///
    /// # Errors
    ///
    /// The region's reason (outside, double free, wrong size).
    pub fn free(&self, range: PhysRange) -> Result<(), CmaDmaError> {
        self.region.free(range)
    }

    /// Marks `range` as in use (memory a device or firmware already uses; Linux
    /// `dma_mark_declared_memory_occupied`); free it like a buffer.
    ///
    /// # Errors
    ///
    /// The region's reason: outside the pool, or overlapping a live buffer.
    pub fn occupy(&self, range: PhysRange) -> Result<PhysRange, CmaDmaError> {
        self.region.claim(range)
    }

    /// `error` (of [`allocate`](Self::allocate), [`free`](Self::free) or
    /// [`occupy`](Self::occupy)) with the pool's name for its region.
    #[must_use]
    pub fn explain<'a>(&'a self, error: &CmaDmaError) -> impl fmt::Display + 'a {
        self.region.explain(error)
    }
}

const fn max_buffers(options: PoolOptions, size: usize) -> usize {
    match options.max_buffers {
        Some(max) => max,
        None => size / options.page,
    }
}

impl<R: RawMutex> fmt::Debug for CoherentPool<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CoherentPool")
            .field("name", &self.name().as_str())
            .field("phys", &self.phys())
            .field("bus", &self.bus)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NoMapping;

    fn pool(options: PoolOptions) -> CoherentPool<'static> {
        CoherentPool::new(
            "p",
            PhysAddr::new(0x3800_0000),
            DmaAddr::new(0),
            0x1_0000,
            &NoMapping,
            options,
        )
        .unwrap()
    }

    fn new(phys: u64, bus: u64, size: usize) -> Result<CoherentPool<'static>, Error> {
        let o = PoolOptions::new();
        CoherentPool::new(
            "p",
            PhysAddr::new(phys),
            DmaAddr::new(bus),
            size,
            &NoMapping,
            o,
        )
    }

    #[test]
    fn declaration_errors_name_the_values() {
        let pool = Name::new("p").unwrap();
        assert_eq!(new(0x1000, 0, 0).unwrap_err(), Error::PoolZeroSize { pool });
        let mis = |phys, bus, size| Error::PoolMisaligned {
            pool,
            phys: PhysAddr::new(phys),
            bus: DmaAddr::new(bus),
            size,
            page: 4096,
        };
        assert_eq!(new(0x1000, 0, 0x1800).unwrap_err(), mis(0x1000, 0, 0x1800));
        assert_eq!(new(0x1800, 0, 0x1000).unwrap_err(), mis(0x1800, 0, 0x1000));
        assert_eq!(
            new(0x1000, 0x10, 0x1000).unwrap_err(),
            mis(0x1000, 0x10, 0x1000)
        );
        let top = u64::MAX - 0xfff;
        assert!(matches!(
            new(0, top, 0x2000),
            Err(Error::PoolOverflow { .. })
        ));
        assert!(matches!(
            new(top, 0, 0x2000),
            Err(Error::PoolOverflow { .. })
        ));
        let o = PoolOptions::new().page(3000);
        let bad = CoherentPool::<DefaultLock>::new(
            "p",
            PhysAddr::new(0),
            DmaAddr::new(0),
            0x1000,
            &NoMapping,
            o,
        );
        assert_eq!(bad.unwrap_err(), Error::BadPageSize { page: 3000 });
    }

    #[test]
    fn exact_sizes_on_pages() {
        let p = pool(PoolOptions::new());
        let a = p.allocate(0xf001, u64::MAX).unwrap();
        assert_eq!(a.size(), 0xf001);
        // The next buffer must start on a page: none is left after 0xf001 bytes.
        assert!(p.allocate(1, u64::MAX).is_err());
        p.free(a).unwrap();
        let frame = p.allocate(0xf000 - 0x800, u64::MAX).unwrap();
        assert_eq!(frame.size(), 0xf000 - 0x800);
        assert_eq!(p.stats().used_bytes(), 0xf000 - 0x800);
        let last = p.allocate(0x1000, u64::MAX).unwrap();
        assert_eq!(last.base(), PhysAddr::new(0x3800_f000));
        assert_eq!(p.live(), 2);
    }

    #[test]
    fn mask_limits_the_window() {
        let p = pool(PoolOptions::new());
        assert_eq!(p.reachable(0x1fff).unwrap().size(), 0x2000);
        let a = p.allocate(0x2000, 0x1fff).unwrap();
        assert_eq!(p.to_dma(a), Some(DmaAddr::new(0)));
        assert!(p.allocate(0x10, 0x1fff).is_err());
        assert!(p.allocate(0x10, u64::MAX).is_ok());
        let high = CoherentPool::<DefaultLock>::new(
            "h",
            PhysAddr::new(0x1000),
            DmaAddr::new(0x1_0000_0000),
            0x1000,
            &NoMapping,
            PoolOptions::new(),
        )
        .unwrap();
        assert!(high.reachable(0xffff_ffff).is_none());
        assert_eq!(
            high.allocate(1, 0xffff_ffff),
            Err(CmaDmaError::WindowMissesRegion {
                region: RegionIndex::ALONE,
                window: PhysRange::new(PhysAddr::new(0x1000), 0).unwrap(),
            }),
            "the mask ends below the pool: nothing of it, at the pool's base"
        );
    }

    #[test]
    fn translation_both_ways() {
        let p = pool(PoolOptions::new());
        let r = PhysRange::new(PhysAddr::new(0x3800_2000), 0x10).unwrap();
        assert_eq!(p.to_dma(r), Some(DmaAddr::new(0x2000)));
        assert_eq!(p.to_phys(DmaAddr::new(0x2000), 0x10), Some(r));
        assert_eq!(p.to_phys(DmaAddr::new(0xfff8), 0x10), None);
        let outside = PhysRange::new(PhysAddr::new(0x3900_0000), 1).unwrap();
        assert_eq!(p.to_dma(outside), None);
    }

    #[test]
    fn occupy_then_free() {
        let p = pool(PoolOptions::new());
        let r = PhysRange::new(PhysAddr::new(0x3800_0000), 0x2000).unwrap();
        assert_eq!(p.occupy(r).unwrap(), r);
        assert!(p.occupy(r).is_err());
        let a = p.allocate(1, u64::MAX).unwrap();
        assert_eq!(a.base(), PhysAddr::new(0x3800_2000));
        p.free(r).unwrap();
        p.free(a).unwrap();
        assert_eq!(p.live(), 0);
    }
}
