//! Everything that can go wrong, with the values involved.
//!
//! This module owns [`Error`]. Whatever the variant, the registry, pool or buffer the
//! operation was called on is unchanged. It must never carry heap data (errors are
//! made on allocation paths).
#![forbid(unsafe_code)]

use core::fmt;

use crate::cma::{self, Name, PhysAddr, PhysRange, RegionId};
use crate::{DeviceId, DmaAddr, TranslateError};

/// Why an operation was refused. `device: None` means the call had no device (Linux's
/// `NULL` device).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// A region layer error while setting things up (a bad name, a region that could
    /// not be built).
    Cma(cma::Error),
    /// No device has this id (never added, or removed).
    UnknownDevice {
        /// The id asked for.
        id: DeviceId,
    },
    /// A device of this name exists already.
    DuplicateDevice {
        /// The name.
        name: Name,
    },
    /// The device still has children; remove them first.
    HasChildren {
        /// The device.
        device: Name,
        /// One of its children.
        child: Name,
    },
    /// The device still owns buffers.
    LiveBuffers {
        /// The device.
        device: Name,
        /// How many.
        live: usize,
    },
    /// The device has a coherent pool already (Linux `-EBUSY`).
    PoolBusy {
        /// The device.
        device: Name,
    },
    /// The device has no coherent pool of its own.
    NoPool {
        /// The device.
        device: Name,
    },
    /// The pool still has live buffers (or occupied ranges).
    PoolLive {
        /// The pool.
        pool: Name,
        /// How many.
        live: usize,
    },
    /// A pool of zero bytes.
    PoolZeroSize {
        /// The pool.
        pool: Name,
    },
    /// A pool whose physical base, bus base or size is not a multiple of its page.
    PoolMisaligned {
        /// The pool.
        pool: Name,
        /// Physical base asked for.
        phys: PhysAddr,
        /// Bus base asked for.
        bus: DmaAddr,
        /// Size asked for.
        size: usize,
        /// The page size.
        page: usize,
    },
    /// A pool whose bus or physical range runs past the end of the address space.
    PoolOverflow {
        /// The pool.
        pool: Name,
        /// Bus base asked for.
        bus: DmaAddr,
        /// Size asked for.
        size: usize,
    },
    /// A page size that is zero or not a power of two.
    BadPageSize {
        /// The value given.
        page: usize,
    },
    /// A device names a CMA region the registry's area set does not have (or the
    /// registry has no area set).
    UnknownCmaRegion {
        /// The device (`None`: the default CMA area).
        device: Option<Name>,
        /// The region id.
        region: RegionId,
    },
    /// A source's physical bytes overlap those of a source the registry has already
    /// (two sources over one byte could hand it out twice). Sharing one source, as a
    /// child device inheriting its parent's pool does, is not an overlap.
    SourcesOverlap {
        /// The source being declared.
        source: SourceName,
        /// Its physical bytes.
        range: PhysRange,
        /// The source it collides with.
        other: SourceName,
        /// That source's physical bytes.
        other_range: PhysRange,
    },
    /// A source answered an allocation with memory that overlaps a live buffer (a
    /// faulty backend or system allocator). Nothing was written or recorded; the
    /// answer is not given back to the source (that could free the live buffer's
    /// memory in it).
    BufferOverlap {
        /// The device.
        device: Option<Name>,
        /// The source that answered.
        source: SourceName,
        /// The range it handed out.
        range: PhysRange,
        /// The live buffer it overlaps.
        live: PhysRange,
    },
    /// A source answered an allocation with memory it does not manage, of the wrong
    /// size, or past the device's mask. Nothing was written; an answer past the mask
    /// is given back, one outside the source or of another size is not (the source
    /// is faulty).
    BadAnswer {
        /// The device.
        device: Option<Name>,
        /// The source that answered.
        source: SourceName,
        /// The range it handed out.
        range: PhysRange,
    },
    /// Other CPUs (or references the caller keeps, such as a device's description)
    /// are using the device right now; the setup call changed nothing.
    DeviceBusy {
        /// The device.
        device: Name,
        /// How many calls or references hold it.
        holders: usize,
    },
    /// A default source cannot be replaced while buffers from it are live, or while
    /// other CPUs are allocating from it.
    SourceBusy {
        /// The source.
        source: SourceName,
        /// Live buffers it has handed out (0 when only in use by other CPUs).
        live: usize,
    },
    /// The registry has its CMA area set already (device CMA areas and the default CMA
    /// area name regions of it, so it is given once).
    CmaAlreadySet,
    /// The registry has room for no more devices.
    TooManyDevices {
        /// Devices it holds.
        capacity: usize,
    },
    /// Setup could not reserve memory for its bookkeeping (the heap is exhausted).
    OutOfMemory {
        /// What was being reserved.
        what: &'static str,
        /// How many of them.
        count: usize,
    },
    /// An alignment that is zero or not a power of two.
    BadAlignment {
        /// The device.
        device: Option<Name>,
        /// The alignment asked for.
        align: usize,
    },
    /// A copy into or out of a buffer that would pass its end.
    OutOfBuffer {
        /// Byte offset asked for.
        offset: usize,
        /// Bytes asked for.
        len: usize,
        /// The buffer's size.
        size: usize,
    },
    /// A request for zero bytes.
    ZeroSize {
        /// The device.
        device: Option<Name>,
    },
    /// No source in the device's chain could provide the buffer under its mask.
    NoMemory {
        /// The device.
        device: Option<Name>,
        /// Bytes asked for.
        size: usize,
        /// The coherent DMA mask applied.
        mask: u64,
    },
    /// The source's record of live buffers is full: a CMA region's or the system
    /// allocator's (see [`Devices::with_capacity`](crate::Devices::with_capacity)), or
    /// a pool's when memory was given back to it behind the registry's back.
    BookFull {
        /// The device.
        device: Option<Name>,
        /// Buffers the record holds.
        capacity: usize,
    },
    /// The buffer must be zeroed but the CPU has no mapping of it.
    Unmapped {
        /// The device.
        device: Option<Name>,
        /// Physical base of the buffer.
        phys: PhysAddr,
        /// Its size.
        size: usize,
    },
    /// A bus translation failed.
    Translate {
        /// The device.
        device: Option<Name>,
        /// What failed.
        error: TranslateError,
    },
    /// The buffer belongs to no source of the device's chain (a foreign buffer, or one
    /// whose addresses were changed).
    NotOwned {
        /// The device.
        device: Option<Name>,
        /// Bus address given.
        dma: DmaAddr,
        /// Size given.
        size: usize,
    },
    /// The buffer is live but was allocated for another device (or for no device): a
    /// coherent buffer goes back through the device it was allocated for.
    WrongDevice {
        /// The device the free was asked through.
        device: Option<Name>,
        /// The device the buffer was allocated for (`None`: no device).
        owner: Option<Name>,
        /// Bus address given.
        dma: DmaAddr,
        /// Size given.
        size: usize,
    },
    /// The owning source refused the free: already freed, not a buffer start, or a
    /// different size.
    BadFree {
        /// The device.
        device: Option<Name>,
        /// Bus address given.
        dma: DmaAddr,
        /// Size given.
        size: usize,
        /// The source's reason.
        cause: Refusal,
    },
    /// A range could not be marked occupied in the device's pool.
    Occupy {
        /// The device.
        device: Name,
        /// Bus address given.
        dma: DmaAddr,
        /// Size given.
        size: usize,
        /// The pool's reason (overlapping a buffer, too many buffers).
        cause: Refusal,
    },
    /// The system allocator refused to free a buffer it manages (already freed, or
    /// not an allocation of that size).
    SystemFree {
        /// The device.
        device: Option<Name>,
        /// Bus address given.
        dma: DmaAddr,
        /// Size given.
        size: usize,
    },
    /// A user mapping of `pages` pages from page `offset` does not fit in the buffer
    /// (Linux `-ENXIO`).
    MmapOutOfRange {
        /// First page asked for.
        offset: usize,
        /// Pages asked for.
        pages: usize,
        /// Pages the buffer spans.
        buffer_pages: usize,
    },
    /// The buffer does not start on a page, so it cannot be mapped by page frames.
    MmapUnaligned {
        /// Physical base of the buffer.
        phys: PhysAddr,
        /// The page size.
        page: usize,
    },
}

/// A memory source of a registry, as errors name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SourceName {
    /// A coherent pool (per device or the default).
    Pool(Name),
    /// A region of the CMA area set.
    Cma(Name),
    /// The system allocator.
    System,
}

impl fmt::Display for SourceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pool(name) => write!(f, "pool {}", name.as_str()),
            Self::Cma(name) => write!(f, "CMA region {}", name.as_str()),
            Self::System => f.write_str("the system allocator"),
        }
    }
}

/// Why a source refused to free or occupy a range (the region layer's answer, without
/// the names and addresses the enclosing [`Error`] carries already).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Refusal {
    /// Nothing is allocated there: a double free or a wild free.
    NotAllocated,
    /// The address is inside a buffer but does not start it.
    NotStart,
    /// The buffer there has another size.
    WrongSize {
        /// Its size in bytes (whole granules for a CMA area).
        actual: usize,
    },
    /// Part of the range is in use.
    InUse,
    /// The source's metadata holds no more buffers.
    TooMany,
    /// A zero-byte range.
    Zero,
    /// The range is not inside the source.
    Outside,
    /// Another refusal of the region layer.
    Other,
}

impl Refusal {
    /// Classifies a region-layer error.
    #[must_use]
    pub fn of(error: cma::Error) -> Self {
        use crate::cma::allocators::Error as Unit;
        match error {
            cma::Error::NotAllocated { .. } => Self::NotAllocated,
            cma::Error::NotAllocationStart { .. } => Self::NotStart,
            cma::Error::WrongSize { actual, .. } => Self::WrongSize { actual },
            cma::Error::ZeroRequest => Self::Zero,
            cma::Error::OutsideRegion { .. } | cma::Error::UnknownAddress { .. } => Self::Outside,
            cma::Error::Backend {
                source: Unit::TooManyAllocations { .. },
                ..
            } => Self::TooMany,
            cma::Error::Backend { .. }
            | cma::Error::ReclaimBusy { .. }
            | cma::Error::ReclaimFailed { .. } => Self::InUse,
            _ => Self::Other,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAllocated => f.write_str("nothing is allocated there"),
            Self::NotStart => f.write_str("not the start of a buffer"),
            Self::WrongSize { actual } => write!(f, "the buffer there has {actual:#x} bytes"),
            Self::InUse => f.write_str("the range is in use"),
            Self::TooMany => f.write_str("too many buffers"),
            Self::Zero => f.write_str("zero bytes"),
            Self::Outside => f.write_str("outside the source"),
            Self::Other => f.write_str("refused by the region layer"),
        }
    }
}

impl From<cma::Error> for Error {
    fn from(e: cma::Error) -> Self {
        match e {
            cma::Error::OutOfMemory { what, count } => Self::OutOfMemory { what, count },
            e => Self::Cma(e),
        }
    }
}

impl From<cma::fallible::OutOfMemory> for Error {
    fn from(e: cma::fallible::OutOfMemory) -> Self {
        Self::OutOfMemory {
            what: e.what,
            count: e.count,
        }
    }
}

struct Who(Option<Name>);

impl fmt::Display for Who {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(n) => write!(f, "device {}", n.as_str()),
            None => f.write_str("no device"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Cma(e) => write!(f, "{e}"),
            Self::UnknownDevice { id } => write!(f, "no device {id:?}"),
            Self::DuplicateDevice { name } => write!(f, "device {} exists", name.as_str()),
            Self::HasChildren { device, child } => write!(
                f,
                "device {} still has child {}",
                device.as_str(),
                child.as_str()
            ),
            Self::LiveBuffers { device, live } => {
                write!(f, "device {} owns {live} live buffers", device.as_str())
            }
            Self::PoolBusy { device } => {
                write!(f, "device {} has a coherent pool already", device.as_str())
            }
            Self::NoPool { device } => write!(f, "device {} has no pool", device.as_str()),
            Self::PoolLive { pool, live } => {
                write!(f, "pool {} has {live} live buffers", pool.as_str())
            }
            Self::PoolZeroSize { pool } => write!(f, "pool {} has zero size", pool.as_str()),
            Self::PoolMisaligned {
                pool,
                phys,
                bus,
                size,
                page,
            } => write!(
                f,
                "pool {}: {phys}, {bus} and size {size:#x} must be multiples of {page:#x}",
                pool.as_str()
            ),
            Self::PoolOverflow { pool, bus, size } => write!(
                f,
                "pool {}: {size:#x} bytes at {bus} overflow",
                pool.as_str()
            ),
            Self::BadPageSize { page } => write!(f, "page size {page:#x} is not a power of two"),
            Self::UnknownCmaRegion { device, region } => {
                write!(f, "{}: no CMA region {region:?}", Who(device))
            }
            Self::SourcesOverlap {
                source,
                range,
                other,
                other_range,
            } => write!(
                f,
                "{source} ({range}) overlaps {other} ({other_range}): no byte may belong to two sources"
            ),
            Self::BufferOverlap {
                device,
                source,
                range,
                live,
            } => write!(
                f,
                "{}: {source} handed out {range}, which overlaps the live buffer {live}",
                Who(device)
            ),
            Self::BadAnswer {
                device,
                source,
                range,
            } => write!(
                f,
                "{}: {source} handed out {range}, which is not what was asked (outside it, another size, or past the mask)",
                Who(device)
            ),
            Self::DeviceBusy { device, holders } => write!(
                f,
                "device {} is in use by {holders} calls or references; try again when they end",
                device.as_str()
            ),
            Self::SourceBusy { source, live } => {
                write!(f, "{source} is in use ({live} live buffers)")
            }
            Self::CmaAlreadySet => {
                f.write_str("the registry has a CMA area set already; it is given once")
            }
            Self::TooManyDevices { capacity } => {
                write!(f, "the registry is full: room for {capacity} devices")
            }
            Self::OutOfMemory { what, count } => {
                write!(f, "out of memory reserving room for {count} {what}")
            }
            Self::BadAlignment { device, align } => write!(
                f,
                "{}: alignment {align:#x} is not a power of two",
                Who(device)
            ),
            Self::OutOfBuffer { offset, len, size } => write!(
                f,
                "{len:#x} bytes at offset {offset:#x} pass the end of a {size:#x}-byte buffer"
            ),
            Self::ZeroSize { device } => write!(f, "{}: zero-byte request", Who(device)),
            Self::NoMemory { device, size, mask } => write!(
                f,
                "{}: no memory for {size:#x} bytes under mask {mask:#x}",
                Who(device)
            ),
            Self::BookFull { device, capacity } => write!(
                f,
                "{}: no room to record the buffer (room for {capacity} buffers in its source)",
                Who(device)
            ),
            Self::Unmapped { device, phys, size } => write!(
                f,
                "{}: {size:#x} bytes at {phys} have no CPU mapping to zero them through",
                Who(device)
            ),
            Self::Translate { device, error } => write!(f, "{}: {error}", Who(device)),
            Self::NotOwned { device, dma, size } => write!(
                f,
                "{}: {size:#x} bytes at {dma} are no buffer of its pools",
                Who(device)
            ),
            Self::WrongDevice {
                device,
                owner,
                dma,
                size,
            } => write!(
                f,
                "{}: {size:#x} bytes at {dma} were allocated for {}; free them through it",
                Who(device),
                Who(owner)
            ),
            Self::BadFree {
                device,
                dma,
                size,
                cause,
            } => write!(
                f,
                "{}: cannot free {size:#x} bytes at {dma}: {cause}",
                Who(device)
            ),
            Self::Occupy {
                device,
                dma,
                size,
                cause,
            } => write!(
                f,
                "device {}: cannot mark {size:#x} bytes at {dma} occupied: {cause}",
                device.as_str()
            ),
            Self::SystemFree { device, dma, size } => write!(
                f,
                "{}: the system allocator holds no {size:#x}-byte buffer at {dma}",
                Who(device)
            ),
            Self::MmapOutOfRange {
                offset,
                pages,
                buffer_pages,
            } => write!(
                f,
                "mapping {pages} pages from page {offset} exceeds the buffer's {buffer_pages} pages"
            ),
            Self::MmapUnaligned { phys, page } => {
                write!(f, "buffer at {phys} is not aligned to page {page:#x}")
            }
        }
    }
}

impl core::error::Error for Error {}
