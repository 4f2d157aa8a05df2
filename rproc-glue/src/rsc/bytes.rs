//! Little-endian field access on table bytes.
//!
//! This module owns the only place where table bytes are turned into numbers and back.
//! Every access is checked and returns `None` out of bounds; it must never panic or
//! assume alignment (tables are packed and may sit at any address).
#![forbid(unsafe_code)]

/// The `u32` at byte `at`, or `None` if it does not lie inside `bytes`.
pub(crate) fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let end = at.checked_add(4)?;
    let word: [u8; 4] = bytes.get(at..end)?.try_into().ok()?;
    Some(u32::from_le_bytes(word))
}

/// The `N` bytes at `at` as an array, or `None` if they do not lie inside `bytes`.
pub(crate) fn array<const N: usize>(bytes: &[u8], at: usize) -> Option<&[u8; N]> {
    slice(bytes, at, N)?.try_into().ok()
}

/// The `u32` at the constant offset `AT` of a fixed-size body; the bound is checked
/// when compiling, so this cannot fail at run time.
pub(crate) const fn le32<const AT: usize, const N: usize>(b: &[u8; N]) -> u32 {
    const { assert!(AT + 4 <= N) };
    u32::from_le_bytes([b[AT], b[AT + 1], b[AT + 2], b[AT + 3]])
}

/// The byte at the constant offset `AT` of a fixed-size body (checked when compiling).
pub(crate) const fn byte<const AT: usize, const N: usize>(b: &[u8; N]) -> u8 {
    const { assert!(AT < N) };
    b[AT]
}

/// The `n` bytes at `at`, or `None` if they do not lie inside `bytes`.
pub(crate) fn slice(bytes: &[u8], at: usize, n: usize) -> Option<&[u8]> {
    bytes.get(at..at.checked_add(n)?)
}

/// Stores `value` at byte `at`; `None` (and nothing written) if it does not fit.
pub(crate) fn write_u32(bytes: &mut [u8], at: usize, value: u32) -> Option<()> {
    let end = at.checked_add(4)?;
    bytes
        .get_mut(at..end)?
        .copy_from_slice(&value.to_le_bytes());
    Some(())
}

/// The part of a fixed-size name field before its first NUL (all of it if none).
pub(crate) fn name_bytes(field: &[u8]) -> &[u8] {
    match field.iter().position(|&b| b == 0) {
        Some(end) => field.get(..end).unwrap_or(field),
        None => field,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_are_bounded() {
        let mut b = [1u8, 2, 3, 4, 5];
        assert_eq!(read_u32(&b, 0), Some(0x0403_0201));
        assert_eq!(read_u32(&b, 1), Some(0x0504_0302));
        assert_eq!(read_u32(&b, 2), None);
        assert_eq!(read_u32(&b, usize::MAX), None);
        assert_eq!(write_u32(&mut b, 2, 7), None);
        assert_eq!(b, [1, 2, 3, 4, 5]);
        assert_eq!(write_u32(&mut b, 1, 0xaabb_ccdd), Some(()));
        assert_eq!(b, [1, 0xdd, 0xcc, 0xbb, 0xaa]);
        assert_eq!(slice(&b, 4, 2), None);
        assert_eq!(array::<2>(&b, 3), Some(&[0xbb, 0xaa]));
        assert_eq!(array::<2>(&b, 4), None);
        assert_eq!(le32::<1, 5>(&b), 0xaabb_ccdd);
        assert_eq!(byte::<4, 5>(&b), 0xaa);
        assert_eq!(name_bytes(b"ab\0c"), b"ab");
        assert_eq!(name_bytes(b"abc"), b"abc");
    }
}
