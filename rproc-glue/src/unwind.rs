//! Giving back what a boot took, in reverse order.
//!
//! This module owns [`Undo`], one record per action of the allocate step and of the
//! vdevs' prepare step (whose records sit on top of the allocate step's), and
//! `Rproc::release_to`, which undoes them last to first down to a mark: the vdevs'
//! mark for their unprepare step, zero to free everything. A refusal from the DMA
//! layer (a vdev pool still in use) stops the release with that record kept, so
//! nothing is half given back and a later call can finish. It must never skip a record.
#![forbid(unsafe_code)]

use lock_api::RawMutex;

use crate::DeviceAddr;
use crate::dma_pool::cma::PhysAddr;
use crate::dma_pool::cma::fallible::{OutOfMemory, try_push, try_reserve};
use crate::dma_pool::{CoherentBuffer, DeviceId, Devices};
use crate::error::RprocError;
use crate::ops::{DevmemMap, Placement, RprocOps};
use crate::rproc::Rproc;
use crate::rsc::Vring;

/// One action of the allocate step, and so one thing to give back.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Undo {
    /// Registered entry `i` was made usable.
    Unmap(usize),
    /// Registered entry `i` was bound to a table entry.
    Unbind(usize),
    /// A buffer from the processor's pool chain (or marked occupied in its pool).
    FreeBuffer(CoherentBuffer),
    /// A carveout from the platform's hook.
    ReleaseHook(Placement),
    /// A devmem mapping.
    UnmapDevmem(DevmemMap),
    /// A notify id.
    FreeNotify(u32),
    /// A vdev child device.
    RemoveDevice(DeviceId),
    /// A vdev device's own pool.
    ReleasePool(DeviceId),
    /// A carveout write-back; restore the firmware's values.
    ResetCarveout {
        index: u32,
        da: Option<DeviceAddr>,
        pa: Option<PhysAddr>,
        len: u32,
    },
    /// A vring write-back; restore the firmware's values with notify id -1.
    ResetVring {
        index: u32,
        ring: u8,
        original: Vring,
    },
    /// The last entry made from the table.
    PopEntry,
    /// The last vdev record (prepare step).
    PopVdev,
    /// The last vdev plan (allocate step).
    PopPlan,
}

impl<'m, O: RprocOps> Rproc<'m, O> {
    /// Undoes every record, last first.
    ///
    /// # Errors
    /// The DMA layer's refusal; that record and the ones before it stay.
    pub(crate) fn release<R: RawMutex>(&mut self, devs: &Devices<'m, R>) -> Result<(), RprocError> {
        self.release_to(devs, 0)?;
        self.skipped.clear();
        Ok(())
    }

    /// Undoes the records above the first `mark`, last first.
    ///
    /// # Errors
    /// The DMA layer's refusal; that record and the ones before it stay.
    pub(crate) fn release_to<R: RawMutex>(
        &mut self,
        devs: &Devices<'m, R>,
        mark: usize,
    ) -> Result<(), RprocError> {
        while self.undo.len() > mark {
            let Some(&undo) = self.undo.last() else { break };
            // Kept on a refusal; dropped only once undone.
            self.undo_one(devs, undo)?;
            self.undo.pop();
        }
        Ok(())
    }

    /// Makes room for one record, before the action it will undo: an action is taken
    /// only when its record is sure to fit.
    pub(crate) fn reserve_undo(&mut self) -> Result<(), OutOfMemory> {
        try_reserve(&mut self.undo, 1, "undo records")
    }

    /// Records an action taken; [`reserve_undo`](Self::reserve_undo) made room for it
    /// just before the action, and nothing was recorded in between, so this never
    /// allocates and cannot fail.
    pub(crate) fn record(&mut self, undo: Undo) {
        // Cannot fail: room was reserved (see above).
        let _ = try_push(&mut self.undo, undo, "undo records");
    }

    fn undo_one<R: RawMutex>(
        &mut self,
        devs: &Devices<'m, R>,
        undo: Undo,
    ) -> Result<(), RprocError> {
        match undo {
            Undo::Unmap(i) => {
                if let Some(entry) = self.memory.get(i).copied() {
                    if let Some(hooks) = entry.hooks {
                        hooks.release(&entry);
                    }
                }
                if let Some(e) = self.memory.get_mut(i) {
                    e.cpu = None;
                }
            }
            Undo::Unbind(i) => {
                if let Some(e) = self.memory.get_mut(i) {
                    e.bound = None;
                }
            }
            Undo::FreeBuffer(buf) => devs.free_coherent(Some(self.device), &buf)?,
            Undo::ReleaseHook(at) => self.ops.release_carveout(&at),
            Undo::UnmapDevmem(map) => self.ops.unmap_devmem(&map),
            // The id came from this allocator and is freed once, so this cannot fail.
            Undo::FreeNotify(id) => self.notify.free(id).unwrap_or(()),
            Undo::RemoveDevice(id) => {
                devs.remove(id)?;
            }
            Undo::ReleasePool(id) => {
                devs.release_coherent(id)?;
            }
            // Writing back the values the table was parsed with cannot be refused.
            Undo::ResetCarveout { index, da, pa, len } => self
                .table_mut()
                .set_carveout(index, da, pa, len)
                .unwrap_or(()),
            Undo::ResetVring {
                index,
                ring,
                original,
            } => self
                .table_mut()
                .reset_vring(index, ring, &original)
                .unwrap_or(()),
            Undo::PopEntry => self.memory.pop(),
            Undo::PopVdev => {
                self.vdevs.pop();
            }
            Undo::PopPlan => {
                self.plans.pop();
            }
        }
        Ok(())
    }
}
