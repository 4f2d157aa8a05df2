//! The atomics genalloc is built on: `core`'s normally, loom's under `cfg(loom)` so the
//! loom tests explore every interleaving of the real code. Nothing else lives here.
#![forbid(unsafe_code)]

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering, fence};
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering, fence};
