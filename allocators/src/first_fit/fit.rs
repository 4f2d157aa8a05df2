//! Where one allocation request can go inside one free extent, and which parts of the
//! address-ordered tree can hold such a place at all.
//!
//! This file owns the geometry of a request (count, absolute alignment, window) and
//! nothing else: it never touches the tree or the backend's counters, so the search in
//! [`tree`](super::tree) stays a pure descent that asks these questions.
#![forbid(unsafe_code)]

use super::tree::Piece;
use crate::{Window, align_up_with_phase};

/// A validated request: `count` units whose absolute index `phase + offset` is a
/// multiple of `align`, inside `[lo, hi)`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Fit {
    count: usize,
    align: usize,
    phase: usize,
    lo: usize,
    hi: usize,
}

impl Fit {
    /// `count` units aligned to `align` (a power of two, checked by the caller through
    /// `Request::validate`) inside `window`, in a space whose offset 0 is absolute unit
    /// `phase`.
    pub(super) const fn new(count: usize, align: usize, phase: usize, window: Window) -> Self {
        Self {
            count,
            align,
            phase,
            lo: window.lo,
            hi: window.hi,
        }
    }

    /// Units asked for: a subtree whose longest free extent is shorter cannot help.
    pub(super) const fn count(&self) -> usize {
        self.count
    }

    /// Alignment asked for, in units.
    pub(super) const fn align(&self) -> usize {
        self.align
    }

    /// Whether every free extent of at least [`count`](Self::count) units in a space of
    /// `capacity` units holds the run at its start: no alignment and no window, so
    /// the search needs no geometry at all.
    pub(super) const fn takes_any_long_enough(&self, capacity: usize) -> bool {
        self.align == 1 && self.spans(capacity)
    }

    /// Whether the window is the whole space of `capacity` units: every run of the
    /// request then has at least [`count`](Self::count) units of one free extent, so the
    /// lowest extent that long is the lowest place whenever it holds the run at all.
    pub(super) const fn spans(&self, capacity: usize) -> bool {
        self.lo == 0 && self.hi >= capacity
    }

    /// Whether extents lying entirely below `start` (a left subtree) can hold the run:
    /// such a run would need `lo + count <= start`.
    pub(super) const fn may_fit_below(&self, start: usize) -> bool {
        match start.checked_sub(self.count) {
            Some(last_start) => last_start >= self.lo,
            None => false,
        }
    }

    /// Whether extents starting at or after `end` (a right subtree) can hold the run:
    /// such a run would need `end + count <= hi`.
    pub(super) const fn may_fit_from(&self, end: usize) -> bool {
        match self.hi.checked_sub(self.count) {
            Some(last_start) => end <= last_start,
            None => false,
        }
    }

    /// The lowest aligned offset inside both `piece` and the window where the run fits.
    // Always inlined: the search walks call it once per candidate, and as a call it
    // cost a few per cent of a replay.
    #[inline(always)]
    pub(super) fn place(&self, piece: Piece) -> Option<usize> {
        let lo = piece.start.max(self.lo);
        let hi = piece.end().min(self.hi);
        let at = align_up_with_phase(lo, self.align, self.phase)?;
        let end = at.checked_add(self.count)?;
        (end <= hi).then_some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::{Fit, Piece};
    use crate::Window;

    fn free(start: usize, len: usize) -> Piece {
        Piece {
            start,
            len,
            free: true,
        }
    }

    #[test]
    fn place_respects_alignment_window_and_piece() {
        let fit = Fit::new(4, 8, 3, Window::new(0, 100));
        // Absolute units 8, 16, ... are offsets 5, 13, ...
        assert_eq!(fit.place(free(0, 9)), Some(5));
        assert_eq!(fit.place(free(0, 8)), None);
        assert_eq!(fit.place(free(6, 11)), Some(13));
        let windowed = Fit::new(4, 1, 0, Window::new(10, 20));
        assert_eq!(windowed.place(free(0, 14)), Some(10));
        assert_eq!(windowed.place(free(0, 13)), None);
        assert_eq!(windowed.place(free(17, 10)), None);
        assert_eq!(windowed.place(free(16, 10)), Some(16));
    }

    #[test]
    fn pruning_bounds_are_exact() {
        let fit = Fit::new(4, 1, 0, Window::new(10, 20));
        assert!(fit.may_fit_below(14));
        assert!(!fit.may_fit_below(13));
        assert!(!fit.may_fit_below(2));
        assert!(fit.may_fit_from(16));
        assert!(!fit.may_fit_from(17));
        let huge = Fit::new(usize::MAX, 1, 0, Window::new(0, 20));
        assert!(!huge.may_fit_from(0));
        assert!(!huge.may_fit_below(20));
    }

    #[test]
    fn place_never_overflows() {
        let fit = Fit::new(usize::MAX, 1, 0, Window::new(0, usize::MAX));
        assert_eq!(fit.place(free(1, usize::MAX - 1)), None);
        let aligned = Fit::new(1, 1 << 20, 1, Window::new(0, usize::MAX));
        assert_eq!(aligned.place(free(usize::MAX - 10, 10)), None);
    }
}
