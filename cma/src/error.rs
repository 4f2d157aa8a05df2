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
use crate::{PhysAddr, PhysRange, RegionId};

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

    // ---- the DMA path -------------------------------------------------------------
    /// An allocation, claim or free failed (a [`DmaError`] passed on by `?`; it names
    /// its region by index: [`AreaSet::to_error`](crate::AreaSet::to_error) gives the
    /// variant with the name instead).
    Dma(DmaError),

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
        const ALONE: RegionIndex = RegionIndex::ALONE;
        let named = |f: &mut fmt::Formatter<'_>, region: Name, error: DmaError| {
            error.write(f, &|_| Some(region))
        };
        match *self {
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
            Self::Dma(e) => write!(f, "{e}"),
            // The named forms of DMA errors: written through the DMA error's message so
            // that the two cannot drift apart.
            Self::ZeroRequest => DmaError::ZeroRequest.fmt(f),
            Self::RequestAlign { align } => DmaError::RequestAlign { align }.fmt(f),
            Self::AddressOverflow { addr, size } => DmaError::AddressOverflow { addr, size }.fmt(f),
            Self::UnknownAddress { addr } => DmaError::UnknownAddress { addr }.fmt(f),
            Self::UnknownRegionId { id } => DmaError::UnknownRegionId { id }.fmt(f),
            Self::WindowMissesRegion { region, window } => named(
                f,
                region,
                DmaError::WindowMissesRegion {
                    region: ALONE,
                    window,
                },
            ),
            Self::ReclaimFailed { region, range } => named(
                f,
                region,
                DmaError::ReclaimFailed {
                    region: ALONE,
                    range,
                },
            ),
            Self::ReclaimBusy { region, range } => named(
                f,
                region,
                DmaError::ReclaimBusy {
                    region: ALONE,
                    range,
                },
            ),
            Self::ReclaimRetryLimit {
                region,
                size,
                retries,
            } => named(
                f,
                region,
                DmaError::ReclaimRetryLimit {
                    region: ALONE,
                    size,
                    retries,
                },
            ),
            Self::ReclaimAllBusy { region, size, busy } => named(
                f,
                region,
                DmaError::ReclaimAllBusy {
                    region: ALONE,
                    size,
                    busy,
                },
            ),
            Self::OutsideRegion { region, range } => named(
                f,
                region,
                DmaError::OutsideRegion {
                    region: ALONE,
                    range,
                },
            ),
            Self::NotAllocated { region, addr } => named(
                f,
                region,
                DmaError::NotAllocated {
                    region: ALONE,
                    addr,
                },
            ),
            Self::NotAllocationStart { region, addr } => named(
                f,
                region,
                DmaError::NotAllocationStart {
                    region: ALONE,
                    addr,
                },
            ),
            Self::WrongSize {
                region,
                addr,
                size,
                actual,
            } => named(
                f,
                region,
                DmaError::WrongSize {
                    region: ALONE,
                    addr,
                    size,
                    actual,
                },
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
            Self::Dma(e) => Some(e),
            _ => None,
        }
    }
}

/// Which region a [`DmaError`] is about, in 4 bytes: the region's index in its
/// [`AreaSet`](crate::AreaSet), or "alone" for a region not in a set (the caller knows
/// which region it called, and [`Region::explain`](crate::Region::explain) names it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RegionIndex(pub(crate) u32);

impl RegionIndex {
    /// A region used on its own.
    pub const ALONE: Self = Self(u32::MAX);

    /// The index of region `id` (an area set cannot hold 4 Gi regions; a larger index
    /// saturates to [`ALONE`](Self::ALONE)).
    #[must_use]
    pub fn of(id: RegionId) -> Self {
        Self(u32::try_from(id.index()).unwrap_or(u32::MAX))
    }

    /// The region's id in its area set, `None` for a region used alone.
    #[must_use]
    pub const fn id(self) -> Option<RegionId> {
        if self.0 == u32::MAX {
            None
        } else {
            Some(RegionId::new(self.0 as usize))
        }
    }
}

impl fmt::Display for RegionIndex {
    /// `region #N`, or `the region` for one used alone.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.id() {
            Some(id) => write!(f, "region #{}", id.index()),
            None => f.write_str("the region"),
        }
    }
}

/// The backend call that answered outside the backend contract ([`DmaError::BackendFault`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackendOp {
    /// `Backend::allocate`.
    Allocate,
    /// `Backend::claim`.
    Claim,
    /// `Backend::free`.
    Free,
}

/// Why an allocation, claim or free of a region was refused: the error of the DMA path
/// ([`Region::allocate`](crate::Region::allocate), [`Region::claim`](crate::Region::claim),
/// [`Region::free`](crate::Region::free), [`AreaSet::alloc_in`](crate::AreaSet::alloc_in),
/// [`AreaSet::claim`](crate::AreaSet::claim), [`AreaSet::free`](crate::AreaSet::free),
/// [`AreaSet::free_at`](crate::AreaSet::free_at), [`Allocation::free`](crate::Allocation::free)).
/// The region is unchanged (apart from its counters).
///
/// # Small on purpose
///
/// A kernel gets one back from every failed allocation and free, so it is at most 32
/// bytes on 64-bit targets, and so are `Result<(), DmaError>` and `Result<PhysRange,
/// DmaError>` (const asserts check them): the region is named by a 4-byte
/// [`RegionIndex`] instead of its [`Name`], the backend's answer is turned into bytes
/// and addresses of the region ([`NoSpace`](Self::NoSpace),
/// [`TooManyAllocations`](Self::TooManyAllocations), [`RangeBusy`](Self::RangeBusy)),
/// and no variant carries more than three words. `Result<Allocation, DmaError>` is 40
/// bytes: the owning handle is 32 bytes of its own (a reference, a region id, a range),
/// none of them with room to mark an error in. `Display` prints the index and every
/// value; [`AreaSet::explain`](crate::AreaSet::explain) and
/// [`Region::explain`](crate::Region::explain) print the same message with the region's
/// name, and [`AreaSet::to_error`](crate::AreaSet::to_error) turns it into the [`Error`]
/// variant that names the region (what the by-name calls such as
/// [`AreaSet::alloc_from_region`](crate::AreaSet::alloc_from_region) return). `?`
/// turns it into an [`Error`] ([`Error::Dma`]) in setup code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DmaError {
    /// A request, claim or free of zero bytes.
    ZeroRequest,
    /// A request alignment that is not a power of two.
    RequestAlign {
        /// The alignment asked for.
        align: usize,
    },
    /// `addr + size` does not fit in the 64-bit physical space.
    AddressOverflow {
        /// The start address.
        addr: PhysAddr,
        /// The bytes added to it.
        size: usize,
    },
    /// A request window that leaves no whole granule of the region.
    WindowMissesRegion {
        /// The region.
        region: RegionIndex,
        /// The window asked for.
        window: PhysRange,
    },
    /// No free run of the region satisfies the request (its backend's `NoSpace`).
    NoSpace {
        /// The region.
        region: RegionIndex,
        /// Bytes asked for, in whole granules.
        size: usize,
        /// The alignment asked of the backend, in bytes (at least the granule).
        align: usize,
    },
    /// The region's backend holds as many live allocations as it was built for.
    TooManyAllocations {
        /// The region.
        region: RegionIndex,
        /// That maximum.
        limit: usize,
    },
    /// A claim overlaps memory already allocated.
    RangeBusy {
        /// The region.
        region: RegionIndex,
        /// The granules claimed.
        range: PhysRange,
        /// The first byte of them found in use.
        first_busy: PhysAddr,
    },
    /// The region's backend answered with an error its contract does not allow for
    /// that call (a faulty custom backend); its own error is not kept (it does not fit).
    BackendFault {
        /// The region.
        region: RegionIndex,
        /// The call.
        op: BackendOp,
    },
    /// The [`Reclaim`](crate::Reclaim) hook failed to take a range back (not merely busy).
    ReclaimFailed {
        /// The region.
        region: RegionIndex,
        /// The range it could not take back.
        range: PhysRange,
    },
    /// The [`Reclaim`](crate::Reclaim) hook reported a fixed range busy.
    ReclaimBusy {
        /// The region.
        region: RegionIndex,
        /// The busy range.
        range: PhysRange,
    },
    /// Every candidate range was busy, and the retry limit was reached.
    ReclaimRetryLimit {
        /// The region.
        region: RegionIndex,
        /// Bytes asked for.
        size: usize,
        /// Busy candidates tried (the region's retry limit).
        retries: usize,
    },
    /// Busy candidates were skipped until no candidate was left.
    ReclaimAllBusy {
        /// The region.
        region: RegionIndex,
        /// Bytes asked for.
        size: usize,
        /// Busy candidates skipped.
        busy: usize,
    },
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
    /// A range that does not lie inside the region it was freed to or claimed in.
    OutsideRegion {
        /// The region.
        region: RegionIndex,
        /// The range.
        range: PhysRange,
    },
    /// Nothing is allocated at this address: a double free or a wild free.
    NotAllocated {
        /// The region.
        region: RegionIndex,
        /// The address freed.
        addr: PhysAddr,
    },
    /// The address is inside an allocation but does not start it.
    NotAllocationStart {
        /// The region.
        region: RegionIndex,
        /// The address freed.
        addr: PhysAddr,
    },
    /// The allocation at this address has another size.
    WrongSize {
        /// The region.
        region: RegionIndex,
        /// The address freed.
        addr: PhysAddr,
        /// The size passed to the free.
        size: usize,
        /// The size of the allocation there (whole granules).
        actual: usize,
    },
}

// The DMA path's results come back in registers (see "Small on purpose" above).
#[cfg(target_pointer_width = "64")]
const _: () = {
    assert!(core::mem::size_of::<DmaError>() <= 32);
    assert!(core::mem::size_of::<Result<(), DmaError>>() <= 32);
    assert!(core::mem::size_of::<Result<PhysRange, DmaError>>() <= 32);
    // An owning handle is a reference and a region id besides the range: 32 bytes of
    // its own, so the error comes back beside it, not inside it.
    assert!(core::mem::size_of::<Result<crate::Allocation<'static>, DmaError>>() <= 40);
};

impl DmaError {
    /// The region the error is about, if it is about one.
    #[must_use]
    pub const fn region(&self) -> Option<RegionIndex> {
        match *self {
            Self::WindowMissesRegion { region, .. }
            | Self::NoSpace { region, .. }
            | Self::TooManyAllocations { region, .. }
            | Self::RangeBusy { region, .. }
            | Self::BackendFault { region, .. }
            | Self::ReclaimFailed { region, .. }
            | Self::ReclaimBusy { region, .. }
            | Self::ReclaimRetryLimit { region, .. }
            | Self::ReclaimAllBusy { region, .. }
            | Self::OutsideRegion { region, .. }
            | Self::NotAllocated { region, .. }
            | Self::NotAllocationStart { region, .. }
            | Self::WrongSize { region, .. } => Some(region),
            Self::ZeroRequest
            | Self::RequestAlign { .. }
            | Self::AddressOverflow { .. }
            | Self::UnknownAddress { .. }
            | Self::UnknownRegionId { .. } => None,
        }
    }

    /// Writes the message, naming the region through `name` (`None`: by index).
    pub(crate) fn write(
        &self,
        f: &mut fmt::Formatter<'_>,
        name: &dyn Fn(RegionIndex) -> Option<Name>,
    ) -> fmt::Result {
        let region = |f: &mut fmt::Formatter<'_>, index: RegionIndex| match name(index) {
            Some(n) => write!(f, "region {n:?}"),
            None => write!(f, "{index}"),
        };
        match *self {
            Self::ZeroRequest => f.write_str("a request for 0 bytes"),
            Self::RequestAlign { align } => {
                write!(f, "requested alignment {align:#x} is not a power of two")
            }
            Self::AddressOverflow { addr, size } => {
                write!(f, "{addr} + {size:#x} overflows the physical address space")
            }
            Self::WindowMissesRegion { region: r, window } => {
                write!(f, "window {window} holds no whole granule of ")?;
                region(f, r)
            }
            Self::NoSpace {
                region: r,
                size,
                align,
            } => {
                region(f, r)?;
                write!(f, ": no free run of {size:#x} bytes aligned to {align:#x}")
            }
            Self::TooManyAllocations { region: r, limit } => {
                region(f, r)?;
                write!(
                    f,
                    ": its backend already holds its maximum of {limit} live allocations"
                )
            }
            Self::RangeBusy {
                region: r,
                range,
                first_busy,
            } => {
                region(f, r)?;
                write!(f, ": cannot claim {range}: {first_busy} is in use")
            }
            Self::BackendFault { region: r, op } => {
                region(f, r)?;
                write!(
                    f,
                    ": its backend answered {op:?} with an error outside the backend contract"
                )
            }
            Self::ReclaimFailed { region: r, range } => {
                region(f, r)?;
                write!(f, ": could not reclaim {range}")
            }
            Self::ReclaimBusy { region: r, range } => {
                region(f, r)?;
                write!(f, ": {range} is busy and cannot be reclaimed now")
            }
            Self::ReclaimRetryLimit {
                region: r,
                size,
                retries,
            } => {
                region(f, r)?;
                write!(
                    f,
                    ": {size:#x} bytes: gave up after {retries} busy candidates"
                )
            }
            Self::ReclaimAllBusy {
                region: r,
                size,
                busy,
            } => {
                region(f, r)?;
                write!(f, ": {size:#x} bytes: all {busy} candidates were busy")
            }
            Self::UnknownAddress { addr } => write!(f, "{addr} is in no region"),
            Self::UnknownRegionId { id } => write!(f, "no region with index {id}"),
            Self::OutsideRegion { region: r, range } => {
                write!(f, "{range} is not inside ")?;
                region(f, r)
            }
            Self::NotAllocated { region: r, addr } => {
                region(f, r)?;
                write!(
                    f,
                    ": {addr} is not allocated (double free or never allocated)"
                )
            }
            Self::NotAllocationStart { region: r, addr } => {
                region(f, r)?;
                write!(f, ": {addr} is inside an allocation but does not start one")
            }
            Self::WrongSize {
                region: r,
                addr,
                size,
                actual,
            } => {
                region(f, r)?;
                write!(
                    f,
                    ": free of {size:#x} bytes at {addr}, but {actual:#x} bytes are allocated there"
                )
            }
        }
    }
}

impl fmt::Display for DmaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, &|_| None)
    }
}

impl core::error::Error for DmaError {}

impl From<DmaError> for Error {
    /// Without the names (see [`AreaSet::to_error`](crate::AreaSet::to_error) for them):
    /// the errors that name no region map to their [`Error`] twins, the rest is
    /// [`Error::Dma`].
    fn from(e: DmaError) -> Self {
        match e {
            DmaError::ZeroRequest => Self::ZeroRequest,
            DmaError::RequestAlign { align } => Self::RequestAlign { align },
            DmaError::AddressOverflow { addr, size } => Self::AddressOverflow { addr, size },
            DmaError::UnknownAddress { addr } => Self::UnknownAddress { addr },
            DmaError::UnknownRegionId { id } => Self::UnknownRegionId { id },
            e => Self::Dma(e),
        }
    }
}

/// A [`DmaError`] displayed with its region's name (see
/// [`AreaSet::explain`](crate::AreaSet::explain), [`Region::explain`](crate::Region::explain)).
pub(crate) struct Explained<F> {
    pub(crate) error: DmaError,
    pub(crate) name: F,
}

impl<F: Fn(RegionIndex) -> Option<Name>> fmt::Display for Explained<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.write(f, &self.name)
    }
}

impl<F: Fn(RegionIndex) -> Option<Name>> fmt::Debug for Explained<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
