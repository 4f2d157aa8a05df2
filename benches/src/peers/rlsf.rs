//! `rlsf`: TLSF (two-level segregated fit), constant time, in band.

use rlsf::Tlsf;

use super::{layout, round_up};
use crate::arena::{Arena, Block};
use crate::memory::Memory;

/// First-level classes: with rlsf's 32 B granularity on 64-bit targets, blocks up to
/// 2^(28 + 5) B = 8 GiB, so a 4 GiB arena is one free block.
const FLLEN: usize = 28;
/// Second-level classes per first-level class.
const SLLEN: usize = 16;
type Pool = Tlsf<'static, u32, u16, FLLEN, SLLEN>;

/// rlsf's used-block header (from its source: two `usize`) and block granularity.
const HEADER: usize = 2 * size_of::<usize>();

/// A TLSF pool over one arena.
pub struct RlsfArena {
    // Declared before `memory` so that it is dropped first.
    tlsf: Pool,
    memory: Memory,
}

impl RlsfArena {
    /// A TLSF pool holding all of a fresh `arena_bytes` arena.
    ///
    /// # Panics
    ///
    /// If rlsf refuses the block (an arena too small).
    #[must_use]
    pub fn new(arena_bytes: usize) -> Self {
        let memory = Memory::new(arena_bytes);
        let mut tlsf = Pool::new();
        let block = std::ptr::NonNull::slice_from_raw_parts(memory.base(), arena_bytes);
        // SAFETY: the arena is owned by `memory`, outlives `tlsf` (dropped after it) and
        // is not accessed by anything else.
        let inserted = unsafe { tlsf.insert_free_block_ptr(block) };
        inserted.expect("rlsf takes the arena");
        Self { tlsf, memory }
    }
}

impl Arena for RlsfArena {
    fn name(&self) -> String {
        "rlsf".to_owned()
    }

    fn arena_bytes(&self) -> usize {
        self.memory.len()
    }

    fn alloc(&mut self, size: usize, align: usize) -> Option<Block> {
        let ptr = self.tlsf.allocate(layout(size, align))?;
        Some(Block {
            offset: self.memory.offset_of(ptr),
            footprint: round_up(size + HEADER, rlsf::GRANULARITY),
            handle: 0,
        })
    }

    fn free(&mut self, block: Block, _size: usize, align: usize) {
        // SAFETY: `block` came from `allocate` on this pool with alignment `align` and is
        // freed once.
        unsafe { self.tlsf.deallocate(self.memory.at(block.offset), align) };
    }

    fn metadata_bytes(&self) -> usize {
        size_of::<Pool>()
    }

    fn header_bytes(&self) -> usize {
        HEADER
    }
}
