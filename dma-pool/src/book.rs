//! Who owns each live buffer, and the exact size of buffers from sources that only
//! know whole granules.
//!
//! This module owns [`Book`]: a bounded, address-sorted record of every live buffer a
//! [`Devices`](crate::Devices) registry handed out (pool, CMA and system buffers
//! alike): the device it was allocated for (or none) and its exact size. Frees are
//! checked against it, so a buffer goes back only through the device it was allocated
//! for, and a free with a changed size is refused even when it rounds to the same
//! granules. CMA and system records are bounded by the capacity given at construction;
//! pool records by the sum of the declared pools' `max_buffers`, reserved when a pool is
//! declared. Its storage is reserved during setup only; it must never grow on an
//! allocation or a free (no heap after setup).
#![forbid(unsafe_code)]

use alloc::vec::Vec;

use lock_api::{Mutex, MutexGuard, RawMutex};

use crate::DeviceId;
use crate::cma::PhysAddr;

/// CMA and system buffers a [`Devices`](crate::Devices) registry tracks unless told
/// otherwise.
pub const DEFAULT_BOOK_CAPACITY: usize = 256;

/// What the registry knows of one live buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    /// Exact size in bytes.
    pub(crate) size: usize,
    /// The device it was allocated for (`None`: no device).
    pub(crate) owner: Option<DeviceId>,
    /// Whether it came from a coherent pool (counted against the pools' bound, not
    /// against the capacity for CMA and system buffers).
    pub(crate) pooled: bool,
}

struct Inner {
    entries: Vec<(PhysAddr, Record)>,
    /// Records that are not `pooled`.
    booked: usize,
    /// Room reserved for pool records: the declared pools' `max_buffers`.
    pool_slots: usize,
}

pub(crate) struct Book<R: RawMutex> {
    inner: Mutex<R, Inner>,
    capacity: usize,
}

pub(crate) struct Entries<'a, R: RawMutex> {
    guard: MutexGuard<'a, R, Inner>,
    capacity: usize,
}

impl<R: RawMutex> Book<R> {
    /// Room for `capacity` CMA and system buffers (pool room comes with the pools).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                entries: Vec::with_capacity(capacity),
                booked: 0,
                pool_slots: 0,
            }),
            capacity,
        }
    }

    pub(crate) const fn capacity(&self) -> usize {
        self.capacity
    }

    /// Setup only: a pool of `added` buffers at most joins, one of `removed` leaves.
    /// Reserves now what the records may need later, so inserting never reallocates.
    pub(crate) fn resize_pools(&mut self, removed: usize, added: usize) {
        let inner = self.inner.get_mut();
        inner.pool_slots = inner
            .pool_slots
            .saturating_sub(removed)
            .saturating_add(added);
        let total = self.capacity.saturating_add(inner.pool_slots);
        let more = total.saturating_sub(inner.entries.len());
        inner.entries.reserve(more);
    }

    pub(crate) fn lock(&self) -> Entries<'_, R> {
        Entries {
            guard: self.inner.lock(),
            capacity: self.capacity,
        }
    }
}

impl<R: RawMutex> Entries<'_, R> {
    /// Records a buffer at `at`; false (nothing recorded) when its share of the book is
    /// full or a record starts there already.
    pub(crate) fn insert(&mut self, at: PhysAddr, record: Record) -> bool {
        let inner = &mut *self.guard;
        let full = if record.pooled {
            // Only reached past the pools' own bound if memory was given back to a
            // pool behind the registry's back; never beyond the reserved storage.
            inner.entries.len().saturating_sub(inner.booked) >= inner.pool_slots
        } else {
            inner.booked >= self.capacity
        };
        if full {
            return false;
        }
        match inner.entries.binary_search_by_key(&at, |e| e.0) {
            Ok(_) => false,
            Err(i) => {
                // Within the reserved capacity: no reallocation.
                inner.entries.insert(i, (at, record));
                if !record.pooled {
                    inner.booked += 1;
                }
                true
            }
        }
    }

    /// The record of the buffer starting at `at`.
    pub(crate) fn get(&self, at: PhysAddr) -> Option<Record> {
        let entries = &self.guard.entries;
        let i = entries.binary_search_by_key(&at, |e| e.0).ok()?;
        entries.get(i).map(|e| e.1)
    }

    /// Whether `at` lies inside a recorded buffer (not necessarily at its start).
    pub(crate) fn covers(&self, at: PhysAddr) -> bool {
        let entries = &self.guard.entries;
        let after = entries.partition_point(|e| e.0 <= at);
        let Some(&(base, record)) = after.checked_sub(1).and_then(|i| entries.get(i)) else {
            return false;
        };
        at.offset_from(base).is_some_and(|off| off < record.size)
    }

    /// Forgets the record at `at`.
    pub(crate) fn remove(&mut self, at: PhysAddr) {
        let inner = &mut *self.guard;
        if let Ok(i) = inner.entries.binary_search_by_key(&at, |e| e.0) {
            let (_, record) = inner.entries.remove(i);
            if !record.pooled {
                inner.booked = inner.booked.saturating_sub(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cma::DefaultLock;

    fn rec(size: usize, pooled: bool) -> Record {
        Record {
            size,
            owner: None,
            pooled,
        }
    }

    #[test]
    fn bounded_sorted_exact() {
        let book: Book<DefaultLock> = Book::new(2);
        let mut e = book.lock();
        assert!(e.insert(PhysAddr::new(0x2000), rec(5, false)));
        assert!(!e.insert(PhysAddr::new(0x2000), rec(6, false)));
        assert!(e.insert(PhysAddr::new(0x1000), rec(7, false)));
        assert!(!e.insert(PhysAddr::new(0x3000), rec(1, false))); // full
        assert_eq!(e.get(PhysAddr::new(0x1000)), Some(rec(7, false)));
        assert_eq!(e.get(PhysAddr::new(0x2000)), Some(rec(5, false)));
        assert!(e.covers(PhysAddr::new(0x1006)));
        assert!(!e.covers(PhysAddr::new(0x1007)));
        assert!(!e.covers(PhysAddr::new(0x0fff)));
        e.remove(PhysAddr::new(0x1000));
        assert_eq!(e.get(PhysAddr::new(0x1000)), None);
        assert!(e.insert(PhysAddr::new(0x3000), rec(1, false)));
        assert_eq!(book.capacity(), 2);
    }

    #[test]
    fn pool_records_have_their_own_room() {
        let mut book: Book<DefaultLock> = Book::new(1);
        // No pool declared: no room for pool records.
        assert!(!book.lock().insert(PhysAddr::new(0x1000), rec(1, true)));
        book.resize_pools(0, 2);
        let mut e = book.lock();
        assert!(e.insert(PhysAddr::new(0x1000), rec(1, true)));
        assert!(e.insert(PhysAddr::new(0x2000), rec(1, true)));
        // The CMA and system share is untouched by pool records.
        assert!(e.insert(PhysAddr::new(0x3000), rec(1, false)));
        assert!(!e.insert(PhysAddr::new(0x4000), rec(1, false)));
        assert!(!e.insert(PhysAddr::new(0x5000), rec(1, true)));
        e.remove(PhysAddr::new(0x3000));
        assert!(e.insert(PhysAddr::new(0x4000), rec(1, false)));
        drop(e);
        book.resize_pools(2, 0);
        assert!(!book.lock().insert(PhysAddr::new(0x6000), rec(1, true)));
    }
}
