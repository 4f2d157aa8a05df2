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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// A request, claim or free of zero units.
    ZeroCount,
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
    NoSpace {
        /// Units asked for.
        count: usize,
        /// Alignment asked for.
        align: usize,
        /// The largest free extent at the time of the request (alignment and window
        /// ignored), so the caller can tell fragmentation from exhaustion.
        largest_free: usize,
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
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::ZeroCount => f.write_str("a request of zero units"),
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
            Self::NoSpace {
                count,
                align,
                largest_free,
            } => write!(
                f,
                "no free run of {count} units aligned to {align} (largest free extent: {largest_free} units)"
            ),
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
        }
    }
}

impl core::error::Error for Error {}
