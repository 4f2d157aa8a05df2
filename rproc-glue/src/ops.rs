//! What the platform provides: processor control and the loader.
//!
//! This module owns the [`RprocOps`] trait (start, stop, optional attach, kick,
//! optional `da_to_va`, vendor resources, optional carveout allocation, devmem mapping
//! for an IOMMU) and the [`Loader`] trait (copy a segment or the table into memory the
//! core found for it). The core decides where; the platform touches memory and
//! hardware. It must never hold state of its own.
#![forbid(unsafe_code)]

use core::fmt;

use crate::DeviceAddr;
use crate::dma_pool::CpuAddr;
use crate::dma_pool::cma::PhysAddr;
use crate::firmware::Segment;
use crate::rsc::Vendor;

/// A platform failure, with the platform's own code (an errno, a status register...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OpError(pub i32);

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "platform error {}", self.0)
    }
}

impl core::error::Error for OpError {}

/// Where a range of the remote's memory is for the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// Device address of the first byte.
    pub da: DeviceAddr,
    /// Physical address of the first byte.
    pub pa: PhysAddr,
    /// CPU pointer to the first byte, if the host maps it.
    pub cpu: Option<CpuAddr>,
    /// Bytes.
    pub len: usize,
}

/// A devmem entry to map for the remote (through an IOMMU, if there is one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DevmemMap {
    /// Index of the table entry.
    pub index: u32,
    /// Device address.
    pub da: DeviceAddr,
    /// Physical address.
    pub pa: PhysAddr,
    /// Bytes.
    pub len: u32,
    /// IOMMU flags from the table.
    pub flags: u32,
}

/// A carveout the platform may allocate itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CarveoutRequest<'a> {
    /// Index of the table entry.
    pub index: u32,
    /// The carveout's name in the table (up to its first NUL).
    pub name: &'a [u8],
    /// Bytes.
    pub len: usize,
}

/// What the platform did with a vendor resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VendorOutcome {
    /// Handled.
    Handled,
    /// Not known to the platform: reported as skipped.
    Ignored,
}

/// Processor control, implemented by the platform.
pub trait RprocOps {
    /// Starts the remote at `boot` (the firmware's entry point).
    ///
    /// # Errors
    /// The platform's failure; boot unwinds.
    fn start(&mut self, boot: DeviceAddr) -> Result<(), OpError>;

    /// Stops the remote.
    ///
    /// # Errors
    /// The platform's failure; nothing is freed then.
    fn stop(&mut self) -> Result<(), OpError>;

    /// Attaches to a remote that is already running (started by a boot loader).
    ///
    /// # Errors
    /// By default, `OpError(-95)` (`EOPNOTSUPP`): the platform cannot attach.
    fn attach(&mut self) -> Result<(), OpError> {
        Err(OpError(-95))
    }

    /// Tells the remote that vring `notifyid` has news.
    fn kick(&mut self, notifyid: u32);

    /// The platform's own translation of `[da, da + len)`, asked before the memory
    /// entries (e.g. for internal memories not in any entry). `None`: not the
    /// platform's.
    fn da_to_va(&self, da: DeviceAddr, len: usize) -> Option<Placement> {
        let _ = (da, len);
        None
    }

    /// A vendor resource (type `128..=512`) at table entry `index`.
    ///
    /// # Errors
    /// The platform refuses the resource; boot unwinds.
    fn handle_vendor(&mut self, index: u32, vendor: &Vendor<'_>) -> Result<VendorOutcome, OpError> {
        let _ = (index, vendor);
        Ok(VendorOutcome::Ignored)
    }

    /// Allocates a carveout that no registered entry matches. `None`: let the core
    /// allocate it from the processor's DMA pool chain.
    fn alloc_carveout(
        &mut self,
        request: &CarveoutRequest<'_>,
    ) -> Option<Result<Placement, OpError>> {
        let _ = request;
        None
    }

    /// Gives back a carveout [`alloc_carveout`](Self::alloc_carveout) provided.
    fn release_carveout(&mut self, placement: &Placement) {
        let _ = placement;
    }

    /// Maps a devmem entry (checked against declared memory first).
    ///
    /// # Errors
    /// The platform's failure; boot unwinds.
    fn map_devmem(&mut self, map: &DevmemMap) -> Result<(), OpError> {
        let _ = map;
        Ok(())
    }

    /// Undoes [`map_devmem`](Self::map_devmem).
    fn unmap_devmem(&mut self, map: &DevmemMap) {
        let _ = map;
    }
}

/// Copies firmware into the remote's memory at places the core found.
pub trait Loader {
    /// Copies `segment.data` to `at` and zeroes the rest of `segment.memsz` bytes.
    ///
    /// # Errors
    /// The platform's failure; boot unwinds.
    fn load_segment(&mut self, segment: &Segment<'_>, at: &Placement) -> Result<(), OpError>;

    /// Copies the resource table, with the host's write-backs, to where the firmware
    /// reads it.
    ///
    /// # Errors
    /// The platform's failure; boot unwinds.
    fn install_table(&mut self, table: &[u8], at: &Placement) -> Result<(), OpError>;
}
