//! The first-fit backend against the shadow model: random scripts (quickcheck) and one
//! long seeded run on a large space. The model demands the lowest fitting offset, the
//! exact error of the documented check order, exact stats and the exact allocation list
//! after every step.

mod common;

use common::{RawOp, Script, run};
use contig_allocators::first_fit::{FirstFit, Node, TooFewNodes};
use contig_allocators::shadow::{Op, Placement, Shadow};
use contig_allocators::{Backend, Request};
use quickcheck::{QuickCheck, TestResult};

fn agrees_with_model(script: &Script, max_allocations: usize) -> TestResult {
    let backend = FirstFit::new(script.capacity, script.phase, max_allocations).unwrap();
    agrees(backend, script, max_allocations)
}

fn agrees(mut backend: impl Backend, script: &Script, max_allocations: usize) -> TestResult {
    let mut model = Shadow::new(
        script.capacity,
        script.phase,
        Some(max_allocations),
        Placement::Lowest,
    );
    match run(&mut backend, &mut model, &script.ops) {
        Ok(()) => TestResult::passed(),
        Err(mismatch) => TestResult::error(format!(
            "capacity {}, phase {}, max {max_allocations}: {mismatch}",
            script.capacity, script.phase
        )),
    }
}

fn quickcheck(property: fn(Script) -> TestResult) {
    QuickCheck::new().tests(500).quickcheck(property);
}

#[test]
fn model_with_one_allocation() {
    quickcheck(|script| agrees_with_model(&script, 1));
}

#[test]
fn model_with_four_allocations() {
    quickcheck(|script| agrees_with_model(&script, 4));
}

#[test]
fn model_with_sixty_four_allocations() {
    quickcheck(|script| agrees_with_model(&script, 64));
}

/// Over an inline arena of exactly the nodes four allocations need on any capacity,
/// as `with_storage` builds it in a `static`.
fn inline_agrees_with_model(script: Script) -> TestResult {
    let backend = FirstFit::<[Node; 9]>::with_storage(script.capacity, script.phase, 4).unwrap();
    agrees(backend, &script, 4)
}

#[test]
fn model_over_inline_storage() {
    quickcheck(inline_agrees_with_model);
}

/// A backend in a `static`, const-constructed over its own node array.
static EARLY: std::sync::Mutex<FirstFit<[Node; FirstFit::nodes_for(1000, 8)]>> =
    std::sync::Mutex::new(match FirstFit::with_storage(1000, 3, 8) {
        Ok(backend) => backend,
        Err(_) => panic!("the node budget is computed from the same arguments"),
    });

#[test]
fn static_backend_allocates_and_frees() {
    let mut ff = EARLY.lock().unwrap();
    let stats = ff.stats();
    assert_eq!(
        (stats.capacity, stats.free, stats.free_extents),
        (1000, 1000, 1)
    );
    // Alignment is absolute: offset 0 is unit 3.
    assert_eq!(ff.allocate(Request::new(10).aligned(8)), Ok(5));
    assert_eq!(ff.max_allocations(), 8);
    for _ in 0..7 {
        ff.allocate(Request::new(1)).unwrap();
    }
    assert_eq!(
        ff.allocate(Request::new(1)),
        Err(contig_allocators::Error::TooManyAllocations { limit: 8 })
    );
    ff.free(5, 10).unwrap();
    assert_eq!(ff.stats().live_allocations, 7);
}

#[test]
fn inline_storage_below_the_budget_is_an_error() {
    assert_eq!(FirstFit::nodes_for(1000, 4), 9);
    assert_eq!(FirstFit::nodes_for(5, 4), 5);
    assert_eq!(
        FirstFit::<[Node; 8]>::with_storage(1000, 0, 4).err(),
        Some(TooFewNodes {
            needed: 9,
            given: 8
        })
    );
    assert_eq!(
        FirstFit::<[Node; 0]>::with_storage(1, 0, 4).err(),
        Some(TooFewNodes {
            needed: 1,
            given: 0
        })
    );
    // An empty space needs no node; a larger limit is lowered to the space.
    assert!(FirstFit::<[Node; 0]>::with_storage(0, 0, 4).is_ok());
    assert!(FirstFit::<[Node; 5]>::with_storage(5, 0, 100).is_ok());
}

#[test]
fn model_with_no_allocations() {
    QuickCheck::new()
        .tests(100)
        .quickcheck((|script| agrees_with_model(&script, 0)) as fn(Script) -> TestResult);
}

/// A small deterministic generator (xorshift64) so the long run is reproducible.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            usize::try_from(self.next() % n as u64).expect("less than a usize")
        }
    }
}

/// One random step for a large space: mostly small aligned allocations and correct
/// frees, with windows, claims, big requests and wrong frees mixed in.
fn large_step(rng: &mut XorShift, capacity: usize) -> RawOp {
    match rng.below(20) {
        0..=8 => {
            let count = match rng.below(10) {
                0 => 1 + rng.below(capacity / 8),
                _ => 1 + rng.below(64),
            };
            let window = (rng.below(5) == 0).then(|| {
                let lo = rng.below(capacity);
                (lo, lo + 1 + rng.below(capacity - lo))
            });
            RawOp::Alloc {
                count,
                align_log2: [0, 0, 1, 3, 6, 12][rng.below(6)],
                window,
            }
        }
        9 => RawOp::Claim {
            start: rng.below(capacity),
            count: 1 + rng.below(256),
        },
        10..=16 => RawOp::FreeLive {
            nth: rng.below(usize::MAX),
        },
        17 => RawOp::FreeLiveWrong {
            nth: rng.below(usize::MAX),
            delta: 1 + rng.below(3),
            inner: rng.below(2) == 0,
        },
        18 => RawOp::DoubleFree {
            nth: rng.below(usize::MAX),
        },
        _ => RawOp::FreeAny {
            start: rng.below(capacity + 1),
            count: rng.below(100),
        },
    }
}

#[test]
fn long_seeded_run_on_a_large_space() {
    let (capacity, phase, max) = (100_000, 12_345, 1024);
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let ops: Vec<RawOp> = (0..3000).map(|_| large_step(&mut rng, capacity)).collect();
    let mut backend = FirstFit::new(capacity, phase, max).unwrap();
    let mut model = Shadow::new(capacity, phase, Some(max), Placement::Lowest);
    run(&mut backend, &mut model, &ops).unwrap();
    // The run must have exercised the space, not just failed every request.
    let stats = backend.stats();
    assert!(stats.live_allocations > 100, "{stats:?}");
    assert!(stats.free_extents > 50, "{stats:?}");
}

#[test]
fn misaligned_holes_are_skipped_for_a_later_fit() {
    // Holes of 4 units at offsets 8i + 2 cannot hold an 8-aligned run of 4; the search
    // must reject each and find the aligned place after the last one.
    let capacity = 8 * 64 + 16;
    let mut backend = FirstFit::new(capacity, 0, 256).unwrap();
    let mut model = Shadow::new(capacity, 0, Some(256), Placement::Lowest);
    for i in 0..64 {
        for (start, count) in [(8 * i, 2), (8 * i + 6, 2)] {
            model
                .step(&mut backend, Op::Claim { start, count })
                .unwrap();
        }
    }
    assert_eq!(backend.stats().free_extents, 65);
    model
        .step(&mut backend, Op::Allocate(Request::new(4).aligned(8)))
        .unwrap();
    assert_eq!(backend.stats().free_extents, 65);
    assert!(model.live().any(|e| e.start == 512 && e.count == 4));
}
