//! The bitmap backend against the shadow model: random scripts (quickcheck) and one
//! long seeded run over a large space.

mod common;

use common::{RawOp, Script, run};
use contig_allocators::bitmap::Bitmap;
use contig_allocators::shadow::{Op, Placement, Shadow};
use contig_allocators::{Backend, Request};
use quickcheck::{QuickCheck, TestResult};

// `Script::shrink` shrinks its `Vec<RawOp>`, which needs `RawOp: Arbitrary`; the shared
// `common` module does not provide it, so this test crate does. Operations made here are
// scaled to the largest capacity `Script` generates; shrinking only drops operations.
fn script_matches_model(script: Script) -> TestResult {
    let mut backend = Bitmap::new(script.capacity, script.phase).unwrap();
    let mut model = Shadow::new(script.capacity, script.phase, None, Placement::Lowest);
    match run(&mut backend, &mut model, &script.ops) {
        Ok(()) => TestResult::passed(),
        Err(m) => TestResult::error(format!("{script:?}: {m}")),
    }
}

#[test]
fn random_scripts_match_the_model() {
    QuickCheck::new()
        .tests(500)
        .quickcheck(script_matches_model as fn(Script) -> TestResult);
}

/// A small deterministic generator (xorshift64*), so the long run is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).expect("a value below a usize fits one")
    }

    fn align_log2(&mut self, below: u32) -> u32 {
        u32::try_from(self.below(below as usize)).expect("below a u32")
    }

    fn any(&mut self) -> usize {
        self.below(usize::MAX)
    }
}

/// Thousands of operations on ~100k units: mostly small allocations and frees, some
/// large ones, aligned ones, windows, claims and wrong frees, checked step by step.
#[test]
fn long_seeded_run_on_a_large_space_matches_the_model() {
    let (capacity, phase) = (100_003, 12_345);
    let mut backend = Bitmap::new(capacity, phase).unwrap();
    let mut model = Shadow::new(capacity, phase, None, Placement::Lowest);
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
    if let Err(m) = run(&mut backend, &mut model, &ops) {
        panic!("{m}");
    }
    // The run must have left a fragmented space behind, or it tested little.
    let stats = backend.stats();
    assert!(stats.live_allocations > 100, "{stats:?}");
    assert!(stats.free_extents > 10, "{stats:?}");
    // Then fill it up with requests larger than most holes, down to single units, until
    // nothing is free: every hole size is asked for and the final failure is checked too.
    let mut count = 4096;
    while count > 0 {
        let op = Op::Allocate(Request::new(count));
        if let Err(m) = model.step(&mut backend, op) {
            panic!("filling with {count}: {m}");
        }
        if model.lowest_fit(Request::new(count)).is_err() {
            count /= 2;
        }
    }
    assert_eq!(backend.stats().free, 0);
}
