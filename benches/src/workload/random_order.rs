//! Random-order traces with mixed lifetimes: a driver completes requests out of order.
//!
//! W1–W3 free oldest-first or mostly newest-first, which keeps the low addresses of an
//! address-ordered allocator clean. These traces free a *uniformly random* live block
//! instead, so the whole space fragments the way it does under real completion order.
//!
//! Shape (for every size [`Mix`]): [`LIVE`] blocks are allocated up front, one in four
//! of them long-lived (interleaved with the others, so they end up scattered over the
//! space). Then [`CHURN`] steps each free a uniformly random short-lived block and
//! allocate a new short-lived one; one step in 64 instead replaces a random long-lived
//! block, so long lifetimes end too. At the end everything is freed in random order, so
//! the trace is closed and can be replayed back to back.
//!
//! The arenas hold at least 2^20 units of 64 B (the finer granule our backends run
//! at), and no contender has to deal with an overcommitted pool: the live set stays
//! well below the arena.
//!
//! This module only generates traces; it never looks at an allocator.

#![forbid(unsafe_code)]

use super::{Trace, TraceBuilder};
use crate::SplitMix64;

/// Blocks live at all times after the fill.
pub const LIVE: usize = 4096;
/// Free+allocate steps after the fill.
pub const CHURN: usize = 12_288;
/// One block in `LONG_LIVED_ONE_IN` of the fill is long-lived.
const LONG_LIVED_ONE_IN: u64 = 4;
/// One churn step in `REPLACE_LONG_ONE_IN` replaces a long-lived block.
const REPLACE_LONG_ONE_IN: u64 = 64;

/// The size mixes of the random-order traces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mix {
    /// virtio packet buffers of 1,536–2,048 B, cache-line aligned; 64 MiB arena
    /// (2^20 units of 64 B).
    Virtio,
    /// DMA descriptors of 16–256 B (multiples of 16), aligned 16, 32 or 64; 64 MiB.
    Descriptors,
    /// Video frames (QCIF, CIF, VGA and 720p NV12 in the ratio 4:3:2:1), page
    /// aligned; 2 GiB arena (2^25 units of 64 B), about 58 % live.
    Video,
}

impl Mix {
    /// Every mix, in report order.
    pub const ALL: [Self; 3] = [Self::Virtio, Self::Descriptors, Self::Video];

    /// The short name in tables and criterion groups.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Virtio => "R-virtio",
            Self::Descriptors => "R-desc",
            Self::Video => "R-video",
        }
    }

    /// Arena bytes for this mix.
    #[must_use]
    pub const fn arena_bytes(self) -> usize {
        match self {
            Self::Virtio | Self::Descriptors => 64 << 20,
            Self::Video => 2 << 30,
        }
    }

    /// One request: `(bytes, alignment)`.
    fn request(self, rng: &mut SplitMix64) -> (usize, usize) {
        match self {
            Self::Virtio => (rng.range(1_536, 2_048), 64),
            Self::Descriptors => (16 * rng.range(1, 16), rng.pick(&[16, 32, 64])),
            Self::Video => {
                const QCIF: usize = 176 * 144 * 3 / 2;
                const CIF: usize = 352 * 288 * 3 / 2;
                const VGA: usize = 640 * 480 * 3 / 2;
                const HD: usize = 1280 * 720 * 3 / 2;
                let size = match rng.range(0, 9) {
                    0..=3 => QCIF,
                    4..=6 => CIF,
                    7 | 8 => VGA,
                    _ => HD,
                };
                (size, 4096)
            }
        }
    }
}

/// Removes and returns a uniformly random element of a non-empty `set`.
fn take_random(set: &mut Vec<usize>, rng: &mut SplitMix64) -> usize {
    let at = rng.range(0, set.len() - 1);
    set.swap_remove(at)
}

/// A random-order trace of `mix`: a fill of [`LIVE`] blocks, `churn` random
/// free+allocate steps, then everything freed in random order. Closed.
#[must_use]
pub fn trace(seed: u64, mix: Mix, churn: usize) -> Trace {
    let mut rng = SplitMix64::new(seed);
    let mut b = TraceBuilder::default();
    let (mut short, mut long) = (Vec::new(), Vec::new());
    let alloc = |rng: &mut SplitMix64, b: &mut TraceBuilder| {
        let (size, align) = mix.request(rng);
        b.alloc(size, align, None)
    };
    for _ in 0..LIVE {
        let id = alloc(&mut rng, &mut b);
        if rng.one_in(LONG_LIVED_ONE_IN) {
            long.push(id);
        } else {
            short.push(id);
        }
    }
    for _ in 0..churn {
        let set = if rng.one_in(REPLACE_LONG_ONE_IN) && !long.is_empty() {
            &mut long
        } else {
            &mut short
        };
        b.free(take_random(set, &mut rng));
        set.push(alloc(&mut rng, &mut b));
    }
    let mut rest: Vec<usize> = short.into_iter().chain(long).collect();
    while !rest.is_empty() {
        b.free(take_random(&mut rest, &mut rng));
    }
    b.finish(mix.name().to_owned(), mix.arena_bytes())
}

/// The three random-order traces of the criterion bench, at [`CHURN`] steps each.
#[must_use]
pub fn throughput_set(seed: u64) -> [Trace; 3] {
    Mix::ALL.map(|mix| trace(seed, mix, CHURN))
}

#[cfg(test)]
mod tests {
    use super::{LIVE, Mix, trace};
    use crate::workload::Op;
    use crate::workload::tests::assert_well_formed;

    #[test]
    fn is_deterministic_closed_and_keeps_the_live_set() {
        for mix in Mix::ALL {
            let t = trace(5, mix, 1000);
            assert_eq!(t.ops, trace(5, mix, 1000).ops);
            assert_ne!(t.ops, trace(6, mix, 1000).ops);
            assert_well_formed(&t);
            assert!(t.is_closed());
            assert_eq!(t.allocations(), LIVE + 1000);
            // After the fill every free is followed by an allocation until the drain.
            let (mut live, mut peak, mut peak_bytes, mut bytes) = (0usize, 0, 0, 0);
            let mut sizes = vec![0; t.ids];
            for op in &t.ops {
                match *op {
                    Op::Alloc(a) => {
                        live += 1;
                        bytes += a.size;
                        sizes[a.id] = a.size;
                    }
                    Op::Free(id) => {
                        live -= 1;
                        bytes -= sizes[id];
                    }
                }
                peak = peak.max(live);
                peak_bytes = peak_bytes.max(bytes);
            }
            assert_eq!(peak, LIVE);
            assert!(
                peak_bytes < mix.arena_bytes() * 3 / 4,
                "{mix:?} {peak_bytes}"
            );
            assert!(mix.arena_bytes() / 64 >= 1 << 20);
        }
    }

    #[test]
    fn frees_are_not_in_allocation_order() {
        let t = trace(1, Mix::Virtio, 2000);
        let frees: Vec<usize> = t
            .ops
            .iter()
            .filter_map(|op| match *op {
                Op::Free(id) => Some(id),
                Op::Alloc(_) => None,
            })
            .collect();
        let in_order = frees.windows(2).filter(|w| w[0] < w[1]).count();
        // Random order: about half the neighbours ascend; FIFO would be all, LIFO none.
        assert!(
            (frees.len() / 3..frees.len() * 2 / 3).contains(&in_order),
            "{in_order} of {}",
            frees.len()
        );
    }
}
