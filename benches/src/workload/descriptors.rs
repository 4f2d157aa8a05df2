//! W3: small DMA descriptors. Sizes 16–256 B with alignment 16, 32 or 64; one
//! allocation in four is the 68 B / align 32 descriptor that must not cross a 4 KiB
//! boundary (a hardware limit of many DMA engines). The live set swings between 1k and
//! 8k blocks, and frees are LIFO-heavy: seven in eight free the newest block.

#![forbid(unsafe_code)]

use super::{Trace, TraceBuilder};
use crate::SplitMix64;

/// The special descriptor's size.
pub const SPECIAL_SIZE: usize = 68;
/// The special descriptor's alignment.
pub const SPECIAL_ALIGN: usize = 32;
/// The boundary the special descriptor must not cross.
pub const BOUNDARY: usize = 4096;
/// Smallest and largest live set the generator swings between.
pub const LIVE_RANGE: (usize, usize) = (1_000, 8_000);
/// Arena for W3: 8k blocks fit even at 4 KiB granules (32 MiB).
pub const ARENA: usize = 64 << 20;

/// A W3 trace of `phases` swings of the live set. Closed: everything is freed at the end.
#[must_use]
pub fn trace(seed: u64, phases: usize) -> Trace {
    let mut rng = SplitMix64::new(seed);
    let mut b = TraceBuilder::default();
    let mut live: Vec<usize> = Vec::new();
    for _ in 0..phases {
        let target = rng.range(LIVE_RANGE.0, LIVE_RANGE.1);
        let growing = live.len() < target;
        while live.len() != target {
            // Mostly move toward the target, sometimes against it.
            let alloc = (growing != rng.one_in(8)) || live.is_empty();
            if alloc {
                live.push(descriptor(&mut rng, &mut b));
            } else {
                let at = if rng.one_in(8) {
                    rng.range(0, live.len() - 1)
                } else {
                    live.len() - 1
                };
                b.free(live.remove(at));
            }
        }
    }
    while let Some(id) = live.pop() {
        b.free(id);
    }
    b.finish("W3 descriptors".to_owned(), ARENA)
}

fn descriptor(rng: &mut SplitMix64, b: &mut TraceBuilder) -> usize {
    if rng.one_in(4) {
        b.alloc(SPECIAL_SIZE, SPECIAL_ALIGN, Some(BOUNDARY))
    } else {
        b.alloc(rng.range(16, 256), rng.pick(&[16, 32, 64]), None)
    }
}

#[cfg(test)]
mod tests {
    use super::{BOUNDARY, LIVE_RANGE, SPECIAL_ALIGN, SPECIAL_SIZE, trace};
    use crate::workload::tests::assert_well_formed;
    use crate::workload::{Op, crosses_boundary};

    #[test]
    fn is_deterministic_closed_and_in_range() {
        let t = trace(9, 3);
        assert_eq!(t.ops, trace(9, 3).ops);
        assert_ne!(t.ops, trace(10, 3).ops);
        assert_well_formed(&t);
        assert!(t.is_closed());
        let (mut live, mut peak, mut special) = (0usize, 0usize, 0usize);
        for op in &t.ops {
            match *op {
                Op::Alloc(a) => {
                    live += 1;
                    peak = peak.max(live);
                    if a.boundary.is_some() {
                        assert_eq!(
                            (a.size, a.align, a.boundary),
                            (SPECIAL_SIZE, SPECIAL_ALIGN, Some(BOUNDARY))
                        );
                        special += 1;
                    } else {
                        assert!((16..=256).contains(&a.size));
                        assert!([16, 32, 64].contains(&a.align));
                    }
                }
                Op::Free(_) => live -= 1,
            }
        }
        assert!(peak >= LIVE_RANGE.0 && peak <= LIVE_RANGE.1);
        assert!(
            special * 5 > t.ids && special * 3 < t.ids,
            "{special} of {}",
            t.ids
        );
    }

    #[test]
    fn frees_are_mostly_lifo() {
        let t = trace(11, 4);
        let mut stack = Vec::new();
        let (mut lifo, mut frees) = (0, 0);
        for op in &t.ops {
            match *op {
                Op::Alloc(a) => stack.push(a.id),
                Op::Free(id) => {
                    frees += 1;
                    lifo += usize::from(stack.last() == Some(&id));
                    stack.retain(|&x| x != id);
                }
            }
        }
        assert!(lifo * 10 > frees * 8, "{lifo} of {frees} frees were LIFO");
    }

    #[test]
    fn placement_alignment_keeps_the_special_descriptor_inside_a_page() {
        let t = trace(12, 1);
        let special = t
            .ops
            .iter()
            .find_map(|op| match op {
                Op::Alloc(a) if a.boundary.is_some() => Some(*a),
                _ => None,
            })
            .expect("one in four allocations is special");
        let align = special.placement_align();
        assert_eq!(align, 128);
        // Every offset a contender may return for that alignment keeps the block inside
        // one 4 KiB page.
        for offset in (0..3 * BOUNDARY).step_by(align) {
            assert!(
                !crosses_boundary(offset, special.size, BOUNDARY),
                "{offset}"
            );
        }
        // Its own alignment alone would not: 32-aligned offset 4064 crosses.
        assert!(crosses_boundary(4064, SPECIAL_SIZE, BOUNDARY));
    }
}
