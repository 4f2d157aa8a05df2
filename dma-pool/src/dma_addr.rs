//! Bus addresses: what a device puts on the bus to reach memory.
//!
//! This module owns [`DmaAddr`], distinct from [`PhysAddr`](crate::cma::PhysAddr) so the
//! two can never be mixed up silently. Arithmetic is checked. It must never translate
//! (that is [`BusMap`](crate::BusMap)'s job) nor know about devices.
#![forbid(unsafe_code)]

use core::fmt;

/// A bus (DMA) address as a device sees it.
///
/// ```
/// use contig_dma_pool::DmaAddr;
/// let a = DmaAddr::new(0x1000);
/// assert_eq!(a.checked_add(0x10), Some(DmaAddr::new(0x1010)));
/// assert_eq!(DmaAddr::new(u64::MAX).checked_add(1), None);
/// assert_eq!(DmaAddr::new(0x1010).offset_from(a), Some(0x10));
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DmaAddr(u64);

impl DmaAddr {
    /// The bus address `raw`.
    #[must_use]
    pub const fn new(raw: u64) -> Self {
        Self(raw)
    }

    /// The raw value.
    #[must_use]
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// `self + bytes`, or `None` past the end of the bus address space.
    #[must_use]
    pub const fn checked_add(self, bytes: u64) -> Option<Self> {
        match self.0.checked_add(bytes) {
            Some(raw) => Some(Self(raw)),
            None => None,
        }
    }

    /// Bytes from `base` up to `self`, or `None` if `self` lies below `base`.
    #[must_use]
    pub const fn offset_from(self, base: Self) -> Option<u64> {
        self.0.checked_sub(base.0)
    }

    /// Whether the address is a multiple of `align` (a power of two; zero counts as 1).
    #[must_use]
    pub const fn is_aligned(self, align: u64) -> bool {
        align == 0 || self.0 & align.wrapping_sub(1) == 0
    }
}

impl fmt::Display for DmaAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "dma {:#x}", self.0)
    }
}

impl fmt::Debug for DmaAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::DmaAddr;

    #[test]
    fn arithmetic_is_checked() {
        assert_eq!(
            DmaAddr::new(u64::MAX - 1).checked_add(1),
            Some(DmaAddr::new(u64::MAX))
        );
        assert_eq!(DmaAddr::new(u64::MAX).checked_add(1), None);
        assert_eq!(DmaAddr::new(1).offset_from(DmaAddr::new(2)), None);
        assert!(DmaAddr::new(0x2000).is_aligned(0x1000));
        assert!(!DmaAddr::new(0x2800).is_aligned(0x1000));
    }
}
