//! The firmware resource table (Linux `struct resource_table`).
//!
//! This module owns the table's binary format: a checked zero-copy view
//! ([`RscTable`]), typed entries ([`Resource`]: carveout, devmem, trace, vdev with its
//! vrings and config, vendor types `128..=512`, unknown types reported as
//! [`Skipped`]), write-back of what the host decided ([`RscTableMut`]) and a builder
//! for firmware without a table ([`RscTableBuilder`]). Layout: little-endian packed
//! `u32` fields; header `ver` (1), `num`, `reserved[2]` (0), then `offset[num]`, each
//! pointing at an entry's `type` word followed by its body.
//!
//! Everything here treats the bytes as hostile: every offset and length is checked with
//! overflow-free arithmetic, every refusal is an [`RscError`] naming the entry, field
//! and value. It must never panic, allocate while parsing, or touch the memory the
//! table describes.
#![forbid(unsafe_code)]

mod builder;
mod bytes;
mod carveout;
mod devmem;
mod error;
mod layout;
mod resource;
mod table;
mod trace;
mod vdev;
mod write;

pub use builder::{BuildError, CarveoutSpec, RscTableBuilder, TraceSpec, VdevSpec, VringSpec};
pub use carveout::{CARVEOUT_BODY_LEN, Carveout};
pub use devmem::{DEVMEM_BODY_LEN, Devmem};
pub use error::{EntryError, Field, Problem, RscError, VringField};
pub use resource::{Entry, Resource, Skipped, Vendor};
pub use table::RscTable;
pub use trace::{TRACE_BODY_LEN, Trace};
pub use vdev::{VDEV_BODY_LEN, VRING_LEN, VRING_NUM_MAX, Vdev, Vring};
pub use write::{NOTIFYID_NONE, RscTableMut, WriteError};

/// "Any address": the host chooses (Linux `FW_RSC_ADDR_ANY`, `u32::MAX` whatever the
/// host's word size).
pub const FW_RSC_ADDR_ANY: u32 = 0xFFFF_FFFF;
/// Type of a carveout entry.
pub const RSC_CARVEOUT: u32 = 0;
/// Type of a devmem entry.
pub const RSC_DEVMEM: u32 = 1;
/// Type of a trace entry.
pub const RSC_TRACE: u32 = 2;
/// Type of a vdev entry.
pub const RSC_VDEV: u32 = 3;
/// First vendor-specific type.
pub const RSC_VENDOR_START: u32 = 128;
/// Last vendor-specific type.
pub const RSC_VENDOR_END: u32 = 512;
/// Bytes of the header before the offset array.
pub const HEADER_LEN: usize = core::mem::size_of::<layout::Header>();
/// Bytes of a name field.
pub const NAME_LEN: usize = 32;
/// The most entries a table may have: bounds the `O(num²)` overlap check (Linux has no
/// bound; real tables have a handful of entries).
pub const MAX_ENTRIES: u32 = 1024;
/// The largest entry offset accepted (offsets are signed in Linux).
pub const OFFSET_MAX: u32 = i32::MAX as u32;

/// Where an entry sits while it is decoded: the table, its index, offset and type.
#[derive(Clone, Copy)]
pub(crate) struct EntryAt<'a> {
    table: &'a [u8],
    index: u32,
    offset: u32,
    kind: u32,
}

impl<'a> EntryAt<'a> {
    pub(crate) fn new(table: &'a [u8], index: u32, offset: u32) -> Self {
        Self {
            table,
            index,
            offset,
            kind: 0,
        }
    }

    pub(crate) fn with_kind(&self, kind: u32) -> Self {
        Self { kind, ..*self }
    }

    pub(crate) fn table(&self) -> &'a [u8] {
        self.table
    }

    /// Byte offset of the body (after the `type` word); the caller has checked that
    /// the `type` word lies inside the table, so this does not overflow.
    pub(crate) fn body_start(&self) -> usize {
        self.offset as usize + 4
    }

    /// Bytes left in the table after the `type` word (Linux's `avail`).
    pub(crate) fn available(&self) -> u64 {
        self.table.len().saturating_sub(self.body_start()) as u64
    }

    pub(crate) fn error(&self, field: Field, value: u64, problem: Problem) -> EntryError {
        EntryError {
            index: self.index,
            offset: self.offset,
            field,
            value,
            problem,
        }
    }

    /// The fixed-size body, or a truncation error naming the entry's type.
    pub(crate) fn body<T>(&self) -> Result<&'a T, EntryError>
    where
        T: zerocopy::FromBytes + zerocopy::KnownLayout + zerocopy::Immutable + zerocopy::Unaligned,
    {
        layout::view::<T>(self.table, self.body_start()).ok_or_else(|| {
            let problem = Problem::Truncated {
                needed: core::mem::size_of::<T>() as u64,
                available: self.available(),
            };
            self.error(Field::Type, u64::from(self.kind), problem)
        })
    }
}

/// An address field that may be `FW_RSC_ADDR_ANY` (`None`); a fixed one must leave room
/// for `len` bytes below 2^32.
pub(crate) fn addr_field(
    at: &EntryAt<'_>,
    raw: u32,
    len: u32,
    field: Field,
) -> Result<Option<u32>, EntryError> {
    if raw == FW_RSC_ADDR_ANY {
        return Ok(None);
    }
    if u64::from(raw) + u64::from(len) > 1 << 32 {
        return Err(at.error(field, u64::from(raw), Problem::RangeOverflow));
    }
    Ok(Some(raw))
}
