//! Building a half-full region with random holes, the starting state of the
//! throughput benchmarks.

use contig_allocators::bitmap::Bitmap;
use contig_allocators::first_fit::FirstFit;
use contig_allocators::genalloc::GenBackend;
use contig_allocators::{Backend, Request};

use crate::SplitMix64;

/// The backends we measure, by the name they register under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contender {
    /// `FirstFit`, metadata for one allocation per unit (the worst case).
    FirstFit,
    /// `Bitmap`.
    Bitmap,
    /// `GenBackend::first_fit`.
    GenallocFirstFit,
    /// `GenBackend::best_fit`.
    GenallocBestFit,
}

impl Contender {
    /// Every contender, in report order.
    pub const ALL: [Self; 4] = [
        Self::FirstFit,
        Self::Bitmap,
        Self::GenallocFirstFit,
        Self::GenallocBestFit,
    ];

    /// The backend's registered name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::FirstFit => "first-fit",
            Self::Bitmap => "bitmap",
            Self::GenallocFirstFit => "genalloc",
            Self::GenallocBestFit => "genalloc-best-fit",
        }
    }

    /// An empty backend of `units` units at phase 0.
    #[must_use]
    pub fn build(self, units: usize) -> Box<dyn Backend> {
        match self {
            Self::FirstFit => Box::new(FirstFit::new(units, 0, units)),
            Self::Bitmap => Box::new(Bitmap::new(units, 0)),
            Self::GenallocFirstFit => Box::new(GenBackend::first_fit(units, 0)),
            Self::GenallocBestFit => Box::new(GenBackend::best_fit(units, 0)),
        }
    }
}

/// Fills `backend` completely with blocks of `min..=max` units, then frees each block
/// with probability 1/2: about half the space stays used, with random holes of the same
/// size distribution. Returns the number of units left allocated.
pub fn prefill_half(
    backend: &mut dyn Backend,
    rng: &mut SplitMix64,
    min: usize,
    max: usize,
) -> usize {
    let mut blocks = Vec::new();
    loop {
        let count = rng.range(min, max);
        match backend.allocate(Request::new(count)) {
            Ok(start) => blocks.push((start, count)),
            Err(_) if count > min => {
                // The tail is smaller than this block: finish it with minimum blocks.
                while let Ok(start) = backend.allocate(Request::new(min)) {
                    blocks.push((start, min));
                }
                break;
            }
            Err(_) => break,
        }
    }
    let mut used = 0;
    for (start, count) in blocks {
        if rng.one_in(2) {
            backend
                .free(start, count)
                .expect("freeing a block the prefill allocated");
        } else {
            used += count;
        }
    }
    used
}

#[cfg(test)]
mod tests {
    use super::{Contender, prefill_half};
    use crate::SplitMix64;

    #[test]
    fn prefill_leaves_about_half_used_with_holes() {
        for contender in Contender::ALL {
            let mut backend = contender.build(16_384);
            let used = prefill_half(backend.as_mut(), &mut SplitMix64::new(1), 1, 16);
            let stats = backend.stats();
            assert_eq!(stats.used(), used, "{}", contender.name());
            assert!(
                (6_000..10_000).contains(&used),
                "{}: {used} units used",
                contender.name()
            );
            assert!(
                stats.free_extents > 300,
                "{}: only {} holes",
                contender.name(),
                stats.free_extents
            );
        }
    }
}
