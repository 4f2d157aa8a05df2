//! Two-level segregated fit (TLSF) with out-of-band boundary tags.
//!
//! This module owns the [`Tlsf`] backend: the pieces that tile its space, the free
//! lists they sit on, and the tags that find a piece by its first or last unit. It never
//! reads or writes the managed memory, never allocates after construction, and never
//! panics on caller input.
//!
//! # Data structure
//!
//! * **Pieces**: the space is tiled by maximal free extents and live allocations
//!   (claims included). Only free pieces have a node (16 bytes: start, length, `u32`
//!   list links) in a fixed arena; an allocation is nothing but its two tags.
//! * **Free lists**: every free piece but the hot one and the dust sits on the list of
//!   its size class (`classes.rs`: the highest set bit of the length, then 32
//!   sub-ranges; a bin is one flat index), with a bitmap of non-empty classes and one
//!   of non-empty bins per class, so the first non-empty bin at or above a size is two
//!   `trailing_zeros`.
//! * **Hot piece**: the one free piece off the lists: the piece last cut or grown
//!   whose bin changed. Cutting it again or merging into it only updates its node (its
//!   bin is computed when a search asks), so a hole that fills and drains (a ring of
//!   buffers refilled in bursts, a stack of descriptors) costs no list work while its
//!   bin keeps changing. When another piece's bin changes, that piece becomes the hot
//!   one and the old one goes on its list: one list move either way, as before there
//!   was a hot piece. A lone free next to no listed piece is filed, unless it lands in
//!   the hot piece's bin or takes in dust (the gap in front of an allocation: buffers
//!   taken in a row come back in that order, and the next free grows it); a free that
//!   takes in dust and grows the listed piece after it makes that piece hot too, as
//!   it would without dust. The hot piece is also where an aligned request looks
//!   first (see Placement).
//! * **Dust**: free pieces shorter than every request searched for so far (and than
//!   64 units) may stay off the lists, without a node: the gaps aligned requests leave
//!   in front of them (page-aligned frames at 64-byte granules leave one in front of
//!   almost every frame). Leaving one costs two tags and a counter, and a free next to
//!   one absorbs it without list work. No search could use a dust piece, so placement
//!   is what it would be without dust; the first request short enough to use some
//!   dust files it before searching.
//! * **Boundary tags**: a `u32` per unit, kept exact: the first and the last unit of
//!   every piece carry its tag (an allocation's length, split into a start and an end
//!   tag; a free piece's node, or a dust piece's length), every other entry is 0, and
//!   a change clears the tags that end up inside a merged piece. So `free(start,
//!   count)` validates with the one entry at `start` (an allocation's start tag holds
//!   its length: no node read), and the entries just before and after a piece tell
//!   whether a neighbour is free (and which node it is), so a free coalesces in `O(1)`
//!   and reads a neighbour's node only when that neighbour is listed. Tags hold 30-bit
//!   values, which limits the capacity to [`Tlsf::MAX_CAPACITY`] units.
//!
//! # Placement
//!
//! "Good fit": a request of `count` units takes the first piece of the first non-empty
//! bin whose every piece holds `count` (rounding the size up to the next bin), and
//! splits it; the hot piece counts as the first piece of its bin.
//!
//! An aligned request takes the hot piece whenever an aligned run fits in it, whatever
//! its bin, and only otherwise checks the good fit, then the first piece of the first
//! bin whose pieces hold `count + align - 1` units (any such piece holds an aligned
//! run). Aligned buffers come in streams (a video stream's frames are taken in a row
//! and freed together), and the piece the first of them was cut from is the hot one:
//! the rest of the stream follows it into the same hole instead of scattering over the
//! smallest holes, so a closed stream leaves one hole, not several. In the video trace
//! of the fragmentation bench at 64-byte granules (page-aligned frames, 85 % load),
//! 0.40 % of the allocations failed with the good fit for every frame, 0.18 % with the
//! hot piece first. The hot place also changes hands less often, and each hand-over
//! costs list work.
//!
//! When none of these fits, or the request has a window (an aligned one still tries
//! the hot piece first), the hot piece and then the free lists are searched
//! exhaustively from the bin of `count` up (bins that cannot hold the request are
//! skipped), so an allocation fails only when no run fits at all. The result is
//! therefore *some* fitting run, not the lowest one.
//!
//! # Complexity
//!
//! * `allocate` with alignment 1 and no window: `O(1)` when a piece of the rounded-up
//!   size exists; otherwise the one bin just below it is searched, `O(pieces in it)`.
//! * `allocate` with alignment `a > 1`: `O(1)` when the hot piece holds an aligned run
//!   or a piece of `count + a - 1` units exists; otherwise
//!   `O(free pieces of length count .. count + a - 1 + 1/32)`.
//! * `allocate` with a window: up to `O(free extents)`.
//! * `allocate` of fewer units than every earlier request (and than 64) first files
//!   the dust it could use: a walk over the pieces, `O(pieces)`, when there is such
//!   dust. Each such request lowers that bound, so this happens at most 63 times in a
//!   backend's life.
//! * `free` of a live allocation: `O(1)`, and so is a free refused because `start`
//!   carries another tag (the end of an allocation, a free piece) or the count is wrong.
//!   `claim`, and a free refused as [`NotAllocated`](Error::NotAllocated) or
//!   [`NotAllocationStart`](Error::NotAllocationStart) because `start` is inside a piece:
//!   a walk over the pieces below `start`, `O(pieces)` (claims are a setup-time
//!   operation; a refused free is a caller bug).
//! * A failed allocation costs what its search costs (the error carries no occupancy
//!   figures). `stats` finds the largest free extent among the hot piece, the dust
//!   (counted by length) and the highest non-empty bin: `O(pieces in that bin)`, never
//!   a scan of the space.
//!
//! # Memory
//!
//! 32 bits per unit for the tags, plus `min(max_allocations + 1, ceil(capacity / 2))`
//! nodes of 16 bytes (free pieces are maximal, so an allocation separates any two), plus
//! 4 KiB of list heads: see [`Tlsf::metadata_bytes_for`]. With one allocation allowed
//! per unit that is at most 96 bits per unit; with `max_allocations` well below the
//! capacity, close to 32. Live allocations are limited to `max_allocations`
//! ([`Error::TooManyAllocations`] beyond).
#![forbid(unsafe_code)]

mod classes;

#[cfg(test)]
mod tests;

use crate::fallible::{OutOfMemory, try_boxed_slice};
use alloc::boxed::Box;

use crate::{Backend, Error, Extent, Request, Stats, Window, align_up_with_phase, check_range};
use classes::{BIN_COUNT, Bin, FL_COUNT, LEN_BITS, SL_COUNT, bin_holding, bin_of, lower_bound};

/// The "no node" index.
const NIL: u32 = u32::MAX;
/// First-level classes the bitmaps have room for: [`FL_COUNT`] rounded up to 32, so
/// that a first-level index masked with 31 is in bounds without a check.
const FL_SLOTS: usize = 32;
/// List heads: [`BIN_COUNT`] rounded up to a power of two, so that a flat bin index
/// masked with `HEAD_SLOTS - 1` is in bounds without a check.
const HEAD_SLOTS: usize = FL_SLOTS * SL_COUNT;
const _: () = assert!(FL_COUNT <= FL_SLOTS && SL_COUNT == 32 && BIN_COUNT <= HEAD_SLOTS);

// --- boundary tags -------------------------------------------------------------------
//
// One `u32` per unit: the two high bits say what the entry is, the low `LEN_BITS` hold a
// length or a node. An entry is 0 unless it is a current tag (see `Tlsf::tags`).

/// The value bits of a tag: an allocation's length, or a free piece's node.
const VALUE: u32 = (1 << LEN_BITS) - 1;
/// The kind bits of a tag.
const KIND: u32 = !VALUE;
/// The first unit of an allocation; the value is its length.
const ALLOC_START: u32 = 1 << LEN_BITS;
/// The last unit of an allocation of two units or more; the value is its length.
const ALLOC_END: u32 = 2 << LEN_BITS;
/// The first or the last unit of a free piece; the value is its node, or, with
/// [`DUST`] set, the length of a dust piece.
const FREE: u32 = 3 << LEN_BITS;
/// Set in the value of a free tag whose piece is dust (on no list, no node): the rest
/// of the value is its length. Node indices stay below it (at most one node per two
/// units of a space of at most `2^LEN_BITS - 1` units).
const DUST: u32 = 1 << (LEN_BITS - 1);
const _: () = assert!(Tlsf::MAX_CAPACITY.div_ceil(2) <= DUST as usize);
/// Free pieces shorter than this many units may be dust (one count per length in
/// [`Lists::dust_counts`]; a power of two, so that a length masked with
/// `DUST_CAP - 1` indexes the counts without a check).
const DUST_CAP: usize = 64;
const _: () = assert!(DUST_CAP.is_power_of_two());

/// The start tag of an allocation of `len < 2^LEN_BITS` units.
fn alloc_start(len: usize) -> u32 {
    ALLOC_START | tag_value(len)
}

/// The end tag of an allocation of `len` units.
fn alloc_end(len: usize) -> u32 {
    ALLOC_END | tag_value(len)
}

/// Tags `[start, start + len)` (`len >= 1`) as an allocation (the start tag is written
/// last: a one-unit allocation has only that one).
#[inline(always)]
fn tag_allocation(tags: &mut [u32], start: usize, len: usize) {
    tags[start + len - 1] = alloc_end(len);
    tags[start] = alloc_start(len);
}

/// The tag of free node `n` (`n < DUST`).
const fn free_tag(n: u32) -> u32 {
    FREE | n
}

/// The tag of a dust piece of `len < DUST_CAP` units.
fn dust_tag(len: usize) -> u32 {
    FREE | DUST | tag_value(len)
}

/// Whether `tag` is a dust piece's (the tags at or above `FREE | DUST`).
const fn is_dust(tag: u32) -> bool {
    tag >= FREE | DUST
}

/// The length of the dust piece whose tag is `tag`.
const fn dust_len(tag: u32) -> usize {
    (tag & VALUE & !DUST) as usize
}

/// A length as stored in a tag's value bits (below `2^LEN_BITS`: the capacity limit).
fn tag_value(x: usize) -> u32 {
    // The mask makes the conversion exact, and keeps the kind bits out of reach.
    u32::try_from(x & VALUE as usize).unwrap_or(0)
}

/// A unit offset or length as stored in a node (below `2^LEN_BITS`: the capacity limit).
fn narrow(x: usize) -> u32 {
    // Keeping the low 32 bits is exact for such values and compiles to nothing, where
    // masking with `VALUE` costs an instruction on every node write: a node's fields
    // hold no kind bits to protect.
    u32::try_from(x & u32::MAX as usize).unwrap_or(0)
}

/// One arena slot: a free piece, or a spare slot.
#[derive(Clone, Copy, Debug)]
struct Node {
    start: u32,
    /// Units; 0 for a spare slot.
    len: u32,
    /// Previous piece on the same free list.
    prev_free: u32,
    /// Next piece on the same free list, or the next spare slot.
    next_free: u32,
}

const SPARE: Node = Node {
    start: 0,
    len: 0,
    prev_free: NIL,
    next_free: NIL,
};

impl Node {
    const fn start(&self) -> usize {
        self.start as usize
    }

    const fn len(&self) -> usize {
        self.len as usize
    }

    /// One past the last unit (pieces lie inside the space: no overflow).
    const fn end(&self) -> usize {
        self.start() + self.len()
    }
}

/// A piece of the tiling, read from the tags: where it starts and ends, and what it is.
#[derive(Clone, Copy, Debug)]
struct Piece {
    start: usize,
    len: usize,
    kind: PieceKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PieceKind {
    Allocated,
    /// A free piece with a node: on the list of its bin, or the hot piece.
    Listed(u32),
    /// A free piece without a node (see [`Lists::dust_below`]).
    Dust,
}

impl PieceKind {
    const fn is_free(self) -> bool {
        !matches!(self, Self::Allocated)
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
// `repr(C)` keeps the declared order, so that `live` and `free_units`, which every
// allocation and free change together, are not neighbours in memory: as neighbours,
// the compiler merged the two updates into one vector load, add and store of both,
// with the operands packed first (six instructions where two do).
#[derive(Clone, Debug)]
#[repr(C)]
pub struct Tlsf {
    /// The free lists and the spare list.
    lists: Lists,
    /// The free pieces (and spare slots).
    nodes: Box<[Node]>,
    /// Boundary tags, one entry per unit: the first and the last unit of every piece
    /// carry its tag (an allocation's length, a free piece's node), every other entry
    /// is 0. Kept exact, so one read validates a free and one read per side finds a
    /// neighbour.
    tags: Box<[u32]>,
    live: usize,
    capacity: usize,
    phase: usize,
    limit: usize,
    free_units: usize,
}

/// The free lists (one per bin, linked through the nodes) and the spare list.
///
/// Kept apart from the node arena and the tags so that the hot paths borrow the three
/// separately: as distinct `&mut` arguments, a store into one is known to leave the
/// others alone, so their addresses and lengths stay in registers instead of being
/// reloaded after every store.
#[derive(Clone, Debug)]
struct Lists {
    /// Bit `f` set: some bin of first-level class `f` is non-empty.
    fl_map: u32,
    /// Bit `s` of word `f` set: bin `(f, s)` is non-empty.
    /// (Indexed by `fl & 31`: 32 words, so the index needs no bounds check.)
    sl_maps: [u32; FL_SLOTS],
    /// First piece of each bin, by flat bin index (a boxed array: its length is known
    /// to be `HEAD_SLOTS`, so masked indices need no bounds check, and the backend stays
    /// small to move).
    heads: Box<[u32; HEAD_SLOTS]>,
    /// First spare slot (linked through `next_free`).
    spare: u32,
    spare_count: usize,
    /// The hot piece: the free piece last grown or cut whose bin changed, kept off the
    /// lists (or `NIL`). Every other free piece is on the list of its bin. Its bin is
    /// computed when a search needs it, not each time it grows or shrinks.
    hot: u32,
    /// Free pieces shorter than this may be dust: on no list, without a node, known
    /// only by their tags (which hold their length) and [`Self::dust_counts`]. It is
    /// at most [`DUST_CAP`] and at most the count of every request searched for so
    /// far, so no search could ever use a dust piece: the gaps an aligned request
    /// leaves in front of it cost no node and no list work while every request is
    /// longer than they are. A shorter request lowers it and files the dust it could
    /// use first (see [`Tlsf::file_dust`]); a free next to a dust piece absorbs it.
    dust_below: usize,
    /// Dust pieces by length. No summary bitmap beside it: keeping one exact cost
    /// every dust piece made or absorbed a few instructions, and only `stats` and the
    /// rare lowering of `dust_below` ask which lengths occur (a walk of
    /// [`DUST_CAP`] counters, bounded).
    dust_counts: [u32; DUST_CAP],
}

/// A boxed slice of `len` copies of `value`, allocated fallibly.
fn filled<T: Clone>(len: usize, value: T) -> Result<Box<[T]>, OutOfMemory> {
    try_boxed_slice(len, || value.clone(), "tlsf metadata")
}

impl Tlsf {
    /// The largest capacity, in units, a backend manages (lengths and nodes fit the
    /// value bits of a 32-bit boundary tag): 4 TiB of 4 KiB granules, 64 GiB of 64 B
    /// granules.
    pub const MAX_CAPACITY: usize = VALUE as usize;

    /// The largest `max_allocations` a backend accepts; larger values are lowered to it
    /// (there are never more allocations than units).
    pub const MAX_ALLOCATIONS: usize = Self::MAX_CAPACITY;

    /// An empty space of `capacity` units whose offset 0 is absolute unit `phase`
    /// (alignment is checked on `phase + offset`), holding at most `max_allocations`
    /// live allocations (claims included; at most [`Self::MAX_ALLOCATIONS`]).
    ///
    /// This is the only place the backend allocates: see
    /// [`metadata_bytes_for`](Self::metadata_bytes_for) for how much.
    ///
    /// # Errors
    ///
    /// When the metadata cannot be allocated, or `capacity` is above
    /// [`Self::MAX_CAPACITY`] (its tags cannot be represented; the error then names
    /// `"tlsf units above MAX_CAPACITY"` and the capacity).
    pub fn try_new(
        capacity: usize,
        phase: usize,
        max_allocations: usize,
    ) -> Result<Self, OutOfMemory> {
        if capacity > Self::MAX_CAPACITY {
            return Err(OutOfMemory {
                what: "tlsf units above MAX_CAPACITY",
                count: capacity,
            });
        }
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
            lists: Lists {
                fl_map: 0,
                sl_maps: [0; FL_SLOTS],
                heads: filled(HEAD_SLOTS, NIL)?
                    .try_into()
                    .map_err(|_| OutOfMemory {
                        what: "tlsf metadata",
                        count: HEAD_SLOTS,
                    })?,
                spare: if node_count == 0 { NIL } else { 0 },
                spare_count: node_count,
                hot: NIL,
                dust_below: DUST_CAP,
                dust_counts: [0; DUST_CAP],
            },
            nodes,
            tags: filled(capacity, 0)?,
        };
        if capacity > 0 {
            // `node_count >= 1` whenever `capacity >= 1`.
            if let Some(whole) = tlsf.take_spare() {
                tlsf.set_free(whole, 0, capacity);
                tlsf.file(whole);
            }
        }
        Ok(tlsf)
    }

    /// Nodes for a space of `capacity` units and `limit` live allocations: free pieces
    /// are maximal, so an allocated unit separates any two of them: at most `limit + 1`
    /// of them, and at most one per two units.
    const fn node_count(capacity: usize, limit: usize) -> usize {
        let by_limit = limit + 1;
        let by_units = capacity.div_ceil(2);
        if by_limit < by_units {
            by_limit
        } else {
            by_units
        }
    }

    /// The bytes of metadata [`try_new`](Self::try_new) allocates for these parameters
    /// (what [`Stats::metadata_bytes`] reports): 4 per unit, 16 per node (at most
    /// `max_allocations + 1`, at most one per two units), and 4 KiB of list heads.
    #[must_use]
    pub const fn metadata_bytes_for(capacity: usize, max_allocations: usize) -> usize {
        let limit = if max_allocations < Self::MAX_ALLOCATIONS {
            max_allocations
        } else {
            Self::MAX_ALLOCATIONS
        };
        Self::node_count(capacity, limit) * size_of::<Node>()
            + capacity * size_of::<u32>()
            + HEAD_SLOTS * size_of::<u32>()
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

    #[inline(always)]
    fn take_spare(&mut self) -> Option<u32> {
        self.lists.take_spare(&self.nodes)
    }

    // --- tags ------------------------------------------------------------------------

    /// Makes node `n` the free piece `[start, start + len)` (`len >= 1`) and tags both
    /// of its ends.
    #[inline(always)]
    fn set_free(&mut self, n: u32, start: usize, len: usize) {
        let node = &mut self.nodes[n as usize];
        node.start = narrow(start);
        node.len = narrow(len);
        self.tags[start + len - 1] = free_tag(n);
        self.tags[start] = free_tag(n);
    }

    /// The piece whose first unit is `at`, if one starts there. Callers ask at a
    /// piece's start (or past the last piece): the last unit of a dust piece carries
    /// the same tag as its first.
    #[inline]
    fn piece_at(&self, at: usize) -> Option<Piece> {
        let tag = *self.tags.get(at)?;
        match tag & KIND {
            ALLOC_START => Some(Piece {
                start: at,
                len: (tag & VALUE) as usize,
                kind: PieceKind::Allocated,
            }),
            // Both ends of a dust piece carry the same tag: callers ask only at starts.
            FREE if tag & DUST != 0 => Some(Piece {
                start: at,
                len: dust_len(tag),
                kind: PieceKind::Dust,
            }),
            FREE => {
                let n = tag & VALUE;
                let node = self.nodes.get(n as usize)?;
                (node.start() == at).then_some(Piece {
                    start: at,
                    len: node.len(),
                    kind: PieceKind::Listed(n),
                })
            }
            _ => None,
        }
    }

    /// The piece that contains `offset` (inside the space), walking the pieces up from
    /// unit 0.
    #[cold]
    fn piece_containing(&self, offset: usize) -> Option<Piece> {
        let mut piece = self.piece_at(0)?;
        loop {
            let end = piece.start + piece.len;
            if offset < end {
                return Some(piece);
            }
            piece = self.piece_at(end)?;
        }
    }

    // --- free lists --------------------------------------------------------------------

    /// Puts the free piece `n` on the list of its bin.
    #[inline(always)]
    fn file(&mut self, n: u32) {
        let bin = bin_of(self.nodes[n as usize].len());
        self.lists.file_in(&mut self.nodes, n, bin);
    }

    /// The first piece on the list of `bin` (`NIL` when empty).
    #[inline(always)]
    fn head(&self, bin: Bin) -> u32 {
        self.lists.head(bin)
    }

    /// The first non-empty bin at or after `from`, in size order.
    #[inline(always)]
    fn nonempty_from(&self, from: Bin) -> Option<Bin> {
        self.lists.nonempty_from(from)
    }

    /// The next bin after `bin` in size order (may be empty), `None` after the last.
    const fn next_bin(bin: Bin) -> Option<Bin> {
        if bin.0 + 1 < BIN_COUNT {
            Some(Bin(bin.0 + 1))
        } else {
            None
        }
    }

    // --- search ---------------------------------------------------------------------------

    /// Where `count` units aligned to `align` fit inside both the free `node` and
    /// `window`.
    #[inline(always)]
    fn place(&self, node: &Node, count: usize, align: usize, window: Window) -> Option<usize> {
        let lo = node.start().max(window.lo);
        let hi = node.end().min(window.hi);
        let at = if align == 1 {
            lo
        } else {
            align_up_with_phase(lo, align, self.phase)?
        };
        (at.checked_add(count)? <= hi).then_some(at)
    }

    /// The head of the first non-empty bin whose pieces all hold `holding` units, if it
    /// fits the request.
    #[inline(always)]
    fn try_good_fit(
        &self,
        holding: usize,
        count: usize,
        align: usize,
        window: Window,
    ) -> Option<(u32, Node, usize)> {
        let (n, _) = self.lists.good_fit(&self.nodes, bin_holding(holding)?)?;
        let node = *self.nodes.get(n as usize)?;
        Some((n, node, self.place(&node, count, align, window)?))
    }

    /// A free piece and an offset in it where the request (`count <= capacity`) fits,
    /// if any does: for an aligned request the hot piece first, then the good fit.
    #[inline(always)]
    fn find(&self, count: usize, align: usize, window: Window) -> Option<(u32, Node, usize)> {
        if align > 1 {
            let hot = self.lists.hot;
            let on_hot = self.nodes.get(hot as usize).and_then(|node| {
                let at = self.place(node, count, align, window)?;
                Some((hot, *node, at))
            });
            if on_hot.is_some() {
                return on_hot;
            }
        }
        if let Some(found) = self.try_good_fit(count, count, align, window) {
            return Some(found);
        }
        self.find_slow(count, align, window)
    }

    /// The aligned good fit, then every free piece that may be long enough.
    #[cold]
    fn find_slow(&self, count: usize, align: usize, window: Window) -> Option<(u32, Node, usize)> {
        if align > 1 {
            let padded = count.checked_add(align - 1);
            if let Some(found) = padded.and_then(|p| self.try_good_fit(p, count, align, window)) {
                return Some(found);
            }
        }
        self.search_all(count, align, window)
    }

    /// Every free piece that may be long enough, bin by bin from the bin of `count` up;
    /// the hot piece is tried where its bin comes, before that bin's list.
    fn search_all(&self, count: usize, align: usize, window: Window) -> Option<(u32, Node, usize)> {
        let from = bin_of(count);
        let hot = self.lists.hot;
        // The hot piece and its bin, while it is still to be tried.
        let mut pending = self
            .nodes
            .get(hot as usize)
            .map(|node| (*node, bin_of(node.len())))
            .filter(|&(_, bin)| bin >= from);
        let mut bin = self.nonempty_from(from);
        loop {
            if let Some((node, hot_bin)) = pending {
                if bin.is_none_or(|b| hot_bin <= b) {
                    pending = None;
                    if let Some(at) = self.place(&node, count, align, window) {
                        return Some((hot, node, at));
                    }
                }
            }
            let b = bin?;
            let mut n = self.head(b);
            while let Some(node) = self.nodes.get(n as usize) {
                if let Some(at) = self.place(node, count, align, window) {
                    return Some((n, *node, at));
                }
                n = node.next_free;
            }
            bin = Self::next_bin(b).and_then(|next| self.nonempty_from(next));
        }
    }

    /// The free pieces: one per node in use, and the dust (which has no node). Not
    /// counted on every change: allocations and frees would pay for what only `stats`
    /// asks, and the node and dust counts already hold it.
    fn free_extents(&self) -> usize {
        self.nodes.len() - self.lists.spare_count + self.lists.dust_pieces()
    }

    /// The longest free piece: the hot piece, the longest dust piece or the longest of
    /// the highest non-empty bin.
    fn largest_free(&self) -> usize {
        let lists = &self.lists;
        let hot = self.nodes.get(lists.hot as usize).map_or(0, Node::len);
        let dust = lists.longest_dust();
        let off_lists = hot.max(dust);
        if lists.fl_map == 0 {
            return off_lists;
        }
        let fl = (u32::BITS - 1 - lists.fl_map.leading_zeros()) as usize;
        let sl = (u32::BITS - 1 - lists.sl_maps[fl & 31].leading_zeros()) as usize;
        let (mut largest, mut n) = (off_lists, self.head(Bin::at(fl, sl)));
        while let Some(node) = self.nodes.get(n as usize) {
            largest = largest.max(node.len());
            n = node.next_free;
        }
        largest
    }

    // --- changes ---------------------------------------------------------------------------
    //
    // The hot paths take the tags, the nodes and the lists as separate borrows (see
    // `Lists`); the caller books the counters. The number of free extents is no counter:
    // it follows from the nodes in use and the dust (see `free_extents`).

    /// Allocates `[at, at + count)` inside the free piece `n`, which is the hot piece
    /// or the head of the list of `bin` (`bin` is the bin of its length either way;
    /// its node is `node`, and the run lies inside it). So the bin is not recomputed: a
    /// remainder, shorter than the piece, keeps its bin exactly when it is at least
    /// the bin's lower bound, and then stays where it is; one that changes it becomes
    /// the hot piece (the hot piece changes without any list work), and the old hot
    /// piece is filed. `n` stays the tail remainder if there is one, else the head. A
    /// head remainder next to a tail one that is shorter than [`Lists::dust_below`]
    /// (the gap an aligned request leaves) is left as dust. Returns `None` (nothing
    /// changed) when a second remainder finds no spare node (unreachable by the node
    /// budget in `node_count`).
    #[inline(always)]
    fn take_from_head(
        tags: &mut [u32],
        nodes: &mut [Node],
        lists: &mut Lists,
        (n, node, bin): (u32, Node, Bin),
        at: usize,
        count: usize,
    ) -> Option<()> {
        let end = at + count;
        let head = at - node.start();
        let tail = node.end() - end;
        let two_remainders = head > 0 && tail > 0;
        // With two remainders, the head is dust exactly when it takes no spare node:
        // no flag of its own is held across the cut.
        let spare = if two_remainders && head >= lists.dust_below {
            lists.take_spare(nodes)?
        } else {
            NIL
        };
        tag_allocation(tags, at, count);
        // The piece `n` keeps: the tail if any, else the head.
        let (start, len) = match (head > 0, tail > 0) {
            (false, false) => {
                if n == lists.hot {
                    lists.hot = NIL;
                } else {
                    lists.pop_head(nodes, bin, node.next_free);
                }
                lists.put_spare(nodes, n);
                return Some(());
            }
            (_, true) => {
                tags[end] = free_tag(n);
                (end, tail)
            }
            (true, false) => {
                tags[at - 1] = free_tag(n);
                (node.start(), head)
            }
        };
        lists.keep_cut_piece(nodes, (n, node.next_free, bin), start, len);
        if spare == NIL {
            if two_remainders {
                lists.add_dust(tags, node.start(), head);
            }
            return Some(());
        }
        tags[node.start()] = free_tag(spare);
        tags[at - 1] = free_tag(spare);
        lists.file_as(nodes, spare, node.start(), head, bin_of(head));
        Some(())
    }

    /// `allocate` for an aligned request: without a window, the hot piece or the good
    /// fit when an aligned run fits in it; otherwise the general path. Inlined into
    /// callers through `allocate`, as the plain path is.
    #[inline(always)]
    fn allocate_aligned(&mut self, request: Request) -> Result<usize, Error> {
        let (count, align) = (request.count(), request.align());
        // A request shorter than `dust_below` (which is never 0) goes the general way,
        // which files the dust it could use first.
        if count >= self.lists.dust_below && request.window().is_none() && self.live < self.limit {
            if let Some(at) = self.aligned_good_fit(count, align) {
                return Ok(at);
            }
        }
        self.allocate_slow(request)
    }

    /// An aligned request without a window: the hot piece when an aligned run fits in
    /// it, else the good fit when one fits there (taken); `None` otherwise (nothing
    /// changed; the general path decides).
    #[inline(always)]
    fn aligned_good_fit(&mut self, count: usize, align: usize) -> Option<usize> {
        let hot = self.lists.hot;
        if let Some(&node) = self.nodes.get(hot as usize) {
            // `None` from either step means no piece could fit (an alignment that is not
            // a power of two, or a count that overflows the offsets): the general path
            // reports it.
            let at = align_up_with_phase(node.start(), align, self.phase)?;
            let end = at.checked_add(count)?;
            if end <= node.end() {
                // Frames taken in a row from the hot piece: a tail is left and at most
                // a dust gap in front. The piece stays hot whatever its new bin, so
                // only its node, the tags and one dust count change (what
                // `take_from_head` does then, without its case analysis).
                let head = at - node.start();
                let (tags, nodes, lists) = (&mut *self.tags, &mut *self.nodes, &mut self.lists);
                if end < node.end() && head < lists.dust_below {
                    tags[end] = free_tag(hot);
                    tag_allocation(tags, at, count);
                    if head > 0 {
                        lists.add_dust(tags, node.start(), head);
                    }
                    let piece = &mut nodes[hot as usize];
                    piece.start = narrow(end);
                    piece.len = narrow(node.end() - end);
                    self.free_units -= count;
                    self.live += 1;
                    return Some(at);
                }
                let found = (hot, node, bin_of(node.len()));
                return self.take_aligned(found, at, count);
            }
        }
        let (n, bin) = self.lists.filed_fit(bin_holding(count)?)?;
        let node = *self.nodes.get(n as usize)?;
        let at = align_up_with_phase(node.start(), align, self.phase)?;
        let end = at.checked_add(count)?;
        if end > node.end() {
            return None;
        }
        // The first frame of a stream, from the hole the good fit picked: with a tail
        // left and at most a dust gap in front, the tail keeps `n`, and stays where it
        // is when its bin does not change, else becomes the hot piece; the gap becomes
        // dust. What `take_from_head` does then, without its case analysis and its
        // spare-node decision.
        let head = at - node.start();
        if end < node.end() && head < self.lists.dust_below {
            let (tags, nodes, lists) = (&mut *self.tags, &mut *self.nodes, &mut self.lists);
            tags[end] = free_tag(n);
            tag_allocation(tags, at, count);
            if head > 0 {
                lists.add_dust(tags, node.start(), head);
            }
            let tail = node.end() - end;
            lists.keep_cut_piece(nodes, (n, node.next_free, bin), end, tail);
            self.free_units -= count;
            self.live += 1;
            return Some(at);
        }
        self.take_aligned((n, node, bin), at, count)
    }

    /// [`take_from_head`](Self::take_from_head) for the aligned good fit, booked.
    #[inline(always)]
    fn take_aligned(&mut self, found: (u32, Node, Bin), at: usize, count: usize) -> Option<usize> {
        let (tags, nodes, lists) = (&mut *self.tags, &mut *self.nodes, &mut self.lists);
        Self::take_from_head(tags, nodes, lists, found, at, count)?;
        self.free_units -= count;
        self.live += 1;
        Some(at)
    }

    /// `allocate` for a request of alignment 1: without a window, the good fit, at its
    /// start; otherwise the general path. Cutting the hot piece at its start, which
    /// leaves it hot (a ring of buffers refilled from one hole), skips the general
    /// split's case analysis. Inlined into callers through `allocate`.
    #[inline(always)]
    fn allocate_plain(&mut self, request: Request) -> Result<usize, Error> {
        let count = request.count();
        // A plain request (alignment 1, no window) of at least one unit passes
        // `validate` by construction: only the slow path runs it. So does one shorter
        // than `dust_below` (which is never 0), which files the dust it could use first.
        if count >= self.lists.dust_below && request.window().is_none() && self.live < self.limit {
            if let Some(holding) = bin_holding(count) {
                // The good fit (as `Lists::good_fit`): the hot piece when its bin is at
                // or above `holding` and at or below the first non-empty one there,
                // else the head of that bin. Every piece of a bin at or above
                // `holding` holds `count` units: the good fit is the answer, at its
                // start, without a placement check. `BIN_COUNT` stands for "no
                // non-empty bin" (its list head is always `NIL`). Written out here, not
                // through `good_fit`, so that the hot piece's bin and node are not
                // looked up twice.
                let filed = self.lists.nonempty_from(holding).unwrap_or(Bin(BIN_COUNT));
                let hot = self.lists.hot;
                if let Some(&node) = self.nodes.get(hot as usize) {
                    let hot_bin = bin_of(node.len());
                    // The hot piece's bin if it may be taken, else past every bin: one
                    // comparison with `filed` then says which piece wins (unpredictable
                    // with frees in random order), with one branch.
                    let hot_rank = if hot_bin >= holding {
                        hot_bin.0
                    } else {
                        usize::MAX
                    };
                    if hot_rank <= filed.0 {
                        // The hot piece cut at its start with a tail left stays hot
                        // whatever its new bin: only its node and three tags change
                        // (what `take_from_head` does then, without its case analysis).
                        if node.len() > count {
                            let at = node.start();
                            let end = at + count;
                            // Separate borrows (see `Lists`), and the highest tag
                            // first: the stores leave the slices' bounds in registers.
                            let (tags, nodes) = (&mut *self.tags, &mut *self.nodes);
                            tags[end] = free_tag(hot);
                            tag_allocation(tags, at, count);
                            let piece = &mut nodes[hot as usize];
                            piece.start = narrow(end);
                            piece.len = narrow(node.len() - count);
                            self.free_units -= count;
                            self.live += 1;
                            return Ok(at);
                        }
                        return self.take_plain(hot, hot_bin, count);
                    }
                }
                if filed.0 < BIN_COUNT {
                    return self.take_plain(self.lists.head(filed), filed, count);
                }
            }
            // The same request, rebuilt from its count (plain, without a window): the
            // caller's copy then need not be kept in memory for this rare call.
            return self.allocate_slow(Request::new(count));
        }
        self.allocate_slow(request)
    }

    /// The rest of [`allocate_plain`](Self::allocate_plain): its good fit, the free
    /// piece `n` (the hot piece or the head of the list of `bin`, the bin of its
    /// length), is not the hot piece cut with a tail left. Takes `count` units at its
    /// start.
    #[inline(always)]
    fn take_plain(&mut self, n: u32, bin: Bin, count: usize) -> Result<usize, Error> {
        if let Some(&node) = self.nodes.get(n as usize) {
            let (tags, nodes, lists) = (&mut *self.tags, &mut *self.nodes, &mut self.lists);
            let at = node.start();
            if Self::take_from_head(tags, nodes, lists, (n, node, bin), at, count).is_some() {
                self.free_units -= count;
                self.live += 1;
                return Ok(at);
            }
        }
        // Unreachable (a listed head has a node, and the node budget has a spare one
        // for a second remainder); the request was plain and without a window.
        self.allocate_slow(Request::new(count))
    }

    /// Turns `[at, at + count)` of the free piece `n` (whose node is `piece`) into an
    /// allocation; the units before and after it stay free as pieces of their own.
    ///
    /// `n` stays the free remainder (the tail if there is one, else the head): a piece
    /// that keeps its size class stays on its list untouched, which is the common case
    /// of a small request from a large piece. The old end tags of the piece stay ends
    /// of some piece, so no entry goes stale.
    #[inline(always)]
    fn carve(&mut self, n: u32, piece: Node, at: usize, count: usize) -> Result<(), Error> {
        let end = at + count;
        let (head, tail) = (at > piece.start(), end < piece.end());
        let (tags, nodes, lists) = (&mut *self.tags, &mut *self.nodes, &mut self.lists);
        // Two remainders need a second node; `node_count` budgets for it, and should
        // that argument ever be broken, refusing here keeps the state intact.
        let spare = if head && tail {
            let Some(h) = lists.take_spare(nodes) else {
                return Err(Error::TooManyAllocations { limit: self.limit });
            };
            h
        } else {
            NIL
        };
        tag_allocation(tags, at, count);
        match (head, tail) {
            (false, false) => {
                lists.detach(nodes, n, &piece);
                lists.put_spare(nodes, n);
            }
            (false, true) => {
                tags[end] = free_tag(n);
                Self::reshape(nodes, lists, n, piece, end, piece.end() - end);
            }
            (true, false) => {
                tags[at - 1] = free_tag(n);
                Self::reshape(nodes, lists, n, piece, piece.start(), at - piece.start());
            }
            (true, true) => {
                tags[end] = free_tag(n);
                Self::reshape(nodes, lists, n, piece, end, piece.end() - end);
                tags[piece.start()] = free_tag(spare);
                tags[at - 1] = free_tag(spare);
                let len = at - piece.start();
                lists.file_as(nodes, spare, piece.start(), len, bin_of(len));
            }
        }
        self.free_units -= count;
        self.live += 1;
        Ok(())
    }

    /// Makes the free piece `n`, whose node is `old`, cover `[start, start + len)`
    /// (its tags are already written). The hot piece and a piece that keeps its bin
    /// stay where they are; any other becomes the hot piece.
    #[inline(always)]
    fn reshape(nodes: &mut [Node], lists: &mut Lists, n: u32, old: Node, start: usize, len: usize) {
        Self::reshape_unless_kept(nodes, lists, n, old, start, len, |from| from == bin_of(len));
    }

    /// [`reshape`](Self::reshape) for a piece that grew (`len > old.len()`): it keeps
    /// its bin exactly when it is still shorter than the next bin's shortest length,
    /// which takes a shift of the bin index where computing the new bin took a bit
    /// scan.
    #[inline(always)]
    fn reshape_grown(
        nodes: &mut [Node],
        lists: &mut Lists,
        n: u32,
        old: Node,
        start: usize,
        len: usize,
    ) {
        Self::reshape_unless_kept(nodes, lists, n, old, start, len, |from| {
            len < lower_bound(Bin(from.0 + 1))
        });
    }

    /// The reshape both variants share: `keeps_bin(from)` says whether a listed piece
    /// of bin `from` stays in it at its new length.
    #[inline(always)]
    fn reshape_unless_kept(
        nodes: &mut [Node],
        lists: &mut Lists,
        n: u32,
        old: Node,
        start: usize,
        len: usize,
        keeps_bin: impl FnOnce(Bin) -> bool,
    ) {
        if n != lists.hot {
            let from = bin_of(old.len());
            if !keeps_bin(from) {
                lists.unfile_from(nodes, &old, from);
                lists.make_hot(nodes, n, start, len);
                return;
            }
        }
        let node = &mut nodes[n as usize];
        node.start = narrow(start);
        node.len = narrow(len);
    }

    /// Returns the allocation `[start, start + len)` to the free space, merging it with
    /// free neighbours and clearing the tags that end up inside the merged piece.
    #[inline(always)]
    fn release(&mut self, start: usize, len: usize) -> Result<(), Error> {
        let (tags, nodes, lists) = (&mut *self.tags, &mut *self.nodes, &mut self.lists);
        Self::merge(tags, nodes, lists, start, len)
            .ok_or(Error::TooManyAllocations { limit: self.limit })?;
        self.free_units += len;
        self.live -= 1;
        Ok(())
    }

    /// The listed piece whose end or start tag is `tag` (the entry just before or just
    /// after a run; 0 past the edge of the space), if there is one there: `None` for an
    /// allocation, and for dust, whose tag's value is past the last node. An allocated
    /// neighbour costs no node read.
    #[inline(always)]
    fn free_at(tag: u32, nodes: &[Node]) -> Option<(u32, Node)> {
        if tag & KIND != FREE {
            return None;
        }
        let n = tag & VALUE;
        Some((n, *nodes.get(n as usize)?))
    }

    /// The tag and list work of [`release`](Self::release); `None` when a lone piece
    /// finds no spare node (unreachable by the node budget in `node_count`; nothing has
    /// changed then).
    #[inline(always)]
    fn merge(
        tags: &mut [u32],
        nodes: &mut [Node],
        lists: &mut Lists,
        start: usize,
        len: usize,
    ) -> Option<()> {
        let end = start + len;
        // `start - 1` wraps to `usize::MAX` at 0, which no tag has.
        let before = tags.get(start.wrapping_sub(1)).copied().unwrap_or(0);
        let after = tags.get(end).copied().unwrap_or(0);
        // Dust tags are the highest tag values: one comparison tells whether either
        // neighbour is dust.
        if is_dust(before.max(after)) {
            return Self::merge_dust(tags, nodes, lists, start, len, before, after);
        }
        // The hot piece ends just before the run, and no free piece starts after it
        // (buffers returned in the order they were taken from one hole): the hot piece
        // grows, whatever its new bin, and nothing else changes. (Without a hot piece
        // the tag compared is `FREE | NIL`, which no entry holds.)
        if after & KIND != FREE && before == free_tag(lists.hot) {
            Self::grow_hot(tags, nodes, lists.hot, start, end, before);
            return Some(());
        }
        let (prev, next) = (Self::free_at(before, nodes), Self::free_at(after, nodes));
        Self::merge_listed(tags, nodes, lists, start, len, prev, next, false)
    }

    /// [`merge`](Self::merge) when a neighbour is dust (`before` and `after` are the
    /// tags next to the run): the dust joins the run first, its tags and the run's
    /// own cleared (the merged run's ends are written by `merge_listed`). Beyond dust
    /// lies an allocation or the edge of the space, so only a listed piece on the
    /// other side is left to merge with.
    #[inline(always)]
    fn merge_dust(
        tags: &mut [u32],
        nodes: &mut [Node],
        lists: &mut Lists,
        start: usize,
        len: usize,
        before: u32,
        after: u32,
    ) -> Option<()> {
        // Some node is spare while dust exists (the node budget counts the dust among
        // the free pieces), so the lone piece `merge_listed` may need always finds one;
        // should that ever fail, refusing before any change keeps the state intact.
        // (Growing the hot piece needs no node, so that path does not ask.)
        let end = start + len;
        let (mut lo, mut hi) = (start, end);
        if is_dust(before) {
            if lists.spare_count == 0 {
                return None;
            }
            let d = dust_len(before);
            lists.remove_dust(d);
            tags[start - 1] = 0;
            tags[start] = 0;
            lo = start - d;
            if is_dust(after) {
                hi = Self::absorb_after(tags, lists, end, after);
            }
        } else {
            // Then the dust is after the run. The hot piece ending just before it (aligned
            // buffers returned in the order they were taken from one hole) grows over
            // both, whatever its new bin, and nothing else changes.
            if before == free_tag(lists.hot) {
                let hi = Self::absorb_after(tags, lists, end, after);
                Self::grow_hot(tags, nodes, lists.hot, start, hi, before);
                return Some(());
            }
            if lists.spare_count == 0 {
                return None;
            }
            hi = Self::absorb_after(tags, lists, end, after);
        }
        // Beyond dust lies no free piece, and a dust tag names no node (its value is
        // past the last one): `free_at` finds the listed piece on the other side, if any.
        let (prev, next) = (Self::free_at(before, nodes), Self::free_at(after, nodes));
        Self::merge_listed(tags, nodes, lists, lo, hi - lo, prev, next, true)
    }

    /// Grows the hot piece `hot`, which ends just before `start`, to end at `new_end`:
    /// its old last tag (unless it is also its first) and the run's first are cleared,
    /// and `tag`, its free tag, goes on its new last unit. Nothing else changes: the hot
    /// piece is on no list, whatever its new bin.
    #[inline(always)]
    fn grow_hot(
        tags: &mut [u32],
        nodes: &mut [Node],
        hot: u32,
        start: usize,
        new_end: usize,
        tag: u32,
    ) {
        let piece = &mut nodes[hot as usize];
        if piece.len > 1 {
            tags[start - 1] = 0;
        }
        tags[start] = 0;
        tags[new_end - 1] = tag;
        piece.len = narrow(piece.len() + (new_end - start));
    }

    /// Forgets the dust piece whose tag `after` is at `end`, just after a run, and clears
    /// its first tag and the run's last (both end up inside the merged piece). Returns
    /// where the merged piece ends.
    #[inline(always)]
    fn absorb_after(tags: &mut [u32], lists: &mut Lists, end: usize, after: u32) -> usize {
        let d = dust_len(after);
        lists.remove_dust(d);
        tags[end - 1] = 0;
        tags[end] = 0;
        end + d
    }

    /// [`merge`](Self::merge) of the run `[start, start + len)` whose neighbours are
    /// allocations or the listed pieces `prev` and `next` (with their nodes).
    /// `took_dust`: the run took in dust on a side where no listed piece lies. Had
    /// that dust been a listed piece (shorter than 64 units, so in a bin of its length
    /// only), it would have grown out of its bin and become the hot piece: so the
    /// merged piece becomes hot unless it grew the listed piece before the run, which
    /// decides as without dust. The hot piece is where aligned requests go first, so
    /// this keeps dust from changing any placement.
    // The borrows and the run are separate arguments like everywhere on the hot paths
    // (see `Lists`); grouping them into tuples changes the free path's code for the
    // worse (about 2M more instructions a round on every trace).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn merge_listed(
        tags: &mut [u32],
        nodes: &mut [Node],
        lists: &mut Lists,
        start: usize,
        len: usize,
        prev: Option<(u32, Node)>,
        next: Option<(u32, Node)>,
        took_dust: bool,
    ) -> Option<()> {
        let end = start + len;
        match (prev, next) {
            (None, None) => {
                let n = lists.take_spare(nodes)?;
                tags[end - 1] = free_tag(n);
                tags[start] = free_tag(n);
                // Filed, not made hot: with frees in random order, lone pieces would
                // churn the hot piece for nothing. Unless it lands in the hot piece's
                // bin: the newest piece of a bin is the one its good fit takes. Or it
                // took in dust (see above): buffers taken in a row from one hole
                // (aligned, so with gaps between them) come back in the same order,
                // and the next free grows the hot piece without list work where it
                // would move a filed one to the hot place.
                if took_dust {
                    lists.make_hot(nodes, n, start, len);
                    return Some(());
                }
                let bin = bin_of(len);
                if lists.hot_bin(nodes) == Some(bin) {
                    lists.make_hot(nodes, n, start, len);
                } else {
                    lists.file_as(nodes, n, start, len, bin);
                }
                Some(())
            }
            (Some((p, pn)), None) => {
                // The allocation's start tag is overwritten below when it is one unit.
                if pn.len > 1 {
                    tags[start - 1] = 0;
                }
                tags[start] = 0;
                tags[end - 1] = free_tag(p);
                Self::reshape_grown(nodes, lists, p, pn, pn.start(), pn.len() + len);
                Some(())
            }
            (None, Some((x, xn))) => {
                if xn.len > 1 {
                    tags[end] = 0;
                }
                tags[end - 1] = 0;
                tags[start] = free_tag(x);
                // With dust taken in, `x` becomes hot even when it keeps its bin (see
                // `took_dust`).
                if took_dust {
                    Self::reshape_unless_kept(nodes, lists, x, xn, start, len + xn.len(), |_| {
                        false
                    });
                } else {
                    Self::reshape_grown(nodes, lists, x, xn, start, len + xn.len());
                }
                Some(())
            }
            (Some((p, pn)), Some((x, xn))) => {
                if pn.len > 1 {
                    tags[start - 1] = 0;
                }
                tags[start] = 0;
                tags[end - 1] = 0;
                if xn.len > 1 {
                    tags[end] = 0;
                }
                tags[xn.end() - 1] = free_tag(p);
                lists.detach(nodes, x, &xn);
                lists.put_spare(nodes, x);
                // Read afresh: taking `x` off its list may have changed the links of `p`.
                let pn = nodes[p as usize];
                let merged = pn.len() + len + xn.len();
                Self::reshape_grown(nodes, lists, p, pn, pn.start(), merged);
                Some(())
            }
        }
    }

    /// `allocate` for any request: validated, then the good fits and the exhaustive
    /// search (`find`).
    #[inline(never)]
    fn allocate_slow(&mut self, request: Request) -> Result<usize, Error> {
        let window = request.validate(self.capacity)?;
        self.check_room()?;
        let (count, align) = (request.count(), request.align());
        if count < self.lists.dust_below {
            self.file_dust(count);
        }
        let found = if count <= self.free_units {
            self.find(count, align, window)
        } else {
            None
        };
        match found {
            Some((n, node, at)) => {
                self.carve(n, node, at, count)?;
                Ok(at)
            }
            None => Err(Error::NoSpace { count, align }),
        }
    }

    /// Lowers [`Lists::dust_below`] to `count` (`>= 1`) and files every dust piece of
    /// `count` units or more, so that the search for a request of `count` units sees
    /// every piece that could hold it. A walk over the pieces, `O(pieces)`, when some
    /// dust is that long; each call lowers the limit, so a backend makes at most
    /// `DUST_CAP - 1` of them in its life.
    #[cold]
    fn file_dust(&mut self, count: usize) {
        self.lists.dust_below = count;
        let mut at = 0;
        while self.lists.has_dust_from(count) {
            let Some(piece) = self.piece_at(at) else {
                return;
            };
            if piece.kind == PieceKind::Dust
                && piece.len >= count
                && self.list_dust(piece).is_none()
            {
                // No spare node: unreachable, as the node budget counts dust pieces
                // among the free pieces it has a node for.
                return;
            }
            at = piece.start + piece.len;
        }
    }

    /// Gives the dust piece `piece` a node and files it; the node, or `None` (nothing
    /// changed) when no node is spare.
    fn list_dust(&mut self, piece: Piece) -> Option<u32> {
        let n = self.take_spare()?;
        self.lists.remove_dust(piece.len);
        self.set_free(n, piece.start, piece.len);
        self.file(n);
        Some(n)
    }

    /// Why `free(start, count)` is refused, `tag` being the entry at `start` (0 when out
    /// of bounds): the range checks first, then what `start` is.
    #[cold]
    fn refusal(&self, start: usize, count: usize, tag: u32) -> Error {
        if let Err(e) = check_range(start, count, self.capacity) {
            return e;
        }
        if tag & KIND == ALLOC_START {
            return Error::WrongCount {
                start,
                count,
                actual: (tag & VALUE) as usize,
            };
        }
        self.not_a_start(start, tag)
    }

    /// Why `free(start, _)` is refused when no allocation starts at `start`, whose
    /// tag entry is `tag`.
    #[cold]
    fn not_a_start(&self, start: usize, tag: u32) -> Error {
        let inside_free = match tag & KIND {
            FREE => true,
            ALLOC_END | ALLOC_START => false,
            // Inside a piece: tell a free unit from the middle of an allocation.
            _ => self
                .piece_containing(start)
                .is_none_or(|p| p.kind.is_free()),
        };
        if inside_free {
            Error::NotAllocated { start }
        } else {
            Error::NotAllocationStart { start }
        }
    }
}

#[cfg(test)]
impl Tlsf {
    /// Panics unless the tags, the nodes, the lists and the counters agree: every entry
    /// of `tags` is exactly the tag of a piece boundary or 0, free pieces are maximal and
    /// each is on the list of its bin (or hot, or dust shorter than `dust_below`), and
    /// the spare and dust counts match.
    fn check_invariants(&self) {
        let mut expected = alloc::vec![0u32; self.capacity];
        let (mut at, mut free_units, mut free_extents, mut live) = (0, 0, 0, 0);
        let mut last_free = false;
        let mut hot_seen = false;
        let mut dust_counts = [0u32; DUST_CAP];
        while at < self.capacity {
            let piece = self
                .piece_at(at)
                .expect("a piece starts where the last one ends");
            assert!(piece.len >= 1, "empty piece at {at}");
            let end = at + piece.len;
            if piece.kind == PieceKind::Dust {
                assert!(
                    !last_free,
                    "dust at {at} and the piece before are not merged"
                );
                assert!(
                    piece.len < self.lists.dust_below,
                    "dust at {at} a search could use"
                );
                dust_counts[piece.len] += 1;
                free_units += piece.len;
                free_extents += 1;
                expected[end - 1] = dust_tag(piece.len);
                expected[at] = dust_tag(piece.len);
                last_free = true;
                at = end;
                continue;
            }
            if let PieceKind::Listed(n) = piece.kind {
                assert!(
                    !last_free,
                    "free pieces at {at} and before it are not merged"
                );
                free_units += piece.len;
                free_extents += 1;
                expected[end - 1] = free_tag(n);
                expected[at] = free_tag(n);
                let bin = bin_of(piece.len);
                if n == self.lists.hot {
                    hot_seen = true;
                    let node = self.nodes[n as usize];
                    assert_eq!((node.prev_free, node.next_free), (NIL, NIL));
                    last_free = true;
                    at = end;
                    continue;
                }
                let mut m = self.head(bin);
                let mut prev = NIL;
                while m != n {
                    assert_ne!(m, NIL, "free piece {n} is not on the list of its bin");
                    prev = m;
                    m = self.nodes[m as usize].next_free;
                }
                assert_eq!(self.nodes[n as usize].prev_free, prev);
                assert_ne!(self.lists.sl_maps[bin.fl()] & (1 << bin.sl()), 0);
                assert_ne!(self.lists.fl_map & (1 << bin.fl()), 0);
            } else {
                live += 1;
                expected[end - 1] = alloc_end(piece.len);
                expected[at] = alloc_start(piece.len);
            }
            last_free = piece.kind.is_free();
            at = end;
        }
        assert_eq!(dust_counts, self.lists.dust_counts);
        assert!(self.lists.dust_below >= 1 && self.lists.dust_below <= DUST_CAP);
        let dust_pieces: usize = dust_counts.iter().map(|&c| c as usize).sum();
        assert_eq!(at, self.capacity);
        assert_eq!(
            &*self.tags,
            &expected[..],
            "tags other than boundaries are not 0"
        );
        assert_eq!(
            (free_units, free_extents, live),
            (self.free_units, self.free_extents(), self.live)
        );
        assert_eq!(
            self.lists.spare_count + free_extents - dust_pieces,
            self.nodes.len()
        );
        assert!(
            hot_seen || self.lists.hot == NIL,
            "the hot piece is not a free piece"
        );
        // The lists hold every free piece but the hot one and the dust, and nothing else.
        let filed: usize = (0..HEAD_SLOTS)
            .map(|b| {
                let mut len = 0;
                let mut m = self.head(Bin(b));
                while let Some(node) = self.nodes.get(m as usize) {
                    len += 1;
                    m = node.next_free;
                }
                len
            })
            .sum();
        assert_eq!(filed + usize::from(hot_seen) + dust_pieces, free_extents);
    }
}

impl Lists {
    /// The first piece on the list of `bin` (`NIL` when empty).
    #[inline(always)]
    fn head(&self, bin: Bin) -> u32 {
        self.heads[bin.0 & (HEAD_SLOTS - 1)]
    }

    #[inline(always)]
    fn set_head(&mut self, bin: Bin, n: u32) {
        self.heads[bin.0 & (HEAD_SLOTS - 1)] = n;
    }

    /// Records that `bin` is non-empty.
    #[inline(always)]
    fn mark(&mut self, bin: Bin) {
        self.sl_maps[bin.fl() & (FL_SLOTS - 1)] |= 1 << bin.sl();
        self.fl_map |= 1 << (bin.fl() & (FL_SLOTS - 1));
    }

    /// Records that `bin` is empty.
    #[inline(always)]
    fn unmark(&mut self, bin: Bin) {
        let map = &mut self.sl_maps[bin.fl() & (FL_SLOTS - 1)];
        *map &= !(1 << bin.sl());
        if *map == 0 {
            self.fl_map &= !(1 << (bin.fl() & (FL_SLOTS - 1)));
        }
    }

    /// The first non-empty bin at or after `from`, in size order.
    #[inline(always)]
    fn nonempty_from(&self, from: Bin) -> Option<Bin> {
        let fl = from.fl() & (FL_SLOTS - 1);
        let in_class = self.sl_maps[fl] & (u32::MAX << from.sl());
        if in_class != 0 {
            return Some(Bin::at(fl, in_class.trailing_zeros() as usize));
        }
        // Two shifts: `fl + 1` may be 32 (never for a real bin), which one shift rejects.
        let above = self.fl_map & ((u32::MAX << fl) << 1);
        if above == 0 {
            return None;
        }
        let fl = above.trailing_zeros() as usize;
        Some(Bin::at(
            fl,
            self.sl_maps[fl & (FL_SLOTS - 1)].trailing_zeros() as usize,
        ))
    }

    /// The good fit for a request whose pieces must be in `holding` or above: the hot
    /// piece or the head of the first non-empty bin, whichever bin is lower (the hot
    /// piece on a tie: it was touched last, as a list head would be), with its bin.
    #[inline(always)]
    fn good_fit(&self, nodes: &[Node], holding: Bin) -> Option<(u32, Bin)> {
        // Both candidates are computed and one is selected without a branch: which one
        // wins is unpredictable when frees come in random order. `BIN_COUNT` stands
        // for "none" (its list head is always `NIL`).
        let filed = self.nonempty_from(holding).unwrap_or(Bin(BIN_COUNT));
        let hot_bin = nodes
            .get(self.hot as usize)
            .map_or(BIN_COUNT, |h| bin_of(h.len()).0);
        let hot = if hot_bin >= holding.0 {
            hot_bin
        } else {
            usize::MAX
        };
        let (n, bin) = if hot <= filed.0 {
            (self.hot, Bin(hot))
        } else {
            (self.head(filed), filed)
        };
        (bin.0 < BIN_COUNT).then_some((n, bin))
    }

    /// The head of the first non-empty bin at or above `holding`, with that bin; the
    /// hot piece is not looked at.
    #[inline(always)]
    fn filed_fit(&self, holding: Bin) -> Option<(u32, Bin)> {
        let bin = self.nonempty_from(holding)?;
        Some((self.head(bin), bin))
    }

    /// The bin of the hot piece, if there is one.
    #[inline(always)]
    fn hot_bin(&self, nodes: &[Node]) -> Option<Bin> {
        nodes.get(self.hot as usize).map(|node| bin_of(node.len()))
    }

    /// Takes the free piece `n` (whose node is `node`) out of the free pieces'
    /// bookkeeping: off its list, or no longer the hot piece (whose bin is not needed,
    /// so it is computed only for a listed piece).
    #[inline(always)]
    fn detach(&mut self, nodes: &mut [Node], n: u32, node: &Node) {
        if n == self.hot {
            self.hot = NIL;
        } else {
            self.unfile_from(nodes, node, bin_of(node.len()));
        }
    }

    /// Makes node `n`, which is on no list, the free piece `[start, start + len)` and
    /// the hot piece; the previous hot piece goes on the list of its bin.
    #[inline(always)]
    fn make_hot(&mut self, nodes: &mut [Node], n: u32, start: usize, len: usize) {
        let old = self.hot;
        if let Some(node) = nodes.get(old as usize) {
            let bin = bin_of(node.len());
            self.file_in(nodes, old, bin);
        }
        nodes[n as usize] = Node {
            start: narrow(start),
            len: narrow(len),
            prev_free: NIL,
            next_free: NIL,
        };
        self.hot = n;
    }

    /// The good fit's piece `n` (the hot piece, or the head of the list of `bin`, the
    /// bin of its length, followed there by `next_free`) after a cut left it
    /// `[start, start + len)`. Being shorter, it keeps its bin exactly when it is still
    /// at least the bin's shortest length, and then stays where it is; otherwise it
    /// leaves its list and becomes the hot piece, the old one filed.
    #[inline(always)]
    fn keep_cut_piece(
        &mut self,
        nodes: &mut [Node],
        (n, next_free, bin): (u32, u32, Bin),
        start: usize,
        len: usize,
    ) {
        if n == self.hot || len >= lower_bound(bin) {
            let piece = &mut nodes[n as usize];
            piece.start = narrow(start);
            piece.len = narrow(len);
            return;
        }
        self.pop_head(nodes, bin, next_free);
        self.make_hot(nodes, n, start, len);
    }

    /// Puts the free piece `n` on the list of `bin`, the bin of its length.
    #[inline(always)]
    fn file_in(&mut self, nodes: &mut [Node], n: u32, bin: Bin) {
        let head = self.head(bin);
        // A bin with a head is marked already: only an empty one needs its bits set.
        if let Some(h) = nodes.get_mut(head as usize) {
            h.prev_free = n;
        } else {
            self.mark(bin);
        }
        let node = &mut nodes[n as usize];
        node.prev_free = NIL;
        node.next_free = head;
        self.set_head(bin, n);
    }

    /// Makes node `n` the free piece `[start, start + len)` and puts it on the list of
    /// `bin`, the bin of `len`, writing the node once.
    #[inline(always)]
    fn file_as(&mut self, nodes: &mut [Node], n: u32, start: usize, len: usize, bin: Bin) {
        let head = self.head(bin);
        // A bin with a head is marked already: only an empty one needs its bits set.
        if let Some(h) = nodes.get_mut(head as usize) {
            h.prev_free = n;
        } else {
            self.mark(bin);
        }
        nodes[n as usize] = Node {
            start: narrow(start),
            len: narrow(len),
            prev_free: NIL,
            next_free: head,
        };
        self.set_head(bin, n);
    }

    /// Takes the free piece whose node is `node` off the list of `bin`, the bin of its
    /// length.
    #[inline(always)]
    fn unfile_from(&mut self, nodes: &mut [Node], node: &Node, bin: Bin) {
        if let Some(next) = nodes.get_mut(node.next_free as usize) {
            next.prev_free = node.prev_free;
        }
        if let Some(prev) = nodes.get_mut(node.prev_free as usize) {
            prev.next_free = node.next_free;
        } else {
            self.set_head(bin, node.next_free);
            if node.next_free == NIL {
                self.unmark(bin);
            }
        }
    }

    /// Takes the head of `bin`, whose successor on the list is `next`, off that list.
    #[inline(always)]
    fn pop_head(&mut self, nodes: &mut [Node], bin: Bin, next: u32) {
        self.set_head(bin, next);
        if let Some(next) = nodes.get_mut(next as usize) {
            next.prev_free = NIL;
        } else {
            self.unmark(bin);
        }
    }

    #[inline(always)]
    fn take_spare(&mut self, nodes: &[Node]) -> Option<u32> {
        let n = self.spare;
        let node = nodes.get(n as usize)?;
        self.spare = node.next_free;
        self.spare_count -= 1;
        Some(n)
    }

    /// Leaves `[start, start + len)` (`0 < len < DUST_CAP`) as dust: its two end tags
    /// say so (no node), and it is counted by length.
    #[inline(always)]
    fn add_dust(&mut self, tags: &mut [u32], start: usize, len: usize) {
        tags[start] = dust_tag(len);
        tags[start + len - 1] = dust_tag(len);
        self.dust_counts[len & (DUST_CAP - 1)] += 1;
    }

    /// Forgets a dust piece of `len < DUST_CAP` units (absorbed or filed).
    #[inline(always)]
    fn remove_dust(&mut self, len: usize) {
        self.dust_counts[len & (DUST_CAP - 1)] -= 1;
    }

    /// The number of dust pieces (a walk of [`DUST_CAP`] counters).
    fn dust_pieces(&self) -> usize {
        self.dust_counts.iter().map(|&c| c as usize).sum()
    }

    /// The length of the longest dust piece, 0 without dust.
    fn longest_dust(&self) -> usize {
        self.dust_counts.iter().rposition(|&c| c > 0).unwrap_or(0)
    }

    /// Whether some dust piece is at least `len` units long.
    fn has_dust_from(&self, len: usize) -> bool {
        self.dust_counts
            .get(len..)
            .is_some_and(|longer| longer.iter().any(|&c| c > 0))
    }

    #[inline(always)]
    fn put_spare(&mut self, nodes: &mut [Node], n: u32) {
        nodes[n as usize] = Node {
            next_free: self.spare,
            ..SPARE
        };
        self.spare = n;
        self.spare_count += 1;
    }
}

impl Backend for Tlsf {
    fn name(&self) -> &'static str {
        "tlsf"
    }

    fn capacity(&self) -> usize {
        self.capacity
    }

    // Inlined into callers with both paths, as `free` is: a call costs more than
    // either path's own work saves by being out of line (the request passed and the
    // result returned through memory, a second frame). The searches and the rare
    // cases stay out of line (`allocate_slow`, `find_slow`, `file_dust`).
    #[inline(always)]
    fn allocate(&mut self, request: Request) -> Result<usize, Error> {
        if request.align() == 1 {
            self.allocate_plain(request)
        } else {
            self.allocate_aligned(request)
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
        let piece = self.piece_containing(start).ok_or(out_of_bounds)?;
        let free = piece.kind.is_free();
        crate::error::claim_in_piece(start, count, free, piece.start + piece.len)?;
        self.check_room()?;
        let n = match piece.kind {
            PieceKind::Listed(n) => n,
            // Carving needs a node; the node budget has one for every free piece.
            PieceKind::Dust => self.list_dust(piece).ok_or(out_of_bounds)?,
            PieceKind::Allocated => return Err(out_of_bounds),
        };
        let node = *self.nodes.get(n as usize).ok_or(out_of_bounds)?;
        self.carve(n, node, start, count)
    }

    // Inlined into callers, validation and merge (see `allocate`); refusals are out of
    // line.
    #[inline(always)]
    fn free(&mut self, start: usize, count: usize) -> Result<(), Error> {
        // The start tag of an allocation of exactly `count` units is the whole
        // validation: that allocation lies inside the space, so `check_range` would pass.
        let tag = self.tags.get(start).copied().unwrap_or(0);
        // `alloc_start` masks the count into the value bits, so a count of
        // `2^LEN_BITS` or more needs the bound too; compared after the tag, the two
        // tests compile to two compare-and-branch pairs instead of a flag set from
        // one and tested after the other.
        if tag == alloc_start(count) && count <= VALUE as usize {
            return self.release(start, count);
        }
        Err(self.refusal(start, count, tag))
    }

    fn stats(&self) -> Stats {
        Stats {
            capacity: self.capacity,
            free: self.free_units,
            largest_free: self.largest_free(),
            free_extents: self.free_extents(),
            live_allocations: self.live,
            metadata_bytes: Self::metadata_bytes_for(self.capacity, self.limit),
        }
    }

    fn for_each_allocation(&self, f: &mut dyn FnMut(Extent)) {
        let mut next = self.piece_at(0);
        while let Some(piece) = next {
            if !piece.kind.is_free() {
                f(Extent::new(piece.start, piece.len));
            }
            next = self.piece_at(piece.start + piece.len);
        }
    }
}
