//! Coherent DMA memory for devices: per-device and default pools, CMA areas, and the
//! address model between CPU, physical memory and the bus.
//!
//! This crate owns devices as the DMA layer sees them ([`Device`], [`Devices`]: name,
//! parent, masks, bus view, pool, CMA area), coherent pools ([`CoherentPool`], declared
//! per device or as the system default through [`GlobalPool`]), the coherent DMA API
//! ([`Devices::alloc_coherent`], [`Devices::free_coherent`],
//! [`Devices::mark_occupied`], [`CoherentBuffer::mmap`]), bus addresses ([`DmaAddr`],
//! [`BusMap`], [`BusWindow`]) and CPU access ([`Mapper`], [`CpuAddr`]). It builds on
//! the physical regions of [`contig_cma`] (re-exported as [`cma`]).
//!
//! It must never know about remote processors (a remote processor is just a device
//! that others name as parent; [`Devices::find_ancestor`] finds it), never use the heap
//! to allocate or free a buffer, and never read buffer memory; it writes a buffer only
//! to zero it right after allocating it. Every error names the device and values
//! involved and leaves everything unchanged; nothing panics on any input.
//!
//! Errors come in two types. Setup calls return an [`Error`], which names devices,
//! pools and regions by name. The DMA path (allocation, free, occupation and look-up
//! of buffers through [`Devices`] and [`CoherentAllocation`], and the look-ups of a
//! device, its pool and its live count) returns a [`DmaError`],
//! which a kernel gets back on every allocation and free and so is kept small: at
//! most 32 bytes on 64-bit targets, in registers, with `Result<(), DmaError>` the same
//! size (const asserts check both). It
//! names devices by [`DeviceId`] and sources by [`SourceId`], carries every number,
//! and prints them; [`Devices::explain`] prints the same message with the names looked
//! up in the registry, which is what a log line wants. `?` turns a [`DmaError`] into
//! an [`Error`] ([`Error::Dma`]). A [`CoherentPool`] used directly
//! ([`CoherentPool::allocate`], [`CoherentPool::free`], [`CoherentPool::occupy`])
//! answers with its region's compact [`cma::DmaError`], named by
//! [`CoherentPool::explain`].
//!
//! Allocation order for a device: its pool (own, or its parent's if it inherits;
//! exclusive unless declared to fall through) -> its CMA area -> the default pool
//! (`linux,dma-default`) -> the default CMA area (`linux,cma-default`) -> the system
//! allocator, only for [`Attrs::NON_CONSISTENT`]. Sizes are exact. Each source is asked
//! for memory the device's coherent mask reaches.
//!
//! The `fdt` feature adds the `fdt` module, the device-tree `/reserved-memory` binding;
//! the `virtio` feature adds `virtio::PoolHal`, a `virtio_drivers::Hal` (0.13) drawing
//! rings and bounce buffers from a device's chain. No feature needs std. Tests, tools
//! and the example below run on `contig_dma_sim::SimMemory` (the package
//! `contig-dma-sim`, a std host simulator of physical memory and a [`Mapper`] like a
//! kernel's).
//!
//! A buffer belongs to the device it was allocated for (or to no device, for `None`),
//! as in Linux: [`Devices::free_coherent`] takes it back only through that same device
//! and refuses a free through any other, even a parent, a child or a device sharing the
//! source, with [`DmaError::WrongDevice`] naming both, changing nothing. So
//! [`Devices::live`] counts are exact and [`Devices::remove`] succeeds only when the
//! device truly owns no live buffer.
//!
//! No two live buffers overlap, whatever safe code asks: the registry refuses a
//! source (device pool, CMA area set, default pool, system allocator) whose physical
//! bytes overlap another source's ([`Error::SourcesOverlap`]), and checks every answer
//! of a source (inside it, the exact size, under the device's mask, over no live buffer
//! of its record) before zeroing it, so a faulty custom backend or system allocator
//! gets [`DmaError::BadAnswer`] or [`DmaError::BufferOverlap`] and nothing is written.
//!
//! Costs and locks: a device is found by id in `O(1)`; the registry changes through
//! `&self` (setup calls serialise on a setup lock that DMA calls never take). An
//! allocation holds its device and pool (atomics), tries at most five sources, each
//! under its own lock for its backend's search, then records the buffer's owner and
//! exact size in that source's record in `O(log n)` under the record's lock (one short
//! critical section); the device's count is atomic. A free takes the source's record
//! lock and, inside it, the source's lock. Each record is bounded and reserved at
//! setup: a pool's holds its `max_buffers`, each CMA region's and the system
//! allocator's the capacity given at construction ([`Devices::with_capacity`]).
//! Nothing on these paths uses the heap. [`Devices`] says which calls may run in IRQ
//! context.
//!
//! ```
//! use contig_dma_pool::cma::{PhysAddr, PhysRange};
//! use contig_dma_pool::{Attrs, BusMap, BusWindow, CoherentPool, Device, Devices, DmaAddr, NoMapping, PoolOptions};
//! use contig_dma_sim::SimMemory;
//!
//! // STM32MP15: RETRAM (64K at 0x3800_0000) seen by the M4 at bus address 0.
//! let retram = SimMemory::new(PhysRange::new(PhysAddr::new(0x3800_0000), 0x1_0000).unwrap()).unwrap();
//! let devs: Devices = Devices::new(&NoMapping).unwrap();
//! let window = BusWindow::new(DmaAddr::new(0), PhysAddr::new(0x3800_0000), 0x1_0000).unwrap();
//! let m4 = devs.add(Device::new("m4").unwrap().with_bus(BusMap::windows(vec![window]).unwrap())).unwrap();
//! let pool = CoherentPool::new("retram", PhysAddr::new(0x3800_0000), DmaAddr::new(0), 0x1_0000,
//!     &retram, PoolOptions::new()).unwrap();
//! devs.declare_coherent(m4, pool).unwrap();
//!
//! let buf = devs.alloc_coherent(Some(m4), 1000, Attrs::NONE).unwrap();
//! assert_eq!((buf.dma, buf.size), (DmaAddr::new(0), 1000));
//! assert_eq!(retram.all(buf.phys, 1000, 0), Some(true)); // zeroed
//! let cpu = buf.cpu.unwrap();
//! // SAFETY: the buffer is ours, `cpu` maps its 1000 bytes.
//! unsafe { cpu.as_ptr().copy_from_nonoverlapping(b"hello".as_ptr(), 5) };
//! let mut back = [0u8; 5];
//! retram.read(buf.phys, &mut back).unwrap();
//! assert_eq!(&back, b"hello");
//!
//! assert!(devs.remove(m4).is_err()); // it owns a live buffer
//! assert!(devs.free_coherent(None, &buf).is_err()); // not allocated for "no device"
//! devs.free_coherent(Some(m4), &buf).unwrap();
//! assert!(devs.free_coherent(Some(m4), &buf).is_err()); // double free
//! devs.remove(m4).unwrap();
//! ```
//!
//! # Interrupt context
//!
//! "IRQ" means a function may run in an interrupt handler *if* the registry's and the
//! pools' lock type `R` is interrupt-safe (`contig_cma::IrqSafe` around a spin lock, or
//! a kernel's own `RawMutex` that masks interrupts); the default lock is not, so with
//! it nothing that locks may run in interrupt context.
//!
//! | group | functions | context |
//! |---|---|---|
//! | values | everything on [`DmaAddr`], [`Attrs`], [`PoolOptions`], [`Device`] (its builders and accessors), [`DeviceId`], [`DmaError`], [`SourceId`], [`CoherentPool::explain`], [`BusWindow`], [`BusMap`] translation ([`BusMap::to_dma`], [`BusMap::to_phys`], [`BusMap::reachable`]), [`CpuAddr`], [`LinearMap`], [`NoMapping`], [`CoherentBuffer::mmap`], [`CoherentPool`] accessors ([`CoherentPool::name`], [`CoherentPool::phys`], [`CoherentPool::bus`], [`CoherentPool::mapper`], [`CoherentPool::options`], [`CoherentPool::max_buffers`], [`CoherentPool::is_fallthrough`], [`CoherentPool::to_dma`], [`CoherentPool::to_phys`], [`CoherentPool::reachable`]) | any context: no lock, no allocation |
//! | DMA path | [`Devices::alloc_coherent`], [`Devices::alloc_coherent_aligned`], [`Devices::free_coherent`], [`Devices::explain`], [`Devices::mark_occupied`], [`Devices::find_buffer`], [`Devices::device`], [`Devices::pool`], [`Devices::live`], [`Devices::find`], [`Devices::find_ancestor`], [`Devices::iter`], [`Devices::default_pool`], [`Devices::default_cma`], [`CoherentPool::allocate`], [`CoherentPool::free`], [`CoherentPool::occupy`], [`CoherentPool::live`], [`CoherentPool::records`], [`CoherentPool::stats`], [`GlobalPool::get`], the `virtio` feature's `PoolHal` (`dma_alloc`, `dma_dealloc`, `share`, `unshare`) | IRQ, except when the device's chain reaches a *reusable* CMA region (its reclaim hook may sleep). They hold device entries with atomics, take at most the source's lock and its record's lock, and never use the heap. Never call them from inside a reclaim hook. |
//! | setup | [`Devices::new`], [`Devices::with_capacity`], [`Devices::add`], [`Devices::remove`], [`Devices::declare_coherent`], [`Devices::release_coherent`], [`Devices::set_cma`], [`Devices::set_default_cma`], [`Devices::set_default_pool`], [`Devices::set_system`], [`CoherentPool::new`], [`GlobalPool::new`], [`GlobalPool::get_or_init`], [`BusMap::windows`], the `fdt` module | thread context: they allocate, take the registry's setup lock, or wait a bounded time for calls in flight; never call them while holding a [`DeviceRef`] or [`PoolRef`] of the device they change |
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate alloc;
#[cfg(test)]
extern crate std;

mod allocation;
mod attrs;
mod buffer;
mod bus;
mod coherent;
mod device;
mod devices;
mod dma_addr;
mod error;
#[cfg(feature = "fdt")]
pub mod fdt;
mod global;
mod hold;
mod ledger;
mod mapper;
mod pool;
mod sync;
mod system;
#[cfg(feature = "virtio")]
pub mod virtio;

pub use contig_cma as cma;

pub use allocation::CoherentAllocation;
pub use attrs::Attrs;
pub use buffer::{CoherentBuffer, PfnRange};
pub use bus::{BusMap, BusWindow, OverlappingWindows, TranslateError};
pub use device::{DEFAULT_DMA_MASK, Device, DeviceId};
pub use devices::{
    DEFAULT_BOOK_CAPACITY, DEFAULT_MAX_DEVICES, DeviceRef, Devices, Explained, PoolRef,
};
pub use dma_addr::DmaAddr;
pub use error::{DmaError, Error, Refusal, SourceId, SourceName};
pub use global::GlobalPool;
pub use mapper::{Caching, CpuAddr, LinearMap, Mapper, NoMapping};
pub use pool::{CoherentPool, PoolOptions};
pub use system::SystemMemory;

/// The repository README, whose Rust example (the first screen a user sees) runs as a
/// doc test of this crate so that it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
