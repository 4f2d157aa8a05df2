//! The bitmap backend against the shadow model: random scripts (quickcheck) and one
//! long seeded run over a large space, in each of its storage forms: metadata on the
//! heap (`Bitmap::new`), in caller storage (`Bitmap::with_storage`, here over storage
//! full of stale words it must overwrite) and in an inline array (`Bitmap::inline`, in a
//! `static`).

mod common;

use std::sync::Mutex;

use common::{RawOp, Script, run};
use contig_allocators::Backend;
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

/// The same over caller storage of exactly `words_for(capacity)` words that held
/// whatever an earlier user left in them (a pattern derived from the script).
fn script_matches_model_over_caller_storage(script: Script) -> TestResult {
    let stale = 0x9E37_79B9_7F4A_7C15_u64 ^ script.ops.len() as u64;
    let mut storage = vec![stale; Bitmap::words_for(script.capacity)];
    let mut backend = Bitmap::with_storage(&mut storage, script.capacity, script.phase).unwrap();
    let mut model = Shadow::new(script.capacity, script.phase, None, Placement::Lowest);
    match run(&mut backend, &mut model, &script.ops) {
        Ok(()) => TestResult::passed(),
        Err(m) => TestResult::error(format!("{script:?} over caller storage: {m}")),
    }
}

#[test]
fn random_scripts_match_the_model() {
    QuickCheck::new()
        .tests(500)
        .quickcheck(script_matches_model as fn(Script) -> TestResult);
}

#[test]
fn random_scripts_match_the_model_over_caller_storage() {
    QuickCheck::new()
        .tests(500)
        .quickcheck(script_matches_model_over_caller_storage as fn(Script) -> TestResult);
}

/// The space of the long runs: ~100k units at an unaligned phase.
const CAPACITY: usize = 100_003;
const PHASE: usize = 12_345;

/// Thousands of operations on ~100k units: mostly small allocations and frees, some
/// large ones, aligned ones, windows, claims and wrong frees, checked step by step.
#[test]
fn long_seeded_run_on_a_large_space_matches_the_model() {
    let mut backend = Bitmap::new(CAPACITY, PHASE).unwrap();
    let mut model = Shadow::new(CAPACITY, PHASE, None, Placement::Lowest);
    common::long_seeded_run(&mut backend, &mut model, CAPACITY, None);
}

/// The same run on a bitmap built at compile time in a `static` (no heap, no
/// `static mut`): its inline words are laid out by the `const fn` constructor.
#[test]
fn long_seeded_run_on_a_static_bitmap_matches_the_model() {
    static EARLY: Mutex<Bitmap<[u64; Bitmap::words_for(CAPACITY)]>> =
        Mutex::new(match Bitmap::inline(CAPACITY, PHASE) {
            Ok(map) => map,
            Err(_) => panic!("words_for sizes the array"),
        });
    let mut backend = EARLY.lock().unwrap();
    let mut model = Shadow::new(CAPACITY, PHASE, None, Placement::Lowest);
    common::long_seeded_run(&mut *backend, &mut model, CAPACITY, None);
}

/// And over caller storage longer than it needs: the words past `words_for` are counted
/// but never written. (The whole buffer is handed over, so a write past the needed words
/// would land in them.)
#[test]
fn long_seeded_run_over_caller_storage_matches_the_model() {
    let words = Bitmap::words_for(CAPACITY);
    let mut buffer = vec![u64::MAX; words + 3];
    let mut backend = Bitmap::with_storage(&mut buffer, CAPACITY, PHASE).unwrap();
    assert_eq!(backend.stats().metadata_bytes, 8 * (words + 3));
    let mut model = Shadow::new(CAPACITY, PHASE, None, Placement::Lowest);
    common::long_seeded_run(&mut backend, &mut model, CAPACITY, None);
    assert_eq!(buffer[words..], [u64::MAX; 3]);
}

/// A few counts above the 64 units the per-count floors of small requests cover, more
/// of them than the backend keeps floors for, asked again and again with alignment 1
/// between random frees and small requests (a driver cycling its buffer sizes): every
/// answer must be the model's lowest fit, whatever the large counts' floors hold.
#[test]
fn repeated_large_counts_match_the_model() {
    const SPACE: usize = 20_000;
    const COUNTS: [usize; 6] = [65, 70, 113, 200, 338, 900];
    let mut backend = Bitmap::new(SPACE, 3).unwrap();
    let mut model = Shadow::new(SPACE, 3, None, Placement::Lowest);
    let mut rng = common::Rng::seeded(0x5DEE_CE66_D1CE_4E5B);
    let mut ops = Vec::new();
    for _ in 0..6000 {
        let op = match rng.below(9) {
            0..=2 => RawOp::Alloc {
                count: COUNTS[rng.below(COUNTS.len())],
                align_log2: 0,
                window: None,
            },
            3 => RawOp::Alloc {
                count: 1 + rng.below(64),
                align_log2: 0,
                window: None,
            },
            4 => RawOp::Alloc {
                count: COUNTS[rng.below(COUNTS.len())],
                align_log2: u32::try_from(rng.below(7)).unwrap(),
                window: None,
            },
            _ => RawOp::FreeLive { nth: rng.any() },
        };
        ops.push(op);
    }
    if let Err(m) = run(&mut backend, &mut model, &ops) {
        panic!("{m}");
    }
    let stats = backend.stats();
    assert!(stats.live_allocations > 30, "{stats:?}");
    assert!(stats.free_extents > 10, "{stats:?}");
}
