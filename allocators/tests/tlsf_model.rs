//! The TLSF backend against the shadow model: random scripts (quickcheck) and one long
//! seeded run over a large space. TLSF places "good fit", not lowest fit, so the model
//! accepts any fitting run but still demands a failure only when nothing fits.

mod common;

use common::{RawOp, Script, run};
use contig_allocators::shadow::{Op, Placement, Shadow};
use contig_allocators::tlsf::Tlsf;
use contig_allocators::{Backend, Request};
use quickcheck::{QuickCheck, TestResult};

fn script_matches_model(script: Script, max_allocations: u8) -> TestResult {
    let limit = usize::from(max_allocations);
    let mut backend = Tlsf::try_new(script.capacity, script.phase, limit).expect("small metadata");
    let mut model = Shadow::new(script.capacity, script.phase, Some(limit), Placement::Any);
    match run(&mut backend, &mut model, &script.ops) {
        Ok(()) => TestResult::passed(),
        Err(m) => TestResult::error(format!("{script:?} (limit {limit}): {m}")),
    }
}

#[test]
fn random_scripts_match_the_model() {
    QuickCheck::new()
        .tests(500)
        .quickcheck(script_matches_model as fn(Script, u8) -> TestResult);
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
    let (capacity, phase, limit) = (100_003, 12_345, 5_000);
    let mut backend = Tlsf::try_new(capacity, phase, limit).expect("small metadata");
    let mut model = Shadow::new(capacity, phase, Some(limit), Placement::Any);
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
    let stats = backend.stats();
    assert!(stats.live_allocations > 100, "{stats:?}");
    assert!(stats.free_extents > 10, "{stats:?}");
    // Then fill it with requests larger than most holes, down to single units, until
    // nothing is free: every hole size is asked for and the final failure is checked.
    let mut count = 4096;
    while count > 0 && backend.stats().live_allocations < limit {
        let op = Op::Allocate(Request::new(count));
        if let Err(m) = model.step(&mut backend, op) {
            panic!("filling with {count}: {m}");
        }
        if model.lowest_fit(Request::new(count)).is_err() {
            count /= 2;
        }
    }
    assert!(backend.stats().free == 0 || backend.stats().live_allocations == limit);
}
