//! Notify ids for vrings.
//!
//! This module owns [`NotifyIds`], a bounded allocator that always hands out the lowest
//! free id (as Linux's `idr_alloc(…, 0, 0)` does), so ids are dense and predictable. It
//! is the project's own bitmap backend over ids instead of memory units (one unit per
//! id; the bitmap returns the lowest fitting offset). It must never grow past the
//! capacity fixed at construction.
#![forbid(unsafe_code)]

use crate::dma_pool::cma::fallible::OutOfMemory;
use core::fmt;

use contig_dma_pool::cma::allocators::bitmap::Bitmap;
use contig_dma_pool::cma::allocators::{Backend, Request};

/// A refused notify-id operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotifyIdError {
    /// All `capacity` ids are in use.
    Exhausted {
        /// The allocator's capacity.
        capacity: u32,
    },
    /// The id is not allocated (double free or never handed out).
    NotAllocated {
        /// The id given.
        id: u32,
    },
}

/// Lowest-free allocator of ids `0..capacity`. `alloc` and `free` cost what the
/// [`Bitmap`] backend's do (at most `O(capacity / 64)`) and never use the heap; the
/// bitmap is sized once at construction.
///
/// ```
/// use contig_rproc_glue::notify::NotifyIds;
/// let mut ids = NotifyIds::new(4).unwrap();
/// assert_eq!(ids.alloc(), Ok(0));
/// assert_eq!(ids.alloc(), Ok(1));
/// ids.free(0).unwrap();
/// assert_eq!(ids.alloc(), Ok(0));
/// ```
#[derive(Clone, Debug)]
pub struct NotifyIds {
    ids: Bitmap,
    capacity: u32,
}

impl NotifyIds {
    /// An allocator of ids `0..capacity`.
    ///
    /// # Errors
    ///
    /// [`OutOfMemory`] when its map (a few bits per id) cannot be allocated.
    pub fn new(capacity: u32) -> Result<Self, OutOfMemory> {
        Ok(Self {
            ids: Bitmap::new(capacity as usize, 0)?,
            capacity,
        })
    }

    /// The number of ids it can hand out.
    #[must_use]
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Ids in use.
    #[must_use]
    pub fn in_use(&self) -> u32 {
        // At most `capacity`, a u32.
        u32::try_from(self.ids.stats().live_allocations).unwrap_or(self.capacity)
    }

    /// The lowest free id.
    ///
    /// # Errors
    /// [`NotifyIdError::Exhausted`] when all are in use.
    pub fn alloc(&mut self) -> Result<u32, NotifyIdError> {
        let exhausted = NotifyIdError::Exhausted {
            capacity: self.capacity,
        };
        // The only refusal of a one-unit request is that no unit is free.
        let id = self.ids.allocate(Request::new(1)).map_err(|_| exhausted)?;
        u32::try_from(id).map_err(|_| exhausted)
    }

    /// Returns `id`.
    ///
    /// # Errors
    /// [`NotifyIdError::NotAllocated`] if `id` is not in use; nothing changes.
    pub fn free(&mut self, id: u32) -> Result<(), NotifyIdError> {
        // Out of range or free: the backend refuses and changes nothing.
        self.ids
            .free(id as usize, 1)
            .map_err(|_| NotifyIdError::NotAllocated { id })
    }
}

impl fmt::Display for NotifyIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exhausted { capacity } => write!(f, "all {capacity} notify ids are in use"),
            Self::NotAllocated { id } => write!(f, "notify id {id} is not allocated"),
        }
    }
}

impl core::error::Error for NotifyIdError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_free_and_bounded() {
        let mut ids = NotifyIds::new(70).unwrap();
        for want in 0..70 {
            assert_eq!(ids.alloc(), Ok(want));
        }
        assert_eq!(ids.alloc(), Err(NotifyIdError::Exhausted { capacity: 70 }));
        ids.free(65).unwrap();
        ids.free(3).unwrap();
        assert_eq!(ids.in_use(), 68);
        assert_eq!(ids.alloc(), Ok(3));
        assert_eq!(ids.alloc(), Ok(65));
        assert_eq!(ids.alloc(), Err(NotifyIdError::Exhausted { capacity: 70 }));
    }

    #[test]
    fn bad_frees_change_nothing() {
        let mut ids = NotifyIds::new(2).unwrap();
        assert_eq!(ids.free(0), Err(NotifyIdError::NotAllocated { id: 0 }));
        assert_eq!(
            ids.free(u32::MAX),
            Err(NotifyIdError::NotAllocated { id: u32::MAX })
        );
        assert_eq!(ids.alloc(), Ok(0));
        ids.free(0).unwrap();
        assert_eq!(ids.free(0), Err(NotifyIdError::NotAllocated { id: 0 }));
        assert_eq!(
            NotifyIds::new(0).unwrap().alloc(),
            Err(NotifyIdError::Exhausted { capacity: 0 })
        );
    }
}
