//! Giving a table's resources memory: carveouts, devmem, trace and vendor entries.
//!
//! This module owns the allocate step of a boot: registered entries are made usable,
//! then each table entry in order is matched or allocated and written back, with one
//! undo record per action so a failure anywhere gives everything back. A carveout is
//! matched to a registered entry by name, then by `da`, then by `pa`; a fixed address
//! nothing registered declares may still be marked occupied in the processor's own
//! pool; an ANY carveout goes to the platform's `alloc_carveout` hook and, if it
//! declines, to the processor device's DMA pool chain. It must never accept an address
//! nothing declares (firmware is untrusted).
#![forbid(unsafe_code)]

use alloc::vec::Vec;

use crate::dma_pool::cma::fallible::{OutOfMemory, try_collect, try_push};

use lock_api::RawMutex;

use crate::DeviceAddr;
use crate::dma_pool::cma::{Name, PhysAddr, PhysRange};
use crate::dma_pool::{Attrs, Devices, DmaAddr};
use crate::error::{MatchError, RegisterError, RprocError};
use crate::memory::{MemEntry, MemKind, Origin};
use crate::ops::{CarveoutRequest, DevmemMap, Placement, RprocOps, VendorOutcome};
use crate::rproc::Rproc;
use crate::rsc::{NAME_LEN, Resource, RscTable, Skipped, Vring};
use crate::unwind::Undo;

/// A table entry, copied out of the table so the table can be written back while the
/// entries are worked through.
pub(crate) enum Item {
    Carveout {
        index: u32,
        da: Option<DeviceAddr>,
        pa: Option<PhysAddr>,
        len: u32,
        name: [u8; NAME_LEN],
        name_len: usize,
    },
    Devmem(DevmemMap),
    Trace {
        index: u32,
        da: DeviceAddr,
        len: u32,
    },
    Vdev {
        index: u32,
        rings: Vec<Vring>,
    },
    Vendor {
        index: u32,
        offset: u32,
        kind: u32,
    },
    Unknown(Skipped),
}

fn items(table: &RscTable<'_>) -> Result<Vec<Item>, OutOfMemory> {
    let mut items = Vec::new();
    for e in table.entries() {
        let item = match e.resource {
            Resource::Carveout(c) => {
                let mut name = [0; NAME_LEN];
                let n = c.name();
                let name_len = n.len().min(NAME_LEN);
                name.iter_mut().zip(n).for_each(|(d, s)| *d = *s);
                Item::Carveout {
                    index: e.index,
                    da: c.da,
                    pa: c.pa,
                    len: c.len,
                    name,
                    name_len,
                }
            }
            Resource::Devmem(d) => Item::Devmem(DevmemMap {
                index: e.index,
                da: d.da,
                pa: d.pa,
                len: d.len,
                flags: d.flags,
            }),
            Resource::Trace(t) => Item::Trace {
                index: e.index,
                da: t.da,
                len: t.len,
            },
            Resource::Vdev(v) => Item::Vdev {
                index: e.index,
                rings: try_collect(v.vrings(), "vrings")?,
            },
            Resource::Vendor(v) => Item::Vendor {
                index: e.index,
                offset: e.offset,
                kind: v.kind,
            },
            Resource::Unknown { kind } => Item::Unknown(Skipped {
                index: e.index,
                offset: e.offset,
                kind,
            }),
        };
        try_push(&mut items, item, "table entries")?;
    }
    Ok(items)
}

/// A resource error for table entry `index`.
pub(crate) fn resource(
    index: u32,
    kind: MemKind,
    ring: Option<u8>,
) -> impl Fn(MatchError) -> RprocError {
    move |error| RprocError::Resource {
        index,
        kind,
        ring,
        error,
    }
}

impl<'m, O: RprocOps> Rproc<'m, O> {
    /// The allocate step: registered entries, then every table entry in order, then
    /// the trace buffers (which live inside memory given earlier).
    pub(crate) fn allocate<R: RawMutex>(
        &mut self,
        devs: &Devices<'m, R>,
    ) -> Result<(), RprocError> {
        for i in 0..self.memory.registered_count() {
            self.map_registered(i)?;
        }
        let items = match self.table() {
            Some(t) => items(&t)?,
            None => Vec::new(),
        };
        let mut traces = Vec::new();
        for item in items {
            match item {
                Item::Carveout {
                    index,
                    da,
                    pa,
                    len,
                    name,
                    name_len,
                } => {
                    let name = name.get(..name_len).unwrap_or(&[]);
                    self.carveout(devs, index, da, pa, len, name)
                        .map_err(resource(index, MemKind::Carveout, None))?;
                }
                Item::Devmem(map) => {
                    self.devmem(&map)
                        .map_err(resource(map.index, MemKind::Devmem, None))?
                }
                Item::Trace { index, da, len } => {
                    try_push(&mut traces, (index, da, len), "trace entries")?;
                }
                Item::Vdev { index, rings } => self.vdev(devs, index, &rings)?,
                Item::Vendor {
                    index,
                    offset,
                    kind,
                } => self.vendor(index, offset, kind)?,
                Item::Unknown(skipped) => {
                    try_push(&mut self.skipped, skipped, "skipped entries")?;
                }
            }
        }
        for (index, da, len) in traces {
            self.trace(index, da, len)
                .map_err(resource(index, MemKind::Trace, None))?;
        }
        Ok(())
    }

    /// Makes registered entry `i` usable: its hooks, else its mapper.
    fn map_registered(&mut self, i: usize) -> Result<(), RprocError> {
        let Some(entry) = self.memory.get(i).copied() else {
            return Ok(());
        };
        self.reserve_undo()?;
        let cpu = match entry.hooks {
            Some(hooks) => hooks.alloc(&entry).map_err(|e| RprocError::Register {
                entry: entry.name(),
                error: RegisterError::Platform(e),
            })?,
            None => entry.mapper().and_then(|m| m.cpu_addr(entry.phys()?)),
        };
        if let Some(e) = self.memory.get_mut(i) {
            e.cpu = cpu;
        }
        self.record(Undo::Unmap(i));
        Ok(())
    }

    fn carveout<R: RawMutex>(
        &mut self,
        devs: &Devices<'m, R>,
        index: u32,
        da: Option<DeviceAddr>,
        pa: Option<PhysAddr>,
        len: u32,
        name: &[u8],
    ) -> Result<(), MatchError> {
        if len == 0 {
            return Err(MatchError::ZeroLen);
        }
        // A `u32` length fits `usize` on every target this crate builds for; were it
        // not to, the saturated size fails to allocate or translate, with its value.
        let size = usize::try_from(len).unwrap_or(usize::MAX);
        let kind = MemKind::Carveout;
        let registered = self
            .memory
            .registered_named(name)
            .filter(|&i| self.memory.get(i).is_some_and(|e| e.kind() == kind))
            .or_else(|| da.and_then(|d| self.memory.registered_at_da(kind, d)))
            .or_else(|| pa.and_then(|p| self.memory.registered_at_pa(kind, p)));
        let at = match registered {
            Some(i) => self.bind(i, index, da, pa, size)?,
            None if da.is_some() || pa.is_some() => {
                self.occupy(devs, index, da, pa, size, kind, name)?
            }
            None => self.alloc_any(devs, index, size, name)?,
        };
        self.reserve_undo()?;
        self.table_mut()
            .set_carveout(index, Some(at.da), Some(at.pa), len)
            .map_err(MatchError::Unrepresentable)?;
        self.record(Undo::ResetCarveout { index, da, pa, len });
        Ok(())
    }

    /// Binds registered entry `i` to table entry `index` for `len` bytes at `da` (else
    /// at `pa`, else at the entry's start), checking the fixed addresses against it.
    pub(crate) fn bind(
        &mut self,
        i: usize,
        index: u32,
        da: Option<DeviceAddr>,
        pa: Option<PhysAddr>,
        len: usize,
    ) -> Result<Placement, MatchError> {
        let entry = *self.memory.get(i).ok_or(MatchError::Undeclared {
            da,
            pa,
            len: len as u64,
        })?;
        let name = entry.name();
        if let Some(other) = entry.bound_to() {
            return Err(MatchError::AlreadyBound { entry: name, other });
        }
        let base = entry.da().ok_or(MatchError::Undeclared {
            da,
            pa,
            len: len as u64,
        })?;
        let inside = |o: &u64| *o < entry.len() as u64;
        let off = match (da, pa) {
            (Some(da), _) => da
                .offset_from(base)
                .filter(inside)
                .ok_or(MatchError::DaOutside { entry: name, da })?,
            (None, Some(pa)) => pa
                .offset_from(entry.pa())
                .map(|o| o as u64)
                .filter(inside)
                .ok_or(MatchError::PaOutside { entry: name, pa })?,
            (None, None) => 0,
        };
        let room = entry.len() as u64 - off;
        if len as u64 > room {
            return Err(MatchError::TooLong {
                entry: name,
                len: len as u64,
                room,
            });
        }
        let start = base.checked_add(off).ok_or(MatchError::DaOutside {
            entry: name,
            da: base,
        })?;
        let at = entry.place(start, len).map_err(MatchError::Translate)?;
        if let Some(pa) = pa.filter(|&p| p != at.pa) {
            return Err(MatchError::PaMismatch {
                entry: name,
                pa,
                expected: at.pa,
            });
        }
        self.reserve_undo()?;
        if let Some(e) = self.memory.get_mut(i) {
            e.bound = Some(index);
        }
        self.record(Undo::Unbind(i));
        Ok(at)
    }

    /// A fixed device address nothing registered holds: acceptable only inside the
    /// processor's own pool, marked occupied there.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn occupy<R: RawMutex>(
        &mut self,
        devs: &Devices<'m, R>,
        index: u32,
        da: Option<DeviceAddr>,
        pa: Option<PhysAddr>,
        len: usize,
        kind: MemKind,
        name: &[u8],
    ) -> Result<Placement, MatchError> {
        let undeclared = MatchError::Undeclared {
            da,
            pa,
            len: len as u64,
        };
        let (Some(fixed), None) = (da, pa) else {
            return Err(undeclared);
        };
        self.reserve_undo()?;
        let buf = devs
            .mark_occupied(self.device, DmaAddr::new(fixed.as_u64()), len)
            .map_err(|_| undeclared)?;
        self.record(Undo::FreeBuffer(buf));
        let at = Placement {
            da: fixed,
            pa: buf.phys,
            cpu: buf.cpu,
            len,
        };
        self.add_entry(&at, Some(buf.dma), kind, index, name)?;
        Ok(at)
    }

    /// An ANY carveout: the platform's hook first, else the processor's pool chain.
    fn alloc_any<R: RawMutex>(
        &mut self,
        devs: &Devices<'m, R>,
        index: u32,
        len: usize,
        name: &[u8],
    ) -> Result<Placement, MatchError> {
        let request = CarveoutRequest { index, name, len };
        self.reserve_undo()?;
        let (at, dma) = match self.ops.alloc_carveout(&request) {
            Some(Ok(at)) => {
                self.record(Undo::ReleaseHook(at));
                (at, None)
            }
            Some(Err(e)) => return Err(MatchError::Platform(e)),
            None => {
                let at = self.alloc_pool(devs, len)?;
                (at, Some(DmaAddr::new(at.da.as_u64())))
            }
        };
        self.add_entry(&at, dma, MemKind::Carveout, index, name)?;
        Ok(at)
    }

    /// `len` bytes from the processor device's pool chain; the device address is the
    /// bus address the processor sees.
    pub(crate) fn alloc_pool<R: RawMutex>(
        &mut self,
        devs: &Devices<'m, R>,
        len: usize,
    ) -> Result<Placement, MatchError> {
        self.reserve_undo()?;
        let buf = devs
            .alloc_coherent(Some(self.device), len, Attrs::NONE)
            .map_err(|e| MatchError::Dma(e.into()))?;
        self.record(Undo::FreeBuffer(buf));
        Ok(Placement {
            da: DeviceAddr::new(buf.dma.as_u64()),
            pa: buf.phys,
            cpu: buf.cpu,
            len,
        })
    }

    /// Records memory obtained for table entry `index` in the entry list.
    pub(crate) fn add_entry(
        &mut self,
        at: &Placement,
        dma: Option<DmaAddr>,
        kind: MemKind,
        index: u32,
        name: &[u8],
    ) -> Result<(), OutOfMemory> {
        let name = Name::truncated(core::str::from_utf8(name).unwrap_or("?"));
        // Both lists have room before either changes.
        self.memory.reserve()?;
        self.reserve_undo()?;
        self.memory.push(MemEntry {
            name,
            da: Some(at.da),
            pa: at.pa,
            dma,
            len: at.len,
            cpu: at.cpu,
            kind,
            origin: Origin::Table { index },
            mapper: None,
            hooks: None,
            bound: None,
        })?;
        self.record(Undo::PopEntry);
        Ok(())
    }

    /// A devmem entry must lie inside one registered entry before the platform maps it.
    fn devmem(&mut self, map: &DevmemMap) -> Result<(), MatchError> {
        let undeclared = MatchError::Undeclared {
            da: Some(map.da),
            pa: Some(map.pa),
            len: u64::from(map.len),
        };
        let size = usize::try_from(map.len).map_err(|_| undeclared)?;
        let range = PhysRange::new(map.pa, size).map_err(|_| undeclared)?;
        if size == 0 {
            return Err(MatchError::ZeroLen);
        }
        if !self.memory.declares(&range) {
            return Err(undeclared);
        }
        self.reserve_undo()?;
        self.ops.map_devmem(map).map_err(MatchError::Platform)?;
        self.record(Undo::UnmapDevmem(*map));
        let at = Placement {
            da: map.da,
            pa: map.pa,
            cpu: None,
            len: size,
        };
        self.add_entry(&at, None, MemKind::Devmem, map.index, b"devmem")?;
        Ok(())
    }

    /// A trace buffer must lie inside memory the processor has.
    fn trace(&mut self, index: u32, da: DeviceAddr, len: u32) -> Result<(), MatchError> {
        // A `u32` length fits `usize` on every target this crate builds for; were it
        // not to, the saturated size fails to allocate or translate, with its value.
        let size = usize::try_from(len).unwrap_or(usize::MAX);
        let at = self.da_to_va(da, size).map_err(MatchError::Translate)?;
        self.add_entry(&at, None, MemKind::Trace, index, b"trace")?;
        Ok(())
    }

    /// Hands a vendor entry to the platform; one it ignores is reported as skipped.
    fn vendor(&mut self, index: u32, offset: u32, kind: u32) -> Result<(), RprocError> {
        let table = RscTable::from_checked(&self.table, self.table_num);
        let Some(Resource::Vendor(vendor)) = table.entry(index).map(|e| e.resource) else {
            return Ok(());
        };
        match self.ops.handle_vendor(index, &vendor) {
            Ok(VendorOutcome::Handled) => Ok(()),
            Ok(VendorOutcome::Ignored) => {
                let skipped = Skipped {
                    index,
                    offset,
                    kind,
                };
                try_push(&mut self.skipped, skipped, "skipped entries")?;
                Ok(())
            }
            Err(error) => Err(RprocError::Vendor { index, kind, error }),
        }
    }
}
