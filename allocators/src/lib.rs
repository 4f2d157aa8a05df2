//! Pure range allocators over a space of `n` units.
//!
//! This crate owns *where* a run of units goes inside a fixed unit space and nothing
//! else: it knows no addresses, devices or locks (the `contig-cma` crate adds physical
//! addresses and locking on top). A unit is whatever granule the caller chose — a 4 KiB
//! page, a 64 B cache line — and an offset is a unit index from the start of the space.
//!
//! Every backend implements [`Backend`]:
//!
//! * [`FirstFit`](first_fit::FirstFit): address-ordered free extents in an augmented
//!   tree, coalescing on free; metadata for a configured maximum of live allocations,
//!   allocated once or held inline (a `const fn` constructor for `static`s, before any
//!   heap exists).
//! * [`Bitmap`](bitmap::Bitmap): one "used" bit and one "starts an allocation" bit per
//!   unit, word-level scans, a summary level and a run tree; metadata allocated once,
//!   or held in caller storage or inline (`const fn` constructors for `static`s).
//! * [`Tlsf`](tlsf::Tlsf): two-level segregated fit ("good fit") with out-of-band
//!   boundary tags and nodes for free pieces only; `O(1)` allocate and free in the
//!   common case, exact failures.
//! * [`GenPool`](genalloc::GenPool): Linux `gen_pool` semantics (several chunks,
//!   `min_alloc_order`, the fit algorithms) with lock-free allocate/free on `&self`.
//!
//! Rules every backend keeps:
//!
//! * **Metadata out of band.** No backend ever reads or writes the memory it manages;
//!   it only sees unit indices.
//! * **No heap on the hot path.** Metadata is sized at construction; `allocate`, `claim`
//!   and `free` never call the global allocator.
//! * **Fallible construction.** Every constructor that allocates returns
//!   [`OutOfMemory`](fallible::OutOfMemory) when the heap cannot hold the metadata, never
//!   aborts (one over caller storage returns a typed error when the storage is too
//!   small). [`fallible`] holds the only allocation helpers of this crate and of the
//!   crates built on it (`try_reserve` based, usable without the global OOM handler).
//! * **Typed errors, state unchanged.** Bad input (zero units, a non-power-of-two
//!   alignment, a double free, a wrong count, ...) returns an [`Error`] naming the values
//!   involved and leaves the backend exactly as it was. Nothing here panics on any input.
//! * **Absolute alignment.** A backend is told the *phase* of its space (the absolute
//!   unit index of offset 0, e.g. `region_base / granule`), so an aligned result is
//!   aligned in the address space even when the region base is not.
//!
//! ```
//! use contig_allocators::{Backend, Request, first_fit::FirstFit};
//!
//! // 1024 units whose offset 0 sits at absolute unit 3 (an unaligned region base),
//! // room for at most 16 live allocations.
//! let mut ff = FirstFit::new(1024, 3, 16).unwrap();
//! let at = ff.allocate(Request::new(10).aligned(8)).unwrap();
//! assert_eq!((3 + at) % 8, 0); // aligned in absolute terms
//! ff.free(at, 10).unwrap();
//! assert!(ff.free(at, 10).is_err()); // a double free is an error, not corruption
//! ```
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate alloc;

mod align;
mod backend;
mod error;
pub mod fallible;
mod request;
mod stats;

pub mod bitmap;
pub mod first_fit;
pub mod genalloc;
// The shadow model is a checker for tests and fuzzing (it allocates freely per
// operation, which no backend does); it is exempt from the fallible-allocation lint.
#[cfg(feature = "shadow")]
#[allow(clippy::disallowed_methods, clippy::disallowed_macros)]
pub mod shadow;
#[cfg(test)]
mod test_rng;
pub mod tlsf;

pub use align::align_up_with_phase;
pub use backend::{Backend, Extent};
pub use error::Error;
pub use request::{Request, Window, check_range};
pub use stats::Stats;
