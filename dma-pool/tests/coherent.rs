//! The coherent DMA API on simulated memory: allocation order, exclusivity, masks,
//! zeroing, attributes, frees, occupied ranges, pool declaration and release, devices.
// Test addresses are small constants, so narrowing casts are exact.
#![allow(clippy::cast_possible_truncation)]

use contig_dma_pool::cma::{
    AreaSet, Declaration, DefaultLock, InterruptControl, IrqSafe, PhysAddr, PhysRange, Region,
    RegionId, Registry, Request,
};
use contig_dma_pool::{
    Attrs, BusMap, BusWindow, CoherentBuffer, CoherentPool, Device, DeviceId, Devices, DmaAddr,
    DmaError, Error, GlobalPool, NoMapping, PoolOptions, Refusal, SourceId,
};
use contig_dma_sim::SimMemory;

const RAM: u64 = 0x8000_0000;
const RAM_SIZE: usize = 0x40_0000; // 4 MiB: CMA areas and system memory
const DEV_CMA: u64 = RAM; // 1 MiB
const DEFAULT_CMA: u64 = RAM + 0x10_0000; // 1 MiB
const SYSTEM: u64 = RAM + 0x20_0000; // 1 MiB
const POOLS: u64 = 0x1000_0000;
const POOLS_SIZE: usize = 0x8_0000;

fn phys(a: u64) -> PhysAddr {
    PhysAddr::new(a)
}

fn range(a: u64, size: usize) -> PhysRange {
    PhysRange::new(phys(a), size).unwrap()
}

struct Fixture {
    ram: SimMemory,
    pools: SimMemory,
    area: AreaSet,
    dev_cma: RegionId,
    default_cma: RegionId,
    system: Region,
}

impl Fixture {
    fn new() -> Self {
        let registry = Registry::with_builtins().unwrap();
        let region = |name, base| {
            let spec = Declaration::new(name, 0x10_0000)
                .backend("first-fit")
                .at(phys(base));
            Region::new(spec.unwrap(), &registry, None).unwrap()
        };
        let mut area = AreaSet::new();
        let dev_cma = area.add(region("dev-cma", DEV_CMA)).unwrap();
        let default_cma = area.add(region("cma-default", DEFAULT_CMA)).unwrap();
        Self {
            ram: SimMemory::new(range(RAM, RAM_SIZE)).unwrap(),
            pools: SimMemory::new(range(POOLS, POOLS_SIZE)).unwrap(),
            area,
            dev_cma,
            default_cma,
            system: region("system", SYSTEM),
        }
    }

    /// A registry with the default CMA area and the system allocator, no default pool.
    fn devices(&self) -> Devices<'_> {
        let d = Devices::new(&self.ram).unwrap();
        d.set_cma(&self.area).unwrap();
        d.set_default_cma(Some(self.default_cma)).unwrap();
        d.set_system(Some(&self.system)).unwrap();
        d
    }

    /// A registry with the default CMA area only, recording up to `records` of its
    /// buffers: the bounded records those tests fill.
    fn cma_devices(&self, records: usize) -> Devices<'_> {
        let d = Devices::with_capacity(&self.ram, 64, records).unwrap();
        d.set_cma(&self.area).unwrap();
        d.set_default_cma(Some(self.default_cma)).unwrap();
        d
    }

    /// A 16 KiB pool at `POOLS + off`, seen at bus `bus`.
    fn pool(&self, name: &str, off: u64, bus: u64, options: PoolOptions) -> CoherentPool<'_> {
        let at = phys(POOLS + off);
        CoherentPool::new(name, at, DmaAddr::new(bus), 0x4000, &self.pools, options).unwrap()
    }
}

fn dev(name: &str) -> Device {
    Device::new(name).unwrap()
}

fn inside(b: &CoherentBuffer, base: u64, size: usize) -> bool {
    range(base, size).contains_range(&range(b.phys.as_u64(), b.size))
}

#[test]
fn device_pool_first_and_exclusive() {
    let f = Fixture::new();
    let default = f.pool("default", 0x1_0000, 0x1_0000, PoolOptions::new());
    let d = f.devices();
    d.set_default_pool(Some(&default)).unwrap();
    let a = d.add(dev("a").with_cma_area(f.dev_cma)).unwrap();
    d.declare_coherent(a, f.pool("a-pool", 0, 0x4000_0000, PoolOptions::new()))
        .unwrap();
    let b = d.alloc_coherent(Some(a), 0x3000, Attrs::NONE).unwrap();
    assert_eq!(b.dma, DmaAddr::new(0x4000_0000));
    assert_eq!(b.phys, phys(POOLS));
    assert_eq!(b.size, 0x3000);
    // 0x1000 bytes remain: a bigger request fails although the CMA area, default pool
    // and default CMA area all have room.
    let full = d.alloc_coherent(Some(a), 0x2000, Attrs::NON_CONSISTENT);
    assert_eq!(
        full,
        Err(DmaError::NoMemory {
            device: Some(a),
            size: 0x2000,
            mask: 0xffff_ffff
        })
    );
    assert_eq!(default.live(), 0);
    d.free_coherent(Some(a), &b).unwrap();
}

#[test]
fn fallthrough_walks_the_chain_in_order() {
    let f = Fixture::new();
    let default = f.pool("default", 0x1_0000, 0x1_0000, PoolOptions::new());
    let d = f.devices();
    d.set_default_pool(Some(&default)).unwrap();
    let a = d.add(dev("a").with_cma_area(f.dev_cma)).unwrap();
    let through = PoolOptions::new().fallthrough(true);
    d.declare_coherent(a, f.pool("a-pool", 0, 0x4000_0000, through))
        .unwrap();
    let from_pool = d.alloc_coherent(Some(a), 0x4000, Attrs::NONE).unwrap();
    assert!(inside(&from_pool, POOLS, 0x4000));
    let from_cma = d.alloc_coherent(Some(a), 0xf_0000, Attrs::NONE).unwrap();
    assert!(inside(&from_cma, DEV_CMA, 0x10_0000));
    assert_eq!(from_cma.dma, DmaAddr::new(DEV_CMA)); // identity bus
    let from_default = d.alloc_coherent(Some(a), 0x2_0000, Attrs::NONE);
    // The device CMA area has 0x1_0000 left, the default pool 0x4000: default CMA.
    let from_default = from_default.unwrap();
    assert!(inside(&from_default, DEFAULT_CMA, 0x10_0000));
    let small = d.alloc_coherent(Some(a), 0x1_0000, Attrs::NONE).unwrap();
    assert!(inside(&small, DEV_CMA, 0x10_0000));
    let pool_default = d.alloc_coherent(Some(a), 0x4000, Attrs::NONE).unwrap();
    assert!(inside(&pool_default, POOLS + 0x1_0000, 0x4000));
    assert_eq!(pool_default.dma, DmaAddr::new(0x1_0000));
    // Coherent sources exhausted for 0xf_0000 bytes: only NON_CONSISTENT reaches the
    // system allocator.
    assert!(d.alloc_coherent(Some(a), 0xf_0000, Attrs::NONE).is_err());
    let sys = d
        .alloc_coherent(Some(a), 0xf_0000, Attrs::NON_CONSISTENT)
        .unwrap();
    assert!(inside(&sys, SYSTEM, 0x10_0000));
    assert_eq!(d.live(a).unwrap(), 6);
    for b in [from_pool, from_cma, from_default, small, pool_default, sys] {
        d.free_coherent(Some(a), &b).unwrap();
    }
    assert_eq!(d.live(a).unwrap(), 0);
    assert_eq!(f.area.stats("dev-cma").unwrap().used_bytes(), 0);
    assert_eq!(f.system.stats().used_bytes(), 0);
}

#[test]
fn no_device_uses_the_defaults() {
    let f = Fixture::new();
    let default = f.pool("default", 0x1_0000, 0x9000_0000, PoolOptions::new());
    let d = f.devices();
    assert!(inside(
        &d.alloc_coherent(None, 10, Attrs::NO_ZERO).unwrap(),
        DEFAULT_CMA,
        0x10_0000
    ));
    d.set_default_pool(Some(&default)).unwrap();
    let b = d.alloc_coherent(None, 10, Attrs::NONE).unwrap();
    assert_eq!(b.dma, DmaAddr::new(0x9000_0000));
    d.free_coherent(None, &b).unwrap();
    assert_eq!(
        d.alloc_coherent(None, 0, Attrs::NONE),
        Err(DmaError::ZeroSize { device: None })
    );
}

#[test]
fn a_device_pool_is_private() {
    let f = Fixture::new();
    let d = f.devices();
    let a = d.add(dev("a")).unwrap();
    let b = d.add(dev("b")).unwrap();
    d.declare_coherent(a, f.pool("a-pool", 0, 0, PoolOptions::new()))
        .unwrap();
    let mine = d.alloc_coherent(Some(a), 64, Attrs::NONE).unwrap();
    let theirs = d.alloc_coherent(Some(b), 64, Attrs::NONE).unwrap();
    assert!(inside(&theirs, DEFAULT_CMA, 0x10_0000));
    // b frees a's buffer: it was allocated for a.
    assert_eq!(
        d.free_coherent(Some(b), &mine),
        Err(DmaError::WrongDevice {
            device: Some(b),
            owner: Some(a),
            dma: mine.dma,
        })
    );
    assert!(matches!(
        d.free_coherent(Some(a), &theirs),
        Err(DmaError::WrongDevice { .. })
    ));
    // Memory of a's pool that is no buffer: foreign to b's chain.
    let unused = CoherentBuffer {
        phys: phys(mine.phys.as_u64() + 0x1000),
        dma: DmaAddr::new(mine.dma.as_u64() + 0x1000),
        ..mine
    };
    assert_eq!(
        d.free_coherent(Some(b), &unused),
        Err(DmaError::NotOwned {
            device: Some(b),
            dma: unused.dma,
            size: 64
        })
    );
    d.free_coherent(Some(a), &mine).unwrap();
    d.free_coherent(Some(b), &theirs).unwrap();
}

#[test]
fn exact_sizes_no_power_of_two_rounding() {
    let f = Fixture::new();
    let d = f.devices();
    let cam = d.add(dev("cam")).unwrap();
    let pool = CoherentPool::new(
        "video",
        phys(POOLS),
        DmaAddr::new(0),
        POOLS_SIZE,
        &f.pools,
        PoolOptions::new(),
    )
    .unwrap();
    d.declare_coherent(cam, pool).unwrap();
    // A power-of-two pool would take 128 KiB for each 0x1_5180-byte buffer (+52 %);
    // here each takes its exact size (and the rest of its last page stays unused).
    let frames: Vec<_> = (0..3)
        .map(|_| {
            d.alloc_coherent(Some(cam), 0x1_5180, Attrs::NO_ZERO)
                .unwrap()
        })
        .collect();
    let used = d.pool(cam).unwrap().unwrap().stats().used_bytes();
    assert_eq!(used, 3 * 0x1_5180);
    assert!(
        frames
            .iter()
            .all(|b| b.size == 0x1_5180 && b.phys.is_aligned(0x1000))
    );
    for b in &frames {
        d.free_coherent(Some(cam), b).unwrap();
    }
}

#[test]
fn the_coherent_mask_is_respected() {
    let f = Fixture::new();
    let d = f.devices();
    // The device sees RAM through an offset: bus 0 is RAM's base. A 20-bit mask
    // reaches the first MiB only (the device CMA area), never the default CMA area.
    let narrow = dev("narrow")
        .with_bus(BusMap::Offset(RAM))
        .with_coherent_mask(0xf_ffff);
    let n = d.add(narrow.clone()).unwrap();
    // The default CMA area lies above the mask: nothing to be had.
    assert!(matches!(
        d.alloc_coherent(Some(n), 0x8000, Attrs::NONE),
        Err(DmaError::NoMemory { mask: 0xf_ffff, .. })
    ));
    d.remove(n).unwrap();
    let n = d.add(narrow.with_cma_area(f.dev_cma)).unwrap();
    let b = d.alloc_coherent(Some(n), 0x8000, Attrs::NONE).unwrap();
    assert!(inside(&b, DEV_CMA, 0x10_0000));
    assert_eq!(b.dma, DmaAddr::new(b.phys.as_u64() - RAM));
    assert!(b.dma.as_u64() + b.size as u64 - 1 <= 0xf_ffff);
    d.free_coherent(Some(n), &b).unwrap();
    // A pool above the mask gives nothing (exclusive: no fallback either).
    let high = d.add(dev("high").with_coherent_mask(0xffff)).unwrap();
    d.declare_coherent(high, f.pool("hp", 0, 0x1_0000, PoolOptions::new()))
        .unwrap();
    assert!(matches!(
        d.alloc_coherent(Some(high), 1, Attrs::NONE),
        Err(DmaError::NoMemory { mask: 0xffff, .. })
    ));
    // A window-limited device: only 64K of the device CMA area is visible.
    let w = BusWindow::new(DmaAddr::new(0), phys(DEV_CMA + 0x8_0000), 0x1_0000).unwrap();
    let win = dev("win")
        .with_bus(BusMap::windows(vec![w]).unwrap())
        .with_cma_area(f.dev_cma);
    let win = d.add(win).unwrap();
    let b = d.alloc_coherent(Some(win), 0x1_0000, Attrs::NONE).unwrap();
    assert_eq!((b.phys, b.dma), (phys(DEV_CMA + 0x8_0000), DmaAddr::new(0)));
    assert!(d.alloc_coherent(Some(win), 1, Attrs::NONE).is_err());
    d.free_coherent(Some(win), &b).unwrap();
}

#[test]
fn zeroing_and_attributes() {
    let f = Fixture::new();
    let d = f.devices();
    let a = d.add(dev("a")).unwrap();
    d.declare_coherent(a, f.pool("p", 0, 0, PoolOptions::new()))
        .unwrap();
    let raw = d.alloc_coherent(Some(a), 0x100, Attrs::NO_ZERO).unwrap();
    assert_eq!(f.pools.all(raw.phys, 0x100, SimMemory::POISON), Some(true));
    f.pools.write(raw.phys, b"secret").unwrap();
    d.free_coherent(Some(a), &raw).unwrap();
    let z = d.alloc_coherent(Some(a), 0x100, Attrs::NONE).unwrap();
    assert_eq!(z.phys, raw.phys);
    assert_eq!(f.pools.all(z.phys, 0x100, 0), Some(true));
    assert!(z.cpu.is_some());
    let hidden = d
        .alloc_coherent(Some(a), 0x100, Attrs::NO_KERNEL_MAPPING)
        .unwrap();
    assert!(hidden.cpu.is_none());
    assert_eq!(f.pools.all(hidden.phys, 0x100, 0), Some(true)); // still zeroed
    d.free_coherent(Some(a), &z).unwrap();
    d.free_coherent(Some(a), &hidden).unwrap();
}

#[test]
fn zeroing_needs_a_mapping() {
    let f = Fixture::new();
    let d = f.devices();
    let a = d.add(dev("a")).unwrap();
    let unmapped = CoherentPool::new(
        "nomap",
        phys(POOLS),
        DmaAddr::new(0),
        0x4000,
        &NoMapping,
        PoolOptions::new(),
    )
    .unwrap();
    d.declare_coherent(a, unmapped).unwrap();
    assert_eq!(
        d.alloc_coherent(Some(a), 16, Attrs::NONE),
        Err(DmaError::Unmapped {
            device: Some(a),
            phys: phys(POOLS),
            size: 16
        })
    );
    assert_eq!(d.pool(a).unwrap().unwrap().live(), 0); // rolled back
    assert_eq!(d.live(a).unwrap(), 0);
    let b = d.alloc_coherent(Some(a), 16, Attrs::NO_ZERO).unwrap();
    assert!(b.cpu.is_none());
    d.free_coherent(Some(a), &b).unwrap();
}

#[test]
fn bad_frees_are_errors() {
    let f = Fixture::new();
    let d = f.devices();
    let a = d.add(dev("a").with_cma_area(f.dev_cma)).unwrap();
    d.declare_coherent(
        a,
        f.pool("p", 0, 0x100_0000, PoolOptions::new().fallthrough(true)),
    )
    .unwrap();
    let b = d.alloc_coherent(Some(a), 0x100, Attrs::NONE).unwrap();
    let keep = d.alloc_coherent(Some(a), 0x100, Attrs::NONE).unwrap();
    let big = d.alloc_coherent(Some(a), 0x8000, Attrs::NONE).unwrap(); // device CMA area
    let bad = |b: &CoherentBuffer, size, cause| DmaError::BadFree {
        device: Some(a),
        cause,
        dma: b.dma,
        size,
    };
    let wrong_size = |b: &CoherentBuffer, actual| DmaError::WrongSize {
        device: Some(a),
        dma: b.dma,
        actual,
    };
    let resized = CoherentBuffer { size: 0xff, ..b };
    assert_eq!(
        d.free_coherent(Some(a), &resized),
        Err(wrong_size(&b, 0x100))
    );
    let moved = CoherentBuffer {
        dma: DmaAddr::new(b.dma.as_u64() + 1),
        ..b
    };
    assert!(matches!(
        d.free_coherent(Some(a), &moved),
        Err(DmaError::NotOwned { .. })
    ));
    let inner = CoherentBuffer {
        phys: phys(b.phys.as_u64() + 0x10),
        dma: DmaAddr::new(b.dma.as_u64() + 0x10),
        size: 0x10,
        ..b
    };
    assert_eq!(
        d.free_coherent(Some(a), &inner),
        Err(bad(&inner, 0x10, Refusal::NotStart))
    );
    // CMA areas hand out whole granules, yet a size changed within the same
    // granules is still caught: the registry books exact sizes.
    for size in [0x9000, 0x7fff] {
        let cma_resized = CoherentBuffer { size, ..big };
        assert_eq!(
            d.free_coherent(Some(a), &cma_resized),
            Err(wrong_size(&big, 0x8000))
        );
    }
    // Memory of the same CMA area taken directly (not through this API) is foreign.
    let direct = f
        .area
        .alloc_from_region("dev-cma", &Request::new(0x1000))
        .unwrap();
    let direct_buf = CoherentBuffer {
        cpu: None,
        dma: DmaAddr::new(direct.addr().as_u64()),
        phys: direct.addr(),
        size: 0x1000,
    };
    assert_eq!(
        d.free_coherent(Some(a), &direct_buf),
        Err(bad(&direct_buf, 0x1000, Refusal::NotAllocated))
    );
    drop(direct);
    d.free_coherent(Some(a), &b).unwrap();
    assert_eq!(
        d.free_coherent(Some(a), &b),
        Err(bad(&b, 0x100, Refusal::NotAllocated))
    );
    d.free_coherent(Some(a), &big).unwrap();
    assert!(matches!(
        d.free_coherent(Some(a), &big),
        Err(DmaError::BadFree {
            cause: Refusal::NotAllocated,
            ..
        })
    ));
    d.free_coherent(Some(a), &keep).unwrap();
    // No live buffers left: a further free through `a` is a double free.
    assert_eq!(
        d.free_coherent(Some(a), &keep),
        Err(bad(&keep, 0x100, Refusal::NotAllocated))
    );
    assert_eq!(d.live(a).unwrap(), 0);
}

#[test]
fn declare_release_and_mark_occupied() {
    let f = Fixture::new();
    let d = f.devices();
    let a = d.add(dev("a")).unwrap();
    let name = dev("a").name();
    d.declare_coherent(a, f.pool("p", 0, 0x2000_0000, PoolOptions::new()))
        .unwrap();
    assert_eq!(
        d.declare_coherent(a, f.pool("q", 0x4000, 0, PoolOptions::new())),
        Err(Error::PoolBusy { device: name })
    );
    // Firmware already uses the second page.
    f.pools.write(phys(POOLS + 0x1000), b"fw").unwrap();
    let occ = d
        .mark_occupied(a, DmaAddr::new(0x2000_1000), 0x1000)
        .unwrap();
    assert_eq!(occ.phys, phys(POOLS + 0x1000));
    let mut fw = [0u8; 2];
    f.pools.read(occ.phys, &mut fw).unwrap();
    assert_eq!(&fw, b"fw"); // not zeroed
    assert!(matches!(
        d.mark_occupied(a, DmaAddr::new(0x2000_1800), 0x100),
        Err(DmaError::Occupy {
            cause: Refusal::InUse,
            ..
        })
    ));
    assert_eq!(
        d.mark_occupied(a, DmaAddr::new(0x2000_3000), 0x1001),
        Err(DmaError::NotInPool {
            device: a,
            dma: DmaAddr::new(0x2000_3000),
            size: 0x1001
        })
    );
    let b = d.alloc_coherent(Some(a), 0x1001, Attrs::NONE).unwrap();
    // The first page is free but 0x1001 bytes need two: the next free pair.
    assert_eq!(b.phys, phys(POOLS + 0x2000));
    assert_eq!(
        d.release_coherent(a).unwrap_err(),
        Error::PoolLive {
            pool: dev("p").name(),
            live: 2
        }
    );
    d.free_coherent(Some(a), &b).unwrap();
    d.free_coherent(Some(a), &occ).unwrap();
    let pool = d.release_coherent(a).unwrap();
    assert_eq!(pool.name().as_str(), "p");
    assert_eq!(
        d.release_coherent(a).unwrap_err(),
        Error::NoPool { device: name }
    );
    let none = d.add(dev("none")).unwrap();
    assert!(matches!(
        d.mark_occupied(none, DmaAddr::new(0), 1),
        Err(DmaError::NoPool { .. })
    ));
}

#[test]
fn children_inherit_and_find_their_owner() {
    let f = Fixture::new();
    let d = f.devices();
    let rproc = d.add(dev("m4")).unwrap();
    d.declare_coherent(rproc, f.pool("m4-pool", 0, 0, PoolOptions::new()))
        .unwrap();
    let vdev = d
        .add(dev("vdev0").with_parent(rproc).with_inherited_pool(true))
        .unwrap();
    let vring = d
        .add(dev("vring").with_parent(vdev).with_inherited_pool(true))
        .unwrap();
    let other = d.add(dev("other").with_parent(rproc)).unwrap();
    let b = d.alloc_coherent(Some(vring), 0x100, Attrs::NONE).unwrap();
    assert!(inside(&b, POOLS, 0x4000));
    let o = d.alloc_coherent(Some(other), 0x100, Attrs::NONE).unwrap();
    assert!(inside(&o, DEFAULT_CMA, 0x10_0000));
    let is_m4 = |_: DeviceId, x: &Device| x.name().as_str() == "m4";
    assert_eq!(d.find_ancestor(vring, is_m4), Ok(Some(rproc)));
    assert_eq!(
        d.find_ancestor(vring, |_, x| x.name().as_str() == "nope"),
        Ok(None)
    );
    // The parent's pool cannot go while a grandchild has a buffer in it.
    assert!(matches!(
        d.release_coherent(rproc),
        Err(Error::PoolLive { live: 1, .. })
    ));
    assert!(matches!(
        d.remove(vring),
        Err(Error::LiveBuffers { live: 1, .. })
    ));
    assert!(matches!(d.remove(vdev), Err(Error::HasChildren { .. })));
    d.free_coherent(Some(vring), &b).unwrap();
    d.free_coherent(Some(other), &o).unwrap();
    d.remove(vring).unwrap();
    // The removed id is dead even when its slot is reused.
    let again = d.add(dev("again")).unwrap();
    assert_eq!(
        d.device(vring).unwrap_err(),
        DmaError::UnknownDevice { id: vring }
    );
    assert_eq!(d.find("again"), Some(again));
    assert!(d.alloc_coherent(Some(vring), 1, Attrs::NONE).is_err());
    d.remove(vdev).unwrap();
    d.remove(other).unwrap();
    d.remove(again).unwrap();
    d.remove(rproc).unwrap();
    assert_eq!(d.iter().count(), 0);
}

#[test]
fn registry_setup_errors() {
    let f = Fixture::new();
    let d = f.devices();
    let a = d.add(dev("a")).unwrap();
    assert_eq!(
        d.add(dev("a")),
        Err(Error::DuplicateDevice {
            name: dev("a").name()
        })
    );
    d.remove(a).unwrap();
    assert_eq!(
        d.add(dev("b").with_parent(a)),
        Err(Error::UnknownDevice { id: a })
    );
    let bogus = RegionId::new(9);
    assert_eq!(
        d.add(dev("c").with_cma_area(bogus)),
        Err(Error::UnknownCmaRegion {
            device: Some(dev("c").name()),
            region: bogus
        })
    );
    assert_eq!(
        d.set_default_cma(Some(bogus)),
        Err(Error::UnknownCmaRegion {
            device: None,
            region: bogus
        })
    );
    assert!(d.iter().next().is_none());
}

#[test]
fn mmap_of_a_real_buffer() {
    let f = Fixture::new();
    let d = f.devices();
    let a = d.add(dev("a")).unwrap();
    d.declare_coherent(a, f.pool("p", 0, 0, PoolOptions::new()))
        .unwrap();
    let b = d.alloc_coherent(Some(a), 0x1800, Attrs::NONE).unwrap();
    let pfns = b.mmap(0x1000, 0, 2).unwrap();
    assert_eq!((pfns.first, pfns.count), (POOLS / 0x1000, 2));
    assert!(matches!(
        b.mmap(0x1000, 1, 2),
        Err(Error::MmapOutOfRange { .. })
    ));
    d.free_coherent(Some(a), &b).unwrap();
}

static DEFAULT_POOL: GlobalPool = GlobalPool::new();

#[test]
fn global_default_pool() {
    let f = Fixture::new();
    let pool = DEFAULT_POOL
        .get_or_init(|| {
            CoherentPool::new(
                "dma-default",
                phys(0x3000_0000),
                DmaAddr::new(0x3000_0000),
                0x8000,
                &NoMapping,
                PoolOptions::new(),
            )
        })
        .unwrap();
    let d = f.devices();
    d.set_default_pool(Some(pool)).unwrap();
    let a = d.add(dev("a")).unwrap();
    let b = d.alloc_coherent(Some(a), 0x10, Attrs::NO_ZERO).unwrap();
    assert_eq!(b.dma, DmaAddr::new(0x3000_0000));
    d.free_coherent(Some(a), &b).unwrap();
    assert!(core::ptr::eq(DEFAULT_POOL.get().unwrap(), pool));
}

#[test]
fn the_size_book_is_bounded() {
    let f = Fixture::new();
    let d = f.cma_devices(1);
    let one = d.alloc_coherent(None, 0x10, Attrs::NONE).unwrap();
    assert_eq!(
        d.alloc_coherent(None, 0x10, Attrs::NONE),
        Err(DmaError::BookFull {
            device: None,
            source: SourceId::cma(f.default_cma),
            capacity: 1
        })
    );
    assert_eq!(f.area.stats("cma-default").unwrap().used_bytes(), 0x1000); // rolled back
    d.free_coherent(None, &one).unwrap();
    let two = d.alloc_coherent(None, 0x10, Attrs::NONE).unwrap();
    d.free_coherent(None, &two).unwrap();
}

#[test]
fn find_buffer_from_its_bus_address() {
    let f = Fixture::new();
    let d = f.devices();
    let a = d
        .add(dev("a").with_bus(BusMap::Offset(0x1000_0000)))
        .unwrap();
    let through = PoolOptions::new().fallthrough(true);
    d.declare_coherent(a, f.pool("p", 0, 0x7000_0000, through))
        .unwrap();
    let in_pool = d.alloc_coherent(Some(a), 0x100, Attrs::NONE).unwrap();
    let in_cma = d.alloc_coherent(Some(a), 0x8000, Attrs::NONE).unwrap();
    assert!(inside(&in_cma, DEFAULT_CMA, 0x10_0000));
    assert_eq!(in_cma.dma, DmaAddr::new(DEFAULT_CMA - 0x1000_0000));
    assert_eq!(d.find_buffer(Some(a), in_pool.dma, 0x100), Ok(in_pool));
    assert_eq!(d.find_buffer(Some(a), in_cma.dma, 0x8000), Ok(in_cma));
    let nowhere = DmaAddr::new(0x10);
    assert_eq!(
        d.find_buffer(Some(a), nowhere, 0x100),
        Err(DmaError::NotOwned {
            device: Some(a),
            dma: nowhere,
            size: 0x100
        })
    );
    d.free_coherent(Some(a), &in_pool).unwrap();
    d.free_coherent(Some(a), &in_cma).unwrap();
}

/// The auditor's scenario: two devices share the default pool; a free through the
/// device that did not allocate the buffer used to succeed and skew both live counts.
#[test]
fn a_shared_pool_frees_only_through_the_owner() {
    let f = Fixture::new();
    let default = f.pool("default", 0x1_0000, 0x1_0000, PoolOptions::new());
    let d = f.devices();
    d.set_default_pool(Some(&default)).unwrap();
    let a = d.add(dev("a")).unwrap();
    let b = d.add(dev("b")).unwrap();
    let x = d.alloc_coherent(Some(a), 0x100, Attrs::NONE).unwrap();
    let y = d.alloc_coherent(Some(b), 0x100, Attrs::NONE).unwrap();
    assert!(inside(&x, POOLS + 0x1_0000, 0x4000));
    assert!(inside(&y, POOLS + 0x1_0000, 0x4000));
    let wrong = d.free_coherent(Some(b), &x);
    assert_eq!(
        wrong,
        Err(DmaError::WrongDevice {
            device: Some(b),
            owner: Some(a),
            dma: x.dma,
        })
    );
    let wrong = wrong.unwrap_err();
    // The error names the devices by id; the registry names them on display.
    assert_eq!(
        wrong.to_string(),
        format!(
            "{b}: the buffer at {} was allocated for {a}; free it through that device",
            x.dma
        )
    );
    assert_eq!(
        d.explain(&wrong).to_string(),
        format!(
            "device b: the buffer at {} was allocated for device a; free it through that device",
            x.dma
        )
    );
    // Nothing changed.
    assert_eq!((d.live(a).unwrap(), d.live(b).unwrap()), (1, 1));
    assert_eq!(default.live(), 2);
    assert!(matches!(
        d.remove(b),
        Err(Error::LiveBuffers { live: 1, .. })
    ));
    d.free_coherent(Some(b), &y).unwrap();
    d.remove(b).unwrap();
    assert!(matches!(
        d.remove(a),
        Err(Error::LiveBuffers { live: 1, .. })
    ));
    d.free_coherent(Some(a), &x).unwrap();
    d.remove(a).unwrap();
    assert_eq!(default.live(), 0);
}

#[test]
fn parents_and_children_free_only_their_own_buffers() {
    let f = Fixture::new();
    let d = f.devices();
    let m4 = d.add(dev("m4")).unwrap();
    d.declare_coherent(m4, f.pool("m4-pool", 0, 0, PoolOptions::new()))
        .unwrap();
    let vdev = d
        .add(dev("vdev0").with_parent(m4).with_inherited_pool(true))
        .unwrap();
    let (m4_id, vdev_id) = (Some(m4), Some(vdev));
    let child = d.alloc_coherent(Some(vdev), 0x100, Attrs::NONE).unwrap();
    let parent = d.alloc_coherent(Some(m4), 0x100, Attrs::NONE).unwrap();
    let occupied = d.mark_occupied(m4, DmaAddr::new(0x3000), 0x1000).unwrap();
    let wrong = |device, owner, b: &CoherentBuffer| {
        Err(DmaError::WrongDevice {
            device,
            owner,
            dma: b.dma,
        })
    };
    assert_eq!(
        d.free_coherent(Some(m4), &child),
        wrong(m4_id, vdev_id, &child)
    );
    assert_eq!(
        d.free_coherent(Some(vdev), &parent),
        wrong(vdev_id, m4_id, &parent)
    );
    assert_eq!(
        d.free_coherent(Some(vdev), &occupied),
        wrong(vdev_id, m4_id, &occupied)
    );
    assert_eq!((d.live(m4).unwrap(), d.live(vdev).unwrap()), (2, 1));
    assert_eq!(d.pool(m4).unwrap().unwrap().live(), 3);
    d.free_coherent(Some(vdev), &child).unwrap();
    d.free_coherent(Some(m4), &parent).unwrap();
    d.free_coherent(Some(m4), &occupied).unwrap();
    assert_eq!((d.live(m4).unwrap(), d.live(vdev).unwrap()), (0, 0));
    d.remove(vdev).unwrap();
    d.remove(m4).unwrap();
}

#[test]
fn no_device_buffers_go_back_with_no_device() {
    let f = Fixture::new();
    let default = f.pool("default", 0x1_0000, 0x1_0000, PoolOptions::new());
    let d = f.devices();
    d.set_default_pool(Some(&default)).unwrap();
    let a = d.add(dev("a")).unwrap();
    let nobody = d.alloc_coherent(None, 0x100, Attrs::NONE).unwrap();
    let mine = d.alloc_coherent(Some(a), 0x100, Attrs::NONE).unwrap();
    // Past the default pool: the default CMA area, then the system allocator.
    let nobody_cma = d.alloc_coherent(None, 0x8000, Attrs::NONE).unwrap();
    assert!(inside(&nobody_cma, DEFAULT_CMA, 0x10_0000));
    let nobody_sys = d
        .alloc_coherent(None, 0x10_0000, Attrs::NON_CONSISTENT)
        .unwrap();
    assert!(inside(&nobody_sys, SYSTEM, 0x10_0000));
    for b in [&nobody, &nobody_cma, &nobody_sys] {
        let wrong = d.free_coherent(Some(a), b);
        assert_eq!(
            wrong,
            Err(DmaError::WrongDevice {
                device: Some(a),
                owner: None,
                dma: b.dma,
            })
        );
        assert!(wrong.unwrap_err().to_string().contains("for no device"));
    }
    assert_eq!(
        d.free_coherent(None, &mine),
        Err(DmaError::WrongDevice {
            device: None,
            owner: Some(a),
            dma: mine.dma,
        })
    );
    assert_eq!(d.live(a).unwrap(), 1);
    assert_eq!(default.live(), 2);
    for b in [&nobody, &nobody_cma, &nobody_sys] {
        d.free_coherent(None, b).unwrap();
    }
    d.free_coherent(Some(a), &mine).unwrap();
    assert_eq!(d.live(a).unwrap(), 0);
    assert_eq!(f.system.stats().used_bytes(), 0);
    assert_eq!(f.area.stats("cma-default").unwrap().used_bytes(), 0);
}

/// DMA-path errors are small and carry ids; the plain message prints the ids and every
/// value, the registry's explanation the same message with the device and source names.
#[test]
fn dma_errors_print_ids_and_explain_names() {
    let f = Fixture::new();
    let d = f.cma_devices(0);
    let a = d.add(dev("a")).unwrap();
    d.declare_coherent(a, f.pool("a-pool", 0, 0x4000_0000, PoolOptions::new()))
        .unwrap();
    let vdev = d
        .add(dev("vdev0").with_parent(a).with_inherited_pool(true))
        .unwrap();
    // The default CMA area has no room in its record: full, named by its region id.
    let full = d.alloc_coherent(None, 0x10, Attrs::NONE).unwrap_err();
    let cma = SourceId::cma(f.default_cma);
    assert_eq!(
        full,
        DmaError::BookFull {
            device: None,
            source: cma,
            capacity: 0
        }
    );
    assert_eq!(
        full.to_string(),
        "no device: no room to record the buffer in CMA region #1 (room for 0 buffers)"
    );
    assert_eq!(
        d.explain(&full).to_string(),
        "no device: no room to record the buffer in CMA region cma-default (room for 0 buffers)"
    );
    // A child's buffer from its parent's pool, freed through the parent: both devices
    // by id, then by name.
    let b = d.alloc_coherent(Some(vdev), 0x100, Attrs::NONE).unwrap();
    let wrong = d.free_coherent(Some(a), &b).unwrap_err();
    assert_eq!(
        wrong.to_string(),
        format!(
            "{a}: the buffer at {} was allocated for {vdev}; free it through that device",
            b.dma
        )
    );
    assert!(a.to_string().starts_with("device #"), "{a}");
    assert_eq!(
        d.explain(&wrong).to_string(),
        format!(
            "device a: the buffer at {} was allocated for device vdev0; free it through that device",
            b.dma
        )
    );
    // A resized free: the value that was wrong and the size of the live buffer.
    let resized = CoherentBuffer { size: 0x80, ..b };
    let err = d.free_coherent(Some(vdev), &resized).unwrap_err();
    assert_eq!(
        d.explain(&err).to_string(),
        format!(
            "device vdev0: cannot free the buffer at {} with another size: it has 0x100 bytes",
            b.dma
        )
    );
    d.free_coherent(Some(vdev), &b).unwrap();
    // Pools by the device whose pool it is.
    let answer = DmaError::BadAnswer {
        source: SourceId::Pool(a),
        range: range(POOLS, 0x1000),
    };
    assert!(
        answer
            .to_string()
            .starts_with(&format!("the pool of {a} handed out [0x"))
    );
    assert!(
        d.explain(&answer)
            .to_string()
            .starts_with("pool a-pool handed out [0x")
    );
    // A device removed since the error is printed by its id.
    let gone = d.alloc_coherent(Some(vdev), 0, Attrs::NONE).unwrap_err();
    d.remove(vdev).unwrap();
    assert_eq!(
        d.explain(&gone).to_string(),
        format!("{vdev} (removed): zero-byte request")
    );
    // Through `?` in setup code the compact error rides inside `Error::Dma`.
    assert_eq!(Error::from(gone), Error::Dma(gone));
}

/// Pool buffers are recorded in room reserved with the pool, apart from the room for
/// CMA and system buffers: a pool fills up to its own bound even with none of the latter.
#[test]
fn pool_records_use_room_reserved_with_the_pool() {
    let f = Fixture::new();
    let d = f.cma_devices(0);
    let a = d.add(dev("a")).unwrap();
    let o = PoolOptions::new().max_buffers(3).fallthrough(true);
    d.declare_coherent(a, f.pool("p", 0, 0, o)).unwrap();
    let occ = d.mark_occupied(a, DmaAddr::new(0), 0x1000).unwrap();
    let one = d.alloc_coherent(Some(a), 0x10, Attrs::NONE).unwrap();
    let two = d.alloc_coherent(Some(a), 0x10, Attrs::NONE).unwrap();
    // The pool is at its bound; the default CMA area has no room in the record.
    assert_eq!(
        d.alloc_coherent(Some(a), 0x10, Attrs::NONE),
        Err(DmaError::BookFull {
            device: Some(a),
            source: SourceId::cma(f.default_cma),
            capacity: 0
        })
    );
    assert_eq!(f.area.stats("cma-default").unwrap().used_bytes(), 0); // rolled back
    for b in [occ, one, two] {
        d.free_coherent(Some(a), &b).unwrap();
    }
    let pool = d.release_coherent(a).unwrap();
    // Released: its room goes with it, and a new pool brings its own.
    d.declare_coherent(a, pool).unwrap();
    let again = d.alloc_coherent(Some(a), 0x10, Attrs::NONE).unwrap();
    d.free_coherent(Some(a), &again).unwrap();
}

/// Counts lock acquisitions: `IrqSafe` disables interrupts each time it locks.
static LOCKS_TAKEN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

struct CountingCpu;

impl InterruptControl for CountingCpu {
    type State = ();
    fn disable() {
        LOCKS_TAKEN.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
    fn restore((): ()) {}
}

#[test]
fn global_pool_get_takes_no_lock_once_built() {
    static POOL: GlobalPool<IrqSafe<DefaultLock, CountingCpu>> = GlobalPool::new();
    let locks = || LOCKS_TAKEN.load(std::sync::atomic::Ordering::SeqCst);
    assert!(POOL.get().is_none());
    let built = POOL
        .get_or_init(|| {
            CoherentPool::new(
                "dma-default",
                phys(0x3000_0000),
                DmaAddr::new(0x3000_0000),
                0x8000,
                &NoMapping,
                PoolOptions::new(),
            )
        })
        .unwrap();
    let after_build = locks();
    assert!(after_build > 0, "building is serialised by the lock");
    for _ in 0..3 {
        assert!(std::ptr::eq(POOL.get().unwrap(), built));
    }
    let again = POOL.get_or_init(|| unreachable!("built once")).unwrap();
    assert!(std::ptr::eq(again, built));
    assert_eq!(locks(), after_build);
}
