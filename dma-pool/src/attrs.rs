//! Allocation attributes (Linux `DMA_ATTR_*`, plus our zeroing opt-out).
//!
//! This module owns [`Attrs`]. It must never decide anything itself: the coherent API
//! reads the bits.
#![forbid(unsafe_code)]

use core::ops::BitOr;

/// A set of allocation attributes.
///
/// ```
/// use contig_dma_pool::Attrs;
/// let a = Attrs::NO_KERNEL_MAPPING | Attrs::NO_ZERO;
/// assert!(a.contains(Attrs::NO_ZERO));
/// assert!(!a.contains(Attrs::NON_CONSISTENT));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Attrs(u32);

impl Attrs {
    /// Nothing special: a zeroed buffer with a CPU pointer, from coherent memory only.
    pub const NONE: Self = Self(0);
    /// The caller needs no CPU pointer (the device alone touches the buffer).
    pub const NO_KERNEL_MAPPING: Self = Self(1);
    /// Non-coherent memory is acceptable: the system allocator may serve the request
    /// when every coherent source failed; the caller does the cache maintenance.
    pub const NON_CONSISTENT: Self = Self(1 << 1);
    /// Do not zero the buffer (the caller overwrites all of it before any device or
    /// user sees it).
    pub const NO_ZERO: Self = Self(1 << 2);

    /// Whether every bit of `other` is set.
    #[must_use]
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Both sets together.
    #[must_use]
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

impl BitOr for Attrs {
    type Output = Self;

    fn bitor(self, rhs: Self) -> Self {
        self.union(rhs)
    }
}
