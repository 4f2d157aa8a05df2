//! The one error type of every backend operation.

use core::fmt;

/// Why a backend refused an operation. The backend's state is unchanged whenever one of
/// these is returned.
///
/// Checks run in a fixed order so that every backend reports the same variant for the
/// same input (the `shadow` reference model relies on it):
///
/// * `allocate`: [`ZeroCount`](Self::ZeroCount), [`AlignNotPowerOfTwo`](Self::AlignNotPowerOfTwo),
///   [`InvalidWindow`](Self::InvalidWindow), [`TooManyAllocations`](Self::TooManyAllocations),
///   [`NoSpace`](Self::NoSpace).
/// * `claim`: [`ZeroCount`](Self::ZeroCount), [`OutOfBounds`](Self::OutOfBounds),
///   [`RangeBusy`](Self::RangeBusy), [`TooManyAllocations`](Self::TooManyAllocations).
/// * `free`: [`ZeroCount`](Self::ZeroCount), [`OutOfBounds`](Self::OutOfBounds),
///   [`NotAllocated`](Self::NotAllocated), [`NotAllocationStart`](Self::NotAllocationStart),
///   [`WrongCount`](Self::WrongCount).
///
/// # Size
///
/// Every backend call returns one of these, so it is kept small enough to come back in
/// registers: at most three words and a tag (32 bytes on 64-bit targets), and the
/// `Result`s of `allocate`, `claim` and `free` fit in the same 32 bytes (the tag has
/// room for the `Ok` case). No variant carries more than three values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// A request, claim or free of zero units.
    ZeroCount,
    /// Setup (e.g. [`GenPool::add_chunk`](crate::genalloc::GenPool::add_chunk)) could not
    /// allocate its metadata: the heap is exhausted.
    OutOfMemory {
        /// What was being allocated.
        what: &'static str,
        /// How many of them.
        count: usize,
    },
    /// The requested alignment (in units) is zero or not a power of two.
    AlignNotPowerOfTwo {
        /// The alignment asked for.
        align: usize,
    },
    /// The window `[lo, hi)` is empty or reaches past the end of the space.
    InvalidWindow {
        /// First unit of the window.
        lo: usize,
        /// One past the last unit of the window.
        hi: usize,
        /// Units in the space.
        capacity: usize,
    },
    /// `[start, start + count)` does not lie inside the space (or overflows).
    OutOfBounds {
        /// First unit of the range.
        start: usize,
        /// Units in the range.
        count: usize,
        /// Units in the space.
        capacity: usize,
    },
    /// No free run satisfies the request.
    ///
    /// It carries no occupancy figures on purpose: a failure costs no more than a
    /// success, and no backend scans its space to build the error. A caller that wants
    /// to tell fragmentation from exhaustion asks [`Backend::stats`](crate::Backend::stats)
    /// (`largest_free`, `free`) when it needs to.
    NoSpace {
        /// Units asked for.
        count: usize,
        /// Alignment asked for.
        align: usize,
    },
    /// The backend's out-of-band metadata, sized at construction, is full.
    TooManyAllocations {
        /// The maximum number of live allocations the backend was built for.
        limit: usize,
    },
    /// A claim overlaps units that are already allocated.
    RangeBusy {
        /// First unit of the claimed range.
        start: usize,
        /// Units in the claimed range.
        count: usize,
        /// The first unit of the range found in use.
        first_busy: usize,
    },
    /// The unit at `start` is free: a double free, or a free of memory never allocated.
    NotAllocated {
        /// The offset passed to `free`.
        start: usize,
    },
    /// The unit at `start` is in use but does not start an allocation (a free in the
    /// middle of a block).
    NotAllocationStart {
        /// The offset passed to `free`.
        start: usize,
    },
    /// `start` starts an allocation of a different size.
    WrongCount {
        /// The offset passed to `free`.
        start: usize,
        /// The count passed to `free`.
        count: usize,
        /// The size of the allocation that starts at `start`.
        actual: usize,
    },
    /// A chunk added to a genalloc pool would share addresses with one already there.
    ///
    /// The chunk already there is named by its CPU address alone (it starts exactly
    /// one chunk; [`GenPool::chunks`](crate::genalloc::GenPool::chunks) gives its
    /// size): a fourth word would make every `Result` of every backend 8 bytes larger.
    ChunkOverlap {
        /// CPU address of the new chunk.
        virt: usize,
        /// Bytes of the new chunk.
        size: usize,
        /// CPU address of the chunk it overlaps.
        existing_virt: usize,
    },
    /// `start + size` does not fit the address type (a chunk that would wrap around).
    AddressOverflow {
        /// First address of the range.
        start: u64,
        /// Bytes in the range.
        size: u64,
    },
    /// A genalloc size, address or offset is not a multiple of the pool's granule
    /// (`1 << min_alloc_order` bytes).
    NotGranular {
        /// The value that is not a multiple.
        value: usize,
        /// The granule in bytes.
        granule: usize,
    },
    /// A genalloc `min_alloc_order` whose granule does not fit in a `usize`.
    OrderTooLarge {
        /// The order the pool was created with.
        order: u32,
    },
    /// No chunk of the genalloc pool holds this address.
    AddressNotInPool {
        /// The address passed in.
        addr: usize,
    },
}

// The allocate/free results stay within 32 bytes (see "Size" above).
#[cfg(target_pointer_width = "64")]
const _: () = {
    assert!(core::mem::size_of::<Error>() <= 32);
    assert!(core::mem::size_of::<Result<usize, Error>>() <= 32);
    assert!(core::mem::size_of::<Result<(), Error>>() <= 32);
};

/// The claim of `[start, start + count)` in a space whose pieces (maximal free
/// extents and allocations) tile it, given the piece holding `start`: refused with
/// [`Error::RangeBusy`] naming the first busy unit if that piece is allocated, or if
/// the range runs past a free piece (the next piece is then allocated, since free
/// extents are maximal). Shared by the backends that keep such pieces.
pub(crate) const fn claim_in_piece(
    start: usize,
    count: usize,
    piece_free: bool,
    piece_end: usize,
) -> Result<(), Error> {
    let first_busy = if !piece_free {
        start
    } else if start + count > piece_end {
        piece_end
    } else {
        return Ok(());
    };
    Err(Error::RangeBusy {
        start,
        count,
        first_busy,
    })
}

impl From<crate::fallible::OutOfMemory> for Error {
    fn from(e: crate::fallible::OutOfMemory) -> Self {
        Self::OutOfMemory {
            what: e.what,
            count: e.count,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::ZeroCount => f.write_str("a request of zero units"),
            Self::OutOfMemory { what, count } => {
                write!(f, "out of memory reserving room for {count} {what}")
            }
            Self::AlignNotPowerOfTwo { align } => {
                write!(f, "alignment {align} is not a power of two")
            }
            Self::InvalidWindow { lo, hi, capacity } => write!(
                f,
                "window [{lo}, {hi}) is empty or ends past the {capacity} units of the space"
            ),
            Self::OutOfBounds {
                start,
                count,
                capacity,
            } => write!(
                f,
                "range of {count} units at offset {start} is outside the {capacity} units of the space"
            ),
            Self::NoSpace { count, align } => {
                write!(f, "no free run of {count} units aligned to {align}")
            }
            Self::TooManyAllocations { limit } => {
                write!(
                    f,
                    "backend already holds its maximum of {limit} live allocations"
                )
            }
            Self::RangeBusy {
                start,
                count,
                first_busy,
            } => write!(
                f,
                "cannot claim {count} units at offset {start}: unit {first_busy} is in use"
            ),
            Self::NotAllocated { start } => {
                write!(
                    f,
                    "offset {start} is not allocated (double free or never allocated)"
                )
            }
            Self::NotAllocationStart { start } => {
                write!(
                    f,
                    "offset {start} is inside an allocation but does not start one"
                )
            }
            Self::WrongCount {
                start,
                count,
                actual,
            } => write!(
                f,
                "free of {count} units at offset {start}, but the allocation there has {actual} units"
            ),
            Self::ChunkOverlap {
                virt,
                size,
                existing_virt,
            } => write!(
                f,
                "chunk of {size} bytes at {virt:#x} overlaps the chunk that starts at {existing_virt:#x}"
            ),
            Self::AddressOverflow { start, size } => write!(
                f,
                "range of {size} bytes at {start:#x} runs past the end of the address space"
            ),
            Self::NotGranular { value, granule } => write!(
                f,
                "{value:#x} is not a multiple of the {granule}-byte allocation granule"
            ),
            Self::OrderTooLarge { order } => write!(
                f,
                "min_alloc_order {order} gives a granule larger than the address space"
            ),
            Self::AddressNotInPool { addr } => {
                write!(f, "address {addr:#x} lies in no chunk of the pool")
            }
        }
    }
}

impl core::error::Error for Error {}
