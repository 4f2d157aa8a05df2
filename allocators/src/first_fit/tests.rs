//! Edge cases of the first-fit backend, and its internal invariants after every step of
//! a seeded random run.

use alloc::vec::Vec;

use super::FirstFit;
use crate::{Backend, Error, Extent, Request, Stats};

/// Checks what only the implementation can see: the pieces tile the space, free
/// neighbours are merged, the tree is balanced and augmented, and the counters agree.
fn check_invariants(ff: &FirstFit) {
    let (pieces, _) = ff.tree.check().unwrap();
    let mut next = 0;
    for pair in pieces.windows(2) {
        assert!(
            !(pair[0].free && pair[1].free),
            "unmerged neighbours {pair:?}"
        );
    }
    for p in &pieces {
        assert_eq!(p.start, next, "pieces do not tile: {pieces:?}");
        assert!(p.len > 0);
        next = p.end();
    }
    assert_eq!(next, ff.capacity);
    let free: Vec<_> = pieces.iter().filter(|p| p.free).collect();
    assert_eq!(ff.free_extents, free.len());
    assert_eq!(ff.free_units, free.iter().map(|p| p.len).sum::<usize>());
    assert_eq!(ff.live, pieces.len() - free.len());
    assert!(ff.free_extents <= ff.live + 1);
    let top = ff.floors.iter().map(|floor| floor.at).max().unwrap_or(0);
    assert_eq!(ff.floor_top, top, "the highest floor");
}

fn allocations(ff: &FirstFit) -> Vec<Extent> {
    let mut out = Vec::new();
    ff.for_each_allocation(&mut |e| out.push(e));
    out
}

/// Runs `op` expecting `want`, and checks that a failure changed nothing.
fn expect_err<T: core::fmt::Debug>(
    ff: &mut FirstFit,
    want: Error,
    op: impl FnOnce(&mut FirstFit) -> Result<T, Error>,
) {
    let (stats, live) = (ff.stats(), allocations(ff));
    let got = op(ff);
    assert_eq!(got.map(|_| ()), Err(want));
    assert_eq!(ff.stats(), stats);
    assert_eq!(allocations(ff), live);
    check_invariants(ff);
}

fn stats_of(ff: &FirstFit) -> (usize, usize, usize, usize) {
    let Stats {
        free,
        largest_free,
        free_extents,
        live_allocations,
        ..
    } = ff.stats();
    (free, largest_free, free_extents, live_allocations)
}

#[test]
fn zero_units_are_errors_everywhere() {
    let mut ff = FirstFit::new(16, 0, 4).unwrap();
    expect_err(&mut ff, Error::ZeroCount, |f| f.allocate(Request::new(0)));
    expect_err(&mut ff, Error::ZeroCount, |f| f.claim(0, 0));
    expect_err(&mut ff, Error::ZeroCount, |f| f.free(0, 0));
    // Zero wins over every later check.
    expect_err(&mut ff, Error::ZeroCount, |f| {
        f.allocate(Request::new(0).aligned(3).within(9, 2))
    });
    expect_err(&mut ff, Error::ZeroCount, |f| f.free(99, 0));
}

#[test]
fn one_unit_and_exactly_the_capacity() {
    let mut ff = FirstFit::new(1, 0, 4).unwrap();
    assert_eq!(ff.allocate(Request::new(1)), Ok(0));
    assert_eq!(stats_of(&ff), (0, 0, 0, 1));
    ff.free(0, 1).unwrap();

    let mut ff = FirstFit::new(64, 5, 4).unwrap();
    assert_eq!(ff.allocate(Request::new(64)), Ok(0));
    expect_err(&mut ff, Error::NoSpace { count: 1, align: 1 }, |f| {
        f.allocate(Request::new(1))
    });
    ff.free(0, 64).unwrap();
    assert_eq!(stats_of(&ff), (64, 64, 1, 0));
    check_invariants(&ff);
}

#[test]
fn capacity_plus_one_is_no_space_or_out_of_bounds() {
    let mut ff = FirstFit::new(64, 0, 4).unwrap();
    expect_err(
        &mut ff,
        Error::NoSpace {
            count: 65,
            align: 1,
        },
        |f| f.allocate(Request::new(65)),
    );
    let oob = |start, count| Error::OutOfBounds {
        start,
        count,
        capacity: 64,
    };
    expect_err(&mut ff, oob(0, 65), |f| f.claim(0, 65));
    expect_err(&mut ff, oob(63, 2), |f| f.claim(63, 2));
    expect_err(&mut ff, oob(usize::MAX, 2), |f| f.claim(usize::MAX, 2));
    expect_err(&mut ff, oob(64, 1), |f| f.free(64, 1));
    expect_err(&mut ff, oob(1, usize::MAX), |f| f.free(1, usize::MAX));
    expect_err(&mut ff, oob(0, 65), |f| f.free(0, 65));
}

#[test]
fn alignment_is_absolute_and_checked() {
    // Offset 0 is absolute unit 3: 8-aligned offsets are 5, 13, 21, ...
    let mut ff = FirstFit::new(64, 3, 8).unwrap();
    assert_eq!(ff.allocate(Request::new(1).aligned(8)), Ok(5));
    assert_eq!(ff.allocate(Request::new(2).aligned(8)), Ok(13));
    assert_eq!(ff.allocate(Request::new(5)), Ok(0));
    assert_eq!(ff.allocate(Request::new(1).aligned(4)), Ok(9));
    for align in [0, 3, 6, 12, usize::MAX] {
        expect_err(&mut ff, Error::AlignNotPowerOfTwo { align }, |f| {
            f.allocate(Request::new(1).aligned(align))
        });
    }
}

#[test]
fn alignment_larger_than_the_region() {
    // Phase 0: offset 0 is aligned to everything, even 2^40.
    let mut ff = FirstFit::new(16, 0, 4).unwrap();
    assert_eq!(ff.allocate(Request::new(4).aligned(1 << 40)), Ok(0));
    expect_err(
        &mut ff,
        Error::NoSpace {
            count: 1,
            align: 32,
        },
        |f| f.allocate(Request::new(1).aligned(32)),
    );
    // Phase 3: the next 32-aligned unit is offset 29, past the end.
    let mut ff = FirstFit::new(16, 3, 4).unwrap();
    expect_err(
        &mut ff,
        Error::NoSpace {
            count: 1,
            align: 32,
        },
        |f| f.allocate(Request::new(1).aligned(32)),
    );
    // Phase near usize::MAX: alignment arithmetic wraps instead of overflowing.
    let mut ff = FirstFit::new(16, usize::MAX - 1, 4).unwrap();
    assert_eq!(ff.allocate(Request::new(1).aligned(16)), Ok(2));
    expect_err(
        &mut ff,
        Error::NoSpace {
            count: 1,
            align: 1 << 63,
        },
        |f| f.allocate(Request::new(1).aligned(1 << 63)),
    );
}

#[test]
fn windows_at_either_end_and_invalid_ones() {
    let mut ff = FirstFit::new(100, 0, 8).unwrap();
    assert_eq!(ff.allocate(Request::new(4).within(0, 4)), Ok(0));
    assert_eq!(ff.allocate(Request::new(4).within(96, 100)), Ok(96));
    expect_err(&mut ff, Error::NoSpace { count: 1, align: 1 }, |f| {
        f.allocate(Request::new(1).within(99, 100))
    });
    assert_eq!(ff.allocate(Request::new(2).within(90, 100)), Ok(90));
    assert_eq!(
        ff.allocate(Request::new(3).within(10, 40).aligned(16)),
        Ok(16)
    );
    expect_err(&mut ff, Error::NoSpace { count: 5, align: 1 }, |f| {
        f.allocate(Request::new(5).within(0, 4))
    });
    let invalid = |lo, hi| Error::InvalidWindow {
        lo,
        hi,
        capacity: 100,
    };
    expect_err(&mut ff, invalid(50, 50), |f| {
        f.allocate(Request::new(1).within(50, 50))
    });
    expect_err(&mut ff, invalid(60, 50), |f| {
        f.allocate(Request::new(1).within(60, 50))
    });
    expect_err(&mut ff, invalid(0, 101), |f| {
        f.allocate(Request::new(1).within(0, 101))
    });
    // The window is checked before the count fits anywhere.
    expect_err(&mut ff, invalid(0, 101), |f| {
        f.allocate(Request::new(1000).within(0, 101))
    });
}

#[test]
fn bad_frees_are_typed_and_change_nothing() {
    let mut ff = FirstFit::new(64, 0, 8).unwrap();
    let a = ff.allocate(Request::new(8)).unwrap();
    let b = ff.allocate(Request::new(4)).unwrap();
    assert_eq!((a, b), (0, 8));
    expect_err(&mut ff, Error::NotAllocated { start: 12 }, |f| {
        f.free(12, 4)
    });
    expect_err(&mut ff, Error::NotAllocated { start: 63 }, |f| {
        f.free(63, 1)
    });
    expect_err(&mut ff, Error::NotAllocationStart { start: 3 }, |f| {
        f.free(3, 5)
    });
    expect_err(&mut ff, Error::NotAllocationStart { start: 11 }, |f| {
        f.free(11, 1)
    });
    expect_err(
        &mut ff,
        Error::WrongCount {
            start: 0,
            count: 12,
            actual: 8,
        },
        |f| f.free(0, 12),
    );
    expect_err(
        &mut ff,
        Error::WrongCount {
            start: 8,
            count: 3,
            actual: 4,
        },
        |f| f.free(8, 3),
    );
    ff.free(8, 4).unwrap();
    // Double free.
    expect_err(&mut ff, Error::NotAllocated { start: 8 }, |f| f.free(8, 4));
    assert_eq!(allocations(&ff), [Extent::new(0, 8)]);
    check_invariants(&ff);
}

#[test]
fn fragmentation_reports_the_largest_hole() {
    let mut ff = FirstFit::new(64, 0, 32).unwrap();
    for i in 0..16 {
        assert_eq!(ff.allocate(Request::new(4)), Ok(i * 4));
    }
    expect_err(&mut ff, Error::NoSpace { count: 1, align: 1 }, |f| {
        f.allocate(Request::new(1))
    });
    for i in (0..16).step_by(2) {
        ff.free(i * 4, 4).unwrap();
    }
    assert_eq!(stats_of(&ff), (32, 4, 8, 8));
    assert_eq!(ff.stats().fragmentation_permille(), 875);
    expect_err(&mut ff, Error::NoSpace { count: 5, align: 1 }, |f| {
        f.allocate(Request::new(5))
    });
    // A hole that fits is still found, lowest first.
    assert_eq!(ff.allocate(Request::new(4)), Ok(0));
    assert_eq!(ff.allocate(Request::new(2).aligned(4)), Ok(8));
    assert_eq!(ff.allocate(Request::new(2)), Ok(10));
    check_invariants(&ff);
}

#[test]
fn too_many_allocations_counts_claims_and_recovers() {
    let mut ff = FirstFit::new(64, 0, 3).unwrap();
    assert_eq!(ff.max_allocations(), 3);
    ff.claim(10, 5).unwrap();
    assert_eq!(ff.allocate(Request::new(1)), Ok(0));
    assert_eq!(ff.allocate(Request::new(1)), Ok(1));
    let full = Error::TooManyAllocations { limit: 3 };
    expect_err(&mut ff, full, |f| f.allocate(Request::new(1)));
    expect_err(&mut ff, full, |f| f.claim(40, 1));
    // Earlier checks still win over the limit.
    expect_err(
        &mut ff,
        Error::RangeBusy {
            start: 12,
            count: 1,
            first_busy: 12,
        },
        |f| f.claim(12, 1),
    );
    expect_err(&mut ff, Error::AlignNotPowerOfTwo { align: 5 }, |f| {
        f.allocate(Request::new(1).aligned(5))
    });
    ff.free(10, 5).unwrap();
    assert_eq!(ff.allocate(Request::new(20)), Ok(2));
    check_invariants(&ff);
}

#[test]
fn zero_max_allocations_refuses_everything() {
    let mut ff = FirstFit::new(64, 0, 0).unwrap();
    let full = Error::TooManyAllocations { limit: 0 };
    expect_err(&mut ff, full, |f| f.allocate(Request::new(1)));
    expect_err(&mut ff, full, |f| f.claim(0, 64));
    expect_err(&mut ff, Error::NotAllocated { start: 0 }, |f| f.free(0, 1));
    assert_eq!(stats_of(&ff), (64, 64, 1, 0));
}

#[test]
fn zero_capacity_never_panics() {
    let mut ff = FirstFit::new(0, 7, 16).unwrap();
    assert_eq!(
        ff.stats(),
        Stats {
            capacity: 0,
            free: 0,
            largest_free: 0,
            free_extents: 0,
            live_allocations: 0,
            metadata_bytes: 0,
        }
    );
    let none = Error::NoSpace { count: 1, align: 1 };
    expect_err(&mut ff, none, |f| f.allocate(Request::new(1)));
    let oob = Error::OutOfBounds {
        start: 0,
        count: 1,
        capacity: 0,
    };
    expect_err(&mut ff, oob, |f| f.claim(0, 1));
    expect_err(&mut ff, oob, |f| f.free(0, 1));
    expect_err(
        &mut ff,
        Error::InvalidWindow {
            lo: 0,
            hi: 1,
            capacity: 0,
        },
        |f| f.allocate(Request::new(1).within(0, 1)),
    );
}

#[test]
fn freeing_coalesces_with_both_neighbours() {
    let mut ff = FirstFit::new(40, 0, 8).unwrap();
    for i in 0..4 {
        assert_eq!(ff.allocate(Request::new(10)), Ok(i * 10));
    }
    assert_eq!(stats_of(&ff), (0, 0, 0, 4));
    ff.free(0, 10).unwrap();
    assert_eq!(stats_of(&ff), (10, 10, 1, 3));
    ff.free(20, 10).unwrap();
    assert_eq!(stats_of(&ff), (20, 10, 2, 2));
    // Merge with the previous extent and the next one at once.
    ff.free(10, 10).unwrap();
    assert_eq!(stats_of(&ff), (30, 30, 1, 1));
    // Merge with the previous extent and the end of the space.
    ff.free(30, 10).unwrap();
    assert_eq!(stats_of(&ff), (40, 40, 1, 0));
    check_invariants(&ff);

    // Merge with the next extent only.
    assert_eq!(ff.allocate(Request::new(10)), Ok(0));
    assert_eq!(ff.allocate(Request::new(10)), Ok(10));
    ff.free(10, 10).unwrap();
    assert_eq!(stats_of(&ff), (30, 30, 1, 1));
    ff.free(0, 10).unwrap();
    assert_eq!(stats_of(&ff), (40, 40, 1, 0));
    check_invariants(&ff);
}

#[test]
fn claim_splits_a_free_extent() {
    let mut ff = FirstFit::new(100, 0, 8).unwrap();
    ff.claim(40, 10).unwrap();
    assert_eq!(stats_of(&ff), (90, 50, 2, 1));
    assert_eq!(allocations(&ff), [Extent::new(40, 10)]);
    let busy = |start, count, first_busy| Error::RangeBusy {
        start,
        count,
        first_busy,
    };
    expect_err(&mut ff, busy(45, 1, 45), |f| f.claim(45, 1));
    expect_err(&mut ff, busy(30, 20, 40), |f| f.claim(30, 20));
    expect_err(&mut ff, busy(49, 5, 49), |f| f.claim(49, 5));
    // Claims at either edge of a free extent leave one free piece, not two.
    ff.claim(0, 5).unwrap();
    ff.claim(35, 5).unwrap();
    ff.claim(95, 5).unwrap();
    assert_eq!(stats_of(&ff), (75, 45, 2, 4));
    assert_eq!(ff.allocate(Request::new(30)), Ok(5));
    assert_eq!(stats_of(&ff), (45, 45, 1, 5));
    ff.free(40, 10).unwrap();
    assert_eq!(stats_of(&ff), (55, 55, 1, 4));
    expect_err(
        &mut ff,
        Error::NoSpace {
            count: 56,
            align: 1,
        },
        |f| f.allocate(Request::new(56)),
    );
    assert_eq!(ff.allocate(Request::new(55)), Ok(40));
    assert_eq!(stats_of(&ff), (0, 0, 0, 5));
    check_invariants(&ff);
}

#[test]
fn metadata_is_fixed_and_sized_by_the_node_budget() {
    let node = FirstFit::new(1, 0, 1).unwrap().stats().metadata_bytes;
    assert!(node > 0);
    // min(2 * min(max, capacity) + 1, capacity) nodes.
    assert_eq!(
        FirstFit::new(1000, 0, 16).unwrap().stats().metadata_bytes,
        33 * node
    );
    assert_eq!(
        FirstFit::new(10, 0, 16).unwrap().stats().metadata_bytes,
        10 * node
    );
    assert_eq!(
        FirstFit::new(1000, 0, 0).unwrap().stats().metadata_bytes,
        node
    );
    assert_eq!(
        FirstFit::new(4, 0, usize::MAX).unwrap().max_allocations(),
        FirstFit::MAX_ALLOCATIONS
    );
    let mut ff = FirstFit::new(1000, 0, 16).unwrap();
    let before = ff.stats().metadata_bytes;
    for _ in 0..16 {
        ff.allocate(Request::new(3)).unwrap();
    }
    assert_eq!(ff.stats().metadata_bytes, before);
}

#[test]
fn worst_case_node_budget_is_enough() {
    // Alternate allocations and holes until the limit: 2 * max + 1 pieces.
    let max = 8;
    let mut ff = FirstFit::new(64, 0, max).unwrap();
    for i in 0..max {
        ff.claim(2 * i + 1, 1).unwrap();
    }
    assert_eq!(stats_of(&ff), (64 - max, 64 - 2 * max, max + 1, max));
    assert_eq!(ff.tree.spare(), 0);
    check_invariants(&ff);
    // Capacity-bound arena: every unit its own piece.
    let mut ff = FirstFit::new(5, 0, 5).unwrap();
    for at in [1, 3, 0, 4, 2] {
        ff.claim(at, 1).unwrap();
        check_invariants(&ff);
    }
    assert_eq!(stats_of(&ff), (0, 0, 0, 5));
    for at in [2, 0, 4, 1, 3] {
        ff.free(at, 1).unwrap();
        check_invariants(&ff);
    }
    assert_eq!(stats_of(&ff), (5, 5, 1, 0));
}

#[test]
fn backend_is_send_and_named() {
    fn assert_send<T: Send>(_: &T) {}
    let ff = FirstFit::new(8, 0, 2).unwrap();
    assert_send(&ff);
    assert_eq!(ff.name(), "first-fit");
    assert_eq!(ff.capacity(), 8);
}

#[test]
fn a_free_below_a_floor_makes_room_for_its_shape_again() {
    // A hole of 4 units at offset 1 cannot hold an 8-aligned run of 4: the search
    // passes over it to offset 16 and leaves the shape's floor there.
    let mut ff = FirstFit::new(64, 0, 16).unwrap();
    ff.claim(0, 1).unwrap();
    ff.claim(5, 4).unwrap();
    let aligned = Request::new(4).aligned(8);
    assert_eq!(ff.allocate(aligned), Ok(16));
    // Freeing the unit at 0 joins the hole, whose offset 0 now holds the shape: below
    // its floor, and still the lowest place.
    ff.free(0, 1).unwrap();
    assert_eq!(ff.allocate(aligned), Ok(0));
    // The hole at 9..16 cannot hold it either: passed over again, floor at 24.
    assert_eq!(ff.allocate(aligned), Ok(24));
    // Freeing 5..9 joins 4..16, whose offset 8 holds it.
    ff.free(5, 4).unwrap();
    assert_eq!(ff.allocate(aligned), Ok(8));
    check_invariants(&ff);
}

/// Frees at or above every floor skip lowering them (see `FirstFit::floor_top`): a
/// floor raised by a later search must raise that bound too, or a free between the old
/// and the new bound would leave the raised floor above the lowest place.
#[test]
fn a_raised_floor_still_drops_for_a_free_below_it() {
    let mut ff = FirstFit::new(64, 0, 16).unwrap();
    ff.claim(0, 1).unwrap();
    ff.claim(5, 4).unwrap();
    let four = Request::new(4).aligned(8);
    let two = Request::new(2).aligned(4);
    // Past the hole at 1..5: floor at 16.
    assert_eq!(ff.allocate(four), Ok(16));
    // Past the hole at 1..5 too: floor at 12, below the other one.
    assert_eq!(ff.allocate(two), Ok(12));
    ff.claim(14, 2).unwrap();
    // From its floor at 16, past 16..20's remainder 20..64 start: floor raised to 24.
    assert_eq!(ff.allocate(four), Ok(24));
    assert_eq!(ff.floor_top, 24);
    // 16..20 (the first allocation, between the claim at 14 and the hole at 20..24)
    // freed: the piece 16..24 holds the shape at 16, above the old bound of 16.
    ff.free(16, 4).unwrap();
    assert_eq!(ff.allocate(four), Ok(16));
    check_invariants(&ff);
}

/// A deterministic generator for the random run below.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: usize) -> usize {
        crate::test_rng::below(&mut self.0, n)
    }
}

#[test]
fn invariants_hold_through_random_churn() {
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
    let capacity = 4096;
    let mut ff = FirstFit::new(capacity, 13, 200).unwrap();
    let mut live: Vec<Extent> = Vec::new();
    let mut height_max = 0;
    for _ in 0..20_000 {
        match rng.below(10) {
            0..=4 => {
                let mut request = Request::new(1 + rng.below(40)).aligned(1 << rng.below(5));
                if rng.below(4) == 0 {
                    let lo = rng.below(capacity);
                    request = request.within(lo, lo + 1 + rng.below(capacity - lo));
                }
                if let Ok(at) = ff.allocate(request) {
                    live.push(Extent::new(at, request.count()));
                }
            }
            5 => {
                let (start, count) = (rng.below(capacity), 1 + rng.below(20));
                if ff.claim(start, count).is_ok() {
                    live.push(Extent::new(start, count));
                }
            }
            _ if !live.is_empty() => {
                let e = live.swap_remove(rng.below(live.len()));
                ff.free(e.start, e.count).unwrap();
            }
            _ => {}
        }
        check_invariants(&ff);
        live.sort_unstable();
        assert_eq!(allocations(&ff), live);
        height_max = height_max.max(ff.tree.check().unwrap().1);
    }
    // 401 nodes at most: an AVL tree of that size is at most 12 levels deep.
    assert!(height_max <= 12, "height {height_max}");
}

/// Small blocks freed in random order leave their pieces in the per-length heaps, out of
/// the tree: every allocation must still be the lowest fit (the shadow model accepts
/// only that), claims and wrong frees must still find the free piece around an offset
/// in a heap, and an aligned small request, which moves the heaps of its count and up
/// into the tree, must not change that.
#[test]
fn small_pieces_in_heaps_keep_lowest_placement() {
    use crate::shadow::{Op, Placement, Shadow};
    let capacity = 600;
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut ff = FirstFit::new(capacity, 0, 300).unwrap();
    let mut model = Shadow::new(capacity, 0, Some(300), Placement::Lowest);
    let (mut most_in_heaps, mut lookups_over_heaps) = (0, 0);
    for step in 0..30_000 {
        // Claims and unchecked frees are rare, so that the heaps fill up between them.
        let op = match rng.below(64) {
            0..=31 => Op::Allocate(Request::new(1 + rng.below(8))),
            32 => Op::Claim {
                start: rng.below(capacity),
                count: 1 + rng.below(3),
            },
            33 => Op::Free {
                start: rng.below(capacity),
                count: 1 + rng.below(3),
            },
            // The second half also asks for aligned blocks of two units.
            34..=37 if step >= 15_000 => Op::Allocate(Request::new(2).aligned(2)),
            _ => match free_some_live(&model, &mut rng, capacity) {
                Some(op) => op,
                None => continue,
            },
        };
        if matches!(op, Op::Claim { .. } | Op::Free { .. }) && ff.tree.heap_pieces() > 0 {
            lookups_over_heaps += 1;
        }
        model.step(&mut ff, op).unwrap();
        check_invariants(&ff);
        most_in_heaps = most_in_heaps.max(ff.tree.heap_pieces());
        if step == 14_999 {
            assert_eq!(ff.tree.small_limit(), super::tree::SMALL);
        }
    }
    // The heaps were in use, and the aligned requests left only one-unit pieces there.
    assert!(
        most_in_heaps > 20,
        "{most_in_heaps} pieces in heaps at most"
    );
    assert!(
        lookups_over_heaps > 1_000,
        "{lookups_over_heaps} claims and frees while the heaps held pieces"
    );
    assert_eq!(ff.tree.small_limit(), 1);
}

/// The free of a live allocation of `model` picked at random (by an index below
/// `capacity`), `None` when it holds none.
fn free_some_live(
    model: &crate::shadow::Shadow,
    rng: &mut XorShift,
    capacity: usize,
) -> Option<crate::shadow::Op> {
    model
        .nth_live(rng.below(capacity))
        .map(|e| crate::shadow::Op::Free {
            start: e.start,
            count: e.count,
        })
}

/// Pieces of many lengths in the heaps at once: a search for a short piece then finds
/// the lowest of the heaps' roots through their tournament tree rather than root by
/// root, and that tree is brought up to date lazily; every allocation must still be the
/// lowest fit (the shadow model accepts only that).
#[test]
fn many_busy_heaps_keep_lowest_placement() {
    use crate::shadow::{Op, Placement, Shadow};
    let capacity = 3000;
    let mut rng = XorShift(0xD1B5_4A32_D192_ED03);
    let mut ff = FirstFit::new(capacity, 0, 1500).unwrap();
    let mut model = Shadow::new(capacity, 0, Some(1500), Placement::Lowest);
    let mut tournaments = 0;
    for step in 0..40_000 {
        // Filling first, then allocating and freeing alike.
        let op = if step < 400 || rng.below(2) == 0 {
            let count = 1 + rng.below(24);
            if ff.tree.uses_tournament(count) {
                tournaments += 1;
            }
            Op::Allocate(Request::new(count))
        } else {
            match free_some_live(&model, &mut rng, capacity) {
                Some(op) => op,
                None => continue,
            }
        };
        model.step(&mut ff, op).unwrap();
        if step % 8 == 0 {
            check_invariants(&ff);
        }
    }
    assert!(tournaments > 500, "{tournaments} searches over the tree");
}
