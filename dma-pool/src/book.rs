//! Exact sizes of buffers from sources that only know whole granules.
//!
//! This module owns [`Book`]: a fixed-capacity, address-sorted record of the exact
//! size of each live buffer taken from a CMA area or the system allocator, so a free
//! with a changed size is refused even when it rounds to the same granules. Its storage
//! is reserved once at construction; it must never grow (no heap after setup).
#![forbid(unsafe_code)]

use alloc::vec::Vec;

use lock_api::{Mutex, MutexGuard, RawMutex};

use crate::cma::PhysAddr;

/// Buffers a [`Devices`](crate::Devices) registry tracks unless told otherwise.
pub const DEFAULT_BOOK_CAPACITY: usize = 256;

pub(crate) struct Book<R: RawMutex> {
    entries: Mutex<R, Vec<(PhysAddr, usize)>>,
    capacity: usize,
}

pub(crate) struct Entries<'a, R: RawMutex> {
    guard: MutexGuard<'a, R, Vec<(PhysAddr, usize)>>,
    capacity: usize,
}

impl<R: RawMutex> Book<R> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(Vec::with_capacity(capacity)),
            capacity,
        }
    }

    pub(crate) const fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn lock(&self) -> Entries<'_, R> {
        Entries {
            guard: self.entries.lock(),
            capacity: self.capacity,
        }
    }
}

impl<R: RawMutex> Entries<'_, R> {
    /// Records `size` bytes at `at`; false (nothing recorded) when full or present.
    pub(crate) fn insert(&mut self, at: PhysAddr, size: usize) -> bool {
        if self.guard.len() >= self.capacity {
            return false;
        }
        match self.guard.binary_search_by_key(&at, |e| e.0) {
            Ok(_) => false,
            Err(i) => {
                // Within the reserved capacity: no reallocation.
                self.guard.insert(i, (at, size));
                true
            }
        }
    }

    /// The size recorded at `at`.
    pub(crate) fn size_at(&self, at: PhysAddr) -> Option<usize> {
        let i = self.guard.binary_search_by_key(&at, |e| e.0).ok()?;
        self.guard.get(i).map(|e| e.1)
    }

    /// Forgets the record at `at`.
    pub(crate) fn remove(&mut self, at: PhysAddr) {
        if let Ok(i) = self.guard.binary_search_by_key(&at, |e| e.0) {
            self.guard.remove(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cma::DefaultLock;

    #[test]
    fn bounded_sorted_exact() {
        let book: Book<DefaultLock> = Book::new(2);
        let mut e = book.lock();
        assert!(e.insert(PhysAddr::new(0x2000), 5));
        assert!(!e.insert(PhysAddr::new(0x2000), 6));
        assert!(e.insert(PhysAddr::new(0x1000), 7));
        assert!(!e.insert(PhysAddr::new(0x3000), 1)); // full
        assert_eq!(e.size_at(PhysAddr::new(0x1000)), Some(7));
        assert_eq!(e.size_at(PhysAddr::new(0x2000)), Some(5));
        e.remove(PhysAddr::new(0x1000));
        assert_eq!(e.size_at(PhysAddr::new(0x1000)), None);
        assert!(e.insert(PhysAddr::new(0x3000), 1));
        assert_eq!(book.capacity(), 2);
    }
}
