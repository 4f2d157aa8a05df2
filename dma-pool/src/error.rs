//! Everything that can go wrong, with the values involved.
//!
//! This module owns [`Error`]. Whatever the variant, the registry, pool or buffer the
//! operation was called on is unchanged. It must never carry heap data (errors are
//! made on allocation paths).
#![forbid(unsafe_code)]

use core::fmt;

use crate::cma::{self, Name, PhysAddr, PhysRange, RegionId};
use crate::{DeviceId, DmaAddr};

/// Why an operation was refused. `device: None` means the call had no device (Linux's
/// `NULL` device).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// A region layer error while setting things up (a bad name, a region that could
    /// not be built).
    Cma(cma::Error),
    /// A DMA-path call failed (when a setup function or a caller's `?` passes a
    /// [`DmaError`] on; names are resolved with [`Devices::explain`](crate::Devices::explain)).
    Dma(DmaError),
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

/// Why a source refused to free or occupy a range: the region layer's answer, without
/// the device, address and size the enclosing [`DmaError`] carries already (one byte,
/// so it rides in the error beside them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Refusal {
    /// Nothing is allocated there: a double free or a wild free.
    NotAllocated,
    /// The address is inside a buffer but does not start it.
    NotStart,
    /// The buffer there has another size (the registry's record says which:
    /// [`DmaError::WrongSize`]; this is the source's own refusal).
    WrongSize,
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
    pub fn of(error: cma::DmaError) -> Self {
        use cma::DmaError as E;
        match error {
            E::NotAllocated { .. } => Self::NotAllocated,
            E::NotAllocationStart { .. } => Self::NotStart,
            E::WrongSize { .. } => Self::WrongSize,
            E::ZeroRequest => Self::Zero,
            E::OutsideRegion { .. } | E::UnknownAddress { .. } => Self::Outside,
            E::TooManyAllocations { .. } => Self::TooMany,
            E::NoSpace { .. }
            | E::RangeBusy { .. }
            | E::ReclaimBusy { .. }
            | E::ReclaimFailed { .. } => Self::InUse,
            _ => Self::Other,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAllocated => f.write_str("nothing is allocated there"),
            Self::NotStart => f.write_str("not the start of a buffer"),
            Self::WrongSize => f.write_str("the buffer there has another size"),
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
            Self::Dma(e) => write!(f, "{e}"),
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

/// A memory source of a registry, as DMA-path errors name it: by id, not by name, so
/// that a [`DmaError`] stays small. [`Devices::explain`](crate::Devices::explain)
/// prints the names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SourceId {
    /// The coherent pool of this device (its own; a device inheriting it names the
    /// ancestor whose pool it is).
    Pool(DeviceId),
    /// The registry's default pool.
    DefaultPool,
    /// The region of the CMA area set with this index (a [`RegionId`]'s index, kept in
    /// 32 bits so the id is 12 bytes; see [`SourceId::cma`]).
    Cma(u32),
    /// The system allocator.
    System,
}

impl SourceId {
    /// The source id of CMA region `id`.
    #[must_use]
    pub fn cma(id: RegionId) -> Self {
        // An area set of more than 4 Gi regions cannot exist (each region is a
        // heap-allocated value); saturate rather than wrap if it ever did.
        Self::Cma(u32::try_from(id.index()).unwrap_or(u32::MAX))
    }

    /// The CMA region, for a [`SourceId::Cma`].
    #[must_use]
    pub fn region(self) -> Option<RegionId> {
        match self {
            Self::Cma(index) => Some(RegionId::new(index as usize)),
            _ => None,
        }
    }
}

impl fmt::Display for SourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pool(device) => write!(f, "the pool of {device}"),
            Self::DefaultPool => f.write_str("the default pool"),
            Self::Cma(index) => write!(f, "CMA region #{index}"),
            Self::System => f.write_str("the system allocator"),
        }
    }
}

/// Why a call on the DMA path was refused: allocation, free, occupation and look-up
/// of coherent buffers ([`Devices::alloc_coherent`](crate::Devices::alloc_coherent),
/// [`Devices::free_coherent`](crate::Devices::free_coherent),
/// [`Devices::mark_occupied`](crate::Devices::mark_occupied),
/// [`Devices::find_buffer`](crate::Devices::find_buffer),
/// [`CoherentAllocation`](crate::CoherentAllocation)), and the look-ups the DMA path
/// makes ([`Devices::device`](crate::Devices::device),
/// [`Devices::pool`](crate::Devices::pool), [`Devices::live`](crate::Devices::live),
/// [`Devices::find_ancestor`](crate::Devices::find_ancestor)). Nothing changed.
///
/// # Small on purpose
///
/// A kernel returns this on every DMA allocation and free, so it is at most 32 bytes on
/// 64-bit targets (a const assert checks it) and `Result<(), DmaError>` is too: it names
/// devices by [`DeviceId`] and sources by [`SourceId`] instead of by name, and carries
/// no more than three words of values. Its `Display` prints the ids and every value;
/// [`Devices::explain`](crate::Devices::explain) prints the same message with the
/// device, pool and region names looked up in the registry.
///
/// `Result<CoherentBuffer, DmaError>` is 40 bytes (asserted too). For 32, rustc would
/// have to store the error inside the buffer's bytes, marked by a spare bit pattern of
/// one field, and the error would have to fit in the other 24 bytes. The buffer has no
/// spare pattern (addresses and sizes may take any value; the CPU pointer's only one is
/// its `None`), and even with its size made non-zero the error would have room for a
/// device and one word: [`NoMemory`](Self::NoMemory) (device, size, mask) and the
/// free-path errors need two.
///
/// Where a variant would need a fourth word, one value that the caller holds already
/// is left out: [`WrongDevice`](Self::WrongDevice) and [`WrongSize`](Self::WrongSize)
/// omit the size the caller passed, [`BadAnswer`](Self::BadAnswer) and
/// [`BufferOverlap`](Self::BufferOverlap) omit the device (the source is at fault;
/// the caller knows the device it asked for), and `BufferOverlap` names the range
/// handed out but not the live buffer it hit.
///
/// `device: None` means the call had no device (Linux's `NULL` device). Converts into
/// [`Error`] (as [`Error::Dma`]) for `?` in setup code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DmaError {
    /// No device has this id (never added, or removed).
    UnknownDevice {
        /// The id asked for.
        id: DeviceId,
    },
    /// The device names a CMA region the registry's area set does not have.
    UnknownCmaRegion {
        /// The device.
        device: DeviceId,
        /// The region id.
        region: RegionId,
    },
    /// A request for zero bytes.
    ZeroSize {
        /// The device.
        device: Option<DeviceId>,
    },
    /// An alignment that is zero or not a power of two.
    BadAlignment {
        /// The device.
        device: Option<DeviceId>,
        /// The alignment asked for.
        align: usize,
    },
    /// No source in the device's chain could provide the buffer under its mask.
    NoMemory {
        /// The device.
        device: Option<DeviceId>,
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
        device: Option<DeviceId>,
        /// The source.
        source: SourceId,
        /// Buffers the record holds.
        capacity: usize,
    },
    /// The buffer must be zeroed (or copied into) but the CPU has no mapping of it.
    Unmapped {
        /// The device.
        device: Option<DeviceId>,
        /// Physical base of the buffer.
        phys: PhysAddr,
        /// Its size.
        size: usize,
    },
    /// A buffer a source handed out is not reachable on the device's bus.
    NotOnBus {
        /// The device.
        device: Option<DeviceId>,
        /// Physical base of the buffer.
        phys: PhysAddr,
        /// Its size.
        size: usize,
    },
    /// Bus addresses to mark occupied that are not in the device's pool.
    NotInPool {
        /// The device.
        device: DeviceId,
        /// Bus address given.
        dma: DmaAddr,
        /// Size given.
        size: usize,
    },
    /// The device has no coherent pool of its own (to mark a range occupied in).
    NoPool {
        /// The device.
        device: DeviceId,
    },
    /// A source answered an allocation with memory it does not manage, of the wrong
    /// size, or past the device's mask. Nothing was written; an answer past the mask
    /// is given back, one outside the source or of another size is not (the source
    /// is faulty).
    BadAnswer {
        /// The source that answered.
        source: SourceId,
        /// The range it handed out.
        range: PhysRange,
    },
    /// A source answered an allocation with memory that overlaps a live buffer (a
    /// faulty backend or system allocator). Nothing was written or recorded; the
    /// answer is not given back to the source (that could free the live buffer's
    /// memory in it).
    BufferOverlap {
        /// The source that answered.
        source: SourceId,
        /// The range it handed out.
        range: PhysRange,
    },
    /// The buffer belongs to no source of the device's chain (a foreign buffer, or one
    /// whose addresses were changed).
    NotOwned {
        /// The device.
        device: Option<DeviceId>,
        /// Bus address given.
        dma: DmaAddr,
        /// Size given.
        size: usize,
    },
    /// The buffer is live but was allocated for another device (or for no device): a
    /// coherent buffer goes back through the device it was allocated for.
    WrongDevice {
        /// The device the free was asked through.
        device: Option<DeviceId>,
        /// The device the buffer was allocated for (`None`: no device).
        owner: Option<DeviceId>,
        /// Bus address given.
        dma: DmaAddr,
    },
    /// The live buffer at this address has another size than the one given.
    WrongSize {
        /// The device.
        device: Option<DeviceId>,
        /// Bus address given.
        dma: DmaAddr,
        /// The buffer's size.
        actual: usize,
    },
    /// The owning source refused the free: already freed, not a buffer start, or
    /// refused by the source itself.
    BadFree {
        /// The device.
        device: Option<DeviceId>,
        /// The source's reason.
        cause: Refusal,
        /// Bus address given.
        dma: DmaAddr,
        /// Size given.
        size: usize,
    },
    /// A range could not be marked occupied in the device's pool.
    Occupy {
        /// The device.
        device: DeviceId,
        /// The pool's reason (overlapping a buffer, too many buffers).
        cause: Refusal,
        /// Bus address given.
        dma: DmaAddr,
        /// Size given.
        size: usize,
    },
    /// The system allocator refused to free a buffer it manages (already freed, or
    /// not an allocation of that size).
    SystemFree {
        /// The device.
        device: Option<DeviceId>,
        /// Bus address given.
        dma: DmaAddr,
        /// Size given.
        size: usize,
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
}

// A DMA-path error comes back in registers (see "Small on purpose" above).
#[cfg(target_pointer_width = "64")]
const _: () = {
    assert!(core::mem::size_of::<DmaError>() <= 32);
    assert!(core::mem::size_of::<Result<(), DmaError>>() <= 32);
    assert!(core::mem::size_of::<Result<crate::CoherentBuffer, DmaError>>() <= 40);
};

impl DmaError {
    /// The device the failed call was made through or for (`None` for no device, or
    /// when the error is not about a device).
    #[must_use]
    pub const fn device(&self) -> Option<DeviceId> {
        match *self {
            Self::UnknownDevice { id } => Some(id),
            Self::UnknownCmaRegion { device, .. }
            | Self::NotInPool { device, .. }
            | Self::NoPool { device }
            | Self::Occupy { device, .. } => Some(device),
            Self::ZeroSize { device }
            | Self::BadAlignment { device, .. }
            | Self::NoMemory { device, .. }
            | Self::BookFull { device, .. }
            | Self::Unmapped { device, .. }
            | Self::NotOnBus { device, .. }
            | Self::NotOwned { device, .. }
            | Self::WrongDevice { device, .. }
            | Self::WrongSize { device, .. }
            | Self::BadFree { device, .. }
            | Self::SystemFree { device, .. } => device,
            Self::BadAnswer { .. } | Self::BufferOverlap { .. } | Self::OutOfBuffer { .. } => None,
        }
    }

    /// Writes the message, naming devices and sources through `names`.
    pub(crate) fn write(&self, f: &mut fmt::Formatter<'_>, names: &dyn Names) -> fmt::Result {
        let who = |f: &mut fmt::Formatter<'_>, device: Option<DeviceId>| match device {
            Some(id) => names.device(f, id),
            None => f.write_str("no device"),
        };
        match *self {
            Self::UnknownDevice { id } => write!(f, "no {id} (never added, or removed)"),
            Self::UnknownCmaRegion { device, region } => {
                names.device(f, device)?;
                write!(f, ": no CMA region #{}", region.index())
            }
            Self::ZeroSize { device } => {
                who(f, device)?;
                f.write_str(": zero-byte request")
            }
            Self::BadAlignment { device, align } => {
                who(f, device)?;
                write!(f, ": alignment {align:#x} is not a power of two")
            }
            Self::NoMemory { device, size, mask } => {
                who(f, device)?;
                write!(f, ": no memory for {size:#x} bytes under mask {mask:#x}")
            }
            Self::BookFull {
                device,
                source,
                capacity,
            } => {
                who(f, device)?;
                f.write_str(": no room to record the buffer in ")?;
                names.source(f, source)?;
                write!(f, " (room for {capacity} buffers)")
            }
            Self::Unmapped { device, phys, size } => {
                who(f, device)?;
                write!(f, ": {size:#x} bytes at {phys} have no CPU mapping")
            }
            Self::NotOnBus { device, phys, size } => {
                who(f, device)?;
                write!(
                    f,
                    ": {size:#x} bytes at {phys} are not reachable from the bus"
                )
            }
            Self::NotInPool { device, dma, size } => {
                names.device(f, device)?;
                write!(f, ": {size:#x} bytes at {dma} are not in its pool")
            }
            Self::NoPool { device } => {
                names.device(f, device)?;
                f.write_str(" has no pool")
            }
            Self::BadAnswer { source, range } => {
                names.source(f, source)?;
                write!(
                    f,
                    " handed out {range}, which is not what was asked \
                     (outside it, another size, or past the mask)"
                )
            }
            Self::BufferOverlap { source, range } => {
                names.source(f, source)?;
                write!(f, " handed out {range}, which overlaps a live buffer")
            }
            Self::NotOwned { device, dma, size } => {
                who(f, device)?;
                write!(f, ": {size:#x} bytes at {dma} are no buffer of its pools")
            }
            Self::WrongDevice { device, owner, dma } => {
                who(f, device)?;
                write!(f, ": the buffer at {dma} was allocated for ")?;
                who(f, owner)?;
                f.write_str("; free it through that device")
            }
            Self::WrongSize {
                device,
                dma,
                actual,
            } => {
                who(f, device)?;
                write!(
                    f,
                    ": cannot free the buffer at {dma} with another size: it has {actual:#x} bytes"
                )
            }
            Self::BadFree {
                device,
                cause,
                dma,
                size,
            } => {
                who(f, device)?;
                write!(f, ": cannot free {size:#x} bytes at {dma}: {cause}")
            }
            Self::Occupy {
                device,
                cause,
                dma,
                size,
            } => {
                names.device(f, device)?;
                write!(
                    f,
                    ": cannot mark {size:#x} bytes at {dma} occupied: {cause}"
                )
            }
            Self::SystemFree { device, dma, size } => {
                who(f, device)?;
                write!(
                    f,
                    ": the system allocator holds no {size:#x}-byte buffer at {dma}"
                )
            }
            Self::OutOfBuffer { offset, len, size } => write!(
                f,
                "{len:#x} bytes at offset {offset:#x} pass the end of a {size:#x}-byte buffer"
            ),
        }
    }
}

/// How a [`DmaError`]'s message names devices and sources.
pub(crate) trait Names {
    fn device(&self, f: &mut fmt::Formatter<'_>, id: DeviceId) -> fmt::Result;
    fn source(&self, f: &mut fmt::Formatter<'_>, id: SourceId) -> fmt::Result;
}

/// Names by id alone (no registry at hand).
struct Ids;

impl Names for Ids {
    fn device(&self, f: &mut fmt::Formatter<'_>, id: DeviceId) -> fmt::Result {
        write!(f, "{id}")
    }

    fn source(&self, f: &mut fmt::Formatter<'_>, id: SourceId) -> fmt::Result {
        write!(f, "{id}")
    }
}

impl fmt::Display for DmaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, &Ids)
    }
}

impl core::error::Error for DmaError {}

impl From<DmaError> for Error {
    fn from(e: DmaError) -> Self {
        match e {
            DmaError::UnknownDevice { id } => Self::UnknownDevice { id },
            e => Self::Dma(e),
        }
    }
}
