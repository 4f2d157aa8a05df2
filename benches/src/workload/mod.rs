//! The DMA workloads as seeded, deterministic traces of allocations and
//! frees, shared by the criterion benches, the fragmentation report, the unit tests and
//! fuzz seeds.
//!
//! A [`Trace`] is generated once from a seed and does not depend on any allocator: every
//! contender replays exactly the same requests in the same order on an arena of the same
//! size. When an allocation fails the replay skips the matching free (see
//! [`crate::replay`]); the trace itself never looks at results.
//!
//! * W1 [`video`]: streams of 4–8 video frames, exponential lifetimes, admission control
//!   at a target load.
//! * W2 [`virtio`]: virtqueue rings plus 1,518 B RX buffers refilled in bursts of 64.
//! * W3 [`descriptors`]: 16–256 B descriptors, LIFO-heavy, including 68 B / align 32
//!   blocks that must not cross a 4 KiB boundary.
//! * W4 [`adversarial`]: log-uniform 4 KiB–4 MiB with random frees until the arena is
//!   overcommitted, and a checkerboard of small blocks followed by large ones.
//! * [`random_order`]: virtio, descriptor and video size mixes with frees in uniformly
//!   random order and mixed lifetimes (a long-lived population plus short-lived churn).

#![forbid(unsafe_code)]

pub mod adversarial;
pub mod descriptors;
pub mod random_order;
pub mod video;
pub mod virtio;

/// The seed every published number uses.
pub const SEED: u64 = 0x00C0_FFEE_D15C_0DE5;

/// The environment variable that overrides [`SEED`] in the benches (decimal, or hex
/// with a `0x` prefix); `benches/report.sh --seed N` sets it.
pub const SEED_VAR: &str = "CONTIG_BENCH_SEED";

/// The seed the benches use: `$CONTIG_BENCH_SEED` when set, else [`SEED`].
///
/// # Panics
///
/// When the variable is set but is not a number (a typo must not silently measure the
/// default seed).
#[must_use]
pub fn seed_from_env() -> u64 {
    let Ok(text) = std::env::var(SEED_VAR) else {
        return SEED;
    };
    let text = text.trim();
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16),
        None => text.replace('_', "").parse(),
    };
    parsed.unwrap_or_else(|_| panic!("{SEED_VAR}={text:?} is not a u64"))
}

/// The three throughput workloads of the criterion bench, at the sizes it uses: W1 at
/// 85 % of 256 MiB, W2 and W3 on 64 MiB. Every trace is closed, so it can be replayed
/// back to back on one contender. They are kept to about 10k pairs so that a sample
/// of the slowest contender stays well under a second.
#[must_use]
pub fn throughput_set(seed: u64) -> [Trace; 3] {
    [
        video::trace(seed, 256 << 20, 85, 600),
        virtio::trace(seed, 2, 40),
        descriptors::trace(seed, 3),
    ]
}

/// The six traces the per-pair benches time, with their short names: W1, W2, W3
/// ([`throughput_set`]) then the random-order mixes
/// ([`random_order::throughput_set`]).
pub fn named_throughput_traces(seed: u64) -> impl Iterator<Item = (&'static str, Trace)> {
    ["W1", "W2", "W3"]
        .into_iter()
        .zip(throughput_set(seed))
        .chain(
            random_order::Mix::ALL
                .map(random_order::Mix::name)
                .into_iter()
                .zip(random_order::throughput_set(seed)),
        )
}

/// One allocation request of a trace, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Alloc {
    /// The trace-wide name of this allocation; the matching [`Op::Free`] carries it.
    pub id: usize,
    /// Bytes asked for (never 0).
    pub size: usize,
    /// Alignment of the block's offset from the arena base, in bytes (a power of two).
    pub align: usize,
    /// When set, the block must not cross a multiple of this many bytes (a power of two
    /// at least `size`), like Linux `dma_pool_create(..., boundary)`.
    pub boundary: Option<usize>,
}

impl Alloc {
    /// The alignment every contender is asked for. None of them has a boundary
    /// parameter, so a boundary is honoured the way a pool allocator would: by aligning
    /// to the size rounded up to a power of two, which never straddles a multiple of the
    /// (larger, power-of-two) boundary. Everybody gets the same request.
    #[must_use]
    pub fn placement_align(&self) -> usize {
        match self.boundary {
            Some(_) => self.align.max(self.size.next_power_of_two()),
            None => self.align,
        }
    }
}

/// True when `[offset, offset + size)` straddles a multiple of `boundary` (a power of
/// two).
#[must_use]
pub fn crosses_boundary(offset: usize, size: usize, boundary: usize) -> bool {
    size > 0 && (offset ^ (offset + size - 1)) & !(boundary - 1) != 0
}

/// One step of a trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Allocate a block.
    Alloc(Alloc),
    /// Free the block allocated under this id (skipped if that allocation failed).
    Free(usize),
}

/// A generated workload: the arena it is meant for and its operations.
#[derive(Clone, Debug)]
pub struct Trace {
    /// Short name for tables (`"W1 85%"`, ...).
    pub name: String,
    /// Arena size in bytes; every contender gets exactly this much.
    pub arena_bytes: usize,
    /// The operations, in order.
    pub ops: Vec<Op>,
    /// Number of ids used (ids are `0..ids`).
    pub ids: usize,
}

impl Trace {
    /// Number of allocations in the trace.
    #[must_use]
    pub fn allocations(&self) -> usize {
        self.ops
            .iter()
            .filter(|op| matches!(op, Op::Alloc(_)))
            .count()
    }

    /// Whether every allocation is freed again by the end (then the trace can be
    /// replayed back to back on the same allocator).
    #[must_use]
    pub fn is_closed(&self) -> bool {
        2 * self.allocations() == self.ops.len()
    }
}

/// Records operations and the requested bytes still live while a generator runs.
#[derive(Debug, Default)]
pub(crate) struct TraceBuilder {
    ops: Vec<Op>,
    sizes: Vec<usize>,
    live_bytes: usize,
}

impl TraceBuilder {
    /// Appends an allocation and returns its id.
    pub(crate) fn alloc(&mut self, size: usize, align: usize, boundary: Option<usize>) -> usize {
        let id = self.sizes.len();
        self.sizes.push(size);
        self.live_bytes += size;
        self.ops.push(Op::Alloc(Alloc {
            id,
            size,
            align,
            boundary,
        }));
        id
    }

    /// Appends the free of `id` (which must be live).
    pub(crate) fn free(&mut self, id: usize) {
        self.live_bytes -= self.sizes[id];
        self.ops.push(Op::Free(id));
    }

    /// Requested bytes allocated and not yet freed.
    pub(crate) const fn live_bytes(&self) -> usize {
        self.live_bytes
    }

    /// The finished trace.
    pub(crate) fn finish(self, name: String, arena_bytes: usize) -> Trace {
        Trace {
            name,
            arena_bytes,
            ids: self.sizes.len(),
            ops: self.ops,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::{Op, Trace, crosses_boundary};

    /// Every free names a live id exactly once, and ids are dense.
    pub(crate) fn assert_well_formed(trace: &Trace) {
        let mut live = vec![false; trace.ids];
        let mut seen = 0;
        for op in &trace.ops {
            match *op {
                Op::Alloc(a) => {
                    assert_eq!(a.id, seen, "{}: ids are dense and in order", trace.name);
                    assert!(a.size > 0 && a.align.is_power_of_two());
                    live[a.id] = true;
                    seen += 1;
                }
                Op::Free(id) => {
                    assert!(live[id], "{}: free of dead id {id}", trace.name);
                    live[id] = false;
                }
            }
        }
        assert_eq!(seen, trace.ids);
    }

    #[test]
    fn throughput_traces_are_closed_and_moderate() {
        for trace in super::throughput_set(super::SEED) {
            assert!(trace.is_closed(), "{}", trace.name);
            let pairs = trace.allocations();
            assert!((1_000..30_000).contains(&pairs), "{}: {pairs}", trace.name);
        }
    }

    #[test]
    fn boundary_crossing_is_detected() {
        assert!(!crosses_boundary(0, 4096, 4096));
        assert!(crosses_boundary(4095, 2, 4096));
        assert!(!crosses_boundary(4096 - 68, 68, 4096));
        assert!(crosses_boundary(4096 - 67, 68, 4096));
    }
}
