//! The contract between a region and the allocator that manages its units.

use crate::{Error, Request, Stats};

/// A run of units: `count` units starting at offset `start`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Extent {
    /// First unit.
    pub start: usize,
    /// Number of units (never 0 for an extent a backend reports).
    pub count: usize,
}

impl Extent {
    /// `count` units from `start`.
    #[must_use]
    pub const fn new(start: usize, count: usize) -> Self {
        Self { start, count }
    }

    /// One past the last unit, `None` on overflow.
    #[must_use]
    pub const fn end(&self) -> Option<usize> {
        self.start.checked_add(self.count)
    }
}

/// A range allocator over a fixed space of [`capacity`](Backend::capacity) units.
///
/// The trait is object safe so that a region can hold `Box<dyn Backend + Send>` chosen
/// by name at run time. Implementations must keep the crate-level rules: no heap use in
/// `allocate`/`claim`/`free`, no access to managed memory, typed errors in the order
/// documented on [`Error`], and no state change when an error is returned.
///
/// Authors of custom backends can check theirs against the reference model in
/// `shadow` module (feature `shadow`).
pub trait Backend {
    /// A short name for dumps and error messages (`"first-fit"`, `"bitmap"`, ...).
    fn name(&self) -> &'static str;

    /// Units in the space, fixed at construction.
    fn capacity(&self) -> usize;

    /// Allocates `request.count()` contiguous free units whose absolute index
    /// (`phase + offset`) is a multiple of `request.align()`, inside the request's window,
    /// and returns the offset of the first one.
    ///
    /// # Errors
    ///
    /// In order: [`Error::ZeroCount`], [`Error::AlignNotPowerOfTwo`],
    /// [`Error::InvalidWindow`] (see [`Request::validate`]), [`Error::TooManyAllocations`]
    /// when the metadata is full, [`Error::NoSpace`] when no run fits.
    fn allocate(&mut self, request: Request) -> Result<usize, Error>;

    /// Marks exactly `[start, start + count)` allocated (a fixed allocation, or memory
    /// that is occupied from the start). It is freed like any other allocation.
    ///
    /// # Errors
    ///
    /// In order: [`Error::ZeroCount`], [`Error::OutOfBounds`], [`Error::RangeBusy`] when
    /// any unit of the range is in use, [`Error::TooManyAllocations`].
    fn claim(&mut self, start: usize, count: usize) -> Result<(), Error>;

    /// Frees the allocation of `count` units that starts at `start`.
    ///
    /// # Errors
    ///
    /// In order: [`Error::ZeroCount`], [`Error::OutOfBounds`], [`Error::NotAllocated`]
    /// when unit `start` is free, [`Error::NotAllocationStart`] when it is inside an
    /// allocation, [`Error::WrongCount`] when the allocation at `start` has another size.
    fn free(&mut self, start: usize, count: usize) -> Result<(), Error>;

    /// A snapshot of the occupancy; exact, not an estimate.
    fn stats(&self) -> Stats;

    /// Calls `f` once per live allocation, in ascending offset order.
    fn for_each_allocation(&self, f: &mut dyn FnMut(Extent));
}

/// Forwards every method to the backend behind a pointer, so `&mut B` and `Box<B>`
/// (including `Box<dyn Backend + Send>`) are backends too.
macro_rules! forward_backend {
    ($($ptr:ty),*) => {$(
        impl<B: Backend + ?Sized> Backend for $ptr {
            fn name(&self) -> &'static str {
                (**self).name()
            }
            fn capacity(&self) -> usize {
                (**self).capacity()
            }
            fn allocate(&mut self, request: Request) -> Result<usize, Error> {
                (**self).allocate(request)
            }
            fn claim(&mut self, start: usize, count: usize) -> Result<(), Error> {
                (**self).claim(start, count)
            }
            fn free(&mut self, start: usize, count: usize) -> Result<(), Error> {
                (**self).free(start, count)
            }
            fn stats(&self) -> Stats {
                (**self).stats()
            }
            fn for_each_allocation(&self, f: &mut dyn FnMut(Extent)) {
                (**self).for_each_allocation(f);
            }
        }
    )*};
}

forward_backend!(&mut B, alloc::boxed::Box<B>);
