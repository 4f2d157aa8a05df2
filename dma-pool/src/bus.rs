//! How a device's bus addresses map onto physical memory (`dma-ranges`, `dma_pfn_offset`).
//!
//! This module owns [`BusWindow`], [`BusMap`] and [`TranslateError`]: checked
//! translation in both directions and the physical windows a DMA mask can reach. It must
//! never allocate memory for buffers nor know about pools or CPU pointers.
#![forbid(unsafe_code)]

use alloc::vec::Vec;
use core::fmt;

use crate::DmaAddr;
use crate::cma::{PhysAddr, PhysRange};

/// Why an address could not be translated. Values are those asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TranslateError {
    /// `[phys, phys + size)` lies in no window (or straddles two).
    PhysNotOnBus {
        /// First byte asked for.
        phys: PhysAddr,
        /// Bytes asked for.
        size: usize,
    },
    /// `[dma, dma + size)` lies in no window (or straddles two).
    DmaNotInMemory {
        /// First byte asked for.
        dma: DmaAddr,
        /// Bytes asked for.
        size: usize,
    },
}

impl fmt::Display for TranslateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PhysNotOnBus { phys, size } => {
                write!(
                    f,
                    "{size:#x} bytes at {phys} are not reachable from the bus"
                )
            }
            Self::DmaNotInMemory { dma, size } => {
                write!(f, "{size:#x} bytes at {dma} map to no memory")
            }
        }
    }
}

/// A `dma-ranges` entry: `len` bytes at bus address `bus` are physical `phys..`.
///
/// ```
/// use contig_dma_pool::{BusWindow, DmaAddr};
/// use contig_dma_pool::cma::PhysAddr;
/// // STM32MP15: the M4 sees RETRAM (0x3800_0000, 64K) at bus address 0.
/// let w = BusWindow::new(DmaAddr::new(0), PhysAddr::new(0x3800_0000), 0x1_0000).unwrap();
/// assert_eq!(w.to_dma(PhysAddr::new(0x3800_0100), 0x10), Some(DmaAddr::new(0x100)));
/// assert_eq!(w.to_dma(PhysAddr::new(0x3800_fff8), 0x10), None); // runs past the end
/// assert!(BusWindow::new(DmaAddr::new(u64::MAX), PhysAddr::new(0), 2).is_none());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BusWindow {
    bus: DmaAddr,
    phys: PhysAddr,
    len: u64,
}

impl BusWindow {
    /// A window, or `None` if `len` is zero or either side runs past `u64::MAX`.
    #[must_use]
    pub const fn new(bus: DmaAddr, phys: PhysAddr, len: u64) -> Option<Self> {
        if len == 0 {
            return None;
        }
        let last = len - 1;
        if bus.as_u64().checked_add(last).is_none() || phys.as_u64().checked_add(last).is_none() {
            return None;
        }
        Some(Self { bus, phys, len })
    }

    /// First bus address.
    #[must_use]
    pub const fn bus(&self) -> DmaAddr {
        self.bus
    }

    /// First physical address.
    #[must_use]
    pub const fn phys(&self) -> PhysAddr {
        self.phys
    }

    /// Bytes covered.
    #[must_use]
    pub const fn len(&self) -> u64 {
        self.len
    }

    /// Always false: a window covers at least one byte.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        false
    }

    /// The bus address of `[phys, phys + size)` if all of it lies in the window.
    #[must_use]
    pub fn to_dma(&self, phys: PhysAddr, size: usize) -> Option<DmaAddr> {
        let off = phys.as_u64().checked_sub(self.phys.as_u64())?;
        fits(off, size, self.len)?;
        self.bus.checked_add(off)
    }

    /// The physical address of `[dma, dma + size)` if all of it lies in the window.
    #[must_use]
    pub fn to_phys(&self, dma: DmaAddr, size: usize) -> Option<PhysAddr> {
        let off = dma.offset_from(self.bus)?;
        fits(off, size, self.len)?;
        self.phys.as_u64().checked_add(off).map(PhysAddr::new)
    }

    /// The physical bytes of the window whose bus addresses are at most `mask`.
    #[must_use]
    pub fn reachable(&self, mask: u64) -> Option<PhysRange> {
        let bus_last = self.bus.as_u64() + (self.len - 1); // checked in `new`
        let last = bus_last.min(mask).checked_sub(self.bus.as_u64())?;
        range_through(self.phys.as_u64(), self.phys.as_u64() + last)
    }

    fn overlaps(&self, other: &Self) -> bool {
        let meet = |a: u64, b: u64| a <= b + (other.len - 1) && b <= a + (self.len - 1);
        meet(self.bus.as_u64(), other.bus.as_u64()) || meet(self.phys.as_u64(), other.phys.as_u64())
    }
}

/// `Some(())` if `[off, off + size)` fits in `len` bytes (a zero size counts as one byte).
fn fits(off: u64, size: usize, len: u64) -> Option<()> {
    let last = off.checked_add((size as u64).saturating_sub(1))?;
    (last < len).then_some(())
}

/// The physical range `[first, last]`, cut to what a `usize` size can hold.
fn range_through(first: u64, last: u64) -> Option<PhysRange> {
    let bytes = last.checked_sub(first)?.saturating_add(1);
    let size = usize::try_from(bytes).unwrap_or(usize::MAX);
    let size = size.min(usize::try_from(u64::MAX - first).unwrap_or(usize::MAX));
    PhysRange::new(PhysAddr::new(first), size).ok()
}

/// Why a set of windows was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OverlappingWindows {
    /// The first window of the pair.
    pub first: BusWindow,
    /// The window that overlaps it on the bus or in physical memory.
    pub second: BusWindow,
}

impl fmt::Display for BusWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bus {} -> phys {} ({:#x} bytes)",
            self.bus, self.phys, self.len
        )
    }
}

impl fmt::Display for OverlappingWindows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bus window [{}] overlaps [{}]", self.second, self.first)
    }
}

impl core::error::Error for OverlappingWindows {}

impl core::error::Error for TranslateError {}

/// A device's view of memory.
///
/// ```
/// use contig_dma_pool::{BusMap, DmaAddr};
/// use contig_dma_pool::cma::PhysAddr;
/// // Linux `dma_pfn_offset`: RAM at 0x8000_0000 appears at bus address 0.
/// let map = BusMap::Offset(0x8000_0000);
/// assert_eq!(map.to_dma(PhysAddr::new(0x8000_1000), 16), Ok(DmaAddr::new(0x1000)));
/// assert!(map.to_dma(PhysAddr::new(0x1000), 16).is_err()); // below the offset
/// assert_eq!(map.to_phys(DmaAddr::new(0x1000), 16), Ok(PhysAddr::new(0x8000_1000)));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum BusMap {
    /// Bus addresses are physical addresses.
    #[default]
    Identity,
    /// `bus = phys - offset` for every physical address at or above `offset`.
    Offset(u64),
    /// Only the windows are reachable (`dma-ranges`); built by [`BusMap::windows`].
    Windows(Vec<BusWindow>),
}

impl BusMap {
    /// A copy of this map (the fallible `clone`: windows are on the heap). Setup,
    /// thread context.
    ///
    /// # Errors
    ///
    /// [`OutOfMemory`](crate::cma::fallible::OutOfMemory) when the heap cannot hold the
    /// windows.
    pub fn try_clone(&self) -> Result<Self, crate::cma::fallible::OutOfMemory> {
        Ok(match self {
            Self::Identity => Self::Identity,
            Self::Offset(offset) => Self::Offset(*offset),
            Self::Windows(windows) => {
                Self::Windows(crate::cma::fallible::try_to_vec(windows, "bus windows")?)
            }
        })
    }

    /// A map of `windows`, which must not overlap on the bus nor in physical memory
    /// (each address then has one translation).
    ///
    /// # Errors
    ///
    /// The first overlapping pair found.
    pub fn windows(windows: Vec<BusWindow>) -> Result<Self, OverlappingWindows> {
        for (i, first) in windows.iter().enumerate() {
            for second in windows.iter().skip(i + 1) {
                if first.overlaps(second) {
                    return Err(OverlappingWindows {
                        first: *first,
                        second: *second,
                    });
                }
            }
        }
        Ok(Self::Windows(windows))
    }

    /// The bus address of `[phys, phys + size)`.
    ///
    /// # Errors
    ///
    /// [`TranslateError::PhysNotOnBus`] if the range is not inside one window.
    pub fn to_dma(&self, phys: PhysAddr, size: usize) -> Result<DmaAddr, TranslateError> {
        let found = match self {
            Self::Identity => {
                fits(phys.as_u64(), size, u64::MAX).map(|()| DmaAddr::new(phys.as_u64()))
            }
            Self::Offset(offset) => phys
                .as_u64()
                .checked_sub(*offset)
                .and_then(|bus| fits(bus, size, u64::MAX).map(|()| DmaAddr::new(bus))),
            Self::Windows(windows) => windows.iter().find_map(|w| w.to_dma(phys, size)),
        };
        found.ok_or(TranslateError::PhysNotOnBus { phys, size })
    }

    /// The physical address of `[dma, dma + size)`.
    ///
    /// # Errors
    ///
    /// [`TranslateError::DmaNotInMemory`] if the range is not inside one window.
    pub fn to_phys(&self, dma: DmaAddr, size: usize) -> Result<PhysAddr, TranslateError> {
        let raw = dma.as_u64();
        let found = match self {
            Self::Identity => fits(raw, size, u64::MAX).map(|()| PhysAddr::new(raw)),
            Self::Offset(offset) => raw
                .checked_add(*offset)
                .and_then(|phys| fits(phys, size, u64::MAX).map(|()| PhysAddr::new(phys))),
            Self::Windows(windows) => windows.iter().find_map(|w| w.to_phys(dma, size)),
        };
        found.ok_or(TranslateError::DmaNotInMemory { dma, size })
    }

    /// The physical ranges whose bus addresses are at most `mask`, one per window.
    pub fn reachable(&self, mask: u64) -> impl Iterator<Item = PhysRange> + '_ {
        let (single, windows) = match self {
            Self::Identity => (range_through(0, mask), &[][..]),
            Self::Offset(offset) => (
                offset
                    .checked_add(mask)
                    .map_or(range_through(*offset, u64::MAX), |last| {
                        range_through(*offset, last)
                    }),
                &[][..],
            ),
            Self::Windows(windows) => (None, &windows[..]),
        };
        single
            .into_iter()
            .chain(windows.iter().filter_map(move |w| w.reachable(mask)))
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec;
    use alloc::vec::Vec;

    use super::*;

    fn w(bus: u64, phys: u64, len: u64) -> BusWindow {
        BusWindow::new(DmaAddr::new(bus), PhysAddr::new(phys), len).unwrap()
    }

    #[test]
    fn window_rejects_empty_and_overflowing() {
        assert!(BusWindow::new(DmaAddr::new(0), PhysAddr::new(0), 0).is_none());
        assert!(BusWindow::new(DmaAddr::new(0), PhysAddr::new(u64::MAX), 2).is_none());
        assert!(BusWindow::new(DmaAddr::new(0), PhysAddr::new(u64::MAX), 1).is_some());
    }

    #[test]
    fn stm32mp15_retram_both_ways() {
        let map = BusMap::windows(vec![w(0, 0x3800_0000, 0x1_0000)]).unwrap();
        let phys = PhysAddr::new(0x3800_0000);
        assert_eq!(map.to_dma(phys, 0x1_0000), Ok(DmaAddr::new(0)));
        assert_eq!(
            map.to_phys(DmaAddr::new(0xfff0), 0x10),
            Ok(PhysAddr::new(0x3800_fff0))
        );
        assert_eq!(
            map.to_phys(DmaAddr::new(0xfff0), 0x11),
            Err(TranslateError::DmaNotInMemory {
                dma: DmaAddr::new(0xfff0),
                size: 0x11
            })
        );
        assert!(map.to_dma(PhysAddr::new(0x1000_0000), 1).is_err());
    }

    #[test]
    fn ranges_straddling_two_windows_are_refused() {
        let map = BusMap::windows(vec![w(0, 0x1000, 0x1000), w(0x1000, 0x2000, 0x1000)]).unwrap();
        assert_eq!(
            map.to_dma(PhysAddr::new(0x1800), 0x800),
            Ok(DmaAddr::new(0x800))
        );
        assert!(map.to_dma(PhysAddr::new(0x1800), 0x1000).is_err());
    }

    #[test]
    fn overlapping_windows_are_refused() {
        let bus = BusMap::windows(vec![w(0, 0x1000, 0x1000), w(0xfff, 0x9000, 0x10)]);
        assert!(bus.is_err());
        let phys = BusMap::windows(vec![w(0, 0x1000, 0x1000), w(0x9000, 0x1fff, 0x10)]);
        assert_eq!(
            phys,
            Err(OverlappingWindows {
                first: w(0, 0x1000, 0x1000),
                second: w(0x9000, 0x1fff, 0x10)
            })
        );
    }

    #[test]
    fn identity_and_offset_overflow_are_errors() {
        assert!(BusMap::Identity.to_dma(PhysAddr::new(u64::MAX), 2).is_err());
        assert!(
            BusMap::Offset(0x100)
                .to_phys(DmaAddr::new(u64::MAX - 0x80), 1)
                .is_err()
        );
        assert!(
            BusMap::Offset(0x100)
                .to_dma(PhysAddr::new(0xff), 1)
                .is_err()
        );
    }

    #[test]
    fn reachable_follows_the_mask() {
        let id: Vec<_> = BusMap::Identity.reachable(0xffff).collect();
        assert_eq!(
            id,
            vec![PhysRange::new(PhysAddr::new(0), 0x1_0000).unwrap()]
        );
        let off: Vec<_> = BusMap::Offset(0x8000_0000).reachable(0xfff).collect();
        assert_eq!(
            off,
            vec![PhysRange::new(PhysAddr::new(0x8000_0000), 0x1000).unwrap()]
        );
        let map =
            BusMap::windows(vec![w(0, 0x10_0000, 0x2000), w(0x10_0000, 0x1000, 0x1000)]).unwrap();
        let win: Vec<_> = map.reachable(0xfff).collect();
        assert_eq!(
            win,
            vec![PhysRange::new(PhysAddr::new(0x10_0000), 0x1000).unwrap()]
        );
        assert_eq!(map.reachable(0x10_0fff).count(), 2);
    }
}
