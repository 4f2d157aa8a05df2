//! One-time initialisation of a system-wide default area set.
//!
//! This module owns [`GlobalArea`]: a `static`-friendly cell that builds an
//! [`AreaSet`] exactly once (whoever comes first builds it, everyone else gets the same
//! one) and hands out `&'static` references to it. It uses only the pluggable lock, so
//! loom can check it, and no `unsafe`. It must never build the set twice.
#![forbid(unsafe_code)]

use alloc::boxed::Box;

use lock_api::{Mutex, RawMutex};

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
    cell: Mutex<R, Option<&'static AreaSet<R>>>,
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
        }
    }

    /// The area set, if built. Takes the cell's lock briefly: callers on a hot path
    /// keep the returned `&'static` reference instead of asking again.
    #[must_use]
    pub fn get(&self) -> Option<&'static AreaSet<R>> {
        *self.cell.lock()
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
        let mut cell = self.cell.lock();
        if let Some(area) = *cell {
            return Ok(area);
        }
        let area: &'static AreaSet<R> = Box::leak(Box::new(build()?));
        *cell = Some(area);
        Ok(area)
    }
}
