//! Out-of-memory at setup is an error, never an abort, and leaks nothing.
//!
//! A global allocator that fails the N-th allocation of the test thread, for N = 1, 2,
//! ... until the whole setup succeeds: a backend registry (built-ins and a custom
//! backend), regions of every backend in an area set, devices with a CMA area set,
//! default CMA area, default pool and system memory, devices with pools and an
//! allocation, a board built from a device tree, and a remote processor registered
//! and booted with a vdev and a subdevice, then shut down. Every run must return a
//! typed error that says it ran out of memory (an infallible allocation that hits the
//! failure aborts the whole test binary), and once everything is dropped the test
//! thread must have freed every block it allocated. One test in this binary, so
//! nothing else allocates on its thread meanwhile.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

use common::board::{self, MCURAM, MCURAM_LEN, RETRAM, RETRAM_LEN, SRAM, SRAM_LEN, Sims};
use contig_dma_sim::SimMemory;
use contig_rproc_glue::dma_pool::cma::allocators::first_fit::FirstFit;
use contig_rproc_glue::dma_pool::cma::fallible::try_box;
use contig_rproc_glue::dma_pool::cma::{
    AreaSet, BoxedBackend, Declaration, Geometry, PhysAddr, PhysRange, Region, Registry,
};
use contig_rproc_glue::dma_pool::fdt::{self, BuildConfig, Options};
use contig_rproc_glue::dma_pool::{
    Attrs, BusMap, BusWindow, CoherentPool, Device, DeviceId, Devices, DmaAddr, Mapper, NoMapping,
    PoolOptions, SystemMemory,
};
use contig_rproc_glue::firmware::Segment;
use contig_rproc_glue::rsc::{BuildError, CarveoutSpec, RscTableBuilder, VdevSpec, VringSpec};
use contig_rproc_glue::{
    DeviceAddr, Loader, OpError, Placement, Rproc, RprocConfig, RprocError, RprocOps, Subdevice,
};

// ---- the failing allocator ----------------------------------------------------------

struct Failing;

thread_local! {
    /// The allocation of this thread to fail (1-based); 0: none.
    static FAIL_AT: Cell<usize> = const { Cell::new(0) };
    /// Allocations this thread made since it was armed.
    static SEEN: Cell<usize> = const { Cell::new(0) };
    /// Blocks this thread allocated minus blocks it freed. Per thread, because the test
    /// harness's own thread allocates too, when it first blocks on its channel, at a
    /// moment the scheduler picks (on a busy machine, in the middle of a run): counted
    /// together, its blocks read as a leak. The setup runs on the test thread alone.
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

fn live() -> isize {
    LIVE.with(Cell::get)
}

fn count_live(delta: isize) {
    LIVE.with(|l| l.set(l.get() + delta));
}

/// Whether this allocation is the one to fail (counting it).
fn should_fail() -> bool {
    let at = FAIL_AT.with(Cell::get);
    if at == 0 {
        return false;
    }
    let seen = SEEN.with(|s| {
        s.set(s.get() + 1);
        s.get()
    });
    if seen == at && trace_at() == Some(at) {
        // Where the failing allocation is made (OOM_TRACE=N), for whoever hunts a
        // failure that was swallowed or aborted; disarmed while the trace allocates.
        FAIL_AT.with(|f| f.set(0));
        eprintln!("{}", std::backtrace::Backtrace::force_capture());
        FAIL_AT.with(|f| f.set(at));
    }
    seen == at
}

/// `OOM_TRACE`, read once before the sweep (reading it allocates).
static TRACE_AT: AtomicIsize = AtomicIsize::new(0);

fn trace_at() -> Option<usize> {
    usize::try_from(TRACE_AT.load(Ordering::Relaxed))
        .ok()
        .filter(|&n| n > 0)
}

// SAFETY: every call is forwarded to `System` unchanged, or returns null (an allocation
// failure, which `GlobalAlloc` allows) without touching memory.
unsafe impl GlobalAlloc for Failing {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if should_fail() {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract for `layout` is passed on.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count_live(1);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if should_fail() {
            return std::ptr::null_mut();
        }
        // SAFETY: as `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count_live(1);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count_live(-1);
        // SAFETY: `ptr` came from `System` with `layout` (through this allocator).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if should_fail() {
            return std::ptr::null_mut(); // the old block stays valid
        }
        // SAFETY: the caller's contract for `ptr`, `layout` and `new_size` is passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Failing = Failing;

fn arm(n: usize) {
    SEEN.with(|s| s.set(0));
    FAIL_AT.with(|f| f.set(n));
}

/// Disarms; returns how many allocations the thread made while armed.
fn disarm() -> usize {
    FAIL_AT.with(|f| f.set(0));
    SEEN.with(Cell::get)
}

// ---- what the setup may fail with ---------------------------------------------------

#[derive(Debug)]
enum Failed {
    Cma(contig_rproc_glue::dma_pool::cma::Error),
    Dma(contig_rproc_glue::dma_pool::Error),
    Fdt(fdt::Error),
    Rproc(RprocError),
    Table(BuildError),
}

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cma(e) => write!(f, "cma: {e}"),
            Self::Dma(e) => write!(f, "dma-pool: {e}"),
            Self::Fdt(e) => write!(f, "fdt: {e}"),
            Self::Rproc(e) => write!(f, "rproc: {e}"),
            Self::Table(e) => write!(f, "table: {e}"),
        }
    }
}

macro_rules! from {
    ($($t:ty => $v:ident),*) => {$(
        impl From<$t> for Failed {
            fn from(e: $t) -> Self {
                Self::$v(e)
            }
        }
    )*};
}
impl From<contig_rproc_glue::dma_pool::DmaError> for Failed {
    fn from(e: contig_rproc_glue::dma_pool::DmaError) -> Self {
        Self::Dma(e.into())
    }
}

from!(
    contig_rproc_glue::dma_pool::cma::Error => Cma,
    contig_rproc_glue::dma_pool::Error => Dma,
    fdt::Error => Fdt,
    RprocError => Rproc,
    BuildError => Table
);

// ---- what the setup needs, made before arming (test scaffolding may allocate) --------

/// Simulated memory and input blobs: made once, outside the failing runs.
struct Pre {
    sims: Sims,
    default_pool: SimMemory,
    dt_sims: Vec<SimMemory>,
    firmware: Vec<u8>,
}

const DT_BLOB: &[u8] = include_bytes!("../../dma-pool/tests/fixtures/dt/dk2.dtb");
/// Trees read the way Linux boots with them: dynamic placement (AM62x), a property
/// ignored with a note, a node skipped.
const TOLERANT_BLOBS: [&[u8]; 3] = [
    include_bytes!("../../dma-pool/tests/fixtures/dt/am62x.dtb"),
    include_bytes!("../../dma-pool/tests/fixtures/dt/bad-alignment-with-reg.dtb"),
    include_bytes!("../../dma-pool/tests/fixtures/dt/bad-no-fit.dtb"),
];
const DEFAULT_POOL: u64 = 0x9000_0000;

fn pre() -> Pre {
    let layout = fdt::Layout::from_dtb(DT_BLOB, &Options::new()).unwrap();
    let dt_sims = layout
        .regions
        .iter()
        .map(|r| SimMemory::new(r.range).unwrap())
        .collect();
    let ring = |notifyid| VringSpec {
        da: None,
        align: 16,
        num: 16,
        notifyid,
    };
    let mut b = RscTableBuilder::new();
    b.add_carveout(&CarveoutSpec {
        da: None,
        pa: None,
        len: 0x2000,
        flags: 0,
        name: "scratch",
    })
    .unwrap();
    b.add_vdev(&VdevSpec {
        id: 7,
        notifyid: 0,
        dfeatures: 1,
        vrings: &[ring(1), ring(2)],
        config: &[],
    })
    .unwrap();
    let table = b.build().unwrap();
    Pre {
        sims: board::sims(),
        default_pool: SimMemory::new(PhysRange::new(PhysAddr::new(DEFAULT_POOL), 0x4000).unwrap())
            .unwrap(),
        dt_sims,
        firmware: board::m4_image(b"vectors", b"code", &table),
    }
}

// ---- platform pieces that never allocate ----------------------------------------------

static NO_MAPPING: NoMapping = NoMapping;

/// System memory that has nothing to give (only its span is checked at setup).
struct NoSystem;

impl SystemMemory for NoSystem {
    fn allocate(&self, _: usize, _: usize, _: PhysRange) -> Option<PhysRange> {
        None
    }
    fn free(&self, _: PhysRange) -> bool {
        false
    }
    fn span(&self) -> PhysRange {
        PhysRange::new(PhysAddr::new(0xa000_0000), 0x10_0000).unwrap_or(PhysRange::EMPTY)
    }
}

static NO_SYSTEM: NoSystem = NoSystem;

/// Remote-processor operations that succeed and record nothing.
struct Quiet;

impl RprocOps for Quiet {
    fn start(&mut self, _: DeviceAddr) -> Result<(), OpError> {
        Ok(())
    }
    fn stop(&mut self) -> Result<(), OpError> {
        Ok(())
    }
    fn kick(&mut self, _: u32) {}
}

/// Loads into the board's simulated memory without allocating.
struct Load<'a>(&'a Sims);

impl Loader for Load<'_> {
    fn load_segment(&mut self, segment: &Segment<'_>, at: &Placement) -> Result<(), OpError> {
        self.0
            .holding(at.pa)
            .write(at.pa, segment.data)
            .ok_or(OpError(-14))
    }
    fn install_table(&mut self, table: &[u8], at: &Placement) -> Result<(), OpError> {
        self.0
            .holding(at.pa)
            .write(at.pa, table)
            .ok_or(OpError(-14))
    }
}

/// A subdevice with nothing to do.
struct Idle;

impl Subdevice for Idle {}

// ---- the setup under test -------------------------------------------------------------

fn run(pre: &Pre) -> Result<(), Failed> {
    // Registry: the built-ins and a custom backend.
    let mut registry = Registry::with_builtins()?;
    registry.try_register("custom", |g: Geometry| {
        let ff = FirstFit::new(g.units, g.phase, g.max_allocations)?;
        let backend: BoxedBackend = try_box(ff, "backends")?;
        Ok(backend)
    })?;

    // Regions of every backend in one area set.
    let mut area: AreaSet = AreaSet::new();
    let backends = [
        "first-fit",
        "bitmap",
        "tlsf",
        "genalloc",
        "genalloc-best-fit",
        "genalloc-order-align",
        "custom",
    ];
    let mut base = 0x4000_0000u64;
    for (name, backend) in ["r0", "r1", "r2", "r3", "r4", "r5", "r6"]
        .iter()
        .zip(backends)
    {
        let spec = Declaration::new(name, 0x10_0000)
            .backend(backend)
            .at(PhysAddr::new(base))?;
        area.add(Region::new(spec, &registry, None)?)?;
        base += 0x10_0000;
    }
    let camera_area = area.id_of("r1")?;
    let default_area = area.id_of("r2")?;

    // Devices: CMA set, default CMA area, default pool, system memory, devices, pools.
    let default_pool = CoherentPool::new(
        "default",
        PhysAddr::new(DEFAULT_POOL),
        DmaAddr::new(DEFAULT_POOL),
        0x4000,
        &pre.default_pool,
        PoolOptions::new(),
    )?;
    let devs: Devices<'_> = Devices::new(&NO_MAPPING)?;
    devs.set_cma(&area)?;
    devs.set_default_cma(Some(default_area))?;
    devs.set_default_pool(Some(&default_pool))?;
    devs.set_system(Some(&NO_SYSTEM))?;
    let camera = devs.add(Device::new("camera")?.with_cma_area(camera_area))?;
    let frame = devs.alloc_coherent(
        Some(camera),
        0x3000,
        Attrs::NO_KERNEL_MAPPING | Attrs::NO_ZERO,
    )?;
    devs.free_coherent(Some(camera), &frame)?;

    // A board from a device tree.
    let layout = fdt::Layout::from_dtb(DT_BLOB, &Options::new())?;
    let mapper = |r: &fdt::Region| -> &dyn Mapper {
        match pre.dt_sims.iter().find(|s| s.range() == r.range) {
            Some(sim) => sim,
            None => &NO_MAPPING,
        }
    };
    let config = BuildConfig {
        registry: &registry,
        ram: &NO_MAPPING,
        mapper: &mapper,
        reclaim: &|_| None,
        backend: &|_| None,
        page: 4096,
    };
    let mut memory = None;
    let dt_board: fdt::Board<'_> = layout.build(&config, &mut memory)?;
    drop(dt_board);
    for blob in TOLERANT_BLOBS {
        let layout = fdt::Layout::from_dtb(blob, &Options::new().tolerant())?;
        assert!(!layout.regions.is_empty());
    }

    // A remote processor on a DK2-like board: registered memories, a vdev, a subdevice.
    let s = &pre.sims;
    let m4_devs: Devices<'_> = Devices::new(&NO_MAPPING)?;
    let window = |bus: u64, phys: u64, len: usize| {
        BusWindow::new(DmaAddr::new(bus), PhysAddr::new(phys), len as u64)
    };
    let mut windows = Vec::new();
    windows
        .try_reserve(3)
        .map_err(|_| RprocError::OutOfMemory {
            what: "bus windows",
            count: 3,
        })?;
    for (bus, phys, len) in [
        (0, RETRAM, RETRAM_LEN),
        (SRAM, SRAM, SRAM_LEN),
        (MCURAM, MCURAM, MCURAM_LEN),
    ] {
        if let Some(w) = window(bus, phys, len) {
            windows.extend_from_slice(&[w]); // within the room reserved above
        }
    }
    let bus = BusMap::windows(windows).unwrap(); // disjoint by construction; no heap

    let m4 = m4_devs.add(Device::new("m4")?.with_bus(bus))?;
    let pool = CoherentPool::new(
        "mcuram",
        PhysAddr::new(MCURAM),
        DmaAddr::new(MCURAM),
        MCURAM_LEN,
        &s.mcuram,
        PoolOptions::new(),
    )?;
    m4_devs.declare_coherent(m4, pool)?;
    boot(&m4_devs, m4, s, &pre.firmware)?;
    Ok(())
}

fn boot<'m>(devs: &Devices<'m>, m4: DeviceId, s: &'m Sims, fw: &[u8]) -> Result<(), Failed> {
    let config = RprocConfig {
        auto_boot: false,
        notify_ids: 8,
    };
    let mut rproc = Rproc::new(devs, m4, Quiet, config)?;
    // The board's regions but the vdev buffer: the vdev's buffers come from its pool.
    let regions = board::reserved(s)
        .into_iter()
        .filter(|&(name, ..)| name != "vdev0buffer");
    board::register(&mut rproc, devs, regions)?;
    rproc.add_subdev(try_box(Idle, "subdevices").map_err(RprocError::from)?)?;
    rproc.add_dump_segment(DeviceAddr::new(0), 16)?;
    // A table for firmware without one, from the registered carveouts.
    let table = rproc.table_from_registered()?.build()?;
    drop(table);
    rproc.boot(devs, fw, &mut Load(s))?;
    let core = rproc.coredump(&mut |_, dest| {
        dest.fill(0);
        true
    })?;
    drop(core);
    rproc.shutdown(devs, &mut |_| {})?;
    Ok(())
}

// ---- the sweep ----------------------------------------------------------------------------

#[test]
fn every_allocation_failure_at_setup_is_an_error_and_leaks_nothing() {
    let trace = std::env::var("OOM_TRACE").ok().and_then(|v| v.parse().ok());
    TRACE_AT.store(trace.unwrap_or(0), Ordering::Relaxed);
    let pre = pre();
    // A warm-up run, so lazily made runtime state (thread locals, std's once cells)
    // exists before the heap is counted.
    run(&pre).unwrap();
    let started = Instant::now();
    let mut n = 1;
    let total = loop {
        let before = live();
        arm(n);
        let result = run(&pre);
        let seen = disarm();
        let failed_one = seen >= n;
        match (&result, failed_one) {
            (Ok(()), false) => break seen,
            (Ok(()), true) => panic!("allocation {n} failed, yet setup reported success"),
            (Err(e), _) => {
                let message = e.to_string();
                assert!(
                    message.contains("out of memory"),
                    "allocation {n}: an error other than out-of-memory: {message}"
                );
            }
        }
        drop(result);
        let after = live();
        assert_eq!(
            after,
            before,
            "allocation {n} failed: {} blocks leaked",
            after - before
        );
        n += 1;
    };
    assert!(n > 1, "the setup made no allocation to fail");
    println!(
        "setup first succeeded with failure injection at allocation {n} ({total} allocations): \
         {} failing runs, each an out-of-memory error without a leak, in {:.2?}",
        n - 1,
        started.elapsed()
    );
}
