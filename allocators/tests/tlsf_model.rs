//! The TLSF backend against the shadow model: random scripts (quickcheck) and one long
//! seeded run over a large space. TLSF places "good fit", not lowest fit, so the model
//! accepts any fitting run but still demands a failure only when nothing fits.

mod common;

use common::{Script, run};
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
