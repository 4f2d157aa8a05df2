//! Every contender of the comparison, by name, and how to build it for an arena size.

#![forbid(unsafe_code)]

use crate::arena::Arena;
use crate::ours::{OurBackend, granule_label};
use crate::peers::buddy::BuddyArena;
use crate::peers::linked_list::LinkedListArena;
use crate::peers::offset::OffsetArena;
use crate::peers::rlsf::RlsfArena;
use crate::peers::talc::TalcArena;

/// The two granules our backends run at.
pub const GRANULES: [usize; 2] = [4096, 64];

/// One contender.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Contender {
    /// One of our unit allocators (or the baseline) at a granule in bytes.
    Ours(OurBackend, usize),
    /// `talc`.
    Talc,
    /// `rlsf`.
    Rlsf,
    /// `linked_list_allocator`.
    LinkedList,
    /// `buddy_system_allocator`.
    Buddy,
    /// `offset-allocator`.
    Offset,
}

impl Contender {
    /// Every contender in report order: our backends at 4 KiB then 64 B granules, the
    /// power-of-two baseline at 4 KiB pages only (its policy is defined in pages), then
    /// the peers.
    #[must_use]
    pub fn all() -> Vec<Self> {
        let mut all = Vec::new();
        for granule in GRANULES {
            for which in OurBackend::ALL {
                if which != OurBackend::PowerOfTwo || granule == 4096 {
                    all.push(Self::Ours(which, granule));
                }
            }
        }
        all.extend([
            Self::Talc,
            Self::Rlsf,
            Self::LinkedList,
            Self::Buddy,
            Self::Offset,
        ]);
        all
    }

    /// The name the contender reports (and is tabulated under).
    #[must_use]
    pub fn name(self) -> String {
        match self {
            Self::Ours(which, granule) => format!("{}/{}", which.name(), granule_label(granule)),
            Self::Talc => "talc".to_owned(),
            Self::Rlsf => "rlsf".to_owned(),
            Self::LinkedList => "linked_list_allocator".to_owned(),
            Self::Buddy => "buddy_system_allocator".to_owned(),
            Self::Offset => "offset-allocator".to_owned(),
        }
    }

    /// Whether this is one of ours (not the baseline, not a peer).
    #[must_use]
    pub fn is_ours(self) -> bool {
        matches!(self, Self::Ours(which, _) if which != OurBackend::PowerOfTwo)
    }

    /// Whether [`build`](Self::build) succeeds for an arena of `arena_bytes` (without
    /// building it).
    #[must_use]
    pub fn can_manage(self, arena_bytes: usize) -> bool {
        self != Self::Offset || u32::try_from(arena_bytes).is_ok()
    }

    /// The contender on an arena of `arena_bytes`, or `None` when it cannot manage
    /// that size (offset-allocator beyond `u32`).
    #[must_use]
    pub fn build(self, arena_bytes: usize) -> Option<Box<dyn Arena>> {
        Some(match self {
            Self::Ours(which, granule) => which.arena(arena_bytes, granule),
            Self::Talc => Box::new(TalcArena::new(arena_bytes)),
            Self::Rlsf => Box::new(RlsfArena::new(arena_bytes)),
            Self::LinkedList => Box::new(LinkedListArena::new(arena_bytes)),
            Self::Buddy => Box::new(BuddyArena::new(arena_bytes)),
            Self::Offset => Box::new(OffsetArena::new(arena_bytes)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Contender;
    use crate::workload::{descriptors, virtio};
    use crate::{Replayer, largest_allocatable};

    #[test]
    fn every_contender_replays_w2_and_w3_without_misplacing_a_block() {
        let w2 = virtio::trace(1, 1, 4);
        // The head of a W3 trace (its growth phase): enough for every request shape and
        // quick in a debug build even for best-fit at 64 B granules (a full scan each).
        let mut w3 = descriptors::trace(2, 1);
        w3.ops.truncate(3_000);
        let mut replayer = Replayer::default();
        for contender in Contender::all() {
            let mut arena = contender
                .build(w2.arena_bytes)
                .expect("64 MiB fits everybody");
            assert_eq!(arena.name(), contender.name());
            let empty = largest_allocatable(arena.as_mut(), 4096);
            // TLSF cannot hand out its whole block: it searches one size class up.
            assert!(
                empty > w2.arena_bytes / 100 * 95,
                "{}: {empty}",
                arena.name()
            );
            for trace in [&w2, &w3] {
                let out = replayer.run(arena.as_mut(), trace, false);
                let name = arena.name();
                assert_eq!(
                    (out.failures, out.misplaced),
                    (0, 0),
                    "{name} on {}",
                    trace.name
                );
                assert!(out.footprint >= out.requested, "{name}");
                replayer.release(arena.as_mut());
            }
            // Freeing everything gives the whole arena back.
            assert_eq!(
                largest_allocatable(arena.as_mut(), 4096),
                empty,
                "{}",
                arena.name()
            );
        }
    }

    #[test]
    fn offset_allocator_declines_arenas_beyond_u32() {
        assert!(Contender::Offset.build(4 << 30).is_none());
        assert!(!Contender::Offset.can_manage(4 << 30));
        assert!(Contender::Offset.can_manage(2 << 30) && Contender::Talc.can_manage(4 << 30));
    }
}
