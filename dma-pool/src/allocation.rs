//! A coherent buffer that owns itself: freed through its device when dropped.
//!
//! This module owns [`CoherentAllocation`] (Rust-for-Linux's `CoherentAllocation`, the
//! same shape as `contig_cma::Allocation`): the registry reference, the device and
//! the buffer, with bounds-checked copies in and out through the CPU mapping. It must
//! never free a buffer twice (it is not `Clone`, and [`CoherentAllocation::into_raw`]
//! gives up ownership) and never hand out a reference to the bytes in safe code: the
//! device may write them at any time.

use core::fmt;
use core::mem::ManuallyDrop;

use lock_api::RawMutex;

use crate::{Attrs, CoherentBuffer, DeviceId, Devices, DmaError};

/// A live coherent buffer of `device`, freed through it on drop.
///
/// ```
/// use contig_dma_pool::cma::{PhysAddr, PhysRange};
/// use contig_dma_pool::{Attrs, CoherentAllocation, CoherentPool, Device, Devices, DmaAddr, PoolOptions};
/// use contig_dma_sim::SimMemory;
///
/// let mem = SimMemory::new(PhysRange::new(PhysAddr::new(0x1000_0000), 0x1_0000).unwrap()).unwrap();
/// let devs: Devices = Devices::new(&mem).unwrap();
/// let uart = devs.add(Device::new("uart").unwrap()).unwrap();
/// let pool = CoherentPool::new("uart-dma", PhysAddr::new(0x1000_0000), DmaAddr::new(0),
///     0x1_0000, &mem, PoolOptions::new()).unwrap();
/// devs.declare_coherent(uart, pool).unwrap();
///
/// let mut ring = CoherentAllocation::alloc(&devs, Some(uart), 256, Attrs::NONE).unwrap();
/// ring.write(0, b"hello").unwrap();
/// let mut back = [0u8; 5];
/// ring.read(0, &mut back).unwrap();
/// assert_eq!(&back, b"hello");
/// assert!(ring.write(254, b"abc").is_err()); // past the end: nothing written
/// assert_eq!(devs.live(uart).unwrap(), 1);
/// drop(ring); // freed through `uart`
/// assert_eq!(devs.live(uart).unwrap(), 0);
/// ```
///
/// It cannot be freed twice: [`free`](Self::free) and [`into_raw`](Self::into_raw)
/// consume it, and it is not `Clone`.
///
/// ```compile_fail
/// # use contig_dma_pool::{Attrs, CoherentAllocation, Devices, NoMapping};
/// let devs: Devices = Devices::new(&NoMapping).unwrap();
/// let buf = CoherentAllocation::alloc(&devs, None, 64, Attrs::NONE).unwrap();
/// buf.free().unwrap();
/// buf.free().unwrap(); // use of a moved value
/// ```
pub struct CoherentAllocation<'a, 'm, R: RawMutex> {
    devices: &'a Devices<'m, R>,
    device: Option<DeviceId>,
    buffer: CoherentBuffer,
}

impl<'a, 'm, R: RawMutex> CoherentAllocation<'a, 'm, R> {
    /// Allocates like [`Devices::alloc_coherent`] and takes ownership of the buffer.
    /// Same locks and context rules.
    ///
    /// # Errors
    ///
    /// Those of [`Devices::alloc_coherent`].
    pub fn alloc(
        devices: &'a Devices<'m, R>,
        device: Option<DeviceId>,
        size: usize,
        attrs: Attrs,
    ) -> Result<Self, DmaError> {
        Self::alloc_aligned(devices, device, size, 1, attrs)
    }

    /// Allocates like [`Devices::alloc_coherent_aligned`] and takes ownership.
    ///
    /// # Errors
    ///
    /// Those of [`Devices::alloc_coherent_aligned`].
    pub fn alloc_aligned(
        devices: &'a Devices<'m, R>,
        device: Option<DeviceId>,
        size: usize,
        align: usize,
        attrs: Attrs,
    ) -> Result<Self, DmaError> {
        let buffer = devices.alloc_coherent_aligned(device, size, align, attrs)?;
        Ok(Self {
            devices,
            device,
            buffer,
        })
    }

    /// Takes ownership of a buffer `alloc_coherent` handed out for `device` (the
    /// C-style handle coming back). Nothing is checked now; the free on drop checks
    /// it against the registry's record, as [`Devices::free_coherent`] does.
    #[must_use]
    pub const fn from_raw(
        devices: &'a Devices<'m, R>,
        device: Option<DeviceId>,
        buffer: CoherentBuffer,
    ) -> Self {
        Self {
            devices,
            device,
            buffer,
        }
    }

    /// Gives up ownership: the plain buffer, to free with
    /// [`Devices::free_coherent`] through the same device.
    #[must_use]
    pub fn into_raw(self) -> CoherentBuffer {
        ManuallyDrop::new(self).buffer
    }

    /// Frees now and reports the outcome (dropping frees too, but cannot report).
    ///
    /// # Errors
    ///
    /// Those of [`Devices::free_coherent`]; only possible for a buffer taken with
    /// [`from_raw`](Self::from_raw) that was not live, or freed through a copy.
    pub fn free(self) -> Result<(), DmaError> {
        let this = ManuallyDrop::new(self);
        this.devices.free_coherent(this.device, &this.buffer)
    }

    /// The buffer's addresses and size.
    #[must_use]
    pub const fn buffer(&self) -> &CoherentBuffer {
        &self.buffer
    }

    /// The device it belongs to.
    #[must_use]
    pub const fn device(&self) -> Option<DeviceId> {
        self.device
    }

    /// Bytes in the buffer (exact).
    #[must_use]
    pub const fn len(&self) -> usize {
        self.buffer.size
    }

    /// Whether it has no bytes (never: zero-byte buffers are refused).
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.buffer.size == 0
    }

    /// Copies `data` into the buffer at byte `offset` through its CPU mapping.
    ///
    /// # Errors
    ///
    /// [`DmaError::Unmapped`] without a CPU mapping; [`DmaError::OutOfBuffer`] if the bytes
    /// do not all lie in the buffer. Nothing is written then.
    pub fn write(&mut self, offset: usize, data: &[u8]) -> Result<(), DmaError> {
        let at = self.checked(offset, data.len())?;
        // SAFETY: `at` points `offset` bytes into the buffer and `data.len()` bytes
        // from it lie inside it (`checked`); the mapper's contract makes the mapping
        // valid for writes, the buffer is ours alone (the registry never hands a byte
        // to two live buffers), and `data` is a different (Rust-owned) object.
        unsafe { at.copy_from_nonoverlapping(data.as_ptr(), data.len()) };
        Ok(())
    }

    /// Copies bytes from byte `offset` of the buffer into `out`.
    ///
    /// # Errors
    ///
    /// [`DmaError::Unmapped`] without a CPU mapping; [`DmaError::OutOfBuffer`] if the bytes
    /// do not all lie in the buffer. `out` is untouched then.
    pub fn read(&self, offset: usize, out: &mut [u8]) -> Result<(), DmaError> {
        let at = self.checked(offset, out.len())?;
        // SAFETY: as in `write`, for reads; `out` is a distinct Rust object.
        unsafe { at.copy_to_nonoverlapping(out.as_mut_ptr(), out.len()) };
        Ok(())
    }

    /// The CPU pointer `offset` bytes in, if `len` bytes from there lie in the buffer.
    fn checked(&self, offset: usize, len: usize) -> Result<*mut u8, DmaError> {
        let b = &self.buffer;
        let cpu = b.cpu.ok_or(DmaError::Unmapped {
            device: self.device,
            phys: b.phys,
            size: b.size,
        })?;
        match offset.checked_add(len) {
            Some(end) if end <= b.size => Ok(cpu.as_ptr().wrapping_add(offset)),
            _ => Err(DmaError::OutOfBuffer {
                offset,
                len,
                size: b.size,
            }),
        }
    }
}

impl<R: RawMutex> Drop for CoherentAllocation<'_, '_, R> {
    fn drop(&mut self) {
        // Fails only for a `from_raw` buffer that was not live: nothing to undo.
        let _ = self.devices.free_coherent(self.device, &self.buffer);
    }
}

impl<R: RawMutex> fmt::Debug for CoherentAllocation<'_, '_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CoherentAllocation")
            .field("device", &self.device)
            .field("buffer", &self.buffer)
            .finish()
    }
}
