//! The lock-free, append-only list of a pool's chunks, newest first.
//!
//! This module owns the chunks' memory: each chunk lives in its own heap node from the
//! moment it is published until the list is dropped, so a `&Chunk` handed out from
//! `&self` stays valid for as long as that borrow. It never removes a chunk (Linux's
//! `gen_pool` has no chunk removal either) and knows nothing of bitmaps or addresses
//! beyond the overlap check its caller passes in.
//!
//! A node is fully written before it is published with a release compare-exchange on
//! the head, and readers load the head with acquire, so every reader sees complete
//! nodes; `next` never changes after publication.

use crate::fallible::{OutOfMemory, try_box};
use alloc::boxed::Box;
use core::marker::PhantomData;
use core::ptr;

use super::chunk::Chunk;
use super::sync::{AtomicPtr, Ordering};

struct Node<O> {
    chunk: Chunk<O>,
    next: *mut Node<O>,
}

/// Chunks, newest first.
pub(crate) struct ChunkList<O> {
    head: AtomicPtr<Node<O>>,
    /// The list owns its nodes (and so their owners) like a `Box` would.
    _owns: PhantomData<Box<Node<O>>>,
}

// SAFETY: the list owns its nodes; sending it sends the chunks and their owners, which
// is sound when `O: Send` (the bitmaps are atomics).
unsafe impl<O: Send> Send for ChunkList<O> {}
// SAFETY: through `&ChunkList`, threads get `&Chunk<O>` (so `&O`: needs `O: Sync`) and
// can push chunks whose owners are later dropped by whichever thread drops the list
// (needs `O: Send`). Everything else shared is atomic.
unsafe impl<O: Send + Sync> Sync for ChunkList<O> {}

impl<O> ChunkList<O> {
    /// An empty list.
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        Self {
            head: AtomicPtr::new(ptr::null_mut()),
            _owns: PhantomData,
        }
    }

    /// An empty list (loom's atomics are not `const`).
    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        Self {
            head: AtomicPtr::new(ptr::null_mut()),
            _owns: PhantomData,
        }
    }

    /// The chunks, newest first.
    pub(crate) fn iter(&self) -> Iter<'_, O> {
        Iter {
            next: self.head.load(Ordering::Acquire),
            _list: PhantomData,
        }
    }

    /// Publishes `chunk` at the head unless `conflict` objects to a chunk already in
    /// the list; the check and the publication are one atomic step (a push that lost a
    /// race checks the chunks added meanwhile before trying again).
    pub(crate) fn push<E: From<OutOfMemory>>(
        &self,
        chunk: Chunk<O>,
        conflict: impl Fn(&Chunk<O>) -> Option<E>,
    ) -> Result<(), E> {
        let node = Node {
            chunk,
            next: ptr::null_mut(),
        };
        let node = Box::into_raw(try_box(node, "genalloc chunks")?);
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            let seen = Iter {
                next: head,
                _list: PhantomData,
            };
            if let Some(err) = seen.into_iter().find_map(&conflict) {
                // SAFETY: `node` came from `Box::into_raw` above and was never published,
                // so this is its only owner.
                drop(unsafe { Box::from_raw(node) });
                return Err(err);
            }
            // SAFETY: `node` is unpublished, so nothing else reads or writes it.
            unsafe { (*node).next = head };
            match self
                .head
                .compare_exchange(head, node, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Ok(()),
                Err(now) => head = now,
            }
        }
    }
}

impl<O> Drop for ChunkList<O> {
    fn drop(&mut self) {
        let mut next = self.head.load(Ordering::Acquire);
        while !next.is_null() {
            // SAFETY: `&mut self` means no reader is left; every published node came
            // from `Box::into_raw` and is reachable exactly once from the head.
            let node = unsafe { Box::from_raw(next) };
            next = node.next;
        }
    }
}

/// Iterator over the chunks of a [`ChunkList`], newest first.
pub(crate) struct Iter<'a, O> {
    next: *mut Node<O>,
    _list: PhantomData<&'a ChunkList<O>>,
}

impl<'a, O> Iterator for Iter<'a, O> {
    type Item = &'a Chunk<O>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next.is_null() {
            return None;
        }
        // SAFETY: non-null pointers in the list point to published nodes, which are
        // complete (acquire load of the head that published them, `next` immutable
        // afterwards) and freed only when the list is dropped, which the `'a` borrow
        // of the list rules out.
        let node = unsafe { &*self.next };
        self.next = node.next;
        Some(&node.chunk)
    }
}
