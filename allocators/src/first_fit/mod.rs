//! First-fit over address-ordered free extents, with out-of-band metadata.
//!
//! This module owns the [`FirstFit`] backend: which units of its space are free, which
//! live allocations exist, and the fixed arena that records both. It never reads or
//! writes the managed memory, never allocates after [`FirstFit::new`] (and never at all
//! over the caller's inline arena of [`FirstFit::with_storage`], a `const fn` for
//! `static`s), and never panics on caller input.
//!
//! # Data structure
//!
//! The space is tiled by *pieces*: maximal free extents (neighbours coalesce on free)
//! and live allocations (claims included), one node each in a `Vec` of nodes linked by
//! `u32` index and allocated once (`tree.rs`). Every piece is in a doubly linked list
//! in address order, so a piece's neighbours are one link away. The free extents alone
//! (but for a free last piece, kept beside the tree so that cutting the end of the
//! space, as a filling space does on nearly every allocation, never climbs the tree's
//! right spine) form an AVL tree keyed by start, each node storing, for each child,
//! the height of that child's subtree and the longest free extent in it, plus a
//! parent link: a search decides where to go from the node it is on, and a change
//! climbs from its own node and stops at the first ancestor whose stored view of the
//! subtree below is still right; that augmentation must be recomputed on every
//! rotation, which `intrusive-collections`' `RBTree` has no hook for (and its cursors
//! cannot descend to a chosen child), hence our own tree. Allocations are not in the
//! tree: an open-addressing hash index (linear probing, backward-shift deletion), one
//! `u32` slot and its `u32` hash in each of the arena's first nodes, maps an
//! allocation's start to its node, which validates a free and leads to its neighbours.
//! The index spans about twice as many nodes as the most ever in use at once (spare
//! nodes are handed out lowest first, given back ones first), not the whole arena: an
//! arena sized for many more allocations than are live would otherwise spread the slots
//! an allocation and a free read over all of it, a cache miss each. It doubles as more
//! nodes come into use, indexing every allocation again from the address-order list.
//! A cut that needs a new node for its allocation takes the node at the allocation's
//! home slot (where its probe starts) when that one is spare, about half the time, so
//! that a free then reads the slot and the node on one cache line; the spare list is
//! doubly linked for that.
//!
//! Short free pieces, of up to 64 units, are mostly kept out of the tree too: one
//! pairing heap per length, by start, threaded through the same nodes' tree links
//! (first child, next sibling, and parent or previous sibling). When blocks of up to 64
//! units are freed in random order, most frees make such a piece between two
//! allocations and most allocations take one whole or cut it, so the heaps turn the
//! tree insertion and removal (or length change) of a pair, each with its climb, into
//! an `O(1)` heap insertion and a removal of a heap's root. A request of `count <= 64`
//! units without alignment or window takes the lowest of the roots of the heaps of
//! lengths `count..=64` that hold pieces (a bit mask tells which) and of the tree's
//! lowest piece that long, so placement is exactly the lowest fit still. When those
//! heaps span at most 40 lengths (from `count` to the longest busy one), or are at
//! most 12, it compares their roots' starts one by one; with more over a wider span
//! (free space cut into holes of many lengths, as a half-full space of random blocks
//! is), a tournament tree over the 64 heaps' lowest starts answers in six steps. A heap's root changes on
//! most heap operations, often back to where it was, so that tree is not kept up to
//! date by them: each marks its heap stale, and a search that uses the tree first
//! replays it above the stale heaps, stopping where an entry does not change. A piece gets
//! into a heap when a free or a cut of a heap piece makes it; a tree piece that is cut
//! shorter stays in the tree, which saves the move (the search above compares both
//! anyway), and so does a piece a free merges while the tree is at most two levels deep
//! (blocks freed in address order grow one hole a free at a time, which through the
//! heaps would move from heap to heap on every free). Aligned and windowed requests
//! need the pieces they could use in address order, which only the tree gives: one of
//! `count <= 64` units moves the heaps of lengths `count..=64` into the tree and lowers
//! the heaps' limit below `count` for good, once.
//!
//! Aligned requests without a window can find the lowest long-enough extents misaligned
//! and have to pass over them; once a search of a request shape (count and alignment)
//! has, the backend keeps a *floor* for it (for up to four shapes, inline): an offset
//! below which that shape has no place. Allocations only take room, so a floor stays
//! true until a free makes a piece that holds the shape below it, which lowers it to
//! that place; the next search of the shape starts at the floor instead of passing over
//! the same extents again. A floor below which no long-enough extent is left any more
//! saves nothing and is dropped, so that frees stop checking it. The backend also keeps
//! the highest floor in use: a free whose piece starts at or above it lowers none, and
//! skips them all with one comparison.
//!
//! Node budget: free extents are maximal, so each one but the last is followed by a
//! distinct allocation, giving `free_extents <= live + 1`; with at most `m` live
//! allocations there are never more than `2m + 1` pieces, and never more than
//! `capacity` (pieces are disjoint and non-empty). The arena is sized to the smaller of
//! the two, so an operation that passed the `TooManyAllocations` check always finds the
//! nodes it needs, and the index always has a slot for a new allocation: it is at most
//! half full while it spans less than the arena (live allocations never outnumber the
//! nodes in use), and once it spans the arena it has as many slots as nodes. That is
//! at most half full when the arena is sized by `m`; when `capacity` bounds it instead,
//! one-unit allocations can fill it, and probes grow long as it does.
//!
//! # Complexity
//!
//! With `f <= max_allocations + 1` free extents in the tree (height below
//! `1.45 log2(f + 2)`), and index operations `O(1)` expected (at most half of the slots
//! used when the arena is sized by the allocation limit); a cut that could bring the
//! nodes in use past half the index first doubles it, `O(n)` over the `n` pieces, at
//! most `log2` of the arena's nodes times in the backend's life (`O(1)` amortized over
//! the cuts that brought those nodes into use):
//!
//! * `free`: an index probe, then by the neighbours' states: merging into a free
//!   neighbour changes its length (and with both, one of them leaves the tree), a climb
//!   from it; a neighbour in a heap leaves it (`O(log s)` amortized for `s` pieces in
//!   it) and the merged piece is filed again. With no free neighbour, a piece of at
//!   most 64 units joins its heap (`O(1)`); a longer one joins the tree, one descent
//!   by key (raising the longest-free values of the subtrees it enters, so that the
//!   climb after it only carries height changes) and a climb: `O(log f)`. Climbs stop
//!   early unless a longest-free value or a height changes all the way up. With floors
//!   in use, one placement check per floor above the freed piece's start (at most 4;
//!   none, after one comparison, when it starts at or above all of them).
//! * `allocate` with alignment 1 and no window: `O(log f)`, one descent that goes left
//!   whenever the left subtree's longest free extent is long enough, then the cut of
//!   the extent found: its node keeps the remainder (or becomes the allocation, leaving
//!   the tree, when none is left), a climb from it, and an index insertion. A cut at
//!   the start of the free last piece, which is not in the tree, climbs nothing. For at
//!   most 64 units, the lowest root of the heaps that could hold it is compared with
//!   the tree's piece first (root by root over a span of up to 40 lengths or up to 12
//!   busy heaps, else through the tournament tree: six steps, after at most six per heap whose root changed since
//!   its last use), and a piece taken from a heap leaves it
//!   (`O(log s)` amortized, its remainder filed again) without touching the tree. The
//!   first aligned or windowed request of at most 64 units moves the heaps it could use
//!   into the tree once, `O(s log f)`.
//! * `allocate` with alignment 1 and a window: `O(log f)`. The search descends to the
//!   leftmost extent that can hold the run, skipping every subtree whose longest free
//!   extent is shorter than the request and every subtree that lies entirely below
//!   `lo + count` or at/after `hi - count`. With alignment 1 any extent of length
//!   `>= count` inside the window fits, so only the at most two extents cut by the
//!   window edges can be long enough and still fail; the descent therefore follows at
//!   most a constant number of root-to-leaf paths. A cut that leaves free units on both
//!   sides inserts the tail as a new tree node right after the head's, reached by a
//!   descent from the head's node rather than from the root (at most `O(log f)`).
//! * `allocate` with alignment `a > 1`: `O((1 + k) log f)`, bounded by `O(f)`, where `k`
//!   is the number of free extents below the result that are long enough
//!   (`len >= count`) but whose first aligned offset leaves too little room. Only
//!   extents with `count <= len < count + a - 1` can be such false candidates, since at
//!   most `a - 1` units are skipped to reach alignment. The worst case is linear: many
//!   holes of exactly `count` units, all misaligned (e.g. 4-unit holes at offsets
//!   `8i + 2` for an 8-aligned request of 4) are each visited and rejected. The subtree
//!   maximum cannot prune them because whether an extent fits depends on its start
//!   modulo `a`, not only on its length. Without a window the candidates are visited
//!   in address order, each found from the last by a walk up to the first ancestor
//!   that is one or has one on its right and down from there (`O(log f)` each, much
//!   less for neighbours), rather than by a new search from the root; and `k` counts
//!   only those above the shape's floor, the first of which one descent finds.
//! * `claim`: `O(log f)`, a descent to the free extent at or before the start, then a
//!   cut as above. Only the tree can answer that descent, so the `s` pieces the heaps
//!   hold move into it first, `O(s log f)`; each of them got into its heap by one free
//!   or cut, so this is `O(log f)` amortized over those. A free that is refused because
//!   its start is not an allocation's looks the start up the same way (to tell
//!   `NotAllocated` from `NotAllocationStart`).
//! * `stats`: `O(1)` (counters, the root's augmentation and the free last piece's
//!   length); `for_each_allocation`: `O(n)` over the address-order list.
//!
//! Memory: `min(2 * min(max_allocations, capacity) + 1, capacity)` nodes of
//! `size_of::<Node>()` bytes (64 on 64-bit targets, one cache line and aligned to one;
//! 48 on 32-bit targets), reported as `metadata_bytes`: `(2m + 1) * 64` bytes for `m`
//! allowed live allocations on 64-bit targets (128 per allocation, plus one node), up
//! from `(2m + 1) * 48` before the address-order links, parent links and index. The
//! four floors (about 100 bytes) and the 64 heaps' roots and the tournament tree over
//! their starts (about 1.4 KiB on 64-bit targets) live in the backend itself, not in the arena: a heap uses the tree
//! links of its nodes.
#![forbid(unsafe_code)]

mod fit;
mod tree;

#[cfg(test)]
mod tests;

use crate::fallible::OutOfMemory;
use crate::{Backend, Error, Extent, Request, Stats, Window, check_range};
use alloc::vec::Vec;
use fit::Fit;
use tree::{MAX_NODES, Piece, PieceTree};

pub use tree::Node;

/// A first-fit range allocator: returns the lowest offset where a request fits.
///
/// All metadata is allocated by [`FirstFit::new`]; `allocate`, `claim` and `free` never
/// touch the heap. See the [module documentation](self) for the data structure and the
/// complexity of each operation.
///
/// ```
/// use contig_allocators::{Backend, Error, Request, first_fit::FirstFit};
///
/// // 100 units whose offset 0 is absolute unit 6; at most 2 live allocations.
/// let mut ff = FirstFit::new(100, 6, 2).unwrap();
/// assert_eq!(ff.allocate(Request::new(3)), Ok(0));
/// assert_eq!(ff.allocate(Request::new(4).aligned(16)), Ok(10)); // absolute unit 16
/// assert_eq!(
///     ff.allocate(Request::new(1)),
///     Err(Error::TooManyAllocations { limit: 2 })
/// );
/// ff.free(0, 3).unwrap();
/// assert_eq!(ff.allocate(Request::new(5).within(50, 100)), Ok(50));
/// let stats = ff.stats();
/// assert_eq!((stats.free, stats.free_extents, stats.largest_free), (91, 3, 45));
/// ```
///
/// `S` is the node arena: a `Vec` sized once by [`FirstFit::new`] (the default), or an
/// inline array of [`Node`]s given to the `const fn` [`FirstFit::with_storage`], so that
/// a backend can live in a `static` before any heap exists.
#[derive(Clone, Debug)]
pub struct FirstFit<S = Vec<Node>> {
    tree: PieceTree<S>,
    capacity: usize,
    phase: usize,
    limit: usize,
    live: usize,
    free_units: usize,
    free_extents: usize,
    /// Floors of the last few aligned request shapes without a window.
    floors: [Floor; FLOORS],
    /// The entry of `floors` the next new shape replaces.
    next_floor: usize,
    /// The highest floor in use, 0 when none is: frees of a backend that never sees an
    /// aligned request skip lowering them, and so do frees at or above every floor
    /// (a place in the freed piece is no lower than its start).
    floor_top: usize,
}

/// For one aligned request shape without a window (count and alignment): an offset
/// below which the request has no place. Only a free makes room, and only inside the
/// free piece it makes, so a floor holds until a free whose piece holds the shape below
/// it, which lowers it to that place; a search starts from it, skipping the long-enough
/// but misaligned pieces below that an earlier search passed over, and leaves it at the
/// place it found (or at the end of the space when there is none).
#[derive(Clone, Copy, Debug)]
struct Floor {
    /// Units of the shape; 0 for an entry not in use (no request has 0 units).
    count: usize,
    align: usize,
    at: usize,
}

/// Request shapes with a floor: the aligned sizes a device driver's pool sees are few.
const FLOORS: usize = 4;

const NO_FLOOR: Floor = Floor {
    count: 0,
    align: 0,
    at: 0,
};

impl FirstFit {
    /// The largest `max_allocations` a backend accepts; larger values are lowered to it
    /// (the tree indexes its nodes with `u32`).
    pub const MAX_ALLOCATIONS: usize = (MAX_NODES - 1) / 2;

    /// The tree nodes a backend of `capacity` units and at most `max_allocations` live
    /// allocations needs (what [`new`](FirstFit::new) allocates):
    /// `min(2 * min(max_allocations, capacity) + 1, capacity)`, with `max_allocations`
    /// lowered to [`MAX_ALLOCATIONS`](Self::MAX_ALLOCATIONS).
    #[must_use]
    pub const fn nodes_for(capacity: usize, max_allocations: usize) -> usize {
        let limit = if max_allocations < Self::MAX_ALLOCATIONS {
            max_allocations
        } else {
            Self::MAX_ALLOCATIONS
        };
        let pieces = if limit < capacity { limit } else { capacity };
        let nodes = 2 * pieces + 1;
        if nodes < capacity { nodes } else { capacity }
    }

    /// An empty space of `capacity` units whose offset 0 is absolute unit `phase`
    /// (alignment is checked on `phase + offset`), holding at most `max_allocations`
    /// live allocations (claims included; at most [`Self::MAX_ALLOCATIONS`]).
    ///
    /// This is the only place the backend allocates: an arena of
    /// `min(2 * min(max_allocations, capacity) + 1, capacity)` tree nodes.
    ///
    /// # Errors
    ///
    /// [`OutOfMemory`] when the arena cannot be allocated.
    pub fn new(capacity: usize, phase: usize, max_allocations: usize) -> Result<Self, OutOfMemory> {
        let limit = max_allocations.min(Self::MAX_ALLOCATIONS);
        let nodes = Self::nodes_for(capacity, limit);
        let whole = (capacity > 0).then_some(Piece {
            start: 0,
            len: capacity,
            free: true,
        });
        // `nodes >= 1` whenever `capacity >= 1`.
        let tree = PieceTree::with_nodes(nodes, whole)?;
        let free_extents = usize::from(capacity > 0);
        Ok(Self {
            tree,
            capacity,
            phase,
            limit,
            live: 0,
            free_units: capacity,
            free_extents,
            floors: [NO_FLOOR; FLOORS],
            next_floor: 0,
            floor_top: 0,
        })
    }
}

/// The node array given to [`FirstFit::with_storage`] is smaller than the node budget
/// of its capacity and allocation limit ([`FirstFit::nodes_for`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooFewNodes {
    /// Nodes the backend needs.
    pub needed: usize,
    /// Nodes it was given.
    pub given: usize,
}

impl core::fmt::Display for TooFewNodes {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "first-fit storage of {} nodes, {} needed",
            self.given, self.needed
        )
    }
}

impl core::error::Error for TooFewNodes {}

impl<const N: usize> FirstFit<[Node; N]> {
    /// [`new`](FirstFit::new) over an inline arena of `N` nodes instead of a heap one: a
    /// `const fn`, so the backend can be a `static`'s initializer (or part of one) and
    /// never touches an allocator. `N` must be at least
    /// [`nodes_for(capacity, max_allocations)`](FirstFit::nodes_for); a larger array is
    /// accepted (and counted in `metadata_bytes`), but no more than that many nodes are
    /// ever in use at once.
    ///
    /// ```
    /// use contig_allocators::{Backend, Request, first_fit::{FirstFit, Node}};
    ///
    /// const NODES: usize = FirstFit::nodes_for(100, 4);
    /// // Any lock with a `const` constructor; a kernel uses its own (a spin lock).
    /// static EARLY: std::sync::Mutex<FirstFit<[Node; NODES]>> =
    ///     std::sync::Mutex::new(match FirstFit::with_storage(100, 0, 4) {
    ///         Ok(backend) => backend,
    ///         Err(_) => panic!("too few nodes"), // evaluated at compile time
    ///     });
    ///
    /// let mut ff = EARLY.lock().unwrap();
    /// let a = ff.allocate(Request::new(10)).unwrap();
    /// ff.free(a, 10).unwrap();
    /// assert_eq!(ff.stats().free, 100);
    /// ```
    ///
    /// # Errors
    ///
    /// [`TooFewNodes`] when `N` is below the node budget.
    pub const fn with_storage(
        capacity: usize,
        phase: usize,
        max_allocations: usize,
    ) -> Result<Self, TooFewNodes> {
        let limit = if max_allocations < FirstFit::MAX_ALLOCATIONS {
            max_allocations
        } else {
            FirstFit::MAX_ALLOCATIONS
        };
        let needed = FirstFit::nodes_for(capacity, limit);
        if N < needed {
            return Err(TooFewNodes { needed, given: N });
        }
        let whole = if capacity == 0 {
            None
        } else {
            Some(Piece {
                start: 0,
                len: capacity,
                free: true,
            })
        };
        Ok(Self {
            tree: PieceTree::inline(whole),
            capacity,
            phase,
            limit,
            live: 0,
            free_units: capacity,
            free_extents: if capacity == 0 { 0 } else { 1 },
            floors: [NO_FLOOR; FLOORS],
            next_floor: 0,
            floor_top: 0,
        })
    }
}

impl<S: AsRef<[Node]> + AsMut<[Node]>> FirstFit<S> {
    /// The most live allocations (claims included) this backend holds at once.
    #[must_use]
    pub const fn max_allocations(&self) -> usize {
        self.limit
    }

    /// The lowest place for `fit` (aligned, without a window): the first extent of at
    /// least `fit.count()` units from the shape's floor on (or after `rejected`, the
    /// lowest one, found not to hold it) that holds it, trying them in address order.
    /// Leaves the floor at the place found when the search passed over extents that
    /// were long enough but misaligned, or started above some, and drops it otherwise.
    // Kept out of line: the first candidate mostly fits without it, and inlined it costs
    // every allocation registers.
    #[inline(never)]
    fn place_aligned(&mut self, fit: &Fit, rejected: Option<u32>) -> Option<(u32, usize)> {
        let (count, align) = (fit.count(), fit.align());
        let floor = if self.floor_top > 0 {
            self.floor(count, align)
        } else {
            0
        };
        let (mut candidate, skipped) = match rejected {
            Some(node) => (self.tree.next_long_enough(node, count), false),
            None if floor == 0 => (self.tree.first_long_enough(count), false),
            None => self.tree.lowest_long_enough_after(floor, count),
        };
        let mut passed = rejected.is_some();
        let found = loop {
            let Some(node) = candidate else { break None };
            if let Some(at) = fit.place(self.tree.piece(node)) {
                break Some((node, at));
            }
            passed = true;
            candidate = self.tree.next_long_enough(node, count);
        };
        // A floor is kept only while it saves passing over pieces, those the search
        // passed over or those below the floor that it skipped; otherwise it would
        // only cost the frees their checks.
        if passed || skipped {
            self.set_floor(count, align, found.map_or(self.capacity, |(_, at)| at));
        } else if floor != 0 {
            self.set_floor(count, align, 0);
        }
        found
    }

    /// The floor of `count` units aligned to `align`, 0 when it has none.
    fn floor(&self, count: usize, align: usize) -> usize {
        self.floors
            .iter()
            .find(|floor| floor.count == count && floor.align == align)
            .map_or(0, |floor| floor.at)
    }

    /// Sets the floor of `count` units aligned to `align` to `at` (0 drops it), in its
    /// own entry or, for a new shape, in place of the oldest one.
    #[inline(never)]
    fn set_floor(&mut self, count: usize, align: usize, at: usize) {
        let slot = match self
            .floors
            .iter()
            .position(|floor| floor.count == count && floor.align == align)
        {
            Some(slot) => slot,
            None if at == 0 => return,
            None => {
                let slot = self.next_floor;
                self.next_floor = (slot + 1) % FLOORS;
                slot
            }
        };
        self.floors[slot] = Floor { count, align, at };
        self.floor_top = self.top_floor();
    }

    /// Lowers each floor to its shape's lowest place in the free piece in node `joined`,
    /// which a free has just made, when it has one: the only new room is there.
    // Kept out of line, as `set_floor`: only backends that keep floors take it, and
    // inlined it costs the free path of every other one registers.
    #[inline(never)]
    fn lower_floors(&mut self, joined: u32) {
        let joined = self.tree.piece(joined);
        let whole = Window {
            lo: 0,
            hi: self.capacity,
        };
        for floor in &mut self.floors {
            // A place in `joined` is no lower than its start (which also passes over
            // the entries not in use, whose floor is 0).
            if floor.at <= joined.start {
                continue;
            }
            let fit = Fit::new(floor.count, floor.align, self.phase, whole);
            if let Some(at) = fit.place(joined) {
                floor.at = floor.at.min(at);
            }
        }
        self.floor_top = self.top_floor();
    }

    /// The highest floor in use (0 when none is).
    fn top_floor(&self) -> usize {
        self.floors.iter().map(|floor| floor.at).max().unwrap_or(0)
    }

    const fn check_room(&self) -> Result<(), Error> {
        if self.live >= self.limit {
            Err(Error::TooManyAllocations { limit: self.limit })
        } else {
            Ok(())
        }
    }

    /// Turns `[at, at + count)` of the free piece in node `free` into an allocation,
    /// leaving the units before and after it free.
    // Inlined into `allocate` (and `claim`): the tree's own `carve` is inlined here,
    // and a call between them cost as much as the carve of a one-unit request.
    #[inline(always)]
    fn carve(&mut self, free: u32, at: usize, count: usize) -> Result<(), Error> {
        let piece = self.tree.piece(free);
        let end = at + count;
        let remainders = usize::from(at > piece.start) + usize::from(end < piece.end());
        if self.tree.carve(free, at, count).is_none() {
            // Unreachable by the node budget in the module docs; refusing keeps the
            // state intact should that argument ever be broken.
            return Err(Error::TooManyAllocations { limit: self.limit });
        }
        self.free_extents = self.free_extents + remainders - 1;
        self.free_units -= count;
        self.live += 1;
        Ok(())
    }
}

impl<S: AsRef<[Node]> + AsMut<[Node]>> Backend for FirstFit<S> {
    fn name(&self) -> &'static str {
        "first-fit"
    }

    fn capacity(&self) -> usize {
        self.capacity
    }

    fn allocate(&mut self, request: Request) -> Result<usize, Error> {
        let window = request.validate(self.capacity)?;
        self.check_room()?;
        let (count, align) = (request.count(), request.align());
        let fit = Fit::new(count, align, self.phase, window);
        let plain = fit.takes_any_long_enough(self.capacity);
        if !plain && count <= self.tree.small_limit() {
            // Only the tree gives the pieces this request could use in address order.
            self.tree.hold_in_tree_from(count);
        }
        let found = if plain {
            self.tree
                .first_long_enough(count)
                .map(|node| (node, self.tree.piece(node).start))
        } else if fit.spans(self.capacity) {
            // Without a window, only extents of at least `count` units can hold the
            // run, so trying them in address order finds the lowest place; each next
            // one is a short walk from the last, where the pruned search would start
            // over from the root. Mostly the first one fits, which needs no floors.
            if self.floor_top > 0 {
                self.place_aligned(&fit, None)
            } else {
                match self.tree.first_long_enough(count) {
                    None => None,
                    Some(node) => match fit.place(self.tree.piece(node)) {
                        Some(at) => Some((node, at)),
                        None => self.place_aligned(&fit, Some(node)),
                    },
                }
            }
        } else {
            self.tree.first_fit(&fit)
        };
        if let Some((node, at)) = found {
            self.carve(node, at, count)?;
            return Ok(at);
        }
        Err(Error::NoSpace { count, align })
    }

    fn claim(&mut self, start: usize, count: usize) -> Result<(), Error> {
        check_range(start, count, self.capacity)?;
        // Free pieces are maximal, so a range that is not inside the free piece
        // holding `start` meets an allocation.
        let free = self
            .tree
            .free_before(start)
            .map(|node| (node, self.tree.piece(node)))
            .filter(|(_, p)| start < p.end());
        match free {
            Some((node, piece)) => {
                crate::error::claim_in_piece(start, count, true, piece.end())?;
                self.check_room()?;
                self.carve(node, start, count)
            }
            // `start` is inside an allocation.
            None => crate::error::claim_in_piece(start, count, false, start),
        }
    }

    fn free(&mut self, start: usize, count: usize) -> Result<(), Error> {
        check_range(start, count, self.capacity)?;
        let Some(found) = self.tree.find(start) else {
            // Not an allocation's start: inside a free piece or an allocation.
            let free = self.tree.free_before(start).map(|at| self.tree.piece(at));
            return Err(if free.is_some_and(|p| start < p.end()) {
                Error::NotAllocated { start }
            } else {
                Error::NotAllocationStart { start }
            });
        };
        let actual = self.tree.piece(found.node).len;
        if actual != count {
            return Err(Error::WrongCount {
                start,
                count,
                actual,
            });
        }
        let (merged, joined) = self.tree.release_found(found);
        // The first test spares a backend without floors the read of the piece.
        if self.floor_top > 0 && self.floor_top > self.tree.piece(joined).start {
            self.lower_floors(joined);
        }
        self.free_extents = self.free_extents + 1 - merged;
        self.free_units += count;
        self.live -= 1;
        Ok(())
    }

    fn stats(&self) -> Stats {
        Stats {
            capacity: self.capacity,
            free: self.free_units,
            largest_free: self.tree.largest_free(),
            free_extents: self.free_extents,
            live_allocations: self.live,
            metadata_bytes: self.tree.metadata_bytes(),
        }
    }

    fn for_each_allocation(&self, f: &mut dyn FnMut(Extent)) {
        self.tree.for_each(&mut |piece| {
            if !piece.free {
                f(Extent::new(piece.start, piece.len));
            }
        });
    }
}
