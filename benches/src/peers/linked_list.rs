//! `linked_list_allocator`: an address-ordered first-fit hole list, in band.

use linked_list_allocator::Heap;

use super::{layout, round_up};
use crate::arena::{Arena, Block};
use crate::memory::Memory;

/// The crate's smallest block and rounding (from its source: a hole is two `usize`s,
/// sizes are rounded up to `usize` alignment).
const MIN: usize = 2 * size_of::<usize>();

/// A hole-list heap over one arena.
pub struct LinkedListArena {
    // Declared before `memory` so that it is dropped first.
    heap: Heap,
    memory: Memory,
}

impl LinkedListArena {
    /// A heap over all of a fresh `arena_bytes` arena.
    #[must_use]
    pub fn new(arena_bytes: usize) -> Self {
        let memory = Memory::new(arena_bytes);
        // SAFETY: the arena is owned by `memory`, outlives `heap` (dropped after it) and
        // is not accessed by anything else.
        let heap = unsafe { Heap::new(memory.base().as_ptr(), arena_bytes) };
        Self { heap, memory }
    }
}

impl Arena for LinkedListArena {
    fn name(&self) -> String {
        "linked_list_allocator".to_owned()
    }

    fn arena_bytes(&self) -> usize {
        self.memory.len()
    }

    fn alloc(&mut self, size: usize, align: usize) -> Option<Block> {
        let ptr = self.heap.allocate_first_fit(layout(size, align)).ok()?;
        Some(Block {
            offset: self.memory.offset_of(ptr),
            footprint: round_up(size.max(MIN), size_of::<usize>()),
            handle: 0,
        })
    }

    fn free(&mut self, block: Block, size: usize, align: usize) {
        // SAFETY: `block` came from `allocate_first_fit` with this layout and is freed once.
        unsafe {
            self.heap
                .deallocate(self.memory.at(block.offset), layout(size, align));
        }
    }

    fn metadata_bytes(&self) -> usize {
        size_of::<Heap>()
    }
}
