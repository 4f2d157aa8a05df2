//! Edge cases of the bitmap backend, each with the exact answer expected.

use alloc::vec::Vec;

use super::Bitmap;
use super::runs::RunTree;
use super::summary::Summary;
use crate::{Backend, Error, Extent, Request, Stats};

fn allocations(map: &Bitmap) -> Vec<Extent> {
    let mut out = Vec::new();
    map.for_each_allocation(&mut |e| out.push(e));
    out
}

fn fill_with_ones(map: &mut Bitmap) {
    for i in 0..map.capacity() {
        assert_eq!(map.allocate(Request::new(1)), Ok(i));
    }
}

#[test]
fn capacity_zero_refuses_everything_without_panicking() {
    let mut map = Bitmap::new(0, 3).unwrap();
    assert_eq!(map.name(), "bitmap");
    let no_space = Err(Error::NoSpace { count: 1, align: 1 });
    assert_eq!(map.allocate(Request::new(1)), no_space);
    assert_eq!(map.allocate(Request::new(0)), Err(Error::ZeroCount));
    let oob = Error::OutOfBounds {
        start: 0,
        count: 1,
        capacity: 0,
    };
    assert_eq!(map.claim(0, 1), Err(oob));
    assert_eq!(map.free(0, 1), Err(oob));
    assert_eq!(map.stats(), Stats::default());
    assert!(allocations(&map).is_empty());
}

#[test]
fn sizes_zero_one_capacity_and_capacity_plus_one() {
    let mut map = Bitmap::new(100, 0).unwrap();
    assert_eq!(map.allocate(Request::new(0)), Err(Error::ZeroCount));
    assert_eq!(map.claim(5, 0), Err(Error::ZeroCount));
    assert_eq!(map.free(5, 0), Err(Error::ZeroCount));
    assert_eq!(
        map.allocate(Request::new(101)),
        Err(Error::NoSpace {
            count: 101,
            align: 1,
        })
    );
    assert_eq!(map.allocate(Request::new(100)), Ok(0));
    assert_eq!(map.stats().free, 0);
    assert_eq!(
        map.allocate(Request::new(1)),
        Err(Error::NoSpace { count: 1, align: 1 })
    );
    map.free(0, 100).unwrap();
    assert_eq!(map.allocate(Request::new(1)), Ok(0));
    assert_eq!(map.allocate(Request::new(1)), Ok(1));
    assert_eq!(allocations(&map), [Extent::new(0, 1), Extent::new(1, 1)]);
}

#[test]
fn alignment_is_absolute_and_checked() {
    let mut map = Bitmap::new(200, 3).unwrap();
    assert_eq!(
        map.allocate(Request::new(1).aligned(3)),
        Err(Error::AlignNotPowerOfTwo { align: 3 })
    );
    assert_eq!(
        map.allocate(Request::new(1).aligned(0)),
        Err(Error::AlignNotPowerOfTwo { align: 0 })
    );
    // The first absolute multiple of 8 is absolute unit 8 = offset 5.
    assert_eq!(map.allocate(Request::new(2).aligned(8)), Ok(5));
    assert_eq!(map.allocate(Request::new(1).aligned(8)), Ok(13));
    // Alignment 128 (> one word): absolute 128 = offset 125.
    assert_eq!(map.allocate(Request::new(70).aligned(128)), Ok(125));
    // Alignment larger than the region: absolute 256 = offset 253 is past the end.
    assert_eq!(
        map.allocate(Request::new(1).aligned(256)),
        Err(Error::NoSpace {
            count: 1,
            align: 256,
        })
    );
    let mut zero_phase = Bitmap::new(200, 0).unwrap();
    assert_eq!(zero_phase.allocate(Request::new(1).aligned(1 << 20)), Ok(0));
    assert_eq!(
        zero_phase.allocate(Request::new(1).aligned(1 << 20)),
        Err(Error::NoSpace {
            count: 1,
            align: 1 << 20,
        })
    );
}

#[test]
fn phase_near_usize_max_wraps_exactly() {
    let mut map = Bitmap::new(300, usize::MAX - 9).unwrap();
    // Offset 10 is absolute unit 2^64 = 0 modulo every alignment.
    assert_eq!(map.allocate(Request::new(3).aligned(64)), Ok(10));
    assert_eq!(map.allocate(Request::new(65).aligned(128)), Ok(138));
    assert!(matches!(
        map.allocate(Request::new(65).aligned(256)),
        Err(Error::NoSpace { .. })
    ));
}

#[test]
fn windows_at_either_end_and_invalid() {
    let mut map = Bitmap::new(130, 0).unwrap();
    assert_eq!(map.allocate(Request::new(2).within(128, 130)), Ok(128));
    assert_eq!(
        map.allocate(Request::new(1).within(128, 130)),
        Err(Error::NoSpace { count: 1, align: 1 })
    );
    assert_eq!(map.allocate(Request::new(3).within(0, 3)), Ok(0));
    assert_eq!(map.allocate(Request::new(1).within(0, 4)), Ok(3));
    for (lo, hi) in [(5, 5), (6, 5), (0, 131), (130, 130)] {
        assert_eq!(
            map.allocate(Request::new(1).within(lo, hi)),
            Err(Error::InvalidWindow {
                lo,
                hi,
                capacity: 130
            })
        );
    }
    // A window too small for the count, and one whose only aligned unit is taken.
    assert!(matches!(
        map.allocate(Request::new(3).within(10, 12)),
        Err(Error::NoSpace { .. })
    ));
    assert!(matches!(
        map.allocate(Request::new(1).aligned(4).within(1, 4)),
        Err(Error::NoSpace { .. })
    ));
    assert_eq!(map.allocate(Request::new(64).within(60, 127)), Ok(60));
}

#[test]
fn frees_are_validated_and_change_nothing_when_wrong() {
    let mut map = Bitmap::new(100, 0).unwrap();
    map.claim(10, 20).unwrap();
    let before = (map.stats(), allocations(&map));
    assert_eq!(map.free(9, 1), Err(Error::NotAllocated { start: 9 }));
    assert_eq!(
        map.free(15, 5),
        Err(Error::NotAllocationStart { start: 15 })
    );
    for count in [19, 21, 90] {
        assert_eq!(
            map.free(10, count),
            Err(Error::WrongCount {
                start: 10,
                count,
                actual: 20
            })
        );
    }
    assert_eq!(
        map.free(95, 6),
        Err(Error::OutOfBounds {
            start: 95,
            count: 6,
            capacity: 100
        })
    );
    assert_eq!(
        map.free(usize::MAX, 2),
        Err(Error::OutOfBounds {
            start: usize::MAX,
            count: 2,
            capacity: 100
        })
    );
    assert_eq!((map.stats(), allocations(&map)), before);
    map.free(10, 20).unwrap();
    assert_eq!(map.free(10, 20), Err(Error::NotAllocated { start: 10 }));
    assert_eq!(map.stats().free, 100);
}

#[test]
fn adjacent_allocations_are_told_apart_and_freed_in_either_order() {
    for first_freed in [0, 1] {
        let mut map = Bitmap::new(200, 0).unwrap();
        let a = map.allocate(Request::new(70)).unwrap();
        let b = map.allocate(Request::new(70)).unwrap();
        assert_eq!((a, b), (0, 70));
        assert_eq!(allocations(&map), [Extent::new(0, 70), Extent::new(70, 70)]);
        assert_eq!(
            map.free(0, 140),
            Err(Error::WrongCount {
                start: 0,
                count: 140,
                actual: 70
            })
        );
        assert_eq!(
            map.free(71, 69),
            Err(Error::NotAllocationStart { start: 71 })
        );
        let (x, y) = if first_freed == 0 { (a, b) } else { (b, a) };
        map.free(x, 70).unwrap();
        assert_eq!(allocations(&map), [Extent::new(y, 70)]);
        map.free(y, 70).unwrap();
        assert_eq!(map.stats().free, 200);
        assert_eq!(map.stats().free_extents, 1);
    }
}

#[test]
fn claim_checks_the_whole_range() {
    let mut map = Bitmap::new(300, 0).unwrap();
    map.claim(100, 5).unwrap();
    map.claim(200, 1).unwrap();
    assert_eq!(
        map.claim(50, 200),
        Err(Error::RangeBusy {
            start: 50,
            count: 200,
            first_busy: 100
        })
    );
    assert_eq!(
        map.claim(104, 100),
        Err(Error::RangeBusy {
            start: 104,
            count: 100,
            first_busy: 104
        })
    );
    assert_eq!(
        map.claim(299, 2),
        Err(Error::OutOfBounds {
            start: 299,
            count: 2,
            capacity: 300
        })
    );
    map.claim(105, 95).unwrap();
    assert_eq!(
        allocations(&map),
        [
            Extent::new(100, 5),
            Extent::new(105, 95),
            Extent::new(200, 1)
        ]
    );
    assert_eq!(map.stats().live_allocations, 3);
}

#[test]
fn fill_free_every_other_then_ask_for_more_than_any_hole() {
    let mut map = Bitmap::new(1000, 7).unwrap();
    for i in 0..100 {
        assert_eq!(map.allocate(Request::new(10)), Ok(10 * i));
    }
    assert_eq!(map.stats().free, 0);
    for i in (0..100).step_by(2) {
        map.free(10 * i, 10).unwrap();
    }
    let stats = map.stats();
    assert_eq!(
        (stats.free, stats.largest_free, stats.free_extents),
        (500, 10, 50)
    );
    assert_eq!(
        map.allocate(Request::new(11)),
        Err(Error::NoSpace {
            count: 11,
            align: 1,
        })
    );
    assert_eq!(map.allocate(Request::new(10)), Ok(0));
    // Absolute alignment 8 inside 10-unit holes: hole [20, 30) is absolute [27, 37).
    assert_eq!(map.allocate(Request::new(2).aligned(8)), Ok(25));
}

#[test]
fn capacities_around_word_sizes() {
    for capacity in [1, 63, 64, 65, 127, 128, 129, 4097] {
        let mut map = Bitmap::new(capacity, 0).unwrap();
        let words = capacity.div_ceil(64);
        let summary_words: usize = if words <= 64 { 1 } else { 3 };
        assert_eq!(Summary::new(words).words(), summary_words);
        assert_eq!(
            map.stats().metadata_bytes,
            8 * (2 * words + summary_words + RunTree::new(words).words())
        );
        assert_eq!(map.allocate(Request::new(capacity)), Ok(0));
        map.free(0, capacity).unwrap();
        fill_with_ones(&mut map);
        assert!(matches!(
            map.allocate(Request::new(1)),
            Err(Error::NoSpace { .. })
        ));
        map.free(capacity - 1, 1).unwrap();
        assert_eq!(map.allocate(Request::new(1)), Ok(capacity - 1));
        let stats = map.stats();
        assert_eq!(
            (stats.free, stats.live_allocations, stats.free_extents),
            (0, capacity, 0)
        );
        assert_eq!(allocations(&map).len(), capacity);
    }
}

#[test]
fn metadata_is_two_bits_per_unit_plus_the_summaries() {
    let bytes = |n| Bitmap::new(n, 0).unwrap().stats().metadata_bytes;
    assert_eq!(bytes(0), 0);
    assert_eq!(bytes(1), 8 * (2 + 1));
    // 2^20 units: 16384 words per map; summary levels of 256, 4 and 1 words; a run tree
    // of 8192 leaves of 128 units: 2048 groups of four leaves' runs, two words each,
    // 683 groups of four inner nodes' runs, six words each, and a stale bit per inner
    // node (one per group, 43 words): 2.52 bits per unit.
    assert_eq!(
        bytes(1 << 20),
        8 * (2 * 16_384 + 256 + 4 + 1) + 8 * (43 + 2 * 2048 + 6 * 683)
    );
    // At most 4 bits per unit whatever the number of leaves.
    for n in [129, 1000, 4097, (1 << 20) + 1] {
        assert!(bytes(n) * 8 <= 4 * n + 8 * 64, "{n}: {}", bytes(n));
    }
    let mut map = Bitmap::new(1 << 20, 0).unwrap();
    map.claim(0, 1 << 20).unwrap();
    assert_eq!(map.stats().metadata_bytes, bytes(1 << 20));
}

#[test]
fn runs_cross_word_boundaries() {
    let mut map = Bitmap::new(256, 0).unwrap();
    map.claim(0, 60).unwrap();
    map.claim(70, 50).unwrap();
    // The hole [60, 70) crosses the first word boundary.
    assert_eq!(map.allocate(Request::new(10)), Ok(60));
    map.free(60, 10).unwrap();
    assert_eq!(map.allocate(Request::new(11)), Ok(120));
    assert_eq!(map.allocate(Request::new(100)), Ok(131));
    assert_eq!(
        allocations(&map),
        [
            Extent::new(0, 60),
            Extent::new(70, 50),
            Extent::new(120, 11),
            Extent::new(131, 100)
        ]
    );
    assert_eq!(
        map.free(120, 111),
        Err(Error::WrongCount {
            start: 120,
            count: 111,
            actual: 11
        })
    );
    map.free(131, 100).unwrap();
    assert_eq!(map.stats().largest_free, 256 - 131);
}

#[test]
fn large_counts_and_alignments_are_exact() {
    let mut map = Bitmap::new(10_001, 1).unwrap();
    map.claim(0, 1).unwrap();
    map.claim(5000, 1).unwrap();
    // 4999 units fit in [1, 5000) exactly; 5000 do not, so they go to [5001, 10001).
    assert_eq!(map.allocate(Request::new(5000)), Ok(5001));
    map.free(5001, 5000).unwrap();
    assert_eq!(map.allocate(Request::new(4999)), Ok(1));
    map.free(1, 4999).unwrap();
    // Alignment 1024 with phase 1: offsets 1023, 2047, ...
    assert_eq!(map.allocate(Request::new(3000).aligned(1024)), Ok(1023));
    assert_eq!(map.allocate(Request::new(3000).aligned(1024)), Ok(5119));
    assert_eq!(
        map.allocate(Request::new(3000).aligned(1024)),
        Err(Error::NoSpace {
            count: 3000,
            align: 1024,
        })
    );
}

#[test]
fn summary_skips_full_stretches_and_finds_the_last_hole() {
    let mut map = Bitmap::new(100_000, 0).unwrap();
    map.claim(0, 100_000).unwrap();
    map.free(0, 100_000).unwrap();
    map.claim(0, 99_990).unwrap();
    assert_eq!(map.allocate(Request::new(10)), Ok(99_990));
    map.free(99_990, 10).unwrap();
    assert_eq!(
        map.allocate(Request::new(200)),
        Err(Error::NoSpace {
            count: 200,
            align: 1,
        })
    );
    assert_eq!(map.allocate(Request::new(5).aligned(4)), Ok(99_992));
}

#[test]
fn is_send_and_usable_as_a_boxed_trait_object() {
    fn assert_send<T: Send>(_: &T) {}
    let map = Bitmap::new(10, 0).unwrap();
    assert_send(&map);
    let mut boxed: alloc::boxed::Box<dyn Backend + Send> = alloc::boxed::Box::new(map);
    assert_eq!(boxed.allocate(Request::new(10)), Ok(0));
    assert_eq!(boxed.stats().live_allocations, 1);
}
