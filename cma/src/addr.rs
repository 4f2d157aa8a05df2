//! Physical addresses and ranges with checked arithmetic.
//!
//! This module owns [`PhysAddr`] and [`PhysRange`]: the address space of this layer
//! (the allocator layer below speaks in units, the DMA layer above adds bus addresses).
//! Arithmetic that could overflow returns an [`Error`]; it must never wrap silently or
//! panic.
#![forbid(unsafe_code)]

use core::fmt;

use crate::Error;

/// A physical address. Always 64 bits wide, since physical addresses may be wider than
/// pointers (LPAE on 32-bit Arm, RV32 with Sv32's 34-bit physical space).
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PhysAddr(u64);

impl PhysAddr {
    /// The address `raw`.
    #[must_use]
    pub const fn new(raw: u64) -> Self {
        Self(raw)
    }

    /// The address as a number.
    #[must_use]
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// `self + bytes`.
    ///
    /// # Errors
    ///
    /// [`Error::AddressOverflow`] when the sum does not fit in 64 bits.
    pub const fn checked_add(self, bytes: usize) -> Result<Self, Error> {
        match self.0.checked_add(bytes as u64) {
            Some(raw) => Ok(Self(raw)),
            None => Err(Error::AddressOverflow {
                addr: self,
                size: bytes,
            }),
        }
    }

    /// Bytes from `base` up to `self`, `None` when `self < base` or the distance does not
    /// fit in a `usize`.
    #[must_use]
    pub fn offset_from(self, base: Self) -> Option<usize> {
        let diff = self.0.checked_sub(base.0)?;
        usize::try_from(diff).ok()
    }

    /// Whether the address is a multiple of `align` (a power of two; any other value
    /// gives `false`).
    #[must_use]
    pub const fn is_aligned(self, align: usize) -> bool {
        align.is_power_of_two() && self.0 & (align as u64 - 1) == 0
    }

    /// The smallest multiple of `align` (a power of two) not below `self`, `None` for a
    /// bad alignment or on overflow.
    #[must_use]
    pub const fn align_up(self, align: usize) -> Option<Self> {
        if !align.is_power_of_two() {
            return None;
        }
        let mask = align as u64 - 1;
        match self.0.checked_add(mask) {
            Some(raw) => Some(Self(raw & !mask)),
            None => None,
        }
    }
}

impl fmt::Display for PhysAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

impl fmt::Debug for PhysAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhysAddr({:#x})", self.0)
    }
}

/// The bytes `[base, base + size)`, guaranteed not to run past the end of the 64-bit
/// physical space.
///
/// ```
/// use contig_cma::{PhysAddr, PhysRange};
/// let r = PhysRange::new(PhysAddr::new(0x1000), 0x2000).unwrap();
/// assert_eq!(r.end(), PhysAddr::new(0x3000));
/// assert!(r.contains(PhysAddr::new(0x2fff)) && !r.contains(PhysAddr::new(0x3000)));
/// assert!(PhysRange::new(PhysAddr::new(u64::MAX), 2).is_err());
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PhysRange {
    base: PhysAddr,
    size: usize,
}

impl PhysRange {
    /// The empty range at address 0.
    pub const EMPTY: Self = Self {
        base: PhysAddr(0),
        size: 0,
    };

    /// `size` bytes from `base`.
    ///
    /// # Errors
    ///
    /// [`Error::AddressOverflow`] when `base + size` does not fit in 64 bits.
    pub const fn new(base: PhysAddr, size: usize) -> Result<Self, Error> {
        match base.checked_add(size) {
            Ok(_) => Ok(Self { base, size }),
            Err(e) => Err(e),
        }
    }

    /// `[base, end)`, `None` when `end < base`.
    #[must_use]
    pub fn from_bounds(base: PhysAddr, end: PhysAddr) -> Option<Self> {
        let size = end.offset_from(base)?;
        Some(Self { base, size })
    }

    /// First byte.
    #[must_use]
    pub const fn base(&self) -> PhysAddr {
        self.base
    }

    /// Bytes in the range.
    #[must_use]
    pub const fn size(&self) -> usize {
        self.size
    }

    /// One past the last byte (cannot overflow: checked at construction).
    #[must_use]
    pub const fn end(&self) -> PhysAddr {
        PhysAddr(self.base.0.wrapping_add(self.size as u64))
    }

    /// Whether the range holds no byte.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// Whether `addr` lies inside the range.
    #[must_use]
    pub const fn contains(&self, addr: PhysAddr) -> bool {
        self.base.0 <= addr.0 && addr.0 < self.end().0
    }

    /// Whether every byte of `other` lies inside the range (an empty `other` must still
    /// start inside or at the end).
    #[must_use]
    pub const fn contains_range(&self, other: &Self) -> bool {
        self.base.0 <= other.base.0 && other.end().0 <= self.end().0
    }

    /// Whether the two ranges share at least one byte.
    #[must_use]
    pub const fn overlaps(&self, other: &Self) -> bool {
        self.base.0 < other.end().0 && other.base.0 < self.end().0
    }

    /// The bytes both ranges hold, `None` when they share none.
    #[must_use]
    pub fn intersection(&self, other: &Self) -> Option<Self> {
        let base = self.base.max(other.base);
        let end = self.end().min(other.end());
        if base < end {
            Self::from_bounds(base, end)
        } else {
            None
        }
    }
}

impl fmt::Display for PhysRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {})", self.base, self.end())
    }
}

impl fmt::Debug for PhysRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhysRange{self}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(base: u64, size: usize) -> PhysRange {
        PhysRange::new(PhysAddr::new(base), size).unwrap()
    }

    #[test]
    fn overflow_is_an_error() {
        let top = PhysAddr::new(u64::MAX);
        assert_eq!(
            top.checked_add(1),
            Err(Error::AddressOverflow { addr: top, size: 1 })
        );
        assert!(PhysRange::new(top, 1).is_err());
        assert_eq!(PhysRange::new(top, 0).map(|r| r.end()), Ok(top));
        assert_eq!(top.align_up(2), None);
        assert_eq!(PhysAddr::new(5).align_up(3), None);
        assert_eq!(PhysAddr::new(5).align_up(4), Some(PhysAddr::new(8)));
    }

    #[test]
    fn range_relations() {
        let a = range(0x1000, 0x1000);
        let b = range(0x1800, 0x1000);
        let c = range(0x2000, 0x100);
        assert!(a.overlaps(&b) && !a.overlaps(&c));
        assert_eq!(a.intersection(&b), Some(range(0x1800, 0x800)));
        assert_eq!(a.intersection(&c), None);
        assert!(b.contains_range(&c) && !a.contains_range(&b));
        assert_eq!(PhysAddr::new(3).offset_from(PhysAddr::new(4)), None);
        assert!(PhysAddr::new(0x1000).is_aligned(0x1000));
        assert!(!PhysAddr::new(0x1000).is_aligned(0));
    }
}
