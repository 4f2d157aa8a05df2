//! Reusable regions with a scripted reclaim hook: busy candidates are skipped, the
//! allocation lands after them, retries are counted and bounded, nothing leaks.

mod common;

use common::{Scripted, area, range, region, reusable};
use contig_cma::allocators::bitmap::Bitmap;
use contig_cma::{
    AreaSet, Declaration, DefaultLock, DmaError, Error, Flags, InlineBitmap, Name, PhysAddr,
    PhysRange, Region, RegionSpec, Registry, Request,
};

const BASE: u64 = 0x10_0000;
const G: usize = 0x1000;

/// Granules `first..first + n` of the test region.
fn granules(first: u64, n: usize) -> PhysRange {
    range(BASE + first * G as u64, n * G)
}

fn hook(busy: &[PhysRange]) -> &'static Scripted {
    Box::leak(Box::new(Scripted::busy(busy)))
}

/// One reusable region "cma" of 16 granules with `retries` as its limit.
fn cma(hook: &'static Scripted, retries: usize) -> AreaSet {
    area(vec![reusable(
        "cma",
        BASE,
        16 * G,
        G,
        retries,
        Box::new(hook),
    )])
}

/// Every unit the backend holds is a live allocation the OS handed over, and vice
/// versa: nothing leaked on either side.
fn assert_no_leak(set: &AreaSet, hook: &Scripted) {
    let mut live = Vec::new();
    set.region("cma")
        .unwrap()
        .for_each_allocation(&mut |r| live.push(r));
    assert_eq!(hook.held(), live);
    assert!(hook.bad_releases.lock().unwrap().is_empty());
    let used: usize = live.iter().map(PhysRange::size).sum();
    assert_eq!(set.stats("cma").unwrap().used_bytes(), used);
}

#[test]
fn allocation_lands_after_busy_candidates() {
    let h = hook(&[granules(0, 1), granules(2, 1)]);
    let set = cma(h, 8);
    let a = set.alloc_from_region("cma", &Request::new(G)).unwrap();
    assert_eq!(a.range(), granules(1, 1));
    assert_eq!(*h.asked.lock().unwrap(), [granules(0, 1), granules(1, 1)]);

    let b = set.alloc_from_region("cma", &Request::new(2 * G)).unwrap();
    // [2, 4) was busy: the search resumes past the whole candidate (at 4), not one
    // granule after its start, so the hook is not asked about [3, 5).
    assert_eq!(b.range(), granules(4, 2));
    let c = set.stats("cma").unwrap().counters;
    assert_eq!(
        (c.reclaim_busy, c.reclaim_retries, c.allocations),
        (2, 2, 2)
    );
    assert_no_leak(&set, h);
    drop((a, b));
    assert_no_leak(&set, h);
    assert!(h.held().is_empty());
}

#[test]
fn search_resumes_past_the_whole_busy_candidate_with_alignment() {
    // Granule 1 busy: the 2-granule candidate at 0 is busy, the next aligned one is 4.
    let h = hook(&[granules(1, 1)]);
    let set = cma(h, 8);
    let a = set
        .alloc_from_region("cma", &Request::new(2 * G).aligned(4 * G))
        .unwrap();
    assert_eq!(a.range(), granules(4, 2));
    assert_eq!(*h.asked.lock().unwrap(), [granules(0, 2), granules(4, 2)]);
    assert_no_leak(&set, h);
}

#[test]
fn retry_limit_is_respected_and_nothing_leaks() {
    let h = hook(&[granules(0, 15)]); // only the last granule is free of the OS
    let set = cma(h, 3);
    assert_eq!(
        set.alloc_from_region("cma", &Request::new(G))
            .map(|a| a.range()),
        Err(Error::ReclaimRetryLimit {
            region: Name::new("cma").unwrap(),
            size: G,
            retries: 3
        })
    );
    assert_eq!(h.asked.lock().unwrap().len(), 4); // the first try and 3 retries
    let s = set.stats("cma").unwrap();
    assert_eq!(
        (s.counters.reclaim_busy, s.counters.reclaim_retries),
        (4, 3)
    );
    assert_eq!((s.used_bytes(), s.counters.failures), (0, 1));
    assert_no_leak(&set, h);

    // With a higher limit the same search reaches the last granule.
    let h = hook(&[granules(0, 15)]);
    let set = cma(h, 15);
    let a = set.alloc_from_region("cma", &Request::new(G)).unwrap();
    assert_eq!(a.range(), granules(15, 1));
    assert_eq!(set.stats("cma").unwrap().counters.reclaim_retries, 15);
    assert_no_leak(&set, h);
}

#[test]
fn all_candidates_busy_is_reported_as_such() {
    let h = hook(&[granules(0, 16)]);
    let set = cma(h, 100);
    assert_eq!(
        set.alloc_from_region("cma", &Request::new(4 * G))
            .map(|a| a.range()),
        Err(Error::ReclaimAllBusy {
            region: Name::new("cma").unwrap(),
            size: 4 * G,
            busy: 4
        })
    );
    assert_no_leak(&set, h);
    // A request whose window ends right after a busy candidate also stops cleanly.
    let w = Request::new(G).within(granules(0, 2));
    assert!(matches!(
        set.alloc_from_region("cma", &w),
        Err(Error::ReclaimAllBusy { busy: 2, .. })
    ));
    assert_eq!(set.stats("cma").unwrap().used_bytes(), 0);
}

#[test]
fn failed_reclaim_stops_the_search() {
    let h = hook(&[]);
    h.failing.lock().unwrap().push(granules(0, 1));
    let set = cma(h, 8);
    assert_eq!(
        set.alloc_from_region("cma", &Request::new(G))
            .map(|a| a.range()),
        Err(Error::ReclaimFailed {
            region: Name::new("cma").unwrap(),
            range: granules(0, 1)
        })
    );
    let c = set.stats("cma").unwrap().counters;
    assert_eq!(
        (c.reclaim_failures, c.reclaim_busy, c.reclaim_retries),
        (1, 0, 0)
    );
    assert_no_leak(&set, h);
    h.failing.lock().unwrap().clear();
    assert_eq!(
        set.alloc_from_region("cma", &Request::new(G))
            .unwrap()
            .range(),
        granules(0, 1)
    );
}

#[test]
fn free_releases_once_and_rounds_to_granules() {
    let h = hook(&[]);
    let set = cma(h, 8);
    let raw = set
        .alloc_from_region("cma", &Request::new(G + 1))
        .unwrap()
        .into_raw();
    assert_eq!(raw.range.size(), G + 1);
    assert_eq!(h.held(), [granules(0, 2)]); // the OS gave up whole granules
    set.free(raw).unwrap();
    assert!(h.held().is_empty());
    assert!(matches!(set.free(raw), Err(DmaError::NotAllocated { .. })));
    assert!(h.bad_releases.lock().unwrap().is_empty()); // no second release
}

#[test]
fn busy_reusable_region_falls_back_along_the_map() {
    let h = hook(&[granules(0, 16)]);
    let mut set = area(vec![
        reusable("cma", BASE, 16 * G, G, 4, Box::new(h)),
        region("common", 0x100_0000, 4 * G, G),
    ]);
    set.set_map(&"*=cma,common".parse().unwrap()).unwrap();
    let a = set.alloc("gpu", &Request::new(G)).unwrap();
    assert_eq!(a.addr(), PhysAddr::new(0x100_0000));
    assert_no_leak(&set, h);
}

#[test]
fn claim_of_a_fixed_range_asks_the_os_once() {
    let h = hook(&[granules(2, 1)]);
    let set = cma(h, 8);
    let region = Name::new("cma").unwrap();
    assert_eq!(
        set.claim(granules(1, 2))
            .map(|a| a.range())
            .map_err(|e| set.to_error(e)),
        Err(Error::ReclaimBusy {
            region,
            range: granules(1, 2)
        })
    );
    assert_no_leak(&set, h);
    h.failing.lock().unwrap().push(granules(5, 1));
    assert_eq!(
        set.claim(granules(5, 1))
            .map(|a| a.range())
            .map_err(|e| set.to_error(e)),
        Err(Error::ReclaimFailed {
            region,
            range: granules(5, 1)
        })
    );
    let c = set.stats("cma").unwrap().counters;
    assert_eq!((c.reclaim_busy, c.reclaim_failures, c.failures), (1, 1, 2));
    let ok = set.claim(granules(3, 2)).unwrap();
    assert_eq!(h.held(), [granules(3, 2)]);
    assert_no_leak(&set, h);
    drop(ok);
    assert!(h.held().is_empty());
}

/// A reusable region built at compile time, in a `static` with a `static` hook.
const STATIC_SPEC: RegionSpec = match Declaration::new("static-cma", 16 * G)
    .flags(Flags::REUSABLE)
    .retry_limit(8)
    .at(PhysAddr::new(BASE))
{
    Ok(spec) => spec,
    Err(_) => panic!("bad declaration"),
};
static STATIC_HOOK: Scripted = Scripted::new();
static STATIC_CMA: Region<DefaultLock, Bitmap<[u64; Bitmap::words_for(16)]>> =
    match InlineBitmap::with_reclaim(STATIC_SPEC, &STATIC_HOOK) {
        Ok(parts) => Region::bitmap(parts),
        Err(_) => panic!("too few words"),
    };

/// The script both reusable bitmap regions below go through, with `hook` as theirs:
/// a busy candidate skipped, a failed reclaim, a busy claim, a free and the
/// allocation that reuses it.
fn reusable_script<B: contig_cma::allocators::Backend>(
    region: &Region<DefaultLock, B>,
    hook: &Scripted,
) -> Vec<Result<PhysRange, Error>> {
    hook.busy.lock().unwrap().push(granules(0, 1));
    hook.failing.lock().unwrap().push(granules(6, 1));
    let pair = Request::new(2 * G).aligned(2 * G);
    // A lone region's errors name it by index; `to_error` names it as an area set does.
    [
        region.allocate(&Request::new(G)),
        region.allocate(&pair),
        region.allocate(&pair),
        region.allocate(&pair),
        region.claim(granules(0, 1)),
        region.free(granules(2, 2)).map(|()| granules(2, 2)),
        region.allocate(&Request::new(2 * G)),
    ]
    .into_iter()
    .map(|outcome| outcome.map_err(|e| region.to_error(e)))
    .collect()
}

/// The static region and a bitmap region built at run time with a boxed hook give
/// the same answers, ask their hooks the same ranges and count the same.
#[test]
fn static_reusable_region_behaves_as_a_boxed_one() {
    let boxed_hook = hook(&[]);
    let spec = STATIC_SPEC;
    let registry = Registry::with_builtins().unwrap();
    let boxed: Region = Region::new(spec, &registry, Some(Box::new(boxed_hook))).unwrap();
    assert_eq!(boxed.backend_name(), STATIC_CMA.backend_name());

    let outcomes = reusable_script(&STATIC_CMA, &STATIC_HOOK);
    let region = Name::new("static-cma").unwrap();
    assert_eq!(
        outcomes,
        [
            Ok(granules(1, 1)), // granule 0 is busy
            Ok(granules(2, 2)),
            Ok(granules(4, 2)),
            Err(Error::ReclaimFailed {
                region,
                range: granules(6, 2)
            }),
            Err(Error::ReclaimBusy {
                region,
                range: granules(0, 1)
            }),
            Ok(granules(2, 2)),
            Ok(granules(2, 2)), // freed, released, claimed again
        ]
    );
    assert_eq!(reusable_script(&boxed, boxed_hook), outcomes);
    assert_eq!(
        *STATIC_HOOK.asked.lock().unwrap(),
        *boxed_hook.asked.lock().unwrap()
    );
    assert_eq!(STATIC_HOOK.held(), boxed_hook.held());
    assert_eq!(
        STATIC_HOOK.held(),
        [granules(1, 1), granules(2, 2), granules(4, 2)]
    );
    assert!(STATIC_HOOK.bad_releases.lock().unwrap().is_empty());
    let (c, b) = (STATIC_CMA.stats().counters, boxed.stats().counters);
    assert_eq!(c, b);
    assert_eq!(
        (c.reclaim_busy, c.reclaim_retries, c.reclaim_failures),
        (2, 1, 1)
    );
}
