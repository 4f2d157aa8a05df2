//! How the claim, free, summary-update and search code writes a chunk's state: as one
//! of many threads that share it ([`Shared`], the lock-free protocol) or as its only
//! user ([`Exclusive`]).
//!
//! This module owns that choice and nothing else: every algorithm is written once,
//! generic over [`Access`], and monomorphised for each kind, so the two paths cannot
//! drift apart. It never decides what to write, only how.
//!
//! [`Shared`] is what [`GenPool`](super::GenPool) uses through `&self`: read-modify-writes
//! are atomic (compare-exchange, fetch-and, fetch-add, swap), fences and the
//! `tail_moves` bracket are kept, and loads and stores keep their orderings.
//!
//! [`Exclusive`] is what [`GenBackend`](super::GenBackend) uses, and only from methods
//! that take `&mut self`: no other thread can hold a reference to the chunk while they
//! run, so none can observe a state between two of their writes or write in between a
//! read and the write that depends on it. A read-modify-write is then a `Relaxed` load
//! and a `Relaxed` store (a plain move on every target, where an atomic one costs a
//! locked instruction or a load-linked/store-conditional loop), an ordering is
//! `Relaxed`, a fence is nothing, and the bracket that tells racing searches a tail
//! move is under way is left out, since there is no racing search. Whatever handed the
//! `&mut` over (a lock, a channel, a join) orders these writes before any later reader.
//! Nothing here is `unsafe`: misuse could only break genalloc's invariants, never
//! memory safety, and the `&mut` receivers rule that out.
#![forbid(unsafe_code)]

use super::sync::{AtomicUsize, Ordering, fence};

/// The kind of access to a chunk's words and summary: [`Shared`] or [`Exclusive`].
/// Each method does what the `AtomicUsize` method of the same name does, for the
/// kind of access; the orderings are the shared path's.
pub(crate) trait Access {
    /// Whether this is [`Exclusive`] access: no other thread can change the chunk
    /// between this caller's writes and its later reads.
    const ONLY_USER: bool;

    /// The ordering to use where the shared path uses `order`.
    fn order(order: Ordering) -> Ordering;

    /// `word.compare_exchange(current, new, success, failure)`.
    fn compare_exchange(
        word: &AtomicUsize,
        current: usize,
        new: usize,
        success: Ordering,
        failure: Ordering,
    ) -> Result<usize, usize>;

    /// `word.compare_exchange_weak(current, new, success, failure)`: may fail while
    /// the word reads `current` (shared access only), so it belongs in a retry loop.
    fn compare_exchange_weak(
        word: &AtomicUsize,
        current: usize,
        new: usize,
        success: Ordering,
        failure: Ordering,
    ) -> Result<usize, usize>;

    /// `word.fetch_and(mask, order)`, result unused.
    fn and(word: &AtomicUsize, mask: usize, order: Ordering);

    /// `word.fetch_add(n, order)`, result unused.
    fn add(word: &AtomicUsize, n: usize, order: Ordering);

    /// `word.fetch_sub(n, order)`, result unused.
    fn sub(word: &AtomicUsize, n: usize, order: Ordering);

    /// `word.swap(0, order)`.
    fn take(word: &AtomicUsize, order: Ordering) -> usize;

    /// `fence(order)`.
    fn fence(order: Ordering);

    /// Runs `inside`, a tail move, between an odd and the next even value of `moves`,
    /// so that a search that overlaps any of it sees `moves` change (see the
    /// `summary` module docs).
    fn bracket(moves: &AtomicUsize, inside: impl FnOnce());
}

/// Access by threads that share the chunk: the lock-free protocol as documented.
pub(crate) enum Shared {}

/// Access through `&mut` by the chunk's only user (see the module docs).
pub(crate) enum Exclusive {}

impl Access for Shared {
    const ONLY_USER: bool = false;

    #[inline(always)]
    fn order(order: Ordering) -> Ordering {
        order
    }

    #[inline(always)]
    fn compare_exchange(
        word: &AtomicUsize,
        current: usize,
        new: usize,
        success: Ordering,
        failure: Ordering,
    ) -> Result<usize, usize> {
        word.compare_exchange(current, new, success, failure)
    }

    #[inline(always)]
    fn compare_exchange_weak(
        word: &AtomicUsize,
        current: usize,
        new: usize,
        success: Ordering,
        failure: Ordering,
    ) -> Result<usize, usize> {
        word.compare_exchange_weak(current, new, success, failure)
    }

    #[inline(always)]
    fn and(word: &AtomicUsize, mask: usize, order: Ordering) {
        word.fetch_and(mask, order);
    }

    #[inline(always)]
    fn add(word: &AtomicUsize, n: usize, order: Ordering) {
        word.fetch_add(n, order);
    }

    #[inline(always)]
    fn sub(word: &AtomicUsize, n: usize, order: Ordering) {
        word.fetch_sub(n, order);
    }

    #[inline(always)]
    fn take(word: &AtomicUsize, order: Ordering) -> usize {
        word.swap(0, order)
    }

    #[inline(always)]
    fn fence(order: Ordering) {
        fence(order);
    }

    #[inline(always)]
    fn bracket(moves: &AtomicUsize, inside: impl FnOnce()) {
        let before = moves.load(Ordering::Relaxed);
        moves.store(before.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        inside();
        moves.store(before.wrapping_add(2), Ordering::Release);
    }
}

impl Access for Exclusive {
    const ONLY_USER: bool = true;

    #[inline(always)]
    fn order(_: Ordering) -> Ordering {
        Ordering::Relaxed
    }

    #[inline(always)]
    fn compare_exchange(
        word: &AtomicUsize,
        current: usize,
        new: usize,
        _: Ordering,
        _: Ordering,
    ) -> Result<usize, usize> {
        let seen = word.load(Ordering::Relaxed);
        if seen != current {
            return Err(seen);
        }
        word.store(new, Ordering::Relaxed);
        Ok(seen)
    }

    #[inline(always)]
    fn compare_exchange_weak(
        word: &AtomicUsize,
        current: usize,
        new: usize,
        success: Ordering,
        failure: Ordering,
    ) -> Result<usize, usize> {
        Self::compare_exchange(word, current, new, success, failure)
    }

    #[inline(always)]
    fn and(word: &AtomicUsize, mask: usize, _: Ordering) {
        Exclusive::replace(word, |seen| seen & mask);
    }

    #[inline(always)]
    fn add(word: &AtomicUsize, n: usize, _: Ordering) {
        Exclusive::replace(word, |seen| seen.wrapping_add(n));
    }

    #[inline(always)]
    fn sub(word: &AtomicUsize, n: usize, _: Ordering) {
        Exclusive::replace(word, |seen| seen.wrapping_sub(n));
    }

    #[inline(always)]
    fn take(word: &AtomicUsize, _: Ordering) -> usize {
        Exclusive::replace(word, |_| 0)
    }

    #[inline(always)]
    fn fence(_: Ordering) {}

    #[inline(always)]
    fn bracket(_: &AtomicUsize, inside: impl FnOnce()) {
        inside();
    }
}

impl Exclusive {
    /// Stores `update` of the word's value and returns the value it replaced: a
    /// read-modify-write as one load and one store, which only exclusive access makes
    /// indivisible.
    #[inline(always)]
    fn replace(word: &AtomicUsize, update: impl FnOnce(usize) -> usize) -> usize {
        let seen = word.load(Ordering::Relaxed);
        word.store(update(seen), Ordering::Relaxed);
        seen
    }
}
