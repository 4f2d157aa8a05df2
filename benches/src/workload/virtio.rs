//! W2: virtio split virtqueues and packet buffers. A device session sets up 1–8 queue
//! pairs of 256 or 1,024 entries (descriptor table 16·N B aligned 16, available ring
//! 6+2·N B aligned 2, used ring 6+8·N B aligned 4, per the virtio 1.x split layout),
//! fills every RX queue with 1,518 B buffers, then consumes and refills them in bursts
//! of 64 (oldest first), and finally tears everything down.

#![forbid(unsafe_code)]

use std::collections::VecDeque;

use super::{Trace, TraceBuilder};
use crate::SplitMix64;

/// An Ethernet frame without FCS plus VLAN tag room: the classic RX buffer.
pub const RX_BUFFER: usize = 1_518;
/// RX buffers are cache-line aligned so that the device never shares a line with the CPU.
pub const RX_ALIGN: usize = 64;
/// Buffers consumed and refilled at a time.
pub const BURST: usize = 64;
/// Arena for W2: room for the worst session even at 4 KiB granules (8 pairs × 1,024
/// buffers × 4 KiB = 32 MiB plus rings).
pub const ARENA: usize = 64 << 20;

/// The three parts of a split virtqueue of `entries` entries: (bytes, alignment).
#[must_use]
pub const fn ring_parts(entries: usize) -> [(usize, usize); 3] {
    [
        (16 * entries, 16),
        (6 + 2 * entries, 2),
        (6 + 8 * entries, 4),
    ]
}

/// A W2 trace: `sessions` device sessions of `bursts` refill bursts each. Closed.
#[must_use]
pub fn trace(seed: u64, sessions: usize, bursts: usize) -> Trace {
    let mut rng = SplitMix64::new(seed);
    let mut b = TraceBuilder::default();
    for _ in 0..sessions {
        let pairs = rng.range(1, 8);
        let entries = rng.pick(&[256, 1024]);
        let mut rings = Vec::new();
        for _ in 0..2 * pairs {
            for (size, align) in ring_parts(entries) {
                rings.push(b.alloc(size, align, None));
            }
        }
        let mut rx: Vec<VecDeque<usize>> = (0..pairs)
            .map(|_| {
                (0..entries)
                    .map(|_| b.alloc(RX_BUFFER, RX_ALIGN, None))
                    .collect()
            })
            .collect();
        for _ in 0..bursts {
            let queue = &mut rx[rng.range(0, pairs - 1)];
            for _ in 0..BURST {
                if let Some(id) = queue.pop_front() {
                    b.free(id);
                }
            }
            for _ in 0..BURST {
                queue.push_back(b.alloc(RX_BUFFER, RX_ALIGN, None));
            }
        }
        rx.into_iter().flatten().for_each(|id| b.free(id));
        rings.into_iter().for_each(|id| b.free(id));
    }
    b.finish("W2 virtio".to_owned(), ARENA)
}

#[cfg(test)]
mod tests {
    use super::{RX_ALIGN, RX_BUFFER, ring_parts, trace};
    use crate::workload::Op;
    use crate::workload::tests::assert_well_formed;

    #[test]
    fn ring_parts_follow_the_split_layout() {
        assert_eq!(ring_parts(256), [(4096, 16), (518, 2), (2054, 4)]);
        assert_eq!(ring_parts(1024), [(16384, 16), (2054, 2), (8198, 4)]);
    }

    #[test]
    fn is_deterministic_closed_and_only_rings_or_buffers() {
        let t = trace(3, 4, 50);
        assert_eq!(t.ops, trace(3, 4, 50).ops);
        assert_ne!(t.ops, trace(4, 4, 50).ops);
        assert_well_formed(&t);
        assert!(t.is_closed());
        let rings: Vec<(usize, usize)> = ring_parts(256)
            .into_iter()
            .chain(ring_parts(1024))
            .collect();
        let mut buffers = 0;
        for op in &t.ops {
            if let Op::Alloc(a) = *op {
                if (a.size, a.align) == (RX_BUFFER, RX_ALIGN) {
                    buffers += 1;
                } else {
                    assert!(rings.contains(&(a.size, a.align)), "{a:?}");
                }
            }
        }
        // 4 sessions × 50 bursts × 64 refills, plus the initial fills.
        assert!(buffers >= 4 * 50 * 64 + 4 * 256);
    }
}
