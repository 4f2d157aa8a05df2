//! No two live buffers overlap, whatever safe code asks: overlapping sources are
//! refused at declaration, and a faulty backend or system allocator that hands out
//! memory twice gets a typed error before anything is written. Also the registry's
//! `&self` setup rules: a held device cannot be removed, a default with live buffers
//! cannot be replaced.

use std::sync::atomic::{AtomicBool, Ordering};

use contig_dma_pool::cma::allocators::{self, Backend, Extent, Stats, first_fit::FirstFit};
use contig_dma_pool::cma::{AreaSet, Declaration, PhysAddr, PhysRange, Region, Registry};
use contig_dma_pool::{
    Attrs, CoherentPool, Device, Devices, DmaAddr, DmaError, Error, NoMapping, PoolOptions,
    SourceId, SourceName, SystemMemory,
};
use contig_dma_sim::SimMemory;

const POOLS: u64 = 0x1000_0000;
const RAM: u64 = 0x8000_0000;

fn range(base: u64, size: usize) -> PhysRange {
    PhysRange::new(PhysAddr::new(base), size).unwrap()
}

fn pool<'m>(name: &str, base: u64, size: usize, mem: &'m SimMemory) -> CoherentPool<'m> {
    let bus = DmaAddr::new(base);
    CoherentPool::new(
        name,
        PhysAddr::new(base),
        bus,
        size,
        mem,
        PoolOptions::new(),
    )
    .unwrap()
}

fn name(s: &str) -> contig_dma_pool::cma::Name {
    contig_dma_pool::cma::Name::new(s).unwrap()
}

/// The review's case: pools over [0x1000_0000, +64K) and [0x1000_1000, +64K) on two
/// devices. The second declaration is refused, nothing changes, and the buffers the
/// first device gets are private.
#[test]
fn overlapping_device_pools_are_refused() {
    let mem = SimMemory::new(range(POOLS, 0x2_0000)).unwrap();
    let devs: Devices<'_> = Devices::new(&mem).unwrap();
    let a = devs.add(Device::new("a").unwrap()).unwrap();
    let b = devs.add(Device::new("b").unwrap()).unwrap();
    devs.declare_coherent(a, pool("pa", POOLS, 0x1_0000, &mem))
        .unwrap();
    let first = devs.alloc_coherent(Some(a), 0x2000, Attrs::NONE).unwrap();
    mem.write(first.phys, &[0x5a; 0x2000]).unwrap();
    let err = devs
        .declare_coherent(b, pool("pb", POOLS + 0x1000, 0x1_0000, &mem))
        .unwrap_err();
    assert_eq!(
        err,
        Error::SourcesOverlap {
            source: SourceName::Pool(name("pb")),
            range: range(POOLS + 0x1000, 0x1_0000),
            other: SourceName::Pool(name("pa")),
            other_range: range(POOLS, 0x1_0000),
        }
    );
    assert!(err.to_string().contains("pool pb"), "{err}");
    assert!(devs.pool(b).unwrap().is_none(), "b got no pool");
    // b has nothing to allocate from; a's buffer is untouched.
    assert!(matches!(
        devs.alloc_coherent(Some(b), 0x1000, Attrs::NONE),
        Err(DmaError::NoMemory { .. })
    ));
    assert_eq!(mem.all(first.phys, 0x2000, 0x5a), Some(true));
    // A pool next to it (touching, not overlapping) is fine.
    devs.declare_coherent(b, pool("pb", POOLS + 0x1_0000, 0x1_0000, &mem))
        .unwrap();
    devs.free_coherent(Some(a), &first).unwrap();
}

#[test]
fn a_pool_inside_a_cma_area_is_refused_both_ways() {
    let ram = SimMemory::new(range(RAM, 0x20_0000)).unwrap();
    let registry = Registry::with_builtins().unwrap();
    let spec = Declaration::new("cma", 0x10_0000).at(PhysAddr::new(RAM));
    let mut area = AreaSet::new();
    area.add(Region::new(spec.unwrap(), &registry, None).unwrap())
        .unwrap();

    // The CMA set first, then a pool inside one of its regions.
    let devs: Devices<'_> = Devices::new(&ram).unwrap();
    devs.set_cma(&area).unwrap();
    let dev = devs.add(Device::new("dev").unwrap()).unwrap();
    let err = devs
        .declare_coherent(dev, pool("inside", RAM + 0x8_0000, 0x1000, &ram))
        .unwrap_err();
    assert_eq!(
        err,
        Error::SourcesOverlap {
            source: SourceName::Pool(name("inside")),
            range: range(RAM + 0x8_0000, 0x1000),
            other: SourceName::Cma(name("cma")),
            other_range: range(RAM, 0x10_0000),
        }
    );
    assert!(devs.pool(dev).unwrap().is_none());
    assert_eq!(devs.set_cma(&area), Err(Error::CmaAlreadySet));

    // The pool first, then a CMA set with a region over it.
    let devs: Devices<'_> = Devices::new(&ram).unwrap();
    let dev = devs.add(Device::new("dev").unwrap()).unwrap();
    devs.declare_coherent(dev, pool("inside", RAM + 0x8_0000, 0x1000, &ram))
        .unwrap();
    assert!(matches!(
        devs.set_cma(&area),
        Err(Error::SourcesOverlap {
            source: SourceName::Cma(_),
            ..
        })
    ));
    assert!(devs.default_cma().is_none());
}

#[test]
fn a_default_pool_over_a_device_pool_is_refused() {
    let mem = SimMemory::new(range(POOLS, 0x4_0000)).unwrap();
    let default = pool("dma-default", POOLS, 0x4_0000, &mem);
    let devs: Devices<'_> = Devices::new(&mem).unwrap();
    let dev = devs.add(Device::new("dev").unwrap()).unwrap();
    devs.declare_coherent(dev, pool("own", POOLS + 0x1_0000, 0x1000, &mem))
        .unwrap();
    assert_eq!(
        devs.set_default_pool(Some(&default)),
        Err(Error::SourcesOverlap {
            source: SourceName::Pool(name("dma-default")),
            range: range(POOLS, 0x4_0000),
            other: SourceName::Pool(name("own")),
            other_range: range(POOLS + 0x1_0000, 0x1000),
        })
    );
    assert!(devs.default_pool().is_none());
    // And the other way round: a device pool inside the default pool.
    devs.release_coherent(dev).unwrap();
    devs.set_default_pool(Some(&default)).unwrap();
    assert!(matches!(
        devs.declare_coherent(dev, pool("own", POOLS + 0x1_0000, 0x1000, &mem)),
        Err(Error::SourcesOverlap { .. })
    ));
}

#[test]
fn a_system_allocator_over_a_pool_is_refused() {
    let mem = SimMemory::new(range(RAM, 0x20_0000)).unwrap();
    let registry = Registry::with_builtins().unwrap();
    let spec = Declaration::new("system", 0x10_0000).at(PhysAddr::new(RAM));
    let system: Region = Region::new(spec.unwrap(), &registry, None).unwrap();
    let devs: Devices<'_> = Devices::new(&mem).unwrap();
    let dev = devs.add(Device::new("dev").unwrap()).unwrap();
    devs.declare_coherent(dev, pool("own", RAM + 0x1000, 0x1000, &mem))
        .unwrap();
    assert!(matches!(
        devs.set_system(Some(&system)),
        Err(Error::SourcesOverlap {
            source: SourceName::System,
            ..
        })
    ));
}

/// A first-fit that answers every allocation with unit 0 once `lie` is set (while
/// really allocating elsewhere): the shape of a buggy custom backend.
struct Liar<'a> {
    inner: FirstFit,
    lie: &'a AtomicBool,
}

impl Backend for Liar<'_> {
    fn name(&self) -> &'static str {
        "liar"
    }
    fn capacity(&self) -> usize {
        self.inner.capacity()
    }
    fn allocate(&mut self, request: allocators::Request) -> Result<usize, allocators::Error> {
        let at = self.inner.allocate(request)?;
        Ok(if self.lie.load(Ordering::SeqCst) {
            0
        } else {
            at
        })
    }
    fn claim(&mut self, start: usize, count: usize) -> Result<(), allocators::Error> {
        self.inner.claim(start, count)
    }
    fn free(&mut self, start: usize, count: usize) -> Result<(), allocators::Error> {
        self.inner.free(start, count)
    }
    fn stats(&self) -> Stats {
        self.inner.stats()
    }
    fn for_each_allocation(&self, f: &mut dyn FnMut(Extent)) {
        self.inner.for_each_allocation(f);
    }
}

static LIE: AtomicBool = AtomicBool::new(false);

#[test]
fn a_backend_that_hands_out_memory_twice_is_caught_before_any_write() {
    let ram = SimMemory::new(range(RAM, 0x10_0000)).unwrap();
    let mut registry = Registry::with_builtins().unwrap();
    registry
        .register("liar", |g| {
            Box::new(Liar {
                inner: FirstFit::new(g.units, g.phase, g.max_allocations).unwrap(),
                lie: &LIE,
            })
        })
        .unwrap();
    let spec = Declaration::new("cma", 0x10_0000)
        .backend("liar")
        .at(PhysAddr::new(RAM));
    let mut area = AreaSet::new();
    let region = area
        .add(Region::new(spec.unwrap(), &registry, None).unwrap())
        .unwrap();
    let devs: Devices<'_> = Devices::new(&ram).unwrap();
    devs.set_cma(&area).unwrap();
    let dev = devs
        .add(Device::new("dev").unwrap().with_cma_area(region))
        .unwrap();

    let first = devs.alloc_coherent(Some(dev), 0x3000, Attrs::NONE).unwrap();
    assert_eq!(first.phys, PhysAddr::new(RAM));
    ram.write(first.phys, &[0x77; 0x3000]).unwrap();
    LIE.store(true, Ordering::SeqCst);
    let err = devs
        .alloc_coherent(Some(dev), 0x1000, Attrs::NONE)
        .unwrap_err();
    LIE.store(false, Ordering::SeqCst);
    assert_eq!(
        err,
        DmaError::BufferOverlap {
            source: SourceId::cma(region),
            range: range(RAM, 0x1000),
        }
    );
    assert_eq!(
        devs.explain(&err).to_string(),
        "CMA region cma handed out [0x80000000, 0x80001000), which overlaps a live buffer"
    );
    // Nothing was zeroed, the owner's count and record are as before.
    assert_eq!(ram.all(first.phys, 0x3000, 0x77), Some(true));
    assert_eq!(devs.live(dev).unwrap(), 1);
    devs.free_coherent(Some(dev), &first).unwrap();
    assert!(devs.free_coherent(Some(dev), &first).is_err());
    assert_eq!(devs.live(dev).unwrap(), 0);
}

/// A system allocator that answers from a fixed list, right or wrong.
struct Scripted {
    span: PhysRange,
    answers: std::sync::Mutex<Vec<PhysRange>>,
    freed: std::sync::Mutex<Vec<PhysRange>>,
}

impl SystemMemory for Scripted {
    fn allocate(&self, _size: usize, _align: usize, _window: PhysRange) -> Option<PhysRange> {
        self.answers.lock().unwrap().pop()
    }
    fn free(&self, range: PhysRange) -> bool {
        self.freed.lock().unwrap().push(range);
        true
    }
    fn span(&self) -> PhysRange {
        self.span
    }
}

#[test]
fn a_system_allocator_answer_is_checked() {
    let ram = SimMemory::new(range(RAM, 0x10_0000)).unwrap();
    let system = Scripted {
        span: range(RAM, 0x8_0000),
        // Popped from the end: a good one, the same again, one outside the span, one
        // of the wrong size.
        answers: std::sync::Mutex::new(vec![
            range(RAM + 0x1000, 0x800),
            range(RAM + 0x7_f000, 0x2000),
            range(RAM + 0x1000, 0x1000),
            range(RAM, 0x2000),
        ]),
        freed: std::sync::Mutex::new(Vec::new()),
    };
    let devs: Devices<'_> = Devices::new(&ram).unwrap();
    devs.set_system(Some(&system)).unwrap();
    let attrs = Attrs::NON_CONSISTENT;
    let good = devs.alloc_coherent(None, 0x2000, attrs).unwrap();
    ram.write(good.phys, &[0x33; 0x2000]).unwrap();
    let overlap = devs.alloc_coherent(None, 0x1000, attrs).unwrap_err();
    assert_eq!(
        overlap,
        DmaError::BufferOverlap {
            source: SourceId::System,
            range: range(RAM + 0x1000, 0x1000),
        }
    );
    let outside = devs.alloc_coherent(None, 0x2000, attrs).unwrap_err();
    assert_eq!(
        outside,
        DmaError::BadAnswer {
            source: SourceId::System,
            range: range(RAM + 0x7_f000, 0x2000),
        }
    );
    let short = devs.alloc_coherent(None, 0x1000, attrs).unwrap_err();
    assert!(matches!(short, DmaError::BadAnswer { .. }), "{short:?}");
    assert_eq!(ram.all(good.phys, 0x2000, 0x33), Some(true));
    // None of the wrong answers was given back (that could free live memory).
    assert!(system.freed.lock().unwrap().is_empty());
    devs.free_coherent(None, &good).unwrap();
    assert_eq!(*system.freed.lock().unwrap(), vec![range(RAM, 0x2000)]);
}

#[test]
fn setup_refuses_instead_of_waiting() {
    let mem = SimMemory::new(range(POOLS, 0x2_0000)).unwrap();
    let default = pool("dma-default", POOLS + 0x1_0000, 0x1_0000, &mem);
    let devs: Devices<'_> = Devices::new(&mem).unwrap();
    let dev = devs.add(Device::new("dev").unwrap()).unwrap();
    devs.declare_coherent(dev, pool("own", POOLS, 0x1_0000, &mem))
        .unwrap();
    {
        // A reference to the device's description or pool holds it.
        let held = devs.device(dev).unwrap();
        assert_eq!(
            devs.remove(dev),
            Err(Error::DeviceBusy {
                device: held.name(),
                holders: 1
            })
        );
        let pool = devs.pool(dev).unwrap().unwrap();
        assert!(matches!(
            devs.release_coherent(dev),
            Err(Error::DeviceBusy { holders: 1, .. })
        ));
        assert_eq!(pool.live(), 0);
    }
    // A default pool with a live buffer cannot be replaced.
    devs.set_default_pool(Some(&default)).unwrap();
    let buf = devs.alloc_coherent(None, 0x100, Attrs::NONE).unwrap();
    assert_eq!(
        devs.set_default_pool(None),
        Err(Error::SourceBusy {
            source: SourceName::Pool(name("dma-default")),
            live: 1
        })
    );
    devs.free_coherent(None, &buf).unwrap();
    devs.set_default_pool(None).unwrap();
    assert!(devs.default_pool().is_none());
    // Removal works once nothing holds it; the slot is reused under a new id.
    devs.release_coherent(dev).unwrap();
    let gone = devs.remove(dev).unwrap();
    assert_eq!(gone.name().as_str(), "dev");
    let again = devs.add(Device::new("dev").unwrap()).unwrap();
    assert_ne!(again, dev);
    assert!(matches!(
        devs.live(dev),
        Err(DmaError::UnknownDevice { .. })
    ));
}

#[test]
fn a_full_registry_says_so() {
    let devs: Devices<'_> = Devices::with_capacity(&NoMapping, 2, 4).unwrap();
    devs.add(Device::new("a").unwrap()).unwrap();
    devs.add(Device::new("b").unwrap()).unwrap();
    let err = devs.add(Device::new("c").unwrap()).unwrap_err();
    assert_eq!(err, Error::TooManyDevices { capacity: 2 });
    assert!(err.to_string().contains("room for 2 devices"));
}

/// A buffer from the default pool stays freeable through its device after the device
/// gets an exclusive pool of its own (the registry's record knows where it lives).
#[test]
fn a_buffer_from_before_an_exclusive_pool_can_still_be_freed() {
    let mem = SimMemory::new(range(POOLS, 0x2_0000)).unwrap();
    let default = pool("dma-default", POOLS + 0x1_0000, 0x1_0000, &mem);
    let devs: Devices<'_> = Devices::new(&mem).unwrap();
    devs.set_default_pool(Some(&default)).unwrap();
    let dev = devs.add(Device::new("dev").unwrap()).unwrap();
    let other = devs.add(Device::new("other").unwrap()).unwrap();
    let early = devs.alloc_coherent(Some(dev), 0x100, Attrs::NONE).unwrap();
    assert!(default.phys().contains(early.phys));
    devs.declare_coherent(dev, pool("own", POOLS, 0x1_0000, &mem))
        .unwrap();
    // Still not another device's to free.
    assert!(matches!(
        devs.free_coherent(Some(other), &early),
        Err(DmaError::WrongDevice { .. })
    ));
    devs.free_coherent(Some(dev), &early).unwrap();
    assert_eq!(devs.live(dev).unwrap(), 0);
    assert_eq!(default.records(), 0);
    assert!(matches!(
        devs.free_coherent(Some(dev), &early),
        Err(DmaError::NotOwned { .. })
    ));
}
