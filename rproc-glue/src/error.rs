//! Why a remote processor operation failed.
//!
//! This module owns [`RprocError`] and [`MatchError`]: each names the table entry (and
//! vring) involved, the memory entry and the value that did not fit. It must never
//! hold references into the table or the memory.
#![forbid(unsafe_code)]

use core::fmt;

use crate::DeviceAddr;
use crate::autoboot::{FirmwareName, FirmwareNameError};
use crate::coredump::CoredumpError;
use crate::dma_pool::cma::{Name, PhysAddr};
use crate::firmware::FirmwareError;
use crate::memory::{DaError, MemKind};
use crate::notify::NotifyIdError;
use crate::ops::OpError;
use crate::rproc::State;
use crate::rsc::{RscError, WriteError};
use crate::subdev::SubdevId;
use crate::vring::VringSizeError;

/// Why a table resource could not be given memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MatchError {
    /// The heap could not hold the bookkeeping of this resource (nothing changed).
    OutOfMemory {
        /// What was being reserved.
        what: &'static str,
        /// How many of them.
        count: usize,
    },
    /// The registered entry is bound to another table entry already.
    AlreadyBound {
        /// The registered entry.
        entry: Name,
        /// The table entry holding it.
        other: u32,
    },
    /// The fixed device address does not lie inside the registered entry.
    DaOutside {
        /// The registered entry.
        entry: Name,
        /// The address asked for.
        da: DeviceAddr,
    },
    /// The fixed physical address does not lie inside the registered entry.
    PaOutside {
        /// The registered entry.
        entry: Name,
        /// The address asked for.
        pa: PhysAddr,
    },
    /// The length does not fit the registered entry from the address asked for.
    TooLong {
        /// The registered entry.
        entry: Name,
        /// Bytes asked for.
        len: u64,
        /// Bytes the entry has from there on.
        room: u64,
    },
    /// The fixed physical address is not where the registered entry puts it.
    PaMismatch {
        /// The registered entry.
        entry: Name,
        /// The address asked for.
        pa: PhysAddr,
        /// The entry's physical address at that place.
        expected: PhysAddr,
    },
    /// A fixed address no registered entry or processor pool declares.
    Undeclared {
        /// The device address asked for.
        da: Option<DeviceAddr>,
        /// The physical address asked for.
        pa: Option<PhysAddr>,
        /// Bytes.
        len: u64,
    },
    /// A zero-length resource.
    ZeroLen,

    /// The DMA layer could not provide the memory. Its allocation errors arrive as
    /// [`Error::Dma`](crate::dma_pool::Error::Dma), naming devices by id:
    /// [`Devices::explain`](crate::dma_pool::Devices::explain) prints their names.
    Dma(crate::dma_pool::Error),
    /// The platform could not.
    Platform(OpError),
    /// The bus address of the memory does not fit a table field (or is not on the bus).
    Unrepresentable(WriteError),
    /// A vring that cannot be sized.
    Vring(VringSizeError),
    /// No notify id left.
    NotifyId(NotifyIdError),
    /// A trace buffer outside the processor's memory.
    Translate(DaError),
}

/// Why a platform memory entry cannot be registered or made usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegisterError {
    /// It has no bytes.
    ZeroLen,
    /// No device address was given and its physical range is not on the processor
    /// device's bus.
    NotOnBus {
        /// Physical address.
        pa: PhysAddr,
        /// Bytes.
        len: usize,
    },
    /// Another registered entry has its name or overlaps its device or physical bytes.
    Overlaps {
        /// The entry registered earlier.
        other: Name,
    },
    /// Its platform hook failed.
    Platform(OpError),
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroLen => f.write_str("zero length"),
            Self::NotOnBus { pa, len } => write!(
                f,
                "physical {:#x} (+{len:#x}) is not on the processor's bus and no da was given",
                pa.as_u64()
            ),
            Self::Overlaps { other } => write!(f, "clashes with memory entry {other}"),
            Self::Platform(e) => e.fmt(f),
        }
    }
}

/// Why a remote processor operation failed. Everything allocated by the failed
/// operation was given back.
#[derive(Debug)]
#[non_exhaustive]
pub enum RprocError {
    /// The operation is not allowed in the processor's state.
    State {
        /// The operation.
        op: &'static str,
        /// The state it was in.
        state: State,
    },
    /// The firmware image is malformed.
    Firmware(FirmwareError),
    /// The resource table is malformed.
    Rsc(RscError),
    /// A table resource could not be given memory.
    Resource {
        /// The table entry.
        index: u32,
        /// Which kind of memory it needed.
        kind: MemKind,
        /// The vring, for vdevs.
        ring: Option<u8>,
        /// Why.
        error: MatchError,
    },
    /// A registered entry is unusable.
    Register {
        /// The entry.
        entry: Name,
        /// Why.
        error: RegisterError,
    },
    /// The platform refused a vendor resource.
    Vendor {
        /// The table entry.
        index: u32,
        /// Its type.
        kind: u32,
        /// The platform's error.
        error: OpError,
    },
    /// A firmware segment has no place in the processor's memory.
    Segment {
        /// Index in the program header table.
        segment: usize,
        /// Why.
        error: DaError,
    },
    /// The resource table's section has no place in the processor's memory.
    TableSection {
        /// Why.
        error: DaError,
    },
    /// The platform failed an operation (start, stop, attach, load, install).
    Platform {
        /// The operation.
        op: &'static str,
        /// The platform's error.
        error: OpError,
    },
    /// The DMA layer refused a device or pool operation (a DMA-path error inside
    /// [`Error::Dma`](crate::dma_pool::Error::Dma) names devices by id:
    /// [`Devices::explain`](crate::dma_pool::Devices::explain) prints their names).
    Dma(crate::dma_pool::Error),
    /// The core file cannot be described.
    Coredump(CoredumpError),
    /// A table does not fit the room it must go to.
    NoSpace {
        /// Bytes of the table.
        needed: usize,
        /// Bytes of room.
        available: usize,
    },
    /// A subdevice's step failed.
    Subdevice {
        /// Which subdevice.
        subdev: SubdevId,
        /// The step (`prepare` or `start`).
        op: &'static str,
        /// The platform's error.
        error: OpError,
    },
    /// A firmware name was refused.
    FirmwareName(FirmwareNameError),
    /// A boot by name, but no firmware name was set.
    NoFirmwareName,
    /// The firmware source does not have this image (yet).
    FirmwareNotYet {
        /// The image's name.
        name: FirmwareName,
    },
    /// Recovery is disabled for this processor; it stays crashed.
    RecoveryDisabled,
    /// The heap could not grow a setup list (nothing changed).
    OutOfMemory {
        /// What was being reserved.
        what: &'static str,
        /// How many of them.
        count: usize,
    },
}

impl From<crate::dma_pool::cma::fallible::OutOfMemory> for RprocError {
    fn from(e: crate::dma_pool::cma::fallible::OutOfMemory) -> Self {
        Self::OutOfMemory {
            what: e.what,
            count: e.count,
        }
    }
}

impl From<FirmwareError> for RprocError {
    fn from(e: FirmwareError) -> Self {
        Self::Firmware(e)
    }
}

impl From<RscError> for RprocError {
    fn from(e: RscError) -> Self {
        Self::Rsc(e)
    }
}

impl From<crate::dma_pool::Error> for RprocError {
    fn from(e: crate::dma_pool::Error) -> Self {
        Self::Dma(e)
    }
}

/// A DMA-path error (devices and sources by id): resolve the names with
/// [`Devices::explain`](crate::dma_pool::Devices::explain) on the `Error::Dma` inside.
impl From<crate::dma_pool::DmaError> for RprocError {
    fn from(e: crate::dma_pool::DmaError) -> Self {
        Self::Dma(e.into())
    }
}

impl From<crate::dma_pool::cma::fallible::OutOfMemory> for MatchError {
    fn from(e: crate::dma_pool::cma::fallible::OutOfMemory) -> Self {
        Self::OutOfMemory {
            what: e.what,
            count: e.count,
        }
    }
}

impl fmt::Display for MatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutOfMemory { what, count } => {
                write!(f, "out of memory reserving room for {count} {what}")
            }
            Self::AlreadyBound { entry, other } => {
                write!(
                    f,
                    "memory entry {entry} is already bound to table entry {other}"
                )
            }
            Self::DaOutside { entry, da } => write!(f, "{da} is not inside memory entry {entry}"),
            Self::PaOutside { entry, pa } => write!(
                f,
                "physical {:#x} is not inside memory entry {entry}",
                pa.as_u64()
            ),
            Self::TooLong { entry, len, room } => write!(
                f,
                "{len:#x} bytes do not fit memory entry {entry} ({room:#x} bytes from there)"
            ),
            Self::PaMismatch {
                entry,
                pa,
                expected,
            } => write!(
                f,
                "physical {:#x} does not match memory entry {entry} (which has {:#x} there)",
                pa.as_u64(),
                expected.as_u64()
            ),
            Self::Undeclared { da, pa, len } => write!(
                f,
                "fixed address (da {:?}, pa {:?}, {len:#x} bytes) is not declared for this processor",
                da.map(DeviceAddr::as_u64),
                pa.map(PhysAddr::as_u64)
            ),
            Self::ZeroLen => f.write_str("zero length"),
            Self::Dma(e) => write!(f, "DMA layer: {e}"),
            Self::Platform(e) => e.fmt(f),
            Self::Unrepresentable(e) => e.fmt(f),
            Self::Vring(e) => e.fmt(f),
            Self::NotifyId(e) => e.fmt(f),
            Self::Translate(e) => e.fmt(f),
        }
    }
}

impl fmt::Display for RprocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::State { op, state } => write!(f, "cannot {op} a processor that is {state:?}"),
            Self::Firmware(e) => e.fmt(f),
            Self::Rsc(e) => e.fmt(f),
            Self::Resource {
                index,
                kind,
                ring: Some(ring),
                error,
            } => {
                write!(
                    f,
                    "resource entry {index} ({kind:?}, vring {ring}): {error}"
                )
            }
            Self::Resource {
                index,
                kind,
                ring: None,
                error,
            } => {
                write!(f, "resource entry {index} ({kind:?}): {error}")
            }
            Self::Register { entry, error } => write!(f, "memory entry {entry}: {error}"),
            Self::Vendor { index, kind, error } => {
                write!(f, "vendor resource entry {index} (type {kind}): {error}")
            }
            Self::Segment { segment, error } => write!(f, "firmware segment {segment}: {error}"),
            Self::TableSection { error } => write!(f, "resource table section: {error}"),
            Self::Platform { op, error } => write!(f, "platform {op}: {error}"),
            Self::Dma(e) => write!(f, "DMA layer: {e}"),
            Self::Coredump(e) => e.fmt(f),
            Self::NoSpace { needed, available } => write!(
                f,
                "resource table needs {needed} bytes, the section has {available}"
            ),
            Self::Subdevice { subdev, op, error } => write!(f, "{subdev} {op}: {error}"),
            Self::FirmwareName(e) => e.fmt(f),
            Self::NoFirmwareName => f.write_str("no firmware name was set"),
            Self::FirmwareNotYet { name } => write!(f, "firmware {name} is not available"),
            Self::RecoveryDisabled => f.write_str("recovery is disabled"),
            Self::OutOfMemory { what, count } => {
                write!(f, "out of memory reserving room for {count} {what}")
            }
        }
    }
}

impl core::error::Error for RprocError {}
