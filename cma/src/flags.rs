//! Region flags: `reusable` and `no-map`.
//!
//! This module owns [`Flags`] only; what a flag means for allocation is decided by the
//! region (reusable regions call the [`Reclaim`](crate::Reclaim) hook). It must never
//! hold state beyond the two bits.
#![forbid(unsafe_code)]

use core::ops::BitOr;

/// What kind of memory a region is, as the device-tree `reserved-memory` binding says it.
///
/// ```
/// use contig_cma::Flags;
/// let f = Flags::REUSABLE | Flags::NONE;
/// assert!(f.is_reusable() && !f.is_no_map());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Flags {
    reusable: bool,
    no_map: bool,
}

impl Flags {
    /// Plain memory: mapped, not lent to the OS.
    pub const NONE: Self = Self {
        reusable: false,
        no_map: false,
    };
    /// Memory lent to the OS while free, taken back through a
    /// [`Reclaim`](crate::Reclaim) hook before it is handed out (Linux CMA).
    pub const REUSABLE: Self = Self {
        reusable: true,
        no_map: false,
    };
    /// Memory the kernel must not map (firmware-owned, secure, power-gated).
    pub const NO_MAP: Self = Self {
        reusable: false,
        no_map: true,
    };

    /// Both sets of flags.
    #[must_use]
    pub const fn union(self, other: Self) -> Self {
        Self {
            reusable: self.reusable || other.reusable,
            no_map: self.no_map || other.no_map,
        }
    }

    /// Whether the region is reusable.
    #[must_use]
    pub const fn is_reusable(self) -> bool {
        self.reusable
    }

    /// Whether the region must not be mapped.
    #[must_use]
    pub const fn is_no_map(self) -> bool {
        self.no_map
    }
}

impl BitOr for Flags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        self.union(rhs)
    }
}
