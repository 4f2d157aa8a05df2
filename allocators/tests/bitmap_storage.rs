//! The bitmap backend over caller storage and inline arrays: `words_for` sizes the
//! storage exactly for every capacity, one word less is a typed error, and a bitmap
//! built at compile time answers every operation exactly as a heap one does.

mod common;

use std::sync::Mutex;

use common::Rng;
use contig_allocators::bitmap::{Bitmap, TooFewWords};
use contig_allocators::{Backend, Error, Extent, Request, Stats};

const CAPACITIES: [usize; 9] = [1, 63, 64, 65, 127, 128, 129, 4096, 100_000];
const PHASES: [usize; 4] = [0, 1, 37, usize::MAX - 70];

fn allocations(map: &dyn Backend) -> Vec<Extent> {
    let mut out = Vec::new();
    map.for_each_allocation(&mut |e| out.push(e));
    out
}

/// Fills the whole space with single units, frees every other one, then allocates the
/// largest aligned run that fits at the end, checking every answer.
fn exercise(map: &mut dyn Backend, capacity: usize, phase: usize) {
    assert_eq!(map.allocate(Request::new(capacity)), Ok(0));
    assert_eq!(
        map.allocate(Request::new(1)),
        Err(Error::NoSpace { count: 1, align: 1 })
    );
    map.free(0, capacity).unwrap();
    for i in 0..capacity.min(300) {
        assert_eq!(map.allocate(Request::new(1)), Ok(i));
    }
    for i in (0..capacity.min(300)).step_by(2) {
        map.free(i, 1).unwrap();
    }
    assert_eq!(map.free(0, 1), Err(Error::NotAllocated { start: 0 }));
    let taken = capacity.min(300);
    if capacity > taken {
        // Only the tail holds more than one unit: the request goes to its first
        // 8-aligned absolute unit.
        let at = taken + phase.wrapping_add(taken).wrapping_neg() % 8;
        let count = capacity - at;
        assert_eq!(map.allocate(Request::new(count).aligned(8)), Ok(at));
        assert_eq!(map.stats().largest_free, (at - taken).max(1));
    }
    assert_eq!(map.stats().capacity, capacity);
}

#[test]
fn words_for_sizes_caller_storage_for_every_capacity_and_one_less_is_refused() {
    for capacity in CAPACITIES {
        let words = Bitmap::words_for(capacity);
        for phase in PHASES {
            let mut storage = vec![0x5555_aaaa_5555_aaaa_u64; words];
            let mut map = Bitmap::with_storage(&mut storage, capacity, phase).unwrap();
            assert_eq!(map.stats().metadata_bytes, 8 * words);
            // Exactly what the heap form allocates.
            let heap = Bitmap::new(capacity, phase).unwrap();
            assert_eq!(map.stats(), heap.stats(), "capacity {capacity}");
            exercise(&mut map, capacity, phase);

            let mut short = vec![0u64; words - 1];
            assert_eq!(
                Bitmap::with_storage(&mut short, capacity, phase).unwrap_err(),
                TooFewWords {
                    capacity,
                    needed: words,
                    given: words - 1
                }
            );
            assert_eq!(short, vec![0; words - 1], "refused storage is left alone");
        }
    }
}

#[test]
fn too_few_words_says_what_was_needed_and_given() {
    let err = Bitmap::with_storage(&mut [0; 3], 1000, 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "bitmap storage of 3 words, {} needed for 1000 units",
            Bitmap::words_for(1000)
        )
    );
    // A zero-unit space needs no storage at all.
    assert_eq!(Bitmap::words_for(0), 0);
    let mut none: [u64; 0] = [];
    let mut empty = Bitmap::with_storage(&mut none, 0, 0).unwrap();
    assert_eq!(empty.stats(), Stats::default());
    assert_eq!(
        empty.allocate(Request::new(1)),
        Err(Error::NoSpace { count: 1, align: 1 })
    );
}

/// Inline arrays sized at compile time, for a few of the capacities.
#[test]
fn inline_arrays_sized_by_words_for_work_and_one_word_less_is_refused() {
    fn check<const W: usize, const SHORT: usize>(capacity: usize, phase: usize) {
        let mut map = Bitmap::<[u64; W]>::inline(capacity, phase).unwrap();
        assert_eq!(map.stats(), Bitmap::new(capacity, phase).unwrap().stats());
        exercise(&mut map, capacity, phase);
        assert_eq!(
            Bitmap::<[u64; SHORT]>::inline(capacity, phase).unwrap_err(),
            TooFewWords {
                capacity,
                needed: W,
                given: SHORT
            }
        );
    }
    const fn w(capacity: usize) -> usize {
        Bitmap::words_for(capacity)
    }
    check::<{ w(1) }, { w(1) - 1 }>(1, 3);
    check::<{ w(65) }, { w(65) - 1 }>(65, 0);
    check::<{ w(129) }, { w(129) - 1 }>(129, 37);
    check::<{ w(4096) }, { w(4096) - 1 }>(4096, usize::MAX - 70);
    check::<{ w(100_000) }, { w(100_000) - 1 }>(100_000, 1);
    // A larger array is accepted and counted.
    let map = Bitmap::<[u64; 64]>::inline(129, 0).unwrap();
    assert_eq!(map.stats().metadata_bytes, 64 * 8);
}

const SPACE: usize = 20_011;
const PHASE: usize = 5;
static STATIC_MAP: Mutex<Bitmap<[u64; Bitmap::words_for(SPACE)]>> =
    Mutex::new(match Bitmap::inline(SPACE, PHASE) {
        Ok(map) => map,
        Err(_) => panic!("words_for sizes the array"),
    });

/// One random operation (valid and invalid ones, scaled to `SPACE`), given to two
/// backends alike.
#[derive(Clone, Copy, Debug)]
enum Step {
    Allocate(Request),
    Claim(usize, usize),
    Free(usize, usize),
}

fn step(rng: &mut Rng, live: &[Extent]) -> Step {
    let pick = |rng: &mut Rng| live[rng.below(live.len())];
    match rng.below(12) {
        0..=3 => Step::Allocate(Request::new(1 + rng.below(20))),
        4 => Step::Allocate(Request::new(1 + rng.below(2000)).aligned(1 << rng.below(11))),
        5 => {
            let lo = rng.below(SPACE);
            let hi = lo + rng.below(SPACE + 1 - lo);
            Step::Allocate(Request::new(rng.below(100)).within(lo, hi))
        }
        6 => Step::Claim(rng.below(SPACE + 2), rng.below(50)),
        7..=9 if !live.is_empty() => {
            let e = pick(rng);
            Step::Free(e.start, e.count)
        }
        10 if !live.is_empty() => {
            let e = pick(rng);
            Step::Free(e.start, e.count + 1)
        }
        _ => Step::Free(rng.below(SPACE + 2), rng.below(30)),
    }
}

fn apply(map: &mut dyn Backend, step: Step) -> Result<Option<usize>, Error> {
    match step {
        Step::Allocate(request) => map.allocate(request).map(Some),
        Step::Claim(start, count) => map.claim(start, count).map(|()| None),
        Step::Free(start, count) => map.free(start, count).map(|()| None),
    }
}

#[test]
fn a_static_bitmap_answers_exactly_as_a_heap_one() {
    let mut heap = Bitmap::new(SPACE, PHASE).unwrap();
    let mut fixed = STATIC_MAP.lock().unwrap();
    let mut rng = Rng::seeded(0xC0FF_EE00_D15E_A5E5);
    let mut live = Vec::new();
    let mut outcomes = [0usize; 2];
    for i in 0..20_000 {
        let step = step(&mut rng, &live);
        let from_heap = apply(&mut heap, step);
        let from_static = apply(&mut *fixed, step);
        assert_eq!(from_heap, from_static, "step {i} {step:?}");
        outcomes[usize::from(from_heap.is_ok())] += 1;
        if i % 97 == 0 {
            assert_eq!(heap.stats(), fixed.stats(), "step {i}");
            live = allocations(&heap);
            assert_eq!(live, allocations(&*fixed), "step {i}");
        } else if from_heap.is_ok() {
            live = allocations(&heap);
        }
    }
    // Both kinds of answer were compared, many times over.
    assert!(outcomes[0] > 2000 && outcomes[1] > 2000, "{outcomes:?}");
    assert_eq!(heap.stats(), fixed.stats());
    assert!(heap.stats().live_allocations > 100, "{:?}", heap.stats());
}
