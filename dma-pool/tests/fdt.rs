//! The device-tree binding on the good fixtures (DK2-, AM62x- and F746-like boards):
//! every region, placement, bindings and bus windows, and the one-call build used for
//! real allocations. The blobs are committed next to their sources
//! (`tests/fixtures/dt/*.dts`, rebuilt by `rebuild.sh`), so no dtc is needed here.

use contig_dma_pool::cma::{Flags, PhysAddr, PhysRange, Registry};
use contig_dma_pool::fdt::{
    self, BoundRegion, BuildConfig, Compatible, DefaultKind, DeviceTree, Layout, Options, Role,
};
use contig_dma_pool::{Attrs, DmaAddr, Mapper, NoMapping};
use contig_dma_sim::SimMemory;

const DK2: &[u8] = include_bytes!("fixtures/dt/dk2.dtb");
const AM62X: &[u8] = include_bytes!("fixtures/dt/am62x.dtb");
const F746: &[u8] = include_bytes!("fixtures/dt/f746.dtb");

fn range(base: u64, size: usize) -> PhysRange {
    PhysRange::new(PhysAddr::new(base), size).unwrap()
}

fn layout(blob: &[u8]) -> Layout {
    Layout::from_dtb(blob, &Options::new()).unwrap()
}

/// `(name, base, size, role, flags, default, dynamic)` of every region, in order.
type Row = (
    &'static str,
    u64,
    usize,
    Role,
    Flags,
    Option<DefaultKind>,
    bool,
);

fn assert_regions(layout: &Layout, expected: &[Row]) {
    let got: Vec<Row> = layout
        .regions
        .iter()
        .zip(expected)
        .map(|(r, e)| {
            (
                e.0,
                r.range.base().as_u64(),
                r.range.size(),
                r.role,
                r.flags,
                r.default,
                r.dynamic,
            )
        })
        .collect();
    assert_eq!(got, expected);
    let names: Vec<&str> = layout.regions.iter().map(|r| r.name.as_str()).collect();
    let expected_names: Vec<&str> = expected.iter().map(|e| e.0).collect();
    assert_eq!(names, expected_names);
}

#[test]
fn dk2_regions_are_the_m4s_six_no_map_pools() {
    let l = layout(DK2);
    let pool = Role::CoherentPool;
    let nm = Flags::NO_MAP;
    assert_regions(
        &l,
        &[
            ("mcuram2", 0x1000_0000, 0x4_0000, pool, nm, None, false),
            ("vdev0vring0", 0x1004_0000, 0x1000, pool, nm, None, false),
            ("vdev0vring1", 0x1004_1000, 0x1000, pool, nm, None, false),
            ("vdev0buffer", 0x1004_2000, 0x4000, pool, nm, None, false),
            ("mcuram", 0x3000_0000, 0x4_0000, pool, nm, None, false),
            ("retram", 0x3800_0000, 0x1_0000, pool, nm, None, false),
        ],
    );
    assert_eq!(l.memory, vec![range(0xc000_0000, 0x2000_0000)]);
    assert!(l.memreserve.is_empty());
    let retram = l.region("retram").unwrap();
    assert_eq!(retram.path, "/reserved-memory/retram@38000000");
    assert_eq!(retram.labels, vec!["retram".to_string()]);
    assert_eq!(retram.compatible, Compatible::SharedDmaPool);
    assert!(retram.phandle.is_some());
    assert!(l.default_region(DefaultKind::Cma).is_none());
    assert!(l.default_region(DefaultKind::Dma).is_none());
}

#[test]
fn dk2_m4_is_bound_in_order_and_sees_retram_at_bus_zero() {
    let l = layout(DK2);
    assert_eq!(l.devices.len(), 1);
    let m4 = l.device("m4_rproc").unwrap();
    assert_eq!(m4.path, "/ahb/m4@10000000");
    assert_eq!(m4.name, "m4@10000000");
    assert!(std::ptr::eq(m4, l.device("/ahb/m4@10000000").unwrap()));
    let names: Vec<&str> = m4
        .regions
        .iter()
        .map(|b| l.regions[b.region].name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "retram",
            "mcuram",
            "mcuram2",
            "vdev0vring0",
            "vdev0vring1",
            "vdev0buffer"
        ]
    );
    assert!(m4.regions.iter().all(|b| b.name.is_none()));
    // mlahb dma-ranges: RETRAM at bus 0, SRAMs identity, DDR unreachable.
    let retram = PhysAddr::new(0x3800_0000);
    assert_eq!(m4.bus.to_dma(retram, 0x1_0000), Ok(DmaAddr::new(0)));
    assert_eq!(
        m4.bus.to_phys(DmaAddr::new(0x1000), 16),
        Ok(PhysAddr::new(0x3800_1000))
    );
    assert_eq!(
        m4.bus.to_dma(PhysAddr::new(0x1004_2000), 0x4000),
        Ok(DmaAddr::new(0x1004_2000))
    );
    assert!(m4.bus.to_dma(retram, 0x1_0001).is_err()); // runs past the window
    assert!(m4.bus.to_dma(PhysAddr::new(0xc000_0000), 16).is_err());
}

#[test]
fn am62x_places_the_128m_default_cma_in_its_second_alloc_range_past_memreserve() {
    let l = layout(AM62X);
    let nm = Flags::NO_MAP;
    assert_regions(
        &l,
        &[
            // 64 MiB first range is too small; the second starts with the 1 MiB
            // /memreserve/ entry, so the 4 MiB-aligned pool starts 4 MiB in.
            (
                "linux-cma",
                0xa040_0000,
                0x800_0000,
                Role::CmaArea,
                Flags::REUSABLE,
                Some(DefaultKind::Cma),
                true,
            ),
            (
                "tfa",
                0x9e78_0000,
                0x8_0000,
                Role::Reservation,
                nm,
                None,
                false,
            ),
            (
                "optee",
                0x9e80_0000,
                0x180_0000,
                Role::Reservation,
                nm,
                None,
                false,
            ),
            (
                "m4f-dma-memory",
                0x9cb0_0000,
                0x10_0000,
                Role::CoherentPool,
                nm,
                None,
                false,
            ),
            (
                "m4f-memory",
                0x9cc0_0000,
                0xe0_0000,
                Role::CoherentPool,
                nm,
                None,
                false,
            ),
        ],
    );
    assert_eq!(l.memory, vec![range(0x8000_0000, 0x8000_0000)]);
    assert_eq!(l.memreserve, vec![range(0xa000_0000, 0x10_0000)]);
    let cma = l.region("linux-cma").unwrap();
    assert_eq!(cma.path, "/reserved-memory/linux,cma");
    assert_eq!(cma.labels, vec!["global_cma".to_string()]);
    assert_eq!(l.region("tfa").unwrap().compatible, Compatible::None);
}

#[test]
fn am62x_cma_alignment_above_the_alignment_property_wins() {
    // alignment = 4 MiB in the tree, but CMA needs 8 MiB here: the pool moves to the
    // next 8 MiB boundary past the /memreserve/ entry.
    let l = Layout::from_dtb(AM62X, &Options::new().cma_align(0x80_0000)).unwrap();
    assert_eq!(
        l.region("linux-cma").unwrap().range.base(),
        PhysAddr::new(0xa080_0000)
    );
}

#[test]
fn am62x_devices_get_named_regions_and_two_cell_dma_ranges() {
    let l = layout(AM62X);
    let m4f = l.device("mcu_m4fss").unwrap();
    assert_eq!(m4f.path, "/bus@f0000/m4fss@5000000");
    let dma = l
        .regions
        .iter()
        .position(|r| r.name == "m4f-dma-memory")
        .unwrap();
    let fw = l
        .regions
        .iter()
        .position(|r| r.name == "m4f-memory")
        .unwrap();
    assert_eq!(
        m4f.regions,
        vec![
            BoundRegion {
                region: dma,
                name: Some("dma".into())
            },
            BoundRegion {
                region: fw,
                name: Some("firmware".into())
            },
        ]
    );
    // dma-ranges <0 0  0 0x80000000  0 0x80000000>: DDR seen from bus address 0.
    assert_eq!(
        m4f.bus.to_dma(PhysAddr::new(0x9cb0_0000), 0x10_0000),
        Ok(DmaAddr::new(0x1cb0_0000))
    );
    assert!(m4f.bus.to_dma(PhysAddr::new(0x7fff_f000), 16).is_err());
    let gpu = l.device("gpu").unwrap();
    assert_eq!(l.regions[gpu.regions[0].region].name, "linux-cma");
}

#[test]
fn f746_places_the_dynamic_default_dma_pool_after_the_framebuffer() {
    // (A disabled node where the pool goes is ignored: it is neither a region nor in
    // the way.)
    let l = layout(F746);
    assert_regions(
        &l,
        &[
            (
                "framebuffer",
                0xc000_0000,
                0x10_0000,
                Role::Reservation,
                Flags::NO_MAP,
                None,
                false,
            ),
            (
                "linux-dma",
                0xc010_0000,
                0x8_0000,
                Role::CoherentPool,
                Flags::NO_MAP,
                Some(DefaultKind::Dma),
                true,
            ),
        ],
    );
    assert!(l.devices.is_empty());
}

#[test]
fn tree_lookups_by_path_label_and_phandle() {
    let tree = DeviceTree::parse(DK2).unwrap();
    let retram = tree.resolve("retram").unwrap();
    assert_eq!(
        tree.resolve("/reserved-memory/retram@38000000"),
        Some(retram)
    );
    assert_eq!(tree.resolve("no_such_label"), None);
    let node = tree.node(retram).unwrap();
    assert_eq!(
        (node.name(), node.base_name()),
        ("retram@38000000", "retram")
    );
    assert_eq!(tree.by_phandle(node.phandle().unwrap()), Some(retram));
    assert_eq!(tree.labels(retram).collect::<Vec<_>>(), ["retram"]);
    assert_eq!(tree.child_cells(0).unwrap(), (1, 1));
    let am = DeviceTree::parse(AM62X).unwrap();
    assert_eq!(am.child_cells(0).unwrap(), (2, 2));
    assert_eq!(am.memreserve(), &[(0xa000_0000, 0x10_0000)]);
}

/// One simulated memory per region, and the mapper choosing among them.
struct Sims {
    sims: Vec<SimMemory>,
}

impl Sims {
    fn new(layout: &Layout) -> Self {
        Self {
            sims: layout
                .regions
                .iter()
                .map(|r| SimMemory::new(r.range).unwrap())
                .collect(),
        }
    }

    fn of(&self, region: &fdt::Region) -> &dyn Mapper {
        self.sims
            .iter()
            .find(|s| s.range() == region.range)
            .map_or(&NoMapping, |s| s as &dyn Mapper)
    }

    fn sim(&self, base: u64) -> &SimMemory {
        self.sims
            .iter()
            .find(|s| s.range().base() == PhysAddr::new(base))
            .unwrap()
    }
}

struct Lend;

impl contig_dma_pool::cma::Reclaim for Lend {
    fn claim(&self, _: PhysRange) -> contig_dma_pool::cma::Claim {
        contig_dma_pool::cma::Claim::Claimed
    }
    fn release(&self, _: PhysRange) {}
}

#[test]
fn dk2_build_gives_the_m4_its_retram_pool() {
    let l = layout(DK2);
    let sims = Sims::new(&l);
    let mapper = |r: &fdt::Region| sims.of(r);
    let registry = Registry::with_builtins().unwrap();
    let config = BuildConfig {
        registry: &registry,
        ram: &NoMapping,
        mapper: &mapper,
        reclaim: &|_| None,
        backend: &|_| None,
        page: 4096,
    };
    let mut memory = None;
    let board: fdt::Board = l.build(&config, &mut memory).unwrap();
    assert_eq!(board.memory.area().regions().count(), 0); // no CMA areas
    assert!(board.memory.default_pool().is_none());
    let m4 = board.device("/ahb/m4@10000000").unwrap();
    let pool = board.devices.pool(m4).unwrap().unwrap();
    assert_eq!(pool.name().as_str(), "retram");
    assert_eq!(pool.bus(), DmaAddr::new(0));

    let a = board
        .devices
        .alloc_coherent(Some(m4), 5000, Attrs::NONE)
        .unwrap();
    let b = board
        .devices
        .alloc_coherent(Some(m4), 100, Attrs::NONE)
        .unwrap();
    assert_eq!(
        (a.dma, a.phys),
        (DmaAddr::new(0), PhysAddr::new(0x3800_0000))
    );
    assert_eq!(b.dma, DmaAddr::new(0x2000)); // next page after 5000 bytes
    assert_eq!(sims.sim(0x3800_0000).all(a.phys, 5000, 0), Some(true));
    // The pool is exclusive: 64K is all the M4 gets.
    assert!(
        board
            .devices
            .alloc_coherent(Some(m4), 0x1_0000, Attrs::NONE)
            .is_err()
    );
    board.devices.free_coherent(Some(m4), &a).unwrap();
    board.devices.free_coherent(Some(m4), &b).unwrap();

    // The vdev buffer region is not the M4's own pool; a vdev under it can have it.
    let vdev = l
        .regions
        .iter()
        .position(|r| r.name == "vdev0buffer")
        .unwrap();
    let bus = &l.device("m4_rproc").unwrap().bus;
    let buffer: contig_dma_pool::CoherentPool =
        l.pool(vdev, bus, sims.of(&l.regions[vdev]), 4096).unwrap();
    assert_eq!(buffer.bus(), DmaAddr::new(0x1004_2000));
}

#[test]
fn am62x_build_makes_the_cma_area_default_and_the_m4f_pool() {
    let l = layout(AM62X);
    let sims = Sims::new(&l);
    let mapper = |r: &fdt::Region| sims.of(r);
    let cma_sim = sims.sim(0xa040_0000);
    let registry = Registry::with_builtins().unwrap();
    let lend = |spec: &contig_dma_pool::cma::RegionSpec| {
        spec.flags()
            .is_reusable()
            .then(|| Box::new(Lend) as contig_dma_pool::cma::BoxedReclaim)
    };
    let config = BuildConfig {
        registry: &registry,
        ram: cma_sim,
        mapper: &mapper,
        reclaim: &lend,
        backend: &|name| (name == "linux-cma").then_some("first-fit"),
        page: 4096,
    };
    let mut memory = None;
    let (_, board) = fdt::build::<contig_dma_pool::cma::DefaultLock>(
        AM62X,
        &Options::new(),
        &config,
        &mut memory,
    )
    .unwrap();
    let area = board.memory.area();
    let cma = area.region("linux-cma").unwrap();
    assert_eq!(cma.range(), range(0xa040_0000, 0x800_0000));
    assert!(cma.spec().flags().is_reusable());
    assert_eq!(cma.backend_name(), "first-fit");
    assert_eq!(
        board.memory.default_cma(),
        Some(area.id_of("linux-cma").unwrap())
    );
    assert_eq!(board.devices.default_cma(), board.memory.default_cma());

    // The M4F's first memory-region is its pool, seen through the bus at 0x1cb0_0000.
    let m4f = board.device("/bus@f0000/m4fss@5000000").unwrap();
    let buf = board
        .devices
        .alloc_coherent(Some(m4f), 0x1000, Attrs::NONE)
        .unwrap();
    assert_eq!(
        (buf.phys, buf.dma),
        (PhysAddr::new(0x9cb0_0000), DmaAddr::new(0x1cb0_0000))
    );
    board.devices.free_coherent(Some(m4f), &buf).unwrap();

    // The GPU draws from the CMA area, at its bus address.
    let gpu = board.device("/bus@f0000/gpu@fd00000").unwrap();
    assert_eq!(
        board.devices.device(gpu).unwrap().cma_area(),
        area.id_of("linux-cma").ok()
    );
    let frame = board
        .devices
        .alloc_coherent(Some(gpu), 0x3000, Attrs::NONE)
        .unwrap();
    assert_eq!(frame.phys, PhysAddr::new(0xa040_0000));
    assert_eq!(frame.dma, DmaAddr::new(0x2040_0000));
    assert_eq!(cma_sim.all(frame.phys, 0x3000, 0), Some(true));
    assert_eq!(area.stats("linux-cma").unwrap().used_bytes(), 0x3000);
    board.devices.free_coherent(Some(gpu), &frame).unwrap();
    assert_eq!(area.stats("linux-cma").unwrap().used_bytes(), 0);
}

#[test]
fn f746_build_installs_the_default_pool_for_devices_without_their_own() {
    let l = layout(F746);
    let sims = Sims::new(&l);
    let mapper = |r: &fdt::Region| sims.of(r);
    let registry = Registry::with_builtins().unwrap();
    let config = BuildConfig {
        registry: &registry,
        ram: &NoMapping,
        mapper: &mapper,
        reclaim: &|_| None,
        backend: &|_| None,
        page: 4096,
    };
    let mut memory = None;
    let board: fdt::Board = l.build(&config, &mut memory).unwrap();
    let pool = board.memory.default_pool().unwrap();
    assert_eq!(pool.phys(), range(0xc010_0000, 0x8_0000));
    assert!(std::ptr::eq(board.devices.default_pool().unwrap(), pool));
    let buf = board
        .devices
        .alloc_coherent(None, 300, Attrs::NONE)
        .unwrap();
    assert_eq!(buf.phys, PhysAddr::new(0xc010_0000));
    assert_eq!(buf.dma, DmaAddr::new(0xc010_0000));
    board.devices.free_coherent(None, &buf).unwrap();
}
