//! Reusable regions: the [`Reclaim`] hook and the allocation loop around it.
//!
//! A reusable region (Linux CMA) lends its free memory to the OS (movable pages, page
//! cache). Before a range is handed out, the OS must take it back ([`Reclaim::claim`],
//! Linux `alloc_contig_range`); when it is freed, the OS may use it again
//! ([`Reclaim::release`]). This module owns that contract and the search that skips busy
//! candidates. It must never call the hook with the region lock held during `claim`,
//! and must never lose a unit: every candidate is either handed out or given back.
#![forbid(unsafe_code)]

use contig_allocators::{Error as BackendError, Request as UnitRequest, Window};
use lock_api::RawMutex;

use crate::{BackendOp, DmaError, PhysRange, Region};

/// What [`Reclaim::claim`] achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Claim {
    /// The range is back: nothing of the OS's lives in it any more.
    Claimed,
    /// Some page of the range is pinned or in flight right now (Linux `-EBUSY`): the
    /// allocator gives the range back to its backend and tries the next candidate.
    /// The hook must leave the range as it was before the call.
    Busy,
    /// The range cannot be taken back (out of memory for migration, a hardware error):
    /// the allocation fails. The hook must leave the range as it was before the call.
    Failed,
}

/// The OS side of a reusable region. Ranges are always whole granules of the region.
///
/// `claim` is called without the region lock held and may take time (migrating
/// pages). `release` is called **with** the region lock held, right after the backend
/// freed the range, so that no other caller can claim the range before it is released;
/// it must be quick and must not call back into the region.
pub trait Reclaim {
    /// Takes `range` back from the OS before it is handed out.
    fn claim(&self, range: PhysRange) -> Claim;

    /// Returns `range`, just freed, to the OS.
    fn release(&self, range: PhysRange);
}

impl<T: Reclaim + ?Sized> Reclaim for &T {
    fn claim(&self, range: PhysRange) -> Claim {
        (**self).claim(range)
    }
    fn release(&self, range: PhysRange) {
        (**self).release(range);
    }
}

/// Allocates `request` in `region` through `hook`: each candidate the backend proposes
/// is claimed from the OS; a busy one is given back and the search resumes past it, at
/// most `region.spec().retry_limit()` times. Returns the offset of the first unit.
pub(crate) fn allocate<R: RawMutex, B: contig_allocators::Backend>(
    region: &Region<R, B>,
    hook: &dyn Reclaim,
    request: UnitRequest,
    size: usize,
) -> Result<usize, DmaError> {
    let units = region.spec().units();
    let mut window = request.window().unwrap_or(Window::new(0, units));
    let limit = region.spec().retry_limit();
    let mut busy = 0;
    loop {
        let start = match region.backend_allocate(request.with_window(Some(window))) {
            Ok(start) => start,
            Err(BackendError::NoSpace { .. } | BackendError::InvalidWindow { .. }) if busy > 0 => {
                return Err(DmaError::ReclaimAllBusy {
                    region: region.index,
                    size,
                    busy,
                });
            }
            Err(e) => return Err(region.backend_error(e, BackendOp::Allocate)),
        };
        let range = region.unit_range(start, request.count());
        let outcome = hook.claim(range);
        if outcome == Claim::Claimed {
            return Ok(start);
        }
        region.give_back(start, request.count(), outcome)?;
        if outcome == Claim::Failed {
            return Err(DmaError::ReclaimFailed {
                region: region.index,
                range,
            });
        }
        if busy == limit {
            return Err(DmaError::ReclaimRetryLimit {
                region: region.index,
                size,
                retries: busy,
            });
        }
        busy += 1;
        region.count_retry();
        // Resume past the busy candidate, as `cma_alloc` does after -EBUSY.
        window.lo = start.saturating_add(request.count());
        if window.lo >= window.hi {
            return Err(DmaError::ReclaimAllBusy {
                region: region.index,
                size,
                busy,
            });
        }
    }
}
