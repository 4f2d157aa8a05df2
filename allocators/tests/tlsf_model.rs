//! The TLSF backend against the shadow model: random scripts (quickcheck) and one long
//! seeded run over a large space. TLSF places "good fit", not lowest fit, so the model
//! accepts any fitting run but still demands a failure only when nothing fits.

mod common;

use common::{RawOp, Script, run};
use contig_allocators::shadow::{Placement, Shadow};
use contig_allocators::tlsf::Tlsf;
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

/// Thousands of operations on ~100k units: mostly small allocations and frees, some
/// large ones, aligned ones, windows, claims and wrong frees, checked step by step.
#[test]
fn long_seeded_run_on_a_large_space_matches_the_model() {
    let (capacity, phase, limit) = (100_003, 12_345, 5_000);
    let mut backend = Tlsf::try_new(capacity, phase, limit).expect("small metadata");
    let mut model = Shadow::new(capacity, phase, Some(limit), Placement::Any);
    common::long_seeded_run(&mut backend, &mut model, capacity, Some(limit));
}

/// A script run after long aligned allocations and frees, whose alignment gaps the
/// backend keeps off its lists until a request is short enough to use them: the model
/// still demands a failure only when nothing fits, and exact stats throughout.
fn script_after_long_aligned_requests_matches_model(
    script: Script,
    max_allocations: u8,
) -> TestResult {
    let limit = usize::from(max_allocations);
    let mut backend = Tlsf::try_new(script.capacity, script.phase, limit).expect("small metadata");
    let mut model = Shadow::new(script.capacity, script.phase, Some(limit), Placement::Any);
    let long = |count, align_log2| RawOp::Alloc {
        count,
        align_log2,
        window: None,
    };
    // Runs of 60 units aligned to 64 fill the space with a 4-unit gap between any two;
    // one freed between two gaps, and taken again.
    let prefix = core::iter::repeat_n(long(60, 6), script.capacity / 64 + 1)
        .chain([RawOp::FreeLive { nth: 1 }, long(60, 6)]);
    let ops: Vec<RawOp> = prefix.chain(script.ops.iter().copied()).collect();
    match run(&mut backend, &mut model, &ops) {
        Ok(()) => TestResult::passed(),
        Err(m) => TestResult::error(format!("{script:?} (limit {limit}): {m}")),
    }
}

#[test]
fn random_scripts_after_long_aligned_requests_match_the_model() {
    QuickCheck::new().tests(300).quickcheck(
        script_after_long_aligned_requests_matches_model as fn(Script, u8) -> TestResult,
    );
}
