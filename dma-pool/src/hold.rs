//! A cell that many CPUs hold at once without a lock, and that setup code fills and
//! empties only while nobody holds it.
//!
//! This module owns [`HoldCell`], the building block that lets the device registry
//! change through `&self` while other CPUs allocate: a DMA call *holds* the device
//! entries, pools and default sources it uses (one compare-exchange each, never a
//! lock), and a setup call takes a value out only when no one holds it: it closes the
//! cell to new holders, waits a bounded number of spins for the current ones (each
//! holds for one call), and otherwise reopens it and gets the number of holders back.
//! A holder that arrives meanwhile waits for that short window and for nothing else. It must never run user code while a cell is changing, and never hand
//! out a reference that outlives the hold it came from.

use core::cell::UnsafeCell;
use core::fmt;
use core::ops::Deref;

use crate::sync::{AtomicUsize, Ordering, relax};

/// The cell has a value.
const FULL: usize = 1 << (usize::BITS - 1);
/// A setup call is filling or emptying the cell.
const CHANGING: usize = 1 << (usize::BITS - 2);
/// The number of holders (below the two flags).
const HOLDERS: usize = CHANGING - 1;
/// How long a take waits for holders to leave before it gives up (each spin is one
/// pause instruction; loom explores every step, so it gets a few).
#[cfg(not(loom))]
const DRAIN_SPINS: usize = 1 << 16;
#[cfg(loom)]
const DRAIN_SPINS: usize = 3;

/// An optional value that readers hold and setup code replaces.
///
/// State machine of `state`: `0` (empty) -> `CHANGING` -> `FULL` (fill), and
/// `FULL` -> `FULL | CHANGING` (closed to new holders, the current ones drain) ->
/// `0` (take) or back to `FULL` (kept, or holders did not leave in time). Holders
/// count up from `FULL`.
pub(crate) struct HoldCell<T> {
    state: AtomicUsize,
    /// `Some` exactly while `state` has `FULL`; written only while `state` is
    /// `CHANGING`, which the writer set from a state with no holders.
    value: UnsafeCell<Option<T>>,
}

// SAFETY: the value is written only by the one thread that set `CHANGING` and then
// saw no holders (new ones wait while it is set), and read only through shared
// references by holders; so a `HoldCell<T>` shared between threads gives them
// `&T` concurrently (needs `T: Sync`) and moves `T` between threads on fill and take
// (needs `T: Send`).
unsafe impl<T: Send + Sync> Sync for HoldCell<T> {}

/// A reference to a held value; the value stays in its cell until every hold ends.
pub(crate) struct Held<'a, T> {
    cell: &'a HoldCell<T>,
    value: &'a T,
}

/// Why a value could not be taken out of its cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TakeError {
    /// The cell is empty.
    Empty,
    /// This many holders still use the value.
    Held(usize),
}

impl<T> HoldCell<T> {
    /// An empty cell.
    pub(crate) fn empty() -> Self {
        Self {
            state: AtomicUsize::new(0),
            value: UnsafeCell::new(None),
        }
    }

    /// Holds the value, if there is one. Waits only while a setup call is filling or
    /// emptying this cell (a few instructions); `None` if it is empty or the holder
    /// count is saturated.
    pub(crate) fn hold(&self) -> Option<Held<'_, T>> {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & CHANGING != 0 {
                relax();
                state = self.state.load(Ordering::Relaxed);
                continue;
            }
            if state & FULL == 0 || state & HOLDERS == HOLDERS {
                return None;
            }
            match self.state.compare_exchange_weak(
                state,
                state + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => state = now,
            }
        }
        // SAFETY: we counted ourselves as a holder of a `FULL` cell, so no writer can
        // move it to `CHANGING` until we leave (`take` needs zero holders), and the
        // Acquire above pairs with the Release that published the value.
        let value = unsafe { &*self.value.get() }.as_ref();
        match value {
            Some(value) => Some(Held { cell: self, value }),
            None => {
                // Unreachable by the invariant on `value`; leave as if never held.
                self.state.fetch_sub(1, Ordering::Release);
                None
            }
        }
    }

    /// Puts `value` into an empty cell; gives it back if the cell is full (or being
    /// changed by another setup call).
    pub(crate) fn fill(&self, value: T) -> Result<(), T> {
        if self
            .state
            .compare_exchange(0, CHANGING, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return Err(value);
        }
        // SAFETY: we moved the state from empty to `CHANGING`: no holder exists (an
        // empty cell has none and new ones wait while `CHANGING`), and no other writer
        // can leave the empty state, so this write is exclusive.
        unsafe { *self.value.get() = Some(value) };
        self.state.store(FULL, Ordering::Release);
        Ok(())
    }

    /// Takes the value out if nobody holds it and `keep` does not object: `keep`
    /// sees the value with the cell closed to new holders and returns `Some(reason)`
    /// to leave it in place. It must be short and must not use this cell.
    ///
    /// Closes the cell to new holders first, then waits a bounded number of spins for
    /// the current ones to leave (DMA calls hold for one call); if some remain (a
    /// reference the caller keeps, or a stuck CPU) it reopens the cell and reports
    /// how many, changing nothing.
    pub(crate) fn take_unless<E>(
        &self,
        keep: impl FnOnce(&T) -> Option<E>,
    ) -> Result<T, Result<E, TakeError>> {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & FULL == 0 {
                return Err(Err(TakeError::Empty));
            }
            if state & CHANGING != 0 {
                // Another setup call is changing it (callers serialise, so only a
                // caller that does not): report it as held.
                return Err(Err(TakeError::Held(state & HOLDERS)));
            }
            match self.state.compare_exchange_weak(
                state,
                state | CHANGING,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => state = now,
            }
        }
        let mut holders = state & HOLDERS;
        for _ in 0..DRAIN_SPINS {
            holders = self.state.load(Ordering::Acquire) & HOLDERS;
            if holders == 0 {
                break;
            }
            relax();
        }
        if holders != 0 {
            self.state.fetch_and(!CHANGING, Ordering::Release);
            return Err(Err(TakeError::Held(holders)));
        }
        // SAFETY: `CHANGING` is ours (set by the compare-exchange above) and the
        // holder count is zero: new holders wait while `CHANGING` is set, and the
        // Acquire load that saw zero pairs with every holder's Release on leaving, so
        // this access is exclusive.
        let slot = unsafe { &mut *self.value.get() };
        if let Some(reason) = slot.as_ref().and_then(keep) {
            self.state.store(FULL, Ordering::Release);
            return Err(Ok(reason));
        }
        let value = slot.take();
        self.state.store(0, Ordering::Release);
        value.ok_or(Err(TakeError::Empty))
    }

    /// Takes the value out if nobody holds it.
    pub(crate) fn take(&self) -> Result<T, TakeError> {
        self.take_unless(|_| None::<()>).map_err(|e| match e {
            Ok(()) | Err(TakeError::Empty) => TakeError::Empty,
            Err(held) => held,
        })
    }

    /// Whether the cell has a value (a snapshot).
    pub(crate) fn is_full(&self) -> bool {
        self.state.load(Ordering::Acquire) & FULL != 0
    }
}

impl<T> Held<'_, T> {
    /// The held value, for as long as `'a` allows (the cell outlives the hold).
    pub(crate) fn get(&self) -> &T {
        self.value
    }
}

impl<T> Deref for Held<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.value
    }
}

impl<T> Drop for Held<'_, T> {
    fn drop(&mut self) {
        // Release: our reads of the value happen before a later take.
        self.cell.state.fetch_sub(1, Ordering::Release);
    }
}

impl<T: fmt::Debug> fmt::Debug for Held<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn fill_hold_take() {
        let cell = HoldCell::empty();
        assert!(cell.hold().is_none());
        assert_eq!(cell.take(), Err(TakeError::Empty));
        cell.fill(5).unwrap();
        assert_eq!(cell.fill(6), Err(6));
        let a = cell.hold().unwrap();
        let b = cell.hold().unwrap();
        assert_eq!((*a, *b), (5, 5));
        assert_eq!(cell.take(), Err(TakeError::Held(2)));
        drop(a);
        assert_eq!(cell.take(), Err(TakeError::Held(1)));
        drop(b);
        assert_eq!(
            cell.take_unless(|&v| (v == 5).then_some("busy")),
            Err(Ok("busy"))
        );
        assert_eq!(*cell.hold().unwrap(), 5); // still there
        assert_eq!(cell.take(), Ok(5));
        assert!(!cell.is_full());
        assert!(cell.hold().is_none());
        cell.fill(7).unwrap();
        assert_eq!(*cell.hold().unwrap(), 7);
    }

    #[test]
    fn holders_on_threads_keep_the_value() {
        let cell = HoldCell::empty();
        cell.fill(std::vec![1u8; 64]).unwrap();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..50 {
                        if let Some(v) = cell.hold() {
                            assert_eq!(v.iter().map(|&b| usize::from(b)).sum::<usize>(), 64);
                        }
                    }
                });
            }
            s.spawn(|| {
                for _ in 0..50 {
                    if let Ok(v) = cell.take() {
                        cell.fill(v).unwrap();
                    }
                }
            });
        });
        assert_eq!(cell.take().map(|v| v.len()), Ok(64));
    }
}
