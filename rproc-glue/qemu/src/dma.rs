//! The DMA side of the kernel: regions, pools and the device registry in statics, and
//! the `VirtioPlatform`s through which `contig_dma_pool::virtio::PoolHal` finds them.
//!
//! Built once at boot by [`setup`] from the early placement: the CMA area goes into
//! the `GlobalArea` and becomes the default CMA area, the default pool into the
//! `GlobalPool`, the virtio-blk device gets its own exclusive pool, and the virtio-rng
//! device gets nothing of its own, so its chain is default pool -> default CMA area.
//! With the MMU off, physical and CPU addresses are equal: every `LinearMap` maps a
//! region at its own address.

use alloc::boxed::Box;
use core::ptr::NonNull;

use contig_cma::{GlobalArea, PhysAddr, PhysRange, Region, Registry};
use contig_dma_pool::virtio::VirtioPlatform;
use contig_dma_pool::{
    Caching, CoherentPool, Device, DeviceId, Devices, DmaAddr, Error, GlobalPool, LinearMap,
    PoolOptions,
};
use spin::Once;
use virtio_drivers::PhysAddr as VirtioAddr;

use crate::irq::Lock;
use crate::memory::{self, Placed};

/// The CMA areas (one: the default).
pub static CMA: GlobalArea<Lock> = GlobalArea::new();
/// The global default coherent pool.
pub static DEFAULT_POOL: GlobalPool<Lock> = GlobalPool::new();
/// The device registry.
static DEVICES: Once<Devices<'static, Lock>> = Once::new();
/// The physical memory handed to devices: the ranges `virt_to_phys` answers for.
static DMA_MEMORY: Once<[PhysRange; 3]> = Once::new();
/// The virtio-blk device.
pub static BLK: Once<DeviceId> = Once::new();
/// The virtio-rng device.
pub static RNG: Once<DeviceId> = Once::new();

/// The registry ([`setup`] has run).
pub fn devices() -> &'static Devices<'static, Lock> {
    DEVICES.get().expect("the DMA registry is set up at boot")
}

/// The registry, if [`setup`] has run.
pub fn devices_if_ready() -> Option<&'static Devices<'static, Lock>> {
    DEVICES.get()
}

/// The identity map of one placed region, for the rest of the run.
pub fn identity(range: PhysRange) -> &'static LinearMap {
    // SAFETY: the MMU is off (satp = 0), so `range` is readable and writable at its own
    // physical address, and the early table reserved it for DMA: the kernel image,
    // OpenSBI and the device tree are elsewhere, and nothing touches it except through
    // buffers the registry hands out. The address is an integer from the device tree,
    // exposed provenance as `LinearMap` asks.
    let map = unsafe { LinearMap::new(range, range.base().as_u64() as usize, Caching::Cached) };
    Box::leak(Box::new(map))
}

/// Names of the devices to register (device-tree node names).
pub struct Names<'a> {
    /// The virtio-blk node, if present.
    pub blk: Option<&'a str>,
    /// The virtio-rng node, if present.
    pub rng: Option<&'a str>,
}

/// Builds the CMA area, pools and registry from the early placement.
pub fn setup(placed: &Placed, names: &Names<'_>) -> Result<(), Error> {
    let cma_range = placed.range(&memory::CMA);
    let blk_range = placed.range(&memory::BLK_POOL);
    let default_range = placed.range(&memory::DEFAULT_POOL);
    let area = CMA.get_or_init(|| {
        let registry = Registry::with_builtins()?;
        let mut area = contig_cma::AreaSet::new();
        for spec in placed
            .table
            .regions()
            .filter(|s| s.name() == memory::CMA.name)
        {
            area.add(Region::new(*spec, &registry, None)?)?;
        }
        Ok(area)
    })?;
    let default_pool = DEFAULT_POOL.get_or_init(|| {
        CoherentPool::new(
            memory::DEFAULT_POOL.name,
            default_range.base(),
            DmaAddr::new(default_range.base().as_u64()),
            default_range.size(),
            identity(default_range),
            PoolOptions::new(),
        )
    })?;
    let devices = Devices::with_capacity(identity(cma_range), 8, 64)?;
    devices.set_cma(area)?;
    devices.set_default_cma(Some(area.id_of(memory::CMA.name)?))?;
    devices.set_default_pool(Some(default_pool))?;
    if let Some(name) = names.blk {
        let id = devices.add(Device::new(name)?)?;
        let pool = CoherentPool::new(
            memory::BLK_POOL.name,
            blk_range.base(),
            DmaAddr::new(blk_range.base().as_u64()),
            blk_range.size(),
            identity(blk_range),
            PoolOptions::new(),
        )?;
        devices.declare_coherent(id, pool)?;
        BLK.call_once(|| id);
    }
    if let Some(name) = names.rng {
        let id = devices.add(Device::new(name)?)?;
        RNG.call_once(|| id);
    }
    DEVICES.call_once(|| devices);
    DMA_MEMORY.call_once(|| placed.ranges);
    Ok(())
}

/// The physical address of driver memory a device may be given directly: only memory
/// of the DMA regions (a buffer of a pool or the CMA area). Anything else (a request
/// header on the stack) is `None`, so `PoolHal` bounces it through the device's chain
/// and devices only ever see memory of our regions.
fn dma_phys(ptr: NonNull<u8>, len: usize) -> Option<PhysAddr> {
    // MMU off: the CPU address is the physical address.
    let range = PhysRange::new(PhysAddr::new(ptr.addr().get() as u64), len).ok()?;
    let inside = DMA_MEMORY.get()?.iter().any(|r| r.contains_range(&range));
    inside.then_some(range.base())
}

/// `PoolHal<Blk>`: the virtio-blk device over its own pool.
pub struct Blk;

// SAFETY: `dma_phys` returns the true physical address (MMU off: identity) of memory in
// the placed DMA regions, or None; `mmio_phys_to_virt` returns the identity, which is
// where the MMIO region lives with the MMU off.
unsafe impl VirtioPlatform for Blk {
    type Lock = Lock;

    fn devices() -> &'static Devices<'static, Lock> {
        devices()
    }

    fn device() -> DeviceId {
        *BLK.get()
            .expect("virtio-blk is registered before its driver starts")
    }

    fn virt_to_phys(ptr: NonNull<u8>, len: usize) -> Option<PhysAddr> {
        dma_phys(ptr, len)
    }

    unsafe fn mmio_phys_to_virt(paddr: VirtioAddr, _size: usize) -> NonNull<u8> {
        NonNull::new(core::ptr::with_exposed_provenance_mut(paddr as usize))
            .expect("MMIO is never at address 0")
    }
}

/// `PoolHal<Rng>`: the virtio-rng device, which has no pool of its own.
pub struct Rng;

// SAFETY: as for `Blk`.
unsafe impl VirtioPlatform for Rng {
    type Lock = Lock;

    fn devices() -> &'static Devices<'static, Lock> {
        devices()
    }

    fn device() -> DeviceId {
        *RNG.get()
            .expect("virtio-rng is registered before its driver starts")
    }

    fn virt_to_phys(ptr: NonNull<u8>, len: usize) -> Option<PhysAddr> {
        dma_phys(ptr, len)
    }

    unsafe fn mmio_phys_to_virt(paddr: VirtioAddr, _size: usize) -> NonNull<u8> {
        NonNull::new(core::ptr::with_exposed_provenance_mut(paddr as usize))
            .expect("MMIO is never at address 0")
    }
}
