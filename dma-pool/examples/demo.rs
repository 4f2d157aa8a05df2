//! The whole stack on simulated memory, shaped like an STM32MP157 DK2: physical regions
//! declared at boot (`contig-cma`), devices with their coherent pools and CMA areas
//! (`contig-dma-pool`), the Cortex-M4 seeing RETRAM at bus address 0, its rpmsg vdev
//! inheriting the M4's pool, a camera drawing video frames from its CMA area, and the
//! typed errors for the mistakes a driver makes.
//!
//! Run with `cargo run -p contig-dma-pool --example demo`.

use contig_dma_pool::cma::{
    AreaSet, Declaration, Dynamic, EarlyTable, MemoryMap, PhysAddr, PhysRange, Registry,
};
use contig_dma_pool::{
    Attrs, BusMap, BusWindow, CoherentBuffer, CoherentPool, Device, Devices, DmaAddr, DmaError,
    PoolOptions,
};
use contig_dma_sim::SimMemory;

type Demo<T> = Result<T, Box<dyn std::error::Error>>;

const DDR: u64 = 0xC000_0000;
const DDR_SIZE: usize = 64 << 20;
const RETRAM: u64 = 0x3800_0000;
const RETRAM_SIZE: usize = 64 << 10;
const FRAME_1080P_NV12: usize = 3_110_400;
const VRING_256: usize = 12_288; // vring_size(256, 4096) page-aligned

fn range(base: u64, size: usize) -> Demo<PhysRange> {
    Ok(PhysRange::new(PhysAddr::new(base), size)?)
}

/// Boot time: reserve the CMA areas inside DDR before any heap exists.
fn declare_regions() -> Demo<EarlyTable<4>> {
    let mut memory: MemoryMap<8> = MemoryMap::new();
    memory.add_memory(range(DDR, DDR_SIZE)?);
    let mut early = EarlyTable::new();
    let video = Declaration::new("video", 24 << 20).backend("bitmap");
    early.declare_dynamic(&video, &Dynamic::new().aligned(1 << 20), &mut memory)?;
    let common = Declaration::new("common", 8 << 20).backend("first-fit");
    early.declare_dynamic(&common, &Dynamic::new(), &mut memory)?;
    for spec in early.regions() {
        println!(
            "boot: region {:<7} {} ({} backend)",
            spec.name(),
            spec.range(),
            spec.backend()
        );
    }
    Ok(early)
}

fn show(what: &str, buf: &CoherentBuffer, ddr: &SimMemory, retram: &SimMemory) {
    let zeroed = ddr
        .all(buf.phys, buf.size, 0)
        .or_else(|| retram.all(buf.phys, buf.size, 0));
    println!(
        "  {what:<22} phys {} {} size {:>9} B, cpu mapped: {}, zeroed: {}",
        buf.phys,
        buf.dma,
        buf.size,
        buf.cpu.is_some(),
        zeroed == Some(true)
    );
}

fn main() -> Demo<()> {
    let early = declare_regions()?;

    // Heap available: regions with their backends, the region map, the default CMA area.
    let mut area: AreaSet =
        AreaSet::from_early(&early, &Registry::with_builtins().unwrap(), &mut |_| None)?;
    area.set_map(&"camera=video,common;*=common".parse()?)?;
    let ddr = SimMemory::new(range(DDR, DDR_SIZE)?).ok_or("no host memory for DDR")?;
    let retram = SimMemory::new(range(RETRAM, RETRAM_SIZE)?).ok_or("no host memory for RETRAM")?;

    let devices: Devices = Devices::new(&ddr).unwrap();
    devices.set_cma(&area).unwrap();
    devices.set_default_cma(Some(area.id_of("common")?))?;

    // The M4 sees RETRAM at bus address 0 (mlahb dma-ranges); its vdev inherits its pool.
    let window = BusWindow::new(DmaAddr::new(0), PhysAddr::new(RETRAM), RETRAM_SIZE as u64)
        .ok_or("RETRAM window overflows")?;
    let m4 = devices.add(Device::new("m4")?.with_bus(BusMap::windows(vec![window])?))?;
    let pool = CoherentPool::new(
        "retram",
        PhysAddr::new(RETRAM),
        DmaAddr::new(0),
        RETRAM_SIZE,
        &retram,
        PoolOptions::new(),
    )?;
    devices.declare_coherent(m4, pool)?;
    let vdev0 = devices.add(
        Device::new("vdev0")?
            .with_parent(m4)
            .with_inherited_pool(true),
    )?;
    let camera = devices.add(
        Device::new("camera")?
            .with_cma_area(area.id_of("video")?)
            .with_coherent_mask(u64::from(u32::MAX)),
    )?;

    println!("\nallocations:");
    let vrings = [
        devices.alloc_coherent(Some(vdev0), VRING_256, Attrs::NONE)?,
        devices.alloc_coherent(Some(vdev0), VRING_256, Attrs::NONE)?,
    ];
    for (i, ring) in vrings.iter().enumerate() {
        show(&format!("vdev0 vring{i}"), ring, &ddr, &retram);
    }
    let owner = devices.find_ancestor(vdev0, |_, d| d.name() == "m4")?;
    println!(
        "  vdev0's remote processor: {}",
        devices.device(owner.ok_or("no owner")?)?.name()
    );

    let mut frames = Vec::new();
    for i in 0..4 {
        let frame = devices.alloc_coherent(Some(camera), FRAME_1080P_NV12, Attrs::NONE)?;
        show(&format!("camera frame {i}"), &frame, &ddr, &retram);
        frames.push(frame);
    }
    let log = devices.alloc_coherent(None, 4096, Attrs::NO_KERNEL_MAPPING)?;
    show("no device, no mapping", &log, &ddr, &retram);

    println!("\nmistakes are typed errors and change nothing:");
    // DMA-path errors name devices and sources by id; the registry names them.
    let explain = |r: Result<(), DmaError>| r.map_err(|e| devices.explain(&e).to_string());
    let attempts = [
        (
            "M4 pool is exclusive",
            explain(
                devices
                    .alloc_coherent(Some(m4), 128 << 10, Attrs::NONE)
                    .map(drop),
            ),
        ),
        (
            "free via another dev",
            explain(devices.free_coherent(Some(vdev0), &frames[0])),
        ),
        (
            "free a resized buffer",
            explain(devices.free_coherent(
                Some(camera),
                &CoherentBuffer {
                    size: 1000,
                    ..frames[1]
                },
            )),
        ),
        (
            "remove a busy device",
            devices.remove(camera).map(drop).map_err(|e| e.to_string()),
        ),
        (
            "mmap past the end",
            frames[2]
                .mmap(4096, 760, 2)
                .map(drop)
                .map_err(|e| e.to_string()),
        ),
    ];
    for (what, result) in attempts {
        match result {
            Err(e) => println!("  {what:<22} -> {e}"),
            Ok(()) => println!("  {what:<22} -> unexpectedly accepted"),
        }
    }
    devices.free_coherent(Some(camera), &frames[0])?;
    let double = devices.free_coherent(Some(camera), &frames[0]);
    println!(
        "  {:<22} -> {}",
        "double free",
        double
            .err()
            .map_or("accepted".into(), |e| devices.explain(&e).to_string())
    );

    println!("\nregions (like /sys/kernel/debug/cma):\n{}", area.dump());

    for frame in &frames[1..] {
        devices.free_coherent(Some(camera), frame)?;
    }
    for ring in &vrings {
        devices.free_coherent(Some(vdev0), ring)?;
    }
    devices.free_coherent(None, &log)?;
    println!(
        "after freeing everything: video used {} B, common used {} B, M4 pool live buffers {}",
        area.stats("video")?.used_bytes(),
        area.stats("common")?.used_bytes(),
        devices.live(m4)?
    );
    Ok(())
}
