//! Vring sizing.
//!
//! This module owns [`vring_size`], the bytes a split virtqueue of `num` buffers with
//! used-ring alignment `align` takes, rounded to whole pages as remoteproc allocates
//! it. It must never place a ring.
#![forbid(unsafe_code)]

use core::fmt;

/// The page size rings are rounded to.
pub const PAGE_SIZE: u64 = 4096;

/// Why a vring cannot be sized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VringSizeError {
    /// `num` is zero or not a power of two.
    Num {
        /// The value given.
        num: u32,
    },
    /// `align` is zero or not a power of two.
    Align {
        /// The value given.
        align: u32,
    },
}

/// Bytes of a vring of `num` buffers with used-ring alignment `align`, rounded up to a
/// multiple of [`PAGE_SIZE`]: `align_up(16*num + 2*(3+num), align) + 6 + 8*num`, then
/// page-aligned. Computed in 64 bits, so it cannot overflow for any `u32` input.
///
/// ```
/// use contig_rproc_glue::vring::{vring_size, vring_bytes};
/// assert_eq!(vring_bytes(256, 4096), Ok(10246));
/// assert_eq!(vring_size(256, 4096), Ok(12288));
/// assert_eq!(vring_size(256, 16), Ok(8192));
/// ```
///
/// # Errors
/// [`VringSizeError`] if `num` or `align` is not a non-zero power of two.
pub fn vring_size(num: u32, align: u32) -> Result<u64, VringSizeError> {
    let bytes = vring_bytes(num, align)?;
    Ok(bytes.div_ceil(PAGE_SIZE) * PAGE_SIZE)
}

/// The exact bytes of the ring, before page rounding.
///
/// # Errors
/// As [`vring_size`].
pub fn vring_bytes(num: u32, align: u32) -> Result<u64, VringSizeError> {
    if !num.is_power_of_two() {
        return Err(VringSizeError::Num { num });
    }
    if !align.is_power_of_two() {
        return Err(VringSizeError::Align { align });
    }
    let (num, align) = (u64::from(num), u64::from(align));
    let desc_and_avail = 16 * num + 2 * (3 + num);
    let used_at = desc_and_avail.div_ceil(align) * align;
    Ok(used_at + 6 + 8 * num)
}

impl fmt::Display for VringSizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Num { num } => write!(f, "vring num {num} is not a non-zero power of two"),
            Self::Align { align } => {
                write!(f, "vring align {align:#x} is not a non-zero power of two")
            }
        }
    }
}

impl core::error::Error for VringSizeError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_the_virtio_layout() {
        // num=256, align=4096: 4096 + 518 -> 8192, + 6 + 2048.
        assert_eq!(vring_bytes(256, 4096), Ok(10246));
        assert_eq!(vring_size(256, 4096), Ok(12288));
        // align 16: 4614 -> 4624, + 2054 = 6678 -> two pages.
        assert_eq!(vring_bytes(256, 16), Ok(6678));
        assert_eq!(vring_size(256, 16), Ok(8192));
        assert_eq!(vring_bytes(1, 1), Ok(16 + 8 + 6 + 8));
        assert_eq!(vring_size(1, 1), Ok(4096));
    }

    #[test]
    fn extreme_inputs_do_not_overflow() {
        let big = 1u32 << 31;
        let bytes = vring_bytes(big, big).unwrap();
        // 18B + 6 rounds up to 19B; plus 6 + 8B.
        assert_eq!(bytes, 27 * u64::from(big) + 6);
        assert_eq!(vring_size(big, big).unwrap() % PAGE_SIZE, 0);
    }

    #[test]
    fn refuses_zero_and_non_powers_of_two() {
        assert_eq!(vring_size(0, 4096), Err(VringSizeError::Num { num: 0 }));
        assert_eq!(vring_size(3, 4096), Err(VringSizeError::Num { num: 3 }));
        assert_eq!(vring_size(256, 0), Err(VringSizeError::Align { align: 0 }));
        assert_eq!(
            vring_size(256, 24),
            Err(VringSizeError::Align { align: 24 })
        );
    }
}
