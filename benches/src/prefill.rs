//! Building a half-full region with random holes, the starting state of the
//! throughput and scaling benchmarks.

#![forbid(unsafe_code)]

use contig_allocators::{Backend, Request};

use crate::SplitMix64;
use crate::arena::Arena;

/// Fills `backend` completely with blocks of `min..=max` units, then frees each block
/// with probability 1/2: about half the space stays used, with random holes of the same
/// size distribution. Returns the number of units left allocated (as the backend
/// counts them: the power-of-two baseline rounds blocks up).
pub fn prefill_half(
    backend: &mut dyn Backend,
    rng: &mut SplitMix64,
    min: usize,
    max: usize,
) -> usize {
    let mut blocks = Vec::new();
    loop {
        let count = rng.range(min, max);
        match backend.allocate(Request::new(count)) {
            Ok(start) => blocks.push((start, count)),
            Err(_) if count > min => {
                // The tail is smaller than this block: finish it with minimum blocks.
                while let Ok(start) = backend.allocate(Request::new(min)) {
                    blocks.push((start, min));
                }
                break;
            }
            Err(_) => break,
        }
    }
    for (start, count) in blocks {
        if rng.one_in(2) {
            backend
                .free(start, count)
                .expect("freeing a block the prefill allocated");
        }
    }
    backend.stats().used()
}

/// [`prefill_half`] for any [`Arena`], in bytes: blocks of `min..=max` steps of `step`
/// bytes (alignment `align`) until the arena is full, then each freed with probability
/// 1/2. Returns the requested bytes left allocated.
pub fn prefill_half_arena(
    arena: &mut dyn Arena,
    rng: &mut SplitMix64,
    (min, max, step): (usize, usize, usize),
    align: usize,
) -> usize {
    let mut blocks = Vec::new();
    loop {
        let size = rng.range(min, max) * step;
        match arena.alloc(size, align) {
            Some(block) => blocks.push((block, size)),
            None if size > min * step => {
                while let Some(block) = arena.alloc(min * step, align) {
                    blocks.push((block, min * step));
                }
                break;
            }
            None => break,
        }
    }
    let mut used = 0;
    for (block, size) in blocks {
        if rng.one_in(2) {
            arena.free(block, size, align);
        } else {
            used += size;
        }
    }
    used
}

#[cfg(test)]
mod tests {
    use super::{prefill_half, prefill_half_arena};
    use crate::Contender;
    use crate::SplitMix64;
    use crate::ours::OurBackend;

    #[test]
    fn prefill_leaves_about_half_used_with_holes() {
        for contender in OurBackend::ALL {
            let mut backend = contender.build(16_384, 16_384);
            let used = prefill_half(backend.as_mut(), &mut SplitMix64::new(1), 1, 16);
            let stats = backend.stats();
            assert!(
                (6_000..10_000).contains(&used),
                "{}: {used} units used",
                contender.name()
            );
            assert!(
                stats.free_extents > 300,
                "{}: only {} holes",
                contender.name(),
                stats.free_extents
            );
        }
    }

    #[test]
    fn arena_prefill_leaves_about_half_of_a_peer_used() {
        let arena_bytes = 8 << 20;
        let mut arena = Contender::Talc.build(arena_bytes).unwrap();
        let used = prefill_half_arena(arena.as_mut(), &mut SplitMix64::new(1), (1, 16, 4096), 8);
        assert!(
            (arena_bytes * 4 / 10..arena_bytes * 6 / 10).contains(&used),
            "{used}"
        );
        assert!(crate::largest_allocatable(arena.as_mut(), 4096) < arena_bytes / 8);
    }
}
