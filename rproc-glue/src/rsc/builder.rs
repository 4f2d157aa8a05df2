//! Building a resource table for firmware that has none.
//!
//! This module owns [`RscTableBuilder`]: entries are encoded as they are added (each
//! checked by the parser, so whatever is built parses back), then laid out as header,
//! offset array and entries back to back. Building into a section that is too small
//! fails with both sizes. It must never write past the buffer it is given.
#![forbid(unsafe_code)]

use alloc::vec::Vec;
use core::fmt;

use zerocopy::IntoBytes;
use zerocopy::little_endian::U32;

use super::error::{EntryError, Field, VringField};
use super::layout::{CarveoutBody, Header, TraceBody, VdevBody, VringDesc, name_field};
use super::table::RscTable;
use super::{
    FW_RSC_ADDR_ANY, HEADER_LEN, MAX_ENTRIES, NAME_LEN, RSC_CARVEOUT, RSC_TRACE, RSC_VDEV,
    RSC_VENDOR_END, RSC_VENDOR_START,
};
use crate::DeviceAddr;
use contig_dma_pool::cma::PhysAddr;
use contig_dma_pool::cma::fallible::{OutOfMemory, try_extend_from_slice, try_push, try_reserve};

/// A carveout to put in a built table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CarveoutSpec<'n> {
    /// Fixed device address, or `None` for ANY.
    pub da: Option<DeviceAddr>,
    /// Fixed physical address, or `None` for ANY.
    pub pa: Option<PhysAddr>,
    /// Length in bytes.
    pub len: u32,
    /// IOMMU flags.
    pub flags: u32,
    /// Name, at most 31 bytes (a NUL ends it in the table).
    pub name: &'n str,
}

impl<'n> CarveoutSpec<'n> {
    /// A carveout of `len` bytes anywhere.
    #[must_use]
    pub const fn any(name: &'n str, len: u32) -> Self {
        Self {
            da: None,
            pa: None,
            len,
            flags: 0,
            name,
        }
    }
}

/// A trace buffer to put in a built table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceSpec<'n> {
    /// Device address of the buffer.
    pub da: DeviceAddr,
    /// Length in bytes.
    pub len: u32,
    /// Name, at most 31 bytes.
    pub name: &'n str,
}

/// A vring of a vdev to put in a built table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VringSpec {
    /// Fixed device address, or `None` for ANY.
    pub da: Option<DeviceAddr>,
    /// Used-ring alignment.
    pub align: u32,
    /// Number of buffers.
    pub num: u32,
    /// Notify id.
    pub notifyid: u32,
}

/// A vdev to put in a built table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VdevSpec<'v> {
    /// Virtio device id.
    pub id: u32,
    /// The vdev's notify id.
    pub notifyid: u32,
    /// Features the remote supports.
    pub dfeatures: u32,
    /// Its vrings (at most 255).
    pub vrings: &'v [VringSpec],
    /// Its config space.
    pub config: &'v [u8],
}

/// Why a table could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// The table needs `needed` bytes, the target has `available`.
    NoSpace {
        /// Bytes the table takes.
        needed: usize,
        /// Bytes in the target (e.g. the `.resource_table` section).
        available: usize,
    },
    /// A name longer than 31 bytes.
    NameTooLong {
        /// Index the entry would have.
        index: u32,
        /// The name's length.
        len: usize,
    },
    /// An address that does not fit 32 bits or reads back as `FW_RSC_ADDR_ANY`.
    Unrepresentable {
        /// Index the entry would have.
        index: u32,
        /// The field.
        field: Field,
        /// The value.
        value: u64,
    },
    /// A vendor type outside `128..=512`.
    NotVendor {
        /// Index the entry would have.
        index: u32,
        /// The type given.
        kind: u32,
    },
    /// More than 255 vrings or a config space over `u32::MAX` bytes.
    TooLarge {
        /// Index the entry would have.
        index: u32,
        /// The field.
        field: Field,
        /// The value.
        value: u64,
    },
    /// The table already holds [`MAX_ENTRIES`] entries, as many as the parser accepts.
    TooManyEntries {
        /// Index the entry would have.
        index: u32,
        /// The limit.
        max: u32,
    },
    /// The parser refuses the entry as given (vring num/align, range overflow...).
    Entry(EntryError),
    /// The heap could not hold the entry or the table (the builder is unchanged).
    OutOfMemory {
        /// What was being reserved.
        what: &'static str,
        /// How many of them.
        count: usize,
    },
}

impl From<OutOfMemory> for BuildError {
    fn from(e: OutOfMemory) -> Self {
        Self::OutOfMemory {
            what: e.what,
            count: e.count,
        }
    }
}

/// Collects entries and lays them out as a resource table.
///
/// ```
/// use contig_rproc_glue::rsc::{RscTable, RscTableBuilder, VdevSpec, VringSpec, BuildError};
/// let ring = VringSpec { da: None, align: 0x1000, num: 256, notifyid: 1 };
/// let mut b = RscTableBuilder::new();
/// b.add_vdev(&VdevSpec { id: 7, notifyid: 0, dfeatures: 1, vrings: &[ring, ring], config: &[] }).unwrap();
/// assert_eq!(b.len(), 16 + 4 + 4 + 24 + 2 * 20);
/// let mut section = [0u8; 64];
/// assert_eq!(b.build_into(&mut section), Err(BuildError::NoSpace { needed: 88, available: 64 }));
/// let bytes = b.build().unwrap();
/// assert_eq!(RscTable::parse(&bytes).unwrap().num(), 1);
/// ```
#[derive(Clone, Debug, Default)]
pub struct RscTableBuilder {
    entries: Vec<Vec<u8>>,
}

impl RscTableBuilder {
    /// An empty builder.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            entries: Vec::new(),
        }
    }

    /// Number of entries so far.
    #[must_use]
    pub fn num(&self) -> usize {
        self.entries.len()
    }

    /// Bytes the built table takes.
    #[must_use]
    pub fn len(&self) -> usize {
        let bodies: usize = self.entries.iter().map(Vec::len).sum();
        HEADER_LEN + 4 * self.entries.len() + bodies
    }

    /// Whether no entry was added.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds a carveout; returns its index.
    ///
    /// # Errors
    /// [`BuildError`] naming the field; nothing is added.
    pub fn add_carveout(&mut self, c: &CarveoutSpec<'_>) -> Result<u32, BuildError> {
        let index = self.next_index();
        let body = CarveoutBody {
            da: addr(index, Field::Da, c.da.map(DeviceAddr::as_u64))?,
            pa: addr(index, Field::Pa, c.pa.map(PhysAddr::as_u64))?,
            len: U32::new(c.len),
            flags: U32::new(c.flags),
            reserved: U32::ZERO,
            name: name(index, c.name)?,
        };
        let mut e = word_vec(RSC_CARVEOUT)?;
        try_extend_from_slice(&mut e, body.as_bytes(), ENTRY_BYTES)?;
        self.add(e)
    }

    /// Adds a trace entry; returns its index.
    ///
    /// # Errors
    /// [`BuildError`] naming the field; nothing is added.
    pub fn add_trace(&mut self, t: &TraceSpec<'_>) -> Result<u32, BuildError> {
        let index = self.next_index();
        let body = TraceBody {
            da: addr(index, Field::Da, Some(t.da.as_u64()))?,
            len: U32::new(t.len),
            reserved: U32::ZERO,
            name: name(index, t.name)?,
        };
        let mut e = word_vec(RSC_TRACE)?;
        try_extend_from_slice(&mut e, body.as_bytes(), ENTRY_BYTES)?;
        self.add(e)
    }

    /// Adds a vdev with its vrings and config; returns its index.
    ///
    /// # Errors
    /// [`BuildError`] naming the field; nothing is added.
    pub fn add_vdev(&mut self, v: &VdevSpec<'_>) -> Result<u32, BuildError> {
        let index = self.next_index();
        let too_large = |field, value: usize| BuildError::TooLarge {
            index,
            field,
            value: value as u64,
        };
        let rings = u8::try_from(v.vrings.len())
            .map_err(|_| too_large(Field::NumOfVrings, v.vrings.len()))?;
        let config_len = u32::try_from(v.config.len())
            .map_err(|_| too_large(Field::ConfigLen, v.config.len()))?;
        let body = VdevBody {
            id: U32::new(v.id),
            notifyid: U32::new(v.notifyid),
            dfeatures: U32::new(v.dfeatures),
            gfeatures: U32::ZERO,
            config_len: U32::new(config_len),
            status: 0,
            num_of_vrings: rings,
            reserved: [0; 2],
        };
        let mut e = word_vec(RSC_VDEV)?;
        try_extend_from_slice(&mut e, body.as_bytes(), ENTRY_BYTES)?;
        for (ring, r) in (0u8..).zip(v.vrings) {
            let field = Field::Vring {
                ring,
                field: VringField::Da,
            };
            let desc = VringDesc {
                da: addr(index, field, r.da.map(DeviceAddr::as_u64))?,
                align: U32::new(r.align),
                num: U32::new(r.num),
                notifyid: U32::new(r.notifyid),
                pa: U32::ZERO,
            };
            try_extend_from_slice(&mut e, desc.as_bytes(), ENTRY_BYTES)?;
        }
        try_extend_from_slice(&mut e, v.config, ENTRY_BYTES)?;
        self.add(e)
    }

    /// Adds a vendor entry of type `kind` (`128..=512`) with `body` after its type word;
    /// returns its index.
    ///
    /// # Errors
    /// [`BuildError::NotVendor`], [`BuildError::TooManyEntries`]; nothing is added.
    pub fn add_vendor(&mut self, kind: u32, body: &[u8]) -> Result<u32, BuildError> {
        let index = self.next_index();
        if !(RSC_VENDOR_START..=RSC_VENDOR_END).contains(&kind) {
            return Err(BuildError::NotVendor { index, kind });
        }
        let mut e = word_vec(kind)?;
        try_extend_from_slice(&mut e, body, ENTRY_BYTES)?;
        self.add(e)
    }

    /// Lays the table out at the start of `out` and zeroes the rest; returns the bytes
    /// used.
    ///
    /// # Errors
    /// [`BuildError::NoSpace`] with both sizes if `out` is too small; `out` is unchanged.
    pub fn build_into(&self, out: &mut [u8]) -> Result<usize, BuildError> {
        let needed = self.len();
        if needed > out.len() {
            return Err(BuildError::NoSpace {
                needed,
                available: out.len(),
            });
        }
        let (table, rest) = out.split_at_mut(needed);
        let mut at = 0;
        self.write(&mut |piece: &[u8]| {
            if let Some(dst) = table.get_mut(at..at + piece.len()) {
                dst.copy_from_slice(piece);
            }
            at += piece.len();
            Ok(())
        })?;
        rest.fill(0);
        Ok(needed)
    }

    /// The table as a new vector.
    ///
    /// # Errors
    /// [`BuildError::OutOfMemory`] if the heap cannot hold it.
    pub fn build(&self) -> Result<Vec<u8>, BuildError> {
        let mut bytes = Vec::new();
        try_reserve(&mut bytes, self.len(), TABLE_BYTES)?;
        self.write(&mut |piece: &[u8]| try_extend_from_slice(&mut bytes, piece, TABLE_BYTES))?;
        Ok(bytes)
    }

    /// Hands the table to `out` piece by piece, in order.
    fn write(
        &self,
        out: &mut dyn FnMut(&[u8]) -> Result<(), OutOfMemory>,
    ) -> Result<(), OutOfMemory> {
        out(header(self.entries.len()).as_bytes())?;
        let mut offset = HEADER_LEN + 4 * self.entries.len();
        for e in &self.entries {
            out(&count(offset).to_le_bytes())?;
            offset += e.len();
        }
        for e in &self.entries {
            out(e)?;
        }
        Ok(())
    }

    fn next_index(&self) -> u32 {
        count(self.entries.len())
    }

    /// Keeps `entry` if the parser accepts it alone in a table.
    fn add(&mut self, entry: Vec<u8>) -> Result<u32, BuildError> {
        let index = self.next_index();
        // One more would make a table the parser refuses as a whole.
        if index >= MAX_ENTRIES {
            return Err(BuildError::TooManyEntries {
                index,
                max: MAX_ENTRIES,
            });
        }
        let mut alone = Vec::new();
        try_reserve(&mut alone, HEADER_LEN + 4 + entry.len(), TABLE_BYTES)?;
        try_extend_from_slice(&mut alone, header(1).as_bytes(), TABLE_BYTES)?;
        push(&mut alone, count(HEADER_LEN + 4))?;
        try_extend_from_slice(&mut alone, &entry, TABLE_BYTES)?;
        if let Err(super::RscError::Entry(e)) = RscTable::parse(&alone) {
            // Where the entry would sit if the table were built now with it added.
            let offset = count(self.len() + 4);
            return Err(BuildError::Entry(EntryError { index, offset, ..e }));
        }
        try_push(&mut self.entries, entry, "table entries")?;
        Ok(index)
    }
}

/// A count or offset as a table word; tables built in memory stay far below 4 GiB.
fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// What the builder's byte buffers hold, for [`BuildError::OutOfMemory`].
const ENTRY_BYTES: &str = "resource-entry bytes";
const TABLE_BYTES: &str = "resource-table bytes";

fn word_vec(kind: u32) -> Result<Vec<u8>, OutOfMemory> {
    let mut e = Vec::new();
    push(&mut e, kind)?;
    Ok(e)
}

fn push(out: &mut Vec<u8>, word: u32) -> Result<(), OutOfMemory> {
    try_extend_from_slice(out, &word.to_le_bytes(), ENTRY_BYTES)
}

/// The header of a version 1 table with `entries` entries.
fn header(entries: usize) -> Header {
    Header {
        ver: U32::new(1),
        num: U32::new(count(entries)),
        reserved: [U32::ZERO; 2],
    }
}

/// A name field for `name`, which must leave room for its NUL.
fn name(index: u32, name: &str) -> Result<[u8; NAME_LEN], BuildError> {
    name_field(name).ok_or(BuildError::NameTooLong {
        index,
        len: name.len(),
    })
}

fn addr(index: u32, field: Field, value: Option<u64>) -> Result<U32, BuildError> {
    let Some(value) = value else {
        return Ok(U32::new(FW_RSC_ADDR_ANY));
    };
    match u32::try_from(value) {
        Ok(v) if v != FW_RSC_ADDR_ANY => Ok(U32::new(v)),
        _ => Err(BuildError::Unrepresentable {
            index,
            field,
            value,
        }),
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutOfMemory { what, count } => {
                write!(f, "out of memory reserving room for {count} {what}")
            }
            Self::NoSpace { needed, available } => write!(
                f,
                "resource table needs {needed} bytes, the section has {available}"
            ),
            Self::NameTooLong { index, len } => {
                write!(
                    f,
                    "resource entry {index}: name of {len} bytes, at most 31 fit"
                )
            }
            Self::Unrepresentable {
                index,
                field,
                value,
            } => write!(
                f,
                "resource entry {index}: {field} = {value:#x} cannot be stored in the table"
            ),
            Self::NotVendor { index, kind } => {
                write!(
                    f,
                    "resource entry {index}: type {kind} is not a vendor type (128..=512)"
                )
            }
            Self::TooLarge {
                index,
                field,
                value,
            } => {
                write!(
                    f,
                    "resource entry {index}: {field} = {value:#x} is too large"
                )
            }
            Self::TooManyEntries { index, max } => write!(
                f,
                "resource entry {index}: a table holds at most {max} entries"
            ),
            Self::Entry(e) => e.fmt(f),
        }
    }
}

impl core::error::Error for BuildError {}
