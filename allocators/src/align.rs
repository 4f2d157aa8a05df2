//! Absolute alignment arithmetic shared by every backend.

/// The smallest offset `o >= offset` such that `phase + o` is a multiple of `align`.
///
/// `phase` is the absolute unit index of offset 0 (see the crate docs); `align` must be
/// a power of two. Returns `None` when `align` is not a power of two or the result does
/// not fit in a `usize`.
///
/// ```
/// use contig_allocators::align_up_with_phase;
/// assert_eq!(align_up_with_phase(0, 8, 3), Some(5)); // absolute unit 8
/// assert_eq!(align_up_with_phase(5, 8, 3), Some(5));
/// assert_eq!(align_up_with_phase(6, 8, 3), Some(13));
/// assert_eq!(align_up_with_phase(usize::MAX, 2, 0), None);
/// ```
#[inline]
pub const fn align_up_with_phase(offset: usize, align: usize, phase: usize) -> Option<usize> {
    if !align.is_power_of_two() {
        return None;
    }
    let mask = align - 1;
    // Only the low bits matter; wrapping keeps the mod-`align` residue exact.
    let residue = phase.wrapping_add(offset) & mask;
    let delta = (align - residue) & mask;
    offset.checked_add(delta)
}

#[cfg(test)]
mod tests {
    use super::align_up_with_phase;

    #[test]
    fn aligns_relative_to_phase() {
        assert_eq!(align_up_with_phase(0, 1, 7), Some(0));
        assert_eq!(align_up_with_phase(0, 4, 0), Some(0));
        assert_eq!(align_up_with_phase(1, 4, 0), Some(4));
        assert_eq!(align_up_with_phase(0, 4, 1), Some(3));
        assert_eq!(align_up_with_phase(0, 4, usize::MAX), Some(1));
    }

    #[test]
    fn rejects_bad_alignment_and_overflow() {
        assert_eq!(align_up_with_phase(0, 3, 0), None);
        assert_eq!(align_up_with_phase(0, 0, 0), None);
        assert_eq!(align_up_with_phase(usize::MAX - 1, 4, 0), None);
        assert_eq!(align_up_with_phase(usize::MAX, 1, 0), Some(usize::MAX));
    }
}
