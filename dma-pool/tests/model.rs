//! Model test: a device tree with exclusive, falling-through and inherited pools, a
//! device CMA area, the defaults and the system allocator, under random alloc/free
//! scripts (quickcheck). After every step it checks what the API promises: a buffer
//! comes from its device's chain and every earlier source really had no room, lies
//! under the device's mask with the right bus address, is zeroed unless opted out,
//! overlaps no live buffer, keeps its contents until freed; bad frees change nothing,
//! and a free through any device but the one a buffer was allocated for (a parent, a
//! child, a sharer of the defaults, no device) is refused as `WrongDevice` and changes
//! nothing; live counts match.
// Test addresses are small constants, so narrowing casts are exact.
#![allow(clippy::cast_possible_truncation)]

use contig_dma_pool::cma::{
    AreaSet, Declaration, PhysAddr, PhysRange, Region, RegionId, Registry, Request,
};
use contig_dma_pool::{
    Attrs, BusMap, CoherentBuffer, CoherentPool, Device, DeviceId, Devices, DmaAddr, DmaError,
    PoolOptions,
};
use contig_dma_sim::SimMemory;
use quickcheck::{QuickCheck, TestResult};

const POOLS: u64 = 0x1000_0000;
const POOL: usize = 0x4000;
const RAM: u64 = 0x2000_0000;
const AREA: usize = 0x1_0000;
const DEV_CMA: u64 = RAM;
const DEFAULT_CMA: u64 = RAM + AREA as u64;
const SYSTEM: u64 = RAM + 2 * AREA as u64;
/// `b.child`'s mask: the pools and the first half of the device CMA area.
const NARROW: u64 = DEV_CMA + 0x7fff;

fn range(a: u64, size: usize) -> PhysRange {
    PhysRange::new(PhysAddr::new(a), size).unwrap()
}

#[derive(Clone, Copy)]
enum Source<'a> {
    Pool(&'a CoherentPool<'a>),
    Region(&'a Region),
    System,
}

struct World<'a, 'm> {
    devs: &'a Devices<'m>,
    /// Device ids by index; index 5 is "no device".
    ids: Vec<DeviceId>,
    /// Each device's chain, in allocation order (NON_CONSISTENT adds the system).
    chains: Vec<Vec<Source<'a>>>,
    masks: Vec<u64>,
    system: &'a Region,
    area: &'a AreaSet,
}

struct Live {
    dev: usize,
    buf: CoherentBuffer,
    tag: u8,
}

fn contains(s: Source<'_>, system: &Region, r: PhysRange) -> bool {
    match s {
        Source::Pool(p) => p.phys().contains_range(&r),
        Source::Region(g) => g.range().contains_range(&r),
        Source::System => system.range().contains_range(&r),
    }
}

/// Whether `s` could serve `size` bytes under `mask` right now (probe and give back).
fn has_room(s: Source<'_>, system: &Region, size: usize, mask: u64) -> bool {
    let window = range(
        0,
        (mask as usize).saturating_add(1).min(u64::MAX as usize - 1),
    );
    let probe = |g: &Region| match g.allocate(&Request::new(size).within(window)) {
        Ok(r) => {
            g.free(r).unwrap();
            true
        }
        Err(_) => false,
    };
    match s {
        Source::Pool(p) => match p.allocate(size, mask) {
            Ok(r) => {
                p.free(r).unwrap();
                true
            }
            Err(_) => false,
        },
        Source::Region(g) => probe(g),
        Source::System => probe(system),
    }
}

fn used(w: &World<'_, '_>) -> Vec<usize> {
    let mut v: Vec<usize> = w
        .area
        .regions()
        .map(|(_, r)| r.stats().used_bytes())
        .collect();
    v.push(w.system.stats().used_bytes());
    for id in &w.ids {
        v.push(
            w.devs
                .pool(*id)
                .unwrap()
                .map_or(0, |p| p.stats().used_bytes()),
        );
    }
    v
}

fn dev_arg(w: &World<'_, '_>, i: usize) -> Option<DeviceId> {
    w.ids.get(i).copied()
}

fn check_alloc(
    w: &World<'_, '_>,
    mem: &[&SimMemory],
    l: &[Live],
    dev: usize,
    size: usize,
    attrs: Attrs,
) -> Option<CoherentBuffer> {
    let result = w.devs.alloc_coherent(dev_arg(w, dev), size, attrs);
    let mut chain = w.chains[dev].clone();
    // An exclusive pool ends the chain: even NON_CONSISTENT goes no further.
    let exclusive = matches!(chain[0], Source::Pool(p) if !p.is_fallthrough() && dev < 2);
    if attrs.contains(Attrs::NON_CONSISTENT) && !exclusive {
        chain.push(Source::System);
    }
    let mask = w.masks[dev];
    let Ok(b) = result else {
        for s in &chain {
            assert!(!has_room(*s, w.system, size, mask), "a source had room");
        }
        return None;
    };
    let r = range(b.phys.as_u64(), b.size);
    assert_eq!(b.size, size);
    let at = chain
        .iter()
        .position(|s| contains(*s, w.system, r))
        .expect("from its chain");
    for s in &chain[..at] {
        // The buffer is out; probing the earlier source for the same request must fail.
        assert!(
            !has_room(*s, w.system, size, mask),
            "skipped a source with room"
        );
    }
    let expect_dma = match chain[at] {
        Source::Pool(p) => p.to_dma(r).unwrap(),
        _ => DmaAddr::new(b.phys.as_u64()), // identity bus in this world
    };
    assert_eq!(b.dma, expect_dma);
    assert!(b.dma.as_u64() + size as u64 - 1 <= mask, "above the mask");
    for other in l {
        let o = range(other.buf.phys.as_u64(), other.buf.size);
        assert!(!o.overlaps(&r), "overlaps a live buffer");
    }
    let sim = mem.iter().find(|m| m.range().contains_range(&r)).unwrap();
    if !attrs.contains(Attrs::NO_ZERO) {
        assert_eq!(sim.all(b.phys, size, 0), Some(true), "not zeroed");
    }
    assert_eq!(b.cpu.is_none(), attrs.contains(Attrs::NO_KERNEL_MAPPING));
    Some(b)
}

fn run(ops: Vec<(u8, u16, u8)>) -> TestResult {
    let ram = SimMemory::new(range(RAM, 3 * AREA)).unwrap();
    let pools = SimMemory::new(range(POOLS, 4 * POOL)).unwrap();
    let registry = Registry::with_builtins().unwrap();
    let region = |name, base| {
        let spec = Declaration::new(name, AREA)
            .backend("first-fit")
            .at(PhysAddr::new(base));
        Region::new(spec.unwrap(), &registry, None).unwrap()
    };
    let mut area = AreaSet::new();
    let dev_cma: RegionId = area.add(region("dev-cma", DEV_CMA)).unwrap();
    let default_cma = area.add(region("cma-default", DEFAULT_CMA)).unwrap();
    let system = region("system", SYSTEM);
    let pool = |name, i: u64, bus: u64, fall| {
        let o = PoolOptions::new().fallthrough(fall);
        let at = PhysAddr::new(POOLS + i * POOL as u64);
        CoherentPool::new(name, at, DmaAddr::new(bus), POOL, &pools, o).unwrap()
    };
    let default_pool = pool("dma-default", 2, 0x9000_0000, false);
    let devs: Devices<'_> = Devices::with_capacity(&ram, 64, 512).unwrap(); // room for every op
    devs.set_cma(&area).unwrap();
    devs.set_default_cma(Some(default_cma)).unwrap();
    devs.set_default_pool(Some(&default_pool)).unwrap();
    devs.set_system(Some(&system)).unwrap();
    let d = |n| Device::new(n).unwrap().with_coherent_mask(u64::MAX);
    let a = devs.add(d("a")).unwrap();
    devs.declare_coherent(a, pool("a-pool", 0, 0x4000_0000, false))
        .unwrap();
    let ac = devs
        .add(d("a.child").with_parent(a).with_inherited_pool(true))
        .unwrap();
    let b = devs.add(d("b").with_cma_area(dev_cma)).unwrap();
    devs.declare_coherent(b, pool("b-pool", 1, POOLS + POOL as u64, true))
        .unwrap();
    let bc = d("b.child").with_parent(b).with_inherited_pool(true);
    let bc = devs
        .add(bc.with_cma_area(dev_cma).with_coherent_mask(NARROW))
        .unwrap();
    let c = devs.add(d("c").with_bus(BusMap::Identity)).unwrap();
    let ids = vec![a, ac, b, bc, c];
    let (pool_a, pool_b) = (
        devs.pool(a).unwrap().unwrap(),
        devs.pool(b).unwrap().unwrap(),
    );
    let pa = Source::Pool(&pool_a);
    let pb = Source::Pool(&pool_b);
    let dc = Source::Region(area.get(dev_cma).unwrap());
    let dp = Source::Pool(&default_pool);
    let df = Source::Region(area.get(default_cma).unwrap());
    let chains = vec![
        vec![pa],
        vec![pa],
        vec![pb, dc, dp, df],
        vec![pb, dc, dp, df],
        vec![dp, df],
        vec![dp, df],
    ];
    let masks = vec![u64::MAX, u64::MAX, u64::MAX, NARROW, u64::MAX, u64::MAX];
    let world = World {
        devs: &devs,
        ids,
        chains,
        masks,
        system: &system,
        area: &area,
    };
    let mem = [&ram, &pools];
    let mut live: Vec<Live> = Vec::new();
    let mut counts = [0usize; 5];
    for (step, (op, arg, arg2)) in ops.into_iter().enumerate() {
        let dev = usize::from(arg2) % 6;
        match op % 4 {
            0 | 1 => {
                let size = usize::from(arg) % 0x3000 + 1;
                let attrs = Attrs::NONE
                    | if op & 4 != 0 {
                        Attrs::NO_ZERO
                    } else {
                        Attrs::NONE
                    }
                    | if op & 8 != 0 {
                        Attrs::NON_CONSISTENT
                    } else {
                        Attrs::NONE
                    }
                    | if op & 16 != 0 {
                        Attrs::NO_KERNEL_MAPPING
                    } else {
                        Attrs::NONE
                    };
                if let Some(buf) = check_alloc(&world, &mem, &live, dev, size, attrs) {
                    let tag = (step % 255 + 1) as u8;
                    let sim = mem.iter().find(|m| m.range().contains(buf.phys)).unwrap();
                    sim.write(buf.phys, &vec![tag; buf.size]).unwrap();
                    if dev < 5 {
                        counts[dev] += 1;
                    }
                    live.push(Live { dev, buf, tag });
                }
            }
            2 if !live.is_empty() => {
                let l = live.swap_remove(usize::from(arg) % live.len());
                let sim = mem.iter().find(|m| m.range().contains(l.buf.phys)).unwrap();
                assert_eq!(
                    sim.all(l.buf.phys, l.buf.size, l.tag),
                    Some(true),
                    "clobbered"
                );
                world
                    .devs
                    .free_coherent(dev_arg(&world, l.dev), &l.buf)
                    .unwrap();
                if l.dev < 5 {
                    counts[l.dev] -= 1;
                }
            }
            3 if !live.is_empty() => {
                let l = &live[usize::from(arg) % live.len()];
                let before = used(&world);
                let mut bad = l.buf;
                let mut via = l.dev;
                match arg2 % 4 {
                    0 => bad.size = if bad.size > 1 { bad.size - 1 } else { 2 },
                    1 => bad.dma = DmaAddr::new(bad.dma.as_u64() ^ 0x10),
                    2 => bad.phys = PhysAddr::new(bad.phys.as_u64() + 0x1000),
                    _ => via = (l.dev + 1 + usize::from(arg2 / 4) % 5) % 6,
                }
                let moved = range(bad.phys.as_u64(), bad.size);
                // A shifted buffer may land on another live one: skip that.
                let hits_other = bad.phys != l.buf.phys
                    && live.iter().any(|o| {
                        range(o.buf.phys.as_u64(), o.buf.size).overlaps(&moved)
                            && o.buf.phys != l.buf.phys
                    });
                if !hits_other {
                    let got = world.devs.free_coherent(dev_arg(&world, via), &bad);
                    assert!(got.is_err(), "bad free accepted: {bad:?} via {via}");
                    if via != l.dev {
                        // Even through a device whose chain holds the buffer (a
                        // parent, a child, a sharer of the defaults): not the owner.
                        assert_eq!(
                            got,
                            Err(DmaError::WrongDevice {
                                device: dev_arg(&world, via),
                                owner: dev_arg(&world, l.dev),
                                dma: bad.dma,
                            })
                        );
                    }
                    assert_eq!(used(&world), before, "a refused free changed something");
                }
            }
            _ => {}
        }
        for (i, id) in world.ids.iter().enumerate() {
            assert_eq!(world.devs.live(*id).unwrap(), counts[i]);
        }
    }
    for l in live.drain(..) {
        world
            .devs
            .free_coherent(dev_arg(&world, l.dev), &l.buf)
            .unwrap();
    }
    assert!(used(&world).iter().all(|&u| u == 0), "leak");
    TestResult::passed()
}

#[test]
fn device_tree_model() {
    // Miri runs a few cases only: it checks the unsafe paths, not the search.
    let tests = if cfg!(miri) { 3 } else { 300 };
    QuickCheck::new()
        .tests(tests)
        .max_tests(10 * tests)
        .quickcheck(run as fn(Vec<(u8, u16, u8)>) -> TestResult);
}
