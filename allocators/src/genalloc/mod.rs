//! Linux `gen_pool` semantics with lock-free allocate and free.
//!
//! [`GenPool`] is the pool: chunks of address space added at any time, a
//! `min_alloc_order` granule, the fit algorithms of [`Fit`], `virt_to_phys`,
//! `has_addr`, `avail`, `size` and chunk iteration, with [`GenPool::alloc`] and
//! [`GenPool::free`] usable from many threads at once through `&self`.
//! [`GenBackend`] puts the same machinery behind the [`Backend`](crate::Backend) trait,
//! where `&mut self` makes it the chunk's only user: it runs the same code with plain
//! loads and stores in place of the atomic read-modify-writes (see `access`).
//!
//! Files, one concept each:
//!
//! * `access`: shared (lock-free, atomic read-modify-writes) or exclusive (plain
//!   loads and stores, only behind `&mut`) access, which every algorithm below is
//!   generic over, so both paths are one body of code;
//! * `bits`: the per-chunk atomic bitmap (used + start bits) and the claim/free
//!   protocol that never loses or doubles a unit;
//! * `summary`: the per-chunk free-run tree that lets a search skip to the runs that
//!   can hold a request, and its lock-free update protocol;
//! * `algorithm`: the fit algorithms and the search-claim-retry loop;
//! * `chunk`: one chunk (addresses, granules, free counter, owner);
//! * `chunk_list`: the lock-free append-only chunk list (the only `unsafe` code);
//! * `pool`: [`GenPool`] and [`Fit`];
//! * `unit_backend`: [`GenBackend`];
//! * `sync`: `core` atomics, or loom's under `cfg(loom)`.
//!
//! Nothing here reads or writes the memory the chunks describe, and nothing here
//! takes a lock or allocates after a chunk has been added.

mod access;
mod algorithm;
mod bits;
mod chunk;
mod chunk_list;
mod pool;
mod summary;
mod sync;
mod unit_backend;

pub use pool::{ChunkInfo, Fit, GenPool};
pub use unit_backend::{GenBackend, UnitFit};
