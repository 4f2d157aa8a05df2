//! One decoded entry of a resource table.
//!
//! This module owns [`Entry`] and [`Resource`], the typed form of an entry, and the
//! report of skipped entries ([`Skipped`]). It must never act on an entry (vendor
//! entries go to the platform, the rest to the memory layer).
#![forbid(unsafe_code)]

use super::carveout::Carveout;
use super::devmem::Devmem;
use super::trace::Trace;
use super::vdev::Vdev;

/// An entry of the table at its index and byte offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// Index in the offset array.
    pub index: u32,
    /// Byte offset of the entry's `type` word in the table.
    pub offset: u32,
    /// What the entry is.
    pub resource: Resource<'a>,
}

/// The typed body of an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource<'a> {
    /// `RSC_CARVEOUT` (0).
    Carveout(Carveout<'a>),
    /// `RSC_DEVMEM` (1).
    Devmem(Devmem<'a>),
    /// `RSC_TRACE` (2).
    Trace(Trace<'a>),
    /// `RSC_VDEV` (3).
    Vdev(Vdev<'a>),
    /// A vendor type in `128..=512`, for the platform's handler.
    Vendor(Vendor<'a>),
    /// Any other type: skipped (see [`Skipped`]).
    Unknown {
        /// The `type` word.
        kind: u32,
    },
}

/// A vendor entry: its type and the bytes after its `type` word up to the table's end
/// (its length is only known to the platform, as in Linux's `avail`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vendor<'a> {
    /// The `type` word, in `128..=512`.
    pub kind: u32,
    /// Bytes from after the `type` word to the end of the table.
    pub body: &'a [u8],
}

/// Report of an entry of unknown type that was skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// Index in the offset array.
    pub index: u32,
    /// Byte offset in the table.
    pub offset: u32,
    /// The unknown `type` word.
    pub kind: u32,
}

impl Resource<'_> {
    /// Bytes the entry is known to occupy after its `type` word (0 for vendor and
    /// unknown types, whose length the table does not say).
    #[must_use]
    pub fn body_len(&self) -> usize {
        match self {
            Self::Carveout(_) => super::carveout::CARVEOUT_BODY_LEN,
            Self::Devmem(_) => super::devmem::DEVMEM_BODY_LEN,
            Self::Trace(_) => super::trace::TRACE_BODY_LEN,
            Self::Vdev(v) => v.body_len(),
            Self::Vendor(_) | Self::Unknown { .. } => 0,
        }
    }

    /// The `type` word.
    #[must_use]
    pub fn kind(&self) -> u32 {
        match self {
            Self::Carveout(_) => super::RSC_CARVEOUT,
            Self::Devmem(_) => super::RSC_DEVMEM,
            Self::Trace(_) => super::RSC_TRACE,
            Self::Vdev(_) => super::RSC_VDEV,
            Self::Vendor(v) => v.kind,
            Self::Unknown { kind } => *kind,
        }
    }
}
