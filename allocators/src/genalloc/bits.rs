//! The lock-free occupancy map of one chunk: per unit a "used" bit and a "starts an
//! allocation" bit, packed into the same `AtomicUsize` word.
//!
//! This module owns every atomic transition of a unit and the protocol that keeps
//! concurrent claims and frees from ever losing or doubling a unit. It never searches
//! for space (that is [`algorithm`](super::algorithm)) and never sees addresses.
//!
//! # Word layout
//!
//! A word covers [`UNITS_PER_WORD`] units (half the word's bits, so 16 units on 32-bit
//! targets, whose only atomics are 32 bits wide): the low half holds the used bits, the
//! high half the start bits. Keeping both bits of a unit in one word lets a single
//! compare-exchange move a unit between the four states:
//!
//! | used | start | state                                                      |
//! |------|-------|------------------------------------------------------------|
//! | 0    | 0     | free                                                       |
//! | 1    | 1     | first unit of an allocation                                |
//! | 1    | 0     | later unit of an allocation                                |
//! | 0    | 1     | first unit of an allocation that is being freed (tombstone) |
//!
//! # Protocol
//!
//! Every run in flight looks like a committed allocation cut short: a prefix that
//! begins with a start (or tombstone) unit. A claim sets the run's first word (used bits
//! *and* the start bit, in one compare-exchange) before the later words; a roll-back or
//! a free clears the later words from the last one down and the first word last. So a
//! reader that walks an allocation forward from its start bit always stops at the
//! allocation's true end: the unit after it is free, a start, or a tombstone, never a
//! stray "later unit". A free first turns the start unit into a tombstone with a
//! compare-exchange on the exact word it validated; that is the single point where one
//! of two racing frees of the same block wins and the other sees `NotAllocated`. A
//! block inside one word has no later words to clear, so its free skips the tombstone:
//! that one compare-exchange clears all its bits.
//!
//! A word that lies wholly inside the run being claimed or released needs no retry
//! loop: it can only be claimed from 0, by one compare-exchange, and while its owner
//! holds it nobody else writes it, so it is released by a plain store of 0. A large
//! block therefore costs one atomic read-modify-write per word to claim and none for
//! its middle words to free.
//!
//! The protocol is what the [`Shared`] access does. Every transition is written once,
//! generic over [`Access`]; with [`Exclusive`](super::access::Exclusive) access (a
//! [`GenBackend`](super::GenBackend) through `&mut self`) each compare-exchange is a
//! load, a compare and a store, and the same checks and the same states result: no
//! other thread can see the states in between.
#![forbid(unsafe_code)]

use crate::fallible::{OutOfMemory, try_boxed_slice};
use alloc::boxed::Box;

use super::access::{Access, Shared};
use super::summary::Summary;
use super::sync::{AtomicUsize, Ordering};

/// Units covered by one bitmap word.
pub(crate) const UNITS_PER_WORD: usize = (usize::BITS / 2) as usize;

/// The low half of a word: the used bits.
pub(crate) const USED_HALF: usize = usize::MAX >> UNITS_PER_WORD;

/// The units of a word that are in use or tombstoned, as a mask over the low half.
const fn busy(word: usize) -> usize {
    (word | (word >> UNITS_PER_WORD)) & USED_HALF
}

/// Units of a word that continue an allocation (used, no start bit).
const fn continuing(word: usize) -> usize {
    word & !(word >> UNITS_PER_WORD) & USED_HALF
}

/// Mask of the units `[from, to)` of a word; `from < to <= UNITS_PER_WORD`.
const fn span(from: usize, to: usize) -> usize {
    (USED_HALF >> (UNITS_PER_WORD - (to - from))) << from
}

/// Why a free was refused, in unit terms; callers add addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FreeError {
    /// The unit is free (or its block is already being freed).
    NotAllocated,
    /// The unit is inside a block but does not start one.
    NotAllocationStart,
    /// The block at the unit has `actual` units.
    WrongCount {
        /// Units of the block.
        actual: usize,
    },
}

/// Occupancy figures of a bitmap; exact when nothing runs concurrently.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Census {
    /// Free units.
    pub(crate) free: usize,
    /// Longest run of free units.
    pub(crate) largest_free: usize,
    /// Maximal runs of free units.
    pub(crate) free_extents: usize,
    /// Allocations (start bits on used units).
    pub(crate) allocations: usize,
}

/// The atomic occupancy map of `units` units, with its free-run summary.
pub(crate) struct Bitmap {
    words: Box<[AtomicUsize]>,
    units: usize,
    /// Told of every committed change of the words (see [`Summary`]).
    summary: Option<Summary>,
}

impl Bitmap {
    /// An all-free map of `units` units (allocates its words: setup time only).
    pub(crate) fn new(units: usize) -> Result<Self, OutOfMemory> {
        let len = units.div_ceil(UNITS_PER_WORD);
        let mut map = Self {
            words: try_boxed_slice(len, || AtomicUsize::new(0), "genalloc words")?,
            units,
            summary: None,
        };
        map.summary = Summary::new(&map)?;
        Ok(map)
    }

    /// The free-run summary, for maps of two leaves or more.
    pub(crate) const fn summary(&self) -> Option<&Summary> {
        self.summary.as_ref()
    }

    /// Tells the summary that the units `[start, end)` changed state: `claimed` when
    /// this thread just claimed them all, as one allocation it still holds.
    fn changed<A: Access>(&self, start: usize, end: usize, claimed: bool) {
        if let Some(summary) = &self.summary {
            summary.changed::<A>(self, start, end, claimed);
        }
    }

    /// The words and the summary's [state](Summary::state): the same for two maps that
    /// went through the same claims and frees.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn state(&self) -> alloc::vec::Vec<usize> {
        let mut state: alloc::vec::Vec<usize> = self
            .words
            .iter()
            .map(|w| w.load(Ordering::Relaxed))
            .collect();
        if let Some(summary) = &self.summary {
            state.extend(summary.state());
        }
        state
    }

    /// Units in the map.
    pub(crate) const fn units(&self) -> usize {
        self.units
    }

    /// Bytes of the words.
    pub(crate) fn metadata_bytes(&self) -> usize {
        self.words.len() * core::mem::size_of::<usize>()
            + self.summary.as_ref().map_or(0, Summary::bytes)
    }

    /// The word `w` (0 past the end, which callers never ask for).
    fn load<A: Access>(&self, w: usize) -> usize {
        self.words
            .get(w)
            .map_or(0, |word| word.load(A::order(Ordering::Acquire)))
    }

    /// Busy mask of word `w`, with the units past the end of the map marked busy so
    /// no search ever runs off the end.
    pub(crate) fn busy_word<A: Access>(&self, w: usize) -> usize {
        let mut b = busy(self.load::<A>(w));
        let first = w * UNITS_PER_WORD;
        if self.units < first + UNITS_PER_WORD {
            let valid = self.units.saturating_sub(first);
            b |= USED_HALF & !span_or_zero(0, valid);
        }
        b
    }

    /// Busy masks of the `N` words from `first`, all of whose units are inside the
    /// map; `None` when they are not (one bounds check for the lot).
    pub(crate) fn busy_inside<A: Access, const N: usize>(
        &self,
        first: usize,
    ) -> Option<[usize; N]> {
        let words = self.words.get(first..first.checked_add(N)?)?;
        let words = <&[AtomicUsize; N]>::try_from(words).ok()?;
        if (first + N) * UNITS_PER_WORD > self.units {
            return None;
        }
        Some(
            words
                .each_ref()
                .map(|w| busy(w.load(A::order(Ordering::Acquire)))),
        )
    }

    /// Whether unit `u` is used or tombstoned (units past the end are busy).
    #[cfg(test)]
    pub(crate) fn is_busy(&self, u: usize) -> bool {
        self.busy_word::<Shared>(u / UNITS_PER_WORD) >> (u % UNITS_PER_WORD) & 1 == 1
    }

    /// Whether unit `u` (< units) is used.
    pub(crate) fn is_used(&self, u: usize) -> bool {
        self.load::<Shared>(u / UNITS_PER_WORD) >> (u % UNITS_PER_WORD) & 1 == 1
    }

    /// The first unit in `[from, hi)` that is free, if any (`hi <= units`).
    pub(crate) fn next_free<A: Access>(&self, from: usize, hi: usize) -> Option<usize> {
        let mut u = from;
        while u < hi {
            let (w, bit) = (u / UNITS_PER_WORD, u % UNITS_PER_WORD);
            let free = !self.busy_word::<A>(w) & USED_HALF & !span_or_zero(0, bit);
            if free != 0 {
                let found = w * UNITS_PER_WORD + free.trailing_zeros() as usize;
                return (found < hi).then_some(found);
            }
            u = (w + 1) * UNITS_PER_WORD;
        }
        None
    }

    /// The first unit in `[from, hi)` that is busy, or `hi` (`hi <= units`).
    pub(crate) fn next_busy<A: Access>(&self, from: usize, hi: usize) -> usize {
        let mut u = from;
        while u < hi {
            let (w, bit) = (u / UNITS_PER_WORD, u % UNITS_PER_WORD);
            let b = self.busy_word::<A>(w) & !span_or_zero(0, bit);
            if b != 0 {
                return (w * UNITS_PER_WORD + b.trailing_zeros() as usize).min(hi);
            }
            u = (w + 1) * UNITS_PER_WORD;
        }
        hi
    }

    /// The last busy unit in `[from, to)`, if any (`to <= units`).
    pub(crate) fn last_busy<A: Access>(&self, from: usize, to: usize) -> Option<usize> {
        let mut end = to;
        while end > from {
            let w = (end - 1) / UNITS_PER_WORD;
            let first = w * UNITS_PER_WORD;
            let lo = from.max(first) - first;
            let b = self.busy_word::<A>(w) & span(lo, end - first);
            if b != 0 {
                return Some(first + (usize::BITS - 1 - b.leading_zeros()) as usize);
            }
            end = first;
        }
        None
    }

    /// Claims `[start, start + count)` as one allocation (`count > 0`, in bounds).
    ///
    /// # Errors
    ///
    /// The first busy unit met, after every word already claimed was released again.
    #[cfg(test)]
    pub(crate) fn claim(&self, start: usize, count: usize) -> Result<(), usize> {
        self.claim_as::<Shared>(start, count)
    }

    /// [`claim`](Self::claim) with access `A` (see [`Access`]).
    ///
    /// # Errors
    ///
    /// As [`claim`](Self::claim).
    pub(crate) fn claim_as<A: Access>(&self, start: usize, count: usize) -> Result<(), usize> {
        let end = start + count;
        let (first, from) = (start / UNITS_PER_WORD, start % UNITS_PER_WORD);
        let last = (end - 1) / UNITS_PER_WORD;
        let head_to = if first == last {
            end - first * UNITS_PER_WORD
        } else {
            UNITS_PER_WORD
        };
        let head = span(from, head_to);
        self.set_word::<A>(first, head, head | 1 << (from + UNITS_PER_WORD))
            .map_err(|conflict| first * UNITS_PER_WORD + conflict.trailing_zeros() as usize)?;
        if first < last {
            // The words between the first and the last are covered whole: each is
            // claimed from 0 or not at all, without the general word's retry loop.
            let Some(middle) = self.words.get(first + 1..last) else {
                self.clear_run::<A>(start, (first + 1) * UNITS_PER_WORD);
                return Err((first + 1) * UNITS_PER_WORD);
            };
            // With exclusive access nobody writes between the reads and the stores: a
            // middle found all free at once is claimed by plain stores; any conflict is
            // left to the loop, which reports it and rolls back.
            if A::ONLY_USER
                && middle
                    .iter()
                    .fold(0, |seen, word| seen | word.load(Ordering::Relaxed))
                    == 0
            {
                for word in middle {
                    word.store(USED_HALF, Ordering::Relaxed);
                }
            } else {
                for (w, word) in (first + 1..).zip(middle) {
                    if let Err(now) =
                        A::compare_exchange(word, 0, USED_HALF, Ordering::AcqRel, Ordering::Acquire)
                    {
                        self.clear_run::<A>(start, w * UNITS_PER_WORD);
                        return Err(w * UNITS_PER_WORD + busy(now).trailing_zeros() as usize);
                    }
                }
            }
            let tail = span(0, end - last * UNITS_PER_WORD);
            if let Err(conflict) = self.set_word::<A>(last, tail, tail) {
                self.clear_run::<A>(start, last * UNITS_PER_WORD);
                return Err(last * UNITS_PER_WORD + conflict.trailing_zeros() as usize);
            }
        }
        self.changed::<A>(start, end, true);
        Ok(())
    }

    /// Sets `set` in word `w` if none of the units in `mask` is busy; otherwise returns
    /// the busy ones. Retries only when *other* units of the word changed.
    ///
    /// A word the claim covers whole can only be claimed from 0 (any other value has a
    /// busy unit in it), so it takes one compare-exchange against 0 and no retry: a
    /// large block costs one atomic operation per word.
    fn set_word<A: Access>(&self, w: usize, mask: usize, set: usize) -> Result<(), usize> {
        let Some(word) = self.words.get(w) else {
            return Err(mask);
        };
        if mask == USED_HALF {
            return match A::compare_exchange(word, 0, set, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => Ok(()),
                Err(now) => Err(busy(now)),
            };
        }
        let mut current = word.load(Ordering::Relaxed);
        loop {
            let conflict = busy(current) & mask;
            if conflict != 0 {
                return Err(conflict);
            }
            match A::compare_exchange(
                word,
                current,
                current | set,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(now) => current = now,
            }
        }
    }

    /// Releases the units `[start, end)` (`start < end`) of one run the caller owns, last word first
    /// and the word with the start bit last (see the module docs).
    ///
    /// A word whose every unit is in the run holds no bit of anyone else, and nobody
    /// else writes it while the caller owns it (a claim or free that reads it finds
    /// every unit busy or not its start, and leaves it), so it is released by a store
    /// of 0 rather than a read-modify-write: no atomic operation for the middle of a
    /// large block.
    fn clear_run<A: Access>(&self, start: usize, end: usize) {
        let (first, from) = (start / UNITS_PER_WORD, start % UNITS_PER_WORD);
        let last = (end - 1) / UNITS_PER_WORD;
        let start_bit = 1 << (from + UNITS_PER_WORD);
        if first == last {
            self.clear_word::<A>(first, span(from, end - first * UNITS_PER_WORD) | start_bit);
            return;
        }
        self.clear_word::<A>(last, span(0, end - last * UNITS_PER_WORD));
        if let Some(middle) = self.words.get(first + 1..last) {
            for word in middle.iter().rev() {
                word.store(0, A::order(Ordering::Release));
            }
        }
        self.clear_word::<A>(first, span(from, UNITS_PER_WORD) | start_bit);
    }

    /// Clears the bits `clear` of word `w`, all of them the caller's: a store of 0 when
    /// they cover every unit of the word (see [`clear_run`](Self::clear_run)).
    fn clear_word<A: Access>(&self, w: usize, clear: usize) {
        if let Some(word) = self.words.get(w) {
            if clear & USED_HALF == USED_HALF {
                word.store(0, A::order(Ordering::Release));
            } else {
                A::and(word, !clear, Ordering::Release);
            }
        }
    }

    /// First half of a free: validates the block of `count` units at `start` and takes
    /// ownership of it by turning its start into a tombstone. The units stay busy until
    /// [`finish_release`](Self::finish_release).
    ///
    /// # Errors
    ///
    /// [`FreeError`] in the order: unit free, not a start, another size.
    pub(crate) fn begin_release<A: Access>(
        &self,
        start: usize,
        count: usize,
    ) -> Result<(), FreeError> {
        self.take_block::<A>(start, count, 1 << (start % UNITS_PER_WORD))
    }

    /// Validates the block of `count` units at `start` and takes ownership of it by
    /// clearing the bits `clear` of its first word, in the one compare-exchange on the
    /// exact word it validated (`clear` holds the start unit's used bit, so a racing
    /// free of the same block finds it not allocated).
    ///
    /// # Errors
    ///
    /// As [`begin_release`](Self::begin_release).
    ///
    /// Inlined into each caller: with one shared copy taking its mask at run time,
    /// frees that span words cost about thirty instructions more.
    #[inline(always)]
    fn take_block<A: Access>(
        &self,
        start: usize,
        count: usize,
        clear: usize,
    ) -> Result<(), FreeError> {
        let (w, bit) = (start / UNITS_PER_WORD, start % UNITS_PER_WORD);
        let Some(word) = self.words.get(w) else {
            return Err(FreeError::NotAllocated);
        };
        loop {
            let seen = word.load(A::order(Ordering::Acquire));
            if seen >> bit & 1 == 0 {
                return Err(FreeError::NotAllocated);
            }
            if seen >> (bit + UNITS_PER_WORD) & 1 == 0 {
                return Err(FreeError::NotAllocationStart);
            }
            let actual = self.run_len::<A>(start, seen);
            if actual != count {
                // The tail was read after `seen`; if the start word moved meanwhile (a
                // racing free of this block), the length may be torn: look again.
                if word.load(A::order(Ordering::Acquire)) != seen {
                    continue;
                }
                return Err(FreeError::WrongCount { actual });
            }
            // On exactly the word we validated: this is where the free takes
            // ownership; if anything in the word moved, validate again.
            if A::compare_exchange(
                word,
                seen,
                seen & !clear,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
            {
                return Ok(());
            }
        }
    }

    /// Second half of a free: releases the units of the block whose start
    /// [`begin_release`](Self::begin_release) tombstoned.
    pub(crate) fn finish_release<A: Access>(&self, start: usize, count: usize) {
        self.clear_run::<A>(start, start + count);
        self.changed::<A>(start, start + count, false);
    }

    /// [`begin_release`](Self::begin_release) and
    /// [`finish_release`](Self::finish_release) in one go.
    ///
    /// A block inside one word is validated and released by a single compare-exchange
    /// that clears its start and used bits at once: it has no later words to clear
    /// first, so the tombstone that guards them would only cost a second atomic
    /// read-modify-write on the same word.
    ///
    /// # Errors
    ///
    /// As [`begin_release`](Self::begin_release); the map is unchanged.
    ///
    /// Inline, so that the caller's free is one call fewer deep.
    #[inline]
    pub(crate) fn release(&self, start: usize, count: usize) -> Result<(), FreeError> {
        self.release_as::<Shared>(start, count)
    }

    /// [`release`](Self::release) with access `A` (see [`Access`]).
    ///
    /// # Errors
    ///
    /// As [`release`](Self::release).
    #[inline]
    pub(crate) fn release_as<A: Access>(
        &self,
        start: usize,
        count: usize,
    ) -> Result<(), FreeError> {
        let from = start % UNITS_PER_WORD;
        if count == 0 || from + count > UNITS_PER_WORD {
            self.begin_release::<A>(start, count)?;
            self.finish_release::<A>(start, count);
            return Ok(());
        }
        self.take_block::<A>(
            start,
            count,
            span(from, from + count) | 1 << (from + UNITS_PER_WORD),
        )?;
        self.changed::<A>(start, start + count, false);
        Ok(())
    }

    /// Length of the allocation that starts at `start`, whose word reads `first_word`.
    fn run_len<A: Access>(&self, start: usize, first_word: usize) -> usize {
        let (w, bit) = (start / UNITS_PER_WORD, start % UNITS_PER_WORD);
        let tail = (continuing(first_word) >> bit) >> 1;
        let mut len = 1 + tail.trailing_ones() as usize;
        if bit + len < UNITS_PER_WORD {
            return len;
        }
        for word in self.words.get(w + 1..).unwrap_or_default() {
            let word = word.load(A::order(Ordering::Acquire));
            // Every unit continues the allocation (used, no start) exactly when the
            // word is the used half alone: the middle of a large block.
            if word == USED_HALF {
                len += UNITS_PER_WORD;
                continue;
            }
            return len + continuing(word).trailing_ones() as usize;
        }
        len
    }

    /// Calls `f(start, count)` for each allocation, in ascending order.
    pub(crate) fn for_each_allocation(&self, f: &mut dyn FnMut(usize, usize)) {
        for w in 0..self.words.len() {
            let word = self.load::<Shared>(w);
            let mut starts = word & (word >> UNITS_PER_WORD) & USED_HALF;
            while starts != 0 {
                let bit = starts.trailing_zeros() as usize;
                starts &= starts - 1;
                let start = w * UNITS_PER_WORD + bit;
                f(start, self.run_len::<Shared>(start, word));
            }
        }
    }

    /// The longest run of free units: off the summary's root when it is settled
    /// (`O(1)`), otherwise counted by a scan.
    pub(crate) fn largest_free(&self) -> usize {
        self.summary
            .as_ref()
            .and_then(|summary| summary.longest_run::<Shared>(self))
            .unwrap_or_else(|| self.census().largest_free)
    }

    /// Free units, free runs and allocations, counted in one pass.
    pub(crate) fn census(&self) -> Census {
        let mut census = Census::default();
        let mut run = 0;
        for w in 0..self.words.len() {
            let word = self.load::<Shared>(w);
            census.allocations +=
                (word & (word >> UNITS_PER_WORD) & USED_HALF).count_ones() as usize;
            let valid = self
                .units
                .saturating_sub(w * UNITS_PER_WORD)
                .min(UNITS_PER_WORD);
            let mut free = !busy(word) & span_or_zero(0, valid);
            census.free += free.count_ones() as usize;
            let mut bit = 0;
            while bit < valid {
                if free & 1 == 1 {
                    let n = (free.trailing_ones() as usize).min(valid - bit);
                    run += n;
                    bit += n;
                    free >>= n; // n <= UNITS_PER_WORD, half the word width
                } else {
                    census.close_run(run);
                    run = 0;
                    let n = (free.trailing_zeros() as usize).min(valid - bit);
                    bit += n;
                    free >>= n; // n <= UNITS_PER_WORD, half the word width
                }
            }
        }
        census.close_run(run);
        census
    }
}

impl Census {
    fn close_run(&mut self, run: usize) {
        if run > 0 {
            self.free_extents += 1;
            self.largest_free = self.largest_free.max(run);
        }
    }
}

/// [`span`] that accepts an empty range (giving 0).
const fn span_or_zero(from: usize, to: usize) -> usize {
    if from < to { span(from, to) } else { 0 }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    const H: usize = UNITS_PER_WORD;

    /// A claim whose middle words are all free takes them with plain stores under
    /// exclusive access; one that meets a busy unit anywhere reports the first busy
    /// unit and leaves the words as they were, exactly as the shared claim does.
    #[test]
    fn exclusive_claims_across_words_match_shared_ones() {
        use crate::genalloc::access::Exclusive;
        let mut state = 0x5eed_u64;
        let mut next = |n: usize| crate::test_rng::below(&mut state, n);
        let units = 40 * H;
        let (exclusive, shared) = (Bitmap::new(units).unwrap(), Bitmap::new(units).unwrap());
        // Miri interprets every atomic access of the shared claims: fewer rounds there
        // (ten minutes for 2,000), the same checks.
        let rounds = if cfg!(miri) { 200 } else { 2000 };
        let mut conflicts = 0;
        for _ in 0..rounds {
            let count = 1 + next(8 * H);
            let start = next(units - count + 1);
            let got = exclusive.claim_as::<Exclusive>(start, count);
            assert_eq!(
                got,
                shared.claim_as::<Shared>(start, count),
                "{start} {count}"
            );
            conflicts += usize::from(got.is_err() && count > 2 * H);
            if got.is_ok() && next(2) == 0 {
                exclusive.release_as::<Exclusive>(start, count).unwrap();
                shared.release_as::<Shared>(start, count).unwrap();
            }
            assert_eq!(exclusive.state(), shared.state());
        }
        assert!(conflicts > rounds / 20, "{conflicts}");
    }

    fn runs(map: &Bitmap) -> Vec<(usize, usize)> {
        let mut v = vec![];
        map.for_each_allocation(&mut |s, c| v.push((s, c)));
        v
    }

    #[test]
    fn claims_and_frees_across_words() {
        let map = Bitmap::new(3 * H + 5).unwrap();
        map.claim(H - 2, H + 4).unwrap();
        map.claim(2 * H + 2, 3).unwrap();
        assert_eq!(runs(&map), vec![(H - 2, H + 4), (2 * H + 2, 3)]);
        assert_eq!(map.claim(H, 1), Err(H));
        assert_eq!(map.claim(2 * H + 4, 2), Err(2 * H + 4));
        // A failed claim left nothing behind.
        assert_eq!(runs(&map).len(), 2);
        assert_eq!(map.census().free, 3 * H + 5 - (H + 4) - 3);
        assert_eq!(map.release(H - 2, H + 4), Ok(()));
        assert_eq!(map.release(H - 2, H + 4), Err(FreeError::NotAllocated));
        assert_eq!(runs(&map), vec![(2 * H + 2, 3)]);
    }

    #[test]
    fn a_claim_that_meets_a_busy_word_gives_back_the_words_it_took() {
        let map = Bitmap::new(5 * H).unwrap();
        map.claim(2 * H + 3, 1).unwrap();
        map.claim(4 * H + 1, 1).unwrap();
        // Busy in a word the claim covers whole, then in its partial last word.
        assert_eq!(map.claim(H - 1, 3 * H), Err(2 * H + 3));
        assert_eq!(map.claim(3 * H, H + 2), Err(4 * H + 1));
        assert_eq!(runs(&map), vec![(2 * H + 3, 1), (4 * H + 1, 1)]);
        assert_eq!(map.census().free, 5 * H - 2);
        // Whole words come back whole: the block's units are all free again, and a
        // block over them measures its own length.
        map.claim(0, 2 * H + 3).unwrap();
        assert_eq!(map.release(0, 2 * H + 3), Ok(()));
        assert_eq!(map.census().free, 5 * H - 2);
        map.claim(1, 2 * H).unwrap();
        assert_eq!(runs(&map)[0], (1, 2 * H));
    }

    #[test]
    fn a_block_of_whole_words_ends_where_the_next_starts_on_a_word_boundary() {
        let map = Bitmap::new(4 * H).unwrap();
        map.claim(0, 2 * H).unwrap();
        map.claim(2 * H, H).unwrap();
        map.claim(3 * H, H).unwrap();
        assert_eq!(runs(&map), vec![(0, 2 * H), (2 * H, H), (3 * H, H)]);
        assert_eq!(map.release(0, 2 * H), Ok(()));
        assert_eq!(
            map.release(2 * H, 2 * H),
            Err(FreeError::WrongCount { actual: H })
        );
    }

    #[test]
    fn adjacent_allocations_keep_their_lengths() {
        let map = Bitmap::new(2 * H).unwrap();
        map.claim(0, H - 1).unwrap();
        map.claim(H - 1, 2).unwrap();
        map.claim(H + 1, 1).unwrap();
        assert_eq!(runs(&map), vec![(0, H - 1), (H - 1, 2), (H + 1, 1)]);
        assert_eq!(
            map.release(H - 1, 3),
            Err(FreeError::WrongCount { actual: 2 })
        );
        assert_eq!(map.release(H, 1), Err(FreeError::NotAllocationStart));
        assert_eq!(map.release(H + 2, 1), Err(FreeError::NotAllocated));
    }

    #[test]
    fn searches_treat_the_tail_as_busy() {
        let map = Bitmap::new(H + 3).unwrap();
        assert_eq!(map.next_busy::<Shared>(0, H + 3), H + 3);
        assert_eq!(map.next_free::<Shared>(H + 3, H + 3), None);
        map.claim(1, 2).unwrap();
        assert_eq!(map.next_free::<Shared>(1, H + 3), Some(3));
        assert_eq!(map.next_busy::<Shared>(0, H + 3), 1);
        assert_eq!(map.last_busy::<Shared>(0, H + 3), Some(2));
        assert_eq!(map.last_busy::<Shared>(3, H + 3), None);
        let c = map.census();
        assert_eq!(
            (c.free, c.free_extents, c.largest_free, c.allocations),
            (H + 1, 2, H, 1)
        );
    }

    #[test]
    fn empty_map_is_inert() {
        let map = Bitmap::new(0).unwrap();
        assert_eq!(map.census(), Census::default());
        assert_eq!(map.next_free::<Shared>(0, 0), None);
        assert_eq!(map.release(0, 1), Err(FreeError::NotAllocated));
        assert_eq!(map.metadata_bytes(), 0);
    }
}
