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
                    let misplaced = block.offset % a.align != 0
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
