//! One-time initialisation of a system-wide default area set.
//!
//! This module owns [`GlobalArea`]: a `static`-friendly cell that builds an
//! [`AreaSet`] exactly once (whoever comes first builds it, everyone else gets the same
//! one) and hands out `&'static` references to it. Building is serialised by the
//! pluggable lock (so loom can check it); once built, the set is published in a
//! `spin::Once` that [`GlobalArea::get`] reads without any lock. No `unsafe`. It must
//! never build the set twice.
#![forbid(unsafe_code)]

use alloc::boxed::Box;

use lock_api::{Mutex, RawMutex};
use spin::Once;

use crate::fallible::try_box;
use crate::{AreaSet, DefaultLock, Error};

/// A cell for the system's default area set (Linux: `dma_contiguous_default_area`).
///
/// ```
/// use contig_cma::{AreaSet, GlobalArea};
/// static AREA: GlobalArea = GlobalArea::new();
/// assert!(AREA.get().is_none());
/// let a = AREA.get_or_init(|| Ok(AreaSet::new())).unwrap();
/// let b = AREA.get_or_init(|| unreachable!("built once")).unwrap();
/// assert!(core::ptr::eq(a, b));
/// ```
pub struct GlobalArea<R: RawMutex + 'static = DefaultLock> {
    /// Held while building; holds the set once built (the source of truth).
    cell: Mutex<R, Option<&'static AreaSet<R>>>,
    /// The built set, published after `cell` has it, for lock-free reads.
    ready: Once<&'static AreaSet<R>>,
}

impl<R: RawMutex + 'static> Default for GlobalArea<R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R: RawMutex + 'static> GlobalArea<R> {
    /// An empty cell.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            cell: Mutex::const_new(R::INIT, None),
            ready: Once::new(),
        }
    }

    /// The area set, if built. Takes no lock (one atomic load), so it may run in any
    /// context, also while another CPU is building the set (then it answers `None`).
    #[must_use]
    pub fn get(&self) -> Option<&'static AreaSet<R>> {
        self.ready.get().copied()
    }

    /// The area set, built by `build` if this is the first call. The set lives for the
    /// rest of the program (it is leaked on purpose). `build` runs with the cell locked:
    /// concurrent callers wait for it, and it must not use this cell.
    ///
    /// # Errors
    ///
    /// Whatever `build` returns; the cell stays empty then, and a later call tries again.
    pub fn get_or_init(
        &self,
        build: impl FnOnce() -> Result<AreaSet<R>, Error>,
    ) -> Result<&'static AreaSet<R>, Error> {
        if let Some(area) = self.get() {
            return Ok(area);
        }
        let mut cell = self.cell.lock();
        if let Some(area) = *cell {
            return Ok(area);
        }
        let area: &'static AreaSet<R> = Box::leak(try_box(build()?, "area sets")?);
        *cell = Some(area);
        // Only the lock holder gets here, once: nothing else calls `call_once`.
        self.ready.call_once(|| area);
        Ok(area)
    }
}
