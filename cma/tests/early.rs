//! Early declaration in a `static` without a heap, then conversion into full regions.

mod common;

use common::{Scripted, range};
use std::sync::atomic::{AtomicUsize, Ordering};

use contig_cma::{
    AreaSet, BoxedReclaim, Declaration, DefaultLock, Dynamic, EarlyTable, Error, Flags, GlobalArea,
    InterruptControl, IrqSafe, MemoryMap, Name, PhysAddr, Registry, Request,
};
use spin::Mutex;

/// What a board keeps before the heap exists: both tables are `const`-constructed.
static EARLY: Mutex<EarlyTable<4>> = Mutex::new(EarlyTable::new());
static MEMORY: Mutex<MemoryMap<8>> = Mutex::new(MemoryMap::new());

#[test]
fn static_tables_then_regions_with_hooks() {
    let mut mem = MEMORY.lock();
    let mut early = EARLY.lock();
    assert!(mem.add_memory(range(0x8000_0000, 0x800_0000)));
    let rproc = Declaration::new("rproc", 0x10_0000).backend("first-fit");
    early
        .declare_fixed(&rproc, PhysAddr::new(0x8000_0000), None, &mut *mem)
        .unwrap();
    let cma = Declaration::new("cma", 0x100_0000).flags(Flags::REUSABLE);
    let placed = early
        .declare_dynamic(&cma, &Dynamic::new().aligned(0x40_0000), &mut *mem)
        .unwrap();
    assert_eq!(placed.range(), range(0x8040_0000, 0x100_0000));

    let hook: &'static Scripted = Box::leak(Box::default());
    let mut hooks = |spec: &contig_cma::RegionSpec| -> Option<BoxedReclaim> {
        spec.flags()
            .is_reusable()
            .then(|| Box::new(hook) as BoxedReclaim)
    };
    let registry = Registry::with_builtins().unwrap();
    let mut set: AreaSet = AreaSet::from_early(&early, &registry, &mut hooks).unwrap();
    set.set_default("cma").unwrap();
    let names: Vec<_> = set.regions().map(|(_, r)| r.name()).collect();
    assert_eq!(
        names,
        [Name::new("rproc").unwrap(), Name::new("cma").unwrap()]
    );
    assert_eq!(set.region("rproc").unwrap().backend_name(), "first-fit");
    assert_eq!(set.region("cma").unwrap().backend_name(), "bitmap");

    let a = set.alloc("gpu", &Request::new(0x2000)).unwrap();
    assert_eq!(a.addr(), PhysAddr::new(0x8040_0000));
    assert_eq!(hook.held(), [range(0x8040_0000, 0x2000)]);
    drop(a);
    assert!(hook.held().is_empty());

    // Without a hook for the reusable region, conversion fails and says which.
    assert_eq!(
        AreaSet::<contig_cma::DefaultLock>::from_early(&early, &registry, &mut |_| None)
            .map(|_| ()),
        Err(Error::MissingReclaim {
            region: Name::new("cma").unwrap()
        })
    );
    // An unknown backend name is reported with the region that asked for it.
    let mut other: EarlyTable<1> = EarlyTable::new();
    let odd = Declaration::new("odd", 0x1000).backend("buddy");
    other
        .declare_fixed(&odd, PhysAddr::new(0x8200_0000), None, &mut *mem)
        .unwrap();
    assert_eq!(
        AreaSet::<contig_cma::DefaultLock>::from_early(&other, &registry, &mut |_| None)
            .map(|_| ()),
        Err(Error::UnknownBackend {
            region: Name::new("odd").unwrap(),
            backend: Name::new("buddy").unwrap()
        })
    );
}

#[test]
fn global_area_stays_empty_when_building_fails() {
    static AREA: GlobalArea = GlobalArea::new();
    assert_eq!(
        AREA.get_or_init(|| Err(Error::EmptyRegionList)).map(|_| ()),
        Err(Error::EmptyRegionList)
    );
    assert!(AREA.get().is_none());
    let built = AREA.get_or_init(|| Ok(AreaSet::new())).unwrap();
    assert!(core::ptr::eq(AREA.get().unwrap(), built));
}

/// Counts lock acquisitions: `IrqSafe` disables interrupts each time it locks.
static LOCKS_TAKEN: AtomicUsize = AtomicUsize::new(0);

struct CountingCpu;

impl InterruptControl for CountingCpu {
    type State = ();
    fn disable() {
        LOCKS_TAKEN.fetch_add(1, Ordering::SeqCst);
    }
    fn restore((): ()) {}
}

#[test]
fn global_area_get_takes_no_lock_once_built() {
    static AREA: GlobalArea<IrqSafe<DefaultLock, CountingCpu>> = GlobalArea::new();
    assert!(AREA.get().is_none());
    let built = AREA.get_or_init(|| Ok(AreaSet::new())).unwrap();
    let after_build = LOCKS_TAKEN.load(Ordering::SeqCst);
    assert!(after_build > 0, "building is serialised by the lock");
    for _ in 0..3 {
        assert!(core::ptr::eq(AREA.get().unwrap(), built));
    }
    let again = AREA.get_or_init(|| unreachable!("built once")).unwrap();
    assert!(core::ptr::eq(again, built));
    assert_eq!(LOCKS_TAKEN.load(Ordering::SeqCst), after_build);
}
