//! Random operation scripts for the quickcheck model tests of every backend.
//!
//! A [`Script`] is a space (capacity, phase) and a list of [`RawOp`]s. Most frees are
//! aimed at live allocations (picked by index from the model) so the state grows
//! interesting; the rest are deliberately wrong (random offsets, wrong counts, double
//! frees) so every error path is compared against the model too.
#![allow(dead_code, unreachable_pub)]

use contig_allocators::Backend;
use contig_allocators::Request;
use contig_allocators::shadow::{Mismatch, Op, Shadow};
use quickcheck::{Arbitrary, Gen};

/// One step before it is resolved against the model's live allocations.
#[derive(Clone, Copy, Debug)]
pub enum RawOp {
    /// Allocate `count` units aligned to `1 << align_log2`, optionally inside a window.
    Alloc {
        count: usize,
        align_log2: u32,
        window: Option<(usize, usize)>,
    },
    /// Claim a fixed range.
    Claim { start: usize, count: usize },
    /// Free the `nth` live allocation (modulo the live count) correctly.
    FreeLive { nth: usize },
    /// Free the `nth` live allocation with a count off by `delta` (wrong count), or
    /// at an inner offset when `inner` is set.
    FreeLiveWrong {
        nth: usize,
        delta: usize,
        inner: bool,
    },
    /// Free the `nth` live allocation twice.
    DoubleFree { nth: usize },
    /// Free an arbitrary range.
    FreeAny { start: usize, count: usize },
}

/// A space and the operations to run on it.
#[derive(Clone, Debug)]
pub struct Script {
    pub capacity: usize,
    pub phase: usize,
    pub ops: Vec<RawOp>,
}

fn below(g: &mut Gen, n: usize) -> usize {
    if n == 0 { 0 } else { usize::arbitrary(g) % n }
}

/// A count skewed to small values but reaching past the capacity now and then.
fn count(g: &mut Gen, capacity: usize) -> usize {
    match below(g, 10) {
        0 => below(g, capacity + 2),
        1 => 0,
        _ => 1 + below(g, 8),
    }
}

impl Arbitrary for RawOp {
    /// Ops outside a `Script` are scaled to a 300-unit space (used when shrinking).
    fn arbitrary(g: &mut Gen) -> Self {
        Self::random(g, 300)
    }
}

impl RawOp {
    /// A random operation scaled to a space of `capacity` units.
    pub fn random(g: &mut Gen, capacity: usize) -> Self {
        match below(g, 20) {
            0..=7 => {
                let window = if below(g, 4) == 0 {
                    let lo = below(g, capacity + 1);
                    Some((lo, lo + below(g, capacity + 2 - lo.min(capacity))))
                } else {
                    None
                };
                let align_log2 = match below(g, 4) {
                    0 | 1 => 0,
                    2 => 1 + u32::arbitrary(g) % 4,
                    _ => u32::arbitrary(g) % 10,
                };
                Self::Alloc {
                    count: count(g, capacity),
                    align_log2,
                    window,
                }
            }
            8 => Self::Claim {
                start: below(g, capacity + 1),
                count: count(g, capacity),
            },
            9..=14 => Self::FreeLive {
                nth: usize::arbitrary(g),
            },
            15 => Self::FreeLiveWrong {
                nth: usize::arbitrary(g),
                delta: 1 + below(g, 3),
                inner: bool::arbitrary(g),
            },
            16 => Self::DoubleFree {
                nth: usize::arbitrary(g),
            },
            17 => Self::FreeAny {
                start: below(g, capacity + 1),
                count: count(g, capacity),
            },
            _ => Self::Alloc {
                count: 1 + below(g, 3),
                align_log2: 0,
                window: None,
            },
        }
    }
}

impl Arbitrary for Script {
    fn arbitrary(g: &mut Gen) -> Self {
        let capacity = match below(g, 6) {
            0 => 1 + below(g, 8),
            1 => 60 + below(g, 10), // around one 64-bit word
            _ => 1 + below(g, 300),
        };
        let phase = match below(g, 3) {
            0 => 0,
            1 => below(g, 64),
            _ => usize::arbitrary(g),
        };
        let len = below(g, 200);
        let ops = (0..len).map(|_| RawOp::random(g, capacity)).collect();
        Self {
            capacity,
            phase,
            ops,
        }
    }

    fn shrink(&self) -> Box<dyn Iterator<Item = Self>> {
        let (capacity, phase) = (self.capacity, self.phase);
        Box::new(self.ops.shrink().map(move |ops| Self {
            capacity,
            phase,
            ops,
        }))
    }
}

/// Turns `raw` into concrete operations given the model's current state.
pub fn resolve(raw: RawOp, model: &Shadow) -> Vec<Op> {
    match raw {
        RawOp::Alloc {
            count,
            align_log2,
            window,
        } => {
            let mut request = Request::new(count).aligned(1usize << align_log2);
            if let Some((lo, hi)) = window {
                request = request.within(lo, hi);
            }
            vec![Op::Allocate(request)]
        }
        RawOp::Claim { start, count } => vec![Op::Claim { start, count }],
        RawOp::FreeAny { start, count } => vec![Op::Free { start, count }],
        RawOp::FreeLive { nth } => match model.nth_live(nth) {
            Some(e) => vec![Op::Free {
                start: e.start,
                count: e.count,
            }],
            None => vec![],
        },
        RawOp::FreeLiveWrong { nth, delta, inner } => match model.nth_live(nth) {
            Some(e) if inner && e.count > 1 => vec![Op::Free {
                start: e.start + delta % e.count.max(2),
                count: 1,
            }],
            Some(e) => vec![Op::Free {
                start: e.start,
                count: e.count + delta,
            }],
            None => vec![],
        },
        RawOp::DoubleFree { nth } => match model.nth_live(nth) {
            Some(e) => vec![
                Op::Free {
                    start: e.start,
                    count: e.count,
                },
                Op::Free {
                    start: e.start,
                    count: e.count,
                },
            ],
            None => vec![],
        },
    }
}

/// Runs every op of `ops` on `backend` and the model, stopping at the first mismatch.
pub fn run<B: Backend + ?Sized>(
    backend: &mut B,
    model: &mut Shadow,
    ops: &[RawOp],
) -> Result<(), Mismatch> {
    model.check_state(backend)?;
    for (i, &raw) in ops.iter().enumerate() {
        for op in resolve(raw, model) {
            model
                .step(backend, op)
                .map_err(|m| Mismatch(format!("step {i} {op:?}: {m}")))?;
        }
    }
    Ok(())
}

/// A small deterministic generator (xorshift64*), so the long run is reproducible.
pub struct Rng(u64);

impl Rng {
    /// A generator started from `seed` (not 0: xorshift stays at 0).
    pub const fn seeded(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).expect("a value below a usize fits one")
    }

    pub fn align_log2(&mut self, below: u32) -> u32 {
        u32::try_from(self.below(below as usize)).expect("below a u32")
    }

    pub fn any(&mut self) -> usize {
        self.below(usize::MAX)
    }
}

/// The long seeded run of every backend's model test: `steps` operations on a space of
/// `capacity` units (mostly small allocations and frees, some large, aligned and
/// windowed ones, claims and deliberately wrong frees), checked step by step against
/// `model`; then the space is filled with requests from larger than most holes down
/// to single units until nothing is free (or `limit` allocations are live), so every
/// hole size is asked for and the final failure is compared too.
pub fn long_seeded_run<B: Backend + ?Sized>(
    backend: &mut B,
    model: &mut Shadow,
    capacity: usize,
    limit: Option<usize>,
) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut ops = Vec::new();
    for _ in 0..3000 {
        let op = match rng.below(16) {
            0..=5 => RawOp::Alloc {
                count: 1 + rng.below(16),
                align_log2: 0,
                window: None,
            },
            6 => RawOp::Alloc {
                count: 1 + rng.below(3000),
                align_log2: rng.align_log2(12),
                window: None,
            },
            7 => {
                let lo = rng.below(capacity);
                RawOp::Alloc {
                    count: 1 + rng.below(200),
                    align_log2: rng.align_log2(8),
                    window: Some((lo, lo + 1 + rng.below(capacity - lo))),
                }
            }
            8 => RawOp::Claim {
                start: rng.below(capacity),
                count: 1 + rng.below(100),
            },
            9..=12 => RawOp::FreeLive { nth: rng.any() },
            13 => RawOp::FreeLiveWrong {
                nth: rng.any(),
                delta: 1 + rng.below(3),
                inner: rng.below(2) == 0,
            },
            14 => RawOp::DoubleFree { nth: rng.any() },
            _ => RawOp::FreeAny {
                start: rng.below(capacity + 1),
                count: 1 + rng.below(20),
            },
        };
        ops.push(op);
    }
    if let Err(m) = run(backend, model, &ops) {
        panic!("{m}");
    }
    // The run must have left a fragmented space behind, or it tested little.
    let stats = backend.stats();
    assert!(stats.live_allocations > 100, "{stats:?}");
    assert!(stats.free_extents > 10, "{stats:?}");
    let limit = limit.unwrap_or(usize::MAX);
    let mut count = 4096;
    while count > 0 && backend.stats().live_allocations < limit {
        let op = Op::Allocate(Request::new(count));
        if let Err(m) = model.step(backend, op) {
            panic!("filling with {count}: {m}");
        }
        if model.lowest_fit(Request::new(count)).is_err() {
            count /= 2;
        }
    }
    assert!(backend.stats().free == 0 || backend.stats().live_allocations == limit);
}
