//! Numbers made of 32-bit cells: cell counts, `reg`-like lists and single values.
//!
//! This module owns decoding property values whose entries are groups of big-endian
//! cells of given widths (1 or 2 cells, so up to 64 bits), as `reg`, `alloc-ranges`,
//! `size`, `alignment` and `dma-ranges` are. It checks lengths exactly and must never
//! panic or silently drop a trailing partial entry.
#![forbid(unsafe_code)]

use crate::cma::fallible::{try_push, try_reserve};
use alloc::vec::Vec;

use crate::cma::{PhysAddr, PhysRange};

use super::error::owned;
use super::{Error, Node};

/// Reads a `#address-cells`-like property: a single cell holding 1 or 2.
///
/// # Errors
///
/// [`Error::BadLength`] if it is not one cell, [`Error::BadCells`] for another value.
pub(crate) fn cell_count(
    node: &Node<'_>,
    property: &'static str,
    default: u32,
) -> Result<u32, Error> {
    let Some(raw) = node.property(property) else {
        return Ok(default);
    };
    let value = match <[u8; 4]>::try_from(raw) {
        Ok(b) => u32::from_be_bytes(b),
        Err(_) => {
            return Err(Error::BadLength {
                node: owned(node.path()),
                property,
                len: raw.len(),
                entry: 4,
            });
        }
    };
    if value == 1 || value == 2 {
        Ok(value)
    } else {
        Err(Error::BadCells {
            node: owned(node.path()),
            property,
            value,
        })
    }
}

/// One number of `cells` cells (1 or 2) from the front of `bytes`.
fn number(bytes: &[u8], cells: u32) -> Option<u64> {
    match cells {
        1 => Some(u64::from(u32::from_be_bytes(
            bytes.get(..4)?.try_into().ok()?,
        ))),
        2 => Some(u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?)),
        _ => None,
    }
}

/// Decodes `property` of `node` as a non-empty list of entries of `K` numbers, the
/// `i`-th `widths[i]` cells wide.
///
/// # Errors
///
/// [`Error::BadLength`] when the value is empty or not a whole number of entries.
pub(crate) fn entries<const K: usize>(
    node: &Node<'_>,
    property: &'static str,
    raw: &[u8],
    widths: [u32; K],
) -> Result<Vec<[u64; K]>, Error> {
    let entry: usize = widths.iter().map(|&w| w as usize * 4).sum();
    let bad = || Error::BadLength {
        node: owned(node.path()),
        property,
        len: raw.len(),
        entry,
    };
    if raw.is_empty() || entry == 0 || raw.len() % entry != 0 {
        return Err(bad());
    }
    let mut out = Vec::new();
    try_reserve(&mut out, raw.len() / entry, "property entries")?;
    for chunk in raw.chunks_exact(entry) {
        let mut values = [0u64; K];
        let mut at = 0usize;
        for (value, &w) in values.iter_mut().zip(widths.iter()) {
            *value = chunk.get(at..).and_then(|b| number(b, w)).ok_or_else(bad)?;
            at += w as usize * 4;
        }
        try_push(&mut out, values, "property entries")?;
    }
    Ok(out)
}

/// Decodes a single number of `cells` cells (`size`, `alignment`).
///
/// # Errors
///
/// [`Error::BadLength`] if the value is not exactly one such number.
pub(crate) fn single(
    node: &Node<'_>,
    property: &'static str,
    raw: &[u8],
    cells: u32,
) -> Result<u64, Error> {
    match entries(node, property, raw, [cells])?.as_slice() {
        [[value]] => Ok(*value),
        _ => Err(Error::BadLength {
            node: owned(node.path()),
            property,
            len: raw.len(),
            entry: cells as usize * 4,
        }),
    }
}

/// A byte count from a property value.
///
/// # Errors
///
/// [`Error::TooLarge`] if it does not fit in a `usize`.
pub(crate) fn to_size(
    node: &Node<'_>,
    property: &'static str,
    base: u64,
    size: u64,
) -> Result<usize, Error> {
    usize::try_from(size).map_err(|_| Error::TooLarge {
        node: owned(node.path()),
        property,
        base,
        size,
    })
}

/// `(address, size)` pairs of `property` as physical ranges.
///
/// # Errors
///
/// The errors of [`entries`]; [`Error::TooLarge`] for a size beyond `usize` or a
/// range past 2^64.
pub(crate) fn ranges(
    node: &Node<'_>,
    property: &'static str,
    raw: &[u8],
    (address_cells, size_cells): (u32, u32),
) -> Result<Vec<PhysRange>, Error> {
    let mut out = Vec::new();
    for [base, size] in entries(node, property, raw, [address_cells, size_cells])? {
        let bytes = to_size(node, property, base, size)?;
        let range = PhysRange::new(PhysAddr::new(base), bytes).map_err(|_| Error::TooLarge {
            node: owned(node.path()),
            property,
            base,
            size,
        })?;
        try_push(&mut out, range, "address ranges")?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use super::*;

    fn cells(values: &[u32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_be_bytes()).collect()
    }

    #[test]
    fn two_cell_values_are_64_bit() {
        let raw = cells(&[0x8, 0x8000_0000, 0x1, 0x0, 0x0, 0x1000, 0x0, 0x2000]);
        let node = Node::for_test("/r", vec![("reg", &raw[..])]);
        let got = ranges(&node, "reg", &raw, (2, 2)).unwrap();
        let big = PhysRange::new(PhysAddr::new(0x8_8000_0000), 0x1_0000_0000).unwrap();
        let small = PhysRange::new(PhysAddr::new(0x1000), 0x2000).unwrap();
        assert_eq!(got, vec![big, small]);
        // Mixed widths: 2 address cells, 1 size cell.
        let raw = cells(&[0x1, 0x0, 0x4000]);
        let got = ranges(&node, "reg", &raw, (2, 1)).unwrap();
        assert_eq!(
            got,
            vec![PhysRange::new(PhysAddr::new(1 << 32), 0x4000).unwrap()]
        );
    }

    #[test]
    fn lengths_must_be_whole_entries() {
        let node = Node::for_test("/r", vec![]);
        let raw = cells(&[1, 2, 3]);
        let err = entries(&node, "reg", &raw, [1, 1]).unwrap_err();
        assert_eq!(
            err,
            Error::BadLength {
                node: "/r".into(),
                property: "reg",
                len: 12,
                entry: 8
            }
        );
        assert!(entries(&node, "reg", &[], [1, 1]).is_err());
        assert!(single(&node, "size", &cells(&[1, 2]), 1).is_err());
        assert_eq!(single(&node, "size", &cells(&[1, 2]), 2), Ok(0x1_0000_0002));
    }

    #[test]
    fn ranges_past_the_top_are_refused() {
        let raw = cells(&[0xffff_ffff, 0xffff_f000, 0x0, 0x2000]);
        let node = Node::for_test("/r", vec![]);
        assert!(matches!(
            ranges(&node, "reg", &raw, (2, 2)),
            Err(Error::TooLarge {
                base: 0xffff_ffff_ffff_f000,
                size: 0x2000,
                ..
            })
        ));
    }

    #[test]
    fn cell_counts_are_one_or_two() {
        let three = cells(&[3]);
        let node = Node::for_test("/bus", vec![("#address-cells", &three[..])]);
        assert_eq!(
            cell_count(&node, "#address-cells", 2),
            Err(Error::BadCells {
                node: "/bus".into(),
                property: "#address-cells",
                value: 3
            })
        );
        assert_eq!(cell_count(&node, "#size-cells", 1), Ok(1));
    }
}
