//! Loom models of the lock-free genalloc paths: every interleaving (up to the
//! preemption bound in `LOOM_MAX_PREEMPTIONS`) of two and three threads allocating and
//! freeing inside one bitmap word and across a word boundary.
//!
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
//!  cargo test -p contig-allocators --release --test loom_genalloc`
#![cfg(loom)]

use contig_allocators::Error;
use contig_allocators::genalloc::{Fit, GenPool};
use loom::sync::Arc;
use loom::thread;

/// Units covered by one bitmap word (the used and start halves share a `usize`).
const WORD: usize = (usize::BITS / 2) as usize;

/// A pool of one chunk of `units` one-byte granules at address 0.
fn pool(units: usize) -> Arc<GenPool> {
    let pool = GenPool::new(0);
    pool.add_chunk(0, 0, units, ()).unwrap();
    Arc::new(pool)
}

/// Runs `f` under loom, bounded to two preemptions unless `LOOM_MAX_PREEMPTIONS` says
/// otherwise, so a plain `--cfg loom` run cannot explode.
fn model(f: impl Fn() + Send + Sync + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound.get_or_insert(2);
    builder.check(f);
}

fn disjoint(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 + a.1 <= b.0 || b.0 + b.1 <= a.0
}

/// Everything is free and in one run again: no unit lost.
fn all_free(pool: &GenPool, units: usize) {
    assert_eq!(pool.avail(), units);
    assert_eq!(pool.largest_free(), units);
    assert_eq!(pool.alloc_with(units, Fit::Fixed { offset: 0 }), Ok(0));
    pool.free(0, units).unwrap();
}

#[test]
fn two_threads_in_one_word() {
    model(|| {
        let p = pool(8);
        let q = p.clone();
        let t = thread::spawn(move || {
            let a = q.alloc(3).unwrap();
            q.free(a, 3).unwrap();
            (q.alloc(2).unwrap(), 2)
        });
        let b = (p.alloc(3).unwrap(), 3);
        let a = t.join().unwrap();
        assert!(disjoint(a, b), "{a:?} overlaps {b:?}");
        assert_eq!(p.avail(), 8 - 5);
        p.free(a.0, a.1).unwrap();
        p.free(b.0, b.1).unwrap();
        all_free(&p, 8);
    });
}

#[test]
fn two_threads_across_a_word_boundary() {
    model(|| {
        let units = WORD + 4;
        let p = pool(units);
        let q = p.clone();
        // One claim straddles the boundary, the other wants both words too: exactly
        // one of them can win, whatever the interleaving.
        let t = thread::spawn(move || q.alloc_with(4, Fit::Fixed { offset: WORD - 2 }));
        let mine = p.alloc(WORD + 2);
        let theirs = t.join().unwrap();
        match (mine, theirs) {
            (Ok(0), Err(Error::NoSpace { .. })) => p.free(0, WORD + 2).unwrap(),
            (Err(Error::NoSpace { .. }), Ok(at)) => {
                assert_eq!(at, WORD - 2);
                assert_eq!(p.avail(), units - 4);
                p.free(at, 4).unwrap();
            }
            other => panic!("both or neither claim won: {other:?}"),
        }
        all_free(&p, units);
    });
}

#[test]
fn a_free_measures_its_block_while_a_neighbour_is_claimed() {
    model(|| {
        let units = WORD + 4;
        let p = pool(units);
        // The block ends exactly where the racing claim begins, across the boundary.
        p.alloc_with(WORD - 1, Fit::Fixed { offset: 0 }).unwrap();
        let q = p.clone();
        let t = thread::spawn(move || q.alloc_with(3, Fit::Fixed { offset: WORD - 1 }));
        assert_eq!(p.free(0, WORD - 1), Ok(()));
        assert_eq!(t.join().unwrap(), Ok(WORD - 1));
        assert_eq!(p.avail(), units - 3);
        p.free(WORD - 1, 3).unwrap();
        all_free(&p, units);
    });
}

/// While a straddling block is being freed its start unit stays taken until its tail
/// in the next word is gone; a one-unit block claimed at that start must measure one
/// unit, never run on into the old tail.
#[test]
fn a_block_being_freed_keeps_its_start_until_its_tail_is_gone() {
    model(|| {
        let p = pool(WORD + 2);
        let at = p.alloc_with(4, Fit::Fixed { offset: WORD - 2 }).unwrap();
        let q = p.clone();
        let t = thread::spawn(move || q.free(at, 4));
        if let Ok(again) = p.alloc_with(1, Fit::Fixed { offset: WORD - 2 }) {
            assert_eq!(p.free(again, 1), Ok(()));
        }
        assert_eq!(t.join().unwrap(), Ok(()));
        all_free(&p, WORD + 2);
    });
}

#[test]
fn racing_double_frees_free_once() {
    model(|| {
        let p = pool(WORD + 2);
        let at = p.alloc_with(4, Fit::Fixed { offset: WORD - 2 }).unwrap();
        let q = p.clone();
        let t = thread::spawn(move || q.free(at, 4));
        let mine = p.free(at, 4);
        let theirs = t.join().unwrap();
        let wins = [mine, theirs].iter().filter(|r| r.is_ok()).count();
        assert_eq!(wins, 1, "{mine:?} {theirs:?}");
        let lost = if mine.is_ok() { theirs } else { mine };
        assert_eq!(lost, Err(Error::NotAllocated { start: at }));
        all_free(&p, WORD + 2);
    });
}

/// Three claims race for a six-unit hole that straddles a word boundary. A straddling
/// claim is visible in its first word before it may lose the second and roll back, so
/// a racing search can be pushed past free units (as in Linux genalloc): an allocation
/// may fail or land higher than sequential first fit would place it, but the winners
/// never overlap and no unit is lost or doubled.
#[test]
fn three_threads_share_a_straddling_hole() {
    model(|| {
        let units = WORD + 3;
        let p = pool(units);
        p.alloc_with(WORD - 3, Fit::Fixed { offset: 0 }).unwrap();
        let spawn = |p: &Arc<GenPool>| {
            let q = p.clone();
            thread::spawn(move || q.alloc(2))
        };
        let (t1, t2) = (spawn(&p), spawn(&p));
        let mine = p.alloc(2);
        let results = [mine, t1.join().unwrap(), t2.join().unwrap()];
        let mut won = Vec::new();
        for r in results {
            match r {
                Ok(at) => won.push((at, 2)),
                Err(Error::NoSpace { .. }) => {}
                Err(e) => panic!("unexpected {e}"),
            }
        }
        assert!(!won.is_empty(), "every claim lost: {results:?}");
        for (i, &a) in won.iter().enumerate() {
            assert!(
                a.0 >= WORD - 3 && a.0 + 2 <= units,
                "{a:?} outside the hole"
            );
            for &b in &won[i + 1..] {
                assert!(disjoint(a, b), "{a:?} overlaps {b:?}");
            }
        }
        assert_eq!(p.avail(), 6 - 2 * won.len());
        for (at, size) in won {
            p.free(at, size).unwrap();
        }
        p.free(0, WORD - 3).unwrap();
        all_free(&p, units);
    });
}
