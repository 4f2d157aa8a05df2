//! What an allocation asks for: a count, an absolute alignment and an optional window.

use crate::Error;

/// A half-open range of offsets `[lo, hi)` that an allocation must lie inside
/// (a DMA mask, an `alloc-ranges` entry, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Window {
    /// First offset a result may use.
    pub lo: usize,
    /// One past the last offset a result may use.
    pub hi: usize,
}

impl Window {
    /// The window `[lo, hi)`.
    #[must_use]
    pub const fn new(lo: usize, hi: usize) -> Self {
        Self { lo, hi }
    }

    /// Units in the window (0 when `hi <= lo`).
    #[must_use]
    pub const fn len(&self) -> usize {
        self.hi.saturating_sub(self.lo)
    }

    /// Whether the window holds no unit.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.hi <= self.lo
    }
}

/// An allocation request: `count` units aligned to `align` units (absolute, see
/// [`align_up_with_phase`](crate::align_up_with_phase)), optionally inside a [`Window`].
///
/// Built with [`Request::new`] and the `aligned`/`within` modifiers; checked against a
/// backend's capacity by [`Request::validate`], which every backend calls first.
///
/// ```
/// use contig_allocators::{Error, Request, Window};
/// let r = Request::new(4).aligned(16).within(32, 128);
/// assert_eq!(r.validate(256), Ok(Window::new(32, 128)));
/// assert_eq!(Request::new(0).validate(256), Err(Error::ZeroCount));
/// assert_eq!(Request::new(1).aligned(3).validate(256), Err(Error::AlignNotPowerOfTwo { align: 3 }));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Request {
    count: usize,
    align: usize,
    window: Option<Window>,
}

impl Request {
    /// `count` units, alignment 1, anywhere in the space.
    #[must_use]
    pub const fn new(count: usize) -> Self {
        Self {
            count,
            align: 1,
            window: None,
        }
    }

    /// The same request aligned to `align` units (a power of two).
    #[must_use]
    pub const fn aligned(self, align: usize) -> Self {
        Self { align, ..self }
    }

    /// The same request restricted to the offsets `[lo, hi)`.
    #[must_use]
    pub const fn within(self, lo: usize, hi: usize) -> Self {
        Self {
            window: Some(Window::new(lo, hi)),
            ..self
        }
    }

    /// The same request restricted to `window` (or unrestricted for `None`).
    #[must_use]
    pub const fn with_window(self, window: Option<Window>) -> Self {
        Self { window, ..self }
    }

    /// Units asked for.
    #[must_use]
    pub const fn count(&self) -> usize {
        self.count
    }

    /// Alignment asked for, in units.
    #[must_use]
    pub const fn align(&self) -> usize {
        self.align
    }

    /// The window, if one was set.
    #[must_use]
    pub const fn window(&self) -> Option<Window> {
        self.window
    }

    /// Checks the request against a space of `capacity` units and returns the window a
    /// result must lie in (the whole space when none was set).
    ///
    /// # Errors
    ///
    /// [`Error::ZeroCount`], [`Error::AlignNotPowerOfTwo`] or [`Error::InvalidWindow`], in
    /// that order.
    pub const fn validate(&self, capacity: usize) -> Result<Window, Error> {
        if self.count == 0 {
            return Err(Error::ZeroCount);
        }
        if !self.align.is_power_of_two() {
            return Err(Error::AlignNotPowerOfTwo { align: self.align });
        }
        match self.window {
            None => Ok(Window::new(0, capacity)),
            Some(w) if w.lo < w.hi && w.hi <= capacity => Ok(w),
            Some(w) => Err(Error::InvalidWindow {
                lo: w.lo,
                hi: w.hi,
                capacity,
            }),
        }
    }
}

/// Checks that `[start, start + count)` is a non-empty range inside `capacity` units:
/// the first checks of `claim` and `free`.
///
/// # Errors
///
/// [`Error::ZeroCount`] or [`Error::OutOfBounds`].
pub const fn check_range(start: usize, count: usize, capacity: usize) -> Result<(), Error> {
    if count == 0 {
        return Err(Error::ZeroCount);
    }
    match start.checked_add(count) {
        Some(end) if end <= capacity => Ok(()),
        _ => Err(Error::OutOfBounds {
            start,
            count,
            capacity,
        }),
    }
}
