//! The coherent DMA API: `alloc_coherent`, `free_coherent`, `mark_occupied`.
//!
//! This module owns the allocation order (device pool, exclusive unless it falls
//! through -> device CMA area -> default pool -> default CMA area -> system allocator
//! for `NON_CONSISTENT` only), the DMA-mask windows asked of each source, zeroing, the
//! record of who owns each live buffer, and the validation of frees against that owner
//! and the device's chain. It writes memory only to zero a buffer it has just
//! allocated; it must never read buffers nor use the heap after setup.

use lock_api::RawMutex;

use crate::book::Record;
use crate::cma::{Name, PhysAddr, PhysRange, Region, Request};
use crate::devices::Entry;
use crate::{
    Attrs, BusMap, CoherentBuffer, CoherentPool, DeviceId, Devices, DmaAddr, Error, Refusal,
    SystemMemory,
};

/// Linux's page, the alignment of system-allocator buffers.
const SYSTEM_ALIGN: usize = 4096;

static IDENTITY: BusMap = BusMap::Identity;

/// What a call knows about its device (or the lack of one).
struct Ctx<'a, 'm, R: RawMutex> {
    id: Option<DeviceId>,
    name: Option<Name>,
    mask: u64,
    bus: &'a BusMap,
    entry: Option<&'a Entry<'m, R>>,
    pool: Option<&'a CoherentPool<'m, R>>,
    cma: Option<&'a Region<R>>,
}

/// Where a buffer came from.
enum Source<'a, 'm, R: RawMutex> {
    Pool(&'a CoherentPool<'m, R>),
    Cma(&'a Region<R>),
    System(&'a dyn SystemMemory),
}

impl<R: RawMutex> Source<'_, '_, R> {
    /// Gives `range` back after a failure of ours (it was allocated a moment ago).
    fn undo(&self, range: PhysRange) {
        // Cannot fail: `range` is exactly what the source just handed out.
        let _ = match self {
            Self::Pool(pool) => pool.free(range).is_ok(),
            Self::Cma(region) => region.free(range).is_ok(),
            Self::System(system) => system.free(range),
        };
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
    /// memory whose bus addresses are within the device's coherent mask. The buffer is
    /// zeroed unless [`Attrs::NO_ZERO`]; it has no CPU pointer with
    /// [`Attrs::NO_KERNEL_MAPPING`].
    ///
    /// Cost: one lock per source tried, plus one for the device's count; no heap.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownDevice`], [`Error::ZeroSize`], [`Error::NoMemory`] when every
    /// source failed, [`Error::Unmapped`] if zeroing needs a CPU mapping the source's
    /// mapper does not have (nothing stays allocated then).
    pub fn alloc_coherent(
        &self,
        device: Option<DeviceId>,
        size: usize,
        attrs: Attrs,
    ) -> Result<CoherentBuffer, Error> {
        let ctx = self.context(device)?;
        if size == 0 {
            return Err(Error::ZeroSize { device: ctx.name });
        }
        if let Some(pool) = ctx.pool {
            match pool.allocate(size, ctx.mask) {
                Ok(range) => return self.finish(&ctx, &Source::Pool(pool), range, attrs),
                Err(_) if pool.is_fallthrough() => {}
                Err(_) => return Err(self.no_memory(&ctx, size)),
            }
        }
        if let Some(region) = ctx.cma {
            if let Some(buffer) = self.try_cma(&ctx, region, ctx.bus, size, attrs) {
                return buffer;
            }
        }
        if let Some(pool) = self.default_pool {
            if let Ok(range) = pool.allocate(size, ctx.mask) {
                return self.finish(&ctx, &Source::Pool(pool), range, attrs);
            }
        }
        if let Some(region) = self.default_cma_region() {
            if let Some(buffer) = self.try_cma(&ctx, region, ctx.bus, size, attrs) {
                return buffer;
            }
        }
        if attrs.contains(Attrs::NON_CONSISTENT) {
            if let Some(system) = self.system {
                for window in ctx.bus.reachable(ctx.mask) {
                    if let Some(range) = system.allocate(size, SYSTEM_ALIGN, window) {
                        return self.finish(&ctx, &Source::System(system), range, attrs);
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
    /// Cost: `O(log n)` in the live buffers of the registry, plus the source's free;
    /// no heap.
    ///
    /// # Errors
    ///
    /// In order: [`Error::UnknownDevice`]; [`Error::WrongDevice`] (naming both devices)
    /// for a live buffer allocated for another device or for none; [`Error::NotOwned`]
    /// for a buffer of no source of the chain or a bus address that does not match its
    /// physical one; [`Error::BadFree`] for no live buffer there (double free, not a
    /// buffer start, memory not taken through this registry) or a changed size, or when
    /// the source refuses; [`Error::SystemFree`] when the system allocator refuses.
    /// Nothing changes on error.
    pub fn free_coherent(
        &self,
        device: Option<DeviceId>,
        buffer: &CoherentBuffer,
    ) -> Result<(), Error> {
        let ctx = self.context(device)?;
        let not_owned = Error::NotOwned {
            device: ctx.name,
            dma: buffer.dma,
            size: buffer.size,
        };
        let range = PhysRange::new(buffer.phys, buffer.size).map_err(|_| not_owned)?;
        // Held across the free: nobody may free or record a buffer at this address
        // before ours is gone from the book.
        let mut book = self.book.lock();
        let record = book.get(range.base());
        if let Some(owner) = record.map(|r| r.owner).filter(|&o| o != device) {
            return Err(self.wrong_device(&ctx, owner, buffer));
        }
        let (source, dma) = self.owner(&ctx, range).ok_or(not_owned)?;
        if dma != Some(buffer.dma) {
            return Err(not_owned);
        }
        let bad = |cause| Error::BadFree {
            device: ctx.name,
            dma: buffer.dma,
            size: buffer.size,
            cause,
        };
        match record {
            None if book.covers(range.base()) => return Err(bad(Refusal::NotStart)),
            None => return Err(bad(Refusal::NotAllocated)),
            Some(r) if r.size != range.size() => {
                return Err(bad(Refusal::WrongSize { actual: r.size }));
            }
            Some(_) => {}
        }
        give_back(&ctx, &source, range, buffer)?;
        book.remove(range.base());
        drop(book);
        count(&ctx, false);
        Ok(())
    }

    /// The refusal of a free through `ctx`'s device of a buffer `owner` holds.
    fn wrong_device(
        &self,
        ctx: &Ctx<'_, 'm, R>,
        owner: Option<DeviceId>,
        buffer: &CoherentBuffer,
    ) -> Error {
        let owner = match owner {
            None => None,
            // A device with live buffers cannot be removed, so its entry is there.
            Some(id) => match self.entry(id) {
                Ok(entry) => Some(entry.device.name()),
                Err(e) => return e,
            },
        };
        Error::WrongDevice {
            device: ctx.name,
            owner,
            dma: buffer.dma,
            size: buffer.size,
        }
    }

    /// Marks `size` bytes at bus address `dma` of the device's own pool as in use (Linux
    /// `dma_mark_declared_memory_occupied`) and returns them as a buffer (not zeroed:
    /// someone uses that memory already). It belongs to `device`: free it with
    /// [`free_coherent`](Self::free_coherent) through `device`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownDevice`], [`Error::NoPool`], [`Error::Translate`] if the bytes
    /// are not in the pool, [`Error::Occupy`] if they overlap a buffer, [`Error::BookFull`]
    /// if the registry cannot record it (nothing stays occupied then).
    pub fn mark_occupied(
        &self,
        device: DeviceId,
        dma: DmaAddr,
        size: usize,
    ) -> Result<CoherentBuffer, Error> {
        let entry = self.entry(device)?;
        let name = entry.device.name();
        let pool = entry.pool.as_ref().ok_or(Error::NoPool { device: name })?;
        let range = pool.to_phys(dma, size).ok_or(Error::Translate {
            device: Some(name),
            error: crate::TranslateError::DmaNotInMemory { dma, size },
        })?;
        let occupied = pool.occupy(range).map_err(|e| match e {
            Error::Cma(cause) => Error::Occupy {
                device: name,
                dma,
                size,
                cause: Refusal::of(cause),
            },
            other => other,
        })?;
        let record = Record {
            size: occupied.size(),
            owner: Some(device),
            pooled: true,
        };
        if !self.book.lock().insert(occupied.base(), record) {
            // Cannot fail: `occupied` is exactly what the pool just claimed.
            let _ = pool.free(occupied);
            return Err(Error::BookFull {
                device: Some(name),
                capacity: self.book.capacity(),
            });
        }
        let mut live = entry.live.lock();
        *live = live.saturating_add(1);
        drop(live);
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
    /// does.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownDevice`]; [`Error::NotOwned`] if no source of the chain holds
    /// those bytes at that bus address.
    pub fn find_buffer(
        &self,
        device: Option<DeviceId>,
        dma: DmaAddr,
        size: usize,
    ) -> Result<CoherentBuffer, Error> {
        let ctx = self.context(device)?;
        let on_bus = ctx
            .bus
            .to_phys(dma, size)
            .ok()
            .and_then(|p| PhysRange::new(p, size).ok());
        let candidates = [
            ctx.pool.and_then(|p| p.to_phys(dma, size)),
            on_bus,
            self.default_pool.and_then(|p| p.to_phys(dma, size)),
        ];
        for range in candidates.into_iter().flatten() {
            if let Some((source, Some(found))) = self.owner(&ctx, range) {
                if found == dma {
                    let mapper = match source {
                        Source::Pool(pool) => pool.mapper(),
                        Source::Cma(_) | Source::System(_) => self.ram,
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
        Err(Error::NotOwned {
            device: ctx.name,
            dma,
            size,
        })
    }

    fn context(&self, device: Option<DeviceId>) -> Result<Ctx<'_, 'm, R>, Error> {
        let Some(id) = device else {
            return Ok(Ctx {
                id: None,
                name: None,
                mask: u64::MAX,
                bus: &IDENTITY,
                entry: None,
                pool: None,
                cma: None,
            });
        };
        let entry = self.entry(id)?;
        let d = &entry.device;
        let cma = match d.cma_area() {
            Some(region) => Some(self.region(Some(d.name()), region)?),
            None => None,
        };
        Ok(Ctx {
            id: Some(id),
            name: Some(d.name()),
            mask: d.coherent_mask(),
            bus: d.bus(),
            entry: Some(entry),
            pool: self.pool(id)?,
            cma,
        })
    }

    fn region(&self, device: Option<Name>, id: crate::cma::RegionId) -> Result<&Region<R>, Error> {
        self.cma
            .and_then(|a| a.get(id))
            .ok_or(Error::UnknownCmaRegion { device, region: id })
    }

    fn default_cma_region(&self) -> Option<&Region<R>> {
        self.region(None, self.default_cma?).ok()
    }

    fn no_memory(&self, ctx: &Ctx<'_, 'm, R>, size: usize) -> Error {
        Error::NoMemory {
            device: ctx.name,
            size,
            mask: ctx.mask,
        }
    }

    /// Tries `region` once per physical window the device's mask reaches.
    fn try_cma(
        &self,
        ctx: &Ctx<'_, 'm, R>,
        region: &Region<R>,
        bus: &BusMap,
        size: usize,
        attrs: Attrs,
    ) -> Option<Result<CoherentBuffer, Error>> {
        bus.reachable(ctx.mask).find_map(|window| {
            let range = region.allocate(&Request::new(size).within(window)).ok()?;
            Some(self.finish(ctx, &Source::Cma(region), range, attrs))
        })
    }

    /// Which source of the chain holds `range`, and the bus address it would have.
    fn owner<'a>(
        &'a self,
        ctx: &Ctx<'a, 'm, R>,
        range: PhysRange,
    ) -> Option<(Source<'a, 'm, R>, Option<DmaAddr>)> {
        if let Some(pool) = ctx.pool {
            if pool.phys().contains_range(&range) {
                return Some((Source::Pool(pool), pool.to_dma(range)));
            }
            if !pool.is_fallthrough() {
                return None;
            }
        }
        let on_bus = || ctx.bus.to_dma(range.base(), range.size()).ok();
        let in_region = |r: &Region<R>| r.range().contains_range(&range);
        if let Some(region) = ctx.cma.filter(|r| in_region(r)) {
            return Some((Source::Cma(region), on_bus()));
        }
        if let Some(pool) = self
            .default_pool
            .filter(|p| p.phys().contains_range(&range))
        {
            return Some((Source::Pool(pool), pool.to_dma(range)));
        }
        if let Some(region) = self.default_cma_region().filter(|r| in_region(r)) {
            return Some((Source::Cma(region), on_bus()));
        }
        let system = self.system.filter(|s| s.owns(range))?;
        Some((Source::System(system), on_bus()))
    }

    /// Turns a fresh range into a buffer: bus address, zeroing, CPU pointer, count.
    fn finish(
        &self,
        ctx: &Ctx<'_, 'm, R>,
        source: &Source<'_, 'm, R>,
        range: PhysRange,
        attrs: Attrs,
    ) -> Result<CoherentBuffer, Error> {
        let (dma, mapper) = match source {
            Source::Pool(pool) => (pool.to_dma(range).ok_or(()), pool.mapper()),
            Source::Cma(_) | Source::System(_) => (
                ctx.bus.to_dma(range.base(), range.size()).map_err(|_| ()),
                self.ram,
            ),
        };
        let Ok(dma) = dma else {
            source.undo(range);
            let error = crate::TranslateError::PhysNotOnBus {
                phys: range.base(),
                size: range.size(),
            };
            return Err(Error::Translate {
                device: ctx.name,
                error,
            });
        };
        let record = Record {
            size: range.size(),
            owner: ctx.id,
            pooled: matches!(source, Source::Pool(_)),
        };
        if !self.book.lock().insert(range.base(), record) {
            source.undo(range);
            return Err(Error::BookFull {
                device: ctx.name,
                capacity: self.book.capacity(),
            });
        }
        let cpu = mapper.cpu_addr(range);
        if !attrs.contains(Attrs::NO_ZERO) {
            let Some(cpu) = cpu else {
                self.book.lock().remove(range.base());
                source.undo(range);
                return Err(unmapped(ctx.name, range.base(), range.size()));
            };
            // SAFETY: the mapper's contract makes `cpu` valid for writes of
            // `range.size()` bytes mapping exactly `range`, and the source handed
            // `range` to us just now, so no other buffer owner can be using it.
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

/// Frees `range` in the source that holds it, with the refusal as a free's error.
fn give_back<R: RawMutex>(
    ctx: &Ctx<'_, '_, R>,
    source: &Source<'_, '_, R>,
    range: PhysRange,
    buffer: &CoherentBuffer,
) -> Result<(), Error> {
    let bad = |cause| Error::BadFree {
        device: ctx.name,
        dma: buffer.dma,
        size: buffer.size,
        cause,
    };
    match source {
        Source::Pool(pool) => pool.free(range).map_err(|e| match e {
            Error::Cma(cause) => bad(Refusal::of(cause)),
            other => other,
        }),
        Source::Cma(region) => region.free(range).map_err(|e| bad(Refusal::of(e))),
        Source::System(system) if system.free(range) => Ok(()),
        Source::System(_) => Err(Error::SystemFree {
            device: ctx.name,
            dma: buffer.dma,
            size: buffer.size,
        }),
    }
}

fn unmapped(device: Option<Name>, phys: PhysAddr, size: usize) -> Error {
    Error::Unmapped { device, phys, size }
}

fn count<R: RawMutex>(ctx: &Ctx<'_, '_, R>, up: bool) {
    if let Some(entry) = ctx.entry {
        let mut live = entry.live.lock();
        *live = if up {
            live.saturating_add(1)
        } else {
            live.saturating_sub(1)
        };
    }
}
