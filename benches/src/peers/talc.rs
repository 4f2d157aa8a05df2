//! `talc` 5: dlmalloc-style boundary tags with binning, in band.

use std::ptr::NonNull;

use talc::DefaultBinning;
use talc::base::Talc;
use talc::source::Manual;

use super::{layout, round_up};
use crate::arena::{Arena, Block};
use crate::memory::Memory;

/// Talc's chunk unit and tail tag (from its source: `CHUNK_UNIT = 4 * usize`, one
/// `usize` tag per allocated chunk).
const CHUNK_UNIT: usize = 4 * size_of::<usize>();
const TAG: usize = size_of::<usize>();

/// `Talc` with manual heap management over one claimed arena.
pub struct TalcArena {
    // Declared before `memory` so that it is dropped first.
    talc: Talc<Manual, DefaultBinning>,
    memory: Memory,
}

impl TalcArena {
    /// A talc heap claiming all of a fresh `arena_bytes` arena.
    ///
    /// # Panics
    ///
    /// If talc refuses the claim (an arena too small for its metadata).
    #[must_use]
    pub fn new(arena_bytes: usize) -> Self {
        let memory = Memory::new(arena_bytes);
        let mut talc = Talc::new(Manual);
        // SAFETY: the arena is owned by `memory`, lives as long as `talc` (dropped after
        // it), and nothing else reads or writes it.
        let claimed = unsafe { talc.claim(memory.base().as_ptr(), arena_bytes) };
        claimed.expect("talc claims the arena");
        Self { talc, memory }
    }
}

impl Arena for TalcArena {
    fn name(&self) -> String {
        "talc".to_owned()
    }

    fn arena_bytes(&self) -> usize {
        self.memory.len()
    }

    fn alloc(&mut self, size: usize, align: usize) -> Option<Block> {
        // SAFETY: `size` is non-zero (workload sizes never are).
        let ptr = unsafe { self.talc.allocate(layout(size, align)) }?;
        Some(Block {
            offset: self.memory.offset_of(ptr),
            footprint: round_up(size + TAG, CHUNK_UNIT),
            handle: 0,
        })
    }

    fn free(&mut self, block: Block, size: usize, align: usize) {
        let ptr: NonNull<u8> = self.memory.at(block.offset);
        // SAFETY: `block` came from `alloc` with this size and alignment and is freed once.
        unsafe { self.talc.deallocate(ptr.as_ptr(), layout(size, align)) };
    }

    fn metadata_bytes(&self) -> usize {
        size_of::<Talc<Manual, DefaultBinning>>()
    }

    fn header_bytes(&self) -> usize {
        TAG
    }
}
