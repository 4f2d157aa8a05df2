//! vdevs: virtio devices of the remote, as child devices with rings and buffers.
//!
//! This module owns the vdevs in two steps, as Linux splits them between resource
//! handling and the vdev subdevice:
//!
//! * **allocate** (table order, with the other resources): each vring gets a notify id
//!   (lowest free) and memory from a registered `vdev{N}vring{M}` entry, else the
//!   processor's pool chain, and both are written back; a registered `vdev{N}buffer`
//!   entry is bound to the vdev. The result is a plan per vdev.
//! * **prepare** (the vdevs' subdevice step, after the platform's subdevices): each
//!   planned vdev becomes a child device of the processor device (same bus view and
//!   masks, so that from a vdev one can always find its processor) whose coherent pool
//!   is its bound `vdev{N}buffer`, otherwise its parent's; **unprepare** removes them
//!   again. Rings, notify ids and the buffer binding stay until the resources are
//!   freed, so a recovery (which stops and starts the vdevs but neither unprepares nor
//!   prepares them) keeps every address and id.
//!
//! It must never size rings itself ([`crate::vring`] does) nor touch ring memory.
#![forbid(unsafe_code)]

use crate::dma_pool::cma::fallible::{try_format, try_push, try_reserve, try_to_vec};
use alloc::vec::Vec;

use lock_api::RawMutex;

use crate::dma_pool::{CoherentPool, Device, DeviceId, Devices, DmaAddr, NoMapping, PoolOptions};
use crate::error::{MatchError, RprocError};
use crate::memory::MemKind;
use crate::ops::{Placement, RprocOps};
use crate::resources::resource;
use crate::rproc::Rproc;
use crate::rsc::Vring;
use crate::unwind::Undo;
use crate::vring::vring_size;

static NO_MAPPING: NoMapping = NoMapping;

/// A vdev made from the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VdevInfo {
    /// The table entry.
    pub index: u32,
    /// Its number among the table's vdevs (`N` in `vdev{N}buffer`).
    pub number: u32,
    /// Its child device.
    pub device: DeviceId,
    /// Whether it has its own pool (from `vdev{N}buffer`) rather than its parent's.
    pub own_pool: bool,
    /// Its vrings.
    pub rings: Vec<RingInfo>,
}

/// A vring given memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingInfo {
    /// Its notify id.
    pub notifyid: u32,
    /// Where it is.
    pub at: Placement,
    /// Buffers.
    pub num: u32,
    /// Used-ring alignment.
    pub align: u32,
}

/// What the allocate step decided for one vdev; [`Rproc`] turns it into a [`VdevInfo`]
/// with a device when the vdevs are prepared.
#[derive(Clone, Debug)]
pub(crate) struct VdevPlan {
    index: u32,
    number: u32,
    /// The registered `vdev{N}buffer` entry bound to this vdev.
    buffer: Option<usize>,
    rings: Vec<RingInfo>,
}

impl<'m, O: RprocOps> Rproc<'m, O> {
    /// The allocate step of vdev number `plans.len()` for table entry `index`: binds
    /// its buffer entry, gives its rings notify ids and memory.
    pub(crate) fn vdev<R: RawMutex>(
        &mut self,
        devs: &Devices<'m, R>,
        index: u32,
        rings: &[Vring],
    ) -> Result<(), RprocError> {
        let number = u32::try_from(self.plans.len()).unwrap_or(u32::MAX);
        let buffer_name = try_format(format_args!("vdev{number}buffer"), "names")?;
        let buffer = self
            .memory
            .registered_named(buffer_name.as_bytes())
            .filter(|&i| {
                self.memory
                    .get(i)
                    .is_some_and(|e| e.kind() == MemKind::VdevBuffer)
            });
        if let Some(b) = buffer {
            self.bind_buffer(index, b)
                .map_err(resource(index, MemKind::VdevBuffer, None))?;
        }
        let mut infos = Vec::new();
        try_reserve(&mut infos, rings.len(), "vrings")?;
        for (ring, vring) in (0u8..).zip(rings) {
            let info = self
                .vring(devs, index, number, ring, vring)
                .map_err(resource(index, MemKind::Vring, Some(ring)))?;
            try_push(&mut infos, info, "vrings")?;
        }
        try_reserve(&mut self.plans, 1, "vdevs")?;
        self.reserve_undo()?;
        let plan = VdevPlan {
            index,
            number,
            buffer,
            rings: infos,
        };
        try_push(&mut self.plans, plan, "vdevs")?;
        self.record(Undo::PopPlan);
        Ok(())
    }

    /// Binds registered entry `b` to vdev table entry `index` as its buffer pool.
    fn bind_buffer(&mut self, index: u32, b: usize) -> Result<(), MatchError> {
        let Some(entry) = self.memory.get(b).copied() else {
            return Ok(()); // `b` came from `registered_named` just now
        };
        if let Some(other) = entry.bound_to() {
            return Err(MatchError::AlreadyBound {
                entry: entry.name(),
                other,
            });
        }
        self.reserve_undo()?;
        if let Some(e) = self.memory.get_mut(b) {
            e.bound = Some(index);
        }
        self.record(Undo::Unbind(b));
        Ok(())
    }

    /// The vdevs' prepare step: a child device (and its own pool, if it has a buffer
    /// entry) for every planned vdev, in table order. On error what this step made is
    /// given back.
    pub(crate) fn prepare_vdevs<R: RawMutex>(
        &mut self,
        devs: &Devices<'m, R>,
    ) -> Result<(), RprocError> {
        self.vdev_mark = self.undo.len();
        let plans = core::mem::take(&mut self.plans);
        let result = plans
            .iter()
            .try_for_each(|plan| self.prepare_vdev(devs, plan));
        self.plans = plans;
        if result.is_err() {
            // Only devices, pools and records made just now: the DMA layer has no reason
            // to refuse taking them back.
            self.release_to(devs, self.vdev_mark).unwrap_or(());
        }
        result
    }

    fn prepare_vdev<R: RawMutex>(
        &mut self,
        devs: &Devices<'m, R>,
        plan: &VdevPlan,
    ) -> Result<(), RprocError> {
        let device = self.child_device(devs, plan.number, plan.buffer.is_none())?;
        if let Some(b) = plan.buffer {
            self.vdev_pool(devs, b, device).map_err(resource(
                plan.index,
                MemKind::VdevBuffer,
                None,
            ))?;
        }
        let rings = try_to_vec(&plan.rings, "vrings")?;
        try_reserve(&mut self.vdevs, 1, "vdevs")?;
        self.reserve_undo()?;
        let info = VdevInfo {
            index: plan.index,
            number: plan.number,
            device,
            own_pool: plan.buffer.is_some(),
            rings,
        };
        try_push(&mut self.vdevs, info, "vdevs")?;
        self.record(Undo::PopVdev);
        Ok(())
    }

    /// The vdevs' unprepare step: removes their devices and pools.
    ///
    /// # Errors
    /// The DMA layer's refusal (a driver still holds a buffer of a vdev pool): what is
    /// left stays, and a later call goes on from there.
    pub(crate) fn unprepare_vdevs<R: RawMutex>(
        &mut self,
        devs: &Devices<'m, R>,
    ) -> Result<(), RprocError> {
        self.release_to(devs, self.vdev_mark)
    }

    /// The vdev's device: a child of the processor with its bus view and masks.
    fn child_device<R: RawMutex>(
        &mut self,
        devs: &Devices<'m, R>,
        number: u32,
        inherit: bool,
    ) -> Result<DeviceId, RprocError> {
        let parent = devs.device(self.device)?;
        let name = try_format(format_args!("{}.vdev{number}", self.name), "names")?;
        let child = Device::new(&name)?
            .with_parent(self.device)
            .with_bus(parent.bus().try_clone()?)
            .with_dma_mask(parent.dma_mask())
            .with_coherent_mask(parent.coherent_mask())
            .with_inherited_pool(inherit);
        self.reserve_undo()?;
        let id = devs.add(child)?;
        self.record(Undo::RemoveDevice(id));
        Ok(id)
    }

    /// Turns registered entry `b` (bound to this vdev) into the vdev device's own
    /// coherent pool.
    fn vdev_pool<R: RawMutex>(
        &mut self,
        devs: &Devices<'m, R>,
        b: usize,
        device: DeviceId,
    ) -> Result<(), MatchError> {
        let Some(entry) = self.memory.get(b).copied() else {
            return Ok(()); // bound in the allocate step, entries are never removed
        };
        let bus = entry.dma().or(entry.da().map(|d| DmaAddr::new(d.as_u64())));
        let bus = bus.ok_or(MatchError::Undeclared {
            da: None,
            pa: Some(entry.pa()),
            len: entry.len() as u64,
        })?;
        let mapper = entry.mapper().unwrap_or(&NO_MAPPING);
        let pool = CoherentPool::new(
            entry.name().as_str(),
            entry.pa(),
            bus,
            entry.len(),
            mapper,
            PoolOptions::new(),
        )
        .map_err(MatchError::Dma)?;
        self.reserve_undo()?;
        devs.declare_coherent(device, pool)
            .map_err(MatchError::Dma)?;
        self.record(Undo::ReleasePool(device));
        Ok(())
    }

    /// Sizes ring `ring` of vdev `number`, gives it a notify id and memory, writes both
    /// back.
    fn vring<R: RawMutex>(
        &mut self,
        devs: &Devices<'m, R>,
        index: u32,
        number: u32,
        ring: u8,
        vring: &Vring,
    ) -> Result<RingInfo, MatchError> {
        let size = vring_size(vring.num, vring.align).map_err(MatchError::Vring)?;
        // At most 27 × 32768 + 2^31 bytes (the parser's limits): fits every `usize` of
        // 32 bits or more; a smaller one saturates and fails to allocate.
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        self.reserve_undo()?;
        let notifyid = self.notify.alloc().map_err(MatchError::NotifyId)?;
        self.record(Undo::FreeNotify(notifyid));
        let name = try_format(format_args!("vdev{number}vring{ring}"), "names")?;
        let registered = self.memory.registered_named(name.as_bytes()).filter(|&i| {
            self.memory
                .get(i)
                .is_some_and(|e| e.kind() == MemKind::Vring)
        });
        let at = match (registered, vring.da) {
            (Some(i), da) => self.bind(i, index, da, None, size)?,
            (None, Some(_)) => self.occupy(
                devs,
                index,
                vring.da,
                None,
                size,
                MemKind::Vring,
                name.as_bytes(),
            )?,
            (None, None) => {
                let at = self.alloc_pool(devs, size)?;
                let dma = DmaAddr::new(at.da.as_u64());
                self.add_entry(&at, Some(dma), MemKind::Vring, index, name.as_bytes())?;
                at
            }
        };
        self.reserve_undo()?;
        self.table_mut()
            .set_vring(index, ring, at.da, at.pa, notifyid)
            .map_err(MatchError::Unrepresentable)?;
        self.record(Undo::ResetVring {
            index,
            ring,
            original: *vring,
        });
        Ok(RingInfo {
            notifyid,
            at,
            num: vring.num,
            align: vring.align,
        })
    }
}
