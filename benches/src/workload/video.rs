//! W1: video frame buffers. Streams open and close; each holds 4–8 frames of one
//! format; lifetimes are exponential; a stream is only admitted while the requested
//! bytes stay at or below the target load, so every failure is the allocator's doing
//! (fragmentation or rounding), not an overcommitted pool.

#![forbid(unsafe_code)]

use super::{Trace, TraceBuilder};
use crate::SplitMix64;

/// 1280×720 NV12.
pub const NV12_720P: usize = 1_382_400;
/// 1920×1080 NV12.
pub const NV12_1080P: usize = 3_110_400;
/// 3840×2160 NV12.
pub const NV12_4K: usize = 12_441_600;
/// 12 MP RAW10.
pub const RAW10_12MP: usize = 15_000_000;
/// The frame formats a stream picks from.
pub const FORMATS: [usize; 4] = [NV12_720P, NV12_1080P, NV12_4K, RAW10_12MP];
/// Frame buffers are page aligned (they are mapped through IOMMUs and CPU page tables).
pub const FRAME_ALIGN: usize = 4096;

/// Mean stream lifetime, in the generator's time unit.
const MEAN_LIFETIME: f64 = 1.0;
/// Mean time between stream open attempts: small against the lifetime, so the pool
/// sits at the target load almost all the time.
const MEAN_GAP: f64 = 0.05;

/// A W1 trace on an arena of `arena_bytes`, holding requested bytes at or below
/// `load_percent` % of it, with `attempts` stream open attempts. The trace is closed:
/// every stream is closed at the end.
#[must_use]
pub fn trace(seed: u64, arena_bytes: usize, load_percent: usize, attempts: usize) -> Trace {
    let mut rng = SplitMix64::new(seed);
    let budget = arena_bytes / 100 * load_percent;
    let mut b = TraceBuilder::default();
    // (expiry time, frame ids), kept sorted by expiry.
    let mut streams: Vec<(f64, Vec<usize>)> = Vec::new();
    let mut now = 0.0;
    for _ in 0..attempts {
        now += rng.exponential(MEAN_GAP);
        while streams.first().is_some_and(|(expiry, _)| *expiry <= now) {
            let (_, frames) = streams.remove(0);
            frames.into_iter().for_each(|id| b.free(id));
        }
        let format = rng.pick(&FORMATS);
        let count = rng.range(4, 8);
        let lifetime = rng.exponential(MEAN_LIFETIME);
        if b.live_bytes() + format * count > budget {
            continue;
        }
        let frames = (0..count)
            .map(|_| b.alloc(format, FRAME_ALIGN, None))
            .collect();
        let expiry = now + lifetime;
        let at = streams.partition_point(|(e, _)| *e <= expiry);
        streams.insert(at, (expiry, frames));
    }
    for (_, frames) in streams {
        frames.into_iter().for_each(|id| b.free(id));
    }
    b.finish(
        format!("W1 video {load_percent}% of {} MiB", arena_bytes >> 20),
        arena_bytes,
    )
}

#[cfg(test)]
mod tests {
    use super::{FORMATS, FRAME_ALIGN, trace};
    use crate::workload::Op;
    use crate::workload::tests::assert_well_formed;

    #[test]
    fn is_deterministic_closed_and_within_the_load() {
        let a = trace(1, 256 << 20, 85, 400);
        assert_eq!(a.ops, trace(1, 256 << 20, 85, 400).ops);
        assert_ne!(a.ops, trace(2, 256 << 20, 85, 400).ops);
        assert_well_formed(&a);
        assert!(a.is_closed());
        let budget = (256 << 20) / 100 * 85;
        let (mut live, mut peak) = (0usize, 0usize);
        let mut sizes = vec![0; a.ids];
        for op in &a.ops {
            match *op {
                Op::Alloc(x) => {
                    assert!(FORMATS.contains(&x.size));
                    assert_eq!((x.align, x.boundary), (FRAME_ALIGN, None));
                    sizes[x.id] = x.size;
                    live += x.size;
                    peak = peak.max(live);
                }
                Op::Free(id) => live -= sizes[id],
            }
            assert!(live <= budget);
        }
        // Admission keeps the pool near the target, not far below it.
        assert!(peak > budget * 8 / 10, "peak {peak} of {budget}");
    }
}
