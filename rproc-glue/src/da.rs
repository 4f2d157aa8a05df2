//! Device addresses: where the remote processor sees memory.
//!
//! This module owns [`DeviceAddr`], the remote's own address space (`da` in Linux
//! remoteproc), kept apart from physical and bus addresses so they can never be mixed up
//! silently. Arithmetic is checked. It must never translate (memory entries do that).
#![forbid(unsafe_code)]

use core::fmt;

/// An address in the remote processor's own address space.
///
/// Resource tables carry 32-bit device addresses; ELF64 firmware may use wider ones, so
/// the value is 64 bits wide and [`DeviceAddr::to_u32`] checks before a write-back.
///
/// ```
/// use contig_rproc_glue::DeviceAddr;
/// let da = DeviceAddr::new(0x1000);
/// assert_eq!(da.checked_add(0x20), Some(DeviceAddr::new(0x1020)));
/// assert_eq!(DeviceAddr::new(u64::MAX).checked_add(1), None);
/// assert_eq!(DeviceAddr::new(0x1_0000_0000).to_u32(), None);
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeviceAddr(u64);

impl DeviceAddr {
    /// The device address `raw`.
    #[must_use]
    pub const fn new(raw: u64) -> Self {
        Self(raw)
    }

    /// The raw value.
    #[must_use]
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// The value as a resource-table field, or `None` if it does not fit 32 bits.
    #[must_use]
    pub fn to_u32(self) -> Option<u32> {
        u32::try_from(self.0).ok()
    }

    /// `self + bytes`, or `None` past the end of the address space.
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

    /// Whether `[self, self + len)` lies inside `[base, base + size)`; `false` on overflow.
    #[must_use]
    pub const fn range_within(self, len: u64, base: Self, size: u64) -> bool {
        match (self.0.checked_sub(base.0), self.0.checked_add(len)) {
            (Some(off), Some(_)) => off <= size && len <= size - off,
            _ => false,
        }
    }
}

impl fmt::Display for DeviceAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "da {:#x}", self.0)
    }
}

impl fmt::Debug for DeviceAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::DeviceAddr;

    #[test]
    fn range_within_checks_both_ends_and_overflow() {
        let base = DeviceAddr::new(0x1000);
        assert!(DeviceAddr::new(0x1000).range_within(0x1000, base, 0x1000));
        assert!(DeviceAddr::new(0x1800).range_within(0x800, base, 0x1000));
        assert!(!DeviceAddr::new(0x1800).range_within(0x801, base, 0x1000));
        assert!(!DeviceAddr::new(0xfff).range_within(1, base, 0x1000));
        assert!(!DeviceAddr::new(u64::MAX).range_within(2, base, u64::MAX));
        assert_eq!(DeviceAddr::new(0xffff_ffff).to_u32(), Some(0xffff_ffff));
        assert_eq!(DeviceAddr::new(5).offset_from(DeviceAddr::new(6)), None);
    }
}
