//! Peer allocators as contenders, one adapter per crate. In-band allocators manage a
//! real [`Memory`](crate::memory::Memory) of the same size as everybody else's arena;
//! offset-allocator, out of band like ours, manages a byte range it never touches.
//!
//! The adapters never read or write the arena; only the peer under test does (its own
//! headers and free lists).

pub mod buddy;
pub mod linked_list;
pub mod offset;
pub mod rlsf;
pub mod talc;

use std::alloc::Layout;

/// The layout every in-band peer gets for a request (`size > 0`, `align` a power of two).
fn layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).expect("workload requests are valid layouts")
}

/// `value` rounded up to a multiple of `to` (a power of two).
const fn round_up(value: usize, to: usize) -> usize {
    (value + to - 1) & !(to - 1)
}
