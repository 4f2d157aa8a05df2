//! How the CPU reaches physical memory: a linear map, an uncached alias, or nothing.
//!
//! This module owns the [`Mapper`] trait the kernel implements, the [`CpuAddr`] it hands
//! out, and the two mappers every port needs ([`LinearMap`], [`NoMapping`]). It must
//! never read or write the memory itself; writing (zeroing) is the coherent API's job.

use core::ptr::NonNull;

use crate::cma::PhysRange;

/// A CPU pointer to the first byte of a buffer. Dereferencing it is the caller's
/// business (and needs `unsafe`); holding or sending it is harmless.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CpuAddr(NonNull<u8>);

// SAFETY: a `CpuAddr` is an address, not access: every dereference goes through
// `as_ptr` and `unsafe` code that must prove its own right to touch the bytes, so moving
// the address to another thread cannot by itself cause a data race.
unsafe impl Send for CpuAddr {}
// SAFETY: as for `Send`; `&CpuAddr` gives nothing beyond a copy of the address.
unsafe impl Sync for CpuAddr {}

impl CpuAddr {
    /// Wraps a pointer.
    #[must_use]
    pub const fn new(ptr: NonNull<u8>) -> Self {
        Self(ptr)
    }

    /// The pointer, to read or write the buffer through (`unsafe` at the use site).
    #[must_use]
    pub const fn as_ptr(self) -> *mut u8 {
        self.0.as_ptr()
    }

    /// The pointer as `NonNull`.
    #[must_use]
    pub const fn as_non_null(self) -> NonNull<u8> {
        self.0
    }
}

/// CPU access to physical memory, implemented by the kernel (or, on a host, by the
/// simulator of the `contig-dma-sim` package).
///
/// # Safety
///
/// A pointer returned by [`cpu_addr`](Self::cpu_addr) for `range` must be valid for
/// reads and writes of `range.size()` bytes for as long as the mapper is borrowed, and
/// distinct physical bytes must map to distinct CPU bytes (so two buffers never alias).
/// The crate relies on this to zero buffers it has just allocated, which nobody else
/// can own at that moment.
pub unsafe trait Mapper: Sync {
    /// The CPU address of `range`, or `None` if the CPU has no mapping of all of it.
    fn cpu_addr(&self, range: PhysRange) -> Option<CpuAddr>;
}

/// Whether a [`LinearMap`] goes through the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Caching {
    /// The normal, cached linear map (coherent devices, or cache maintenance by hand).
    Cached,
    /// An alias of RAM that bypasses the cache (no-MMU parts map RAM twice; coherent
    /// buffers are handed out through the uncached alias).
    Uncached,
}

/// `cpu = virt_base + (phys - phys.base())` for the physical range it covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinearMap {
    phys: PhysRange,
    virt_base: usize,
    caching: Caching,
}

impl LinearMap {
    /// Maps `phys` at CPU address `virt_base`.
    ///
    /// # Safety
    ///
    /// `virt_base..virt_base + phys.size()` must be mapped, readable and writable for as
    /// long as the map is used, backed by exactly the physical bytes of `phys`, with
    /// exposed provenance (`ptr::expose_provenance` or a kernel mapping), and nothing may
    /// use those bytes except through buffers this crate hands out.
    #[must_use]
    pub const unsafe fn new(phys: PhysRange, virt_base: usize, caching: Caching) -> Self {
        Self {
            phys,
            virt_base,
            caching,
        }
    }

    /// The physical range covered.
    #[must_use]
    pub const fn phys(&self) -> PhysRange {
        self.phys
    }

    /// Whether the map bypasses the cache.
    #[must_use]
    pub const fn caching(&self) -> Caching {
        self.caching
    }
}

// SAFETY: `new`'s contract gives a valid, private mapping of `self.phys`; `cpu_addr`
// only answers for ranges inside it, at a distinct offset per physical byte.
unsafe impl Mapper for LinearMap {
    fn cpu_addr(&self, range: PhysRange) -> Option<CpuAddr> {
        if !self.phys.contains_range(&range) {
            return None;
        }
        let off = range.base().offset_from(self.phys.base())?;
        let addr = self.virt_base.checked_add(off)?;
        NonNull::new(core::ptr::with_exposed_provenance_mut(addr)).map(CpuAddr)
    }
}

/// No CPU mapping at all (`no-map` memory the kernel never maps).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct NoMapping;

// SAFETY: it never returns a pointer.
unsafe impl Mapper for NoMapping {
    fn cpu_addr(&self, _range: PhysRange) -> Option<CpuAddr> {
        None
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use super::*;
    use crate::cma::PhysAddr;

    #[test]
    fn linear_map_answers_inside_only() {
        let mut host = vec![0u8; 64];
        let base = host.as_mut_ptr().expose_provenance();
        let phys = PhysRange::new(PhysAddr::new(0x1000), 64).unwrap();
        // SAFETY: `host` outlives the map, is exposed above and only used through it.
        let map = unsafe { LinearMap::new(phys, base, Caching::Uncached) };
        assert_eq!(map.caching(), Caching::Uncached);
        let r = PhysRange::new(PhysAddr::new(0x1010), 16).unwrap();
        let cpu = map.cpu_addr(r).unwrap();
        // SAFETY: the map covers those 16 bytes of `host`, which nothing else borrows now.
        unsafe { cpu.as_ptr().write_bytes(0x5a, 16) };
        assert!(host[16..32].iter().all(|&b| b == 0x5a));
        assert_eq!(host[15], 0);
        let past = PhysRange::new(PhysAddr::new(0x1038), 16).unwrap();
        assert!(map.cpu_addr(past).is_none());
        assert!(NoMapping.cpu_addr(r).is_none());
    }
}
