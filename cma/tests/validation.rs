//! Every validation error: the right variant with the right values, and no state change.

mod common;

use common::{area, range, region, registry};
use contig_cma::allocators::Error as BackendError;
use contig_cma::{
    AreaSet, Declaration, DmaError, Dynamic, EarlyTable, Error, Flags, MemoryMap, Name,
    NameProblem, PhysAddr, Region, RegionId, RegionMap, Request,
};

fn name(s: &str) -> Name {
    Name::new(s).unwrap()
}

fn mem_with(base: u64, size: usize) -> MemoryMap<8> {
    let mut mem = MemoryMap::new();
    assert!(mem.add_memory(range(base, size)));
    mem
}

#[test]
fn declaration_errors_in_order() {
    let at = |d: Declaration<'_>, base: u64| d.at(PhysAddr::new(base)).unwrap_err();
    let bad = Declaration::new("a,b", 0);
    assert!(matches!(
        at(bad, 0),
        Error::BadName {
            problem: NameProblem::ReservedChar { ch: ',' },
            ..
        }
    ));
    assert!(matches!(
        at(Declaration::new("r", 0x1000).backend(""), 0),
        Error::BadName {
            problem: NameProblem::Empty,
            ..
        }
    ));
    assert_eq!(
        at(Declaration::new("r", 0), 0),
        Error::ZeroSize { region: name("r") }
    );
    assert_eq!(
        at(Declaration::new("r", 0x3000).granule(0x3000), 0),
        Error::GranuleNotPowerOfTwo {
            region: name("r"),
            granule: 0x3000
        }
    );
    assert_eq!(
        at(Declaration::new("r", 0x1800), 0),
        Error::SizeMisaligned {
            region: name("r"),
            size: 0x1800,
            granule: 0x1000
        }
    );
    assert_eq!(
        at(
            Declaration::new("r", 0x1000).flags(Flags::REUSABLE | Flags::NO_MAP),
            0
        ),
        Error::ReusableNoMap { region: name("r") }
    );
    assert_eq!(
        at(Declaration::new("r", 0x1000), 0x800),
        Error::BaseMisaligned {
            region: name("r"),
            base: PhysAddr::new(0x800),
            granule: 0x1000
        }
    );
    assert_eq!(
        at(Declaration::new("r", 0x2000), 0xffff_ffff_ffff_f000),
        Error::AddressOverflow {
            addr: PhysAddr::new(0xffff_ffff_ffff_f000),
            size: 0x2000
        }
    );
}

#[test]
fn fixed_early_errors_leave_the_table_unchanged() {
    let mut table: EarlyTable<2> = EarlyTable::new();
    let mut mem = mem_with(0x1000_0000, 0x10_0000);
    let d = Declaration::new("a", 0x1_0000);
    let first = table
        .declare_fixed(&d, PhysAddr::new(0x1000_0000), None, &mut mem)
        .unwrap();
    assert_eq!(first.range(), range(0x1000_0000, 0x1_0000));

    let again = table.declare_fixed(&d, PhysAddr::new(0x1002_0000), None, &mut mem);
    assert_eq!(again, Err(Error::DuplicateRegion { region: name("a") }));

    let b = Declaration::new("b", 0x1_0000);
    let limit = PhysAddr::new(0x1008_0000);
    assert_eq!(
        table.declare_fixed(&b, PhysAddr::new(0x1007_8000), Some(limit), &mut mem),
        Err(Error::OutsideLimit {
            region: name("b"),
            range: range(0x1007_8000, 0x1_0000),
            limit
        })
    );
    assert_eq!(
        table.declare_fixed(&b, PhysAddr::new(0x1000_8000), None, &mut mem),
        Err(Error::Overlap {
            region: name("b"),
            range: range(0x1000_8000, 0x1_0000),
            other: name("a"),
            other_range: range(0x1000_0000, 0x1_0000),
        })
    );
    // Not memory at all: the memory map refuses.
    assert_eq!(
        table.declare_fixed(&b, PhysAddr::new(0x2000_0000), None, &mut mem),
        Err(Error::NotFree {
            region: name("b"),
            range: range(0x2000_0000, 0x1_0000)
        })
    );
    assert_eq!(table.len(), 1);

    table
        .declare_fixed(&b, PhysAddr::new(0x1001_0000), None, &mut mem)
        .unwrap();
    let c = Declaration::new("c", 0x1000);
    assert_eq!(
        table.declare_fixed(&c, PhysAddr::new(0x1004_0000), None, &mut mem),
        Err(Error::TableFull {
            region: name("c"),
            capacity: 2
        })
    );
    assert_eq!(
        table.declare_dynamic(&c, &Dynamic::new(), &mut mem),
        Err(Error::TableFull {
            region: name("c"),
            capacity: 2
        })
    );
    let names: Vec<_> = table.regions().map(|s| s.name()).collect();
    assert_eq!(names, [name("a"), name("b")]);
}

#[test]
fn fixed_region_reserved_by_someone_else_is_not_free() {
    use contig_cma::EarlyMemory;
    let mut table: EarlyTable<2> = EarlyTable::new();
    let mut mem = mem_with(0, 0x10_0000);
    assert!(mem.reserve(range(0x4000, 0x1000))); // e.g. the kernel image
    let d = Declaration::new("a", 0x2000);
    assert_eq!(
        table.declare_fixed(&d, PhysAddr::new(0x3000), None, &mut mem),
        Err(Error::NotFree {
            region: name("a"),
            range: range(0x3000, 0x2000)
        })
    );
    assert!(table.is_empty());
}

#[test]
fn dynamic_placement_and_its_errors() {
    let mut table: EarlyTable<4> = EarlyTable::new();
    let mut mem = mem_with(0x8000_0000, 0x100_0000);
    let d = Declaration::new("cma", 0x40_0000);
    assert_eq!(
        table.declare_dynamic(&d, &Dynamic::new().aligned(0x30_0000), &mut mem),
        Err(Error::AlignNotPowerOfTwo {
            region: name("cma"),
            align: 0x30_0000
        })
    );
    assert_eq!(
        table.declare_dynamic(&d, &Dynamic::new().aligned(0), &mut mem),
        Err(Error::AlignNotPowerOfTwo {
            region: name("cma"),
            align: 0
        })
    );
    // Limit below all memory: no room.
    let low = Dynamic::new().limit(PhysAddr::new(0x8000_0000));
    assert_eq!(
        table.declare_dynamic(&d, &low, &mut mem),
        Err(Error::NoRoom {
            region: name("cma"),
            size: 0x40_0000,
            align: 0x1000
        })
    );
    // Only the second allowed range has room; the limit cuts the first one short.
    let ranges = [range(0x8000_0000, 0x20_0000), range(0x8080_0000, 0x80_0000)];
    let rule = Dynamic::new()
        .aligned(0x10_0000)
        .ranges(&ranges)
        .limit(PhysAddr::new(0x80f0_0000));
    let spec = table.declare_dynamic(&d, &rule, &mut mem).unwrap();
    assert_eq!(spec.range(), range(0x8080_0000, 0x40_0000));
    // The same region placed again has no room left inside the ranges below the limit.
    let d2 = Declaration::new("cma2", 0x40_0000);
    assert_eq!(
        table.declare_dynamic(&d2, &rule, &mut mem),
        Err(Error::NoRoom {
            region: name("cma2"),
            size: 0x40_0000,
            align: 0x10_0000
        })
    );
    assert_eq!(
        table.declare_dynamic(&d, &Dynamic::new(), &mut mem),
        Err(Error::DuplicateRegion {
            region: name("cma")
        })
    );
    // A fixed region may not land on the dynamic one: memory is reserved.
    let f = Declaration::new("fixed", 0x1000);
    assert!(matches!(
        table.declare_fixed(&f, PhysAddr::new(0x8080_0000), None, &mut mem),
        Err(Error::Overlap { .. })
    ));
    assert_eq!(table.len(), 1);
}

#[test]
fn registry_errors() {
    let mut reg = registry();
    assert_eq!(
        reg.register("naive", |g| Box::new(common::naive::Naive::new(g.units))),
        Err(Error::DuplicateBackend {
            backend: name("naive")
        })
    );
    assert!(matches!(
        reg.register("has space", |g| Box::new(common::naive::Naive::new(
            g.units
        ))),
        Err(Error::BadName { .. })
    ));
    reg.register("short", |g| {
        Box::new(common::naive::Naive::new(g.units - 1))
    })
    .unwrap();
    let spec = |backend| {
        Declaration::new("r", 0x4000)
            .backend(backend)
            .at(PhysAddr::new(0))
            .unwrap()
    };
    assert_eq!(
        Region::<contig_cma::DefaultLock>::new(spec("buddy"), &reg, None).map(|_| ()),
        Err(Error::UnknownBackend {
            region: name("r"),
            backend: name("buddy")
        })
    );
    assert_eq!(
        Region::<contig_cma::DefaultLock>::new(spec("short"), &reg, None).map(|_| ()),
        Err(Error::BackendCapacity {
            region: name("r"),
            expected: 4,
            actual: 3
        })
    );
}

#[test]
fn reclaim_hook_must_match_the_reusable_flag() {
    let hook: &'static common::Scripted = Box::leak(Box::default());
    let plain = Declaration::new("p", 0x4000)
        .backend("naive")
        .at(PhysAddr::new(0))
        .unwrap();
    let reusable = Declaration::new("q", 0x4000)
        .backend("naive")
        .flags(Flags::REUSABLE)
        .at(PhysAddr::new(0))
        .unwrap();
    let reg = registry();
    assert_eq!(
        Region::<contig_cma::DefaultLock>::new(plain, &reg, Some(Box::new(hook))).map(|_| ()),
        Err(Error::UnexpectedReclaim { region: name("p") })
    );
    assert_eq!(
        Region::<contig_cma::DefaultLock>::new(reusable, &reg, None).map(|_| ()),
        Err(Error::MissingReclaim { region: name("q") })
    );
}

#[test]
fn area_rejects_duplicates_and_overlaps_unchanged() {
    let mut set = area(vec![
        region("a", 0x1_0000, 0x1_0000, 0x1000),
        region("c", 0x4_0000, 0x1_0000, 0x1000),
    ]);
    assert_eq!(
        set.add(region("a", 0x8_0000, 0x1000, 0x1000)).map(|_| ()),
        Err(Error::DuplicateRegion { region: name("a") })
    );
    // Overlaps the region before it, then the one after it.
    assert!(matches!(
        set.add(region("b", 0x1_f000, 0x2000, 0x1000)),
        Err(Error::Overlap { other, .. }) if other == "a"
    ));
    assert!(matches!(
        set.add(region("b", 0x3_f000, 0x2000, 0x1000)),
        Err(Error::Overlap { other, .. }) if other == "c"
    ));
    assert!(matches!(
        set.add(region("b", 0x0, 0x10_0000, 0x1000)),
        Err(Error::Overlap { .. })
    ));
    assert_eq!(set.regions().count(), 2);
    // Touching both neighbours is fine.
    assert_eq!(
        set.add(region("b", 0x2_0000, 0x2_0000, 0x1000)),
        Ok(RegionId::new(2))
    );
}

#[test]
fn map_and_default_must_name_regions() {
    let mut set = area(vec![region("a", 0, 0x1_0000, 0x1000)]);
    set.set_map(&"dev=a".parse().unwrap()).unwrap();
    let bad: RegionMap = "dev2=a;dev=a,missing".parse().unwrap();
    assert_eq!(
        set.set_map(&bad),
        Err(Error::UnknownRegion {
            region: name("missing")
        })
    );
    assert_eq!(
        set.set_default("nope"),
        Err(Error::UnknownRegion {
            region: name("nope")
        })
    );
    // The old map still holds: dev2 has no route and there is no default.
    assert_eq!(
        set.alloc("dev2", &Request::new(1)).map(|_| ()),
        Err(Error::NoRegionForDevice {
            device: name("dev2")
        })
    );
    assert!(set.alloc("dev", &Request::new(1)).is_ok());
}

#[test]
fn request_errors() {
    let set = area(vec![region("a", 0x1_0000, 0x1_0000, 0x1000)]);
    let a = |r: Request| set.alloc_from_region("a", &r).map(|x| x.range());
    assert_eq!(a(Request::new(0)), Err(Error::ZeroRequest));
    assert_eq!(
        a(Request::new(1).aligned(0x3000)),
        Err(Error::RequestAlign { align: 0x3000 })
    );
    assert_eq!(
        a(Request::new(1).aligned(0)),
        Err(Error::RequestAlign { align: 0 })
    );
    let below = range(0, 0x1_0000);
    assert_eq!(
        a(Request::new(1).within(below)),
        Err(Error::WindowMissesRegion {
            region: name("a"),
            window: below
        })
    );
    // A window that overlaps the region but holds no whole granule of it.
    let sliver = range(0x1_0800, 0x1000);
    assert_eq!(
        a(Request::new(1).within(sliver)),
        Err(Error::WindowMissesRegion {
            region: name("a"),
            window: sliver
        })
    );
    assert!(matches!(
        a(Request::new(0x2_0000)),
        Err(Error::Backend {
            source: BackendError::NoSpace { count: 0x20, .. },
            ..
        })
    ));
    assert_eq!(
        set.alloc_from(&[], &Request::new(1)).map(|_| ()),
        Err(Error::EmptyRegionList)
    );
    assert_eq!(
        set.alloc_from(&["a", "zz"], &Request::new(1)).map(|_| ()),
        Err(Error::UnknownRegion { region: name("zz") })
    );
    assert_eq!(
        set.alloc_in(RegionId::new(7), &Request::new(1)).map(|_| ()),
        Err(DmaError::UnknownRegionId { id: 7 })
    );
    assert_eq!(set.stats("a").unwrap().backend.live_allocations, 0);
    // Two window misses and one lack of space; invalid requests are not counted.
    assert_eq!(set.stats("a").unwrap().counters.failures, 3);
}

#[test]
fn free_errors() {
    let set: AreaSet = area(vec![region("a", 0x1_0000, 0x1_0000, 0x1000)]);
    let x = set
        .alloc_from_region("a", &Request::new(0x2000))
        .unwrap()
        .into_raw();
    let base = x.range.base();
    let r = name("a");
    // The DMA path names the region by index; `to_error` gives the named variant.
    let free_at = |addr, size| set.free_at(addr, size).map_err(|e| set.to_error(e));
    let free = |raw| set.free(raw).map_err(|e| set.to_error(e));
    assert_eq!(
        free_at(PhysAddr::new(0x2_0000), 0x1000),
        Err(Error::UnknownAddress {
            addr: PhysAddr::new(0x2_0000)
        })
    );
    assert_eq!(
        free_at(PhysAddr::new(u64::MAX), 2),
        Err(Error::AddressOverflow {
            addr: PhysAddr::new(u64::MAX),
            size: 2
        })
    );
    assert_eq!(
        free_at(PhysAddr::new(0x1_f000), 0x2000),
        Err(Error::OutsideRegion {
            region: r,
            range: range(0x1_f000, 0x2000)
        })
    );
    assert_eq!(free_at(base, 0), Err(Error::ZeroRequest));
    let inner = PhysAddr::new(0x1_1000);
    assert_eq!(
        free_at(inner, 0x1000),
        Err(Error::NotAllocationStart {
            region: r,
            addr: inner
        })
    );
    let unaligned = PhysAddr::new(0x1_0010);
    assert_eq!(
        free_at(unaligned, 0x10),
        Err(Error::NotAllocationStart {
            region: r,
            addr: unaligned
        })
    );
    let free_spot = PhysAddr::new(0x1_4000);
    assert_eq!(
        free_at(free_spot, 0x1000),
        Err(Error::NotAllocated {
            region: r,
            addr: free_spot
        })
    );
    assert_eq!(
        free_at(base, 0x3000),
        Err(Error::WrongSize {
            region: r,
            addr: base,
            size: 0x3000,
            actual: 0x2000
        })
    );
    let mut wrong_region = x;
    wrong_region.region = RegionId::new(3);
    assert_eq!(free(wrong_region), Err(Error::UnknownRegionId { id: 3 }));
    assert_eq!(set.stats("a").unwrap().backend.live_allocations, 1);
    // Any size that rounds to the same granules frees it.
    free_at(base, 0x1001).unwrap();
    assert_eq!(
        free(x),
        Err(Error::NotAllocated {
            region: r,
            addr: base
        })
    );
}

#[test]
fn errors_say_which_value_was_wrong() {
    let e = Declaration::new("video", 0x1800)
        .at(PhysAddr::new(0))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "region \"video\": size 0x1800 is not a multiple of the granule 0x1000"
    );
    let e = Error::Overlap {
        region: name("b"),
        range: range(0x1000, 0x1000),
        other: name("a"),
        other_range: range(0x0, 0x2000),
    };
    assert_eq!(
        e.to_string(),
        "region \"b\" [0x1000, 0x2000) overlaps region \"a\" [0x0, 0x2000)"
    );
    let e = Error::Backend {
        region: name("a"),
        source: BackendError::ZeroCount,
    };
    assert!(std::error::Error::source(&e).is_some());
}

/// The by-name forms of the DMA-path errors say what the DMA errors say, with the
/// region's name where those print its index.
#[test]
fn named_dma_errors_keep_their_messages() {
    let r = name("dsp");
    let at = PhysAddr::new(0x1000);
    let cases = [
        (Error::ZeroRequest, "a request for 0 bytes"),
        (
            Error::RequestAlign { align: 3 },
            "requested alignment 0x3 is not a power of two",
        ),
        (
            Error::AddressOverflow {
                addr: at,
                size: 0x2000,
            },
            "0x1000 + 0x2000 overflows the physical address space",
        ),
        (Error::UnknownAddress { addr: at }, "0x1000 is in no region"),
        (Error::UnknownRegionId { id: 7 }, "no region with index 7"),
        (
            Error::WindowMissesRegion {
                region: r,
                window: range(0, 0x800),
            },
            "window [0x0, 0x800) holds no whole granule of region \"dsp\"",
        ),
        (
            Error::ReclaimFailed {
                region: r,
                range: range(0x1000, 0x1000),
            },
            "region \"dsp\": could not reclaim [0x1000, 0x2000)",
        ),
        (
            Error::ReclaimBusy {
                region: r,
                range: range(0x1000, 0x1000),
            },
            "region \"dsp\": [0x1000, 0x2000) is busy and cannot be reclaimed now",
        ),
        (
            Error::ReclaimRetryLimit {
                region: r,
                size: 0x3000,
                retries: 4,
            },
            "region \"dsp\": 0x3000 bytes: gave up after 4 busy candidates",
        ),
        (
            Error::ReclaimAllBusy {
                region: r,
                size: 0x3000,
                busy: 5,
            },
            "region \"dsp\": 0x3000 bytes: all 5 candidates were busy",
        ),
        (
            Error::OutsideRegion {
                region: r,
                range: range(0x1000, 0x1000),
            },
            "[0x1000, 0x2000) is not inside region \"dsp\"",
        ),
        (
            Error::NotAllocated {
                region: r,
                addr: at,
            },
            "region \"dsp\": 0x1000 is not allocated (double free or never allocated)",
        ),
        (
            Error::NotAllocationStart {
                region: r,
                addr: at,
            },
            "region \"dsp\": 0x1000 is inside an allocation but does not start one",
        ),
        (
            Error::WrongSize {
                region: r,
                addr: at,
                size: 0x1000,
                actual: 0x2000,
            },
            "region \"dsp\": free of 0x1000 bytes at 0x1000, but 0x2000 bytes are allocated there",
        ),
    ];
    for (error, message) in cases {
        assert_eq!(error.to_string(), message, "{error:?}");
    }
}

#[test]
fn a_region_needs_an_empty_backend() {
    use contig_cma::allocators::Backend;
    let spec = Declaration::new("r", 0x4000).at(PhysAddr::new(0)).unwrap();
    let mut used = common::naive::Naive::new(4);
    used.claim(1, 2).unwrap();
    assert_eq!(
        Region::<contig_cma::DefaultLock>::with_backend(spec, Box::new(used), None).map(|_| ()),
        Err(Error::BackendInUse {
            region: name("r"),
            used: 2
        })
    );
    let fresh = common::naive::Naive::new(4);
    assert!(Region::<contig_cma::DefaultLock>::with_backend(spec, Box::new(fresh), None).is_ok());
}

#[test]
fn inline_first_fit_errors() {
    use contig_cma::InlineFirstFit;
    use contig_cma::allocators::first_fit::{FirstFit, Node};

    // 16 units, at most 4 allocations: 9 nodes needed.
    let spec = Declaration::new("early", 0x1_0000)
        .max_allocations(4)
        .at(PhysAddr::new(0x8000_0000))
        .unwrap();
    assert_eq!(FirstFit::nodes_for(spec.units(), spec.max_allocations()), 9);
    assert_eq!(
        InlineFirstFit::<8>::new(spec).err(),
        Some(Error::BackendStorage {
            region: name("early"),
            needed: 9,
            given: 8,
        })
    );
    let region: Region<contig_cma::DefaultLock, FirstFit<[Node; 9]>> =
        Region::first_fit(InlineFirstFit::new(spec).unwrap());
    assert_eq!(region.stats().free_bytes(), 0x1_0000);

    // A reusable region needs a (boxed) reclaim hook, so it cannot be built inline.
    let reusable = Declaration::new("lent", 0x1_0000)
        .flags(Flags::REUSABLE)
        .at(PhysAddr::new(0x8000_0000))
        .unwrap();
    assert_eq!(
        InlineFirstFit::<64>::new(reusable).err(),
        Some(Error::MissingReclaim {
            region: name("lent")
        })
    );
}

#[test]
fn inline_bitmap_errors() {
    use contig_cma::InlineBitmap;
    use contig_cma::allocators::bitmap::Bitmap;

    // 16 units: maps of one word each and one summary word, no tree.
    let spec = Declaration::new("early", 0x1_0000)
        .at(PhysAddr::new(0x8000_0000))
        .unwrap();
    assert_eq!(Bitmap::words_for(spec.units()), 3);
    assert_eq!(
        InlineBitmap::<2>::new(spec).err(),
        Some(Error::BackendStorage {
            region: name("early"),
            needed: 3,
            given: 2,
        })
    );
    let region: Region<contig_cma::DefaultLock, Bitmap<[u64; 3]>> =
        Region::bitmap(InlineBitmap::new(spec).unwrap());
    assert_eq!(region.stats().free_bytes(), 0x1_0000);
    assert_eq!(region.backend_name(), "bitmap");

    // A reusable region needs its reclaim hook, and only a reusable one takes one.
    static HOOK: common::Scripted = common::Scripted::new();
    let reusable = Declaration::new("lent", 0x1_0000)
        .flags(Flags::REUSABLE)
        .at(PhysAddr::new(0x8000_0000))
        .unwrap();
    assert_eq!(
        InlineBitmap::<64>::new(reusable).err(),
        Some(Error::MissingReclaim {
            region: name("lent")
        })
    );
    assert_eq!(
        InlineBitmap::<64>::with_reclaim(spec, &HOOK).err(),
        Some(Error::UnexpectedReclaim {
            region: name("early")
        })
    );
    assert_eq!(
        InlineBitmap::<2>::with_reclaim(reusable, &HOOK).err(),
        Some(Error::BackendStorage {
            region: name("lent"),
            needed: 3,
            given: 2,
        })
    );
    let lent: Region<contig_cma::DefaultLock, Bitmap<[u64; 3]>> =
        Region::bitmap(InlineBitmap::with_reclaim(reusable, &HOOK).unwrap());
    assert!(lent.flags().is_reusable());
}
