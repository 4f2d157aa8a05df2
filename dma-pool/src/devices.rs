//! The device registry: devices, their pools, the default sources, and who owns what.
//!
//! This module owns [`Devices`]: adding and removing devices (refused while they have
//! children, live buffers or calls in flight), declaring and releasing per-device
//! coherent pools (Linux `dma_declare_coherent_memory` / `dma_release_coherent_memory`),
//! the default pool, default CMA area and system allocator, pool inheritance and
//! [`Devices::find_ancestor`]. Every method takes `&self`: a remote processor's boot
//! adds devices and pools while other CPUs allocate.
//!
//! How that stays safe without a registry-wide lock on the DMA path: device entries,
//! pools and default sources live in [`HoldCell`]s. A DMA call *holds* what it uses
//! (one atomic compare-exchange each); setup calls are serialised among themselves by
//! one setup lock that DMA calls never take, and take a value out of its cell only
//! when no call holds it: they wait a bounded time for calls in flight to end, then
//! give up with [`Error::DeviceBusy`] (a reference the caller keeps never ends). No two
//! sources may cover the same physical byte: every declaration is checked against all
//! the others under the setup lock. It must never know what kind of device an entry is.

use alloc::vec::Vec;
use core::fmt;
use core::num::NonZeroU32;
use core::ops::Deref;
use core::sync::atomic::{AtomicU32, Ordering as Plain};

use lock_api::{Mutex, RawMutex};

use crate::cma::fallible::try_push;
use crate::cma::{AreaSet, DefaultLock, Name, PhysRange, Region, RegionId};
use crate::error::Names;
use crate::hold::{Held, HoldCell, TakeError};
use crate::ledger::Ledger;
use crate::sync::{AtomicUsize, Ordering};
use crate::{
    CoherentPool, Device, DeviceId, DmaError, Error, Mapper, SourceId, SourceName, SystemMemory,
};

/// Live buffers each CMA region and the system allocator of a registry can record
/// unless told otherwise (pools record as many as they can hold).
pub const DEFAULT_BOOK_CAPACITY: usize = 256;

/// Devices a registry holds unless told otherwise.
pub const DEFAULT_MAX_DEVICES: usize = 64;

/// A device as the registry keeps it.
pub(crate) struct Entry {
    pub(crate) generation: NonZeroU32,
    pub(crate) device: Device,
    /// Buffers allocated for the device and not yet freed.
    pub(crate) live: AtomicUsize,
}

struct Slot<'m, R: RawMutex> {
    entry: HoldCell<Entry>,
    /// The device's own pool; in its own cell so a DMA call holds just the pool.
    pool: HoldCell<CoherentPool<'m, R>>,
    /// The generation the next device in this slot gets (changed under the setup lock).
    next_generation: AtomicU32,
}

/// The CMA area set and the record of each of its regions' live buffers.
pub(crate) struct CmaSource<'m, R: RawMutex> {
    pub(crate) area: &'m AreaSet<R>,
    /// One per region, by [`RegionId`] index.
    pub(crate) ledgers: Vec<Mutex<R, Ledger>>,
}

/// The system allocator and the record of its live buffers.
pub(crate) struct SystemSource<'m, R: RawMutex> {
    pub(crate) memory: &'m dyn SystemMemory,
    pub(crate) ledger: Mutex<R, Ledger>,
}

/// Devices and the memory they draw coherent buffers from.
///
/// `'m` is the lifetime of the memory descriptions it borrows: the CMA area set, the
/// default pool, mappers and the system allocator.
///
/// `R` defaults to `contig_cma::DefaultLock`, a spin lock that is **not** IRQ-safe:
/// a kernel that allocates from interrupt handlers names `IrqSafe<DefaultLock, Cpu>`
/// (or its own interrupt-masking lock) for the registry and its pools.
///
/// Locks, per call (with `R` the registry's lock type): an allocation holds the
/// device's entry and pool (atomics, no lock), takes the lock of each source it tries
/// while that source searches, and then its source's record lock for an `O(log n)`
/// insert; a free takes the source's record lock and, nested inside it, the source's
/// lock for the backend's free. Lock order: setup lock -> record lock -> source lock;
/// DMA calls never take the setup lock. With an IRQ-safe `R` (see
/// `contig_cma::IrqSafe`), the DMA calls ([`alloc_coherent`](Self::alloc_coherent),
/// [`free_coherent`](Self::free_coherent), [`find_buffer`](Self::find_buffer),
/// [`mark_occupied`](Self::mark_occupied) and the read-only look-ups) may run in IRQ
/// context, except on a device whose chain reaches a reusable CMA region (its reclaim
/// hook may sleep). Setup calls ([`add`](Self::add), [`remove`](Self::remove), pool
/// declaration and release, the `set_*` calls, construction) allocate or may spin on
/// the setup lock: thread context only, and never with a [`DeviceRef`] or [`PoolRef`]
/// of the same device held by the caller.
///
/// ```
/// use contig_dma_pool::{Device, Devices, NoMapping};
/// let devs: Devices = Devices::new(&NoMapping).unwrap();
/// let rproc = devs.add(Device::new("m4").unwrap()).unwrap();
/// let vdev = devs.add(Device::new("vdev0").unwrap().with_parent(rproc)).unwrap();
/// let owner = devs.find_ancestor(vdev, |_, d| d.name().as_str() == "m4").unwrap();
/// assert_eq!(owner, Some(rproc));
/// assert!(devs.remove(rproc).is_err()); // has a child
/// devs.remove(vdev).unwrap();
/// devs.remove(rproc).unwrap();
/// ```
pub struct Devices<'m, R: RawMutex = DefaultLock> {
    /// Fixed at construction, so holders never see a slot move.
    slots: Vec<Slot<'m, R>>,
    /// Serialises setup calls (never taken by DMA calls).
    setup: Mutex<R, ()>,
    pub(crate) ram: &'m dyn Mapper,
    pub(crate) cma: spin::Once<CmaSource<'m, R>>,
    pub(crate) default_pool: HoldCell<&'m CoherentPool<'m, R>>,
    pub(crate) default_cma: HoldCell<RegionId>,
    pub(crate) system: HoldCell<SystemSource<'m, R>>,
    /// Room in each CMA region's and the system allocator's record.
    records: usize,
}

/// A device's description, held: the device cannot be removed while this lives.
pub struct DeviceRef<'a> {
    held: Held<'a, Entry>,
}

impl Deref for DeviceRef<'_> {
    type Target = Device;

    fn deref(&self) -> &Device {
        &self.held.get().device
    }
}

impl fmt::Debug for DeviceRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.held.get().device.fmt(f)
    }
}

/// A device's pool (its own or inherited), held: it cannot be released, nor its
/// owner removed, while this lives.
pub struct PoolRef<'a, 'm, R: RawMutex> {
    /// The ancestor the pool belongs to, when inherited.
    _owner: Option<Held<'a, Entry>>,
    /// The device whose pool it is (the ancestor's id, when inherited).
    pub(crate) owner_id: DeviceId,
    pool: Held<'a, CoherentPool<'m, R>>,
}

impl<'m, R: RawMutex> Deref for PoolRef<'_, 'm, R> {
    type Target = CoherentPool<'m, R>;

    fn deref(&self) -> &CoherentPool<'m, R> {
        self.pool.get()
    }
}

impl<R: RawMutex> fmt::Debug for PoolRef<'_, '_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.pool.get().fmt(f)
    }
}

/// Which existing source a declaration replaces (and so is not checked against).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Replacing {
    Nothing,
    DefaultPool,
    System,
}

impl<'m, R: RawMutex> Devices<'m, R> {
    /// An empty registry for [`DEFAULT_MAX_DEVICES`] devices, whose CMA regions and
    /// system allocator each record up to [`DEFAULT_BOOK_CAPACITY`] live buffers; the
    /// CPU reaches CMA and system memory through `ram`. Setup, thread context.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfMemory`].
    pub fn new(ram: &'m dyn Mapper) -> Result<Self, Error> {
        Self::with_capacity(ram, DEFAULT_MAX_DEVICES, DEFAULT_BOOK_CAPACITY)
    }

    /// An empty registry for up to `devices` devices, whose CMA regions and system
    /// allocator each record up to `records` live buffers (who owns them and their
    /// exact sizes; reserved when the source is set, so that allocation never uses the
    /// heap). Pools record as many buffers as they can hold. Setup, thread context.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfMemory`].
    pub fn with_capacity(
        ram: &'m dyn Mapper,
        devices: usize,
        records: usize,
    ) -> Result<Self, Error> {
        let mut slots = Vec::new();
        slots
            .try_reserve_exact(devices)
            .map_err(|_| Error::OutOfMemory {
                what: "devices",
                count: devices,
            })?;
        for _ in 0..devices {
            let slot = Slot {
                entry: HoldCell::empty(),
                pool: HoldCell::empty(),
                next_generation: AtomicU32::new(1),
            };
            try_push(&mut slots, slot, "devices")?;
        }
        Ok(Self {
            slots,
            setup: Mutex::new(()),
            ram,
            cma: spin::Once::new(),
            default_pool: HoldCell::empty(),
            default_cma: HoldCell::empty(),
            system: HoldCell::empty(),
            records,
        })
    }

    /// The CMA area set that device CMA areas and the default CMA area are regions
    /// of; given once. Reserves each region's record of live buffers. Setup, thread
    /// context.
    ///
    /// # Errors
    ///
    /// [`Error::CmaAlreadySet`] if an area set was given already; [`Error::SourcesOverlap`]
    /// if a region overlaps a pool or the system allocator; [`Error::OutOfMemory`].
    pub fn set_cma(&self, area: &'m AreaSet<R>) -> Result<(), Error> {
        let _setup = self.setup.lock();
        if self.cma.get().is_some() {
            return Err(Error::CmaAlreadySet);
        }
        for (_, region) in area.regions() {
            let source = SourceName::Cma(region.name());
            self.check_disjoint(source, region.range(), Replacing::Nothing)?;
        }
        let count = area.regions().count();
        let mut ledgers = Vec::new();
        let oom = Error::OutOfMemory {
            what: "CMA region records",
            count,
        };
        ledgers.try_reserve_exact(count).map_err(|_| oom)?;
        for _ in 0..count {
            let ledger = Mutex::new(self.new_ledger(self.records)?);
            try_push(&mut ledgers, ledger, "CMA region records")?;
        }
        self.cma.call_once(|| CmaSource { area, ledgers });
        Ok(())
    }

    /// The default CMA area (`linux,cma-default`), or none. Setup, thread context.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownCmaRegion`] if the area set has no such region;
    /// [`Error::SourceBusy`] while the current default region has live buffers
    /// recorded by this registry or calls in flight.
    pub fn set_default_cma(&self, region: Option<RegionId>) -> Result<(), Error> {
        let _setup = self.setup.lock();
        if let Some(id) = region {
            self.region(None, id)?;
        }
        match self.default_cma.take_unless(|&old| self.cma_busy(old)) {
            Ok(_) | Err(Err(TakeError::Empty)) => {}
            Err(Ok(busy)) => return Err(busy),
            Err(Err(TakeError::Held(_))) => {
                return Err(self.cma_busy_error(self.default_cma.hold().map(|h| *h)));
            }
        }
        if let Some(id) = region {
            // Empty under the setup lock: cannot fail.
            let _ = self.default_cma.fill(id);
        }
        Ok(())
    }

    /// The default coherent pool (`linux,dma-default`), or none. Setup, thread
    /// context.
    ///
    /// # Errors
    ///
    /// [`Error::SourcesOverlap`] if the pool overlaps another source of the registry;
    /// [`Error::SourceBusy`] while the current default pool has live buffers or calls
    /// in flight.
    pub fn set_default_pool(&self, pool: Option<&'m CoherentPool<'m, R>>) -> Result<(), Error> {
        let _setup = self.setup.lock();
        if let Some(new) = pool {
            self.check_disjoint(
                SourceName::Pool(new.name()),
                new.phys(),
                Replacing::DefaultPool,
            )?;
        }
        let busy = |old: &&'m CoherentPool<'m, R>| {
            let live = old.records();
            (live > 0).then_some(Error::SourceBusy {
                source: SourceName::Pool(old.name()),
                live,
            })
        };
        match self.default_pool.take_unless(busy) {
            Ok(_) | Err(Err(TakeError::Empty)) => {}
            Err(Ok(error)) => return Err(error),
            Err(Err(TakeError::Held(_))) => {
                let name = self.default_pool.hold().map(|p| p.name());
                return Err(Error::SourceBusy {
                    source: name.map_or(SourceName::System, SourceName::Pool),
                    live: 0,
                });
            }
        }
        if let Some(new) = pool {
            // Empty under the setup lock: cannot fail.
            let _ = self.default_pool.fill(new);
        }
        Ok(())
    }

    /// The system allocator for `NON_CONSISTENT` requests, or none. Reserves its
    /// record of live buffers. Setup, thread context.
    ///
    /// # Errors
    ///
    /// [`Error::SourcesOverlap`] if its [`span`](SystemMemory::span) overlaps another
    /// source; [`Error::SourceBusy`] while the current one has live buffers or calls
    /// in flight; [`Error::OutOfMemory`].
    pub fn set_system(&self, system: Option<&'m dyn SystemMemory>) -> Result<(), Error> {
        let _setup = self.setup.lock();
        let new = match system {
            Some(memory) => {
                self.check_disjoint(SourceName::System, memory.span(), Replacing::System)?;
                let ledger = Mutex::new(self.new_ledger(self.records)?);
                Some(SystemSource { memory, ledger })
            }
            None => None,
        };
        let busy = |old: &SystemSource<'m, R>| {
            let live = old.ledger.lock().len();
            (live > 0).then_some(Error::SourceBusy {
                source: SourceName::System,
                live,
            })
        };
        match self.system.take_unless(busy) {
            Ok(_) | Err(Err(TakeError::Empty)) => {}
            Err(Ok(error)) => return Err(error),
            Err(Err(TakeError::Held(_))) => {
                return Err(Error::SourceBusy {
                    source: SourceName::System,
                    live: 0,
                });
            }
        }
        if let Some(new) = new {
            // Empty under the setup lock: cannot fail.
            let _ = self.system.fill(new);
        }
        Ok(())
    }

    fn new_ledger(&self, count: usize) -> Result<Ledger, Error> {
        Ledger::try_new(count).map_err(|_| Error::OutOfMemory {
            what: "buffer records",
            count,
        })
    }

    /// Refuses `range` of `source` if it overlaps any source the registry has (but
    /// the one being replaced). Under the setup lock, so nothing is declared meanwhile.
    fn check_disjoint(
        &self,
        source: SourceName,
        range: PhysRange,
        replacing: Replacing,
    ) -> Result<(), Error> {
        let clash = |other: SourceName, other_range: PhysRange| {
            if other_range.overlaps(&range) {
                Err(Error::SourcesOverlap {
                    source,
                    range,
                    other,
                    other_range,
                })
            } else {
                Ok(())
            }
        };
        for slot in &self.slots {
            if let Some(pool) = slot.pool.hold() {
                clash(SourceName::Pool(pool.name()), pool.phys())?;
            }
        }
        if let Some(cma) = self.cma.get() {
            for (_, region) in cma.area.regions() {
                clash(SourceName::Cma(region.name()), region.range())?;
            }
        }
        if replacing != Replacing::DefaultPool {
            if let Some(pool) = self.default_pool.hold() {
                clash(SourceName::Pool(pool.name()), pool.phys())?;
            }
        }
        if replacing != Replacing::System {
            if let Some(system) = self.system.hold() {
                clash(SourceName::System, system.memory.span())?;
            }
        }
        Ok(())
    }

    fn cma_busy(&self, region: RegionId) -> Option<Error> {
        let live = self.cma_ledger(region).map_or(0, |l| l.lock().len());
        (live > 0).then(|| self.cma_busy_error(Some(region)))
    }

    fn cma_busy_error(&self, region: Option<RegionId>) -> Error {
        let live = region
            .and_then(|id| self.cma_ledger(id))
            .map_or(0, |l| l.lock().len());
        let name = region.and_then(|id| self.cma_region(id).map(Region::name));
        Error::SourceBusy {
            source: name.map_or(SourceName::System, SourceName::Cma),
            live,
        }
    }

    /// Adds a device. Setup, thread context.
    ///
    /// # Errors
    ///
    /// In order: [`Error::DuplicateDevice`], [`Error::UnknownDevice`] (the parent),
    /// [`Error::UnknownCmaRegion`], [`Error::TooManyDevices`].
    pub fn add(&self, device: Device) -> Result<DeviceId, Error> {
        let _setup = self.setup.lock();
        let name = device.name();
        if self.find(name.as_str()).is_some() {
            return Err(Error::DuplicateDevice { name });
        }
        if let Some(parent) = device.parent() {
            self.hold(parent)?;
        }
        if let Some(region) = device.cma_area() {
            self.region(Some(name), region)?;
        }
        let capacity = self.slots.len();
        let (index, slot) = self
            .slots
            .iter()
            .enumerate()
            .find(|(_, s)| !s.entry.is_full())
            .ok_or(Error::TooManyDevices { capacity })?;
        let index = u32::try_from(index).map_err(|_| Error::TooManyDevices { capacity })?;
        // Generations run 1, 2, ... and skip 0 when they wrap (ids are never zero).
        let generation =
            NonZeroU32::new(slot.next_generation.load(Plain::Relaxed)).unwrap_or(NonZeroU32::MIN);
        let next = NonZeroU32::new(generation.get().wrapping_add(1)).unwrap_or(NonZeroU32::MIN);
        slot.next_generation.store(next.get(), Plain::Relaxed);
        let entry = Entry {
            generation,
            device,
            live: AtomicUsize::new(0),
        };
        // An empty slot, under the setup lock: cannot fail.
        let _ = slot.entry.fill(entry);
        Ok(DeviceId { index, generation })
    }

    /// Removes a device (its pool goes with it) and returns its description. A device
    /// owns the buffers allocated for it until they are freed through it, so this
    /// succeeds only when none is live. Setup, thread context.
    ///
    /// # Errors
    ///
    /// In order: [`Error::UnknownDevice`], [`Error::HasChildren`],
    /// [`Error::LiveBuffers`] (buffers allocated for it, or live in its pool),
    /// [`Error::DeviceBusy`] if calls or a [`DeviceRef`]/[`PoolRef`] still hold it
    /// after a bounded wait.
    pub fn remove(&self, id: DeviceId) -> Result<Device, Error> {
        let _setup = self.setup.lock();
        let slot = self.slot(id)?;
        let device = {
            let entry = self.hold(id)?;
            let device = entry.device.name();
            if let Some(child) = self.children(id).next() {
                return Err(Error::HasChildren {
                    device,
                    child: child.device.name(),
                });
            }
            let pooled = slot.pool.hold().map_or(0, |p| p.live());
            let live = entry.live.load(Ordering::Acquire).saturating_add(pooled);
            if live > 0 {
                return Err(Error::LiveBuffers { device, live });
            }
            device
        };
        let busy = |e: TakeError| match e {
            TakeError::Held(holders) => Error::DeviceBusy { device, holders },
            TakeError::Empty => Error::UnknownDevice { id },
        };
        let pool = match slot.pool.take() {
            Ok(pool) => Some(pool),
            Err(TakeError::Empty) => None,
            Err(e) => return Err(busy(e)),
        };
        match slot.entry.take() {
            Ok(entry) => Ok(entry.device),
            Err(e) => {
                if let Some(pool) = pool {
                    // Emptied above under the setup lock: cannot fail.
                    let _ = slot.pool.fill(pool);
                }
                Err(busy(e))
            }
        }
    }

    /// Gives the device a coherent pool (Linux `dma_declare_coherent_memory`). Setup,
    /// thread context.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownDevice`]; [`Error::PoolBusy`] if it has one already;
    /// [`Error::SourcesOverlap`] if the pool overlaps another source of the registry
    /// (the new pool is dropped).
    pub fn declare_coherent(&self, id: DeviceId, pool: CoherentPool<'m, R>) -> Result<(), Error> {
        let _setup = self.setup.lock();
        let slot = self.slot(id)?;
        let entry = self.hold(id)?;
        if slot.pool.is_full() {
            return Err(Error::PoolBusy {
                device: entry.device.name(),
            });
        }
        self.check_disjoint(
            SourceName::Pool(pool.name()),
            pool.phys(),
            Replacing::Nothing,
        )?;
        slot.pool.fill(pool).map_err(|_| Error::PoolBusy {
            device: entry.device.name(),
        })
    }

    /// Takes the device's pool away and returns it. Setup, thread context.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownDevice`], [`Error::NoPool`], [`Error::PoolLive`] while it has
    /// buffers (its own or its children's), [`Error::DeviceBusy`] while a call holds
    /// it.
    pub fn release_coherent(&self, id: DeviceId) -> Result<CoherentPool<'m, R>, Error> {
        let _setup = self.setup.lock();
        let slot = self.slot(id)?;
        let device = self.hold(id)?.device.name();
        let live = |pool: &CoherentPool<'m, R>| {
            let live = pool.live();
            (live > 0).then_some(Error::PoolLive {
                pool: pool.name(),
                live,
            })
        };
        slot.pool.take_unless(live).map_err(|e| match e {
            Ok(error) => error,
            Err(TakeError::Empty) => Error::NoPool { device },
            Err(TakeError::Held(holders)) => Error::DeviceBusy { device, holders },
        })
    }

    /// The device's description, held (the device cannot be removed meanwhile).
    /// Any context.
    ///
    /// # Errors
    ///
    /// [`DmaError::UnknownDevice`].
    pub fn device(&self, id: DeviceId) -> Result<DeviceRef<'_>, DmaError> {
        Ok(DeviceRef {
            held: self.hold(id)?,
        })
    }

    /// The device called `name`. Any context; `O(devices)`.
    #[must_use]
    pub fn find(&self, name: &str) -> Option<DeviceId> {
        self.entries()
            .find(|(_, e)| e.device.name().as_str() == name)
            .map(|(id, _)| id)
    }

    /// The first of `id` itself, its parent, its parent's parent, ... for which `pred`
    /// holds (e.g. "the remote processor that owns this vdev"). Any context.
    ///
    /// # Errors
    ///
    /// [`DmaError::UnknownDevice`] for `id`.
    pub fn find_ancestor(
        &self,
        id: DeviceId,
        mut pred: impl FnMut(DeviceId, &Device) -> bool,
    ) -> Result<Option<DeviceId>, DmaError> {
        let mut at = id;
        let mut entry = self.hold(id)?;
        // A chain is at most as long as the registry (a parent is added before its
        // children, so there is no cycle; the bound keeps that a fact, not a hope).
        for _ in 0..=self.slots.len() {
            if pred(at, &entry.device) {
                return Ok(Some(at));
            }
            let Some(parent) = entry.device.parent() else {
                return Ok(None);
            };
            entry = self.hold(parent)?;
            at = parent;
        }
        Ok(None)
    }

    /// The pool the device allocates from first: its own, or (if it inherits) the
    /// nearest ancestor's along the inheriting chain; held while the result lives.
    /// Any context.
    ///
    /// # Errors
    ///
    /// [`DmaError::UnknownDevice`].
    pub fn pool(&self, id: DeviceId) -> Result<Option<PoolRef<'_, 'm, R>>, DmaError> {
        let entry = self.hold(id)?;
        self.pool_of(id, &entry)
    }

    /// The pool of the device whose held entry is `entry`, walking the inheriting
    /// chain; the pool's owner is held with it when it is an ancestor.
    pub(crate) fn pool_of(
        &self,
        id: DeviceId,
        entry: &Held<'_, Entry>,
    ) -> Result<Option<PoolRef<'_, 'm, R>>, DmaError> {
        let mut at = id;
        let mut owner: Option<Held<'_, Entry>> = None;
        for _ in 0..=self.slots.len() {
            if let Some(pool) = self.slot(at)?.pool.hold() {
                return Ok(Some(PoolRef {
                    _owner: owner,
                    owner_id: at,
                    pool,
                }));
            }
            let device = owner.as_ref().map_or(&entry.device, |o| &o.device);
            match device.parent() {
                Some(parent) if device.inherits_pool() => {
                    owner = Some(self.hold(parent)?);
                    at = parent;
                }
                _ => return Ok(None),
            }
        }
        Ok(None)
    }

    /// Buffers allocated for the device (or marked occupied through it) and not yet
    /// freed; exact, since only the device a buffer was allocated for can free it.
    /// Any context.
    ///
    /// # Errors
    ///
    /// [`DmaError::UnknownDevice`].
    pub fn live(&self, id: DeviceId) -> Result<usize, DmaError> {
        Ok(self.hold(id)?.live.load(Ordering::Acquire))
    }

    /// The default pool. Any context.
    #[must_use]
    pub fn default_pool(&self) -> Option<&'m CoherentPool<'m, R>> {
        self.default_pool.hold().map(|p| *p)
    }

    /// The default CMA area. Any context.
    #[must_use]
    pub fn default_cma(&self) -> Option<RegionId> {
        self.default_cma.hold().map(|r| *r)
    }

    /// Every device with its id, each held while its item lives. Any context.
    pub fn iter(&self) -> impl Iterator<Item = (DeviceId, DeviceRef<'_>)> + '_ {
        self.entries().map(|(id, held)| (id, DeviceRef { held }))
    }

    fn entries(&self) -> impl Iterator<Item = (DeviceId, Held<'_, Entry>)> + '_ {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            let held = s.entry.hold()?;
            let index = u32::try_from(i).ok()?;
            let id = DeviceId {
                index,
                generation: held.generation,
            };
            Some((id, held))
        })
    }

    fn children(&self, id: DeviceId) -> impl Iterator<Item = Held<'_, Entry>> + '_ {
        self.entries()
            .map(|(_, e)| e)
            .filter(move |e| e.device.parent() == Some(id))
    }

    fn slot(&self, id: DeviceId) -> Result<&Slot<'m, R>, DmaError> {
        self.slots
            .get(id.index as usize)
            .ok_or(DmaError::UnknownDevice { id })
    }

    /// Holds the entry of `id` (which must still be the device in its slot).
    pub(crate) fn hold(&self, id: DeviceId) -> Result<Held<'_, Entry>, DmaError> {
        self.slot(id)?
            .entry
            .hold()
            .filter(|e| e.generation == id.generation)
            .ok_or(DmaError::UnknownDevice { id })
    }

    /// The CMA region `id` of the area set.
    pub(crate) fn region(&self, device: Option<Name>, id: RegionId) -> Result<&Region<R>, Error> {
        self.cma_region(id)
            .ok_or(Error::UnknownCmaRegion { device, region: id })
    }

    /// CMA region `id` of the area set, if there is one.
    pub(crate) fn cma_region(&self, id: RegionId) -> Option<&Region<R>> {
        self.cma.get()?.area.get(id)
    }

    /// The record of CMA region `id`'s live buffers.
    pub(crate) fn cma_ledger(&self, id: RegionId) -> Option<&Mutex<R, Ledger>> {
        self.cma.get()?.ledgers.get(id.index())
    }

    /// The device's own pool (not an inherited one), held.
    pub(crate) fn own_pool(
        &self,
        id: DeviceId,
    ) -> Result<Option<Held<'_, CoherentPool<'m, R>>>, DmaError> {
        let _entry = self.hold(id)?;
        Ok(self.slot(id)?.pool.hold())
    }

    /// Every device pool (held) with its device, for look-ups by address on error
    /// paths.
    pub(crate) fn all_pools(
        &self,
    ) -> impl Iterator<Item = (DeviceId, Held<'_, CoherentPool<'m, R>>)> + '_ {
        self.entries()
            .filter_map(|(id, _)| Some((id, self.slot(id).ok()?.pool.hold()?)))
    }
}

impl<'m, R: RawMutex> Devices<'m, R> {
    /// `error`'s message with the names of the devices, pools and CMA regions it
    /// names by id, looked up in this registry when displayed (a device removed since
    /// is printed by its id). Holds only atomics while it prints: any context.
    ///
    /// ```
    /// use contig_dma_pool::{Attrs, Device, Devices, DmaError, NoMapping};
    /// let devs: Devices = Devices::new(&NoMapping).unwrap();
    /// let dsp = devs.add(Device::new("dsp").unwrap()).unwrap();
    /// let err = devs.alloc_coherent(Some(dsp), 64, Attrs::NONE).unwrap_err();
    /// assert!(matches!(err, DmaError::NoMemory { size: 64, .. }));
    /// assert_eq!(err.to_string(), "device #0.1: no memory for 0x40 bytes under mask 0xffffffff");
    /// assert_eq!(
    ///     devs.explain(&err).to_string(),
    ///     "device dsp: no memory for 0x40 bytes under mask 0xffffffff"
    /// );
    /// ```
    #[must_use]
    pub fn explain<'e>(&'e self, error: &'e DmaError) -> Explained<'e, 'm, R> {
        Explained {
            devices: self,
            error,
        }
    }
}

/// A [`DmaError`] displayed with the names its registry knows (see
/// [`Devices::explain`]).
pub struct Explained<'e, 'm, R: RawMutex> {
    devices: &'e Devices<'m, R>,
    error: &'e DmaError,
}

impl<R: RawMutex> fmt::Display for Explained<'_, '_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.write(f, self.devices)
    }
}

impl<R: RawMutex> fmt::Debug for Explained<'_, '_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl<R: RawMutex> Names for Devices<'_, R> {
    fn device(&self, f: &mut fmt::Formatter<'_>, id: DeviceId) -> fmt::Result {
        match self.hold(id) {
            Ok(entry) => write!(f, "device {}", entry.device.name().as_str()),
            Err(_) => write!(f, "{id} (removed)"),
        }
    }

    fn source(&self, f: &mut fmt::Formatter<'_>, id: SourceId) -> fmt::Result {
        let name = match id {
            SourceId::Pool(device) => self
                .hold(device)
                .ok()
                .and_then(|_| self.slot(device).ok()?.pool.hold())
                .map(|p| p.name()),
            SourceId::DefaultPool => self.default_pool().map(CoherentPool::name),
            SourceId::Cma(_) => {
                let region = id.region().and_then(|r| self.cma.get()?.area.get(r));
                if let Some(region) = region {
                    return write!(f, "CMA region {}", region.name().as_str());
                }
                None
            }
            SourceId::System => None,
        };
        match name {
            Some(name) => write!(f, "pool {}", name.as_str()),
            None => write!(f, "{id}"),
        }
    }
}

impl<R: RawMutex> fmt::Debug for Devices<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for (id, d) in self.iter() {
            list.entry(&(id, &*d));
        }
        list.finish()
    }
}
