//! Model tests of the genalloc backend: every operation of random scripts is checked
//! against the shadow model, and many threads hammer one lock-free pool.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};

use common::{RawOp, Script, run};
use contig_allocators::Error;
use contig_allocators::genalloc::{Fit, GenBackend, GenPool, UnitFit};
use contig_allocators::shadow::{Placement, Shadow};
use quickcheck::{QuickCheck, TestResult};

fn check(script: &Script, mut backend: GenBackend, placement: Placement) -> TestResult {
    let mut model = Shadow::new(script.capacity, script.phase, None, placement);
    match run(&mut backend, &mut model, &script.ops) {
        Ok(()) => TestResult::passed(),
        Err(mismatch) => TestResult::error(mismatch.to_string()),
    }
}

fn quickcheck(prop: fn(Script) -> TestResult) {
    QuickCheck::new().tests(300).quickcheck(prop);
}

#[test]
#[cfg_attr(miri, ignore)]
fn first_fit_always_takes_the_lowest_fit() {
    fn prop(script: Script) -> TestResult {
        let backend = GenBackend::first_fit(script.capacity, script.phase).unwrap();
        check(&script, backend, Placement::Lowest)
    }
    quickcheck(prop);
}

#[test]
#[cfg_attr(miri, ignore)]
fn best_fit_keeps_every_invariant() {
    fn prop(script: Script) -> TestResult {
        let backend = GenBackend::best_fit(script.capacity, script.phase).unwrap();
        check(&script, backend, Placement::Any)
    }
    quickcheck(prop);
}

/// Order-align raises every alignment to the count's power of two; a script whose
/// requests already ask for that alignment must get exactly the lowest fit.
#[test]
#[cfg_attr(miri, ignore)]
fn order_align_is_the_lowest_fit_at_the_size_order() {
    fn prop(mut script: Script) -> TestResult {
        for op in &mut script.ops {
            if let RawOp::Alloc {
                count, align_log2, ..
            } = op
            {
                let order = count
                    .checked_next_power_of_two()
                    .map_or(0, |p| p.trailing_zeros());
                *align_log2 = (*align_log2).max(order);
            }
        }
        let backend = GenBackend::order_align(script.capacity, script.phase).unwrap();
        check(&script, backend, Placement::Lowest)
    }
    quickcheck(prop);
}

/// Thousands of operations on ~100k units, where every search goes through the
/// summary tree (mostly small allocations and frees, some large, aligned, windowed
/// ones, claims and wrong frees), checked step by step against the shadow model.
#[test]
#[cfg_attr(miri, ignore)]
fn long_seeded_first_fit_run_on_a_large_space_matches_the_model() {
    long_seeded_run_on_a_large_space(UnitFit::FirstFit, Placement::Lowest);
}

/// The same run with best fit: any fitting placement is accepted, failures only when
/// nothing fits (the unit tests compare its exact choices with the word scan).
#[test]
#[cfg_attr(miri, ignore)]
fn long_seeded_best_fit_run_on_a_large_space_keeps_every_invariant() {
    long_seeded_run_on_a_large_space(UnitFit::BestFit, Placement::Any);
}

/// A space large enough that every search goes through the summary tree, with a phase
/// that keeps its alignments off the unit grid.
fn long_seeded_run_on_a_large_space(fit: UnitFit, placement: Placement) {
    let (capacity, phase) = (100_003, 12_345);
    let mut backend = GenBackend::new(capacity, phase, fit).unwrap();
    let mut model = Shadow::new(capacity, phase, None, placement);
    common::long_seeded_run(&mut backend, &mut model, capacity, None);
}

/// A tiny xorshift so every thread's sequence is fixed and needs no dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        usize::try_from(self.0 % n as u64).unwrap_or(0)
    }
}

const GRANULE: usize = 4;
const BASE: usize = 0x1000;
const FIRST: usize = 256 * GRANULE;
const SECOND_AT: usize = 0x2000;
const SECOND: usize = 128 * GRANULE;

/// One flag per granule of both chunks: set while some thread holds the granule.
fn ownership_table() -> Vec<AtomicBool> {
    (0..(SECOND_AT + SECOND - BASE) / GRANULE)
        .map(|_| AtomicBool::new(false))
        .collect()
}

/// Flips the ownership flags of `[addr, addr + size)`; every flag must have been
/// `!taking` before, or two threads held the same granule at once.
fn mark(table: &[AtomicBool], addr: usize, size: usize, taking: bool) {
    let first = (addr - BASE) / GRANULE;
    for flag in &table[first..first + size.div_ceil(GRANULE)] {
        assert_eq!(
            flag.swap(taking, Ordering::AcqRel),
            !taking,
            "granule of {addr:#x} doubled"
        );
    }
}

fn churn(pool: &GenPool<u8>, table: &[AtomicBool], seed: u64, rounds: usize) {
    let mut rng = Rng(seed);
    let mut held: Vec<(usize, usize)> = Vec::new();
    for round in 0..rounds {
        if seed == 1 && round == rounds / 2 {
            pool.add_chunk(SECOND_AT, 0x9000_0000, SECOND, 2).unwrap();
        }
        if held.len() < 8 && rng.below(3) != 0 {
            let size = 1 + rng.below(12 * GRANULE);
            let fit = match rng.below(4) {
                0 => Fit::FirstFit,
                1 => Fit::BestFit,
                2 => Fit::FirstFitOrderAlign,
                _ => Fit::FirstFitAlign { align: 32 },
            };
            match pool.alloc_with(size, fit) {
                Ok(addr) => {
                    if fit == (Fit::FirstFitAlign { align: 32 }) {
                        assert_eq!(addr % 32, 0);
                    }
                    mark(table, addr, size, true);
                    held.push((addr, size));
                }
                Err(Error::NoSpace { .. }) => {}
                Err(e) => panic!("unexpected {e}"),
            }
        } else if !held.is_empty() {
            let (addr, size) = held.swap_remove(rng.below(held.len()));
            let rounded = size.div_ceil(GRANULE) * GRANULE;
            assert_eq!(
                pool.free(addr, rounded + GRANULE),
                Err(Error::WrongCount {
                    start: addr,
                    count: rounded + GRANULE,
                    actual: rounded
                })
            );
            if rounded > GRANULE {
                assert_eq!(
                    pool.free(addr + GRANULE, GRANULE),
                    Err(Error::NotAllocationStart {
                        start: addr + GRANULE
                    })
                );
            }
            mark(table, addr, size, false);
            pool.free(addr, size).unwrap();
        }
    }
    for (addr, size) in held {
        mark(table, addr, size, false);
        pool.free(addr, size).unwrap();
    }
}

#[test]
fn genalloc_pool_shared_by_threads_loses_and_doubles_nothing() {
    let (threads, rounds) = if cfg!(miri) { (2, 40) } else { (4, 20_000) };
    let pool: GenPool<u8> = GenPool::new(2);
    pool.add_chunk(BASE, 0x8000_0000, FIRST, 1).unwrap();
    let table = ownership_table();
    std::thread::scope(|s| {
        for seed in 1..=threads {
            let (pool, table) = (&pool, &table);
            s.spawn(move || churn(pool, table, seed, rounds));
        }
    });
    assert_eq!(pool.size(), FIRST + SECOND);
    assert_eq!(pool.avail(), FIRST + SECOND);
    assert_eq!(pool.largest_free(), FIRST);
    let owners: Vec<(usize, u8)> = pool.chunks().map(|c| (c.avail, *c.owner)).collect();
    assert_eq!(owners, [(SECOND, 2), (FIRST, 1)]);
    assert!(table.iter().all(|f| !f.load(Ordering::Relaxed)));
    // Everything is free again: the whole first chunk is one allocation.
    assert_eq!(pool.alloc_with(FIRST, Fit::Fixed { offset: 0 }), Ok(BASE));
    assert_eq!(
        pool.alloc_with(SECOND, Fit::Fixed { offset: 0 }),
        Ok(SECOND_AT)
    );
}
