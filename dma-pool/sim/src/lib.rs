//! A host simulator of physical memory for `contig-dma-pool` (needs std).
//!
//! This crate owns [`SimMemory`]: a physical range backed by real host memory, so
//! tests and demos can write and read buffers through CPU pointers and check zeroing.
//! It is a [`Mapper`], so pools and devices of `contig-dma-pool` run on it as on a
//! kernel's mapping. Fresh memory is filled with [`SimMemory::POISON`] so a missing
//! zeroing shows. It must never be used outside tests, tools and demos; it is a
//! package of its own so that no library crate carries a feature that needs std.
//! It allocates and takes a `std` lock: host threads only, never interrupt context.

use core::alloc::Layout;
use core::ptr::NonNull;
use std::sync::Mutex;

use contig_cma::{PhysAddr, PhysRange};
use contig_dma_pool::{CpuAddr, Mapper};

/// Physical memory simulated by a page-aligned host allocation.
///
/// ```
/// use contig_dma_pool::cma::{PhysAddr, PhysRange};
/// use contig_dma_sim::SimMemory;
/// let ram = SimMemory::new(PhysRange::new(PhysAddr::new(0x1000_0000), 0x4000).unwrap()).unwrap();
/// ram.write(PhysAddr::new(0x1000_0010), b"hi").unwrap();
/// let mut back = [0u8; 3];
/// ram.read(PhysAddr::new(0x1000_0010), &mut back).unwrap();
/// assert_eq!(&back, &[b'h', b'i', SimMemory::POISON]);
/// assert!(ram.write(PhysAddr::new(0x1000_3fff), b"hi").is_none()); // past the end
/// ```
pub struct SimMemory {
    range: PhysRange,
    host: NonNull<u8>,
    layout: Layout,
    // Serialises this type's own safe accessors; pointer users bring their own proof.
    access: Mutex<()>,
}

// SAFETY: the host allocation is owned by the value (freed in `Drop` only); the safe
// accessors copy under `access`, and writes through `cpu_addr` pointers need `unsafe`
// from callers who must exclude concurrent users of the same bytes.
unsafe impl Send for SimMemory {}
// SAFETY: as for `Send`: shared use goes through the lock or through caller-proved
// pointer accesses.
unsafe impl Sync for SimMemory {}

impl SimMemory {
    /// The byte fresh simulated memory holds.
    pub const POISON: u8 = 0xa5;
    /// Alignment of the host allocation (and so of page-aligned CPU pointers).
    pub const HOST_ALIGN: usize = 4096;

    /// Memory for `range`, filled with [`POISON`](Self::POISON); `None` for an empty
    /// range or if the host cannot allocate it.
    #[must_use]
    pub fn new(range: PhysRange) -> Option<Self> {
        if range.is_empty() {
            return None;
        }
        let layout = Layout::from_size_align(range.size(), Self::HOST_ALIGN).ok()?;
        // SAFETY: the layout has a non-zero size (checked above).
        let host = NonNull::new(unsafe { std::alloc::alloc(layout) })?;
        // SAFETY: `host` was just allocated for `layout.size()` bytes and is not shared.
        unsafe { host.as_ptr().write_bytes(Self::POISON, layout.size()) };
        Some(Self {
            range,
            host,
            layout,
            access: Mutex::new(()),
        })
    }

    /// The physical range simulated.
    #[must_use]
    pub const fn range(&self) -> PhysRange {
        self.range
    }

    /// Copies `data` to physical `at`; `None` if it does not fit inside the range.
    pub fn write(&self, at: PhysAddr, data: &[u8]) -> Option<()> {
        let dst = self.host_ptr(at, data.len())?;
        let _held = self.access.lock().ok()?;
        // SAFETY: `host_ptr` checked the bytes lie inside the allocation; `data` is a
        // separate Rust borrow, so the copy cannot overlap it.
        unsafe { dst.copy_from_nonoverlapping(data.as_ptr(), data.len()) };
        Some(())
    }

    /// Copies physical `at..` into `out`; `None` if it does not fit inside the range.
    pub fn read(&self, at: PhysAddr, out: &mut [u8]) -> Option<()> {
        let src = self.host_ptr(at, out.len())?;
        let _held = self.access.lock().ok()?;
        // SAFETY: as in `write`, with source and destination swapped.
        unsafe { src.copy_to_nonoverlapping(out.as_mut_ptr(), out.len()) };
        Some(())
    }

    /// Whether every byte of `len` bytes at `at` equals `byte` (`None` if outside).
    #[must_use]
    pub fn all(&self, at: PhysAddr, len: usize, byte: u8) -> Option<bool> {
        let mut chunk = [0u8; 64];
        let mut done = 0;
        while done < len {
            let n = (len - done).min(chunk.len());
            let part = chunk.get_mut(..n)?;
            self.read(at.checked_add(done).ok()?, part)?;
            if part.iter().any(|&b| b != byte) {
                return Some(false);
            }
            done += n;
        }
        Some(true)
    }

    /// The physical address of the `len` bytes at host pointer `ptr`, if they all lie in
    /// the simulated memory (a `virt_to_phys` for tests).
    #[must_use]
    pub fn phys_of(&self, ptr: *const u8, len: usize) -> Option<PhysAddr> {
        let off = ptr.addr().checked_sub(self.host.as_ptr().addr())?;
        if off.checked_add(len)? > self.range.size() {
            return None;
        }
        self.range.base().checked_add(off).ok()
    }

    /// The host pointer of `len` bytes at `at`, if they lie inside the range.
    fn host_ptr(&self, at: PhysAddr, len: usize) -> Option<*mut u8> {
        let off = at.offset_from(self.range.base())?;
        if off.checked_add(len)? > self.range.size() {
            return None;
        }
        // SAFETY: `off + len <= size`, so the result stays inside (or one past) the
        // allocation.
        Some(unsafe { self.host.as_ptr().add(off) })
    }
}

// SAFETY: pointers come from the one host allocation, stay inside it (checked by
// `host_ptr`), map each physical byte to its own host byte, and the allocation lives
// until `self` is dropped, which the borrow of `self` prevents while pointers are used.
unsafe impl Mapper for SimMemory {
    fn cpu_addr(&self, range: PhysRange) -> Option<CpuAddr> {
        if !self.range.contains_range(&range) {
            return None;
        }
        self.host_ptr(range.base(), range.size())
            .and_then(NonNull::new)
            .map(CpuAddr::new)
    }
}

impl Drop for SimMemory {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this very layout, freed only here.
        unsafe { std::alloc::dealloc(self.host.as_ptr(), self.layout) };
    }
}

impl core::fmt::Debug for SimMemory {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SimMemory")
            .field("range", &self.range)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mem() -> SimMemory {
        SimMemory::new(PhysRange::new(PhysAddr::new(0x4000), 0x2000).unwrap()).unwrap()
    }

    #[test]
    fn reads_back_what_pointers_wrote() {
        let m = mem();
        assert_eq!(
            m.all(PhysAddr::new(0x4000), 0x2000, SimMemory::POISON),
            Some(true)
        );
        let r = PhysRange::new(PhysAddr::new(0x5000), 0x100).unwrap();
        let cpu = m.cpu_addr(r).unwrap();
        assert_eq!(cpu.as_ptr() as usize % SimMemory::HOST_ALIGN, 0);
        // SAFETY: the mapper hands out these 0x100 bytes; nothing else uses them.
        unsafe { cpu.as_ptr().write_bytes(0, 0x100) };
        assert_eq!(m.all(PhysAddr::new(0x5000), 0x100, 0), Some(true));
        assert_eq!(m.all(PhysAddr::new(0x5100), 1, 0), Some(false));
        let mut b = [0u8; 2];
        m.write(PhysAddr::new(0x5ffe), &[1, 2]).unwrap();
        m.read(PhysAddr::new(0x5ffe), &mut b).unwrap();
        assert_eq!(b, [1, 2]);
        assert_eq!(m.phys_of(cpu.as_ptr(), 0x100), Some(PhysAddr::new(0x5000)));
        assert_eq!(m.phys_of(cpu.as_ptr(), 0x1001), None);
        assert_eq!(m.phys_of([0u8; 4].as_ptr(), 4), None);
    }

    #[test]
    fn outside_is_refused() {
        let m = mem();
        assert!(m.write(PhysAddr::new(0x3fff), &[0]).is_none());
        assert!(m.read(PhysAddr::new(0x5fff), &mut [0, 0]).is_none());
        assert!(m.all(PhysAddr::new(0x6000), 1, 0).is_none());
        let r = PhysRange::new(PhysAddr::new(0x5f00), 0x200).unwrap();
        assert!(m.cpu_addr(r).is_none());
        assert!(SimMemory::new(PhysRange::new(PhysAddr::new(0), 0).unwrap()).is_none());
    }
}
