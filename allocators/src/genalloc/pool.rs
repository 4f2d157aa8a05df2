//! [`GenPool`]: Linux `gen_pool` semantics with lock-free allocate and free on `&self`.
//!
//! This module owns the pool-level rules: validating chunks as they are added, turning
//! byte sizes into granules, trying the chunks in list order with the chosen
//! [`Fit`], and turning addresses back into chunks for `free`, `virt_to_phys` and
//! `has_addr`. It never reads or writes the memory the chunks describe.
#![forbid(unsafe_code)]

use core::fmt;

use super::access::Shared;
use super::algorithm::{self, Strategy, Want};
use super::bits::FreeError;
use super::chunk::Chunk;
use super::chunk_list::ChunkList;
use crate::Error;

/// A fit algorithm (Linux `genpool_algo_t`), chosen per pool or per call.
///
/// Alignments and offsets are in bytes. Every search runs chunk by chunk in list order
/// (newest chunk first) and takes the first chunk where the algorithm finds room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Fit {
    /// The lowest free run (`gen_pool_first_fit`).
    #[default]
    FirstFit,
    /// The lowest free run whose address is a multiple of `align`, a power of two
    /// (`gen_pool_first_fit_align`). The alignment is absolute — relative to address
    /// 0 — also in a chunk whose start is not aligned. An `align` below the granule
    /// asks for nothing beyond the granule.
    FirstFitAlign {
        /// Alignment in bytes.
        align: usize,
    },
    /// The lowest free run aligned to the size rounded up to a power of two
    /// (`gen_pool_first_fit_order_align`). Unlike Linux, which aligns relative to the
    /// chunk start, the alignment is absolute, like [`FirstFitAlign`](Self::FirstFitAlign).
    FirstFitOrderAlign,
    /// The lowest run in the smallest free hole that holds the request
    /// (`gen_pool_best_fit`); like Linux, the smallest hole of the first chunk (in
    /// list order) that has one.
    BestFit,
    /// Exactly `offset` bytes from a chunk's start (`gen_pool_fixed_alloc`), in the
    /// first chunk where that range is free. `offset` must be a multiple of the granule.
    Fixed {
        /// Offset from the start of a chunk, in bytes.
        offset: usize,
    },
}

/// What [`GenPool::chunks`] reports about one chunk.
#[derive(Debug)]
pub struct ChunkInfo<'a, O> {
    /// CPU address of the chunk's first byte.
    pub virt: usize,
    /// Physical address of the chunk's first byte (`None` for
    /// [`add_chunk_virt`](GenPool::add_chunk_virt) chunks).
    pub phys: Option<u64>,
    /// Bytes in the chunk.
    pub size: usize,
    /// Free bytes in the chunk (exact when no allocation or free is in flight).
    pub avail: usize,
    /// The owner given when the chunk was added.
    pub owner: &'a O,
}

/// A general-purpose special-memory pool with Linux `gen_pool` semantics.
///
/// * **Chunks** `(virt, phys, size, owner)` can be added at any time through `&self`;
///   the newest chunk comes first in [`chunks`](Self::chunks) and in every search,
///   as in Linux. Chunks are never removed; they go when the pool is dropped.
/// * **Granule**: every chunk is divided into granules of `1 << min_alloc_order`
///   bytes, and sizes are rounded up to whole granules, as Linux does (an allocation of
///   100 bytes in an order-6 pool takes 128 bytes, and `free(addr, 100)` frees it).
///   Unlike Linux, a chunk's address and size must be multiples of the granule
///   ([`Error::NotGranular`]), so that alignment is exact and no tail bytes are lost,
///   and its end must be representable ([`Error::AddressOverflow`] for a chunk that
///   would end at the very top of the address space).
/// * **Lock-free**: [`alloc`](Self::alloc) and [`free`](Self::free) on `&self`
///   claim and release granules in atomic bitmap words with compare-exchange; a claim
///   that loses a race rolls back what it took and searches again. Each chunk of at
///   least 256 granules keeps a free-run summary so a search does not scan the whole
///   bitmap; one thread at a time updates it, and a thread that finds it busy leaves
///   its change in a stale set for a later update, so nobody ever waits for it (the `genalloc` module docs say how).
///   No lock, no heap use; adding a chunk allocates its node, bitmap and summary once. Blocks never overlap and
///   no granule is lost or doubled; only the *placement* is best effort under
///   contention (a racing search may be pushed past a claim that later rolls back,
///   as in Linux), and `avail` is exact once no call is in flight.
/// * **Errors, not `BUG()`**: a double free, a free in the middle of a block, a wrong
///   size or an address in no chunk is a typed [`Error`] and changes nothing.
///   Pool errors carry addresses where [`Backend`](crate::Backend) errors carry
///   offsets, and bytes where those carry units.
///
/// Addresses are plain integers like Linux's `unsigned long`: the pool never
/// dereferences them, so they may be CPU, bus or physical addresses. The `contig-cma`
/// crate wraps them in its `PhysAddr` type.
///
/// `GenPool<O>` is `Send` and `Sync` when `O` is.
///
/// ```
/// use contig_allocators::Error;
/// use contig_allocators::genalloc::{Fit, GenPool};
///
/// // 64-byte granules; two chunks, the newer one is searched first.
/// let pool: GenPool<&str> = GenPool::new(6);
/// pool.add_chunk(0x1000, 0x8000_1000, 0x1000, "sram0").unwrap();
/// pool.add_chunk(0x4000, 0x8000_4000, 0x400, "sram1").unwrap();
///
/// let (a, owner) = pool.alloc_owner(100).unwrap(); // rounded up to 128 bytes
/// assert_eq!((a, *owner), (0x4000, "sram1"));
/// assert_eq!(pool.virt_to_phys(a), Some(0x8000_4000));
/// let b = pool.alloc_with(64, Fit::FirstFitAlign { align: 0x1000 }).unwrap();
/// assert_eq!(b, 0x1000);
/// assert_eq!(pool.avail(), 0x1400 - 128 - 64);
///
/// pool.free(a, 100).unwrap();
/// assert_eq!(pool.free(a, 100), Err(Error::NotAllocated { start: a }));
/// assert_eq!(pool.free(0x9000, 64), Err(Error::AddressNotInPool { addr: 0x9000 }));
/// ```
pub struct GenPool<O = ()> {
    chunks: ChunkList<O>,
    order: u32,
    fit: Fit,
}

impl<O> GenPool<O> {
    /// An empty pool whose granule is `1 << min_alloc_order` bytes, using
    /// [`Fit::FirstFit`] unless told otherwise. An order whose granule does not fit in
    /// a `usize` makes [`add_chunk`](Self::add_chunk) fail with [`Error::OrderTooLarge`].
    #[cfg(not(loom))]
    #[must_use]
    pub const fn new(min_alloc_order: u32) -> Self {
        Self::with_algorithm(min_alloc_order, Fit::FirstFit)
    }

    /// An empty pool with `fit` as its default algorithm.
    #[cfg(not(loom))]
    #[must_use]
    pub const fn with_algorithm(min_alloc_order: u32, fit: Fit) -> Self {
        Self {
            chunks: ChunkList::new(),
            order: min_alloc_order,
            fit,
        }
    }

    /// An empty pool (loom build: loom's atomics are not `const`).
    #[cfg(loom)]
    #[must_use]
    pub fn new(min_alloc_order: u32) -> Self {
        Self::with_algorithm(min_alloc_order, Fit::FirstFit)
    }

    /// An empty pool with `fit` as its default algorithm (loom build).
    #[cfg(loom)]
    #[must_use]
    pub fn with_algorithm(min_alloc_order: u32, fit: Fit) -> Self {
        Self {
            chunks: ChunkList::new(),
            order: min_alloc_order,
            fit,
        }
    }

    /// Sets the algorithm [`alloc`](Self::alloc) uses (`gen_pool_set_algo`).
    pub fn set_algorithm(&mut self, fit: Fit) {
        self.fit = fit;
    }

    /// The algorithm [`alloc`](Self::alloc) uses.
    #[must_use]
    pub const fn algorithm(&self) -> Fit {
        self.fit
    }

    /// The pool's `min_alloc_order`: granules are `1 << min_alloc_order` bytes.
    #[must_use]
    pub const fn min_alloc_order(&self) -> u32 {
        self.order
    }

    fn granule(&self) -> Result<usize, Error> {
        1usize
            .checked_shl(self.order)
            .ok_or(Error::OrderTooLarge { order: self.order })
    }

    /// Adds `size` bytes at CPU address `virt`, physical address `phys`, owned by
    /// `owner` (`gen_pool_add_owner`). The new chunk becomes the first one searched.
    /// On error the owner is dropped and the pool is unchanged.
    ///
    /// # Errors
    ///
    /// In order: [`Error::ZeroCount`] for `size == 0`, [`Error::OrderTooLarge`],
    /// [`Error::NotGranular`] for a `size`, then a `virt`, that is not a multiple of
    /// the granule, [`Error::AddressOverflow`] when the virtual or the physical range
    /// wraps, [`Error::ChunkOverlap`] when the virtual range overlaps a chunk.
    pub fn add_chunk(&self, virt: usize, phys: u64, size: usize, owner: O) -> Result<(), Error> {
        self.add(virt, Some(phys), size, owner)
    }

    /// Adds a chunk without a physical address (`gen_pool_add_virt` with no `phys`):
    /// [`virt_to_phys`](Self::virt_to_phys) answers `None` inside it.
    ///
    /// # Errors
    ///
    /// As [`add_chunk`](Self::add_chunk).
    pub fn add_chunk_virt(&self, virt: usize, size: usize, owner: O) -> Result<(), Error> {
        self.add(virt, None, size, owner)
    }

    fn add(&self, virt: usize, phys: Option<u64>, size: usize, owner: O) -> Result<(), Error> {
        if size == 0 {
            return Err(Error::ZeroCount);
        }
        let granule = self.granule()?;
        for value in [size, virt] {
            if value % granule != 0 {
                return Err(Error::NotGranular { value, granule });
            }
        }
        let size64 = size as u64;
        if virt.checked_add(size).is_none() {
            return Err(Error::AddressOverflow {
                start: virt as u64,
                size: size64,
            });
        }
        if let Some(p) = phys.filter(|p| p.checked_add(size64).is_none()) {
            return Err(Error::AddressOverflow {
                start: p,
                size: size64,
            });
        }
        let chunk = Chunk::new(virt, phys, size, self.order, owner)?;
        self.chunks.push(chunk, |other| {
            other.overlaps(virt, size).then(|| Error::ChunkOverlap {
                virt,
                size,
                existing_virt: other.virt(),
            })
        })
    }

    /// Allocates `size` bytes with the pool's algorithm and returns the address
    /// (`gen_pool_alloc`).
    ///
    /// # Errors
    ///
    /// As [`alloc_owner_with`](Self::alloc_owner_with).
    pub fn alloc(&self, size: usize) -> Result<usize, Error> {
        self.alloc_owner_with(size, self.fit).map(|(addr, _)| addr)
    }

    /// Allocates `size` bytes with `fit` (`gen_pool_alloc_algo`).
    ///
    /// # Errors
    ///
    /// As [`alloc_owner_with`](Self::alloc_owner_with).
    pub fn alloc_with(&self, size: usize, fit: Fit) -> Result<usize, Error> {
        self.alloc_owner_with(size, fit).map(|(addr, _)| addr)
    }

    /// Allocates `size` bytes with the pool's algorithm and also returns the owner of
    /// the chunk it came from (`gen_pool_alloc_owner`).
    ///
    /// # Errors
    ///
    /// As [`alloc_owner_with`](Self::alloc_owner_with).
    pub fn alloc_owner(&self, size: usize) -> Result<(usize, &O), Error> {
        self.alloc_owner_with(size, self.fit)
    }

    /// Allocates `size` bytes (rounded up to whole granules) with `fit` and returns the
    /// address and the owner of its chunk (`gen_pool_alloc_algo_owner`).
    ///
    /// # Errors
    ///
    /// In order: [`Error::ZeroCount`], [`Error::OrderTooLarge`],
    /// [`Error::AlignNotPowerOfTwo`] ([`Fit::FirstFitAlign`]), [`Error::NotGranular`]
    /// ([`Fit::Fixed`] offset), [`Error::NoSpace`] when no chunk has room, carrying
    /// `size`, the alignment searched for in bytes (saturated at `usize::MAX` when the
    /// size's power of two does not fit); [`GenPool::largest_free`] tells fragmentation
    /// from exhaustion when a caller needs to know.
    ///
    /// Cost, per chunk tried, while no other allocation or free is in flight on it:
    /// first fit first reads the bitmap words of the first 128 granules when the summary
    /// is deferring its updates, then a walk of the chunk's free-run summary (a tree over 128-granule leaves, see the
    /// `genalloc` module docs): `O(log n)` node visits for first fit, plus `O(log n)` per
    /// free run it meets that is long enough but has no aligned fit; for best fit
    /// `O((R + 1) · log n)` plus one step per size class, where `R` counts the holes of
    /// the size class `[2^k, 2^(k+1))` the answer comes from (up to an exact fit). Then
    /// one compare-exchange per bitmap word claimed (32 granules per word on 64-bit
    /// targets, 16 on 32-bit ones) and an `O(log n)` update of the summary (a fixed
    /// offset past the chunk's free tail also rewrites the summary leaves of the free
    /// granules it skips, which the summary leaves out), or, while
    /// searches keep finding their fit in those first granules, one compare-exchange
    /// that defers it to the next search that needs the summary. While another call is
    /// updating the same chunk's summary, and in chunks of fewer than 256 granules, the
    /// search is a word-level scan of the bitmap instead.
    pub fn alloc_owner_with(&self, size: usize, fit: Fit) -> Result<(usize, &O), Error> {
        if size == 0 {
            return Err(Error::ZeroCount);
        }
        let granule = self.granule()?;
        let units = size.div_ceil(granule);
        let (align, strategy) = match fit {
            Fit::FirstFit => (Some(1), Strategy::Lowest),
            Fit::BestFit => (Some(1), Strategy::SmallestHole),
            Fit::FirstFitOrderAlign => (units.checked_next_power_of_two(), Strategy::Lowest),
            Fit::FirstFitAlign { align } => {
                if !align.is_power_of_two() {
                    return Err(Error::AlignNotPowerOfTwo { align });
                }
                (Some((align >> self.order).max(1)), Strategy::Lowest)
            }
            Fit::Fixed { offset } => {
                if offset % granule != 0 {
                    return Err(Error::NotGranular {
                        value: offset,
                        granule,
                    });
                }
                (Some(1), Strategy::At(offset >> self.order))
            }
        };
        let found = align.and_then(|align| {
            self.chunks.iter().find_map(|chunk| {
                let want = Want {
                    lo: 0,
                    hi: chunk.units(),
                    count: units,
                    align,
                    phase: chunk.phase(),
                };
                if chunk.avail_units() < units {
                    return None;
                }
                let unit = algorithm::allocate::<Shared>(chunk.map(), &want, strategy)?;
                chunk.took(units);
                Some((chunk.addr_of(unit), chunk.owner()))
            })
        });
        found.ok_or_else(|| Error::NoSpace {
            count: size,
            align: align.unwrap_or(usize::MAX).saturating_mul(granule),
        })
    }

    /// Frees the block of `size` bytes at `addr` (`gen_pool_free`). As with
    /// allocation, `size` is rounded up to whole granules before it is compared.
    ///
    /// # Errors
    ///
    /// As [`free_owner`](Self::free_owner).
    pub fn free(&self, addr: usize, size: usize) -> Result<(), Error> {
        self.free_owner(addr, size).map(|_| ())
    }

    /// Frees the block of `size` bytes at `addr` and returns the owner of its chunk
    /// (`gen_pool_free_owner`).
    ///
    /// # Errors
    ///
    /// In order: [`Error::ZeroCount`], [`Error::OrderTooLarge`],
    /// [`Error::AddressNotInPool`], [`Error::NotAllocated`] (a double free, or memory
    /// never allocated), [`Error::NotAllocationStart`] (inside a block),
    /// [`Error::WrongCount`] (the block at `addr` has `actual` bytes).
    pub fn free_owner(&self, addr: usize, size: usize) -> Result<&O, Error> {
        if size == 0 {
            return Err(Error::ZeroCount);
        }
        let granule = self.granule()?;
        let chunk = self
            .chunk_of(addr)
            .ok_or(Error::AddressNotInPool { addr })?;
        let units = size.div_ceil(granule);
        chunk.free(addr, units).map_err(|e| match e {
            FreeError::NotAllocated => Error::NotAllocated { start: addr },
            FreeError::NotAllocationStart => Error::NotAllocationStart { start: addr },
            FreeError::WrongCount { actual } => Error::WrongCount {
                start: addr,
                count: size,
                actual: actual << self.order,
            },
        })?;
        Ok(chunk.owner())
    }

    fn chunk_of(&self, addr: usize) -> Option<&Chunk<O>> {
        self.chunks.iter().find(|chunk| chunk.contains(addr))
    }

    /// The physical address of CPU address `addr` (`gen_pool_virt_to_phys`), `None`
    /// when no chunk holds `addr` or its chunk has no physical address.
    #[must_use]
    pub fn virt_to_phys(&self, addr: usize) -> Option<u64> {
        let chunk = self.chunk_of(addr)?;
        let offset = (addr - chunk.virt()) as u64;
        chunk.phys().map(|phys| phys + offset)
    }

    /// Whether `[start, start + size)` lies inside one chunk (`gen_pool_has_addr`).
    /// An empty or wrapping range is in no chunk.
    #[must_use]
    pub fn has_addr(&self, start: usize, size: usize) -> bool {
        let Some(end) = start.checked_add(size) else {
            return false;
        };
        size > 0
            && self
                .chunk_of(start)
                .is_some_and(|chunk| end - chunk.virt() <= chunk.size())
    }

    /// Free bytes over all chunks (`gen_pool_avail`); exact when no allocation or free
    /// is in flight.
    #[must_use]
    pub fn avail(&self) -> usize {
        self.chunks
            .iter()
            .map(|chunk| chunk.avail_units() << self.order)
            .sum()
    }

    /// Bytes over all chunks (`gen_pool_size`).
    #[must_use]
    pub fn size(&self) -> usize {
        self.chunks.iter().map(Chunk::size).sum()
    }

    /// The longest run of free bytes in any one chunk (an allocation can never span
    /// chunks, even adjacent ones). `O(1)` per chunk that has a summary tree (256 granules
    /// or more) while no allocation or free is in flight, a bitmap scan otherwise.
    #[must_use]
    pub fn largest_free(&self) -> usize {
        self.chunks
            .iter()
            .map(|chunk| chunk.map().largest_free() << self.order)
            .max()
            .unwrap_or(0)
    }

    /// Whether every chunk's free-run summary has folded in every change made so far
    /// (loom builds only: the loom models check that no change is left out for good,
    /// which no other call could tell, since an unsettled summary only makes searches
    /// fall back to the bitmap scan).
    #[cfg(loom)]
    #[must_use]
    pub fn summaries_settled(&self) -> bool {
        self.chunks.iter().all(|chunk| {
            chunk
                .map()
                .summary()
                .is_none_or(|s| s.settle::<Shared>(chunk.map()))
        })
    }

    /// The chunks, newest first (`gen_pool_for_each_chunk`).
    pub fn chunks(&self) -> impl Iterator<Item = ChunkInfo<'_, O>> + '_ {
        self.chunks.iter().map(move |chunk| ChunkInfo {
            virt: chunk.virt(),
            phys: chunk.phys(),
            size: chunk.size(),
            avail: chunk.avail_units() << self.order,
            owner: chunk.owner(),
        })
    }
}

impl<O: fmt::Debug> fmt::Debug for GenPool<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Chunks<'a, O>(&'a GenPool<O>);
        impl<O: fmt::Debug> fmt::Debug for Chunks<'_, O> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_list().entries(self.0.chunks()).finish()
            }
        }
        f.debug_struct("GenPool")
            .field("min_alloc_order", &self.order)
            .field("algorithm", &self.fit)
            .field("chunks", &Chunks(self))
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    extern crate std;

    use super::*;
    use alloc::vec::Vec;

    /// Order 4: 16-byte granules.
    fn pool() -> GenPool<u32> {
        GenPool::new(4)
    }

    #[test]
    fn chunks_come_newest_first_and_are_searched_in_that_order() {
        let p = pool();
        p.add_chunk(0x1000, 0x9000, 0x40, 1).unwrap();
        p.add_chunk(0x3000, 0xb000, 0x20, 2).unwrap();
        p.add_chunk_virt(0x2000, 0x10, 3).unwrap();
        let listed: Vec<(usize, Option<u64>, usize, u32)> = p
            .chunks()
            .map(|c| (c.virt, c.phys, c.size, *c.owner))
            .collect();
        assert_eq!(
            listed,
            [
                (0x2000, None, 0x10, 3),
                (0x3000, Some(0xb000), 0x20, 2),
                (0x1000, Some(0x9000), 0x40, 1)
            ]
        );
        let owners: Vec<u32> = (0..7).map(|_| *p.alloc_owner(16).unwrap().1).collect();
        assert_eq!(owners, [3, 2, 2, 1, 1, 1, 1]);
        assert_eq!(
            p.alloc(16),
            Err(Error::NoSpace {
                count: 16,
                align: 16,
            })
        );
        assert_eq!(p.free_owner(0x3010, 16), Ok(&2));
    }

    #[test]
    fn an_allocation_never_spans_adjacent_chunks() {
        let p = pool();
        p.add_chunk(0x1000, 0, 0x100, 1).unwrap();
        p.add_chunk(0x1100, 0x100, 0x100, 2).unwrap();
        assert!(p.has_addr(0x10f0, 0x10));
        assert!(!p.has_addr(0x10f0, 0x20));
        assert_eq!(
            p.alloc(0x180),
            Err(Error::NoSpace {
                count: 0x180,
                align: 16,
            })
        );
        assert_eq!(p.alloc(0x100), Ok(0x1100));
        assert_eq!(p.alloc(0x100), Ok(0x1000));
        assert_eq!(p.avail(), 0);
    }

    #[test]
    fn virt_to_phys_translates_inside_chunks_only() {
        let p = pool();
        p.add_chunk(0x1000, 0x8000_0000, 0x100, 0).unwrap();
        p.add_chunk_virt(0x4000, 0x100, 0).unwrap();
        assert_eq!(p.virt_to_phys(0x1000), Some(0x8000_0000));
        assert_eq!(p.virt_to_phys(0x10ff), Some(0x8000_00ff));
        assert_eq!(p.virt_to_phys(0x1100), None);
        assert_eq!(p.virt_to_phys(0xfff), None);
        assert_eq!(p.virt_to_phys(0x4010), None);
    }

    #[test]
    fn has_addr_needs_the_whole_range_in_one_chunk() {
        let p = pool();
        p.add_chunk(0x1000, 0, 0x100, 0).unwrap();
        assert!(p.has_addr(0x1000, 0x100));
        assert!(p.has_addr(0x10ff, 1));
        assert!(!p.has_addr(0x10ff, 2));
        assert!(!p.has_addr(0xfff, 2));
        assert!(!p.has_addr(0x1000, 0));
        assert!(!p.has_addr(usize::MAX, 2));
    }

    #[test]
    fn avail_and_size_follow_allocations() {
        let p = pool();
        assert_eq!((p.size(), p.avail(), p.largest_free()), (0, 0, 0));
        p.add_chunk(0x1000, 0, 0x100, 0).unwrap();
        p.add_chunk(0x2000, 0, 0x40, 0).unwrap();
        assert_eq!((p.size(), p.avail()), (0x140, 0x140));
        let a = p.alloc(0x30).unwrap();
        assert_eq!((p.size(), p.avail()), (0x140, 0x110));
        let infos: Vec<usize> = p.chunks().map(|c| c.avail).collect();
        assert_eq!(infos, [0x10, 0x100]);
        p.free(a, 0x30).unwrap();
        assert_eq!(p.avail(), 0x140);
    }

    #[test]
    fn min_alloc_order_rounds_sizes_up() {
        let p: GenPool<()> = GenPool::new(5);
        p.add_chunk(0, 0, 0x100, ()).unwrap();
        let a = p.alloc(1).unwrap();
        let b = p.alloc(33).unwrap();
        assert_eq!((a, b), (0, 0x20));
        assert_eq!(p.avail(), 0x100 - 0x20 - 0x40);
        assert_eq!(
            p.free(a, 33),
            Err(Error::WrongCount {
                start: 0,
                count: 33,
                actual: 0x20
            })
        );
        p.free(a, 20).unwrap();
        p.free(b, 64).unwrap();
        assert_eq!(p.avail(), 0x100);
    }

    /// Granules 0..2 used, 2..4 free, 4 used, 5..12 free, 12 used, 13..16 free.
    fn holes() -> GenPool<u32> {
        let p = pool();
        p.add_chunk(0x1000, 0, 0x100, 0).unwrap();
        for (offset, size) in [(0, 0x20), (0x40, 0x10), (0xc0, 0x10)] {
            p.alloc_with(size, Fit::Fixed { offset }).unwrap();
        }
        p
    }

    #[test]
    fn each_fit_makes_its_own_choice() {
        let p = holes();
        assert_eq!(p.alloc_with(0x30, Fit::FirstFit), Ok(0x1050));
        let p = holes();
        assert_eq!(p.alloc_with(0x30, Fit::BestFit), Ok(0x10d0));
        assert_eq!(p.alloc_with(0x20, Fit::BestFit), Ok(0x1020));
        let p = holes();
        assert_eq!(
            p.alloc_with(0x10, Fit::FirstFitAlign { align: 0x40 }),
            Ok(0x1080)
        );
        let p = holes();
        // Three granules round to four: 64-byte alignment.
        assert_eq!(p.alloc_with(0x30, Fit::FirstFitOrderAlign), Ok(0x1080));
        assert_eq!(p.alloc_with(0x10, Fit::FirstFitOrderAlign), Ok(0x1020));
    }

    #[test]
    fn default_algorithm_is_settable() {
        let mut p = holes();
        assert_eq!(p.algorithm(), Fit::FirstFit);
        p.set_algorithm(Fit::BestFit);
        assert_eq!(p.alloc(0x30), Ok(0x10d0));
        let q: GenPool<()> = GenPool::with_algorithm(4, Fit::FirstFitOrderAlign);
        q.add_chunk(0x10, 0, 0x100, ()).unwrap();
        assert_eq!(
            (q.algorithm(), q.min_alloc_order()),
            (Fit::FirstFitOrderAlign, 4)
        );
        assert_eq!(q.alloc(0x30), Ok(0x40));
    }

    #[test]
    fn alignment_is_absolute_in_an_unaligned_chunk() {
        let p: GenPool<()> = GenPool::new(4);
        p.add_chunk(0x1040, 0, 0x400, ()).unwrap();
        assert_eq!(
            p.alloc_with(0x10, Fit::FirstFitAlign { align: 0x100 }),
            Ok(0x1100)
        );
        assert_eq!(
            p.alloc_with(0x10, Fit::FirstFitAlign { align: 0x100 }),
            Ok(0x1200)
        );
        // Below the granule an alignment asks for nothing more.
        assert_eq!(
            p.alloc_with(0x10, Fit::FirstFitAlign { align: 4 }),
            Ok(0x1040)
        );
        assert_eq!(
            p.alloc_with(0x10, Fit::FirstFitAlign { align: 0x30 }),
            Err(Error::AlignNotPowerOfTwo { align: 0x30 })
        );
        assert_eq!(
            p.alloc_with(0x10, Fit::FirstFitAlign { align: 0x1000 }),
            Err(Error::NoSpace {
                count: 0x10,
                align: 0x1000,
            })
        );
    }

    #[test]
    fn fixed_alloc_takes_exactly_the_offset() {
        let p = holes();
        assert!(matches!(
            p.alloc_with(0x10, Fit::Fixed { offset: 0x40 }),
            Err(Error::NoSpace { .. })
        ));
        assert!(p.alloc_with(0x20, Fit::Fixed { offset: 0xb0 }).is_err());
        assert_eq!(p.alloc_with(0x30, Fit::Fixed { offset: 0xd0 }), Ok(0x10d0));
        assert!(p.alloc_with(0x20, Fit::Fixed { offset: 0xf0 }).is_err());
        assert_eq!(
            p.alloc_with(0x10, Fit::Fixed { offset: 0x18 }),
            Err(Error::NotGranular {
                value: 0x18,
                granule: 16
            })
        );
        // The offset is per chunk: a newer chunk is tried first, then older ones.
        p.add_chunk(0x8000, 0, 0x100, 1).unwrap();
        assert_eq!(
            p.alloc_owner_with(0x10, Fit::Fixed { offset: 0x20 }),
            Ok((0x8020, &1))
        );
        assert_eq!(
            p.alloc_owner_with(0x10, Fit::Fixed { offset: 0x20 }),
            Ok((0x1020, &0))
        );
    }

    #[test]
    fn every_free_error_leaves_the_pool_unchanged() {
        let p = pool();
        p.add_chunk(0x1000, 0, 0x100, 0).unwrap();
        let a = p.alloc(0x30).unwrap();
        let avail = p.avail();
        assert_eq!(p.free(a, 0), Err(Error::ZeroCount));
        assert_eq!(
            p.free(0x1100, 0x10),
            Err(Error::AddressNotInPool { addr: 0x1100 })
        );
        assert_eq!(
            p.free(0x1040, 0x10),
            Err(Error::NotAllocated { start: 0x1040 })
        );
        assert_eq!(
            p.free(0x1044, 0x10),
            Err(Error::NotAllocated { start: 0x1044 })
        );
        assert_eq!(
            p.free(0x1010, 0x10),
            Err(Error::NotAllocationStart { start: 0x1010 })
        );
        assert_eq!(
            p.free(0x1008, 0x10),
            Err(Error::NotAllocationStart { start: 0x1008 })
        );
        assert_eq!(
            p.free(a, 0x40),
            Err(Error::WrongCount {
                start: a,
                count: 0x40,
                actual: 0x30
            })
        );
        assert_eq!(p.avail(), avail);
        p.free(a, 0x30).unwrap();
        assert_eq!(p.free(a, 0x30), Err(Error::NotAllocated { start: a }));
        assert_eq!(p.alloc(0), Err(Error::ZeroCount));
    }

    #[test]
    fn bad_chunks_are_refused() {
        let p = pool();
        p.add_chunk(0x1000, 0, 0x100, 0).unwrap();
        assert_eq!(p.add_chunk(0x2000, 0, 0, 0), Err(Error::ZeroCount));
        let not_granular = |value| Err(Error::NotGranular { value, granule: 16 });
        assert_eq!(p.add_chunk(0x2000, 0, 0x18, 0), not_granular(0x18));
        assert_eq!(p.add_chunk(0x2008, 0, 0x10, 0), not_granular(0x2008));
        let top = usize::MAX - 0xf;
        assert_eq!(
            p.add_chunk(top, 0, 0x20, 0),
            Err(Error::AddressOverflow {
                start: top as u64,
                size: 0x20
            })
        );
        assert_eq!(
            p.add_chunk(0x2000, u64::MAX - 0xf, 0x20, 0),
            Err(Error::AddressOverflow {
                start: u64::MAX - 0xf,
                size: 0x20
            })
        );
        for (virt, size) in [(0x0f00, 0x110), (0x10f0, 0x10), (0x0f00, 0x1000)] {
            assert_eq!(
                p.add_chunk(virt, 0, size, 0),
                Err(Error::ChunkOverlap {
                    virt,
                    size,
                    existing_virt: 0x1000,
                })
            );
        }
        assert_eq!(p.size(), 0x100);
        // The end of a chunk must be representable: the top granule stays out.
        assert_eq!(
            p.add_chunk(top, 0, 0x10, 0),
            Err(Error::AddressOverflow {
                start: top as u64,
                size: 0x10
            })
        );
        p.add_chunk(0x0f00, 0, 0x100, 0).unwrap();
        p.add_chunk(top - 0x10, 0, 0x10, 0).unwrap();
        let huge: GenPool<()> = GenPool::new(usize::BITS);
        assert_eq!(
            huge.add_chunk(0, 0, 1, ()),
            Err(Error::OrderTooLarge { order: usize::BITS })
        );
        assert_eq!(
            huge.alloc(1),
            Err(Error::OrderTooLarge { order: usize::BITS })
        );
    }

    #[test]
    fn racing_add_chunk_keeps_every_chunk_and_refuses_overlap() {
        let p: GenPool<usize> = GenPool::new(0);
        // Threads 0..4 add disjoint chunks; threads 4 and 5 race for the same range.
        let won: Vec<bool> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..6usize)
                .map(|i| {
                    let p = &p;
                    let virt = 0x1000 * i.min(4);
                    s.spawn(move || p.add_chunk(virt, 0, 0x100, i).is_ok())
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(won[..4], [true; 4]);
        assert!(won[4] ^ won[5]);
        let mut virts: Vec<usize> = p.chunks().map(|c| c.virt).collect();
        virts.sort_unstable();
        assert_eq!(virts, [0, 0x1000, 0x2000, 0x3000, 0x4000]);
        assert_eq!(p.size(), 0x500);
    }

    #[test]
    fn a_static_pool_is_shared_between_threads() {
        static POOL: GenPool = GenPool::new(0);
        fn shared<T: Send + Sync>(_: &T) {}
        shared(&POOL);
        POOL.add_chunk(0x100, 0, 0x10, ()).unwrap();
        let a = std::thread::spawn(|| POOL.alloc(4).unwrap())
            .join()
            .unwrap();
        assert_eq!(a, 0x100);
        POOL.free(a, 4).unwrap();
        assert_eq!(alloc::format!("{POOL:?}").matches("virt: 256").count(), 1);
    }
}
