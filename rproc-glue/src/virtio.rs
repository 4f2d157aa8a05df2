//! virtio over a vdev: a [`virtio_drivers`] [`Transport`] whose device lives in a
//! booted processor's resource table (Linux `remoteproc_virtio.c`).
//!
//! This module owns [`VdevTransport`]: the device id, the remote's features
//! (`dfeatures`), the negotiated ones (`gfeatures`), the status byte and the config
//! space are the fields of the vdev entry in the table *as installed in the remote's
//! memory* (read and written there on every call, since the remote reads them too),
//! and queue `M` is the entry's vring `M`, with the address, size and notify id that
//! [`Rproc::boot`] wrote back. A driver of [`virtio_drivers`] (its console, or a
//! `VirtQueue` of the caller's own) runs over it unchanged:
//!
//! * the driver's queue size must be the vring's `num`, and its rings must be the
//!   vring's memory in the legacy layout ([`Transport::requires_legacy_layout`] is
//!   true, used ring at the vring's `align`, which must be the driver's page size
//!   4096). `VirtQueue` takes its rings from the driver's `Hal`, so the platform's
//!   `Hal` hands out [`ring`](VdevTransport::ring)`(M).at` when queue `M` is set up.
//!   A queue set anywhere else is refused: the transport records a
//!   [`QueueMismatch`] and sets `FAILED` in the status byte, so the remote never uses
//!   rings it was not told about;
//! * a notify of queue `M` calls the platform's kick with the vring's notify id;
//! * there is no interrupt status register: [`Transport::ack_interrupt`] reports a
//!   used buffer, and the driver looks at its used ring (polling works the same way).
//!
//! It reads and writes the remote's memory only through the caller's
//! [`SharedMemory`], at the physical addresses the processor's memory entries give,
//! and never touches the rings or buffers themselves (the driver does). It must never
//! allocate memory or change the processor's cached table.
#![forbid(unsafe_code)]

use alloc::vec::Vec;
use core::fmt;

use virtio_drivers::transport::{DeviceStatus, DeviceType, InterruptStatus, Transport};
use virtio_drivers::{Error as VirtioDriverError, PhysAddr as VirtioAddr};
use zerocopy::{FromBytes, Immutable, IntoBytes};

use crate::dma_pool::cma::PhysAddr;
use crate::dma_pool::cma::fallible::{OutOfMemory, try_to_vec, try_vec_filled};
use crate::memory::DaError;
use crate::ops::RprocOps;
use crate::rproc::{Rproc, State};
use crate::rsc::Resource;
use crate::vdev::RingInfo;

/// The driver's page size in `virtio_drivers` (its legacy ring layout aligns to it).
pub const VIRTIO_PAGE_SIZE: u32 = 4096;

/// Byte offsets in a vdev entry's body (after its `type` word).
const DFEATURES: usize = 8;
const GFEATURES: usize = 12;
const STATUS: usize = 20;
const VRINGS: usize = 24;
const VRING_DESC_LEN: usize = 20;

/// The remote's memory, as the host reaches it (volatile accesses on hardware, a
/// simulator in tests).
pub trait SharedMemory {
    /// Copies the bytes at physical `pa` into `dest`; `false` if it cannot.
    fn read(&self, pa: PhysAddr, dest: &mut [u8]) -> bool;
    /// Copies `src` to physical `pa`; `false` if it cannot.
    fn write(&mut self, pa: PhysAddr, src: &[u8]) -> bool;
}

/// Why a [`VdevTransport`] cannot be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportError {
    /// The processor is not running with its vdevs started.
    State(State),
    /// It has no vdev with this number.
    NoVdev(usize),
    /// The vdev's table entry is missing or not a vdev (a table changed since boot).
    NoEntry(u32),
    /// The installed table cannot be reached in the processor's memory.
    Table(DaError),
    /// The vdev's device id is no virtio device type.
    DeviceId(u32),
    /// The entry lies outside the physical address space.
    Overflow,
    /// The heap could not hold the transport's record of its queues.
    OutOfMemory {
        /// What was being reserved.
        what: &'static str,
        /// How many of them.
        count: usize,
    },
}

impl From<OutOfMemory> for TransportError {
    fn from(e: OutOfMemory) -> Self {
        Self::OutOfMemory {
            what: e.what,
            count: e.count,
        }
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::State(s) => write!(f, "processor is {s:?}, not running with its vdevs"),
            Self::NoVdev(n) => write!(f, "no vdev number {n}"),
            Self::NoEntry(i) => write!(f, "table entry {i} is not the vdev it was at boot"),
            Self::Table(e) => write!(f, "installed resource table not reachable: {e}"),
            Self::DeviceId(id) => write!(f, "vdev device id {id} is no virtio device type"),
            Self::Overflow => write!(f, "vdev entry beyond the physical address space"),
            Self::OutOfMemory { what, count } => {
                write!(f, "out of memory reserving room for {count} {what}")
            }
        }
    }
}

impl core::error::Error for TransportError {}

/// A queue the driver set up somewhere other than the vring the table describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueMismatch {
    /// The queue (vring) index.
    pub queue: u16,
    /// The size the driver asked for.
    pub size: u32,
    /// The driver's descriptor table.
    pub descriptors: u64,
    /// The driver's available ring.
    pub driver_area: u64,
    /// The driver's used ring.
    pub device_area: u64,
}

impl fmt::Display for QueueMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "queue {} set up with size {} at {:#x}/{:#x}/{:#x}, not on its vring",
            self.queue, self.size, self.descriptors, self.driver_area, self.device_area
        )
    }
}

/// A [`Transport`] over vdev number `N` of a running processor (see the
/// [module documentation](self)). `K` is the platform's kick: it gets a vring's notify
/// id (call [`Rproc::kick`] or the platform's doorbell).
pub struct VdevTransport<M: SharedMemory, K: FnMut(u32)> {
    mem: M,
    kick: K,
    device_type: DeviceType,
    /// Physical address of the entry's body (its `id` field).
    body: PhysAddr,
    config: PhysAddr,
    config_len: usize,
    rings: Vec<RingInfo>,
    set: Vec<bool>,
    mismatch: Option<QueueMismatch>,
}

impl<M: SharedMemory, K: FnMut(u32)> VdevTransport<M, K> {
    /// The transport of vdev number `vdev` (table order) of `rproc`, which must be
    /// running with its vdevs started; the table must be the installed one of that
    /// boot.
    ///
    /// The transport copies what it needs and borrows nothing: it is valid while the
    /// vdev is started. Drop it (and its driver) before the processor stops its vdevs
    /// (shutdown, recovery) and make a new one afterwards, as the remote is reloaded
    /// with a fresh table then.
    ///
    /// # Errors
    /// [`TransportError`]: not running, no such vdev, its entry not reachable.
    pub fn new<O: RprocOps>(
        rproc: &Rproc<'_, O>,
        vdev: usize,
        mem: M,
        kick: K,
    ) -> Result<Self, TransportError> {
        if rproc.state() != State::Running || !rproc.subdevs.vdevs_started {
            return Err(TransportError::State(rproc.state()));
        }
        let info = rproc
            .vdevs()
            .get(vdev)
            .ok_or(TransportError::NoVdev(vdev))?;
        let table = rproc.table().ok_or(TransportError::NoEntry(info.index))?;
        let entry = table
            .entry(info.index)
            .ok_or(TransportError::NoEntry(info.index))?;
        let Resource::Vdev(v) = entry.resource else {
            return Err(TransportError::NoEntry(info.index));
        };
        let device_type = DeviceType::try_from(v.id).map_err(|_| TransportError::DeviceId(v.id))?;
        let table_da = rproc.table_da.ok_or(TransportError::NoEntry(info.index))?;
        let placed = rproc
            .da_to_va(table_da, table.bytes().len())
            .map_err(TransportError::Table)?;
        let offset = usize::try_from(entry.offset).map_err(|_| TransportError::Overflow)?;
        let body = placed
            .pa
            .checked_add(offset + 4)
            .map_err(|_| TransportError::Overflow)?;
        let config_off = VRINGS + VRING_DESC_LEN * usize::from(v.num_of_vrings());
        let config = body
            .checked_add(config_off)
            .map_err(|_| TransportError::Overflow)?;
        Ok(Self {
            mem,
            kick,
            device_type,
            body,
            config,
            config_len: v.config().len(),
            set: try_vec_filled(false, info.rings.len(), "queues")?,
            rings: try_to_vec(&info.rings, "vrings")?,
            mismatch: None,
        })
    }

    /// Queue `queue`'s vring: where the driver's rings must be, its size and notify id.
    #[must_use]
    pub fn ring(&self, queue: u16) -> Option<&RingInfo> {
        self.rings.get(usize::from(queue))
    }

    /// The first queue the driver set up somewhere else than its vring, if any.
    #[must_use]
    pub fn mismatch(&self) -> Option<QueueMismatch> {
        self.mismatch
    }

    /// The memory accessor.
    pub fn memory(&self) -> &M {
        &self.mem
    }

    fn field(&self, off: usize) -> Option<PhysAddr> {
        self.body.checked_add(off).ok()
    }

    fn read_u32(&self, off: usize) -> u32 {
        let mut b = [0u8; 4];
        match self.field(off) {
            Some(pa) if self.mem.read(pa, &mut b) => u32::from_le_bytes(b),
            _ => 0,
        }
    }

    fn write_bytes(&mut self, off: usize, bytes: &[u8]) {
        if let Some(pa) = self.field(off) {
            // A write the platform refuses leaves the field as it was; the driver sees
            // that when it reads the status back.
            let _ = self.mem.write(pa, bytes);
        }
    }

    fn config_at(&self, offset: usize, len: usize) -> Result<PhysAddr, VirtioDriverError> {
        if self.config_len == 0 {
            return Err(VirtioDriverError::ConfigSpaceMissing);
        }
        let end = offset
            .checked_add(len)
            .ok_or(VirtioDriverError::ConfigSpaceTooSmall)?;
        if end > self.config_len {
            return Err(VirtioDriverError::ConfigSpaceTooSmall);
        }
        self.config
            .checked_add(offset)
            .map_err(|_| VirtioDriverError::ConfigSpaceTooSmall)
    }

    /// Whether the driver's rings are exactly vring `ring` in the legacy layout.
    fn on_ring(ring: &RingInfo, size: u32, desc: u64, driver: u64, device: u64) -> bool {
        let base = ring.at.pa.as_u64();
        let num = u64::from(ring.num);
        let avail = base + 16 * num;
        let used = (avail + 2 * (3 + num)).next_multiple_of(u64::from(VIRTIO_PAGE_SIZE));
        ring.align == VIRTIO_PAGE_SIZE
            && size == ring.num
            && desc == base
            && driver == avail
            && device == used
    }
}

impl<M: SharedMemory, K: FnMut(u32)> Transport for VdevTransport<M, K> {
    fn device_type(&self) -> DeviceType {
        self.device_type
    }

    fn read_device_features(&mut self) -> u64 {
        u64::from(self.read_u32(DFEATURES))
    }

    fn write_driver_features(&mut self, driver_features: u64) {
        // The entry has 32 feature bits; the driver only accepts what the device offered.
        let low = u32::try_from(driver_features & u64::from(u32::MAX)).unwrap_or(0);
        self.write_bytes(GFEATURES, &low.to_le_bytes());
    }

    fn max_queue_size(&mut self, queue: u16) -> u32 {
        self.ring(queue).map_or(0, |r| r.num)
    }

    fn notify(&mut self, queue: u16) {
        if let Some(id) = self.ring(queue).map(|r| r.notifyid) {
            (self.kick)(id);
        }
    }

    fn get_status(&self) -> DeviceStatus {
        let mut b = [0u8];
        match self.field(STATUS) {
            Some(pa) if self.mem.read(pa, &mut b) => {
                DeviceStatus::from_bits_truncate(u32::from(b[0]))
            }
            _ => DeviceStatus::FAILED,
        }
    }

    fn set_status(&mut self, status: DeviceStatus) {
        let mut status = status;
        if self.mismatch.is_some() {
            status |= DeviceStatus::FAILED;
        }
        let byte = u8::try_from(status.bits() & 0xff).unwrap_or(0);
        self.write_bytes(STATUS, &[byte]);
    }

    fn set_guest_page_size(&mut self, _guest_page_size: u32) {}

    fn requires_legacy_layout(&self) -> bool {
        true
    }

    fn queue_set(
        &mut self,
        queue: u16,
        size: u32,
        descriptors: VirtioAddr,
        driver_area: VirtioAddr,
        device_area: VirtioAddr,
    ) {
        let ok = self
            .ring(queue)
            .is_some_and(|r| Self::on_ring(r, size, descriptors, driver_area, device_area));
        if let (true, Some(s)) = (ok, self.set.get_mut(usize::from(queue))) {
            *s = true;
            return;
        }
        self.mismatch.get_or_insert(QueueMismatch {
            queue,
            size,
            descriptors,
            driver_area,
            device_area,
        });
        let status = self.get_status() | DeviceStatus::FAILED;
        self.set_status(status);
    }

    fn queue_unset(&mut self, queue: u16) {
        if let Some(s) = self.set.get_mut(usize::from(queue)) {
            *s = false;
        }
    }

    fn queue_used(&mut self, queue: u16) -> bool {
        self.set.get(usize::from(queue)).copied().unwrap_or(false)
    }

    fn ack_interrupt(&mut self) -> InterruptStatus {
        InterruptStatus::QUEUE_INTERRUPT
    }

    fn read_config_generation(&self) -> u32 {
        0
    }

    fn read_config_space<T: FromBytes + IntoBytes>(
        &self,
        offset: usize,
    ) -> Result<T, VirtioDriverError> {
        let pa = self.config_at(offset, core::mem::size_of::<T>())?;
        let mut value = T::new_zeroed();
        if self.mem.read(pa, value.as_mut_bytes()) {
            Ok(value)
        } else {
            Err(VirtioDriverError::IoError)
        }
    }

    fn write_config_space<T: IntoBytes + Immutable>(
        &mut self,
        offset: usize,
        value: T,
    ) -> Result<(), VirtioDriverError> {
        let pa = self.config_at(offset, core::mem::size_of::<T>())?;
        if self.mem.write(pa, value.as_bytes()) {
            Ok(())
        } else {
            Err(VirtioDriverError::IoError)
        }
    }
}

impl<M: SharedMemory, K: FnMut(u32)> fmt::Debug for VdevTransport<M, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VdevTransport")
            .field("device_type", &self.device_type)
            .field("body", &self.body)
            .field("rings", &self.rings)
            .field("mismatch", &self.mismatch)
            .finish_non_exhaustive()
    }
}
