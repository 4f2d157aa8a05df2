//! The second device: virtio-rng, which has no pool of its own, so its allocations
//! follow the fallback order to the global default pool and then the default CMA area.
//!
//! - its queue comes from the default pool (`dma-default`);
//! - entropy requests into stack buffers are bounced through the default pool: the
//!   device writes there (device -> memory), `PoolHal` copies back;
//! - a buffer larger than the default pool comes from the default CMA area, and the
//!   device writes entropy straight into it.

use contig_cma::PhysRange;
use contig_dma_pool::Attrs;
use contig_dma_pool::virtio::PoolHal;
use virtio_drivers::device::rng::VirtIORng;
use virtio_drivers::transport::mmio::MmioTransport;

use crate::dma::{self, Rng};
use crate::memory::{self, Placed};
use crate::mmio::Found;
use crate::{check, println};

type Driver = VirtIORng<PoolHal<Rng>, MmioTransport<'static>>;

/// Runs the test on the entropy device found in the device tree.
pub fn run(found: Found, placed: &Placed) {
    let devices = dma::devices();
    let id = *dma::RNG.get().expect("registered at setup");
    let Some(default_pool) = dma::DEFAULT_POOL.get() else {
        check!(false, "the default pool exists");
        return;
    };
    let before = default_pool.stats().used_bytes();
    let mut rng: Driver = match VirtIORng::new(found.transport) {
        Ok(rng) => rng,
        Err(e) => {
            check!(false, "virtio-rng at {:#x} starts: {e}", found.base);
            return;
        }
    };
    println!(
        "virtio-rng {} at {:#x}: no pool of its own, no CMA area",
        found.node, found.base
    );
    let queue = default_pool.stats().used_bytes() - before;
    check!(
        queue > 0 && devices.pool(id).ok().flatten().is_none(),
        "virtio-rng's queue came from the default pool {} ({queue} bytes)",
        default_pool.phys()
    );

    let mut first = [0u8; 64];
    let mut second = [0u8; 64];
    let a = rng.request_entropy(&mut first);
    let b = rng.request_entropy(&mut second);
    check!(
        a == Ok(64) && b == Ok(64) && first != [0; 64] && first != second,
        "device -> memory through default-pool bounce buffers: two 64-byte requests filled \
         ({a:?}, {b:?}) and differ"
    );
    check!(
        default_pool.stats().used_bytes() - before == queue,
        "the bounce buffers went back to the default pool"
    );

    let cma = placed.range(&memory::CMA);
    let size = memory::DEFAULT_POOL.size + 4096;
    match devices.alloc_coherent(Some(id), size, Attrs::NONE) {
        Ok(buf) => {
            let in_cma = PhysRange::new(buf.phys, buf.size).is_ok_and(|r| cma.contains_range(&r));
            let cpu = buf.cpu.expect("the CMA area is mapped");
            // SAFETY: `buf` was just allocated for this device and zeroed, is mapped for
            // `size` bytes (Mapper contract) and is freed below; the device writes its
            // first 64 bytes during `request_entropy` only.
            let data = unsafe { core::slice::from_raw_parts_mut(cpu.as_ptr(), 64) };
            let got = rng.request_entropy(data);
            let written = data.iter().any(|&b| b != 0);
            check!(
                in_cma && got == Ok(64) && written,
                "{size} bytes (more than the default pool) came from the default CMA area at \
                 {} (inside {cma}: {in_cma}) and the device wrote entropy into it directly \
                 ({got:?})",
                buf.phys
            );
            if devices.free_coherent(Some(id), &buf).is_err() {
                check!(false, "free the CMA buffer");
            }
        }
        Err(e) => {
            check!(
                false,
                "{size} bytes for virtio-rng fall back to the default CMA area: {}",
                devices.explain(&e)
            );
        }
    }

    drop(rng);
    check!(
        devices.live(id).ok() == Some(0) && default_pool.stats().used_bytes() == before,
        "virtio-rng's driver is gone: its queue is back in the default pool"
    );
}
