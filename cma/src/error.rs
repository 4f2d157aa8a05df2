//! The one error type of this crate.
//!
//! This module owns [`Error`] and its messages. Every variant carries the values that
//! were wrong (names, addresses, sizes) so a log line says what to fix; constructing an
//! error must never allocate (errors are returned from the allocation hot path).
#![forbid(unsafe_code)]

use core::fmt;

use contig_allocators::Error as BackendError;

use crate::map::MapProblem;
use crate::name::{Name, NameProblem};
use crate::{PhysAddr, PhysRange};

/// Why an operation of this crate was refused. Whatever the variant, the table, region,
/// map or area set the operation was called on is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    // ---- names and declarations -------------------------------------------------
    /// A region, device or backend name is not valid.
    BadName {
        /// The rejected text (cut to [`NAME_MAX`](crate::NAME_MAX) bytes).
        name: Name,
        /// What is wrong with it.
        problem: NameProblem,
    },
    /// A region of zero bytes.
    ZeroSize {
        /// The region.
        region: Name,
    },
    /// A region granule that is not a power of two.
    GranuleNotPowerOfTwo {
        /// The region.
        region: Name,
        /// The granule asked for.
        granule: usize,
    },
    /// A placement alignment that is not a power of two.
    AlignNotPowerOfTwo {
        /// The region.
        region: Name,
        /// The alignment asked for.
        align: usize,
    },
    /// A fixed region base that is not a multiple of the region's granule.
    BaseMisaligned {
        /// The region.
        region: Name,
        /// The base asked for.
        base: PhysAddr,
        /// The granule it must be a multiple of.
        granule: usize,
    },
    /// A region size that is not a whole number of granules.
    SizeMisaligned {
        /// The region.
        region: Name,
        /// The size asked for.
        size: usize,
        /// The granule it must be a multiple of.
        granule: usize,
    },
    /// `addr + size` does not fit in the 64-bit physical space.
    AddressOverflow {
        /// The start address.
        addr: PhysAddr,
        /// The bytes added to it.
        size: usize,
    },
    /// A region overlaps one declared before it.
    Overlap {
        /// The region being declared.
        region: Name,
        /// Its range.
        range: PhysRange,
        /// The region already there.
        other: Name,
        /// That region's range.
        other_range: PhysRange,
    },
    /// A fixed region ends above the placement limit.
    OutsideLimit {
        /// The region.
        region: Name,
        /// Its range.
        range: PhysRange,
        /// The limit (exclusive) it must end below.
        limit: PhysAddr,
    },
    /// The platform memory refused to reserve a fixed region (not memory, or already
    /// reserved by someone else).
    NotFree {
        /// The region.
        region: Name,
        /// The range that could not be reserved.
        range: PhysRange,
    },
    /// No free place for a dynamic region inside its allowed ranges and limit.
    NoRoom {
        /// The region.
        region: Name,
        /// Bytes asked for.
        size: usize,
        /// Alignment asked for.
        align: usize,
    },
    /// The fixed-capacity early table is full.
    TableFull {
        /// The region that did not fit.
        region: Name,
        /// The table's capacity.
        capacity: usize,
    },
    /// Two regions with the same name.
    DuplicateRegion {
        /// The name used twice.
        region: Name,
    },
    /// A region flagged both reusable and no-map (the device-tree binding forbids it:
    /// reusable memory is lent to the OS, which needs it mapped).
    ReusableNoMap {
        /// The region.
        region: Name,
    },
    /// A reusable region created without a [`Reclaim`](crate::Reclaim) hook.
    MissingReclaim {
        /// The region.
        region: Name,
    },
    /// A [`Reclaim`](crate::Reclaim) hook given to a region that is not reusable.
    UnexpectedReclaim {
        /// The region.
        region: Name,
    },

    // ---- backends ---------------------------------------------------------------
    /// No backend is registered under this name.
    UnknownBackend {
        /// The region that asked for it.
        region: Name,
        /// The name asked for.
        backend: Name,
    },
    /// Setup could not reserve memory for its bookkeeping (the heap is exhausted).
    OutOfMemory {
        /// What was being reserved.
        what: &'static str,
        /// How many of them.
        count: usize,
    },
    /// A backend name registered twice.
    DuplicateBackend {
        /// The name.
        backend: Name,
    },
    /// A backend factory built a backend of the wrong capacity.
    BackendCapacity {
        /// The region.
        region: Name,
        /// Units the region needs.
        expected: usize,
        /// Units the backend has.
        actual: usize,
    },
    /// The inline storage of a backend built in const context is too small for the
    /// region (see `InlineFirstFit::new`).
    BackendStorage {
        /// The region.
        region: Name,
        /// Metadata slots the backend needs.
        needed: usize,
        /// Slots it was given.
        given: usize,
    },
    /// A backend handed to a new region already has allocations.
    BackendInUse {
        /// The region.
        region: Name,
        /// Units already allocated.
        used: usize,
    },
    /// The region's backend refused the operation.
    Backend {
        /// The region.
        region: Name,
        /// What the backend said (in units of the region's granule).
        source: BackendError,
    },

    // ---- region map and lookup ---------------------------------------------------
    /// The text form of a region map is malformed.
    MapSyntax {
        /// The offending token (cut to [`NAME_MAX`](crate::NAME_MAX) bytes).
        token: Name,
        /// Byte offset of the token in the text.
        position: usize,
        /// What is wrong with it.
        problem: MapProblem,
    },
    /// No region has this name.
    UnknownRegion {
        /// The name asked for.
        region: Name,
    },
    /// A device is not in the region map, and there is neither a `*` entry nor a
    /// default region.
    NoRegionForDevice {
        /// The device.
        device: Name,
    },
    /// `alloc_from` with an empty list of regions.
    EmptyRegionList,

    // ---- allocation requests ----------------------------------------------------
    /// A request for zero bytes.
    ZeroRequest,
    /// A request alignment that is not a power of two.
    RequestAlign {
        /// The alignment asked for.
        align: usize,
    },
    /// A request window that leaves no whole granule of the region.
    WindowMissesRegion {
        /// The region.
        region: Name,
        /// The window asked for.
        window: PhysRange,
    },

    // ---- reusable regions -------------------------------------------------------
    /// The [`Reclaim`](crate::Reclaim) hook failed to take a range back (not merely busy).
    ReclaimFailed {
        /// The region.
        region: Name,
        /// The range it could not take back.
        range: PhysRange,
    },
    /// The [`Reclaim`](crate::Reclaim) hook reported a fixed range busy (claims of a
    /// fixed range have no other candidate to try).
    ReclaimBusy {
        /// The region.
        region: Name,
        /// The busy range.
        range: PhysRange,
    },
    /// Every candidate range was busy, and the retry limit was reached.
    ReclaimRetryLimit {
        /// The region.
        region: Name,
        /// Bytes asked for.
        size: usize,
        /// Busy candidates tried (the region's retry limit).
        retries: usize,
    },
    /// Busy candidates were skipped until no candidate was left.
    ReclaimAllBusy {
        /// The region.
        region: Name,
        /// Bytes asked for.
        size: usize,
        /// Busy candidates skipped.
        busy: usize,
    },

    // ---- frees ------------------------------------------------------------------
    /// A physical address inside no region.
    UnknownAddress {
        /// The address.
        addr: PhysAddr,
    },
    /// A handle naming a region index that does not exist.
    UnknownRegionId {
        /// The index.
        id: usize,
    },
    /// A range that does not lie inside the region it was freed to.
    OutsideRegion {
        /// The region.
        region: Name,
        /// The range.
        range: PhysRange,
    },
    /// Nothing is allocated at this address: a double free or a wild free.
    NotAllocated {
        /// The region.
        region: Name,
        /// The address freed.
        addr: PhysAddr,
    },
    /// The address is inside an allocation but does not start it.
    NotAllocationStart {
        /// The region.
        region: Name,
        /// The address freed.
        addr: PhysAddr,
    },
    /// The allocation at this address has another size.
    WrongSize {
        /// The region.
        region: Name,
        /// The address freed.
        addr: PhysAddr,
        /// The size passed to the free.
        size: usize,
        /// The size of the allocation there (whole granules).
        actual: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadName { name, problem } => write!(f, "name {name:?} {problem}"),
            Self::ZeroSize { region } => write!(f, "region {region:?} has size 0"),
            Self::GranuleNotPowerOfTwo { region, granule } => write!(
                f,
                "region {region:?}: granule {granule} is not a power of two"
            ),
            Self::AlignNotPowerOfTwo { region, align } => write!(
                f,
                "region {region:?}: alignment {align:#x} is not a power of two"
            ),
            Self::BaseMisaligned {
                region,
                base,
                granule,
            } => write!(
                f,
                "region {region:?}: base {base} is not a multiple of the granule {granule:#x}"
            ),
            Self::SizeMisaligned {
                region,
                size,
                granule,
            } => write!(
                f,
                "region {region:?}: size {size:#x} is not a multiple of the granule {granule:#x}"
            ),
            Self::AddressOverflow { addr, size } => {
                write!(f, "{addr} + {size:#x} overflows the physical address space")
            }
            Self::Overlap {
                region,
                range,
                other,
                other_range,
            } => write!(
                f,
                "region {region:?} {range} overlaps region {other:?} {other_range}"
            ),
            Self::OutsideLimit {
                region,
                range,
                limit,
            } => write!(f, "region {region:?} {range} ends above the limit {limit}"),
            Self::NotFree { region, range } => write!(
                f,
                "region {region:?}: {range} is not free memory (absent or already reserved)"
            ),
            Self::NoRoom {
                region,
                size,
                align,
            } => write!(
                f,
                "region {region:?}: no free {size:#x} bytes aligned to {align:#x} in the allowed ranges"
            ),
            Self::TableFull { region, capacity } => write!(
                f,
                "region {region:?}: the early table is full ({capacity} regions)"
            ),
            Self::DuplicateRegion { region } => write!(f, "region {region:?} is declared twice"),
            Self::ReusableNoMap { region } => {
                write!(f, "region {region:?} cannot be both reusable and no-map")
            }
            Self::MissingReclaim { region } => {
                write!(f, "region {region:?} is reusable but has no reclaim hook")
            }
            Self::UnexpectedReclaim { region } => write!(
                f,
                "region {region:?} has a reclaim hook but is not reusable"
            ),
            Self::UnknownBackend { region, backend } => write!(
                f,
                "region {region:?} asks for backend {backend:?}, which is not registered"
            ),
            Self::OutOfMemory { what, count } => {
                write!(f, "out of memory reserving room for {count} {what}")
            }
            Self::DuplicateBackend { backend } => {
                write!(f, "backend {backend:?} is already registered")
            }
            Self::BackendCapacity {
                region,
                expected,
                actual,
            } => write!(
                f,
                "region {region:?} needs a backend of {expected} units, the factory built {actual}"
            ),
            Self::BackendStorage {
                region,
                needed,
                given,
            } => write!(
                f,
                "region {region:?} needs backend storage of {needed} slots, it has {given}"
            ),
            Self::BackendInUse { region, used } => write!(
                f,
                "region {region:?} needs an empty backend, this one has {used} units allocated"
            ),
            Self::Backend { region, source } => write!(f, "region {region:?}: {source}"),
            Self::MapSyntax {
                token,
                position,
                problem,
            } => write!(f, "region map: {token:?} at byte {position}: {problem}"),
            Self::UnknownRegion { region } => write!(f, "no region named {region:?}"),
            Self::NoRegionForDevice { device } => write!(
                f,
                "device {device:?} is not in the region map and there is no default"
            ),
            Self::EmptyRegionList => f.write_str("an empty list of regions"),
            Self::ZeroRequest => f.write_str("a request for 0 bytes"),
            Self::RequestAlign { align } => {
                write!(f, "requested alignment {align:#x} is not a power of two")
            }
            Self::WindowMissesRegion { region, window } => write!(
                f,
                "window {window} holds no whole granule of region {region:?}"
            ),
            Self::ReclaimFailed { region, range } => {
                write!(f, "region {region:?}: could not reclaim {range}")
            }
            Self::ReclaimBusy { region, range } => {
                write!(
                    f,
                    "region {region:?}: {range} is busy and cannot be reclaimed now"
                )
            }
            Self::ReclaimRetryLimit {
                region,
                size,
                retries,
            } => write!(
                f,
                "region {region:?}: {size:#x} bytes: gave up after {retries} busy candidates"
            ),
            Self::ReclaimAllBusy { region, size, busy } => write!(
                f,
                "region {region:?}: {size:#x} bytes: all {busy} candidates were busy"
            ),
            Self::UnknownAddress { addr } => write!(f, "{addr} is in no region"),
            Self::UnknownRegionId { id } => write!(f, "no region with index {id}"),
            Self::OutsideRegion { region, range } => {
                write!(f, "{range} is not inside region {region:?}")
            }
            Self::NotAllocated { region, addr } => write!(
                f,
                "region {region:?}: {addr} is not allocated (double free or never allocated)"
            ),
            Self::NotAllocationStart { region, addr } => write!(
                f,
                "region {region:?}: {addr} is inside an allocation but does not start one"
            ),
            Self::WrongSize {
                region,
                addr,
                size,
                actual,
            } => write!(
                f,
                "region {region:?}: free of {size:#x} bytes at {addr}, but {actual:#x} bytes are allocated there"
            ),
        }
    }
}

impl From<crate::fallible::OutOfMemory> for Error {
    fn from(e: crate::fallible::OutOfMemory) -> Self {
        Self::OutOfMemory {
            what: e.what,
            count: e.count,
        }
    }
}

impl core::error::Error for Error {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Backend { source, .. } => Some(source),
            _ => None,
        }
    }
}
