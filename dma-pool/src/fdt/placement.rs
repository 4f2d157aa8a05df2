//! Where every region goes: fixed ones checked, dynamic ones placed.
//!
//! This module owns [`memory_banks`] (the `/memory` nodes) and [`place`]: fixed
//! regions are checked against each other and `/memreserve/`; then, in blob order,
//! each dynamic region takes the lowest free run of its size and alignment inside a
//! `/memory` bank, trying its `alloc-ranges` in order, avoiding every fixed region,
//! every `/memreserve/` entry and every region placed before it (Linux places
//! top-down through memblock; bottom-up is as valid and easier to predict). It must
//! never build regions or pools.
#![forbid(unsafe_code)]

use crate::cma::fallible::{try_extend, try_push, try_reserve};
use alloc::vec::Vec;

use crate::cma::{PhysAddr, PhysRange};

use super::error::owned;
use super::rules::{Judged, Spec};
use super::{DeviceTree, Error, cells};

/// The `/memory` banks: `reg` of every enabled root child whose `device_type` is
/// `"memory"`, sorted by base.
///
/// # Errors
///
/// The decoding errors of their `reg`.
pub fn memory_banks(tree: &DeviceTree<'_>) -> Result<Vec<PhysRange>, Error> {
    let cells = tree.child_cells(0)?;
    let mut banks = Vec::new();
    for node in tree.nodes().iter().filter(|n| n.parent() == Some(0)) {
        if node.property("device_type") != Some(b"memory\0") || !node.is_available() {
            continue;
        }
        if let Some(raw) = node.property("reg") {
            try_extend(
                &mut banks,
                cells::ranges(node, "reg", raw, cells)?,
                "memory banks",
            )?;
        }
    }
    banks.retain(|b| !b.is_empty());
    banks.sort();
    Ok(banks)
}

/// A range that is taken, and by whom (for error messages).
struct Taken<'a> {
    by: &'a str,
    range: PhysRange,
}

/// The range of every judged region, in the same order.
///
/// # Errors
///
/// [`Error::Overlap`] between fixed regions or with `/memreserve/`; for a dynamic
/// region [`Error::MissingNode`] (no `/memory`), [`Error::AllocRangeOutsideMemory`],
/// [`Error::NoRoom`].
pub(crate) fn place(
    judged: &[Judged],
    memory: &[PhysRange],
    memreserve: &[PhysRange],
) -> Result<Vec<PhysRange>, Error> {
    let mut out = Vec::new();
    try_reserve(&mut out, judged.len(), "reserved-memory ranges")?;
    for range in place_each(judged, memory, memreserve, false)? {
        try_push(&mut out, range?, "reserved-memory ranges")?;
    }
    Ok(out)
}

/// Like [`place`], but a region that overlaps an earlier one or cannot be placed is
/// an `Err` of its own and the others are still placed (Linux reports such a region
/// and goes on with the rest).
///
/// # Errors
///
/// [`Error::OutOfMemory`] only.
pub(crate) fn place_tolerant(
    judged: &[Judged],
    memory: &[PhysRange],
    memreserve: &[PhysRange],
) -> Result<Vec<Result<PhysRange, Error>>, Error> {
    place_each(judged, memory, memreserve, true)
}

/// Per region: its range or why it has none. Unless `go_on`, everything after the
/// first error is returned as the outer error; [`Error::OutOfMemory`] always is.
fn place_each(
    judged: &[Judged],
    memory: &[PhysRange],
    memreserve: &[PhysRange],
    go_on: bool,
) -> Result<Vec<Result<PhysRange, Error>>, Error> {
    let mut taken: Vec<Taken<'_>> = Vec::new();
    try_reserve(&mut taken, memreserve.len(), "taken ranges")?;
    for &range in memreserve {
        let by = "/memreserve/";
        try_push(&mut taken, Taken { by, range }, "taken ranges")?;
    }
    let mut placed: Vec<Option<Result<PhysRange, Error>>> = Vec::new();
    try_reserve(&mut placed, judged.len(), "reserved-memory ranges")?;
    for j in judged {
        let Spec::Fixed(reg) = &j.spec else {
            try_push(&mut placed, None, "reserved-memory ranges")?;
            continue;
        };
        // Each `reg` entry against what is taken and against the node's own earlier
        // entries (two entries of one node over the same bytes are an overlap too).
        let clash = reg.iter().enumerate().find_map(|(i, range)| {
            let own = reg.get(..i).unwrap_or_default().iter();
            let other = own
                .map(|&r| (j.reserved.path.as_str(), r))
                .chain(taken.iter().map(|t| (t.by, t.range)))
                .find(|(_, r)| r.overlaps(range))?;
            Some(Error::Overlap {
                node: owned(&j.reserved.path),
                range: *range,
                other: owned(other.0),
                other_range: other.1,
            })
        });
        if let Some(error) = clash {
            if !go_on {
                return Err(error);
            }
            try_push(&mut placed, Some(Err(error)), "reserved-memory ranges")?;
            continue;
        }
        for &range in reg {
            let by = j.reserved.path.as_str();
            try_push(&mut taken, Taken { by, range }, "taken ranges")?;
        }
        let first = reg.first().copied().unwrap_or(PhysRange::EMPTY);
        try_push(&mut placed, Some(Ok(first)), "reserved-memory ranges")?;
    }
    let mut out = Vec::new();
    try_reserve(&mut out, judged.len(), "reserved-memory ranges")?;
    for (j, fixed) in judged.iter().zip(placed) {
        let range = match (fixed, &j.spec) {
            (Some(result), _) => result,
            (
                None,
                Spec::Dynamic {
                    size,
                    align,
                    alloc_ranges,
                },
            ) => {
                let range = place_one(j, *size, *align, alloc_ranges, memory, &taken);
                if let Ok(range) = range {
                    let by = j.reserved.path.as_str();
                    try_push(&mut taken, Taken { by, range }, "taken ranges")?;
                }
                range
            }
            (None, Spec::Fixed(_)) => Ok(PhysRange::EMPTY),
        };
        if !go_on {
            if let Err(error) = range {
                return Err(error);
            }
        }
        try_push(&mut out, range, "reserved-memory ranges")?;
    }
    Ok(out)
}

fn place_one(
    j: &Judged,
    size: usize,
    align: usize,
    alloc_ranges: &[PhysRange],
    memory: &[PhysRange],
    taken: &[Taken<'_>],
) -> Result<PhysRange, Error> {
    let node = || owned(&j.reserved.path);
    if memory.is_empty() {
        return Err(Error::MissingNode {
            node: "/memory",
            needed_by: node(),
        });
    }
    if let Some(&outside) = alloc_ranges
        .iter()
        .find(|r| !memory.iter().any(|m| m.overlaps(r)))
    {
        return Err(Error::AllocRangeOutsideMemory {
            node: node(),
            range: outside,
        });
    }
    let windows = if alloc_ranges.is_empty() {
        memory
    } else {
        alloc_ranges
    };
    windows
        .iter()
        .flat_map(|w| memory.iter().filter_map(|m| m.intersection(w)))
        .find_map(|w| lowest_free(size, align, w, taken))
        .ok_or_else(|| Error::NoRoom {
            node: node(),
            size,
            align,
        })
}

/// The lowest `align`-aligned run of `size` bytes inside `window` that no taken range
/// overlaps. Each step jumps past a blocker, so it ends after at most one step per
/// taken range.
fn lowest_free(
    size: usize,
    align: usize,
    window: PhysRange,
    taken: &[Taken<'_>],
) -> Option<PhysRange> {
    let mut base: PhysAddr = window.base().align_up(align)?;
    loop {
        let candidate = PhysRange::new(base, size).ok()?;
        if !window.contains_range(&candidate) {
            return None;
        }
        match taken.iter().find(|t| t.range.overlaps(&candidate)) {
            None => return Some(candidate),
            Some(blocker) => base = blocker.range.end().align_up(align)?,
        }
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    fn r(base: u64, size: usize) -> PhysRange {
        PhysRange::new(PhysAddr::new(base), size).unwrap()
    }

    fn taken(ranges: &[PhysRange]) -> Vec<Taken<'static>> {
        ranges
            .iter()
            .map(|&range| Taken { by: "x", range })
            .collect()
    }

    #[test]
    fn lowest_free_jumps_past_blockers_and_aligns() {
        let window = r(0x1000, 0x10_0000);
        let blockers = taken(&[r(0x1000, 0x800), r(0x2000, 0x3000)]);
        // 0x1000 aligned down is taken; past it 0x2000 is taken till 0x5000.
        assert_eq!(
            lowest_free(0x1000, 0x1000, window, &blockers),
            Some(r(0x5000, 0x1000))
        );
        assert_eq!(
            lowest_free(0x1000, 0x1_0000, window, &blockers),
            Some(r(0x1_0000, 0x1000))
        );
        let top = r(u64::MAX - 0x1fff, 0x1000);
        // Nothing of 1 MiB fits in a 1 MiB window with blockers inside.
        assert_eq!(lowest_free(0x10_0000, 0x1000, window, &blockers), None);
        assert_eq!(lowest_free(0x1000, 0x1000, top, &[]), Some(top));
        // Aligning up past 2^64 is no room, not a wrap.
        assert_eq!(lowest_free(0x1000, 0x1_0000, top, &[]), None);
    }
}
