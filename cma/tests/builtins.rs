//! The built-in backends, chosen by name, behind real regions.

mod common;

use common::{Scripted, range};
use contig_cma::{
    AreaSet, BUILTIN_BACKENDS, DEFAULT_BACKEND, Declaration, DmaError, Error, Flags, Name,
    PhysAddr, Region, Registry, Request,
};

#[test]
fn builtins_are_registered_by_name() {
    let registry = Registry::with_builtins().unwrap();
    let names: Vec<_> = registry.names().map(|n| n.as_str().to_owned()).collect();
    assert_eq!(names, BUILTIN_BACKENDS);
    assert!(registry.contains(DEFAULT_BACKEND));
    assert!(Registry::new().names().next().is_none());
    // Users add their own next to them; the built-in names are taken.
    let mut registry = registry;
    registry
        .register("naive", |g| Box::new(common::naive::Naive::new(g.units)))
        .unwrap();
    assert_eq!(
        registry.register("bitmap", |g| Box::new(common::naive::Naive::new(g.units))),
        Err(Error::DuplicateBackend {
            backend: Name::new("bitmap").unwrap()
        })
    );
}

#[test]
fn every_builtin_serves_a_region() {
    let registry = Registry::with_builtins().unwrap();
    for (i, backend) in BUILTIN_BACKENDS.iter().enumerate() {
        // An unaligned base (granule 0x1000, base 0x...3000) checks absolute alignment.
        let base = 0x4000_0000 * (i as u64 + 1) + 0x3000;
        let spec = Declaration::new("r", 0x10_0000)
            .backend(backend)
            .at(PhysAddr::new(base))
            .unwrap();
        let region: Region = Region::new(spec, &registry, None).unwrap();
        assert_eq!(region.backend_name(), *backend);
        let a = region
            .allocate(&Request::new(0x5000).aligned(0x1_0000))
            .unwrap();
        assert!(a.base().is_aligned(0x1_0000), "{backend}: {a:?}");
        assert_eq!(a.base(), PhysAddr::new(base - 0x3000 + 0x1_0000));
        let b = region.allocate(&Request::new(1)).unwrap();
        assert_eq!(b.base(), PhysAddr::new(base), "{backend}: lowest fit");
        assert_eq!(region.stats().used_bytes(), 0x6000);
        region.free(a).unwrap();
        assert!(
            matches!(region.free(a), Err(DmaError::NotAllocated { .. })),
            "{backend}"
        );
        region.free(b).unwrap();
        assert_eq!(region.stats().backend.live_allocations, 0);
    }
}

#[test]
fn first_fit_limit_comes_from_the_declaration() {
    let spec = Declaration::new("r", 0x1_0000)
        .backend("first-fit")
        .max_allocations(2)
        .at(PhysAddr::new(0))
        .unwrap();
    let region: Region = Region::new(spec, &Registry::with_builtins().unwrap(), None).unwrap();
    let _a = region.allocate(&Request::new(1)).unwrap();
    let _b = region.allocate(&Request::new(1)).unwrap();
    assert!(matches!(
        region.allocate(&Request::new(1)),
        Err(DmaError::TooManyAllocations { limit: 2, .. })
    ));
}

#[test]
fn a_region_declared_with_defaults_fills_with_its_smallest_allocations() {
    // 64 B granules: 4096 granules in 256 KiB. A node-sized backend left at the
    // default limit must not refuse allocations while the region has room.
    for backend in ["first-fit", "tlsf"] {
        let spec = Declaration::new("r", 0x4_0000)
            .granule(64)
            .backend(backend)
            .at(PhysAddr::new(0x4000_0000))
            .unwrap();
        assert_eq!(spec.max_allocations(), 4096, "{backend}");
        let region: Region = Region::new(spec, &Registry::with_builtins().unwrap(), None).unwrap();
        let held: Vec<_> = (0..4096)
            .map(|i| {
                region
                    .allocate(&Request::new(64))
                    .unwrap_or_else(|e| panic!("{backend}: allocation {i}: {e}"))
            })
            .collect();
        assert_eq!(region.stats().backend.free, 0, "{backend}");
        for a in held {
            region.free(a).unwrap();
        }
    }
}

#[test]
fn reusable_bitmap_region_skips_busy_ranges() {
    let hook: &'static Scripted =
        Box::leak(Box::new(Scripted::busy(&[range(0x8000_0000, 0x3000)])));
    let spec = Declaration::new("cma", 0x10_0000)
        .flags(Flags::REUSABLE)
        .at(PhysAddr::new(0x8000_0000))
        .unwrap();
    let mut set: AreaSet = AreaSet::new();
    set.add(
        Region::new(
            spec,
            &Registry::with_builtins().unwrap(),
            Some(Box::new(hook)),
        )
        .unwrap(),
    )
    .unwrap();
    let a = set.alloc_from_region("cma", &Request::new(0x1000)).unwrap();
    // Three busy single-granule candidates, then the fourth granule.
    assert_eq!(a.addr(), PhysAddr::new(0x8000_3000));
    assert_eq!(set.stats("cma").unwrap().counters.reclaim_retries, 3);
    drop(a);
    assert!(hook.held().is_empty());
}
