//! Loom models of the lock-free genalloc paths: every interleaving (up to the
//! preemption bound in `LOOM_MAX_PREEMPTIONS`) of two and three threads allocating and
//! freeing inside one bitmap word and across a word boundary, of racing changes that
//! both have to reach a chunk's free-run summary (under loom a summary leaf is one
//! bitmap word, so a chunk of more than `WORD` units has a tree), and of chunks added
//! while other threads allocate, free and walk the chunk list, or add chunks too.
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

/// Everything is free and in one run again: no unit lost, and the summary (if the
/// chunk has one) has folded in every change.
fn all_free(pool: &GenPool, units: usize) {
    assert!(pool.summaries_settled());
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
    model_seeing(&["main won", "spawned won"], || {
        let units = WORD + 4;
        let p = pool(units);
        let q = p.clone();
        // One claim straddles the boundary, the other wants both words too: exactly
        // one of them can win, whatever the interleaving.
        let t = thread::spawn(move || q.alloc_with(4, Fit::Fixed { offset: WORD - 2 }));
        let mine = p.alloc(WORD + 2);
        let theirs = t.join().unwrap();
        let o = match (mine, theirs) {
            (Ok(0), Err(Error::NoSpace { .. })) => {
                p.free(0, WORD + 2).unwrap();
                "main won"
            }
            (Err(Error::NoSpace { .. }), Ok(at)) => {
                assert_eq!(at, WORD - 2);
                assert_eq!(p.avail(), units - 4);
                p.free(at, 4).unwrap();
                "spawned won"
            }
            other => panic!("both or neither claim won: {other:?}"),
        };
        all_free(&p, units);
        o
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
    model_seeing(&["main won", "spawned won"], || {
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
        if mine.is_ok() {
            "main won"
        } else {
            "spawned won"
        }
    });
}

/// A block that covers a whole word releases that word with a plain store and claims
/// it with one compare-exchange against 0; the word at its end it shares with a
/// neighbour, which must keep its units. A claim that straddles the whole word and the
/// last one wins only once the free has let go of both, and never loses to it.
#[test]
fn a_block_s_whole_words_go_back_without_touching_its_neighbour() {
    model_seeing(&["straddle won", "straddle lost"], || {
        let units = 2 * WORD + 4;
        let p = pool(units);
        let (at, len) = (WORD - 2, WORD + 3);
        p.alloc_with(len, Fit::Fixed { offset: at }).unwrap();
        let right = p.alloc_with(2, Fit::Fixed { offset: at + len }).unwrap();
        let q = p.clone();
        let t = thread::spawn(move || {
            q.alloc_with(
                2,
                Fit::Fixed {
                    offset: 2 * WORD - 1,
                },
            )
        });
        assert_eq!(p.free(at, len), Ok(()));
        let outcome = match t.join().unwrap() {
            Ok(s) => {
                assert_eq!(s, 2 * WORD - 1);
                assert_eq!(p.avail(), units - 4);
                p.free(s, 2).unwrap();
                "straddle won"
            }
            Err(Error::NoSpace { .. }) => "straddle lost",
            Err(e) => panic!("unexpected {e}"),
        };
        assert_eq!(p.avail(), units - 2);
        assert_eq!(p.free(right, 2), Ok(()));
        assert_eq!(p.avail(), units);
        outcome
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

// --- The free-run summary ----------------------------------------------------------
//
// Every claim and free tells the chunk's summary tree; one thread at a time folds the
// changes in and a thread that finds that role taken leaves its leaf in the stale set.
// A change the tree missed for good would make a later first fit skip a free run (or
// fail with `NoSpace` while the tree counts as settled), and `largest_free` reads the
// tree's root: these models check both once the threads are done.

#[test]
fn a_free_and_an_allocation_in_two_leaves_both_reach_the_summary() {
    model_seeing(&["saw the free", "missed the free"], || {
        let units = 2 * WORD;
        let p = pool(units);
        // Leaf 0 is full; leaf 1 starts with a 4-unit block.
        p.alloc_with(WORD, Fit::Fixed { offset: 0 }).unwrap();
        p.alloc_with(4, Fit::Fixed { offset: WORD }).unwrap();
        let q = p.clone();
        let t = thread::spawn(move || q.free(0, WORD));
        let mine = p.alloc(2).unwrap();
        assert_eq!(t.join().unwrap(), Ok(()));
        assert!(p.summaries_settled());
        let (outcome, longest) = match mine {
            0 => ("saw the free", WORD - 2),
            at if at == WORD + 4 => ("missed the free", WORD),
            at => panic!("first fit put 2 units at {at}"),
        };
        assert_eq!(p.largest_free(), longest);
        // The tree is exact again: the lowest fits come back in address order.
        let next = p.alloc(2).unwrap();
        assert_eq!(next, if mine == 0 { 2 } else { 0 });
        p.free(next, 2).unwrap();
        p.free(mine, 2).unwrap();
        p.free(WORD, 4).unwrap();
        all_free(&p, units);
        outcome
    });
}

#[test]
fn two_frees_in_two_leaves_merge_in_the_summary() {
    model(|| {
        let units = 2 * WORD;
        let p = pool(units);
        // Two blocks that meet at the leaf boundary; the rest is taken.
        p.alloc_with(WORD - 4, Fit::Fixed { offset: 0 }).unwrap();
        p.alloc_with(4, Fit::Fixed { offset: WORD - 4 }).unwrap();
        p.alloc_with(4, Fit::Fixed { offset: WORD }).unwrap();
        p.alloc_with(WORD - 4, Fit::Fixed { offset: WORD + 4 })
            .unwrap();
        assert_eq!(p.largest_free(), 0);
        let q = p.clone();
        let t = thread::spawn(move || q.free(WORD, 4));
        assert_eq!(p.free(WORD - 4, 4), Ok(()));
        assert_eq!(t.join().unwrap(), Ok(()));
        assert!(p.summaries_settled());
        // Both leaves and the root saw their free: one 8-unit run across the boundary,
        // found by first fit through the tree.
        assert_eq!(p.largest_free(), 8);
        assert_eq!(p.alloc(8), Ok(WORD - 4));
        assert_eq!(p.largest_free(), 0);
    });
}

/// A free strictly inside one leaf only stores that leaf and names it pending; searches
/// fold it into its ancestors. Here a claim in the last leaf (which changes that
/// leaf's ends, so it brings the pending leaf's path up to date first) races a first
/// fit that must find the pending hole whether it reads the tree before, during or
/// after that update. Three leaves make a tree with an inner level below the root,
/// whose node over the pending leaf knows no free unit until the update. (The search
/// runs on the spawned thread: the other way round loom explores too few orders to
/// catch an update that names no pending leaf before its path is current.)
#[test]
fn a_pending_free_is_found_while_another_change_folds_it_in() {
    model(|| {
        let units = 3 * WORD;
        let p = pool(units);
        // A 2-unit block strictly inside leaf 0, then everything taken but the last
        // four units.
        for (offset, size) in [(0, 5), (5, 2), (7, units - 11)] {
            p.alloc_with(size, Fit::Fixed { offset }).unwrap();
        }
        // A search that needs the tree: the next changes fold in at once.
        assert_eq!(p.largest_free(), 4);
        p.free(5, 2).unwrap();
        let q = p.clone();
        let t = thread::spawn(move || q.alloc(2));
        let fixed = Fit::Fixed { offset: units - 4 };
        assert_eq!(p.alloc_with(1, fixed), Ok(units - 4));
        assert_eq!(
            t.join().unwrap(),
            Ok(5),
            "first fit missed the pending free"
        );
        assert!(p.summaries_settled());
        assert_eq!(p.largest_free(), 3);
        assert_eq!(p.alloc(3), Ok(units - 3));
    });
}

/// Once a few changes pass without a search that needs the tree, changes only publish
/// their leaves in the stale set, and the next search that needs the tree folds them
/// in. Here the freed block's leaf is already stale when the free publishes it again,
/// while a first fit (whose head is full, so it needs the tree) drains the set: the
/// free must reach the tree either way.
#[test]
fn a_deferred_free_reaches_the_summary_while_a_search_drains_it() {
    model_seeing(&["saw the free", "missed the free"], || {
        let units = 3 * WORD;
        let p = pool(units);
        // Leaf 0 full, leaf 1 full with a 4-unit block at its start, one unit taken in
        // leaf 2: enough changes without a tree search to start deferring.
        for (offset, size) in [(0, WORD), (WORD, 4), (WORD + 4, WORD - 5), (2 * WORD, 1)] {
            p.alloc_with(size, Fit::Fixed { offset }).unwrap();
        }
        // Deferred: leaf 1 is now in the stale set.
        p.alloc_with(
            1,
            Fit::Fixed {
                offset: 2 * WORD - 1,
            },
        )
        .unwrap();
        let q = p.clone();
        let t = thread::spawn(move || q.free(WORD, 4));
        let mine = p.alloc(2).unwrap();
        assert_eq!(t.join().unwrap(), Ok(()));
        assert!(p.summaries_settled());
        let (outcome, next) = match mine {
            at if at == WORD => ("saw the free", WORD + 2),
            at if at == 2 * WORD + 1 => ("missed the free", WORD),
            at => panic!("first fit put 2 units at {at}"),
        };
        // The tree is exact again: the freed block is the lowest fit.
        assert_eq!(p.alloc(2), Ok(next));
        outcome
    });
}

/// A deferred change counts its leaf in `dirty` before it publishes it, so a drain that
/// swaps the leaf out cannot count it off before it was counted. Were the count to
/// come second, a drain could take a racing free's leaf (published, not yet counted)
/// along with an earlier stale one and subtract both, leaving `dirty` one short; the
/// next deferred change would then count its own leaf back up to 0 and return, and a
/// first fit right after it would trust a tree that misses its run and answer
/// `NoSpace`. Here the main thread drains while the spawned free publishes, then frees
/// a block and asks for exactly that block's size.
#[test]
fn a_drain_never_counts_off_a_leaf_before_its_publisher_counted_it() {
    model_seeing(&["drained everything", "a publish pending"], || {
        let units = 3 * WORD;
        let p = pool(units);
        // Leaf 0 full (first fit's head holds nothing), a 1-unit block at the start of
        // leaf 2 and a 4-unit block at the start of leaf 1, the rest taken: the fifth
        // change is deferred, so leaf 1 is stale and counted when the threads start.
        for (offset, size) in [
            (0, WORD),
            (2 * WORD, 1),
            (2 * WORD + 1, WORD - 1),
            (WORD, 4),
            (WORD + 4, WORD - 4),
        ] {
            p.alloc_with(size, Fit::Fixed { offset }).unwrap();
        }
        let q = p.clone();
        let t = thread::spawn(move || q.free(2 * WORD, 1));
        // Drains without a search, so changes stay deferred.
        let outcome = if p.summaries_settled() {
            "drained everything"
        } else {
            "a publish pending"
        };
        assert_eq!(p.free(WORD, 4), Ok(()));
        // The only free run of 4 units is the block just freed.
        assert_eq!(p.alloc(4), Ok(WORD), "first fit missed a returned free");
        assert_eq!(t.join().unwrap(), Ok(()));
        // Every change reached the tree: the spawned free's unit is the one run left.
        assert!(p.summaries_settled());
        assert_eq!(p.alloc(1), Ok(2 * WORD));
        outcome
    });
}

/// The free tail after the last block is left out of the summary tree: its leaves read
/// every unit from the tail on as busy. A free that reaches the tail moves it down over
/// the free run before the block, and the leaves under that run then read busy too,
/// so a search that read the old tail and then those leaves would see the run in
/// neither. Here the run is a 2-unit hole at the end of leaf 0 and the freed block is
/// all of leaf 1: the search, working out where the free run before the old tail
/// starts, takes leaf 0's free end from its node, which the move already cleared. The
/// search must notice the move and take the hole (it runs on the spawned thread, as
/// in the pending model above).
#[test]
fn a_search_that_overlaps_a_tail_move_down_still_finds_the_run_it_hid() {
    model(|| {
        let units = 3 * WORD;
        let p = pool(units);
        // Leaf 0 taken but for its last two units, leaf 1 one block, leaf 2 the tail.
        for (offset, size) in [(0, WORD - 2), (WORD - 2, 2), (WORD, WORD)] {
            p.alloc_with(size, Fit::Fixed { offset }).unwrap();
        }
        p.free(WORD - 2, 2).unwrap();
        // A search that needs the tree: the next changes fold in at once.
        assert_eq!(p.largest_free(), WORD);
        let q = p.clone();
        let t = thread::spawn(move || q.alloc(2));
        assert_eq!(p.free(WORD, WORD), Ok(()));
        assert_eq!(
            t.join().unwrap(),
            Ok(WORD - 2),
            "first fit missed a hole the tail took"
        );
        p.free(WORD - 2, 2).unwrap();
        p.free(0, WORD - 2).unwrap();
        all_free(&p, units);
    });
}

/// A claim that starts past the tail (here a fixed one) moves the tail past it and
/// makes the free units it skipped visible in the tree's leaves again. A search that
/// read the new tail but those leaves from before the move would see the skipped
/// units nowhere and put its request after the claim.
#[test]
fn a_search_that_overlaps_a_tail_move_up_still_finds_the_units_it_skipped() {
    model(|| {
        let units = 3 * WORD;
        let p = pool(units);
        p.alloc_with(WORD, Fit::Fixed { offset: 0 }).unwrap();
        assert_eq!(p.largest_free(), 2 * WORD);
        let q = p.clone();
        let t = thread::spawn(move || q.alloc(2));
        let fixed = Fit::Fixed { offset: WORD + 8 };
        assert_eq!(p.alloc_with(4, fixed), Ok(WORD + 8));
        assert_eq!(
            t.join().unwrap(),
            Ok(WORD),
            "first fit skipped the units before a claim past the tail"
        );
        assert!(p.summaries_settled());
        assert_eq!(p.largest_free(), 2 * WORD - 12);
        assert_eq!(p.alloc(6), Ok(WORD + 2));
        assert_eq!(p.alloc(1), Ok(WORD + 12));
    });
}

// --- Chunks added while the pool is in use ------------------------------------------
//
// `add_chunk` publishes a node with a compare-exchange on the list head while other
// threads walk the list. These models check that a walker sees a new chunk either not
// at all or complete (addresses, size, a free bitmap), that a claim or free in an old
// chunk is not disturbed by the publication, and that two racing adds keep the
// no-overlap rule (the loser of the head race re-checks the chunk that beat it).
//
// loom 0.7 stops exploring when a spawned thread's first atomic access is a load that
// its own later write depends on (tokio-rs/loom#392): a spawned `add_chunk` ran in one
// interleaving only. So the adds run on the model's main thread, and every model
// records which outcomes it saw and asserts that each possible one was explored:
// a model that explored one interleaving fails instead of passing vacuously.

/// Runs `f` under [`model`]; `f` names the outcome of each interleaving, and every
/// name in `expected` must come up at least once (and nothing else).
fn model_seeing(
    expected: &'static [&'static str],
    f: impl Fn() -> &'static str + Send + Sync + 'static,
) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(std::collections::BTreeSet::new()));
    let record = seen.clone();
    model(move || {
        let outcome = f();
        record.lock().unwrap().insert(outcome);
    });
    let seen: Vec<_> = seen.lock().unwrap().iter().copied().collect();
    let mut want = expected.to_vec();
    want.sort_unstable();
    assert_eq!(seen, want, "outcomes explored");
}

/// A pool whose only chunk is `units` granules at address 0, every one of them taken
/// by one block, so an allocation can only succeed in a chunk added later.
fn full_pool(units: usize) -> Arc<GenPool> {
    let p = pool(units);
    p.alloc_with(units, Fit::Fixed { offset: 0 }).unwrap();
    p
}

/// The chunk the models add: 4 one-byte granules at 0x100, physical 0x8000_0100.
const NEW_VIRT: usize = 0x100;
const NEW_PHYS: u64 = 0x8000_0100;
const NEW_UNITS: usize = 4;

#[test]
fn add_chunk_races_allocate() {
    model_seeing(&["saw the new chunk", "missed the new chunk"], || {
        let p = full_pool(2);
        let q = p.clone();
        // The old chunk is full: this claim succeeds only if it sees the new chunk,
        // and then it must land at its start.
        let t = thread::spawn(move || q.alloc(3));
        assert_eq!(p.add_chunk(NEW_VIRT, NEW_PHYS, NEW_UNITS, ()), Ok(()));
        let outcome = match t.join().unwrap() {
            Ok(at) => {
                assert_eq!(at, NEW_VIRT, "first fit in the new chunk");
                assert_eq!(p.avail(), NEW_UNITS - 3);
                p.free(at, 3).unwrap();
                "saw the new chunk"
            }
            Err(Error::NoSpace { .. }) => "missed the new chunk",
            Err(e) => panic!("unexpected {e}"),
        };
        // Once the add has returned, every walker sees the new chunk, whole and free.
        assert_eq!(p.avail(), NEW_UNITS);
        assert_eq!(p.alloc(NEW_UNITS), Ok(NEW_VIRT));
        p.free(NEW_VIRT, NEW_UNITS).unwrap();
        p.free(0, 2).unwrap();
        assert_eq!(p.avail(), 2 + NEW_UNITS);
        outcome
    });
}

#[test]
fn add_chunk_races_free_in_an_old_chunk_and_a_stray_free_in_the_new_one() {
    model_seeing(&["not in pool", "not allocated"], || {
        let p = full_pool(2);
        let q = p.clone();
        let t = thread::spawn(move || {
            // The free in the old chunk succeeds whatever the head is meanwhile.
            assert_eq!(q.free(0, 2), Ok(()));
            // A free inside the new chunk is outside the pool (not published yet) or
            // of memory never allocated: never accepted, never counted.
            q.free(NEW_VIRT, 1)
        });
        assert_eq!(p.add_chunk(NEW_VIRT, NEW_PHYS, NEW_UNITS, ()), Ok(()));
        let outcome = match t.join().unwrap() {
            Err(Error::AddressNotInPool { addr: NEW_VIRT }) => "not in pool",
            Err(Error::NotAllocated { start: NEW_VIRT }) => "not allocated",
            other => panic!("stray free: {other:?}"),
        };
        assert_eq!(p.avail(), 2 + NEW_UNITS);
        // Both chunks are whole: the new one first, then the old one from address 0.
        assert_eq!(p.alloc(NEW_UNITS), Ok(NEW_VIRT));
        assert_eq!(p.alloc(2), Ok(0));
        outcome
    });
}

#[test]
fn add_chunk_races_chunk_iteration() {
    model_seeing(&["saw the new chunk", "missed the new chunk"], || {
        let p = pool(2);
        let q = p.clone();
        let t = thread::spawn(move || {
            // Every reader sees the new chunk complete or not at all, and once seen it
            // stays (the list only grows).
            let phys = q.virt_to_phys(NEW_VIRT + 3);
            let old = (0, Some(0), 2, 2);
            let new = (NEW_VIRT, Some(NEW_PHYS), NEW_UNITS, NEW_UNITS);
            let chunks: Vec<_> = q
                .chunks()
                .map(|c| (c.virt, c.phys, c.size, c.avail))
                .collect();
            let (inside, size, avail) = (q.has_addr(NEW_VIRT, NEW_UNITS), q.size(), q.avail());
            match phys {
                None => {
                    assert!(chunks == [old] || chunks == [new, old], "{chunks:?}");
                    assert!(size == 2 || size == 2 + NEW_UNITS, "size {size}");
                    assert!(avail == 2 || avail == 2 + NEW_UNITS, "avail {avail}");
                    "missed the new chunk"
                }
                Some(pa) => {
                    assert_eq!(pa, NEW_PHYS + 3);
                    assert_eq!(chunks, [new, old]);
                    assert!(inside);
                    assert_eq!((size, avail), (2 + NEW_UNITS, 2 + NEW_UNITS));
                    "saw the new chunk"
                }
            }
        });
        assert_eq!(p.add_chunk(NEW_VIRT, NEW_PHYS, NEW_UNITS, ()), Ok(()));
        let outcome = t.join().unwrap();
        assert_eq!(p.virt_to_phys(NEW_VIRT + 3), Some(NEW_PHYS + 3));
        assert!(p.has_addr(NEW_VIRT, NEW_UNITS));
        assert!(!p.has_addr(NEW_VIRT, NEW_UNITS + 1));
        assert_eq!((p.size(), p.avail()), (2 + NEW_UNITS, 2 + NEW_UNITS));
        outcome
    });
}

#[test]
fn two_racing_disjoint_add_chunks_both_land() {
    model_seeing(&["spawned first", "main first"], || {
        let p = Arc::new(GenPool::new(0));
        let q = p.clone();
        let t = thread::spawn(move || q.add_chunk(0, 0x1000, 2, ()));
        let mine = p.add_chunk(NEW_VIRT, NEW_PHYS, NEW_UNITS, ());
        assert_eq!((mine, t.join().unwrap()), (Ok(()), Ok(())));
        let seen: Vec<_> = p.chunks().map(|c| (c.virt, c.phys, c.size)).collect();
        let (a, b) = ((0, Some(0x1000), 2), (NEW_VIRT, Some(NEW_PHYS), NEW_UNITS));
        assert_eq!((p.size(), p.avail()), (2 + NEW_UNITS, 2 + NEW_UNITS));
        assert_eq!(p.virt_to_phys(1), Some(0x1001));
        // Newest first: the order tells which publication came second.
        if seen == [b, a] {
            "spawned first"
        } else {
            assert_eq!(seen, [a, b]);
            "main first"
        }
    });
}

#[test]
fn two_racing_overlapping_add_chunks_exactly_one_lands() {
    model_seeing(&["spawned won", "main won"], || {
        let p = Arc::new(GenPool::new(0));
        let q = p.clone();
        // [0x100, 0x104) and [0x102, 0x106) share two bytes.
        let t = thread::spawn(move || q.add_chunk(NEW_VIRT + 2, 0x9000, NEW_UNITS, ()));
        let mine = p.add_chunk(NEW_VIRT, NEW_PHYS, NEW_UNITS, ());
        let theirs = t.join().unwrap();
        let (winner, loser, outcome) = match (mine, theirs) {
            (Ok(()), Err(e)) => ((NEW_VIRT, NEW_PHYS), e, "main won"),
            (Err(e), Ok(())) => ((NEW_VIRT + 2, 0x9000), e, "spawned won"),
            other => panic!("both or neither add won: {other:?}"),
        };
        let Error::ChunkOverlap { existing_virt, .. } = loser else {
            panic!("unexpected {loser}");
        };
        assert_eq!(existing_virt, winner.0);
        let existing = p.chunks().find(|c| c.virt == existing_virt);
        assert_eq!(existing.map(|c| c.size), Some(NEW_UNITS));
        let seen: Vec<_> = p.chunks().map(|c| (c.virt, c.phys)).collect();
        assert_eq!(seen, [(winner.0, Some(winner.1))]);
        assert_eq!((p.size(), p.avail()), (NEW_UNITS, NEW_UNITS));
        outcome
    });
}
