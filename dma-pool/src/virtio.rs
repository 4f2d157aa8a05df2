//! A `virtio_drivers::Hal` backed by a device's pool chain (feature `virtio`).
//!
//! This module owns [`PoolHal`] and the [`VirtioPlatform`] trait through which a port
//! names the registry and device (the `Hal` trait has no `self`, so they come from
//! statics). Rings (`dma_alloc`) are page-aligned, zeroed buffers of the device's chain;
//! `share` hands a driver buffer to the device directly when the device can reach it
//! under its streaming mask, and otherwise (or always, for devices that may only see
//! pool memory) bounces it through a buffer of the chain. Every buffer is allocated
//! for `P::device()` and freed through it again (found back from its bus address with
//! `Devices::find_buffer`), as `Devices::free_coherent` requires. It must never know
//! what is behind the device (a remote processor or a host).
//!
//! `Hal` gives `share` and `unshare` no error channel: when a bounce buffer cannot be
//! had they panic, as the `virtio-drivers` crate does for a failed deallocation.

use core::marker::PhantomData;
use core::ptr::NonNull;

use lock_api::RawMutex;
use virtio_drivers::{BufferDirection, Hal, PAGE_SIZE, PhysAddr as VirtioAddr};

use crate::cma::PhysAddr;
use crate::{Attrs, CoherentBuffer, CpuAddr, DeviceId, Devices, DmaAddr};

/// What a port provides to [`PoolHal`].
///
/// # Safety
///
/// [`virt_to_phys`](Self::virt_to_phys) must return the true physical address of the
/// `len` bytes at `ptr` (or `None`): the device will access what it names.
/// [`mmio_phys_to_virt`](Self::mmio_phys_to_virt) must meet the implementation-safety
/// rules of `Hal::mmio_phys_to_virt`.
pub unsafe trait VirtioPlatform: 'static {
    /// The registry's lock.
    type Lock: RawMutex + 'static;

    /// Whether every shared buffer goes through a bounce buffer of the pool chain (a
    /// device that may only see its pool, like a remote processor's vdev).
    const BOUNCE: bool = false;

    /// The registry.
    fn devices() -> &'static Devices<'static, Self::Lock>;

    /// The virtio device whose chain provides rings and bounce buffers.
    fn device() -> DeviceId;

    /// The physical address of driver memory, if the port knows it.
    fn virt_to_phys(ptr: NonNull<u8>, len: usize) -> Option<PhysAddr>;

    /// `Hal::mmio_phys_to_virt` for the PCI transport.
    ///
    /// # Safety
    ///
    /// As `Hal::mmio_phys_to_virt`: `paddr` and `size` describe a valid MMIO region.
    unsafe fn mmio_phys_to_virt(paddr: VirtioAddr, size: usize) -> NonNull<u8>;
}

/// `virtio_drivers::Hal` over the pool chain of `P::device()`.
#[derive(Debug)]
pub struct PoolHal<P: VirtioPlatform>(PhantomData<P>);

impl<P: VirtioPlatform> PoolHal<P> {
    /// A page-aligned zeroed buffer with a CPU pointer, never at bus address 0 (which
    /// `virtio_drivers` reads as failure).
    fn alloc_pages(size: usize) -> Option<(CoherentBuffer, CpuAddr)> {
        let devs = P::devices();
        let dev = Some(P::device());
        let usable = |b: &CoherentBuffer| {
            let cpu = b.cpu?;
            let aligned = b.phys.is_aligned(PAGE_SIZE)
                && b.dma.is_aligned(PAGE_SIZE as u64)
                && cpu.as_ptr().align_offset(PAGE_SIZE) == 0;
            aligned.then_some(cpu)
        };
        // Page alignment is asked for up front, so every source honours it; the check
        // below only covers the CPU mapping, which the registry does not choose.
        let first = devs
            .alloc_coherent_aligned(dev, size, PAGE_SIZE, Attrs::NONE)
            .ok()?;
        let Some(cpu) = usable(&first) else {
            let _ = devs.free_coherent(dev, &first);
            return None;
        };
        if first.dma.as_u64() != 0 {
            return Some((first, cpu));
        }
        // Keep bus address 0 taken while asking again, so the next one differs.
        let second = Self::alloc_pages(size);
        let _ = devs.free_coherent(dev, &first);
        second
    }

    /// The bus address the device would use for driver memory it can reach directly.
    fn direct(ptr: NonNull<u8>, len: usize) -> Option<DmaAddr> {
        if P::BOUNCE {
            return None;
        }
        let devs = P::devices();
        let device = devs.device(P::device()).ok()?;
        let phys = P::virt_to_phys(ptr, len)?;
        let dma = device.bus().to_dma(phys, len).ok()?;
        let last = dma.checked_add((len as u64).saturating_sub(1))?;
        (last.as_u64() <= device.dma_mask()).then_some(dma)
    }
}

// SAFETY: `dma_alloc` returns CPU pointers of fresh buffers of the chain, which the
// `Mapper` contract makes valid and private to the caller until freed, checked to be
// page-aligned and zeroed by `alloc_coherent`; `mmio_phys_to_virt` is the platform's,
// under the same contract (`VirtioPlatform`'s safety section).
unsafe impl<P: VirtioPlatform> Hal for PoolHal<P> {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (VirtioAddr, NonNull<u8>) {
        let failed = (0, NonNull::dangling());
        let Some(size) = pages.checked_mul(PAGE_SIZE).filter(|&s| s > 0) else {
            return failed;
        };
        match Self::alloc_pages(size) {
            Some((buffer, cpu)) => (buffer.dma.as_u64(), cpu.as_non_null()),
            None => failed,
        }
    }

    unsafe fn dma_dealloc(paddr: VirtioAddr, _vaddr: NonNull<u8>, pages: usize) -> i32 {
        let devs = P::devices();
        let dev = Some(P::device());
        let Some(size) = pages.checked_mul(PAGE_SIZE) else {
            return -1;
        };
        let freed = devs
            .find_buffer(dev, DmaAddr::new(paddr), size)
            .and_then(|b| devs.free_coherent(dev, &b));
        if freed.is_ok() { 0 } else { -1 }
    }

    unsafe fn mmio_phys_to_virt(paddr: VirtioAddr, size: usize) -> NonNull<u8> {
        // SAFETY: the caller's guarantee is passed on unchanged.
        unsafe { P::mmio_phys_to_virt(paddr, size) }
    }

    unsafe fn share(buffer: NonNull<[u8]>, direction: BufferDirection) -> VirtioAddr {
        let len = buffer.len();
        let ptr = buffer.cast::<u8>();
        if let Some(dma) = Self::direct(ptr, len) {
            return dma.as_u64();
        }
        let attrs = match direction {
            // Overwritten in full just below.
            BufferDirection::DriverToDevice | BufferDirection::Both => Attrs::NO_ZERO,
            BufferDirection::DeviceToDriver => Attrs::NONE,
        };
        let bounce = P::devices()
            .alloc_coherent(Some(P::device()), len, attrs)
            .ok()
            .and_then(|b| Some((b, b.cpu?)));
        let Some((bounce, cpu)) = bounce else {
            panic!("no bounce buffer of {len} bytes for the virtio device");
        };
        if direction != BufferDirection::DeviceToDriver {
            // SAFETY: the caller guarantees `buffer` is valid for `len` bytes and
            // untouched by others during this call; `cpu` maps the `len` bytes of a
            // buffer just allocated for us (Mapper contract), so they do not overlap.
            unsafe { cpu.as_ptr().copy_from_nonoverlapping(ptr.as_ptr(), len) };
        }
        bounce.dma.as_u64()
    }

    unsafe fn unshare(paddr: VirtioAddr, buffer: NonNull<[u8]>, direction: BufferDirection) {
        let len = buffer.len();
        let ptr = buffer.cast::<u8>();
        if Self::direct(ptr, len).map(DmaAddr::as_u64) == Some(paddr) {
            return; // shared directly: nothing to copy or free
        }
        let devs = P::devices();
        let dev = Some(P::device());
        let Ok(bounce) = devs.find_buffer(dev, DmaAddr::new(paddr), len) else {
            panic!("virtio unshare of unknown bounce buffer at {paddr:#x}");
        };
        if direction != BufferDirection::DriverToDevice {
            if let Some(cpu) = bounce.cpu {
                // SAFETY: as in `share`, the other way round: the bounce buffer is ours
                // until freed below and `buffer` is the caller's, valid for `len` bytes.
                unsafe { ptr.as_ptr().copy_from_nonoverlapping(cpu.as_ptr(), len) };
            }
        }
        if devs.free_coherent(dev, &bounce).is_err() {
            panic!("virtio unshare could not free the bounce buffer at {paddr:#x}");
        }
    }
}
