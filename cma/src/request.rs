//! What a caller asks a region for: size, alignment and an optional window, in bytes.
//!
//! This module owns [`Request`] and its validation. Turning bytes into units is the
//! region's job (it knows its granule); this module must never know about regions.
#![forbid(unsafe_code)]

use crate::{Error, PhysRange};

/// `size` bytes whose physical base is a multiple of `align` (absolute: relative to
/// address 0, not to the region base), optionally inside a physical window (a DMA mask,
/// an `alloc-ranges` entry).
///
/// Regions hand out whole granules: `size` is rounded up to the granule, and the
/// alignment is at least the granule.
///
/// ```
/// use contig_cma::{Error, PhysAddr, PhysRange, Request};
/// let below_4g = PhysRange::new(PhysAddr::new(0), 0xffff_ffff).unwrap();
/// let r = Request::new(0x3000).aligned(0x1_0000).within(below_4g);
/// assert_eq!((r.size(), r.align(), r.window()), (0x3000, 0x1_0000, Some(below_4g)));
/// assert_eq!(Request::new(0).validate(), Err(Error::ZeroRequest));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Request {
    size: usize,
    align: usize,
    window: Option<PhysRange>,
}

impl Request {
    /// `size` bytes, no alignment beyond the granule, anywhere.
    #[must_use]
    pub const fn new(size: usize) -> Self {
        Self {
            size,
            align: 1,
            window: None,
        }
    }

    /// The same request with its base aligned to `align` bytes (a power of two).
    #[must_use]
    pub const fn aligned(self, align: usize) -> Self {
        Self { align, ..self }
    }

    /// The same request restricted to `window`.
    #[must_use]
    pub const fn within(self, window: PhysRange) -> Self {
        Self {
            window: Some(window),
            ..self
        }
    }

    /// Bytes asked for.
    #[must_use]
    pub const fn size(&self) -> usize {
        self.size
    }

    /// Alignment asked for, in bytes.
    #[must_use]
    pub const fn align(&self) -> usize {
        self.align
    }

    /// The window, if any.
    #[must_use]
    pub const fn window(&self) -> Option<PhysRange> {
        self.window
    }

    /// Checks what can be checked without a region.
    ///
    /// # Errors
    ///
    /// [`Error::ZeroRequest`], then [`Error::RequestAlign`].
    pub const fn validate(&self) -> Result<(), Error> {
        if self.size == 0 {
            return Err(Error::ZeroRequest);
        }
        if !self.align.is_power_of_two() {
            return Err(Error::RequestAlign { align: self.align });
        }
        Ok(())
    }
}
