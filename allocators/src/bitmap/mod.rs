//! The bitmap backend: two bits per unit, a summary of full words and a run tree.
//!
//! [`Bitmap`] owns the occupancy of one unit space and nothing else: it never touches the
//! managed memory, never allocates after [`Bitmap::new`] (and never at all over caller
//! storage, [`Bitmap::with_storage`], or over an inline array, [`Bitmap::inline`], both
//! `const fn`s for `static`s), and never panics in an operation, whatever its arguments.
//!
//! Representation: one slice of `u64` words, [`Bitmap::words_for`]`(n)` of them for `n`
//! units, sized once and laid out the same way whoever holds it (a boxed slice, caller
//! storage, an inline array), in this order:
//!
//! * the **used** map: one bit per unit, set while the unit is allocated; padding bits past
//!   the last unit are set so that scans need no end checks;
//! * the **start** map: one bit per unit, set on the first unit of every allocation. It is
//!   what makes `free` checkable: an allocation is the run of used units from its start bit
//!   up to the next start bit or free unit, so a double free, a free in the middle and a
//!   wrong count are all told apart, also for two adjacent allocations;
//! * the **summary** (see `summary.rs`): one bit per used-map word ("full"), and further
//!   levels of one bit per word of the level below, until a level fits in one word;
//! * the **run tree** (see `runs.rs`): a 4-ary tree over leaves of 128 units, each
//!   node's four children's runs (the free run at the start, at the end and the
//!   longest) stored together, so the lowest run of `count` free units is found in
//!   `O(log n)`.
//!
//! Metadata is `8 * (2 * ceil(n / 64) + s + r)` bytes for `n` units, in every form
//! (`8 * words_for(n)`), where `s` is the number of summary words
//! (`ceil(n / 64^2) + ceil(n / 64^3) + ...`, up to and including the first level of at
//! most one word) and `r` the run tree's: for `l = ceil(n / 128)` leaves, `g_k =
//! ceil(l / 4^k)` groups of four siblings' runs on each level `k = 1, 2, ...` up to the
//! one with a single group (none for a single leaf), two words for a group of leaves
//! and six for a group above, and a stale bit per group: `r = 2 g_1 + 6 (g_2 + g_3 +
//! ...) + ceil((g_1 + g_2 + ...) / 64)`. That is exactly 2 bits per unit for the two
//! maps, `1/63 ≈ 0.0159` bits per unit for the summary and about 0.5 for the tree (more
//! for a space of a few leaves, whose levels are rounded up to whole groups), 2.52 bits
//! per unit (a region's granule) at 2^20 units. Sizes are exact: no request is rounded
//! up.
//!
//! Beside the words, the backend keeps a floor per count of at most 64 units and for a
//! few larger counts, each at one alignment (see `floors.rs`, 304 bytes whatever the
//! space's size): an offset no fit of that request lies below, raised by the searches
//! and lowered by the frees that make new fits.
//!
//! Cost: the search returns the *lowest* fitting offset. A small request first scans the
//! few words from its count's floor (or the window's start, if higher) (word-level, full words skipped through the
//! summary); then the run tree gives the lowest run long enough in `O(log n)`, so the
//! cost does not grow with the space, also when the only fit is at its far end. An
//! aligned request checks its alignment on each long-enough free run the descent meets,
//! and past one whose aligned part is too short goes on from there, without a new
//! descent (and past one at a node's start, straight down to the deepest node that
//! starts there and ends past it). Claim and free are `O(count / 64)` plus the summary update and
//! the tree's: while searches keep needing the tree, at once a plain store per tree
//! entry wholly inside the change and a join of four siblings per end per level up to
//! where its ends meet, then one per level up to the first where nothing moved (a
//! compare with the parent's stored runs instead where only a longest run moved; it
//! stays settled; a change of more than four leaves only if the searches before came
//! as close together, too); otherwise a plain store per tree entry
//! wholly inside the change (`O(count / 128)`) and, above its two ends, stale bits up
//! to the first ancestor already stale, which the next search that needs the tree
//! recomputes, `O(log n)` per change since the last one. A failing allocation costs what the search costs
//! (its error carries no occupancy figures). `stats` scans the maps,
//! `O(n / 64 + free extents)`.
//!
//! Hand-written word scans are used rather than `bitvec`: over 262 144 units filled to
//! ~50 % with random holes, a lowest-fit search for 1-16 units took 13 ns by hand and 31 ns
//! with `BitSlice::first_zero`/`first_one` (same algorithm), a whole allocate+free pair
//! 32 ns against 57 ns (release build, x86-64, one throwaway run; not a test).
//!
//! ```
//! use contig_allocators::{Backend, Error, Request, bitmap::Bitmap};
//!
//! // 1000 units whose offset 0 is absolute unit 5 (an unaligned base).
//! let mut map = Bitmap::new(1000, 5).unwrap();
//! let a = map.allocate(Request::new(100).aligned(128)).unwrap();
//! assert_eq!(a, 123); // absolute unit 128
//! let b = map.allocate(Request::new(3)).unwrap();
//! assert_eq!(b, 0); // the lowest fitting offset
//! assert_eq!(map.free(a + 1, 99), Err(Error::NotAllocationStart { start: a + 1 }));
//! assert_eq!(map.free(a, 99), Err(Error::WrongCount { start: a, count: 99, actual: 100 }));
//! map.free(a, 100).unwrap();
//! assert_eq!(map.free(a, 100), Err(Error::NotAllocated { start: a }));
//! assert_eq!(map.stats().free, 997);
//! ```

#![forbid(unsafe_code)]

mod floors;
mod runs;
mod search;
mod summary;
mod words;

use crate::fallible::{OutOfMemory, try_boxed_slice};
use alloc::boxed::Box;
use core::fmt;

use crate::{Backend, Error, Extent, Request, Stats, Window, check_range};
use floors::Floors;
use runs::{Demand, RunTree};
use summary::Summary;
use words::BITS;

/// Where each part of a bitmap's metadata lies in its words, for a space of a given
/// number of units: the used map, the start map, the summary levels, the run tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Layout {
    /// Words of each of the two maps.
    map: usize,
    /// Words of the summary levels (they follow the two maps).
    summary_words: usize,
    /// All words: the run tree's follow the summary's.
    total: usize,
    summary: Summary,
    runs: RunTree,
}

/// A bitmap's metadata, borrowed for a read.
#[derive(Clone, Copy)]
struct Parts<'a> {
    used: &'a [u64],
    starts: &'a [u64],
    summary: &'a [u64],
    tree: &'a [u64],
}

/// A bitmap's metadata, borrowed for a change.
struct PartsMut<'a> {
    used: &'a mut [u64],
    starts: &'a mut [u64],
    summary: &'a mut [u64],
    tree: &'a mut [u64],
}

impl Layout {
    /// The layout of a space of `capacity` units.
    const fn of(capacity: usize) -> Self {
        let map = capacity.div_ceil(BITS);
        let summary = Summary::new(map);
        let runs = RunTree::new(map);
        let summary_words = summary.words();
        Self {
            map,
            summary_words,
            total: 2 * map + summary_words + runs.words(),
            summary,
            runs,
        }
    }

    /// Lays out an empty space of `capacity` units (this layout's) in `words`, which
    /// holds at least [`total`](Self::total) words: all of them cleared, the used map's
    /// padding bits past the last unit set, the summary's padding set, the run tree
    /// built. Words past the total are left alone.
    const fn init(&self, capacity: usize, words: &mut [u64]) {
        let mut i = 0;
        while i < self.total && i < words.len() {
            words[i] = 0;
            i += 1;
        }
        let Some((maps, rest)) = words.split_at_mut_checked(2 * self.map) else {
            return;
        };
        words::assign_range(maps, capacity, self.map * BITS, true);
        let Some((summary, tree)) = rest.split_at_mut_checked(self.summary_words) else {
            return;
        };
        self.summary.init(summary);
        if let Some((used, _)) = maps.split_at_checked(self.map) {
            self.runs.init(used, tree);
        }
    }

    /// The parts of `words`, which holds at least [`total`](Self::total) words: every
    /// constructor checks that before it lays the words out, and no storage a bitmap can
    /// hold changes its length, so the splits below are in bounds. (Splits that fall back
    /// to empty parts cost 5 % more instructions per allocate+free pair, for no input
    /// that could take the fallback.)
    #[inline]
    fn parts<'a>(&self, words: &'a [u64]) -> Parts<'a> {
        let (maps, rest) = words.split_at(2 * self.map);
        let (used, starts) = maps.split_at(self.map);
        let (summary, tree) = rest.split_at(self.summary_words);
        Parts {
            used,
            starts,
            summary,
            tree,
        }
    }

    /// [`parts`](Self::parts) for a change.
    #[inline]
    fn parts_mut<'a>(&self, words: &'a mut [u64]) -> PartsMut<'a> {
        let (maps, rest) = words.split_at_mut(2 * self.map);
        let (used, starts) = maps.split_at_mut(self.map);
        let (summary, tree) = rest.split_at_mut(self.summary_words);
        PartsMut {
            used,
            starts,
            summary,
            tree,
        }
    }
}

/// A bitmap allocator over a fixed space of units: a used bit and a start-of-allocation
/// bit per unit plus a summary of full words. Returns the lowest fitting offset; the
/// number of live allocations is unbounded (never [`Error::TooManyAllocations`]).
///
/// `S` holds the metadata, [`Bitmap::words_for`]`(capacity)` `u64` words laid out the
/// same way whatever holds them: a boxed slice sized by [`Bitmap::new`] (the default),
/// caller storage given to the `const fn` [`Bitmap::with_storage`], or an inline array
/// built by the `const fn` [`Bitmap::inline`], so that a bitmap can live in a `static`
/// and serve allocations before any heap exists. Every form runs the same code and
/// gives the same answers to the same operations.
#[derive(Clone, Debug)]
pub struct Bitmap<S = Box<[u64]>> {
    words: S,
    core: Core,
}

/// Everything of a bitmap but its words: their layout and the counters. All the
/// algorithms are `Core`'s, over the words as a plain slice, so they are compiled once
/// in this crate (and inlined into each other there) whatever holds the words; the
/// generic [`Bitmap`] only hands its words over.
#[derive(Clone, Copy, Debug)]
struct Core {
    layout: Layout,
    capacity: usize,
    phase: usize,
    free: usize,
    live: usize,
    /// How recently searches needed the run tree: while they keep needing it, changes
    /// are joined into it at once; otherwise they only mark it stale.
    demand: Demand,
    /// Per small count, an offset below which it has no fit: where its searches start.
    floors: Floors,
}

impl Bitmap {
    /// The `u64` words of metadata a space of `capacity` units needs, laid out in the
    /// storage of every form of the backend (the formula is in the
    /// [module documentation](self)): what [`new`](Self::new) allocates, the least
    /// storage [`with_storage`](Self::with_storage) accepts, the least array length
    /// [`inline`](Self::inline) accepts.
    ///
    /// ```
    /// use contig_allocators::bitmap::Bitmap;
    ///
    /// assert_eq!(Bitmap::words_for(0), 0);
    /// assert_eq!(Bitmap::words_for(64), 2 + 1); // two maps of one word, one summary word
    /// // And a tree: a word of stale bits, two groups of four leaves, the group above.
    /// assert_eq!(Bitmap::words_for(1000), 2 * 16 + 1 + 1 + 2 * 2 + 6);
    /// ```
    #[must_use]
    pub const fn words_for(capacity: usize) -> usize {
        Layout::of(capacity).total
    }

    /// An empty space of `capacity` units whose offset 0 is absolute unit `phase`
    /// (alignment is relative to absolute unit 0). All metadata is allocated here:
    /// [`words_for(capacity)`](Self::words_for) words.
    ///
    /// # Errors
    ///
    /// [`OutOfMemory`] when the metadata (about `capacity / 4` bytes) cannot be
    /// allocated.
    pub fn new(capacity: usize, phase: usize) -> Result<Self, OutOfMemory> {
        let layout = Layout::of(capacity);
        let mut words = try_boxed_slice(layout.total, || 0u64, "bitmap words")?;
        layout.init(capacity, &mut words);
        Ok(Self::laid_out(words, layout, capacity, phase))
    }
}

/// The storage given to [`Bitmap::with_storage`] or [`Bitmap::inline`] is shorter than
/// the metadata of its capacity ([`Bitmap::words_for`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooFewWords {
    /// The capacity asked for, in units.
    pub capacity: usize,
    /// Words that capacity needs.
    pub needed: usize,
    /// Words given.
    pub given: usize,
}

impl fmt::Display for TooFewWords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bitmap storage of {} words, {} needed for {} units",
            self.given, self.needed, self.capacity
        )
    }
}

impl core::error::Error for TooFewWords {}

impl<'a> Bitmap<&'a mut [u64]> {
    /// [`new`](Bitmap::new) over caller storage instead of the heap: a `const fn` that
    /// never touches an allocator, for memory a kernel sets aside before its heap exists
    /// (a `static` array, early boot memory). `storage` must hold at least
    /// [`words_for(capacity)`](Bitmap::words_for) words; whatever it holds is
    /// overwritten, and words past that many are left alone (but counted in
    /// `metadata_bytes`).
    ///
    /// ```
    /// use contig_allocators::{Backend, Error, Request, bitmap::{Bitmap, TooFewWords}};
    ///
    /// let mut storage = [0xdead_beef_u64; Bitmap::words_for(1000)];
    /// let mut map = Bitmap::with_storage(&mut storage, 1000, 5).unwrap();
    /// let a = map.allocate(Request::new(100).aligned(128)).unwrap();
    /// assert_eq!(a, 123); // absolute unit 128, as on the heap
    /// map.free(a, 100).unwrap();
    /// assert_eq!(map.free(a, 100), Err(Error::NotAllocated { start: a }));
    ///
    /// let mut short = [0; Bitmap::words_for(1000) - 1];
    /// assert_eq!(
    ///     Bitmap::with_storage(&mut short, 1000, 5).unwrap_err(),
    ///     TooFewWords { capacity: 1000, needed: Bitmap::words_for(1000), given: short.len() },
    /// );
    /// ```
    ///
    /// # Errors
    ///
    /// [`TooFewWords`] when `storage` is shorter than `words_for(capacity)`; it is left
    /// untouched then.
    pub const fn with_storage(
        storage: &'a mut [u64],
        capacity: usize,
        phase: usize,
    ) -> Result<Self, TooFewWords> {
        let layout = Layout::of(capacity);
        if storage.len() < layout.total {
            return Err(TooFewWords {
                capacity,
                needed: layout.total,
                given: storage.len(),
            });
        }
        layout.init(capacity, storage);
        Ok(Self::laid_out(storage, layout, capacity, phase))
    }
}

impl<const W: usize> Bitmap<[u64; W]> {
    /// [`new`](Bitmap::new) over an inline array of `W` words instead of the heap: a
    /// `const fn`, so the backend can be a `static`'s initializer (or part of one, with
    /// no `static mut`) and never touches an allocator. `W` must be at least
    /// [`words_for(capacity)`](Bitmap::words_for); a larger array is accepted (and
    /// counted in `metadata_bytes`), its words past that many never used.
    ///
    /// ```
    /// use contig_allocators::{Backend, Request, bitmap::Bitmap};
    ///
    /// const WORDS: usize = Bitmap::words_for(1000);
    /// // Any lock with a `const` constructor; a kernel uses its own (a spin lock).
    /// static EARLY: std::sync::Mutex<Bitmap<[u64; WORDS]>> =
    ///     std::sync::Mutex::new(match Bitmap::inline(1000, 0) {
    ///         Ok(backend) => backend,
    ///         Err(_) => panic!("too few words"), // evaluated at compile time
    ///     });
    ///
    /// let mut map = EARLY.lock().unwrap();
    /// let a = map.allocate(Request::new(10)).unwrap();
    /// map.free(a, 10).unwrap();
    /// assert_eq!(map.stats().free, 1000);
    /// assert_eq!(map.stats().metadata_bytes, 8 * WORDS);
    /// ```
    ///
    /// # Errors
    ///
    /// [`TooFewWords`] when `W` is below `words_for(capacity)`.
    pub const fn inline(capacity: usize, phase: usize) -> Result<Self, TooFewWords> {
        let layout = Layout::of(capacity);
        if W < layout.total {
            return Err(TooFewWords {
                capacity,
                needed: layout.total,
                given: W,
            });
        }
        let mut words = [0; W];
        layout.init(capacity, &mut words);
        Ok(Self::laid_out(words, layout, capacity, phase))
    }
}

impl<S> Bitmap<S> {
    /// The empty bitmap over `words`, which `layout` was just initialized in.
    const fn laid_out(words: S, layout: Layout, capacity: usize, phase: usize) -> Self {
        Self {
            words,
            core: Core {
                layout,
                capacity,
                phase,
                free: capacity,
                live: 0,
                demand: Demand::new(),
                floors: Floors::new(),
            },
        }
    }
}

impl PartsMut<'_> {
    /// The same parts, for a read.
    fn read(&self) -> Parts<'_> {
        Parts {
            used: self.used,
            starts: self.starts,
            summary: self.summary,
            tree: self.tree,
        }
    }
}

impl Core {
    /// Marks `[start, start + count)` as one allocation (range checked and free).
    #[inline(always)]
    fn mark(&mut self, parts: PartsMut<'_>, start: usize, count: usize) {
        words::assign_range(parts.used, start, start + count, true);
        words::assign(parts.starts, start, true);
        let demand = self.demand.change();
        self.layout.refresh(parts, (start, count), true, demand);
        self.free -= count;
        self.live += 1;
    }

    /// Releases the allocation `[start, start + count)` (validated).
    #[inline]
    fn unmark(&mut self, parts: PartsMut<'_>, start: usize, count: usize) {
        words::assign_range(parts.used, start, start + count, false);
        words::assign(parts.starts, start, false);
        self.floors.lower(parts.used, start, start + count);
        let demand = self.demand.change();
        self.layout.refresh(parts, (start, count), false, demand);
        self.free += count;
        self.live -= 1;
    }

    fn allocate(&mut self, words: &mut [u64], request: Request) -> Result<usize, Error> {
        let window = request.validate(self.capacity)?;
        let (count, align) = (request.count(), request.align());
        let floor = self.floors.of(count, align);
        // With the search from the floor, the answer is the lowest fit of this count and
        // alignment anywhere: no such fit starts below it (nor in it once it is taken),
        // or, without one, none starts before the window's end. (The floors of small
        // counts take only answers at alignment 1: see `Floors::raise`.)
        let exact = window.lo <= floor;
        let found = if floor >= window.hi {
            None
        } else {
            let from = Window::new(window.lo.max(floor), window.hi);
            self.lowest_fit(words, count, align, from)
        };
        match found {
            Some(start) => {
                // A fit within a word of the floor is found again as cheaply from the
                // floor as from a raised one, and the free that usually follows would
                // only lower it back: raising pays only past that.
                if exact && start + count >= floor + BITS {
                    self.floors.raise(count, align, start + count);
                }
                self.mark(self.layout.parts_mut(words), start, count);
                Ok(start)
            }
            None => {
                if exact {
                    self.floors.raise(
                        count,
                        align,
                        window.hi.checked_sub(count).map_or(0, |s| s + 1),
                    );
                }
                Err(Error::NoSpace { count, align })
            }
        }
    }

    fn claim(&mut self, words: &mut [u64], start: usize, count: usize) -> Result<(), Error> {
        check_range(start, count, self.capacity)?;
        let parts = self.layout.parts_mut(words);
        if let Some(first_busy) = words::first_set(parts.used, start, start + count) {
            return Err(Error::RangeBusy {
                start,
                count,
                first_busy,
            });
        }
        self.mark(parts, start, count);
        Ok(())
    }

    fn free(&mut self, words: &mut [u64], start: usize, count: usize) -> Result<(), Error> {
        check_range(start, count, self.capacity)?;
        let parts = self.layout.parts_mut(words);
        let read = parts.read();
        if !words::test(read.used, start) {
            return Err(Error::NotAllocated { start });
        }
        if !words::test(read.starts, start) {
            return Err(Error::NotAllocationStart { start });
        }
        let actual = read.allocation_len(&self.layout, self.capacity, start);
        if actual != count {
            return Err(Error::WrongCount {
                start,
                count,
                actual,
            });
        }
        self.unmark(parts, start, count);
        Ok(())
    }

    fn stats(&self, words: &[u64]) -> Stats {
        let parts = self.layout.parts(words);
        let (largest_free, free_extents) = parts.free_runs(&self.layout, self.capacity);
        Stats {
            capacity: self.capacity,
            free: self.free,
            largest_free,
            free_extents,
            live_allocations: self.live,
            metadata_bytes: size_of_val(words),
        }
    }

    fn for_each_allocation(&self, words: &[u64], f: &mut dyn FnMut(Extent)) {
        let parts = self.layout.parts(words);
        let mut at = 0;
        while let Some(start) = words::first_set(parts.starts, at, self.capacity) {
            let count = parts.allocation_len(&self.layout, self.capacity, start);
            f(Extent::new(start, count));
            at = start + count;
        }
    }
}

impl Layout {
    /// Brings the summary and the run tree up to `[start, start + count)` having become
    /// all used (`used`) or all free; the tree at once if `demand` asks for that (and
    /// it is settled).
    #[inline]
    fn refresh(
        &self,
        parts: PartsMut<'_>,
        (start, count): (usize, usize),
        used: bool,
        demand: Demand,
    ) {
        let first = start / BITS;
        let last = (start + count - 1) / BITS;
        self.summary
            .refresh(parts.used, parts.summary, (first, last), used);
        let range = (start, start + count);
        self.runs.mark(parts.used, parts.tree, range, used, demand);
    }
}

impl Parts<'_> {
    /// The length of the allocation starting at `start` (a used unit with a start bit),
    /// in a space of `capacity` units: its used units up to the next free unit or the
    /// next start bit.
    fn allocation_len(&self, layout: &Layout, capacity: usize, start: usize) -> usize {
        let used_end = search::next_free(self.used, self.summary, &layout.summary, start + 1)
            .unwrap_or(capacity);
        let end = words::first_set(self.starts, start + 1, used_end).unwrap_or(used_end);
        end - start
    }

    /// The first used unit at offset `>= from`, or the capacity.
    fn next_used(&self, capacity: usize, from: usize) -> usize {
        words::first_set(self.used, from, capacity).unwrap_or(capacity)
    }

    /// `(largest free extent, number of free extents)`, by walking the free runs.
    fn free_runs(&self, layout: &Layout, capacity: usize) -> (usize, usize) {
        let (mut largest, mut extents) = (0, 0);
        let mut at = 0;
        while let Some(free) = search::next_free(self.used, self.summary, &layout.summary, at) {
            let end = self.next_used(capacity, free);
            largest = largest.max(end - free);
            extents += 1;
            at = end;
        }
        (largest, extents)
    }
}

impl<S: AsRef<[u64]> + AsMut<[u64]>> Backend for Bitmap<S> {
    fn name(&self) -> &'static str {
        "bitmap"
    }

    fn capacity(&self) -> usize {
        self.core.capacity
    }

    fn allocate(&mut self, request: Request) -> Result<usize, Error> {
        self.core.allocate(self.words.as_mut(), request)
    }

    fn claim(&mut self, start: usize, count: usize) -> Result<(), Error> {
        self.core.claim(self.words.as_mut(), start, count)
    }

    fn free(&mut self, start: usize, count: usize) -> Result<(), Error> {
        self.core.free(self.words.as_mut(), start, count)
    }

    fn stats(&self) -> Stats {
        self.core.stats(self.words.as_ref())
    }

    fn for_each_allocation(&self, f: &mut dyn FnMut(Extent)) {
        self.core.for_each_allocation(self.words.as_ref(), f);
    }
}

#[cfg(test)]
mod tests;
