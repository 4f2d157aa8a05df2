//! The device registry: devices, their pools, the defaults, and who owns what.
//!
//! This module owns [`Devices`]: adding and removing devices (refused while they have
//! children or live buffers), declaring and releasing per-device coherent pools (Linux
//! `dma_declare_coherent_memory` / `dma_release_coherent_memory`), the default pool and
//! default CMA area, pool inheritance and [`Devices::find_ancestor`]. Setup takes
//! `&mut self`; the DMA API (in `coherent.rs`) takes `&self`, so several CPUs allocate
//! at once. It must never know what kind of device an entry is.
#![forbid(unsafe_code)]

use alloc::vec::Vec;
use core::fmt;

use lock_api::{Mutex, RawMutex};

use crate::book::{Book, DEFAULT_BOOK_CAPACITY};
use crate::cma::{AreaSet, DefaultLock, Name, RegionId};
use crate::{CoherentPool, Device, DeviceId, Error, Mapper, SystemMemory};

pub(crate) struct Entry<'m, R: RawMutex> {
    pub(crate) device: Device,
    pub(crate) pool: Option<CoherentPool<'m, R>>,
    /// Buffers allocated for the device and not yet freed.
    pub(crate) live: Mutex<R, usize>,
}

struct Slot<'m, R: RawMutex> {
    generation: u32,
    entry: Option<Entry<'m, R>>,
}

/// Devices and the memory they draw coherent buffers from.
///
/// `'m` is the lifetime of the memory descriptions it borrows: the CMA area set, the
/// default pool, mappers and the system allocator.
///
/// ```
/// use contig_dma_pool::{Device, Devices, NoMapping};
/// let mut devs: Devices = Devices::new(&NoMapping);
/// let rproc = devs.add(Device::new("m4").unwrap()).unwrap();
/// let vdev = devs.add(Device::new("vdev0").unwrap().with_parent(rproc)).unwrap();
/// let owner = devs.find_ancestor(vdev, |_, d| d.name().as_str() == "m4").unwrap();
/// assert_eq!(owner, Some(rproc));
/// assert!(devs.remove(rproc).is_err()); // has a child
/// devs.remove(vdev).unwrap();
/// devs.remove(rproc).unwrap();
/// ```
pub struct Devices<'m, R: RawMutex = DefaultLock> {
    slots: Vec<Slot<'m, R>>,
    pub(crate) ram: &'m dyn Mapper,
    pub(crate) cma: Option<&'m AreaSet<R>>,
    pub(crate) default_pool: Option<&'m CoherentPool<'m, R>>,
    pub(crate) default_cma: Option<RegionId>,
    pub(crate) system: Option<&'m dyn SystemMemory>,
    pub(crate) book: Book<R>,
}

impl<'m, R: RawMutex> Devices<'m, R> {
    /// An empty registry; the CPU reaches CMA and system memory through `ram`. It
    /// tracks up to [`DEFAULT_BOOK_CAPACITY`] live CMA and system buffers.
    #[must_use]
    pub fn new(ram: &'m dyn Mapper) -> Self {
        Self::with_book_capacity(ram, DEFAULT_BOOK_CAPACITY)
    }

    /// An empty registry that tracks up to `capacity` live buffers from CMA areas and
    /// the system allocator (who owns them and their exact sizes, reserved now so that
    /// allocation never uses the heap). Room for pool buffers is reserved when a pool
    /// is declared or set as the default: as many as the pool can hold.
    #[must_use]
    pub fn with_book_capacity(ram: &'m dyn Mapper, capacity: usize) -> Self {
        Self {
            slots: Vec::new(),
            ram,
            cma: None,
            default_pool: None,
            default_cma: None,
            system: None,
            book: Book::new(capacity),
        }
    }

    /// The CMA area set device CMA areas and the default CMA area are regions of.
    pub fn set_cma(&mut self, area: &'m AreaSet<R>) {
        self.cma = Some(area);
    }

    /// The default CMA area (`linux,cma-default`), or none.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownCmaRegion`] if the area set has no such region.
    pub fn set_default_cma(&mut self, region: Option<RegionId>) -> Result<(), Error> {
        if let Some(id) = region {
            self.check_region(None, id)?;
        }
        self.default_cma = region;
        Ok(())
    }

    /// The default coherent pool (`linux,dma-default`), or none. Reserves room to
    /// record its `max_buffers` live buffers.
    pub fn set_default_pool(&mut self, pool: Option<&'m CoherentPool<'m, R>>) {
        let old = self.default_pool.map_or(0, |p| p.max_buffers());
        let new = pool.map_or(0, |p| p.max_buffers());
        self.book.resize_pools(old, new);
        self.default_pool = pool;
    }

    /// The system allocator for `NON_CONSISTENT` requests, or none.
    pub fn set_system(&mut self, system: Option<&'m dyn SystemMemory>) {
        self.system = system;
    }

    fn check_region(&self, device: Option<Name>, region: RegionId) -> Result<(), Error> {
        match self.cma.and_then(|a| a.get(region)) {
            Some(_) => Ok(()),
            None => Err(Error::UnknownCmaRegion { device, region }),
        }
    }

    /// Adds a device.
    ///
    /// # Errors
    ///
    /// In order: [`Error::DuplicateDevice`], [`Error::UnknownDevice`] (the parent),
    /// [`Error::UnknownCmaRegion`].
    pub fn add(&mut self, device: Device) -> Result<DeviceId, Error> {
        let name = device.name();
        if self.find(name.as_str()).is_some() {
            return Err(Error::DuplicateDevice { name });
        }
        if let Some(parent) = device.parent() {
            self.entry(parent)?;
        }
        if let Some(region) = device.cma_area() {
            self.check_region(Some(name), region)?;
        }
        let entry = Entry {
            device,
            pool: None,
            live: Mutex::new(0),
        };
        let free = self.slots.iter().position(|s| s.entry.is_none());
        let index = free.unwrap_or(self.slots.len());
        let index32 = u32::try_from(index).map_err(|_| Error::DuplicateDevice { name })?;
        match self.slots.get_mut(index) {
            Some(slot) => {
                slot.generation = slot.generation.wrapping_add(1);
                slot.entry = Some(entry);
                Ok(DeviceId {
                    index: index32,
                    generation: slot.generation,
                })
            }
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    entry: Some(entry),
                });
                Ok(DeviceId {
                    index: index32,
                    generation: 0,
                })
            }
        }
    }

    /// Removes a device (its pool goes with it) and returns its description. A device
    /// owns the buffers allocated for it until they are freed through it, so this
    /// succeeds only when none is live.
    ///
    /// # Errors
    ///
    /// In order: [`Error::UnknownDevice`], [`Error::HasChildren`],
    /// [`Error::LiveBuffers`] (buffers allocated for it, or live in its pool).
    pub fn remove(&mut self, id: DeviceId) -> Result<Device, Error> {
        let entry = self.entry(id)?;
        let device = entry.device.name();
        if let Some(child) = self.children(id).next() {
            return Err(Error::HasChildren {
                device,
                child: child.device.name(),
            });
        }
        let pooled = entry.pool.as_ref().map_or(0, CoherentPool::live);
        let live = entry.live.lock().saturating_add(pooled);
        if live > 0 {
            return Err(Error::LiveBuffers { device, live });
        }
        let slot = self.slot_mut(id)?;
        let entry = slot.entry.take().ok_or(Error::UnknownDevice { id })?;
        let max = entry.pool.as_ref().map_or(0, CoherentPool::max_buffers);
        self.book.resize_pools(max, 0);
        Ok(entry.device)
    }

    /// Gives the device a coherent pool (Linux `dma_declare_coherent_memory`), and
    /// reserves room to record its `max_buffers` live buffers.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownDevice`]; [`Error::PoolBusy`] if it has one already (the new
    /// pool is dropped).
    pub fn declare_coherent(
        &mut self,
        id: DeviceId,
        pool: CoherentPool<'m, R>,
    ) -> Result<(), Error> {
        let entry = self.entry_mut(id)?;
        if entry.pool.is_some() {
            return Err(Error::PoolBusy {
                device: entry.device.name(),
            });
        }
        let max = pool.max_buffers();
        entry.pool = Some(pool);
        self.book.resize_pools(0, max);
        Ok(())
    }

    /// Takes the device's pool away and returns it.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownDevice`], [`Error::NoPool`], [`Error::PoolLive`] while it has
    /// buffers (its own or its children's).
    pub fn release_coherent(&mut self, id: DeviceId) -> Result<CoherentPool<'m, R>, Error> {
        let entry = self.entry_mut(id)?;
        let device = entry.device.name();
        let pool = entry.pool.as_ref().ok_or(Error::NoPool { device })?;
        let live = pool.live();
        if live > 0 {
            return Err(Error::PoolLive {
                pool: pool.name(),
                live,
            });
        }
        let pool = entry.pool.take().ok_or(Error::NoPool { device })?;
        self.book.resize_pools(pool.max_buffers(), 0);
        Ok(pool)
    }

    /// The device's description.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownDevice`].
    pub fn device(&self, id: DeviceId) -> Result<&Device, Error> {
        Ok(&self.entry(id)?.device)
    }

    /// The device called `name`.
    #[must_use]
    pub fn find(&self, name: &str) -> Option<DeviceId> {
        self.ids()
            .find(|&(_, e)| e.device.name().as_str() == name)
            .map(|(id, _)| id)
    }

    /// The first of `id` itself, its parent, its parent's parent, ... for which `pred`
    /// holds (e.g. "the remote processor that owns this vdev").
    ///
    /// # Errors
    ///
    /// [`Error::UnknownDevice`] for `id`.
    pub fn find_ancestor(
        &self,
        id: DeviceId,
        mut pred: impl FnMut(DeviceId, &Device) -> bool,
    ) -> Result<Option<DeviceId>, Error> {
        let mut cur = Some(id);
        let mut entry = self.entry(id)?;
        while let Some(at) = cur {
            if pred(at, &entry.device) {
                return Ok(Some(at));
            }
            cur = entry.device.parent();
            if let Some(parent) = cur {
                entry = self.entry(parent)?;
            }
        }
        Ok(None)
    }

    /// The pool the device allocates from first: its own, or (if it inherits) the
    /// nearest ancestor's along the inheriting chain.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownDevice`].
    pub fn pool(&self, id: DeviceId) -> Result<Option<&CoherentPool<'m, R>>, Error> {
        let mut entry = self.entry(id)?;
        loop {
            if let Some(pool) = &entry.pool {
                return Ok(Some(pool));
            }
            match entry.device.parent() {
                Some(parent) if entry.device.inherits_pool() => entry = self.entry(parent)?,
                _ => return Ok(None),
            }
        }
    }

    /// Buffers allocated for the device (or marked occupied through it) and not yet
    /// freed; exact, since only the device a buffer was allocated for can free it.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownDevice`].
    pub fn live(&self, id: DeviceId) -> Result<usize, Error> {
        Ok(*self.entry(id)?.live.lock())
    }

    /// The default pool.
    #[must_use]
    pub fn default_pool(&self) -> Option<&'m CoherentPool<'m, R>> {
        self.default_pool
    }

    /// The default CMA area.
    #[must_use]
    pub const fn default_cma(&self) -> Option<RegionId> {
        self.default_cma
    }

    /// Every live device with its id.
    pub fn iter(&self) -> impl Iterator<Item = (DeviceId, &Device)> + '_ {
        self.ids().map(|(id, e)| (id, &e.device))
    }

    fn ids(&self) -> impl Iterator<Item = (DeviceId, &Entry<'m, R>)> + '_ {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            let entry = s.entry.as_ref()?;
            let index = u32::try_from(i).ok()?;
            Some((
                DeviceId {
                    index,
                    generation: s.generation,
                },
                entry,
            ))
        })
    }

    fn children(&self, id: DeviceId) -> impl Iterator<Item = &Entry<'m, R>> + '_ {
        self.ids()
            .map(|(_, e)| e)
            .filter(move |e| e.device.parent() == Some(id))
    }

    pub(crate) fn entry(&self, id: DeviceId) -> Result<&Entry<'m, R>, Error> {
        self.slots
            .get(id.index as usize)
            .filter(|s| s.generation == id.generation)
            .and_then(|s| s.entry.as_ref())
            .ok_or(Error::UnknownDevice { id })
    }

    fn slot_mut(&mut self, id: DeviceId) -> Result<&mut Slot<'m, R>, Error> {
        self.slots
            .get_mut(id.index as usize)
            .filter(|s| s.generation == id.generation && s.entry.is_some())
            .ok_or(Error::UnknownDevice { id })
    }

    fn entry_mut(&mut self, id: DeviceId) -> Result<&mut Entry<'m, R>, Error> {
        self.slot_mut(id)?
            .entry
            .as_mut()
            .ok_or(Error::UnknownDevice { id })
    }
}

impl<R: RawMutex> fmt::Debug for Devices<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for (id, d) in self.iter() {
            list.entry(&(id, d));
        }
        list.finish()
    }
}
