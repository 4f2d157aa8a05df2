//! One-time initialisation of the system's default coherent pool (`linux,dma-default`).
//!
//! This module owns [`GlobalPool`]: a `static`-friendly cell that builds the default
//! pool once (whoever comes first builds it; everyone gets the same one). Building is
//! serialised by the pluggable lock (so loom can check it); once built, the pool is
//! published in a `spin::Once` that [`GlobalPool::get`] reads without any lock. No
//! `unsafe`. It must never build the pool twice.
#![forbid(unsafe_code)]

use alloc::boxed::Box;

use lock_api::{Mutex, RawMutex};
use spin::Once;

use crate::cma::DefaultLock;
use crate::cma::fallible::try_box;
use crate::{CoherentPool, Error};

/// A cell for the default coherent pool.
///
/// ```
/// use contig_dma_pool::{CoherentPool, DmaAddr, GlobalPool, NoMapping, PoolOptions};
/// use contig_dma_pool::cma::PhysAddr;
/// static DEFAULT: GlobalPool = GlobalPool::new();
/// let build = || CoherentPool::new("dma-default", PhysAddr::new(0x2000_0000),
///     DmaAddr::new(0x2000_0000), 0x8_0000, &NoMapping, PoolOptions::new());
/// let a = DEFAULT.get_or_init(build).unwrap();
/// let b = DEFAULT.get_or_init(|| unreachable!("built once")).unwrap();
/// assert!(core::ptr::eq(a, b));
/// ```
pub struct GlobalPool<R: RawMutex + 'static = DefaultLock> {
    /// Held while building; holds the pool once built (the source of truth).
    cell: Mutex<R, Option<&'static CoherentPool<'static, R>>>,
    /// The built pool, published after `cell` has it, for lock-free reads.
    ready: Once<&'static CoherentPool<'static, R>>,
}

impl<R: RawMutex + 'static> Default for GlobalPool<R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R: RawMutex + 'static> GlobalPool<R> {
    /// An empty cell.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            cell: Mutex::const_new(R::INIT, None),
            ready: Once::new(),
        }
    }

    /// The pool, if built. Takes no lock (one atomic load), so it may run in any
    /// context, also while another CPU is building the pool (then it answers `None`).
    #[must_use]
    pub fn get(&self) -> Option<&'static CoherentPool<'static, R>> {
        self.ready.get().copied()
    }

    /// The pool, built by `build` on the first call; it lives for the rest of the
    /// program (leaked on purpose). `build` runs with the cell locked and must not use
    /// this cell.
    ///
    /// # Errors
    ///
    /// Whatever `build` returns; the cell stays empty and a later call tries again.
    pub fn get_or_init(
        &self,
        build: impl FnOnce() -> Result<CoherentPool<'static, R>, Error>,
    ) -> Result<&'static CoherentPool<'static, R>, Error> {
        if let Some(pool) = self.get() {
            return Ok(pool);
        }
        let mut cell = self.cell.lock();
        if let Some(pool) = *cell {
            return Ok(pool);
        }
        let pool: &'static CoherentPool<'static, R> = Box::leak(try_box(build()?, "global pools")?);
        *cell = Some(pool);
        // Only the lock holder gets here, once: nothing else calls `call_once`.
        self.ready.call_once(|| pool);
        Ok(pool)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DmaAddr, NoMapping, PoolOptions};
    use contig_cma::PhysAddr;

    #[test]
    fn a_failed_build_leaves_the_cell_empty() {
        // A static: the pool it leaks stays reachable (Miri's leak check agrees).
        static CELL: GlobalPool = GlobalPool::new();
        let cell = &CELL;
        let bad = cell.get_or_init(|| {
            CoherentPool::new(
                "d",
                PhysAddr::new(0),
                DmaAddr::new(0),
                0,
                &NoMapping,
                PoolOptions::new(),
            )
        });
        assert!(matches!(bad, Err(Error::PoolZeroSize { .. })));
        assert!(cell.get().is_none());
        let ok = cell.get_or_init(|| {
            CoherentPool::new(
                "d",
                PhysAddr::new(0),
                DmaAddr::new(0),
                0x1000,
                &NoMapping,
                PoolOptions::new(),
            )
        });
        assert!(ok.is_ok());
        assert!(cell.get().is_some());
    }
}
