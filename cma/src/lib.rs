//! Physical memory regions for DMA: declaration, early placement, backends chosen by
//! name, a region map from devices to regions, and reusable (CMA) regions.
//!
//! This crate owns physical regions and the policy of which region a device draws
//! from. It builds on the unit allocators of [`contig_allocators`] (re-exported as
//! [`allocators`]) and adds physical addresses ([`PhysAddr`], [`PhysRange`]), locking
//! (generic over [`lock_api::RawMutex`], a spin lock by default, with [`IrqSafe`] to
//! make any of them safe to share with interrupt handlers) and names. It knows
//! nothing of devices beyond their names, of bus addresses or of CPU mappings (the
//! `contig-dma-pool` crate adds those), and it never reads or writes the memory it
//! manages.
//!
//! The flow, from boot to allocation:
//!
//! 1. **Early**, before a heap exists: declare regions in an [`EarlyTable`] (a `const`-
//!    constructible fixed-capacity table), fixed at a base or placed dynamically by the
//!    platform's [`EarlyMemory`] (a [`MemoryMap`] ships for simple platforms and tests).
//! 2. **Once a heap exists**: turn them into [`Region`]s, each managed by a backend
//!    built by name from a [`Registry`] ([`Registry::with_builtins`] holds
//!    `first-fit`, `bitmap`, `tlsf`, `genalloc`, `genalloc-best-fit` and
//!    `genalloc-order-align`; users register their own), and collect them in an
//!    [`AreaSet`] together with a [`RegionMap`] (`camera=video,common;*=common`) and a
//!    default region. A [`GlobalArea`] holds the system's default set, built once.
//! 3. **Run time**: [`AreaSet::alloc`] walks a device's regions in order
//!    ([`AreaSet::alloc_kind`] first tries a `device/kind` entry, as the RFC's `type`);
//!    [`AreaSet::alloc_from`] and [`AreaSet::alloc_from_region`] name them directly;
//!    [`AreaSet::claim`] takes a fixed range. An [`Allocation`] frees itself on drop;
//!    [`RawAllocation`] is the plain-data form, freed with [`AreaSet::free`] or
//!    [`AreaSet::free_at`] (by address, the owning region found in `O(log n)`).
//!    [`AreaSet::dump`] prints regions and live allocations.
//!
//! Reusable regions lend their free memory to the OS and take it back through a
//! [`Reclaim`] hook before handing it out; a busy range is given back and the search
//! moves past it, at most a retry limit of times.
//!
//! Sizes are bytes and are rounded up to whole granules (the region's allocation
//! unit); alignments are bytes, absolute in the physical address space. Every error
//! names the values involved and leaves everything unchanged; nothing in this crate
//! panics on any input. Allocation and free never use the heap.
//!
//! Errors come in two types. Setup and the calls that take names (declarations, the
//! registry, [`AreaSet::alloc`], [`AreaSet::alloc_from_region`], ...) return an
//! [`Error`], which names regions by [`Name`]. The DMA path by handle, id or address
//! ([`Region::allocate`], [`Region::claim`], [`Region::free`], [`AreaSet::alloc_in`],
//! [`AreaSet::claim`], [`AreaSet::free`], [`AreaSet::free_at`], [`Allocation::free`])
//! returns a [`DmaError`]: a kernel gets one back from every failed allocation and
//! free, so it stays within 32 bytes on 64-bit targets, and so do its `Result`s of `()`
//! and of a [`PhysRange`] (const asserts check them). It names the region by a 4-byte
//! [`RegionIndex`] and carries every number (the backend's answer turned into bytes
//! and addresses); [`AreaSet::explain`] and [`Region::explain`] print it with the
//! region's name, and [`AreaSet::to_error`] turns it into the named [`Error`].
//!
//! ```
//! use contig_cma::{
//!     AreaSet, Declaration, Dynamic, EarlyTable, MemoryMap, PhysAddr, PhysRange, Registry,
//!     Request,
//! };
//!
//! // 1. Early: one bank of RAM, a fixed region and a dynamically placed one.
//! let mut mem: MemoryMap<8> = MemoryMap::new();
//! mem.add_memory(PhysRange::new(PhysAddr::new(0x8000_0000), 0x400_0000).unwrap());
//! let mut early: EarlyTable<4> = EarlyTable::new();
//! let video = Declaration::new("video", 0x100_0000).backend("first-fit");
//! early.declare_fixed(&video, PhysAddr::new(0x8000_0000), None, &mut mem).unwrap();
//! let common = Declaration::new("common", 0x80_0000); // the default: "bitmap"
//! early.declare_dynamic(&common, &Dynamic::new().aligned(0x10_0000), &mut mem).unwrap();
//!
//! // 2. Heap available: regions with backends by name, a map and a default.
//! let registry = Registry::with_builtins().unwrap();
//! let mut area: AreaSet = AreaSet::from_early(&early, &registry, &mut |_| None).unwrap();
//! area.set_map(&"camera=video,common;*=common".parse().unwrap()).unwrap();
//!
//! // 3. Run time.
//! let frame = area.alloc("camera", &Request::new(0x1f_a400).aligned(0x1000)).unwrap();
//! assert_eq!(frame.addr(), PhysAddr::new(0x8000_0000)); // from "video"
//! let small = area.alloc("uart", &Request::new(64)).unwrap();
//! assert_eq!(area.get(small.region()).unwrap().name(), "common");
//! let raw = small.into_raw();
//! area.free_at(raw.range.base(), raw.range.size()).unwrap();
//! drop(frame);
//! assert_eq!(area.stats("video").unwrap().used_bytes(), 0);
//! print!("{}", area.dump());
//! ```
//!
//! # Interrupt context
//!
//! Every public function falls in one of three groups. "IRQ" means it may run in an
//! interrupt handler *if* the region's lock type is interrupt-safe ([`IrqSafe`]
//! around a spin lock, or a kernel's own `RawMutex` that masks interrupts);
//! [`DefaultLock`] is not, so with it nothing that locks may run in interrupt context.
//!
//! | group | functions | context |
//! |---|---|---|
//! | values | everything on [`PhysAddr`], [`PhysRange`], [`Request`], [`Flags`], [`Name`], [`RegionId`], [`DmaError`], [`RegionIndex`], [`Region::explain`], [`Region::to_error`], [`AreaSet::explain`], [`AreaSet::to_error`], [`RegionStats`], [`Counters`], [`Geometry`], [`Dynamic`], the [`Declaration`] builders and [`RegionSpec`] accessors, [`Declaration::check`], [`Declaration::at`], [`RawAllocation`] and [`Allocation`] accessors, [`AreaSet::get`], [`AreaSet::regions`], [`AreaSet::region`], [`AreaSet::id_of`], [`AreaSet::find`], [`AreaSet::regions_for`], [`RegionMap::route`], [`RegionMap::regions_for`], [`RegionMap::routes`], [`RegionMap::fallback`], [`Region::spec`], [`Region::name`], [`Region::range`], [`Region::flags`], [`Region::backend_name`], [`Registry::contains`], [`Registry::names`], [`EarlyTable`] and [`MemoryMap`] look-ups | any context: no lock, no allocation |
//! | DMA path | [`Region::allocate`], [`Region::claim`], [`Region::free`], [`Region::stats`], [`Region::for_each_allocation`], [`AreaSet::alloc`], [`AreaSet::alloc_kind`], [`AreaSet::alloc_from`], [`AreaSet::alloc_from_region`], [`AreaSet::alloc_in`], [`AreaSet::claim`], [`AreaSet::free`], [`AreaSet::free_at`], [`AreaSet::stats`], [`Allocation::free`] and its drop, [`GlobalArea::get`] | IRQ, with two exceptions: a *reusable* region calls its [`Reclaim`] hook under the region's lock (the OS migrating pages may sleep: thread context only there), and nothing here may be called on a region from inside that region's [`Reclaim`] hook or `for_each_allocation` callback (the lock is held; it would deadlock). One region lock per call; no heap. |
//! | setup | [`Region::new`], [`Region::with_backend`], [`Registry::new`], [`Registry::with_builtins`], [`Registry::register`], [`Registry::build`], [`AreaSet::new`], [`AreaSet::from_early`], [`AreaSet::add`], [`AreaSet::set_default`], [`AreaSet::set_map`], [`AreaSet::dump`] (formatting it allocates nothing, but walks every region under its lock), [`RegionMap::new`], [`RegionMap::parse`], [`EarlyTable::new`], [`EarlyTable::declare_fixed`], [`EarlyTable::declare_dynamic`], [`MemoryMap::new`], [`MemoryMap::add_memory`], [`GlobalArea::new`], [`GlobalArea::get_or_init`] | thread context: these allocate (backend metadata, tables) or build the set before anyone allocates from it |
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate alloc;
#[cfg(test)]
extern crate std;

mod addr;
mod area;
mod declaration;
mod dump;
mod early;
mod error;
pub use contig_allocators::fallible;
mod flags;
mod global;
mod handle;
mod irq;
mod map;
mod memory_map;
mod name;
mod reclaim;
mod region;
mod registry;
mod request;
mod stats;

pub use contig_allocators as allocators;

pub use addr::{PhysAddr, PhysRange};
pub use area::AreaSet;
pub use declaration::{
    DEFAULT_BACKEND, DEFAULT_GRANULE, DEFAULT_RETRY_LIMIT, Declaration, RegionSpec,
};
pub use dump::Dump;
pub use early::{Dynamic, EarlyMemory, EarlyTable};
pub use error::{BackendOp, DmaError, Error, RegionIndex};
pub use flags::Flags;
pub use global::GlobalArea;
pub use handle::{Allocation, RawAllocation, RegionId};
pub use irq::{InterruptControl, IrqSafe};
pub use map::{FALLBACK_DEVICE, MapProblem, RegionMap, Route};
pub use memory_map::MemoryMap;
pub use name::{NAME_MAX, Name, NameProblem};
pub use reclaim::{Claim, Reclaim};
pub use region::{BoxedReclaim, DefaultLock, InlineBitmap, InlineFirstFit, Region, StaticReclaim};
pub use registry::{BUILTIN_BACKENDS, BoxedBackend, Geometry, Registry};
pub use request::Request;
pub use stats::{Counters, RegionStats};
