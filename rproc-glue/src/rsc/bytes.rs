//! Bounds-checked access to the table's variable parts: the `offset[]` array, byte
//! ranges (vrings, config, vendor bodies) and NUL-terminated names.
//!
//! Fixed layouts are [`super::layout`]'s. Every access here is checked and returns
//! `None` out of bounds; it must never panic or assume alignment (tables are packed and
//! may sit at any address).
#![forbid(unsafe_code)]

/// The little-endian `u32` at byte `at`, or `None` if it does not lie inside `bytes`.
pub(crate) fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let end = at.checked_add(4)?;
    let word: [u8; 4] = bytes.get(at..end)?.try_into().ok()?;
    Some(u32::from_le_bytes(word))
}

/// The `n` bytes at `at`, or `None` if they do not lie inside `bytes`.
pub(crate) fn slice(bytes: &[u8], at: usize, n: usize) -> Option<&[u8]> {
    bytes.get(at..at.checked_add(n)?)
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
    fn reads_are_bounded() {
        let b = [1u8, 2, 3, 4, 5];
        assert_eq!(read_u32(&b, 0), Some(0x0403_0201));
        assert_eq!(read_u32(&b, 1), Some(0x0504_0302));
        assert_eq!(read_u32(&b, 2), None);
        assert_eq!(read_u32(&b, usize::MAX), None);
        assert_eq!(slice(&b, 4, 2), None);
        assert_eq!(slice(&b, 3, 2), Some(&[4, 5][..]));
        assert_eq!(slice(&b, usize::MAX, 1), None);
        assert_eq!(name_bytes(b"ab\0c"), b"ab");
        assert_eq!(name_bytes(b"abc"), b"abc");
    }
}
