//! The heap: a bump allocator for setup only, sealed before the first DMA.
//!
//! Parsing the device tree and building the registry allocate (vectors sized once);
//! nothing is ever freed. [`seal`] ends the setup phase: any allocation after it fails,
//! which panics and fails the run, so the DMA path provably runs without a heap.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Bytes of heap (in `.bss`, part of the kernel image).
const SIZE: usize = 2 << 20;

#[repr(C, align(4096))]
struct Arena(UnsafeCell<[u8; SIZE]>);

// SAFETY: the bump pointer hands every byte of the arena to at most one allocation.
unsafe impl Sync for Arena {}

struct Bump {
    arena: Arena,
    /// Offset of the first free byte.
    next: AtomicUsize,
    sealed: AtomicBool,
}

#[global_allocator]
static HEAP: Bump = Bump {
    arena: Arena(UnsafeCell::new([0; SIZE])),
    next: AtomicUsize::new(0),
    sealed: AtomicBool::new(false),
};

// SAFETY: `alloc` returns either null or a block of `layout.size()` bytes aligned to
// `layout.align()` inside the arena that no other allocation overlaps (the offset only
// grows, by compare-exchange); `dealloc` does nothing, so blocks are never reused.
unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if self.sealed.load(Ordering::Acquire) {
            return core::ptr::null_mut();
        }
        let base = self.arena.0.get().cast::<u8>();
        let mut next = self.next.load(Ordering::Relaxed);
        loop {
            let start = (base as usize + next).next_multiple_of(layout.align()) - base as usize;
            let Some(end) = start.checked_add(layout.size()).filter(|&e| e <= SIZE) else {
                return core::ptr::null_mut();
            };
            match self
                .next
                .compare_exchange_weak(next, end, Ordering::Relaxed, Ordering::Relaxed)
            {
                // SAFETY: `start..end` lies inside the arena (checked above).
                Ok(_) => return unsafe { base.add(start) },
                Err(now) => next = now,
            }
        }
    }

    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}
}

/// Ends setup: every later allocation fails. Returns the bytes setup used.
pub fn seal() -> usize {
    HEAP.sealed.store(true, Ordering::Release);
    HEAP.next.load(Ordering::Relaxed)
}

/// Opens the heap again for the remote processor's setup phase (`remote.rs`): booting,
/// recovering and dumping a processor is setup work in the library (table copies, the
/// undo log, the core file), done after the DMA tests that ran sealed. Returns the
/// bytes used so far.
pub fn reopen() -> usize {
    HEAP.sealed.store(false, Ordering::Release);
    HEAP.next.load(Ordering::Relaxed)
}
