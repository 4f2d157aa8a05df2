//! The virtio-blk test: real DMA in both directions through the device's own pool.
//!
//! The driver's queue comes from `blk-pool` (through `PoolHal<Blk>`), and so do the
//! data buffers: the kernel allocates them with `alloc_coherent` and the device reads
//! and writes them in place. Request headers and status bytes live on the stack, which
//! the device may not see, so `PoolHal` bounces them through `blk-pool` too.
//!
//! - device -> memory: read the sectors `run.sh` pre-filled and compare;
//! - memory -> device: write a pattern, read it back into a fresh buffer and compare;
//!   `run.sh` compares the image file after QEMU exits;
//! - the pool is exclusive: a request larger than it fails instead of falling back.

use contig_dma_pool::virtio::PoolHal;
use contig_dma_pool::{Attrs, CoherentBuffer, DeviceId, Devices};
use virtio_drivers::device::blk::VirtIOBlk;
use virtio_drivers::transport::mmio::MmioTransport;

use crate::dma::{self, Blk};
use crate::irq::Lock;
use crate::mmio::Found;
use crate::pattern::{self, BYTES, PREFILL, PREFILL_FIRST, Verdict, WRITTEN, WRITTEN_FIRST};
use crate::{check, println};

type Driver = VirtIOBlk<PoolHal<Blk>, MmioTransport<'static>>;

/// The bytes of a coherent buffer, for the time the caller holds it.
///
/// # Safety
///
/// `buf` is a live buffer allocated for the caller, not freed while the slice lives,
/// and nothing else accesses it meanwhile except a device the caller hands it to.
unsafe fn bytes(buf: &CoherentBuffer) -> &'static mut [u8] {
    let cpu = buf.cpu.expect("pools and CMA areas are mapped");
    // SAFETY: the registry's mapper maps the buffer's `size` bytes (Mapper contract),
    // and the caller guarantees it stays live and unshared.
    unsafe { core::slice::from_raw_parts_mut(cpu.as_ptr(), buf.size) }
}

/// Runs the test on the block device found in the device tree.
pub fn run(found: Found) {
    let devices = dma::devices();
    let id = *dma::BLK.get().expect("registered at setup");
    let pool = devices
        .pool(id)
        .ok()
        .flatten()
        .map(|p| (p.phys(), p.name()));
    let Some((pool_range, pool_name)) = pool else {
        check!(false, "virtio-blk has its own pool");
        return;
    };
    let mut blk: Driver = match VirtIOBlk::new(found.transport) {
        Ok(blk) => blk,
        Err(e) => {
            check!(false, "virtio-blk at {:#x} starts: {e}", found.base);
            return;
        }
    };
    println!(
        "virtio-blk {} at {:#x}: {} sectors, pool {pool_name} {pool_range}",
        found.node,
        found.base,
        blk.capacity()
    );
    let default_used = dma::DEFAULT_POOL
        .get()
        .map_or(0, |p| p.stats().used_bytes());
    let ring_bytes = devices
        .pool(id)
        .ok()
        .flatten()
        .map_or(0, |p| p.stats().used_bytes());
    check!(
        ring_bytes > 0 && default_used == 0,
        "virtio-blk's queue lives in {pool_name}: {ring_bytes} bytes there, none in the default pool"
    );

    device_to_memory(&mut blk, devices, id, pool_range);
    memory_to_device(&mut blk, devices, id, pool_range);

    let too_big = pool_range.size() + 4096;
    let refused = devices.alloc_coherent(Some(id), too_big, Attrs::NONE);
    let default_after = dma::DEFAULT_POOL
        .get()
        .map_or(0, |p| p.stats().used_bytes());
    check!(
        refused.is_err() && default_after == 0,
        "{pool_name} is exclusive: {too_big} bytes for virtio-blk are refused, not taken from \
         the default pool or CMA ({:?})",
        refused.as_ref().err()
    );
    if let Ok(buf) = refused {
        let _ = devices.free_coherent(Some(id), &buf);
    }

    drop(blk);
    check!(
        devices.live(id).ok() == Some(0),
        "virtio-blk's driver is gone: every buffer of its pool is back (live = {:?})",
        devices.live(id).ok()
    );
}

fn alloc(devices: &Devices<'static, Lock>, id: DeviceId) -> Option<CoherentBuffer> {
    match devices.alloc_coherent(Some(id), BYTES, Attrs::NONE) {
        Ok(buf) => Some(buf),
        Err(e) => {
            check!(
                false,
                "a {BYTES}-byte buffer for virtio-blk: {}",
                devices.explain(&e)
            );
            None
        }
    }
}

fn device_to_memory(
    blk: &mut Driver,
    devices: &Devices<'static, Lock>,
    id: DeviceId,
    pool: contig_cma::PhysRange,
) {
    let Some(buf) = alloc(devices, id) else {
        return;
    };
    let inside =
        contig_cma::PhysRange::new(buf.phys, buf.size).is_ok_and(|r| pool.contains_range(&r));
    // SAFETY: `buf` was just allocated for us and is freed at the end of this function;
    // only the device touches it meanwhile, during `read_blocks`.
    let data = unsafe { bytes(&buf) };
    let read = blk.read_blocks(PREFILL_FIRST, data);
    let bad = pattern::mismatch(PREFILL, PREFILL_FIRST, data);
    check!(
        inside && read.is_ok() && bad.is_none(),
        "device -> memory: sectors {PREFILL_FIRST}..{} read by DMA into {} (in the pool: \
         {inside}, {read:?}) against the pattern run.sh pre-filled: {}",
        PREFILL_FIRST + pattern::SECTORS,
        buf.phys,
        Verdict(bad)
    );
    if devices.free_coherent(Some(id), &buf).is_err() {
        check!(false, "free the read buffer");
    }
}

fn memory_to_device(
    blk: &mut Driver,
    devices: &Devices<'static, Lock>,
    id: DeviceId,
    pool: contig_cma::PhysRange,
) {
    let Some(out) = alloc(devices, id) else {
        return;
    };
    // SAFETY: as in `device_to_memory`: ours until freed below, shared only with the
    // device during `write_blocks`.
    let data = unsafe { bytes(&out) };
    pattern::fill(WRITTEN, WRITTEN_FIRST, data);
    let wrote = blk
        .write_blocks(WRITTEN_FIRST, data)
        .and_then(|()| blk.flush());
    let freed = devices.free_coherent(Some(id), &out);
    check!(
        wrote.is_ok() && freed.is_ok(),
        "memory -> device: sectors {WRITTEN_FIRST}..{} written by DMA from {} and flushed ({wrote:?})",
        WRITTEN_FIRST + pattern::SECTORS,
        out.phys
    );

    let Some(back) = alloc(devices, id) else {
        return;
    };
    let inside =
        contig_cma::PhysRange::new(back.phys, back.size).is_ok_and(|r| pool.contains_range(&r));
    // SAFETY: as above, for the fresh buffer `back`.
    let data = unsafe { bytes(&back) };
    let zeroed = data.iter().all(|&b| b == 0);
    let read = blk.read_blocks(WRITTEN_FIRST, data);
    let bad = pattern::mismatch(WRITTEN, WRITTEN_FIRST, data);
    check!(
        inside && zeroed && read.is_ok() && bad.is_none(),
        "read back by DMA into a fresh buffer at {} (in the pool: {inside}, zeroed before: \
         {zeroed}, {read:?}) against the written pattern: {}",
        back.phys,
        Verdict(bad)
    );
    if devices.free_coherent(Some(id), &back).is_err() {
        check!(false, "free the read-back buffer");
    }
}
