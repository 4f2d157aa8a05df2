//! `offset-allocator`: Sebastian Aaltonen's two-level bin allocator (GPU heaps), out of
//! band like ours, over `u32` byte offsets.
//!
//! It has no alignment parameter, so an aligned request asks for `size + align - 1`
//! bytes and rounds the offset up, as its users do; the padding counts in the footprint.
//! Its handles are opaque, so the adapter keeps them in a slab indexed by
//! [`Block::handle`](crate::arena::Block) — a vector push and pop per pair.

#![forbid(unsafe_code)]

use offset_allocator::{Allocation, Allocator};

use crate::arena::{Arena, Block};

/// Live allocations the allocator is built for (its default).
const MAX_ALLOCS: u32 = 128 * 1024;
/// Bytes per node and per free-list entry (from its source: two `u32`, four optional
/// `u32` indices and a flag; a free list of `u32`).
const NODE_BYTES: usize = 28 + 4;

/// offset-allocator over a byte range of the arena's size.
pub struct OffsetArena {
    allocator: Allocator,
    bytes: usize,
    slots: Vec<Option<Allocation>>,
    vacant: Vec<usize>,
}

impl OffsetArena {
    /// An allocator over `arena_bytes` bytes, or `None` when that does not fit its `u32`
    /// offsets (arenas of 4 GiB and more).
    #[must_use]
    pub fn new(arena_bytes: usize) -> Option<Self> {
        let size = u32::try_from(arena_bytes).ok()?;
        Some(Self {
            allocator: Allocator::with_max_allocs(size, MAX_ALLOCS),
            bytes: arena_bytes,
            slots: Vec::new(),
            vacant: Vec::new(),
        })
    }

    fn stash(&mut self, allocation: Allocation) -> usize {
        match self.vacant.pop() {
            Some(slot) => {
                self.slots[slot] = Some(allocation);
                slot
            }
            None => {
                self.slots.push(Some(allocation));
                self.slots.len() - 1
            }
        }
    }
}

impl Arena for OffsetArena {
    fn name(&self) -> String {
        "offset-allocator".to_owned()
    }

    fn arena_bytes(&self) -> usize {
        self.bytes
    }

    fn alloc(&mut self, size: usize, align: usize) -> Option<Block> {
        let padded = size + align - 1;
        let allocation = self.allocator.allocate(u32::try_from(padded).ok()?)?;
        let start = allocation.offset as usize;
        let offset = (start + align - 1) & !(align - 1);
        let handle = self.stash(allocation);
        Some(Block {
            offset,
            footprint: padded,
            handle,
        })
    }

    fn free(&mut self, block: Block, _size: usize, _align: usize) {
        let allocation = self.slots[block.handle]
            .take()
            .expect("a block this adapter handed out");
        self.vacant.push(block.handle);
        self.allocator.free(allocation);
    }

    fn metadata_bytes(&self) -> usize {
        size_of::<Allocator>() + MAX_ALLOCS as usize * NODE_BYTES
    }
}
