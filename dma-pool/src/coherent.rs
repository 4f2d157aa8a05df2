//! The coherent DMA API: `alloc_coherent`, `free_coherent`, `mark_occupied`.
//!
//! This module owns the allocation order (device pool, exclusive unless it falls
//! through -> device CMA area -> default pool -> default CMA area -> system allocator
//! for `NON_CONSISTENT` only), the DMA-mask windows asked of each source, the checks
//! of each source's answer (inside the source, the exact size, under the mask, over
//! no live buffer), zeroing, the record of who owns each live buffer, and the
//! validation of frees against that owner and the device's chain. It writes memory
//! only to zero a buffer it has just allocated and checked; it must never read
//! buffers nor use the heap after setup.

use lock_api::{Mutex, RawMutex};

use crate::cma::{PhysRange, Region, RegionId, Request};
use crate::devices::{Entry, PoolRef, SystemSource};
use crate::hold::Held;
use crate::ledger::{Ledger, Record, Refused};
use crate::sync::Ordering;
use crate::{
    Attrs, BusMap, CoherentBuffer, CoherentPool, DeviceId, Devices, DmaAddr, DmaError, Refusal,
    SourceId,
};

/// Linux's page, the alignment of system-allocator buffers.
const SYSTEM_ALIGN: usize = 4096;

/// What the caller asked of a source: exact bytes on an alignment.
#[derive(Clone, Copy)]
struct Want {
    size: usize,
    align: usize,
}

static IDENTITY: BusMap = BusMap::Identity;

/// What a call knows about its device (or the lack of one); holds the device's entry
/// and pool so neither goes away during the call.
struct Ctx<'a, 'm, R: RawMutex> {
    id: Option<DeviceId>,
    entry: Option<Held<'a, Entry>>,
    pool: Option<PoolRef<'a, 'm, R>>,
    cma: Option<RegionId>,
    /// The system allocator, held for the call (its record lives in the cell).
    system: Option<Held<'a, SystemSource<'m, R>>>,
}

impl<'m, R: RawMutex> Ctx<'_, 'm, R> {
    fn mask(&self) -> u64 {
        self.entry
            .as_ref()
            .map_or(u64::MAX, |e| e.device.coherent_mask())
    }

    fn bus(&self) -> &BusMap {
        self.entry.as_ref().map_or(&IDENTITY, |e| e.device.bus())
    }

    fn pool(&self) -> Option<&CoherentPool<'m, R>> {
        self.pool.as_deref()
    }

    /// The id of the device's pool as a source (own or inherited: named by its
    /// owner).
    fn pool_id(&self) -> SourceId {
        self.pool
            .as_ref()
            .map_or(SourceId::DefaultPool, |p| SourceId::Pool(p.owner_id))
    }
}

/// Where a buffer came from, with the record of that source's live buffers.
enum Source<'a, 'm, R: RawMutex> {
    Pool(&'a CoherentPool<'m, R>, SourceId),
    Cma(&'a Region<R>, &'a Mutex<R, Ledger>, RegionId),
    System(&'a SystemSource<'m, R>),
}

impl<R: RawMutex> Source<'_, '_, R> {
    fn ledger(&self) -> &Mutex<R, Ledger> {
        match self {
            Self::Pool(pool, _) => pool.ledger(),
            Self::Cma(_, ledger, _) => ledger,
            Self::System(system) => &system.ledger,
        }
    }

    fn id(&self) -> SourceId {
        match self {
            Self::Pool(_, id) => *id,
            Self::Cma(_, _, id) => SourceId::cma(*id),
            Self::System(_) => SourceId::System,
        }
    }

    /// The physical bytes the source may hand out.
    fn span(&self) -> PhysRange {
        match self {
            Self::Pool(pool, _) => pool.phys(),
            Self::Cma(region, ..) => region.range(),
            Self::System(system) => system.memory.span(),
        }
    }

    /// Gives `range` back: ours to give, the source handed it out a moment ago.
    fn undo(&self, range: PhysRange) {
        // Nothing to report: the caller is returning an error already.
        let _ = self.free(range);
    }

    /// Frees `range` in the source.
    fn free(&self, range: PhysRange) -> Result<(), Option<Refusal>> {
        match self {
            Self::Pool(pool, _) => pool.free(range).map_err(|e| Some(Refusal::of(e))),
            Self::Cma(region, ..) => region.free(range).map_err(|e| Some(Refusal::of(e))),
            Self::System(system) if system.memory.free(range) => Ok(()),
            Self::System(_) => Err(None),
        }
    }
}

impl<'m, R: RawMutex> Devices<'m, R> {
    /// A coherent buffer of exactly `size` bytes for `device` (`None`: no device, which
    /// uses only the defaults, sees physical addresses and has no mask).
    ///
    /// Sources in order: the device's pool (own or inherited; when it cannot serve the
    /// request the call fails, unless the pool was declared to fall through), the
    /// device's CMA area, the default pool, the default CMA area, and with
    /// [`Attrs::NON_CONSISTENT`] the system allocator. Each source is asked only for
    /// memory whose bus addresses are within the device's coherent mask, and its answer
    /// is checked (inside the source, exact size, under the mask, overlapping no live
    /// buffer) before anything is written. The buffer is zeroed unless
    /// [`Attrs::NO_ZERO`]; it has no CPU pointer with [`Attrs::NO_KERNEL_MAPPING`].
    ///
    /// Cost and locks: the device's entry and pool are held (atomics); each source
    /// tried takes its own lock for its search; the chosen source's record takes its
    /// lock for an `O(log n)` insert; the device's count is atomic. No heap. May run in
    /// IRQ context with an IRQ-safe lock type, unless a reusable CMA region is tried
    /// (its reclaim hook).
    ///
    /// # Errors
    ///
    /// [`DmaError::UnknownDevice`], [`DmaError::UnknownCmaRegion`] for a device whose
    /// CMA area the registry does not have, [`DmaError::ZeroSize`], [`DmaError::NoMemory`]
    /// when every source failed, [`DmaError::Unmapped`] if zeroing needs a CPU mapping
    /// the source's mapper does not have, [`DmaError::NotOnBus`] if the device cannot
    /// reach the buffer, [`DmaError::BookFull`] if the source's record is full,
    /// [`DmaError::BadAnswer`] or [`DmaError::BufferOverlap`] for a faulty source's
    /// answer (nothing stays allocated then, nothing was written).
    pub fn alloc_coherent(
        &self,
        device: Option<DeviceId>,
        size: usize,
        attrs: Attrs,
    ) -> Result<CoherentBuffer, DmaError> {
        self.alloc_coherent_aligned(device, size, 1, attrs)
    }

    /// [`alloc_coherent`](Self::alloc_coherent) with the buffer's physical base a
    /// multiple of `align` (a power of two) as well as of its source's own alignment:
    /// whichever is larger. Every source of the fallback order honours it, and the
    /// answer is checked. Sizes stay exact. Same locks and context rules.
    ///
    /// ```
    /// use contig_dma_pool::cma::{PhysAddr, PhysRange};
    /// use contig_dma_pool::{Attrs, CoherentPool, Device, Devices, DmaAddr, PoolOptions};
    /// use contig_dma_sim::SimMemory;
    ///
    /// let mem = SimMemory::new(PhysRange::new(PhysAddr::new(0x1000_0000), 0x4_0000).unwrap()).unwrap();
    /// let devs: Devices = Devices::new(&mem).unwrap();
    /// let nic = devs.add(Device::new("nic").unwrap()).unwrap();
    /// let pool = CoherentPool::new("nic-pool", PhysAddr::new(0x1000_0000), DmaAddr::new(0x1000_0000),
    ///     0x4_0000, &mem, PoolOptions::new()).unwrap();
    /// devs.declare_coherent(nic, pool).unwrap();
    /// let small = devs.alloc_coherent(Some(nic), 100, Attrs::NONE).unwrap(); // one page
    /// // A descriptor ring the hardware wants on a 64 KiB boundary, 6000 bytes exactly.
    /// let ring = devs.alloc_coherent_aligned(Some(nic), 6000, 0x1_0000, Attrs::NONE).unwrap();
    /// assert!(ring.phys.is_aligned(0x1_0000) && ring.dma.is_aligned(0x1_0000));
    /// assert_eq!(ring.size, 6000);
    /// assert!(devs.alloc_coherent_aligned(Some(nic), 64, 3, Attrs::NONE).is_err());
    /// devs.free_coherent(Some(nic), &ring).unwrap();
    /// devs.free_coherent(Some(nic), &small).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// As [`alloc_coherent`](Self::alloc_coherent), and [`DmaError::BadAlignment`] for an
    /// `align` that is not a power of two (checked after the size).
    pub fn alloc_coherent_aligned(
        &self,
        device: Option<DeviceId>,
        size: usize,
        align: usize,
        attrs: Attrs,
    ) -> Result<CoherentBuffer, DmaError> {
        let ctx = self.context(device)?;
        if size == 0 {
            return Err(DmaError::ZeroSize { device: ctx.id });
        }
        if !align.is_power_of_two() {
            return Err(DmaError::BadAlignment {
                device: ctx.id,
                align,
            });
        }
        let want = Want { size, align };
        if let Some(pool) = ctx.pool() {
            match pool.allocate_aligned(size, align, ctx.mask()) {
                Ok(range) => {
                    let source = Source::Pool(pool, ctx.pool_id());
                    return self.finish(&ctx, &source, range, want, attrs);
                }
                Err(_) if pool.is_fallthrough() => {}
                Err(_) => return Err(self.no_memory(&ctx, size)),
            }
        }
        if let Some(buffer) = ctx.cma.and_then(|id| self.try_cma(&ctx, id, want, attrs)) {
            return buffer;
        }
        if let Some(pool) = self.default_pool.hold() {
            if let Ok(range) = pool.allocate_aligned(size, align, ctx.mask()) {
                let source = Source::Pool(*pool, SourceId::DefaultPool);
                return self.finish(&ctx, &source, range, want, attrs);
            }
        }
        if let Some(id) = self.default_cma.hold() {
            if let Some(buffer) = self.try_cma(&ctx, *id, want, attrs) {
                return buffer;
            }
        }
        if attrs.contains(Attrs::NON_CONSISTENT) {
            if let Some(system) = ctx.system.as_deref() {
                let align = align.max(SYSTEM_ALIGN);
                for window in ctx.bus().reachable(ctx.mask()) {
                    if let Some(range) = system.memory.allocate(size, align, window) {
                        let source = Source::System(system);
                        return self.finish(&ctx, &source, range, want, attrs);
                    }
                }
            }
        }
        Err(self.no_memory(&ctx, size))
    }

    /// Gives a buffer back through the device it was allocated for (Linux's contract
    /// for `dma_free_coherent`): `device` must be the one passed to `alloc_coherent`
    /// (or `mark_occupied`), `None` for a buffer allocated with no device. It must also
    /// belong to a source of `device`'s chain and carry the addresses and exact size it
    /// was handed out with. Freeing through a parent, a child or another device sharing
    /// the source is refused, so each device's [`live`](Self::live) count stays exact.
    ///
    /// Cost and locks: the device's entry and pool are held (atomics); the source's
    /// record lock is taken for an `O(log n)` look-up and removal, and the source's own
    /// lock nested inside it for the backend's free. No heap. May run in IRQ context
    /// with an IRQ-safe lock type, unless the buffer is in a reusable CMA region (its
    /// reclaim hook).
    ///
    /// # Errors
    ///
    /// In order: [`DmaError::UnknownDevice`]; [`DmaError::WrongDevice`] (naming both
    /// devices) for a live buffer allocated for another device or for none;
    /// [`DmaError::NotOwned`] for a buffer of no source of the chain or a bus address
    /// that does not match its physical one; [`DmaError::BadFree`] for no live buffer
    /// there (double free, not a buffer start, memory not taken through this registry)
    /// or when the source refuses; [`DmaError::WrongSize`] for a changed size;
    /// [`DmaError::SystemFree`] when the system allocator refuses. Nothing changes on
    /// error.
    pub fn free_coherent(
        &self,
        device: Option<DeviceId>,
        buffer: &CoherentBuffer,
    ) -> Result<(), DmaError> {
        let ctx = self.context(device)?;
        let not_owned = DmaError::NotOwned {
            device: ctx.id,
            dma: buffer.dma,
            size: buffer.size,
        };
        let range = PhysRange::new(buffer.phys, buffer.size).map_err(|_| not_owned)?;
        match self.owner(&ctx, range) {
            Some((source, dma)) => self.free_in(&ctx, &source, dma, range, buffer),
            None => self
                .free_elsewhere(&ctx, range, buffer)
                .unwrap_or(Err(not_owned)),
        }
    }

    /// Frees `range` in `source`, where the device's chain (or its record) found it.
    fn free_in(
        &self,
        ctx: &Ctx<'_, 'm, R>,
        source: &Source<'_, 'm, R>,
        dma: Option<DmaAddr>,
        range: PhysRange,
        buffer: &CoherentBuffer,
    ) -> Result<(), DmaError> {
        let bad = |cause| DmaError::BadFree {
            device: ctx.id,
            cause,
            dma: buffer.dma,
            size: buffer.size,
        };
        // Held across the source's free: nobody may record a buffer at this address
        // before ours is gone from the source.
        let mut ledger = source.ledger().lock();
        let record = ledger.get(range.base());
        if let Some(owner) = record.map(|r| r.owner).filter(|&o| o != ctx.id) {
            drop(ledger);
            return Err(DmaError::WrongDevice {
                device: ctx.id,
                owner,
                dma: buffer.dma,
            });
        }
        if dma != Some(buffer.dma) {
            return Err(DmaError::NotOwned {
                device: ctx.id,
                dma: buffer.dma,
                size: buffer.size,
            });
        }
        match record {
            None if ledger.covering(range.base()).is_some() => {
                return Err(bad(Refusal::NotStart));
            }
            None => return Err(bad(Refusal::NotAllocated)),
            Some(r) if r.size != range.size() => {
                return Err(DmaError::WrongSize {
                    device: ctx.id,
                    dma: buffer.dma,
                    actual: r.size,
                });
            }
            Some(_) => {}
        }
        source.free(range).map_err(|cause| match cause {
            Some(cause) => bad(cause),
            None => DmaError::SystemFree {
                device: ctx.id,
                dma: buffer.dma,
                size: buffer.size,
            },
        })?;
        ledger.remove(range.base());
        drop(ledger);
        count(ctx, false);
        Ok(())
    }

    /// A free of a buffer outside the device's chain: a live buffer recorded for this
    /// device in a source the chain no longer reaches (allocated from a default
    /// before the device got an exclusive pool) is freed there; one recorded for
    /// another device is [`DmaError::WrongDevice`]; anything else is `None` (not owned).
    /// Sources never overlap, so at most one holds `range`. Off the common path: it
    /// looks at every pool of the registry.
    fn free_elsewhere(
        &self,
        ctx: &Ctx<'_, 'm, R>,
        range: PhysRange,
        buffer: &CoherentBuffer,
    ) -> Option<Result<(), DmaError>> {
        let base = range.base();
        let recorded = |ledger: &Mutex<R, Ledger>| ledger.lock().get(base).is_some();
        let on_bus = ctx.bus().to_dma(range.base(), range.size()).ok();
        let mut pools = self.all_pools();
        if let Some((owner, pool)) = pools.find(|(_, p)| p.phys().contains_range(&range)) {
            let source = Source::Pool(pool.get(), SourceId::Pool(owner));
            return recorded(pool.ledger())
                .then(|| self.free_in(ctx, &source, pool.to_dma(range), range, buffer));
        }
        if let Some(pool) = self
            .default_pool()
            .filter(|p| p.phys().contains_range(&range))
        {
            let source = Source::Pool(pool, SourceId::DefaultPool);
            return recorded(pool.ledger())
                .then(|| self.free_in(ctx, &source, pool.to_dma(range), range, buffer));
        }
        if let Some(id) = self.cma.get().and_then(|c| c.area.find(base)) {
            let region = self.cma_region(id)?;
            let ledger = self.cma_ledger(id)?;
            let source = Source::Cma(region, ledger, id);
            return recorded(ledger).then(|| self.free_in(ctx, &source, on_bus, range, buffer));
        }
        let system = ctx.system.as_deref()?;
        if system.memory.span().contains_range(&range) && recorded(&system.ledger) {
            return Some(self.free_in(ctx, &Source::System(system), on_bus, range, buffer));
        }
        None
    }

    /// Marks `size` bytes at bus address `dma` of the device's own pool as in use (Linux
    /// `dma_mark_declared_memory_occupied`) and returns them as a buffer (not zeroed:
    /// someone uses that memory already). It belongs to `device`: free it with
    /// [`free_coherent`](Self::free_coherent) through `device`. Same locks and context
    /// rules as [`alloc_coherent`](Self::alloc_coherent).
    ///
    /// # Errors
    ///
    /// [`DmaError::UnknownDevice`], [`DmaError::NoPool`], [`DmaError::NotInPool`] if the bytes
    /// are not in the pool, [`DmaError::Occupy`] if they overlap a buffer, [`DmaError::BookFull`]
    /// if the pool cannot record it (nothing stays occupied then).
    pub fn mark_occupied(
        &self,
        device: DeviceId,
        dma: DmaAddr,
        size: usize,
    ) -> Result<CoherentBuffer, DmaError> {
        let entry = self.hold(device)?;
        let own = self.own_pool(device)?;
        let pool = own.as_deref().ok_or(DmaError::NoPool { device })?;
        let range = pool
            .to_phys(dma, size)
            .ok_or(DmaError::NotInPool { device, dma, size })?;
        let occupied = pool.occupy(range).map_err(|e| DmaError::Occupy {
            device,
            cause: Refusal::of(e),
            dma,
            size,
        })?;
        let record = Record {
            size: occupied.size(),
            owner: Some(device),
        };
        if let Err(refused) = pool.ledger().lock().insert(occupied.base(), record) {
            // `occupied` is exactly what the pool just claimed.
            let _ = pool.free(occupied);
            let source = SourceId::Pool(device);
            return Err(match refused {
                Refused::Full => DmaError::BookFull {
                    device: Some(device),
                    source,
                    capacity: pool.ledger().lock().capacity(),
                },
                Refused::Overlaps(_) => DmaError::BufferOverlap {
                    source,
                    range: occupied,
                },
            });
        }
        entry.live.fetch_add(1, Ordering::AcqRel);
        Ok(CoherentBuffer {
            cpu: pool.mapper().cpu_addr(occupied),
            dma,
            phys: occupied.base(),
            size: occupied.size(),
        })
    }

    /// The buffer of `size` bytes at bus address `dma` in `device`'s chain, as
    /// `alloc_coherent` returned it (with the CPU pointer of its source's mapping).
    /// For callers that kept only the bus address (C-style APIs, `virtio_drivers::Hal`).
    /// It does not check that the buffer is live: [`free_coherent`](Self::free_coherent)
    /// does. Holds only atomics: any context.
    ///
    /// # Errors
    ///
    /// [`DmaError::UnknownDevice`]; [`DmaError::NotOwned`] if no source of the chain holds
    /// those bytes at that bus address.
    pub fn find_buffer(
        &self,
        device: Option<DeviceId>,
        dma: DmaAddr,
        size: usize,
    ) -> Result<CoherentBuffer, DmaError> {
        let ctx = self.context(device)?;
        let on_bus = ctx
            .bus()
            .to_phys(dma, size)
            .ok()
            .and_then(|p| PhysRange::new(p, size).ok());
        let default_pool = self.default_pool.hold();
        let candidates = [
            ctx.pool().and_then(|p| p.to_phys(dma, size)),
            on_bus,
            default_pool.as_ref().and_then(|p| p.to_phys(dma, size)),
        ];
        for range in candidates.into_iter().flatten() {
            if let Some((source, Some(found))) = self.owner(&ctx, range) {
                if found == dma {
                    let mapper = match source {
                        Source::Pool(pool, _) => pool.mapper(),
                        Source::Cma(..) | Source::System(_) => self.ram,
                    };
                    return Ok(CoherentBuffer {
                        cpu: mapper.cpu_addr(range),
                        dma,
                        phys: range.base(),
                        size,
                    });
                }
            }
        }
        Err(DmaError::NotOwned {
            device: ctx.id,
            dma,
            size,
        })
    }

    fn context(&self, device: Option<DeviceId>) -> Result<Ctx<'_, 'm, R>, DmaError> {
        let Some(id) = device else {
            return Ok(Ctx {
                id: None,
                entry: None,
                pool: None,
                cma: None,
                system: self.system.hold(),
            });
        };
        let entry = self.hold(id)?;
        let cma = entry.device.cma_area();
        if let Some(region) = cma.filter(|&r| self.cma_region(r).is_none()) {
            return Err(DmaError::UnknownCmaRegion { device: id, region });
        }
        let pool = self.pool_of(id, &entry)?;
        Ok(Ctx {
            id: Some(id),
            entry: Some(entry),
            pool,
            cma,
            system: self.system.hold(),
        })
    }

    fn no_memory(&self, ctx: &Ctx<'_, 'm, R>, size: usize) -> DmaError {
        DmaError::NoMemory {
            device: ctx.id,
            size,
            mask: ctx.mask(),
        }
    }

    /// Tries CMA region `id` once per physical window the device's mask reaches.
    fn try_cma(
        &self,
        ctx: &Ctx<'_, 'm, R>,
        id: RegionId,
        want: Want,
        attrs: Attrs,
    ) -> Option<Result<CoherentBuffer, DmaError>> {
        let region = self.cma_region(id)?;
        let ledger = self.cma_ledger(id)?;
        let request = Request::new(want.size).aligned(want.align);
        ctx.bus().reachable(ctx.mask()).find_map(|window| {
            let range = region.allocate(&request.within(window)).ok()?;
            let source = Source::Cma(region, ledger, id);
            Some(self.finish(ctx, &source, range, want, attrs))
        })
    }

    /// Which source of the chain holds `range`, and the bus address it would have.
    fn owner<'a>(
        &'a self,
        ctx: &'a Ctx<'a, 'm, R>,
        range: PhysRange,
    ) -> Option<(Source<'a, 'm, R>, Option<DmaAddr>)> {
        if let Some(pool) = ctx.pool() {
            if pool.phys().contains_range(&range) {
                return Some((Source::Pool(pool, ctx.pool_id()), pool.to_dma(range)));
            }
            if !pool.is_fallthrough() {
                return None;
            }
        }
        let on_bus = || ctx.bus().to_dma(range.base(), range.size()).ok();
        let cma = |id: RegionId| {
            let region = self.cma_region(id)?;
            let ledger = self.cma_ledger(id)?;
            region
                .range()
                .contains_range(&range)
                .then_some(Source::Cma(region, ledger, id))
        };
        if let Some(source) = ctx.cma.and_then(cma) {
            return Some((source, on_bus()));
        }
        if let Some(pool) = self
            .default_pool()
            .filter(|p| p.phys().contains_range(&range))
        {
            return Some((
                Source::Pool(pool, SourceId::DefaultPool),
                pool.to_dma(range),
            ));
        }
        if let Some(source) = self.default_cma().and_then(cma) {
            return Some((source, on_bus()));
        }
        let system = ctx.system.as_deref()?;
        system
            .memory
            .span()
            .contains_range(&range)
            .then(|| (Source::System(system), on_bus()))
    }

    /// Turns a fresh range into a buffer: checks the source's answer, records it,
    /// zeroes it, counts it.
    ///
    /// An answer that is not what was asked (outside the source, another size) or
    /// that overlaps a live buffer is refused and *not* given back: freeing it could
    /// free a live buffer's memory in the faulty source. Any later failure gives the
    /// range back, since the source really handed it out and nobody else has it.
    fn finish(
        &self,
        ctx: &Ctx<'_, 'm, R>,
        source: &Source<'_, 'm, R>,
        range: PhysRange,
        want: Want,
        attrs: Attrs,
    ) -> Result<CoherentBuffer, DmaError> {
        let bad_answer = DmaError::BadAnswer {
            source: source.id(),
            range,
        };
        let size = want.size;
        let fits = range.size() == size && range.base().is_aligned(want.align);
        if !fits || !source.span().contains_range(&range) {
            return Err(bad_answer);
        }
        let record = Record {
            size,
            owner: ctx.id,
        };
        let recorded = source.ledger().lock().insert(range.base(), record);
        match recorded {
            Ok(()) => {}
            Err(Refused::Overlaps(_)) => {
                return Err(DmaError::BufferOverlap {
                    source: source.id(),
                    range,
                });
            }
            Err(Refused::Full) => {
                source.undo(range);
                return Err(DmaError::BookFull {
                    device: ctx.id,
                    source: source.id(),
                    capacity: source.ledger().lock().capacity(),
                });
            }
        }
        let fail = |error| {
            source.ledger().lock().remove(range.base());
            source.undo(range);
            Err(error)
        };
        let (dma, mapper) = match source {
            Source::Pool(pool, _) => (pool.to_dma(range).ok_or(()), pool.mapper()),
            Source::Cma(..) | Source::System(_) => (
                ctx.bus().to_dma(range.base(), range.size()).map_err(|_| ()),
                self.ram,
            ),
        };
        let Ok(dma) = dma else {
            return fail(DmaError::NotOnBus {
                device: ctx.id,
                phys: range.base(),
                size: range.size(),
            });
        };
        let last = dma.checked_add((size as u64).saturating_sub(1));
        if last.is_none_or(|last| last.as_u64() > ctx.mask()) {
            return fail(bad_answer);
        }
        let cpu = mapper.cpu_addr(range);
        if !attrs.contains(Attrs::NO_ZERO) {
            let Some(cpu) = cpu else {
                return fail(DmaError::Unmapped {
                    device: ctx.id,
                    phys: range.base(),
                    size: range.size(),
                });
            };
            // SAFETY: the mapper's contract makes `cpu` valid for writes of
            // `range.size()` bytes mapping exactly `range`. Nobody else owns those
            // bytes: `range` lies inside this source (checked above), sources never
            // overlap (checked when each was declared, `check_disjoint`), and the
            // source's record just accepted it as overlapping no live buffer of the
            // source (`Ledger::insert`), so no live buffer of the registry covers it.
            unsafe { cpu.as_ptr().write_bytes(0, range.size()) };
        }
        count(ctx, true);
        Ok(CoherentBuffer {
            cpu: cpu.filter(|_| !attrs.contains(Attrs::NO_KERNEL_MAPPING)),
            dma,
            phys: range.base(),
            size: range.size(),
        })
    }
}

fn count<R: RawMutex>(ctx: &Ctx<'_, '_, R>, up: bool) {
    if let Some(entry) = &ctx.entry {
        if up {
            entry.live.fetch_add(1, Ordering::AcqRel);
        } else {
            entry.live.fetch_sub(1, Ordering::AcqRel);
        }
    }
}
