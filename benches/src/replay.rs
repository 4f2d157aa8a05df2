//! Replaying a [`Trace`] on a contender and counting what happened. The same code
//! drives the criterion benches (which time it) and the fragmentation report (which
//! reads the [`Outcome`]).

#![forbid(unsafe_code)]

use crate::arena::{Arena, Block};
use crate::workload::{Op, Trace, crosses_boundary};

/// What one replay observed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Allocations attempted.
    pub allocations: usize,
    /// Allocations that failed.
    pub failures: usize,
    /// Failures while the ideal free space (arena minus live requested bytes) was at
    /// least the request: failures an allocator without waste or fragmentation avoids.
    pub avoidable_failures: usize,
    /// Live requested bytes just before the first failure, if any.
    pub first_failure_live: Option<usize>,
    /// Index of the op that failed first, if any.
    pub first_failure_op: Option<usize>,
    /// Sum of requested bytes over successful allocations.
    pub requested: u128,
    /// Sum of footprints (request + rounding + in-band header) over successful ones.
    pub footprint: u128,
    /// Most requested bytes live at once.
    pub peak_live: usize,
    /// Most live allocations at once.
    pub peak_count: usize,
    /// Requested bytes live when the replay ended.
    pub live_at_end: usize,
    /// Blocks returned misaligned or across their boundary (a contender bug; must be 0).
    pub misplaced: usize,
}

/// Replays traces with a reusable slot table.
#[derive(Debug, Default)]
pub struct Replayer {
    slots: Vec<Option<(Block, usize, usize)>>,
}

impl Replayer {
    /// Runs `trace` on `arena`. With `stop_at_failure` the replay ends at the first
    /// failed allocation (leaving everything live); otherwise a failed allocation's free
    /// is skipped and the replay goes on.
    pub fn run(&mut self, arena: &mut dyn Arena, trace: &Trace, stop_at_failure: bool) -> Outcome {
        self.slots.clear();
        self.slots.resize(trace.ids, None);
        let mut out = Outcome::default();
        let (mut live, mut count) = (0usize, 0usize);
        for (index, op) in trace.ops.iter().enumerate() {
            match *op {
                Op::Alloc(a) => {
                    out.allocations += 1;
                    let align = a.placement_align();
                    let Some(block) = arena.alloc(a.size, align) else {
                        out.failures += 1;
                        if trace.arena_bytes - live >= a.size {
                            out.avoidable_failures += 1;
                        }
                        if out.first_failure_op.is_none() {
                            out.first_failure_op = Some(index);
                            out.first_failure_live = Some(live);
                        }
                        if stop_at_failure {
                            out.live_at_end = live;
                            return out;
                        }
                        continue;
                    };
                    // Alignments are powers of two: a mask, not a division, in the timed loop.
                    let misplaced = block.offset & (a.align - 1) != 0
                        || a.boundary
                            .is_some_and(|b| crosses_boundary(block.offset, a.size, b));
                    out.misplaced += usize::from(misplaced);
                    out.requested += a.size as u128;
                    out.footprint += block.footprint as u128;
                    live += a.size;
                    count += 1;
                    out.peak_live = out.peak_live.max(live);
                    out.peak_count = out.peak_count.max(count);
                    self.slots[a.id] = Some((block, a.size, align));
                }
                Op::Free(id) => {
                    if let Some((block, size, align)) = self.slots[id].take() {
                        arena.free(block, size, align);
                        live -= size;
                        count -= 1;
                    }
                }
            }
        }
        out.live_at_end = live;
        out
    }

    /// Frees everything still live from the last run (after a `stop_at_failure` run).
    pub fn release(&mut self, arena: &mut dyn Arena) {
        for slot in &mut self.slots {
            if let Some((block, size, align)) = slot.take() {
                arena.free(block, size, align);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Replayer;
    use crate::Contender;
    use crate::ours::OurBackend;
    use crate::workload::TraceBuilder;

    /// 16 pages filled, every other one freed, then larger requests.
    fn checkerboard() -> crate::workload::Trace {
        let mut b = TraceBuilder::default();
        let ids: Vec<usize> = (0..16).map(|_| b.alloc(4096, 4096, None)).collect();
        for id in ids.iter().step_by(2) {
            b.free(*id);
        }
        // 8 pages free but no two adjacent: the first 8 KiB request fails although the
        // ideal free space (32 KiB) is enough; then a 40 KiB request fails for real.
        b.alloc(8192, 4096, None);
        b.alloc(40_960, 4096, None);
        b.alloc(4096, 4096, None);
        b.finish("checkerboard".to_owned(), 16 * 4096)
    }

    #[test]
    fn counts_avoidable_failures_and_stops_when_asked() {
        let trace = checkerboard();
        let mut arena = Contender::Ours(OurBackend::Bitmap, 4096)
            .build(trace.arena_bytes)
            .unwrap();
        let mut replayer = Replayer::default();
        let out = replayer.run(arena.as_mut(), &trace, false);
        assert_eq!(
            (out.allocations, out.failures, out.avoidable_failures),
            (19, 2, 1)
        );
        assert_eq!(out.first_failure_live, Some(8 * 4096));
        assert_eq!(out.live_at_end, 9 * 4096);
        assert_eq!((out.peak_count, out.misplaced), (16, 0));
        replayer.release(arena.as_mut());

        let out = replayer.run(arena.as_mut(), &trace, true);
        assert_eq!((out.allocations, out.failures), (17, 1));
        assert_eq!(out.first_failure_op, Some(24));
        replayer.release(arena.as_mut());
        assert!(
            arena.alloc(16 * 4096, 4096).is_some(),
            "release gave everything back"
        );
    }
}

/// Not an allocator: hands every request offset 0, so replaying a trace on it times the
/// harness alone (the `replay-overhead` row of the benches). The field is the arena size
/// it reports.
#[derive(Clone, Copy, Debug)]
pub struct ReplayOverhead(pub usize);

impl Arena for ReplayOverhead {
    fn name(&self) -> String {
        "replay-overhead".to_owned()
    }
    fn arena_bytes(&self) -> usize {
        self.0
    }
    fn alloc(&mut self, size: usize, _align: usize) -> Option<Block> {
        Some(Block {
            offset: 0,
            footprint: size,
            handle: 0,
        })
    }
    fn free(&mut self, block: Block, _size: usize, _align: usize) {
        core::hint::black_box(block);
    }
    fn metadata_bytes(&self) -> usize {
        0
    }
}
