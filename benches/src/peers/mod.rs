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

#[cfg(test)]
mod tests {
    use crate::Contender;

    /// Small enough for Miri, which checks the adapters' `unsafe` (and the peers' own).
    #[test]
    fn in_band_peers_hand_out_disjoint_aligned_blocks_and_take_them_back() {
        for contender in [
            Contender::Talc,
            Contender::Rlsf,
            Contender::LinkedList,
            Contender::Buddy,
            Contender::Offset,
        ] {
            let mut arena = contender.build(64 << 10).expect("a small arena");
            let requests = [(100, 8), (68, 128), (3000, 64), (16, 16)];
            let blocks: Vec<_> = requests
                .iter()
                .map(|&(size, align)| {
                    let block = arena.alloc(size, align).expect("room for four blocks");
                    assert_eq!(block.offset % align, 0, "{}", arena.name());
                    assert!(block.footprint >= size && block.offset + size <= 64 << 10);
                    (block, size, align)
                })
                .collect();
            for (i, (a, sa, _)) in blocks.iter().enumerate() {
                for (b, sb, _) in &blocks[i + 1..] {
                    let disjoint = a.offset + sa <= b.offset || b.offset + sb <= a.offset;
                    assert!(disjoint, "{}: {a:?} and {b:?} overlap", arena.name());
                }
            }
            for (block, size, align) in blocks {
                arena.free(block, size, align);
            }
            assert!(arena.alloc(32 << 10, 8).is_some(), "{}", arena.name());
        }
    }
}
