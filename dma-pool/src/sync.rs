//! The atomics the registry's lock-free cells are built on: `core`'s normally, loom's
//! under `cfg(loom)` so the loom models explore every interleaving of the real code.
//! Nothing else lives here.
#![forbid(unsafe_code)]

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{AtomicUsize, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicUsize, Ordering};

/// One step of a short wait for another CPU (loom must be told, or it explores the
/// spinning forever).
pub(crate) fn relax() {
    #[cfg(not(loom))]
    core::hint::spin_loop();
    #[cfg(loom)]
    loom::thread::yield_now();
}
