//! A real, owned arena for the in-band peers: allocated once per contender, aligned to
//! its own size rounded up to a power of two (so offsets from the base have the same
//! alignment as addresses, and a buddy allocator can use the arena as one block, as our
//! unit allocators do at phase 0), and never touched by the benches themselves: only
//! the peer under test writes its headers.

use std::alloc::{Layout, alloc, dealloc, handle_alloc_error};
use std::ptr::NonNull;

/// Smallest alignment of an arena base: larger than any alignment a workload asks for.
pub const BASE_ALIGN: usize = 2 << 20;

/// An owned block of `len` bytes, aligned to `len.next_power_of_two()` (at least
/// [`BASE_ALIGN`]).
#[derive(Debug)]
pub struct Memory {
    base: NonNull<u8>,
    layout: Layout,
}

impl Memory {
    /// Reserves `len` bytes (untouched pages stay virtual until a peer writes to them).
    ///
    /// # Panics
    ///
    /// If `len` is 0 or too large for a `Layout`; aborts if the system is out of memory.
    #[must_use]
    pub fn new(len: usize) -> Self {
        let align = len.next_power_of_two().max(BASE_ALIGN);
        let layout = Layout::from_size_align(len, align).expect("arena size fits a Layout");
        assert!(len > 0, "an arena holds at least one byte");
        // SAFETY: `layout` has a non-zero size (checked above).
        let raw = unsafe { alloc(layout) };
        let base = NonNull::new(raw).unwrap_or_else(|| handle_alloc_error(layout));
        Self { base, layout }
    }

    /// The first byte.
    #[must_use]
    pub const fn base(&self) -> NonNull<u8> {
        self.base
    }

    /// Bytes in the arena.
    #[must_use]
    pub const fn len(&self) -> usize {
        self.layout.size()
    }

    /// Never true (kept for the `len`/`is_empty` convention).
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.layout.size() == 0
    }

    /// The offset of `ptr` from the base.
    #[must_use]
    pub fn offset_of(&self, ptr: NonNull<u8>) -> usize {
        ptr.as_ptr() as usize - self.base.as_ptr() as usize
    }

    /// The pointer `offset` bytes past the base (no access is made through it here).
    #[must_use]
    pub fn at(&self, offset: usize) -> NonNull<u8> {
        // Offsets come from blocks inside the arena, so the result stays in bounds
        // of the allocation; `wrapping_add` keeps this free of UB either way.
        let ptr = self.base.as_ptr().wrapping_add(offset);
        NonNull::new(ptr).unwrap_or(self.base)
    }
}

impl Drop for Memory {
    fn drop(&mut self) {
        // SAFETY: `base` was returned by `alloc` with exactly this `layout` and is
        // freed only here, once.
        unsafe { dealloc(self.base.as_ptr(), self.layout) };
    }
}
