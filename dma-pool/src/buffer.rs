//! What `alloc_coherent` hands out, and the user-mapping arithmetic over it.
//!
//! This module owns [`CoherentBuffer`] (plain data, like Linux's `(cpu, dma_handle,
//! size)` triple: the registry validates it when it comes back) and [`PfnRange`] (Linux
//! `dma_mmap_from_dev_coherent`'s computation). It must never free or touch memory.
#![forbid(unsafe_code)]

use crate::cma::PhysAddr;
use crate::{CpuAddr, DmaAddr, Error};

/// A coherent buffer: where the CPU sees it (if anywhere), where the device sees it,
/// and its exact size. Give it back with
/// [`Devices::free_coherent`](crate::Devices::free_coherent), to the same device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CoherentBuffer {
    /// CPU pointer; `None` with [`Attrs::NO_KERNEL_MAPPING`](crate::Attrs) or when
    /// the memory has no CPU mapping.
    pub cpu: Option<CpuAddr>,
    /// Bus address to program into the device.
    pub dma: DmaAddr,
    /// Physical address of the first byte.
    pub phys: PhysAddr,
    /// Bytes asked for (exact: never rounded up).
    pub size: usize,
}

/// Page frames a user mapping covers: `count` frames from frame number `first`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PfnRange {
    /// First page frame number (physical address / page size).
    pub first: u64,
    /// Number of frames.
    pub count: usize,
}

impl CoherentBuffer {
    /// The page frames a user mapping of `pages` pages starting `offset` pages into the
    /// buffer gets (pages of `page` bytes; the last page of the buffer counts whole).
    ///
    /// ```
    /// use contig_dma_pool::{CoherentBuffer, DmaAddr, Error, PfnRange};
    /// use contig_dma_pool::cma::PhysAddr;
    /// let b = CoherentBuffer { cpu: None, dma: DmaAddr::new(0), phys: PhysAddr::new(0x8000_0000), size: 0x2800 };
    /// assert_eq!(b.mmap(0x1000, 1, 2), Ok(PfnRange { first: 0x8_0001, count: 2 }));
    /// assert_eq!(b.mmap(0x1000, 2, 2), Err(Error::MmapOutOfRange { offset: 2, pages: 2, buffer_pages: 3 }));
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::BadPageSize`], [`Error::MmapUnaligned`] if the buffer does not start on
    /// a page, [`Error::MmapOutOfRange`] (Linux `-ENXIO`) for zero pages or anything
    /// beyond the buffer.
    pub fn mmap(&self, page: usize, offset: usize, pages: usize) -> Result<PfnRange, Error> {
        if !page.is_power_of_two() {
            return Err(Error::BadPageSize { page });
        }
        if !self.phys.is_aligned(page) {
            return Err(Error::MmapUnaligned {
                phys: self.phys,
                page,
            });
        }
        let buffer_pages = self.size.div_ceil(page);
        let out = Error::MmapOutOfRange {
            offset,
            pages,
            buffer_pages,
        };
        let room = buffer_pages
            .checked_sub(offset)
            .filter(|&r| r > 0)
            .ok_or(out)?;
        if pages == 0 || pages > room {
            return Err(out);
        }
        let first = self.phys.as_u64() / page as u64 + offset as u64;
        Ok(PfnRange {
            first,
            count: pages,
        })
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;

    use super::*;

    fn buf(phys: u64, size: usize) -> CoherentBuffer {
        CoherentBuffer {
            cpu: None,
            dma: DmaAddr::new(phys),
            phys: PhysAddr::new(phys),
            size,
        }
    }

    #[test]
    fn mmap_bounds() {
        let b = buf(0x10_0000, 0x3000);
        assert_eq!(
            b.mmap(0x1000, 0, 3),
            Ok(PfnRange {
                first: 0x100,
                count: 3
            })
        );
        assert_eq!(
            b.mmap(0x1000, 2, 1),
            Ok(PfnRange {
                first: 0x102,
                count: 1
            })
        );
        let out = |offset, pages| Error::MmapOutOfRange {
            offset,
            pages,
            buffer_pages: 3,
        };
        assert_eq!(b.mmap(0x1000, 0, 4), Err(out(0, 4)));
        // Both counts carry their unit.
        assert_eq!(
            out(0, 4).to_string(),
            "mapping 4 pages from page 0 exceeds the buffer's 3 pages"
        );
        assert_eq!(b.mmap(0x1000, 3, 1), Err(out(3, 1)));
        assert_eq!(b.mmap(0x1000, usize::MAX, 1), Err(out(usize::MAX, 1)));
        assert_eq!(b.mmap(0x1000, 1, 0), Err(out(1, 0)));
        assert_eq!(b.mmap(0x1000, 1, usize::MAX), Err(out(1, usize::MAX)));
        assert_eq!(b.mmap(3000, 0, 1), Err(Error::BadPageSize { page: 3000 }));
        let odd = buf(0x10_0800, 0x1000);
        assert_eq!(
            odd.mmap(0x1000, 0, 1),
            Err(Error::MmapUnaligned {
                phys: PhysAddr::new(0x10_0800),
                page: 0x1000
            })
        );
    }
}
