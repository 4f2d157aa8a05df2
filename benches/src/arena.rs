//! The one interface every contender is driven through: byte-sized, aligned requests
//! against an arena of a fixed size, answered with an offset from the arena base.
//!
//! Our backends (unit allocators, metadata out of band) and out-of-band peers
//! (offset-allocator) see no memory at all; in-band peers (talc, rlsf,
//! linked_list_allocator, buddy_system_allocator) get a real [`Memory`](crate::memory::Memory)
//! of the same size, allocated once when the contender is built.

#![forbid(unsafe_code)]

/// A block handed out by a contender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    /// Offset of the first byte the caller may use, from the arena base.
    pub offset: usize,
    /// Bytes this allocation takes out of the arena: the request plus rounding and any
    /// in-band header. For peers that do not report it, derived from the crate's
    /// documented (or source-level) rounding rule; see each adapter.
    pub footprint: usize,
    /// Adapter-private bookkeeping (a slot index for handle-based peers, else 0).
    pub handle: usize,
}

/// A contender as the benches see it.
pub trait Arena {
    /// The name used in tables, e.g. `"first-fit/4K"` or `"talc"`.
    fn name(&self) -> String;

    /// Bytes in the arena.
    fn arena_bytes(&self) -> usize;

    /// Allocates `size` bytes (> 0) at an offset that is a multiple of `align` (a power
    /// of two), or `None` when the contender cannot.
    fn alloc(&mut self, size: usize, align: usize) -> Option<Block>;

    /// Frees a block this arena returned for the same `size` and `align`.
    fn free(&mut self, block: Block, size: usize, align: usize);

    /// Out-of-band metadata in bytes (the control structure and any side tables),
    /// fixed at construction. In-band headers are in [`Block::footprint`] instead.
    fn metadata_bytes(&self) -> usize;

    /// Bytes of in-band header every live allocation carries inside the arena (part of
    /// [`Block::footprint`]); 0 for allocators whose metadata is out of band.
    fn header_bytes(&self) -> usize {
        0
    }
}

/// The largest size (a multiple of `step`, alignment `step`) that `arena` can allocate
/// right now, found by allocating and immediately freeing, so the same probe works for
/// every contender whether or not it reports its free space.
pub fn largest_allocatable(arena: &mut dyn Arena, step: usize) -> usize {
    let fits = |arena: &mut dyn Arena, steps: usize| match arena.alloc(steps * step, step) {
        Some(block) => {
            arena.free(block, steps * step, step);
            true
        }
        None => false,
    };
    // Invariant: `lo` steps fit (0 trivially), `hi` steps do not.
    let (mut lo, mut hi) = (0, arena.arena_bytes() / step + 1);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if fits(arena, mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo * step
}
