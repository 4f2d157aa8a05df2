//! The bitmap backend against the shadow model: random scripts (quickcheck) and one
//! long seeded run over a large space.

mod common;

use common::{Script, run};
use contig_allocators::bitmap::Bitmap;
use contig_allocators::shadow::{Placement, Shadow};
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

/// Thousands of operations on ~100k units: mostly small allocations and frees, some
/// large ones, aligned ones, windows, claims and wrong frees, checked step by step.
#[test]
fn long_seeded_run_on_a_large_space_matches_the_model() {
    let (capacity, phase) = (100_003, 12_345);
    let mut backend = Bitmap::new(capacity, phase).unwrap();
    let mut model = Shadow::new(capacity, phase, None, Placement::Lowest);
    common::long_seeded_run(&mut backend, &mut model, capacity, None);
}
