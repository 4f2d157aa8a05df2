//! Two-level segregated fit (TLSF) over an out-of-band node arena.
//!
//! This module owns the [`Tlsf`] backend: the pieces that tile its space, the free
//! lists they sit on, and the index that finds a piece by its first unit. It never
//! reads or writes the managed memory, never allocates after construction, and never
//! panics on caller input.
//!
//! # Data structure
//!
//! * **Pieces**: the space is tiled by maximal free extents and live allocations
//!   (claims included), each one node of a fixed arena (`u32` links).
//! * **Free lists**: every free piece sits on the list of its size class (`classes.rs`:
//!   the highest set bit of the length, then 32 sub-ranges), with a bitmap of non-empty
//!   classes and one of non-empty bins per class, so the first non-empty bin at or above
//!   a size is two `trailing_zeros`.
//! * **Boundary index**: a `u32` per unit; the entries at the first and the last unit of
//!   every piece name its node and say whether it is free (out-of-band boundary tags).
//!   Other entries are stale: `free(start, count)` trusts the entry at `start` only when
//!   the node it names is a piece that starts right there, which finds the piece in
//!   `O(1)`. The entries just before and after a piece are always current (the tags of
//!   its neighbours), so a free coalesces in `O(1)` and reads a neighbour's node only
//!   when that neighbour is free.
//!
//! # Placement
//!
//! "Good fit": a request of `count` units takes the first piece of the first non-empty
//! bin whose every piece holds `count` (rounding the size up to the next bin), and
//! splits it. An aligned request first checks that piece, then the first piece of the
//! first bin whose pieces hold `count + align - 1` units (any such piece holds an
//! aligned run). When neither fits, or the request has a window, the free lists are
//! searched exhaustively from the bin of `count` up (bins that cannot hold the request
//! are skipped), so an allocation fails only when no run fits at all. The result is
//! therefore *some* fitting run, not the lowest one.
//!
//! # Complexity
//!
//! * `allocate` with alignment 1 and no window: `O(1)` when a piece of the rounded-up
//!   size exists; otherwise the one bin just below it is searched, `O(pieces in it)`.
//! * `allocate` with alignment `a > 1`: `O(1)` when a piece of `count + a - 1` units
//!   exists; otherwise `O(free pieces of length count .. count + a - 1 + 1/32)`.
//! * `allocate` with a window: up to `O(free extents)`.
//! * `free` of a live allocation: `O(1)`. `claim`, and a free that is refused as
//!   [`NotAllocated`](Error::NotAllocated) or
//!   [`NotAllocationStart`](Error::NotAllocationStart) because `start` is not
//!   the first unit of a piece: a walk over the pieces below `start`, `O(pieces)`
//!   (claims are a setup-time operation; a refused free is a caller bug).
//! * A failed allocation costs what its search costs (the error carries no occupancy
//!   figures). `stats` finds the largest free extent in the highest non-empty bin:
//!   `O(pieces in that bin)`, never a scan of the space.
//!
//! # Memory
//!
//! `min(2 * max_allocations + 1, capacity)` nodes of 32 bytes (64-bit targets), plus
//! 32 bits per unit for the boundary index, plus about 8 KiB of list heads: see
//! [`Tlsf::metadata_bytes_for`]. Live allocations are limited to `max_allocations`
//! ([`Error::TooManyAllocations`] beyond).
#![forbid(unsafe_code)]

mod classes;

#[cfg(test)]
mod tests;

use crate::fallible::{OutOfMemory, try_boxed_slice};
use alloc::boxed::Box;

use crate::{Backend, Error, Extent, Request, Stats, Window, align_up_with_phase, check_range};
use classes::{Bin, FL_COUNT, SL_COUNT, bin_holding, bin_of};

/// The "no node" index.
const NIL: u32 = u32::MAX;
/// The bit of a boundary tag that says the piece is free; the other bits are its node.
const FREE_TAG: u32 = 1 << 31;
/// The node bits of a boundary tag.
const NODE_BITS: u32 = FREE_TAG - 1;

/// The boundary tag of node `n`, a free piece or not.
const fn tag(n: u32, free: bool) -> u32 {
    if free { n | FREE_TAG } else { n }
}

/// One arena slot: a piece (free extent or allocation), or a spare slot.
#[derive(Clone, Copy, Debug)]
struct Node {
    start: usize,
    /// Units; 0 for a spare slot.
    len: usize,
    /// Previous piece on the same free list (free pieces only).
    prev_free: u32,
    /// Next piece on the same free list, or the next spare slot.
    next_free: u32,
    free: bool,
}

const SPARE: Node = Node {
    start: 0,
    len: 0,
    prev_free: NIL,
    next_free: NIL,
    free: false,
};

impl Node {
    /// One past the last unit (pieces lie inside the space: no overflow).
    const fn end(&self) -> usize {
        self.start + self.len
    }
}

/// A TLSF ("good fit") range allocator: `O(1)` allocate and free in the common case,
/// exact failures (a request fails only when no run fits), validated frees.
///
/// All metadata is allocated by [`Tlsf::try_new`]; `allocate`, `claim` and `free`
/// never touch the heap. See the [module documentation](self) for the structure, the
/// placement and the cost of each operation.
///
/// ```
/// use contig_allocators::{Backend, Error, Request, tlsf::Tlsf};
///
/// // 1000 units whose offset 0 is absolute unit 5; at most 8 live allocations.
/// let mut tlsf = Tlsf::try_new(1000, 5, 8).unwrap();
/// let a = tlsf.allocate(Request::new(100).aligned(128)).unwrap();
/// assert_eq!((5 + a) % 128, 0); // aligned in absolute terms
/// let b = tlsf.allocate(Request::new(3).within(0, 10)).unwrap();
/// assert!(b + 3 <= 10);
/// assert_eq!(tlsf.free(a + 1, 99), Err(Error::NotAllocationStart { start: a + 1 }));
/// assert_eq!(tlsf.free(a, 99), Err(Error::WrongCount { start: a, count: 99, actual: 100 }));
/// tlsf.free(a, 100).unwrap();
/// assert_eq!(tlsf.free(a, 100), Err(Error::NotAllocated { start: a }));
/// assert_eq!(tlsf.stats().free, 997);
/// ```
#[derive(Clone, Debug)]
pub struct Tlsf {
    capacity: usize,
    phase: usize,
    limit: usize,
    live: usize,
    free_units: usize,
    free_extents: usize,
    nodes: Box<[Node]>,
    /// First spare slot (linked through `next_free`).
    spare: u32,
    spare_count: usize,
    /// Boundary tags: the node of the piece that starts or ends at unit `u`, where one
    /// does (see `piece_starting_at`, `piece_ending_at`).
    node_at: Box<[u32]>,
    /// Bit `f` set: some bin of first-level class `f` is non-empty.
    fl_map: u64,
    /// Bit `s` of word `f` set: bin `(f, s)` is non-empty.
    sl_maps: [u32; FL_COUNT],
    /// First piece of each bin.
    heads: Box<[[u32; SL_COUNT]]>,
}

/// A bin index as a shift amount (indices are below 64; larger ones shift everything
/// out, which `checked_shl` turns into an empty mask).
fn shift(index: usize) -> u32 {
    u32::try_from(index).unwrap_or(u32::MAX)
}

/// A boxed slice of `len` copies of `value`, allocated fallibly.
fn filled<T: Clone>(len: usize, value: T) -> Result<Box<[T]>, OutOfMemory> {
    try_boxed_slice(len, || value.clone(), "tlsf metadata")
}

impl Tlsf {
    /// The largest `max_allocations` a backend accepts; larger values are lowered to it
    /// (node indices, with a free flag, fit a `u32` boundary tag).
    pub const MAX_ALLOCATIONS: usize = (NODE_BITS as usize - 2) / 2;

    /// An empty space of `capacity` units whose offset 0 is absolute unit `phase`
    /// (alignment is checked on `phase + offset`), holding at most `max_allocations`
    /// live allocations (claims included; at most [`Self::MAX_ALLOCATIONS`]).
    ///
    /// This is the only place the backend allocates: see
    /// [`metadata_bytes_for`](Self::metadata_bytes_for) for how much.
    ///
    /// # Errors
    ///
    /// When the metadata cannot be allocated.
    pub fn try_new(
        capacity: usize,
        phase: usize,
        max_allocations: usize,
    ) -> Result<Self, OutOfMemory> {
        let limit = max_allocations.min(Self::MAX_ALLOCATIONS);
        let node_count = Self::node_count(capacity, limit);
        let mut nodes = filled(node_count, SPARE)?;
        // Thread every slot onto the spare list: slot i points at slot i + 1.
        for (i, node) in nodes.iter_mut().enumerate() {
            node.next_free = u32::try_from(i + 1).unwrap_or(NIL);
        }
        if let Some(last) = nodes.last_mut() {
            last.next_free = NIL;
        }
        let mut tlsf = Self {
            capacity,
            phase,
            limit,
            live: 0,
            free_units: capacity,
            free_extents: 0,
            spare: if node_count == 0 { NIL } else { 0 },
            spare_count: node_count,
            nodes,
            node_at: filled(capacity, NIL)?,
            fl_map: 0,
            sl_maps: [0; FL_COUNT],
            heads: filled(FL_COUNT, [NIL; SL_COUNT])?,
        };
        if capacity > 0 {
            // `node_count >= 1` whenever `capacity >= 1`.
            if let Some(whole) = tlsf.take_spare() {
                tlsf.set_piece(whole, 0, capacity, true);
                tlsf.file(whole);
                tlsf.free_extents = 1;
            }
        }
        Ok(tlsf)
    }

    /// Nodes for a space of `capacity` units and `limit` live allocations: maximal free
    /// extents alternate with allocations, so there are at most `2 * limit + 1` pieces,
    /// and never more than units.
    const fn node_count(capacity: usize, limit: usize) -> usize {
        let by_limit = 2 * limit + 1;
        if by_limit < capacity {
            by_limit
        } else {
            capacity
        }
    }

    /// The bytes of metadata [`try_new`](Self::try_new) allocates for these parameters
    /// (what [`Stats::metadata_bytes`] reports).
    #[must_use]
    pub const fn metadata_bytes_for(capacity: usize, max_allocations: usize) -> usize {
        let limit = if max_allocations < Self::MAX_ALLOCATIONS {
            max_allocations
        } else {
            Self::MAX_ALLOCATIONS
        };
        Self::node_count(capacity, limit) * size_of::<Node>()
            + capacity * size_of::<u32>()
            + FL_COUNT * SL_COUNT * size_of::<u32>()
    }

    /// The most live allocations (claims included) this backend holds at once.
    #[must_use]
    pub const fn max_allocations(&self) -> usize {
        self.limit
    }

    const fn check_room(&self) -> Result<(), Error> {
        if self.live >= self.limit {
            Err(Error::TooManyAllocations { limit: self.limit })
        } else {
            Ok(())
        }
    }

    // --- node arena ------------------------------------------------------------------

    #[inline]
    fn take_spare(&mut self) -> Option<u32> {
        let n = self.spare;
        let node = self.nodes.get(n as usize)?;
        self.spare = node.next_free;
        self.spare_count -= 1;
        Some(n)
    }

    #[inline]
    fn put_spare(&mut self, n: u32) {
        self.nodes[n as usize] = Node {
            next_free: self.spare,
            ..SPARE
        };
        self.spare = n;
        self.spare_count += 1;
    }

    /// Makes node `n` the piece `[start, start + len)` (`len >= 1`), free or not, and
    /// tags both of its ends.
    #[inline]
    fn set_piece(&mut self, n: u32, start: usize, len: usize, free: bool) {
        let node = &mut self.nodes[n as usize];
        node.start = start;
        node.len = len;
        node.free = free;
        self.node_at[start] = tag(n, free);
        self.node_at[start + len - 1] = tag(n, free);
    }

    /// The node of the piece that starts at `offset`, if one does. Tags are only
    /// written, never cleared, so an entry is checked against the node it names:
    /// pieces tile the space, so a piece (never a spare slot, whose length is 0) that
    /// starts at `offset` is the only one.
    #[inline]
    fn piece_starting_at(&self, offset: usize) -> Option<u32> {
        let n = *self.node_at.get(offset)? & NODE_BITS;
        let node = self.nodes.get(n as usize)?;
        (node.start == offset && node.len != 0).then_some(n)
    }

    /// The node of the free piece whose boundary tag is at unit `at`, if `at` is inside
    /// the space and that piece is free. Only for the units right before and after a
    /// piece, whose tags are always current (the end tag of the piece before, the start
    /// tag of the piece after): an allocated neighbour costs no node read.
    #[inline]
    fn free_neighbour(&self, at: Option<usize>) -> Option<(u32, Node)> {
        let tag = *self.node_at.get(at?)?;
        if tag & FREE_TAG == 0 {
            return None;
        }
        let n = tag & NODE_BITS;
        let node = self.nodes.get(n as usize).filter(|x| x.free)?;
        Some((n, *node))
    }

    /// The node of the piece that contains `offset` (inside the space), walking the
    /// pieces up from unit 0.
    #[cold]
    fn piece_containing(&self, offset: usize) -> Option<u32> {
        let mut n = self.piece_starting_at(0)?;
        loop {
            let end = self.nodes.get(n as usize)?.end();
            if offset < end {
                return Some(n);
            }
            n = self.piece_starting_at(end)?;
        }
    }

    // --- free lists --------------------------------------------------------------------

    /// Puts the free piece `n` on the list of its bin.
    #[inline]
    fn file(&mut self, n: u32) {
        let Bin { fl, sl } = bin_of(self.nodes[n as usize].len);
        let head = self.heads[fl][sl];
        if let Some(h) = self.nodes.get_mut(head as usize) {
            h.prev_free = n;
        }
        let node = &mut self.nodes[n as usize];
        node.prev_free = NIL;
        node.next_free = head;
        self.heads[fl][sl] = n;
        self.sl_maps[fl] |= 1 << sl;
        self.fl_map |= 1 << fl;
    }

    /// Takes the free piece `n` off the list of its bin.
    #[inline]
    fn unfile(&mut self, n: u32) {
        let node = self.nodes[n as usize];
        let Bin { fl, sl } = bin_of(node.len);
        if let Some(next) = self.nodes.get_mut(node.next_free as usize) {
            next.prev_free = node.prev_free;
        }
        if let Some(prev) = self.nodes.get_mut(node.prev_free as usize) {
            prev.next_free = node.next_free;
        } else {
            self.heads[fl][sl] = node.next_free;
            if node.next_free == NIL {
                self.sl_maps[fl] &= !(1 << sl);
                if self.sl_maps[fl] == 0 {
                    self.fl_map &= !(1 << fl);
                }
            }
        }
    }

    /// The first non-empty bin at or after `from`, in size order.
    #[inline]
    fn nonempty_from(&self, from: Bin) -> Option<Bin> {
        let in_class = self.sl_maps[from.fl] & u32::MAX.checked_shl(shift(from.sl)).unwrap_or(0);
        if in_class != 0 {
            return Some(Bin {
                fl: from.fl,
                sl: in_class.trailing_zeros() as usize,
            });
        }
        let above = self.fl_map & u64::MAX.checked_shl(shift(from.fl + 1)).unwrap_or(0);
        if above == 0 {
            return None;
        }
        let fl = above.trailing_zeros() as usize;
        Some(Bin {
            fl,
            sl: self.sl_maps[fl].trailing_zeros() as usize,
        })
    }

    /// The next bin after `bin` in size order (may be empty), `None` after the last.
    const fn next_bin(bin: Bin) -> Option<Bin> {
        if bin.sl + 1 < SL_COUNT {
            Some(Bin {
                fl: bin.fl,
                sl: bin.sl + 1,
            })
        } else if bin.fl + 1 < FL_COUNT {
            Some(Bin {
                fl: bin.fl + 1,
                sl: 0,
            })
        } else {
            None
        }
    }

    // --- search ---------------------------------------------------------------------------

    /// Where `count` units aligned to `align` fit inside both piece `n` and `window`.
    #[inline]
    fn place(&self, n: u32, count: usize, align: usize, window: Window) -> Option<usize> {
        let node = self.nodes.get(n as usize)?;
        let lo = node.start.max(window.lo);
        let hi = node.end().min(window.hi);
        let at = align_up_with_phase(lo, align, self.phase)?;
        (at.checked_add(count)? <= hi).then_some(at)
    }

    /// The head of the first non-empty bin whose pieces all hold `count` units, if it
    /// fits the request.
    #[inline]
    fn try_good_fit(
        &self,
        holding: usize,
        count: usize,
        align: usize,
        window: Window,
    ) -> Option<(u32, usize)> {
        let bin = self.nonempty_from(bin_holding(holding)?)?;
        let n = self.heads[bin.fl][bin.sl];
        Some((n, self.place(n, count, align, window)?))
    }

    /// A free piece and an offset in it where the request fits, if any does.
    #[inline]
    fn find(&self, count: usize, align: usize, window: Window) -> Option<(u32, usize)> {
        if let Some(found) = self.try_good_fit(count, count, align, window) {
            return Some(found);
        }
        if align > 1 {
            let padded = count.checked_add(align - 1);
            if let Some(found) = padded.and_then(|p| self.try_good_fit(p, count, align, window)) {
                return Some(found);
            }
        }
        self.search_all(count, align, window)
    }

    /// Every free piece that may be long enough, bin by bin from the bin of `count` up.
    #[cold]
    fn search_all(&self, count: usize, align: usize, window: Window) -> Option<(u32, usize)> {
        let mut bin = self.nonempty_from(bin_of(count));
        while let Some(b) = bin {
            let mut n = self.heads[b.fl][b.sl];
            while let Some(node) = self.nodes.get(n as usize) {
                if let Some(at) = self.place(n, count, align, window) {
                    return Some((n, at));
                }
                n = node.next_free;
            }
            bin = Self::next_bin(b).and_then(|next| self.nonempty_from(next));
        }
        None
    }

    /// The longest free piece: the longest of the highest non-empty bin.
    fn largest_free(&self) -> usize {
        if self.fl_map == 0 {
            return 0;
        }
        let fl = (u64::BITS - 1 - self.fl_map.leading_zeros()) as usize;
        let sl = (u32::BITS - 1 - self.sl_maps[fl].leading_zeros()) as usize;
        let (mut largest, mut n) = (0, self.heads[fl][sl]);
        while let Some(node) = self.nodes.get(n as usize) {
            largest = largest.max(node.len);
            n = node.next_free;
        }
        largest
    }

    // --- changes ---------------------------------------------------------------------------

    /// Turns `[at, at + count)` of the free piece `n` into an allocation; the units
    /// before and after it stay free as pieces of their own.
    ///
    /// The allocation gets a fresh node and `n` stays the free remainder (the tail if
    /// there is one, else the head): a piece that keeps its size class stays on its
    /// list untouched, which is the common case of a small request from a large piece.
    #[inline]
    fn carve(&mut self, n: u32, at: usize, count: usize) -> Result<(), Error> {
        let piece = self.nodes[n as usize];
        let end = at + count;
        let (head, tail) = (at > piece.start, end < piece.end());
        let needed = usize::from(head) + usize::from(tail);
        if self.spare_count < needed {
            // Unreachable by the node budget in `node_count`; refusing keeps the
            // state intact should that argument ever be broken.
            return Err(Error::TooManyAllocations { limit: self.limit });
        }
        if needed == 0 {
            self.unfile(n);
            self.set_piece(n, at, count, false);
        } else {
            let used = self
                .take_spare()
                .ok_or(Error::TooManyAllocations { limit: self.limit })?;
            if tail {
                self.resize_free(n, end, piece.end() - end);
                if head {
                    let h = self
                        .take_spare()
                        .ok_or(Error::TooManyAllocations { limit: self.limit })?;
                    self.set_piece(h, piece.start, at - piece.start, true);
                    self.file(h);
                }
            } else {
                self.resize_free(n, piece.start, at - piece.start);
            }
            self.set_piece(used, at, count, false);
        }
        self.free_extents = self.free_extents + needed - 1;
        self.free_units -= count;
        self.live += 1;
        Ok(())
    }

    /// Makes the free piece `n` cover `[start, start + len)`, moving it to another list
    /// only when its size class changes.
    #[inline]
    fn resize_free(&mut self, n: u32, start: usize, len: usize) {
        let node = &mut self.nodes[n as usize];
        if bin_of(node.len) == bin_of(len) {
            if node.start == start {
                // Still tagged at its start: only the length and the end tag move.
                node.len = len;
                self.node_at[start + len - 1] = tag(n, true);
            } else {
                self.set_piece(n, start, len, true);
            }
        } else {
            self.unfile(n);
            self.set_piece(n, start, len, true);
            self.file(n);
        }
    }

    /// Returns the allocation `n` to the free space, merging it with free neighbours.
    /// A free neighbour's node survives the merge (it is on a list already, and stays
    /// there when the size class does not change); `n` then goes back to the spares.
    #[inline]
    fn release(&mut self, n: u32) {
        let node = self.nodes[n as usize];
        let prev = self.free_neighbour(node.start.checked_sub(1));
        let next = self.free_neighbour(Some(node.end()));
        let start = prev.map_or(node.start, |(_, p)| p.start);
        let end = next.map_or(node.end(), |(_, x)| x.end());
        let survivor = match (prev, next) {
            (Some((p, _)), Some((x, _))) => {
                self.unfile(x);
                self.put_spare(x);
                self.free_extents -= 1;
                p
            }
            (Some((p, _)), None) => p,
            (None, Some((x, _))) => x,
            (None, None) => n,
        };
        if survivor == n {
            self.set_piece(n, node.start, node.len, true);
            self.file(n);
            self.free_extents += 1;
        } else {
            self.put_spare(n);
            self.resize_free(survivor, start, end - start);
        }
        self.free_units += node.len;
        self.live -= 1;
    }
}

impl Backend for Tlsf {
    fn name(&self) -> &'static str {
        "tlsf"
    }

    fn capacity(&self) -> usize {
        self.capacity
    }

    fn allocate(&mut self, request: Request) -> Result<usize, Error> {
        let window = request.validate(self.capacity)?;
        self.check_room()?;
        let (count, align) = (request.count(), request.align());
        match self.find(count, align, window) {
            Some((n, at)) => {
                self.carve(n, at, count)?;
                Ok(at)
            }
            None => Err(Error::NoSpace { count, align }),
        }
    }

    fn claim(&mut self, start: usize, count: usize) -> Result<(), Error> {
        check_range(start, count, self.capacity)?;
        let out_of_bounds = Error::OutOfBounds {
            start,
            count,
            capacity: self.capacity,
        };
        // The pieces tile the space, so an in-bounds offset always has one.
        let n = self.piece_containing(start).ok_or(out_of_bounds)?;
        let piece = self.nodes[n as usize];
        crate::error::claim_in_piece(start, count, piece.free, piece.end())?;
        self.check_room()?;
        self.carve(n, start, count)
    }

    fn free(&mut self, start: usize, count: usize) -> Result<(), Error> {
        check_range(start, count, self.capacity)?;
        let Some(n) = self.piece_starting_at(start) else {
            // Inside a piece: tell a free unit from the middle of an allocation.
            let inside_free = self
                .piece_containing(start)
                .and_then(|n| self.nodes.get(n as usize))
                .is_none_or(|p| p.free);
            return Err(if inside_free {
                Error::NotAllocated { start }
            } else {
                Error::NotAllocationStart { start }
            });
        };
        let piece = self.nodes[n as usize];
        if piece.free {
            return Err(Error::NotAllocated { start });
        }
        if piece.len != count {
            return Err(Error::WrongCount {
                start,
                count,
                actual: piece.len,
            });
        }
        self.release(n);
        Ok(())
    }

    fn stats(&self) -> Stats {
        Stats {
            capacity: self.capacity,
            free: self.free_units,
            largest_free: self.largest_free(),
            free_extents: self.free_extents,
            live_allocations: self.live,
            metadata_bytes: Self::metadata_bytes_for(self.capacity, self.limit),
        }
    }

    fn for_each_allocation(&self, f: &mut dyn FnMut(Extent)) {
        let mut next = self.piece_starting_at(0);
        while let Some(node) = next.and_then(|n| self.nodes.get(n as usize)) {
            if !node.free {
                f(Extent::new(node.start, node.len));
            }
            next = self.piece_starting_at(node.end());
        }
    }
}
