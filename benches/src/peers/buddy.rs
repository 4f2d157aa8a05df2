//! `buddy_system_allocator`: binary buddy with in-band free lists.

use buddy_system_allocator::Heap;

use super::layout;
use crate::arena::{Arena, Block};
use crate::memory::Memory;

/// Orders: blocks up to 2^32 B, so a 4 GiB arena is one block.
const ORDER: usize = 33;

/// A buddy heap over one arena.
pub struct BuddyArena {
    // Declared before `memory` so that it is dropped first.
    heap: Heap<ORDER>,
    memory: Memory,
}

impl BuddyArena {
    /// A buddy heap over all of a fresh `arena_bytes` arena.
    #[must_use]
    pub fn new(arena_bytes: usize) -> Self {
        let memory = Memory::new(arena_bytes);
        let mut heap = Heap::<ORDER>::new();
        let start = memory.base().as_ptr() as usize;
        // SAFETY: the arena is owned by `memory`, outlives `heap` (dropped after it) and
        // is not accessed by anything else.
        unsafe { heap.init(start, arena_bytes) };
        Self { heap, memory }
    }
}

impl Arena for BuddyArena {
    fn name(&self) -> String {
        "buddy_system_allocator".to_owned()
    }

    fn arena_bytes(&self) -> usize {
        self.memory.len()
    }

    fn alloc(&mut self, size: usize, align: usize) -> Option<Block> {
        let ptr = self.heap.alloc(layout(size, align)).ok()?;
        // The crate's documented rounding: the next power of two of the size, at least
        // the alignment and a `usize`.
        let footprint = size.next_power_of_two().max(align).max(size_of::<usize>());
        Some(Block {
            offset: self.memory.offset_of(ptr),
            footprint,
            handle: 0,
        })
    }

    fn free(&mut self, block: Block, size: usize, align: usize) {
        // SAFETY: `block` came from `alloc` with this layout and is freed once.
        unsafe {
            self.heap
                .dealloc(self.memory.at(block.offset), layout(size, align));
        }
    }

    fn metadata_bytes(&self) -> usize {
        size_of::<Heap<ORDER>>()
    }
}
