//! The remote processor's memory entries: one list, however each was obtained.
//!
//! This module owns [`MemEntry`] (name, device/physical/bus addresses, length, CPU
//! pointer, kind, origin, optional platform hooks) and [`Memory`], the list of them with
//! the translations `da_to_va` / `da_to_pa` ([`Memory::translate`]). Entries the
//! platform registers come first and stay; entries made from the table follow and go
//! when resources are freed. It must never allocate memory itself (the carveout and
//! vdev code does, through the DMA layer) nor touch the memory.
#![forbid(unsafe_code)]

use alloc::vec::Vec;
use core::fmt;
use core::ptr::NonNull;

use crate::DeviceAddr;
use crate::dma_pool::cma::fallible::{OutOfMemory, try_insert, try_push, try_reserve};
use crate::dma_pool::cma::{Name, PhysAddr, PhysRange};
use crate::dma_pool::{CpuAddr, DmaAddr, Mapper};
use crate::ops::{OpError, Placement};

/// What an entry is used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MemKind {
    /// Firmware memory (code, data, heaps, shared buffers).
    Carveout,
    /// A vring.
    Vring,
    /// A vdev's buffer pool.
    VdevBuffer,
    /// A trace buffer (inside another entry).
    Trace,
    /// Device memory mapped for the remote.
    Devmem,
}

/// Who made an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    /// Registered by the platform before boot (device-tree `memory-region`s or code).
    Platform,
    /// Made for table entry `index` while resources were allocated.
    Table {
        /// The table entry.
        index: u32,
    },
}

/// Platform hooks that make a registered entry usable and release it (Linux's
/// `rproc_mem_entry` `alloc`/`release`, e.g. an `ioremap` of `no-map` memory).
pub trait MemHooks: Sync {
    /// Makes `entry` usable; returns its CPU pointer if the host maps it.
    ///
    /// # Errors
    /// The platform's failure; boot unwinds.
    fn alloc(&self, entry: &MemEntry<'_>) -> Result<Option<CpuAddr>, OpError>;

    /// Undoes [`alloc`](Self::alloc).
    fn release(&self, entry: &MemEntry<'_>);
}

/// A range of memory the remote uses.
#[derive(Clone, Copy)]
pub struct MemEntry<'m> {
    pub(crate) name: Name,
    pub(crate) da: Option<DeviceAddr>,
    pub(crate) pa: PhysAddr,
    pub(crate) dma: Option<DmaAddr>,
    pub(crate) len: usize,
    pub(crate) cpu: Option<CpuAddr>,
    pub(crate) kind: MemKind,
    pub(crate) origin: Origin,
    pub(crate) mapper: Option<&'m dyn Mapper>,
    pub(crate) hooks: Option<&'m dyn MemHooks>,
    pub(crate) bound: Option<u32>,
}

impl<'m> MemEntry<'m> {
    /// A platform region of `len` bytes at physical `pa`, of kind `kind`. Its device
    /// address is [`at_da`](Self::at_da) if given, else its bus address through the
    /// processor device's windows (found when it is registered).
    ///
    /// # Errors
    /// The name's problem (see [`Name::new`]).
    pub fn region(
        name: &str,
        kind: MemKind,
        pa: PhysAddr,
        len: usize,
    ) -> Result<Self, crate::dma_pool::cma::Error> {
        Ok(Self {
            name: Name::new(name)?,
            da: None,
            pa,
            dma: None,
            len,
            cpu: None,
            kind,
            origin: Origin::Platform,
            mapper: None,
            hooks: None,
            bound: None,
        })
    }

    /// The device address the remote uses for it (when it differs from the bus view).
    #[must_use]
    pub fn at_da(self, da: DeviceAddr) -> Self {
        Self {
            da: Some(da),
            ..self
        }
    }

    /// How the CPU reaches it (its pointer is taken when resources are allocated).
    #[must_use]
    pub fn with_mapper(self, mapper: &'m dyn Mapper) -> Self {
        Self {
            mapper: Some(mapper),
            ..self
        }
    }

    /// Platform hooks called instead of the mapper.
    #[must_use]
    pub fn with_hooks(self, hooks: &'m dyn MemHooks) -> Self {
        Self {
            hooks: Some(hooks),
            ..self
        }
    }

    /// The name.
    #[must_use]
    pub fn name(&self) -> Name {
        self.name
    }

    /// Device address (`None` only before registration found it).
    #[must_use]
    pub fn da(&self) -> Option<DeviceAddr> {
        self.da
    }

    /// Physical address.
    #[must_use]
    pub fn pa(&self) -> PhysAddr {
        self.pa
    }

    /// Bus address for the processor device, if it is on its bus.
    #[must_use]
    pub fn dma(&self) -> Option<DmaAddr> {
        self.dma
    }

    /// Bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// CPU pointer, while mapped.
    #[must_use]
    pub fn cpu(&self) -> Option<CpuAddr> {
        self.cpu
    }

    /// What it is used for.
    #[must_use]
    pub fn kind(&self) -> MemKind {
        self.kind
    }

    /// Who made it.
    #[must_use]
    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// The table entry a registered entry is bound to.
    #[must_use]
    pub fn bound_to(&self) -> Option<u32> {
        self.bound
    }

    /// The mapper given at registration.
    #[must_use]
    pub fn mapper(&self) -> Option<&'m dyn Mapper> {
        self.mapper
    }

    /// The physical range.
    pub(crate) fn phys(&self) -> Option<PhysRange> {
        PhysRange::new(self.pa, self.len).ok()
    }

    /// `[da, da + len)` inside this entry, as a placement.
    pub(crate) fn place(&self, da: DeviceAddr, len: usize) -> Result<Placement, DaError> {
        let base = self.da.ok_or(DaError::NotFound { da, len })?;
        let off = da.offset_from(base).ok_or(DaError::NotFound { da, len })?;
        let off_usize = usize::try_from(off).map_err(|_| DaError::NotFound { da, len })?;
        if off_usize >= self.len {
            return Err(DaError::NotFound { da, len });
        }
        if len > self.len - off_usize {
            return Err(DaError::CrossesEnd {
                entry: self.name,
                da,
                len,
                room: self.len - off_usize,
            });
        }
        let pa = self
            .pa
            .checked_add(off_usize)
            .map_err(|_| DaError::NotFound { da, len })?;
        Ok(Placement {
            da,
            pa,
            cpu: offset_cpu(self.cpu, off_usize),
            len,
        })
    }
}

/// `cpu + off`, for an offset inside the mapping `cpu` starts (so the pointer stays in
/// the same mapping; `wrapping_add` keeps this free of `unsafe`).
pub(crate) fn offset_cpu(cpu: Option<CpuAddr>, off: usize) -> Option<CpuAddr> {
    NonNull::new(cpu?.as_ptr().wrapping_add(off)).map(CpuAddr::new)
}

impl fmt::Debug for MemEntry<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemEntry")
            .field("name", &self.name)
            .field("da", &self.da)
            .field("pa", &self.pa)
            .field("dma", &self.dma)
            .field("len", &self.len)
            .field("cpu", &self.cpu)
            .field("kind", &self.kind)
            .field("origin", &self.origin)
            .field("bound", &self.bound)
            .finish_non_exhaustive()
    }
}

/// Why a device address range could not be translated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DaError {
    /// No entry holds `da`.
    NotFound {
        /// Start of the range.
        da: DeviceAddr,
        /// Bytes.
        len: usize,
    },
    /// The entry holding `da` ends before `da + len`.
    CrossesEnd {
        /// The entry.
        entry: Name,
        /// Start of the range.
        da: DeviceAddr,
        /// Bytes asked for.
        len: usize,
        /// Bytes the entry has from `da` on.
        room: usize,
    },
}

impl fmt::Display for DaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound { da, len } => write!(f, "no memory entry holds {da} (+{len:#x})"),
            Self::CrossesEnd {
                entry,
                da,
                len,
                room,
            } => write!(
                f,
                "{da} + {len:#x} crosses the end of memory entry {entry} ({room:#x} bytes left)"
            ),
        }
    }
}

/// The processor's memory entries.
#[derive(Default)]
pub struct Memory<'m> {
    entries: Vec<MemEntry<'m>>,
    registered: usize,
}

impl<'m> Memory<'m> {
    /// All entries: registered ones first, then those made from the table.
    pub fn iter(&self) -> impl Iterator<Item = &MemEntry<'m>> + '_ {
        self.entries.iter()
    }

    /// The registered entry called `name` (table names compare as bytes).
    pub(crate) fn registered_named(&self, name: &[u8]) -> Option<usize> {
        self.registered()
            .position(|e| e.name.as_str().as_bytes() == name)
    }

    /// The first registered entry of `kind` whose device range holds `da`.
    pub(crate) fn registered_at_da(&self, kind: MemKind, da: DeviceAddr) -> Option<usize> {
        self.registered().position(|e| {
            e.kind == kind
                && e.da
                    .and_then(|base| da.offset_from(base))
                    .is_some_and(|o| o < e.len as u64)
        })
    }

    /// The first registered entry of `kind` whose physical range holds `pa`.
    pub(crate) fn registered_at_pa(&self, kind: MemKind, pa: PhysAddr) -> Option<usize> {
        self.registered()
            .position(|e| e.kind == kind && e.phys().is_some_and(|r| r.contains(pa)))
    }

    /// Whether one registered entry (of any kind) holds all of `range`.
    pub(crate) fn declares(&self, range: &PhysRange) -> bool {
        self.registered()
            .any(|e| e.phys().is_some_and(|r| r.contains_range(range)))
    }

    fn registered(&self) -> impl Iterator<Item = &MemEntry<'m>> + '_ {
        self.entries.iter().take(self.registered)
    }

    pub(crate) fn get(&self, i: usize) -> Option<&MemEntry<'m>> {
        self.entries.get(i)
    }

    pub(crate) fn get_mut(&mut self, i: usize) -> Option<&mut MemEntry<'m>> {
        self.entries.get_mut(i)
    }

    pub(crate) fn registered_count(&self) -> usize {
        self.registered
    }

    /// Adds a registered entry; the caller has checked it.
    pub(crate) fn register(&mut self, entry: MemEntry<'m>) -> Result<(), OutOfMemory> {
        try_insert(&mut self.entries, self.registered, entry, "memory entries")?;
        self.registered += 1;
        Ok(())
    }

    /// Reserves room for one more entry made from the table.
    pub(crate) fn reserve(&mut self) -> Result<(), OutOfMemory> {
        try_reserve(&mut self.entries, 1, "memory entries")
    }

    /// Adds an entry made from the table.
    pub(crate) fn push(&mut self, entry: MemEntry<'m>) -> Result<(), OutOfMemory> {
        try_push(&mut self.entries, entry, "memory entries")
    }

    /// Removes the last entry made from the table.
    pub(crate) fn pop(&mut self) {
        if self.entries.len() > self.registered {
            self.entries.pop();
        }
    }

    /// `da_to_va` / `da_to_pa`: the entry (carveout, vring or vdev buffer) holding
    /// `[da, da + len)`. Registered entries are searched first. `O(entries)`.
    ///
    /// # Errors
    /// [`DaError::CrossesEnd`] if the entry holding `da` is too short,
    /// [`DaError::NotFound`] if none holds it.
    pub fn translate(&self, da: DeviceAddr, len: usize) -> Result<Placement, DaError> {
        let mut crossing = None;
        for e in self
            .entries
            .iter()
            .filter(|e| !matches!(e.kind, MemKind::Trace | MemKind::Devmem))
        {
            match e.place(da, len) {
                Ok(p) => return Ok(p),
                Err(err @ DaError::CrossesEnd { .. }) => crossing = crossing.or(Some(err)),
                Err(DaError::NotFound { .. }) => {}
            }
        }
        Err(crossing.unwrap_or(DaError::NotFound { da, len }))
    }
}

impl fmt::Debug for Memory<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.entries.iter()).finish()
    }
}
