//! W4: adversarial traces, run until the first failure.
//!
//! * [`random`]: log-uniform sizes from 4 KiB to 4 MiB, two allocations for every random
//!   free, generated until the requested bytes exceed 1.5× the arena, so every
//!   contender fails somewhere; the report reads the occupancy at that point.
//! * [`checkerboard`]: small blocks (4–64 KiB) up to half the arena, every other one
//!   freed, then large blocks (1–4 MiB) until the arena is overcommitted: how much of the
//!   free half is still usable for large requests.
//! * [`churn`]: the `random` distribution held at a given occupancy for a while, used to
//!   sample the largest free block at 50/75/90 %.

#![forbid(unsafe_code)]

use super::{Trace, TraceBuilder};
use crate::SplitMix64;

/// Smallest request of the random trace.
pub const MIN: usize = 4 << 10;
/// Largest request of the random trace.
pub const MAX: usize = 4 << 20;
/// Alignment of every W4 request: none beyond the byte (granule contenders round up).
pub const ALIGN: usize = 1;

/// Log-uniform 4 KiB–4 MiB with random frees until 1.5× `arena_bytes` is requested.
#[must_use]
pub fn random(seed: u64, arena_bytes: usize) -> Trace {
    let mut rng = SplitMix64::new(seed);
    let mut b = TraceBuilder::default();
    let mut live = Vec::new();
    while b.live_bytes() <= arena_bytes + arena_bytes / 2 {
        if !live.is_empty() && rng.one_in(3) {
            let at = rng.range(0, live.len() - 1);
            b.free(live.swap_remove(at));
        } else {
            live.push(b.alloc(rng.log_uniform(MIN, MAX), ALIGN, None));
        }
    }
    b.finish(format!("W4 random {} MiB", arena_bytes >> 20), arena_bytes)
}

/// Small blocks to half the arena, every other one freed, then large blocks until
/// 1.5× the arena is requested.
#[must_use]
pub fn checkerboard(seed: u64, arena_bytes: usize) -> Trace {
    let mut rng = SplitMix64::new(seed);
    let mut b = TraceBuilder::default();
    let mut small = Vec::new();
    while b.live_bytes() < arena_bytes / 2 {
        small.push(b.alloc(rng.log_uniform(4 << 10, 64 << 10), ALIGN, None));
    }
    small.into_iter().step_by(2).for_each(|id| b.free(id));
    while b.live_bytes() <= arena_bytes + arena_bytes / 2 {
        b.alloc(rng.log_uniform(1 << 20, 4 << 20), ALIGN, None);
    }
    b.finish(
        format!("W4 checkerboard {} MiB", arena_bytes >> 20),
        arena_bytes,
    )
}

/// The random distribution filled to `percent` % of the arena, then `rounds` rounds of
/// one random free followed by allocations back up to the target. Ends at the target
/// occupancy (not closed).
#[must_use]
pub fn churn(seed: u64, arena_bytes: usize, percent: usize, rounds: usize) -> Trace {
    let mut rng = SplitMix64::new(seed);
    let mut b = TraceBuilder::default();
    let target = arena_bytes / 100 * percent;
    let mut live = Vec::new();
    for round in 0..=rounds {
        if round > 0 {
            let at = rng.range(0, live.len() - 1);
            b.free(live.swap_remove(at));
        }
        loop {
            let size = rng.log_uniform(MIN, MAX);
            if b.live_bytes() + size > target {
                break;
            }
            live.push(b.alloc(size, ALIGN, None));
        }
    }
    b.finish(
        format!("W4 churn {percent}% of {} MiB", arena_bytes >> 20),
        arena_bytes,
    )
}

#[cfg(test)]
mod tests {
    use super::{MAX, MIN, checkerboard, churn, random};
    use crate::workload::tests::assert_well_formed;
    use crate::workload::{Op, Trace};

    fn live_bytes(t: &Trace) -> Vec<usize> {
        let mut sizes = vec![0; t.ids];
        let mut live = 0;
        t.ops
            .iter()
            .map(|op| {
                match *op {
                    Op::Alloc(a) => {
                        sizes[a.id] = a.size;
                        live += a.size;
                    }
                    Op::Free(id) => live -= sizes[id],
                }
                live
            })
            .collect()
    }

    #[test]
    fn random_overcommits_with_log_uniform_sizes() {
        let arena = 64 << 20;
        let t = random(1, arena);
        assert_eq!(t.ops, random(1, arena).ops);
        assert_ne!(t.ops, random(2, arena).ops);
        assert_well_formed(&t);
        assert!(*live_bytes(&t).last().unwrap() > arena * 3 / 2);
        for op in &t.ops {
            if let Op::Alloc(a) = op {
                assert!((MIN..=MAX).contains(&a.size));
            }
        }
    }

    #[test]
    fn checkerboard_frees_every_other_small_block() {
        let arena = 64 << 20;
        let t = checkerboard(3, arena);
        assert_well_formed(&t);
        let frees: Vec<usize> = t
            .ops
            .iter()
            .filter_map(|op| match op {
                Op::Free(id) => Some(*id),
                Op::Alloc(_) => None,
            })
            .collect();
        assert!(frees.iter().enumerate().all(|(i, &id)| id == 2 * i));
        assert!(*live_bytes(&t).last().unwrap() > arena * 3 / 2);
    }

    #[test]
    fn churn_stays_at_the_target() {
        let arena = 256 << 20;
        let t = churn(4, arena, 75, 100);
        assert_well_formed(&t);
        let live = live_bytes(&t);
        assert!(live.iter().all(|&l| l <= arena / 100 * 75));
        assert!(*live.last().unwrap() > arena / 100 * 75 - MAX);
    }
}
