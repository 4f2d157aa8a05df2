//! `alloc_coherent_aligned`: every source of the fallback order honours the alignment,
//! sizes stay exact, a bad alignment is a typed error, and the plain call keeps its
//! documented minimum (the pool's page, the region's granule, the system page).

use contig_dma_pool::cma::{AreaSet, Declaration, PhysAddr, PhysRange, Region, Registry};
use contig_dma_pool::{Attrs, CoherentPool, Device, Devices, DmaAddr, DmaError, PoolOptions};
use contig_dma_sim::SimMemory;

const POOLS: u64 = 0x1000_0000;
const RAM: u64 = 0x8000_0000;

fn range(base: u64, size: usize) -> PhysRange {
    PhysRange::new(PhysAddr::new(base), size).unwrap()
}

#[test]
fn every_source_honours_the_alignment() {
    let pools = SimMemory::new(range(POOLS, 0x8_0000)).unwrap();
    let ram = SimMemory::new(range(RAM, 0x40_0000)).unwrap();
    let registry = Registry::with_builtins().unwrap();
    let region = |name, base, backend| {
        let spec = Declaration::new(name, 0x10_0000)
            .backend(backend)
            .at(PhysAddr::new(base));
        Region::new(spec.unwrap(), &registry, None).unwrap()
    };
    let mut area = AreaSet::new();
    let dev_cma = area.add(region("dev-cma", RAM, "bitmap")).unwrap();
    let default_cma = area
        .add(region("cma-default", RAM + 0x10_0000, "first-fit"))
        .unwrap();
    let system: Region = region("system", RAM + 0x20_0000, "first-fit");
    // Pools whose bases are only page-aligned, one 0x1000 page past 64 KiB.
    let pool = |name, base: u64, size, fall| {
        let options = PoolOptions::new().fallthrough(fall);
        CoherentPool::new(
            name,
            PhysAddr::new(base),
            DmaAddr::new(base),
            size,
            &pools,
            options,
        )
        .unwrap()
    };
    let default = pool("dma-default", POOLS + 0x4_1000, 0x3_0000, false);
    let devs: Devices<'_> = Devices::new(&ram).unwrap();
    devs.set_cma(&area).unwrap();
    devs.set_default_cma(Some(default_cma)).unwrap();
    devs.set_default_pool(Some(&default)).unwrap();
    devs.set_system(Some(&system)).unwrap();
    let dev = Device::new("dev")
        .unwrap()
        .with_coherent_mask(u64::MAX)
        .with_cma_area(dev_cma);
    let dev = devs.add(dev).unwrap();
    devs.declare_coherent(dev, pool("own", POOLS + 0x1000, 0x3_0000, true))
        .unwrap();

    let align = 0x1_0000;
    let size = 0x1801; // exact, not a multiple of anything
    let mut got = Vec::new();
    // Exhaust each source in turn: own pool, device CMA, default pool, default CMA,
    // then the system allocator (NON_CONSISTENT).
    while let Ok(buf) = devs.alloc_coherent_aligned(Some(dev), size, align, Attrs::NONE) {
        assert!(buf.phys.is_aligned(align), "{buf:?}");
        assert!(buf.dma.is_aligned(align as u64), "{buf:?}");
        assert_eq!(buf.size, size);
        assert!(pools.all(buf.phys, size, 0).or(ram.all(buf.phys, size, 0)) == Some(true));
        got.push(buf);
    }
    let from = |base: u64, len: usize| {
        got.iter()
            .filter(|b| range(base, len).contains(b.phys))
            .count()
    };
    // The own pool [0x1000_1000, 0x1003_1000) has 64 KiB boundaries at 0x1001_0000,
    // 0x1002_0000 and 0x1003_0000, but 0x1801 bytes from the last one pass its end:
    // two fit. Likewise in the default pool; each 1 MiB CMA region holds sixteen.
    assert_eq!(from(POOLS + 0x1000, 0x3_0000), 2);
    assert_eq!(from(RAM, 0x10_0000), 16);
    assert_eq!(from(POOLS + 0x4_1000, 0x3_0000), 2);
    assert_eq!(from(RAM + 0x10_0000, 0x10_0000), 16);
    let sys = devs
        .alloc_coherent_aligned(Some(dev), size, align, Attrs::NON_CONSISTENT)
        .unwrap();
    assert!(range(RAM + 0x20_0000, 0x10_0000).contains(sys.phys));
    assert!(sys.phys.is_aligned(align));
    got.push(sys);
    assert_eq!(devs.live(dev).unwrap(), got.len());
    for buf in &got {
        devs.free_coherent(Some(dev), buf).unwrap();
    }
    assert_eq!(devs.live(dev).unwrap(), 0);
}

#[test]
fn bad_alignment_and_the_plain_minimum() {
    let pools = SimMemory::new(range(POOLS, 0x1_0000)).unwrap();
    let devs: Devices<'_> = Devices::new(&pools).unwrap();
    let dev = devs.add(Device::new("dev").unwrap()).unwrap();
    let options = PoolOptions::new().page(0x400);
    let pool = CoherentPool::new(
        "own",
        PhysAddr::new(POOLS),
        DmaAddr::new(0),
        0x1_0000,
        &pools,
        options,
    )
    .unwrap();
    devs.declare_coherent(dev, pool).unwrap();
    for align in [0, 3, 0x1800] {
        let err = devs
            .alloc_coherent_aligned(Some(dev), 8, align, Attrs::NONE)
            .unwrap_err();
        assert!(matches!(err, DmaError::BadAlignment { align: a, .. } if a == align));
        assert!(err.to_string().contains("not a power of two"), "{err}");
    }
    assert_eq!(devs.live(dev).unwrap(), 0);
    // The plain call: the pool's page (0x400 here) is the guaranteed minimum.
    let a = devs.alloc_coherent(Some(dev), 1, Attrs::NONE).unwrap();
    let b = devs.alloc_coherent(Some(dev), 1, Attrs::NONE).unwrap();
    assert_eq!(b.phys.as_u64() - a.phys.as_u64(), 0x400);
    // An alignment below the page changes nothing; above it, it rules.
    let c = devs
        .alloc_coherent_aligned(Some(dev), 1, 16, Attrs::NONE)
        .unwrap();
    assert_eq!(c.phys.as_u64() - b.phys.as_u64(), 0x400);
    let d = devs
        .alloc_coherent_aligned(Some(dev), 1, 0x2000, Attrs::NONE)
        .unwrap();
    assert_eq!(d.phys, PhysAddr::new(POOLS + 0x2000));
    assert_eq!(d.dma, DmaAddr::new(0x2000));
    for buf in [a, b, c, d] {
        devs.free_coherent(Some(dev), &buf).unwrap();
    }
}
